/**
 * `seg deploy`: deploy every segment of the project to PostgreSQL. Prints a plan against what is
 * deployed (added, changed with the reason, removed, unchanged) and applies it in one transaction.
 * `pg` and `kafkajs` (through `@seg/runtime`) are loaded inside the action only.
 */
import { userInfo } from "node:os";
import type { Command } from "commander";
import { buildPipelines, outputSettings, validatePipelineSpec, type PipelineSpec } from "@seg/compiler";
import type { DeployResult, SegDb } from "@seg/runtime";
import { EXIT, type CliIo } from "../io.js";
import { compileFor, stopOnErrors, withConfigOption, type ProjectOptions } from "./project-options.js";

interface DeployOptions extends ProjectOptions {
  dryRun?: boolean;
  message?: string;
  actor?: string;
  wait: boolean;
  retentionCheck: boolean;
}

/** Registers `seg deploy`. */
export function registerDeploy(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("deploy")
      .description("deploy every segment of the project to PostgreSQL: print the plan, then apply it in one transaction")
      .argument("[paths...]", "the project folder or files in it (used to find seg.config.json; the whole project is deployed)")
      .option("--dry-run", "print the plan and change nothing")
      .option("-m, --message <text>", "why: recorded with the deploy")
      .option("--actor <name>", "who deploys, for the audit log (default: $USER, else the system user)")
      .option("--no-wait", "fail at once when another deploy is in progress instead of waiting for it")
      .option("--no-retention-check", "skip comparing source topics' retention.ms with the windows rules need"),
  )
    .addHelpText(
      "after",
      "\nThe database is runtime.databaseUrl of seg.config.json (SEG_DATABASE_URL overrides); seg's tables live in\n" +
        "the schema SEG_DB_SCHEMA (default seg). Segments deployed before and missing from the project are retired.\n" +
        "\nExamples:\n  seg deploy examples --dry-run\n  seg deploy examples -m 'raise the high_value threshold'\n",
    )
    .action(async (paths: string[], opts: DeployOptions) => setExit(await runDeploy(paths, opts, io)));
}

/** `$USER`, else `$LOGNAME`, else the operating system's user name, else undefined. */
export function defaultActor(env: Record<string, string | undefined>): string | undefined {
  const fromEnv = [env["USER"], env["LOGNAME"], env["USERNAME"]].map((v) => v?.trim()).find((v) => v !== undefined && v !== "");
  if (fromEnv !== undefined) return fromEnv;
  try {
    return userInfo().username.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Opens the deploy database for a command; prints the problem and returns an exit code on failure. */
export async function openCommandDb(command: string, url: string, io: CliIo): Promise<SegDb | number> {
  const runtime = await import("@seg/runtime");
  let schema: string;
  try {
    schema = runtime.resolveSchemaName(undefined, io.env);
  } catch (e) {
    io.stderr(`seg ${command}: ${(e as Error).message} (from ${runtime.DB_SCHEMA_ENV})\n`);
    return EXIT.usage;
  }
  try {
    return await runtime.openDatabase({ url, schema, applicationName: `seg ${command}` });
  } catch (e) {
    io.stderr(`seg ${command}: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
}

/** Prints a failure of the deploy store; every write is in one transaction, so nothing changed. */
export async function reportStoreError(command: string, e: unknown, io: CliIo): Promise<number> {
  const runtime = await import("@seg/runtime");
  if (e instanceof runtime.DeployError || e instanceof runtime.SchemaTooNewError) {
    io.stderr(`seg ${command}: ${e.message}\n`);
  } else {
    const err = e as Error & { code?: string };
    const sqlState = typeof err.code === "string" && /^[0-9A-Z]{5}$/.test(err.code) ? ` (SQLSTATE ${err.code})` : "";
    io.stderr(`seg ${command}: failed, nothing was changed: ${runtime.connectionErrorReason(e)}${sqlState}\n`);
  }
  return EXIT.failure;
}

async function retentionNotes(specs: PipelineSpec[], brokers: string[], io: CliIo): Promise<void> {
  const { checkRetention, connectKafkaAdmin } = await import("@seg/runtime");
  let admin;
  try {
    admin = await connectKafkaAdmin(brokers, { timeoutMs: 2_000, clientId: "seg-deploy" });
  } catch (e) {
    io.stderr(`note: retention not checked: ${(e as Error).message}\n`);
    return;
  }
  try {
    const report = await checkRetention(admin, specs);
    for (const w of report.warnings) io.stderr(`warning: ${w.message}\n`);
    for (const n of report.notes) io.stderr(`note: ${n}\n`);
  } catch (e) {
    io.stderr(`note: retention not checked: ${(e as Error).message}\n`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function printResult(result: DeployResult, actor: string, io: CliIo): void {
  if (result.dryRun) {
    io.stdout(`dry run: nothing was changed (${result.summary})\n`);
    return;
  }
  if (result.noop) {
    io.stdout(`no changes: deploy ${result.deployId} recorded by ${actor}\n`);
    return;
  }
  io.stdout(`deployed: deploy ${result.deployId} by ${actor} (${result.summary})\n`);
  for (const r of result.retiredRedisKeys) {
    io.stdout(`  redis keys to retire for ${r.segment}: ${r.keys.join(", ")}\n`);
  }
}

async function runDeploy(paths: string[], opts: DeployOptions, io: CliIo): Promise<number> {
  const actor = opts.actor?.trim() || defaultActor(io.env);
  if (actor === undefined) {
    io.stderr("seg deploy: who deploys? pass --actor NAME (USER is not set)\n");
    return EXIT.usage;
  }
  const compiled = compileFor(paths, opts, io);
  const stop = stopOnErrors(compiled, io);
  if (stop !== undefined) return stop;
  const project = compiled.project!;
  const names = [...compiled.lowered!.segments.keys()];
  if (names.length === 0) {
    io.stderr("seg deploy: the project has no segments to deploy\n");
    return EXIT.failure;
  }
  const specs = buildPipelines(compiled.lowered!, names, outputSettings(project.runtime));
  for (const spec of specs) {
    const problems = validatePipelineSpec(spec);
    if (problems.length > 0) {
      io.stderr(`seg deploy: internal error: the spec of ${spec.id} does not match pipeline.schema.json:\n  ${problems.join("\n  ")}\n`);
      return EXIT.failure;
    }
  }
  if (paths.length > 0 && compiled.requestedSegments.length < names.length) {
    io.stderr(`note: seg deploy deploys the whole project (${names.length} segments), not only the files named\n`);
  }
  if (opts.retentionCheck) await retentionNotes(specs, project.runtime.kafkaBrokers, io);

  const runtime = await import("@seg/runtime");
  const db = await openCommandDb("deploy", project.runtime.databaseUrl, io);
  if (typeof db === "number") return db;
  try {
    const { authorizeDeploy } = await import("./token.js");
    const denied = await authorizeDeploy(db, io, actor, specs, compiled.registry?.schemas ?? [], opts.dryRun === true);
    if (denied !== undefined) return denied;
    const result = await runtime.deployProject(db, {
      specs,
      schemas: compiled.registry?.schemas ?? [],
      actor,
      ...(opts.message !== undefined ? { message: opts.message } : {}),
      dryRun: opts.dryRun === true,
      wait: opts.wait,
      onWaiting: (holder) => io.stderr(`seg deploy: waiting for another deploy to finish${holder ? ` (${holder})` : ""}...\n`),
    });
    io.stdout(`plan for ${db.url} (schema ${db.schema}):\n`);
    for (const line of runtime.formatPlan(result.plan)) io.stdout(`${line}\n`);
    printResult(result, actor, io);
    return EXIT.ok;
  } catch (e) {
    return reportStoreError("deploy", e, io);
  } finally {
    await db.close();
  }
}
