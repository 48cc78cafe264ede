/**
 * API and CLI tokens.
 *
 * A token reads `seg_<id>_<secret>`: `id` is 16 hex digits (8 random bytes, public: it finds the
 * row and names the token in logs), `secret` is 32 random bytes in base64url (43 characters).
 * PostgreSQL (`<schema>.api_tokens`) keeps the id, name, role, expiry and revocation, and only
 * `HMAC-SHA256(salt, secret)` with a random 16-byte salt per token; the token text is shown once,
 * when it is created. Secrets are 256-bit random, so a fast keyed hash is enough (there is nothing
 * to brute-force); comparisons are constant-time.
 *
 * Creating or revoking a token commits with a `NOTIFY <schema>_tokens`, so servers reload their
 * token table at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { QueryResult, QueryResultRow } from "pg";
import { quoteIdent, type SegDb } from "../db/connection.js";
import { migrate } from "../db/migrations.js";
import { isRole, type Role } from "./permissions.js";

/** What seg needs of a PostgreSQL client or pool. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** Every token starts with this. */
export const TOKEN_PREFIX = "seg_";

const TOKEN_RE = /^seg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const ID_RE = /^[0-9a-f]{16}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The advisory-lock class of token changes (`pg_advisory_xact_lock(class, hashtext(schema))`). */
export const TOKEN_LOCK_CLASS = 0x5e6d0003;

/** The NOTIFY channel of token changes: `seg_tokens` for the default schema. */
export function tokensChannel(schema: string): string {
  return `${schema}_tokens`;
}

/** A token as generated: `text` is shown once; the rest is stored. */
export interface GeneratedToken {
  id: string;
  text: string;
  salt: Buffer;
  hash: Buffer;
}

/** A stored token (never its secret). */
export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  salt: Buffer;
  hash: Buffer;
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

/** A stored token without its salt and hash, for listings. */
export type TokenInfo = Omit<TokenRecord, "salt" | "hash">;

/** `active`, `expired` or `revoked` at `now`. */
export function tokenStatus(t: Pick<TokenRecord, "expiresAt" | "revokedAt">, now = Date.now()): "active" | "expired" | "revoked" {
  if (t.revokedAt !== null) return "revoked";
  if (t.expiresAt !== null && t.expiresAt.getTime() <= now) return "expired";
  return "active";
}

/** HMAC-SHA256 of the secret keyed by the salt. */
export function hashSecret(salt: Buffer, secret: string): Buffer {
  return createHmac("sha256", salt).update(secret, "utf8").digest();
}

/** True when `secret` hashes to `hash` under `salt` (constant-time). */
export function secretMatches(salt: Buffer, hash: Buffer, secret: string): boolean {
  const h = hashSecret(salt, secret);
  return h.length === hash.length && timingSafeEqual(h, hash);
}

/** A new random token. */
export function generateToken(): GeneratedToken {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const salt = randomBytes(16);
  return { id, text: `${TOKEN_PREFIX}${id}_${secret}`, salt, hash: hashSecret(salt, secret) };
}

/** The id and secret of a token text; undefined when it is not shaped like a token. */
export function parseToken(text: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(text);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** True when `s` is a token id (16 hex digits). */
export function isTokenId(s: string): boolean {
  return ID_RE.test(s);
}

/** True when `s` can name a token: a letter or digit, then up to 63 of letters, digits, `.`, `_`, `-`. */
export function isValidTokenName(s: string): boolean {
  return NAME_RE.test(s);
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Longest `--expires-in`: ten years. */
export const MAX_TOKEN_LIFETIME_MS = 3_650 * 86_400_000;

/** Parses `30d`, `12h`, `90m`, `45s`, `2w` to milliseconds; undefined when not one (or out of range). */
export function parseLifetime(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,6})([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms <= MAX_TOKEN_LIFETIME_MS ? ms : undefined;
}

/** A token operation that cannot be done (unknown token, name taken, bootstrap not allowed...). */
export class TokenError extends Error {
  constructor(
    readonly code: "invalid-request" | "name-taken" | "not-found" | "ambiguous" | "already-revoked" | "bootstrap-refused",
    message: string,
  ) {
    super(message);
    this.name = "TokenError";
  }
}

interface Row {
  id: string;
  name: string;
  role: string;
  salt: Buffer;
  hash: Buffer;
  created_at: Date;
  created_by: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

function fromRow(r: Row): TokenRecord {
  if (!isRole(r.role)) throw new Error(`token ${r.id} has an unknown role '${r.role}'`);
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    salt: r.salt,
    hash: r.hash,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

const withoutSecrets = ({ salt: _s, hash: _h, ...info }: TokenRecord): TokenInfo => info;

/** True when `<schema>.api_tokens` exists. */
export async function tokensTableExists(q: Queryable, schema: string): Promise<boolean> {
  const r = await q.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [`${quoteIdent(schema)}.api_tokens`]);
  return r.rows[0]?.t != null;
}

/** Every stored token (with salts and hashes: for verifiers only). Empty when the table does not exist. */
export async function loadTokens(q: Queryable, schema: string): Promise<TokenRecord[]> {
  if (!(await tokensTableExists(q, schema))) return [];
  const r = await q.query<Row>(`SELECT * FROM ${quoteIdent(schema)}.api_tokens ORDER BY created_at, id`);
  return r.rows.map(fromRow);
}

/** One stored token by id, or undefined. */
export async function findToken(q: Queryable, schema: string, id: string): Promise<TokenRecord | undefined> {
  if (!isTokenId(id) || !(await tokensTableExists(q, schema))) return undefined;
  const r = await q.query<Row>(`SELECT * FROM ${quoteIdent(schema)}.api_tokens WHERE id = $1`, [id]);
  return r.rows[0] ? fromRow(r.rows[0]) : undefined;
}

/** True when an admin token was ever created in the schema: from then on, the CLI enforces tokens. */
export async function adminTokenEverCreated(q: Queryable, schema: string): Promise<boolean> {
  if (!(await tokensTableExists(q, schema))) return false;
  const r = await q.query(`SELECT 1 FROM ${quoteIdent(schema)}.api_tokens WHERE role = 'admin' LIMIT 1`);
  return (r.rowCount ?? 0) > 0;
}

/** True when an admin token is usable now (neither revoked nor expired). */
export async function usableAdminTokenExists(q: Queryable, schema: string): Promise<boolean> {
  if (!(await tokensTableExists(q, schema))) return false;
  const r = await q.query(
    `SELECT 1 FROM ${quoteIdent(schema)}.api_tokens WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) LIMIT 1`,
  );
  return (r.rowCount ?? 0) > 0;
}

/** What to create. */
export interface CreateTokenRequest {
  name: string;
  role: Role;
  /** Lifetime in ms from now; none: the token does not expire. */
  lifetimeMs?: number;
  /** Who creates it, for the audit log. */
  actor: string;
  /** How the creator was authorised, for the audit log: `token:<name>`, `bootstrap` or `auth-off`. */
  via: string;
  /** Create the first admin token: allowed only while no admin token is usable. */
  bootstrap?: boolean;
}

/** A created token: its text is shown once. */
export interface CreatedToken {
  token: string;
  info: TokenInfo;
}

async function inTransaction<T>(db: SegDb, body: () => Promise<T>): Promise<T> {
  await db.client.query("BEGIN");
  try {
    const out = await body();
    await db.client.query("COMMIT");
    return out;
  } catch (e) {
    await db.client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}

async function audit(q: Queryable, schema: string, actor: string, action: string, target: string, details: Record<string, unknown>): Promise<void> {
  await q.query(`INSERT INTO ${quoteIdent(schema)}.audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)`, [
    actor,
    action,
    target,
    JSON.stringify(details),
  ]);
}

/** Creates a token (migrating the schema first when needed), audited; returns its text once. */
export async function createToken(db: SegDb, req: CreateTokenRequest): Promise<CreatedToken> {
  if (!isValidTokenName(req.name)) {
    throw new TokenError("invalid-request", `invalid token name '${req.name}': use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)`);
  }
  if (!isRole(req.role)) throw new TokenError("invalid-request", `unknown role '${String(req.role)}'`);
  if (req.lifetimeMs !== undefined && !(req.lifetimeMs > 0 && req.lifetimeMs <= MAX_TOKEN_LIFETIME_MS)) {
    throw new TokenError("invalid-request", "a token's lifetime must be between 1 second and 10 years");
  }
  if (req.bootstrap && req.role !== "admin") throw new TokenError("invalid-request", "--bootstrap creates the first admin token: use --role admin");
  const actor = req.actor.trim();
  if (actor === "") throw new TokenError("invalid-request", "creating a token needs an actor");
  await migrate(db);
  const s = quoteIdent(db.schema);
  return inTransaction(db, async () => {
    await db.client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [TOKEN_LOCK_CLASS, db.schema]);
    if (req.bootstrap && (await usableAdminTokenExists(db.client, db.schema))) {
      throw new TokenError("bootstrap-refused", "an admin token already exists: --bootstrap is only for the first one; create tokens with SEG_TOKEN set to an admin token");
    }
    const taken = await db.client.query(`SELECT 1 FROM ${s}.api_tokens WHERE name = $1 AND revoked_at IS NULL`, [req.name]);
    if ((taken.rowCount ?? 0) > 0) throw new TokenError("name-taken", `a token named '${req.name}' exists already: revoke it first or pick another name`);
    const g = generateToken();
    const r = await db.client.query<Row>(
      `INSERT INTO ${s}.api_tokens (id, name, role, salt, hash, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + $7::bigint * interval '1 millisecond' END)
       RETURNING *`,
      [g.id, req.name, req.role, g.salt, g.hash, actor, req.lifetimeMs ?? null],
    );
    const rec = fromRow(r.rows[0]!);
    await audit(db.client, db.schema, actor, "token.create", `token:${rec.name}`, {
      id: rec.id,
      role: rec.role,
      expiresAt: rec.expiresAt?.toISOString() ?? null,
      via: req.via,
      bootstrap: req.bootstrap === true,
    });
    await db.client.query("SELECT pg_notify($1, $2)", [tokensChannel(db.schema), `create:${rec.id}`]);
    return { token: g.text, info: withoutSecrets(rec) };
  });
}

/** Every token without secrets, oldest first. Empty when the table does not exist. */
export async function listTokens(db: SegDb): Promise<TokenInfo[]> {
  return (await loadTokens(db.client, db.schema)).map(withoutSecrets);
}

/** Revokes a token by id or by the name of a token that is not revoked; audited. */
export async function revokeToken(db: SegDb, nameOrId: string, actor: string, via: string): Promise<TokenInfo> {
  const who = actor.trim();
  if (who === "") throw new TokenError("invalid-request", "revoking a token needs an actor");
  if (!(await tokensTableExists(db.client, db.schema))) throw new TokenError("not-found", `no token '${nameOrId}'`);
  const s = quoteIdent(db.schema);
  return inTransaction(db, async () => {
    await db.client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [TOKEN_LOCK_CLASS, db.schema]);
    let rows: Row[] = [];
    if (isTokenId(nameOrId)) rows = (await db.client.query<Row>(`SELECT * FROM ${s}.api_tokens WHERE id = $1 FOR UPDATE`, [nameOrId])).rows;
    if (rows.length === 0) rows = (await db.client.query<Row>(`SELECT * FROM ${s}.api_tokens WHERE name = $1 AND revoked_at IS NULL FOR UPDATE`, [nameOrId])).rows;
    if (rows.length === 0) {
      const revoked = await db.client.query(`SELECT 1 FROM ${s}.api_tokens WHERE name = $1`, [nameOrId]);
      if ((revoked.rowCount ?? 0) > 0) throw new TokenError("already-revoked", `token '${nameOrId}' is already revoked`);
      throw new TokenError("not-found", `no token '${nameOrId}' (give its name or its id; see seg token list)`);
    }
    const rec = fromRow(rows[0]!);
    if (rec.revokedAt !== null) throw new TokenError("already-revoked", `token '${nameOrId}' is already revoked`);
    const r = await db.client.query<Row>(`UPDATE ${s}.api_tokens SET revoked_at = now(), revoked_by = $2 WHERE id = $1 RETURNING *`, [rec.id, who]);
    await audit(db.client, db.schema, who, "token.revoke", `token:${rec.name}`, { id: rec.id, role: rec.role, via });
    await db.client.query("SELECT pg_notify($1, $2)", [tokensChannel(db.schema), `revoke:${rec.id}`]);
    return withoutSecrets(fromRow(r.rows[0]!));
  });
}
