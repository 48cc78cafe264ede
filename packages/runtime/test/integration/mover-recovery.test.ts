/**
 * The results mover survives crashes and a Redis restart: after kill -9 (mid-run, or at each phase
 * of an apply) and a restart from the last commit, or after Redis lost everything mid-run, Redis
 * ends equal to the job's result, nothing lost, nothing stale, nothing doubled. Change messages
 * are at least once: every expected change is there (a crash may repeat some).
 *
 * The child-process tests run the BUILT runtime: `pnpm build` first.
 */
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMover, type ChangeMessage, type Mover, type RunOutcome, type SegmentTarget } from "@seg/runtime";
import { spawnMoverChild, type ChildConfig, type MoverChild } from "../support/mover-child.js";
import {
  PrivateRedis,
  createTopics,
  keysUnder,
  members,
  moverTestEnv,
  produceRun,
  readAllChanges,
  segmentMatches,
  targetOf,
  unique,
  until,
  type RunSpec,
} from "../support/mover-fixtures.js";

const children: MoverChild[] = [];
const env = moverTestEnv({
  beforeCleanup: () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  },
});

interface Scenario {
  groupId: string;
  resultsTopic: string;
  changesTopic: string;
  prefix: string;
  target: SegmentTarget;
  childConfig: (extra?: Partial<ChildConfig>) => ChildConfig;
  startInProcess: (url?: string, extra?: { diffMaxMembers?: number }) => Promise<{ mover: Mover; registry: Registry; outcomes: RunOutcome[] }>;
}

const SEGMENT = "crashy";

async function scenario(opts: { partitions?: number; redisUrl?: string; redis?: Redis } = {}): Promise<Scenario> {
  const prefix = `${unique("p")}:`;
  const resultsTopic = unique("results");
  const changesTopic = unique("changes");
  env.topics.push(resultsTopic, changesTopic);
  env.prefixes.push({ redis: opts.redis ?? env.redis, prefix });
  await createTopics(env.admin, [{ topic: resultsTopic, partitions: opts.partitions ?? 3 }, { topic: changesTopic }]);
  const target = targetOf(prefix, SEGMENT, 3_600);
  const groupId = unique("group");
  const url = opts.redisUrl ?? env.redisUrl;
  const base = { brokers: env.brokers, groupId, resultsTopic, changesTopic, redisUrl: url, redisPrefix: prefix };
  return {
    groupId,
    resultsTopic,
    changesTopic,
    prefix,
    target,
    // A short session: the killed child's partitions go to the restarted mover after 6 s, not 30.
    childConfig: (extra = {}) => ({ ...base, targets: { [SEGMENT]: target }, sessionTimeoutMs: 6_000, ...extra }),
    startInProcess: async (u = url, extra = {}) => {
      const registry = new Registry();
      const mover = await startMover({ ...base, redisUrl: u, lookupSegment: (s) => (s === SEGMENT ? target : undefined), registry, lagIntervalMs: 0, ...extra });
      env.movers.push(mover);
      const outcomes: RunOutcome[] = [];
      mover.events.on("outcome", (o: RunOutcome) => outcomes.push(o));
      return { mover, registry, outcomes };
    },
  };
}

const run = (runId: string, asOf: string, m: RunSpec["members"]): RunSpec => ({ segment: SEGMENT, runId, asOf, members: m, version: `sha256:${runId}` });

/** Every change of r1 (all enter) and r2 (vs r1) is on the topic, and nothing else (repeats allowed). */
async function expectChanges(topic: string, r1: RunSpec, r2: RunSpec): Promise<void> {
  const want = new Set<string>();
  for (const id of r1.members.keys()) want.add(`${r1.runId} enter ${id}`);
  for (const id of r2.members.keys()) if (!r1.members.has(id)) want.add(`${r2.runId} enter ${id}`);
  for (const id of r1.members.keys()) if (!r2.members.has(id)) want.add(`${r2.runId} exit ${id}`);
  const got = await readAllChanges(env.kafka, topic, { expect: want.size, timeoutMs: 30_000 });
  const seen = new Set(got.map((c: ChangeMessage) => `${c.runId} ${c.change} ${c.entityId}`));
  expect([...want].filter((w) => !seen.has(w)).slice(0, 5)).toEqual([]);
  expect([...seen].filter((s) => !want.has(s)).slice(0, 5)).toEqual([]);
}

async function waitForChildOutcome(child: MoverChild, runId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  await until(() => child.events.some((e) => e["event"] === "outcome" && e["runId"] === runId), timeoutMs, `the child to finish ${runId}:\n${child.stderr.join("")}`);
  return child.events.find((e) => e["event"] === "outcome" && e["runId"] === runId)!;
}



describe("the results mover after a crash", () => {
  it("kill -9 while a run is being staged: the restarted mover re-reads from the last commit and lands the run exactly", async () => {
    const s = await scenario();
    const child = spawnMoverChild(s.childConfig({ chunkSize: 500 }));
    children.push(child);
    await child.ready;
    const r1 = run("run-1", "2026-11-01T00:00:00Z", members(0, 5_000, "r1"));
    const r2 = run("run-2", "2026-11-02T00:00:00Z", members(2_000, 20_000, "r2"));
    await produceRun(env.producer, s.resultsTopic, r1);
    expect(await waitForChildOutcome(child, "run-1")).toMatchObject({ status: "applied" });
    const firstHalf = new Map([...r2.members].slice(0, 10_000));
    await produceRun(env.producer, s.resultsTopic, { ...r2, members: firstHalf }, { marker: false });
    await until(async () => (await env.redis.hlen(`${s.prefix}staging:${SEGMENT}:run-2`)) >= 5_000, 30_000, "part of run-2 staged");
    child.proc.kill("SIGKILL");
    expect((await child.exited).signal).toBe("SIGKILL");

    await produceRun(env.producer, s.resultsTopic, { ...r2, members: new Map([...r2.members].slice(10_000)), rows: r2.members.size });
    const { mover, outcomes } = await s.startInProcess();
    expect(await mover.waitForRun(SEGMENT, "run-2")).toMatchObject({ status: "applied", size: 20_000 });
    expect(outcomes.filter((o) => o.status === "applied").map((o) => o.runId)).toEqual(["run-2"]);
    expect(await segmentMatches(env.redis, s.target, r2, r1.members.keys())).toEqual([]);
    await expectChanges(s.changesTopic, r1, r2);
    await mover.changesPublished();
    await until(async () => (await keysUnder(env.redis, `${s.prefix}staging:`)).length === 0, 10_000, "staging freed");
    expect(await keysUnder(env.redis, `${s.prefix}mover:`)).toEqual([]);
  });

  const phases: { phase: NonNullable<ChildConfig["crashAt"]>; path: "atomic" | "chunked" }[] = [
    { phase: "prepared", path: "chunked" },
    { phase: "swapped", path: "chunked" },
    { phase: "swapped", path: "atomic" },
    { phase: "changes-published", path: "chunked" },
  ];
  for (const { phase, path } of phases) {
    it(`kill -9 at "${phase}" of a ${path} apply: the restart finishes the run (and its change messages) exactly`, async () => {
      const s = await scenario();
      const n = path === "atomic" ? 2_000 : 12_000;
      // Chunked: the entered and left members are found chunk by chunk before the swap.
      const limits = path === "atomic" ? {} : { diffMaxMembers: 5_000 };
      const child = spawnMoverChild({ ...s.childConfig(limits), crashAt: phase, crashRun: "run-2" });
      children.push(child);
      await child.ready;
      const r1 = run("run-1", "2026-11-01T00:00:00Z", members(0, n, "r1"));
      const r2 = run("run-2", "2026-11-02T00:00:00Z", members(n / 3, n, "r2"));
      await produceRun(env.producer, s.resultsTopic, r1);
      expect(await waitForChildOutcome(child, "run-1")).toMatchObject({ status: "applied", path });
      await produceRun(env.producer, s.resultsTopic, r2);
      const died = await child.exited;
      expect(died.signal).toBe("SIGKILL");
      expect(child.events.some((e) => e["event"] === "phase" && e["phase"] === phase && e["runId"] === "run-2")).toBe(true);

      const { mover } = await s.startInProcess(undefined, limits);
      if (phase === "changes-published") {
        // Everything was done but (maybe) the commit: the restart has nothing left, or reads the
        // run again and finds it applied.
        await until(async () => (await segmentMatches(env.redis, s.target, r2, r1.members.keys())).length === 0, 30_000, "run-2 in Redis");
      } else {
        const o = await mover.waitForRun(SEGMENT, "run-2");
        if (phase === "swapped") {
          // The swap was done: the restart finishes its change messages, either in the apply of the
          // run read again ("applied", resumed) or first from the outbox (then the run is a duplicate).
          expect(o.status === "duplicate" || (o.status === "applied" && o.resumed === true)).toBe(true);
        } else {
          expect(o).toMatchObject({ status: "applied", path });
        }
      }
      expect(await segmentMatches(env.redis, s.target, r2, r1.members.keys())).toEqual([]);
      await expectChanges(s.changesTopic, r1, r2);
      await mover.changesPublished();
      await until(async () => (await keysUnder(env.redis, `${s.prefix}staging:`)).length === 0, 10_000, "staging freed");
      expect(await keysUnder(env.redis, `${s.prefix}mover:`)).toEqual([]);
    });
  }

  it("after a restart, members of the applied run sent again without a marker are dropped at once, not held until abandoned", async () => {
    const s = await scenario();
    const first = await s.startInProcess();
    const r1 = run("run-1", "2026-11-01T00:00:00Z", members(0, 500, "r1"));
    await produceRun(env.producer, s.resultsTopic, r1);
    expect(await first.mover.waitForRun(SEGMENT, "run-1")).toMatchObject({ status: "applied" });
    await first.mover.stop();
    // A job sends part of run-1 again (no marker): the restarted mover has no memory of run-1.
    await produceRun(env.producer, s.resultsTopic, run("run-1", "2026-11-01T00:00:00Z", members(0, 200, "r1")), { marker: false });
    const second = await s.startInProcess();
    expect(await second.mover.waitForRun(SEGMENT, "run-1", 20_000)).toMatchObject({ status: "duplicate" });
    // Nothing pending, nothing held back: everything read is committed, and Redis still has run-1.
    await until(async () => (await second.mover.updateLag()) === 0, 20_000, "the late duplicates committed");
    expect(second.mover.stats().pendingRuns).toBe(0);
    expect(await segmentMatches(env.redis, s.target, r1, [])).toEqual([]);
    // The next run lands as usual.
    const r2 = run("run-2", "2026-11-02T00:00:00Z", members(100, 600, "r2"));
    await produceRun(env.producer, s.resultsTopic, r2);
    expect(await second.mover.waitForRun(SEGMENT, "run-2")).toMatchObject({ status: "applied" });
    expect(await segmentMatches(env.redis, s.target, r2, r1.members.keys())).toEqual([]);
  });

  it("SIGTERM: the mover finishes its batch, commits and exits 0; a restart applies nothing twice", async () => {
    const s = await scenario();
    const child = spawnMoverChild(s.childConfig());
    children.push(child);
    await child.ready;
    const r1 = run("run-1", "2026-11-01T00:00:00Z", members(0, 3_000, "r1"));
    const r2 = run("run-2", "2026-11-02T00:00:00Z", members(1_000, 3_000, "r2"));
    await produceRun(env.producer, s.resultsTopic, r1);
    await waitForChildOutcome(child, "run-1");
    child.proc.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: 0, signal: null });
    await produceRun(env.producer, s.resultsTopic, r2);
    const { mover, outcomes } = await s.startInProcess();
    await mover.waitForRun(SEGMENT, "run-2");
    expect(outcomes.map((o) => [o.runId, o.status])).toEqual([["run-2", "applied"]]);
    expect(await segmentMatches(env.redis, s.target, r2, r1.members.keys())).toEqual([]);
    await expectChanges(s.changesTopic, r1, r2);
  });
});

describe("the results mover when Redis restarts mid-run", () => {
  let priv: PrivateRedis;
  let privClient: Redis;

  beforeAll(async () => {
    priv = await PrivateRedis.start();
    privClient = new Redis(priv.url, { maxRetriesPerRequest: 1, retryStrategy: (t) => Math.min(t * 100, 500) });
    privClient.on("error", () => {});
  });

  afterAll(async () => {
    privClient?.disconnect();
    await priv?.close();
  });

  for (const when of ["while the mover is idle", "while the mover is writing"] as const) {
    it(`Redis shut down (nosave) and started again ${when}: the mover retries, reads the run again and ends consistent`, async () => {
      const s = await scenario({ redisUrl: priv.url, redis: privClient });
      const { mover, registry } = await s.startInProcess(priv.url);
      const r1 = run("run-1", "2026-11-01T00:00:00Z", members(0, 2_000, "r1"));
      const r2 = run("run-2", "2026-11-02T00:00:00Z", members(1_000, 6_000, "r2"));
      await produceRun(env.producer, s.resultsTopic, r1);
      await mover.waitForRun(SEGMENT, "run-1");
      await produceRun(env.producer, s.resultsTopic, { ...r2, members: new Map([...r2.members].slice(0, 3_000)) }, { marker: false });
      await until(async () => (await privClient.hlen(`${s.prefix}staging:${SEGMENT}:run-2`).catch(() => 0)) >= 1_000, 30_000, "part of run-2 staged");
      await priv.down();
      const rest = { ...r2, members: new Map([...r2.members].slice(3_000)), rows: r2.members.size };
      if (when === "while the mover is writing") {
        await produceRun(env.producer, s.resultsTopic, rest);
        await new Promise((r) => setTimeout(r, 2_000));
        await priv.up();
      } else {
        await new Promise((r) => setTimeout(r, 1_000));
        await priv.up();
        await until(() => privClient.status === "ready", 10_000, "the test client to reconnect");
        await new Promise((r) => setTimeout(r, 500));
        await produceRun(env.producer, s.resultsTopic, rest);
      }
      const o = await mover.waitForRun(SEGMENT, "run-2", 90_000);
      expect(o).toMatchObject({ status: "applied", size: 6_000 });
      // Redis lost run-1 with everything else; run-2 is complete and exact.
      expect(await segmentMatches(privClient, s.target, r2, r1.members.keys())).toEqual([]);
      expect(await keysUnder(privClient, `${s.prefix}staging:`)).toEqual([]);
      if (when === "while the mover is writing") {
        const errors = (await registry.getSingleMetric("seg_mover_errors_total")!.get()).values[0]?.value ?? 0;
        expect(errors).toBeGreaterThan(0);
      }
    });
  }
});
