/**
 * PlanIR -> one SQL query for a dialect.
 *
 * Shape (CTEs in this order):
 * - `universe`: the entity ids (profile keys, or every key of an event of a universe source at or
 *   before `as_of`).
 * - `events_N`: one per event source with aggregates: a single scan computing every aggregate
 *   over that source with `AGG(...) FILTER (WHERE <window and filter>)`, restricted to
 *   `time <= as_of` (and `time > as_of - longest window` when every aggregate is bounded).
 * - `base`: one row per entity with profile attributes and aggregates, the empty defaults filled
 *   in (count 0, sum 0, exists false; others stay NULL). Normally the universe LEFT JOIN the
 *   profiles and scans. When the plan is **driven by a scan**, the rows come from that scan
 *   instead (its non-null keys) LEFT JOIN the rest, and `members` keeps those in the universe:
 *   the entities of the universe without a row in the scan are never computed. That is sound only when no output
 *   can hold for such an entity: every output is definitely false when the scan's aggregates are
 *   at their empty values, whatever the profile and the other scans say (`empty-entity.ts`; e.g.
 *   `count(...) > 5` or `sum(...) > 1000`, not `count(...) = 0` or `not exists(...)`). Among the
 *   scans that qualify, the one with the shortest longest window drives (the fewest rows).
 * - `flags_N`: membership flags, one CTE per dependency level, so `in other` reads a flag from an
 *   earlier CTE.
 * - `members` (driven plans only): the rows in the universe (a semi join), and with one output
 *   only its members: after the flag, so the engine joins members, not every event of the scan
 *   (Spark would push a semi join of the scan's keys below the scan's GROUP BY).
 * - result: long format, one row per (output segment, member): `segment`, `entity_id` (text),
 *   `metrics` (JSON object text, metrics in declaration order); ordered by segment, entity_id
 *   where the dialect has `orderedResult` (the order is not part of the result contract: every
 *   reader of Spark's rows sorts them or does not care). One `SELECT ... WHERE flag` per output
 *   joined by `UNION ALL`, or, where the dialect has `singlePassOutputs` and there are several
 *   outputs, one scan that turns each row into the (segment, metrics) pairs of the outputs it
 *   belongs to.
 */
import type { AggregateIR, PlanIR, SegmentIR, SourceIR } from "../ir.js";
import type { Dialect } from "./dialect.js";
import { outputsNeedEvents } from "./empty-entity.js";
import { ExprEmitter, windowCondition, type ExprScope } from "./emit-expr.js";
import { attrKey, planUsage, type PlanUsage } from "./plan-usage.js";
import { selectLines, setLines, withLines } from "./sql-layout.js";

/** Emitted SQL and the names of its parameters. */
export interface EmittedSql {
  sql: string;
  /** Named parameters the caller binds: `as_of` (a TIMESTAMP, or ISO-8601 text). */
  parameters: ["as_of"];
}

/** The emitted query for all of `plan.outputs`. Throws on a plan that breaks the IR contract. */
export function emitPlan(plan: PlanIR, dialect: Dialect): EmittedSql {
  return { sql: new PlanEmitter(plan, dialect).emit(), parameters: ["as_of"] };
}

/** The emitted query for one segment of `plan` (with what it depends on, and nothing else). */
export function emitSegmentSql(plan: PlanIR, segmentName: string, dialect: Dialect): EmittedSql {
  return emitPlan({ ...plan, outputs: [segmentName] }, dialect);
}

/** An event scan of the plan: its CTE, its alias in `base`, its source and aggregates. */
interface Scan {
  cte: string;
  alias: string;
  source: SourceIR;
  aggregates: AggregateIR[];
}

/**
 * The scan that may drive the query (see the file comment), or null: every output is definitely
 * false for an entity with no row in it. Among those, the one with the shortest longest window
 * (unbounded last), then the first in plan order.
 */
function drivingScan<S extends { aggregates: AggregateIR[] }>(plan: PlanIR, usage: PlanUsage, scans: readonly S[]): S | null {
  const outputs = usage.outputs.map((s) => s.name);
  const reach = (s: S): number => {
    const olders = s.aggregates.map((a) => a.window.olderMs);
    return olders.every((o): o is number => o !== null) ? Math.max(...olders) : Infinity;
  };
  const candidates = scans.filter((s) => {
    // The scan holds every aggregate of its source that the outputs need (within its longest
    // window), so all of them are empty for an entity without a row in it.
    const ids = new Set(s.aggregates.map((a) => a.id));
    return outputsNeedEvents(plan, outputs, (a) => ids.has(a.id));
  });
  let best: S | null = null;
  for (const c of candidates) if (best === null || reach(c) < reach(best)) best = c;
  return best;
}

/** The event source whose scan drives the query of `plan`, or null when the universe does. */
export function drivingSource(plan: PlanIR): string | null {
  const usage = planUsage(plan);
  const scans = plan.sources.map((source) => ({ source, aggregates: usage.aggregates.filter((a) => a.source === source.name) })).filter((s) => s.aggregates.length > 0);
  return drivingScan(plan, usage, scans)?.source.name ?? null;
}

class PlanEmitter {
  private readonly usage: PlanUsage;
  private readonly sources: Map<string, SourceIR>;
  private readonly q: (name: string) => string;
  private ctePrefix = "";

  constructor(
    private readonly plan: PlanIR,
    private readonly d: Dialect,
  ) {
    this.usage = planUsage(plan);
    this.sources = new Map(plan.sources.map((s) => [s.name, s]));
    this.q = (name) => d.quoteIdentifier(name);
    const taken = plan.sources.map((s) => s.name.toLowerCase());
    const clashes = (prefix: string) => taken.some((t) => t.startsWith(prefix) && /^(universe|base|events_\d+|flags_\d+|members)$/.test(t.slice(prefix.length)));
    while (clashes(this.ctePrefix)) this.ctePrefix = "_" + this.ctePrefix;
  }

  emit(): string {
    const scans = this.scans();
    const drive = drivingScan(this.plan, this.usage, scans);
    // A driving scan of a universe source holds only entities of the universe already.
    const u = this.plan.universe;
    const needUniverse = drive === null || u.kind === "profile" || !u.sources.includes(drive.source.name);
    const ctes: { name: string; body: string[] }[] = needUniverse ? [{ name: this.cte("universe"), body: this.universe(drive === null) }] : [];
    for (const s of scans) ctes.push({ name: s.cte, body: this.scan(s.source, s.aggregates) });
    ctes.push({ name: this.cte("base"), body: this.base(scans, drive) });
    let from = this.cte("base");
    this.usage.levels.forEach((segments, i) => {
      const name = this.cte(`flags_${i + 1}`);
      const emitter = this.valueEmitter();
      const columns = ["b.*", ...segments.map((s) => `${emitter.cond(s.predicate)} AS ${this.usage.flagColumn.get(s.name)}`)];
      ctes.push({ name, body: selectLines({ columns, from: `${from} AS b` }, 1) });
      from = name;
    });
    if (drive !== null && needUniverse && this.usage.outputs.length > 0) {
      // The rows in the universe: a semi join after the flags. With one output, after its flag
      // too, so it sees only members (as a hand-written HAVING then join would). Spelled as a
      // join, not `IN (subquery)`: Spark pushes a filter on the key below the scan's GROUP BY,
      // and would then join every event of the scan. With several outputs there is no filter (an
      // OR of every flag makes Spark's constraint propagation blow up with 50 outputs).
      const joins = [`${this.d.semiJoin} ${this.cte("universe")} AS u ON u.entity_id = b.entity_id`];
      const where = this.usage.outputs.length === 1 ? [`b.${this.usage.flagColumn.get(this.usage.outputs[0]!.name)}`] : [];
      ctes.push({ name: this.cte("members"), body: selectLines({ columns: ["b.*"], from: `${from} AS b`, joins, where }, 1) });
      from = this.cte("members");
    }
    return withLines(ctes, this.result(from)).join("\n") + "\n";
  }

  /**
   * The name of a CTE. A CTE shadows a table of the same name (engines compare names without
   * case), so when a source is called like one of ours, every CTE name gets a `_` prefix more.
   */
  private cte(name: string): string {
    return this.ctePrefix + name;
  }

  private source(name: string, kind: SourceIR["kind"]): SourceIR {
    const s = this.sources.get(name);
    if (!s) throw new RangeError(`the plan has no source ${JSON.stringify(name)}`);
    if (s.kind !== kind) throw new RangeError(`source ${JSON.stringify(name)} is not an ${kind} source`);
    return s;
  }

  private timeColumn(s: SourceIR): string {
    if (s.time === null) throw new RangeError(`event source ${JSON.stringify(s.name)} has no time field`);
    return `e.${this.q(s.time)}`;
  }

  /** The key of `source` (alias `alias`), cast to the plan's key type if it differs. */
  private key(source: SourceIR, alias: string): string {
    const sql = `${alias}.${this.q(source.key)}`;
    const field = source.fields.find((f) => f.name === source.key);
    return field && field.type.kind !== this.plan.keyType.kind ? this.d.cast(sql, this.plan.keyType) : sql;
  }

  /** The universe's ids; `distinct` false where it is only the right side of a semi join. */
  private universe(distinct: boolean): string[] {
    const u = this.plan.universe;
    if (u.kind === "profile") {
      const p = this.source(u.source, "profile");
      const key = this.key(p, "p");
      return selectLines({ distinct, columns: [`${key} AS entity_id`], from: `${this.q(p.name)} AS p`, where: [`${key} IS NOT NULL`] }, 1);
    }
    if (u.sources.length === 0) {
      return [`  SELECT ${this.d.cast("NULL", this.plan.keyType)} AS entity_id`, "  WHERE FALSE"];
    }
    const selects = u.sources.map((name) => {
      const s = this.source(name, "event");
      const key = this.key(s, "e");
      const where = [`${this.timeColumn(s)} <= ${this.d.asOf()}`, `${key} IS NOT NULL`];
      return selectLines({ columns: [`${key} AS entity_id`], from: `${this.q(s.name)} AS e`, where }, 1);
    });
    return setLines(selects, "UNION", 1);
  }

  /** Event sources with needed aggregates, in plan source order. */
  private scans(): Scan[] {
    const out: Scan[] = [];
    for (const a of this.usage.aggregates) this.source(a.source, "event");
    for (const source of this.plan.sources) {
      const aggregates = this.usage.aggregates.filter((a) => a.source === source.name);
      if (aggregates.length === 0) continue;
      const n = out.length + 1;
      out.push({ cte: this.cte(`events_${n}`), alias: `a${n}`, source, aggregates });
    }
    return out;
  }

  private scan(source: SourceIR, aggregates: AggregateIR[]): string[] {
    const d = this.d;
    const time = this.timeColumn(source);
    const olders = aggregates.map((a) => a.window.olderMs);
    const bound = olders.every((o): o is number => o !== null) ? Math.max(...olders) : null;
    const filterEmitter = new ExprEmitter(d, this.scope({ fieldAlias: "e" }));
    const columns = [`${this.key(source, "e")} AS entity_id`];
    for (const a of aggregates) {
      const parts: string[] = [];
      const window = windowCondition(d, time, a.window, { newer: a.window.newerMs === 0, older: bound !== null && a.window.olderMs === bound });
      if (window !== "") parts.push(window);
      if (a.filter !== null) parts.push(filterEmitter.cond(a.filter));
      const condition = parts.length === 0 ? null : parts.join(" AND ");
      columns.push(`${this.aggregate(a, source, condition)} AS ${this.usage.aggColumn.get(a.id)}`);
    }
    const where = [`${time} <= ${d.asOf()}`];
    if (bound !== null) where.push(`${time} > ${d.timestampMinus(d.asOf(), bound)}`);
    return selectLines({ columns, from: `${this.q(source.name)} AS e`, where, groupBy: [this.key(source, "e")] }, 1);
  }

  private aggregate(a: AggregateIR, source: SourceIR, condition: string | null): string {
    const d = this.d;
    const field = (): string => {
      if (a.field === null) throw new RangeError(`aggregate ${a.id} (${a.fn}) needs a field`);
      return `e.${this.q(a.field)}`;
    };
    switch (a.fn) {
      case "count":
        return d.filtered(a.field === null ? "COUNT(*)" : `COUNT(${field()})`, condition);
      case "count_distinct":
        return d.countDistinct(field(), condition);
      case "sum":
        return d.cast(d.filtered(`SUM(${field()})`, condition), a.type.kind === "integer" ? a.type : { kind: "number", nullable: false });
      case "avg":
        return d.filtered(`AVG(${field()})`, condition);
      case "min":
      case "max":
        return d.filtered(`${a.fn.toUpperCase()}(${field()})`, condition);
      case "first_seen":
        return d.filtered(`MIN(${this.timeColumn(source)})`, condition);
      case "last_seen":
        return d.filtered(`MAX(${this.timeColumn(source)})`, condition);
      case "exists":
        return `${d.filtered("COUNT(*)", condition)} > 0`;
      default:
        throw new RangeError(`unknown aggregate function ${String(a.fn)}`);
    }
  }

  /**
   * One row per entity: of the universe, or of the driving scan (every non-null key; those not in
   * the universe are left out after the flags, in `members`).
   */
  private base(scans: Scan[], drive: Scan | null): string[] {
    const id = drive === null ? "u.entity_id" : `${drive.alias}.entity_id`;
    const columns = [id];
    const joins: string[] = [];
    this.usage.attributes.forEach(({ source, fields }, i) => {
      const alias = `p${i + 1}`;
      for (const f of fields) columns.push(`${alias}.${this.q(f)} AS ${this.usage.attrColumn.get(attrKey(source.name, f))}`);
      joins.push(`LEFT JOIN ${this.q(source.name)} AS ${alias} ON ${this.key(source, alias)} = ${id}`);
    });
    for (const s of scans) {
      for (const a of s.aggregates) {
        const col = this.usage.aggColumn.get(a.id)!;
        const ref = `${s.alias}.${col}`;
        const value = a.fn === "exists" ? `COALESCE(${ref}, FALSE)` : a.fn === "count" || a.fn === "count_distinct" || a.fn === "sum" ? `COALESCE(${ref}, 0)` : ref;
        columns.push(`${value} AS ${col}`);
      }
      if (s !== drive) joins.push(`LEFT JOIN ${s.cte} AS ${s.alias} ON ${s.alias}.entity_id = ${id}`);
    }
    if (drive === null) return selectLines({ columns, from: `${this.cte("universe")} AS u`, joins }, 1);
    return selectLines({ columns, from: `${drive.cte} AS ${drive.alias}`, joins, where: [`${id} IS NOT NULL`] }, 1);
  }

  private result(from: string): string[] {
    const d = this.d;
    const keyText = d.cast("b.entity_id", { kind: "string", nullable: false });
    if (this.usage.outputs.length === 0) {
      const nullText = d.cast("NULL", { kind: "string", nullable: true });
      return [`SELECT ${nullText} AS segment, ${nullText} AS entity_id, ${nullText} AS metrics`, "WHERE FALSE"];
    }
    const emitter = this.valueEmitter();
    const metrics = (s: SegmentIR): string => {
      const entries = s.metrics.map((m) => {
        const kind = m.expr.type.kind;
        const value = emitter.value(m.expr);
        if (kind === "timestamp") return { key: m.name, value: d.isoTimestamp(value) };
        if (kind === "date") return { key: m.name, value: d.isoTimestamp(`CAST(${value} AS TIMESTAMP)`) };
        return { key: m.name, value: kind === "number" && emitter.mayBeNonFinite(m.expr) ? d.finiteOrNull(value) : value };
      });
      return d.jsonObject(entries);
    };
    const flag = (s: SegmentIR): string => `b.${this.usage.flagColumn.get(s.name)}`;
    const order = d.capabilities.orderedResult ? ["ORDER BY segment, entity_id"] : [];
    if (d.capabilities.singlePassOutputs && this.usage.outputs.length > 1) {
      // One row of `from` yields a (segment, metrics) pair per output it is a member of.
      const pairs = this.usage.outputs.map(
        (s, k, all) => `  CASE WHEN ${flag(s)} THEN named_struct('segment', ${d.quoteString(s.name)}, 'metrics', ${metrics(s)}) END${k < all.length - 1 ? "," : ""}`,
      );
      const select = selectLines({ columns: ["o.segment AS segment", `${keyText} AS entity_id`, "o.metrics AS metrics"], from: `${from} AS b` });
      return [...select, "LATERAL VIEW inline(array_compact(array(", ...pairs, "))) o AS segment, metrics", ...order];
    }
    const selects = this.usage.outputs.map((s) => {
      const columns = [`${d.quoteString(s.name)} AS segment`, `${keyText} AS entity_id`, `${metrics(s)} AS metrics`];
      return selectLines({ columns, from: `${from} AS b`, where: [flag(s)] });
    });
    return [...setLines(selects, "UNION ALL"), ...order];
  }

  /** Expressions over `base`/`flags_N` rows (alias `b`). */
  private valueEmitter(): ExprEmitter {
    return new ExprEmitter(this.d, this.scope({ fieldAlias: null }));
  }

  private scope(options: { fieldAlias: string | null }): ExprScope {
    const u = this.usage;
    const column = (map: Map<string, string>, key: string, what: string): string => {
      const c = map.get(key);
      if (c === undefined) throw new RangeError(`no column for ${what} ${key}`);
      return `b.${c}`;
    };
    return {
      attr: (profile, field) => column(u.attrColumn, attrKey(profile, field), "attribute"),
      agg: (id) => column(u.aggColumn, id, "aggregate"),
      segment: (name) => column(u.flagColumn, name, "segment"),
      field: (_source, field) => {
        if (options.fieldAlias === null) throw new RangeError(`event field ${JSON.stringify(field)} used outside an aggregate filter`);
        return `${options.fieldAlias}.${this.q(field)}`;
      },
      nullable: (kind, source, field) => {
        // an attribute of a profile that is not the universe may be missing for an entity
        const u = this.plan.universe;
        if (kind === "attr" && (u.kind !== "profile" || u.source !== source)) return true;
        return this.sources.get(source)?.fields.find((f) => f.name === field)?.type.nullable ?? true;
      },
      aggFn: (id) => this.plan.aggregates.find((a) => a.id === id)?.fn,
    };
  }
}
