import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DeployError, deployProject, notifyChannel, type DeployResult, type DeployStep, type SegDb } from "@seg/runtime";
import { TestDatabase, compileExample, eventually, type CompiledExample } from "../support/deploy-fixtures.js";

const CART = "rules/cart_abandoners.seg";
const window = (days: number) => (f: { read(p: string): string; write(p: string, t: string): void }) =>
  f.write(CART, f.read(CART).replace("add_to_cart in last 7 days)", `add_to_cart in last ${days} days)`));

/** A gate a deploy waits at (in `onStep`) until the test opens it. */
function gate(at: DeployStep) {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const arrived = new Promise<void>((r) => (reached = r));
  return {
    onStep: async (s: DeployStep) => {
      if (s !== at) return;
      reached();
      await opened;
    },
    arrived,
    open,
  };
}

let base: CompiledExample;
let a: CompiledExample;
let b: CompiledExample;
const cart = (p: CompiledExample) => p.specs.find((s) => s.id === "cart_abandoners")!.version;

beforeAll(() => {
  base = compileExample();
  a = compileExample(window(3));
  b = compileExample(window(5));
}, 60_000);

describe("concurrent deploys", () => {
  let t: TestDatabase;
  let db1: SegDb;
  let db2: SegDb;
  let listener: SegDb;
  let notes: string[];

  async function setup(): Promise<void> {
    t = new TestDatabase();
    [db1, db2, listener] = await Promise.all([t.connect("deploy-1"), t.connect("deploy-2"), t.connect("listener")]);
    await deployProject(db1, { specs: base.specs, schemas: base.schemas, actor: "setup" });
    notes = [];
    listener.client.on("notification", (n) => notes.push(n.payload ?? ""));
    await listener.client.query(`LISTEN "${notifyChannel(t.schema)}"`);
  }
  afterEach(async () => t.cleanup());

  it("serialise: the second waits for the first, then plans against its result", async () => {
    await setup();
    const before = await t.counts(db1);
    const g = gate("locked");
    const waits: (string | undefined)[] = [];
    const first = deployProject(db1, { specs: a.specs, schemas: a.schemas, actor: "alice", onStep: g.onStep });
    await g.arrived;
    const second = deployProject(db2, { specs: b.specs, schemas: b.schemas, actor: "bob", onWaiting: (h) => waits.push(h) });
    await eventually(() => waits.length === 1);
    expect(waits[0]).toMatch(/^pid \d+ \(deploy-1/);
    g.open();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r2.deployId).toBe(r1.deployId! + 1);
    expect(r1.plan.changed.map((c) => [c.fromVersion, c.toVersion])).toEqual([[cart(base), cart(a)]]);
    expect(r2.plan.changed.map((c) => [c.fromVersion, c.toVersion])).toEqual([[cart(a), cart(b)]]);
    const after = await t.counts(db1);
    expect(after["pipeline_versions"]).toBe(before["pipeline_versions"]! + 2);
    expect(after["deploys"]).toBe(before["deploys"]! + 2);
    const cur = await db1.client.query(`SELECT current_version FROM "${t.schema}".pipelines WHERE segment = 'cart_abandoners'`);
    expect(cur.rows[0].current_version).toBe(cart(b));
    await eventually(() => notes.length === 2);
    expect(notes).toEqual([String(r1.deployId), String(r2.deployId)]);
  });

  it("started together with Promise.all, lose no update", async () => {
    await setup();
    const [r1, r2] = await Promise.all([
      deployProject(db1, { specs: a.specs, schemas: a.schemas, actor: "alice" }),
      deployProject(db2, { specs: b.specs, schemas: b.schemas, actor: "bob" }),
    ]);
    const [firstDone, secondDone] = r1.deployId! < r2.deployId! ? [r1, r2] : [r2, r1];
    const byId = (r: DeployResult) => r.plan.changed[0]!;
    expect(byId(firstDone).fromVersion).toBe(cart(base));
    expect(byId(secondDone).fromVersion).toBe(byId(firstDone).toVersion);
    const history = await db1.client.query(
      `SELECT deploy_id, from_version, to_version FROM "${t.schema}".deploy_changes WHERE segment = 'cart_abandoners' ORDER BY deploy_id`,
    );
    expect(history.rows.map((r) => r.from_version)).toEqual([null, cart(base), byId(firstDone).toVersion]);
  });

  it("with wait: false, the second fails at once with a clear message", async () => {
    await setup();
    const g = gate("locked");
    const first = deployProject(db1, { specs: a.specs, schemas: a.schemas, actor: "alice", onStep: g.onStep });
    await g.arrived;
    const e = await deployProject(db2, { specs: b.specs, schemas: b.schemas, actor: "bob", wait: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeployError);
    expect((e as DeployError).code).toBe("locked");
    expect((e as Error).message).toMatch(/another deploy of schema 'seg_test_\w+' is in progress \(pid \d+ \(deploy-1.*leave out --no-wait/);
    g.open();
    await first;
  });
});

describe("atomicity", () => {
  let t: TestDatabase;
  afterEach(async () => t.cleanup());

  it.each(["deploy-recorded", "versions", "pipelines", "retired", "schemas", "audit", "notified"] as DeployStep[])(
    "a failure after step '%s' leaves no trace and sends no NOTIFY",
    async (step) => {
      t = new TestDatabase();
      const [db, listener] = await Promise.all([t.connect(), t.connect("listener")]);
      await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "setup" });
      const notes: string[] = [];
      listener.client.on("notification", (n) => notes.push(n.payload ?? ""));
      await listener.client.query(`LISTEN "${notifyChannel(t.schema)}"`);
      const before = await t.counts(db);
      const changed = compileExample((f) => {
        window(3)(f);
        f.remove("rules/vip_outreach.seg");
        const p = "schemas/page_view.schema.json";
        f.write(p, f.read(p).replace('"type"', '"description": "edited", "type"'));
      });
      const boom = new Error(`injected failure after ${step}`);
      const r = deployProject(db, {
        specs: changed.specs,
        schemas: changed.schemas,
        actor: "mallory",
        onStep: (s) => {
          if (s === step) throw boom;
        },
      });
      await expect(r).rejects.toBe(boom);
      expect(await t.counts(db)).toEqual(before);
      await new Promise((res) => setTimeout(res, 150));
      expect(notes).toEqual([]);
      // The connection is usable and the same deploy then goes through.
      const ok = await deployProject(db, { specs: changed.specs, schemas: changed.schemas, actor: "mallory" });
      expect(ok.plan.removed.map((e) => e.segment)).toEqual(["vip_outreach"]);
      expect(ok.plan.schemas.map((s) => s.name)).toEqual(["page_view"]);
      await eventually(() => notes.length === 1);
    },
  );

  it("NOTIFY reaches a listener only after commit", async () => {
    t = new TestDatabase();
    const [db, listener] = await Promise.all([t.connect(), t.connect("listener")]);
    await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "setup" });
    const notes: string[] = [];
    listener.client.on("notification", (n) => notes.push(n.payload ?? ""));
    await listener.client.query(`LISTEN "${notifyChannel(t.schema)}"`);
    const g = gate("notified");
    const pending = deployProject(db, { specs: a.specs, schemas: a.schemas, actor: "alice", onStep: g.onStep });
    await g.arrived; // pg_notify ran; the transaction is still open
    await new Promise((res) => setTimeout(res, 300));
    expect(notes).toEqual([]);
    const seen = await listener.client.query(`SELECT count(*)::int AS n FROM "${t.schema}".deploys`);
    expect(seen.rows[0].n).toBe(1);
    g.open();
    const r = await pending;
    await eventually(() => notes.length === 1);
    expect(notes).toEqual([String(r.deployId)]);
  });
});
