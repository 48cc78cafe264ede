/**
 * What every project command shares: `--config`, compiling the project, printing diagnostics.
 */
import type { Command } from "commander";
import { compileProject, type CompiledProject } from "@seg/compiler";
import { hasErrors, renderDiagnostics, type Diagnostic } from "@seg/dsl";
import { EXIT, type CliIo } from "../io.js";
import { renderStyle } from "../style.js";

/** Options every project command accepts. */
export interface ProjectOptions {
  config?: string;
}

/** Adds `--config` to a command. */
export function withConfigOption(cmd: Command): Command {
  return cmd.option("-c, --config <path>", "seg.config.json to use (default: found from the paths upwards)");
}

/** Compiles the project for `paths`. */
export function compileFor(paths: string[], opts: ProjectOptions, io: CliIo, configSearchFrom?: string): CompiledProject {
  return compileProject({
    cwd: io.cwd,
    env: io.env,
    paths,
    ...(opts.config ? { configPath: opts.config } : {}),
    ...(configSearchFrom !== undefined ? { configSearchFrom } : {}),
  });
}

/** Prints diagnostics for people on standard error. */
export function printDiagnostics(compiled: CompiledProject, io: CliIo, ds: readonly Diagnostic[] = compiled.diagnostics): void {
  if (ds.length > 0) io.stderr(renderDiagnostics(ds, compiled.sourceText, renderStyle(io)) + "\n");
}

/**
 * Stops a command that needs a clean project: prints problems and returns the exit code
 * (2 for configuration or schema problems, 1 for rule errors), or undefined to go on.
 */
export function stopOnErrors(compiled: CompiledProject, io: CliIo): number | undefined {
  const warnings = compiled.diagnostics.filter((d) => d.severity !== "error");
  if (!hasErrors(compiled.diagnostics)) {
    if (warnings.length > 0) printDiagnostics(compiled, io, warnings);
    return undefined;
  }
  printDiagnostics(compiled, io);
  return compiled.configFailed ? EXIT.usage : EXIT.failure;
}

/** Parses an ISO-8601 timestamp with a zone; undefined when it is not one. */
export function parseAsOf(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text)) return undefined;
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}
