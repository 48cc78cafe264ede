/**
 * Shared pieces of the Spark and engine benchmarks: a deterministic, seeded generator of customer
 * profiles and purchase events (written as Parquet by DuckDB SQL into a cache folder, reused when
 * present with the same parameters), a throw-away seg project for compiling rule variants, the
 * machine-load line, and a small SVG line chart.
 *
 * Data shape (the example project's schemas, `examples/schemas`):
 * - `customer.parquet`: one profile per customer `c100000000`..; every field of the schema, ~10 %
 *   null emails, a third null `sms_opt_in`, signups over the three years before as_of.
 * - `purchase.parquet`: events whose customer is drawn with a skew (customer rank r gets a share
 *   of events proportional to r^(-1 + 1/SKEW), so a few percent of customers make most purchases);
 *   amounts log-normal (median ~$45, long tail); timestamps uniform over the 85 days before
 *   as_of and the 5 days after it (events after as_of must never count).
 * Timestamps (`ts`, `signup_time`) are native Parquet timestamps (INT64 microseconds, adjusted to
 * UTC; whole seconds), the usual layout of a Parquet table: nothing to parse. With `textTimestamps`
 * they are RFC 3339 text (`2026-10-01T12:00:00Z`) instead, as seg's JSON data is: both engines then
 * parse and validate every one like they do JSON input. Same instants in both layouts.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as Compiler from "../packages/compiler/dist/index.js";
import type * as Engine from "../packages/compiler/dist/engine/index.js";
import type * as Runtime from "../packages/runtime/dist/index.js";

/** The repository root (bench/dist/ -> ../../). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
/** as_of of every benchmark run (the example project's `defaultAsOf`). */
export const BENCH_AS_OF = "2026-11-01T00:00:00Z";
/** Bump when the generator's output changes: cached data of another version is regenerated. */
const GENERATOR_VERSION = 4;
/** Customer ranks are scattered over ids with this multiplier (a prime, so co-prime to any count below it). */
const SCATTER_PRIME = 2_147_483_647;
/** Events per customer are skewed: the share of customer rank r grows like r^(-1 + 1/SKEW). */
const SKEW = 2.2;

/** What the generator makes. */
export interface DataParams {
  customers: number;
  events: number;
  seed: number;
  /** Timestamps as RFC 3339 text instead of native Parquet timestamps (default false). */
  textTimestamps?: boolean;
}

export function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : Number(v);
}

export function envList(name: string, fallback: number[]): number[] {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : v.split(",").map((x) => Number(x.trim()));
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const sec = (ms: number): string => fmt(ms / 1000, 1);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Dynamically imported build outputs (the bench is compiled separately from the packages). */
export async function loadPackages(): Promise<{ compiler: typeof Compiler; engine: typeof Engine }> {
  const compiler = (await import(new URL("packages/compiler/dist/index.js", `file://${repoRoot}`).href)) as typeof Compiler;
  const engine = (await import(new URL("packages/compiler/dist/engine/index.js", `file://${repoRoot}`).href)) as typeof Engine;
  return { compiler, engine };
}

/** `uptime`-style load: "load average 0.52, 0.61, 0.70 on 2 CPUs, 23 GiB RAM". */
export function machineLoad(): string {
  return `load average ${loadavg().map((l) => l.toFixed(2)).join(", ")} on ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB RAM`;
}

/** The cache folder of a data set (`bench/.data/<customers>c-<events>e-s<seed>-v<version>[-text]`). */
export function dataDir(p: DataParams): string {
  return join(repoRoot, "bench", ".data", `${p.customers}c-${p.events}e-s${p.seed}-v${GENERATOR_VERSION}${p.textTimestamps ? "-text" : ""}`);
}

/**
 * The folder with `customer.parquet` and `purchase.parquet` for `p`, generated when missing.
 * `generated` is the time spent generating (0 when cached).
 */
export async function ensureData(p: DataParams, engine: typeof Engine, log: (m: string) => void): Promise<{ dir: string; generatedMs: number }> {
  const dir = dataDir(p);
  const marker = join(dir, "params.json");
  if (existsSync(marker) && readFileSync(marker, "utf8") === JSON.stringify(p)) return { dir, generatedMs: 0 };
  log(`generating ${fmt(p.customers)} customers and ${fmt(p.events)} purchases (seed ${p.seed}) into ${dir}`);
  const started = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const session = await engine.openDuckDb();
  try {
    const c = session.connection;
    await c.run(`COPY (${customerSql(p)}) TO '${join(tmp, "customer.parquet")}' (FORMAT parquet, COMPRESSION zstd)`);
    await c.run(`COPY (${purchaseSql(p)}) TO '${join(tmp, "purchase.parquet")}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)`);
  } finally {
    session.close();
  }
  writeFileSync(join(tmp, "params.json"), JSON.stringify(p));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const generatedMs = performance.now() - started;
  log(`generated in ${sec(generatedMs)} s`);
  return { dir, generatedMs };
}

/** A uniform number in (0, 1) from 30 bits of the hash column `h` starting at bit `shift`. */
function uniform(h: string, shift: number): string {
  return `((((${h} >> ${shift}) & 1073741823) + 0.5) / 1073741824.0)`;
}

/** A small integer in [0, n) from bits of the hash column `h` starting at bit `shift`. */
function pick(h: string, shift: number, n: number): string {
  return `CAST((${h} >> ${shift}) % ${n} AS INTEGER)`;
}

/** Three 64-bit hashes per row number `i` (DuckDB's hash(): deterministic for a DuckDB version). */
function hashed(count: number, seed: number): string {
  return `(SELECT i, hash(i, ${seed}) AS h1, hash(i, ${seed}, 1) AS h2, hash(i, ${seed}, 2) AS h3 FROM range(${count}) AS t(i))`;
}

/** BENCH_AS_OF in seconds since the epoch. */
const AS_OF_SECONDS = Date.parse(BENCH_AS_OF) / 1000;

/**
 * The instant `seconds` (a SQL expression: whole seconds since the epoch) as a native timestamp
 * (TIMESTAMPTZ: Parquet INT64 microseconds adjusted to UTC), or as RFC 3339 text in UTC.
 */
function instant(p: DataParams, seconds: string): string {
  const t = `make_timestamp(CAST(${seconds} AS BIGINT) * 1000000)`;
  return p.textTimestamps ? `strftime(${t}, '%Y-%m-%dT%H:%M:%SZ')` : `timezone('UTC', ${t})`;
}

function customerSql(p: DataParams): string {
  return `SELECT
    'c' || CAST(100000000 + i AS VARCHAR) AS customer_id,
    CASE WHEN ${pick("h1", 0, 10)} = 0 THEN NULL ELSE 'user' || CAST(i AS VARCHAR) || '@mail.example' END AS email,
    ['US', 'US', 'US', 'GB', 'DE', 'FR', 'CA', 'AU', 'NL', 'SE'][1 + ${pick("h1", 8, 10)}] AS country,
    ${instant(p, `CAST(${AS_OF_SECONDS} AS BIGINT) - CAST(${uniform("h2", 0)} * 3 * 365 * 86400 AS BIGINT)`)} AS signup_time,
    ${pick("h1", 16, 3)} <> 0 AS marketing_opt_in,
    CASE ${pick("h1", 24, 3)} WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END AS sms_opt_in,
    ['none', 'none', 'none', 'none', 'bronze', 'bronze', 'silver', 'silver', 'gold', 'platinum'][1 + ${pick("h1", 32, 10)}] AS loyalty_tier,
    CASE WHEN ${pick("h1", 40, 8)} = 0 THEN NULL ELSE CAST(1945 + ${pick("h1", 48, 62)} AS BIGINT) END AS birth_year
  FROM ${hashed(p.customers, p.seed)}`;
}

function purchaseSql(p: DataParams): string {
  // rank: skewed towards 0; scattered over customer ids so heavy buyers are not the low ids
  const rank = `CAST(floor(${p.customers} * pow(${uniform("h1", 0)}, ${SKEW})) AS BIGINT)`;
  const customer = `(${rank} * ${SCATTER_PRIME}) % ${p.customers}`;
  const z = `sqrt(-2 * ln(${uniform("h2", 0)})) * cos(2 * pi() * ${uniform("h2", 30)})`;
  return `SELECT
    'p' || CAST(i AS VARCHAR) AS event_id,
    'c' || CAST(100000000 + ${customer} AS VARCHAR) AS customer_id,
    ${instant(p, `(CAST(${(AS_OF_SECONDS + 5 * 86400) * 1_000_000} AS BIGINT) - CAST(${uniform("h1", 30)} * 90 * 86400 * 1e6 AS BIGINT)) // 1000000`)} AS ts,
    round(least(exp(ln(45) + 1.1 * ${z}), 20000), 2) AS amount,
    ['USD', 'USD', 'USD', 'USD', 'USD', 'CAD', 'GBP', 'EUR', 'EUR', 'AUD'][1 + ${pick("h3", 0, 10)}] AS currency,
    ['electronics', 'apparel', 'apparel', 'home', 'beauty', 'grocery', 'grocery', 'grocery', 'toys', 'books', 'sports'][1 + ${pick("h3", 8, 11)}] AS category,
    'SKU-' || CAST(${pick("h3", 16, 5000)} AS VARCHAR) AS sku,
    CAST(CASE WHEN ${pick("h3", 32, 10)} < 7 THEN 1 ELSE 2 + ${pick("h3", 40, 3)} END AS BIGINT) AS quantity,
    CASE ${pick("h3", 44, 20)} WHEN 0 THEN 'FALL10' WHEN 1 THEN 'WELCOME10' WHEN 2 THEN 'NOËL-VIP' ELSE NULL END AS coupon,
    ['web', 'web', 'app', 'app', 'store'][1 + ${pick("h3", 52, 5)}] AS channel
  FROM ${hashed(p.events, p.seed)}`;
}

/** A compiled throw-away project: the example schemas and config, with `rules` as its only rule file. */
export interface BenchProject {
  compiler: typeof Compiler;
  lowered: NonNullable<Compiler.CompiledProject["lowered"]>;
  names: string[];
  plan(segments: string[]): Compiler.PipelineSpec["plan"];
}

/** Compiles `rules` (seg source) against the example project's schemas; throws on any error. */
export function compileRules(compiler: typeof Compiler, rules: string): BenchProject {
  const dir = mkdtempSync(join(tmpdir(), "seg-bench-project-"));
  try {
    const examples = join(repoRoot, "examples");
    cpSync(join(examples, "schemas"), join(dir, "schemas"), { recursive: true });
    writeFileSync(join(dir, "seg.config.json"), readFileSync(join(examples, "seg.config.json")));
    mkdirSync(join(dir, "rules"));
    writeFileSync(join(dir, "rules", "bench.seg"), rules);
    const compiled = compiler.compileProject({ cwd: dir, env: {}, paths: [join(dir, "rules")] });
    const errors = compiled.diagnostics.filter((d) => d.severity === "error");
    if (errors.length > 0 || !compiled.lowered) throw new Error(`the benchmark rules do not compile: ${errors.map((d) => `${d.code} ${d.message}`).join("; ")}`);
    const lowered = compiled.lowered;
    const { ok } = compiler.loweredSegments(compiled);
    return { compiler, lowered, names: ok, plan: (segments) => compiler.buildPlan(lowered, segments) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The seed rule, `examples/rules/high_value.seg`, renamed to `name`. */
export function seedRule(name: string): string {
  const text = readFileSync(join(repoRoot, "examples", "rules", "high_value.seg"), "utf8");
  if (!/^segment high_value /m.test(text)) throw new Error("examples/rules/high_value.seg no longer declares segment high_value");
  return text.replace(/^segment high_value /m, `segment ${name} `);
}

/**
 * `count` variants of the seed rule named `<prefix>_01`..: windows of 30, 7, 14, 60 and 90 days
 * and thresholds scaled to the window, so they share one source but need 10 distinct aggregates.
 */
export function ruleVariants(prefix: string, count: number): { names: string[]; text: string } {
  const windows = [30, 7, 14, 60, 90];
  const names: string[] = [];
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}_${String(i + 1).padStart(2, "0")}`;
    const days = windows[i % windows.length]!;
    const spend = Math.round((1000 * days) / 30 * (1 + 0.1 * Math.floor(i / windows.length)));
    const orders = Math.max(1, Math.round((5 * days) / 30)) + (i % 3);
    names.push(name);
    parts.push(
      `segment ${name} "Variant ${i + 1}" {\n  entity customer\n  metric spend = sum(purchase.amount in last ${days} days)\n\n` +
        `  where sum(purchase.amount in last ${days} days) > ${spend}\n    and count(purchase in last ${days} days) > ${orders}\n}\n`,
    );
  }
  return { names, text: parts.join("\n") };
}

/** One line of a chart. */
export interface ChartSeries {
  label: string;
  color: string;
  points: { x: number; y: number }[];
}

/** A line chart as standalone SVG: log-scaled x (sizes), linear y from 0, a legend, labelled axes. */
export function svgLineChart(opts: { title: string; xLabel: string; yLabel: string; series: ChartSeries[]; xTickLabel: (x: number) => string }): string {
  const W = 640;
  const H = 400;
  const m = { l: 64, r: 180, t: 40, b: 52 };
  const all = opts.series.flatMap((s) => s.points);
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  const xMin = Math.log10(xs[0] ?? 1);
  const xMax = Math.log10(xs[xs.length - 1] ?? 10);
  const yMax = niceCeil(Math.max(1, ...all.map((p) => p.y)));
  const px = (x: number) => m.l + (xMax === xMin ? 0.5 : (Math.log10(x) - xMin) / (xMax - xMin)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - (y / yMax) * (H - m.t - m.b);
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(opts.title)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const y = (yMax * k) / 5;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${esc(fmt(y, yMax < 10 ? 1 : 0))}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${esc(opts.xTickLabel(x))}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  opts.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    const ly = m.t + 10 + i * 20;
    out.push(`<line x1="${W - m.r + 14}" x2="${W - m.r + 34}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - m.r + 40}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

/** How one driver launch went: the driver's own timings and the wall time seen from Node. */
export interface SparkLaunch {
  result: Awaited<ReturnType<typeof Runtime.runSparkDriver>>;
  /** spawn to exit, plus reading the output back (Node's clock). */
  wallMs: number;
  /** Options parsed to SparkSession ready (driver's `sparkStartMs`). */
  sessionMs: number;
  /** Read, validate and cache every source (driver's `readMs`). */
  readMs: number;
  /** Every statement, run and written (driver's `statementsMs`). */
  statementsMs: number;
  /** Per statement id: ms to run it and write its rows. */
  statementMs: Map<string, number>;
  /** CPU time of the driver's JVM (every thread) in the read and per statement: the work done, whatever the machine's load. */
  readCpuMs: number;
  statementCpuMs: Map<string, number>;
}

/** Loads `packages/runtime` (Spark driver wrapper). */
export async function loadRuntime(): Promise<typeof Runtime> {
  return (await import(new URL("packages/runtime/dist/index.js", `file://${repoRoot}`).href)) as typeof Runtime;
}

/**
 * Runs plans in one driver launch (local[2] unless SEG_BENCH_SPARK_MASTER) over the Parquet files
 * in `dir`. JVM heap: SEG_BENCH_SPARK_HEAP (default 8g). Full JIT, as the runtime's Spark executor
 * runs; SEG_BENCH_SPARK_QUICKSTART=1 uses the C1-only JIT (faster start, slower on big inputs).
 */
export async function launchSpark(runtime: typeof Runtime, dir: string, plans: Runtime.SparkPlanInput[], log: (m: string) => void): Promise<SparkLaunch> {
  const started = performance.now();
  const result = await runtime.runSparkDriver({
    plans,
    asOf: BENCH_AS_OF,
    input: `files:${dir}`,
    master: process.env.SEG_BENCH_SPARK_MASTER ?? "local[2]",
    jvmOptions: [`-Xmx${process.env.SEG_BENCH_SPARK_HEAP ?? "8g"}`],
    quickStart: process.env.SEG_BENCH_SPARK_QUICKSTART === "1",
    timeoutMs: 20 * 60_000,
    onLog: (line) => {
      if (/ (INFO|WARN|ERROR) (Driver|Sources|Results|Jobs):| ERROR /.test(line)) log(`spark: ${line.slice(0, 300)}`);
    },
  });
  const wallMs = performance.now() - started;
  const t = result.summary.timings ?? {};
  const statementMs = new Map<string, number>();
  const statementCpuMs = new Map<string, number>();
  for (const s of Object.values(result.summary.segments ?? {})) {
    statementMs.set(s.statement, s.ms);
    statementCpuMs.set(s.statement, s.cpuMs ?? NaN);
  }
  return { result, wallMs, sessionMs: t.sparkStartMs ?? NaN, readMs: t.readMs ?? NaN, statementsMs: t.statementsMs ?? NaN, statementMs, readCpuMs: t.readCpuMs ?? NaN, statementCpuMs };
}
