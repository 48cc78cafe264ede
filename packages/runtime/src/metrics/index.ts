/** The runner's Prometheus metrics and the `/metrics` HTTP endpoint. */
export { RUNNER_METRIC_NAMES, createRunnerMetrics } from "./runner-metrics.js";
export type { RunnerMetrics } from "./runner-metrics.js";
export { defaultRegistry, startMetricsServer } from "./metrics-server.js";
export type { MetricsServer, MetricsServerOptions } from "./metrics-server.js";
