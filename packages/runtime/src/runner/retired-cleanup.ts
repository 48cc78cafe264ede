/**
 * Deleting a retired segment's Redis keys. A deploy that removes a segment retires its pipeline
 * (the plan's `retiredRedisKeys`: members SET, meta HASH, metrics HASH); the runtime then deletes,
 * for that segment only:
 *
 * - with `exits`, its members SET, emptied in batches by a script that pops `batchSize` members,
 *   PUBLISHes an `exit` change for each on the segment's pub/sub channel and notes it in a pending
 *   SET in the same atomic step; the pending SET is sent to the changes topic and then deleted
 *   before the next batch (a cleanup cut short sends it first on the next attempt: at least once,
 *   like the mover's changes). Without `exits` the members SET is simply deleted at the end;
 * - the mover's working keys of the segment: temporary keys of an apply cut short (its new members
 *   SET, new metrics HASH, entered/left sets, ...), staging keys, the post-swap record and its
 *   outbox entry;
 * - last, the members, meta and metrics keys (UNLINK). The metrics HASH is one key per segment
 *   (Redis layout v2): there are no per-entity hashes whose fields need removing.
 *
 * A segment retired from a spec stored by an older seg (per-entity hashes, no metrics key) gets its
 * members and meta keys deleted the same way; the segment's fields in the old per-entity hashes are
 * left to expire with their TTL (nothing reads them any more).
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
  /** Members popped from the members SET (announced as exits). */
  members: number;
  /** Keys deleted (members, meta, metrics, the mover's temporary and staging keys, post-swap record). */
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
      members: result.members,
      deletedKeys: result.keys,
      durationMs: result.durationMs,
    }),
  ]);
}

/**
 * KEYS: the members SET, the pending-exits SET. ARGV: count, segment, channel, runId, asOf. Pops up
 * to `count` members; each one leaves: an exit change PUBLISHed on `channel` and the member added to
 * the pending SET (sent to Kafka by the caller). Returns how many were popped. The change's text is
 * what `changeMessageText` (and JSON.stringify) gives: the same keys in the same order, strings
 * escaped alike (quote, backslash and control characters; not `/`, which cjson would escape).
 */
const POP_MEMBERS_EXITING = `
local function jstr(s)
  return '"' .. (s:gsub('[%z\\1-\\31"\\\\]', function(c)
    if c == '"' then return '\\\\"' end
    if c == '\\\\' then return '\\\\\\\\' end
    if c == '\\b' then return '\\\\b' end
    if c == '\\f' then return '\\\\f' end
    if c == '\\n' then return '\\\\n' end
    if c == '\\r' then return '\\\\r' end
    if c == '\\t' then return '\\\\t' end
    return string.format('\\\\u%04x', c:byte())
  end)) .. '"'
end
local head = '{"segment":' .. jstr(ARGV[2]) .. ',"entityId":'
local tail = ',"change":"exit","runId":' .. jstr(ARGV[4]) .. ',"asOf":' .. jstr(ARGV[5]) .. '}'
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
for _, id in ipairs(ids) do
  redis.call('SADD', KEYS[2], id)
  redis.call('PUBLISH', ARGV[3], head .. jstr(id) .. tail)
end
return #ids
`;

type Scripts = {
  segCleanupPopExiting(key: string, pending: string, count: number, segment: string, channel: string, runId: string, asOf: string): Promise<number>;
};

function scripts(redis: Redis): Scripts {
  const r = redis as unknown as Record<string, unknown>;
  if (typeof r["segCleanupPopExiting"] !== "function") redis.defineCommand("segCleanupPopExiting", { lua: POP_MEMBERS_EXITING, numberOfKeys: 2 });
  return redis as unknown as Scripts;
}

/** `text` with Redis glob characters escaped. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Options of {@link cleanupRetiredSegment}. */
export interface CleanupOptions {
  redis: Redis;
  /** The mover's key prefix (`seg:`): its staging and temporary keys live under it. */
  prefix: string;
  /** Members per script call and keys per SCAN step (default 1,000). */
  batchSize?: number;
  /** Checked between batches: false stops the cleanup (the segment was deployed again, the runtime stops). */
  keepGoing?: () => boolean;
  /** Called after each batch (tests stop a cleanup half-way here). */
  onBatch?: (step: "members" | "temporary" | "staging", count: number) => void | Promise<void>;
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

/** Deletes a retired segment's Redis keys (see the file comment). Idempotent. */
export async function cleanupRetiredSegment(retired: Pick<RetiredPipeline, "segment" | "redis">, options: CleanupOptions): Promise<CleanupResult> {
  const started = Date.now();
  const { redis, prefix } = options;
  const segment = retired.segment;
  const batch = Math.max(1, options.batchSize ?? 1_000);
  const membersKey = retired.redis.keys[0];
  const run = scripts(redis);
  const result: CleanupResult = { segment, status: "done", members: 0, keys: 0, durationMs: 0 };
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

  // Exits popped by an attempt cut short go out first; then every member leaves, batch by batch.
  await sendPending();
  if (exits !== undefined && membersKey !== undefined && membersKey !== "") {
    for (;;) {
      if (stop()) return finish("stopped");
      const popped = Number(await run.segCleanupPopExiting(membersKey, pending, batch, segment, changesChannel(prefix, segment), exits.runId, exits.asOf));
      await sendPending();
      result.members += popped;
      if (popped === 0) break;
      await options.onBatch?.("members", popped);
    }
  }

  // The mover's temporary keys of this segment: `<prefix>mover:tmp:<segment>:<runId>:<kind>` (the
  // new members SET and metrics HASH of an apply cut short, its entered/left/old sets, ...).
  for await (const keys of scanKeys(redis, `${prefix}mover:tmp:${segment}:`, /^[^:]+:[a-z][a-z0-9-]*$/, batch)) {
    if (stop()) return finish("stopped");
    result.keys += await redis.unlink(...keys);
    await options.onBatch?.("temporary", keys.length);
  }

  // Staging keys `<prefix>staging:<segment>:<runId>[:<kind>]`, the post-swap record and the outbox entry.
  for await (const keys of scanKeys(redis, `${prefix}staging:${segment}:`, /^[^:]+(:[a-z][a-z0-9-]*)?$/, batch)) {
    if (stop()) return finish("stopped");
    result.keys += await redis.unlink(...keys);
    await options.onBatch?.("staging", keys.length);
  }
  result.keys += await redis.unlink(postSwapKey(prefix, segment));
  await redis.srem(outboxKey(prefix), segment);

  if (stop()) return finish("stopped");
  // Members (what is left of it), meta and metrics together: UNLINK frees big values off the main thread.
  const served = retired.redis.keys.filter((k) => k !== "");
  if (served.length > 0) result.keys += await redis.unlink(...served);
  return finish("done");
}

/** The cleanup metrics. */
export interface CleanupMetrics {
  cleanups: Counter<"status">;
  pending: Gauge;
}

/** Registers (or finds) the cleanup metrics: `seg_retired_cleanups_total{status}`, `seg_retired_cleanups_pending`. */
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
        ...(this.options.onBatch ? { onBatch: this.options.onBatch } : {}),
        keepGoing: () => !this.closed && !this.options.isActive(r.segment),
        ...(this.options.sendChanges ? { exits: { send: this.options.sendChanges, ...retirementChange(r.deployId, r.retiredAt, again ? new Date() : undefined) } } : {}),
      });
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
        keys: result.keys,
        durationMs: result.durationMs,
      });
    }
  }
}
