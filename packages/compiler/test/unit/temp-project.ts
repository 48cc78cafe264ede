/** Test helper: a throw-away folder tree under the OS temp folder. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** A temp folder; `write` creates files (and their folders); `cleanup` removes everything. */
export interface TempDir {
  root: string;
  path(rel: string): string;
  write(rel: string, content: string | object): string;
  cleanup(): void;
}

export function tempDir(prefix = "seg-compiler-"): TempDir {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return {
    root,
    path: (rel) => join(root, rel),
    write(rel, content) {
      const file = join(root, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
      return file;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
