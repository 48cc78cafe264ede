/**
 * Checking one input record against a source's fields and converting its values to what the
 * DuckDB appender takes. Timestamps are parsed here (RFC 3339 with a required zone, any offset)
 * into exact UTC microseconds, because DuckDB's own text-to-TIMESTAMP cast ignores offsets.
 */
import type { SourceIR } from "../ir.js";
import type { SegType } from "../types.js";
import { daysFromCivil, daysInMonth } from "../civil-date.js";

/** A value ready for the appender (timestamps in UTC microseconds, dates in days since 1970-01-01). */
export type CellValue =
  | { t: "null" }
  | { t: "varchar"; v: string }
  | { t: "bigint"; v: bigint }
  | { t: "double"; v: number }
  | { t: "boolean"; v: boolean }
  | { t: "timestamp"; micros: bigint }
  | { t: "date"; days: number };

/** A value read from a binary file (parquet) that has no JSON form (a class, so JSON data can never pose as one). */
export class NativeValue {
  private constructor(
    readonly timestampMicros: bigint | undefined,
    readonly dateDays: number | undefined,
  ) {}
  static timestamp(micros: bigint): NativeValue {
    return new NativeValue(micros, undefined);
  }
  static date(days: number): NativeValue {
    return new NativeValue(undefined, days);
  }
}

/** One problem with one field of one record. */
export interface FieldProblem {
  path: string;
  message: string;
}

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function validDate(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/** Parses an RFC 3339 date-time with a zone into UTC microseconds since the epoch; undefined if invalid. */
export function parseTimestampMicros(text: string): bigint | undefined {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (!validDate(y!, mo!, d!) || h! > 23 || mi! > 59 || s! > 59) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = BigInt((m[7] ?? "").padEnd(9, "0").slice(0, 6));
  const seconds = BigInt(daysFromCivil(y!, mo!, d!)) * 86400n + BigInt(h! * 3600 + mi! * 60 + s! - offsetMinutes * 60);
  return seconds * 1_000_000n + fraction;
}

/** Parses `YYYY-MM-DD` into days since 1970-01-01; undefined if invalid. */
export function parseDateDays(text: string): number | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [1, 2, 3].map((i) => Number(m[i]));
  return validDate(y!, mo!, d!) ? daysFromCivil(y!, mo!, d!) : undefined;
}

const describe = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(typeof v === "bigint" ? String(v) : v)}`;

function nativeOf(value: unknown): NativeValue | undefined {
  return value instanceof NativeValue ? value : undefined;
}

/** Converts one field value, or says why it does not fit `type`. */
export function convertValue(value: unknown, type: SegType): CellValue | string {
  if (value === null || value === undefined) {
    if (type.nullable) return { t: "null" };
    return value === undefined ? "is missing (the field is required and not nullable)" : "must not be null";
  }
  const native = nativeOf(value);
  switch (type.kind) {
    case "string":
      if (typeof value !== "string") return `must be a string, but is ${describe(value)}`;
      if (LONE_SURROGATE.test(value)) return "is not valid Unicode (it holds an unpaired surrogate)";
      if (type.enumValues && !type.enumValues.includes(value)) return `must be one of ${type.enumValues.map((v) => JSON.stringify(v)).join(", ")}, but is ${JSON.stringify(value)}`;
      return { t: "varchar", v: value };
    case "integer":
      if (typeof value === "bigint") return value >= -(2n ** 63n) && value < 2n ** 63n ? { t: "bigint", v: value } : `is out of the 64-bit integer range`;
      if (typeof value !== "number" || !Number.isInteger(value)) return `must be an integer, but is ${describe(value)}`;
      if (!Number.isSafeInteger(value)) return `is too large to be read exactly (${value})`;
      return { t: "bigint", v: BigInt(value) };
    case "number":
      if (typeof value === "bigint") return { t: "double", v: Number(value) };
      if (typeof value !== "number" || !Number.isFinite(value)) return `must be a number, but is ${describe(value)}`;
      return { t: "double", v: value };
    case "boolean":
      if (typeof value !== "boolean") return `must be a boolean, but is ${describe(value)}`;
      return { t: "boolean", v: value };
    case "timestamp": {
      if (native?.timestampMicros !== undefined) return { t: "timestamp", micros: native.timestampMicros };
      if (native?.dateDays !== undefined) {
        const micros = BigInt(native.dateDays) * 86_400_000_000n;
        return micros >= -(2n ** 63n) && micros < 2n ** 63n ? { t: "timestamp", micros } : "is a date out of the timestamp range";
      }
      if (typeof value !== "string") return `must be a date-time string, but is ${describe(value)}`;
      const micros = parseTimestampMicros(value);
      return micros === undefined ? `must be an RFC 3339 date-time with a zone (2026-10-15T09:00:00Z), but is ${JSON.stringify(value)}` : { t: "timestamp", micros };
    }
    case "date": {
      if (native?.dateDays !== undefined) return { t: "date", days: native.dateDays };
      if (typeof value !== "string") return `must be a date string, but is ${describe(value)}`;
      const days = parseDateDays(value);
      return days === undefined ? `must be a date (YYYY-MM-DD), but is ${JSON.stringify(value)}` : { t: "date", days };
    }
    default:
      return `has a type seg cannot load (${type.kind})`;
  }
}

/** Converts a record to one cell per source field (in field order), or lists what is wrong with it. */
export function convertRecord(record: unknown, source: SourceIR): { cells: CellValue[] } | { problems: FieldProblem[] } {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return { problems: [{ path: "", message: `a record must be a JSON object, but this is ${describe(record)}` }] };
  }
  const obj = record as Record<string, unknown>;
  const cells: CellValue[] = [];
  const problems: FieldProblem[] = [];
  for (const f of source.fields) {
    const raw = Object.hasOwn(obj, f.name) ? obj[f.name] : undefined;
    const cell = convertValue(raw, f.type);
    if (typeof cell === "string") problems.push({ path: f.name, message: cell });
    else cells.push(cell);
  }
  return problems.length > 0 ? { problems } : { cells };
}
