/**
 * The names the compiler uses from the seg front end, in one place. `@seg/dsl` must export each
 * of them from its index.
 */
export { diagnostic, hasErrors, sortDiagnostics, LineIndex, emptySpan, MESSAGES, UNIT_MS } from "@seg/dsl";
export type { Diagnostic, RelatedSpan, Span, Position, MessageName, Severity, TimeUnit } from "@seg/dsl";
