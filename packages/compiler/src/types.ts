/**
 * seg's type model. Types are plain JSON data so they can be cached, compared with `JSON.stringify`
 * and written into compiled artefacts.
 */

/** The kinds of value a seg expression can have. */
export type SegTypeKind =
  | "number"
  | "integer"
  | "string"
  | "boolean"
  | "timestamp"
  | "date"
  | "duration"
  | "null"
  | "list"
  | "error"
  | "any";

/** A seg type: a kind, whether it may be null, and for strings an optional closed set of values. */
export interface SegType {
  kind: SegTypeKind;
  /** True when the value may be null (for schema fields: null allowed, or the field is optional). */
  nullable: boolean;
  /** For `string`: the only values allowed (a JSON Schema string `enum`), sorted as declared. */
  enumValues?: string[];
  /** For `list`: the type of the items. */
  element?: SegType;
}

/** Builds a type of `kind` (not for lists or enums; see {@link listType}, {@link enumType}). */
export function segType(kind: SegTypeKind, nullable = false): SegType {
  return { kind, nullable };
}

/** A string type restricted to `values`: `enum("a","b")`. */
export function enumType(values: readonly string[], nullable = false): SegType {
  return { kind: "string", nullable, enumValues: [...values] };
}

/** A list of `element`. */
export function listType(element: SegType, nullable = false): SegType {
  return { kind: "list", nullable, element };
}

/** Ready-made non-null types. */
export const T = Object.freeze({
  number: segType("number"),
  integer: segType("integer"),
  string: segType("string"),
  boolean: segType("boolean"),
  timestamp: segType("timestamp"),
  date: segType("date"),
  duration: segType("duration"),
  null: segType("null", true),
  error: segType("error", true),
  any: segType("any", true),
});

/** The same type with `nullable` set to `nullable`. */
export function withNullable(type: SegType, nullable: boolean): SegType {
  return type.nullable === nullable ? type : { ...type, nullable };
}

/** True for `number` and `integer`. */
export function isNumeric(type: SegType): boolean {
  return type.kind === "number" || type.kind === "integer";
}

/** True for `timestamp` and `date`. */
export function isTemporal(type: SegType): boolean {
  return type.kind === "timestamp" || type.kind === "date";
}

/** True for the `error` type (already reported) and `any` (unknown): both accept everything. */
export function isUnknown(type: SegType): boolean {
  return type.kind === "error" || type.kind === "any";
}

/** True for a string restricted to an enum. */
export function isEnum(type: SegType): boolean {
  return type.kind === "string" && type.enumValues !== undefined;
}

/** Structural equality (nullability included). */
export function typesEqual(a: SegType, b: SegType): boolean {
  if (a.kind !== b.kind || a.nullable !== b.nullable) return false;
  const ae = a.enumValues;
  const be = b.enumValues;
  if ((ae === undefined) !== (be === undefined)) return false;
  if (ae && be && (ae.length !== be.length || ae.some((v, i) => v !== be[i]))) return false;
  if (a.element && b.element) return typesEqual(a.element, b.element);
  return a.element === b.element;
}

/**
 * The common type of two values that meet in a comparison, `in` list or `coalesce`: `integer` and
 * `number` give `number`, an enum and a string give `string`, `null` takes the other side, and
 * `error`/`any` absorb everything. Returns undefined when the kinds cannot meet.
 */
export function commonType(a: SegType, b: SegType): SegType | undefined {
  const nullable = a.nullable || b.nullable;
  if (a.kind === "error" || b.kind === "error") return T.error;
  if (a.kind === "any") return withNullable(b, nullable);
  if (b.kind === "any") return withNullable(a, nullable);
  if (a.kind === "null") return withNullable(b, true);
  if (b.kind === "null") return withNullable(a, true);
  if (isNumeric(a) && isNumeric(b)) {
    return segType(a.kind === "integer" && b.kind === "integer" ? "integer" : "number", nullable);
  }
  if (a.kind !== b.kind) return undefined;
  if (a.kind === "list") {
    const el = a.element && b.element ? commonType(a.element, b.element) : T.any;
    return el ? listType(el, nullable) : undefined;
  }
  if (a.kind === "string" && a.enumValues && b.enumValues) {
    const values = [...a.enumValues];
    for (const v of b.enumValues) if (!values.includes(v)) values.push(v);
    return enumType(values, nullable);
  }
  return segType(a.kind, nullable);
}

/** The type as users read it in messages: `number`, `string?`, `enum("a","b")`, `list<integer>`. */
export function typeToString(type: SegType): string {
  let base: string;
  if (type.kind === "string" && type.enumValues) {
    base = `enum(${type.enumValues.map((v) => JSON.stringify(v)).join(",")})`;
  } else if (type.kind === "list") {
    base = `list<${type.element ? typeToString(type.element) : "any"}>`;
  } else {
    base = type.kind;
  }
  const showNull = type.nullable && type.kind !== "null" && type.kind !== "error" && type.kind !== "any";
  return showNull ? `${base}?` : base;
}

/** The Spark SQL type of a seg type (`BIGINT`, `DOUBLE`, `STRING`, `TIMESTAMP`, `ARRAY<...>`). */
export function sparkTypeName(type: SegType): string {
  switch (type.kind) {
    case "integer":
      return "BIGINT";
    case "number":
      return "DOUBLE";
    case "boolean":
      return "BOOLEAN";
    case "timestamp":
      return "TIMESTAMP";
    case "date":
      return "DATE";
    case "duration":
      return "INTERVAL DAY TO SECOND";
    case "list":
      return `ARRAY<${type.element ? sparkTypeName(type.element) : "STRING"}>`;
    default:
      return "STRING";
  }
}

/** Quotes a Spark SQL identifier with backticks, doubling any backtick inside. */
export function quoteSparkIdentifier(name: string): string {
  return "`" + name.replaceAll("`", "``") + "`";
}
