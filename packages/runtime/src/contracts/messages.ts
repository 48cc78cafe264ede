/**
 * The message contracts between the runtime's parts. Jobs (embedded or Spark) write results; the
 * mover moves them into Redis; ingestion validates raw events. Plain JSON on Kafka.
 *
 * Results topic (`RuntimeSettings.resultsTopic`):
 *   - one `MemberMessage` per member of a segment in a run (key: the entity id), then
 *   - one `CompleteMessage` per segment and run (key: the segment name) after all its members.
 *   A run is complete for the mover when it has seen the marker and exactly `rows` members of that
 *   segment and run, whatever the partitions they came through.
 * Changes topic (`RuntimeSettings.changesTopic`) and Redis pub/sub channel `changesChannel(segment)`:
 *   one `ChangeMessage` per member who entered or left a segment between two completed runs.
 * Validated events: raw events arrive on the schema's topic (`x-seg.topic`); ingestion writes each
 * valid one unchanged to `validTopic(topic)`, which jobs read, and each invalid one to the
 * dead-letter topic as a `DeadLetterMessage`.
 */

/** One member of a segment in one run. */
export interface MemberMessage {
  type: "member";
  segment: string;
  runId: string;
  entityId: string;
  metrics: Record<string, unknown>;
}

/** The end of one segment's rows in one run. */
export interface CompleteMessage {
  type: "complete";
  segment: string;
  runId: string;
  /** Pipeline version (content hash) the run used. */
  version: string;
  /** Evaluation time, ISO-8601 UTC. */
  asOf: string;
  /** Number of `MemberMessage`s of this segment and run. */
  rows: number;
}

/** A message on the results topic. */
export type ResultMessage = MemberMessage | CompleteMessage;

/** A member who entered or left a segment. */
export interface ChangeMessage {
  segment: string;
  entityId: string;
  change: "enter" | "exit";
  /**
   * The run whose swap made the change; for the exits of a retired segment's members,
   * `retired-<deployId>` (or `retired-<deployId>-<ms>` for a later clean-up, see retired-cleanup.ts).
   */
  runId: string;
  /** The run's as_of; for retirement exits, when the segment was retired (or cleaned again). */
  asOf: string;
}

/**
 * The JSON text of a member's {@link ChangeMessage} for this segment, change and run:
 * `JSON.stringify` of the message, with the text around the entity id made once.
 */
export function changeMessageText(segment: string, change: "enter" | "exit", runId: string, asOf: string): (entityId: string) => string {
  const head = `{"segment":${JSON.stringify(segment)},"entityId":`;
  const tail = `,"change":"${change}","runId":${JSON.stringify(runId)},"asOf":${JSON.stringify(asOf)}}`;
  return (entityId) => head + JSON.stringify(entityId) + tail;
}

/**
 * The runId of the exits announced when a segment retired by deploy `deployId` has its keys deleted:
 * `retired-<deployId>`; a clean-up again at `again` (a run applied after the retirement put members
 * back) gets `retired-<deployId>-<ms>`, so its exits are not taken for repeats of the first ones.
 */
export function retirementRunId(deployId: number, again?: Date): string {
  return again === undefined ? `retired-${deployId}` : `retired-${deployId}-${again.getTime()}`;
}

/** True for the exit of a retired segment's member (runId from {@link retirementRunId}). */
export function isRetirementExit(m: Pick<ChangeMessage, "change" | "runId">): boolean {
  return m.change === "exit" && /^retired-\d+(-\d+)?$/.test(m.runId);
}

/** An event that failed validation, with where it came from and why. */
export interface DeadLetterMessage {
  /** The raw topic, partition and offset the event was read from. */
  topic: string;
  partition: number;
  offset: string;
  /** The schema it was checked against, if the topic has one. */
  schema: string | null;
  /** `malformed-json`, `schema`, `too-large` or `unknown-topic`. */
  reason: "malformed-json" | "schema" | "too-large" | "unknown-topic";
  /** Field path of the first problem (`/amount`), or null. */
  path: string | null;
  message: string;
  /** The raw value as text, cut to `MAX_DEAD_LETTER_VALUE` characters. */
  value: string;
  receivedAt: string;
}

/** Longest raw value copied into a dead letter. */
export const MAX_DEAD_LETTER_VALUE = 64 * 1024;

/** The topic of validated events for a raw topic. */
export function validTopic(rawTopic: string): string {
  return `${rawTopic}.valid`;
}

/** The Redis pub/sub channel of a segment's changes. */
export function changesChannel(redisPrefix: string, segment: string): string {
  return `${redisPrefix}changes:${segment}`;
}

/** Parses a results-topic value; undefined when it is not a result message. */
export function parseResultMessage(value: string): ResultMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m["segment"] !== "string" || typeof m["runId"] !== "string") return undefined;
  if (m["type"] === "member" && typeof m["entityId"] === "string" && typeof m["metrics"] === "object" && m["metrics"] !== null) {
    return m as unknown as MemberMessage;
  }
  if (m["type"] === "complete" && typeof m["rows"] === "number" && typeof m["version"] === "string" && typeof m["asOf"] === "string") {
    return m as unknown as CompleteMessage;
  }
  return undefined;
}
