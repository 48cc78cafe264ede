/**
 * A byte-level pass over a JSON Lines file, for the native loader: which lines hold records (the
 * JS path skips blank lines), so the n-th row DuckDB reads can be given its line number, and the
 * exact text of chosen lines, as the JS path sees them (UTF-8 decoded, a trailing CR dropped).
 */
import { open } from "node:fs/promises";

/** Where a file's records are. */
export interface LineScan {
  /** Non-blank lines (one record each). */
  records: number;
  /** The 1-based line of the record with 0-based ordinal `n`. */
  lineOf(n: number): number;
}

const CHUNK = 8 << 20;
const isBlankByte = (b: number) => b === 0x20 || b === 0x09 || b === 0x0d;

/** Calls `onLine(buf, start, end, lineNumber)` for every line (without its LF), in order. */
async function eachLine(file: string, onLine: (buf: Buffer, start: number, end: number, line: number) => boolean | void): Promise<void> {
  const handle = await open(file, "r");
  try {
    let carry: Buffer = Buffer.alloc(0);
    let line = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let start = 0;
      for (let i = data.indexOf(10, start); i !== -1; i = data.indexOf(10, start)) {
        line += 1;
        if (onLine(data, start, i, line) === false) return;
        start = i + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
    onLine(carry, 0, carry.length, line + 1);
  } finally {
    await handle.close();
  }
}

/**
 * Finds the record lines of `file`. Undefined when DuckDB's reader could see the lines otherwise
 * than the JS path: a byte-order mark, or a line that only JS counts as blank (Unicode spaces).
 */
export async function scanJsonLines(file: string): Promise<LineScan | undefined> {
  const blanks: number[] = [];
  let lines = 0;
  let agree = true;
  await eachLine(file, (buf, start, end, line) => {
    lines = line;
    if (line === 1 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) {
      agree = false;
      return false;
    }
    let i = start;
    while (i < end && isBlankByte(buf[i]!)) i++;
    if (i === end) {
      blanks.push(line);
      return;
    }
    if (buf[i] === 0x7b) return;
    const text = buf.toString("utf8", start, end);
    if ((text.endsWith("\r") ? text.slice(0, -1) : text).trim() === "") {
      agree = false;
      return false;
    }
  });
  if (!agree) return undefined;
  const blanksUpTo = (l: number): number => {
    let lo = 0;
    let hi = blanks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (blanks[mid]! <= l) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    records: lines - blanks.length,
    lineOf(n) {
      // the smallest line with n + 1 record lines up to it
      let lo = n + 1;
      let hi = lines;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (mid - blanksUpTo(mid) >= n + 1) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    },
  };
}

/** The text of the given lines (ascending 1-based numbers), as the JS path reads them. */
export async function readLines(file: string, wanted: number[]): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await eachLine(file, (buf, start, end, line) => {
    if (next >= wanted.length) return false;
    if (line !== wanted[next]) return;
    const text = buf.toString("utf8", start, end);
    out.push(text.endsWith("\r") ? text.slice(0, -1) : text);
    next += 1;
    return next < wanted.length;
  });
  return out;
}
