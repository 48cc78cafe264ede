package seg.spark;

import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The driver's command line. */
final class Options {
  static final String USAGE =
      String.join(
          "\n",
          "usage: seg.spark.Driver (--spec FILE | --plan FILE | --statements FILE)... [options]",
          "  --spec FILE            a <segment>.pipeline.json written by `seg compile` (repeatable)",
          "  --plan FILE            {\"plan\": PlanIR, \"sql\": \"<Spark SQL of the plan>\"} (repeatable)",
          "  --statements FILE      {\"sources\": [...], \"statements\": [{\"id\", \"sql\", \"outputs\"}]}",
          "  --as-of TIMESTAMP      evaluation time, ISO-8601 with a zone (2026-11-01T00:00:00Z)",
          "  --input files:DIR      <source>.jsonl | .json | .parquet per source",
          "  --input kafka:SERVERS  batch read of each source's topic (only what the longest window needs)",
          "  --output files:DIR     <segment>.jsonl per output segment, then _complete.json",
          "  --output kafka:SERVERS rows to each spec's results topic, then completion markers",
          "  --results-topic TOPIC  results topic for --output kafka (default: the spec's, else seg.results)",
          "  --run-id ID            (default: a random UUID)",
          "  --master URL           (default: spark-submit's, else local[2])",
          "  --conf KEY=VALUE       extra Spark setting (repeatable)",
          "  --analyze-only         parse and analyse every statement against empty views; no input",
          "  --allow-missing-input  a source without a data file is empty instead of an error",
          "  --kafka-slack-ms N     read Kafka from (as_of - lookback - N) by message timestamp (default 3600000)",
          "  --max-problems N       bad input rows described per source (default 10)",
          "  --explain              log each statement's physical plan (stderr) before running it",
          "  --summary FILE         also write the JSON summary to FILE");

  final List<String> specs = new ArrayList<>();
  final List<String> plans = new ArrayList<>();
  final List<String> statements = new ArrayList<>();
  Instant asOf;
  String asOfText;
  String input;
  String output;
  String resultsTopic;
  String runId;
  String master;
  final Map<String, String> conf = new LinkedHashMap<>();
  boolean analyzeOnly;
  boolean allowMissingInput;
  boolean explain;
  long kafkaSlackMs = 3_600_000L;
  int maxProblems = 10;
  String summaryFile;

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String inline = null;
      if (a.startsWith("--") && a.contains("=") && !a.startsWith("--conf=")) {
        inline = a.substring(a.indexOf('=') + 1);
        a = a.substring(0, a.indexOf('='));
      }
      switch (a) {
        case "--analyze-only" -> o.analyzeOnly = true;
        case "--allow-missing-input" -> o.allowMissingInput = true;
        case "--explain" -> o.explain = true;
        case "-h", "--help" -> throw new DriverException(DriverException.USAGE, USAGE);
        default -> {
          String v = inline != null ? inline : value(args, ++i, a);
          switch (a) {
            case "--spec" -> o.specs.add(v);
            case "--plan" -> o.plans.add(v);
            case "--statements" -> o.statements.add(v);
            case "--as-of" -> {
              o.asOf = parseInstant(v);
              o.asOfText = v;
            }
            case "--input" -> o.input = location(a, v);
            case "--output" -> o.output = location(a, v);
            case "--results-topic" -> o.resultsTopic = v;
            case "--run-id" -> o.runId = v;
            case "--master" -> o.master = v;
            case "--conf" -> {
              int eq = v.indexOf('=');
              if (eq <= 0) throw usage("--conf needs KEY=VALUE, got " + v);
              o.conf.put(v.substring(0, eq), v.substring(eq + 1));
            }
            case "--kafka-slack-ms" -> o.kafkaSlackMs = number(a, v);
            case "--max-problems" -> o.maxProblems = (int) number(a, v);
            case "--summary" -> o.summaryFile = v;
            default -> throw usage("unknown option " + a + " (see --help)");
          }
        }
      }
    }
    if (o.specs.isEmpty() && o.plans.isEmpty() && o.statements.isEmpty()) {
      throw usage("give at least one --spec, --plan or --statements file");
    }
    if (!o.analyzeOnly) {
      if (o.asOf == null) throw usage("--as-of is required");
      if (o.input == null) throw usage("--input is required (files:DIR or kafka:SERVERS)");
    } else if (o.asOf == null) {
      o.asOf = Instant.parse("2026-01-01T00:00:00Z");
    }
    if (o.runId == null) o.runId = java.util.UUID.randomUUID().toString();
    return o;
  }

  private static String value(String[] args, int i, String name) {
    if (i >= args.length) throw usage(name + " needs a value");
    return args[i];
  }

  private static long number(String name, String v) {
    try {
      long n = Long.parseLong(v);
      if (n < 0) throw new NumberFormatException();
      return n;
    } catch (NumberFormatException e) {
      throw usage(name + " needs a whole number >= 0, got " + v);
    }
  }

  private static String location(String name, String v) {
    if (!(v.startsWith("files:") || v.startsWith("kafka:")) || v.indexOf(':') == v.length() - 1) {
      throw usage(name + " must be files:PATH or kafka:HOST:PORT[,HOST:PORT...], got " + v);
    }
    return v;
  }

  /** ISO-8601 instant with a zone (any offset), or a date (midnight UTC). */
  static Instant parseInstant(String v) {
    try {
      return OffsetDateTime.parse(v).toInstant();
    } catch (DateTimeParseException e) {
      try {
        return LocalDate.parse(v).atStartOfDay().toInstant(ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        throw usage("--as-of " + v + " is not an ISO-8601 timestamp with a zone (2026-11-01T00:00:00Z)");
      }
    }
  }

  static DriverException usage(String message) {
    return new DriverException(DriverException.USAGE, message);
  }
}
