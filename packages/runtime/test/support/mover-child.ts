/**
 * The mover in a child process, so a test can kill it with SIGKILL (no chance to finish a batch,
 * commit or disconnect), or have it kill itself at a given phase of an apply. The child runs the
 * BUILT runtime (packages/runtime/dist: run `pnpm build` first) and reports on stdout, one JSON
 * object per line: {"event":"ready"}, {"event":"outcome",...}, {"event":"phase",...}.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SegmentTarget } from "@seg/runtime";

const distIndex = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
const srcMover = fileURLToPath(new URL("../../src/mover/mover.ts", import.meta.url));

export interface ChildConfig {
  brokers: string[];
  groupId: string;
  resultsTopic: string;
  changesTopic: string;
  redisUrl: string;
  redisPrefix: string;
  targets: Record<string, SegmentTarget>;
  diffMaxMembers?: number;
  chunkSize?: number;
  sessionTimeoutMs?: number;
  /** The child SIGKILLs itself when an apply reaches this phase. */
  crashAt?: "prepared" | "swapped" | "changes-published";
  /** Only for this run (default: any run). */
  crashRun?: string;
}

const CHILD = `
const cfg = JSON.parse(process.env.SEG_MOVER_CHILD);
const { startMover } = await import(process.env.SEG_RUNTIME_DIST);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const mover = await startMover({
  brokers: cfg.brokers, groupId: cfg.groupId, resultsTopic: cfg.resultsTopic, changesTopic: cfg.changesTopic,
  redisUrl: cfg.redisUrl, redisPrefix: cfg.redisPrefix, lagIntervalMs: 0,
  lookupSegment: (s) => cfg.targets[s],
  ...(cfg.diffMaxMembers !== undefined ? { diffMaxMembers: cfg.diffMaxMembers } : {}),
  ...(cfg.chunkSize ? { chunkSize: cfg.chunkSize } : {}),
  ...(cfg.sessionTimeoutMs ? { sessionTimeoutMs: cfg.sessionTimeoutMs } : {}),
  log: (level, message) => { if (level !== "debug") process.stderr.write(level + " " + message + "\\n"); },
  hooks: { phase: (phase, run) => {
    say({ event: "phase", phase, ...run });
    if (phase === cfg.crashAt && (!cfg.crashRun || run.runId === cfg.crashRun)) process.kill(process.pid, "SIGKILL");
  } },
});
mover.events.on("outcome", (o) => say({ event: "outcome", ...o }));
process.on("SIGTERM", () => { mover.stop().then(() => process.exit(0)); });
say({ event: "ready" });
`;

export interface MoverChild {
  proc: ChildProcess;
  /** Lines of JSON the child printed so far. */
  events: Record<string, unknown>[];
  stderr: string[];
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnMoverChild(config: ChildConfig): MoverChild {
  if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run \`pnpm build\` before the mover's crash tests`);
  if (statSync(distIndex.replace(/index\.js$/, "mover/mover.js")).mtimeMs < statSync(srcMover).mtimeMs) {
    throw new Error("packages/runtime/dist is older than src/mover: run `pnpm build` before the mover's crash tests");
  }
  const proc = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { ...process.env, SEG_MOVER_CHILD: JSON.stringify(config), SEG_RUNTIME_DIST: new URL(`file://${distIndex}`).href },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  let buf = "";
  proc.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim() === "") continue;
      const ev = JSON.parse(line) as Record<string, unknown>;
      events.push(ev);
      if (ev["event"] === "ready") resolveReady();
    }
  });
  proc.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once("exit", (code, signal) => {
      rejectReady(new Error(`mover child exited (${code ?? signal}) before it was ready:\n${stderr.join("")}`));
      res({ code, signal });
    }),
  );
  return { proc, events, stderr, ready, exited };
}
