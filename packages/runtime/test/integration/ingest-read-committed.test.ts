/**
 * read_committed reading with kafkajs (patched, see patches/kafkajs@2.2.4.patch) when transactions
 * of two producers overlap and are aborted out of order, as several ingestion producers (one per
 * raw partition) can leave them after a crash. The broker lists a fetch's aborted transactions in
 * the order they ended, not by first offset; unpatched kafkajs 2.2.4 assumed the latter and opened
 * one aborted transaction per message, so it returned records of aborted transactions here.
 *
 * Each topic gets, on its one partition:
 *   0 a-1 (producer A, transaction 1)   1 b-1 (producer B, transaction 2)   2 b-2 (B)   3 a-2 (A)
 *   4, 5: the two abort markers (in the order the test picks)   6 c-1 (producer C, committed)   7 its marker
 * A read_committed reader must see only c-1, from offset 0 and from offset 2 (inside both aborted
 * transactions).
 */
import { randomBytes } from "node:crypto";
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKafka } from "@seg/runtime";
import { uniqueSuffix } from "../support/ingest-fixtures.js";
import { deleteTopicsAndDisconnect, endOffsets } from "../support/ingest-kafka.js";
import { ensureKafka } from "../support/kafka-broker.js";

const prefix = `seg-test-read-committed-${uniqueSuffix()}`;
let kafka: Kafka;
let admin: Admin;
const producers: Producer[] = [];

async function transactionalProducer(name: string): Promise<Producer> {
  const p = kafka.producer({ transactionalId: `${prefix}.${name}.${randomBytes(3).toString("hex")}`, idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  producers.push(p);
  return p;
}

/** Writes the layout above to a new topic; `firstAbort` ends its transaction first. */
async function interleave(topic: string, firstAbort: "a" | "b"): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const [a, b, c] = [await transactionalProducer("a"), await transactionalProducer("b"), await transactionalProducer("c")];
  const ta = await a.transaction();
  const tb = await b.transaction();
  await ta.send({ topic, messages: [{ value: "a-1" }] });
  await tb.send({ topic, messages: [{ value: "b-1" }] });
  await tb.send({ topic, messages: [{ value: "b-2" }] });
  await ta.send({ topic, messages: [{ value: "a-2" }] });
  if (firstAbort === "a") {
    await ta.abort();
    await tb.abort();
  } else {
    await tb.abort();
    await ta.abort();
  }
  const tc = await c.transaction();
  await tc.send({ topic, messages: [{ value: "c-1" }] });
  await tc.commit();
}

/** Every value a read_committed consumer returns from `from` to the end of the partition. */
async function readCommitted(topic: string, from: bigint): Promise<{ offset: string; value: string }[]> {
  const end = (await endOffsets(admin, topic)).get(0)!;
  const groupId = `${prefix}-reader-${randomBytes(4).toString("hex")}`;
  if (from > 0n) await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: from.toString() }] });
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
  const out: { offset: string; value: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), 30_000);
      // Batches of only markers or aborted records end here too.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (BigInt(e.payload.lastOffset) + 1n >= end) {
          clearTimeout(timer);
          resolve();
        }
      });
      void consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) out.push({ offset: m.offset, value: m.value?.toString() ?? "" });
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

beforeAll(async () => {
  const brokers = await ensureKafka();
  kafka = await createKafka({ brokers, clientId: "seg-test-read-committed", retries: 5 });
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
  await deleteTopicsAndDisconnect(admin, prefix);
});

describe("read_committed with overlapping aborted transactions", () => {
  it("skips both aborted transactions when the later-started one aborts first", async () => {
    const topic = `${prefix}.b-aborts-first`;
    await interleave(topic, "b");
    expect(await readCommitted(topic, 0n)).toEqual([{ offset: "6", value: "c-1" }]);
  });

  it("skips both when reading starts inside them (several open before the first record read)", async () => {
    const topic = `${prefix}.a-aborts-first`;
    await interleave(topic, "a");
    expect(await readCommitted(topic, 0n)).toEqual([{ offset: "6", value: "c-1" }]);
    expect(await readCommitted(topic, 2n)).toEqual([{ offset: "6", value: "c-1" }]);
  });
});
