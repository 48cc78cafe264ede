import { describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import {
  checkRetention,
  describeChange,
  formatMs,
  formatPlan,
  planDeploy,
  planSummary,
  retentionNeeds,
  shortVersion,
  type DeployedState,
  type RetentionAdmin,
} from "@seg/runtime";
import { compileExample, variant } from "../support/deploy-fixtures.js";

const example = compileExample();
const spec = (id: string): PipelineSpec => example.specs.find((s) => s.id === id)!;

function stateOf(specs: PipelineSpec[], retired: string[] = []): DeployedState {
  return {
    pipelines: new Map(specs.map((s) => [s.id, { segment: s.id, version: s.version, status: retired.includes(s.id) ? "retired" : "active", spec: s, lastDeployId: 1 }])),
    schemas: new Map(example.schemas.map((s) => [s.name, { hashes: new Set([s.hash]), latest: 1 }])),
  };
}

describe("planDeploy", () => {
  it("adds every segment and registers every schema on an empty store", () => {
    const plan = planDeploy({ pipelines: new Map(), schemas: new Map() }, example.specs, example.schemas);
    expect(plan.added.map((e) => e.segment)).toEqual(example.specs.map((s) => s.id).sort());
    expect(plan.added.every((e) => e.reason === "new")).toBe(true);
    expect(plan.schemas.map((s) => [s.name, s.version, s.isNew])).toEqual(example.schemas.map((s) => [s.name, 1, true]).sort());
    expect(plan.noop).toBe(false);
  });

  it("is a no-op when nothing changed", () => {
    const plan = planDeploy(stateOf(example.specs), example.specs, example.schemas);
    expect(plan.noop).toBe(true);
    expect(plan.unchanged).toHaveLength(example.specs.length);
    expect(planSummary(plan)).toBe("no changes");
    expect(formatPlan(plan)).toEqual([`= ${example.specs.length} unchanged`]);
  });

  it("reports a changed segment with the part that changed, and removals with their Redis keys", () => {
    const changed = variant(spec("churned"), (s) => void (s.sql = { ...s.sql, duckdb: s.sql.duckdb + "\n-- edited" }));
    const specs = example.specs.filter((s) => s.id !== "high_value").map((s) => (s.id === "churned" ? changed : s));
    const plan = planDeploy(stateOf(example.specs), specs, example.schemas);
    expect(plan.changed.map((e) => [e.segment, e.reason, e.fromVersion, e.toVersion])).toEqual([
      ["churned", "sql changed", spec("churned").version, changed.version],
    ]);
    expect(plan.removed).toHaveLength(1);
    expect(plan.removed[0]!.redis).toEqual({
      segment: "high_value",
      keys: ["seg:segment:high_value:members", "seg:segment:high_value:meta", "seg:segment:high_value:metrics"],
    });
    expect(formatPlan(plan)).toEqual([
      "~ changed churned: sql changed",
      "- removed high_value (retired)",
      `= ${example.specs.length - 2} unchanged`,
    ]);
    expect(planSummary(plan)).toBe(`+0 ~1 -1 =${example.specs.length - 2}`);
  });

  it("retires a segment stored by an older seg (per-entity hashes, no metrics key) with its members and meta keys", () => {
    const legacy = variant(spec("high_value"), (s) => {
      const redis = s.outputs.redis as unknown as Record<string, string>;
      delete redis["metricsKey"];
      redis["entityKeyPrefix"] = "seg:entity:customer:";
    });
    const plan = planDeploy(stateOf([...example.specs.filter((s) => s.id !== "high_value"), legacy]), example.specs.filter((s) => s.id !== "high_value"), example.schemas);
    expect(plan.removed.map((r) => r.redis)).toEqual([{ segment: "high_value", keys: ["seg:segment:high_value:members", "seg:segment:high_value:meta"] }]);
  });

  it("re-adds a retired segment as reactivated, and ignores retired segments missing from the project", () => {
    const plan = planDeploy(stateOf(example.specs, ["churned", "at_risk"]), example.specs.filter((s) => s.id !== "at_risk"), example.schemas);
    expect(plan.added.map((e) => [e.segment, e.reason])).toEqual([["churned", "reactivated"]]);
    expect(plan.removed).toEqual([]);
    expect(formatPlan(plan)[0]).toBe("+ added churned (reactivated)");
  });

  it("registers a schema whose hash is new as the next version of its name", () => {
    const purchase = example.schemas.find((s) => s.name === "purchase")!;
    const plan = planDeploy(stateOf(example.specs), example.specs, [{ ...purchase, hash: "f".repeat(64) }]);
    expect(plan.schemas.map((s) => [s.name, s.version, s.isNew])).toEqual([["purchase", 2, false]]);
    expect(plan.noop).toBe(false);
  });

  it("refuses a segment given twice", () => {
    expect(() => planDeploy(stateOf([]), [spec("churned"), spec("churned")], [])).toThrow(/twice/);
  });
});

describe("describeChange", () => {
  const base = spec("cart_abandoners");
  it.each([
    ["settings changed (refresh)", (s: PipelineSpec) => void (s.refreshSeconds = 60)],
    ["settings changed (ttl)", (s: PipelineSpec) => void (s.outputs.ttlSeconds = 5)],
    ["metadata changed (description, owner)", (s: PipelineSpec) => void (s.metadata = { ...s.metadata, description: "x", owner: "y" })],
    ["dependencies changed", (s: PipelineSpec) => void (s.dependencies = ["churned"])],
    ["sources changed (add_to_cart)", (s: PipelineSpec) => void (s.sources = s.sources.map((x) => (x.name === "add_to_cart" ? { ...x, topic: "other" } : x)))],
    [
      "sql, settings and metadata changed (settings: refresh; metadata: title)",
      (s: PipelineSpec) => {
        s.sql = { ...s.sql, spark: "select 1" };
        s.refreshSeconds = 1;
        s.metadata = { ...s.metadata, title: "t" };
      },
    ],
  ])("%s", (reason, change) => {
    expect(describeChange(base, variant(base, change)).reason).toBe(reason);
  });
});

describe("retention", () => {
  it("needs, per event topic, the longest lookback of the segments reading it", () => {
    const needs = retentionNeeds([spec("high_value"), spec("engaged_readers"), spec("cart_abandoners")]);
    expect(needs.get("seg.events.page_view")?.ms).toBe(30 * 86_400_000);
    expect(needs.get("seg.events.purchase")?.bySegment.get("high_value")).toBe(30 * 86_400_000);
    // last_seen(purchase) reads all history
    expect(needs.get("seg.events.purchase")?.bySegment.get("cart_abandoners")).toBeNull();
    expect(needs.get("seg.events.purchase")?.ms).toBeNull();
    expect([...needs.keys()].some((t) => t.includes("profiles"))).toBe(false);
  });

  it("warns for topics that keep less than that, notes missing topics, accepts -1", async () => {
    const admin: RetentionAdmin = {
      listTopics: async () => ["seg.events.purchase", "seg.events.add_to_cart"],
      describeConfigs: async ({ resources }) => ({
        throttleTime: 0,
        resources: resources.map((r) => ({
          resourceName: r.name,
          resourceType: r.type,
          errorCode: 0,
          errorMessage: "",
          configEntries: [
            {
              configName: "retention.ms",
              configValue: r.name === "seg.events.purchase" ? String(7 * 86_400_000) : "-1",
              isDefault: false,
              configSource: 1,
              isSensitive: false,
              readOnly: false,
              configSynonyms: [],
            },
          ],
        })),
      }),
    };
    const report = await checkRetention(admin, [spec("high_value"), spec("engaged_readers")]);
    expect(report.warnings.map((w) => [w.topic, w.segments])).toEqual([["seg.events.purchase", ["high_value"]]]);
    expect(report.warnings[0]!.message).toContain("keeps events for 7 days (retention.ms=604800000) but high_value needs 30 days");
    const all = await checkRetention(admin, [spec("high_value"), spec("cart_abandoners")]);
    expect(all.warnings.map((w) => [w.topic, w.segments, w.neededMs])).toEqual([["seg.events.purchase", ["cart_abandoners", "high_value"], null]]);
    expect(all.warnings[0]!.message).toContain("need all history");
    expect(all.checked).toEqual(["seg.events.add_to_cart", "seg.events.purchase"]);
    expect(report.notes).toEqual([expect.stringContaining("topic seg.events.page_view does not exist yet")]);
  });

  it("formats durations for people", () => {
    expect([formatMs(86_400_000 * 30), formatMs(3_600_000), formatMs(90_000), formatMs(1_500)]).toEqual(["30 days", "1 hour", "90 seconds", "1.5 seconds"]);
    expect(shortVersion(`sha256:${"ab".repeat(32)}`)).toBe("sha256:abababababab");
  });
});
