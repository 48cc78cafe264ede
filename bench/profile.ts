/**
 * Opt-in profiles of a benchmark's measured part: with SEG_BENCH_PROFILE_DIR set, `profiled`
 * records a V8 CPU profile of `fn` (in process, through the inspector) into that directory as
 * `<name>.cpuprofile`; with SEG_BENCH_HEAP_PROFILE_DIR set, a sampling allocation profile (objects
 * collected since included: where the garbage comes from) as `<name>.heapprofile`. Both open in
 * Chrome DevTools or speedscope. Without them, `fn` just runs.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

/** Runs `fn`, profiled into `$SEG_BENCH_PROFILE_DIR/<name>.cpuprofile` and/or `$SEG_BENCH_HEAP_PROFILE_DIR/<name>.heapprofile`. */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const cpuDir = process.env["SEG_BENCH_PROFILE_DIR"];
  const heapDir = process.env["SEG_BENCH_HEAP_PROFILE_DIR"];
  if (!cpuDir && !heapDir) return fn();
  const session = new Session();
  session.connect();
  if (cpuDir) {
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  if (heapDir) {
    await session.post("HeapProfiler.enable");
    await session.post("HeapProfiler.startSampling", { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  try {
    return await fn();
  } finally {
    if (cpuDir) {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(join(cpuDir, `${name}.cpuprofile`), JSON.stringify(profile));
    }
    if (heapDir) {
      const { profile } = await session.post("HeapProfiler.stopSampling");
      writeFileSync(join(heapDir, `${name}.heapprofile`), JSON.stringify(profile));
    }
    session.disconnect();
  }
}
