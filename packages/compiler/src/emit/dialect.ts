/**
 * The abstract SQL dialect every back end implements. The plan emitter (`emit-plan.ts`) and the
 * expression compiler (`emit-expr.ts`) only ever build SQL through these primitives, so a dialect
 * file holds every engine-specific spelling: quoting, literals, intervals, the `as_of` parameter,
 * string and regex tests, JSON construction and timestamp formatting.
 *
 * Representation choices shared by all dialects:
 * - seg numbers are `BIGINT` (integer) or `DOUBLE` (number); literals are typed explicitly so
 *   neither engine falls back to DECIMAL or 32-bit INT arithmetic.
 * - Timestamps are `TIMESTAMP` values that stand for UTC instants (sessions run in UTC).
 * - Durations are `BIGINT` microseconds, so comparing and subtracting them is plain integer
 *   arithmetic, identical on every engine. Only window bounds use the engine's own interval
 *   literals (`timestamp - interval`), which keeps event-time filters pushable into scans.
 */
import { translateRegex, UnportableRegexError, type RegexTarget } from "../check/regex.js";
import type { SegType } from "../types.js";

/** What a dialect can and cannot express; the emitter picks another form when a flag is false. */
export interface DialectCapabilities {
  /** `COUNT(DISTINCT x) FILTER (WHERE c)` is accepted (else `COUNT(DISTINCT CASE WHEN c THEN x END)`). */
  distinctWithFilter: boolean;
  /** `round(x, d)` accepts a digits argument that is not a constant. */
  roundWithExpressionDigits: boolean;
  /**
   * Several output segments come from one scan of the flag rows, Spark's way (`LATERAL VIEW
   * inline(array_compact(array(CASE WHEN flag THEN named_struct(...) END, ...)))`), instead of one
   * `SELECT ... WHERE flag` per output joined by `UNION ALL` (which Spark plans once per output).
   */
  singlePassOutputs: boolean;
  /**
   * The result ends with `ORDER BY segment, entity_id`. The order is not part of the result
   * contract (every reader sorts members or keeps sets); DuckDB keeps it so the embedded runtime
   * writes a run's members in a stable order, Spark drops it (a global sort of every member).
   */
  orderedResult: boolean;
}

/** Thrown when a plan uses something a dialect cannot express (reported as SEG090 by callers). */
export class UnsupportedByDialectError extends Error {
  constructor(
    readonly construct: string,
    readonly dialect: string,
  ) {
    super(`${construct} is not supported by ${dialect}`);
    this.name = "UnsupportedByDialectError";
  }
}

/** Milliseconds in one day. */
export const DAY_MS = 86_400_000;

/** Splits a non-negative millisecond count into days and an `HH:MM:SS.fff` time of day. */
export function splitDuration(ms: number): { days: number; time: string | null } {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`invalid window bound ${ms} ms`);
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  if (rest === 0) return { days, time: null };
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const f = rest - s * 1000;
  const two = (n: number) => String(n).padStart(2, "0");
  return { days, time: `${two(h)}:${two(m)}:${two(s)}.${String(f).padStart(3, "0")}` };
}

/** Parses an IR timestamp literal (`2026-01-31T00:00:00.000Z`) into `YYYY-MM-DD HH:MM:SS.fff` UTC. */
export function utcTimestampText(iso: string): string {
  const ms = Date.parse(iso);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(iso) || Number.isNaN(ms)) throw new RangeError(`invalid timestamp literal ${JSON.stringify(iso)}`);
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

/** Formats a finite number so both engines read back exactly the same double. */
export function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`invalid number literal ${n}`);
  return Object.is(n, -0) ? "0" : String(n);
}

/** The SQL building blocks a back end provides. Every method returns SQL text. */
export abstract class Dialect {
  /** Short name used in messages and file names: `duckdb`, `spark`. */
  abstract readonly name: string;
  abstract readonly capabilities: DialectCapabilities;

  /** Quotes an identifier so it means exactly `name`, whatever characters it holds. */
  abstract quoteIdentifier(name: string): string;
  /** A string literal that evaluates to exactly `value` (any Unicode, quotes, backslashes, control characters). */
  abstract quoteString(value: string): string;
  /** The SQL type name of a seg type (durations are BIGINT microseconds). */
  /** The name of the text type (`VARCHAR`, `STRING`). */
  abstract readonly textType: string;

  /** The SQL type a seg type is computed in; durations are BIGINT microseconds. */
  typeName(type: SegType): string {
    switch (type.kind) {
      case "integer":
      case "duration":
        return "BIGINT";
      case "number":
        return "DOUBLE";
      case "boolean":
        return "BOOLEAN";
      case "timestamp":
        return "TIMESTAMP";
      case "date":
        return "DATE";
      default:
        return this.textType;
    }
  }
  /** A TIMESTAMP literal for an ISO-8601 UTC instant. */
  abstract timestampLiteral(iso: string): string;
  /** A DATE literal for `YYYY-MM-DD`. */
  dateLiteral(date: string): string {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`invalid date literal ${JSON.stringify(date)}`);
    return `DATE '${date}'`;
  }
  /** A BIGINT literal (never a 32-bit INT, never DECIMAL). */
  abstract bigintLiteral(n: number): string;
  /** A DOUBLE literal (never DECIMAL). */
  abstract doubleLiteral(n: number): string;
  /** An interval literal of `ms` milliseconds (exact: days of 24 hours, no calendar). */
  abstract intervalLiteral(ms: number): string;
  /**
   * The join keyword that keeps the left rows with a match on the right, each once, and adds no
   * columns (`SEMI JOIN`, `LEFT SEMI JOIN`).
   */
  abstract readonly semiJoin: string;
  /** The parameter marker of `as_of` as written in SQL (`$as_of`, `:as_of`). */
  abstract readonly asOfMarker: string;
  /** A regular-expression search (unanchored) of `pattern` in `text`. */
  abstract regexSearch(text: string, pattern: string): string;
  /** True when `needle` occurs in `text` (no LIKE wildcards). */
  abstract contains(text: string, needle: string): string;
  /** True when `text` begins with `prefix`. */
  abstract startsWith(text: string, prefix: string): string;
  /** True when `text` ends with `suffix`. */
  abstract endsWith(text: string, suffix: string): string;
  /** Microseconds since 1970-01-01T00:00:00Z of a TIMESTAMP, as BIGINT. */
  abstract epochMicros(ts: string): string;
  /** The TIMESTAMP `us` microseconds after 1970-01-01T00:00:00Z. */
  abstract timestampFromMicros(us: string): string;
  /** A TIMESTAMP as ISO-8601 UTC text with milliseconds and `Z` (`2026-01-31T00:00:00.000Z`). */
  abstract isoTimestamp(ts: string): string;
  /** `value` (a DOUBLE) when finite, else NULL: JSON has no infinities or NaN. */
  abstract finiteOrNull(value: string): string;
  /** JSON object text (a string value) with `entries` in order; null values are written as `null`. */
  abstract jsonObject(entries: readonly { key: string; value: string }[]): string;

  /** The `as_of` timestamp. */
  asOf(): string {
    return `CAST(${this.asOfMarker} AS TIMESTAMP)`;
  }
  /** `CAST(sql AS <type>)`. */
  cast(sql: string, type: SegType): string {
    return `CAST(${sql} AS ${this.typeName(type)})`;
  }
  /** `ts - <interval of ms>`; just `ts` for 0. */
  timestampMinus(ts: string, ms: number): string {
    return ms === 0 ? ts : `${ts} - ${this.intervalLiteral(ms)}`;
  }
  /** `ts + <interval of ms>`; just `ts` for 0. */
  timestampPlus(ts: string, ms: number): string {
    return ms === 0 ? ts : `${ts} + ${this.intervalLiteral(ms)}`;
  }
  /** A boolean literal. */
  booleanLiteral(value: boolean): string {
    return value ? "TRUE" : "FALSE";
  }
  /**
   * `round(x)` / `round(x, digits)`: halves away from zero, on the number as written in decimal
   * (`round(1.005, 2)` is 1.01, as a person would round it). `digits` is SQL text or a constant;
   * `isDouble` says whether `value` is a DOUBLE (else BIGINT).
   */
  round(value: string, digits: string | number | null, _isDouble: boolean): string {
    if (digits === null) return `round(${value})`;
    if (typeof digits === "string" && !this.capabilities.roundWithExpressionDigits) {
      throw new UnsupportedByDialectError("round with digits that are not a constant", this.name);
    }
    return `round(${value}, ${digits})`;
  }
  /** `floor(x)` / `ceil(x)` of a DOUBLE (`isDouble`) or BIGINT, keeping the argument's type. */
  floorOrCeil(fn: "floor" | "ceil", value: string, _isDouble: boolean): string {
    return `${fn}(${value})`;
  }
  /**
   * The SQL string literal of a regular expression given as a constant: seg's portable regex
   * (`check/regex.ts`) written in the engine's syntax. RE2's here; Java's in the Spark dialect.
   */
  regexLiteral(pattern: string): string {
    return this.quoteString(this.portableRegex(pattern, "re2"));
  }
  /** `pattern` translated for `target`; a pattern the checker would reject is unsupported (SEG090). */
  protected portableRegex(pattern: string, target: RegexTarget): string {
    try {
      return translateRegex(pattern, target);
    } catch (err) {
      if (err instanceof UnportableRegexError) throw new UnsupportedByDialectError(`the regular expression ${JSON.stringify(pattern)} (${err.message})`, this.name);
      throw err;
    }
  }
  /** seg's `trim`: removes leading and trailing U+0020 spaces only (not tabs, line breaks or U+00A0). */
  trimSpaces(value: string): string {
    return `trim(${value})`;
  }
  /**
   * seg's `upper`/`lower`: Unicode simple case mapping, one code point at a time (the length never
   * changes; `upper('straße')` is `STRAẞE`, as DuckDB maps it).
   */
  caseMapping(fn: "upper" | "lower", value: string): string {
    return `${fn}(${value})`;
  }
  /** `COUNT(DISTINCT value)` over the rows where `condition` (SQL, or null for all rows) holds. */
  countDistinct(value: string, condition: string | null): string {
    if (condition === null) return `COUNT(DISTINCT ${value})`;
    if (this.capabilities.distinctWithFilter) return `COUNT(DISTINCT ${value}) FILTER (WHERE ${condition})`;
    return `COUNT(DISTINCT CASE WHEN ${condition} THEN ${value} END)`;
  }
  /** An aggregate call `fn(arg)` over the rows where `condition` holds (null: all rows). */
  filtered(call: string, condition: string | null): string {
    return condition === null ? call : `${call} FILTER (WHERE ${condition})`;
  }
}
