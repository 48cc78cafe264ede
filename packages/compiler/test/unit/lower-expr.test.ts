import { describe, expect, it } from "vitest";
import type { AggregateIR, ExprIR } from "../../src/ir.js";
import { lowerProgram } from "../../src/lower/index.js";
import { checkSources, lowerSources, lowerWhere } from "../golden/check/support/project.js";

const bool = { kind: "boolean", nullable: false };
const int = { kind: "integer", nullable: false };
const ts = { kind: "timestamp", nullable: false };
const DAY = 86_400_000;

/** The only aggregate of a lowered one-segment program. */
function onlyAggregate(condition: string, extra = ""): AggregateIR {
  const { lowered } = lowerWhere(condition, extra);
  expect(lowered.aggregates.size).toBe(1);
  return [...lowered.aggregates.values()][0]!;
}

/** The right side of a comparison `x op <value>`. */
function rightOf(predicate: ExprIR): ExprIR {
  if (predicate.k !== "op") throw new Error(`not an op: ${predicate.k}`);
  return predicate.args[1]!;
}

describe("windows", () => {
  it.each([
    ["count(purchase in last 30 days) > 0", { olderMs: 30 * DAY, newerMs: 0 }],
    ["count(purchase in the last 2 weeks) > 0", { olderMs: 14 * DAY, newerMs: 0 }],
    ["count(purchase between 60 days and 30 days ago) > 0", { olderMs: 60 * DAY, newerMs: 30 * DAY }],
    ["count(purchase between 2 weeks and 3 days ago) > 0", { olderMs: 14 * DAY, newerMs: 3 * DAY }],
    ["count(purchase ever) > 0", { olderMs: null, newerMs: 0 }],
    ["count(purchase) > 0", { olderMs: null, newerMs: 0 }],
    ["count(purchase in last 90 minutes) > 0", { olderMs: 90 * 60_000, newerMs: 0 }],
  ])("%s", (condition, window) => {
    expect(onlyAggregate(condition).window).toEqual(window);
  });

  it("window tests on timestamps become in_window", () => {
    expect(lowerWhere("customer.signup_time not between 90 days and 30 days ago").predicate).toEqual({
      k: "in_window",
      negated: true,
      arg: { k: "attr", profile: "customer", field: "signup_time", type: ts },
      window: { olderMs: 90 * DAY, newerMs: 30 * DAY },
      type: bool,
    });
  });
});

describe("literals", () => {
  it("dates become timestamps at UTC midnight", () => {
    expect(rightOf(lowerWhere("customer.signup_time < 2025-01-01").predicate)).toEqual({ k: "lit", type: ts, value: "2025-01-01T00:00:00.000Z" });
  });

  it.each([
    ["2026-10-15T09:00:00-04:00", "2026-10-15T13:00:00.000Z"],
    ["2026-10-15T09:00Z", "2026-10-15T09:00:00.000Z"],
    ["2026-10-15T09:00:00.25+02:00", "2026-10-15T07:00:00.250Z"],
    ["2026-10-15T09:00:00.123456Z", "2026-10-15T09:00:00.123Z"],
    ["2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z"],
  ])("timestamp %s is normalised to %s", (written, iso) => {
    expect(rightOf(lowerWhere(`customer.signup_time < ${written}`).predicate)).toEqual({ k: "lit", type: ts, value: iso });
  });

  it("durations become milliseconds", () => {
    const p = lowerWhere("as_of - customer.signup_time >= 104 weeks").predicate;
    expect(rightOf(p)).toEqual({ k: "lit", type: { kind: "duration", nullable: false }, value: 104 * 7 * DAY });
    expect(p).toMatchObject({ k: "op", op: "ge", args: [{ k: "op", op: "sub", type: { kind: "duration", nullable: false } }, {}] });
  });

  it("numbers keep their value; integers and decimals are typed apart", () => {
    expect(rightOf(lowerWhere("count(purchase) > 1_000").predicate)).toEqual({ k: "lit", type: int, value: 1000 });
    expect(rightOf(lowerWhere("count(purchase) > 2.5").predicate)).toEqual({ k: "lit", type: { kind: "number", nullable: false }, value: 2.5 });
    expect(rightOf(lowerWhere("count(purchase) > 1e3").predicate)).toEqual({ k: "lit", type: { kind: "number", nullable: false }, value: 1000 });
  });

  it("strings, booleans and as_of", () => {
    expect(rightOf(lowerWhere('customer.country = "caf\\u00e9"').predicate)).toEqual({ k: "lit", type: { kind: "string", nullable: false }, value: "café" });
    expect(rightOf(lowerWhere("customer.marketing_opt_in = false").predicate)).toEqual({ k: "lit", type: bool, value: false });
    expect(lowerWhere("customer.signup_time <= as_of").predicate).toMatchObject({ args: [{ k: "attr" }, { k: "as_of", type: ts }] });
  });
});

describe("expressions", () => {
  it("parentheses disappear", () => {
    const a = lowerWhere("(count(purchase) > 1) and ((customer.marketing_opt_in))").predicate;
    const b = lowerWhere("count(purchase) > 1 and customer.marketing_opt_in").predicate;
    expect(a).toEqual(b);
    expect(JSON.stringify(a)).not.toContain("Paren");
  });

  it("operators, lists, ranges and null tests", () => {
    expect(lowerWhere('customer.country not in ["DE", "FR"]').predicate).toMatchObject({ k: "in", negated: true, arg: { k: "attr", field: "country" }, items: [{ value: "DE" }, { value: "FR" }] });
    expect(lowerWhere("customer.birth_year between 1997 and 2012").predicate).toMatchObject({ k: "between", negated: false, low: { value: 1997 }, high: { value: 2012 } });
    expect(lowerWhere("customer.email is not null").predicate).toMatchObject({ k: "op", op: "is_not_null", args: [{ k: "attr", field: "email" }] });
    expect(lowerWhere("not customer.marketing_opt_in or -1 < 0").predicate).toMatchObject({ op: "or", args: [{ op: "not" }, { op: "lt", args: [{ op: "neg" }, {}] }] });
  });

  it("negated string tests become not(...)", () => {
    expect(lowerWhere('lower(customer.email) not ends with ".invalid"').predicate).toEqual({
      k: "op",
      op: "not",
      args: [
        {
          k: "op",
          op: "ends_with",
          args: [
            { k: "call", fn: "lower", args: [{ k: "attr", profile: "customer", field: "email", type: { kind: "string", nullable: true } }], type: { kind: "string", nullable: true } },
            { k: "lit", type: { kind: "string", nullable: false }, value: ".invalid" },
          ],
          type: bool,
        },
      ],
      type: bool,
    });
  });

  it("segment references become segment nodes and dependencies", () => {
    const lowered = lowerSources("segment a {\n  where true\n}\nsegment b {\n  where not in a\n}\n");
    const b = lowered.segments.get("b")!;
    expect(b.predicate).toEqual({ k: "op", op: "not", args: [{ k: "segment", name: "a", type: bool }], type: bool });
    expect(b.dependencies).toEqual(["a"]);
  });

  it("filters read event fields; a bare field and a full one are the same", () => {
    const a = onlyAggregate('count(page_view where device = "mobile") > 0');
    const b = onlyAggregate('count(page_view where page_view.device = "mobile") > 0');
    expect(a).toEqual(b);
    expect(a.filter).toMatchObject({ k: "op", op: "eq", args: [{ k: "field", source: "page_view", field: "device" }, { k: "lit", value: "mobile" }] });
  });

  it("aggregate results carry the language's types", () => {
    expect(onlyAggregate("sum(purchase.quantity) > 0")).toMatchObject({ fn: "sum", source: "purchase", field: "quantity", filter: null, type: int });
    expect(onlyAggregate("avg(purchase.amount) > 0").type).toEqual({ kind: "number", nullable: true });
    expect(onlyAggregate('min(purchase.category) = "toys"').type).toMatchObject({ kind: "string", nullable: true });
    expect(onlyAggregate("exists(purchase)")).toMatchObject({ fn: "exists", field: null, type: bool });
  });
});

describe("constants are inlined", () => {
  it("a constant's expression replaces each use, through other constants", () => {
    const extra = "const launch = 2026-10-15T09:00:00-04:00\nconst cutoff = launch + 2 weeks\n";
    const p = lowerWhere("customer.signup_time < cutoff", extra).predicate;
    expect(JSON.stringify(p)).not.toContain('"const"');
    expect(rightOf(p)).toEqual({
      k: "op",
      op: "add",
      args: [
        { k: "lit", type: ts, value: "2026-10-15T13:00:00.000Z" },
        { k: "lit", type: { kind: "duration", nullable: false }, value: 14 * DAY },
      ],
      type: ts,
    });
  });

  it("an aggregate written in a constant and the same one written in place share one id", () => {
    const { predicate, lowered } = lowerWhere("spend > 10 and sum(purchase.amount in last 30 days) < 1000", "const spend = sum(purchase.amount in last 30 days)\n");
    expect(lowered.aggregates.size).toBe(1);
    const id = [...lowered.aggregates.keys()][0]!;
    expect(id).toMatch(/^agg_[0-9a-f]{10}$/);
    expect(predicate).toMatchObject({ args: [{ args: [{ k: "agg", id }, {}] }, { args: [{ k: "agg", id }, {}] }] });
    expect(lowered.segments.get("s")!.aggregates).toEqual([id]);
  });

  it("a constant used in a filter is inlined into the aggregate", () => {
    const a = onlyAggregate("count(purchase where amount > big) > 0", "const big = 100\n");
    expect(a.filter).toMatchObject({ op: "gt", args: [{ k: "field", field: "amount" }, { k: "lit", value: 100 }] });
  });
});

describe("aggregate sharing", () => {
  it("equal aggregates in different segments and files get one id; different ones do not", () => {
    const lowered = lowerSources({
      "a.seg": "segment a {\n  metric n = count(purchase in last 30 days)\n  where sum(purchase.amount in last 30 days) > 1\n}\n",
      "b.seg": "segment b {\n  where sum(purchase.amount in last 30 days) < 5 and sum(purchase.amount in last 31 days) > 0\n}\n",
    });
    expect(lowered.aggregates.size).toBe(3);
    const a = lowered.segments.get("a")!;
    const b = lowered.segments.get("b")!;
    const shared = a.aggregates.filter((id) => b.aggregates.includes(id));
    expect(shared).toHaveLength(1);
    expect(lowered.aggregates.get(shared[0]!)).toMatchObject({ fn: "sum", field: "amount", window: { olderMs: 30 * DAY } });
    expect(a.aggregates).toEqual([...a.aggregates].sort());
  });

  it("the id depends only on the content", () => {
    const one = onlyAggregate("count(purchase in last 7 days where amount > 5) > 0");
    const two = onlyAggregate("count(purchase in the last 1 week where (amount > 5)) >= 1", "const unrelated = 1\nsegment other {\n  where unrelated > 0\n}\n");
    expect(two.id).toBe(one.id);
    expect(onlyAggregate("count(purchase in last 7 days where amount > 6) > 0").id).not.toBe(one.id);
  });
});

describe("segments", () => {
  it("carry their texts, metrics and settings", () => {
    const lowered = lowerSources('segment s "T" {\n  description "d"\n  owner "o"\n  tags ["a"]\n  refresh every 5 minutes\n  metric m = customer.country\n  where true\n}\n');
    expect(lowered.segments.get("s")).toMatchObject({
      name: "s",
      title: "T",
      description: "d",
      owner: "o",
      tags: ["a"],
      entity: "customer",
      predicate: { k: "lit", type: bool, value: true },
      metrics: [{ name: "m", expr: { k: "attr", profile: "customer", field: "country" } }],
      dependencies: [],
      aggregates: [],
      settings: { refreshMs: 300_000, ttlMs: 600_000 },
      file: "a.seg",
    });
  });

  it("take the project defaults for refresh and ttl", () => {
    const project = { entity: "customer", defaults: { refresh: { ms: 600_000 }, ttl: { ms: 3_600_000 } } };
    const lowered = lowerSources("segment s {\n  where true\n}\nsegment t {\n  ttl 2 hours\n  where true\n}\n", { project });
    expect(lowered.segments.get("s")!.settings).toEqual({ refreshMs: 600_000, ttlMs: 3_600_000 });
    expect(lowered.segments.get("t")!.settings).toEqual({ refreshMs: 600_000, ttlMs: 7_200_000 });
    const builtIn = lowerSources("segment s {\n  where true\n}\n");
    expect(builtIn.segments.get("s")!.settings).toEqual({ refreshMs: 3_600_000, ttlMs: 7_200_000 });
  });

  it("leave out segments with errors and the segments depending on them", () => {
    const r = checkSources("segment bad {\n  where count(purchse) > 1\n}\nsegment uses_bad {\n  where in bad\n}\nsegment fine {\n  where true\n}\n");
    expect(r.diagnostics.map((d) => d.code)).toEqual(["SEG030"]);
    expect([...lowerProgram(r.program).segments.keys()]).toEqual(["fine"]);
  });
});
