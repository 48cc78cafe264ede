/**
 * `parse`: source text in, a (possibly partial) AST and diagnostics out. Never throws.
 */
import type { IRecognitionException, IToken } from "chevrotain";
import { EOF } from "./chevrotain.js";
import type * as A from "./ast.js";
import { diagnostic, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { SegParser } from "./parser.js";
import { LineIndex, type Span } from "./span.js";
import type { SyntaxErrorPayload } from "./syntax-errors.js";
import { describeToken } from "./syntax-errors.js";
import * as T from "./tokens.js";
import { checkStructure } from "./structure.js";

/** The result of parsing one file. */
export interface ParseResult {
  file: A.SegFile;
  diagnostics: Diagnostic[];
}

/** The result of lexing one file. */
export interface LexResult {
  tokens: IToken[];
  comments: A.Comment[];
  diagnostics: Diagnostic[];
  lines: LineIndex;
}

let sharedParser: SegParser | undefined;

/** The one parser instance, built on first use (building it analyses the grammar). */
export function segParser(): SegParser {
  sharedParser ??= new SegParser();
  return sharedParser;
}

/** Splits a text into tokens and comments; lexical problems become diagnostics. */
export function lex(text: string, file?: string): LexResult {
  const lines = new LineIndex(text);
  const result = T.segLexer.tokenize(text);
  const diagnostics: Diagnostic[] = [];
  const opts = file === undefined ? {} : { file };
  for (const e of result.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    const shown = ch.length > 20 ? ch.slice(0, 17) + "..." : ch;
    diagnostics.push(diagnostic("unexpectedCharacter", lines.span(e.offset, e.offset + e.length), [JSON.stringify(shown)], opts));
  }
  const comments: A.Comment[] = [];
  for (const c of result.groups["comments"] ?? []) {
    const span = lines.span(c.startOffset, c.startOffset + c.image.length);
    if (c.tokenType === T.UnterminatedBlockComment) diagnostics.push(diagnostic("unterminatedComment", span, [], opts));
    comments.push({ kind: c.tokenType === T.LineComment ? "LineComment" : "BlockComment", text: c.image, span });
  }
  return { tokens: result.tokens, comments, diagnostics, lines };
}

function syntaxDiagnostic(e: IRecognitionException, lines: LineIndex, file: string | undefined, prev: IToken | undefined): Diagnostic {
  let p: SyntaxErrorPayload;
  try {
    p = JSON.parse(e.message) as SyntaxErrorPayload;
  } catch {
    p = { expected: "something else", found: describeToken(e.token), rule: "" };
  }
  const tok = e.token;
  let span: Span;
  if (tok.tokenType !== EOF && Number.isFinite(tok.startOffset)) {
    span = lines.span(tok.startOffset, tok.startOffset + tok.image.length);
  } else {
    // At the end of the file: point just after the last real token.
    const at = prev && Number.isFinite(prev.startOffset) ? prev.startOffset + prev.image.length : lines.text.length;
    span = lines.span(at, at);
  }
  const opts = file === undefined ? {} : { file };
  if (p.rule === "file") return diagnostic("expectedDeclaration", span, [p.found], opts);
  if (p.rule === "segmentDecl" && p.expected === "'}'") {
    p.expected = "a setting (description, owner, tags, entity, refresh, ttl, metric, where) or '}'";
  }
  if (p.expected === "an expression") return diagnostic("expectedExpression", span, [p.found], opts);
  if (e.name === "NotAllInputParsedException") return diagnostic("extraToken", span, [p.found], opts);
  return diagnostic("unexpectedToken", span, [p.expected, p.found], opts);
}

/** The deepest nesting of brackets, and the longest run of prefix operators, the parser accepts. */
export const MAX_NESTING = 32;
export const MAX_PREFIX_RUN = 256;

/**
 * The parser recurses once per nesting level, so absurdly deep input would overflow the stack.
 * Declarations nested deeper than the limits are reported (SEG020) and left out of the parse.
 */
function withoutTooDeep(tokens: IToken[], lines: LineIndex, opts: { file?: string }, out: Diagnostic[]): IToken[] {
  let depth = 0;
  let run = 0;
  let declStart = 0;
  const keep: IToken[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const type = t.tokenType;
    if (type === T.Segment || type === T.Const) {
      declStart = keep.length;
      depth = 0;
    }
    if (type === T.LParen || type === T.LBracket) depth++;
    else if (type === T.RParen || type === T.RBracket) depth = Math.max(0, depth - 1);
    run = type === T.Not || type === T.Minus ? run + 1 : 0;
    keep.push(t);
    if (depth > MAX_NESTING || run > MAX_PREFIX_RUN) {
      out.push(diagnostic("nestingTooDeep", lines.span(t.startOffset, t.startOffset + t.image.length), [String(depth > MAX_NESTING ? MAX_NESTING : MAX_PREFIX_RUN)], opts));
      keep.length = declStart;
      while (i + 1 < tokens.length && tokens[i + 1]!.tokenType !== T.Segment && tokens[i + 1]!.tokenType !== T.Const) i++;
      depth = 0;
      run = 0;
    }
  }
  return keep;
}

/** Parses one `.seg` source. `file` names it in diagnostics. */
export function parse(text: string, file?: string): ParseResult {
  const lexed = lex(text, file);
  const parser = segParser();
  const depthDiagnostics: Diagnostic[] = [];
  const tokens = withoutTooDeep(lexed.tokens, lexed.lines, file === undefined ? {} : { file }, depthDiagnostics);
  parser.input = tokens;
  parser.actionDiagnostics = [];
  const diagnostics = [...lexed.diagnostics, ...depthDiagnostics];
  const declarations: A.Declaration[] = [];
  const opts = file === undefined ? {} : { file };
  const recognition: IRecognitionException[] = [];

  for (let guard = 0; guard <= tokens.length; guard++) {
    const before = parser.peek();
    let decls: A.Declaration[] | undefined;
    try {
      decls = parser.file();
    } catch (e) {
      // Last line of defence for input the nesting limits did not foresee: the stack ran out.
      // (Recognition errors never get here: Chevrotain handles them inside the rules.)
      if (!(e instanceof RangeError)) throw e;
      const at = parser.peek();
      const offset = Number.isFinite(at.startOffset) ? at.startOffset : text.length;
      diagnostics.push(diagnostic("nestingTooDeep", lexed.lines.span(offset, offset), [String(MAX_NESTING)], opts));
      break;
    }
    declarations.push(...(decls ?? []));
    recognition.push(...parser.errors.filter((e) => e.name !== "NotAllInputParsedException"));
    parser.errors = [];
    if (parser.peekType() === EOF) break;
    // Something that cannot start a declaration: report it once, then skip to the next one.
    const junk = parser.peek();
    const span = lexed.lines.span(junk.startOffset, junk.startOffset + junk.image.length);
    diagnostics.push(diagnostic("expectedDeclaration", span, [describeToken(junk)], opts));
    do parser.skip();
    while (![EOF, T.Segment, T.Const].includes(parser.peekType()));
    if (parser.peek() === before) parser.skip();
  }

  const lexErrors = lexed.diagnostics.filter((d) => d.code === "SEG001");
  const afterLexError = (d: Diagnostic) =>
    lexErrors.some((e) => e.span.start.line === d.span.start.line && e.span.start.offset < d.span.start.offset);
  const tokenIndex = recognition.length > 0 ? new Map(tokens.map((t, i) => [t, i] as const)) : new Map<IToken, number>();
  const seen = new Set<number>();
  for (const e of recognition) {
    const i = tokenIndex.get(e.token);
    const prev = i === undefined ? tokens[tokens.length - 1] : tokens[i - 1];
    const d = syntaxDiagnostic(e, lexed.lines, file, prev);
    // One mistake, one report: Chevrotain may raise several errors at the same token, and a
    // character the lexer dropped usually breaks the rest of its line.
    if (seen.has(d.span.start.offset) || afterLexError(d)) continue;
    seen.add(d.span.start.offset);
    diagnostics.push(d);
  }
  for (const d of parser.actionDiagnostics) diagnostics.push(file === undefined ? d : { ...d, file });

  const fileNode: A.SegFile = {
    kind: "File",
    declarations,
    comments: lexed.comments,
    span: lexed.lines.span(0, text.length),
  };
  const errorOffsets = diagnostics.filter((d) => d.severity === "error").map((d) => d.span.start.offset);
  diagnostics.push(...checkStructure(fileNode, file, errorOffsets));
  return { file: fileNode, diagnostics: sortDiagnostics(diagnostics) };
}
