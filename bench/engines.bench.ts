/**
 * Engines benchmark: the seed rule (`examples/rules/high_value.seg`) evaluated by DuckDB and by
 * Spark (local[2]) over the same generated data at growing sizes (10 purchases per customer), to
 * find where Spark starts to pay off. Writes bench/results/engines.md and engines.svg.
 *
 * Per size, three ways:
 * - Spark: `runSparkDriver` (one JVM launch: start-up, read + validate + cache, the statement);
 * - DuckDB `evaluatePlan` (what `seg eval` runs: seg's loader, where DuckDB reads the Parquet file
 *   and checks every field in SQL, handing only flagged rows to the JS checker; then the SQL);
 * - DuckDB native: the same emitted DuckDB SQL over tables DuckDB loads from the Parquet files
 *   itself (no per-record checks): DuckDB's own cost, without seg's loader.
 * The DuckDB runs are child processes (bench/engines-duckdb-worker.ts) with a 16 GiB heap.
 *
 *   pnpm bench engines      (builds; `bash infra/spark/setup.sh` first)
 *
 * Environment: SEG_BENCH_ENGINE_EVENTS (comma-separated sizes, default 100000,1000000,10000000;
 * add 50000000 when the machine has the time: ~1.5 GB of data), SEG_BENCH_EVAL_MAX_EVENTS
 * (largest size given to evaluatePlan, default 50,000,000), SEG_BENCH_ENGINE_MERGE=1 (keep the rows
 * of the previous results table for sizes this run does not measure, marked †),
 * SEG_BENCH_SEED, SEG_BENCH_SPARK_HEAP (default 8g).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileRules, ensureData, envList, envNumber, fmt, launchSpark, loadPackages, loadRuntime, machineLoad, sec, seedRule, svgLineChart, BENCH_AS_OF, repoRoot } from "./bench-data.js";
import type { Benchmark, BenchContext, BenchResult } from "./types.js";

const EVENTS_PER_CUSTOMER = 10;
const WORKER_TIMEOUT_MS = 20 * 60_000;

interface DuckRun {
  ok: boolean;
  /** evaluatePlan: rows the SQL checks flagged and the JS checker saw. */
  rowsToJs?: number;
  wallMs: number;
  loadMs?: number;
  queryMs?: number;
  sizes?: Record<string, number>;
  errors: string[];
  rssMb?: number;
}

interface SizeRow {
  events: number;
  customers: number;
  generatedMs: number;
  spark?: { wallMs: number; sessionMs: number; readMs: number; queryMs: number; members: number };
  sparkError?: string;
  evaluate?: DuckRun;
  native?: DuckRun;
  /** Read back from an earlier run's table (SEG_BENCH_ENGINE_MERGE=1). */
  earlier?: boolean;
}

/**
 * Beyond the sizes measured: each engine's marginal cost per million events between the two largest
 * sizes (so fixed costs such as Spark's start-up drop out), where the two straight lines would cross,
 * and at what size DuckDB's peak memory (growing as measured) would fill this machine's RAM.
 */
function trendLines(rows: SizeRow[]): string[] {
  const both = rows.filter((r) => r.spark && r.evaluate?.ok && !r.earlier);
  if (both.length < 2) return [];
  const [lo, hi] = [both[both.length - 2]!, both[both.length - 1]!];
  const millions = (hi.events - lo.events) / 1e6;
  const slope = (a: number, b: number) => (b - a) / 1000 / millions;
  const spark = slope(lo.spark!.wallMs, hi.spark!.wallMs);
  const duck = slope(lo.evaluate!.wallMs, hi.evaluate!.wallMs);
  const at = (ms: number, perM: number, x: number) => ms / 1000 + perM * ((x - hi.events) / 1e6);
  let cross: string;
  if (spark < duck) {
    const x = hi.events + ((hi.spark!.wallMs - hi.evaluate!.wallMs) / 1000 / (duck - spark)) * 1e6;
    cross = `the straight lines through them cross at about **${short(Math.round(x))} events**`;
  } else {
    cross = `Spark's time grows at least as fast as DuckDB's, so on this machine the lines never cross (at 500M events: Spark ~${fmt(at(hi.spark!.wallMs, spark, 5e8))} s, DuckDB ~${fmt(at(hi.evaluate!.wallMs, duck, 5e8))} s)`;
  }
  const lines = [`- Trend (from ${short(lo.events)} to ${short(hi.events)} events, per million more): Spark ${fmt(spark, 2)} s, DuckDB evaluatePlan ${fmt(duck, 2)} s; ${cross}.`];
  if (lo.evaluate?.rssMb && hi.evaluate?.rssMb && hi.evaluate.rssMb > lo.evaluate.rssMb) {
    const perM = (hi.evaluate.rssMb - lo.evaluate.rssMb) / millions;
    const fill = hi.events + ((totalmem() / 2 ** 20 - hi.evaluate.rssMb) / perM) * 1e6;
    lines.push(
      `- Memory: evaluatePlan's peak RSS grows by ${fmt(perM)} MB per million events; at that rate it would reach this machine's ${fmt(totalmem() / 2 ** 30)} GiB at about ${short(Math.round(fill))} events, where DuckDB must spill to disk and one machine stops being enough. Spark's case is beyond that, or a cluster: local[2] has no more cores than DuckDB here.`,
    );
  }
  return lines;
}

/**
 * The rows of an earlier run, read back from its results table, and when and under what load it
 * was measured: with SEG_BENCH_ENGINE_MERGE=1 the sizes this run does not measure keep them.
 */
function earlierRows(file: string): { rows: SizeRow[]; measured: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const measured = /^Measured (\S+) .*?The machine is shared: (.*?) \(`uptime`\)/m.exec(text);
  const num = (c: string): number => Number(c.replaceAll("*", "").replaceAll(",", "").replace("†", ""));
  const size = (c: string): number => {
    const m = /^([\d.,]+)([KM]?)†?$/.exec(c.replaceAll("*", ""));
    return m ? Number(m[1]!.replaceAll(",", "")) * (m[2] === "M" ? 1e6 : m[2] === "K" ? 1e3 : 1) : NaN;
  };
  const rows: SizeRow[] = [];
  for (const line of text.split("\n")) {
    if (!/^\| [\d.,]+[KM]?†? \|/.test(line)) continue;
    const c = line.split("|").slice(1, -1).map((x) => x.trim());
    if (c.length !== 13) continue;
    const members = c[2]!.startsWith("❌") ? undefined : num(c[2]!);
    const sizes = members === undefined ? undefined : { high_value: members };
    const duck = (wall: string, extra: Partial<DuckRun>): DuckRun | undefined =>
      wall === "not run" ? undefined : wall === "failed" ? { ok: false, wallMs: NaN, errors: ["failed in the earlier run"] } : { ok: true, wallMs: num(wall) * 1000, ...(sizes ? { sizes } : {}), errors: [], ...extra };
    rows.push({
      events: size(c[0]!),
      customers: size(c[1]!),
      generatedMs: 0,
      earlier: true,
      ...(c[3] === "failed" ? { sparkError: "failed in the earlier run" } : { spark: { sessionMs: num(c[3]!) * 1000, readMs: num(c[4]!) * 1000, queryMs: num(c[5]!) * 1000, wallMs: num(c[6]!) * 1000, members: members ?? NaN } }),
      // (its RSS is not read back: earlier runs recorded it differently)
      evaluate: duck(c[7]!, {}),
      native: duck(c[12]!, { loadMs: num(c[10]!) * 1000, queryMs: num(c[11]!) * 1000 }),
    });
  }
  return { rows, measured: measured ? `${measured[1]} (${measured[2]})` : "an earlier run" };
}

function runWorker(job: Record<string, unknown>): Promise<DuckRun> {
  const script = fileURLToPath(new URL("./engines-duckdb-worker.js", import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--max-old-space-size=16384", script, JSON.stringify(job)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), WORKER_TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as DuckRun);
      } catch {
        resolve({ ok: false, wallMs: NaN, errors: [`worker exited with ${code ?? signal}: ${stderr.trim().split("\n").slice(-2).join(" | ")}`] });
      }
    });
  });
}

/** Where `a` (first slower) and `b` cross, by log-linear interpolation of (size, a - b); undefined if they do not. */
function crossover(points: { x: number; a: number; b: number }[]): { x: number; between: [number, number] } | undefined {
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1]!;
    const q = points[i]!;
    const dp = p.a - p.b;
    const dq = q.a - q.b;
    if (dp > 0 && dq <= 0) {
      const t = dp / (dp - dq);
      return { x: 10 ** (Math.log10(p.x) + t * (Math.log10(q.x) - Math.log10(p.x))), between: [p.x, q.x] };
    }
  }
  return undefined;
}

const short = (n: number): string => (n >= 1e6 ? `${fmt(n / 1e6, n % 1e6 === 0 ? 0 : 1)}M` : n >= 1e3 ? `${fmt(n / 1e3)}K` : fmt(n));

async function run(ctx: BenchContext): Promise<BenchResult> {
  const sizes = envList("SEG_BENCH_ENGINE_EVENTS", [100_000, 1_000_000, 10_000_000]).sort((a, b) => a - b);
  const evalMax = envNumber("SEG_BENCH_EVAL_MAX_EVENTS", 50_000_000);
  const seed = envNumber("SEG_BENCH_SEED", 42);
  const { compiler, engine } = await loadPackages();
  const runtime = await loadRuntime();
  const loadBefore = machineLoad();
  const project = compileRules(compiler, seedRule("high_value"));
  const plan = project.plan(["high_value"]);
  const work = mkdtempSync(join(tmpdir(), "seg-bench-engines-"));
  const planFile = join(work, "plan.json");
  writeFileSync(planFile, JSON.stringify(plan));

  const merged = process.env.SEG_BENCH_ENGINE_MERGE === "1" ? earlierRows(join(repoRoot, "bench", "results", "engines.md")) : undefined;
  const rows: SizeRow[] = merged ? merged.rows.filter((r) => !sizes.includes(r.events) && Number.isFinite(r.events)) : [];
  let lastMeasured = 0;
  /** The results so far as Markdown (and the chart written); `complete` false while sizes remain. */
  const render = (complete: boolean): BenchResult => {
    const loadAfter = machineLoad();
    rows.sort((a, b) => a.events - b.events);

    let ok = true;
    const cell = (r: DuckRun | undefined, f: (r: DuckRun) => number | undefined): string => (r === undefined ? "not run" : !r.ok ? "failed" : sec(f(r) ?? NaN));
    const tableRows = rows.map((r) => {
      const counts = [r.spark?.members, r.native?.ok ? r.native.sizes?.high_value : undefined, r.evaluate?.ok ? r.evaluate.sizes?.high_value : undefined].filter((n): n is number => n !== undefined);
      const agree = counts.length > 0 && counts.every((n) => n === counts[0]);
      if (!agree) ok = false;
      const s = r.spark;
      return (
        `| ${short(r.events)}${r.earlier ? "†" : ""} | ${short(r.customers)} | ${agree ? fmt(counts[0]!) : `❌ ${counts.map((n) => fmt(n)).join(" / ") || "none"}`} | ` +
        (s ? `${sec(s.sessionMs)} | ${sec(s.readMs)} | ${sec(s.queryMs)} | **${sec(s.wallMs)}** | ` : `failed | | | | `) +
        `**${cell(r.evaluate, (d) => d.wallMs)}** | ${r.evaluate?.ok && r.native?.ok ? fmt(r.evaluate.wallMs / r.native.wallMs, 2) : ""} | ${r.evaluate?.ok && r.evaluate.rssMb ? fmt(r.evaluate.rssMb / 1024, 1) : ""} | ` +
        `${cell(r.native, (d) => d.loadMs)} | ${cell(r.native, (d) => d.queryMs)} | **${cell(r.native, (d) => d.wallMs)}** |`
      );
    });
    const problems = rows.flatMap((r) => [
      ...(r.sparkError ? [`${short(r.events)} events, Spark: ${r.sparkError}`] : []),
      ...[r.native, r.evaluate].flatMap((d, i) => (d && !d.ok ? [`${short(r.events)} events, DuckDB ${i === 0 ? "native" : "evaluatePlan"}: ${d.errors.join("; ")}`] : [])),
    ]);
    if (problems.length > 0) ok = false;

    // a: Spark, b: DuckDB; the crossover is where Spark stops being the slower one
    const evalVsSpark = crossover(rows.filter((r) => r.spark && r.evaluate?.ok).map((r) => ({ x: r.events, a: r.spark!.wallMs, b: r.evaluate!.wallMs })));
    const nativeVsSpark = crossover(rows.filter((r) => r.spark && r.native?.ok).map((r) => ({ x: r.events, a: r.spark!.wallMs, b: r.native!.wallMs })));
    const nativeVsSparkWarm = crossover(rows.filter((r) => r.spark && r.native?.ok).map((r) => ({ x: r.events, a: r.spark!.readMs + r.spark!.queryMs, b: r.native!.wallMs })));
    const describe = (c: ReturnType<typeof crossover>, slower: string, faster: string, rowsCompared: SizeRow[], sparkTime: (r: SizeRow) => number, duckTime: (r: SizeRow) => number): string => {
      if (rowsCompared.length === 0) return "not measured";
      if (c) return `${faster} becomes faster than ${slower} at about **${short(Math.round(c.x))} events** (between ${short(c.between[0])} and ${short(c.between[1])}, interpolated)`;
      const sparkWins = rowsCompared.every((r) => sparkTime(r) < duckTime(r));
      const duckWins = rowsCompared.every((r) => sparkTime(r) > duckTime(r));
      const range = `${short(rowsCompared[0]!.events)} to ${short(rowsCompared[rowsCompared.length - 1]!.events)} events`;
      return sparkWins ? `Spark is faster at every size measured (${range}): the crossover is below ${short(rowsCompared[0]!.events)}` : duckWins ? `DuckDB is faster at every size measured (${range}): no crossover up to ${short(rowsCompared[rowsCompared.length - 1]!.events)}` : `no single crossover (${range})`;
    };
    const evalRows = rows.filter((r) => r.spark && r.evaluate?.ok);
    const nativeRows = rows.filter((r) => r.spark && r.native?.ok);

    const chart = svgLineChart({
      title: "high_value: wall time by engine (2 CPUs)",
      xLabel: "purchase events (10 per customer), log scale",
      yLabel: "seconds",
      xTickLabel: short,
      series: [
        { label: "Spark, whole launch", color: "#d62728", points: rows.filter((r) => r.spark).map((r) => ({ x: r.events, y: r.spark!.wallMs / 1000 })) },
        { label: "Spark, read + query", color: "#ff9896", points: rows.filter((r) => r.spark).map((r) => ({ x: r.events, y: (r.spark!.readMs + r.spark!.queryMs) / 1000 })) },
        { label: "DuckDB evaluatePlan", color: "#1f77b4", points: evalRows.map((r) => ({ x: r.events, y: r.evaluate!.wallMs / 1000 })) },
        { label: "DuckDB native", color: "#2ca02c", points: nativeRows.map((r) => ({ x: r.events, y: r.native!.wallMs / 1000 })) },
      ],
    });
    writeFileSync(join(repoRoot, "bench", "results", "engines.svg"), chart);
    const skipped = rows.filter((r) => r.evaluate === undefined).map((r) => short(r.events));

    const markdown = [
      `# Engines: DuckDB vs Spark on the seed rule`,
      ``,
      ...(complete ? [] : [`**Partial results**: written after ${short(lastMeasured)} events; the run went on with ${sizes.filter((n) => n > lastMeasured).map(short).join(", ")}.`, ``]),
      `Measured ${ctx.date} on ${ctx.cpu}, ${cpus().length} CPUs (pinned: ${ctx.pinned}; Spark runs local[2], DuckDB uses its default threads). The machine is shared: ${loadBefore} before, ${loadAfter} after (\`uptime\`); above 2, other work competed for the CPUs.`,
      ``,
      `\`high_value\` (examples/rules/high_value.seg) as_of ${BENCH_AS_OF}, over generated data (bench/bench-data.ts, seed ${seed}): ${EVENTS_PER_CUSTOMER} purchases per customer, skewed, as Parquet. Times in seconds.`,
      ``,
      `| Events | Customers | Members | Spark start-up | Spark read + validate + cache | Spark query | **Spark wall** | **DuckDB evaluatePlan** | evaluatePlan / native | evaluatePlan peak RSS (GiB) | DuckDB native load | DuckDB native query | **DuckDB native wall** |`,
      `| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
      ...tableRows,
      ``,
      ...(rows.some((r) => r.earlier) ? [``, `† Row from the run measured ${merged?.measured ?? "earlier"}, read back from its table (SEG_BENCH_ENGINE_MERGE=1); the other rows are from this run.`] : []),
      ``,
      `![wall time by engine](engines.svg)`,
      ``,
      `- **Spark wall**: the \`runSparkDriver\` call (JVM boot, session start, read, statement, writing and reading back the members). Start-up is the driver's \`sparkStartMs\`, read is \`readMs\`, query its statement's ms.`,
      `- **DuckDB evaluatePlan**: the whole call (\`@seg/compiler/engine\`, what \`seg eval\` runs), in a child process: seg's loader lets DuckDB read the Parquet file and check every field in SQL (types, enums, RFC 3339 timestamps with their zone), inserting the clean rows in one statement; only rows the SQL flags go through the JS checker (rows handed to JS here: ${rows.map((r) => (r.evaluate?.ok && r.evaluate.rowsToJs !== undefined ? `${short(r.events)}: ${fmt(r.evaluate.rowsToJs)}` : "")).filter(Boolean).join(", ") || "not recorded"}). "evaluatePlan / native" is the price of seg's checks over DuckDB's bare load (same process layout, same run); RSS is the worker process's peak resident memory (DuckDB included). Before this loader (every record read, checked and appended in JS) it took 61.5 s at 1M events (load average ~12).${skipped.length > 0 ? ` Not run at ${skipped.join(", ")} events (SEG_BENCH_EVAL_MAX_EVENTS=${fmt(evalMax)}: at its rate that would take many minutes and GBs of heap).` : ""}`,
      `- **DuckDB native**: DuckDB loads the Parquet files itself (casts, timestamp parsing, no per-record checks), then runs the same emitted DuckDB SQL.`,
      `- Members: the three must agree (❌ otherwise).`,
      ``,
      `## Crossover`,
      ``,
      `- Spark against \`evaluatePlan\`: ${describe(evalVsSpark, "DuckDB evaluatePlan", "Spark", evalRows, (r) => r.spark!.wallMs, (r) => r.evaluate!.wallMs)}.`,
      `- Spark (whole launch) against DuckDB native: ${describe(nativeVsSpark, "DuckDB native", "Spark", nativeRows, (r) => r.spark!.wallMs, (r) => r.native!.wallMs)}.`,
      `- Spark without start-up (read + query) against DuckDB native: ${describe(nativeVsSparkWarm, "DuckDB native", "Spark", nativeRows, (r) => r.spark!.readMs + r.spark!.queryMs, (r) => r.native!.wallMs)}.`,
      ...trendLines(rows),
      ``,
      ...(problems.length > 0 ? [`Problems: ${problems.join("; ")}`, ``] : []),
      `Data generation (cached in bench/.data/, not in the times): ${rows.map((r) => `${short(r.events)}: ${r.generatedMs > 0 ? `${sec(r.generatedMs)} s` : "cached"}`).join(", ")}. Reproduce: \`pnpm bench engines\` (smaller: \`SEG_BENCH_ENGINE_EVENTS=100000,1000000\`; with 50M: \`SEG_BENCH_ENGINE_EVENTS=100000,1000000,10000000,50000000\`).`,
      ``,
    ].join("\n");
    return { markdown, ok };
  };
  try {
    for (const events of sizes) {
      const customers = Math.max(1, Math.round(events / EVENTS_PER_CUSTOMER));
      // RFC 3339 text timestamps, as this comparison was measured with: both engines parse and check them
      const data = await ensureData({ customers, events, seed, textTimestamps: true }, engine, ctx.log);
      const row: SizeRow = { events, customers, generatedMs: data.generatedMs };
      rows.push(row);
      lastMeasured = events;
      ctx.log(`${short(events)} events: Spark`);
      try {
        const l = await launchSpark(runtime, data.dir, [{ id: "high_value", plan }], ctx.log);
        row.spark = { wallMs: l.wallMs, sessionMs: l.sessionMs, readMs: l.readMs, queryMs: l.statementMs.get("high_value") ?? NaN, members: l.result.segments.high_value?.size ?? 0 };
      } catch (e) {
        row.sparkError = e instanceof Error ? e.message : String(e);
      }
      ctx.log(`${short(events)} events: DuckDB native`);
      row.native = await runWorker({ mode: "native", planFile, dir: data.dir, asOf: BENCH_AS_OF });
      if (events <= evalMax) {
        ctx.log(`${short(events)} events: DuckDB evaluatePlan`);
        row.evaluate = await runWorker({ mode: "evaluatePlan", planFile, dir: data.dir, asOf: BENCH_AS_OF });
      }
      // keep what is measured so far, should a later (larger) size not finish
      if (events !== sizes[sizes.length - 1]) writeFileSync(join(repoRoot, "bench", "results", "engines.md"), render(false).markdown);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const result = render(true);
  return result;
}

const bench = {
  name: "engines",
  description: "DuckDB (evaluatePlan and native) vs Spark local[2] on the seed rule at growing sizes, with the crossover",
  cpus: "all",
  run,
} satisfies Benchmark & { cpus: "all" };

export default bench;
