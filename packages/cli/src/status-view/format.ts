/**
 * `seg status` as plain text: aligned tables of pipelines (with their last run and served size),
 * streams and dead letters. Also the cells the live view shows.
 */
import type { RuntimeStatus } from "@seg/runtime";

/** A duration for people: `850ms`, `12.3s`, `4m05s`, `2h10m`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, "0")}m`;
}

/** A refresh interval: `15m`, `1h`, `30s`, `1d`. */
export function formatRefresh(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** A timestamp without milliseconds: `2026-11-01 00:00:00Z`. */
export function formatTime(iso: string | null): string {
  return iso === null ? "-" : iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

const oneLine = (s: string, max = 80) => {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** Rows of the pipelines table (header first). */
export function pipelineRows(status: RuntimeStatus): string[][] {
  const rows = [["SEGMENT", "VERSION", "STATUS", "REFRESH", "LAST RUN", "STARTED", "DURATION", "ROWS", "SIZE", "ERROR"]];
  for (const p of status.pipelines) {
    const r = p.lastRun;
    rows.push([
      p.segment,
      p.shortVersion,
      // A retired segment's Redis keys are deleted by the runtime; until then they are still served.
      p.status === "retired" ? `retired (keys ${p.redisCleanup ?? "pending"})` : p.status,
      formatRefresh(p.refreshSeconds),
      r?.status ?? "never",
      r ? formatTime(r.startedAt) : "-",
      r ? formatDuration(r.durationMs) : "-",
      r?.rows === null || r === null ? "-" : String(r.rows),
      p.size === null ? "-" : String(p.size),
      r?.error ? oneLine(r.error) : "",
    ]);
  }
  return rows;
}

/** Rows of the streams table (header first). */
export function streamRows(status: RuntimeStatus): string[][] {
  const rows = [["STREAM", "TOPIC", "PART", "OFFSET", "RECEIVED", "VALID", "INVALID", "LAG", "LAST EVENT"]];
  for (const s of status.streams) {
    rows.push([s.stream, s.topic, String(s.partition), s.offset, String(s.received), String(s.valid), String(s.invalid), s.lag === null ? "-" : String(s.lag), formatTime(s.lastEventTime)]);
  }
  return rows;
}

/** Aligns rows into columns (two spaces apart, trailing blanks trimmed). */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) =>
    r
      .map((c, i) => c + " ".repeat(widths[i]! - [...c].length))
      .join("  ")
      .trimEnd(),
  );
}

/** The summary lines above and below the tables. */
export function headline(status: RuntimeStatus): string {
  const active = status.pipelines.filter((p) => p.status === "active").length;
  const retired = status.pipelines.length - active;
  return `pipelines in schema ${status.database.schema} (${status.database.url}): ${active} active, ${retired} retired`;
}

export function runsLine(status: RuntimeStatus): string {
  const r = status.runs;
  return `runs: ${r.queued} queued, ${r.running} running; last hour: ${r.succeededLastHour} succeeded, ${r.failedLastHour} failed`;
}

export function deadLetterLine(status: RuntimeStatus): string {
  const parts = Object.entries(status.deadLetters.byTopic)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${t}: ${n}`);
  return `dead letters: ${status.deadLetters.total}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
}

/** The whole status as text. */
export function formatStatus(status: RuntimeStatus): string {
  const out: string[] = [];
  if (!status.database.deployed) {
    out.push(`nothing is deployed to schema ${status.database.schema} (${status.database.url}) yet: run seg deploy`);
    return out.join("\n") + "\n";
  }
  out.push(headline(status));
  if (status.pipelines.length > 0) out.push(...table(pipelineRows(status)));
  out.push("", runsLine(status), "");
  if (status.streams.length === 0) out.push("streams: no ingestion progress recorded yet");
  else out.push("streams:", ...table(streamRows(status)));
  out.push(deadLetterLine(status));
  return out.join("\n") + "\n";
}
