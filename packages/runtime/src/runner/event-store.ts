/**
 * The embedded executor's local store: a DuckDB database file (`<dir>/events.duckdb`) holding one
 * table per source, named like the source, so a plan's DuckDB SQL runs against it unchanged.
 *
 * - Events are appended; profiles are upserted (the latest record of a key replaces the one
 *   stored; a null value, a tombstone, deletes the key given as the Kafka message key).
 * - Per topic and partition it remembers the next offset to read (`seg_meta.offsets`), written in
 *   the same DuckDB transaction as the records, so the store and its offsets never disagree.
 * - Records go through the engine's own loader (`loadSource`, the one `seg eval` uses): the same
 *   conversion of JSON values to column types, so the runtime and `seg eval` see the same data.
 * - A source whose schema (fields, key, time, topic) changed is rebuilt: its table is emptied and
 *   its topic read again from the start.
 * - Events older than what any active pipeline needs can be pruned.
 *
 * The database is attached to an in-memory DuckDB (`store`), whose own catalog (`memory`) holds
 * the batches being loaded. Every operation runs alone (one connection, a queue).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDbDialect, canonicalJson } from "@seg/compiler";
import type { DataProblem, DuckDbSession } from "@seg/compiler/engine";
import type { PlanIR } from "./merge-plans.js";

type SourceIR = PlanIR["sources"][number];

/** One message read from a validated topic. */
export interface StoredMessage {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
}

/** What loading one batch did. */
export interface LoadResult {
  /** Records inserted (profiles: after keeping the latest per key). */
  loaded: number;
  /** Records the loader rejected (a value that does not fit its column), with the first problems. */
  rejected: number;
  problems: DataProblem[];
  /** Profile keys deleted by tombstones. */
  deleted: number;
}

/** The embedded engine (and with it DuckDB's native module), loaded when a store is first opened. */
type Engine = typeof import("@seg/compiler/engine");
let engine: Engine | undefined;
const loadEngine = async (): Promise<Engine> => (engine ??= await import("@seg/compiler/engine"));
const runSql: Engine["runSql"] = (...args) => engine!.runSql(...args);
const loadSource: Engine["loadSource"] = (...args) => engine!.loadSource(...args);
const asOfValue: Engine["asOfValue"] = (...args) => engine!.asOfValue(...args);

const duck = new DuckDbDialect();
const q = (name: string) => duck.quoteIdentifier(name);
const str = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Thrown when the store's file is held by another process. */
export class StoreLockedError extends Error {
  override name = "StoreLockedError";
}

export class EventStore {
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly session: DuckDbSession,
    readonly dir: string,
  ) {}

  /** Opens (creating) the store in `dir`. */
  static async open(dir: string): Promise<EventStore> {
    mkdirSync(dir, { recursive: true });
    const session = await (await loadEngine()).openDuckDb();
    const c = session.connection;
    const file = join(dir, "events.duckdb");
    try {
      await c.run(`ATTACH ${str(file)} AS store`);
    } catch (e) {
      session.close();
      const m = e instanceof Error ? e.message : String(e);
      if (/lock/i.test(m)) throw new StoreLockedError(`the state folder ${dir} is in use by another process (${m})`);
      throw e;
    }
    try {
      await c.run("CREATE SCHEMA IF NOT EXISTS store.seg_meta");
      await c.run(
        "CREATE TABLE IF NOT EXISTS store.seg_meta.sources (name VARCHAR PRIMARY KEY, definition VARCHAR NOT NULL, topic VARCHAR NOT NULL, kind VARCHAR NOT NULL)",
      );
      await c.run("CREATE TABLE IF NOT EXISTS store.seg_meta.offsets (topic VARCHAR, part INTEGER, next_offset BIGINT NOT NULL, PRIMARY KEY (topic, part))");
      await c.run("USE store");
    } catch (e) {
      session.close();
      throw e;
    }
    return new EventStore(session, dir);
  }

  /** Runs `fn` after every earlier operation. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.closed) throw new Error("the event store is closed");
      return fn();
    });
    this.chain = run.catch(() => {});
    return run;
  }

  private get c() {
    return this.session.connection;
  }

  /**
   * Makes sure the table of `source` exists with its current schema. Returns true when it was
   * (re)created, i.e. its topic must be read from the start.
   */
  ensureSource(source: SourceIR, topic: string): Promise<boolean> {
    return this.exclusive(async () => {
      const definition = canonicalJson({ kind: source.kind, key: source.key, time: source.time, fields: source.fields, schemaHash: source.schemaHash });
      const rows = await runSql(this.c, "SELECT definition, topic FROM store.seg_meta.sources WHERE name = $name", { name: source.name });
      const known = rows[0] as { definition: string; topic: string } | undefined;
      const exists = (await runSql(this.c, "SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = 'store' AND schema_name = 'main' AND table_name = $name", { name: source.name }))[0];
      if (known && known.definition === definition && known.topic === topic && Number((exists as { n: bigint }).n) > 0) return false;
      await this.c.run("BEGIN");
      try {
        await this.c.run(`DROP TABLE IF EXISTS store.main.${q(source.name)}`);
        const columns = source.fields.map((f) => `${q(f.name)} ${duck.typeName(f.type)}`);
        await this.c.run(`CREATE TABLE store.main.${q(source.name)} (${columns.join(", ")})`);
        if (known) await runSql(this.c, "DELETE FROM store.seg_meta.offsets WHERE topic = $t", { t: known.topic });
        await runSql(this.c, "DELETE FROM store.seg_meta.offsets WHERE topic = $t", { t: topic });
        await runSql(this.c, "INSERT OR REPLACE INTO store.seg_meta.sources VALUES ($name, $definition, $topic, $kind)", {
          name: source.name,
          definition,
          topic,
          kind: source.kind,
        });
        await this.c.run("COMMIT");
      } catch (e) {
        await this.c.run("ROLLBACK").catch(() => {});
        throw e;
      }
      return true;
    });
  }

  /** The next offset to read per partition of `topic` (partitions never read are absent). */
  offsets(topic: string): Promise<Map<number, bigint>> {
    return this.exclusive(async () => {
      const rows = await runSql(this.c, "SELECT part, next_offset FROM store.seg_meta.offsets WHERE topic = $t", { t: topic });
      return new Map(rows.map((r) => [Number(r.part), BigInt(r.next_offset as bigint)]));
    });
  }

  /**
   * Loads a batch of `topic` into the table of `source` and records `positions` (next offset per
   * partition) in the same transaction.
   */
  load(source: SourceIR, topic: string, messages: readonly StoredMessage[], positions: ReadonlyMap<number, bigint>): Promise<LoadResult> {
    return this.exclusive(async () => {
      const result: LoadResult = { loaded: 0, rejected: 0, problems: [], deleted: 0 };
      let lines: string[] = [];
      const tombstones: string[] = [];
      if (source.kind === "profile") {
        // The latest record per key wins; a tombstone (null value) deletes its key.
        const latest = new Map<string, { line: string | null; key: string | null }>();
        let anonymous = 0;
        for (const m of messages) {
          const key = m.value === null ? (m.key === null ? undefined : `v:${m.key}`) : profileKey(m.value, source.key);
          if (key === undefined) {
            latest.set(`#${anonymous++}`, { line: m.value, key: m.key });
            continue;
          }
          latest.delete(key);
          latest.set(key, { line: m.value, key: m.key });
        }
        for (const { line, key } of latest.values()) {
          if (line !== null) lines.push(line);
          else if (key !== null) tombstones.push(key);
        }
      } else {
        lines = messages.filter((m) => m.value !== null).map((m) => m.value!);
      }
      const table = `store.main.${q(source.name)}`;
      const staged = `memory.main.${q(source.name)}`;
      const work = join(this.dir, "loading");
      if (lines.length > 0) {
        rmSync(work, { recursive: true, force: true });
        mkdirSync(work, { recursive: true });
        // One record per line: a value holding a raw line break would split (JSON never has one).
        writeFileSync(join(work, `${source.name}.jsonl`), lines.map((l) => l.replace(/\r?\n/g, " ")).join("\n") + "\n");
        await this.c.run("USE memory");
        try {
          await this.c.run(`DROP TABLE IF EXISTS ${staged}`);
          const problems = await loadSource(this.c, source, work);
          const errors = problems.filter((p) => p.severity === "error");
          result.rejected = errors.length;
          result.problems = errors.slice(0, 5);
        } finally {
          await this.c.run("USE store");
          rmSync(work, { recursive: true, force: true });
        }
      }
      await this.c.run("BEGIN");
      try {
        if (lines.length > 0) {
          if (source.kind === "profile") {
            await this.c.run(`DELETE FROM ${table} WHERE ${q(source.key)} IN (SELECT ${q(source.key)} FROM ${staged})`);
          }
          const n = await runSql(this.c, `SELECT count(*) AS n FROM ${staged}`);
          result.loaded = Number(n[0]!.n as bigint);
          await this.c.run(`INSERT INTO ${table} SELECT * FROM ${staged}`);
        }
        for (const key of tombstones) {
          const rows = await runSql(this.c, `DELETE FROM ${table} WHERE CAST(${q(source.key)} AS VARCHAR) = $key RETURNING 1 AS x`, { key });
          result.deleted += rows.length;
        }
        for (const [part, next] of positions) {
          await runSql(this.c, "INSERT OR REPLACE INTO store.seg_meta.offsets VALUES ($t, $p, $o)", { t: topic, p: part, o: next });
        }
        await this.c.run("COMMIT");
      } catch (e) {
        await this.c.run("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        if (lines.length > 0) await this.c.run(`DROP TABLE IF EXISTS ${staged}`).catch(() => {});
      }
      return result;
    });
  }

  /** Deletes events of `source` at or before `cutoff` (ISO-8601); returns how many. */
  prune(source: SourceIR, cutoff: string): Promise<number> {
    return this.exclusive(async () => {
      if (source.kind !== "event" || source.time === null) return 0;
      const at = asOfValue(cutoff);
      if (at === undefined) throw new Error(`cannot prune at ${cutoff}: not an ISO-8601 timestamp`);
      const rows = await runSql(this.c, `DELETE FROM store.main.${q(source.name)} WHERE ${q(source.time)} <= $cutoff RETURNING 1 AS x`, { cutoff: at });
      return rows.length;
    });
  }

  /** Rows in the table of `source`. */
  count(source: string): Promise<number> {
    return this.exclusive(async () => Number((await runSql(this.c, `SELECT count(*) AS n FROM store.main.${q(source)}`))[0]!.n as bigint));
  }

  /** Runs a plan's DuckDB SQL with `as_of` bound; rows as plain values. */
  evaluate(sql: string, asOf: string): Promise<Record<string, unknown>[]> {
    return this.exclusive(async () => {
      const at = asOfValue(asOf);
      if (at === undefined) throw new Error(`as_of ${asOf} is not an ISO-8601 timestamp`);
      return runSql(this.c, sql, { as_of: at });
    });
  }

  /** Interrupts the statement running now (a job that timed out). */
  interrupt(): void {
    try {
      this.c.interrupt();
    } catch {
      // nothing running
    }
  }

  /** Closes the database (after the operations queued so far). */
  async close(): Promise<void> {
    await this.chain.catch(() => {});
    if (this.closed) return;
    this.closed = true;
    try {
      await this.c.run("CHECKPOINT store").catch(() => {});
    } finally {
      this.session.close();
    }
  }
}

/** The key of a profile record as text, or undefined when the value is not an object with it. */
function profileKey(value: string, key: string): string | undefined {
  try {
    const v: unknown = JSON.parse(value);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    const k = (v as Record<string, unknown>)[key];
    return k === undefined || k === null ? undefined : `v:${typeof k === "string" ? k : JSON.stringify(k)}`;
  } catch {
    return undefined;
  }
}
