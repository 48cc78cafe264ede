/**
 * The kafkajs patch (patches/kafkajs@2.2.4.patch) that ingestion and the mover depend on: the fast
 * record-batch encoder writes exactly the bytes of kafkajs's per-record encoder, with a correct
 * CRC-32C, and decodes back; a produce request encoded in one buffer (`encodeInto`) has exactly the
 * bytes of the request encoded part by part; the Math.imul murmur2 partitions like Java's client; the aborted
 * transactions of a fetch are honoured whatever order the broker lists them in.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";

const require = createRequire(import.meta.url);
const kafkajsDir = require.resolve("kafkajs").replace(/index\.js$/, "");
const load = (path: string): unknown => require(`${kafkajsDir}src/${path}`);

interface EncoderLike {
  buffer: Buffer;
}
type Msg = { key?: Buffer | string | null; value: Buffer | string | null; timestamp?: string | number; headers?: Record<string, string | Buffer | (string | Buffer)[]> };

const recordBatch = load("protocol/recordBatch/v0/index.js") as {
  RecordBatch: (o: Record<string, unknown>) => Promise<EncoderLike>;
  RecordBatchFromMessages: (o: Record<string, unknown>) => Promise<EncoderLike>;
};
const encodeRecord = load("protocol/recordBatch/record/v0/index.js") as (o: Record<string, unknown>) => EncoderLike;
const Long = load("utils/long.js") as { fromValue(v: unknown): unknown };
const Decoder = load("protocol/decoder.js") as new (b: Buffer) => unknown;
const decodeBatch = load("protocol/recordBatch/v0/decoder.js") as (d: unknown) => Promise<{
  records: { key: Buffer | null; value: Buffer | null; timestamp: string; headers: Record<string, Buffer | Buffer[]> }[];
}>;
const murmur2 = load("producer/partitioners/default/murmur2.js") as (key: string | Buffer) => number;
const filterAbortedMessages = load("consumer/filterAbortedMessages.js") as (o: { messages: unknown[]; abortedTransactions: unknown[] }) => { offset: string }[];

/** CRC-32C, bit by bit (the reference). */
function crc32cReference(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function messages(n: number, withHeaders: boolean): Msg[] {
  const out: Msg[] = [];
  for (let i = 0; i < n; i++) {
    const m: Msg = {
      key: i % 5 === 0 ? null : i % 5 === 1 ? randomBytes(i % 40) : `key-${i}-ü`,
      value: i % 7 === 2 ? null : i % 7 === 3 ? `välue-${"x".repeat(i % 300)}` : randomBytes((i * 37) % 700),
      // Spread over more than 2^31 ms: 64-bit timestamp deltas.
      timestamp: String(1_780_000_000_000 + ((i * 7_919_000) % 3_000_000_000)),
    };
    if (withHeaders && i % 3 === 0) m.headers = { h: "v", many: [Buffer.from("x"), "y"] };
    out.push(m);
  }
  return out;
}

describe("kafkajs patch: record batches", () => {
  for (const [label, withHeaders, compression] of [
    ["plain", false, 0],
    ["with headers", true, 0],
    ["gzip", false, 1],
  ] as const) {
    it(`encodes the same bytes as one Record per message (${label})`, async () => {
      const msgs = messages(500, withHeaders);
      const first = msgs.map((m) => m.timestamp!).sort()[0]!;
      const max = msgs.map((m) => m.timestamp!).sort()[msgs.length - 1]!;
      const common = { compression, firstTimestamp: first, maxTimestamp: max, producerId: Long.fromValue(77), producerEpoch: 2, firstSequence: 9, transactional: true };
      const legacy = await recordBatch.RecordBatch({
        ...common,
        lastOffsetDelta: msgs.length - 1,
        records: msgs.map((m, i) => encodeRecord({ ...m, offsetDelta: i, timestampDelta: Number(m.timestamp) - Number(first) })),
      });
      const fast = await recordBatch.RecordBatchFromMessages({ ...common, messages: msgs, dateNow: 0 });
      if (compression === 0) expect(fast.buffer.equals(legacy.buffer)).toBe(true);

      // Layout: firstOffset (8), length (4), leader epoch (4), magic (1), CRC (4), then the CRC'd body.
      const buf = fast.buffer;
      expect(buf.readInt32BE(8)).toBe(buf.length - 12);
      expect(buf.readUInt32BE(17)).toBe(crc32cReference(buf.subarray(21)));

      const decoded = await decodeBatch(new Decoder(buf));
      expect(decoded.records).toHaveLength(msgs.length);
      decoded.records.forEach((r, i) => {
        const m = msgs[i]!;
        expect(r.key === null ? null : r.key.toString("latin1")).toBe(m.key == null ? null : Buffer.from(m.key).toString("latin1"));
        expect(r.value === null ? null : r.value.toString("latin1")).toBe(m.value === null ? null : Buffer.from(m.value).toString("latin1"));
        expect(r.timestamp).toBe(m.timestamp);
        expect(Object.keys(r.headers).sort()).toEqual(m.headers ? ["h", "many"] : []);
      });
    });
  }

  it("partitions keys like Java's murmur2 (values from Kafka's UtilsTest)", () => {
    expect(murmur2("21")).toBe(-973932308);
    expect(murmur2("foobar")).toBe(-790332482);
    expect(murmur2("a-little-bit-long-string")).toBe(-985981536);
    expect(murmur2("a-little-bit-longer-string")).toBe(-1486304829);
    expect(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")).toBe(-58897971);
    expect(murmur2(Buffer.from([]))).toBe(275646681);
  });
});

describe("kafkajs patch: produce requests in one buffer", () => {
  const createRequest = load("protocol/request.js") as (o: { correlationId: number; clientId: string; request: Record<string, unknown> }) => Promise<EncoderLike>;
  const produceV7 = load("protocol/requests/produce/v7/request.js") as (o: Record<string, unknown>) => Record<string, unknown>;
  afterEach(() => {
    vi.restoreAllMocks();
  });

  for (const [label, compression] of [
    ["plain", 0],
    ["gzip", 1],
  ] as const) {
    it(`has the same bytes as the request encoded part by part (${label})`, async () => {
      // Messages without a timestamp take Date.now(): the same clock for both encodings.
      vi.spyOn(Date, "now").mockReturnValue(1_780_000_000_123);
      const topicData = [0, 1, 2].map((t) => ({
        topic: `topic-${t}-ü`,
        partitions: [0, 1].map((p) => ({
          partition: p,
          firstSequence: 10 * p + t,
          messages: messages(150 + 7 * p, p === 1).map((m, i) => (i % 4 === 0 ? { ...m, timestamp: undefined } : m)),
        })),
      }));
      const request = produceV7({ acks: -1, timeout: 30_000, transactionalId: "tx-1", producerId: Long.fromValue(5), producerEpoch: 1, compression, topicData });
      expect(typeof request["encodeInto"]).toBe("function");
      const { encodeInto: _, ...partByPart } = request;
      const one = await createRequest({ correlationId: 7, clientId: "seg", request });
      const parts = await createRequest({ correlationId: 7, clientId: "seg", request: partByPart });
      expect(one.buffer.length).toBeGreaterThan(10_000);
      expect(one.buffer.equals(parts.buffer)).toBe(true);
      expect(one.buffer.readInt32BE(0)).toBe(one.buffer.length - 4);
    });
  }
});

describe("kafkajs patch: aborted transactions", () => {
  /** Records and markers of producers `1` and `2` (offset → producer, or an abort marker). */
  const log = (entries: [number, "1" | "2", "record" | "abort"][]) =>
    entries.map(([offset, producerId, kind]) => ({
      offset: String(offset),
      key: kind === "abort" ? Buffer.from([0, 0, 0, 0]) : Buffer.from(`k${offset}`),
      value: kind === "abort" ? Buffer.from([0, 0, 0, 0, 0, 0]) : Buffer.from(`v${offset}`),
      isControlRecord: kind === "abort",
      batchContext: { producerId, inTransaction: true },
    }));

  it("drops every aborted record when the broker lists the transactions out of first-offset order", () => {
    const messages = log([
      [10, "1", "record"],
      [11, "2", "record"],
      [12, "1", "record"],
      [13, "2", "abort"],
      [14, "1", "abort"],
    ]);
    // Producer 2 aborted first, so the broker lists it first.
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: "2", firstOffset: "11" },
        { producerId: "1", firstOffset: "10" },
      ],
    });
    expect(kept.filter((m) => !(m as { isControlRecord: boolean }).isControlRecord).map((m) => m.offset)).toEqual([]);
  });

  it("opens every aborted transaction that started before the first record fetched", () => {
    const messages = log([
      [12, "2", "record"],
      [13, "1", "record"],
      [14, "1", "abort"],
      [15, "2", "abort"],
    ]);
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: "1", firstOffset: "10" },
        { producerId: "2", firstOffset: "11" },
      ],
    });
    expect(kept.filter((m) => !(m as { isControlRecord: boolean }).isControlRecord).map((m) => m.offset)).toEqual([]);
  });

  it("keeps a producer's records after its aborted transaction ended", () => {
    const messages = log([
      [10, "1", "record"],
      [11, "1", "abort"],
      [12, "1", "record"],
    ]);
    messages[2]!.batchContext.inTransaction = false;
    const kept = filterAbortedMessages({ messages, abortedTransactions: [{ producerId: "1", firstOffset: "10" }] });
    expect(kept.filter((m) => !(m as { isControlRecord: boolean }).isControlRecord).map((m) => m.offset)).toEqual(["12"]);
  });
});
