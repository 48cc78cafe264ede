/**
 * The native loader (DuckDB reads and checks the file, JS sees only flagged rows) against the JS
 * loader (every record checked in JS) on adversarial files: the same table, row for row and value
 * for value, and the same problems, message for message.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDb, type DuckDbSession } from "../../src/engine/duckdb-engine.js";
import { MAX_PROBLEMS_PER_FILE, loadSource, type DataProblem, type LoadOptions } from "../../src/engine/load-data.js";
import { nativeLoadStats } from "../../src/engine/native-load.js";
import type { SourceIR } from "../../src/ir.js";
import { buildSchemaRegistry } from "../../src/schema-registry.js";
import * as B from "./emit-builder.js";
import { tempDir, type TempDir } from "./temp-project.js";

let dir: TempDir;
let maker: DuckDbSession;
beforeAll(async () => {
  dir = tempDir("seg-load-diff-");
  maker = await openDuckDb();
});
afterAll(() => {
  maker.close();
  dir.cleanup();
});

/** Writes `<name>.parquet` in its own folder from a SELECT; returns the folder. */
async function parquet(name: string, select: string): Promise<string> {
  const folder = dir.path(`${name}-${Math.random().toString(36).slice(2)}`);
  dir.write(`${folder.slice(dir.root.length + 1)}/.keep`, "");
  await maker.connection.run(`COPY (${select}) TO '${`${folder}/${name}.parquet`.replaceAll("'", "''")}' (FORMAT parquet)`);
  return folder;
}

/** Every row of a table in storage order, values as exact text (-0 kept, timestamps to the microsecond). */
async function dump(conn: DuckDBConnection, table: string): Promise<string[][]> {
  const reader = await conn.runAndReadAll(`SELECT * FROM "${table.replaceAll('"', '""')}"`);
  return reader.getRows().map((row) => row.map((v) => (v === null ? "NULL" : typeof v === "number" && Object.is(v, -0) ? "-0" : String(v))));
}

interface Loaded {
  problems: DataProblem[];
  rows: string[][];
}

/** Writes `<name>.jsonl` (text or bytes) in its own folder; returns the folder. */
function jsonl(name: string, content: string | Buffer): string {
  const rel = `${name}-${Math.random().toString(36).slice(2)}`;
  dir.write(`${rel}/.keep`, "");
  writeFileSync(dir.path(`${rel}/${name}.jsonl`), content);
  return dir.path(rel);
}

/** Loads `folder` both ways; unless `fallback`, the native way must really have run. */
async function both(source: SourceIR, folder: string, options: LoadOptions = {}, fallback = false): Promise<{ native: Loaded; js: Loaded; flagged: number }> {
  const run = async (native: boolean): Promise<Loaded> => {
    const s = await openDuckDb();
    try {
      const problems = await loadSource(s.connection, source, folder, { ...options, native });
      return { problems, rows: await dump(s.connection, source.name) };
    } finally {
      s.close();
    }
  };
  const before = { ...nativeLoadStats };
  const native = await run(true);
  expect(nativeLoadStats.files, "the native loader ran").toBe(before.files + (fallback ? 0 : 1));
  const js = await run(false);
  return { native, js, flagged: nativeLoadStats.rowsFlagged - before.rowsFlagged };
}

const event = B.source("ev", "event", { id: "string", ts: "timestamp", amount: "number", qty: "integer", day: "date?", note: "string?", ok: "boolean?" });
const withEnum = (s: SourceIR, field: string, values: string[]): SourceIR => ({
  ...s,
  fields: s.fields.map((f) => (f.name === field ? { ...f, type: { ...f.type, enumValues: values } } : f)),
});

const TIMESTAMPS = [
  "2026-10-01T00:00:00Z",
  "2026-10-01 00:00:00Z",
  "2026-10-01t00:00:00z",
  "2026-10-01T00:00:00.5+05:30",
  "2026-10-01T00:00:00.123456-23:59",
  "2026-10-01T00:00:00.1234567Z",
  "2026-10-01T00:00:00.999999999+01:00",
  "2026-10-01T00:00:00",
  "2026-10-01T24:00:00Z",
  "2026-10-01T23:60:00Z",
  "2026-10-01T23:59:60Z",
  "2026-10-01T10:00:00+24:00",
  "2026-10-01T10:00:00+05:60",
  "2026-10-01T10:00:00+0530",
  "2024-02-29T12:00:00Z",
  "2026-02-29T12:00:00Z",
  "2026-04-31T12:00:00Z",
  "0000-01-01T00:00:00Z",
  "0001-01-01T00:00:00+01:00",
  "1582-10-10T00:00:00Z",
  "9999-12-31T23:59:59.999999-23:59",
  "2026-13-01T00:00:00Z",
  " 2026-10-01T00:00:00Z",
  "2026-10-01T00:00:00Z ",
  "2026-10-01T00:00:00.Z",
  "２０２６-10-01T00:00:00Z",
  "2026-10-01",
  "",
  "yesterday",
];

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

describe("native and JS loading agree", () => {
  it("on parquet with bad values of every kind", async () => {
    const rows: string[] = [];
    TIMESTAMPS.forEach((ts, i) => rows.push(`('e${i}', ${q(ts)}, ${i % 7 === 0 ? "'NaN'::DOUBLE" : `${i * 1.5}`}, ${i}, NULL, NULL, NULL)`));
    rows.push(
      `(NULL, '2026-10-01T00:00:00Z', 1, 1, '2026-02-28', 'ü€😀', true)`,
      `('n1', NULL, 1, 1, '2026-02-29', NULL, false)`,
      `('n2', '2026-10-01T00:00:00Z', NULL, 1, '2026-2-28', 'x', NULL)`,
      `('n3', '2026-10-01T00:00:00Z', 'inf'::DOUBLE, NULL, '0000-01-01', 'x', NULL)`,
      `('n4', '2026-10-01T00:00:00Z', -0.0, -0, '9999-12-31', '', NULL)`,
      `('n5', '2026-10-01T00:00:00Z', 1e308, 9223372036854775807, '2026-02-28 ', 'tab\there', NULL)`,
    );
    const folder = await parquet(
      "ev",
      `SELECT id, ts, CAST(amount AS DOUBLE) AS amount, CAST(qty AS BIGINT) AS qty, day, note, ok, 'extra' AS unused FROM (VALUES ${rows.join(", ")}) t(id, ts, amount, qty, day, note, ok)`,
    );
    const r = await both(event, folder);
    expect(r.native).toEqual(r.js);
    expect(r.js.rows.length).toBeGreaterThan(5);
    expect(r.js.problems.length).toBeGreaterThan(10);
    expect(r.flagged).toBeGreaterThan(0);
  });

  it("on parquet columns of other types (native timestamps, decimals, unsigned and huge integers)", async () => {
    const cases: [string, string][] = [
      ["TIMESTAMPTZ", `SELECT 'a' AS id, TIMESTAMPTZ '2026-10-01 01:00:00+01' AS ts, 1.0 AS amount, 1 AS qty UNION ALL SELECT 'b', 'infinity'::TIMESTAMPTZ, 2, 2 UNION ALL SELECT 'c', NULL, 3, 3`],
      ["TIMESTAMP", `SELECT 'a' AS id, TIMESTAMP '2026-10-01 01:00:00.000001' AS ts, 1.0 AS amount, 1 AS qty UNION ALL SELECT 'b', '-infinity'::TIMESTAMP, 2, 2`],
      ["TIMESTAMP_MS", `SELECT 'a' AS id, CAST(TIMESTAMP '1969-12-31 23:59:59.999' AS TIMESTAMP_MS) AS ts, 1.0 AS amount, 1 AS qty`],
      ["TIMESTAMP_S", `SELECT 'a' AS id, CAST(TIMESTAMP '2026-10-01 01:00:00' AS TIMESTAMP_S) AS ts, 1.0 AS amount, 1 AS qty`],
      ["TIMESTAMP_NS", `SELECT 'a' AS id, CAST('1969-12-31 23:59:59.999999999' AS TIMESTAMP_NS) AS ts, 1.0 AS amount, 1 AS qty`],
      ["DATE ts", `SELECT 'a' AS id, DATE '2026-10-01' AS ts, 1.0 AS amount, 1 AS qty UNION ALL SELECT 'b', 'infinity'::DATE, 1, 1`],
      ["DECIMAL", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, CAST(0.1 AS DECIMAL(18,3)) AS amount, CAST(7 AS DECIMAL(10,0)) AS qty`],
      ["FLOAT", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, CAST(0.1 AS FLOAT) AS amount, CAST(7.0 AS DOUBLE) AS qty UNION ALL SELECT 'b', '2026-10-01T00:00:00Z', 1, 7.5`],
      ["unsigned", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, CAST(18446744073709551615 AS UBIGINT) AS amount, CAST(4294967295 AS UINTEGER) AS qty UNION ALL SELECT 'b', '2026-10-01T00:00:00Z', 1, 1`],
      ["huge", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, CAST(9007199254740993 AS BIGINT) AS amount, CAST(170141183460469231731687303715884105727 AS HUGEINT) AS qty UNION ALL SELECT 'b', '2026-10-01T00:00:00Z', 1, -9223372036854775808`],
      ["text numbers", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, '1.5' AS amount, '2' AS qty`],
      ["other kinds", `SELECT 7 AS id, '2026-10-01T00:00:00Z'::BLOB AS ts, 1 AS amount, 1 AS qty, DATE '2026-01-01' AS day, [1, 2] AS note, 'true' AS ok`],
      ["missing columns", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, 1.5 AS amount`],
      ["letter case", `SELECT 'a' AS ID, '2026-10-01T00:00:00Z' AS ts, 1.5 AS amount, 1 AS qty`],
      ["empty", `SELECT 'a' AS id, '2026-10-01T00:00:00Z' AS ts, 1.5 AS amount, 1 AS qty WHERE false`],
    ];
    for (const [label, select] of cases) {
      const r = await both(event, await parquet("ev", select));
      expect(r.native, label).toEqual(r.js);
    }
  });

  it("on random timestamps, dates, enums and integers (seeded)", async () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pad = (n: number, w: number) => String(n).padStart(w, "0");
    const rows: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const y = [0, 1, 999, 1600, 1900, 1970, 2000, 2024, 2026, 9999][rnd(10)]!;
      let ts = `${pad(y, 4)}-${pad(rnd(14), 2)}-${pad(rnd(33), 2)}${["T", " ", "t"][rnd(3)]}${pad(rnd(26), 2)}:${pad(rnd(62), 2)}:${pad(rnd(62), 2)}`;
      if (rnd(2)) ts += `.${String(rnd(1_000_000_000)).slice(0, 1 + rnd(9))}`;
      ts += ["Z", "z", "", `+${pad(rnd(26), 2)}:${pad(rnd(62), 2)}`, `-${pad(rnd(24), 2)}:${pad(rnd(60), 2)}`][rnd(5)];
      const day = `${pad(y, 4)}-${pad(rnd(14), 2)}-${pad(rnd(33), 2)}`;
      rows.push(`('e${i}', ${q(ts)}, ${rnd(1000) / 8}, ${rnd(100) - 50}, ${q(day)}, ${q(["USD", "EUR", "usd", "GBP"][rnd(4)]!)})`);
    }
    const folder = await parquet("ev", `SELECT id, ts, CAST(amount AS DOUBLE) AS amount, qty, day, note FROM (VALUES ${rows.join(", ")}) t(id, ts, amount, qty, day, note)`);
    const r = await both(withEnum(event, "note", ["USD", "EUR"]), folder);
    expect(r.native).toEqual(r.js);
    expect(r.js.rows.length).toBeGreaterThan(100);
    // SQL accepts the common forms itself: only rejected rows and rarer forms (t, z, 7+ fraction digits) reach JS
    expect(r.flagged).toBeLessThan(3000 - r.js.rows.length / 2);
    expect(r.js.problems).toHaveLength(MAX_PROBLEMS_PER_FILE + 1);
  });

  it("on profiles with duplicate keys between bad rows", async () => {
    const profile = B.source("cust", "profile", { customer_id: "string?", n: "integer" });
    const folder = await parquet(
      "cust",
      `SELECT * FROM (VALUES ('c1', 1), ('c2', 2), ('c1', 3), (NULL, 4), ('c2', NULL), (NULL, 5), ('c"1', 6), ('c2', 7), ('c"1', 8), ('ü', 9), ('ü', 10)) t(customer_id, n)`,
    );
    const r = await both(profile, folder);
    expect(r.native).toEqual(r.js);
    expect(r.js.problems.filter((p) => p.message.startsWith("duplicate key"))).toHaveLength(5);
    const byInteger = B.source("acct", "profile", { id: "integer", label: "string" });
    const r2 = await both(byInteger, await parquet("acct", `SELECT * FROM (VALUES (1, 'a'), (2, NULL), (1, 'b'), (2, 'c'), (2, 'd')) t(id, label)`));
    expect(r2.native).toEqual(r2.js);
    expect(r2.js.rows).toEqual([
      ["1", "a"],
      ["2", "c"],
    ]);
  });

  it("lists the first problems and counts the rest the same way", async () => {
    const folder = await parquet("ev", `SELECT 'e' || i AS id, CASE WHEN i % 3 = 0 THEN 'bad' ELSE '2026-10-01T00:00:00Z' END AS ts, CASE WHEN i % 5 = 0 THEN NULL ELSE i END AS amount, i AS qty FROM range(1000) r(i)`);
    const r = await both(event, folder);
    expect(r.native).toEqual(r.js);
    expect(r.js.problems.at(-1)?.message).toMatch(/^\d+ more problems in .* are not listed$/);
  });

  it("with JSON Schemas, inside the SQL subset and outside it", async () => {
    const properties = {
      id: { type: "string", pattern: "^e[0-9]+$", minLength: 2, maxLength: 5 },
      ts: { type: "string", format: "date-time" },
      amount: { type: "number", minimum: 0, exclusiveMaximum: 100 },
      qty: { type: "integer", minimum: 1 },
      day: { type: ["string", "null"], format: "date" },
      note: { enum: ["a", "b", null] },
      ok: { type: ["boolean", "null"] },
    };
    const schema = (extra: Record<string, unknown>) => ({
      type: "object",
      "x-seg": { kind: "event", name: "ev", entity: "customer", key: "id", time: "ts" },
      properties,
      required: ["id", "ts", "amount", "qty"],
      ...extra,
    });
    const data = `SELECT * FROM (VALUES ('e1', '2026-10-01T00:00:00Z', 1.5, 1, '2026-01-01', 'a', true), ('x1', '2026-10-01T00:00:00Z', 1.5, 1, NULL, NULL, NULL),
      ('e123456', '2026-10-01T00:00:00Z', 1.5, 1, NULL, 'b', NULL), ('e2', '2026-10-01T00:00:00+01:00', -1, 0, '2026-02-30', 'c', NULL),
      ('e3', '2026-10-01T00:00:00Z', 100, 2, NULL, NULL, false), ('e4', '2026-10-01T00:00:00Z', 99.5, 2, NULL, NULL, false)) t(id, ts, amount, qty, day, note, ok)`.replace("SELECT *", "SELECT id, ts, CAST(amount AS DOUBLE) AS amount, qty, day, note, ok");
    for (const [i, extra] of [{}, { additionalProperties: false }, { oneOf: [{ required: ["day"] }, { required: ["note"] }] }].entries()) {
      const { registry, diagnostics } = buildSchemaRegistry([{ file: "ev.schema.json", text: JSON.stringify(schema(extra)) }]);
      expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      for (const [j, select] of [data, `SELECT *, 1 AS surplus FROM (${data})`].entries()) {
        const r = await both(event, await parquet("ev", select), { schemas: registry });
        expect(r.native, JSON.stringify(extra)).toEqual(r.js);
        expect(r.js.rows).toHaveLength(i === 2 || (i === 1 && j === 1) ? 0 : 2);
        // inside the subset SQL accepts the two good rows itself; outside it (oneOf) every row goes to ajv
        expect(r.flagged).toBe(i === 2 || (i === 1 && j === 1) ? 6 : 4);
      }
    }
  });
});

describe("native and JS loading agree on JSON Lines", () => {
  const good = (id: string, extra = "") => `{"id":"${id}","ts":"2026-10-01T00:00:00Z","amount":1.5,"qty":2${extra}}`;

  it("on malformed lines, JSON.parse's strictness, numbers and strings of every kind", async () => {
    const lines = [
      good("a"),
      "",
      "   \t ",
      good("b").replace("}", "}\r"),
      '{"id":"c","ts":"2026-10-01T00:00:00Z","amount":1.5,"qty":2',
      '{"id":"d","ts":"2026-10-01T00:00:00Z","amount":NaN,"qty":2}',
      '{"id":"e","ts":"2026-10-01T00:00:00Z","amount":1,"qty":2,"other":Infinity}',
      '{"id":"f","ts":"2026-10-01T00:00:00Z","amount":1,"qty":2,}',
      '{"id":"g","ts":"2026-10-01T00:00:00Z","amount":-0,"qty":-0}',
      '{"id":"h","ts":"2026-10-01T00:00:00Z","amount":-0.0,"qty":1.0}',
      '{"id":"i","ts":"2026-10-01T00:00:00Z","amount":1e400,"qty":1e2}',
      '{"id":"j","ts":"2026-10-01T00:00:00Z","amount":12345678901234567890,"qty":9007199254740993}',
      '{"id":"k","ts":"2026-10-01T00:00:00Z","amount":0.30000000000000004,"qty":9007199254740991}',
      '{"id":"l\\u00e9\\ud83d\\ude00\\"\\/","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"note":"é😀 raw"}',
      '{"id":"m\\ud800","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1}',
      '{"\\u0069d":"n","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1}',
      '{"id":"o","id":"o2","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1}',
      '{"id":"p","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"x":1,"x":2}',
      '{"id":"q","ts":"2026-10-01T00:00:00Z","amount":"1","qty":true,"day":20261001,"note":{"a":1},"ok":"true"}',
      '{"id":"r","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"day":"2026-02-29","note":[1],"ok":null}',
      '{"id":"s","ts":null,"amount":null,"qty":null,"day":null,"note":null,"ok":true}',
      '{"ts":"2026-10-01T00:00:00Z"}',
      "[1,2]",
      "7",
      '"text"',
      "null",
      '{"id":"t"} {"id":"u"}',
      '{"id":',
      '"v"}',
      '{"id":"w","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1} // comment',
      "{'id':'x'}",
      '{"id":"y","ts":"2026-10-01T00:00:00Z","amount":01,"qty":1}',
      '{"id":"z","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"note":"tab\there"}',
      '{"id":"aa","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"note":"a\rb"}',
      '  {"id":"ab","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1}  ',
      '{"id":"ac","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1,"note":"\\u0000"}',
      '{"id":"ad","ts":"2026-10-01T00:00:00Z","amount":-1E-7,"qty":-12,"nested":{"amount":"x","id":5}}',
      ...TIMESTAMPS.map((ts, i) => `{"id":"t${i}","ts":${JSON.stringify(ts)},"amount":${i},"qty":${i},"day":${JSON.stringify(ts.slice(0, 10))}}`),
      good("last"),
    ];
    const text = lines.join("\n");
    for (const content of [text, `${text}\n`, `${text}\n\n  \n`]) {
      const r = await both(event, jsonl("ev", content));
      expect(r.native).toEqual(r.js);
      expect(r.js.rows.length).toBeGreaterThan(10);
      expect(r.js.problems.length).toBeGreaterThan(30);
      expect(r.flagged).toBeLessThan(lines.length - 10);
    }
  });

  it("on invalid UTF-8, a stray CR and Unicode blank lines, a byte-order mark, empty files", async () => {
    const bytes = Buffer.concat([Buffer.from(`${good("a")}\n{"id":"`), Buffer.from([0xff, 0xc3]), Buffer.from(`","ts":"2026-10-01T00:00:00Z","amount":1,"qty":1}\n${good("b")}\r${good("c")}\n${good("d")}\n`)]);
    const r = await both(event, jsonl("ev", bytes));
    expect(r.native).toEqual(r.js);
    // JS reads the invalid bytes as U+FFFD and loads the record; the stray CR joins two records into one bad line
    expect(r.js.rows).toHaveLength(3);
    for (const [content, fallback] of [
      [`\ufeff${good("a")}\n${good("b")}\n`, true],
      [`${good("a")}\n\u00a0\n${good("b")}\n`, true],
      ["", false],
      ["\n\n", false],
      [good("a"), false],
    ] as const) {
      const r2 = await both(event, jsonl("ev", content), {}, fallback);
      expect(r2.native, JSON.stringify(content)).toEqual(r2.js);
    }
  });

  it("on profiles with duplicate keys, and many bad lines", async () => {
    const profile = B.source("cust", "profile", { customer_id: "string?", n: "integer" });
    const lines = ['{"customer_id":"c1","n":1}', '{"customer_id":"c1","n":2}', '{"n":3}', '{"customer_id":null,"n":4}', "", '{"customer_id":"c2","n":"x"}', '{"customer_id":"c2","n":5}', '{"customer_id":"c1","n":6}'];
    const r = await both(profile, jsonl("cust", lines.join("\n")));
    expect(r.native).toEqual(r.js);
    expect(r.js.problems.map((p) => p.line)).toEqual([2, 4, 6, 8]);
    const many = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? "{" : i % 3 === 1 ? good(`e${i}`) : good(`e${i}`).replace('"qty":2', '"qty":"2"'))).join("\n");
    const r2 = await both(event, jsonl("ev", many));
    expect(r2.native).toEqual(r2.js);
    expect(r2.js.problems).toHaveLength(MAX_PROBLEMS_PER_FILE + 1);
  });

  it("with JSON Schemas, inside the SQL subset and outside it", async () => {
    const properties = {
      id: { type: "string", pattern: "^e[0-9]+$" },
      ts: { type: "string", format: "date-time" },
      amount: { type: "number", minimum: 0 },
      qty: { type: "integer" },
      note: { type: ["string", "null"], enum: ["a", null] },
      extra: { type: "string" },
    };
    const lines = [
      good("e1"),
      good("x1"),
      good("e2", ',"note":null'),
      good("e3", ',"note":"b"'),
      good("e4", ',"extra":5'),
      good("e5", ',"surplus":1'),
      '{"id":"e6","ts":"2026-10-01T00:00:00Z","amount":1.5}',
      '{"id":"e7","ts":"2026-10-01T00:00:00Z","amount":-1,"qty":2.0}',
    ];
    for (const [i, extra] of [{}, { additionalProperties: false }, { anyOf: [{ required: ["note"] }, { required: ["extra"] }] }].entries()) {
      const schema = { type: "object", "x-seg": { kind: "event", name: "ev", entity: "customer", key: "id", time: "ts" }, properties, required: ["id", "ts", "amount", "qty"], ...extra };
      const { registry, diagnostics } = buildSchemaRegistry([{ file: "ev.schema.json", text: JSON.stringify(schema) }]);
      expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const r = await both(event, jsonl("ev", lines.join("\n")), { schemas: registry });
      expect(r.native, JSON.stringify(extra)).toEqual(r.js);
      expect(r.js.rows.length).toBeGreaterThan(0);
      if (i < 2) expect(r.flagged).toBeLessThan(lines.length);
    }
  });
});
