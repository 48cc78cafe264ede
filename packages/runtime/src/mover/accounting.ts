/**
 * The mover's bookkeeping, without I/O: parsing results-topic values, buffering members per run
 * until they are staged in Redis, deciding when a run is complete, and how far each partition's
 * offset may be committed.
 *
 * The commit rule: a partition's committed offset never passes the first message (in this process)
 * of a run that is still pending. Pending runs are staged in Redis, and may be lost
 * (crash, Redis restart); whatever is lost is read again from Kafka. Once a run is applied (or
 * skipped), it stops holding offsets back.
 */
import { parseResultMessage, type CompleteMessage, type MemberMessage } from "../contracts/messages.js";
import { runKey } from "./keys.js";
import { PackedMembers } from "./packed-members.js";

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
  // UTF-8 bytes, as the Lua scripts compare them (UTF-16 code units order some characters differently).
  return Buffer.compare(Buffer.from(a.runId, "utf8"), Buffer.from(b.runId, "utf8")) < 0 ? -1 : 1;
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
   * Members read since the last flush, not staged in Redis yet (duplicates included: staging is
   * idempotent), packed as the staging commands' arguments.
   */
  packed: PackedMembers;
  /** Distinct members staged in Redis after the last flush (HLEN of the staged metrics hash). */
  stagedCount: number;
  /** Flushes to staging still in flight (their members are in neither `packed` nor the count). */
  flushing: number;
  /**
   * True while the run is being applied (in the background): members read meanwhile (late
   * duplicates) are not buffered (the staged keys are being swapped in), and it is not dropped as
   * idle or older; it still holds its partitions' commits back until it is finished.
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
  /** How many finished runs to remember (their late duplicates are ignored). */
  finishedLimit: number;
  /** Members per packed chunk (one HSET and one SADD each). */
  chunkMembers: number;
}

export const DEFAULT_TRACKER_LIMITS: TrackerLimits = { finishedLimit: 10_000, chunkMembers: 2_000 };

/** Pending runs, their unstaged members and markers, and the finished runs recently seen. */
export class RunTracker {
  private readonly pending = new Map<string, PendingRun>();
  private readonly finished = new Map<string, RunStatus>();
  /** Runs opened since {@link takeOpened} was last called. */
  private opened: PendingRun[] = [];
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

  /** The runs opened since the last call (each once), still pending. */
  takeOpened(): PendingRun[] {
    if (this.opened.length === 0) return this.opened;
    const opened = this.opened.filter((r) => this.pending.get(r.key) === r);
    this.opened = [];
    return opened;
  }

  /** The run of the previous message: consecutive messages mostly belong to the same run. */
  private last: PendingRun | undefined;

  private open(segment: string, runId: string, partition: number, offset: string | number, now: number): PendingRun | undefined {
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
      run = { key, segment, runId, packed: new PackedMembers(this.limits.chunkMembers), stagedCount: 0, flushing: 0, applying: false, firstOffsets: new Map(), firstSeenAt: now, lastSeenAt: now };
      this.pending.set(key, run);
      this.opened.push(run);
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
    return this.add(message.segment, message.runId, message.entityId, metricsJson, partition, offset, now);
  }

  /** {@link member} with the message's fields given one by one. */
  add(segment: string, runId: string, entityId: string, metricsJson: string, partition: number, offset: string, now: number): PendingRun | undefined {
    const run = this.open(segment, runId, partition, offset, now);
    if (run !== undefined && !run.applying) run.packed.add(entityId, metricsJson);
    return run;
  }

  /**
   * The run to buffer a member of `segment`/`runId` in (the caller packs it into `packed`);
   * undefined when the run is finished or being applied (a late duplicate, not buffered).
   */
  bufferFor(segment: string, runId: string, partition: number, offset: string | number, now: number): PendingRun | undefined {
    const run = this.open(segment, runId, partition, offset, now);
    return run === undefined || run.applying ? undefined : run;
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

  /** Distinct members staged for the run (as of its last flush). */
  static count(run: PendingRun): number {
    return run.stagedCount;
  }

  /**
   * Complete: marker seen and exactly `rows` distinct members staged. A run is judged when all its
   * members read so far are staged (none buffered, no flush in flight); a run being applied is
   * "applying".
   */
  static completion(run: PendingRun): Completion {
    if (run.applying) return "applying";
    if (run.marker === undefined || run.flushing > 0 || run.packed.count > 0) return "waiting";
    const n = run.stagedCount;
    if (n === run.marker.rows) return "complete";
    return n > run.marker.rows ? "overcount" : "waiting";
  }

  /** Members read and not staged yet (duplicates included). */
  inMemory(): number {
    let n = 0;
    for (const run of this.pending.values()) n += run.packed.count;
    return n;
  }

  /** Runs with members read since their last flush. */
  unflushed(): PendingRun[] {
    const out: PendingRun[] = [];
    for (const run of this.pending.values()) if (run.packed.count > 0) out.push(run);
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
