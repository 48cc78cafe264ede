/**
 * Connections to PostgreSQL for seg's own tables. `pg` is loaded on first use (dynamic import),
 * so importing `@seg/runtime` costs nothing for commands that never touch the database.
 */
import { userInfo } from "node:os";
import type { Client, ClientConfig } from "pg";

/** The schema seg's tables live in unless configured otherwise. */
export const DEFAULT_DB_SCHEMA = "seg";

/** The environment variable that overrides the schema name (tests use one schema each). */
export const DB_SCHEMA_ENV = "SEG_DB_SCHEMA";

/** An open connection and the schema seg's tables live in. */
export interface SegDb {
  client: Client;
  /** The schema name, validated: safe to interpolate as `"${schema}"`. */
  schema: string;
  /** The database URL with any password masked, for messages. */
  url: string;
  close(): Promise<void>;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  url: string;
  schema?: string;
  /** Shown in `pg_stat_activity`. */
  applicationName?: string;
  /** How long to wait for the server (default 5 s). */
  connectTimeoutMs?: number;
}

/** The database could not be reached or refused the connection. */
export class DatabaseUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot connect to PostgreSQL at ${url}: ${reason}`);
    this.name = "DatabaseUnreachableError";
  }
}

/** A schema name that seg cannot use. */
export class InvalidSchemaNameError extends Error {
  constructor(readonly schemaName: string) {
    super(
      `invalid database schema name '${schemaName}': use lower-case letters, digits and '_', starting with a letter or '_', at most ${MAX_SCHEMA_LENGTH} characters`,
    );
    this.name = "InvalidSchemaNameError";
  }
}

/** Schema names are at most this long, so `<schema>_pipelines` fits PostgreSQL's 63-byte names. */
export const MAX_SCHEMA_LENGTH = 48;

/** True when seg accepts `name` as a schema name. */
export function isValidSchemaName(name: string): boolean {
  return name.length <= MAX_SCHEMA_LENGTH && /^[a-z_][a-z0-9_]*$/.test(name) && !name.startsWith("pg_");
}

/** The schema name to use: an explicit one, else `SEG_DB_SCHEMA`, else `seg`. Throws when invalid. */
export function resolveSchemaName(explicit: string | undefined, env: Record<string, string | undefined> = {}): string {
  const name = explicit ?? (env[DB_SCHEMA_ENV]?.trim() || DEFAULT_DB_SCHEMA);
  if (!isValidSchemaName(name)) throw new InvalidSchemaNameError(name);
  return name;
}

/** `"name"`, for a name already checked by {@link isValidSchemaName}. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The URL with its password replaced by `***`. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  }
}

/** A readable reason from a connection error (Node gives an empty-message AggregateError when every address fails). */
export function connectionErrorReason(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) {
    return [...new Set(e.errors.map((x) => connectionErrorReason(x)))].join("; ");
  }
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    const message = e.message.trim();
    if (message !== "") return message;
    return code ?? e.name;
  }
  return String(e);
}

/**
 * Like libpq: no user in the URL nor in PGUSER means the operating system's user name (pg itself
 * falls back to $USER only, which services and CI often do not set).
 */
function withDefaultUser(url: string): string {
  if (process.env["PGUSER"] || process.env["USER"]) return url;
  try {
    const u = new URL(url);
    const user = osUserName();
    if (u.username !== "" || user === undefined) return url;
    u.username = encodeURIComponent(user);
    return u.toString();
  } catch {
    return url;
  }
}

function osUserName(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** Opens one connection. Throws {@link DatabaseUnreachableError} when the server cannot be reached. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<SegDb> {
  const schema = resolveSchemaName(options.schema);
  const url = maskUrl(options.url);
  const { default: pg } = await import("pg");
  const config: ClientConfig = {
    connectionString: withDefaultUser(options.url),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    application_name: options.applicationName ?? "seg",
  };
  const client = new pg.Client(config);
  // A connection that dies later must not crash the process: the next query reports it.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw new DatabaseUnreachableError(url, connectionErrorReason(e));
  }
  let closed = false;
  return {
    client,
    schema,
    url,
    close: async () => {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    },
  };
}
