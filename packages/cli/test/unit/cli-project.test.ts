import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/memory-io.js";

const examples = fileURLToPath(new URL("../../../../examples/", import.meta.url));

/** A copy of the example project we may break. */
function exampleCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "seg-proj-"));
  cpSync(examples, dir, { recursive: true });
  return dir;
}

const BROKEN_RULE = `segment typo {\n  where sum(purchase.amout in last 30 days) > 10\n}\n`;

describe("seg check", () => {
  it("passes on the examples from the repository root", async () => {
    const r = await runCli(["check", "examples"], { cwd: fileURLToPath(new URL("../../../../", import.meta.url)) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("14 files checked: no problems\n");
  });

  it("reports an unknown field with a hint, located, and exits 1", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "typo.seg"), BROKEN_RULE);
    const r = await runCli(["check"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("rules/typo.seg:2:22: error SEG031 unknown-field: event purchase has no field amout");
    expect(r.stdout).toContain("hint: did you mean amount?");
  });

  it("prints JSON records with 1-based positions", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "typo.seg"), BROKEN_RULE);
    const r = await runCli(["check", "--format", "json", "rules"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ file: "rules/typo.seg", line: 2, column: 22, endLine: 2, endColumn: 27, code: "SEG031", severity: "error" }),
    ]);
  });

  it("prints GitHub annotations", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "typo.seg"), BROKEN_RULE);
    const r = await runCli(["check", "--format", "github"], { cwd: dir });
    expect(r.stdout).toMatch(/^::error file=rules\/typo\.seg,line=2,col=22,endLine=2,endColumn=27,title=SEG031 unknown-field::SEG031: event purchase has no field amout/m);
  });

  it("prints SARIF 2.1.0 that names the rule and the region", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "typo.seg"), BROKEN_RULE);
    const r = await runCli(["check", "--format", "sarif"], { cwd: dir });
    const log = JSON.parse(r.stdout);
    expect(log.version).toBe("2.1.0");
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe("seg");
    const result = run.results[0];
    expect(result.ruleId).toBe("SEG031");
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe("SEG031");
    expect(result.level).toBe("error");
    expect(result.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: "rules/typo.seg", uriBaseId: "%SRCROOT%" },
      region: { startLine: 2, startColumn: 22, endLine: 2, endColumn: 27 },
    });
  });

  it("counts warnings against --max-warnings", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "unused.seg"), `const never_used = 1\n\nsegment u {\n  where count(purchase) > 1\n}\n`);
    expect((await runCli(["check"], { cwd: dir })).code).toBe(0);
    const r = await runCli(["check", "--max-warnings", "0"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("warning SEG047 unused-const");
    expect((await runCli(["check", "--max-warnings", "x"], { cwd: dir })).code).toBe(2);
  });

  it("exits 2 on a broken config or schema, with the file and JSON pointer", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "seg.config.json"), `{ "entity": 42 }`);
    const r = await runCli(["check"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/seg\.config\.json:1:\d+: error SEG075/);
    const none = await runCli(["check"], { cwd: mkdtempSync(join(tmpdir(), "seg-empty-")) });
    expect(none.code).toBe(2);
    expect(none.stdout).toContain("SEG076");
  });
});

describe("seg compile", () => {
  it("writes a pipeline spec and both SQL files per segment, byte-identical on a second run", async () => {
    const out1 = mkdtempSync(join(tmpdir(), "seg-out-"));
    const out2 = mkdtempSync(join(tmpdir(), "seg-out-"));
    expect((await runCli(["compile", examples, "--out", out1])).code).toBe(0);
    expect((await runCli(["compile", examples, "--out", out2])).code).toBe(0);
    const files = readdirSync(out1).sort();
    expect(files).toContain("high_value.pipeline.json");
    expect(files).toContain("high_value.spark.sql");
    expect(files).toContain("high_value.duckdb.sql");
    expect(files.length).toBe(34 * 3);
    for (const f of files) expect(readFileSync(join(out2, f), "utf8")).toBe(readFileSync(join(out1, f), "utf8"));
    const spec = JSON.parse(readFileSync(join(out1, "vip_outreach.pipeline.json"), "utf8"));
    expect(spec.dependencies).toEqual(expect.arrayContaining(["high_value", "churned", "email_reachable"]));
    expect(spec.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(spec.sql.duckdb).toContain("$as_of");
    expect(spec.sql.spark).toContain(":as_of");
  });

  it("--target spark writes no DuckDB files", async () => {
    const out = mkdtempSync(join(tmpdir(), "seg-out-"));
    expect((await runCli(["compile", join(examples, "rules/high_value.seg"), "--out", out, "--target", "spark"])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["high_value.pipeline.json", "high_value.spark.sql"]);
  });

  it("writes nothing when a rule has errors", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "rules", "typo.seg"), BROKEN_RULE);
    const out = join(dir, "build");
    const r = await runCli(["compile", "--out", "build"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(r.stderr).toContain("SEG031");
  });
});

describe("seg eval", () => {
  it("evaluates the examples and prints sorted members as JSON", async () => {
    const r = await runCli(["eval", examples, "--data", join(examples, "data"), "--as-of", "2026-11-01T00:00:00Z", "--format", "json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { segments: Record<string, { size: number; members: string[] }> };
    expect(out.segments["high_value"]).toMatchObject({ size: 2, members: ["c001", "c003"] });
    expect(out.segments["churned"]?.members).toEqual(["c010", "c011", "c012", "c013", "c014"]);
    for (const s of Object.values(out.segments)) expect([...s.members].sort()).toEqual(s.members);
    expect(Object.keys(out)).toEqual(["segments"]);
    expect(Object.keys(out.segments["high_value"]!)).toEqual(["size", "members"]);
  });

  it("adds carried metrics with --metrics", async () => {
    const r = await runCli(["eval", join(examples, "rules/high_value.seg"), "--format", "json", "--metrics"]);
    const out = JSON.parse(r.stdout) as { segments: Record<string, { metrics: Record<string, { total_spend: number }> }> };
    const spend = out.segments["high_value"]!.metrics;
    expect(Object.keys(spend)).toEqual(["c001", "c003"]);
    expect(spend["c001"]!.total_spend).toBeGreaterThan(1000);
  });

  it("uses the project's data folder and defaultAsOf when not given", async () => {
    const r = await runCli(["eval", join(examples, "rules/high_value.seg")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/high_value\s+2\s+c001, c003/);
  });

  it("rejects a bad --as-of with exit 2", async () => {
    const r = await runCli(["eval", examples, "--as-of", "yesterday"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--as-of");
  });

  it("reports a malformed event with its file, line and field, and exits 1", async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, "data", "purchase.jsonl"), readFileSync(join(dir, "data", "purchase.jsonl"), "utf8") + `{"event_id":"x","customer_id":"c001","ts":"2026-10-30T00:00:00Z","amount":"lots"}\nnot json\n`);
    const r = await runCli(["eval", "--format", "json"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/purchase\.jsonl:109: error: .*\(field amount\)/);
    expect(r.stderr).toMatch(/purchase\.jsonl:110: error: /);
  });
});

describe("seg test and seg explain", () => {
  it("runs the example rule tests", async () => {
    const r = await runCli(["test", "--config", examples]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("4 passed, 0 failed");
  });

  it("shows expected against actual members when a case fails", async () => {
    const dir = exampleCopy();
    const path = join(dir, "tests", "high_value.test.json");
    writeFileSync(path, readFileSync(path, "utf8").replace('"high_value": [\n          "c113"\n        ]', '"high_value": ["c111"]'));
    const r = await runCli(["test"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("FAIL  tests/high_value.test.json › both conditions are needed");
    expect(r.stdout).toContain("missing:    c111");
    expect(r.stdout).toContain("unexpected: c113");
  });

  it("explains a segment: IR, DuckDB SQL and Spark SQL", async () => {
    const r = await runCli(["explain", "high_value", "--config", examples]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-- IR -+\n\{\n {2}"irVersion": 1/);
    expect(r.stdout).toContain("-- DuckDB SQL");
    expect(r.stdout).toContain("-- Spark SQL");
    expect((await runCli(["explain", "nope", "--config", examples])).code).toBe(2);
  });
});
