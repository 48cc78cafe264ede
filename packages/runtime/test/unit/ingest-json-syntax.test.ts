/**
 * The JSON syntax check that finds malformed events before `JSON.parse` (json-syntax.ts): it must
 * accept exactly what `JSON.parse` accepts (a wrong "malformed" would turn a valid event into a
 * dead letter), on generated JSON and on byte-level mutations of it.
 */
import { isUtf8 } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonSyntaxError } from "../../src/ingest/json-syntax.js";

/** True when JSON.parse accepts the UTF-8 text. */
function parses(b: Buffer): boolean {
  try {
    JSON.parse(b.toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

/** Both agree on `b` (valid UTF-8 only: invalid UTF-8 is rejected before either runs). */
function agree(b: Buffer): boolean {
  if (!isUtf8(b)) return true;
  const ok = parses(b);
  expect({ text: b.toString("utf8"), accepted: jsonSyntaxError(b) === undefined }).toEqual({ text: b.toString("utf8"), accepted: ok });
  return ok;
}

/** JSON texts with whitespace between tokens. */
const jsonText = fc.tuple(fc.jsonValue(), fc.constantFrom("", " ", "\n\t", "\r\n  ")).map(([v, ws]) => {
  const text = JSON.stringify(v, null, ws.length > 1 ? ws : undefined) ?? "null";
  return ws === " " ? ` ${text} ` : text;
});

/** Fragments that JSON.parse treats specially. */
const tricky = fc.constantFrom(
  "",
  " ",
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  "\\",
  "\\u",
  "\\u12",
  "\\uD83D",
  "\\x",
  "\\/",
  "\u0000",
  "\u001f",
  "\u007f",
  "é",
  "\ufeff",
  "\u00a0",
  "\u2028",
  "-",
  "-0",
  "01",
  "1.",
  ".5",
  "1e",
  "1e+",
  "1E-7",
  "+1",
  "Infinity",
  "NaN",
  "nul",
  "tru",
  "falsey",
  "true",
  "null",
  "1e400",
  "\v",
  "\f",
  "'",
);

describe("jsonSyntaxError", () => {
  it("accepts generated JSON, with whitespace", () => {
    fc.assert(
      fc.property(jsonText, (t) => {
        expect(agree(Buffer.from(t, "utf8"))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees with JSON.parse on mutations: bytes replaced, inserted, deleted, the text cut", () => {
    fc.assert(
      fc.property(jsonText, fc.nat(), fc.nat(255), tricky, fc.constantFrom("replace", "insert", "delete", "cut", "splice"), (t, at, byte, fragment, kind) => {
        const b = Buffer.from(t, "utf8");
        const i = b.length === 0 ? 0 : at % (b.length + 1);
        const f = Buffer.from(fragment, "utf8");
        const m =
          kind === "replace" && i < b.length
            ? Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i + 1)])
            : kind === "insert"
              ? Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)])
              : kind === "delete"
                ? Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])
                : kind === "cut"
                  ? b.subarray(0, i)
                  : Buffer.concat([b.subarray(0, i), f, b.subarray(i)]);
        agree(m);
      }),
      { numRuns: 5_000 },
    );
  });

  it("agrees with JSON.parse on short texts of JSON's own characters", () => {
    fc.assert(fc.property(fc.array(tricky, { maxLength: 8 }), (parts) => void agree(Buffer.from(parts.join(""), "utf8"))), { numRuns: 5_000 });
  });

  it("says what is wrong and where", () => {
    expect(jsonSyntaxError(Buffer.from('{"a":1,}'))).toBe("'}' at byte 7 where a quoted key should be");
    expect(jsonSyntaxError(Buffer.from('{"event_id":"p-1","amount":'))).toBe("the text ends where a value should be (byte 27)");
    expect(jsonSyntaxError(Buffer.from('{"a":"b'))).toBe("the text ends where the end of a string should be (byte 7)");
    expect(jsonSyntaxError(Buffer.from("[1] 2"))).toBe("'2' at byte 4 where the end of the text should be");
    expect(jsonSyntaxError(Buffer.from('{"a":"\u0001"}'))).toBe("byte 0x01 at byte 6 where a character of a string (control characters must be escaped) should be");
    expect(jsonSyntaxError(Buffer.from(' {"a": [1, {"b": null}], "c": "d\\u00e9"} '))).toBeUndefined();
  });
});
