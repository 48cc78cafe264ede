/**
 * The mover's Prometheus metrics (prom-client, registered on the registry the caller passes).
 * prom-client is loaded on first use.
 */
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface MoverMetrics {
  registry: Registry;
  /** Members of applied runs written to Redis. */
  resultsMoved: Counter;
  /** Runs swapped in, by segment. */
  runsApplied: Counter<"segment">;
  /** Runs not applied, by reason (duplicate, stale, unknown-segment, inconsistent, abandoned). */
  runsSkipped: Counter<"reason">;
  /** From a run's completion to its swap (the new set visible), in seconds. */
  swapDuration: Histogram;
  /** Messages of the results topic not yet committed by the mover's group, per partition. */
  consumerLag: Gauge<"partition">;
  /** Results-topic messages that are not result messages (skipped). */
  malformed: Counter;
  /** Batches that failed (Redis or Kafka errors) and were read again. */
  errors: Counter;
}

/** Creates the mover's metrics on `registry` (a fresh one when omitted). */
export async function createMoverMetrics(registry?: Registry): Promise<MoverMetrics> {
  const prom = await import("prom-client");
  const reg = registry ?? new prom.Registry();
  const registers = [reg];
  return {
    registry: reg,
    resultsMoved: new prom.Counter({ name: "seg_mover_results_moved_total", help: "Segment members moved from the results topic into Redis (members of applied runs).", registers }),
    runsApplied: new prom.Counter({ name: "seg_mover_runs_applied_total", help: "Segment runs swapped into Redis.", labelNames: ["segment"] as const, registers }),
    runsSkipped: new prom.Counter({ name: "seg_mover_runs_skipped_total", help: "Segment runs not applied, by reason.", labelNames: ["reason"] as const, registers }),
    swapDuration: new prom.Histogram({
      name: "seg_mover_swap_duration_seconds",
      help: "Time from a run's completion (marker and every member received) to its swap in Redis.",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    consumerLag: new prom.Gauge({ name: "seg_mover_consumer_lag", help: "Results-topic messages not yet committed by the mover's consumer group.", labelNames: ["partition"] as const, registers }),
    malformed: new prom.Counter({ name: "seg_mover_malformed_messages_total", help: "Results-topic messages that are not valid result messages (skipped).", registers }),
    errors: new prom.Counter({ name: "seg_mover_errors_total", help: "Batches that failed on a Redis or Kafka error and are read again.", registers }),
  };
}
