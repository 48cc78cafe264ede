/**
 * The results mover against a real Kafka broker and a real Redis: runs land exactly, replace each
 * other atomically under concurrent readers, publish their changes, carry TTLs, and duplicates,
 * older runs, malformed messages and split partitions are handled.
 */
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { startMover, type ChangeMessage, type Mover, type RunOutcome, type SegmentTarget, type StartMoverOptions } from "@seg/runtime";
import {
  createTopics,
  keysUnder,
  members,
  moverTestEnv,
  produceMarker,
  produceRun,
  readAllChanges,
  segmentMatches,
  targetOf,
  unique,
  until,
  type RunSpec,
} from "../support/mover-fixtures.js";

const env = moverTestEnv();

interface Setup {
  mover: Mover;
  groupId: string;
  registry: Registry;
  prefix: string;
  resultsTopic: string;
  changesTopic: string;
  target: (segment: string) => SegmentTarget;
  outcomes: RunOutcome[];
  logs: string[];
}

async function setup(opts: { partitions?: number; ttlSeconds?: number; mover?: Partial<StartMoverOptions> } = {}): Promise<Setup> {
  const prefix = `${unique("p")}:`;
  const resultsTopic = unique("results");
  const changesTopic = unique("changes");
  env.topics.push(resultsTopic, changesTopic);
  env.prefixes.push({ prefix });
  await createTopics(env.admin, [{ topic: resultsTopic, partitions: opts.partitions ?? 1 }, { topic: changesTopic }]);
  const targets = new Map<string, SegmentTarget>();
  const target = (segment: string) => {
    let t = targets.get(segment);
    if (!t) targets.set(segment, (t = targetOf(prefix, segment, opts.ttlSeconds ?? 3_600)));
    return t;
  };
  const registry = new Registry();
  const logs: string[] = [];
  const groupId = unique("group");
  const mover = await startMover({
    brokers: env.brokers,
    groupId,
    resultsTopic,
    changesTopic,
    redisUrl: env.redisUrl,
    redisPrefix: prefix,
    // "unknown…": not deployed; "legacy…": a spec stored by an older seg (per-entity hashes, no metrics key).
    lookupSegment: (s) => {
      if (s.startsWith("unknown")) return undefined;
      if (!s.startsWith("legacy")) return target(s);
      const { metricsKey: _, ...redis } = target(s).redis;
      return { ...target(s), redis: { ...redis, entityKeyPrefix: `${prefix}entity:customer:` } } as unknown as SegmentTarget;
    },
    registry,
    log: (level, msg) => logs.push(`${level} ${msg}`),
    lagIntervalMs: 0,
    ...opts.mover,
  });
  env.movers.push(mover);
  const outcomes: RunOutcome[] = [];
  mover.events.on("outcome", (o: RunOutcome) => outcomes.push(o));
  return { mover, groupId, registry, prefix, resultsTopic, changesTopic, target, outcomes, logs };
}

const metricValue = async (registry: Registry, name: string, labels: Record<string, string> = {}) => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name) as { values: { value: number; labels: Record<string, string>; metricName?: string }[] } | undefined;
  return (m?.values ?? [])
    .filter((v) => (v.metricName === undefined || v.metricName === name) && Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
};

const run = (segment: string, runId: string, asOf: string, m: RunSpec["members"]): RunSpec => ({ segment, runId, asOf, members: m, version: `sha256:${runId}` });



describe("the results mover", () => {
  it("lands a run of N members exactly (set, meta, metrics hash), then frees its staging", async () => {
    const s = await setup();
    const r = run("high_value", "run-1", "2026-11-01T00:00:00Z", members(0, 5_000));
    await produceRun(env.producer, s.resultsTopic, r);
    const o = await s.mover.waitForRun(r.segment, r.runId);
    expect(o).toMatchObject({ status: "applied", path: "atomic", size: 5_000, entered: 5_000, left: 0 });
    expect(await segmentMatches(env.redis, s.target(r.segment), r)).toEqual([]);
    const meta = await env.redis.hgetall(s.target(r.segment).redis.metaKey);
    expect(meta).toMatchObject({ runId: "run-1", version: "sha256:run-1", asOf: "2026-11-01T00:00:00Z", size: "5000" });
    expect(Date.parse(meta["completedAt"]!)).toBeGreaterThan(Date.now() - 60_000);
    await s.mover.changesPublished();
    expect(await keysUnder(env.redis, `${s.prefix}staging:`)).toEqual([]);
    expect(await keysUnder(env.redis, `${s.prefix}mover:`)).toEqual([]);
    expect(await metricValue(s.registry, "seg_mover_runs_applied_total", { segment: "high_value" })).toBe(1);
    expect(await metricValue(s.registry, "seg_mover_results_moved_total")).toBe(5_000);
  });

  it("stages a run while reading it, and lands a large one (entered members found chunk by chunk) exactly", async () => {
    const s = await setup({ mover: { diffMaxMembers: 10_000, chunkSize: 700 } });
    const r = run("big", "run-1", "2026-11-01T00:00:00Z", members(0, 30_000));
    await produceRun(env.producer, s.resultsTopic, r, { marker: false });
    // Members are staged in Redis (new set and metrics hash) before the marker arrives, with a TTL.
    const staging = `${s.prefix}staging:big:run-1`;
    await until(async () => (await env.redis.hlen(staging)) === 30_000, 30_000, "all members staged");
    expect(await env.redis.scard(`${s.prefix}mover:tmp:big:run-1:set`)).toBe(30_000);
    expect(await env.redis.ttl(staging)).toBeGreaterThan(0);
    expect(s.mover.stats().inMemoryMembers).toBe(0);
    await produceMarker(env.producer, s.resultsTopic, r);
    const o = await s.mover.waitForRun(r.segment, r.runId);
    expect(o).toMatchObject({ status: "applied", path: "chunked", size: 30_000, entered: 30_000, left: 0 });
    expect(await segmentMatches(env.redis, s.target(r.segment), r)).toEqual([]);
    await s.mover.changesPublished();
    await until(async () => (await keysUnder(env.redis, `${s.prefix}staging:`)).length === 0, 10_000, "staging freed");
    expect(await keysUnder(env.redis, `${s.prefix}mover:`)).toEqual([]);
  });

  for (const path of ["atomic", "chunked"] as const) {
    it(`replaces a run atomically (${path} path): concurrent readers see the old or the new set, never a mix`, async () => {
      const n = path === "atomic" ? 3_000 : 20_000;
      const s = await setup({ mover: path === "atomic" ? {} : { diffMaxMembers: 10_000, chunkSize: 500 } });
      const t = s.target("churn");
      const r1 = run("churn", "run-1", "2026-11-01T00:00:00Z", members(0, n, "r1"));
      const r2 = run("churn", "run-2", "2026-11-02T00:00:00Z", members(n / 4, n, "r2"));
      await produceRun(env.producer, s.resultsTopic, r1);
      await s.mover.waitForRun("churn", "run-1");
      const set1 = [...r1.members.keys()].sort();
      const set2 = [...r2.members.keys()].sort();
      // Sample entities: one that leaves, one that stays (metrics change), one that enters.
      const leaver = "c-0";
      const stayer = `c-${n / 2}`;
      const entrant = `c-${n + 1}`;
      const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
      let stop = false;
      const seen = { old: 0, new: 0, mixed: [] as string[] };
      const reader = async () => {
        const c = new Redis(env.redisUrl);
        while (!stop) {
          const tx = c.multi().smembers(t.redis.membersKey).hgetall(t.redis.metaKey).scard(t.redis.membersKey);
          for (const id of [leaver, stayer, entrant]) tx.hget(t.redis.metricsKey, id);
          const res = (await tx.exec())!.map(([, v]) => v);
          const set = (res[0] as string[]).sort();
          const meta = res[1] as Record<string, string>;
          const card = res[2] as number;
          const isOld = same(set, set1) && meta["runId"] === "run-1" && meta["size"] === String(n) && card === n;
          const isNew = same(set, set2) && meta["runId"] === "run-2" && meta["size"] === String(n) && card === n;
          const [l, st, e] = res.slice(3) as (string | null)[];
          const entitiesOk = isOld
            ? l === JSON.stringify(r1.members.get(leaver)) && st === JSON.stringify(r1.members.get(stayer)) && e === null
            : l === null && st === JSON.stringify(r2.members.get(stayer)) && e === JSON.stringify(r2.members.get(entrant));
          if (isOld && entitiesOk) seen.old++;
          else if (isNew && entitiesOk) seen.new++;
          else seen.mixed.push(`runId=${meta["runId"]} size=${meta["size"]} set=${set.length} entities=${entitiesOk}`);
        }
        c.disconnect();
      };
      const readers = [reader(), reader()];
      await until(() => seen.old > 5, 10_000, "readers to see the first run");
      await produceRun(env.producer, s.resultsTopic, r2);
      const o = await s.mover.waitForRun("churn", "run-2");
      const afterSwap = seen.new;
      await until(() => seen.new > afterSwap + 5, 10_000, "readers to see the second run");
      stop = true;
      await Promise.all(readers);
      expect(o).toMatchObject({ status: "applied", path, entered: n / 4, left: n / 4 });
      expect(seen.mixed.slice(0, 5)).toEqual([]);
      expect(seen.old).toBeGreaterThan(0);
      expect(seen.new).toBeGreaterThan(0);
      expect(await segmentMatches(env.redis, t, r2, r1.members.keys())).toEqual([]);
    });
  }

  it("publishes entered and left members to the changes topic and to pub/sub", async () => {
    const s = await setup();
    const sub = new Redis(env.redisUrl);
    const channel = `${s.prefix}changes:vip`;
    const heard: ChangeMessage[] = [];
    sub.on("message", (ch: string, msg: string) => {
      if (ch === channel) heard.push(JSON.parse(msg) as ChangeMessage);
    });
    await sub.subscribe(channel);
    const r1 = run("vip", "run-1", "2026-11-01T00:00:00Z", members(0, 10));
    const r2 = run("vip", "run-2", "2026-11-02T00:00:00Z", members(5, 10));
    await produceRun(env.producer, s.resultsTopic, r1);
    await s.mover.waitForRun("vip", "run-1");
    await produceRun(env.producer, s.resultsTopic, r2);
    expect(await s.mover.waitForRun("vip", "run-2")).toMatchObject({ status: "applied", entered: 5, left: 5 });
    const onKafka = await readAllChanges(env.kafka, s.changesTopic, { expect: 20 });
    await until(() => heard.length >= 20, 5_000, "pub/sub messages");
    await sub.quit();
    const key = (c: ChangeMessage) => `${c.runId} ${c.change} ${c.entityId}`;
    const want = [
      ...[...r1.members.keys()].map((id) => ({ segment: "vip", entityId: id, change: "enter", runId: "run-1", asOf: r1.asOf })),
      ...["c-0", "c-1", "c-2", "c-3", "c-4"].map((id) => ({ segment: "vip", entityId: id, change: "exit", runId: "run-2", asOf: r2.asOf })),
      ...["c-10", "c-11", "c-12", "c-13", "c-14"].map((id) => ({ segment: "vip", entityId: id, change: "enter", runId: "run-2", asOf: r2.asOf })),
    ] as ChangeMessage[];
    const sorted = (xs: ChangeMessage[]) => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(onKafka)).toEqual(sorted(want));
    expect(sorted(heard)).toEqual(sorted(want));
  });

  it("sets a TTL on every key it writes", async () => {
    const s = await setup({ ttlSeconds: 600 });
    const r1 = run("ttl_seg", "run-1", "2026-11-01T00:00:00Z", members(0, 500));
    const r2 = run("ttl_seg", "run-2", "2026-11-02T00:00:00Z", members(250, 40));
    await produceRun(env.producer, s.resultsTopic, r1);
    await s.mover.waitForRun("ttl_seg", "run-1");
    await produceRun(env.producer, s.resultsTopic, r2, { marker: false });
    await until(async () => (await env.redis.hlen(`${s.prefix}staging:ttl_seg:run-2`)) === 40, 20_000, "run-2 staged");
    const check = async () => {
      const keys = await keysUnder(env.redis, s.prefix);
      const pipe = env.redis.pipeline();
      for (const k of keys) pipe.ttl(k);
      const ttls = ((await pipe.exec()) ?? []).map(([, v]) => v as number);
      // -2: the key went away between SCAN and TTL (the mover frees its temporary keys).
      return keys.map((k, i) => [k, ttls[i]!] as const).filter(([, ttl]) => ttl !== -2);
    };
    const during = await check();
    expect(during.filter(([, ttl]) => ttl <= 0)).toEqual([]);
    expect(during.some(([k]) => k.includes(":staging:"))).toBe(true);
    await produceMarker(env.producer, s.resultsTopic, r2);
    await s.mover.waitForRun("ttl_seg", "run-2");
    // Until its change messages are published, the swap's outbox (record, entered/left sets) is
    // there too, with the staging TTL.
    const outbox = await check();
    expect(outbox.filter(([, ttl]) => ttl <= 0)).toEqual([]);
    await s.mover.changesPublished();
    const after = await check();
    // The members set, the metrics hash and the meta.
    expect(after.map(([k]) => k).sort()).toEqual([s.target("ttl_seg").redis.membersKey, s.target("ttl_seg").redis.metaKey, s.target("ttl_seg").redis.metricsKey].sort());
    expect(after.filter(([, ttl]) => ttl <= 0 || ttl > 600)).toEqual([]);
    expect(after.filter(([, ttl]) => ttl < 590)).toEqual([]);
  });

  it("treats a duplicate run as a no-op and ignores an older run arriving after a newer one", async () => {
    const s = await setup();
    const t = s.target("dup");
    const older = run("dup", "run-a", "2026-11-01T00:00:00Z", members(0, 50, "a"));
    const newer = run("dup", "run-b", "2026-11-02T00:00:00Z", members(20, 50, "b"));
    await produceRun(env.producer, s.resultsTopic, newer);
    await s.mover.waitForRun("dup", "run-b");
    const before = await env.redis.hgetall(t.redis.metaKey);
    const changesBefore = await readAllChanges(env.kafka, s.changesTopic, { expect: 50 });
    await produceRun(env.producer, s.resultsTopic, newer);
    await produceRun(env.producer, s.resultsTopic, older);
    await until(() => s.outcomes.length >= 3, 30_000, "three outcomes");
    expect(s.outcomes.map((o) => [o.runId, o.status])).toEqual([
      ["run-b", "applied"],
      ["run-b", "duplicate"],
      ["run-a", "stale"],
    ]);
    expect(await env.redis.hgetall(t.redis.metaKey)).toEqual(before);
    expect(await segmentMatches(env.redis, t, newer, older.members.keys())).toEqual([]);
    expect(await readAllChanges(env.kafka, s.changesTopic, { quietMs: 1_000 })).toHaveLength(changesBefore.length);
    expect(await metricValue(s.registry, "seg_mover_runs_skipped_total", { reason: "duplicate" })).toBe(1);
    expect(await metricValue(s.registry, "seg_mover_runs_skipped_total", { reason: "stale" })).toBe(1);
    expect(await keysUnder(env.redis, `${s.prefix}staging:`)).toEqual([]);
  });

  it("skips and counts malformed messages without stopping", async () => {
    const s = await setup();
    const r = run("robust", "run-1", "2026-11-01T00:00:00Z", members(0, 20));
    const bad = [
      "not json",
      "[1,2,3]",
      "null",
      JSON.stringify({ type: "member", segment: "robust", runId: "run-1" }),
      JSON.stringify({ type: "member", segment: "robust", runId: "run-1", entityId: "x", metrics: [1] }),
      JSON.stringify({ type: "complete", segment: "robust", runId: "run-1", version: "v", asOf: "yesterday", rows: 20 }),
      JSON.stringify({ type: "complete", segment: "robust", runId: "run-1", version: "v", asOf: "2026-11-01T00:00:00Z", rows: -1 }),
      JSON.stringify({ type: "other", segment: "robust", runId: "run-1" }),
    ];
    await env.producer.send({ topic: s.resultsTopic, messages: bad.slice(0, 4).map((value) => ({ key: "x", value })) });
    await env.producer.send({ topic: s.resultsTopic, messages: [{ key: "x", value: null }] });
    await produceRun(env.producer, s.resultsTopic, r, { marker: false });
    await env.producer.send({ topic: s.resultsTopic, messages: bad.slice(4).map((value) => ({ key: "x", value })) });
    await produceMarker(env.producer, s.resultsTopic, r);
    expect(await s.mover.waitForRun("robust", "run-1")).toMatchObject({ status: "applied", size: 20 });
    expect(await segmentMatches(env.redis, s.target("robust"), r)).toEqual([]);
    expect(await metricValue(s.registry, "seg_mover_malformed_messages_total")).toBe(bad.length + 1);
    expect(s.logs.filter((l) => l.startsWith("warn skipped a malformed message"))).toHaveLength(bad.length + 1);
  });

  it("completes a run whose members and marker come through different partitions, marker first", async () => {
    const s = await setup({ partitions: 3 });
    const r = run("split", "run-1", "2026-11-01T00:00:00Z", members(0, 3_000));
    await produceMarker(env.producer, s.resultsTopic, r, 2);
    const half = new Map([...r.members].slice(0, 1_500));
    await produceRun(env.producer, s.resultsTopic, { ...r, members: half }, { marker: false, memberPartition: (i) => i % 2 });
    await until(async () => (await env.redis.hlen(`${s.prefix}staging:split:run-1`)) === 1_500, 20_000, "half of the members read and staged");
    expect(s.outcomes).toEqual([]);
    expect(await env.redis.exists(s.target("split").redis.metaKey)).toBe(0);
    // Nothing of the pending run is committed: the partitions' commits stay at its first messages.
    expect(s.mover.stats().committed).toEqual({ 0: "0", 1: "0", 2: "0" });
    const rest = new Map([...r.members].slice(1_500));
    await produceRun(env.producer, s.resultsTopic, { ...r, members: rest }, { marker: false, memberPartition: (i) => i % 2 });
    expect(await s.mover.waitForRun("split", "run-1")).toMatchObject({ status: "applied", size: 3_000 });
    expect(await segmentMatches(env.redis, s.target("split"), r)).toEqual([]);
    await until(() => Object.values(s.mover.stats().committed).every((o) => o !== "0"), 10_000, "commits after the apply");
    expect(await s.mover.updateLag()).toBe(0);
  });

  it("skips runs of unknown segments, reports consumer lag, and stops cleanly with everything committed", async () => {
    const s = await setup();
    const r = run("unknown_seg", "run-1", "2026-11-01T00:00:00Z", members(0, 10));
    await produceRun(env.producer, s.resultsTopic, r);
    expect(await s.mover.waitForRun("unknown_seg", "run-1")).toMatchObject({ status: "unknown-segment" });
    expect(await metricValue(s.registry, "seg_mover_runs_skipped_total", { reason: "unknown-segment" })).toBe(1);
    // A segment whose deployed spec predates the metrics hash: skipped, with the way out, and Redis untouched.
    const legacy = run("legacy_seg", "run-1", "2026-11-01T00:00:00Z", members(0, 10));
    await produceRun(env.producer, s.resultsTopic, legacy);
    expect(await s.mover.waitForRun("legacy_seg", "run-1")).toMatchObject({ status: "unknown-segment" });
    expect(s.logs.some((l) => l.includes("legacy_seg") && l.includes("deploy the project again"))).toBe(true);
    expect(await keysUnder(env.redis, `${s.prefix}segment:legacy_seg`)).toEqual([]);
    expect(await keysUnder(env.redis, `${s.prefix}staging:legacy_seg`)).toEqual([]);
    const pending = run("lagging", "run-1", "2026-11-01T00:00:00Z", members(0, 30));
    await produceRun(env.producer, s.resultsTopic, pending, { marker: false });
    await until(() => s.mover.stats().pendingRuns === 1, 10_000, "pending run read");
    // The pending run's 30 messages are read but not committed: they are the lag.
    expect(await s.mover.updateLag()).toBe(30);
    expect(await metricValue(s.registry, "seg_mover_consumer_lag")).toBe(30);
    await produceMarker(env.producer, s.resultsTopic, pending);
    await s.mover.waitForRun("lagging", "run-1");
    await s.mover.stop();
    const committed = await env.admin.fetchOffsets({ groupId: s.groupId, topics: [s.resultsTopic] });
    const high = await env.admin.fetchTopicOffsets(s.resultsTopic);
    expect(committed[0]!.partitions.map((p) => p.offset)).toEqual(high.map((h) => h.high));
    const text = await s.registry.metrics();
    for (const name of ["seg_mover_results_moved_total", "seg_mover_runs_applied_total", "seg_mover_swap_duration_seconds_bucket", "seg_mover_consumer_lag", "seg_mover_malformed_messages_total"]) {
      expect(text).toContain(name);
    }
  });
});
