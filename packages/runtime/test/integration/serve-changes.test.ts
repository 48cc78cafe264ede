import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { changesChannel, cleanupRetiredSegment, createToken, deployProject, readRetiredPipelines, retirementChange, revokeToken, type SegServer } from "@seg/runtime";
import { compileExample } from "../support/deploy-fixtures.js";
import { serveFixture, writeSnapshot, type ServeFixture } from "../support/serve-fixtures.js";

interface Client {
  ws: WebSocket;
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  waitFor(pred: (msgs: any[]) => boolean, ms?: number): Promise<void>;
  changes(): any[];
}

function connect(base: string, path: string, token?: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const messages: any[] = [];
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on("close", (code, reason) => res({ code, reason: reason.toString() })));
    ws.on("message", (data) => messages.push(JSON.parse(data.toString())));
    const waitFor = async (pred: (msgs: any[]) => boolean, ms = 5_000) => {
      const end = Date.now() + ms;
      while (!pred(messages)) {
        if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(messages).slice(0, 500)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const client: Client = { ws, messages, closed, waitFor, changes: () => messages.filter((m) => m.type === "change") };
    ws.on("open", () => resolve(client));
    ws.on("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.on("error", reject);
  });
}

describe("the change stream", () => {
  let f: ServeFixture;
  let server: SegServer;
  let base: string;
  let n = 0;
  const publish = async (segment: string, entityId: string, change: "enter" | "exit", runId = "run-1") => {
    await f.redis.publish(changesChannel(f.prefix, segment), JSON.stringify({ segment, entityId, change, runId, asOf: "2026-11-01T00:00:00Z" }));
  };
  const ready = (c: Client) => c.waitFor((m) => m.some((x) => x.type === "ready"));

  beforeAll(async () => {
    f = await serveFixture();
    ({ server, url: base } = await f.listening());
  });
  afterAll(async () => f.cleanup());

  it("delivers enter/exit events of the requested segments only, in order, each once", async () => {
    const c = await connect(base, "/v1/changes?segment=high_value", f.tokens.consumer);
    await ready(c);
    expect(c.messages[0]).toMatchObject({ type: "ready", segments: ["high_value"], since: null });
    await publish("high_value", "c1", "enter");
    await publish("vip_outreach", "v1", "enter");
    await publish("high_value", "c1", "enter"); // published twice (at-least-once): one event
    await publish("high_value", "c2", "exit");
    await publish("not_deployed", "x", "enter");
    await c.waitFor((m) => m.filter((x) => x.type === "change").length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    const got = c.changes();
    expect(got.map((e) => [e.segment, e.entityId, e.change])).toEqual([
      ["high_value", "c1", "enter"],
      ["high_value", "c2", "exit"],
    ]);
    expect(got[0]).toMatchObject({ runId: "run-1", asOf: "2026-11-01T00:00:00Z" });
    expect(BigInt(got[1].id)).toBeGreaterThan(BigInt(got[0].id));
    c.ws.close();
    n = Number(got[1].id);
  });

  it("accepts several segments (repeated or comma-separated) and all segments by default", async () => {
    const two = await connect(base, "/v1/changes?segment=high_value,vip_outreach", f.tokens.admin);
    const rep = await connect(base, "/v1/changes?segment=high_value&segment=vip_outreach", f.tokens.admin);
    const all = await connect(base, "/v1/changes", f.tokens.consumer);
    await Promise.all([ready(two), ready(rep), ready(all)]);
    await publish("vip_outreach", "v2", "enter", "run-2");
    await publish("churned", "z1", "enter", "run-2");
    await publish("high_value", "c3", "enter", "run-2");
    await all.waitFor((m) => m.filter((x) => x.type === "change").length === 3);
    for (const c of [two, rep]) {
      await c.waitFor((m) => m.filter((x) => x.type === "change").length === 2);
      expect(c.changes().map((e) => e.entityId)).toEqual(["v2", "c3"]);
    }
    expect(all.changes().map((e) => e.entityId)).toEqual(["v2", "z1", "c3"]);
    for (const c of [two, rep, all]) c.ws.close();
  });

  it("resumes after a reconnect with since=<last id>: exactly the missed events, then live", async () => {
    const first = await connect(base, "/v1/changes?segment=high_value", f.tokens.consumer);
    await ready(first);
    await publish("high_value", "r1", "enter", "run-3");
    await first.waitFor((m) => m.some((x) => x.entityId === "r1"));
    const last = first.changes().at(-1).id;
    first.ws.close();
    await first.closed;
    for (const id of ["r2", "r3", "r4"]) await publish("high_value", id, "enter", "run-3");
    await publish("vip_outreach", "other", "enter", "run-3");
    await new Promise((r) => setTimeout(r, 200));
    const again = await connect(base, `/v1/changes?segment=high_value&since=${last}`, f.tokens.consumer);
    await ready(again);
    await publish("high_value", "r5", "enter", "run-3");
    await again.waitFor((m) => m.some((x) => x.entityId === "r5"));
    expect(again.messages.map((m) => (m.type === "change" ? m.entityId : m.type))).toEqual(["r2", "r3", "r4", "ready", "r5"]);
    const ids = again.changes().map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    again.ws.close();

    // All segments, from the start: the merged history in id order.
    const everything = await connect(base, "/v1/changes?since=0", f.tokens.consumer);
    await ready(everything);
    const all = everything.changes();
    expect(all.length).toBeGreaterThanOrEqual(n);
    expect(all.map((e) => BigInt(e.id))).toEqual(all.map((e) => BigInt(e.id)).sort((a, b) => (a < b ? -1 : 1)));
    expect(all.map((e) => e.entityId)).toEqual(expect.arrayContaining(["c1", "c2", "v1", "v2", "z1", "c3", "r1", "r2", "r3", "r4", "r5", "other"]));
    everything.ws.close();
  });

  it("gives every server the same ids (one history for all replicas)", async () => {
    const other = await f.server();
    const url2 = await other.listen({ host: "127.0.0.1", port: 0 });
    const a = await connect(base, "/v1/changes?segment=churned", f.tokens.consumer);
    const b = await connect(url2, "/v1/changes?segment=churned", f.tokens.consumer);
    await Promise.all([ready(a), ready(b)]);
    for (let i = 0; i < 20; i++) await publish("churned", `k${i}`, "enter", "run-4");
    await a.waitFor((m) => m.filter((x) => x.type === "change").length === 20);
    await b.waitFor((m) => m.filter((x) => x.type === "change").length === 20);
    expect(b.changes()).toEqual(a.changes());
    const len = await f.redis.xlen(`${f.prefix}serve:changes:churned`);
    expect(len).toBe(21); // z1 earlier, and these 20 once each, though two servers recorded them
    a.ws.close();
    b.ws.close();
  });

  it("tells the client to re-read (reset) when the history after since was trimmed or is unknown", async () => {
    const small = await f.server({ historyMaxLen: 5 });
    const url = await small.listen({ host: "127.0.0.1", port: 0 });
    await server.close(); // one recorder, so trimming is only this server's
    const seq0 = BigInt((await f.redis.get(`${f.prefix}serve:changes:seq`)) ?? "0");
    const probe = await connect(url, "/v1/changes?segment=at_risk", f.tokens.consumer);
    await ready(probe);
    for (let i = 0; i < 300; i++) await publish("at_risk", `t${i}`, "enter", "run-5");
    await probe.waitFor((m) => m.filter((x) => x.type === "change").length === 300);
    probe.ws.close();
    const c = await connect(url, `/v1/changes?segment=at_risk&since=${seq0}`, f.tokens.consumer);
    await ready(c);
    expect(c.messages[0]).toEqual({ type: "reset", reason: "history-trimmed", segments: ["at_risk"] });
    const replayed = c.changes();
    expect(replayed.length).toBeLessThan(300);
    expect(replayed.at(-1).entityId).toBe("t299");
    c.ws.close();
    // Resuming from the newest id needs no reset.
    const d = await connect(url, `/v1/changes?segment=at_risk&since=${replayed.at(-1).id}`, f.tokens.consumer);
    await ready(d);
    expect(d.messages.map((m) => m.type)).toEqual(["ready"]);
    d.ws.close();
    const future = await connect(url, "/v1/changes?segment=at_risk&since=999999999999", f.tokens.consumer);
    await ready(future);
    expect(future.messages[0]).toMatchObject({ type: "reset", reason: "unknown-position" });
    future.ws.close();
    base = url;
  });

  it("refuses upgrades without a valid token (401), for the wrong role (403), for unknown segments (404) and bad parameters (400)", async () => {
    await expect(connect(base, "/v1/changes")).rejects.toThrow("status 401");
    await expect(connect(base, "/v1/changes", "seg_0000000000000000_" + "A".repeat(43))).rejects.toThrow("status 401");
    await expect(connect(base, "/v1/changes", f.tokens.ops)).rejects.toThrow("status 403");
    await expect(connect(base, "/v1/changes", f.tokens.analyst)).rejects.toThrow("status 403");
    await expect(connect(base, "/v1/changes?segment=nope", f.tokens.consumer)).rejects.toThrow("status 404");
    await expect(connect(base, "/v1/changes?since=abc", f.tokens.consumer)).rejects.toThrow("status 400");
    await expect(connect(base, `/v1/changes?segment=${"x".repeat(300)}`, f.tokens.consumer)).rejects.toThrow("status 400");
  });

  it("answers an upgrade to a route that does not stream with a plain response, then closes the connection", async () => {
    const { connect: tcp } = await import("node:net");
    const { hostname, port } = new URL(base);
    for (const [path, status] of [
      ["/v1/segments", 200],
      ["/v1/segments", 401],
      ["/no/such/route", 404],
    ] as const) {
      const socket = tcp({ host: hostname, port: Number(port) });
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      const closed = new Promise<void>((r) => socket.on("close", () => r()));
      const auth = status === 401 ? "" : `Authorization: Bearer ${f.tokens.consumer}\r\n`;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString("base64")}\r\n${auth}\r\n`);
      const timeout = new Promise<string>((r) => setTimeout(() => r("still open"), 3_000));
      expect(await Promise.race([closed.then(() => "closed"), timeout]), path).toBe("closed");
      expect(text.startsWith(`HTTP/1.1 ${status} `), text.slice(0, 40)).toBe(true);
      socket.destroy();
    }
  });

  it("closes an open stream when its token is revoked", async () => {
    const t = await createToken(f.db, { name: "stream-user", role: "consumer", actor: "t", via: "test" });
    const c = await connect(base, "/v1/changes", t.token).catch(async () => {
      // The server may not have reloaded its tokens yet.
      await new Promise((r) => setTimeout(r, 300));
      return connect(base, "/v1/changes", t.token);
    });
    await ready(c);
    await revokeToken(f.db, "stream-user", "t", "test");
    const closed = await Promise.race([c.closed, new Promise<{ code: number }>((r) => setTimeout(() => r({ code: -1 }), 5_000))]);
    expect(closed).toEqual({ code: 4401, reason: "token no longer valid" });
  });

  it("serves Server-Sent Events to plain HTTP clients, resumable with Last-Event-ID", async () => {
    const read = async (headers: Record<string, string>, path: string, until: (text: string) => boolean) => {
      const ctl = new AbortController();
      const r = await fetch(base + path, { headers: { authorization: `Bearer ${f.tokens.consumer}`, ...headers }, signal: ctl.signal });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const reader = r.body!.getReader();
      let text = "";
      const end = Date.now() + 5_000;
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += Buffer.from(value).toString("utf8");
          if (until(text)) return;
        }
      })();
      while (!until(text) && Date.now() < end) {
        await new Promise((res) => setTimeout(res, 10));
        if (text.includes("event: ready") && !text.includes("s1")) {
          await publish("lapsing_spenders", "s1", "enter", "run-6");
          await publish("lapsing_spenders", "s2", "exit", "run-6");
        }
      }
      ctl.abort();
      await pump.catch(() => {});
      return text;
    };
    const text = await read({}, "/v1/changes?segment=lapsing_spenders", (t) => t.includes('"s2"'));
    const events = text.split("\n\n").filter((b) => b.includes("event: change"));
    expect(events).toHaveLength(2);
    const firstId = /^id: (\d+)$/m.exec(events[0]!)![1]!;
    expect(events[0]).toContain(`data: {"type":"change","id":"${firstId}","segment":"lapsing_spenders","entityId":"s1","change":"enter"`);
    const resumed = await read({ "last-event-id": firstId }, "/v1/changes?segment=lapsing_spenders", (t) => t.includes("event: ready"));
    const replayed = resumed.split("\n\n").filter((b) => b.includes("event: change"));
    expect(replayed).toHaveLength(1);
    expect(replayed[0]).toContain('"entityId":"s2"');
  });
});

describe("the change stream of a retired segment", () => {
  it("sends the exits its retirement announces to its clients and to clients of all segments, live and on resume, and nothing else of it", async () => {
    // A deployment of its own: this test retires one of its segments.
    const f = await serveFixture();
    try {
      const { url: base } = await f.listening();
      const gone = "churned";
      await writeSnapshot(f.redis, f.keys(gone), gone, "run-1", ["e3", "e1", "e2"]);
      const seq0 = (await f.redis.get(`${f.prefix}serve:changes:seq`)) ?? "0";
      const one = await connect(base, `/v1/changes?segment=${gone}`, f.tokens.consumer);
      const all = await connect(base, "/v1/changes", f.tokens.consumer);
      await Promise.all([one, all].map((c) => c.waitFor((m) => m.some((x) => x.type === "ready"))));

      // Retired by a deploy without it; wait until this server's catalog no longer serves it.
      const { deployId } = await deployProject(f.db, { specs: f.specs.filter((s) => s.id !== gone), schemas: compileExample().schemas, actor: "serve-test" });
      const end = Date.now() + 10_000;
      while ((await fetch(`${base}/v1/segments/${gone}`, { headers: { authorization: `Bearer ${f.tokens.consumer}` } })).status !== 404) {
        if (Date.now() > end) throw new Error(`${gone} is still served 10 s after its retirement`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // A change of it that its retirement did not announce (a late run) stays unsent.
      await f.redis.publish(changesChannel(f.prefix, gone), JSON.stringify({ segment: gone, entityId: "late", change: "enter", runId: "run-2", asOf: "2026-11-01T00:00:00Z" }));

      // The runtime's cleanup of its keys PUBLISHes each member's exit (the changes topic is not needed here).
      const [retired] = await readRetiredPipelines({ schema: f.db.schema, query: async (sql, params) => (await f.db.client.query(sql, params)).rows }, { segment: gone });
      expect(retired?.deployId).toBe(deployId);
      const cleaned = await cleanupRetiredSegment(retired!, { redis: f.redis, prefix: f.prefix, exits: { send: async () => {}, ...retirementChange(retired!.deployId, retired!.retiredAt) } });
      expect(cleaned.members).toBe(3);

      const exits = ["e1", "e2", "e3"].map((entityId) => [gone, entityId, "exit", `retired-${deployId}`]);
      const seen = (c: Client) => c.changes().map((e) => [e.segment, e.entityId, e.change, e.runId]).sort((a, b) => (a[1] < b[1] ? -1 : 1));
      for (const c of [one, all]) {
        await c.waitFor((m) => m.filter((x) => x.type === "change").length >= 3);
        await new Promise((r) => setTimeout(r, 100));
        expect(seen(c)).toEqual(exits);
        c.ws.close();
      }

      // Resuming all segments from before the retirement replays them; naming the segment is a 404.
      const again = await connect(base, `/v1/changes?since=${seq0}`, f.tokens.consumer);
      await again.waitFor((m) => m.some((x) => x.type === "ready"));
      expect(seen(again)).toEqual(exits);
      again.ws.close();
      await expect(connect(base, `/v1/changes?segment=${gone}`, f.tokens.consumer)).rejects.toThrow("status 404");
    } finally {
      await f.cleanup();
    }
  });
});
