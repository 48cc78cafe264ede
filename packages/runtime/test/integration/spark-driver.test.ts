/**
 * The Spark driver (jvm/spark-driver) end to end, in local mode: Spark parses and analyses every
 * compiled statement, evaluates the example project exactly like the embedded DuckDB engine,
 * counts malformed input rows, and fails clearly on bad specs. Needs `infra/spark/setup.sh`
 * (run here when needed: the first time it downloads Spark into ~/.m2, about a minute).
 * Each driver launch starts a JVM and Spark (5-15 s), so every test batches its segments.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluatePlan, type EvaluationResult } from "@seg/compiler/engine";
import { SparkDriverError, analyzeSparkSql, ensureSpark, runSparkDriver, setupSpark, type SparkSetup } from "../../src/spark/index.js";
import { EXAMPLE_AS_OF, compileExampleProject, copyExampleData, examplesData, normalizeMembers, type SparkExample } from "../support/spark-fixtures.js";

const LAUNCH_TIMEOUT = 300_000;

describe("the Spark driver", () => {
  let setup: SparkSetup;
  let example: SparkExample;
  let duckdb: EvaluationResult;
  const temp: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "seg-spark-test-"));
    temp.push(d);
    return d;
  };

  beforeAll(async () => {
    setup = await setupSpark({ onLog: (l) => console.log(l) });
    example = compileExampleProject();
    duckdb = await evaluatePlan(example.plan, { dataDir: examplesData, asOf: EXAMPLE_AS_OF });
    expect(duckdb.problems.filter((p) => p.severity === "error")).toEqual([]);
  }, 900_000);

  afterAll(() => {
    for (const d of temp) rmSync(d, { recursive: true, force: true });
  });

  it("is set up, and ensureSpark says so", () => {
    expect(setup.ready).toBe(true);
    expect(ensureSpark().ready).toBe(true);
    expect(ensureSpark({ SEG_SPARK_HOME: "/nonexistent/seg-spark" })).toMatchObject({ ready: false, setupCommand: expect.stringContaining("setup.sh") });
  });

  it(
    "parses and analyses every compiled Spark statement (each spec and the whole plan)",
    async () => {
      const source = example.plan.sources.find((s) => s.name === "purchase")!;
      const result = await analyzeSparkSql({
        specs: example.specs,
        plans: [{ plan: example.plan, id: "all-segments" }],
        // The check itself must catch what Spark rejects.
        statements: {
          sources: [source],
          statements: [
            { id: "bad-syntax", sql: "SELECT segment FROM purchase WHERE (" },
            { id: "bad-column", sql: "SELECT 'x' AS segment, CAST(e.`no_such_field` AS STRING) AS entity_id, '{}' AS metrics FROM purchase AS e" },
            { id: "bad-shape", sql: "SELECT 1 AS segment" },
          ],
        },
      });
      const rejected = Object.entries(result.statements).filter(([, r]) => !r.ok);
      expect(rejected.map(([id, r]) => `${id}: ${r.stage}: ${r.error}`)).toEqual([
        expect.stringMatching(/^bad-syntax: parse: /),
        expect.stringMatching(/^bad-column: analysis: .*no_such_field/),
        expect.stringMatching(/^bad-shape: result: .*expected \[segment STRING, entity_id STRING, metrics STRING\]/),
      ]);
      for (const spec of example.specs) expect(result.statements[spec.id], spec.id).toMatchObject({ ok: true });
      expect(result.statements["all-segments"]).toMatchObject({ ok: true });
      expect(Object.keys(result.statements)).toHaveLength(example.specs.length + 4);
    },
    LAUNCH_TIMEOUT,
  );

  it(
    "evaluates every example spec over examples/data exactly like the DuckDB engine",
    async () => {
      const result = await runSparkDriver({ specs: example.specs, asOf: EXAMPLE_AS_OF, input: `files:${examplesData}`, runId: "test-run" });
      expect(result.runId).toBe("test-run");
      expect(Object.values(result.malformed).every((n) => n === 0)).toBe(true);
      expect(Object.keys(result.segments).sort()).toEqual([...example.names].sort());
      for (const name of example.names) {
        const spark = result.segments[name]!;
        const duck = duckdb.segments[name]!;
        expect(spark.members.map((m) => m.id), name).toEqual(duck.members.map((m) => m.id));
        expect(normalizeMembers(spark.members), name).toEqual(normalizeMembers(duck.members));
      }
      // Some segments have members and metrics, so the comparison above means something.
      expect(example.names.filter((n) => duckdb.segments[n]!.size > 0).length).toBeGreaterThan(example.names.length / 2);
    },
    LAUNCH_TIMEOUT,
  );

  it(
    "leaves out malformed rows, counts and describes them, and still agrees with DuckDB (one statement for the whole plan)",
    async () => {
      const data = copyExampleData();
      temp.push(data);
      const purchase = (fields: Record<string, unknown>) =>
        JSON.stringify({ event_id: "bad", customer_id: "c040", ts: "2026-10-30T10:00:00Z", amount: 5000, currency: "USD", category: "electronics", sku: "EL-X", quantity: 1, coupon: null, channel: "web", ...fields });
      appendFileSync(
        join(data, "purchase.jsonl"),
        [
          '{"event_id": "broken", "customer_id": "c040",', // not JSON
          purchase({ amount: "lots" }), // wrong JSON type
          purchase({ quantity: 1.5 }), // not an integer
          purchase({ amount: null }), // required field null
          purchase({ channel: undefined }), // required field missing
          purchase({ currency: "XYZ" }), // not in the enum
          purchase({ ts: "2026-10-30 10:00:00" }), // timestamp without a zone
          purchase({ ts: "2026-02-30T10:00:00Z" }), // no such day
          "",
          purchase({ ts: "2026-10-30T12:00:00+02:00" }), // valid: offsets are fine
        ].join("\n") + "\n",
      );
      const customers = readFileSync(join(data, "customer.jsonl"), "utf8").split("\n");
      appendFileSync(join(data, "customer.jsonl"), customers[0]!.replace(/"email":"[^"]*"/, '"email":"second@mail.example"') + "\n"); // duplicate key

      const [spark, duck] = await Promise.all([
        runSparkDriver({ plan: { plan: example.plan }, asOf: EXAMPLE_AS_OF, input: `files:${data}` }),
        evaluatePlan(example.plan, { dataDir: data, asOf: EXAMPLE_AS_OF }),
      ]);
      expect(spark.malformed).toEqual({ customer: 1, purchase: 8, add_to_cart: 0, page_view: 0 });
      expect(spark.sources["purchase"]).toMatchObject({ rows: 117, valid: 109, corrupt: 3, missingRequired: 2, invalidValue: 3 });
      expect(spark.sources["customer"]).toMatchObject({ rows: 41, valid: 40, duplicateKey: 1 });
      expect(spark.sources["purchase"]!.problems).toHaveLength(8);
      expect(spark.sources["purchase"]!.problems.join("\n")).toMatch(/currency has a value outside its type/);
      // DuckDB leaves out the same records (it reports each with its line).
      const duckLines = (source: string) => new Set(duck.problems.filter((p) => p.source === source && p.severity === "error").map((p) => p.line)).size;
      expect(duckLines("purchase")).toBe(8);
      expect(duckLines("customer")).toBe(1);
      for (const name of example.names) {
        expect(normalizeMembers(spark.segments[name]!.members), name).toEqual(normalizeMembers(duck.segments[name]!.members));
      }
    },
    LAUNCH_TIMEOUT,
  );

  it("rejects bad specs and missing input with a non-zero exit and one clear line, before starting Spark", async () => {
    const dir = tempDir();
    const notJson = join(dir, "broken.pipeline.json");
    writeFileSync(notJson, "{ this is not json");
    const noSql = { ...example.specs[0]!, sql: { duckdb: "SELECT 1" } } as unknown as (typeof example.specs)[number];
    const badDdl = { ...example.specs[0]!, sources: example.specs[0]!.sources.map((s) => ({ ...s, sparkDdl: "`x` NOT_A_TYPE" })) };
    const cases: [Parameters<typeof runSparkDriver>[0], number, RegExp][] = [
      [{ specs: [notJson], asOf: EXAMPLE_AS_OF, input: `files:${examplesData}` }, 2, /broken\.pipeline\.json: not valid JSON/],
      [{ specs: [noSql], asOf: EXAMPLE_AS_OF, input: `files:${examplesData}` }, 2, /sql\.spark must be a non-empty string/],
      [{ specs: [badDdl], asOf: EXAMPLE_AS_OF, input: `files:${examplesData}` }, 2, /Spark cannot read its schema DDL/],
      [{ specs: [example.specs[0]!], asOf: "yesterday", input: `files:${examplesData}` }, 2, /--as-of yesterday is not an ISO-8601 timestamp/],
      [{ specs: [example.specs[0]!, example.specs[0]!], asOf: EXAMPLE_AS_OF, input: `files:${examplesData}` }, 2, /given twice/],
      [{ specs: [example.specs[0]!], asOf: EXAMPLE_AS_OF, input: `files:${dir}` }, 3, /no data file for \w+ \w+ in /],
    ];
    for (const [options, code, message] of cases) {
      const started = Date.now();
      const error = await runSparkDriver(options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SparkDriverError);
      const e = error as SparkDriverError;
      expect({ code: e.exitCode, message: e.message }).toMatchObject({ code, message: expect.stringMatching(message) });
      expect(e.message).not.toContain("\n");
      expect(e.stderrTail.at(-1)).toBe(`seg-spark-driver: error: ${e.message}`);
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  }, 180_000);

  it(
    "fails a run whose statement Spark rejects, naming the statement (exit 4)",
    async () => {
      const good = example.specs[0]!;
      const broken = { ...good, id: "broken_segment", sql: { ...good.sql, spark: good.sql.spark.replace("FROM", "FORM") } };
      const error = await runSparkDriver({ specs: [good, broken], asOf: EXAMPLE_AS_OF, input: `files:${examplesData}` }).then(
        () => undefined,
        (e: unknown) => e as SparkDriverError,
      );
      expect(error).toBeInstanceOf(SparkDriverError);
      expect(error!.exitCode).toBe(4);
      expect(error!.message).toMatch(/^statement broken_segment \(.*\) was rejected by Spark \(parse\): /);
      expect(error!.summary?.statement).toBe("broken_segment");
    },
    LAUNCH_TIMEOUT,
  );
});
