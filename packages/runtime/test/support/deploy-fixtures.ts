/**
 * Fixtures for deploy tests: a database connection in a schema of its own (dropped afterwards),
 * and the example project compiled to pipeline specs, optionally after editing its files.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPipelines, compileProject, contentHash, outputSettings, type PipelineSpec, type SegSchema } from "@seg/compiler";
import { openDatabase, type SegDb } from "@seg/runtime";

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** The database tests use: SEG_DATABASE_URL, else the local default. */
export const databaseUrl = process.env["SEG_DATABASE_URL"] ?? "postgres://127.0.0.1:5432/test";

/** A fresh schema name: `seg_test_<random>`. */
export function testSchemaName(): string {
  return `seg_test_${randomBytes(5).toString("hex")}`;
}

/** Opens connections to one test schema, and drops the schema on `cleanup()`. */
export class TestDatabase {
  readonly schema = testSchemaName();
  private readonly opened: SegDb[] = [];

  /** A new connection to the test schema. */
  async connect(name = "seg-test"): Promise<SegDb> {
    const db = await openDatabase({ url: databaseUrl, schema: this.schema, applicationName: name });
    this.opened.push(db);
    return db;
  }

  /** Row counts of every seg table (0 for tables that do not exist). */
  async counts(db: SegDb): Promise<Record<string, number>> {
    const tables = ["deploys", "pipelines", "pipeline_versions", "deploy_changes", "schemas", "audit_log", "runs", "stream_progress", "schema_migrations"];
    const out: Record<string, number> = {};
    for (const t of tables) {
      const exists = await db.client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [`"${this.schema}".${t}`]);
      out[t] = exists.rows[0]?.t ? Number((await db.client.query<{ n: string }>(`SELECT count(*) AS n FROM "${this.schema}".${t}`)).rows[0]!.n) : 0;
    }
    return out;
  }

  /** Closes every connection, then drops the schema. */
  async cleanup(): Promise<void> {
    await Promise.all(this.opened.map((d) => d.close()));
    const db = await openDatabase({ url: databaseUrl, schema: this.schema, applicationName: "seg-test-cleanup" });
    try {
      await db.client.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    } finally {
      await db.close();
    }
  }
}

/** The compiled example project: specs of every segment and the registry's schemas. */
export interface CompiledExample {
  specs: PipelineSpec[];
  schemas: SegSchema[];
  dir: string;
}

/**
 * Compiles a copy of `examples/`, after `edit` changed its files (paths relative to the copy).
 * Throws when the project has errors.
 */
export function compileExample(edit?: (files: { read(path: string): string; write(path: string, text: string): void; remove(path: string): void }) => void): CompiledExample {
  const dir = mkdtempSync(join(tmpdir(), "seg-deploy-example-"));
  cpSync(join(repoRoot, "examples"), dir, { recursive: true, filter: (src) => !src.includes(`${join("examples", "data")}`) });
  edit?.({
    read: (p) => readFileSync(join(dir, p), "utf8"),
    write: (p, t) => writeFileSync(join(dir, p), t),
    remove: (p) => rmSync(join(dir, p)),
  });
  const compiled = compileProject({ cwd: dir, env: {}, paths: [] });
  const errors = compiled.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !compiled.lowered || !compiled.project) {
    throw new Error(`example project does not compile: ${errors.map((d) => `${d.file}: ${d.message}`).join("; ")}`);
  }
  const names = [...compiled.lowered.segments.keys()];
  const specs = buildPipelines(compiled.lowered, names, outputSettings(compiled.project.runtime));
  return { specs, schemas: compiled.registry!.schemas, dir };
}

/** A copy of `spec` with some fields replaced and its version recomputed. */
export function variant(spec: PipelineSpec, change: (body: PipelineSpec) => void): PipelineSpec {
  const copy = structuredClone(spec) as PipelineSpec;
  change(copy);
  const { version: _ignored, ...body } = copy;
  return { ...body, version: `sha256:${contentHash(body)}` } as PipelineSpec;
}

/** Waits until `predicate` holds, polling every 20 ms, for at most `ms`. */
export async function eventually(predicate: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
