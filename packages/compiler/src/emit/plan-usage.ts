/**
 * What a plan's outputs actually need: the segments they reference (transitively), the aggregates
 * and profile attributes used by those predicates and the outputs' metrics, and the order in which
 * membership flags can be computed (levels: a segment comes one level after its deepest
 * reference). Everything is listed in plan order, so emitted SQL is deterministic.
 */
import type { AggregateIR, ExprIR, PlanIR, SegmentIR, SourceIR } from "../ir.js";

/** Calls `visit` on `e` and every sub-expression. */
export function walkExpr(e: ExprIR, visit: (e: ExprIR) => void): void {
  visit(e);
  switch (e.k) {
    case "op":
    case "call":
      for (const a of e.args) walkExpr(a, visit);
      break;
    case "in":
      walkExpr(e.arg, visit);
      for (const i of e.items) walkExpr(i, visit);
      break;
    case "between":
      walkExpr(e.arg, visit);
      walkExpr(e.low, visit);
      walkExpr(e.high, visit);
      break;
    case "in_window":
      walkExpr(e.arg, visit);
      break;
    default:
      break;
  }
}

/** The parts of a plan the emitted SQL needs, with their generated column names. */
export interface PlanUsage {
  /** Segments to compute, grouped by level (level 0 first), plan order within a level. */
  levels: SegmentIR[][];
  /** Output segments in `plan.outputs` order. */
  outputs: SegmentIR[];
  /** Column of each segment's flag (`in_1`, ...). */
  flagColumn: Map<string, string>;
  /** Needed aggregates, in plan order, with their columns (`agg_1`, ...). */
  aggregates: AggregateIR[];
  aggColumn: Map<string, string>;
  /** Needed profile attributes per profile source (schema field order), with columns (`attr_1`, ...). */
  attributes: { source: SourceIR; fields: string[] }[];
  attrColumn: Map<string, string>;
}

/** Key of an attribute in {@link PlanUsage.attrColumn}. */
export const attrKey = (profile: string, field: string): string => JSON.stringify([profile, field]);

/** Finds what `plan` needs to produce its outputs. Throws on a plan that breaks the IR contract. */
export function planUsage(plan: PlanIR): PlanUsage {
  const byName = new Map(plan.segments.map((s) => [s.name, s]));
  const refs = (s: SegmentIR): string[] => {
    const out = new Set(s.dependencies);
    walkExpr(s.predicate, (e) => {
      if (e.k === "segment") out.add(e.name);
    });
    return [...out];
  };
  const needed = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (path.includes(name)) throw new RangeError(`segments refer to each other in a cycle: ${[...path, name].join(" -> ")}`);
    if (needed.has(name)) return;
    const s = byName.get(name);
    if (!s) throw new RangeError(`the plan has no segment ${JSON.stringify(name)}`);
    for (const r of refs(s)) visit(r, [...path, name]);
    needed.add(name);
  };
  for (const o of plan.outputs) visit(o, []);

  const level = new Map<string, number>();
  const levelOf = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    const s = byName.get(name)!;
    const l = Math.max(-1, ...refs(s).map(levelOf)) + 1;
    level.set(name, l);
    return l;
  };
  const segments = plan.segments.filter((s) => needed.has(s.name));
  const levels: SegmentIR[][] = [];
  for (const s of segments) (levels[levelOf(s.name)] ??= []).push(s);
  const flagColumn = new Map(segments.map((s, i) => [s.name, `in_${i + 1}`]));
  const outputs = plan.outputs.map((o) => byName.get(o)!);

  const aggIds = new Set<string>();
  const attrs = new Set<string>();
  const collect = (e: ExprIR) =>
    walkExpr(e, (x) => {
      if (x.k === "agg") aggIds.add(x.id);
      if (x.k === "attr") attrs.add(attrKey(x.profile, x.field));
    });
  for (const s of segments) collect(s.predicate);
  for (const s of outputs) for (const m of s.metrics) collect(m.expr);

  const known = new Set(plan.aggregates.map((a) => a.id));
  for (const id of aggIds) if (!known.has(id)) throw new RangeError(`the plan has no aggregate ${JSON.stringify(id)}`);
  const aggregates = plan.aggregates.filter((a) => aggIds.has(a.id));
  const aggColumn = new Map(aggregates.map((a, i) => [a.id, `agg_${i + 1}`]));

  const attributes: PlanUsage["attributes"] = [];
  const attrColumn = new Map<string, string>();
  for (const source of plan.sources) {
    if (source.kind !== "profile") continue;
    const fields = source.fields.map((f) => f.name).filter((f) => attrs.has(attrKey(source.name, f)));
    if (fields.length === 0) continue;
    attributes.push({ source, fields });
    for (const f of fields) attrColumn.set(attrKey(source.name, f), `attr_${attrColumn.size + 1}`);
  }
  for (const a of attrs) {
    if (!attrColumn.has(a)) throw new RangeError(`the plan has no profile attribute ${a}`);
  }
  return { levels, outputs, flagColumn, aggregates, aggColumn, attributes, attrColumn };
}
