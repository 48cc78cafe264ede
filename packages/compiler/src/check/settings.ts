/**
 * Segment settings: texts, the entity and its key (SEG052, SEG032), and the refresh interval and
 * ttl with their defaults (SEG056).
 */
import type * as A from "@seg/dsl";
import type { Span } from "../dsl-imports.js";
import type { CheckContext } from "./context.js";
import { durationMs } from "./literal-values.js";
import { displayDuration, displayName, displayPath } from "./names.js";
import { nameHints } from "./suggest.js";

/** The project settings the checker needs. */
export interface ProjectSettings {
  /** The default entity of segments. */
  entity: string;
  /** Defaults from `seg.config.json` (missing or null: the built-in ones). */
  defaults: { refresh?: { ms: number } | null; ttl?: { ms: number } | null };
}

/** The built-in refresh interval: 1 hour. */
export const DEFAULT_REFRESH_MS = 3_600_000;

/** A segment's settings after checking. */
export interface SegmentSettings {
  title: string | null;
  description: string | null;
  owner: string | null;
  tags: string[];
  entity: string;
  /** False when the `entity` setting names no known entity (reported) or was not parsed. */
  entityKnown: boolean;
  key: string | null;
  refreshMs: number;
  ttlMs: number;
  /** False when a setting had an error. */
  ok: boolean;
}

/** Prints milliseconds as the largest whole unit: `2 hours`, `90 minutes`, `1500 ms`. */
export function formatMs(ms: number): string {
  const units: [number, string][] = [
    [604_800_000, "week"],
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1_000, "second"],
  ];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}

function first<K extends A.SegmentItem["kind"]>(decl: A.SegmentDecl, kind: K): Extract<A.SegmentItem, { kind: K }> | undefined {
  return decl.items.find((i): i is Extract<A.SegmentItem, { kind: K }> => i.kind === kind);
}

/** Checks the settings of a segment declared in `file`. */
export function checkSettings(ctx: CheckContext, file: string, decl: A.SegmentDecl, project: ProjectSettings): SegmentSettings {
  let ok = true;
  const fail = (name: Parameters<CheckContext["report"]>[1], span: Span, args: string[], hints: string[] = []): void => {
    ctx.report(file, name, span, args, { hints });
    ok = false;
  };
  const text = (kind: "Description" | "Owner"): string | null => first(decl, kind)?.value.value ?? null;

  let entity = project.entity;
  let entityKnown = ctx.entities.has(entity);
  let key: string | null = null;
  const entitySetting = first(decl, "Entity");
  if (entitySetting) {
    entity = entitySetting.entity.text;
    entityKnown = false;
    if (entity === "") ok = false;
    else if (!ctx.entities.has(entity)) fail("unknownEntity", entitySetting.entity.span, [displayName(entity)], nameHints(entity, ctx.entities, "the entities of the schemas are"));
    else entityKnown = true;
    const keyName = entitySetting.key;
    if (keyName && keyName.text !== "") {
      key = keyName.text;
      const profile = entityKnown ? ctx.registry.profiles.get(entity) : undefined;
      if (profile && !profile.fields.has(key)) {
        if (profile.unsupported.has(key)) {
          fail("schemaUnsupportedType", keyName.span, [displayPath([profile.name, key]), profile.unsupported.get(key)!]);
        } else {
          fail("unknownAttribute", keyName.span, [displayName(profile.name), displayName(key)], nameHints(key, profile.fields.keys(), `the attributes of ${displayName(profile.name)} are`));
        }
      }
    }
  } else if (!entityKnown && ctx.registry.schemas.length > 0 && decl.name.text !== "") {
    // The project's default entity has no schema: say so once per segment that relies on it.
    fail("unknownEntity", decl.name.span, [displayName(entity)], [
      `${displayName(entity)} is the project's default entity (seg.config.json), but no schema is about it; write entity <name> in the segment, or add a schema`,
    ]);
  }

  const refreshSetting = first(decl, "Refresh");
  const ttlSetting = first(decl, "Ttl");
  const refreshWritten = refreshSetting ? durationMs(refreshSetting.every) : undefined;
  const ttlWritten = ttlSetting ? durationMs(ttlSetting.duration) : undefined;
  let refreshMs = refreshWritten ?? project.defaults.refresh?.ms ?? DEFAULT_REFRESH_MS;
  if (refreshSetting && refreshWritten !== undefined && refreshWritten <= 0) {
    fail("settingOutOfRange", refreshSetting.span, ["the refresh interval must be longer than zero"], ["for example: refresh every 15 minutes"]);
    refreshMs = project.defaults.refresh?.ms ?? DEFAULT_REFRESH_MS;
  }
  const ttlMs = ttlWritten ?? project.defaults.ttl?.ms ?? 2 * refreshMs;
  const refreshText = refreshSetting && refreshWritten !== undefined ? `every ${displayDuration(refreshSetting.every)}` : `every ${formatMs(refreshMs)}`;
  if (ok && ttlMs < refreshMs) {
    if (ttlSetting && ttlWritten !== undefined) {
      const message = `ttl ${displayDuration(ttlSetting.duration)} is shorter than the refresh interval (${refreshText}): results would expire before the next refresh`;
      fail("settingOutOfRange", ttlSetting.span, [message], [`make the ttl at least ${formatMs(refreshMs)}, e.g. ttl ${formatMs(2 * refreshMs)}`]);
    } else if (refreshSetting && refreshWritten !== undefined) {
      const message = `the project's default ttl (${formatMs(ttlMs)}) is shorter than the refresh interval (${refreshText}): results would expire before the next refresh`;
      fail("settingOutOfRange", refreshSetting.span, [message], [`set a ttl in this segment, e.g. ttl ${formatMs(2 * refreshMs)}`]);
    }
  }

  return {
    title: decl.title?.value ?? null,
    description: text("Description"),
    owner: text("Owner"),
    tags: first(decl, "Tags")?.tags.map((t) => t.value) ?? [],
    entity,
    entityKnown,
    key,
    refreshMs,
    ttlMs,
    ok,
  };
}
