/**
 * `seg test`: rule tests (fixture events and expected members) on the embedded engine.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { EXIT, type CliIo } from "../io.js";
import { displayPath } from "../files.js";
import { compileFor, printDiagnostics, stopOnErrors, withConfigOption, type ProjectOptions } from "./project-options.js";

/** Registers `seg test`. */
export function registerTest(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("test")
      .description("run rule tests: fixture events and the members each segment must have")
      .argument("[tests...]", "*.test.json files or folders (default: the project's tests folder)"),
  )
    .addHelpText(
      "after",
      '\nA test file holds cases: { "cases": [ { "name": "...", "asOf": "2026-11-01T00:00:00Z",\n  "data": { "purchase": [ {...} ] }, "expect": { "high_value": ["c001"] } } ] }\n\nExamples:\n  seg test --config examples\n  seg test examples/tests/high_value.test.json\n',
    )
    .action(async (tests: string[], opts: ProjectOptions) => setExit(await runTests(tests, opts, io)));
}

async function runTests(tests: string[], opts: ProjectOptions, io: CliIo): Promise<number> {
  // The whole project's rules; the config is found upwards from the first test path.
  const compiled = compileFor([], opts, io, tests[0]);
  const stop = stopOnErrors(compiled, io);
  if (stop !== undefined) return stop;
  const engine = await import("@seg/compiler/engine");
  const files = tests.length > 0 ? tests.flatMap((t) => (t.endsWith(".json") ? [resolve(io.cwd, t)] : engine.listRuleTestFiles(resolve(io.cwd, t)))) : engine.listRuleTestFiles(compiled.project!.testsDir);
  if (files.length === 0) {
    io.stderr(`seg test: no *.test.json files found in ${tests.join(", ") || displayPath(compiled.project!.testsDir, io.cwd)}\n`);
    return EXIT.failure;
  }
  let passed = 0;
  let failed = 0;
  for (const path of files) {
    const display = displayPath(path, io.cwd);
    const read = engine.readRuleTestFile(path, display);
    if (!read.file) {
      printDiagnostics(compiled, io, read.diagnostics);
      failed++;
      continue;
    }
    for (const c of read.file.cases) {
      const r = await engine.runRuleTestCase(display, c, compiled.lowered!, compiled.registry!);
      if (r.passed) {
        passed++;
        io.stdout(`ok    ${display} › ${c.name}\n`);
        continue;
      }
      failed++;
      io.stdout(`FAIL  ${display} › ${c.name}\n`);
      if (r.error) io.stdout(`      ${r.error}\n`);
      for (const m of r.mismatches) {
        io.stdout(`      ${m.segment}: expected [${c.expect[m.segment]!.join(", ")}]\n`);
        if (m.missing.length > 0) io.stdout(`        missing:    ${m.missing.join(", ")}\n`);
        if (m.unexpected.length > 0) io.stdout(`        unexpected: ${m.unexpected.join(", ")}\n`);
      }
      for (const p of r.problems) io.stdout(`      data ${p.severity}: ${p.source ?? ""}${p.line ? ` record ${p.line}` : ""}${p.path ? ` field ${p.path}` : ""}: ${p.message}\n`);
    }
  }
  io.stdout(`\n${passed} passed, ${failed} failed\n`);
  return failed > 0 ? EXIT.failure : EXIT.ok;
}
