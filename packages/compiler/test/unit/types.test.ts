import { describe, expect, it } from "vitest";
import { T, commonType, enumType, isNumeric, listType, quoteSparkIdentifier, segType, sparkTypeName, typeToString, typesEqual, withNullable } from "../../src/types.js";

describe("types", () => {
  it("prints types for messages", () => {
    expect(typeToString(T.number)).toBe("number");
    expect(typeToString(segType("string", true))).toBe("string?");
    expect(typeToString(enumType(["a", "b"]))).toBe('enum("a","b")');
    expect(typeToString(enumType(["a"], true))).toBe('enum("a")?');
    expect(typeToString(listType(T.integer))).toBe("list<integer>");
    expect(typeToString(T.null)).toBe("null");
  });

  it("is JSON-serialisable", () => {
    const t = listType(enumType(["x"], true));
    expect(JSON.parse(JSON.stringify(t))).toEqual(t);
  });

  it("knows numeric types and common types", () => {
    expect(isNumeric(T.integer) && isNumeric(T.number)).toBe(true);
    expect(isNumeric(T.string)).toBe(false);
    expect(commonType(T.integer, T.number)).toEqual(T.number);
    expect(commonType(T.integer, T.integer)).toEqual(T.integer);
    expect(commonType(T.string, T.null)).toEqual(withNullable(T.string, true));
    expect(commonType(T.string, T.number)).toBeUndefined();
    expect(commonType(enumType(["a"]), enumType(["b"]))).toEqual(enumType(["a", "b"]));
    expect(commonType(T.error, T.string)?.kind).toBe("error");
    expect(typesEqual(enumType(["a"]), enumType(["a"]))).toBe(true);
    expect(typesEqual(enumType(["a"]), T.string)).toBe(false);
  });

  it("maps to Spark types and quotes identifiers", () => {
    expect(sparkTypeName(T.integer)).toBe("BIGINT");
    expect(sparkTypeName(T.number)).toBe("DOUBLE");
    expect(sparkTypeName(T.timestamp)).toBe("TIMESTAMP");
    expect(sparkTypeName(enumType(["a"]))).toBe("STRING");
    expect(quoteSparkIdentifier("a`b")).toBe("`a``b`");
  });
});
