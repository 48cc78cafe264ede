/**
 * Ingestion: one consumer group reads every raw topic of the registry's schemas; each event is
 * classified (see `classify.ts`); valid ones are written unchanged to `validTopic(raw)`, invalid
 * ones to the dead-letter topic as `DeadLetterMessage` JSON.
 *
 * Exactly once (with read_committed readers downstream): each batch of one raw partition is written
 * in one Kafka transaction together with the consumer offset after it (`sendOffsets`), so the
 * outputs and the progress of the group commit or vanish together. Each raw partition has its own
 * transactional producer, `transactional.id = <prefix>.<topic>.<partition>`: a restarted ingester
 * (or the one a partition moves to) opens the same id, which fences the old producer and makes the
 * broker finish its open transaction (abort, or complete a commit already decided) before the new
 * owner reads the group's committed offset. Messages below that offset are skipped, so a commit
 * that completed after the consumer had fetched its position is not replayed. (kafkajs does not
 * implement KIP-447, where the consumer's group generation fences zombies; per-partition ids are the
 * protocol that works without it.)
 *
 * Progress (`stream_progress`) is exact across crashes by a compare-and-set on the stored offset;
 * see `progress.ts`.
 */
import { performance } from "node:perf_hooks";
import type { SchemaRegistry } from "@seg/compiler";
import type { Admin, Batch, Consumer, EachBatchPayload, ICustomPartitioner, IHeaders, Kafka, Message, Producer, Transaction } from "kafkajs";
import type { Registry } from "prom-client";
import { validTopic } from "../contracts/messages.js";
import type { SegDb } from "../db/connection.js";
import { migrate } from "../db/migrations.js";
import { DEFAULT_MAX_MESSAGE_BYTES, EventClassifier, type DeadLetterReason } from "./classify.js";
import { createIngestMetrics, type IngestMetrics } from "./metrics.js";
import { ProgressStore, countBeyond, type CountedMessage } from "./progress.js";

/** A log line: kafkajs warnings and errors, rebalances, failed batches. */
export type IngestionLog = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** What one committed batch did (for `onBatch`). */
export interface BatchSummary {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Messages in the batch (including any already counted before a restart). */
  received: number;
  valid: number;
  invalid: number;
  invalidByReason: Partial<Record<DeadLetterReason, number>>;
  lag: number;
  durationMs: number;
}

/** Options of {@link startIngestion}. */
export interface IngestionOptions {
  brokers: readonly string[];
  /** The consumer group; also names the progress stream and the transactional ids. */
  groupId: string;
  registry: SchemaRegistry;
  deadLetterTopic: string;
  /** Where `stream_progress` lives (migrated on start). Without it no progress is recorded. */
  db?: SegDb | undefined;
  /** A prom-client registry to register the ingestion metrics on. */
  metrics?: Registry | undefined;
  log?: IngestionLog | undefined;
  /**
   * Raw topics to read besides the registry's (names, or patterns matched against the topics that
   * exist at start). Their events are `unknown-topic` dead letters unless a schema reads them.
   * Valid topics and the dead-letter topic are never read.
   */
  extraTopics?: readonly (string | RegExp)[] | undefined;
  /** Values over this many bytes are `too-large` (default 1 MiB). */
  maxMessageBytes?: number | undefined;
  /** Where a group without committed offsets starts: the earliest offset (default) or the latest. */
  fromBeginning?: boolean | undefined;
  /** Consumer session timeout (default 30 s; the broker's minimum is usually 6 s). */
  sessionTimeoutMs?: number | undefined;
  /**
   * Partitions processed at once (default 4): one batch's network round trips (sends, offsets,
   * commit, progress row) overlap another's validation. Each partition has its own producer, so
   * several transactions can be open at once, and a crash aborts them in any order. Kafka's own
   * read_committed consumers handle that, and so does kafkajs with seg's patch
   * (patches/kafkajs@2.2.4.patch; unpatched 2.2.4 returned records of an aborted transaction when
   * another producer's abort came first in the fetch response).
   */
  partitionsConsumedConcurrently?: number | undefined;
  /**
   * Most bytes fetched per partition and batch (default 4 MiB): also the largest transaction. Each
   * batch costs a transaction's round trips (offsets, commit) and a progress row, so larger batches
   * cost less per event.
   */
  maxBytesPerPartition?: number | undefined;
  /** How long a fetch waits for new events (default 1 s); `stop()` waits for the fetch in flight. */
  maxWaitTimeMs?: number | undefined;
  /** Create missing raw, valid and dead-letter topics (default true). */
  createTopics?: boolean | undefined;
  clientId?: string | undefined;
  /** Default `seg-ingest.<groupId>`. */
  transactionalIdPrefix?: string | undefined;
  /** The `stream` column of the progress rows (default: the group id). */
  stream?: string | undefined;
  /** Called after each committed batch. */
  onBatch?: ((summary: BatchSummary) => void) | undefined;
  /** Fault-injection points for tests (they crash the process there). */
  hooks?: IngestionHooks | undefined;
}

/** Where tests can crash an ingester. */
export interface IngestionHooks {
  /** A batch's events, offsets and progress are written, its transaction not yet committed: PostgreSQL is ahead of Kafka. */
  beforeCommit?: (batch: { topic: string; partition: number; lastOffset: string }) => void | Promise<void>;
  /** The transaction committed; kafkajs has not yet been told the batch is done. */
  afterCommit?: (batch: { topic: string; partition: number; lastOffset: string }) => void | Promise<void>;
}

/** A running ingestion. */
export interface Ingestion {
  readonly groupId: string;
  /** The raw topics read. */
  readonly topics: readonly string[];
  /** Stops consuming, finishing the batch in flight, and closes the Kafka clients (not `db`). */
  stop(): Promise<void>;
}

/** A batch failed (Kafka or PostgreSQL); its transaction was aborted and it will be read again. */
export class IngestBatchError extends Error {
  /** kafkajs retries retriable errors, then restarts the consumer. */
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = "IngestBatchError";
  }
}

/**
 * Largest produce request of one transaction's sends (kafkajs writes one record batch per
 * partition; it must stay under the valid topics' `max.message.bytes`).
 */
const SEND_CHUNK_BYTES = 768 * 1024;
/**
 * Most messages per produce request. Each request costs a round trip, and the next chunk is
 * classified while the broker handles one, so a batch goes out in a few large requests. (With
 * seg's kafkajs patch a send's cost is linear in its size; unpatched 2.2.4 grouped a send's
 * messages by partition in quadratic time.)
 */
const SEND_CHUNK_MESSAGES = 4_000;
/** Room for record overhead on the valid topics ingestion creates. */
const TOPIC_OVERHEAD_BYTES = 64 * 1024;
const TRANSACTION_TIMEOUT_MS = 60_000;
/** Default of {@link IngestionOptions.partitionsConsumedConcurrently}. */
const DEFAULT_PARTITIONS_AT_ONCE = 4;
/** Default of {@link IngestionOptions.maxBytesPerPartition}. */
const DEFAULT_MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;

interface PartitionState {
  topic: string;
  partition: number;
  producer: Producer | undefined;
  /** Offsets below this were committed by an earlier owner: skipped. */
  skipBelow: bigint;
  /** The offset stored in `stream_progress`, when loaded. */
  stored: bigint | undefined;
  /** Checked against the group's committed offset since the last (re)assignment. */
  checked: boolean;
  /** The batch in flight. */
  busy: Promise<void>;
}

const errorText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Starts ingesting; resolves once the consumer has been started. Throws on bad configuration. */
export async function startIngestion(options: IngestionOptions): Promise<Ingestion> {
  const log: IngestionLog = options.log ?? (() => {});
  const classifier = new EventClassifier(options.registry, { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
  const kafkajs = await import("kafkajs");
  const kafka = new kafkajs.Kafka({
    clientId: options.clientId ?? `seg-ingest-${options.groupId}`,
    brokers: [...options.brokers],
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: kafkajs.logLevel.WARN,
    // kafkajs logs each failed attempt at ERROR, retriable ones too (a coordinator still loading, a
    // transaction marker still being written): its lines are warnings. Ingestion logs what really
    // failed itself (a batch that will be read again, a consumer that crashed).
    logCreator: () => (entry) => {
      if (entry.level > kafkajs.logLevel.WARN) return;
      const { message, timestamp: _t, logger: _l, ...fields } = entry.log;
      // Finite retries are deliberate: a send that gives up aborts its whole transaction.
      if (message.startsWith("Limiting retries for the idempotent producer")) return;
      const detail = typeof fields["error"] === "string" ? `: ${fields["error"]}` : "";
      log("warn", `kafkajs ${entry.namespace}: ${message}${detail}`, fields);
    },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await resolveTopics(admin, classifier, options);
    if (options.createTopics ?? true) await ensureTopics(admin, topics, classifier.maxMessageBytes, options.deadLetterTopic, log);
    if (options.db) await migrate(options.db);
    const metrics = options.metrics ? await createIngestMetrics(options.metrics) : undefined;
    const ingester = new Ingester(kafka, admin, classifier, topics, options, log, metrics, kafkajs.Partitioners);
    await ingester.start();
    return ingester;
  } catch (e) {
    await admin.disconnect().catch(() => {});
    throw e;
  }
}

async function resolveTopics(admin: Admin, classifier: EventClassifier, options: IngestionOptions): Promise<string[]> {
  const own = [...classifier.routes.keys()];
  const outputs = new Set([options.deadLetterTopic, ...own.map(validTopic)]);
  const isOutput = (t: string) => outputs.has(t) || t.endsWith(".valid");
  for (const t of own) {
    if (isOutput(t)) throw new Error(`schema topic ${t} is also an output of ingestion (a valid topic or the dead-letter topic)`);
  }
  const topics = new Set(own);
  const patterns = (options.extraTopics ?? []).filter((t): t is RegExp => t instanceof RegExp);
  const existing = patterns.length > 0 ? await admin.listTopics() : [];
  for (const t of options.extraTopics ?? []) {
    if (typeof t === "string") {
      if (isOutput(t)) throw new Error(`extra topic ${t} is an output of ingestion (a valid topic or the dead-letter topic)`);
      topics.add(t);
    } else {
      for (const name of existing) if (t.test(name) && !isOutput(name) && !name.startsWith("__")) topics.add(name);
    }
  }
  if (topics.size === 0) throw new Error("nothing to ingest: the registry has no schemas and no extra topics were given");
  return [...topics].sort();
}

async function ensureTopics(admin: Admin, raw: readonly string[], maxMessageBytes: number, deadLetterTopic: string, log: IngestionLog): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missingRaw = raw.filter((t) => !existing.has(t));
  if (missingRaw.length > 0) {
    await admin.createTopics({ topics: missingRaw.map((topic) => ({ topic })), waitForLeaders: true });
    log("info", `created raw topics ${missingRaw.join(", ")}`);
  }
  const meta = await admin.fetchTopicMetadata({ topics: [...raw] });
  const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const maxBytes = String(maxMessageBytes + TOPIC_OVERHEAD_BYTES);
  const create = raw
    .map((t) => validTopic(t))
    .filter((t) => !existing.has(t))
    .map((topic) => ({ topic, numPartitions: partitions.get(topic.slice(0, -".valid".length)) ?? 1, configEntries: [{ name: "max.message.bytes", value: maxBytes }] }));
  const dlq = existing.has(deadLetterTopic) ? [] : [{ topic: deadLetterTopic }];
  if (create.length + dlq.length > 0) {
    await admin.createTopics({ topics: [...create, ...dlq], waitForLeaders: true });
    log("info", `created topics ${[...create, ...dlq].map((t) => t.topic).join(", ")}`);
  }
}

/** One output chunk of a transaction: messages by topic, up to about {@link SEND_CHUNK_BYTES}. */
interface Chunk {
  byTopic: Map<string, Message[]>;
  bytes: number;
  count: number;
}

class Ingester implements Ingestion {
  readonly groupId: string;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly progress: ProgressStore | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  private consumer: Consumer | undefined;
  private readonly partitioner: ICustomPartitioner;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly classifier: EventClassifier,
    readonly topics: readonly string[],
    private readonly options: IngestionOptions,
    private readonly log: IngestionLog,
    private readonly metrics: IngestMetrics | undefined,
    partitioners: { DefaultPartitioner: ICustomPartitioner },
  ) {
    this.partitioner = partitioners.DefaultPartitioner;
    this.groupId = options.groupId;
    this.stream = options.stream ?? options.groupId;
    this.prefix = options.transactionalIdPrefix ?? `seg-ingest.${options.groupId}`;
    this.progress = options.db ? new ProgressStore(options.db, this.stream) : undefined;
  }

  async start(): Promise<void> {
    const o = this.options;
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: o.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.max(500, Math.min(3_000, Math.floor((o.sessionTimeoutMs ?? 30_000) / 5))),
      maxBytesPerPartition: o.maxBytesPerPartition ?? DEFAULT_MAX_BYTES_PER_PARTITION,
      maxWaitTimeInMs: o.maxWaitTimeMs ?? 1_000,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberAssignment));
    consumer.on(consumer.events.CRASH, (e) => {
      this.log(e.payload.restart ? "warn" : "error", `consumer crashed: ${errorText(e.payload.error)}${e.payload.restart ? " (kafkajs restarts it)" : ""}`);
      // kafkajs gave up on this consumer: start a new one (it resumes from the committed offsets).
      if (!e.payload.restart && !this.stopping) this.scheduleRestart(consumer, 1_000);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topics], fromBeginning: o.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? DEFAULT_PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Replaces a dead consumer, retrying with a growing delay while the broker cannot be reached. */
  private scheduleRestart(dead: Consumer, delayMs: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      void dead
        .disconnect()
        .catch(() => {})
        .then(() => (this.stopping ? undefined : this.start()))
        .catch((err: unknown) => {
          this.log("error", `restarting the consumer failed: ${errorText(err)}; trying again in ${Math.round(delayMs / 1000)} s`);
          if (!this.stopping && this.consumer) this.scheduleRestart(this.consumer, Math.min(delayMs * 2, 30_000));
        });
    }, delayMs);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      await this.consumer?.disconnect().catch((e: unknown) => this.log("warn", `disconnecting the consumer: ${errorText(e)}`));
      await Promise.all([...this.partitions.values()].map((s) => this.closePartition(s)));
      this.partitions.clear();
      await this.admin.disconnect().catch(() => {});
    })();
    return this.stopping;
  }

  private key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  /** After a rebalance: close what was revoked, re-check what is kept. */
  private onAssignment(assignment: Record<string, number[]>): void {
    const kept = new Set<string>();
    for (const [topic, parts] of Object.entries(assignment)) for (const p of parts) kept.add(this.key(topic, p));
    this.log("info", `assigned ${Object.entries(assignment).map(([t, p]) => `${t}[${p.join(",")}]`).join(" ") || "nothing"}`);
    for (const [k, s] of this.partitions) {
      if (kept.has(k)) {
        s.checked = false;
        s.stored = undefined;
      } else {
        this.partitions.delete(k);
        void this.closePartition(s);
      }
    }
  }

  private async closePartition(s: PartitionState): Promise<void> {
    await s.busy.catch(() => {});
    const p = s.producer;
    s.producer = undefined;
    await p?.disconnect().catch(() => {});
  }

  private state(topic: string, partition: number): PartitionState {
    const k = this.key(topic, partition);
    let s = this.partitions.get(k);
    if (!s) {
      s = { topic, partition, producer: undefined, skipBelow: 0n, stored: undefined, checked: false, busy: Promise.resolve() };
      this.partitions.set(k, s);
    }
    return s;
  }

  /**
   * The partition's producer, opened (which fences any earlier producer of the partition and
   * finishes its transaction), then the group's committed offset read again.
   */
  private async ready(s: PartitionState): Promise<Producer> {
    if (!s.producer) {
      const producer = this.kafka.producer({
        transactionalId: `${this.prefix}.${s.topic}.${s.partition}`,
        // Java's murmur2 partitioning: an entity's events share a partition whatever client wrote them.
        createPartitioner: this.partitioner,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: TRANSACTION_TIMEOUT_MS,
        allowAutoTopicCreation: false,
        // Short first backoff: right after a commit the broker answers the next transaction's
        // AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until its markers are written (a few ms);
        // a 200 ms first retry cost every batch about 200 ms. About 25 s of retries in all.
        retry: { retries: 12, initialRetryTime: 20, maxRetryTime: 5_000 },
      });
      try {
        await producer.connect();
        const t = await producer.transaction();
        await t.abort();
      } catch (e) {
        await producer.disconnect().catch(() => {});
        throw e;
      }
      s.producer = producer;
      s.checked = false;
    }
    if (!s.checked) {
      const offsets = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [s.topic] });
      const committed = offsets.find((t) => t.topic === s.topic)?.partitions.find((p) => p.partition === s.partition)?.offset ?? "-1";
      s.skipBelow = BigInt(committed) > 0n ? BigInt(committed) : 0n;
      s.checked = true;
    }
    return s.producer;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale()) return;
    const s = this.state(batch.topic, batch.partition);
    let release!: () => void;
    const previous = s.busy;
    s.busy = new Promise<void>((r) => (release = r));
    try {
      await previous.catch(() => {});
      await this.processBatch(s, payload);
    } finally {
      release();
    }
  }

  private async processBatch(s: PartitionState, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const started = performance.now();
    const { topic, partition } = batch;
    let producer: Producer;
    try {
      producer = await this.ready(s);
    } catch (e) {
      throw this.batchError(batch, "opening the transactional producer", e);
    }
    const last = BigInt(batch.lastOffset());
    const lag = Math.max(0, Number(BigInt(batch.highWatermark) - (last + 1n)));
    const messages = s.skipBelow > 0n ? batch.messages.filter((m) => BigInt(m.offset) >= s.skipBelow) : batch.messages;
    if (messages.length === 0) {
      // Everything here was committed by an earlier owner.
      payload.resolveOffset(batch.lastOffset());
      return;
    }

    // A failed transaction leaves kafkajs's producer in an unknown state: the next batch opens a new one.
    const dropProducer = async () => {
      const p = s.producer;
      s.producer = undefined;
      await p?.disconnect().catch(() => {});
    };
    let txn: Transaction;
    try {
      txn = await producer.transaction();
    } catch (e) {
      await dropProducer();
      throw this.batchError(batch, "beginning a transaction", e);
    }

    // Classify and send in chunks: each full chunk is sent at once (one request at a time, in
    // order), and the next is classified while the broker handles it.
    let sending: Promise<void> = Promise.resolve();
    const send = (c: Chunk) => {
      const topicMessages = [...c.byTopic].map(([t, msgs]) => ({ topic: t, messages: msgs }));
      sending = sending.then(async () => void (await txn.sendBatch({ topicMessages })));
      sending.catch(() => {}); // awaited below; a failure skips the later sends
    };
    const counted: CountedMessage[] = new Array(messages.length);
    let chunk: Chunk = { byTopic: new Map(), bytes: 0, count: 0 };
    let valid = 0;
    const invalidByReason: Partial<Record<DeadLetterReason, number>> = {};
    let step = "writing the events";
    try {
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const c = this.classifier.classify({ topic, partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp });
        let outTopic: string;
        let out: Message;
        let bytes: number;
        if (c.kind === "valid") {
          valid++;
          outTopic = c.topic;
          out = { key: c.key, value: m.value, timestamp: c.timestamp };
          if (hasHeaders(m.headers)) out.headers = m.headers;
          bytes = (m.value?.length ?? 0) + c.key.length + 64;
          counted[i] = { offset: BigInt(m.offset), valid: true, eventTimeMs: c.eventTimeMs };
        } else {
          invalidByReason[c.letter.reason] = (invalidByReason[c.letter.reason] ?? 0) + 1;
          const value = JSON.stringify(c.letter);
          outTopic = this.options.deadLetterTopic;
          out = { key: m.key, value, timestamp: m.timestamp };
          bytes = value.length + 64;
          counted[i] = { offset: BigInt(m.offset), valid: false };
        }
        if (chunk.count > 0 && (chunk.bytes + bytes > SEND_CHUNK_BYTES || chunk.count >= SEND_CHUNK_MESSAGES)) {
          send(chunk);
          chunk = { byTopic: new Map(), bytes: 0, count: 0 };
          // Let kafkajs encode and write the request before classifying on.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const list = chunk.byTopic.get(outTopic);
        if (list) list.push(out);
        else chunk.byTopic.set(outTopic, [out]);
        chunk.count++;
        chunk.bytes += bytes;
      }
      if (chunk.count > 0) send(chunk);
      await sending;
      step = "adding the offsets to the transaction";
      await txn.sendOffsets({ consumerGroupId: this.groupId, topics: [{ topic, partitions: [{ partition, offset: (last + 1n).toString() }] }] });
      step = "recording progress";
      await this.recordProgress(s, counted, last, lag);
      await this.options.hooks?.beforeCommit?.({ topic, partition, lastOffset: batch.lastOffset() });
      step = "committing the transaction";
      await txn.commit();
      await this.options.hooks?.afterCommit?.({ topic, partition, lastOffset: batch.lastOffset() });
    } catch (e) {
      await sending.catch(() => {});
      await txn.abort().catch(() => {});
      await dropProducer();
      throw this.batchError(batch, step, e);
    }
    payload.resolveOffset(batch.lastOffset());

    const invalid = messages.length - valid;
    const durationMs = performance.now() - started;
    if (this.metrics) {
      const m = this.metrics;
      m.received.inc({ topic }, messages.length);
      if (valid > 0) m.valid.inc({ topic }, valid);
      for (const [reason, n] of Object.entries(invalidByReason)) m.invalid.inc({ topic, reason }, n);
      m.batchDuration.observe({ topic }, durationMs / 1000);
      m.lag.set({ topic, partition: String(partition) }, lag);
    }
    this.options.onBatch?.({
      topic,
      partition,
      firstOffset: messages[0]!.offset,
      lastOffset: batch.lastOffset(),
      received: messages.length,
      valid,
      invalid,
      invalidByReason,
      lag,
      durationMs,
    });
    await payload.heartbeat();
  }

  /** Adds the batch's not-yet-counted events to the partition's row (compare-and-set on its offset). */
  private async recordProgress(s: PartitionState, counted: readonly CountedMessage[], last: bigint, lag: number): Promise<void> {
    const store = this.progress;
    if (!store) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      s.stored ??= await store.storedOffset(s.topic, s.partition);
      if (last <= s.stored) {
        await store.setLag(s.topic, s.partition, lag);
        return;
      }
      const counts = countBeyond(counted, s.stored);
      if (await store.advance(s.topic, s.partition, s.stored, { offset: last, lag, ...counts })) {
        s.stored = last;
        return;
      }
      this.log("warn", `progress of ${s.topic}[${s.partition}] moved under us (another ingester?); reloading it`);
      s.stored = undefined;
    }
    throw new Error(`progress of ${s.topic}[${s.partition}] keeps changing under us`);
  }

  private batchError(batch: Batch, step: string, e: unknown): IngestBatchError {
    const message = `batch ${batch.topic}[${batch.partition}] offsets ${batch.firstOffset()}..${batch.lastOffset()}: ${step} failed: ${errorText(e)}; it will be read again`;
    this.log("warn", message);
    return new IngestBatchError(message);
  }
}

function hasHeaders(h: IHeaders | undefined): h is IHeaders {
  if (!h) return false;
  for (const _ in h) return true;
  return false;
}
