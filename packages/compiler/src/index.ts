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
export { daysFromCivil, daysInMonth } from "./civil-date.js";
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

/** SQL back ends: the abstract dialect, DuckDB and Spark, and the plan emitter. */
export { DAY_MS, Dialect, UnsupportedByDialectError } from "./emit/dialect.js";
export type { DialectCapabilities } from "./emit/dialect.js";
export { DuckDbDialect } from "./emit/duckdb.js";
export { SparkDialect } from "./emit/spark.js";
export { ExprEmitter, windowCondition } from "./emit/emit-expr.js";
export type { ExprScope } from "./emit/emit-expr.js";
export { drivingSource, emitPlan, emitSegmentSql } from "./emit/emit-plan.js";
export type { EmittedSql } from "./emit/emit-plan.js";
export { planUsage, walkExpr } from "./emit/plan-usage.js";
export type { PlanUsage } from "./emit/plan-usage.js";

/** The embedded DuckDB engine is a separate entry point, `@seg/compiler/engine`: it loads a native module. */

/** The checker: name resolution and typing of a whole project, with its diagnostics. */
export { checkProject, DEFAULT_REFRESH_MS, FUNCTION_NAMES } from "./check/index.js";
export type { CheckProjectInput, CheckResult, CheckedConst, CheckedMetric, CheckedProgram, CheckedSegment, ProjectSettings, TExpr } from "./check/index.js";

/** What every form of a segment carries (checked, IR, served): name, descriptive settings, entity. */
export type { SegmentHeader } from "./ir.js";

/** Lowering: checked programs to the IR, and plans of segments. */
export { LoweringError, PlanError, aggregateId, buildPlan, dependencyOrder, lowerProgram } from "./lower/index.js";
export type { LoweredProgram } from "./lower/index.js";

/** Projects end to end: config, schemas, rules, check, lower. */
export { compileProject, expandRulePaths, isConfigDiagnostic, loweredSegments } from "./project/compile-project.js";
export type { CompileRequest, CompiledProject, RuleFile } from "./project/compile-project.js";

/** Pipeline specs: the deploy unit of a segment. */
export { PIPELINE_SPEC_VERSION, buildPipelineSpec, redisKeys, sourceLookback } from "./pipeline/pipeline-spec.js";
export type { OutputSettings, PipelineSource, PipelineSpec } from "./pipeline/pipeline-spec.js";
export { DEFAULT_REDIS_PREFIX, buildPipelines, outputSettings } from "./pipeline/build-pipelines.js";
export { validatePipelineSpec } from "./pipeline/validate-spec.js";

/** The order both SQL engines sort text in. */
export { compareCodePoints } from "./code-point-order.js";
