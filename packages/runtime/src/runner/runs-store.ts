/**
 * Runs in PostgreSQL (`<schema>.runs`): one row per pipeline and job, moving
 * queued → running → succeeded | failed | cancelled, with the engine, `as_of`, start and end,
 * the members written and the error. Nothing is left `running` silently: a run whose job outlives
 * the timeout is failed with the reason, and runs a dead process left behind are failed when
 * found (at start, and by the periodic sweep once they are older than the timeout).
 */
import { hostname } from "node:os";
import { openDatabase, quoteIdent, type SegDb } from "../db/connection.js";
import { migrate } from "../db/migrations.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";

/** A run's status. */
export type RunState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Who runs the jobs: `host:pid`. */
export interface RunnerIdentity {
  host: string;
  pid: number;
}

/** The identity of this process. */
export function thisRunner(): RunnerIdentity {
  return { host: hostname(), pid: process.pid };
}

/** A row of `runs`, as read back. */
export interface RunRow {
  id: string;
  segment: string;
  version: string;
  status: RunState;
  engine: string | null;
  asOf: Date | null;
  startedAt: Date;
  endedAt: Date | null;
  rows: number | null;
  error: string | null;
  details: Record<string, unknown>;
}

/** Longest error text stored. */
const MAX_ERROR = 4_000;
const cut = (s: string) => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s);

function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && /^(08|57P0)/.test(code)) return true;
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error|not queryable|ECONNRESET|ECONNREFUSED|EPIPE/i.test(e.message);
}

/** A PostgreSQL connection that is opened again (once per query) when it was lost. */
export class ReconnectingDb {
  private db: SegDb | undefined;
  private opening: Promise<SegDb> | undefined;

  constructor(
    private readonly url: string,
    readonly schema: string,
    private readonly applicationName: string,
    private readonly log: RunnerLog = silentLog,
  ) {}

  /** The connection, opened if needed. */
  async get(): Promise<SegDb> {
    if (this.db) return this.db;
    this.opening ??= openDatabase({ url: this.url, schema: this.schema, applicationName: this.applicationName }).finally(() => {
      this.opening = undefined;
    });
    this.db = await this.opening;
    return this.db;
  }

  /** Runs a query, reconnecting and trying once more when the connection was lost. */
  async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      const db = await this.get();
      try {
        return (await db.client.query<R>(sql, params)).rows;
      } catch (e) {
        if (attempt >= 2 || !isConnectionError(e)) throw e;
        this.log("warn", `lost the database connection (${errorMessage(e)}); reconnecting`);
        this.db = undefined;
        await db.close();
      }
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await db?.close();
  }
}

/** Reads and writes runs. */
export class RunsStore {
  private readonly s: string;

  constructor(
    readonly db: ReconnectingDb,
    readonly runner: RunnerIdentity = thisRunner(),
  ) {
    this.s = quoteIdent(db.schema);
  }

  /** Brings the schema up to date (the runs table comes with the first migration). */
  async migrate(): Promise<void> {
    await migrate(await this.db.get());
  }

  /** Records a queued run for each pipeline of a job; returns the run ids by segment. */
  async queue(job: { id: string; pipelines: readonly { segment: string; version: string }[] }, engine: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const segments = job.pipelines.map((p) => p.segment);
    for (const p of job.pipelines) {
      const details = { job: job.id, host: this.runner.host, pid: this.runner.pid, pipelines: segments };
      const rows = await this.db.query<{ id: string }>(
        `INSERT INTO ${this.s}.runs (segment, version, status, engine, details) VALUES ($1, $2, 'queued', $3, $4::jsonb) RETURNING id`,
        [p.segment, p.version, engine, JSON.stringify(details)],
      );
      out.set(p.segment, String(rows[0]!.id));
    }
    return out;
  }

  /** Queued → running, with the evaluation time. */
  async start(ids: readonly string[], asOf: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`UPDATE ${this.s}.runs SET status = 'running', started_at = now(), as_of = $2 WHERE id = ANY($1::bigint[]) AND status = 'queued'`, [ids, asOf]);
  }

  /** Running → succeeded with the number of members written. */
  async succeed(id: string, rows: number, details: Record<string, unknown> = {}): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.runs SET status = 'succeeded', ended_at = greatest(now(), started_at), rows = $2, details = details || $3::jsonb WHERE id = $1 AND status = 'running'`,
      [id, rows, JSON.stringify(details)],
    );
  }

  /** Queued or running → failed with the error. */
  async fail(ids: readonly string[], error: string, details: Record<string, unknown> = {}): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      `UPDATE ${this.s}.runs SET status = 'failed', ended_at = greatest(now(), started_at), error = $2, details = details || $3::jsonb
        WHERE id = ANY($1::bigint[]) AND status IN ('queued', 'running')`,
      [ids, cut(error), JSON.stringify(details)],
    );
  }

  /** Queued or running → cancelled with the reason. */
  async cancel(ids: readonly string[], reason: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      `UPDATE ${this.s}.runs SET status = 'cancelled', ended_at = greatest(now(), started_at), error = $2 WHERE id = ANY($1::bigint[]) AND status IN ('queued', 'running')`,
      [ids, cut(reason)],
    );
  }

  /**
   * Fails runs left queued or running longer than `timeoutMs` (whoever ran them: a process that
   * died or hangs); returns them.
   */
  async sweepStuck(timeoutMs: number): Promise<{ id: string; segment: string }[]> {
    const seconds = Math.round(timeoutMs / 1000);
    return this.db.query<{ id: string; segment: string }>(
      `UPDATE ${this.s}.runs SET status = 'failed', ended_at = greatest(now(), started_at),
              error = 'stuck: ' || status || ' for more than ' || $1::text || ' s (the job timed out, or the runtime running it stopped)'
        WHERE status IN ('queued', 'running') AND started_at < now() - make_interval(secs => $1::int)
        RETURNING id::text, segment`,
      [seconds],
    );
  }

  /** Fails runs this host's processes left behind that are no longer alive (found at start). */
  async failOrphans(isAlive: (pid: number) => boolean = pidAlive): Promise<{ id: string; segment: string }[]> {
    const rows = await this.db.query<{ id: string; segment: string; pid: number | null }>(
      `SELECT id::text, segment, (details->>'pid')::int AS pid FROM ${this.s}.runs WHERE status IN ('queued', 'running') AND details->>'host' = $1`,
      [this.runner.host],
    );
    const dead = rows.filter((r) => r.pid !== null && r.pid !== this.runner.pid && !isAlive(r.pid));
    if (dead.length > 0) {
      await this.fail(
        dead.map((r) => r.id),
        "abandoned: the runtime process running it stopped before it finished",
      );
    }
    return dead.map((r) => ({ id: r.id, segment: r.segment }));
  }

  /** Runs by id. */
  async get(ids: readonly string[]): Promise<RunRow[]> {
    const rows = await this.db.query<Record<string, unknown>>(`SELECT * FROM ${this.s}.runs WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]);
    return rows.map(toRunRow);
  }
}

/** A `runs` row as a {@link RunRow}. */
export function toRunRow(r: Record<string, unknown>): RunRow {
  return {
    id: String(r["id"]),
    segment: String(r["segment"]),
    version: String(r["version"]),
    status: r["status"] as RunState,
    engine: (r["engine"] as string | null) ?? null,
    asOf: (r["as_of"] as Date | null) ?? null,
    startedAt: r["started_at"] as Date,
    endedAt: (r["ended_at"] as Date | null) ?? null,
    rows: r["rows"] === null || r["rows"] === undefined ? null : Number(r["rows"]),
    error: (r["error"] as string | null) ?? null,
    details: (r["details"] as Record<string, unknown>) ?? {},
  };
}

/** True when a process with this pid exists on this host. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
