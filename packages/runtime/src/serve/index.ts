/** `seg serve`: the HTTP/WebSocket API over Redis and the deploy store. Loads no driver on import. */
export { createServer, describeServer } from "./server.js";
export type { SegServer, ServeLog, ServeOptions } from "./server.js";
export { SegmentCatalog } from "./catalog.js";
export type { CatalogSegment } from "./catalog.js";
export { ChangeHub, changeKeys, parseChangeMessage } from "./changes.js";
export type { ChangeEvent, ChangeHubOptions, ResetEvent, StreamEvent, Subscription } from "./changes.js";
export { LATENCY_BUCKETS, createServeMetrics } from "./metrics.js";
export type { ServeMetrics } from "./metrics.js";
export { buildOpenApi, openApiPath } from "./openapi.js";
export type { RouteDoc } from "./openapi.js";
export {
  SEGMENT_INDEX_TTL_SECONDS,
  decodeCursor,
  defineServeScripts,
  encodeCursor,
  metricsIndexKey,
  parseMetrics,
  readEntitySegments,
  readMember,
  readMembersPage,
  readSegmentStates,
  segmentIndexKey,
  writeSegmentIndex,
} from "./reads.js";
export type { IndexedSegment, MemberCheck, MembersCursor, MembersPage, SegmentState } from "./reads.js";
export { DEFAULT_PAGE_LIMIT, MAX_ENTITY_ID, MAX_PAGE_LIMIT, MAX_SEGMENT_NAME, routeSchemas } from "./schemas.js";
export { PgListener, openPool } from "./pg.js";
