/**
 * The whole runtime (ingestion, jobs, mover) in a child process, so a test can kill it with
 * SIGKILL in the middle of its work. The child runs the BUILT runtime (packages/runtime/dist: run
 * `pnpm build` first) and reports on stdout, one JSON object per line: {"event":"ready"},
 * {"event":"job-start","id"}, {"event":"run",...RunRecord}, {"event":"log","level","message"}.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RuntimeOptions } from "@seg/runtime";

const distIndex = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
const distRuntime = fileURLToPath(new URL("../../dist/runner/runtime.js", import.meta.url));
const srcRuntime = fileURLToPath(new URL("../../src/runner/runtime.ts", import.meta.url));
/** tsc -b rewrites it on every build, also when it leaves unchanged outputs alone. */
const buildInfo = fileURLToPath(new URL("../../tsconfig.tsbuildinfo", import.meta.url));

/** The options a child gets (plain JSON: no log, registry or clock). */
export type ChildRuntimeOptions = Omit<RuntimeOptions, "log" | "registry" | "now" | "cleanupRetired">;

const CHILD = `
const opts = JSON.parse(process.env.SEG_RUNTIME_CHILD);
const { startRuntime } = await import(process.env.SEG_RUNTIME_DIST);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const rt = await startRuntime({ ...opts, log: (level, message) => say({ event: "log", level, message }) });
rt.events.on("job-start", (job) => say({ event: "job-start", id: job.id }));
rt.events.on("run", (r) => say({ event: "run", ...r }));
process.on("SIGTERM", () => void rt.stop("SIGTERM").then(() => process.exit(0)));
say({ event: "ready" });
`;

/** One line the child reported. */
export type ChildEvent = { event: string; [k: string]: unknown };

/** A runtime child process. */
export interface RuntimeChild {
  child: ChildProcess;
  events: ChildEvent[];
  /** Resolves with the first event (from `from` on) that `match` accepts. */
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs?: number, from?: number): Promise<ChildEvent>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Throws when the built runtime is missing or older than its sources. */
export function checkRuntimeBuilt(): void {
  const built = Math.max(existsSync(distRuntime) ? statSync(distRuntime).mtimeMs : 0, existsSync(buildInfo) ? statSync(buildInfo).mtimeMs : 0);
  if (!existsSync(distIndex) || built < statSync(srcRuntime).mtimeMs) {
    throw new Error("packages/runtime/dist is missing or older than src: run `pnpm build` (or `npx tsc -b packages/runtime`) first");
  }
}

/** Starts the runtime in a child process. */
export function spawnRuntimeChild(options: ChildRuntimeOptions): RuntimeChild {
  checkRuntimeBuilt();
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { ...process.env, SEG_RUNTIME_CHILD: JSON.stringify(options), SEG_RUNTIME_DIST: distIndex },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: ChildEvent[] = [];
  const listeners = new Set<() => void>();
  let partial = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    partial += s;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        events.push(JSON.parse(line) as ChildEvent);
      } catch {
        events.push({ event: "text", text: line });
      }
    }
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const waitFor = (match: (e: ChildEvent) => boolean, timeoutMs = 60_000, from = 0) =>
    new Promise<ChildEvent>((resolve, reject) => {
      let done = false;
      const check = () => {
        const found = events.slice(from).find(match);
        if (found && !done) {
          done = true;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`the runtime child did not report what was awaited in ${timeoutMs} ms; stderr:\n${err}\nlast events:\n${events.slice(-20).map((e) => JSON.stringify(e)).join("\n")}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => {
        if (!done && listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`the runtime child exited; stderr:\n${err}`));
        }
      });
      check();
    });
  return { child, events, waitFor, exited, stderr: () => err };
}
