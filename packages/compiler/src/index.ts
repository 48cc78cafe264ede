/**
 * @seg/compiler: project configuration, the schema registry, seg's type model, and (to come)
 * the checker, IR, dialect emitters and pipeline spec.
 */

/** Project configuration: `seg.config.json`, defaults and environment overrides. */
export {
  CONFIG_FILE,
  RUNTIME_DEFAULTS,
  RUNTIME_ENV,
  findConfig,
  loadProject,
  parseDurationSetting,
  readConfigFile,
  resolveRuntimeSettings,
} from "./config.js";
export type {
  DurationSetting,
  LoadProjectOptions,
  Project,
  ProjectResult,
  RuntimeSettings,
  SegConfig,
  SettingSource,
} from "./config.js";

/** Source spans for JSON pointers, and JSON syntax errors with their position. */
export { JsonDocument, checkJsonSyntax, formatPointer, locateJsonPointer, parsePointer } from "./json-locate.js";
export type { JsonLocation, JsonMember, JsonNode, JsonNodeType, JsonSyntaxError } from "./json-locate.js";

/** seg's type model. */
export {
  T,
  commonType,
  enumType,
  isEnum,
  isNumeric,
  isTemporal,
  isUnknown,
  listType,
  quoteSparkIdentifier,
  segType,
  sparkTypeName,
  typeToString,
  typesEqual,
  withNullable,
} from "./types.js";
export type { SegType, SegTypeKind } from "./types.js";

/** The schema registry: event and profile JSON Schemas with `x-seg`. */
export {
  buildSchemaRegistry,
  findSchema,
  listSchemaFiles,
  loadProjectSchemas,
  loadSchemaRegistry,
  validateRecord,
} from "./schema-registry.js";
export type {
  EventSchema,
  ProfileSchema,
  SchemaField,
  SchemaRegistry,
  SchemaRegistryOptions,
  SchemaRegistryResult,
  SchemaSource,
  SegSchema,
} from "./schema-registry.js";
export { mapPropertySchema, sparkDdl } from "./schema-fields.js";
export type { PropertyMapping } from "./schema-fields.js";

/** Canonical JSON and content hashes. */
export { canonicalJson, contentHash, sha256 } from "./hash.js";

/** ajv helpers: readable messages for ajv errors. */
export { DRAFT_2020_12, describeAjvError, pointerLabel, selectAjvProblems } from "./ajv-setup.js";
export type { AjvProblem } from "./ajv-setup.js";
