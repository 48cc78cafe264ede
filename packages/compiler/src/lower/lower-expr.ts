/**
 * Typed expressions to IR: constants are inlined, date literals become UTC-midnight timestamps,
 * and aggregates are hoisted into a shared table keyed by a hash of their content, so equal
 * aggregates (in any segment or constant) get one id.
 */
import { dateToTimestamp } from "../check/literal-values.js";
import type { CheckedProgram, TExpr } from "../check/program.js";
import { contentHash } from "../hash.js";
import type { AggregateIR, ExprIR } from "../ir.js";
import { T } from "../types.js";
import { copyType } from "./sources.js";

/** Thrown only for programming errors: lowering something the checker rejected. */
export class LoweringError extends Error {
  override name = "LoweringError";
}

/** The id of an aggregate: `agg_` and 10 hex digits of the SHA-256 of its canonical content. */
export function aggregateId(content: Omit<AggregateIR, "id">): string {
  return `agg_${contentHash(content).slice(0, 10)}`;
}

/** Lowers typed expressions of one program, collecting the aggregates they use. */
export class ExprLowerer {
  /** Every aggregate lowered so far, by id. */
  readonly aggregates = new Map<string, AggregateIR>();
  private used: Set<string> = new Set();

  constructor(private readonly program: CheckedProgram) {}

  /** Starts collecting the aggregate ids used by the next expressions. */
  beginUse(): void {
    this.used = new Set();
  }

  /** The aggregate ids used since {@link beginUse}, sorted. */
  endUse(): string[] {
    return [...this.used].sort();
  }

  /** Lowers one expression. */
  lower(e: TExpr, depth = 0): ExprIR {
    const type = copyType(e.type);
    switch (e.k) {
      case "lit":
        if (e.type.kind === "date" && typeof e.value === "string") {
          const iso = dateToTimestamp(e.value);
          if (iso === undefined) throw new LoweringError(`invalid date literal ${e.value}`);
          return { k: "lit", type: { kind: "timestamp", nullable: false }, value: iso };
        }
        if (e.type.kind === "list" || e.type.kind === "error") throw new LoweringError(`cannot lower a ${e.type.kind} literal`);
        return { k: "lit", type, value: e.value };
      case "as_of":
        return { k: "as_of", type };
      case "attr":
        return { k: "attr", profile: e.profile, field: e.field, type };
      case "field":
        return { k: "field", source: e.source, field: e.field, type };
      case "segment":
        return { k: "segment", name: e.name, type: copyType(T.boolean) };
      case "agg":
        return { k: "agg", id: this.aggregate(e, depth), type };
      case "const": {
        const c = this.program.constants.get(e.name);
        if (!c || !c.ok || depth > 256) throw new LoweringError(`constant ${e.name} cannot be lowered`);
        return this.lower(c.body, depth + 1);
      }
      case "op":
        return { k: "op", op: e.op, args: e.args.map((a) => this.lower(a, depth)), type };
      case "in":
        return { k: "in", negated: e.negated, arg: this.lower(e.arg, depth), items: e.items.map((i) => this.lower(i, depth)), type };
      case "between":
        return { k: "between", negated: e.negated, arg: this.lower(e.arg, depth), low: this.lower(e.low, depth), high: this.lower(e.high, depth), type };
      case "in_window":
        return { k: "in_window", negated: e.negated, arg: this.lower(e.arg, depth), window: { olderMs: e.window.olderMs, newerMs: e.window.newerMs }, type };
      case "call":
        return { k: "call", fn: e.fn, args: e.args.map((a) => this.lower(a, depth)), type };
      case "error":
        throw new LoweringError("cannot lower an expression with errors");
    }
  }

  private aggregate(e: Extract<TExpr, { k: "agg" }>, depth: number): string {
    const content: Omit<AggregateIR, "id"> = {
      fn: e.fn,
      source: e.source,
      field: e.field,
      window: { olderMs: e.window.olderMs, newerMs: e.window.newerMs },
      filter: e.filter ? this.lower(e.filter, depth) : null,
      type: copyType(e.type),
    };
    const id = aggregateId(content);
    if (!this.aggregates.has(id)) this.aggregates.set(id, { id, ...content });
    this.used.add(id);
    return id;
  }
}
