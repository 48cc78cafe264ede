/**
 * The results mover: a kafkajs consumer on the results topic that moves completed runs into Redis.
 *
 * - Members are buffered per (segment, runId) in memory; a run over `runMemoryLimit` members (or
 *   the largest runs, when all together pass `memoryLimit`) spills to a Redis staging HASH
 *   (`<prefix>staging:<segment>:<runId>`, entity id → metrics JSON, multi-field HSETs pipelined
 *   once per batch, overlapping the next batch's fetch and parse). A run is complete when its marker was seen and exactly `rows` distinct members
 *   were collected, whatever partitions they came through.
 * - A complete run is swapped in by {@link MoverStore.apply} (see store.ts for exactly what is
 *   atomic). The swap also records its entered/left members in Redis (an outbox); a background
 *   publisher sends them to the changes topic (idempotent producer) and the segment's pub/sub
 *   channel, so a slow changes topic does not hold up moving results. One segment's applies and
 *   publications run one at a time (a segment's next swap waits for its previous changes).
 * - Offsets: autoCommit off. After each batch the mover resolves the batch (kafkajs's in-process
 *   fetch position) and commits, per partition, up to the first message of the oldest run still
 *   pending (neither applied nor skipped). So everything at or past a committed offset that matters
 *   is either applied in Redis (with its change messages in the outbox) or will be read again: a
 *   crash (kill -9) or a lost Redis loses nothing, and re-reading is harmless (staging HSETs are
 *   idempotent, applying is idempotent). A restarted mover publishes what the outbox still holds.
 * - On a Redis or change-publishing error, or when Redis restarted (its run_id changed: staged data
 *   may be gone), the mover forgets its pending runs, seeks every partition back to its last
 *   commit, waits for Redis and reads again. Kafka consumer-group errors go to kafkajs (which
 *   rejoins; after a (re)join the mover also starts over from the commits).
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { EachBatchPayload, Producer } from "kafkajs";
import type { Redis } from "ioredis";
import type { Registry } from "prom-client";
import type { ChangeMessage, CompleteMessage } from "../contracts/messages.js";
import { createKafka } from "../kafka/admin.js";
import { RunTracker, parseResult, type PendingRun, type RunStatus } from "./accounting.js";
import { allToOneAssigner } from "./assigner.js";
import { runKey, type LookupSegment } from "./keys.js";
import { createMoverMetrics, type MoverMetrics } from "./metrics.js";
import { MoverStore, type ApplyPhase } from "./store.js";

export type MoverLogLevel = "debug" | "info" | "warn" | "error";
/** Where the mover reports what it does. */
export type MoverLog = (level: MoverLogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Options of {@link startMover}. */
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
  /** A run with more members in memory spills to its staging hash (default 100,000). */
  runMemoryLimit?: number;
  /** Members all in-memory runs may hold together before the largest spill (default 500,000). */
  memoryLimit?: number;
  /** Largest run swapped together with its entity hashes in one script (default 10,000). */
  atomicMaxMembers?: number;
  /** Members per staging HSET and per chunk script (default 2,000). */
  chunkSize?: number;
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
  /** How it was swapped (applied runs). */
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
  /** Applying complete runs (waiting for the segment's previous changes, then the swap). */
  applyMs: number;
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

/** Change messages could not be sent to Kafka (the batch is read again). */
class ChangePublishError extends Error {
  constructor(cause: unknown) {
    super(`sending change messages failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "ChangePublishError";
  }
}

/** Redis restarted under the mover (its run_id changed): staged data may be gone. */
class RedisRestartedError extends Error {
  constructor() {
    super("Redis restarted (run_id changed); reading pending runs again from the last commit");
    this.name = "RedisRestartedError";
  }
}

const isKafkaError = (e: unknown) => e instanceof Error && e.name.startsWith("KafkaJS");
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function serverRunId(redis: Redis): Promise<string> {
  const info = await redis.info("server");
  return /run_id:(\w+)/.exec(info)?.[1] ?? "";
}

/**
 * Most change messages per producer.send: every send of the idempotent producer costs a broker
 * round trip, so a chunk of changes (`chunkSize`, 2,000 by default) goes out in one. (With seg's
 * kafkajs patch a send's cost is linear in its size; unpatched 2.2.4 grouped a send's messages
 * per partition in quadratic time, which kept sends to 1,000.)
 */
const CHANGE_BATCH = 10_000;
const OUTCOMES_KEPT = 2_000;

/** Starts the mover; resolves once it has joined its consumer group. */
export async function startMover(options: StartMoverOptions): Promise<Mover> {
  const log: MoverLog = options.log ?? (() => {});
  const topic = options.resultsTopic;
  const metrics = await createMoverMetrics(options.registry);
  const kafkajs = await import("kafkajs");
  const { Redis: RedisClient } = await import("ioredis");

  let redisReadyCount = 0;
  const redis: Redis = new RedisClient(options.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    connectionName: `seg-mover:${options.groupId}`,
  });
  let lastRedisError = "";
  redis.on("error", (e: Error) => {
    if (e.message !== lastRedisError) log("warn", `redis: ${e.message}`);
    lastRedisError = e.message;
  });
  redis.on("ready", () => {
    redisReadyCount++;
    lastRedisError = "";
  });
  await redis.connect();
  let redisRunId = await serverRunId(redis);
  let redisReadySeen = redisReadyCount;

  const store = new MoverStore(redis, {
    prefix: options.redisPrefix,
    stagingTtlSeconds: options.stagingTtlSeconds ?? 86_400,
    atomicMaxMembers: options.atomicMaxMembers ?? 10_000,
    chunkSize: options.chunkSize ?? 2_000,
  });
  const tracker = new RunTracker({
    ...(options.runMemoryLimit !== undefined ? { runMemoryLimit: options.runMemoryLimit } : {}),
    ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}),
  });
  const abandonAfterMs = options.abandonAfterMs ?? 3_600_000;

  const kafka = await createKafka({ brokers: options.brokers, clientId: options.clientId ?? "seg-mover", retries: 8, connectTimeoutMs: 3_000 });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
  const admin = kafka.admin();
  const consumer = kafka.consumer({
    groupId: options.groupId,
    partitionAssigners: [allToOneAssigner(kafkajs.AssignerProtocol)],
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
    maxBytesPerPartition: options.fetch?.maxBytesPerPartition ?? 8 * 1024 * 1024,
    maxBytes: options.fetch?.maxBytes ?? 32 * 1024 * 1024,
    maxWaitTimeInMs: options.fetch?.maxWaitTimeInMs ?? 100,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: async () => true },
  });

  /** Per partition: the offset committed (or first read after joining) and the next unread one. */
  const positions = new Map<number, { committed: bigint; next?: bigint }>();
  const events = new EventEmitter();
  const outcomes = new Map<string, RunOutcome>();
  const waiters = new Map<string, { resolve: (o: RunOutcome) => void; reject: (e: Error) => void }[]>();
  let malformedSeen = 0;
  const time: MoverTimings = { batches: 0, messages: 0, parseMs: 0, stagingWaitMs: 0, applyMs: 0, commitMs: 0, publishMs: 0 };

  /** The staging writes of the previous batch, overlapping this batch's fetch and parse. */
  let flushing: Promise<unknown> | undefined;
  const forget = () => {
    tracker.reset();
    positions.clear();
    flushing = undefined;
  };
  let joinedAt = 0;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joinedAt = Date.now();
    forget();
    log("info", "joined the consumer group", { groupId: options.groupId, partitions: e.payload.memberAssignment[topic] ?? [] });
  });
  consumer.on(consumer.events.CRASH, (e) => {
    forget();
    log("error", `consumer crashed: ${e.payload.error.message}`, { restart: e.payload.restart });
    events.emit("failure", { error: e.payload.error });
  });

  const emitOutcome = (o: RunOutcome) => {
    const key = runKey(o.segment, o.runId);
    const prev = outcomes.get(key);
    if (!(prev?.status === "applied" && o.status === "duplicate")) {
      outcomes.delete(key);
      outcomes.set(key, o);
      while (outcomes.size > OUTCOMES_KEPT) outcomes.delete(outcomes.keys().next().value as string);
    }
    events.emit("outcome", o);
    events.emit(o.status === "applied" ? "applied" : "skipped", o);
    const ws = waiters.get(key);
    if (ws) {
      waiters.delete(key);
      for (const w of ws) w.resolve(outcomes.get(key)!);
    }
  };

  const outcomeOf = (run: PendingRun, status: RunStatus, extra: Partial<RunOutcome> = {}): RunOutcome => ({
    segment: run.segment,
    runId: run.runId,
    status,
    ...(run.marker ? { size: run.marker.rows, asOf: run.marker.asOf, version: run.marker.version } : {}),
    entered: 0,
    left: 0,
    firstSeenAt: run.firstSeenAt,
    ...(run.markerAt !== undefined ? { markerAt: run.markerAt } : {}),
    doneAt: Date.now(),
    ...extra,
  });

  const publish = async (changes: ChangeMessage[]) => {
    try {
      for (let i = 0; i < changes.length; i += CHANGE_BATCH) {
        const part = changes.slice(i, i + CHANGE_BATCH);
        await producer.send({ topic: options.changesTopic, messages: part.map((c) => ({ key: c.entityId, value: JSON.stringify(c) })) });
      }
    } catch (e) {
      throw new ChangePublishError(e);
    }
  };

  /** One apply or publication per segment at a time, in call order. */
  const segmentLocks = new Map<string, Promise<unknown>>();
  const withSegment = <T>(segment: string, fn: () => Promise<T>): Promise<T> => {
    const prev = segmentLocks.get(segment) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    segmentLocks.set(segment, tail);
    void tail.then(() => {
      if (segmentLocks.get(segment) === tail) segmentLocks.delete(segment);
    });
    return next;
  };

  const phaseHook = options.hooks?.phase;
  const storeCtx = (heartbeat: () => Promise<void>) => ({ publish, heartbeat, ...(phaseHook ? { phase: phaseHook } : {}) });

  /**
   * The background publisher: takes segments from the outbox queue, one at a time, and publishes
   * their change messages. On an error it waits and tries again (the record stays in Redis).
   */
  const outboxQueue = new Set<string>();
  let publishing: Promise<void> | undefined;
  let publisherStopped = false;
  let drained: (() => void)[] = [];
  const publishLoop = async () => {
    let delay = 200;
    while (outboxQueue.size > 0 && !publisherStopped) {
      const segment = outboxQueue.values().next().value as string;
      try {
        const done = await withSegment(segment, async () => {
          const t = performance.now();
          try {
            return await store.finishPending(segment, storeCtx(async () => {}));
          } finally {
            time.publishMs += performance.now() - t;
          }
        });
        outboxQueue.delete(segment);
        delay = 200;
        if (done !== null) {
          log("debug", `published the changes of run ${done.runId} of ${segment}`, { entered: done.entered, left: done.left });
          events.emit("changes", { segment, runId: done.runId, entered: done.entered, left: done.left, at: Date.now() });
        }
      } catch (e) {
        metrics.errors.inc();
        log("error", `publishing the changes of ${segment} failed; trying again: ${message(e)}`);
        events.emit("failure", { error: e });
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  };
  const publishOutbox = () => {
    if (publishing !== undefined || publisherStopped) return;
    publishing = publishLoop().finally(() => {
      publishing = undefined;
      if (outboxQueue.size > 0 && !publisherStopped) {
        publishOutbox();
      } else if (outboxQueue.size === 0) {
        const ws = drained;
        drained = [];
        for (const w of ws) w();
      }
    });
  };
  const enqueueOutbox = (segments: Iterable<string>) => {
    for (const s of segments) outboxQueue.add(s);
    if (outboxQueue.size > 0) publishOutbox();
  };
  const changesPublished = () => (outboxQueue.size === 0 && publishing === undefined ? Promise.resolve() : new Promise<void>((r) => drained.push(r)));

  const dropRun = async (run: PendingRun, status: RunStatus, why: string) => {
    if (run.spilled) await store.dropStaging(run);
    tracker.finish(run, status);
    metrics.runsSkipped.inc({ reason: status });
    log(status === "abandoned" || status === "inconsistent" ? "warn" : "info", `run ${run.runId} of ${run.segment} not applied: ${why}`, { status });
    emitOutcome(outcomeOf(run, status));
  };

  /** The marker of a run this process already finished came again: report it, change nothing. */
  const repeated = (marker: CompleteMessage, was: RunStatus) => {
    const status: RunStatus = was === "applied" ? "duplicate" : was;
    metrics.runsSkipped.inc({ reason: status });
    log("info", `run ${marker.runId} of ${marker.segment} came again; already ${was}`);
    const now = Date.now();
    emitOutcome({ segment: marker.segment, runId: marker.runId, status, size: marker.rows, asOf: marker.asOf, version: marker.version, entered: 0, left: 0, firstSeenAt: now, markerAt: now, doneAt: now });
  };

  const applyRun = async (run: PendingRun, payload: EachBatchPayload) => {
    const completeAt = Date.now();
    const target = await options.lookupSegment(run.segment);
    if (target === undefined) {
      await dropRun(run, "unknown-segment", "the segment is not deployed (lookupSegment found nothing)");
      return;
    }
    const result = await withSegment(run.segment, () => store.apply(run, target, storeCtx(() => payload.heartbeat().catch(() => {}))));
    tracker.finish(run, result.status);
    // A swap leaves a post-swap record when it has changes to publish, and a chunked one always
    // (the old set to free); a resumed one was finished in the apply.
    if (result.status === "applied" && !result.resumed && (result.path === "chunked" || result.entered + result.left > 0)) enqueueOutbox([run.segment]);
    const marker = run.marker!;
    if (result.status === "applied") {
      metrics.runsApplied.inc({ segment: run.segment });
      metrics.resultsMoved.inc(marker.rows);
      if (result.swappedAt !== undefined) metrics.swapDuration.observe((result.swappedAt - completeAt) / 1000);
      log("info", `applied run ${run.runId} of ${run.segment}`, { size: marker.rows, entered: result.entered, left: result.left, path: result.path, resumed: result.resumed ?? false });
      for (const older of tracker.olderThan(run.segment, { asOfMs: run.markerAsOfMs!, runId: run.runId })) {
        await dropRun(older, "stale", `run ${run.runId} is newer and was applied`);
      }
    } else {
      metrics.runsSkipped.inc({ reason: result.status });
      log("info", `run ${run.runId} of ${run.segment} skipped: ${result.status === "duplicate" ? "already applied" : "a newer run is applied"}`);
    }
    emitOutcome(
      outcomeOf(run, result.status, {
        entered: result.entered,
        left: result.left,
        completeAt,
        ...(result.path ? { path: result.path } : {}),
        ...(result.resumed ? { resumed: true } : {}),
        ...(result.swappedAt !== undefined ? { swappedAt: result.swappedAt } : {}),
      }),
    );
  };

  /** Throws RedisRestartedError when Redis reconnected and is a different server process. */
  const checkRedisServer = async () => {
    if (redisReadyCount === redisReadySeen) return;
    const seen = redisReadyCount;
    const id = await serverRunId(redis);
    redisReadySeen = seen;
    if (id !== redisRunId) {
      redisRunId = id;
      throw new RedisRestartedError();
    }
  };

  const commit = async (payload: EachBatchPayload) => {
    const next = new Map<number, bigint>();
    for (const [p, pos] of positions) if (pos.next !== undefined) next.set(p, pos.next);
    const parts: { partition: number; offset: string }[] = [];
    for (const [p, offset] of tracker.safeOffsets(next)) {
      if (offset > positions.get(p)!.committed) parts.push({ partition: p, offset: offset.toString() });
    }
    if (parts.length === 0) return;
    await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: parts }] });
    for (const { partition, offset } of parts) positions.get(partition)!.committed = BigInt(offset);
  };

  const recover = async (error: unknown, payload: EachBatchPayload) => {
    metrics.errors.inc();
    log("error", `batch failed, reading pending runs again from the last commit: ${message(error)}`, { error: error instanceof Error ? error.name : "unknown" });
    events.emit("failure", { error });
    tracker.reset();
    flushing = undefined;
    for (const [partition, pos] of positions) {
      consumer.seek({ topic, partition, offset: pos.committed.toString() });
      pos.next = undefined;
    }
    let delay = 100;
    while (payload.isRunning()) {
      try {
        await redis.ping();
        redisRunId = await serverRunId(redis);
        redisReadySeen = redisReadyCount;
        enqueueOutbox(await store.outbox());
        return;
      } catch {
        await sleep(delay);
        delay = Math.min(delay * 2, 2_000);
        await payload.heartbeat().catch(() => {});
      }
    }
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    if (payload.isStale() || batch.messages.length === 0) return;
    const partition = batch.partition;
    try {
      await checkRedisServer();
      if (!positions.has(partition)) positions.set(partition, { committed: BigInt(batch.messages[0]!.offset) });
      const now = Date.now();
      let t = performance.now();
      time.batches++;
      time.messages += batch.messages.length;
      for (const m of batch.messages) {
        const parsed = parseResult(m.value);
        if (parsed.kind === "member") {
          tracker.member(parsed.message, parsed.metricsJson, partition, m.offset, now);
        } else if (parsed.kind === "complete") {
          if (tracker.marker(parsed.message, parsed.asOfMs, partition, m.offset, now) === undefined) {
            repeated(parsed.message, tracker.finishedStatus(parsed.message.segment, parsed.message.runId)!);
          }
        } else {
          metrics.malformed.inc();
          if (++malformedSeen <= 20 || malformedSeen % 1_000 === 0) {
            log("warn", `skipped a malformed message: ${parsed.reason}`, { partition, offset: m.offset, seen: malformedSeen });
          }
        }
      }
      // Staging: the previous batch's writes must be done (an error surfaces here), this batch's
      // go out while the next batch is fetched and parsed. Commits never pass a pending run, so an
      // unfinished flush cannot let an offset be committed too early; a spilled run with its marker
      // is judged only after its flushes are done.
      tracker.spill();
      time.parseMs += performance.now() - t;
      t = performance.now();
      const previous = flushing;
      flushing = undefined;
      if (previous) await previous;
      const toFlush = tracker.unflushed();
      if (toFlush.length > 0) {
        const f = store.flush(toFlush);
        f.catch(() => {}); // awaited below or in the next batch
        flushing = f;
        if (toFlush.some((r) => r.marker !== undefined) || !payload.isRunning()) {
          flushing = undefined;
          await f;
        }
      }
      time.stagingWaitMs += performance.now() - t;
      t = performance.now();
      for (const run of [...tracker.runs()]) {
        const c = RunTracker.completion(run);
        if (c === "complete") {
          await applyRun(run, payload);
          // One batch can complete many runs: keep the session alive between them.
          await payload.heartbeat().catch(() => {});
        } else if (c === "overcount") await dropRun(run, "inconsistent", `${RunTracker.count(run)} distinct members but the marker says ${run.marker!.rows}`);
      }
      for (const run of tracker.idleSince(now - abandonAfterMs)) {
        await dropRun(run, "abandoned", `no message for ${Math.round((now - run.lastSeenAt) / 1000)} s and not complete (${RunTracker.count(run)} members, marker ${run.marker ? "seen" : "not seen"})`);
      }
      time.applyMs += performance.now() - t;
      t = performance.now();
      payload.resolveOffset(batch.lastOffset());
      positions.get(partition)!.next = BigInt(batch.lastOffset()) + 1n;
      await commit(payload);
      time.commitMs += performance.now() - t;
    } catch (e) {
      if (isKafkaError(e)) {
        // kafkajs rejoins the group (or restarts the consumer); Kafka then delivers from the commits.
        forget();
        throw e;
      }
      await recover(e, payload);
      return;
    }
    await payload.heartbeat();
  };

  await Promise.all([producer.connect(), admin.connect()]);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const joined = new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
  await joined;
  // Change messages a previous mover swapped in but did not get to publish.
  enqueueOutbox(await store.outbox());

  const updateLag = async (): Promise<number> => {
    const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: options.groupId, topics: [topic] })]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let total = 0;
    for (const h of high) {
      const c = done.get(h.partition);
      const lag = Math.max(0, Number(h.high) - (c !== undefined && c >= 0 ? c : Number(h.low)));
      metrics.consumerLag.set({ partition: String(h.partition) }, lag);
      total += lag;
    }
    return total;
  };
  const lagIntervalMs = options.lagIntervalMs ?? 10_000;
  const lagTimer =
    lagIntervalMs > 0
      ? setInterval(() => {
          updateLag().catch((e: unknown) => log("debug", `consumer lag not updated: ${message(e)}`));
        }, lagIntervalMs)
      : undefined;
  lagTimer?.unref();

  let stopping: Promise<void> | undefined;
  const stop = (stopOptions: { drainTimeoutMs?: number } = {}) =>
    (stopping ??= (async () => {
      if (lagTimer) clearInterval(lagTimer);
      await consumer.disconnect().catch((e: unknown) => log("warn", `consumer disconnect: ${message(e)}`));
      const drainMs = stopOptions.drainTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        changesPublished().then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainMs))),
      ]);
      clearTimeout(timer);
      publisherStopped = true;
      if (timedOut) log("warn", `stopping with change messages still in the outbox (${outboxQueue.size} segments); the next start publishes them`);
      await publishing;
      await Promise.all([
        producer.disconnect().catch((e: unknown) => log("warn", `producer disconnect: ${message(e)}`)),
        admin.disconnect().catch(() => {}),
      ]);
      await redis.quit().catch(() => redis.disconnect());
      for (const [key, ws] of waiters) {
        waiters.delete(key);
        for (const w of ws) w.reject(new Error("the mover stopped"));
      }
      log("info", "mover stopped");
    })());

  const waitForRun = (segment: string, runId: string, timeoutMs = 60_000): Promise<RunOutcome> => {
    const key = runKey(segment, runId);
    const known = outcomes.get(key);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (o: RunOutcome) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const rest = (waiters.get(key) ?? []).filter((w) => w !== waiter);
        if (rest.length > 0) waiters.set(key, rest);
        else waiters.delete(key);
        reject(new Error(`run ${runId} of ${segment} not finished within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(key, [...(waiters.get(key) ?? []), waiter]);
    });
  };

  return {
    stop,
    changesPublished,
    events,
    waitForRun,
    updateLag,
    metrics,
    stats: () => ({
      pendingRuns: tracker.size,
      inMemoryMembers: tracker.inMemory(),
      committed: Object.fromEntries([...positions].map(([p, pos]) => [p, pos.committed.toString()])),
      joinedAt,
      time: { ...time },
    }),
  };
}
