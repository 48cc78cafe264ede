import { describe, expect, it } from "vitest";
import { parse, stripSpans, type Expr, type SegmentDecl, type SegFile } from "@seg/dsl";

function ok(text: string): SegFile {
  const r = parse(text, "t.seg");
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return stripSpans(r.file);
}

/** The `where` condition of a one-segment file, without spans. */
function cond(condition: string): Expr {
  const f = ok(`segment s { where ${condition} }`);
  const seg = f.declarations[0] as SegmentDecl;
  const where = seg.items.find((i) => i.kind === "Where");
  if (!where || where.kind !== "Where") throw new Error("no where");
  return where.condition;
}

const path = (...parts: string[]) => ({ kind: "Path", parts: parts.map((text) => ({ kind: "Name", text, quoted: false })) });
const num = (raw: string) => ({ kind: "Number", value: Number(raw.replace(/_/g, "")), raw });
const str = (value: string) => ({ kind: "String", value });
const dur = (raw: string, unit: string) => ({ kind: "Duration", amount: Number(raw), unit, raw });

describe("segments and settings", () => {
  it("parses the seed example with every setting", () => {
    const f = ok(`
segment high_value "High-value customers" {
  description "Spent more than $1,000"
  owner "growth@shop.example"
  tags ["revenue", "vip",]
  entity customer key customer_id
  refresh every 15 minutes
  ttl 1 hour
  metric total_spend = sum(purchase.amount in last 30 days)

  where sum(purchase.amount in last 30 days) > 1_000
    and count(purchase in last 30 days) > 5
}`);
    const seg = f.declarations[0] as SegmentDecl;
    expect(seg.name.text).toBe("high_value");
    expect(seg.title).toEqual(str("High-value customers"));
    expect(seg.items.map((i) => i.kind)).toEqual(["Description", "Owner", "Tags", "Entity", "Refresh", "Ttl", "Metric", "Where"]);
    expect(seg.items[2]).toEqual({ kind: "Tags", tags: [str("revenue"), str("vip")] });
    expect(seg.items[3]).toEqual({ kind: "Entity", entity: { kind: "Name", text: "customer", quoted: false }, key: { kind: "Name", text: "customer_id", quoted: false } });
    expect(seg.items[4]).toEqual({ kind: "Refresh", every: dur("15", "minute") });
    expect(seg.items[5]).toEqual({ kind: "Ttl", duration: dur("1", "hour") });
    const where = seg.items[7];
    expect(where?.kind === "Where" && where.condition.kind === "Binary" && where.condition.op).toBe("and");
  });

  it("parses several segments and constants in one file", () => {
    const f = ok(`const big = 1_000\nconst spend = sum(purchase.amount)\nsegment a { where spend > big }\nsegment b { where in a }`);
    expect(f.declarations.map((d) => `${d.kind}:${d.name.text}`)).toEqual(["Const:big", "Const:spend", "Segment:a", "Segment:b"]);
  });

  it("keeps comments out of the tree but in the file", () => {
    const r = parse(`// line\nsegment a { /* block */ where x > 1 } // end`);
    expect(r.diagnostics).toEqual([]);
    expect(r.file.comments.map((c) => [c.kind, c.text])).toEqual([
      ["LineComment", "// line"],
      ["BlockComment", "/* block */"],
      ["LineComment", "// end"],
    ]);
  });

  it("accepts an empty file", () => {
    expect(ok("").declarations).toEqual([]);
    expect(ok("  // only a comment\n").declarations).toEqual([]);
  });
});

describe("aggregates and windows", () => {
  it.each([
    ["count(purchase)", "count", path("purchase"), null],
    ["count_distinct(purchase.sku)", "count_distinct", path("purchase", "sku"), null],
    ["sum(purchase.amount ever)", "sum", path("purchase", "amount"), { kind: "EverWindow" }],
    ["avg(purchase.amount in last 7 days)", "avg", path("purchase", "amount"), { kind: "LastWindow", duration: dur("7", "day") }],
    ["min(purchase.amount in the last 2 weeks)", "min", path("purchase", "amount"), { kind: "LastWindow", duration: dur("2", "week") }],
    ["max(purchase.amount between 60 days and 30 days ago)", "max", path("purchase", "amount"), { kind: "AgoWindow", from: dur("60", "day"), to: dur("30", "day") }],
    ["first_seen(page_view in last 90 minutes)", "first_seen", path("page_view"), { kind: "LastWindow", duration: dur("90", "minute") }],
    ["last_seen(page_view)", "last_seen", path("page_view"), null],
    ["exists(add_to_cart in last 1 hour)", "exists", path("add_to_cart"), { kind: "LastWindow", duration: dur("1", "hour") }],
  ])("%s", (text, fn, source, window) => {
    expect(cond(`${text} = 1`)).toEqual({
      kind: "Binary",
      op: "=",
      left: { kind: "Aggregate", fn, source, window, filter: null },
      right: num("1"),
    });
  });

  it("filters events with where, after the window", () => {
    const e = cond(`count(purchase in last 30 days where category = "electronics" and amount > 10) > 2`);
    expect(e.kind === "Binary" && e.left.kind === "Aggregate" && e.left.filter).toEqual({
      kind: "Binary",
      op: "and",
      left: { kind: "Binary", op: "=", left: path("category"), right: str("electronics") },
      right: { kind: "Binary", op: ">", left: path("amount"), right: num("10") },
    });
  });

  it("allows keywords as field names after a dot", () => {
    expect(cond("purchase.count > 1")).toEqual({ kind: "Binary", op: ">", left: path("purchase", "count"), right: num("1") });
  });

  it("reads backtick names with escapes", () => {
    expect(cond("sum(purchase.`a\"b\\`c`) > 1")).toMatchObject({
      left: { source: { parts: [{ text: "purchase" }, { text: 'a"b`c', quoted: true }] } },
    });
  });
});

describe("predicates and operators", () => {
  it("gives and a higher precedence than or, and not higher than and", () => {
    expect(cond("a or b and not c")).toEqual({
      kind: "Binary",
      op: "or",
      left: path("a"),
      right: { kind: "Binary", op: "and", left: path("b"), right: { kind: "Unary", op: "not", operand: path("c") } },
    });
  });

  it("keeps parentheses", () => {
    expect(cond("(a or b) and c")).toEqual({
      kind: "Binary",
      op: "and",
      left: { kind: "Paren", expr: { kind: "Binary", op: "or", left: path("a"), right: path("b") } },
      right: path("c"),
    });
  });

  it("binds arithmetic tighter than comparison, * tighter than +, left to right", () => {
    expect(cond("a - b - c * 2 / 4 > -1")).toEqual({
      kind: "Binary",
      op: ">",
      left: {
        kind: "Binary",
        op: "-",
        left: { kind: "Binary", op: "-", left: path("a"), right: path("b") },
        right: { kind: "Binary", op: "/", left: { kind: "Binary", op: "*", left: path("c"), right: num("2") }, right: num("4") },
      },
      right: { kind: "Unary", op: "-", operand: num("1") },
    });
  });

  it.each(["=", "!=", "<", "<=", ">", ">="])("comparison %s", (op) => {
    expect(cond(`x ${op} 1`)).toEqual({ kind: "Binary", op, left: path("x"), right: num("1") });
  });

  it("in and not in a list", () => {
    expect(cond(`c.country in ["US", "CA"]`)).toEqual({
      kind: "InList",
      negated: false,
      operand: path("c", "country"),
      list: { kind: "List", items: [str("US"), str("CA")] },
    });
    expect(cond(`x not in []`)).toMatchObject({ kind: "InList", negated: true, list: { items: [] } });
  });

  it("between and not between", () => {
    expect(cond("x between 1 and 2 + 3")).toEqual({
      kind: "Between",
      negated: false,
      operand: path("x"),
      low: num("1"),
      high: { kind: "Binary", op: "+", left: num("2"), right: num("3") },
    });
    expect(cond("x not between 1 and 2 and y")).toMatchObject({ kind: "Binary", op: "and", left: { kind: "Between", negated: true } });
  });

  it("tells a window test from a range with five tokens of lookahead", () => {
    expect(cond("t between 60 days and 30 days ago")).toEqual({
      kind: "WindowTest",
      negated: false,
      operand: path("t"),
      window: { kind: "AgoWindow", from: dur("60", "day"), to: dur("30", "day") },
    });
    expect(cond("d between 1 day and 2 days")).toMatchObject({ kind: "Between", low: dur("1", "day"), high: dur("2", "day") });
  });

  it("window tests on timestamps", () => {
    expect(cond("customer.signup_time in last 14 days")).toEqual({
      kind: "WindowTest",
      negated: false,
      operand: path("customer", "signup_time"),
      window: { kind: "LastWindow", duration: dur("14", "day") },
    });
    expect(cond("t not in the last 1 week")).toMatchObject({ kind: "WindowTest", negated: true });
  });

  it.each([
    ["contains", "contains"],
    ["starts with", "starts with"],
    ["ends with", "ends with"],
    ["matches", "matches"],
  ])("string test %s", (text, op) => {
    expect(cond(`e ${text} "x"`)).toEqual({ kind: "StringTest", op, negated: false, operand: path("e"), pattern: str("x") });
    expect(cond(`e not ${text} "x"`)).toMatchObject({ kind: "StringTest", op, negated: true });
  });

  it("null tests", () => {
    expect(cond("x is null")).toEqual({ kind: "IsNull", negated: false, operand: path("x") });
    expect(cond("x is not null")).toEqual({ kind: "IsNull", negated: true, operand: path("x") });
  });

  it("segment references", () => {
    expect(cond("in high_value and not in churned")).toEqual({
      kind: "Binary",
      op: "and",
      left: { kind: "SegmentRef", name: { kind: "Name", text: "high_value", quoted: false } },
      right: { kind: "Unary", op: "not", operand: { kind: "SegmentRef", name: { kind: "Name", text: "churned", quoted: false } } },
    });
  });

  it("scalar calls", () => {
    expect(cond(`lower(customer.email) ends with "@x.com" and coalesce(a, b, 0) > round(1.5)`)).toMatchObject({
      left: { operand: { kind: "Call", callee: { text: "lower" }, args: [path("customer", "email")] } },
      right: { left: { kind: "Call", args: [path("a"), path("b"), num("0")] }, right: { kind: "Call", callee: { text: "round" } } },
    });
  });
});

describe("literals", () => {
  it("numbers", () => {
    expect(cond("x = 1_000.5")).toMatchObject({ right: { kind: "Number", value: 1000.5, raw: "1_000.5" } });
    expect(cond("x = 1e6")).toMatchObject({ right: { kind: "Number", value: 1e6 } });
  });
  it("strings with escapes", () => {
    expect(cond(String.raw`x = "a\"b\\c\n\t\u00e9\u{1F600}"`)).toMatchObject({ right: { kind: "String", value: 'a"b\\c\n\té😀' } });
  });
  it("booleans, null and as_of", () => {
    expect(cond("a = true or b = false or c = null or d < as_of")).toBeTruthy();
  });
  it("dates and timestamps", () => {
    expect(cond("t >= 2026-01-31")).toMatchObject({ right: { kind: "Date", value: "2026-01-31" } });
    expect(cond("t < 2026-01-31T12:30:00.5+02:00")).toMatchObject({ right: { kind: "Timestamp", value: "2026-01-31T12:30:00.5+02:00" } });
  });
  it("durations in every unit, singular and plural", () => {
    for (const [text, unit] of [["1 second", "second"], ["5 seconds", "second"], ["1 minute", "minute"], ["2 hours", "hour"], ["3days", "day"], ["1 week", "week"]]) {
      expect(cond(`d > ${text}`)).toMatchObject({ right: { kind: "Duration", unit } });
    }
  });
});

describe("spans", () => {
  it("are 1-based and end-exclusive", () => {
    const r = parse("segment a {\n  where x > 10\n}");
    const seg = r.file.declarations[0] as SegmentDecl;
    const where = seg.items[0]!;
    expect(where.span.start).toEqual({ offset: 14, line: 2, column: 3 });
    expect(where.span.end).toEqual({ offset: 26, line: 2, column: 15 });
    expect(seg.span.end).toEqual({ offset: 28, line: 3, column: 2 });
  });
});
