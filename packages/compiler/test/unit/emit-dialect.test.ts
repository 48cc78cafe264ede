/**
 * Dialect primitives: quoting and literals must mean exactly the name or value given. DuckDB is
 * checked on the real engine; Spark against a model of its lexer rule for string literals and of
 * its unescaping (org.apache.spark.sql.catalyst.util.SparkParserUtils.unescapeSQLString).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnsupportedByDialectError } from "../../src/emit/dialect.js";
import { DuckDbDialect } from "../../src/emit/duckdb.js";
import { SparkDialect } from "../../src/emit/spark.js";
import { regexPortabilityProblem, translateRegex } from "../../src/check/regex.js";
import { openDuckDb, runSql, type DuckDbSession } from "../../src/engine/duckdb-engine.js";

const duck = new DuckDbDialect();
const spark = new SparkDialect();

const ADVERSARIAL = ["", "'", "''", "\\", "\\'", "'); DROP TABLE x; --", "a\nb\r\nc\td", "\u0000\u0001\u001f\u007f", "é 😀 中文", "${env:HOME} ${x}", "\\u0041 \\n %_", '"', "`", "--", "/* */", "?", "$as_of", ":as_of"];
const anyString = fc.string({ unit: "binary", maxLength: 24 });

/** Spark's string-literal lexer rule: quote, (non-quote-non-backslash | backslash + any)*, quote. */
const SPARK_STRING = /^'(?:[^'\\]|\\[\s\S])*'$/;

/** Spark's unescaping of a string literal (default settings), modelled for the test. */
function sparkUnescape(literal: string): string {
  const body = literal.slice(1, -1);
  let out = "";
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c !== "\\") {
      out += c;
      i += 1;
      continue;
    }
    const rest = body.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^\\u([0-9a-fA-F]{4})/.exec(rest))) {
      out += String.fromCharCode(parseInt(m[1]!, 16));
      i += 6;
    } else if ((m = /^\\U([0-9a-fA-F]{8})/.exec(rest))) {
      out += String.fromCodePoint(parseInt(m[1]!, 16));
      i += 10;
    } else if ((m = /^\\([01][0-7]{2})/.exec(rest))) {
      out += String.fromCharCode(parseInt(m[1]!, 8));
      i += 4;
    } else {
      const n = body[i + 1]!;
      const map: Record<string, string> = { "0": "\u0000", b: "\b", n: "\n", r: "\r", t: "\t", Z: "\u001a", "%": "\\%", _: "\\_" };
      out += map[n] ?? n;
      i += 2;
    }
  }
  return out;
}

/** Spark's `${...}` variable substitution would rewrite these in the SQL text before parsing. */
const SUBSTITUTION = /\$\{[^}]*\}/;

describe("Spark quoting", () => {
  it("quotes identifiers with backquotes, doubling backquotes", () => {
    expect(spark.quoteIdentifier("a`b")).toBe("`a``b`");
    expect(spark.quoteIdentifier('a"b')).toBe('`a"b`');
  });

  it("writes string literals with backslash escapes only", () => {
    expect(spark.quoteString("it's")).toBe("'it\\'s'");
    expect(spark.quoteString("a\\b")).toBe("'a\\\\b'");
    expect(spark.quoteString("x\ny")).toBe("'x\\ny'");
    expect(spark.quoteString("$5")).toBe("'\\u00245'");
    expect(spark.quoteString("\u0001")).toBe("'\\u0001'");
  });

  it("string literals lex as one literal and unescape to exactly the value", () => {
    for (const s of ADVERSARIAL) {
      const q = spark.quoteString(s);
      expect(q).toMatch(SPARK_STRING);
      expect(q).not.toMatch(SUBSTITUTION);
      expect(sparkUnescape(q)).toBe(s);
    }
    fc.assert(
      fc.property(anyString, (s) => {
        const q = spark.quoteString(s);
        return SPARK_STRING.test(q) && !SUBSTITUTION.test(q) && !/[\u0000-\u001f]/.test(q) && sparkUnescape(q) === s;
      }),
      { numRuns: 500 },
    );
  });

  it("writes typed literals and intervals", () => {
    expect(spark.doubleLiteral(12.5)).toBe("12.5D");
    expect(spark.doubleLiteral(1e21)).toBe("1E+21D");
    expect(spark.doubleLiteral(-5)).toBe("(-5D)");
    expect(spark.bigintLiteral(7)).toBe("7L");
    expect(spark.timestampLiteral("2026-10-15T09:00:00.250Z")).toBe("TIMESTAMP '2026-10-15 09:00:00.250Z'");
    expect(spark.intervalLiteral(30 * 86_400_000)).toBe("INTERVAL '30' DAY");
    expect(spark.intervalLiteral(86_400_000 + 3_723_004)).toBe("INTERVAL '1 01:02:03.004' DAY TO SECOND");
    expect(spark.intervalLiteral(900_000)).toBe("INTERVAL '0 00:15:00.000' DAY TO SECOND");
    expect(spark.asOf()).toBe("CAST(:as_of AS TIMESTAMP)");
  });

  it("writes seg's portable regex in Java syntax with RE2's meaning", () => {
    const java = (p: string) => translateRegex(p, "java");
    expect(java("^SKU-\\d+$")).toBe("^SKU-\\d+\\z");
    expect(java("a\\$[$]b|c$")).toBe("a\\$[$]b|c\\z");
    expect(java("[\\]$]$[^\\]$]x\\Q$\\E$")).toBe("[\\]$]\\z[^\\]$]x\\$\\z");
    expect(java("a\\sb\\S")).toBe("a[\\t\\n\\f\\r ]b[^\\t\\n\\f\\r ]");
    expect(java("[\\s,]")).toBe("[\\t\\n\\f\\r ,]");
    expect(java("caf\\b")).toBe("caf(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))");
    expect(java("^[[:alpha:]]+$")).toBe("^[A-Za-z]+\\z");
    expect(java("[[:^digit:]x]")).toBe("[[^0-9]x]");
    expect(java("(?i)straße|(?-i:x)")).toBe("(?iu)straße|(?-i:x)");
    expect(java("a&&b[&&[]{x")).toBe("a&&b[\\&\\&\\[]\\{x");
    expect(java("(?P<year>\\d{4})\\v\\u00e9\\x41")).toBe("(\\d{4})\\x0B\\x{E9}\\x{41}");
    expect(translateRegex("[[:alpha:]]\\s\\b(?i)$", "re2")).toBe("[[:alpha:]]\\s\\b(?i)$");
    expect(spark.regexLiteral("^a.c$")).toBe("'(?d)^a.c\\\\z'");
    expect(duck.regexLiteral("^a.c$")).toBe("'^a.c$'");
  });

  it("rejects regex constructs the engines read differently", () => {
    for (const p of ["a(?=b)", "(?<!a)b", "(a)\\1", "a*+", "(?m)^a", "\\p{Greek}", "\\p{^L}", "x{1001}", "[]a]", "\\h", "\\Z", "(?>a)", "[\\d-z]"]) {
      expect(regexPortabilityProblem(p), p).toBeDefined();
      expect(() => spark.regexLiteral(p), p).toThrow(UnsupportedByDialectError);
    }
    expect(regexPortabilityProblem("a(?=b)")).toEqual({ message: expect.stringContaining("lookahead") as unknown, offset: 1 });
    for (const p of ["^[a-z0-9._%+-]+@x\\.com$", "\\p{Lu}\\PL", "(?s)a.b", "[^\\]\\\\-]", "a{2,}?b{,3}"]) expect(regexPortabilityProblem(p), p).toBeUndefined();
  });

  it("judges any pattern without throwing, and translates every portable one", () => {
    const alphabet = fc.constantFrom(..."\\[]()^$.|?*+{}-:&!=<>PpdswbBQEiu019az,é🎉");
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 14 }).map((cs) => cs.join("")), (p) => {
        const problem = regexPortabilityProblem(p);
        if (problem === undefined) for (const target of ["re2", "java", "js"] as const) expect(typeof translateRegex(p, target)).toBe("string");
        else expect(problem.offset).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 3000 },
    );
  });

  it("maps case code point by code point and trims only U+0020 on both engines", () => {
    expect(spark.caseMapping("upper", "x")).toBe("seg_upper(x)");
    expect(duck.caseMapping("lower", "x")).toBe("lower(x)");
    expect(duck.trimSpaces("x")).toBe("trim(x, ' ')");
    expect(spark.trimSpaces("x")).toBe("trim(x)");
  });

  it("keeps floor and ceil of large doubles exact (Spark's return BIGINT)", () => {
    expect(spark.floorOrCeil("floor", "x", true)).toBe("IF(abs(x) < 4503599627370496D, CAST(floor(x) AS DOUBLE), x)");
    expect(spark.floorOrCeil("ceil", "n", false)).toBe("ceil(n)");
    expect(spark.finiteOrNull("x")).toBe("CASE WHEN abs(x) < CAST('Infinity' AS DOUBLE) THEN x END");
  });

  it("refuses what Spark cannot express", () => {
    expect(() => spark.round("x", "d")).toThrow(UnsupportedByDialectError);
    expect(spark.countDistinct("x", "c")).toBe("COUNT(DISTINCT CASE WHEN c THEN x END)");
    expect(() => spark.quoteString("\ud800")).toThrow(/unpaired surrogate/);
  });
});

describe("DuckDB quoting, on the real engine", () => {
  let db: DuckDbSession;
  beforeAll(async () => {
    db = await openDuckDb();
  });
  afterAll(() => db.close());

  const selectValue = async (sql: string) => (await runSql(db.connection, `SELECT ${sql} AS v`))[0]?.v;

  it("quotes identifiers with double quotes, doubling them", () => {
    expect(duck.quoteIdentifier('a"b')).toBe('"a""b"');
    expect(duck.quoteIdentifier("a`b")).toBe('"a`b"');
  });

  it("writes control characters as chr(n) and doubles quotes", () => {
    expect(duck.quoteString("it's")).toBe("'it''s'");
    expect(duck.quoteString("a\\b")).toBe("'a\\b'");
    expect(duck.quoteString("x\ny")).toBe("('x' || chr(10) || 'y')");
  });

  it("string literals evaluate to exactly the value", async () => {
    for (const s of ADVERSARIAL) expect(await selectValue(duck.quoteString(s))).toBe(s);
    await fc.assert(
      fc.asyncProperty(anyString, async (s) => {
        expect(await selectValue(duck.quoteString(s))).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it("identifiers name exactly the column", async () => {
    const names = ['a"b', "a`b", "'); DROP TABLE x; --", "é 😀", "select", "a.b", "\\", "x\ny"];
    for (const [i, name] of names.entries()) {
      const t = duck.quoteIdentifier(`t${i} ${name}`);
      await db.connection.run(`CREATE TABLE ${t} (${duck.quoteIdentifier(name)} VARCHAR)`);
      await db.connection.run(`INSERT INTO ${t} VALUES (${duck.quoteString(name)})`);
      const rows = await runSql(db.connection, `SELECT x.${duck.quoteIdentifier(name)} FROM ${t} AS x`);
      expect(rows).toEqual([{ [name]: name }]);
    }
  });

  it("double literals read back as exactly the same number", async () => {
    for (const n of [0, -0, 12.5, 0.1, -3.75, 1e21, 123456789012345680000, 5e-324, 1.7976931348623157e308, 0.0000012345678901234567]) {
      expect(await selectValue(duck.doubleLiteral(n))).toBe(n === 0 ? 0 : n);
    }
    await fc.assert(
      fc.asyncProperty(fc.double({ noNaN: true, noDefaultInfinity: true }), async (n) => {
        expect(await selectValue(duck.doubleLiteral(n))).toBe(Object.is(n, -0) ? 0 : n);
      }),
      { numRuns: 200 },
    );
  });

  it("interval literals are exact", async () => {
    const base = 1_793_491_200_000_000n; // 2026-11-01T00:00:00Z in microseconds
    for (const ms of [1, 999, 1000, 60_000, 86_400_000, 30 * 86_400_000, 86_400_000 + 3_723_004, 3650 * 86_400_000 + 1]) {
      const v = await selectValue(`epoch_us(${duck.timestampMinus("TIMESTAMP '2026-11-01 00:00:00'", ms)})`);
      expect(v).toBe(base - BigInt(ms) * 1000n);
    }
    expect(duck.intervalLiteral(30 * 86_400_000)).toBe("INTERVAL '30 days'");
    expect(duck.intervalLiteral(86_400_000)).toBe("INTERVAL '1 day'");
  });

  it("rounds the decimal value, halves away from zero, and writes NULL for non-finite metrics", async () => {
    const r = (x: string, d: number | null) => selectValue(duck.round(x, d, true));
    expect(await r("CAST(1.005 AS DOUBLE)", 2)).toBe(1.01);
    expect(await r("CAST(-0.285 AS DOUBLE)", 2)).toBe(-0.29);
    expect(await r("CAST(2.5 AS DOUBLE)", null)).toBe(3);
    expect(await r("CAST('NaN' AS DOUBLE)", 2)).toBeNaN();
    expect(await r("CAST(1e300 AS DOUBLE)", 2)).toBe(1e300);
    expect(await r("CAST(NULL AS DOUBLE)", 2)).toBe(null);
    expect(await selectValue(duck.finiteOrNull("CAST('Infinity' AS DOUBLE)"))).toBe(null);
    expect(await selectValue(duck.finiteOrNull("CAST(1.5 AS DOUBLE)"))).toBe(1.5);
  });

  it("timestamp, bigint and as_of forms", async () => {
    expect(await selectValue(`epoch_us(${duck.timestampLiteral("2026-10-15T09:00:00.250Z")})`)).toBe(1_792_054_800_250_000n);
    expect(await selectValue(`${duck.bigintLiteral(2_000_000_000)} * 4`)).toBe(8_000_000_000n);
    expect(duck.asOf()).toBe("CAST($as_of AS TIMESTAMP)");
  });
});
