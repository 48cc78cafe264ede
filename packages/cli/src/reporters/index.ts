import { githubReporter } from "./github.js";
import { jsonReporter } from "./json.js";
import { prettyReporter } from "./pretty.js";
import type { ReportFormat, Reporter } from "./reporter.js";
import { sarifReporter } from "./sarif.js";

export * from "./reporter.js";

/** The reporter for each output format. */
export const REPORTERS: Record<ReportFormat, Reporter> = {
  pretty: prettyReporter,
  json: jsonReporter,
  sarif: sarifReporter,
  github: githubReporter,
};
