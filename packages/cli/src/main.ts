/**
 * The `seg` command line: one commander program; each command lives in `commands/`.
 */
import { Command, CommanderError } from "commander";
import { registerDebug } from "./commands/debug.js";
import { registerFmt } from "./commands/fmt.js";
import { EXIT, type CliIo } from "./io.js";
import { VERSION } from "./version.js";
import { registerCheck } from "./commands/check.js";
import { registerCompile } from "./commands/compile.js";
import { registerEval } from "./commands/eval.js";
import { registerExplain } from "./commands/explain.js";
import { registerTest } from "./commands/test.js";
import { registerDeploy } from "./commands/deploy.js";
import { registerRollback } from "./commands/rollback.js";
import { registerServe } from "./commands/serve.js";
import { registerToken } from "./commands/token.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { registerSchema } from "./commands/schema.js";

export { VERSION } from "./version.js";

/** Runs the CLI with `argv` (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exit: number = EXIT.ok;
  const setExit = (code: number) => {
    exit = Math.max(exit, code);
  };
  const program = new Command("seg")
    .description("seg: customer segments as code. Parse, check, compile, deploy and serve segment rules.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run seg --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .addHelpText(
      "after",
      "\nExamples:\n  seg check examples\n  seg eval examples --data examples/data --as-of 2026-11-01T00:00:00Z\n  seg compile examples --out build/\n  seg fmt --check examples\n  seg debug ast examples/rules/high_value.seg\n\nExit codes: 0 success, 1 problems found, 2 usage or configuration error.\n",
    );
  registerCheck(program, io, setExit);
  registerCompile(program, io, setExit);
  registerEval(program, io, setExit);
  registerExplain(program, io, setExit);
  registerFmt(program, io, setExit);
  registerTest(program, io, setExit);
  registerDeploy(program, io, setExit);
  registerRollback(program, io, setExit);
  registerSchema(program, io, setExit);
  registerServe(program, io, setExit);
  registerToken(program, io, setExit);
  registerRun(program, io, setExit);
  registerStatus(program, io, setExit);
  registerDebug(program, io, setExit);
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") {
        return EXIT.ok;
      }
      return EXIT.usage;
    }
    io.stderr(`seg: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return EXIT.failure;
  }
  return exit;
}
