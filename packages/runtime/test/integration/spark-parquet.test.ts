/**
 * The Spark driver's Parquet input (jvm/spark-driver `ParquetSource`, `ParquetFooter`):
 * the footer proves what it can (row count, no nulls, enum columns whose dictionaries hold only
 * allowed values), the other checks run on every record; read by one statement, one pass counts
 * problems, then lazy views (column pruning, the longest window pushed into the scan); read by
 * several, one pass caches the window's rows with every record that has a problem.
 * The example data, with malformed, very old and future purchases added, is written as Parquet by
 * DuckDB (timestamps as RFC 3339 text, as seg's JSON data has them; the customers' signup time as
 * a native TIMESTAMP column) and evaluated on Spark; the members and metrics must be those of the
 * embedded DuckDB engine over the same records as JSON lines, every malformed record counted,
 * described and left out. Once per segment (pipeline specs: driven queries, each source windowed
 * to its own lookback) and once as one plan of every segment; then with a duplicate profile key,
 * which takes the cached path (first record wins).
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluatePlan, openDuckDb } from "@seg/compiler/engine";
import type { SourceIR } from "../../../compiler/src/ir.js";
import { runSparkDriver, setupSpark } from "../../src/spark/index.js";
import { EXAMPLE_AS_OF, compileExampleProject, copyExampleData, normalizeMembers, type SparkExample } from "../support/spark-fixtures.js";

const LAUNCH_TIMEOUT = 300_000;
const DUCK_TYPES: Record<string, string> = { string: "VARCHAR", number: "DOUBLE", integer: "BIGINT", boolean: "BOOLEAN", timestamp: "VARCHAR", date: "VARCHAR" };

/** `<dir>/<source>.jsonl` as `<out>/<source>.parquet`, columns typed like the schema (temporal ones as text, or natively for `native`). */
async function toParquet(dir: string, out: string, sources: SourceIR[], native: Set<string>): Promise<void> {
  const session = await openDuckDb();
  try {
    for (const s of sources) {
      const columns = s.fields.map((f) => `'${f.name}': '${DUCK_TYPES[f.type.kind] ?? "VARCHAR"}'`).join(", ");
      const select = s.fields.map((f) => (native.has(`${s.name}.${f.name}`) ? `CAST("${f.name}" AS TIMESTAMPTZ) AS "${f.name}"` : `"${f.name}"`)).join(", ");
      await session.connection.run(`COPY (SELECT ${select} FROM read_json('${join(dir, `${s.name}.jsonl`)}', format = 'newline_delimited', columns = {${columns}})) TO '${join(out, `${s.name}.parquet`)}' (FORMAT parquet)`);
    }
  } finally {
    session.close();
  }
}

describe("the Spark driver over Parquet", () => {
  let example: SparkExample;
  const temp: string[] = [];
  let json: string;
  let parquet: string;
  let purchaseRows: number;

  beforeAll(async () => {
    await setupSpark();
    example = compileExampleProject();
    json = copyExampleData();
    temp.push(json);
    const purchase = (fields: Record<string, unknown>) =>
      JSON.stringify({ event_id: "bad", customer_id: "c040", ts: "2026-10-30T10:00:00Z", amount: 5000, currency: "USD", category: "electronics", sku: "EL-X", quantity: 1, coupon: null, channel: "web", ...fields });
    appendFileSync(
      join(json, "purchase.jsonl"),
      [
        purchase({ amount: null }), // required field null
        purchase({ channel: undefined }), // required field missing
        purchase({ currency: "XYZ" }), // not in the enum
        purchase({ ts: "2026-10-30 10:00:00" }), // timestamp without a zone
        purchase({ ts: "2026-02-30T10:00:00Z" }), // no such day
        purchase({ ts: "2026-10-30T12:00:00+02:00", event_id: "offset" }), // valid: offsets are fine
        purchase({ ts: "2026-10-31t13:00:00-11:00", event_id: "lowercase" }), // valid: RFC 3339 allows t; exactly as_of in UTC
        purchase({ ts: "2026-10-01T23:30:00-01:00", event_id: "edge", customer_id: "c001" }), // valid: its text date is a day before its UTC date, inside 30 days
        purchase({ ts: "2019-01-01T00:00:00Z", event_id: "old" }), // valid, older than every window
        purchase({ ts: "2026-11-01T00:00:00.001Z", event_id: "future" }), // valid, after as_of
        purchase({ ts: "2019-01-01T00:00:00Z", event_id: "old-bad", amount: null }), // outside every window, still counted
      ].join("\n") + "\n",
    );
    purchaseRows = readFileSync(join(json, "purchase.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "").length;
    parquet = mkdtempSync(join(tmpdir(), "seg-spark-parquet-"));
    temp.push(parquet);
    await toParquet(json, parquet, example.plan.sources as SourceIR[], new Set(["customer.signup_time"]));
  }, 900_000);

  afterAll(() => {
    for (const d of temp) rmSync(d, { recursive: true, force: true });
  });

  it(
    "counts every malformed record, leaves it out, and gives DuckDB's members and metrics (per segment and as one plan)",
    async () => {
      const duck = await evaluatePlan(example.plan, { dataDir: json, asOf: EXAMPLE_AS_OF });
      const duckLines = new Set(duck.problems.filter((p) => p.source === "purchase" && p.severity === "error").map((p) => p.line)).size;
      expect(duckLines).toBe(6);
      const perSegment = await runSparkDriver({ specs: example.specs, asOf: EXAMPLE_AS_OF, input: `files:${parquet}` });
      const onePlan = await runSparkDriver({ plan: { plan: example.plan }, asOf: EXAMPLE_AS_OF, input: `files:${parquet}` });
      for (const spark of [perSegment, onePlan]) {
        expect(spark.malformed).toEqual({ customer: 0, purchase: 6, add_to_cart: 0, page_view: 0 });
        expect(spark.sources["purchase"]).toMatchObject({ rows: purchaseRows, valid: purchaseRows - 6, corrupt: 0, missingRequired: 3, invalidValue: 3, duplicateKey: 0 });
        expect(spark.sources["customer"]).toMatchObject({ rows: 40, valid: 40 });
        expect(spark.sources["purchase"]!.problems).toHaveLength(6);
        // XYZ is in the currency dictionary: that enum is checked per record, the others are proven
        expect(spark.sources["purchase"]!.checks).toEqual(expect.arrayContaining(["invalidValue:ts", "invalidValue:currency", "missingRequired:amount"]));
        expect(spark.sources["purchase"]!.checks).not.toContain("invalidValue:category");
        expect(spark.sources["customer"]!.checks).toEqual(["duplicateKey:customer_id"]);
        expect(spark.sources["purchase"]!.problems.join("\n")).toMatch(/currency has a value outside its type/);
        expect(spark.sources["purchase"]!.problems.join("\n")).toMatch(/ts has a value outside its type.*2026-02-30T10:00:00Z/);
        for (const name of example.names) {
          expect(normalizeMembers(spark.segments[name]!.members), name).toEqual(normalizeMembers(duck.segments[name]!.members));
        }
      }
      expect(example.names.filter((n) => duck.segments[n]!.size > 0).length).toBeGreaterThan(example.names.length / 2);
    },
    LAUNCH_TIMEOUT,
  );

  it(
    "with native timestamps and clean data: the footer proves every check, nothing is left out, DuckDB's members (per segment and as one plan)",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "seg-spark-parquet-native-"));
      temp.push(dir);
      const clean = copyExampleData();
      temp.push(clean);
      const sources = example.plan.sources as SourceIR[];
      const native = new Set(sources.flatMap((s) => s.fields.filter((f) => f.type.kind === "timestamp").map((f) => `${s.name}.${f.name}`)));
      await toParquet(clean, dir, sources, native);
      const duck = await evaluatePlan(example.plan, { dataDir: clean, asOf: EXAMPLE_AS_OF });
      const perSegment = await runSparkDriver({ specs: example.specs, asOf: EXAMPLE_AS_OF, input: `files:${dir}` });
      const onePlan = await runSparkDriver({ plan: { plan: example.plan }, asOf: EXAMPLE_AS_OF, input: `files:${dir}` });
      const lines = (name: string) => readFileSync(join(clean, `${name}.jsonl`), "utf8").split("\n").filter((l) => l.trim() !== "").length;
      for (const spark of [perSegment, onePlan]) {
        expect(spark.malformed).toEqual({ customer: 0, purchase: 0, add_to_cart: 0, page_view: 0 });
        expect(spark.sources["purchase"]).toMatchObject({ rows: lines("purchase"), valid: lines("purchase"), checks: [] });
        expect(spark.sources["customer"]).toMatchObject({ rows: 40, valid: 40, checks: ["duplicateKey:customer_id"] });
        for (const name of example.names) {
          expect(normalizeMembers(spark.segments[name]!.members), name).toEqual(normalizeMembers(duck.segments[name]!.members));
        }
      }
    },
    LAUNCH_TIMEOUT,
  );

  it(
    "with no malformed record and a duplicate profile key: the first record wins, like DuckDB",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "seg-spark-parquet-dup-"));
      temp.push(dir);
      const clean = copyExampleData();
      temp.push(clean);
      const customers = readFileSync(join(clean, "customer.jsonl"), "utf8").split("\n");
      const first = JSON.parse(customers[0]!) as Record<string, unknown>;
      appendFileSync(join(clean, "customer.jsonl"), JSON.stringify({ ...first, country: "ZZ", loyalty_tier: "platinum" }) + "\n");
      mkdirSync(join(dir, "pq"));
      await toParquet(clean, join(dir, "pq"), example.plan.sources as SourceIR[], new Set());
      const [spark, duck] = await Promise.all([
        runSparkDriver({ plan: { plan: example.plan }, asOf: EXAMPLE_AS_OF, input: `files:${join(dir, "pq")}` }),
        evaluatePlan(example.plan, { dataDir: clean, asOf: EXAMPLE_AS_OF }),
      ]);
      expect(spark.malformed).toEqual({ customer: 1, purchase: 0, add_to_cart: 0, page_view: 0 });
      expect(spark.sources["customer"]).toMatchObject({ rows: 41, valid: 40, duplicateKey: 1 });
      for (const name of example.names) {
        expect(normalizeMembers(spark.segments[name]!.members), name).toEqual(normalizeMembers(duck.segments[name]!.members));
      }
    },
    LAUNCH_TIMEOUT,
  );
});
