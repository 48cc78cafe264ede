/** The results mover: Kafka results topic → Redis (see mover.ts). */
export { startMover } from "./mover.js";
export type { Mover, MoverLog, MoverLogLevel, MoverTimings, RunOutcome, StartMoverOptions } from "./mover.js";
export { DEFAULT_TRACKER_LIMITS, RunTracker, compareRuns, parseResult } from "./accounting.js";
export type { Completion, ParsedResult, PendingRun, RunOrder, RunStatus, TrackerLimits } from "./accounting.js";
export { PackedMembers, respCommand } from "./packed-members.js";
export type { PackedChunk } from "./packed-members.js";
export { applyKeys, outboxKey, postSwapKey, runKey, stagingKey } from "./keys.js";
export type { ApplyKeys, LookupSegment, SegmentTarget } from "./keys.js";
export { MoverApplyError, MoverStore, defineMoverScripts } from "./store.js";
export type { ApplyContext, ApplyPhase, ApplyResult, EncodedChange, MoverStoreOptions, PostSwap } from "./store.js";
export { createMoverMetrics } from "./metrics.js";
export type { MoverMetrics } from "./metrics.js";
export { ALL_TO_ONE_ASSIGNER, allToOneAssigner } from "./assigner.js";
