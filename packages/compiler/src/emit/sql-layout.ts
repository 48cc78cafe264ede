/**
 * Deterministic SQL layout: one clause per line, select items and conditions one per line, two
 * spaces per level. Only structure is laid out here; the text of expressions comes from the
 * dialect and the expression emitter.
 */

/** One SELECT statement in parts. */
export interface SelectParts {
  distinct?: boolean;
  columns: string[];
  from: string;
  joins?: string[];
  /** Conjuncts of the WHERE clause (joined with AND). */
  where?: string[];
  groupBy?: string[];
}

const pad = (n: number) => "  ".repeat(n);

/** Lays out a SELECT at indentation `level`. */
export function selectLines(p: SelectParts, level = 0): string[] {
  const i = pad(level);
  const out = [`${i}SELECT${p.distinct ? " DISTINCT" : ""}`];
  p.columns.forEach((c, k) => out.push(`${i}  ${c}${k < p.columns.length - 1 ? "," : ""}`));
  out.push(`${i}FROM ${p.from}`);
  for (const j of p.joins ?? []) out.push(`${i}${j}`);
  const where = p.where ?? [];
  where.forEach((w, k) => out.push(k === 0 ? `${i}WHERE ${w}` : `${i}  AND ${w}`));
  if (p.groupBy && p.groupBy.length > 0) out.push(`${i}GROUP BY ${p.groupBy.join(", ")}`);
  return out;
}

/** Several SELECTs joined by a set operator (`UNION`, `UNION ALL`). */
export function setLines(selects: string[][], operator: string, level = 0): string[] {
  const out: string[] = [];
  selects.forEach((s, k) => {
    if (k > 0) out.push(`${pad(level)}${operator}`);
    out.push(...s);
  });
  return out;
}

/** A full query: `WITH name AS (...), ... <main>`; each CTE body is laid out one level in. */
export function withLines(ctes: { name: string; body: string[] }[], main: string[]): string[] {
  if (ctes.length === 0) return main;
  const out = ["WITH"];
  ctes.forEach((c, k) => {
    out.push(`${c.name} AS (`);
    out.push(...c.body);
    out.push(k < ctes.length - 1 ? "),": ")");
  });
  out.push(...main);
  return out;
}
