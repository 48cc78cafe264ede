/**
 * The Spark driver with Kafka on both ends (local broker: infra/kafka, started when needed): it
 * reads each source topic from `as_of - lookback` by message timestamp, takes the latest record
 * per key of a profile topic (a null value deletes), writes the results contract's messages
 * (contracts/messages.ts) to a results topic: members keyed by entity id, then one complete message
 * per segment with its spec's version. The members must equal the DuckDB engine's over the same
 * data as files.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Admin, Kafka } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluatePlan, type EvaluationResult } from "@seg/compiler/engine";
import { createKafka, parseResultMessage, type CompleteMessage } from "@seg/runtime";
import { runSparkDriver, setupSpark } from "../../src/spark/index.js";
import { ensureKafka } from "../support/kafka-broker.js";
import { EXAMPLE_AS_OF, compileExampleProject, examplesData, normalizeMembers, type SparkExample } from "../support/spark-fixtures.js";

const SEGMENTS = ["high_value", "lapsing_spenders", "accelerating_spenders", "direct_visitors", "engaged_readers", "gen_z", "email_reachable"];
const DAY = 86_400_000;

describe("the Spark driver over Kafka", () => {
  let brokers: string[];
  let kafka: Kafka;
  let admin: Admin;
  let example: SparkExample;
  let duck: EvaluationResult;
  const suffix = randomBytes(4).toString("hex");
  const topic = (name: string) => `seg-test-spark-${name}-${suffix}`;
  const resultsTopic = topic("results");

  beforeAll(async () => {
    await setupSpark();
    brokers = await ensureKafka();
    kafka = await createKafka({ brokers, clientId: "seg-spark-test" });
    admin = kafka.admin();
    await admin.connect();
    example = compileExampleProject();
    duck = await evaluatePlan(example.plan, { dataDir: examplesData, asOf: EXAMPLE_AS_OF });
  }, 600_000);

  afterAll(async () => {
    if (!admin) return;
    const mine = (await admin.listTopics()).filter((t) => t.endsWith(suffix));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => {});
    await admin.disconnect();
  });

  it(
    "reads only what the windows need, and writes members then complete messages",
    async () => {
      const specs = example.specs
        .filter((s) => SEGMENTS.includes(s.id))
        .map((s) => ({ ...s, sources: s.sources.map((src) => ({ ...src, topic: topic(src.name) })) }));
      expect(specs).toHaveLength(SEGMENTS.length);
      const sourceNames = [...new Set(specs.flatMap((s) => s.sources.map((x) => x.name)))].sort();
      await admin.createTopics({ topics: [...sourceNames.map((n) => ({ topic: topic(n), numPartitions: 2 })), { topic: resultsTopic, numPartitions: 2 }], waitForLeaders: true });

      const producer = kafka.producer();
      await producer.connect();
      const rows = (name: string) =>
        readFileSync(join(examplesData, `${name}.jsonl`), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => ({ line: l, record: JSON.parse(l) as Record<string, unknown> }));
      const expectedRead: Record<string, number> = {};
      for (const name of sourceNames) {
        const source = specs.flatMap((s) => s.sources).find((s) => s.name === name)!;
        let list = rows(name);
        if (source.kind === "event") {
          // produced in time order, each with its event time as the message timestamp
          list = list.sort((a, b) => Date.parse(String(a.record[source.time!])) - Date.parse(String(b.record[source.time!])));
          // the longest window of any spec on this source
          const lookback = Math.max(...specs.flatMap((s) => s.sources).filter((s) => s.name === name).map((s) => s.lookbackMs!));
          const from = Date.parse(EXAMPLE_AS_OF) - lookback;
          expectedRead[name] = list.filter((r) => Date.parse(String(r.record[source.time!])) >= from).length;
        }
        const messages = list.map((r) => ({
          key: String(r.record[source.key]),
          value: r.line,
          ...(source.kind === "event" ? { timestamp: String(Date.parse(String(r.record[source.time!]))) } : {}),
        }));
        if (name === "customer") {
          // a customer that is deleted again (tombstone), and one sent twice
          messages.unshift({ key: "c999", value: messages[0]!.value.replace('"c001"', '"c999"') });
          messages.push({ key: "c999", value: null as unknown as string }, messages[1]!);
        }
        if (name === "purchase") messages.push({ key: "c001", value: "{not json", timestamp: String(Date.parse(EXAMPLE_AS_OF) - DAY) });
        await producer.send({ topic: topic(name), messages });
      }
      await producer.disconnect();
      expectedRead["purchase"] = (expectedRead["purchase"] ?? 0) + 1;

      const result = await runSparkDriver({
        specs,
        asOf: EXAMPLE_AS_OF,
        input: `kafka:${brokers.join(",")}`,
        output: `kafka:${brokers.join(",")}`,
        resultsTopic,
        runId: `run-${suffix}`,
        kafkaSlackMs: 0,
      });
      // events: only from as_of - lookback; profiles: all, latest per key, deletions applied
      for (const [name, n] of Object.entries(expectedRead)) expect(result.sources[name]?.rows, name).toBe(n);
      expect(result.sources["customer"]).toMatchObject({ rows: 40, valid: 40 });
      expect(result.malformed["purchase"]).toBe(1);

      // read the results topic back until every segment's complete message arrived
      const consumer = kafka.consumer({ groupId: `seg-spark-test-${suffix}` });
      await consumer.connect();
      await consumer.subscribe({ topic: resultsTopic, fromBeginning: true });
      const members: Record<string, { id: string; metrics: Record<string, unknown> }[]> = {};
      const markers: Record<string, CompleteMessage[]> = {};
      const unparsed: string[] = [];
      const done = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            const text = message.value!.toString();
            const value = parseResultMessage(text);
            if (value === undefined) unparsed.push(text);
            else if (value.type === "complete") {
              (markers[value.segment] ??= []).push(value);
              expect(message.key!.toString()).toBe(value.segment);
            } else {
              expect(value.runId).toBe(`run-${suffix}`);
              expect(Object.keys(value).sort()).toEqual(["entityId", "metrics", "runId", "segment", "type"]);
              expect(message.key!.toString()).toBe(value.entityId);
              (members[value.segment] ??= []).push({ id: value.entityId, metrics: value.metrics });
            }
            // a run is all there once its complete message and `rows` distinct members arrived, on whatever partitions
            const complete = (s: string) => markers[s]?.length === 1 && new Set((members[s] ?? []).map((m) => m.id)).size >= markers[s]![0]!.rows;
            if (SEGMENTS.every(complete)) resolve();
          },
        });
      });
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`complete messages seen: ${JSON.stringify(markers)}`)), 60_000))]);
      await consumer.disconnect();

      expect(unparsed).toEqual([]);
      for (const name of SEGMENTS) {
        const expected = duck.segments[name]!.members;
        const got = (members[name] ?? []).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        expect(normalizeMembers(got), name).toEqual(normalizeMembers(expected));
        const version = specs.find((s) => s.id === name)!.version;
        expect(markers[name], name).toEqual([{ type: "complete", segment: name, runId: `run-${suffix}`, version, asOf: "2026-11-01T00:00:00.000Z", rows: expected.length }]);
        expect(result.segments[name]?.size).toBe(expected.length);
      }
    },
    600_000,
  );
});
