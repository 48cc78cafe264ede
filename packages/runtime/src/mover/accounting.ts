/**
 * The mover's bookkeeping, without I/O: parsing results-topic values, buffering members per run,
 * deciding when a run is complete, which runs to spill to Redis, and how far each partition's
 * offset may be committed.
 *
 * The commit rule: a partition's committed offset never passes the first message (in this process)
 * of a run that is still pending. Pending runs are in memory or staged in Redis, and may be lost
 * (crash, Redis restart); whatever is lost is read again from Kafka. Once a run is applied (or
 * skipped), it stops holding offsets back.
 */
import { parseResultMessage, type CompleteMessage, type MemberMessage } from "../contracts/messages.js";
import { runKey } from "./keys.js";

/** A results-topic value, checked. */
export type ParsedResult =
  | { kind: "member"; message: MemberMessage; metricsJson: string }
  | { kind: "complete"; message: CompleteMessage; asOfMs: number }
  | { kind: "malformed"; reason: string };

/**
 * Parses and checks one results-topic value: the contract's shape plus non-empty names, a
 * non-array metrics object, a whole non-negative `rows` and a parseable `asOf`.
 */
export function parseResult(value: Buffer | string | null | undefined): ParsedResult {
  if (value === null || value === undefined) return { kind: "malformed", reason: "empty value" };
  const text = typeof value === "string" ? value : value.toString("utf8");
  const m = parseResultMessage(text);
  if (m === undefined) return { kind: "malformed", reason: "not a result message" };
  if (m.segment === "" || m.runId === "") return { kind: "malformed", reason: "empty segment or runId" };
  if (m.type === "member") {
    if (m.entityId === "") return { kind: "malformed", reason: "empty entityId" };
    if (Array.isArray(m.metrics)) return { kind: "malformed", reason: "metrics is not an object" };
    return { kind: "member", message: m, metricsJson: JSON.stringify(m.metrics) };
  }
  if (!Number.isSafeInteger(m.rows) || m.rows < 0) return { kind: "malformed", reason: "rows is not a whole number >= 0" };
  const asOfMs = Date.parse(m.asOf);
  if (!Number.isFinite(asOfMs)) return { kind: "malformed", reason: "asOf is not a date-time" };
  return { kind: "complete", message: m, asOfMs };
}

/**
 * The order of runs of one segment: by asOf, then by runId (numerically when both are digits:
 * leading zeros are not expected). A run applies only over an older one.
 */
export interface RunOrder {
  asOfMs: number;
  runId: string;
}

/** Negative when `a` is older than `b`, 0 when the same run, positive when newer. */
export function compareRuns(a: RunOrder, b: RunOrder): number {
  if (a.asOfMs !== b.asOfMs) return a.asOfMs < b.asOfMs ? -1 : 1;
  if (a.runId === b.runId) return 0;
  // Run ids made of digits compare as numbers (run 10 is newer than run 9); others as text.
  if (a.runId.length !== b.runId.length && DIGITS.test(a.runId) && DIGITS.test(b.runId)) return a.runId.length < b.runId.length ? -1 : 1;
  return a.runId < b.runId ? -1 : 1;
}

const DIGITS = /^\d+$/;

/** A run being collected. */
export interface PendingRun {
  key: string;
  segment: string;
  runId: string;
  /** The completion marker, once seen. */
  marker?: CompleteMessage;
  markerAsOfMs?: number;
  /** When the marker was consumed (ms since epoch). */
  markerAt?: number;
  /**
   * Members not written to Redis: all of them while the run is in memory; after it spilled, the
   * ones read since the last flush to its staging hash.
   */
  buffer: Map<string, string>;
  /** True once the run's members go to its Redis staging hash. */
  spilled: boolean;
  /** Distinct members in the staging hash after the last flush (HLEN). */
  stagedCount: number;
  /** Flushes to the staging hash still in flight (their members are in neither buffer nor count). */
  flushing: number;
  /**
   * Entity ids read but not yet added to the run's new-members SET in Redis (`applyKeys(…).set`),
   * which flushes fill while the run is read, so that the apply need not; and whether every id
   * read so far is in that SET (a flush succeeded with nothing read since).
   */
  setPending: string[];
  setStaged: boolean;
  /**
   * True once an entity id with a newline was read (only the full parser yields one): the run's
   * members then go to Redis one argument each, not packed (scripts.ts).
   */
  newlineIds: boolean;
  /**
   * True while the run is being applied (in the background): its buffer is read by the apply, so
   * members read meanwhile (late duplicates) are not buffered, and it neither spills nor is
   * dropped as idle or older; it still holds its partitions' commits back until it is finished.
   */
  applying: boolean;
  /** Per partition, the first offset of this run's messages seen by this process. */
  firstOffsets: Map<number, bigint>;
  /** When the run was first and last seen (ms since epoch). */
  firstSeenAt: number;
  lastSeenAt: number;
}

/** What became of a run. */
export type RunStatus = "applied" | "duplicate" | "stale" | "unknown-segment" | "inconsistent" | "abandoned";

/** Where a run stands. */
export type Completion = "waiting" | "complete" | "overcount" | "applying";

/** Limits of {@link RunTracker}. */
export interface TrackerLimits {
  /** A run with more members in memory than this spills to Redis. */
  runMemoryLimit: number;
  /** When all in-memory runs together hold more members than this, the largest spill. */
  memoryLimit: number;
  /** How many finished runs to remember (their late duplicates are ignored). */
  finishedLimit: number;
}

export const DEFAULT_TRACKER_LIMITS: TrackerLimits = { runMemoryLimit: 100_000, memoryLimit: 500_000, finishedLimit: 10_000 };

/** Pending runs, their members and markers, and the finished runs recently seen. */
export class RunTracker {
  private readonly pending = new Map<string, PendingRun>();
  private readonly finished = new Map<string, RunStatus>();
  readonly limits: TrackerLimits;

  constructor(limits: Partial<TrackerLimits> = {}) {
    this.limits = { ...DEFAULT_TRACKER_LIMITS, ...limits };
  }

  /** Pending runs in the order they were first seen. */
  runs(): IterableIterator<PendingRun> {
    return this.pending.values();
  }

  get size(): number {
    return this.pending.size;
  }

  get(segment: string, runId: string): PendingRun | undefined {
    return this.pending.get(runKey(segment, runId));
  }

  /** What became of a finished run this tracker still remembers. */
  finishedStatus(segment: string, runId: string): RunStatus | undefined {
    return this.finished.get(runKey(segment, runId));
  }

  /** The run of the previous message: consecutive messages mostly belong to the same run. */
  private last: PendingRun | undefined;

  private open(segment: string, runId: string, partition: number, offset: string, now: number): PendingRun | undefined {
    const last = this.last;
    if (last !== undefined && last.runId === runId && last.segment === segment && this.pending.get(last.key) === last) {
      if (!last.firstOffsets.has(partition)) last.firstOffsets.set(partition, BigInt(offset));
      last.lastSeenAt = now;
      return last;
    }
    const key = runKey(segment, runId);
    if (this.finished.has(key)) return undefined;
    let run = this.pending.get(key);
    if (run === undefined) {
      run = { key, segment, runId, buffer: new Map(), spilled: false, stagedCount: 0, flushing: 0, setPending: [], setStaged: false, newlineIds: false, applying: false, firstOffsets: new Map(), firstSeenAt: now, lastSeenAt: now };
      this.pending.set(key, run);
    }
    if (!run.firstOffsets.has(partition)) run.firstOffsets.set(partition, BigInt(offset));
    run.lastSeenAt = now;
    this.last = run;
    return run;
  }

  /**
   * Buffers a member (not while its run is being applied); undefined when its run is already
   * finished (a late duplicate).
   */
  member(message: MemberMessage, metricsJson: string, partition: number, offset: string, now: number): PendingRun | undefined {
    const run = this.add(message.segment, message.runId, message.entityId, metricsJson, partition, offset, now);
    if (run !== undefined && message.entityId.includes("\n")) run.newlineIds = true;
    return run;
  }

  /** {@link member} with the message's fields given one by one. */
  add(segment: string, runId: string, entityId: string, metricsJson: string, partition: number, offset: string, now: number): PendingRun | undefined {
    const run = this.open(segment, runId, partition, offset, now);
    if (run !== undefined && !run.applying) {
      const size = run.buffer.size;
      run.buffer.set(entityId, metricsJson);
      if (run.buffer.size !== size) {
        run.setPending.push(entityId);
        run.setStaged = false;
      }
    }
    return run;
  }

  /** Records a run's marker (the first one wins); undefined when the run is already finished. */
  marker(message: CompleteMessage, asOfMs: number, partition: number, offset: string, now: number): PendingRun | undefined {
    const run = this.open(message.segment, message.runId, partition, offset, now);
    if (run !== undefined && run.marker === undefined) {
      run.marker = message;
      run.markerAsOfMs = asOfMs;
      run.markerAt = now;
    }
    return run;
  }

  /** Distinct members known for the run: in memory, or in its staging hash after the last flush. */
  static count(run: PendingRun): number {
    return run.spilled ? run.stagedCount : run.buffer.size;
  }

  /**
   * Complete: marker seen and exactly `rows` distinct members. A run is judged when no flush of it
   * is in flight (a spilled one when all its members are flushed); a run being applied is "applying".
   */
  static completion(run: PendingRun): Completion {
    if (run.applying) return "applying";
    if (run.marker === undefined || run.flushing > 0) return "waiting";
    if (run.spilled && run.buffer.size > 0) return "waiting";
    const n = RunTracker.count(run);
    if (n === run.marker.rows) return "complete";
    return n > run.marker.rows ? "overcount" : "waiting";
  }

  /** Members held in memory by runs that have not spilled. */
  inMemory(): number {
    let n = 0;
    for (const run of this.pending.values()) if (!run.spilled) n += run.buffer.size;
    return n;
  }

  /**
   * Marks the runs that must spill now (over the per-run limit, then the largest until the total
   * fits) and returns them. Their buffers are to be flushed to staging by the caller.
   */
  spill(): PendingRun[] {
    const out: PendingRun[] = [];
    let total = 0;
    const inMemory: PendingRun[] = [];
    for (const run of this.pending.values()) {
      if (run.spilled) continue;
      if (run.applying) {
        // Cannot spill (the apply reads its buffer), but its members count against the total.
        total += run.buffer.size;
        continue;
      }
      if (run.buffer.size > this.limits.runMemoryLimit) {
        run.spilled = true;
        out.push(run);
      } else {
        total += run.buffer.size;
        inMemory.push(run);
      }
    }
    if (total > this.limits.memoryLimit) {
      inMemory.sort((a, b) => b.buffer.size - a.buffer.size);
      for (const run of inMemory) {
        if (total <= this.limits.memoryLimit) break;
        run.spilled = true;
        total -= run.buffer.size;
        out.push(run);
      }
    }
    return out;
  }

  /** Runs with something to flush: spilled runs with members read since their last flush, ids not in the run's SET yet. */
  unflushed(): PendingRun[] {
    const out: PendingRun[] = [];
    for (const run of this.pending.values()) if ((run.spilled && run.buffer.size > 0) || run.setPending.length > 0) out.push(run);
    return out;
  }

  /** True when a pending run whose marker was seen matches `test`. */
  someMarked(test: (run: PendingRun) => boolean): boolean {
    for (const run of this.pending.values()) if (run.marker !== undefined && test(run)) return true;
    return false;
  }

  /** Pending runs of `segment` whose marker says they are older than `order`. */
  olderThan(segment: string, order: RunOrder): PendingRun[] {
    const out: PendingRun[] = [];
    for (const run of this.pending.values()) {
      if (run.segment !== segment || run.marker === undefined || run.applying) continue;
      if (compareRuns({ asOfMs: run.markerAsOfMs!, runId: run.runId }, order) < 0) out.push(run);
    }
    return out;
  }

  /** Pending runs not seen since `before` (ms since epoch). */
  idleSince(before: number): PendingRun[] {
    const out: PendingRun[] = [];
    for (const run of this.pending.values()) if (run.lastSeenAt < before && !run.applying) out.push(run);
    return out;
  }

  /** Forgets a pending run and remembers what became of it. */
  finish(run: PendingRun, status: RunStatus): void {
    this.pending.delete(run.key);
    this.finished.delete(run.key);
    this.finished.set(run.key, status);
    while (this.finished.size > this.limits.finishedLimit) {
      const oldest = this.finished.keys().next().value as string;
      this.finished.delete(oldest);
    }
  }

  /**
   * The offset each partition may be committed to: its next unread offset (`positions`), held
   * back to the first offset of any pending run on that partition.
   */
  safeOffsets(positions: ReadonlyMap<number, bigint>): Map<number, bigint> {
    const out = new Map(positions);
    for (const run of this.pending.values()) {
      for (const [partition, first] of run.firstOffsets) {
        const cur = out.get(partition);
        if (cur !== undefined && first < cur) out.set(partition, first);
      }
    }
    return out;
  }

  /** Forgets everything (after a rebalance or a rewind: Kafka delivers it all again). */
  reset(): void {
    this.last = undefined;
    this.pending.clear();
    this.finished.clear();
  }
}
