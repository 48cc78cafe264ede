import type { Reporter } from "./reporter.js";

/** For scripts: a JSON array of `{file, line, column, endLine, endColumn, code, severity, message}`. */
export const jsonReporter: Reporter = (diagnostics) =>
  JSON.stringify(
    diagnostics.map((d) => ({
      file: d.file ?? null,
      line: d.span.start.line,
      column: d.span.start.column,
      endLine: d.span.end.line,
      endColumn: d.span.end.column,
      code: d.code,
      name: d.name,
      severity: d.severity,
      message: d.message,
      hints: d.hints,
    })),
    null,
    2,
  ) + "\n";
