/**
 * DuckDB SQL. Identifiers are ANSI double-quoted (`"a""b"`); string literals are standard SQL
 * (`'` doubled, backslash is an ordinary character), with control characters spliced in as
 * `chr(n)` so the SQL text stays one line per clause. `as_of` is the named prepared-statement
 * parameter `$as_of`. The session must run with `TimeZone = 'UTC'` (the engine sets it).
 */
import { Dialect, numberText, splitDuration, utcTimestampText, type DialectCapabilities } from "./dialect.js";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Rejects strings that cannot be written as UTF-8 (unpaired UTF-16 surrogates). */
export function assertWellFormed(value: string): void {
  if (LONE_SURROGATE.test(value)) throw new RangeError(`string ${JSON.stringify(value)} holds an unpaired surrogate and cannot be written as UTF-8`);
}

/** The DuckDB dialect. */
export class DuckDbDialect extends Dialect {
  readonly name = "duckdb";
  readonly capabilities: DialectCapabilities = { distinctWithFilter: true, roundWithExpressionDigits: true, singlePassOutputs: false, orderedResult: true };
  readonly asOfMarker = "$as_of";
  readonly semiJoin = "SEMI JOIN";

  quoteIdentifier(name: string): string {
    assertWellFormed(name);
    if (name.includes("\u0000")) throw new RangeError("an identifier cannot contain the NUL character");
    return `"${name.replaceAll('"', '""')}"`;
  }

  quoteString(value: string): string {
    assertWellFormed(value);
    if (!CONTROL.test(value)) return `'${value.replaceAll("'", "''")}'`;
    const parts: string[] = [];
    let plain = "";
    for (const ch of value) {
      if (CONTROL.test(ch)) {
        if (plain !== "") parts.push(`'${plain.replaceAll("'", "''")}'`);
        plain = "";
        parts.push(`chr(${ch.charCodeAt(0)})`);
      } else plain += ch;
    }
    if (plain !== "") parts.push(`'${plain.replaceAll("'", "''")}'`);
    return `(${parts.join(" || ")})`;
  }

  readonly textType = "VARCHAR";

  timestampLiteral(iso: string): string {
    return `TIMESTAMP '${utcTimestampText(iso)}'`;
  }

  bigintLiteral(n: number): string {
    if (!Number.isSafeInteger(n)) throw new RangeError(`invalid integer literal ${n}`);
    return `CAST(${numberText(n)} AS BIGINT)`;
  }

  doubleLiteral(n: number): string {
    const text = numberText(n);
    // DuckDB reads a plain literal as a DECIMAL and divides its integer digits by a power of ten:
    // one correct rounding only while those digits fit a double exactly (15 digits; 16-18 digits
    // could round twice: -0.9009803318778073 came back one ulp off). Longer or exponent forms are
    // written in exponent notation, which DuckDB reads directly as DOUBLE.
    const digits = text.replace(/[-.]/g, "").replace(/^0+/, "").length;
    if (!text.includes("e") && digits <= 15) return `CAST(${text} AS DOUBLE)`;
    return n < 0 ? `(${n.toExponential()})` : n.toExponential();
  }

  intervalLiteral(ms: number): string {
    const { days, time } = splitDuration(ms);
    const dayText = `${days} ${days === 1 ? "day" : "days"}`;
    return time === null ? `INTERVAL '${dayText}'` : `INTERVAL '${dayText} ${time}'`;
  }

  /**
   * DuckDB's `round` on DOUBLE works on the binary value (`round(1.005, 2)` gives 1.0), so with
   * constant digits the value goes through its shortest decimal text and DECIMAL rounding, the
   * way Spark rounds. Values beyond DECIMAL(38, 20) (|x| >= 1e18, all whole numbers), NaN and
   * infinities keep their value for positive digits, and use the DOUBLE `round` for negative ones.
   */
  override round(value: string, digits: string | number | null, isDouble: boolean): string {
    if (!isDouble || typeof digits !== "number" || digits === 0) return super.round(value, digits, isDouble);
    const decimal = `round(TRY_CAST(CAST(${value} AS VARCHAR) AS DECIMAL(38, 20)), ${digits})`;
    return `COALESCE(CAST(CAST(${decimal} AS VARCHAR) AS DOUBLE), ${digits > 0 ? value : `round(${value}, ${digits})`})`;
  }

  /** DuckDB's one-argument `trim` also removes other Unicode spaces (U+00A0, U+3000...); seg's removes U+0020 only. */
  override trimSpaces(value: string): string {
    return `trim(${value}, ' ')`;
  }

  regexSearch(text: string, pattern: string): string {
    return `regexp_matches(${text}, ${pattern})`;
  }

  contains(text: string, needle: string): string {
    return `contains(${text}, ${needle})`;
  }

  startsWith(text: string, prefix: string): string {
    return `starts_with(${text}, ${prefix})`;
  }

  endsWith(text: string, suffix: string): string {
    return `ends_with(${text}, ${suffix})`;
  }

  epochMicros(ts: string): string {
    return `epoch_us(${ts})`;
  }

  timestampFromMicros(us: string): string {
    return `make_timestamp(${us})`;
  }

  isoTimestamp(ts: string): string {
    return `strftime(${ts}, '%Y-%m-%dT%H:%M:%S.%gZ')`;
  }

  finiteOrNull(value: string): string {
    return `CASE WHEN isfinite(${value}) THEN ${value} END`;
  }

  jsonObject(entries: readonly { key: string; value: string }[]): string {
    if (entries.length === 0) return "'{}'";
    const args = entries.map((e) => `${this.quoteString(e.key)}, ${e.value}`).join(", ");
    return `CAST(json_object(${args}) AS VARCHAR)`;
  }
}
