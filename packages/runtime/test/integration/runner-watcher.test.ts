/**
 * The watcher against PostgreSQL: a deploy is seen through NOTIFY within about a second; a change
 * made without NOTIFY is seen by the poll; a dropped LISTEN connection is re-established and what
 * changed meanwhile is seen.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import { migrate, startWatcher, type ActivePipeline, type PipelineChange, type ReloadReason, type SegDb, type Watcher } from "@seg/runtime";
import { TestDatabase, compileExample, databaseUrl, variant } from "../support/deploy-fixtures.js";
import { deploySpecs } from "../support/runner-fixtures.js";

interface Seen {
  at: number;
  pipelines: readonly ActivePipeline[];
  change: PipelineChange & { reason: ReloadReason };
}

function recorder() {
  const seen: Seen[] = [];
  const waiters: { test: (s: Seen) => boolean; resolve: (s: Seen) => void }[] = [];
  return {
    seen,
    onChange: (pipelines: readonly ActivePipeline[], change: PipelineChange & { reason: ReloadReason }) => {
      const s = { at: Date.now(), pipelines, change };
      seen.push(s);
      for (const w of [...waiters]) {
        if (w.test(s)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(s);
        }
      }
    },
    next: (test: (s: Seen) => boolean, timeoutMs = 10_000) =>
      new Promise<Seen>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching change within ${timeoutMs} ms; seen: ${JSON.stringify(seen.map((s) => s.change))}`)), timeoutMs);
        waiters.push({
          test,
          resolve: (s) => {
            clearTimeout(timer);
            resolve(s);
          },
        });
      }),
  };
}

describe("the watcher", () => {
  const database = new TestDatabase();
  let db: SegDb;
  let specs: PipelineSpec[];
  const watchers: Watcher[] = [];

  beforeAll(async () => {
    specs = compileExample().specs.slice(0, 4);
    db = await database.connect();
    await migrate(db);
  });
  afterAll(async () => {
    for (const w of watchers) await w.stop();
    await database.cleanup();
  });

  it("starts on a schema with nothing deployed, then sees deploys through NOTIFY within a second", async () => {
    const rec = recorder();
    const w = await startWatcher({ databaseUrl, schema: database.schema, onChange: rec.onChange, pollIntervalMs: 60_000 });
    watchers.push(w);
    expect(rec.seen).toHaveLength(1);
    expect(rec.seen[0]!.change.reason).toBe("start");
    expect(w.current()).toEqual([]);

    let t = Date.now();
    const added = rec.next((s) => s.change.added.length > 0);
    await deploySpecs(db, specs.slice(0, 2));
    let s = await added;
    expect(s.at - t).toBeLessThan(1_000);
    expect(s.change.reason).toBe("notify");
    expect(s.change.added).toEqual(specs.slice(0, 2).map((x) => x.id).sort());
    expect(w.current().map((p) => p.segment)).toEqual(specs.slice(0, 2).map((x) => x.id).sort());
    expect(w.current()[0]!.spec.plan.outputs).toHaveLength(1);

    // A new version, and a retirement, in one deploy.
    const changed = variant(specs[0]!, (b) => {
      b.refreshSeconds = 60;
    });
    t = Date.now();
    const next = rec.next((x) => x.change.changed.length > 0);
    await deploySpecs(db, [changed, specs[2]!]);
    s = await next;
    expect(s.at - t).toBeLessThan(1_000);
    expect(s.change).toMatchObject({ added: [specs[2]!.id], changed: [specs[0]!.id], removed: [specs[1]!.id] });
    expect(w.current().find((p) => p.segment === specs[0]!.id)!.version).toBe(changed.version);

    // A deploy that changes nothing is not reported.
    const before = rec.seen.length;
    await deploySpecs(db, [changed, specs[2]!]);
    await w.refresh();
    expect(rec.seen).toHaveLength(before);
  });

  it("sees a change made without NOTIFY at the next poll", async () => {
    const rec = recorder();
    const w = await startWatcher({ databaseUrl, schema: database.schema, onChange: rec.onChange, pollIntervalMs: 300 });
    watchers.push(w);
    const segment = w.current()[0]!.segment;
    const t = Date.now();
    const removed = rec.next((s) => s.change.removed.includes(segment));
    await db.client.query(`UPDATE "${database.schema}".pipelines SET status = 'retired', retired_at = now() WHERE segment = $1`, [segment]);
    const s = await removed;
    expect(s.change.reason).toBe("poll");
    expect(s.at - t).toBeLessThan(1_500);
    expect(w.current().some((p) => p.segment === segment)).toBe(false);
  });

  it("reconnects when its connection drops and sees what changed meanwhile", async () => {
    const rec = recorder();
    const w = await startWatcher({ databaseUrl, schema: database.schema, onChange: rec.onChange, pollIntervalMs: 60_000, reconnectMinMs: 50 });
    watchers.push(w);
    const pid = w.backendPid();
    expect(pid).toBeTypeOf("number");
    const dropped = new Promise((r) => w.events.once("disconnected", r));
    const back = new Promise((r) => w.events.once("connected", r));
    await db.client.query("SELECT pg_terminate_backend($1)", [pid]);
    await dropped;
    expect(w.connected()).toBe(false);
    // Deployed while the watcher is away: no notification reaches it.
    const added = rec.next((s) => s.change.added.includes(specs[3]!.id));
    await deploySpecs(db, [specs[3]!]);
    await back;
    const s = await added;
    expect(["reconnect", "notify"]).toContain(s.change.reason);
    expect(w.connected()).toBe(true);
    expect(w.backendPid()).not.toBe(pid);

    // And NOTIFY works on the new connection.
    const t = Date.now();
    const again = rec.next((x) => x.change.added.includes(specs[0]!.id));
    await deploySpecs(db, [specs[3]!, specs[0]!]);
    const s2 = await again;
    expect(s2.change.reason).toBe("notify");
    expect(s2.at - t).toBeLessThan(1_000);
  });
});
