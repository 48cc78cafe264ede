/**
 * The deploy plan: what a deploy would do, computed from the compiled specs and the deployed
 * state, like `terraform plan`. A pure function, so it is the same in a dry run and a real deploy.
 */
import { canonicalJson, type PipelineSpec, type SegSchema } from "@seg/compiler";

/** A schema as the deploy store registers it (a registry's `SegSchema` fits). */
export type DeploySchema = Pick<SegSchema, "name" | "kind" | "entity" | "key" | "topic" | "hash" | "raw">;

/** A deployed segment, as read from the store. */
export interface DeployedPipeline {
  segment: string;
  version: string;
  status: "active" | "retired";
  /** The spec of `version`. */
  spec: PipelineSpec;
  lastDeployId: number;
}

/** What the store holds when a plan is made. */
export interface DeployedState {
  pipelines: Map<string, DeployedPipeline>;
  /** Registered schema hashes by name, with the newest version number. */
  schemas: Map<string, { hashes: Set<string>; latest: number }>;
}

/** The parts of a spec a change is reported by. */
export type SpecPart = "sql" | "sources" | "settings" | "dependencies" | "metadata" | "plan" | "format";

/** Redis keys a removed segment leaves behind; the runtime deletes them. */
export interface RetiredRedisKeys {
  segment: string;
  /**
   * Keys to delete: the members SET first, then the meta HASH and the metrics HASH (a spec stored
   * before the metrics hash existed has no metrics key: its list stops at the meta hash).
   */
  keys: string[];
}

/** One line of a plan. */
export type PlanEntry =
  | { action: "added"; segment: string; toVersion: string; reason: string; spec: PipelineSpec }
  | { action: "changed"; segment: string; fromVersion: string; toVersion: string; parts: SpecPart[]; reason: string; spec: PipelineSpec }
  | { action: "unchanged"; segment: string; version: string }
  | { action: "removed"; segment: string; fromVersion: string; reason: string; redis: RetiredRedisKeys };

/** A schema the deploy registers. */
export interface SchemaRegistration {
  name: string;
  version: number;
  hash: string;
  /** True for the first version of a name. */
  isNew: boolean;
  schema: DeploySchema;
}

/** What a deploy does. */
export interface DeployPlan {
  added: Extract<PlanEntry, { action: "added" }>[];
  changed: Extract<PlanEntry, { action: "changed" }>[];
  removed: Extract<PlanEntry, { action: "removed" }>[];
  unchanged: Extract<PlanEntry, { action: "unchanged" }>[];
  schemas: SchemaRegistration[];
  /** True when the deploy changes nothing. */
  noop: boolean;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** The settings of a spec: how and where it runs, apart from its SQL and sources. */
function settingsOf(spec: PipelineSpec): Record<string, unknown> {
  return { entity: spec.entity, parameters: spec.parameters, outputs: spec.outputs, refreshSeconds: spec.refreshSeconds };
}

const SETTING_LABELS: Record<string, (s: PipelineSpec) => unknown> = {
  refresh: (s) => s.refreshSeconds,
  ttl: (s) => s.outputs?.ttlSeconds,
  metrics: (s) => s.outputs?.metrics,
  entity: (s) => s.entity,
  topics: (s) => [s.outputs?.resultsTopic, s.outputs?.changesTopic],
  redis: (s) => s.outputs?.redis,
  parameters: (s) => s.parameters,
};

/** Which parts of a spec changed between two versions, and a one-line reason. */
export function describeChange(from: PipelineSpec, to: PipelineSpec): { parts: SpecPart[]; reason: string } {
  const parts: SpecPart[] = [];
  const details = new Map<SpecPart, string>();
  if (from.specVersion !== to.specVersion) parts.push("format");
  if (!same(from.sql, to.sql)) parts.push("sql");
  if (!same(from.sources, to.sources)) {
    parts.push("sources");
    const a = new Map((from.sources ?? []).map((s) => [s.name, s]));
    const b = new Map((to.sources ?? []).map((s) => [s.name, s]));
    const names = [...new Set([...a.keys(), ...b.keys()])].sort(byName);
    details.set("sources", names.filter((n) => !same(a.get(n), b.get(n))).join(", "));
  }
  if (!same(settingsOf(from), settingsOf(to))) {
    parts.push("settings");
    const labels = Object.entries(SETTING_LABELS)
      .filter(([, get]) => !same(get(from), get(to)))
      .map(([label]) => label);
    if (labels.length > 0) details.set("settings", labels.join(", "));
  }
  if (!same(from.dependencies, to.dependencies)) parts.push("dependencies");
  if (!same(from.metadata, to.metadata)) {
    parts.push("metadata");
    const m1 = (from.metadata ?? {}) as Record<string, unknown>;
    const m2 = (to.metadata ?? {}) as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(m1), ...Object.keys(m2)])].sort(byName);
    details.set("metadata", keys.filter((k) => !same(m1[k], m2[k])).join(", "));
  }
  // The plan only changes alone when something the SQL does not show changed (rare).
  if (parts.length === 0 && !same(from.plan, to.plan)) parts.push("plan");
  if (parts.length === 0) parts.push("format");
  const list = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
  const shown = parts.filter((p) => details.get(p));
  const detail =
    shown.length === 0 ? "" : parts.length === 1 ? ` (${details.get(shown[0]!)})` : ` (${shown.map((p) => `${p}: ${details.get(p)}`).join("; ")})`;
  return { parts, reason: `${list} changed${detail}` };
}

/**
 * The Redis keys of a segment that a removal retires: members, meta and metrics. A spec stored by
 * an older seg (per-entity hashes, `entityKeyPrefix`, no `metricsKey`) gives its members and meta
 * keys only; its entities' old fields are left to expire with their TTL.
 */
export function retiredRedisKeys(spec: PipelineSpec): RetiredRedisKeys {
  const redis: Partial<PipelineSpec["outputs"]["redis"]> = spec.outputs?.redis ?? {};
  const keys = [redis.membersKey ?? "", redis.metaKey ?? ""];
  if (typeof redis.metricsKey === "string" && redis.metricsKey !== "") keys.push(redis.metricsKey);
  return { segment: spec.id, keys };
}

/** Computes the plan of deploying `specs` and `schemas` onto `state`. */
export function planDeploy(state: DeployedState, specs: readonly PipelineSpec[], schemas: readonly DeploySchema[]): DeployPlan {
  const plan: DeployPlan = { added: [], changed: [], removed: [], unchanged: [], schemas: [], noop: true };
  const seen = new Set<string>();
  for (const spec of [...specs].sort((a, b) => byName(a.id, b.id))) {
    if (seen.has(spec.id)) throw new Error(`segment '${spec.id}' appears twice in the deploy`);
    seen.add(spec.id);
    const current = state.pipelines.get(spec.id);
    if (current === undefined) {
      plan.added.push({ action: "added", segment: spec.id, toVersion: spec.version, reason: "new", spec });
    } else if (current.status === "retired") {
      plan.added.push({ action: "added", segment: spec.id, toVersion: spec.version, reason: "reactivated", spec });
    } else if (current.version === spec.version) {
      plan.unchanged.push({ action: "unchanged", segment: spec.id, version: spec.version });
    } else {
      const { parts, reason } = describeChange(current.spec, spec);
      plan.changed.push({ action: "changed", segment: spec.id, fromVersion: current.version, toVersion: spec.version, parts, reason, spec });
    }
  }
  for (const name of [...state.pipelines.keys()].sort(byName)) {
    const current = state.pipelines.get(name)!;
    if (current.status !== "active" || seen.has(name)) continue;
    plan.removed.push({ action: "removed", segment: name, fromVersion: current.version, reason: "retired", redis: retiredRedisKeys(current.spec) });
  }
  const registered = new Set<string>();
  for (const schema of [...schemas].sort((a, b) => byName(a.name, b.name))) {
    const key = `${schema.name}\u0000${schema.hash}`;
    if (registered.has(key)) continue;
    registered.add(key);
    const known = state.schemas.get(schema.name);
    if (known?.hashes.has(schema.hash)) continue;
    const latest = Math.max(known?.latest ?? 0, ...plan.schemas.filter((r) => r.name === schema.name).map((r) => r.version));
    plan.schemas.push({ name: schema.name, version: latest + 1, hash: schema.hash, isNew: known === undefined && latest === 0, schema });
  }
  plan.noop = plan.added.length + plan.changed.length + plan.removed.length + plan.schemas.length === 0;
  return plan;
}

/** A one-line summary: `+1 ~2 -0 =30`, or `no changes`. */
export function planSummary(plan: DeployPlan): string {
  if (plan.noop) return "no changes";
  const s = `+${plan.added.length} ~${plan.changed.length} -${plan.removed.length} =${plan.unchanged.length}`;
  return plan.schemas.length > 0 ? `${s}, ${plan.schemas.length} schema${plan.schemas.length === 1 ? "" : "s"} registered` : s;
}

/** The first characters of a version hash, for people: `sha256:0123456789ab`. */
export function shortVersion(version: string): string {
  const m = /^(sha256:)?([0-9a-f]+)$/.exec(version);
  return m ? `${m[1] ?? ""}${m[2]!.slice(0, 12)}` : version;
}

/** The plan as lines for people: `+ added high_value (new)`, `~ changed churned: sql changed`, ... */
export function formatPlan(plan: DeployPlan): string[] {
  const lines: string[] = [];
  for (const e of plan.added) lines.push(`+ added ${e.segment} (${e.reason})`);
  for (const e of plan.changed) lines.push(`~ changed ${e.segment}: ${e.reason}`);
  for (const e of plan.removed) lines.push(`- removed ${e.segment} (${e.reason})`);
  if (plan.unchanged.length > 0) lines.push(`= ${plan.unchanged.length} unchanged`);
  for (const s of plan.schemas) lines.push(`+ schema ${s.name} v${s.version} (${s.isNew ? "new" : "changed"}, sha256 ${s.hash.slice(0, 12)})`);
  if (lines.length === 0) lines.push("= nothing to deploy");
  return lines;
}
