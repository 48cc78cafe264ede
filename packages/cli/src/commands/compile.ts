/**
 * `seg compile`: pipeline JSON, Spark SQL and DuckDB SQL for every segment, written to a folder.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Option, type Command } from "commander";
import { buildPipelines, loweredSegments, outputSettings, validatePipelineSpec } from "@seg/compiler";
import { EXIT, type CliIo } from "../io.js";
import { compileFor, stopOnErrors, withConfigOption, type ProjectOptions } from "./project-options.js";

interface CompileOptions extends ProjectOptions {
  out: string;
  target: "spark" | "duckdb" | "all";
}

/** Registers `seg compile`. */
export function registerCompile(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("compile")
      .description("compile segments to <segment>.pipeline.json, <segment>.spark.sql and <segment>.duckdb.sql")
      .argument("[paths...]", "rule files or folders (default: the project's rules folder)")
      .requiredOption("-o, --out <dir>", "output folder (created if missing)")
      .addOption(new Option("-t, --target <target>", "which SQL files to write").choices(["spark", "duckdb", "all"]).default("all")),
  )
    .addHelpText("after", "\nExamples:\n  seg compile examples --out build/\n  seg compile rules/high_value.seg --out build/ --target spark\n")
    .action((paths: string[], opts: CompileOptions) => setExit(runCompile(paths, opts, io)));
}

function runCompile(paths: string[], opts: CompileOptions, io: CliIo): number {
  const compiled = compileFor(paths, opts, io);
  const stop = stopOnErrors(compiled, io);
  if (stop !== undefined) return stop;
  const { ok } = loweredSegments(compiled);
  const specs = buildPipelines(compiled.lowered!, ok, outputSettings(compiled.project!.runtime));
  const out = resolve(io.cwd, opts.out);
  mkdirSync(out, { recursive: true });
  for (const spec of specs) {
    const problems = validatePipelineSpec(spec);
    if (problems.length > 0) {
      io.stderr(`seg compile: internal error: the spec of ${spec.id} does not match pipeline.schema.json:\n  ${problems.join("\n  ")}\n`);
      return EXIT.failure;
    }
    io.writeFile(join(out, `${spec.id}.pipeline.json`), JSON.stringify(spec, null, 2) + "\n");
    if (opts.target !== "duckdb") io.writeFile(join(out, `${spec.id}.spark.sql`), spec.sql.spark.trimEnd() + "\n");
    if (opts.target !== "spark") io.writeFile(join(out, `${spec.id}.duckdb.sql`), spec.sql.duckdb.trimEnd() + "\n");
  }
  io.stdout(`compiled ${specs.length} segment${specs.length === 1 ? "" : "s"} to ${opts.out}\n`);
  return EXIT.ok;
}
