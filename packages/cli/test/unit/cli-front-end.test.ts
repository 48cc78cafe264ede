import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "../support/memory-io.js";

const GOOD = `segment a {\n  where x > 1\n}\n`;
const UGLY = `segment   a{where x>1}`;
const BROKEN = `segment a {\n  where count(purchase in last 30) > 5\n}\n`;

describe("seg debug", () => {
  it("prints the AST as JSON and exits 0 on a valid file", async () => {
    const dir = tempDir({ "a.seg": GOOD });
    const r = await runCli(["debug", "ast", "a.seg"], { cwd: dir });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ast: { declarations: { name: { text: string } }[] }; diagnostics: unknown[] };
    expect(out.ast.declarations[0]?.name.text).toBe("a");
    expect(out.diagnostics).toEqual([]);
  });

  it("prints the partial AST and the diagnostics, and exits 1 on errors", async () => {
    const dir = tempDir({ "b.seg": BROKEN });
    const r = await runCli(["debug", "ast", "--no-spans", "b.seg"], { cwd: dir });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ast: { declarations: unknown[] }; diagnostics: { code: string }[] };
    expect(out.ast.declarations).toHaveLength(1);
    expect(out.diagnostics.map((d) => d.code)).toEqual(["SEG010"]);
    expect(r.stdout).not.toContain('"span"');
    expect(r.stderr).toContain("b.seg:2:32: error SEG010 unexpected-token: expected a duration but found '30'");
    expect(r.stderr).toContain("2 |   where count(purchase in last 30) > 5");
    expect(r.stderr).toMatch(/\n {2}\| {32}\^\^\n/);
  });

  it("lists tokens with positions", async () => {
    const r = await runCli(["debug", "tokens", "-"], { stdin: "segment a { where x >= 30 days }" });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe('1:1       Keyword        "segment"');
    expect(r.stdout).toContain('1:24      Duration       "30 days"');
  });

  it("colours diagnostics only on a TTY without NO_COLOR", async () => {
    const dir = tempDir({ "b.seg": BROKEN });
    const plain = await runCli(["debug", "ast", "b.seg"], { cwd: dir, tty: false });
    const tty = await runCli(["debug", "ast", "b.seg"], { cwd: dir, tty: true });
    const noColor = await runCli(["debug", "ast", "b.seg"], { cwd: dir, tty: true, env: { NO_COLOR: "1" } });
    expect(plain.stderr).not.toContain("\u001b[");
    expect(tty.stderr).toContain("\u001b[");
    expect(noColor.stderr).not.toContain("\u001b[");
  });

  it("exits 2 for a missing file or an unknown command", async () => {
    expect((await runCli(["debug", "ast", "/nonexistent/x.seg"])).code).toBe(2);
    expect((await runCli(["nonsense"])).code).toBe(2);
  });
});

describe("seg fmt", () => {
  it("--check lists unformatted files and exits 1, changing nothing", async () => {
    const dir = tempDir({ "good.seg": GOOD, "ugly.seg": UGLY });
    const r = await runCli(["fmt", "--check", "."], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("ugly.seg\n");
    expect(readFileSync(join(dir, "ugly.seg"), "utf8")).toBe(UGLY);
  });

  it("rewrites files in place by default, then --check passes", async () => {
    const dir = tempDir({ "ugly.seg": UGLY });
    const w = await runCli(["fmt", "ugly.seg"], { cwd: dir });
    expect(w.code).toBe(0);
    expect(readFileSync(join(dir, "ugly.seg"), "utf8")).toBe(GOOD);
    expect((await runCli(["fmt", "--check", "."], { cwd: dir })).code).toBe(0);
  });

  it("never rewrites a file with syntax errors, and reports them", async () => {
    const dir = tempDir({ "b.seg": BROKEN });
    const r = await runCli(["fmt", "b.seg"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(readFileSync(join(dir, "b.seg"), "utf8")).toBe(BROKEN);
    expect(r.stderr).toContain("b.seg:2:32: error SEG010");
  });

  it("formats standard input to standard output", async () => {
    const r = await runCli(["fmt", "-"], { stdin: UGLY });
    expect(r).toMatchObject({ code: 0, stdout: GOOD });
  });

  it("rejects --check with --write, and missing paths", async () => {
    expect((await runCli(["fmt", "--check", "--write"])).code).toBe(2);
    expect((await runCli(["fmt", "/nonexistent-folder"])).code).toBe(2);
  });
});
