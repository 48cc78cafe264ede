import { Command } from "ioredis";
import { AssignerProtocol } from "kafkajs";
import { describe, expect, it } from "vitest";
import { PackedMembers, RunTracker, allToOneAssigner, applyKeys, compareRuns, parseResult, postSwapKey, stagingKey, respCommand, type CompleteMessage, type MemberMessage, type PendingRun } from "@seg/runtime";

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

/** Reads RESP bulk strings (`$len\r\nbytes\r\n`…) back as text. */
function bulkStrings(buf: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < buf.length) {
    const eol = buf.indexOf("\r\n", at);
    expect(buf[at]).toBe(0x24);
    const n = Number(buf.toString("latin1", at + 1, eol));
    out.push(buf.toString("utf8", eol + 2, eol + 2 + n));
    expect(buf.toString("latin1", eol + 2 + n, eol + 4 + n)).toBe("\r\n");
    at = eol + 4 + n;
  }
  return out;
}

/** A run's buffered members as id, metrics pairs (the HSET arguments); checks the SADD arguments are their ids. */
function buffered(run: PendingRun): string[] {
  const chunks = run.packed.chunks();
  const pairs = chunks.flatMap((c) => bulkStrings(c.fields));
  expect(chunks.flatMap((c) => bulkStrings(c.ids))).toEqual(pairs.filter((_, i) => i % 2 === 0));
  return pairs;
}

/**
 * Stands in for MoverStore.flush (Redis is tested in mover-store): takes each unflushed run's
 * members into a per-run map (id → metrics, as the staged hash would hold them) and sets the
 * staged count to its size.
 */
function stage(t: RunTracker, staged = new Map<string, Map<string, string>>()): Map<string, Map<string, string>> {
  for (const run of t.unflushed()) {
    const hash = staged.get(run.key) ?? new Map<string, string>();
    const pairs = buffered(run);
    for (let i = 0; i < pairs.length; i += 2) hash.set(pairs[i]!, pairs[i + 1]!);
    run.packed = new PackedMembers(run.packed.chunkMembers);
    staged.set(run.key, hash);
    run.stagedCount = hash.size;
  }
  return staged;
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
  it("is complete with the marker and exactly `rows` distinct members staged, in any order and across partitions", () => {
    const t = new RunTracker();
    feed(t, 2, 0, [marker("r1", 3)]);
    const run = t.get("s", "r1")!;
    expect(RunTracker.completion(run)).toBe("waiting");
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b")]);
    const staged = stage(t);
    expect(RunTracker.completion(run)).toBe("waiting");
    feed(t, 1, 0, [member("r1", "c")]);
    // Read but not staged yet: not judged.
    expect(RunTracker.completion(run)).toBe("waiting");
    stage(t, staged);
    expect(RunTracker.completion(run)).toBe("complete");
    expect(RunTracker.count(run)).toBe(3);
  });

  it("buffers every member read (a redelivery too) for staging, which counts it once", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b"), { ...member("r1", "a"), metrics: { n: 2 } }, marker("r1", 2)]);
    const run = t.get("s", "r1")!;
    expect(buffered(run)).toEqual(["a", '{"n":1}', "b", '{"n":1}', "a", '{"n":2}']);
    expect(t.inMemory()).toBe(3);
    const staged = stage(t);
    expect(t.inMemory()).toBe(0);
    expect(RunTracker.completion(run)).toBe("complete");
    expect(staged.get(run.key)!.get("a")).toBe('{"n":2}');
  });

  it("waits without a marker, and calls a run with more members staged than its marker says overcount", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b")]);
    stage(t);
    expect(RunTracker.completion(t.get("s", "r1")!)).toBe("waiting");
    feed(t, 0, 2, [marker("r1", 1)]);
    expect(RunTracker.completion(t.get("s", "r1")!)).toBe("overcount");
  });

  it("keeps runs of different segments and run ids apart, and the first marker of a run", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r2", "a"), member("r1", "a", "other"), marker("r1", 1), marker("r1", 5)]);
    stage(t);
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

describe("PackedMembers", () => {
  it("packs members as HSET (id, metrics) and SADD (id) arguments in RESP, cut into chunks of whole members", () => {
    const p = new PackedMembers(2, 8);
    const ids = ["c-0", "new\nline", "é".repeat(60), "", "c-4"];
    ids.forEach((id, i) => p.add(id, `{"i":${i},"s":"é"}`));
    const long = Buffer.from(`xx${"m".repeat(200)}yy`);
    p.idBytes(Buffer.from("ab c-9 cd"), 3, 6);
    p.metricsBytes(long, 2, 202);
    expect(p.count).toBe(6);
    const chunks = p.chunks();
    expect(chunks.map((c) => c.members)).toEqual([2, 2, 2]);
    const fields = chunks.flatMap((c) => bulkStrings(c.fields));
    expect(fields).toEqual([...ids.flatMap((id, i) => [id, `{"i":${i},"s":"é"}`]), "c-9", "m".repeat(200)]);
    expect(chunks.flatMap((c) => bulkStrings(c.ids))).toEqual([...ids, "c-9"]);
    expect(new PackedMembers(2).chunks()).toEqual([]);
  });

  it("a command with packed arguments goes on the wire as one RESP array", () => {
    const p = new PackedMembers(10);
    p.add("a", "{}");
    const [chunk] = p.chunks();
    const wire = respCommand(Command, "HSET", "k:é", 2, chunk!.fields).toWritable({});
    expect(wire.toString("utf8")).toBe("*4\r\n$4\r\nHSET\r\n$4\r\nk:é\r\n$1\r\na\r\n$2\r\n{}\r\n");
  });
});

describe("RunTracker: staging, and runs being applied", () => {
  it("lists the runs with members to stage, and judges a run only when no flush of it is in flight", () => {
    const t = new RunTracker();
    feed(t, 0, 0, [member("r1", "a"), member("r1", "b"), member("r2", "x"), marker("r1", 2)]);
    const [r1, r2] = [t.get("s", "r1")!, t.get("s", "r2")!];
    expect(t.unflushed()).toEqual([r1, r2]);
    const staged = stage(t);
    expect(t.unflushed()).toEqual([]);
    r1.flushing = 1;
    expect(RunTracker.completion(r1)).toBe("waiting");
    r1.flushing = 0;
    expect(RunTracker.completion(r1)).toBe("complete");
    feed(t, 0, 4, [member("r1", "b"), member("r1", "c")]);
    expect(t.unflushed()).toEqual([r1]);
    expect(RunTracker.completion(r1)).toBe("waiting");
    stage(t, staged);
    expect(RunTracker.completion(r1)).toBe("overcount");
  });

  it("a run being applied buffers nothing more, holds its commits back, and is neither idle nor older", () => {
    const t = new RunTracker();
    feed(t, 0, 10, [member("r1", "a"), marker("r1", 1, "2026-11-01T00:00:00Z")], 1_000);
    stage(t);
    const run = t.get("s", "r1")!;
    run.applying = true;
    feed(t, 0, 12, [member("r1", "late"), member("r1", "a")], 1_000);
    expect(buffered(run)).toEqual([]);
    expect(t.unflushed()).toEqual([]);
    expect(RunTracker.completion(run)).toBe("applying");
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
