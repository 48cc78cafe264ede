/**
 * Opt-in CPU profiles of a benchmark's measured part: with SEG_BENCH_PROFILE_DIR set, `profiled`
 * records a V8 CPU profile of `fn` (in process, through the inspector) into that directory as
 * `<name>.cpuprofile`, viewable in Chrome DevTools or speedscope. Without it, `fn` just runs.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

/** Runs `fn`, profiled into `$SEG_BENCH_PROFILE_DIR/<name>.cpuprofile` when that variable is set. */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env["SEG_BENCH_PROFILE_DIR"];
  if (!dir) return fn();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await fn();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}
