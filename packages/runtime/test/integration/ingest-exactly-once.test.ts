/**
 * Exactly once across crashes: an ingester in a child process is killed with SIGKILL three times
 * mid-stream (in the window where PostgreSQL already holds a batch's progress but Kafka has not
 * committed it, right after a Kafka commit, and at a random point), then restarted to the end. Every raw event must appear
 * exactly once in the valid topic plus the dead-letter topic, read with isolation level
 * read_committed by Kafka's own console consumer and by kafkajs, and the progress counts must equal
 * what was produced.
 *
 * Run twice: with the default of one partition at a time, and with two at once. With two, a crash
 * leaves two producers' transactions to abort in any order, which kafkajs 2.2.4 readers get wrong
 * (they return records of the aborted transaction listed second); there only Kafka's consumer is
 * the judge.
 */
import type { Admin, Kafka, Message } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKafka, readStreamProgress, type SegDb } from "@seg/runtime";
import { validTopic, type DeadLetterMessage } from "../../src/contracts/messages.js";
import { TestDatabase, databaseUrl } from "../support/deploy-fixtures.js";
import { ChildIngester, assertBuilt } from "../support/ingest-child.js";
import { exampleSchemaSources, purchase, uniqueSuffix } from "../support/ingest-fixtures.js";
import { committedOffsets, deleteTopicsAndDisconnect, produce, readTopics, readWithConsoleConsumer, waitFor, waitForCommitted } from "../support/ingest-kafka.js";
import { ensureKafka } from "../support/kafka-broker.js";

const N = 12_000;

type Kind = "valid" | "malformed-json" | "schema";

/** Event i: mostly valid; every 10th malformed, every 7th (not 10th) of a wrong type. */
function event(i: number): { kind: Kind; value: string } {
  if (i % 10 === 3) return { kind: "malformed-json", value: `{"event_id":"e-${i}","amount":` };
  if (i % 7 === 5) return { kind: "schema", value: JSON.stringify(purchase(i, { event_id: `e-${i}`, quantity: "two" })) };
  return { kind: "valid", value: JSON.stringify(purchase(i, { event_id: `e-${i}` })) };
}

let brokers: string[];
let kafka: Kafka;
let admin: Admin;
const t = new TestDatabase();
let db: SegDb;
const children: ChildIngester[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  assertBuilt();
  brokers = await ensureKafka();
  kafka = await createKafka({ brokers, clientId: "seg-test-ingest-eos" });
  admin = kafka.admin();
  await admin.connect();
  db = await t.connect("seg-test-ingest-eos");
}, 240_000);

afterAll(async () => {
  for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) await c.kill();
  await deleteTopicsAndDisconnect(admin, ...prefixes);
  await t.cleanup();
}, 60_000);

/** Where each event id ended up, from the valid and dead-letter values. */
function whereEach(valid: readonly string[], dead: readonly string[], raw: string): Map<number, string[]> {
  const seen = new Map<number, string[]>();
  const note = (i: number, where: string) => seen.set(i, [...(seen.get(i) ?? []), where]);
  for (const v of valid) {
    const i = Number((JSON.parse(v) as { event_id: string }).event_id.slice(2));
    expect(v).toBe(event(i).value); // unchanged
    note(i, "valid");
  }
  for (const v of dead) {
    const d = JSON.parse(v) as DeadLetterMessage;
    const i = Number(/"e-(\d+)"/.exec(d.value)![1]);
    expect(d).toMatchObject({ topic: raw, partition: i % 2, offset: String(Math.floor(i / 2)) });
    note(i, d.reason);
  }
  return seen;
}

/** Events not seen exactly once, where expected (at most 20, for the message). */
function problems(seen: Map<number, string[]>): string[] {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    const where = seen.get(i) ?? [];
    if (where.length !== 1 || where[0] !== event(i).kind) out.push(`e-${i}: ${where.join(",") || "missing"} (expected ${event(i).kind})`);
  }
  return out;
}

describe.each([{ concurrency: 1 }, { concurrency: 2 }])("exactly once across kill -9, $concurrency partition(s) at a time", ({ concurrency }) => {
  const suffix = uniqueSuffix();
  const prefix = `seg-test-ingest-eos-${suffix}`;
  const raw = `${prefix}.purchase`;
  const dlq = `${prefix}.dead-letter`;
  const groupId = `seg-test-ingest-eos-${suffix}`;
  prefixes.push(prefix);

  /**
   * Small batches (many transactions, so a kill lands mid-stream); a restarted child fetches more
   * per batch than the first, so the batch it reads again only partly overlaps what was counted.
   */
  function child(maxBytesPerPartition: number, crash?: { at: "beforeCommit" | "afterCommit"; batch: number }): ChildIngester {
    const c = new ChildIngester({
      brokers,
      groupId,
      deadLetterTopic: dlq,
      sources: exampleSchemaSources((name) => `${prefix}.${name}`),
      databaseUrl,
      schema: t.schema,
      maxBytesPerPartition,
      partitionsConsumedConcurrently: concurrency,
      ...(crash === undefined ? {} : { crash }),
    });
    children.push(c);
    return c;
  }

  async function progressTotal(): Promise<number> {
    const rows = await readStreamProgress(db, groupId);
    return rows.filter((r) => r.topic === raw).reduce((n, r) => n + r.received, 0);
  }

  it("every event once in valid + dead-letter, and exact progress counts", async () => {
    await admin.createTopics({ topics: [{ topic: raw, numPartitions: 2 }], waitForLeaders: true });
    const messages: Message[] = [];
    for (let i = 0; i < N; i++) messages.push({ partition: i % 2, key: `c${String(i % 1000).padStart(3, "0")}`, value: event(i).value });
    // Sent 50 at a time: record batches of 25 events per partition (a fetch returns whole record batches).
    await produce(kafka, raw, messages, 50);

    // 1. The child kills itself just before committing its 6th batch: PostgreSQL is ahead of Kafka.
    const a = child(8 * 1024, { at: "beforeCommit", batch: 6 });
    expect((await a.exited).signal).toBe("SIGKILL");
    expect(a.stdout).toContain("crashing beforeCommit");
    const committedA = await committedOffsets(admin, groupId, raw);
    const rowsA = await readStreamProgress(db, groupId);
    expect(rowsA.some((r) => r.offset + 1n > (committedA.get(r.partition) ?? 0n))).toBe(true);
    const countedA = rowsA.reduce((n, r) => n + r.received, 0);
    expect(countedA).toBeGreaterThan(0);
    expect(countedA).toBeLessThan(N);

    // 2. Restart; the child kills itself just after committing its 3rd batch (Kafka has the
    // events and the offsets; kafkajs was not told the batch is done).
    const a2 = child(8 * 1024, { at: "afterCommit", batch: 3 });
    expect((await a2.exited).signal).toBe("SIGKILL");
    expect(a2.stdout).toContain("crashing afterCommit");
    expect(await progressTotal()).toBeLessThan(N / 2);

    // 3. Restart; kill -9 from outside once about half is counted.
    const b = child(48 * 1024);
    await waitFor("half of the events counted", async () => ((await progressTotal()) >= N / 2 ? true : undefined), 90_000, 10);
    await b.kill();
    expect(await progressTotal()).toBeLessThan(N);

    // 4. Restart and run to the end, then stop cleanly.
    const c = child(48 * 1024);
    await waitForCommitted(admin, groupId, [raw], 120_000);
    await waitFor("every event counted", async () => ((await progressTotal()) === N ? true : undefined), 30_000);
    expect(await c.stop()).toEqual({ code: 0, signal: null });
    expect(c.stderr.split("\n").filter((l) => / error /.test(l))).toEqual([]);

    // Every input exactly once in valid + dead-letter, read_committed by Kafka's own consumer.
    const [javaValid, javaDead] = await Promise.all([readWithConsoleConsumer(brokers, validTopic(raw)), readWithConsoleConsumer(brokers, dlq)]);
    const byJava = problems(whereEach(javaValid.map((m) => m.value), javaDead.map((m) => m.value), raw));
    expect(byJava.slice(0, 20), `${byJava.length} events not exactly once`).toEqual([]);

    // The same with kafkajs (read_committed), the client seg's jobs use: with two partitions at a
    // time, aborted transactions overlap, which patched kafkajs handles (patches/kafkajs@2.2.4.patch).
    const read = await readTopics(kafka, admin, [validTopic(raw), dlq], { timeoutMs: 120_000 });
    const byKafkajs = problems(whereEach(read.get(validTopic(raw))!.map((m) => m.value!.toString()), read.get(dlq)!.map((m) => m.value!.toString()), raw));
    expect(byKafkajs.slice(0, 20), `${byKafkajs.length} events not exactly once`).toEqual([]);

    // The crashes did leave aborted records behind: read_uncommitted sees them.
    const dirty = await readTopics(kafka, admin, [validTopic(raw), dlq], { readUncommitted: true, timeoutMs: 120_000 });
    expect(dirty.get(validTopic(raw))!.length + dirty.get(dlq)!.length).toBeGreaterThan(N);

    // Progress counts equal the input counts, per partition.
    const rows = await readStreamProgress(db, groupId);
    expect(rows.map((r) => r.partition).sort()).toEqual([0, 1]);
    for (const r of rows) {
      const mine = Array.from({ length: N }, (_, i) => i).filter((i) => i % 2 === r.partition);
      const valid = mine.filter((i) => event(i).kind === "valid").length;
      expect({ partition: r.partition, offset: r.offset, received: r.received, valid: r.valid, invalid: r.invalid, lag: r.lag }).toEqual({
        partition: r.partition,
        offset: BigInt(mine.length - 1),
        received: mine.length,
        valid,
        invalid: mine.length - valid,
        lag: 0,
      });
    }
  });
});
