/**
 * SQL versions of the loader's per-record checks, for loading big files inside DuckDB.
 *
 * Every expression here is a conservative filter: when it says a row is clean, the JS checker
 * (`convertRecord` and, with a schema, ajv) would accept the row and convert every field to the
 * very value the SQL computes. When it cannot be sure (an unusual column type, an integer-valued
 * double, a NaN, a schema keyword it does not know...) it flags the row, and the loader hands
 * that row to the JS checker, which stays the one authority on what is wrong and how to say it.
 * Expressions never raise: TRY_CAST and guards only, so bad data cannot abort the load.
 */
import type { SegType } from "../types.js";

/**
 * A column of the file being loaded: its quoted SQL reference and DuckDB type. For JSON records
 * (`type` "JSON"), `ref` is the value's JSON text (VARCHAR; SQL NULL for a missing key or null).
 */
export interface RawColumn {
  ref: string;
  type: string;
  /** JSON records: SQL telling a present key (null) from a missing one, when known. */
  present?: string;
}

/** What SQL computes for one field: whether the row is surely fine for it, and its value. */
export interface FieldSql {
  /** Helper expressions (name -> SQL) computed one level below `ok` and `value`. */
  pre: [string, string][];
  ok: string;
  value: string;
}

const INT_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"]);
const NUM_TYPES = new Set([...INT_TYPES, "FLOAT", "DOUBLE"]);
/** The common part of record-values' TIMESTAMP_RE (RE2 and JS agree on it: ASCII digits, no flags). */
const SQL_TIMESTAMP_RE = String.raw`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$`;
const DATE_RE = String.raw`^\d{4}-\d{2}-\d{2}$`;
const MAX_SAFE = "9007199254740991";

/** A SQL string literal. */
export const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * The string value (JSON records: the string unescaped, computed once as a helper in `pre`, NULL
 * when the value is not a string).
 */
function textOf(col: RawColumn, id: string, pre: [string, string][]): string | undefined {
  if (col.type === "VARCHAR") return col.ref;
  if (col.type !== "JSON") return undefined;
  const name = `__seg_s_${id}`;
  if (!pre.some(([n]) => n === name)) {
    pre.push([name, `CASE WHEN left(${col.ref}, 1) = '"' THEN CASE WHEN strpos(${col.ref}, '\\') > 0 THEN CAST(${col.ref} AS JSON) ->> '$' ELSE ${col.ref}[2:-2] END END`]);
  }
  return name;
}

function isText(col: RawColumn): string {
  return col.type === "JSON" ? `left(${col.ref}, 1) = '"'` : col.type === "VARCHAR" ? "TRUE" : "FALSE";
}

/** SQL null for a missing key or a JSON null. */
function isNull(col: RawColumn): string {
  return col.type === "JSON" ? `(${col.ref} IS NULL OR ${col.ref} = 'null')` : `${col.ref} IS NULL`;
}

/** JSON records: a whole number JSON.parse reads exactly (digits only: 1.0 and 1e2 are left to JS). */
const jsonSafeInteger = (col: RawColumn): string => `regexp_full_match(${col.ref}, '-?[0-9]+') AND abs(TRY_CAST(${col.ref} AS HUGEINT)) <= ${MAX_SAFE}`;
/** JSON records: a finite number. */
const jsonFinite = (col: RawColumn): string => `left(${col.ref}, 1) IN ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') AND isfinite(TRY_CAST(${col.ref} AS DOUBLE))`;

/**
 * The check and value of one field read from `col` (undefined: the record has no such key).
 * `id` names helper columns uniquely.
 */
export function fieldSql(type: SegType, col: RawColumn | undefined, sqlType: string, id: string): FieldSql {
  const nullable = type.nullable ? "TRUE" : "FALSE";
  if (col === undefined) return { pre: [], ok: nullable, value: `CAST(NULL AS ${sqlType})` };
  const helpers: [string, string][] = [];
  const wrap = (okNonNull: string, value: string, pre: [string, string][] = []): FieldSql => ({
    pre: [...helpers, ...pre],
    // the plain cases written plainly: DuckDB then copies the column as it is
    ok:
      okNonNull === "TRUE" && col.type !== "JSON"
        ? type.nullable
          ? "TRUE"
          : `${col.ref} IS NOT NULL`
        : `coalesce(CASE WHEN ${isNull(col)} THEN ${nullable} ELSE (${okNonNull}) END, FALSE)`,
    value: value === col.ref && col.type === sqlType ? col.ref : `CASE WHEN ${isNull(col)} THEN CAST(NULL AS ${sqlType}) ELSE TRY_CAST(${value} AS ${sqlType}) END`,
  });
  const flag = (): FieldSql => wrap("FALSE", "NULL");
  const json = col.type === "JSON";
  switch (type.kind) {
    case "string": {
      const text = textOf(col, id, helpers);
      if (text === undefined) return flag();
      const inEnum = type.enumValues ? `${text} IN (${type.enumValues.map(sqlString).join(", ") || "NULL"})` : "TRUE";
      return wrap(`${isText(col)} AND ${inEnum}`, text);
    }
    case "integer":
      if (json) return wrap(jsonSafeInteger(col), `TRY_CAST(${col.ref} AS BIGINT)`);
      return INT_TYPES.has(col.type) ? wrap("TRUE", col.ref) : flag();
    case "number":
      if (json) return wrap(jsonFinite(col), `TRY_CAST(${col.ref} AS DOUBLE)`);
      return NUM_TYPES.has(col.type) ? wrap(`isfinite(CAST(${col.ref} AS DOUBLE))`, col.ref) : flag();
    case "boolean":
      if (json) return wrap(`${col.ref} IN ('true', 'false')`, `${col.ref} = 'true'`);
      return col.type === "BOOLEAN" ? wrap("TRUE", col.ref) : flag();
    case "timestamp": {
      if (col.type === "TIMESTAMP") return wrap("TRUE", col.ref);
      if (col.type === "TIMESTAMP WITH TIME ZONE") return wrap(`isfinite(${col.ref})`, `make_timestamp(epoch_us(${col.ref}))`);
      if (col.type === "TIMESTAMP_MS" || col.type === "TIMESTAMP_S" || col.type === "DATE") return wrap(`isfinite(${col.ref})`, col.ref);
      const text = textOf(col, id, helpers);
      if (text === undefined) return flag();
      // the common forms (upper-case T or a space, Z or an offset, at most 6 fraction digits): DuckDB's
      // TIMESTAMPTZ cast then computes the same instant as parseTimestampMicros; rarer ones are flagged
      const cast = `__seg_ts_${id}`;
      const ok = [
        isText(col),
        `regexp_full_match(${text}, ${sqlString(SQL_TIMESTAMP_RE)})`,
        `substr(${text}, 12, 2) <= '23'`,
        `substr(${text}, 15, 2) <= '59'`,
        `substr(${text}, 18, 2) <= '59'`,
        `(right(${text}, 1) = 'Z' OR (substr(right(${text}, 5), 1, 2) <= '23' AND right(${text}, 2) <= '59'))`,
        `TRY_CAST(left(${text}, 10) AS DATE) IS NOT NULL`,
        `${cast} IS NOT NULL`,
      ].join(" AND ");
      return wrap(ok, `make_timestamp(epoch_us(${cast}))`, [[cast, `CASE WHEN ${isText(col)} THEN TRY_CAST(${text} AS TIMESTAMPTZ) END`]]);
    }
    case "date": {
      if (col.type === "DATE") return wrap("TRUE", col.ref);
      const text = textOf(col, id, helpers);
      if (text === undefined) return flag();
      return wrap(`${isText(col)} AND regexp_full_match(${text}, ${sqlString(DATE_RE)}) AND TRY_CAST(${text} AS DATE) IS NOT NULL`, text);
    }
    default:
      return flag();
  }
}

// --- JSON Schema, a known subset ----------------------------------------------------------------

const ANNOTATIONS = new Set(["$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly", "x-seg"]);
const JSON_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A pattern whose meaning is the same for JS (`u` flag, as ajv compiles it) and RE2: ASCII
 * letters and digits, anchors, groups, alternation, quantifiers, `\d`, escaped punctuation and
 * character classes of those (no `.`, no negated classes, no other escapes).
 */
const SAFE_PATTERN = /^(?:[A-Za-z0-9_^$|()?*+{},:@#=-]|\\[d.\-_/+*?()[\]{}|^$]|\[(?:[A-Za-z0-9_:@#-]|\\[d.\-_/])+\]|\(\?:)*$/;

/** Whether ajv surely accepts the value of one property (`col`, undefined when no record has the key). */
function propertySql(schema: unknown, col: RawColumn | undefined, id: string, required: boolean, pre: Map<string, string>): string | undefined {
  if (col === undefined) return required ? "FALSE" : "TRUE";
  // JSON records: a missing key and a null both read as SQL NULL; the caller checks required keys
  // are present; without `present`, NULL passes only where null does (stricter than needed)
  if (schema === true || (isObj(schema) && Object.keys(schema).length === 0)) return "TRUE";
  if (!isObj(schema)) return undefined;
  for (const k of Object.keys(schema)) {
    if (!ANNOTATIONS.has(k) && !["type", "enum", "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].includes(k)) return undefined;
  }
  const types = schema.type === undefined ? undefined : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types && !types.every((t) => typeof t === "string" && JSON_TYPES.has(t))) return undefined;
  const json = col.type === "JSON";
  // which JSON type the value has, as SQL conditions; undefined: a value ajv would see as something else
  const textHelpers: [string, string][] = [];
  const text = textOf(col, id, textHelpers);
  for (const [name, expr] of textHelpers) pre.set(name, expr);
  let isNumber: string;
  let isInteger: string;
  if (json) {
    isInteger = jsonSafeInteger(col);
    isNumber = `(${jsonFinite(col)})`;
  } else if (INT_TYPES.has(col.type)) {
    isInteger = col.type === "BIGINT" ? `abs(CAST(${col.ref} AS HUGEINT)) <= ${MAX_SAFE}` : "TRUE";
    isNumber = isInteger;
  } else if (col.type === "FLOAT" || col.type === "DOUBLE") {
    isInteger = "FALSE";
    isNumber = `isfinite(${col.ref})`;
  } else {
    isInteger = "FALSE";
    isNumber = "FALSE";
  }
  const isString = isText(col);
  const isBoolean = json ? `${col.ref} IN ('true', 'false')` : col.type === "BOOLEAN" ? "TRUE" : "FALSE";
  const num = json ? `TRY_CAST(${col.ref} AS DOUBLE)` : `CAST(${col.ref} AS DOUBLE)`;

  const stringChecks: string[] = [];
  const numberChecks: string[] = [];
  let enumCheck = "TRUE";
  let nullInEnum = true;
  if (schema.enum !== undefined) {
    if (!Array.isArray(schema.enum) || !schema.enum.every((v) => typeof v === "string" || v === null)) return undefined;
    const strings = schema.enum.filter((v): v is string => typeof v === "string");
    nullInEnum = schema.enum.includes(null);
    enumCheck = strings.length > 0 && text ? `${isString} AND ${text} IN (${strings.map(sqlString).join(", ")})` : "FALSE";
  }
  if (schema.format !== undefined) {
    if (schema.format !== "date-time" && schema.format !== "date") return undefined;
    if (text) {
      // seg's RFC 3339 forms are a subset of ajv-formats' (full mode)
      const f = fieldSql({ kind: schema.format === "date" ? "date" : "timestamp", nullable: false }, col, schema.format === "date" ? "DATE" : "TIMESTAMP", id);
      for (const [name, expr] of f.pre) pre.set(name, expr);
      stringChecks.push(f.ok);
    }
  }
  if (schema.pattern !== undefined) {
    if (typeof schema.pattern !== "string" || !SAFE_PATTERN.test(schema.pattern)) return undefined;
    if (text) stringChecks.push(`regexp_matches(${text}, ${sqlString(schema.pattern)})`);
  }
  for (const k of ["minLength", "maxLength"] as const) {
    const n = schema[k];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isSafeInteger(n)) return undefined;
    // ajv counts code points, as DuckDB's length() does
    if (text) stringChecks.push(`length(${text}) ${k === "minLength" ? ">=" : "<="} ${n}`);
  }
  const ops = { minimum: ">=", maximum: "<=", exclusiveMinimum: ">", exclusiveMaximum: "<" } as const;
  for (const [k, op] of Object.entries(ops)) {
    const n = schema[k];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isFinite(n)) return undefined;
    numberChecks.push(`${num} ${op} CAST(${sqlString(String(n))} AS DOUBLE)`);
  }
  const allows = (t: string) => types === undefined || types.includes(t) || (t === "integer" && types.includes("number"));
  const alternatives: string[] = [];
  if (allows("string") && text) alternatives.push(`(${isString} AND ${[enumCheck, ...stringChecks].join(" AND ")})`);
  const numeric = [schema.enum !== undefined ? "FALSE" : "TRUE", ...numberChecks].join(" AND ");
  if (allows("number")) alternatives.push(`(${isNumber} AND ${numeric})`);
  else if (types?.includes("integer")) alternatives.push(`(${isInteger} AND ${numeric})`);
  if (allows("boolean")) alternatives.push(`(${isBoolean} AND ${schema.enum !== undefined ? "FALSE" : "TRUE"})`);
  const nullOk = (types === undefined || types.includes("null")) && nullInEnum;
  const missingOk = !nullOk && json && col.present !== undefined ? `WHEN ${col.ref} IS NULL AND NOT (${col.present}) THEN TRUE ` : "";
  return `coalesce(CASE ${missingOk}WHEN ${isNull(col)} THEN ${nullOk ? "TRUE" : "FALSE"} ELSE (${alternatives.join(" OR ") || "FALSE"}) END, FALSE)`;
}

/** The schema's top level, when this subset covers it. */
function topLevel(raw: Record<string, unknown>): { properties: Record<string, unknown>; required: string[] } | undefined {
  for (const k of Object.keys(raw)) if (!ANNOTATIONS.has(k) && !["type", "properties", "required", "additionalProperties"].includes(k)) return undefined;
  if (raw.type !== undefined && raw.type !== "object") return undefined;
  const properties = raw.properties === undefined ? {} : raw.properties;
  if (!isObj(properties)) return undefined;
  const required = raw.required === undefined ? [] : raw.required;
  if (!Array.isArray(required) || !required.every((r): r is string => typeof r === "string")) return undefined;
  if (required.some((r) => !Object.hasOwn(properties, r))) return undefined;
  if (raw.additionalProperties !== undefined && typeof raw.additionalProperties !== "boolean") return undefined;
  return { properties, required };
}

/**
 * For JSON records: the schema's checks on which keys a record has (`required`,
 * `additionalProperties: false`), over `keysSql`, an SQL list of the record's keys.
 */
export function schemaKeysSql(raw: Record<string, unknown>, keysSql: string): string | undefined {
  const top = topLevel(raw);
  if (!top) return undefined;
  const checks: string[] = [];
  if (top.required.length > 0) checks.push(`list_has_all(${keysSql}, [${top.required.map(sqlString).join(", ")}])`);
  if (raw.additionalProperties === false) {
    const allowed = Object.keys(top.properties);
    checks.push(allowed.length === 0 ? `len(${keysSql}) = 0` : `list_has_all([${allowed.map(sqlString).join(", ")}], ${keysSql})`);
  }
  return checks.length === 0 ? "TRUE" : checks.join(" AND ");
}

/**
 * SQL that is true only for records the schema surely accepts; undefined when the schema uses
 * something this subset does not cover (every record then goes through ajv). `columns` are the
 * record's keys with their helper ids: a file's columns, or for JSON records (`json`) the
 * properties looked up, whose keys {@link schemaKeysSql} checks. Helper expressions the checks
 * use are added to `pre`.
 */
export function schemaSql(raw: Record<string, unknown>, columns: Map<string, RawColumn & { id: string }>, pre: Map<string, string>, json = false): string | undefined {
  const top = topLevel(raw);
  if (!top) return undefined;
  const checks: string[] = [];
  if (!json && raw.additionalProperties === false && [...columns.keys()].some((c) => !Object.hasOwn(top.properties, c))) return "FALSE";
  for (const [name, sub] of Object.entries(top.properties)) {
    const col = columns.get(name);
    const sql = propertySql(sub, col, col?.id ?? "", !json && top.required.includes(name), pre);
    if (sql === undefined) return undefined;
    checks.push(sql);
  }
  return checks.length === 0 ? "TRUE" : checks.join(" AND ");
}
