/**
 * The server's Prometheus metrics (prom-client, on a registry of the server's own). Request
 * counts and latency histograms are labelled by method, route TEMPLATE (never the raw URL, so the
 * label set stays small) and status code.
 */
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface ServeMetrics {
  registry: Registry;
  requests: Counter<"method" | "route" | "status">;
  duration: Histogram<"method" | "route" | "status">;
  denials: Counter<"reason">;
  auditDropped: Counter;
  changeClients: Gauge;
  changesRecorded: Counter<"result">;
  changesSent: Counter;
  slowClientsClosed: Counter;
}

/** Latency buckets in seconds: fine below 10 ms, where a membership check should be. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Creates the metrics (and Node's default process metrics) on a fresh registry. */
export async function createServeMetrics(): Promise<ServeMetrics> {
  const prom = await import("prom-client");
  const registry = new prom.Registry();
  const registers = [registry];
  prom.collectDefaultMetrics({ register: registry, prefix: "seg_serve_" });
  return {
    registry,
    requests: new prom.Counter({
      name: "seg_serve_http_requests_total",
      help: "HTTP requests answered, by method, route template and status code.",
      labelNames: ["method", "route", "status"] as const,
      registers,
    }),
    duration: new prom.Histogram({
      name: "seg_serve_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by method, route template and status code.",
      labelNames: ["method", "route", "status"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    denials: new prom.Counter({ name: "seg_serve_auth_denials_total", help: "Requests denied (401/403), by reason.", labelNames: ["reason"] as const, registers }),
    auditDropped: new prom.Counter({ name: "seg_serve_audit_dropped_total", help: "Denial audit entries dropped because the queue was full (counted in audit_log).", registers }),
    changeClients: new prom.Gauge({ name: "seg_serve_change_stream_clients", help: "Clients connected to the change stream.", registers }),
    changesRecorded: new prom.Counter({
      name: "seg_serve_changes_recorded_total",
      help: "Change messages received from pub/sub: recorded now, or already recorded (by another server, or published twice).",
      labelNames: ["result"] as const,
      registers,
    }),
    changesSent: new prom.Counter({ name: "seg_serve_change_events_sent_total", help: "Change events sent to stream clients.", registers }),
    slowClientsClosed: new prom.Counter({ name: "seg_serve_change_stream_slow_closed_total", help: "Stream clients disconnected because they did not keep up.", registers }),
  };
}
