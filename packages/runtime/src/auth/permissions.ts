/**
 * Roles and the permission table: which roles may do each API operation and each state-changing
 * CLI command. This table is the only place permissions are decided; the API's auth hook and
 * `requireRole` (CLI) both read it, and the OpenAPI document lists it per operation.
 *
 * - admin: everything, including token management.
 * - ops: onboards event streams: registers schemas (`seg schema register`); reads the registered
 *   schemas, ingestion streams and Prometheus metrics.
 * - analyst: authors rules: deploy, rollback (against schemas ops registered: a deploy that would
 *   register a new schema version needs `schema.register` too); may read the segment catalog and
 *   the registered schemas, not members.
 * - consumer: applications that read segments: the catalog, members, one customer's segments and
 *   the change stream.
 *
 * `seg check`, `seg compile`, `seg eval`, `seg test` and the other local commands touch no shared
 * state and need no token.
 */

/** Every role, most powerful first. */
export const ROLES = ["admin", "ops", "analyst", "consumer"] as const;
export type Role = (typeof ROLES)[number];

/** True when `s` names a role. */
export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** API operations: `<METHOD> <route as registered>`. */
export const API_OPERATIONS = [
  "GET /healthz",
  "GET /readyz",
  "GET /openapi.json",
  "GET /metrics",
  "GET /v1/segments",
  "GET /v1/segments/:segment",
  "GET /v1/segments/:segment/members",
  "GET /v1/segments/:segment/members/:entityId",
  "GET /v1/entities/:entityId/segments",
  "GET /v1/changes",
  "GET /v1/schemas",
  "GET /v1/streams",
] as const;
export type ApiOperation = (typeof API_OPERATIONS)[number];

/** State-changing CLI actions. */
export const CLI_ACTIONS = ["deploy", "rollback", "schema.register", "token.create", "token.list", "token.revoke"] as const;
export type CliAction = (typeof CLI_ACTIONS)[number];

export type Operation = ApiOperation | CliAction;

/** Operations anyone may call, without a token (probes and the API description). */
export const PUBLIC = "public" as const;

/** The permission table: the roles allowed for each operation, or `public`. */
const TABLE: Record<Operation, readonly Role[] | typeof PUBLIC> = {
  "GET /healthz": PUBLIC,
  "GET /readyz": PUBLIC,
  "GET /openapi.json": PUBLIC,
  "GET /metrics": ["admin", "ops"],
  "GET /v1/segments": ["admin", "analyst", "consumer"],
  "GET /v1/segments/:segment": ["admin", "analyst", "consumer"],
  "GET /v1/segments/:segment/members": ["admin", "consumer"],
  "GET /v1/segments/:segment/members/:entityId": ["admin", "consumer"],
  "GET /v1/entities/:entityId/segments": ["admin", "consumer"],
  "GET /v1/changes": ["admin", "consumer"],
  "GET /v1/schemas": ["admin", "ops", "analyst"],
  "GET /v1/streams": ["admin", "ops"],
  deploy: ["admin", "analyst"],
  rollback: ["admin", "analyst"],
  "schema.register": ["admin", "ops"],
  "token.create": ["admin"],
  "token.list": ["admin"],
  "token.revoke": ["admin"],
};
for (const v of Object.values(TABLE)) if (Array.isArray(v)) Object.freeze(v);
export const PERMISSIONS: Readonly<Record<Operation, readonly Role[] | typeof PUBLIC>> = Object.freeze(TABLE);

/** True when `op` needs no token. */
export function isPublic(op: Operation): boolean {
  return PERMISSIONS[op] === PUBLIC;
}

/** The roles allowed to do `op` (every role for a public operation). */
export function allowedRoles(op: Operation): readonly Role[] {
  const p = PERMISSIONS[op];
  return p === PUBLIC ? ROLES : p;
}

/** True when `role` may do `op`. */
export function isAllowed(role: Role, op: Operation): boolean {
  return allowedRoles(op).includes(role);
}

/** True when `s` is an API operation of the table. */
export function isApiOperation(s: string): s is ApiOperation {
  return (API_OPERATIONS as readonly string[]).includes(s);
}

/** True when `s` is a CLI action of the table. */
export function isCliAction(s: string): s is CliAction {
  return (CLI_ACTIONS as readonly string[]).includes(s);
}
