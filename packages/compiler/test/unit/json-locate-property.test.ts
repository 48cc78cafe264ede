import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { JsonDocument, formatPointer } from "../../src/json-locate.js";

function paths(value: unknown, prefix: (string | number)[] = []): { path: (string | number)[]; value: unknown }[] {
  const out = [{ path: prefix, value }];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

describe("json-locate (properties)", () => {
  it("agrees with JSON.parse on validity and never throws", () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))),
      fc.json().chain((j) => fc.nat(j.length).map((i) => j.slice(0, i) + "," + j.slice(i))),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const doc = JsonDocument.parse(text);
        expect(doc.ok).toBe(valid);
        expect(() => doc.locate("/a/0/b")).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it("locates every value of a document, whatever its layout", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2, "\t"), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const doc = JsonDocument.parse(text);
        expect(doc.ok).toBe(true);
        for (const p of paths(JSON.parse(text))) {
          const loc = doc.locate(formatPointer(p.path));
          expect(loc.found).toBe(true);
          expect(JSON.parse(text.slice(loc.span.start.offset, loc.span.end.offset))).toEqual(p.value);
        }
      }),
      { numRuns: 300 },
    );
  });
});
