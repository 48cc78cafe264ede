/**
 * JSON syntax on bytes: whether `JSON.parse` would accept a UTF-8 text, and where it would stop
 * when not. Malformed events are dead letters; `JSON.parse` finds the same problem, but throwing
 * its `SyntaxError` costs a few microseconds per event (more than the rest of the dead letter), so
 * the problem is found here first and described in our own words.
 *
 * The grammar is RFC 8259's, which is exactly what `JSON.parse` accepts: whitespace is space, tab,
 * line feed and carriage return; strings hold no raw control characters and only the escapes
 * `\" \\ \/ \b \f \n \r \t \uXXXX`; numbers are `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
 * The bytes are assumed to be valid UTF-8 (checked before), so any byte of 0x80 and above is part
 * of a character that strings may hold.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Bytes that may follow a backslash (besides `u`). */
const SIMPLE_ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

const isWs = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number | undefined) => c !== undefined && c >= ZERO && c <= NINE;
const isHex = (c: number | undefined) => c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** The problem at byte `i` of `b`, in words. */
function problemAt(b: Uint8Array, i: number, expected: string): string {
  if (i >= b.length) return `the text ends where ${expected} should be (byte ${i})`;
  const c = b[i]!;
  const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, "0")}`;
  return `${shown} at byte ${i} where ${expected} should be`;
}

/**
 * Undefined when `JSON.parse` accepts the UTF-8 text `b` (syntax only: the value's size and depth
 * are not limited here); otherwise what is wrong and where (byte offsets from 0).
 */
export function jsonSyntaxError(b: Uint8Array): string | undefined {
  const len = b.length;
  // Open containers, innermost last: true for an object.
  const open: boolean[] = [];
  let i = 0;
  const skipWs = () => {
    while (i < len && isWs(b[i])) i++;
  };
  for (;;) {
    // A value.
    skipWs();
    const c = b[i];
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      i++;
      skipWs();
      const isObject = c === OPEN_OBJECT;
      if (b[i] === (isObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
      } else {
        open.push(isObject);
        if (isObject) {
          const keyProblem = objectKey();
          if (keyProblem !== undefined) return keyProblem;
        }
        continue;
      }
    } else if (c === QUOTE) {
      const problem = string();
      if (problem !== undefined) return problem;
    } else if (c === MINUS || isDigit(c)) {
      const problem = number();
      if (problem !== undefined) return problem;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      const word = c === 0x74 ? "true" : c === 0x66 ? "false" : "null";
      for (let k = 0; k < word.length; k++) {
        if (b[i + k] !== word.charCodeAt(k)) return problemAt(b, i + k, `the rest of '${word}'`);
      }
      i += word.length;
    } else {
      return problemAt(b, i, "a value");
    }
    // After a value: close containers, or a comma and the next member.
    for (;;) {
      skipWs();
      if (open.length === 0) return i === len ? undefined : problemAt(b, i, "the end of the text");
      const isObject = open[open.length - 1]!;
      const d = b[i];
      if (d === COMMA) {
        i++;
        if (isObject) {
          const keyProblem = objectKey();
          if (keyProblem !== undefined) return keyProblem;
        }
        break;
      }
      if (d === (isObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++;
        open.pop();
        continue;
      }
      return problemAt(b, i, isObject ? "',' or '}'" : "',' or ']'");
    }
  }

  /** A member's key and colon, at `i` (whitespace first). */
  function objectKey(): string | undefined {
    skipWs();
    if (b[i] !== QUOTE) return problemAt(b, i, "a quoted key");
    const problem = string();
    if (problem !== undefined) return problem;
    skipWs();
    if (b[i] !== COLON) return problemAt(b, i, "':'");
    i++;
    return undefined;
  }

  /** A string at `i` (its opening quote). */
  function string(): string | undefined {
    i++;
    for (;;) {
      if (i >= len) return problemAt(b, i, "the end of a string");
      const c = b[i]!;
      if (c === QUOTE) {
        i++;
        return undefined;
      }
      if (c < 0x20) return problemAt(b, i, "a character of a string (control characters must be escaped)");
      if (c === BACKSLASH) {
        const e = b[i + 1];
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) if (!isHex(b[i + k])) return problemAt(b, i + k, "a hex digit of a \\u escape");
          i += 6;
        } else if (e !== undefined && SIMPLE_ESCAPES.has(e)) {
          i += 2;
        } else {
          return problemAt(b, i + 1, "an escape (one of \" \\ / b f n r t u)");
        }
      } else {
        i++;
      }
    }
  }

  /** A number at `i`. */
  function number(): string | undefined {
    if (b[i] === MINUS) i++;
    if (b[i] === ZERO) i++;
    else if (isDigit(b[i])) while (isDigit(b[i])) i++;
    else return problemAt(b, i, "a digit");
    if (b[i] === DOT) {
      i++;
      if (!isDigit(b[i])) return problemAt(b, i, "a digit after the decimal point");
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if (!isDigit(b[i])) return problemAt(b, i, "a digit of the exponent");
      while (isDigit(b[i])) i++;
    }
    return undefined;
  }
}
