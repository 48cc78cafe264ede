/**
 * `lowerProgram`: a checked program to IR segments, the aggregates they share, and the sources.
 */
import type { CheckedProgram, CheckedSegment } from "../check/program.js";
import type { AggregateIR, SegmentIR, SourceIR } from "../ir.js";
import { ExprLowerer } from "./lower-expr.js";
import { sourcesOf } from "./sources.js";

/** A lowered program: every lowerable segment, every aggregate they use, every source. */
export interface LoweredProgram {
  /** Segments by name, sorted by name. Only segments the checker marked `ok` are here. */
  segments: Map<string, SegmentIR>;
  /** Aggregates by id, sorted by id. */
  aggregates: Map<string, AggregateIR>;
  /** Every event and profile of the registry, by name, sorted by name. */
  sources: Map<string, SourceIR>;
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Lowers every segment of a checked program that has no errors (`ok`); segments with errors, or
 * depending on one, are left out. Deterministic: equal programs give byte-identical JSON.
 */
export function lowerProgram(program: CheckedProgram): LoweredProgram {
  const lowerer = new ExprLowerer(program);
  const segments = new Map<string, SegmentIR>();
  const ok = [...program.segments.values()].filter((s) => s.ok).sort(byName);
  for (const s of ok) segments.set(s.name, lowerSegment(lowerer, s));
  const aggregates = new Map<string, AggregateIR>();
  for (const id of [...lowerer.aggregates.keys()].sort()) aggregates.set(id, lowerer.aggregates.get(id)!);
  return { segments, aggregates, sources: sourcesOf(program.registry) };
}

function lowerSegment(lowerer: ExprLowerer, s: CheckedSegment): SegmentIR {
  lowerer.beginUse();
  const predicate = lowerer.lower(s.where);
  const metrics = s.metrics.map((m) => ({ name: m.name, expr: lowerer.lower(m.expr) }));
  const aggregates = lowerer.endUse();
  return {
    name: s.name,
    title: s.title,
    description: s.description,
    owner: s.owner,
    tags: [...s.tags],
    entity: s.entity,
    predicate,
    metrics,
    dependencies: [...s.dependencies],
    aggregates,
    settings: { refreshMs: s.refreshMs, ttlMs: s.ttlMs },
    file: s.file,
  };
}
