/** The mover's public types: its options, what became of a run, where its time went, the handle. */
import type { EventEmitter } from "node:events";
import type { Registry } from "prom-client";
import type { RunStatus } from "./accounting.js";
import type { LookupSegment } from "./keys.js";
import type { MoverMetrics } from "./metrics.js";
import type { ApplyPhase } from "./store.js";

export type MoverLogLevel = "debug" | "info" | "warn" | "error";
/** Where the mover reports what it does. */
export type MoverLog = (level: MoverLogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Options of `startMover`. */
export interface StartMoverOptions {
  brokers: readonly string[];
  /** The consumer group (all partitions go to one member; others stand by). */
  groupId: string;
  resultsTopic: string;
  changesTopic: string;
  redisUrl: string;
  /** Prefix of the mover's own keys and of the changes channel, e.g. `seg:`. */
  redisPrefix: string;
  /** A segment's Redis keys and TTL (e.g. `spec.outputs` of its deployed pipeline). */
  lookupSegment: LookupSegment;
  /** Where the metrics are registered (a fresh registry when omitted). */
  registry?: Registry;
  log?: MoverLog;
  clientId?: string;
  /** Members per staging HSET/SADD, per chunk step and per change-message step (default 2,000). */
  chunkSize?: number;
  /**
   * Largest old + new set whose entered/left members the swap finds by set differences; larger
   * segments' are built chunk by chunk before the swap (default 200,000).
   */
  diffMaxMembers?: number;
  /**
   * Complete runs applied at the same time, in the background while the consumer reads on (default
   * 8; one segment's runs are always applied one at a time, in order).
   */
  maxConcurrentApplies?: number;
  /** TTL of staging and temporary keys (default 1 day). */
  stagingTtlSeconds?: number;
  /** A pending run not seen for this long is dropped (default 1 hour). */
  abandonAfterMs?: number;
  /** How often the consumer-lag gauge is refreshed; 0 = only on `updateLag()` (default 10 s). */
  lagIntervalMs?: number;
  /**
   * Consumer-group session timeout (default 30 s): how long a crashed mover holds its partitions
   * before a standby (or its restart) gets them.
   */
  sessionTimeoutMs?: number;
  /** kafkajs fetch sizes (defaults: 8 MB per partition, 32 MB per fetch, 100 ms wait). */
  fetch?: { maxBytesPerPartition?: number; maxBytes?: number; maxWaitTimeInMs?: number };
  /** Test hooks: called at each phase of an apply (a test may crash the process there). */
  hooks?: { phase?: (phase: ApplyPhase, run: { segment: string; runId: string }) => void | Promise<void> };
}

/** What became of a run. */
export interface RunOutcome {
  segment: string;
  runId: string;
  status: RunStatus;
  /**
   * Applied runs: how the entered/left members were found, inside the swap ("atomic") or chunk by
   * chunk before it ("chunked"). The swap itself is one atomic step either way.
   */
  path?: "atomic" | "chunked";
  /** Only the follow-up work was left (the swap had happened before a crash). */
  resumed?: boolean;
  /** Members in the run (from its marker), when known. */
  size?: number;
  entered: number;
  left: number;
  asOf?: string;
  version?: string;
  /**
   * Times, ms since epoch (in this process): run first seen, marker consumed, complete (all
   * members and the marker read), swapped (visible in Redis), done (outcome decided). Change
   * messages follow in the background: see the `changes` event.
   */
  firstSeenAt: number;
  markerAt?: number;
  completeAt?: number;
  swappedAt?: number;
  doneAt: number;
}

/** Where a mover's time went (ms of wall clock, summed since it started). */
export interface MoverTimings {
  batches: number;
  messages: number;
  /** Reading the batches' messages: parse, check, buffer. */
  parseMs: number;
  /** Waiting for staging writes (most overlap the next batch's fetch and parse). */
  stagingWaitMs: number;
  /** Starting applies of complete runs, and waiting when `maxConcurrentApplies` run already. */
  applyMs: number;
  /**
   * Applies running in the background (waiting for the segment's previous changes, then the
   * swap): time during which at least one was running.
   */
  applyBusyMs: number;
  commitMs: number;
  /** Publishing change messages from the outbox (in the background, overlapping the rest). */
  publishMs: number;
}

/** A running mover. */
export interface Mover {
  /**
   * Finishes the current batch, commits, leaves the group, publishes the change messages already
   * in the outbox (up to `drainTimeoutMs`, default 30 s; the rest stay for the next start) and
   * closes every connection.
   */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
  /** Resolves when the change messages of every swap so far are published. */
  changesPublished(): Promise<void>;
  /**
   * Emits `outcome` (every RunOutcome), `applied` and `skipped` (by status), `changes`
   * ({ segment, runId, entered, left, at }: a run's change messages were published) and
   * `failure` ({ error }).
   */
  readonly events: EventEmitter;
  /** Resolves with the run's outcome (at once if it is already known); rejects after `timeoutMs`. */
  waitForRun(segment: string, runId: string, timeoutMs?: number): Promise<RunOutcome>;
  /** Refreshes the consumer-lag gauge; resolves to the total lag. */
  updateLag(): Promise<number>;
  readonly metrics: MoverMetrics;
  /**
   * Pending runs and members held in memory right now; when the group was last joined (ms since
   * epoch); and where the time went since the start (ms, wall clock).
   */
  stats(): { pendingRuns: number; inMemoryMembers: number; committed: Record<number, string>; joinedAt: number; time: MoverTimings };
}

