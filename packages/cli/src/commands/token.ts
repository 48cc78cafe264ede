/**
 * `seg token create|list|revoke`: API and CLI tokens, and the token check of state-changing
 * commands (`authorizeCommand`, `authorizeDeploy`, called by `seg deploy` and `seg rollback`).
 *
 * The token is read from SEG_TOKEN; SEG_AUTH=auto|required selects when the CLI enforces tokens
 * (see packages/runtime/src/auth/require-role.ts). pg loads inside the actions only.
 */
import type { Command } from "commander";
import type { PipelineSpec } from "@seg/compiler";
import type { CliAction, DeploySchema, Principal, SegDb, TokenInfo } from "@seg/runtime";
import { EXIT, type CliIo } from "../io.js";
import { defaultActor, openCommandDb } from "./deploy.js";
import { withConfigOption, type ProjectOptions } from "./project-options.js";
import { loadProject, resolveRuntimeSettings } from "@seg/compiler";

interface CreateOptions extends ProjectOptions {
  role: string;
  name: string;
  expiresIn?: string;
  bootstrap?: boolean;
  actor?: string;
}

interface ListOptions extends ProjectOptions {
  json?: boolean;
}

interface RevokeOptions extends ProjectOptions {
  actor?: string;
}

/** Registers `seg token`. */
export function registerToken(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const token = program
    .command("token")
    .description("create, list and revoke API and CLI tokens (needs an admin token in SEG_TOKEN, except --bootstrap)")
    .addHelpText(
      "after",
      "\nRoles: admin (everything, tokens), ops (schema registration, ingestion streams, metrics), analyst (deploy,\n" +
        "rollback), consumer (read segments, members and changes over the API).\n" +
        "\nExamples:\n" +
        "  seg token create --role admin --name first-admin --bootstrap\n" +
        "  SEG_TOKEN=seg_... seg token create --role consumer --name web-shop --expires-in 90d\n" +
        "  SEG_TOKEN=seg_... seg token list\n" +
        "  SEG_TOKEN=seg_... seg token revoke web-shop\n",
    );
  withConfigOption(
    token
      .command("create")
      .description("create a token and print it once (only a salted hash is stored)")
      .requiredOption("--role <role>", "admin, ops, analyst or consumer")
      .requiredOption("--name <name>", "a name for the token (letters, digits, '.', '_', '-')")
      .option("--expires-in <duration>", "lifetime: e.g. 30d, 12h, 90m, 2w (default: does not expire)")
      .option("--bootstrap", "create the first admin token with direct database access (only while no admin token is usable)")
      .option("--actor <name>", "who creates it, for the audit log (default: $USER)"),
  ).action(async (opts: CreateOptions) => setExit(await runCreate(opts, io)));
  withConfigOption(
    token
      .command("list")
      .description("list tokens: id, name, role, status, creation and expiry (never the secrets)")
      .option("--json", "print JSON"),
  ).action(async (opts: ListOptions) => setExit(await runList(opts, io)));
  withConfigOption(
    token
      .command("revoke")
      .description("revoke a token at once (servers reload their token table on the change)")
      .argument("<name-or-id>", "the token's name or its 16-hex-digit id")
      .option("--actor <name>", "who revokes it, for the audit log (default: $USER)"),
  ).action(async (nameOrId: string, opts: RevokeOptions) => setExit(await runRevoke(nameOrId, opts, io)));
}

/** The database URL of the project (or of the environment when there is no project). */
export function commandDatabaseUrl(command: string, opts: ProjectOptions, io: CliIo): string | number {
  const loaded = loadProject({ cwd: io.cwd, env: io.env, ...(opts.config ? { configPath: opts.config } : {}) });
  if (loaded.project) return loaded.project.runtime.databaseUrl;
  if (!opts.config && loaded.diagnostics.every((d) => d.name === "config-not-found")) return resolveRuntimeSettings(undefined, io.env).settings.databaseUrl;
  io.stderr(`seg ${command}: ${loaded.diagnostics.map((d) => d.message).join("; ")}\n`);
  return EXIT.usage;
}

/**
 * Checks SEG_TOKEN for each action (see `requireRole`). Returns undefined to go on (with the
 * principal, null when tokens are not enforced), or the exit code after printing why not.
 */
export async function authorizeCommand(
  command: string,
  db: SegDb,
  io: CliIo,
  actions: readonly CliAction[],
  actor: string | undefined,
): Promise<{ principal: Principal | null } | number> {
  const runtime = await import("@seg/runtime");
  let mode;
  try {
    mode = runtime.authModeFromEnv(io.env);
  } catch (e) {
    io.stderr(`seg ${command}: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  let principal: Principal | null = null;
  for (const action of actions) {
    try {
      const r = await runtime.requireRole(db, io.env[runtime.TOKEN_ENV], action, { mode, ...(actor !== undefined ? { actor } : {}) });
      principal = r.principal;
    } catch (e) {
      if (e instanceof runtime.AuthError) {
        io.stderr(`seg ${command}: ${e.message}\n`);
        return EXIT.failure;
      }
      io.stderr(`seg ${command}: checking the token failed: ${runtime.connectionErrorReason(e)}\n`);
      return EXIT.failure;
    }
  }
  return { principal };
}

/**
 * The token check of `seg deploy`: `deploy`, and `schema.register` too when the deploy would
 * register schemas. (Schemas are only ever added, so a schema not new when checked cannot become
 * new by the time the deploy plans again in its transaction.)
 */
export async function authorizeDeploy(
  db: SegDb,
  io: CliIo,
  actor: string | undefined,
  specs: readonly PipelineSpec[],
  schemas: readonly DeploySchema[],
  dryRun: boolean,
): Promise<number | undefined> {
  const first = await authorizeCommand("deploy", db, io, ["deploy"], actor);
  if (typeof first === "number") return first;
  if (first.principal === null || dryRun) return undefined;
  const runtime = await import("@seg/runtime");
  const plan = runtime.planDeploy(await runtime.readDeployedState(db), specs, schemas);
  if (plan.schemas.length === 0) return undefined;
  const second = await authorizeCommand("deploy", db, io, ["schema.register"], actor);
  if (typeof second !== "number") return undefined;
  const names = plan.schemas.map((r) => `${r.name} v${r.version}`).join(", ");
  io.stderr(`  this deploy would register new schema versions (${names}): ops (or admin) registers them first with \`seg schema register\`\n`);
  return second;
}

function via(principal: Principal | null, fallback: string): string {
  return principal ? `token:${principal.name}` : fallback;
}

async function runCreate(opts: CreateOptions, io: CliIo): Promise<number> {
  const runtime = await import("@seg/runtime");
  if (!runtime.isRole(opts.role)) {
    io.stderr(`seg token create: unknown role '${opts.role}': use ${runtime.ROLES.join(", ")}\n`);
    return EXIT.usage;
  }
  if (!runtime.isValidTokenName(opts.name)) {
    io.stderr(`seg token create: invalid name '${opts.name}': use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)\n`);
    return EXIT.usage;
  }
  let lifetimeMs: number | undefined;
  if (opts.expiresIn !== undefined) {
    lifetimeMs = runtime.parseLifetime(opts.expiresIn);
    if (lifetimeMs === undefined) {
      io.stderr(`seg token create: invalid --expires-in '${opts.expiresIn}': use a number and a unit s, m, h, d or w (e.g. 30d), at most 10 years\n`);
      return EXIT.usage;
    }
  }
  if (opts.bootstrap && opts.role !== "admin") {
    io.stderr("seg token create: --bootstrap creates the first admin token: use --role admin\n");
    return EXIT.usage;
  }
  const actor = opts.actor?.trim() || defaultActor(io.env);
  if (actor === undefined) {
    io.stderr("seg token create: who creates the token? pass --actor NAME (USER is not set)\n");
    return EXIT.usage;
  }
  const url = commandDatabaseUrl("token create", opts, io);
  if (typeof url === "number") return url;
  const db = await openCommandDb("token create", url, io);
  if (typeof db === "number") return db;
  try {
    let how = "bootstrap";
    if (!opts.bootstrap) {
      if (!(await runtime.adminTokenEverCreated(db.client, db.schema))) {
        io.stderr("seg token create: no admin token exists yet: create the first one with 'seg token create --role admin --name NAME --bootstrap'\n");
        return EXIT.usage;
      }
      const auth = await authorizeCommand("token create", db, io, ["token.create"], actor);
      if (typeof auth === "number") return auth;
      how = via(auth.principal, "auth-off");
    }
    const created = await runtime.createToken(db, {
      name: opts.name,
      role: opts.role,
      actor,
      via: how,
      ...(lifetimeMs !== undefined ? { lifetimeMs } : {}),
      ...(opts.bootstrap ? { bootstrap: true } : {}),
    });
    io.stdout(`${created.token}\n`);
    const exp = created.info.expiresAt ? `expires ${created.info.expiresAt.toISOString()}` : "does not expire";
    io.stderr(
      `created token '${created.info.name}' (id ${created.info.id}, role ${created.info.role}, ${exp}); it is shown only this once: store it now\n`,
    );
    return EXIT.ok;
  } catch (e) {
    return tokenFailure("token create", e, io);
  } finally {
    await db.close();
  }
}

async function tokenFailure(command: string, e: unknown, io: CliIo): Promise<number> {
  const runtime = await import("@seg/runtime");
  if (e instanceof runtime.TokenError) {
    io.stderr(`seg ${command}: ${e.message}\n`);
    return e.code === "invalid-request" ? EXIT.usage : EXIT.failure;
  }
  if (e instanceof runtime.SchemaTooNewError) {
    io.stderr(`seg ${command}: ${e.message}\n`);
    return EXIT.failure;
  }
  io.stderr(`seg ${command}: failed, nothing was changed: ${runtime.connectionErrorReason(e)}\n`);
  return EXIT.failure;
}

function formatTokens(tokens: readonly TokenInfo[], status: (t: TokenInfo) => string): string {
  if (tokens.length === 0) return "no tokens\n";
  const rows = [
    ["ID", "NAME", "ROLE", "STATUS", "CREATED", "EXPIRES", "CREATED BY"],
    ...tokens.map((t) => [
      t.id,
      t.name,
      t.role,
      status(t),
      t.createdAt.toISOString().replace(/\.\d+Z$/, "Z"),
      t.expiresAt ? t.expiresAt.toISOString().replace(/\.\d+Z$/, "Z") : "never",
      t.createdBy,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

async function runList(opts: ListOptions, io: CliIo): Promise<number> {
  const runtime = await import("@seg/runtime");
  const url = commandDatabaseUrl("token list", opts, io);
  if (typeof url === "number") return url;
  const db = await openCommandDb("token list", url, io);
  if (typeof db === "number") return db;
  try {
    const auth = await authorizeCommand("token list", db, io, ["token.list"], defaultActor(io.env));
    if (typeof auth === "number") return auth;
    const tokens = await runtime.listTokens(db);
    const now = Date.now();
    if (opts.json) {
      io.stdout(
        JSON.stringify(
          tokens.map((t) => ({
            id: t.id,
            name: t.name,
            role: t.role,
            status: runtime.tokenStatus(t, now),
            createdAt: t.createdAt.toISOString(),
            createdBy: t.createdBy,
            expiresAt: t.expiresAt?.toISOString() ?? null,
            revokedAt: t.revokedAt?.toISOString() ?? null,
            revokedBy: t.revokedBy,
          })),
          null,
          2,
        ) + "\n",
      );
    } else {
      io.stdout(formatTokens(tokens, (t) => runtime.tokenStatus(t, now)));
    }
    return EXIT.ok;
  } catch (e) {
    return tokenFailure("token list", e, io);
  } finally {
    await db.close();
  }
}

async function runRevoke(nameOrId: string, opts: RevokeOptions, io: CliIo): Promise<number> {
  const runtime = await import("@seg/runtime");
  const actor = opts.actor?.trim() || defaultActor(io.env);
  if (actor === undefined) {
    io.stderr("seg token revoke: who revokes the token? pass --actor NAME (USER is not set)\n");
    return EXIT.usage;
  }
  const url = commandDatabaseUrl("token revoke", opts, io);
  if (typeof url === "number") return url;
  const db = await openCommandDb("token revoke", url, io);
  if (typeof db === "number") return db;
  try {
    const auth = await authorizeCommand("token revoke", db, io, ["token.revoke"], actor);
    if (typeof auth === "number") return auth;
    const t = await runtime.revokeToken(db, nameOrId, actor, via(auth.principal, "auth-off"));
    io.stdout(`revoked token '${t.name}' (id ${t.id}, role ${t.role})\n`);
    return EXIT.ok;
  } catch (e) {
    return tokenFailure("token revoke", e, io);
  } finally {
    await db.close();
  }
}
