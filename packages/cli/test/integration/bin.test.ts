import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const bin = `${root}packages/cli/dist/bin.js`;

describe("the built seg binary", () => {
  it("runs from another folder and checks the examples' formatting", () => {
    const out = execFileSync("node", [bin, "fmt", "--check", `${root}examples`], { cwd: "/tmp", encoding: "utf8" });
    expect(out).toBe("");
  });

  it("exits 1 with a located message on a broken file from standard input", () => {
    const r = spawnSync("node", [bin, "debug", "ast", "-"], { input: "segment a { where x > }", encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("<stdin>:1:23: error SEG013");
  });
});
