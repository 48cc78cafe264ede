/**
 * `seg eval --engine spark`: the plan on seg's Spark driver in local mode, over the same data
 * folder as the embedded engine, with its answer in the embedded engine's shape (members sorted by
 * id, metrics as objects) and the records the driver left out as data problems.
 *
 * `@seg/runtime` (and with it the driver wrapper) is loaded only here, so `seg eval` on DuckDB
 * never loads it.
 */
import type { PipelineSpec } from "@seg/compiler";
import type { EvaluationResult } from "@seg/compiler/engine";

type PlanIR = PipelineSpec["plan"];

/** Spark is not set up (or the driver cannot start): the message says how to fix it. */
export class SparkUnavailableError extends Error {
  override name = "SparkUnavailableError";
}

/** Problems listed per source, as the embedded engine lists per file. */
const MAX_PROBLEMS = 100;

/** What the Spark run needs. */
export interface SparkEvalOptions {
  dataDir: string;
  asOf: string;
  /** Where to look for the Spark setup (`SEG_SPARK_HOME`, `SEG_SPARK_JAR`, `SEG_JAVA`, ...). */
  env: Record<string, string | undefined>;
}

/** Evaluates `plan` with the Spark driver; throws {@link SparkUnavailableError} when Spark is not set up. */
export async function evaluatePlanOnSpark(plan: PlanIR, options: SparkEvalOptions): Promise<EvaluationResult> {
  const runtime = await import("@seg/runtime");
  const setup = runtime.ensureSpark(options.env);
  if (!setup.ready) {
    throw new SparkUnavailableError(`Spark is not set up (${setup.problems.join("; ")}); run: ${setup.setupCommand}`);
  }
  let result: Awaited<ReturnType<typeof runtime.runSparkDriver>>;
  try {
    result = await runtime.runSparkDriver({
      plan: { plan },
      asOf: options.asOf,
      input: `files:${options.dataDir}`,
      allowMissingInput: true,
      maxProblems: MAX_PROBLEMS,
      setup,
    });
  } catch (e) {
    // the JVM could not be started at all
    if (e instanceof runtime.SparkDriverError && e.message.startsWith("cannot start")) throw new SparkUnavailableError(`${e.message}; Java 17+ and infra/spark/setup.sh are needed`);
    throw e;
  }
  const problems: EvaluationResult["problems"] = [];
  for (const source of plan.sources) {
    const stats = result.sources[source.name];
    if (stats === undefined) continue;
    if (stats.location === null) {
      problems.push({ severity: "info", source: source.name, message: `no data file for ${source.kind} ${source.name} (looked for ${[".jsonl", ".json", ".parquet"].map((e) => source.name + e).join(", ")} in ${options.dataDir}); it is empty` });
      continue;
    }
    const file = stats.location;
    for (const text of stats.problems) problems.push({ severity: "error", source: source.name, file, message: text });
    const left = stats.rows - stats.valid;
    if (left > stats.problems.length) {
      problems.push({ severity: "error", source: source.name, file, message: `${left - stats.problems.length} more problems in ${file} are not listed` });
    }
  }
  const segments: EvaluationResult["segments"] = {};
  for (const name of plan.outputs) segments[name] = result.segments[name] ?? { size: 0, members: [] };
  return { segments, problems, sql: "" };
}
