/**
 * The meaning of every IR construct, checked on the real embedded DuckDB against hand-computed
 * members (see engine-fixture.ts for the rows and why each one is there; the cases live in
 * ../support/semantics-cases.ts and the metrics in semantics-metrics.ts, shared with the runtime's
 * spark-semantics test).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlanIR, SegmentIR } from "../../src/ir.js";
import { evaluatePlan, type EvaluationResult } from "../../src/engine/duckdb-engine.js";
import * as B from "./emit-builder.js";
import { AS_OF, customer, customers, pageView, pageViews, purchase, purchases, toJsonl } from "./engine-fixture.js";
import { aggregates, cases, count30, existsEver, pvCount, sum30 } from "../support/semantics-cases.js";
import { semanticsMetrics } from "../support/semantics-metrics.js";
import { tempDir, type TempDir } from "./temp-project.js";

const { aggRef: a, attr, str, int, num } = B;
const C = (f: string, t: string) => attr("customer", f, t);

function planOf(segments: SegmentIR[], outputs?: string[]): PlanIR {
  return B.plan({ universe: { kind: "profile", source: "customer" }, sources: [customer, purchase, pageView], aggregates, segments, outputs });
}

let dir: TempDir;
beforeAll(() => {
  dir = tempDir("seg-engine-");
  dir.write("data/customer.jsonl", toJsonl(customers));
  dir.write("data/purchase.jsonl", toJsonl(purchases));
  dir.write("data/page_view.jsonl", toJsonl(pageViews));
});
afterAll(() => dir.cleanup());

const evaluate = (plan: PlanIR): Promise<EvaluationResult> => evaluatePlan(plan, { dataDir: dir.path("data"), asOf: AS_OF });
const ids = (r: EvaluationResult, name: string) => r.segments[name]?.members.map((m) => m.id);

describe("DuckDB engine: meaning of the IR", () => {
  let result: EvaluationResult;
  beforeAll(async () => {
    result = await evaluate(planOf(Object.entries(cases).map(([name, [predicate]]) => B.segment(name, predicate))));
  });

  it("loads the fixture without problems", () => {
    expect(result.problems).toEqual([]);
  });

  for (const [name, [, expected]] of Object.entries(cases)) {
    it(`${name}: ${expected.join(", ") || "(none)"}`, () => {
      expect(ids(result, name)).toEqual(expected);
      expect(result.segments[name]?.size).toBe(expected.length);
    });
  }
});

describe("DuckDB engine: segment references, metrics, universes", () => {
  it("chains references a -> b -> c and returns only the outputs", async () => {
    const sa = B.segment("a", B.inList(C("country", "string"), [str("US"), str("CA"), str("DE")]));
    const sb = B.segment("b", B.and(B.seg("a"), a(existsEver)));
    const sc = B.segment("c", B.and(B.seg("b"), B.op("is_null", [C("email", "string?")])));
    const sd = B.segment("d", B.not(B.seg("c")));
    const r = await evaluate(planOf([sa, sb, sc, sd], ["d", "c"]));
    expect(Object.keys(r.segments).sort()).toEqual(["c", "d"]);
    expect(ids(r, "c")).toEqual(["c2"]);
    expect(ids(r, "d")).toEqual(["c1", "c3", "c4", "c5"]);
  });

  it("delivers metrics as JSON in declaration order, timestamps as ISO UTC with milliseconds", async () => {
    const metrics = semanticsMetrics;
    const r = await evaluate(planOf([B.segment("m", a(existsEver), metrics), B.segment("dz", B.eq(a(count30), int(0)), metrics.slice(0, 8)), B.segment("none", B.gt(a(sum30), num(100)))]));
    const weird = "'); DROP TABLE x; --\n\\ é";
    expect(r.segments.m?.members).toEqual([
      { id: "c1", metrics: { total: 125, qty: 4, last: "2026-11-01T00:00:00.000Z", first: "2026-09-02T00:00:00.000Z", avg: 62.5, sms: true, country: "US", ratio: 62.5, days: 0, [`a"b 'c'`]: weird, big: true, overflow: null } },
      { id: "c2", metrics: { total: 10, qty: 4, last: "2026-10-20T10:00:00.000Z", first: "2026-10-15T00:00:00.000Z", avg: 10, sms: null, country: "CA", ratio: 5, days: 1_000_800_000_000 / 86_400_000_000, [`a"b 'c'`]: weird, big: false, overflow: null } },
    ]);
    expect(Object.keys(r.segments.m!.members[0]!.metrics)).toEqual(metrics.map((m) => m.name));
    expect(r.segments.dz?.members.map((m) => [m.id, m.metrics.ratio, m.metrics.avg, m.metrics.last, m.metrics.total])).toEqual([
      ["c3", null, null, null, 0],
      ["c4", null, null, null, 0],
      ["c5", null, null, null, 0],
    ]);
    expect(r.segments.none?.members).toEqual([{ id: "c1", metrics: {} }]);
  });

  it("with an events universe, evaluates every key seen at or before as_of, including entities without purchases", async () => {
    const plan = B.plan({
      universe: { kind: "events", sources: ["purchase", "page_view"] },
      sources: [purchase, pageView],
      aggregates: [existsEver, pvCount],
      segments: [B.segment("everyone", B.ge(a(pvCount), int(0))), B.segment("no_purchase", B.not(a(existsEver)))],
    });
    const r = await evaluate(plan);
    expect(r.problems).toEqual([]);
    expect(ids(r, "everyone")).toEqual(["c1", "c2", "c3", "c5", "pv_only", "zz"]);
    expect(ids(r, "no_purchase")).toEqual(["c3", "c5", "pv_only"]);
  });

  it("evaluates integer keys and returns them as text", async () => {
    const prof = B.source("acct", "profile", { id: "integer", tier: "string" });
    const plan = B.plan({ keyType: "integer", universe: { kind: "profile", source: "acct" }, sources: [prof], aggregates: [], segments: [B.segment("gold", B.eq(B.attr("acct", "tier", "string"), str("gold")))] });
    const d = tempDir("seg-engine-int-");
    try {
      d.write("acct.jsonl", toJsonl([{ id: 10, tier: "gold" }, { id: 9, tier: "gold" }, { id: 11, tier: "silver" }]));
      const r = await evaluatePlan(plan, { dataDir: d.root, asOf: AS_OF });
      expect(r.problems).toEqual([]);
      expect(ids(r, "gold")).toEqual(["10", "9"]);
    } finally {
      d.cleanup();
    }
  });
});
