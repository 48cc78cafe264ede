/**
 * Tokens for state-changing CLI commands (`seg deploy`, `seg rollback`, schema registration,
 * `seg token ...`).
 *
 * When the CLI enforces tokens (`SEG_AUTH`):
 * - `auto` (the default): from the moment an admin token was ever created in the schema (the
 *   bootstrap, `seg token create --role admin --bootstrap`). A schema without tokens works as
 *   before, so a project opts in by bootstrapping; revoking or expiring every admin token does
 *   not switch enforcement off again (a new bootstrap is then allowed).
 * - `required`: always; with no token table yet, every command is refused until the bootstrap.
 *
 * The token comes from `SEG_TOKEN` (not a command-line flag: flags are visible to every user in
 * the process list). Whoever can reach PostgreSQL directly can change seg's tables anyway, so
 * this check is about accountability and mistakes, not a boundary against database users; the API
 * server is the boundary for everyone else.
 */
import { quoteIdent, type SegDb } from "../db/connection.js";
import { decide, type DenyReason, type Principal } from "./access.js";
import { insertAudit } from "./audit.js";
import { isPublic, type CliAction } from "./permissions.js";
import { adminTokenEverCreated, findToken, parseToken, tokensTableExists, type TokenRecord } from "./tokens.js";

/** The environment variable that selects the CLI's auth mode. */
export const AUTH_MODE_ENV = "SEG_AUTH";
/** The environment variable holding the CLI's token. */
export const TOKEN_ENV = "SEG_TOKEN";

/** `auto`: enforce once an admin token exists; `required`: always enforce. */
export type AuthMode = "auto" | "required";

/** An invalid `SEG_AUTH`. */
export class AuthConfigError extends Error {
  constructor(value: string) {
    super(`invalid ${AUTH_MODE_ENV} '${value}': use 'auto' (the default) or 'required'`);
    this.name = "AuthConfigError";
  }
}

/** The auth mode from the environment (throws {@link AuthConfigError} for an unknown value). */
export function authModeFromEnv(env: Record<string, string | undefined>): AuthMode {
  const v = env[AUTH_MODE_ENV]?.trim().toLowerCase();
  if (v === undefined || v === "" || v === "auto") return "auto";
  if (v === "required") return "required";
  throw new AuthConfigError(env[AUTH_MODE_ENV]!);
}

/** A denied CLI action: `status` 401 (no usable token) or 403 (role not allowed). */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly reason: DenyReason,
    readonly action: CliAction,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

/** What {@link requireRole} allowed. */
export interface CliAuthorization {
  /** False when tokens are not enforced for this schema (then `principal` is null). */
  enforced: boolean;
  principal: Principal | null;
}

/** Options of {@link requireRole}. */
export interface RequireRoleOptions {
  /** Default `auto`. */
  mode?: AuthMode;
  /** Who runs the command (e.g. `$USER`), for the audit log. */
  actor?: string;
  /** Where the check happens, for the audit log (default `cli`). */
  via?: string;
}

/** True when the CLI enforces tokens for this schema in this mode. */
export async function authEnforced(db: SegDb, mode: AuthMode = "auto"): Promise<boolean> {
  return mode === "required" || (await adminTokenEverCreated(db.client, db.schema));
}

async function auditTableExists(db: SegDb): Promise<boolean> {
  const r = await db.client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [`${quoteIdent(db.schema)}.audit_log`]);
  return r.rows[0]?.t != null;
}

/**
 * Checks that `token` may do `action`. Returns when allowed (or when tokens are not enforced);
 * otherwise writes the denial to `audit_log` (when the table exists) and throws {@link AuthError}.
 * An allowed, enforced check is audited too (`auth.allow`), linking the token to the command.
 */
export async function requireRole(db: SegDb, token: string | undefined, action: CliAction, options: RequireRoleOptions = {}): Promise<CliAuthorization> {
  const mode = options.mode ?? "auto";
  if (isPublic(action) || !(await authEnforced(db, mode))) return { enforced: false, principal: null };
  const presented = token?.trim() === "" ? undefined : token?.trim();
  const parsed = presented === undefined ? undefined : parseToken(presented);
  const rec: TokenRecord | undefined = parsed ? await findToken(db.client, db.schema, parsed.id) : undefined;
  const decision = decide(presented, action, (id) => (rec?.id === id ? rec : undefined));
  const actor = options.actor?.trim() || "unknown";
  const audit = async (a: string, details: Record<string, unknown>) => {
    if (await auditTableExists(db)) await insertAudit(db.client, db.schema, [{ actor, action: a, target: `cli:${action}`, details }]);
  };
  if (decision.ok) {
    const p = decision.principal!;
    await audit("auth.allow", { via: options.via ?? "cli", token: p.name, tokenId: p.tokenId, role: p.role });
    return { enforced: true, principal: p };
  }
  const p = decision.principal;
  await audit("auth.deny", {
    via: options.via ?? "cli",
    status: decision.status,
    reason: decision.reason,
    ...(p ? { token: p.name, tokenId: p.tokenId, role: p.role } : {}),
  });
  let message: string;
  if (decision.reason === "missing") {
    const hasTable = await tokensTableExists(db.client, db.schema);
    message = hasTable
      ? `authentication required: set ${TOKEN_ENV} to a token allowed to ${action}`
      : `authentication required (${AUTH_MODE_ENV}=required) but schema '${db.schema}' has no tokens yet: create the first admin token with 'seg token create --role admin --name NAME --bootstrap'`;
  } else if (decision.status === 403) {
    message = `forbidden: role '${p!.role}' may not ${action}`;
  } else {
    message = `${decision.message} (${TOKEN_ENV})`;
  }
  throw new AuthError(decision.status, decision.reason, action, message);
}
