/**
 * The runtime in one process: the watcher (which pipelines are active), the scheduler (when they
 * run, which run together), an executor (embedded DuckDB or Spark), the runs table, the results
 * mover (results topic → Redis) and ingestion (raw topics → validated topics), with metrics.
 *
 * Jobs run one at a time, in the order they fell due. Every pipeline of a job has a row in `runs`
 * from the moment the job is queued; a job that outlives `jobTimeoutMs` is interrupted and its
 * runs are failed with the reason; a failure is logged, counted and recorded, and the schedule goes
 * on. `stop()` takes no new jobs, gives the running one `shutdownGraceMs` to finish, then cancels
 * it (its runs `cancelled`), stops the consumers and closes every connection.
 *
 * `once`: read the state, let ingestion catch up, run every active pipeline once (at `asOf` when
 * given), wait until the mover has applied every successful run, then stop.
 *
 * Retired segments: their Redis keys are deleted in the background (retired-cleanup.ts) when the
 * watcher sees a retirement, at start for retirements not cleaned up yet, and again when the mover
 * applied a run of a segment after it was retired; `once` does a pass before it stops.
 */
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { join } from "node:path";
import type { SchemaRegistry } from "@seg/compiler";
import type { Admin, Kafka, Producer } from "kafkajs";
import type { Registry } from "prom-client";
import { openDatabase, type SegDb } from "../db/connection.js";
import { createKafka } from "../kafka/admin.js";
import { createRunnerMetrics, type RunnerMetrics } from "../metrics/runner-metrics.js";
import type { ActivePipeline, PipelineChange } from "./active-pipelines.js";
import { readDeployedSchemas, schemasKey } from "./deployed-schemas.js";
import { createEmbeddedExecutor } from "./embedded-executor.js";
import { retentionOf, type EngineName, type Executor, type SegmentOutcome } from "./executor.js";
import { errorMessage, silentLog, type RunnerLog } from "./log.js";
import { RetiredCleaner, createCleanupMetrics, type RetiredCleanerOptions } from "./retired-cleanup.js";
import { ReconnectingDb, RunsStore } from "./runs-store.js";
import { Scheduler, type Job, type ScheduleEntry } from "./scheduler.js";
import { createSparkExecutor } from "./spark-executor.js";
import { startWatcher, type ReloadReason, type Watcher } from "./watcher.js";

/** Default folder of the embedded executor's state (`SEG_STATE_DIR` overrides it in the CLI). */
export const DEFAULT_STATE_DIR = ".seg-state";

/** Options of {@link startRuntime}. */
export interface RuntimeOptions {
  databaseUrl: string;
  /** seg's PostgreSQL schema (validated). */
  schema: string;
  brokers: readonly string[];
  redisUrl: string;
  /** The results topic the mover reads (jobs write to each spec's `outputs.resultsTopic`). */
  resultsTopic: string;
  changesTopic: string;
  deadLetterTopic: string;
  /** Prefix of the mover's own Redis keys and of the changes channels (default `seg:`). */
  redisPrefix?: string;
  engine?: EngineName;
  /** Root of the local state; the store of a schema is `<stateDir>/<schema>` (default `.seg-state`). */
  stateDir?: string;
  /** How often the watcher polls the deployed state (default 5 s). */
  pollIntervalMs?: number;
  /** Pipelines due within this long are taken together (default 5 s). */
  slackMs?: number;
  maxPipelinesPerJob?: number;
  /** A job running longer is interrupted and its runs failed (default 15 minutes). */
  jobTimeoutMs?: number;
  /** How long `stop()` lets a running job finish before cancelling it (default 10 s). */
  shutdownGraceMs?: number;
  /** Run every active pipeline once, wait for the mover, stop. */
  once?: boolean;
  /** Evaluation time of `once` runs (ISO-8601); default: each job's start. */
  asOf?: string;
  /** Start the results mover (default true). */
  mover?: boolean;
  /** Start ingestion of the deployed schemas' raw topics (default true). */
  ingestion?: boolean;
  /** `once`: how long to wait for ingestion to catch up (default 60 s) and for the mover to apply runs (default 60 s). */
  ingestWaitMs?: number;
  moverWaitMs?: number;
  /** Where metrics are registered (the runner's, the mover's, ingestion's); a fresh registry when omitted. */
  registry?: Registry;
  log?: RunnerLog;
  /** The clock (tests). */
  now?: () => number;
  /** See the embedded executor's `readIdleMs`. */
  readIdleMs?: number;
  /**
   * Consumer-group session timeout of the mover and ingestion (default 30 s): how long a runtime
   * that died (kill -9) holds their partitions before its restart (or a standby) gets them.
   */
  sessionTimeoutMs?: number;
  /**
   * Delete retired segments' Redis keys (default: when the mover runs). See retired-cleanup.ts;
   * `batchSize` and `onBatch` (tests) go to the cleanup.
   */
  cleanupRetired?: boolean | Pick<RetiredCleanerOptions, "batchSize" | "onBatch" | "retryMinMs" | "retryMaxMs">;
}

/** One finished run. */
export interface RunRecord {
  runId: string;
  segment: string;
  version: string;
  job: string;
  engine: EngineName;
  asOf: string;
  status: "succeeded" | "failed" | "cancelled";
  rows?: number;
  error?: string;
  durationMs: number;
  /** What the mover did with it (`once` only): applied, stale, duplicate, ... or `timeout`. */
  moved?: string;
}

/** What a runtime did, when it stopped. */
export interface RuntimeSummary {
  runs: RunRecord[];
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Why it stopped. */
  reason: string;
}

/** A running runtime. */
export interface Runtime {
  /** Emits `run` (RunRecord), `job-start` (Job), `job-end` (Job), `pipelines` (active pipelines, change), `stopped` (summary). */
  readonly events: EventEmitter;
  /** Resolves when the runtime has stopped (after `stop()`, or after a `once` pass). */
  readonly done: Promise<RuntimeSummary>;
  stop(reason?: string): Promise<RuntimeSummary>;
  readonly metrics: RunnerMetrics;
  readonly engine: EngineName;
  readonly executor: Executor;
  pipelines(): readonly ActivePipeline[];
  schedule(): ScheduleEntry[];
  /** Undefined when healthy, else why not (for `/healthz`). */
  health(): string | undefined;
  /** Reads the deployed state now. */
  refresh(): Promise<void>;
}

interface Queued {
  job: Job;
  runIds: Map<string, string>;
}

/** Starts the runtime. Rejects when PostgreSQL or Kafka cannot be reached, or the engine is not available. */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const log = options.log ?? silentLog;
  const now = options.now ?? Date.now;
  const engine: EngineName = options.engine ?? "embedded";
  const schema = options.schema;
  const events = new EventEmitter();
  const metrics = await createRunnerMetrics(options.registry);
  const registry = metrics.registry;
  const jobTimeoutMs = options.jobTimeoutMs ?? 15 * 60_000;
  const graceMs = options.shutdownGraceMs ?? 10_000;
  const once = options.once === true;

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => log("warn", `shutting down: ${errorMessage(e)}`));
  };

  // Connections are named after the schema too (`pg_stat_activity.application_name`), so an
  // operator (or a test) can tell the runtimes of several schemas apart.
  const runsDb = new ReconnectingDb(options.databaseUrl, schema, `seg runtime ${schema}`, log);
  cleanups.push(() => runsDb.close());
  const runs = new RunsStore(runsDb);
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let executor: Executor;
  try {
    await runs.migrate();
    const orphans = await runs.failOrphans();
    if (orphans.length > 0) log("warn", `failed ${orphans.length} runs left behind by a runtime that stopped on this host`, { runs: orphans.map((o) => `${o.segment}#${o.id}`) });

    kafka = await createKafka({ brokers: options.brokers, clientId: `seg-runtime-${schema}`, retries: 5, connectTimeoutMs: 3_000 });
    admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await ensureTopics(admin, [options.resultsTopic, options.changesTopic], log);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
    await producer.connect();
    cleanups.push(() => producer.disconnect());

    if (engine === "spark") {
      executor = await createSparkExecutor({ brokers: options.brokers, log, timeoutMs: jobTimeoutMs });
    } else {
      executor = await createEmbeddedExecutor({
        stateDir: join(options.stateDir ?? DEFAULT_STATE_DIR, schema),
        kafka,
        admin,
        producer,
        groupId: `seg-runner.${schema}.${hostname()}.${process.pid}`,
        log,
        metrics,
        ...(options.readIdleMs !== undefined ? { readIdleMs: options.readIdleMs } : {}),
      });
    }
    const ex = executor;
    cleanups.push(() => ex.close());
  } catch (e) {
    await cleanup();
    throw e;
  }

  // --- scheduling -------------------------------------------------------------------------------

  const scheduler = new Scheduler({
    ...(options.slackMs !== undefined ? { slackMs: options.slackMs } : {}),
    ...(options.maxPipelinesPerJob !== undefined ? { maxPipelinesPerJob: options.maxPipelinesPerJob } : {}),
  });
  let active = new Map<string, ActivePipeline>();
  const queue: Queued[] = [];
  const records: RunRecord[] = [];
  let stopping = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  let current: { job: Job; controller: AbortController; cancelled: string | undefined; done: Promise<void> } | undefined;
  let pumping = false;
  let enqueuing: Promise<void> = Promise.resolve();

  const record = (r: RunRecord) => {
    records.push(r);
    events.emit("run", r);
  };

  /** Queues jobs (runs rows `queued`) and starts the worker. */
  const enqueue = (jobs: Job[]): Promise<void> => {
    enqueuing = enqueuing.then(async () => {
      for (const job of jobs) {
        if (stopping) {
          scheduler.complete(job);
          continue;
        }
        try {
          const runIds = await runs.queue(job, engine);
          queue.push({ job, runIds });
          metrics.queuedJobs.set(queue.length);
          log("info", `queued ${job.id}: ${job.pipelines.map((p) => p.segment).join(", ")}`);
        } catch (e) {
          // Not even recorded: the pipelines stay due and are taken again at the next wake.
          scheduler.complete(job);
          metrics.jobs.inc({ engine, status: "failed" });
          log("error", `cannot record the runs of ${job.id} (${job.pipelines.map((p) => p.segment).join(", ")}): ${errorMessage(e)}`);
        }
      }
    });
    return enqueuing.then(() => pump());
  };

  const wake = () => {
    if (stopping || once) return;
    if (wakeTimer) clearTimeout(wakeTimer);
    wakeTimer = undefined;
    const jobs = scheduler.takeDue(now());
    if (jobs.length > 0) void enqueue(jobs);
    const next = scheduler.nextDueAt();
    if (next !== undefined) {
      wakeTimer = setTimeout(wake, Math.min(60_000, Math.max(10, next - now())));
    }
  };

  /** Runs queued jobs one after another. */
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (!stopping && queue.length > 0) {
        const q = queue.shift()!;
        metrics.queuedJobs.set(queue.length);
        await execute(q);
      }
    } finally {
      pumping = false;
    }
  };

  const execute = async ({ job, runIds }: Queued): Promise<void> => {
    // Pipelines retired or changed since the job was made do not run in it.
    const pipelines: ActivePipeline[] = [];
    for (const p of job.pipelines) {
      const cur = active.get(p.segment);
      const id = runIds.get(p.segment)!;
      const reason = cur === undefined ? "retired before its job started" : cur.version !== p.version ? `superseded by version ${cur.version} before its job started` : undefined;
      if (reason === undefined) {
        pipelines.push(p);
        continue;
      }
      await runs.cancel([id], reason).catch((e: unknown) => log("error", `cannot record run ${id}: ${errorMessage(e)}`));
      record({ runId: id, segment: p.segment, version: p.version, job: job.id, engine, asOf: "", status: "cancelled", error: reason, durationMs: 0 });
    }
    if (pipelines.length === 0) {
      scheduler.complete(job);
      return;
    }
    const asOf = options.asOf ?? new Date(now()).toISOString();
    const started = now();
    const ids = pipelines.map((p) => runIds.get(p.segment)!);
    const controller = new AbortController();
    let finish!: () => void;
    const state = { job: { ...job, pipelines }, controller, cancelled: undefined as string | undefined, done: new Promise<void>((r) => (finish = r)) };
    current = state;
    events.emit("job-start", state.job);
    metrics.jobPipelines.observe(pipelines.length);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log("error", `${job.id} timed out after ${Math.round(jobTimeoutMs / 1000)} s; interrupting it`);
      controller.abort();
      executor.interrupt();
    }, jobTimeoutMs);
    try {
      try {
        await runs.start(ids, asOf);
      } catch (e) {
        log("error", `cannot record the start of ${job.id}: ${errorMessage(e)}`);
      }
      let outcome;
      try {
        outcome = await executor.run({ id: job.id, pipelines, runIds, asOf, retention: retentionOf([...active.values()]), prune: options.asOf === undefined, signal: controller.signal });
      } catch (e) {
        outcome = { segments: new Map<string, SegmentOutcome>(pipelines.map((p) => [p.segment, { status: "failed", error: errorMessage(e), reason: "error" } as const])), details: {}, isolate: [] };
      }
      clearTimeout(timer);
      const durationMs = now() - started;
      let failedAny = false;
      for (const p of pipelines) {
        const id = runIds.get(p.segment)!;
        let o: SegmentOutcome = outcome.segments.get(p.segment) ?? { status: "failed", error: "the executor returned no outcome", reason: "error" };
        if (timedOut && o.status === "failed") o = { status: "failed", error: `timed out after ${Math.round(jobTimeoutMs / 1000)} s (interrupted)`, reason: "error" };
        const base = { runId: id, segment: p.segment, version: p.version, job: job.id, engine, asOf, durationMs };
        const details = { ...outcome.details, ...(o.status === "succeeded" && o.details ? o.details : {}) };
        try {
          if (o.status === "succeeded") {
            await runs.succeed(id, o.rows, details);
            record({ ...base, status: "succeeded", rows: o.rows });
            metrics.runs.inc({ segment: p.segment, status: "succeeded" });
            metrics.runRows.set({ segment: p.segment }, o.rows);
            metrics.lastSuccess.set({ segment: p.segment }, now() / 1000);
          } else if (o.reason === "cancelled" && state.cancelled !== undefined && !timedOut) {
            await runs.cancel([id], state.cancelled);
            record({ ...base, status: "cancelled", error: state.cancelled });
            metrics.runs.inc({ segment: p.segment, status: "cancelled" });
          } else {
            failedAny = true;
            await runs.fail([id], o.error, details);
            record({ ...base, status: "failed", error: o.error });
            metrics.runs.inc({ segment: p.segment, status: "failed" });
            metrics.runFailures.inc({ segment: p.segment, reason: timedOut ? "timeout" : o.reason });
            log("error", `run ${id} of ${p.segment} failed: ${o.error}`, { job: job.id, version: p.version });
          }
        } catch (e) {
          log("error", `cannot record the end of run ${id} of ${p.segment}: ${errorMessage(e)} (the sweep will fail it)`);
        }
        const status = o.status === "succeeded" ? "succeeded" : o.reason === "cancelled" && state.cancelled !== undefined ? "cancelled" : "failed";
        metrics.runDuration.observe({ segment: p.segment, engine, status }, durationMs / 1000);
      }
      for (const segment of outcome.isolate) {
        const p = pipelines.find((x) => x.segment === segment);
        if (p) {
          scheduler.isolate(p.segment, p.version);
          log("warn", `${p.segment} failed in a combined query and alone: it runs in jobs of its own from now on`);
        }
      }
      metrics.jobs.inc({ engine, status: state.cancelled !== undefined ? "cancelled" : failedAny || timedOut ? "failed" : "succeeded" });
      metrics.jobDuration.observe({ engine }, durationMs / 1000);
      log("info", `${job.id} done in ${durationMs} ms at as_of ${asOf}`, { pipelines: pipelines.length, failed: failedAny });
    } finally {
      clearTimeout(timer);
      current = undefined;
      scheduler.complete(job);
      events.emit("job-end", state.job);
      finish();
      if (!once) setImmediate(wake);
    }
  };

  // --- ingestion --------------------------------------------------------------------------------

  type IngestionHandle = { stop(): Promise<void>; topics: readonly string[]; groupId: string };
  let ingestion: IngestionHandle | undefined;
  let ingestionKey = "";
  /** The connection the running ingestion records its progress on. */
  let ingestionDb: SegDb | undefined;
  let ingestDb: SegDb | undefined;
  let ingestionChain: Promise<void> = Promise.resolve();
  const ingestGroup = `seg-ingest.${schema}`;
  let ingestRetry: NodeJS.Timeout | undefined;
  let ingestRetryMs = 500;
  /** Tries `syncIngestion` again later (PostgreSQL or Kafka was not reachable). */
  const retryIngestion = () => {
    if (stopping || ingestRetry) return;
    const wait = ingestRetryMs;
    ingestRetryMs = Math.min(ingestRetryMs * 2, 10_000);
    ingestRetry = setTimeout(() => {
      ingestRetry = undefined;
      void syncIngestion();
    }, wait);
    ingestRetry.unref();
  };
  /**
   * Ingestion's own connection (its progress rows). When it drops (PostgreSQL restarted, the
   * backend was terminated), ingestion is restarted on a new one: its progress writes would fail
   * on the dead one for good. Exactly once holds across the restart (transactions, compare-and-set).
   */
  const openIngestDb = async (): Promise<SegDb> => {
    const db = await openDatabase({ url: options.databaseUrl, schema, applicationName: `seg runtime ingestion ${schema}` });
    let lost = false;
    const onLost = (e?: Error) => {
      if (lost || stopping || ingestDb !== db) return;
      lost = true;
      log("warn", `ingestion's database connection dropped${e ? ` (${e.message})` : ""}; restarting ingestion on a new connection`);
      ingestDb = undefined;
      void db.close();
      void syncIngestion();
    };
    db.client.on("error", onLost);
    db.client.on("end", () => onLost());
    return db;
  };
  const syncIngestion = (): Promise<void> => {
    if (options.ingestion === false) return Promise.resolve();
    ingestionChain = ingestionChain.then(async () => {
      if (stopping) return;
      try {
        const db = (ingestDb ??= await openIngestDb());
        const { registry: schemas, refs, problems } = await readDeployedSchemas(db);
        for (const p of problems) log("warn", `ingestion skips ${p}`);
        const key = schemasKey(refs);
        if (key === ingestionKey && ingestion && ingestionDb === db) return;
        if (ingestion) {
          log("info", ingestionDb !== db ? "restarting ingestion on a new database connection" : "deployed schemas changed: restarting ingestion");
          await ingestion.stop().catch((e: unknown) => log("warn", `stopping ingestion: ${errorMessage(e)}`));
          ingestion = undefined;
        }
        ingestionKey = key;
        ingestionDb = db;
        if (refs.length === 0) return;
        ingestion = await startIngestionFor(schemas, db);
        ingestRetryMs = 500;
        log("info", `ingesting ${ingestion.topics.length} raw topics (group ${ingestGroup})`, { topics: ingestion.topics });
      } catch (e) {
        ingestionKey = "";
        log("error", `ingestion could not start: ${errorMessage(e)}; trying again`);
        retryIngestion();
      }
    });
    return ingestionChain;
  };
  const startIngestionFor = async (schemas: SchemaRegistry, db: SegDb): Promise<IngestionHandle> => {
    const { startIngestion } = await import("../ingest/ingester.js");
    return startIngestion({
      brokers: options.brokers,
      groupId: ingestGroup,
      registry: schemas,
      deadLetterTopic: options.deadLetterTopic,
      db,
      metrics: registry,
      ...(options.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      log: (level, message, fields) => log(level, `ingest: ${message}`, fields),
    });
  };

  // --- mover ------------------------------------------------------------------------------------

  type MoverHandle = Awaited<ReturnType<typeof import("../mover/mover.js").startMover>>;
  let mover: MoverHandle | undefined;

  // --- retired segments' Redis keys -------------------------------------------------------------

  let cleaner: RetiredCleaner | undefined;
  let cleanerRedis: import("ioredis").Redis | undefined;

  /**
   * Redis restarted (its run_id changed) without the data (no persistence, or lost): the served
   * results of pipelines whose meta hash is gone are run again now, not at their next refresh.
   */
  let redisRunId: string | undefined;
  const checkRedisRestart = async (r: import("ioredis").Redis): Promise<void> => {
    try {
      const id = /run_id:(\w+)/.exec(await r.info("server"))?.[1];
      if (redisRunId === undefined || id === undefined || id === redisRunId) {
        redisRunId ??= id;
        return;
      }
      redisRunId = id;
      const missing: string[] = [];
      for (const p of active.values()) if ((await r.exists(p.spec.outputs.redis.metaKey)) === 0) missing.push(p.segment);
      const due = scheduler.runSoon(missing, now());
      log("warn", `Redis restarted (new run_id)${due.length > 0 ? `: the results of ${due.length} segments are gone; running them again now` : " with every segment's results"}`, {
        segments: due,
      });
      if (due.length > 0) wake();
    } catch (e) {
      log("warn", `cannot check Redis after it reconnected: ${errorMessage(e)}`);
    }
  };

  // --- watcher ----------------------------------------------------------------------------------

  let watcher: Watcher | undefined;
  const onChange = (pipelines: readonly ActivePipeline[], change: PipelineChange & { reason: ReloadReason }) => {
    active = new Map(pipelines.map((p) => [p.segment, p]));
    scheduler.sync(pipelines, now());
    const topics = new Set(pipelines.map((p) => p.spec.outputs.resultsTopic));
    for (const t of topics) if (t !== options.resultsTopic && options.mover !== false) log("warn", `some pipelines write to ${t}, but the mover reads ${options.resultsTopic}`);
    events.emit("pipelines", pipelines, change);
    if (change.removed.length > 0 && !once) void cleaner?.sweep();
    if (change.reason !== "start") void syncIngestion();
    wake();
  };

  let resolveDone!: (s: RuntimeSummary) => void;
  const done = new Promise<RuntimeSummary>((r) => (resolveDone = r));
  let stopped: Promise<RuntimeSummary> | undefined;
  const summary = (reason: string): RuntimeSummary => ({
    runs: records,
    succeeded: records.filter((r) => r.status === "succeeded").length,
    failed: records.filter((r) => r.status === "failed").length,
    cancelled: records.filter((r) => r.status === "cancelled").length,
    reason,
  });

  const stop = (reason = "stopped"): Promise<RuntimeSummary> =>
    (stopped ??= (async () => {
      stopping = true;
      log("info", `stopping (${reason})`);
      if (wakeTimer) clearTimeout(wakeTimer);
      await watcher?.stop().catch(() => {});
      await enqueuing.catch(() => {});
      // Queued jobs never start.
      for (const q of queue.splice(0)) {
        const ids = [...q.runIds.values()];
        await runs.cancel(ids, `the runtime stopped (${reason}) before the job started`).catch((e: unknown) => log("error", `cannot cancel runs ${ids.join(", ")}: ${errorMessage(e)}`));
        for (const p of q.job.pipelines) {
          record({ runId: q.runIds.get(p.segment)!, segment: p.segment, version: p.version, job: q.job.id, engine, asOf: "", status: "cancelled", error: "the runtime stopped before the job started", durationMs: 0 });
        }
        scheduler.complete(q.job);
      }
      metrics.queuedJobs.set(0);
      // The running job gets a grace period, then is cancelled.
      const running = current;
      if (running) {
        const finished = await Promise.race([running.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
        if (!finished) {
          log("warn", `cancelling ${running.job.id}: still running ${Math.round(graceMs / 1000)} s after the stop`);
          running.cancelled = `cancelled: the runtime stopped (${reason}) while it ran`;
          running.controller.abort();
          executor.interrupt();
          await Promise.race([running.done, new Promise<void>((r) => setTimeout(r, 30_000).unref())]);
        }
      }
      if (ingestRetry) clearTimeout(ingestRetry);
      await ingestionChain.catch(() => {});
      await ingestion?.stop().catch((e: unknown) => log("warn", `stopping ingestion: ${errorMessage(e)}`));
      await cleaner?.close();
      cleanerRedis?.disconnect();
      await mover?.stop().catch((e: unknown) => log("warn", `stopping the mover: ${errorMessage(e)}`));
      await ingestDb?.close();
      await cleanup();
      const s = summary(reason);
      log("info", `stopped: ${s.succeeded} runs succeeded, ${s.failed} failed, ${s.cancelled} cancelled`);
      events.emit("stopped", s);
      resolveDone(s);
      return s;
    })());

  try {
    if (options.mover !== false) {
      const { startMover } = await import("../mover/mover.js");
      mover = await startMover({
        brokers: options.brokers,
        groupId: `seg-mover.${schema}`,
        resultsTopic: options.resultsTopic,
        changesTopic: options.changesTopic,
        redisUrl: options.redisUrl,
        redisPrefix: options.redisPrefix ?? "seg:",
        lookupSegment: (segment) => active.get(segment)?.spec.outputs,
        ...(options.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
        registry,
        log: (level, message, fields) => log(level, `mover: ${message}`, fields),
      });
    }
    const cleanupOption = options.cleanupRetired ?? options.mover !== false;
    if (cleanupOption !== false) {
      const { Redis: RedisClient } = await import("ioredis");
      const r = new RedisClient(options.redisUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 2,
        retryStrategy: (times) => Math.min(100 * times, 2_000),
        connectionName: `seg-runtime-cleanup:${schema}`,
      });
      let lastError = "";
      r.on("error", (e: Error) => {
        if (e.message !== lastError) log("warn", `cleanup redis: ${e.message}`);
        lastError = e.message;
      });
      r.on("ready", () => {
        lastError = "";
        if (!once) void checkRedisRestart(r);
      });
      cleanerRedis = r;
      await r.connect();
      cleaner = new RetiredCleaner({
        db: runsDb,
        redis: r,
        prefix: options.redisPrefix ?? "seg:",
        isActive: (segment) => active.has(segment),
        // Retired members leave: their exits go to the changes topic too (keyed by entity, as the mover's).
        sendChanges: async (changes) => {
          await producer.send({ topic: options.changesTopic, messages: changes.map((c) => ({ key: c.entityId, value: JSON.stringify(c) })) });
        },
        metrics: await createCleanupMetrics(registry),
        log,
        ...(typeof cleanupOption === "object" ? cleanupOption : {}),
      });
      // A run the mover applied after its segment was retired (its lookup came first): clean again.
      const c = cleaner;
      mover?.events.on("applied", (o: { segment: string }) => {
        if (!active.has(o.segment) && !stopping) void c.again(o.segment);
      });
    }
    watcher = await startWatcher({
      databaseUrl: options.databaseUrl,
      schema,
      onChange,
      pollIntervalMs: once ? 0 : (options.pollIntervalMs ?? 5_000),
      applicationName: `seg runtime watcher ${schema}`,
      log,
      metrics,
    });
    await syncIngestion();
  } catch (e) {
    stopping = true;
    await watcher?.stop().catch(() => {});
    await ingestion?.stop().catch(() => {});
    await cleaner?.close();
    cleanerRedis?.disconnect();
    await mover?.stop().catch(() => {});
    await ingestDb?.close();
    await cleanup();
    throw e;
  }

  // Runs stuck in another (dead or hung) process are failed once they are past the timeout.
  const sweepTimer = setInterval(
    () => {
      runs
        .sweepStuck(jobTimeoutMs + 60_000)
        .then((stuck) => {
          for (const s of stuck) {
            metrics.runFailures.inc({ segment: s.segment, reason: "stuck" });
            log("error", `run ${s.id} of ${s.segment} was stuck past the timeout; marked failed`);
          }
        })
        .catch((e: unknown) => log("warn", `the stuck-run sweep failed: ${errorMessage(e)}`));
    },
    Math.max(30_000, options.pollIntervalMs ?? 5_000),
  );
  sweepTimer.unref();
  cleanups.push(async () => clearInterval(sweepTimer));

  const runtime: Runtime = {
    events,
    done,
    stop,
    metrics,
    engine,
    executor: executor!,
    pipelines: () => [...active.values()],
    schedule: () => scheduler.snapshot(),
    health: () => (stopping ? "stopping" : watcher && !watcher.connected() ? "the watcher's database connection is down (reconnecting)" : undefined),
    refresh: () => watcher?.refresh() ?? Promise.resolve(),
  };

  if (once) {
    void (async () => {
      try {
        if (ingestion) await waitForIngestion(admin!, ingestion, options.ingestWaitMs ?? 60_000, log);
        if (stopping) return;
        const jobs = scheduler.takeAll(now());
        if (jobs.length === 0) log("info", "no active pipelines: nothing to run");
        await enqueue(jobs);
        await pump();
        if (mover) {
          const m = mover;
          await Promise.all(
            records
              .filter((r) => r.status === "succeeded")
              .map(async (r) => {
                try {
                  r.moved = (await m.waitForRun(r.segment, r.runId, options.moverWaitMs ?? 60_000)).status;
                } catch (e) {
                  r.moved = "timeout";
                  log("error", `the mover did not apply run ${r.runId} of ${r.segment}: ${errorMessage(e)}`);
                }
              }),
          );
        }
        if (!stopping) await cleaner?.sweep();
      } catch (e) {
        log("error", `the run failed: ${errorMessage(e)}`);
      }
      await stop("once: every pipeline ran");
    })();
  } else {
    wake();
    void cleaner?.sweep();
  }
  return runtime;
}

/** Creates the topics that do not exist yet (the broker's defaults for partitions and replication). */
async function ensureTopics(admin: Admin, topics: readonly string[], log: RunnerLog): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = [...new Set(topics)].filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
    log("info", `created topics ${missing.join(", ")}`);
  } catch (e) {
    // Another process may have created them meanwhile.
    const now = new Set(await admin.listTopics());
    if (missing.some((t) => !now.has(t))) throw e;
  }
}

/** Waits until ingestion has committed everything on its raw topics (or `timeoutMs` passed). */
async function waitForIngestion(admin: Admin, ingestion: { topics: readonly string[]; groupId: string }, timeoutMs: number, log: RunnerLog): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let behind = 0;
    try {
      for (const topic of ingestion.topics) {
        const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: ingestion.groupId, topics: [topic] })]);
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        for (const h of high) {
          const c = done.get(h.partition) ?? -1n;
          const end = BigInt(h.high);
          if (end > BigInt(h.low) && c < end) behind += Number(end - (c < 0n ? BigInt(h.low) : c));
        }
      }
    } catch (e) {
      log("debug", `ingestion progress not known yet: ${errorMessage(e)}`);
      behind = -1;
    }
    if (behind === 0) return;
    if (Date.now() > deadline) {
      log("warn", `ingestion has not caught up after ${Math.round(timeoutMs / 1000)} s (${behind} events behind); running anyway`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
