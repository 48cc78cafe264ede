/** Test support for the checker and lowering: the example schemas, and checking sources in memory. */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, type Diagnostic } from "@seg/dsl";
import { checkProject, type CheckResult } from "../../../../src/check/index.js";
import type { ProjectSettings } from "../../../../src/check/settings.js";
import type { ExprIR } from "../../../../src/ir.js";
import { lowerProgram, type LoweredProgram } from "../../../../src/lower/index.js";
import { buildSchemaRegistry, listSchemaFiles, loadSchemaRegistry, type SchemaRegistry, type SchemaSource } from "../../../../src/schema-registry.js";

/** The example project's folder. */
export const EXAMPLES = fileURLToPath(new URL("../../../../../../examples/", import.meta.url));

let examples: SchemaRegistry | undefined;

/** The registry of `examples/schemas` (loaded once). */
export function exampleRegistry(): SchemaRegistry {
  if (!examples) {
    const { registry, diagnostics } = loadSchemaRegistry(`${EXAMPLES}schemas`, { defaultEntity: "customer" });
    if (diagnostics.length > 0) throw new Error(`example schemas: ${diagnostics.map((d) => d.message).join("; ")}`);
    examples = registry;
  }
  return examples;
}

/** The rule files of the example project, as `{ file, text }` sorted by name. */
export function exampleRules(): { file: string; text: string }[] {
  const dir = `${EXAMPLES}rules/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort()
    .map((f) => ({ file: `rules/${f}`, text: readFileSync(dir + f, "utf8") }));
}

/** A registry from schema objects (`x-seg` included), after the example schemas when `withExamples`. */
export function registryOf(schemas: object[], withExamples = false): SchemaRegistry {
  const sources: SchemaSource[] = withExamples ? listSchemaFiles(`${EXAMPLES}schemas`).map((file) => ({ file, text: readFileSync(file, "utf8") })) : [];
  sources.push(...schemas.map((s, i) => ({ file: `schemas/extra${i}.json`, text: JSON.stringify(s) })));
  const { registry, diagnostics } = buildSchemaRegistry(sources, { defaultEntity: "customer" });
  if (diagnostics.some((d) => d.severity === "error")) throw new Error(diagnostics.map((d) => d.message).join("; "));
  return registry;
}

/** The default project settings of the examples. */
export const PROJECT: ProjectSettings = { entity: "customer", defaults: {} };

/** The result of checking sources, with the parser's diagnostics kept apart. */
export interface Checked extends CheckResult {
  parseDiagnostics: Diagnostic[];
}

/** Parses and checks sources (one text = one file `a.seg`; a record = several files). */
export function checkSources(
  sources: string | Record<string, string> | { file: string; text: string }[],
  options: { registry?: SchemaRegistry; project?: ProjectSettings } = {},
): Checked {
  const list = typeof sources === "string" ? [{ file: "a.seg", text: sources }] : Array.isArray(sources) ? sources : Object.entries(sources).map(([file, text]) => ({ file, text }));
  const parseDiagnostics: Diagnostic[] = [];
  const files = list.map(({ file, text }) => {
    const parsed = parse(text, file);
    parseDiagnostics.push(...parsed.diagnostics);
    return { file, ast: parsed.file };
  });
  const result = checkProject({ files, registry: options.registry ?? exampleRegistry(), project: options.project ?? PROJECT });
  return { ...result, parseDiagnostics };
}

/** Diagnostics as `CODE line:col` (with `file:` in front when `withFile`). */
export function where(diagnostics: readonly Diagnostic[], withFile = false): string[] {
  return diagnostics.map((d) => `${withFile ? `${d.file}:` : ""}${d.code} ${d.span.start.line}:${d.span.start.column}`);
}

/** Checks a one-segment source built from a `where` condition (and optional extra lines). */
export function checkWhere(condition: string, extra = ""): Checked {
  return checkSources(`${extra}segment s {\n  where ${condition}\n}\n`);
}

/** An event schema for tests: `x-seg` event of `entity` keyed by `<entity>_id`, with time `ts`. */
export function eventSchema(name: string, entity: string, properties: Record<string, object>, required: string[] = []): object {
  const key = `${entity}_id`;
  return {
    type: "object",
    "x-seg": { kind: "event", name, entity, key, time: "ts" },
    properties: { [key]: { type: "string" }, ts: { type: "string", format: "date-time" }, ...properties },
    required: [key, "ts", ...required],
  };
}

/** A profile schema for tests. */
export function profileSchema(name: string, entity: string, properties: Record<string, object>, required: string[] = []): object {
  const key = `${entity}_id`;
  return {
    type: "object",
    "x-seg": { kind: "profile", name, entity, key },
    properties: { [key]: { type: "string" }, ...properties },
    required: [key, ...required],
  };
}

/** Checks sources that must be error-free, then lowers them. */
export function lowerSources(
  sources: string | Record<string, string> | { file: string; text: string }[],
  options: { registry?: SchemaRegistry; project?: ProjectSettings } = {},
): LoweredProgram {
  const r = checkSources(sources, options);
  const errors = [...r.parseDiagnostics, ...r.diagnostics].filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((d) => `${d.code} ${d.span.start.line}:${d.span.start.column} ${d.message}`).join("\n"));
  return lowerProgram(r.program);
}

/** The predicate of a one-segment program built from a `where` condition (and extra lines). */
export function lowerWhere(condition: string, extra = ""): { predicate: ExprIR; lowered: LoweredProgram } {
  const lowered = lowerSources(`${extra}segment s {\n  where ${condition}\n}\n`);
  return { predicate: lowered.segments.get("s")!.predicate, lowered };
}
