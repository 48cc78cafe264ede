/**
 * The Prometheus endpoint: `GET /metrics` serves a prom-client registry in the text format,
 * `GET /healthz` answers `ok` (or 503 with the reason when the caller's health check fails).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  registry: Registry;
  /** 0 picks a free port. */
  port: number;
  /** Default 0.0.0.0 (every interface), so a scraper elsewhere can reach it. */
  host?: string;
  /** Undefined when healthy, else why not (served by `/healthz`). */
  health?: () => string | undefined;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on (the real one when 0 was asked). */
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts the endpoint; rejects when the port is taken. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      options.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": options.registry.contentType });
          res.end(req.method === "HEAD" ? undefined : text);
        })
        .catch((e: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`cannot collect metrics: ${e instanceof Error ? e.message : String(e)}\n`);
        });
      return;
    }
    if (path === "/healthz") {
      const problem = options.health?.();
      res.writeHead(problem === undefined ? 200 : 503, { "content-type": "text/plain" });
      res.end(problem === undefined ? "ok\n" : `${problem}\n`);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics or /healthz\n");
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}/metrics`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** prom-client's default registry, with the process's default metrics (CPU, memory, event loop) collected once. */
export async function defaultRegistry(): Promise<Registry> {
  const prom = await import("prom-client");
  if (prom.register.getSingleMetric("process_cpu_user_seconds_total") === undefined) prom.collectDefaultMetrics({ register: prom.register });
  return prom.register;
}
