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
 * Environment: SEG_BENCH_EVENTS (default 100000), SEG_BENCH_RUNS (rounds, default 5),
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
/** Ingestion's default fetch size per partition and batch; the bare consumer uses the same. */
const FETCH_BYTES_PER_PARTITION = 4 * 1024 * 1024;
/** Ingestion's largest produce request (messages). */
const SEND_MESSAGES = 4_000;
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
  /** Events per second between joining the group and the end of the last batch. */
  eps: number;
  /** Events per second between the start of the first batch and the end of the last (the method before 2026-11-26). */
  epsFromBatch: number;
  /** Including joining the group (and, for ingestion, opening the transactional producers). */
  wallMs: number;
  batches: number;
  /** CPU time (user + system) of the benchmark process per event during the run, µs. */
  cpuUs: number;
}

/** A bare kafkajs consumer that reads and discards every message. */
async function bareRun(kafka: Kafka, topic: string, total: number): Promise<RunResult> {
  const consumer = kafka.consumer({
    groupId: `seg-bench-bare-${randomBytes(4).toString("hex")}`,
    maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    maxWaitTimeInMs: 1_000,
  });
  const started = performance.now();
  let joined = 0;
  let first = 0;
  let last = 0;
  let seen = 0;
  let bytes = 0;
  let batches = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (joined === 0) joined = performance.now();
  });
  const cpu0 = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpu0);
  if (bytes === 0) throw new Error("read nothing");
  return { eps: total / ((last - joined) / 1000), epsFromBatch: total / ((last - first) / 1000), wallMs: last - started, batches, cpuUs: (cpu.user + cpu.system) / total };
}

/**
 * The ceiling: a kafkajs transactional producer alone writing the same values, in transactions of
 * about one ingestion batch (`perTxn`), in requests of ingestion's size (no consuming, no validation).
 */
async function producerRun(kafka: Kafka, topic: string, values: readonly Buffer[], keys: readonly string[], perTxn: number): Promise<RunResult> {
  const producer = kafka.producer({ transactionalId: `${topic}-${randomBytes(4).toString("hex")}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let batches = 0;
  try {
    const perSend = SEND_MESSAGES;
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
  const cpu = process.cpuUsage(cpu0);
  return { eps: values.length / (ms / 1000), epsFromBatch: values.length / (ms / 1000), wallMs: ms, batches, cpuUs: (cpu.user + cpu.system) / values.length };
}

/** Full ingestion until every event is committed. */
async function ingestRun(
  runtime: typeof Runtime,
  options: Omit<Runtime.IngestionOptions, "groupId" | "onBatch" | "onAssignment">,
  total: number,
): Promise<RunResult & { valid: number; invalid: number; batchMs: number[] }> {
  const started = performance.now();
  let joined = 0;
  let first = 0;
  let last = 0;
  let seen = 0;
  let valid = 0;
  let invalid = 0;
  const batchMs: number[] = [];
  const cpu0 = process.cpuUsage();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const ingestion = await runtime.startIngestion({
    ...options,
    groupId: `seg-bench-ingest-${randomBytes(4).toString("hex")}`,
    onAssignment: () => {
      if (joined === 0) joined = performance.now();
    },
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
  const cpu = process.cpuUsage(cpu0);
  return {
    eps: total / ((last - joined) / 1000),
    epsFromBatch: total / ((last - first) / 1000),
    wallMs: last - started,
    batches: batchMs.length,
    valid,
    invalid,
    batchMs,
    cpuUs: (cpu.user + cpu.system) / total,
  };
}

const bench: Benchmark = {
  name: "ingest",
  description: "ingestion validation throughput vs a bare kafkajs consumer on the same messages",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const total = envNumber("SEG_BENCH_EVENTS", 100_000);
    const pairs = Math.max(1, envNumber("SEG_BENCH_RUNS", 5));
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
    let perTxn = 0;
    const loads: number[] = [];
    const loadStart = loadavg()[0]!;
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

      perTxn = Math.max(SEND_MESSAGES, Math.floor(FETCH_BYTES_PER_PARTITION / (valueBytes / total)));
      const options = { brokers, registry, deadLetterTopic: dlq, db, log: (level: string, message: string) => level === "error" && ctx.log(message) };
      // Warm-up: JIT, topic creation, the transaction coordinator.
      ctx.log("warm-up...");
      await bareRun(kafka, raw, total);
      await ingestRun(runtime, options, total);
      for (let r = 0; r < pairs; r++) {
        loads.push(loadavg()[0]!);
        const b = await bareRun(kafka, raw, total);
        bare.push(b);
        const g = await ingestRun(runtime, options, total);
        ingest.push(g);
        const p = await producerRun(kafka, `${prefix}.scratch`, values, keys, perTxn);
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
    const ratios = bare.map((b, i) => ingest[i]!.eps / b.eps);
    const oldRatios = bare.map((b, i) => ingest[i]!.epsFromBatch / b.epsFromBatch);
    const oldRatio = median(ingest.map((r) => r.epsFromBatch)) / median(bare.map((r) => r.epsFromBatch));
    const bareCpu = median(bare.map((r) => r.cpuUs));
    const ingestCpu = median(ingest.map((r) => r.cpuUs));
    const rows = bare.map((b, i) => {
      const g = ingest[i]!;
      return `| ${i + 1} | ${fmt(b.eps)} | ${fmt(b.cpuUs, 1)} | ${fmt(g.eps)} | ${fmt(g.cpuUs, 1)} | ${fmt(g.wallMs)} | ${g.batches} | **${fmt(ratios[i]!, 2)}** | ${fmt(b.epsFromBatch)} | ${fmt(g.epsFromBatch)} | ${fmt(oldRatios[i]!, 2)} | ${fmt(ceiling[i]!.eps)} | ${fmt(ceiling[i]!.cpuUs, 1)} | ${fmt(loads[i]!, 1)} |`;
    });
    const markdown = [
      "# Ingestion benchmark",
      "",
      "| | |",
      "|---|---|",
      `| Date | ${ctx.date} |`,
      `| Node | ${process.version} (${process.platform}/${process.arch}) |`,
      `| CPU | ${ctx.cpu}, ${cpus().length} cores shared with the broker, PostgreSQL and other people's work |`,
      `| Pinned | ${ctx.pinned} (the benchmark process; the broker and PostgreSQL run unpinned on the same machine) |`,
      `| Broker | ${brokers.join(",")} (loopback), one raw topic with 2 partitions |`,
      `| kafkajs | 2.2.4 with seg's patch (patches/kafkajs@2.2.4.patch: record batches and whole produce requests encoded in one buffer, slicing-by-8 CRC-32C, 32-bit murmur2, linear grouping per partition; read_committed fix) |`,
      `| Events | ${fmt(total)} purchase events, ${fmt(valueBytes / total)} bytes on average; ${fmt(lastIngest.valid)} valid, ${fmt(lastIngest.invalid)} invalid (5% enum violations, 5% malformed JSON) |`,
      `| Ingestion | defaults: up to 4 partitions at a time, ${fmt(FETCH_BYTES_PER_PARTITION / 1024 / 1024)} MiB per partition and batch, batches processed in the background while the next is fetched, one Kafka transaction per batch (events + dead letters + offsets), sends of up to ${fmt(SEND_MESSAGES)} messages, progress in PostgreSQL: ${db ? "yes" : "**no database**"} |`,
      `| Bare consumer | kafkajs consumer, same fetch sizes (${fmt(FETCH_BYTES_PER_PARTITION / 1024 / 1024)} MiB per partition), read_committed, discards each message (adds up value sizes) |`,
      `| Method | 1 warm-up pair, then ${pairs} rounds (bare, ingestion, producer alone), each consumer in a new group reading all events from the start; consumer throughput from joining the group to the end of the last batch (so both include every fetch; the columns "from 1st batch" repeat the earlier method, which left out the first fetch and its decoding (up to 2 × 4 MiB, about half of the data here) and so flattered the faster consumer, the bare one, most); CPU = user + system time of the benchmark process during the run, per event |`,
      "",
      "| Run | Bare events/s | Bare CPU µs/event | Ingestion events/s | Ingestion CPU µs/event | Ingestion wall ms | Ingestion batches | Ratio | Bare events/s from 1st batch | Ingestion events/s from 1st batch | Ratio from 1st batch | Producer alone events/s | Producer CPU µs/event | Load (1 min) |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
      `- Median: bare **${fmt(bareMed)} events/s**, ingestion **${fmt(ingestMed)} events/s**: ratio **${fmt(ratio, 2)}** (spread over the runs: ${fmt(Math.min(...ratios), 2)} – ${fmt(Math.max(...ratios), 2)}).`,
      `- Target: ingestion at least ${TARGET_RATIO} × the bare consumer — **${ok ? "met" : "NOT met"}**.`,
      `- CPU per event (medians): bare ${fmt(bareCpu, 1)} µs, ingestion ${fmt(ingestCpu, 1)} µs (${fmt(ingestCpu / bareCpu, 1)}×). At its median rate ingestion keeps the benchmark's core about ${fmt(Math.min(100, (100 * ingestCpu * ingestMed) / 1e6))}% busy (CPU per event × events/s; the CPU includes joining the group)${(ingestCpu * ingestMed) / 1e6 < 0.8 ? ": the rest of its time it waits for the broker (fetches, produce acknowledgements, commits) or for its share of the CPU (other work on the machine)" : ": it is CPU-bound, so the ratio cannot pass the ratio of the CPU costs per event"}.`,
      `- Median ingestion batch (validate, transaction, progress row, commit; batches of several partitions overlap): ${fmt(batchP50, 1)} ms.`,
      `- Producer alone (a kafkajs transactional producer writing the same ${fmt(total)} values in ${fmt(SEND_MESSAGES)}-message requests, ${fmt(perTxn)} per transaction, nothing consumed or validated): median **${fmt(ceilingMed)} events/s**; ingestion reaches **${fmt(ingestMed / ceilingMed, 2)}×** of it.`,
      `- Load average (1 min) at the start: ${fmt(loadStart, 1)}; at the end: ${loadavg().map((l) => l.toFixed(1)).join(", ")} on ${cpus().length} CPUs (other work on the machine slows the broker and skews both sides).`,
      "- Events/s count from joining the group: they include fetching the committed offsets and the first fetch, and for ingestion opening a transactional producer per partition. Wall times also include joining.",
      "",
      "## Where ingestion's time goes",
      "",
      "Ingestion reads like the bare consumer (kafkajs fetch and decode), then per event: the check against the schema, the",
      "Kafka timestamp from the event time, and the raw bytes written unchanged to the valid topic (or a dead letter) in one",
      "transaction per batch; per batch: the offsets in the transaction, the PostgreSQL progress row and the commit.",
      "",
      "Before 2026-11-26 it cost about 22 µs of CPU per event (bare consumer 3.7). Profiles (`node --cpu-prof`) showed:",
      "`JSON.parse` and the ajv validator about a third of it (`JSON.parse` alone ~3 µs on freshly fetched data), kafkajs",
      "copying each produce request five times into freshly allocated buffers (partition, topic, request, header, size: the",
      "page faults of new memory cost more than the copies), a `SyntaxError` with its stack trace for each malformed event, and",
      "the garbage collector; and, in wall time, no overlap at all between fetching and processing: kafkajs fetches again only",
      "when every batch of the last fetch was handed back, so each fetch (~250 ms for 8 MiB on this loaded broker) and each",
      "commit waited in turn.",
      "",
      "What changed: (1) a fast path (`src/ingest/fast-validate.ts`) checks an event's bytes against a flat schema without",
      "`JSON.parse` or building the record; it only ever answers \"valid\" (else the event takes the full path, which writes",
      "every dead letter), is property-tested against the full path, and one fast-valid event in 1,024 is also checked the",
      "full way at run time (a disagreement switches the topic's fast path off). (2) seg's kafkajs patch encodes a produce",
      "request in one buffer (byte-identical). (3) A batch is processed in the background: kafkajs fetches and decodes the",
      "next batch meanwhile, and a partition's next batch is classified while the previous one's writes, offsets and commit",
      "complete (it opens its transaction only after that commit; a failed batch sends the consumer back to it and the",
      "batches after it are dropped). (4) No stack trace for JSON errors, one ISO timestamp per millisecond for dead letters,",
      "counts in typed arrays.",
      "",
      "What is left: kafkajs's fetch and decode (as for the bare consumer), young-generation garbage collection (a batch's",
      "decoded messages stay alive while it is processed; V8's parallel scavenger threads share the one pinned CPU), encoding",
      "and writing every event back to the broker, and the full path for the 10% invalid events (ajv with all errors, the",
      "dead-letter JSON). The broker, which appends every event again and runs the transactions, shares the two cores with",
      "the benchmark and everything else on the machine: the load average column shows how busy it was.",
      "",
    ].join("\n");
    return { markdown, ok };
  },
};

export default bench;
