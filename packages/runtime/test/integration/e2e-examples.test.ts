/**
 * End to end: the example events produced to their raw topics, the example project deployed,
 * `seg run runtime --once` (ingestion → validated topics → embedded jobs → results topic → mover →
 * Redis), then every example segment's members (and carried metrics) in Redis equal `seg eval`
 * of the same events at the same as_of.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import { TestDatabase } from "../support/deploy-fixtures.js";
import {
  cliEnv,
  compileSpecs,
  copyExamples,
  deleteRedisPrefix,
  deploySpecs,
  ensureRunnerServices,
  evalProject,
  produceExamples,
  redisUrl,
  runBuiltCli,
  setMembers,
  testOutputs,
  testProducer,
  unique,
  type ExampleCopy,
} from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";

describe("the example project end to end", () => {
  const database = new TestDatabase();
  const name = unique("e2e");
  const topicPrefix = `${name}.`;
  const redisPrefix = `${name}:`;
  const outputs = testOutputs(topicPrefix, redisPrefix);
  let brokers: string[];
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let redis: Redis;
  let stateDir: string;

  beforeAll(async () => {
    brokers = await ensureRunnerServices();
    copy = copyExamples(topicPrefix);
    stateDir = mkdtempSync(join(tmpdir(), "seg-runner-state-"));
    const compiled = compileSpecs(copy.dir, outputs);
    specs = compiled.specs;
    const db = await database.connect();
    await deploySpecs(db, specs, compiled.schemas);
    const producer = await testProducer(brokers);
    try {
      await produceExamples(producer, copy);
    } finally {
      await producer.disconnect();
    }
    redis = new Redis(redisUrl);
  }, 180_000);

  afterAll(async () => {
    await deleteRedisPrefix(redis, redisPrefix).catch(() => {});
    redis.disconnect();
    await database.cleanup();
    copy?.remove();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("Redis holds, for every example segment, exactly what seg eval gives", async () => {
    const env = cliEnv({ schema: database.schema, brokers, topicPrefix, stateDir, redisPrefix });
    const r = await runBuiltCli(["run", "runtime", "--once", "--as-of", AS_OF, "--metrics-port", "0"], env, { cwd: stateDir, timeoutMs: 200_000 });
    expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
    if (process.env["SEG_TEST_DEBUG"]) console.log(r.stdout, r.stderr);
    expect(r.stdout).toMatch(/metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(r.stdout).toContain(`seg runtime: ${specs.length} succeeded, 0 failed, 0 cancelled`);

    const expected = await evalProject(copy.dir, AS_OF);
    expect(Object.keys(expected).sort()).toEqual(specs.map((s) => s.id).sort());
    for (const spec of specs) {
      const want = expected[spec.id]!;
      const members = await setMembers(redis, spec.outputs.redis.membersKey);
      expect(members, spec.id).toEqual([...want.members].sort());
      const meta = await redis.hgetall(spec.outputs.redis.metaKey);
      expect(meta["asOf"], spec.id).toBe(AS_OF);
      expect(Number(meta["size"]), spec.id).toBe(want.size);
      // Carried metrics: the per-entity hash holds the segment's metrics JSON.
      for (const id of members) {
        const text = await redis.hget(`${spec.outputs.redis.entityKeyPrefix}${id}`, spec.id);
        expect(JSON.parse(text ?? "null"), `${spec.id} ${id}`).toEqual(want.metrics[id] ?? {});
      }
    }

    const db = await database.connect();
    const runs = await db.client.query<{ segment: string; status: string; as_of: Date; rows: string; engine: string }>(
      `SELECT segment, status, as_of, rows, engine FROM "${database.schema}".runs ORDER BY segment`,
    );
    expect(runs.rows).toHaveLength(specs.length);
    for (const row of runs.rows) {
      expect(row.status, row.segment).toBe("succeeded");
      expect(row.engine).toBe("embedded");
      expect(row.as_of.toISOString()).toBe(AS_OF);
      expect(Number(row.rows), row.segment).toBe(expected[row.segment]!.size);
    }
    // Ingestion recorded its progress, dead letters included.
    const progress = await db.client.query<{ topic: string; received: string; valid: string; invalid: string }>(`SELECT topic, received, valid, invalid FROM "${database.schema}".stream_progress`);
    expect(progress.rows.length).toBe(copy.topics.size);
  }, 300_000);
});
