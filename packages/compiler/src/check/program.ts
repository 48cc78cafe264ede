/**
 * The checker's output: a resolved, typed program. Expressions are already in the shape of the IR
 * (`ExprIR`) with three differences the lowering removes: nodes keep their source `span`,
 * constants are references (`const`) rather than inlined, and aggregates are written in place
 * (`agg` with its function, source, window and filter) rather than by id. Literal values are
 * normalised (timestamps as UTC ISO strings with milliseconds, durations in milliseconds); date
 * literals keep the type `date` until lowering promotes them.
 */
import type { SchemaRegistry } from "../schema-registry.js";
import type { AggregateFn, FunctionName, OpName, SegmentHeader, WindowIR } from "../ir.js";
import type { Span } from "../dsl-imports.js";
import type { SegType } from "../types.js";

/** A typed expression. Every node carries its type and its span. */
export type TExpr =
  | { k: "lit"; type: SegType; value: number | string | boolean | null; span: Span }
  | { k: "as_of"; type: SegType; span: Span }
  | { k: "attr"; profile: string; field: string; type: SegType; span: Span }
  | { k: "field"; source: string; field: string; type: SegType; span: Span }
  | { k: "agg"; fn: AggregateFn; source: string; field: string | null; window: WindowIR; filter: TExpr | null; type: SegType; span: Span }
  | { k: "segment"; name: string; type: SegType; span: Span }
  /** A use of a project constant; lowering inlines its body. */
  | { k: "const"; name: string; type: SegType; span: Span }
  | { k: "op"; op: OpName; args: TExpr[]; type: SegType; span: Span }
  | { k: "in"; negated: boolean; arg: TExpr; items: TExpr[]; type: SegType; span: Span }
  | { k: "between"; negated: boolean; arg: TExpr; low: TExpr; high: TExpr; type: SegType; span: Span }
  | { k: "in_window"; negated: boolean; arg: TExpr; window: WindowIR; type: SegType; span: Span }
  | { k: "call"; fn: FunctionName; args: TExpr[]; type: SegType; span: Span }
  /** Something already reported (or a parser recovery node): type `error`. */
  | { k: "error"; type: SegType; span: Span };

/** A project constant after checking. */
export interface CheckedConst {
  name: string;
  file: string;
  span: Span;
  body: TExpr;
  type: SegType;
  /** False when the body (or a constant it uses) has an error, or the constant is in a cycle. */
  ok: boolean;
  /** Whether the body contains an aggregate (directly or through other constants). */
  hasAggregate: boolean;
  /** Whether the body reads a profile attribute (directly or through other constants). */
  usesAttribute: boolean;
  /** Segments the body refers to (directly or through other constants), sorted. */
  segments: string[];
  /** The entities its attributes, aggregates and segment references are about, sorted. */
  entities: string[];
}

/** A metric after checking. */
export interface CheckedMetric {
  name: string;
  expr: TExpr;
  span: Span;
}

/** A segment after checking. */
export interface CheckedSegment extends SegmentHeader {
  /** The key attribute written with `entity ... key`, if any. */
  key: string | null;
  refreshMs: number;
  ttlMs: number;
  /** The `where` condition (an `error` node when missing). */
  where: TExpr;
  metrics: CheckedMetric[];
  /** Segments referenced, directly or through constants (sorted, unique). */
  dependencies: string[];
  file: string;
  span: Span;
  /**
   * True when the segment, the constants it uses and every segment it depends on are free of
   * errors and cycles: only such segments can be lowered.
   */
  ok: boolean;
}

/** A whole checked project. */
export interface CheckedProgram {
  /** Segments by name (the first declaration of each name), in declaration order. */
  segments: Map<string, CheckedSegment>;
  /** Constants by name (the first declaration of each name), in declaration order. */
  constants: Map<string, CheckedConst>;
  registry: SchemaRegistry;
  /** The project's default entity. */
  entity: string;
}
