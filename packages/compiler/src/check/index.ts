/** The checker: name resolution, typing and project-wide rules over parsed `.seg` files. */
export { checkProject } from "./check-project.js";
export type { CheckProjectInput, CheckResult } from "./check-project.js";
export type { CheckedConst, CheckedMetric, CheckedProgram, CheckedSegment, TExpr } from "./program.js";
export type { ProjectSettings } from "./settings.js";
export { DEFAULT_REFRESH_MS } from "./settings.js";
export { FUNCTION_NAMES } from "./functions.js";
