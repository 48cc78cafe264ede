/**
 * Spark SQL (3.4 or later: named parameters, `contains`/`startswith`/`endswith`, ANSI day-time
 * intervals). Identifiers are backquoted (`` `a``b` ``). String literals use backslash escapes,
 * which Spark always decodes (`spark.sql.parser.escapedStringLiterals` must stay at its default,
 * false): `\\` and `\'` for backslash and quote (Spark does not read `''` as a quote: it would
 * join two literals), `\n` `\r` `\t`, `\uXXXX` for other control characters, and `\u0024` for `$`
 * so that Spark's `${...}` variable substitution never rewrites a literal, and `\uD83C\uDF89` pairs
 * for characters beyond U+FFFF (see `quoteString`). `as_of` is the named
 * parameter `:as_of` (`spark.sql(sql, Map("as_of" -> ts))`). The session time zone must be UTC
 * (`spark.sql.session.timeZone=UTC`): timestamps are formatted and dates are widened in it.
 * `upper`/`lower` call `seg_upper`/`seg_lower`, which seg's Spark driver registers
 * (jvm/spark-driver `CaseFunctions`).
 */
import { Dialect, numberText, splitDuration, utcTimestampText, type DialectCapabilities } from "./dialect.js";
import { assertWellFormed } from "./duckdb.js";

const ESCAPES: Record<string, string> = { "\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", $: "\\u0024" };

/** The Spark SQL dialect. */
export class SparkDialect extends Dialect {
  readonly name = "spark";
  /** DISTINCT with FILTER needs Spark 3.2+; the CASE form works everywhere and means the same. */
  readonly capabilities: DialectCapabilities = { distinctWithFilter: false, roundWithExpressionDigits: false, singlePassOutputs: true, orderedResult: false };
  readonly asOfMarker = ":as_of";
  readonly semiJoin = "LEFT SEMI JOIN";

  quoteIdentifier(name: string): string {
    assertWellFormed(name);
    return "`" + name.replaceAll("`", "``") + "`";
  }

  quoteString(value: string): string {
    assertWellFormed(value);
    let out = "'";
    for (const ch of value) {
      const code = ch.codePointAt(0)!;
      const esc = ESCAPES[ch];
      if (esc !== undefined) out += esc;
      else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0")}`;
      // Characters beyond U+FFFF as their UTF-16 pair of escapes: Spark 4.1 substitutes named
      // parameters (`:as_of`) at code-point offsets into UTF-16 text, so a literal emoji before
      // a parameter corrupts the statement (SPARK-55991).
      else if (code > 0xffff) out += ch.split("").map((u) => `\\u${u.charCodeAt(0).toString(16).toUpperCase()}`).join("");
      else out += ch;
    }
    return out + "'";
  }

  readonly textType = "STRING";

  timestampLiteral(iso: string): string {
    return `TIMESTAMP '${utcTimestampText(iso)}Z'`;
  }

  bigintLiteral(n: number): string {
    if (!Number.isSafeInteger(n)) throw new RangeError(`invalid integer literal ${n}`);
    return n < 0 ? `(${numberText(n)}L)` : `${numberText(n)}L`;
  }

  doubleLiteral(n: number): string {
    const text = numberText(n).toUpperCase();
    return n < 0 ? `(${text}D)` : `${text}D`;
  }

  intervalLiteral(ms: number): string {
    const { days, time } = splitDuration(ms);
    return time === null ? `INTERVAL '${days}' DAY` : `INTERVAL '${days} ${time}' DAY TO SECOND`;
  }

  /** Spark's `floor`/`ceil` of a DOUBLE return a BIGINT, which saturates; doubles from 2^52 up are whole already. */
  override floorOrCeil(fn: "floor" | "ceil", value: string, isDouble: boolean): string {
    if (!isDouble) return `${fn}(${value})`;
    return `IF(abs(${value}) < 4503599627370496D, CAST(${fn}(${value}) AS DOUBLE), ${value})`;
  }

  /**
   * seg's portable regex written for Java (`check/regex.ts`: ASCII `\s` and `\b`, POSIX classes
   * as ASCII sets, every `$` as `\z`, Unicode `(?i)`...), behind `(?d)` (UNIX_LINES) so that `.`
   * excludes only `\n`, as in RE2.
   */
  override regexLiteral(pattern: string): string {
    return this.quoteString(`(?d)${this.portableRegex(pattern, "java")}`);
  }

  /** Spark's `upper`/`lower` use Java's full case mapping (`STRASSE`); the driver's functions map code point by code point. */
  override caseMapping(fn: "upper" | "lower", value: string): string {
    return `seg_${fn}(${value})`;
  }

  regexSearch(text: string, pattern: string): string {
    return `rlike(${text}, ${pattern})`;
  }

  contains(text: string, needle: string): string {
    return `contains(${text}, ${needle})`;
  }

  startsWith(text: string, prefix: string): string {
    return `startswith(${text}, ${prefix})`;
  }

  endsWith(text: string, suffix: string): string {
    return `endswith(${text}, ${suffix})`;
  }

  epochMicros(ts: string): string {
    return `unix_micros(${ts})`;
  }

  timestampFromMicros(us: string): string {
    return `timestamp_micros(${us})`;
  }

  isoTimestamp(ts: string): string {
    return `date_format(${ts}, ${this.quoteString("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")})`;
  }

  /** NaN compares above every number in Spark, so it fails the test too. */
  finiteOrNull(value: string): string {
    return `CASE WHEN abs(${value}) < CAST('Infinity' AS DOUBLE) THEN ${value} END`;
  }

  jsonObject(entries: readonly { key: string; value: string }[]): string {
    if (entries.length === 0) return "'{}'";
    const args = entries.map((e) => `${this.quoteString(e.key)}, ${e.value}`).join(", ");
    return `to_json(named_struct(${args}), map('ignoreNullFields', 'false'))`;
  }
}
