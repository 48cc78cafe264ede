/**
 * `seg explain <segment>`: the IR and the SQL of each dialect for one segment.
 */
import type { Command } from "commander";
import { buildPlan, DuckDbDialect, emitPlan, SparkDialect } from "@seg/compiler";
import { EXIT, type CliIo } from "../io.js";
import { compileFor, stopOnErrors, withConfigOption, type ProjectOptions } from "./project-options.js";

/** Registers `seg explain`. */
export function registerExplain(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("explain")
      .description("show a segment's IR and its SQL in every dialect")
      .argument("<segment>", "segment name")
      .argument("[paths...]", "where to find the project (default: the current folder)"),
  )
    .addHelpText("after", "\nExamples:\n  seg explain high_value --config examples\n")
    .action((segment: string, paths: string[], opts: ProjectOptions) => setExit(runExplain(segment, paths, opts, io)));
}

function runExplain(segment: string, paths: string[], opts: ProjectOptions, io: CliIo): number {
  const compiled = compileFor(paths, opts, io);
  const stop = stopOnErrors(compiled, io);
  if (stop !== undefined) return stop;
  if (!compiled.lowered!.segments.has(segment)) {
    const known = [...compiled.lowered!.segments.keys()];
    io.stderr(`seg explain: unknown segment ${JSON.stringify(segment)}; known: ${known.join(", ") || "none"}\n`);
    return EXIT.usage;
  }
  const plan = buildPlan(compiled.lowered!, [segment]);
  const section = (title: string, body: string) => io.stdout(`-- ${title} ${"-".repeat(Math.max(0, 76 - title.length))}\n${body.trimEnd()}\n\n`);
  section("IR", JSON.stringify(plan, null, 2));
  section("DuckDB SQL", emitPlan(plan, new DuckDbDialect()).sql);
  section("Spark SQL", emitPlan(plan, new SparkDialect()).sql);
  return EXIT.ok;
}
