/**
 * `seg eval`: evaluate segments on the embedded DuckDB engine (default) or, with `--engine spark`,
 * on seg's Spark driver in local mode, over JSONL or Parquet files. Both engines give the same
 * output; each engine's code is loaded only when it is picked.
 */
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { buildPlan, loweredSegments } from "@seg/compiler";
import type { EvaluationResult } from "@seg/compiler/engine";
import { EXIT, type CliIo } from "../io.js";
import { compileFor, parseAsOf, stopOnErrors, withConfigOption, type ProjectOptions } from "./project-options.js";

/** The engines `seg eval` can run on. */
const ENGINES = ["duckdb", "spark"] as const;

interface EvalOptions extends ProjectOptions {
  data?: string;
  asOf?: string;
  format: "table" | "json";
  limit: string;
  metrics?: boolean;
  engine: (typeof ENGINES)[number];
}

/** Registers `seg eval`. */
export function registerEval(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("eval")
      .description("evaluate segments on the embedded DuckDB engine (or --engine spark) over <source>.jsonl or .parquet files")
      .argument("[paths...]", "rule files or folders (default: the project's rules folder)")
      .option("-d, --data <dir>", "folder with one file per schema (default: the project's data folder)")
      .option("--as-of <timestamp>", "evaluation time, ISO-8601 (default: the project's defaultAsOf)")
      .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
      .option("--limit <n>", "members shown per segment in the table (json shows all)", "10")
      .option("--metrics", "with --format json: add each member's carried metrics")
      .addOption(new Option("--engine <engine>", "where to evaluate (spark: seg's Spark driver in local mode, set up by infra/spark/setup.sh)").choices(ENGINES).default("duckdb")),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  seg eval examples --data examples/data --as-of 2026-11-01T00:00:00Z\n  seg eval rules/high_value.seg --data events/ --as-of 2026-11-01 --format json\n  seg eval examples --engine spark --format json --metrics\n",
    )
    .action(async (paths: string[], opts: EvalOptions) => setExit(await runEval(paths, opts, io)));
}

async function runEval(paths: string[], opts: EvalOptions, io: CliIo): Promise<number> {
  const compiled = compileFor(paths, opts, io);
  const stop = stopOnErrors(compiled, io);
  if (stop !== undefined) return stop;
  const project = compiled.project!;
  const asOfText = opts.asOf ?? project.defaultAsOf;
  if (asOfText === undefined) {
    io.stderr("seg eval: give --as-of (or set defaultAsOf in seg.config.json)\n");
    return EXIT.usage;
  }
  const asOf = parseAsOf(asOfText);
  if (asOf === undefined) {
    io.stderr(`seg eval: --as-of ${JSON.stringify(asOfText)} is not an ISO-8601 date or timestamp with a zone\n`);
    return EXIT.usage;
  }
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 0) {
    io.stderr(`seg eval: --limit needs a whole number >= 0\n`);
    return EXIT.usage;
  }
  const { ok } = loweredSegments(compiled);
  if (ok.length === 0) {
    io.stderr("seg eval: no segments to evaluate\n");
    return EXIT.failure;
  }
  const dataDir = opts.data ? resolve(io.cwd, opts.data) : project.dataDir;
  const plan = buildPlan(compiled.lowered!, ok);
  let result: EvaluationResult;
  if (opts.engine === "spark") {
    const { evaluatePlanOnSpark, SparkUnavailableError } = await import("./eval-spark.js");
    try {
      result = await evaluatePlanOnSpark(plan, { dataDir, asOf, env: io.env });
    } catch (e) {
      io.stderr(`seg eval: ${e instanceof SparkUnavailableError ? "" : "the Spark engine failed: "}${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT.failure;
    }
  } else {
    const { evaluatePlan } = await import("@seg/compiler/engine");
    result = await evaluatePlan(plan, { dataDir, asOf, schemas: compiled.registry! });
  }
  for (const p of result.problems) {
    const where = [p.file, p.line].filter((x) => x !== undefined).join(":");
    const field = p.path ? ` (field ${p.path})` : "";
    io.stderr(`${where ? `${where}: ` : ""}${p.severity}: ${p.message}${field}\n`);
  }
  const failed = result.problems.some((p) => p.severity === "error");
  if (opts.format === "json") {
    const segments: Record<string, { size: number; members: string[]; metrics?: Record<string, Record<string, unknown>> }> = {};
    for (const name of ok) {
      const r = result.segments[name] ?? { size: 0, members: [] };
      segments[name] = { size: r.size, members: r.members.map((m) => m.id) };
      if (opts.metrics) segments[name].metrics = Object.fromEntries(r.members.map((m) => [m.id, m.metrics]));
    }
    io.stdout(JSON.stringify({ segments }, null, 2) + "\n");
  } else {
    io.stdout(renderTable(ok, result.segments, asOf, limit));
  }
  return failed ? EXIT.failure : EXIT.ok;
}

function renderTable(
  names: string[],
  segments: Record<string, { size: number; members: { id: string; metrics: Record<string, unknown> }[] }>,
  asOf: string,
  limit: number,
): string {
  const width = Math.max(7, ...names.map((n) => n.length));
  const lines = [`as of ${asOf}`, "", `${"segment".padEnd(width)}  ${"size".padStart(6)}  members`];
  for (const name of names) {
    const r = segments[name] ?? { size: 0, members: [] };
    const shown = r.members.slice(0, limit).map((m) => m.id);
    const more = r.members.length > limit ? ` … (+${r.members.length - limit})` : "";
    lines.push(`${name.padEnd(width)}  ${String(r.size).padStart(6)}  ${shown.join(", ")}${more}`);
  }
  return lines.join("\n") + "\n";
}
