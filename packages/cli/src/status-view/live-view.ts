/**
 * The live `seg status` view (ink): the same tables as the plain text, refreshed every 2 s; `q`
 * (or Esc, or Ctrl-C) quits. Loaded only when `seg status` runs on a terminal.
 */
import { createElement as h, useEffect, useState, type ReactElement } from "react";
import { Box, Text, render, useApp, useInput } from "ink";
import type { RuntimeStatus } from "@seg/runtime";
import { deadLetterLine, headline, pipelineRows, runsLine, streamRows, table } from "./format.js";

/** Options of {@link runLiveView}. */
export interface LiveViewOptions {
  load: () => Promise<RuntimeStatus>;
  intervalMs?: number;
  first: RuntimeStatus;
  /** Other streams than the process's (tests). */
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
}

function Table({ rows, color }: { rows: string[][]; color?: (row: string[], i: number) => string | undefined }): ReactElement {
  const lines = table(rows);
  return h(
    Box,
    { flexDirection: "column" },
    ...lines.map((line, i) => {
      const c = i === 0 ? undefined : color?.(rows[i]!, i);
      return h(Text, { key: String(i), bold: i === 0, ...(c ? { color: c } : {}) }, line);
    }),
  );
}

function StatusView({ load, intervalMs, first }: { load: LiveViewOptions["load"]; intervalMs: number; first: RuntimeStatus }): ReactElement {
  const { exit } = useApp();
  const [status, setStatus] = useState<RuntimeStatus>(first);
  const [error, setError] = useState<string | undefined>(undefined);
  useInput((input, key) => {
    if (input === "q" || key.escape) exit();
  });
  useEffect(() => {
    let alive = true;
    const timer = setInterval(() => {
      load()
        .then((s) => {
          if (!alive) return;
          setStatus(s);
          setError(undefined);
        })
        .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    }, intervalMs);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [load, intervalMs]);
  const runColor = (row: string[]) => (row[4] === "failed" ? "red" : row[4] === "running" || row[4] === "queued" ? "yellow" : row[4] === "succeeded" ? "green" : undefined);
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, headline(status)),
    status.pipelines.length > 0 ? h(Table, { rows: pipelineRows(status), color: runColor }) : h(Text, { dimColor: true }, "no pipelines deployed"),
    h(Text, null, " "),
    h(Text, null, runsLine(status)),
    h(Text, null, " "),
    status.streams.length > 0 ? h(Table, { rows: streamRows(status) }) : h(Text, { dimColor: true }, "streams: no ingestion progress recorded yet"),
    h(Text, status.deadLetters.total > 0 ? { color: "yellow" } : null, deadLetterLine(status)),
    h(Text, null, " "),
    h(Text, { dimColor: true }, `updated ${status.generatedAt.replace("T", " ").replace(/\.\d+Z$/, "Z")}; refreshing every ${Math.round(intervalMs / 1000)} s; q to quit`),
    error ? h(Text, { color: "red" }, `refresh failed: ${error}`) : null,
  );
}

/** Shows the live view until the user quits. */
export async function runLiveView(options: LiveViewOptions): Promise<void> {
  const app = render(h(StatusView, { load: options.load, intervalMs: options.intervalMs ?? 2_000, first: options.first }), {
    exitOnCtrlC: true,
    patchConsole: false,
    ...(options.stdout ? { stdout: options.stdout } : {}),
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.stderr ? { stderr: options.stderr } : {}),
  });
  await app.waitUntilExit();
}
