/**
 * Loading sample data into DuckDB tables for `seg eval`: one table per source, named by the source,
 * with explicit column types from the source's fields. Data comes from `<dataDir>/<source>.jsonl`
 * (one JSON object per line), `.json` (an array of objects) or `.parquet`. A record with a problem
 * is reported (file, line, field) and not loaded. Nothing is dropped silently: a missing file is
 * reported as a note, and the number of problems beyond the first {@link MAX_PROBLEMS_PER_FILE} is
 * reported too.
 *
 * Two ways, one result: `.parquet` and `.jsonl` files are read by DuckDB itself and checked in SQL
 * (`native-load.ts`), only the rows SQL flags going through the JS checker; `.json` files, files
 * DuckDB cannot read that way, and `native: false` check every record in JS (`record-check.ts`).
 * The tables and problems are the same (test/unit/engine-load-differential.test.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { SourceIR } from "../ir.js";
import { JsonDocument } from "../json-locate.js";
import { findSchema, type SchemaRegistry } from "../schema-registry.js";
import { DuckDbDialect } from "../emit/duckdb.js";
import { loadJsonLinesNative, loadParquetNative, type RowVerdict } from "./native-load.js";
import { appendRow, cellKey, checkRecord, parquetRecord } from "./record-check.js";

/** A problem with the input data or the evaluation. */
export interface DataProblem {
  severity: "error" | "warning" | "info";
  message: string;
  /** The source (event type or profile) concerned, if any. */
  source?: string;
  file?: string;
  /** 1-based line (JSON Lines, JSON) or row (parquet) of the record. */
  line?: number;
  /** The field concerned, as a path within the record (`amount`). */
  path?: string;
}

/** Problems listed per file before the rest are only counted. */
export const MAX_PROBLEMS_PER_FILE = 100;

/** Options for loading. */
export interface LoadOptions {
  /** When given, records are also validated against the source's JSON Schema (ajv). */
  schemas?: SchemaRegistry;
  /**
   * Let DuckDB read and check big files itself (default true); false checks every record in JS.
   * Both give the same tables and problems (test/unit/engine-load-differential.test.ts).
   */
  native?: boolean;
}

const EXTENSIONS = [".jsonl", ".json", ".parquet"] as const;
const duck = new DuckDbDialect();

/** One record read from a file, with its 1-based line or row, or why it could not be read. */
type RawRecord = { line: number; value: unknown } | { line: number; error: string };

/** Creates the table of `source` and fills it from `dataDir`. Returns the problems found. */
export async function loadSource(conn: DuckDBConnection, source: SourceIR, dataDir: string, options: LoadOptions = {}): Promise<DataProblem[]> {
  const problems: DataProblem[] = [];
  const columns = source.fields.map((f) => `${duck.quoteIdentifier(f.name)} ${duck.typeName(f.type)}`);
  await conn.run(`CREATE TABLE ${duck.quoteIdentifier(source.name)} (${columns.join(", ")})`);
  if (/[\\/]/.test(source.name) || source.name === "." || source.name === ".." || source.name.includes("\u0000")) {
    problems.push({ severity: "error", source: source.name, message: `source name ${JSON.stringify(source.name)} cannot be a file name; its table is empty` });
    return problems;
  }
  const found = EXTENSIONS.map((ext) => join(dataDir, source.name + ext)).filter((f) => existsSync(f));
  const file = found[0];
  if (file === undefined) {
    problems.push({ severity: "info", source: source.name, message: `no data file for ${source.kind} ${source.name} (looked for ${EXTENSIONS.map((e) => source.name + e).join(", ")} in ${dataDir}); it is empty` });
    return problems;
  }
  if (found.length > 1) {
    problems.push({ severity: "warning", source: source.name, file, message: `several data files for ${source.name}: using ${file}, ignoring ${found.slice(1).join(", ")}` });
  }
  const at = (line: number | undefined, path: string | undefined, message: string): DataProblem => {
    const p: DataProblem = { severity: "error", source: source.name, file, message };
    if (line !== undefined) p.line = line;
    if (path !== undefined && path !== "") p.path = path;
    return p;
  };
  const schema = options.schemas ? findSchema(options.schemas, source.name) : undefined;
  let listed = 0;
  let hidden = 0;
  const report = (p: DataProblem): void => {
    if (listed < MAX_PROBLEMS_PER_FILE) {
      problems.push(p);
      listed += 1;
    } else hidden += 1;
  };
  const reportVerdict = (v: RowVerdict): void => {
    if ("duplicate" in v) report(at(v.line, source.key, `duplicate key ${v.duplicate.key} (first at line ${v.duplicate.first}); this record is not loaded`));
    else for (const p of v.problems) report(at(v.line, p.path, p.path ? `${p.path} ${p.message}` : p.message));
  };

  const native =
    options.native === false ? undefined : file.endsWith(".parquet") ? await loadParquetNative(conn, source, file, schema) : file.endsWith(".jsonl") ? await loadJsonLinesNative(conn, source, file, schema) : undefined;
  if (native) {
    for (const v of native) reportVerdict(v);
  } else {
    let records: RawRecord[];
    try {
      records = file.endsWith(".parquet") ? await readParquet(conn, file) : readJsonFile(file);
    } catch (e) {
      problems.push(at(undefined, undefined, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`));
      return problems;
    }
    const keyIndex = source.fields.findIndex((f) => f.name === source.key);
    const seenKeys = new Map<string, number>();
    const appender = await conn.createAppender(source.name);
    try {
      for (const r of records) {
        if ("error" in r) {
          report(at(r.line, undefined, r.error));
          continue;
        }
        const checked = checkRecord(r.value, source, schema);
        if ("problems" in checked) {
          reportVerdict({ line: r.line, problems: checked.problems });
          continue;
        }
        if (source.kind === "profile" && keyIndex >= 0) {
          const key = cellKey(checked.cells[keyIndex]!);
          const first = seenKeys.get(key);
          if (first !== undefined) {
            reportVerdict({ line: r.line, duplicate: { key, first } });
            continue;
          }
          seenKeys.set(key, r.line);
        }
        appendRow(appender, checked.cells);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }
  if (hidden > 0) problems.push({ severity: "error", source: source.name, file, message: `${hidden} more problems in ${file} are not listed` });
  return problems;
}

/** Reads `.jsonl` (one value per line; blank lines skipped) or `.json` (an array). */
function readJsonFile(file: string): RawRecord[] {
  let text = readFileSync(file, "utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (file.endsWith(".json")) {
    const doc = JsonDocument.parse(text);
    if (doc.error) return [{ line: doc.error.span.start.line, error: `not valid JSON: ${doc.error.message}` }];
    if (!Array.isArray(doc.value)) return [{ line: 1, error: "a .json data file must hold an array of records" }];
    return doc.value.map((value, i) => ({ line: doc.locate(`/${i}`).span.start.line, value }));
  }
  const out: RawRecord[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    try {
      out.push({ line: i + 1, value: JSON.parse(line) });
    } catch (e) {
      out.push({ line: i + 1, error: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` });
    }
  });
  return out;
}

/** Reads a parquet file through DuckDB, turning its values into JSON-like ones (timestamps kept exact). */
async function readParquet(conn: DuckDBConnection, file: string): Promise<RawRecord[]> {
  const reader = await conn.runAndReadAll("SELECT * FROM read_parquet($path)", { path: file });
  return reader.getRowObjects().map((row, i) => ({ line: i + 1, value: parquetRecord(row) }));
}
