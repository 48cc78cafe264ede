/**
 * Helpers for the runner's integration tests: services, unique names, a copy of the example
 * project with topics of its own, its specs compiled with a Redis prefix of their own and
 * deployed, the example events produced to raw or validated topics, `seg eval` of the same
 * events, Redis sets read back, and the built CLI run as a child process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Admin, Kafka, Producer } from "kafkajs";
import { buildPipelines, compileProject, type PipelineSpec, type SegSchema } from "@seg/compiler";
import { createKafka, deployProject, validTopic, type SegDb } from "@seg/runtime";
import { TestDatabase, databaseUrl, repoRoot } from "./deploy-fixtures.js";
import { ensureMoverServices, sharedRedisUrl } from "./mover-fixtures.js";

export { databaseUrl, repoRoot } from "./deploy-fixtures.js";

/** The shared Redis (`SEG_REDIS_URL`, default redis://127.0.0.1:6379). */
export const redisUrl = sharedRedisUrl;

/** The built CLI. */
export const cliBin = join(repoRoot, "packages/cli/dist/bin.js");

/** Kafka (started when down) and Redis/PostgreSQL (infra/services.sh when Redis is down): the mover tests' services. */
export async function ensureRunnerServices(): Promise<string[]> {
  return (await ensureMoverServices()).brokers;
}

/** A name no other test uses: `segrun<what><hex>` (valid as a topic prefix part and a Redis prefix). */
export function unique(what: string): string {
  return `segrun-${what}-${randomBytes(4).toString("hex")}`;
}

/** A copy of the example project whose schemas use topics under `topicPrefix` (e.g. `t-abc.`). */
export interface ExampleCopy {
  dir: string;
  topicPrefix: string;
  /** Raw topic of each schema name. */
  topics: Map<string, string>;
  remove(): void;
}

/** Copies `examples/` (with its data) and moves every schema's topic under `topicPrefix`. */
export function copyExamples(topicPrefix: string, edit?: (dir: string) => void): ExampleCopy {
  const dir = mkdtempSync(join(tmpdir(), "seg-runner-example-"));
  cpSync(join(repoRoot, "examples"), dir, { recursive: true });
  const topics = new Map<string, string>();
  for (const f of readdirSync(join(dir, "schemas"))) {
    const file = join(dir, "schemas", f);
    const schema = JSON.parse(readFileSync(file, "utf8")) as { "x-seg": { name: string; topic: string } };
    schema["x-seg"].topic = schema["x-seg"].topic.replace(/^seg\./, topicPrefix);
    topics.set(schema["x-seg"].name, schema["x-seg"].topic);
    writeFileSync(file, JSON.stringify(schema, null, 2) + "\n");
  }
  edit?.(dir);
  return { dir, topicPrefix, topics, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Output settings of a test: topics under the prefix, Redis keys under a prefix of their own. */
export interface TestOutputs {
  resultsTopic: string;
  changesTopic: string;
  deadLetterTopic: string;
  redisPrefix: string;
}

export function testOutputs(topicPrefix: string, redisPrefix: string): TestOutputs {
  return { resultsTopic: `${topicPrefix}results`, changesTopic: `${topicPrefix}changes`, deadLetterTopic: `${topicPrefix}dead-letter`, redisPrefix };
}

/** Compiles a project folder to specs (every segment) with the given outputs. */
export function compileSpecs(dir: string, outputs: TestOutputs): { specs: PipelineSpec[]; schemas: SegSchema[] } {
  const compiled = compileProject({ cwd: dir, env: {}, paths: [] });
  const errors = compiled.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !compiled.lowered) throw new Error(`project does not compile: ${errors.map((d) => d.message).join("; ")}`);
  const names = [...compiled.lowered.segments.keys()];
  const specs = buildPipelines(compiled.lowered, names, { resultsTopic: outputs.resultsTopic, changesTopic: outputs.changesTopic, redisPrefix: outputs.redisPrefix });
  return { specs, schemas: compiled.registry!.schemas };
}

/** Deploys specs and schemas (every spec given; others are retired). */
export async function deploySpecs(db: SegDb, specs: PipelineSpec[], schemas: SegSchema[] = []): Promise<number> {
  const r = await deployProject(db, { specs, schemas, actor: "runner-test" });
  return r.deployId!;
}

/** The example records of one source (`examples/data/<name>.jsonl` of a copy), as lines. */
export function exampleLines(dir: string, source: string): string[] {
  return readFileSync(join(dir, "data", `${source}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}

/** A connected idempotent producer (disconnect it when done). */
export async function testProducer(brokers: readonly string[]): Promise<Producer> {
  const kafka = await createKafka({ brokers, clientId: "seg-runner-test", retries: 5 });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
  await producer.connect();
  return producer;
}

/**
 * What a test of one executor needs: the services, a copy of the example project whose topics are
 * under `<name>.` and whose Redis keys are under `<name>:`, its specs, and Kafka clients.
 */
export interface ExecutorRig {
  brokers: string[];
  copy: ExampleCopy;
  outputs: TestOutputs;
  specs: PipelineSpec[];
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  /** Disconnects the producer and the admin, and removes the copy. */
  close(): Promise<void>;
}

/** Sets up an {@link ExecutorRig}; `clientId` names its Kafka client. */
export async function setUpExecutorRig(name: string, clientId: string): Promise<ExecutorRig> {
  const brokers = await ensureRunnerServices();
  const outputs = testOutputs(`${name}.`, `${name}:`);
  const copy = copyExamples(`${name}.`);
  const specs = compileSpecs(copy.dir, outputs).specs;
  const kafka = await createKafka({ brokers, clientId, retries: 5 });
  const admin = kafka.admin();
  await admin.connect();
  const producer = await testProducer(brokers);
  const close = async () => {
    await producer.disconnect();
    await admin.disconnect();
    copy.remove();
  };
  return { brokers, copy, outputs, specs, kafka, admin, producer, close };
}

/** Produces every example record of each source to its topic (`valid: true`: to the validated topic). */
export async function produceExamples(producer: Producer, copy: ExampleCopy, options: { valid?: boolean; sources?: string[] } = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [name, raw] of copy.topics) {
    if (options.sources && !options.sources.includes(name)) continue;
    const lines = exampleLines(copy.dir, name);
    const topic = options.valid ? validTopic(raw) : raw;
    for (let i = 0; i < lines.length; i += 500) {
      await producer.send({ topic, messages: lines.slice(i, i + 500).map((value) => ({ key: keyOf(value), value })) });
    }
    counts[name] = lines.length;
  }
  return counts;
}

function keyOf(line: string): string | null {
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    const k = v["customer_id"];
    return typeof k === "string" ? k : null;
  } catch {
    return null;
  }
}

/** A run of the built CLI. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to its end. */
export function runBuiltCli(args: string[], env: Record<string, string>, options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawnBuiltCli(args, env, options.cwd);
  return child.result(options.timeoutMs ?? 120_000);
}

/** The built CLI as a child process, with its output collected. */
export interface CliChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits (kills it after `timeoutMs`). */
  result(timeoutMs?: number): Promise<CliResult>;
  /** Resolves when stdout or stderr matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function spawnBuiltCli(args: string[], env: Record<string, string>, cwd = repoRoot): CliChild {
  const child = spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    out += s;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    err += s;
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    result: async (timeoutMs = 120_000) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const { code, signal } = await exited;
      clearTimeout(timer);
      // Let the pipes drain.
      await new Promise((r) => setTimeout(r, 20));
      return { code, signal, stdout: out, stderr: err };
    },
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern) ?? err.match(pattern);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`the process exited before ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
          }
        });
        check();
      }),
  };
}

/** `seg eval` of a project folder over its data at `asOf`: members (and metrics) per segment. */
export async function evalProject(dir: string, asOf: string): Promise<Record<string, { size: number; members: string[]; metrics: Record<string, Record<string, unknown>> }>> {
  const r = await runBuiltCli(["eval", dir, "--data", join(dir, "data"), "--as-of", asOf, "--format", "json", "--metrics"], {});
  if (r.code !== 0) throw new Error(`seg eval failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { segments: Record<string, { size: number; members: string[]; metrics: Record<string, Record<string, unknown>> }> }).segments;
}

/** Deletes every Redis key under `prefix`. */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

/** Sorted members of a Redis set. */
export async function setMembers(redis: Redis, key: string): Promise<string[]> {
  return (await redis.smembers(key)).sort();
}

/** Environment for a CLI child of one test. */
export function cliEnv(options: { schema: string; brokers: readonly string[]; topicPrefix: string; stateDir: string; redisPrefix?: string }): Record<string, string> {
  return {
    SEG_DATABASE_URL: databaseUrl,
    SEG_DB_SCHEMA: options.schema,
    SEG_KAFKA_BROKERS: options.brokers.join(","),
    SEG_REDIS_URL: redisUrl,
    SEG_TOPIC_PREFIX: options.topicPrefix,
    SEG_STATE_DIR: options.stateDir,
    ...(options.redisPrefix ? { SEG_REDIS_PREFIX: options.redisPrefix } : {}),
  };
}

/** A key's content, comparable with `toEqual`: sorted members of a SET, fields of a HASH, a STRING's text. */
export type DumpedValue = { set: string[] } | { hash: Record<string, string> } | { string: string } | { other: string };

/** Every key under `prefix` with its content (TTLs left out). */
export async function dumpRedis(redis: Redis, prefix: string): Promise<Record<string, DumpedValue>> {
  const out: Record<string, DumpedValue> = {};
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === "set") out[key] = { set: (await redis.smembers(key)).sort() };
      else if (type === "hash") out[key] = { hash: await redis.hgetall(key) };
      else if (type === "string") out[key] = { string: (await redis.get(key)) ?? "" };
      else if (type !== "none") out[key] = { other: type };
    }
  } while (cursor !== "0");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined (throws after `timeoutMs`). */
export async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Options of {@link DeployedExamples.setUp}. */
export interface DeployedExamplesOptions {
  /** The specs to deploy (default: all of them). */
  select?: (specs: PipelineSpec[]) => PipelineSpec[];
  /** Produce to the validated topics instead of the raw ones (no ingestion needed). */
  valid?: boolean;
  /** More messages, sent with the same producer after the example events. */
  more?: (producer: Producer, copy: ExampleCopy) => Promise<void>;
}

/**
 * The example project with topics, a Redis prefix and a database schema of its own: compiled,
 * deployed, its events produced. {@link cleanUp} removes all of it, with the folders of
 * {@link tempDir}.
 */
export class DeployedExamples {
  readonly database = new TestDatabase();
  readonly name: string;
  readonly topicPrefix: string;
  readonly redisPrefix: string;
  readonly outputs: TestOutputs;
  brokers: string[] = [];
  copy!: ExampleCopy;
  /** Every compiled spec (deployed or not). */
  specs: PipelineSpec[] = [];
  schemas: SegSchema[] = [];
  db!: SegDb;
  redis!: Redis;
  private readonly dirs: string[] = [];

  constructor(label: string) {
    this.name = unique(label);
    this.topicPrefix = `${this.name}.`;
    this.redisPrefix = `${this.name}:`;
    this.outputs = testOutputs(this.topicPrefix, this.redisPrefix);
  }

  /** Starts the services if needed, then compiles, deploys and produces (see the options). */
  async setUp(options: DeployedExamplesOptions = {}): Promise<this> {
    this.brokers = await ensureRunnerServices();
    this.copy = copyExamples(this.topicPrefix);
    ({ specs: this.specs, schemas: this.schemas } = compileSpecs(this.copy.dir, this.outputs));
    this.db = await this.database.connect();
    await deploySpecs(this.db, options.select ? options.select(this.specs) : this.specs, this.schemas);
    const producer = await testProducer(this.brokers);
    try {
      await produceExamples(producer, this.copy, { valid: options.valid });
      await options.more?.(producer, this.copy);
    } finally {
      await producer.disconnect();
    }
    this.redis = new Redis(redisUrl);
    return this;
  }

  /** The spec of `segment`. */
  spec(segment: string): PipelineSpec {
    const spec = this.specs.find((s) => s.id === segment);
    if (spec === undefined) throw new Error(`no example segment ${segment}`);
    return spec;
  }

  /** A new temporary folder, removed by {@link cleanUp}. */
  tempDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `seg-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** The environment of the built CLI for this project (state in `stateDir`). */
  cliEnv(stateDir: string): Record<string, string> {
    return cliEnv({ schema: this.database.schema, brokers: this.brokers, topicPrefix: this.topicPrefix, stateDir, redisPrefix: this.redisPrefix });
  }

  /** Deletes the Redis keys, drops the schema, removes the copy and the folders. */
  async cleanUp(): Promise<void> {
    if (this.redis !== undefined) {
      await deleteRedisPrefix(this.redis, this.redisPrefix).catch(() => {});
      this.redis.disconnect();
    }
    await this.database.cleanup();
    this.copy?.remove();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}
