/**
 * Simple JSON Schema `pattern`s matched on ASCII bytes, without decoding a string or running a
 * regular expression: `^…$` made of ASCII literals, `\d`, `\w` and character classes of those
 * (ranges allowed, no negation), each with an optional quantifier (`?`, `*`, `+`, `{n}`, `{n,}`,
 * `{n,m}`). Matching is greedy, which is exact here because an item of varying count must share no
 * character with the items that can come right after it. Anything else (alternatives,
 * groups, `.`, lookarounds, flags-dependent escapes, non-ASCII) gives no byte pattern: the caller
 * keeps the regular expression. For ASCII input a byte pattern accepts exactly what
 * `new RegExp(pattern, "u").test` accepts (property-tested).
 */

interface Item {
  /** 128 flags: the ASCII characters the item matches. */
  set: Uint8Array;
  min: number;
  max: number;
}

/** A compiled pattern: true when `b[start..end)` (ASCII bytes) matches. */
export type BytePattern = (b: Uint8Array, start: number, end: number) => boolean;

/** Characters that may be escaped to stand for themselves under the `u` flag. */
const SYNTAX = "^$\\.*+?()[]{}|/";

function charSet(chars: (c: number) => boolean): Uint8Array {
  const set = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if (chars(c)) set[c] = 1;
  return set;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isWord = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const DIGITS = charSet(isDigit);
const WORD = charSet(isWord);

/** A printable ASCII character that stands for itself outside a class. */
const isPlainLiteral = (c: string): boolean => c >= " " && c <= "~" && !SYNTAX.includes(c);

/** The class at `source[i]` (just after `[`): its set and the index after `]`, or undefined. */
function parseClass(source: string, i: number): { set: Uint8Array; next: number } | undefined {
  const set = new Uint8Array(128);
  if (source[i] === "^" || source[i] === "]") return undefined;
  let previous = -1;
  while (i < source.length && source[i] !== "]") {
    let c: number;
    const ch = source[i]!;
    if (ch === "\\") {
      const e = source[i + 1];
      if (e === "d" || e === "w") {
        const add = e === "d" ? DIGITS : WORD;
        for (let k = 0; k < 128; k++) if (add[k] === 1) set[k] = 1;
        previous = -1;
        i += 2;
        continue;
      }
      if (e === undefined || !(SYNTAX.includes(e) || e === "-")) return undefined;
      c = e.charCodeAt(0);
      i += 2;
    } else if (ch === "-" && previous >= 0 && source[i + 1] !== "]" && source[i + 1] !== undefined) {
      // A range previous-x (x a plain character).
      const to = source[i + 1]!;
      if (to === "\\" || to === "[" || to.charCodeAt(0) > 0x7e || to.charCodeAt(0) < previous) return undefined;
      for (let k = previous; k <= to.charCodeAt(0); k++) set[k] = 1;
      previous = -1;
      i += 2;
      continue;
    } else {
      if (ch === "[" || ch < " " || ch > "~") return undefined;
      c = ch.charCodeAt(0);
      i += 1;
    }
    set[c] = 1;
    previous = c;
  }
  if (source[i] !== "]") return undefined;
  return { set, next: i + 1 };
}

/** The quantifier at `source[i]`: its bounds and the index after it (1..1 when there is none), or undefined. */
function parseQuantifier(source: string, i: number): { min: number; max: number; next: number } | undefined {
  const q = source[i];
  let r: { min: number; max: number; next: number };
  if (q === "?") r = { min: 0, max: 1, next: i + 1 };
  else if (q === "*") r = { min: 0, max: Number.POSITIVE_INFINITY, next: i + 1 };
  else if (q === "+") r = { min: 1, max: Number.POSITIVE_INFINITY, next: i + 1 };
  else if (q === "{") {
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(source.slice(i));
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Number.POSITIVE_INFINITY : Number(m[3]);
    if (max < min) return undefined;
    r = { min, max, next: i + m[0].length };
  } else return { min: 1, max: 1, next: i };
  // A lazy or doubled quantifier: not handled.
  const after = source[r.next];
  if (after === "?" || after === "*" || after === "+" || after === "{") return undefined;
  return r;
}

/** The byte pattern of `source` (a JSON Schema `pattern`), or undefined when it is not a simple one. */
export function compileBytePattern(source: string): BytePattern | undefined {
  if (source.length < 2 || source[0] !== "^" || source[source.length - 1] !== "$" || source[source.length - 2] === "\\") return undefined;
  const body = source.slice(1, -1);
  const items: Item[] = [];
  let i = 0;
  while (i < body.length) {
    const ch = body[i]!;
    let set: Uint8Array;
    if (ch === "[") {
      const c = parseClass(body, i + 1);
      if (!c) return undefined;
      set = c.set;
      i = c.next;
    } else if (ch === "\\") {
      const e = body[i + 1];
      if (e === "d") set = DIGITS;
      else if (e === "w") set = WORD;
      else if (e !== undefined && SYNTAX.includes(e)) set = charSet((c) => c === e.charCodeAt(0));
      else return undefined;
      i += 2;
    } else if (isPlainLiteral(ch)) {
      set = charSet((c) => c === ch.charCodeAt(0));
      i += 1;
    } else {
      return undefined;
    }
    const q = parseQuantifier(body, i);
    if (!q) return undefined;
    i = q.next;
    items.push({ set, min: q.min, max: q.max });
  }
  // Greedy matching is exact when the items that can follow one of varying count (up to the first
  // that cannot be empty) share no character with it: its run then ends where the characters it
  // matches end, in any match.
  for (let k = 0; k < items.length; k++) {
    const a = items[k]!;
    if (a.min === a.max) continue;
    for (let j = k + 1; j < items.length; j++) {
      const b = items[j]!;
      for (let c = 0; c < 128; c++) if (a.set[c] && b.set[c]) return undefined;
      if (b.min > 0) break;
    }
  }
  return (b, start, end) => {
    let pos = start;
    for (let k = 0; k < items.length; k++) {
      const { set, min, max } = items[k]!;
      let n = 0;
      while (n < max && pos < end) {
        const c = b[pos]!;
        if (c >= 128 || set[c] === 0) break;
        pos++;
        n++;
      }
      if (n < min) return false;
    }
    return pos === end;
  };
}
