/**
 * The embedded executor and the runs table against Kafka and PostgreSQL: each refresh reads only
 * the new offsets of the validated topics; results reach the results topic as the contract says;
 * every run is recorded, a failing pipeline as failed with its error (alone, while the others of
 * its job succeed), a job past its timeout as failed with the reason, stuck and orphaned runs too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import {
  ReconnectingDb,
  RunsStore,
  createEmbeddedExecutor,
  parseResultMessage,
  readNewMessages,
  startRuntime,
  validTopic,
  type ActivePipeline,
  type CompleteMessage,
  type EmbeddedExecutor,
  type MemberMessage,
  type SegDb,
} from "@seg/runtime";
import { TestDatabase, databaseUrl, variant } from "../support/deploy-fixtures.js";
import {
  compileSpecs,
  copyExamples,
  deploySpecs,
  ensureRunnerServices,
  evalProject,
  exampleLines,
  produceExamples,
  redisUrl,
  setUpExecutorRig,
  testOutputs,
  testProducer,
  unique,
  type ExampleCopy,
  type ExecutorRig,
  type TestOutputs,
} from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";

const active = (spec: PipelineSpec): ActivePipeline => ({ segment: spec.id, version: spec.version, spec, updatedAt: new Date(), lastDeployId: 1 });

/** Every result message on `topic` (read to its end). */
async function resultsOn(kafka: Kafka, admin: Admin, topic: string): Promise<(MemberMessage | CompleteMessage)[]> {
  const out: (MemberMessage | CompleteMessage)[] = [];
  await readNewMessages({
    kafka,
    admin,
    groupId: unique("reader"),
    topics: [{ topic, from: new Map() }],
    onChunk: async (_t, messages) => {
      for (const m of messages) {
        const parsed = parseResultMessage(m.value ?? "");
        if (parsed) out.push(parsed);
      }
    },
  });
  return out;
}

describe("the embedded executor", () => {
  const name = unique("exec");
  let rig: ExecutorRig | undefined;
  let outputs: TestOutputs;
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let stateDir: string;
  let executor: EmbeddedExecutor;

  beforeAll(async () => {
    rig = await setUpExecutorRig(name, "runner-executor-test");
    ({ outputs, copy, specs, kafka, admin, producer } = rig);
    stateDir = mkdtempSync(join(tmpdir(), "seg-runner-exec-"));
    executor = await createEmbeddedExecutor({ stateDir, kafka, admin, producer, groupId: unique("group"), readIdleMs: 1_000 });
  }, 120_000);

  afterAll(async () => {
    await executor?.close();
    await rig?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const job = (id: string, pipelines: ActivePipeline[], runIds: string[]) => ({
    id,
    pipelines,
    runIds: new Map(pipelines.map((p, i) => [p.segment, runIds[i]!])),
    asOf: AS_OF,
    retention: new Map<string, number | null>(),
    prune: false,
    signal: new AbortController().signal,
  });

  it("reads only new offsets on each refresh, upserts profiles, and writes results as the contract says", async () => {
    const pick = specs.filter((s) => ["high_value", "churned", "cart_abandoners"].includes(s.id));
    expect(pick).toHaveLength(3);
    const counts = await produceExamples(producer, copy, { valid: true });

    const first = await executor.run(job("job-1", pick.map(active), ["101", "102", "103"]));
    expect([...first.segments.values()].every((o) => o.status === "succeeded"), JSON.stringify([...first.segments])).toBe(true);
    expect(first.details["combined"]).toBe(true);
    const read1 = first.details["read"] as { topic: string; messages: number; partitions: { from: string; to: string }[] }[];
    for (const source of ["purchase", "customer", "add_to_cart"]) {
      const r = read1.find((x) => x.topic === validTopic(copy.topics.get(source)!))!;
      expect(r.messages, source).toBe(counts[source]);
      expect(r.partitions[0]).toMatchObject({ from: "0", to: String(counts[source]) });
      expect(await executor.store.count(source)).toBe(counts[source]);
    }

    // Same results as seg eval.
    const expected = await evalProject(copy.dir, AS_OF);
    for (const p of pick) expect((first.segments.get(p.id) as { rows: number }).rows, p.id).toBe(expected[p.id]!.size);

    // Three new purchases and a changed profile: the second refresh reads exactly those.
    const purchases = exampleLines(copy.dir, "purchase").slice(0, 3).map((l) => {
      const v = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify({ ...v, event_id: `${String(v["event_id"])}-again`, amount: 5_000, ts: "2026-10-30T12:00:00Z" });
    });
    await producer.send({ topic: validTopic(copy.topics.get("purchase")!), messages: purchases.map((value) => ({ value })) });
    const customer = JSON.parse(exampleLines(copy.dir, "customer")[0]!) as Record<string, unknown>;
    await producer.send({ topic: validTopic(copy.topics.get("customer")!), messages: [{ key: String(customer["customer_id"]), value: JSON.stringify({ ...customer, loyalty_tier: "platinum" }) }] });

    const second = await executor.run({ ...job("job-2", pick.map(active), ["201", "202", "203"]) });
    const read2 = second.details["read"] as { topic: string; messages: number; partitions: { from: string; to: string }[] }[];
    const purchase2 = read2.find((x) => x.topic === validTopic(copy.topics.get("purchase")!))!;
    expect(purchase2.messages).toBe(3);
    expect(purchase2.partitions[0]).toMatchObject({ from: String(counts["purchase"]), to: String(counts["purchase"]! + 3) });
    expect(read2.find((x) => x.topic === validTopic(copy.topics.get("customer")!))!.messages).toBe(1);
    expect(read2.find((x) => x.topic === validTopic(copy.topics.get("add_to_cart")!))!.messages).toBe(0);
    expect(await executor.store.count("purchase")).toBe(counts["purchase"]! + 3);
    expect(await executor.store.count("customer")).toBe(counts["customer"]); // upserted, not appended

    // A third refresh with nothing new reads nothing (and starts no consumer).
    const third = await executor.run(job("job-3", [active(pick[0]!)], ["301"]));
    expect((third.details["read"] as { messages: number }[]).every((r) => r.messages === 0)).toBe(true);
    expect(third.details["combined"]).toBe(false);

    // The results topic: members then one marker per segment and run, rows = members.
    const results = await resultsOn(kafka, admin, outputs.resultsTopic);
    for (const [runId, p] of [["101", pick[0]!], ["202", pick[1]!]] as const) {
      const members = results.filter((m): m is MemberMessage => m.type === "member" && m.runId === runId);
      const markers = results.filter((m): m is CompleteMessage => m.type === "complete" && m.runId === runId);
      expect(markers, runId).toHaveLength(1);
      expect(markers[0]).toMatchObject({ segment: p.id, version: p.version, asOf: AS_OF, rows: members.length });
      expect(members.every((m) => m.segment === p.id)).toBe(true);
      expect(results.indexOf(markers[0]!)).toBeGreaterThan(Math.max(...members.map((m) => results.indexOf(m))));
    }
    const hvRun = String(101 + pick.findIndex((p) => p.id === "high_value"));
    const hv = results.filter((m): m is MemberMessage => m.type === "member" && m.runId === hvRun);
    expect(hv.map((m) => m.entityId).sort()).toEqual([...expected["high_value"]!.members].sort());
    for (const m of hv) expect(m.metrics).toEqual(expected["high_value"]!.metrics[m.entityId]);
  });
});

describe("runs", () => {
  const database = new TestDatabase();
  const name = unique("runs");
  const topicPrefix = `${name}.`;
  let brokers: string[];
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let db: SegDb;
  const dirs: string[] = [];

  beforeAll(async () => {
    brokers = await ensureRunnerServices();
    copy = copyExamples(topicPrefix);
    specs = compileSpecs(copy.dir, testOutputs(topicPrefix, `${name}:`)).specs;
    db = await database.connect();
    const producer = await testProducer(brokers);
    try {
      await produceExamples(producer, copy, { valid: true });
    } finally {
      await producer.disconnect();
    }
  }, 120_000);
  afterAll(async () => {
    await database.cleanup();
    copy?.remove();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const runtimeOptions = (schema: string) => {
    const stateDir = mkdtempSync(join(tmpdir(), "seg-runner-runs-"));
    dirs.push(stateDir);
    return {
      databaseUrl,
      schema,
      brokers,
      redisUrl,
      resultsTopic: `${topicPrefix}results`,
      changesTopic: `${topicPrefix}changes`,
      deadLetterTopic: `${topicPrefix}dead-letter`,
      stateDir,
      once: true,
      asOf: AS_OF,
      mover: false,
      ingestion: false,
      readIdleMs: 1_000,
    };
  };

  it("records every run; a failing pipeline fails alone with its error while the rest of its job succeeds", async () => {
    // A segment nothing depends on, broken twice: its plan reads a column that does not exist (the
    // combined query fails) and its own SQL reads a table that does not exist.
    const lone = specs.find((s) => !specs.some((o) => o.dependencies.includes(s.id)) && s.id !== "high_value")!;
    const broken = variant(lone, (b) => {
      b.sql.duckdb = "SELECT * FROM no_such_table";
      const seg = b.plan.segments.find((s) => s.name === b.id)!;
      seg.predicate = { k: "op", op: "and", type: { kind: "boolean", nullable: false }, args: [seg.predicate, { k: "op", op: "is_not_null", type: { kind: "boolean", nullable: false }, args: [{ k: "attr", profile: "customer", field: "no_such_field", type: { kind: "string", nullable: true } }] }] };
    });
    const deployed = specs.map((s) => (s.id === lone.id ? broken : s));
    await deploySpecs(db, deployed);
    const rt = await startRuntime(runtimeOptions(database.schema));
    const summary = await rt.done;
    expect(summary.failed).toBe(1);
    expect(summary.succeeded).toBe(specs.length - 1);
    const rows = (await db.client.query(`SELECT * FROM "${database.schema}".runs ORDER BY id`)).rows as Record<string, unknown>[];
    expect(rows).toHaveLength(specs.length);
    for (const r of rows) {
      expect(r["engine"]).toBe("embedded");
      expect((r["as_of"] as Date).toISOString()).toBe(AS_OF);
      expect(r["ended_at"]).not.toBeNull();
      expect((r["ended_at"] as Date).getTime()).toBeGreaterThanOrEqual((r["started_at"] as Date).getTime());
      const details = r["details"] as Record<string, unknown>;
      expect(details["job"]).toBe("job-1");
      if (r["segment"] === lone.id) {
        expect(r["status"]).toBe("failed");
        expect(r["version"]).toBe(broken.version);
        expect(String(r["error"])).toMatch(/evaluation failed: .*no_such_table/);
        expect(r["rows"]).toBeNull();
        expect(details["combinedError"]).toMatch(/no_such_field/);
      } else {
        expect(r["status"], String(r["segment"])).toBe("succeeded");
        expect(Number(r["rows"])).toBeGreaterThanOrEqual(0);
      }
    }
    const failures = await rt.metrics.runFailures.get();
    expect(failures.values.find((v) => v.labels.segment === lone.id)?.value).toBe(1);
  });

  it("fails a job that outlives its timeout, with the reason", async () => {
    const other = new TestDatabase();
    try {
      const slowDb = await other.connect();
      const slow = variant(specs.find((s) => s.id === "high_value")!, (b) => {
        b.sql.duckdb = "SELECT 'high_value' AS segment, CAST(a.range AS VARCHAR) AS entity_id, '{}' AS metrics FROM range(100000000) a, range(100000000) b WHERE a.range * b.range = -1";
      });
      await deploySpecs(slowDb, [slow]);
      const t = Date.now();
      const rt = await startRuntime({ ...runtimeOptions(other.schema), jobTimeoutMs: 1_500 });
      const summary = await rt.done;
      expect(Date.now() - t).toBeLessThan(30_000);
      expect(summary.failed).toBe(1);
      const [row] = (await slowDb.client.query(`SELECT status, error FROM "${other.schema}".runs`)).rows as { status: string; error: string }[];
      expect(row!.status).toBe("failed");
      expect(row!.error).toMatch(/^timed out after 2 s/);
    } finally {
      await other.cleanup();
    }
  });

  it("stop() cancels a job still running after the grace period, marking its runs cancelled", async () => {
    const other = new TestDatabase();
    try {
      const otherDb = await other.connect();
      const slow = variant(specs.find((s) => s.id === "high_value")!, (b) => {
        b.sql.duckdb = "SELECT 'high_value' AS segment, CAST(a.range AS VARCHAR) AS entity_id, '{}' AS metrics FROM range(100000000) a, range(100000000) b WHERE a.range * b.range = -1";
      });
      await deploySpecs(otherDb, [slow]);
      const { once: _once, asOf: _asOf, ...continuous } = runtimeOptions(other.schema);
      const rt = await startRuntime({ ...continuous, shutdownGraceMs: 300 });
      await new Promise((r) => rt.events.once("job-start", r));
      await new Promise((r) => setTimeout(r, 300));
      const t = Date.now();
      const summary = await rt.stop("test");
      expect(Date.now() - t).toBeLessThan(10_000);
      expect(summary).toMatchObject({ cancelled: 1, failed: 0, succeeded: 0 });
      const [row] = (await otherDb.client.query(`SELECT status, error, ended_at FROM "${other.schema}".runs`)).rows as { status: string; error: string; ended_at: Date | null }[];
      expect(row!.status).toBe("cancelled");
      expect(row!.error).toBe("cancelled: the runtime stopped (test) while it ran");
      expect(row!.ended_at).not.toBeNull();
    } finally {
      await other.cleanup();
    }
  });

  it("keeps the schedule after a failure: the next refresh runs (and fails) again, stop leaves nothing running", async () => {
    const other = new TestDatabase();
    try {
      const otherDb = await other.connect();
      const broken = variant(specs.find((s) => s.id === "high_value")!, (b) => {
        b.sql.duckdb = "SELECT * FROM no_such_table";
        b.refreshSeconds = 1;
      });
      await deploySpecs(otherDb, [broken]);
      const { once: _once, asOf: _asOf, ...continuous } = runtimeOptions(other.schema);
      const rt = await startRuntime({ ...continuous, slackMs: 0, pollIntervalMs: 1_000 });
      const failed: string[] = [];
      await new Promise<void>((resolve) =>
        rt.events.on("run", (r: { status: string; runId: string }) => {
          if (r.status === "failed") failed.push(r.runId);
          if (failed.length === 2) resolve();
        }),
      );
      const summary = await rt.stop("test");
      expect(summary.failed).toBeGreaterThanOrEqual(2);
      const rows = (await otherDb.client.query(`SELECT status, error FROM "${other.schema}".runs ORDER BY id`)).rows as { status: string; error: string }[];
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(rows.every((r) => r.status === "failed" || r.status === "cancelled")).toBe(true);
      expect(rows[0]!.error).toMatch(/no_such_table/);
    } finally {
      await other.cleanup();
    }
  });

  it("fails stuck runs past the timeout and runs left by a dead process", async () => {
    const store = new RunsStore(new ReconnectingDb(databaseUrl, database.schema, "runner-test"));
    try {
      const spec = specs.find((s) => s.id === "high_value")!;
      const ids = await store.queue({ id: "job-x", pipelines: [{ segment: spec.id, version: spec.version }] }, "embedded");
      const stuck = ids.get(spec.id)!;
      await store.start([stuck], AS_OF);
      await db.client.query(`UPDATE "${database.schema}".runs SET started_at = now() - interval '2 hours' WHERE id = $1`, [stuck]);
      const swept = await store.sweepStuck(3_600_000);
      expect(swept).toEqual([{ id: stuck, segment: spec.id }]);
      const [row] = await store.get([stuck]);
      expect(row!.status).toBe("failed");
      expect(row!.error).toMatch(/^stuck: running for more than 3600 s/);

      const orphanStore = new RunsStore(store.db, { host: store.runner.host, pid: 999_999_999 });
      const orphan = (await orphanStore.queue({ id: "job-y", pipelines: [{ segment: spec.id, version: spec.version }] }, "embedded")).get(spec.id)!;
      const found = await store.failOrphans((pid) => pid !== 999_999_999);
      expect(found).toEqual([{ id: orphan, segment: spec.id }]);
      expect((await store.get([orphan]))[0]!.error).toMatch(/^abandoned/);
    } finally {
      await store.db.close();
    }
  });
});
