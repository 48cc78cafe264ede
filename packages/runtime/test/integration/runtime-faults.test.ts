/**
 * Faults with the real services, the runtime running continuously (ingestion of raw topics, jobs,
 * the mover): Redis restarted without its data, PostgreSQL connections terminated, the runtime
 * killed with SIGKILL in the middle of a job, the Kafka broker killed and restarted. After each, Redis must
 * equal `seg eval` over the same events (members, sizes, carried metrics: nothing lost, nothing
 * stale, nothing doubled), and the failure must be on record (runs, logs, metrics).
 *
 * Each case has its own schema, topics and Redis prefix; the events of the example project are
 * produced in two halves: the first before the runtime starts, the second during or after the
 * fault, so a state computed before the fault is not the expected one. The Redis and Kafka cases
 * use a redis-server and a broker of their own (never the shared ones). The kill case runs the
 * BUILT runtime in a child process (`pnpm build` first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec, SegSchema } from "@seg/compiler";
import { createKafka, startRuntime, type Runtime, type RuntimeOptions, type SegDb } from "@seg/runtime";
import { TestDatabase, databaseUrl, repoRoot } from "../support/deploy-fixtures.js";
import {
  compileSpecs,
  copyExamples,
  deleteRedisPrefix,
  deploySpecs,
  ensureRunnerServices,
  evalProject,
  exampleLines,
  redisUrl as sharedRedisUrl,
  testOutputs,
  testProducer,
  unique,
  until,
  type ExampleCopy,
  type TestOutputs,
} from "../support/runner-fixtures.js";
import { checkRuntimeBuilt, spawnRuntimeChild } from "../support/runtime-child.js";

const AS_OF = "2026-11-01T00:00:00.000Z";
/** One segment per event source the runtime ingests. */
const SEGMENTS = ["cart_abandoners", "high_value", "mobile_first"];

type Expected = Record<string, { size: number; members: string[]; metrics: Record<string, Record<string, unknown>> }>;

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One fault case: its schema, project copy, topics and Redis prefix. */
class Case {
  readonly database = new TestDatabase();
  readonly name: string;
  readonly outputs: TestOutputs;
  readonly logs: { level: string; message: string }[] = [];
  copy!: ExampleCopy;
  specs!: PipelineSpec[];
  db!: SegDb;
  stateDir = mkdtempSync(join(tmpdir(), "seg-faults-state-"));

  constructor(what: string) {
    this.name = unique(what);
    this.outputs = testOutputs(`${this.name}.`, `${this.name}:`);
  }

  /** Copies and compiles the project, deploys the segments with `refreshSeconds`. */
  async setup(refreshSeconds: number): Promise<void> {
    this.copy = copyExamples(`${this.name}.`);
    const compiled = compileSpecs(this.copy.dir, this.outputs);
    this.specs = compiled.specs.filter((s) => SEGMENTS.includes(s.id)).map((s) => ({ ...s, refreshSeconds }));
    this.db = await this.database.connect();
    await deploySpecs(this.db, this.specs, compiled.schemas as SegSchema[]);
    // Run ids of one length, so the mover's (asOf, runId) order of runs at the same as_of is numeric.
    await this.db.client.query(`ALTER TABLE "${this.database.schema}".runs ALTER COLUMN id RESTART WITH 1000000`);
  }

  /** Produces the first or the second half of every source's example records to its raw topic. */
  async produce(producer: Producer, half: 0 | 1): Promise<void> {
    for (const [source, topic] of this.copy.topics) {
      const lines = exampleLines(this.copy.dir, source);
      const mid = Math.ceil(lines.length / 2);
      const part = half === 0 ? lines.slice(0, mid) : lines.slice(mid);
      const key = (l: string) => String((JSON.parse(l) as Record<string, unknown>)["customer_id"] ?? "");
      await producer.send({ topic, messages: part.map((value) => ({ key: key(value), value })) });
    }
  }

  options(brokers: string[], redisUrl: string): RuntimeOptions {
    return {
      databaseUrl,
      schema: this.database.schema,
      brokers,
      redisUrl,
      resultsTopic: this.outputs.resultsTopic,
      changesTopic: this.outputs.changesTopic,
      deadLetterTopic: this.outputs.deadLetterTopic,
      redisPrefix: this.outputs.redisPrefix,
      stateDir: this.stateDir,
      asOf: AS_OF,
      pollIntervalMs: 1_000,
      slackMs: 0,
      readIdleMs: 300,
      shutdownGraceMs: 5_000,
      // A consumer restarted after an error (or a restarted runtime) gets its partitions soon.
      sessionTimeoutMs: 6_000,
      log: (level, message) => {
        this.logs.push({ level, message });
        if (process.env["SEG_TEST_DEBUG"]) console.log(`[${this.name} ${new Date().toISOString().slice(11, 23)}] ${level} ${message}`);
      },
    };
  }

  /** Segments whose Redis state differs from `expected` (members, size, metrics). */
  async mismatches(redis: Redis, expected: Expected): Promise<string[]> {
    const bad: string[] = [];
    for (const spec of this.specs) {
      const want = expected[spec.id]!;
      const r = spec.outputs.redis;
      // Members, meta and metrics read in one MULTI: one snapshot.
      const [[, members], [, meta], [, metrics]] = (await redis.multi().smembers(r.membersKey).hgetall(r.metaKey).hgetall(r.metricsKey).exec()) as [
        [unknown, string[]],
        [unknown, Record<string, string>],
        [unknown, Record<string, string>],
      ];
      let ok = meta["asOf"] === AS_OF && Number(meta["size"]) === want.size && JSON.stringify(members.sort()) === JSON.stringify([...want.members].sort());
      // The metrics hash has exactly one field per member, the member's metrics JSON.
      if (ok) {
        ok =
          JSON.stringify(Object.keys(metrics).sort()) === JSON.stringify(members) &&
          members.every((id) => JSON.stringify(JSON.parse(metrics[id]!)) === JSON.stringify(want.metrics[id] ?? {}));
      }
      if (!ok) bad.push(spec.id);
    }
    return bad;
  }

  /** Waits until Redis equals `expected` for every segment. */
  async converged(redis: Redis, expected: Expected, timeoutMs = 45_000): Promise<void> {
    let last: string[] = [];
    try {
      await until(
        async () => {
          last = await this.mismatches(redis, expected);
          return last.length === 0 ? true : undefined;
        },
        "Redis to equal seg eval",
        timeoutMs,
        250,
      );
    } catch (e) {
      const line = (l: { level: string; message: string }) => `${l.level} ${l.message}`;
      const problems = this.logs.filter((l) => l.level !== "info" || /ingest/i.test(l.message)).slice(-40);
      throw new Error(`${(e as Error).message}; still different: ${last.join(", ")}\nwarnings, errors and ingestion:\n${problems.map(line).join("\n")}\nlast logs:\n${this.logs.slice(-15).map(line).join("\n")}`);
    }
  }

  /** Every segment has a result in Redis (its first run applied). */
  async served(redis: Redis): Promise<void> {
    await until(async () => ((await Promise.all(this.specs.map((s) => redis.exists(s.outputs.redis.metaKey)))).every((n) => n === 1) ? true : undefined), "a first result of every segment", 60_000, 200);
  }

  async runs(): Promise<{ id: string; segment: string; status: string; error: string | null }[]> {
    return (await this.db.client.query<{ id: string; segment: string; status: string; error: string | null }>(`SELECT id::text, segment, status, error FROM "${this.database.schema}".runs ORDER BY id`)).rows;
  }

  logged(pattern: RegExp): boolean {
    return this.logs.some((l) => pattern.test(l.message));
  }

  async cleanup(redis: Redis): Promise<void> {
    await deleteRedisPrefix(redis, this.outputs.redisPrefix).catch(() => {});
    await this.database.cleanup().catch(() => {});
    this.copy?.remove();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** A redis-server of this test's own on `port` (no persistence: a restart loses everything). */
async function startRedisServer(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => {});
  await until(
    async () => {
      await probe.connect().catch(() => {});
      return (await probe.ping()) === "PONG" ? true : undefined;
    },
    `redis-server on ${port}`,
    10_000,
    100,
  ).finally(() => probe.disconnect());
  return child;
}

/** A Kafka broker of this test's own (infra/kafka/start.sh and stop.sh on other ports and a work folder of its own; data kept across restarts). */
class OwnBroker {
  readonly work = mkdtempSync(join(tmpdir(), "seg-faults-kafka-"));
  env: Record<string, string | undefined> = {};
  brokers: string[] = [];

  async init(): Promise<void> {
    // The classpath (and the readiness probe) of the shared setup: no Maven run for this broker.
    const sharedWork = join(repoRoot, "infra/.work/kafka");
    for (const f of ["classpath.txt", "classpath.pom.sha256", "ready-classes"]) {
      if (existsSync(join(sharedWork, f))) cpSync(join(sharedWork, f), join(this.work, f), { recursive: true });
    }
    const [port, controller] = [await freePort(), await freePort()];
    this.env = { ...process.env, SEG_KAFKA_PORT: String(port), SEG_KAFKA_CONTROLLER_PORT: String(controller), SEG_KAFKA_WORK: this.work, SEG_KAFKA_KEEP_DATA: "1" };
    this.brokers = [`127.0.0.1:${port}`];
  }

  script(name: "start.sh" | "stop.sh"): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const child = spawn("bash", [join(repoRoot, "infra/kafka", name)], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      // The readiness probe's connection warnings would bury the script's own explanation.
      const explain = () => out.split("\n").filter((l) => !l.includes("WARN [AdminClient")).join("\n");
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${name} failed (${code}):\n${explain()}`))));
    });
  }

  /**
   * Starts it and makes its group and transaction coordinators ready (a fresh broker creates their
   * internal topics on first use, which takes a while): a transactional send and a group join.
   */
  async startWarm(): Promise<void> {
    await this.script("start.sh");
    const kafka = await createKafka({ brokers: this.brokers, clientId: "seg-faults-warmup", retries: 20 });
    const producer = kafka.producer({ transactionalId: `warmup-${this.work.slice(-6)}`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({ topic: "seg-faults-warmup", messages: [{ value: "x" }] });
    await txn.commit();
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "seg-faults-warmup" });
    await consumer.connect();
    await consumer.subscribe({ topic: "seg-faults-warmup", fromBeginning: true });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({ eachMessage: async () => {} });
    await joined;
    await consumer.disconnect();
  }

  /**
   * Kills the broker (SIGKILL: a crash, no controlled shutdown) and waits until the process is gone
   * (or a zombie): a JVM blocked in disk I/O holds its port until the I/O ends.
   */
  async kill(): Promise<void> {
    const pid = Number(readFileSync(join(this.work, "kafka.pid"), "utf8").trim());
    process.kill(pid, "SIGKILL");
    const gone = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").startsWith("Z");
      } catch {
        return true;
      }
    };
    await until(async () => (gone() ? true : undefined), `the killed broker (pid ${pid}) to exit`, 60_000, 100);
  }

  async remove(): Promise<void> {
    await this.script("stop.sh").catch(() => {});
    rmSync(this.work, { recursive: true, force: true });
  }
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

describe("the runtime recovers from faults of its services", () => {
  let brokers: string[];
  let expected: Expected;
  let producer: Producer;
  let shared: Redis;
  const cases: Case[] = [];
  const runtimes: Runtime[] = [];
  const broker = new OwnBroker();
  /** The own broker's first start, begun in beforeAll: it overlaps the other cases. */
  let brokerStarted: Promise<unknown> = Promise.resolve();

  const newCase = async (what: string, refreshSeconds: number) => {
    const c = new Case(what);
    cases.push(c);
    await c.setup(refreshSeconds);
    return c;
  };

  beforeAll(async () => {
    brokers = await ensureRunnerServices();
    const copy = copyExamples("segrun-faults-eval.");
    try {
      const all = await evalProject(copy.dir, AS_OF);
      expected = Object.fromEntries(SEGMENTS.map((s) => [s, all[s]!]));
    } finally {
      copy.remove();
    }
    // Every segment has members.
    for (const s of SEGMENTS) expect(expected[s]!.size, s).toBeGreaterThan(0);
    producer = await testProducer(brokers);
    shared = new Redis(sharedRedisUrl);
    await broker.init();
    brokerStarted = broker.startWarm().then(
      () => undefined,
      (e: unknown) => e,
    );
  }, 120_000);

  afterAll(async () => {
    for (const rt of runtimes) await rt.stop().catch(() => {});
    await producer?.disconnect();
    for (const c of cases) await c.cleanup(shared);
    shared?.disconnect();
    await brokerStarted;
    await broker.remove();
  }, 60_000);

  it("Redis restarted without its data: every segment is run again at once and served as before", async () => {
    const port = await freePort();
    let server = await startRedisServer(port);
    const url = `redis://127.0.0.1:${port}`;
    const redis = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * n, 500) });
    redis.on("error", () => {});
    // Refreshes of an hour: only a re-run on the lost data can bring the results back in time.
    const c = await newCase("faults-redis", 3_600);
    try {
      await c.produce(producer, 0);
      await c.produce(producer, 1);
      // A first pass that waits for ingestion (a continuous runtime's first jobs do not), then the
      // runtime running on: its first jobs (due at its start) see every event.
      const first = await startRuntime({ ...c.options(brokers, url), once: true });
      expect((await first.done).succeeded).toBe(SEGMENTS.length);
      const rt = await startRuntime(c.options(brokers, url));
      runtimes.push(rt);
      await until(async () => ((await c.runs()).filter((r) => r.status === "succeeded").length === 2 * SEGMENTS.length ? true : undefined), "the runtime's first jobs");
      await c.converged(redis, expected);
      // The results were already there (from the first pass): wait until the mover has applied the
      // runtime's own first runs too, or one applied after the restart would stand in for a re-run.
      await until(async () => (c.logs.filter((l) => /^mover: applied run /.test(l.message)).length >= 2 * SEGMENTS.length ? true : undefined), "the mover to apply the first runs");

      const serverId = async () => /run_id:(\w+)/.exec(await redis.info("server"))?.[1];
      const before = await serverId();
      await killAndWait(server);
      await new Promise((r) => setTimeout(r, 500));
      // A new server without the data (no persistence). The runtime may already be writing to it
      // by the time the test looks, so the test checks it is another server, not that it is empty.
      server = await startRedisServer(port);
      const after = await until(async () => (await serverId().catch(() => undefined)) ?? undefined, "the restarted Redis");
      expect(before).toMatch(/^\w{40}$/);
      expect(after).not.toBe(before);
      await c.converged(redis, expected, 30_000);

      expect(c.logged(/Redis restarted .*running them again now/)).toBe(true);
      const runs = await c.runs();
      for (const s of SEGMENTS) expect(runs.filter((r) => r.segment === s && r.status === "succeeded").length, s).toBe(3);
      // The outage is on record: the mover's errors and the runtime's warnings.
      const moverErrors = await rt.metrics.registry.getSingleMetric("seg_mover_errors_total")!.get();
      expect(moverErrors.values[0]?.value ?? 0).toBeGreaterThan(0);
      expect(c.logs.some((l) => l.level === "warn" && /redis/i.test(l.message))).toBe(true);
      await rt.stop();
    } finally {
      redis.disconnect();
      await killAndWait(server);
    }
  }, 120_000);

  it("PostgreSQL connections terminated: runs, the watcher and ingestion reconnect; nothing is lost or counted twice", async () => {
    const c = await newCase("faults-pg", 2);
    await c.produce(producer, 0);
    const rt = await startRuntime(c.options(brokers, sharedRedisUrl));
    runtimes.push(rt);
    await c.served(shared);
    const admin = await c.database.connect("seg-faults-admin");
    const terminate = async () =>
      (
        await admin.client.query<{ n: string }>(
          `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name LIKE 'seg runtime%' AND application_name LIKE '%' || $1`,
          [c.database.schema],
        )
      ).rows[0]!.n;
    expect(Number(await terminate())).toBeGreaterThanOrEqual(3);
    await c.produce(producer, 1);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 700));
      await terminate();
    }
    await c.converged(shared, expected);
    expect(c.logged(/ingestion's database connection dropped/)).toBe(true);
    expect(c.logged(/LISTEN connection dropped/)).toBe(true);
    expect(c.logged(/lost the database connection/)).toBe(true);
    // Exactly once: every raw event counted once in the progress rows.
    const total = [...c.copy.topics.keys()].reduce((n, s) => n + exampleLines(c.copy.dir, s).length, 0);
    const progress = await c.db.client.query<{ received: string }>(`SELECT coalesce(sum(received), 0) AS received FROM "${c.database.schema}".stream_progress`);
    expect(Number(progress.rows[0]!.received)).toBe(total);
    await rt.stop();
    const runs = await c.runs();
    expect(runs.filter((r) => r.status === "queued" || r.status === "running")).toEqual([]);
    expect((await rt.metrics.watcherErrors.get()).values[0]?.value ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it("the runtime killed (SIGKILL) in the middle of a job: the next start fails its runs with the reason and catches up", async () => {
    checkRuntimeBuilt();
    const c = await newCase("faults-kill", 2);
    await c.produce(producer, 0);
    const { log: _log, ...options } = c.options(brokers, sharedRedisUrl);
    let child = spawnRuntimeChild(options);
    try {
      await child.waitFor((e) => e.event === "ready");
      await c.served(shared);
      const from = child.events.length;
      await c.produce(producer, 1);
      await child.waitFor((e) => e.event === "job-start", 30_000, from);
      await new Promise((r) => setTimeout(r, 50));
      child.child.kill("SIGKILL");
      await child.exited;
      const left = (await c.runs()).filter((r) => r.status === "queued" || r.status === "running");
      expect(left.length).toBeGreaterThan(0);

      child = spawnRuntimeChild(options);
      await child.waitFor((e) => e.event === "ready");
      await c.converged(shared, expected);
      const runs = await c.runs();
      for (const r of left) {
        const now = runs.find((x) => x.id === r.id)!;
        expect(now.status, r.id).toBe("failed");
        expect(now.error).toMatch(/abandoned: the runtime process running it stopped/);
      }
      expect(child.events.some((e) => e.event === "log" && /failed \d+ runs left behind/.test(String(e["message"])))).toBe(true);
    } finally {
      child.child.kill("SIGTERM");
      await Promise.race([child.exited, new Promise((r) => setTimeout(r, 15_000))]);
      await killAndWait(child.child);
    }
  }, 120_000);

  it("the Kafka broker killed and restarted: jobs failed meanwhile are recorded, and the runtime catches up", async () => {
    const failure = await brokerStarted;
    if (failure) throw failure;
    const own = broker.brokers;
    let ownProducer: Producer | undefined;
    let rt: Runtime | undefined;
    try {
      const c = await newCase("faults-kafka", 2);
      ownProducer = await testProducer(own);
      await c.produce(ownProducer, 0);
      rt = await startRuntime({ ...c.options(own, sharedRedisUrl), jobTimeoutMs: 20_000 });
      runtimes.push(rt);
      await c.served(shared);
      await ownProducer.disconnect();
      ownProducer = undefined;

      await broker.kill();
      const down = Date.now();
      // Jobs keep falling due while the broker is down.
      await until(async () => ((await c.runs()).some((r) => r.status === "failed") || Date.now() - down > 8_000 ? true : undefined), "a job while Kafka is down", 30_000, 250);
      await broker.script("start.sh");
      ownProducer = await testProducer(own);
      await c.produce(ownProducer, 1);
      // Under load, recovery can wait on Kafka's own timeouts (an open transaction of the killed
      // broker's era is aborted after transaction.timeout.ms, 60 s; consumer restarts back off).
      await c.converged(shared, expected, 150_000);

      const failed = (await c.runs()).filter((r) => r.status === "failed");
      expect(failed.length).toBeGreaterThan(0);
      for (const r of failed) expect(r.error ?? "").not.toBe("");
      expect(c.logs.some((l) => l.level === "error" && /failed/.test(l.message))).toBe(true);
      const failures = await rt.metrics.runFailures.get();
      expect(failures.values.reduce((n, v) => n + v.value, 0)).toBe(failed.length);
    } finally {
      await rt?.stop().catch(() => {});
      await ownProducer?.disconnect().catch(() => {});
    }
  }, 240_000);
});
