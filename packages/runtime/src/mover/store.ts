/**
 * The mover's Redis side: staging flushes, applying a complete run, and the follow-up work after a
 * swap (change messages, leavers' entity fields, freeing temporary keys).
 *
 * What is atomic (each step below is one Lua script, so readers see all of it or none of it):
 *
 * - Runs of at most `atomicMaxMembers` members whose segment currently has at most that many
 *   (the "atomic" path): ONE script writes the new members SET, the meta HASH, every member's
 *   entity hash field, removes the field from every leaver, and sets every TTL. A reader never
 *   sees any mix of old and new, across the set, the meta and the entity hashes.
 * - Larger runs (the "chunked" path): the new set is built under a temporary key and the entity
 *   hashes of the new members are upserted in chunks BEFORE the swap; then ONE script renames the
 *   new set over the members key and writes the meta. The set and the meta are never mixed: a
 *   reader that reads both in one MULTI (or one script) sees the old set with the old meta or the
 *   new set with the new meta. Entity hashes are not part of that step: a member's new metrics
 *   (or an entering member's field) may be visible shortly before the swap, and a leaver's field
 *   is removed shortly after it (in chunks, before the apply returns).
 *
 * Before either path, the run's new-members SET (`applyKeys(…).set`, private until the swap) is
 * filled by {@link MoverStore.flush} while the run is read, so an apply only adds members to it when
 * that did not happen (or an attempt was cut short). Entered and left members of the chunked path:
 * two SDIFFSTOREs after the chunks (sets up to `diffMaxMembers` together), or chunk by chunk
 * (SMISMEMBER, SSCAN) for larger ones; a segment without members has every member enter: the
 * entered set is a copy of the new set made before the swap (one COPY up to `diffMaxMembers`, else
 * chunk by chunk), as the change messages of a first run must not depend on the live set, which
 * may be retired or expire while they are published.
 *
 * Change messages (entered/left) are computed inside those same steps and kept in Redis as an
 * outbox: two sets named in the segment's post-swap record, the segment added to the outbox SET.
 * The follow-up work ({@link MoverStore.finishPending}, run in the background by the mover)
 * publishes them to pub/sub and Kafka (and removes leavers' entity fields if a crash came between
 * a chunked swap and their removal), then deletes the record. The next swap of the segment first finishes it. Interrupted (a crash),
 * it starts over: change messages are delivered at least once (some twice around a crash).
 */
import type { Redis } from "ioredis";
import { changesChannel } from "../contracts/messages.js";
import { compareRuns, type PendingRun } from "./accounting.js";
import { applyKeys, outboxKey, postSwapKey, stagingKey, type SegmentTarget } from "./keys.js";
import { MOVER_SCRIPTS, type MoverScriptName } from "./scripts.js";

/** Settings of {@link MoverStore}. */
export interface MoverStoreOptions {
  /** Prefix of the mover's own keys (staging, temporary sets, post-swap records). */
  prefix: string;
  /** TTL of staging and temporary keys. */
  stagingTtlSeconds: number;
  /** Largest run (and current segment size) swapped in one script with its entity hashes. */
  atomicMaxMembers: number;
  /** Members per script call on the chunked path and per HSET when staging. */
  chunkSize: number;
  /**
   * Chunked path: when the current and the new set have at most this many members together, the
   * entered and left members are found by two set differences in one step after the chunks (which
   * blocks Redis for about 0.3 µs per member), and a first run's entered set is one COPY of the new
   * set; larger ones chunk by chunk (default 200,000).
   */
  diffMaxMembers?: number;
}

/** The phases of moving a run, for tests that crash the mover at a given point. */
export type ApplyPhase = "entities-written" | "swapped" | "changes-published";

/**
 * A change message ready to send: keyed by entity id, the value a `ChangeMessage` as JSON (made in
 * Redis, the same text the segment's pub/sub channel gets).
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
  /** Called at each phase (tests); may not return (a crash). */
  phase?(phase: ApplyPhase, run: { segment: string; runId: string }): void | Promise<void>;
}

/** The outcome of {@link MoverStore.apply}. */
export interface ApplyResult {
  status: "applied" | "duplicate" | "stale";
  path?: "atomic" | "chunked";
  /** True when the swap had been done before (a crash) and only the follow-up work was left. */
  resumed?: boolean;
  /** Members who entered and left (their change messages are in the outbox). */
  entered: number;
  left: number;
  /** When the new set became visible (ms since epoch). */
  swappedAt?: number;
}

/** A swap that did something unexpected (a bug, or keys changed under the mover). */
export class MoverApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MoverApplyError";
  }
}

/**
 * How the chunked path finds the entered and left members: every member enters (the segment had
 * none: the entered set is a copy of the new set), two set differences after the
 * chunks, or chunk by chunk (segments too large for one difference).
 */
type BuildMode = "all" | "diff" | "check";

type ScriptFn = (keys: string[], args: (string | number)[]) => Promise<unknown>;
type PipelineScriptFn = (keys: string[], args: (string | number)[]) => unknown;

/**
 * Packs fields for a script (see SPLIT in scripts.ts): one newline-separated argument. Callers
 * make sure no field holds a newline (`PendingRun.newlineIds`).
 */
const pack = (fields: readonly string[]): string => fields.join("\n");

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
  entered: string;
  left: string;
  old: string;
  hdel: string;
  entityKeyPrefix: string;
  /**
   * "1" when `entered` is the segment's members SET (not deleted after): written by movers before
   * first runs' entered sets were copies; still honoured for records they left behind.
   */
  enteredLive?: string;
}

export class MoverStore {
  constructor(
    readonly redis: Redis,
    readonly options: MoverStoreOptions,
  ) {
    defineMoverScripts(redis);
  }

  private script(name: MoverScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    return (this.redis as unknown as Record<string, ScriptFn>)[name]!(keys, args);
  }

  stagingKey(run: { segment: string; runId: string }): string {
    return stagingKey(this.options.prefix, run.segment, run.runId);
  }

  /**
   * Writes what the runs read since their last flush to Redis, in one pipeline: the new entity
   * ids to each run's new-members SET (`applyKeys(…).set`: the apply then need not add them), and
   * the buffered members of spilled runs to their staging hashes (idempotent, keyed by entity id),
   * refreshing the TTLs; updates a spilled run's `stagedCount` from HLEN. Ids and members go packed
   * (scripts STAGE_IDS and STAGE_PAIRS, one argument per `chunkSize` members), as SADD and HSET
   * arguments only for a run with a newline in an entity id.
   * Takes the buffers at once (new members buffer anew meanwhile); a run counts the flush as in
   * flight (`flushing`) until it is done. Flushes may overlap: their pipelines run in order on the
   * one connection.
   */
  async flush(runs: readonly PendingRun[]): Promise<number> {
    if (runs.length === 0) return 0;
    const { chunkSize, stagingTtlSeconds } = this.options;
    const taken = runs.map((run) => {
      const buffer = run.spilled ? run.buffer : undefined;
      if (buffer !== undefined) run.buffer = new Map();
      const ids = run.setPending;
      run.setPending = [];
      run.flushing++;
      return { buffer, ids };
    });
    try {
      const pipe = this.redis.pipeline();
      const script = (name: MoverScriptName, keys: string[], args: (string | number)[]) => {
        (pipe as unknown as Record<string, PipelineScriptFn>)[name]!(keys, args);
      };
      const hlenAt: number[] = [];
      let commands = 0;
      let written = 0;
      runs.forEach((run, r) => {
        const { buffer, ids } = taken[r]!;
        if (ids.length > 0) {
          const set = applyKeys(this.options.prefix, run.segment, run.runId).set;
          for (let i = 0; i < ids.length; i += chunkSize) {
            const part = i === 0 && ids.length <= chunkSize ? ids : ids.slice(i, i + chunkSize);
            if (run.newlineIds) pipe.sadd(set, part);
            else script("segMoverStageIds", [set], [pack(part)]);
            commands++;
          }
          pipe.expire(set, stagingTtlSeconds);
          commands++;
        }
        if (buffer === undefined) {
          hlenAt.push(-1);
          return;
        }
        const key = this.stagingKey(run);
        const fields: string[] = [];
        const send = () => {
          if (run.newlineIds) pipe.hset(key, fields);
          else script("segMoverStagePairs", [key], [pack(fields)]);
          commands++;
          fields.length = 0;
        };
        for (const [id, metrics] of buffer) {
          fields.push(id, metrics);
          if (fields.length >= chunkSize * 2) send();
        }
        if (fields.length > 0) send();
        written += buffer.size;
        pipe.expire(key, stagingTtlSeconds);
        hlenAt.push(commands + 1);
        pipe.hlen(key);
        commands += 2;
      });
      const results = (await pipe.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      runs.forEach((run, i) => {
        if (hlenAt[i]! >= 0) run.stagedCount = Number(results[hlenAt[i]!]![1]);
        if (run.setPending.length === 0) run.setStaged = true;
      });
      return written;
    } finally {
      for (const run of runs) run.flushing--;
    }
  }

  /** Deletes a run's staging hash and new-members SET (UNLINK: freed in the background). */
  async dropStaging(run: { segment: string; runId: string }): Promise<void> {
    await this.redis.unlink(this.stagingKey(run), applyKeys(this.options.prefix, run.segment, run.runId).set);
  }

  /**
   * Applies a complete run: finishes the segment's pending post-swap work first (left by a crash,
   * or not yet done in the background), skips the run when the segment already has it or a newer
   * one, else swaps it in (atomic or chunked path). Returns after the swap: the run's change
   * messages are then in the outbox, for {@link finishPending}. Idempotent: running it again after
   * a crash at any point ends in the same state. The caller runs one apply or finishPending per
   * segment at a time.
   */
  async apply(run: PendingRun, target: SegmentTarget, ctx: ApplyContext): Promise<ApplyResult> {
    const marker = run.marker!;
    const asOfMs = run.markerAsOfMs!;
    const { prefix } = this.options;
    const post = postSwapKey(prefix, run.segment);
    const ttl = Math.max(1, Math.ceil(target.ttlSeconds));
    // The run's new-members SET holds every member already (flushed while the run was read).
    let setReady = run.setStaged && run.setPending.length === 0;
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
      // Left over by an attempt cut short (a crash before its swap): start from scratch (the new
      // members SET only holds this run's members: kept when complete).
      if (setReady) await this.redis.unlink(keys.entered, keys.left);
      else await this.redis.unlink(keys.set, keys.entered, keys.left);
      const oldSize = await this.redis.scard(target.redis.membersKey);
      const small = marker.rows <= this.options.atomicMaxMembers && oldSize <= this.options.atomicMaxMembers;
      const common = [marker.version, marker.asOf, String(asOfMs), String(marker.rows), new Date().toISOString(), ttl, this.options.stagingTtlSeconds];
      const outbox = outboxKey(prefix);
      let reply: unknown[];
      if (small) {
        setReady = false; // the script builds the SET again
        const members: string[] = [];
        if (!run.spilled) for (const [id, m] of run.buffer) members.push(id, m);
        const from = run.spilled ? [this.stagingKey(run), ""] : run.newlineIds ? ["", "args", ...members] : ["", "packed", pack(members)];
        reply = (await this.script(
          "segMoverSwapSmall",
          [target.redis.membersKey, target.redis.metaKey, keys.set, post, keys.entered, keys.left, outbox],
          [run.runId, ...common, target.redis.entityKeyPrefix, run.segment, ...from],
        )) as unknown[];
      } else {
        const diffMax = this.options.diffMaxMembers ?? 200_000;
        const mode: BuildMode = oldSize === 0 ? "all" : oldSize + marker.rows <= diffMax ? "diff" : "check";
        // A first run's entered set is a copy of the new set: one COPY up to `diffMaxMembers` (it
        // blocks Redis about as long as a set difference), filled chunk by chunk beyond.
        const copyEntered = mode === "all" && marker.rows <= diffMax;
        await this.buildChunks(run, target, keys, ttl, mode === "check" ? "check" : mode === "all" && !copyEntered ? "all" : "none", !setReady, ctx);
        await ctx.phase?.("entities-written", run);
        if (mode === "diff") await this.script("segMoverDiff", [keys.set, target.redis.membersKey, keys.entered, keys.left], [this.options.stagingTtlSeconds]);
        // The set is private until the swap, so the copy needs no atomicity (it keeps the staging TTL).
        else if (copyEntered) await this.redis.copy(keys.set, keys.entered, "REPLACE");
        else if (mode === "check") await this.leftChunks(target, keys, ctx);
        reply = (await this.script(
          "segMoverSwapLarge",
          [target.redis.membersKey, target.redis.metaKey, keys.set, keys.old, post, keys.entered, keys.left, outbox],
          [metaRunId ?? "", run.runId, ...common, target.redis.entityKeyPrefix, run.segment, mode === "all" ? "1" : "0"],
        )) as unknown[];
      }
      const status = String(reply[0]);
      if (status === "applied") {
        const swappedAt = Date.now();
        await ctx.phase?.("swapped", run);
        if (!small) await this.dropLeavers(run.segment, target, keys, ctx);
        await this.dropStaging(run);
        return { status: "applied", path: small ? "atomic" : "chunked", entered: Number(reply[1]), left: Number(reply[2]), swappedAt };
      }
      await this.redis.unlink(keys.set, keys.entered, keys.left);
      setReady = false;
      if (status === "duplicate" || status === "stale") {
        await this.dropStaging(run);
        return { status, entered: 0, left: 0 };
      }
      if (status === "mismatch") {
        throw new MoverApplyError(`run ${run.runId} of ${run.segment}: ${String(reply[1])} members in Redis, the marker says ${marker.rows}`);
      }
      // "retry" (the meta changed while the chunks were written) or "post-pending": start over.
    }
    throw new MoverApplyError(`run ${run.runId} of ${run.segment}: the segment kept changing during 5 attempts to swap`);
  }

  /**
   * Chunked path, right after the swap: removes the segment's field from the leavers' entity
   * hashes, then notes it in the post-swap record (the publisher need not do it again).
   */
  private async dropLeavers(segment: string, target: SegmentTarget, keys: ReturnType<typeof applyKeys>, ctx: ApplyContext): Promise<void> {
    let cursor = "0";
    let steps = 0;
    do {
      cursor = String(await this.script("segMoverDropLeftChunk", [keys.left], [cursor, this.options.chunkSize, target.redis.entityKeyPrefix, segment]));
      if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    } while (cursor !== "0");
    await this.redis.hset(postSwapKey(this.options.prefix, segment), "hdel", "0");
  }

  /** Segments with change messages still to publish (the outbox). */
  async outbox(): Promise<string[]> {
    return this.redis.smembers(outboxKey(this.options.prefix));
  }

  /**
   * Finishes a segment's post-swap work, if any: publishes its change messages, removes the
   * leavers' entity fields (chunked swaps), frees the temporary keys and deletes the record.
   * Returns which run it was for and how many changes it published; null when there was none.
   */
  async finishPending(segment: string, ctx: ApplyContext): Promise<{ runId: string; entered: number; left: number } | null> {
    const post = (await this.redis.hgetall(postSwapKey(this.options.prefix, segment))) as unknown as Partial<PostSwap>;
    if (post.runId === undefined) {
      await this.redis.srem(outboxKey(this.options.prefix), segment);
      return null;
    }
    const counts = await this.finishPostSwap(post as PostSwap, ctx);
    await ctx.phase?.("changes-published", { segment, runId: post.runId });
    return { runId: post.runId, ...counts };
  }

  /** Chunked path, before the swap: new set, entity hash upserts, entered set (see BUILD_CHUNK's modes). */
  private async buildChunks(run: PendingRun, target: SegmentTarget, keys: ReturnType<typeof applyKeys>, ttl: number, entered: "check" | "all" | "none", addToSet: boolean, ctx: ApplyContext): Promise<void> {
    const { chunkSize, stagingTtlSeconds } = this.options;
    const scriptKeys = [keys.set, target.redis.membersKey, keys.entered, this.stagingKey(run)];
    const head = [target.redis.entityKeyPrefix, run.segment, ttl, stagingTtlSeconds, entered === "check" ? "1" : entered === "all" ? "all" : "0", addToSet ? "1" : "0"];
    if (!run.spilled) {
      // From memory: chunks need no cursor, so send them pipelined, a bounded number at a time.
      const sent: Promise<unknown>[] = [];
      const fields: string[] = [];
      const send = () => {
        const from = run.newlineIds ? ["args", ...fields] : ["packed", pack(fields)];
        sent.push(this.script("segMoverBuildChunk", scriptKeys, [...head, "", ...from]));
        fields.length = 0;
      };
      for (const [id, m] of run.buffer) {
        fields.push(id, m);
        if (fields.length >= chunkSize * 2) {
          send();
          if (sent.length >= 16) {
            await Promise.all(sent.splice(0, 8));
            await ctx.heartbeat();
          }
        }
      }
      if (fields.length > 0) send();
      await Promise.all(sent);
      return;
    }
    let cursor = "0";
    let steps = 0;
    do {
      cursor = String(await this.script("segMoverBuildChunk", scriptKeys, [...head, cursor, chunkSize]));
      if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    } while (cursor !== "0");
  }

  /** Chunked path, before the swap: the current members not in the new set. */
  private async leftChunks(target: SegmentTarget, keys: ReturnType<typeof applyKeys>, ctx: ApplyContext): Promise<void> {
    let cursor = "0";
    let steps = 0;
    do {
      cursor = String(await this.script("segMoverLeftChunk", [target.redis.membersKey, keys.set, keys.left], [cursor, this.options.chunkSize, this.options.stagingTtlSeconds]));
      if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    } while (cursor !== "0");
  }

  /**
   * The follow-up work of a swap: for each leaver (then each entered member), publish the change on
   * pub/sub (and remove the leaver's entity field on the chunked path) in the same script step,
   * then send the same changes to Kafka; finally free the temporary keys and the record.
   */
  private async finishPostSwap(post: PostSwap, ctx: ApplyContext): Promise<{ entered: number; left: number }> {
    const channel = changesChannel(this.options.prefix, post.segment);
    const counts = { entered: 0, left: 0 };
    // Each chunk's Kafka send overlaps the next chunk's script; at most one send is outstanding,
    // so the changes reach Kafka in order, and all of them before the record is deleted.
    let sending: Promise<void> = Promise.resolve();
    for (const [set, change] of [
      [post.left, "exit"],
      [post.entered, "enter"],
    ] as const) {
      if (set === "") continue;
      let cursor = "0";
      let steps = 0;
      do {
        const [next, ids, values] = (await this.script("segMoverPostChunk", [set], [
          cursor,
          this.options.chunkSize,
          channel,
          change,
          post.segment,
          post.runId,
          post.asOf,
          change === "exit" ? post.hdel : "0",
          post.entityKeyPrefix,
        ])) as [string, string[], string[]];
        cursor = String(next);
        if (ids.length > 0) {
          if (change === "exit") counts.left += ids.length;
          else counts.entered += ids.length;
          await sending;
          sending = ctx.publish(ids.map((key, i) => ({ key, value: values[i]! })));
          sending.catch(() => {}); // awaited before the next send and at the end
        }
        if (++steps % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
      } while (cursor !== "0");
    }
    await sending;
    // A first run's entered members were the segment's members SET itself in records of older movers: kept.
    const drop = [post.enteredLive === "1" ? "" : post.entered, post.left, post.old].filter((k) => k !== "");
    const done = await this.redis.multi().unlink(...drop, postSwapKey(this.options.prefix, post.segment)).srem(outboxKey(this.options.prefix), post.segment).exec();
    for (const [err] of done ?? []) if (err) throw err;
    return counts;
  }
}
