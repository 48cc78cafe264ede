/**
 * Terminal colour for rendered diagnostics: on only when stdout is a TTY and NO_COLOR is unset.
 */
import { Chalk } from "chalk";
import { PLAIN_STYLE, type RenderStyle } from "@seg/dsl";
import type { CliIo } from "./io.js";

/** True when output may be coloured. */
export function colorEnabled(io: CliIo): boolean {
  if (io.env["NO_COLOR"] !== undefined && io.env["NO_COLOR"] !== "") return false;
  if (io.env["FORCE_COLOR"] !== undefined && io.env["FORCE_COLOR"] !== "0") return true;
  return io.isTTY;
}

/** The render style for this invocation. */
export function renderStyle(io: CliIo): RenderStyle {
  if (!colorEnabled(io)) return PLAIN_STYLE;
  const c = new Chalk({ level: 1 });
  return {
    severity: (s, t) => (s === "error" ? c.red.bold(t) : s === "warning" ? c.yellow.bold(t) : c.cyan(t)),
    location: (t) => c.bold(t),
    caret: (s, t) => (s === "error" ? c.red(t) : s === "warning" ? c.yellow(t) : c.cyan(t)),
    dim: (t) => c.dim(t),
  };
}
