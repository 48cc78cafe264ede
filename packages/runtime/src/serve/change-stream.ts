/**
 * `GET /v1/changes`: enter and exit events over WebSocket, or Server-Sent Events for plain HTTP
 * requests, resumable with `since` (or `Last-Event-ID`); each open stream's token is checked
 * again when tokens change and every `streamRecheckMs`; slow clients are disconnected.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from "fastify";
import type { WebSocket } from "ws";
import { bearerToken } from "../auth/access.js";
import type { StreamEvent } from "./changes.js";
import { HttpError } from "./errors.js";
import { routeSchemas } from "./schemas.js";
import type { AppDeps, RouteFn } from "./server.js";

/** An open change stream, re-checked when tokens change. */
interface OpenStream {
  presented: string | undefined | null;
  close(code: number, reason: string): void;
}

/** Registers the change stream route on `app` (the WebSocket plugin only in its own context). */
export async function registerChangeStream(app: FastifyInstance, d: AppDeps, route: RouteFn): Promise<void> {
  const { default: websocket } = await import("@fastify/websocket");
  const { redis, catalog, verifier, hub, metrics } = d;
  const streams = new Set<OpenStream>();
  const recheck = () => {
    for (const st of streams) {
      if (!verifier.check(st.presented, "GET /v1/changes").ok) st.close(4401, "token no longer valid");
    }
  };
  verifier.on("reload", recheck);
  const recheckTimer = setInterval(recheck, d.options.streamRecheckMs ?? 10_000);
  recheckTimer.unref();
  const maxClients = d.options.maxStreamClients ?? 10_000;
  const bufferLimit = d.options.streamBufferBytes ?? 4 * 1024 * 1024;

  interface StreamParams {
    segments: Set<string> | null;
    since: bigint | null;
  }
  const streamParams = new WeakMap<FastifyRequest, StreamParams>();

  const subscribeClient = async (req: FastifyRequest, send: (e: StreamEvent | Record<string, unknown>) => boolean, isOpen: () => boolean) => {
    const params = streamParams.get(req)!;
    const position = (await redis.get(`${d.prefix}serve:changes:seq`)) ?? "0";
    const sub = await hub.subscribe({
      segments: params.segments,
      since: params.since,
      allSegments: () => [...catalog.list().map((x) => x.name), ...catalog.retired()],
      send: (e) => {
        const ok = send(e);
        if (ok && e.type === "change") metrics.changesSent.inc();
        return ok;
      },
    });
    if (!isOpen()) {
      sub.close();
      return undefined;
    }
    send({ type: "ready", segments: params.segments ? [...params.segments] : null, since: params.since === null ? null : String(params.since), position });
    return sub;
  };

  // The WebSocket plugin (its hooks and its wrapper around every handler) only in the context of
  // this one route; the other routes do not pay for it. Upgrades elsewhere are ended by `endUpgrade`.
  await app.register(async (streaming) => {
    await streaming.register(websocket, { options: { maxPayload: 4_096 } });
    route(
      "GET /v1/changes",
      {
        schema: routeSchemas.changes,
        preHandler: async (req, reply) => {
          const q = req.query as { segment?: string[]; since?: string };
          let names: Set<string> | null = null;
          if (q.segment !== undefined) {
            names = new Set(q.segment.flatMap((x) => x.split(",")).map((x) => x.trim()).filter((x) => x !== ""));
            if (names.size === 0 || names.size > 100) throw new HttpError(400, "bad-request", "give 1 to 100 segment names");
            for (const n of names) if (!catalog.get(n)) throw new HttpError(404, "not-found", "no such segment");
          }
          let sinceText = q.since;
          const lastEventId = req.headers["last-event-id"];
          if (sinceText === undefined && typeof lastEventId === "string" && lastEventId !== "") {
            if (!/^[0-9]{1,19}$/.test(lastEventId)) throw new HttpError(400, "bad-request", "invalid Last-Event-ID");
            sinceText = lastEventId;
          }
          if (hub.clients >= maxClients) {
            return reply.code(503).send({ error: "unavailable", message: "too many stream clients; try again later" });
          }
          streamParams.set(req, { segments: names, since: sinceText === undefined ? null : BigInt(sinceText) });
          return undefined;
        },
        // Server-Sent Events for plain HTTP requests.
        handler: async (req, reply) => {
          reply.hijack();
          const res = reply.raw;
          res.writeHead(200, {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-store",
            connection: "keep-alive",
            "x-accel-buffering": "no",
          });
          let open = true;
          const stream: OpenStream = {
            presented: bearerToken(req.headers.authorization),
            close: (_code, reason) => {
              if (!open) return;
              res.write(`event: error\ndata: ${JSON.stringify({ type: "error", message: reason })}\n\n`);
              end();
            },
          };
          const end = () => {
            if (!open) return;
            open = false;
            streams.delete(stream);
            clearInterval(ping);
            sub?.close();
            res.end();
          };
          const send = (e: StreamEvent | Record<string, unknown>) => {
            if (!open) return false;
            if (res.writableLength > bufferLimit) {
              metrics.slowClientsClosed.inc();
              stream.close(1013, "too slow: reconnect with since=<last id>");
              return false;
            }
            const id = e.type === "change" ? `id: ${String(e["id"])}\n` : "";
            res.write(`${id}event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`);
            return true;
          };
          const ping = setInterval(() => open && res.write(": ping\n\n"), 15_000);
          ping.unref();
          streams.add(stream);
          req.raw.on("close", end);
          let sub: { close(): void } | undefined;
          try {
            sub = await subscribeClient(req, send, () => open);
          } catch (e) {
            d.log("warn", `change stream: ${(e as Error).message}`);
            stream.close(1011, "internal error");
          }
        },
        wsHandler: (socket: WebSocket, req: FastifyRequest) => {
          let open = true;
          let sub: { close(): void } | undefined;
          const stream: OpenStream = {
            presented: bearerToken(req.headers.authorization),
            close: (code, reason) => {
              if (open) socket.close(code, reason);
            },
          };
          streams.add(stream);
          socket.on("message", () => {}); // clients have nothing to say; pings are answered by ws
          socket.on("close", () => {
            open = false;
            streams.delete(stream);
            sub?.close();
          });
          const send = (e: StreamEvent | Record<string, unknown>) => {
            if (!open || socket.readyState !== 1) return false;
            if (socket.bufferedAmount > bufferLimit) {
              metrics.slowClientsClosed.inc();
              socket.close(1013, "too slow: reconnect with since=<last id>");
              return false;
            }
            socket.send(JSON.stringify(e));
            return true;
          };
          subscribeClient(req, send, () => open).then(
            (x) => (sub = x),
            (e: Error) => {
              d.log("warn", `change stream: ${e.message}`);
              if (open) socket.close(1011, "internal error");
            },
          );
        },
      } as Omit<RouteOptions, "method" | "url">,
      { "200": ["text/event-stream"] },
      streaming,
    );
  });

  app.addHook("preClose", (done) => {
    clearInterval(recheckTimer);
    for (const st of [...streams]) st.close(1001, "server shutting down");
    done();
  });
}
