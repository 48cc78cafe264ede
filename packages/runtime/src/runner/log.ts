/** How the runner's parts report what they do (a line per call; `fields` are extra context). */
export type RunnerLogLevel = "debug" | "info" | "warn" | "error";
export type RunnerLog = (level: RunnerLogLevel, message: string, fields?: Record<string, unknown>) => void;

/** A log that drops everything. */
export const silentLog: RunnerLog = () => {};

/** The message of an error, or the value as text. */
export function errorMessage(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return e.errors.map(errorMessage).join("; ");
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
