package seg.spark;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;

/**
 * seg's {@code upper} and {@code lower} as SQL functions {@code seg_upper} and {@code seg_lower}.
 *
 * <p>seg maps case one code point at a time (Unicode simple case mapping, as DuckDB does): the
 * length never changes, {@code upper('straße')} is {@code STRAẞE}, {@code lower('İstanbul')} is
 * {@code istanbul} and a final sigma stays {@code σ}. Spark's own {@code upper}/{@code lower} use
 * Java's full, context-sensitive mapping ({@code STRASSE}, a combining dot, {@code ς}), so the
 * emitted Spark SQL calls these instead (packages/compiler/src/emit/spark.ts).
 *
 * <p>The mapping is {@link Character#toUpperCase(int)} / {@link Character#toLowerCase(int)} plus
 * the pairs below: {@code ß → ẞ} (U+00DF to U+1E9E, as DuckDB maps it) and the case pairs added in
 * Unicode 14, which Java 17's tables (Unicode 13) lack, so any Java 17+ gives the same answer.
 */
public final class CaseFunctions {
  private CaseFunctions() {}

  /** Upper- and lower-case code points of the Unicode 14 pairs Java 17 does not know. */
  private static final int[][] EXTRA_PAIRS = extraPairs();

  private static int[][] extraPairs() {
    java.util.List<int[]> pairs = new java.util.ArrayList<>();
    pairs.add(new int[] {0x2C2F, 0x2C5F}); // Glagolitic capital/small letter caudate chrivi
    pairs.add(new int[] {0xA7C0, 0xA7C1}); // Latin old polish o
    pairs.add(new int[] {0xA7D0, 0xA7D1}); // Latin closed insular g
    pairs.add(new int[] {0xA7D6, 0xA7D7}); // Latin middle scots s
    pairs.add(new int[] {0xA7D8, 0xA7D9}); // Latin sigmoid s
    // Vithkuqi: capitals U+10570..U+10595 map to smalls U+10597..U+105BC (no letters at 7B, 8B, 93)
    for (int u = 0x10570; u <= 0x10595; u++) {
      if (u == 0x1057B || u == 0x1058B || u == 0x10593) continue;
      pairs.add(new int[] {u, u + 0x27});
    }
    return pairs.toArray(new int[0][]);
  }

  /** The uppercase of one code point under seg's mapping. */
  public static int upperCodePoint(int c) {
    if (c == 0xDF) return 0x1E9E;
    for (int[] p : EXTRA_PAIRS) if (p[1] == c) return p[0];
    return Character.toUpperCase(c);
  }

  /** The lowercase of one code point under seg's mapping. */
  public static int lowerCodePoint(int c) {
    for (int[] p : EXTRA_PAIRS) if (p[0] == c) return p[1];
    return Character.toLowerCase(c);
  }

  /** {@code s} in upper case, code point by code point; null stays null. */
  public static String upper(String s) {
    if (s == null) return null;
    StringBuilder out = new StringBuilder(s.length());
    s.codePoints().forEach(c -> out.appendCodePoint(upperCodePoint(c)));
    return out.toString();
  }

  /** {@code s} in lower case, code point by code point; null stays null. */
  public static String lower(String s) {
    if (s == null) return null;
    StringBuilder out = new StringBuilder(s.length());
    s.codePoints().forEach(c -> out.appendCodePoint(lowerCodePoint(c)));
    return out.toString();
  }

  /** Registers {@code seg_upper} and {@code seg_lower} in the session. */
  public static void register(SparkSession spark) {
    spark.udf().register("seg_upper", (UDF1<String, String>) CaseFunctions::upper, DataTypes.StringType);
    spark.udf().register("seg_lower", (UDF1<String, String>) CaseFunctions::lower, DataTypes.StringType);
  }
}
