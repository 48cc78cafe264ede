/**
 * `seg serve`: segment memberships from Redis over HTTP (Fastify), behind roles.
 *
 * - Every route has request and response JSON Schemas (ajv validation, fast-json-stringify
 *   serialisation); `/openapi.json` is generated from them.
 * - Auth runs first (onRequest): a bearer token checked against an in-memory copy of the token
 *   table (see auth/verifier.ts) and the permission table; a denial is 401/403 with a generic
 *   message, and is written to `audit_log` (batched, off the request path).
 * - Segment data is read only for ACTIVE segments of the catalog (deploy store), through the Redis
 *   keys of their deployed spec; each response is one atomic Redis step (see reads.ts).
 * - `/v1/changes`: WebSocket, or Server-Sent Events, of enter/exit events (change-stream.ts, changes.ts).
 *
 * fastify, ioredis, pg and prom-client are loaded when a server is created, not on import.
 */
import { createRequire } from "node:module";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import type { Redis } from "ioredis";
import type { Pool } from "pg";
import { bearerToken, type Principal } from "../auth/access.js";
import { AuditQueue } from "../auth/audit.js";
import { isPublic, type ApiOperation } from "../auth/permissions.js";
import { tokensChannel } from "../auth/tokens.js";
import { TokenVerifier } from "../auth/verifier.js";
import { readStreamProgress } from "../ingest/progress.js";
import { connectionErrorReason, maskUrl, quoteIdent, resolveSchemaName, openDatabase } from "../db/connection.js";
import { migrate } from "../db/migrations.js";
import { notifyChannel } from "../deploy/store.js";
import { SegmentCatalog, type CatalogSegment } from "./catalog.js";
import { ChangeHub } from "./changes.js";
import { registerChangeStream } from "./change-stream.js";
import { HttpError } from "./errors.js";
import { createServeMetrics, type ServeMetrics } from "./metrics.js";
import { buildOpenApi, type RouteDoc } from "./openapi.js";
import { PgListener, openPool } from "./pg.js";
import {
  decodeCursor,
  defineServeScripts,
  readEntitySegments,
  readMember,
  readMembersPage,
  readSegmentStates,
  segmentIndexKey,
  writeSegmentIndex,
  type SegmentState,
} from "./reads.js";
import { routeSchemas } from "./schemas.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The operation of the permission table this route is. */
    op?: ApiOperation;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Where the server logs (default: nowhere). */
export type ServeLog = (level: "info" | "warn" | "error", message: string) => void;

/** Options of {@link createServer}. */
export interface ServeOptions {
  databaseUrl: string;
  /** seg's database schema (default `SEG_DB_SCHEMA`, else `seg`). */
  schema?: string;
  redisUrl: string;
  /** Prefix of seg's Redis keys and change channels (default `seg:`). */
  redisPrefix?: string;
  log?: ServeLog;
  /** Bring the database schema up to date at start (default true). */
  migrate?: boolean;
  /** Reload the catalog at least this often (default 30 s; deploys reload it at once). */
  catalogRefreshMs?: number;
  /** Reload the token table at least this often (default 10 s; token changes reload it at once). */
  tokenRefreshMs?: number;
  /** Change events kept per segment for resuming (default 100,000). */
  historyMaxLen?: number;
  /** Change-stream clients at most (default 10,000; more get 503). */
  maxStreamClients?: number;
  /** Bytes a stream client may have unsent before it is disconnected (default 4 MiB). */
  streamBufferBytes?: number;
  /** How often open streams re-check their token (default 10 s; token changes re-check at once). */
  streamRecheckMs?: number;
}

/** A created server. */
export interface SegServer {
  app: FastifyInstance;
  catalog: SegmentCatalog;
  verifier: TokenVerifier;
  hub: ChangeHub;
  metrics: ServeMetrics;
  audit: AuditQueue;
  redis: Redis;
  pool: Pool;
  schema: string;
  /** Starts listening; resolves to the address (`http://127.0.0.1:8080`). */
  listen(options: { host: string; port: number }): Promise<string>;
  /** Stops everything (open streams are closed). */
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const VERSION: string = (require("../../package.json") as { version: string }).version;


const isoOrNull = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function snapshotOf(state: SegmentState) {
  const m = state.meta;
  if (m["runId"] === undefined) return null;
  const size = m["size"] !== undefined && /^\d+$/.test(m["size"]) ? Number(m["size"]) : null;
  return { runId: m["runId"], version: m["version"] ?? null, asOf: m["asOf"] ?? null, size, completedAt: m["completedAt"] ?? null };
}

interface RunRow {
  id: string;
  segment: string;
  version: string;
  status: string;
  engine: string | null;
  as_of: Date | null;
  started_at: Date;
  ended_at: Date | null;
  rows: string | null;
  error: string | null;
}

const runJson = (r: RunRow | undefined) =>
  r
    ? {
        id: String(r.id),
        status: r.status,
        version: r.version,
        engine: r.engine,
        asOf: isoOrNull(r.as_of),
        startedAt: r.started_at.toISOString(),
        endedAt: isoOrNull(r.ended_at),
        rows: r.rows === null ? null : Number(r.rows),
        error: r.error,
      }
    : null;

/** True for errors that mean Redis or PostgreSQL is not answering. */
function isUnavailable(e: unknown): boolean {
  const err = e as { name?: string; code?: string; message?: string };
  if (err.name === "MaxRetriesPerRequestError" || err.name === "DatabaseUnreachableError") return true;
  if (typeof err.code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|57P0[1-3]|08\d\d\d)$/.test(err.code)) return true;
  return /Connection is closed|Command timed out|connect ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect/i.test(err.message ?? "");
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timeout")), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Creates (but does not start listening) the server: connects to PostgreSQL and Redis, loads the catalog and the tokens. */
export async function createServer(options: ServeOptions): Promise<SegServer> {
  const log: ServeLog = options.log ?? (() => {});
  const schema = resolveSchemaName(options.schema, process.env);
  const prefix = options.redisPrefix ?? "seg:";
  const s = quoteIdent(schema);

  if (options.migrate !== false) {
    const db = await openDatabase({ url: options.databaseUrl, schema, applicationName: "seg serve (migrate)" });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  }

  const pool = await openPool(options.databaseUrl, { max: 4 });
  const { Redis: RedisClient } = await import("ioredis");
  const redisOptions = {
    lazyConnect: true,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(100 * times, 1_000),
    connectionName: "seg-serve",
  };
  const redis = new RedisClient(options.redisUrl, redisOptions);
  const subscriber = new RedisClient(options.redisUrl, { ...redisOptions, enableAutoPipelining: false, connectionName: "seg-serve-sub" });
  let lastRedisError = "";
  const onRedisError = (e: Error) => {
    if (e.message !== lastRedisError) log("warn", `redis: ${e.message}`);
    lastRedisError = e.message;
  };
  redis.on("error", onRedisError);
  subscriber.on("error", onRedisError);
  redis.on("ready", () => (lastRedisError = ""));

  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  try {
    await redis.connect();
    await subscriber.connect();
    defineServeScripts(redis);

    const metrics = await createServeMetrics();
    const catalog = new SegmentCatalog(pool, schema, {
      ...(options.catalogRefreshMs !== undefined ? { refreshMs: options.catalogRefreshMs } : {}),
      onError: (e) => log("warn", `reloading the segment catalog failed: ${connectionErrorReason(e)}`),
    });
    const verifier = new TokenVerifier(pool, schema, {
      ...(options.tokenRefreshMs !== undefined ? { refreshMs: options.tokenRefreshMs } : {}),
      onError: (e) => log("warn", `reloading tokens failed: ${connectionErrorReason(e)}`),
    });
    const audit = new AuditQueue(pool, schema, {
      onError: (e) => log("error", `writing audit entries failed: ${connectionErrorReason(e)}`),
      onDrop: (n) => metrics.auditDropped.inc(n),
    });
    cleanup.push(() => audit.close(), () => catalog.stop(), () => verifier.stop());
    await catalog.start();
    await verifier.start();
    // One LISTEN connection for every in-memory copy: a NOTIFY reloads the copy of its channel.
    const reloadOn = new Map<string, { reload(): Promise<void> }>([
      [notifyChannel(schema), catalog],
      [tokensChannel(schema), verifier],
    ]);
    const listener = new PgListener(options.databaseUrl, schema, [...reloadOn.keys()], (channel) => void reloadOn.get(channel)?.reload(), {
      onError: (m) => log("warn", m),
      // Notifications sent while disconnected are lost: reload everything.
      onReconnect: () => {
        for (const r of reloadOn.values()) void r.reload();
      },
    });
    await listener.start();
    cleanup.push(() => listener.close());

    const hub = new ChangeHub(redis, {
      prefix,
      ...(options.historyMaxLen !== undefined ? { historyMaxLen: options.historyMaxLen } : {}),
      isServed: (seg) => catalog.get(seg) !== undefined,
      isRetired: (seg) => catalog.isRetired(seg),
      onError: (m) => log("warn", m),
      onRecord: (r) => metrics.changesRecorded.inc({ result: r }),
    });
    await hub.start(subscriber);
    cleanup.push(() => hub.stop());

    const app = await buildApp({ options, schema, s, prefix, pool, redis, catalog, verifier, audit, hub, metrics, log });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await app.close();
      for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
      await pool.end().catch(() => {});
    };
    return {
      app,
      catalog,
      verifier,
      hub,
      metrics,
      audit,
      redis,
      pool,
      schema,
      listen: async ({ host, port }) => app.listen({ host, port }),
      close,
    };
  } catch (e) {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
    subscriber.disconnect();
    redis.disconnect();
    await pool.end().catch(() => {});
    throw e;
  }
}

/** Registers a route of the permission table: its auth and metrics hooks, and its OpenAPI entry. */
export type RouteFn = (op: ApiOperation, options: Omit<RouteOptions, "method" | "url">, mediaTypes?: RouteDoc["mediaTypes"], on?: FastifyInstance) => void;

/** What the routes are built from. */
export interface AppDeps {
  options: ServeOptions;
  schema: string;
  s: string;
  prefix: string;
  pool: Pool;
  redis: Redis;
  catalog: SegmentCatalog;
  verifier: TokenVerifier;
  audit: AuditQueue;
  hub: ChangeHub;
  metrics: ServeMetrics;
  log: ServeLog;
}


async function buildApp(d: AppDeps): Promise<FastifyInstance> {
  const { default: Fastify } = await import("fastify");
  const { redis, pool, catalog, verifier, audit, hub, metrics, s } = d;
  const app = Fastify({
    logger: false,
    // Long enough for any entity id the schemas accept, URL-encoded (a longer one gets 400 from the schema).
    routerOptions: { maxParamLength: 4_096, ignoreTrailingSlash: false },
    return503OnClosing: true,
    ajv: { customOptions: { allErrors: false, coerceTypes: "array", removeAdditional: false } },
    // Router errors (a bad percent-encoding, a path segment over maxParamLength) in our error format, without echoing the path.
    frameworkErrors: (error, req, reply) => {
      unrouted(req as FastifyRequest, reply as unknown as FastifyReply);
      const status = error.statusCode ?? 400;
      const r = reply as unknown as { code(n: number): { send(body: unknown): unknown } };
      void r.code(status).send({ error: status === 414 ? "uri-too-long" : "bad-request", message: status === 414 ? "a path segment is too long" : "invalid URL encoding" });
    },
  });
  app.decorateRequest("principal", null);

  // Hooks are attached per route (see `route` below), not globally: the hot routes then run exactly
  // the two they need, and nothing reads `request.routeOptions` (a getter that builds an object).

  // ---- metrics: one RouteStats per route, found without hashing labels ----
  const statsHook = (method: string, url: string) => {
    const own = metrics.http.forRoute(method, url);
    return (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      // Fastify's automatic HEAD route shares the GET route's hooks.
      (req.method === method ? own : metrics.http.forRoute(req.method, url)).record(reply.statusCode, reply.elapsedTime / 1000);
      endUpgrade(req);
      done();
    };
  };
  // A WebSocket upgrade request answered with a plain HTTP response (denied, not found, or sent to a
  // route that does not stream) came in through the 'upgrade' event: nothing else owns its socket.
  const endUpgrade = (req: FastifyRequest) => {
    // (`upgrade` is set by Node's HTTP parser; its type declarations omit it.)
    if ((req.raw as { upgrade?: boolean }).upgrade === true) req.raw.socket.destroy();
  };
  const unrouted = (req: FastifyRequest, reply: FastifyReply) => {
    reply.raw.once("finish", () => {
      metrics.http.forRoute(req.method, "unmatched").record(reply.statusCode, reply.elapsedTime / 1000);
      endUpgrade(req);
    });
  };

  // ---- auth: the first hook of every protected route, so nothing (not even validation) answers an unauthenticated caller ----
  const authHook = (op: ApiOperation) => (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const decision = verifier.check(bearerToken(req.headers.authorization), op);
    if (decision.ok) {
      req.principal = decision.principal;
      reply.header("cache-control", "no-store");
      done();
      return;
    }
    metrics.denials.inc({ reason: decision.reason });
    const p = decision.principal;
    audit.push({
      actor: p ? `token:${p.name}` : "anonymous",
      action: "auth.deny",
      target: `api:${op}`,
      details: {
        status: decision.status,
        reason: decision.reason,
        method: req.method,
        path: req.url.length > 512 ? `${req.url.slice(0, 512)}…` : req.url,
        ip: req.ip,
        ...(p ? { tokenId: p.tokenId, role: p.role } : {}),
      },
    });
    reply.code(decision.status).header("cache-control", "no-store");
    if (decision.status === 401) reply.header("www-authenticate", decision.reason === "missing" ? 'Bearer realm="seg"' : 'Bearer realm="seg", error="invalid_token"');
    void reply.send({ error: decision.status === 401 ? "unauthorized" : "forbidden", message: decision.message });
  };

  app.setNotFoundHandler((req, reply) => {
    unrouted(req, reply);
    void reply.code(404).send({ error: "not-found", message: "no such route" });
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.code, message: err.message });
    if (err.validation) return reply.code(400).send({ error: "bad-request", message: err.message });
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const code = status === 404 ? "not-found" : status === 413 ? "too-large" : status === 414 ? "uri-too-long" : "bad-request";
      return reply.code(status).send({ error: code, message: status === 404 ? "no such route" : "bad request" });
    }
    if (isUnavailable(err)) {
      d.log("warn", `${req.method} ${req.routeOptions.url ?? "?"}: backing store unavailable: ${err.message}`);
      return reply.code(503).send({ error: "unavailable", message: "a backing store is unavailable; try again" });
    }
    d.log("error", `${req.method} ${req.routeOptions.url ?? "?"}: ${err.stack ?? err.message}`);
    return reply.code(500).send({ error: "internal", message: "internal error" });
  });

  // ---- route registry for OpenAPI ----
  const docs: RouteDoc[] = [];
  const route: RouteFn = (op, options, mediaTypes, on = app) => {
    const [method, url] = op.split(" ") as [string, string];
    docs.push({ method, url, op, schema: options.schema as RouteDoc["schema"], ...(mediaTypes ? { mediaTypes } : {}) });
    on.route({
      ...options,
      method: method as "GET",
      url,
      config: { ...(options.config ?? {}), op },
      ...(isPublic(op) ? {} : { onRequest: authHook(op) }),
      onResponse: statsHook(method, url),
    } as RouteOptions);
  };

  const segmentOr404 = (name: string): CatalogSegment => {
    const seg = catalog.get(name);
    if (!seg) throw new HttpError(404, "not-found", "no such segment");
    return seg;
  };

  const lastRuns = async (names: string[]): Promise<Map<string, RunRow>> => {
    if (names.length === 0) return new Map();
    const r = await pool.query<RunRow>(
      `SELECT r.* FROM unnest($1::text[]) AS seg(name)
       CROSS JOIN LATERAL (
         SELECT id::text AS id, segment, version, status, engine, as_of, started_at, ended_at, rows::text AS rows, error
           FROM ${s}.runs WHERE segment = seg.name ORDER BY started_at DESC, id DESC LIMIT 1) r`,
      [names],
    );
    return new Map(r.rows.map((row) => [row.segment, row]));
  };

  const summary = (seg: CatalogSegment, state: SegmentState, run: RunRow | undefined) => ({
    name: seg.name,
    title: seg.title,
    description: seg.description,
    owner: seg.owner,
    tags: seg.tags,
    entity: seg.entity,
    version: seg.version,
    deployedAt: seg.deployedAt.toISOString(),
    size: state.size,
    data: snapshotOf(state),
    lastRun: runJson(run),
  });

  // ---- public ----
  route("GET /healthz", { schema: routeSchemas.healthz, handler: async () => ({ status: "ok" }) });

  route("GET /readyz", {
    schema: routeSchemas.readyz,
    handler: async (_req, reply) => {
      const check = (p: Promise<unknown>) =>
        withTimeout(p, 1_000).then(
          () => "ok",
          () => "unavailable",
        );
      const [r, p] = await Promise.all([check(redis.ping()), check(pool.query("SELECT 1"))]);
      const ready = r === "ok" && p === "ok";
      return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not-ready", checks: { redis: r, postgres: p } });
    },
  });

  let openapi: Record<string, unknown> | undefined;
  route("GET /openapi.json", {
    schema: routeSchemas.openapi,
    handler: async () =>
      (openapi ??= buildOpenApi(docs, {
        title: "seg serving API",
        version: VERSION,
        description: "Customer segment memberships from Redis. Every route but /healthz, /readyz and /openapi.json needs a bearer token.",
      })),
  });

  // ---- ops ----
  route(
    "GET /metrics",
    {
      schema: routeSchemas.metrics,
      handler: async (_req, reply) => {
        metrics.changeClients.set(hub.clients);
        return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
      },
    },
    { "200": ["text/plain"] },
  );

  route("GET /v1/schemas", {
    schema: routeSchemas.listSchemas,
    handler: async (req) => {
      const name = (req.query as { name?: string }).name;
      const r = await pool.query<{ name: string; version: number; hash: string; kind: string; entity: string; key_field: string; topic: string; registered_at: Date; deploy_id: string }>(
        `SELECT name, version, hash, kind, entity, key_field, topic, registered_at, deploy_id::text AS deploy_id FROM ${s}.schemas
          ${name !== undefined ? "WHERE name = $1" : ""} ORDER BY name, version`,
        name !== undefined ? [name] : [],
      );
      return {
        schemas: r.rows.map((x) => ({
          name: x.name,
          version: x.version,
          hash: x.hash,
          kind: x.kind,
          entity: x.entity,
          key: x.key_field,
          topic: x.topic,
          registeredAt: x.registered_at.toISOString(),
          deployId: x.deploy_id,
        })),
      };
    },
  });

  route("GET /v1/streams", {
    schema: routeSchemas.listStreams,
    handler: async (req) => {
      const rows = await readStreamProgress({ client: pool, schema: d.schema }, (req.query as { stream?: string }).stream);
      return {
        streams: rows.map((x) => ({
          ...x,
          offset: String(x.offset),
          lastEventTime: isoOrNull(x.lastEventTime),
          updatedAt: x.updatedAt.toISOString(),
        })),
      };
    },
  });

  // ---- segments ----
  route("GET /v1/segments", {
    schema: routeSchemas.listSegments,
    handler: async () => {
      const segs = catalog.list();
      const [states, runs] = await Promise.all([readSegmentStates(redis, segs), lastRuns(segs.map((x) => x.name))]);
      return { segments: segs.map((seg, i) => summary(seg, states[i]!, runs.get(seg.name))) };
    },
  });

  route("GET /v1/segments/:segment", {
    schema: routeSchemas.getSegment,
    handler: async (req) => {
      const seg = segmentOr404((req.params as { segment: string }).segment);
      const [[state], runs] = await Promise.all([readSegmentStates(redis, [seg]), lastRuns([seg.name])]);
      return { ...summary(seg, state!, runs.get(seg.name)), metrics: seg.metrics, refreshSeconds: seg.refreshSeconds, ttlSeconds: seg.ttlSeconds };
    },
  });

  route("GET /v1/segments/:segment/members", {
    schema: routeSchemas.listMembers,
    handler: async (req, reply) => {
      const seg = segmentOr404((req.params as { segment: string }).segment);
      const q = req.query as { cursor?: string; limit: number };
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (q.cursor !== undefined && cursor === undefined) throw new HttpError(400, "bad-request", "invalid cursor");
      const page = await readMembersPage(redis, seg.redis, cursor, q.limit);
      if (page.status === "changed") {
        return reply.code(409).send({
          error: "snapshot-changed",
          message: "the segment's membership was replaced by a newer run since the first page: start again without a cursor",
        });
      }
      return { segment: seg.name, runId: page.runId, members: page.members, next: page.next };
    },
  });

  route("GET /v1/segments/:segment/members/:entityId", {
    schema: routeSchemas.getMember,
    handler: async (req) => {
      const { segment, entityId } = req.params as { segment: string; entityId: string };
      const seg = segmentOr404(segment);
      const m = await readMember(redis, seg.redis, entityId);
      return { segment: seg.name, entityId, member: m.member, metrics: m.metrics, runId: m.runId, asOf: m.asOf };
    },
  });

  // Per entity type: its active segments and the key of their index in Redis.
  let indexes: { entity: string; key: string; segments: CatalogSegment[] }[] = [];
  const writeIndexes = async () => {
    const next = [...catalog.entityGroups()].map(([entity, segments]) => ({
      entity,
      key: segmentIndexKey(d.prefix, segments),
      segments,
    }));
    try {
      for (const x of next) await writeSegmentIndex(redis, x.key, x.segments);
    } catch (e) {
      d.log("warn", `writing the segment index to Redis failed (retried on use): ${(e as Error).message}`);
    }
    indexes = next;
  };
  await writeIndexes();
  catalog.on("reload", () => void writeIndexes());

  route("GET /v1/entities/:entityId/segments", {
    schema: routeSchemas.entitySegments,
    handler: async (req) => {
      const { entityId } = req.params as { entityId: string };
      const entity = (req.query as { entity?: string }).entity;
      // One script per entity type (one in practice: no Promise.all then), all in flight together.
      const wanted = entity === undefined ? indexes : indexes.filter((x) => x.entity === entity);
      const read = (x: (typeof indexes)[number]) => readEntitySegments(redis, entityId, x);
      const replies = wanted.length === 1 ? [await read(wanted[0]!)] : await Promise.all(wanted.map(read));
      const found: { segment: string; entity: string; title: string | null; metrics: Record<string, unknown> }[] = [];
      for (const reply of replies) {
        for (const r of reply) {
          // Only segments active in this server's catalog now.
          const seg = catalog.get(r.segment);
          if (seg) found.push({ segment: r.segment, entity: seg.entity, title: seg.title, metrics: r.metrics });
        }
      }
      return { entityId, segments: found.sort((a, b) => (a.segment < b.segment ? -1 : a.segment > b.segment ? 1 : 0)) };
    },
  });

  await registerChangeStream(app, d, route);

  await app.ready();
  return app;
}

/** `http://host:port` of a Fastify address, with the password-free database URL, for start-up messages. */
export function describeServer(address: string, options: Pick<ServeOptions, "databaseUrl" | "redisUrl">, schema: string): string {
  return `seg serve: listening on ${address} (PostgreSQL ${maskUrl(options.databaseUrl)} schema ${schema}, Redis ${maskUrl(options.redisUrl)})`;
}
