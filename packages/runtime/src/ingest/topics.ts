/**
 * The topics of ingestion: which raw topics it reads, and creating the raw, valid and dead-letter
 * topics that are missing.
 */
import type { Admin } from "kafkajs";
import { validTopic } from "../contracts/messages.js";
import type { EventClassifier } from "./classify.js";
import type { IngestionLog, IngestionOptions } from "./options.js";

/** Room for record overhead on the valid topics ingestion creates. */
const TOPIC_OVERHEAD_BYTES = 64 * 1024;

/** The raw topics to read: the registry's, plus `extraTopics`; never an output of ingestion. */
export async function resolveTopics(admin: Admin, classifier: EventClassifier, options: IngestionOptions): Promise<string[]> {
  const own = [...classifier.routes.keys()];
  const outputs = new Set([options.deadLetterTopic, ...own.map(validTopic)]);
  const isOutput = (t: string) => outputs.has(t) || t.endsWith(".valid");
  for (const t of own) {
    if (isOutput(t)) throw new Error(`schema topic ${t} is also an output of ingestion (a valid topic or the dead-letter topic)`);
  }
  const topics = new Set(own);
  const patterns = (options.extraTopics ?? []).filter((t): t is RegExp => t instanceof RegExp);
  const existing = patterns.length > 0 ? await admin.listTopics() : [];
  for (const t of options.extraTopics ?? []) {
    if (typeof t === "string") {
      if (isOutput(t)) throw new Error(`extra topic ${t} is an output of ingestion (a valid topic or the dead-letter topic)`);
      topics.add(t);
    } else {
      for (const name of existing) if (t.test(name) && !isOutput(name) && !name.startsWith("__")) topics.add(name);
    }
  }
  if (topics.size === 0) throw new Error("nothing to ingest: the registry has no schemas and no extra topics were given");
  return [...topics].sort();
}

/** Creates missing raw topics, valid topics (as many partitions as their raw topic) and the dead-letter topic. */
export async function ensureTopics(admin: Admin, raw: readonly string[], maxMessageBytes: number, deadLetterTopic: string, log: IngestionLog): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missingRaw = raw.filter((t) => !existing.has(t));
  if (missingRaw.length > 0) {
    await admin.createTopics({ topics: missingRaw.map((topic) => ({ topic })), waitForLeaders: true });
    log("info", `created raw topics ${missingRaw.join(", ")}`);
  }
  const meta = await admin.fetchTopicMetadata({ topics: [...raw] });
  const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const maxBytes = String(maxMessageBytes + TOPIC_OVERHEAD_BYTES);
  const create = raw
    .map((t) => validTopic(t))
    .filter((t) => !existing.has(t))
    .map((topic) => ({ topic, numPartitions: partitions.get(topic.slice(0, -".valid".length)) ?? 1, configEntries: [{ name: "max.message.bytes", value: maxBytes }] }));
  const dlq = existing.has(deadLetterTopic) ? [] : [{ topic: deadLetterTopic }];
  if (create.length + dlq.length > 0) {
    await admin.createTopics({ topics: [...create, ...dlq], waitForLeaders: true });
    log("info", `created topics ${[...create, ...dlq].map((t) => t.topic).join(", ")}`);
  }
}
