/**
 * Child process of bench/engines.bench.ts: evaluates one plan with DuckDB over a data folder and
 * prints one JSON line. Runs alone (its own heap, freed on exit), so the parent can give it a
 * larger heap and one size cannot slow the next.
 *
 *   node engines-duckdb-worker.js '{"mode":"evaluatePlan"|"native","planFile":...,"dir":...,"asOf":...}'
 *
 * - evaluatePlan: `evaluatePlan` from @seg/compiler/engine (what `seg eval` runs): seg's loader
 *   (DuckDB reads and checks the file in SQL, flagged rows go through the JS checker), then the
 *   plan's DuckDB SQL.
 * - native: the same DuckDB SQL over tables created by DuckDB itself from the Parquet files
 *   (types cast, timestamps parsed; no per-record checks): what DuckDB alone costs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadPackages } from "./bench-data.js";

interface Job {
  mode: "evaluatePlan" | "native";
  planFile: string;
  dir: string;
  asOf: string;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as Job;
  const { compiler, engine } = await loadPackages();
  const plan = JSON.parse(readFileSync(job.planFile, "utf8")) as Parameters<typeof engine.evaluatePlan>[0];
  const started = performance.now();
  if (job.mode === "evaluatePlan") {
    const r = await engine.evaluatePlan(plan, { dataDir: job.dir, asOf: job.asOf });
    const wallMs = performance.now() - started;
    const errors = r.problems.filter((p) => p.severity === "error");
    const sizes = Object.fromEntries(Object.entries(r.segments).map(([k, v]) => [k, v.size]));
    out({ ok: errors.length === 0, wallMs, sizes, rowsToJs: engine.nativeLoadStats.rowsFlagged, errors: errors.slice(0, 3).map((p) => p.message), rssMb: process.resourceUsage().maxRSS / 1024 });
    return;
  }
  const duck = new compiler.DuckDbDialect();
  const session = await engine.openDuckDb();
  try {
    for (const s of plan.sources) {
      const cols = s.fields.map((f) => {
        const q = duck.quoteIdentifier(f.name);
        const type = duck.typeName(f.type);
        return f.type.kind === "timestamp" ? `CAST(CAST(${q} AS TIMESTAMPTZ) AS TIMESTAMP) AS ${q}` : `CAST(${q} AS ${type}) AS ${q}`;
      });
      const file = join(job.dir, `${s.name}.parquet`).replaceAll("'", "''");
      await session.connection.run(`CREATE TABLE ${duck.quoteIdentifier(s.name)} AS SELECT ${cols.join(", ")} FROM read_parquet('${file}')`);
    }
    const loadMs = performance.now() - started;
    const sql = compiler.emitPlan(plan, duck).sql;
    const t = performance.now();
    const rows = await engine.runSql(session.connection, sql, { as_of: engine.asOfValue(job.asOf)! });
    const queryMs = performance.now() - t;
    const sizes: Record<string, number> = Object.fromEntries(plan.outputs.map((o) => [o, 0]));
    for (const row of rows) sizes[String(row.segment)] = (sizes[String(row.segment)] ?? 0) + 1;
    out({ ok: true, wallMs: performance.now() - started, loadMs, queryMs, sizes, errors: [], rssMb: process.resourceUsage().maxRSS / 1024 });
  } finally {
    session.close();
  }
}

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

main().catch((e: unknown) => {
  out({ ok: false, errors: [e instanceof Error ? e.message : String(e)] });
  process.exitCode = 1;
});
