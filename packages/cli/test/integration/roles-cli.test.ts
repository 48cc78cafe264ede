import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError, CLI_ACTIONS, ROLES, createToken, openDatabase, requireRole, type CliAction, type SegDb } from "@seg/runtime";
import { runCli } from "../support/memory-io.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const databaseUrl = process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test";

type Caller = "anonymous" | (typeof ROLES)[number];
const CALLERS: Caller[] = ["anonymous", ...ROLES];

/**
 * Who may run each state-changing CLI action, written out by hand (NOT derived from the permission
 * table). Columns: anonymous, admin, ops, analyst, consumer.
 */
const EXPECTED: Record<string, [boolean, boolean, boolean, boolean, boolean]> = {
  deploy: [false, true, false, true, false],
  rollback: [false, true, false, true, false],
  "schema.register": [false, true, true, false, false],
  "token.create": [false, true, false, false, false],
  "token.list": [false, true, false, false, false],
  "token.revoke": [false, true, false, false, false],
};

describe("CLI role × action matrix (auth enforced after the bootstrap)", () => {
  const schema = `seg_test_${randomBytes(5).toString("hex")}`;
  const baseEnv = { SEG_DATABASE_URL: databaseUrl, SEG_DB_SCHEMA: schema };
  let project: string;
  let db: SegDb;
  const tokens = {} as Record<Caller, string | undefined>;
  const env = (caller: Caller): Record<string, string> => (tokens[caller] ? { ...baseEnv, SEG_TOKEN: tokens[caller]! } : { ...baseEnv });
  const s = `"${schema}"`;
  let bump = 0;

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), "seg-cli-roles-"));
    cpSync(join(root, "examples"), project, { recursive: true });
    db = await openDatabase({ url: databaseUrl, schema });
    const boot = await runCli(["token", "create", "--role", "admin", "--name", "root-admin", "--bootstrap", "--actor", "boot"], { cwd: project, env: baseEnv });
    expect(boot.code, boot.stderr).toBe(0);
    tokens.admin = boot.stdout.trim();
    for (const role of ["ops", "analyst", "consumer"] as const) {
      const r = await runCli(["token", "create", "--role", role, "--name", `tok-${role}`, "--actor", "boot"], { cwd: project, env: env("admin") });
      expect(r.code, r.stderr).toBe(0);
      tokens[role] = r.stdout.trim();
    }
    // Two versions of cart_abandoners, so rollbacks have somewhere to go.
    expect((await runCli(["deploy", "--no-retention-check", "--actor", "setup"], { cwd: project, env: env("admin") })).code).toBe(0);
    const file = join(project, "rules/cart_abandoners.seg");
    writeFileSync(file, readFileSync(file, "utf8").replace("add_to_cart in last 7 days)", "add_to_cart in last 3 days)"));
    expect((await runCli(["deploy", "--no-retention-check", "--actor", "setup"], { cwd: project, env: env("admin") })).code).toBe(0);
  });
  afterAll(async () => {
    await db.client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await db.close();
    rmSync(project, { recursive: true, force: true });
  });

  it("the expectation table covers exactly the CLI actions of the permission table", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...CLI_ACTIONS].sort());
  });

  const count = async (sql: string, params: unknown[] = []) => Number((await db.client.query(sql, params)).rows[0].n);

  /** Runs the command of one action as `caller`; returns the result and whether it changed what it should. */
  async function runAction(action: CliAction, caller: Caller): Promise<{ code: number; stderr: string; changed: boolean }> {
    const e = env(caller);
    switch (action) {
      case "deploy": {
        const before = await count(`SELECT count(*) AS n FROM ${s}.deploys`);
        const r = await runCli(["deploy", "--no-retention-check", "--actor", `as-${caller}`], { cwd: project, env: e });
        return { ...r, changed: (await count(`SELECT count(*) AS n FROM ${s}.deploys`)) === before + 1 };
      }
      case "schema.register": {
        // A new version of a schema, registered by `seg schema register` (onboarding: the ops role).
        const file = join(project, "schemas/page_view.schema.json");
        const json = JSON.parse(readFileSync(file, "utf8"));
        json.description = `page views (revision ${++bump} by ${caller})`;
        writeFileSync(file, JSON.stringify(json, null, 2));
        const before = await count(`SELECT count(*) AS n FROM ${s}.schemas WHERE name = 'page_view'`);
        const r = await runCli(["schema", "register", "--actor", `as-${caller}`], { cwd: project, env: e });
        const changed = (await count(`SELECT count(*) AS n FROM ${s}.schemas WHERE name = 'page_view'`)) === before + 1;
        if (!changed) {
          // Put the file back to what is registered, so later deploys do not carry this change.
          json.description = (await db.client.query(`SELECT definition->>'description' AS d FROM ${s}.schemas WHERE name = 'page_view' ORDER BY version DESC LIMIT 1`)).rows[0].d;
          writeFileSync(file, JSON.stringify(json, null, 2));
        }
        return { ...r, changed };
      }
      case "rollback": {
        const { rows } = await db.client.query(
          `SELECT v.version, p.current_version FROM ${s}.pipeline_versions v JOIN ${s}.pipelines p USING (segment) WHERE segment = 'cart_abandoners' ORDER BY v.created_at`,
        );
        const target = rows.find((x) => x.version !== x.current_version)!.version;
        const r = await runCli(["rollback", "cart_abandoners", "--to", target, "--actor", `as-${caller}`], { cwd: project, env: e });
        const now = (await db.client.query(`SELECT current_version FROM ${s}.pipelines WHERE segment = 'cart_abandoners'`)).rows[0].current_version;
        return { ...r, changed: now === target };
      }
      case "token.create": {
        const r = await runCli(["token", "create", "--role", "consumer", "--name", `made-by-${caller}`, "--actor", caller], { cwd: project, env: e });
        const changed = (await count(`SELECT count(*) AS n FROM ${s}.api_tokens WHERE name = $1`, [`made-by-${caller}`])) === 1;
        if (r.code === 0) expect(r.stdout).toMatch(/^seg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
        return { ...r, changed };
      }
      case "token.list": {
        const r = await runCli(["token", "list"], { cwd: project, env: e });
        return { ...r, changed: r.code === 0 && r.stdout.includes("root-admin") };
      }
      case "token.revoke": {
        await createToken(db, { name: `victim-${caller}`, role: "consumer", actor: "t", via: "test" });
        const r = await runCli(["token", "revoke", `victim-${caller}`, "--actor", caller], { cwd: project, env: e });
        const changed = (await count(`SELECT count(*) AS n FROM ${s}.api_tokens WHERE name = $1 AND revoked_at IS NOT NULL`, [`victim-${caller}`])) === 1;
        return { ...r, changed };
      }
    }
  }

  const cases = CLI_ACTIONS.flatMap((action) => CALLERS.map((caller, i) => ({ action, caller, allowed: EXPECTED[action]![i]! })));

  it.each(cases)("requireRole: $caller → $action: allowed $allowed", async ({ action, caller, allowed }) => {
    const p = requireRole(db, tokens[caller], action, { actor: "matrix" });
    if (allowed) {
      expect((await p).principal?.role).toBe(caller);
    } else {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(AuthError);
      expect((e as AuthError).status).toBe(caller === "anonymous" ? 401 : 403);
    }
  });

  it.each(cases)("command: $caller → $action: allowed $allowed", async ({ action, caller, allowed }) => {
    const r = await runAction(action, caller);
    if (allowed) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.changed).toBe(true);
    } else {
      expect(r.code).toBe(1);
      expect(r.changed).toBe(false);
      const command = action.startsWith("token.") ? `token ${action.slice(6)}` : action === "schema.register" ? "schema register" : action;
      if (caller === "anonymous") {
        expect(r.stderr).toMatch(new RegExp(`^seg ${command}: authentication required: set SEG_TOKEN to a token allowed to `));
      } else {
        expect(r.stderr).toBe(`seg ${command}: forbidden: role '${caller}' may not ${action}\n`);
      }
    }
  });

  it("audited every denial of a command, and linked allowed commands to their token", async () => {
    const rows = (await db.client.query(`SELECT actor, action, target, details FROM ${s}.audit_log WHERE action IN ('auth.deny', 'auth.allow') AND actor <> 'matrix' ORDER BY id`)).rows;
    const denials = rows.filter((r) => r.action === "auth.deny");
    // Each denied command cell is one denial.
    expect(denials).toHaveLength(cases.filter((c) => !c.allowed).length);
    for (const d of denials) expect(d.details).toMatchObject({ via: "cli", status: expect.any(Number), reason: expect.stringMatching(/^(missing|forbidden)$/) });
    const schemaGrants = rows.filter((r) => r.action === "auth.allow" && r.target === "cli:schema.register").map((r) => r.details.role);
    // The setup's first deploy (admin, registering every schema), then the admin and ops cells.
    expect(schemaGrants.sort()).toEqual(["admin", "admin", "ops"]);
  });

  it("an analyst's deploy that would register a new schema version is refused with a hint; after ops registers it, it goes through", async () => {
    const file = join(project, "schemas/purchase.schema.json");
    const json = JSON.parse(readFileSync(file, "utf8"));
    json.description = "purchases (onboarded by ops)";
    writeFileSync(file, JSON.stringify(json, null, 2));
    const schemas = () => count(`SELECT count(*) AS n FROM ${s}.schemas WHERE name = 'purchase'`);
    const deploys = () => count(`SELECT count(*) AS n FROM ${s}.deploys`);
    const [schemasBefore, deploysBefore] = [await schemas(), await deploys()];
    const refused = await runCli(["deploy", "--no-retention-check", "--actor", "ana"], { cwd: project, env: env("analyst") });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^seg deploy: forbidden: role 'analyst' may not schema\.register\n {2}this deploy would register new schema versions \(purchase v\d+\): .*`seg schema register`\n$/);
    expect([await schemas(), await deploys()]).toEqual([schemasBefore, deploysBefore]);

    const dry = await runCli(["schema", "register", "--dry-run", "--actor", "op"], { cwd: project, env: env("ops") });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^\+ schema purchase v\d+ \(event, topic [^,]+, sha256 [0-9a-f]{12}\)\ndry run: nothing was changed \(1 to register\)\n$/);
    expect(await schemas()).toBe(schemasBefore);

    const reg = await runCli(["schema", "register", "--actor", "op"], { cwd: project, env: env("ops") });
    expect(reg.code, reg.stderr).toBe(0);
    expect(reg.stdout).toMatch(/registered 1 schema version \(deploy \d+ by op\)\n$/);
    expect(await schemas()).toBe(schemasBefore + 1);
    const again = await runCli(["schema", "register", "--actor", "op"], { cwd: project, env: env("ops") });
    expect(again.stdout).toMatch(/^no new schema versions: all \d+ are registered\n$/);

    const ok = await runCli(["deploy", "--no-retention-check", "--actor", "ana"], { cwd: project, env: env("analyst") });
    expect(ok.code, ok.stderr).toBe(0);
    const list = await runCli(["schema", "list", "--json"], { cwd: project, env: env("ops") });
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout).schemas as { name: string; version: number; kind: string }[];
    expect(listed.find((x) => x.name === "purchase")).toMatchObject({ version: schemasBefore + 1, kind: "event" });
    // Registering schemas left every pipeline as it was: the same active versions as before.
    const versions = await count(`SELECT count(DISTINCT current_version) AS n FROM ${s}.pipelines WHERE status = 'active'`);
    expect(versions).toBeGreaterThan(0);
  });
});
