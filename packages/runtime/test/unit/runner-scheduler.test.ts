import { describe, expect, it } from "vitest";
import type { PipelineSpec } from "@seg/compiler";
import { Scheduler, groupPipelines, retentionOf, type ActivePipeline } from "@seg/runtime";

type PlanIR = PipelineSpec["plan"];
const T0 = Date.parse("2026-11-01T00:00:00Z");
const MIN = 60_000;

const source = (name: string, kind: "event" | "profile" = "event") => ({
  name,
  kind,
  entity: "customer",
  key: "customer_id",
  time: kind === "event" ? "ts" : null,
  topic: `seg.${name}`,
  fields: [{ name: "customer_id", type: { kind: "string", nullable: false } }],
  sparkDdl: "`customer_id` STRING",
  schemaHash: `hash-${name}`,
});

/** A pipeline over `sources` refreshed every `refreshMinutes`. */
function pipeline(segment: string, refreshMinutes: number, sources: string[], options: { version?: string; entity?: string; windowMs?: number } = {}): ActivePipeline {
  const plan = {
    irVersion: 1,
    entity: options.entity ?? "customer",
    keyType: { kind: "string", nullable: false },
    universe: { kind: "profile", source: "customer" },
    sources: ["customer", ...sources].map((s) => source(s, s === "customer" ? "profile" : "event")),
    aggregates: sources.map((s) => ({ id: `agg_${s}`, fn: "count", source: s, field: null, window: { olderMs: options.windowMs ?? 30 * 24 * 3_600_000, newerMs: 0 }, filter: null, type: { kind: "integer", nullable: false } })),
    segments: [{ name: segment, title: null, description: null, owner: null, tags: [], entity: "customer", predicate: { k: "lit", type: { kind: "boolean", nullable: false }, value: true }, metrics: [], dependencies: [], aggregates: [], settings: { refreshMs: refreshMinutes * MIN, ttlMs: 3_600_000 }, file: "x.seg" }],
    outputs: [segment],
  } as unknown as PlanIR;
  const spec = { id: segment, version: options.version ?? `v-${segment}`, refreshSeconds: refreshMinutes * 60, plan } as unknown as PipelineSpec;
  return { segment, version: spec.version, spec, updatedAt: new Date(T0), lastDeployId: 1 };
}

const names = (jobs: { pipelines: ActivePipeline[] }[]) => jobs.map((j) => j.pipelines.map((p) => p.segment));

describe("the scheduler", () => {
  it("runs new pipelines at once, then every refresh on the same grid", () => {
    const s = new Scheduler({ slackMs: 0 });
    s.sync([pipeline("a", 15, ["purchase"]), pipeline("b", 60, ["purchase"])], T0);
    const first = s.takeDue(T0);
    expect(names(first)).toEqual([["a", "b"]]);
    expect(first[0]!.id).toBe("job-1");
    expect(s.takeDue(T0 + 1)).toEqual([]); // running: never twice at once
    s.complete(first[0]!);
    expect(s.nextDueAt()).toBe(T0 + 15 * MIN);
    expect(s.takeDue(T0 + 15 * MIN - 1)).toEqual([]);
    for (const k of [1, 2, 3]) {
      const jobs = s.takeDue(T0 + k * 15 * MIN);
      expect(names(jobs)).toEqual([["a"]]);
      s.complete(jobs[0]!);
    }
    // At one hour both fall due again: one job.
    const hour = s.takeDue(T0 + 60 * MIN);
    expect(names(hour)).toEqual([["a", "b"]]);
  });

  it("takes pipelines due within the slack together", () => {
    const s = new Scheduler({ slackMs: 5_000 });
    s.sync([pipeline("a", 15, ["purchase"])], T0);
    s.complete(s.takeDue(T0)[0]!);
    s.sync([pipeline("a", 15, ["purchase"]), pipeline("b", 15, ["purchase"])], T0 + 15 * MIN - 3_000); // b is new: due at once
    const jobs = s.takeDue(T0 + 15 * MIN - 3_000);
    expect(names(jobs)).toEqual([["a", "b"]]);
    expect(jobs[0]!.dueAt).toBe(T0 + 15 * MIN - 3_000);
  });

  it("skips slots that passed while a job ran, without catching up", () => {
    const s = new Scheduler({ slackMs: 0 });
    s.sync([pipeline("a", 1, ["purchase"])], T0);
    const job = s.takeDue(T0)[0]!;
    // the job takes 3.5 minutes
    s.complete(job);
    const late = s.takeDue(T0 + 3.5 * MIN);
    expect(names(late)).toEqual([["a"]]);
    s.complete(late[0]!);
    expect(s.nextDueAt()).toBe(T0 + 4 * MIN);
  });

  it("runs a changed version at once and forgets retired pipelines", () => {
    const s = new Scheduler({ slackMs: 0 });
    s.sync([pipeline("a", 15, ["purchase"]), pipeline("b", 15, ["purchase"])], T0);
    const job = s.takeDue(T0)[0]!;
    s.sync([pipeline("a", 15, ["purchase"], { version: "v2" })], T0 + MIN);
    expect(s.snapshot().map((e) => e.segment)).toEqual(["a"]);
    expect(s.takeDue(T0 + MIN)).toEqual([]); // still running
    s.complete(job);
    const next = s.takeDue(T0 + MIN);
    expect(names(next)).toEqual([["a"]]);
    expect(next[0]!.pipelines[0]!.version).toBe("v2");
  });

  it("groups by shared sources and compatible plans, deterministically", () => {
    const ps = [
      pipeline("d", 15, ["page_view"], { entity: "session" }),
      pipeline("c", 15, ["purchase", "page_view"]),
      pipeline("a", 15, ["purchase"]),
      pipeline("b", 15, ["add_to_cart"]),
    ];
    // Every customer plan reads the customer profile: one job; the session plan cannot merge.
    expect(groupPipelines(ps, () => false).map((g) => g.map((p) => p.segment))).toEqual([["a", "b", "c"], ["d"]]);
    expect(groupPipelines([...ps].reverse(), () => false).map((g) => g.map((p) => p.segment))).toEqual([["a", "b", "c"], ["d"]]);
    // Isolated pipelines run alone; the job size is capped.
    expect(groupPipelines(ps, (p) => p.segment === "c").map((g) => g.map((p) => p.segment))).toEqual([["a", "b"], ["c"], ["d"]]);
    expect(groupPipelines(ps, () => false, 2).map((g) => g.map((p) => p.segment))).toEqual([["a", "b"], ["c"], ["d"]]);
  });

  it("keeps plans that disagree on a shared segment or source apart", () => {
    const a = pipeline("a", 15, ["purchase"]);
    const b = pipeline("b", 15, ["purchase"]);
    (b.spec.plan.sources[1] as { schemaHash: string }).schemaHash = "another";
    expect(groupPipelines([a, b], () => false).map((g) => g.map((p) => p.segment))).toEqual([["a"], ["b"]]);
  });

  it("isolates a pipeline version that failed in a combined job", () => {
    const s = new Scheduler({ slackMs: 0 });
    s.sync([pipeline("a", 15, ["purchase"]), pipeline("b", 15, ["purchase"])], T0);
    s.isolate("b", "v-b");
    expect(names(s.takeDue(T0))).toEqual([["a"], ["b"]]);
    expect(s.isIsolated("b", "v-b")).toBe(true);
    expect(s.isIsolated("b", "v2")).toBe(false);
  });

  it("takeAll takes every pipeline not running, due or not", () => {
    const s = new Scheduler({ slackMs: 0 });
    s.sync([pipeline("a", 15, ["purchase"])], T0);
    s.complete(s.takeDue(T0)[0]!);
    expect(names(s.takeAll(T0 + 1))).toEqual([["a"]]);
  });
});

describe("retention", () => {
  it("is the longest window per event source, null for all history and event universes", () => {
    const a = pipeline("a", 15, ["purchase"], { windowMs: 7 * 86_400_000 });
    const b = pipeline("b", 15, ["purchase", "page_view"], { windowMs: 30 * 86_400_000 });
    const c = pipeline("c", 15, ["add_to_cart"]);
    (c.spec.plan.aggregates[0] as { window: { olderMs: number | null } }).window.olderMs = null;
    const r = retentionOf([a, b, c]);
    expect(Object.fromEntries(r)).toEqual({ purchase: 30 * 86_400_000, page_view: 30 * 86_400_000, add_to_cart: null });
    const e = pipeline("e", 15, ["purchase"]);
    (e.spec.plan as { universe: unknown }).universe = { kind: "events", sources: ["purchase"] };
    expect(retentionOf([a, e]).get("purchase")).toBeNull();
  });
});
