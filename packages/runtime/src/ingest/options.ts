/**
 * The options and results of ingestion (`startIngestion` in `ingester.ts`).
 */
import type { SchemaRegistry } from "@seg/compiler";
import type { Registry } from "prom-client";
import type { SegDb } from "../db/connection.js";
import type { DeadLetterReason } from "./classify.js";

/** A log line: kafkajs warnings and errors, rebalances, failed batches. */
export type IngestionLog = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** What one committed batch did (for `onBatch`). */
export interface BatchSummary {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Messages in the batch (including any already counted before a restart). */
  received: number;
  valid: number;
  invalid: number;
  invalidByReason: Partial<Record<DeadLetterReason, number>>;
  lag: number;
  durationMs: number;
}

/** Options of {@link startIngestion}. */
export interface IngestionOptions {
  brokers: readonly string[];
  /** The consumer group; also names the progress stream and the transactional ids. */
  groupId: string;
  registry: SchemaRegistry;
  deadLetterTopic: string;
  /** Where `stream_progress` lives (migrated on start). Without it no progress is recorded. */
  db?: SegDb | undefined;
  /** A prom-client registry to register the ingestion metrics on. */
  metrics?: Registry | undefined;
  log?: IngestionLog | undefined;
  /**
   * Raw topics to read besides the registry's (names, or patterns matched against the topics that
   * exist at start). Their events are `unknown-topic` dead letters unless a schema reads them.
   * Valid topics and the dead-letter topic are never read.
   */
  extraTopics?: readonly (string | RegExp)[] | undefined;
  /** Values over this many bytes are `too-large` (default 1 MiB). */
  maxMessageBytes?: number | undefined;
  /** Where a group without committed offsets starts: the earliest offset (default) or the latest. */
  fromBeginning?: boolean | undefined;
  /** Consumer session timeout (default 30 s; the broker's minimum is usually 6 s). */
  sessionTimeoutMs?: number | undefined;
  /**
   * Partitions processed at once (default 4): one batch's network round trips (sends, offsets,
   * commit, progress row) overlap another's validation. Each partition has its own producer, so
   * several transactions can be open at once, and a crash aborts them in any order. Kafka's own
   * read_committed consumers handle that, and so does kafkajs with seg's patch
   * (patches/kafkajs@2.2.4.patch; unpatched 2.2.4 returned records of an aborted transaction when
   * another producer's abort came first in the fetch response).
   */
  partitionsConsumedConcurrently?: number | undefined;
  /**
   * Most bytes fetched per partition and batch (default 4 MiB): also the largest transaction. Each
   * batch costs a transaction's round trips (offsets, commit) and a progress row, so larger batches
   * cost less per event.
   */
  maxBytesPerPartition?: number | undefined;
  /** How long a fetch waits for new events (default 1 s); `stop()` waits for the fetch in flight. */
  maxWaitTimeMs?: number | undefined;
  /** Create missing raw, valid and dead-letter topics (default true). */
  createTopics?: boolean | undefined;
  clientId?: string | undefined;
  /** Default `seg-ingest.<groupId>`. */
  transactionalIdPrefix?: string | undefined;
  /** The `stream` column of the progress rows (default: the group id). */
  stream?: string | undefined;
  /** Called after each committed batch. */
  onBatch?: ((summary: BatchSummary) => void) | undefined;
  /** Called when the consumer has joined the group, with the raw partitions assigned (by topic). */
  onAssignment?: ((assignment: Record<string, number[]>) => void) | undefined;
  /** Fault-injection points for tests (they crash the process there). */
  hooks?: IngestionHooks | undefined;
}

/** Where tests can crash an ingester. */
export interface IngestionHooks {
  /** A batch's events, offsets and progress are written, its transaction not yet committed: PostgreSQL is ahead of Kafka. */
  beforeCommit?: (batch: { topic: string; partition: number; lastOffset: string }) => void | Promise<void>;
  /** The transaction committed; kafkajs has not yet been told the batch is done. */
  afterCommit?: (batch: { topic: string; partition: number; lastOffset: string }) => void | Promise<void>;
}

/** A running ingestion. */
export interface Ingestion {
  readonly groupId: string;
  /** The raw topics read. */
  readonly topics: readonly string[];
  /** Stops consuming, finishing the batch in flight, and closes the Kafka clients (not `db`). */
  stop(): Promise<void>;
}

/** A batch failed (Kafka or PostgreSQL); its transaction was aborted and it will be read again. */
export class IngestBatchError extends Error {
  /** kafkajs retries retriable errors, then restarts the consumer. */
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = "IngestBatchError";
  }
}
