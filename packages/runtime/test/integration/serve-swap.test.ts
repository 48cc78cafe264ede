import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, serveFixture, type ServeFixture } from "../support/serve-fixtures.js";

/**
 * Reads during snapshot swaps: a swapper replaces the members SET and the metrics HASH of a segment
 * the way the mover does (both built under other keys, then RENAMEd over the members and metrics
 * keys and the meta written in one MULTI), as fast as it can, while clients hammer the API over
 * HTTP. Every response must be entirely the old or entirely the new snapshot: the two runs share
 * members whose metrics differ, so a membership, its metrics and the run id read from different
 * snapshots would show.
 */
describe("reads during snapshot swaps", () => {
  let f: ServeFixture;
  let base: string;
  beforeAll(async () => {
    f = await serveFixture();
    ({ url: base } = await f.listening());
  });
  afterAll(async () => f.cleanup());

  it("see the old or the new membership, never a mix", async () => {
    const keys = f.keys("high_value");
    // Members s0..s499 are in both runs, with the run's letter in their metrics.
    const shared = Array.from({ length: 500 }, (_, i) => `s${i}`);
    const A = [...Array.from({ length: 2_500 }, (_, i) => `a${i}`), ...shared];
    const B = [...Array.from({ length: 1_500 }, (_, i) => `b${i}`), ...shared];
    const runs = { "run-A": new Set(A), "run-B": new Set(B) } as Record<string, Set<string>>;
    const letter = (runId: string) => runId.slice(-1);
    const src = { "run-A": { set: `${f.prefix}test:A`, metrics: `${f.prefix}test:A:metrics` }, "run-B": { set: `${f.prefix}test:B`, metrics: `${f.prefix}test:B:metrics` } };
    const tmp = { set: `${f.prefix}test:tmp`, metrics: `${f.prefix}test:tmp:metrics` };
    for (const [runId, ids] of [["run-A", A], ["run-B", B]] as const) {
      await f.redis.sadd(src[runId].set, ...ids);
      await f.redis.hset(src[runId].metrics, ...ids.flatMap((id) => [id, JSON.stringify({ run: letter(runId) })]));
    }
    await f.redis.copy(src["run-A"].set, keys.membersKey, "REPLACE");
    await f.redis.copy(src["run-A"].metrics, keys.metricsKey, "REPLACE");
    await f.redis.hset(keys.metaKey, { runId: "run-A", size: String(A.length), asOf: "2026-11-01T00:00:00Z" });

    // At least 4 s, then until every outcome was seen (at most 40 s on a busy machine).
    const minEnd = Date.now() + 4_000;
    const hardEnd = Date.now() + 40_000;
    let swaps = 0;
    const seen = { pages: 0, fullListings: 0, restarts: 0, checks: 0, details: 0, entity: 0, entityListed: 0, runs: new Set<string>() };
    const enough = () =>
      swaps >= 20 && seen.restarts > 0 && seen.fullListings > 0 && seen.runs.size === 2 && seen.checks >= 20 && seen.details >= 20 && seen.entity >= 20;
    const running = () => Date.now() < hardEnd && (Date.now() < minEnd || !enough());
    const swapper = (async () => {
      let next: "run-A" | "run-B" = "run-B";
      while (running()) {
        await f.redis.copy(src[next].set, tmp.set, "REPLACE");
        await f.redis.copy(src[next].metrics, tmp.metrics, "REPLACE");
        await f.redis
          .multi()
          .rename(tmp.set, keys.membersKey)
          .rename(tmp.metrics, keys.metricsKey)
          .hset(keys.metaKey, { runId: next, size: String(runs[next]!.size) })
          .exec();
        swaps++;
        next = next === "run-A" ? "run-B" : "run-A";
      }
    })();

    const headers = bearer(f.tokens.consumer);
    const get = async (path: string) => {
      const r = await fetch(base + path, { headers });
      return { status: r.status, body: (await r.json()) as any };
    };
    const problems: string[] = [];
    const sameSet = (got: readonly string[], want: Set<string>) => got.length === want.size && got.every((m) => want.has(m));

    const worker = async (w: number) => {
      let i = w;
      while (running()) {
        const kind = i++ % 5;
        if (kind === 0) {
          const r = await get("/v1/segments/high_value/members?limit=5000");
          const want = runs[r.body.runId];
          if (r.status !== 200 || !want || !sameSet(r.body.members, want) || r.body.next !== null) problems.push(`page: ${r.status} ${r.body.runId} ${r.body.members?.length}`);
          seen.pages++;
          seen.runs.add(r.body.runId);
        } else if (kind === 1) {
          // A listing over several pages: all of one run, or refused with 409 when the run changed.
          const got: string[] = [];
          let cursor: string | null = null;
          let runId: string | undefined;
          for (;;) {
            const r = await get(`/v1/segments/high_value/members?limit=700${cursor ? `&cursor=${cursor}` : ""}`);
            if (r.status === 409) {
              seen.restarts++;
              break;
            }
            runId ??= r.body.runId;
            if (r.status !== 200 || r.body.runId !== runId) {
              problems.push(`listing: ${r.status} ${runId} -> ${r.body.runId}`);
              break;
            }
            got.push(...r.body.members);
            seen.pages++;
            cursor = r.body.next;
            if (cursor === null) {
              if (!sameSet(got, runs[runId!]!) || new Set(got).size !== got.length) problems.push(`listing of ${runId}: ${got.length} members`);
              seen.fullListings++;
              break;
            }
          }
        } else if (kind === 2) {
          const id = ["a7", "b7", "s7"][i % 3]!;
          const r = await get(`/v1/segments/high_value/members/${id}`);
          const shouldBe = runs[r.body.runId]?.has(id);
          const metricsOk = shouldBe ? r.body.metrics?.run === letter(r.body.runId) : r.body.metrics === null;
          if (r.status !== 200 || shouldBe === undefined || r.body.member !== shouldBe || !metricsOk) {
            problems.push(`check ${id}: ${JSON.stringify(r.body)}`);
          }
          seen.checks++;
        } else if (kind === 3) {
          const r = await get("/v1/segments/high_value");
          const want = runs[r.body.data?.runId];
          if (r.status !== 200 || !want || r.body.size !== want.size || r.body.data.size !== want.size) problems.push(`detail: ${JSON.stringify(r.body.data)} size ${r.body.size}`);
          seen.details++;
        } else {
          // An a-only or b-only member is listed with its own run's metrics, or not at all; a
          // shared one is always listed, with either run's metrics (never none: set and metrics
          // hash are swapped together).
          const id = ["a9", "b9", "s9"][i % 3]!;
          const r = await get(`/v1/entities/${id}/segments`);
          const list = r.body.segments as { segment: string; metrics: { run?: string } }[] | undefined;
          const ok =
            r.status === 200 &&
            list !== undefined &&
            list.every((x) => x.segment === "high_value") &&
            (id[0] === "s" ? list.length === 1 && ["A", "B"].includes(list[0]!.metrics.run ?? "") : list.length <= 1 && list.every((x) => x.metrics.run === id[0]!.toUpperCase()));
          if (!ok) problems.push(`entity ${id}: ${JSON.stringify(r.body)}`);
          if (list?.length === 1) seen.entityListed++;
          seen.entity++;
        }
      }
    };
    await Promise.all([swapper, ...Array.from({ length: 12 }, (_, w) => worker(w))]);

    expect(problems).toEqual([]);
    expect(swaps).toBeGreaterThanOrEqual(20);
    expect(seen.runs).toEqual(new Set(["run-A", "run-B"]));
    expect(seen.checks).toBeGreaterThanOrEqual(20);
    expect(seen.details).toBeGreaterThanOrEqual(20);
    expect(seen.entity).toBeGreaterThanOrEqual(20);
    expect(seen.entityListed).toBeGreaterThan(0);
    // Both outcomes of a multi-page listing happened: refused after a swap, and complete.
    expect(seen.restarts).toBeGreaterThan(0);
    expect(seen.fullListings).toBeGreaterThan(0);
  }, 60_000);
});
