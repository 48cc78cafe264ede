/**
 * Loading sample data into DuckDB tables for `seg eval`: one table per source, named by the source,
 * with explicit column types from the source's fields. Data comes from `<dataDir>/<source>.jsonl`
 * (one JSON object per line), `.json` (an array of objects) or `.parquet`. Every record is checked
 * in JS first; a record with a problem is reported (file, line, field) and not loaded. Nothing is
 * dropped silently: a missing file is reported as a note, and the number of problems beyond the
 * first {@link MAX_PROBLEMS_PER_FILE} is reported too.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBAppender,
  type DuckDBConnection,
} from "@duckdb/node-api";
import type { SourceIR } from "../ir.js";
import { JsonDocument } from "../json-locate.js";
import { findSchema, validateRecord, type SchemaRegistry } from "../schema-registry.js";
import { DuckDbDialect } from "../emit/duckdb.js";
import { NativeValue, convertRecord, type CellValue, type FieldProblem } from "./record-values.js";

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
  let records: RawRecord[];
  try {
    records = file.endsWith(".parquet") ? await readParquet(conn, file) : readJsonFile(file);
  } catch (e) {
    problems.push(at(undefined, undefined, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`));
    return problems;
  }

  const schema = options.schemas ? findSchema(options.schemas, source.name) : undefined;
  const keyIndex = source.fields.findIndex((f) => f.name === source.key);
  const seenKeys = new Map<string, number>();
  let listed = 0;
  let hidden = 0;
  const report = (p: DataProblem): void => {
    if (listed < MAX_PROBLEMS_PER_FILE) {
      problems.push(p);
      listed += 1;
    } else hidden += 1;
  };
  const appender = await conn.createAppender(source.name);
  try {
    for (const r of records) {
      if ("error" in r) {
        report(at(r.line, undefined, r.error));
        continue;
      }
      const fieldProblems: FieldProblem[] = [];
      const converted = convertRecord(r.value, source);
      if ("problems" in converted) fieldProblems.push(...converted.problems);
      if (schema && schema.kind === source.kind && typeof r.value === "object" && r.value !== null) {
        const checked = validateRecord(schema, r.value);
        for (const error of checked.errors) {
          const m = /^(.*?): (.*)$/s.exec(error);
          const label = m?.[1] ?? "(root)";
          const path = label === "(root)" ? "" : label.replace(/^\//, "").replaceAll("~1", "/").replaceAll("~0", "~");
          if (!fieldProblems.some((p) => p.path === path)) fieldProblems.push({ path, message: m?.[2] ?? error });
        }
      }
      if (fieldProblems.length > 0 || "problems" in converted) {
        for (const p of fieldProblems) report(at(r.line, p.path, p.path ? `${p.path} ${p.message}` : p.message));
        continue;
      }
      if (source.kind === "profile" && keyIndex >= 0) {
        const key = cellKey(converted.cells[keyIndex]!);
        const first = seenKeys.get(key);
        if (first !== undefined) {
          report(at(r.line, source.key, `duplicate key ${key} (first at line ${first}); this record is not loaded`));
          continue;
        }
        seenKeys.set(key, r.line);
      }
      appendRow(appender, converted.cells);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  if (hidden > 0) problems.push({ severity: "error", source: source.name, file, message: `${hidden} more problems in ${file} are not listed` });
  return problems;
}

function cellKey(c: CellValue): string {
  return c.t === "varchar" ? JSON.stringify(c.v) : c.t === "bigint" ? String(c.v) : c.t;
}

function appendRow(a: DuckDBAppender, cells: CellValue[]): void {
  for (const c of cells) {
    switch (c.t) {
      case "null":
        a.appendNull();
        break;
      case "varchar":
        a.appendVarchar(c.v);
        break;
      case "bigint":
        a.appendBigInt(c.v);
        break;
      case "double":
        a.appendDouble(c.v);
        break;
      case "boolean":
        a.appendBoolean(c.v);
        break;
      case "timestamp":
        a.appendTimestamp(new DuckDBTimestampValue(c.micros));
        break;
      case "date":
        a.appendDate(new DuckDBDateValue(c.days));
        break;
    }
  }
  a.endRow();
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
  return reader.getRowObjects().map((row, i) => {
    const value: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) value[k] = fromDuckValue(v);
    return { line: i + 1, value };
  });
}

function fromDuckValue(v: unknown): unknown {
  if (v instanceof DuckDBTimestampValue || v instanceof DuckDBTimestampTZValue) return NativeValue.timestamp(v.micros);
  if (v instanceof DuckDBTimestampMillisecondsValue) return NativeValue.timestamp(v.millis * 1000n);
  if (v instanceof DuckDBTimestampSecondsValue) return NativeValue.timestamp(v.seconds * 1_000_000n);
  if (v instanceof DuckDBTimestampNanosecondsValue) return NativeValue.timestamp(floorDiv(v.nanos, 1000n));
  if (v instanceof DuckDBDateValue) return NativeValue.date(v.days);
  if (v instanceof DuckDBDecimalValue) return v.toDouble();
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (v === null || typeof v !== "object") return v;
  return `${String(v)}`;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}
