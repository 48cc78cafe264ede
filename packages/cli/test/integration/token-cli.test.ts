import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type SegDb } from "@seg/runtime";
import { runCli } from "../support/memory-io.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const databaseUrl = process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test";

describe("seg token", () => {
  const schema = `seg_test_${randomBytes(5).toString("hex")}`;
  const env: Record<string, string> = { SEG_DATABASE_URL: databaseUrl, SEG_DB_SCHEMA: schema };
  let project: string;
  let db: SegDb;
  let admin = "";
  const as = (token: string) => ({ ...env, SEG_TOKEN: token });
  const schemaExists = async () => ((await db.client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [schema])).rowCount ?? 0) > 0;

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), "seg-cli-token-"));
    cpSync(join(root, "examples"), project, { recursive: true, filter: (p) => !p.includes(join("examples", "data")) });
    db = await openDatabase({ url: databaseUrl, schema });
  });
  afterAll(async () => {
    await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    rmSync(project, { recursive: true, force: true });
  });

  it("SEG_AUTH=required refuses state changes before any token exists, and changes nothing", async () => {
    const r = await runCli(["deploy", "--no-retention-check", "--actor", "x"], { cwd: project, env: { ...env, SEG_AUTH: "required" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `seg deploy: authentication required (SEG_AUTH=required) but schema '${schema}' has no tokens yet: create the first admin token with 'seg token create --role admin --name NAME --bootstrap'\n`,
    );
    expect(await schemaExists()).toBe(false);
    const bad = await runCli(["deploy", "--dry-run", "--no-retention-check", "--actor", "x"], { cwd: project, env: { ...env, SEG_AUTH: "off" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("seg deploy: invalid SEG_AUTH 'off': use 'auto' (the default) or 'required'\n");
  });

  it("needs the bootstrap for the first token; the bootstrap creates an admin token once", async () => {
    expect(await runCli(["token", "list"], { cwd: project, env })).toEqual({ code: 0, stdout: "no tokens\n", stderr: "" });
    const early = await runCli(["token", "create", "--role", "consumer", "--name", "app"], { cwd: project, env });
    expect(early.code).toBe(2);
    expect(early.stderr).toContain("no admin token exists yet");
    const notAdmin = await runCli(["token", "create", "--role", "ops", "--name", "x", "--bootstrap"], { cwd: project, env });
    expect(notAdmin.code).toBe(2);

    const boot = await runCli(["token", "create", "--role", "admin", "--name", "first-admin", "--bootstrap", "--actor", "alice"], { cwd: project, env });
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.stdout).toMatch(/^seg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
    expect(boot.stderr).toMatch(/^created token 'first-admin' \(id [0-9a-f]{16}, role admin, does not expire\); it is shown only this once: store it now\n$/);
    admin = boot.stdout.trim();

    const again = await runCli(["token", "create", "--role", "admin", "--name", "second", "--bootstrap"], { cwd: project, env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("an admin token already exists");
  });

  it("stores only a salted hash, never the token", async () => {
    const rows = (await db.client.query(`SELECT * FROM "${schema}".api_tokens`)).rows;
    expect(rows).toHaveLength(1);
    const secret = admin.slice(21);
    const everything = JSON.stringify(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("hex") + v.toString("base64") + v.toString("base64url") : v]))));
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(secret, "base64url").toString("hex"));
    expect(rows[0]).toMatchObject({ name: "first-admin", role: "admin", created_by: "alice", revoked_at: null, expires_at: null });
    expect(rows[0].salt).toHaveLength(16);
    expect(rows[0].hash).toHaveLength(32);
  });

  it("from then on, state changes need a token", async () => {
    const none = await runCli(["deploy", "--no-retention-check", "--actor", "x"], { cwd: project, env });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("seg deploy: authentication required: set SEG_TOKEN to a token allowed to deploy\n");
    const garbage = await runCli(["deploy", "--no-retention-check", "--actor", "x"], { cwd: project, env: as("not-a-token") });
    expect(garbage.stderr).toBe("seg deploy: malformed credentials: expected a bearer token (SEG_TOKEN)\n");
    const ok = await runCli(["deploy", "--no-retention-check", "--actor", "x"], { cwd: project, env: as(admin) });
    expect(ok.code, ok.stderr).toBe(0);
    // Local commands never need one.
    expect((await runCli(["check"], { cwd: project, env })).code).toBe(0);
  });

  it("validates create options", async () => {
    for (const [args, message] of [
      [["--role", "root", "--name", "x"], "unknown role 'root'"],
      [["--role", "ops", "--name", "bad name"], "invalid name 'bad name'"],
      [["--role", "ops", "--name", "x", "--expires-in", "1y"], "invalid --expires-in '1y'"],
      [["--role", "ops", "--name", "x", "--expires-in", "0d"], "invalid --expires-in '0d'"],
    ] as const) {
      const r = await runCli(["token", "create", ...args], { cwd: project, env: as(admin) });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
    const taken = await runCli(["token", "create", "--role", "ops", "--name", "first-admin"], { cwd: project, env: as(admin) });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain("a token named 'first-admin' exists already");
  });

  it("lists, revokes by name or id, and expires tokens", async () => {
    const ops = await runCli(["token", "create", "--role", "ops", "--name", "ops-bot", "--expires-in", "30d"], { cwd: project, env: as(admin) });
    expect(ops.code).toBe(0);
    const short = await runCli(["token", "create", "--role", "analyst", "--name", "short", "--expires-in", "1s"], { cwd: project, env: as(admin) });
    expect(short.code).toBe(0);
    const shortToken = short.stdout.trim();
    const list = await runCli(["token", "list"], { cwd: project, env: as(admin) });
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+ROLE\s+STATUS\s+CREATED\s+EXPIRES\s+CREATED BY$/);
    expect(list.stdout).toMatch(/ops-bot\s+ops\s+active/);
    expect(list.stdout).not.toContain(ops.stdout.trim().slice(21));
    const json = JSON.parse((await runCli(["token", "list", "--json"], { cwd: project, env: as(admin) })).stdout);
    expect(json.map((t: { name: string }) => t.name)).toEqual(["first-admin", "ops-bot", "short"]);
    expect(Object.keys(json[0]).sort()).toEqual(["createdAt", "createdBy", "expiresAt", "id", "name", "revokedAt", "revokedBy", "role", "status"]);

    await new Promise((r) => setTimeout(r, 1_100));
    const expired = await runCli(["rollback", "high_value", "--actor", "x"], { cwd: project, env: as(shortToken) });
    expect(expired.code).toBe(1);
    expect(expired.stderr).toBe("seg rollback: invalid or expired token (SEG_TOKEN)\n");
    expect((await runCli(["token", "list"], { cwd: project, env: as(admin) })).stdout).toMatch(/short\s+analyst\s+expired/);

    const id = json.find((t: { name: string }) => t.name === "ops-bot").id;
    expect(await runCli(["token", "revoke", id], { cwd: project, env: as(admin) })).toMatchObject({ code: 0, stdout: `revoked token 'ops-bot' (id ${id}, role ops)\n` });
    const twice = await runCli(["token", "revoke", "ops-bot"], { cwd: project, env: as(admin) });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("token 'ops-bot' is already revoked");
    const unknown = await runCli(["token", "revoke", "nobody"], { cwd: project, env: as(admin) });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no token 'nobody'");
    // A revoked name can be used again.
    expect((await runCli(["token", "create", "--role", "ops", "--name", "ops-bot"], { cwd: project, env: as(admin) })).code).toBe(0);
    const audit = (await db.client.query(`SELECT action, target, details->>'via' AS via FROM "${schema}".audit_log WHERE action LIKE 'token.%' ORDER BY id`)).rows;
    expect(audit).toEqual([
      { action: "token.create", target: "token:first-admin", via: "bootstrap" },
      { action: "token.create", target: "token:ops-bot", via: "token:first-admin" },
      { action: "token.create", target: "token:short", via: "token:first-admin" },
      { action: "token.revoke", target: "token:ops-bot", via: "token:first-admin" },
      { action: "token.create", target: "token:ops-bot", via: "token:first-admin" },
    ]);
  });

  it("a new bootstrap is allowed once no admin token is usable, and only then", async () => {
    const admin2 = await runCli(["token", "create", "--role", "admin", "--name", "second-admin", "--expires-in", "1s"], { cwd: project, env: as(admin) });
    expect(admin2.code).toBe(0);
    expect((await runCli(["token", "revoke", "first-admin"], { cwd: project, env: as(admin) })).code).toBe(0);
    // second-admin is still usable: no bootstrap.
    expect((await runCli(["token", "create", "--role", "admin", "--name", "rescue", "--bootstrap"], { cwd: project, env })).code).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100));
    // Every admin token is revoked or expired: still enforced, and the bootstrap recovers.
    expect((await runCli(["deploy", "--no-retention-check", "--actor", "x"], { cwd: project, env })).code).toBe(1);
    const rescue = await runCli(["token", "create", "--role", "admin", "--name", "rescue", "--bootstrap"], { cwd: project, env });
    expect(rescue.code, rescue.stderr).toBe(0);
    expect((await runCli(["token", "list"], { cwd: project, env: as(rescue.stdout.trim()) })).code).toBe(0);
  });
});
