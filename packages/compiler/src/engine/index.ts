/**
 * `@seg/compiler/engine`: the embedded DuckDB engine (`seg eval`, `seg test`). Kept apart from the
 * main entry point because loading DuckDB's native module costs about half a second.
 */
export { asOfValue, evaluatePlan, openDuckDb, runSql } from "./duckdb-engine.js";
export { compareCodePoints } from "../code-point-order.js";
export type { DuckDbSession, EvaluateOptions, EvaluationResult, Member, SegmentResult } from "./duckdb-engine.js";
export { MAX_PROBLEMS_PER_FILE, loadSource } from "./load-data.js";
export type { DataProblem, LoadOptions } from "./load-data.js";
export { nativeLoadStats } from "./native-load.js";
export { parseDateDays, parseTimestampMicros } from "./record-values.js";
export { listRuleTestFiles, readRuleTestFile, runRuleTestCase } from "./rule-tests.js";
export type { RuleTestCase, RuleTestFile, RuleTestOutcome } from "./rule-tests.js";
