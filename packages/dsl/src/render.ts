/**
 * Renders diagnostics for people: `file:line:col: severity CODE name: message`, then the source
 * line with a caret under the span, then hints and related locations. Colour is injected by the
 * caller (the CLI turns it on only on a TTY), so this module stays free of terminal concerns.
 */
import type { Diagnostic } from "./diagnostics.js";
import type { Severity } from "./messages.js";
import { LineIndex } from "./span.js";

/** Styling hooks; identity functions give plain text. */
export interface RenderStyle {
  severity(severity: Severity, text: string): string;
  location(text: string): string;
  caret(severity: Severity, text: string): string;
  dim(text: string): string;
}

/** No colour at all. */
export const PLAIN_STYLE: RenderStyle = {
  severity: (_s, t) => t,
  location: (t) => t,
  caret: (_s, t) => t,
  dim: (t) => t,
};

/** Source texts by file name, to show the offending line. */
export type SourceLookup = (file: string | undefined) => string | undefined;

const indexCache = new WeakMap<object, Map<string, LineIndex>>();

function lineIndexFor(lookup: SourceLookup, file: string | undefined): LineIndex | undefined {
  const text = lookup(file);
  if (text === undefined) return undefined;
  let cache = indexCache.get(lookup);
  if (!cache) indexCache.set(lookup, (cache = new Map()));
  const key = `${file ?? ""}\u0000${text.length}`;
  let idx = cache.get(key);
  if (!idx || idx.text !== text) cache.set(key, (idx = new LineIndex(text)));
  return idx;
}

/** `file:line:col` (1-based) of a diagnostic. */
export function formatLocation(d: Pick<Diagnostic, "file" | "span">): string {
  return `${d.file ?? "<input>"}:${d.span.start.line}:${d.span.start.column}`;
}

/** Tabs would misalign the caret: show them as single spaces. */
function visible(line: string): string {
  return line.replace(/\t/g, " ");
}

/** Renders one diagnostic as several lines of text (no trailing newline). */
export function renderDiagnostic(d: Diagnostic, lookup: SourceLookup, style: RenderStyle = PLAIN_STYLE): string {
  const out: string[] = [];
  out.push(
    `${style.location(formatLocation(d))}: ${style.severity(d.severity, `${d.severity} ${d.code}`)} ${style.dim(d.name)}: ${d.message}`,
  );
  const lines = lineIndexFor(lookup, d.file);
  if (lines) {
    const { line, column } = d.span.start;
    const text = lines.lineText(line);
    const gutter = String(line);
    const pad = " ".repeat(gutter.length);
    // Underline to the end of the span, or to the end of this line for multi-line spans.
    const endCol = d.span.end.line === line ? d.span.end.column : text.length + 1;
    const width = Math.max(1, endCol - column);
    out.push(`${style.dim(`${gutter} |`)} ${visible(text)}`);
    out.push(`${style.dim(`${pad} |`)} ${" ".repeat(Math.max(0, column - 1))}${style.caret(d.severity, "^".repeat(width))}`);
    for (const h of d.hints) out.push(`${style.dim(`${pad} =`)} hint: ${h}`);
  } else {
    for (const h of d.hints) out.push(`  = hint: ${h}`);
  }
  for (const r of d.related) {
    out.push(`  ${style.dim("note:")} ${formatLocation({ file: r.file ?? d.file, span: r.span })}: ${r.message}`);
  }
  return out.join("\n");
}

/** Renders many diagnostics separated by blank lines, plus a one-line summary. */
export function renderDiagnostics(ds: readonly Diagnostic[], lookup: SourceLookup, style: RenderStyle = PLAIN_STYLE): string {
  if (ds.length === 0) return "";
  const body = ds.map((d) => renderDiagnostic(d, lookup, style)).join("\n\n");
  return `${body}\n\n${summarize(ds)}`;
}

/** "2 errors, 1 warning". */
export function summarize(ds: readonly Diagnostic[]): string {
  const errors = ds.filter((d) => d.severity === "error").length;
  const warnings = ds.filter((d) => d.severity === "warning").length;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return `${plural(errors, "error")}, ${plural(warnings, "warning")}`;
}
