/**
 * `seg status` data: the deployed pipelines with their last run and served size, ingestion
 * progress and dead letters, as plain JSON-friendly values (the CLI prints them as a table, as
 * JSON, or in a live view).
 */
import type { Redis } from "ioredis";
import { quoteIdent, type SegDb } from "../db/connection.js";
import { shortVersion } from "../deploy/plan.js";
import { readStreamProgress } from "../ingest/progress.js";
import { isMissingTables } from "./active-pipelines.js";
import { CLEANUP_AUDIT_ACTION } from "./retired-cleanup.js";

/** The last run of a pipeline. */
export interface LastRunStatus {
  id: string;
  status: string;
  version: string;
  engine: string | null;
  asOf: string | null;
  startedAt: string;
  endedAt: string | null;
  /** From start to end (or to now, while it runs). */
  durationMs: number;
  rows: number | null;
  error: string | null;
}

/** One pipeline. */
export interface PipelineStatus {
  segment: string;
  version: string;
  /** `sha256:0123456789ab`. */
  shortVersion: string;
  status: "active" | "retired";
  refreshSeconds: number;
  updatedAt: string;
  lastRun: LastRunStatus | null;
  /** Members served now (`SCARD` of the members key); null for retired pipelines or when Redis was not asked. */
  size: number | null;
  membersKey: string;
  /**
   * Retired pipelines: whether the runtime has deleted their Redis keys yet (`deleted`, recorded in
   * the audit log, see retired-cleanup.ts) or not (`pending`); absent for active ones.
   */
  redisCleanup?: "deleted" | "pending";
}

/** One partition of a stream. */
export interface StreamStatus {
  stream: string;
  topic: string;
  partition: number;
  /** Last offset counted (-1 when none), as text. */
  offset: string;
  received: number;
  valid: number;
  invalid: number;
  lag: number | null;
  lastEventTime: string | null;
  updatedAt: string;
}

/** Everything `seg status` shows. */
export interface RuntimeStatus {
  generatedAt: string;
  database: { url: string; schema: string; deployed: boolean };
  pipelines: PipelineStatus[];
  runs: { queued: number; running: number; failedLastHour: number; succeededLastHour: number };
  streams: StreamStatus[];
  /** Events sent to the dead-letter topic (the `invalid` counts of ingestion progress). */
  deadLetters: { total: number; byTopic: Record<string, number> };
}

/** Reads the status; `redis` (optional) gives the segment sizes. */
export async function readRuntimeStatus(db: SegDb, redis?: Redis, now: () => number = Date.now): Promise<RuntimeStatus> {
  const s = quoteIdent(db.schema);
  const generatedAt = new Date(now()).toISOString();
  const empty: RuntimeStatus = {
    generatedAt,
    database: { url: db.url, schema: db.schema, deployed: false },
    pipelines: [],
    runs: { queued: 0, running: 0, failedLastHour: 0, succeededLastHour: 0 },
    streams: [],
    deadLetters: { total: 0, byTopic: {} },
  };
  let rows: Record<string, unknown>[];
  try {
    rows = (
      await db.client.query(
        `SELECT p.segment, p.current_version AS version, p.status, p.updated_at,
                (v.spec ->> 'refreshSeconds')::float8 AS refresh_seconds,
                v.spec -> 'outputs' -> 'redis' ->> 'membersKey' AS members_key,
                r.id AS run_id, r.status AS run_status, r.version AS run_version, r.engine, r.as_of, r.started_at, r.ended_at, r.rows, r.error,
                CASE WHEN p.status <> 'retired' THEN NULL
                     WHEN EXISTS (SELECT 1 FROM ${s}.audit_log a WHERE a.target = 'pipeline:' || p.segment AND a.action = $1 AND a.deploy_id = p.last_deploy_id) THEN 'deleted'
                     ELSE 'pending' END AS redis_cleanup
           FROM ${s}.pipelines p
           JOIN ${s}.pipeline_versions v ON v.segment = p.segment AND v.version = p.current_version
           LEFT JOIN LATERAL (
             SELECT * FROM ${s}.runs x WHERE x.segment = p.segment ORDER BY x.started_at DESC, x.id DESC LIMIT 1
           ) r ON true
          ORDER BY p.status, p.segment`,
        [CLEANUP_AUDIT_ACTION],
      )
    ).rows as Record<string, unknown>[];
  } catch (e) {
    if (isMissingTables(e)) return empty;
    throw e;
  }
  const t = now();
  const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);
  const pipelines: PipelineStatus[] = rows.map((r) => {
    const started = r["started_at"] as Date | null;
    const ended = r["ended_at"] as Date | null;
    return {
      segment: String(r["segment"]),
      version: String(r["version"]),
      shortVersion: shortVersion(String(r["version"])),
      status: r["status"] as "active" | "retired",
      refreshSeconds: Number(r["refresh_seconds"]),
      updatedAt: iso(r["updated_at"])!,
      lastRun:
        r["run_id"] === null || started === null
          ? null
          : {
              id: String(r["run_id"]),
              status: String(r["run_status"]),
              version: String(r["run_version"]),
              engine: (r["engine"] as string | null) ?? null,
              asOf: iso(r["as_of"]),
              startedAt: started.toISOString(),
              endedAt: iso(ended),
              durationMs: Math.max(0, (ended?.getTime() ?? t) - started.getTime()),
              rows: r["rows"] === null ? null : Number(r["rows"]),
              error: (r["error"] as string | null) ?? null,
            },
      size: null,
      membersKey: String(r["members_key"] ?? ""),
      ...(r["status"] === "retired" ? { redisCleanup: (r["redis_cleanup"] as "deleted" | "pending" | null) ?? "pending" } : {}),
    };
  });
  if (redis) {
    const active = pipelines.filter((p) => p.status === "active" && p.membersKey !== "");
    if (active.length > 0) {
      const batch = redis.pipeline();
      for (const p of active) batch.scard(p.membersKey);
      const results = (await batch.exec()) ?? [];
      active.forEach((p, i) => {
        const [err, n] = results[i] ?? [null, null];
        if (err) throw err;
        p.size = Number(n);
      });
    }
  }
  const counts = (
    await db.client.query<{ queued: string; running: string; failed: string; succeeded: string }>(
      `SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
              count(*) FILTER (WHERE status = 'running') AS running,
              count(*) FILTER (WHERE status = 'failed' AND ended_at > now() - interval '1 hour') AS failed,
              count(*) FILTER (WHERE status = 'succeeded' AND ended_at > now() - interval '1 hour') AS succeeded
         FROM ${s}.runs`,
    )
  ).rows[0]!;
  const progress = await readStreamProgress(db);
  const streams: StreamStatus[] = progress.map((p) => ({
    stream: p.stream,
    topic: p.topic,
    partition: p.partition,
    offset: p.offset.toString(),
    received: p.received,
    valid: p.valid,
    invalid: p.invalid,
    lag: p.lag,
    lastEventTime: p.lastEventTime ? p.lastEventTime.toISOString() : null,
    updatedAt: p.updatedAt.toISOString(),
  }));
  const byTopic: Record<string, number> = {};
  for (const p of streams) byTopic[p.topic] = (byTopic[p.topic] ?? 0) + p.invalid;
  return {
    generatedAt,
    database: { url: db.url, schema: db.schema, deployed: true },
    pipelines,
    runs: { queued: Number(counts.queued), running: Number(counts.running), failedLastHour: Number(counts.failed), succeededLastHour: Number(counts.succeeded) },
    streams,
    deadLetters: { total: Object.values(byTopic).reduce((a, b) => a + b, 0), byTopic },
  };
}

/** Redis could not be reached. */
export class RedisUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot connect to Redis at ${url}: ${reason}`);
    this.name = "RedisUnreachableError";
  }
}

/** A connected Redis client for reading status (fails fast, never queues commands while down). */
export async function connectStatusRedis(url: string, timeoutMs = 3_000): Promise<Redis> {
  const { Redis: RedisClient } = await import("ioredis");
  const redis = new RedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: timeoutMs, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return redis;
  } catch (e) {
    redis.disconnect();
    const reason = e instanceof Error && e.message ? e.message : String(e);
    let shown = url;
    try {
      const u = new URL(url);
      if (u.password !== "") u.password = "***";
      shown = u.toString();
    } catch {
      // keep it as given
    }
    throw new RedisUnreachableError(shown, reason);
  }
}
