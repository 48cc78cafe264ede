/**
 * The mover's Redis side on its own (no Kafka): ordering of runs, empty runs, entity hashes shared
 * by segments with different TTLs, unfinished follow-up work, and a run whose staged members are
 * missing.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MoverApplyError, MoverStore, RunTracker, postSwapKey, type ApplyContext, type ChangeMessage, type PendingRun } from "@seg/runtime";
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

function fixture(opts: { atomicMaxMembers?: number; diffMaxMembers?: number } = {}) {
  const prefix = `${unique("p")}:`;
  prefixes.push(prefix);
  const store = new MoverStore(redis, {
    prefix,
    stagingTtlSeconds: 3_600,
    atomicMaxMembers: opts.atomicMaxMembers ?? 1_000,
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
  const makeRun = (segment: string, runId: string, asOf: string, ids: string[], spilled = false): PendingRun => {
    ids.forEach((id, i) => tracker.member({ type: "member", segment, runId, entityId: id, metrics: { id } }, JSON.stringify({ id, runId }), 0, String(i), 0));
    tracker.marker({ type: "complete", segment, runId, version: "v", asOf, rows: ids.length }, Date.parse(asOf), 0, String(ids.length), 0);
    const run = tracker.get(segment, runId)!;
    if (spilled) run.spilled = true;
    return run;
  };
  return { prefix, store, ctx, published, makeRun };
}

const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `e${from + i}`);

describe("MoverStore", () => {
  it("an empty run empties the segment (meta size 0) and every member leaves", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 3)), t, f.ctx);
    const o = await f.store.apply(f.makeRun("s", "r2", "2026-11-02T00:00:00Z", []), t, f.ctx);
    expect(o).toMatchObject({ status: "applied", entered: 0, left: 3 });
    expect(await f.store.outbox()).toEqual(["s"]);
    expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r2", entered: 0, left: 3 });
    expect(await f.store.outbox()).toEqual([]);
    expect(await redis.exists(t.redis.membersKey)).toBe(0);
    expect(await redis.hget(t.redis.metaKey, "size")).toBe("0");
    expect(await redis.hget(t.redis.metaKey, "runId")).toBe("r2");
    expect(await redis.exists(`${t.redis.entityKeyPrefix}e0`)).toBe(0);
    expect(f.published.filter((c) => c.change === "exit").map((c) => c.entityId).sort()).toEqual(ids(0, 3));
  });

  it("runs with the same asOf: the larger runId wins whatever the order they arrive in", async () => {
    for (const order of [["ra", "rb"], ["rb", "ra"]] as const) {
      const f = fixture();
      const t = targetOf(f.prefix, "s");
      const results = [];
      for (const id of order) results.push((await f.store.apply(f.makeRun("s", id, "2026-11-01T00:00:00Z", [id]), t, f.ctx)).status);
      expect(await redis.smembers(t.redis.membersKey)).toEqual(["rb"]);
      expect(results).toEqual(order[0] === "ra" ? ["applied", "applied"] : ["applied", "stale"]);
    }
  });

  it("numeric run ids compare as numbers: run 10 is newer than run 9, in the atomic and the chunked swap", async () => {
    for (const atomicMaxMembers of [1_000, 1]) {
      for (const order of [["9", "10"], ["10", "9"]] as const) {
        const f = fixture({ atomicMaxMembers });
        const t = targetOf(f.prefix, "s");
        const results = [];
        for (const id of order) results.push((await f.store.apply(f.makeRun("s", id, "2026-11-01T00:00:00Z", [`m${id}`, `x${id}`]), t, f.ctx)).status);
        expect(await redis.hget(t.redis.metaKey, "runId")).toBe("10");
        expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(["m10", "x10"]);
        expect(results).toEqual(order[0] === "9" ? ["applied", "applied"] : ["applied", "stale"]);
      }
    }
  });

  it("an entity hash shared by two segments lives as long as the longer TTL", async () => {
    const f = fixture();
    const long = targetOf(f.prefix, "long", 7_200);
    const short = targetOf(f.prefix, "short", 60);
    await f.store.apply(f.makeRun("long", "r1", "2026-11-01T00:00:00Z", ["e1"]), long, f.ctx);
    await f.store.apply(f.makeRun("short", "r1", "2026-11-01T00:00:00Z", ["e1"]), short, f.ctx);
    const key = `${long.redis.entityKeyPrefix}e1`;
    expect(await redis.hkeys(key)).toEqual(["long", "short"]);
    expect(await redis.ttl(key)).toBeGreaterThan(7_000);
    expect(await redis.ttl(short.redis.membersKey)).toBeLessThanOrEqual(60);
  });

  it("finishes a segment's unfinished follow-up work (a crash) before applying its next run", async () => {
    const f = fixture();
    const t = targetOf(f.prefix, "s");
    await f.store.apply(f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 4)), t, f.ctx);
    // r2 swaps, then the process "dies" before its follow-up work: the record stays.
    const dying: ApplyContext = {
      ...f.ctx,
      phase: (p) => {
        if (p === "swapped") throw new Error("crash");
      },
    };
    await expect(f.store.apply(f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(2, 4)), t, dying)).rejects.toThrow("crash");
    expect(await redis.hget(postSwapKey(f.prefix, "s"), "runId")).toBe("r2");
    const before = f.published.length;
    const o = await f.store.apply(f.makeRun("s", "r3", "2026-11-03T00:00:00Z", ids(4, 4)), t, f.ctx);
    expect(o).toMatchObject({ status: "applied", entered: 2, left: 2 });
    // r2's changes were published by the apply of r3 (first); r3's wait in the outbox.
    expect(f.published.slice(before).every((c) => c.runId === "r2")).toBe(true);
    await f.store.finishPending("s", f.ctx);
    const changes = f.published.slice(before).map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort();
    expect(changes).toEqual(["r2 enter e4", "r2 enter e5", "r2 exit e0", "r2 exit e1", "r3 enter e6", "r3 enter e7", "r3 exit e2", "r3 exit e3"]);
    expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
  });

  it("the chunked path finds the same members, entity hashes and changes whichever way: first run, one set difference or chunk by chunk; new-members SET flushed beforehand or not", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      for (const flushed of [false, true]) {
        const f = fixture({ atomicMaxMembers: 1, diffMaxMembers });
        const t = targetOf(f.prefix, "s");
        const r1 = f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 250));
        if (flushed) await f.store.flush([r1]);
        expect(await f.store.apply(r1, t, f.ctx)).toMatchObject({ status: "applied", path: "chunked", entered: 250, left: 0 });
        expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r1", entered: 250, left: 0 });
        const r2 = f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(100, 250));
        if (flushed) await f.store.flush([r2]);
        expect(await f.store.apply(r2, t, f.ctx)).toMatchObject({ status: "applied", path: "chunked", entered: 100, left: 100 });
        expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r2", entered: 100, left: 100 });
        expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(ids(100, 250).sort());
        expect(await redis.exists(`${t.redis.entityKeyPrefix}e0`)).toBe(0);
        expect(await redis.hget(`${t.redis.entityKeyPrefix}e100`, "s")).toBe(JSON.stringify({ id: "e100", runId: "r2" }));
        expect(await redis.hget(`${t.redis.entityKeyPrefix}e349`, "s")).toBe(JSON.stringify({ id: "e349", runId: "r2" }));
        const changes = f.published.map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort();
        const want = [...ids(0, 250).map((id) => `r1 enter ${id}`), ...ids(0, 100).map((id) => `r2 exit ${id}`), ...ids(250, 100).map((id) => `r2 enter ${id}`)].sort();
        expect(changes).toEqual(want);
        expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
        expect(await redis.ttl(t.redis.membersKey)).toBeGreaterThan(3_000);
      }
    }
  });

  it("a first chunked run's enter messages do not depend on the live set (retired or expired before they are published)", async () => {
    for (const diffMaxMembers of [1_000_000, 0]) {
      const f = fixture({ atomicMaxMembers: 1, diffMaxMembers });
      const t = targetOf(f.prefix, "s");
      expect(await f.store.apply(f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 250)), t, f.ctx)).toMatchObject({ status: "applied", path: "chunked", entered: 250 });
      const entered = (await redis.hget(postSwapKey(f.prefix, "s"), "entered"))!;
      expect(entered).not.toBe(t.redis.membersKey);
      expect(await redis.ttl(entered)).toBeGreaterThan(3_000);
      await redis.del(t.redis.membersKey);
      expect(await f.store.finishPending("s", f.ctx)).toEqual({ runId: "r1", entered: 250, left: 0 });
      expect(f.published.map((c) => `${c.runId} ${c.change} ${c.entityId}`).sort()).toEqual(ids(0, 250).map((id) => `r1 enter ${id}`).sort());
      expect(await keysUnder(redis, `${f.prefix}mover:`)).toEqual([]);
    }
  });

  it("members are sent packed, or one argument each when an entity id holds a newline: the same result either way", async () => {
    for (const atomicMaxMembers of [1_000, 1]) {
      for (const spilled of [false, true]) {
        const f = fixture({ atomicMaxMembers });
        const t = targetOf(f.prefix, "s");
        const members = ["plain", "new\nline", "tab\tand é", ...ids(0, 150)];
        const run = f.makeRun("s", "r1", "2026-11-01T00:00:00Z", members);
        expect(run.newlineIds).toBe(true);
        const packed = f.makeRun("s2", "r1", "2026-11-01T00:00:00Z", members.filter((m) => !m.includes("\n")));
        expect(packed.newlineIds).toBe(false);
        for (const r of [run, packed]) {
          if (spilled) {
            r.spilled = true;
            await f.store.flush([r]);
            expect(r.stagedCount).toBe(r.marker!.rows);
            r.buffer = new Map();
          } else await f.store.flush([r]);
          const target = targetOf(f.prefix, r.segment);
          expect(await f.store.apply(r, target, f.ctx)).toMatchObject({ status: "applied", entered: r.marker!.rows });
          expect((await redis.smembers(target.redis.membersKey)).sort()).toEqual(members.filter((m) => r === run || !m.includes("\n")).sort());
          for (const id of ["new\nline", "tab\tand é", "e7"]) {
            if (r === packed && id.includes("\n")) continue;
            expect(await redis.hget(`${target.redis.entityKeyPrefix}${id}`, r.segment)).toBe(JSON.stringify({ id, runId: "r1" }));
          }
        }
        expect(t.redis.membersKey).toContain(f.prefix);
      }
    }
  });

  it("refuses to swap a run whose staged members are missing (Redis lost them) and changes nothing", async () => {
    for (const atomicMaxMembers of [1_000, 1]) {
      const f = fixture({ atomicMaxMembers });
      const t = targetOf(f.prefix, "s");
      await f.store.apply(f.makeRun("s", "r1", "2026-11-01T00:00:00Z", ids(0, 3)), t, f.ctx);
      const run = f.makeRun("s", "r2", "2026-11-02T00:00:00Z", ids(0, 5), true);
      run.buffer = new Map();
      await redis.hset(f.store.stagingKey(run), "e0", "{}", "e1", "{}");
      await expect(f.store.apply(run, t, f.ctx)).rejects.toThrow(MoverApplyError);
      expect(await redis.hget(t.redis.metaKey, "runId")).toBe("r1");
      expect((await redis.smembers(t.redis.membersKey)).sort()).toEqual(ids(0, 3));
    }
  });
});
