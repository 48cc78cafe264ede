/**
 * Decoding and printing of literal tokens: strings, quoted names, numbers, durations, dates.
 * Decoders never throw; they return the problems they found with offsets relative to the token.
 */
import type { TimeUnit } from "./ast.js";

/** A problem inside one token, `offset` relative to the token's first character. */
export interface LiteralProblem {
  offset: number;
  length: number;
  text: string;
}

/** The result of decoding a quoted literal. */
export interface Decoded {
  value: string;
  problems: LiteralProblem[];
}

const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "`": "`", "0": "\0" };

/**
 * Decodes a quoted token (`"..."` or `` `...` ``), with or without its closing quote.
 * Escapes: `\n \t \r \0 \\ \" \``, `\uXXXX`, `\u{X...}`.
 */
export function decodeQuoted(image: string, quote: '"' | "`"): Decoded {
  const problems: LiteralProblem[] = [];
  let end = image.length;
  if (end >= 2 && image.endsWith(quote) && !isEscaped(image, end - 1)) end -= 1;
  let out = "";
  for (let i = 1; i < end; i++) {
    const ch = image[i]!;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = image[i + 1];
    if (next === undefined || i + 1 >= end) {
      problems.push({ offset: i, length: 1, text: "\\" });
      break;
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      i++;
      continue;
    }
    if (next === "u") {
      const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(image.slice(i + 2, end));
      const plain = /^[0-9a-fA-F]{4}/.exec(image.slice(i + 2, end));
      const hex = braced ? braced[1]! : plain ? plain[0] : undefined;
      const cp = hex === undefined ? NaN : parseInt(hex, 16);
      if (hex !== undefined && cp <= 0x10ffff) {
        out += String.fromCodePoint(cp);
        i += 1 + (braced ? braced[0].length : 4);
        continue;
      }
      const len = braced ? 2 + braced[0].length : 2;
      problems.push({ offset: i, length: len, text: image.slice(i, i + len) });
      i += len - 1;
      continue;
    }
    problems.push({ offset: i, length: 2, text: image.slice(i, i + 2) });
    i++;
  }
  return { value: out, problems };
}

function isEscaped(s: string, at: number): boolean {
  let n = 0;
  for (let i = at - 1; i >= 0 && s[i] === "\\"; i--) n++;
  return n % 2 === 1;
}

/** Prints a string value as a canonical seg string literal. */
export function quoteString(value: string, quote: '"' | "`" = '"'): string {
  let out = quote;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f || cp === 0x2028 || cp === 0x2029) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return out + quote;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Prints a name, in backticks when it is not a plain identifier or is a reserved word. */
export function printName(text: string, reserved: (word: string) => boolean): string {
  return IDENT.test(text) && !reserved(text) ? text : quoteString(text, "`");
}

/** Parses a number token (`1_000`, `12.5`, `1e6`); NaN when `_` is misplaced. */
export function parseNumber(raw: string): number {
  if (/_(?![0-9])|(?<![0-9])_/.test(raw)) return NaN;
  return Number(raw.replace(/_/g, ""));
}

const UNIT_WORDS: Record<string, TimeUnit> = {
  second: "second",
  seconds: "second",
  minute: "minute",
  minutes: "minute",
  hour: "hour",
  hours: "hour",
  day: "day",
  days: "day",
  week: "week",
  weeks: "week",
};

/** Splits a duration token (`30 days`) into amount text and unit. */
export function splitDuration(image: string): { raw: string; unit: TimeUnit } {
  const m = /^([\d_.]+)[ \t]*([a-z]+)$/.exec(image);
  return { raw: m?.[1] ?? "0", unit: UNIT_WORDS[m?.[2] ?? ""] ?? "day" };
}

/** Prints a duration canonically: `1 day`, `30 days`. */
export function printDuration(raw: string, unit: TimeUnit): string {
  const one = parseNumber(raw) === 1;
  return `${raw} ${unit}${one ? "" : "s"}`;
}

/** True when `YYYY-MM-DD` names a real calendar day. */
export function isValidDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  return d <= days;
}

/** True when an ISO timestamp token names a real instant. */
export function isValidTimestamp(text: string): boolean {
  const m = /T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/.exec(text);
  if (!m || !isValidDate(text)) return false;
  const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  const [oh, om] = [Number(m[5] ?? 0), Number(m[6] ?? 0)];
  return h <= 23 && mi <= 59 && s <= 59 && oh <= 23 && om <= 59;
}
