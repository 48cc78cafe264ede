import { renderDiagnostic, summarize } from "@seg/dsl";
import type { Reporter } from "./reporter.js";

/** For people: each diagnostic with its source line and caret, then a summary. */
export const prettyReporter: Reporter = (diagnostics, ctx) => {
  const files = `${ctx.fileCount} file${ctx.fileCount === 1 ? "" : "s"} checked`;
  if (diagnostics.length === 0) return `${files}: no problems\n`;
  const body = diagnostics.map((d) => renderDiagnostic(d, ctx.source, ctx.style)).join("\n\n");
  return `${body}\n\n${files}: ${summarize(diagnostics)}\n`;
};
