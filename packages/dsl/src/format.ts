/**
 * The formatter: one canonical layout for `.seg` files. It keeps every comment, never reorders
 * anything, and is idempotent. Files with errors are returned unchanged, with their diagnostics.
 *
 * How it works: the tree is laid out as a list of output lines; each line starts at a known source
 * token, so the lines split the source's token stream into consecutive runs. Each comment is then
 * placed by the tokens around it: on its own line before the line that follows it, at the end of
 * the line that precedes it (when it followed a token on the same source line), or, when it sits
 * inside an expression printed on one line, on its own line before that line.
 */
import type { IToken } from "chevrotain";
import type * as A from "./ast.js";
import { stripSpans } from "./ast-utils.js";
import { hasErrors, type Diagnostic } from "./diagnostics.js";
import { logicalChain, printDurationNode, printExpr, printNameNode } from "./format-expr.js";
import { quoteString } from "./literals.js";
import { lex, parse } from "./parse.js";

/** The result of {@link format}. */
export interface FormatResult {
  /** The formatted text, or the input unchanged when it has errors. */
  output: string;
  /** True when `output` differs from the input. */
  changed: boolean;
  /** The parser's diagnostics for the input. */
  diagnostics: Diagnostic[];
}

/** Lines may be this many columns wide before a condition is broken over several lines. */
export const MAX_WIDTH = 100;
/** Spaces per indentation level. */
const INDENT = 2;

/**
 * Formats one `.seg` source in the canonical layout. Never throws. When the source has errors
 * (anything the parser reports as an error), the input is returned unchanged with the diagnostics:
 * broken code is never reformatted.
 */
export function format(text: string, file?: string): FormatResult {
  const unchanged = (diagnostics: Diagnostic[]): FormatResult => ({ output: text, changed: false, diagnostics });
  let diagnostics: Diagnostic[] = [];
  try {
    const parsed = parse(text, file);
    diagnostics = parsed.diagnostics;
    if (hasErrors(diagnostics)) return unchanged(diagnostics);
    const output = formatFile(parsed.file, parsed.file.comments, text);
    // Safety net: never hand back text that means something else or lost a comment.
    if (!sameMeaning(parsed.file, output)) return unchanged(diagnostics);
    return { output, changed: output !== text, diagnostics };
  } catch {
    return unchanged(diagnostics);
  }
}

/**
 * Prints a parsed file in the canonical layout. `source` must be the exact text `ast` and
 * `comments` were parsed from (their spans point into it); it may use CRLF line endings, the output
 * always uses LF. The tree must be free of errors; use {@link format} for untrusted input.
 */
export function formatFile(ast: A.SegFile, comments: readonly A.Comment[], source: string): string {
  const tokens = lex(source).tokens;
  const layout = new Layout(tokens);
  ast.declarations.forEach((d) => layout.declaration(d));
  const sorted = [...comments].sort((a, b) => a.span.start.offset - b.span.start.offset);
  const endComments = placeComments(layout.lines, sorted, tokens, source);
  return render(layout.lines, endComments, tokens, source);
}

// --- Layout -----------------------------------------------------------------------------------

/** How a line separates from what comes before it. */
type Role = "declaration" | "where" | "other";

interface PlacedComment {
  comment: A.Comment;
  /** True when the comment may stay at the end of the line. */
  trailing: boolean;
}

/** One output line, before comments are added. */
interface Line {
  /** Index of the first source token printed on this line. */
  tok: number;
  indent: number;
  text: string;
  /** Indentation of comments placed on their own lines before this line. */
  commentIndent: number;
  role: Role;
  /** Comments on their own lines in the source, directly before this line's first token. */
  leading: A.Comment[];
  /** Comments after this line's first token (inside the line, or at its end). */
  after: PlacedComment[];
}

class Layout {
  readonly lines: Line[] = [];
  private readonly byStart = new Map<number, number>();
  private readonly byEnd = new Map<number, number>();

  constructor(tokens: readonly IToken[]) {
    tokens.forEach((t, i) => {
      this.byStart.set(t.startOffset, i);
      this.byEnd.set(t.startOffset + t.image.length, i);
    });
  }

  /** The index of the token that starts at `offset`. */
  private tokAt(offset: number): number {
    const i = this.byStart.get(offset);
    if (i === undefined) throw new Error(`format: no token starts at offset ${offset}`);
    return i;
  }

  /** The index of the token that ends at `offset`. */
  private tokEnding(offset: number): number {
    const i = this.byEnd.get(offset);
    if (i === undefined) throw new Error(`format: no token ends at offset ${offset}`);
    return i;
  }

  private push(tok: number, indent: number, text: string, role: Role, commentIndent = indent): void {
    this.lines.push({ tok, indent, text, commentIndent, role, leading: [], after: [] });
  }

  declaration(d: A.Declaration): void {
    const tok = this.tokAt(d.span.start.offset);
    if (d.kind === "Const") {
      this.condition(`const ${printNameNode(d.name)} = `, d.expr, 0, tok, "declaration");
      return;
    }
    const title = d.title ? " " + quoteString(d.title.value) : "";
    this.push(tok, 0, `segment ${printNameNode(d.name)}${title} {`, "declaration");
    d.items.forEach((item, i) => this.item(item, i > 0 && item.kind === "Where" ? "where" : "other"));
    this.push(this.tokEnding(d.span.end.offset), 0, "}", "other", INDENT);
  }

  private item(item: A.SegmentItem, role: Role): void {
    const tok = this.tokAt(item.span.start.offset);
    const line = (text: string): void => this.push(tok, INDENT, text, role);
    switch (item.kind) {
      case "Description":
        return line(`description ${quoteString(item.value.value)}`);
      case "Owner":
        return line(`owner ${quoteString(item.value.value)}`);
      case "Tags":
        return line(`tags [${item.tags.map((t) => quoteString(t.value)).join(", ")}]`);
      case "Entity":
        return line(`entity ${printNameNode(item.entity)}${item.key ? ` key ${printNameNode(item.key)}` : ""}`);
      case "Refresh":
        return line(`refresh every ${printDurationNode(item.every)}`);
      case "Ttl":
        return line(`ttl ${printDurationNode(item.duration)}`);
      case "Metric":
        return this.condition(`metric ${printNameNode(item.name)} = `, item.expr, INDENT, tok, role);
      case "Where":
        return this.condition("where ", item.condition, INDENT, tok, role, true);
    }
  }

  /**
   * `where`/`metric`/`const` values. A top-level `and`/`or` chain of a `where` always gets one
   * operand per line; in a `metric` or `const` it stays on one line when it fits and has at most
   * two operands. A broken chain puts the first operand after the prefix and each further operand
   * on its own line, one level deeper, starting with the operator.
   */
  private condition(prefix: string, e: A.Expr, indent: number, tok: number, role: Role, alwaysBreak = false): void {
    const chain = logicalChain(e);
    if (!chain) return this.operand(prefix, e, indent, tok, role);
    if (!alwaysBreak && chain.operands.length <= 2 && fits(indent, prefix + printExpr(e))) {
      return this.push(tok, indent, prefix + printExpr(e), role);
    }
    this.chain(prefix, chain, indent, indent + INDENT, tok, role);
  }

  /** Prints chain operands: the first after `prefix` at `indent`, the rest at `restIndent`. */
  private chain(
    prefix: string,
    chain: { op: string; operands: A.Expr[] },
    indent: number,
    restIndent: number,
    tok: number,
    role: Role,
  ): void {
    chain.operands.forEach((operand, i) => {
      if (i === 0) return this.operand(prefix, operand, indent, tok, role);
      const opTok = this.tokEnding(chain.operands[i - 1]!.span.end.offset) + 1;
      this.operand(`${chain.op} `, operand, restIndent, opTok, "other");
    });
  }

  /**
   * One operand on one line; a parenthesised chain that does not fit breaks inside its
   * parentheses: `(` ends the line, the operands follow one level deeper (each after the first
   * starting with the operator), and `)` gets its own line at the indentation of the opening line.
   */
  private operand(lead: string, e: A.Expr, indent: number, tok: number, role: Role): void {
    const flat = lead + printExpr(e);
    const inner = e.kind === "Paren" ? logicalChain(e.expr) : null;
    if (fits(indent, flat) || e.kind !== "Paren" || !inner) return this.push(tok, indent, flat, role);
    this.push(tok, indent, lead + "(", role);
    const deeper = indent + INDENT;
    this.chain("", inner, deeper, deeper, this.tokAt(inner.operands[0]!.span.start.offset), "other");
    this.push(this.tokEnding(e.span.end.offset), indent, ")", "other", deeper);
  }
}

function fits(indent: number, text: string): boolean {
  return indent + text.length <= MAX_WIDTH;
}

// --- Comments ---------------------------------------------------------------------------------

const LINE_BREAK = /[\r\n]/;

/**
 * Attaches each comment (in source order) to a line, as leading or after; returns the comments
 * that go at the end of the file.
 */
function placeComments(lines: Line[], comments: readonly A.Comment[], tokens: readonly IToken[], source: string): A.Comment[] {
  for (let k = 1; k < lines.length; k++) {
    if (lines[k]!.tok <= lines[k - 1]!.tok) throw new Error("format: lines out of source order");
  }
  const lineOf = (tok: number): Line => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid]!.tok <= tok) lo = mid;
      else hi = mid - 1;
    }
    return lines[lo]!;
  };
  const endComments: A.Comment[] = [];
  let prevComment: { end: number; trailing: boolean } | undefined;
  for (const c of comments) {
    const start = c.span.start.offset;
    const end = c.span.end.offset;
    const p = tokensBefore(tokens, start) - 1;
    const n = p + 1;
    // The element just before the comment: a token, or an earlier comment after that token.
    const tokEnd = p >= 0 ? tokens[p]!.startOffset + tokens[p]!.image.length : -1;
    const prevIsComment = prevComment !== undefined && prevComment.end > tokEnd;
    const prevEnd = prevIsComment ? prevComment!.end : tokEnd;
    // "Trailing": follows a token on the same source line (possibly after other trailing comments).
    const trailing =
      prevEnd >= 0 && !LINE_BREAK.test(source.slice(prevEnd, start)) && (!prevIsComment || prevComment!.trailing);
    prevComment = { end, trailing };

    if (lines.length === 0 || (p < 0 && n >= tokens.length)) {
      endComments.push(c);
    } else if (p < 0) {
      lines[0]!.leading.push(c);
    } else if (n >= tokens.length) {
      if (trailing) lines[lines.length - 1]!.after.push({ comment: c, trailing: true });
      else endComments.push(c);
    } else {
      const before = lineOf(p);
      const after = lineOf(n);
      if (before === after) {
        // Inside a line: it may stay at the end only if nothing but comments followed it.
        const rest = /^[^\r\n]*/.exec(source.slice(end))![0];
        const endsLine = c.kind === "LineComment" || /^[ \t\f\uFEFF]*(\/[/*]|$)/.test(rest);
        before.after.push({ comment: c, trailing: trailing && endsLine });
      } else if (trailing) {
        before.after.push({ comment: c, trailing: true });
      } else {
        after.leading.push(c);
      }
    }
  }
  return endComments;
}

/** How many tokens start before `offset`. */
function tokensBefore(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// --- Rendering --------------------------------------------------------------------------------

/** A comment's printed text: LF line endings; a line comment loses trailing whitespace. */
function commentText(c: A.Comment): string {
  const text = c.text.replace(/\r\n?/g, "\n");
  return c.kind === "LineComment" ? text.trimEnd() : text;
}

/** True when the source between two offsets (whitespace only) contains a blank line. */
function blankBetween(source: string, from: number, to: number): boolean {
  const gap = source.slice(from, to).replace(/\r\n?/g, "\n");
  return (gap.match(/\n/g)?.length ?? 0) >= 2;
}

/** Splits a line's `after` comments into those hoisted above it and those kept at its end. */
function splitAfter(after: readonly PlacedComment[]): { hoisted: A.Comment[]; trailing: A.Comment[] } {
  // The longest run at the end whose comments may all trail, with only block comments before the
  // last one (nothing may follow a line comment on the same line).
  let k = after.length;
  while (k > 0) {
    const pc = after[k - 1]!;
    if (!pc.trailing || (k < after.length && pc.comment.kind === "LineComment")) break;
    k--;
  }
  return { hoisted: after.slice(0, k).map((p) => p.comment), trailing: after.slice(k).map((p) => p.comment) };
}

/** Prints the lines with their comments; blank lines only where the layout rules allow them. */
function render(lines: readonly Line[], endComments: readonly A.Comment[], tokens: readonly IToken[], source: string): string {
  const out: string[] = [];
  const blank = (): void => {
    if (out.length > 0 && out[out.length - 1] !== "") out.push("");
  };
  const emit = (indent: number, text: string): void => {
    out.push(" ".repeat(indent) + text);
  };

  for (const line of lines) {
    const { hoisted, trailing } = splitAfter(line.after);
    const lineStart = tokens[line.tok]!.startOffset;
    if (line.role !== "other") blank();
    line.leading.forEach((c, i) => {
      // At the top level, a blank line between leading comments is kept (at most one).
      if (line.role === "declaration" && i > 0 && blankBetween(source, line.leading[i - 1]!.span.end.offset, c.span.start.offset)) {
        blank();
      }
      emit(line.commentIndent, commentText(c));
    });
    const lastLeading = line.leading[line.leading.length - 1];
    if (line.role === "declaration" && lastLeading && blankBetween(source, lastLeading.span.end.offset, lineStart)) {
      blank();
    }
    for (const c of hoisted) emit(line.commentIndent, commentText(c));
    const tail = trailing.map((c) => " " + commentText(c)).join("");
    emit(line.indent, line.text + tail);
  }

  // Comments after the last token: a blank line before each is kept (at most one).
  const lastTok = tokens[tokens.length - 1];
  let prevEnd = lastTok ? lastTok.startOffset + lastTok.image.length : 0;
  const lastTrailing = lines[lines.length - 1]?.after.at(-1);
  if (lastTrailing && lastTrailing.comment.span.end.offset > prevEnd) prevEnd = lastTrailing.comment.span.end.offset;
  endComments.forEach((c) => {
    if (blankBetween(source, prevEnd, c.span.start.offset)) blank();
    emit(0, commentText(c));
    prevEnd = c.span.end.offset;
  });
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

// --- Safety net -------------------------------------------------------------------------------

/** True when `output` parses without errors to the same tree and the same comments. */
function sameMeaning(ast: A.SegFile, output: string): boolean {
  const again = parse(output);
  if (hasErrors(again.diagnostics)) return false;
  if (JSON.stringify(stripSpans(again.file)) !== JSON.stringify(stripSpans(ast))) return false;
  const texts = (cs: readonly A.Comment[]): string => JSON.stringify(cs.map(commentText).sort());
  return texts(again.file.comments) === texts(ast.comments);
}
