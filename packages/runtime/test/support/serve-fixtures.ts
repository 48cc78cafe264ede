/**
 * Fixtures for serve and auth tests: the example project deployed to a test schema with Redis
 * keys under a prefix of the test's own (so tests never touch `seg:` keys), a token per role, and
 * a server on a free loopback port.
 */
import { randomBytes } from "node:crypto";
import { redisKeys, type PipelineSpec } from "@seg/compiler";
import { Redis } from "ioredis";
import { ROLES, createServer, createToken, deployProject, type Role, type SegDb, type SegServer } from "@seg/runtime";
import { TestDatabase, compileExample, databaseUrl, variant } from "./deploy-fixtures.js";

export const redisUrl = process.env["SEG_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A deployed example project, its Redis prefix and a token per role. */
export interface ServeFixture {
  t: TestDatabase;
  db: SegDb;
  prefix: string;
  specs: PipelineSpec[];
  redis: Redis;
  tokens: Record<Role, string>;
  /** The Redis keys of a deployed segment. */
  keys(segment: string): PipelineSpec["outputs"]["redis"];
  /** Starts a server on the test schema and prefix (closed by `cleanup`). */
  server(options?: Partial<Parameters<typeof createServer>[0]>): Promise<SegServer>;
  /** Starts a server and listens on 127.0.0.1 (a free port); returns it and its base URL. */
  listening(options?: Partial<Parameters<typeof createServer>[0]>): Promise<{ server: SegServer; url: string }>;
  cleanup(): Promise<void>;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** Deploys the example project (Redis prefix of its own) and creates one token per role. */
export async function serveFixture(): Promise<ServeFixture> {
  const t = new TestDatabase();
  const db = await t.connect("serve-fixture");
  const prefix = `segtest:${randomBytes(4).toString("hex")}:`;
  const example = compileExample();
  const specs = example.specs.map((s) =>
    variant(s, (b) => {
      b.outputs.redis = redisKeys(prefix, b.id, b.entity.name);
    }),
  );
  await deployProject(db, { specs, schemas: example.schemas, actor: "serve-test" });
  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) {
    tokens[role] = (await createToken(db, { name: `test-${role}`, role, actor: "serve-test", via: "test" })).token;
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  const servers: SegServer[] = [];
  const server = async (options: Partial<Parameters<typeof createServer>[0]> = {}) => {
    const s = await createServer({ databaseUrl, schema: t.schema, redisUrl, redisPrefix: prefix, ...options });
    servers.push(s);
    return s;
  };
  return {
    t,
    db,
    prefix,
    specs,
    redis,
    tokens,
    keys: (segment) => {
      const spec = specs.find((s) => s.id === segment);
      if (!spec) throw new Error(`no segment ${segment}`);
      return spec.outputs.redis;
    },
    server,
    listening: async (options) => {
      const s = await server(options);
      const url = await s.listen({ host: "127.0.0.1", port: 0 });
      return { server: s, url };
    },
    cleanup: async () => {
      for (const s of servers) await s.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      await t.cleanup();
    },
  };
}

/**
 * Writes a segment's snapshot the way the mover leaves it (Redis layout v2): members SET, metrics
 * HASH (entity id → metrics JSON, one field per member) and meta HASH. `_segment` names the
 * segment for readers of the call (the keys are the segment's own).
 */
export async function writeSnapshot(
  redis: Redis,
  keys: PipelineSpec["outputs"]["redis"],
  _segment: string,
  runId: string,
  members: readonly string[],
  metrics: (id: string) => Record<string, unknown> = (id) => ({ score: id.length }),
): Promise<void> {
  await redis.del(keys.membersKey, keys.metricsKey);
  for (let i = 0; i < members.length; i += 5_000) {
    const chunk = members.slice(i, i + 5_000);
    const pipe = redis.pipeline();
    pipe.sadd(keys.membersKey, ...chunk);
    pipe.hset(keys.metricsKey, ...chunk.flatMap((id) => [id, JSON.stringify(metrics(id))]));
    await pipe.exec();
  }
  await redis.hset(keys.metaKey, { runId, version: "sha256:test", asOf: "2026-11-01T00:00:00.000Z", size: String(members.length), completedAt: new Date().toISOString() });
}

/** `Authorization` header of a token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
