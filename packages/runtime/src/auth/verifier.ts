/**
 * The API server's view of the token table: every token (a few dozen rows, without secrets: only
 * salts and hashes) held in memory, so checking a request needs no database round trip. The table
 * is reloaded when PostgreSQL notifies a token change (`<schema>_tokens`, sent by
 * `seg token create|revoke` on commit) and, in case a notification is lost, every `refreshMs`
 * (the loop is the shared {@link NotifyReloader}).
 *
 * A token text whose secret matched is remembered (bounded), so a client presenting the same
 * token again costs a map lookup instead of an HMAC. The memory is dropped on every reload, so a
 * revocation takes effect as soon as its NOTIFY arrives; expiry and the role are checked on every
 * request. Wrong secrets are never remembered: each costs its HMAC, as it must.
 */
import { EventEmitter } from "node:events";
import { NotifyReloader } from "../db/notify-reloader.js";
import { decide, decideVerified, type AccessDecision, type Principal } from "./access.js";
import { isAllowed, isPublic, type Operation } from "./permissions.js";
import { loadTokens, type Queryable, type TokenRecord } from "./tokens.js";

/** Token texts remembered at most (the memory is cleared when full). */
const MAX_VERIFIED = 10_000;

/** Options of {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  /** Reload at least this often (default 10 s). */
  refreshMs?: number;
  /** Called when a reload fails (the previous table stays in force). */
  onError?: (e: unknown) => void;
}

/** A token text whose secret matched a record of the current table. */
interface Verified {
  rec: TokenRecord;
  /** The record's expiry in ms since the epoch, or Infinity. */
  expiresAtMs: number;
  /** The decision for an allowed operation, shared by every request with this token (frozen). */
  allowed: AccessDecision;
}

/** Verifies bearer tokens against an in-memory copy of `api_tokens`. Emits `reload` after each reload. */
export class TokenVerifier extends EventEmitter {
  private tokens = new Map<string, TokenRecord>();
  /** Token texts verified against the current table (cleared on reload). */
  private verified = new Map<string, Verified>();
  private readonly reloader: NotifyReloader;

  constructor(
    private readonly q: Queryable,
    private readonly schema: string,
    options: TokenVerifierOptions = {},
  ) {
    super();
    this.reloader = new NotifyReloader(
      async () => {
        const rows = await loadTokens(this.q, this.schema);
        this.tokens = new Map(rows.map((r) => [r.id, r]));
        this.verified = new Map();
        this.emit("reload");
      },
      { refreshMs: options.refreshMs ?? 10_000, ...(options.onError ? { onError: options.onError } : {}) },
    );
  }

  /** Loads the table, then keeps reloading it every `refreshMs`. */
  async start(): Promise<void> {
    await this.reloader.start();
  }

  /** Reloads now (on a token change's NOTIFY; coalesces concurrent calls, a call during a load causes one more). */
  async reload(): Promise<void> {
    await this.reloader.reload();
  }

  /** Decides a request: `presented` from {@link bearerToken}. */
  check(presented: string | undefined | null, op: Operation, now = Date.now()): AccessDecision {
    if (typeof presented === "string") {
      const hit = this.verified.get(presented);
      if (hit) {
        // Not revoked (a revocation reloads the table, which forgets every verified text), not expired, role allowed.
        if (hit.rec.revokedAt === null && now < hit.expiresAtMs && (isPublic(op) || isAllowed(hit.rec.role, op))) return hit.allowed;
        return decideVerified(hit.rec, op, now);
      }
    }
    const d = decide(presented, op, (id) => this.tokens.get(id), now);
    // A decision with a principal means the secret matched: remember the text (bounded).
    if (typeof presented === "string" && d.principal) {
      const rec = this.tokens.get(d.principal.tokenId)!;
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      const principal: Principal = Object.freeze({ tokenId: rec.id, name: rec.name, role: rec.role });
      this.verified.set(presented, {
        rec,
        expiresAtMs: rec.expiresAt === null ? Infinity : rec.expiresAt.getTime(),
        allowed: Object.freeze({ ok: true, principal }) as AccessDecision,
      });
    }
    return d;
  }

  /** Number of tokens loaded (any status). */
  get size(): number {
    return this.tokens.size;
  }

  stop(): void {
    this.reloader.stop();
  }
}
