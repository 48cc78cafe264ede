/**
 * The shared semantics fixture: one predicate per IR construct over the engine fixture's rows
 * (engine-fixture.ts), with members computed by hand. The compiler's engine-semantics test checks
 * DuckDB against them; the runtime's spark-semantics test checks Spark against them and against
 * DuckDB, so both engines are held to the same cases.
 */
import type { AggregateIR, ExprIR } from "../../src/ir.js";
import * as B from "../unit/emit-builder.js";
import { pageView, purchase } from "../unit/engine-fixture.js";

const { DAY, aggregate: agg, aggRef: a, attr, str, int, num, tsLit, dur } = B;
const P = (f: string, t: string) => B.field("purchase", f, t);
const C = (f: string, t: string) => attr("customer", f, t);

// aggregates over purchase
export const sum30 = agg(purchase, "sum", "amount", B.last(30));
export const count30 = agg(purchase, "count", null, B.last(30));
export const countOld = agg(purchase, "count", null, B.ago(60, 30));
export const sumOld = agg(purchase, "sum", "amount", B.ago(60, 30));
export const avg30 = agg(purchase, "avg", "amount", B.last(30));
export const countEver = agg(purchase, "count", null);
export const existsEver = agg(purchase, "exists", null);
export const min30 = agg(purchase, "min", "amount", B.last(30));
export const max30 = agg(purchase, "max", "amount", B.last(30));
export const countAmount = agg(purchase, "count", "amount");
export const distinctQty = agg(purchase, "count_distinct", "qty");
const welcome = B.op("starts_with", [P("coupon", "string?"), str("WELCOME")]);
export const distinctWelcome = agg(purchase, "count_distinct", "coupon", B.last(30), welcome);
export const sumWelcome = agg(purchase, "sum", "amount", B.EVER, welcome);
export const firstSeen = agg(purchase, "first_seen", null);
export const lastSeen = agg(purchase, "last_seen", null);
export const lastSeenOld = agg(purchase, "last_seen", null, B.ago(60, 30));
export const qty30 = agg(purchase, "sum", "qty", B.last(30));
export const bigRecent = agg(purchase, "exists", null, B.last(30), B.gt(P("amount", "number?"), int(20)));
// aggregates over page_view
export const pv30 = agg(pageView, "exists", null, B.last(30));
export const pvQuery = agg(pageView, "exists", null, B.EVER, B.op("contains", [B.field("page_view", "url", "string"), str("?x=1")]));
export const pvCount = agg(pageView, "count", null);
export const aggregates: AggregateIR[] = [sum30, count30, countOld, sumOld, avg30, countEver, existsEver, min30, max30, countAmount, distinctQty, distinctWelcome, sumWelcome, firstSeen, lastSeen, lastSeenOld, qty30, bigRecent, pv30, pvQuery, pvCount];

/** Segment name -> [predicate, expected members (hand-computed)]. */
export const cases: Record<string, [ExprIR, string[]]> = {
  // aggregates and windows
  sum_last30: [B.gt(a(sum30), num(100)), ["c1"]],
  count_last30_is_2: [B.eq(a(count30), int(2)), ["c1", "c2"]],
  count_last30_is_0: [B.eq(a(count30), int(0)), ["c3", "c4", "c5"]],
  older_window: [B.and(B.eq(a(countOld), int(1)), B.eq(a(sumOld), num(50))), ["c1"]],
  avg_gt_50: [B.gt(a(avg30), num(50)), ["c1"]],
  not_avg_gt_50: [B.not(B.gt(a(avg30), num(50))), ["c2", "c3", "c4", "c5"]],
  count_ever_4: [B.eq(a(countEver), int(4)), ["c1"]],
  exists_ever: [a(existsEver), ["c1", "c2"]],
  not_exists_ever: [B.not(a(existsEver)), ["c3", "c4", "c5"]],
  min_max: [B.and(B.eq(a(min30), num(25)), B.eq(a(max30), num(100))), ["c1"]],
  count_field: [B.eq(a(countAmount), int(1)), ["c2"]],
  count_distinct: [B.eq(a(distinctQty), int(3)), ["c1"]],
  count_distinct_filtered: [B.eq(a(distinctWelcome), int(2)), ["c2"]],
  sum_filtered: [B.gt(a(sumWelcome), num(5)), ["c2"]],
  first_last: [B.and(B.eq(a(firstSeen), tsLit("2026-09-02T00:00:00.000Z")), B.eq(a(lastSeen), B.asOf())), ["c1"]],
  last_seen_window: [B.eq(a(lastSeenOld), tsLit("2026-10-02T00:00:00.000Z")), ["c1"]],
  exists_filtered: [a(bigRecent), ["c1"]],
  boundary_microsecond: [a(pv30), ["c1", "c5"]],
  filter_on_url: [a(pvQuery), ["c1"]],
  // window tests on timestamps
  signup_last14: [B.inWindow(C("signup_time", "timestamp"), B.last(14)), ["c2"]],
  signup_not_last14: [B.inWindow(C("signup_time", "timestamp"), B.last(14), true), ["c1", "c3", "c4", "c5"]],
  last_seen_last1: [B.inWindow(a(lastSeen), B.last(1)), ["c1"]],
  last_seen_not_last1: [B.inWindow(a(lastSeen), B.last(1), true), ["c2", "c3", "c4", "c5"]],
  // in, between, null logic
  country_in: [B.inList(C("country", "string"), [str("US"), str("CA")]), ["c1", "c2"]],
  year_not_in: [B.inList(C("birth_year", "integer?"), [int(1980), int(2000)], true), ["c2", "c4", "c5"]],
  year_in_with_null: [B.inList(C("birth_year", "integer?"), [int(1990), B.lit(null)]), ["c4"]],
  year_not_in_with_null: [B.inList(C("birth_year", "integer?"), [int(1990), B.lit(null)], true), ["c1", "c2", "c3", "c5"]],
  year_between: [B.between(C("birth_year", "integer?"), int(1950), int(1990)), ["c1", "c4", "c5"]],
  year_not_between: [B.between(C("birth_year", "integer?"), int(1950), int(1990), true), ["c2", "c3"]],
  sms_eq_false: [B.eq(C("sms_opt_in", "boolean?"), B.lit(false)), ["c3"]],
  not_sms: [B.not(C("sms_opt_in", "boolean?")), ["c2", "c3", "c4"]],
  sms: [C("sms_opt_in", "boolean?"), ["c1", "c5"]],
  sms_ne_true: [B.ne(C("sms_opt_in", "boolean?"), B.lit(true)), ["c3"]],
  email_null: [B.op("is_null", [C("email", "string?")]), ["c2"]],
  email_not_null: [B.op("is_not_null", [C("email", "string?")]), ["c1", "c3", "c4", "c5"]],
  not_email_eq: [B.not(B.eq(C("email", "string?"), str("a@x.com"))), ["c2", "c3", "c4", "c5"]],
  email_ne: [B.ne(C("email", "string?"), str("a@x.com")), ["c3", "c4", "c5"]],
  // string tests and functions
  contains_at: [B.op("contains", [C("email", "string?"), str("@")]), ["c1", "c3"]],
  not_contains_at: [B.not(B.op("contains", [C("email", "string?"), str("@")])), ["c2", "c4", "c5"]],
  contains_wildcards: [B.or(B.op("contains", [C("email", "string?"), str("%")]), B.op("contains", [C("email", "string?"), str("_")])), []],
  lower_ends_with: [B.op("ends_with", [B.call("lower", [C("email", "string?")], "string?"), str("@example.com")]), ["c3"]],
  case_sensitive: [B.op("ends_with", [C("email", "string?"), str("@example.com")]), []],
  starts_with_quote: [B.op("starts_with", [C("email", "string?"), str("o'neill")]), ["c4"]],
  matches_anchored: [B.op("matches", [C("email", "string?"), str("^[a-z]+@x\\.com$")]), ["c1"]],
  matches_backslash: [B.op("matches", [C("email", "string?"), str("\\\\path")]), ["c4"]],
  contains_newline: [B.op("contains", [C("email", "string?"), str("\n")]), ["c4"]],
  ends_with_emoji: [B.op("ends_with", [C("email", "string?"), str("🎉")]), ["c4"]],
  length_code_points: [B.eq(B.call("length", [C("email", "string?")], "integer?"), int(5)), ["c5"]],
  trim_upper: [B.eq(B.call("upper", [B.call("trim", [str("  us ")], "string")], "string"), C("country", "string")), ["c1"]],
  // adversarial names and strings
  injection_literal: [B.eq(C("country", "string"), str("'); DROP TABLE x; --")), ["c5"]],
  quote_backslash_newline: [B.eq(C("email", "string?"), str("o'neill\\path\n🎉")), ["c4"]],
  double_quote_name: [B.eq(C('a"b', "string?"), str("quote")), ["c1"]],
  backtick_name: [B.eq(C("a`b", "string?"), str("x")), ["c2"]],
  unicode: [B.eq(C("email", "string?"), str("naïve")), ["c5"]],
  // arithmetic
  ratio_gt_50: [B.gt(B.op("div", [a(sum30), a(count30)]), num(50)), ["c1"]],
  not_ratio_gt_50: [B.not(B.gt(B.op("div", [a(sum30), a(count30)]), num(50))), ["c2", "c3", "c4", "c5"]],
  real_division: [B.eq(B.op("div", [a(qty30), int(8)]), num(0.5)), ["c1", "c2"]],
  age_ge_40: [B.ge(B.op("sub", [int(2026), C("birth_year", "integer?")]), int(40)), ["c1", "c5"]],
  member_104_weeks: [B.ge(B.op("sub", [B.asOf(), C("signup_time", "timestamp")], "duration"), dur(104 * 7 * DAY)), ["c3"]],
  days_since_gt_10: [B.gt(B.call("days_since", [a(lastSeen)], "number?"), int(10)), ["c2"]],
  mul_add: [B.gt(B.op("add", [B.op("mul", [a(sum30), int(2)]), int(1)]), int(200)), ["c1"]],
  negate: [B.lt(B.op("neg", [a(sum30)]), int(-100)), ["c1"]],
  coalesce_zero: [B.eq(B.call("coalesce", [C("birth_year", "integer?"), int(0)], "integer"), int(0)), ["c2"]],
  round_half_away: [B.eq(B.call("round", [a(avg30)], "number?"), int(63)), ["c1"]],
  floor_ceil_abs: [B.and(B.eq(B.call("floor", [a(avg30)], "number?"), int(62)), B.eq(B.call("ceil", [a(avg30)], "number?"), int(63)), B.eq(B.call("abs", [B.op("neg", [a(sum30)])], "number"), int(125))), ["c1"]],
  least_skips_null: [B.eq(B.call("least", [C("birth_year", "integer?"), int(1985)], "integer"), int(1985)), ["c2", "c3", "c4"]],
  greatest: [B.eq(B.call("greatest", [a(sum30), num(50)], "number"), num(125)), ["c1"]],
  // rounding is on the decimal value, as Spark does (DuckDB's DOUBLE round would give 1.0 and 0.28)
  round_decimal: [
    B.and(
      B.eq(B.call("round", [num(1.005), int(2)], "number"), num(1.01)),
      B.eq(B.call("round", [num(0.285), int(2)], "number"), num(0.29)),
      B.eq(B.call("round", [num(-2.5)], "number"), num(-3)),
      B.eq(B.call("round", [num(1e21), int(2)], "number"), num(1e21)),
      B.eq(B.call("round", [num(1234.5), int(-2)], "number"), num(1200)),
      B.eq(B.call("round", [int(1234), int(-2)], "integer"), int(1200)),
    ),
    ["c1", "c2", "c3", "c4", "c5"],
  ],
  // regular expressions mean the same on RE2 and Java: `$` is the end of input, `.` matches `\r`
  regex_end_and_dot: [
    B.and(B.not(B.op("matches", [str("ab\n"), str("b$")])), B.op("matches", [str("a\rc"), str("^a.c$")]), B.not(B.op("matches", [str("a\nc"), str("a.c")]))),
    ["c1", "c2", "c3", "c4", "c5"],
  ],
  timestamp_plus_duration: [B.gt(B.op("add", [C("signup_time", "timestamp"), dur(14 * DAY)], "timestamp"), B.asOf()), ["c2", "c4"]],
  // `$` in literals (Spark's variable substitution must not touch it), division by zero is null
  dollar_literal: [B.eq(B.call("upper", [str("${x}$")], "string"), str("${X}$")), ["c1", "c2", "c3", "c4", "c5"]],
  division_by_zero: [B.op("is_null", [B.op("div", [a(qty30), int(0)])]), ["c1", "c2", "c3", "c4", "c5"]],
};
