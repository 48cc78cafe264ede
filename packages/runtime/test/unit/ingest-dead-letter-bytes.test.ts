/**
 * Dead letters written as bytes (src/ingest/dead-letter-bytes.ts): exactly the UTF-8 bytes of
 * `JSON.stringify(letter)`, whatever the raw value (quotes, backslashes, control characters,
 * non-ASCII or invalid UTF-8, values cut to the dead letter's limit), the other fields (texts
 * that recur, whose JSON is kept, and texts that do not) and the offset.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DEAD_LETTER_VALUE, type DeadLetterMessage } from "../../src/contracts/messages.js";
import { deadLetterValue } from "../../src/ingest/classify.js";
import { DeadLetterWriter } from "../../src/ingest/dead-letter-bytes.js";

function letter(raw: Buffer | null, fields: Partial<DeadLetterMessage> = {}): DeadLetterMessage {
  return {
    topic: "t.purchase",
    partition: 3,
    offset: "12345",
    schema: "purchase",
    reason: "schema",
    path: "/currency",
    message: 'currency: must be one of "USD", "EUR"',
    value: deadLetterValue(raw),
    receivedAt: "2026-11-26T09:00:00.000Z",
    ...fields,
  };
}

const writer = new DeadLetterWriter();
const same = (l: DeadLetterMessage, raw: Buffer | null) => expect(writer.bytes(l, raw).toString("latin1")).toBe(Buffer.from(JSON.stringify(l)).toString("latin1"));

describe("dead letters as bytes", () => {
  it("equal JSON.stringify for a typical invalid event", () => {
    const raw = Buffer.from(JSON.stringify({ event_id: "p-7", currency: "XYZ", amount: 1.5, coupon: null }));
    same(letter(raw), raw);
    same(letter(raw, { schema: null, path: null, reason: "malformed-json", message: "the value is not valid JSON: ‘}’ expected at byte 9" }), raw);
  });

  it("stay intact while later letters are written (letters share slabs)", () => {
    const own = new DeadLetterWriter();
    const written: [Buffer, string][] = [];
    for (let i = 0; i < 3_000; i++) {
      // Sizes from a few bytes to past a slab's eighth (those get a buffer of their own).
      const raw = Buffer.from(`{"n":${i},"pad":"${"x".repeat((i * 7919) % 700)}${i % 500 === 0 ? "y".repeat(40_000) : ""}"}`);
      const l = letter(raw, { offset: String(i) });
      written.push([own.bytes(l, raw), JSON.stringify(l)]);
    }
    for (const [bytes, text] of written) expect(bytes.toString("latin1")).toBe(Buffer.from(text).toString("latin1"));
  });

  it("equal JSON.stringify for any raw value and fields", () => {
    const bytes = fc.oneof(
      fc.string({ unit: fc.constantFrom(..."ab\"\\{}:, \t\n\u0001~é€"), maxLength: 60 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
      fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(bytes, fc.string(), fc.option(fc.string()), fc.constantFrom("0", "12345", "-1", "9007199254740993"), fc.integer(), (raw, message, path, offset, partition) => {
        same(letter(raw, { message, path, offset, partition }), raw);
        same(letter(raw, { message: "again", path, offset }), raw);
        // Fields whose texts could run together, and null next to the text "null".
        same(letter(raw, { schema: path, path: message, message: "m" }), raw);
        same(letter(raw, { schema: "null", path: "null" }), raw);
        same(letter(raw, { schema: null, path: null }), raw);
      }),
      { numRuns: 500 },
    );
  });

  it("equal JSON.stringify for empty, absent and cut values", () => {
    same(letter(null), null);
    same(letter(Buffer.alloc(0)), Buffer.alloc(0));
    const long = Buffer.from(`"${"x".repeat(MAX_DEAD_LETTER_VALUE + 10)}"`);
    const l = letter(long);
    expect(l.value.length).toBe(MAX_DEAD_LETTER_VALUE);
    same(l, long);
  });
});
