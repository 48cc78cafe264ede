import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployError, deployProject, notifyChannel, rollbackSegment, shortVersion, type SegDb } from "@seg/runtime";
import { TestDatabase, compileExample, eventually, type CompiledExample } from "../support/deploy-fixtures.js";

const CART = "rules/cart_abandoners.seg";
const window = (days: number) => (f: { read(p: string): string; write(p: string, t: string): void }) =>
  f.write(CART, f.read(CART).replace("add_to_cart in last 7 days)", `add_to_cart in last ${days} days)`));

describe("rollbackSegment", () => {
  const t = new TestDatabase();
  let db: SegDb;
  let listener: SegDb;
  const notes: string[] = [];
  let v: string[];
  let projects: CompiledExample[];

  beforeAll(async () => {
    projects = [compileExample(), compileExample(window(3)), compileExample(window(5))];
    v = projects.map((p) => p.specs.find((s) => s.id === "cart_abandoners")!.version);
    db = await t.connect();
    for (const p of projects) await deployProject(db, { specs: p.specs, schemas: p.schemas, actor: "alice" });
    listener = await t.connect("listener");
    listener.client.on("notification", (n) => notes.push(`${n.channel}:${n.payload}`));
    await listener.client.query(`LISTEN "${notifyChannel(db.schema)}"`);
  }, 60_000);
  afterAll(async () => t.cleanup());

  const current = async (segment: string) =>
    (await db.client.query(`SELECT current_version FROM "${db.schema}".pipelines WHERE segment = $1`, [segment])).rows[0].current_version;

  it("goes back to the version before the current one, as a deploy with audit and NOTIFY", async () => {
    const r = await rollbackSegment(db, { segment: "cart_abandoners", actor: "bob", message: "bad window" });
    expect([r.fromVersion, r.toVersion]).toEqual([v[2], v[1]]);
    expect(r.spec.version).toBe(v[1]);
    expect(await current("cart_abandoners")).toBe(v[1]);
    const deploy = await db.client.query(`SELECT kind, actor, message, changed FROM "${db.schema}".deploys WHERE id = $1`, [r.deployId]);
    expect(deploy.rows[0]).toEqual({ kind: "rollback", actor: "bob", message: "bad window", changed: 1 });
    const audit = await db.client.query(`SELECT actor, action, target, details FROM "${db.schema}".audit_log WHERE deploy_id = $1`, [r.deployId]);
    expect(audit.rows).toEqual([{ actor: "bob", action: "pipeline.rollback", target: "pipeline:cart_abandoners", details: { from: v[2], to: v[1], message: "bad window" } }]);
    await eventually(() => notes.includes(`${notifyChannel(db.schema)}:${r.deployId}`));
  });

  it("walks further back on a second rollback, then says there is nothing before", async () => {
    const r = await rollbackSegment(db, { segment: "cart_abandoners", actor: "bob" });
    expect([r.fromVersion, r.toVersion]).toEqual([v[1], v[0]]);
    const e = await rollbackSegment(db, { segment: "cart_abandoners", actor: "bob" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeployError);
    expect((e as DeployError).code).toBe("no-previous-version");
    expect((e as DeployError).message).toContain("--to");
  });

  it("goes to a named version by a unique prefix, with or without sha256:", async () => {
    const prefix = v[2]!.slice("sha256:".length, "sha256:".length + 10);
    const r = await rollbackSegment(db, { segment: "cart_abandoners", toVersion: prefix, actor: "carol" });
    expect(r.toVersion).toBe(v[2]);
    const again = await rollbackSegment(db, { segment: "cart_abandoners", toVersion: v[0]!, actor: "carol" });
    expect(again.toVersion).toBe(v[0]);
  });

  it("gives clear errors for unknown segments and versions", async () => {
    const codeOf = async (p: Promise<unknown>) => ((await p.catch((x: unknown) => x)) as DeployError).code;
    await expect(rollbackSegment(db, { segment: "nope", actor: "x" })).rejects.toThrow(/unknown segment 'nope'.*deployed segments: /);
    expect(await codeOf(rollbackSegment(db, { segment: "cart_abandoners", toVersion: "sha256:ffffffffffff", actor: "x" }))).toBe("unknown-version");
    await expect(rollbackSegment(db, { segment: "cart_abandoners", toVersion: "0000", actor: "x" })).rejects.toThrow(
      new RegExp(`known versions of cart_abandoners: .*${shortVersion(v[1]!)}`),
    );
    expect(await codeOf(rollbackSegment(db, { segment: "cart_abandoners", toVersion: "sha256:", actor: "x" }))).toBe("ambiguous-version");
    expect(await codeOf(rollbackSegment(db, { segment: "cart_abandoners", toVersion: v[0]!, actor: "x" }))).toBe("already-current");
    expect(await codeOf(rollbackSegment(db, { segment: "high_value", actor: "x" }))).toBe("no-previous-version");
  });

  it("refuses a retired segment", async () => {
    const p = projects[0]!;
    await deployProject(db, { specs: p.specs.filter((s) => s.id !== "loyal_regulars"), schemas: p.schemas, actor: "dave" });
    await expect(rollbackSegment(db, { segment: "loyal_regulars", actor: "x" })).rejects.toThrow(/retired/);
  });

  it("a later deploy plans against the rolled-back state", async () => {
    const p = projects[2]!;
    const r = await deployProject(db, { specs: p.specs, schemas: p.schemas, actor: "erin" });
    expect(r.plan.changed.map((c) => [c.segment, c.fromVersion, c.toVersion, c.reason])).toEqual([["cart_abandoners", v[0], v[2], "sql changed"]]);
    expect(r.plan.added.map((c) => c.segment)).toEqual(["loyal_regulars"]);
  });
});
