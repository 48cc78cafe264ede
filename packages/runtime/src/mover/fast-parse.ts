/**
 * A fast path for the results topic's common value: a member message exactly as the jobs write it,
 * `{"type":"member","segment":"…","runId":"…","entityId":"…","metrics":{…}}` (no whitespace, these
 * keys in this order). It reads the bytes without `JSON.parse`: the names must have no escapes, and
 * the metrics text must be what `JSON.stringify(JSON.parse(text))` gives (no whitespace or escapes,
 * no duplicate or numeric keys) except for numbers, which are rewritten the way JavaScript prints
 * them where they differ (`12.50` → `12.5`, `1.0E10` → `10000000000`). Anything else is left to
 * {@link parseResult}, which gives the same result (or says why the value is malformed). Segment and
 * run names repeat from message to message: the last ones are reused.
 */

import { isUtf8 } from "node:buffer";
import { copyBytes, type PackedMembers } from "./packed-members.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const HEAD = Buffer.from('{"type":"member","segment":"');
const RUN = Buffer.from('","runId":"');
const ENTITY = Buffer.from('","entityId":"');
const METRICS = Buffer.from('","metrics":');
const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");
const EMPTY = Buffer.alloc(0);

/** Nesting deeper than this goes to the slow path. */
const MAX_DEPTH = 32;
/** Numbers with at most this many significant digits print back the same in JavaScript. */
const MAX_DIGITS = 15;

function matches(buf: Buffer, at: number, what: Buffer): boolean {
  if (at + what.length > buf.length) return false;
  for (let i = 0; i < what.length; i++) if (buf[at + i] !== what[i]) return false;
  return true;
}

function sameBytes(buf: Buffer, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/**
 * Reads member messages. After {@link parse} returns true, `segment` and `runId` hold the message's
 * names, {@link appendTo} packs its entity id and metrics straight from its bytes, and `entityId`
 * and `metricsJson` give them as text (made on demand). One instance per consumer loop (not
 * reentrant); the fields describe the last message parsed.
 */
export class FastMemberParser {
  segment = "";
  runId = "";
  /** The last message read and where its entity id and metrics are in it. */
  private last: Buffer = EMPTY;
  private idStart = 0;
  private idEnd = 0;
  private metricsStart = 0;
  private metricsEnd = 0;
  private segmentBytes: Buffer = EMPTY;
  private runIdBytes: Buffer = EMPTY;
  /**
   * Byte ranges of the keys of the objects being read (start, end pairs), per nesting level. Typed
   * arrays with a count, reused: emptying and refilling a JS array reallocated its store per message.
   */
  private readonly keys: Int32Array[] = [];
  private end = 0;
  /**
   * The numbers to print again (not as JavaScript prints them): start, end, and where to cut the
   * number when dropping its fraction's trailing zeros is all it takes (-1 when it is not).
   */
  private fixes = new Int32Array(48);
  /** A string of the message read so far has a byte over 0x7f. */
  private nonAscii = false;
  /** Entries used in `fixes` (3 per number). */
  private nFixes = 0;
  private buf: Buffer = EMPTY;
  /** Where {@link rewrite} assembles the metrics text (reused: one string per message). */
  private scratch: Buffer = Buffer.alloc(1024);

  /** True when `value` is a member message the fast path can read (its fields are then set). */
  parse(value: Buffer): boolean {
    return this.parseRange(value, 0, value.length);
  }

  /**
   * {@link parse} of the message whose bytes are `buf[start..stop)` (a record read in place); no
   * byte outside the range is taken for part of it.
   */
  parseRange(buf: Buffer, start: number, stop: number): boolean {
    const n = stop - start;
    if (n < HEAD.length + RUN.length + ENTITY.length + METRICS.length + 5 || buf[stop - 1] !== CLOSE) return false;
    if (!matches(buf, start, HEAD)) return false;
    this.nonAscii = false;
    let at = start + HEAD.length;
    const segEnd = this.plainString(buf, at, stop);
    if (segEnd <= at || !matches(buf, segEnd, RUN)) return false;
    const runStart = segEnd + RUN.length;
    const runEnd = this.plainString(buf, runStart, stop);
    if (runEnd <= runStart || !matches(buf, runEnd, ENTITY)) return false;
    const idStart = runEnd + ENTITY.length;
    const idEnd = this.plainString(buf, idStart, stop);
    if (idEnd <= idStart || !matches(buf, idEnd, METRICS)) return false;
    at = idEnd + METRICS.length;
    if (at >= stop || buf[at] !== OPEN) return false;
    this.buf = buf;
    this.end = stop - 1; // the message's closing brace
    this.nFixes = 0;
    const metricsEnd = this.value(at, 0);
    this.buf = EMPTY;
    if (metricsEnd !== stop - 1) return false;
    // Bytes that are not UTF-8 would be staged as they are; the slow path reads them as U+FFFD.
    if (this.nonAscii && !isUtf8(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop))) return false;
    this.segment = this.reuse(buf, start + HEAD.length, segEnd, true);
    this.runId = this.reuse(buf, runStart, runEnd, false);
    this.last = buf;
    this.idStart = idStart;
    this.idEnd = idEnd;
    this.metricsStart = at;
    this.metricsEnd = metricsEnd;
    return true;
  }

  /** The last member's entity id. */
  get entityId(): string {
    return this.last.toString("utf8", this.idStart, this.idEnd);
  }

  /** The last member's metrics, as `JSON.stringify(JSON.parse(…))` prints them. */
  get metricsJson(): string {
    return this.nFixes === 0 ? this.last.toString("utf8", this.metricsStart, this.metricsEnd) : this.rewrite(this.last, this.metricsStart, this.metricsEnd);
  }

  /** Packs the last member (entity id, metrics as {@link metricsJson} prints them) into `out`. */
  appendTo(out: PackedMembers): void {
    const buf = this.last;
    out.idBytes(buf, this.idStart, this.idEnd);
    if (this.nFixes === 0) out.metricsBytes(buf, this.metricsStart, this.metricsEnd);
    else out.metricsBytes(this.scratch, 0, this.rewriteBytes(buf, this.metricsStart, this.metricsEnd));
  }

  /**
   * The metrics text with its numbers in `fixes` printed as JavaScript prints them, assembled in
   * one reused buffer (`scratch`; toFixed's `12.50` is common: piecing strings together made most
   * of the mover's per-message garbage). Returns its length.
   */
  private rewriteBytes(buf: Buffer, start: number, end: number): number {
    const fixes = this.fixes;
    let out = this.scratch;
    // A number printed by JavaScript is at most 25 characters (e.g. -1.2345678901234567e-300).
    const nFixes = this.nFixes;
    const most = end - start + (nFixes / 3) * 25;
    if (out.length < most) out = this.scratch = Buffer.alloc(Math.max(most, out.length * 2));
    let len = 0;
    let from = start;
    for (let i = 0; i < nFixes; i += 3) {
      const numStart = fixes[i]!;
      const cut = fixes[i + 2]!;
      len = copyBytes(buf, from, cut >= 0 ? cut : numStart, out, len);
      if (cut < 0) len += out.write(JSON.stringify(Number(buf.toString("latin1", numStart, fixes[i + 1]!))), len, "latin1");
      from = fixes[i + 1]!;
    }
    len = copyBytes(buf, from, end, out, len);
    return len;
  }

  private rewrite(buf: Buffer, start: number, end: number): string {
    return this.scratch.toString("utf8", 0, this.rewriteBytes(buf, start, end));
  }

  /** The segment or run name: the last one again when the bytes are the same. */
  private reuse(buf: Buffer, start: number, end: number, segment: boolean): string {
    const last = segment ? this.segmentBytes : this.runIdBytes;
    if (last.length === end - start) {
      let same = true;
      for (let i = 0; i < last.length && same; i++) same = buf[start + i] === last[i];
      if (same) return segment ? this.segment : this.runId;
    }
    const bytes = Buffer.from(buf.subarray(start, end));
    const text = buf.toString("utf8", start, end);
    if (segment) {
      this.segmentBytes = bytes;
      this.segment = text;
    } else {
      this.runIdBytes = bytes;
      this.runId = text;
    }
    return text;
  }

  /** The index of the closing quote (before `limit`) of a string starting at `at` without escapes or control characters; -1 otherwise. */
  private plainString(buf: Buffer, at: number, limit: number): number {
    for (let i = at; i < limit; i++) {
      const c = buf[i]!;
      if (c === QUOTE) return i;
      if (c === BACKSLASH || c < 0x20) return -1;
      if (c >= 0x80) this.nonAscii = true;
    }
    return -1;
  }

  /** Reads one canonical JSON value at `at`; the index after it, or -1. */
  private value(at: number, depth: number): number {
    const buf = this.buf;
    if (at >= this.end) return -1;
    const c = buf[at]!;
    if (c === OPEN) return depth >= MAX_DEPTH ? -1 : this.object(at, depth + 1);
    if (c === OPEN_ARRAY) return depth >= MAX_DEPTH ? -1 : this.array(at, depth + 1);
    if (c === QUOTE) {
      const close = this.plainString(buf, at + 1, this.end);
      return close < 0 || close >= this.end ? -1 : close + 1;
    }
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number(at);
    const lit = c === 0x74 ? TRUE : c === 0x66 ? FALSE : c === 0x6e ? NULL : undefined;
    return lit !== undefined && at + lit.length <= this.end && matches(buf, at, lit) ? at + lit.length : -1;
  }

  private object(at: number, depth: number): number {
    const buf = this.buf;
    let i = at + 1;
    if (buf[i] === CLOSE) return i + 1;
    let keys = (this.keys[depth] ??= new Int32Array(32));
    let nKeys = 0;
    for (;;) {
      if (buf[i] !== QUOTE) return -1;
      const close = this.plainString(buf, i + 1, this.end);
      if (close < 0 || close >= this.end) return -1;
      const start = i + 1;
      const len = close - start;
      // Keys made of digits only are array indices to JavaScript (listed first): slow path.
      let digits = len > 0;
      for (let k = start; k < close && digits; k++) digits = buf[k]! >= ZERO && buf[k]! <= NINE;
      if (digits) return -1;
      for (let k = 0; k < nKeys; k += 2) {
        if (keys[k + 1]! - keys[k]! === len && sameBytes(buf, keys[k]!, start, len)) return -1;
      }
      if (nKeys + 2 > keys.length) {
        const grown = new Int32Array(keys.length * 2);
        grown.set(keys);
        keys = this.keys[depth] = grown;
      }
      keys[nKeys++] = start;
      keys[nKeys++] = close;
      i = close + 1;
      if (buf[i] !== COLON) return -1;
      i = this.value(i + 1, depth);
      if (i < 0) return -1;
      if (buf[i] === COMMA) {
        i++;
        continue;
      }
      return buf[i] === CLOSE && i <= this.end ? i + 1 : -1;
    }
  }

  private array(at: number, depth: number): number {
    const buf = this.buf;
    let i = at + 1;
    if (buf[i] === CLOSE_ARRAY) return i + 1;
    for (;;) {
      i = this.value(i, depth);
      if (i < 0) return -1;
      if (buf[i] === COMMA) {
        i++;
        continue;
      }
      return buf[i] === CLOSE_ARRAY && i < this.end ? i + 1 : -1;
    }
  }

  /**
   * A JSON number; the index after it, or -1. Unless it is exactly as JavaScript prints it (no
   * exponent, no leading zeros, no trailing zeros in the fraction, not -0, at most 15 significant
   * digits so that it prints back the same, and not below 1e-6, printed with an exponent), it is
   * noted in `fixes`.
   */
  private number(at: number): number {
    const buf = this.buf;
    const end = this.end;
    let i = at;
    const negative = buf[i] === MINUS;
    if (negative) i++;
    const intStart = i;
    if (buf[i] === ZERO) i++;
    else {
      if (!(buf[i]! >= ZERO && buf[i]! <= NINE)) return -1;
      while (i < end && buf[i]! >= ZERO && buf[i]! <= NINE) i++;
    }
    const intDigits = i - intStart;
    const intIsZero = intDigits === 1 && buf[intStart] === ZERO;
    let significant = intIsZero ? 0 : intDigits;
    let canonical = !(negative && intIsZero);
    // Trailing zeros in the fraction are the only difference (`12.50`): cut them (and a bare dot).
    let trailingOnly = canonical;
    let cut = -1;
    if (buf[i] === DOT) {
      i++;
      const fracStart = i;
      while (i < end && buf[i]! >= ZERO && buf[i]! <= NINE) i++;
      const fracDigits = i - fracStart;
      if (fracDigits === 0) return -1;
      if (buf[i - 1] === ZERO) {
        canonical = false;
        cut = i;
        while (buf[cut - 1] === ZERO) cut--;
        if (cut === fracStart) cut--; // the dot
      }
      if (intIsZero) {
        let zeros = 0;
        while (zeros < fracDigits && buf[fracStart + zeros] === ZERO) zeros++;
        if (zeros >= 6) canonical = trailingOnly = false;
        significant = fracDigits - zeros;
      } else significant += fracDigits;
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      // e, E
      canonical = trailingOnly = false;
      i++;
      if (buf[i] === 0x2b || buf[i] === MINUS) i++;
      const expStart = i;
      while (i < end && buf[i]! >= ZERO && buf[i]! <= NINE) i++;
      if (i === expStart) return -1;
    }
    if (i >= end) return -1;
    if (!canonical || significant > MAX_DIGITS) {
      if (this.nFixes + 3 > this.fixes.length) {
        const grown = new Int32Array(this.fixes.length * 2);
        grown.set(this.fixes);
        this.fixes = grown;
      }
      this.fixes[this.nFixes++] = at;
      this.fixes[this.nFixes++] = i;
      this.fixes[this.nFixes++] = trailingOnly && significant <= MAX_DIGITS ? cut : -1;
    }
    return i;
  }
}
