/**
 * The API server's view of the token table: every token (a few dozen rows, without secrets: only
 * salts and hashes) held in memory, so checking a request costs one HMAC and no database round
 * trip. The table is reloaded when PostgreSQL notifies a token change (`<schema>_tokens`, sent by
 * `seg token create|revoke` on commit) and, in case a notification is lost, every `refreshMs`.
 */
import { EventEmitter } from "node:events";
import { decide, decideVerified, type AccessDecision } from "./access.js";
import type { Operation } from "./permissions.js";
import { loadTokens, type Queryable, type TokenRecord } from "./tokens.js";

const MAX_VERIFIED = 10_000;

/** Options of {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  /** Reload at least this often (default 10 s). */
  refreshMs?: number;
  /** Called when a reload fails (the previous table stays in force). */
  onError?: (e: unknown) => void;
}

/** Verifies bearer tokens against an in-memory copy of `api_tokens`. Emits `reload` after each reload. */
export class TokenVerifier extends EventEmitter {
  private tokens = new Map<string, TokenRecord>();
  /** Token texts whose secret was verified against the current table (skips the HMAC; cleared on reload). */
  private verified = new Map<string, TokenRecord>();
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly q: Queryable,
    private readonly schema: string,
    private readonly options: TokenVerifierOptions = {},
  ) {
    super();
  }

  /** Loads the table, then keeps reloading it every `refreshMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.options.refreshMs ?? 10_000);
    this.timer.unref();
  }

  /** Reloads now (coalesces concurrent calls; a call during a load causes one more load). */
  async reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        try {
          const rows = await loadTokens(this.q, this.schema);
          this.tokens = new Map(rows.map((r) => [r.id, r]));
          this.verified = new Map();
          this.emit("reload");
        } catch (e) {
          this.options.onError?.(e);
        }
      } while (this.again);
    })();
    try {
      await this.loading;
    } finally {
      this.loading = undefined;
    }
  }

  /** Decides a request: `presented` from {@link bearerToken}. */
  check(presented: string | undefined | null, op: Operation, now = Date.now()): AccessDecision {
    if (typeof presented === "string") {
      const hit = this.verified.get(presented);
      if (hit) return decideVerified(hit, op, now);
    }
    const d = decide(presented, op, (id) => this.tokens.get(id), now);
    // A decision with a principal means the secret matched: remember the text (bounded).
    if (typeof presented === "string" && d.principal) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(presented, this.tokens.get(d.principal.tokenId)!);
    }
    return d;
  }

  /** Number of tokens loaded (any status). */
  get size(): number {
    return this.tokens.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
