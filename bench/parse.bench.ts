/**
 * Parse benchmark: lexing and full parsing (lex + parse + structure checks) of a deterministic
 * ~10 MB corpus of realistic rules, on one thread, against the BUILT @seg/dsl.
 *
 *   pnpm bench parse            (builds first)
 *   node bench/run.js parse     (after `pnpm build && tsc -p bench`)
 *
 * Environment: SEG_BENCH_MB (corpus size, default 10), SEG_BENCH_RUNS (measured runs, default 7),
 * SEG_BENCH_SEED (corpus seed, default 1).
 */
import { lex, parse } from "#seg/dsl";
import type { Benchmark, BenchContext, BenchResult } from "./types.js";
import { rulesCorpus } from "./rules-corpus.js";

const TARGET_MB_S = 5;

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : Number(v);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Milliseconds for one pass of `fn` over every file. (No forced GC before a pass: V8 runs the pass
 * after a forced full GC about 40% slower, as if its compiled code had been thrown away.)
 */
function pass(files: readonly string[], fn: (text: string) => unknown): number {
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (const f of files) sink += fn(f) === undefined ? 0 : 1;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (sink !== files.length) throw new Error("unexpected result");
  return ms;
}

/** Highest heapUsed seen while parsing every file once (sampled after each file). */
function peakHeapDuringParse(files: readonly string[]): { baseline: number; peak: number } {
  gc?.();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  for (const f of files) {
    parse(f);
    const used = process.memoryUsage().heapUsed;
    if (used > peak) peak = used;
  }
  return { baseline, peak };
}

const mb = (bytes: number) => bytes / 1e6;
const fmt = (n: number, digits = 2) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

const bench: Benchmark = {
  name: "parse",
  description: "lex and parse throughput of @seg/dsl on a ~10 MB rule corpus",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const targetMb = envNumber("SEG_BENCH_MB", 10);
    const runs = Math.max(5, envNumber("SEG_BENCH_RUNS", 7));
    const seed = envNumber("SEG_BENCH_SEED", 1);
    const warmups = 2;

    ctx.log(`generating a ${targetMb} MB corpus (seed ${seed})...`);
    const corpus = rulesCorpus(targetMb * 1e6, seed);

    // The corpus must be what it claims: well-formed, with the segments we counted.
    let parsedSegments = 0;
    for (const [i, f] of corpus.files.entries()) {
      const r = parse(f, `corpus-${i}.seg`);
      if (r.diagnostics.length > 0) {
        const d = r.diagnostics[0]!;
        throw new Error(`corpus file ${i} has diagnostics: ${d.code} ${d.span.start.line}:${d.span.start.column} ${d.message}`);
      }
      parsedSegments += r.file.declarations.filter((d) => d.kind === "Segment").length;
    }
    if (parsedSegments !== corpus.segments) throw new Error(`segment count mismatch: ${parsedSegments} vs ${corpus.segments}`);

    ctx.log(`${corpus.files.length} files, ${fmt(mb(corpus.bytes))} MB, ${corpus.segments} segments; ${warmups} warm-up + ${runs} runs each`);
    // Nothing else runs between timed passes: even a plain loop over the corpus strings made the
    // following lex passes 2.5x slower.
    const measure = (label: string, fn: (text: string) => unknown): number[] => {
      for (let i = 0; i < warmups; i++) pass(corpus.files, fn);
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) ms.push(pass(corpus.files, fn));
      ctx.log(`${label}: ${ms.map((m) => fmt(m, 0)).join(", ")} ms`);
      return ms;
    };
    // Lexing first, then parsing, each in its own block so neither skews the other's JIT state.
    const lexMs = measure("lex", (t) => lex(t));
    const parseMs = measure("parse", (t) => parse(t));
    const heap = peakHeapDuringParse(corpus.files);

    const lexMed = median(lexMs);
    const parseMed = median(parseMs);
    const lexMbS = mb(corpus.bytes) / (lexMed / 1000);
    const parseMbS = mb(corpus.bytes) / (parseMed / 1000);
    const met = parseMbS >= TARGET_MB_S;
    const bestParseMbS = mb(corpus.bytes) / (Math.min(...parseMs) / 1000);
    const spread = (Math.max(...parseMs) / Math.min(...parseMs) - 1) * 100;
    const row = (phase: string, ms: number[], med: number) =>
      `| ${phase} | ${fmt(med, 0)} | ${fmt(Math.min(...ms), 0)} – ${fmt(Math.max(...ms), 0)} | ${fmt(mb(corpus.bytes) / (med / 1000))} | ${fmt(corpus.segments / (med / 1000), 0)} |`;

    const markdown = [
      "# Parse benchmark",
      "",
      `| | |`,
      `|---|---|`,
      `| Date | ${ctx.date} |`,
      `| Node | ${process.version} (${process.platform}/${process.arch}) |`,
      `| CPU | ${ctx.cpu} |`,
      `| Pinned | ${ctx.pinned} |`,
      `| Corpus | ${fmt(mb(corpus.bytes))} MB (UTF-8), ${corpus.files.length} files, ${corpus.lines.toLocaleString("en-US")} lines, ${corpus.segments.toLocaleString("en-US")} segments, ${corpus.consts} consts (seed ${seed}) |`,
      `| Method | per phase: ${warmups} warm-up passes, then the median of ${runs} timed passes over every file (one file per call) |`,
      "",
      "| Phase | Median ms | Range ms | MB/s | Segments/s |",
      "|---|---:|---:|---:|---:|",
      row("`lex` (tokens + comments + lexical diagnostics)", lexMs, lexMed),
      row("`parse` (lex + parse + structure checks)", parseMs, parseMed),
      "",
      `- Parse time / lex time: **${fmt(parseMed / lexMed)}×** (so parsing proper is ${fmt(((parseMed - lexMed) / parseMed) * 100, 0)}% of \`parse\`).`,
      `- Peak heap used during one parse pass: **${fmt(mb(heap.peak), 1)} MB** (${fmt(mb(heap.baseline), 1)} MB before the pass, corpus included).`,
      `- Target: parse at least ${TARGET_MB_S} MB/s — **${met ? "met" : "NOT met"}** (median ${fmt(parseMbS)} MB/s, best run ${fmt(bestParseMbS)} MB/s; lex alone ${fmt(lexMbS)} MB/s).`,
      `- Spread of the parse runs: ${fmt(spread, 0)}% between the fastest and the slowest; a large spread means other work shared the CPU, and the median is pessimistic.`,
      "",
    ].join("\n");
    return { markdown, ok: met };
  },
};

export default bench;
