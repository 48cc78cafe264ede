/**
 * `seg rollback`: make an earlier version of a segment current again, as a deploy of its own.
 */
import type { Command } from "commander";
import { EXIT, type CliIo } from "../io.js";
import { defaultActor, openCommandDb, reportStoreError } from "./deploy.js";
import { withConfigOption, type ProjectOptions } from "./project-options.js";
import { runtimeSettingsFor } from "./run.js";

interface RollbackOptions extends ProjectOptions {
  to?: string;
  actor?: string;
  message?: string;
  wait: boolean;
}

/** Registers `seg rollback`. */
export function registerRollback(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("rollback")
      .description("make an earlier version of a deployed segment current again (default: the version before the current one)")
      .argument("<segment>", "the segment to roll back")
      .option("--to <version>", "the version to go back to: its hash or a unique prefix of it")
      .option("--actor <name>", "who rolls back, for the audit log (default: $USER)")
      .option("-m, --message <text>", "why: recorded with the rollback")
      .option("--no-wait", "fail at once when a deploy is in progress instead of waiting for it"),
  )
    .addHelpText("after", "\nExamples:\n  seg rollback high_value\n  seg rollback high_value --to sha256:3f2a9c\n")
    .action(async (segment: string, opts: RollbackOptions) => setExit(await runRollback(segment, opts, io)));
}

async function runRollback(segment: string, opts: RollbackOptions, io: CliIo): Promise<number> {
  const actor = opts.actor?.trim() || defaultActor(io.env);
  if (actor === undefined) {
    io.stderr("seg rollback: who rolls back? pass --actor NAME (USER is not set)\n");
    return EXIT.usage;
  }
  if (opts.to !== undefined && opts.to.trim() === "") {
    io.stderr("seg rollback: --to needs a version\n");
    return EXIT.usage;
  }
  const settings = runtimeSettingsFor("rollback", opts, io);
  if (typeof settings === "number") return settings;
  const runtime = await import("@seg/runtime");
  const db = await openCommandDb("rollback", settings.databaseUrl, io);
  if (typeof db === "number") return db;
  try {
    const { authorizeCommand } = await import("./token.js");
    const auth = await authorizeCommand("rollback", db, io, ["rollback"], actor);
    if (typeof auth === "number") return auth;
    const r = await runtime.rollbackSegment(db, {
      segment,
      actor,
      ...(opts.to !== undefined ? { toVersion: opts.to } : {}),
      ...(opts.message !== undefined ? { message: opts.message } : {}),
      wait: opts.wait,
      onWaiting: (holder) => io.stderr(`seg rollback: waiting for a deploy to finish${holder ? ` (${holder})` : ""}...\n`),
    });
    io.stdout(
      `rolled back ${r.segment}: ${runtime.shortVersion(r.fromVersion)} -> ${runtime.shortVersion(r.toVersion)} (deploy ${r.deployId} by ${actor})\n`,
    );
    return EXIT.ok;
  } catch (e) {
    return reportStoreError("rollback", e, io);
  } finally {
    await db.close();
  }
}
