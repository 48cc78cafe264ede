/**
 * Helpers for the mover's integration tests: services, unique names, producing runs the way a job
 * writes them, reading a segment back from Redis, collecting change messages, cleaning up, and a
 * private Redis server the tests may restart without disturbing anyone else's.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll } from "vitest";
import { redisKeys } from "@seg/compiler";
import { createKafka, type ChangeMessage, type CompleteMessage, type MemberMessage, type Mover, type SegmentTarget } from "@seg/runtime";
import { ensureKafka } from "./kafka-broker.js";

const servicesScript = fileURLToPath(new URL("../../../../infra/services.sh", import.meta.url));

/** The shared Redis the tests use (`SEG_REDIS_URL`, default redis://127.0.0.1:6379). */
export const sharedRedisUrl = process.env["SEG_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** Kafka (started by infra/kafka/start.sh when down) and the shared Redis (infra/services.sh when down). */
export async function ensureMoverServices(): Promise<{ brokers: string[]; redisUrl: string }> {
  const brokers = await ensureKafka();
  const probe = new Redis(sharedRedisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => {});
  const up = await probe
    .connect()
    .then(() => probe.ping())
    .then(() => true)
    .catch(() => false);
  probe.disconnect();
  if (!up) {
    await new Promise<void>((resolve, reject) =>
      execFile("bash", [servicesScript], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve())),
    );
  }
  return { brokers, redisUrl: sharedRedisUrl };
}

/**
 * What a mover test file shares: the services, a Kafka client with a connected admin and producer,
 * a client of the shared Redis, and what to clean up after the file (topics, key prefixes, movers).
 * The clients are there once `beforeAll` has run.
 */
export interface MoverTestEnv {
  brokers: string[];
  redisUrl: string;
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  redis: Redis;
  topics: string[];
  /** Key prefixes to delete, on the shared Redis unless another client is given. */
  prefixes: { prefix: string; redis?: Redis }[];
  movers: Mover[];
}

/**
 * Registers the file's `beforeAll` (services, clients) and `afterAll` (`beforeCleanup` first, then
 * the movers stopped, the prefixes and topics deleted, the clients closed).
 */
export function moverTestEnv(opts: { beforeCleanup?: () => void } = {}): MoverTestEnv {
  const env = { topics: [], prefixes: [], movers: [] } as unknown as MoverTestEnv;
  beforeAll(async () => {
    ({ brokers: env.brokers, redisUrl: env.redisUrl } = await ensureMoverServices());
    env.kafka = await createKafka({ brokers: env.brokers, clientId: "seg-mover-test", retries: 5 });
    env.admin = env.kafka.admin();
    await env.admin.connect();
    env.producer = env.kafka.producer({ allowAutoTopicCreation: false });
    await env.producer.connect();
    env.redis = new Redis(env.redisUrl);
  }, 240_000);
  afterAll(async () => {
    opts.beforeCleanup?.();
    await Promise.all(env.movers.map((m) => m.stop().catch(() => {})));
    for (const { redis, prefix } of env.prefixes) {
      const r = redis ?? env.redis;
      if (r?.status === "ready") await dropPrefix(r, prefix).catch(() => {});
    }
    if (env.admin) {
      const existing = new Set(await env.admin.listTopics());
      const mine = env.topics.filter((t) => existing.has(t));
      if (mine.length > 0) await env.admin.deleteTopics({ topics: mine }).catch(() => {});
      await env.admin.disconnect();
    }
    await env.producer?.disconnect();
    env.redis?.disconnect();
  }, 120_000);
  return env;
}

/** A name no other test (or test run) uses. */
export const unique = (what: string) => `seg-mover-${what}-${randomBytes(4).toString("hex")}`;

/** A segment's target under a key prefix, as a pipeline spec's `outputs` would give it. */
export function targetOf(prefix: string, segment: string, ttlSeconds = 3_600, entity = "customer"): SegmentTarget {
  return { redis: redisKeys(prefix, segment, entity), ttlSeconds };
}

/** Members of a run: entity id → metrics. */
export type Members = Map<string, Record<string, unknown>>;

/** `n` members `c-<from>`… with metrics derived from the run (so two runs differ in metrics too). */
export function members(from: number, n: number, tag = "r"): Members {
  const out: Members = new Map();
  for (let i = from; i < from + n; i++) out.set(`c-${i}`, { total_spend: i * 10 + 0.5, tag });
  return out;
}

export interface RunSpec {
  segment: string;
  runId: string;
  asOf: string;
  version?: string;
  members: Members;
  /** Marker rows (default: the number of members). */
  rows?: number;
}

export const memberMessage = (run: RunSpec, entityId: string, metrics: Record<string, unknown>): MemberMessage => ({
  type: "member",
  segment: run.segment,
  runId: run.runId,
  entityId,
  metrics,
});

export const completeMessage = (run: RunSpec): CompleteMessage => ({
  type: "complete",
  segment: run.segment,
  runId: run.runId,
  version: run.version ?? "sha256:test",
  asOf: run.asOf,
  rows: run.rows ?? run.members.size,
});

/**
 * Produces a run as a job does: every member (key: entity id), then the marker (key: segment).
 * `partitionOf` pins messages to partitions; `marker: false` leaves the marker out.
 */
export async function produceRun(
  producer: Producer,
  topic: string,
  run: RunSpec,
  opts: { marker?: boolean; memberPartition?: (i: number) => number; markerPartition?: number; batch?: number } = {},
): Promise<void> {
  const batch = opts.batch ?? 5_000;
  let pending: { key: string; value: string; partition?: number }[] = [];
  let i = 0;
  for (const [id, metrics] of run.members) {
    const p = opts.memberPartition?.(i);
    pending.push({ key: id, value: JSON.stringify(memberMessage(run, id, metrics)), ...(p !== undefined ? { partition: p } : {}) });
    i++;
    if (pending.length >= batch) {
      await producer.send({ topic, messages: pending });
      pending = [];
    }
  }
  if (pending.length > 0) await producer.send({ topic, messages: pending });
  if (opts.marker !== false) await produceMarker(producer, topic, run, opts.markerPartition);
}

export async function produceMarker(producer: Producer, topic: string, run: RunSpec, partition?: number): Promise<void> {
  await producer.send({ topic, messages: [{ key: run.segment, value: JSON.stringify(completeMessage(run)), ...(partition !== undefined ? { partition } : {}) }] });
}

/** What Redis holds for a segment. */
export interface SegmentState {
  members: string[];
  meta: Record<string, string>;
  /** entity id → its field in the segment's metrics hash (metrics JSON), for `ids`. */
  fields: Map<string, string | null>;
}

export async function readSegment(redis: Redis, target: SegmentTarget, segment: string, ids: Iterable<string>): Promise<SegmentState> {
  const [set, meta] = await Promise.all([redis.smembers(target.redis.membersKey), redis.hgetall(target.redis.metaKey)]);
  const list = [...ids];
  const pipe = redis.pipeline();
  for (const id of list) pipe.hget(target.redis.metricsKey, id);
  const res = (await pipe.exec()) ?? [];
  const fields = new Map<string, string | null>();
  list.forEach((id, i) => fields.set(id, (res[i]?.[1] as string | null) ?? null));
  return { members: set.sort(), meta, fields };
}

/**
 * Asserts-ready summary: Redis equals the job's result for `run` when the set is exactly its
 * members, the meta names it, and every member (and only members, among `universe`) has the
 * run's metrics in its entity hash.
 */
export async function segmentMatches(redis: Redis, target: SegmentTarget, run: RunSpec, universe: Iterable<string> = []): Promise<string[]> {
  const ids = new Set([...run.members.keys(), ...universe]);
  const state = await readSegment(redis, target, run.segment, ids);
  const problems: string[] = [];
  const want = [...run.members.keys()].sort();
  if (state.members.length !== want.length || state.members.some((m, i) => m !== want[i])) {
    problems.push(`set has ${state.members.length} members, the run ${want.length}`);
  }
  if (state.meta["runId"] !== run.runId) problems.push(`meta runId ${state.meta["runId"]} is not ${run.runId}`);
  if (state.meta["size"] !== String(run.members.size)) problems.push(`meta size ${state.meta["size"]} is not ${run.members.size}`);
  if (state.meta["asOf"] !== run.asOf) problems.push(`meta asOf ${state.meta["asOf"]} is not ${run.asOf}`);
  let wrong = 0;
  for (const id of ids) {
    const want = run.members.get(id);
    const got = state.fields.get(id) ?? null;
    const expected = want === undefined ? null : JSON.stringify(want);
    if (got !== expected) wrong++;
  }
  if (wrong > 0) problems.push(`${wrong} entity hash fields differ from the run`);
  return problems;
}

/** Every key under `prefix` (SCAN). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 10_000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== "0");
  return out;
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 1_000) await redis.unlink(...keys.slice(i, i + 1_000));
}

export async function createTopics(admin: Admin, topics: { topic: string; partitions?: number }[]): Promise<void> {
  await admin.createTopics({ topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions ?? 1, replicationFactor: 1 })), waitForLeaders: true });
}

/** Reads every message of a topic from the beginning until `quietMs` pass without a new one. */
export async function readAllChanges(kafka: Kafka, topic: string, opts: { quietMs?: number; expect?: number; timeoutMs?: number } = {}): Promise<ChangeMessage[]> {
  const out: ChangeMessage[] = [];
  const consumer = kafka.consumer({ groupId: unique("reader"), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let last = Date.now();
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) out.push(JSON.parse(m.value!.toString()) as ChangeMessage);
      last = Date.now();
    },
  });
  const started = Date.now();
  const quiet = opts.quietMs ?? 1_500;
  while (Date.now() - started < (opts.timeoutMs ?? 30_000)) {
    await new Promise((r) => setTimeout(r, 100));
    if (opts.expect !== undefined ? out.length >= opts.expect && Date.now() - last > 300 : Date.now() - last > quiet && Date.now() - started > quiet) break;
  }
  await consumer.disconnect();
  return out;
}

/** Waits until `check` returns true (polling), or throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = "condition"): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * A redis-server of the test's own on a free loopback port (no persistence), so a test can shut it
 * down and start it again without touching the shared Redis other tests use.
 */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), mkdtempSync(join(tmpdir(), "seg-mover-redis-")));
    await r.up();
    return r;
  }

  /** Starts the server (again) on the same port. */
  async up(): Promise<void> {
    this.proc = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir], { stdio: "ignore" });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    await until(async () => probe.connect().then(() => true, () => false), 10_000, `redis-server on ${this.port}`);
    await probe.quit();
  }

  /** SHUTDOWN NOSAVE: the server exits and its data is gone. */
  async down(): Promise<void> {
    const proc = this.proc;
    const exited = proc ? new Promise<void>((r) => (proc.exitCode !== null ? r() : proc.once("exit", () => r()))) : Promise.resolve();
    const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on("error", () => {});
    await c.connect().then(() => c.call("SHUTDOWN", "NOSAVE")).catch(() => {});
    c.disconnect();
    await exited;
    this.proc = undefined;
  }

  async close(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
