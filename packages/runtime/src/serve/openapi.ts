/**
 * An OpenAPI 3.1 document generated from the routes' own schemas (the ones Fastify validates and
 * serialises with), plus each operation's roles from the permission table. OpenAPI 3.1 uses JSON
 * Schema 2020-12, so the route schemas go in unchanged.
 */
import { PERMISSIONS, PUBLIC, type ApiOperation } from "../auth/permissions.js";

/** What the generator needs of a route. */
export interface RouteDoc {
  method: string;
  /** Fastify's path, e.g. `/v1/segments/:segment`. */
  url: string;
  op: ApiOperation;
  schema: {
    operationId?: string;
    summary?: string;
    description?: string;
    params?: JsonObject;
    querystring?: JsonObject;
    response?: Record<string, unknown>;
  };
  /** Response media types by status (default application/json). */
  mediaTypes?: Record<string, string[]>;
}

type JsonObject = { properties?: Record<string, unknown>; required?: readonly string[] } & Record<string, unknown>;

const STATUS_TEXT: Record<string, string> = {
  "101": "Switching Protocols (WebSocket)",
  "200": "OK",
  "400": "Bad request: a parameter is invalid or too long",
  "401": "Unauthorized: missing, malformed, unknown, revoked or expired token",
  "403": "Forbidden: the token's role may not do this",
  "404": "Not found",
  "409": "Conflict",
  "500": "Internal error",
  "503": "Unavailable (Redis or PostgreSQL)",
};

/** `/v1/segments/:segment` → `/v1/segments/{segment}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(where: "path" | "query", schema: JsonObject | undefined): unknown[] {
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, s]) => {
    const { description, ...rest } = s as Record<string, unknown>;
    const array = rest["type"] === "array";
    return {
      name,
      in: where,
      required: where === "path" ? true : required.has(name),
      ...(description !== undefined ? { description } : {}),
      schema: rest,
      ...(array ? { style: "form", explode: true } : {}),
    };
  });
}

/** The OpenAPI document of `routes`. */
export function buildOpenApi(routes: readonly RouteDoc[], info: { title: string; version: string; description?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const perm = PERMISSIONS[r.op];
    const roles = perm === PUBLIC ? "public: no token needed" : `roles: ${perm.join(", ")}`;
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(r.schema.response ?? {})) {
      const types = r.mediaTypes?.[status] ?? ["application/json"];
      responses[status] = {
        description: STATUS_TEXT[status] ?? "",
        content: Object.fromEntries(types.map((t) => [t, { schema }])),
      };
    }
    if (r.op === "GET /v1/changes") responses["101"] = { description: STATUS_TEXT["101"] };
    const op: Record<string, unknown> = {
      operationId: r.schema.operationId ?? `${r.method.toLowerCase()}${r.url.replace(/[^A-Za-z0-9]+/g, "_")}`,
      summary: r.schema.summary ?? "",
      description: `${r.schema.description ?? r.schema.summary ?? ""}\n\nAccess: ${roles}.`,
      "x-seg-roles": perm === PUBLIC ? [] : [...perm],
      parameters: [...parameters("path", r.schema.params), ...parameters("query", r.schema.querystring)],
      responses,
      security: perm === PUBLIC ? [] : [{ bearer: [] }],
    };
    (paths[openApiPath(r.url)] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A seg token (`seg token create`): `Authorization: Bearer seg_<id>_<secret>`." },
      },
    },
    paths,
  };
}
