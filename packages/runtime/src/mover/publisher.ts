/**
 * The mover's background work queues: one task per segment at a time (applies and publications of
 * a segment run in call order), and the outbox publisher, which publishes the change messages of
 * the segments in the Redis outbox one segment at a time, retrying on errors.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Runs `fn` after every earlier task of the same key has settled; tasks of other keys run alongside. */
export type KeyedQueue = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

/** A {@link KeyedQueue}: one task per key at a time, in call order. */
export function keyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return next;
  };
}

/** What the {@link OutboxPublisher} needs from the mover. */
export interface OutboxPublisherHooks {
  /** Publishes a segment's pending change messages; null when there were none. */
  publish(segment: string): Promise<{ runId: string; entered: number; left: number } | null>;
  /** Resolves when publishing may go on (applies go first), at the latest after `maxMs`. */
  yieldTo(maxMs: number): Promise<void>;
  published(segment: string, done: { runId: string; entered: number; left: number }): void;
  failed(segment: string, error: unknown): void;
}

/** The longest the publisher lets applies go first, per segment. */
const YIELD_MS = 2_000;

/**
 * Publishes the change messages of the segments queued, one segment at a time, in the background;
 * a segment whose publication fails stays queued and is tried again after a pause (200 ms,
 * doubling up to 5 s).
 */
export class OutboxPublisher {
  private readonly queue = new Set<string>();
  private running: Promise<void> | undefined;
  private stopped = false;
  private waiting: (() => void)[] = [];

  constructor(private readonly hooks: OutboxPublisherHooks) {}

  /** Segments queued. */
  get size(): number {
    return this.queue.size;
  }

  /** Queues segments and starts publishing if it is not already. */
  enqueue(segments: Iterable<string>): void {
    for (const s of segments) this.queue.add(s);
    if (this.queue.size > 0) this.start();
  }

  /** Resolves when nothing is queued or being published. */
  drained(): Promise<void> {
    return this.queue.size === 0 && this.running === undefined ? Promise.resolve() : new Promise<void>((r) => this.waiting.push(r));
  }

  /** Publishes nothing more; resolves when the segment being published is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private start(): void {
    if (this.running !== undefined || this.stopped) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.size > 0 && !this.stopped) {
        this.start();
      } else if (this.queue.size === 0) {
        const ws = this.waiting;
        this.waiting = [];
        for (const w of ws) w();
      }
    });
  }

  private async loop(): Promise<void> {
    let delay = 200;
    while (this.queue.size > 0 && !this.stopped) {
      await this.hooks.yieldTo(YIELD_MS);
      if (this.stopped) break;
      const segment = this.queue.values().next().value as string;
      try {
        const done = await this.hooks.publish(segment);
        this.queue.delete(segment);
        delay = 200;
        if (done !== null) this.hooks.published(segment, done);
      } catch (e) {
        this.hooks.failed(segment, e);
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }
}
