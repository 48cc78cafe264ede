/**
 * Rule tests (fixture events plus hand-computed members) run through the whole pipeline:
 * .seg → check → IR → DuckDB SQL → embedded engine. Covers the example project's tests and a
 * semantics project with one construct per segment (nulls, negations, window boundaries).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compileProject } from "@seg/compiler";
import { listRuleTestFiles, readRuleTestFile, runRuleTestCase } from "@seg/compiler/engine";

const projects = ["../golden/semantics/", "../../../../examples/"].map((p) => fileURLToPath(new URL(p, import.meta.url)));

describe.each(projects)("rule tests of %s", (root) => {
  const compiled = compileProject({ cwd: root, env: {}, paths: [] });
  const files = listRuleTestFiles(compiled.project!.testsDir);

  it("compiles cleanly and has tests", () => {
    expect(compiled.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)("%s", async (path) => {
    const read = readRuleTestFile(path, path);
    expect(read.diagnostics).toEqual([]);
    for (const c of read.file!.cases) {
      const outcome = await runRuleTestCase(path, c, compiled.lowered!, compiled.registry!);
      expect({ name: c.name, mismatches: outcome.mismatches, problems: outcome.problems, error: outcome.error }).toEqual({
        name: c.name,
        mismatches: [],
        problems: [],
        error: undefined,
      });
    }
  });
});
