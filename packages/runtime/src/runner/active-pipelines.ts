/**
 * The active pipelines of a schema: `pipelines` ⋈ `pipeline_versions` (the current version's spec)
 * where the status is `active`. What the watcher emits and the scheduler runs.
 */
import type { PipelineSpec } from "@seg/compiler";
import { quoteIdent, type SegDb } from "../db/connection.js";

/** One active pipeline with its current spec. */
export interface ActivePipeline {
  segment: string;
  version: string;
  spec: PipelineSpec;
  /** When the pipeline row last changed (deploy, rollback). */
  updatedAt: Date;
  lastDeployId: number;
}

/** PostgreSQL error codes of a missing table or schema: nothing deployed to this schema yet. */
const MISSING = new Set(["42P01", "3F000"]);

/** True when `e` says seg's tables are not there (the schema was never deployed to). */
export function isMissingTables(e: unknown): boolean {
  return typeof e === "object" && e !== null && MISSING.has(String((e as { code?: unknown }).code));
}

/** Reads the active pipelines, sorted by segment; empty when the schema has no seg tables yet. */
export async function readActivePipelines(db: SegDb): Promise<ActivePipeline[]> {
  const s = quoteIdent(db.schema);
  try {
    const r = await db.client.query<{ segment: string; version: string; spec: PipelineSpec; updated_at: Date; last_deploy_id: string }>(
      `SELECT p.segment, p.current_version AS version, v.spec, p.updated_at, p.last_deploy_id
         FROM ${s}.pipelines p
         JOIN ${s}.pipeline_versions v ON v.segment = p.segment AND v.version = p.current_version
        WHERE p.status = 'active'
        ORDER BY p.segment`,
    );
    return r.rows.map((row) => ({ segment: row.segment, version: row.version, spec: row.spec, updatedAt: row.updated_at, lastDeployId: Number(row.last_deploy_id) }));
  } catch (e) {
    if (isMissingTables(e)) return [];
    throw e;
  }
}

/** What changed between two sets of active pipelines. */
export interface PipelineChange {
  added: string[];
  changed: string[];
  removed: string[];
}

/** The difference from `before` to `after` (by segment and version). */
export function diffPipelines(before: readonly ActivePipeline[], after: readonly ActivePipeline[]): PipelineChange {
  const a = new Map(before.map((p) => [p.segment, p.version]));
  const b = new Map(after.map((p) => [p.segment, p.version]));
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [segment, version] of b) {
    const old = a.get(segment);
    if (old === undefined) added.push(segment);
    else if (old !== version) changed.push(segment);
  }
  for (const segment of a.keys()) if (!b.has(segment)) removed.push(segment);
  return { added, changed, removed };
}

/** True when the change changes nothing. */
export function isNoChange(c: PipelineChange): boolean {
  return c.added.length + c.changed.length + c.removed.length === 0;
}
