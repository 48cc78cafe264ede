package seg.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;
import static seg.spark.Sources.DATE_RE;
import static seg.spark.Sources.TIMESTAMP_RE;
import static seg.spark.Sources.abbreviate;
import static seg.spark.Sources.describe;
import static seg.spark.Sources.isTemporal;
import static seg.spark.Sources.q;
import static seg.spark.Sources.sqlText;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.storage.StorageLevel;
import seg.spark.Jobs.FieldDef;
import seg.spark.Jobs.SourceDef;
import seg.spark.Sources.Stats;

/**
 * Reads one Parquet source for {@link Sources}: its footer proves what it can ({@link
 * ParquetFooter}), the other checks run on every record, and the view is lazy (one statement) or
 * cached in the same pass that counts the problems (several statements). A profile with duplicate
 * keys is left to Sources' ordered, cached path.
 */
final class ParquetSource {
  private static final Logger LOG = LogManager.getLogger(ParquetSource.class);

  private final SparkSession spark;
  private final Options options;

  ParquetSource(SparkSession spark, Options options) {
    this.spark = spark;
    this.options = options;
  }

  /**
   * A Parquet source. The footer first proves what it can without reading rows (row count,
   * columns without nulls, enum columns whose dictionaries hold only allowed values); only the
   * checks it cannot prove are evaluated on the rows (the same checks as for JSON, on the same
   * text for timestamps stored as text; native TIMESTAMP and DATE columns are valid as they are).
   * - Read by one statement: one pass counts the records by first problem, and only when some
   *   check is left or the source is a profile (whose distinct keys are counted). The view is a
   *   lazy query over the file (typed columns, filtered by the checks only when some record failed
   *   them), so the statement reads only the columns it uses and Spark pushes its filters into
   *   the scan.
   * - Read by several statements: one pass caches the window's rows (the fields the statements
   *   use) together with every record that has a problem; the counts then come from the cache and
   *   the footer's row count, and the view is the cached valid rows.
   * Returns false (nothing registered) when a profile has duplicate keys, which need the ordered,
   * cached path.
   */
  boolean register(SourceDef s, StructType schema, String path, Instant asOf, boolean shared, Stats stats) {
    Dataset<Row> pq = spark.read().parquet(path);
    Map<String, DataType> present = new LinkedHashMap<>();
    for (StructField f : pq.schema().fields()) present.put(f.name(), f.dataType());
    Map<String, Set<String>> enums = new LinkedHashMap<>();
    for (StructField f : schema.fields()) {
      FieldDef def = s.fields().get(f.name());
      boolean text = f.dataType().equals(DataTypes.StringType) && DataTypes.StringType.equals(present.get(f.name()));
      if (text && def != null && def.enumValues() != null && !def.enumValues().isEmpty()) enums.put(f.name(), new HashSet<>(def.enumValues()));
    }
    ParquetFooter footer = ParquetFooter.read(spark.sparkContext().hadoopConfiguration(), path, present.keySet(), enums);
    List<Column> typed = new ArrayList<>();
    // the typed columns when no record has a problem: text timestamps all match their pattern
    List<Column> trusted = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    String textTime = null;
    for (StructField f : schema.fields()) {
      String c = q(f.name());
      DataType have = present.get(f.name());
      FieldDef def = s.fields().get(f.name());
      boolean required = def != null && !def.nullable();
      String value;
      String invalid = null;
      String trustedValue = null;
      if (have == null) {
        value = "CAST(NULL AS " + f.dataType().sql() + ")";
      } else if (isTemporal(f.dataType()) && (isTemporal(have) || have instanceof TimestampNTZType)) {
        value = have.equals(f.dataType()) ? c : "CAST(" + c + " AS " + f.dataType().sql() + ")";
      } else if (isTemporal(f.dataType())) {
        // text, parsed like JSON text; other types through their text (which has no zone: invalid)
        String text = have.equals(DataTypes.StringType) ? c : "CAST(CAST(" + c + " AS " + f.dataType().sql() + ") AS STRING)";
        String re = f.dataType() instanceof TimestampType ? TIMESTAMP_RE : DATE_RE;
        trustedValue = Sources.textTemporal(text, f.dataType());
        value = "CASE WHEN " + text + " RLIKE '" + re + "' THEN " + trustedValue + " END";
        invalid = c + " IS NOT NULL AND (" + value + ") IS NULL";
        if (have.equals(DataTypes.StringType) && f.name().equals(s.time())) textTime = c;
      } else {
        value = have.equals(f.dataType()) ? c : "CAST(" + c + " AS " + f.dataType().sql() + ")";
        // Checked on every record unless the footer proves it (a text column whose every page is
        // dictionary-encoded with allowed values only; a non-text column cast to text never is).
        if (def != null && def.enumValues() != null && !def.enumValues().isEmpty() && f.dataType().equals(DataTypes.StringType) && !footer.allowedOnly.contains(f.name())) {
          invalid = value + " IS NOT NULL AND " + value + " NOT IN (" + Sources.sqlInList(def.enumValues()) + ")";
        }
      }
      if (required && (have == null || footer.mayBeNull.contains(f.name()))) {
        problems.add(" WHEN " + (have == null ? "TRUE" : c + " IS NULL") + " THEN 'missingRequired:" + sqlText(f.name()) + "'");
        stats.checks.add("missingRequired:" + f.name());
      }
      if (invalid != null) {
        problems.add(" WHEN " + invalid + " THEN 'invalidValue:" + sqlText(f.name()) + "'");
        stats.checks.add("invalidValue:" + f.name());
      }
      typed.add(expr(value).as(f.name()));
      trusted.add(expr(trustedValue != null ? trustedValue : value).as(f.name()));
    }
    String problem = problems.isEmpty() ? "CAST(NULL AS STRING)" : "CASE" + String.join("", problems) + " END";
    if (s.isProfile()) stats.checks.add("duplicateKey:" + s.key());
    LOG.info("source {}: {} rows in the Parquet footer, which proves {} of {} enum fields; checked on every record: {}", s.name(), footer.rows, footer.allowedOnly.size(), enums.size(), stats.checks);
    Long lookback = s.isProfile() ? null : s.lookbackMs();
    // the longest window, `(as_of - lookback, as_of]`, with as_of exactly as statements bind it
    Column window = null;
    if (lookback != null && s.time() != null) {
      Column t = col(q(s.time()));
      window = t.leq(lit(asOf)).and(t.gt(lit(asOf.minusMillis(lookback))));
    }
    List<Column> fieldCols = new ArrayList<>();
    for (StructField f : schema.fields()) {
      // cached: only the fields the statements read (a statement reading another fails loudly)
      if (!shared || s.used() == null || s.used().contains(f.name())) fieldCols.add(expr(q(f.name())));
    }
    if (shared && footer.rows >= 0) return cacheParquet(s, pq, typed, problem, problems.isEmpty(), window, fieldCols, footer.rows, stats);

    if (problems.isEmpty() && !s.isProfile() && footer.rows >= 0) {
      // every check is proven by the footer: no pass over the rows
      stats.rows = stats.valid = footer.rows;
    } else {
      List<Column> annotatedCols = new ArrayList<>(typed);
      annotatedCols.add(expr(problem).as("_seg_problem"));
      if (!count(s, pq.select(annotatedCols.toArray(new Column[0])), stats)) return false;
    }
    examples(s, pq, problem, stats);

    Dataset<Row> rows = pq;
    if (lookback != null && textTime != null) {
      // A valid RFC 3339 text's first ten characters are its local date, at most a day from its
      // UTC date: text comparisons (which Parquet evaluates in the scan) keep every row the
      // window can hold. Rows they leave out are outside it, or malformed (left out anyway).
      LocalDate from = asOf.minusMillis(lookback).minus(Duration.ofDays(1)).atZone(ZoneOffset.UTC).toLocalDate();
      LocalDate to = asOf.plus(Duration.ofDays(2)).atZone(ZoneOffset.UTC).toLocalDate();
      if (from.getYear() >= 1 && to.getYear() <= 9999) rows = rows.filter(textTime + " >= '" + from + "' AND " + textTime + " < '" + to + "'");
    }
    List<Column> viewCols = new ArrayList<>(stats.malformed() > 0 ? typed : trusted);
    if (stats.malformed() > 0) viewCols.add(expr(problem).as("_seg_problem"));
    Dataset<Row> view = rows.select(viewCols.toArray(new Column[0]));
    if (stats.malformed() > 0) view = view.filter("_seg_problem IS NULL");
    if (window != null) view = view.filter(window);
    view = view.select(fieldCols.toArray(new Column[0]));
    if (shared) {
      view = view.persist(StorageLevel.MEMORY_AND_DISK());
      long kept = view.count();
      LOG.info("source {}: {} rows of the window cached ({} of {} fields)", s.name(), kept, fieldCols.size(), schema.fields().length);
    }
    view.createOrReplaceTempView(s.name());
    return true;
  }

  /**
   * Counts the records of `annotated` (typed columns and `_seg_problem`) by first problem; for a
   * profile, also whether a valid record repeats a key (then false: nothing is registered).
   */
  private boolean count(SourceDef s, Dataset<Row> annotated, Stats stats) {
    String key = q(s.key());
    Column kind = expr("substring_index(_seg_problem, ':', 1)").as("kind");
    // Distinct 64-bit hashes of the keys prove distinct keys, and are much cheaper to count than
    // the keys; only when two hashes are equal are the keys themselves counted.
    String hashed = "count(DISTINCT CASE WHEN " + key + " IS NOT NULL THEN xxhash64(" + key + ") END)";
    List<Row> counts = s.isProfile()
        ? annotated.groupBy(kind).agg(expr("count(*)"), expr(hashed), expr("count_if(" + key + " IS NULL)")).collectAsList()
        : annotated.groupBy(kind).agg(expr("count(*)")).collectAsList();
    if (s.isProfile() && counts.stream().anyMatch(r -> r.isNullAt(0) && r.getLong(1) - r.getLong(2) - (r.getLong(3) > 0 ? 1 : 0) > 0)) {
      LOG.info("source {}: two keys have the same hash: counting the keys themselves", s.name());
      counts = annotated.groupBy(kind).agg(expr("count(*)"), expr("count(DISTINCT " + key + ")"), expr("count_if(" + key + " IS NULL)")).collectAsList();
    }
    for (Row r : counts) {
      String k = r.isNullAt(0) ? null : r.getString(0);
      long n = r.getLong(1);
      stats.rows += n;
      if (k == null) {
        stats.valid += n;
        // every valid record with a key seen before (nulls count as one key) is a duplicate
        if (s.isProfile() && n - r.getLong(2) - (r.getLong(3) > 0 ? 1 : 0) > 0) return false;
      } else stats.count(k, n);
    }
    return true;
  }

  /** Logs and keeps up to maxProblems records that have a problem (read again from the file). */
  private void examples(SourceDef s, Dataset<Row> pq, String problem, Stats stats) {
    if (stats.malformed() == 0 || options.maxProblems <= 0) return;
    List<String> raw = new ArrayList<>();
    for (StructField f : pq.schema().fields()) raw.add(q(f.name()));
    List<Column> cols = new ArrayList<>();
    cols.add(expr(problem).as("_seg_problem"));
    cols.add(expr("to_json(struct(" + String.join(", ", raw) + "))"));
    for (Row r : pq.select(cols.toArray(new Column[0])).filter("_seg_problem IS NOT NULL").limit(options.maxProblems).collectAsList()) {
      String text = describe(r.getString(0)) + ": " + abbreviate(r.getString(1), 300);
      stats.examples.add(text);
      LOG.warn("{}: {}", s.name(), text);
    }
  }

  /**
   * The shared Parquet path: one pass over the file caches the window's rows (`fieldCols`) and,
   * with them, every record that has a problem, whatever its time. The problems are counted from
   * the cache, the valid records are the footer's rows minus those; the view is the cached rows
   * without a problem. Returns false (cache dropped, nothing registered) when a profile has
   * duplicate keys.
   */
  private boolean cacheParquet(SourceDef s, Dataset<Row> pq, List<Column> typed, String problem, boolean noChecks, Column window, List<Column> fieldCols, long fileRows, Stats stats) {
    List<Column> annotatedCols = new ArrayList<>(typed);
    annotatedCols.add(expr(problem).as("_seg_problem"));
    Dataset<Row> annotated = pq.select(annotatedCols.toArray(new Column[0]));
    if (window != null) annotated = annotated.filter(noChecks ? window : col("_seg_problem").isNotNull().or(window));
    List<Column> keep = new ArrayList<>(fieldCols);
    if (!noChecks) keep.add(col("_seg_problem"));
    Dataset<Row> cached = annotated.select(keep.toArray(new Column[0])).persist(StorageLevel.MEMORY_AND_DISK());
    Dataset<Row> counted = noChecks ? cached.withColumn("_seg_problem", expr("CAST(NULL AS STRING)")) : cached;
    if (s.isProfile()) {
      // a profile has no window: the cache holds every record, counted as in the unshared path
      if (!count(s, counted, stats)) {
        cached.unpersist();
        return false;
      }
    } else {
      stats.rows = fileRows;
      if (noChecks) {
        long kept = cached.count(); // fills the cache
        LOG.info("source {}: {} rows of the window cached", s.name(), kept);
      } else {
        for (Row r : counted.filter("_seg_problem IS NOT NULL").groupBy(expr("substring_index(_seg_problem, ':', 1)")).count().collectAsList()) stats.count(r.getString(0), r.getLong(1));
      }
      stats.valid = fileRows - stats.corrupt - stats.missingRequired - stats.invalidValue - stats.duplicateKey;
    }
    examples(s, pq, problem, stats);
    Dataset<Row> view = stats.malformed() > 0 ? cached.filter("_seg_problem IS NULL") : cached;
    view.select(fieldCols.toArray(new Column[0])).createOrReplaceTempView(s.name());
    LOG.info("source {}: cached in one pass ({} of {} fields{})", s.name(), fieldCols.size(), typed.size(), noChecks ? ", every check proven by the footer" : "");
    return true;
  }
}
