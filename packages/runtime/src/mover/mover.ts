/**
 * The results mover: a kafkajs consumer on the results topic that moves completed runs into Redis.
 *
 * - Messages come as record views (kafka/record-view.ts): each value is read where it lies in
 *   the fetched bytes. Members are read by a fast path for the jobs' own layout (fast-parse.ts;
 *   anything else is parsed in full) and staged per (segment, runId): once per batch, in one
 *   pipeline overlapping the next batch's fetch and parse, the members read go to the run's
 *   private new-members SET and
 *   metrics HASH (`<prefix>staging:<segment>:<runId>`, entity id → metrics JSON), so the mover
 *   holds at most a few batches in memory whatever the size of a run, and Redis builds the new
 *   state while the run is still being read. Members go as native HSET and SADD commands whose
 *   arguments the fast parser wrote as Redis protocol straight from the message bytes
 *   (packed-members.ts): no string or argument object per member. A run is complete when its
 *   marker was seen and exactly `rows` distinct members were staged, whatever partitions they
 *   came through.
 * - A complete run is swapped in by {@link MoverStore.apply} (one script for runs of any size: see
 *   store.ts), in the background: the consumer reads on meanwhile, up to `maxConcurrentApplies` runs
 *   are applied at a time. The swap also records its entered/left members in Redis (an outbox); a
 *   background publisher sends them to the changes topic (idempotent producer) and the segment's
 *   pub/sub channel (the same JSON text, made by the mover per SSCAN chunk), so a slow changes
 *   topic does not hold up moving results (and it lets applies go first). One segment's applies
 *   and publications run one at a time, in order (a segment's next swap waits for its previous
 *   changes).
 * - Offsets: autoCommit off. After each batch, and after each background apply, the mover commits,
 *   per partition, up to the first message of the oldest run still pending (neither applied nor
 *   skipped; a run being applied is pending). So everything at or past a committed offset that
 *   matters is either applied in Redis (with its change messages in the outbox) or will be read
 *   again: a crash (kill -9) or a Redis that lost its data loses nothing, and re-reading is
 *   harmless (staging HSETs and SADDs are idempotent, applying is idempotent). A restarted mover
 *   publishes what the outbox still holds. A run first seen that is its segment's applied run (read
 *   or sent again after a restart) is dropped at once as a duplicate, not held until abandoned.
 *   (A Redis brought back from an older snapshot or an unsynced append-only file is another
 *   matter: swaps committed since are gone with their change messages, and are not read again.
 *   Run Redis with `appendfsync always` where that matters.)
 * - On a Redis or change-publishing error (in a batch or in a background apply), or when Redis
 *   restarted (its run_id changed: staged data may be gone), the mover waits for the applies
 *   running, forgets its pending runs, seeks every partition back to its last commit, waits for
 *   Redis and reads again. Kafka consumer-group errors go to kafkajs (which rejoins; after a
 *   (re)join the mover also starts over from the commits).
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { EachBatchPayload, Producer } from "kafkajs";
import type { Redis } from "ioredis";
import type { CompleteMessage } from "../contracts/messages.js";
import { createKafka } from "../kafka/admin.js";
import { recordView, valueRange, type ValueRange } from "../kafka/record-view.js";
import { RunTracker, parseResult, type PendingRun, type RunStatus } from "./accounting.js";
import { allToOneAssigner } from "./assigner.js";
import { FastMemberParser } from "./fast-parse.js";
import { postSwapKey } from "./keys.js";
import { createMoverMetrics } from "./metrics.js";
import { RunOutcomes } from "./outcomes.js";
import { OutboxPublisher, keyedQueue } from "./publisher.js";
import { MoverStore, type EncodedChange } from "./store.js";
import type { Mover, MoverLog, MoverTimings, RunOutcome, StartMoverOptions } from "./types.js";

export type { Mover, MoverLog, MoverLogLevel, MoverTimings, RunOutcome, StartMoverOptions } from "./types.js";

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
/** Staging flushes (one pipeline per batch) in flight at most. */
const MAX_FLUSHES = 4;

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

  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? 2_000));
  const store = new MoverStore(redis, {
    prefix: options.redisPrefix,
    stagingTtlSeconds: options.stagingTtlSeconds ?? 86_400,
    chunkSize,
    ...(options.diffMaxMembers !== undefined ? { diffMaxMembers: options.diffMaxMembers } : {}),
  });
  const maxConcurrentApplies = Math.max(1, options.maxConcurrentApplies ?? 8);
  const tracker = new RunTracker({ chunkMembers: chunkSize });
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
    // Values read where they lie (see kafka/record-view.ts).
    recordViews: true,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: async () => true },
  });

  /** Per partition: the offset committed (or first read after joining) and the next unread one. */
  const positions = new Map<number, { committed: bigint; next?: bigint }>();
  const events = new EventEmitter();
  const outcomes = new RunOutcomes(events);
  let malformedSeen = 0;
  const time: MoverTimings = { batches: 0, messages: 0, parseMs: 0, stagingWaitMs: 0, applyMs: 0, applyBusyMs: 0, commitMs: 0, publishMs: 0 };

  /**
   * The staging writes of the last batches (in order on the one connection), overlapping the next
   * batches' fetch and parse; at most MAX_FLUSHES in flight.
   */
  let flushes: Promise<unknown>[] = [];
  /**
   * Applies running in the background. `generation` changes whenever the tracker is reset (a
   * rejoin, a rewind): an apply started before then no longer touches the tracker or the commits.
   * A failed apply leaves `applyFailure`; the next batch (or, when none comes, the rewind it starts)
   * reads the pending runs again from the last commit.
   */
  const applying = new Set<Promise<void>>();
  let generation = 0;
  let applyFailure: { error: unknown } | undefined;
  const forget = () => {
    generation++;
    tracker.reset();
    positions.clear();
    flushes = [];
    applyFailure = undefined;
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

  const emitOutcome = (o: RunOutcome) => outcomes.record(o);

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

  const publish = async (changes: EncodedChange[]) => {
    try {
      for (let i = 0; i < changes.length; i += CHANGE_BATCH) {
        await producer.send({ topic: options.changesTopic, messages: changes.length <= CHANGE_BATCH ? changes : changes.slice(i, i + CHANGE_BATCH) });
      }
    } catch (e) {
      throw new ChangePublishError(e);
    }
  };

  /** One apply or publication per segment at a time, in call order. */
  const withSegment = keyedQueue();

  const phaseHook = options.hooks?.phase;
  const storeCtx = (heartbeat: () => Promise<void>, gen?: number) => ({
    publish,
    heartbeat,
    ...(gen !== undefined ? { current: () => gen === generation } : {}),
    ...(phaseHook ? { phase: phaseHook } : {}),
  });

  /** Resolves when no apply runs, or after `maxMs`. */
  const appliesIdle = async (maxMs: number) => {
    const until = Date.now() + maxMs;
    while (applying.size > 0 && Date.now() < until) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...applying]), new Promise((r) => (timer = setTimeout(r, until - Date.now())))]);
      clearTimeout(timer);
    }
  };

  /** The background publisher of the outbox (the record of a segment stays in Redis until done). */
  const publisher = new OutboxPublisher({
    publish: (segment) =>
      withSegment(segment, async () => {
        const t = performance.now();
        try {
          return await store.finishPending(segment, storeCtx(async () => {}));
        } finally {
          time.publishMs += performance.now() - t;
        }
      }),
    yieldTo: appliesIdle,
    published: (segment, done) => {
      log("debug", `published the changes of run ${done.runId} of ${segment}`, { entered: done.entered, left: done.left });
      events.emit("changes", { segment, runId: done.runId, entered: done.entered, left: done.left, at: Date.now() });
    },
    failed: (segment, e) => {
      metrics.errors.inc();
      log("error", `publishing the changes of ${segment} failed; trying again: ${message(e)}`);
      events.emit("failure", { error: e });
    },
  });
  const enqueueOutbox = (segments: Iterable<string>) => publisher.enqueue(segments);
  const changesPublished = () => publisher.drained();

  const dropRun = async (run: PendingRun, status: RunStatus, why: string) => {
    // Finished first: members read meanwhile are not buffered (and staged again) for it.
    tracker.finish(run, status);
    await store.dropStaging(run);
    metrics.runsSkipped.inc({ reason: status });
    log(status === "abandoned" || status === "inconsistent" ? "warn" : "info", `run ${run.runId} of ${run.segment} not applied: ${why}`, { status });
    emitOutcome(outcomeOf(run, status));
  };

  /**
   * Runs first seen just now that are their segment's applied run (read again after a restart, or
   * sent again late, perhaps without their marker) are duplicates: dropped at once, so that they do
   * not hold their partitions' commits back until abandoned. One HGET per new run.
   */
  const dropAppliedAgain = async (runs: PendingRun[]) => {
    // Only a shortcut: when the check fails, the runs take the usual way (their apply finds them).
    const targets = await Promise.all(runs.map((run) => options.lookupSegment(run.segment))).catch(() => undefined);
    if (targets === undefined) return;
    const pipe = redis.pipeline();
    const asked: PendingRun[] = [];
    runs.forEach((run, i) => {
      const metaKey = targets[i]?.redis.metaKey;
      if (!metaKey || run.applying) return;
      pipe.hget(metaKey, "runId");
      pipe.hget(postSwapKey(options.redisPrefix, run.segment), "runId");
      asked.push(run);
    });
    if (asked.length === 0) return;
    const replies = (await pipe.exec().catch(() => null)) ?? [];
    for (let i = 0; i < asked.length; i++) {
      const [err, applied] = replies[2 * i] ?? [];
      const [postErr, posting] = replies[2 * i + 1] ?? [];
      const run = asked[i]!;
      // A swap whose change messages are still to publish is left to its apply, which finishes them.
      if (err || postErr || applied !== run.runId || posting === run.runId || run.applying || tracker.get(run.segment, run.runId) !== run) continue;
      // Its staging must not be written again after it is dropped.
      while (run.flushing > 0 && flushes.length > 0) await flushes.shift();
      await dropRun(run, "duplicate", "it is the run the segment already has (read or sent again)");
    }
  };

  /** The marker of a run this process already finished came again: report it, change nothing. */
  const repeated = (marker: CompleteMessage, was: RunStatus) => {
    const status: RunStatus = was === "applied" ? "duplicate" : was;
    metrics.runsSkipped.inc({ reason: status });
    log("info", `run ${marker.runId} of ${marker.segment} came again; already ${was}`);
    const now = Date.now();
    emitOutcome({ segment: marker.segment, runId: marker.runId, status, size: marker.rows, asOf: marker.asOf, version: marker.version, entered: 0, left: 0, firstSeenAt: now, markerAt: now, doneAt: now });
  };

  const applyRun = async (run: PendingRun, gen: number, heartbeat: () => Promise<void>) => {
    const completeAt = Date.now();
    const target = await options.lookupSegment(run.segment);
    if (target === undefined || !target.redis.metricsKey) {
      const why =
        target === undefined
          ? "the segment is not deployed (lookupSegment found nothing)"
          : "its deployed spec has no metrics key (it was deployed by an older seg, with per-entity hashes): deploy the project again";
      if (gen === generation) await dropRun(run, "unknown-segment", why);
      return;
    }
    const result = await withSegment(run.segment, () => store.apply(run, target, storeCtx(heartbeat, gen)));
    if (gen === generation) tracker.finish(run, result.status);
    // A swap leaves a post-swap record when it has changes to publish; a resumed one was finished in the apply.
    if (result.status === "applied" && !result.resumed && result.entered + result.left > 0) enqueueOutbox([run.segment]);
    const marker = run.marker!;
    if (result.status === "applied") {
      metrics.runsApplied.inc({ segment: run.segment });
      metrics.resultsMoved.inc(marker.rows);
      if (result.swappedAt !== undefined) metrics.swapDuration.observe((result.swappedAt - completeAt) / 1000);
      log("info", `applied run ${run.runId} of ${run.segment}`, { size: marker.rows, entered: result.entered, left: result.left, path: result.path, resumed: result.resumed ?? false });
      if (gen === generation) {
        for (const older of tracker.olderThan(run.segment, { asOfMs: run.markerAsOfMs!, runId: run.runId })) {
          await dropRun(older, "stale", `run ${run.runId} is newer and was applied`);
        }
      }
    } else {
      metrics.runsSkipped.inc({ reason: result.status });
      const why = { duplicate: "already applied", stale: "a newer run is applied", inconsistent: `${result.staged} distinct members staged but the marker says ${run.marker!.rows}` }[result.status];
      log(result.status === "inconsistent" ? "warn" : "info", `run ${run.runId} of ${run.segment} skipped: ${why}`);
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
    if (gen === generation) commitInBackground();
  };

  /**
   * Starts applying a complete run in the background (at most `maxConcurrentApplies` at a time:
   * waits for one to finish first). The run stays pending (holding its commits back) until done.
   */
  const startApply = async (run: PendingRun, payload: EachBatchPayload) => {
    if (stopRequested) return; // stays pending: read again after the restart
    const heartbeat = () => payload.heartbeat().catch(() => {});
    while (applying.size >= maxConcurrentApplies) {
      await Promise.race(applying);
      await heartbeat();
    }
    run.applying = true;
    const gen = generation;
    const p: Promise<void> = applyRun(run, gen, heartbeat)
      .catch((e: unknown) => {
        if (gen !== generation || applyFailure !== undefined) return;
        applyFailure = { error: e };
        rewind();
      })
      .finally(() => {
        applying.delete(p);
        if (applying.size === 0) time.applyBusyMs += performance.now() - busySince;
      });
    if (applying.size === 0) busySince = performance.now();
    applying.add(p);
  };
  let busySince = 0;

  /** Resolves when no apply is running (those started meanwhile included). */
  const appliesSettled = async (heartbeat?: () => Promise<unknown>) => {
    while (applying.size > 0) {
      await Promise.allSettled([...applying]);
      await heartbeat?.();
    }
  };

  /** After a failed apply: Kafka delivers the pending runs again from the last commit. */
  const rewind = () => {
    for (const [partition, pos] of positions) {
      try {
        consumer.seek({ topic, partition, offset: pos.committed.toString() });
      } catch (e) {
        log("warn", `seek to the last commit failed: ${message(e)}`);
      }
    }
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

  type CommitParts = { partition: number; offset: string }[];
  /** Commits every partition up to its safe offset (see RunTracker.safeOffsets); one commit at a time. */
  let commitChain: Promise<unknown> = Promise.resolve();
  const commit = (send: (parts: CommitParts) => Promise<unknown>): Promise<void> => {
    const next = commitChain.then(async () => {
      const gen = generation;
      const reached = new Map<number, bigint>();
      for (const [p, pos] of positions) if (pos.next !== undefined) reached.set(p, pos.next);
      const parts: CommitParts = [];
      for (const [p, offset] of tracker.safeOffsets(reached)) {
        if (offset > positions.get(p)!.committed) parts.push({ partition: p, offset: offset.toString() });
      }
      if (parts.length === 0) return;
      await send(parts);
      if (gen !== generation) return;
      for (const { partition, offset } of parts) {
        const pos = positions.get(partition);
        if (pos !== undefined && BigInt(offset) > pos.committed) pos.committed = BigInt(offset);
      }
    });
    commitChain = next.catch(() => {});
    return next;
  };
  /** A commit after a background apply (the consumer may be idle); one waits at most. */
  let commitQueued = false;
  const commitInBackground = () => {
    if (commitQueued || stopped) return;
    commitQueued = true;
    void commitChain.then(() => {
      commitQueued = false;
      if (stopped) return;
      commit((parts) => consumer.commitOffsets(parts.map((p) => ({ topic, ...p })))).catch((e: unknown) => {
        log("debug", `offsets not committed (the next batch commits them): ${message(e)}`);
      });
    });
  };
  let stopped = false;
  let stopRequested = false;

  const recover = async (error: unknown, payload: EachBatchPayload) => {
    metrics.errors.inc();
    log("error", `batch failed, reading pending runs again from the last commit: ${message(error)}`, { error: error instanceof Error ? error.name : "unknown" });
    events.emit("failure", { error });
    generation++;
    await appliesSettled(() => payload.heartbeat().catch(() => {}));
    tracker.reset();
    flushes = [];
    applyFailure = undefined;
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

  const fast = new FastMemberParser();
  /** Where the value being read lies (reused). */
  const valueAt: ValueRange = { bytes: undefined, start: 0, end: 0 };
  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    if (payload.isStale() || batch.messages.length === 0) return;
    const partition = batch.partition;
    if (applyFailure !== undefined) {
      await recover(applyFailure.error, payload);
      return;
    }
    try {
      await checkRedisServer();
      if (!positions.has(partition)) positions.set(partition, { committed: BigInt(batch.messages[0]!.offset) });
      const now = Date.now();
      let t = performance.now();
      time.batches++;
      time.messages += batch.messages.length;
      for (const m of batch.messages) {
        // Record views (see kafka/record-view.ts) are read where they lie.
        const range = valueRange(m, valueAt);
        if (range.bytes !== undefined && fast.parseRange(range.bytes, range.start, range.end)) {
          const run = tracker.bufferFor(fast.segment, fast.runId, partition, recordView(m)?.offsetNumber ?? m.offset, now);
          if (run !== undefined) fast.appendTo(run.packed);
          continue;
        }
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
      // Staging: this batch's writes go out while the next batches are fetched and parsed (an
      // error surfaces when a flush is awaited). Commits never pass a pending run, so an unfinished
      // flush cannot let an offset be committed too early; a run is judged only when no flush of
      // it is in flight, so when one with its marker waits for a flush, all are awaited now.
      time.parseMs += performance.now() - t;
      t = performance.now();
      while (flushes.length >= MAX_FLUSHES) await flushes.shift();
      const toFlush = tracker.unflushed();
      if (toFlush.length > 0) {
        const f = store.flush(toFlush);
        // Awaited below or in a later batch; if none comes (a quiet topic), the rewind brings one.
        const gen = generation;
        f.catch((e: unknown) => {
          if (gen !== generation || applyFailure !== undefined) return;
          applyFailure = { error: e };
          rewind();
        });
        flushes.push(f);
      }
      if (flushes.length > 0 && (!payload.isRunning() || tracker.someMarked((r) => r.flushing > 0))) {
        const all = flushes;
        flushes = [];
        await Promise.all(all);
      }
      time.stagingWaitMs += performance.now() - t;
      t = performance.now();
      const opened = tracker.takeOpened();
      if (opened.length > 0) await dropAppliedAgain(opened);
      for (const run of [...tracker.runs()]) {
        const c = RunTracker.completion(run);
        if (c === "complete") await startApply(run, payload);
        else if (c === "overcount") await dropRun(run, "inconsistent", `${RunTracker.count(run)} distinct members but the marker says ${run.marker!.rows}`);
      }
      for (const run of tracker.idleSince(now - abandonAfterMs)) {
        await dropRun(run, "abandoned", `no message for ${Math.round((now - run.lastSeenAt) / 1000)} s and not complete (${RunTracker.count(run)} members, marker ${run.marker ? "seen" : "not seen"})`);
      }
      time.applyMs += performance.now() - t;
      t = performance.now();
      payload.resolveOffset(batch.lastOffset());
      positions.get(partition)!.next = BigInt(batch.lastOffset()) + 1n;
      // Stopping: the runs started are finished (and committed) before the consumer leaves.
      if (!payload.isRunning()) await appliesSettled(() => payload.heartbeat().catch(() => {}));
      if (applyFailure !== undefined) throw applyFailure.error;
      await commit((parts) => payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: parts }] }));
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
      // No new applies; those running finish and are committed while the consumer is still a member.
      stopRequested = true;
      await appliesSettled();
      await commit((parts) => consumer.commitOffsets(parts.map((p) => ({ topic, ...p })))).catch((e: unknown) => log("warn", `final commit: ${message(e)}`));
      stopped = true;
      await consumer.disconnect().catch((e: unknown) => log("warn", `consumer disconnect: ${message(e)}`));
      const drainMs = stopOptions.drainTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        changesPublished().then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) log("warn", `stopping with change messages still in the outbox (${publisher.size} segments); the next start publishes them`);
      await publisher.stop();
      await Promise.all([
        producer.disconnect().catch((e: unknown) => log("warn", `producer disconnect: ${message(e)}`)),
        admin.disconnect().catch(() => {}),
      ]);
      await redis.quit().catch(() => redis.disconnect());
      outcomes.rejectAll(new Error("the mover stopped"));
      log("info", "mover stopped");
    })());

  const waitForRun = (segment: string, runId: string, timeoutMs?: number) => outcomes.waitFor(segment, runId, timeoutMs);

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
