/**
 * `seg fmt [paths] [--check|--write]`: the one canonical layout for `.seg` files.
 */
import type { Command } from "commander";
import { format, renderDiagnostics } from "@seg/dsl";
import { expandPaths } from "../files.js";
import { EXIT, type CliIo } from "../io.js";
import { renderStyle } from "../style.js";

interface FmtOptions {
  check?: boolean;
  write?: boolean;
}

/** Registers `seg fmt`. */
export function registerFmt(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("fmt")
    .description("format .seg files in the canonical layout (rewrites files unless --check)")
    .argument("[paths...]", "files or folders (default: the current folder); - reads standard input and prints")
    .option("--check", "change nothing; list files that are not formatted and exit 1 if any")
    .option("--write", "rewrite files in place (the default)")
    .addHelpText("after", "\nExamples:\n  seg fmt rules/\n  seg fmt --check examples\n  cat x.seg | seg fmt -\n")
    .action((paths: string[], opts: FmtOptions) => setExit(runFmt(paths, opts, io)));
}

function runFmt(paths: string[], opts: FmtOptions, io: CliIo): number {
  if (opts.check && opts.write) {
    io.stderr("seg fmt: use either --check or --write, not both\n");
    return EXIT.usage;
  }
  const style = renderStyle(io);
  if (paths.length === 1 && paths[0] === "-") {
    const text = io.readStdin();
    const r = format(text, "<stdin>");
    if (r.diagnostics.some((d) => d.severity === "error")) {
      io.stderr(renderDiagnostics(r.diagnostics, () => text, style) + "\n");
      return EXIT.failure;
    }
    if (opts.check) return r.changed ? EXIT.failure : EXIT.ok;
    io.stdout(r.output);
    return EXIT.ok;
  }
  const { files, missing } = expandPaths(paths, io.cwd);
  for (const m of missing) io.stderr(`seg fmt: no such file or folder: ${m}\n`);
  if (missing.length > 0) return EXIT.usage;
  let unformatted = 0;
  let broken = 0;
  for (const f of files) {
    const text = io.readFile(f.path);
    const r = format(text, f.display);
    if (r.diagnostics.some((d) => d.severity === "error")) {
      broken++;
      io.stderr(renderDiagnostics(r.diagnostics, () => text, style) + "\n");
      continue;
    }
    if (!r.changed) continue;
    unformatted++;
    if (opts.check) io.stdout(`${f.display}\n`);
    else {
      io.writeFile(f.path, r.output);
      io.stdout(`formatted ${f.display}\n`);
    }
  }
  if (opts.check && unformatted > 0) {
    io.stderr(`${unformatted} file${unformatted === 1 ? "" : "s"} would be reformatted; run seg fmt to fix\n`);
  }
  if (broken > 0) return EXIT.failure;
  return opts.check && unformatted > 0 ? EXIT.failure : EXIT.ok;
}
