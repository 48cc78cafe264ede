import type { Log, ReportingDescriptor, Result } from "sarif";
import { MESSAGES, type Diagnostic } from "@seg/dsl";
import type { Reporter } from "./reporter.js";

const LEVEL = { error: "error", warning: "warning", info: "note" } as const;

function region(d: Diagnostic) {
  return {
    startLine: d.span.start.line,
    startColumn: d.span.start.column,
    endLine: d.span.end.line,
    endColumn: Math.max(d.span.end.column, d.span.end.line === d.span.start.line ? d.span.start.column + 1 : 1),
  };
}

/** For code scanning: SARIF 2.1.0 with one rule per message code. */
export const sarifReporter: Reporter = (diagnostics, ctx) => {
  const rules = Object.values(MESSAGES)
    .slice()
    .sort((a, b) => a.code.localeCompare(b.code))
    .map((m): ReportingDescriptor => ({
      id: m.code,
      name: m.name,
      shortDescription: { text: m.name.replace(/-/g, " ") },
      defaultConfiguration: { level: LEVEL[m.severity] },
      helpUri: "https://github.com/seg-dev/seg/blob/main/docs/language.md",
    }));
  const ruleIndex = new Map(rules.map((r, i) => [r.id, i]));
  const results = diagnostics.map((d): Result => ({
    ruleId: d.code,
    ruleIndex: ruleIndex.get(d.code) ?? -1,
    level: LEVEL[d.severity],
    message: { text: d.hints.length > 0 ? `${d.message} (${d.hints.join("; ")})` : d.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: (d.file ?? "").split("\\").join("/"), uriBaseId: "%SRCROOT%" },
          region: region(d),
        },
      },
    ],
    relatedLocations: d.related.map((r, i) => ({
      id: i + 1,
      message: { text: r.message },
      physicalLocation: {
        artifactLocation: { uri: (r.file ?? d.file ?? "").split("\\").join("/"), uriBaseId: "%SRCROOT%" },
        region: region({ ...d, span: r.span }),
      },
    })),
  }));
  const log: Log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "seg", version: ctx.toolVersion, informationUri: "https://github.com/seg-dev/seg", rules } },
        results,
        columnKind: "utf16CodeUnits",
      },
    ],
  };
  return JSON.stringify(log, null, 2) + "\n";
};
