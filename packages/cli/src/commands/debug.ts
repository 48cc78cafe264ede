/**
 * `seg debug tokens|ast <file>`: each front-end stage on its own, for people and tools.
 */
import type { Command } from "commander";
import { lex, parse, renderDiagnostics, hasErrors, KEYWORDS } from "@seg/dsl";
import { EXIT, type CliIo } from "../io.js";
import { renderStyle } from "../style.js";
import { readSource } from "./read-source.js";
import { buildPlan, loweredSegments } from "@seg/compiler";
import { compileFor, stopOnErrors } from "./project-options.js";

const KEYWORD_TYPES = new Set(Object.values(KEYWORDS));

/** Registers `seg debug`. */
export function registerDebug(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const debug = program
    .command("debug")
    .description("show the output of one compiler stage")
    .addHelpText("after", "\nExamples:\n  seg debug tokens rules/high_value.seg\n  seg debug ast rules/high_value.seg > ast.json\n  seg debug ir examples/rules/high_value.seg\n");

  debug
    .command("tokens")
    .description("print the tokens of a .seg file (use - for standard input)")
    .argument("<file>", "a .seg file")
    .option("--json", "print JSON instead of a table")
    .addHelpText("after", "\nExamples:\n  seg debug tokens examples/rules/high_value.seg\n  echo 'segment s { where x > 1 }' | seg debug tokens - --json\n")
    .action((file: string, opts: { json?: boolean }) => {
      const src = readSource(file, io);
      if (!src.ok) return setExit(src.exit);
      const lexed = lex(src.text, src.display);
      const rows = lexed.tokens.map((t) => ({
        type: KEYWORD_TYPES.has(t.tokenType) ? "Keyword" : t.tokenType.name,
        image: t.image,
        line: t.startLine ?? 0,
        column: t.startColumn ?? 0,
        offset: t.startOffset,
      }));
      if (opts.json) {
        io.stdout(JSON.stringify({ tokens: rows, comments: lexed.comments, diagnostics: lexed.diagnostics }, null, 2) + "\n");
      } else {
        for (const r of rows) {
          io.stdout(`${`${r.line}:${r.column}`.padEnd(9)} ${r.type.padEnd(14)} ${JSON.stringify(r.image)}\n`);
        }
      }
      if (lexed.diagnostics.length > 0) io.stderr(renderDiagnostics(lexed.diagnostics, () => src.text, renderStyle(io)) + "\n");
      setExit(hasErrors(lexed.diagnostics) ? EXIT.failure : EXIT.ok);
    });

  debug
    .command("ast")
    .description("print the syntax tree of a .seg file as JSON, with any diagnostics")
    .argument("<file>", "a .seg file (use - for standard input)")
    .option("--no-spans", "leave out source spans")
    .addHelpText("after", "\nExamples:\n  seg debug ast examples/rules/high_value.seg --no-spans\n  echo 'segment s { where x > }' | seg debug ast -\n")
    .action((file: string, opts: { spans: boolean }) => {
      const src = readSource(file, io);
      if (!src.ok) return setExit(src.exit);
      const result = parse(src.text, src.display);
      const replacer = opts.spans ? undefined : (k: string, v: unknown) => (k === "span" || k === "fnSpan" ? undefined : v);
      io.stdout(JSON.stringify({ ast: result.file, diagnostics: result.diagnostics }, replacer, 2) + "\n");
      if (result.diagnostics.length > 0) {
        io.stderr(renderDiagnostics(result.diagnostics, () => src.text, renderStyle(io)) + "\n");
      }
      setExit(hasErrors(result.diagnostics) ? EXIT.failure : EXIT.ok);
    });

  debug
    .command("ir")
    .description("print the IR plan of the segments in .seg files (their project is found upwards)")
    .argument("<paths...>", ".seg files or folders")
    .option("-c, --config <path>", "seg.config.json to use")
    .addHelpText("after", "\nExamples:\n  seg debug ir examples/rules/high_value.seg\n  seg debug ir examples/rules > plan.json\n")
    .action((paths: string[], opts: { config?: string }) => {
      const compiled = compileFor(paths, opts, io);
      const stop = stopOnErrors(compiled, io);
      if (stop !== undefined) return setExit(stop);
      const { ok } = loweredSegments(compiled);
      if (ok.length === 0) {
        io.stderr("seg debug ir: no segments in the given files\n");
        return setExit(EXIT.failure);
      }
      io.stdout(JSON.stringify(buildPlan(compiled.lowered!, ok), null, 2) + "\n");
      setExit(EXIT.ok);
    });
}
