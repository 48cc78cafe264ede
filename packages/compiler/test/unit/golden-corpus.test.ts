/**
 * The golden corpus: each case in test/golden/corpus/cases is compiled in its own project, and
 * every stage's output is compared with a committed file in test/golden/corpus/expected:
 * diagnostics, the IR plan, the DuckDB SQL, the Spark SQL as a diff against the DuckDB SQL, and
 * the pipeline specs. Update on purpose only: `pnpm exec vitest run -u <this file>`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { format, hasErrors, renderDiagnostics } from "@seg/dsl";
import {
  buildPipelines,
  buildPlan,
  compileProject,
  DuckDbDialect,
  emitPlan,
  loweredSegments,
  outputSettings,
  SparkDialect,
  validatePipelineSpec,
} from "@seg/compiler";
import { unifiedDiff } from "../support/line-diff.js";

const corpus = fileURLToPath(new URL("../golden/corpus/", import.meta.url));
const cases = readdirSync(join(corpus, "cases")).filter((f) => f.endsWith(".seg")).sort();
const expected = (name: string) => join(corpus, "expected", name);

describe("golden corpus", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(9));

  it.each(cases)("%s", async (file) => {
    const base = file.replace(/\.seg$/, "");
    const text = readFileSync(join(corpus, "cases", file), "utf8");
    // Every case is canonical, and formatting twice changes nothing.
    expect(format(text, file).output).toBe(text);
    expect(format(format(text).output).output).toBe(text);

    const compiled = compileProject({ cwd: corpus, env: {}, paths: [join("cases", file)] });
    const rendered = renderDiagnostics(compiled.diagnostics, compiled.sourceText);
    await expect(rendered === "" ? "no diagnostics\n" : rendered + "\n").toMatchFileSnapshot(expected(`${base}.diagnostics.txt`));
    if (hasErrors(compiled.diagnostics)) return;

    const { ok, broken } = loweredSegments(compiled);
    expect(broken).toEqual([]);
    const plan = buildPlan(compiled.lowered!, ok);
    await expect(JSON.stringify(plan, null, 2) + "\n").toMatchFileSnapshot(expected(`${base}.ir.json`));
    const duck = emitPlan(plan, new DuckDbDialect()).sql.trimEnd() + "\n";
    const spark = emitPlan(plan, new SparkDialect()).sql.trimEnd() + "\n";
    await expect(duck).toMatchFileSnapshot(expected(`${base}.duckdb.sql`));
    await expect(unifiedDiff(duck, spark, [`${base}.duckdb.sql`, `${base}.spark.sql`])).toMatchFileSnapshot(expected(`${base}.spark.diff`));

    const specs = buildPipelines(compiled.lowered!, ok, outputSettings(compiled.project!.runtime));
    for (const spec of specs) expect(validatePipelineSpec(spec), spec.id).toEqual([]);
    await expect(JSON.stringify(specs, null, 2) + "\n").toMatchFileSnapshot(expected(`${base}.pipeline.json`));

    // Compiling again gives byte-identical output.
    const again = compileProject({ cwd: corpus, env: {}, paths: [join("cases", file)] });
    expect(JSON.stringify(buildPlan(again.lowered!, ok))).toBe(JSON.stringify(plan));
  });
});
