/**
 * Literal values in the form the IR uses: timestamps as UTC ISO-8601 strings with milliseconds,
 * dates as UTC midnight, durations in milliseconds.
 */
import { UNIT_MS, type DurationLiteral } from "@seg/dsl";
import { isValidDate, isValidTimestamp, parseNumber } from "@seg/dsl";

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):(\d{2}))$/;

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date;
}

/**
 * A timestamp literal (`2026-10-15T09:00-04:00`) as UTC ISO with milliseconds
 * (`2026-10-15T13:00:00.000Z`); digits after the milliseconds are dropped. Undefined when invalid.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m || !isValidTimestamp(text)) return undefined;
  const frac = Number((m[7] ?? "").slice(0, 3).padEnd(3, "0"));
  const date = utc(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), frac);
  if (m[8] !== "Z") {
    const offset = (Number(m[10]) * 60 + Number(m[11])) * 60_000 * (m[9] === "-" ? -1 : 1);
    date.setTime(date.getTime() - offset);
  }
  return date.toISOString();
}

/** A date literal (`2026-01-31`) as UTC midnight (`2026-01-31T00:00:00.000Z`). Undefined when invalid. */
export function dateToTimestamp(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m || !isValidDate(text)) return undefined;
  return utc(Number(m[1]), Number(m[2]), Number(m[3])).toISOString();
}

/**
 * A duration literal in milliseconds, or undefined when the parser already reported it (an
 * invalid amount, or a duration it invented while recovering, which has an empty span).
 */
export function durationMs(d: DurationLiteral): number | undefined {
  if (d.span.start.offset === d.span.end.offset) return undefined;
  const amount = parseNumber(d.raw);
  if (!Number.isFinite(amount)) return undefined;
  return Math.round(amount * UNIT_MS[d.unit]);
}
