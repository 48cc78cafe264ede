package seg.spark;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * Where result rows go. Each row is written as one JSON object
 * `{"segment", "entity_id", "metrics": {...}, "run_id", "as_of"}`; after all rows of a run (files)
 * or of a segment (Kafka) comes a completion marker, so a reader never takes a partial result for
 * a whole one.
 */
abstract class Results {
  /** Rows written per output segment of `statement` (every output present, 0 when empty). */
  abstract Map<String, Long> write(Jobs.Statement statement, Dataset<Row> rows);

  /** Called once after every statement was written. */
  void finish() {}

  static Results of(Options o) {
    if (o.output == null) return new CountOnly();
    if (o.output.startsWith("files:")) return new Files_(Path.of(o.output.substring("files:".length())), o.runId, o.asOf.toString());
    return new Kafka(o.output.substring("kafka:".length()), o.resultsTopic, o.runId, o.asOf.toString());
  }

  private static final JsonFactory JSON = new JsonFactory();
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** The JSON line of one result row; fails when `metrics` is not a JSON object (an emitter bug). */
  static String line(String segment, String entityId, String metrics, String runId, String asOf) {
    try {
      JsonNode m = metrics == null ? null : MAPPER.readTree(metrics);
      if (m == null || !m.isObject()) throw new IllegalStateException("the metrics of " + entityId + " in segment " + segment + " are not a JSON object: " + metrics);
      StringWriter w = new StringWriter();
      try (JsonGenerator g = JSON.createGenerator(w)) {
        g.writeStartObject();
        g.writeStringField("segment", segment);
        g.writeStringField("entity_id", entityId);
        g.writeFieldName("metrics");
        g.writeRawValue(metrics.trim());
        g.writeStringField("run_id", runId);
        g.writeStringField("as_of", asOf);
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

  /** `<dir>/<segment>.jsonl` per output segment (written on the driver), then `<dir>/_complete.json`. */
  static final class Files_ extends Results {
    private final Path dir;
    private final String runId;
    private final String asOf;
    private final Map<String, Long> all = new LinkedHashMap<>();

    Files_(Path dir, String runId, String asOf) {
      this.dir = dir;
      this.runId = runId;
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
          w.write(line(segment, r.getString(1), r.getString(2), runId, asOf));
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
          segments.put(e.getKey(), Map.of("rows", e.getValue(), "file", e.getKey() + ".jsonl"));
        }
        Map<String, Object> marker = new LinkedHashMap<>();
        marker.put("type", "complete");
        marker.put("run_id", runId);
        marker.put("as_of", asOf);
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
   * Rows to the results topic (key: entity id; written by Spark's Kafka sink, acks=all), then per
   * segment one completion marker `{"type":"complete","segment","run_id","as_of","rows",
   * "partition","partitions"}` on EVERY partition of the topic, sent after Spark's write finished
   * (so after every row was acknowledged). A consumer has all rows of a segment's run once it has
   * seen that run's marker on each partition; with a one-partition topic, once it sees the marker.
   */
  static final class Kafka extends Results {
    private final String servers;
    private final String topicOverride;
    private final String runId;
    private final String asOf;

    Kafka(String servers, String topicOverride, String runId, String asOf) {
      this.servers = servers;
      this.topicOverride = topicOverride;
      this.runId = runId;
      this.asOf = asOf;
    }

    @Override
    Map<String, Long> write(Jobs.Statement st, Dataset<Row> rows) {
      String topic = topicOverride != null ? topicOverride : st.resultsTopic();
      Map<String, Long> counts = zeroCounts(st);
      Dataset<Row> cached = rows.persist(StorageLevel.MEMORY_AND_DISK());
      try {
        for (Row r : cached.groupBy("segment").count().collectAsList()) {
          checkSegment(st, r.getString(0));
          counts.put(r.getString(0), r.getLong(1));
        }
        String run = runId;
        String at = asOf;
        cached
            .map((MapFunction<Row, Tuple2<String, String>>) r -> new Tuple2<>(r.getString(1), line(r.getString(0), r.getString(1), r.getString(2), run, at)), Encoders.tuple(Encoders.STRING(), Encoders.STRING()))
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
        List<PartitionInfo> parts = new ArrayList<>(producer.partitionsFor(topic));
        for (var e : counts.entrySet()) {
          for (PartitionInfo part : parts) {
            Map<String, Object> marker = new LinkedHashMap<>();
            marker.put("type", "complete");
            marker.put("segment", e.getKey());
            marker.put("run_id", runId);
            marker.put("as_of", asOf);
            marker.put("rows", e.getValue());
            marker.put("partition", part.partition());
            marker.put("partitions", parts.size());
            producer.send(new ProducerRecord<>(topic, part.partition(), e.getKey(), MAPPER.writeValueAsString(marker))).get();
          }
        }
        producer.flush();
      } catch (Exception e) {
        throw new DriverException(DriverException.OUTPUT, "cannot send completion markers to Kafka topic " + topic + " at " + servers + ": " + Jobs.oneLine(e.getMessage()), st.id(), e);
      }
      return counts;
    }
  }
}
