/**
 * Ingestion benchmark: validation throughput (events/s) of `startIngestion` against a bare kafkajs
 * consumer that reads and discards the same messages, in the same run, on a loopback broker.
 * Ingestion does everything it does in production: JSON parse, ajv validation, a Kafka transaction
 * per batch (valid events and dead letters written, offsets committed with `sendOffsets`) and the
 * progress row in PostgreSQL.
 *
 *   pnpm bench ingest            (builds first; starts Kafka with infra/kafka/start.sh if needed)
 *   node bench/run.js ingest     (after `pnpm build && tsc -p bench`)
 *
 * Environment: SEG_BENCH_EVENTS (default 100000), SEG_BENCH_RUNS (pairs of runs, default 3),
 * SEG_KAFKA_BROKERS (default 127.0.0.1:9092), SEG_DATABASE_URL (default postgres://127.0.0.1:5432/test;
 * without a database the progress rows are left out and the table says so).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type * as Compiler from "../packages/compiler/dist/index.js";
import type * as Runtime from "../packages/runtime/dist/index.js";
import type { Benchmark, BenchContext, BenchResult } from "./types.js";

const TARGET_RATIO = 0.5;
/** No single run may take longer than this. */
const RUN_TIMEOUT_MS = 120_000;

type Kafka = Awaited<ReturnType<typeof Runtime.createKafka>>;

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : Number(v);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function portOpen(address: string): Promise<boolean> {
  const i = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

async function ensureKafka(brokers: string[], ctx: BenchContext): Promise<void> {
  if (await portOpen(brokers[0]!)) return;
  ctx.log("no broker answers; starting one with infra/kafka/start.sh");
  const script = fileURLToPath(new URL("../../infra/kafka/start.sh", import.meta.url));
  await new Promise<void>((resolve, reject) =>
    execFile("bash", [script], { timeout: 240_000 }, (err, _out, stderr) => (err ? reject(new Error(`infra/kafka/start.sh failed: ${stderr}`)) : resolve())),
  );
}

/** The example purchase event, number `i`; `kind` picks valid, a schema violation or broken JSON. */
function purchase(i: number): string {
  const e = {
    event_id: `p-${i}`,
    customer_id: `c${String(i % 1000).padStart(3, "0")}`,
    ts: `2026-10-${String(1 + (i % 28)).padStart(2, "0")}T${String(i % 24).padStart(2, "0")}:15:00Z`,
    amount: Math.round((i % 500) * 137) / 100,
    currency: ["USD", "EUR", "GBP"][i % 3],
    category: "books",
    sku: `BK-${i % 97}`,
    quantity: 1 + (i % 3),
    coupon: i % 5 === 0 ? "FALL10" : null,
    channel: "web",
  };
  if (i % 20 === 7) return JSON.stringify({ ...e, currency: "XYZ" }); // 5% enum violations
  if (i % 20 === 13) return JSON.stringify(e).slice(0, 60); // 5% malformed
  return JSON.stringify(e);
}

interface RunResult {
  /** Events per second between the start of the first batch and the end of the last. */
  eps: number;
  /** Including joining the group (and, for ingestion, opening the transactional producers). */
  wallMs: number;
  batches: number;
}

/** A bare kafkajs consumer that reads and discards every message. */
async function bareRun(kafka: Kafka, topic: string, total: number): Promise<RunResult> {
  const consumer = kafka.consumer({ groupId: `seg-bench-bare-${randomBytes(4).toString("hex")}`, maxBytesPerPartition: 1024 * 1024, maxWaitTimeInMs: 1_000 });
  const started = performance.now();
  let first = 0;
  let last = 0;
  let seen = 0;
  let bytes = 0;
  let batches = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bare consumer: ${seen} of ${total} after ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
      void consumer
        .run({
          eachBatch: async ({ batch }) => {
            if (first === 0) first = performance.now();
            for (const m of batch.messages) bytes += m.value?.length ?? 0;
            seen += batch.messages.length;
            batches++;
            last = performance.now();
            if (seen >= total) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  if (bytes === 0) throw new Error("read nothing");
  return { eps: total / ((last - first) / 1000), wallMs: last - started, batches };
}

/**
 * The ceiling: a kafkajs transactional producer alone writing the same values, in transactions of
 * about one ingestion batch, in requests of ingestion's size (1,000; no consuming, no validation).
 */
async function producerRun(kafka: Kafka, topic: string, values: readonly Buffer[], keys: readonly string[]): Promise<RunResult> {
  const producer = kafka.producer({ transactionalId: `${topic}-${randomBytes(4).toString("hex")}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = performance.now();
  let batches = 0;
  try {
    const perTxn = 6_000;
    const perSend = 1_000;
    for (let i = 0; i < values.length; i += perTxn) {
      const txn = await producer.transaction();
      for (let j = i; j < Math.min(values.length, i + perTxn); j += perSend) {
        const messages = [];
        for (let k = j; k < Math.min(values.length, i + perTxn, j + perSend); k++) messages.push({ key: keys[k]!, value: values[k]! });
        await txn.sendBatch({ topicMessages: [{ topic, messages }] });
      }
      await txn.commit();
      batches++;
    }
  } finally {
    await producer.disconnect();
  }
  const ms = performance.now() - started;
  return { eps: values.length / (ms / 1000), wallMs: ms, batches };
}

/** Full ingestion until every event is committed. */
async function ingestRun(
  runtime: typeof Runtime,
  options: Omit<Runtime.IngestionOptions, "groupId" | "onBatch">,
  total: number,
): Promise<RunResult & { valid: number; invalid: number; batchMs: number[] }> {
  const started = performance.now();
  let first = 0;
  let last = 0;
  let seen = 0;
  let valid = 0;
  let invalid = 0;
  const batchMs: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const ingestion = await runtime.startIngestion({
    ...options,
    groupId: `seg-bench-ingest-${randomBytes(4).toString("hex")}`,
    onBatch: (b) => {
      const now = performance.now();
      if (first === 0) first = now - b.durationMs;
      last = now;
      seen += b.received;
      valid += b.valid;
      invalid += b.invalid;
      batchMs.push(b.durationMs);
      if (seen >= total) done();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      finished,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`ingestion: ${seen} of ${total} after ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await ingestion.stop();
  }
  return { eps: total / ((last - first) / 1000), wallMs: last - started, batches: batchMs.length, valid, invalid, batchMs };
}

const bench: Benchmark = {
  name: "ingest",
  description: "ingestion validation throughput vs a bare kafkajs consumer on the same messages",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const total = envNumber("SEG_BENCH_EVENTS", 100_000);
    const pairs = Math.max(1, envNumber("SEG_BENCH_RUNS", 3));
    const runtime = (await import(new URL("../../packages/runtime/dist/index.js", import.meta.url).href)) as typeof Runtime;
    const compiler = (await import(new URL("../../packages/compiler/dist/index.js", import.meta.url).href)) as typeof Compiler;
    const brokers = runtime.kafkaBrokersFromEnv(process.env);
    await ensureKafka(brokers, ctx);

    const id = randomBytes(4).toString("hex");
    const prefix = `seg-bench-ingest-${id}`;
    const raw = `${prefix}.purchase`;
    const dlq = `${prefix}.dead-letter`;
    const schemasDir = fileURLToPath(new URL("../../examples/schemas/", import.meta.url));
    const sources = readdirSync(schemasDir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => {
        const schema = JSON.parse(readFileSync(`${schemasDir}${f}`, "utf8")) as { "x-seg": { name: string; topic?: string } };
        schema["x-seg"].topic = `${prefix}.${schema["x-seg"].name}`;
        return { file: f, text: JSON.stringify(schema) };
      });
    const { registry } = compiler.buildSchemaRegistry(sources);

    let db: Runtime.SegDb | undefined;
    const schema = `seg_bench_${id}`;
    try {
      db = await runtime.openDatabase({ url: process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test", schema, applicationName: "seg-bench-ingest" });
    } catch (e) {
      ctx.log(`no database (${(e as Error).message}); progress rows are left out`);
    }

    const kafka = await runtime.createKafka({ brokers, clientId: "seg-bench-ingest" });
    const admin = kafka.admin();
    await admin.connect();
    const bare: RunResult[] = [];
    const ceiling: RunResult[] = [];
    const values: Buffer[] = [];
    const keys: string[] = [];
    const ingest: Awaited<ReturnType<typeof ingestRun>>[] = [];
    let valueBytes = 0;
    try {
      await admin.createTopics({ topics: [{ topic: raw, numPartitions: 2 }, { topic: `${prefix}.scratch`, numPartitions: 2 }], waitForLeaders: true });
      ctx.log(`producing ${fmt(total)} events to ${raw} (2 partitions)...`);
      const producer = kafka.producer();
      await producer.connect();
      for (let i = 0; i < total; i += 2_000) {
        const messages = [];
        for (let j = i; j < Math.min(total, i + 2_000); j++) {
          const value = purchase(j);
          valueBytes += value.length;
          values.push(Buffer.from(value));
          keys.push(`c${String(j % 1000).padStart(3, "0")}`);
          messages.push({ key: keys[j]!, value });
        }
        await producer.send({ topic: raw, messages, acks: -1 });
      }
      await producer.disconnect();

      const options = { brokers, registry, deadLetterTopic: dlq, db, log: (level: string, message: string) => level === "error" && ctx.log(message) };
      // Warm-up: JIT, topic creation, the transaction coordinator.
      ctx.log("warm-up...");
      await bareRun(kafka, raw, total);
      await ingestRun(runtime, options, total);
      for (let r = 0; r < pairs; r++) {
        const b = await bareRun(kafka, raw, total);
        bare.push(b);
        const g = await ingestRun(runtime, options, total);
        ingest.push(g);
        const p = await producerRun(kafka, `${prefix}.scratch`, values, keys);
        ceiling.push(p);
        ctx.log(`run ${r + 1}: bare ${fmt(b.eps)} events/s, ingestion ${fmt(g.eps)} events/s (${fmt(g.eps / b.eps, 2)}); producer alone ${fmt(p.eps)} events/s`);
      }
    } finally {
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => {});
      await admin.disconnect();
      if (db) {
        await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
        await db.close();
      }
    }

    const bareMed = median(bare.map((r) => r.eps));
    const ingestMed = median(ingest.map((r) => r.eps));
    const ratio = ingestMed / bareMed;
    const ok = ratio >= TARGET_RATIO;
    const lastIngest = ingest[ingest.length - 1]!;
    const batchP50 = median(ingest.flatMap((r) => r.batchMs));
    const ceilingMed = median(ceiling.map((r) => r.eps));
    const rows = bare.map((b, i) => {
      const g = ingest[i]!;
      return `| ${i + 1} | ${fmt(b.eps)} | ${fmt(b.wallMs)} | ${fmt(g.eps)} | ${fmt(g.wallMs)} | ${g.batches} | **${fmt(g.eps / b.eps, 2)}** | ${fmt(ceiling[i]!.eps)} |`;
    });
    const markdown = [
      "# Ingestion benchmark",
      "",
      "| | |",
      "|---|---|",
      `| Date | ${ctx.date} |`,
      `| Node | ${process.version} (${process.platform}/${process.arch}) |`,
      `| CPU | ${ctx.cpu} |`,
      `| Pinned | ${ctx.pinned} (the benchmark process; the broker and PostgreSQL run unpinned on the same machine) |`,
      `| Broker | ${brokers.join(",")} (loopback), one raw topic with 2 partitions |`,
      `| Events | ${fmt(total)} purchase events, ${fmt(valueBytes / total)} bytes on average; ${fmt(lastIngest.valid)} valid, ${fmt(lastIngest.invalid)} invalid (5% enum violations, 5% malformed JSON) |`,
      `| Ingestion | defaults: 1 partition at a time, 1 MiB per partition and batch, one Kafka transaction per batch (events + dead letters + offsets), progress in PostgreSQL: ${db ? "yes" : "**no database**"} |`,
      `| Bare consumer | kafkajs consumer, same fetch sizes, read_committed, discards each message (adds up value sizes) |`,
      `| Method | 1 warm-up pair, then ${pairs} rounds (bare, ingestion, producer alone), each consumer in a new group reading all events from the start; consumer throughput from the start of the first batch to the end of the last |`,
      "",
      "| Run | Bare events/s | Bare wall ms | Ingestion events/s | Ingestion wall ms | Ingestion batches | Ratio | Producer alone events/s |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
      `- Median: bare **${fmt(bareMed)} events/s**, ingestion **${fmt(ingestMed)} events/s**: ratio **${fmt(ratio, 2)}**.`,
      `- Target: ingestion at least ${TARGET_RATIO} × the bare consumer — **${ok ? "met" : "NOT met"}**.`,
      `- Median ingestion batch (validate, transaction, progress row, commit): ${fmt(batchP50, 1)} ms.`,
      `- Producer alone (the ceiling: a kafkajs transactional producer writing the same ${fmt(total)} values in 1,000-message requests, 6,000 per transaction, nothing consumed or validated): median **${fmt(ceilingMed)} events/s**; ingestion reaches **${fmt(ingestMed / ceilingMed, 2)}×** of it.`,
      `- Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(", ")} on ${cpus().length} CPUs (other work on the machine slows the broker and skews both sides).`,
      "- Wall times include joining the group (and, for ingestion, opening a transactional producer per partition).",
      "",
      "## Why ingestion is far below the bare consumer",
      "",
      "Ingestion has to write every event again, and with kafkajs 2.2.4 writing costs several times more CPU per message than",
      "reading: each record gets its own zero-filled 512-byte encoder, its timestamp delta goes through the `Long` library, a",
      "send's messages are grouped by partition by copying the list once per message, and the CRC-32C is computed in JavaScript.",
      "The *producer alone* column is that ceiling, measured in the same run; ingestion (which also fetches, parses, validates,",
      "writes dead letters, commits offsets and updates PostgreSQL) gets within the ratio above of it. Sends are pipelined: each",
      "1,000-message request goes out as soon as it is full and the next chunk is validated while the broker handles it.",
      "",
    ].join("\n");
    return { markdown, ok };
  },
};

export default bench;
