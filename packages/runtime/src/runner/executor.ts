/**
 * What an executor does with a job, whatever the engine: evaluate every pipeline of the job at the
 * job's `as_of` and write each segment's members to the results topic.
 */
import type { ActivePipeline } from "./active-pipelines.js";
import { sourceLookback } from "@seg/compiler";

/** The engines a job can run on. */
export type EngineName = "embedded" | "spark";

/** A job as an executor gets it. */
export interface ExecutorJob {
  id: string;
  pipelines: readonly ActivePipeline[];
  /** The run id (the `runs` row id) of each pipeline's segment. */
  runIds: ReadonlyMap<string, string>;
  /** Evaluation time, ISO-8601 UTC. */
  asOf: string;
  /**
   * Per source name, the longest window any active pipeline needs (null: all of history). Events
   * older than that may be dropped from local stores; sources missing here are never pruned.
   */
  retention: ReadonlyMap<string, number | null>;
  /** Whether old events may be pruned (false for evaluations at a given, possibly past, time). */
  prune: boolean;
  signal: AbortSignal;
}

/** What became of one segment of a job. */
export type SegmentOutcome =
  | { status: "succeeded"; rows: number; details?: Record<string, unknown> }
  | { status: "failed"; error: string; reason: "error" | "output" | "cancelled" };

/** What became of a job. */
export interface JobOutcome {
  segments: Map<string, SegmentOutcome>;
  /** Recorded with every run of the job (`runs.details`). */
  details: Record<string, unknown>;
  /** Pipelines (segment names) that failed alone after their combined query failed: run them alone from now on. */
  isolate: string[];
}

/** Runs jobs on one engine. */
export interface Executor {
  readonly engine: EngineName;
  run(job: ExecutorJob): Promise<JobOutcome>;
  /** Interrupts the job running now, as far as the engine allows (a timeout or a shutdown). */
  interrupt(): void;
  close(): Promise<void>;
}

/**
 * Per source, the longest window the pipelines need: null when some aggregate needs all history or
 * the source is part of an event universe (every key ever seen); sources read only as profiles
 * are absent (profiles are never pruned).
 */
export function retentionOf(pipelines: readonly ActivePipeline[]): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const p of pipelines) {
    for (const [source, ms] of sourceLookback(p.spec.plan)) {
      const prev = out.get(source);
      if (prev === null) continue;
      out.set(source, ms === null ? null : Math.max(prev ?? 0, ms));
    }
  }
  return out;
}
