/**
 * Reading what is new on validated topics, up to where they end now: from a stored position per
 * partition to the partition's end offset taken when the read starts, isolation read_committed
 * (only events of committed ingestion transactions; control records and aborted events are
 * skipped but move the position on).
 *
 * kafkajs has no manual partition assignment, so the read uses a consumer group of its own
 * (one per process, never committing offsets: positions live with the data they describe) and
 * seeks every partition to its stored position. Events arrive in chunks handed to `onChunk`
 * together with the positions after them, so the caller can store both atomically.
 */
import type { Admin, Consumer, Kafka } from "kafkajs";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";

/** One message read. */
export interface ReadMessage {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
}

/** A topic to read from stored positions (next offset per partition; absent = from the earliest). */
export interface TopicToRead {
  topic: string;
  from: ReadonlyMap<number, bigint>;
}

/** What was read from one topic. */
export interface TopicReadSummary {
  topic: string;
  /** False when the topic does not exist (nothing to read). */
  exists: boolean;
  messages: number;
  /** Per partition: where the read started, where it ended (next offset) and the end it aimed for. */
  partitions: { partition: number; from: string; to: string; end: string }[];
  /** Partitions whose stored position was below the earliest offset still kept (events were lost to retention). */
  gaps: { partition: number; stored: string; earliest: string }[];
}

/** Options of {@link readNewMessages}. */
export interface ReadOptions {
  kafka: Kafka;
  admin: Admin;
  /** The consumer group used for reading (never commits). */
  groupId: string;
  topics: readonly TopicToRead[];
  /** Called with each chunk of one topic and the positions after it (in order). */
  onChunk: (topic: string, messages: ReadMessage[], positions: Map<number, bigint>) => Promise<void>;
  /** Messages per chunk (default 50,000). */
  chunkSize?: number;
  /** Stop when nothing arrived for this long although the end was not reached (an open transaction; default 3 s). */
  idleMs?: number;
  /** Give up after this long (default 10 minutes). */
  maxMs?: number;
  signal?: AbortSignal;
  log?: RunnerLog;
}

/** Reads every topic from its positions to its current end. */
export async function readNewMessages(options: ReadOptions): Promise<TopicReadSummary[]> {
  const log = options.log ?? silentLog;
  const chunkSize = options.chunkSize ?? 50_000;
  const existing = new Set(await options.admin.listTopics());
  const summaries = new Map<string, TopicReadSummary>();
  /** Per topic and partition: next offset to read, end to reach. */
  const state = new Map<string, Map<number, { pos: bigint; start: bigint; end: bigint }>>();
  for (const t of options.topics) {
    if (!existing.has(t.topic)) {
      summaries.set(t.topic, { topic: t.topic, exists: false, messages: 0, partitions: [], gaps: [] });
      continue;
    }
    const summary: TopicReadSummary = { topic: t.topic, exists: true, messages: 0, partitions: [], gaps: [] };
    summaries.set(t.topic, summary);
    const parts = new Map<number, { pos: bigint; start: bigint; end: bigint }>();
    for (const o of await options.admin.fetchTopicOffsets(t.topic)) {
      const low = BigInt(o.low);
      const high = BigInt(o.high);
      const stored = t.from.get(o.partition);
      let pos = stored ?? low;
      if (stored !== undefined && stored < low) {
        summary.gaps.push({ partition: o.partition, stored: stored.toString(), earliest: low.toString() });
        log("warn", `${t.topic}[${o.partition}]: events ${stored}..${low - 1n} are gone (retention) before they were read`);
        pos = low;
      }
      if (pos > high) {
        // The topic was recreated: its offsets start over.
        log("warn", `${t.topic}[${o.partition}]: stored position ${pos} is past the end ${high} (topic recreated?); reading it from the start`);
        pos = low;
      }
      parts.set(o.partition, { pos, start: pos, end: high });
    }
    state.set(t.topic, parts);
  }
  const pending = () => [...state.values()].some((parts) => [...parts.values()].some((p) => p.pos < p.end));
  const finish = (): TopicReadSummary[] => {
    for (const [topic, parts] of state) {
      summaries.get(topic)!.partitions = [...parts].map(([partition, p]) => ({ partition, from: p.start.toString(), to: p.pos.toString(), end: p.end.toString() }));
    }
    return options.topics.map((t) => summaries.get(t.topic)!);
  };
  const positionsOf = (topic: string) => new Map([...state.get(topic)!].map(([p, s]) => [p, s.pos]));

  if (!pending()) {
    // Nothing new; positions that moved (gaps, recreated topics, first reads) are still stored.
    for (const t of options.topics) {
      const parts = state.get(t.topic);
      if (parts && [...parts].some(([p, s]) => t.from.get(p) !== s.pos)) await options.onChunk(t.topic, [], positionsOf(t.topic));
    }
    return finish();
  }

  const buffers = new Map<string, ReadMessage[]>();
  let consumer: Consumer | undefined;
  let lastProgress = Date.now();
  let failure: unknown;
  const started = Date.now();
  try {
    consumer = options.kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 4 * 1024 * 1024,
      retry: { retries: 5 },
    });
    const c = consumer;
    const flush = async (topic: string) => {
      const buf = buffers.get(topic) ?? [];
      buffers.set(topic, []);
      await options.onChunk(topic, buf, positionsOf(topic));
    };
    const advance = (topic: string, partition: number, lastOffset: string) => {
      const s = state.get(topic)?.get(partition);
      if (!s) return;
      const next = BigInt(lastOffset) + 1n;
      if (next > s.pos) {
        s.pos = next;
        lastProgress = Date.now();
      }
    };
    c.on(c.events.END_BATCH_PROCESS, (e) => {
      // Batches holding only control records or aborted events do not reach eachBatch.
      const p = e.payload;
      if (p.batchSize === 0) advance(p.topic, p.partition, p.lastOffset);
    });
    const done = new Promise<void>((resolve, reject) => {
      c.on(c.events.CRASH, (e) => reject(e.payload.error));
      const timer = setInterval(() => {
        if (failure !== undefined) {
          clearInterval(timer);
          reject(failure);
        } else if (!pending()) {
          clearInterval(timer);
          resolve();
        } else if (options.signal?.aborted) {
          clearInterval(timer);
          reject(new Error("the read was cancelled"));
        } else if (Date.now() - lastProgress > (options.idleMs ?? 3_000)) {
          clearInterval(timer);
          log("info", "stopped reading: nothing arrived although the end offsets were not reached (an open or aborted transaction)");
          resolve();
        } else if (Date.now() - started > (options.maxMs ?? 600_000)) {
          clearInterval(timer);
          reject(new Error(`reading new events took longer than ${options.maxMs ?? 600_000} ms`));
        }
      }, 50);
    });
    await c.connect();
    for (const topic of state.keys()) await c.subscribe({ topic, fromBeginning: true });
    const joined = new Promise<void>((resolve) => {
      const off = c.on(c.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    await c.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return;
        const s = state.get(batch.topic)?.get(batch.partition);
        if (!s) return;
        const buf = buffers.get(batch.topic) ?? [];
        buffers.set(batch.topic, buf);
        let taken = 0;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < s.pos) continue;
          taken++;
          buf.push({ partition: batch.partition, offset, key: m.key === null ? null : m.key.toString("utf8"), value: m.value === null ? null : m.value.toString("utf8") });
        }
        advance(batch.topic, batch.partition, batch.lastOffset());
        summaries.get(batch.topic)!.messages += taken;
        if (buf.length >= chunkSize) {
          try {
            await flush(batch.topic);
          } catch (e) {
            failure = e;
          }
        }
        await heartbeat();
      },
    });
    await joined;
    for (const [topic, parts] of state) for (const [partition, p] of parts) c.seek({ topic, partition, offset: p.pos.toString() });
    lastProgress = Date.now();
    await done;
    await c.stop();
    for (const topic of state.keys()) await flush(topic);
  } catch (e) {
    log("warn", `reading validated topics failed: ${errorMessage(e)}`);
    throw e;
  } finally {
    await consumer?.disconnect().catch(() => {});
  }
  return finish();
}
