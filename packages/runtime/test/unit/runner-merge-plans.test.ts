/**
 * Merged plans: evaluating the example project's pipelines with ONE merged plan gives, for every
 * segment, exactly what its own plan gives alone (embedded engine over the example data).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DuckDbDialect, buildPipelines, compileProject, emitPlan, outputSettings } from "@seg/compiler";
import { evaluatePlan } from "@seg/compiler/engine";
import { PlanMergeError, mergeConflict, mergePlans } from "@seg/runtime";
import { repoRoot } from "../support/deploy-fixtures.js";

const examples = join(repoRoot, "examples");
const AS_OF = "2026-11-01T00:00:00Z";

function exampleSpecs() {
  const compiled = compileProject({ cwd: examples, env: {}, paths: [] });
  const names = [...compiled.lowered!.segments.keys()];
  return buildPipelines(compiled.lowered!, names, outputSettings(compiled.project!.runtime));
}

describe("mergePlans", () => {
  it("one merged plan gives every segment what its own plan gives", async () => {
    const specs = exampleSpecs();
    const merged = mergePlans(specs.map((s) => s.plan));
    expect(merged.outputs).toEqual(specs.map((s) => s.id).sort());
    // each source once, each aggregate once
    expect(new Set(merged.sources.map((s) => s.name)).size).toBe(merged.sources.length);
    expect(new Set(merged.aggregates.map((a) => a.id)).size).toBe(merged.aggregates.length);
    const together = await evaluatePlan(merged, { dataDir: join(examples, "data"), asOf: AS_OF });
    expect(together.problems.filter((p) => p.severity === "error")).toEqual([]);
    for (const spec of specs) {
      const alone = await evaluatePlan(spec.plan, { dataDir: join(examples, "data"), asOf: AS_OF });
      expect(together.segments[spec.id], spec.id).toEqual(alone.segments[spec.id]);
    }
    // The merged SQL scans each event source once.
    const sql = emitPlan(merged, new DuckDbDialect()).sql;
    for (const s of merged.sources.filter((x) => x.kind === "event")) {
      expect(sql.split(`FROM "${s.name}" AS e`).length - 1, s.name).toBeLessThanOrEqual(1);
    }
  });

  it("keeps dependency order and is the same whatever the order of the plans", () => {
    const specs = exampleSpecs();
    const a = mergePlans(specs.map((s) => s.plan));
    const b = mergePlans([...specs].reverse().map((s) => s.plan));
    expect(b).toEqual(a);
    const position = new Map(a.segments.map((s, i) => [s.name, i]));
    for (const s of a.segments) for (const d of s.dependencies) expect(position.get(d)!).toBeLessThan(position.get(s.name)!);
  });

  it("refuses plans that disagree", () => {
    const [x, y] = exampleSpecs();
    const other = structuredClone(y!.plan);
    other.entity = "account";
    expect(mergeConflict(x!.plan, other)).toMatch(/entities differ/);
    expect(() => mergePlans([x!.plan, other])).toThrow(PlanMergeError);
    const changed = structuredClone(y!.plan);
    changed.sources[0]!.schemaHash = "different";
    expect(mergeConflict(x!.plan, changed)).toMatch(/source .* differs/);
    expect(() => mergePlans([])).toThrow(PlanMergeError);
  });
});
