import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { findConfig, loadProject, parseDurationSetting, resolveRuntimeSettings } from "../../src/config.js";
import { tempDir, type TempDir } from "./temp-project.js";

let dirs: TempDir[] = [];
function project(config: string | object): TempDir {
  const d = tempDir();
  dirs.push(d);
  d.write("seg.config.json", config);
  return d;
}
afterEach(() => {
  for (const d of dirs) d.cleanup();
  dirs = [];
});

describe("findConfig", () => {
  it("walks upwards from a nested file or folder", () => {
    const d = project({ entity: "customer" });
    d.write("rules/deep/nested/a.seg", "");
    expect(findConfig(d.path("rules/deep/nested/a.seg"))).toBe(d.path("seg.config.json"));
    expect(findConfig(d.path("rules/deep"))).toBe(d.path("seg.config.json"));
    expect(findConfig(d.path("rules/does-not-exist.seg"))).toBe(d.path("seg.config.json"));
  });

  it("returns undefined when there is none", () => {
    const d = tempDir();
    dirs.push(d);
    // the OS temp folder itself is assumed to have no seg.config.json above it
    expect(findConfig(d.root)).toBeUndefined();
  });
});

describe("loadProject", () => {
  it("applies defaults and resolves folders", () => {
    const d = project({ entity: "customer" });
    const { project: p, diagnostics } = loadProject({ cwd: d.root, env: {} });
    expect(diagnostics).toEqual([]);
    expect(p).toMatchObject({
      root: d.root,
      configPath: d.path("seg.config.json"),
      entity: "customer",
      schemasDir: d.path("schemas"),
      rulesDir: d.path("rules"),
      testsDir: d.path("tests"),
      dataDir: d.path("data"),
      defaults: {},
      runtime: {
        databaseUrl: "postgres://127.0.0.1:5432/test",
        kafkaBrokers: ["127.0.0.1:9092"],
        redisUrl: "redis://127.0.0.1:6379",
        topicPrefix: "seg.",
        resultsTopic: "seg.results",
      },
    });
    expect(p!.defaultAsOf).toBeUndefined();
    expect(p!.runtimeSources.databaseUrl).toBe("default");
  });

  it("finds the config from the first given path, relative to cwd", () => {
    const d = project({ entity: "account", rules: "src/rules", schemas: "/abs/schemas" });
    d.write("src/rules/team/x.seg", "");
    const { project: p, diagnostics } = loadProject({ cwd: d.root, paths: ["src/rules/team/x.seg"], env: {} });
    expect(diagnostics).toEqual([]);
    expect(p!.entity).toBe("account");
    expect(p!.rulesDir).toBe(d.path("src/rules"));
    expect(p!.schemasDir).toBe("/abs/schemas");
  });

  it("uses an explicit --config file or folder", () => {
    const d = project({ entity: "customer" });
    const other = tempDir();
    dirs.push(other);
    expect(loadProject({ cwd: other.root, configPath: d.path("seg.config.json"), env: {} }).project?.root).toBe(d.root);
    expect(loadProject({ cwd: other.root, configPath: d.root, env: {} }).project?.root).toBe(d.root);
    const missing = loadProject({ cwd: other.root, configPath: "nope.json", env: {} });
    expect(missing.project).toBeUndefined();
    expect(missing.diagnostics.map((x) => x.code)).toEqual(["SEG077"]);
    expect(missing.diagnostics[0]!.message).toContain(join(other.root, "nope.json"));
  });

  it("reports SEG076 when no config is found", () => {
    const d = tempDir();
    dirs.push(d);
    const r = loadProject({ cwd: d.root, env: {} });
    expect(r.project).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "SEG076", severity: "error" });
    expect(r.diagnostics[0]!.message).toContain(d.root);
  });

  it("lets the environment win over the config", () => {
    const d = project({
      entity: "customer",
      runtime: { databaseUrl: "postgres://db/prod", kafkaBrokers: ["k1:9092"], redisUrl: "redis://r", topicPrefix: "x.", resultsTopic: "res" },
    });
    const env = {
      SEG_DATABASE_URL: "postgres://env/db",
      SEG_KAFKA_BROKERS: " a:1 , b:2,,",
      SEG_REDIS_URL: "",
      SEG_TOPIC_PREFIX: "env.",
    };
    const { project: p } = loadProject({ cwd: d.root, env });
    expect(p!.runtime).toEqual({
      databaseUrl: "postgres://env/db",
      kafkaBrokers: ["a:1", "b:2"],
      redisUrl: "redis://r",
      topicPrefix: "env.",
      resultsTopic: "res",
      changesTopic: "env.changes",
      deadLetterTopic: "env.dead-letter",
    });
    expect(p!.runtimeSources).toMatchObject({ databaseUrl: "environment", kafkaBrokers: "environment", redisUrl: "config", resultsTopic: "config", changesTopic: "default" });
  });

  it("resolves runtime settings without a project", () => {
    const { settings } = resolveRuntimeSettings(undefined, { SEG_KAFKA_BROKERS: "k:1" });
    expect(settings.kafkaBrokers).toEqual(["k:1"]);
    expect(settings.databaseUrl).toBe("postgres://127.0.0.1:5432/test");
  });

  it("parses durations and defaults", () => {
    const d = project({ entity: "customer", defaultAsOf: "2026-01-01T00:00:00Z", defaults: { refresh: "15 minutes", ttl: "2days" } });
    const { project: p, diagnostics } = loadProject({ cwd: d.root, env: {} });
    expect(diagnostics).toEqual([]);
    expect(p!.defaultAsOf).toBe("2026-01-01T00:00:00Z");
    expect(p!.defaults.refresh).toEqual({ text: "15 minutes", amount: 15, unit: "minute", ms: 900_000 });
    expect(p!.defaults.ttl?.ms).toBe(2 * 86_400_000);
    expect(parseDurationSetting("1_000 seconds")?.ms).toBe(1_000_000);
    expect(parseDurationSetting("soon")).toBeUndefined();
  });

  it("reports bad JSON as SEG075 with its position", () => {
    const d = project('{\n  "entity": "customer"\n  "rules": "r"\n}');
    const r = loadProject({ cwd: d.root, env: {} });
    expect(r.project).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "SEG075", file: d.path("seg.config.json") });
    expect(r.diagnostics[0]!.message).toContain("not valid JSON");
    expect(r.diagnostics[0]!.span.start).toMatchObject({ line: 3, column: 3 });
  });

  it.each([
    [{}, "/entity: is required but missing", "{"],
    [{ entity: "customer", rulez: "x" }, "/rulez: is not a known key", '"rulez"'],
    [{ entity: "Customer" }, "/entity: must match pattern", '"entity"'],
    [{ entity: "customer", runtime: { kafkaBrokers: "k:1" } }, "/runtime/kafkaBrokers: must be array", '"kafkaBrokers"'],
    [{ entity: "customer", defaultAsOf: "yesterday" }, "/defaultAsOf: must be a valid date-time", '"defaultAsOf"'],
    [{ entity: "customer", defaults: { refresh: "often" } }, "/defaults/refresh: must match pattern", '"refresh"'],
    [{ entity: "customer", defaults: { ttl: "0 hours" } }, "/defaults/ttl: must be longer than zero", '"ttl"'],
    [[], "(root): must be object", "["],
  ])("reports an invalid config %j with its JSON pointer", (config, message, focused) => {
    const text = JSON.stringify(config);
    const d = project(text);
    const r = loadProject({ cwd: d.root, env: {} });
    expect(r.project).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    const diag = r.diagnostics[0]!;
    expect(diag).toMatchObject({ code: "SEG075", name: "config-invalid", severity: "error", file: d.path("seg.config.json") });
    expect(diag.message).toContain(message);
    expect(text.slice(diag.span.start.offset, diag.span.end.offset)).toBe(focused);
    expect(diag.span.start.line).toBe(1);
  });
});
