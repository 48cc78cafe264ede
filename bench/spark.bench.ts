/**
 * Spark benchmark: the seed rule (`examples/rules/high_value.seg`) over generated customers and
 * purchases with seg's Spark driver in local[2] mode:
 * - profiles per minute of the seed rule's job: driver launches that run only the seed rule (one
 *   statement, as a scheduled job of that one segment does: the sources read and validated, every
 *   record counted, then the statement), the median of SEG_BENCH_SPARK_JOB_RUNS launches; once
 *   more over the same data with timestamps stored as RFC 3339 text (parsed and checked per row);
 * - the compiled Spark SQL against a hand-written Spark SQL query for the same rule in the same
 *   driver launch (interleaved rounds; the member lists must be equal);
 * - 1, 10 and 50 segments over the same source, each set compiled into one plan (one statement).
 *
 * The last two run in one driver launch: the sources are read and validated once, and as several
 * statements read them, the rows of the longest window and the fields the statements use are
 * cached in the same pass; then every statement runs against those views (what a job of many
 * plans does). A warm-up statement runs first and is not counted.
 *
 *   pnpm bench spark             (builds; `bash infra/spark/setup.sh` first)
 *   node bench/run.js spark      (after `pnpm build && tsc -p bench`)
 *
 * Environment: SEG_BENCH_SPARK_CUSTOMERS (default 1,000,000), SEG_BENCH_SPARK_EVENTS (default
 * 10,000,000), SEG_BENCH_SPARK_ROUNDS (compiled/hand-written pairs, default 5), SEG_BENCH_SPARK_PARTS
 * (`job,text,seed,segments`), SEG_BENCH_SPARK_JOB_RUNS (seed-job launches, default 3), SEG_BENCH_SEED
 * (data seed, default 42), SEG_BENCH_SPARK_HEAP (default 8g).
 * Data is cached in bench/.data/ (gitignored).
 */
import { cpus } from "node:os";
import type * as Runtime from "../packages/runtime/dist/index.js";
import { compileRules, ensureData, envNumber, fmt, launchSpark, loadPackages, loadRuntime, machineLoad, median, ruleVariants, sec, seedRule, type SparkLaunch } from "./bench-data.js";
import type { Benchmark, BenchContext, BenchResult } from "./types.js";

/** The system seg replaces claims 500K profiles per minute; the target is ten times that. */
const TARGET_PROFILES_PER_MIN = 5_000_000;
const TARGET_HAND_RATIO = 1.1;
const TARGET_FIFTY_OVER_ONE = 5;
const SEGMENT_SETS = [1, 10, 50] as const;
/** The longest window of the rule variants (`ruleVariants`): what the shared launch caches. */
const LONGEST_WINDOW_DAYS = 90;

/**
 * The seed rule as an expert would write it in Spark SQL: aggregate the window's purchases per
 * customer, keep those over both thresholds, and only customers with a profile (the universe).
 * Same result contract as compiled statements: segment, entity_id, metrics (JSON text).
 */
export function handWrittenSeedSql(segment: string): string {
  return `SELECT '${segment}' AS segment, a.customer_id AS entity_id, to_json(named_struct('total_spend', a.total_spend)) AS metrics
FROM (
  SELECT customer_id, SUM(amount) AS total_spend
  FROM purchase
  WHERE ts <= CAST(:as_of AS TIMESTAMP) AND ts > CAST(:as_of AS TIMESTAMP) - INTERVAL 30 DAYS
  GROUP BY customer_id
  HAVING SUM(amount) > 1000 AND COUNT(*) > 5
) AS a
LEFT SEMI JOIN customer AS c ON c.customer_id = a.customer_id`;
}

/** One launch of the seed rule alone: its read, its statement, and the machine load around it. */
interface JobRun {
  launch: SparkLaunch;
  /** read + statement (ms): the job without Spark start-up. */
  jobMs: number;
  /** CPU time of the driver's JVM in the read and the statement (ms). */
  jobCpuMs: number;
  members: number;
  load: string;
}

/** The per-record checks of each source of a launch (`kind:field`), or "none". */
function checksOf(launch: SparkLaunch): string {
  return Object.entries(launch.result.sources)
    .map(([name, src]) => `${name}: ${src.checks && src.checks.length > 0 ? src.checks.join(", ") : "none"}`)
    .join("; ");
}

/** Launches the seed rule alone (one statement) over `dir`. */
async function seedJob(runtime: typeof Runtime, project: ReturnType<typeof compileRules>, dir: string, log: (m: string) => void): Promise<JobRun> {
  const launch = await launchSpark(runtime, dir, [{ id: "seed-job", plan: project.plan(["high_value_job"]) }], log);
  const statementMs = launch.statementMs.get("seed-job") ?? NaN;
  return { launch, jobMs: launch.readMs + statementMs, jobCpuMs: launch.readCpuMs + (launch.statementCpuMs.get("seed-job") ?? NaN), members: launch.result.segments["high_value_job"]?.size ?? -1, load: machineLoad() };
}

interface SetRow {
  label: string;
  segments: number;
  ms: number;
  members: number;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const customers = envNumber("SEG_BENCH_SPARK_CUSTOMERS", 1_000_000);
  const events = envNumber("SEG_BENCH_SPARK_EVENTS", 10_000_000);
  const rounds = Math.max(1, envNumber("SEG_BENCH_SPARK_ROUNDS", 5));
  const seed = envNumber("SEG_BENCH_SEED", 42);
  const parts = new Set((process.env.SEG_BENCH_SPARK_PARTS ?? "job,text,seed,segments").split(",").map((s) => s.trim()));
  const jobRuns = Math.max(1, envNumber("SEG_BENCH_SPARK_JOB_RUNS", 3));
  const { compiler, engine } = await loadPackages();
  const runtime = await loadRuntime();
  const loadBefore = machineLoad();

  const data = await ensureData({ customers, events, seed }, engine, ctx.log);

  // One project: the warm-up, the seed rule once per round, and disjoint segment sets.
  const warm = ruleVariants("warm", 1);
  const sets = SEGMENT_SETS.map((n) => ({ n, ...ruleVariants(`s${n}`, n) }));
  const again = ruleVariants("s1b", 1);
  // The same sets through the emitter's UNION ALL result (one SELECT per output), when the Spark
  // dialect has the single-pass result: both shapes in the same launch.
  const singlePass = (new compiler.SparkDialect().capabilities as unknown as Record<string, unknown>).singlePassOutputs === true;
  const unionSets = singlePass ? SEGMENT_SETS.filter((n) => n > 1).map((n) => ({ n, ...ruleVariants(`u${n}`, n) })) : [];
  const seedNames = Array.from({ length: rounds }, (_, r) => `high_value_${r + 1}`);
  const rules = [warm.text, seedRule("high_value_job"), ...seedNames.map((n) => seedRule(n)), ...sets.map((s) => s.text), ...unionSets.map((s) => s.text), again.text].join("\n");
  const project = compileRules(compiler, rules);

  // The seed rule's job: its own launches, before the long shared launch.
  const jobs: JobRun[] = [];
  let textJob: JobRun | undefined;
  if (parts.has("job")) {
    for (let i = 0; i < jobRuns; i++) {
      ctx.log(`seed job ${i + 1} of ${jobRuns}`);
      jobs.push(await seedJob(runtime, project, data.dir, ctx.log));
    }
  }
  if (parts.has("text")) {
    const textData = await ensureData({ customers, events, seed, textTimestamps: true }, engine, ctx.log);
    ctx.log(`seed job over text timestamps`);
    textJob = await seedJob(runtime, project, textData.dir, ctx.log);
  }

  const plans: Runtime.SparkPlanInput[] = [{ id: "warm-up", plan: project.plan(warm.names) }];
  if (parts.has("seed")) {
    seedNames.forEach((name, r) => {
      plans.push({ id: `compiled-${r + 1}`, plan: project.plan([name]) });
      // The compiled plan of the same rule, its output renamed: the driver takes sources and
      // lookback from it and runs our SQL instead of the emitted one.
      const plan = { ...project.plan([name]), outputs: [`hand_${r + 1}`] };
      plans.push({ id: `hand-${r + 1}`, plan, sql: handWrittenSeedSql(`hand_${r + 1}`) });
    });
  }
  if (parts.has("segments")) {
    for (const s of sets) plans.push({ id: `segments-${s.n}`, plan: project.plan(s.names) });
    if (unionSets.length > 0) {
      class UnionAllSpark extends compiler.SparkDialect {
        override readonly capabilities = { ...new compiler.SparkDialect().capabilities, singlePassOutputs: false };
      }
      for (const s of unionSets) {
        const plan = project.plan(s.names);
        plans.push({ id: `union-${s.n}`, plan, sql: compiler.emitPlan(plan, new UnionAllSpark()).sql });
      }
    }
    plans.push({ id: "segments-1-again", plan: project.plan(again.names) });
  }
  const emitted = compiler.emitPlan(project.plan(sets[sets.length - 1]!.names), new compiler.SparkDialect()).sql;
  const unionBranches = (emitted.match(/UNION ALL/g) ?? []).length + 1;

  ctx.log(`one driver launch, ${plans.length} statements, ${fmt(customers)} customers, ${fmt(events)} events`);
  const launch = await launchSpark(runtime, data.dir, plans, ctx.log);
  const seg = launch.result.segments;
  const loadAfter = machineLoad();
  const st = (id: string) => launch.statementMs.get(id) ?? NaN;
  const purchases = launch.result.sources.purchase;
  const profiles = launch.result.sources.customer;

  const lines: string[] = [];
  let ok = true;
  lines.push(
    `# Spark: seed rule and many segments`,
    ``,
    `Measured ${ctx.date} on ${ctx.cpu}, ${cpus().length} CPUs; Spark in local[2] (pinned: ${ctx.pinned}). The machine is shared: ` +
      `${loadBefore} before, ${loadAfter} after (\`uptime\`). Above 2, other work competed for the CPUs: compare the ratios, measured in the same launch, more than the absolute times.`,
    ``,
    `Data (deterministic, seed ${seed}, generated by DuckDB SQL into bench/.data/): ${fmt(customers)} customer profiles, ` +
      `${fmt(events)} purchases over the 85 days before as_of and 5 after (skewed: a few percent of customers make most purchases; log-normal amounts; in random time order, 1,000,000 rows per row group), ` +
      `timestamps as native Parquet timestamps (INT64 microseconds, UTC). ` +
      `The driver read ${fmt(profiles?.valid ?? 0)} valid profiles and ${fmt(purchases?.valid ?? 0)} valid purchases (${fmt((profiles?.rows ?? 0) + (purchases?.rows ?? 0) - (profiles?.valid ?? 0) - (purchases?.valid ?? 0))} left out). as_of ${launch.result.summary.asOf}.`,
    ``,
    ...(customers !== 1_000_000 || events !== 10_000_000
      ? [`**Smaller than the issue's size** (1,000,000 customers, 10,000,000 events): SEG_BENCH_SPARK_CUSTOMERS / SEG_BENCH_SPARK_EVENTS were set for this run.`, ``]
      : []),
  );

  if (jobs.length > 0 || textJob) {
    const jobMed = jobs.length > 0 ? median(jobs.map((j) => j.jobMs)) : NaN;
    const perMinJob = customers / (jobMed / 60_000);
    const perMinWall = jobs.length > 0 ? customers / (median(jobs.map((j) => j.launch.sessionMs + j.jobMs)) / 60_000) : NaN;
    const expected = jobs[0]?.members ?? textJob?.members ?? -1;
    const sameMembers = [...jobs, ...(textJob ? [textJob] : [])].every((j) => j.members === expected && j.members > 0);
    const rateOk = jobs.length > 0 && perMinJob >= TARGET_PROFILES_PER_MIN && sameMembers;
    ok &&= rateOk;
    const checks = (j: JobRun) => checksOf(j.launch);
    const row = (label: string, j: JobRun) =>
      `| ${label} | ${sec(j.launch.sessionMs)} | ${sec(j.launch.readMs)} | ${sec(j.launch.statementMs.get("seed-job") ?? NaN)} | ${sec(j.jobMs)} | ${sec(j.jobCpuMs)} | ${fmt(customers / (j.jobMs / 60_000))} | ${fmt(j.members)} | ${j.load.replace(/^load average /, "").replace(/ on .*/, "")} |`;
    lines.push(
      `## Seed rule job: profiles per minute`,
      ``,
      `\`high_value\` alone in a driver launch: one statement, what a scheduled job of this one segment runs. Each launch starts Spark, reads and validates both Parquet files ` +
        `(every record counted: the Parquet footer proves what it can, row counts, no nulls in required columns, enum columns whose every page is dictionary-encoded with only allowed values; the checks it cannot prove run on every record; a profile's keys are counted for duplicates), ` +
        `then runs the statement, which reads the files' columns it uses with the window pushed into the scan (no cache: one statement reads them). ` +
        `Timestamps are native Parquet timestamps (INT64, UTC); the last row reads the same data with timestamps as RFC 3339 text, parsed and checked on every record (not counted for the target). ` +
        `Times are wall-clock; "CPU" is the driver JVM's CPU time over the same phases (every thread: tasks, GC, JIT), the work done whatever else ran: with 2 cores, wall ≥ CPU / 2.`,
      ``,
      `| Launch | Start-up (s) | Read + validate (s) | Statement (s) | **Read + statement (s)** | CPU in read + statement (s) | Profiles/min without start-up | Members | Load average after (1, 5, 15 min) |`,
      `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |`,
      ...jobs.map((j, i) => row(`${i + 1}`, j)),
      ...(jobs.length > 0
        ? [
            `| **median** | | | | **${sec(jobMed)}** | ${sec(median(jobs.map((j) => j.jobCpuMs)))} | **${fmt(perMinJob)}** (target ≥ ${fmt(TARGET_PROFILES_PER_MIN)}, 10× the 500K/min claimed by the system seg replaces) ${rateOk ? "✅" : "❌"} | ${sameMembers ? "same every launch ✅" : "❌ differ"} | |`,
          ]
        : []),
      ...(textJob ? [row("text timestamps", textJob)] : []),
      ``,
      ...(jobs.length > 0
        ? [
            `With Spark start-up: ${fmt(perMinWall)} profiles/min (median of start-up + read + statement). Checks run on every record (native timestamps): ${checks(jobs[0]!)}.` +
              (textJob ? ` With text timestamps: ${checks(textJob)}.` : ""),
            ``,
          ]
        : []),
    );
  }

  lines.push(
    `## The other statements: one driver launch`,
    ``,
    `The warm-up, the compiled and hand-written seed rule rounds and the segment sets below, ${plans.length} statements, run in one launch over the same data: each source is read once and cached for all of them.`,
    ``,
    `| Phase | Time (s) | What is measured |`,
    `| --- | ---: | --- |`,
    `| Spark start-up | ${sec(launch.sessionMs)} | options parsed to SparkSession ready (driver's \`sparkStartMs\`; the JVM's own boot, ~0.5 s, is in "rest") |`,
    `| Read + validate + cache | ${sec(launch.readMs)} | both Parquet files, one pass each: the checks the footer does not prove run on every record (here: ${checksOf(launch)}); the rows of the longest window (only the fields the statements use) and every record with a problem are cached in the same pass, the problems counted from the cache and the footer's row count (\`readMs\`; CPU ${sec(launch.readCpuMs)} s) |`,
    `| Statements | ${sec(launch.statementsMs)} | ${plans.length} statements run against the cached views, rows written to the output files (\`statementsMs\`, below one by one) |`,
    `| Rest | ${sec(launch.wallMs - launch.sessionMs - launch.readMs - launch.statementsMs)} | JVM boot, Spark stop, reading the output back in Node |`,
    `| **Wall** | **${sec(launch.wallMs)}** | \`runSparkDriver\` call, Node's clock |`,
    ``,
  );

  if (parts.has("seed")) {
    const compiledMs = seedNames.map((_, r) => st(`compiled-${r + 1}`));
    const handMs = seedNames.map((_, r) => st(`hand-${r + 1}`));
    const mismatches: string[] = [];
    seedNames.forEach((name, r) => {
      const a = seg[name]?.members.map((m) => m.id) ?? [];
      const b = seg[`hand_${r + 1}`]?.members.map((m) => m.id) ?? [];
      if (a.length !== b.length || a.some((id, i) => id !== b[i])) mismatches.push(`round ${r + 1}: compiled ${fmt(a.length)} members, hand-written ${fmt(b.length)}`);
    });
    const members = seg[seedNames[0]!]?.size ?? 0;
    const cMed = median(compiledMs);
    const hMed = median(handMs);
    // paired: each round's two statements ran back to back, under about the same machine load
    const ratio = median(compiledMs.map((c, r) => c / handMs[r]!));
    const perMinQuery = customers / (cMed / 60_000);
    const perMinShared = customers / ((launch.readMs + cMed) / 60_000);
    const ratioOk = mismatches.length === 0 && ratio <= TARGET_HAND_RATIO;
    ok &&= ratioOk;
    lines.push(
      `## Seed rule: compiled vs hand-written Spark SQL`,
      ``,
      `\`high_value\`: spent more than $1,000 and made more than 5 purchases in the last 30 days. ${fmt(members)} of ${fmt(customers)} customers are members. ` +
        `Each round runs the compiled statement, then the hand-written one (\`handWrittenSeedSql\` in bench/spark.bench.ts: one aggregate with HAVING, then a semi join with the profiles for the universe; no ORDER BY); time = run + write the rows.`,
      ``,
      `| Round | Compiled (s) | Hand-written (s) | Compiled / hand | Members (compiled / hand) |`,
      `| --- | ---: | ---: | ---: | --- |`,
      ...seedNames.map((name, r) => `| ${r + 1} | ${sec(compiledMs[r]!)} | ${sec(handMs[r]!)} | ${fmt(compiledMs[r]! / handMs[r]!, 2)} | ${fmt(seg[name]?.size ?? 0)} / ${fmt(seg[`hand_${r + 1}`]?.size ?? 0)} |`),
      `| **median** | **${sec(cMed)}** | **${sec(hMed)}** | **${fmt(ratio, 2)}** (median of the rounds' ratios; target ≤ ${TARGET_HAND_RATIO}) ${ratioOk ? "✅" : "❌"} | ${mismatches.length === 0 ? "same members every round ✅" : `❌ ${mismatches.join("; ")}`} |`,
      ``,
      `| Profiles per minute in this launch (${fmt(customers)} customers) | Rate | Time counted |`,
      `| --- | ---: | --- |`,
      `| Query only | ${fmt(perMinQuery)} | median compiled statement, against the cached views |`,
      `| Read + statement | ${fmt(perMinShared)} | this launch's whole read (shared by its ${plans.length} statements; the longest window, ${fmt(LONGEST_WINDOW_DAYS)} days, cached) plus the median compiled statement; the seed rule's own job is measured above |`,
      ``,
    );
  }

  if (parts.has("segments")) {
    const rows: SetRow[] = sets.map((s) => ({ label: `${s.n}`, segments: s.n, ms: st(`segments-${s.n}`), members: s.names.reduce((n, name) => n + (seg[name]?.size ?? 0), 0) }));
    const oneMs = (st("segments-1") + st("segments-1-again")) / 2;
    const fifty = rows.find((r) => r.segments === 50)!;
    const growth = fifty.ms / oneMs;
    // Both result shapes must give the same members (sizes per variant; names differ by prefix).
    const shapeMismatch = unionSets.flatMap((u) => u.names.filter((name, k) => (seg[name]?.size ?? -1) !== (seg[sets.find((x) => x.n === u.n)!.names[k]!]?.size ?? -2)));
    const growthOk = growth < TARGET_FIFTY_OVER_ONE && shapeMismatch.length === 0;
    ok &&= growthOk;
    lines.push(
      `## 1, 10 and 50 segments over the same source`,
      ``,
      `Variants of the seed rule (windows of 30, 7, 14, 60 and 90 days, thresholds scaled to the window; \`ruleVariants\` in bench/bench-data.ts), each set compiled into one plan and run as one statement. ` +
        `The emitter's statement for 50 segments has ${unionBranches} result branch${unionBranches === 1 ? "" : "es"} (${unionBranches > 1 ? "UNION ALL of one SELECT per segment over shared CTEs" : "one pass over the flags"}). ` +
        `The 1-segment set runs before and after the others (mean of both: ${sec(oneMs)} s; ${sec(st("segments-1"))} and ${sec(st("segments-1-again"))}).`,
      ``,
      `| Segments | Statement (s) | × time of 1 | ${unionSets.length > 0 ? "UNION ALL result (s) | × time of 1 | " : ""}Rows written (all segments) |`,
      `| ---: | ---: | ---: | ${unionSets.length > 0 ? "---: | ---: | " : ""}---: |`,
      ...rows.map((r) => {
        const u = r.segments === 1 ? oneMs : st(`union-${r.segments}`);
        const union = unionSets.length > 0 ? `${r.segments === 1 ? "(same)" : sec(u)} | ${fmt(u / oneMs, 2)} | ` : "";
        return `| ${r.segments} | ${sec(r.ms)} | ${fmt(r.ms / oneMs, 2)} | ${union}${fmt(r.members)} |`;
      }),
      ...(unionSets.length > 0
        ? [``, `"UNION ALL result": the same sets (renamed) emitted with the Spark dialect's \`singlePassOutputs\` capability off, i.e. one \`SELECT ... WHERE flag\` per segment joined by UNION ALL (the emitter's result before the single-pass change), run in the same launch.`]
        : []),
      ``,
      `50 segments take ${fmt(growth, 2)}× the time of 1 (target < ${TARGET_FIFTY_OVER_ONE}×) ${growth < TARGET_FIFTY_OVER_ONE ? "✅" : "❌"}.` +
        (unionSets.length > 0 ? (shapeMismatch.length === 0 ? " Both result shapes give the same members ✅." : ` ❌ the result shapes disagree on ${shapeMismatch.join(", ")}.`) : ""),
      ``,
    );
  }
  lines.push(
    `Reproduce: \`pnpm bench spark\` (smaller: \`SEG_BENCH_SPARK_CUSTOMERS=100000 SEG_BENCH_SPARK_EVENTS=1000000 node bench/run.js spark\`; some parts: \`SEG_BENCH_SPARK_PARTS=job,text,seed,segments\`). ` +
      `Spark ${launch.result.summary.sparkVersion ?? "?"}, JVM heap ${process.env.SEG_BENCH_SPARK_HEAP ?? "8g"}, C1-only JIT ${process.env.SEG_BENCH_SPARK_QUICKSTART === "1" ? "on (SEG_BENCH_SPARK_QUICKSTART=1)" : "off (full JIT, as the runtime's Spark executor)"}.`,
  );
  return { markdown: `${lines.join("\n")}\n`, ok };
}

const bench = {
  name: "spark",
  description: "Spark driver: seed rule profiles/min, compiled vs hand-written SQL, 1/10/50 segments in one job",
  cpus: "all",
  run,
} satisfies Benchmark & { cpus: "all" };

export default bench;
