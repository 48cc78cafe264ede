/**
 * Retention check: a source topic must keep events at least as long as the longest window a
 * segment reads from it, or the segment silently undercounts.
 */
import type { Admin, ConfigResourceTypes } from "kafkajs";
import type { PipelineSpec } from "@seg/compiler";

/** The part of a kafkajs admin client the check uses. */
export type RetentionAdmin = Pick<Admin, "listTopics" | "describeConfigs">;

/** A topic that forgets events sooner than a segment needs them. */
export interface RetentionWarning {
  topic: string;
  /** The topic's `retention.ms`. */
  retentionMs: number;
  /** The longest lookback any segment needs on this topic (null: all history). */
  neededMs: number | null;
  /** Segments that need more than the topic keeps. */
  segments: string[];
  message: string;
}

/** The result of {@link checkRetention}. */
export interface RetentionReport {
  warnings: RetentionWarning[];
  /** Things worth saying that are not problems (e.g. a topic that does not exist yet). */
  notes: string[];
  /** Topics checked. */
  checked: string[];
}

const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** `30 days`, `36 hours`, `90 minutes`, `1500 ms`. */
export function formatMs(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1_000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms / size === 1 ? "" : "s"}`;
  }
  for (const [size, name] of units) {
    if (ms >= size) return `${(ms / size).toFixed(1)} ${name}s`;
  }
  return `${ms} ms`;
}

interface Need {
  /** Null: all history. */
  ms: number | null;
  bySegment: Map<string, number | null>;
}

/** Per event topic, the longest lookback the specs need. Profile topics (latest value per key) are skipped. */
export function retentionNeeds(specs: readonly PipelineSpec[]): Map<string, Need> {
  const needs = new Map<string, Need>();
  for (const spec of specs) {
    for (const source of spec.sources) {
      if (source.kind !== "event") continue;
      const need = needs.get(source.topic) ?? { ms: 0, bySegment: new Map() };
      const prev = need.bySegment.get(spec.id);
      const mine = prev === null || source.lookbackMs === null ? null : Math.max(prev ?? 0, source.lookbackMs);
      need.bySegment.set(spec.id, mine);
      need.ms = need.ms === null || mine === null ? null : Math.max(need.ms, mine);
      needs.set(source.topic, need);
    }
  }
  return needs;
}

/**
 * Compares each source topic's `retention.ms` with the longest window the specs need on it.
 * A missing topic is a note, not a warning. Needs a connected admin client.
 */
export async function checkRetention(admin: RetentionAdmin, specs: readonly PipelineSpec[]): Promise<RetentionReport> {
  const report: RetentionReport = { warnings: [], notes: [], checked: [] };
  const needs = retentionNeeds(specs);
  if (needs.size === 0) return report;
  const existing = new Set(await admin.listTopics());
  const topics = [...needs.keys()].sort();
  for (const t of topics.filter((t) => !existing.has(t))) {
    const segs = [...needs.get(t)!.bySegment.keys()].sort();
    report.notes.push(`topic ${t} does not exist yet (read by ${segs.join(", ")}); retention not checked`);
  }
  const present = topics.filter((t) => existing.has(t));
  if (present.length === 0) return report;
  const described = await admin.describeConfigs({
    resources: present.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ["retention.ms"] })),
    includeSynonyms: false,
  });
  for (const r of described.resources) {
    const topic = r.resourceName;
    const need = needs.get(topic);
    if (!need) continue;
    if (r.errorCode !== 0) {
      report.notes.push(`topic ${topic}: retention not checked (${r.errorMessage || `error code ${r.errorCode}`})`);
      continue;
    }
    report.checked.push(topic);
    const value = r.configEntries.find((c) => c.configName === "retention.ms")?.configValue;
    const retentionMs = value === undefined || value === null ? NaN : Number(value);
    if (!Number.isFinite(retentionMs)) {
      report.notes.push(`topic ${topic}: retention.ms is not readable (${String(value)})`);
      continue;
    }
    if (retentionMs < 0) continue; // -1: kept forever
    const short = [...need.bySegment.entries()].filter(([, ms]) => ms === null || ms > retentionMs).map(([s]) => s).sort();
    if (short.length === 0) continue;
    const needed = need.ms === null ? "all history" : formatMs(need.ms);
    report.warnings.push({
      topic,
      retentionMs,
      neededMs: need.ms,
      segments: short,
      message: `topic ${topic} keeps events for ${formatMs(retentionMs)} (retention.ms=${retentionMs}) but ${short.join(", ")} ${short.length === 1 ? "needs" : "need"} ${needed}; results will undercount`,
    });
  }
  report.checked.sort();
  return report;
}
