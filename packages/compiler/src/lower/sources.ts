/** Sources of the IR from the schema registry. */
import type { SourceIR } from "../ir.js";
import type { SchemaRegistry, SegSchema } from "../schema-registry.js";
import type { SegType } from "../types.js";

/** A deep copy of a type, so IR documents share no objects. */
export function copyType(t: SegType): SegType {
  const out: SegType = { kind: t.kind, nullable: t.nullable };
  if (t.enumValues) out.enumValues = [...t.enumValues];
  if (t.element) out.element = copyType(t.element);
  return out;
}

/** The IR description of one event or profile schema. */
export function sourceOf(schema: SegSchema): SourceIR {
  return {
    name: schema.name,
    kind: schema.kind,
    entity: schema.entity,
    key: schema.key,
    time: schema.kind === "event" ? schema.time : null,
    topic: schema.topic,
    fields: [...schema.fields.values()].map((f) => ({ name: f.name, type: copyType(f.type) })),
    sparkDdl: schema.sparkDdl,
    schemaHash: schema.hash,
  };
}

/** Every schema of the registry as a source, by name, sorted by name. */
export function sourcesOf(registry: SchemaRegistry): Map<string, SourceIR> {
  const out = new Map<string, SourceIR>();
  const sorted = [...registry.schemas].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const s of sorted) out.set(s.name, sourceOf(s));
  return out;
}
