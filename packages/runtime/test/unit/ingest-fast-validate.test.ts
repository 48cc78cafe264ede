/**
 * The fast path of classification (src/ingest/fast-validate.ts) never changes a verdict: every
 * event is classified the same with and without it (valid events with the same key, timestamp and
 * event time; invalid ones with the same dead letter), over generated and mutated JSON. It must
 * also really be taken for ordinary events, decline schemas it does not handle, and switch itself
 * off when the full path disagrees.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { EventClassifier, countBeyond, type RawEvent } from "@seg/runtime";
import type { RawMessage } from "../../src/ingest/classify.js";
import { AUDIT_EVERY } from "../../src/ingest/classify.js";
import { dateTimeMsAt, isSimpleDate, isSimpleDateTime } from "../../src/ingest/date-time.js";
import { FastValidator, type FastFields } from "../../src/ingest/fast-validate.js";
import { BatchTally } from "../../src/ingest/progress.js";
import { customer, exampleRegistry, pageView, purchase } from "../support/ingest-fixtures.js";

const registry = exampleRegistry("f");
const NOW = new Date("2026-11-25T12:00:00.000Z");
const fast = new EventClassifier(registry, { now: () => NOW });
const full = new EventClassifier(registry, { now: () => NOW, fastPath: false });
const purchaseSchema = registry.events.get("purchase")!;

function raw(topic: string, value: Buffer): RawEvent {
  return { topic, partition: 0, offset: "7", key: null, value, timestamp: "1700000000000" };
}

/** kafkajs's record view (seg's patch): a consumed record read in place. */
const RecordView = createRequire(import.meta.url)(`${createRequire(import.meta.url).resolve("kafkajs").replace(/index\.js$/, "")}src/protocol/recordBatch/record/v0/decoder.js`).RecordView as new (...args: unknown[]) => RawMessage;

/** Bytes around a value in a fetched record batch: what reading past the value's end would find. */
const SURROUNDINGS = ["", "}", '"', "ull}", "rue}", ',"x":1}', " ", "0}", '":1}', "\u0000", "\xff\xfe"].map((s) => Buffer.from(s, "latin1"));

/** `value` as a record view, in the middle of other bytes. */
function asView(value: Buffer, k: number): RawMessage {
  const before = SURROUNDINGS[(k * 7) % SURROUNDINGS.length]!;
  const after = SURROUNDINGS[k % SURROUNDINGS.length]!;
  const bytes = Buffer.concat([before, Buffer.from("k1"), value, after]);
  return new RecordView(bytes, 7, { firstOffset: 7, firstTimestamp: 1_699_999_999_000 }, 1_000, before.length, 2, before.length + 2, value.length, 0, { magicByte: 2, isControlBatch: false, timestampType: 0 });
}

/** Both classifiers agree on `value`, also when the fast one reads it in place; true when the fast check itself accepted it. */
function agree(topic: string, value: Buffer): boolean {
  const a = fast.classify(raw(topic, value));
  const b = full.classify(raw(topic, value));
  expect(a).toEqual(b);
  const schema = registry.schemas.find((s) => s.topic === topic)!;
  const v = FastValidator.compile(schema.raw, schema.key, schema.kind === "event" ? schema.time : undefined);
  const out: FastFields = { key: "", time: undefined, timeMs: Number.NaN };
  const accepted = v?.check(value, out) ?? false;
  if (accepted) expect(b.kind).toBe("valid");
  // In place, surrounded by bytes that would complete or spoil it: the same verdict.
  for (let k = 0; k < SURROUNDINGS.length; k++) {
    const view = asView(value, k);
    expect(fast.classifyMessage(topic, 0, view)).toEqual(a.kind === "valid" ? a : { ...a, letter: { ...a.letter, offset: "7" } });
    if (v !== undefined) {
      const inPlace: FastFields = { key: "", time: undefined, timeMs: Number.NaN };
      const r = view as unknown as { bytes: Buffer; valueStart: number; valueLength: number };
      expect(v.checkRange(r.bytes, r.valueStart, r.valueStart + r.valueLength, inPlace)).toBe(accepted);
      if (accepted) expect(inPlace).toEqual(out);
    }
  }
  return accepted;
}

/** JSON text of an object from [key, value text] pairs, with the given whitespace. */
const objectText = (pairs: [string, string][], ws: string) => `${ws}{${pairs.map(([k, v]) => `${ws}${JSON.stringify(k)}${ws}:${ws}${v}${ws}`).join(",")}}${ws}`;

/** Value texts for a purchase field: mostly right, sometimes wrong in every way the fast path must notice. */
const valueText = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom("null", "true", "false", "0", "-0", "1", "1.0", "1e2", "1E+2", "-1", "0.5", "12.34", "01", "1.", ".5", "-", "1e", "+1", "1e400", "123456789012345678901234", "0.1000000000000000055511151231257827", "{}", "[]", '{"a":1}', "[1,2]", "nul", "tru") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => `"${s}"`) },
  { weight: 1, arbitrary: fc.constantFrom('"USD"', '"EUR"', '"XYZ"', '"usd"', '"U\\u0053D"', '"books"', '"web"', '"c001"', '"c1"', '"FALL10"', '"a\\nb"', '"é"', '"😀"', '""') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '"2026-10-01T10:15:00Z"',
      '"2026-10-01t10:15:00z"',
      '"2026-10-01T10:15:00.123+05:30"',
      '"2026-10-01T10:15:00-23:59"',
      '"2024-02-29T00:00:00Z"',
      '"2023-02-29T00:00:00Z"',
      '"2026-13-01T10:15:00Z"',
      '"2026-10-01T24:00:00Z"',
      '"2026-10-01T23:59:60Z"',
      '"2026-10-01 10:15:00Z"',
      '"2026-10-01T10:15:00"',
      '"2026-10-01T10:15:00+0530"',
      '"2026-10-01T10:15:00.Z"',
      '"2026-10-01"',
    ),
  },
);

const fieldNames = ["event_id", "customer_id", "ts", "amount", "currency", "category", "sku", "quantity", "coupon", "channel", "extra", "Amount", "é"];

/** A purchase-like object as JSON text: valid fields, some replaced, dropped, repeated or added. */
const purchaseText = fc
  .record({
    n: fc.nat(10_000),
    replace: fc.array(fc.tuple(fc.constantFrom(...fieldNames), valueText), { maxLength: 3 }),
    drop: fc.array(fc.constantFrom(...fieldNames), { maxLength: 2 }),
    shuffle: fc.boolean(),
    ws: fc.constantFrom("", " ", "\n", "\t", "\r\n ", "\u000b"),
  })
  .map(({ n, replace, drop, shuffle, ws }) => {
    let pairs: [string, string][] = Object.entries(purchase(n)).map(([k, v]) => [k, JSON.stringify(v)]);
    for (const [k, v] of replace) {
      const i = pairs.findIndex(([name]) => name === k);
      // Sometimes a second copy of the key instead of a replacement: JSON.parse keeps the last.
      if (i >= 0 && v.length % 2 === 0) pairs[i] = [k, v];
      else pairs.push([k, v]);
    }
    pairs = pairs.filter(([k]) => !drop.includes(k));
    if (shuffle) pairs.reverse();
    return objectText(pairs, ws);
  });

describe("fast path: the same verdicts as the full path", () => {
  it("on generated purchase events, and it accepts most valid ones", () => {
    let accepted = 0;
    let valid = 0;
    fc.assert(
      fc.property(purchaseText, (text) => {
        const value = Buffer.from(text);
        if (agree("f.purchase", value)) accepted++;
        if (full.classify(raw("f.purchase", value)).kind === "valid") valid++;
      }),
      { numRuns: 3_000 },
    );
    expect(valid).toBeGreaterThan(100);
    // Only events with escapes, exotic numbers or dates and the like are left to the full path.
    expect(accepted).toBeGreaterThan(valid * 0.6);
  });

  it("on byte-level mutations of valid events (flips, insertions, deletions, truncation)", () => {
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.array(fc.tuple(fc.constantFrom("flip", "insert", "delete", "cut"), fc.nat(400), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        (n, edits) => {
          let bytes = [...Buffer.from(JSON.stringify(purchase(n)))];
          for (const [kind, at, byte] of edits) {
            const i = at % (bytes.length + 1);
            if (kind === "flip" && i < bytes.length) bytes[i] = byte;
            else if (kind === "insert") bytes.splice(i, 0, byte);
            else if (kind === "delete") bytes.splice(i, 1);
            else bytes = bytes.slice(0, i);
          }
          agree("f.purchase", Buffer.from(bytes));
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it("on the other example schemas (and the customer profile, which has no fast path: email format)", () => {
    for (let n = 0; n < 300; n++) {
      expect(agree("f.page_view", Buffer.from(JSON.stringify(pageView(n))))).toBe(true);
      expect(agree("f.page_view", Buffer.from(JSON.stringify(pageView(n, { duration_ms: n % 2 ? -1 : 1.5 }))))).toBe(false);
      expect(agree("f.customer", Buffer.from(JSON.stringify(customer(n))))).toBe(false);
    }
    expect(fast.hasFastPath("f.purchase")).toBe(true);
    expect(fast.hasFastPath("f.customer")).toBe(false);
  });

  it("on non-ASCII text: valid UTF-8 is read exactly, invalid UTF-8 is left to the full path", () => {
    const text = JSON.stringify(purchase(3, { event_id: "é-😀-ü", sku: "ß" }));
    expect(agree("f.purchase", Buffer.from(text))).toBe(true);
    const broken = Buffer.from(text);
    broken[broken.indexOf(0xc3)] = 0xff;
    expect(agree("f.purchase", broken)).toBe(false);
    expect(full.classify(raw("f.purchase", broken))).toMatchObject({ kind: "invalid", letter: { reason: "malformed-json" } });
  });

  it("reads the key and time fields as JSON.parse would", () => {
    const v = FastValidator.compile(purchaseSchema.raw, purchaseSchema.key, purchaseSchema.time)!;
    const out: FastFields = { key: "", time: undefined, timeMs: Number.NaN };
    expect(v.check(Buffer.from(JSON.stringify(purchase(42))), out)).toBe(true);
    expect(out).toEqual({ key: "c042", time: undefined, timeMs: Date.parse("2026-10-15T18:15:00Z") });
    // Lower case: read as text, parsed by Date.parse.
    expect(v.check(Buffer.from(JSON.stringify(purchase(42, { ts: "2026-10-15t18:15:00z" }))), out)).toBe(true);
    expect(out).toEqual({ key: "c042", time: "2026-10-15t18:15:00z", timeMs: Number.NaN });
    expect(fast.classify(raw("f.purchase", Buffer.from(JSON.stringify(purchase(42)))))).toMatchObject({
      kind: "valid",
      key: "c042",
      timestamp: String(Date.parse("2026-10-15T18:15:00Z")),
    });
  });
});

describe("fast path: a value outside an enum", () => {
  const v = FastValidator.compile(purchaseSchema.raw, purchaseSchema.key, purchaseSchema.time)!;
  const out: FastFields = { key: "", time: undefined, timeMs: Number.NaN };

  it("writes the full path's dead letter when it is the event's one problem", () => {
    const value = Buffer.from(JSON.stringify(purchase(7, { currency: "XYZ" })));
    expect(v.check(value, out)).toBe(false);
    expect(out.enumMiss?.property).toBe("currency");
    const letter = fast.classify(raw("f.purchase", value));
    expect(letter).toEqual(full.classify(raw("f.purchase", value)));
    expect(letter).toMatchObject({ kind: "invalid", letter: { reason: "schema", path: "/currency" } });
  });

  it("leaves every other case to the full path: two problems, a non-string, an escape", () => {
    for (const change of [{ currency: "XYZ", channel: "fax" }, { currency: "XYZ", quantity: 0 }, { currency: 7 }, { currency: "X\\u0059Z" }, { currency: "XYZ", extra: 1 }]) {
      const value = Buffer.from(JSON.stringify(purchase(7, change)));
      expect(v.check(value, out)).toBe(false);
      expect({ change, miss: out.enumMiss }).toEqual({ change, miss: undefined });
      expect(fast.classify(raw("f.purchase", value))).toEqual(full.classify(raw("f.purchase", value)));
    }
  });
});

describe("classifyMessage", () => {
  it("classifies a message of a known topic and partition as classify does the whole event", () => {
    for (const value of [JSON.stringify(purchase(5)), JSON.stringify(purchase(6, { currency: "XYZ" })), "{", ""]) {
      const e = { ...raw("f.purchase", Buffer.from(value)), partition: 3, offset: "42" };
      expect(fast.classifyMessage("f.purchase", 3, e)).toEqual(fast.classify(e));
    }
  });
});

describe("fast path: dates", () => {
  it("accepts only a subset of what the full path accepts", () => {
    const dt = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.constantFrom("T", "t", " ", "x"),
        fc.constantFrom("Z", "z", "+05:30", "-24:00", "+23:59", "", "+0530", ".5Z", ".Z", ".123456789-01:00"),
      )
      .map(([y, mo, d, h, mi, sep, tz]) => `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}${sep}${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:${String(mi).padStart(2, "0")}${tz}`);
    let accepted = 0;
    fc.assert(
      fc.property(dt, (s) => {
        if (!isSimpleDateTime(s)) return;
        accepted++;
        expect(full.classify(raw("f.purchase", Buffer.from(JSON.stringify(purchase(1, { ts: s })))))).toMatchObject({ kind: "valid" });
      }),
      { numRuns: 2_000 },
    );
    expect(accepted).toBeGreaterThan(100);
    expect(isSimpleDateTime("2024-02-29T00:00:00Z")).toBe(true);
    expect(isSimpleDateTime("2023-02-29T00:00:00Z")).toBe(false);
    expect(isSimpleDateTime("2026-10-01T23:59:60Z")).toBe(false);
    expect(isSimpleDateTime("2026-10-01T10:15:00")).toBe(false);
    expect(isSimpleDate("2000-02-29")).toBe(true);
    expect(isSimpleDate("1900-02-29")).toBe(false);
  });
});

describe("fast path: date-times read from the bytes", () => {
  it("gives Date.parse's milliseconds, and only for date-times the fast path accepts", () => {
    const dt = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        fc.constantFrom("T", "t", " "),
        fc.constantFrom("", ".", ".5", ".12", ".999", ".1239", ".0000001", ".99999999999999999999"),
        fc.constantFrom("Z", "z", "+05:30", "-23:59", "+23:59", "-00:00", "+24:00", "+0530", "", "Zx"),
      )
      .map(([y, mo, d, h, mi, sec, sep, frac, tz]) => `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}${sep}${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:${String(sec).padStart(2, "0")}${frac}${tz}`);
    let read = 0;
    fc.assert(
      fc.property(dt, (s) => {
        // Inside a larger buffer, as in an event.
        const b = Buffer.from(`"${s}"`, "latin1");
        const ms = dateTimeMsAt(b, 1, b.length - 1);
        if (Number.isNaN(ms)) return;
        read++;
        expect(isSimpleDateTime(s)).toBe(true);
        expect(ms).toBe(Date.parse(s));
      }),
      { numRuns: 5_000 },
    );
    expect(read).toBeGreaterThan(200);
    for (const s of ["0000-01-01T00:00:00Z", "0099-03-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-23:59", "2000-02-29T12:00:00+01:00"]) {
      expect(dateTimeMsAt(Buffer.from(s), 0, s.length)).toBe(Date.parse(s));
    }
  });
});

describe("fast path: schemas", () => {
  const base = { type: "object", properties: { id: { type: "string" } }, required: ["id"], additionalProperties: false };
  it("compiles flat schemas only", () => {
    expect(FastValidator.compile(base, "id", undefined)).toBeDefined();
    expect(FastValidator.compile({ ...base, properties: { id: { type: "string" }, o: { type: "object" } } }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, properties: { id: { type: "string", format: "email" } } }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, properties: { id: { $ref: "#/x" } } }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, properties: { id: { type: "string", multipleOf: 2 } } }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, additionalProperties: { type: "string" } }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, allOf: [] }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile({ ...base, required: ["nope"] }, "id", undefined)).toBeUndefined();
    expect(FastValidator.compile(base, "missing", undefined)).toBeUndefined();
  });

  it("skips primitive additional properties when they are allowed", () => {
    const open = FastValidator.compile({ ...base, additionalProperties: true }, "id", undefined)!;
    const out: FastFields = { key: "", time: undefined, timeMs: Number.NaN };
    expect(open.check(Buffer.from('{"x": [1], "id": "a"}'), out)).toBe(false);
    expect(open.check(Buffer.from('{"x": 1.5e3, "y": "z", "id": "a", "n": null}'), out)).toBe(true);
    expect(out.key).toBe("a");
    const closed = FastValidator.compile(base, "id", undefined)!;
    expect(closed.check(Buffer.from('{"x": 1, "id": "a"}'), out)).toBe(false);
  });
});

describe("fast path: audit", () => {
  it("switches a topic's fast path off when the full path disagrees, and answers with the full path", () => {
    // A schema version whose validator rejects everything while its JSON Schema accepts the events.
    const s = { ...purchaseSchema, hash: `audit-${Math.random()}`, validate: Object.assign(() => false, { errors: [] }) as unknown as typeof purchaseSchema.validate };
    const c = new EventClassifier({ ...registry, schemas: registry.schemas.map((x) => (x === purchaseSchema ? s : x)) }, { now: () => NOW });
    const kinds: string[] = [];
    for (let n = 0; n < AUDIT_EVERY + 5; n++) kinds.push(c.classify(raw("f.purchase", Buffer.from(JSON.stringify(purchase(n))))).kind);
    expect(kinds.slice(0, AUDIT_EVERY - 1).every((k) => k === "valid")).toBe(true);
    expect(kinds.slice(AUDIT_EVERY - 1).every((k) => k === "invalid")).toBe(true);
    expect([...c.fastPathOff]).toEqual(["f.purchase"]);
    expect(c.hasFastPath("f.purchase")).toBe(false);
  });

  it("checks dead letters for a value outside an enum too", () => {
    // A schema version whose validator accepts everything while its JSON Schema has the enum.
    const s = { ...purchaseSchema, hash: `audit-enum-${Math.random()}`, validate: Object.assign(() => true, { errors: null }) as unknown as typeof purchaseSchema.validate };
    const c = new EventClassifier({ ...registry, schemas: registry.schemas.map((x) => (x === purchaseSchema ? s : x)) }, { now: () => NOW });
    const kinds: string[] = [];
    for (let n = 0; n < AUDIT_EVERY + 5; n++) kinds.push(c.classify(raw("f.purchase", Buffer.from(JSON.stringify(purchase(n, { currency: "XYZ" }))))).kind);
    expect(kinds.slice(0, AUDIT_EVERY - 1).every((k) => k === "invalid")).toBe(true);
    expect(kinds.slice(AUDIT_EVERY - 1).every((k) => k === "valid")).toBe(true);
    expect([...c.fastPathOff]).toEqual(["f.purchase"]);
  });
});

describe("BatchTally", () => {
  it("counts like countBeyond", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.array(fc.option(fc.option(fc.integer({ min: 0, max: 1e12 }), { nil: undefined }), { nil: null }), { maxLength: 40 }),
        fc.integer({ min: -2, max: 1_050 }),
        (first, kinds, stored) => {
          const messages = kinds.map((_, i) => ({ offset: String(first + i) }));
          const tally = new BatchTally(messages);
          kinds.forEach((k, i) => k !== null && tally.valid(i, k));
          const counted = kinds.map((k, i) => ({ offset: BigInt(first + i), valid: k !== null, eventTimeMs: k ?? undefined }));
          expect(tally.beyond(BigInt(stored))).toEqual(countBeyond(counted, BigInt(stored)));
        },
      ),
    );
  });

  it("counts like countBeyond when offsets have gaps (compaction, transaction markers)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.option(fc.integer({ min: 0, max: 1e12 }), { nil: null })), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: -2, max: 1_200 }),
        (first, steps, stored) => {
          let offset = first;
          const offsets = steps.map(([step]) => (offset += step));
          const tally = new BatchTally(offsets.map((o) => ({ offset: String(o) })));
          steps.forEach(([, k], i) => k !== null && tally.valid(i, k));
          const counted = steps.map(([, k], i) => ({ offset: BigInt(offsets[i]!), valid: k !== null, eventTimeMs: k ?? undefined }));
          expect(tally.beyond(BigInt(stored))).toEqual(countBeyond(counted, BigInt(stored)));
        },
      ),
    );
  });

  it("counts like countBeyond around and past 2^53 (offsets kept as text there)", () => {
    const near = 2n ** 53n - 20n;
    fc.assert(
      fc.property(
        fc.constantFrom(0n, near, 2n ** 62n),
        fc.array(fc.option(fc.integer({ min: 0, max: 1e12 }), { nil: null }), { maxLength: 40 }),
        fc.integer({ min: -2, max: 60 }),
        (first, kinds, storedDelta) => {
          const messages = kinds.map((_, i) => ({ offset: String(first + BigInt(i)) }));
          const tally = new BatchTally(messages);
          kinds.forEach((k, i) => k !== null && tally.valid(i, k));
          const counted = kinds.map((k, i) => ({ offset: first + BigInt(i), valid: k !== null, eventTimeMs: k ?? undefined }));
          const stored = first + BigInt(storedDelta);
          expect(tally.beyond(stored)).toEqual(countBeyond(counted, stored));
        },
      ),
    );
  });
});
