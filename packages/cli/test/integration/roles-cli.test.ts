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
  "schema.register": [false, true, false, true, false],
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
        // A new version of a schema: the deploy registers it.
        const file = join(project, "schemas/page_view.schema.json");
        const json = JSON.parse(readFileSync(file, "utf8"));
        json.description = `page views (revision ${++bump} by ${caller})`;
        writeFileSync(file, JSON.stringify(json, null, 2));
        const before = await count(`SELECT count(*) AS n FROM ${s}.schemas WHERE name = 'page_view'`);
        const r = await runCli(["deploy", "--no-retention-check", "--actor", `as-${caller}`], { cwd: project, env: e });
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
      const command = action.startsWith("token.") ? `token ${action.slice(6)}` : action === "schema.register" ? "deploy" : action;
      if (caller === "anonymous") {
        expect(r.stderr).toMatch(new RegExp(`^seg ${command}: authentication required: set SEG_TOKEN to a token allowed to `));
      } else {
        // A role without `deploy` is stopped at deploy, before schema registration is considered.
        const denied = action === "schema.register" ? "deploy" : action;
        expect(r.stderr).toBe(`seg ${command}: forbidden: role '${caller}' may not ${denied}\n`);
      }
    }
  });

  it("audited every denial of a command, and linked allowed commands to their token", async () => {
    const rows = (await db.client.query(`SELECT actor, action, target, details FROM ${s}.audit_log WHERE action IN ('auth.deny', 'auth.allow') AND actor <> 'matrix' ORDER BY id`)).rows;
    const denials = rows.filter((r) => r.action === "auth.deny");
    // Each denied command cell is one denial (schema.register cells are denied at deploy).
    expect(denials).toHaveLength(cases.filter((c) => !c.allowed).length);
    for (const d of denials) expect(d.details).toMatchObject({ via: "cli", status: expect.any(Number), reason: expect.stringMatching(/^(missing|forbidden)$/) });
    const schemaGrants = rows.filter((r) => r.action === "auth.allow" && r.target === "cli:schema.register").map((r) => r.details.role);
    expect(schemaGrants.sort()).toEqual(["admin", "admin", "analyst"]);
  });
});
