import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance, nameHints } from "../../src/check/suggest.js";

describe("editDistance (optimal string alignment)", () => {
  it.each([
    ["", "", 0],
    ["abc", "", 3],
    ["amount", "amount", 0],
    ["amout", "amount", 1],
    ["amuont", "amount", 1],
    ["purchse", "purchase", 1],
    ["kitten", "sitting", 3],
    ["ca", "abc", 3],
  ])("%s / %s = %i", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe("closest", () => {
  it("prefers the smallest distance, then the alphabetically first", () => {
    expect(closest("cont", ["count", "cent", "coat"])).toBe("cent");
    expect(closest("amout", ["amount", "about"])).toBe("about");
  });

  it("accepts a case difference first", () => {
    expect(closest("Purchase", ["purchases", "purchase"])).toBe("purchase");
  });

  it("allows distance 2, or 1 for short names", () => {
    expect(closest("ammnt", ["amount"])).toBe("amount");
    expect(closest("ab", ["xy"])).toBeUndefined();
    expect(closest("ab", ["ax"])).toBe("ax");
  });

  it("falls back to a shared prefix", () => {
    expect(closest("lowercase", ["lower", "upper"])).toBe("lower");
    expect(closest("sign", ["signup_time"])).toBe("signup_time");
    expect(closest("zz", ["zzzzzz"])).toBeUndefined();
  });

  it("never suggests the name itself or nothing", () => {
    expect(closest("a", ["a"])).toBeUndefined();
    expect(closest("", ["a"])).toBeUndefined();
  });
});

describe("hints", () => {
  it("word suggestions as hints, quoting names that need backticks", () => {
    expect(didYouMean("first_nme", ["first name", "first_name"])).toEqual(["did you mean first_name?"]);
    expect(didYouMean("first nme", ["first name"])).toEqual(["did you mean `first name`?"]);
  });

  it("lists the names when none is close", () => {
    expect(nameHints("zzz", ["b", "a"], "the events are")).toEqual(["the events are: a, b"]);
    expect(nameHints("zzz", [], "the events are")).toEqual([]);
    expect(nameHints("zzz", Array.from({ length: 12 }, (_, i) => `n${String(i).padStart(2, "0")}`), "x")[0]).toBe("x: n00, n01, n02, n03, n04, n05, n06, n07, n08, n09, ...");
  });
});
