/**
 * Batches that fail inside a running ingester (no crash): a batch is processed in the background
 * while kafkajs fetches the next, so a failure sends the consumer back to the failed batch and
 * drops the batches after it. Failures before the commit (twice in a row) and after it (the
 * transaction committed, then an error): every event still reaches the valid or dead-letter topic
 * exactly once, and the progress rows count each once.
 */
import type { Admin, Kafka, Message } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKafka, readStreamProgress, startIngestion, type Ingestion, type SegDb } from "@seg/runtime";
import { validTopic, type DeadLetterMessage } from "../../src/contracts/messages.js";
import { TestDatabase } from "../support/deploy-fixtures.js";
import { exampleRegistry, purchase, uniqueSuffix } from "../support/ingest-fixtures.js";
import { deleteTopicsAndDisconnect, produce, readTopics, waitFor, waitForCommitted } from "../support/ingest-kafka.js";
import { ensureKafka } from "../support/kafka-broker.js";

const suffix = uniqueSuffix();
const prefix = `seg-test-ingest-fail-${suffix}`;
const raw = `${prefix}.purchase`;
const dlq = `${prefix}.dead-letter`;
const groupId = `seg-test-ingest-fail-${suffix}`;
const EVENTS = 3_000;
/** Every 10th event (on both partitions) is a schema violation: a dead letter. */
const isInvalid = (i: number) => i % 10 === 3 || i % 10 === 6 ? i % 20 < 10 : false;

let kafka: Kafka;
let admin: Admin;
let brokers: string[];
const t = new TestDatabase();
let db: SegDb;
let ingestion: Ingestion | undefined;

beforeAll(async () => {
  brokers = await ensureKafka();
  kafka = await createKafka({ brokers, clientId: "seg-test-ingest-fail" });
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: raw, numPartitions: 2 }], waitForLeaders: true });
  db = await t.connect("seg-test-ingest-fail");
}, 240_000);

afterAll(async () => {
  await ingestion?.stop();
  await deleteTopicsAndDisconnect(admin, prefix);
  await t.cleanup();
}, 60_000);

describe("ingestion: failed batches", () => {
  it("reads a failed batch again and drops the batches fetched after it: every event once, exact counts", async () => {
    const messages: Message[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const e = purchase(i);
      const value = isInvalid(i) ? JSON.stringify({ ...e, currency: "XYZ" }) : JSON.stringify(e);
      messages.push({ partition: i % 2, key: String(e["customer_id"]), value });
    }
    await produce(kafka, raw, messages);

    let beforeCommits = 0;
    let afterCommits = 0;
    const failures: string[] = [];
    const logs: string[] = [];
    ingestion = await startIngestion({
      brokers,
      groupId,
      registry: exampleRegistry(prefix),
      deadLetterTopic: dlq,
      db,
      // Small batches: many per partition, so later batches are in flight when one fails.
      maxBytesPerPartition: 16 * 1024,
      log: (level, message) => logs.push(`${level} ${message}`),
      hooks: {
        beforeCommit: (b) => {
          beforeCommits++;
          // Two failures in a row (the same batch, read again, fails once more), then one later.
          if (beforeCommits === 3 || beforeCommits === 4 || beforeCommits === 9) {
            failures.push(`before ${b.topic}[${b.partition}] ${b.lastOffset}`);
            throw new Error("injected failure before the commit");
          }
        },
        afterCommit: (b) => {
          afterCommits++;
          if (afterCommits === 6) {
            failures.push(`after ${b.topic}[${b.partition}] ${b.lastOffset}`);
            throw new Error("injected failure after the commit");
          }
        },
      },
    });
    await waitForCommitted(admin, groupId, [raw], 120_000);
    await waitFor("progress rows for every event", async () => {
      const rows = await readStreamProgress(db, groupId);
      return rows.reduce((n, r) => n + r.received, 0) === EVENTS ? rows : undefined;
    });
    expect(failures).toHaveLength(4);
    expect(logs.filter((l) => l.includes("injected failure")).length).toBeGreaterThanOrEqual(4);

    const out = await readTopics(kafka, admin, [validTopic(raw), dlq]);
    const validIds = out.get(validTopic(raw))!.map((m) => String((JSON.parse(m.value!.toString()) as Record<string, unknown>)["event_id"]));
    const dead = out.get(dlq)!.map((m) => JSON.parse(m.value!.toString()) as DeadLetterMessage);
    const expectedValid = messages.filter((_, i) => !isInvalid(i)).map((m) => String((JSON.parse(String(m.value)) as Record<string, unknown>)["event_id"]));
    expect(validIds).toHaveLength(expectedValid.length);
    expect(new Set(validIds)).toEqual(new Set(expectedValid));
    expect(dead).toHaveLength(EVENTS / 10);
    expect(new Set(dead.map((d) => `${d.partition}/${d.offset}`)).size).toBe(EVENTS / 10);
    expect(new Set(dead.map((d) => d.partition))).toEqual(new Set([0, 1]));
    expect(dead.every((d) => d.reason === "schema" && d.path === "/currency")).toBe(true);

    const rows = await readStreamProgress(db, groupId);
    const want = [0, 1].map((p) => {
      const mine = messages.map((m, i) => ({ m, i })).filter(({ m }) => m.partition === p);
      const invalid = mine.filter(({ i }) => isInvalid(i)).length;
      return [p, mine.length, mine.length - invalid, invalid];
    });
    expect(rows.map((r) => [r.partition, r.received, r.valid, r.invalid])).toEqual(want);
  }, 180_000);
});
