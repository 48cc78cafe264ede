import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployProject, readDeployedState, type SegDb } from "@seg/runtime";
import { TestDatabase, compileExample, type CompiledExample } from "../support/deploy-fixtures.js";

let base: CompiledExample;
let edited: CompiledExample;
let removed: CompiledExample;

beforeAll(() => {
  base = compileExample();
  edited = compileExample((f) => f.write("rules/cart_abandoners.seg", f.read("rules/cart_abandoners.seg").replace("add_to_cart in last 7 days)", "add_to_cart in last 3 days)")));
  removed = compileExample((f) => f.remove("rules/vip_outreach.seg"));
}, 60_000);

describe("deployProject", () => {
  const t = new TestDatabase();
  let db: SegDb;
  const total = () => base.specs.length;
  beforeAll(async () => {
    db = await t.connect();
  });
  afterAll(async () => t.cleanup());

  it("a dry run on an empty database changes nothing, not even the tables", async () => {
    const r = await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "alice", dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.deployId).toBeUndefined();
    expect(r.plan.added).toHaveLength(total());
    const exists = await db.client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [db.schema]);
    expect(exists.rowCount).toBe(0);
  });

  it("adds every segment, registers every schema and audits who did it", async () => {
    const r = await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "alice", message: "first" });
    expect(r.deployId).toBe(1);
    expect(r.summary).toBe(`+${total()} ~0 -0 =0, ${base.schemas.length} schemas registered`);
    const counts = await t.counts(db);
    expect(counts).toMatchObject({ deploys: 1, pipelines: total(), pipeline_versions: total(), deploy_changes: total(), schemas: base.schemas.length });
    expect(counts["audit_log"]).toBe(total() + base.schemas.length + 1);
    const state = await readDeployedState(db);
    expect([...state.pipelines.values()].every((p) => p.status === "active" && p.lastDeployId === 1)).toBe(true);
    expect(state.pipelines.get("high_value")!.spec).toEqual(base.specs.find((s) => s.id === "high_value"));
    const deploy = await db.client.query(`SELECT kind, actor, message, added, changed, removed, unchanged FROM "${db.schema}".deploys`);
    expect(deploy.rows).toEqual([{ kind: "deploy", actor: "alice", message: "first", added: total(), changed: 0, removed: 0, unchanged: 0 }]);
    const audit = await db.client.query(
      `SELECT actor, action, target, details FROM "${db.schema}".audit_log WHERE target IN ('pipeline:high_value', 'deploy:1', 'schema:purchase') ORDER BY id`,
    );
    expect(audit.rows.map((a) => [a.actor, a.action, a.target])).toEqual([
      ["alice", "pipeline.add", "pipeline:high_value"],
      ["alice", "schema.register", "schema:purchase"],
      ["alice", "deploy", "deploy:1"],
    ]);
    expect(audit.rows[2].details).toMatchObject({ message: "first", noChanges: false, unchanged: 0 });
  });

  it("re-deploying the same project is a no-op: no new versions, and the audit says so", async () => {
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "bob" });
    expect(r.noop).toBe(true);
    expect(r.summary).toBe("no changes");
    const after = await t.counts(db);
    expect(after).toEqual({ ...before, deploys: before["deploys"]! + 1, audit_log: before["audit_log"]! + 1 });
    const audit = await db.client.query(`SELECT actor, action, details FROM "${db.schema}".audit_log ORDER BY id DESC LIMIT 1`);
    expect(audit.rows[0]).toMatchObject({ actor: "bob", action: "deploy", details: { summary: "no changes", noChanges: true, unchanged: total() } });
  });

  it("a changed rule gives exactly one new version, with the reason", async () => {
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: edited.specs, schemas: edited.schemas, actor: "carol" });
    expect(r.plan.changed.map((c) => [c.segment, c.reason, c.parts])).toEqual([["cart_abandoners", "sql changed", ["sql"]]]);
    expect(r.plan.unchanged).toHaveLength(total() - 1);
    const after = await t.counts(db);
    expect(after["pipeline_versions"]).toBe(before["pipeline_versions"]! + 1);
    const row = await db.client.query(`SELECT current_version, last_deploy_id FROM "${db.schema}".pipelines WHERE segment = 'cart_abandoners'`);
    expect(row.rows[0]).toEqual({ current_version: edited.specs.find((s) => s.id === "cart_abandoners")!.version, last_deploy_id: String(r.deployId) });
    const change = await db.client.query(`SELECT action, from_version, reason FROM "${db.schema}".deploy_changes WHERE deploy_id = $1`, [r.deployId]);
    expect(change.rows).toEqual([{ action: "changed", from_version: base.specs.find((s) => s.id === "cart_abandoners")!.version, reason: "sql changed" }]);
  });

  it("a dry run of a change changes nothing (row counts equal)", async () => {
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: removed.specs, schemas: removed.schemas, actor: "dave", dryRun: true });
    expect(r.plan.removed.map((e) => e.segment)).toEqual(["vip_outreach"]);
    // cart_abandoners goes back to the version of the first deploy
    expect(r.plan.changed.map((e) => e.segment)).toEqual(["cart_abandoners"]);
    expect(await t.counts(db)).toEqual(before);
  });

  it("removing a segment retires its pipeline and returns the Redis keys to delete", async () => {
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: removed.specs, schemas: removed.schemas, actor: "dave" });
    // cart_abandoners went back to a version already stored: no new version row
    expect((await t.counts(db))["pipeline_versions"]).toBe(before["pipeline_versions"]);
    expect(r.retiredRedisKeys).toEqual([
      { segment: "vip_outreach", keys: ["seg:segment:vip_outreach:members", "seg:segment:vip_outreach:meta", "seg:segment:vip_outreach:metrics"] },
    ]);
    const row = await db.client.query(`SELECT status, retired_at IS NOT NULL AS retired FROM "${db.schema}".pipelines WHERE segment = 'vip_outreach'`);
    expect(row.rows[0]).toEqual({ status: "retired", retired: true });
    const change = await db.client.query(`SELECT action, to_version, details FROM "${db.schema}".deploy_changes WHERE deploy_id = $1 AND segment = 'vip_outreach'`, [r.deployId]);
    expect(change.rows[0]).toMatchObject({ action: "removed", to_version: null, details: { redis: { keys: ["seg:segment:vip_outreach:members", "seg:segment:vip_outreach:meta", "seg:segment:vip_outreach:metrics"] } } });
    // Deploying the same project again leaves the retired segment alone.
    expect((await deployProject(db, { specs: removed.specs, schemas: removed.schemas, actor: "dave" })).noop).toBe(true);
  });

  it("adding it back reactivates it without a new version when the spec is the same", async () => {
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: base.specs, schemas: base.schemas, actor: "erin" });
    expect(r.plan.added.map((e) => [e.segment, e.reason])).toEqual([["vip_outreach", "reactivated"]]);
    expect((await t.counts(db))["pipeline_versions"]).toBe(before["pipeline_versions"]);
    const row = await db.client.query(`SELECT status, retired_at FROM "${db.schema}".pipelines WHERE segment = 'vip_outreach'`);
    expect(row.rows[0]).toEqual({ status: "active", retired_at: null });
  });

  it("registers a changed schema as a new version of its name", async () => {
    const changed = compileExample((f) => {
      const p = "schemas/page_view.schema.json";
      const json = JSON.parse(f.read(p));
      json.description = `${json.description ?? ""} (edited)`;
      f.write(p, JSON.stringify(json, null, 2));
    });
    const r = await deployProject(db, { specs: changed.specs, schemas: changed.schemas, actor: "frank" });
    expect(r.plan.schemas.map((s) => [s.name, s.version, s.isNew])).toEqual([["page_view", 2, false]]);
    const rows = await db.client.query(`SELECT version, hash FROM "${db.schema}".schemas WHERE name = 'page_view' ORDER BY version`);
    expect(rows.rows.map((x) => x.version)).toEqual([1, 2]);
    // Segments reading page_view carry its hash, so they change too, with "sources" as the reason.
    expect(r.plan.changed.length).toBeGreaterThan(0);
    expect(r.plan.changed.every((c) => c.parts.includes("sources"))).toBe(true);
  });

  it("schemasOnly registers new schema versions and leaves every pipeline as deployed", async () => {
    const changed = compileExample((f) => {
      const p = "schemas/purchase.schema.json";
      const json = JSON.parse(f.read(p));
      json.description = `${json.description ?? ""} (onboarded)`;
      f.write(p, JSON.stringify(json, null, 2));
    });
    const stateBefore = await readDeployedState(db);
    const before = await t.counts(db);
    const r = await deployProject(db, { specs: [], schemasOnly: true, schemas: changed.schemas, actor: "olga" });
    expect(r.plan.schemas.map((s) => s.name)).toEqual(["purchase"]);
    expect([r.plan.added, r.plan.changed, r.plan.removed]).toEqual([[], [], []]);
    const after = await t.counts(db);
    expect(after).toMatchObject({ pipelines: before["pipelines"], pipeline_versions: before["pipeline_versions"], deploy_changes: before["deploy_changes"], schemas: before["schemas"]! + 1 });
    const stateAfter = await readDeployedState(db);
    expect([...stateAfter.pipelines.values()].map((p) => [p.segment, p.version, p.status])).toEqual(
      [...stateBefore.pipelines.values()].map((p) => [p.segment, p.version, p.status]),
    );
    const again = await deployProject(db, { specs: [], schemasOnly: true, schemas: changed.schemas, actor: "olga" });
    expect(again.noop).toBe(true);
  });

  it("refuses a deploy without an actor", async () => {
    await expect(deployProject(db, { specs: base.specs, schemas: base.schemas, actor: " " })).rejects.toThrow(/actor/);
  });
});
