package seg.spark;

import static org.apache.spark.sql.functions.expr;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.storage.StorageLevel;
import seg.spark.Jobs.FieldDef;
import seg.spark.Jobs.SourceDef;

/**
 * Reads each source into a temporary view named like the source, keeping only valid records and
 * counting the others. A record is left out, counted and described (never silently dropped) when:
 * - corrupt: not a JSON object, or a value of the wrong JSON type for its column (Spark's
 *   PERMISSIVE mode puts such lines into the corrupt-record column);
 * - missingRequired: a field that may not be null (the plan's field types) is missing or null;
 * - invalidValue: a string outside its enum, or a timestamp / date that is not RFC 3339 with a
 *   zone / YYYY-MM-DD (timestamps are read as text and converted here, exactly like seg eval);
 * - duplicateKey: a profile record whose key was seen earlier in the file (the first one wins).
 * From Kafka, a profile topic is a changelog: the latest record per key wins, a null value deletes.
 *
 * <p>A Parquet file's footer proves what it can without reading rows ({@link ParquetFooter}: row
 * count, required columns without nulls, enum columns whose dictionaries hold only allowed
 * values); the other checks run on every record. Read by one statement, a Parquet file is not
 * cached (see {@link ParquetSource}): one pass counts the problems (none when the footer proves
 * every check of an event source), and the view is a lazy, deterministic query over the file, so
 * the statement reads only the columns it uses and Spark pushes its filters into the scan. Read by
 * several, one pass caches the rows of the longest window (`time` in `(as_of - lookback, as_of]`;
 * the fields the statements use) together with every record that has a problem, and the problems
 * are counted from the cache. When no record has a problem (the usual case) the view checks
 * nothing again. JSON files and Kafka topics are parsed once and cached, as parsing them again for
 * each statement would cost more than the cache.
 */
final class Sources {
  private static final Logger LOG = LogManager.getLogger(Sources.class);

  /** RFC 3339 date-time with a required zone, as `seg eval` accepts (record-values.ts). */
  static final String TIMESTAMP_RE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$";
  static final String DATE_RE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
  /**
   * Spark SQL for an RFC 3339 text `text` (already matching {@link #TIMESTAMP_RE}, any case) as a
   * TIMESTAMP, or NULL when not a real instant. Offsets are applied here, not by Spark's cast, which
   * rejects offsets beyond ±18:00 (Java's `ZoneOffset` range) that RFC 3339 and `seg eval` accept
   * (hours up to 23, minutes up to 59, as record-values.ts).
   */
  static String textTimestamp(String text) {
    String t = "upper(" + text + ")";
    String oh = "try_cast(substr(" + t + ", -5, 2) AS INT)";
    String om = "try_cast(substr(" + t + ", -2, 2) AS INT)";
    String local = "try_cast(concat(substr(" + t + ", 1, length(" + t + ") - 6), 'Z') AS TIMESTAMP)";
    String sign = "(CASE WHEN substr(" + t + ", -6, 1) = '-' THEN 60000000L ELSE -60000000L END)";
    return "(CASE WHEN " + t + " LIKE '%Z' THEN try_cast(" + t + " AS TIMESTAMP)"
        + " WHEN " + oh + " <= 23 AND " + om + " <= 59 THEN timestamp_micros(unix_micros(" + local + ") + " + sign + " * (" + oh + " * 60 + " + om + ")) END)";
  }

  /** Spark SQL for a text matching the type's pattern as `type` (TIMESTAMP or DATE); see {@link #textTimestamp}. */
  static String textTemporal(String text, DataType type) {
    return type instanceof TimestampType ? textTimestamp(text) : "try_cast(upper(" + text + ") AS " + type.sql() + ")";
  }
  static final String[] EXTENSIONS = {".jsonl", ".json", ".parquet"};

  /** What was read for one source. */
  static final class Stats {
    final String source;
    String location;
    long rows;
    long valid;
    long corrupt;
    long missingRequired;
    long invalidValue;
    long duplicateKey;
    final List<String> examples = new ArrayList<>();
    /** The checks run on every record (`kind:field`); the others were proven without reading rows. */
    final List<String> checks = new ArrayList<>();
    long readMs;

    Stats(String source) {
      this.source = source;
    }

    long malformed() {
      return rows - valid;
    }

    /** Adds `n` records whose first problem is of `kind`. */
    void count(String kind, long n) {
      switch (kind) {
        case "corrupt" -> corrupt += n;
        case "missingRequired" -> missingRequired += n;
        case "invalidValue" -> invalidValue += n;
        case "duplicateKey" -> duplicateKey += n;
        default -> throw new IllegalStateException("unknown problem kind " + kind);
      }
    }

    void clearCounts() {
      rows = valid = corrupt = missingRequired = invalidValue = duplicateKey = 0;
      examples.clear();
      checks.clear();
    }

    Map<String, Object> toJson() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("location", location);
      m.put("rows", rows);
      m.put("valid", valid);
      m.put("corrupt", corrupt);
      m.put("missingRequired", missingRequired);
      m.put("invalidValue", invalidValue);
      m.put("duplicateKey", duplicateKey);
      m.put("problems", examples);
      m.put("checks", checks);
      m.put("ms", readMs);
      return m;
    }
  }

  private final SparkSession spark;
  private final Options options;

  Sources(SparkSession spark, Options options) {
    this.spark = spark;
    this.options = options;
  }

  /** Registers an empty view per source (for --analyze-only). */
  void registerEmpty(SourceDef s) {
    StructType schema = schemaOf(s);
    spark.createDataFrame(new ArrayList<Row>(), schema).createOrReplaceTempView(s.name());
  }

  /**
   * Reads, validates and registers one source; returns what was read. `shared`: several
   * statements read it (a Parquet source is then cached; JSON and Kafka always are).
   */
  Stats register(SourceDef s, Instant asOf, boolean shared) {
    long t0 = System.nanoTime();
    Stats stats = new Stats(s.name());
    StructType schema = schemaOf(s);
    String corrupt = corruptColumn(schema);
    String input = options.input;
    Raw raw;
    if (input.startsWith("files:")) {
      String path = dataFile(s, input.substring("files:".length()), stats);
      if (path != null && path.endsWith(".parquet")) {
        if (new ParquetSource(spark, options).register(s, schema, path, asOf, shared, stats)) {
          stats.readMs = (System.nanoTime() - t0) / 1_000_000;
          LOG.info("source {}: {} rows, {} valid, {} left out ({} ms) from {}", s.name(), stats.rows, stats.valid, stats.malformed(), stats.readMs, stats.location);
          return stats;
        }
        // duplicate profile keys: the cached path below marks all but the first of each key
        stats.clearCounts();
        raw = readParquet(schema, corrupt, path);
      } else {
        raw = path == null ? null : readJson(schema, corrupt, path);
        stats.checks.add("corrupt");
      }
    } else {
      raw = readKafka(s, schema, corrupt, input.substring("kafka:".length()), asOf, stats);
      stats.checks.add("corrupt");
    }

    if (raw == null) {
      spark.createDataFrame(new ArrayList<Row>(), schema).createOrReplaceTempView(s.name());
      stats.readMs = (System.nanoTime() - t0) / 1_000_000;
      return stats;
    }

    // One column per field (typed), the first problem of the record (or null), its position.
    List<Column> cols = new ArrayList<>();
    StringBuilder problem = new StringBuilder("CASE WHEN ").append(q(corrupt)).append(" IS NOT NULL THEN 'corrupt'");
    for (StructField f : schema.fields()) {
      String c = q(f.name());
      FieldDef def = s.fields().get(f.name());
      boolean required = def != null && !def.nullable();
      if (required) {
        problem.append(" WHEN ").append(c).append(" IS NULL THEN 'missingRequired:").append(sqlText(f.name())).append("'");
        stats.checks.add("missingRequired:" + f.name());
      }
      if (raw.textTemporal && isTemporal(f.dataType())) {
        String re = f.dataType() instanceof TimestampType ? TIMESTAMP_RE : DATE_RE;
        // upper() (in textTemporal): RFC 3339 allows `t` and `z`, Spark's cast only `T` and `Z`.
        String converted = "CASE WHEN " + c + " RLIKE '" + re + "' THEN " + textTemporal(c, f.dataType()) + " END";
        problem.append(" WHEN ").append(c).append(" IS NOT NULL AND (").append(converted).append(") IS NULL THEN 'invalidValue:").append(sqlText(f.name())).append("'");
        stats.checks.add("invalidValue:" + f.name());
        cols.add(expr(converted).as(f.name()));
      } else {
        if (def != null && def.enumValues() != null && !def.enumValues().isEmpty() && f.dataType().equals(DataTypes.StringType)) {
          problem.append(" WHEN ").append(c).append(" IS NOT NULL AND ").append(c).append(" NOT IN (").append(sqlInList(def.enumValues())).append(") THEN 'invalidValue:").append(sqlText(f.name())).append("'");
          stats.checks.add("invalidValue:" + f.name());
        }
        cols.add(expr(c).as(f.name()));
      }
    }
    problem.append(" END");
    cols.add(expr(q(corrupt)).as("_seg_raw"));
    cols.add(expr(problem.toString()).as("_seg_problem"));
    cols.add(expr("_seg_order").as("_seg_order"));
    if (raw.latestWins) {
      cols.add(expr("_seg_tombstone"));
      cols.add(expr("_seg_kafka_key"));
    }
    Dataset<Row> annotated = raw.df.select(cols.toArray(new Column[0]));

    String key = q(s.key());
    if (s.isProfile() && raw.latestWins) {
      // A changelog: the latest record per key (tombstones included) decides.
      annotated = annotated
          .withColumn("_seg_rank", expr("row_number() OVER (PARTITION BY _seg_kafka_key ORDER BY _seg_order DESC)"))
          .filter("_seg_rank = 1 AND NOT _seg_tombstone");
    } else if (s.isProfile()) {
      stats.checks.add("duplicateKey:" + s.key());
      annotated = annotated.withColumn(
          "_seg_problem",
          expr("CASE WHEN _seg_problem IS NULL AND row_number() OVER (PARTITION BY _seg_problem IS NULL, " + key + " ORDER BY _seg_order) > 1 THEN 'duplicateKey:" + sqlText(s.key()) + "' ELSE _seg_problem END"));
    }
    annotated = annotated.persist(StorageLevel.MEMORY_AND_DISK());

    for (Row r : annotated.groupBy(expr("substring_index(_seg_problem, ':', 1)").as("kind")).count().collectAsList()) {
      String kind = r.isNullAt(0) ? null : r.getString(0);
      long n = r.getLong(1);
      stats.rows += n;
      if (kind == null) stats.valid += n;
      else stats.count(kind, n);
    }
    if (stats.malformed() > 0 && options.maxProblems > 0) {
      List<String> names = new ArrayList<>();
      for (StructField f : schema.fields()) names.add(q(f.name()));
      Dataset<Row> bad = annotated.filter("_seg_problem IS NOT NULL")
          .select(expr("_seg_problem"), expr("coalesce(_seg_raw, to_json(struct(" + String.join(", ", names) + ")))"))
          .limit(options.maxProblems);
      for (Row r : bad.collectAsList()) {
        String text = describe(r.getString(0)) + ": " + abbreviate(r.getString(1), 300);
        stats.examples.add(text);
        LOG.warn("{}: {}", s.name(), text);
      }
    }
    List<Column> fieldCols = new ArrayList<>();
    for (StructField f : schema.fields()) fieldCols.add(expr(q(f.name())));
    annotated.filter("_seg_problem IS NULL").select(fieldCols.toArray(new Column[0])).createOrReplaceTempView(s.name());
    stats.readMs = (System.nanoTime() - t0) / 1_000_000;
    LOG.info("source {}: {} rows, {} valid, {} left out ({} ms) from {}", s.name(), stats.rows, stats.valid, stats.malformed(), stats.readMs, stats.location);
    return stats;
  }

  /** Rows with one column per schema field (temporal ones as text when textTemporal). */
  private record Raw(Dataset<Row> df, boolean textTemporal, boolean latestWins) {}

  /**
   * The data files of `s` in `dir`, best first; fails (unless allowed) when there is none. `dir`
   * is a local folder, or a URI Hadoop reads (hdfs://, s3a://, ...) when it has a scheme.
   */
  static List<String> dataFiles(SourceDef s, String dir, boolean allowMissing, org.apache.hadoop.conf.Configuration hadoop) {
    List<String> found = new ArrayList<>();
    boolean uri = dir.matches("^[A-Za-z][A-Za-z0-9+.-]*://.*");
    try {
      if (uri) {
        org.apache.hadoop.fs.Path base = new org.apache.hadoop.fs.Path(dir);
        org.apache.hadoop.fs.FileSystem fs = base.getFileSystem(hadoop);
        if (!fs.exists(base)) throw new DriverException(DriverException.INPUT, "input folder " + dir + " does not exist");
        for (String ext : EXTENSIONS) {
          org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(base, s.name() + ext);
          if (fs.exists(p) && fs.getFileStatus(p).isFile()) found.add(p.toString());
        }
      } else {
        Path base = Path.of(dir);
        if (!Files.isDirectory(base)) throw new DriverException(DriverException.INPUT, "input folder " + dir + " does not exist");
        for (String ext : EXTENSIONS) {
          Path p = base.resolve(s.name() + ext);
          if (Files.isRegularFile(p)) found.add(p.toString());
        }
      }
    } catch (java.io.IOException e) {
      throw new DriverException(DriverException.INPUT, "cannot list input folder " + dir + ": " + Jobs.oneLine(e.getMessage()));
    }
    if (found.isEmpty() && !allowMissing) {
      throw new DriverException(DriverException.INPUT, "no data file for " + s.kind() + " " + s.name() + " in " + dir + " (looked for " + s.name() + ".jsonl, .json, .parquet; --allow-missing-input reads it as empty)");
    }
    return found;
  }

  /** The data file of `s` in `dir` (the best of several), or null when there is none (allowed). */
  private String dataFile(SourceDef s, String dir, Stats stats) {
    List<String> found = dataFiles(s, dir, options.allowMissingInput, spark.sparkContext().hadoopConfiguration());
    if (found.isEmpty()) {
      LOG.warn("no data file for {} {} in {}; it is empty", s.kind(), s.name(), dir);
      stats.location = null;
      return null;
    }
    String path = found.get(0);
    if (found.size() > 1) LOG.warn("several data files for {}: using {}, ignoring {}", s.name(), path, found.subList(1, found.size()));
    stats.location = path;
    return path;
  }

  private Raw readJson(StructType schema, String corrupt, String path) {
    StructType read = textTemporal(schema).add(corrupt, DataTypes.StringType, true);
    Dataset<Row> df = spark.read()
        .schema(read)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", corrupt)
        .option("allowNonNumericNumbers", "false")
        .option("multiLine", String.valueOf(path.endsWith(".json")))
        .json(path);
    return new Raw(df.withColumn("_seg_order", expr("monotonically_increasing_id()")), true, false);
  }

  /** `'a', 'b'`: the values as a list of SQL string literals, for `IN (...)` (not empty). */
  static String sqlInList(List<String> values) {
    StringBuilder in = new StringBuilder();
    for (String v : values) in.append(in.length() == 0 ? "" : ", ").append("'").append(sqlText(v)).append("'");
    return in.toString();
  }

  /** Parquet carries its own types: fields are cast to the schema's (text timestamps parsed like JSON). */
  private Raw readParquet(StructType schema, String corrupt, String path) {
    Dataset<Row> pq = spark.read().parquet(path);
    Map<String, DataType> present = new LinkedHashMap<>();
    for (StructField f : pq.schema().fields()) present.put(f.name(), f.dataType());
    List<Column> cols = new ArrayList<>();
    for (StructField f : schema.fields()) {
      DataType have = present.get(f.name());
      String c = q(f.name());
      if (have == null) cols.add(expr("CAST(NULL AS " + (isTemporal(f.dataType()) ? "STRING" : f.dataType().sql()) + ")").as(f.name()));
      else if (isTemporal(f.dataType()) && (isTemporal(have) || have instanceof TimestampNTZType)) {
        // native values as the text that parses back to them (UTC session: `Z` for timestamps)
        String text = "CAST(CAST(" + c + " AS " + f.dataType().sql() + ") AS STRING)";
        cols.add(expr(f.dataType() instanceof TimestampType ? "concat(" + text + ", 'Z')" : text).as(f.name()));
      } else if (isTemporal(f.dataType())) cols.add(expr(have.equals(DataTypes.StringType) ? c : "CAST(CAST(" + c + " AS " + f.dataType().sql() + ") AS STRING)").as(f.name()));
      else cols.add(expr(have.equals(f.dataType()) ? c : "CAST(" + c + " AS " + f.dataType().sql() + ")").as(f.name()));
    }
    cols.add(expr("CAST(NULL AS STRING)").as(corrupt));
    cols.add(expr("monotonically_increasing_id()").as("_seg_order"));
    return new Raw(pq.select(cols.toArray(new Column[0])), true, false);
  }

  private Raw readKafka(SourceDef s, StructType schema, String corrupt, String servers, Instant asOf, Stats stats) {
    var reader = spark.read().format("kafka")
        .option("kafka.bootstrap.servers", servers)
        .option("subscribe", s.topic())
        .option("endingOffsets", "latest")
        .option("failOnDataLoss", "false");
    if (s.lookbackMs() != null) {
      long from = asOf.toEpochMilli() - s.lookbackMs() - options.kafkaSlackMs;
      reader = reader.option("startingTimestamp", String.valueOf(Math.max(0, from))).option("startingOffsetsByTimestampStrategy", "latest");
      stats.location = "kafka:" + s.topic() + " from " + Instant.ofEpochMilli(Math.max(0, from));
    } else {
      reader = reader.option("startingOffsets", "earliest");
      stats.location = "kafka:" + s.topic();
    }
    Dataset<Row> kafka;
    try {
      kafka = reader.load();
    } catch (RuntimeException e) {
      throw new DriverException(DriverException.INPUT, "cannot read topic " + s.topic() + " of " + s.name() + " from Kafka " + servers + ": " + Jobs.oneLine(e.getMessage()), null, e);
    }
    StructType read = textTemporal(schema).add(corrupt, DataTypes.StringType, true);
    Map<String, String> opts = Map.of("mode", "PERMISSIVE", "columnNameOfCorruptRecord", corrupt, "allowNonNumericNumbers", "false");
    Dataset<Row> parsed = kafka.select(
        org.apache.spark.sql.functions.from_json(expr("CAST(value AS STRING)"), read, opts).as("_seg_v"),
        expr("value IS NULL").as("_seg_tombstone"),
        expr("CAST(key AS STRING)").as("_seg_kafka_key"),
        // newest last: (timestamp, partition, offset); a profile key lives in one partition
        expr("struct(timestamp, partition, offset)").as("_seg_order"));
    List<Column> cols = new ArrayList<>();
    for (StructField f : read.fields()) cols.add(expr("_seg_v." + q(f.name())).as(f.name()));
    cols.add(expr("_seg_tombstone"));
    cols.add(expr("coalesce(_seg_kafka_key, CAST(_seg_v." + q(s.key()) + " AS STRING))").as("_seg_kafka_key"));
    cols.add(expr("_seg_order"));
    return new Raw(parsed.select(cols.toArray(new Column[0])), true, s.isProfile());
  }

  static StructType schemaOf(SourceDef s) {
    try {
      return StructType.fromDDL(s.ddl());
    } catch (Exception e) { // Spark's ParseException is a checked exception in Java's eyes
      throw new DriverException(DriverException.USAGE, "source " + s.name() + ": Spark cannot read its schema DDL " + s.ddl() + ": " + Jobs.oneLine(e.getMessage()));
    }
  }

  private static StructType textTemporal(StructType schema) {
    StructType out = new StructType();
    for (StructField f : schema.fields()) out = out.add(f.name(), isTemporal(f.dataType()) ? DataTypes.StringType : f.dataType(), true);
    return out;
  }

  static boolean isTemporal(DataType t) {
    return t instanceof TimestampType || t instanceof DateType;
  }

  private static String corruptColumn(StructType schema) {
    String name = "_corrupt_record";
    while (List.of(schema.fieldNames()).contains(name)) name = "_" + name;
    return name;
  }

  static String describe(String problem) {
    int colon = problem.indexOf(':');
    String kind = colon < 0 ? problem : problem.substring(0, colon);
    String field = colon < 0 ? "" : problem.substring(colon + 1);
    return switch (kind) {
      case "corrupt" -> "not a JSON object of the schema's types";
      case "missingRequired" -> field + " is missing or null (required)";
      case "invalidValue" -> field + " has a value outside its type (enum, RFC 3339 timestamp with a zone, or date)";
      case "duplicateKey" -> "duplicate key " + field + " (the first record wins)";
      default -> problem;
    };
  }

  static String q(String name) {
    return "`" + name.replace("`", "``") + "`";
  }

  static String sqlText(String s) {
    return s.replace("\\", "\\\\").replace("'", "\\'");
  }

  static String abbreviate(String s, int max) {
    if (s == null) return "";
    String one = s.replace("\n", "\\n");
    return one.length() <= max ? one : one.substring(0, max) + "…";
  }
}
