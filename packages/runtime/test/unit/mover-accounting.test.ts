import { AssignerProtocol } from "kafkajs";
import { describe, expect, it } from "vitest";
import { RunTracker, allToOneAssigner, applyKeys, compareRuns, parseResult, postSwapKey, stagingKey, type CompleteMessage, type MemberMessage } from "@seg/runtime";

const member = (runId: string, entityId: string, segment = "s"): MemberMessage => ({ type: "member", segment, runId, entityId, metrics: { n: 1 } });
const marker = (runId: string, rows: number, asOf = "2026-11-01T00:00:00Z", segment = "s"): CompleteMessage => ({ type: "complete", segment, runId, version: "v1", asOf, rows });

/** Feeds messages to a tracker as a partition would deliver them. */
function feed(t: RunTracker, partition: number, first: number, msgs: (MemberMessage | CompleteMessage)[], now = 1_000): void {
  msgs.forEach((m, i) => {
    const offset = String(first + i);
    if (m.type === "member") t.member(m, JSON.stringify(m.metrics), partition, offset, now);
    else t.marker(m, Date.parse(m.asOf), partition, offset, now);
  });
}

describe("parseResult", () => {
  it("accepts members and markers of the contract, with the metrics as JSON text and asOf in ms", () => {
    expect(parseResult(JSON.stringify(member("r", "c-1")))).toEqual({ kind: "member", message: member("r", "c-1"), metricsJson: '{"n":1}' });
    expect(parseResult(Buffer.from(JSON.stringify(marker("r", 3))))).toEqual({ kind: "complete", message: marker("r", 3), asOfMs: Date.parse("2026-11-01T00:00:00Z") });
    expect(parseResult(JSON.stringify({ ...member("r", "c-1"), metrics: {} }))).toMatchObject({ kind: "member", metricsJson: "{}" });
    expect(parseResult(JSON.stringify(marker("r", 0)))).toMatchObject({ kind: "complete" });
  });

  it.each([
    ["no value", null],
    ["not JSON", "{oops"],
    ["a JSON array", "[]"],
    ["a JSON string", '"member"'],
    ["an unknown type", JSON.stringify({ type: "other", segment: "s", runId: "r" })],
    ["a member without entityId", JSON.stringify({ type: "member", segment: "s", runId: "r", metrics: {} })],
    ["a member with an empty entityId", JSON.stringify(member("r", ""))],
    ["a member with array metrics", JSON.stringify({ ...member("r", "c"), metrics: [1] })],
    ["a member with null metrics", JSON.stringify({ ...member("r", "c"), metrics: null })],
    ["an empty segment", JSON.stringify(member("r", "c", ""))],
    ["an empty runId", JSON.stringify(member("", "c"))],
    ["negative rows", JSON.stringify(marker("r", -1))],
    ["fractional rows", JSON.stringify(marker("r", 1.5))],
    ["rows as text", JSON.stringify({ ...marker("r", 1), rows: "1" })],
    ["an asOf that is not a date", JSON.stringify(marker("r", 1, "yesterday"))],
    ["a marker without version", JSON.stringify({ type: "complete", segment: "s", runId: "r", asOf: "2026-11-01T00:00:00Z", rows: 1 })],
  ])("rejects %s", (_what, value) => {
    expect(parseResult(value).kind).toBe("malformed");
  });
});

describe("compareRuns", () => {
  it("orders runs by asOf, then by runId; the same run compares equal", () => {
    expect(compareRuns({ asOfMs: 1, runId: "b" }, { asOfMs: 2, runId: "a" })).toBeLessThan(0);
    expect(compareRuns({ asOfMs: 2, runId: "a" }, { asOfMs: 1, runId: "b" })).toBeGreaterThan(0);
    expect(compareRuns({ asOfMs: 1, runId: "a" }, { asOfMs: 1, runId: "b" })).toBeLessThan(0);
    expect(compareRuns({ asOfMs: 1, runId: "a" }, { asOfMs: 1, runId: "a" })).toBe(0);
  });

  it("compares run ids made of digits as numbers, others as text", () => {
    expect(compareRuns({ asOfMs: 1, runId: "9" }, { asOfMs: 1, runId: "10" })).toBeLessThan(0);
    expect(compareRuns({ asOfMs: 1, runId: "100" }, { asOfMs: 1, runId: "99" })).toBeGreaterThan(0);
    expect(compareRuns({ asOfMs: 1, runId: "12" }, { asOfMs: 1, runId: "13" })).toBeLessThan(0);
    expect(compareRuns({ asOfMs: 1, runId: "r9" }, { asOfMs: 1, runId: "r10" })).toBeGreaterThan(0);
  });
});

describe("RunTracker: completion accounting", () => {
  it("is complete with the marker and exactly `rows` distinct members, in any order and across partitions", () => {
    const t = new RunTracker();
    feed(t, 2, 0, [marker("r1", 3)]);
    const run = t.get("s", "r1")!;
    expect(RunTracker.completion(run)).toBe("waiting");
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b")]);
    expect(RunTracker.completion(run)).toBe("waiting");
    feed(t, 1, 0, [member("r1", "c")]);
    expect(RunTracker.completion(run)).toBe("complete");
    expect(RunTracker.count(run)).toBe(3);
  });

  it("counts a member read twice once (a redelivery), and keeps its last metrics", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b"), { ...member("r1", "a"), metrics: { n: 2 } }, marker("r1", 2)]);
    const run = t.get("s", "r1")!;
    expect(RunTracker.completion(run)).toBe("complete");
    expect(run.buffer.get("a")).toBe('{"n":2}');
  });

  it("waits without a marker, and calls a run with more members than its marker says overcount", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b")]);
    expect(RunTracker.completion(t.get("s", "r1")!)).toBe("waiting");
    feed(t, 0, 2, [marker("r1", 1)]);
    expect(RunTracker.completion(t.get("s", "r1")!)).toBe("overcount");
  });

  it("keeps runs of different segments and run ids apart, and the first marker of a run", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r2", "a"), member("r1", "a", "other"), marker("r1", 1), marker("r1", 5)]);
    expect(t.size).toBe(3);
    expect(t.get("s", "r1")!.marker!.rows).toBe(1);
    expect(RunTracker.completion(t.get("s", "r1")!)).toBe("complete");
    expect(RunTracker.completion(t.get("s", "r2")!)).toBe("waiting");
  });

  it("a complete run of zero rows needs only its marker", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [marker("empty", 0)]);
    expect(RunTracker.completion(t.get("s", "empty")!)).toBe("complete");
  });

  it("ignores members and markers of finished runs and remembers what became of them", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), marker("r1", 1)]);
    t.finish(t.get("s", "r1")!, "applied");
    expect(t.member(member("r1", "a"), "{}", 0, "5", 1)).toBeUndefined();
    expect(t.marker(marker("r1", 1), 0, 0, "6", 1)).toBeUndefined();
    expect(t.finishedStatus("s", "r1")).toBe("applied");
    expect(t.size).toBe(0);
  });

  it("forgets the oldest finished runs beyond its limit", () => {
    const t = new RunTracker({ finishedLimit: 2 });
    for (const id of ["r1", "r2", "r3"]) {
      feed(t, 0, 0, [marker(id, 0)]);
      t.finish(t.get("s", id)!, "applied");
    }
    expect(t.finishedStatus("s", "r1")).toBeUndefined();
    expect(t.finishedStatus("s", "r3")).toBe("applied");
  });
});

describe("RunTracker: memory bound and spilling", () => {
  it("spills a run over the per-run limit; a spilled run is judged by its staged count after a flush", () => {
    const t = new RunTracker({ runMemoryLimit: 2, memoryLimit: 100 });
    feed(t, 0, 0, [member("big", "a"), member("big", "b"), member("big", "c"), member("small", "x")]);
    const spilled = t.spill();
    expect(spilled.map((r) => r.runId)).toEqual(["big"]);
    const big = t.get("s", "big")!;
    expect(big.spilled).toBe(true);
    // Both have new ids for their members SETs; only the spilled one has members to stage.
    const small = t.get("s", "small")!;
    expect(t.unflushed()).toEqual([big, small]);
    small.setPending = [];
    expect(t.inMemory()).toBe(1);
    // The marker arrives before the flush: not complete until the members are staged and counted.
    feed(t, 0, 4, [marker("big", 3)]);
    expect(RunTracker.completion(big)).toBe("waiting");
    big.buffer = new Map();
    big.setPending = [];
    big.flushing = 1;
    big.stagedCount = 3;
    expect(RunTracker.completion(big)).toBe("waiting"); // a flush still in flight
    big.flushing = 0;
    expect(RunTracker.completion(big)).toBe("complete");
    expect(t.unflushed()).toEqual([]);
    // Spilled once, spilled for good: new members buffer until the next flush.
    feed(t, 0, 5, [member("big", "d")]);
    expect(t.unflushed()).toEqual([big]);
    expect(t.spill()).toEqual([]);
  });

  it("spills the largest runs when all in-memory runs together pass the total limit", () => {
    const t = new RunTracker({ runMemoryLimit: 100, memoryLimit: 5 });
    feed(t, 0, 0, [member("a", "1"), member("a", "2"), member("b", "1"), member("b", "2"), member("b", "3"), member("c", "1"), member("c", "2")]);
    expect(t.spill().map((r) => r.runId)).toEqual(["b"]);
    expect(t.inMemory()).toBe(4);
  });
});

describe("RunTracker: new ids to flush, and runs being applied", () => {
  it("lists each new entity id once for the run's members SET, and a run is judged only when no flush of it is in flight", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b"), member("r1", "a"), marker("r1", 2)]);
    const run = t.get("s", "r1")!;
    expect(run.setPending).toEqual(["a", "b"]);
    expect(run.setStaged).toBe(false);
    expect(t.unflushed()).toEqual([run]);
    run.flushing = 1;
    expect(RunTracker.completion(run)).toBe("waiting");
    run.flushing = 0;
    expect(RunTracker.completion(run)).toBe("complete");
    run.setPending = [];
    expect(t.unflushed()).toEqual([]);
    feed(t, 0, 4, [member("r1", "b"), member("r1", "c")]);
    expect(run.setPending).toEqual(["c"]);
  });

  it("a run being applied keeps its buffer as it is, holds its commits back, and is neither spilled, idle nor older", () => {
    const t = new RunTracker({ runMemoryLimit: 1, memoryLimit: 1 });
    feed(t, 0, 10, [member("r1", "a"), marker("r1", 1, "2026-11-01T00:00:00Z")], 1_000);
    const run = t.get("s", "r1")!;
    run.applying = true;
    feed(t, 0, 12, [member("r1", "late"), member("r1", "a")], 1_000);
    expect([...run.buffer.keys()]).toEqual(["a"]);
    expect(RunTracker.completion(run)).toBe("applying");
    expect(t.spill()).toEqual([]);
    // Its members still count against the total: another run spills instead.
    feed(t, 0, 14, [member("r2", "b")], 1_000);
    expect(t.spill().map((r) => r.runId)).toEqual(["r2"]);
    expect(run.spilled).toBe(false);
    t.finish(t.get("s", "r2")!, "abandoned");
    expect(t.idleSince(5_000)).toEqual([]);
    expect(t.olderThan("s", { asOfMs: Date.parse("2026-11-05T00:00:00Z"), runId: "r9" })).toEqual([]);
    expect(t.safeOffsets(new Map([[0, 20n]]))).toEqual(new Map([[0, 10n]]));
    t.finish(run, "applied");
    expect(t.safeOffsets(new Map([[0, 20n]]))).toEqual(new Map([[0, 20n]]));
  });
});

describe("RunTracker: how far offsets may be committed", () => {
  it("holds each partition back to the first message of its oldest pending run, and lets go when the run finishes", () => {
    const t = new RunTracker();
    feed(t, 0, 10, [member("r1", "a"), member("r1", "b")]);
    feed(t, 1, 40, [member("r1", "c")]);
    feed(t, 0, 12, [member("r2", "a")]);
    const positions = new Map([
      [0, 13n],
      [1, 41n],
      [2, 7n],
    ]);
    expect(t.safeOffsets(positions)).toEqual(
      new Map([
        [0, 10n],
        [1, 40n],
        [2, 7n],
      ]),
    );
    t.finish(t.get("s", "r1")!, "applied");
    expect(t.safeOffsets(positions)).toEqual(
      new Map([
        [0, 12n],
        [1, 41n],
        [2, 7n],
      ]),
    );
    t.finish(t.get("s", "r2")!, "stale");
    expect(t.safeOffsets(positions)).toEqual(positions);
  });

  it("after a reset (rebalance, rewind) nothing is pending or remembered", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), marker("r2", 0)]);
    t.finish(t.get("s", "r2")!, "applied");
    t.reset();
    expect(t.size).toBe(0);
    expect(t.finishedStatus("s", "r2")).toBeUndefined();
    expect(t.safeOffsets(new Map([[0, 2n]]))).toEqual(new Map([[0, 2n]]));
  });

  it("finds older pending runs of a segment (by their marker) and idle runs", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [marker("r1", 5, "2026-11-01T00:00:00Z"), member("r0", "a"), marker("r3", 5, "2026-11-03T00:00:00Z")], 1_000);
    feed(t, 0, 3, [marker("x", 5, "2026-10-01T00:00:00Z", "other")], 5_000);
    expect(t.olderThan("s", { asOfMs: Date.parse("2026-11-02T00:00:00Z"), runId: "r2" }).map((r) => r.runId)).toEqual(["r1"]);
    expect(t.idleSince(2_000).map((r) => r.runId)).toEqual(["r1", "r0", "r3"]);
  });
});

describe("mover keys", () => {
  it("puts staging, temporary and post-swap keys under the prefix", () => {
    expect(stagingKey("seg:", "vip", "run-1")).toBe("seg:staging:vip:run-1");
    expect(postSwapKey("seg:", "vip")).toBe("seg:mover:post:vip");
    expect(applyKeys("seg:", "vip", "run-1")).toEqual({
      set: "seg:mover:tmp:vip:run-1:set",
      entered: "seg:mover:tmp:vip:run-1:entered",
      left: "seg:mover:tmp:vip:run-1:left",
      old: "seg:mover:tmp:vip:run-1:old",
    });
  });
});

describe("allToOneAssigner", () => {
  it("gives every partition to the first member by id and nothing to the others", async () => {
    const cluster = { findTopicPartitionMetadata: (topic: string) => (topic === "t" ? [0, 1, 2] : [0]).map((partitionId) => ({ partitionId })) };
    const assigner = allToOneAssigner(AssignerProtocol)({ cluster, groupId: "g", logger: {} } as never);
    const out = await assigner.assign({ members: [{ memberId: "m-b", memberMetadata: Buffer.alloc(0) }, { memberId: "m-a", memberMetadata: Buffer.alloc(0) }], topics: ["t", "u"] });
    const decoded = Object.fromEntries(out.map((o) => [o.memberId, AssignerProtocol.MemberAssignment.decode(o.memberAssignment)!.assignment]));
    expect(decoded).toEqual({ "m-a": { t: [0, 1, 2], u: [0] }, "m-b": {} });
    expect(assigner.protocol({ topics: ["t"] }).name).toBe("SegMoverAllToOne");
  });
});
