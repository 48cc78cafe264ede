/**
 * Project configuration: finding `seg.config.json`, validating it against
 * `schemas/seg-config.schema.json`, applying defaults and environment overrides.
 * Problems are diagnostics (SEG075-SEG077), never exceptions.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { internalAjv, loadBundledSchema, pointerLabel, selectAjvProblems } from "./ajv-setup.js";
import { UNIT_MS, diagnostic, emptySpan, type Diagnostic, type TimeUnit } from "./dsl-imports.js";
import { JsonDocument } from "./json-locate.js";

/** The name of a project's configuration file. */
export const CONFIG_FILE = "seg.config.json";

/** `seg.config.json` as written (after validation). */
export interface SegConfig {
  entity: string;
  schemas?: string;
  rules?: string;
  tests?: string;
  data?: string;
  defaultAsOf?: string;
  defaults?: { refresh?: string; ttl?: string };
  runtime?: Partial<RuntimeSettings>;
}

/** Connection settings for the runtime. */
export interface RuntimeSettings {
  databaseUrl: string;
  kafkaBrokers: string[];
  redisUrl: string;
  topicPrefix: string;
  resultsTopic: string;
  changesTopic: string;
  deadLetterTopic: string;
}

/** Where a runtime setting came from. */
export type SettingSource = "environment" | "config" | "default";

/** A parsed duration setting such as `"1 hour"`. */
export interface DurationSetting {
  text: string;
  amount: number;
  unit: TimeUnit;
  ms: number;
}

/** A resolved seg project. Every folder is absolute. */
export interface Project {
  /** The folder holding `seg.config.json`. */
  root: string;
  configPath: string;
  /** The default entity of segments. */
  entity: string;
  schemasDir: string;
  rulesDir: string;
  testsDir: string;
  dataDir: string;
  /** The default evaluation time (ISO-8601), if configured. */
  defaultAsOf?: string;
  defaults: { refresh?: DurationSetting; ttl?: DurationSetting };
  runtime: RuntimeSettings;
  runtimeSources: Record<keyof RuntimeSettings, SettingSource>;
  /** The configuration as written. */
  config: SegConfig;
}

/** Options for {@link loadProject}. */
export interface LoadProjectOptions {
  /** Files or folders the command works on; the config is searched upwards from the first. */
  paths?: string[];
  /** An explicit config file (or a folder holding one), e.g. from `--config`. */
  configPath?: string;
  /** The working directory relative paths are resolved against. */
  cwd: string;
  /** The environment (normally `process.env`). */
  env: Record<string, string | undefined>;
}

/** The result of {@link loadProject}: a project when there were no errors. */
export interface ProjectResult {
  project?: Project;
  diagnostics: Diagnostic[];
}

/** Default runtime settings, used when neither the environment nor the config sets them. */
export const RUNTIME_DEFAULTS: Readonly<Pick<RuntimeSettings, "databaseUrl" | "kafkaBrokers" | "redisUrl" | "topicPrefix">> =
  Object.freeze({
    databaseUrl: "postgres://127.0.0.1:5432/test",
    kafkaBrokers: Object.freeze(["127.0.0.1:9092"]) as unknown as string[],
    redisUrl: "redis://127.0.0.1:6379",
    topicPrefix: "seg.",
  });

/** The environment variable for each runtime setting. */
export const RUNTIME_ENV: Readonly<Record<keyof RuntimeSettings, string>> = Object.freeze({
  databaseUrl: "SEG_DATABASE_URL",
  kafkaBrokers: "SEG_KAFKA_BROKERS",
  redisUrl: "SEG_REDIS_URL",
  topicPrefix: "SEG_TOPIC_PREFIX",
  resultsTopic: "SEG_RESULTS_TOPIC",
  changesTopic: "SEG_CHANGES_TOPIC",
  deadLetterTopic: "SEG_DEAD_LETTER_TOPIC",
});

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Walks from `startPath` (a file or folder) upwards to the first `seg.config.json`; its absolute path. */
export function findConfig(startPath: string): string | undefined {
  let dir = resolve(startPath);
  for (;;) {
    const candidate = join(dir, CONFIG_FILE);
    if (isFile(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const DURATION = /^([0-9][0-9_]*(?:\.[0-9]+)?) *(second|minute|hour|day|week)s?$/;

/** Parses a duration setting such as `"15 minutes"`; undefined when it is not one. */
export function parseDurationSetting(text: string): DurationSetting | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const amount = Number(m[1]!.replaceAll("_", ""));
  const unit = m[2] as TimeUnit;
  return { text, amount, unit, ms: amount * UNIT_MS[unit] };
}

function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** Resolves runtime settings: the environment wins over the config, which wins over the defaults. */
export function resolveRuntimeSettings(
  configured: Partial<RuntimeSettings> | undefined,
  env: Record<string, string | undefined>,
): { settings: RuntimeSettings; sources: Record<keyof RuntimeSettings, SettingSource> } {
  const sources: Record<keyof RuntimeSettings, SettingSource> = {
    databaseUrl: "default",
    kafkaBrokers: "default",
    redisUrl: "default",
    topicPrefix: "default",
    resultsTopic: "default",
    changesTopic: "default",
    deadLetterTopic: "default",
  };
  const pick = <K extends keyof RuntimeSettings>(key: K, fromEnv: RuntimeSettings[K] | undefined, fallback: () => RuntimeSettings[K]) => {
    const fromConfig = configured?.[key];
    if (fromEnv !== undefined) {
      sources[key] = "environment";
      return fromEnv;
    }
    if (fromConfig !== undefined) {
      sources[key] = "config";
      return fromConfig as RuntimeSettings[K];
    }
    sources[key] = "default";
    return fallback();
  };
  const str = (key: keyof RuntimeSettings) => envValue(env, RUNTIME_ENV[key]);
  const brokersEnv = str("kafkaBrokers")
    ?.split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  const topicPrefix = pick("topicPrefix", str("topicPrefix"), () => RUNTIME_DEFAULTS.topicPrefix);
  const settings: RuntimeSettings = {
    databaseUrl: pick("databaseUrl", str("databaseUrl"), () => RUNTIME_DEFAULTS.databaseUrl),
    kafkaBrokers: [...pick("kafkaBrokers", brokersEnv?.length ? brokersEnv : undefined, () => [...RUNTIME_DEFAULTS.kafkaBrokers])],
    redisUrl: pick("redisUrl", str("redisUrl"), () => RUNTIME_DEFAULTS.redisUrl),
    topicPrefix,
    resultsTopic: pick("resultsTopic", str("resultsTopic"), () => `${topicPrefix}results`),
    changesTopic: pick("changesTopic", str("changesTopic"), () => `${topicPrefix}changes`),
    deadLetterTopic: pick("deadLetterTopic", str("deadLetterTopic"), () => `${topicPrefix}dead-letter`),
  };
  return { settings, sources };
}

/** Reads and validates one config file. */
export function readConfigFile(configPath: string): { config?: SegConfig; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "the file does not exist" : String((e as Error).message ?? e);
    return { diagnostics: [diagnostic("fileUnreadable", emptySpan(), [configPath, reason], { file: configPath })] };
  }
  const doc = JsonDocument.parse(text);
  if (doc.error) {
    const msg = `${CONFIG_FILE} is not valid JSON: ${doc.error.message}`;
    return { diagnostics: [diagnostic("configInvalid", doc.error.span, [msg], { file: configPath })] };
  }
  const validate = internalAjv().getSchema(configSchemaId()) ?? internalAjv().compile(loadBundledSchema("seg-config.schema.json"));
  const problem = (pointer: string, message: string) =>
    diagnostic("configInvalid", doc.locate(pointer).focus, [`${pointerLabel(pointer)}: ${message}`], { file: configPath });
  if (!validate(doc.value)) {
    return { diagnostics: selectAjvProblems(validate.errors).map((p) => problem(p.pointer, p.message)) };
  }
  const config = doc.value as SegConfig;
  const diagnostics: Diagnostic[] = [];
  for (const key of ["refresh", "ttl"] as const) {
    const text = config.defaults?.[key];
    if (text !== undefined && !(parseDurationSetting(text)!.ms > 0)) {
      diagnostics.push(problem(`/defaults/${key}`, "must be longer than zero"));
    }
  }
  return diagnostics.length > 0 ? { diagnostics } : { config, diagnostics };
}

function configSchemaId(): string {
  return String(loadBundledSchema("seg-config.schema.json").$id);
}

function locateConfig(options: LoadProjectOptions): { path?: string; diagnostics: Diagnostic[] } {
  const cwd = resolve(options.cwd);
  if (options.configPath !== undefined) {
    let path = isAbsolute(options.configPath) ? options.configPath : resolve(cwd, options.configPath);
    if (isDirectory(path)) path = join(path, CONFIG_FILE);
    return { path, diagnostics: [] };
  }
  const first = options.paths?.[0];
  const start = first === undefined ? cwd : resolve(cwd, first);
  const path = findConfig(start);
  if (path) return { path, diagnostics: [] };
  return { diagnostics: [diagnostic("configNotFound", emptySpan(), [start])] };
}

/**
 * Finds and loads the project: from `configPath` when given, else upwards from the first of
 * `paths`, else upwards from `cwd`. Applies defaults and environment overrides.
 */
export function loadProject(options: LoadProjectOptions): ProjectResult {
  const located = locateConfig(options);
  if (!located.path) return { diagnostics: located.diagnostics };
  const configPath = located.path;
  const { config, diagnostics } = readConfigFile(configPath);
  if (!config) return { diagnostics };
  const root = dirname(configPath);
  const folder = (value: string | undefined, fallback: string) => resolve(root, value ?? fallback);
  const { settings, sources } = resolveRuntimeSettings(config.runtime, options.env);
  const defaults: Project["defaults"] = {};
  for (const key of ["refresh", "ttl"] as const) {
    const text = config.defaults?.[key];
    const parsed = text === undefined ? undefined : parseDurationSetting(text);
    if (parsed) defaults[key] = parsed;
  }
  const project: Project = {
    root,
    configPath,
    entity: config.entity,
    schemasDir: folder(config.schemas, "schemas"),
    rulesDir: folder(config.rules, "rules"),
    testsDir: folder(config.tests, "tests"),
    dataDir: folder(config.data, "data"),
    defaults,
    runtime: settings,
    runtimeSources: sources,
    config,
  };
  if (config.defaultAsOf !== undefined) project.defaultAsOf = config.defaultAsOf;
  return { project, diagnostics };
}
