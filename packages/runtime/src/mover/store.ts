/**
 * The mover's Redis side: staging a run while it is read, swapping a complete run in, and the
 * follow-up work after a swap (change messages, freeing temporary keys).
 *
 * A run is staged as it is read ({@link MoverStore.flush}, once per batch): its members go to a
 * private new-members SET and a private metrics HASH (`applyKeys(…).set`, `stagingKey`). The swap
 * ({@link MoverStore.apply}) is ONE script for runs of any size: it renames the staged set and hash
 * over the segment's members SET and metrics HASH, frees the old ones (UNLINK, in the background)
 * and writes the meta. A reader that reads inside one script (or MULTI) sees the old set, metrics
 * and meta or the new ones, never a mix.
 *
 * Entered and left members (for the change messages): two SDIFFSTOREs in the swap script when the
 * current and the new set have at most `diffMaxMembers` members together; for larger segments,
 * built chunk by chunk (SSCAN with SMISMEMBER) before the swap, which is then refused if another
 * run was swapped in meanwhile. A segment without members has every member enter: the entered set
 * is a copy of the new set, as the change messages of a first run must not depend on the live set,
 * which may be retired or expire while they are published.
 *
 * Change messages are kept in Redis as an outbox: the entered and left sets named in the segment's
 * post-swap record, the segment added to the outbox SET. The follow-up work
 * ({@link MoverStore.finishPending}, run in the background by the mover) publishes them to pub/sub
 * and Kafka, then deletes the sets and the record. The next swap of the segment first finishes it.
 * Interrupted (a crash), it starts over: change messages are delivered at least once (some twice
 * around a crash).
 */
import type { Redis } from "ioredis";
import { changeMessageText, changesChannel } from "../contracts/messages.js";
import { compareRuns, type PendingRun } from "./accounting.js";
import { applyKeys, outboxKey, postSwapKey, stagingKey, type SegmentTarget } from "./keys.js";
import { PackedMembers, respCommand } from "./packed-members.js";
import { MOVER_SCRIPTS, type MoverScriptName } from "./scripts.js";

/** Settings of {@link MoverStore}. */
export interface MoverStoreOptions {
  /** Prefix of the mover's own keys (staging, temporary sets, post-swap records). */
  prefix: string;
  /** TTL of staging and temporary keys. */
  stagingTtlSeconds: number;
  /** Members per chunk step (DIFF_CHUNK, change messages). */
  chunkSize: number;
  /**
   * When the current and the new set have at most this many members together, the entered and
   * left members are two set differences inside the swap script (which blocks Redis for about
   * 0.3 µs per member), and a first run's entered set is one COPY there; larger ones are built
   * chunk by chunk before the swap (default 200,000).
   */
  diffMaxMembers?: number;
}

/**
 * The phases of moving a run, for tests that crash the mover at a given point: "prepared" (staged,
 * entered/left built if chunked, just before the swap), "swapped", "changes-published".
 */
export type ApplyPhase = "prepared" | "swapped" | "changes-published";

/**
 * A change message ready to send: keyed by entity id, the value a `ChangeMessage` as JSON (the
 * same text the segment's pub/sub channel gets).
 */
export interface EncodedChange {
  key: string;
  value: string;
}

/** What the store needs from the rest of the mover while applying. */
export interface ApplyContext {
  /** Sends change messages to Kafka, in order; resolves when the broker has them. */
  publish(changes: EncodedChange[]): Promise<void>;
  /** Keeps the consumer group session alive during long applies. */
  heartbeat(): Promise<void>;
  /**
   * False once the caller no longer owns the run (the mover started over: it may be reading the
   * run again): the store then leaves its staged keys alone.
   */
  current?(): boolean;
  /** Called at each phase (tests); may not return (a crash). */
  phase?(phase: ApplyPhase, run: { segment: string; runId: string }): void | Promise<void>;
}

/** The outcome of {@link MoverStore.apply}. */
export interface ApplyResult {
  /** "inconsistent": more distinct members staged than the marker's `rows` (not applied). */
  status: "applied" | "duplicate" | "stale" | "inconsistent";
  /**
   * How the entered and left members were found: inside the swap ("atomic"), or chunk by chunk
   * before it ("chunked": segments over `diffMaxMembers`). The swap itself is one step either way.
   */
  path?: "atomic" | "chunked";
  /** True when the swap had been done before (a crash) and only the follow-up work was left. */
  resumed?: boolean;
  /** Members who entered and left (their change messages are in the outbox). */
  entered: number;
  left: number;
  /** When the new set became visible (ms since epoch). */
  swappedAt?: number;
  /** "inconsistent": the distinct members staged. */
  staged?: number;
}

/** A swap that did something unexpected (a bug, or keys changed under the mover). */
export class MoverApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MoverApplyError";
  }
}

type ScriptFn = (keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Script steps between heartbeats in long loops. kafkajs sends a heartbeat only when its interval
 * has passed, so asking often is cheap; on a loaded machine 64 steps could outlast the session.
 */
const HEARTBEAT_EVERY = 8;

/** Defines the mover's scripts on a client (idempotent). */
export function defineMoverScripts(redis: Redis): void {
  for (const [name, def] of Object.entries(MOVER_SCRIPTS)) {
    if (typeof (redis as unknown as Record<string, unknown>)[name] !== "function") redis.defineCommand(name, def);
  }
}

/** Pending post-swap work of a segment, as recorded in its post-swap hash. */
export interface PostSwap {
  runId: string;
  asOf: string;
  segment: string;
  /** The entered and left members' SETs ('' when none). */
  entered: string;
  left: string;
}

export class MoverStore {
  constructor(
    readonly redis: Redis,
    readonly options: MoverStoreOptions,
  ) {
    // Staging commands are written as raw protocol, which ioredis's key prefixing cannot reach.
    if ((redis.options as { keyPrefix?: string } | undefined)?.keyPrefix) throw new Error("MoverStore needs a Redis client without keyPrefix (use the prefix option)");
    defineMoverScripts(redis);
  }

  private script(name: MoverScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    return (this.redis as unknown as Record<string, ScriptFn>)[name]!(keys, args);
  }

  /** The run's staged metrics HASH (entity id → metrics JSON). */
  stagingKey(run: { segment: string; runId: string }): string {
    return stagingKey(this.options.prefix, run.segment, run.runId);
  }

  /**
   * Stages what the runs read since their last flush, in one pipeline: each run's packed members
   * go to its staged metrics HASH and new-members SET (one HSET and one SADD per chunk, their
   * arguments sent as packed), the TTLs are refreshed, and a run's `stagedCount` becomes the number
   * of distinct members staged (HLEN). Takes the buffers at once (members read meanwhile buffer
   * anew); a run counts the flush as in flight (`flushing`) until it is done. Flushes may overlap:
   * their pipelines run in order on the one connection.
   */
  async flush(runs: readonly PendingRun[]): Promise<void> {
    if (runs.length === 0) return;
    const { stagingTtlSeconds } = this.options;
    const taken = runs.map((run) => {
      const packed = run.packed;
      run.packed = new PackedMembers(packed.chunkMembers, Math.max(4_096, packed.bytes));
      run.flushing++;
      return packed;
    });
    try {
      const { Command } = await import("ioredis");
      const pipe = this.redis.pipeline();
      // A Pipeline (its type, ChainableCommander, leaves sendCommand out).
      const send = (name: string, key: string, argc: number, args: Buffer) =>
        (pipe as unknown as { sendCommand(c: InstanceType<typeof Command>): unknown }).sendCommand(respCommand(Command, name, key, argc, args));
      const countAt: number[] = [];
      let commands = 0;
      runs.forEach((run, r) => {
        const packed = taken[r]!;
        const set = applyKeys(this.options.prefix, run.segment, run.runId).set;
        const staged = this.stagingKey(run);
        const chunks = packed.chunks();
        for (const chunk of chunks) {
          send("HSET", staged, chunk.members * 2, chunk.fields);
          send("SADD", set, chunk.members, chunk.ids);
        }
        pipe.expire(set, stagingTtlSeconds);
        pipe.expire(staged, stagingTtlSeconds);
        pipe.hlen(staged);
        commands += chunks.length * 2 + 3;
        countAt.push(commands - 1);
      });
      const results = (await pipe.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      runs.forEach((run, i) => {
        run.stagedCount = Number(results[countAt[i]!]![1]);
      });
    } finally {
      for (const run of runs) run.flushing--;
    }
  }

  /** Deletes a run's staged SET and metrics HASH (UNLINK: freed in the background). */
  async dropStaging(run: { segment: string; runId: string }): Promise<void> {
    await this.redis.unlink(this.stagingKey(run), applyKeys(this.options.prefix, run.segment, run.runId).set);
  }

  /**
   * Applies a complete (fully staged) run: finishes the segment's pending post-swap work first
   * (left by a crash, or not yet done in the background), skips the run when the segment already
   * has it or a newer one, else swaps it in. Returns after the swap: the run's change messages are
   * then in the outbox, for {@link finishPending}. Idempotent: running it again after a crash at
   * any point ends in the same state. The caller runs one apply or finishPending per segment at a
   * time.
   */
  async apply(run: PendingRun, target: SegmentTarget, ctx: ApplyContext): Promise<ApplyResult> {
    const marker = run.marker!;
    const asOfMs = run.markerAsOfMs!;
    const { prefix } = this.options;
    const post = postSwapKey(prefix, run.segment);
    const ttl = Math.max(1, Math.ceil(target.ttlSeconds));
    for (let attempt = 0; attempt < 5; attempt++) {
      const pending = await this.finishPending(run.segment, ctx);
      if (pending?.runId === run.runId) {
        await this.dropStaging(run);
        return { status: "applied", resumed: true, entered: pending.entered, left: pending.left };
      }
      const [metaRunIdRaw, metaAsOfMs] = await this.redis.hmget(target.redis.metaKey, "runId", "asOfMs");
      const metaRunId = metaRunIdRaw ?? null;
      if (metaRunId !== null) {
        const cmp = compareRuns({ asOfMs, runId: run.runId }, { asOfMs: metaAsOfMs == null ? -1 : Number(metaAsOfMs), runId: metaRunId });
        if (cmp <= 0) {
          await this.dropStaging(run);
          return { status: cmp === 0 ? "duplicate" : "stale", entered: 0, left: 0 };
        }
      }
      const keys = applyKeys(prefix, run.segment, run.runId);
      // Left over by an attempt cut short (a crash before its swap): built again.
      await this.redis.unlink(keys.entered, keys.left);
      const oldSize = await this.redis.scard(target.redis.membersKey);
      const diffMax = this.options.diffMaxMembers ?? 200_000;
      const mode = oldSize + marker.rows <= diffMax ? (oldSize === 0 ? "all" : "diff") : oldSize === 0 ? "chunked-all" : "chunked";
      if (mode === "chunked" || mode === "chunked-all") {
        await this.diffChunks(keys.set, target.redis.membersKey, keys.entered, mode === "chunked-all", ctx);
        if (mode === "chunked") await this.diffChunks(target.redis.membersKey, keys.set, keys.left, false, ctx);
      }
      // Only the names: the run itself holds its packed members (and hooks may log what they get).
      const named = { segment: run.segment, runId: run.runId };
      await ctx.phase?.("prepared", named);
      const reply = (await this.script(
        "segMoverSwap",
        [target.redis.membersKey, target.redis.metaKey, keys.set, post, keys.entered, keys.left, outboxKey(prefix), this.stagingKey(run), target.redis.metricsKey],
        [metaRunId ?? "", run.runId, marker.version, marker.asOf, String(asOfMs), String(marker.rows), new Date().toISOString(), ttl, this.options.stagingTtlSeconds, run.segment, mode],
      )) as unknown[];
      const status = String(reply[0]);
      const path = mode.startsWith("chunked") ? "chunked" : "atomic";
      // The swap renamed the staged keys away: nothing to drop after it.
      if (status === "applied") {
        const swappedAt = Date.now();
        await ctx.phase?.("swapped", named);
        return { status: "applied", path, entered: Number(reply[1]), left: Number(reply[2]), swappedAt };
      }
      if (status === "duplicate" && (await this.redis.hget(post, "runId")) === run.runId) {
        // This very swap was applied, but its reply was lost and ioredis sent the script again
        // after reconnecting (a crashed process's swap is found by finishPending above instead):
        // the post-swap record and its entered/left sets are this run's, to be published.
        const [entered, left] = await Promise.all([this.redis.scard(keys.entered), this.redis.scard(keys.left)]);
        return { status: "applied", path, entered, left, swappedAt: Date.now() };
      }
      await this.redis.unlink(keys.entered, keys.left);
      if (status === "duplicate" || status === "stale") {
        if (ctx.current?.() !== false) await this.dropStaging(run);
        return { status, entered: 0, left: 0 };
      }
      if (status === "mismatch") {
        const staged = Number(reply[1]);
        if (staged > marker.rows) {
          // More members than the marker says (e.g. a run id reused): reading it again would not change that.
          if (ctx.current?.() !== false) await this.dropStaging(run);
          return { status: "inconsistent", entered: 0, left: 0, staged };
        }
        // Fewer: staged members were lost (Redis lost them): the caller reads the run again.
        throw new MoverApplyError(`run ${run.runId} of ${run.segment}: ${staged} members staged in Redis, the marker says ${marker.rows}`);
      }
      // "retry" (the meta changed while the chunks were built) or "post-pending": start over.
    }
    throw new MoverApplyError(`run ${run.runId} of ${run.segment}: the segment kept changing during 5 attempts to swap`);
  }

  /** Adds to `out` the members of `scanned` not in `other` (all of them with `all`), chunk by chunk (DIFF_CHUNK). */
  private async diffChunks(scanned: string, other: string, out: string, all: boolean, ctx: ApplyContext): Promise<void> {
    let cursor = "0";
    let steps = 0;
    do {
      cursor = String(await this.script("segMoverDiffChunk", [scanned, other, out], [cursor, this.options.chunkSize, this.options.stagingTtlSeconds, all ? "1" : "0"]));
      if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    } while (cursor !== "0");
  }

  /** Segments with change messages still to publish (the outbox). */
  async outbox(): Promise<string[]> {
    return this.redis.smembers(outboxKey(this.options.prefix));
  }

  /**
   * Finishes a segment's post-swap work, if any: publishes its change messages, frees the entered
   * and left sets and deletes the record. Returns which run it was for and how many changes it
   * published; null when there was none.
   */
  async finishPending(segment: string, ctx: ApplyContext): Promise<{ runId: string; entered: number; left: number } | null> {
    const post = (await this.redis.hgetall(postSwapKey(this.options.prefix, segment))) as unknown as Partial<PostSwap>;
    if (post.runId === undefined) {
      await this.redis.srem(outboxKey(this.options.prefix), segment);
      return null;
    }
    const counts = await this.finishPostSwap({ runId: post.runId, asOf: post.asOf ?? "", segment: post.segment ?? segment, entered: post.entered ?? "", left: post.left ?? "" }, ctx);
    await ctx.phase?.("changes-published", { segment, runId: post.runId });
    return { runId: post.runId, ...counts };
  }

  /**
   * The follow-up work of a swap: for each leaver (then each entered member), chunk by chunk (one
   * SSCAN step), publish the change on pub/sub (one script call per chunk), then send the same
   * changes to Kafka; finally free the sets and the record.
   */
  private async finishPostSwap(post: PostSwap, ctx: ApplyContext): Promise<{ entered: number; left: number }> {
    const channel = changesChannel(this.options.prefix, post.segment);
    const counts = { entered: 0, left: 0 };
    // Each chunk's Kafka send overlaps the next chunk's steps; at most one send is outstanding,
    // so the changes reach Kafka in order, and all of them before the record is deleted.
    let sending: Promise<void> = Promise.resolve();
    try {
      for (const [set, change] of [
        [post.left, "exit"],
        [post.entered, "enter"],
      ] as const) {
        if (set === "") continue;
        const message = changeMessageText(post.segment, change, post.runId, post.asOf);
        let cursor = "0";
        let steps = 0;
        do {
          const [next, ids] = await this.redis.sscan(set, cursor, "COUNT", this.options.chunkSize);
          cursor = next;
          if (ids.length > 0) {
            const values = ids.map(message);
            await this.script("segMoverPublishChunk", [], [channel, ...values]);
            if (change === "exit") counts.left += ids.length;
            else counts.entered += ids.length;
            await sending;
            sending = ctx.publish(ids.map((key, i) => ({ key, value: values[i]! })));
            sending.catch(() => {}); // awaited before the next send and at the end
          }
          if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
        } while (cursor !== "0");
      }
    } catch (e) {
      // The send in flight ends before the failure is reported: a retry (or the segment's next
      // swap) must not overtake it on the changes topic.
      await sending.catch(() => {});
      throw e;
    }
    await sending;
    const drop = [post.entered, post.left].filter((k) => k !== "");
    const done = await this.redis.multi().unlink(...drop, postSwapKey(this.options.prefix, post.segment)).srem(outboxKey(this.options.prefix), post.segment).exec();
    for (const [err] of done ?? []) if (err) throw err;
    return counts;
  }
}

