/**
 * `seg status`: deployed pipelines (version, status, refresh), the last run of each (status, start,
 * duration, rows, error), served segment sizes (Redis SCARD), ingestion progress and dead letters.
 * `--json` for scripts; plain text when stdout is not a terminal; a live view (ink) on a terminal.
 * pg, ioredis, ink and react load inside the action only.
 */
import isInCi from "is-in-ci";
import type { Command } from "commander";
import type { RuntimeStatus } from "@seg/runtime";
import { EXIT, type CliIo } from "../io.js";
import { openCommandDb } from "./deploy.js";
import { withConfigOption, type ProjectOptions } from "./project-options.js";
import { runtimeSettingsFor } from "./run.js";

interface StatusOptions extends ProjectOptions {
  json?: boolean;
  watch: boolean;
}

/** Registers `seg status`. */
export function registerStatus(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("status")
      .description("show deployed pipelines, their last runs, segment sizes, ingestion progress and dead letters")
      .option("--json", "print the status as JSON (for scripts)")
      .option("--no-watch", "on a terminal: print once instead of the live view"),
  )
    .addHelpText("after", "\nOn a terminal the view refreshes every 2 s (q quits); piped, it prints plain text once.\n\nExamples:\n  seg status\n  seg status --json | jq '.pipelines[] | {segment, size}'\n")
    .action(async (opts: StatusOptions) => setExit(await runStatus(opts, io)));
}

async function runStatus(opts: StatusOptions, io: CliIo): Promise<number> {
  const settings = runtimeSettingsFor("status", opts, io);
  if (typeof settings === "number") return settings;
  const runtime = await import("@seg/runtime");
  const db = await openCommandDb("status", settings.databaseUrl, io);
  if (typeof db === "number") return db;
  let redis: Awaited<ReturnType<typeof runtime.connectStatusRedis>>;
  try {
    redis = await runtime.connectStatusRedis(settings.redisUrl);
  } catch (e) {
    await db.close();
    io.stderr(`seg status: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  try {
    const load = () => runtime.readRuntimeStatus(db, redis);
    let status: RuntimeStatus;
    try {
      status = await load();
    } catch (e) {
      io.stderr(`seg status: cannot read the status: ${runtime.connectionErrorReason(e)}\n`);
      return EXIT.failure;
    }
    if (opts.json) {
      io.stdout(JSON.stringify(status, null, 2) + "\n");
      return EXIT.ok;
    }
    const { formatStatus } = await import("../status-view/format.js");
    // In CI, ink draws only the final frame, so a live view would show nothing until it quits.
    if (!io.isTTY || !opts.watch || !process.stdin.isTTY || isInCi) {
      io.stdout(formatStatus(status));
      return EXIT.ok;
    }
    const { runLiveView } = await import("../status-view/live-view.js");
    await runLiveView({ load, first: status });
    return EXIT.ok;
  } finally {
    redis.disconnect();
    await db.close();
  }
}
