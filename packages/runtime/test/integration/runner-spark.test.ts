/**
 * The Spark executor (when Spark is set up, see infra/spark): a job of several pipelines runs as
 * one merged plan on the Spark driver over the validated topics, gives what `seg eval` gives, and
 * the driver's messages on the results topic are the contract's (each segment with its own run id
 * and version).
 */
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import { createSparkExecutor, parseResultMessage, readNewMessages, type ActivePipeline, type Executor, type ResultMessage } from "@seg/runtime";
import { ensureSpark } from "../../src/spark/index.js";
import { evalProject, produceExamples, setUpExecutorRig, unique, type ExampleCopy, type ExecutorRig } from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";
const ready = ensureSpark().ready;

describe.skipIf(!ready)("the spark executor", () => {
  const name = unique("spark");
  let rig: ExecutorRig | undefined;
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let executor: Executor;
  let brokers: string[];

  beforeAll(async () => {
    rig = await setUpExecutorRig(name, "runner-spark-test");
    ({ brokers, copy, specs, kafka, admin, producer } = rig);
    await produceExamples(producer, copy, { valid: true });
    executor = await createSparkExecutor({ brokers, quickStart: true });
  }, 120_000);

  afterAll(async () => {
    await executor?.close();
    await rig?.close();
  });

  it("runs a merged plan, gives what seg eval gives, and the driver writes the results contract", async () => {
    const pick = specs.filter((s) => ["high_value", "churned", "cart_abandoners", "email_reachable"].includes(s.id));
    const pipelines: ActivePipeline[] = pick.map((spec) => ({ segment: spec.id, version: spec.version, spec, updatedAt: new Date(), lastDeployId: 1 }));
    const runIds = new Map(pick.map((p, i) => [p.id, String(900 + i)]));
    const outcome = await executor.run({
      id: "job-spark",
      pipelines,
      runIds,
      asOf: AS_OF,
      retention: new Map(),
      prune: false,
      signal: new AbortController().signal,
    });
    const expected = await evalProject(copy.dir, AS_OF);
    for (const p of pick) expect(outcome.segments.get(p.id), p.id).toEqual({ status: "succeeded", rows: expected[p.id]!.size });

    // Every message on the results topic is a result message of the contract.
    const raw: string[] = [];
    await readNewMessages({
      kafka,
      admin,
      groupId: unique("reader"),
      topics: [{ topic: pick[0]!.outputs.resultsTopic, from: new Map() }],
      onChunk: async (_t, messages) => void raw.push(...messages.map((m) => m.value ?? "")),
    });
    const parsed = raw.map((v) => parseResultMessage(v));
    expect(raw.filter((_, i) => parsed[i] === undefined)).toEqual([]);
    const messages = parsed as ResultMessage[];
    for (const p of pick) {
      const mine = messages.filter((m) => m.segment === p.id);
      const members = mine.flatMap((m) => (m.type === "member" ? [m] : []));
      expect(mine.filter((m) => m.type === "complete"), p.id).toEqual([
        { type: "complete", segment: p.id, runId: runIds.get(p.id), version: p.version, asOf: AS_OF, rows: expected[p.id]!.size },
      ]);
      expect(new Set(members.map((m) => m.runId)), p.id).toEqual(new Set(members.length > 0 ? [runIds.get(p.id)] : []));
      expect([...new Set(members.map((m) => m.entityId))].sort(), p.id).toEqual([...expected[p.id]!.members].sort());
      for (const m of members) expect(m.metrics, `${p.id} ${m.entityId}`).toEqual(expected[p.id]!.metrics[m.entityId]);
    }
    expect(pick.some((p) => expected[p.id]!.size > 0)).toBe(true);
  }, 240_000);
});
