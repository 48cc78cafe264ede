/**
 * The random rule generator of the differential tests writes rules `seg check` accepts, is
 * reproducible from its seed, and covers the language (every aggregate, string test and window).
 */
import { describe, expect, it } from "vitest";
import { renderDiagnostics } from "@seg/dsl";
import { compileProject, loweredSegments } from "../../src/index.js";
import { DIFF_CONFIG, DIFF_SCHEMAS, entityIds, generateRows, generateRules, Rng } from "../support/well-typed-rules.js";
import { tempDir } from "./temp-project.js";

describe("well-typed random rules", () => {
  it.each([1, 2, 3])("seed %i: every rule checks without errors and lowers", (seed) => {
    const dir = tempDir("seg-well-typed-");
    try {
      dir.write("seg.config.json", DIFF_CONFIG);
      for (const [file, schema] of Object.entries(DIFF_SCHEMAS)) dir.write(`schemas/${file}`, schema);
      const rules = generateRules(new Rng(seed), 120);
      dir.write("rules/generated.seg", rules.map((r) => r.text).join("\n"));
      const compiled = compileProject({ cwd: dir.root, env: {}, paths: [dir.path("rules")] });
      const errors = compiled.diagnostics.filter((d) => d.severity === "error");
      expect(errors.length, renderDiagnostics(errors, compiled.sourceText).slice(0, 4000)).toBe(0);
      expect(loweredSegments(compiled).ok).toHaveLength(120);
    } finally {
      dir.cleanup();
    }
  });

  it("is reproducible from the seed and covers the language", () => {
    const text = (seed: number) => generateRules(new Rng(seed), 200).map((r) => r.text).join("\n");
    expect(text(7)).toBe(text(7));
    expect(text(7)).not.toBe(text(8));
    const all = text(7);
    for (const construct of ["count(", "count_distinct(", "sum(", "avg(", "min(", "max(", "first_seen(", "last_seen(", "exists(", " matches ", " contains ", " starts with ", " ends with ", " between ", " in [", " is null", " is not null", "upper(", "lower(", " in last ", " ago", " ever", "not in r", "metric m0"]) {
      expect(all, construct).toContain(construct);
    }
  });

  it("generates rows with nulls, missing fields, entities without events and boundary timestamps", () => {
    const rng = new Rng(5);
    const ids = entityIds(40);
    const orders = generateRows(rng, DIFF_SCHEMAS["order.schema.json"]!, ids);
    const members = generateRows(rng, DIFF_SCHEMAS["member.schema.json"]!, ids);
    expect(members).toHaveLength(40);
    expect(new Set(orders.map((o) => o.user_id)).size).toBeLessThan(40);
    expect(orders.some((o) => o.amount === null)).toBe(true);
    expect(orders.some((o) => !("amount" in o))).toBe(true);
    expect(orders.some((o) => Date.parse(String(o.ts)) === Date.parse("2026-10-02T00:00:00Z"))).toBe(true);
  });
});
