/**
 * Deleting a retired segment's Redis keys. A deploy that removes a segment retires its pipeline
 * (the plan's `retiredRedisKeys`); the runtime then deletes, for that segment only:
 *
 * - its members SET, emptied in batches by a script that pops `batchSize` members and removes the
 *   segment's field from each one's entity hash (the customer's segments and metrics) in the same
 *   atomic step, so a cleanup cut short (a crash, Redis down) leaves every remaining field
 *   reachable from the remaining members, and the next attempt finishes the job. Each member
 *   popped leaves the segment: with `exits`, the same step PUBLISHes an `exit` change on the
 *   segment's pub/sub channel and notes the member in a pending SET, which is sent to the changes
 *   topic and then deleted before the next batch (a cleanup cut short sends it first on the next
 *   attempt: at least once, like the mover's changes);
 * - the mover's working keys of the segment: temporary sets of an apply cut short (popped the same
 *   way: their members may carry the field too), staging hashes, the post-swap record and its
 *   outbox entry;
 * - then (optional, default on) a SCAN of every entity hash under the segment's entity prefix,
 *   removing the segment's field where it is left (a members SET that expired before its entity
 *   hashes did), in batches;
 * - last, the meta HASH.
 *
 * Nothing else is touched: other segments' keys and fields stay. A cleanup is finished when an
 * `audit_log` row `pipeline.redis-cleanup` names the segment and the deploy that retired it; until
 * then every start of the runtime (and every change the watcher sees) tries again. Deleting what
 * is already gone is a no-op, so running it twice is harmless. The segment being reactivated
 * (deployed again) stops a cleanup between two batches: the new version's runs take over its keys.
 */
import { hostname } from "node:os";
import type { PipelineSpec } from "@seg/compiler";
import type { Redis } from "ioredis";
import type { Counter, Gauge, Registry } from "prom-client";
import { quoteIdent } from "../db/connection.js";
import { retiredRedisKeys, type RetiredRedisKeys } from "../deploy/plan.js";
import { changesChannel, retirementRunId, type ChangeMessage } from "../contracts/messages.js";
import { outboxKey, postSwapKey } from "../mover/keys.js";
import { isMissingTables } from "./active-pipelines.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";

/** The audit action recording a finished cleanup (target `pipeline:<segment>`, deploy id = the retiring deploy). */
export const CLEANUP_AUDIT_ACTION = "pipeline.redis-cleanup";

/** A retired pipeline whose keys are (or were) to be deleted. */
export interface RetiredPipeline {
  segment: string;
  version: string;
  /** The deploy that retired it. */
  deployId: number;
  retiredAt: Date;
  redis: RetiredRedisKeys;
}

/** What one cleanup did. */
export interface CleanupResult {
  segment: string;
  /** `stopped`: `keepGoing` said stop (the segment was deployed again, or the runtime stops). */
  status: "done" | "stopped";
  /** Members popped from the members SET and the mover's temporary sets. */
  members: number;
  /** Entity hash fields of the segment removed. */
  entityFields: number;
  /** Entity hashes looked at by the sweep. */
  swept: number;
  /** Other keys deleted (staging, post-swap record, meta, ...). */
  keys: number;
  durationMs: number;
}

/** Something that runs SQL (a `ReconnectingDb`, or a wrapper of a pg client). */
export interface SqlRunner {
  readonly schema: string;
  query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
}

/**
 * Retired pipelines, oldest retirement first: all of them, or only those whose cleanup is not
 * recorded yet (`pending`), or one segment.
 */
export async function readRetiredPipelines(db: SqlRunner, options: { pending?: boolean; segment?: string } = {}): Promise<RetiredPipeline[]> {
  const s = quoteIdent(db.schema);
  const params: unknown[] = [];
  let where = "p.status = 'retired'";
  if (options.pending) {
    params.push(CLEANUP_AUDIT_ACTION);
    where += ` AND NOT EXISTS (SELECT 1 FROM ${s}.audit_log a WHERE a.target = 'pipeline:' || p.segment AND a.action = $${params.length} AND a.deploy_id = p.last_deploy_id)`;
  }
  if (options.segment !== undefined) {
    params.push(options.segment);
    where += ` AND p.segment = $${params.length}`;
  }
  try {
    const rows = await db.query<{ segment: string; version: string; last_deploy_id: string; retired_at: Date; outputs: PipelineSpec["outputs"] }>(
      `SELECT p.segment, p.current_version AS version, p.last_deploy_id, p.retired_at, v.spec -> 'outputs' AS outputs
         FROM ${s}.pipelines p
         JOIN ${s}.pipeline_versions v ON v.segment = p.segment AND v.version = p.current_version
        WHERE ${where}
        ORDER BY p.retired_at, p.segment`,
      params,
    );
    return rows.map((r) => ({
      segment: r.segment,
      version: r.version,
      deployId: Number(r.last_deploy_id),
      retiredAt: r.retired_at,
      redis: retiredRedisKeys({ id: r.segment, outputs: r.outputs } as PipelineSpec),
    }));
  } catch (e) {
    if (isMissingTables(e)) return [];
    throw e;
  }
}

/** Records a finished cleanup in `audit_log`. */
export async function recordCleanup(db: SqlRunner, retired: RetiredPipeline, result: CleanupResult, actor = `seg runtime (${hostname()}:${process.pid})`): Promise<void> {
  const s = quoteIdent(db.schema);
  await db.query(`INSERT INTO ${s}.audit_log (actor, action, target, deploy_id, details) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
    actor,
    CLEANUP_AUDIT_ACTION,
    `pipeline:${retired.segment}`,
    retired.deployId,
    JSON.stringify({
      version: retired.version,
      keys: retired.redis.keys,
      entityKeyPrefix: retired.redis.entityKeyPrefix,
      members: result.members,
      entityFields: result.entityFields,
      swept: result.swept,
      otherKeys: result.keys,
      durationMs: result.durationMs,
    }),
  ]);
}

/**
 * KEYS: a SET of entity ids. ARGV: count, entity key prefix, segment.
 * Pops up to `count` members and removes the segment's field from each one's entity hash.
 * Returns {popped, fields removed}.
 */
const POP_MEMBERS = `
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
local n = 0
for _, id in ipairs(ids) do n = n + redis.call('HDEL', ARGV[2] .. id, ARGV[3]) end
return {#ids, n}
`;

/**
 * KEYS: a SET of entity ids, the pending-exits SET. ARGV: count, entity key prefix, segment,
 * channel, runId, asOf. As POP_MEMBERS, and each member popped leaves: an exit change PUBLISHed on
 * `channel` and the member added to the pending SET (sent to Kafka by the caller).
 */
const POP_MEMBERS_EXITING = `
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('HDEL', ARGV[2] .. id, ARGV[3])
  redis.call('SADD', KEYS[2], id)
  redis.call('PUBLISH', ARGV[4], cjson.encode({segment = ARGV[3], entityId = id, change = 'exit', runId = ARGV[5], asOf = ARGV[6]}))
end
return {#ids, n}
`;

/** KEYS: entity hashes. ARGV: segment. Removes the segment's field from each; returns how many were there. */
const DROP_FIELDS = `
local n = 0
for _, k in ipairs(KEYS) do n = n + redis.call('HDEL', k, ARGV[1]) end
return n
`;

type Scripts = {
  segCleanupPop(key: string, count: number, entityKeyPrefix: string, segment: string): Promise<[number, number]>;
  segCleanupPopExiting(key: string, pending: string, count: number, entityKeyPrefix: string, segment: string, channel: string, runId: string, asOf: string): Promise<[number, number]>;
  segCleanupDropFields(n: number, ...args: string[]): Promise<number>;
};

function scripts(redis: Redis): Scripts {
  const r = redis as unknown as Record<string, unknown>;
  if (typeof r["segCleanupPop"] !== "function") redis.defineCommand("segCleanupPop", { lua: POP_MEMBERS, numberOfKeys: 1 });
  if (typeof r["segCleanupPopExiting"] !== "function") redis.defineCommand("segCleanupPopExiting", { lua: POP_MEMBERS_EXITING, numberOfKeys: 2 });
  if (typeof r["segCleanupDropFields"] !== "function") redis.defineCommand("segCleanupDropFields", { lua: DROP_FIELDS });
  return redis as unknown as Scripts;
}

/** `text` with Redis glob characters escaped. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Options of {@link cleanupRetiredSegment}. */
export interface CleanupOptions {
  redis: Redis;
  /** The mover's key prefix (`seg:`): its staging and temporary keys live under it. */
  prefix: string;
  /** Members per script call and keys per SCAN step (default 1,000). */
  batchSize?: number;
  /** SCAN every entity hash under the prefix for left-over fields (default true). */
  sweepEntities?: boolean;
  /** Checked between batches: false stops the cleanup (the segment was deployed again, the runtime stops). */
  keepGoing?: () => boolean;
  /** Called after each batch (tests stop a cleanup half-way here). */
  onBatch?: (step: "members" | "temporary" | "staging" | "sweep", count: number) => void | Promise<void>;
  /**
   * Announce the members' exits (see the file comment): `send` puts changes on the changes topic;
   * they carry `runId` and `asOf` (see {@link retirementChange}). Without it, members leave silently.
   */
  exits?: { send(changes: ChangeMessage[]): Promise<void>; runId: string; asOf: string };
}

/**
 * The runId and asOf of the exit changes of a segment retired by deploy `deployId` at `retiredAt`
 * (see {@link retirementRunId}); asOf is when it was retired, or cleaned again.
 */
export function retirementChange(deployId: number, retiredAt: Date, again?: Date): { runId: string; asOf: string } {
  return { runId: retirementRunId(deployId, again), asOf: (again ?? retiredAt).toISOString() };
}

/** The SET of members popped whose exit is not on the changes topic yet. */
export function pendingExitsKey(prefix: string, segment: string): string {
  return `${prefix}retired:exits:${segment}`;
}

/** Keys under `pattern` whose name (after `head`) matches `tail`, in SCAN steps of `count`. */
async function* scanKeys(redis: Redis, head: string, tail: RegExp, count: number): AsyncGenerator<string[]> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(head)}*`, "COUNT", count);
    cursor = next;
    const mine = keys.filter((k) => tail.test(k.slice(head.length)));
    if (mine.length > 0) yield mine;
  } while (cursor !== "0");
}

/** Deletes a retired segment's Redis keys and fields (see the file comment). Idempotent. */
export async function cleanupRetiredSegment(retired: Pick<RetiredPipeline, "segment" | "redis">, options: CleanupOptions): Promise<CleanupResult> {
  const started = Date.now();
  const { redis, prefix } = options;
  const segment = retired.segment;
  const batch = Math.max(1, options.batchSize ?? 1_000);
  const [membersKey, ...otherKeys] = retired.redis.keys;
  const entityPrefix = retired.redis.entityKeyPrefix;
  const run = scripts(redis);
  const result: CleanupResult = { segment, status: "done", members: 0, entityFields: 0, swept: 0, keys: 0, durationMs: 0 };
  const stop = () => options.keepGoing !== undefined && !options.keepGoing();
  const finish = (status: CleanupResult["status"]) => ({ ...result, status, durationMs: Date.now() - started });

  const exits = options.exits;
  const pending = pendingExitsKey(prefix, segment);
  /** Sends the pending exits to the changes topic, then forgets them. */
  const sendPending = async (): Promise<void> => {
    if (exits === undefined) return;
    const ids = await redis.smembers(pending);
    if (ids.length === 0) return;
    await exits.send(ids.sort().map((entityId) => ({ segment, entityId, change: "exit", runId: exits.runId, asOf: exits.asOf })));
    await redis.unlink(pending);
  };

  /** Empties a SET of entity ids, removing the segment's field of each (members: announcing their exits). */
  const drain = async (key: string, step: "members" | "temporary"): Promise<boolean> => {
    for (;;) {
      if (stop()) return false;
      const [popped, fields] =
        step === "members" && exits !== undefined
          ? await run.segCleanupPopExiting(key, pending, batch, entityPrefix, segment, changesChannel(prefix, segment), exits.runId, exits.asOf)
          : await run.segCleanupPop(key, batch, entityPrefix, segment);
      await sendPending();
      result.members += Number(popped);
      result.entityFields += Number(fields);
      if (Number(popped) === 0) return true;
      await options.onBatch?.(step, Number(popped));
    }
  };

  // Exits popped by an attempt cut short go out first.
  await sendPending();
  if (membersKey !== undefined && !(await drain(membersKey, "members"))) return finish("stopped");

  // The mover's temporary keys of this segment: `<prefix>mover:tmp:<segment>:<runId>:<set|entered|left|old>`.
  const tmpHead = `${prefix}mover:tmp:${segment}:`;
  for await (const keys of scanKeys(redis, tmpHead, /^[^:]+:(set|entered|left|old)$/, batch)) {
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === "set") {
        if (!(await drain(key, "temporary"))) return finish("stopped");
      }
      result.keys += await redis.unlink(key);
    }
  }

  // Staging hashes `<prefix>staging:<segment>:<runId>`, the post-swap record and the outbox entry.
  for await (const keys of scanKeys(redis, `${prefix}staging:${segment}:`, /^[^:]+$/, batch)) {
    if (stop()) return finish("stopped");
    result.keys += await redis.unlink(...keys);
    await options.onBatch?.("staging", keys.length);
  }
  result.keys += await redis.unlink(postSwapKey(prefix, segment));
  await redis.srem(outboxKey(prefix), segment);

  if (options.sweepEntities !== false && entityPrefix !== "") {
    let cursor = "0";
    do {
      if (stop()) return finish("stopped");
      const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(entityPrefix)}*`, "COUNT", batch, "TYPE", "hash");
      cursor = next;
      result.swept += keys.length;
      if (keys.length > 0) {
        result.entityFields += Number(await run.segCleanupDropFields(keys.length, ...keys, segment));
        await options.onBatch?.("sweep", keys.length);
      }
    } while (cursor !== "0");
  }

  if (stop()) return finish("stopped");
  const rest = [membersKey, ...otherKeys].filter((k): k is string => k !== undefined && k !== "");
  if (rest.length > 0) result.keys += await redis.unlink(...rest);
  return finish("done");
}

/** The cleanup metrics. */
export interface CleanupMetrics {
  cleanups: Counter<"status">;
  fields: Counter;
  pending: Gauge;
}

/** Registers (or finds) the cleanup metrics: `seg_retired_cleanups_total{status}`, `seg_retired_fields_deleted_total`, `seg_retired_cleanups_pending`. */
export async function createCleanupMetrics(registry: Registry): Promise<CleanupMetrics> {
  const prom = await import("prom-client");
  const registers = [registry];
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    cleanups: get(
      "seg_retired_cleanups_total",
      () =>
        new prom.Counter({
          name: "seg_retired_cleanups_total",
          help: "Cleanups of retired segments' Redis keys, by outcome (done, failed, reactivated).",
          labelNames: ["status"] as const,
          registers,
        }),
    ),
    fields: get(
      "seg_retired_fields_deleted_total",
      () => new prom.Counter({ name: "seg_retired_fields_deleted_total", help: "Entity hash fields of retired segments deleted.", registers }),
    ),
    pending: get(
      "seg_retired_cleanups_pending",
      () => new prom.Gauge({ name: "seg_retired_cleanups_pending", help: "Retired segments whose Redis keys are not deleted yet.", registers }),
    ),
  };
}

/** Options of {@link RetiredCleaner}. */
export interface RetiredCleanerOptions {
  db: SqlRunner;
  redis: Redis;
  prefix: string;
  /** True while the segment is active (a cleanup then stops or does not start). */
  isActive: (segment: string) => boolean;
  metrics: CleanupMetrics;
  log?: RunnerLog;
  batchSize?: number;
  sweepEntities?: boolean;
  /** First and longest wait before trying a failed pass again (defaults 1 s and 30 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  onBatch?: CleanupOptions["onBatch"];
  /** Puts exit changes on the changes topic; without it, retired members leave silently. */
  sendChanges?: (changes: ChangeMessage[]) => Promise<void>;
}

/**
 * Runs cleanups one at a time, in the background: {@link RetiredCleaner.sweep} cleans every
 * retired pipeline whose cleanup is not recorded; {@link RetiredCleaner.again} cleans one segment
 * again even so (the mover applied a run of it after it was retired). A failed pass is logged,
 * counted and tried again with a growing delay.
 */
export class RetiredCleaner {
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private closed = false;
  private readonly log: RunnerLog;

  constructor(private readonly options: RetiredCleanerOptions) {
    this.log = options.log ?? silentLog;
    this.retryMs = options.retryMinMs ?? 1_000;
  }

  /** Cleans every retired pipeline not cleaned yet; resolves when this pass is over (never rejects). */
  sweep(): Promise<void> {
    return this.enqueue(async () => this.pass(await readRetiredPipelines(this.options.db, { pending: true }), false));
  }

  /** Cleans a retired segment again, cleaned before or not. */
  again(segment: string): Promise<void> {
    return this.enqueue(async () => this.pass(await readRetiredPipelines(this.options.db, { segment }), true));
  }

  /** Waits for the pass running now (no new ones start). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.chain;
  }

  private enqueue(body: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await body();
        this.retryMs = this.options.retryMinMs ?? 1_000;
      } catch (e) {
        this.options.metrics.cleanups.inc({ status: "failed" });
        const wait = this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, this.options.retryMaxMs ?? 30_000);
        this.log("error", `deleting retired segments' Redis keys failed: ${errorMessage(e)}; trying again in ${wait} ms`);
        if (!this.closed && this.retryTimer === undefined) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            void this.sweep();
          }, wait);
          this.retryTimer.unref();
        }
      }
    });
    return this.chain;
  }

  private async pass(retired: RetiredPipeline[], again: boolean): Promise<void> {
    const { db, redis, prefix, metrics } = this.options;
    if (!again) metrics.pending.set(retired.length);
    for (const r of retired) {
      if (this.closed) return;
      if (this.options.isActive(r.segment)) continue; // deployed again since the read
      const result = await cleanupRetiredSegment(r, {
        redis,
        prefix,
        ...(this.options.batchSize !== undefined ? { batchSize: this.options.batchSize } : {}),
        ...(this.options.sweepEntities !== undefined ? { sweepEntities: this.options.sweepEntities } : {}),
        ...(this.options.onBatch ? { onBatch: this.options.onBatch } : {}),
        keepGoing: () => !this.closed && !this.options.isActive(r.segment),
        ...(this.options.sendChanges ? { exits: { send: this.options.sendChanges, ...retirementChange(r.deployId, r.retiredAt, again ? new Date() : undefined) } } : {}),
      });
      metrics.fields.inc(result.entityFields);
      if (result.status !== "done") {
        if (this.closed) {
          this.log("info", `stopped deleting the Redis keys of ${r.segment} (the runtime stops); the next start finishes it`);
          return;
        }
        metrics.cleanups.inc({ status: "reactivated" });
        this.log("info", `stopped deleting the Redis keys of ${r.segment}: it was deployed again`);
        continue;
      }
      metrics.cleanups.inc({ status: "done" });
      await recordCleanup(db, r, result);
      if (!again) metrics.pending.dec();
      this.log("info", `deleted the Redis keys of retired segment ${r.segment}${again ? " (again: the mover applied a run after it was retired)" : ""}`, {
        deploy: r.deployId,
        members: result.members,
        entityFields: result.entityFields,
        swept: result.swept,
        keys: result.keys,
        durationMs: result.durationMs,
      });
    }
  }
}
