/**
 * Ingestion against a real broker and PostgreSQL: valid events reach the valid topics unchanged,
 * every kind of bad input reaches the dead-letter topic with its reason and path, the ingester keeps
 * going, and progress rows and metrics count exactly. One round of raw events is written with
 * Kafka's own console producer.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Admin, Kafka, Message } from "kafkajs";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SchemaRegistry } from "@seg/compiler";
import { createKafka, readStreamProgress, startIngestion, type Ingestion, type SegDb, type StreamProgress } from "@seg/runtime";
import { MAX_DEAD_LETTER_VALUE, validTopic, type DeadLetterMessage } from "../../src/contracts/messages.js";
import { TestDatabase } from "../support/deploy-fixtures.js";
import { customer, exampleRegistry, pageView, purchase, uniqueSuffix } from "../support/ingest-fixtures.js";
import { deleteTopicsAndDisconnect, produce, readTopics, waitFor, waitForCommitted, type ReadMessage } from "../support/ingest-kafka.js";
import { ensureKafka } from "../support/kafka-broker.js";

const consoleProducer = fileURLToPath(new URL("../../../../infra/kafka/console-producer.sh", import.meta.url));
const MiB = 1024 * 1024;

const suffix = uniqueSuffix();
const prefix = `seg-test-ingest-${suffix}`;
const T = {
  purchase: `${prefix}.purchase`,
  customer: `${prefix}.customer`,
  pageView: `${prefix}.page_view`,
  addToCart: `${prefix}.add_to_cart`,
  mystery: `${prefix}.mystery`,
  dlq: `${prefix}.dead-letter`,
};
const groupId = `seg-test-ingest-${suffix}`;

let brokers: string[];
let kafka: Kafka;
let admin: Admin;
let registry: SchemaRegistry;
const t = new TestDatabase();
let db: SegDb;
let metrics: Registry;
let ingestion: Ingestion | undefined;
const logs: string[] = [];

/** What was produced to each raw partition, in order. */
const sent = new Map<string, { value: string | null; key: string | null; expect: "valid" | DeadLetterMessage["reason"] }[]>();

const expected = new WeakMap<Message, "valid" | DeadLetterMessage["reason"]>();

/** A raw message to produce, and what ingestion should make of it. */
function record(topic: string, partition: number, m: { value: string | null; key: string | null }, expect: "valid" | DeadLetterMessage["reason"]): Message {
  const msg: Message = { partition, key: m.key, value: m.value };
  expected.set(msg, expect);
  return msg;
}

/** Notes what was sent to each partition, in order (offset = index), without sending it. */
function note(topic: string, messages: readonly Message[]): void {
  for (const m of messages) {
    const k = `${topic}/${m.partition ?? 0}`;
    if (!sent.has(k)) sent.set(k, []);
    sent.get(k)!.push({ key: m.key == null ? null : String(m.key), value: m.value == null ? null : String(m.value), expect: expected.get(m)! });
  }
}

/** Produces with kafkajs and notes what was sent. */
async function send(topic: string, messages: Message[]): Promise<void> {
  note(topic, messages);
  await produce(kafka, topic, messages);
}

async function outputs(): Promise<{ valid: Map<string, ReadMessage[]>; dead: DeadLetterMessage[] }> {
  const valids = [T.purchase, T.customer, T.pageView, T.addToCart].map(validTopic);
  const read = await readTopics(kafka, admin, [...valids, T.dlq]);
  const dead = read.get(T.dlq)!.map((m) => JSON.parse(m.value!.toString()) as DeadLetterMessage);
  read.delete(T.dlq);
  return { valid: read, dead };
}

function expectedCounts(): Map<string, { received: number; valid: number; invalid: number }> {
  const out = new Map<string, { received: number; valid: number; invalid: number }>();
  for (const [k, list] of sent) {
    const valid = list.filter((m) => m.expect === "valid").length;
    out.set(k, { received: list.length, valid, invalid: list.length - valid });
  }
  return out;
}

async function progressByPartition(): Promise<Map<string, StreamProgress>> {
  return new Map((await readStreamProgress(db, groupId)).map((r) => [`${r.topic}/${r.partition}`, r]));
}

/** Waits until the group committed every raw offset and the progress rows hold every message. */
async function settle(): Promise<void> {
  await waitForCommitted(admin, groupId, [T.purchase, T.customer, T.pageView, T.mystery], 90_000);
  const want = expectedCounts();
  await waitFor("progress rows for every message", async () => {
    const rows = await progressByPartition();
    for (const [k, c] of want) if (rows.get(k)?.received !== c.received) return undefined;
    return true;
  });
}

beforeAll(async () => {
  brokers = await ensureKafka();
  kafka = await createKafka({ brokers, clientId: "seg-test-ingest" });
  admin = kafka.admin();
  await admin.connect();
  registry = exampleRegistry(prefix);
  await admin.createTopics({
    topics: [
      // Two partitions, and room for a value over the ingestion limit.
      { topic: T.purchase, numPartitions: 2, configEntries: [{ name: "max.message.bytes", value: String(4 * MiB) }] },
      { topic: T.customer, numPartitions: 1 },
      { topic: T.pageView, numPartitions: 1 },
      { topic: T.mystery, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  db = await t.connect("seg-test-ingest");
  metrics = new Registry();
}, 240_000);

afterAll(async () => {
  await ingestion?.stop();
  await deleteTopicsAndDisconnect(admin, prefix);
  await t.cleanup();
}, 60_000);

describe("ingestion", () => {
  it("sends valid events unchanged to the valid topics and every bad one to the dead-letter topic", async () => {
    const valid: Message[] = [];
    for (let i = 0; i < 40; i++) {
      const e = purchase(i);
      valid.push(record(T.purchase, i % 2, { key: String(e["customer_id"]), value: JSON.stringify(e) }, "valid"));
    }
    // A valid event with no key (the copy gets the entity id) and one with headers.
    const nokey = purchase(100, { customer_id: "c777" });
    valid.push(record(T.purchase, 0, { key: null, value: JSON.stringify(nokey) }, "valid"));
    const withHeaders = record(T.purchase, 1, { key: "c101", value: JSON.stringify(purchase(101)) }, "valid");
    withHeaders.headers = { "trace-id": "abc-123" };
    valid.push(withHeaders);

    const missing = purchase(200);
    delete missing["amount"];
    const huge = JSON.stringify(purchase(201, { sku: "x".repeat(Math.round(1.5 * MiB)) }));
    const bad: Message[] = [
      record(T.purchase, 0, { key: "c200", value: '{"event_id":"p-bad-1","amount":' }, "malformed-json"),
      record(T.purchase, 1, { key: "c201", value: JSON.stringify(purchase(202, { amount: "12.50" })) }, "schema"),
      record(T.purchase, 0, { key: "c202", value: JSON.stringify(missing) }, "schema"),
      record(T.purchase, 1, { key: "c203", value: JSON.stringify(purchase(203, { currency: "XYZ" })) }, "schema"),
      record(T.purchase, 0, { key: "c204", value: huge }, "too-large"),
    ];
    await send(T.purchase, [...valid.slice(0, 20), ...bad, ...valid.slice(20)]);
    await send(T.customer, [
      record(T.customer, 0, { key: "c001", value: JSON.stringify(customer(1)) }, "valid"),
      record(T.customer, 0, { key: "c002", value: JSON.stringify(customer(2, { loyalty_tier: "diamond" })) }, "schema"),
    ]);
    await send(T.pageView, [record(T.pageView, 0, { key: "c003", value: "[]" }, "schema")]);
    await send(T.mystery, [
      record(T.mystery, 0, { key: "c004", value: JSON.stringify(purchase(300)) }, "unknown-topic"),
      record(T.mystery, 0, { key: null, value: "plain text" }, "unknown-topic"),
    ]);

    ingestion = await startIngestion({
      brokers,
      groupId,
      registry,
      deadLetterTopic: T.dlq,
      db,
      metrics,
      extraTopics: [new RegExp(`^${prefix.replaceAll(".", "\\.")}\\.mys`)],
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    expect([...ingestion.topics].sort()).toEqual([T.addToCart, T.customer, T.mystery, T.pageView, T.purchase].sort());
    await settle();

    const { valid: validOut, dead } = await outputs();
    const purchases = validOut.get(validTopic(T.purchase))!;
    expect(purchases).toHaveLength(42);
    const rawById = new Map(valid.map((m) => [JSON.parse(String(m.value))["event_id"] as string, m]));
    for (const out of purchases) {
      const e = JSON.parse(out.value!.toString()) as Record<string, unknown>;
      const rawMsg = rawById.get(String(e["event_id"]))!;
      expect(out.value!.toString()).toBe(rawMsg.value); // unchanged, byte for byte
      expect(out.key).toBe(e["customer_id"]); // key = entity id
      expect(out.timestamp).toBe(String(Date.parse(String(e["ts"])))); // timestamp = event time
    }
    expect(purchases.find((m) => m.value!.toString().includes('"p-100"'))!.key).toBe("c777");
    expect(purchases.find((m) => m.value!.toString().includes('"p-101"'))!.headers).toEqual({ "trace-id": "abc-123" });
    expect(validOut.get(validTopic(T.customer))!.map((m) => m.key)).toEqual(["c001"]);
    expect(validOut.get(validTopic(T.pageView))).toEqual([]);

    expect(dead).toHaveLength(9);
    const at = (topic: string, reason: string) => dead.filter((d) => d.topic === topic && d.reason === reason);
    expect(at(T.purchase, "malformed-json")).toEqual([
      expect.objectContaining({ schema: "purchase", path: null, value: '{"event_id":"p-bad-1","amount":', message: expect.stringMatching(/^the value is not valid JSON: /) }),
    ]);
    const schemaErrors = at(T.purchase, "schema").map((d) => [d.path, d.message]);
    expect(schemaErrors.sort()).toEqual(
      [
        ["/amount", "/amount: must be number"],
        ["/amount", "/amount: is required but missing"],
        ["/currency", '/currency: must be one of "USD", "CAD", "GBP", "EUR", "AUD"'],
      ].sort(),
    );
    const tooLarge = at(T.purchase, "too-large");
    expect(tooLarge).toHaveLength(1);
    expect(tooLarge[0]!.partition).toBe(0);
    expect(tooLarge[0]!.message).toMatch(/over the limit of 1 MiB$/);
    expect(tooLarge[0]!.value).toHaveLength(MAX_DEAD_LETTER_VALUE);
    expect(huge.startsWith(tooLarge[0]!.value)).toBe(true);
    expect(at(T.customer, "schema")).toEqual([expect.objectContaining({ schema: "customer", path: "/loyalty_tier", partition: 0, offset: "1" })]);
    expect(at(T.pageView, "schema")).toEqual([expect.objectContaining({ schema: "page_view", path: "", message: "(root): must be object", value: "[]" })]);
    expect(at(T.mystery, "unknown-topic").map((d) => [d.offset, d.schema, d.path, d.value.slice(0, 10)])).toEqual([
      ["0", null, null, '{"event_id'],
      ["1", null, null, "plain text"],
    ]);
    // Each dead letter points at the raw message it came from.
    for (const d of dead) {
      const list = sent.get(`${d.topic}/${d.partition}`)!;
      expect(list[Number(d.offset)]!.expect).toBe(d.reason);
      expect(Number.isNaN(Date.parse(d.receivedAt))).toBe(false);
    }
  });

  it("counts exactly in stream_progress, with the offset, lag and last event time", async () => {
    const rows = await progressByPartition();
    const want = expectedCounts();
    expect([...rows.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, c] of want) {
      const r = rows.get(k)!;
      expect({ k, received: r.received, valid: r.valid, invalid: r.invalid }).toEqual({ k, ...c });
      expect(r.offset).toBe(BigInt(c.received - 1));
      expect(r.lag).toBe(0);
      expect(r.stream).toBe(groupId);
    }
    const latest = (partition: number) =>
      Math.max(...sent.get(`${T.purchase}/${partition}`)!.filter((m) => m.expect === "valid").map((m) => Date.parse(JSON.parse(m.value!)["ts"])));
    expect(rows.get(`${T.purchase}/0`)!.lastEventTime!.getTime()).toBe(latest(0));
    expect(rows.get(`${T.purchase}/1`)!.lastEventTime!.getTime()).toBe(latest(1));
    expect(rows.get(`${T.customer}/0`)!.lastEventTime).toBeNull(); // profiles have no event time
  });

  it("exposes the counts as Prometheus metrics", async () => {
    const text = await metrics.metrics();
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}.*+?^$()|[\]\\]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
    expect(value(`seg_ingest_received_total{topic="${T.purchase}"}`)).toBe(47);
    expect(value(`seg_ingest_valid_total{topic="${T.purchase}"}`)).toBe(42);
    expect(value(`seg_ingest_invalid_total{topic="${T.purchase}",reason="schema"}`)).toBe(3);
    expect(value(`seg_ingest_invalid_total{topic="${T.purchase}",reason="malformed-json"}`)).toBe(1);
    expect(value(`seg_ingest_invalid_total{topic="${T.purchase}",reason="too-large"}`)).toBe(1);
    expect(value(`seg_ingest_invalid_total{topic="${T.mystery}",reason="unknown-topic"}`)).toBe(2);
    expect(value(`seg_ingest_lag{topic="${T.purchase}",partition="1"}`)).toBe(0);
    expect(value(`seg_ingest_batch_duration_seconds_count{topic="${T.purchase}"}`)).toBeGreaterThanOrEqual(2);
  });

  it("keeps running after bad input: events written with Kafka's console producer go through too", async () => {
    expect(logs.filter((l) => l.startsWith("error"))).toEqual([]);
    // page_view has one partition, so the console producer's choice of partition does not matter.
    const lines: [string, string, "valid" | DeadLetterMessage["reason"]][] = [
      ["c500", JSON.stringify(pageView(500)), "valid"],
      ["c501", '{"event_id":"pv-501",', "malformed-json"],
      ["c502", JSON.stringify(pageView(502, { device: "fax" })), "schema"],
      ["c503", JSON.stringify(pageView(503, { duration_ms: -5 })), "schema"],
      ["c504", JSON.stringify(pageView(504)), "valid"],
    ];
    execFileSync("bash", [consoleProducer, "--topic", T.pageView, "--property", "parse.key=true", "--property", "key.separator=|"], {
      input: `${lines.map(([k, v]) => `${k}|${v}`).join("\n")}\n`,
      env: { ...process.env, SEG_KAFKA_BROKERS: brokers.join(",") },
      timeout: 90_000,
    });
    note(T.pageView, lines.map(([key, value, expect]) => record(T.pageView, 0, { key, value }, expect)));
    await settle();

    const { valid: validOut, dead } = await outputs();
    const views = validOut.get(validTopic(T.pageView))!;
    expect(views.map((m) => [m.key, m.value!.toString(), m.timestamp])).toEqual([
      ["c500", JSON.stringify(pageView(500)), String(Date.parse(String(pageView(500)["ts"])))],
      ["c504", JSON.stringify(pageView(504)), String(Date.parse(String(pageView(504)["ts"])))],
    ]);
    const fromConsole = dead.filter((d) => d.topic === T.pageView && Number(d.offset) >= 1);
    expect(fromConsole.map((d) => [d.offset, d.reason, d.path, d.message])).toEqual([
      ["2", "malformed-json", null, expect.stringMatching(/^the value is not valid JSON: /)],
      ["3", "schema", "/device", '/device: must be one of "desktop", "mobile", "tablet"'],
      ["4", "schema", "/duration_ms", "/duration_ms: must be >= 0"],
    ]);
    expect(dead).toHaveLength(12);
    // The purchases are untouched by the second round.
    expect(validOut.get(validTopic(T.purchase))).toHaveLength(42);

    const rows = await progressByPartition();
    for (const [k, c] of expectedCounts()) {
      const r = rows.get(k)!;
      expect({ k, received: r.received, valid: r.valid, invalid: r.invalid }).toEqual({ k, ...c });
    }
    const latest = Math.max(Date.parse(String(pageView(500)["ts"])), Date.parse(String(pageView(504)["ts"])));
    expect(rows.get(`${T.pageView}/0`)!.lastEventTime!.getTime()).toBe(latest);
  });

  it("stops cleanly and leaves the group", async () => {
    await ingestion!.stop();
    await ingestion!.stop(); // twice is fine
    ingestion = undefined;
    const described = await admin.describeGroups([groupId]);
    expect(described.groups[0]!.members).toEqual([]);
  });
});
