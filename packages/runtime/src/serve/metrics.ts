/**
 * The server's Prometheus metrics (prom-client, on a registry of the server's own). Request
 * counts and latency histograms are labelled by method, route TEMPLATE (never the raw URL, so the
 * label set stays small) and status code.
 *
 * The two per-request metrics are kept by {@link HttpRequestStats}: plain counters per route and
 * status, found without building or hashing a label set (prom-client's `observe` does both on
 * every call), and turned into prom-client's exposition values only when `/metrics` is scraped.
 */
import type { Counter, Gauge, Metric, Registry } from "prom-client";

export interface ServeMetrics {
  registry: Registry;
  /** `seg_serve_http_requests_total` and `seg_serve_http_request_duration_seconds`. */
  http: HttpRequestStats;
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
    http: new HttpRequestStats(registry),
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

/** One (method, route, status) series: count, sum and per-bucket (not cumulative) counts; the last bucket is +Inf. */
interface Series {
  labels: { method: string; route: string; status: string };
  count: number;
  sum: number;
  buckets: Float64Array;
}

/** The request counts and latencies of one route (method and template), by status code. */
export class RouteStats {
  private readonly byStatus = new Map<number, Series>();

  constructor(
    private readonly method: string,
    private readonly route: string,
    private readonly all: Series[],
  ) {}

  /** Counts one answered request that took `seconds`. */
  record(status: number, seconds: number): void {
    let s = this.byStatus.get(status);
    if (s === undefined) {
      s = { labels: { method: this.method, route: this.route, status: String(status) }, count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS.length + 1) };
      this.byStatus.set(status, s);
      this.all.push(s);
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    s.buckets[i]!++;
  }
}

/** HTTP request counts and latency histograms by method, route template and status (see the module comment). */
export class HttpRequestStats {
  private readonly all: Series[] = [];
  private readonly routes = new Map<string, RouteStats>();

  constructor(registry: Registry) {
    const labelNames = ["method", "route", "status"];
    const requests = {
      name: "seg_serve_http_requests_total",
      help: "HTTP requests answered, by method, route template and status code.",
      type: "counter",
      aggregator: "sum",
      labelNames,
      get: async () => ({
        name: requests.name,
        help: requests.help,
        type: requests.type,
        aggregator: requests.aggregator,
        values: this.all.map((s) => ({ labels: { ...s.labels }, value: s.count })),
      }),
      reset: () => this.reset(),
    };
    const duration = {
      name: "seg_serve_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by method, route template and status code.",
      type: "histogram",
      aggregator: "sum",
      labelNames,
      get: async () => {
        const values: { labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName: string }[] = [];
        for (const s of this.all) {
          let acc = 0;
          for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
            acc += s.buckets[i]!;
            values.push({ labels: { le: LATENCY_BUCKETS[i]! }, sharedLabels: s.labels, value: acc, metricName: `${duration.name}_bucket` });
          }
          values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: `${duration.name}_bucket` });
          values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${duration.name}_sum` });
          values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${duration.name}_count` });
        }
        return { name: duration.name, help: duration.help, type: duration.type, aggregator: duration.aggregator, values };
      },
      reset: () => this.reset(),
    };
    registry.registerMetric(requests as unknown as Metric);
    registry.registerMetric(duration as unknown as Metric);
  }

  /** The stats of one route (created on first use; keep the result: it is the cheap path). */
  forRoute(method: string, route: string): RouteStats {
    const key = `${method} ${route}`;
    let r = this.routes.get(key);
    if (r === undefined) {
      r = new RouteStats(method, route, this.all);
      this.routes.set(key, r);
    }
    return r;
  }

  private reset(): void {
    for (const s of this.all) {
      s.count = 0;
      s.sum = 0;
      s.buckets.fill(0);
    }
  }
}
