/** Lowering: checked programs to the IR, and plans of segments. */
export { lowerProgram } from "./lower-program.js";
export type { LoweredProgram } from "./lower-program.js";
export { buildPlan, dependencyOrder, PlanError } from "./plan.js";
export { aggregateId, LoweringError } from "./lower-expr.js";
