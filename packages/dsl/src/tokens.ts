/**
 * The seg lexer: token types and the one reused Chevrotain lexer.
 */
import type { TokenType } from "chevrotain";
import { createToken, Lexer } from "./chevrotain.js";

/** Any name: identifiers, quoted names and (after a dot) keywords. */
export const AnyName = createToken({ name: "AnyName", pattern: Lexer.NA, label: "a name" });
/** A name that may stand on its own: identifiers and quoted names. */
export const Name = createToken({ name: "Name", pattern: Lexer.NA, label: "a name", categories: [AnyName] });
/** Every reserved word. */
export const Keyword = createToken({ name: "Keyword", pattern: Lexer.NA, categories: [AnyName] });
/** String literals, closed or not. */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: Lexer.NA, label: "a string" });

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\f\uFEFF]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n\r]*/, group: "comments" });
export const BlockComment = createToken({
  name: "BlockComment",
  pattern: /\/\*[\s\S]*?\*\//,
  group: "comments",
  line_breaks: true,
});
/** A block comment that runs to the end of the file; reported as SEG004. */
export const UnterminatedBlockComment = createToken({
  name: "UnterminatedBlockComment",
  pattern: /\/\*[\s\S]*/,
  group: "comments",
  line_breaks: true,
});

export const Identifier = createToken({
  name: "Identifier",
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  label: "a name",
  categories: [Name],
});
export const QuotedName = createToken({
  name: "QuotedName",
  pattern: /`(?:[^`\\\n\r]|\\[^\n\r])*`/,
  label: "a name",
  categories: [Name],
});
/** A backtick name without its closing backtick; reported as SEG007. */
export const UnterminatedQuotedName = createToken({
  name: "UnterminatedQuotedName",
  pattern: /`(?:[^`\\\n\r]|\\[^\n\r])*\\?/,
  label: "a name",
  categories: [Name],
});
export const StringToken = createToken({
  name: "String",
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  label: "a string",
  categories: [StringLiteral],
});
/** A string without its closing quote; reported as SEG002. */
export const UnterminatedString = createToken({
  name: "UnterminatedString",
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/,
  label: "a string",
  categories: [StringLiteral],
});

export const TimestampToken = createToken({
  name: "Timestamp",
  pattern: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})/,
  label: "a timestamp",
});
export const DateToken = createToken({ name: "Date", pattern: /\d{4}-\d{2}-\d{2}/, label: "a date" });
export const DurationToken = createToken({
  name: "Duration",
  pattern: /\d[\d_]*(?:\.\d[\d_]*)?[ \t]*(?:seconds?|minutes?|hours?|days?|weeks?)(?![A-Za-z0-9_])/,
  label: "a duration",
  line_breaks: false,
});
export const NumberToken = createToken({
  name: "Number",
  pattern: /\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?/,
  label: "a number",
});

function punct(name: string, pattern: string): TokenType {
  return createToken({ name, pattern, label: `'${pattern}'` });
}
export const LCurly = punct("LCurly", "{");
export const RCurly = punct("RCurly", "}");
export const LParen = punct("LParen", "(");
export const RParen = punct("RParen", ")");
export const LBracket = punct("LBracket", "[");
export const RBracket = punct("RBracket", "]");
export const Comma = punct("Comma", ",");
export const Dot = punct("Dot", ".");
export const NotEquals = punct("NotEquals", "!=");
export const LessEquals = punct("LessEquals", "<=");
export const GreaterEquals = punct("GreaterEquals", ">=");
export const Equals = punct("Equals", "=");
export const Less = punct("Less", "<");
export const Greater = punct("Greater", ">");
export const Plus = punct("Plus", "+");
export const Minus = punct("Minus", "-");
export const Star = punct("Star", "*");
export const Slash = punct("Slash", "/");

/** Comparison operators, as one category. */
export const CompareOp = createToken({ name: "CompareOp", pattern: Lexer.NA, label: "a comparison" });
for (const t of [NotEquals, LessEquals, GreaterEquals, Equals, Less, Greater]) {
  t.CATEGORIES = [CompareOp];
}

/** Keyword token types by their word. */
export const KEYWORDS: Record<string, TokenType> = {};
function keyword(word: string, extra: TokenType[] = []): TokenType {
  const name = word === "as_of" ? "AsOf" : word.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
  const t = createToken({
    name: `Kw${name}`,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    label: `'${word}'`,
    categories: [Keyword, ...extra],
  });
  KEYWORDS[word] = t;
  return t;
}

/** The aggregate functions, as one category. */
export const AggregateKw = createToken({ name: "AggregateKw", pattern: Lexer.NA, label: "an aggregate" });

export const Segment = keyword("segment");
export const Const = keyword("const");
export const Description = keyword("description");
export const Owner = keyword("owner");
export const Tags = keyword("tags");
export const Entity = keyword("entity");
export const Key = keyword("key");
export const Refresh = keyword("refresh");
export const Every = keyword("every");
export const Ttl = keyword("ttl");
export const Metric = keyword("metric");
export const Where = keyword("where");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");
export const In = keyword("in");
export const Is = keyword("is");
export const Null = keyword("null");
export const True = keyword("true");
export const False = keyword("false");
export const Between = keyword("between");
export const Ago = keyword("ago");
export const Last = keyword("last");
export const The = keyword("the");
export const Ever = keyword("ever");
export const Contains = keyword("contains");
export const Starts = keyword("starts");
export const Ends = keyword("ends");
export const With = keyword("with");
export const Matches = keyword("matches");
export const AsOf = keyword("as_of");
export const CountDistinct = keyword("count_distinct", [AggregateKw]);
export const Count = keyword("count", [AggregateKw]);
export const Sum = keyword("sum", [AggregateKw]);
export const Avg = keyword("avg", [AggregateKw]);
export const Min = keyword("min", [AggregateKw]);
export const Max = keyword("max", [AggregateKw]);
export const FirstSeen = keyword("first_seen", [AggregateKw]);
export const LastSeen = keyword("last_seen", [AggregateKw]);
export const Exists = keyword("exists", [AggregateKw]);

/** Every token type, in lexing priority order. */
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedBlockComment,
  StringToken,
  UnterminatedString,
  QuotedName,
  UnterminatedQuotedName,
  TimestampToken,
  DateToken,
  DurationToken,
  NumberToken,
  // Longest first, so `last_seen` is tried before `last`.
  ...Object.entries(KEYWORDS)
    .sort((a, b) => b[0].length - a[0].length)
    .map(([, t]) => t),
  Identifier,
  LCurly,
  RCurly,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Dot,
  NotEquals,
  LessEquals,
  GreaterEquals,
  Equals,
  Less,
  Greater,
  Plus,
  Minus,
  Star,
  Slash,
  // Categories (no pattern of their own).
  AnyName,
  Name,
  Keyword,
  StringLiteral,
  CompareOp,
  AggregateKw,
];

/** The one reused lexer. */
export const segLexer = new Lexer(ALL_TOKENS, {
  positionTracking: "full",
  ensureOptimizations: false,
  recoveryEnabled: true,
});
