/** Test helper: builds PlanIR objects by hand, with little ceremony. */
import type { AggregateFn, AggregateIR, ExprIR, FunctionName, MetricIR, OpName, PlanIR, SegmentIR, SourceIR, UniverseIR, WindowIR } from "../../src/ir.js";
import { IR_VERSION } from "../../src/ir.js";
import type { SegType, SegTypeKind } from "../../src/types.js";

export const DAY = 86_400_000;

/** `kind` or `kind?` (nullable) to a SegType. */
export function ty(spec: string): SegType {
  const nullable = spec.endsWith("?");
  return { kind: spec.replace("?", "") as SegTypeKind, nullable };
}

const BOOL = ty("boolean");

export const lit = (value: number | string | boolean | null, type?: string): ExprIR => ({
  k: "lit",
  value,
  type: ty(
    type ??
      (value === null ? "null?" : typeof value === "boolean" ? "boolean" : typeof value === "string" ? "string" : Number.isInteger(value) ? "integer" : "number"),
  ),
});
export const num = (n: number): ExprIR => lit(n, "number");
export const int = (n: number): ExprIR => lit(n, "integer");
export const str = (s: string): ExprIR => lit(s, "string");
export const tsLit = (iso: string): ExprIR => lit(iso, "timestamp");
export const dur = (ms: number): ExprIR => lit(ms, "duration");
export const asOf = (): ExprIR => ({ k: "as_of", type: ty("timestamp") });
export const attr = (profile: string, field: string, type: string): ExprIR => ({ k: "attr", profile, field, type: ty(type) });
export const field = (source: string, name: string, type: string): ExprIR => ({ k: "field", source, field: name, type: ty(type) });
export const aggRef = (a: AggregateIR): ExprIR => ({ k: "agg", id: a.id, type: a.type });
export const seg = (name: string): ExprIR => ({ k: "segment", name, type: BOOL });

const BOOLEAN_OPS = new Set<OpName>(["and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "is_null", "is_not_null", "contains", "starts_with", "ends_with", "matches"]);

/** An operator node; the result type is inferred (override with `type`). */
export function op(name: OpName, args: ExprIR[], type?: string): ExprIR {
  let t: SegType;
  if (type !== undefined) t = ty(type);
  else if (BOOLEAN_OPS.has(name)) t = BOOL;
  else {
    const nullable = name === "div" || args.some((a) => a.type.nullable);
    const kinds = args.map((a) => a.type.kind);
    const kind = name === "div" ? "number" : kinds.every((k) => k === "integer") ? "integer" : "number";
    t = { kind, nullable };
  }
  return { k: "op", op: name, args, type: t };
}
export const and = (...args: ExprIR[]) => op("and", args);
export const or = (...args: ExprIR[]) => op("or", args);
export const not = (a: ExprIR) => op("not", [a]);
export const eq = (a: ExprIR, b: ExprIR) => op("eq", [a, b]);
export const ne = (a: ExprIR, b: ExprIR) => op("ne", [a, b]);
export const gt = (a: ExprIR, b: ExprIR) => op("gt", [a, b]);
export const ge = (a: ExprIR, b: ExprIR) => op("ge", [a, b]);
export const lt = (a: ExprIR, b: ExprIR) => op("lt", [a, b]);
export const le = (a: ExprIR, b: ExprIR) => op("le", [a, b]);
export const inList = (arg: ExprIR, items: ExprIR[], negated = false): ExprIR => ({ k: "in", negated, arg, items, type: BOOL });
export const between = (arg: ExprIR, low: ExprIR, high: ExprIR, negated = false): ExprIR => ({ k: "between", negated, arg, low, high, type: BOOL });
export const inWindow = (arg: ExprIR, window: WindowIR, negated = false): ExprIR => ({ k: "in_window", negated, arg, window, type: BOOL });
export const call = (fn: FunctionName, args: ExprIR[], type: string): ExprIR => ({ k: "call", fn, args, type: ty(type) });

export const last = (days: number): WindowIR => ({ olderMs: days * DAY, newerMs: 0 });
export const ago = (olderDays: number, newerDays: number): WindowIR => ({ olderMs: olderDays * DAY, newerMs: newerDays * DAY });
export const EVER: WindowIR = { olderMs: null, newerMs: 0 };

const RESULT: Record<AggregateFn, (fieldType: SegType | undefined) => string> = {
  count: () => "integer",
  count_distinct: () => "integer",
  sum: (f) => (f?.kind === "integer" ? "integer" : "number"),
  avg: () => "number?",
  min: (f) => `${f?.kind ?? "number"}?`,
  max: (f) => `${f?.kind ?? "number"}?`,
  first_seen: () => "timestamp?",
  last_seen: () => "timestamp?",
  exists: () => "boolean",
};

let aggCounter = 0;

/** An aggregate over `source` (looked up for the field type). */
export function aggregate(source: SourceIR, fn: AggregateFn, fieldName: string | null, window: WindowIR = EVER, filter: ExprIR | null = null): AggregateIR {
  const f = fieldName === null ? undefined : source.fields.find((x) => x.name === fieldName);
  if (fieldName !== null && !f) throw new Error(`no field ${fieldName} in ${source.name}`);
  aggCounter += 1;
  return { id: `agg_${aggCounter.toString(16).padStart(8, "0")}`, fn, source: source.name, field: fieldName, window, filter, type: ty(RESULT[fn](f?.type)) };
}

/** An event or profile source from `{ name: "type" }` fields (first field is the key; `time` names the time field). */
export function source(name: string, kind: "event" | "profile", fields: Record<string, string>, options: { key?: string; time?: string } = {}): SourceIR {
  const list = Object.entries(fields).map(([n, t]) => ({ name: n, type: ty(t) }));
  return {
    name,
    kind,
    entity: "customer",
    key: options.key ?? list[0]!.name,
    time: kind === "event" ? options.time ?? "ts" : null,
    topic: `seg.${name}`,
    fields: list,
    sparkDdl: "",
    schemaHash: "0".repeat(64),
  };
}

/** A segment; dependencies and aggregates used are collected from the predicate. */
export function segment(name: string, predicate: ExprIR, metrics: MetricIR[] = []): SegmentIR {
  const deps = new Set<string>();
  const aggs = new Set<string>();
  const walk = (e: ExprIR): void => {
    if (e.k === "segment") deps.add(e.name);
    if (e.k === "agg") aggs.add(e.id);
    if (e.k === "op" || e.k === "call") e.args.forEach(walk);
    if (e.k === "in") [e.arg, ...e.items].forEach(walk);
    if (e.k === "between") [e.arg, e.low, e.high].forEach(walk);
    if (e.k === "in_window") walk(e.arg);
  };
  walk(predicate);
  metrics.forEach((m) => walk(m.expr));
  return {
    name,
    title: null,
    description: null,
    owner: null,
    tags: [],
    entity: "customer",
    predicate,
    metrics,
    dependencies: [...deps],
    aggregates: [...aggs],
    settings: { refreshMs: 3_600_000, ttlMs: 7_200_000 },
    file: "rules/test.seg",
  };
}

export const metric = (name: string, expr: ExprIR): MetricIR => ({ name, expr });

/** A plan; outputs default to every segment. */
export function plan(parts: { universe: UniverseIR; sources: SourceIR[]; aggregates: AggregateIR[]; segments: SegmentIR[]; outputs?: string[]; keyType?: string }): PlanIR {
  return {
    irVersion: IR_VERSION,
    entity: "customer",
    keyType: ty(parts.keyType ?? "string"),
    universe: parts.universe,
    sources: parts.sources,
    aggregates: parts.aggregates,
    segments: parts.segments,
    outputs: parts.outputs ?? parts.segments.map((s) => s.name),
  };
}
