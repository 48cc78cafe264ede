/**
 * The live `seg status` view (ink), rendered into fake terminal streams: it shows the tables,
 * refreshes, and quits on `q`.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { RuntimeStatus } from "@seg/runtime";
import { formatStatus } from "../../src/status-view/format.js";

function status(rows: number, at: string): RuntimeStatus {
  return {
    generatedAt: at,
    database: { url: "postgres://127.0.0.1:5432/test", schema: "seg", deployed: true },
    pipelines: [
      {
        segment: "high_value",
        version: "sha256:0123456789abcdef",
        shortVersion: "sha256:0123456789ab",
        status: "active",
        refreshSeconds: 900,
        updatedAt: at,
        lastRun: { id: "7", status: "succeeded", version: "sha256:0123456789abcdef", engine: "embedded", asOf: at, startedAt: at, endedAt: at, durationMs: 1234, rows, error: null },
        size: rows,
        membersKey: "seg:segment:high_value:members",
      },
      {
        segment: "churned",
        version: "sha256:fedcba9876543210",
        shortVersion: "sha256:fedcba987654",
        status: "active",
        refreshSeconds: 3600,
        updatedAt: at,
        lastRun: { id: "8", status: "failed", version: "sha256:fedcba9876543210", engine: "embedded", asOf: at, startedAt: at, endedAt: at, durationMs: 50, rows: null, error: "evaluation failed: boom" },
        size: 0,
        membersKey: "seg:segment:churned:members",
      },
    ],
    runs: { queued: 0, running: 0, failedLastHour: 1, succeededLastHour: 1 },
    streams: [{ stream: "seg-ingest.seg", topic: "seg.events.purchase", partition: 0, offset: "107", received: 108, valid: 107, invalid: 1, lag: 0, lastEventTime: at, updatedAt: at }],
    deadLetters: { total: 1, byTopic: { "seg.events.purchase": 1 } },
  };
}

function fakeTerminal() {
  const stdout = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = "";
  (stdout as PassThrough).on("data", (b: Buffer) => (text += b.toString("utf8")));
  Object.assign(stdout, { isTTY: true, columns: 160, rows: 40 });
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  Object.assign(stdin, { isTTY: true, setRawMode: () => stdin, ref: () => stdin, unref: () => stdin });
  const stderr = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  Object.assign(stderr, { isTTY: true });
  return { stdout, stdin, stderr, text: () => text };
}

/**
 * Ink draws only the last frame when it believes it runs in CI (it reads CI once, when it loads),
 * so the live view is loaded here with that detection off; `seg status` itself prints plain text
 * in CI.
 */
async function loadLiveViewOutsideCi(): Promise<typeof import("../../src/status-view/live-view.js")> {
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  try {
    return await import("../../src/status-view/live-view.js");
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

describe("the live status view", () => {
  it("shows the tables, refreshes, and quits on q", async () => {
    const { runLiveView } = await loadLiveViewOutsideCi();
    const term = fakeTerminal();
    let loads = 0;
    const view = runLiveView({
      first: status(5, "2026-11-01T00:00:00.000Z"),
      load: async () => {
        loads++;
        return status(6, "2026-11-01T00:00:02.000Z");
      },
      intervalMs: 50,
      stdout: term.stdout,
      stdin: term.stdin,
      stderr: term.stderr,
    });
    // Ink and React load on first use: on a busy machine the first frame can take a while.
    const deadline = Date.now() + 15_000;
    while (!(loads > 0 && term.text().includes("2026-11-01 00:00:02Z")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(loads).toBeGreaterThan(0);
    const shown = term.text();
    expect(shown).toContain("pipelines in schema seg (postgres://127.0.0.1:5432/test): 2 active, 0 retired");
    expect(shown).toMatch(/SEGMENT +VERSION +STATUS +REFRESH +LAST RUN/);
    expect(shown).toMatch(/high_value +sha256:0123456789ab +active +15m +succeeded/);
    expect(shown).toContain("evaluation failed: boom");
    expect(shown).toContain("dead letters: 1 (seg.events.purchase: 1)");
    expect(shown).toContain("q to quit");
    expect(shown).toContain("2026-11-01 00:00:02Z"); // refreshed
    term.stdin.write("q");
    await view;
  });

  it("plain text says whether a retired segment's Redis keys are deleted yet", () => {
    const s = status(5, "2026-11-01T00:00:00.000Z");
    const [a, b] = s.pipelines;
    s.pipelines = [
      { ...a!, status: "retired", size: null, redisCleanup: "pending" },
      { ...b!, status: "retired", size: null, redisCleanup: "deleted" },
    ];
    const lines = formatStatus(s).split("\n");
    expect(lines[0]).toContain("0 active, 2 retired");
    expect(lines.find((l) => l.startsWith("high_value"))).toMatch(/ retired \(keys pending\) /);
    expect(lines.find((l) => l.startsWith("churned"))).toMatch(/ retired \(keys deleted\) /);
  });

  it("plain text has the same tables", () => {
    const text = formatStatus(status(5, "2026-11-01T00:00:00.000Z"));
    expect(text.split("\n").slice(0, 4)).toEqual([
      "pipelines in schema seg (postgres://127.0.0.1:5432/test): 2 active, 0 retired",
      "SEGMENT     VERSION              STATUS  REFRESH  LAST RUN   STARTED               DURATION  ROWS  SIZE  ERROR",
      "high_value  sha256:0123456789ab  active  15m      succeeded  2026-11-01 00:00:00Z  1.2s      5     5",
      "churned     sha256:fedcba987654  active  1h       failed     2026-11-01 00:00:00Z  50ms      -     0     evaluation failed: boom",
    ]);
    expect(text).toContain("runs: 0 queued, 0 running; last hour: 1 succeeded, 1 failed");
    expect(text).toContain("STREAM          TOPIC                PART  OFFSET  RECEIVED  VALID  INVALID  LAG  LAST EVENT");
  });
});
