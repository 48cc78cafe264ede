/**
 * Spark execution for seg: the local setup (infra/spark/setup.sh), the driver wrapper, and the
 * Spark SQL analysis check.
 */
export { DEFAULT_SPARK_JVM_OPTIONS, ensureSpark, findRepoRoot, setupSpark } from "./spark-setup.js";
export type { SparkSetup } from "./spark-setup.js";
export { SparkDriverError, analyzeSparkSql, runSparkDriver } from "./spark-driver.js";
export type {
  SparkAnalysis,
  SparkAnalyzeOptions,
  SparkAnalyzeResult,
  SparkLaunchOptions,
  SparkLocation,
  SparkMember,
  SparkPlanInput,
  SparkRunOptions,
  SparkRunResult,
  SparkSegmentResult,
  SparkSourceStats,
  SparkStatementInput,
  SparkSummary,
} from "./spark-driver.js";
