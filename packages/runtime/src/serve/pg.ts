/**
 * PostgreSQL for the server: a small pool for queries and one connection that LISTENs for
 * deploys (`<schema>_pipelines`) and token changes (`<schema>_tokens`), reconnecting when it
 * drops. `pg` is loaded on first use.
 */
import { userInfo } from "node:os";
import type { Client, Pool } from "pg";
import { connectionErrorReason, maskUrl, openDatabase, quoteIdent } from "../db/connection.js";

/** Like libpq (and `openDatabase`): no user in the URL, PGUSER nor USER means the OS user name. */
function withDefaultUser(url: string): string {
  if (process.env["PGUSER"] || process.env["USER"]) return url;
  try {
    const u = new URL(url);
    if (u.username !== "") return url;
    u.username = encodeURIComponent(userInfo().username);
    return u.toString();
  } catch {
    return url;
  }
}

/** A pool of `max` connections (idle ones closed after 30 s). */
export async function openPool(url: string, options: { max?: number; applicationName?: string } = {}): Promise<Pool> {
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: withDefaultUser(url),
    max: options.max ?? 4,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: options.applicationName ?? "seg serve",
  });
  // An idle client that dies must not crash the process: the next query reports it.
  pool.on("error", () => {});
  return pool;
}

/** Runs `fn` on each notification of the channels; reconnects (every `retryMs`) when the connection drops. */
export class PgListener {
  private client: Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private connects = 0;

  constructor(
    private readonly url: string,
    private readonly schema: string,
    private readonly channels: readonly string[],
    private readonly fn: (channel: string, payload: string) => void,
    private readonly options: { retryMs?: number; onError?: (message: string) => void; onReconnect?: () => void } = {},
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const db = await openDatabase({ url: this.url, schema: this.schema, applicationName: "seg serve (listen)" });
      const client = db.client;
      client.on("notification", (n) => this.fn(n.channel, n.payload ?? ""));
      client.on("error", (e) => this.lost(connectionErrorReason(e)));
      client.on("end", () => this.lost("connection ended"));
      for (const ch of this.channels) await client.query(`LISTEN ${quoteIdent(ch)}`);
      if (this.closed) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      // Notifications sent while disconnected are lost: the owner reloads what it caches.
      if (++this.connects > 1) this.options.onReconnect?.();
    } catch (e) {
      this.lost(`${maskUrl(this.url)}: ${connectionErrorReason(e)}`);
    }
  }

  private lost(reason: string): void {
    if (this.closed || this.retry !== undefined) return;
    this.options.onError?.(`LISTEN connection lost (${reason}); reconnecting`);
    const old = this.client;
    this.client = undefined;
    void old?.end().catch(() => {});
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.options.retryMs ?? 1_000);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }
}
