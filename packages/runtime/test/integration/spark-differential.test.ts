/**
 * Differential test: Spark and DuckDB, both emitted from the same PlanIR, must give identical
 * members and carried metrics for
 * - at least 200 random well-typed rules (packages/compiler/test/support/well-typed-rules.ts) over
 *   random adversarial data; the seed comes from `SEG_DIFF_SEED` (else a fixed default) and is
 *   printed, and every failure message shows it with the rule text and the differing members;
 * - every example rule over the example data;
 * - every golden corpus case over random data generated from the corpus schemas;
 * - the random rules whose query is driven by an event scan (the emitter skips entities without
 *   events when no output can hold for them: `empty-entity.ts`), grouped by driving source into
 *   plans that are driven too, on both engines, against the same rules evaluated over the whole
 *   universe (the 200-output plan, which is not driven).
 *
 * Everything runs in ONE Spark driver launch: each project's sources and segments get a prefix
 * (`d_`, `e_`, `c_`) so all data sits in one folder; each statement is a plan with many outputs
 * (chunks of random rules, the example project, each corpus case).
 * Only number formatting is normalised (12 significant digits, -0 as 0: `normalizeMembers`).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan, compileProject, drivingSource, loweredSegments } from "@seg/compiler";
import { evaluatePlan } from "@seg/compiler/engine";
import type { ExprIR, PlanIR } from "../../../compiler/src/ir.js";
import { DIFF_AS_OF, DIFF_CONFIG, DIFF_SCHEMAS, entityIds, generateRows, generateRules, Rng, toJsonLines, type GeneratedRule } from "../../../compiler/test/support/well-typed-rules.js";
import { runSparkDriver, setupSpark, type SparkRunResult } from "../../src/spark/index.js";
import { compileExampleProject, EXAMPLE_AS_OF, examplesData, normalizeMembers } from "../support/spark-fixtures.js";

const DEFAULT_SEED = 20261126;
const seed = process.env.SEG_DIFF_SEED !== undefined && process.env.SEG_DIFF_SEED !== "" ? Number(process.env.SEG_DIFF_SEED) : DEFAULT_SEED;
const RULES = 200;
/**
 * Random rules per Spark statement: a plan with many outputs is one pass over the data (one
 * statement per rule costs seconds each on 2 cores). `SEG_DIFF_CHUNK=1` runs one rule per statement.
 */
const CHUNK = Math.max(1, Number(process.env.SEG_DIFF_CHUNK ?? 50));
/** Small local data: one shuffle partition per stage instead of four. */
const SPARK_CONF = { "spark.sql.shuffle.partitions": process.env.SEG_DIFF_PARTITIONS ?? "1" };
const corpusDir = fileURLToPath(new URL("../../../compiler/test/golden/corpus/", import.meta.url));

type Members = { id: string; metrics: Record<string, unknown> }[];

/** A plan whose sources and segments all carry `prefix`, so plans of several projects share one data folder. */
function prefixPlan(plan: PlanIR, sourcePrefix: string, segmentPrefix: string): PlanIR {
  const src = (n: string) => sourcePrefix + n;
  const seg = (n: string) => segmentPrefix + n;
  const expr = (e: ExprIR): ExprIR => {
    switch (e.k) {
      case "attr":
        return { ...e, profile: src(e.profile) };
      case "field":
        return { ...e, source: src(e.source) };
      case "segment":
        return { ...e, name: seg(e.name) };
      case "op":
      case "call":
        return { ...e, args: e.args.map(expr) } as ExprIR;
      case "in":
        return { ...e, arg: expr(e.arg), items: e.items.map(expr) };
      case "between":
        return { ...e, arg: expr(e.arg), low: expr(e.low), high: expr(e.high) };
      case "in_window":
        return { ...e, arg: expr(e.arg) };
      default:
        return e;
    }
  };
  return {
    ...plan,
    universe: plan.universe.kind === "profile" ? { kind: "profile", source: src(plan.universe.source) } : { kind: "events", sources: plan.universe.sources.map(src) },
    sources: plan.sources.map((s) => ({ ...s, name: src(s.name) })),
    aggregates: plan.aggregates.map((a) => ({ ...a, source: src(a.source), filter: a.filter && expr(a.filter) })),
    segments: plan.segments.map((s) => ({
      ...s,
      name: seg(s.name),
      predicate: expr(s.predicate),
      metrics: s.metrics.map((m) => ({ ...m, expr: expr(m.expr) })),
      dependencies: s.dependencies.map(seg),
    })),
    outputs: plan.outputs.map(seg),
  };
}

/** Compiles a project folder (or some of its files) into one plan of every segment that compiles. */
function compileToPlan(cwd: string, paths: string[]): { plan: PlanIR | undefined; errors: string[]; broken: string[] } {
  const compiled = compileProject({ cwd, env: {}, paths });
  const errors = compiled.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.file ?? ""}:${d.span?.start.line ?? ""}: ${d.message}`);
  if (!compiled.lowered || errors.length > 0) return { plan: undefined, errors, broken: [] };
  const { ok, broken } = loweredSegments(compiled);
  return { plan: ok.length > 0 ? (buildPlan(compiled.lowered, ok) as PlanIR) : undefined, errors, broken: broken.map((b) => String(typeof b === "string" ? b : JSON.stringify(b))) };
}

interface Case {
  /** Output segment name (prefixed). */
  name: string;
  plan: PlanIR;
  /** What to show on a mismatch. */
  text: string;
}

describe(`Spark and DuckDB agree on random rules, the examples and the corpus (SEG_DIFF_SEED=${seed})`, () => {
  let work: string;
  let data: string;
  let rules: GeneratedRule[] = [];
  let generatedErrors: string[] = [];
  const cases: Record<"random" | "examples" | "corpus" | "driven", Case[]> = { random: [], examples: [], corpus: [], driven: [] };
  let wholeDriven: string | null = "not computed";
  const duck: Record<string, Members> = {};
  const duckProblems: string[] = [];
  /** Each project's (or corpus case's) plan with all its outputs, for DuckDB. */
  const fullPlans: PlanIR[] = [];
  let spark: SparkRunResult;

  beforeAll(async () => {
    console.log(`spark-differential: SEG_DIFF_SEED=${seed} (${RULES} random rules)`);
    await setupSpark();
    const t0 = Date.now();
    work = mkdtempSync(join(tmpdir(), "seg-spark-diff-"));
    data = join(work, "data");
    mkdirSync(data);
    const rng = new Rng(seed);

    // 1. the random project
    const project = join(work, "diff");
    mkdirSync(join(project, "schemas"), { recursive: true });
    mkdirSync(join(project, "rules"));
    writeFileSync(join(project, "seg.config.json"), JSON.stringify(DIFF_CONFIG));
    const ids = entityIds(40);
    for (const [file, schema] of Object.entries(DIFF_SCHEMAS)) {
      writeFileSync(join(project, "schemas", file), JSON.stringify(schema, null, 2));
      const name = (schema["x-seg"] as { name: string }).name;
      writeFileSync(join(data, `d_${name}.jsonl`), toJsonLines(generateRows(rng, schema, ids)));
    }
    rules = generateRules(rng, RULES);
    writeFileSync(join(project, "rules", "generated.seg"), rules.map((r) => r.text).join("\n"));
    const random = compileToPlan(project, [join(project, "rules")]);
    generatedErrors = random.errors;
    const ruleText = new Map(rules.map((r) => [r.name, r.text]));
    if (random.plan) {
      const plan = prefixPlan(random.plan, "d_", "d_");
      fullPlans.push(plan);
      for (let i = 0; i < plan.outputs.length; i += CHUNK) {
        const chunk: PlanIR = { ...plan, outputs: plan.outputs.slice(i, i + CHUNK) };
        for (const name of chunk.outputs) cases.random.push({ name, plan: chunk, text: ruleText.get(name.slice(2)) ?? name });
      }
      // the driven ones: the same rules as `r_...`, grouped by the source that drives each alone
      wholeDriven = drivingSource(plan);
      const driven = prefixPlan(random.plan, "d_", "r_");
      const bySource = new Map<string, string[]>();
      for (const name of driven.outputs) {
        const source = drivingSource({ ...driven, outputs: [name] });
        if (source !== null) bySource.set(source, [...(bySource.get(source) ?? []), name]);
      }
      for (const names of bySource.values()) {
        for (let i = 0; i < names.length; i += CHUNK) {
          const chunk: PlanIR = { ...driven, outputs: names.slice(i, i + CHUNK) };
          fullPlans.push(chunk);
          for (const name of chunk.outputs) cases.driven.push({ name, plan: chunk, text: ruleText.get(name.slice(2)) ?? name });
        }
      }
    }

    // 2. the example project over the example data
    const example = compileExampleProject();
    const examplePlan = prefixPlan(example.plan as PlanIR, "e_", "e_");
    fullPlans.push(examplePlan);
    for (const file of readdirSync(examplesData).filter((f) => f.endsWith(".jsonl"))) writeFileSync(join(data, `e_${file}`), readFileSync(join(examplesData, file)));
    cases.examples = examplePlan.outputs.map((name) => ({ name, plan: examplePlan, text: `example segment ${name.slice(2)}` }));

    // 3. every golden corpus case over random data from the corpus schemas
    for (const file of readdirSync(join(corpusDir, "schemas"))) {
      const schema = JSON.parse(readFileSync(join(corpusDir, "schemas", file), "utf8")) as Record<string, unknown>;
      const name = (schema["x-seg"] as { name: string }).name;
      writeFileSync(join(data, `c_${name}.jsonl`), toJsonLines(generateRows(rng, schema, ids.map((_, i) => `c${String(i).padStart(3, "0")}`))));
    }
    for (const file of readdirSync(join(corpusDir, "cases")).filter((f) => f.endsWith(".seg")).sort()) {
      const base = file.replace(/\.seg$/, "");
      const compiled = compileToPlan(corpusDir, [join("cases", file)]);
      if (!compiled.plan) continue; // cases that are about diagnostics
      const plan = prefixPlan(compiled.plan, "c_", `c_${base}__`);
      fullPlans.push(plan);
      const text = readFileSync(join(corpusDir, "cases", file), "utf8");
      for (const name of plan.outputs) cases.corpus.push({ name, plan, text: `corpus case ${file}, segment ${name}:\n${text}` });
    }

    console.log(`spark-differential: generated and compiled in ${Date.now() - t0} ms`);
    // DuckDB: one evaluation per project plan
    for (const plan of fullPlans) {
      const r = await evaluatePlan(plan, { dataDir: data, asOf: DIFF_AS_OF });
      duckProblems.push(...r.problems.filter((p) => p.severity === "error").map((p) => JSON.stringify(p)));
      for (const [name, s] of Object.entries(r.segments)) duck[name] = s.members as Members;
    }

    console.log(`spark-differential: DuckDB done after ${Date.now() - t0} ms`);
    // Spark: every plan (a chunk of random rules, the examples, each corpus case) as one statement, all in one launch
    const plans = [...new Set([...cases.random, ...cases.examples, ...cases.corpus, ...cases.driven].map((c) => c.plan))];
    spark = await runSparkDriver({ plans: plans.map((plan, i) => ({ plan, id: `plan_${i}` })), asOf: DIFF_AS_OF, input: `files:${data}`, conf: SPARK_CONF, timeoutMs: 900_000 });
    const ms = Object.values(spark.summary.segments ?? {}).map((x) => x.ms).sort((x, y) => x - y);
    console.log(`spark-differential: Spark done after ${Date.now() - t0} ms (${plans.length} statements, median ${ms[ms.length >> 1]} ms, max ${ms[ms.length - 1]} ms; driver ${JSON.stringify(spark.summary.timings)})`);
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("generates rules that seg check accepts", () => {
    expect(EXAMPLE_AS_OF).toBe(DIFF_AS_OF);
    expect(generatedErrors, `seed ${seed}: the generator wrote rules with errors`).toEqual([]);
    expect(cases.random.length).toBeGreaterThanOrEqual(200);
  });

  it("loads the same rows on both engines", () => {
    expect(duckProblems).toEqual([]);
    expect(Object.values(spark.malformed).reduce((a, b) => a + b, 0), JSON.stringify(spark.malformed)).toBe(0);
  });

  const compare = (list: () => Case[], label: string) => () => {
    const mismatches: string[] = [];
    for (const c of list()) {
      const s = normalizeMembers((spark.segments[c.name]?.members ?? []) as Members);
      const d = normalizeMembers(duck[c.name] ?? []);
      if (spark.segments[c.name] === undefined || duck[c.name] === undefined) {
        mismatches.push(`${c.name}: missing on ${spark.segments[c.name] === undefined ? "Spark" : "DuckDB"}\n${c.text}`);
        continue;
      }
      if (JSON.stringify(s) === JSON.stringify(d)) continue;
      const byId = (m: Members) => new Map(m.map((x) => [x.id, JSON.stringify(x.metrics)]));
      const [sm, dm] = [byId(s), byId(d)];
      const diff = [...new Set([...sm.keys(), ...dm.keys()])]
        .filter((id) => sm.get(id) !== dm.get(id))
        .slice(0, 8)
        .map((id) => `    ${JSON.stringify(id)}: spark ${sm.get(id) ?? "(not a member)"} | duckdb ${dm.get(id) ?? "(not a member)"}`);
      mismatches.push(`${c.name} (${s.length} members on Spark, ${d.length} on DuckDB):\n${c.text}\n${diff.join("\n")}`);
    }
    expect(mismatches.length, `SEG_DIFF_SEED=${seed}: ${label}: ${mismatches.length} segments differ\n\n${mismatches.slice(0, 6).join("\n\n")}`).toBe(0);
  };

  it("random rules: identical members and metrics", compare(() => cases.random, "random rules"));
  it("example rules: identical members and metrics", compare(() => cases.examples, "example rules"));
  it("golden corpus cases: identical members and metrics", compare(() => cases.corpus, "corpus cases"));
  it("driven random rules: Spark and DuckDB give the members and metrics of the whole universe", () => {
    // the reference, the plan of all 200 rules, keeps the whole universe
    expect(wholeDriven).toBeNull();
    expect(cases.driven.length, "rules whose query is driven by a scan").toBeGreaterThanOrEqual(RULES / 10);
    for (const plan of new Set(cases.driven.map((c) => c.plan))) expect(drivingSource(plan), plan.outputs.join(", ")).not.toBeNull();
    const mismatches: string[] = [];
    for (const c of cases.driven) {
      const whole = JSON.stringify(normalizeMembers(duck[`d_${c.name.slice(2)}`] ?? []));
      const onSpark = JSON.stringify(normalizeMembers((spark.segments[c.name]?.members ?? []) as Members));
      const onDuck = JSON.stringify(normalizeMembers(duck[c.name] ?? []));
      if (spark.segments[c.name] === undefined || duck[c.name] === undefined) mismatches.push(`${c.name}: missing\n${c.text}`);
      else if (onSpark !== whole || onDuck !== whole) mismatches.push(`${c.name}:\n${c.text}\n  whole universe ${whole}\n  driven, Spark  ${onSpark}\n  driven, DuckDB ${onDuck}`);
    }
    expect(mismatches.length, `SEG_DIFF_SEED=${seed}: driven rules differ\n\n${mismatches.slice(0, 6).join("\n\n")}`).toBe(0);
  });

  it("compares non-trivial results", () => {
    // the comparison is only worth something when rules select some, but not all, entities
    const sizes = cases.random.map((c) => duck[c.name]?.length ?? 0);
    expect(sizes.filter((n) => n > 0 && n < 40).length).toBeGreaterThan(RULES / 5);
  });
});
