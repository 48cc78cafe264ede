import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Admin, Kafka } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KafkaUnreachableError, checkRetention, connectKafkaAdmin, createKafka } from "@seg/runtime";
import { compileExample, variant } from "../support/deploy-fixtures.js";
import { ensureKafka } from "../support/kafka-broker.js";

const consoleProducer = fileURLToPath(new URL("../../../../infra/kafka/console-producer.sh", import.meta.url));
const DAY = 86_400_000;

describe("the test Kafka broker", () => {
  let brokers: string[];
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const topicName = (what: string) => {
    const t = `seg-test-${what}-${randomBytes(4).toString("hex")}`;
    topics.push(t);
    return t;
  };

  beforeAll(async () => {
    brokers = await ensureKafka();
    kafka = await createKafka({ brokers, clientId: "seg-test" });
    admin = kafka.admin();
    await admin.connect();
  }, 240_000);

  afterAll(async () => {
    if (!admin) return;
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => {});
    await admin.disconnect();
  });

  it("creates a topic, and a produced message is consumed with kafkajs", async () => {
    const topic = topicName("roundtrip");
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: "c-1", value: JSON.stringify({ amount: 12.5 }) }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `seg-test-${randomBytes(4).toString("hex")}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<{ key: string; value: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message within 30 s")), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve({ key: message.key?.toString() ?? "", value: message.value?.toString() ?? "" });
        },
      });
    });
    await consumer.disconnect();
    expect(received).toEqual({ key: "c-1", value: '{"amount":12.5}' });
  });

  it("a consumer asking for record views gets them from the broker (records with headers as kafkajs's messages); others get kafkajs's messages", async () => {
    const topic = topicName("views");
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const sent = [
      { key: "c-1", value: '{"n":1}' },
      { key: null, value: '{"n":2}', headers: { trace: "t-2" } },
      { key: "c-3", value: null },
      { key: "c-4", value: "ü".repeat(40) },
    ];
    await producer.send({ topic, messages: sent });
    await producer.disconnect();
    const read = async (recordViews: boolean) => {
      const consumer = kafka.consumer({ groupId: `seg-test-${randomBytes(4).toString("hex")}`, recordViews });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const got: Record<string, unknown>[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${got.length} of ${sent.length} messages within 30 s`)), 30_000);
        void consumer.run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              const view = typeof (m as unknown as { offsetNumber?: unknown }).offsetNumber === "number";
              got.push({ view, offset: m.offset, key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])), timestamp: m.timestamp });
            }
            if (got.length >= sent.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      await consumer.disconnect();
      return got;
    };
    const plain = await read(false);
    const views = await read(true);
    expect(plain.map((m) => m["view"])).toEqual([false, false, false, false]);
    expect(views.map((m) => m["view"])).toEqual([true, false, true, true]);
    // The same fields either way.
    expect(views.map(({ view: _v, ...m }) => m)).toEqual(plain.map(({ view: _v, ...m }) => m));
    expect(plain.map((m) => [m["key"], m["value"], m["headers"]])).toEqual(sent.map((m) => [m.key, m.value, m.headers ?? {}]));
  });

  it("infra/kafka/console-producer.sh writes records the broker serves", async () => {
    const topic = topicName("console");
    await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
    execFileSync("bash", [consoleProducer, "--topic", topic, "--property", "parse.key=true", "--property", "key.separator=|"], {
      input: 'c-7|{"n":1}\nc-8|{"n":2}\n',
      env: { ...process.env, SEG_KAFKA_BROKERS: brokers.join(",") },
      timeout: 60_000,
    });
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.map((o) => o.high)).toEqual(["2"]);
  });

  it("checkRetention warns for a topic that keeps less than a segment's lookback", async () => {
    const short = topicName("short");
    const forever = topicName("forever");
    const missing = `seg-test-missing-${randomBytes(4).toString("hex")}`;
    await admin.createTopics({
      topics: [
        { topic: short, configEntries: [{ name: "retention.ms", value: String(7 * DAY) }] },
        { topic: forever, configEntries: [{ name: "retention.ms", value: "-1" }] },
      ],
      waitForLeaders: true,
    });
    const example = compileExample();
    const highValue = example.specs.find((s) => s.id === "high_value")!;
    const engaged = example.specs.find((s) => s.id === "engaged_readers")!;
    expect(highValue.sources.find((s) => s.name === "purchase")?.lookbackMs).toBe(30 * DAY);
    const onTopic = (spec: typeof highValue, from: string, to: string) =>
      variant(spec, (s) => void (s.sources = s.sources.map((x) => (x.name === from ? { ...x, topic: to } : x))));
    const specs = [onTopic(highValue, "purchase", short), onTopic(engaged, "page_view", forever), onTopic(example.specs.find((s) => s.id === "churned")!, "add_to_cart", missing)];

    const report = await checkRetention(admin, specs);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatchObject({ topic: short, retentionMs: 7 * DAY, neededMs: 30 * DAY, segments: ["high_value"] });
    expect(report.warnings[0]!.message).toBe(
      `topic ${short} keeps events for 7 days (retention.ms=604800000) but high_value needs 30 days; results will undercount`,
    );
    expect(report.notes.some((n) => n.startsWith(`topic ${missing} does not exist yet (read by churned)`))).toBe(true);
    expect(report.checked).toEqual(expect.arrayContaining([short, forever]));
  });

  it("connectKafkaAdmin gives up on an unreachable broker within its timeout", async () => {
    const started = Date.now();
    const e = await connectKafkaAdmin(["127.0.0.1:1"], { timeoutMs: 2_000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KafkaUnreachableError);
    expect((e as Error).message).toMatch(/^cannot reach Kafka at 127\.0\.0\.1:1: /);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
