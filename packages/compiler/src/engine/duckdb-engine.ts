/**
 * The embedded engine behind `seg eval` and `seg test`: loads sample data into an in-memory DuckDB,
 * runs the plan's DuckDB SQL as a prepared statement with `as_of` bound, and returns members and
 * metrics per output segment. It never throws on bad input: problems come back as data.
 */
import { compareCodePoints } from "../code-point-order.js";
import { DuckDBInstance, DuckDBTimestampValue, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import type { PlanIR } from "../ir.js";
import type { SchemaRegistry } from "../schema-registry.js";
import { DuckDbDialect } from "../emit/duckdb.js";
import { emitPlan } from "../emit/emit-plan.js";
import { loadSource, type DataProblem } from "./load-data.js";
import { parseTimestampMicros } from "./record-values.js";

/** Where the data is and when to evaluate. */
export interface EvaluateOptions {
  /** Folder with `<source>.jsonl`, `<source>.json` or `<source>.parquet` per source. */
  dataDir: string;
  /** The evaluation time, ISO-8601 with a zone (`2026-11-01T00:00:00Z`). */
  asOf: string;
  /** When given, records are also validated against their JSON Schemas. */
  schemas?: SchemaRegistry;
}

/** One member of a segment with its metrics. */
export interface Member {
  id: string;
  metrics: Record<string, unknown>;
}

/** The members of one output segment, sorted by id. */
export interface SegmentResult {
  size: number;
  members: Member[];
}

/** The result of evaluating a plan. */
export interface EvaluationResult {
  /** Every output segment of the plan (empty when the evaluation could not run). */
  segments: Record<string, SegmentResult>;
  /** Problems with the data or the run; errors mean results may be incomplete. */
  problems: DataProblem[];
  /** The DuckDB SQL that was run (empty when it could not be emitted). */
  sql: string;
}

/** An open in-memory DuckDB session in UTC. */
export interface DuckDbSession {
  connection: DuckDBConnection;
  close(): void;
}

/** Opens an in-memory DuckDB with the session time zone set to UTC. */
export async function openDuckDb(): Promise<DuckDbSession> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
  } catch (e) {
    connection.closeSync();
    instance.closeSync();
    throw e;
  }
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** The DuckDB value to bind as `as_of` for an ISO-8601 instant; undefined if the text is not one. */
export function asOfValue(iso: string): DuckDBTimestampValue | undefined {
  const withSeconds = /T\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})$/i.test(iso) ? iso.replace(/(T\d{2}:\d{2})/i, "$1:00") : iso;
  const micros = parseTimestampMicros(withSeconds);
  return micros === undefined ? undefined : new DuckDBTimestampValue(micros);
}

/**
 * Runs `sql` as a prepared statement with named `params` (those the statement does not use are
 * ignored; one it uses but is not given is an error); rows as plain JS values (BIGINT as bigint).
 */
export async function runSql(connection: DuckDBConnection, sql: string, params: Record<string, DuckDBValue> = {}): Promise<Record<string, unknown>[]> {
  const prepared = await connection.prepare(sql);
  try {
    const used: Record<string, DuckDBValue> = {};
    for (let i = 1; i <= prepared.parameterCount; i++) {
      const name = prepared.parameterName(i);
      if (!Object.hasOwn(params, name)) throw new Error(`no value for the SQL parameter ${name}`);
      used[name] = params[name]!;
    }
    if (prepared.parameterCount > 0) prepared.bind(used);
    const reader = await prepared.runAndReadAll();
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    prepared.destroySync();
  }
}


/** Evaluates every output segment of `plan` over the data in `options.dataDir` at `options.asOf`. */
export async function evaluatePlan(plan: PlanIR, options: EvaluateOptions): Promise<EvaluationResult> {
  const problems: DataProblem[] = [];
  const fail = (message: string, sql = ""): EvaluationResult => {
    problems.push({ severity: "error", message });
    return { segments: {}, problems, sql };
  };
  const asOf = asOfValue(options.asOf);
  if (asOf === undefined) return fail(`as_of ${JSON.stringify(options.asOf)} is not an ISO-8601 timestamp with a zone (2026-11-01T00:00:00Z)`);
  let sql: string;
  try {
    sql = emitPlan(plan, new DuckDbDialect()).sql;
  } catch (e) {
    return fail(`cannot compile the plan to DuckDB SQL: ${message(e)}`);
  }
  const clash = caseClash(plan);
  if (clash) return fail(clash, sql);

  let session: DuckDbSession;
  try {
    session = await openDuckDb();
  } catch (e) {
    return fail(`cannot start DuckDB: ${message(e)}`, sql);
  }
  try {
    for (const source of plan.sources) problems.push(...(await loadSource(session.connection, source, options.dataDir, { schemas: options.schemas })));
    const rows = await runSql(session.connection, sql, { as_of: asOf });
    const segments: Record<string, SegmentResult> = {};
    for (const name of plan.outputs) segments[name] = { size: 0, members: [] };
    for (const row of rows) {
      const name = String(row.segment);
      const id = String(row.entity_id);
      const target = segments[name];
      if (!target) continue;
      target.members.push({ id, metrics: parseMetrics(String(row.metrics), name, id, problems) });
    }
    for (const s of Object.values(segments)) {
      s.members.sort((a, b) => compareCodePoints(a.id, b.id));
      s.size = s.members.length;
    }
    return { segments, problems, sql };
  } catch (e) {
    return fail(`evaluation failed: ${message(e)}`, sql);
  } finally {
    session.close();
  }
}

function parseMetrics(text: string, segment: string, id: string, problems: DataProblem[]): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  problems.push({ severity: "error", message: `the metrics of ${id} in segment ${segment} are not a JSON object (a non-finite number?): ${text}` });
  return {};
}

/** DuckDB names are case-insensitive: two sources (or two fields of one) differing only in case cannot both be tables (columns). */
function caseClash(plan: PlanIR): string | undefined {
  const first = (names: string[]): [string, string] | undefined => {
    const seen = new Map<string, string>();
    for (const n of names) {
      const prior = seen.get(n.toLowerCase());
      if (prior !== undefined) return [prior, n];
      seen.set(n.toLowerCase(), n);
    }
    return undefined;
  };
  const sources = first(plan.sources.map((s) => s.name));
  if (sources) return `sources ${sources[0]} and ${sources[1]} differ only in letter case, which DuckDB cannot tell apart`;
  for (const s of plan.sources) {
    const fields = first(s.fields.map((f) => f.name));
    if (fields) return `fields ${fields[0]} and ${fields[1]} of ${s.name} differ only in letter case, which DuckDB cannot tell apart`;
  }
  return undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
