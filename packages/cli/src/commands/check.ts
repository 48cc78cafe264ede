/**
 * `seg check`: parse and type-check rules against the schemas; the CI lint.
 */
import { Option, type Command } from "commander";
import { VERSION } from "../version.js";
import { EXIT, type CliIo } from "../io.js";
import { REPORTERS, REPORT_FORMATS, type ReportFormat } from "../reporters/index.js";
import { renderStyle } from "../style.js";
import { compileFor, withConfigOption, type ProjectOptions } from "./project-options.js";

interface CheckOptions extends ProjectOptions {
  format: ReportFormat;
  maxWarnings?: string;
}

/** Registers `seg check`. */
export function registerCheck(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("check")
      .description("parse and type-check .seg rules against the project's schemas")
      .argument("[paths...]", "rule files or folders (default: the project's rules folder)")
      .addOption(new Option("-f, --format <format>", "output format").choices([...REPORT_FORMATS]).default("pretty"))
      .option("--max-warnings <n>", "exit 1 when there are more than n warnings"),
  )
    .addHelpText(
      "after",
      "\nExit codes: 0 clean, 1 errors (or too many warnings), 2 usage or configuration error.\n\nExamples:\n  seg check examples\n  seg check rules/ --format sarif > seg.sarif\n  seg check --format github --max-warnings 0\n",
    )
    .action((paths: string[], opts: CheckOptions) => setExit(runCheck(paths, opts, io)));
}

function runCheck(paths: string[], opts: CheckOptions, io: CliIo): number {
  let maxWarnings: number | undefined;
  if (opts.maxWarnings !== undefined) {
    maxWarnings = Number(opts.maxWarnings);
    if (!Number.isInteger(maxWarnings) || maxWarnings < 0) {
      io.stderr(`seg check: --max-warnings needs a whole number >= 0, not ${JSON.stringify(opts.maxWarnings)}\n`);
      return EXIT.usage;
    }
  }
  const compiled = compileFor(paths, opts, io);
  const ds = compiled.diagnostics;
  const report = REPORTERS[opts.format](ds, {
    source: compiled.sourceText,
    style: renderStyle(io),
    fileCount: compiled.files.filter((f) => f.requested).length,
    toolVersion: VERSION,
  });
  io.stdout(report);
  if (compiled.configFailed) return EXIT.usage;
  if (ds.some((d) => d.severity === "error")) return EXIT.failure;
  const warnings = ds.filter((d) => d.severity === "warning").length;
  if (maxWarnings !== undefined && warnings > maxWarnings) {
    io.stderr(`seg check: ${warnings} warnings (more than --max-warnings ${maxWarnings})\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}
