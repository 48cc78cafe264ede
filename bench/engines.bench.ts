/**
 * Engines benchmark: the seed rule (`examples/rules/high_value.seg`) evaluated by DuckDB and by
 * Spark (local[2]) over the same generated data at growing sizes (10 purchases per customer), to
 * find where Spark starts to pay off. Writes bench/results/engines.md and engines.svg.
 *
 * Per size, three ways:
 * - Spark: `runSparkDriver` (one JVM launch: start-up, read + validate + cache, the statement);
 * - DuckDB `evaluatePlan` (what `seg eval` runs: records read and checked in JS, then the SQL);
 * - DuckDB native: the same emitted DuckDB SQL over tables DuckDB loads from the Parquet files
 *   itself (no per-record checks): DuckDB's own cost, without seg's loader.
 * The DuckDB runs are child processes (bench/engines-duckdb-worker.ts) with a 16 GiB heap.
 *
 *   pnpm bench engines      (builds; `bash infra/spark/setup.sh` first)
 *
 * Environment: SEG_BENCH_ENGINE_EVENTS (comma-separated sizes, default 100000,1000000,10000000;
 * add 50000000 when the machine has the time: ~1.5 GB of data), SEG_BENCH_EVAL_MAX_EVENTS
 * (largest size given to evaluatePlan, default 1,000,000: it reads about 15-20K records/s),
 * SEG_BENCH_SEED, SEG_BENCH_SPARK_HEAP (default 8g).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileRules, ensureData, envList, envNumber, fmt, launchSpark, loadPackages, loadRuntime, machineLoad, sec, seedRule, svgLineChart, BENCH_AS_OF, repoRoot } from "./bench-data.js";
import type { Benchmark, BenchContext, BenchResult } from "./types.js";

const EVENTS_PER_CUSTOMER = 10;
const WORKER_TIMEOUT_MS = 20 * 60_000;

interface DuckRun {
  ok: boolean;
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
  const evalMax = envNumber("SEG_BENCH_EVAL_MAX_EVENTS", 1_000_000);
  const seed = envNumber("SEG_BENCH_SEED", 42);
  const { compiler, engine } = await loadPackages();
  const runtime = await loadRuntime();
  const loadBefore = machineLoad();
  const project = compileRules(compiler, seedRule("high_value"));
  const plan = project.plan(["high_value"]);
  const work = mkdtempSync(join(tmpdir(), "seg-bench-engines-"));
  const planFile = join(work, "plan.json");
  writeFileSync(planFile, JSON.stringify(plan));

  const rows: SizeRow[] = [];
  try {
    for (const events of sizes) {
      const customers = Math.max(1, Math.round(events / EVENTS_PER_CUSTOMER));
      const data = await ensureData({ customers, events, seed }, engine, ctx.log);
      const row: SizeRow = { events, customers, generatedMs: data.generatedMs };
      rows.push(row);
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
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const loadAfter = machineLoad();

  let ok = true;
  const cell = (r: DuckRun | undefined, f: (r: DuckRun) => number | undefined): string => (r === undefined ? "not run" : !r.ok ? "failed" : sec(f(r) ?? NaN));
  const tableRows = rows.map((r) => {
    const counts = [r.spark?.members, r.native?.ok ? r.native.sizes?.high_value : undefined, r.evaluate?.ok ? r.evaluate.sizes?.high_value : undefined].filter((n): n is number => n !== undefined);
    const agree = counts.length > 0 && counts.every((n) => n === counts[0]);
    if (!agree) ok = false;
    const s = r.spark;
    return (
      `| ${short(r.events)} | ${short(r.customers)} | ${agree ? fmt(counts[0]!) : `❌ ${counts.map((n) => fmt(n)).join(" / ") || "none"}`} | ` +
      (s ? `${sec(s.sessionMs)} | ${sec(s.readMs)} | ${sec(s.queryMs)} | **${sec(s.wallMs)}** | ` : `failed | | | | `) +
      `${cell(r.evaluate, (d) => d.wallMs)} | ${cell(r.native, (d) => d.loadMs)} | ${cell(r.native, (d) => d.queryMs)} | **${cell(r.native, (d) => d.wallMs)}** |`
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
    `Measured ${ctx.date} on ${ctx.cpu}, ${cpus().length} CPUs (pinned: ${ctx.pinned}; Spark runs local[2], DuckDB uses its default threads). The machine is shared: ${loadBefore} before, ${loadAfter} after (\`uptime\`); above 2, other work competed for the CPUs.`,
    ``,
    `\`high_value\` (examples/rules/high_value.seg) as_of ${BENCH_AS_OF}, over generated data (bench/bench-data.ts, seed ${seed}): ${EVENTS_PER_CUSTOMER} purchases per customer, skewed, as Parquet. Times in seconds.`,
    ``,
    `| Events | Customers | Members | Spark start-up | Spark read + validate + cache | Spark query | **Spark wall** | **DuckDB evaluatePlan** | DuckDB native load | DuckDB native query | **DuckDB native wall** |`,
    `| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...tableRows,
    ``,
    `![wall time by engine](engines.svg)`,
    ``,
    `- **Spark wall**: the \`runSparkDriver\` call (JVM boot, session start, read, statement, writing and reading back the members). Start-up is the driver's \`sparkStartMs\`, read is \`readMs\`, query its statement's ms.`,
    `- **DuckDB evaluatePlan**: the whole call (\`@seg/compiler/engine\`, what \`seg eval\` runs), in a child process: loading every record through JS (read, convert, check, append) dominates.${skipped.length > 0 ? ` Not run at ${skipped.join(", ")} events (SEG_BENCH_EVAL_MAX_EVENTS=${fmt(evalMax)}: at its rate that would take many minutes and GBs of heap).` : ""}`,
    `- **DuckDB native**: DuckDB loads the Parquet files itself (casts, timestamp parsing, no per-record checks), then runs the same emitted DuckDB SQL.`,
    `- Members: the three must agree (❌ otherwise).`,
    ``,
    `## Crossover`,
    ``,
    `- Spark against \`evaluatePlan\`: ${describe(evalVsSpark, "DuckDB evaluatePlan", "Spark", evalRows, (r) => r.spark!.wallMs, (r) => r.evaluate!.wallMs)}.`,
    `- Spark (whole launch) against DuckDB native: ${describe(nativeVsSpark, "DuckDB native", "Spark", nativeRows, (r) => r.spark!.wallMs, (r) => r.native!.wallMs)}.`,
    `- Spark without start-up (read + query) against DuckDB native: ${describe(nativeVsSparkWarm, "DuckDB native", "Spark", nativeRows, (r) => r.spark!.readMs + r.spark!.queryMs, (r) => r.native!.wallMs)}.`,
    ``,
    ...(problems.length > 0 ? [`Problems: ${problems.join("; ")}`, ``] : []),
    `Data generation (cached in bench/.data/, not in the times): ${rows.map((r) => `${short(r.events)}: ${r.generatedMs > 0 ? `${sec(r.generatedMs)} s` : "cached"}`).join(", ")}. Reproduce: \`pnpm bench engines\` (smaller: \`SEG_BENCH_ENGINE_EVENTS=100000,1000000\`; with 50M: \`SEG_BENCH_ENGINE_EVENTS=100000,1000000,10000000,50000000\`).`,
    ``,
  ].join("\n");
  return { markdown, ok };
}

const bench = {
  name: "engines",
  description: "DuckDB (evaluatePlan and native) vs Spark local[2] on the seed rule at growing sizes, with the crossover",
  cpus: "all",
  run,
} satisfies Benchmark & { cpus: "all" };

export default bench;
