/**
 * fast-check generators for well-formed `.seg` sources, following docs/grammar.md.
 *
 * The generators build a span-free syntax tree (the same shape as `@seg/dsl`'s AST, every span
 * set to a dummy value) and print it with a random but valid layout: whitespace, CRLF, comments,
 * optional `the`, singular/plural units, escapes, trailing commas. So for every generated source
 *
 *     stripSpans(parse(source.text).file) deep-equals stripSpans(source.file)
 *     parse(source.text).diagnostics is empty
 *     parse(source.text).file.comments.map(c => c.text) equals source.comments
 *
 * The rules are *syntactically* well-formed only: names, types and arities are random, so the
 * checker will reject most of them. Parentheses that precedence requires are explicit `Paren`
 * nodes in the tree (the parser keeps them), so printing never adds any.
 *
 * Reused by the parser property tests, the formatter round-trip tests and (later) the compiler's
 * differential tests. Layout seed 0 prints a canonical layout: single spaces, one item per line,
 * no comments.
 *
 *   fc.property(arbSegSource(), (src) => { parse(src.text) ... })         text + expected tree
 *   fc.property(arbSegFile(), (tree) => { ... stripSpans(parse(myPrinter(tree)).file) ... })
 *   fc.property(arbExpr({ maxDepth: 3 }), (e) => { ... printExpr(e) ... })
 *   arbSegFile({ names: { events: ["purchase"], fields: ["amount"] } })   narrower vocabulary
 */
import fc from "fast-check";
import type * as A from "@seg/dsl";

// --- vocabulary (docs/grammar.md) -------------------------------------------------------------

/** The reserved words, as listed in docs/grammar.md (kept independent of the lexer on purpose). */
export const SEG_KEYWORDS: readonly string[] = [
  "segment", "const", "description", "owner", "tags", "entity", "key", "refresh", "every", "ttl",
  "metric", "where", "and", "or", "not", "in", "is", "null", "true", "false", "between", "ago",
  "last", "the", "ever", "contains", "starts", "ends", "with", "matches", "as_of", "count",
  "count_distinct", "sum", "avg", "min", "max", "first_seen", "last_seen", "exists",
];
const KEYWORD_SET = new Set(SEG_KEYWORDS);

export const AGGREGATES: readonly A.AggregateFunction[] = [
  "count", "count_distinct", "sum", "avg", "min", "max", "first_seen", "last_seen", "exists",
];
const UNITS: readonly A.TimeUnit[] = ["second", "minute", "hour", "day", "week"];
const COMPARE_OPS = ["=", "!=", "<", "<=", ">", ">="] as const;
const STRING_OPS: readonly A.StringOperator[] = ["contains", "starts with", "ends with", "matches"];

/** Realistic names (the example project's events, fields, functions, segments). */
export interface NamePools {
  events: string[];
  fields: string[];
  functions: string[];
  segments: string[];
  consts: string[];
}

export const DEFAULT_NAMES: NamePools = {
  events: ["purchase", "page_view", "add_to_cart", "customer"],
  fields: [
    "amount", "category", "country", "email", "signup_time", "ts", "url", "path", "sku", "quantity",
    "coupon", "channel", "currency", "device", "referrer", "duration_ms", "loyalty_tier", "birth_year",
    "marketing_opt_in", "sms_opt_in", "customer_id", "price", "days", "hours",
  ],
  functions: ["lower", "upper", "trim", "floor", "ceil", "round", "abs", "coalesce", "days_since", "length"],
  segments: ["high_value", "churned", "vip", "new_signups", "window_shoppers", "email_reachable"],
  consts: ["threshold", "gold_threshold", "holiday_launch", "early_gift_cutoff", "min_views"],
};

/** Options for the generators. */
export interface RuleGenOptions {
  /** Maximum expression nesting (default 4). */
  maxDepth?: number;
  /** Maximum declarations per file (default 4, at least 1 is generated). */
  maxDeclarations?: number;
  /** Name pools; random identifiers and quoted names are mixed in as well. */
  names?: Partial<NamePools>;
}

// --- span-free nodes --------------------------------------------------------------------------

const POS: A.Position = Object.freeze({ offset: 0, line: 1, column: 1 }) as A.Position;
/** The dummy span of every generated node (compare trees with `stripSpans`). */
export const NO_SPAN: A.Span = Object.freeze({ start: POS, end: POS }) as A.Span;

const name = (text: string, quoted = false): A.Name => ({ kind: "Name", text, quoted, span: NO_SPAN });
const path = (parts: A.Name[]): A.Path => ({ kind: "Path", parts, span: NO_SPAN });
const paren = (expr: A.Expr): A.Paren => ({ kind: "Paren", expr, span: NO_SPAN });
const list = (items: A.Expr[]): A.ListLiteral => ({ kind: "List", items, span: NO_SPAN });
const binary = (op: A.BinaryOperator, left: A.Expr, right: A.Expr): A.Binary => ({ kind: "Binary", op, left, right, span: NO_SPAN });

/** Binding strength of an expression: 1 or, 2 and, 3 not, 4 predicate, 5 +-, 6 * /, 7 unary -, 8 primary. */
export function precedence(e: A.Expr): number {
  switch (e.kind) {
    case "Binary":
      if (e.op === "or") return 1;
      if (e.op === "and") return 2;
      if (e.op === "+" || e.op === "-") return 5;
      if (e.op === "*" || e.op === "/") return 6;
      return 4;
    case "Unary":
      return e.op === "not" ? 3 : 7;
    case "InList":
    case "Between":
    case "IsNull":
    case "StringTest":
    case "WindowTest":
      return 4;
    default:
      return 8;
  }
}

/** `e`, in parentheses when it binds less tightly than `min`. */
function atLeast(e: A.Expr, min: number): A.Expr {
  return precedence(e) >= min ? e : paren(e);
}

function binaryLevel(op: A.BinaryOperator): number {
  return precedence(binary(op, paren(list([])), paren(list([]))));
}

// --- leaves -----------------------------------------------------------------------------------

function isKeyword(word: string): boolean {
  return KEYWORD_SET.has(word);
}

const SPECIAL_CHARS = ['"', "\\", "`", "\n", "\r", "\t", "\0", "\u2028", "\u{1F600}", "é", "\uFEFF", "*/", "//", "{", "}"];

/** One "character" for string values and quoted names: ASCII, any code point, lone surrogates, specials. */
export const arbTextUnit: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }), weight: 6 },
  { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), weight: 1 },
  { arbitrary: fc.constantFrom(...SPECIAL_CHARS), weight: 2 },
);

const REALISTIC_STRINGS = [
  "US", "CA", "GB", "growth@shop.example", "High-value customers", "toys", "/holiday", "google.",
  "utm_source=newsletter", "Gen Z — born 1997 to 2012", "", "bronze", "^[a-z]+@", "a\"quoted\" word",
];

export const arbStringValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...REALISTIC_STRINGS), weight: 2 },
  { arbitrary: fc.string({ unit: arbTextUnit, maxLength: 12 }), weight: 1 },
);

const arbStringLit: fc.Arbitrary<A.StringLiteral> = arbStringValue.map((value) => ({ kind: "String", value, span: NO_SPAN }));

const arbIdentifier: fc.Arbitrary<string> = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,9}$/)
  .filter((s) => !isKeyword(s));

function arbNameFrom(pool: readonly string[]): fc.Arbitrary<A.Name> {
  const pooled = pool.filter((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !isKeyword(s));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...(pooled.length > 0 ? pooled : ["x"])).map((t) => name(t)), weight: 6 },
    { arbitrary: arbIdentifier.map((t) => name(t)), weight: 2 },
    { arbitrary: fc.string({ unit: arbTextUnit, minLength: 1, maxLength: 8 }).map((t) => name(t, true)), weight: 1 },
    { arbitrary: fc.constantFrom(...SEG_KEYWORDS).map((t) => name(t, true)), weight: 1 },
  );
}

/** Digits with `_` between some of them (never doubled, never at an edge). */
function withUnderscores(digits: string, style: number): string {
  if (style === 0 || digits.length < 2) return digits;
  if (style === 1) {
    // Thousands grouping: 1_000_000.
    let out = "";
    for (let i = 0; i < digits.length; i++) {
      if (i > 0 && (digits.length - i) % 3 === 0) out += "_";
      out += digits[i];
    }
    return out;
  }
  return digits.split("").join("_");
}

const arbDigits = (maxLen: number) => fc.stringMatching(new RegExp(`^[0-9]{1,${maxLen}}$`));

const arbIntRaw: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.nat({ max: 100 }).map(String), fc.nat({ max: 1_000_000_000 }).map(String), arbDigits(12)), fc.nat({ max: 4 }))
  .map(([d, style]) => withUnderscores(d, style < 3 ? 0 : style - 2));

/** Source text of a NUMBER token: `12`, `1_000`, `12.5`, `1e6`, `2.5E-3`. */
export const arbNumberRaw: fc.Arbitrary<string> = fc
  .tuple(
    arbIntRaw,
    fc.option(arbDigits(4), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), fc.integer({ min: 0, max: 99 })), { nil: undefined }),
  )
  .map(([int, frac, exp]) => int + (frac === undefined ? "" : "." + frac) + (exp === undefined ? "" : exp[0] + exp[1] + exp[2]));

const numberValue = (raw: string) => Number(raw.replace(/_/g, ""));

const arbNumber: fc.Arbitrary<A.NumberLiteral> = arbNumberRaw.map((raw) => ({
  kind: "Number",
  value: numberValue(raw),
  raw,
  span: NO_SPAN,
}));

/** A duration such as `30 days`, `1.5 hours`, `1_000 seconds`. */
export const arbDuration: fc.Arbitrary<A.DurationLiteral> = fc
  .tuple(fc.oneof(arbIntRaw, fc.tuple(arbIntRaw, arbDigits(3)).map(([i, f]) => `${i}.${f}`)), fc.constantFrom(...UNITS))
  .map(([raw, unit]) => ({ kind: "Duration", amount: numberValue(raw), unit, raw, span: NO_SPAN }));

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

const arbDateText: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.integer({ min: 1990, max: 2040 }), fc.integer({ min: 1000, max: 9999 })), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }))
  .map(([y, m, d]) => `${pad(y, 4)}-${pad(m)}-${pad(Math.min(d, daysIn(y, m)))}`);

const arbTimestampText: fc.Arbitrary<string> = fc
  .tuple(
    arbDateText,
    fc.integer({ min: 0, max: 23 }),
    fc.integer({ min: 0, max: 59 }),
    fc.option(fc.tuple(fc.integer({ min: 0, max: 59 }), fc.option(arbDigits(9), { nil: undefined })), { nil: undefined }),
    fc.oneof(fc.constant("Z"), fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([s, h, m]) => `${s}${pad(h)}:${pad(m)}`)),
  )
  .map(([date, h, mi, sec, zone]) => {
    const s = sec === undefined ? "" : `:${pad(sec[0])}${sec[1] === undefined ? "" : "." + sec[1]}`;
    return `${date}T${pad(h)}:${pad(mi)}${s}${zone}`;
  });

// --- expressions ------------------------------------------------------------------------------

interface Vocabulary {
  event: fc.Arbitrary<A.Name>;
  field: fc.Arbitrary<A.Name>;
  fn: fc.Arbitrary<A.Name>;
  segment: fc.Arbitrary<A.Name>;
  value: fc.Arbitrary<A.Name>;
}

function vocabulary(options: RuleGenOptions): Vocabulary {
  const pools = { ...DEFAULT_NAMES, ...options.names };
  return {
    event: arbNameFrom(pools.events),
    field: arbNameFrom(pools.fields),
    fn: arbNameFrom(pools.functions),
    segment: arbNameFrom(pools.segments),
    value: arbNameFrom([...pools.consts, ...pools.fields]),
  };
}

/** A field after a dot: any name, including a bare keyword (`purchase.count`). */
function arbFieldPart(v: Vocabulary): fc.Arbitrary<A.Name> {
  return fc.oneof({ arbitrary: v.field, weight: 5 }, { arbitrary: fc.constantFrom(...SEG_KEYWORDS).map((k) => name(k)), weight: 1 });
}

function arbPath(first: fc.Arbitrary<A.Name>, v: Vocabulary, maxFields = 2): fc.Arbitrary<A.Path> {
  return fc.tuple(first, fc.array(arbFieldPart(v), { maxLength: maxFields })).map(([f, rest]) => path([f, ...rest]));
}

const arbLastWindow: fc.Arbitrary<A.LastWindow> = arbDuration.map((duration) => ({ kind: "LastWindow", duration, span: NO_SPAN }));
const arbAgoWindow: fc.Arbitrary<A.AgoWindow> = fc
  .tuple(arbDuration, arbDuration)
  .map(([from, to]) => ({ kind: "AgoWindow", from, to, span: NO_SPAN }));
const arbAggregateWindow: fc.Arbitrary<A.Window> = fc.oneof(
  { arbitrary: arbLastWindow, weight: 4 },
  { arbitrary: arbAgoWindow, weight: 1 },
  { arbitrary: fc.constant<A.EverWindow>({ kind: "EverWindow", span: NO_SPAN }), weight: 1 },
);

function arbAggregate(v: Vocabulary, filter: fc.Arbitrary<A.Expr> | null): fc.Arbitrary<A.Aggregate> {
  return fc
    .tuple(
      fc.constantFrom(...AGGREGATES),
      arbPath(v.event, v, 1),
      fc.option(arbAggregateWindow, { nil: null, freq: 3 }),
      filter === null ? fc.constant(null) : fc.option(filter, { nil: null, freq: 2 }),
    )
    .map(([fn, source, window, f]) => ({ kind: "Aggregate", fn, fnSpan: NO_SPAN, source, window, filter: f, span: NO_SPAN }));
}

function arbLeaf(v: Vocabulary): fc.Arbitrary<A.Expr> {
  return fc.oneof(
    { arbitrary: arbNumber, weight: 4 },
    { arbitrary: arbStringLit, weight: 3 },
    { arbitrary: fc.boolean().map((value): A.Expr => ({ kind: "Boolean", value, span: NO_SPAN })), weight: 1 },
    { arbitrary: fc.constant<A.Expr>({ kind: "Null", span: NO_SPAN }), weight: 1 },
    { arbitrary: fc.constant<A.Expr>({ kind: "AsOf", span: NO_SPAN }), weight: 1 },
    { arbitrary: arbDateText.map((value): A.Expr => ({ kind: "Date", value, span: NO_SPAN })), weight: 1 },
    { arbitrary: arbTimestampText.map((value): A.Expr => ({ kind: "Timestamp", value, span: NO_SPAN })), weight: 1 },
    { arbitrary: arbDuration, weight: 2 },
    { arbitrary: arbPath(v.value, v), weight: 6 },
    { arbitrary: v.segment.map((n): A.Expr => ({ kind: "SegmentRef", name: n, span: NO_SPAN })), weight: 1 },
    { arbitrary: arbAggregate(v, null), weight: 3 },
  );
}

/** Well-formed expressions of at most `maxDepth` levels of nesting. */
export function arbExpr(options: RuleGenOptions = {}): fc.Arbitrary<A.Expr> {
  const v = vocabulary(options);
  const leaf = arbLeaf(v);
  const memo: fc.Arbitrary<A.Expr>[] = [leaf];
  const at = (depth: number): fc.Arbitrary<A.Expr> => {
    const cached = memo[depth];
    if (cached) return cached;
    const sub = at(depth - 1);
    const bool = fc.boolean();
    const composite = fc.oneof(
      // Logic.
      {
        arbitrary: fc.tuple(fc.constantFrom<A.BinaryOperator>("or", "and"), sub, sub).map(([op, l, r]) => {
          const lvl = binaryLevel(op);
          return binary(op, atLeast(l, lvl), atLeast(r, lvl + 1)) as A.Expr;
        }),
        weight: 4,
      },
      { arbitrary: sub.map((e): A.Expr => ({ kind: "Unary", op: "not", operand: atLeast(e, 3), span: NO_SPAN })), weight: 1 },
      // Predicates.
      {
        arbitrary: fc.tuple(fc.constantFrom(...COMPARE_OPS), sub, sub).map(([op, l, r]) => binary(op, atLeast(l, 5), atLeast(r, 5)) as A.Expr),
        weight: 5,
      },
      {
        arbitrary: fc.tuple(sub, fc.array(sub, { maxLength: 4 }), bool).map(
          ([e, items, negated]): A.Expr => ({ kind: "InList", negated, operand: atLeast(e, 5), list: list(items), span: NO_SPAN }),
        ),
        weight: 2,
      },
      {
        arbitrary: fc.tuple(sub, sub, sub, bool).map(
          ([e, low, high, negated]): A.Expr => ({
            kind: "Between", negated, operand: atLeast(e, 5), low: atLeast(low, 5), high: atLeast(high, 5), span: NO_SPAN,
          }),
        ),
        weight: 1,
      },
      {
        arbitrary: fc.tuple(sub, bool).map(([e, negated]): A.Expr => ({ kind: "IsNull", negated, operand: atLeast(e, 5), span: NO_SPAN })),
        weight: 1,
      },
      {
        arbitrary: fc.tuple(fc.constantFrom(...STRING_OPS), sub, sub, bool).map(
          ([op, e, pattern, negated]): A.Expr => ({
            kind: "StringTest", op, negated, operand: atLeast(e, 5), pattern: atLeast(pattern, 5), span: NO_SPAN,
          }),
        ),
        weight: 1,
      },
      {
        arbitrary: fc.tuple(sub, fc.oneof({ arbitrary: arbLastWindow, weight: 3 }, arbAgoWindow), bool).map(
          ([e, window, negated]): A.Expr => ({ kind: "WindowTest", negated, operand: atLeast(e, 5), window, span: NO_SPAN }),
        ),
        weight: 1,
      },
      // Arithmetic.
      {
        arbitrary: fc.tuple(fc.constantFrom<A.BinaryOperator>("+", "-", "*", "/"), sub, sub).map(([op, l, r]) => {
          const lvl = binaryLevel(op);
          return binary(op, atLeast(l, lvl), atLeast(r, lvl + 1)) as A.Expr;
        }),
        weight: 3,
      },
      { arbitrary: sub.map((e): A.Expr => ({ kind: "Unary", op: "-", operand: atLeast(e, 7), span: NO_SPAN })), weight: 1 },
      // Primaries with children.
      { arbitrary: sub.map((e): A.Expr => paren(e)), weight: 1 },
      { arbitrary: fc.array(sub, { maxLength: 4 }).map((items): A.Expr => list(items)), weight: 1 },
      {
        arbitrary: fc.tuple(v.fn, fc.array(sub, { maxLength: 3 })).map(([callee, args]): A.Expr => ({ kind: "Call", callee, args, span: NO_SPAN })),
        weight: 2,
      },
      { arbitrary: arbAggregate(v, sub), weight: 3 },
    );
    const arb = fc.oneof({ arbitrary: leaf, weight: 2 }, { arbitrary: composite, weight: 3 });
    memo[depth] = arb;
    return arb;
  };
  return at(options.maxDepth ?? 4);
}

// --- declarations -----------------------------------------------------------------------------

/** Deterministic shuffle; seed 0 keeps the order. */
function shuffle<T>(items: T[], seed: number): T[] {
  if (seed === 0) return items;
  const rnd = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function arbSegment(options: RuleGenOptions = {}): fc.Arbitrary<A.SegmentDecl> {
  const v = vocabulary(options);
  const expr = arbExpr(options);
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  return fc
    .record({
      name: fc.oneof({ arbitrary: v.segment, weight: 1 }, { arbitrary: arbNameFrom([]), weight: 1 }),
      title: fc.option(arbStringLit, { nil: null }),
      description: opt(arbStringLit),
      owner: opt(arbStringLit),
      tags: opt(fc.array(arbStringLit, { maxLength: 4 })),
      entity: opt(fc.tuple(v.event, fc.option(v.field, { nil: null }))),
      refresh: opt(arbDuration),
      ttl: opt(arbDuration),
      metrics: fc.array(fc.tuple(v.field, expr), { maxLength: 3 }),
      where: expr,
      order: fc.nat(),
    })
    .map((r) => {
      const items: A.SegmentItem[] = [];
      if (r.description) items.push({ kind: "Description", value: r.description, span: NO_SPAN });
      if (r.owner) items.push({ kind: "Owner", value: r.owner, span: NO_SPAN });
      if (r.tags) items.push({ kind: "Tags", tags: r.tags, span: NO_SPAN });
      if (r.entity) items.push({ kind: "Entity", entity: r.entity[0], key: r.entity[1], span: NO_SPAN });
      if (r.refresh) items.push({ kind: "Refresh", every: r.refresh, span: NO_SPAN });
      if (r.ttl) items.push({ kind: "Ttl", duration: r.ttl, span: NO_SPAN });
      for (const [n, e] of r.metrics) items.push({ kind: "Metric", name: n, expr: e, span: NO_SPAN });
      items.push({ kind: "Where", condition: r.where, span: NO_SPAN });
      return { kind: "Segment", name: r.name, title: r.title, items: shuffle(items, r.order), span: NO_SPAN };
    });
}

export function arbConst(options: RuleGenOptions = {}): fc.Arbitrary<A.ConstDecl> {
  const pools = { ...DEFAULT_NAMES, ...options.names };
  return fc
    .tuple(arbNameFrom(pools.consts), arbExpr(options))
    .map(([n, expr]) => ({ kind: "Const", name: n, expr, span: NO_SPAN }));
}

/** A span-free file tree of 1..maxDeclarations declarations (mostly segments). */
export function arbSegFile(options: RuleGenOptions = {}): fc.Arbitrary<A.SegFile> {
  const decl: fc.Arbitrary<A.Declaration> = fc.oneof(
    { arbitrary: arbSegment(options) as fc.Arbitrary<A.Declaration>, weight: 3 },
    { arbitrary: arbConst(options) as fc.Arbitrary<A.Declaration>, weight: 1 },
  );
  return fc
    .array(decl, { minLength: 1, maxLength: options.maxDeclarations ?? 4 })
    .map((declarations) => ({ kind: "File", declarations, comments: [], span: NO_SPAN }));
}

// --- printing ---------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tok {
  text: string;
  /** Canonical layout: no space before / after this token. */
  glueBefore?: boolean;
  glueAfter?: boolean;
  /** Random layouts: whitespace before / after this token may be left out. */
  tightBefore?: boolean;
  tightAfter?: boolean;
  /** Canonical layout: a line break (with this indent) before the token. */
  newline?: string;
}

/** Canonical layout: no space before / after these. */
const GLUE_BEFORE = new Set([")", "]", ",", "."]);
const GLUE_AFTER = new Set(["(", "[", "."]);
/**
 * Random layouts may also drop the space around these (still one token each: `a<=-1`, `x)and`).
 * Never around binary `-` (`2026 - 10 - 15` would lex as a date) or between two words.
 */
const TIGHT_BEFORE = new Set([...GLUE_BEFORE, "(", "[", "{", "}", "=", "!=", "<", "<=", ">", ">=", "+", "*", "/"]);
const TIGHT_AFTER = new Set([...GLUE_AFTER, ")", "]", ",", "{", "}", "=", "!=", "<", "<=", ">", ">=", "+", "*", "/"]);

const WHITESPACE = [" ", " ", " ", " ", "  ", "\t", "\n", "\n  ", "\n    ", "\r\n", "\r\n  ", "\r", "\n\n", " \f ", " \uFEFF"];
const COMMENT_CHARS = ["a", "b", " ", "*", "/", "\"", "`", "é", "\u{1F600}", "\t", "{", "}", "segment", "where", "\uD800"];

class Printer {
  readonly toks: Tok[] = [];
  readonly comments: string[] = [];
  private readonly rnd: (() => number) | null;

  constructor(seed: number) {
    this.rnd = seed === 0 ? null : mulberry32(seed);
  }

  /** True with probability p (never in canonical layout). */
  chance(p: number): boolean {
    return this.rnd !== null && this.rnd() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rnd!() * items.length)]!;
  }

  tok(text: string, newline?: string): void {
    const t: Tok = { text };
    if (GLUE_BEFORE.has(text)) t.glueBefore = true;
    if (GLUE_AFTER.has(text)) t.glueAfter = true;
    if (TIGHT_BEFORE.has(text)) t.tightBefore = true;
    if (TIGHT_AFTER.has(text)) t.tightAfter = true;
    if (newline !== undefined) t.newline = newline;
    this.toks.push(t);
  }

  private comment(): string {
    let body = "";
    const n = Math.floor(this.rnd!() * 6);
    for (let i = 0; i < n; i++) body += this.pick(COMMENT_CHARS);
    if (this.chance(0.5)) {
      const c = `/*${body.replaceAll("*/", "* /")}*/`;
      this.comments.push(c);
      return ` ${c} `;
    }
    const c = `//${body}`;
    this.comments.push(c);
    return ` ${c}${this.pick(["\n", "\r\n", "\r", "\n  "])}`;
  }

  /** Whitespace (and maybe comments) between two tokens. */
  private gap(prev: Tok | undefined, next: Tok | undefined): string {
    if (this.rnd === null) {
      if (!prev) return "";
      if (!next) return "\n";
      if (next.newline !== undefined) return next.newline;
      return prev.glueAfter || next.glueBefore ? "" : " ";
    }
    let out = "";
    if (this.chance(0.06)) out += this.comment();
    if (this.chance(0.03)) out += this.comment();
    if (out === "" && prev && next && (prev.tightAfter || next.tightBefore) && this.chance(0.5)) return "";
    if (out === "" && (!prev || !next) && this.chance(0.5)) return "";
    return (next?.newline !== undefined && this.chance(0.7) ? next.newline : this.pick(WHITESPACE)) + out;
  }

  render(): string {
    let out = "";
    for (let i = 0; i <= this.toks.length; i++) {
      out += this.gap(this.toks[i - 1], this.toks[i]);
      if (i < this.toks.length) out += this.toks[i]!.text;
    }
    return out;
  }

  // --- literals --------------------------------------------------------------------------------

  /** A quoted literal; in random layouts, characters are escaped in varied (valid) ways. */
  quoted(value: string, quote: '"' | "`"): string {
    let out = quote;
    for (let i = 0; i < value.length; i++) {
      const ch = value[i]!;
      const code = ch.charCodeAt(0);
      const must = ch === quote || ch === "\\" || ch === "\n" || ch === "\r";
      if (!must && !this.chance(0.08)) {
        out += ch;
        continue;
      }
      const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"', "`": "\\`", "\0": "\\0" };
      const style = this.rnd === null ? 0 : Math.floor(this.rnd() * 3);
      if (style === 0 && named[ch] !== undefined) out += named[ch];
      else if (style === 1) out += `\\u${code.toString(16).padStart(4, "0")}`;
      else out += `\\u{${code.toString(16)}}`;
    }
    return out + quote;
  }

  /** `(` right after a callee: `count(`, `lower(`. */
  openCall(): void {
    this.tok("(");
    this.toks[this.toks.length - 1]!.glueBefore = true;
  }

  name(n: A.Name): void {
    this.tok(n.quoted ? this.quoted(n.text, "`") : n.text);
  }

  duration(d: A.DurationLiteral): void {
    const space = this.rnd === null ? " " : this.pick(["", " ", " ", "\t", "  "]);
    const plural = this.rnd === null ? numberValue(d.raw) !== 1 : this.chance(0.5);
    this.tok(`${d.raw}${space}${d.unit}${plural ? "s" : ""}`);
  }

  window(w: A.Window): void {
    switch (w.kind) {
      case "LastWindow":
        this.tok("in");
        if (this.chance(0.3)) this.tok("the");
        this.tok("last");
        this.duration(w.duration);
        return;
      case "AgoWindow":
        this.tok("between");
        this.duration(w.from);
        this.tok("and");
        this.duration(w.to);
        this.tok("ago");
        return;
      case "EverWindow":
        this.tok("ever");
    }
  }

  list(items: readonly A.Expr[]): void {
    this.tok("[");
    items.forEach((e, i) => {
      if (i > 0) this.tok(",");
      this.expr(e);
    });
    if (items.length > 0 && this.chance(0.2)) this.tok(",");
    this.tok("]");
  }

  expr(e: A.Expr): void {
    switch (e.kind) {
      case "Number":
        return this.tok(e.raw);
      case "String":
        return this.tok(this.quoted(e.value, '"'));
      case "Boolean":
        return this.tok(String(e.value));
      case "Null":
        return this.tok("null");
      case "AsOf":
        return this.tok("as_of");
      case "Date":
      case "Timestamp":
        return this.tok(e.value);
      case "Duration":
        return this.duration(e);
      case "List":
        return this.list(e.items);
      case "Path":
        e.parts.forEach((p, i) => {
          if (i > 0) this.tok(".");
          this.name(p);
        });
        return;
      case "Aggregate":
        this.tok(e.fn);
        this.openCall();
        this.expr(e.source);
        if (e.window) this.window(e.window);
        if (e.filter) {
          this.tok("where");
          this.expr(e.filter);
        }
        return this.tok(")");
      case "Call":
        this.name(e.callee);
        this.openCall();
        e.args.forEach((a, i) => {
          if (i > 0) this.tok(",");
          this.expr(a);
        });
        return this.tok(")");
      case "SegmentRef":
        this.tok("in");
        return this.name(e.name);
      case "Unary":
        if (e.op === "-") {
          this.tok("-");
          const minus = this.toks[this.toks.length - 1]!;
          minus.glueAfter = true; // canonical `-x`
          minus.tightAfter = true;
        } else this.tok("not");
        return this.expr(e.operand);
      case "Binary":
        this.expr(e.left);
        this.tok(e.op);
        return this.expr(e.right);
      case "InList":
        this.expr(e.operand);
        if (e.negated) this.tok("not");
        this.tok("in");
        return this.expr(e.list);
      case "Between":
        this.expr(e.operand);
        if (e.negated) this.tok("not");
        this.tok("between");
        this.expr(e.low);
        this.tok("and");
        return this.expr(e.high);
      case "IsNull":
        this.expr(e.operand);
        this.tok("is");
        if (e.negated) this.tok("not");
        return this.tok("null");
      case "StringTest":
        this.expr(e.operand);
        if (e.negated) this.tok("not");
        for (const w of e.op.split(" ")) this.tok(w);
        return this.expr(e.pattern);
      case "WindowTest":
        this.expr(e.operand);
        if (e.negated) this.tok("not");
        return this.window(e.window);
      case "Paren":
        this.tok("(");
        this.expr(e.expr);
        return this.tok(")");
      case "Error":
        throw new Error("generated trees never contain Error nodes");
    }
  }

  item(item: A.SegmentItem): void {
    const nl = "\n  ";
    switch (item.kind) {
      case "Description":
      case "Owner":
        this.tok(item.kind === "Owner" ? "owner" : "description", nl);
        return this.expr(item.value);
      case "Tags":
        this.tok("tags", nl);
        return this.list(item.tags);
      case "Entity":
        this.tok("entity", nl);
        this.name(item.entity);
        if (item.key) {
          this.tok("key");
          this.name(item.key);
        }
        return;
      case "Refresh":
        this.tok("refresh", nl);
        this.tok("every");
        return this.duration(item.every);
      case "Ttl":
        this.tok("ttl", nl);
        return this.duration(item.duration);
      case "Metric":
        this.tok("metric", nl);
        this.name(item.name);
        this.tok("=");
        return this.expr(item.expr);
      case "Where":
        this.tok("where", nl);
        return this.expr(item.condition);
    }
  }

  decl(d: A.Declaration, first: boolean): void {
    const nl = first ? undefined : "\n\n";
    if (d.kind === "Const") {
      this.tok("const", nl);
      this.name(d.name);
      this.tok("=");
      return this.expr(d.expr);
    }
    this.tok("segment", nl);
    this.name(d.name);
    if (d.title) this.expr(d.title);
    this.tok("{");
    for (const item of d.items) this.item(item);
    this.tok("}", "\n");
  }
}

/** A printed source with the tree it must parse to. */
export interface GeneratedSource {
  text: string;
  /** The expected tree (dummy spans; compare with `stripSpans`). */
  file: A.SegFile;
  /** The comments the printer wrote, in order, as `parse` must report them. */
  comments: string[];
  /** The layout seed used (0 = canonical). */
  layout: number;
}

/** Prints a span-free tree. Layout 0 is canonical; other seeds vary whitespace, comments and spelling. */
export function printSegFile(file: A.SegFile, layout = 0): GeneratedSource {
  const p = new Printer(layout);
  file.declarations.forEach((d, i) => p.decl(d, i === 0));
  return { text: p.render(), file, comments: p.comments, layout };
}

/** Prints one expression alone (handy for expression-level tests). */
export function printExpr(e: A.Expr, layout = 0): string {
  const p = new Printer(layout);
  p.expr(e);
  return p.render().replace(/\n$/, "");
}

/** Layout seeds: often canonical (0), otherwise random. */
export const arbLayout: fc.Arbitrary<number> = fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 0x7fffffff }), weight: 4 });

/** Well-formed sources with their expected trees. */
export function arbSegSource(options: RuleGenOptions = {}): fc.Arbitrary<GeneratedSource> {
  return fc.tuple(arbSegFile(options), arbLayout).map(([file, layout]) => printSegFile(file, layout));
}
