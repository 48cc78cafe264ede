/**
 * The embedded executor: each job
 *
 * 1. reads what is new on the validated topics of its sources (`validTopic(source.topic)`,
 *    read_committed) into the local DuckDB store (see event-store.ts), from the offsets stored
 *    with the data, so each refresh reads only new events;
 * 2. drops events older than any active pipeline needs (runs at the wall clock only);
 * 3. evaluates the job's pipelines with ONE query: the deployed DuckDB SQL for a job of one
 *    pipeline, the SQL of the merged plan for several (one scan of each source, each shared
 *    aggregate computed once). When the combined query fails, each pipeline is evaluated alone
 *    with its own deployed SQL, so one broken pipeline fails alone (and runs alone from then on);
 * 4. writes each segment's members and completion marker to its results topic.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DuckDbDialect, emitPlan } from "@seg/compiler";
import type { Admin, Kafka, Producer } from "kafkajs";
import { validTopic } from "../contracts/messages.js";
import type { RunnerMetrics } from "../metrics/runner-metrics.js";
import type { ActivePipeline } from "./active-pipelines.js";
import { EventStore, type LoadResult } from "./event-store.js";
import type { Executor, ExecutorJob, JobOutcome, SegmentOutcome } from "./executor.js";
import { readNewMessages, type TopicReadSummary } from "./kafka-reader.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";
import { mergePlans, type PlanIR } from "./merge-plans.js";
import { writeRunResults } from "./results-writer.js";

type SourceIR = PlanIR["sources"][number];

/** Events are kept this much longer than the longest window needs. */
export const PRUNE_SLACK_MS = 24 * 3_600_000;

/** Options of {@link createEmbeddedExecutor}. */
export interface EmbeddedExecutorOptions {
  /** The folder of the local store (e.g. `.seg-state/<schema>`). */
  stateDir: string;
  kafka: Kafka;
  admin: Admin;
  /** An idempotent producer for results. */
  producer: Producer;
  /** The consumer group reads use (never commits). */
  groupId: string;
  log?: RunnerLog;
  metrics?: RunnerMetrics;
  /** See {@link readNewMessages}. */
  readIdleMs?: number;
  chunkSize?: number;
}

/** An embedded executor with its store (exposed for tests and status). */
export interface EmbeddedExecutor extends Executor {
  readonly store: EventStore;
}

interface Evaluated {
  rows: Map<string, { entityId: string; metrics: Record<string, unknown> }[]>;
}

export async function createEmbeddedExecutor(options: EmbeddedExecutorOptions): Promise<EmbeddedExecutor> {
  const log = options.log ?? silentLog;
  const store = await EventStore.open(options.stateDir);
  const dialect = new DuckDbDialect();

  /** Brings the store up to date for `sources`; returns what was read and loaded. */
  const refresh = async (sources: SourceIR[], signal: AbortSignal) => {
    const byTopic = new Map<string, SourceIR[]>();
    for (const s of sources) {
      const topic = validTopic(s.topic);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), s]);
    }
    const topics = [];
    const rebuilt: string[] = [];
    for (const [topic, list] of byTopic) {
      for (const s of list) if (await store.ensureSource(s, topic)) rebuilt.push(s.name);
      topics.push({ topic, from: await store.offsets(topic) });
    }
    const loaded = new Map<string, { loaded: number; rejected: number; deleted: number; problems: string[] }>();
    const read: TopicReadSummary[] = await readNewMessages({
      kafka: options.kafka,
      admin: options.admin,
      groupId: options.groupId,
      topics,
      signal,
      log,
      ...(options.readIdleMs !== undefined ? { idleMs: options.readIdleMs } : {}),
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      onChunk: async (topic, messages, positions) => {
        for (const s of byTopic.get(topic) ?? []) {
          const r: LoadResult = await store.load(s, topic, messages, positions);
          const acc = loaded.get(s.name) ?? { loaded: 0, rejected: 0, deleted: 0, problems: [] };
          acc.loaded += r.loaded;
          acc.rejected += r.rejected;
          acc.deleted += r.deleted;
          acc.problems.push(...r.problems.map((p) => `${p.line !== undefined ? `record ${p.line}: ` : ""}${p.message}`).slice(0, 5 - acc.problems.length));
          loaded.set(s.name, acc);
          options.metrics?.eventsLoaded.inc({ source: s.name }, r.loaded);
          if (r.rejected > 0) log("warn", `${r.rejected} records of ${topic} could not be loaded into ${s.name}`, { problems: r.problems.map((p) => p.message) });
        }
      },
    });
    return { read, loaded: Object.fromEntries(loaded), rebuilt };
  };

  const toMembers = (rows: Record<string, unknown>[], segments: Set<string>): Evaluated => {
    const out = new Map<string, { entityId: string; metrics: Record<string, unknown> }[]>();
    for (const s of segments) out.set(s, []);
    for (const row of rows) {
      const list = out.get(String(row["segment"]));
      if (!list) continue;
      let metrics: Record<string, unknown> = {};
      try {
        const v: unknown = JSON.parse(String(row["metrics"]));
        if (typeof v === "object" && v !== null && !Array.isArray(v)) metrics = v as Record<string, unknown>;
      } catch {
        log("warn", `metrics of ${String(row["entity_id"])} in ${String(row["segment"])} are not a JSON object; sent empty`);
      }
      list.push({ entityId: String(row["entity_id"]), metrics });
    }
    return { rows: out };
  };

  let running = false;

  const run = async (job: ExecutorJob): Promise<JobOutcome> => {
    const t0 = performance.now();
    const outcomes = new Map<string, SegmentOutcome>();
    const isolate: string[] = [];
    const details: Record<string, unknown> = { engine: "embedded", job: job.id, pipelines: job.pipelines.map((p) => p.segment) };
    running = true;
    try {
      // Sources of every pipeline (by name; the scheduler only groups plans that agree on them).
      const sources = new Map<string, SourceIR>();
      for (const p of job.pipelines) for (const s of p.spec.plan.sources) if (!sources.has(s.name)) sources.set(s.name, s);
      const refreshed = await refresh([...sources.values()], job.signal);
      const t1 = performance.now();
      details["read"] = refreshed.read.map((r) => ({ topic: r.topic, exists: r.exists, messages: r.messages, partitions: r.partitions, ...(r.gaps.length ? { gaps: r.gaps } : {}) }));
      details["loaded"] = refreshed.loaded;
      if (refreshed.rebuilt.length > 0) details["rebuilt"] = refreshed.rebuilt;

      if (job.prune) {
        const pruned: Record<string, number> = {};
        const asOfMs = Date.parse(job.asOf);
        for (const s of sources.values()) {
          const keep = job.retention.get(s.name);
          if (s.kind !== "event" || keep === undefined || keep === null || keep <= 0) continue;
          const n = await store.prune(s, new Date(asOfMs - keep - PRUNE_SLACK_MS).toISOString());
          if (n > 0) pruned[s.name] = n;
        }
        if (Object.keys(pruned).length > 0) details["pruned"] = pruned;
      }
      if (job.signal.aborted) throw new Error("cancelled");

      // Evaluate: one query for the job, or each pipeline alone when that fails.
      const results = new Map<ActivePipeline, { entityId: string; metrics: Record<string, unknown> }[]>();
      const alone = async (p: ActivePipeline) => {
        try {
          const rows = await store.evaluate(p.spec.sql.duckdb, job.asOf);
          results.set(p, toMembers(rows, new Set([p.segment])).rows.get(p.segment)!);
        } catch (e) {
          if (job.signal.aborted) outcomes.set(p.segment, { status: "failed", error: "cancelled while evaluating", reason: "cancelled" });
          else outcomes.set(p.segment, { status: "failed", error: `evaluation failed: ${errorMessage(e)}`, reason: "error" });
          return false;
        }
        return true;
      };
      if (job.pipelines.length === 1) {
        await alone(job.pipelines[0]!);
        details["combined"] = false;
      } else {
        let combinedError: string | undefined;
        try {
          const merged = mergePlans(job.pipelines.map((p) => p.spec.plan));
          const rows = await store.evaluate(emitPlan(merged, dialect).sql, job.asOf);
          const members = toMembers(rows, new Set(job.pipelines.map((p) => p.segment)));
          for (const p of job.pipelines) results.set(p, members.rows.get(p.segment)!);
          details["combined"] = true;
        } catch (e) {
          combinedError = errorMessage(e);
        }
        if (combinedError !== undefined) {
          if (job.signal.aborted) throw new Error("cancelled");
          log("warn", `the combined query of ${job.id} failed (${combinedError}); evaluating its ${job.pipelines.length} pipelines one by one`);
          details["combined"] = false;
          details["combinedError"] = combinedError;
          for (const p of job.pipelines) {
            if (!(await alone(p))) isolate.push(p.segment);
          }
        }
      }
      const t2 = performance.now();
      if (job.signal.aborted) throw new Error("cancelled");

      // Write results, segment by segment.
      for (const [p, members] of results) {
        const runId = job.runIds.get(p.segment);
        if (runId === undefined) continue;
        try {
          await writeRunResults(options.producer, { segment: p.segment, runId, version: p.version, asOf: job.asOf, topic: p.spec.outputs.resultsTopic, members }, undefined, job.signal);
          outcomes.set(p.segment, { status: "succeeded", rows: members.length });
        } catch (e) {
          const cancelled = job.signal.aborted;
          outcomes.set(p.segment, { status: "failed", error: cancelled ? "cancelled while writing results" : `writing results to ${p.spec.outputs.resultsTopic} failed: ${errorMessage(e)}`, reason: cancelled ? "cancelled" : "output" });
        }
      }
      const t3 = performance.now();
      details["timingsMs"] = { read: Math.round(t1 - t0), evaluate: Math.round(t2 - t1), write: Math.round(t3 - t2) };
    } catch (e) {
      const cancelled = job.signal.aborted;
      for (const p of job.pipelines) {
        if (!outcomes.has(p.segment)) {
          outcomes.set(p.segment, cancelled ? { status: "failed", error: "cancelled", reason: "cancelled" } : { status: "failed", error: errorMessage(e), reason: "error" });
        }
      }
    } finally {
      running = false;
    }
    return { segments: outcomes, details, isolate };
  };

  return {
    engine: "embedded",
    store,
    run,
    interrupt: () => {
      if (running) store.interrupt();
    },
    close: () => store.close(),
  };
}

/** The state folder of a schema under `root`. */
export function stateDirFor(root: string, schema: string): string {
  return join(root, schema);
}
