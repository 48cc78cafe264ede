/** Loading sample data: bad input is reported with file, line and field, never crashes, never vanishes. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { evaluatePlan, openDuckDb, runSql } from "../../src/engine/duckdb-engine.js";
import { MAX_PROBLEMS_PER_FILE } from "../../src/engine/load-data.js";
import { parseDateDays, parseTimestampMicros } from "../../src/engine/record-values.js";
import { buildSchemaRegistry } from "../../src/schema-registry.js";
import * as B from "./emit-builder.js";
import { tempDir, type TempDir } from "./temp-project.js";

const AS_OF = "2026-11-01T00:00:00Z";
const profile = B.source("customer", "profile", { customer_id: "string", tier: "string?" });
const tier = { ...profile, fields: profile.fields.map((f) => (f.name === "tier" ? { ...f, type: { kind: "string" as const, nullable: true, enumValues: ["gold", "silver"] } } : f)) };
const purchase = B.source("purchase", "event", { customer_id: "string", ts: "timestamp", amount: "number", day: "date?" });
const count = B.aggregate(purchase, "count", null);
const total = B.aggregate(purchase, "sum", "amount");

function plan() {
  return B.plan({
    universe: { kind: "profile", source: "customer" },
    sources: [tier, purchase],
    aggregates: [count, total],
    segments: [B.segment("all", B.ge(B.aggRef(count), B.int(0)), [B.metric("n", B.aggRef(count)), B.metric("total", B.aggRef(total))])],
  });
}

let dir: TempDir;
beforeEach(() => {
  dir = tempDir("seg-data-");
});
afterEach(() => dir.cleanup());

const run = (p = plan()) => evaluatePlan(p, { dataDir: dir.root, asOf: AS_OF });
const metricsById = (r: Awaited<ReturnType<typeof run>>) => Object.fromEntries((r.segments.all?.members ?? []).map((m) => [m.id, m.metrics]));

describe("loading data", () => {
  it("reports malformed lines and wrong values with file:line and field, and loads the rest", async () => {
    dir.write("customer.jsonl", ['{"customer_id":"c1","tier":"gold"}', '{"customer_id":"c2","tier":"bronze"}', '{"customer_id":"c3"}', "", "[1,2]"].join("\n"));
    const file = dir.write(
      "purchase.jsonl",
      [
        '{"customer_id":"c1","ts":"2026-10-01T00:00:00Z","amount":5}',
        '{"customer_id":"c1","ts":"2026-10-01T00:00:00Z","amount":"12"}',
        '{"customer_id":"c1","ts":"2026-10-01T00:00:00Z"',
        '{"customer_id":"c1","ts":"2026-13-01T00:00:00Z","amount":1}',
        '{"customer_id":"c1","ts":"2026-10-01 10:00:00","amount":1}',
        '{"customer_id":"c1","amount":1}',
        '{"customer_id":"c3","ts":"2026-10-01T00:00:00+05:30","amount":2.5,"day":"2026-02-30"}',
        '{"customer_id":"c3","ts":"2026-10-01T00:00:00+05:30","amount":2.5,"day":"2026-02-28"}',
      ].join("\r\n"),
    );
    const r = await run();
    const errors = r.problems.filter((p) => p.severity === "error").map((p) => [p.file === file || p.file?.endsWith("customer.jsonl") ? p.file!.split("/").pop() : p.file, p.line, p.path ?? ""]);
    expect(errors).toEqual([
      ["customer.jsonl", 2, "tier"],
      ["customer.jsonl", 5, ""],
      ["purchase.jsonl", 2, "amount"],
      ["purchase.jsonl", 3, ""],
      ["purchase.jsonl", 4, "ts"],
      ["purchase.jsonl", 5, "ts"],
      ["purchase.jsonl", 6, "ts"],
      ["purchase.jsonl", 7, "day"],
    ]);
    const byLine = (n: number) => r.problems.find((p) => p.file === file && p.line === n)!.message;
    expect(byLine(2)).toBe('amount must be a number, but is string "12"');
    expect(byLine(3)).toMatch(/^not valid JSON/);
    expect(byLine(6)).toBe("ts is missing (the field is required and not nullable)");
    expect(r.problems.find((p) => p.line === 2 && p.source === "customer")?.message).toMatch(/tier must be one of "gold", "silver"/);
    expect(metricsById(r)).toEqual({ c1: { n: 1, total: 5 }, c3: { n: 1, total: 2.5 } });
  });

  it("treats a missing file as an empty source, with a note", async () => {
    dir.write("customer.jsonl", '{"customer_id":"c1"}\n{"customer_id":"c2","tier":null}\n');
    const r = await run();
    expect(r.problems).toEqual([expect.objectContaining({ severity: "info", source: "purchase", message: expect.stringContaining("no data file for event purchase") })]);
    expect(metricsById(r)).toEqual({ c1: { n: 0, total: 0 }, c2: { n: 0, total: 0 } });
  });

  it("reports duplicate profile keys and keeps the first record", async () => {
    dir.write("customer.jsonl", '{"customer_id":"c1","tier":"gold"}\n{"customer_id":"c1","tier":"silver"}\n');
    dir.write("purchase.jsonl", "");
    const r = await run();
    expect(r.problems).toEqual([expect.objectContaining({ severity: "error", line: 2, path: "customer_id", message: expect.stringContaining("duplicate key") })]);
    expect(r.segments.all?.size).toBe(1);
  });

  it("reads .json arrays with line numbers, and strips a byte-order mark", async () => {
    dir.write("customer.json", '\ufeff[\n  {"customer_id":"c1"},\n  {"customer_id":7}\n]\n');
    dir.write("purchase.jsonl", '\ufeff{"customer_id":"c1","ts":"2026-10-01T00:00:00Z","amount":1}\n');
    const r = await run();
    expect(r.problems).toEqual([expect.objectContaining({ line: 3, path: "customer_id", message: "customer_id must be a string, but is number 7" })]);
    expect(metricsById(r)).toEqual({ c1: { n: 1, total: 1 } });
  });

  it("reads parquet, keeping timestamps exact and reporting bad rows", async () => {
    dir.write("customer.jsonl", '{"customer_id":"c1"}\n');
    const db = await openDuckDb();
    try {
      const path = dir.path("purchase.parquet").replaceAll("'", "''");
      await db.connection.run(
        `COPY (SELECT * FROM (VALUES ('c1', TIMESTAMPTZ '2026-11-01 00:00:00+00', 1.5, DATE '2026-01-01'), ('c1', TIMESTAMPTZ '2026-11-01 01:00:00+01', 2.0, NULL), ('c1', TIMESTAMPTZ '2026-11-01 00:00:00.000001+00', 4.0, NULL), ('c1', NULL, 8.0, NULL)) t(customer_id, ts, amount, day)) TO '${path}' (FORMAT parquet)`,
      );
    } finally {
      db.close();
    }
    const r = await run();
    // row 2 is exactly as_of (01:00+01); row 3 is one microsecond after; row 4 has no time
    expect(r.problems).toEqual([expect.objectContaining({ line: 4, path: "ts", message: "ts must not be null" })]);
    expect(metricsById(r)).toEqual({ c1: { n: 2, total: 3.5 } });
  });

  it("validates against JSON Schemas when a registry is given", async () => {
    const schema = {
      type: "object",
      "x-seg": { kind: "profile", name: "customer", entity: "customer", key: "customer_id" },
      properties: { customer_id: { type: "string", pattern: "^c[0-9]+$" }, tier: { type: ["string", "null"] } },
      required: ["customer_id"],
    };
    const { registry, diagnostics } = buildSchemaRegistry([{ file: "customer.schema.json", text: JSON.stringify(schema) }]);
    expect(diagnostics).toEqual([]);
    dir.write("customer.jsonl", '{"customer_id":"c1"}\n{"customer_id":"x1"}\n');
    dir.write("purchase.jsonl", "");
    const r = await evaluatePlan(plan(), { dataDir: dir.root, asOf: AS_OF, schemas: registry });
    expect(r.problems).toEqual([expect.objectContaining({ line: 2, path: "customer_id", message: expect.stringContaining("must match pattern") })]);
    expect(r.segments.all?.members.map((m) => m.id)).toEqual(["c1"]);
  });

  it("lists the first problems of a file and counts the rest", async () => {
    dir.write("customer.jsonl", Array.from({ length: MAX_PROBLEMS_PER_FILE + 5 }, () => "{").join("\n"));
    dir.write("purchase.jsonl", "");
    const r = await run();
    expect(r.problems).toHaveLength(MAX_PROBLEMS_PER_FILE + 1);
    expect(r.problems.at(-1)?.message).toMatch(/^5 more problems in .*customer\.jsonl are not listed$/);
  });

  it("reports an invalid as_of or an invalid plan instead of throwing", async () => {
    const bad = await evaluatePlan(plan(), { dataDir: dir.root, asOf: "yesterday" });
    expect(bad.segments).toEqual({});
    expect(bad.problems[0]?.message).toMatch(/as_of "yesterday" is not an ISO-8601 timestamp/);
    const broken = await evaluatePlan({ ...plan(), outputs: ["nope"] }, { dataDir: dir.root, asOf: AS_OF });
    expect(broken.problems[0]?.message).toMatch(/cannot compile the plan to DuckDB SQL: the plan has no segment "nope"/);
  });

  it("loads sources and fields whose names need quoting", async () => {
    const weird = B.source('we"ird `src', "event", { "k'ey": "string", 't"s': "timestamp", "v`al": "integer" }, { time: 't"s' });
    const n = B.aggregate(weird, "sum", "v`al", B.last(1));
    const p = B.plan({ universe: { kind: "events", sources: [weird.name] }, sources: [weird], aggregates: [n], segments: [B.segment("s", B.gt(B.aggRef(n), B.int(1)))] });
    dir.write(`${weird.name}.jsonl`, '{"k\'ey":"a","t\\"s":"2026-10-31T12:00:00Z","v`al":2}\n{"k\'ey":"b","t\\"s":"2026-10-01T00:00:00Z","v`al":5}\n');
    const r = await evaluatePlan(p, { dataDir: dir.root, asOf: AS_OF });
    expect(r.problems).toEqual([]);
    expect(r.segments.s?.members.map((m) => m.id)).toEqual(["a"]);
  });

  it("accepts as_of with an offset or without seconds", async () => {
    dir.write("customer.jsonl", '{"customer_id":"c1"}\n');
    dir.write("purchase.jsonl", '{"customer_id":"c1","ts":"2026-11-01T00:00:00Z","amount":1}\n');
    const at = async (asOf: string) => (await evaluatePlan(plan(), { dataDir: dir.root, asOf })).segments.all?.members[0]?.metrics.n;
    expect(await at("2026-11-01T01:00:00+01:00")).toBe(1);
    expect(await at("2026-11-01T00:59+01:00")).toBe(0);
    expect(await at("2026-11-01T00:00Z")).toBe(1);
  });
});

describe("value parsing", () => {
  it("parses RFC 3339 timestamps exactly, with offsets and microseconds", () => {
    expect(parseTimestampMicros("1970-01-01T00:00:00Z")).toBe(0n);
    expect(parseTimestampMicros("1970-01-01T01:00:00+01:00")).toBe(0n);
    expect(parseTimestampMicros("1969-12-31T23:59:59.999999Z")).toBe(-1n);
    expect(parseTimestampMicros("2026-11-01T00:00:00.123456789Z")).toBe(1_793_491_200_123_456n);
    expect(parseTimestampMicros("2024-02-29T00:00:00Z")).toBe(BigInt(Date.UTC(2024, 1, 29)) * 1000n);
    for (const bad of ["2023-02-29T00:00:00Z", "2026-10-01T24:00:00Z", "2026-10-01T00:00:00", "2026-10-01", "x"]) expect(parseTimestampMicros(bad)).toBeUndefined();
    expect(parseDateDays("1970-01-02")).toBe(1);
    expect(parseDateDays("0001-01-01")).toBe(-719162);
  });

  it("runSql binds only the parameters a statement uses", async () => {
    const db = await openDuckDb();
    try {
      expect(await runSql(db.connection, "SELECT 1 AS x", { as_of: "ignored" })).toEqual([{ x: 1 }]);
      await expect(runSql(db.connection, "SELECT $y AS y", {})).rejects.toThrow(/no value for the SQL parameter y/);
    } finally {
      db.close();
    }
  });
});
