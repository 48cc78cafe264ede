import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildPlan, compileProject, DuckDbDialect, emitPlan, loweredSegments, SparkDialect } from "@seg/compiler";

const examples = fileURLToPath(new URL("../../../../examples/", import.meta.url));

describe("one combined plan for many segments", () => {
  const compiled = compileProject({ cwd: examples, env: {}, paths: [] });
  const { ok } = loweredSegments(compiled);
  const plan = buildPlan(compiled.lowered!, ok);

  it("computes every distinct aggregate once, whatever number of segments use it", () => {
    const ids = plan.aggregates.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    const perSegment = plan.segments.reduce((n, s) => n + s.aggregates.length, 0);
    expect(perSegment).toBeGreaterThan(ids.length); // segments really do share aggregates
    const canonical = plan.aggregates.map((a) => JSON.stringify({ ...a, id: undefined }));
    expect(new Set(canonical).size).toBe(canonical.length);
  });

  it.each([new DuckDbDialect(), new SparkDialect()])("scans each event source once in %s", (dialect) => {
    const sql = emitPlan(plan, dialect).sql;
    const q = (name: string) => dialect.quoteIdentifier(name);
    for (const source of ["purchase", "page_view", "add_to_cart"]) {
      const scans = sql.split(`FROM ${q(source)} AS`).length - 1;
      expect(scans, source).toBe(1);
    }
    expect(plan.outputs.length).toBe(34);
  });
});
