import type { Reporter } from "./reporter.js";

/** Escapes a workflow-command property value (GitHub's rules: %, CR, LF, colon and comma). */
function property(value: string): string {
  return value.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/:/g, "%3A").replace(/,/g, "%2C");
}

/** Escapes a workflow-command message. */
function data(value: string): string {
  return value.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** For GitHub Actions: `::error file=..,line=..,col=..::message` annotations. */
export const githubReporter: Reporter = (diagnostics) =>
  diagnostics
    .map((d) => {
      const level = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "notice";
      const props = [
        `file=${property(d.file ?? "")}`,
        `line=${d.span.start.line}`,
        `col=${d.span.start.column}`,
        `endLine=${d.span.end.line}`,
        `endColumn=${d.span.end.column}`,
        `title=${property(`${d.code} ${d.name}`)}`,
      ];
      const hint = d.hints.length > 0 ? ` (${d.hints.join("; ")})` : "";
      return `::${level} ${props.join(",")}::${data(`${d.code}: ${d.message}${hint}`)}\n`;
    })
    .join("");
