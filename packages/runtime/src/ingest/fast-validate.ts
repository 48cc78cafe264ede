/**
 * The fast path of classification: a check compiled from a flat JSON Schema that reads an event's
 * bytes once, without `JSON.parse` and without building the record, and answers "valid" only when
 * `JSON.parse` followed by the schema's ajv validator would accept the event too. Anything it does
 * not handle (escapes, nested values, duplicate keys, unusual numbers or formats, any other
 * problem) is "don't know", and the event takes the full path (`classify.ts`). The one problem it
 * names is a plain string outside a property's `enum` when nothing else in the event is wrong
 * (`FastFields.enumMiss`): ajv then reports exactly that error, and `classify.ts` writes the full
 * path's dead letter for it. So the fast path changes speed, never a verdict.
 *
 * Schemas it compiles: `type: object` with `properties` whose values are primitives (`type` of
 * string, number, integer, boolean, null or a list of them) with `enum`/`const` (strings and null),
 * `pattern`, `format` (`date-time`, `date`), `minLength`/`maxLength`,
 * `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`; `required`; `additionalProperties`
 * false or absent; annotations. Any other keyword: no fast path for the schema.
 */
import { isUtf8 } from "node:buffer";
import { compileBytePattern, type BytePattern } from "./byte-pattern.js";
import { dateTimeMsAt, isSimpleDate, isSimpleDateTime } from "./date-time.js";

const T_STRING = 1;
const T_NUMBER = 2;
const T_INTEGER = 4;
const T_BOOLEAN = 8;
const T_NULL = 16;
const TYPE_BITS: Record<string, number> = { string: T_STRING, number: T_NUMBER, integer: T_INTEGER, boolean: T_BOOLEAN, null: T_NULL };

/** Keywords that never change a verdict. */
const ANNOTATIONS = new Set(["title", "description", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly"]);
const TOP_LEVEL = new Set([...ANNOTATIONS, "$schema", "$id", "x-seg", "type", "properties", "required", "additionalProperties"]);
const PROPERTY = new Set([...ANNOTATIONS, "type", "enum", "const", "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]);

/** Keys (entity ids) up to this many bytes are looked up among recent ones before being decoded. */
const MAX_CACHED_KEY = 32;
/** Recent keys kept per schema (a power of two). */
const KEY_CACHE_SLOTS = 4096;
/** Most properties of a schema with a fast path (one bit each in a 31-bit mask). */
const MAX_PROPERTIES = 31;
/** Powers of ten that are exact doubles (10^0 .. 10^22). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

interface Property {
  name: Buffer;
  /**
   * When the name's bytes are plain ASCII (no quote, backslash or control character): those bytes,
   * the closing quote and a colon, matched in place.
   */
  keyCodes: number[] | undefined;
  /** Position in the schema's `properties`. */
  index: number;
  bit: number;
  types: number;
  /** Allowed string values as UTF-8 (with `enum`/`const`); undefined without them. */
  strings: Buffer[] | undefined;
  /** `null` is an allowed value of `enum`/`const`. */
  enumNull: boolean;
  /** Every allowed string is plain ASCII (no quote, backslash or control character): matched in place. */
  plainEnum: boolean;
  pattern: RegExp | undefined;
  /** `pattern` matched on ASCII bytes (see `byte-pattern.ts`), when it is a simple one. */
  bytePattern: BytePattern | undefined;
  format: ((s: string) => boolean) | undefined;
  minLength: number;
  maxLength: number;
  minimum: number;
  maximum: number;
  exclusiveMinimum: number;
  exclusiveMaximum: number;
  /** The schema's key field (1) or time field (2). */
  role: number;
  /** The string value is needed (a pattern without a byte pattern, format, key or time). */
  decode: boolean;
  /** The time field as a plain `date-time`: read straight into epoch milliseconds (see `dateTimeMsAt`). */
  timeFromBytes: boolean;
  /** With `enum` (not `const`): the property and its allowed values, for {@link FastFields.enumMiss}. */
  enumMiss: EnumMiss | undefined;
}

/** A property whose `enum` a string value missed. */
export interface EnumMiss {
  /** The property's name. */
  property: string;
  /** The schema's `enum`, as written. */
  allowed: readonly unknown[];
}

/**
 * What a fast-valid event carries: its key and, when present, its time field, either as epoch
 * milliseconds read from the bytes (`timeMs`; `time` then undefined) or as text (`timeMs` NaN).
 */
export interface FastFields {
  key: string;
  time: string | undefined;
  timeMs: number;
  /**
   * Set when `check` is false only because one string property's value is not in its `enum` (the
   * value itself a string of the right length, pattern and format; every other property, the
   * required ones and the JSON all valid): ajv then reports exactly that one error.
   */
  enumMiss?: EnumMiss | undefined;
}

const ROLE_KEY = 1;
const ROLE_TIME = 2;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

const FORMATS: Record<string, (s: string) => boolean> = { "date-time": isSimpleDateTime, date: isSimpleDate };

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function compileProperty(name: string, schema: unknown, index: number, role: number): Property | undefined {
  if (!isPlainObject(schema)) return undefined;
  for (const k of Object.keys(schema)) if (!PROPERTY.has(k)) return undefined;
  const type = schema["type"];
  const typeList = typeof type === "string" ? [type] : Array.isArray(type) ? type : undefined;
  if (!typeList || typeList.length === 0) return undefined;
  let types = 0;
  for (const t of typeList) {
    const b = typeof t === "string" ? TYPE_BITS[t] : undefined;
    if (b === undefined) return undefined;
    types |= b;
  }
  const nameBytes = Buffer.from(name, "utf8");
  const p: Property = {
    name: nameBytes,
    keyCodes: nameBytes.every((c) => STRING_BYTE[c] === PLAIN) ? [...nameBytes, QUOTE, COLON] : undefined,
    index,
    bit: 1 << index,
    types,
    strings: undefined,
    enumNull: false,
    plainEnum: false,
    pattern: undefined,
    bytePattern: undefined,
    format: undefined,
    minLength: 0,
    maxLength: Number.POSITIVE_INFINITY,
    minimum: Number.NEGATIVE_INFINITY,
    maximum: Number.POSITIVE_INFINITY,
    exclusiveMinimum: Number.NEGATIVE_INFINITY,
    exclusiveMaximum: Number.POSITIVE_INFINITY,
    role,
    decode: role !== 0,
    timeFromBytes: false,
    enumMiss: undefined,
  };
  if ("enum" in schema || "const" in schema) {
    if ("enum" in schema && "const" in schema) return undefined;
    const values = "enum" in schema ? schema["enum"] : [schema["const"]];
    if (!Array.isArray(values)) return undefined;
    p.strings = [];
    for (const v of values) {
      if (typeof v === "string") p.strings.push(Buffer.from(v, "utf8"));
      else if (v === null) p.enumNull = true;
      else return undefined;
    }
    p.plainEnum = p.strings.every((v) => v.every((c) => STRING_BYTE[c] === PLAIN));
    if ("enum" in schema) p.enumMiss = { property: name, allowed: values };
  }
  if ("pattern" in schema) {
    if (typeof schema["pattern"] !== "string") return undefined;
    try {
      // What ajv compiles a pattern to (its default `unicodeRegExp`).
      p.pattern = new RegExp(schema["pattern"], "u");
    } catch {
      return undefined;
    }
    p.bytePattern = compileBytePattern(schema["pattern"]);
    if (p.bytePattern === undefined) p.decode = true;
  }
  if ("format" in schema) {
    const f = typeof schema["format"] === "string" ? FORMATS[schema["format"]] : undefined;
    if (!f) return undefined;
    p.format = f;
    p.decode = true;
  }
  p.timeFromBytes = role === ROLE_TIME && p.format === isSimpleDateTime && p.pattern === undefined;
  for (const k of ["minLength", "maxLength"] as const) {
    if (!(k in schema)) continue;
    const v = schema[k];
    if (!isFiniteNumber(v) || !Number.isInteger(v) || v < 0) return undefined;
    p[k] = v;
  }
  for (const k of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const) {
    if (!(k in schema)) continue;
    const v = schema[k];
    if (!isFiniteNumber(v)) return undefined;
    p[k] = v;
  }
  return p;
}

/**
 * A fast check of one schema's events. `check` is true only for events the full path accepts
 * (see the file comment), and then fills `out` with the key and time text.
 */
export class FastValidator {
  /** Properties by the byte length of their name. */
  private readonly byLength: (Property[] | undefined)[];
  /** Properties in the schema's order (events usually list them so: each is tried first after the one before). */
  private readonly order: Property[];
  private readonly requiredMask: number;
  /** Recent key texts (see `keyText`). */
  private readonly keyTexts: string[] = Array.from({ length: KEY_CACHE_SLOTS }, () => "");
  private readonly closed: boolean;

  private constructor(properties: Property[], requiredMask: number, closed: boolean) {
    const longest = Math.max(0, ...properties.map((p) => p.name.length));
    this.byLength = Array.from({ length: longest + 1 }, () => undefined);
    for (const p of properties) (this.byLength[p.name.length] ??= []).push(p);
    this.order = properties;
    this.requiredMask = requiredMask;
    this.closed = closed;
  }

  /**
   * The fast check of a schema (its raw JSON Schema, key field and time field), or undefined when
   * the schema uses something the fast path does not handle.
   */
  static compile(raw: unknown, keyField: string, timeField: string | undefined): FastValidator | undefined {
    if (!isPlainObject(raw)) return undefined;
    for (const k of Object.keys(raw)) if (!TOP_LEVEL.has(k)) return undefined;
    if (raw["type"] !== "object" || !isPlainObject(raw["properties"])) return undefined;
    const additional = raw["additionalProperties"];
    if (additional !== undefined && additional !== false && additional !== true) return undefined;
    const names = Object.keys(raw["properties"]);
    if (names.length > MAX_PROPERTIES || names.includes("__proto__") || !names.includes(keyField)) return undefined;
    const properties: Property[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const role = name === keyField ? ROLE_KEY : name === timeField ? ROLE_TIME : 0;
      const p = compileProperty(name, raw["properties"][name], i, role);
      if (!p) return undefined;
      properties.push(p);
    }
    let requiredMask = 0;
    const required = raw["required"];
    if (required !== undefined) {
      if (!Array.isArray(required)) return undefined;
      for (const r of required) {
        const i = typeof r === "string" ? names.indexOf(r) : -1;
        if (i < 0) return undefined;
        requiredMask |= 1 << i;
      }
    }
    return new FastValidator(properties, requiredMask, additional === false);
  }

  /**
   * The text of the ASCII key `b[start..end)`: entity ids recur, so the last text seen in each of
   * {@link KEY_CACHE_SLOTS} slots (by a hash of the bytes) is reused when its characters are those bytes.
   */
  private keyText(b: Buffer, start: number, end: number): string {
    let h = 0;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + b[i]!) | 0;
    const slot = h & (KEY_CACHE_SLOTS - 1);
    const cached = this.keyTexts[slot]!;
    const n = end - start;
    if (cached.length === n) {
      let k = 0;
      while (k < n && cached.charCodeAt(k) === b[start + k]) k++;
      if (k === n) return cached;
    }
    const s = b.toString("latin1", start, end);
    this.keyTexts[slot] = s;
    return s;
  }

  private lookup(b: Buffer, start: number, end: number): Property | undefined {
    const candidates = end - start < this.byLength.length ? this.byLength[end - start] : undefined;
    if (candidates === undefined) return undefined;
    for (let c = 0; c < candidates.length; c++) {
      const name = candidates[c]!.name;
      let k = 0;
      while (k < name.length && name[k] === b[start + k]) k++;
      if (k === name.length) return candidates[c];
    }
    return undefined;
  }

  /** True when the event is valid (and `out` is filled); false when the full path must decide. */
  check(b: Buffer, out: FastFields): boolean {
    return this.checkRange(b, 0, b.length, out);
  }

  /**
   * {@link check} of the event whose bytes are `b[start..end)` (a record read in place): bytes
   * outside the range never make it valid (reading past `end` moves past it, and an event must end
   * exactly at `end`).
   */
  checkRange(b: Buffer, start: number, end: number, out: FastFields): boolean {
    const len = end;
    let nonAscii = false;
    let seen = 0;
    let key: string | undefined;
    let time: string | undefined;
    let timeMs = Number.NaN;
    let enumMiss: EnumMiss | undefined;
    out.enumMiss = undefined;
    let i = skipWs(b, start, len);
    if (b[i] !== OPEN) return false;
    i = skipWs(b, i + 1, len);
    if (b[i] === CLOSE) {
      i++;
    } else {
      const order = this.order;
      let expected = 0;
      for (;;) {
        if (b[i] !== QUOTE) return false;
        const keyStart = ++i;
        // The property after the last one, if its (plain) name, the closing quote and the colon
        // are there; else the key is scanned and looked up.
        let p = expected < order.length ? order[expected] : undefined;
        if (p !== undefined && p.keyCodes !== undefined && codesAt(b, keyStart, p.keyCodes)) {
          i = keyStart + p.keyCodes.length;
        } else {
          i = stringEnd(b, i, len);
          if (i < 0) return false;
          if (wideString) nonAscii = true;
          p = this.lookup(b, keyStart, i);
          i = skipWs(b, i + 1, len);
          if (b[i] !== COLON) return false;
          i++;
        }
        if (p !== undefined) expected = p.index + 1;
        i = skipWs(b, i, len);
        if (p === undefined) {
          if (this.closed) return false;
          i = skipPrimitive(b, i, len);
          if (i < 0) return false;
        } else {
          if ((seen & p.bit) !== 0) return false; // a duplicate key: JSON.parse keeps the last one
          seen |= p.bit;
          const c = b[i];
          if (c === QUOTE) {
            if ((p.types & T_STRING) === 0) return false;
            const start = ++i;
            let end: number;
            let wide = false;
            // One of the allowed strings followed by the closing quote: nothing else to scan.
            end = p.plainEnum ? plainMatch(b, start, p.strings!) : -1;
            if (end < 0) {
              end = stringEnd(b, start, len);
              if (end < 0) return false;
              wide = wideString;
              if (wide) nonAscii = true;
              if (p.strings !== undefined && (p.plainEnum || !matchesOne(b, start, end, p.strings))) {
                // Not an allowed value: the one problem of the event, if nothing else is wrong.
                if (p.enumMiss === undefined || enumMiss !== undefined) return false;
                enumMiss = p.enumMiss;
              }
            }
            i = end + 1;
            if (p.minLength > 0 || p.maxLength !== Number.POSITIVE_INFINITY) {
              const n = wide ? codePoints(b, start, end) : end - start;
              if (n < p.minLength || n > p.maxLength) return false;
            }
            if (p.timeFromBytes && !wide && Number.isFinite((timeMs = dateTimeMsAt(b, start, end)))) {
              // A plain date-time: no text, no Date.parse (the audit compares with Date.parse).
              time = undefined;
            } else {
              if (p.bytePattern !== undefined && !wide && !p.bytePattern(b, start, end)) return false;
              if (p.decode || (wide && p.pattern !== undefined)) {
                const s = !wide && p.role === ROLE_KEY && end - start <= MAX_CACHED_KEY ? this.keyText(b, start, end) : b.toString(wide ? "utf8" : "latin1", start, end);
                if (p.pattern !== undefined && (wide || p.bytePattern === undefined) && !p.pattern.test(s)) return false;
                if (p.format !== undefined && !p.format(s)) return false;
                if (p.role === ROLE_KEY) key = s;
                else if (p.role === ROLE_TIME) {
                  time = s;
                  timeMs = Number.NaN;
                }
              }
            }
          } else if (c === 0x6e) {
            // null
            if (b[i + 1] !== 0x75 || b[i + 2] !== 0x6c || b[i + 3] !== 0x6c) return false;
            i += 4;
            if ((p.types & T_NULL) === 0 || (p.strings !== undefined && !p.enumNull) || p.role === ROLE_KEY) return false;
          } else if (c === 0x74 || c === 0x66) {
            // true / false
            const end = c === 0x74 ? matchWord(b, i, TRUE) : matchWord(b, i, FALSE);
            if (end < 0 || (p.types & T_BOOLEAN) === 0 || p.strings !== undefined || p.role === ROLE_KEY) return false;
            i = end;
          } else {
            const end = scanNumber(b, i, len);
            if (end < 0 || p.strings !== undefined || p.role === ROLE_KEY) return false;
            const x = numberValue(b, i, end);
            i = end;
            if (!Number.isFinite(x)) return false;
            const ok = (p.types & T_NUMBER) !== 0 || ((p.types & T_INTEGER) !== 0 && x % 1 === 0);
            if (!ok || x < p.minimum || x > p.maximum || x <= p.exclusiveMinimum || x >= p.exclusiveMaximum) return false;
          }
        }
        i = skipWs(b, i, len);
        const d = b[i];
        if (d === COMMA) {
          i = skipWs(b, i + 1, len);
          continue;
        }
        if (d !== CLOSE) return false;
        i++;
        break;
      }
    }
    if (skipWs(b, i, len) !== len) return false;
    if ((seen & this.requiredMask) !== this.requiredMask || key === undefined) return false;
    if (nonAscii && !isUtf8(start === 0 && end === b.length ? b : b.subarray(start, end))) return false;
    if (enumMiss !== undefined) {
      out.enumMiss = enumMiss;
      return false;
    }
    out.key = key;
    out.time = time;
    out.timeMs = timeMs;
    return true;
  }
}

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");

/** True when the bytes `codes` are at `b[i]`. */
function codesAt(b: Buffer, i: number, codes: readonly number[]): boolean {
  const n = codes.length;
  for (let k = 0; k < n; k++) if (b[i + k] !== codes[k]) return false;
  return true;
}

function matchWord(b: Buffer, i: number, word: Buffer): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}

/** JSON whitespace only (space, tab, line feed, carriage return). */
function skipWs(b: Buffer, i: number, len: number): number {
  while (i < len) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Bytes inside JSON strings: plain ASCII, the closing quote, not allowed raw (backslash: an escape; control characters), non-ASCII. */
const PLAIN = 0;
const END = 1;
const REFUSED = 2;
const WIDE = 3;
const STRING_BYTE = new Uint8Array(256).map((_, c) => (c === QUOTE ? END : c === BACKSLASH || c < 0x20 ? REFUSED : c >= 0x80 ? WIDE : PLAIN));

/** Whether the last string {@link stringEnd} scanned had non-ASCII bytes. */
let wideString = false;

/** The index of the quote closing the string that starts at `i`, or -1 (escapes, control characters, no end). */
function stringEnd(b: Buffer, i: number, len: number): number {
  let wide = false;
  for (;;) {
    while (i < len && STRING_BYTE[b[i]!] === PLAIN) i++;
    if (i >= len) return -1;
    const k = STRING_BYTE[b[i]!];
    if (k === END) {
      wideString = wide;
      return i;
    }
    if (k === REFUSED) return -1;
    wide = true;
    i++;
  }
}

/** The index of the closing quote when one of `values` (plain ASCII) starts at `start` and ends there, or -1. */
function plainMatch(b: Buffer, start: number, values: readonly Buffer[]): number {
  for (let v = 0; v < values.length; v++) {
    const s = values[v]!;
    const n = s.length;
    if (b[start + n] !== QUOTE) continue;
    let k = 0;
    while (k < n && s[k] === b[start + k]) k++;
    if (k === n) return start + n;
  }
  return -1;
}

function matchesOne(b: Buffer, start: number, end: number, values: readonly Buffer[]): boolean {
  const n = end - start;
  for (let v = 0; v < values.length; v++) {
    const s = values[v]!;
    if (s.length !== n) continue;
    let k = 0;
    while (k < n && s[k] === b[start + k]) k++;
    if (k === n) return true;
  }
  return false;
}

/** Code points of valid UTF-8 (what ajv's minLength/maxLength count): bytes that start one. */
function codePoints(b: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if ((b[i]! & 0xc0) !== 0x80) n++;
  return n;
}

/** The end of a JSON number at `i` (strict grammar), or -1. */
function scanNumber(b: Buffer, i: number, len: number): number {
  if (b[i] === MINUS) i++;
  if (i >= len) return -1;
  if (b[i] === ZERO) i++;
  else if (b[i]! > ZERO && b[i]! <= NINE) while (i < len && isDigit(b[i]!)) i++;
  else return -1;
  if (b[i] === DOT) {
    i++;
    const start = i;
    while (i < len && isDigit(b[i]!)) i++;
    if (i === start) return -1;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    const start = i;
    while (i < len && isDigit(b[i]!)) i++;
    if (i === start) return -1;
  }
  return i;
}

/**
 * The value of a valid JSON number, equal to what JSON.parse gives: up to 15 significant digits
 * and 22 decimals without an exponent, an exact integer divided by an exact power of ten
 * (correctly rounded); otherwise the runtime's own conversion.
 */
function numberValue(b: Buffer, start: number, end: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  let mantissa = 0;
  let digits = 0;
  let decimals = -1;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === DOT) {
      decimals = 0;
      continue;
    }
    if (c < ZERO || c > NINE) return Number(b.toString("latin1", start, end)); // an exponent
    mantissa = mantissa * 10 + (c - ZERO);
    if (mantissa !== 0) digits++;
    if (decimals >= 0) decimals++;
  }
  if (digits > 15 || decimals > 22) return Number(b.toString("latin1", start, end));
  const x = decimals > 0 ? mantissa / POW10[decimals]! : mantissa;
  return negative ? -x : x;
}

/** The end of a JSON string (ASCII, no escapes), number, true, false or null at `i`, or -1 (objects and arrays too). */
function skipPrimitive(b: Buffer, i: number, len: number): number {
  const c = b[i];
  if (c === QUOTE) {
    i++;
    const end = stringEnd(b, i + 1, len);
    // Non-ASCII text is left to the full path (its UTF-8 is checked there).
    return end < 0 || wideString ? -1 : end + 1;
  }
  if (c === 0x6e) return b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c ? i + 4 : -1;
  if (c === 0x74) return matchWord(b, i, TRUE);
  if (c === 0x66) return matchWord(b, i, FALSE);
  return scanNumber(b, i, len);
}
