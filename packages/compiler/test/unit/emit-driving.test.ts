/**
 * The driven form of the emitted query (`emit-plan.ts`, `empty-entity.ts`): when no output can
 * hold for an entity without events in a scan, the query starts from that scan (semi-joined with
 * the universe) instead of the whole universe. Checked three ways:
 * - the analysis itself: rules where it must apply and where it must not;
 * - the SQL shape for both dialects;
 * - members on the real embedded DuckDB, each rule alone in its plan (so the rewrite applies where
 *   it can), against members computed by hand from the engine fixture, and against the same rule
 *   evaluated next to an output that keeps the whole universe (the form without the rewrite).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExprIR, PlanIR, SegmentIR } from "../../src/ir.js";
import { DuckDbDialect } from "../../src/emit/duckdb.js";
import { EmptyEntity } from "../../src/emit/empty-entity.js";
import { drivingSource, emitPlan } from "../../src/emit/emit-plan.js";
import { SparkDialect } from "../../src/emit/spark.js";
import { evaluatePlan } from "../../src/engine/duckdb-engine.js";
import * as B from "./emit-builder.js";
import { AS_OF, customer, customers, pageView, pageViews, purchase, purchases, toJsonl } from "./engine-fixture.js";
import { aggregates, avg30, cases, count30, countEver, existsEver, lastSeen, pv30, pvCount, sum30 } from "../support/semantics-cases.js";
import { tempDir, type TempDir } from "./temp-project.js";

const { aggRef: a, attr, str, int, num } = B;
const C = (f: string, t: string) => attr("customer", f, t);
const DRIVEN = /members AS \(\n  SELECT\n    b\.\*\n  FROM flags_\d+ AS b\n  (LEFT )?SEMI JOIN universe AS u ON u\.entity_id = b\.entity_id\n(  WHERE .*\n)?\)/;
const TRUE = B.lit(true);

const profilePlan = (segments: SegmentIR[], outputs?: string[]): PlanIR =>
  B.plan({ universe: { kind: "profile", source: "customer" }, sources: [customer, purchase, pageView], aggregates, segments, outputs });
const eventsPlan = (segments: SegmentIR[], outputs?: string[]): PlanIR =>
  B.plan({ universe: { kind: "events", sources: ["purchase", "page_view"] }, sources: [purchase, pageView], aggregates, segments, outputs });

/** The source whose scan drives the query of `plan`, or null. */
const driver = drivingSource;

/** Rules where skipping entities without events would be wrong, with hand-computed members (profile universe). */
const mustNot: Record<string, [ExprIR, string[]]> = {
  count_eq_0: [B.eq(a(count30), int(0)), ["c3", "c4", "c5"]],
  not_count_gt_0: [B.not(B.gt(a(count30), int(0))), ["c3", "c4", "c5"]],
  or_profile: [B.or(B.gt(a(count30), int(1)), B.eq(C("country", "string"), str("DE"))), ["c1", "c2", "c3"]],
  sum_lt_10: [B.lt(a(sum30), num(10)), ["c3", "c4", "c5"]],
  count_ge_0: [B.ge(a(count30), int(0)), ["c1", "c2", "c3", "c4", "c5"]],
  avg_is_null: [B.op("is_null", [a(avg30)]), ["c3", "c4", "c5"]],
  coalesce_avg_100: [B.gt(B.call("coalesce", [a(avg30), num(100)], "number"), num(50)), ["c1", "c3", "c4", "c5"]],
  avg_not_between: [B.between(a(avg30), num(0), num(50), true), ["c1", "c3", "c4", "c5"]],
  last_seen_not_last1: [B.inWindow(a(lastSeen), B.last(1), true), ["c2", "c3", "c4", "c5"]],
  count_in_0_2: [B.inList(a(count30), [int(0), int(2)]), ["c1", "c2", "c3", "c4", "c5"]],
  count_not_in_1_2: [B.inList(a(count30), [int(1), int(2)], true), ["c3", "c4", "c5"]],
  sum_minus_5_lt_0: [B.lt(B.op("sub", [a(sum30), int(5)]), int(0)), ["c3", "c4", "c5"]],
  zero_by_zero_is_null: [B.op("is_null", [B.op("div", [a(count30), a(count30)])]), ["c3", "c4", "c5"]],
  null_year_or_count: [B.or(B.op("is_null", [C("birth_year", "integer?")]), B.gt(a(count30), int(1))), ["c1", "c2"]],
  not_exists_ever: [B.not(a(existsEver)), ["c3", "c4", "c5"]],
  count_ne_1: [B.ne(a(count30), int(1)), ["c1", "c2", "c3", "c4", "c5"]],
  least_null_skipped: [B.eq(B.call("least", [a(avg30), num(100)], "number"), num(100)), ["c3", "c4", "c5"]],
};

/** Rules where it must apply, with hand-computed members (profile universe; `zz` has events but no profile). */
const must: Record<string, [ExprIR, string[]]> = {
  count_gt_1: [B.gt(a(count30), int(1)), ["c1", "c2"]],
  count_ge_1: [B.ge(a(count30), int(1)), ["c1", "c2"]],
  sum_gt_100: [B.gt(a(sum30), num(100)), ["c1"]],
  count_and_profile: [B.and(B.ge(a(count30), int(1)), B.eq(C("country", "string"), str("US"))), ["c1"]],
  count_and_not_profile: [B.and(B.gt(a(count30), int(0)), B.not(B.eq(C("country", "string"), str("US")))), ["c2"]],
  or_of_counts: [B.or(B.gt(a(count30), int(5)), B.gt(a(sum30), num(100))), ["c1"]],
  avg_gt_50: [B.gt(a(avg30), num(50)), ["c1"]],
  last_seen_last1: [B.inWindow(a(lastSeen), B.last(1)), ["c1"]],
  coalesce_avg_0: [B.gt(B.call("coalesce", [a(avg30), num(0)], "number"), num(1)), ["c1", "c2"]],
  exists_ever: [a(existsEver), ["c1", "c2"]],
  not_count_eq_0: [B.not(B.eq(a(countEver), int(0))), ["c1", "c2"]],
  count_between: [B.between(a(count30), int(1), int(3)), ["c1", "c2"]],
  count_in_1_2: [B.inList(a(count30), [int(1), int(2), B.lit(null)]), ["c1", "c2"]],
  ratio_gt_5: [B.gt(B.op("div", [a(sum30), a(count30)]), num(5)), ["c1"]],
  sum_times_2_gt_20: [B.gt(B.op("mul", [a(sum30), num(2)]), num(20)), ["c1"]],
  null_year_and_count: [B.and(B.op("is_null", [C("birth_year", "integer?")]), B.gt(a(count30), int(1))), ["c2"]],
};

describe("the empty entity", () => {
  it("is false for predicates that need events, unknown or true for the others", () => {
    const plan = profilePlan([...Object.entries({ ...must, ...mustNot }).map(([n, [p]]) => B.segment(n, p))]);
    const empty = new EmptyEntity(plan, () => true);
    for (const name of Object.keys(must)) expect(empty.segment(name), name).toBe("false");
    for (const name of Object.keys(mustNot)) expect(empty.segment(name), name).not.toBe("false");
    expect(empty.segment("count_ge_0")).toBe("true");
    expect(empty.segment("or_profile")).toBe("unknown");
    // nothing known: nothing is certain, unless constant
    const none = new EmptyEntity(plan, () => false);
    expect(none.segment("count_gt_1")).toBe("unknown");
    expect(none.truth(B.and(TRUE, B.gt(int(2), int(1))))).toBe("true");
    expect(none.truth(B.gt(B.lit(null), int(1)))).toBe("false");
  });

  it("follows references: `in a` is as certain as a", () => {
    const plan = profilePlan([B.segment("a", B.gt(a(count30), int(1))), B.segment("b", B.and(B.seg("a"), B.eq(C("country", "string"), str("US")))), B.segment("c", B.not(B.seg("a")))], ["b"]);
    const empty = new EmptyEntity(plan, () => true);
    expect(empty.segment("b")).toBe("false");
    expect(empty.segment("c")).toBe("true");
    expect(driver(plan)).toBe("purchase");
    expect(driver({ ...plan, outputs: ["c"] })).toBeNull();
    expect(driver({ ...plan, outputs: ["b", "c"] })).toBeNull();
  });

  it("never folds what engines could disagree on: text order, timestamps, overflow", () => {
    const plan = profilePlan([]);
    const none = new EmptyEntity(plan, () => false);
    expect(none.truth(B.lt(str("a"), str("b")))).toBe("unknown");
    expect(none.truth(B.gt(B.tsLit("2026-01-02T00:00:00.000Z"), B.tsLit("2026-01-01T00:00:00.000Z")))).toBe("unknown");
    expect(none.truth(B.gt(B.op("mul", [int(2 ** 52), int(4)]), int(0)))).toBe("unknown");
    expect(none.truth(B.eq(str("x"), str("x")))).toBe("true");
  });
});

describe("driving scan", () => {
  it("picks a scan only when every output needs its events", () => {
    for (const [name, [p]] of Object.entries(must)) expect(driver(profilePlan([B.segment(name, p)])), name).toBe("purchase");
    for (const [name, [p]] of Object.entries(mustNot)) expect(driver(profilePlan([B.segment(name, p)])), name).toBeNull();
    // one output that can hold without events keeps the whole universe for all
    expect(driver(profilePlan([B.segment("x", B.gt(a(count30), int(1))), B.segment("y", B.eq(a(count30), int(0)))]))).toBeNull();
  });

  it("with several event sources, drives from the one whose emptiness decides, shortest window first", () => {
    // both decide; purchase's longest window is ever (count ever), page_view's 30 days
    expect(driver(profilePlan([B.segment("s", B.and(B.gt(a(countEver), int(1)), a(pv30)))]))).toBe("page_view");
    // only page_view decides: `count = 0` holds without purchases
    expect(driver(profilePlan([B.segment("s", B.and(B.eq(a(count30), int(0)), a(pv30)))]))).toBe("page_view");
    // neither alone decides
    expect(driver(profilePlan([B.segment("s", B.or(B.gt(a(count30), int(1)), B.gt(a(pvCount), int(0))))]))).toBeNull();
  });

  it("emits the driven form in both dialects from the same plan; Spark without ORDER BY", () => {
    const plan = profilePlan([B.segment("s", B.gt(a(sum30), num(100)), [B.metric("total", a(sum30))])]);
    for (const d of [new DuckDbDialect(), new SparkDialect()]) {
      const sql = emitPlan(plan, d).sql;
      expect(sql).toMatch(DRIVEN);
      expect(sql).not.toContain("SELECT DISTINCT");
      expect(sql).not.toContain("FROM universe AS u");
      expect(sql.includes("ORDER BY segment, entity_id")).toBe(d.name === "duckdb");
    }
    const kept = emitPlan(profilePlan([B.segment("s", B.eq(a(count30), int(0)))]), new DuckDbDialect()).sql;
    expect(kept).not.toMatch(DRIVEN);
    expect(kept).toContain("SELECT DISTINCT");
    expect(kept).toContain("FROM universe AS u\n  LEFT JOIN events_1 AS a1 ON a1.entity_id = u.entity_id");
  });

  it("with an events universe, a scan of a universe source needs no universe at all", () => {
    const sql = emitPlan(eventsPlan([B.segment("s", B.ge(a(count30), int(1)))]), new DuckDbDialect()).sql;
    expect(sql).not.toContain("universe AS (");
    expect(sql).toContain("WHERE a1.entity_id IS NOT NULL");
  });
});

describe("driven queries on DuckDB give the members computed by hand", () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = tempDir("seg-driving-");
    dir.write("data/customer.jsonl", toJsonl(customers));
    dir.write("data/purchase.jsonl", toJsonl(purchases));
    dir.write("data/page_view.jsonl", toJsonl(pageViews));
  });
  afterAll(() => dir.cleanup());
  const members = async (plan: PlanIR): Promise<Record<string, string[]>> => {
    const r = await evaluatePlan(plan, { dataDir: dir.path("data"), asOf: AS_OF });
    expect(r.problems).toEqual([]);
    return Object.fromEntries(Object.entries(r.segments).map(([n, s]) => [n, s.members.map((m) => m.id)]));
  };

  it("each semantics case and each rewrite case alone, and next to an output that keeps the universe", async () => {
    const all = { ...cases, ...must, ...mustNot };
    const failures: string[] = [];
    let driven = 0;
    const whole = profilePlan([...Object.entries(all).map(([name, [predicate]]) => B.segment(name, predicate)), B.segment("everyone", TRUE)]);
    expect(driver(whole)).toBeNull();
    const y = await members(whole);
    for (const [name, [predicate, expected]] of Object.entries(all)) {
      const alone = profilePlan([B.segment(name, predicate)]);
      if (driver(alone) !== null) driven++;
      const x = await members(alone);
      if (JSON.stringify(x[name]) !== JSON.stringify(expected)) failures.push(`${name} alone: ${JSON.stringify(x[name])}, expected ${JSON.stringify(expected)}`);
      if (JSON.stringify(y[name]) !== JSON.stringify(expected)) failures.push(`${name} with the universe: ${JSON.stringify(y[name])}, expected ${JSON.stringify(expected)}`);
    }
    expect(failures).toEqual([]);
    expect(driven).toBeGreaterThanOrEqual(Object.keys(must).length + 15);
  }, 180_000);

  it("carries the same metrics, joins the other scans with their empty values, and keeps profile-less ids out", async () => {
    const metrics = [B.metric("total", a(sum30)), B.metric("avg", a(avg30)), B.metric("views", a(pvCount)), B.metric("country", C("country", "string"))];
    const s = B.segment("s", B.and(B.eq(a(count30), int(0)), a(pv30)), metrics);
    const t = B.segment("t", B.ge(a(count30), int(1)), metrics);
    const driven = profilePlan([s, t]);
    expect(driver(driven)).toBeNull(); // s is decided by page_view, t by purchase: no one scan
    const sAlone = profilePlan([s]);
    expect(driver(sAlone)).toBe("page_view");
    const whole = await evaluatePlan(profilePlan([s, t, B.segment("everyone", TRUE)]), { dataDir: dir.path("data"), asOf: AS_OF });
    const alone = await evaluatePlan(sAlone, { dataDir: dir.path("data"), asOf: AS_OF });
    const tAlone = await evaluatePlan(profilePlan([t]), { dataDir: dir.path("data"), asOf: AS_OF });
    expect(alone.segments.s?.members).toEqual([{ id: "c5", metrics: { total: 0, avg: null, views: 1, country: "'); DROP TABLE x; --" } }]);
    expect(alone.segments.s).toEqual(whole.segments.s);
    expect(tAlone.segments.t?.members.map((m) => m.id)).toEqual(["c1", "c2"]); // not zz: no profile
    expect(tAlone.segments.t).toEqual(whole.segments.t);
  });

  it("with an events universe, driven and whole agree with the hand-computed members", async () => {
    const m = async (plan: PlanIR) => (await members(plan));
    expect((await m(eventsPlan([B.segment("s", B.ge(a(count30), int(1)))]))).s).toEqual(["c1", "c2", "zz"]);
    expect((await m(eventsPlan([B.segment("s", B.ge(a(count30), int(1))), B.segment("everyone", TRUE)]))).s).toEqual(["c1", "c2", "zz"]);
    expect((await m(eventsPlan([B.segment("s", B.eq(a(count30), int(0)))]))).s).toEqual(["c3", "c5", "pv_only"]);
    expect((await m(eventsPlan([B.segment("s", B.and(B.eq(a(count30), int(0)), a(pv30)))]))).s).toEqual(["c5"]);
  });
});
