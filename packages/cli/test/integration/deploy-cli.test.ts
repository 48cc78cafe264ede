import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type SegDb } from "@seg/runtime";
import { runCli } from "../support/memory-io.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const databaseUrl = process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test";

describe("seg deploy and seg rollback against PostgreSQL", () => {
  const schema = `seg_test_${randomBytes(5).toString("hex")}`;
  const env = { SEG_DATABASE_URL: databaseUrl, SEG_DB_SCHEMA: schema, USER: "cli-tester" };
  let project: string;
  let db: SegDb;
  const count = async (table: string) => Number((await db.client.query(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0].n);
  const schemaExists = async () => ((await db.client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [schema])).rowCount ?? 0) > 0;

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), "seg-cli-deploy-"));
    cpSync(join(root, "examples"), project, { recursive: true });
    db = await openDatabase({ url: databaseUrl, schema });
  });
  afterAll(async () => {
    await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    rmSync(project, { recursive: true, force: true });
  });

  it("--dry-run prints the plan and changes nothing", async () => {
    const r = await runCli(["deploy", "examples", "--dry-run", "--no-retention-check"], { cwd: root, env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`plan for postgres://127.0.0.1:5432/test (schema ${schema}):\n`);
    expect(r.stdout).toContain("+ added high_value (new)\n");
    expect(r.stdout).toContain("+ schema purchase v1 (new, sha256 ");
    expect(r.stdout).toMatch(/dry run: nothing was changed \(\+\d+ ~0 -0 =0, 4 schemas registered\)\n$/);
    expect(await schemaExists()).toBe(false);
  });

  it("deploys the example project, then says there is nothing to change", async () => {
    const first = await runCli(["deploy", "--no-retention-check", "-m", "first deploy"], { cwd: project, env });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/deployed: deploy 1 by cli-tester \(\+\d+ ~0 -0 =0, 4 schemas registered\)\n$/);
    const segments = await count("pipelines");
    expect(segments).toBeGreaterThan(10);
    const second = await runCli(["deploy", "--no-retention-check"], { cwd: project, env });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`plan for postgres://127.0.0.1:5432/test (schema ${schema}):\n= ${segments} unchanged\nno changes: deploy 2 recorded by cli-tester\n`);
    const audit = await db.client.query(`SELECT actor, details->>'message' AS message FROM "${schema}".audit_log WHERE action = 'deploy' ORDER BY id`);
    expect(audit.rows).toEqual([
      { actor: "cli-tester", message: "first deploy" },
      { actor: "cli-tester", message: null },
    ]);
  });

  it("shows a changed and a removed segment with their reasons, then rolls the change back", async () => {
    const file = join(project, "rules/cart_abandoners.seg");
    writeFileSync(file, readFileSync(file, "utf8").replace("add_to_cart in last 7 days)", "add_to_cart in last 3 days)"));
    rmSync(join(project, "rules/vip_outreach.seg"));
    const r = await runCli(["deploy", "--no-retention-check", "--actor", "alice"], { cwd: project, env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("~ changed cart_abandoners: sql changed\n- removed vip_outreach (retired)\n");
    expect(r.stdout).toContain("deployed: deploy 3 by alice (+0 ~1 -1 =");
    expect(r.stdout).toContain("redis keys to retire for vip_outreach: seg:segment:vip_outreach:members, seg:segment:vip_outreach:meta, seg:segment:vip_outreach:metrics\n");

    const back = await runCli(["rollback", "cart_abandoners", "--actor", "bob"], { cwd: project, env });
    expect(back.stderr).toBe("");
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^rolled back cart_abandoners: sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12} \(deploy 4 by bob\)\n$/);
    const again = await runCli(["rollback", "cart_abandoners"], { cwd: project, env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^seg rollback: cart_abandoners has no version before sha256:[0-9a-f]{12}/);
  });

  it("rollback explains unknown segments and versions, and retired segments", async () => {
    const unknown = await runCli(["rollback", "nope"], { cwd: project, env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`seg rollback: unknown segment 'nope': it was never deployed to schema '${schema}'`);
    const version = await runCli(["rollback", "high_value", "--to", "sha256:0000"], { cwd: project, env });
    expect(version.code).toBe(1);
    expect(version.stderr).toMatch(/^seg rollback: high_value has no version 'sha256:0000'; known versions of high_value: sha256:[0-9a-f]{12}\n$/);
    const retired = await runCli(["rollback", "vip_outreach"], { cwd: project, env });
    expect(retired.code).toBe(1);
    expect(retired.stderr).toContain("segment 'vip_outreach' is retired");
  });

  it("notes when Kafka is unreachable for the retention check and deploys anyway", async () => {
    const started = Date.now();
    const r = await runCli(["deploy", "--dry-run"], { cwd: project, env: { ...env, SEG_KAFKA_BROKERS: "127.0.0.1:1" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^note: retention not checked: cannot reach Kafka at 127\.0\.0\.1:1: /);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("seg deploy failures", () => {
  it("exits 1 naming the database URL and the reason when PostgreSQL is unreachable", async () => {
    const r = await runCli(["deploy", "examples", "--no-retention-check"], {
      cwd: root,
      env: { SEG_DATABASE_URL: "postgres://seg:secret@127.0.0.1:1/nowhere", USER: "x" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^seg deploy: cannot connect to PostgreSQL at postgres:\/\/seg:\*\*\*@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
    expect(r.stderr).not.toContain("secret");
  });

  it("exits 2 for a schema name seg cannot use", async () => {
    const r = await runCli(["deploy", "examples", "--dry-run", "--no-retention-check"], { cwd: root, env: { SEG_DB_SCHEMA: "Bad-Name", USER: "x" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("seg deploy: invalid database schema name 'Bad-Name'");
  });

  it("exits 2 when there is no project", async () => {
    const r = await runCli(["deploy", "--dry-run"], { cwd: mkdtempSync(join(tmpdir(), "seg-empty-")), env: { USER: "x" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("SEG076");
  });
});
