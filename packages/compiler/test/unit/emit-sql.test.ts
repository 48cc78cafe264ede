/** The emitted SQL text: golden files for both dialects, determinism, and the query's shape. */
import { describe, expect, it } from "vitest";
import type { PlanIR } from "../../src/ir.js";
import { DuckDbDialect } from "../../src/emit/duckdb.js";
import { emitPlan, emitSegmentSql } from "../../src/emit/emit-plan.js";
import { SparkDialect } from "../../src/emit/spark.js";
import { evaluatePlan } from "../../src/engine/duckdb-engine.js";
import * as B from "./emit-builder.js";
import { tempDir } from "./temp-project.js";

const customer = B.source("customer", "profile", { customer_id: "string", country: "string", signup_time: "timestamp", 'a"b': "string?" });
const purchase = B.source("purchase", "event", { customer_id: "string", ts: "timestamp", amount: "number", coupon: "string?" });
const coupon = B.field("purchase", "coupon", "string?");

function smallPlan(): PlanIR {
  const spend = B.aggregate(purchase, "sum", "amount", B.last(30));
  const older = B.aggregate(purchase, "count", null, B.ago(60, 30));
  const welcome = B.aggregate(purchase, "count_distinct", "coupon", B.EVER, B.op("matches", [coupon, B.str("^WELCOME\\d{2}$")]));
  const last = B.aggregate(purchase, "last_seen", null);
  const highValue = B.segment("high_value", B.and(B.gt(B.aggRef(spend), B.num(1000)), B.ge(B.aggRef(older), B.int(1))), [B.metric("total_spend", B.aggRef(spend))]);
  const vip = B.segment(
    "vip",
    B.and(B.seg("high_value"), B.inList(B.attr("customer", "country", "string"), [B.str("US"), B.str("CA")]), B.not(B.gt(B.aggRef(welcome), B.int(0))), B.op("is_not_null", [B.attr("customer", 'a"b', "string?")])),
    [B.metric("last_purchase", B.aggRef(last)), B.metric("days_idle", B.call("days_since", [B.aggRef(last)], "number?")), B.metric("note", B.str("it's \\ ${x}"))],
  );
  return B.plan({ universe: { kind: "profile", source: "customer" }, sources: [customer, purchase], aggregates: [spend, older, welcome, last], segments: [highValue, vip] });
}

describe("emitted SQL", () => {
  it("matches the golden files", async () => {
    await expect(emitPlan(smallPlan(), new DuckDbDialect()).sql).toMatchFileSnapshot("../golden/emit/small.duckdb.sql");
    await expect(emitPlan(smallPlan(), new SparkDialect()).sql).toMatchFileSnapshot("../golden/emit/small.spark.sql");
  });

  it("is deterministic", () => {
    for (const d of [new DuckDbDialect(), new SparkDialect()]) {
      const a = emitPlan(smallPlan(), d);
      const b = emitPlan(JSON.parse(JSON.stringify(smallPlan())) as PlanIR, d);
      expect(b).toEqual(a);
      expect(a.parameters).toEqual(["as_of"]);
    }
  });

  it("scans each event source once, bounded by the longest window when every aggregate has one", () => {
    const sql = emitPlan(smallPlan(), new DuckDbDialect()).sql;
    expect(sql.match(/FROM "purchase"/g)).toHaveLength(1);
    expect(sql).toContain(`WHERE e."ts" <= CAST($as_of AS TIMESTAMP)\n`);
    expect(sql).not.toMatch(/e\."ts" > CAST\(\$as_of AS TIMESTAMP\) - INTERVAL '60 days'\n\s+GROUP/);
    const bounded = smallPlan();
    bounded.segments = [bounded.segments[0]!];
    bounded.outputs = ["high_value"];
    const boundedSql = emitPlan(bounded, new DuckDbDialect()).sql;
    expect(boundedSql).toContain(`    AND e."ts" > CAST($as_of AS TIMESTAMP) - INTERVAL '60 days'\n  GROUP BY`);
    expect(boundedSql).not.toContain("COUNT(DISTINCT");
  });

  it("emits one segment with only what it needs", () => {
    const sql = emitSegmentSql(smallPlan(), "high_value", new SparkDialect()).sql;
    expect(sql).toContain("'high_value' AS segment");
    expect(sql).not.toContain("'vip'");
    expect(sql).not.toContain("country");
    expect(sql).not.toContain("rlike");
    expect(() => emitSegmentSql(smallPlan(), "nope", new SparkDialect())).toThrow(/no segment "nope"/);
  });

  it("returns an empty, typed result for a plan without outputs", () => {
    expect(emitPlan({ ...smallPlan(), outputs: [] }, new DuckDbDialect()).sql).toContain("WHERE FALSE");
  });

  it("keeps its CTE names apart from sources called universe, base or events_1", async () => {
    const universe = B.source("universe", "profile", { id: "string" });
    const base = B.source("base", "event", { id: "string", ts: "timestamp" });
    const ev = B.source("events_1", "event", { id: "string", ts: "timestamp" });
    const n = B.aggregate(base, "count", null);
    const m = B.aggregate(ev, "count", null);
    const plan = B.plan({ universe: { kind: "profile", source: "universe" }, sources: [universe, base, ev], aggregates: [n, m], segments: [B.segment("s", B.and(B.eq(B.aggRef(n), B.int(1)), B.eq(B.aggRef(m), B.int(0))))] });
    const sql = emitPlan(plan, new DuckDbDialect()).sql;
    expect(sql).toContain("_universe AS (");
    const dir = tempDir("seg-cte-");
    try {
      dir.write("universe.jsonl", '{"id":"u1"}\n{"id":"u2"}\n');
      dir.write("base.jsonl", '{"id":"u1","ts":"2026-01-01T00:00:00Z"}\n');
      dir.write("events_1.jsonl", "");
      const r = await evaluatePlan(plan, { dataDir: dir.root, asOf: "2026-11-01T00:00:00Z" });
      expect(r.problems).toEqual([]);
      expect(r.segments.s?.members.map((x) => x.id)).toEqual(["u1"]);
    } finally {
      dir.cleanup();
    }
  });
});
