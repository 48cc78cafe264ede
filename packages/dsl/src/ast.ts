/**
 * The typed syntax tree of a `.seg` file. Every node has a `kind` (the discriminant) and a `span`.
 * The tree is plain JSON: no classes, no cycles. Nodes the parser had to invent while recovering
 * from a syntax error are `Error` nodes; later stages treat them as "already reported".
 */
import type { Span } from "./span.js";

/** Time units a duration can be written in. */
export type TimeUnit = "second" | "minute" | "hour" | "day" | "week";

/** Milliseconds per time unit. */
export const UNIT_MS: Record<TimeUnit, number> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
};

/** The aggregate functions over events. */
export const AGGREGATE_FUNCTIONS = [
  "count",
  "count_distinct",
  "sum",
  "avg",
  "min",
  "max",
  "first_seen",
  "last_seen",
  "exists",
] as const;
/** An aggregate function name. */
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

/** A name as written, with its own span (`purchase`, `` `a"b` ``). */
export interface Name {
  kind: "Name";
  text: string;
  /** True when written in backticks. */
  quoted: boolean;
  span: Span;
}

/** A duration such as `30 days`. */
export interface DurationLiteral {
  kind: "Duration";
  amount: number;
  unit: TimeUnit;
  /** The source text of the amount, e.g. `1_000`. */
  raw: string;
  span: Span;
}

// --- Expressions ------------------------------------------------------------------------------

export interface NumberLiteral {
  kind: "Number";
  value: number;
  /** Source text (keeps `1_000` as written). */
  raw: string;
  span: Span;
}
export interface StringLiteral {
  kind: "String";
  value: string;
  span: Span;
}
export interface BooleanLiteral {
  kind: "Boolean";
  value: boolean;
  span: Span;
}
export interface NullLiteral {
  kind: "Null";
  span: Span;
}
/** A calendar date `2026-01-31` (UTC midnight). */
export interface DateLiteral {
  kind: "Date";
  /** As written, `YYYY-MM-DD`. */
  value: string;
  span: Span;
}
/** An ISO-8601 timestamp `2026-01-31T12:00:00Z`. */
export interface TimestampLiteral {
  kind: "Timestamp";
  /** As written. */
  value: string;
  span: Span;
}
/** `as_of`: the evaluation time. */
export interface AsOf {
  kind: "AsOf";
  span: Span;
}
/** A list `["US", "CA"]`. */
export interface ListLiteral {
  kind: "List";
  items: Expr[];
  span: Span;
}
/** A dotted path: `customer.country`, `threshold`, `category`. Resolved by the checker. */
export interface Path {
  kind: "Path";
  parts: Name[];
  span: Span;
}
/** An aggregate over one event type: `sum(purchase.amount in last 30 days where category = "x")`. */
export interface Aggregate {
  kind: "Aggregate";
  fn: AggregateFunction;
  fnSpan: Span;
  /** `purchase` or `purchase.amount`. */
  source: Path;
  window: Window | null;
  filter: Expr | null;
  span: Span;
}
/** A scalar function call such as `lower(customer.email)`. */
export interface Call {
  kind: "Call";
  callee: Name;
  args: Expr[];
  span: Span;
}
/** `in high_value`: membership in another segment. */
export interface SegmentRef {
  kind: "SegmentRef";
  name: Name;
  span: Span;
}
export type UnaryOperator = "not" | "-";
export interface Unary {
  kind: "Unary";
  op: UnaryOperator;
  operand: Expr;
  span: Span;
}
export type BinaryOperator = "or" | "and" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*" | "/";
export interface Binary {
  kind: "Binary";
  op: BinaryOperator;
  left: Expr;
  right: Expr;
  span: Span;
}
/** `x [not] in [a, b]` */
export interface InList {
  kind: "InList";
  negated: boolean;
  operand: Expr;
  list: ListLiteral | Expr;
  span: Span;
}
/** `x [not] between low and high` (inclusive on both ends). */
export interface Between {
  kind: "Between";
  negated: boolean;
  operand: Expr;
  low: Expr;
  high: Expr;
  span: Span;
}
/** `x is [not] null` */
export interface IsNull {
  kind: "IsNull";
  negated: boolean;
  operand: Expr;
  span: Span;
}
export type StringOperator = "contains" | "starts with" | "ends with" | "matches";
/** `x [not] contains "a"`, `starts with`, `ends with`, `matches` (regular expression). */
export interface StringTest {
  kind: "StringTest";
  op: StringOperator;
  negated: boolean;
  operand: Expr;
  pattern: Expr;
  span: Span;
}
/** `customer.signup_time in last 14 days`: a timestamp inside a window. */
export interface WindowTest {
  kind: "WindowTest";
  negated: boolean;
  operand: Expr;
  window: Window;
  span: Span;
}
/** `( expr )`, kept so the formatter reproduces the author's grouping. */
export interface Paren {
  kind: "Paren";
  expr: Expr;
  span: Span;
}
/** A node invented during error recovery. Already reported; never report it again. */
export interface ErrorNode {
  kind: "Error";
  span: Span;
}

/** Any expression. */
export type Expr =
  | NumberLiteral
  | StringLiteral
  | BooleanLiteral
  | NullLiteral
  | DateLiteral
  | TimestampLiteral
  | DurationLiteral
  | AsOf
  | ListLiteral
  | Path
  | Aggregate
  | Call
  | SegmentRef
  | Unary
  | Binary
  | InList
  | Between
  | IsNull
  | StringTest
  | WindowTest
  | Paren
  | ErrorNode;

// --- Windows ----------------------------------------------------------------------------------

/** `in last 30 days`: the half-open interval `(as_of - 30 days, as_of]`. */
export interface LastWindow {
  kind: "LastWindow";
  duration: DurationLiteral;
  span: Span;
}
/** `between 60 days and 30 days ago`: `(as_of - 60 days, as_of - 30 days]`. */
export interface AgoWindow {
  kind: "AgoWindow";
  from: DurationLiteral;
  to: DurationLiteral;
  span: Span;
}
/** `ever`: every event up to and including `as_of`. */
export interface EverWindow {
  kind: "EverWindow";
  span: Span;
}
export type Window = LastWindow | AgoWindow | EverWindow;

// --- Declarations -----------------------------------------------------------------------------

/** `description "..."`, `owner "..."` */
export interface TextSetting {
  kind: "Description" | "Owner";
  value: StringLiteral;
  span: Span;
}
/** `tags ["a", "b"]` */
export interface TagsSetting {
  kind: "Tags";
  tags: StringLiteral[];
  span: Span;
}
/** `entity customer [key customer_id]` */
export interface EntitySetting {
  kind: "Entity";
  entity: Name;
  key: Name | null;
  span: Span;
}
/** `refresh every 15 minutes` */
export interface RefreshSetting {
  kind: "Refresh";
  every: DurationLiteral;
  span: Span;
}
/** `ttl 2 hours` */
export interface TtlSetting {
  kind: "Ttl";
  duration: DurationLiteral;
  span: Span;
}
/** `metric total_spend = sum(purchase.amount in last 30 days)`: carried with each member. */
export interface MetricDecl {
  kind: "Metric";
  name: Name;
  expr: Expr;
  span: Span;
}
/** `where <condition>`: who belongs to the segment. */
export interface WhereClause {
  kind: "Where";
  condition: Expr;
  span: Span;
}
/** One item in a segment body. */
export type SegmentItem =
  | TextSetting
  | TagsSetting
  | EntitySetting
  | RefreshSetting
  | TtlSetting
  | MetricDecl
  | WhereClause;

/** `segment high_value "High-value customers" { ... }` */
export interface SegmentDecl {
  kind: "Segment";
  name: Name;
  title: StringLiteral | null;
  items: SegmentItem[];
  span: Span;
}
/** `const threshold = 1_000`: a named constant or reusable expression, visible in the whole project. */
export interface ConstDecl {
  kind: "Const";
  name: Name;
  expr: Expr;
  span: Span;
}
export type Declaration = SegmentDecl | ConstDecl;

/** A comment, kept for the formatter. */
export interface Comment {
  kind: "LineComment" | "BlockComment";
  /** Full text including `//` or `/* *\/`. */
  text: string;
  span: Span;
}

/** One parsed `.seg` file. */
export interface SegFile {
  kind: "File";
  declarations: Declaration[];
  comments: Comment[];
  span: Span;
}

/** Any node of the tree. */
export type Node = Expr | Window | Declaration | SegmentItem | SegFile | Name;
