/**
 * Audit entries for authentication and authorisation: one `audit_log` row per denial (API and
 * CLI) and per token change. The API server queues denials and writes them in batches off the
 * request path; the queue is bounded, and entries dropped when it is full are counted in one
 * `auth.deny.dropped` row written with the next batch (and in a metric), so a flood of bad
 * requests can neither exhaust memory nor go unrecorded.
 */
import { quoteIdent } from "../db/connection.js";
import type { Queryable } from "./tokens.js";

/** One audit row. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  at?: Date;
}

/** Inserts entries in one statement (no-op for none). */
export async function insertAudit(q: Queryable, schema: string, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const values: unknown[] = [];
  const rows = entries.map((e, i) => {
    values.push(e.at ?? new Date(), e.actor, e.action, e.target, JSON.stringify(e.details));
    const b = i * 5;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb)`;
  });
  await q.query(`INSERT INTO ${quoteIdent(schema)}.audit_log (at, actor, action, target, details) VALUES ${rows.join(", ")}`, values);
}

/** Options of {@link AuditQueue}. */
export interface AuditQueueOptions {
  /** Entries held at most; more are dropped and counted (default 10,000). */
  capacity?: number;
  /** Rows per INSERT (default 500). */
  batchSize?: number;
  /** Wait this long after the first queued entry before writing, to batch (default 20 ms). */
  delayMs?: number;
  /** Called when a write fails (the batch is lost; default: ignore). */
  onError?: (e: unknown) => void;
  /** Called with the number of dropped entries. */
  onDrop?: (n: number) => void;
}

/** Batches audit entries into `audit_log`, off the request path. */
export class AuditQueue {
  private queue: AuditEntry[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly capacity: number;
  private readonly batchSize: number;
  private readonly delayMs: number;

  constructor(
    private readonly q: Queryable,
    private readonly schema: string,
    private readonly options: AuditQueueOptions = {},
  ) {
    this.capacity = options.capacity ?? 10_000;
    this.batchSize = options.batchSize ?? 500;
    this.delayMs = options.delayMs ?? 20;
  }

  /** Queues an entry (dropped and counted when the queue is full or closed). */
  push(entry: AuditEntry): void {
    if (this.closed || this.queue.length >= this.capacity) {
      this.dropped++;
      this.options.onDrop?.(1);
      return;
    }
    this.queue.push({ ...entry, at: entry.at ?? new Date() });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.writing !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, this.delayMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    if (this.writing) return this.writing;
    this.writing = (async () => {
      while (this.queue.length > 0 || this.dropped > 0) {
        const batch = this.queue.splice(0, this.batchSize);
        if (this.dropped > 0) {
          batch.push({ actor: "seg-serve", action: "auth.deny.dropped", target: "api", details: { dropped: this.dropped }, at: new Date() });
          this.dropped = 0;
        }
        try {
          await insertAudit(this.q, this.schema, batch);
        } catch (e) {
          this.options.onError?.(e);
          break;
        }
      }
    })();
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
      if (this.queue.length > 0 && !this.closed) this.schedule();
    }
  }

  /** Writes everything queued now. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) await this.writing;
    await this.drain();
  }

  /** Flushes and stops accepting entries. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** Entries waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }
}
