import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SegServer } from "@seg/runtime";
import { bearer, serveFixture, writeSnapshot, type ServeFixture } from "../support/serve-fixtures.js";

describe("seg serve: routes", () => {
  let f: ServeFixture;
  let server: SegServer;
  let consumer: Record<string, string>;
  const get = async (url: string, headers: Record<string, string> = consumer) => {
    const r = await server.app.inject({ method: "GET", url, headers });
    return { status: r.statusCode, body: r.headers["content-type"]?.toString().startsWith("application/json") ? r.json() : r.body, headers: r.headers };
  };

  beforeAll(async () => {
    f = await serveFixture();
    consumer = bearer(f.tokens.consumer);
    await writeSnapshot(f.redis, f.keys("high_value"), "high_value", "run-hv-1", ["c1", "c2", "c3"], (id) => ({ total_spend: id === "c1" ? 1200.5 : 1001 }));
    await writeSnapshot(f.redis, f.keys("vip_outreach"), "vip_outreach", "run-vip-1", ["v1", "v2"]);
    // vip_outreach's metrics hash has a stale field of c1, who is not in its set; and the keys of a
    // segment that is not deployed hold c1 too. Neither may ever be served.
    await f.redis.hset(f.keys("vip_outreach").metricsKey, "c1", '{"leaked":true}');
    await f.redis.sadd(`${f.prefix}segment:not_deployed:members`, "c1");
    await f.redis.hset(`${f.prefix}segment:not_deployed:metrics`, "c1", '{"leaked":true}');
    await f.db.client.query(
      `INSERT INTO "${f.t.schema}".runs (segment, version, status, engine, as_of, started_at, ended_at, rows)
       SELECT segment, current_version, 'succeeded', 'embedded', '2026-11-01T00:00:00Z', now() - interval '2 minutes', now() - interval '1 minute', 3
         FROM "${f.t.schema}".pipelines WHERE segment = 'high_value'`,
    );
    await f.db.client.query(
      `INSERT INTO "${f.t.schema}".runs (segment, version, status, engine, started_at)
       SELECT segment, current_version, 'running', 'embedded', now() FROM "${f.t.schema}".pipelines WHERE segment = 'high_value'`,
    );
    server = await f.server();
  });
  afterAll(async () => f.cleanup());

  it("answers /healthz, /readyz and /openapi.json without a token", async () => {
    expect(await get("/healthz", {})).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(await get("/readyz", {})).toMatchObject({ status: 200, body: { status: "ready", checks: { redis: "ok", postgres: "ok" } } });
    const doc = await get("/openapi.json", {});
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
  });

  it("lists active segments with size, snapshot and last run", async () => {
    const r = await get("/v1/segments");
    expect(r.status).toBe(200);
    const names = r.body.segments.map((s: { name: string }) => s.name);
    expect(names).toEqual([...names].sort());
    expect(names).toHaveLength(f.specs.length);
    const hv = r.body.segments.find((s: { name: string }) => s.name === "high_value");
    expect(hv).toMatchObject({
      name: "high_value",
      title: "High-value customers",
      entity: "customer",
      size: 3,
      data: { runId: "run-hv-1", size: 3, asOf: "2026-11-01T00:00:00.000Z" },
      lastRun: { status: "running", engine: "embedded", endedAt: null },
    });
    expect(hv.version).toBe(f.specs.find((s) => s.id === "high_value")!.version);
    const never = r.body.segments.find((s: { name: string }) => s.name === "churned");
    expect(never).toMatchObject({ size: 0, data: null, lastRun: null });
    expect(r.headers["cache-control"]).toBe("no-store");
  });

  it("shows one segment with its metrics, refresh and ttl; 404 for unknown segments", async () => {
    const r = await get("/v1/segments/high_value");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: "high_value", size: 3, metrics: [{ name: "total_spend", type: "number" }], refreshSeconds: 900, ttlSeconds: 3600 });
    expect(await get("/v1/segments/no_such_segment")).toMatchObject({ status: 404, body: { error: "not-found", message: "no such segment" } });
  });

  it("checks one membership with its metrics, and never shows another segment's metrics", async () => {
    expect((await get("/v1/segments/high_value/members/c1")).body).toEqual({
      segment: "high_value",
      entityId: "c1",
      member: true,
      metrics: { total_spend: 1200.5 },
      runId: "run-hv-1",
      asOf: "2026-11-01T00:00:00.000Z",
    });
    // vip_outreach's metrics hash has a c1 field, but c1 is not in vip_outreach's set.
    expect((await get("/v1/segments/vip_outreach/members/c1")).body).toMatchObject({ member: false, metrics: null, runId: "run-vip-1" });
    expect((await get("/v1/segments/high_value/members/v1")).body).toMatchObject({ member: false, metrics: null });
    expect((await get("/v1/segments/churned/members/c1")).body).toMatchObject({ member: false, metrics: null, runId: null, asOf: null });
  });

  it("lists one customer's segments: only active segments it is a member of", async () => {
    expect((await get("/v1/entities/c1/segments")).body).toEqual({
      entityId: "c1",
      segments: [{ segment: "high_value", entity: "customer", title: "High-value customers", metrics: { total_spend: 1200.5 } }],
    });
    expect((await get("/v1/entities/v2/segments")).body.segments.map((s: { segment: string }) => s.segment)).toEqual(["vip_outreach"]);
    expect((await get("/v1/entities/nobody/segments")).body).toEqual({ entityId: "nobody", segments: [] });
    expect((await get("/v1/entities/c1/segments?entity=account")).body).toEqual({ entityId: "c1", segments: [] });
    expect((await get("/v1/entities/c1/segments?entity=customer")).body.segments).toHaveLength(1);
    // The segment index the lookup uses in Redis (members key → segment, and members key →
    // metrics key) is rewritten when it has gone (expired, or Redis restarted), either part.
    const indexKeys = (await f.redis.keys(`${f.prefix}serve:index:*`)).sort();
    expect(indexKeys).toHaveLength(2);
    const [indexKey, metricsIndex] = indexKeys as [string, string];
    expect(metricsIndex).toBe(`${indexKey}:metrics`);
    const hv = f.keys("high_value");
    expect(await f.redis.hget(indexKey, hv.membersKey)).toBe("high_value");
    expect(await f.redis.hget(metricsIndex, hv.membersKey)).toBe(hv.metricsKey);
    expect(await f.redis.hlen(indexKey)).toBe(f.specs.length);
    for (const gone of [[indexKey, metricsIndex], [indexKey], [metricsIndex]]) {
      await f.redis.del(...gone);
      expect((await get("/v1/entities/c1/segments")).body.segments).toEqual([{ segment: "high_value", entity: "customer", title: "High-value customers", metrics: { total_spend: 1200.5 } }]);
      expect(await f.redis.exists(indexKey, metricsIndex)).toBe(2);
    }
  });

  it("lists an entity's segments over the index: each segment whose set holds it, with metrics from that segment's metrics hash", async () => {
    await writeSnapshot(f.redis, f.keys("gen_z"), "gen_z", "run-gz", ["d1", "d2"], (id) => ({ age: id === "d1" ? 22 : 23 }));
    await writeSnapshot(f.redis, f.keys("mobile_first"), "mobile_first", "run-mf", ["d1"], () => ({ share: 0.9 }));
    await writeSnapshot(f.redis, f.keys("email_reachable"), "email_reachable", "run-er", ["d2"]);
    // d1 has a (stale) field in email_reachable's metrics hash but is not in its set: not listed.
    await f.redis.hset(f.keys("email_reachable").metricsKey, "d1", '{"stale":true}');
    // A member without a metrics field (never left by the mover) is listed with empty metrics.
    await f.redis.sadd(f.keys("dormant_signups").membersKey, "d1");
    const d1 = (await get("/v1/entities/d1/segments")).body;
    expect(d1.segments.map((s: { segment: string; metrics: unknown }) => [s.segment, s.metrics])).toEqual([
      ["dormant_signups", {}],
      ["gen_z", { age: 22 }],
      ["mobile_first", { share: 0.9 }],
    ]);
    const d2 = (await get("/v1/entities/d2/segments")).body;
    expect(d2.segments.map((s: { segment: string; metrics: unknown }) => [s.segment, s.metrics])).toEqual([
      ["email_reachable", { score: 2 }],
      ["gen_z", { age: 23 }],
    ]);
    // The per-segment reads agree.
    expect((await get("/v1/segments/mobile_first/members/d1")).body).toMatchObject({ member: true, metrics: { share: 0.9 }, runId: "run-mf" });
    expect((await get("/v1/segments/email_reachable/members/d1")).body).toMatchObject({ member: false, metrics: null, runId: "run-er" });
    await f.redis.del(...["gen_z", "mobile_first", "email_reachable", "dormant_signups"].flatMap((x) => [f.keys(x).membersKey, f.keys(x).metricsKey, f.keys(x).metaKey]));
  });

  it("skips a segment whose stored spec has the old layout (entityKeyPrefix, no metricsKey), and serves the others", async () => {
    const s = `"${f.t.schema}"`;
    const legacy = `jsonb_set(spec #- '{outputs,redis,metricsKey}', '{outputs,redis,entityKeyPrefix}', to_jsonb($1::text))`;
    await f.db.client.query(`UPDATE ${s}.pipeline_versions SET spec = ${legacy} WHERE segment = 'high_value'`, [`${f.prefix}entity:customer:`]);
    try {
      await server.catalog.reload();
      expect(server.catalog.get("high_value")).toBeUndefined();
      expect(await get("/v1/segments/high_value")).toMatchObject({ status: 404 });
      expect(await get("/v1/segments/high_value/members/c1")).toMatchObject({ status: 404 });
      const list = await get("/v1/segments");
      expect(list.status).toBe(200);
      expect(list.body.segments.map((x: { name: string }) => x.name)).not.toContain("high_value");
      expect(list.body.segments).toHaveLength(f.specs.length - 1);
      expect(await get("/v1/entities/c1/segments")).toMatchObject({ status: 200, body: { segments: [] } });
      expect((await get("/v1/entities/v2/segments")).body.segments.map((x: { segment: string }) => x.segment)).toEqual(["vip_outreach"]);
    } finally {
      await f.db.client.query(
        `UPDATE ${s}.pipeline_versions SET spec = jsonb_set(spec #- '{outputs,redis,entityKeyPrefix}', '{outputs,redis,metricsKey}', to_jsonb($1::text)) WHERE segment = 'high_value'`,
        [f.keys("high_value").metricsKey],
      );
      await server.catalog.reload();
    }
    // Served again once the catalog's reload has rewritten the segment index (asynchronously).
    const listed = async () => (await get("/v1/entities/c1/segments")).body.segments.map((x: { segment: string }) => x.segment);
    const deadline = Date.now() + 5_000;
    while ((await listed()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await listed()).toEqual(["high_value"]);
  });

  it("stops serving a segment once it is retired (its Redis keys are still there)", async () => {
    const s = `"${f.t.schema}"`;
    await f.db.client.query(`UPDATE ${s}.pipelines SET status = 'retired', retired_at = now() WHERE segment = 'vip_outreach'`);
    await f.db.client.query("SELECT pg_notify($1, '0')", [`${f.t.schema}_pipelines`]);
    const deadline = Date.now() + 5_000;
    while (server.catalog.get("vip_outreach") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await get("/v1/segments/vip_outreach")).toMatchObject({ status: 404 });
    expect(await get("/v1/segments/vip_outreach/members")).toMatchObject({ status: 404 });
    expect(await get("/v1/segments/vip_outreach/members/v1")).toMatchObject({ status: 404 });
    expect((await get("/v1/entities/v2/segments")).body.segments).toEqual([]);
    expect((await get("/v1/segments")).body.segments.map((x: { name: string }) => x.name)).not.toContain("vip_outreach");
    await f.db.client.query(`UPDATE ${s}.pipelines SET status = 'active', retired_at = NULL WHERE segment = 'vip_outreach'`);
    await server.catalog.reload();
  });

  it("pages members of small sets (listpack, intset) exactly once with any limit", async () => {
    const keys = f.keys("churned");
    const words = Array.from({ length: 50 }, (_, i) => `m${i}`);
    const numbers = Array.from({ length: 400 }, (_, i) => String(i * 7));
    for (const [members, limits] of [
      [words, [1, 7, 49, 50, 51]],
      [numbers, [1, 33, 399, 400, 1000]],
    ] as const) {
      await writeSnapshot(f.redis, keys, "churned", "run-small", members);
      for (const limit of limits) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const r = await get(`/v1/segments/churned/members?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
          expect(r.status).toBe(200);
          expect(r.body.members.length).toBeLessThanOrEqual(limit);
          expect(r.body.runId).toBe("run-small");
          seen.push(...r.body.members);
          cursor = r.body.next;
          expect(++pages).toBeLessThan(1_000);
        } while (cursor !== null);
        expect(seen.length).toBe(members.length);
        expect(new Set(seen)).toEqual(new Set(members));
      }
    }
  });

  it("pages 100,000 members: each exactly once", async () => {
    const keys = f.keys("churned");
    const members = Array.from({ length: 100_000 }, (_, i) => `cust-${i.toString(36)}`);
    await writeSnapshot(f.redis, keys, "churned", "run-big", members, () => ({}));
    for (const limit of [1_000, 777]) {
      const seen = new Set<string>();
      let total = 0;
      let cursor: string | null = null;
      do {
        const r = await get(`/v1/segments/churned/members?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        expect(r.status).toBe(200);
        expect(r.body.members.length).toBeLessThanOrEqual(limit);
        for (const m of r.body.members) seen.add(m);
        total += r.body.members.length;
        cursor = r.body.next;
      } while (cursor !== null);
      expect(total).toBe(100_000);
      expect(seen.size).toBe(100_000);
    }
    // A page holds at most `limit` members (a batch that would overflow it is left for the next page).
    const first = await get("/v1/segments/churned/members");
    expect(first.body.members.length).toBeGreaterThan(900);
    expect(first.body.members.length).toBeLessThanOrEqual(1_000);
  }, 120_000);

  it("refuses to continue a listing over a newer run (409) and rejects forged cursors (400)", async () => {
    const keys = f.keys("at_risk");
    await writeSnapshot(f.redis, keys, "at_risk", "run-1", Array.from({ length: 1_000 }, (_, i) => `a${i}`));
    const p1 = await get("/v1/segments/at_risk/members?limit=100");
    expect(p1.body.next).not.toBeNull();
    await f.redis.hset(keys.metaKey, "runId", "run-2");
    const p2 = await get(`/v1/segments/at_risk/members?limit=100&cursor=${p1.body.next}`);
    expect(p2).toMatchObject({ status: 409, body: { error: "snapshot-changed" } });
    for (const bad of ["zzz", Buffer.from('[1,"run-2","x",0]').toString("base64url"), Buffer.from('[1,"run-2","1",-1]').toString("base64url"), "a".repeat(1025), "a%20b"]) {
      expect((await get(`/v1/segments/at_risk/members?cursor=${bad}`)).status).toBe(400);
    }
  });

  it("treats quotes, URL-encoded slashes, unicode and oversized path values as data: 200, 400 or 404, never 500", async () => {
    const keys = f.keys("high_value");
    const odd = ['a/b', `"quoted'`, "✓😀 ünïcödé", "a.b", "...", "%2F", "a\\b", "x".repeat(256), "seg:segment:high_value:members", "*", "?x=1#y"];
    await f.redis.sadd(keys.membersKey, ...odd);
    // (The ids "." and ".." cannot be addressed in a path: URL parsers resolve them away, even as %2E%2E.)
    const enc = (id: string) => encodeURIComponent(id);
    for (const id of odd) {
      const r = await get(`/v1/segments/high_value/members/${enc(id)}`);
      expect(r.status, id).toBe(200);
      expect(r.body.entityId).toBe(id);
      expect(r.body.member).toBe(true);
      const e = await get(`/v1/entities/${enc(id)}/segments`);
      expect(e.status).toBe(200);
      expect(e.body.entityId).toBe(id);
    }
    const statuses = new Map<string, number>();
    for (const path of [
      `/v1/segments/high_value/members/${"x".repeat(257)}`,
      `/v1/segments/high_value/members/${"é".repeat(257)}`,
      `/v1/segments/high_value/members/${"x".repeat(10_000)}`,
      `/v1/segments/${"s".repeat(201)}`,
      `/v1/segments/${"s".repeat(200)}`,
      "/v1/segments/high_value/members/%00",
      "/v1/segments/high_value/members/a%0Ab",
      "/v1/segments/high_value/members/%E0%A4%A",
      "/v1/segments/high_value/members/%",
      "/v1/segments/high%2Fvalue",
      "/v1/segments/high_value%22",
      "/v1/segments/'%20OR%201=1",
      "/v1/segments/high_value/members?limit=-1",
      "/v1/segments/high_value/members?limit=10001",
      "/v1/segments/high_value/members?limit=abc",
      "/v1/segments/high_value/members?unknown=1",
      "/v1/entities/c1/segments?entity=",
      "/v1/segments/high_value/members/",
      "/v1/segments//members",
      "/v1/nope",
    ]) {
      const r = await get(path);
      statuses.set(path, r.status);
      expect([400, 404, 414], `${path.slice(0, 80)} -> ${r.status}`).toContain(r.status);
      expect(r.body).toMatchObject({ error: expect.any(String), message: expect.any(String) });
      expect(JSON.stringify(r.body)).not.toContain("x".repeat(300));
    }
    expect(statuses.get(`/v1/segments/high_value/members/${"x".repeat(257)}`)).toBe(400);
    expect(statuses.get(`/v1/segments/${"s".repeat(201)}`)).toBe(400);
    expect(statuses.get(`/v1/segments/${"s".repeat(200)}`)).toBe(404);
  });

  it("serves the ops views: schemas and streams", async () => {
    const ops = bearer(f.tokens.ops);
    const schemas = await get("/v1/schemas", ops);
    expect(schemas.status).toBe(200);
    expect(schemas.body.schemas.map((s: { name: string }) => s.name)).toEqual(["add_to_cart", "customer", "page_view", "purchase"]);
    expect(schemas.body.schemas[0]).toMatchObject({ version: 1, kind: "event", key: "customer_id", hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await get("/v1/schemas?name=customer", ops)).body.schemas).toHaveLength(1);
    await f.db.client.query(
      `INSERT INTO "${f.t.schema}".stream_progress (stream, topic, partition, "offset", received, valid, invalid, lag) VALUES ('ingest', 'seg.events.purchase', 0, 41, 42, 40, 2, 3)`,
    );
    expect((await get("/v1/streams", ops)).body.streams).toEqual([
      expect.objectContaining({ stream: "ingest", topic: "seg.events.purchase", partition: 0, offset: "41", received: 42, valid: 40, invalid: 2, lag: 3, lastEventTime: null }),
    ]);
  });

  it("exports Prometheus request counts and latency histograms by route and status", async () => {
    await get("/v1/segments/high_value/members/c1");
    await get("/v1/segments/nope");
    const r = await server.app.inject({ method: "GET", url: "/metrics", headers: bearer(f.tokens.ops) });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toContain("text/plain");
    expect(r.body).toMatch(/seg_serve_http_requests_total\{method="GET",route="\/v1\/segments\/:segment\/members\/:entityId",status="200"\} \d+/);
    expect(r.body).toMatch(/seg_serve_http_requests_total\{method="GET",route="\/v1\/segments\/:segment",status="404"\} \d+/);
    expect(r.body).toMatch(/seg_serve_http_request_duration_seconds_bucket\{le="0.001",method="GET",route="\/v1\/segments\/:segment\/members\/:entityId",status="200"\} \d+/);
    expect(r.body).toContain("seg_serve_auth_denials_total");
    expect(r.body).not.toMatch(/route="\/v1\/segments\/high_value/);
  });

  it("counts each answered request once in its route's series (HEAD and unknown paths too), and HEAD needs a token too", async () => {
    const scrape = async () => (await server.app.inject({ method: "GET", url: "/metrics", headers: bearer(f.tokens.ops) })).body;
    const labels = (method: string, route: string, status: number) => `method="${method}",route="${route}",status="${status}"`;
    const value = (body: string, line: string) => {
      const found = body.split("\n").find((l) => l.startsWith(`${line} `));
      return found === undefined ? 0 : Number(found.slice(line.length + 1));
    };
    const seg = "/v1/segments/:segment";
    const before = await scrape();
    await get("/v1/segments/high_value");
    await get("/v1/segments/high_value");
    expect((await server.app.inject({ method: "HEAD", url: "/v1/segments/high_value" })).statusCode).toBe(401);
    expect((await server.app.inject({ method: "HEAD", url: "/v1/segments/high_value", headers: consumer })).statusCode).toBe(200);
    expect((await get("/v1/no/such/route")).status).toBe(404);
    const after = await scrape();
    const delta = (name: string, l: string) => value(after, `${name}{${l}}`) - value(before, `${name}{${l}}`);
    expect(delta("seg_serve_http_requests_total", labels("GET", seg, 200))).toBe(2);
    expect(delta("seg_serve_http_requests_total", labels("HEAD", seg, 401))).toBe(1);
    expect(delta("seg_serve_http_requests_total", labels("HEAD", seg, 200))).toBe(1);
    expect(delta("seg_serve_http_requests_total", labels("GET", "unmatched", 404))).toBe(1);
    // The histogram agrees with the counter: +Inf bucket = count = requests; buckets never decrease.
    const l = labels("GET", seg, 200);
    const count = value(after, `seg_serve_http_request_duration_seconds_count{${l}}`);
    expect(count).toBe(value(after, `seg_serve_http_requests_total{${l}}`));
    expect(value(after, `seg_serve_http_request_duration_seconds_bucket{le="+Inf",${l}}`)).toBe(count);
    const buckets = after.split("\n").filter((x) => x.startsWith("seg_serve_http_request_duration_seconds_bucket{") && x.includes(l)).map((x) => Number(x.split(" ").pop()));
    expect(buckets.length).toBeGreaterThan(2);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(value(after, `seg_serve_http_request_duration_seconds_sum{${l}}`)).toBeGreaterThan(0);
  });

  it("answers 503 from /readyz when Redis is down, and 503 (not 500) on data routes", async () => {
    const s2 = await f.server();
    s2.redis.disconnect();
    const ready = await s2.app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: "not-ready", checks: { redis: "unavailable", postgres: "ok" } });
    const r = await s2.app.inject({ method: "GET", url: "/v1/segments/high_value/members/c1", headers: consumer });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ error: "unavailable", message: "a backing store is unavailable; try again" });
  });
});

describe("seg serve: the OpenAPI document", () => {
  let f: ServeFixture;
  let server: SegServer;
  beforeAll(async () => {
    f = await serveFixture();
    server = await f.server();
  });
  afterAll(async () => f.cleanup());

  it("describes every route with parameters, response schemas, security and roles", async () => {
    const doc = (await server.app.inject({ method: "GET", url: "/openapi.json" })).json();
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/healthz",
      "/metrics",
      "/openapi.json",
      "/readyz",
      "/v1/changes",
      "/v1/entities/{entityId}/segments",
      "/v1/schemas",
      "/v1/segments",
      "/v1/segments/{segment}",
      "/v1/segments/{segment}/members",
      "/v1/segments/{segment}/members/{entityId}",
      "/v1/streams",
    ]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      expect(Object.keys(ops)).toEqual(["get"]);
      const op = ops["get"];
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      expect(op.responses["200"]).toBeDefined();
      for (const m of path.matchAll(/\{(\w+)\}/g)) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: m[1], in: "path", required: true }));
      }
      const isPublic = ["/healthz", "/readyz", "/openapi.json"].includes(path);
      expect(op.security).toEqual(isPublic ? [] : [{ bearer: [] }]);
      if (!isPublic) {
        expect(op.responses["401"]).toBeDefined();
        expect(op.responses["403"]).toBeDefined();
      }
    }
    const member = doc.paths["/v1/segments/{segment}/members/{entityId}"].get;
    expect(member["x-seg-roles"]).toEqual(["admin", "consumer"]);
    expect(member.parameters.find((p: { name: string }) => p.name === "entityId").schema).toMatchObject({ type: "string", maxLength: 256 });
    expect(member.responses["200"].content["application/json"].schema.required).toContain("member");
    const page = doc.paths["/v1/segments/{segment}/members"].get;
    expect(page.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(["path:segment", "query:cursor", "query:limit"]);
    expect(doc.paths["/metrics"].get.responses["200"].content["text/plain"]).toBeDefined();
    expect(doc.paths["/v1/changes"].get.responses["101"]).toBeDefined();
  });
});
