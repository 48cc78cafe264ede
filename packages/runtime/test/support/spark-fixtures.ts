/**
 * Fixtures for the Spark driver tests: the example project compiled to pipeline specs and to one
 * plan of every segment, the DuckDB engine's answer for comparison, and result comparison with
 * number formatting normalised.
 */
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPipelines, buildPlan, compileProject, loweredSegments, outputSettings, type PipelineSpec } from "@seg/compiler";

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
export const examplesDir = join(repoRoot, "examples");
export const examplesData = join(examplesDir, "data");
export const EXAMPLE_AS_OF = "2026-11-01T00:00:00Z";

/** The example project: one spec per segment, and a plan whose outputs are every segment. */
export interface SparkExample {
  specs: PipelineSpec[];
  plan: PipelineSpec["plan"];
  names: string[];
}

export function compileExampleProject(): SparkExample {
  const compiled = compileProject({ cwd: repoRoot, env: {}, paths: [examplesDir] });
  const errors = compiled.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !compiled.lowered || !compiled.project) {
    throw new Error(`the example project does not compile: ${errors.map((d) => d.message).join("; ")}`);
  }
  const { ok } = loweredSegments(compiled);
  const specs = buildPipelines(compiled.lowered, ok, outputSettings(compiled.project.runtime));
  return { specs, plan: buildPlan(compiled.lowered, ok), names: ok };
}

/** A copy of the example data in a fresh temporary folder. */
export function copyExampleData(): string {
  const dir = mkdtempSync(join(tmpdir(), "seg-spark-data-"));
  cpSync(examplesData, dir, { recursive: true });
  return dir;
}

/** Members as comparable data: ids in order, metrics with numbers rounded to 12 significant digits, -0 as 0. */
export function normalizeMembers(members: { id: string; metrics: Record<string, unknown> }[]): { id: string; metrics: Record<string, unknown> }[] {
  return members.map((m) => ({ id: m.id, metrics: normalizeValue(m.metrics) as Record<string, unknown> }));
}

function normalizeValue(v: unknown): unknown {
  // -0 and 0 print differently (`-0.0`) but are the same value
  if (typeof v === "number") return v === 0 ? 0 : Number.isInteger(v) ? v : Number(v.toPrecision(12));
  if (Array.isArray(v)) return v.map(normalizeValue);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeValue(x)]));
  return v;
}
