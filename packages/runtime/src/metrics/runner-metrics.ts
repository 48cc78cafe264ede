/**
 * Prometheus metrics of the runner (watcher, scheduler, executors), registered on a caller's
 * prom-client `Registry` (found again, not registered twice, when a registry already has them).
 * prom-client is loaded on first use.
 *
 *   seg_run_duration_seconds{segment,engine,status}   one run of one segment, queued job start to end
 *   seg_runs_total{segment,status}                    runs by outcome (succeeded, failed, cancelled)
 *   seg_run_failures_total{segment,reason}            failed runs (error, timeout, combined, ...)
 *   seg_run_rows{segment}                             members in the segment's last successful run
 *   seg_run_last_success_timestamp_seconds{segment}   when the segment last ran successfully
 *   seg_jobs_total{engine,status}                     jobs (one combined plan each)
 *   seg_job_duration_seconds{engine}                  one job: read new events, evaluate, write results
 *   seg_job_pipelines                                 pipelines per job
 *   seg_runner_events_loaded_total{source}            events loaded into the embedded store
 *   seg_runner_active_pipelines                       active pipelines the watcher sees
 *   seg_runner_queued_jobs                            jobs waiting for the executor
 *   seg_watcher_reloads_total{reason}                 reads of the deployed state (start, notify, poll, reconnect)
 *   seg_watcher_errors_total                          failed reads and dropped LISTEN connections
 */
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The runner's metrics. */
export interface RunnerMetrics {
  registry: Registry;
  runDuration: Histogram<"segment" | "engine" | "status">;
  runs: Counter<"segment" | "status">;
  runFailures: Counter<"segment" | "reason">;
  runRows: Gauge<"segment">;
  lastSuccess: Gauge<"segment">;
  jobs: Counter<"engine" | "status">;
  jobDuration: Histogram<"engine">;
  jobPipelines: Histogram;
  eventsLoaded: Counter<"source">;
  activePipelines: Gauge;
  queuedJobs: Gauge;
  watcherReloads: Counter<"reason">;
  watcherErrors: Counter;
}

/** Metric names. */
export const RUNNER_METRIC_NAMES = Object.freeze({
  runDuration: "seg_run_duration_seconds",
  runs: "seg_runs_total",
  runFailures: "seg_run_failures_total",
  runRows: "seg_run_rows",
  lastSuccess: "seg_run_last_success_timestamp_seconds",
  jobs: "seg_jobs_total",
  jobDuration: "seg_job_duration_seconds",
  jobPipelines: "seg_job_pipelines",
  eventsLoaded: "seg_runner_events_loaded_total",
  activePipelines: "seg_runner_active_pipelines",
  queuedJobs: "seg_runner_queued_jobs",
  watcherReloads: "seg_watcher_reloads_total",
  watcherErrors: "seg_watcher_errors_total",
});

const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Creates (or finds, when already registered) the runner metrics on `registry` (a fresh one when omitted). */
export async function createRunnerMetrics(registry?: Registry): Promise<RunnerMetrics> {
  const prom = await import("prom-client");
  const reg = registry ?? new prom.Registry();
  const registers = [reg];
  const n = RUNNER_METRIC_NAMES;
  const get = <T>(name: string, make: () => T): T => (reg.getSingleMetric(name) as T | undefined) ?? make();
  return {
    registry: reg,
    runDuration: get(
      n.runDuration,
      () =>
        new prom.Histogram({
          name: n.runDuration,
          help: "Duration of one run of a segment (its job's start to its end), by outcome.",
          labelNames: ["segment", "engine", "status"] as const,
          buckets: DURATION_BUCKETS,
          registers,
        }),
    ),
    runs: get(n.runs, () => new prom.Counter({ name: n.runs, help: "Runs of segments, by outcome (succeeded, failed, cancelled).", labelNames: ["segment", "status"] as const, registers })),
    runFailures: get(
      n.runFailures,
      () => new prom.Counter({ name: n.runFailures, help: "Failed runs of segments, by reason (error, timeout, output, stuck).", labelNames: ["segment", "reason"] as const, registers }),
    ),
    runRows: get(n.runRows, () => new prom.Gauge({ name: n.runRows, help: "Members in the last successful run of a segment.", labelNames: ["segment"] as const, registers })),
    lastSuccess: get(
      n.lastSuccess,
      () => new prom.Gauge({ name: n.lastSuccess, help: "Unix time of the end of the last successful run of a segment.", labelNames: ["segment"] as const, registers }),
    ),
    jobs: get(n.jobs, () => new prom.Counter({ name: n.jobs, help: "Jobs (one combined plan, one scan of each source), by outcome.", labelNames: ["engine", "status"] as const, registers })),
    jobDuration: get(
      n.jobDuration,
      () => new prom.Histogram({ name: n.jobDuration, help: "Duration of one job: read new events, evaluate, write results.", labelNames: ["engine"] as const, buckets: DURATION_BUCKETS, registers }),
    ),
    jobPipelines: get(
      n.jobPipelines,
      () => new prom.Histogram({ name: n.jobPipelines, help: "Pipelines evaluated together in one job.", buckets: [1, 2, 3, 5, 10, 20, 50, 100], registers }),
    ),
    eventsLoaded: get(
      n.eventsLoaded,
      () => new prom.Counter({ name: n.eventsLoaded, help: "Events and profile records loaded into the embedded store, by source.", labelNames: ["source"] as const, registers }),
    ),
    activePipelines: get(n.activePipelines, () => new prom.Gauge({ name: n.activePipelines, help: "Active pipelines seen by the watcher.", registers })),
    queuedJobs: get(n.queuedJobs, () => new prom.Gauge({ name: n.queuedJobs, help: "Jobs waiting for the executor.", registers })),
    watcherReloads: get(
      n.watcherReloads,
      () => new prom.Counter({ name: n.watcherReloads, help: "Reads of the deployed pipelines, by trigger (start, notify, poll, reconnect).", labelNames: ["reason"] as const, registers }),
    ),
    watcherErrors: get(n.watcherErrors, () => new prom.Counter({ name: n.watcherErrors, help: "Failed reads of the deployed pipelines and dropped LISTEN connections.", registers })),
  };
}
