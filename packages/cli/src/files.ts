/**
 * Expands the paths given on the command line into `.seg` files, in a stable order.
 */
import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";

/** A file found on the command line: absolute path and the name to show to the user. */
export interface InputFile {
  path: string;
  display: string;
}

/** The outcome of expanding paths: files found and paths that do not exist. */
export interface ExpandResult {
  files: InputFile[];
  missing: string[];
}

const SKIP_DIRS = new Set(["node_modules", ".git", "dist"]);

function walkDir(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith(".")) walkDir(join(dir, entry.name), out);
    } else if (entry.name.endsWith(".seg")) out.push(join(dir, entry.name));
  }
}

/** Files named directly are taken as given; folders are searched for `*.seg` recursively. */
export function expandPaths(paths: readonly string[], cwd: string): ExpandResult {
  const found: string[] = [];
  const missing: string[] = [];
  for (const p of paths.length > 0 ? paths : ["."]) {
    const abs = isAbsolute(p) ? p : resolve(cwd, p);
    let st;
    try {
      st = statSync(abs);
    } catch {
      missing.push(p);
      continue;
    }
    if (st.isDirectory()) walkDir(abs, found);
    else found.push(abs);
  }
  const unique = [...new Set(found)];
  return {
    files: unique.map((path) => ({ path, display: displayPath(path, cwd) })),
    missing,
  };
}

/** A path relative to `cwd` when it lies below it, else absolute. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
