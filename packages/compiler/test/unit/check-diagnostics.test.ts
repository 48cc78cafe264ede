import { describe, expect, it } from "vitest";
import { checkSources, checkWhere, eventSchema, registryOf, where, type Checked } from "../golden/check/support/project.js";

/** Expects no syntax errors, then exactly `expected` checker diagnostics (`CODE line:col`). */
function expectCodes(result: Checked, expected: string[]): void {
  expect(result.parseDiagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
  expect(where(result.diagnostics)).toEqual(expected);
}

/** The only diagnostic of a result. */
function only(result: Checked) {
  expect(result.diagnostics).toHaveLength(1);
  return result.diagnostics[0]!;
}

// `checkWhere(c)` puts the condition on line 2 at column 9: `  where <c>`.
describe("unknown names (SEG030-SEG035) with suggestions", () => {
  it("SEG030 unknown event", () => {
    const r = checkWhere("count(purchse) > 1");
    expectCodes(r, ["SEG030 2:15"]);
    expect(only(r).hints).toEqual(["did you mean purchase?"]);
    expect(only(r).message).toBe("unknown event type purchse");
  });

  it("SEG031 unknown field, pointing at the field", () => {
    const r = checkWhere("sum(purchase.amout in last 30 days) > 1_000");
    expectCodes(r, ["SEG031 2:22"]);
    expect(only(r).span.end.column - only(r).span.start.column).toBe(5);
    expect(only(r).message).toBe("event purchase has no field amout");
    expect(only(r).hints).toEqual(["did you mean amount?"]);
  });

  it("SEG031 unknown field inside a filter, bare or written in full", () => {
    expectCodes(checkWhere("count(purchase where purchase.colour = \"red\") > 1"), ["SEG031 2:39"]);
  });

  it("SEG032 unknown attribute", () => {
    const r = checkWhere('customer.contry = "US"');
    expectCodes(r, ["SEG032 2:18"]);
    expect(only(r).hints).toEqual(["did you mean country?"]);
  });

  it("SEG032 a key that is not an attribute", () => {
    const r = checkSources("segment s {\n  entity customer key customer_ud\n  where true\n}\n");
    expectCodes(r, ["SEG032 2:23"]);
    expect(only(r).hints).toEqual(["did you mean customer_id?"]);
  });

  it("SEG033 unknown segment", () => {
    const r = checkWhere("in high_valu", "segment high_value {\n  where true\n}\n");
    expectCodes(r, ["SEG033 5:12"]);
    expect(only(r).hints).toEqual(["did you mean high_value?"]);
  });

  it("SEG034 unknown name, suggesting a constant (which then does not count as unused)", () => {
    const r = checkWhere("threshhold > 1", "const threshold = 1\n");
    expectCodes(r, ["SEG034 3:9"]);
    expect(only(r).hints).toEqual(["did you mean threshold?"]);
  });

  it("SEG034 unknown first part of a path, and a bare name in a filter", () => {
    expectCodes(checkWhere("custmer.country = 1"), ["SEG034 2:9"]);
    const r = checkWhere("count(purchase where amout > 1) > 0");
    expectCodes(r, ["SEG034 2:30"]);
    expect(only(r).hints).toEqual(["did you mean amount?"]);
  });

  it("SEG035 unknown function, also by prefix", () => {
    const r = checkWhere('lowercase(customer.email) = "x"');
    expectCodes(r, ["SEG035 2:9"]);
    expect(only(r).hints).toEqual(["did you mean lower?"]);
  });

  it("lists what exists when nothing is close", () => {
    expect(only(checkWhere("count(zzzzzz) > 1")).hints).toEqual(["the event types are: add_to_cart, page_view, purchase"]);
    expect(only(checkWhere("customer.zzzzzz > 1")).hints[0]).toMatch(/^the attributes of customer are: birth_year, country, customer_id, /);
  });
});

describe("types (SEG036, SEG037, SEG038, SEG048, SEG053)", () => {
  it.each([
    ["customer.country = 1", "SEG036 2:9"],
    ["as_of + 3 > as_of", "SEG036 2:9"],
    ['lower(42) = "x"', "SEG036 2:15"],
    ['customer.country + 1 > 2', "SEG036 2:9"],
    ["count(purchase) > 1 and (1 < true)", "SEG036 2:34"],
    ["customer.marketing_opt_in < true", "SEG036 2:9"],
    ["customer.country in last 3 days", "SEG036 2:9"],
    ["customer.birth_year between 1990 and \"x\"", "SEG036 2:46"],
    ["customer.country in [\"US\", 1]", "SEG036 2:36"],
    ["customer.email contains 1", "SEG036 2:33"],
    ["exists(purchase.coupon)", "SEG036 2:16"],
    ["min(purchase) > 1", "SEG036 2:13"],
    ["count_distinct(purchase) > 1", "SEG036 2:24"],
    ["round(customer.birth_year, 1.5) > 1", "SEG036 2:36"],
    ["coalesce(customer.birth_year, \"none\") = 1", "SEG036 2:39"],
  ])("SEG036: %s", (condition, expected) => {
    expectCodes(checkWhere(condition), [expected]);
  });

  it("SEG036 for an enum compared with a value outside it, listing the allowed values", () => {
    const r = checkWhere('customer.loyalty_tier = "diamond"');
    expectCodes(r, ["SEG036 2:33"]);
    expect(only(r).hints).toEqual(['allowed values: "none", "bronze", "silver", "gold", "platinum"']);
    expectCodes(checkWhere('customer.loyalty_tier in ["gold", "diamond"]'), ["SEG036 2:43"]);
    expectCodes(checkWhere('count(purchase where category != "garden") > 0'), ["SEG036 2:42"]);
  });

  it("SEG036 hints at quoted dates and numbers", () => {
    expect(only(checkWhere('customer.signup_time > "2025-01-01"')).hints).toEqual(["dates and timestamps are written without quotes: 2025-01-01"]);
    expect(only(checkWhere('customer.birth_year = "1990"')).hints).toEqual(["numbers are written without quotes: 1990"]);
    expect(only(checkWhere("as_of - customer.signup_time > 3")).hints).toEqual(["write the number with a unit, e.g. 30 days"]);
  });

  it("SEG037 sum or avg of a non-number", () => {
    const r = checkWhere("sum(purchase.category) > 1");
    expectCodes(r, ["SEG037 2:13"]);
    expect(only(r).message).toBe("sum needs a numeric field, but purchase.category is a string");
    expectCodes(checkWhere("avg(purchase) > 1"), ["SEG037 2:13"]);
  });

  it("SEG038 aggregate over a profile or a constant", () => {
    const r = checkWhere("sum(customer.birth_year) > 1");
    expectCodes(r, ["SEG038 2:13"]);
    expect(only(r).message).toBe("sum must be applied to an event type, not profile customer");
    expectCodes(checkWhere("count(spend) > 1", "const spend = 1\n"), ["SEG038 3:15"]);
  });

  it("SEG048 non-boolean conditions: where, and/or/not operands, filters", () => {
    expectCodes(checkWhere("sum(purchase.amount)"), ["SEG048 2:9"]);
    expectCodes(checkWhere("count(purchase) and true"), ["SEG048 2:9"]);
    expectCodes(checkWhere("true or 1"), ["SEG048 2:17"]);
    expectCodes(checkWhere("not customer.country"), ["SEG048 2:13"]);
    expectCodes(checkWhere("count(purchase where amount) > 1"), ["SEG048 2:30"]);
    expectCodes(checkWhere("null"), ["SEG048 2:9"]);
  });

  it("SEG053 a metric that is a duration, a date or a list", () => {
    const r = checkSources("segment s {\n  metric age = as_of - customer.signup_time\n  where true\n}\n");
    expectCodes(r, ["SEG053 2:16"]);
    expect(only(r).message).toBe("metric age must be a number, string, boolean or timestamp, not a duration");
    expectCodes(checkSources("segment s {\n  metric d = 2026-01-01\n  where true\n}\n"), ["SEG053 2:14"]);
    expectCodes(checkSources("segment s {\n  metric l = [1, 2]\n  where true\n}\n"), ["SEG053 2:14"]);
  });
});

describe("events, aggregates and windows (SEG039, SEG040, SEG041, SEG049, SEG057)", () => {
  it("SEG039 event field outside an aggregate, or in another event's filter", () => {
    expectCodes(checkWhere("purchase.amount > 100"), ["SEG039 2:9"]);
    expectCodes(checkWhere('exists(purchase where page_view.url = "x")'), ["SEG039 2:31"]);
  });

  it("SEG040 reversed window, in aggregates and window tests", () => {
    const r = checkWhere("exists(purchase between 30 days and 60 days ago)");
    expectCodes(r, ["SEG040 2:25"]);
    expect(only(r).message).toBe("window starts at 30 days ago but ends at 60 days ago; write the older bound first");
    expect(only(r).hints).toEqual(["write between 60 days and 30 days ago"]);
    expectCodes(checkWhere("customer.signup_time between 1 day and 2 weeks ago"), ["SEG040 2:30"]);
  });

  it("SEG041 empty window, also with mixed units", () => {
    expectCodes(checkWhere("exists(purchase in last 0 days)"), ["SEG041 2:25"]);
    expectCodes(checkWhere("exists(purchase between 1 week and 7 days ago)"), ["SEG041 2:25"]);
    expectCodes(checkWhere("customer.signup_time in the last 0 hours"), ["SEG041 2:30"]);
  });

  it("SEG049 an aggregate in a filter, directly or through a constant", () => {
    expectCodes(checkWhere("count(purchase where count(page_view) > 1) > 0"), ["SEG049 2:30"]);
    expectCodes(checkWhere("count(purchase where x) > 0", "const x = count(page_view) > 1\n"), ["SEG049 3:30"]);
  });

  it("a constant without aggregates may be used in a filter", () => {
    expectCodes(checkWhere("count(purchase where ts >= launch and amount > big) > 0", "const launch = 2026-10-15T09:00:00-04:00\nconst big = 100\n"), []);
  });

  it("SEG057 attributes and segments cannot be used in a filter", () => {
    expectCodes(checkWhere("count(purchase where amount > customer.birth_year) > 0"), ["SEG057 2:39"]);
    expectCodes(checkWhere("count(purchase where in t) > 0", "segment t {\n  where true\n}\n"), ["SEG057 5:30"]);
    expectCodes(checkWhere("count(purchase where x) > 0", 'const x = customer.country = "US"\n'), ["SEG057 3:30"]);
  });

  it("a field of the event wins over a constant of the same name", () => {
    const r = checkWhere("count(purchase where amount > 1) > 0", 'const amount = "x"\n');
    expectCodes(r, ["SEG047 1:7"]);
  });
});

describe("settings and entities (SEG051, SEG052, SEG056)", () => {
  const registry = registryOf(
    [eventSchema("session_start", "session", { device: { type: "string" } }), eventSchema("basket", "customer", { lines: { type: "array" }, total: { type: "number" } })],
    true,
  );

  it("SEG051 an event, segment, profile or constant of another entity", () => {
    expectCodes(checkSources("segment s {\n  where count(session_start) > 1\n}\n", { registry }), ["SEG051 2:15"]);
    const two = "segment t {\n  entity session\n  where count(session_start) > 1\n}\nsegment s {\n  where in t\n}\n";
    expectCodes(checkSources(two, { registry }), ["SEG051 6:12"]);
    const viaConst = "const n = count(session_start)\nsegment s {\n  where n > 1\n}\n";
    expectCodes(checkSources(viaConst, { registry }), ["SEG051 3:9"]);
    const profile = "segment t {\n  entity session\n  where customer.country = \"US\"\n}\n";
    expectCodes(checkSources(profile, { registry }), ["SEG051 3:9"]);
  });

  it("SEG052 unknown entity, and no entity errors after it", () => {
    const r = checkSources("segment s {\n  entity custmer\n  where count(purchase) > 1\n}\n");
    expectCodes(r, ["SEG052 2:10"]);
    expect(only(r).hints).toEqual(["did you mean customer?"]);
  });

  it("an entity without a profile is known from its events", () => {
    expectCodes(checkSources("segment t {\n  entity session\n  where count(session_start) > 1\n}\n", { registry }), []);
  });

  it("SEG056 ttl shorter than refresh, written or from the project defaults", () => {
    const r = checkSources("segment s {\n  refresh every 1 hour\n  ttl 30 minutes\n  where true\n}\n");
    expectCodes(r, ["SEG056 3:3"]);
    expect(only(r).message).toContain("ttl 30 minutes is shorter than the refresh interval (every 1 hour)");
    const project = { entity: "customer", defaults: { ttl: { ms: 7_200_000 } } };
    expectCodes(checkSources("segment s {\n  refresh every 1 day\n  where true\n}\n", { project }), ["SEG056 2:3"]);
    expectCodes(checkSources("segment s {\n  refresh every 0 minutes\n  where true\n}\n"), ["SEG056 2:3"]);
  });

  it("SEG073 a field whose schema type seg cannot use", () => {
    const r = checkSources("segment s {\n  where count(basket where lines is null) > 0 and max(basket.lines) > 1\n}\n", { registry });
    expectCodes(r, ["SEG073 2:28", "SEG073 2:62"]);
    expect(r.diagnostics[0]!.message).toBe("field basket.lines has a type seg cannot use: it is an array");
  });
});

describe("warnings and regular expressions (SEG018, SEG047, SEG054, SEG055)", () => {
  it("SEG047 unused constant, but not one used only by another constant", () => {
    const r = checkSources("const a = 1\nconst b = a + 1\nconst c = 2\nsegment s {\n  where b > c\n}\nconst unused = 3\n");
    expectCodes(r, ["SEG047 7:7"]);
    expect(only(r).severity).toBe("warning");
  });

  it("SEG054 division by a literal zero (also through a constant)", () => {
    const r = checkWhere("sum(purchase.amount) / 0 > 1");
    expectCodes(r, ["SEG054 2:32"]);
    expect(only(r).severity).toBe("warning");
    expectCodes(checkWhere("count(purchase) / zero > 1", "const zero = 0\n"), ["SEG054 3:27"]);
    expectCodes(checkWhere("count(purchase) / 0.5 > 1"), []);
  });

  it("SEG055 comparing with null, in comparisons, lists and ranges", () => {
    const r = checkWhere("customer.email = null");
    expectCodes(r, ["SEG055 2:9"]);
    expect(only(r).severity).toBe("warning");
    expectCodes(checkWhere("customer.email != null"), ["SEG055 2:9"]);
    expectCodes(checkWhere('customer.email in ["a", null]'), ["SEG055 2:33"]);
    expectCodes(checkWhere("customer.birth_year between null and 3"), ["SEG055 2:37"]);
  });

  it("SEG018 invalid regular expression, also through a constant", () => {
    const r = checkWhere('customer.email matches "([a-z]"');
    expectCodes(r, ["SEG018 2:32"]);
    expect(only(r).message).toBe("invalid regular expression: Unterminated group");
    expectCodes(checkWhere("customer.email matches p", 'const p = "[a-"\n'), ["SEG018 3:32"]);
    expectCodes(checkWhere('customer.email matches "^[a-z]+@\\\\w+\\\\.com$"'), []);
  });

  it("SEG050 wrong number of arguments", () => {
    const r = checkWhere("round(1, 2, 3) > 0");
    expectCodes(r, ["SEG050 2:9"]);
    expect(only(r).message).toBe("round takes 1 or 2 arguments but was given 3");
    expectCodes(checkWhere("coalesce() > 0"), ["SEG050 2:9"]);
    expectCodes(checkWhere("least(1) > 0"), ["SEG050 2:9"]);
    expectCodes(checkWhere("lower() = \"a\""), ["SEG050 2:9"]);
  });
});

describe("diagnostics carry their file", () => {
  it("names the file of each diagnostic", () => {
    const r = checkSources({ "rules/a.seg": "segment a {\n  where count(purchse) > 1\n}\n", "rules/b.seg": "segment b {\n  where x\n}\n" });
    expect(where(r.diagnostics, true)).toEqual(["rules/a.seg:SEG030 2:15", "rules/b.seg:SEG034 2:9"]);
  });
});

describe("the project's default entity", () => {
  it("SEG052 at the segment name when no schema is about the default entity", () => {
    const r = checkSources("segment s {\n  where count(purchase) > 1\n}\nsegment t {\n  entity customer\n  where true\n}\n", { project: { entity: "client", defaults: {} } });
    expect(where(r.diagnostics)).toEqual(["SEG052 1:9"]);
    expect(r.program.segments.get("s")!.ok).toBe(false);
    expect(r.program.segments.get("t")!.ok).toBe(true);
  });
});
