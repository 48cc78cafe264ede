/**
 * The Spark executor: each job runs the merged plan of its pipelines with seg's Spark driver
 * (`../spark/`), reading the validated topics from Kafka. The driver writes the contract's
 * messages (contracts/messages.ts) itself: each segment's members, then its complete message with
 * the segment's run id and pipeline version, straight to the results topic (one plan per results
 * topic when pipelines name several).
 *
 * Limits: the driver reads each source's topic from `as_of - lookback` (no stored offsets: every
 * job re-reads its windows), and Spark's Kafka source reads read_uncommitted unless configured.
 */
import { validTopic } from "../contracts/messages.js";
import type { SparkSummary } from "../spark/index.js";
import type { ActivePipeline } from "./active-pipelines.js";
import type { Executor, ExecutorJob, JobOutcome, SegmentOutcome } from "./executor.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";
import { mergePlans, type PlanIR } from "./merge-plans.js";

/** The Spark engine cannot be used here. */
export class EngineNotAvailableError extends Error {
  override name = "EngineNotAvailableError";
}

export interface SparkExecutorOptions {
  brokers: readonly string[];
  log?: RunnerLog;
  /**
   * Start the JVM with the quick-start JIT (C1 only): seconds faster to start, much slower on big
   * inputs. Default false: the Spark engine is for data that outgrew one machine.
   */
  quickStart?: boolean;
  /** Kill a driver after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Spark master (default the driver's, local[2]). */
  master?: string;
}

/** The driver's exit code when writing results failed. */
const OUTPUT_FAILED = 5;

/** Creates the Spark executor; throws {@link EngineNotAvailableError} when Spark is not set up or the module is missing. */
export async function createSparkExecutor(options: SparkExecutorOptions): Promise<Executor> {
  const log = options.log ?? silentLog;
  let spark: typeof import("../spark/index.js");
  try {
    spark = await import("../spark/index.js");
  } catch (e) {
    throw new EngineNotAvailableError(`the spark engine is not available: the Spark driver module cannot be loaded (${errorMessage(e)})`);
  }
  const setup = spark.ensureSpark();
  if (!setup.ready) throw new EngineNotAvailableError(`the spark engine is not available: ${setup.problems.join("; ")}; run: ${setup.setupCommand}`);

  const withValidTopics = (plan: PlanIR): PlanIR => ({ ...plan, sources: plan.sources.map((s) => ({ ...s, topic: validTopic(s.topic) })) });
  const brokers = options.brokers.join(",");

  const run = async (job: ExecutorJob): Promise<JobOutcome> => {
    const outcomes = new Map<string, SegmentOutcome>();
    const details: Record<string, unknown> = { engine: "spark", job: job.id, pipelines: job.pipelines.map((p) => p.segment) };
    // Only pipelines with a run are evaluated: every output gets messages on the results topic.
    const byTopic = new Map<string, ActivePipeline[]>();
    for (const p of job.pipelines) {
      if (!job.runIds.has(p.segment)) continue;
      const topic = p.spec.outputs.resultsTopic;
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), p]);
    }
    if (byTopic.size === 0) return { segments: outcomes, details, isolate: [] };
    const written = (segments: SparkSummary["segments"]): void => {
      for (const [segment, s] of Object.entries(segments ?? {})) if (job.runIds.has(segment)) outcomes.set(segment, { status: "succeeded", rows: s.rows });
    };
    try {
      const plans = [...byTopic].map(([topic, pipelines]) => ({
        plan: withValidTopics(mergePlans(pipelines.map((p) => p.spec.plan))),
        id: byTopic.size === 1 ? job.id : `${job.id}:${topic}`,
        resultsTopic: topic,
        runIds: Object.fromEntries(pipelines.map((p) => [p.segment, job.runIds.get(p.segment)!])),
        versions: Object.fromEntries(pipelines.map((p) => [p.segment, p.version])),
      }));
      const result = await spark.runSparkDriver({
        plans,
        asOf: job.asOf,
        input: `kafka:${brokers}`,
        output: `kafka:${brokers}`,
        runId: job.id,
        allowMissingInput: true,
        setup,
        timeoutMs: options.timeoutMs ?? 600_000,
        quickStart: options.quickStart ?? false,
        ...(options.master !== undefined ? { master: options.master } : {}),
        onLog: (line) => log("debug", `spark: ${line}`),
      });
      details["sources"] = result.sources;
      details["malformed"] = result.malformed;
      written(result.summary.segments);
      for (const pipelines of byTopic.values()) {
        for (const p of pipelines) {
          if (!outcomes.has(p.segment)) outcomes.set(p.segment, { status: "failed", error: `the Spark driver returned no result for ${p.segment}`, reason: "error" });
        }
      }
    } catch (e) {
      // statements that finished before the failure wrote complete runs
      if (e instanceof spark.SparkDriverError) written(e.summary?.segments);
      const reason = job.signal.aborted ? "cancelled" : e instanceof spark.SparkDriverError && e.exitCode === OUTPUT_FAILED ? "output" : "error";
      for (const pipelines of byTopic.values()) {
        for (const p of pipelines) if (!outcomes.has(p.segment)) outcomes.set(p.segment, { status: "failed", error: `spark: ${errorMessage(e)}`, reason });
      }
    }
    return { segments: outcomes, details, isolate: [] };
  };

  return { engine: "spark", run, interrupt: () => {}, close: async () => {} };
}
