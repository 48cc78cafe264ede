import { describe, expect, it } from "vitest";
import { checkSources, exampleRules } from "../golden/check/support/project.js";

describe("the example project", () => {
  const result = checkSources(exampleRules());

  it("parses cleanly", () => {
    expect(result.parseDiagnostics.filter((d) => d.severity !== "info")).toEqual([]);
  });

  it("checks with no errors and no warnings", () => {
    expect(result.diagnostics.map((d) => `${d.file}:${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`)).toEqual([]);
  });

  it("has every segment ok", () => {
    const notOk = [...result.program.segments.values()].filter((s) => !s.ok).map((s) => s.name);
    expect(notOk).toEqual([]);
    expect(result.program.segments.size).toBe(34);
  });
});
