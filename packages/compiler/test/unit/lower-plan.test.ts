import { describe, expect, it } from "vitest";
import { IR_VERSION } from "../../src/ir.js";
import { buildPlan, lowerProgram, PlanError } from "../../src/lower/index.js";
import { sourceLookback } from "../../src/pipeline/pipeline-spec.js";
import { checkSources, eventSchema, exampleRules, lowerSources, profileSchema, registryOf } from "../golden/check/support/project.js";

const seg = (name: string, condition: string): string => `segment ${name} {\n  where ${condition}\n}\n`;

describe("dependency order", () => {
  // d -> b -> a, d -> c -> a, e independent; written in a scrambled order across files.
  const lowered = lowerSources({
    "x.seg": seg("d", "in c and in b") + seg("e", "true"),
    "y.seg": seg("c", "in a") + seg("b", "in a and count(purchase) > 1"),
    "z.seg": seg("a", "customer.marketing_opt_in"),
  });

  it("puts every segment after the segments it uses, ties by name", () => {
    const plan = buildPlan(lowered, ["d"]);
    expect(plan.segments.map((s) => s.name)).toEqual(["a", "b", "c", "d"]);
    expect(plan.outputs).toEqual(["d"]);
  });

  it("includes transitive dependencies and nothing else", () => {
    expect(buildPlan(lowered, ["c", "e"]).segments.map((s) => s.name)).toEqual(["a", "c", "e"]);
    expect(buildPlan(lowered, ["e", "c", "e"]).outputs).toEqual(["c", "e"]);
  });

  it("lists direct dependencies per segment", () => {
    expect(lowered.segments.get("d")!.dependencies).toEqual(["b", "c"]);
  });
});

describe("plan contents", () => {
  const lowered = lowerSources({
    "a.seg": "const spend = sum(purchase.amount in last 30 days)\n" + seg("big", "spend > 100") + seg("big_mobile", "spend > 100 and count(page_view where device = \"mobile\") > 2"),
    "b.seg": seg("domestic", 'customer.country = "US"'),
  });

  it("computes each aggregate once, sorted by id", () => {
    const plan = buildPlan(lowered, ["big_mobile", "big"]);
    expect(plan.aggregates.map((a) => a.fn)).toHaveLength(2);
    const ids = plan.aggregates.map((a) => a.id);
    expect(ids).toEqual([...ids].sort());
    expect(plan.segments.find((s) => s.name === "big")!.aggregates).toHaveLength(1);
  });

  it("reads the sources it needs plus the universe, sorted by name", () => {
    const plan = buildPlan(lowered, ["big_mobile"]);
    expect(plan.universe).toEqual({ kind: "profile", source: "customer" });
    expect(plan.sources.map((s) => s.name)).toEqual(["customer", "page_view", "purchase"]);
    expect(buildPlan(lowered, ["domestic"]).sources.map((s) => s.name)).toEqual(["customer"]);
    const purchase = plan.sources.find((s) => s.name === "purchase")!;
    expect(purchase).toMatchObject({ kind: "event", entity: "customer", key: "customer_id", time: "ts", topic: "seg.events.purchase" });
    expect(purchase.fields[0]).toEqual({ name: "event_id", type: { kind: "string", nullable: false } });
    expect(purchase.sparkDdl).toContain("`amount` DOUBLE");
    expect(purchase.schemaHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("has the IR version, the entity and the key type", () => {
    const plan = buildPlan(lowered, ["domestic"]);
    expect(plan).toMatchObject({ irVersion: IR_VERSION, entity: "customer", keyType: { kind: "string", nullable: false } });
  });

  it("rejects requests that cannot be planned", () => {
    expect(() => buildPlan(lowered, ["nope"])).toThrow(PlanError);
    expect(() => buildPlan(lowered, [])).toThrow(PlanError);
  });
});

describe("universe without a profile", () => {
  const registry = registryOf([
    eventSchema("session_start", "session", { device: { type: "string" } }, ["device"]),
    eventSchema("click", "session", { target: { type: "string" } }),
    eventSchema("order", "customer", { total: { type: "number" } }),
  ]);

  it("is every event source of the entity, sorted by name", () => {
    const lowered = lowerSources("segment s {\n  entity session\n  where count(session_start) > 1\n}\n", { registry, project: { entity: "customer", defaults: {} } });
    const plan = buildPlan(lowered, ["s"]);
    expect(plan.universe).toEqual({ kind: "events", sources: ["click", "session_start"] });
    expect(plan.sources.map((s) => s.name)).toEqual(["click", "session_start"]);
    expect(plan.keyType).toEqual({ kind: "string", nullable: false });
  });

  it("needs all history of every universe source, and the longest window of the others", () => {
    const lowered = lowerSources("segment s {\n  entity session\n  where count(session_start in last 7 days) > 1\n}\n", { registry, project: { entity: "customer", defaults: {} } });
    const lookback = sourceLookback(buildPlan(lowered, ["s"]));
    // click only defines who exists, yet a session that clicked once, long ago, is still in the universe.
    expect(Object.fromEntries(lookback)).toEqual({ click: null, session_start: null });
    const withProfile = lowerSources(seg("c", "count(order in last 30 days) > 0 and count(order in last 2 days) = 0"), {
      registry: registryOf([eventSchema("order", "customer", { total: { type: "number" } }), profileSchema("customer", "customer", { id: { type: "string" } }, ["id"])]),
      project: { entity: "customer", defaults: {} },
    });
    const plan = buildPlan(withProfile, ["c"]);
    expect(plan.universe.kind).toBe("profile");
    expect(Object.fromEntries(sourceLookback(plan))).toEqual({ order: 30 * 86_400_000 });
  });

  it("refuses segments of different entities in one plan", () => {
    const lowered = lowerSources("segment s {\n  entity session\n  where true\n}\nsegment c {\n  where count(order) > 0\n}\n", { registry, project: { entity: "customer", defaults: {} } });
    expect(() => buildPlan(lowered, ["s", "c"])).toThrow(PlanError);
  });
});

describe("determinism", () => {
  it("gives byte-identical JSON for the same input, whatever the file order", () => {
    const files = exampleRules();
    const names = [...checkSources(files).program.segments.keys()];
    const once = JSON.stringify(buildPlan(lowerProgram(checkSources(files).program), names));
    const again = JSON.stringify(buildPlan(lowerProgram(checkSources(files).program), names));
    const reversed = JSON.stringify(buildPlan(lowerProgram(checkSources([...files].reverse()).program), [...names].reverse()));
    expect(again).toBe(once);
    expect(reversed).toBe(once);
  });

  it("plans every example segment on its own, and all of them together", () => {
    const lowered = lowerProgram(checkSources(exampleRules()).program);
    expect(lowered.segments.size).toBe(34);
    for (const name of lowered.segments.keys()) {
      const plan = buildPlan(lowered, [name]);
      expect(plan.segments[plan.segments.length - 1]!.name).toBe(name);
      // Plain JSON: survives a round trip unchanged.
      expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      for (const s of plan.segments) for (const id of s.aggregates) expect(plan.aggregates.some((a) => a.id === id)).toBe(true);
    }
    const all = buildPlan(lowered, [...lowered.segments.keys()]);
    expect(all.outputs).toHaveLength(34);
    const vip = all.segments.findIndex((s) => s.name === "vip_outreach");
    for (const dep of ["high_value", "big_basket_buyers", "churned", "email_reachable"]) expect(all.segments.findIndex((s) => s.name === dep)).toBeLessThan(vip);
    const holiday = all.segments.findIndex((s) => s.name === "holiday_previewers");
    expect(all.segments.findIndex((s) => s.name === "churned")).toBeLessThan(holiday);
  });

  it("shares the spend aggregate between lapsing_spenders, accelerating_spenders, high_value and vip_outreach", () => {
    const lowered = lowerProgram(checkSources(exampleRules()).program);
    const spend = [...lowered.aggregates.values()].find((a) => a.fn === "sum" && a.field === "amount" && a.window.olderMs === 30 * 86_400_000 && a.window.newerMs === 0 && a.filter === null)!;
    for (const name of ["lapsing_spenders", "accelerating_spenders", "high_value", "vip_outreach"]) {
      expect(lowered.segments.get(name)!.aggregates).toContain(spend.id);
    }
  });
});
