/**
 * Deciding one request: a presented token (or none) against the token table and the permission
 * table. Pure: the API server and the CLI both call {@link decide}; each then reports and audits a
 * denial its own way.
 *
 * Denials say as little as possible: 401 "missing" (no credentials), 401 "malformed" (not a
 * bearer token of seg's shape), 401 "invalid" for an unknown id, a wrong secret, a revoked or an
 * expired token alike (the exact reason goes to the audit log only), and 403 when the token is
 * valid but its role may not do the operation.
 */
import { allowedRoles, isPublic, type Operation, type Role } from "./permissions.js";
import { parseToken, secretMatches, tokenStatus, type TokenRecord } from "./tokens.js";

/** Who a valid token belongs to. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

/** Why a request was denied (the audit log keeps this; responses only show the status and a generic message). */
export type DenyReason = "missing" | "malformed" | "unknown" | "bad-secret" | "revoked" | "expired" | "forbidden";

/** The outcome of {@link decide}. */
export type AccessDecision =
  | { ok: true; principal: Principal | null }
  | { ok: false; status: 401 | 403; reason: DenyReason; principal: Principal | null; message: string };

/** The message a client sees for each denial reason. */
export function denialMessage(reason: DenyReason, op: Operation, role?: Role): string {
  switch (reason) {
    case "missing":
      return "authentication required: send a bearer token";
    case "malformed":
      return "malformed credentials: expected a bearer token";
    case "forbidden":
      return `forbidden: role '${role ?? "?"}' may not ${op}`;
    default:
      return "invalid or expired token";
  }
}

/** A token found by id, or undefined. */
export type TokenLookup = (id: string) => TokenRecord | undefined;

const DUMMY_SALT = Buffer.alloc(16, 7);
const DUMMY_HASH = Buffer.alloc(32, 7);

/** Checks a presented token (`undefined`: none; `null`: credentials that are not a bearer token) for `op` at `now`. */
export function decide(presented: string | undefined | null, op: Operation, lookup: TokenLookup, now = Date.now()): AccessDecision {
  if (isPublic(op)) return { ok: true, principal: null };
  const deny = (status: 401 | 403, reason: DenyReason, principal: Principal | null = null): AccessDecision => ({
    ok: false,
    status,
    reason,
    principal,
    message: denialMessage(reason, op, principal?.role),
  });
  if (presented === undefined || presented === "") return deny(401, "missing");
  if (presented === null) return deny(401, "malformed");
  const parsed = parseToken(presented);
  if (!parsed) return deny(401, "malformed");
  const rec = lookup(parsed.id);
  if (!rec) {
    // Same work as a known id, so timing does not tell whether an id exists.
    secretMatches(DUMMY_SALT, DUMMY_HASH, parsed.secret);
    return deny(401, "unknown");
  }
  if (!secretMatches(rec.salt, rec.hash, parsed.secret)) return deny(401, "bad-secret");
  return decideVerified(rec, op, now);
}

/** The decision for a token whose secret has been verified: its status, then its role. */
export function decideVerified(rec: TokenRecord, op: Operation, now = Date.now()): AccessDecision {
  const principal: Principal = { tokenId: rec.id, name: rec.name, role: rec.role };
  const status = tokenStatus(rec, now);
  if (status !== "active") return { ok: false, status: 401, reason: status, principal, message: denialMessage(status, op, rec.role) };
  if (!isPublic(op) && !allowedRoles(op).includes(rec.role)) return { ok: false, status: 403, reason: "forbidden", principal, message: denialMessage("forbidden", op, rec.role) };
  return { ok: true, principal };
}

/**
 * The token of an `Authorization` header value: `Bearer <token>` (scheme case-insensitive).
 * Returns undefined for no header, and `null` for a header that is not a bearer credential.
 */
export function bearerToken(header: string | string[] | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) return null;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m ? m[1]! : null;
}
