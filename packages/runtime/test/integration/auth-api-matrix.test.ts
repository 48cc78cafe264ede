import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_OPERATIONS, PERMISSIONS, ROLES, createToken, revokeToken, type ApiOperation, type SegServer } from "@seg/runtime";
import { serveFixture, writeSnapshot, type ServeFixture } from "../support/serve-fixtures.js";

type Caller = "anonymous" | (typeof ROLES)[number];
const CALLERS: Caller[] = ["anonymous", ...ROLES];

/**
 * What each caller may do, written out by hand (NOT derived from PERMISSIONS): the test compares
 * the server's behaviour, generated from the permission table, with this independent statement.
 * Columns: anonymous, admin, ops, analyst, consumer.
 */
const EXPECTED: Record<string, [boolean, boolean, boolean, boolean, boolean]> = {
  "GET /healthz": [true, true, true, true, true],
  "GET /readyz": [true, true, true, true, true],
  "GET /openapi.json": [true, true, true, true, true],
  "GET /metrics": [false, true, true, false, false],
  "GET /v1/segments": [false, true, false, true, true],
  "GET /v1/segments/:segment": [false, true, false, true, true],
  "GET /v1/segments/:segment/members": [false, true, false, false, true],
  "GET /v1/segments/:segment/members/:entityId": [false, true, false, false, true],
  "GET /v1/entities/:entityId/segments": [false, true, false, false, true],
  "GET /v1/changes": [false, true, false, false, true],
  "GET /v1/schemas": [false, true, true, true, false],
  "GET /v1/streams": [false, true, true, false, false],
};

/** A concrete request for each operation. */
const URLS: Record<ApiOperation, string> = {
  "GET /healthz": "/healthz",
  "GET /readyz": "/readyz",
  "GET /openapi.json": "/openapi.json",
  "GET /metrics": "/metrics",
  "GET /v1/segments": "/v1/segments",
  "GET /v1/segments/:segment": "/v1/segments/high_value",
  "GET /v1/segments/:segment/members": "/v1/segments/high_value/members?limit=10",
  "GET /v1/segments/:segment/members/:entityId": "/v1/segments/high_value/members/c1",
  "GET /v1/entities/:entityId/segments": "/v1/entities/c1/segments",
  "GET /v1/changes": "/v1/changes?segment=high_value",
  "GET /v1/schemas": "/v1/schemas",
  "GET /v1/streams": "/v1/streams",
};

async function call(base: string, path: string, authorization?: string): Promise<{ status: number; body: string; headers: Headers }> {
  const ctl = new AbortController();
  const r = await fetch(base + path, { headers: authorization === undefined ? {} : { authorization }, signal: ctl.signal });
  // The change stream never ends: its status and headers are the answer.
  if (r.headers.get("content-type")?.startsWith("text/event-stream")) {
    ctl.abort();
    return { status: r.status, body: "", headers: r.headers };
  }
  return { status: r.status, body: await r.text(), headers: r.headers };
}

describe("API role × operation matrix", () => {
  let f: ServeFixture;
  let server: SegServer;
  let base: string;
  const results = new Map<string, { status: number; body: string }>();

  beforeAll(async () => {
    f = await serveFixture();
    await writeSnapshot(f.redis, f.keys("high_value"), "high_value", "run-1", ["c1", "c2"]);
    ({ server, url: base } = await f.listening());
  });
  afterAll(async () => f.cleanup());

  it("the expectation table covers exactly the operations of the permission table", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...API_OPERATIONS].sort());
    expect(Object.keys(PERMISSIONS).filter((k) => k.startsWith("GET ")).sort()).toEqual([...API_OPERATIONS].sort());
  });

  const cases = API_OPERATIONS.flatMap((op) => CALLERS.map((caller, i) => ({ op, caller, allowed: EXPECTED[op]?.[i] })));
  it.each(cases)("$caller → $op: allowed $allowed", async ({ op, caller, allowed }) => {
    const r = await call(base, URLS[op], caller === "anonymous" ? undefined : `Bearer ${f.tokens[caller]}`);
    results.set(`${caller} ${op}`, r);
    if (allowed) {
      expect(r.status, r.body).toBe(200);
    } else if (caller === "anonymous") {
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({ error: "unauthorized", message: "authentication required: send a bearer token" });
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="seg"');
    } else {
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toEqual({ error: "forbidden", message: `forbidden: role '${caller}' may not ${op}` });
    }
  });

  it("wrote one audit entry per denied cell, naming the token and the reason", async () => {
    await server.audit.flush();
    const rows = (
      await f.db.client.query<{ actor: string; target: string; details: Record<string, unknown> }>(
        `SELECT actor, target, details FROM "${f.t.schema}".audit_log WHERE action = 'auth.deny' ORDER BY id`,
      )
    ).rows;
    const denied = cases.filter((c) => !c.allowed);
    expect(rows).toHaveLength(denied.length);
    for (const c of denied) {
      const row = rows.find((r) => r.target === `api:${c.op}` && r.actor === (c.caller === "anonymous" ? "anonymous" : `token:test-${c.caller}`));
      expect(row, `${c.caller} ${c.op}`).toBeDefined();
      expect(row!.details).toMatchObject({ status: c.caller === "anonymous" ? 401 : 403, reason: c.caller === "anonymous" ? "missing" : "forbidden", method: "GET" });
      expect(JSON.stringify(row!.details)).not.toContain("seg_");
    }
  });
});

describe("API tokens: missing, malformed, unknown, wrong, revoked, expired", () => {
  let f: ServeFixture;
  let server: SegServer;
  let base: string;
  beforeAll(async () => {
    f = await serveFixture();
    ({ server, url: base } = await f.listening());
  });
  afterAll(async () => f.cleanup());

  const GENERIC = { error: "unauthorized", message: "invalid or expired token" };

  it("rejects malformed credentials with 401", async () => {
    const good = f.tokens.consumer;
    for (const h of ["Basic Y29uc3VtZXI6cGFzcw==", "Bearer", "Bearer ", "Token " + good, "Bearer seg_123", `Bearer ${good}x`, `Bearer ${good.slice(0, -1)}`, `Bearer ${good} extra`, `Bearer ${good.toUpperCase()}`, "Bearer " + "a".repeat(4000)]) {
      const r = await call(base, "/v1/segments", h);
      expect(r.status, h.slice(0, 40)).toBe(401);
      expect(JSON.parse(r.body).error).toBe("unauthorized");
      expect(r.body).not.toContain(good);
      expect(r.headers.get("www-authenticate")).toContain("Bearer");
    }
    expect((await call(base, "/v1/segments", `bearer ${good}`)).status).toBe(200);
    expect((await call(base, "/v1/segments", `Bearer   ${good}`)).status).toBe(200);
  });

  it("answers unknown ids, wrong secrets, revoked and expired tokens alike", async () => {
    const good = f.tokens.consumer;
    const unknownId = `seg_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
    const wrongSecret = `${good.slice(0, 21)}${randomBytes(32).toString("base64url")}`;
    const revoked = (await createToken(f.db, { name: "to-revoke", role: "consumer", actor: "t", via: "test" })).token;
    const t0 = Date.now();
    const expiring = (await createToken(f.db, { name: "short-lived", role: "consumer", actor: "t", via: "test", lifetimeMs: 1_500 })).token;
    await server.verifier.reload();
    expect((await call(base, "/v1/segments", `Bearer ${revoked}`)).status).toBe(200);
    expect((await call(base, "/v1/segments", `Bearer ${expiring}`)).status).toBe(200);

    await revokeToken(f.db, "to-revoke", "t", "test");
    // The server learns of the revocation from NOTIFY, without a restart.
    const deadline = Date.now() + 5_000;
    while ((await call(base, "/v1/segments", `Bearer ${revoked}`)).status === 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1_700 - Date.now())));
    for (const [what, token] of [
      ["unknown id", unknownId],
      ["wrong secret", wrongSecret],
      ["revoked", revoked],
      ["expired", expiring],
    ] as const) {
      const r = await call(base, "/v1/segments", `Bearer ${token}`);
      expect(r.status, what).toBe(401);
      expect(JSON.parse(r.body), what).toEqual(GENERIC);
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="seg", error="invalid_token"');
    }
    await server.audit.flush();
    const reasons = (
      await f.db.client.query<{ actor: string; reason: string }>(
        `SELECT actor, details->>'reason' AS reason FROM "${f.t.schema}".audit_log WHERE action = 'auth.deny' ORDER BY id`,
      )
    ).rows;
    expect(reasons).toEqual(
      expect.arrayContaining([
        { actor: "anonymous", reason: "unknown" },
        { actor: "anonymous", reason: "bad-secret" },
        { actor: "token:to-revoke", reason: "revoked" },
        { actor: "token:short-lived", reason: "expired" },
      ]),
    );
  });

  it("HEAD requests are guarded like GET", async () => {
    expect((await fetch(`${base}/v1/segments`, { method: "HEAD" })).status).toBe(401);
    expect((await fetch(`${base}/v1/streams`, { method: "HEAD", headers: { authorization: `Bearer ${f.tokens.consumer}` } })).status).toBe(403);
    expect((await fetch(`${base}/v1/segments`, { method: "HEAD", headers: { authorization: `Bearer ${f.tokens.consumer}` } })).status).toBe(200);
  });

  it("a token in the query string or a cookie is not a credential", async () => {
    const good = f.tokens.admin;
    expect((await call(base, `/v1/segments?access_token=${good}`)).status).toBe(401);
    const r = await fetch(`${base}/v1/segments`, { headers: { cookie: `token=${good}` } });
    expect(r.status).toBe(401);
  });
});
