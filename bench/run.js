#!/usr/bin/env node
/**
 * Benchmark runner: a small registry of benchmark modules.
 *
 *   node bench/run.js                 run every benchmark
 *   node bench/run.js parse [...]     run the named ones
 *   node bench/run.js --list          list them
 *   options: --strict (exit 1 when a target is missed), --no-pin (do not pin to one CPU)
 *
 * A benchmark is a module `bench/<name>.bench.ts` (compiled by `tsc -p bench` to
 * bench/dist/<name>.bench.js; `pnpm bench` does that after `pnpm build`) or a plain
 * `bench/<name>.bench.js`. Its default export is `{ name, description, run(ctx) }` (see
 * bench/types.ts); `run` resolves to `{ markdown, ok }`. Each benchmark runs in its own Node
 * process with --expose-gc, pinned to one CPU with `taskset` when available (SEG_BENCH_CPU picks
 * which; default the last), unless its module declares `cpus: "all"` (e.g. Spark in local[2]
 * mode, which needs every core). The runner writes the markdown to bench/results/<name>.md and
 * prints it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, "results");

/** name -> module path, from bench/dist/*.bench.js and bench/*.bench.js. */
function registry() {
  const found = new Map();
  for (const dir of [join(here, "dist"), here]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      const m = /^(.+)\.bench\.js$/.exec(f);
      if (m && !found.has(m[1])) found.set(m[1], join(dir, f));
    }
  }
  return found;
}

async function child(modulePath) {
  const mod = await import(pathToFileURL(modulePath).href);
  const bench = mod.default;
  const ctx = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? "unknown",
    pinned: process.env.SEG_BENCH_PINNED ?? "no",
    log: (msg) => process.stderr.write(`[${bench.name}] ${msg}\n`),
  };
  const result = await bench.run(ctx);
  mkdirSync(resultsDir, { recursive: true });
  const out = join(resultsDir, `${bench.name}.md`);
  writeFileSync(out, result.markdown);
  process.stdout.write(`${result.markdown}\n(written to ${out})\n`);
  process.exitCode = result.ok ? 0 : 2;
}

function canPin() {
  if (process.platform !== "linux") return false;
  return spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0;
}

/** True when the benchmark module declares `cpus: "all"` (it must not be pinned to one CPU). */
async function wantsAllCpus(modulePath) {
  const mod = await import(pathToFileURL(modulePath).href);
  return mod.default?.cpus === "all";
}

async function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith("--")));
  const names = argv.filter((a) => !a.startsWith("--"));
  const all = registry();
  if (flags.has("--list")) {
    for (const [name, path] of all) console.log(`${name}\t${path}`);
    return 0;
  }
  const selected = names.length > 0 ? names : [...all.keys()];
  const unknown = selected.filter((n) => !all.has(n));
  if (unknown.length > 0 || selected.length === 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ") || "(none found)"}; known: ${[...all.keys()].join(", ") || "none"}`);
    console.error("(TypeScript benchmarks are compiled by `tsc -p bench`; `pnpm bench` does that.)");
    return 1;
  }
  const pin = !flags.has("--no-pin") && canPin();
  const cpu = process.env.SEG_BENCH_CPU ?? String(Math.max(0, cpus().length - 1));
  let status = 0;
  for (const name of selected) {
    const nodeArgs = ["--expose-gc", fileURLToPath(import.meta.url), "--child", all.get(name)];
    const allCpus = await wantsAllCpus(all.get(name));
    const pinThis = pin && !allCpus;
    const [cmd, args] = pinThis ? ["taskset", ["-c", cpu, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const env = { ...process.env, SEG_BENCH_PINNED: pinThis ? `CPU ${cpu} (taskset)` : allCpus ? "no (the benchmark uses every CPU)" : "no" };
    const r = spawnSync(cmd, args, { stdio: "inherit", env });
    if (r.status === 2) {
      console.error(`[${name}] target missed`);
      if (flags.has("--strict")) status = 1;
    } else if (r.status !== 0) {
      console.error(`[${name}] failed (exit ${r.status ?? r.signal})`);
      status = 1;
    }
  }
  return status;
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") await child(argv[1]);
else process.exitCode = await main(argv);
