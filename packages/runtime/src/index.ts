/**
 * @seg/runtime: the deploy store (PostgreSQL), Kafka helpers, and (to come) the watcher,
 * executors, mover, ingestion and serving. Importing this module loads neither `pg` nor `kafkajs`:
 * they are imported on first use.
 */

/** PostgreSQL connections and seg's own tables. */
export {
  DB_SCHEMA_ENV,
  DEFAULT_DB_SCHEMA,
  DatabaseUnreachableError,
  InvalidSchemaNameError,
  MAX_SCHEMA_LENGTH,
  connectionErrorReason,
  isValidSchemaName,
  maskUrl,
  openDatabase,
  quoteIdent,
  resolveSchemaName,
} from "./db/connection.js";
export type { OpenDatabaseOptions, SegDb } from "./db/connection.js";
export { LATEST_SCHEMA_VERSION, MIGRATE_LOCK_CLASS, MIGRATIONS, SchemaTooNewError, applyMigrations, migrate, migrationChecksum, schemaVersion } from "./db/migrations.js";
export type { Migration, MigrationResult } from "./db/migrations.js";

/** Deploys: plans, the store, rollbacks, the retention check. */
export { describeChange, formatPlan, planDeploy, planSummary, retiredRedisKeys, shortVersion } from "./deploy/plan.js";
export type {
  DeployPlan,
  DeploySchema,
  DeployedPipeline,
  DeployedState,
  PlanEntry,
  RetiredRedisKeys,
  SchemaRegistration,
  SpecPart,
} from "./deploy/plan.js";
export { DEPLOY_LOCK_CLASS, deployProject, notifyChannel, readDeployedState, rollbackSegment } from "./deploy/store.js";
export type { DeployRequest, DeployResult, DeployStep, RollbackRequest, RollbackResult } from "./deploy/store.js";
export { DeployError } from "./deploy/errors.js";
export type { DeployErrorCode } from "./deploy/errors.js";
export { checkRetention, formatMs, retentionNeeds } from "./deploy/retention.js";
export type { RetentionAdmin, RetentionReport, RetentionWarning } from "./deploy/retention.js";

/** Kafka clients. */
export { DEFAULT_KAFKA_BROKERS, KafkaUnreachableError, connectKafkaAdmin, createKafka, kafkaBrokersFromEnv } from "./kafka/admin.js";
export type { KafkaClientOptions } from "./kafka/admin.js";
export { recordView, valueRange } from "./kafka/record-view.js";
export type { KafkaRecordView, ValueRange } from "./kafka/record-view.js";

/** Ingestion: raw events validated into valid topics and the dead-letter topic, exactly once, with progress and metrics. */
export { DEAD_LETTER_REASONS, DEFAULT_MAX_MESSAGE_BYTES, EventClassifier, cutText, deadLetterValue, ingestRoutes } from "./ingest/classify.js";
export type { ClassifierOptions, Classified, DeadLetterReason, IngestRoute, InvalidEvent, RawEvent, ValidEvent } from "./ingest/classify.js";
export { IngestBatchError, startIngestion } from "./ingest/ingester.js";
export type { BatchSummary, Ingestion, IngestionHooks, IngestionLog, IngestionOptions } from "./ingest/ingester.js";
export { INGEST_METRIC_NAMES, createIngestMetrics } from "./ingest/metrics.js";
export type { IngestMetrics } from "./ingest/metrics.js";
export { ProgressStore, countBeyond, readStreamProgress } from "./ingest/progress.js";
export type { CountedMessage, ProgressUpdate, StreamProgress } from "./ingest/progress.js";

/** The results mover: completed runs from the results topic into Redis (atomic swaps, change messages). */
export {
  ALL_TO_ONE_ASSIGNER,
  DEFAULT_TRACKER_LIMITS,
  MoverApplyError,
  MoverStore,
  PackedMembers,
  respCommand,
  RunTracker,
  allToOneAssigner,
  applyKeys,
  compareRuns,
  createMoverMetrics,
  defineMoverScripts,
  outboxKey,
  parseResult,
  postSwapKey,
  runKey,
  stagingKey,
  startMover,
} from "./mover/index.js";
export type {
  ApplyContext,
  ApplyKeys,
  ApplyPhase,
  ApplyResult,
  Completion,
  LookupSegment,
  Mover,
  MoverLog,
  MoverLogLevel,
  MoverMetrics,
  MoverStoreOptions,
  MoverTimings,
  PackedChunk,
  ParsedResult,
  PendingRun,
  PostSwap,
  RunOrder,
  RunOutcome,
  RunStatus,
  SegmentTarget,
  StartMoverOptions,
  TrackerLimits,
} from "./mover/index.js";

/** The runner: watcher, scheduler, embedded and Spark executors, runs, the runtime, status; and its metrics. */
export * from "./runner/index.js";
export * from "./metrics/index.js";

/** The message contracts between jobs, the mover and ingestion (results, changes, dead letters, validated topics). */
export { MAX_DEAD_LETTER_VALUE, changeMessageText, changesChannel, isRetirementExit, parseResultMessage, retirementRunId, validTopic } from "./contracts/messages.js";
export type { ChangeMessage, CompleteMessage, DeadLetterMessage, MemberMessage, ResultMessage } from "./contracts/messages.js";

/** Roles, tokens, the permission table and `requireRole` (auth); the serving API (`seg serve`). */
export * from "./auth/index.js";
export * from "./serve/index.js";

/** The Spark driver: fetch, build and run it; check statements with Spark's analyser. */
export * from "./spark/index.js";
