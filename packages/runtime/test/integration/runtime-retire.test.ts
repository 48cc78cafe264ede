/**
 * Retiring a segment deletes its Redis keys: two example segments deployed and run by the runtime
 * (real Kafka, PostgreSQL, Redis), one of them retired by a deploy; the running runtime then
 * deletes exactly that segment's keys (members, meta, its field in every entity hash, the mover's
 * staging and temporary keys of it) and nothing else, and records it in the audit log. A cleanup
 * cut short is finished by the next start; a very large set is deleted in batches.
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

/** `before` without the retired segment's keys and entity fields. */
function withoutSegment(before: Record<string, DumpedValue>, spec: PipelineSpec, prefix: string): Record<string, DumpedValue> {
  const out: Record<string, DumpedValue> = {};
  const r = spec.outputs.redis;
  const mine = [r.membersKey, r.metaKey, postSwapKey(prefix, spec.id), outboxKey(prefix)];
  for (const [key, value] of Object.entries(before)) {
    if (mine.includes(key) || key.startsWith(`${prefix}staging:${spec.id}:`) || key.startsWith(`${prefix}mover:tmp:${spec.id}:`)) continue;
    if (key.startsWith(r.entityKeyPrefix) && "hash" in value) {
      const fields = Object.fromEntries(Object.entries(value.hash).filter(([f]) => f !== spec.id));
      if (Object.keys(fields).length > 0) out[key] = { hash: fields };
      continue;
    }
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

  it("the running runtime deletes exactly the retired segment's keys and fields, and records it", async () => {
    const rt = await start();
    await until(async () => ((await metaRunId(keep)) && (await metaRunId(gone)) ? true : undefined), "both segments in Redis");
    await settled();
    const expected = await evalProject(copy.dir, AS_OF);
    const goneMembers = (await redis.smembers(gone.outputs.redis.membersKey)).sort();
    expect(goneMembers).toEqual([...expected[gone.id]!.members].sort());
    expect(goneMembers.length).toBeGreaterThan(0);
    expect((await redis.smembers(keep.outputs.redis.membersKey)).sort()).toEqual([...expected[keep.id]!.members].sort());

    // What a crashed mover may leave of the segment, and keys that only look alike.
    const entity = gone.outputs.redis.entityKeyPrefix;
    await redis
      .multi()
      .hset(`${prefix}staging:${gone.id}:999999`, "c-1", "{}")
      .hset(`${prefix}staging:${gone.id}_old:5`, "c-1", "{}")
      .hset(`${prefix}staging:${keep.id}:999999`, "c-1", "{}")
      .sadd(`${prefix}mover:tmp:${gone.id}:999999:set`, "ghost-1")
      .hset(`${entity}ghost-1`, gone.id, "{}", "unrelated", "1")
      .hset(`${entity}orphan-1`, gone.id, "{}", keep.id, "{}")
      .hset(postSwapKey(prefix, gone.id), "runId", "999999", "segment", gone.id)
      .sadd(outboxKey(prefix), gone.id)
      .exec();
    const before = await dumpRedis(redis, prefix);
    const fieldsBefore = Object.entries(before).filter(([k, v]) => k.startsWith(entity) && "hash" in v && gone.id in v.hash).length;
    expect(fieldsBefore).toBe(goneMembers.length + 2);

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
    expect(after[`${entity}orphan-1`]).toEqual({ hash: { [keep.id]: "{}" } });
    expect(row!.actor).toMatch(/^seg runtime/);
    expect(row!.details["members"]).toBe(goneMembers.length + 1);
    expect(row!.details["entityFields"]).toBe(fieldsBefore);
    expect(await readRetiredPipelines({ schema: database.schema, query: async (sql, params) => (await db.client.query(sql, params)).rows }, { pending: true })).toEqual([]);

    // Readers, even with an index that still names the segment, do not list it any more.
    const segments = [keep, gone].map((s) => ({ name: s.id, redis: { membersKey: s.outputs.redis.membersKey } }));
    const index = { key: segmentIndexKey(prefix, segments), segments };
    defineServeScripts(redis);
    for (const id of goneMembers) {
      const listed = await readEntitySegments(redis, entity, id, index);
      expect(listed.map((l) => l.segment)).not.toContain(gone.id);
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

  it("deletes a very large set in batches, keeps other segments' fields, and stops when the segment comes back", async () => {
    const big = `${prefix}big:`;
    const members = `${big}members`;
    const n = 12_000;
    const fill = async () => {
      for (let i = 0; i < n; i += 5_000) {
        const p = redis.pipeline();
        const ids = Array.from({ length: Math.min(5_000, n - i) }, (_, j) => `c${i + j}`);
        p.sadd(members, ...ids);
        for (const id of ids) p.hset(`${big}entity:${id}`, "big", "{}", "other", "{}");
        await p.exec();
      }
      await redis.hset(`${big}meta`, "runId", "1");
    };
    await fill();
    const retired = { segment: "big", redis: { segment: "big", keys: [members, `${big}meta`], entityKeyPrefix: `${big}entity:` } };

    let batches = 0;
    const stopped = await cleanupRetiredSegment(retired, { redis, prefix: big, batchSize: 1_000, keepGoing: () => batches < 3, onBatch: () => void batches++ });
    expect(stopped.status).toBe("stopped");
    expect(await redis.scard(members)).toBe(n - 3_000);
    expect(await redis.exists(`${big}meta`)).toBe(1);

    const steps: string[] = [];
    const done = await cleanupRetiredSegment(retired, { redis, prefix: big, batchSize: 1_000, onBatch: (step) => void steps.push(step) });
    expect(done.status).toBe("done");
    expect(steps.filter((s) => s === "members").length).toBe((n - 3_000) / 1_000);
    expect(steps.filter((s) => s === "sweep").length).toBeGreaterThan(1);
    expect(done.members).toBe(n - 3_000);
    const left = await dumpRedis(redis, big);
    expect(Object.keys(left)).toHaveLength(n);
    for (const v of Object.values(left)) expect(v).toEqual({ hash: { other: "{}" } });
  }, 120_000);
});
