/**
 * Name resolution: dotted paths (`customer.country`, `purchase.amount`, a constant, a field in a
 * filter) and segment references (`in high_value`).
 *
 * - `PROFILE.attr`: PROFILE is an entity that has a profile, or a profile's `x-seg` name.
 * - `EVENT.field`: only inside the filter of an aggregate over EVENT (SEG039 elsewhere).
 * - a bare name: inside a filter, a field of the filtered event first; then a constant.
 */
import type * as A from "@seg/dsl";
import type { Span } from "../dsl-imports.js";
import type { EventSchema, ProfileSchema, SegSchema } from "../schema-registry.js";
import { T } from "../types.js";
import type { CheckContext, Scope } from "./context.js";
import { displayName, displayPath } from "./names.js";
import type { TExpr } from "./program.js";
import { closest, didYouMean, nameHints } from "./suggest.js";
import { errorNode } from "./typed.js";

/** Resolves and types a path. */
export function checkPath(ctx: CheckContext, scope: Scope, path: A.Path): TExpr {
  const parts = path.parts;
  // Parser recovery (an empty path or an empty name) was reported already.
  if (parts.length === 0 || parts.some((p) => p.text === "")) return errorNode(path.span);
  if (parts.length === 1) return checkBareName(ctx, scope, parts[0]!, path.span);
  const head = parts[0]!;
  const filter = scope.filter;
  if (filter && head.text === filter.name) return fieldOf(ctx, scope, filter, parts, path.span);
  const profile = ctx.profile(head.text);
  if (profile) return attributeOf(ctx, scope, profile, parts, path.span);
  const event = ctx.event(head.text);
  if (event) return eventFieldOutside(ctx, scope, event, parts, path.span);
  if (ctx.constNames.has(head.text)) {
    ctx.usedConsts.add(head.text);
    ctx.report(scope.file, "unknownName", path.span, [displayPath(parts.map((p) => p.text))], {
      hints: [`${displayName(head.text)} is a constant; constants have no fields`],
    });
    return errorNode(path.span);
  }
  const hints = didYouMean(head.text, [...ctx.pathHeads(), ...ctx.constNames]);
  if (hints.length === 0) hints.push(`a path starts with a profile (for attributes) or, inside a filter, the event type; profiles: ${[...ctx.registry.profiles.values()].map((p) => displayName(p.name)).join(", ") || "none"}`);
  ctx.report(scope.file, "unknownName", head.span, [displayName(head.text)], { hints });
  return errorNode(path.span);
}

function checkBareName(ctx: CheckContext, scope: Scope, name: A.Name, span: Span): TExpr {
  const filter = scope.filter;
  if (filter) {
    const field = filter.fields.get(name.text);
    if (field) return { k: "field", source: filter.name, field: field.name, type: field.type, span };
    if (filter.unsupported.has(name.text)) return unsupported(ctx, scope, filter, name.text, span);
  }
  if (ctx.constNames.has(name.text)) return useConst(ctx, scope, name.text, span);
  const candidates = [...ctx.constNames, ...(filter ? filter.fields.keys() : [])];
  const suggestion = closest(name.text, candidates);
  // A misspelt use of a constant is one mistake: don't also call the constant unused.
  if (suggestion !== undefined && ctx.constNames.has(suggestion)) ctx.usedConsts.add(suggestion);
  const hints = didYouMean(name.text, candidates);
  if (hints.length === 0) {
    if (ctx.event(name.text)) hints.push(`${displayName(name.text)} is an event type: aggregate it, e.g. count(${displayName(name.text)})`);
    else if (ctx.profile(name.text)) hints.push(`read an attribute of the profile: ${displayName(name.text)}.<attribute>`);
    else if (ctx.segments.has(name.text)) hints.push(`${displayName(name.text)} is a segment: write in ${displayName(name.text)}`);
    else if (filter) hints.push(`a bare name in this filter is a field of ${displayName(filter.name)} or a constant`);
    else hints.push("a bare name must be a constant, declared with const NAME = ...");
  }
  ctx.report(scope.file, "unknownName", span, [displayName(name.text)], { hints });
  return errorNode(span);
}

/** SEG073: a field the schema declares with a type seg cannot use. */
function unsupported(ctx: CheckContext, scope: Scope, schema: SegSchema, field: string, span: Span): TExpr {
  ctx.report(scope.file, "schemaUnsupportedType", span, [displayPath([schema.name, field]), schema.unsupported.get(field) ?? "unknown type"], {
    hints: [`see the property ${JSON.stringify(field)} in ${schema.file}`],
  });
  return errorNode(span);
}

/** The name of a path's parts after the first (`a.b` for `x.a.b`). */
const tailName = (parts: readonly A.Name[]): string => parts.slice(1).map((p) => p.text).join(".");
const tailSpan = (parts: readonly A.Name[]): Span => ({ start: parts[1]!.span.start, end: parts[parts.length - 1]!.span.end });

/** `EVENT.field` inside the filter of an aggregate over EVENT. */
function fieldOf(ctx: CheckContext, scope: Scope, event: EventSchema, parts: readonly A.Name[], span: Span): TExpr {
  const name = tailName(parts);
  const field = parts.length === 2 ? event.fields.get(name) : undefined;
  if (field) return { k: "field", source: event.name, field: field.name, type: field.type, span };
  if (parts.length === 2 && event.unsupported.has(name)) return unsupported(ctx, scope, event, name, tailSpan(parts));
  ctx.report(scope.file, "unknownField", tailSpan(parts), [displayName(event.name), displayName(name)], {
    hints: nameHints(name, event.fields.keys(), `the fields of ${displayName(event.name)} are`),
  });
  return errorNode(span);
}

/** `PROFILE.attribute`. */
function attributeOf(ctx: CheckContext, scope: Scope, profile: ProfileSchema, parts: readonly A.Name[], span: Span): TExpr {
  const name = tailName(parts);
  const field = parts.length === 2 ? profile.fields.get(name) : undefined;
  if (!field) {
    if (parts.length === 2 && profile.unsupported.has(name)) return unsupported(ctx, scope, profile, name, tailSpan(parts));
    ctx.report(scope.file, "unknownAttribute", tailSpan(parts), [displayName(profile.name), displayName(name)], {
      hints: nameHints(name, profile.fields.keys(), `the attributes of ${displayName(profile.name)} are`),
    });
    return errorNode(span);
  }
  const segment = scope.segment;
  if (segment?.entityKnown && profile.entity !== segment.entity) {
    ctx.report(scope.file, "entityMismatch", parts[0]!.span, [displayName(segment.name), displayName(segment.entity), `profile ${displayName(profile.name)}`, displayName(profile.entity)]);
    return errorNode(span);
  }
  if (scope.filter) {
    ctx.report(scope.file, "filterNotPerEvent", span, [displayPath([profile.name, field.name])], {
      hints: [`compare outside the aggregate instead, or filter on a field of ${displayName(scope.filter.name)}`],
    });
    return errorNode(span);
  }
  return { k: "attr", profile: profile.name, field: field.name, type: field.type, span };
}

/** `EVENT.field` outside an aggregate over EVENT: SEG039 (or SEG031 when the field is unknown). */
function eventFieldOutside(ctx: CheckContext, scope: Scope, event: EventSchema, parts: readonly A.Name[], span: Span): TExpr {
  const name = tailName(parts);
  const known = parts.length === 2 && (event.fields.has(name) || event.unsupported.has(name));
  if (!known) {
    ctx.report(scope.file, "unknownField", tailSpan(parts), [displayName(event.name), displayName(name)], {
      hints: nameHints(name, event.fields.keys(), `the fields of ${displayName(event.name)} are`),
    });
    return errorNode(span);
  }
  const shown = displayPath([event.name, name]);
  const hints = scope.filter
    ? [`this filter is over ${displayName(scope.filter.name)} events; only their fields can be used in it`]
    : [`say which value you mean, e.g. max(${shown}), or exists(${displayName(event.name)} where ${displayName(name)} ...)`];
  ctx.report(scope.file, "eventFieldOutsideAggregate", span, [shown], { hints });
  return errorNode(span);
}

/** A use of constant `name`: its type, or SEG049/SEG057/SEG051 when it cannot be used here. */
export function useConst(ctx: CheckContext, scope: Scope, name: string, span: Span): TExpr {
  ctx.usedConsts.add(name);
  const owner = ctx.constStack[ctx.constStack.length - 1];
  if (owner !== undefined && scope.segment === null) ctx.constEdges.get(owner)?.push({ to: name, span });
  const c = ctx.constant(name);
  // A constant being checked right now is in a cycle: reported once, by the cycle check.
  if (c === undefined || c === "cycle") return { k: "const", name, type: T.error, span };
  if (c.type.kind !== "error") {
    if (scope.filter && c.hasAggregate) {
      ctx.report(scope.file, "nestedAggregate", span, [], { hints: [`constant ${displayName(name)} contains an aggregate, so it cannot be used in a filter`] });
      return errorNode(span);
    }
    if (scope.filter && (c.usesAttribute || c.segments.length > 0)) {
      ctx.report(scope.file, "filterNotPerEvent", span, [`constant ${displayName(name)}`], {
        hints: [`it reads ${c.usesAttribute ? "a profile attribute" : "a segment"}, which is not a value of each event`],
      });
      return errorNode(span);
    }
    const segment = scope.segment;
    const other = segment?.entityKnown ? c.entities.find((e) => e !== segment.entity) : undefined;
    if (segment && other !== undefined) {
      ctx.report(scope.file, "entityMismatch", span, [displayName(segment.name), displayName(segment.entity), `constant ${displayName(name)}`, displayName(other)]);
      return errorNode(span);
    }
  }
  return { k: "const", name, type: c.type, span };
}

/** `in NAME`: membership in another segment. */
export function checkSegmentRef(ctx: CheckContext, scope: Scope, ref: A.SegmentRef): TExpr {
  const name = ref.name.text;
  if (name === "") return errorNode(ref.span);
  const info = ctx.segments.get(name);
  if (!info) {
    ctx.report(scope.file, "unknownSegment", ref.name.span, [displayName(name)], { hints: nameHints(name, ctx.segments.keys(), "the segments are") });
    return errorNode(ref.span);
  }
  if (scope.filter) {
    ctx.report(scope.file, "filterNotPerEvent", ref.span, [`in ${displayName(name)}`], { hints: ["test the segment outside the aggregate instead"] });
    return errorNode(ref.span);
  }
  const segment = scope.segment;
  if (segment?.entityKnown && info.entity !== null && info.entity !== segment.entity) {
    ctx.report(scope.file, "entityMismatch", ref.name.span, [displayName(segment.name), displayName(segment.entity), `segment ${displayName(name)}`, displayName(info.entity)]);
    return errorNode(ref.span);
  }
  return { k: "segment", name, type: T.boolean, span: ref.span };
}
