/**
 * seg's own tables, created and upgraded by numbered migrations. Each run takes a
 * transaction-scoped advisory lock first, so two processes never migrate the same schema at once;
 * the second waits, then finds nothing left to do. Applied migrations are recorded with a checksum
 * in `<schema>.schema_migrations`; an applied migration is never edited, a change is a new one.
 */
import { createHash } from "node:crypto";
import type { ClientBase } from "pg";
import { quoteIdent, type SegDb } from "./connection.js";

/** One numbered migration. `sql` gets the quoted schema name. */
export interface Migration {
  version: number;
  name: string;
  sql(schema: string): string;
}

/** The advisory-lock class of migrations (`pg_advisory_xact_lock(class, hashtext(schema))`). */
export const MIGRATE_LOCK_CLASS = 0x5e6d0001;

const m1 = (s: string) => `
-- Every deploy and rollback: who, when, why, and what it changed (counts; rows in deploy_changes).
CREATE TABLE ${s}.deploys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('deploy', 'rollback')),
  actor       text NOT NULL CHECK (actor <> ''),
  message     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  added       integer NOT NULL DEFAULT 0 CHECK (added >= 0),
  changed     integer NOT NULL DEFAULT 0 CHECK (changed >= 0),
  removed     integer NOT NULL DEFAULT 0 CHECK (removed >= 0),
  unchanged   integer NOT NULL DEFAULT 0 CHECK (unchanged >= 0),
  schemas_registered integer NOT NULL DEFAULT 0 CHECK (schemas_registered >= 0),
  -- One line such as "+1 ~2 -0 =30", or "no changes".
  summary     text NOT NULL
);
CREATE INDEX deploys_created_at ON ${s}.deploys (created_at DESC);

-- Every distinct spec a segment ever had, content-addressed by its version hash.
CREATE TABLE ${s}.pipeline_versions (
  segment      text NOT NULL,
  version      text NOT NULL,
  spec         jsonb NOT NULL,
  spec_format  integer NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL,
  deploy_id    bigint NOT NULL REFERENCES ${s}.deploys (id),
  PRIMARY KEY (segment, version),
  CHECK (spec ->> 'id' = segment AND spec ->> 'version' = version)
);
CREATE INDEX pipeline_versions_deploy ON ${s}.pipeline_versions (deploy_id);

-- The current state: one row per segment ever deployed.
CREATE TABLE ${s}.pipelines (
  segment          text PRIMARY KEY,
  current_version  text NOT NULL,
  status           text NOT NULL CHECK (status IN ('active', 'retired')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  retired_at       timestamptz,
  last_deploy_id   bigint NOT NULL REFERENCES ${s}.deploys (id),
  FOREIGN KEY (segment, current_version) REFERENCES ${s}.pipeline_versions (segment, version),
  CHECK ((status = 'retired') = (retired_at IS NOT NULL))
);
CREATE INDEX pipelines_active ON ${s}.pipelines (segment) WHERE status = 'active';

-- What each deploy did to each segment: the per-segment timeline.
CREATE TABLE ${s}.deploy_changes (
  deploy_id     bigint NOT NULL REFERENCES ${s}.deploys (id),
  segment       text NOT NULL,
  action        text NOT NULL CHECK (action IN ('added', 'changed', 'removed', 'rollback')),
  from_version  text,
  to_version    text,
  reason        text NOT NULL,
  -- e.g. the changed parts, or the Redis keys a removal retires.
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (deploy_id, segment),
  FOREIGN KEY (segment, to_version) REFERENCES ${s}.pipeline_versions (segment, version),
  CHECK (from_version IS NOT NULL OR to_version IS NOT NULL)
);
CREATE INDEX deploy_changes_segment ON ${s}.deploy_changes (segment, deploy_id DESC);

-- Registered event and profile schemas: a new row for each new content hash of a name.
CREATE TABLE ${s}.schemas (
  name          text NOT NULL,
  version       integer NOT NULL CHECK (version > 0),
  hash          text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('event', 'profile')),
  entity        text NOT NULL,
  key_field     text NOT NULL,
  topic         text NOT NULL,
  definition    jsonb NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  deploy_id     bigint NOT NULL REFERENCES ${s}.deploys (id),
  PRIMARY KEY (name, version),
  UNIQUE (name, hash)
);

-- Who did what, when: one row per action, never updated.
CREATE TABLE ${s}.audit_log (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  action     text NOT NULL,
  target     text NOT NULL,
  deploy_id  bigint REFERENCES ${s}.deploys (id),
  details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON ${s}.audit_log (at DESC);
CREATE INDEX audit_log_target ON ${s}.audit_log (target, at DESC);

-- Runs of pipelines by the runtime (one row per evaluation).
CREATE TABLE ${s}.runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment     text NOT NULL,
  version     text NOT NULL,
  status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  engine      text,
  as_of       timestamptz,
  started_at  timestamptz NOT NULL DEFAULT now(),
  ended_at    timestamptz,
  rows        bigint CHECK (rows >= 0),
  error       text,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  FOREIGN KEY (segment, version) REFERENCES ${s}.pipeline_versions (segment, version),
  CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX runs_segment ON ${s}.runs (segment, started_at DESC);
CREATE INDEX runs_unfinished ON ${s}.runs (status) WHERE status IN ('queued', 'running');

-- Ingestion progress per stream, topic and partition (upserted by the ingester).
CREATE TABLE ${s}.stream_progress (
  stream           text NOT NULL,
  topic            text NOT NULL,
  partition        integer NOT NULL CHECK (partition >= 0),
  "offset"         bigint NOT NULL CHECK ("offset" >= -1),
  received         bigint NOT NULL DEFAULT 0 CHECK (received >= 0),
  valid            bigint NOT NULL DEFAULT 0 CHECK (valid >= 0),
  invalid          bigint NOT NULL DEFAULT 0 CHECK (invalid >= 0),
  last_event_time  timestamptz,
  lag              bigint CHECK (lag >= 0),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, topic, partition)
);
`;

const m2 = (s: string) => `
-- API and CLI tokens. The secret is never stored: only HMAC-SHA256(salt, secret) with a per-token
-- random salt. The token's public id (in the token text) finds the row.
CREATE TABLE ${s}.api_tokens (
  id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  role        text NOT NULL CHECK (role IN ('admin', 'ops', 'analyst', 'consumer')),
  salt        bytea NOT NULL CHECK (octet_length(salt) = 16),
  hash        bytea NOT NULL CHECK (octet_length(hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  expires_at  timestamptz,
  revoked_at  timestamptz,
  revoked_by  text,
  CHECK (expires_at IS NULL OR expires_at > created_at),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
-- A name names at most one token that is not revoked (so "seg token revoke NAME" is unambiguous).
CREATE UNIQUE INDEX api_tokens_live_name ON ${s}.api_tokens (name) WHERE revoked_at IS NULL;
`;

/** Every migration, in order. Append only. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: "deploy store, runs and stream progress", sql: m1 },
  { version: 2, name: "api tokens", sql: m2 },
]);

/** The newest schema version this code knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** A migration's checksum: SHA-256 of its SQL for the schema name `seg`. */
export function migrationChecksum(m: Migration): string {
  return createHash("sha256").update(m.sql('"seg"'), "utf8").digest("hex");
}

/** The database's schema is newer than this code (a newer seg migrated it). */
export class SchemaTooNewError extends Error {
  constructor(
    readonly schema: string,
    readonly found: number,
  ) {
    super(`the database schema '${schema}' is at version ${found}, newer than this seg knows (${LATEST_SCHEMA_VERSION}); upgrade seg`);
    this.name = "SchemaTooNewError";
  }
}

/** The applied version of the schema (0 when seg's tables are not there). */
export async function schemaVersion(client: ClientBase, schema: string): Promise<number> {
  const table = `${quoteIdent(schema)}.schema_migrations`;
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [table]);
  if (exists.rows[0]?.t == null) return 0;
  const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${table}`);
  return r.rows[0]?.v ?? 0;
}

/** What {@link applyMigrations} did. */
export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

/**
 * Applies the pending migrations inside the caller's open transaction, under the migration lock.
 * Use {@link migrate} unless the caller needs the tables in a transaction it will roll back.
 */
export async function applyMigrations(client: ClientBase, schema: string): Promise<MigrationResult> {
  const s = quoteIdent(schema);
  await client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [MIGRATE_LOCK_CLASS, schema]);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
       version     integer PRIMARY KEY,
       name        text NOT NULL,
       checksum    text NOT NULL,
       applied_at  timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const from = await schemaVersion(client, schema);
  if (from > LATEST_SCHEMA_VERSION) throw new SchemaTooNewError(schema, from);
  const applied: MigrationResult["applied"] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= from) continue;
    await client.query(m.sql(s));
    await client.query(`INSERT INTO ${s}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [
      m.version,
      m.name,
      migrationChecksum(m),
    ]);
    applied.push({ version: m.version, name: m.name });
  }
  return { from, to: Math.max(from, LATEST_SCHEMA_VERSION), applied };
}

/**
 * Brings the schema up to date in its own transaction (a no-op, without locking, when it already
 * is). Safe to call from several processes at once.
 */
export async function migrate(db: SegDb): Promise<MigrationResult> {
  const current = await schemaVersion(db.client, db.schema);
  if (current === LATEST_SCHEMA_VERSION) return { from: current, to: current, applied: [] };
  if (current > LATEST_SCHEMA_VERSION) throw new SchemaTooNewError(db.schema, current);
  await db.client.query("BEGIN");
  try {
    const result = await applyMigrations(db.client, db.schema);
    await db.client.query("COMMIT");
    return result;
  } catch (e) {
    await db.client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}
