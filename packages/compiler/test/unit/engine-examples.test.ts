/**
 * The example project evaluated on DuckDB, against segment sizes computed independently (by a
 * separate, hand-written evaluator over the same sample events while the examples were written),
 * and a few memberships checked by hand.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildPlan, compileProject, loweredSegments } from "@seg/compiler";
import { evaluatePlan } from "../../src/engine/duckdb-engine.js";

const examples = fileURLToPath(new URL("../../../../examples/", import.meta.url));

const EXPECTED_SIZES: Record<string, number> = {
  high_value: 2, churned: 5, at_risk: 7, lapsing_spenders: 4, accelerating_spenders: 6, big_basket_buyers: 8,
  bargain_shoppers: 6, cart_abandoners: 3, coupon_hunters: 2, welcome_code_users: 2, seasonal_code_users: 4,
  email_reachable: 22, sms_reachable: 7, sms_consent_unknown: 13, electronics_fans: 6, multi_category_shoppers: 9,
  mobile_first: 6, quick_bouncers: 2, engaged_readers: 19, direct_visitors: 6, loyal_regulars: 5, new_signups: 3,
  window_shoppers: 2, first_time_buyers: 8, dormant_signups: 2, tier_upgrade_candidates: 1, long_standing_members: 19,
  gen_z: 9, outside_core_age: 25, founding_customers: 15, holiday_previewers: 1, newsletter_clickers: 1,
  early_holiday_buyers: 4, vip_outreach: 5,
};

describe("example project on DuckDB", () => {
  it("gives every segment the size an independent evaluator computed", async () => {
    const compiled = compileProject({ cwd: examples, env: {}, paths: [] });
    expect(compiled.diagnostics).toEqual([]);
    const { ok } = loweredSegments(compiled);
    expect([...ok].sort()).toEqual(Object.keys(EXPECTED_SIZES).sort());
    const result = await evaluatePlan(buildPlan(compiled.lowered!, ok), {
      dataDir: compiled.project!.dataDir,
      asOf: "2026-11-01T00:00:00Z",
      schemas: compiled.registry!,
    });
    expect(result.problems.filter((p) => p.severity === "error")).toEqual([]);
    const sizes = Object.fromEntries(Object.entries(result.segments).map(([k, v]) => [k, v.size]));
    expect(sizes).toEqual(EXPECTED_SIZES);
    // By hand from examples/data: c001 and c003 each made 6+ purchases totalling over $1,000 in October.
    expect(result.segments["high_value"]!.members.map((m) => m.id)).toEqual(["c001", "c003"]);
    // vip_outreach = (high_value or big_basket_buyers) and not churned and email_reachable.
    const ids = (s: string) => new Set(result.segments[s]!.members.map((m) => m.id));
    const vip = [...new Set([...ids("high_value"), ...ids("big_basket_buyers")])]
      .filter((id) => !ids("churned").has(id) && ids("email_reachable").has(id))
      .sort();
    expect(result.segments["vip_outreach"]!.members.map((m) => m.id)).toEqual(vip);
  });
});
