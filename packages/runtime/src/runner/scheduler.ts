/**
 * The scheduler: when each pipeline runs, and which run together.
 *
 * - Each pipeline runs every `refreshSeconds`. A new pipeline (or a new current version of one) is
 *   due at once. After a run is taken, the next is due one refresh later on the same grid
 *   (`due + k * refresh`, skipping slots already past), so pipelines with commensurate refreshes
 *   keep falling due together instead of drifting apart.
 * - A pipeline never runs twice at once: while its job runs it is not taken again; a slot that
 *   passed meanwhile is taken when the job ends.
 * - Pipelines due now or within `slackMs` are taken together and grouped into jobs: pipelines
 *   whose plans can be merged (same entity and universe, nothing conflicting) and that read a
 *   common source run in one job (one combined plan, one query, one scan of each source).
 *   Pipelines marked isolated (they failed in a combined job) run in jobs of their own.
 *
 * Pure and deterministic: time comes in as arguments (milliseconds), ties are broken by name.
 */
import type { ActivePipeline } from "./active-pipelines.js";
import { mergeConflict } from "./merge-plans.js";

/** Options of the {@link Scheduler}. */
export interface SchedulerOptions {
  /** Pipelines due within this long from now are taken now (default 5 s). */
  slackMs?: number;
  /** Most pipelines in one job (default 100). */
  maxPipelinesPerJob?: number;
}

/** Pipelines evaluated together. */
export interface Job {
  /** `job-<n>`, numbered from 1 in the order jobs were made. */
  id: string;
  /** The earliest due time of its pipelines. */
  dueAt: number;
  /** Sorted by segment. */
  pipelines: ActivePipeline[];
}

interface Entry {
  pipeline: ActivePipeline;
  refreshMs: number;
  nextDueAt: number;
  running: boolean;
}

/** A pipeline's schedule, for status and tests. */
export interface ScheduleEntry {
  segment: string;
  version: string;
  refreshMs: number;
  nextDueAt: number;
  running: boolean;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const isolationKey = (p: { segment: string; version: string }) => `${p.segment}@${p.version}`;

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly isolated = new Set<string>();
  private readonly slackMs: number;
  private readonly maxPerJob: number;
  private jobs = 0;

  constructor(options: SchedulerOptions = {}) {
    this.slackMs = Math.max(0, options.slackMs ?? 5_000);
    this.maxPerJob = Math.max(1, options.maxPipelinesPerJob ?? 100);
  }

  /** Makes the schedule follow the active pipelines: new and changed ones are due at `now`, retired ones go. */
  sync(pipelines: readonly ActivePipeline[], now: number): void {
    const seen = new Set<string>();
    for (const p of pipelines) {
      seen.add(p.segment);
      const refreshMs = Math.max(1_000, Math.round(p.spec.refreshSeconds * 1000));
      const e = this.entries.get(p.segment);
      if (e === undefined) {
        this.entries.set(p.segment, { pipeline: p, refreshMs, nextDueAt: now, running: false });
      } else if (e.pipeline.version !== p.version) {
        e.pipeline = p;
        e.refreshMs = refreshMs;
        e.nextDueAt = now;
      } else {
        e.pipeline = p;
        if (e.refreshMs !== refreshMs) e.refreshMs = refreshMs;
      }
    }
    for (const segment of [...this.entries.keys()]) if (!seen.has(segment)) this.entries.delete(segment);
  }

  /**
   * Makes pipelines due at `now` (their served results were lost); one running now runs again when
   * its job ends. Returns the segments it knows.
   */
  runSoon(segments: Iterable<string>, now: number): string[] {
    const found: string[] = [];
    for (const segment of segments) {
      const e = this.entries.get(segment);
      if (e === undefined) continue;
      e.nextDueAt = Math.min(e.nextDueAt, now);
      found.push(segment);
    }
    return found;
  }

  /** Makes a pipeline version run in jobs of its own from now on (it failed in a combined one). */
  isolate(segment: string, version: string): void {
    this.isolated.add(isolationKey({ segment, version }));
  }

  isIsolated(segment: string, version: string): boolean {
    return this.isolated.has(isolationKey({ segment, version }));
  }

  /** Takes the pipelines due by `now + slack` and groups them into jobs (marking them running). */
  takeDue(now: number): Job[] {
    const due = [...this.entries.values()].filter((e) => !e.running && e.nextDueAt <= now + this.slackMs);
    return this.take(due, now);
  }

  /** Takes every pipeline not running, due or not (`--once`). */
  takeAll(now: number): Job[] {
    return this.take(
      [...this.entries.values()].filter((e) => !e.running),
      now,
    );
  }

  /** The job ended: its pipelines may be taken again. Pipelines retired meanwhile are ignored. */
  complete(job: Job): void {
    for (const p of job.pipelines) {
      const e = this.entries.get(p.segment);
      if (e) e.running = false;
    }
  }

  /** The earliest time a pipeline not running is due, or undefined when none is. */
  nextDueAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) {
      if (e.running) continue;
      if (next === undefined || e.nextDueAt < next) next = e.nextDueAt;
    }
    return next;
  }

  /** Every pipeline's schedule, by segment. */
  snapshot(): ScheduleEntry[] {
    return [...this.entries.values()]
      .map((e) => ({ segment: e.pipeline.segment, version: e.pipeline.version, refreshMs: e.refreshMs, nextDueAt: e.nextDueAt, running: e.running }))
      .sort((a, b) => cmp(a.segment, b.segment));
  }

  private take(entries: Entry[], now: number): Job[] {
    if (entries.length === 0) return [];
    entries.sort((a, b) => cmp(a.pipeline.segment, b.pipeline.segment));
    const dueAt = new Map<string, number>();
    for (const e of entries) {
      dueAt.set(e.pipeline.segment, e.nextDueAt);
      e.running = true;
      // Next slot on the grid, skipping the ones already past.
      let next = e.nextDueAt + e.refreshMs;
      if (next <= now) next += Math.ceil((now - next + 1) / e.refreshMs) * e.refreshMs;
      e.nextDueAt = next;
    }
    const groups = groupPipelines(
      entries.map((e) => e.pipeline),
      (p) => this.isolated.has(isolationKey(p)),
      this.maxPerJob,
    );
    return groups.map((pipelines) => ({
      id: `job-${++this.jobs}`,
      dueAt: Math.min(...pipelines.map((p) => dueAt.get(p.segment)!)),
      pipelines,
    }));
  }
}

/**
 * Groups pipelines into jobs: connected components of "can merge and share a source", each cut to
 * `maxPerJob` pipelines; isolated pipelines alone. Deterministic: pipelines and groups are ordered
 * by segment name.
 */
export function groupPipelines(pipelines: readonly ActivePipeline[], isolated: (p: ActivePipeline) => boolean, maxPerJob = 100): ActivePipeline[][] {
  const sorted = [...pipelines].sort((a, b) => cmp(a.segment, b.segment));
  const alone: ActivePipeline[][] = [];
  const groups: ActivePipeline[][] = [];
  for (const p of sorted) {
    if (isolated(p)) {
      alone.push([p]);
      continue;
    }
    const sources = new Set(p.spec.plan.sources.map((s) => s.name));
    // Every group this pipeline can join (it shares a source with, and conflicts with none of).
    const joinable = groups.filter(
      (g) => g.some((q) => q.spec.plan.sources.some((s) => sources.has(s.name))) && g.every((q) => mergeConflict(q.spec.plan, p.spec.plan) === undefined),
    );
    const target = joinable[0];
    if (target === undefined) {
      groups.push([p]);
      continue;
    }
    target.push(p);
    // It may bridge other joinable groups: fold them in when everything still merges.
    for (const other of joinable.slice(1)) {
      if (other.every((q) => target.every((r) => mergeConflict(r.spec.plan, q.spec.plan) === undefined))) {
        target.push(...other);
        groups.splice(groups.indexOf(other), 1);
      }
    }
  }
  const out: ActivePipeline[][] = [];
  for (const g of groups) {
    g.sort((a, b) => cmp(a.segment, b.segment));
    for (let i = 0; i < g.length; i += maxPerJob) out.push(g.slice(i, i + maxPerJob));
  }
  out.push(...alone);
  return out.sort((a, b) => cmp(a[0]!.segment, b[0]!.segment));
}
