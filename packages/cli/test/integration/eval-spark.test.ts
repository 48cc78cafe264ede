/**
 * `seg eval --engine spark`: the same output as the embedded DuckDB engine, data problems shown
 * the same way, a clear failure when Spark is not set up, and DuckDB runs that never load the
 * runtime (where the Spark wrapper lives). The Spark runs need `infra/spark/setup.sh` (skipped
 * otherwise, like the other Spark tests); each starts a JVM (tens of seconds on 2 cores).
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ensureSpark } from "@seg/runtime";
import { runCli } from "../support/memory-io.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const bin = join(root, "packages/cli/dist/bin.js");
const tracer = fileURLToPath(new URL("../support/trace-imports.mjs", import.meta.url));
const AS_OF = "2026-11-01T00:00:00Z";
const SPARK_TIMEOUT = 600_000;
const sparkReady = ensureSpark(process.env).ready;

/** Runs the built `seg` with an import tracer: exit code, stderr and the modules it resolved. */
function traced(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; modules: string[] } {
  const file = join(mkdtempSync(join(tmpdir(), "seg-trace-")), "modules.txt");
  const r = spawnSync("node", ["--import", tracer, bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env, SEG_TRACE_IMPORTS: file } });
  const modules = readFileSync(file, "utf8").split("\n").filter(Boolean);
  return { status: r.status, stderr: r.stderr, modules };
}

const loadsRuntime = (modules: string[]) => modules.some((u) => u.includes("/packages/runtime/"));

describe("seg eval --engine", () => {
  it("runs on DuckDB by default without loading the runtime; --engine spark loads it", () => {
    const duck = traced(["eval", "examples/rules/high_value.seg"]);
    expect(duck.status, duck.stderr).toBe(0);
    expect(duck.modules.some((u) => u.includes("@duckdb"))).toBe(true);
    expect(loadsRuntime(duck.modules)).toBe(false);

    // Spark "set up" in an empty folder: the runtime is loaded, and the run stops with a clear message.
    const spark = traced(["eval", "--engine", "spark", "examples/rules/high_value.seg"], { SEG_SPARK_HOME: mkdtempSync(join(tmpdir(), "seg-no-spark-")), SEG_SPARK_JAR: "" });
    expect(loadsRuntime(spark.modules)).toBe(true);
    expect(spark.modules.some((u) => u.includes("@duckdb"))).toBe(false);
    expect(spark.status).toBe(1);
    expect(spark.stderr).toMatch(/^seg eval: Spark is not set up \(.*no driver jar.*\); run: bash .*infra\/spark\/setup\.sh/);
  });

  it("rejects an unknown engine as a usage error", async () => {
    const r = await runCli(["eval", "--engine", "presto", "examples"], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--engine <engine>.*presto.*duckdb, spark/s);
    expect(r.stdout).toBe("");
  });

  describe.skipIf(!sparkReady)("on Spark", () => {
    const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));

    it(
      "prints exactly what DuckDB prints for the examples (json with metrics)",
      async () => {
        const args = ["eval", "examples", "--as-of", AS_OF, "--format", "json", "--metrics"];
        const duck = await runCli(args, { cwd: root, env });
        const spark = await runCli([...args, "--engine", "spark"], { cwd: root, env });
        expect(duck.code, duck.stderr).toBe(0);
        expect(spark.code, spark.stderr).toBe(0);
        expect(spark.stderr).toBe("");
        expect(spark.stdout).toBe(duck.stdout);
        // the comparison means something: members with metrics
        const segments = (JSON.parse(spark.stdout) as { segments: Record<string, { size: number; metrics: Record<string, Record<string, unknown>> }> }).segments;
        expect(Object.values(segments).filter((s) => s.size > 0 && Object.values(s.metrics).some((m) => Object.keys(m).length > 0)).length).toBeGreaterThan(5);
      },
      SPARK_TIMEOUT,
    );

    it(
      "leaves malformed rows out, reports them like DuckDB and exits 1, with the same table",
      async () => {
        const data = mkdtempSync(join(tmpdir(), "seg-eval-spark-"));
        cpSync(join(root, "examples", "data"), data, { recursive: true });
        appendFileSync(join(data, "purchase.jsonl"), '{"event_id": "broken", "customer_id": "c040",\n');
        const args = ["eval", "examples/rules/high_value.seg", "examples/rules/churned.seg", "--data", data, "--as-of", AS_OF];
        const duck = await runCli(args, { cwd: root, env });
        const spark = await runCli([...args, "--engine", "spark"], { cwd: root, env });
        expect(duck.code).toBe(1);
        expect(spark.code).toBe(1);
        expect(spark.stdout).toBe(duck.stdout);
        const file = join(data, "purchase.jsonl");
        // DuckDB names the line; Spark reads in parallel and names the file
        expect(duck.stderr).toContain(`${file}:109: error: `);
        expect(spark.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: error: .*broken`, "m"));
      },
      SPARK_TIMEOUT,
    );
  });
});
