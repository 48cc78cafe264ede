/**
 * The ingester's batch chain across a group rejoin, driven with an in-memory Kafka double (the
 * real-broker version of this fault is the broker restart in runtime-faults.test.ts, where the
 * timing is up to the broker): a batch fails while the consumer is down (its seek back is lost),
 * the consumer rejoins with the same partition and reads from the committed offset again. Those
 * batches must be written, not dropped as "after a failed batch".
 */
import type { Admin, Batch, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { describe, expect, it } from "vitest";
import { EventClassifier } from "@seg/runtime";
import { Ingester } from "../../src/ingest/ingester.js";
import type { IngestionOptions } from "../../src/ingest/options.js";
import { exampleRegistry, purchase } from "../support/ingest-fixtures.js";

const RAW = "t.purchase";
const GROUP = "g";

/** A broker with one partition's committed offset and the committed outputs; transactions can be made to fail. */
class KafkaDouble {
  committed = -1n;
  readonly written: string[] = [];
  failCommits = 0;
  running = false;
  eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  private readonly listeners = new Map<string, ((e: { payload: unknown }) => void)[]>();

  kafka(): Kafka {
    const self = this;
    const consumer = {
      events: { GROUP_JOIN: "group-join", CRASH: "crash" },
      on(event: string, fn: (e: { payload: unknown }) => void) {
        self.listeners.set(event, [...(self.listeners.get(event) ?? []), fn]);
        return () => {};
      },
      connect: async () => {},
      subscribe: async () => {},
      run: async (config: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => {
        self.eachBatch = config.eachBatch;
        self.running = true;
      },
      seek: () => {
        if (!self.running) throw new Error("Consumer group was not initialized, consumer#run must be called first");
      },
      disconnect: async () => {},
    };
    const producer = () => ({
      connect: async () => {},
      disconnect: async () => {},
      transaction: async () => {
        const pending: string[] = [];
        let offset: bigint | undefined;
        return {
          sendBatch: async ({ topicMessages }: { topicMessages: { topic: string; messages: { value: Buffer | string | null }[] }[] }) => {
            for (const t of topicMessages) for (const m of t.messages) pending.push(`${t.topic} ${String(m.value)}`);
          },
          sendOffsets: async ({ topics }: { topics: { partitions: { offset: string }[] }[] }) => {
            offset = BigInt(topics[0]!.partitions[0]!.offset);
          },
          commit: async () => {
            if (self.failCommits > 0) {
              self.failCommits--;
              throw new Error("the broker went away");
            }
            self.written.push(...pending);
            if (offset !== undefined) self.committed = offset;
          },
          abort: async () => {},
        };
      },
    });
    return { consumer: () => consumer, producer } as unknown as Kafka;
  }

  admin(): Admin {
    return {
      fetchOffsets: async () => [{ topic: RAW, partitions: [{ partition: 0, offset: this.committed.toString() }] }],
      disconnect: async () => {},
    } as unknown as Admin;
  }

  join(): void {
    for (const fn of this.listeners.get("group-join") ?? []) fn({ payload: { memberAssignment: { [RAW]: [0] } } });
  }

  /** Hands the consumer one batch of `events` starting at `first` (as kafkajs would). */
  async deliver(first: number, events: Record<string, unknown>[]): Promise<void> {
    const messages = events.map((e, i) => ({ offset: String(first + i), key: Buffer.from(String(e["customer_id"])), value: Buffer.from(JSON.stringify(e)), timestamp: "1700000000000", headers: {}, attributes: 0, size: 0 }) as KafkaMessage);
    const batch = {
      topic: RAW,
      partition: 0,
      highWatermark: String(first + events.length),
      messages,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages[messages.length - 1]!.offset,
    } as unknown as Batch;
    await this.eachBatch!({ batch, isRunning: () => true, isStale: () => false, resolveOffset: () => {}, heartbeat: async () => {} } as unknown as EachBatchPayload);
  }
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A started ingester on a fresh double, assigned partition 0, with 20 valid purchases to hand it. */
async function joinedIngester(): Promise<{ k: KafkaDouble; logs: string[]; ingester: Ingester; events: Record<string, unknown>[] }> {
  const k = new KafkaDouble();
  const logs: string[] = [];
  const registry = exampleRegistry("t");
  const options: IngestionOptions = { brokers: ["double:9092"], groupId: GROUP, registry, deadLetterTopic: "t.dead-letter" };
  const partitioners = { DefaultPartitioner: () => () => 0 };
  const ingester = new Ingester(k.kafka(), k.admin(), new EventClassifier(registry), [RAW], options, (level, message) => logs.push(`${level} ${message}`), undefined, partitioners);
  await ingester.start();
  k.join();
  return { k, logs, ingester, events: Array.from({ length: 20 }, (_, i) => purchase(i)) };
}

describe("ingestion across a group rejoin", () => {
  it("writes the batches read again after a rejoin when a batch failed while the consumer was down", async () => {
    const { k, logs, ingester, events } = await joinedIngester();

    // The broker goes away: the consumer stops, and the batch in flight fails (its seek is lost).
    k.failCommits = 1;
    k.running = false;
    await k.deliver(0, events.slice(0, 10));
    await until("the failed batch's log", () => logs.some((l) => l.includes("going back to t.purchase[0] offset 0")));
    await new Promise((r) => setTimeout(r, 300)); // the failed batch's pause before it settles

    // The consumer is back: it rejoins and reads from the committed offset (nothing committed).
    k.running = true;
    k.join();
    await k.deliver(0, events.slice(0, 10));
    await k.deliver(10, events.slice(10));
    await until("the committed offset 20", () => k.committed === 20n);
    expect(k.written.map((w) => (JSON.parse(w.slice(w.indexOf(" ") + 1)) as { event_id: string }).event_id)).toEqual(events.map((e) => e["event_id"]));
    expect(k.written.every((w) => w.startsWith("t.purchase.valid "))).toBe(true);
    await ingester.stop();
  });

  it("still drops the batches fetched after a failed batch until it is read again (no rejoin)", async () => {
    const { k, logs, ingester, events } = await joinedIngester();
    k.failCommits = 1;
    await k.deliver(0, events.slice(0, 10));
    await k.deliver(10, events.slice(10)); // fetched before the seek back took effect: dropped
    await until("the failed batch's log", () => logs.some((l) => l.includes("offsets 0..9: committing the transaction failed")));
    await k.deliver(0, events.slice(0, 10)); // the seek back
    await k.deliver(10, events.slice(10));
    await until("the committed offset 20", () => k.committed === 20n);
    expect(k.written).toHaveLength(20);
    expect(new Set(k.written).size).toBe(20);
    await ingester.stop();
  });
});
