/**
 * The built CLI: `seg run runtime` serves /metrics, follows deploys without a restart and exits 0
 * on SIGTERM leaving no run queued or running; `--once` exits when every run is in Redis;
 * `seg status` prints JSON (its shape), plain text when piped, and clear errors when PostgreSQL or
 * Redis cannot be reached.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec, SegSchema } from "@seg/compiler";
import { maskUrl, type RuntimeStatus, type SegDb } from "@seg/runtime";
import { databaseUrl } from "../support/deploy-fixtures.js";
import { DeployedExamples, deploySpecs, runBuiltCli, spawnBuiltCli, type ExampleCopy } from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";

describe("seg run runtime and seg status", () => {
  const project = new DeployedExamples("cli");
  const { database } = project;
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let schemas: SegSchema[];
  let db: SegDb;
  let redis: Redis;
  let stateDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    await project.setUp({
      // One event the schema rejects: a dead letter.
      more: async (producer, c) => {
        await producer.send({ topic: c.topics.get("purchase")!, messages: [{ value: '{"event_id":"bad","customer_id":"c001"}' }] });
      },
    });
    ({ copy, specs, schemas, db, redis } = project);
    stateDir = project.tempDir("runner-cli");
    env = project.cliEnv(stateDir);
  }, 180_000);

  afterAll(() => project.cleanUp());

  const unfinished = async () => Number((await db.client.query(`SELECT count(*) AS n FROM "${database.schema}".runs WHERE status IN ('queued', 'running')`)).rows[0].n);

  it("--once runs every pipeline, waits for the mover, and exits 0", async () => {
    const r = await runBuiltCli(["run", "runtime", "--once", "--as-of", AS_OF, "--metrics-port", "0"], env, { cwd: stateDir, timeoutMs: 200_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${specs.length} succeeded, 0 failed, 0 cancelled`);
    expect(r.stdout.match(/moved: applied/g)).toHaveLength(specs.length);
    const hv = specs.find((s) => s.id === "high_value")!;
    expect(await redis.scard(hv.outputs.redis.membersKey)).toBeGreaterThan(0);
    expect(await unfinished()).toBe(0);
  }, 240_000);

  it("seg status --json: pipelines with their last run and size, streams, dead letters", async () => {
    const r = await runBuiltCli(["status", "--json"], env, { cwd: stateDir });
    expect(r.code, r.stderr).toBe(0);
    const status = JSON.parse(r.stdout) as RuntimeStatus;
    expect(Object.keys(status).sort()).toEqual(["database", "deadLetters", "generatedAt", "pipelines", "runs", "streams"]);
    expect(status.database).toEqual({ url: maskUrl(databaseUrl), schema: database.schema, deployed: true });
    expect(status.pipelines.map((p) => p.segment)).toEqual(specs.map((s) => s.id).sort());
    for (const p of status.pipelines) {
      const spec = specs.find((s) => s.id === p.segment)!;
      expect(Object.keys(p).sort()).toEqual(["lastRun", "membersKey", "refreshSeconds", "segment", "shortVersion", "size", "status", "updatedAt", "version"]);
      expect(p).toMatchObject({ version: spec.version, status: "active", refreshSeconds: spec.refreshSeconds, membersKey: spec.outputs.redis.membersKey });
      expect(p.shortVersion).toBe(spec.version.slice(0, "sha256:".length + 12));
      expect(p.lastRun).toMatchObject({ status: "succeeded", version: spec.version, engine: "embedded", asOf: AS_OF, error: null });
      expect(p.lastRun!.durationMs).toBeGreaterThanOrEqual(0);
      expect(p.size).toBe(p.lastRun!.rows);
    }
    expect(status.runs).toMatchObject({ queued: 0, running: 0, failedLastHour: 0, succeededLastHour: specs.length });
    expect(status.streams.map((s) => s.topic).sort()).toEqual([...copy.topics.values()].sort());
    const purchase = status.streams.find((s) => s.topic === copy.topics.get("purchase"))!;
    expect(Object.keys(purchase).sort()).toEqual(["invalid", "lag", "lastEventTime", "offset", "partition", "received", "stream", "topic", "updatedAt", "valid"]);
    expect(purchase).toMatchObject({ stream: `seg-ingest.${database.schema}`, partition: 0, invalid: 1, lag: 0 });
    expect(purchase.received).toBe(purchase.valid + 1);
    expect(status.deadLetters).toEqual({ total: 1, byTopic: Object.fromEntries(status.streams.map((s) => [s.topic, s.topic === purchase.topic ? 1 : 0])) });
  });

  it("seg status prints plain text when stdout is not a terminal", async () => {
    const r = await runBuiltCli(["status"], env, { cwd: stateDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`pipelines in schema ${database.schema} (${maskUrl(databaseUrl)}): ${specs.length} active, 0 retired\n`);
    expect(r.stdout).toMatch(/^SEGMENT +VERSION +STATUS +REFRESH +LAST RUN +STARTED +DURATION +ROWS +SIZE +ERROR$/m);
    expect(r.stdout).toMatch(/^high_value +sha256:[0-9a-f]{12} +active +15m +succeeded +2\d{3}-/m);
    expect(r.stdout).toContain("dead letters: 1 (");
    expect(r.stdout).not.toContain("\u001b[");
  });

  it("seg status fails clearly when PostgreSQL or Redis cannot be reached", async () => {
    const noPg = await runBuiltCli(["status", "--json"], { ...env, SEG_DATABASE_URL: "postgres://127.0.0.1:1/test" }, { cwd: stateDir });
    expect(noPg.code).toBe(1);
    expect(noPg.stdout).toBe("");
    expect(noPg.stderr).toMatch(/^seg status: cannot connect to PostgreSQL at postgres:\/\/127\.0\.0\.1:1\/test: /);
    const noRedis = await runBuiltCli(["status"], { ...env, SEG_REDIS_URL: "redis://127.0.0.1:1" }, { cwd: stateDir });
    expect(noRedis.code).toBe(1);
    expect(noRedis.stderr).toMatch(/^seg status: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: /);
  });

  it("serves /metrics, follows a deploy without a restart, and exits 0 on SIGTERM with no run left running", async () => {
    const child = spawnBuiltCli(["run", "runtime", "--metrics-port", "0", "--poll-interval", "1"], env, stateDir);
    try {
      const [, url] = await child.waitFor(/metrics at (http:\/\/\S+)/);
      await child.waitFor(/job-1 done/, 60_000);
      const metrics = await (await fetch(url!)).text();
      expect(metrics).toContain("seg_run_duration_seconds_bucket{");
      expect(metrics).toMatch(/seg_runs_total\{segment="high_value",status="succeeded"\} 1/);
      expect(metrics).toContain("seg_mover_runs_applied_total");
      expect(metrics).toContain("seg_ingest_received_total");
      expect(metrics).toContain("process_cpu_user_seconds_total");
      const health = await fetch(url!.replace("/metrics", "/healthz"));
      expect(health.status).toBe(200);

      // Retire one segment: the running runtime sees it through NOTIFY.
      await deploySpecs(db, specs.filter((s) => s.id !== "gen_z"), schemas);
      await child.waitFor(/pipelines changed \(notify\): \d+ active; added 0, changed 0, retired 1/, 10_000);

      child.child.kill("SIGTERM");
      await child.waitFor(/stopped: \d+ runs/, 30_000);
      const stoppedAt = Date.now();
      const r = await child.result(60_000);
      // Every connection was closed: the process ends by itself, not by the forced exit 3 s later.
      expect(Date.now() - stoppedAt).toBeLessThan(2_500);
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("received SIGTERM");
      expect(r.stderr).toMatch(/stopped: \d+ runs succeeded, 0 failed/);
      expect(await unfinished()).toBe(0);
    } finally {
      child.child.kill("SIGKILL");
    }
  }, 120_000);

  it("exits 0 on SIGTERM while a job is queued or running, cancelling what did not finish", async () => {
    // A runtime starts a job with every active pipeline at once.
    const child = spawnBuiltCli(["run", "runtime", "--metrics-port", "0"], env, stateDir);
    try {
      await child.waitFor(/queued job-1/, 60_000);
      child.child.kill("SIGTERM");
      const r = await child.result(60_000);
      expect(r.code, r.stderr).toBe(0);
      expect(await unfinished()).toBe(0);
      const statuses = (await db.client.query(`SELECT DISTINCT status FROM "${database.schema}".runs WHERE details->>'pid' = $1`, [String(child.child.pid)])).rows.map((x) => x.status as string);
      expect(statuses.length).toBeGreaterThan(0);
      for (const s of statuses) expect(["succeeded", "cancelled"]).toContain(s);
    } finally {
      child.child.kill("SIGKILL");
    }
  }, 120_000);
});
