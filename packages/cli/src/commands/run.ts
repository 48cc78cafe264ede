/**
 * `seg run runtime`: the runtime in one process: the watcher, the scheduler, an executor (embedded
 * DuckDB or Spark), the results mover and ingestion, with a Prometheus `/metrics` endpoint. Stops
 * cleanly on SIGTERM and SIGINT. `--once` runs every active pipeline once and exits.
 * `@seg/runtime`'s heavy parts (pg, kafkajs, ioredis, prom-client, DuckDB) load inside the action.
 */
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { loadProject, resolveRuntimeSettings, type RuntimeSettings } from "@seg/compiler";
import { hasErrors, renderDiagnostics } from "@seg/dsl";
import type { RunnerLogLevel, RuntimeSummary } from "@seg/runtime";
import { EXIT, type CliIo } from "../io.js";
import { renderStyle } from "../style.js";
import { parseAsOf, withConfigOption, type ProjectOptions } from "./project-options.js";

interface RunRuntimeOptions extends ProjectOptions {
  engine: "embedded" | "spark";
  stateDir?: string;
  pollInterval: string;
  once?: boolean;
  asOf?: string;
  metricsPort: string;
  jobTimeout: string;
  mover: boolean;
  ingest: boolean;
  redisPrefix?: string;
  logLevel: RunnerLogLevel;
}

/** Registers `seg run` and its subcommand `runtime`. */
export function registerRun(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const run = program.command("run").description("run seg's services");
  withConfigOption(
    run
      .command("runtime")
      .description("run deployed pipelines on schedule: watcher, scheduler, executor, results mover and ingestion in one process")
      .addOption(new Option("--engine <engine>", "where jobs run").choices(["embedded", "spark"]).default("embedded"))
      .option("--state-dir <dir>", "folder of the embedded engine's local event store (default: $SEG_STATE_DIR, else .seg-state)")
      .option("--poll-interval <seconds>", "how often to read the deployed pipelines besides NOTIFY", "5")
      .option("--once", "run every active pipeline once, wait until the results are in Redis, and exit (for tests and cron)")
      .option("--as-of <timestamp>", "with --once: the evaluation time, ISO-8601 (default: now)")
      .option("--metrics-port <port>", "port of the Prometheus /metrics endpoint (0: any free port)", "9464")
      .option("--job-timeout <seconds>", "a job running longer is interrupted and its runs fail", "900")
      .option("--no-mover", "do not move results from the results topic into Redis")
      .option("--no-ingest", "do not validate raw topics into validated topics")
      .option("--redis-prefix <prefix>", "prefix of the mover's own Redis keys and change channels (default: $SEG_REDIS_PREFIX, else seg:)")
      .addOption(new Option("--log-level <level>", "least important log lines shown (on stderr)").choices(["debug", "info", "warn", "error"]).default("info")),
  )
    .addHelpText(
      "after",
      "\nConnections come from seg.config.json's runtime block when a project is found (--config, or upwards from\n" +
        "the working folder), else from SEG_DATABASE_URL, SEG_DB_SCHEMA, SEG_KAFKA_BROKERS, SEG_REDIS_URL and\n" +
        "SEG_TOPIC_PREFIX. Stop with SIGTERM or Ctrl-C: the running job finishes (or is cancelled), then it exits 0.\n" +
        "\nExamples:\n  seg run runtime\n  seg run runtime --once --as-of 2026-11-01T00:00:00Z --metrics-port 0\n",
    )
    .action(async (opts: RunRuntimeOptions) => setExit(await runRuntime(opts, io)));
}

/** The runtime settings: from the project's config when there is one, else from the environment and defaults. */
export function runtimeSettingsFor(command: string, opts: ProjectOptions, io: CliIo): RuntimeSettings | number {
  const loaded = loadProject({ cwd: io.cwd, env: io.env, ...(opts.config ? { configPath: opts.config } : {}) });
  if (loaded.project) return loaded.project.runtime;
  const notFoundOnly = loaded.diagnostics.every((d) => d.name === "config-not-found");
  if (!opts.config && notFoundOnly) return resolveRuntimeSettings(undefined, io.env).settings;
  if (hasErrors(loaded.diagnostics)) {
    const lookup = (f: string | undefined) => {
      try {
        return f === undefined ? undefined : readFileSync(f, "utf8");
      } catch {
        return undefined;
      }
    };
    io.stderr(renderDiagnostics(loaded.diagnostics, lookup, renderStyle(io)) + "\n");
  } else {
    io.stderr(`seg ${command}: cannot load the project configuration\n`);
  }
  return EXIT.usage;
}

const LEVELS: Record<RunnerLogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function number(text: string, what: string, io: CliIo, min = 0): number | undefined {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min) {
    io.stderr(`seg run runtime: ${what} needs a number >= ${min}, not ${JSON.stringify(text)}\n`);
    return undefined;
  }
  return n;
}

async function runRuntime(opts: RunRuntimeOptions, io: CliIo): Promise<number> {
  const settings = runtimeSettingsFor("run runtime", opts, io);
  if (typeof settings === "number") return settings;
  const pollSeconds = number(opts.pollInterval, "--poll-interval", io);
  const metricsPort = number(opts.metricsPort, "--metrics-port", io);
  const jobTimeout = number(opts.jobTimeout, "--job-timeout", io, 1);
  if (pollSeconds === undefined || metricsPort === undefined || jobTimeout === undefined) return EXIT.usage;
  if (!Number.isInteger(metricsPort) || metricsPort > 65535) {
    io.stderr("seg run runtime: --metrics-port needs a port number (0 for any free port)\n");
    return EXIT.usage;
  }
  let asOf: string | undefined;
  if (opts.asOf !== undefined) {
    if (!opts.once) {
      io.stderr("seg run runtime: --as-of needs --once (a running runtime evaluates at each job's start)\n");
      return EXIT.usage;
    }
    asOf = parseAsOf(opts.asOf);
    if (asOf === undefined) {
      io.stderr(`seg run runtime: --as-of ${JSON.stringify(opts.asOf)} is not an ISO-8601 date or timestamp with a zone\n`);
      return EXIT.usage;
    }
  }

  const runtime = await import("@seg/runtime");
  let schema: string;
  try {
    schema = runtime.resolveSchemaName(undefined, io.env);
  } catch (e) {
    io.stderr(`seg run runtime: ${(e as Error).message} (from ${runtime.DB_SCHEMA_ENV})\n`);
    return EXIT.usage;
  }
  const minLevel = LEVELS[opts.logLevel] ?? 1;
  const log = (level: RunnerLogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < minLevel) return;
    const extra = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : "";
    io.stderr(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
  };

  const registry = await runtime.defaultRegistry();

  // Signals are caught from the start: one that arrives while the runtime starts (its first job
  // may already be queued) stops it as soon as it has started.
  let rt: Awaited<ReturnType<typeof runtime.startRuntime>> | undefined;
  let pendingSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log("info", `received ${signal}`);
    if (rt) void rt.stop(signal);
    else pendingSignal ??= signal;
  };
  const stopCatching = () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    rt = await runtime.startRuntime({
      databaseUrl: settings.databaseUrl,
      schema,
      brokers: settings.kafkaBrokers,
      redisUrl: settings.redisUrl,
      resultsTopic: settings.resultsTopic,
      changesTopic: settings.changesTopic,
      deadLetterTopic: settings.deadLetterTopic,
      redisPrefix: opts.redisPrefix ?? (io.env["SEG_REDIS_PREFIX"]?.trim() || "seg:"),
      engine: opts.engine,
      stateDir: opts.stateDir ?? (io.env["SEG_STATE_DIR"]?.trim() || runtime.DEFAULT_STATE_DIR),
      pollIntervalMs: Math.round(pollSeconds * 1000),
      jobTimeoutMs: Math.round(jobTimeout * 1000),
      once: opts.once === true,
      ...(asOf !== undefined ? { asOf } : {}),
      mover: opts.mover,
      ingestion: opts.ingest,
      registry,
      log,
    });
  } catch (e) {
    stopCatching();
    io.stderr(`seg run runtime: cannot start: ${runtime.connectionErrorReason(e)}\n`);
    exitSoon(io, EXIT.failure);
    return EXIT.failure;
  }
  const started = rt;
  if (pendingSignal !== undefined) void started.stop(pendingSignal);

  let server: Awaited<ReturnType<typeof runtime.startMetricsServer>> | undefined;
  try {
    server = await runtime.startMetricsServer({ registry, port: metricsPort, health: () => started.health() });
    io.stdout(`seg runtime: schema ${schema}, engine ${started.engine}; metrics at ${server.url}\n`);
  } catch (e) {
    stopCatching();
    io.stderr(`seg run runtime: cannot serve metrics on port ${metricsPort}: ${(e as Error).message}\n`);
    await started.stop("the metrics port is not available");
    exitSoon(io, EXIT.failure);
    return EXIT.failure;
  }

  let summary: RuntimeSummary;
  try {
    summary = await started.done;
  } finally {
    stopCatching();
    await server.close();
  }
  let code: number = EXIT.ok;
  if (opts.once) {
    for (const r of summary.runs) {
      const parts = [`${r.segment}`, r.status, `run ${r.runId}`];
      if (r.rows !== undefined) parts.push(`${r.rows} members`);
      if (r.moved !== undefined) parts.push(`moved: ${r.moved}`);
      if (r.error !== undefined) parts.push(`error: ${r.error}`);
      io.stdout(`${parts.join("  ")}\n`);
    }
    io.stdout(`seg runtime: ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.cancelled} cancelled\n`);
    const unmoved = summary.runs.some((r) => r.status === "succeeded" && r.moved !== undefined && r.moved !== "applied" && r.moved !== "duplicate");
    if (summary.failed > 0 || unmoved || summary.reason.startsWith("SIG")) code = summary.reason.startsWith("SIG") && summary.failed === 0 ? EXIT.ok : EXIT.failure;
  }
  exitSoon(io, code);
  return code;
}

/**
 * A client library may keep a socket or timer alive after it was closed (or after a failed start):
 * in the real process (not in tests running the CLI in-process), exit anyway shortly after.
 */
function exitSoon(io: CliIo, code: number): void {
  if (io.env === process.env) setTimeout(() => process.exit(code), 3_000).unref();
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
  } catch {
    return String(v);
  }
}
