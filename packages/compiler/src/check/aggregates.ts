/**
 * Aggregates and windows: the event and field an aggregate reads (SEG030, SEG031, SEG038,
 * SEG073), its entity (SEG051), what each function accepts (SEG036, SEG037), nesting (SEG049),
 * its filter (SEG048) and its window (SEG040, SEG041).
 */
import type * as A from "@seg/dsl";
import type { AggregateFn, WindowIR } from "../ir.js";
import type { EventSchema, SchemaField } from "../schema-registry.js";
import { T, isNumeric, segType, withNullable, type SegType } from "../types.js";
import type { CheckContext, Scope } from "./context.js";
import { requireCondition, type ExprChecker } from "./expressions.js";
import { durationMs } from "./literal-values.js";
import { describeType, displayDuration, displayName, displayPath, displayWindow } from "./names.js";
import type { TExpr } from "./program.js";
import { nameHints } from "./suggest.js";
import { errorNode } from "./typed.js";

/** The window an aggregate or window test covers; undefined when it is wrong (reported). */
export function checkWindow(ctx: CheckContext, scope: Scope, w: A.Window | null): WindowIR | undefined {
  if (w === null || w.kind === "EverWindow") return { olderMs: null, newerMs: 0 };
  if (w.kind === "LastWindow") {
    const ms = durationMs(w.duration);
    if (ms === undefined) return undefined;
    if (ms <= 0) {
      ctx.report(scope.file, "emptyWindow", w.span, [displayWindow(w)], { hints: ["a window needs a length: in last 1 day"] });
      return undefined;
    }
    return { olderMs: ms, newerMs: 0 };
  }
  const older = durationMs(w.from);
  const newer = durationMs(w.to);
  if (older === undefined || newer === undefined) return undefined;
  if (older < newer) {
    ctx.report(scope.file, "reversedWindow", w.span, [displayDuration(w.from), displayDuration(w.to)], {
      hints: [`write between ${displayDuration(w.to)} and ${displayDuration(w.from)} ago`],
    });
    return undefined;
  }
  if (older === newer) {
    ctx.report(scope.file, "emptyWindow", w.span, [displayWindow(w)], { hints: ["the bounds are equal: the window holds no time at all"] });
    return undefined;
  }
  return { olderMs: older, newerMs: newer };
}

/** The function name with the source as written, for messages: `sum(purchase.category)`. */
const shownSource = (source: A.Path): string => displayPath(source.parts.map((p) => p.text));

/** Checks an aggregate. */
export function checkAggregate(ctx: CheckContext, scope: Scope, node: A.Aggregate, check: ExprChecker): TExpr {
  if (scope.filter) {
    ctx.report(scope.file, "nestedAggregate", node.span, [], {
      hints: ["a filter is evaluated for each event; compare the aggregates outside, e.g. count(a) > 0 and count(b) > 0"],
    });
    return errorNode(node.span);
  }
  const parts = node.source.parts;
  if (parts.length === 0 || parts.some((p) => p.text === "")) return errorNode(node.span);
  const window = checkWindow(ctx, scope, node.window);
  const event = resolveEvent(ctx, scope, node);
  if (!event) return errorNode(node.span);

  let field: SchemaField | undefined;
  let ok = window !== undefined;
  if (parts.length > 1) {
    const name = parts.slice(1).map((p) => p.text).join(".");
    const tail = { start: parts[1]!.span.start, end: parts[parts.length - 1]!.span.end };
    field = parts.length === 2 ? event.fields.get(name) : undefined;
    if (!field) {
      if (parts.length === 2 && event.unsupported.has(name)) {
        ctx.report(scope.file, "schemaUnsupportedType", tail, [displayPath([event.name, name]), event.unsupported.get(name)!]);
      } else {
        ctx.report(scope.file, "unknownField", tail, [displayName(event.name), displayName(name)], {
          hints: nameHints(name, event.fields.keys(), `the fields of ${displayName(event.name)} are`),
        });
      }
      ok = false;
    }
  }
  let filter: TExpr | null = null;
  if (node.filter) {
    filter = requireCondition(ctx, scope, check(node.filter, { ...scope, filter: event }));
  }
  if (!ok || (parts.length > 1 && !field)) return errorNode(node.span);
  const type = resultType(ctx, scope, node, event, field);
  if (!type) return errorNode(node.span);
  return { k: "agg", fn: node.fn, source: event.name, field: field?.name ?? null, window: window!, filter, type, span: node.span };
}

/** The event an aggregate reads, or undefined (reported) when its source is no event of this entity. */
function resolveEvent(ctx: CheckContext, scope: Scope, node: A.Aggregate): EventSchema | undefined {
  const head = node.source.parts[0]!;
  const event = ctx.event(head.text);
  if (!event) {
    const profile = ctx.profile(head.text);
    const isConst = ctx.constNames.has(head.text);
    if (profile) {
      const example = node.source.parts[1] ? shownSource(node.source) : `${displayName(head.text)}.<attribute>`;
      ctx.report(scope.file, "aggregateNeedsEvent", node.source.span, [node.fn, `profile ${displayName(profile.name)}`], {
        hints: [`a profile has one value per entity: use ${example} directly`],
      });
    } else if (isConst) {
      ctx.usedConsts.add(head.text);
      ctx.report(scope.file, "aggregateNeedsEvent", node.source.span, [node.fn, `constant ${displayName(head.text)}`], {
        hints: [`${displayName(head.text)} already holds one value per entity: use it directly`],
      });
    } else {
      ctx.report(scope.file, "unknownEvent", head.span, [displayName(head.text)], { hints: nameHints(head.text, ctx.registry.events.keys(), "the event types are") });
    }
    return undefined;
  }
  const segment = scope.segment;
  if (segment?.entityKnown && event.entity !== segment.entity) {
    ctx.report(scope.file, "entityMismatch", head.span, [displayName(segment.name), displayName(segment.entity), `event ${displayName(event.name)}`, displayName(event.entity)]);
    return undefined;
  }
  return event;
}

const EVENT_ONLY: ReadonlySet<AggregateFn> = new Set(["exists", "first_seen", "last_seen"]);

/** The result type of an aggregate, or undefined after reporting why the function does not fit. */
function resultType(ctx: CheckContext, scope: Scope, node: A.Aggregate, event: EventSchema, field: SchemaField | undefined): SegType | undefined {
  const fn = node.fn;
  const source = shownSource(node.source);
  const mismatch = (message: string, hints: string[] = []): undefined => {
    ctx.report(scope.file, "typeMismatch", node.source.span, [message], { hints });
    return undefined;
  };
  if (EVENT_ONLY.has(fn)) {
    if (field) {
      const hint = `to look at events with a value, write ${fn}(${displayName(event.name)} where ${displayName(field.name)} is not null)`;
      return mismatch(`${fn} takes an event type, not a field: ${fn}(${displayName(event.name)})`, [hint]);
    }
    return fn === "exists" ? T.boolean : segType("timestamp", true);
  }
  if (fn === "count") return T.integer;
  if (!field) {
    if (fn === "sum" || fn === "avg") {
      ctx.report(scope.file, "aggregateNeedsNumber", node.source.span, [fn, source, "an event type, not a field"], {
        hints: [`name a numeric field, e.g. ${fn}(${displayName(event.name)}.${exampleField(event, isNumeric)})`],
      });
      return undefined;
    }
    return mismatch(`${fn} needs a field: ${fn}(${displayName(event.name)}.${exampleField(event, fn === "count_distinct" ? () => true : isNumeric)})`);
  }
  const t = field.type;
  switch (fn) {
    case "count_distinct":
      return T.integer;
    case "sum":
    case "avg":
      if (!isNumeric(t)) {
        ctx.report(scope.file, "aggregateNeedsNumber", node.source.span, [fn, source, describeType(withNullable(t, false))], {
          hints: [`to count the events, write count(${displayName(event.name)}); to count different values, count_distinct(${source})`],
        });
        return undefined;
      }
      return fn === "sum" ? segType(t.kind) : segType("number", true);
    default:
      // min, max
      if (t.kind === "boolean") return mismatch(`${fn} needs a number, string or timestamp field, but ${source} is a boolean`, [`to ask whether any event has it, write exists(${displayName(event.name)} where ${displayName(field.name)})`]);
      return withNullable(t, true);
  }
}

/** A field name to show in an example: the first that fits, or `field`. */
function exampleField(event: EventSchema, fits: (t: SegType) => boolean): string {
  for (const f of event.fields.values()) if (fits(f.type) && f.name !== event.key && f.name !== event.time) return displayName(f.name);
  return "field";
}
