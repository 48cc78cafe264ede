/**
 * seg's intermediate representation: the one contract between the front end (checker, lowering)
 * and the SQL back ends (dialect emitters). Plain JSON: no classes, no functions, no cycles, no
 * spans. Everything a back end needs is here; nothing dialect-specific is.
 *
 * Meaning (see docs/language.md for the user-facing wording):
 * - Every value is computed per entity of the universe at one evaluation time `as_of`.
 * - Events with a null time or a time after `as_of` never count.
 * - A window `{ olderMs, newerMs }` holds events with `as_of - olderMs < time <= as_of - newerMs`;
 *   `olderMs: null` means no older bound (`ever`).
 * - Aggregates over no matching events: count, count_distinct = 0; exists = false; sum = 0;
 *   avg, min, max, first_seen, last_seen = null.
 * - Predicates are two-valued: a comparison or test involving null is false, never unknown.
 */
import type { SegType } from "./types.js";

/** The IR format version; bump on any incompatible change. */
export const IR_VERSION = 1;

/** Which events an aggregate looks at, relative to `as_of`. */
export interface WindowIR {
  /** Exclusive older bound in milliseconds before `as_of`; null for no bound (`ever`). */
  olderMs: number | null;
  /** Inclusive newer bound in milliseconds before `as_of` (0 = `as_of` itself). */
  newerMs: number;
}

/** An aggregate function of the language. */
export type AggregateFn =
  | "count"
  | "count_distinct"
  | "sum"
  | "avg"
  | "min"
  | "max"
  | "first_seen"
  | "last_seen"
  | "exists";

/** One per-entity aggregate over one event source. Shared by every segment that needs it. */
export interface AggregateIR {
  /** Stable id within a plan, e.g. `agg_3f2a9c1e` (derived from the content, so equal aggregates share it). */
  id: string;
  fn: AggregateFn;
  /** Event source name (the event type, e.g. `purchase`). */
  source: string;
  /** Field aggregated, or null for the event itself (`count(purchase)`, `exists(purchase)`, first/last_seen). */
  field: string | null;
  window: WindowIR;
  /** Filter over the event's fields (`field` nodes only, plus literals and `as_of`); null for none. */
  filter: ExprIR | null;
  /** Result type (never nullable for count, count_distinct, sum, exists). */
  type: SegType;
}

/** Binary and unary operators over values. Comparisons and tests are two-valued (null -> false). */
export type OpName =
  | "and"
  | "or"
  | "not"
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge"
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "neg"
  | "is_null"
  | "is_not_null"
  | "contains"
  | "starts_with"
  | "ends_with"
  | "matches";

/** Scalar functions of the language. */
export type FunctionName =
  | "lower"
  | "upper"
  | "length"
  | "trim"
  | "abs"
  | "round"
  | "floor"
  | "ceil"
  | "coalesce"
  | "least"
  | "greatest"
  | "days_since";

/** A literal. Timestamps are ISO-8601 UTC strings with milliseconds (`2026-01-31T00:00:00.000Z`); dates are promoted to timestamps. Durations are milliseconds. */
export interface LiteralIR {
  k: "lit";
  type: SegType;
  value: number | string | boolean | null;
}

/** Any expression of the IR. Every node carries its result type. */
export type ExprIR =
  | LiteralIR
  /** The evaluation time. */
  | { k: "as_of"; type: SegType }
  /** A profile attribute of the entity. */
  | { k: "attr"; profile: string; field: string; type: SegType }
  /** A field of the event being filtered (only inside `AggregateIR.filter`). */
  | { k: "field"; source: string; field: string; type: SegType }
  /** The value of a plan aggregate for this entity. */
  | { k: "agg"; id: string; type: SegType }
  /** Whether the entity is a member of another segment (boolean, never null). */
  | { k: "segment"; name: string; type: SegType }
  | { k: "op"; op: OpName; args: ExprIR[]; type: SegType }
  /** `x [not] in [..]`: false when x is null; null items never match. */
  | { k: "in"; negated: boolean; arg: ExprIR; items: ExprIR[]; type: SegType }
  /** `x [not] between lo and hi`, inclusive both ends; false when any side is null (and for `not`, true then). */
  | { k: "between"; negated: boolean; arg: ExprIR; low: ExprIR; high: ExprIR; type: SegType }
  /** A timestamp inside a window relative to `as_of`; false when null (negated: true when null). */
  | { k: "in_window"; negated: boolean; arg: ExprIR; window: WindowIR; type: SegType }
  | { k: "call"; fn: FunctionName; args: ExprIR[]; type: SegType };

/** An event or profile source as the back ends need it. */
export interface SourceIR {
  name: string;
  kind: "event" | "profile";
  entity: string;
  /** Column holding the entity key. */
  key: string;
  /** Column holding the event time (events only). */
  time: string | null;
  topic: string;
  /** Every field of the schema with its type, in schema order (for reading and DDL). */
  fields: { name: string; type: SegType }[];
  /** Spark DDL of the schema, e.g. "`customer_id` STRING, `ts` TIMESTAMP". */
  sparkDdl: string;
  /** Content hash of the schema. */
  schemaHash: string;
}

/** A value carried with each member. */
export interface MetricIR {
  name: string;
  expr: ExprIR;
}

/** Runtime settings of a segment. */
export interface SegmentSettingsIR {
  refreshMs: number;
  ttlMs: number;
}

/**
 * What every form of a segment carries, from the checker to the server's catalog: its name, the
 * settings that describe it to people, and the entity it is about.
 */
export interface SegmentHeader {
  name: string;
  title: string | null;
  description: string | null;
  owner: string | null;
  tags: string[];
  entity: string;
}

/** One segment: who belongs, what travels with them, and what it depends on. */
export interface SegmentIR extends SegmentHeader {
  /** Membership condition (boolean, two-valued). */
  predicate: ExprIR;
  metrics: MetricIR[];
  /** Segments referenced directly by `in name`. */
  dependencies: string[];
  /** Ids of the plan aggregates this segment uses directly. */
  aggregates: string[];
  settings: SegmentSettingsIR;
  /** Source file (relative to the project root) — for messages only. */
  file: string;
}

/** The entities a plan evaluates: all keys of the profile, or every key seen in the event sources. */
export type UniverseIR = { kind: "profile"; source: string } | { kind: "events"; sources: string[] };

/**
 * A plan: several segments over the same entity evaluated together, every aggregate computed once.
 * `segments` is in dependency order (a segment comes after the segments it references) and
 * includes every dependency of the segments asked for; `outputs` names the segments whose members
 * the plan returns.
 */
export interface PlanIR {
  irVersion: number;
  entity: string;
  /** Name of the column holding the entity key in every result. */
  keyType: SegType;
  universe: UniverseIR;
  sources: SourceIR[];
  aggregates: AggregateIR[];
  segments: SegmentIR[];
  outputs: string[];
}
