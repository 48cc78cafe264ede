/**
 * One call from "paths on a command line" to a checked, lowered project: find and load the
 * config, load the schemas, read and parse every rule file, check, lower. Every problem is a
 * diagnostic; nothing here throws on user input.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parse, sortDiagnostics, diagnostic, emptySpan, type Diagnostic, type SegFile } from "@seg/dsl";
import { loadProject, type Project } from "../config.js";
import { loadProjectSchemas, type SchemaRegistry } from "../schema-registry.js";
import { checkProject } from "../check/index.js";
import type { CheckedProgram } from "../check/index.js";
import { lowerProgram, type LoweredProgram } from "../lower/index.js";

/** What {@link compileProject} starts from. */
export interface CompileRequest {
  cwd: string;
  env: Record<string, string | undefined>;
  /** Rule files or folders; empty means the project's rules folder. */
  paths?: string[];
  /** `--config`: a config file or the folder holding one. */
  configPath?: string;
  /** Where to search upwards for `seg.config.json` (default: the first path, else `cwd`). */
  configSearchFrom?: string;
}

/** A rule file as read from disk. */
export interface RuleFile {
  /** Path relative to the project root, with `/` separators: stable across machines. */
  file: string;
  /** Path shown to the user (relative to the working directory when below it). */
  display: string;
  text: string;
  ast: SegFile;
  /** True when the user named this file (directly or through a folder). */
  requested: boolean;
}

/** A compiled project: everything later steps need, plus every diagnostic found. */
export interface CompiledProject {
  diagnostics: Diagnostic[];
  /** True when a diagnostic came from the configuration or the schemas (exit code 2 territory). */
  configFailed: boolean;
  project?: Project;
  registry?: SchemaRegistry;
  files: RuleFile[];
  program?: CheckedProgram;
  lowered?: LoweredProgram;
  /** Names of the segments declared in requested files, in file then declaration order. */
  requestedSegments: string[];
  /** Source text by display path, for rendering diagnostics. */
  sourceText(display: string | undefined): string | undefined;
}

const CONFIG_CODES = new Set(["SEG075", "SEG076", "SEG077"]);

function walkSeg(dir: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.isDirectory()) {
      if (!e.name.startsWith(".") && e.name !== "node_modules") walkSeg(join(dir, e.name), out);
    } else if (e.name.endsWith(".seg")) out.push(join(dir, e.name));
  }
}

/** Expands paths into `.seg` files; folders are searched recursively. */
export function expandRulePaths(paths: readonly string[], cwd: string): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  for (const p of paths) {
    const abs = isAbsolute(p) ? p : resolve(cwd, p);
    try {
      if (statSync(abs).isDirectory()) walkSeg(abs, files);
      else files.push(abs);
    } catch {
      missing.push(p);
    }
  }
  return { files: [...new Set(files)], missing };
}

function displayPath(abs: string, cwd: string): string {
  const rel = relative(cwd, abs);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
}

function rootRelative(abs: string, root: string): string {
  const rel = relative(root, abs);
  return (rel.startsWith("..") || isAbsolute(rel) ? abs : rel).split("\\").join("/");
}

/** Loads, parses, checks and lowers a project. */
export function compileProject(req: CompileRequest): CompiledProject {
  const paths = req.paths ?? [];
  const texts = new Map<string, string>();
  const result: CompiledProject = {
    diagnostics: [],
    configFailed: false,
    files: [],
    requestedSegments: [],
    sourceText: (d) => (d === undefined ? undefined : texts.get(d)),
  };
  const searchPaths = req.configSearchFrom !== undefined ? [req.configSearchFrom] : paths;
  const loaded = loadProject({ cwd: req.cwd, env: req.env, paths: searchPaths, ...(req.configPath ? { configPath: req.configPath } : {}) });
  const fail = (ds: Diagnostic[]) => {
    result.diagnostics.push(...ds.map((d) => remapFile(d, req.cwd, texts)));
    result.configFailed = true;
    return result;
  };
  if (!loaded.project) return fail(loaded.diagnostics);
  const project = loaded.project;
  result.project = project;
  result.diagnostics.push(...loaded.diagnostics.map((d) => remapFile(d, req.cwd, texts)));

  const schemas = loadProjectSchemas(project);
  result.registry = schemas.registry;
  const schemaErrors = schemas.diagnostics.filter((d) => d.severity === "error");
  result.diagnostics.push(...schemas.diagnostics.map((d) => remapFile(d, req.cwd, texts)));
  if (schemaErrors.length > 0) result.configFailed = true;

  // Every rule of the project is loaded (references cross files); requested ones are marked.
  const requested = expandRulePaths(paths, req.cwd);
  for (const m of requested.missing) {
    result.diagnostics.push(diagnostic("fileUnreadable", emptySpan(), [m, "no such file or folder"]));
    result.configFailed = true;
  }
  const projectFiles = expandRulePaths([project.rulesDir], req.cwd).files;
  const requestedSet = new Set(paths.length > 0 ? requested.files : projectFiles);
  const all = [...new Set([...projectFiles, ...requested.files])].sort();
  if (requestedSet.size === 0 && requested.missing.length === 0) {
    result.diagnostics.push(diagnostic("noFiles", emptySpan(), [displayPath(paths.length > 0 ? resolve(req.cwd, paths[0]!) : project.rulesDir, req.cwd)]));
  }
  for (const abs of all) {
    const display = displayPath(abs, req.cwd);
    let text: string;
    try {
      text = readFileSync(abs, "utf8");
    } catch (e) {
      result.diagnostics.push(diagnostic("fileUnreadable", emptySpan(), [display, (e as Error).message], { file: display }));
      continue;
    }
    texts.set(display, text);
    const parsed = parse(text, display);
    result.diagnostics.push(...parsed.diagnostics);
    result.files.push({ file: rootRelative(abs, project.root), display, text, ast: parsed.file, requested: requestedSet.has(abs) });
  }

  const checked = checkProject({
    files: result.files.map((f) => ({ file: f.file, ast: f.ast })),
    registry: schemas.registry,
    project,
  });
  const byFile = new Map(result.files.map((f) => [f.file, f.display]));
  result.diagnostics.push(...checked.diagnostics.map((d) => withDisplay(d, byFile)));
  result.program = checked.program;
  result.lowered = lowerProgram(checked.program);
  for (const f of result.files) {
    if (!f.requested) continue;
    for (const d of f.ast.declarations) if (d.kind === "Segment" && d.name.text !== "") result.requestedSegments.push(d.name.text);
  }
  result.diagnostics = sortDiagnostics(dedupe(result.diagnostics));
  return result;
}

/** True when every requested segment checked cleanly and lowered. */
export function loweredSegments(compiled: CompiledProject): { ok: string[]; broken: string[] } {
  const ok: string[] = [];
  const broken: string[] = [];
  for (const name of [...new Set(compiled.requestedSegments)]) {
    (compiled.lowered?.segments.has(name) ? ok : broken).push(name);
  }
  return { ok, broken };
}

/** True for configuration, schema and file-system diagnostics (exit code 2). */
export function isConfigDiagnostic(d: Diagnostic): boolean {
  return CONFIG_CODES.has(d.code) || /^SEG07/.test(d.code);
}

function withDisplay(d: Diagnostic, byFile: Map<string, string>): Diagnostic {
  const file = d.file !== undefined ? (byFile.get(d.file) ?? d.file) : undefined;
  const related = d.related.map((r) => (r.file !== undefined ? { ...r, file: byFile.get(r.file) ?? r.file } : r));
  return file === undefined ? { ...d, related } : { ...d, file, related };
}

/** Schema and config diagnostics name absolute files: show them relative to cwd, keep their text. */
function remapFile(d: Diagnostic, cwd: string, texts: Map<string, string>): Diagnostic {
  if (d.file === undefined || !isAbsolute(d.file)) return d;
  const display = displayPath(d.file, cwd);
  if (!texts.has(display)) {
    try {
      texts.set(display, readFileSync(d.file, "utf8"));
    } catch {
      // unreadable: rendered without a source line
    }
  }
  return { ...d, file: display };
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const key = `${d.file}|${d.span.start.offset}|${d.code}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
