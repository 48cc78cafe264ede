/** The contract between bench/run.js and a benchmark module (`bench/<name>.bench.ts`). */

/** What the runner hands a benchmark. */
export interface BenchContext {
  /** ISO date-time of the run. */
  date: string;
  /** `os.cpus()[0].model`. */
  cpu: string;
  /** How the process was pinned, e.g. "CPU 0 (taskset)" or "no (taskset not available)". */
  pinned: string;
  /** Progress output (stderr), not part of the result. */
  log(message: string): void;
}

/** What a benchmark returns; the runner writes `markdown` to bench/results/<name>.md and prints it. */
export interface BenchResult {
  markdown: string;
  /** False when a target was missed (`node bench/run.js --strict` then exits non-zero). */
  ok: boolean;
}

/** The default export of a benchmark module. */
export interface Benchmark {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}
