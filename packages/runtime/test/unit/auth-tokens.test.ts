import { describe, expect, it } from "vitest";
import {
  API_OPERATIONS,
  CLI_ACTIONS,
  PERMISSIONS,
  ROLES,
  allowedRoles,
  authModeFromEnv,
  bearerToken,
  decide,
  decodeCursor,
  encodeCursor,
  generateToken,
  hashSecret,
  isAllowed,
  isPublic,
  isValidTokenName,
  openApiPath,
  parseLifetime,
  parseToken,
  secretMatches,
  tokenStatus,
  type TokenRecord,
} from "@seg/runtime";

const record = (over: Partial<TokenRecord> = {}): { text: string; rec: TokenRecord } => {
  const g = generateToken();
  return {
    text: g.text,
    rec: {
      id: g.id,
      name: "t",
      role: "consumer",
      salt: g.salt,
      hash: g.hash,
      createdAt: new Date(0),
      createdBy: "x",
      expiresAt: null,
      revokedAt: null,
      revokedBy: null,
      ...over,
    },
  };
};

describe("tokens", () => {
  it("are seg_<16 hex>_<43 base64url> with 32 random bytes, different every time", () => {
    const a = generateToken();
    const b = generateToken();
    expect(a.text).toMatch(/^seg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(a.text).not.toBe(b.text);
    expect(Buffer.from(parseToken(a.text)!.secret, "base64url")).toHaveLength(32);
    expect(a.salt).toHaveLength(16);
    expect(a.hash).toHaveLength(32);
    expect(a.salt.equals(b.salt)).toBe(false);
  });

  it("store only a salted hash that matches the secret and nothing else", () => {
    const g = generateToken();
    const { secret } = parseToken(g.text)!;
    expect(secretMatches(g.salt, g.hash, secret)).toBe(true);
    expect(secretMatches(g.salt, g.hash, secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"))).toBe(false);
    expect(secretMatches(Buffer.alloc(16), g.hash, secret)).toBe(false);
    expect(hashSecret(g.salt, secret).equals(g.hash)).toBe(true);
    expect(g.hash.toString("hex")).not.toContain(Buffer.from(secret).toString("hex"));
  });

  it("parse only the exact shape", () => {
    const g = generateToken().text;
    for (const bad of ["", "seg_", g + "x", g.slice(1), g.replace("seg_", "SEG_"), `${g.slice(0, 20)}-${g.slice(21)}` /* the separator after the id (the secret itself may hold "_") */, ` ${g}`, "seg_0123456789abcdeg_" + "A".repeat(43)]) {
      expect(parseToken(bad), bad).toBeUndefined();
    }
  });

  it("names, lifetimes and statuses", () => {
    expect(isValidTokenName("web-shop.prod_1")).toBe(true);
    for (const bad of ["", "-x", "a b", "x".repeat(65), "ünï", "a/b"]) expect(isValidTokenName(bad), bad).toBe(false);
    expect(parseLifetime("30d")).toBe(30 * 86_400_000);
    expect(parseLifetime("12h")).toBe(12 * 3_600_000);
    expect(parseLifetime("2w")).toBe(14 * 86_400_000);
    expect(parseLifetime("45s")).toBe(45_000);
    for (const bad of ["0d", "1y", "-1d", "1.5h", "d", "3651d", "30 days"]) expect(parseLifetime(bad), bad).toBeUndefined();
    const now = Date.now();
    expect(tokenStatus({ expiresAt: null, revokedAt: null }, now)).toBe("active");
    expect(tokenStatus({ expiresAt: new Date(now - 1), revokedAt: null }, now)).toBe("expired");
    expect(tokenStatus({ expiresAt: new Date(now + 1000), revokedAt: new Date(now) }, now)).toBe("revoked");
  });
});

describe("the permission table", () => {
  it("covers every API operation and CLI action; admin may do everything", () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual([...API_OPERATIONS, ...CLI_ACTIONS].sort());
    for (const op of [...API_OPERATIONS, ...CLI_ACTIONS]) expect(isAllowed("admin", op)).toBe(true);
    expect(allowedRoles("GET /healthz")).toEqual(ROLES);
    expect(isPublic("GET /healthz")).toBe(true);
    expect(CLI_ACTIONS.some((a) => isPublic(a))).toBe(false);
  });
});

describe("decide", () => {
  const op = "GET /v1/segments/:segment/members/:entityId" as const;
  it("allows a valid token whose role is in the table", () => {
    const { text, rec } = record();
    expect(decide(text, op, (id) => (id === rec.id ? rec : undefined))).toEqual({ ok: true, principal: { tokenId: rec.id, name: "t", role: "consumer" } });
  });

  it("denies with 401 or 403 and a message that tells nothing about the token", () => {
    const { text, rec } = record();
    const lookup = (r: TokenRecord) => (id: string) => (id === r.id ? r : undefined);
    const wrong = text.slice(0, -2) + (text.endsWith("AA") ? "BB" : "AA");
    const cases: [string | undefined | null, TokenRecord, number, string][] = [
      [undefined, rec, 401, "missing"],
      ["", rec, 401, "missing"],
      [null, rec, 401, "malformed"],
      ["seg_abc", rec, 401, "malformed"],
      [generateToken().text, rec, 401, "unknown"],
      [wrong, rec, 401, "bad-secret"],
      [text, { ...rec, revokedAt: new Date(), revokedBy: "x" }, 401, "revoked"],
      [text, { ...rec, expiresAt: new Date(Date.now() - 1) }, 401, "expired"],
      [text, { ...rec, role: "ops" }, 403, "forbidden"],
    ];
    const messages = new Set<string>();
    for (const [presented, r, status, reason] of cases) {
      const d = decide(presented, op, lookup(r));
      expect(d, reason).toMatchObject({ ok: false, status, reason });
      if (!d.ok && ["unknown", "bad-secret", "revoked", "expired"].includes(d.reason)) messages.add(d.message);
    }
    expect([...messages]).toEqual(["invalid or expired token"]);
  });

  it("lets anyone call public operations", () => {
    expect(decide(undefined, "GET /healthz", () => undefined)).toEqual({ ok: true, principal: null });
  });

  it("reads bearer credentials", () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer   abc")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken("Bearer a b")).toBeNull();
    expect(bearerToken(["Bearer a", "Bearer b"])).toBeNull();
  });

  it("SEG_AUTH is auto (default) or required", () => {
    expect(authModeFromEnv({})).toBe("auto");
    expect(authModeFromEnv({ SEG_AUTH: "Required" })).toBe("required");
    expect(() => authModeFromEnv({ SEG_AUTH: "off" })).toThrow(/invalid SEG_AUTH 'off'/);
  });
});

describe("serve helpers", () => {
  it("member cursors round-trip and reject anything else", () => {
    const c = { runId: "run:1/ü", scan: "123456", skip: 7 };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ["", "x", Buffer.from("[2,\"r\",\"0\",0]").toString("base64url"), Buffer.from("[1,\"r\",\"-1\",0]").toString("base64url"), Buffer.from("[1,\"r\",\"0\",1.5]").toString("base64url"), Buffer.from("[1,\"r\",\"99999999999999999999\",0]").toString("base64url")]) {
      expect(decodeCursor(bad), bad).toBeUndefined();
    }
  });

  it("OpenAPI paths use braces", () => {
    expect(openApiPath("/v1/segments/:segment/members/:entityId")).toBe("/v1/segments/{segment}/members/{entityId}");
  });
});
