import { describe, expect, it } from "vitest";
import { TokenVerifier, generateToken, type Queryable, type TokenRecord } from "@seg/runtime";

/** A token table in memory, answering the two queries `loadTokens` makes. */
function fakeTable(rows: () => TokenRecord[]): Queryable {
  return {
    query: async (text: string) => {
      if (text.includes("to_regclass")) return { rows: [{ t: "seg.api_tokens" }] } as never;
      return {
        rows: rows().map((r) => ({
          id: r.id,
          name: r.name,
          role: r.role,
          salt: r.salt,
          hash: r.hash,
          created_at: r.createdAt,
          created_by: r.createdBy,
          expires_at: r.expiresAt,
          revoked_at: r.revokedAt,
          revoked_by: r.revokedBy,
        })),
      } as never;
    },
  };
}

function token(over: Partial<TokenRecord> = {}): { text: string; rec: TokenRecord } {
  const g = generateToken();
  const rec: TokenRecord = { id: g.id, name: "t", role: "consumer", salt: g.salt, hash: g.hash, createdAt: new Date(0), createdBy: "x", expiresAt: null, revokedAt: null, revokedBy: null, ...over };
  return { text: g.text, rec };
}

const MEMBER = "GET /v1/segments/:segment/members/:entityId" as const;

describe("TokenVerifier", () => {
  it("remembers a verified token: the same decision again, and still checks role, expiry and the secret", async () => {
    const now = Date.now();
    const a = token({ expiresAt: new Date(now + 60_000) });
    const v = new TokenVerifier(fakeTable(() => [a.rec]), "seg");
    await v.reload();
    const first = v.check(a.text, MEMBER, now);
    expect(first).toMatchObject({ ok: true, principal: { tokenId: a.rec.id, role: "consumer" } });
    // Remembered: the identical (frozen) decision, no new objects.
    expect(v.check(a.text, MEMBER, now + 1)).toBe(v.check(a.text, MEMBER, now + 2));
    // The role is still checked per operation, and expiry per request.
    expect(v.check(a.text, "GET /v1/streams", now)).toMatchObject({ ok: false, status: 403, reason: "forbidden" });
    expect(v.check(a.text, MEMBER, now + 60_000)).toMatchObject({ ok: false, status: 401, reason: "expired" });
    // Another secret with the same id is not the remembered text.
    const forged = `${a.text.slice(0, 21)}${"A".repeat(43)}`;
    expect(v.check(forged, MEMBER, now)).toMatchObject({ ok: false, status: 401, reason: "bad-secret" });
    expect(v.check(a.text, MEMBER, now)).toMatchObject({ ok: true });
  });

  it("forgets verified tokens on reload, so a revocation applies at once", async () => {
    const a = token();
    let revoked = false;
    const v = new TokenVerifier(fakeTable(() => [{ ...a.rec, revokedAt: revoked ? new Date() : null }]), "seg");
    await v.reload();
    expect(v.check(a.text, MEMBER).ok).toBe(true);
    revoked = true;
    expect(v.check(a.text, MEMBER).ok).toBe(true); // not reloaded yet
    await v.reload();
    expect(v.check(a.text, MEMBER)).toMatchObject({ ok: false, status: 401, reason: "revoked" });
  });

  it("keeps the previous table when a reload fails", async () => {
    const a = token();
    let fail = false;
    const errors: unknown[] = [];
    const table = fakeTable(() => [a.rec]);
    const v = new TokenVerifier({ query: async (t, p) => (fail ? Promise.reject(new Error("db down")) : table.query(t, p)) }, "seg", { onError: (e) => errors.push(e) });
    await v.reload();
    fail = true;
    await v.reload();
    expect(errors).toHaveLength(1);
    expect(v.size).toBe(1);
    expect(v.check(a.text, MEMBER).ok).toBe(true);
  });
});
