/**
 * From a lowered program to deployable pipeline specs, one per segment, with the SQL of every
 * dialect. Deterministic: the same program gives byte-identical specs.
 */
import type { RuntimeSettings } from "../config.js";
import { DuckDbDialect } from "../emit/duckdb.js";
import { emitPlan } from "../emit/emit-plan.js";
import { SparkDialect } from "../emit/spark.js";
import { buildPlan, type LoweredProgram } from "../lower/index.js";
import { buildPipelineSpec, type OutputSettings, type PipelineSpec } from "./pipeline-spec.js";

/** The Redis key prefix seg uses unless configured otherwise. */
export const DEFAULT_REDIS_PREFIX = "seg:";

/** Output settings from the project's runtime settings. */
export function outputSettings(runtime: Pick<RuntimeSettings, "resultsTopic" | "changesTopic">): OutputSettings {
  return { resultsTopic: runtime.resultsTopic, changesTopic: runtime.changesTopic, redisPrefix: DEFAULT_REDIS_PREFIX };
}

/** The pipeline spec of each named segment (each must be in `lowered.segments`). */
export function buildPipelines(lowered: LoweredProgram, names: readonly string[], outputs: OutputSettings): PipelineSpec[] {
  const spark = new SparkDialect();
  const duckdb = new DuckDbDialect();
  return names.map((name) => {
    const plan = buildPlan(lowered, [name]);
    return buildPipelineSpec(plan, { spark: emitPlan(plan, spark).sql, duckdb: emitPlan(plan, duckdb).sql }, outputs);
  });
}
