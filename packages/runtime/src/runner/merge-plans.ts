/**
 * Combining the plans of several pipelines into one, so one job evaluates them with one query
 * that scans each source once and computes each shared aggregate once.
 *
 * Plans merge when they are about the same entity over the same universe and agree on everything
 * they share: a source, an aggregate (ids are content hashes) or a segment (a dependency inlined
 * in two plans) of the same name must be identical in both. The merged plan has the union of
 * sources (by name), aggregates (by id) and segments (by name, in dependency order), and every
 * output of every plan.
 */
import { canonicalJson, dependencyOrder, PlanError, type PipelineSpec } from "@seg/compiler";

/** The IR of a plan (the IR types are not exported by @seg/compiler's entry point). */
export type PlanIR = PipelineSpec["plan"];
type SegmentIR = PlanIR["segments"][number];

/** Plans that cannot be evaluated as one. */
export class PlanMergeError extends Error {
  override name = "PlanMergeError";
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

/** Why `a` and `b` cannot be merged, or undefined when they can. */
export function mergeConflict(a: PlanIR, b: PlanIR): string | undefined {
  if (a.irVersion !== b.irVersion) return `IR versions differ (${a.irVersion} and ${b.irVersion})`;
  if (a.entity !== b.entity) return `entities differ (${a.entity} and ${b.entity})`;
  if (!same(a.keyType, b.keyType)) return "entity key types differ";
  if (!same(a.universe, b.universe)) return "universes differ";
  const byName = <T extends { name: string }>(xs: readonly T[]) => new Map(xs.map((x) => [x.name, x]));
  const sources = byName(a.sources);
  for (const s of b.sources) {
    const other = sources.get(s.name);
    if (other !== undefined && !same(other, s)) return `source ${s.name} differs (another schema version)`;
  }
  const aggregates = new Map(a.aggregates.map((x) => [x.id, x]));
  for (const x of b.aggregates) {
    const other = aggregates.get(x.id);
    if (other !== undefined && !same(other, x)) return `aggregate ${x.id} differs`;
  }
  const segments = byName(a.segments);
  for (const s of b.segments) {
    const other = segments.get(s.name);
    if (other !== undefined && !same(other, s)) return `segment ${s.name} differs between the plans (another version of it)`;
  }
  return undefined;
}

/** Merges `plans` (at least one) into one plan. Throws {@link PlanMergeError} when they conflict. */
export function mergePlans(plans: readonly PlanIR[]): PlanIR {
  const first = plans[0];
  if (first === undefined) throw new PlanMergeError("nothing to merge: no plans");
  if (plans.length === 1) return first;
  for (let i = 1; i < plans.length; i++) {
    for (let j = 0; j < i; j++) {
      const conflict = mergeConflict(plans[j]!, plans[i]!);
      if (conflict !== undefined) throw new PlanMergeError(`plans of ${plans[j]!.outputs.join(", ")} and ${plans[i]!.outputs.join(", ")} cannot be merged: ${conflict}`);
    }
  }
  const sources = new Map<string, PlanIR["sources"][number]>();
  const aggregates = new Map<string, PlanIR["aggregates"][number]>();
  const segments = new Map<string, SegmentIR>();
  const outputs = new Set<string>();
  for (const p of plans) {
    for (const s of p.sources) if (!sources.has(s.name)) sources.set(s.name, s);
    for (const a of p.aggregates) if (!aggregates.has(a.id)) aggregates.set(a.id, a);
    for (const s of p.segments) if (!segments.has(s.name)) segments.set(s.name, s);
    for (const o of p.outputs) outputs.add(o);
  }
  return {
    irVersion: first.irVersion,
    entity: first.entity,
    keyType: first.keyType,
    universe: first.universe,
    sources: [...sources.values()].sort((a, b) => cmp(a.name, b.name)),
    aggregates: [...aggregates.values()].sort((a, b) => cmp(a.id, b.id)),
    segments: orderSegments(segments),
    outputs: [...outputs].sort(cmp),
  };
}

/** `segments` in dependency order; every dependency must be among them. */
function orderSegments(segments: Map<string, SegmentIR>): SegmentIR[] {
  for (const s of segments.values()) {
    const missing = s.dependencies.filter((d) => !segments.has(d));
    if (missing.length > 0) throw new PlanMergeError(`segment ${s.name} depends on ${missing.join(", ")}, which no plan contains`);
  }
  try {
    return dependencyOrder(segments);
  } catch (e) {
    throw e instanceof PlanError ? new PlanMergeError(e.message) : e;
  }
}

/** The names of the sources a plan reads. */
export function planSources(plan: PlanIR): string[] {
  return plan.sources.map((s) => s.name);
}
