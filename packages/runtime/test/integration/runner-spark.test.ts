/**
 * The Spark executor (when Spark is set up, see infra/spark): a job of several pipelines runs as
 * one merged plan on the Spark driver over the validated topics, and gives what `seg eval` gives.
 */
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import { createKafka, createSparkExecutor, type ActivePipeline, type Executor } from "@seg/runtime";
import { ensureSpark } from "../../src/spark/index.js";
import { compileSpecs, copyExamples, ensureRunnerServices, evalProject, produceExamples, testOutputs, testProducer, unique, type ExampleCopy } from "../support/runner-fixtures.js";

const AS_OF = "2026-11-01T00:00:00.000Z";
const ready = ensureSpark().ready;

describe.skipIf(!ready)("the spark executor", () => {
  const name = unique("spark");
  let copy: ExampleCopy;
  let specs: PipelineSpec[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let executor: Executor;
  let brokers: string[];

  beforeAll(async () => {
    brokers = await ensureRunnerServices();
    copy = copyExamples(`${name}.`);
    specs = compileSpecs(copy.dir, testOutputs(`${name}.`, `${name}:`)).specs;
    kafka = await createKafka({ brokers, clientId: "runner-spark-test", retries: 5 });
    admin = kafka.admin();
    await admin.connect();
    producer = await testProducer(brokers);
    await produceExamples(producer, copy, { valid: true });
    executor = await createSparkExecutor({ brokers, producer });
  }, 120_000);

  afterAll(async () => {
    await executor?.close();
    await producer?.disconnect();
    await admin?.disconnect();
    copy?.remove();
  });

  it("runs a merged plan and gives what seg eval gives", async () => {
    const pick = specs.filter((s) => ["high_value", "churned", "cart_abandoners", "email_reachable"].includes(s.id));
    const pipelines: ActivePipeline[] = pick.map((spec) => ({ segment: spec.id, version: spec.version, spec, updatedAt: new Date(), lastDeployId: 1 }));
    const outcome = await executor.run({
      id: "job-spark",
      pipelines,
      runIds: new Map(pick.map((p, i) => [p.id, String(900 + i)])),
      asOf: AS_OF,
      retention: new Map(),
      prune: false,
      signal: new AbortController().signal,
    });
    const expected = await evalProject(copy.dir, AS_OF);
    for (const p of pick) expect(outcome.segments.get(p.id), p.id).toEqual({ status: "succeeded", rows: expected[p.id]!.size });
  }, 240_000);
});
