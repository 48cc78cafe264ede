import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, renderDiagnostic } from "@seg/dsl";
import { readMarkers } from "../support/markers.js";

const dir = new URL("../golden/diagnostics/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".seg")).sort();

describe("golden diagnostics", () => {
  it("has cases", () => expect(files.length).toBeGreaterThanOrEqual(15));

  it.each(files)("%s", (name) => {
    const text = readFileSync(new URL(name, dir), "utf8");
    const expected = readMarkers(text);
    expect(expected.length, "a golden case must expect at least one diagnostic").toBeGreaterThan(0);
    const { diagnostics } = parse(text, name);
    const actual = diagnostics.map((d) => {
      const sameLine = d.span.end.line === d.span.start.line;
      return `${d.code} ${d.span.start.line}:${d.span.start.column}${sameLine ? `+${d.span.end.column - d.span.start.column}` : ""}`;
    });
    const wanted = expected.map((e, i) => {
      const widthOk = e.width === undefined ? actual.find((a) => a.startsWith(`${e.code} ${e.line}:${e.column}`))?.split("+")[1] : String(e.width);
      return `${e.code} ${e.line}:${e.column}${widthOk === undefined ? "" : `+${widthOk}`}` + (i < 0 ? "" : "");
    });
    expect(actual.sort()).toEqual(wanted.sort());
    // Every rendered diagnostic names the file and points into a real line.
    for (const d of diagnostics) {
      const rendered = renderDiagnostic(d, () => text);
      expect(rendered.split("\n")[0]).toMatch(new RegExp(`^${name.replace(/\./g, "\\.")}:\\d+:\\d+: (error|warning|info) SEG\\d{3} `));
    }
  });
});
