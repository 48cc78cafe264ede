/**
 * Date-times of the fast path (`fast-validate.ts`), read without `Date`: the subset of ajv-formats'
 * `date` and `date-time` that the fast path vouches for, and a plain date-time's epoch
 * milliseconds straight from an event's bytes (what `Date.parse` gives for it).
 */

import { daysFromCivil, daysInMonth } from "@seg/compiler";

const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Two ASCII digits at `s[i]`, or -1. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - ZERO;
  const b = s.charCodeAt(i + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** `YYYY-MM-DD` with a real month and day (a subset of what ajv-formats accepts as `date`). */
export function isSimpleDate(s: string): boolean {
  return s.length === 10 && isDateAt(s, 0);
}

function isDateAt(s: string, i: number): boolean {
  const y1 = twoDigits(s, i);
  const y2 = twoDigits(s, i + 2);
  const month = twoDigits(s, i + 5);
  const day = twoDigits(s, i + 8);
  if (y1 < 0 || y2 < 0 || s.charCodeAt(i + 4) !== MINUS || s.charCodeAt(i + 7) !== MINUS || month < 1 || month > 12) return false;
  return day >= 1 && day <= daysInMonth(y1 * 100 + y2, month);
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with real values and no leap second: a subset of
 * what ajv-formats accepts as `date-time` (full and fast modes); the rest goes to the full path.
 */
export function isSimpleDateTime(s: string): boolean {
  const n = s.length;
  if (n < 20 || !isDateAt(s, 0)) return false;
  const t = s.charCodeAt(10);
  if (t !== 0x54 && t !== 0x74) return false; // T or t
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  if (hour < 0 || hour > 23 || s.charCodeAt(13) !== COLON || minute < 0 || minute > 59 || s.charCodeAt(16) !== COLON || second < 0 || second > 59) return false;
  let i = 19;
  if (s.charCodeAt(i) === DOT) {
    i++;
    const start = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  const z = s.charCodeAt(i);
  if (z === 0x5a || z === 0x7a) return i + 1 === n; // Z or z
  if (z !== PLUS && z !== MINUS) return false;
  if (i + 6 !== n || s.charCodeAt(i + 3) !== COLON) return false;
  const tzHour = twoDigits(s, i + 1);
  const tzMinute = twoDigits(s, i + 4);
  return tzHour >= 0 && tzHour <= 23 && tzMinute >= 0 && tzMinute <= 59;
}

/** Two ASCII digits at `b[i]`, or -1. */
function twoDigitsAt(b: Uint8Array, i: number): number {
  const x = b[i]! - ZERO;
  const y = b[i + 1]! - ZERO;
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1;
}

/**
 * The epoch milliseconds of the date-time in `b[start..end)` when it is one that
 * {@link isSimpleDateTime} accepts, written with an upper-case `T` and `Z` (what `Date.parse` gives:
 * the first three fraction digits, the offset subtracted); NaN otherwise (the caller then reads it
 * as text).
 */
export function dateTimeMsAt(b: Uint8Array, start: number, end: number): number {
  if (end - start < 20) return Number.NaN;
  const y1 = twoDigitsAt(b, start);
  const y2 = twoDigitsAt(b, start + 2);
  const month = twoDigitsAt(b, start + 5);
  const day = twoDigitsAt(b, start + 8);
  if (y1 < 0 || y2 < 0 || b[start + 4] !== MINUS || b[start + 7] !== MINUS || month < 1 || month > 12) return Number.NaN;
  const year = y1 * 100 + y2;
  if (day < 1 || day > daysInMonth(year, month) || b[start + 10] !== 0x54) return Number.NaN; // T
  const hour = twoDigitsAt(b, start + 11);
  const minute = twoDigitsAt(b, start + 14);
  const second = twoDigitsAt(b, start + 17);
  if (hour < 0 || hour > 23 || b[start + 13] !== COLON || minute < 0 || minute > 59 || b[start + 16] !== COLON || second < 0 || second > 59) return Number.NaN;
  let i = start + 19;
  let ms = 0;
  if (b[i] === DOT) {
    i++;
    let digits = 0;
    while (i < end && isDigit(b[i]!)) {
      if (digits < 3) ms = ms * 10 + (b[i]! - ZERO);
      digits++;
      i++;
    }
    if (digits === 0) return Number.NaN;
    if (digits === 1) ms *= 100;
    else if (digits === 2) ms *= 10;
  }
  let offsetMinutes = 0;
  const z = b[i];
  if (z === 0x5a) {
    // Z
    if (i + 1 !== end) return Number.NaN;
  } else if (z === PLUS || z === MINUS) {
    if (i + 6 !== end || b[i + 3] !== COLON) return Number.NaN;
    const tzHour = twoDigitsAt(b, i + 1);
    const tzMinute = twoDigitsAt(b, i + 4);
    if (tzHour < 0 || tzHour > 23 || tzMinute < 0 || tzMinute > 59) return Number.NaN;
    offsetMinutes = (z === PLUS ? 1 : -1) * (tzHour * 60 + tzMinute);
  } else {
    return Number.NaN;
  }
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1_000 + ms - offsetMinutes * 60_000;
}
