/**
 * Retiring a segment deletes its Redis keys: two example segments deployed and run by the runtime
 * (real Kafka, PostgreSQL, Redis), one of them retired by a deploy; the running runtime then
 * deletes exactly that segment's keys (members, meta, metrics, the mover's staging and temporary
 * keys of it) and nothing else, and records it in the audit log. A cleanup cut short is finished
 * by the next start; a very large set is deleted in batches; a segment retired from a spec of the
 * old layout (per-entity hashes) gets its members and meta keys deleted.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import {
  CLEANUP_AUDIT_ACTION,
  changesChannel,
  cleanupRetiredSegment,
  createKafka,
  defineServeScripts,
  outboxKey,
  pendingExitsKey,
  postSwapKey,
  readEntitySegments,
  readRetiredPipelines,
  readRuntimeStatus,
  retiredRedisKeys,
  retirementChange,
  segmentIndexKey,
  startRuntime,
  type ChangeMessage,
  type Runtime,
  type SegDb,
} from "@seg/runtime";
import { databaseUrl } from "../support/deploy-fixtures.js";
import { readAllChanges } from "../support/mover-fixtures.js";
import { DeployedExamples, deploySpecs, dumpRedis, evalProject, redisUrl, until, type DumpedValue, type ExampleCopy } from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";

/** `before` without the retired segment's keys. */
function withoutSegment(before: Record<string, DumpedValue>, spec: PipelineSpec, prefix: string): Record<string, DumpedValue> {
  const out: Record<string, DumpedValue> = {};
  const r = spec.outputs.redis;
  const mine = [r.membersKey, r.metaKey, r.metricsKey, postSwapKey(prefix, spec.id), outboxKey(prefix)];
  for (const [key, value] of Object.entries(before)) {
    if (mine.includes(key) || key.startsWith(`${prefix}staging:${spec.id}:`) || key.startsWith(`${prefix}mover:tmp:${spec.id}:`)) continue;
    out[key] = value;
  }
  return out;
}

describe("retiring a segment deletes its Redis keys", () => {
  const project = new DeployedExamples("retire");
  const { database, redisPrefix: prefix, outputs } = project;
  let brokers: string[];
  let copy: ExampleCopy;
  let keep: PipelineSpec;
  let gone: PipelineSpec;
  let schemas: Parameters<typeof deploySpecs>[2];
  let redis: Redis;
  let db: SegDb;
  const runtimes: Runtime[] = [];

  const start = async (cleanupRetired: Parameters<typeof startRuntime>[0]["cleanupRetired"] = { batchSize: 3 }) => {
    const stateDir = project.tempDir("retire-state");
    const rt = await startRuntime({
      databaseUrl,
      schema: database.schema,
      brokers,
      redisUrl,
      ...outputs,
      stateDir,
      asOf: AS_OF,
      ingestion: false,
      pollIntervalMs: 500,
      readIdleMs: 1_000,
      cleanupRetired,
    });
    runtimes.push(rt);
    return rt;
  };

  const metaRunId = (spec: PipelineSpec) => redis.hget(spec.outputs.redis.metaKey, "runId");
  const cleanupRow = (segment: string, deployId: number) =>
    db.client
      .query<{ actor: string; details: Record<string, number> }>(`SELECT actor, details FROM "${database.schema}".audit_log WHERE action = $1 AND target = $2 AND deploy_id = $3`, [
        CLEANUP_AUDIT_ACTION,
        `pipeline:${segment}`,
        deployId,
      ])
      .then((r) => r.rows);
  /** The exit changes of `segment`'s retirement by `deployId` on the changes topic (entity ids, sorted). */
  const exitsOnTopic = async (segment: string, deployId: number): Promise<ChangeMessage[]> => {
    const kafka = await createKafka({ brokers, clientId: "seg-retire-test" });
    const all = await readAllChanges(kafka, outputs.changesTopic, { quietMs: 2_000 });
    return all.filter((c) => c.segment === segment && c.runId === `retired-${deployId}`).sort((a, b) => (a.entityId < b.entityId ? -1 : a.entityId > b.entityId ? 1 : 0));
  };
  /** Waits until the mover's follow-up work of `keep` is done (its temporary keys gone). */
  const settled = () =>
    until(async () => {
      const [, keys] = await redis.scan("0", "MATCH", `${prefix}mover:*`, "COUNT", 10_000);
      return keys.length === 0 ? true : undefined;
    }, "the mover's follow-up work");

  beforeAll(async () => {
    await project.setUp({ select: (specs) => specs.filter((s) => s.id === "high_value" || s.id === "cart_abandoners"), valid: true });
    ({ brokers, copy, schemas, redis, db } = project);
    keep = project.spec("high_value");
    gone = project.spec("cart_abandoners");
  }, 120_000);

  afterAll(async () => {
    for (const rt of runtimes) await rt.stop().catch(() => {});
    await project.cleanUp();
  });

  it("the running runtime deletes exactly the retired segment's keys, and records it", async () => {
    const rt = await start();
    await until(async () => ((await metaRunId(keep)) && (await metaRunId(gone)) ? true : undefined), "both segments in Redis");
    await settled();
    const expected = await evalProject(copy.dir, AS_OF);
    const goneMembers = (await redis.smembers(gone.outputs.redis.membersKey)).sort();
    expect(goneMembers).toEqual([...expected[gone.id]!.members].sort());
    expect(goneMembers.length).toBeGreaterThan(0);
    expect((await redis.smembers(keep.outputs.redis.membersKey)).sort()).toEqual([...expected[keep.id]!.members].sort());
    // Layout v2: one metrics hash per segment, a field per member; no per-entity keys.
    const metricsOf = async (spec: PipelineSpec) => Object.keys(await redis.hgetall(spec.outputs.redis.metricsKey)).sort();
    expect(await metricsOf(gone)).toEqual(goneMembers);
    expect(await metricsOf(keep)).toEqual([...expected[keep.id]!.members].sort());

    // What a crashed mover may leave of the segment, and keys that only look alike.
    await redis
      .multi()
      .hset(`${prefix}staging:${gone.id}:999999`, "c-1", "{}")
      .hset(`${prefix}staging:${gone.id}_old:5`, "c-1", "{}")
      .hset(`${prefix}staging:${keep.id}:999999`, "c-1", "{}")
      .sadd(`${prefix}mover:tmp:${gone.id}:999999:set`, "ghost-1")
      .hset(`${prefix}mover:tmp:${gone.id}:999999:metrics`, "ghost-1", "{}")
      .sadd(`${prefix}mover:tmp:${gone.id}_old:5:set`, "c-1")
      .hset(postSwapKey(prefix, gone.id), "runId", "999999", "segment", gone.id)
      .sadd(outboxKey(prefix), gone.id)
      .exec();
    const before = await dumpRedis(redis, prefix);

    const heard: ChangeMessage[] = [];
    const subscriber = new Redis(redisUrl);
    subscriber.on("message", (_channel: string, message: string) => heard.push(JSON.parse(message) as ChangeMessage));
    await subscriber.subscribe(changesChannel(prefix, gone.id));

    const deployId = await deploySpecs(db, [keep], schemas);
    const [row] = await until(async () => {
      const rows = await cleanupRow(gone.id, deployId);
      return rows.length > 0 ? rows : undefined;
    }, "the cleanup's audit row");
    subscriber.disconnect();
    // Every member left: one exit each, on pub/sub and on the changes topic (not the mover's
    // half-built set's "ghost", never served).
    const { runId, asOf } = retirementChange(deployId, (await readRetiredPipelines({ schema: database.schema, query: async (sql, params) => (await db.client.query(sql, params)).rows }, { segment: gone.id }))[0]!.retiredAt);
    expect(runId).toBe(`retired-${deployId}`);
    const exit = (entityId: string): ChangeMessage => ({ segment: gone.id, entityId, change: "exit", runId, asOf });
    expect(heard.filter((c) => c.runId === runId).sort((a, b) => (a.entityId < b.entityId ? -1 : 1))).toEqual(goneMembers.map(exit));
    expect(await exitsOnTopic(gone.id, deployId)).toEqual(goneMembers.map(exit));
    const after = await dumpRedis(redis, prefix);
    expect(after).toEqual(withoutSegment(before, gone, prefix));
    expect(after[`${prefix}staging:${gone.id}_old:5`]).toBeDefined();
    expect(after[`${prefix}mover:tmp:${gone.id}_old:5:set`]).toBeDefined();
    await redis.unlink(`${prefix}mover:tmp:${gone.id}_old:5:set`); // (the next tests wait for no mover keys)
    for (const key of Object.values(gone.outputs.redis)) expect(after[key]).toBeUndefined();
    expect(row!.actor).toMatch(/^seg runtime/);
    expect(row!.details["members"]).toBe(goneMembers.length);
    expect(row!.details["keys"]).toEqual([gone.outputs.redis.membersKey, gone.outputs.redis.metaKey, gone.outputs.redis.metricsKey]);
    expect(await readRetiredPipelines({ schema: database.schema, query: async (sql, params) => (await db.client.query(sql, params)).rows }, { pending: true })).toEqual([]);

    // Readers, even with an index that still names the segment, do not list it any more.
    const segments = [keep, gone].map((s) => ({ name: s.id, redis: s.outputs.redis }));
    const index = { key: segmentIndexKey(prefix, segments), segments };
    defineServeScripts(redis);
    const keepMembers = new Set(await redis.smembers(keep.outputs.redis.membersKey));
    for (const id of goneMembers) {
      const listed = await readEntitySegments(redis, id, index);
      expect(listed.map((l) => l.segment)).toEqual(keepMembers.has(id) ? [keep.id] : []);
    }
    // `seg status` shows it retired, its keys deleted.
    const status = await readRuntimeStatus(db);
    expect(status.pipelines.map((p) => [p.segment, p.status, p.redisCleanup])).toEqual([
      [keep.id, "active", undefined],
      [gone.id, "retired", "deleted"],
    ]);
    // The kept segment is still served as before.
    expect(rt.pipelines().map((p) => p.segment)).toEqual([keep.id]);
    const metrics = await rt.metrics.registry.getSingleMetricAsString("seg_retired_cleanups_total");
    expect(metrics).toMatch(/seg_retired_cleanups_total\{status="done"\} 1/);
    await rt.stop();
  }, 120_000);

  it("a cleanup cut short is finished by the next start of the runtime", async () => {
    // Deployed again: the runtime runs it, its keys are back.
    await deploySpecs(db, [keep, gone], schemas);
    let rt = await start();
    await until(async () => ((await metaRunId(gone)) ? true : undefined), "the reactivated segment in Redis");
    await settled();
    await rt.stop();
    const before = await dumpRedis(redis, prefix);
    const members = (await redis.smembers(gone.outputs.redis.membersKey)).sort();
    const size = members.length;
    expect(size).toBeGreaterThan(2);

    // Retired while no runtime runs; a cleanup dies after its first batch.
    const deployId = await deploySpecs(db, [keep], schemas);
    const [retired] = await readRetiredPipelines({ schema: database.schema, query: async (sql, params) => (await db.client.query(sql, params)).rows }, { pending: true });
    expect(retired!.segment).toBe(gone.id);
    // It dies sending its first batch's exits to Kafka: they wait in the pending set.
    await expect(
      cleanupRetiredSegment(retired!, {
        redis,
        prefix,
        batchSize: 2,
        exits: {
          send: () => Promise.reject(new Error("crash")),
          ...retirementChange(retired!.deployId, retired!.retiredAt),
        },
      }),
    ).rejects.toThrow("crash");
    expect(await redis.scard(gone.outputs.redis.membersKey)).toBe(size - 2);
    expect(await redis.scard(pendingExitsKey(prefix, gone.id))).toBe(2);
    expect(await metaRunId(gone)).not.toBeNull();
    expect(await cleanupRow(gone.id, deployId)).toEqual([]);
    expect((await readRuntimeStatus(db)).pipelines.find((p) => p.segment === gone.id)?.redisCleanup).toBe("pending");

    rt = await start({ batchSize: 2 });
    await until(async () => ((await cleanupRow(gone.id, deployId)).length === 1 ? true : undefined), "the cleanup's audit row");
    expect(await dumpRedis(redis, prefix)).toEqual(withoutSegment(before, gone, prefix));
    // Every member's exit reached the changes topic once, the crashed batch's too.
    expect((await exitsOnTopic(gone.id, deployId)).map((c) => c.entityId)).toEqual(members);
    await rt.stop();
  }, 120_000);

  it("deletes a very large set in batches, announcing every exit once, keeps other segments' keys, and stops when the segment comes back", async () => {
    const big = `${prefix}big:`;
    const keys = { membersKey: `${big}segment:big:members`, metaKey: `${big}segment:big:meta`, metricsKey: `${big}segment:big:metrics` };
    const other = { membersKey: `${big}segment:other:members`, metricsKey: `${big}segment:other:metrics` };
    const n = 12_000;
    const ids = Array.from({ length: n }, (_, i) => `c${i}`);
    for (let i = 0; i < n; i += 5_000) {
      const chunk = ids.slice(i, i + 5_000);
      await redis
        .pipeline()
        .sadd(keys.membersKey, ...chunk)
        .hset(keys.metricsKey, ...chunk.flatMap((id) => [id, "{}"]))
        .sadd(other.membersKey, ...chunk)
        .hset(other.metricsKey, ...chunk.flatMap((id) => [id, "{}"]))
        .exec();
    }
    await redis.hset(keys.metaKey, "runId", "1");
    const retired = { segment: "big", redis: retiredRedisKeys({ id: "big", outputs: { redis: keys } } as PipelineSpec) };
    expect(retired.redis.keys).toEqual([keys.membersKey, keys.metaKey, keys.metricsKey]);
    const sent: ChangeMessage[] = [];
    const exits = { send: async (changes: ChangeMessage[]) => void sent.push(...changes), runId: "retired-1", asOf: AS_OF };

    let batches = 0;
    const stopped = await cleanupRetiredSegment(retired, { redis, prefix: big, batchSize: 1_000, exits, keepGoing: () => batches < 3, onBatch: () => void batches++ });
    expect(stopped.status).toBe("stopped");
    expect(await redis.scard(keys.membersKey)).toBe(n - 3_000);
    // Until the end the metrics and meta stay whole.
    expect(await redis.hlen(keys.metricsKey)).toBe(n);
    expect(await redis.exists(keys.metaKey)).toBe(1);
    expect(sent).toHaveLength(3_000);

    const steps: string[] = [];
    const done = await cleanupRetiredSegment(retired, { redis, prefix: big, batchSize: 1_000, exits, onBatch: (step) => void steps.push(step) });
    expect(done.status).toBe("done");
    expect(steps.filter((s) => s === "members").length).toBe((n - 3_000) / 1_000);
    expect(done.members).toBe(n - 3_000);
    expect(done.keys).toBe(2); // meta and metrics: the members SET was emptied by the batches
    expect(sent.map((c) => c.entityId).sort()).toEqual([...ids].sort());
    expect(sent.every((c) => c.change === "exit" && c.segment === "big" && c.runId === "retired-1")).toBe(true);
    const left = await dumpRedis(redis, big);
    expect(Object.keys(left)).toEqual([other.membersKey, other.metricsKey]);
    expect(await redis.scard(other.membersKey)).toBe(n);
    expect(await redis.hlen(other.metricsKey)).toBe(n);
    await redis.unlink(other.membersKey, other.metricsKey);
  }, 120_000);

  it("without exits, deletes the members, meta and metrics keys whole", async () => {
    const base = `${prefix}quiet:`;
    const keys = { membersKey: `${base}members`, metaKey: `${base}meta`, metricsKey: `${base}metrics` };
    await redis.multi().sadd(keys.membersKey, "a", "b").hset(keys.metricsKey, "a", "{}", "b", "{}").hset(keys.metaKey, "runId", "1").exec();
    const steps: string[] = [];
    const done = await cleanupRetiredSegment({ segment: "quiet", redis: { segment: "quiet", keys: [keys.membersKey, keys.metaKey, keys.metricsKey] } }, { redis, prefix: base, onBatch: (step) => void steps.push(step) });
    expect(done).toMatchObject({ status: "done", members: 0, keys: 3 });
    expect(steps).toEqual([]);
    expect(await dumpRedis(redis, base)).toEqual({});
  });

  it("retires a segment of a spec stored with the old layout: members and meta deleted, old entity hashes left to their TTL", async () => {
    const base = `${prefix}legacy:`;
    const outputs = { redis: { membersKey: `${base}segment:old:members`, metaKey: `${base}segment:old:meta`, entityKeyPrefix: `${base}entity:customer:` } };
    const redisKeys = retiredRedisKeys({ id: "old", outputs } as unknown as PipelineSpec);
    expect(redisKeys).toEqual({ segment: "old", keys: [outputs.redis.membersKey, outputs.redis.metaKey] });
    await redis
      .multi()
      .sadd(outputs.redis.membersKey, "a", "b")
      .hset(outputs.redis.metaKey, "runId", "1")
      .hset(`${outputs.redis.entityKeyPrefix}a`, "old", "{}")
      .expire(`${outputs.redis.entityKeyPrefix}a`, 3_600)
      .exec();
    const sent: ChangeMessage[] = [];
    const done = await cleanupRetiredSegment(
      { segment: "old", redis: redisKeys },
      { redis, prefix: base, exits: { send: async (c) => void sent.push(...c), runId: "retired-2", asOf: AS_OF } },
    );
    expect(done).toMatchObject({ status: "done", members: 2 });
    expect(sent.map((c) => c.entityId).sort()).toEqual(["a", "b"]);
    expect(Object.keys(await dumpRedis(redis, base))).toEqual([`${outputs.redis.entityKeyPrefix}a`]);
    expect(await redis.ttl(`${outputs.redis.entityKeyPrefix}a`)).toBeGreaterThan(0);
    await redis.unlink(`${outputs.redis.entityKeyPrefix}a`);
  });
});
