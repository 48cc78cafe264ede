/**
 * The mover's fast path for member messages gives exactly what the slow path (JSON.parse, the
 * contract's checks, JSON.stringify of the metrics) gives, or declines and leaves it to it; and the
 * change messages it writes are JSON.stringify's text.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PackedMembers, changeMessageText, parseResult } from "@seg/runtime";
import { FastMemberParser } from "../../src/mover/fast-parse.js";

/** Bytes around a message in a fetched record batch: what reading past its end would find. */
const SURROUNDINGS = ["", "}", '"', '"}', "1}", ',"a":1}}', "\\", "\u00ff"].map((t) => Buffer.from(t, "latin1"));

/**
 * Fast path result, or "declined". The member it packs (bytes for the staging script) must be the
 * same text; read in place (a record view's value amid other bytes) it must give the same.
 */
function fast(p: FastMemberParser, text: string): { segment: string; runId: string; entityId: string; metricsJson: string } | "declined" {
  const value = Buffer.from(text, "utf8");
  const parsed = p.parse(value);
  const out = parsed ? read(p) : "declined";
  for (let k = 0; k < SURROUNDINGS.length; k++) {
    const before = SURROUNDINGS[(k * 3) % SURROUNDINGS.length]!;
    const bytes = Buffer.concat([before, value, SURROUNDINGS[k]!]);
    const inPlace = new FastMemberParser();
    expect(inPlace.parseRange(bytes, before.length, before.length + value.length), text).toBe(parsed);
    if (parsed) expect(read(inPlace)).toEqual(out);
  }
  return out;
}

function read(p: FastMemberParser): { segment: string; runId: string; entityId: string; metricsJson: string } {
  const packed = new PackedMembers(1, 4);
  p.appendTo(packed);
  const out = { segment: p.segment, runId: p.runId, entityId: p.entityId, metricsJson: p.metricsJson };
  const resp = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const [chunk] = packed.chunks();
  expect(chunk!.fields.toString("utf8")).toBe(resp(out.entityId) + resp(out.metricsJson));
  expect(chunk!.ids.toString("utf8")).toBe(resp(out.entityId));
  return out;
}

function slow(text: string) {
  const r = parseResult(Buffer.from(text, "utf8"));
  return r.kind === "member" ? { segment: r.message.segment, runId: r.message.runId, entityId: r.message.entityId, metricsJson: r.metricsJson } : r.kind;
}

const msg = (metrics: string, id = "c-1", segment = "s", runId = "r1") =>
  `{"type":"member","segment":${JSON.stringify(segment)},"runId":${JSON.stringify(runId)},"entityId":${JSON.stringify(id)},"metrics":${metrics}}`;

describe("FastMemberParser", () => {
  it("reads the messages jobs write, reusing the segment and run names", () => {
    const p = new FastMemberParser();
    expect(fast(p, msg('{"total_spend":12.5,"orders":3,"tags":["a","b"],"x":null,"ok":true,"n":{"m":-0.25}}'))).toEqual({
      segment: "s",
      runId: "r1",
      entityId: "c-1",
      metricsJson: '{"total_spend":12.5,"orders":3,"tags":["a","b"],"x":null,"ok":true,"n":{"m":-0.25}}',
    });
    const first = p.segment;
    expect(fast(p, msg("{}", "c-2"))).toEqual({ segment: "s", runId: "r1", entityId: "c-2", metricsJson: "{}" });
    expect(p.segment).toBe(first);
    expect(fast(p, msg("{}", "c-3", "other", "r2"))).toMatchObject({ segment: "other", runId: "r2" });
    expect(fast(p, msg("{}", "ü-€", "sëg"))).toEqual({ segment: "sëg", runId: "r1", entityId: "ü-€", metricsJson: "{}" });
  });

  it("declines what it cannot keep as it is, and the slow path reads it (or rejects it) instead", () => {
    const p = new FastMemberParser();
    const cases = [
      msg('{"a": 1}'), // whitespace
      msg('{"b":1,"0":2}'), // index keys come first in JavaScript
      msg('{"a":1,"a":2}'), // duplicate key
      msg('{"a":"x\\"y"}'), // escape
      msg("[1]"),
      msg("null"),
      msg("{}", ""),
      msg("{}", "c", ""),
      msg("{}", "c\\n"),
      `{"type":"member","runId":"r","segment":"s","entityId":"c","metrics":{}}`, // other key order
      msg("{}") + " ",
      msg('{"a":1'),
      msg('{"a":tru}'),
      msg('{"a":01}'),
      msg('{"a":1.}'),
      msg('{"a":1e}'),
      msg('{"a":-}'),
      msg('{"a":1}', "c", "s", "r\u0000"),
    ];
    for (const text of cases) {
      expect(fast(p, text), text).toBe("declined");
    }
    expect(slow(msg('{"a": 1}'))).toMatchObject({ metricsJson: '{"a":1}' });
    expect(slow(msg('{"b":1,"0":2}'))).toMatchObject({ metricsJson: '{"0":2,"b":1}' });
  });

  it("leaves bytes that are not UTF-8 to the slow path (which reads them as U+FFFD), and reads valid non-ASCII bytes itself", () => {
    const p = new FastMemberParser();
    const bytes = (id: Buffer) => Buffer.concat([Buffer.from('{"type":"member","segment":"s","runId":"r","entityId":"'), id, Buffer.from('","metrics":{}}')]);
    const broken = bytes(Buffer.from([0x63, 0xff, 0xfe, 0x64]));
    expect(p.parse(broken)).toBe(false);
    expect(parseResult(broken)).toMatchObject({ kind: "member", message: { entityId: "c\ufffd\ufffdd" } });
    expect(p.parse(bytes(Buffer.from("ü-€", "utf8")))).toBe(true);
    expect(p.entityId).toBe("ü-€");
    // A failed message leaves no trace: the next plain one is read.
    expect(p.parse(broken)).toBe(false);
    expect(p.parse(bytes(Buffer.from("c-1")))).toBe(true);
    expect(p.entityId).toBe("c-1");
  });

  it("agrees with the slow path on random metrics, names and damaged messages", () => {
    const p = new FastMemberParser();
    const json = fc.jsonValue({ maxDepth: 3 });
    const name = fc.string({ unit: fc.constantFrom("a", "b", "1", "-", "_", "é", "€", '"', "\\", " "), maxLength: 6 });
    const metrics = fc.oneof(
      fc.dictionary(name, json, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
      json.map((v) => JSON.stringify(v) ?? "null"),
      fc.constantFrom('{"a":1.0}', '{"a":1E2}', '{"a":0.000001}', '{"a":123456789012345}', '{"a":1234567890123456}', '{"a":-0.5}', '{"a":[]}', '{"a":{}}'),
    );
    fc.assert(
      fc.property(metrics, name, name, name, fc.nat(200), fc.boolean(), (m, id, segment, runId, cut, damage) => {
        let text = msg(m, id, segment, runId);
        if (damage) text = text.slice(0, Math.min(cut, text.length)) + text.slice(Math.min(cut, text.length) + 1);
        const f = fast(p, text);
        if (f !== "declined") expect(f).toEqual(slow(text));
      }),
      { numRuns: 3_000 },
    );
  });

  it("prints numbers the way JavaScript does where the message did not (Jackson's 12.0, 1.0E10, toFixed's 1.50)", () => {
    const p = new FastMemberParser();
    for (const [written, printed] of [
      ["12.0", "12"],
      ["1.50", "1.5"],
      ["1.0E10", "10000000000"],
      ["1e3", "1000"],
      ["-0", "0"],
      ["-0.0", "0"],
      ["0.0000001", "1e-7"],
      ["1e400", "null"],
      ["12345678901234567", "12345678901234568"],
      ["2.5E-3", "0.0025"],
    ]) {
      const text = msg(`{"a":${written},"b":[${written},"x"],"c":1}`);
      expect(fast(p, text), written).toEqual(slow(text));
      expect(fast(p, text)).toMatchObject({ metricsJson: `{"a":${printed},"b":[${printed},"x"],"c":1}` });
    }
  });

  it("reads every number as JSON.parse does, however it is written", () => {
    const p = new FastMemberParser();
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        for (const written of [JSON.stringify(x), x.toExponential(), x.toFixed(3), x.toPrecision(18)]) {
          if (!/^-?\d/.test(written)) continue;
          const text = msg(`{"x":${written}}`);
          const f = fast(p, text);
          expect(f).not.toBe("declined");
          expect(f).toEqual(slow(text));
        }
      }),
      { numRuns: 3_000 },
    );
    for (const x of [0, 1, -1, 0.5, 12.25, 1234.5, 0.000001, 0.1, 99999999999999]) expect(fast(p, msg(`{"x":${JSON.stringify(x)}}`))).not.toBe("declined");
  });

  it("cuts a fraction's trailing zeros exactly as JSON.parse then JSON.stringify print the number", () => {
    const p = new FastMemberParser();
    const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom("0", "1", "5", "9"), minLength: min, maxLength: max });
    fc.assert(
      fc.property(fc.boolean(), digits(1, 17), digits(0, 12), fc.nat(4), fc.boolean(), (negative, int, frac, zeros, nested) => {
        const written = `${negative ? "-" : ""}${int.replace(/^0+(?=\d)/, "")}.${frac}${"0".repeat(zeros)}`;
        if (!/\.\d/.test(written)) return;
        const text = msg(nested ? `{"a":[${written},{"b":${written}}],"c":${written}}` : `{"x":${written}}`);
        expect(fast(p, text), written).toEqual(slow(text));
      }),
      { numRuns: 5_000 },
    );
    for (const [written, printed] of [
      ["14.50", "14.5"],
      ["14.00", "14"],
      ["0.0", "0"],
      ["0.0000010", "0.000001"],
      ["0.00000010", "1e-7"],
      ["-0.50", "-0.5"],
      ["100.10", "100.1"],
      ["1234567890123456.0", "1234567890123456"],
    ]) {
      expect(fast(p, msg(`{"x":${written},"y":"\u00e9"}`)), written).toMatchObject({ metricsJson: `{"x":${printed},"y":"é"}` });
    }
  });
});

describe("changeMessageText", () => {
  it("gives JSON.stringify of the change message, whatever the names hold", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 12 });
    const weird = fc.constantFrom('"', "\\", "/", "\u0000", "\u2028", "\ud800", "é", "😀", "</script>");
    const name = fc.oneof(text, weird, fc.array(weird, { maxLength: 4 }).map((a) => a.join("")));
    fc.assert(
      fc.property(name, fc.constantFrom("enter", "exit") as fc.Arbitrary<"enter" | "exit">, name, name, name, (segment, change, runId, asOf, entityId) => {
        const m = changeMessageText(segment, change, runId, asOf)(entityId);
        expect(m).toBe(JSON.stringify({ segment, entityId, change, runId, asOf }));
        expect(JSON.parse(m)).toEqual({ segment, entityId, change, runId, asOf });
      }),
      { numRuns: 500 },
    );
  });
});
