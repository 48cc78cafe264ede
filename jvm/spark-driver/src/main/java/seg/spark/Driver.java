package seg.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkThrowable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import seg.spark.Jobs.SourceDef;
import seg.spark.Jobs.Statement;

/**
 * seg's Spark driver: runs compiled segment statements (Spark SQL with the named parameter
 * `:as_of`) over sources read from files or Kafka, and writes long-format results (segment,
 * entity_id, metrics) to files or Kafka.
 *
 * <p>Statements that share sources are evaluated in one pass: each source is read, validated and
 * cached once, registered as a temporary view named like the source, and every statement runs
 * against those views. The last line on stdout is a JSON summary; everything else goes to stderr.
 * On failure the process exits non-zero and the last stderr line is `seg-spark-driver: error: ...`
 * (exit codes: 1 unexpected, 2 usage or bad spec, 3 input, 4 SQL rejected by Spark, 5 output).
 */
public final class Driver {
  private static final Logger LOG = LogManager.getLogger(Driver.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** --summary FILE, once the options are parsed. */
  private static String summaryFile;

  private Driver() {}

  public static void main(String[] args) {
    PrintStream stdout = System.out;
    System.setOut(System.err); // only the summary goes to stdout
    Map<String, Object> summary = new LinkedHashMap<>();
    int code = 0;
    String error = null;
    try {
      code = run(args, summary);
    } catch (DriverException e) {
      code = e.exitCode;
      error = e.getMessage();
      if (e.statement != null) summary.put("statement", e.statement);
      if (e.getCause() != null && e.exitCode != DriverException.USAGE) e.getCause().printStackTrace(System.err);
    } catch (Throwable t) {
      code = DriverException.FAILURE;
      error = t.getClass().getSimpleName() + ": " + t.getMessage();
      t.printStackTrace(System.err);
    }
    summary.put("ok", code == 0);
    summary.put("exitCode", code);
    if (error != null) {
      String line = error.contains("\n") && !error.startsWith("usage:") ? Jobs.oneLine(error) : error;
      summary.put("error", line);
      System.err.flush();
      System.err.println("seg-spark-driver: error: " + line);
    }
    summary.put("totalMs", System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime());
    try {
      String json = MAPPER.writeValueAsString(summary);
      if (summaryFile != null) Files.writeString(Path.of(summaryFile), json + "\n", StandardCharsets.UTF_8);
      stdout.println(json);
    } catch (Exception e) {
      stdout.println("{\"ok\":false,\"exitCode\":1,\"error\":\"cannot write the summary\"}");
      code = code == 0 ? 1 : code;
    }
    stdout.flush();
    System.err.flush();
    System.exit(code);
  }

  static int run(String[] args, Map<String, Object> summary) {
    long t0 = System.nanoTime();
    Options o = Options.parse(args);
    summary.put("mode", o.analyzeOnly ? "analyze" : "run");
    summary.put("runId", o.runId);
    summary.put("asOf", o.asOf.toString());
    summaryFile = o.summaryFile;
    List<Statement> statements = Jobs.load(o);
    List<SourceDef> sources = Jobs.mergeSources(statements);
    // Bad schemas and missing files fail before Spark starts (seconds).
    for (SourceDef s : sources) Sources.schemaOf(s);
    if (!o.analyzeOnly && o.input.startsWith("files:")) {
      org.apache.hadoop.conf.Configuration hadoop = new org.apache.hadoop.conf.Configuration();
      for (SourceDef s : sources) Sources.dataFiles(s, o.input.substring("files:".length()), o.allowMissingInput, hadoop);
    }

    SparkSession spark = session(o);
    Map<String, Object> timings = new LinkedHashMap<>();
    timings.put("sparkStartMs", ms(t0));
    timings.put("sparkStartCpuMs", cpuMs());
    summary.put("sparkVersion", spark.version());
    try {
      return o.analyzeOnly ? analyze(spark, o, statements, sources, summary, timings) : evaluate(spark, o, statements, sources, summary, timings);
    } finally {
      summary.put("timings", timings);
      spark.stop();
    }
  }

  static SparkSession session(Options o) {
    SparkConf conf = new SparkConf(); // spark.* system properties, as spark-submit sets them
    String master = o.master != null ? o.master : conf.get("spark.master", "local[2]");
    SparkSession.Builder b = SparkSession.builder().appName("seg-spark-driver").master(master);
    // The emitted SQL assumes UTC and backslash escapes in literals (packages/compiler/src/emit/spark.ts).
    b.config("spark.sql.session.timeZone", "UTC");
    if (master.startsWith("local")) {
      b.config("spark.ui.enabled", conf.get("spark.ui.enabled", "false"));
      b.config("spark.sql.shuffle.partitions", conf.get("spark.sql.shuffle.partitions", "4"));
      b.config("spark.driver.host", conf.get("spark.driver.host", "127.0.0.1"));
      b.config("spark.driver.bindAddress", conf.get("spark.driver.bindAddress", "127.0.0.1"));
    }
    for (var e : o.conf.entrySet()) b.config(e.getKey(), e.getValue());
    SparkSession spark = b.getOrCreate();
    CaseFunctions.register(spark); // seg_upper, seg_lower: the emitted SQL calls them
    if ("true".equalsIgnoreCase(spark.conf().get("spark.sql.parser.escapedStringLiterals", "false"))) {
      LOG.warn("spark.sql.parser.escapedStringLiterals=true changes the meaning of seg's string literals: setting it to false");
      spark.conf().set("spark.sql.parser.escapedStringLiterals", "false");
    }
    LOG.info("Spark {} ({}), run {}, as_of {}", spark.version(), master, o.runId, o.asOf);
    return spark;
  }

  /** Parses and analyses every statement against empty views; runs it on them too (optimiser, codegen). */
  static int analyze(SparkSession spark, Options o, List<Statement> statements, List<SourceDef> sources, Map<String, Object> summary, Map<String, Object> timings) {
    Sources reader = new Sources(spark, o);
    for (SourceDef s : sources) reader.registerEmpty(s);
    Map<String, Object> results = new LinkedHashMap<>();
    int failed = 0;
    long t = System.nanoTime();
    for (Statement st : statements) {
      long t1 = System.nanoTime();
      Map<String, Object> r = new LinkedHashMap<>();
      try {
        Dataset<Row> df = spark.sql(st.sql(), Map.of("as_of", o.asOf));
        checkResultSchema(st, df.schema());
        df.collectAsList();
        r.put("ok", true);
      } catch (Exception e) {
        failed++;
        r.put("ok", false);
        r.put("stage", stage(e));
        if (e instanceof SparkThrowable st2 && st2.getCondition() != null) r.put("condition", st2.getCondition());
        r.put("error", firstLine(e.getMessage()));
        LOG.warn("statement {} ({}) rejected: {}", st.id(), st.origin(), e.getMessage());
      }
      r.put("ms", ms(t1));
      results.put(st.id(), r);
    }
    timings.put("analyzeMs", ms(t));
    summary.put("statements", results);
    summary.put("failed", failed);
    return failed == 0 ? 0 : DriverException.SQL;
  }

  static int evaluate(SparkSession spark, Options o, List<Statement> statements, List<SourceDef> sources, Map<String, Object> summary, Map<String, Object> timings) {
    Sources reader = new Sources(spark, o);
    Map<String, Object> malformed = new LinkedHashMap<>();
    Map<String, Object> sourceStats = new LinkedHashMap<>();
    long t = System.nanoTime();
    long cpu = cpuMs();
    for (SourceDef s : sources) {
      // a source that several statements read is kept in memory (its window and used fields)
      long readers = statements.stream().filter(st -> st.sources().stream().anyMatch(x -> x.name().equals(s.name()))).count();
      Sources.Stats st = reader.register(s, o.asOf, readers > 1);
      malformed.put(s.name(), st.malformed());
      sourceStats.put(s.name(), st.toJson());
    }
    timings.put("readMs", ms(t));
    timings.put("readCpuMs", cpuMs() - cpu);
    summary.put("malformed", malformed);
    summary.put("sources", sourceStats);

    Results out = Results.of(o);
    Map<String, Object> segments = new LinkedHashMap<>();
    summary.put("segments", segments);
    t = System.nanoTime();
    cpu = cpuMs();
    for (Statement st : statements) {
      long t1 = System.nanoTime();
      long cpu1 = cpuMs();
      Dataset<Row> df;
      try {
        df = spark.sql(st.sql(), Map.of("as_of", o.asOf));
      } catch (Exception e) {
        LOG.error("statement {} ({}) was rejected by Spark:\n{}\n--- SQL ---\n{}", st.id(), st.origin(), e.getMessage(), st.sql());
        throw new DriverException(DriverException.SQL, "statement " + st.id() + " (" + st.origin() + ") was rejected by Spark (" + stage(e) + "): " + firstLine(e.getMessage()), st.id(), null);
      }
      checkResultSchema(st, df.schema());
      if (o.explain) LOG.info("statement {} plan:\n{}", st.id(), df.queryExecution().explainString(org.apache.spark.sql.execution.FormattedMode$.MODULE$));
      Map<String, Long> counts;
      try {
        counts = out.write(st, df);
      } catch (DriverException e) {
        throw e;
      } catch (Exception e) {
        throw new DriverException(DriverException.SQL, "statement " + st.id() + " (" + st.origin() + ") failed while running: " + firstLine(e.getMessage()), st.id(), e);
      }
      long took = ms(t1);
      long tookCpu = cpuMs() - cpu1;
      for (var e : counts.entrySet()) {
        Map<String, Object> seg = new LinkedHashMap<>();
        seg.put("rows", e.getValue());
        seg.put("statement", st.id());
        seg.put("ms", took);
        seg.put("cpuMs", tookCpu);
        segments.put(e.getKey(), seg);
      }
      LOG.info("statement {}: {} ({} ms)", st.id(), counts, took);
    }
    out.finish();
    timings.put("statementsMs", ms(t));
    timings.put("statementsCpuMs", cpuMs() - cpu);
    return 0;
  }

  /** The result must be long format: segment, entity_id, metrics, all STRING. */
  static void checkResultSchema(Statement st, StructType schema) {
    List<String> got = new ArrayList<>();
    for (StructField f : schema.fields()) got.add(f.name() + " " + f.dataType().sql());
    StructField[] fs = schema.fields();
    boolean ok = fs.length == 3;
    String[] names = {"segment", "entity_id", "metrics"};
    for (int i = 0; ok && i < 3; i++) ok = fs[i].name().equals(names[i]) && fs[i].dataType().equals(DataTypes.StringType);
    if (!ok) {
      throw new DriverException(DriverException.SQL, "statement " + st.id() + " returns " + got + "; expected [segment STRING, entity_id STRING, metrics STRING]", st.id(), null);
    }
  }

  private static String stage(Exception e) {
    String n = e.getClass().getSimpleName();
    if (n.contains("Parse")) return "parse";
    if (n.contains("Analysis")) return "analysis";
    if (e instanceof DriverException) return "result";
    return "execution";
  }

  private static String firstLine(String s) {
    if (s == null) return "";
    // Spark messages: a first sentence, then SQL context / plans on later lines.
    String[] lines = s.split("\n");
    StringBuilder out = new StringBuilder(lines[0].trim());
    for (int i = 1; i < lines.length && i < 4; i++) {
      String l = lines[i].trim();
      if (l.isEmpty() || l.startsWith("+-") || l.startsWith("'") || l.startsWith(":")) break;
      out.append(' ').append(l);
    }
    return Sources.abbreviate(out.toString(), 2000);
  }

  /**
   * CPU time of the whole JVM so far (every thread: Spark's tasks, GC, JIT), in ms; -1 when the
   * JVM cannot tell. Next to wall times, it shows how much work a phase did on a shared machine.
   */
  static long cpuMs() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      long ns = os.getProcessCpuTime();
      return ns < 0 ? -1 : ns / 1_000_000;
    }
    return -1;
  }

  private static long ms(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
