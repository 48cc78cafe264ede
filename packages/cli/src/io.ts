/**
 * The CLI's view of the outside world, so commands run the same in tests and in a terminal.
 */
import { readFileSync, writeFileSync } from "node:fs";

/** Streams, environment and files for one CLI invocation. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  cwd: string;
  env: Record<string, string | undefined>;
  /** True when stdout is a terminal (colour, progress, live views). */
  isTTY: boolean;
  readFile(path: string): string;
  writeFile(path: string, text: string): void;
  readStdin(): string;
}

/** The real process's I/O. */
export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    // `pnpm seg ...` runs in the repository root; INIT_CWD is where the user typed it.
    cwd: process.env["npm_lifecycle_event"] === "seg" && process.env["INIT_CWD"] ? process.env["INIT_CWD"] : process.cwd(),
    env: process.env,
    isTTY: Boolean(process.stdout.isTTY),
    readFile: (p) => readFileSync(p, "utf8"),
    writeFile: (p, t) => writeFileSync(p, t, "utf8"),
    readStdin: () => readFileSync(0, "utf8"),
  };
}

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
