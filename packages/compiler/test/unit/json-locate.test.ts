import { describe, expect, it } from "vitest";
import { JsonDocument, checkJsonSyntax, formatPointer, locateJsonPointer, parsePointer } from "../../src/json-locate.js";

const text = `{
  "type": "object",
  "properties": {
    "amount": { "type": "number" },
    "a/b": { "type": "string" },
    "list": [1, 2, {"deep": true}]
  }
}`;

function slice(t: string, loc: { span: { start: { offset: number }; end: { offset: number } } }): string {
  return t.slice(loc.span.start.offset, loc.span.end.offset);
}

describe("json-locate", () => {
  it("locates a value by pointer with 1-based line and column", () => {
    const loc = locateJsonPointer(text, "/properties/amount/type");
    expect(loc.found).toBe(true);
    expect(slice(text, loc)).toBe('"number"');
    expect(loc.span.start).toMatchObject({ line: 4, column: 25 });
    expect(loc.keySpan?.start).toMatchObject({ line: 4, column: 17 });
    expect(loc.focus).toEqual(loc.keySpan);
    expect(loc.pointer).toBe("/properties/amount/type");
  });

  it("unescapes ~1 and ~0 and walks arrays", () => {
    expect(slice(text, locateJsonPointer(text, "/properties/a~1b"))).toBe('{ "type": "string" }');
    expect(slice(text, locateJsonPointer(text, "/properties/list/2/deep"))).toBe("true");
    expect(slice(text, locateJsonPointer(text, "#/properties/list/1"))).toBe("2");
  });

  it("falls back to the nearest existing parent", () => {
    const loc = locateJsonPointer(text, "/properties/amount/format");
    expect(loc.found).toBe(false);
    expect(loc.pointer).toBe("/properties/amount");
    expect(slice(text, loc)).toBe('{ "type": "number" }');
    const idx = locateJsonPointer(text, "/properties/list/7");
    expect(idx.pointer).toBe("/properties/list");
  });

  it("the root pointer is the whole document; its focus is the opening brace", () => {
    const loc = locateJsonPointer(text, "");
    expect(loc.found).toBe(true);
    expect(loc.span.end.offset).toBe(text.length);
    expect(loc.focus.end.offset - loc.focus.start.offset).toBe(1);
  });

  it("uses the last of duplicate keys, as JSON.parse does", () => {
    const t = '{"a": 1, "a": 2}';
    expect(slice(t, locateJsonPointer(t, "/a"))).toBe("2");
  });

  it.each([
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}'"],
    ['{"a": 1,}', 1, 8, "trailing comma"],
    ['{"a": tru}', 1, 7, "expected a value"],
    ['{"a": "x', 1, 7, "string is not closed"],
    ["[1, 2", 1, 6, "expected ',' or ']'"],
    ["", 1, 1, "expected a value but found end of text"],
    ['{"a": 01}', 1, 7, "invalid number"],
    ['{"a": "\\q"}', 1, 8, "invalid escape"],
    ["{'a': 1}", 1, 2, "expected a property name in double quotes"],
    ['{"a": 1} x', 1, 10, "after the end of the JSON value"],
  ])("reports the syntax error in %j at %i:%i", (bad, line, column, message) => {
    const err = checkJsonSyntax(bad);
    expect(err).toBeDefined();
    expect(err!.message).toContain(message);
    expect(err!.span.start).toMatchObject({ line, column });
    // locate on a broken document returns the error position, never throws
    const loc = locateJsonPointer(bad, "/a");
    expect(loc.found).toBe(false);
    expect(loc.span).toEqual(err!.span);
  });

  it("accepts valid JSON that JSON.parse accepts, including a BOM and escapes", () => {
    for (const ok of ["\uFEFF{}", '"\\u00e9\\n"', "-1.5e+3", "[]", 'null', '{"a":[true,false,null]}']) {
      const doc = JsonDocument.parse(ok);
      expect(doc.ok, ok).toBe(true);
      expect(doc.value).toEqual(JSON.parse(ok.replace(/^\uFEFF/, "")));
    }
    const doc = JsonDocument.parse('{"\\u0061\\/b": 1}');
    expect(doc.locate("/a~1b").found).toBe(true);
  });

  it("never throws on deep nesting", () => {
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const doc = JsonDocument.parse(deep);
    expect(doc.ok).toBe(true);
    expect(() => doc.locate("/0/0/0")).not.toThrow();
    expect(JsonDocument.parse("[".repeat(5000)).ok).toBe(false);
  });

  it("finds members by name", () => {
    const doc = JsonDocument.parse(text);
    expect(doc.findMembers("type").map((l) => l.pointer)).toEqual([
      "/type",
      "/properties/amount/type",
      "/properties/a~1b/type",
    ]);
  });

  it("round-trips pointers", () => {
    expect(parsePointer("/a~1b/~0c/0")).toEqual(["a/b", "~c", "0"]);
    expect(formatPointer(["a/b", "~c", 0])).toBe("/a~1b/~0c/0");
    expect(parsePointer("")).toEqual([]);
  });
});
