/**
 * Small helpers over typed expressions: error nodes, type tests, and a walk.
 */
import type { Span } from "../dsl-imports.js";
import { T, isUnknown, type SegType } from "../types.js";
import type { CheckedConst, TExpr } from "./program.js";

/** A node standing for something already reported. */
export function errorNode(span: Span): TExpr {
  return { k: "error", type: T.error, span };
}

/** True when the type is `error` or `any` (already reported: accept everything, report nothing). */
export function unknown(e: TExpr | SegType): boolean {
  return isUnknown("k" in e ? e.type : e);
}

/** True for a value a condition accepts: a boolean (or something already reported). */
export function isConditionType(type: SegType): boolean {
  return type.kind === "boolean" || isUnknown(type);
}

/** The non-null boolean type of predicates (always true or false). */
export const BOOL: SegType = T.boolean;

/** The children of a typed node, in source order. */
export function children(e: TExpr): TExpr[] {
  switch (e.k) {
    case "agg":
      return e.filter ? [e.filter] : [];
    case "op":
    case "call":
      return e.args;
    case "in":
      return [e.arg, ...e.items];
    case "between":
      return [e.arg, e.low, e.high];
    case "in_window":
      return [e.arg];
    default:
      return [];
  }
}

/** Visits every node of `root`, parents first. */
export function walkTyped(root: TExpr, visit: (e: TExpr) => void): void {
  const stack: TExpr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    visit(e);
    const kids = children(e);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
}

/**
 * The literal value an expression stands for, when it is a literal, or a constant whose body is
 * one (followed through constants); undefined otherwise.
 */
export function literalOf(e: TExpr, constant: (name: string) => CheckedConst | "cycle" | undefined, depth = 0): Extract<TExpr, { k: "lit" }> | undefined {
  if (e.k === "lit") return e;
  if (e.k === "const" && depth < 64) {
    const c = constant(e.name);
    if (c && c !== "cycle") return literalOf(c.body, constant, depth + 1);
  }
  return undefined;
}

/** What a typed tree uses: aggregates, attributes, segments, constants and entities. */
export interface Usage {
  aggregate: boolean;
  attribute: boolean;
  segments: Set<string>;
  entities: Set<string>;
  /** Segments referenced, directly or through constants, with the span of each reference. */
  segmentUses: { name: string; span: Span }[];
  /** True when some node (or a constant used) has an error. */
  hasError: boolean;
}

/**
 * Summarises a typed tree. Constants are followed through `constant` (already checked ones);
 * `entityOf` gives the entity of a profile, event or segment name.
 */
export function usage(
  roots: readonly TExpr[],
  constant: (name: string) => CheckedConst | "cycle" | undefined,
  entityOf: { profile(name: string): string | undefined; event(name: string): string | undefined; segment(name: string): string | undefined },
): Usage {
  const u: Usage = { aggregate: false, attribute: false, segments: new Set(), entities: new Set(), segmentUses: [], hasError: false };
  const addEntity = (e: string | undefined): void => {
    if (e !== undefined) u.entities.add(e);
  };
  for (const root of roots) {
    walkTyped(root, (e) => {
      if (e.type.kind === "error") u.hasError = true;
      switch (e.k) {
        case "agg":
          u.aggregate = true;
          addEntity(entityOf.event(e.source));
          break;
        case "attr":
          u.attribute = true;
          addEntity(entityOf.profile(e.profile));
          break;
        case "segment":
          u.segments.add(e.name);
          u.segmentUses.push({ name: e.name, span: e.span });
          addEntity(entityOf.segment(e.name));
          break;
        case "const": {
          const c = constant(e.name);
          if (c === undefined || c === "cycle") {
            u.hasError = true;
            break;
          }
          if (!c.ok) u.hasError = true;
          u.aggregate ||= c.hasAggregate;
          u.attribute ||= c.usesAttribute;
          for (const s of c.segments) {
            u.segments.add(s);
            u.segmentUses.push({ name: s, span: e.span });
          }
          for (const ent of c.entities) u.entities.add(ent);
          break;
        }
        default:
          break;
      }
    });
  }
  return u;
}
