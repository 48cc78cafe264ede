/**
 * The event and profile schemas deployed to a schema (`<schema>.schemas`, the newest version of
 * each name), as a registry ingestion validates against. The runtime needs no project folder:
 * what was deployed is what runs.
 */
import { buildSchemaRegistry, type SchemaRegistry } from "@seg/compiler";
import { quoteIdent, type SegDb } from "../db/connection.js";
import { isMissingTables } from "./active-pipelines.js";

/** A deployed schema's identity. */
export interface DeployedSchemaRef {
  name: string;
  version: number;
  hash: string;
  topic: string;
}

/** The registry of the newest deployed version of every schema, and what it was built from. */
export async function readDeployedSchemas(db: SegDb): Promise<{ registry: SchemaRegistry; refs: DeployedSchemaRef[]; problems: string[] }> {
  const registry: SchemaRegistry = { events: new Map(), profiles: new Map(), schemas: [], files: [] };
  const problems: string[] = [];
  let rows: { name: string; version: number; hash: string; kind: string; entity: string; topic: string; definition: unknown }[];
  try {
    rows = (
      await db.client.query(
        `SELECT DISTINCT ON (name) name, version, hash, kind, entity, topic, definition
           FROM ${quoteIdent(db.schema)}.schemas ORDER BY name, version DESC`,
      )
    ).rows;
  } catch (e) {
    if (isMissingTables(e)) return { registry, refs: [], problems };
    throw e;
  }
  const refs: DeployedSchemaRef[] = [];
  for (const r of rows) {
    const file = `deployed schema ${r.name} v${r.version}`;
    const built = buildSchemaRegistry([{ file, text: JSON.stringify(r.definition) }], { defaultEntity: r.entity });
    const schema = built.registry.schemas[0];
    const errors = built.diagnostics.filter((d) => d.severity === "error");
    if (schema === undefined || errors.length > 0) {
      problems.push(`${file}: ${errors.map((d) => d.message).join("; ") || "not usable"}`);
      continue;
    }
    // The topic as deployed (a default topic name depends on the deploying project's prefix).
    schema.topic = r.topic;
    registry.files.push(file);
    registry.schemas.push(schema);
    if (schema.kind === "event") registry.events.set(schema.name, schema);
    else registry.profiles.set(schema.entity, schema);
    refs.push({ name: r.name, version: r.version, hash: r.hash, topic: r.topic });
  }
  return { registry, refs, problems };
}

/** A key that changes when the deployed schemas change. */
export function schemasKey(refs: readonly DeployedSchemaRef[]): string {
  return refs.map((r) => `${r.name}@${r.hash}@${r.topic}`).join("\n");
}
