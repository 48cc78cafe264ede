/**
 * The state shared while checking a project: the registry, the project-wide names, the
 * diagnostics found so far, and the scope of the expression being checked.
 */
import { diagnostic, type Diagnostic, type MessageName, type RelatedSpan, type Span } from "../dsl-imports.js";
import type { EventSchema, ProfileSchema, SchemaRegistry } from "../schema-registry.js";
import type { CheckedConst } from "./program.js";

/** Where an expression stands. */
export interface Scope {
  /** The file holding the expression. */
  file: string;
  /** The segment whose condition or metric this is; null inside a constant's body. */
  segment: { name: string; entity: string; entityKnown: boolean } | null;
  /** The event whose aggregate filter this is; null outside filters. */
  filter: EventSchema | null;
}

/** What a segment name stands for while checking references. */
export interface SegmentInfo {
  name: string;
  /** The segment's entity, or null when its `entity` setting is wrong (already reported). */
  entity: string | null;
  file: string;
  span: Span;
}

/** Options for {@link CheckContext.report}. */
export interface ReportOptions {
  hints?: string[];
  related?: RelatedSpan[];
}

/** The checker's working state. */
export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  /** How many of {@link diagnostics} are errors. */
  errorCount = 0;
  /** Constants used anywhere, by name. */
  readonly usedConsts = new Set<string>();
  /** Every entity some schema is about. */
  readonly entities: Set<string>;
  /** The constants being checked, innermost last. */
  readonly constStack: string[] = [];
  /** Uses of constants inside each constant's body, in source order (for cycles). */
  readonly constEdges = new Map<string, { to: string; span: Span }[]>();

  constructor(
    readonly registry: SchemaRegistry,
    /** Project segments by name (first declarations only). */
    readonly segments: ReadonlyMap<string, SegmentInfo>,
    /** Names of the project's constants (first declarations only). */
    readonly constNames: ReadonlySet<string>,
    /** Checks a constant on first use (returns "cycle" while it is being checked). */
    private readonly constLookup: (name: string) => CheckedConst | "cycle" | undefined,
  ) {
    this.entities = new Set(registry.schemas.map((s) => s.entity));
  }

  /** Adds a diagnostic in `file`. */
  report(file: string, name: MessageName, span: Span, args: readonly string[] = [], options: ReportOptions = {}): void {
    const d = diagnostic(name, span, args, { file, hints: options.hints ?? [], related: options.related ?? [] });
    if (d.severity === "error") this.errorCount++;
    this.diagnostics.push(d);
  }

  /** The checked constant `name`, checking it now if needed; "cycle" if it is being checked. */
  constant(name: string): CheckedConst | "cycle" | undefined {
    return this.constLookup(name);
  }

  /** The profile a path's first part names: an entity with a profile, or a profile's `x-seg` name. */
  profile(name: string): ProfileSchema | undefined {
    const byEntity = this.registry.profiles.get(name);
    if (byEntity) return byEntity;
    for (const p of this.registry.profiles.values()) if (p.name === name) return p;
    return undefined;
  }

  /** The event schema `name`. */
  event(name: string): EventSchema | undefined {
    return this.registry.events.get(name);
  }

  /** Names a path's first part may start with, for suggestions. */
  pathHeads(): string[] {
    const out: string[] = [...this.registry.events.keys()];
    for (const [entity, p] of this.registry.profiles) out.push(entity, p.name);
    return out;
  }
}

/** A related span "…here", with `file` set only when it differs from the diagnostic's file. */
export function relatedAt(span: Span, message: string, file: string, fromFile: string): RelatedSpan {
  return file === fromFile ? { span, message } : { span, message, file };
}
