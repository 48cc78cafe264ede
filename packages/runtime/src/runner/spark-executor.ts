/**
 * The Spark executor: each job runs the merged plan of its pipelines with seg's Spark driver
 * (`../spark/`), reading the validated topics from Kafka, and writes the members it gets back to
 * the results topic like the embedded executor (the driver's own Kafka output writes markers in
 * its own format, so the runner writes the contract's messages itself).
 *
 * Limits: the driver reads each source's topic from `as_of - lookback` (no stored offsets: every
 * job re-reads its windows), and Spark's Kafka source reads read_uncommitted unless configured.
 */
import type { Producer } from "kafkajs";
import { validTopic } from "../contracts/messages.js";
import type { Executor, ExecutorJob, JobOutcome, SegmentOutcome } from "./executor.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";
import { mergePlans, type PlanIR } from "./merge-plans.js";
import { writeRunResults } from "./results-writer.js";

/** The Spark engine cannot be used here. */
export class EngineNotAvailableError extends Error {
  override name = "EngineNotAvailableError";
}

export interface SparkExecutorOptions {
  brokers: readonly string[];
  producer: Producer;
  log?: RunnerLog;
  /** Kill a driver after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Spark master (default the driver's, local[2]). */
  master?: string;
}

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

  const run = async (job: ExecutorJob): Promise<JobOutcome> => {
    const outcomes = new Map<string, SegmentOutcome>();
    const details: Record<string, unknown> = { engine: "spark", job: job.id, pipelines: job.pipelines.map((p) => p.segment) };
    try {
      const plan = withValidTopics(mergePlans(job.pipelines.map((p) => p.spec.plan)));
      const result = await spark.runSparkDriver({
        plan: { plan, id: job.id },
        asOf: job.asOf,
        input: `kafka:${options.brokers.join(",")}`,
        runId: job.id,
        allowMissingInput: true,
        setup,
        timeoutMs: options.timeoutMs ?? 600_000,
        ...(options.master !== undefined ? { master: options.master } : {}),
        onLog: (line) => log("debug", `spark: ${line}`),
      });
      details["sources"] = result.sources;
      details["malformed"] = result.malformed;
      for (const p of job.pipelines) {
        const runId = job.runIds.get(p.segment);
        const seg = result.segments[p.segment];
        if (runId === undefined) continue;
        if (seg === undefined) {
          outcomes.set(p.segment, { status: "failed", error: `the Spark driver returned no result for ${p.segment}`, reason: "error" });
          continue;
        }
        try {
          const members = seg.members.map((m) => ({ entityId: m.id, metrics: m.metrics }));
          await writeRunResults(options.producer, { segment: p.segment, runId, version: p.version, asOf: job.asOf, topic: p.spec.outputs.resultsTopic, members }, undefined, job.signal);
          outcomes.set(p.segment, { status: "succeeded", rows: members.length });
        } catch (e) {
          outcomes.set(p.segment, { status: "failed", error: `writing results failed: ${errorMessage(e)}`, reason: "output" });
        }
      }
    } catch (e) {
      for (const p of job.pipelines) if (!outcomes.has(p.segment)) outcomes.set(p.segment, { status: "failed", error: `spark: ${errorMessage(e)}`, reason: job.signal.aborted ? "cancelled" : "error" });
    }
    return { segments: outcomes, details, isolate: [] };
  };

  return { engine: "spark", run, interrupt: () => {}, close: async () => {} };
}
