/**
 * Runs seg's Spark driver (`jvm/spark-driver`, class `seg.spark.Driver`) in a local JVM: compiled
 * pipeline specs or a whole plan, over files or Kafka, with results read back from its file
 * output. Also {@link analyzeSparkSql}: Spark parses and analyses statements against empty views
 * of their sources, without data.
 *
 * One JVM start costs several seconds: pass many specs (or one plan with many outputs) per call.
 * The driver reads every source once and runs every statement against the same cached views.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareCodePoints, emitPlan, SparkDialect, type PipelineSpec } from "@seg/compiler";
import type { MemberMessage } from "../contracts/messages.js";
import { ensureSpark, type SparkSetup } from "./spark-setup.js";

// The IR types are not exported by @seg/compiler's entry point; the pipeline spec carries them.
type PlanIR = PipelineSpec["plan"];
type SourceIR = PlanIR["sources"][number];

/** A member of a segment as the driver wrote it. */
export interface SparkMember {
  id: string;
  metrics: Record<string, unknown>;
}

/** Rows of one output segment, sorted by id (code point order). */
export interface SparkSegmentResult {
  size: number;
  members: SparkMember[];
}

/** What the driver read from one source. */
export interface SparkSourceStats {
  location: string | null;
  rows: number;
  valid: number;
  corrupt: number;
  missingRequired: number;
  invalidValue: number;
  duplicateKey: number;
  /** A few of the records left out, each with why. */
  problems: string[];
  /**
   * The checks run on every record, as `kind:field` (`corrupt` for JSON and Kafka). Checks not
   * listed were proven from the Parquet footer without reading rows (no nulls, enum dictionaries).
   */
  checks?: string[];
  ms: number;
}

/** The driver's JSON summary (its last stdout line). */
export interface SparkSummary {
  ok: boolean;
  exitCode: number;
  error?: string;
  statement?: string;
  mode?: "run" | "analyze";
  runId?: string;
  asOf?: string;
  sparkVersion?: string;
  /** Per output segment: rows written, its statement, and that statement's wall and CPU time (the JVM's, every thread). */
  segments?: Record<string, { rows: number; statement: string; ms: number; cpuMs?: number }>;
  malformed?: Record<string, number>;
  sources?: Record<string, SparkSourceStats>;
  statements?: Record<string, SparkAnalysis>;
  failed?: number;
  timings?: Record<string, number>;
  totalMs?: number;
}

/** A plan to run as one statement: its Spark SQL is emitted unless given. */
export interface SparkPlanInput {
  plan: PlanIR;
  sql?: string;
  /** Statement id in summaries (default `plan:<outputs>`). */
  id?: string;
  /** Results topic for Kafka output (default `seg.results`). */
  resultsTopic?: string;
  /** Run id per output segment (default: the run's). */
  runIds?: Record<string, string>;
  /** Pipeline version per output segment; Kafka output needs one for every output. */
  versions?: Record<string, string>;
}

/** Where the driver reads: `files:DIR` (`<source>.jsonl|.json|.parquet`) or `kafka:HOST:PORT,...`. */
export type SparkLocation = `files:${string}` | `kafka:${string}`;

/** Options common to every driver launch. */
export interface SparkLaunchOptions {
  /** Extra Spark settings (`--conf`). */
  conf?: Record<string, string>;
  /** Spark master (default local[2]). */
  master?: string;
  /** Called with every stderr line of the driver (Spark's logs and the driver's progress). */
  onLog?: (line: string) => void;
  /** Extra JVM options (e.g. `-Xmx4g`). */
  jvmOptions?: string[];
  /**
   * C1-only JIT (`-XX:TieredStopAtLevel=1`): starts and runs small jobs about a third faster on
   * 2 cores; peak speed on big local jobs is lower. Default true.
   */
  quickStart?: boolean;
  /** Kill the driver after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Keep the temporary spec files and output folder (for debugging). */
  keepFiles?: boolean;
  /** Use this setup instead of {@link ensureSpark}'s. */
  setup?: SparkSetup;
}

/** What {@link runSparkDriver} evaluates. */
export interface SparkRunOptions extends SparkLaunchOptions {
  /** Pipeline specs (objects, or paths of `.pipeline.json` files). */
  specs?: (PipelineSpec | string)[];
  /** Plans, each run as one statement. */
  plans?: SparkPlanInput[];
  /** Shorthand for `plans: [plan]`. */
  plan?: SparkPlanInput;
  /** Evaluation time, ISO-8601 with a zone. */
  asOf: string;
  input: SparkLocation;
  /** Default: files in a temporary folder, read back and removed. */
  output?: SparkLocation;
  runId?: string;
  /** Results topic for Kafka output (overrides the specs'). */
  resultsTopic?: string;
  /** A source without a data file is empty instead of an error. */
  allowMissingInput?: boolean;
  /** Kafka input: extra milliseconds read before `as_of - lookback` (default 1 hour). */
  kafkaSlackMs?: number;
  /** Records left out that are described per source (default 10). */
  maxProblems?: number;
}

/** The result of a run. */
export interface SparkRunResult {
  runId: string;
  /** Every output segment; members are empty when the output was Kafka (sizes are real). */
  segments: Record<string, SparkSegmentResult>;
  /** Records left out per source (corrupt, missing required field, invalid value, duplicate key). */
  malformed: Record<string, number>;
  sources: Record<string, SparkSourceStats>;
  summary: SparkSummary;
  /** The last lines the driver wrote to stderr. */
  stderrTail: string[];
  /** The file output folder (only when kept or given). */
  outputDir: string | undefined;
}

/** The driver exited non-zero. */
export class SparkDriverError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly summary: SparkSummary | undefined,
    readonly stderrTail: string[],
  ) {
    super(message);
    this.name = "SparkDriverError";
  }
}

/** Runs specs and/or plans with the Spark driver and returns the members of every output segment. */
export async function runSparkDriver(options: SparkRunOptions): Promise<SparkRunResult> {
  const work = mkdtempSync(join(tmpdir(), "seg-spark-"));
  const ownOutput = options.output === undefined;
  const output: SparkLocation = options.output ?? `files:${join(work, "out")}`;
  try {
    const args = jobArgs(work, options);
    args.push("--as-of", options.asOf, "--input", options.input, "--output", output);
    if (options.runId !== undefined) args.push("--run-id", options.runId);
    if (options.resultsTopic !== undefined) args.push("--results-topic", options.resultsTopic);
    if (options.allowMissingInput) args.push("--allow-missing-input");
    if (options.kafkaSlackMs !== undefined) args.push("--kafka-slack-ms", String(options.kafkaSlackMs));
    if (options.maxProblems !== undefined) args.push("--max-problems", String(options.maxProblems));
    const run = await launch(args, options);
    const summary = run.summary;
    if (run.code !== 0 || summary === undefined || !summary.ok) throw driverError(run);
    const segments: Record<string, SparkSegmentResult> = {};
    const outDir = output.startsWith("files:") ? output.slice("files:".length) : undefined;
    for (const [name, s] of Object.entries(summary.segments ?? {})) {
      segments[name] = outDir ? readSegment(join(outDir, `${name}.jsonl`)) : { size: s.rows, members: [] };
    }
    return {
      runId: summary.runId ?? "",
      segments,
      malformed: summary.malformed ?? {},
      sources: summary.sources ?? {},
      summary,
      stderrTail: run.stderrTail,
      outputDir: ownOutput && !options.keepFiles ? undefined : outDir,
    };
  } finally {
    if (!options.keepFiles) rmSync(work, { recursive: true, force: true });
  }
}

/** Spark's verdict on one statement. */
export interface SparkAnalysis {
  ok: boolean;
  /** parse, analysis, execution (on empty input) or result (wrong result columns). */
  stage?: string;
  /** Spark's error condition, e.g. `UNRESOLVED_COLUMN.WITH_SUGGESTION`. */
  condition?: string;
  error?: string;
  ms: number;
}

/** A raw statement to analyse, over `sources`. */
export interface SparkStatementInput {
  id: string;
  sql: string;
  /** Segments it returns rows for (default `[id]`). */
  outputs?: string[];
}

/** What {@link analyzeSparkSql} checks. */
export interface SparkAnalyzeOptions extends SparkLaunchOptions {
  specs?: (PipelineSpec | string)[];
  plans?: SparkPlanInput[];
  /** Raw statements over the given sources (SourceIR from a plan, or pipeline spec sources). */
  statements?: { sources: (SourceIR | PipelineSpec["sources"][number])[]; statements: SparkStatementInput[] };
}

/** The result of {@link analyzeSparkSql}: per statement id, whether Spark accepts it. */
export interface SparkAnalyzeResult {
  statements: Record<string, SparkAnalysis>;
  failed: number;
  summary: SparkSummary;
  stderrTail: string[];
}

/**
 * Has Spark parse and analyse every statement (bound `as_of`, against empty temporary views with
 * each source's schema) and run it on that empty input. Statements Spark rejects come back with
 * `ok: false` and Spark's message; the promise rejects only when the driver itself fails.
 */
export async function analyzeSparkSql(options: SparkAnalyzeOptions): Promise<SparkAnalyzeResult> {
  const work = mkdtempSync(join(tmpdir(), "seg-spark-"));
  try {
    const args = jobArgs(work, options);
    if (options.statements) {
      const file = join(work, "statements.json");
      writeFileSync(file, JSON.stringify(options.statements));
      args.push("--statements", file);
    }
    args.push("--analyze-only");
    const run = await launch(args, options);
    const summary = run.summary;
    // exit 4: some statement was rejected, which is an answer, not a failure
    if (summary === undefined || (run.code !== 0 && !(run.code === 4 && summary.statements))) throw driverError(run);
    return { statements: summary.statements ?? {}, failed: summary.failed ?? 0, summary, stderrTail: run.stderrTail };
  } finally {
    if (!options.keepFiles) rmSync(work, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------------------------------------

function jobArgs(work: string, options: { specs?: (PipelineSpec | string)[]; plans?: SparkPlanInput[]; plan?: SparkPlanInput }): string[] {
  const args: string[] = [];
  (options.specs ?? []).forEach((spec, i) => {
    if (typeof spec === "string") {
      args.push("--spec", spec);
      return;
    }
    const file = join(work, `spec-${i}.pipeline.json`);
    writeFileSync(file, JSON.stringify(spec));
    args.push("--spec", file);
  });
  const plans = [...(options.plans ?? []), ...(options.plan ? [options.plan] : [])];
  plans.forEach((p, i) => {
    const file = join(work, `plan-${i}.json`);
    const sql = p.sql ?? emitPlan(p.plan, new SparkDialect()).sql;
    writeFileSync(file, JSON.stringify({ id: p.id, resultsTopic: p.resultsTopic, runIds: p.runIds, versions: p.versions, plan: p.plan, sql }));
    args.push("--plan", file);
  });
  return args;
}

interface Launch {
  code: number | null;
  signal: NodeJS.Signals | null;
  summary: SparkSummary | undefined;
  stderrTail: string[];
  timedOut: boolean;
}

const TAIL_LINES = 200;

async function launch(driverArgs: string[], options: SparkLaunchOptions): Promise<Launch> {
  const setup = options.setup ?? ensureSpark();
  if (!setup.ready) {
    throw new SparkDriverError(`Spark is not set up (${setup.problems.join("; ")}); run: ${setup.setupCommand}`, null, undefined, []);
  }
  const jvm = [...setup.jvmOptions];
  if (options.quickStart ?? true) jvm.push("-XX:TieredStopAtLevel=1");
  if (setup.log4jConfig) jvm.push(`-Dlog4j2.configurationFile=${setup.log4jConfig}`);
  jvm.push(...(options.jvmOptions ?? []));
  const args = [...jvm, "-cp", `${setup.jar}:${setup.classpath}`, "seg.spark.Driver", ...driverArgs];
  if (options.master !== undefined) args.push("--master", options.master);
  for (const [k, v] of Object.entries(options.conf ?? {})) args.push("--conf", `${k}=${v}`);

  return await new Promise<Launch>((resolvePromise, reject) => {
    const child = spawn(setup.java, args, { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    let stdout = "";
    let partial = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 600_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s: string) => {
      const lines = (partial + s).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        options.onLog?.(line);
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new SparkDriverError(`cannot start ${setup.java}: ${e.message}`, null, undefined, tail));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (partial !== "") {
        tail.push(partial);
        options.onLog?.(partial);
      }
      resolvePromise({ code, signal, summary: lastJsonLine(stdout), stderrTail: tail, timedOut });
    });
  });
}

function lastJsonLine(text: string): SparkSummary | undefined {
  const lines = text.split("\n").filter((l) => l.trim().startsWith("{"));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]!) as SparkSummary;
    } catch {
      // not the summary
    }
  }
  return undefined;
}

function driverError(run: Launch): SparkDriverError {
  const last = [...run.stderrTail].reverse().find((l) => l.startsWith("seg-spark-driver: error: "));
  const message = run.timedOut
    ? "the Spark driver timed out and was stopped"
    : run.summary?.error ?? (last ? last.slice("seg-spark-driver: error: ".length) : `the Spark driver exited with ${run.code ?? run.signal}: ${run.stderrTail.slice(-3).join(" | ")}`);
  return new SparkDriverError(message, run.code, run.summary, run.stderrTail);
}

function readSegment(file: string): SparkSegmentResult {
  if (!existsSync(file)) return { size: 0, members: [] };
  const members: SparkMember[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const row = JSON.parse(line) as MemberMessage;
    members.push({ id: row.entityId, metrics: row.metrics });
  }
  members.sort((a, b) => compareCodePoints(a.id, b.id));
  return { size: members.length, members };
}

