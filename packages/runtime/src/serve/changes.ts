/**
 * The change stream: enter/exit events of segments, live and resumable.
 *
 * The mover PUBLISHes one `ChangeMessage` per change on `changesChannel(prefix, segment)`. Each
 * server PSUBSCRIBEs to them and records every message with one script into a per-segment Redis
 * Stream (`<prefix>serve:changes:<segment>`, trimmed to about `historyMaxLen` entries), under an
 * id from one global counter (`<prefix>serve:changes:seq`), so ids are totally ordered across
 * segments and the same on every server. The script remembers which (run, change, entity) it has
 * recorded (`<prefix>serve:changes:seen:<segment>:<runId>`, expiring after `seenTtlSeconds`): a
 * message published twice (the mover delivers at least once) or recorded by several servers gets
 * one id. Each server then fans the recorded event out to its own clients.
 *
 * A retired segment is no longer served, but the exits of its members, announced when the runtime
 * deletes its keys (runId `retired-<deployId>`, see contracts/messages.ts), are still recorded and
 * sent: without them a client would never learn that those members left.
 *
 * A client may pass `since=<id>`: the server subscribes it live first (buffering), replays the
 * streams' entries after `since`, then the buffered live events it has not sent. If entries after
 * `since` may have been trimmed (entries were removed and the first retained one is past `since + 1`), or `since` is
 * beyond the counter (Redis was reset), the client first gets a `reset` event: it must re-read the
 * membership instead of trusting the replay alone.
 */
import type { Redis } from "ioredis";
import { isRetirementExit, type ChangeMessage } from "../contracts/messages.js";

/** One recorded change as sent to clients. */
export interface ChangeEvent {
  type: "change";
  id: string;
  segment: string;
  entityId: string;
  change: "enter" | "exit";
  runId: string;
  asOf: string;
}

/** Sent before the replay when events after `since` may be missing. */
export interface ResetEvent {
  type: "reset";
  reason: "history-trimmed" | "unknown-position" | "subscription-interrupted";
  segments: string[];
}

export type StreamEvent = ChangeEvent | ResetEvent;

/** Keys of the change history. */
export function changeKeys(prefix: string) {
  return {
    stream: (segment: string) => `${prefix}serve:changes:${segment}`,
    seen: (segment: string, runId: string) => `${prefix}serve:changes:seen:${segment}:${runId}`,
    seq: `${prefix}serve:changes:seq`,
  };
}

/**
 * KEYS: stream, seen, seq. ARGV: field, maxlen, seenTtl, segment, entityId, change, runId, asOf.
 * Returns {id, 1} when recorded now, {id, 0} when it was recorded before.
 */
const RECORD = `
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then return {id, 0} end
local n = redis.call('INCR', KEYS[3])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local top = tonumber(string.match(last[1][1], '^(%d+)'))
  if top >= n then
    n = top + 1
    redis.call('SET', KEYS[3], n)
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], n .. '-0', 'segment', ARGV[4], 'entityId', ARGV[5], 'change', ARGV[6], 'runId', ARGV[7], 'asOf', ARGV[8])
redis.call('HSET', KEYS[2], ARGV[1], n)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {tostring(n), 1}
`;

/** Parses a pub/sub message into a change, or undefined. */
export function parseChangeMessage(text: string): ChangeMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m["segment"] !== "string" || typeof m["entityId"] !== "string" || typeof m["runId"] !== "string") return undefined;
  if (m["change"] !== "enter" && m["change"] !== "exit") return undefined;
  return { segment: m["segment"], entityId: m["entityId"], change: m["change"], runId: m["runId"], asOf: typeof m["asOf"] === "string" ? m["asOf"] : "" };
}

/** Options of {@link ChangeHub}. */
export interface ChangeHubOptions {
  /** Prefix of seg's Redis keys and of the changes channels, e.g. `seg:`. */
  prefix: string;
  /** Entries kept per segment stream, about (default 100,000). */
  historyMaxLen?: number;
  /** How long a (run, change, entity) is remembered for de-duplication (default 1 day). */
  seenTtlSeconds?: number;
  /** True when a segment's events may be recorded and sent (active segments). */
  isServed: (segment: string) => boolean;
  /** True for a retired segment: only the exits its retirement announces are recorded and sent. */
  isRetired?: (segment: string) => boolean;
  onError?: (message: string) => void;
  /** Called per recorded message: `recorded` (new) or `duplicate`. */
  onRecord?: (result: "recorded" | "duplicate") => void;
}

/** A client's subscription. */
export interface Subscription {
  /** Stops delivery. */
  close(): void;
}

interface Listener {
  segments: ReadonlySet<string> | null;
  deliver(e: ChangeEvent): void;
  reset(e: ResetEvent): void;
}

const entryToEvent = (id: string, fields: string[]): ChangeEvent => {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return {
    type: "change",
    id: id.replace(/-0$/, ""),
    segment: f["segment"] ?? "",
    entityId: f["entityId"] ?? "",
    change: f["change"] === "exit" ? "exit" : "enter",
    runId: f["runId"] ?? "",
    asOf: f["asOf"] ?? "",
  };
};

/** Records changes from pub/sub into Redis Streams and fans them out to subscribers. */
export class ChangeHub {
  private readonly keys;
  private readonly listeners = new Set<Listener>();
  private subscriber: Redis | undefined;

  constructor(
    /** Runs the record script and reads history (a normal connection). */
    private readonly redis: Redis,
    private readonly options: ChangeHubOptions,
  ) {
    this.keys = changeKeys(options.prefix);
    if (typeof (redis as unknown as Record<string, unknown>)["segServeRecordChange"] !== "function") {
      redis.defineCommand("segServeRecordChange", { lua: RECORD, numberOfKeys: 3 });
    }
  }

  /** Subscribes `subscriber` (a connection of its own: it goes into pub/sub mode) to every segment's channel. */
  async start(subscriber: Redis): Promise<void> {
    this.subscriber = subscriber;
    const pattern = `${this.options.prefix}changes:*`;
    subscriber.on("pmessage", (_pattern: string, channel: string, message: string) => this.onMessage(channel, message));
    await subscriber.psubscribe(pattern);
    // ioredis re-subscribes after a reconnect; messages published meanwhile were neither recorded
    // nor delivered, so every client is told to re-read.
    // (The connection is ready before start: every later "ready" is a reconnect.)
    subscriber.on("ready", () => {
      for (const l of this.listeners) l.reset({ type: "reset", reason: "subscription-interrupted", segments: l.segments ? [...l.segments] : [] });
    });
  }

  private onMessage(channel: string, text: string): void {
    const m = parseChangeMessage(text);
    const segmentOfChannel = channel.slice(`${this.options.prefix}changes:`.length);
    if (!m || m.segment !== segmentOfChannel) {
      this.options.onError?.(`ignored a message on ${channel} that is not a change of that segment`);
      return;
    }
    if (!this.options.isServed(m.segment) && !(isRetirementExit(m) && this.options.isRetired?.(m.segment))) return;
    // Commands on one connection are answered in order, so events are delivered in publish order.
    void this.record(m).then(
      (e) => this.fanOut(e),
      (err: Error) => this.options.onError?.(`recording a change of ${m.segment} failed: ${err.message}`),
    );
  }

  /** Records one change (idempotent) and returns it with its id. */
  async record(m: ChangeMessage): Promise<ChangeEvent> {
    const [id, fresh] = (await (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)["segServeRecordChange"]!(
      this.keys.stream(m.segment),
      this.keys.seen(m.segment, m.runId),
      this.keys.seq,
      `${m.change}:${m.entityId}`,
      this.options.historyMaxLen ?? 100_000,
      this.options.seenTtlSeconds ?? 86_400,
      m.segment,
      m.entityId,
      m.change,
      m.runId,
      m.asOf,
    )) as [string, number];
    this.options.onRecord?.(fresh === 1 ? "recorded" : "duplicate");
    return { type: "change", id: String(id), segment: m.segment, entityId: m.entityId, change: m.change, runId: m.runId, asOf: m.asOf };
  }

  private fanOut(e: ChangeEvent): void {
    for (const l of this.listeners) {
      if (l.segments === null || l.segments.has(e.segment)) l.deliver(e);
    }
  }

  /** Clients subscribed now. */
  get clients(): number {
    return this.listeners.size;
  }

  /**
   * Subscribes a client to `segments` (null: all). With `since`, first replays the recorded events
   * after it (preceded by a `reset` event when some may be missing), then goes live; events come
   * in id order, each once. `send` returns false to stop (the client is gone or too slow).
   */
  async subscribe(opts: {
    segments: ReadonlySet<string> | null;
    since: bigint | null;
    /** The segments to replay when `segments` is null (the active ones and the retired ones, whose exits are recorded). */
    allSegments: () => string[];
    send: (e: StreamEvent) => boolean;
  }): Promise<Subscription> {
    let replaying = opts.since !== null;
    const buffered: ChangeEvent[] = [];
    let last = opts.since ?? -1n;
    let open = true;
    const listener: Listener = {
      segments: opts.segments,
      deliver: (e) => {
        if (!open) return;
        if (replaying) {
          buffered.push(e);
          return;
        }
        const id = BigInt(e.id);
        if (id <= last) return;
        last = id;
        if (!opts.send(e)) close();
      },
      reset: (e) => {
        if (open && !opts.send(e)) close();
      },
    };
    const close = () => {
      open = false;
      this.listeners.delete(listener);
    };
    this.listeners.add(listener);
    if (opts.since !== null) {
      try {
        await this.replay(opts.since, opts.segments ? [...opts.segments] : opts.allSegments(), (e) => {
          if (!open) return false;
          if (e.type === "change") {
            const id = BigInt(e.id);
            if (id <= last) return true;
            last = id;
          }
          if (!opts.send(e)) {
            close();
            return false;
          }
          return true;
        });
      } catch (e) {
        close();
        throw e;
      }
      replaying = false;
      for (const e of buffered.splice(0)) listener.deliver(e);
    }
    return { close };
  }

  private async replay(since: bigint, segments: string[], send: (e: StreamEvent) => boolean): Promise<void> {
    const seq = BigInt((await this.redis.get(this.keys.seq)) ?? "0");
    const trimmed: string[] = [];
    if (since > seq) {
      if (!send({ type: "reset", reason: "unknown-position", segments })) return;
    } else {
      for (const s of segments) {
        // Events after `since` are all there when the first retained entry is at most since + 1.
        if ((await this.retainedFrom(this.keys.stream(s))) > since + 1n) trimmed.push(s);
      }
      if (trimmed.length > 0 && !send({ type: "reset", reason: "history-trimmed", segments: trimmed })) return;
    }
    // Merge the segments' streams by id, a page at a time.
    const cursors = new Map<string, { next: string; entries: ChangeEvent[]; done: boolean }>();
    const start = `${since + 1n}-0`;
    for (const s of segments) cursors.set(s, { next: start, entries: [], done: false });
    const fill = async (s: string) => {
      const c = cursors.get(s)!;
      if (c.entries.length > 0 || c.done) return;
      const page = (await this.redis.xrange(this.keys.stream(s), c.next, "+", "COUNT", 1000)) as [string, string[]][];
      if (page.length < 1000) c.done = true;
      c.entries = page.map(([id, fields]) => entryToEvent(id, fields));
      const lastId = page[page.length - 1]?.[0];
      if (lastId) c.next = `${BigInt(lastId.replace(/-\d+$/, "")) + 1n}-0`;
    };
    for (;;) {
      await Promise.all(segments.map(fill));
      let best: { s: string; e: ChangeEvent } | undefined;
      for (const [s, c] of cursors) {
        const e = c.entries[0];
        if (e && (!best || BigInt(e.id) < BigInt(best.e.id))) best = { s, e };
      }
      if (!best) return;
      cursors.get(best.s)!.entries.shift();
      if (!send(best.e)) return;
    }
  }

  /**
   * The smallest id such that every entry of the stream from it on is still there: entries below
   * the first retained one may have been trimmed (when any entry was ever removed). 0 when nothing
   * was removed or there is no stream.
   */
  private async retainedFrom(key: string): Promise<bigint> {
    let raw: unknown[];
    try {
      raw = (await this.redis.call("XINFO", "STREAM", key)) as unknown[];
    } catch {
      return 0n; // no such stream: no events of that segment were recorded
    }
    const f = new Map<string, unknown>();
    for (let i = 0; i + 1 < raw.length; i += 2) f.set(String(raw[i]), raw[i + 1]);
    const added = Number(f.get("entries-added") ?? 0);
    const length = Number(f.get("length") ?? 0);
    if (added <= length) return 0n;
    const first = f.get("first-entry") as [string, string[]] | null | undefined;
    if (!first) return BigInt(String(f.get("last-generated-id") ?? "0-0").replace(/-\d+$/, "")) + 1n;
    return BigInt(first[0].replace(/-\d+$/, ""));
  }

  /** Stops receiving (the subscriber connection is the caller's to close). */
  async stop(): Promise<void> {
    this.listeners.clear();
    await this.subscriber?.punsubscribe().catch(() => {});
  }
}
