import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  EventClassifier,
  INGEST_METRIC_NAMES,
  countBeyond,
  createIngestMetrics,
  cutText,
  deadLetterValue,
  ingestRoutes,
  type InvalidEvent,
  type RawEvent,
  type ValidEvent,
} from "@seg/runtime";
import { MAX_DEAD_LETTER_VALUE } from "../../src/contracts/messages.js";
import { buildSchemaRegistry } from "@seg/compiler";
import { customer, exampleRegistry, exampleSchemaSources, purchase } from "../support/ingest-fixtures.js";

const registry = exampleRegistry("t");
const NOW = new Date("2026-11-25T12:00:00.000Z");
const classifier = new EventClassifier(registry, { now: () => NOW });

function raw(topic: string, value: string | Buffer | null, over: Partial<RawEvent> = {}): RawEvent {
  return {
    topic,
    partition: 0,
    offset: "7",
    key: Buffer.from("c001"),
    value: typeof value === "string" ? Buffer.from(value) : value,
    timestamp: "1700000000000",
    ...over,
  };
}

const invalid = (e: RawEvent): InvalidEvent => {
  const c = classifier.classify(e);
  expect(c.kind).toBe("invalid");
  return c as InvalidEvent;
};

describe("ingestRoutes", () => {
  it("has one route per schema topic, to <topic>.valid", () => {
    const routes = ingestRoutes(registry);
    expect([...routes.keys()].sort()).toEqual(["t.add_to_cart", "t.customer", "t.page_view", "t.purchase"]);
    expect(routes.get("t.purchase")).toMatchObject({ rawTopic: "t.purchase", validTopic: "t.purchase.valid" });
    expect(routes.get("t.purchase")!.schemas.map((s) => s.name)).toEqual(["purchase"]);
  });
});

describe("EventClassifier", () => {
  it("a valid event keeps its bytes; key = entity id; timestamp = the event time", () => {
    const e = purchase(3, { customer_id: "c042", ts: "2026-10-04T05:06:07.250Z" });
    const c = classifier.classify(raw("t.purchase", JSON.stringify(e), { key: null }));
    expect(c).toMatchObject({ kind: "valid", topic: "t.purchase.valid", key: "c042", timestamp: String(Date.parse("2026-10-04T05:06:07.250Z")) });
    expect((c as ValidEvent).eventTimeMs).toBe(Date.UTC(2026, 9, 4, 5, 6, 7, 250));
    expect((c as ValidEvent).schema.name).toBe("purchase");
  });

  it("a valid profile keeps the raw Kafka timestamp (profiles have no time field)", () => {
    const c = classifier.classify(raw("t.customer", JSON.stringify(customer(9))));
    expect(c).toMatchObject({ kind: "valid", topic: "t.customer.valid", key: "c009", timestamp: "1700000000000", eventTimeMs: undefined });
  });

  it("malformed JSON", () => {
    const { letter } = invalid(raw("t.purchase", '{"event_id": "p-1", '));
    expect(letter).toMatchObject({ topic: "t.purchase", partition: 0, offset: "7", schema: "purchase", reason: "malformed-json", path: null });
    expect(letter.message).toMatch(/^the value is not valid JSON: /);
    expect(letter.value).toBe('{"event_id": "p-1", ');
    expect(letter.receivedAt).toBe(NOW.toISOString());
  });

  it("an empty or null value, and bytes that are not UTF-8, are malformed", () => {
    expect(invalid(raw("t.purchase", null)).letter).toMatchObject({ reason: "malformed-json", message: "the message has no value", value: "" });
    expect(invalid(raw("t.purchase", "")).letter).toMatchObject({ reason: "malformed-json", message: "the message has no value" });
    const bad = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    expect(invalid(raw("t.purchase", bad)).letter).toMatchObject({ reason: "malformed-json", message: "the value is not valid UTF-8" });
  });

  it("a wrong type: the field's pointer and a readable message", () => {
    const { letter } = invalid(raw("t.purchase", JSON.stringify(purchase(1, { amount: "12.50" }))));
    expect(letter).toMatchObject({ reason: "schema", schema: "purchase", path: "/amount", message: "/amount: must be number" });
  });

  it("a missing field", () => {
    const e = purchase(1);
    delete e["currency"];
    expect(invalid(raw("t.purchase", JSON.stringify(e))).letter).toMatchObject({ reason: "schema", path: "/currency", message: "/currency: is required but missing" });
  });

  it("an enum violation lists the allowed values", () => {
    const { letter } = invalid(raw("t.purchase", JSON.stringify(purchase(1, { currency: "XYZ" }))));
    expect(letter).toMatchObject({ reason: "schema", path: "/currency", message: '/currency: must be one of "USD", "CAD", "GBP", "EUR", "AUD"' });
  });

  it("an unknown field, a bad date-time, a value that is not an object", () => {
    expect(invalid(raw("t.purchase", JSON.stringify(purchase(1, { extra: 1 })))).letter).toMatchObject({ path: "/extra", message: "/extra: is not a known key" });
    expect(invalid(raw("t.purchase", JSON.stringify(purchase(1, { ts: "yesterday" })))).letter).toMatchObject({ path: "/ts", message: "/ts: must be a valid date-time" });
    expect(invalid(raw("t.purchase", "[1,2]")).letter).toMatchObject({ reason: "schema", path: "", message: "(root): must be object" });
  });

  it("a payload over the limit is too-large, and its copy is cut", () => {
    const big = JSON.stringify(purchase(1, { sku: "x".repeat(DEFAULT_MAX_MESSAGE_BYTES) }));
    const { letter } = invalid(raw("t.purchase", big));
    expect(letter).toMatchObject({ reason: "too-large", schema: "purchase", path: null });
    expect(letter.message).toMatch(/^the value is 1\.00 MiB, over the limit of 1 MiB$/);
    expect(letter.value).toHaveLength(MAX_DEAD_LETTER_VALUE);
    expect(big.startsWith(letter.value)).toBe(true);
    // The limit is the value's size in bytes, not its length in characters.
    const small = new EventClassifier(registry, { maxMessageBytes: 100 });
    expect(small.classify(raw("t.purchase", "é".repeat(60))).kind).toBe("invalid");
    expect((small.classify(raw("t.purchase", "é".repeat(60))) as InvalidEvent).letter.reason).toBe("too-large");
  });

  it("a topic without a schema is unknown-topic (checked before the JSON)", () => {
    const { letter } = invalid(raw("t.nobody", "not even json", { partition: 2, offset: "41" }));
    expect(letter).toMatchObject({ topic: "t.nobody", partition: 2, offset: "41", schema: null, reason: "unknown-topic", path: null, value: "not even json" });
    expect(letter.message).toBe("no registered schema reads topic t.nobody");
  });

  it("a topic shared by two schemas accepts an event either accepts", () => {
    const sources = exampleSchemaSources((name) => (name === "purchase" || name === "add_to_cart" ? "shared" : `s.${name}`));
    const shared = new EventClassifier(buildSchemaRegistry(sources).registry);
    const atc = { event_id: "a", customer_id: "c001", ts: "2026-01-01T00:00:00Z", sku: "S", category: "home", price: 1, quantity: 1 };
    expect(shared.classify(raw("shared", JSON.stringify(atc)))).toMatchObject({ kind: "valid", schema: { name: "add_to_cart" } });
    expect(shared.classify(raw("shared", JSON.stringify(purchase(2))))).toMatchObject({ kind: "valid", schema: { name: "purchase" } });
    const neither = shared.classify(raw("shared", JSON.stringify({ ...atc, price: -1 }))) as InvalidEvent;
    expect(neither.letter.reason).toBe("schema");
    expect(neither.letter.message).toMatch(/no schema of the topic accepts it\)$/);
  });

  it("uses the registry's compiled validators: classifying never compiles", () => {
    const s = registry.events.get("purchase")!;
    let calls = 0;
    const spy = Object.assign((v: unknown) => {
      calls++;
      return s.validate(v);
    }, s.validate);
    // A registry rebuilt with the same schema version reuses the first validator it saw.
    const again = new EventClassifier({ ...registry, schemas: registry.schemas.map((x) => (x === s ? { ...s, validate: spy as typeof s.validate } : x)) });
    again.classify(raw("t.purchase", JSON.stringify(purchase(1))));
    expect(calls).toBe(0);
  });
});

describe("dead-letter values", () => {
  it("cutText never splits a surrogate pair", () => {
    expect(cutText("ab😀cd", 3)).toBe("ab");
    expect(cutText("ab😀cd", 4)).toBe("ab😀");
    expect(cutText("abc", 10)).toBe("abc");
  });
  it("deadLetterValue decodes and cuts", () => {
    expect(deadLetterValue(null)).toBe("");
    expect(deadLetterValue(Buffer.from("é".repeat(MAX_DEAD_LETTER_VALUE + 5)))).toHaveLength(MAX_DEAD_LETTER_VALUE);
  });
});

describe("countBeyond", () => {
  it("counts only the offsets above the stored one", () => {
    const msgs = [
      { offset: 4n, valid: true, eventTimeMs: 50 },
      { offset: 5n, valid: false },
      { offset: 6n, valid: true, eventTimeMs: 30 },
      { offset: 7n, valid: true, eventTimeMs: 40 },
      { offset: 8n, valid: false },
    ];
    expect(countBeyond(msgs, -1n)).toEqual({ received: 5, valid: 3, invalid: 2, lastEventTimeMs: 50 });
    expect(countBeyond(msgs, 5n)).toEqual({ received: 3, valid: 2, invalid: 1, lastEventTimeMs: 40 });
    expect(countBeyond(msgs, 8n)).toEqual({ received: 0, valid: 0, invalid: 0, lastEventTimeMs: undefined });
  });
});

describe("createIngestMetrics", () => {
  it("registers the five metrics once, and finds them when asked again", async () => {
    const reg = new Registry();
    const a = await createIngestMetrics(reg);
    const b = await createIngestMetrics(reg);
    expect(b.received).toBe(a.received);
    a.invalid.inc({ topic: "t", reason: "schema" }, 2);
    a.lag.set({ topic: "t", partition: "0" }, 5);
    const names = (await reg.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual(Object.values(INGEST_METRIC_NAMES).sort());
    const text = await reg.metrics();
    expect(text).toContain('seg_ingest_invalid_total{topic="t",reason="schema"} 2');
    expect(text).toContain('seg_ingest_lag{topic="t",partition="0"} 5');
  });
});
