import { MESSAGES, formatTemplate, type MessageName, type Severity } from "./messages.js";
import type { Span } from "./span.js";

/** A secondary location that explains a diagnostic ("first declared here"). */
export interface RelatedSpan {
  span: Span;
  message: string;
  /** The file of the related span, when it is not the diagnostic's own file. */
  file?: string;
}

/** A problem found in a source or schema: plain data, never an exception. */
export interface Diagnostic {
  code: string;
  name: string;
  severity: Severity;
  message: string;
  span: Span;
  /** The file the diagnostic belongs to, when known. */
  file?: string;
  hints: string[];
  related: RelatedSpan[];
}

/** Options for {@link diagnostic}. */
export interface DiagnosticOptions {
  hints?: string[];
  related?: RelatedSpan[];
  file?: string;
  severity?: Severity;
}

/** Builds a diagnostic from a row of the message table. */
export function diagnostic(
  name: MessageName,
  span: Span,
  args: readonly string[] = [],
  options: DiagnosticOptions = {},
): Diagnostic {
  const def = MESSAGES[name];
  const d: Diagnostic = {
    code: def.code,
    name: def.name,
    severity: options.severity ?? def.severity,
    message: formatTemplate(def.template, args),
    span,
    hints: options.hints ?? [],
    related: options.related ?? [],
  };
  if (options.file !== undefined) d.file = options.file;
  return d;
}

/** True when any diagnostic is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/** Orders diagnostics by file, then position, then code. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.file ?? "").localeCompare(b.file ?? "") ||
      a.span.start.offset - b.span.start.offset ||
      a.code.localeCompare(b.code),
  );
}
