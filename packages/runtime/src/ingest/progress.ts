/**
 * Ingestion progress in PostgreSQL (`<schema>.stream_progress`): one row per stream (the consumer
 * group), topic and partition, with the last offset whose events are counted, the counts, the last
 * event time and the lag.
 *
 * Exact counts without a shared transaction: the row stores the offset up to which its counts are
 * complete, and every update is a compare-and-set on that offset. A batch's row is written just
 * before its Kafka transaction commits, counting only the events whose offsets are beyond the
 * stored one. If the Kafka commit then fails (crash, fencing), the batch is read again after the
 * restart, but its events are at or below the stored offset and are not counted twice; their
 * classification does not change, so the counts stay exact. If two processes race (a zombie), the
 * compare-and-set fails for one of them, which reloads the row and counts only what is left.
 */
import type { Pool, QueryResult, QueryResultRow } from "pg";
import { quoteIdent, type SegDb } from "../db/connection.js";

/** What one batch adds to a partition's row. */
export interface ProgressUpdate {
  /** The last offset of the batch (its events are then all counted). */
  offset: bigint;
  received: number;
  valid: number;
  invalid: number;
  /** The latest event time among the newly counted valid events, if any. */
  lastEventTimeMs: number | undefined;
  /** High watermark − committed offset after the batch. */
  lag: number;
}

/** One row of `stream_progress`. */
export interface StreamProgress {
  stream: string;
  topic: string;
  partition: number;
  /** Last offset whose events are counted; -1 when none. */
  offset: bigint;
  received: number;
  valid: number;
  invalid: number;
  lastEventTime: Date | null;
  lag: number | null;
  updatedAt: Date;
}

/** Offsets and counts of one classified message, for {@link countBeyond}. */
export interface CountedMessage {
  offset: bigint;
  valid: boolean;
  eventTimeMs?: number | undefined;
}

/** Counts of the messages whose offset is above `stored` (those already counted are left out). */
export function countBeyond(messages: readonly CountedMessage[], stored: bigint): Omit<ProgressUpdate, "offset" | "lag"> {
  let received = 0;
  let valid = 0;
  let lastEventTimeMs: number | undefined;
  for (const m of messages) {
    if (m.offset <= stored) continue;
    received++;
    if (m.valid) {
      valid++;
      if (m.eventTimeMs !== undefined && (lastEventTimeMs === undefined || m.eventTimeMs > lastEventTimeMs)) lastEventTimeMs = m.eventTimeMs;
    }
  }
  return { received, valid, invalid: received - valid, lastEventTimeMs };
}

/**
 * The classification of a batch's messages by position, in typed arrays (no object per message);
 * `beyond` gives what {@link countBeyond} gives for the same messages. It keeps the offsets, not
 * the messages: a batch's decoded messages can be collected once it is classified, while its
 * transaction completes.
 */
export class BatchTally {
  private readonly flags: Uint8Array;
  /** Event time in ms of valid events; NaN when none. */
  private readonly times: Float64Array;
  /** The offsets as numbers when every one is a safe integer (always, in practice)... */
  private readonly offsets: Float64Array | undefined;
  /** ...else as given. */
  private readonly offsetTexts: readonly string[] | undefined;

  constructor(messages: readonly { offset: string }[]) {
    const n = messages.length;
    this.flags = new Uint8Array(n);
    this.times = new Float64Array(n);
    const offsets = new Float64Array(n);
    // A partition's offsets ascend: when the last is the first plus n - 1 they are consecutive (the
    // usual batch, without gaps from compaction or transaction markers), and need not each be read.
    const first = n > 0 ? Number(messages[0]!.offset) : Number.NaN;
    if (Number.isSafeInteger(first) && Number.isSafeInteger(first + n - 1) && Number(messages[n - 1]!.offset) === first + n - 1) {
      for (let i = 0; i < n; i++) offsets[i] = first + i;
      this.offsets = offsets;
      return;
    }
    for (let i = 0; i < n; i++) {
      const offset = Number(messages[i]!.offset);
      if (!Number.isSafeInteger(offset)) {
        this.offsetTexts = messages.map((m) => m.offset);
        return;
      }
      offsets[i] = offset;
    }
    this.offsets = offsets;
  }

  /** Message `i` was valid, with this event time. */
  valid(i: number, eventTimeMs: number | undefined): void {
    this.flags[i] = 1;
    this.times[i] = eventTimeMs ?? Number.NaN;
  }

  /** Counts of the messages whose offset is above `stored`. */
  beyond(stored: bigint): Omit<ProgressUpdate, "offset" | "lag"> {
    const n = this.flags.length;
    const storedNumber = Number(stored);
    // Numbers compare exactly when both sides are safe integers; otherwise BigInts do.
    const numeric = this.offsets !== undefined && Number.isSafeInteger(storedNumber) && BigInt(storedNumber) === stored;
    const above = (i: number): boolean =>
      numeric ? this.offsets![i]! > storedNumber : (this.offsets ? BigInt(this.offsets[i]!) : BigInt(this.offsetTexts![i]!)) > stored;
    let received = 0;
    let valid = 0;
    let last = Number.NEGATIVE_INFINITY;
    // Usually the whole batch is new: then one comparison. A partition's messages ascend by
    // offset (the offset committed after a batch relies on it too).
    const all = n > 0 && above(0);
    for (let i = 0; i < n; i++) {
      if (!all && !above(i)) continue;
      received++;
      if (this.flags[i] === 1) {
        valid++;
        const t = this.times[i]!;
        if (t > last) last = t;
      }
    }
    return { received, valid, invalid: received - valid, lastEventTimeMs: last === Number.NEGATIVE_INFINITY ? undefined : last };
  }
}

interface ProgressRow {
  stream: string;
  topic: string;
  partition: number;
  offset: string;
  received: string;
  valid: string;
  invalid: string;
  last_event_time: Date | null;
  lag: string | null;
  updated_at: Date;
}

function toProgress(r: ProgressRow): StreamProgress {
  return {
    stream: r.stream,
    topic: r.topic,
    partition: r.partition,
    offset: BigInt(r.offset),
    received: Number(r.received),
    valid: Number(r.valid),
    invalid: Number(r.invalid),
    lastEventTime: r.last_event_time,
    lag: r.lag === null ? null : Number(r.lag),
    updatedAt: r.updated_at,
  };
}

/** Reads and advances the progress rows of one stream. */
export class ProgressStore {
  private readonly table: string;
  /** One query at a time on the shared connection (batches of several partitions run at once). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: SegDb,
    readonly stream: string,
  ) {
    this.table = `${quoteIdent(db.schema)}.stream_progress`;
  }

  private query<R extends QueryResultRow>(sql: string, params: unknown[]): Promise<QueryResult<R>> {
    const run = this.queue.then(() => this.db.client.query<R>(sql, params));
    this.queue = run.catch(() => {});
    return run;
  }

  /** The stored offset of a partition (-1 when it has no row). */
  async storedOffset(topic: string, partition: number): Promise<bigint> {
    const r = await this.query<{ offset: string }>(`SELECT "offset" FROM ${this.table} WHERE stream = $1 AND topic = $2 AND partition = $3`, [
      this.stream,
      topic,
      partition,
    ]);
    return r.rows[0] ? BigInt(r.rows[0].offset) : -1n;
  }

  /**
   * Adds `update` to the row when its stored offset is still `expected` (inserting the row when
   * there is none and `expected` is -1). False when another writer moved the row: reload and retry.
   */
  async advance(topic: string, partition: number, expected: bigint, update: ProgressUpdate): Promise<boolean> {
    const t = this.table;
    const r = await this.query(
      `INSERT INTO ${t} AS p (stream, topic, partition, "offset", received, valid, invalid, last_event_time, lag, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
       ON CONFLICT (stream, topic, partition) DO UPDATE SET
         "offset" = EXCLUDED."offset",
         received = p.received + EXCLUDED.received,
         valid = p.valid + EXCLUDED.valid,
         invalid = p.invalid + EXCLUDED.invalid,
         last_event_time = GREATEST(p.last_event_time, EXCLUDED.last_event_time),
         lag = EXCLUDED.lag,
         updated_at = now()
       WHERE p."offset" = $10`,
      [
        this.stream,
        topic,
        partition,
        update.offset.toString(),
        update.received,
        update.valid,
        update.invalid,
        update.lastEventTimeMs === undefined ? null : new Date(update.lastEventTimeMs),
        Math.max(0, update.lag),
        expected.toString(),
      ],
    );
    return r.rowCount === 1;
  }

  /** Sets only the lag (a batch that was already counted). */
  async setLag(topic: string, partition: number, lag: number): Promise<void> {
    await this.query(`UPDATE ${this.table} SET lag = $4, updated_at = now() WHERE stream = $1 AND topic = $2 AND partition = $3`, [
      this.stream,
      topic,
      partition,
      Math.max(0, lag),
    ]);
  }

  /** Every row of this stream, by topic and partition. */
  async read(): Promise<StreamProgress[]> {
    return readStreamProgress(this.db, this.stream);
  }
}

/** The progress rows of one stream (or of every stream), by stream, topic and partition. */
export async function readStreamProgress(db: Pick<SegDb, "schema"> & { client: Pick<SegDb["client"], "query"> | Pool }, stream?: string): Promise<StreamProgress[]> {
  const t = `${quoteIdent(db.schema)}.stream_progress`;
  const r =
    stream === undefined
      ? await db.client.query<ProgressRow>(`SELECT * FROM ${t} ORDER BY stream, topic, partition`)
      : await db.client.query<ProgressRow>(`SELECT * FROM ${t} WHERE stream = $1 ORDER BY topic, partition`, [stream]);
  return r.rows.map(toProgress);
}
