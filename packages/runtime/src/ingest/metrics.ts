/**
 * Prometheus metrics of ingestion, registered on a caller's prom-client `Registry`. prom-client is
 * loaded on first use. Two ingesters on one registry share the metrics (labels tell them apart).
 *
 *   seg_ingest_received_total{topic}           events read from a raw topic
 *   seg_ingest_valid_total{topic}              events written to the valid topic
 *   seg_ingest_invalid_total{topic,reason}     events written to the dead-letter topic
 *   seg_ingest_batch_duration_seconds{topic}   one batch: validation, transaction, progress (from the
 *                                              start of its validation to its commit, so including the
 *                                              wait for the partition's batch before it to commit)
 *   seg_ingest_lag{topic,partition}            high watermark − committed offset after the last batch
 *
 * Counters count each committed batch once per process; a batch that is read again after a failed
 * commit is counted again when it commits (the exact counts are in `stream_progress`).
 */
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The ingestion metrics. */
export interface IngestMetrics {
  received: Counter<"topic">;
  valid: Counter<"topic">;
  invalid: Counter<"topic" | "reason">;
  batchDuration: Histogram<"topic">;
  lag: Gauge<"topic" | "partition">;
}

/** Metric names. */
export const INGEST_METRIC_NAMES = Object.freeze({
  received: "seg_ingest_received_total",
  valid: "seg_ingest_valid_total",
  invalid: "seg_ingest_invalid_total",
  batchDuration: "seg_ingest_batch_duration_seconds",
  lag: "seg_ingest_lag",
});

/** Creates (or finds, when already registered) the ingestion metrics on `registry`. */
export async function createIngestMetrics(registry: Registry): Promise<IngestMetrics> {
  const prom = await import("prom-client");
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const n = INGEST_METRIC_NAMES;
  return {
    received:
      existing<Counter<"topic">>(n.received) ??
      new prom.Counter({ name: n.received, help: "Raw events read by ingestion.", labelNames: ["topic"], registers: [registry] }),
    valid:
      existing<Counter<"topic">>(n.valid) ??
      new prom.Counter({ name: n.valid, help: "Events that passed validation and were written to the valid topic.", labelNames: ["topic"], registers: [registry] }),
    invalid:
      existing<Counter<"topic" | "reason">>(n.invalid) ??
      new prom.Counter({
        name: n.invalid,
        help: "Events written to the dead-letter topic, by reason (too-large, unknown-topic, malformed-json, schema).",
        labelNames: ["topic", "reason"],
        registers: [registry],
      }),
    batchDuration:
      existing<Histogram<"topic">>(n.batchDuration) ??
      new prom.Histogram({
        name: n.batchDuration,
        help: "Time to validate one batch, write it in a Kafka transaction and record its progress.",
        labelNames: ["topic"],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
    lag:
      existing<Gauge<"topic" | "partition">>(n.lag) ??
      new prom.Gauge({
        name: n.lag,
        help: "Messages between the committed offset and the high watermark of a raw partition, after the last batch.",
        labelNames: ["topic", "partition"],
        registers: [registry],
      }),
  };
}
