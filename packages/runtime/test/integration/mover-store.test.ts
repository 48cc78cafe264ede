/**
 * The mover's Redis side on its own (no Kafka): staging, ordering of runs, empty runs, TTLs,
 * entered/left members found inside the swap or chunk by chunk, unfinished follow-up work, and a
 * run whose staged members are missing.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MoverApplyError, MoverStore, RunTracker, compareRuns, postSwapKey, type ApplyContext, type ChangeMessage, type PendingRun } from "@seg/runtime";
import { dropPrefix, ensureMoverServices, keysUnder, targetOf, unique } from "../support/mover-fixtures.js";

let redis: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  const { redisUrl } = await ensureMoverServices();
  redis = new Redis(redisUrl);
}, 240_000);

afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis?.disconnect();
});

function fixture(opts: { diffMaxMembers?: number } = {}) {
  const prefix = `${unique("p")}:`;
  prefixes.push(prefix);
  const store = new MoverStore(redis, {
    prefix,
    stagingTtlSeconds: 3_600,
    chunkSize: 100,
    ...(opts.diffMaxMembers !== undefined ? { diffMaxMembers: opts.diffMaxMembers } : {}),
  });
  const published: ChangeMessage[] = [];
  const ctx: ApplyContext = {
    publish: async (changes) => {
      for (const { key, value } of changes) {
        const c = JSON.parse(value) as ChangeMessage;
        expect(c.entityId).toBe(key);
        published.push(c);
      }
    },
    heartbeat: async () => {},
  };
  const tracker = new RunTracker();
  /** A run read and staged as the mover would: its members (metrics {id, runId}), then its marker. */
  const makeRun = async (segment: string, runId: string, asOf: string, ids: string[]): Promise<PendingRun> => {
    ids.forEach((id, i) => tracker.member({ type: "member", segment, runId, entityId: id, metrics: { id } }, JSON.stringify({ id, runId }), 0, String(i), 0));
    tracker.marker({ type: "complete", segment, runId, version: "v", asOf, rows: ids.length }, Date.parse(asOf), 0, String(ids.length), 0);
    const run = tracker.get(segment, runId)!;
    if (run.packed.count > 0) await store.flush([run]);
    expect(RunTracker.completion(run)).toBe("complete");
    return run;
  };
  return { prefix, store, ctx, published, makeRun };
}

const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `e${from + i}`);
const metricsOf = (id: string, runId: string) => JSON.stringify({ id, runId });

describe("MoverStore", () => {
  it("an empty run empties the segment (meta size 0) and every member leaves", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 3)), t, f.ctx);
    expect(await redis.hlen(t.redis.metricsKey)).toBe(3);
    const o = await f.store.apply(await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", []), t, f.ctx);
    expect(o).toMatchObject({ status: "applied", entered: 0, left: 3 });
    expect(await f.store.outbox()).toEqual(["s"]);
    expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r2", entered: 0, left: 3 });
    expect(await f.store.outbox()).toEqual([]);
    expect(await redis.exists(t.redis.membersKey, t.redis.metricsKey)).toBe(0);
    expect(await redis.hget(t.redis.metaKey, "size")).toBe("0");
    expect(await redis.hget(t.redis.metaKey, "runId")).toBe("r2");
    expect(f.published.filter((c) => c.change === "exit").map((c) => c.entityId).sort()).toEqual(ids(0, 3));
  });

  it("runs with the same asOf: the larger runId wins whatever the order they arrive in", async () => {
    for (const order of [["ra", "rb"], ["rb", "ra"]] as const) {
      const f = fixture();
      const t = targetOf(f.prefix, "s");
      const results = [];
      for (const id of order) results.push((await f.store.apply(await f.makeRun("s", id, "2026-11-01T00:00:00Z", [id]), t, f.ctx)).status);
      expect(await redis.smembers(t.redis.membersKey)).toEqual(["rb"]);
      expect(await redis.hkeys(t.redis.metricsKey)).toEqual(["rb"]);
      expect(results).toEqual(order[0] === "ra" ? ["applied", "applied"] : ["applied", "stale"]);
      // The stale run's staged keys are gone too.
      expect(await keysUnder(redis, `${f.prefix}staging:`)).toEqual([]);
    }
  });

  it("numeric run ids compare as numbers: run 10 is newer than run 9, with entered/left found in the swap or in chunks", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      for (const order of [["9", "10"], ["10", "9"]] as const) {
        const f = fixture({ diffMaxMembers });
        const t = targetOf(f.prefix, "s");
        const results = [];
        for (const id of order) results.push((await f.store.apply(await f.makeRun("s", id, "2026-11-01T00:00:00Z", [`m${id}`, `x${id}`]), t, f.ctx)).status);
        expect(await redis.hget(t.redis.metaKey, "runId")).toBe("10");
        expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(["m10", "x10"]);
        expect(results).toEqual(order[0] === "9" ? ["applied", "applied"] : ["applied", "stale"]);
      }
    }
  });

  it("the members set, metrics hash and meta live for the segment's TTL; staging keys are gone after the swap", async () => {
    const f = fixture();
    const long = targetOf(f.prefix, "long", 7_200);
    const short = targetOf(f.prefix, "short", 60);
    const r1 = await f.makeRun("long", "r1", "2026-11-01T00:00:00Z", ["e1"]);
    expect(await redis.ttl(f.store.stagingKey(r1))).toBeGreaterThan(3_000);
    await f.store.apply(r1, long, f.ctx);
    await f.store.apply(await f.makeRun("short", "r1", "2026-11-01T00:00:00Z", ["e1"]), short, f.ctx);
    for (const key of [long.redis.membersKey, long.redis.metricsKey, long.redis.metaKey]) expect(await redis.ttl(key)).toBeGreaterThan(7_000);
    for (const key of [short.redis.membersKey, short.redis.metricsKey, short.redis.metaKey]) {
      expect(await redis.ttl(key)).toBeLessThanOrEqual(60);
      expect(await redis.ttl(key)).toBeGreaterThan(0);
    }
    expect(await redis.hget(long.redis.metricsKey, "e1")).toBe(metricsOf("e1", "r1"));
    expect(await keysUnder(redis, `${f.prefix}staging:`)).toEqual([]);
  });

  it("finishes a segment's unfinished follow-up work (a crash) before applying its next run", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 4)), t, f.ctx);
    // r2 swaps, then the process "dies" before its follow-up work: the record stays.
    const dying: ApplyContext = {
      ...f.ctx,
      phase: (p) => {
        if (p === "swapped") throw new Error("crash");
      },
    };
    await expect(f.store.apply(await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(2, 4)), t, dying)).rejects.toThrow("crash");
    expect(await redis.hget(postSwapKey(f.prefix, "s"), "runId")).toBe("r2");
    const before = f.published.length;
    const o = await f.store.apply(await f.makeRun("s", "r3", "2026-11-03T00:00:00Z", ids(4, 4)), t, f.ctx);
    expect(o).toMatchObject({ status: "applied", entered: 2, left: 2 });
    // r2's changes were published by the apply of r3 (first); r3's wait in the outbox.
    expect(f.published.slice(before).every((c) => c.runId === "r2")).toBe(true);
    await f.store.finishPending("s", f.ctx);
    const changes = f.published.slice(before).map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort();
    expect(changes).toEqual(["r2 enter e4", "r2 enter e5", "r2 exit e0", "r2 exit e1", "r3 enter e6", "r3 enter e7", "r3 exit e2", "r3 exit e3"]);
    expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
  });

  it("finds the same members, metrics and changes whichever way: set differences in the swap or chunk by chunk before it", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      const f = fixture({ diffMaxMembers });
      const path = diffMaxMembers === 0 ? "chunked" : "atomic";
      const t = targetOf(f.prefix, "s");
      const r1 = await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 250));
      expect(await f.store.apply(r1, t, f.ctx)).toMatchObject({ status: "applied", path, entered: 250, left: 0 });
      expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r1", entered: 250, left: 0 });
      const r2 = await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(100, 250));
      expect(await f.store.apply(r2, t, f.ctx)).toMatchObject({ status: "applied", path, entered: 100, left: 100 });
      expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r2", entered: 100, left: 100 });
      expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(ids(100, 250).sort());
      expect(await redis.hlen(t.redis.metricsKey)).toBe(250);
      expect(await redis.hget(t.redis.metricsKey, "e0")).toBeNull();
      expect(await redis.hget(t.redis.metricsKey, "e100")).toBe(metricsOf("e100", "r2"));
      expect(await redis.hget(t.redis.metricsKey, "e349")).toBe(metricsOf("e349", "r2"));
      const changes = f.published.map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort();
      const want = [...ids(0, 250).map((id) => `r1 enter ${id}`), ...ids(0, 100).map((id) => `r2 exit ${id}`), ...ids(250, 100).map((id) => `r2 enter ${id}`)].sort();
      expect(changes).toEqual(want);
      expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
      expect(await keysUnder(redis, `${f.prefix}staging:`)).toEqual([]);
      expect(await redis.ttl(t.redis.membersKey)).toBeGreaterThan(3_000);
    }
  });

  it("a chunked swap is refused and built again when another run was swapped in while its chunks were built", async () => {
    const f = fixture({ diffMaxMembers: 0 });
    const t = targetOf(f.prefix, "s");
    await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 50)), t, f.ctx);
    await f.store.finishPending("s", f.ctx);
    const r3 = await f.makeRun("s", "r3", "2026-11-03T00:00:00Z", ids(20, 50));
    const r2 = await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(10, 50));
    let sneaked = false;
    const ctx: ApplyContext = {
      ...f.ctx,
      phase: async (p) => {
        if (p !== "prepared" || sneaked) return;
        sneaked = true;
        // Another mover swaps r2 in between r3's chunks and its swap.
        expect(await f.store.apply(r2, t, f.ctx)).toMatchObject({ status: "applied", entered: 10, left: 10 });
      },
    };
    expect(await f.store.apply(r3, t, ctx)).toMatchObject({ status: "applied", path: "chunked", entered: 10, left: 10 });
    await f.store.finishPending("s", f.ctx);
    expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(ids(20, 50).sort());
    const r3Changes = f.published.filter((c) => c.runId === "r3").map((c) => `${c.change} ${c.entityId}`).sort();
    expect(r3Changes).toEqual([...ids(10, 10).map((id) => `exit ${id}`), ...ids(60, 10).map((id) => `enter ${id}`)].sort());
  });

  it("a first run's enter messages do not depend on the live set (retired or expired before they are published)", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      const f = fixture({ diffMaxMembers });
      const t = targetOf(f.prefix, "s");
      expect(await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 250)), t, f.ctx)).toMatchObject({ status: "applied", entered: 250 });
      const entered = (await redis.hget(postSwapKey(f.prefix, "s"), "entered"))!;
      expect(entered).not.toBe(t.redis.membersKey);
      expect(await redis.ttl(entered)).toBeGreaterThan(3_000);
      await redis.del(t.redis.membersKey);
      expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r1", entered: 250, left: 0 });
      expect(f.published.map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort()).toEqual(ids(0, 250).map((id) => `r1 enter ${id}`).sort());
      expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
    }
  });

  it("stages any entity id exactly (newlines, protocol look-alikes, non-ASCII, long), in chunks", async () => {
    const f = fixture();
    const odd = ["new\nline", "\r\n$3\r\nfoo\r\n", "*2\r\n", "tab\tand é", "🙂", "x".repeat(10_000), " "];
    const members = [...odd, ...ids(0, 250)];
    const run = await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", members);
    expect(run.stagedCount).toBe(members.length);
    const t = targetOf(f.prefix, "s");
    expect(await f.store.apply(run, t, f.ctx)).toMatchObject({ status: "applied", entered: members.length });
    expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual([...members].sort());
    expect(await redis.hlen(t.redis.metricsKey)).toBe(members.length);
    for (const id of [...odd, "e7", "e249"]) expect(await redis.hget(t.redis.metricsKey, id)).toBe(metricsOf(id, "r1"));
  });

  it("a member read twice is staged once, with the metrics read last", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    const tracker = new RunTracker();
    const m = (entityId: string, n: number) => ({ type: "member" as const, segment: "s", runId: "r1", entityId, metrics: { n } });
    tracker.member(m("a", 1), '{"n":1}', 0, "0", 0);
    tracker.member(m("b", 1), '{"n":1}', 0, "1", 0);
    await f.store.flush([...tracker.unflushed()]);
    tracker.member(m("a", 2), '{"n":2}', 0, "2", 0);
    tracker.marker({ type: "complete", segment: "s", runId: "r1", version: "v", asOf: "2026-11-01T00:00:00Z", rows: 2 }, Date.parse("2026-11-01T00:00:00Z"), 0, "3", 0);
    const run = tracker.get("s", "r1")!;
    await f.store.flush([run]);
    expect(run.stagedCount).toBe(2);
    expect(RunTracker.completion(run)).toBe("complete");
    await f.store.apply(run, t, f.ctx);
    expect(await redis.hgetall(t.redis.metricsKey)).toEqual({ a: '{"n":2}', b: '{"n":1}' });
  });

  it("a swap sent twice (its reply lost, ioredis sending it again after reconnecting) is the run applied once, with its changes kept", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 4)), t, f.ctx);
    await f.store.finishPending("s", f.ctx);
    const scripts = redis as unknown as Record<string, (keys: string[], args: unknown[]) => Promise<unknown>>;
    const swap = scripts["segMoverSwap"]!;
    scripts["segMoverSwap"] = async (keys, args) => {
      await swap.call(redis, keys, args);
      return swap.call(redis, keys, args);
    };
    try {
      const o = await f.store.apply(await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(2, 4)), t, f.ctx);
      expect(o).toMatchObject({ status: "applied", entered: 2, left: 2 });
    } finally {
      scripts["segMoverSwap"] = swap;
    }
    expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r2", entered: 2, left: 2 });
    const r2 = f.published.filter((c) => c.runId === "r2").map((c) => `${c.change} ${c.entityId}`).sort();
    expect(r2).toEqual(["enter e4", "enter e5", "exit e0", "exit e1"]);
  });

  it("a run with more members staged than its marker says (leftovers of a reused run id) is inconsistent: dropped, not retried", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 3)), t, f.ctx);
    const run = await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", []);
    await redis.hset(f.store.stagingKey(run), "old-1", "{}", "old-2", "{}");
    await redis.sadd(`${f.prefix}mover:tmp:s:r2:set`, "old-1", "old-2");
    expect(await f.store.apply(run, t, f.ctx)).toMatchObject({ status: "inconsistent", staged: 2 });
    expect(await redis.hget(t.redis.metaKey, "runId")).toBe("r1");
    expect(await keysUnder(redis, `${f.prefix}staging:`)).toEqual([]);
    expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
  });

  it("orders run ids of the same asOf byte by byte in Redis, as compareRuns does", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    // In UTF-8 bytes "Z" < "a" < "é" (a locale's collation may order them otherwise).
    const statuses = [];
    for (const id of ["a", "Z", "é"]) statuses.push((await f.store.apply(await f.makeRun("s", id, "2026-11-01T00:00:00Z", [id]), t, f.ctx)).status);
    expect(statuses).toEqual(["applied", "stale", "applied"]);
    expect(await redis.hget(t.redis.metaKey, "runId")).toBe("é");
    expect(compareRuns({ asOfMs: 0, runId: "é" }, { asOfMs: 0, runId: "a" })).toBeGreaterThan(0);
    // Outside the BMP: after U+FFFD in UTF-8 bytes, before it in UTF-16 code units.
    expect(compareRuns({ asOfMs: 0, runId: "\u{1F600}" }, { asOfMs: 0, runId: "\uFFFD" })).toBeGreaterThan(0);
  });

  it("refuses to swap a run whose staged members are missing (Redis lost them) and changes nothing", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      const f = fixture({ diffMaxMembers });
      const t = targetOf(f.prefix, "s");
      await f.store.apply(await f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 3)), t, f.ctx);
      const run = await f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(0, 5));
      // Lost after they were counted: the set, then the metrics hash.
      await redis.srem(`${f.prefix}mover:tmp:s:r2:set`, "e3", "e4");
      await expect(f.store.apply(run, t, f.ctx)).rejects.toThrow(MoverApplyError);
      await redis.sadd(`${f.prefix}mover:tmp:s:r2:set`, "e3", "e4");
      await redis.hdel(f.store.stagingKey(run), "e4");
      await expect(f.store.apply(run, t, f.ctx)).rejects.toThrow(MoverApplyError);
      expect(await redis.hget(t.redis.metaKey, "runId")).toBe("r1");
      expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(ids(0, 3));
      expect(await redis.hlen(t.redis.metricsKey)).toBe(3);
    }
  });
});
