import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main, type CliIo } from "../../src/index.js";

/** The result of one in-process CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `seg` in-process with captured output. */
export async function runCli(argv: string[], opts: { cwd?: string; stdin?: string; env?: Record<string, string>; tty?: boolean } = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? {},
    isTTY: opts.tty ?? false,
    readFile: (p) => readFileSync(p, "utf8"),
    writeFile: (p, t) => writeFileSync(p, t, "utf8"),
    readStdin: () => opts.stdin ?? "",
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** A temp folder with the given files. */
export function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "seg-cli-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
