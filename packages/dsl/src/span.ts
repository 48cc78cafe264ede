/** A position in a source text. `line` and `column` are 1-based; `offset` is a 0-based UTF-16 index. */
export interface Position {
  offset: number;
  line: number;
  column: number;
}

/** A half-open source range `[start, end)`. */
export interface Span {
  start: Position;
  end: Position;
}

/** The position at the very start of a text. */
export const START: Position = Object.freeze({ offset: 0, line: 1, column: 1 });

/** A zero-width span at the start of a text. */
export function emptySpan(at: Position = START): Span {
  return { start: { ...at }, end: { ...at } };
}

/** The smallest span that covers both `a` and `b`. */
export function joinSpans(a: Span, b: Span): Span {
  return {
    start: a.start.offset <= b.start.offset ? a.start : b.start,
    end: a.end.offset >= b.end.offset ? a.end : b.end,
  };
}

/** Maps offsets of one text to line/column positions, in O(log lines). */
export class LineIndex {
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 10) this.lineStarts.push(i + 1);
      else if (ch === 13) {
        if (text.charCodeAt(i + 1) === 10) i++;
        this.lineStarts.push(i + 1);
      }
    }
  }

  /** The position of `offset`, clamped into the text. */
  position(offset: number): Position {
    const o = Math.max(0, Math.min(Number.isFinite(offset) ? offset : 0, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { offset: o, line: lo + 1, column: o - this.lineStarts[lo]! + 1 };
  }

  /** A span from two offsets (end exclusive). */
  span(startOffset: number, endOffset: number): Span {
    const start = this.position(startOffset);
    const end = this.position(Math.max(startOffset, endOffset));
    return { start, end };
  }

  /** The text of line `line` (1-based), without its line break. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return "";
    const next = this.lineStarts[line];
    let end = next === undefined ? this.text.length : next;
    while (end > start && (this.text[end - 1] === "\n" || this.text[end - 1] === "\r")) end--;
    return this.text.slice(start, end);
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}
