import { afterEach, describe, expect, it } from "vitest";
import { LATEST_SCHEMA_VERSION, MIGRATIONS, SchemaTooNewError, migrate, schemaVersion } from "@seg/runtime";
import { TestDatabase } from "../support/deploy-fixtures.js";

const TABLES = ["api_tokens", "audit_log", "deploy_changes", "deploys", "pipeline_versions", "pipelines", "runs", "schema_migrations", "schemas", "stream_progress"];

describe("migrations", () => {
  let t: TestDatabase;
  afterEach(async () => t.cleanup());

  it("create every table in an empty schema and record the version", async () => {
    t = new TestDatabase();
    const db = await t.connect();
    expect(await schemaVersion(db.client, db.schema)).toBe(0);
    const r = await migrate(db);
    expect(r).toEqual({ from: 0, to: LATEST_SCHEMA_VERSION, applied: MIGRATIONS.map((m) => ({ version: m.version, name: m.name })) });
    const tables = await db.client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [db.schema],
    );
    expect(tables.rows.map((x) => x.table_name)).toEqual(TABLES);
    const rows = await db.client.query(`SELECT version, name, checksum FROM "${db.schema}".schema_migrations`);
    expect(rows.rows).toHaveLength(MIGRATIONS.length);
    expect(rows.rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("are idempotent: a second run applies nothing", async () => {
    t = new TestDatabase();
    const db = await t.connect();
    await migrate(db);
    expect(await migrate(db)).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    expect((await t.counts(db))["schema_migrations"]).toBe(MIGRATIONS.length);
  });

  it("run once when two processes migrate at the same time", async () => {
    t = new TestDatabase();
    const [a, b, c] = await Promise.all([t.connect("m1"), t.connect("m2"), t.connect("m3")]);
    const results = await Promise.all([migrate(a), migrate(b), migrate(c)]);
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    expect((await t.counts(a))["schema_migrations"]).toBe(MIGRATIONS.length);
  });

  it("refuse a schema newer than this code", async () => {
    t = new TestDatabase();
    const db = await t.connect();
    await migrate(db);
    await db.client.query(`INSERT INTO "${db.schema}".schema_migrations (version, name, checksum) VALUES ($1, 'future', 'x')`, [LATEST_SCHEMA_VERSION + 1]);
    await expect(migrate(db)).rejects.toBeInstanceOf(SchemaTooNewError);
  });
});
