/**
 * What became of the runs the mover finished, for `waitForRun` and the `outcome`, `applied` and
 * `skipped` events: the last outcomes kept in memory, and the callers waiting for one.
 */
import type { EventEmitter } from "node:events";
import { runKey } from "./keys.js";
import type { RunOutcome } from "./types.js";

/** Outcomes kept for `waitForRun` calls that come after the run was finished. */
const OUTCOMES_KEPT = 2_000;

type Waiter = { resolve: (o: RunOutcome) => void; reject: (e: Error) => void };

/** The recent outcomes of runs and the callers waiting for them. */
export class RunOutcomes {
  private readonly outcomes = new Map<string, RunOutcome>();
  private readonly waiters = new Map<string, Waiter[]>();

  constructor(private readonly events: EventEmitter) {}

  /**
   * Records an outcome (a duplicate does not hide the run's earlier "applied"), emits its events and
   * resolves the callers waiting for the run.
   */
  record(o: RunOutcome): void {
    const key = runKey(o.segment, o.runId);
    const prev = this.outcomes.get(key);
    if (!(prev?.status === "applied" && o.status === "duplicate")) {
      this.outcomes.delete(key);
      this.outcomes.set(key, o);
      while (this.outcomes.size > OUTCOMES_KEPT) this.outcomes.delete(this.outcomes.keys().next().value as string);
    }
    this.events.emit("outcome", o);
    this.events.emit(o.status === "applied" ? "applied" : "skipped", o);
    const ws = this.waiters.get(key);
    if (ws) {
      this.waiters.delete(key);
      for (const w of ws) w.resolve(this.outcomes.get(key)!);
    }
  }

  /** The run's outcome: known already, or when it comes; rejects after `timeoutMs`. */
  waitFor(segment: string, runId: string, timeoutMs = 60_000): Promise<RunOutcome> {
    const key = runKey(segment, runId);
    const known = this.outcomes.get(key);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const rest = (this.waiters.get(key) ?? []).filter((w) => w !== waiter);
        if (rest.length > 0) this.waiters.set(key, rest);
        else this.waiters.delete(key);
        reject(new Error(`run ${runId} of ${segment} not finished within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
  }

  /** Rejects every caller still waiting (the mover stopped). */
  rejectAll(error: Error): void {
    for (const [key, ws] of this.waiters) {
      this.waiters.delete(key);
      for (const w of ws) w.reject(error);
    }
  }
}
