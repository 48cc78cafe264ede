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
 *
 * Batches are processed in the background (see `onBatch`): kafkajs fetches the next batch while
 * one is validated and written, and a partition's next batch is classified while the one before
 * it commits. A partition's transactions still run one after the other, each opened only after
 * the previous one committed; a failed batch sends the consumer back to it.
 */
import { performance } from "node:perf_hooks";
import type { Admin, Batch, Consumer, EachBatchPayload, ICustomPartitioner, IHeaders, Kafka, KafkaMessage, Message, Producer, Transaction } from "kafkajs";
import { migrate } from "../db/migrations.js";
import { DEFAULT_MAX_MESSAGE_BYTES, EventClassifier, type DeadLetterReason, type Forward } from "./classify.js";
import { DeadLetterWriter } from "./dead-letter-bytes.js";
import { createIngestMetrics, type IngestMetrics } from "./metrics.js";
import { IngestBatchError, type Ingestion, type IngestionLog, type IngestionOptions } from "./options.js";
import { ensureTopics, resolveTopics } from "./topics.js";
import { BatchTally, ProgressStore } from "./progress.js";
import { recordView } from "../kafka/record-view.js";

export { IngestBatchError } from "./options.js";
export type { BatchSummary, Ingestion, IngestionHooks, IngestionLog, IngestionOptions } from "./options.js";

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
const TRANSACTION_TIMEOUT_MS = 60_000;
/** Longest pause between tries to replace a consumer kafkajs gave up on. */
const RESTART_MAX_DELAY_MS = 10_000;
/**
 * Batches of a partition taken from kafkajs while an earlier one has not committed yet: each is
 * classified, and waits with its outputs for the transactions before it.
 */
const BATCHES_AHEAD = 1;
/** How often a batch waiting for its partition's earlier transaction heartbeats. */
const HEARTBEAT_WHILE_WAITING_MS = 1_000;
/** Default of {@link IngestionOptions.partitionsConsumedConcurrently}. */
const DEFAULT_PARTITIONS_AT_ONCE = 4;
/** Default of {@link IngestionOptions.maxBytesPerPartition}. */
const DEFAULT_MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;

interface PartitionState {
  topic: string;
  partition: number;
  producer: Producer | undefined;
  /** The producer being opened, when it is. */
  opening: Promise<Producer> | undefined;
  /** Offsets below this were committed by an earlier owner: skipped. */
  skipBelow: bigint;
  /** The offset stored in `stream_progress`, when loaded. */
  stored: bigint | undefined;
  /** Checked against the group's committed offset since the last (re)assignment. */
  checked: boolean;
  /** Settles when the partition's last batch is done: true when it committed (never rejects). */
  busy: Promise<boolean>;
  /** Settles when the partition's last batch is classified (never rejects). */
  classifying: Promise<void>;
  /** `busy` of the partition's last batches, oldest first, at most {@link BATCHES_AHEAD} + 1 (never reject). */
  recent: Promise<boolean>[];
  /** A batch ending at this offset failed: later batches are dropped until it is read again. */
  rewindAfter: bigint | undefined;
  /** Batches that failed in a row. */
  failures: number;
}

/**
 * What the ingester keeps of a kafkajs batch once it is handed over: not the batch itself, whose
 * decoded messages can then be collected as soon as they are classified (while the batch's
 * transaction completes and the next batch is fetched).
 */
interface BatchInfo {
  topic: string;
  partition: number;
  /** First and last offsets of the batch as fetched (null when it had no messages). */
  firstOffset: string | null;
  lastOffset: string;
  highWatermark: string;
}

function batchInfo(batch: Batch): BatchInfo {
  return { topic: batch.topic, partition: batch.partition, firstOffset: batch.firstOffset(), lastOffset: batch.lastOffset(), highWatermark: batch.highWatermark };
}

/** Thrown inside a batch whose partition's earlier batch failed: it is dropped, not written. */
const DROPPED = Symbol("dropped");

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

/** One output chunk of a transaction: messages by topic, up to about {@link SEND_CHUNK_BYTES}. */
interface Chunk {
  byTopic: Map<string, Message[]>;
  bytes: number;
  count: number;
  /** The topic of the last message added and its list (consecutive messages usually share it). */
  topic?: string;
  list?: Message[];
}

/** The ingester behind {@link startIngestion} (exported for tests that drive it with a Kafka double). */
export class Ingester implements Ingestion {
  readonly groupId: string;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly progress: ProgressStore | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  private consumer: Consumer | undefined;
  private readonly partitioner: ICustomPartitioner;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly deadLetters = new DeadLetterWriter();
  /** Where the valid event being classified goes (see `processBatch`: used with no `await` between filling and reading it). */
  private readonly forward: Forward = { schema: undefined as unknown as Forward["schema"], topic: "", key: "", timestamp: "", eventTimeMs: undefined };

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
      // Values read where they lie and forwarded from there (see kafka/record-view.ts).
      recordViews: true,
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
          // Capped low: a restarted broker is usually back within seconds, and each try is cheap.
          const next = Math.min(delayMs * 2, RESTART_MAX_DELAY_MS);
          this.log("error", `restarting the consumer failed: ${errorText(err)}; trying again in ${Math.round(next / 1000)} s`);
          if (!this.stopping && this.consumer) this.scheduleRestart(this.consumer, next);
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
    this.options.onAssignment?.(assignment);
    // A newly assigned partition's producer is opened at once, while kafkajs fetches its first
    // batch (its committed offset is read when that batch comes). Kept partitions keep theirs.
    for (const [topic, parts] of Object.entries(assignment)) {
      for (const p of parts) {
        if (!this.partitions.has(this.key(topic, p)) && this.topics.includes(topic)) {
          const s = this.state(topic, p);
          this.openProducer(s).catch((e: unknown) => this.log("warn", `opening the producer of ${topic}[${p}]: ${errorText(e)}; the first batch tries again`));
        }
      }
    }
    for (const [k, s] of this.partitions) {
      if (kept.has(k)) {
        s.checked = false;
        s.stored = undefined;
        // A rejoined consumer reads from the committed offsets again: its batches start a new
        // chain. A batch that failed before the rejoin is read again, not a reason to drop them
        // (which, with the failed batch's seek lost, would drop every batch of the partition).
        s.rewindAfter = undefined;
        s.busy = s.busy.then(() => true);
      } else {
        this.partitions.delete(k);
        void this.closePartition(s);
      }
    }
  }

  private async closePartition(s: PartitionState): Promise<void> {
    await s.busy;
    await s.opening?.catch(() => {});
    const p = s.producer;
    s.producer = undefined;
    await p?.disconnect().catch(() => {});
  }

  private state(topic: string, partition: number): PartitionState {
    const k = this.key(topic, partition);
    let s = this.partitions.get(k);
    if (!s) {
      s = { topic, partition, producer: undefined, opening: undefined, skipBelow: 0n, stored: undefined, checked: false, busy: Promise.resolve(true), classifying: Promise.resolve(), recent: [], rewindAfter: undefined, failures: 0 };
      this.partitions.set(k, s);
    }
    return s;
  }

  /**
   * The partition's producer, opened (which fences any earlier producer of the partition and
   * finishes its transaction), then the group's committed offset read again.
   */
  private async ready(s: PartitionState): Promise<Producer> {
    if (!s.producer) await this.openProducer(s);
    if (!s.checked) {
      const offsets = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [s.topic] });
      const committed = offsets.find((t) => t.topic === s.topic)?.partitions.find((p) => p.partition === s.partition)?.offset ?? "-1";
      s.skipBelow = BigInt(committed) > 0n ? BigInt(committed) : 0n;
      s.checked = true;
    }
    return s.producer!;
  }

  /** Opens the partition's transactional producer (one at a time: callers share it). */
  private openProducer(s: PartitionState): Promise<Producer> {
    s.opening ??= this.newProducer(s).finally(() => (s.opening = undefined));
    return s.opening;
  }

  private async newProducer(s: PartitionState): Promise<Producer> {
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
    return producer;
  }

  /**
   * kafkajs fetches again only when every batch of a fetch has been handed back, so a batch is
   * processed in the background: its offset is resolved at once, and kafkajs fetches and decodes
   * the next batch while this one is validated, written and committed. A partition's next batch
   * is classified as soon as this one is (while this one's writes, offsets and commit complete),
   * and opens its transaction only after this one committed. When a batch fails, the consumer is
   * sent back to its first offset (`seek`), and the partition's batches after it are dropped
   * unwritten.
   */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale()) return;
    const s = this.state(batch.topic, batch.partition);
    // At most one batch of a partition classifying, and one finishing its transaction: kafkajs
    // fetches the partition again only when this batch is taken. Without that bound, fetching and
    // classifying ran seconds ahead of the transactions, and the batches waiting for theirs
    // (their outputs, and their decoded messages until classified) filled the heap: every young
    // generation collection copied them.
    let classified!: () => void;
    const before = s.classifying;
    s.classifying = new Promise<void>((r) => (classified = r));
    await before;
    if (s.recent.length > BATCHES_AHEAD) await this.settled(s.recent[0]!, payload);
    const info = batchInfo(batch);
    const after = this.afterFailure(s, info);
    if (!payload.isRunning() || payload.isStale() || after === "drop") {
      classified();
      return;
    }
    payload.resolveOffset(info.lastOffset);
    // The failed batch read again starts a new chain: the batches dropped before it do not count.
    const previous = after === "again" ? s.busy.then(() => true) : s.busy;
    let done!: (committed: boolean) => void;
    s.busy = new Promise<boolean>((r) => (done = r));
    s.recent.push(s.busy);
    if (s.recent.length > BATCHES_AHEAD + 1) s.recent.shift();
    void this.processBatch(s, info, batch.messages, previous, classified).then(
      (committed) => {
        if (committed) s.failures = 0;
        done(committed);
      },
      (e: unknown) => void this.rewind(s, info, e).finally(() => done(false)),
    );
    await payload.heartbeat();
  }

  /** Waits for `done`, heartbeating meanwhile (a transaction can take seconds of retries). */
  private async settled(done: Promise<unknown>, payload: EachBatchPayload): Promise<void> {
    let finished = false;
    void done.then(() => (finished = true));
    await Promise.resolve();
    while (!finished) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, HEARTBEAT_WHILE_WAITING_MS)))]);
      clearTimeout(timer);
      if (!finished && payload.isRunning() && !payload.isStale()) await payload.heartbeat();
    }
  }

  /**
   * After a failed batch: "drop" for the batches after it (fetched before the consumer went back),
   * "again" for the failed batch read again; otherwise "none".
   */
  private afterFailure(s: PartitionState, batch: BatchInfo): "none" | "drop" | "again" {
    if (s.rewindAfter === undefined) return "none";
    const first = batch.firstOffset;
    if (first === null || BigInt(first) > s.rewindAfter) return "drop";
    s.rewindAfter = undefined;
    return "again";
  }

  /** A batch failed (its transaction aborted): read it again, after a pause growing with failures in a row. */
  private async rewind(s: PartitionState, batch: BatchInfo, e: unknown): Promise<void> {
    if (!(e instanceof IngestBatchError)) this.batchError(batch, "processing", e);
    s.rewindAfter = BigInt(batch.lastOffset);
    s.failures++;
    // Wherever it failed (even after its commit), the batch is read again against the committed
    // offset and the stored progress: what was committed is skipped, nothing is counted twice.
    s.checked = false;
    s.stored = undefined;
    const first = batch.firstOffset;
    try {
      if (first !== null && this.partitions.get(this.key(s.topic, s.partition)) === s) this.consumer?.seek({ topic: s.topic, partition: s.partition, offset: first });
    } catch (err) {
      // Not running (stopping, restarting): the next owner reads from the committed offset.
      this.log("warn", `going back to ${s.topic}[${s.partition}] offset ${first}: ${errorText(err)}`);
    }
    if (!this.stopping) await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(s.failures, 6))));
  }

  /**
   * Classifies `batch` and writes it in one transaction, opened once `previous` (the partition's
   * batch before it) committed. True when committed (or nothing to write); false when dropped
   * because an earlier batch failed; throws when this batch failed.
   */
  private async processBatch(s: PartitionState, batch: BatchInfo, fetched: KafkaMessage[], previous: Promise<boolean>, classified: () => void): Promise<boolean> {
    const started = performance.now();
    const { topic, partition } = batch;
    const last = BigInt(batch.lastOffset);
    const lag = Math.max(0, Number(BigInt(batch.highWatermark) - (last + 1n)));
    let txn: Transaction | undefined;
    let sending: Promise<unknown> = Promise.resolve();
    let step = "opening the transactional producer";
    // A failed transaction leaves kafkajs's producer in an unknown state: the next batch opens a new one.
    const dropProducer = async () => {
      const p = s.producer;
      s.producer = undefined;
      await p?.disconnect().catch(() => {});
    };
    try {
      // Steady state: classify at once, while the previous batch completes. The first batch after
      // an assignment or a failure first reads the committed offset, below which events are skipped.
      const steady = s.checked && s.producer !== undefined;
      if (!steady) {
        if (!(await previous)) return false;
        await this.ready(s);
      }
      const skipBelow = s.skipBelow;
      // Only referenced until classified (see BatchInfo).
      let messages: KafkaMessage[] | undefined = skipBelow > 0n ? fetched.filter((m) => BigInt(m.offset) >= skipBelow) : fetched;
      fetched = [];
      // Empty: everything here was committed by an earlier owner.
      if (messages.length === 0) return steady ? await previous : true;
      const received = messages.length;
      const firstOffset = messages[0]!.offset;
      const opened = (async () => {
        if (steady && !(await previous)) throw DROPPED;
        const producer = await this.ready(s);
        // Re-checked after a rebalance: another ingester committed some of these events meanwhile.
        if (s.skipBelow !== skipBelow) throw new Error(`the committed offset moved to ${s.skipBelow} while the batch was classified`);
        step = "beginning a transaction";
        txn = await producer.transaction();
        step = "writing the events";
        return txn;
      })();
      sending = opened;
      sending.catch(() => {}); // awaited below

      // Classify and send in chunks: each full chunk is sent at once (one request at a time, in
      // order, once the transaction is open), and the next is classified while the broker handles it.
      const send = (c: Chunk) => {
        const topicMessages = [...c.byTopic].map(([t, msgs]) => ({ topic: t, messages: msgs }));
        sending = sending.then(async () => void (await txn!.sendBatch({ topicMessages })));
        sending.catch(() => {});
      };
      const tally = new BatchTally(messages);
      let chunk: Chunk = { byTopic: new Map(), bytes: 0, count: 0 };
      let valid = 0;
      const invalidByReason: Partial<Record<DeadLetterReason, number>> = {};
      const deadLetterTopic = this.options.deadLetterTopic;
      const classifier = this.classifier;
      const fwd = this.forward;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const c = classifier.classifyInto(topic, partition, m, fwd);
        let outTopic: string;
        let out: Message;
        let bytes: number;
        if (c === undefined) {
          valid++;
          outTopic = fwd.topic;
          // The raw bytes, unchanged (no re-serialisation), with the entity id as key and the event
          // time as timestamp (a number: seg's kafkajs patch writes it without parsing text). A
          // record view is forwarded as it is (seg's kafkajs patch copies its value bytes into the
          // request; a view has no headers), a plain message's value as its Buffer.
          const view = recordView(m);
          out = { key: fwd.key, value: view !== undefined ? (view as unknown as Buffer) : m.value, timestamp: fwd.timestamp as string };
          if (view === undefined && hasHeaders(m.headers)) out.headers = m.headers;
          bytes = (view !== undefined ? Math.max(0, view.valueLength) : (m.value?.length ?? 0)) + fwd.key.length + 64;
          tally.valid(i, fwd.eventTimeMs);
        } else {
          invalidByReason[c.letter.reason] = (invalidByReason[c.letter.reason] ?? 0) + 1;
          // As UTF-8 bytes at once (what kafkajs would write for the JSON text), outside the
          // JavaScript heap while they wait for the request.
          const value = this.deadLetters.bytes(c.letter, m.value);
          outTopic = deadLetterTopic;
          out = { key: m.key, value, timestamp: m.timestamp };
          bytes = value.length + 64;
        }
        if (chunk.count > 0 && (chunk.bytes + bytes > SEND_CHUNK_BYTES || chunk.count >= SEND_CHUNK_MESSAGES)) {
          send(chunk);
          chunk = { byTopic: new Map(), bytes: 0, count: 0 };
          // Let kafkajs encode and write the request before classifying on.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        let list = chunk.topic === outTopic ? chunk.list : chunk.byTopic.get(outTopic);
        if (list === undefined) {
          list = [];
          chunk.byTopic.set(outTopic, list);
        }
        chunk.topic = outTopic;
        chunk.list = list;
        list.push(out);
        chunk.count++;
        chunk.bytes += bytes;
      }
      if (chunk.count > 0) send(chunk);
      messages = undefined;
      chunk = { byTopic: new Map(), bytes: 0, count: 0 };
      classified();
      await sending;
      step = "adding the offsets to the transaction";
      await txn!.sendOffsets({ consumerGroupId: this.groupId, topics: [{ topic, partitions: [{ partition, offset: (last + 1n).toString() }] }] });
      step = "recording progress";
      await this.recordProgress(s, tally, last, lag);
      await this.options.hooks?.beforeCommit?.({ topic, partition, lastOffset: batch.lastOffset });
      step = "committing the transaction";
      await txn!.commit();
      await this.options.hooks?.afterCommit?.({ topic, partition, lastOffset: batch.lastOffset });
      this.committed(batch, firstOffset, received, valid, invalidByReason, lag, started);
      return true;
    } catch (e) {
      await sending.catch(() => {});
      if (e === DROPPED) return false;
      const open = txn as Transaction | undefined;
      if (open) await open.abort().catch(() => {});
      await dropProducer();
      throw this.batchError(batch, step, e);
    } finally {
      classified();
    }
  }

  /** Metrics and `onBatch` of a committed batch. */
  private committed(batch: BatchInfo, firstOffset: string, received: number, valid: number, invalidByReason: Partial<Record<DeadLetterReason, number>>, lag: number, started: number): void {
    const { topic, partition } = batch;
    const invalid = received - valid;
    const durationMs = performance.now() - started;
    if (this.metrics) {
      const m = this.metrics;
      m.received.inc({ topic }, received);
      if (valid > 0) m.valid.inc({ topic }, valid);
      for (const [reason, n] of Object.entries(invalidByReason)) m.invalid.inc({ topic, reason }, n);
      m.batchDuration.observe({ topic }, durationMs / 1000);
      m.lag.set({ topic, partition: String(partition) }, lag);
    }
    this.options.onBatch?.({
      topic,
      partition,
      firstOffset,
      lastOffset: batch.lastOffset,
      received,
      valid,
      invalid,
      invalidByReason,
      lag,
      durationMs,
    });
  }

  /** Adds the batch's not-yet-counted events to the partition's row (compare-and-set on its offset). */
  private async recordProgress(s: PartitionState, tally: BatchTally, last: bigint, lag: number): Promise<void> {
    const store = this.progress;
    if (!store) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      s.stored ??= await store.storedOffset(s.topic, s.partition);
      if (last <= s.stored) {
        await store.setLag(s.topic, s.partition, lag);
        return;
      }
      const counts = tally.beyond(s.stored);
      if (await store.advance(s.topic, s.partition, s.stored, { offset: last, lag, ...counts })) {
        s.stored = last;
        return;
      }
      this.log("warn", `progress of ${s.topic}[${s.partition}] moved under us (another ingester?); reloading it`);
      s.stored = undefined;
    }
    throw new Error(`progress of ${s.topic}[${s.partition}] keeps changing under us`);
  }

  private batchError(batch: BatchInfo, step: string, e: unknown): IngestBatchError {
    const message = `batch ${batch.topic}[${batch.partition}] offsets ${batch.firstOffset}..${batch.lastOffset}: ${step} failed: ${errorText(e)}; it will be read again`;
    this.log("warn", message);
    return new IngestBatchError(message);
  }
}

function hasHeaders(h: IHeaders | undefined): h is IHeaders {
  if (!h) return false;
  for (const _ in h) return true;
  return false;
}
