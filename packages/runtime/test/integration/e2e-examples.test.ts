/**
 * End to end: the example events produced to their raw topics, the example project deployed,
 * `seg run runtime --once` (ingestion → validated topics → embedded jobs → results topic → mover →
 * Redis), then every example segment's members (and carried metrics, in its metrics hash) in Redis
 * equal `seg eval` of the same events at the same as_of.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployedExamples, evalProject, runBuiltCli, setMembers } from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";

describe("the example project end to end", () => {
  const project = new DeployedExamples("e2e");
  const { database } = project;

  beforeAll(async () => {
    await project.setUp();
  }, 180_000);
  afterAll(() => project.cleanUp());

  it("Redis holds, for every example segment, exactly what seg eval gives", async () => {
    const { specs, copy, redis } = project;
    const stateDir = project.tempDir("runner-state");
    const env = project.cliEnv(stateDir);
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
      // Carried metrics: the segment's metrics hash has one field per member (exactly the
      // members), each the member's metrics JSON.
      const metrics = await redis.hgetall(spec.outputs.redis.metricsKey);
      expect(Object.keys(metrics).sort(), spec.id).toEqual(members);
      for (const id of members) expect(JSON.parse(metrics[id]!), `${spec.id} ${id}`).toEqual(want.metrics[id] ?? {});
      expect(await redis.ttl(spec.outputs.redis.metricsKey), spec.id).toBeGreaterThan(0);
    }
    // Redis layout v2: no per-entity keys.
    expect(await redis.keys(`${project.redisPrefix}entity:*`)).toEqual([]);

    const db = project.db;
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
