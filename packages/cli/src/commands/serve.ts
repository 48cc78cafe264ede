/**
 * `seg serve`: the HTTP/WebSocket API over Redis and the deploy store, until SIGINT or SIGTERM.
 * fastify, ioredis and pg load inside the action only.
 */
import type { Command } from "commander";
import { loadProject, resolveRuntimeSettings, type RuntimeSettings } from "@seg/compiler";
import { EXIT, type CliIo } from "../io.js";
import { withConfigOption, type ProjectOptions } from "./project-options.js";

interface ServeCommandOptions extends ProjectOptions {
  host: string;
  port: string;
  redisPrefix: string;
}

/** Registers `seg serve`. */
export function registerServe(program: Command, io: CliIo, setExit: (code: number) => void): void {
  withConfigOption(
    program
      .command("serve")
      .description("serve segment memberships from Redis over HTTP and WebSocket, behind tokens and roles")
      .option("--host <host>", "address to listen on", "127.0.0.1")
      .option("--port <port>", "port to listen on (0: any free port)", "8080")
      .option("--redis-prefix <prefix>", "prefix of seg's Redis keys and change channels", "seg:"),
  )
    .addHelpText(
      "after",
      "\nEvery route but /healthz, /readyz and /openapi.json needs 'Authorization: Bearer <token>' (seg token create).\n" +
        "Routes: GET /v1/segments, /v1/segments/{segment}, /v1/segments/{segment}/members?cursor=&limit=,\n" +
        "/v1/segments/{segment}/members/{entityId}, /v1/entities/{entityId}/segments, /v1/changes (WebSocket or SSE),\n" +
        "/v1/schemas, /v1/streams, /metrics; the full description is GET /openapi.json.\n" +
        "\nExamples:\n  seg serve --port 8080\n  curl -H \"Authorization: Bearer $TOKEN\" localhost:8080/v1/segments\n",
    )
    .action(async (opts: ServeCommandOptions) => setExit(await runServe(opts, io)));
}

function settingsFor(opts: ProjectOptions, io: CliIo): RuntimeSettings | number {
  const loaded = loadProject({ cwd: io.cwd, env: io.env, ...(opts.config ? { configPath: opts.config } : {}) });
  if (loaded.project) return loaded.project.runtime;
  if (!opts.config && loaded.diagnostics.every((d) => d.name === "config-not-found")) return resolveRuntimeSettings(undefined, io.env).settings;
  io.stderr(`seg serve: ${loaded.diagnostics.map((d) => d.message).join("; ")}\n`);
  return EXIT.usage;
}

async function runServe(opts: ServeCommandOptions, io: CliIo): Promise<number> {
  const port = Number(opts.port);
  if (!/^\d{1,5}$/.test(opts.port) || port > 65_535) {
    io.stderr(`seg serve: invalid --port '${opts.port}'\n`);
    return EXIT.usage;
  }
  if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(opts.redisPrefix)) {
    io.stderr(`seg serve: invalid --redis-prefix '${opts.redisPrefix}'\n`);
    return EXIT.usage;
  }
  const settings = settingsFor(opts, io);
  if (typeof settings === "number") return settings;
  const runtime = await import("@seg/runtime");
  let schema: string;
  try {
    schema = runtime.resolveSchemaName(undefined, io.env);
  } catch (e) {
    io.stderr(`seg serve: ${(e as Error).message} (from ${runtime.DB_SCHEMA_ENV})\n`);
    return EXIT.usage;
  }
  let server: Awaited<ReturnType<typeof runtime.createServer>>;
  try {
    server = await runtime.createServer({
      databaseUrl: settings.databaseUrl,
      schema,
      redisUrl: settings.redisUrl,
      redisPrefix: opts.redisPrefix,
      log: (level, message) => io.stderr(`${new Date().toISOString()} ${level} ${message}\n`),
    });
  } catch (e) {
    io.stderr(`seg serve: cannot start: ${runtime.connectionErrorReason(e)}\n`);
    return EXIT.failure;
  }
  let address: string;
  try {
    address = await server.listen({ host: opts.host, port });
  } catch (e) {
    await server.close();
    io.stderr(`seg serve: cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  io.stdout(`${runtime.describeServer(address, settings, schema)}\n`);
  if (server.verifier.size === 0) {
    io.stderr("note: no tokens exist yet, so every route but /healthz, /readyz and /openapi.json answers 401; create one with 'seg token create --role admin --name NAME --bootstrap'\n");
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  io.stdout("seg serve: shutting down\n");
  await server.close();
  return EXIT.ok;
}
