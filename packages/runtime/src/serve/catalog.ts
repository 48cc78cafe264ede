/**
 * The segments the server serves: the ACTIVE pipelines of the deploy store with the parts of their
 * spec serving needs (Redis keys, entity, metadata). Held in memory, reloaded when a deploy or a
 * rollback notifies (`<schema>_pipelines`) and every `refreshMs`. Only segments in the catalog are
 * served: a retired segment's leftover Redis keys are never read, and Redis keys are never built
 * from request input. The names of retired segments are held too: their members' exits, announced
 * when the runtime deletes their keys, still reach the change stream's clients.
 */
import { EventEmitter } from "node:events";
import type { SegmentHeader } from "@seg/compiler";
import { quoteIdent } from "../db/connection.js";
import { NotifyReloader } from "../db/notify-reloader.js";
import type { Queryable } from "../auth/tokens.js";

/** One served segment. */
export interface CatalogSegment extends SegmentHeader {
  version: string;
  deployedAt: Date;
  redis: { membersKey: string; metaKey: string; metricsKey: string };
  metrics: { name: string; type: string }[];
  refreshSeconds: number;
  ttlSeconds: number;
}

interface Row {
  segment: string;
  status: "active" | "retired";
  version: string;
  updated_at: Date;
  metadata: { title?: string | null; description?: string | null; owner?: string | null; tags?: string[] } | null;
  entity: string | null;
  redis: { membersKey?: unknown; metaKey?: unknown; metricsKey?: unknown } | null;
  metrics: { name: string; type: string }[] | null;
  refresh_seconds: number | null;
  ttl_seconds: number | null;
}

/** Active segments, in memory. Emits `reload` after each successful reload. */
export class SegmentCatalog extends EventEmitter {
  private bySegment = new Map<string, CatalogSegment>();
  private retiredNames = new Set<string>();
  private byEntity = new Map<string, CatalogSegment[]>();
  private readonly reloader: NotifyReloader;

  constructor(
    private readonly q: Queryable,
    private readonly schema: string,
    options: { refreshMs?: number; onError?: (e: unknown) => void } = {},
  ) {
    super();
    this.reloader = new NotifyReloader(
      async () => {
        const { active, retired } = await this.read();
        this.set(active, retired);
        this.emit("reload");
      },
      { refreshMs: options.refreshMs ?? 30_000, ...(options.onError ? { onError: options.onError } : {}) },
    );
  }

  /** Loads the catalog, then keeps reloading it every `refreshMs`. */
  async start(): Promise<void> {
    await this.reloader.start();
  }

  stop(): void {
    this.reloader.stop();
  }

  /** Reloads now (on a deploy's NOTIFY; concurrent calls share a load, a call during a load causes one more). */
  async reload(): Promise<void> {
    await this.reloader.reload();
  }

  private async read(): Promise<{ active: CatalogSegment[]; retired: string[] }> {
    const s = quoteIdent(this.schema);
    const r = await this.q.query<Row>(
      `SELECT p.segment, p.status, p.current_version AS version, p.updated_at,
              v.spec -> 'metadata' AS metadata, v.spec -> 'entity' ->> 'name' AS entity,
              v.spec -> 'outputs' -> 'redis' AS redis, v.spec -> 'outputs' -> 'metrics' AS metrics,
              (v.spec ->> 'refreshSeconds')::float8 AS refresh_seconds, (v.spec -> 'outputs' ->> 'ttlSeconds')::float8 AS ttl_seconds
         FROM ${s}.pipelines p
         JOIN ${s}.pipeline_versions v ON v.segment = p.segment AND v.version = p.current_version
        WHERE p.status IN ('active', 'retired')
        ORDER BY p.segment`,
    );
    const out: CatalogSegment[] = [];
    const retired: string[] = [];
    for (const row of r.rows) {
      if (row.status === "retired") {
        retired.push(row.segment);
        continue;
      }
      const redis = row.redis;
      // A spec without its Redis keys cannot be served (the deploy store validates specs, so this
      // is defensive). A spec stored by an older seg (per-entity hashes: `entityKeyPrefix`, no
      // `metricsKey`) is skipped too, until a deploy of this version replaces it.
      const key = (v: unknown): v is string => typeof v === "string" && v !== "";
      if (!key(redis?.membersKey) || !key(redis.metaKey) || !key(redis.metricsKey) || !row.entity) continue;
      out.push({
        name: row.segment,
        title: row.metadata?.title ?? null,
        description: row.metadata?.description ?? null,
        owner: row.metadata?.owner ?? null,
        tags: row.metadata?.tags ?? [],
        entity: row.entity,
        version: row.version,
        deployedAt: row.updated_at,
        redis: { membersKey: redis.membersKey, metaKey: redis.metaKey, metricsKey: redis.metricsKey },
        metrics: row.metrics ?? [],
        refreshSeconds: row.refresh_seconds ?? 0,
        ttlSeconds: row.ttl_seconds ?? 0,
      });
    }
    return { active: out, retired };
  }

  /** Replaces the catalog: the active segments and the names of the retired ones (tests; `reload` uses it). */
  set(segments: readonly CatalogSegment[], retired: readonly string[] = []): void {
    this.bySegment = new Map(segments.map((s) => [s.name, s]));
    this.retiredNames = new Set(retired);
    const byEntity = new Map<string, CatalogSegment[]>();
    for (const s of segments) {
      const list = byEntity.get(s.entity) ?? [];
      list.push(s);
      byEntity.set(s.entity, list);
    }
    this.byEntity = byEntity;
  }

  /** An active segment by name. */
  get(name: string): CatalogSegment | undefined {
    return this.bySegment.get(name);
  }

  /** True when `name` was deployed once and is retired now (not active again). */
  isRetired(name: string): boolean {
    return this.retiredNames.has(name);
  }

  /** The names of the retired segments, sorted. */
  retired(): string[] {
    return [...this.retiredNames].sort();
  }

  /** Every active segment, by name. */
  list(): CatalogSegment[] {
    return [...this.bySegment.values()];
  }

  /** Active segments grouped by entity type (name → its segments). */
  entityGroups(): ReadonlyMap<string, CatalogSegment[]> {
    return this.byEntity;
  }
}
