/**
 * Writing a run's results to the results topic as the contract says (contracts/messages.ts): one
 * `MemberMessage` per member (key: the entity id), then one `CompleteMessage` (key: the segment)
 * after all of them. Sent with an idempotent producer in batches; a run counts as written once
 * every send was acknowledged.
 */
import type { Producer } from "kafkajs";
import type { CompleteMessage, MemberMessage } from "../contracts/messages.js";

/** A segment's members in one run. */
export interface RunResult {
  segment: string;
  runId: string;
  /** The pipeline version the run used. */
  version: string;
  asOf: string;
  topic: string;
  members: { entityId: string; metrics: Record<string, unknown> }[];
}

/** Messages per send (default). */
export const RESULT_BATCH = 5_000;

/** Sends every member of `run`, then its completion marker. */
export async function writeRunResults(producer: Producer, run: RunResult, batch = RESULT_BATCH, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < run.members.length; i += batch) {
    if (signal?.aborted) throw new Error("cancelled while writing results");
    const part = run.members.slice(i, i + batch);
    await producer.send({
      topic: run.topic,
      messages: part.map((m) => {
        const message: MemberMessage = { type: "member", segment: run.segment, runId: run.runId, entityId: m.entityId, metrics: m.metrics };
        return { key: m.entityId, value: JSON.stringify(message) };
      }),
    });
  }
  if (signal?.aborted) throw new Error("cancelled while writing results");
  const complete: CompleteMessage = { type: "complete", segment: run.segment, runId: run.runId, version: run.version, asOf: run.asOf, rows: run.members.length };
  await producer.send({ topic: run.topic, messages: [{ key: run.segment, value: JSON.stringify(complete) }] });
}
