/**
 * ajv set-up shared by the config loader and the schema registry: JSON Schema 2020-12 with
 * ajv-formats, seg's own meta-schemas (kept as JSON files in `packages/compiler/schemas/`), and
 * readable messages for ajv errors.
 */
import { readFileSync } from "node:fs";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { Ajv2020 as Ajv2020Class, ErrorObject, Options, SchemaObject } from "ajv/dist/2020.js";

/** An ajv instance for JSON Schema 2020-12. */
export type Ajv = Ajv2020Class;

const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

/** The meta-schema URI of JSON Schema 2020-12, the only dialect seg schemas may declare. */
export const DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema";

const resources = new Map<string, SchemaObject>();

/** Reads one of seg's own JSON files from `packages/compiler/schemas/` (works from src and dist). */
export function loadBundledSchema(fileName: string): SchemaObject {
  let schema = resources.get(fileName);
  if (!schema) {
    const url = new URL(`../schemas/${fileName}`, import.meta.url);
    schema = JSON.parse(readFileSync(url, "utf8")) as SchemaObject;
    resources.set(fileName, schema);
  }
  return schema;
}

/** A new ajv instance (2020-12, all errors, formats). Strict warnings go to `onWarning`. */
export function createAjv(options: Options = {}, onWarning?: (message: string) => void): Ajv {
  const ajv = new Ajv2020({
    allErrors: true,
    logger: {
      log: () => {},
      warn: (...args: unknown[]) => onWarning?.(args.map(String).join(" ")),
      error: (...args: unknown[]) => onWarning?.(args.map(String).join(" ")),
    },
    ...options,
  });
  addFormats(ajv);
  return ajv;
}

let internal: Ajv | undefined;

/** The shared strict ajv instance for seg's own schemas (config, `x-seg`). */
export function internalAjv(): Ajv {
  internal ??= createAjv({ strict: true }, (message) => {
    throw new Error(`seg internal schema: ${message}`);
  });
  return internal;
}

/** One ajv error as a JSON pointer (into the validated document) and a readable message. */
export interface AjvProblem {
  pointer: string;
  message: string;
  keyword: string;
}

const WRAPPERS = new Set(["anyOf", "oneOf", "allOf", "if", "then", "else", "not", "$ref", "$dynamicRef"]);

function escapeKey(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Turns one ajv error into a pointer and message. */
export function describeAjvError(e: ErrorObject): AjvProblem {
  const params = e.params as Record<string, unknown>;
  const base = e.instancePath;
  switch (e.keyword) {
    case "required":
      return { keyword: e.keyword, pointer: `${base}/${escapeKey(String(params.missingProperty))}`, message: "is required but missing" };
    case "additionalProperties":
    case "unevaluatedProperties": {
      const key = String(params.additionalProperty ?? params.unevaluatedProperty);
      return { keyword: e.keyword, pointer: `${base}/${escapeKey(key)}`, message: `is not a known key` };
    }
    case "enum": {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [];
      return { keyword: e.keyword, pointer: base, message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}` };
    }
    case "const":
      return { keyword: e.keyword, pointer: base, message: `must be ${JSON.stringify(params.allowedValue)}` };
    case "type":
      return { keyword: e.keyword, pointer: base, message: `must be ${String(params.type).replaceAll(",", " or ")}` };
    case "format":
      return { keyword: e.keyword, pointer: base, message: `must be a valid ${String(params.format)}` };
    default:
      return { keyword: e.keyword, pointer: base, message: e.message ?? `fails ${e.keyword}` };
  }
}

/**
 * The errors worth showing: wrapper keywords (`anyOf`, `if`...) only when nothing more precise was
 * reported, and one problem per pointer (the first, which ajv reports for the innermost check).
 */
export function selectAjvProblems(errors: readonly ErrorObject[] | null | undefined): AjvProblem[] {
  const all = (errors ?? []).map(describeAjvError);
  const precise = all.filter((p) => !WRAPPERS.has(p.keyword));
  const chosen = precise.length > 0 ? precise : all;
  const seen = new Set<string>();
  const out: AjvProblem[] = [];
  for (const p of chosen) {
    if (seen.has(p.pointer)) continue;
    seen.add(p.pointer);
    out.push(p);
  }
  return out;
}

/** `/a/b` as shown in messages; the document root is shown as `(root)`. */
export function pointerLabel(pointer: string): string {
  return pointer === "" ? "(root)" : pointer;
}
