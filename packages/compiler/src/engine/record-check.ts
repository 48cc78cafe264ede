/**
 * The loader's one authority on a record: converts it to cells (or says what is wrong with each
 * field, schema validation included), and appends cells to DuckDB. Used for every record of the
 * JS path and for the rows the SQL checks of the native path flag.
 */
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBAppender,
} from "@duckdb/node-api";
import type { SourceIR } from "../ir.js";
import { validateRecord, type SegSchema } from "../schema-registry.js";
import { NativeValue, convertRecord, type CellValue, type FieldProblem } from "./record-values.js";

/** Checks one record against its source's fields and, when given (and of the source's kind), its schema. */
export function checkRecord(value: unknown, source: SourceIR, schema: SegSchema | undefined): { cells: CellValue[] } | { problems: FieldProblem[] } {
  const fieldProblems: FieldProblem[] = [];
  const converted = convertRecord(value, source);
  if ("problems" in converted) fieldProblems.push(...converted.problems);
  if (schema && schema.kind === source.kind && typeof value === "object" && value !== null) {
    const checked = validateRecord(schema, value);
    for (const error of checked.errors) {
      const m = /^(.*?): (.*)$/s.exec(error);
      const label = m?.[1] ?? "(root)";
      const path = label === "(root)" ? "" : label.replace(/^\//, "").replaceAll("~1", "/").replaceAll("~0", "~");
      if (!fieldProblems.some((p) => p.path === path)) fieldProblems.push({ path, message: m?.[2] ?? error });
    }
  }
  if (fieldProblems.length > 0 || "problems" in converted) return { problems: fieldProblems };
  return converted;
}

/** How a profile key is compared for duplicates (and shown in the message). */
export function cellKey(c: CellValue): string {
  return c.t === "varchar" ? JSON.stringify(c.v) : c.t === "bigint" ? String(c.v) : c.t;
}

/** Appends one row of cells (and ends the row). */
export function appendRow(a: DuckDBAppender, cells: CellValue[]): void {
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

/** A parquet row (DuckDB values by column) as the JSON-like record the checks see (timestamps kept exact). */
export function parquetRecord(row: Record<string, unknown>, skip?: string): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (k !== skip) value[k] = fromDuckValue(v);
  return value;
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
