import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const bin = join(root, "packages/cli/dist/bin.js");
const tracer = fileURLToPath(new URL("../support/trace-imports.mjs", import.meta.url));

function modulesLoadedBy(args: string[]): string[] {
  const file = join(mkdtempSync(join(tmpdir(), "seg-trace-")), "modules.txt");
  const r = spawnSync("node", ["--import", tracer, bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, SEG_TRACE_IMPORTS: file } });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(file, "utf8").split("\n").filter(Boolean);
}

describe("start-up cost", () => {
  it("seg check loads no Kafka, Postgres, Redis, ink or DuckDB code", () => {
    const loaded = modulesLoadedBy(["check", "examples"]);
    expect(loaded.some((u) => u.includes("/packages/compiler/"))).toBe(true);
    const heavy = loaded.filter((u) => /node_modules\/(\.pnpm\/)?(kafkajs|pg|pg-[a-z]+|ioredis|ink|react|@duckdb)[@/]/.test(u));
    expect(heavy).toEqual([]);
  });

  it("seg deploy --dry-run loads no DuckDB, Fastify, ink or Spark code (only what a deploy needs)", () => {
    const loaded = modulesLoadedBy(["deploy", "--dry-run", "examples"]);
    expect(loaded.some((u) => u.includes("/packages/runtime/"))).toBe(true);
    const heavy = loaded.filter((u) => /node_modules\/(\.pnpm\/)?(@duckdb|fastify|@fastify|ink|react|ws)[@/]/.test(u));
    expect(heavy).toEqual([]);
  });

  it("seg eval does load the DuckDB engine (so the check above can fail)", () => {
    const loaded = modulesLoadedBy(["eval", "examples/rules/high_value.seg"]);
    expect(loaded.some((u) => u.includes("@duckdb"))).toBe(true);
  });
});
