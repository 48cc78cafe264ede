/**
 * The schema registry: every event and profile JSON Schema of a project, validated against
 * JSON Schema 2020-12 and seg's `x-seg` keyword, with fields mapped to seg types. A broken schema
 * gives diagnostics (SEG070-SEG074) and is left out; the others are still registered.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { DRAFT_2020_12, createAjv, internalAjv, loadBundledSchema, pointerLabel, selectAjvProblems, type Ajv } from "./ajv-setup.js";
import type { Project } from "./config.js";
import { diagnostic, emptySpan, type Diagnostic, type MessageName, type Span } from "./dsl-imports.js";
import { contentHash } from "./hash.js";
import { JsonDocument, formatPointer } from "./json-locate.js";
import { mapPropertySchema, sparkDdl } from "./schema-fields.js";
import { typeToString, withNullable, type SegType } from "./types.js";

/** One field of an event or profile that rules can use. */
export interface SchemaField {
  name: string;
  /** Nullable when the schema allows null or the field is not required (absent reads as null). */
  type: SegType;
  required: boolean;
  description?: string;
  /** Where the property is declared in the schema file. */
  span: Span;
}

interface SchemaCommon {
  /** The name rules use (`x-seg.name`). */
  name: string;
  /** The entity the records are about. */
  entity: string;
  /** The field holding the entity key. */
  key: string;
  /** The Kafka topic: `x-seg.topic`, else `<topicPrefix>events.<name>` (`profiles.` for profiles). */
  topic: string;
  description?: string;
  /** The schema file. */
  file: string;
  /** Where `x-seg` is in the file (for "declared here" notes). */
  span: Span;
  /** Usable fields in declaration order. */
  fields: Map<string, SchemaField>;
  /** Properties rules cannot use (nested objects, arrays, unions), with the reason. */
  unsupported: Map<string, string>;
  /** The schema as written. */
  raw: Record<string, unknown>;
  /** SHA-256 (hex) of the schema's canonical JSON. */
  hash: string;
  /** Spark DDL of the usable fields: "`id` STRING, `amount` DOUBLE". */
  sparkDdl: string;
  /** The compiled ajv validator for records of this schema. */
  validate: ValidateFunction;
}

/** An event type: facts in time, each with a timestamp field. */
export interface EventSchema extends SchemaCommon {
  kind: "event";
  /** The event-time field (a required `date-time` string). */
  time: string;
}

/** A profile: the current attributes of one entity. */
export interface ProfileSchema extends SchemaCommon {
  kind: "profile";
}

/** An event or profile schema. */
export type SegSchema = EventSchema | ProfileSchema;

/** All valid schemas of a project. */
export interface SchemaRegistry {
  /** Event schemas by name. */
  events: Map<string, EventSchema>;
  /** Profile schemas by entity. */
  profiles: Map<string, ProfileSchema>;
  /** Every registered schema, in load order. */
  schemas: SegSchema[];
  /** Every file that was read, valid or not, in load order. */
  files: string[];
}

/** A schema file to register. */
export interface SchemaSource {
  file: string;
  text: string;
}

/** Options for loading schemas. */
export interface SchemaRegistryOptions {
  /** The entity of schemas whose `x-seg` names none (the project's `entity`). */
  defaultEntity?: string;
  /** Prefix of default topic names (the project's `runtime.topicPrefix`). */
  topicPrefix?: string;
}

/** A registry and the problems found while building it. */
export interface SchemaRegistryResult {
  registry: SchemaRegistry;
  diagnostics: Diagnostic[];
}

/** Builds a registry from schema texts, in the order given. Never throws. */
export function buildSchemaRegistry(sources: readonly SchemaSource[], options: SchemaRegistryOptions = {}): SchemaRegistryResult {
  const registry: SchemaRegistry = { events: new Map(), profiles: new Map(), schemas: [], files: [] };
  const diagnostics: Diagnostic[] = [];
  const warnings: string[] = [];
  const ajv = createAjv({ strict: "log", allowUnionTypes: true }, (m) => warnings.push(m));
  ajv.addKeyword({ keyword: "x-seg", schemaType: "object", metaSchema: loadBundledSchema("x-seg.schema.json") });
  for (const source of sources) {
    registry.files.push(source.file);
    warnings.length = 0;
    try {
      const schema = readSchema(source, options, ajv, warnings, diagnostics);
      if (schema) register(registry, schema, diagnostics);
    } catch (e) {
      const message = `internal error while reading the schema: ${e instanceof Error ? e.message : String(e)}`;
      diagnostics.push(diagnostic("schemaInvalid", emptySpan(), [message], { file: source.file }));
    }
  }
  return { registry, diagnostics };
}

/** Lists the `*.json` files under `dir` (recursively, skipping dot folders), sorted by relative path. */
export function listSchemaFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      const child = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && e.name.endsWith(".json")) out.push(child);
    }
  };
  walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((rel) => join(dir, rel));
}

/** Loads every `*.json` schema in `dir` in sorted order. Never throws. */
export function loadSchemaRegistry(dir: string, options: SchemaRegistryOptions = {}): SchemaRegistryResult {
  let files: string[];
  try {
    files = listSchemaFiles(dir);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "the folder does not exist" : String((e as Error).message ?? e);
    const registry: SchemaRegistry = { events: new Map(), profiles: new Map(), schemas: [], files: [] };
    return { registry, diagnostics: [diagnostic("fileUnreadable", emptySpan(), [dir, reason], { file: dir })] };
  }
  const sources: SchemaSource[] = [];
  const unreadable: Diagnostic[] = [];
  for (const file of files) {
    try {
      sources.push({ file, text: readFileSync(file, "utf8") });
    } catch (e) {
      unreadable.push(diagnostic("schemaUnreadable", emptySpan(), [`${file}: ${(e as Error).message ?? e}`], { file }));
    }
  }
  const result = buildSchemaRegistry(sources, options);
  result.diagnostics.unshift(...unreadable);
  return result;
}

/** Loads the schemas of a project (its schemas folder, entity and topic prefix). */
export function loadProjectSchemas(project: Project): SchemaRegistryResult {
  return loadSchemaRegistry(project.schemasDir, { defaultEntity: project.entity, topicPrefix: project.runtime.topicPrefix });
}

/** Validates one record (an event or profile row) against its schema; readable errors when invalid. */
export function validateRecord(schema: SegSchema, record: unknown): { valid: boolean; errors: string[] } {
  if (schema.validate(record)) return { valid: true, errors: [] };
  return { valid: false, errors: selectAjvProblems(schema.validate.errors).map((p) => `${pointerLabel(p.pointer)}: ${p.message}`) };
}

/** Finds a schema by the name rules use: an event name, or a profile's entity or name. */
export function findSchema(registry: SchemaRegistry, name: string): SegSchema | undefined {
  return registry.events.get(name) ?? registry.profiles.get(name) ?? registry.schemas.find((s) => s.kind === "profile" && s.name === name);
}

// --- reading one schema -------------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

class SchemaReport {
  failed = false;
  constructor(
    readonly source: SchemaSource,
    readonly doc: JsonDocument,
    private readonly out: Diagnostic[],
  ) {}

  at(name: MessageName, pointer: string, args: string[], severity?: "warning"): void {
    if (severity === undefined) this.failed = true;
    const options = severity ? { file: this.source.file, severity } : { file: this.source.file };
    this.out.push(diagnostic(name, this.doc.locate(pointer).focus, args, options));
  }

  invalid(pointer: string, message: string, severity?: "warning"): void {
    this.at("schemaInvalid", pointer, [`${pointerLabel(pointer)}: ${message}`], severity);
  }
}

function readSchema(source: SchemaSource, options: SchemaRegistryOptions, ajv: Ajv, warnings: string[], out: Diagnostic[]): SegSchema | undefined {
  const doc = JsonDocument.parse(source.text);
  const fileName = basename(source.file);
  if (doc.error) {
    const { line, column } = doc.error.span.start;
    const message = `${fileName} is not valid JSON: ${doc.error.message} (line ${line}, column ${column})`;
    out.push(diagnostic("schemaUnreadable", doc.error.span, [message], { file: source.file }));
    return undefined;
  }
  const report = new SchemaReport(source, doc, out);
  const raw = doc.value;
  if (!isObj(raw)) {
    report.invalid("", "a schema must be a JSON object");
    return undefined;
  }
  const declared = raw.$schema;
  if (declared !== undefined && declared !== DRAFT_2020_12 && declared !== `${DRAFT_2020_12}#`) {
    report.invalid("/$schema", `seg schemas use JSON Schema 2020-12: write "${DRAFT_2020_12}" or leave $schema out`);
    return undefined;
  }
  if (!ajv.validateSchema(raw)) {
    for (const p of selectAjvProblems(ajv.errors)) report.invalid(p.pointer, p.message);
    return undefined;
  }
  const xseg = raw["x-seg"];
  if (xseg === undefined) {
    report.at("schemaMissingKeyword", "", [fileName, `the "x-seg" keyword (kind, name, key, time for events)`]);
    return undefined;
  }
  const meta = internalAjv().getSchema(String(loadBundledSchema("x-seg.schema.json").$id)) ?? internalAjv().compile(loadBundledSchema("x-seg.schema.json"));
  if (!meta(xseg)) {
    for (const p of selectAjvProblems(meta.errors)) {
      const pointer = `/x-seg${p.pointer}`;
      if (p.keyword === "required") report.at("schemaMissingKeyword", "/x-seg", [fileName, `x-seg${p.pointer.replace("/", ".")}`]);
      else report.invalid(pointer, p.message);
    }
    return undefined;
  }
  return checkSchema(raw, xseg as unknown as XSeg, report, options, ajv, warnings);
}

interface XSeg {
  kind: "event" | "profile";
  name: string;
  entity?: string;
  key: string;
  time?: string;
  topic?: string;
  description?: string;
}

function checkSchema(raw: Record<string, unknown>, x: XSeg, report: SchemaReport, options: SchemaRegistryOptions, ajv: Ajv, warnings: string[]): SegSchema | undefined {
  const what = `${x.kind} ${x.name}`;
  if (raw.type !== "object") report.invalid("/type", `the ${what} schema must have "type": "object"`);
  const properties = isObj(raw.properties) ? raw.properties : undefined;
  if (!properties) report.invalid("/properties", `the ${what} schema must list its fields in "properties"`);
  const required = new Set(Array.isArray(raw.required) ? raw.required.filter((r): r is string => typeof r === "string") : []);
  const entity = x.entity ?? options.defaultEntity;
  if (entity === undefined) report.at("schemaMissingKeyword", "/x-seg", [x.name, "x-seg.entity (the project sets no default entity)"]);
  if (x.kind === "event" && x.time === undefined) report.at("schemaMissingKeyword", "/x-seg", [x.name, "x-seg.time (the field with the event time)"]);
  if (x.kind === "profile" && x.time !== undefined) report.invalid("/x-seg/time", "only events have a time field");

  const fields = new Map<string, SchemaField>();
  const unsupported = new Map<string, string>();
  for (const [name, prop] of Object.entries(properties ?? {})) {
    const pointer = formatPointer(["properties", name]);
    const mapped = mapPropertySchema(prop, raw);
    if (!mapped.ok) {
      unsupported.set(name, mapped.reason);
      continue;
    }
    const isRequired = required.has(name);
    const field: SchemaField = { name, type: withNullable(mapped.type, mapped.type.nullable || !isRequired), required: isRequired, span: report.doc.locate(pointer).focus };
    if (isObj(prop) && typeof prop.description === "string") field.description = prop.description;
    fields.set(name, field);
  }
  if (properties) {
    checkSpecialField(x.key, "key", x, properties, fields, unsupported, required, report, (t) => t.kind === "string" || t.kind === "integer", "string or integer");
    if (x.kind === "event" && x.time !== undefined) {
      checkSpecialField(x.time, "time", x, properties, fields, unsupported, required, report, (t) => t.kind === "timestamp", 'string with "format": "date-time"');
    }
  }
  if (report.failed) return undefined;

  const validate = compileSchema(raw, report, ajv, warnings);
  if (!validate || entity === undefined) return undefined;
  const common = {
    name: x.name,
    entity,
    key: x.key,
    topic: x.topic ?? `${options.topicPrefix ?? ""}${x.kind === "event" ? "events" : "profiles"}.${x.name}`,
    file: report.source.file,
    span: report.doc.locate("/x-seg").focus,
    fields,
    unsupported,
    raw,
    hash: contentHash(raw),
    sparkDdl: sparkDdl(fields.values()),
    validate,
  };
  const description = x.description ?? (typeof raw.description === "string" ? raw.description : undefined);
  const schema: SegSchema = x.kind === "event" ? { kind: "event", ...common, time: x.time! } : { kind: "profile", ...common };
  if (description !== undefined) schema.description = description;
  return schema;
}

function checkSpecialField(
  name: string,
  role: "key" | "time",
  x: XSeg,
  properties: Record<string, unknown>,
  fields: Map<string, SchemaField>,
  unsupported: Map<string, string>,
  required: Set<string>,
  report: SchemaReport,
  accepts: (t: SegType) => boolean,
  expected: string,
): void {
  const what = `${x.kind} ${x.name}`;
  if (!Object.hasOwn(properties, name)) {
    report.invalid(`/x-seg/${role}`, `the ${role} field ${JSON.stringify(name)} of ${what} is not one of its properties`);
    return;
  }
  const pointer = formatPointer(["properties", name]);
  const field = fields.get(name);
  const problem = !field
    ? `it is unusable: ${unsupported.get(name) ?? "unknown type"}`
    : !accepts(field.type)
      ? `it is ${typeToString(withNullable(field.type, false))}`
      : !required.has(name)
        ? `it is not listed in "required"`
        : field.type.nullable
          ? "it may be null"
          : undefined;
  if (problem) report.invalid(pointer, `the ${role} field ${JSON.stringify(name)} of ${what} must be a required, non-null ${expected}, but ${problem}`);
}

function compileSchema(raw: Record<string, unknown>, report: SchemaReport, ajv: Ajv, warnings: string[]): ValidateFunction | undefined {
  for (const keyword of extensionKeywords(raw)) {
    try {
      if (!ajv.getKeyword(keyword)) ajv.addKeyword({ keyword });
    } catch {
      // an unusual name ajv refuses as a keyword; strict mode will warn about it
    }
  }
  let validate: ValidateFunction | undefined;
  try {
    validate = ajv.compile(raw);
  } catch (e) {
    report.invalid("", `cannot compile the schema: ${e instanceof Error ? e.message : String(e)}`);
  }
  for (const message of new Set(warnings)) {
    const keyword = /unknown keyword: "([^"]+)"/.exec(message)?.[1];
    const at = keyword ? report.doc.findMembers(keyword)[0]?.pointer ?? "" : "";
    report.invalid(at, message.replace(/^strict mode: /, ""), "warning");
  }
  return validate;
}

/** Keys starting with `x-` anywhere in a schema: extension annotations, allowed and ignored. */
function extensionKeywords(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) extensionKeywords(v, out);
  else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith("x-") && k !== "x-seg") out.add(k);
      extensionKeywords(v, out);
    }
  }
  return out;
}

function register(registry: SchemaRegistry, schema: SegSchema, out: Diagnostic[]): void {
  const clash =
    schema.kind === "event"
      ? registry.events.get(schema.name) ?? registry.profiles.get(schema.name) ?? registry.schemas.find((s) => s.kind === "profile" && s.name === schema.name)
      : registry.profiles.get(schema.entity) ?? registry.events.get(schema.entity) ?? registry.events.get(schema.name) ?? registry.schemas.find((s) => s.kind === "profile" && s.name === schema.name);
  if (clash) {
    const what = schema.kind === "profile" && registry.profiles.get(schema.entity) === clash ? `the profile of entity ${schema.entity}` : `the name ${schema.name}`;
    const related = [{ span: clash.span, message: `${clash.kind} ${clash.name} is declared here`, file: clash.file }];
    out.push(diagnostic("duplicateSchema", schema.span, [what], { file: schema.file, related }));
    return;
  }
  registry.schemas.push(schema);
  if (schema.kind === "event") registry.events.set(schema.name, schema);
  else registry.profiles.set(schema.entity, schema);
}
