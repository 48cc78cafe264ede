import { describe, expect, it } from "vitest";
import { checkSources, checkWhere, exampleRules, where } from "../golden/check/support/project.js";

const seg = (name: string, condition: string): string => `segment ${name} {\n  where ${condition}\n}\n`;

describe("duplicates across the project", () => {
  it("SEG042 a segment declared in two files points at the first declaration in the other file", () => {
    const r = checkSources({ "rules/a.seg": seg("high", "true"), "rules/b.seg": `\n${seg("high", "false")}` });
    expect(where(r.diagnostics, true)).toEqual(["rules/b.seg:SEG042 2:9"]);
    const d = r.diagnostics[0]!;
    expect(d.message).toBe("segment high is declared more than once");
    expect(d.related).toEqual([{ span: expect.objectContaining({ start: expect.objectContaining({ line: 1, column: 9 }) }), message: "first declared here", file: "rules/a.seg" }]);
    // The first declaration is the one the program keeps.
    expect(r.program.segments.get("high")!.file).toBe("rules/a.seg");
  });

  it("SEG042 in the same file has a related span without a file", () => {
    const r = checkSources(seg("a", "true") + seg("a", "true"));
    expect(where(r.diagnostics)).toEqual(["SEG042 4:9"]);
    expect(r.diagnostics[0]!.related[0]!.file).toBeUndefined();
  });

  it("SEG043 a constant declared twice, across files", () => {
    const r = checkSources({ "a.seg": "const t = 1\n" + seg("s", "count(purchase) > t"), "b.seg": "const t = 2\n" });
    expect(where(r.diagnostics, true)).toEqual(["b.seg:SEG043 1:7"]);
    expect(r.diagnostics[0]!.related[0]).toMatchObject({ message: "first declared here", file: "a.seg" });
  });

  it("SEG044 a metric declared twice in one segment", () => {
    const r = checkSources("segment s {\n  metric m = 1\n  metric m = 2\n  where true\n}\n");
    expect(where(r.diagnostics)).toEqual(["SEG044 3:10"]);
    expect(r.diagnostics[0]!.message).toBe("metric m is declared more than once in segment s");
    expect(r.diagnostics[0]!.related[0]).toMatchObject({ message: "first declared here", span: { start: { line: 2, column: 10 } } });
  });

  it("segments and constants live in different namespaces", () => {
    const r = checkSources("const a = true\n" + seg("a", "a"));
    expect(r.diagnostics).toEqual([]);
  });
});

describe("cycles", () => {
  it("SEG045 segments referring to each other across files, reported once with the cycle", () => {
    const r = checkSources({ "a.seg": seg("a", "in b"), "b.seg": seg("b", "in c and true"), "c.seg": seg("c", "in a") });
    expect(where(r.diagnostics, true)).toEqual(["a.seg:SEG045 2:9"]);
    const d = r.diagnostics[0]!;
    expect(d.message).toBe("segments refer to each other in a cycle: a -> b -> c -> a");
    expect(d.related.map((x) => `${x.file}:${x.span.start.line}:${x.span.start.column} ${x.message}`)).toEqual(["b.seg:2:9 b refers to c here", "c.seg:2:9 c refers to a here"]);
    expect([...r.program.segments.values()].every((s) => !s.ok)).toBe(true);
  });

  it("SEG045 a segment referring to itself", () => {
    const r = checkSources(seg("me", "true and in me"));
    expect(where(r.diagnostics)).toEqual(["SEG045 2:18"]);
    expect(r.diagnostics[0]!.message).toBe("segments refer to each other in a cycle: me -> me");
  });

  it("SEG045 through a constant, and segments depending on a cycle are not ok (but not reported)", () => {
    const r = checkSources("const in_b = in b\n" + seg("a", "in_b") + seg("b", "in a") + seg("outside", "in a"));
    expect(where(r.diagnostics)).toEqual(["SEG045 3:9"]);
    expect(r.diagnostics[0]!.message).toContain("a -> b -> a");
    expect(r.program.segments.get("outside")!.ok).toBe(false);
  });

  it("SEG046 constants in a cycle, across files, reported once, and their uses are silent", () => {
    const r = checkSources({ "a.seg": "const a = b + 1\n" + seg("s", "a > 1 and c > 2"), "b.seg": "const b = c * 2\nconst c = a - 1\n" });
    expect(where(r.diagnostics, true)).toEqual(["a.seg:SEG046 1:11"]);
    expect(r.diagnostics[0]!.message).toBe("constants refer to each other in a cycle: a -> b -> c -> a");
    expect(r.program.segments.get("s")!.ok).toBe(false);
  });

  it("SEG046 a constant defined by itself", () => {
    const r = checkSources("const x = x\n" + seg("s", "x"));
    expect(where(r.diagnostics)).toEqual(["SEG046 1:11"]);
  });

  it("two separate cycles give two diagnostics", () => {
    const r = checkSources(seg("a", "in b") + seg("b", "in a") + seg("c", "in d") + seg("d", "in c"));
    expect(where(r.diagnostics)).toEqual(["SEG045 2:9", "SEG045 8:9"]);
  });
});

describe("one mistake, one diagnostic", () => {
  it.each([
    ['sum(purchase.amout) > "x"', ["SEG031 2:22"]],
    ["lower(customer.contry) = 1", ["SEG032 2:24"]],
    ["not (count(purchse) + 1)", ["SEG030 2:20"]],
    ["count(purchse where amout > 1 and in nowhere) > 0", ["SEG030 2:15"]],
    ["days_since(customer.signup_tim) > 3 days and true", ["SEG032 2:29"]],
    ["round(sum(purchase.category), 2) between 1 and \"z\"", ["SEG037 2:19"]],
    ["customer.contry in [1, 2] and customer.contry matches \"(\"", ["SEG032 2:18", "SEG032 2:48"]],
    ["exists(purchase between 30 days and 60 days ago where amount) ", ["SEG040 2:25", "SEG048 2:63"]],
    ["(customer.country = 1) = true", ["SEG036 2:10"]],
    ["-customer.country > as_of", ["SEG036 2:9"]],
    ["coalesce(nope, 1) + \"a\" > 1", ["SEG034 2:18"]],
    ["in nowhere and not in nowhere", ["SEG033 2:12", "SEG033 2:31"]],
  ])("%s", (condition, expected) => {
    expect(where(checkWhere(condition).diagnostics)).toEqual(expected);
  });

  it("a constant with an error is reported once, however often it is used", () => {
    const r = checkSources("const spend = sum(purchase.amout)\n" + seg("a", "spend > 1") + seg("b", "spend < 2 and spend + 1 > 0"));
    expect(where(r.diagnostics)).toEqual(["SEG031 1:28"]);
    expect(r.program.segments.get("a")!.ok).toBe(false);
    expect(r.program.segments.get("b")!.ok).toBe(false);
  });

  it("a segment with an unknown entity reports nothing about its events, attributes or references", () => {
    const r = checkSources("segment s {\n  entity nobody\n  where count(purchase) > 1 and customer.country = \"US\"\n}\n");
    expect(where(r.diagnostics)).toEqual(["SEG052 2:10"]);
  });

  it("nodes invented by the parser are not reported again", () => {
    for (const text of [
      "segment s {\n  where customer.country =\n}\n",
      "segment s {\n  where count(\n}\n",
      "segment s {\n  where in\n}\n",
      "segment s {\n  where lower( = 1\n}\n",
      "segment s {\n  where exists(purchase in last days)\n}\n",
      "segment s {\n  metric = 1\n  where true\n}\n",
      "segment s {\n  where customer. = 1\n}\n",
      "segment {\n  where true\n}\n",
      "const = 1\n",
      "segment s {\n  where x > 1__0\n}\nconst x = 2\n",
      "segment s {\n  where customer.signup_time > 2026-02-30\n}\n",
    ]) {
      const r = checkSources(text);
      expect(r.parseDiagnostics.some((d) => d.severity === "error"), text).toBe(true);
      expect(where(r.diagnostics), text).toEqual([]);
    }
  });

  it("never throws, whatever part of the example rules is cut off", () => {
    for (const { file, text } of exampleRules()) {
      for (let cut = 0; cut < text.length; cut += 5) {
        const r = checkSources([{ file, text: text.slice(0, cut) }]);
        for (const d of r.diagnostics) expect(d.file).toBe(file);
      }
    }
  });
});

describe("the checked program", () => {
  it("resolves settings, dependencies and types", () => {
    const r = checkSources(
      "segment base {\n  where true\n}\n" +
        'segment s "Title" {\n  description "d"\n  owner "o"\n  tags ["x", "y"]\n  refresh every 15 minutes\n  metric m = count(purchase)\n  where in base\n}\n',
      { project: { entity: "customer", defaults: { refresh: { ms: 120_000 } } } },
    );
    expect(r.diagnostics).toEqual([]);
    const s = r.program.segments.get("s")!;
    expect(s).toMatchObject({ title: "Title", description: "d", owner: "o", tags: ["x", "y"], entity: "customer", refreshMs: 900_000, ttlMs: 1_800_000, dependencies: ["base"], ok: true });
    expect(s.metrics[0]!.expr.type).toEqual({ kind: "integer", nullable: false });
    expect(r.program.segments.get("base")).toMatchObject({ refreshMs: 120_000, ttlMs: 240_000 });
  });

  it("types aggregates as the language reference says", () => {
    const types = (e: string) => {
      const r = checkSources(`segment s {\n  metric m = ${e}\n  where true\n}\n`);
      expect(r.diagnostics).toEqual([]);
      const t = r.program.segments.get("s")!.metrics[0]!.expr.type;
      return `${t.kind}${t.nullable ? "?" : ""}`;
    };
    expect(types("count(purchase)")).toBe("integer");
    expect(types("count_distinct(purchase.sku)")).toBe("integer");
    expect(types("sum(purchase.quantity)")).toBe("integer");
    expect(types("sum(purchase.amount)")).toBe("number");
    expect(types("avg(purchase.quantity)")).toBe("number?");
    expect(types("min(purchase.sku)")).toBe("string?");
    expect(types("max(purchase.ts)")).toBe("timestamp?");
    expect(types("first_seen(purchase)")).toBe("timestamp?");
    expect(types("exists(purchase)")).toBe("boolean");
    expect(types("count(purchase) + 1")).toBe("integer");
    expect(types("count(purchase) / 2")).toBe("number?");
    expect(types("days_since(customer.signup_time)")).toBe("number");
    expect(types("days_since(last_seen(purchase))")).toBe("number?");
    expect(types("coalesce(customer.sms_opt_in, false)")).toBe("boolean");
    expect(types("greatest(last_seen(purchase), customer.signup_time)")).toBe("timestamp");
    expect(types("length(customer.country)")).toBe("integer");
    expect(types("as_of + 1 day")).toBe("timestamp");
  });
});
