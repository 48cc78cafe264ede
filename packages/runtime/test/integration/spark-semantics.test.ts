/**
 * Spark and DuckDB must agree on the meaning of every IR construct. The plans and rows are the
 * compiler's engine fixture (packages/compiler/test/unit/engine-fixture.ts, emit-builder.ts) and
 * the shared cases and metrics (packages/compiler/test/support/semantics-cases.ts and
 * semantics-metrics.ts), whose hand-computed members and values the compiler's unit tests check on
 * DuckDB; here the same plans run on Spark (each segment as its own statement, all in one driver
 * launch) and must give those members, and the same members and metrics as DuckDB.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sparkDdl } from "@seg/compiler";
import { evaluatePlan, type EvaluationResult } from "@seg/compiler/engine";
import type { ExprIR, PlanIR, SegmentIR, SourceIR } from "../../../compiler/src/ir.js";
import * as B from "../../../compiler/test/unit/emit-builder.js";
import { AS_OF, customer, customers, pageView, pageViews, purchase, purchases, toJsonl } from "../../../compiler/test/unit/engine-fixture.js";
import { aggregates, avg30, cases, count30, existsEver, pvCount } from "../../../compiler/test/support/semantics-cases.js";
import { semanticsMetrics } from "../../../compiler/test/support/semantics-metrics.js";
import { runSparkDriver, setupSpark, type SparkRunResult } from "../../src/spark/index.js";
import { normalizeMembers } from "../support/spark-fixtures.js";

const { DAY, aggregate: agg, aggRef: a, attr, str, int, num, tsLit, dur } = B;
const C = (f: string, t: string) => attr("customer", f, t);
const withDdl = (s: SourceIR): SourceIR => ({ ...s, sparkDdl: sparkDdl(s.fields) });

/** The shared cases: one predicate per construct, with hand-computed members (also checked on DuckDB by the compiler's engine-semantics test). */
const predicates: Record<string, ExprIR> = Object.fromEntries(Object.entries(cases).map(([name, [predicate]]) => [name, predicate]));

/** The shared metrics (also checked on DuckDB by hand), and three more checked against DuckDB here. */
const metrics = [
  ...semanticsMetrics,
  B.metric("email", C("email", "string?")),
  B.metric("rounded", B.call("round", [a(avg30), int(1)], "number?")),
  B.metric("signup", C("signup_time", "timestamp")),
];

const sources = [customer, purchase, pageView].map(withDdl);
const segments: SegmentIR[] = [
  ...Object.entries(predicates).map(([name, p]) => B.segment(name, p)),
  B.segment("metrics_all", a(existsEver), metrics),
  B.segment("metrics_empty", B.eq(a(count30), int(0)), metrics.slice(0, 8)),
  B.segment("ref_a", B.inList(C("country", "string"), [str("US"), str("CA"), str("DE")])),
  B.segment("ref_b", B.and(B.seg("ref_a"), a(existsEver))),
  B.segment("ref_c", B.and(B.seg("ref_b"), B.op("is_null", [C("email", "string?")]))),
  B.segment("ref_d", B.not(B.seg("ref_c"))),
];
const profilePlan: PlanIR = B.plan({ universe: { kind: "profile", source: "customer" }, sources, aggregates, segments });
const eventsPlan: PlanIR = B.plan({
  universe: { kind: "events", sources: ["purchase", "page_view"] },
  sources: [purchase, pageView].map(withDdl),
  aggregates: [existsEver, pvCount],
  segments: [B.segment("ev_everyone", B.ge(a(pvCount), int(0))), B.segment("ev_no_purchase", B.not(a(existsEver)))],
});
const acct = withDdl(B.source("acct", "profile", { id: "integer", tier: "string" }));
const intKeyPlan: PlanIR = B.plan({ keyType: "integer", universe: { kind: "profile", source: "acct" }, sources: [acct], aggregates: [], segments: [B.segment("int_gold", B.eq(B.attr("acct", "tier", "string"), str("gold")))] });

/**
 * Probes beyond the compiler's fixture: one profile row per awkward value, and every function or
 * test as a metric, so each row shows what both engines make of it.
 */
const probe = withDdl(B.source("probe", "profile", { id: "string", s: "string?", x: "number?", n: "integer?", ts: "timestamp?", d: "date?" }));
const probeEvent = withDdl(B.source("probe_event", "event", { id: "string", ts: "timestamp", amount: "number?", n: "integer?", label: "string?" }, { key: "id" }));
const D = attr("probe", "d", "date?");
const E = (f: string, t: string) => B.field("probe_event", f, t);
const evDistinct = agg(probeEvent, "count_distinct", "amount");
const evMinLabel = agg(probeEvent, "min", "label", B.last(30));
const evMaxLabel = agg(probeEvent, "max", "label");
const evSumN = agg(probeEvent, "sum", "n", B.last(30));
const evAvgN = agg(probeEvent, "avg", "n");
const evFirst36h = agg(probeEvent, "first_seen", null, { olderMs: 36 * 3_600_000 + 1, newerMs: 0 });
const evLast = agg(probeEvent, "last_seen", null, B.ago(30, 1));
const evCountRe = agg(probeEvent, "count", null, B.EVER, B.op("matches", [E("label", "string?"), str("^[A-Z]")]));
const evSumAmount = agg(probeEvent, "sum", "amount");
const evMaxAmount = agg(probeEvent, "max", "amount", B.last(30), B.gt(E("n", "integer?"), int(0)));
const probeAggregates = [evDistinct, evMinLabel, evMaxLabel, evSumN, evAvgN, evFirst36h, evLast, evCountRe, evSumAmount, evMaxAmount];
const S = attr("probe", "s", "string?");
const X = attr("probe", "x", "number?");
const N = attr("probe", "n", "integer?");
const TS = attr("probe", "ts", "timestamp?");
const probeRows: Record<string, unknown>[] = [
  { id: "p01", d: "2026-10-02", s: "straße", x: 2.675, n: 9007199254740991, ts: "2026-10-02T00:00:00.0000019Z" },
  { id: "p02", d: "2026-11-01", s: "İstanbul", x: -0.5, n: -7, ts: "2026-10-31T23:59:59.999999Z" },
  { id: "p03", d: "1970-01-01", s: "e\u0301", x: -2.5, n: 0, ts: "1500-03-01T00:00:00Z" },
  { id: "p04", d: "1969-12-31", s: "\t x \n", x: 1e300, n: 1, ts: "2026-10-02T00:00:00+14:00" },
  { id: "p05", s: "café", x: 0.1 + 0.2, n: 2, ts: "2026-10-02t00:00:00z" },
  { id: "p06", s: "ÉCOLE", x: -0, n: 3, ts: "2026-10-02 00:00:00Z" },
  { id: "p07", s: "a\u000bb", x: 1e-7, n: 4, ts: "2026-10-01T23:30:00-00:30" },
  { id: "p08", s: "🎉x", x: 123456789.125, n: 5, ts: null },
  { id: "p09", d: "0001-01-01", s: "ǅ", x: 0.5, n: 6, ts: "0001-01-01T00:00:00Z" },
  { id: "p10", s: null, x: null, n: null, ts: null },
  { id: "p11", s: "123", x: 1.5, n: -1, ts: "2026-11-01T00:00:00Z" },
  { id: "p12", s: " ", x: -1.005, n: 10, ts: "2026-11-01T00:00:00.000001Z" },
  { id: "p13", s: "xyz", x: 1e21, n: 11, ts: "2026-10-30T12:00:00.5+00:00" },
  { id: "p14", s: "aha", x: 0.285, n: 12, ts: "2026-10-30T12:00:00.123456789-03:00" },
  { id: "p15", s: "ΟΔΟΣ ΟΔΟΣ", x: 3.5, n: 13, ts: null },
  { id: "p16", s: "\u212a\u017f\ufb01ı", x: 4.5, n: 14, ts: null },
  { id: "p17", s: "ab\n", x: 5.5, n: 15, ts: null },
  { id: "p18", s: "\u00a0 nb\u3000", x: 6.5, n: 16, ts: null },
  // Offsets RFC 3339 allows beyond Java's ±18:00 (Spark's own cast rejects them).
  { id: "p19", s: "off", x: 7.5, n: 17, ts: "2026-10-02T03:00:00+19:30" },
  { id: "p20", s: "off", x: 8.5, n: 18, ts: "2026-10-01T00:00:00.25-23:59" },
];
const probeEvents = [
  { id: "p01", ts: "2026-10-31T00:00:00Z", amount: 0, n: 1, label: "b" },
  { id: "p01", ts: "2026-10-30T11:59:59.999Z", amount: -0, n: 2, label: "Zeta" },
  { id: "p01", ts: "2026-10-30T12:00:00Z", amount: 0.1, n: -3, label: "é" },
  { id: "p01", ts: "2026-10-30T12:00:00.001Z", amount: 0.2, n: 4, label: "🎉" },
  { id: "p02", ts: "2026-10-02T00:00:00Z", amount: 1e308, n: 9007199254740991, label: null },
  { id: "p02", ts: "2026-10-31T00:00:00Z", amount: 1e308, n: 1, label: "\uffff" },
  { id: "p02", ts: "2026-11-01T00:00:00Z", amount: -1e308, n: -1, label: "ǅ" },
  { id: "p03", ts: "2026-09-01T00:00:00Z", amount: null, n: null, label: "A" },
];
const probeMetrics = [
  B.metric("upper", B.call("upper", [S], "string?")),
  B.metric("lower", B.call("lower", [S], "string?")),
  B.metric("length", B.call("length", [S], "integer?")),
  B.metric("trim", B.call("trim", [S], "string?")),
  B.metric("round2", B.call("round", [X, int(2)], "number?")),
  B.metric("round0", B.call("round", [X], "number?")),
  B.metric("floor", B.call("floor", [X], "number?")),
  B.metric("ceil", B.call("ceil", [X], "number?")),
  B.metric("abs", B.call("abs", [X], "number?")),
  B.metric("neg", B.op("neg", [X])),
  B.metric("x_div_n", B.op("div", [X, N])),
  B.metric("n_div_3", B.op("div", [N, int(3)])),
  B.metric("n_times_x", B.op("mul", [N, X])),
  B.metric("x", X),
  B.metric("n", N),
  B.metric("ts", TS),
  B.metric("days_since", B.call("days_since", [TS], "number?")),
  B.metric("ts_in_last_30", B.inWindow(TS, B.last(30))),
  B.metric("ts_in_last_36h", B.inWindow(TS, { olderMs: 36 * 3_600_000 + 1, newerMs: 0 })),
  B.metric("re_space", B.op("matches", [S, str("a\\sb")])),
  B.metric("re_word_boundary", B.op("matches", [S, str("caf\\b")])),
  B.metric("re_not_word_boundary", B.op("matches", [S, str("\\Bx")])),
  B.metric("re_space_class", B.op("matches", [S, str("[\\s]")])),
  B.metric("re_not_space", B.op("matches", [S, str("^\\S+$")])),
  B.metric("re_vertical_tab", B.op("matches", [S, str("a\\vb")])),
  B.metric("re_posix_negated", B.op("matches", [S, str("^[[:^alpha:]]+$")])),
  B.metric("re_posix_space", B.op("matches", [S, str("[[:space:]]")])),
  B.metric("re_ignore_case", B.op("matches", [S, str("(?i)^straße|ǆ|οδοσ")])),
  B.metric("re_dollar_newline", B.op("matches", [S, str("b$")])),
  B.metric("re_emoji", B.op("matches", [S, str("^🎉")])),
  B.metric("emoji_literal_then_as_of", B.and(B.op("starts_with", [S, str("🎉")]), B.inWindow(TS, B.last(30)))),
  B.metric("re_posix_class", B.op("matches", [S, str("^[[:alpha:]]+$")])),
  B.metric("re_unicode_letter", B.op("matches", [S, str("^\\p{L}+$")])),
  B.metric("re_dot_one_char", B.op("matches", [S, str("^.x$")])),
  B.metric("re_word", B.op("matches", [S, str("^\\w+$")])),
  B.metric("re_digits", B.op("matches", [S, str("^\\d+$")])),
  B.metric("contains_empty", B.op("contains", [S, str("")])),
  B.metric("d", D),
  B.metric("d_days_since", B.call("days_since", [D], "number?")),
  B.metric("d_in_last_30", B.inWindow(D, B.last(30))),
  B.metric("d_between", B.between(D, tsLit("2026-10-02T00:00:00.000Z"), B.asOf())),
  B.metric("d_lt_ts", B.lt(D, TS)),
  B.metric("age", B.op("sub", [B.asOf(), TS], "duration?")),
  B.metric("age_gt_30d", B.gt(B.op("sub", [B.asOf(), TS], "duration?"), dur(30 * DAY))),
  B.metric("ts_minus_36h", B.op("sub", [TS, dur(36 * 3_600_000 + 1)], "timestamp?")),
  B.metric("ts_between", B.between(TS, tsLit("2026-10-02T00:00:00.000Z"), B.asOf())),
  B.metric("s_lt_m", B.lt(S, str("m"))),
  B.metric("s_in", B.inList(S, [str("café"), str("123"), B.lit(null)])),
  B.metric("n_in_mixed", B.inList(N, [num(2), num(2.5), int(11)])),
  B.metric("round_n_neg", B.call("round", [N, int(-1)], "integer?")),
  // digits written `-1` in a rule arrive as neg(1), still a constant for Spark's round
  B.metric("round_x_negated_digits", B.call("round", [X, B.op("neg", [int(1)], "integer")], "number?")),
  B.metric("least_mixed", B.call("least", [N, X], "number?")),
  B.metric("coalesce_s", B.call("coalesce", [S, str("none")], "string")),
  B.metric("ev_distinct_amount", a(evDistinct)),
  B.metric("ev_min_label", a(evMinLabel)),
  B.metric("ev_max_label", a(evMaxLabel)),
  B.metric("ev_sum_n", a(evSumN)),
  B.metric("ev_avg_n", a(evAvgN)),
  B.metric("ev_first_36h", a(evFirst36h)),
  B.metric("ev_last_30_1", a(evLast)),
  B.metric("ev_count_re", a(evCountRe)),
  B.metric("ev_sum_amount", a(evSumAmount)),
  B.metric("ev_max_amount", a(evMaxAmount)),
  B.metric("eq_space", B.eq(S, str(" "))),
];
const probePlan: PlanIR = B.plan({
  universe: { kind: "profile", source: "probe" },
  sources: [probe, probeEvent],
  aggregates: probeAggregates,
  segments: [B.segment("probe_all", B.lit(true), probeMetrics)],
});

/**
 * Where Spark and DuckDB disagree, checked with `it.fails` so the test turns red once fixed. The
 * differences found so far were fixed in the emitters (packages/compiler/src/emit, check/regex.ts)
 * and stay below as probes: upper/lower (Java's full case mapping: STRASSE, a combining dot after
 * İ, final sigma; now code point by code point on both), regex `\s` (U+000B), `\b` next to a
 * non-ASCII letter, POSIX classes, and emoji before a `:as_of` marker (SPARK-55991).
 */
const KNOWN_MISMATCHES: Record<string, string> = {};
const KNOWN_PROBE_MISMATCHES: Record<string, string> = {};

/** Each output as its own plan: Spark plans one UNION ALL branch per output (see the report). */
const onePlanPerOutput = (plan: PlanIR) => plan.outputs.map((name) => ({ plan: { ...plan, outputs: [name] }, id: name }));

describe("Spark and DuckDB agree on the meaning of the IR", () => {
  let dir: string;
  let spark: SparkRunResult;
  const duck: Record<string, EvaluationResult["segments"][string]> = {};

  beforeAll(async () => {
    await setupSpark();
    dir = mkdtempSync(join(tmpdir(), "seg-spark-semantics-"));
    writeFileSync(join(dir, "customer.jsonl"), toJsonl(customers));
    writeFileSync(join(dir, "purchase.jsonl"), toJsonl(purchases));
    writeFileSync(join(dir, "page_view.jsonl"), toJsonl(pageViews));
    writeFileSync(join(dir, "probe.jsonl"), toJsonl(probeRows));
    writeFileSync(join(dir, "probe_event.jsonl"), toJsonl(probeEvents));
    writeFileSync(join(dir, "acct.jsonl"), toJsonl([{ id: 10, tier: "gold" }, { id: 9, tier: "gold" }, { id: 11, tier: "silver" }]));
    const plans = [profilePlan, eventsPlan, intKeyPlan, probePlan];
    for (const plan of plans) {
      const r = await evaluatePlan(plan, { dataDir: dir, asOf: AS_OF });
      expect(r.problems.filter((p) => p.severity !== "info")).toEqual([]);
      Object.assign(duck, r.segments);
    }
    spark = await runSparkDriver({ plans: plans.flatMap(onePlanPerOutput), asOf: AS_OF, input: `files:${dir}` });
  }, 900_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads the fixture without leaving rows out", () => {
    expect(spark.malformed).toEqual({ customer: 0, purchase: 0, page_view: 0, acct: 0, probe: 0, probe_event: 0 });
  });

  const names = [...profilePlan.outputs, ...eventsPlan.outputs, ...intKeyPlan.outputs];

  for (const m of probeMetrics) {
    const check = () => {
      const values = (members: { id: string; metrics: Record<string, unknown> }[] | undefined) =>
        normalizeMembers((members ?? []).map((x) => ({ id: x.id, metrics: { [m.name]: x.metrics[m.name] } })));
      expect(values(spark.segments["probe_all"]?.members)).toEqual(values(duck["probe_all"]?.members));
    };
    const known = KNOWN_PROBE_MISMATCHES[m.name];
    if (known) it.fails(`probe ${m.name} (known mismatch: ${known})`, check);
    else it(`probe ${m.name}: the same value on every row`, check);
  }

  for (const name of names) {
    const check = () => {
      expect(spark.segments[name], name).toBeDefined();
      expect(normalizeMembers(spark.segments[name]!.members)).toEqual(normalizeMembers(duck[name]!.members));
      const expected = cases[name]?.[1];
      if (expected) expect(spark.segments[name]!.members.map((m) => m.id)).toEqual(expected);
    };
    if (KNOWN_MISMATCHES[name]) it.fails(`${name} (known mismatch: ${KNOWN_MISMATCHES[name]})`, check);
    else it(name, check);
  }
});
