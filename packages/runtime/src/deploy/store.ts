/**
 * The deploy store: seg's pipelines in PostgreSQL, versioned, audited and changed atomically.
 *
 * A deploy runs in one transaction under a transaction-scoped advisory lock (one per schema), so
 * concurrent deploys serialise: the second waits (or, with `wait: false`, fails at once) and then
 * plans against the first one's result. Everything a deploy writes (versions, current state,
 * schemas, the deploy row, audit entries) commits together or not at all, and the
 * `NOTIFY <schema>_pipelines, '<deploy id>'` is delivered only on commit.
 */
import type { PipelineSpec } from "@seg/compiler";
import { quoteIdent, type SegDb } from "../db/connection.js";
import { LATEST_SCHEMA_VERSION, applyMigrations, migrate, schemaVersion } from "../db/migrations.js";
import { DeployError } from "./errors.js";
import {
  planDeploy,
  planSummary,
  shortVersion,
  type DeployPlan,
  type DeploySchema,
  type DeployedPipeline,
  type DeployedState,
  type RetiredRedisKeys,
} from "./plan.js";

/** The advisory-lock class of deploys and rollbacks (`pg_advisory_xact_lock(class, hashtext(schema))`). */
export const DEPLOY_LOCK_CLASS = 0x5e6d0002;

/** The NOTIFY channel of a schema: `seg_pipelines` for the default schema `seg`. */
export function notifyChannel(schema: string): string {
  return `${schema}_pipelines`;
}

/** Where a deploy is; {@link DeployRequest.onStep} is called at each (tests inject failures here). */
export type DeployStep = "locked" | "planned" | "deploy-recorded" | "versions" | "pipelines" | "retired" | "schemas" | "audit" | "notified";

/** What to deploy. */
export interface DeployRequest {
  /** Every segment of the project: segments deployed before and missing here are retired. Ignored with `schemasOnly`. */
  specs: readonly PipelineSpec[];
  /**
   * Register the schemas only (`seg schema register`): the pipelines stay exactly as deployed (the
   * plan is made against the active pipelines' own specs, read in the deploy's transaction).
   */
  schemasOnly?: boolean;
  /** The project's schemas (a registry's `schemas` fit). */
  schemas: readonly DeploySchema[];
  actor: string;
  message?: string;
  /** Compute and return the plan; change nothing. */
  dryRun?: boolean;
  /** Wait for a concurrent deploy to finish (default), or fail at once. */
  wait?: boolean;
  /** Called when the deploy has to wait for another one. */
  onWaiting?: (holder: string | undefined) => void;
  onStep?: (step: DeployStep) => void | Promise<void>;
}

/** What a deploy did. */
export interface DeployResult {
  /** The deploy's id; undefined for a dry run. */
  deployId?: number;
  createdAt?: Date;
  dryRun: boolean;
  plan: DeployPlan;
  /** `+1 ~2 -0 =30`, or `no changes`. */
  summary: string;
  noop: boolean;
  /** Redis keys of removed segments that the runtime must delete. */
  retiredRedisKeys: RetiredRedisKeys[];
}

/** What to roll back. */
export interface RollbackRequest {
  segment: string;
  /** A version hash or a unique prefix of one (`sha256:` optional); default: the version before the current one. */
  toVersion?: string;
  actor: string;
  message?: string;
  wait?: boolean;
  onWaiting?: (holder: string | undefined) => void;
  onStep?: (step: DeployStep) => void | Promise<void>;
}

/** What a rollback did. */
export interface RollbackResult {
  deployId: number;
  createdAt: Date;
  segment: string;
  fromVersion: string;
  toVersion: string;
  spec: PipelineSpec;
}

interface Tx {
  db: SegDb;
  s: string;
}

const q = async <R extends Record<string, unknown>>(tx: Tx, sql: string, params: unknown[] = []) =>
  (await tx.db.client.query<R>(sql, params)).rows;

async function inTransaction<T>(db: SegDb, body: (tx: Tx) => Promise<T>, commit = true): Promise<T> {
  await db.client.query("BEGIN");
  try {
    const result = await body({ db, s: quoteIdent(db.schema) });
    await db.client.query(commit ? "COMMIT" : "ROLLBACK");
    return result;
  } catch (e) {
    await db.client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}

/** Who holds the deploy lock, best effort: `pid 123 (seg, since 12:00:01)`. */
async function lockHolder(tx: Tx): Promise<string | undefined> {
  try {
    const rows = await q<{ pid: number; app: string | null; since: Date | null }>(
      tx,
      `SELECT a.pid, a.application_name AS app, a.xact_start AS since
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.classid::bigint = $1::bigint AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [DEPLOY_LOCK_CLASS, tx.db.schema],
    );
    const r = rows[0];
    if (!r) return undefined;
    return `pid ${r.pid}${r.app ? ` (${r.app}${r.since ? `, since ${r.since.toISOString()}` : ""})` : ""}`;
  } catch {
    return undefined;
  }
}

async function takeDeployLock(tx: Tx, wait: boolean, onWaiting?: (holder: string | undefined) => void): Promise<void> {
  const [got] = await q<{ ok: boolean }>(tx, "SELECT pg_try_advisory_xact_lock($1::int, hashtext($2)) AS ok", [DEPLOY_LOCK_CLASS, tx.db.schema]);
  if (got?.ok) return;
  const holder = await lockHolder(tx);
  if (!wait) {
    throw new DeployError(
      "locked",
      `another deploy of schema '${tx.db.schema}' is in progress${holder ? ` (${holder})` : ""}; try again, or leave out --no-wait to wait for it`,
    );
  }
  onWaiting?.(holder);
  await q(tx, "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [DEPLOY_LOCK_CLASS, tx.db.schema]);
}

/** Reads what is deployed. */
export async function readDeployedState(db: SegDb): Promise<DeployedState> {
  return readState({ db, s: quoteIdent(db.schema) });
}

async function readState(tx: Tx): Promise<DeployedState> {
  const rows = await q<{ segment: string; version: string; status: "active" | "retired"; last_deploy_id: string; spec: PipelineSpec }>(
    tx,
    `SELECT p.segment, p.current_version AS version, p.status, p.last_deploy_id, v.spec
       FROM ${tx.s}.pipelines p
       JOIN ${tx.s}.pipeline_versions v ON v.segment = p.segment AND v.version = p.current_version
      ORDER BY p.segment`,
  );
  const pipelines = new Map<string, DeployedPipeline>(
    rows.map((r) => [r.segment, { segment: r.segment, version: r.version, status: r.status, spec: r.spec, lastDeployId: Number(r.last_deploy_id) }]),
  );
  const schemaRows = await q<{ name: string; hash: string; version: number }>(tx, `SELECT name, hash, version FROM ${tx.s}.schemas`);
  const schemas: DeployedState["schemas"] = new Map();
  for (const r of schemaRows) {
    const entry = schemas.get(r.name) ?? { hashes: new Set<string>(), latest: 0 };
    entry.hashes.add(r.hash);
    entry.latest = Math.max(entry.latest, r.version);
    schemas.set(r.name, entry);
  }
  return { pipelines, schemas };
}

function checkActor(actor: string): string {
  const a = actor.trim();
  if (a === "") throw new DeployError("invalid-request", "a deploy needs an actor (who deploys): pass --actor or set USER");
  return a;
}

async function audit(tx: Tx, actor: string, action: string, target: string, deployId: number | null, details: Record<string, unknown>): Promise<void> {
  await q(tx, `INSERT INTO ${tx.s}.audit_log (actor, action, target, deploy_id, details) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
    actor,
    action,
    target,
    deployId,
    JSON.stringify(details),
  ]);
}

async function recordDeploy(
  tx: Tx,
  row: { kind: "deploy" | "rollback"; actor: string; message: string | null; plan?: DeployPlan; changed?: number; summary: string },
): Promise<{ id: number; createdAt: Date }> {
  const p = row.plan;
  const [r] = await q<{ id: string; created_at: Date }>(
    tx,
    `INSERT INTO ${tx.s}.deploys (kind, actor, message, added, changed, removed, unchanged, schemas_registered, summary)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, created_at`,
    [
      row.kind,
      row.actor,
      row.message,
      p?.added.length ?? 0,
      p?.changed.length ?? row.changed ?? 0,
      p?.removed.length ?? 0,
      p?.unchanged.length ?? 0,
      p?.schemas.length ?? 0,
      row.summary,
    ],
  );
  return { id: Number(r!.id), createdAt: r!.created_at };
}

/**
 * Deploys a project's compiled pipelines: plans against the deployed state and, unless `dryRun`,
 * applies the plan in one transaction. Migrates the schema first when needed (a dry run does that
 * in its own transaction too, and rolls it back: it changes nothing).
 */
export async function deployProject(db: SegDb, req: DeployRequest): Promise<DeployResult> {
  const actor = checkActor(req.actor);
  const step = async (s: DeployStep) => {
    await req.onStep?.(s);
  };
  if (req.dryRun) {
    return inTransaction(
      db,
      async (tx) => {
        if ((await schemaVersion(db.client, db.schema)) !== LATEST_SCHEMA_VERSION) await applyMigrations(db.client, db.schema);
        const plan = planFor(await readState(tx), req);
        await step("planned");
        return { dryRun: true, plan, summary: planSummary(plan), noop: plan.noop, retiredRedisKeys: plan.removed.map((r) => r.redis) };
      },
      false,
    );
  }
  await migrate(db);
  return inTransaction(db, async (tx) => {
    await takeDeployLock(tx, req.wait ?? true, req.onWaiting);
    await step("locked");
    const plan = planFor(await readState(tx), req);
    const summary = planSummary(plan);
    await step("planned");
    const message = req.message?.trim() || null;
    const { id, createdAt } = await recordDeploy(tx, { kind: "deploy", actor, message, plan, summary });
    await step("deploy-recorded");

    for (const e of [...plan.added, ...plan.changed]) {
      await q(
        tx,
        `INSERT INTO ${tx.s}.pipeline_versions (segment, version, spec, spec_format, created_by, deploy_id)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6) ON CONFLICT (segment, version) DO NOTHING`,
        [e.segment, e.toVersion, JSON.stringify(e.spec), e.spec.specVersion, actor, id],
      );
    }
    await step("versions");
    for (const e of [...plan.added, ...plan.changed]) {
      await q(
        tx,
        `INSERT INTO ${tx.s}.pipelines (segment, current_version, status, last_deploy_id) VALUES ($1, $2, 'active', $3)
         ON CONFLICT (segment) DO UPDATE SET current_version = EXCLUDED.current_version, status = 'active',
           retired_at = NULL, updated_at = now(), last_deploy_id = EXCLUDED.last_deploy_id`,
        [e.segment, e.toVersion, id],
      );
      const from = e.action === "changed" ? e.fromVersion : null;
      const details = e.action === "changed" ? { parts: e.parts } : {};
      await q(
        tx,
        `INSERT INTO ${tx.s}.deploy_changes (deploy_id, segment, action, from_version, to_version, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`,
        [id, e.segment, e.action, from, e.toVersion, e.reason, JSON.stringify(details)],
      );
    }
    await step("pipelines");
    for (const e of plan.removed) {
      await q(
        tx,
        `UPDATE ${tx.s}.pipelines SET status = 'retired', retired_at = now(), updated_at = now(), last_deploy_id = $2
          WHERE segment = $1 AND status = 'active'`,
        [e.segment, id],
      );
      await q(
        tx,
        `INSERT INTO ${tx.s}.deploy_changes (deploy_id, segment, action, from_version, to_version, reason, details) VALUES ($1, $2, 'removed', $3, NULL, $4, $5::jsonb)`,
        [id, e.segment, e.fromVersion, e.reason, JSON.stringify({ redis: e.redis })],
      );
    }
    await step("retired");
    for (const r of plan.schemas) {
      await q(
        tx,
        `INSERT INTO ${tx.s}.schemas (name, version, hash, kind, entity, key_field, topic, definition, deploy_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
        [r.name, r.version, r.hash, r.schema.kind, r.schema.entity, r.schema.key, r.schema.topic, JSON.stringify(r.schema.raw), id],
      );
    }
    await step("schemas");

    for (const e of plan.added) {
      await audit(tx, actor, "pipeline.add", `pipeline:${e.segment}`, id, { to: e.toVersion, reason: e.reason });
    }
    for (const e of plan.changed) {
      await audit(tx, actor, "pipeline.change", `pipeline:${e.segment}`, id, { from: e.fromVersion, to: e.toVersion, parts: e.parts, reason: e.reason });
    }
    for (const e of plan.removed) {
      await audit(tx, actor, "pipeline.retire", `pipeline:${e.segment}`, id, { from: e.fromVersion, redis: e.redis });
    }
    for (const r of plan.schemas) {
      await audit(tx, actor, "schema.register", `schema:${r.name}`, id, { version: r.version, hash: r.hash });
    }
    await audit(tx, actor, "deploy", `deploy:${id}`, id, {
      summary,
      noChanges: plan.noop,
      message,
      added: plan.added.map((e) => e.segment),
      changed: plan.changed.map((e) => e.segment),
      removed: plan.removed.map((e) => e.segment),
      unchanged: plan.unchanged.length,
      schemas: plan.schemas.map((r) => `${r.name}@${r.version}`),
    });
    await step("audit");
    // A no-op deploy is recorded but wakes nobody: there is nothing to reload.
    if (!plan.noop) await q(tx, "SELECT pg_notify($1, $2)", [notifyChannel(db.schema), String(id)]);
    await step("notified");
    return { deployId: id, createdAt, dryRun: false, plan, summary, noop: plan.noop, retiredRedisKeys: plan.removed.map((r) => r.redis) };
  });
}

/** The plan of a deploy request against the deployed state. */
function planFor(state: DeployedState, req: DeployRequest): DeployPlan {
  if (!req.schemasOnly) return planDeploy(state, req.specs, req.schemas);
  const active = [...state.pipelines.values()].filter((p) => p.status === "active").map((p) => p.spec);
  return planDeploy(state, active, req.schemas);
}

function matchVersion(versions: readonly string[], wanted: string, segment: string): string {
  const w = wanted.trim();
  const exact = versions.find((v) => v === w);
  if (exact) return exact;
  const hex = w.startsWith("sha256:") ? w : `sha256:${w}`;
  const matches = w.length > 0 ? versions.filter((v) => v.startsWith(hex)) : [];
  const listing = `known versions of ${segment}: ${versions.map(shortVersion).join(", ")}`;
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new DeployError("ambiguous-version", `version '${wanted}' of ${segment} is ambiguous: it matches ${matches.map(shortVersion).join(", ")}`);
  throw new DeployError("unknown-version", `${segment} has no version '${wanted}'; ${listing}`);
}

/**
 * Makes an earlier version of a segment current again (default: the version deployed before the
 * current one), as a deploy of its own with audit entries and a NOTIFY.
 */
export async function rollbackSegment(db: SegDb, req: RollbackRequest): Promise<RollbackResult> {
  const actor = checkActor(req.actor);
  await migrate(db);
  return inTransaction(db, async (tx) => {
    await takeDeployLock(tx, req.wait ?? true, req.onWaiting);
    await req.onStep?.("locked");
    const [p] = await q<{ current_version: string; status: string; last_deploy_id: string }>(
      tx,
      `SELECT current_version, status, last_deploy_id FROM ${tx.s}.pipelines WHERE segment = $1`,
      [req.segment],
    );
    if (!p) {
      const known = await q<{ segment: string }>(tx, `SELECT segment FROM ${tx.s}.pipelines WHERE status = 'active' ORDER BY segment LIMIT 20`);
      const hint = known.length > 0 ? `; deployed segments: ${known.map((k) => k.segment).join(", ")}` : "; nothing is deployed yet";
      throw new DeployError("unknown-segment", `unknown segment '${req.segment}': it was never deployed to schema '${db.schema}'${hint}`);
    }
    if (p.status === "retired") {
      throw new DeployError(
        "retired-segment",
        `segment '${req.segment}' is retired (deploy ${p.last_deploy_id} removed it); add it back to the project and deploy to reactivate it`,
      );
    }
    const versions = (
      await q<{ version: string }>(tx, `SELECT version FROM ${tx.s}.pipeline_versions WHERE segment = $1 ORDER BY deploy_id, created_at, version`, [
        req.segment,
      ])
    ).map((r) => r.version);
    const current = p.current_version;
    let target: string;
    if (req.toVersion !== undefined) {
      target = matchVersion(versions, req.toVersion, req.segment);
      if (target === current) throw new DeployError("already-current", `${req.segment} is already at version ${shortVersion(current)}`);
    } else {
      const i = versions.indexOf(current);
      if (i <= 0) {
        throw new DeployError(
          "no-previous-version",
          `${req.segment} has no version before ${shortVersion(current)}${versions.length > 1 ? `; pick one with --to (known versions: ${versions.map(shortVersion).join(", ")})` : ""}`,
        );
      }
      target = versions[i - 1]!;
    }
    const message = req.message?.trim() || `rollback ${req.segment} to ${shortVersion(target)}`;
    const { id, createdAt } = await recordDeploy(tx, { kind: "rollback", actor, message, changed: 1, summary: `rollback ${req.segment}` });
    await req.onStep?.("deploy-recorded");
    await q(tx, `UPDATE ${tx.s}.pipelines SET current_version = $2, updated_at = now(), last_deploy_id = $3 WHERE segment = $1`, [req.segment, target, id]);
    const reason = `rolled back from ${shortVersion(current)}`;
    await q(
      tx,
      `INSERT INTO ${tx.s}.deploy_changes (deploy_id, segment, action, from_version, to_version, reason) VALUES ($1, $2, 'rollback', $3, $4, $5)`,
      [id, req.segment, current, target, reason],
    );
    await req.onStep?.("pipelines");
    await audit(tx, actor, "pipeline.rollback", `pipeline:${req.segment}`, id, { from: current, to: target, message });
    await req.onStep?.("audit");
    await q(tx, "SELECT pg_notify($1, $2)", [notifyChannel(db.schema), String(id)]);
    await req.onStep?.("notified");
    const [v] = await q<{ spec: PipelineSpec }>(tx, `SELECT spec FROM ${tx.s}.pipeline_versions WHERE segment = $1 AND version = $2`, [req.segment, target]);
    return { deployId: id, createdAt, segment: req.segment, fromVersion: current, toVersion: target, spec: v!.spec };
  });
}
