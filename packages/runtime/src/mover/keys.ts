/**
 * Where the mover writes in Redis. The served keys of a segment come from its pipeline spec
 * (`outputs.redis`, `outputs.ttlSeconds`); the mover's own working keys (staging, temporary sets,
 * pending post-swap work) live under `<redisPrefix>staging:` and `<redisPrefix>mover:`.
 */

/**
 * What the mover needs to know about a segment: its Redis keys and how long they live. A pipeline
 * spec's `outputs` has exactly this shape, so `lookupSegment` can return `spec.outputs`.
 */
export interface SegmentTarget {
  redis: {
    /** SET of the members' entity ids, e.g. `seg:segment:<name>:members`. */
    membersKey: string;
    /** HASH runId, version, asOf, asOfMs, size, completedAt, e.g. `seg:segment:<name>:meta`. */
    metaKey: string;
    /**
     * HASH of the members' metrics (entity id → metrics JSON), one field per member of `membersKey`,
     * swapped together with it, e.g. `seg:segment:<name>:metrics`.
     */
    metricsKey: string;
  };
  /** TTL of every served key the mover writes for this segment. */
  ttlSeconds: number;
}

/** Finds a segment's target; undefined when the segment is unknown (its runs are skipped). */
export type LookupSegment = (segment: string) => SegmentTarget | undefined | Promise<SegmentTarget | undefined>;

/** The staged metrics HASH of a run (entity id → metrics JSON), renamed over `metricsKey` by its swap. */
export function stagingKey(prefix: string, segment: string, runId: string): string {
  return `${prefix}staging:${segment}:${runId}`;
}

/**
 * The HASH recording a swap whose follow-up work (change messages) is not finished yet. At most
 * one per segment.
 */
export function postSwapKey(prefix: string, segment: string): string {
  return `${prefix}mover:post:${segment}`;
}

/** The SET of segments with a post-swap record: the change messages still to publish (an outbox). */
export function outboxKey(prefix: string): string {
  return `${prefix}mover:outbox`;
}

/**
 * Temporary keys of a run. The same for every attempt: `set` is staged while the run is read (and
 * renamed into place by its swap, or dropped with the staging); `entered` and `left` are deleted
 * and built again by each attempt to swap, so an attempt cut short (a crash) leaves nothing behind.
 */
export interface ApplyKeys {
  /** The new members SET, staged while the run is read and then renamed over `membersKey`. */
  set: string;
  /** Members in the new set and not the old one. */
  entered: string;
  /** Members in the old set and not the new one. */
  left: string;
}

export function applyKeys(prefix: string, segment: string, runId: string): ApplyKeys {
  const base = `${prefix}mover:tmp:${segment}:${runId}:`;
  return { set: `${base}set`, entered: `${base}entered`, left: `${base}left` };
}

/** The identity of a run inside the mover (segment and run id cannot collide across the separator). */
export function runKey(segment: string, runId: string): string {
  return `${segment}\u0000${runId}`;
}
