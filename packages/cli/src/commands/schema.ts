/**
 * `seg schema register` and `seg schema list`: onboarding event streams (the ops role). Registering
 * a project's schemas records every new schema version in PostgreSQL (audited, one transaction,
 * NOTIFY on commit, so a running runtime starts validating the stream) and leaves the deployed
 * pipelines exactly as they are. Rules need not be clean: only configuration and schema problems
 * stop a registration.
 */
import type { Command } from "commander";
import { isConfigDiagnostic } from "@seg/compiler";
import { EXIT, type CliIo } from "../io.js";
import { defaultActor, openCommandDb, reportStoreError } from "./deploy.js";
import { compileFor, printDiagnostics, withConfigOption, type ProjectOptions } from "./project-options.js";

interface RegisterOptions extends ProjectOptions {
  dryRun?: boolean;
  message?: string;
  actor?: string;
  wait: boolean;
}

interface ListOptions extends ProjectOptions {
  json?: boolean;
}

/** Registers `seg schema`. */
export function registerSchema(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const schema = program.command("schema").description("register and list event and profile schemas (onboarding event streams; the ops role)");
  withConfigOption(
    schema
      .command("register")
      .description("register the project's schemas in PostgreSQL: every new version is recorded and audited; pipelines are not touched")
      .argument("[paths...]", "the project folder or files in it (used to find seg.config.json)")
      .option("--dry-run", "print what would be registered and change nothing")
      .option("-m, --message <text>", "why: recorded with the registration")
      .option("--actor <name>", "who registers, for the audit log (default: $USER, else the system user)")
      .option("--no-wait", "fail at once when a deploy is in progress instead of waiting for it"),
  )
    .addHelpText(
      "after",
      "\nNeeds a token with the ops or admin role in SEG_TOKEN once tokens are enforced (see `seg token`).\n" +
        "A running `seg run runtime` starts validating the new streams without a restart.\n" +
        "\nExamples:\n  seg schema register examples --dry-run\n  SEG_TOKEN=seg_... seg schema register examples -m 'onboard checkout events'\n",
    )
    .action(async (paths: string[], opts: RegisterOptions) => setExit(await runRegister(paths, opts, io)));
  withConfigOption(
    schema
      .command("list")
      .description("list the registered schemas: name, version, kind, entity, topic")
      .argument("[paths...]", "the project folder or files in it (used to find seg.config.json)")
      .option("--json", "print JSON"),
  ).action(async (paths: string[], opts: ListOptions) => setExit(await runList(paths, opts, io)));
}

async function runRegister(paths: string[], opts: RegisterOptions, io: CliIo): Promise<number> {
  const actor = opts.actor?.trim() || defaultActor(io.env);
  if (actor === undefined) {
    io.stderr("seg schema register: who registers? pass --actor NAME (USER is not set)\n");
    return EXIT.usage;
  }
  const compiled = compileFor(paths, opts, io);
  const problems = compiled.diagnostics.filter((d) => d.severity === "error" && isConfigDiagnostic(d));
  if (compiled.configFailed || problems.length > 0 || compiled.registry === undefined) {
    printDiagnostics(compiled, io, problems);
    return EXIT.usage;
  }
  const schemas = compiled.registry.schemas;
  if (schemas.length === 0) {
    io.stderr("seg schema register: the project has no schemas\n");
    return EXIT.failure;
  }
  const runtime = await import("@seg/runtime");
  const db = await openCommandDb("schema register", compiled.project!.runtime.databaseUrl, io);
  if (typeof db === "number") return db;
  try {
    const { authorizeCommand } = await import("./token.js");
    const auth = await authorizeCommand("schema register", db, io, ["schema.register"], actor);
    if (typeof auth === "number") return auth;
    const result = await runtime.deployProject(db, {
      specs: [],
      schemasOnly: true,
      schemas,
      actor,
      message: opts.message?.trim() || "schema registration",
      dryRun: opts.dryRun === true,
      wait: opts.wait,
      onWaiting: (holder) => io.stderr(`seg schema register: waiting for a deploy to finish${holder ? ` (${holder})` : ""}...\n`),
    });
    const registered = result.plan.schemas;
    for (const r of registered) io.stdout(`+ schema ${r.name} v${r.version} (${r.schema.kind}, topic ${r.schema.topic}, sha256 ${r.hash.slice(0, 12)})\n`);
    if (registered.length === 0) io.stdout(`no new schema versions: all ${schemas.length} are registered\n`);
    else if (result.dryRun) io.stdout(`dry run: nothing was changed (${registered.length} to register)\n`);
    else io.stdout(`registered ${registered.length} schema version${registered.length === 1 ? "" : "s"} (deploy ${result.deployId} by ${actor})\n`);
    return EXIT.ok;
  } catch (e) {
    return reportStoreError("schema register", e, io);
  } finally {
    await db.close();
  }
}

async function runList(paths: string[], opts: ListOptions, io: CliIo): Promise<number> {
  const compiled = compileFor(paths, opts, io);
  if (compiled.configFailed || compiled.project === undefined) {
    printDiagnostics(compiled, io, compiled.diagnostics.filter(isConfigDiagnostic));
    return EXIT.usage;
  }
  const runtime = await import("@seg/runtime");
  const db = await openCommandDb("schema list", compiled.project.runtime.databaseUrl, io);
  if (typeof db === "number") return db;
  try {
    const { registry, refs } = await runtime.readDeployedSchemas(db);
    const rows = refs.map((r) => {
      const s = registry.schemas.find((x) => x.name === r.name);
      return { name: r.name, version: r.version, kind: s?.kind ?? null, entity: s?.entity ?? null, topic: r.topic, hash: r.hash };
    });
    if (opts.json) {
      io.stdout(`${JSON.stringify({ schemas: rows }, null, 2)}\n`);
      return EXIT.ok;
    }
    if (rows.length === 0) io.stdout("no schemas registered\n");
    for (const r of rows) io.stdout(`${r.name} v${r.version}  ${r.kind ?? "?"}  entity ${r.entity ?? "?"}  topic ${r.topic}\n`);
    return EXIT.ok;
  } catch (e) {
    return reportStoreError("schema list", e, io);
  } finally {
    await db.close();
  }
}
