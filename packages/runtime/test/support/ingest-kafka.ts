/**
 * Kafka helpers for ingestion tests: produce raw events, read topics to their end with a chosen
 * isolation level, wait for a consumer group to commit everything, delete a test's topics.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Admin, Kafka, Message } from "kafkajs";

const execFileAsync = promisify(execFile);

/** A message read back. */
export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  timestamp: string;
  headers: Record<string, string>;
}

/** Sends `messages` (each with its partition) in chunks of `chunk`. */
export async function produce(kafka: Kafka, topic: string, messages: Message[], chunk = 500): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk) await producer.send({ topic, messages: messages.slice(i, i + chunk), acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

/** The end offset (high watermark) of every partition of `topic`. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
}

/**
 * Every message of `topics`, read from the beginning until each partition's position reaches its
 * end offset (transaction markers and aborted records count as read). `readUncommitted` also
 * returns records of aborted transactions.
 */
export async function readTopics(
  kafka: Kafka,
  admin: Admin,
  topics: readonly string[],
  options: { readUncommitted?: boolean; timeoutMs?: number } = {},
): Promise<Map<string, ReadMessage[]>> {
  const out = new Map<string, ReadMessage[]>(topics.map((t) => [t, []]));
  const want = new Map<string, bigint>();
  for (const t of topics) for (const [p, high] of await endOffsets(admin, t)) if (high > 0n) want.set(`${t}/${p}`, high);
  if (want.size === 0) return out;
  const position = new Map<string, bigint>();
  const consumer = kafka.consumer({ groupId: `seg-test-reader-${randomBytes(4).toString("hex")}`, readUncommitted: options.readUncommitted ?? false, maxWaitTimeInMs: 200 });
  const timeoutMs = options.timeoutMs ?? 60_000;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const behind = [...want].filter(([k, high]) => (position.get(k) ?? 0n) < high).map(([k, high]) => `${k} at ${position.get(k) ?? 0n} of ${high}`);
        reject(new Error(`reading ${topics.join(", ")} timed out after ${timeoutMs} ms; behind: ${behind.join("; ")}`));
      }, timeoutMs);
      const check = () => {
        for (const [k, high] of want) if ((position.get(k) ?? 0n) < high) return;
        clearTimeout(timer);
        resolve();
      };
      // Every fetched batch, including those with only markers or aborted records, ends here.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        const k = `${e.payload.topic}/${e.payload.partition}`;
        const next = BigInt(e.payload.lastOffset) + 1n;
        if (next > (position.get(k) ?? 0n)) position.set(k, next);
        check();
      });
      void consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              const headers: Record<string, string> = {};
              for (const [hk, hv] of Object.entries(m.headers ?? {})) if (hv !== undefined) headers[hk] = String(hv);
              out.get(batch.topic)!.push({
                topic: batch.topic,
                partition: batch.partition,
                offset: m.offset,
                key: m.key === null ? null : m.key.toString(),
                value: m.value,
                timestamp: m.timestamp,
                headers,
              });
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The committed offsets of a group on a topic, by partition (-1 when none). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const r = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((r[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
}

/** Waits until `groupId` has committed the end offset of every partition of `topics`. */
export async function waitForCommitted(admin: Admin, groupId: string, topics: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    let done = true;
    const parts: string[] = [];
    for (const t of topics) {
      const ends = await endOffsets(admin, t);
      const committed = await committedOffsets(admin, groupId, t);
      for (const [p, high] of ends) {
        const c = committed.get(p) ?? -1n;
        parts.push(`${t}[${p}] ${c}/${high}`);
        if (high > 0n && c < high) done = false;
      }
    }
    if (done) return;
    last = parts.join(", ");
    if (Date.now() > deadline) throw new Error(`group ${groupId} did not commit everything within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A test's teardown: deletes every topic whose name starts with one of `prefixes` (a failed delete
 * is ignored), then disconnects `admin`. Nothing when the admin was never made.
 */
export async function deleteTopicsAndDisconnect(admin: Admin | undefined, ...prefixes: string[]): Promise<void> {
  if (!admin) return;
  const mine = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
  if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => {});
  await admin.disconnect();
}

/** Polls `check` every `everyMs` until it returns a value other than undefined. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const kafkaLib = fileURLToPath(new URL("../../../../infra/kafka/lib.sh", import.meta.url));

/**
 * Every message of `topic` as Kafka's own console consumer (Java, read_committed) returns it: the
 * reference for what read_committed means (kafkajs 2.2.4 lets aborted records through when aborted
 * transactions of several producers overlap). Stops 3 s after the last message.
 */
export async function readWithConsoleConsumer(brokers: readonly string[], topic: string, timeoutMs = 120_000): Promise<{ partition: number; offset: string; value: string }[]> {
  const script = `source "$1"; cp="$(kafka_classpath)"; main="$(kafka_main_class "$cp" org.apache.kafka.tools.consumer.ConsoleConsumer kafka.tools.ConsoleConsumer)"; shift
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $KAFKA_LOG4J -cp "$cp" "$main" "$@"`;
  const args = [
    "-c",
    script,
    "read",
    kafkaLib,
    "--bootstrap-server",
    brokers.join(","),
    "--topic",
    topic,
    "--from-beginning",
    "--isolation-level",
    "read_committed",
    "--timeout-ms",
    "3000",
    "--property",
    "print.partition=true",
    "--property",
    "print.offset=true",
  ];
  const { stdout } = await execFileAsync("bash", args, { maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs }).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
    // The console consumer exits 1 after --timeout-ms with no more messages: that is the end.
    if (typeof e.stdout === "string" && /TimeoutException/.test(e.stderr ?? "")) return { stdout: e.stdout };
    throw new Error(`console consumer failed: ${String(e.stderr ?? e)}`);
  });
  const out: { partition: number; offset: string; value: string }[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^Partition:(\d+)\tOffset:(\d+)\t(.*)$/.exec(line);
    if (m) out.push({ partition: Number(m[1]), offset: m[2]!, value: m[3]! });
  }
  return out;
}
