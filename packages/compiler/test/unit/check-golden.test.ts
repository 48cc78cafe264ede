import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderDiagnostic } from "@seg/dsl";
import { readMarkers } from "../../../dsl/test/support/markers.js";
import { checkSources } from "../golden/check/support/project.js";

/**
 * Golden checker cases: each `test/golden/check/*.seg` is checked on its own against the example
 * schemas, and must give exactly the diagnostics its comment markers announce.
 */
const dir = new URL("../golden/check/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".seg")).sort();

describe("golden checker diagnostics", () => {
  it("has cases", () => expect(files.length).toBeGreaterThanOrEqual(20));

  it("covers every checker code", () => {
    const codes = new Set(files.flatMap((f) => readMarkers(readFileSync(new URL(f, dir), "utf8")).map((m) => m.code)));
    const wanted = ["SEG018", ...Array.from({ length: 28 }, (_, i) => `SEG0${30 + i}`)].filter((c) => c !== "SEG051");
    expect(wanted.filter((c) => !codes.has(c))).toEqual([]);
  });

  it.each(files)("%s", (name) => {
    const text = readFileSync(new URL(name, dir), "utf8");
    const expected = readMarkers(text);
    expect(expected.length, "a golden case must expect at least one diagnostic").toBeGreaterThan(0);
    const result = checkSources([{ file: name, text }]);
    expect(result.parseDiagnostics.filter((d) => d.severity === "error"), "golden cases must parse").toEqual([]);
    const actual = result.diagnostics.map((d) => {
      const sameLine = d.span.end.line === d.span.start.line;
      return `${d.code} ${d.span.start.line}:${d.span.start.column}${sameLine ? `+${d.span.end.column - d.span.start.column}` : ""}`;
    });
    const wanted = expected.map((e) => {
      const width = e.width === undefined ? actual.find((a) => a.startsWith(`${e.code} ${e.line}:${e.column}+`))?.split("+")[1] : String(e.width);
      return `${e.code} ${e.line}:${e.column}${width === undefined ? "" : `+${width}`}`;
    });
    expect(actual.sort()).toEqual(wanted.sort());
    for (const d of result.diagnostics) {
      const rendered = renderDiagnostic(d, () => text);
      expect(rendered.split("\n")[0]).toMatch(new RegExp(`^${name.replace(/\./g, "\\.")}:\\d+:\\d+: (error|warning) SEG\\d{3} `));
      // Every error but a plain type mismatch (whose message says it all) comes with a hint or a note.
      if (d.severity === "error" && d.code !== "SEG036") expect(d.hints.length + d.related.length, `${d.code} needs a hint`).toBeGreaterThan(0);
    }
  });
});
