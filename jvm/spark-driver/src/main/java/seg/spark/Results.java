package seg.spark;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Serializable;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * Where result rows go. Each row is written as the runtime's member message
 * (`packages/runtime/src/contracts/messages.ts`):
 * `{"type":"member","segment","runId","entityId","metrics":{...}}`; after all rows of a run (files)
 * or of a segment (Kafka) comes a completion marker, so a reader never takes a partial result for
 * a whole one. On Kafka that marker is the contract's complete message
 * `{"type":"complete","segment","runId","version","asOf","rows"}`.
 *
 * <p>Run ids and versions are per segment: a segment's version is its spec's `version`, or the
 * plan file's `"versions": {segment: version}`; its run id the plan file's `"runIds"` entry, else
 * `--run-id`.
 */
abstract class Results {
  /** Rows written per output segment of `statement` (every output present, 0 when empty). */
  abstract Map<String, Long> write(Jobs.Statement statement, Dataset<Row> rows);

  /** Called once after every statement was written. */
  void finish() {}

  static Results of(Options o) {
    if (o.output == null) return new CountOnly();
    Runs runs = Runs.of(o);
    String asOf = isoMillis(o.asOf);
    if (o.output.startsWith("files:")) return new Files_(Path.of(o.output.substring("files:".length())), runs, asOf);
    return new Kafka(o.output.substring("kafka:".length()), o.resultsTopic, runs, asOf);
  }

  private static final DateTimeFormatter ISO_MILLIS = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  /** `as_of` as the runtime writes it (JavaScript's `toISOString()`): UTC, milliseconds. */
  static String isoMillis(Instant t) {
    return ISO_MILLIS.format(t);
  }

  private static final JsonFactory JSON = new JsonFactory();
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /**
   * Run id and version of each segment, read from the --spec files (`id`, `version`) and the
   * --plan files (optional `"runIds"` and `"versions"` objects keyed by segment).
   */
  record Runs(String defaultRunId, Map<String, String> runIds, Map<String, String> versions) implements Serializable {
    static Runs of(Options o) {
      Map<String, String> runIds = new HashMap<>();
      Map<String, String> versions = new HashMap<>();
      try {
        for (String f : o.specs) {
          JsonNode spec = MAPPER.readTree(Path.of(f).toFile());
          if (spec.path("id").isTextual() && spec.path("version").isTextual()) versions.put(spec.path("id").asText(), spec.path("version").asText());
        }
        for (String f : o.plans) {
          JsonNode plan = MAPPER.readTree(Path.of(f).toFile());
          strings(f, plan.path("runIds"), "runIds", runIds);
          strings(f, plan.path("versions"), "versions", versions);
        }
      } catch (IOException e) {
        throw new DriverException(DriverException.USAGE, "cannot read run ids and versions: " + Jobs.oneLine(e.getMessage()));
      }
      return new Runs(o.runId, runIds, versions);
    }

    private static void strings(String origin, JsonNode node, String label, Map<String, String> into) {
      if (node.isMissingNode() || node.isNull()) return;
      if (!node.isObject()) throw Jobs.bad(origin, label + " must be an object of strings keyed by segment");
      for (var e : node.properties()) {
        if (!e.getValue().isTextual() || e.getValue().asText().isEmpty()) throw Jobs.bad(origin, label + "." + e.getKey() + " must be a non-empty string");
        into.put(e.getKey(), e.getValue().asText());
      }
    }

    String runId(String segment) {
      return runIds.getOrDefault(segment, defaultRunId);
    }

    /** The segment's version, or null when no spec or plan file gives one. */
    String version(String segment) {
      return versions.get(segment);
    }
  }

  /** The member message of one result row; fails when `metrics` is not a JSON object (an emitter bug). */
  static String line(String segment, String entityId, String metrics, String runId) {
    try {
      JsonNode m = metrics == null ? null : MAPPER.readTree(metrics);
      if (m == null || !m.isObject()) throw new IllegalStateException("the metrics of " + entityId + " in segment " + segment + " are not a JSON object: " + metrics);
      StringWriter w = new StringWriter();
      try (JsonGenerator g = JSON.createGenerator(w)) {
        g.writeStartObject();
        g.writeStringField("type", "member");
        g.writeStringField("segment", segment);
        g.writeStringField("runId", runId);
        g.writeStringField("entityId", entityId);
        g.writeFieldName("metrics");
        g.writeRawValue(metrics.trim());
        g.writeEndObject();
      }
      return w.toString();
    } catch (IOException e) {
      throw new IllegalStateException("the metrics of " + entityId + " in segment " + segment + " are not valid JSON: " + metrics, e);
    }
  }

  static Map<String, Long> zeroCounts(Jobs.Statement st) {
    Map<String, Long> counts = new LinkedHashMap<>();
    for (String s : st.outputs()) counts.put(s, 0L);
    return counts;
  }

  static void checkSegment(Jobs.Statement st, String segment) {
    if (segment == null || !st.outputs().contains(segment)) {
      throw new DriverException(DriverException.SQL, "statement " + st.id() + " returned a row for segment " + segment + ", which is not one of its outputs " + st.outputs(), st.id(), null);
    }
    if (segment.isEmpty() || segment.equals(".") || segment.equals("..") || segment.contains("/") || segment.contains("\\") || segment.contains("\0")) {
      throw new DriverException(DriverException.OUTPUT, "segment name " + segment + " cannot be a file name");
    }
  }

  /** Only counts (no --output). */
  static final class CountOnly extends Results {
    @Override
    Map<String, Long> write(Jobs.Statement st, Dataset<Row> rows) {
      Map<String, Long> counts = zeroCounts(st);
      for (Row r : rows.groupBy("segment").count().collectAsList()) {
        checkSegment(st, r.getString(0));
        counts.put(r.getString(0), r.getLong(1));
      }
      return counts;
    }
  }

  /**
   * `<dir>/<segment>.jsonl` per output segment (written on the driver), then `<dir>/_complete.json`
   * = `{"type":"complete","asOf","segments":{name:{"runId","version","rows","file"}}}`.
   */
  static final class Files_ extends Results {
    private final Path dir;
    private final Runs runs;
    private final String asOf;
    private final Map<String, Long> all = new LinkedHashMap<>();

    Files_(Path dir, Runs runs, String asOf) {
      this.dir = dir;
      this.runs = runs;
      this.asOf = asOf;
      try {
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve("_complete.json"));
      } catch (IOException e) {
        throw new DriverException(DriverException.OUTPUT, "cannot use output folder " + dir + ": " + e.getMessage());
      }
    }

    @Override
    Map<String, Long> write(Jobs.Statement st, Dataset<Row> rows) {
      Map<String, Long> counts = zeroCounts(st);
      Map<String, BufferedWriter> writers = new LinkedHashMap<>();
      try {
        for (String s : st.outputs()) {
          checkSegment(st, s);
          writers.put(s, Files.newBufferedWriter(tmp(s), StandardCharsets.UTF_8));
        }
        Iterator<Row> it = rows.toLocalIterator();
        while (it.hasNext()) {
          Row r = it.next();
          String segment = r.getString(0);
          checkSegment(st, segment);
          BufferedWriter w = writers.get(segment);
          w.write(line(segment, r.getString(1), r.getString(2), runs.runId(segment)));
          w.write('\n');
          counts.merge(segment, 1L, Long::sum);
        }
        for (BufferedWriter w : writers.values()) w.close();
      } catch (IOException e) {
        throw new DriverException(DriverException.OUTPUT, "cannot write results to " + dir + ": " + e.getMessage());
      } finally {
        for (BufferedWriter w : writers.values()) {
          try {
            w.close();
          } catch (IOException ignored) {
            // already reported
          }
        }
      }
      all.putAll(counts);
      return counts;
    }

    private Path tmp(String segment) {
      return dir.resolve(segment + ".jsonl.tmp");
    }

    @Override
    void finish() {
      try {
        Map<String, Object> segments = new LinkedHashMap<>();
        for (var e : all.entrySet()) {
          Files.move(tmp(e.getKey()), dir.resolve(e.getKey() + ".jsonl"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
          Map<String, Object> segment = new LinkedHashMap<>();
          segment.put("runId", runs.runId(e.getKey()));
          segment.put("version", runs.version(e.getKey()));
          segment.put("rows", e.getValue());
          segment.put("file", e.getKey() + ".jsonl");
          segments.put(e.getKey(), segment);
        }
        Map<String, Object> marker = new LinkedHashMap<>();
        marker.put("type", "complete");
        marker.put("asOf", asOf);
        marker.put("segments", segments);
        Path t = dir.resolve("_complete.json.tmp");
        Files.writeString(t, MAPPER.writeValueAsString(marker) + "\n", StandardCharsets.UTF_8);
        Files.move(t, dir.resolve("_complete.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException | UncheckedIOException e) {
        throw new DriverException(DriverException.OUTPUT, "cannot finish results in " + dir + ": " + e.getMessage());
      }
    }
  }

  /**
   * Rows to the results topic as member messages (key: entity id; written by Spark's Kafka sink,
   * acks=all), then per segment one complete message (key: the segment), sent after Spark's write
   * finished, so after every row was acknowledged. As the contract says, a reader has a segment's
   * run once it has seen its complete message and `rows` distinct members of that run, whatever
   * the partitions (a retried Spark task may write a member twice). Every segment needs a version.
   */
  static final class Kafka extends Results {
    private final String servers;
    private final String topicOverride;
    private final Runs runs;
    private final String asOf;

    Kafka(String servers, String topicOverride, Runs runs, String asOf) {
      this.servers = servers;
      this.topicOverride = topicOverride;
      this.runs = runs;
      this.asOf = asOf;
    }

    @Override
    Map<String, Long> write(Jobs.Statement st, Dataset<Row> rows) {
      String topic = topicOverride != null ? topicOverride : st.resultsTopic();
      for (String s : st.outputs()) {
        if (runs.version(s) == null) {
          throw new DriverException(DriverException.USAGE, st.origin() + ": segment " + s + " has no version, which Kafka output needs (a spec's \"version\", or \"versions\" in a plan file)", st.id(), null);
        }
      }
      Map<String, Long> counts = zeroCounts(st);
      Dataset<Row> cached = rows.persist(StorageLevel.MEMORY_AND_DISK());
      try {
        for (Row r : cached.groupBy("segment").count().collectAsList()) {
          checkSegment(st, r.getString(0));
          counts.put(r.getString(0), r.getLong(1));
        }
        Runs ids = runs;
        cached
            .map((MapFunction<Row, Tuple2<String, String>>) r -> new Tuple2<>(r.getString(1), line(r.getString(0), r.getString(1), r.getString(2), ids.runId(r.getString(0)))), Encoders.tuple(Encoders.STRING(), Encoders.STRING()))
            .toDF("key", "value")
            .write()
            .format("kafka")
            .option("kafka.bootstrap.servers", servers)
            .option("kafka.acks", "all")
            .option("topic", topic)
            .save();
      } catch (DriverException e) {
        throw e;
      } catch (RuntimeException e) {
        throw new DriverException(DriverException.OUTPUT, "cannot write the results of " + st.id() + " to Kafka topic " + topic + " at " + servers + ": " + Jobs.oneLine(e.getMessage()), st.id(), e);
      } finally {
        cached.unpersist();
      }
      Properties p = new Properties();
      p.put("bootstrap.servers", servers);
      p.put("acks", "all");
      p.put("enable.idempotence", "true");
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
        for (var e : counts.entrySet()) {
          Map<String, Object> marker = new LinkedHashMap<>();
          marker.put("type", "complete");
          marker.put("segment", e.getKey());
          marker.put("runId", runs.runId(e.getKey()));
          marker.put("version", runs.version(e.getKey()));
          marker.put("asOf", asOf);
          marker.put("rows", e.getValue());
          producer.send(new ProducerRecord<>(topic, e.getKey(), MAPPER.writeValueAsString(marker))).get();
        }
        producer.flush();
      } catch (Exception e) {
        throw new DriverException(DriverException.OUTPUT, "cannot send completion markers to Kafka topic " + topic + " at " + servers + ": " + Jobs.oneLine(e.getMessage()), st.id(), e);
      }
      return counts;
    }
  }
}
