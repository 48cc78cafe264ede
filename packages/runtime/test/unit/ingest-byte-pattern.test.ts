/**
 * Byte patterns (src/ingest/byte-pattern.ts): a simple `pattern` matched on ASCII bytes accepts
 * exactly what `new RegExp(pattern, "u").test` accepts, and patterns it cannot match exactly that
 * way get no byte pattern (the regular expression is kept).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileBytePattern } from "../../src/ingest/byte-pattern.js";

const SIMPLE = [
  "^c[0-9]{3}$",
  "^[A-Z]{2}$",
  "^$",
  "^abc$",
  "^[a-z0-9_-]+$",
  "^[-a-c]*$",
  "^[a-]{1,3}x$",
  "^\\d{2,4}-\\w+$",
  "^[A-Z]{2}-[0-9]{1,}$",
  "^a?b$",
  "^a*b*c$",
  "^\\.\\$[\\]\\\\x]{0,2}$",
  "^ab{0}c$",
  "^x:y=z@#%&'\"~`<>!,;$",
];

const COMPLEX = [
  "c[0-9]{3}", // unanchored: a substring search
  "^c[0-9]{3}", // no end anchor
  "^a|b$",
  "^(ab)+$",
  "^.+$",
  "^[^a]$",
  "^a*a$", // greedy would be wrong
  "^[ab]*b?$",
  "^a*b*a$", // greedy would be wrong (the b* can be empty)
  "^a+?$",
  "^\\s$",
  "^é$",
  "^[a\\s]$",
  "^[[]$",
];

/** Short strings over the characters the patterns use, and some others. */
const text = fc.string({ unit: fc.constantFrom(..."abcxyzAZ019-_.$]\\:=@#%&'\"~`<>!,; é"), maxLength: 8 });

describe("byte patterns", () => {
  it("compile the simple patterns", () => {
    for (const p of SIMPLE) expect(compileBytePattern(p), p).toBeTypeOf("function");
  });

  it("decline what greedy matching on ASCII bytes cannot do exactly", () => {
    for (const p of COMPLEX) expect(compileBytePattern(p), p).toBeUndefined();
  });

  it("accept exactly what the regular expression accepts, on ASCII", () => {
    for (const p of SIMPLE) {
      const re = new RegExp(p, "u");
      const bytes = compileBytePattern(p)!;
      fc.assert(
        fc.property(text, fc.string({ maxLength: 3 }), (s, prefix) => {
          if (!/^[\x00-\x7f]*$/.test(s)) return;
          // Also at an offset inside a larger buffer.
          const pad = Buffer.from(prefix.replace(/[^\x00-\x7f]/g, "?"), "latin1");
          const b = Buffer.concat([pad, Buffer.from(s, "latin1"), Buffer.from("zz")]);
          expect(bytes(b, pad.length, pad.length + s.length), `${p} on ${JSON.stringify(s)}`).toBe(re.test(s));
        }),
        { numRuns: 400 },
      );
    }
  });

  it("match the strings the patterns describe", () => {
    const bytes = compileBytePattern("^c[0-9]{3}$")!;
    const at = (s: string) => bytes(Buffer.from(s), 0, s.length);
    expect(at("c042")).toBe(true);
    expect(at("c04")).toBe(false);
    expect(at("c0423")).toBe(false);
    expect(at("d042")).toBe(false);
    expect(at("c04a")).toBe(false);
  });
});
