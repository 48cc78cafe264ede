/**
 * Property tests for `parse`: random text, random seg-token soup, grammar-generated well-formed
 * rules, and mutations of well-formed rules and of the example project.
 *
 * Every input must satisfy: `parse` never throws; one parse takes under 1 s; every diagnostic span
 * (and related span) and every AST span lies inside the text with start <= end and line/column
 * matching the offset; parsing is deterministic, also after the shared parser has seen other input.
 * Well-formed rules must also parse with zero diagnostics to exactly the generated tree.
 *
 * The seed is fixed; override it with SEG_FC_SEED=<n>. A failure prints the seed to reproduce.
 * SEG_FC_SCALE=<k> multiplies the number of inputs (default 1: 10,000 inputs, about 10 s).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { allSpans, parse, stripSpans, type Diagnostic, type ParseResult, type Span } from "@seg/dsl";
import { arbSegSource, arbTextUnit, SEG_KEYWORDS, type GeneratedSource } from "../support/arbitrary-rules.js";

const SEED = process.env["SEG_FC_SEED"] !== undefined ? Number(process.env["SEG_FC_SEED"]) : 20_261_125;
const MAX_PARSE_MS = 1_000;
const MIN_TOTAL_INPUTS = 10_000;

/** SEG_FC_SCALE=10 runs ten times as many inputs (for a longer, occasional run). */
const SCALE = Math.max(1, Number(process.env["SEG_FC_SCALE"] ?? 1) || 1);
const TIMEOUT_MS = 60_000 * SCALE;
/** Runs per property (sum: 10,000 at scale 1). */
const RUNS = Object.fromEntries(
  Object.entries({
    unicode: 2_200,
    codeUnits: 1_300,
    alphabet: 3_500,
    wellFormed: 1_500,
    mutatedGenerated: 800,
    mutatedExamples: 700,
  }).map(([k, v]) => [k, Math.round(v * SCALE)]),
) as Record<"unicode" | "codeUnits" | "alphabet" | "wellFormed" | "mutatedGenerated" | "mutatedExamples", number>;

let inputsChecked = 0;

// --- the invariants ---------------------------------------------------------------------------

/** Line starts by the LineIndex rules: `\n`, `\r\n` and a lone `\r` each end a line. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") starts.push(i + 1);
    else if (c === "\r") {
      if (text[i + 1] === "\n") i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

function lineCol(starts: number[], offset: number): { line: number; column: number } {
  let line = 0;
  while (line + 1 < starts.length && starts[line + 1]! <= offset) line++;
  return { line: line + 1, column: offset - starts[line]! + 1 };
}

function checkSpan(span: Span, text: string, starts: number[], what: string): void {
  const { start, end } = span;
  if (!(Number.isInteger(start.offset) && Number.isInteger(end.offset))) throw new Error(`${what}: non-integer offsets ${JSON.stringify(span)}`);
  if (!(0 <= start.offset && start.offset <= end.offset && end.offset <= text.length)) {
    throw new Error(`${what}: span ${start.offset}..${end.offset} outside 0..${text.length} or reversed`);
  }
  for (const [p, name] of [[start, "start"], [end, "end"]] as const) {
    const want = lineCol(starts, p.offset);
    if (p.line !== want.line || p.column !== want.column) {
      throw new Error(`${what}: ${name} offset ${p.offset} says ${p.line}:${p.column}, text says ${want.line}:${want.column}`);
    }
  }
}

/** Parses some unrelated, broken input so a stale parser state would show up as a difference. */
const NOISE = [
  'segment s "t" { where (( count(purchase in last 30 days where "unterminated',
  "const = ] segment { metric = where not in between 1 and ago } } /* open",
  "segment a { where x between 30 days and 7 days ago and y in [1, 2,] }",
];

function timedParse(text: string): ParseResult {
  const t0 = performance.now();
  let result: ParseResult;
  try {
    result = parse(text);
  } catch (e) {
    throw new Error(`parse threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  const ms = performance.now() - t0;
  if (ms > MAX_PARSE_MS) throw new Error(`parse took ${ms.toFixed(0)} ms (limit ${MAX_PARSE_MS} ms) on ${text.length} chars`);
  return result;
}

function checkDiagnostic(d: Diagnostic, text: string, starts: number[]): void {
  checkSpan(d.span, text, starts, `diagnostic ${d.code} "${d.message}"`);
  for (const r of d.related) if (r.file === undefined) checkSpan(r.span, text, starts, `related span of ${d.code}`);
}

/** The invariants every input must satisfy. Returns the first parse result. */
function checkInput(text: string): ParseResult {
  inputsChecked++;
  const starts = lineStarts(text);
  const first = timedParse(text);
  for (const d of first.diagnostics) checkDiagnostic(d, text, starts);
  for (const span of allSpans(first.file)) checkSpan(span, text, starts, "AST node");
  for (const c of first.file.comments) checkSpan(c.span, text, starts, `comment ${JSON.stringify(c.text)}`);

  // The second parse follows a parse of the same text; now and then, of unrelated broken text.
  if (inputsChecked % 5 === 0) timedParse(NOISE[inputsChecked % NOISE.length]!);
  const again = timedParse(text);
  const a = JSON.stringify(first);
  const b = JSON.stringify(again);
  if (a !== b) throw new Error(`parse is not deterministic:\n first: ${a.slice(0, 2000)}\nsecond: ${b.slice(0, 2000)}`);
  return first;
}

function checkWellFormed(src: GeneratedSource): void {
  const result = checkInput(src.text);
  expect(result.diagnostics.map((d) => `${d.code} ${d.span.start.line}:${d.span.start.column} ${d.message}`)).toEqual([]);
  // JSON first (cheap); the deep comparison only to show a readable difference.
  const got = stripSpans(result.file);
  const want = stripSpans(src.file);
  if (JSON.stringify(got) !== JSON.stringify(want)) expect(got).toEqual(want);
  const comments = result.file.comments.map((c) => c.text);
  if (JSON.stringify(comments) !== JSON.stringify(src.comments)) expect(comments).toEqual(src.comments);
}

/** fc.assert with the run's seed; on failure, says how to reproduce. */
function check<T>(label: string, salt: number, arb: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns: number): void {
  const seed = (SEED + salt) | 0;
  try {
    fc.assert(fc.property(arb, predicate), { seed, numRuns });
  } catch (e) {
    const hint = `[${label}] failed: SEG_FC_SEED=${SEED} (property seed ${seed}). Reproduce with: SEG_FC_SEED=${SEED} pnpm exec vitest run --project unit packages/dsl/test/unit/parser-properties.test.ts`;
    console.error(hint);
    const cause = e instanceof Error && e.cause !== undefined ? `\nCaused by: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}` : "";
    throw new Error(`${hint}\n${e instanceof Error ? e.message : String(e)}${cause}`);
  }
}

// --- generators -------------------------------------------------------------------------------

/** Pieces of seg text, valid and broken: keywords, punctuation, literals, names, comments, whitespace. */
const ALPHABET: readonly string[] = [
  ...SEG_KEYWORDS,
  "{", "}", "(", ")", "[", "]", ",", ".", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "!",
  "0", "1", "42", "1_000", "12.5", "1e6", "2.5E-3", "1__0", "1_", "1e999", "0.", "007",
  "30 days", "1 hour", "90days", "1.5 weeks", "2\tminutes", "1_ day", "3 second", "99999999999999999999999 weeks",
  "2026-01-31", "2026-02-30", "2026-13-01", "0000-02-29", "2026-10-15T09:00:00-04:00", "2026-01-01T00:00Z", "2026-01-01T24:61:00Z",
  '"a"', '"High value"', '""', '"\\""', '"\\u{1F600}"', '"\\u00e9"', '"\\q"', '"\\u{110000}"', '"unterminated', '"ends in backslash\\',
  "a", "x", "customer", "purchase", "amount", "page_view", "days", "lower", "`quoted name`", "`a\\`b`", "`unterminated", "_",
  "// line comment", "/* block */", "/* unterminated", "/**/", "*/", "//",
  " ", "  ", "\t", "\n", "\r\n", "\r", "\f", "\uFEFF",
  "@", "#", "$", "%", "^", "&", "|", "~", "?", ":", ";", "'", "\\", "é", "\u{1F600}", "\u0000", "\uD800", "\u2028",
];

const arbAlphabetText: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.constantFrom(...ALPHABET), fc.constantFrom("", "", " ", "\n")), { maxLength: 60 })
  .map((parts) => parts.map(([p, sep]) => p + sep).join(""));

/** Rough tokens (words, numbers, strings, comments, whitespace, single characters) for mutations. */
const CHUNK = /\s+|\/\/[^\n\r]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n\r]|\\.)*"?|`(?:[^`\\\n\r]|\\.)*`?|\d[\w.:+-]*|[A-Za-z_]\w*|[!<>]=|[\s\S]/gu;

type Mutation =
  | { kind: "deleteToken" | "duplicateToken" | "deleteChar" | "truncate"; at: number }
  | { kind: "swapTokens"; at: number; other: number }
  | { kind: "insertToken" | "replaceToken" | "insertChar"; at: number; piece: string };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom("deleteToken", "duplicateToken", "deleteChar", "truncate"), at: fc.nat() }),
  fc.record({ kind: fc.constant("swapTokens"), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constantFrom("insertToken", "replaceToken"), at: fc.nat(), piece: fc.constantFrom(...ALPHABET) }),
  fc.record({ kind: fc.constant("insertChar"), at: fc.nat(), piece: arbTextUnit }),
) as fc.Arbitrary<Mutation>;

function mutate(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  if (m.kind === "truncate") return text.slice(0, at);
  if (m.kind === "deleteChar") return text.slice(0, at) + text.slice(at + 1);
  if (m.kind === "insertChar") return text.slice(0, at) + m.piece + text.slice(at);
  const toks = text.match(CHUNK) ?? [];
  const i = m.at % (toks.length + 1);
  switch (m.kind) {
    case "deleteToken":
      toks.splice(i, 1);
      break;
    case "duplicateToken":
      if (i < toks.length) toks.splice(i, 0, toks[i]!);
      break;
    case "insertToken":
      toks.splice(i, 0, m.piece);
      break;
    case "replaceToken":
      toks.splice(i, 1, m.piece);
      break;
    case "swapTokens": {
      const j = m.other % (toks.length + 1);
      if (i < toks.length && j < toks.length) [toks[i], toks[j]] = [toks[j]!, toks[i]!];
      break;
    }
  }
  return toks.join("");
}

function arbMutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(base, fc.array(arbMutation, { minLength: 1, maxLength: 4 }))
    .map(([text, ms]) => ms.reduce(mutate, text));
}

const examplesDir = fileURLToPath(new URL("../../../../examples/rules/", import.meta.url));
const EXAMPLES: string[] = existsSync(examplesDir)
  ? readdirSync(examplesDir)
      .filter((f) => f.endsWith(".seg"))
      .sort()
      .map((f) => readFileSync(examplesDir + f, "utf8"))
  : [];

/** Deeply nested input: `((((x))))`, `[[[1]]]`, `f(f(1))`, `count(e where count(...))`, `not not x`, `--1`, unclosed. */
const NESTERS: readonly [string, string, string][] = [
  ["(", "x", ")"],
  ["[", "1", "]"],
  ["f(", "1", ")"],
  ["count(e where ", "x", ")"],
  ["not ", "x", ""],
  ["-", "1", ""],
  ["(", "x", ""],
  ["x in [", "1", "]"],
];
function arbDeep(maxDepth: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...NESTERS), fc.integer({ min: 1, max: maxDepth }), fc.boolean())
    .map(([[open, inner, close], n, inSegment]) => {
      const e = open.repeat(n) + inner + close.repeat(n);
      return inSegment ? `segment s { where ${e} }` : `const c = ${e}`;
    });
}

// --- the properties ---------------------------------------------------------------------------

describe("parse on arbitrary and mutated input", () => {
  beforeAll(() => {
    parse("segment warm_up { where true }"); // builds the shared parser outside any timing
  });

  it("survives arbitrary unicode text", () => {
    check("unicode", 1, fc.string({ unit: "binary", maxLength: 200 }), (t) => void checkInput(t), RUNS.unicode);
  }, TIMEOUT_MS);

  it("survives arbitrary UTF-16 code units (lone surrogates, controls)", () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    check("code units", 2, fc.string({ unit, maxLength: 200 }), (t) => void checkInput(t), RUNS.codeUnits);
  }, TIMEOUT_MS);

  it("survives strings over the seg alphabet", () => {
    check("alphabet", 3, arbAlphabetText, (t) => void checkInput(t), RUNS.alphabet);
  }, TIMEOUT_MS);

  it("parses generated well-formed rules with no diagnostics, to the generated tree", () => {
    check("well-formed", 4, arbSegSource(), checkWellFormed, RUNS.wellFormed);
  }, TIMEOUT_MS);

  it("survives mutations of well-formed rules", () => {
    check("mutated rules", 5, arbMutated(arbSegSource().map((s) => s.text)), (t) => void checkInput(t), RUNS.mutatedGenerated);
  }, TIMEOUT_MS);

  it("survives mutations of the example rules", () => {
    const base = EXAMPLES.length > 0 ? fc.constantFrom(...EXAMPLES) : arbSegSource().map((s) => s.text);
    check("mutated examples", 6, arbMutated(base), (t) => void checkInput(t), RUNS.mutatedExamples);
  }, TIMEOUT_MS);

  it("survives nesting up to 30 levels", () => {
    check("nesting", 7, arbDeep(30), (t) => void checkInput(t), 200);
  });

  // Deeper nesting than MAX_NESTING (or longer prefix runs than MAX_PREFIX_RUN) is reported as
  // SEG020 instead of overflowing the parser's stack.
  it("survives nesting up to 5,000 levels, reporting SEG020 past the limit", () => {
    fc.assert(fc.property(arbDeep(5_000), (t) => void checkInput(t)), { seed: SEED, numRuns: 200, endOnFailure: true });
  });

  it("reports too deep nesting at the bracket that crosses the limit and keeps the other declarations", () => {
    const deep = `segment deep { where ${"(".repeat(40)}x${")".repeat(40)} }`;
    const r = parse(`${deep}\nsegment fine { where x > 1 }`);
    expect(r.diagnostics.map((d) => `${d.code} ${d.span.start.line}:${d.span.start.column}`)).toEqual(["SEG020 1:54"]);
    expect(r.file.declarations.map((d) => d.name.text)).toEqual(["fine"]);
    const nots = parse(`segment n { where ${"not ".repeat(300)}x }`);
    expect(nots.diagnostics.map((d) => d.code)).toEqual(["SEG020"]);
  });

  it(`checked at least ${MIN_TOTAL_INPUTS} inputs`, () => {
    expect(inputsChecked).toBeGreaterThanOrEqual(MIN_TOTAL_INPUTS);
  });
});
