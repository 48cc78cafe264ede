/**
 * The "empty entity" analysis: can a segment hold for an entity that has no events in a scan?
 *
 * An entity with no row in an event scan (`events_N`: its events at or before `as_of`, within the
 * scan's longest window) has every aggregate of that scan at its empty value: count and
 * count_distinct 0, sum 0, exists false, avg/min/max/first_seen/last_seen null. Everything else
 * about it (profile attributes, `as_of`, aggregates of other scans) is unknown here.
 *
 * {@link EmptyEntity.truth} evaluates a predicate on such an entity with three outcomes: `true`
 * (holds whatever the unknowns are), `false` (fails whatever they are) and `unknown`. It follows
 * the emitted SQL's two-valued meaning (`emit-expr.ts`): a comparison or test with a null operand
 * is false, `not` flips a never-null condition, `and`/`or` combine never-null conditions (so
 * Kleene logic over true/false/unknown is exact). Values are folded only where the result is
 * certain: numbers (finite, integers exact), booleans, strings for (in)equality, and null, which
 * every operator and function but `coalesce`/`least`/`greatest`/`is_null` propagates. Anything
 * else is unknown, which is always sound: it only stops the rewrite.
 *
 * The emitter uses it to drive a query from an event scan instead of the whole universe: when every
 * output segment is definitely not true on the empty entity of a scan, the entities without a row
 * in that scan can be skipped (`emit-plan.ts`).
 */
import type { AggregateIR, ExprIR, PlanIR, SegmentIR } from "../ir.js";

/** The outcome of a condition on partially known entities. */
export type Truth = "true" | "false" | "unknown";

type Scalar = number | string | boolean | null;
/** A value: known (possibly null) or unknown. */
type Abs = { known: true; value: Scalar } | { known: false };

const UNKNOWN: Abs = { known: false };
const known = (value: Scalar): Abs => ({ known: true, value });
const isNull = (a: Abs): boolean => a.known && a.value === null;
const numberOf = (a: Abs): number | undefined => (a.known && typeof a.value === "number" && Number.isFinite(a.value) ? a.value : undefined);
const OPAQUE_KINDS = new Set(["timestamp", "date", "duration"]);

/** The value of an aggregate over no events (the emitted `base` CTE's defaults). */
export function emptyAggregateValue(a: Pick<AggregateIR, "fn">): Scalar {
  switch (a.fn) {
    case "count":
    case "count_distinct":
    case "sum":
      return 0;
    case "exists":
      return false;
    default:
      return null;
  }
}

/** Evaluates predicates of `plan` on an entity whose aggregates chosen by `isEmpty` have no events. */
export class EmptyEntity {
  private readonly aggregates: Map<string, AggregateIR>;
  private readonly segments: Map<string, SegmentIR>;
  private readonly memo = new Map<string, Truth>();
  private readonly visiting = new Set<string>();

  constructor(
    plan: PlanIR,
    private readonly isEmpty: (a: AggregateIR) => boolean,
  ) {
    this.aggregates = new Map(plan.aggregates.map((a) => [a.id, a]));
    this.segments = new Map(plan.segments.map((s) => [s.name, s]));
  }

  /** Whether segment `name` holds on the entity (its references evaluated the same way). */
  segment(name: string): Truth {
    const done = this.memo.get(name);
    if (done !== undefined) return done;
    const s = this.segments.get(name);
    if (s === undefined || this.visiting.has(name)) return "unknown";
    this.visiting.add(name);
    const t = this.truth(s.predicate);
    this.visiting.delete(name);
    this.memo.set(name, t);
    return t;
  }

  /** A condition (null reads as false, as the emitter's `cond`). */
  truth(e: ExprIR): Truth {
    if (e.k === "lit") return e.value === true ? "true" : "false";
    const v = this.value(e);
    if (!v.known) return "unknown";
    if (v.value === true) return "true";
    if (v.value === false || v.value === null) return "false";
    return "unknown";
  }

  private value(e: ExprIR): Abs {
    switch (e.k) {
      case "lit":
        if (e.value === null) return known(null);
        return OPAQUE_KINDS.has(e.type.kind) ? UNKNOWN : known(e.value);
      case "as_of":
      case "attr":
      case "field":
        return UNKNOWN;
      case "agg": {
        const a = this.aggregates.get(e.id);
        return a !== undefined && this.isEmpty(a) ? known(emptyAggregateValue(a)) : UNKNOWN;
      }
      case "segment":
        return fromTruth(this.segment(e.name));
      case "op":
        return this.op(e);
      case "in":
        return this.inList(e);
      case "between": {
        const [x, lo, hi] = [this.value(e.arg), this.value(e.low), this.value(e.high)];
        let test: Truth = "unknown";
        if (isNull(x) || isNull(lo) || isNull(hi)) test = "false";
        else {
          const [a, l, h] = [numberOf(x), numberOf(lo), numberOf(hi)];
          if (a !== undefined && l !== undefined && h !== undefined) test = l <= a && a <= h ? "true" : "false";
        }
        return fromTruth(e.negated ? negate(test) : test);
      }
      case "in_window": {
        const test: Truth = isNull(this.value(e.arg)) ? "false" : "unknown";
        return fromTruth(e.negated ? negate(test) : test);
      }
      case "call":
        return this.call(e);
    }
  }

  private op(e: Extract<ExprIR, { k: "op" }>): Abs {
    const args = e.args;
    switch (e.op) {
      case "and":
        return fromTruth(all(args.map((a) => this.truth(a))));
      case "or":
        return fromTruth(negate(all(args.map((a) => negate(this.truth(a))))));
      case "not":
        return fromTruth(negate(this.truth(args[0]!)));
      case "is_null":
      case "is_not_null": {
        const v = this.value(args[0]!);
        if (!v.known) return UNKNOWN;
        return known((v.value === null) === (e.op === "is_null"));
      }
      case "eq":
      case "ne":
      case "lt":
      case "le":
      case "gt":
      case "ge":
        return fromTruth(compare(e.op, this.value(args[0]!), this.value(args[1]!)));
      case "contains":
      case "starts_with":
      case "ends_with":
      case "matches":
        return args.some((a) => isNull(this.value(a))) ? known(false) : UNKNOWN;
      case "neg": {
        const v = this.value(args[0]!);
        if (isNull(v)) return known(null);
        const n = numberOf(v);
        return n === undefined || OPAQUE_KINDS.has(e.type.kind) ? UNKNOWN : checked(-n, e.type.kind);
      }
      case "add":
      case "sub":
      case "mul":
      case "div": {
        const [x, y] = [this.value(args[0]!), this.value(args[1]!)];
        if (isNull(x) || isNull(y)) return known(null);
        const [a, b] = [numberOf(x), numberOf(y)];
        if (a === undefined || b === undefined || args.some((arg) => OPAQUE_KINDS.has(arg.type.kind)) || OPAQUE_KINDS.has(e.type.kind)) return UNKNOWN;
        if (e.op === "div") return b === 0 ? known(null) : checked(a / b, "number");
        return checked(e.op === "add" ? a + b : e.op === "sub" ? a - b : a * b, e.type.kind);
      }
    }
  }

  private inList(e: Extract<ExprIR, { k: "in" }>): Abs {
    if (e.items.length === 0) return known(e.negated);
    const x = this.value(e.arg);
    let test: Truth = "unknown";
    if (isNull(x)) test = "false";
    else if (x.known) {
      // items of the argument's kind (equal numbers, booleans or text are equal on every engine);
      // a null item never matches
      const items = e.items.map((i) => this.value(i));
      if (items.every((i) => i.known && (i.value === null || typeof i.value === typeof x.value))) {
        test = items.some((i) => i.known && i.value !== null && i.value === x.value) ? "true" : "false";
      }
    }
    return fromTruth(e.negated ? negate(test) : test);
  }

  private call(e: Extract<ExprIR, { k: "call" }>): Abs {
    const args = e.args.map((a) => this.value(a));
    switch (e.fn) {
      case "coalesce":
        for (const a of args) {
          if (!a.known) return UNKNOWN;
          if (a.value !== null) return a;
        }
        return known(null);
      case "least":
      case "greatest": {
        if (args.some((a) => !a.known)) return UNKNOWN;
        const present = args.filter((a) => !isNull(a));
        if (present.length === 0) return known(null);
        const ns = present.map(numberOf);
        if (ns.some((n) => n === undefined)) return UNKNOWN;
        return known(e.fn === "least" ? Math.min(...(ns as number[])) : Math.max(...(ns as number[])));
      }
      default:
        // every other function is null for a null argument
        return args.some(isNull) ? known(null) : UNKNOWN;
    }
  }
}

function fromTruth(t: Truth): Abs {
  return t === "unknown" ? UNKNOWN : known(t === "true");
}

function negate(t: Truth): Truth {
  return t === "true" ? "false" : t === "false" ? "true" : "unknown";
}

/** Kleene AND of never-null conditions. */
function all(ts: Truth[]): Truth {
  if (ts.includes("false")) return "false";
  return ts.every((t) => t === "true") ? "true" : "unknown";
}

/** A numeric result, when exact: integers must stay safe, numbers finite. */
function checked(n: number, kind: string): Abs {
  if (kind === "integer") return Number.isSafeInteger(n) ? known(n) : UNKNOWN;
  return Number.isFinite(n) ? known(n) : UNKNOWN;
}

function compare(op: "eq" | "ne" | "lt" | "le" | "gt" | "ge", x: Abs, y: Abs): Truth {
  if (isNull(x) || isNull(y)) return "false";
  if (!x.known || !y.known) return "unknown";
  const [a, b] = [x.value, y.value];
  if (typeof a === "number" && typeof b === "number") {
    if (!Number.isFinite(a) || !Number.isFinite(b)) return "unknown";
    const r = op === "eq" ? a === b : op === "ne" ? a !== b : op === "lt" ? a < b : op === "le" ? a <= b : op === "gt" ? a > b : a >= b;
    return r ? "true" : "false";
  }
  // booleans and strings: only (in)equality is folded (orders differ between engines for text)
  if (typeof a === typeof b && (op === "eq" || op === "ne")) return (a === b) === (op === "eq") ? "true" : "false";
  return "unknown";
}

/**
 * Whether none of `outputs` can hold for an entity with no events in the aggregates `isEmpty`
 * picks: every output is definitely false on that empty entity.
 */
export function outputsNeedEvents(plan: PlanIR, outputs: readonly string[], isEmpty: (a: AggregateIR) => boolean): boolean {
  const entity = new EmptyEntity(plan, isEmpty);
  return outputs.length > 0 && outputs.every((name) => entity.segment(name) === "false");
}
