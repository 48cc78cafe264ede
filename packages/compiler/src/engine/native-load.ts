/**
 * The fast way to load a big file: DuckDB reads it itself (`read_parquet`, `read_json_objects`),
 * checks every field with the SQL of `sql-checks.ts` (a conservative filter), and inserts the rows
 * it is sure of with one INSERT ... SELECT. Only the rows it flags are read into JS and given to
 * `checkRecord`, the JS path's own checker, which either finds the problems (the very messages the
 * JS path gives) or accepts the row after all (its cells are then inserted with the others). Rows
 * keep their file order; a profile's duplicate keys are found over the accepted rows, first line
 * wins, as in the JS path.
 *
 * The loaders return undefined when a file cannot be read this way (the caller then uses the JS
 * path, which also says why a file cannot be read).
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import type { SourceIR } from "../ir.js";
import type { SegSchema } from "../schema-registry.js";
import { DuckDbDialect } from "../emit/duckdb.js";
import type { FieldProblem } from "./record-values.js";
import { appendRow, checkRecord, parquetRecord } from "./record-check.js";
import { fieldSql, schemaKeysSql, schemaSql, sqlString, type RawColumn } from "./sql-checks.js";
import { readLines, scanJsonLines, type LineScan } from "./jsonl-scan.js";

/** What is wrong with one rejected row: its field problems, or its key was seen before. */
export type RowVerdict = { line: number; problems: FieldProblem[] } | { line: number; duplicate: { key: string; first: number } };

/** Counts of what the native path did since the process started (for tests and benchmarks). */
export const nativeLoadStats = { files: 0, rowsFlagged: 0 };

const duck = new DuckDbDialect();
const q = (name: string) => duck.quoteIdentifier(name);
let counter = 0;

/** A file as DuckDB reads it: rows numbered from 0 in file order, and the record of a flagged row. */
interface NativeReader {
  /** SELECT ... with `__seg_row` (BIGINT) and the columns of `columns`. */
  base: string;
  /** The record's keys as DuckDB columns, with a helper id each. */
  columns: Map<string, RawColumn & { id: string }>;
  /** Conditions every clean row meets beyond its fields (JSON: an object, no duplicate keys...). */
  rowOk: string[];
  /** JSON records (their keys are checked when read). */
  json: boolean;
  total: number;
  lineOf(row: number): number;
  /** The records of the given rows (sorted), read again from the file. */
  records(rows: number[]): Promise<({ row: number; value: unknown } | { row: number; error: string })[]>;
  close(): Promise<void>;
}

/** Loads a parquet file into `source`'s (empty) table; the rejected rows in line order. */
export async function loadParquetNative(conn: DuckDBConnection, source: SourceIR, file: string, schema: SegSchema | undefined): Promise<RowVerdict[] | undefined> {
  let described: { name: string; type: string }[];
  let total: number;
  try {
    const r = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    described = r.getRowObjectsJS().map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
    const n = await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(file)})`);
    total = Number(n.getRows()[0]![0]);
  } catch {
    return undefined;
  }
  // names SQL cannot tell apart, or that would clash with the row number or with JS objects
  const lower = new Set(described.map((c) => c.name.toLowerCase()));
  if (lower.size !== described.length || described.some((c) => c.name.toLowerCase().startsWith("__seg") || c.name.toLowerCase() === "file_row_number" || c.name === "__proto__")) return undefined;
  const read = `read_parquet(${sqlString(file)}, file_row_number = true)`;
  const reader: NativeReader = {
    base: `SELECT file_row_number AS __seg_row, * FROM ${read}`,
    columns: new Map(described.map((c, i) => [c.name, { ref: q(c.name), type: c.type, id: `c${i}` }])),
    rowOk: [],
    json: false,
    total,
    lineOf: (row) => row + 1,
    async records(rows) {
      await conn.run(`CREATE OR REPLACE TEMP TABLE __seg_want AS SELECT unnest([${rows.join(", ")}]::BIGINT[]) AS r`);
      const flagged = await conn.runAndReadAll(`SELECT * FROM ${read} WHERE file_row_number IN (SELECT r FROM temp.main.__seg_want) ORDER BY file_row_number`);
      await conn.run("DROP TABLE IF EXISTS temp.main.__seg_want");
      return flagged.getRowObjects().map((row) => ({ row: Number(row.file_row_number as bigint), value: parquetRecord(row, "file_row_number") }));
    },
    close: async () => {},
  };
  return loadNative(conn, source, schema, reader);
}

/** Loads a JSON Lines file into `source`'s (empty) table; the rejected rows in line order. */
export async function loadJsonLinesNative(conn: DuckDBConnection, source: SourceIR, file: string, schema: SegSchema | undefined): Promise<RowVerdict[] | undefined> {
  const names = [...new Set([...source.fields.map((f) => f.name), ...(schema && schema.kind === source.kind && isObj(schema.raw.properties) ? Object.keys(schema.raw.properties) : [])])];
  let scan: LineScan | undefined;
  try {
    scan = await scanJsonLines(file);
  } catch {
    return undefined;
  }
  if (scan === undefined) return undefined;
  const withSchema = schema !== undefined && schema.kind === source.kind;
  const keyChecks = withSchema ? schemaKeysSql(schema.raw, "json_keys(json)") : "TRUE";
  const lineOk = [
    "json IS NOT NULL",
    "left(json, 1) = '{'",
    // what DuckDB's JSON reader takes and JSON.parse does not (NaN, Infinity, trailing commas), and
    // -0, which DuckDB writes back as 0
    `NOT regexp_matches(json, ${sqlString(String.raw`[:,\[]\s*[-+]?(?:[nN][aA][nN]|[iI][nN][fF])|,\s*[}\]]|[:,\[]\s*-0\s*[,}\]]`)})`,
    // JSON.parse keeps the last of duplicate keys, json_transform the first
    "list_unique(json_keys(json)) = len(json_keys(json))",
    ...(keyChecks === undefined ? [] : [keyChecks]),
  ].join(" AND ");
  const structure = JSON.stringify(Object.fromEntries(names.map((n) => [n, "JSON"])));
  // which optional schema properties a record has (a missing key and a null both read as NULL)
  const required = new Set(withSchema && Array.isArray(schema.raw.required) ? schema.raw.required : []);
  const optional = (withSchema && isObj(schema.raw.properties) ? Object.keys(schema.raw.properties) : []).filter((n) => !required.has(n)).slice(0, 62);
  const presence = optional.map((n, i) => `(list_contains(json_keys(json), ${sqlString(n)})::BIGINT << ${i})`).join(" | ");
  const raw = `__seg_raw_${++counter}`;
  try {
    // invalid lines become NULL rows (ignore_errors), so rows stay one per non-blank line; each line
    // is parsed once here, its fields kept as JSON text
    await conn.run(
      `CREATE TEMP TABLE ${raw} AS SELECT coalesce(${lineOk}, FALSE) AS __seg_g${names.length > 0 ? `, json_transform(json, ${sqlString(structure)}) AS __seg_x` : ""}` +
        `${optional.length > 0 ? `, ${presence} AS __seg_p` : ""} ` +
        `FROM read_json_objects(${sqlString(file)}, format = 'newline_delimited', ignore_errors = true)`,
    );
    const n = await conn.runAndReadAll(`SELECT count(*) FROM temp.main.${raw}`);
    if (Number(n.getRows()[0]![0]) !== scan.records) throw new Error("DuckDB and the line scan disagree on the number of records");
  } catch {
    await conn.run(`DROP TABLE IF EXISTS temp.main.${raw}`);
    return undefined;
  }
  const lineScan = scan;
  const reader: NativeReader = {
    base: `SELECT rowid AS __seg_row, * FROM temp.main.${raw}`,
    columns: new Map(
      names.map((name, i) => {
        const bit = optional.indexOf(name);
        return [name, { ref: `CAST(__seg_x.${q(name)} AS VARCHAR)`, type: "JSON", id: `k${i}`, ...(bit >= 0 ? { present: `((__seg_p >> ${bit}) & 1) = 1` } : {}) }];
      }),
    ),
    // a schema outside the SQL subset: every record goes to ajv
    rowOk: ["__seg_g", ...(keyChecks === undefined ? ["FALSE"] : [])],
    json: true,
    total: scan.records,
    lineOf: (row) => lineScan.lineOf(row),
    async records(rows) {
      const lines = await readLines(file, rows.map((r) => lineScan.lineOf(r)));
      return rows.map((row, i) => {
        try {
          return { row, value: JSON.parse(lines[i]!) as unknown };
        } catch (e) {
          return { row, error: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
        }
      });
    },
    close: () => conn.run(`DROP TABLE IF EXISTS temp.main.${raw}`).then(() => {}),
  };
  try {
    return await loadNative(conn, source, schema, reader);
  } finally {
    await reader.close();
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

async function loadNative(conn: DuckDBConnection, source: SourceIR, schema: SegSchema | undefined, reader: NativeReader): Promise<RowVerdict[] | undefined> {
  const id = ++counter;
  const pre = new Map<string, string>();
  const oks: string[] = [...reader.rowOk];
  const values: string[] = [];
  source.fields.forEach((f, i) => {
    const col = reader.columns.get(f.name);
    const sql = fieldSql(f.type, col, duck.typeName(f.type), col?.id ?? `f${i}`);
    for (const [name, expr] of sql.pre) pre.set(name, expr);
    oks.push(sql.ok);
    values.push(`${sql.value} AS ${q(`__seg_f${i}`)}`);
  });
  if (schema && schema.kind === source.kind) oks.push(schemaSql(schema.raw, reader.columns, pre, reader.json) ?? "FALSE");
  const helpers = [...pre].map(([name, expr]) => `, ${expr} AS ${name}`).join("");
  const src = `(SELECT *${helpers} FROM (${reader.base}))`;
  // NULL-safe: a row is clean, or it is flagged; never neither
  const ok = `coalesce(${oks.join(" AND ") || "TRUE"}, FALSE)`;
  const bad = `__seg_bad_${id}`;
  const fieldCols = source.fields.map((_, i) => q(`__seg_f${i}`));
  const keyIndex = source.fields.findIndex((f) => f.name === source.key);
  const target = q(source.name);
  const profileKeys = source.kind === "profile" && keyIndex >= 0;
  if (!profileKeys) {
    // optimistic: one pass, done when every row was clean (the table was empty and keeps file order)
    try {
      const inserted = await conn.runAndReadAll(`INSERT INTO ${target} SELECT ${values.join(", ")} FROM ${src} WHERE ${ok}`);
      if (Number(inserted.getRows()[0]![0]) === reader.total) {
        nativeLoadStats.files += 1;
        return [];
      }
      await conn.run(`DELETE FROM ${target}`);
    } catch {
      return undefined;
    }
  }
  const acc = `__seg_acc_${id}`;
  try {
    // the clean rows with their row numbers, in file order
    let clean: number;
    try {
      await conn.run(`CREATE TEMP TABLE ${acc} AS SELECT __seg_row, ${values.join(", ")} FROM ${src} WHERE ${ok}`);
      clean = Number((await conn.runAndReadAll(`SELECT count(*) FROM temp.main.${acc}`)).getRows()[0]![0]);
    } catch {
      return undefined;
    }
    const verdicts: RowVerdict[] = [];
    let fixed = 0;
    if (clean !== reader.total) {
      // the flagged rows go through the JS checker; those it accepts join the clean ones
      await conn.run(`CREATE TEMP TABLE ${bad} AS SELECT __seg_row FROM ${src} WHERE NOT (${ok}) ORDER BY __seg_row`);
      const badRows = (await conn.runAndReadAll(`SELECT __seg_row FROM temp.main.${bad} ORDER BY __seg_row`)).getRows().map((r) => Number(r[0] as bigint));
      nativeLoadStats.rowsFlagged += badRows.length;
      const BATCH = 100_000;
      for (let start = 0; start < badRows.length; start += BATCH) {
        const records = await reader.records(badRows.slice(start, start + BATCH));
        const appender = await conn.createAppender(acc, "main", "temp");
        try {
          for (const r of records) {
            const line = reader.lineOf(r.row);
            if ("error" in r) {
              verdicts.push({ line, problems: [{ path: "", message: r.error }] });
              continue;
            }
            const checked = checkRecord(r.value, source, schema);
            if ("problems" in checked) {
              verdicts.push({ line, problems: checked.problems });
              continue;
            }
            appender.appendBigInt(BigInt(r.row));
            appendRow(appender, checked.cells);
            fixed += 1;
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
      }
    }
    const order = fixed > 0 ? " ORDER BY __seg_row" : "";
    if (profileKeys) {
      const key = keyGroup(source.fields[keyIndex]!.type.kind, fieldCols[keyIndex]!);
      const dups = await conn.runAndReadAll(
        `SELECT __seg_row, first, shown FROM (SELECT __seg_row, min(__seg_row) OVER (PARTITION BY ${key.group}) AS first, ${key.shown} AS shown FROM temp.main.${acc}) WHERE __seg_row > first ORDER BY __seg_row`,
      );
      for (const d of dups.getRowObjectsJS()) {
        const shown = d.shown === null ? "null" : key.json ? JSON.stringify(String(d.shown)) : String(d.shown);
        verdicts.push({ line: reader.lineOf(Number(d.__seg_row as bigint)), duplicate: { key: shown, first: reader.lineOf(Number(d.first as bigint)) } });
      }
      const firstOnly = dups.currentRowCount > 0 ? ` QUALIFY __seg_row = min(__seg_row) OVER (PARTITION BY ${key.group}) ORDER BY __seg_row` : order;
      await conn.run(`INSERT INTO ${target} SELECT ${fieldCols.join(", ")} FROM temp.main.${acc}${firstOnly}`);
      verdicts.sort((a, b) => a.line - b.line);
    } else {
      await conn.run(`INSERT INTO ${target} SELECT ${fieldCols.join(", ") || "*"} FROM temp.main.${acc}${order}`);
    }
    nativeLoadStats.files += 1;
    return verdicts;
  } finally {
    await conn.run(`DROP TABLE IF EXISTS temp.main.${acc}`);
    await conn.run(`DROP TABLE IF EXISTS temp.main.${bad}`);
  }
}

/**
 * How the JS path groups keys (`cellKey`): strings by value (shown as JSON), integers by value,
 * every other kind as one group per kind, null as its own group.
 */
function keyGroup(kind: string, col: string): { group: string; shown: string; json: boolean } {
  if (kind === "string") return { group: `CASE WHEN ${col} IS NULL THEN 'n' ELSE 'v' || ${col} END`, shown: col, json: true };
  if (kind === "integer") return { group: `CASE WHEN ${col} IS NULL THEN 'n' ELSE 'v' || CAST(${col} AS VARCHAR) END`, shown: `CAST(${col} AS VARCHAR)`, json: false };
  const tag = { number: "double", boolean: "boolean", timestamp: "timestamp", date: "date" }[kind] ?? kind;
  return { group: `CASE WHEN ${col} IS NULL THEN 'n' ELSE 'v' END`, shown: `CASE WHEN ${col} IS NULL THEN NULL ELSE ${sqlString(tag)} END`, json: false };
}
