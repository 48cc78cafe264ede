import { resolve } from "node:path";
import { EXIT, type CliIo } from "../io.js";
import { displayPath } from "../files.js";

/** A source read for a command, or the exit code to stop with. */
export type SourceRead = { ok: true; text: string; display: string; path: string } | { ok: false; exit: number };

/** Reads one file argument (`-` is standard input), reporting a clear error when it cannot. */
export function readSource(file: string, io: CliIo): SourceRead {
  if (file === "-") return { ok: true, text: io.readStdin(), display: "<stdin>", path: "-" };
  const path = resolve(io.cwd, file);
  try {
    return { ok: true, text: io.readFile(path), display: displayPath(path, io.cwd), path };
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    io.stderr(`seg: cannot read ${file}: ${reason}\n`);
    return { ok: false, exit: EXIT.usage };
  }
}
