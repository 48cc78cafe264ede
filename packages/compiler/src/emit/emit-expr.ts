/**
 * ExprIR -> SQL expression text, with seg's two-valued logic.
 *
 * Two entry points: {@link ExprEmitter.value} gives the SQL value (which may be NULL) and
 * {@link ExprEmitter.cond} gives a condition that is never NULL (a null boolean counts as false).
 * Comparisons and tests are wrapped in `COALESCE(..., FALSE)` unless both sides are provably
 * non-null, so `NOT` always flips cleanly. Negated `in`/`between`/window tests are `NOT` of the
 * wrapped positive test, hence true for null. Division is real division with NULL for zero.
 * Durations are BIGINT microseconds (see `dialect.ts`).
 */
import type { ExprIR, OpName, WindowIR } from "../ir.js";
import type { SegType } from "../types.js";
import { UnsupportedByDialectError, type Dialect } from "./dialect.js";

/** How the emitter spells references to columns computed elsewhere in the plan. */
export interface ExprScope {
  /** A profile attribute of the entity. */
  attr(profile: string, field: string): string;
  /** A field of the event being filtered (inside aggregate filters only). */
  field(source: string, field: string): string;
  /** An aggregate's value (already defaulted: count/sum 0, exists false). */
  agg(id: string): string;
  /** The membership flag of an earlier segment. */
  segment(name: string): string;
  /** Whether a profile attribute or event field may be null (from the plan's sources). */
  nullable(kind: "attr" | "field", source: string, field: string): boolean;
  /** The aggregate function of an aggregate id (for nullability). */
  aggFn(id: string): string | undefined;
}

const COMPARISON: Partial<Record<OpName, string>> = { eq: "=", ne: "<>", lt: "<", le: "<=", gt: ">", ge: ">=" };
const NON_NULL_AGGREGATES = new Set(["count", "count_distinct", "sum", "exists"]);

const isTemporal = (t: SegType) => t.kind === "timestamp" || t.kind === "date";

/** Compiles IR expressions for one dialect and one scope. */
export class ExprEmitter {
  constructor(
    readonly dialect: Dialect,
    readonly scope: ExprScope,
  ) {}

  /** A condition: never NULL. */
  cond(e: ExprIR): string {
    if (e.k === "lit") return this.dialect.booleanLiteral(e.value === true);
    const sql = this.value(e);
    return this.mayBeNull(e) ? `COALESCE(${sql}, FALSE)` : sql;
  }

  /** True unless `e` provably never evaluates to NULL. */
  mayBeNull(e: ExprIR): boolean {
    switch (e.k) {
      case "lit":
        return e.value === null;
      case "as_of":
      case "segment":
      case "in":
      case "between":
      case "in_window":
        return false;
      case "attr":
        return e.type.nullable || this.scope.nullable("attr", e.profile, e.field);
      case "field":
        return e.type.nullable || this.scope.nullable("field", e.source, e.field);
      case "agg":
        return !NON_NULL_AGGREGATES.has(this.scope.aggFn(e.id) ?? "");
      case "op":
        switch (e.op) {
          case "add":
          case "sub":
          case "mul":
          case "neg":
            return e.args.some((a) => this.mayBeNull(a));
          case "div":
            return true;
          default:
            return false;
        }
      case "call":
        if (e.fn === "coalesce" || e.fn === "least" || e.fn === "greatest") return e.args.every((a) => this.mayBeNull(a));
        return e.args.some((a) => this.mayBeNull(a));
    }
  }

  /**
   * True unless `e` provably never evaluates to an infinity or NaN. Loaded values are finite
   * (JSON has no infinities), so only sums, averages and arithmetic can overflow.
   */
  mayBeNonFinite(e: ExprIR): boolean {
    if (e.type.kind !== "number") return false;
    switch (e.k) {
      case "agg": {
        const fn = this.scope.aggFn(e.id);
        return fn === "sum" || fn === "avg";
      }
      case "op":
        return ["add", "sub", "mul", "div", "neg"].includes(e.op);
      case "call":
        return e.fn === "days_since" ? false : e.args.some((a) => this.mayBeNonFinite(a));
      default:
        return false;
    }
  }

  /** The SQL value of `e`. */
  value(e: ExprIR): string {
    const d = this.dialect;
    switch (e.k) {
      case "lit":
        return this.literal(e.value, e.type);
      case "as_of":
        return d.asOf();
      case "attr":
        return this.scope.attr(e.profile, e.field);
      case "field":
        return this.scope.field(e.source, e.field);
      case "agg":
        return this.scope.agg(e.id);
      case "segment":
        return this.scope.segment(e.name);
      case "op":
        return this.op(e.op, e.args, e.type);
      case "in": {
        if (e.items.length === 0) return d.booleanLiteral(e.negated);
        const test = this.wrap(`${this.value(e.arg)} IN (${e.items.map((i) => this.value(i)).join(", ")})`, [e.arg, ...e.items]);
        return e.negated ? `(NOT ${test})` : test;
      }
      case "between": {
        const [arg, low, high] = this.aligned([e.arg, e.low, e.high]);
        const test = this.wrap(`${arg} BETWEEN ${low} AND ${high}`, [e.arg, e.low, e.high]);
        return e.negated ? `(NOT ${test})` : test;
      }
      case "in_window": {
        const ts = this.timestamp(e.arg);
        const test = this.wrap(windowCondition(d, ts, e.window), [e.arg]);
        return e.negated ? `(NOT ${test})` : test;
      }
      case "call":
        return this.call(e);
    }
  }

  /** A literal of the given type. */
  literal(value: number | string | boolean | null, type: SegType): string {
    const d = this.dialect;
    if (value === null) return type.kind === "null" || type.kind === "any" || type.kind === "error" ? "NULL" : `CAST(NULL AS ${d.typeName(type)})`;
    switch (type.kind) {
      case "boolean":
        return d.booleanLiteral(value === true);
      case "integer":
        return integerText(Number(value));
      case "number":
        return d.doubleLiteral(Number(value));
      case "duration":
        return d.bigintLiteral(Number(value) * 1000);
      case "timestamp":
        return d.timestampLiteral(String(value));
      case "date":
        return /^\d{4}-\d{2}-\d{2}$/.test(String(value)) ? d.dateLiteral(String(value)) : d.timestampLiteral(String(value));
      default:
        return d.quoteString(String(value));
    }
  }

  /** `sql` wrapped so that a NULL result reads as FALSE, unless every operand is non-null. */
  private wrap(sql: string, operands: ExprIR[]): string {
    return operands.some((a) => this.mayBeNull(a)) ? `COALESCE(${sql}, FALSE)` : `(${sql})`;
  }

  /** Operands as SQL, with dates widened to timestamps when they meet a timestamp. */
  private aligned(args: ExprIR[]): string[] {
    const anyTimestamp = args.some((a) => a.type.kind === "timestamp");
    return args.map((a) => (anyTimestamp && a.type.kind === "date" ? this.timestamp(a) : this.value(a)));
  }

  /** A timestamp-valued operand (dates become midnight UTC). */
  private timestamp(e: ExprIR): string {
    const sql = this.value(e);
    return e.type.kind === "date" ? `CAST(${sql} AS TIMESTAMP)` : sql;
  }

  /** An arithmetic operand: integer literals are typed BIGINT so no engine does 32-bit arithmetic. */
  private operand(e: ExprIR): string {
    if (e.k === "lit" && e.type.kind === "integer" && typeof e.value === "number") return this.dialect.bigintLiteral(e.value);
    return this.value(e);
  }

  private op(op: OpName, args: ExprIR[], type: SegType): string {
    const d = this.dialect;
    const [a, b] = args as [ExprIR, ExprIR];
    const cmp = COMPARISON[op];
    if (cmp !== undefined) {
      const [x, y] = this.aligned([a, b]);
      return this.wrap(`${x} ${cmp} ${y}`, [a, b]);
    }
    switch (op) {
      case "and":
      case "or":
        return `(${args.map((x) => this.cond(x)).join(op === "and" ? " AND " : " OR ")})`;
      case "not":
        return `(NOT ${this.cond(a)})`;
      case "is_null":
        return `(${this.value(a)} IS NULL)`;
      case "is_not_null":
        return `(${this.value(a)} IS NOT NULL)`;
      case "contains":
        return this.wrap(d.contains(this.value(a), this.value(b)), [a, b]);
      case "starts_with":
        return this.wrap(d.startsWith(this.value(a), this.value(b)), [a, b]);
      case "ends_with":
        return this.wrap(d.endsWith(this.value(a), this.value(b)), [a, b]);
      case "matches": {
        const pattern = b.k === "lit" && typeof b.value === "string" ? d.regexLiteral(b.value) : this.value(b);
        return this.wrap(d.regexSearch(this.value(a), pattern), [a, b]);
      }
      case "neg":
        return a.type.kind === "duration" ? `(- ${this.value(a)})` : `(- ${this.operand(a)})`;
      case "div":
        return `(CAST(${this.value(a)} AS DOUBLE) / NULLIF(CAST(${this.value(b)} AS DOUBLE), 0))`;
      case "add":
      case "sub":
      case "mul":
        return this.arithmetic(op, a, b, type);
      default:
        throw new RangeError(`unknown operator ${String(op)}`);
    }
  }

  private arithmetic(op: "add" | "sub" | "mul", a: ExprIR, b: ExprIR, type: SegType): string {
    const d = this.dialect;
    const sign = op === "add" ? "+" : op === "sub" ? "-" : "*";
    if (isTemporal(a.type) && isTemporal(b.type)) {
      // timestamp - timestamp: a duration in microseconds
      return `(${d.epochMicros(this.timestamp(a))} - ${d.epochMicros(this.timestamp(b))})`;
    }
    if (isTemporal(a.type) || isTemporal(b.type)) {
      // timestamp +/- duration (either order for +)
      const [ts, dur] = isTemporal(a.type) ? [a, b] : [b, a];
      if (dur.k === "lit" && typeof dur.value === "number") {
        return `(${op === "add" ? d.timestampPlus(this.timestamp(ts), dur.value) : d.timestampMinus(this.timestamp(ts), dur.value)})`;
      }
      return d.timestampFromMicros(`(${d.epochMicros(this.timestamp(ts))} ${sign} ${this.value(dur)})`);
    }
    const sql = `(${this.operand(a)} ${sign} ${this.operand(b)})`;
    // integer + number is DOUBLE on both engines already; keep the IR's type explicit when it is
    // a number so a DECIMAL can never leak in.
    return type.kind === "number" && a.type.kind === "integer" && b.type.kind === "integer" ? d.cast(sql, type) : sql;
  }

  private call(e: Extract<ExprIR, { k: "call" }>): string {
    const d = this.dialect;
    const args = e.args;
    const first = args[0];
    const v = (x: ExprIR | undefined): string => {
      if (x === undefined) throw new RangeError(`${e.fn} needs an argument`);
      return this.value(x);
    };
    const numeric = (sql: string) => (e.type.kind === "integer" || e.type.kind === "number" ? d.cast(sql, e.type) : sql);
    switch (e.fn) {
      case "lower":
      case "upper":
        return d.caseMapping(e.fn, v(first));
      case "trim":
        return d.trimSpaces(v(first));
      case "length":
        return d.cast(`length(${v(first)})`, e.type.kind === "number" ? e.type : { kind: "integer", nullable: true });
      case "abs":
        return numeric(`abs(${v(first)})`);
      case "floor":
      case "ceil":
        return numeric(d.floorOrCeil(e.fn, v(first), first?.type.kind !== "integer"));
      case "round": {
        const digits = args[1];
        const isDouble = first?.type.kind !== "integer";
        if (digits === undefined) return numeric(d.round(v(first), null, isDouble));
        const constant = constantInteger(digits);
        if (constant !== undefined) return numeric(d.round(v(first), constant, isDouble));
        if (digits.k === "lit" && digits.value === null) return d.cast("NULL", e.type);
        return numeric(d.round(v(first), `CAST(${v(digits)} AS INTEGER)`, isDouble));
      }
      case "coalesce":
      case "least":
      case "greatest": {
        const all = this.alignedCall(args);
        return `${e.fn}(${all.join(", ")})`;
      }
      case "days_since":
        return `(CAST(${d.epochMicros(d.asOf())} - ${d.epochMicros(this.timestamp(first!))} AS DOUBLE) / 86400000000)`;
      default:
        throw new UnsupportedByDialectError(`function ${String(e.fn)}`, d.name);
    }
  }

  private alignedCall(args: ExprIR[]): string[] {
    if (args.length === 0) throw new RangeError("a variadic function needs arguments");
    return this.aligned(args);
  }
}

/** The value of an integer constant: a literal, or a negated one (`round(x, -2)`). */
function constantInteger(e: ExprIR): number | undefined {
  if (e.k === "lit") return typeof e.value === "number" && Number.isInteger(e.value) ? e.value : undefined;
  if (e.k === "op" && e.op === "neg" && e.args.length === 1) {
    const inner = constantInteger(e.args[0]!);
    return inner === undefined ? undefined : -inner;
  }
  return undefined;
}

/** A plain integer literal (negative ones in parentheses so `- -1` never becomes a comment). */
function integerText(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`invalid integer literal ${n}`);
  return n < 0 ? `(${n})` : String(n);
}

/** `ts` inside a window: `as_of - older < ts <= as_of - newer` (no older bound for `ever`). */
export function windowCondition(d: Dialect, ts: string, w: WindowIR, skip: { newer?: boolean; older?: boolean } = {}): string {
  const parts: string[] = [];
  if (w.olderMs !== null && !skip.older) parts.push(`${ts} > ${d.timestampMinus(d.asOf(), w.olderMs)}`);
  if (!skip.newer) parts.push(`${ts} <= ${d.timestampMinus(d.asOf(), w.newerMs)}`);
  return parts.join(" AND ");
}
