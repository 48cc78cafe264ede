package seg.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What the driver runs: SQL statements over named sources. Built from pipeline specs (`seg
 * compile`), plan files (a PlanIR with its Spark SQL) or a plain statements file.
 */
final class Jobs {
  private Jobs() {}

  static final String DEFAULT_RESULTS_TOPIC = "seg.results";

  /** A field of a source schema: nullable = may be null; enumValues = the only allowed strings. */
  record FieldDef(String name, boolean nullable, List<String> enumValues) {}

  /**
   * A source as the driver reads it. lookbackMs: how far before as_of events are needed (null =
   * all history; profiles always read everything). used: the fields statements read (key and time
   * included), from their plans; null when unknown (a statements file): every field.
   */
  record SourceDef(String name, String kind, String topic, String key, String time, String ddl, Map<String, FieldDef> fields, Long lookbackMs, Set<String> used) {
    boolean isProfile() {
      return "profile".equals(kind);
    }
  }

  /** One SQL statement producing long-format rows (segment, entity_id, metrics) for `outputs`. */
  record Statement(String id, String origin, String sql, List<String> outputs, String resultsTopic, List<SourceDef> sources) {}

  private static final ObjectMapper MAPPER = new ObjectMapper();

  static List<Statement> load(Options o) {
    List<Statement> out = new ArrayList<>();
    for (String f : o.specs) out.add(fromSpec(f, read(f)));
    for (String f : o.plans) out.add(fromPlanFile(f, read(f)));
    for (String f : o.statements) out.addAll(fromStatementsFile(f, read(f)));
    Set<String> ids = new HashSet<>();
    Map<String, String> outputOwner = new LinkedHashMap<>();
    for (Statement s : out) {
      if (!ids.add(s.id())) throw bad(s.origin(), "statement id " + s.id() + " is given twice");
      for (String seg : s.outputs()) {
        if (o.analyzeOnly) break; // nothing is written: the same segment may be analysed twice
        String prior = outputOwner.putIfAbsent(seg, s.origin());
        if (prior != null) throw bad(s.origin(), "segment " + seg + " is also an output of " + prior + "; give each segment once");
      }
    }
    return out;
  }

  /** Every source of `statements`, each once: schemas must agree, lookbacks take the longest. */
  static List<SourceDef> mergeSources(List<Statement> statements) {
    Map<String, SourceDef> byName = new LinkedHashMap<>();
    Map<String, String> firstOrigin = new LinkedHashMap<>();
    for (Statement st : statements) {
      for (SourceDef s : st.sources()) {
        SourceDef prior = byName.get(s.name());
        if (prior == null) {
          byName.put(s.name(), s);
          firstOrigin.put(s.name(), st.origin());
          continue;
        }
        if (!prior.ddl().equals(s.ddl()) || !prior.kind().equals(s.kind()) || !prior.key().equals(s.key()) || !Objects.equals(prior.time(), s.time())) {
          throw bad(st.origin(), "source " + s.name() + " has another schema than in " + firstOrigin.get(s.name()) + " (recompile both with the same schemas)");
        }
        Long look = prior.lookbackMs() == null || s.lookbackMs() == null ? null : Math.max(prior.lookbackMs(), s.lookbackMs());
        Map<String, FieldDef> fields = prior.fields().isEmpty() ? s.fields() : prior.fields();
        Set<String> used = null;
        if (prior.used() != null && s.used() != null) {
          used = new HashSet<>(prior.used());
          used.addAll(s.used());
        }
        byName.put(s.name(), new SourceDef(prior.name(), prior.kind(), prior.topic(), prior.key(), prior.time(), prior.ddl(), fields, look, used));
      }
    }
    return new ArrayList<>(byName.values());
  }

  // ---------------------------------------------------------------------------------------------

  private static JsonNode read(String file) {
    try {
      return MAPPER.readTree(Files.readString(Path.of(file)));
    } catch (NoSuchFileException e) {
      throw bad(file, "no such file");
    } catch (IOException e) {
      throw bad(file, "not valid JSON: " + oneLine(e.getMessage()));
    }
  }

  static Statement fromSpec(String origin, JsonNode spec) {
    if (!spec.isObject()) throw bad(origin, "a pipeline spec must be a JSON object");
    int version = spec.path("specVersion").asInt(-1);
    if (version != 1) throw bad(origin, "specVersion must be 1 (got " + spec.path("specVersion") + ")");
    String id = text(origin, spec, "id");
    String sql = text(origin, spec.path("sql"), "spark", "sql.spark");
    JsonNode plan = spec.path("plan");
    Map<String, Map<String, FieldDef>> fields = planFields(plan);
    Set<String> universeEvents = universeEventSources(plan);
    JsonNode sources = spec.path("sources");
    if (!sources.isArray() || sources.isEmpty()) throw bad(origin, "sources must be a non-empty array");
    List<SourceDef> defs = new ArrayList<>();
    for (int i = 0; i < sources.size(); i++) {
      JsonNode s = sources.get(i);
      String where = "sources[" + i + "]";
      String name = text(origin, s, "name", where + ".name");
      JsonNode look = s.path("lookbackMs");
      Long lookback = look.isNull() || look.isMissingNode() ? null : look.asLong();
      if (!look.isNull() && !look.isMissingNode() && !look.canConvertToLong()) throw bad(origin, where + ".lookbackMs must be an integer or null");
      // Every key of a universe event source counts, however old: it needs all history.
      if (universeEvents.contains(name)) lookback = null;
      defs.add(source(origin, s, where, name, lookback, fields.getOrDefault(name, Map.of()), usedFields(plan, name)));
    }
    JsonNode outputs = spec.path("outputs");
    String topic = outputs.path("resultsTopic").isTextual() ? outputs.path("resultsTopic").asText() : DEFAULT_RESULTS_TOPIC;
    return new Statement(id, origin, sql, List.of(id), topic, defs);
  }

  static Statement fromPlanFile(String origin, JsonNode file) {
    JsonNode plan = file.path("plan");
    if (!plan.isObject()) throw bad(origin, "a plan file needs \"plan\" (a PlanIR) and \"sql\" (its Spark SQL)");
    JsonNode sqlNode = file.path("sql");
    String sql = sqlNode.isTextual() ? sqlNode.asText() : text(origin, sqlNode, "spark", "sql.spark");
    List<String> outputs = strings(origin, plan.path("outputs"), "plan.outputs");
    if (outputs.isEmpty()) throw bad(origin, "plan.outputs is empty");
    Map<String, Long> lookback = planLookback(plan);
    Set<String> universeEvents = universeEventSources(plan);
    Map<String, Map<String, FieldDef>> fields = planFields(plan);
    JsonNode sources = plan.path("sources");
    if (!sources.isArray()) throw bad(origin, "plan.sources must be an array");
    List<SourceDef> defs = new ArrayList<>();
    for (int i = 0; i < sources.size(); i++) {
      JsonNode s = sources.get(i);
      String where = "plan.sources[" + i + "]";
      String name = text(origin, s, "name", where + ".name");
      boolean profile = "profile".equals(s.path("kind").asText());
      Long look = profile || universeEvents.contains(name) ? null : lookback.containsKey(name) ? lookback.get(name) : Long.valueOf(0);
      defs.add(source(origin, s, where, name, look, fields.getOrDefault(name, Map.of()), usedFields(plan, name)));
    }
    String id = file.path("id").isTextual() ? file.path("id").asText()
        : "plan:" + (outputs.size() <= 3 ? String.join(",", outputs) : outputs.get(0) + ",...(" + outputs.size() + " segments)");
    String topic = file.path("resultsTopic").isTextual() ? file.path("resultsTopic").asText() : DEFAULT_RESULTS_TOPIC;
    return new Statement(id, origin, sql, outputs, topic, defs);
  }

  static List<Statement> fromStatementsFile(String origin, JsonNode file) {
    JsonNode sources = file.path("sources");
    if (!sources.isArray()) throw bad(origin, "a statements file needs \"sources\" (an array) and \"statements\"");
    List<SourceDef> defs = new ArrayList<>();
    for (int i = 0; i < sources.size(); i++) {
      JsonNode s = sources.get(i);
      String where = "sources[" + i + "]";
      JsonNode look = s.path("lookbackMs");
      Map<String, FieldDef> fields = new LinkedHashMap<>();
      for (JsonNode f : s.path("fields")) fields.put(f.path("name").asText(), field(f));
      defs.add(source(origin, s, where, text(origin, s, "name", where + ".name"), look.canConvertToLong() ? look.asLong() : null, fields, null));
    }
    JsonNode list = file.path("statements");
    if (!list.isArray() || list.isEmpty()) throw bad(origin, "statements must be a non-empty array");
    List<Statement> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      JsonNode st = list.get(i);
      String where = "statements[" + i + "]";
      String id = text(origin, st, "id", where + ".id");
      List<String> outputs = st.has("outputs") ? strings(origin, st.path("outputs"), where + ".outputs") : List.of(id);
      String topic = st.path("resultsTopic").isTextual() ? st.path("resultsTopic").asText() : DEFAULT_RESULTS_TOPIC;
      out.add(new Statement(id, origin + "#" + id, text(origin, st, "sql", where + ".sql"), outputs, topic, defs));
    }
    return out;
  }

  private static SourceDef source(String origin, JsonNode s, String where, String name, Long lookback, Map<String, FieldDef> fields, Set<String> used) {
    String kind = text(origin, s, "kind", where + ".kind");
    if (!kind.equals("event") && !kind.equals("profile")) throw bad(origin, where + ".kind must be event or profile");
    String time = s.path("time").isTextual() ? s.path("time").asText() : null;
    if (kind.equals("event") && time == null) throw bad(origin, where + ": event source " + name + " has no time field");
    String topic = s.path("topic").isTextual() ? s.path("topic").asText() : name;
    String key = text(origin, s, "key", where + ".key");
    if (used != null) {
      used = new HashSet<>(used);
      used.add(key);
      if (time != null) used.add(time);
    }
    return new SourceDef(name, kind, topic, key, time, text(origin, s, "sparkDdl", where + ".sparkDdl"), fields, kind.equals("profile") ? null : lookback, used);
  }

  /**
   * The fields of `source` a plan's SQL reads besides key and time: aggregated fields, fields in
   * aggregate filters, profile attributes of segments and metrics. Null without a plan.
   */
  static Set<String> usedFields(JsonNode plan, String source) {
    if (!plan.isObject() || !plan.path("aggregates").isArray() || !plan.path("segments").isArray()) return null;
    Set<String> out = new HashSet<>();
    for (JsonNode a : plan.path("aggregates")) {
      if (!source.equals(a.path("source").asText())) continue;
      if (a.path("field").isTextual()) out.add(a.path("field").asText());
      collect(a.path("filter"), "field", "source", source, out);
    }
    for (JsonNode seg : plan.path("segments")) {
      collect(seg.path("predicate"), "attr", "profile", source, out);
      collect(seg.path("metrics"), "attr", "profile", source, out);
    }
    return out;
  }

  /** Adds the `field` of every node `{"k": kind, owner: source}` under `node`. */
  private static void collect(JsonNode node, String kind, String owner, String source, Set<String> out) {
    if (node.isObject()) {
      if (kind.equals(node.path("k").asText()) && source.equals(node.path(owner).asText()) && node.path("field").isTextual()) out.add(node.path("field").asText());
      for (JsonNode child : node) collect(child, kind, owner, source, out);
    } else if (node.isArray()) {
      for (JsonNode child : node) collect(child, kind, owner, source, out);
    }
  }

  /** Per source, its fields from a PlanIR (nullability and enum values). */
  private static Map<String, Map<String, FieldDef>> planFields(JsonNode plan) {
    Map<String, Map<String, FieldDef>> out = new LinkedHashMap<>();
    for (JsonNode s : plan.path("sources")) {
      Map<String, FieldDef> fields = new LinkedHashMap<>();
      for (JsonNode f : s.path("fields")) fields.put(f.path("name").asText(), field(f));
      out.put(s.path("name").asText(), fields);
    }
    return out;
  }

  private static FieldDef field(JsonNode f) {
    JsonNode type = f.path("type");
    List<String> enums = null;
    if (type.path("enumValues").isArray()) {
      enums = new ArrayList<>();
      for (JsonNode v : type.path("enumValues")) enums.add(v.asText());
    }
    return new FieldDef(f.path("name").asText(), !type.has("nullable") || type.path("nullable").asBoolean(true), enums);
  }

  /** The longest window of the aggregates of each source (absent: no aggregate; null: all history). */
  private static Map<String, Long> planLookback(JsonNode plan) {
    Map<String, Long> out = new LinkedHashMap<>();
    for (JsonNode a : plan.path("aggregates")) {
      String source = a.path("source").asText();
      if (out.containsKey(source) && out.get(source) == null) continue;
      JsonNode older = a.path("window").path("olderMs");
      Long need = older.canConvertToLong() && !older.isNull() ? older.asLong() : null;
      out.put(source, need == null ? null : Math.max(out.getOrDefault(source, 0L), need));
    }
    return out;
  }

  private static Set<String> universeEventSources(JsonNode plan) {
    Set<String> out = new HashSet<>();
    JsonNode u = plan.path("universe");
    if ("events".equals(u.path("kind").asText())) for (JsonNode s : u.path("sources")) out.add(s.asText());
    return out;
  }

  private static String text(String origin, JsonNode node, String field) {
    return text(origin, node, field, field);
  }

  private static String text(String origin, JsonNode node, String field, String label) {
    JsonNode v = node.path(field);
    if (!v.isTextual() || v.asText().isEmpty()) throw bad(origin, label + " must be a non-empty string");
    return v.asText();
  }

  private static List<String> strings(String origin, JsonNode node, String label) {
    if (!node.isArray()) throw bad(origin, label + " must be an array of strings");
    List<String> out = new ArrayList<>();
    for (JsonNode n : node) {
      if (!n.isTextual()) throw bad(origin, label + " must be an array of strings");
      out.add(n.asText());
    }
    return out;
  }

  static DriverException bad(String origin, String message) {
    return new DriverException(DriverException.USAGE, origin + ": " + message);
  }

  static String oneLine(String s) {
    return s == null ? "" : s.replaceAll("\\s+", " ").trim();
  }
}
