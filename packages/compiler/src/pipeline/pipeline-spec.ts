/**
 * The pipeline spec: the deploy unit of one segment. Built from a single-segment plan and the SQL
 * of each dialect; validated against `schemas/pipeline.schema.json`.
 */
import type { PlanIR, SegmentIR } from "../ir.js";
import { contentHash } from "../hash.js";
import { typeToString } from "../types.js";

/** The version of the spec format. */
export const PIPELINE_SPEC_VERSION = 1;

/** One source as the runtime reads it. */
export interface PipelineSource {
  name: string;
  kind: "event" | "profile";
  topic: string;
  key: string;
  time: string | null;
  sparkDdl: string;
  schemaHash: string;
  /** The longest window any aggregate on this source needs, or null for all history. */
  lookbackMs: number | null;
}

/** A segment's deploy unit. */
export interface PipelineSpec {
  specVersion: 1;
  id: string;
  version: string;
  entity: { name: string; key: string };
  metadata: { title: string | null; description: string | null; owner: string | null; tags: string[]; file: string };
  sources: PipelineSource[];
  sql: { spark: string; duckdb: string };
  parameters: ["as_of"];
  dependencies: string[];
  outputs: {
    resultsTopic: string;
    changesTopic: string;
    /**
     * Redis layout v2: the member SET, the meta HASH, and the metrics HASH (entity id → metrics
     * JSON, one field per current member). No per-entity keys.
     */
    redis: { membersKey: string; metaKey: string; metricsKey: string };
    ttlSeconds: number;
    metrics: { name: string; type: string }[];
  };
  refreshSeconds: number;
  plan: PlanIR;
}

/** Where results go, from the project's runtime settings. */
export interface OutputSettings {
  resultsTopic: string;
  changesTopic: string;
  /** Prefix of every Redis key seg writes, e.g. `seg:`. */
  redisPrefix: string;
}

/**
 * Redis keys of a segment: its member SET, its meta HASH and its metrics HASH (entity id → metrics
 * JSON). The entity type no longer appears in any key; `_entity` is accepted for older callers.
 */
export function redisKeys(prefix: string, segment: string, _entity?: string): PipelineSpec["outputs"]["redis"] {
  return {
    membersKey: `${prefix}segment:${segment}:members`,
    metaKey: `${prefix}segment:${segment}:meta`,
    metricsKey: `${prefix}segment:${segment}:metrics`,
  };
}

/**
 * Per event source, how far before `as_of` its events are needed: the longest window of its
 * aggregates, or null for all history (an unbounded aggregate, or a source of an events universe:
 * anyone who ever sent one of its events is in the universe).
 */
export function sourceLookback(plan: PlanIR): Map<string, number | null> {
  const out = new Map<string, number | null>();
  const need = (source: string, ms: number | null) => {
    const prev = out.get(source);
    if (prev === null) return;
    out.set(source, ms === null ? null : Math.max(prev ?? 0, ms));
  };
  for (const a of plan.aggregates) need(a.source, a.window.olderMs);
  if (plan.universe.kind === "events") for (const s of plan.universe.sources) need(s, null);
  return out;
}

/** Builds the spec of `plan.outputs[0]` with its version hash. */
export function buildPipelineSpec(plan: PlanIR, sql: { spark: string; duckdb: string }, outputs: OutputSettings): PipelineSpec {
  const name = plan.outputs[0];
  const segment = plan.segments.find((s): s is SegmentIR => s.name === name);
  if (name === undefined || segment === undefined || plan.outputs.length !== 1) {
    throw new Error("buildPipelineSpec needs a plan with exactly one output segment");
  }
  const lookback = sourceLookback(plan);
  const keySource = plan.sources.find((s) => s.kind === "profile") ?? plan.sources[0];
  const body: Omit<PipelineSpec, "version"> = {
    specVersion: PIPELINE_SPEC_VERSION,
    id: name,
    entity: { name: plan.entity, key: keySource?.key ?? "id" },
    metadata: {
      title: segment.title,
      description: segment.description,
      owner: segment.owner,
      tags: segment.tags,
      file: segment.file,
    },
    sources: plan.sources.map((s) => ({
      name: s.name,
      kind: s.kind,
      topic: s.topic,
      key: s.key,
      time: s.time,
      sparkDdl: s.sparkDdl,
      schemaHash: s.schemaHash,
      lookbackMs: s.kind === "profile" ? null : lookback.has(s.name) ? lookback.get(s.name)! : 0,
    })),
    sql,
    parameters: ["as_of"],
    dependencies: plan.segments.filter((s) => s.name !== name).map((s) => s.name),
    outputs: {
      resultsTopic: outputs.resultsTopic,
      changesTopic: outputs.changesTopic,
      redis: redisKeys(outputs.redisPrefix, name, plan.entity),
      ttlSeconds: segment.settings.ttlMs / 1000,
      metrics: segment.metrics.map((m) => ({ name: m.name, type: typeToString(m.expr.type) })),
    },
    refreshSeconds: segment.settings.refreshMs / 1000,
    plan,
  };
  return { ...body, version: `sha256:${contentHash(body)}` } as PipelineSpec;
}
