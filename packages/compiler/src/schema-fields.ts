/**
 * Mapping JSON Schema property schemas to seg types: integer, number, string, boolean,
 * timestamp (`format: date-time`), date (`format: date`), string enums, and nullability
 * (`type: [T, "null"]`, or `anyOf`/`oneOf` with a null branch). Anything else (objects, arrays,
 * unions) is unsupported: kept out of the field list, with a reason for the checker to report.
 */
import { parsePointer } from "./json-locate.js";
import { enumType, quoteSparkIdentifier, segType, sparkTypeName, withNullable, type SegType } from "./types.js";

/** The seg type of a property, or why seg cannot use it. */
export type PropertyMapping = { ok: true; type: SegType } | { ok: false; reason: string };

type SchemaObj = Record<string, unknown>;

const isObj = (v: unknown): v is SchemaObj => typeof v === "object" && v !== null && !Array.isArray(v);

function resolveLocalRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = root;
  for (const part of parsePointer(ref)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObj(node) && Object.hasOwn(node, part)) node = node[part];
    else return undefined;
  }
  return node;
}

/** Follows local `$ref`s (`#/$defs/...`), merging sibling keywords over the target. */
function deref(schema: unknown, root: unknown): SchemaObj | string {
  let current = schema;
  for (let hops = 0; hops < 32; hops++) {
    if (current === true) return "it has no type";
    if (!isObj(current)) return "it is not a schema object";
    const ref = current.$ref;
    if (typeof ref !== "string") return current;
    const target = resolveLocalRef(root, ref);
    if (target === undefined) return `$ref ${ref} cannot be followed (only local #/... references are)`;
    const { $ref: _ignored, ...siblings } = current;
    current = isObj(target) ? { ...target, ...siblings } : target;
  }
  return "$ref chain is too long or circular";
}

function isNullSchema(s: unknown): boolean {
  if (!isObj(s)) return false;
  if (s.type === "null") return true;
  if (s.const === null) return true;
  return Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every((v) => v === null);
}

/** Maps one property schema (within `root`, for `$ref`s) to a seg type. */
export function mapPropertySchema(schema: unknown, root: unknown): PropertyMapping {
  const s = deref(schema, root);
  if (typeof s === "string") return { ok: false, reason: s };
  const union = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
  if (union && s.type === undefined) {
    const nonNull = union.filter((b) => !isNullSchema(deref(b, root)));
    if (nonNull.length !== 1) return { ok: false, reason: "it is a union of several types" };
    const { anyOf: _a, oneOf: _o, ...outer } = s;
    const inner = deref(nonNull[0], root);
    if (typeof inner === "string") return { ok: false, reason: inner };
    const mapped = mapPropertySchema({ ...outer, ...inner }, root);
    return mapped.ok ? { ok: true, type: withNullable(mapped.type, mapped.type.nullable || nonNull.length < union.length) } : mapped;
  }
  let nullable = false;
  let types: string[] = [];
  if (typeof s.type === "string") types = [s.type];
  else if (Array.isArray(s.type)) types = s.type.filter((t): t is string => typeof t === "string");
  if (types.includes("null")) {
    nullable = true;
    types = types.filter((t) => t !== "null");
  }
  if (types.includes("integer") && types.includes("number")) types = types.filter((t) => t !== "integer");
  let values: unknown[] | undefined = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : undefined;
  if (values?.includes(null)) {
    nullable = true;
    values = values.filter((v) => v !== null);
  }
  if (types.length === 0 && values && values.length > 0) {
    const kinds = new Set(values.map((v) => (typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v)));
    if (kinds.has("integer") && kinds.has("number")) kinds.delete("integer");
    if (kinds.size === 1) types = [[...kinds][0]!];
  }
  if (types.length === 0) {
    if (nullable) return { ok: false, reason: "it can only be null" };
    return { ok: false, reason: "it has no type" };
  }
  if (types.length > 1) return { ok: false, reason: `it may be any of ${types.join(", ")}` };
  const t = types[0];
  switch (t) {
    case "string": {
      if (s.format === "date-time") return { ok: true, type: segType("timestamp", nullable) };
      if (s.format === "date") return { ok: true, type: segType("date", nullable) };
      if (values && values.length > 0) {
        if (!values.every((v) => typeof v === "string")) return { ok: false, reason: "its enum mixes strings with other values" };
        return { ok: true, type: enumType(values as string[], nullable) };
      }
      return { ok: true, type: segType("string", nullable) };
    }
    case "integer":
    case "number":
    case "boolean":
      return { ok: true, type: segType(t, nullable) };
    case "object":
      return { ok: false, reason: "it is a nested object" };
    case "array":
      return { ok: false, reason: "it is an array" };
    default:
      return { ok: false, reason: `type ${JSON.stringify(t)} is not a JSON Schema type` };
  }
}

/** The Spark DDL of a list of fields: "`id` STRING, `amount` DOUBLE". */
export function sparkDdl(fields: Iterable<{ name: string; type: SegType }>): string {
  return [...fields].map((f) => `${quoteSparkIdentifier(f.name)} ${sparkTypeName(f.type)}`).join(", ");
}
