/**
 * The kafkajs patch (patches/kafkajs@2.2.4.patch) that ingestion and the mover depend on: the fast
 * record-batch encoder writes exactly the bytes of kafkajs's per-record encoder, with a correct
 * CRC-32C, and decodes back; a produce request encoded in one buffer (`encodeInto`) has exactly the
 * bytes of the request encoded part by part; the Math.imul murmur2 partitions like Java's client; the aborted
 * transactions of a fetch are honoured whatever order the broker lists them in; records decoded in
 * place equal the records of kafkajs's per-record decoder; short ASCII keys are hashed and written
 * from their character codes with the bytes of their UTF-8 encoding; numeric timestamps (what
 * ingestion sends) give the bytes and the batch timestamps of their text; a send is grouped by
 * partition as kafkajs grouped it.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
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
      key: i % 5 === 0 ? null : i % 5 === 1 ? randomBytes(i % 40) : i % 5 === 2 ? `key-${i}` : `key-${i}-ü`,
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

describe("kafkajs patch: grouping a send by partition", () => {
  const group = load("producer/groupMessagesPerPartition.js") as (o: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: (a: { message: unknown }) => unknown }) => Record<string, unknown[]>;
  /** kafkajs 2.2.4's own grouping. */
  const original = (messages: unknown[], partitioner: (a: { message: unknown }) => unknown) =>
    messages.reduce<Record<string, unknown[]>>((result, message) => {
      const partition = partitioner({ message }) as string;
      const current = result[partition] || [];
      return Object.assign(result, { [partition]: [...current, message] });
    }, {});

  it("groups like kafkajs, whatever the partitioner returns", () => {
    const partition = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(-1, 1.5, "x", "3"));
    fc.assert(
      fc.property(fc.array(partition, { maxLength: 60 }), (parts) => {
        const messages = parts.map((p, i) => ({ i, p }));
        const partitioner = ({ message }: { message: unknown }) => (message as { p: unknown }).p;
        const got = group({ topic: "t", partitionMetadata: [{}], messages, partitioner });
        const want = original(messages, partitioner);
        expect(Object.keys(got)).toEqual(Object.keys(want));
        for (const k of Object.keys(want)) expect([...got[k]!]).toEqual(want[k]);
      }),
      { numRuns: 300 },
    );
  });
});

describe("kafkajs patch: numeric timestamps", () => {
  const { batchTimestamps } = load("protocol/requests/produce/v3/request.js") as {
    batchTimestamps: (messages: { timestamp?: unknown }[]) => { firstTimestamp: unknown; maxTimestamp: unknown };
  };

  it("picks a batch's first and last timestamps as kafkajs's sort() did, numbers or text", () => {
    const timestamp = fc.oneof(
      fc.integer({ min: 1_000_000_000_000, max: 9_999_999_999_999 }),
      fc.integer({ min: 1_780_000_000_000, max: 1_780_000_000_009 }),
      fc.integer({ min: 0, max: 20_000_000_000_000 }),
      fc.integer({ min: 1_780_000_000_000, max: 1_780_000_000_009 }).map(String),
      fc.constantFrom(undefined, null),
    );
    fc.assert(
      fc.property(fc.array(timestamp, { minLength: 1, maxLength: 30 }), (ts) => {
        const sorted = ts.filter((t) => t != null).sort();
        const got = batchTimestamps(ts.map((t) => ({ timestamp: t })));
        if (sorted.length === 0) return;
        expect(got.firstTimestamp).toBe(sorted[0]);
        expect(got.maxTimestamp).toBe(sorted[sorted.length - 1]);
      }),
      { numRuns: 500 },
    );
  });

  it("encodes numeric timestamps with the bytes of their text", async () => {
    const text = messages(300, false);
    const numeric = text.map((m, i) => (i % 3 === 0 ? m : { ...m, timestamp: Number(m.timestamp) }));
    const first = text.map((m) => m.timestamp!).sort()[0]!;
    const max = text.map((m) => m.timestamp!).sort()[text.length - 1]!;
    const common = { compression: 0, producerId: Long.fromValue(77), producerEpoch: 2, firstSequence: 9, transactional: true, dateNow: 0 };
    const a = await recordBatch.RecordBatchFromMessages({ ...common, messages: text, firstTimestamp: first, maxTimestamp: max });
    const b = await recordBatch.RecordBatchFromMessages({ ...common, messages: numeric, firstTimestamp: Number(first), maxTimestamp: Number(max) });
    expect(b.buffer.equals(a.buffer)).toBe(true);
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

describe("kafkajs patch: records decoded in place", () => {
  const recordDecoder = load("protocol/recordBatch/record/v0/decoder.js") as {
    inPlaceBase: (context: Record<string, unknown>) => unknown;
    decodeInPlace: (...args: unknown[]) => unknown;
  };
  const Batch = load("consumer/batch.js") as new (topic: string, fetchedOffset: string, data: Record<string, unknown>) => { messages: { offset: string }[] };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** A record batch of `msgs` with this first offset; `logAppendTime` sets the batch's timestamp type. */
  async function batchBytes(msgs: (Msg & { timestampDelta: number | unknown })[], firstOffset: bigint, firstTimestamp: string, compression: number, logAppendTime: boolean): Promise<Buffer> {
    const records = msgs.map((m, i) => encodeRecord({ ...m, offsetDelta: i }));
    const batch = await recordBatch.RecordBatch({
      compression,
      records,
      firstTimestamp,
      maxTimestamp: String(BigInt(firstTimestamp) + 7n),
      lastOffsetDelta: msgs.length - 1,
      transactional: true,
      producerId: Long.fromValue(7),
      producerEpoch: 0,
      firstSequence: 0,
    });
    const buf = Buffer.from(batch.buffer);
    buf.writeBigInt64BE(firstOffset, 0);
    // Attributes (after first offset, length, leader epoch, magic and CRC): bit 3 is the timestamp type.
    if (logAppendTime) buf.writeInt16BE(buf.readInt16BE(21) | 0x8, 21);
    return buf;
  }

  /**
   * `rounds` record batches drawn from `seed`: keys null, bytes or text; values null or bytes;
   * timestamp deltas small, negative, past 2^32 and past 2^53 (a Long); some records with headers;
   * first offsets past 2^53 and timestamps that are not safe integers (those take kafkajs's own
   * decoder); some batches compressed, some with log-append time.
   */
  async function* randomBatches(seed: number, rounds: number): AsyncGenerator<{ msgs: Msg[]; buf: Buffer }> {
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    for (let round = 0; round < rounds; round++) {
      const msgs = Array.from({ length: 1 + next(40) }, (_, i) => {
        const m: Msg & { timestampDelta: number | unknown } = {
          key: next(4) === 0 ? null : next(2) === 0 ? randomBytes(next(30)) : `k-${i}-ü`,
          value: next(6) === 0 ? null : randomBytes(next(300)),
          timestampDelta: [0, next(1000), -next(1000), next(2 ** 30) * 2 ** 20, Long.fromValue("4611686018427387904")][next(5)],
        };
        if (next(5) === 0) m.headers = { a: "x", b: [Buffer.from("y"), "z"] };
        return m;
      });
      const firstOffset = [0n, 12_345n, 2n ** 53n - 3n, 2n ** 60n][next(4)]!;
      const firstTimestamp = ["0", "1780000000000", "9007199254741000", "-5"][next(4)]!;
      yield { msgs, buf: await batchBytes(msgs, firstOffset, firstTimestamp, next(4) === 0 ? 1 : 0, next(5) === 0) };
    }
  }

  it("decodes the same records as one decoder per record, and decodes plain records in place", async () => {
    const inPlace = vi.spyOn(recordDecoder, "decodeInPlace");
    let plain = 0;
    for await (const { msgs, buf } of randomBatches(7, 120)) {
      inPlace.mockClear();
      const fast = await decodeBatch(new Decoder(buf));
      plain += inPlace.mock.results.filter((r) => r.value !== null).length;
      // The reference: every record through kafkajs's per-record decoder.
      const base = vi.spyOn(recordDecoder, "inPlaceBase").mockReturnValue(null);
      const reference = await decodeBatch(new Decoder(buf));
      base.mockRestore();
      expect(fast).toEqual(reference);
      expect(fast.records).toHaveLength(msgs.length);
    }
    expect(plain).toBeGreaterThan(500);
  });

  it("reads plain records as record views equal to the messages kafkajs decodes, when asked", async () => {
    const decodeViews = decodeBatch as unknown as (d: unknown, views: boolean) => Promise<{ records: Record<string, unknown>[] }>;
    let views = 0;
    let others = 0;
    for await (const { buf } of randomBatches(11, 120)) {
      const reference = await decodeBatch(new Decoder(buf));
      const viewed = await decodeViews(new Decoder(buf), true);
      expect(viewed.records).toHaveLength(reference.records.length);
      viewed.records.forEach((r, i) => {
        const ref = reference.records[i] as unknown as Record<string, unknown>;
        if (typeof r["offsetNumber"] === "number") {
          views++;
          // Only records without headers; every field kafkajs gives, made on demand.
          expect(ref["headers"]).toEqual({});
          expect((r as { toJSON(): unknown }).toJSON()).toEqual(ref);
          for (const field of ["offset", "timestamp", "key", "value", "headers", "isControlRecord", "magicByte", "attributes", "batchContext"]) expect(r[field]).toEqual(ref[field]);
          expect(r["offsetNumber"]).toBe(Number(ref["offset"]));
          const bytes = r["bytes"] as Buffer;
          const range = (start: unknown, length: unknown) => ((length as number) < 0 ? null : bytes.subarray(start as number, (start as number) + (length as number)));
          expect(range(r["keyStart"], r["keyLength"])).toEqual(ref["key"]);
          expect(range(r["valueStart"], r["valueLength"])).toEqual(ref["value"]);
        } else {
          others++;
          expect(r).toEqual(ref);
        }
      });
    }
    expect(views).toBeGreaterThan(500);
    expect(others).toBeGreaterThan(50);
  });

  it("writes a record view given as a value with the bytes of its value", async () => {
    const decodeViews = decodeBatch as unknown as (d: unknown, views: boolean) => Promise<{ records: Record<string, unknown>[] }>;
    const source = messages(60, false).map((m) => ({ ...m, value: typeof m.value === "string" ? Buffer.from(m.value) : m.value }));
    const buf = await batchBytes(source.map((m, i) => ({ ...m, timestampDelta: i })), 100n, "1780000000000", 0, false);
    const viewed = (await decodeViews(new Decoder(buf), true)).records;
    expect(viewed.every((r) => typeof r["offsetNumber"] === "number")).toBe(true);
    // Forwarded as ingestion does: a new key and timestamp, the consumed record as the value;
    // some with headers or a key that is not short ASCII (the other paths of the writer).
    const forward = (value: (r: Record<string, unknown>) => unknown) =>
      viewed.map((r, i) => ({
        key: i % 9 === 4 ? `clé-${i}` : `c${i}`,
        value: value(r),
        timestamp: 1_780_000_000_000 + i * 1000,
        ...(i % 11 === 5 ? { headers: { h: "v" } } : {}),
      }));
    const options = { compression: 0, firstSequence: 0, transactional: true, producerId: Long.fromValue(3), producerEpoch: 0, dateNow: 0, firstTimestamp: 1_780_000_000_000, maxTimestamp: 1_780_000_000_000 + (viewed.length - 1) * 1000 };
    const fromViews = await recordBatch.RecordBatchFromMessages({ ...options, messages: forward((r) => r) });
    const fromBuffers = await recordBatch.RecordBatchFromMessages({ ...options, messages: forward((r) => r["value"]) });
    expect(Buffer.compare(fromViews.buffer, fromBuffers.buffer)).toBe(0);
    // A view made by another copy of kafkajs is known by its shape.
    const lookalikes = await recordBatch.RecordBatchFromMessages({ ...options, messages: forward((r) => ({ bytes: r["bytes"], valueStart: r["valueStart"], valueLength: r["valueLength"] })) });
    expect(Buffer.compare(lookalikes.buffer, fromBuffers.buffer)).toBe(0);
  });

  it("hands record views over without copying kafkajs's arrays when nothing is left out, and leaves out what it must", async () => {
    const decodeViews = decodeBatch as unknown as (d: unknown, views: boolean) => Promise<{ records: { offsetNumber: number; offset: string; timestampNumber: number; timestamp: string }[] }>;
    const msgs = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`v${i}`), timestampDelta: i * 1000 }));
    const buf = await batchBytes(msgs, 100n, "1780000000000", 0, false);
    const views = (await decodeViews(new Decoder(buf), true)).records;
    expect(views.map((v) => [v.offsetNumber, v.timestampNumber])).toEqual(msgs.map((_, i) => [100 + i, 1_780_000_000_000 + i * 1000]));
    expect(views.map((v) => v.timestamp)).toEqual(msgs.map((_, i) => String(1_780_000_000_000 + i * 1000)));
    const all = new Batch("t", "100", { partition: 0, highWatermark: "110", messages: views, abortedTransactions: [] });
    expect(all.messages).toBe(views);
    expect(new Batch("t", "105", { partition: 0, highWatermark: "110", messages: views, abortedTransactions: [] }).messages.map((m) => m.offset)).toEqual(["105", "106", "107", "108", "109"]);
    expect(new Batch("t", "100", { partition: 0, highWatermark: "110", messages: views, abortedTransactions: [{ producerId: "7", firstOffset: "103" }] }).messages.map((m) => m.offset)).toEqual(["100", "101", "102"]);
    // A control batch (bit 5 of the attributes): its records are never handed over.
    const control = Buffer.from(buf);
    control.writeInt16BE(control.readInt16BE(21) | 0x20, 21);
    const controlViews = (await decodeViews(new Decoder(control), true)).records;
    expect(new Batch("t", "100", { partition: 0, highWatermark: "110", messages: controlViews, abortedTransactions: [] }).messages).toEqual([]);
  });

  it("keeps the messages at or after the fetched offset, past 2^53 too", () => {
    const messages = ["5", "6", "7", "9007199254740993", "10"].map((offset) => ({ offset, batchContext: {}, isControlRecord: false }));
    const keep = (fetched: string) => new Batch("t", fetched, { partition: 0, highWatermark: "11", messages, abortedTransactions: [] }).messages.map((m) => m.offset);
    expect(keep("7")).toEqual(["7", "9007199254740993", "10"]);
    expect(keep("9007199254740992")).toEqual(["9007199254740993"]);
    expect(keep("0")).toEqual(["5", "6", "7", "9007199254740993", "10"]);
  });
});

describe("kafkajs patch: short ASCII keys", () => {
  const Encoder = load("protocol/encoder.js") as {
    new (): { writeVarIntBytes(v: unknown): { buffer: Buffer } };
    sizeOfVarIntBytes(v: unknown): number;
  };
  const texts = ["", "c042", "customer-1", "x".repeat(64), "x".repeat(65), "y".repeat(300), "ü", "naïve", "😀 key", "\u007f\u0000"];

  it("hashes text like its UTF-8 bytes", () => {
    for (const t of [...texts, ...Array.from({ length: 200 }, (_, i) => randomBytes(i % 70).toString("base64"))]) {
      expect(murmur2(t)).toBe(murmur2(Buffer.from(t, "utf8")));
    }
  });

  it("writes text as its UTF-8 bytes", () => {
    for (const t of texts) {
      const bytes = Buffer.from(t, "utf8");
      expect(Encoder.sizeOfVarIntBytes(t)).toBe(Encoder.sizeOfVarIntBytes(bytes));
      expect(new Encoder().writeVarIntBytes(t).buffer.equals(new Encoder().writeVarIntBytes(bytes).buffer)).toBe(true);
    }
  });
});
