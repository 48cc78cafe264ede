/**
 * The one table of every message seg can report. Codes are stable: a code is never renumbered or
 * reused; a retired message keeps its row with `retired: true`.
 *
 * Ranges: SEG001-SEG029 syntax, SEG030-SEG069 names and types, SEG070-SEG089 schemas and project
 * configuration, SEG090-SEG099 compile targets.
 */
export type Severity = "error" | "warning" | "info";

/** One row of the message table. */
export interface MessageDef {
  code: string;
  name: string;
  severity: Severity;
  /** A template; `{0}`, `{1}`... are replaced by arguments. */
  template: string;
  retired?: boolean;
}

function def(code: string, name: string, severity: Severity, template: string): MessageDef {
  return { code, name, severity, template };
}

/** Every message, keyed by name. */
export const MESSAGES = {
  // --- syntax -------------------------------------------------------------------------------
  unexpectedCharacter: def("SEG001", "unexpected-character", "error", "unexpected character {0}"),
  unterminatedString: def("SEG002", "unterminated-string", "error", "string is not closed: add a closing \""),
  invalidEscape: def("SEG003", "invalid-escape", "error", "invalid escape sequence {0} in string"),
  unterminatedComment: def("SEG004", "unterminated-comment", "error", "block comment is not closed: add */"),
  invalidNumber: def("SEG005", "invalid-number", "error", "invalid number {0}"),
  invalidDate: def("SEG006", "invalid-date", "error", "{0} is not a valid calendar date or timestamp"),
  unterminatedIdentifier: def("SEG007", "unterminated-quoted-name", "error", "quoted name is not closed: add a closing `"),
  unexpectedToken: def("SEG010", "unexpected-token", "error", "expected {0} but found {1}"),
  missingToken: def("SEG011", "missing-token", "error", "missing {0} before {1}"),
  extraToken: def("SEG012", "extra-token", "error", "unexpected {0}"),
  expectedExpression: def("SEG013", "expected-expression", "error", "expected an expression but found {0}"),
  expectedDeclaration: def("SEG014", "expected-declaration", "error", "expected `segment` or `const` but found {0}"),
  duplicateSetting: def("SEG015", "duplicate-setting", "error", "`{0}` is set more than once in segment {1}"),
  missingWhere: def("SEG016", "missing-where", "error", "segment {0} has no `where` condition"),
  chainedComparison: def("SEG017", "chained-comparison", "error", "comparisons cannot be chained; combine them with `and`"),
  invalidRegex: def("SEG018", "invalid-regex", "error", "invalid regular expression: {0}"),
  emptyFile: def("SEG019", "empty-file", "info", "file declares no segments"),
  nestingTooDeep: def("SEG020", "nesting-too-deep", "error", "expression is nested more than {0} levels deep; split it into constants"),
  // --- names and types ----------------------------------------------------------------------
  unknownEvent: def("SEG030", "unknown-event", "error", "unknown event type {0}"),
  unknownField: def("SEG031", "unknown-field", "error", "event {0} has no field {1}"),
  unknownAttribute: def("SEG032", "unknown-attribute", "error", "profile {0} has no attribute {1}"),
  unknownSegment: def("SEG033", "unknown-segment", "error", "unknown segment {0}"),
  unknownName: def("SEG034", "unknown-name", "error", "unknown name {0}"),
  unknownFunction: def("SEG035", "unknown-function", "error", "unknown function {0}"),
  typeMismatch: def("SEG036", "type-mismatch", "error", "{0}"),
  aggregateNeedsNumber: def("SEG037", "aggregate-needs-number", "error", "{0} needs a numeric field, but {1} is {2}"),
  aggregateNeedsEvent: def("SEG038", "aggregate-without-event", "error", "{0} must be applied to an event type, not {1}"),
  eventFieldOutsideAggregate: def("SEG039", "event-field-outside-aggregate", "error", "{0} is an event field; use it inside an aggregate such as count(...) or sum(...)"),
  reversedWindow: def("SEG040", "reversed-window", "error", "window starts at {0} ago but ends at {1} ago; write the older bound first"),
  emptyWindow: def("SEG041", "empty-window", "error", "window {0} is empty"),
  duplicateSegment: def("SEG042", "duplicate-segment", "error", "segment {0} is declared more than once"),
  duplicateConst: def("SEG043", "duplicate-const", "error", "constant {0} is declared more than once"),
  duplicateMetric: def("SEG044", "duplicate-metric", "error", "metric {0} is declared more than once in segment {1}"),
  segmentCycle: def("SEG045", "segment-cycle", "error", "segments refer to each other in a cycle: {0}"),
  constCycle: def("SEG046", "const-cycle", "error", "constants refer to each other in a cycle: {0}"),
  unusedConst: def("SEG047", "unused-const", "warning", "constant {0} is never used"),
  conditionNotBoolean: def("SEG048", "condition-not-boolean", "error", "a condition must be true or false, but this is {0}"),
  nestedAggregate: def("SEG049", "nested-aggregate", "error", "aggregates cannot be nested"),
  wrongArity: def("SEG050", "wrong-arity", "error", "{0} takes {1} but was given {2}"),
  entityMismatch: def("SEG051", "entity-mismatch", "error", "segment {0} is about {1}, but {2} is about {3}"),
  unknownEntity: def("SEG052", "unknown-entity", "error", "unknown entity {0}"),
  metricNotScalar: def("SEG053", "metric-not-scalar", "error", "metric {0} must be a number, string, boolean or timestamp, not {1}"),
  divisionByZero: def("SEG054", "division-by-zero", "warning", "division by zero always gives null"),
  alwaysNull: def("SEG055", "always-null", "warning", "comparison with null is always false; use `is null` or `is not null`"),
  settingOutOfRange: def("SEG056", "setting-out-of-range", "error", "{0}"),
  filterNotPerEvent: def("SEG057", "filter-not-per-event", "error", "{0} cannot be used in an aggregate filter: a filter sees only the fields of each event, constants and literals"),
  unportableRegex: def("SEG058", "unportable-regex", "error", "this regular expression would not mean the same on every engine: {0}"),
  regexNotConstant: def("SEG059", "regex-not-constant", "error", "the pattern of `matches` must be a constant string: a literal, or a `const` whose value is one"),
  // --- schemas and project ------------------------------------------------------------------
  schemaInvalid: def("SEG070", "schema-invalid", "error", "{0}"),
  schemaUnreadable: def("SEG071", "schema-unreadable", "error", "cannot read schema: {0}"),
  schemaMissingKeyword: def("SEG072", "schema-missing-keyword", "error", "schema {0} lacks {1}"),
  schemaUnsupportedType: def("SEG073", "schema-unsupported-type", "error", "field {0} has a type seg cannot use: {1}"),
  duplicateSchema: def("SEG074", "duplicate-schema", "error", "two schemas declare {0}"),
  configInvalid: def("SEG075", "config-invalid", "error", "{0}"),
  configNotFound: def("SEG076", "config-not-found", "error", "no seg.config.json found from {0} upwards"),
  fileUnreadable: def("SEG077", "file-unreadable", "error", "cannot read {0}: {1}"),
  noFiles: def("SEG078", "no-files", "error", "no .seg files found in {0}"),
  testFileInvalid: def("SEG079", "test-file-invalid", "error", "{0}"),
  // --- compile targets ----------------------------------------------------------------------
  unsupportedByDialect: def("SEG090", "unsupported-by-dialect", "error", "{0} is not supported by {1}"),
} as const satisfies Record<string, MessageDef>;

/** The name of a message in the table. */
export type MessageName = keyof typeof MESSAGES;

/** Looks up a message by its code (`SEG0xx`). */
export function messageByCode(code: string): MessageDef | undefined {
  return Object.values(MESSAGES).find((m) => m.code === code);
}

/** Fills a message template with its arguments. */
export function formatTemplate(template: string, args: readonly string[]): string {
  return template.replace(/\{(\d+)\}/g, (_, i: string) => args[Number(i)] ?? "");
}
