/**
 * `buildPlan`: the segments asked for, with every segment they depend on (in dependency order),
 * the aggregates they use and the sources they read, over the universe of their entity.
 */
import { IR_VERSION, type AggregateIR, type ExprIR, type PlanIR, type SegmentIR, type SourceIR, type UniverseIR } from "../ir.js";
import { T, withNullable, type SegType } from "../types.js";
import type { LoweredProgram } from "./lower-program.js";

/** Thrown for a plan request that cannot be met (a caller's mistake, not a rule author's). */
export class PlanError extends Error {
  override name = "PlanError";
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Builds the plan for `segmentNames` (any order, duplicates ignored). Throws {@link PlanError}
 * when a name is not a lowered segment or the segments are about different entities.
 */
export function buildPlan(lowered: LoweredProgram, segmentNames: readonly string[]): PlanIR {
  const outputs = [...new Set(segmentNames)].sort(cmp);
  if (outputs.length === 0) throw new PlanError("a plan needs at least one segment");
  const closure = dependencyClosure(lowered, outputs);
  const entity = closure.get(outputs[0]!)!.entity;
  const others = [...closure.values()].filter((s) => s.entity !== entity);
  if (others.length > 0) throw new PlanError(`segments of one plan must share an entity: ${outputs[0]} is about ${entity}, ${others[0]!.name} about ${others[0]!.entity}`);
  const segments = dependencyOrder(closure);

  const aggregateIds = [...new Set(segments.flatMap((s) => s.aggregates))].sort(cmp);
  const aggregates: AggregateIR[] = aggregateIds.map((id) => {
    const a = lowered.aggregates.get(id);
    if (!a) throw new PlanError(`aggregate ${id} is missing from the lowered program`);
    return a;
  });

  const universe = universeOf(lowered, entity);
  const sourceNames = new Set<string>(universe.kind === "profile" ? [universe.source] : universe.sources);
  for (const a of aggregates) sourceNames.add(a.source);
  for (const s of segments) for (const p of profilesRead(s)) sourceNames.add(p);
  const sources = [...sourceNames].sort(cmp).map((name) => {
    const src = lowered.sources.get(name);
    if (!src) throw new PlanError(`source ${name} is missing from the lowered program`);
    return src;
  });

  return { irVersion: IR_VERSION, entity, keyType: keyTypeOf(lowered, universe), universe, sources, aggregates, segments, outputs };
}

function dependencyClosure(lowered: LoweredProgram, names: readonly string[]): Map<string, SegmentIR> {
  const out = new Map<string, SegmentIR>();
  const stack = [...names];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (out.has(name)) continue;
    const s = lowered.segments.get(name);
    if (!s) throw new PlanError(`segment ${name} is not in the lowered program (unknown, or it has errors)`);
    out.set(name, s);
    stack.push(...s.dependencies);
  }
  return out;
}

/**
 * Orders segments so each comes after the segments it depends on (Kahn's algorithm; among segments
 * ready at the same time, the alphabetically first goes first). Dependencies outside `segments` are
 * ignored. Throws {@link PlanError} on a cycle.
 */
export function dependencyOrder<S extends { name: string; dependencies: readonly string[] }>(segments: ReadonlyMap<string, S>): S[] {
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const s of segments.values()) {
    const deps = [...new Set(s.dependencies)].filter((d) => segments.has(d));
    waiting.set(s.name, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), s.name]);
  }
  const ready = [...waiting].filter(([, n]) => n === 0).map(([name]) => name);
  const order: S[] = [];
  while (ready.length > 0) {
    ready.sort(cmp);
    const name = ready.shift()!;
    order.push(segments.get(name)!);
    for (const d of dependents.get(name) ?? []) {
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  if (order.length !== segments.size) throw new PlanError("segments depend on each other in a cycle");
  return order;
}

function universeOf(lowered: LoweredProgram, entity: string): UniverseIR {
  const all = [...lowered.sources.values()].filter((s) => s.entity === entity);
  const profile = all.find((s) => s.kind === "profile");
  if (profile) return { kind: "profile", source: profile.name };
  return { kind: "events", sources: all.filter((s) => s.kind === "event").map((s) => s.name).sort(cmp) };
}

function keyTypeOf(lowered: LoweredProgram, universe: UniverseIR): SegType {
  const first = universe.kind === "profile" ? universe.source : universe.sources[0];
  const src: SourceIR | undefined = first === undefined ? undefined : lowered.sources.get(first);
  const key = src?.fields.find((f) => f.name === src.key);
  return withNullable(key ? { ...key.type } : T.string, false);
}

/** The profiles a segment's predicate and metrics read attributes of. */
function profilesRead(s: SegmentIR): Set<string> {
  const out = new Set<string>();
  const visit = (e: ExprIR): void => {
    switch (e.k) {
      case "attr":
        out.add(e.profile);
        break;
      case "op":
      case "call":
        e.args.forEach(visit);
        break;
      case "in":
        visit(e.arg);
        e.items.forEach(visit);
        break;
      case "between":
        visit(e.arg);
        visit(e.low);
        visit(e.high);
        break;
      case "in_window":
        visit(e.arg);
        break;
      default:
        break;
    }
  };
  visit(s.predicate);
  for (const m of s.metrics) visit(m.expr);
  return out;
}
