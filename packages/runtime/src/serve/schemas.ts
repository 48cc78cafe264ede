/**
 * Request and response JSON Schemas of every route. Fastify validates requests with them (ajv)
 * and serialises responses with them (fast-json-stringify); `/openapi.json` is generated from them.
 */

/** Longest segment name and entity id accepted in a path (longer: 400). */
export const MAX_SEGMENT_NAME = 200;
export const MAX_ENTITY_ID = 256;
/** Members per page: default and most. */
export const DEFAULT_PAGE_LIMIT = 1_000;
export const MAX_PAGE_LIMIT = 10_000;

/** No control characters (C0, DEL): they have no place in names or ids and break logs. */
const NO_CONTROL = "^[^\\u0000-\\u001f\\u007f]+$";

export const segmentName = {
  type: "string",
  minLength: 1,
  maxLength: MAX_SEGMENT_NAME,
  pattern: NO_CONTROL,
  description: "A deployed segment's name.",
} as const;

export const entityId = {
  type: "string",
  minLength: 1,
  maxLength: MAX_ENTITY_ID,
  pattern: NO_CONTROL,
  description: "An entity (customer) id; URL-encode '/', '?', '#' and '%'.",
} as const;

const nullableString = { type: ["string", "null"] } as const;
const dateTime = { type: "string", format: "date-time" } as const;
const nullableDateTime = { type: ["string", "null"], format: "date-time" } as const;

export const errorBody = {
  type: "object",
  required: ["error", "message"],
  properties: {
    error: { type: "string", description: "A stable code: bad-request, unauthorized, forbidden, not-found, snapshot-changed, unavailable, internal." },
    message: { type: "string" },
  },
  additionalProperties: false,
} as const;

/** Error responses every protected route can give. */
const protectedErrors = { 400: errorBody, 401: errorBody, 403: errorBody, 500: errorBody, 503: errorBody } as const;

/** The data of a segment's last completed run in Redis (its `meta` hash), or null before the first. */
const snapshot = {
  type: ["object", "null"],
  required: ["runId"],
  properties: {
    runId: { type: "string" },
    version: nullableString,
    asOf: nullableString,
    size: { type: ["integer", "null"] },
    completedAt: nullableString,
  },
  additionalProperties: false,
} as const;

const lastRun = {
  type: ["object", "null"],
  required: ["id", "status", "version", "startedAt"],
  properties: {
    id: { type: "string" },
    status: { type: "string", enum: ["queued", "running", "succeeded", "failed", "cancelled"] },
    version: { type: "string" },
    engine: nullableString,
    asOf: nullableDateTime,
    startedAt: dateTime,
    endedAt: nullableDateTime,
    rows: { type: ["integer", "null"] },
    error: nullableString,
  },
  additionalProperties: false,
} as const;

const segmentSummaryProps = {
  name: { type: "string" },
  title: nullableString,
  description: nullableString,
  owner: nullableString,
  tags: { type: "array", items: { type: "string" } },
  entity: { type: "string" },
  version: { type: "string", description: "The deployed pipeline version." },
  deployedAt: dateTime,
  size: { type: "integer", description: "Members now (SCARD of the members set)." },
  data: snapshot,
  lastRun,
} as const;

export const segmentSummary = {
  type: "object",
  required: ["name", "entity", "version", "size", "data", "lastRun"],
  properties: segmentSummaryProps,
  additionalProperties: false,
} as const;

export const segmentDetail = {
  type: "object",
  required: ["name", "entity", "version", "size", "data", "lastRun", "metrics", "refreshSeconds", "ttlSeconds"],
  properties: {
    ...segmentSummaryProps,
    metrics: {
      type: "array",
      items: { type: "object", required: ["name", "type"], properties: { name: { type: "string" }, type: { type: "string" } }, additionalProperties: false },
    },
    refreshSeconds: { type: "number" },
    ttlSeconds: { type: "number" },
  },
  additionalProperties: false,
} as const;

const metrics = { type: "object", additionalProperties: true, description: "The segment's metrics for this entity (as computed by its last run)." } as const;

const readyBody = {
  type: "object",
  required: ["status", "checks"],
  properties: {
    status: { type: "string", enum: ["ready", "not-ready"] },
    checks: {
      type: "object",
      required: ["redis", "postgres"],
      properties: { redis: { type: "string" }, postgres: { type: "string" } },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

export const routeSchemas = {
  healthz: {
    operationId: "healthz",
    summary: "Liveness: the process answers.",
    response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", const: "ok" } }, additionalProperties: false } },
  },
  readyz: {
    operationId: "readyz",
    summary: "Readiness: Redis and PostgreSQL answer (503 when either does not).",
    response: { 200: readyBody, 503: readyBody },
  },
  openapi: {
    operationId: "openapi",
    summary: "This API's OpenAPI 3.1 document.",
    response: { 200: { type: "object", additionalProperties: true } },
  },
  metrics: {
    operationId: "metrics",
    summary: "Prometheus metrics: request counts and latency histograms by route and status, change stream and auth counters.",
    response: { 200: { type: "string" }, 401: errorBody, 403: errorBody },
  },
  listSegments: {
    operationId: "listSegments",
    summary: "Every active segment: catalog data, current size, the run in Redis and the last run.",
    response: {
      200: { type: "object", required: ["segments"], properties: { segments: { type: "array", items: segmentSummary } }, additionalProperties: false },
      ...protectedErrors,
    },
  },
  getSegment: {
    operationId: "getSegment",
    summary: "One active segment.",
    params: { type: "object", required: ["segment"], properties: { segment: segmentName }, additionalProperties: false },
    response: { 200: segmentDetail, 404: errorBody, ...protectedErrors },
  },
  listMembers: {
    operationId: "listMembers",
    summary: "A page of a segment's members (SSCAN). Follow `next` until null; every member of one snapshot is returned exactly once, and a listing never mixes two runs: if the segment's run changes between pages, the next page answers 409 and the listing must start again.",
    params: { type: "object", required: ["segment"], properties: { segment: segmentName }, additionalProperties: false },
    querystring: {
      type: "object",
      properties: {
        cursor: { type: "string", minLength: 1, maxLength: 1024, pattern: "^[A-Za-z0-9_-]+$", description: "`next` of the previous page; omit for the first page." },
        limit: { type: "integer", minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT, description: "At most this many members (a page may hold fewer, and still have a next page)." },
      },
      additionalProperties: false,
    },
    response: {
      200: {
        type: "object",
        required: ["segment", "runId", "members", "next"],
        properties: {
          segment: { type: "string" },
          runId: { type: ["string", "null"], description: "The run the page comes from (null before the first run)." },
          members: { type: "array", items: { type: "string" } },
          next: { type: ["string", "null"], description: "The cursor of the next page, or null after the last one." },
        },
        additionalProperties: false,
      },
      404: errorBody,
      409: errorBody,
      ...protectedErrors,
    },
  },
  getMember: {
    operationId: "getMember",
    summary: "Is this entity in the segment? With its metrics when it is.",
    params: { type: "object", required: ["segment", "entityId"], properties: { segment: segmentName, entityId }, additionalProperties: false },
    response: {
      200: {
        type: "object",
        required: ["segment", "entityId", "member", "metrics", "runId", "asOf"],
        properties: {
          segment: { type: "string" },
          entityId: { type: "string" },
          member: { type: "boolean" },
          metrics: { ...metrics, type: ["object", "null"] },
          runId: nullableString,
          asOf: nullableString,
        },
        additionalProperties: false,
      },
      404: errorBody,
      ...protectedErrors,
    },
  },
  entitySegments: {
    operationId: "entitySegments",
    summary: "Every active segment one entity is in, with its metrics.",
    params: { type: "object", required: ["entityId"], properties: { entityId }, additionalProperties: false },
    querystring: {
      type: "object",
      properties: { entity: { type: "string", minLength: 1, maxLength: 200, pattern: NO_CONTROL, description: "Only segments of this entity type (e.g. customer)." } },
      additionalProperties: false,
    },
    response: {
      200: {
        type: "object",
        required: ["entityId", "segments"],
        properties: {
          entityId: { type: "string" },
          segments: {
            type: "array",
            items: {
              type: "object",
              required: ["segment", "entity", "metrics"],
              properties: { segment: { type: "string" }, entity: { type: "string" }, title: nullableString, metrics },
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
      ...protectedErrors,
    },
  },
  changes: {
    operationId: "changes",
    summary:
      "Stream of enter/exit events (WebSocket, or Server-Sent Events with Accept: text/event-stream). Each event has an `id`; reconnect with `since=<last id>` (or SSE's Last-Event-ID) to resume. A `reset` event means events were missed (history trimmed): re-read the membership.",
    querystring: {
      type: "object",
      properties: {
        segment: {
          type: "array",
          items: segmentName,
          maxItems: 100,
          description: "Only these segments (repeat the parameter, or separate names with commas); default: every segment.",
        },
        since: { type: "string", pattern: "^[0-9]{1,19}$", description: "Resume after this event id." },
      },
      additionalProperties: false,
    },
    response: {
      200: { type: "string", description: "text/event-stream (SSE) when the request is not a WebSocket upgrade." },
      404: errorBody,
      ...protectedErrors,
    },
  },
  listSchemas: {
    operationId: "listSchemas",
    summary: "Registered event and profile schemas (every version).",
    querystring: { type: "object", properties: { name: { type: "string", minLength: 1, maxLength: 200, pattern: NO_CONTROL } }, additionalProperties: false },
    response: {
      200: {
        type: "object",
        required: ["schemas"],
        properties: {
          schemas: {
            type: "array",
            items: {
              type: "object",
              required: ["name", "version", "hash", "kind", "entity", "key", "topic", "registeredAt", "deployId"],
              properties: {
                name: { type: "string" },
                version: { type: "integer" },
                hash: { type: "string" },
                kind: { type: "string", enum: ["event", "profile"] },
                entity: { type: "string" },
                key: { type: "string" },
                topic: { type: "string" },
                registeredAt: dateTime,
                deployId: { type: "string" },
              },
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
      ...protectedErrors,
    },
  },
  listStreams: {
    operationId: "listStreams",
    summary: "Ingestion progress per stream, topic and partition.",
    querystring: { type: "object", properties: { stream: { type: "string", minLength: 1, maxLength: 200, pattern: NO_CONTROL } }, additionalProperties: false },
    response: {
      200: {
        type: "object",
        required: ["streams"],
        properties: {
          streams: {
            type: "array",
            items: {
              type: "object",
              required: ["stream", "topic", "partition", "offset", "received", "valid", "invalid", "updatedAt"],
              properties: {
                stream: { type: "string" },
                topic: { type: "string" },
                partition: { type: "integer" },
                offset: { type: "string" },
                received: { type: "integer" },
                valid: { type: "integer" },
                invalid: { type: "integer" },
                lastEventTime: nullableDateTime,
                lag: { type: ["integer", "null"] },
                updatedAt: dateTime,
              },
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
      ...protectedErrors,
    },
  },
} as const;
