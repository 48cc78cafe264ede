/**
 * Reporters turn diagnostics into output for one audience (people, scripts, code scanning, CI
 * annotations). They never decide what is wrong; the checker does.
 */
import type { Diagnostic, RenderStyle } from "@seg/dsl";

/** The output formats of `seg check`. */
export const REPORT_FORMATS = ["pretty", "json", "sarif", "github"] as const;
/** One of {@link REPORT_FORMATS}. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** What a reporter needs besides the diagnostics. */
export interface ReportContext {
  /** Source text by display path, for the pretty reporter's source lines. */
  source(file: string | undefined): string | undefined;
  style: RenderStyle;
  /** Number of files checked, for the summary line. */
  fileCount: number;
  toolVersion: string;
}

/** Formats diagnostics as text to print on standard output. */
export type Reporter = (diagnostics: readonly Diagnostic[], ctx: ReportContext) => string;
