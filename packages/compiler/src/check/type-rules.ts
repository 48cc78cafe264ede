/**
 * The typing rules of operators: which types compare, what arithmetic gives, and the wording of
 * the SEG036 messages when they do not fit.
 */
import type { OpName } from "../ir.js";
import { T, isNumeric, isTemporal, segType, type SegType } from "../types.js";
import { describeType, displayType } from "./names.js";

/** The result of a typing rule: a type, or a message (and hints) for SEG036. */
export type RuleResult = { ok: true; type: SegType } | { ok: false; message: string; hints: string[] };

const fail = (message: string, hints: string[] = []): RuleResult => ({ ok: false, message, hints });

/** Which comparison family a type belongs to: values compare only within one family. */
function family(t: SegType): string {
  if (isNumeric(t)) return "number";
  if (isTemporal(t)) return "time";
  return t.kind;
}

/** True when a value of `a` may be compared with one of `b` (`ordered` for `<`, `between`...). */
export function comparable(a: SegType, b: SegType, ordered: boolean): boolean {
  if (a.kind === "null" || b.kind === "null") return true;
  if (a.kind === "list" || b.kind === "list") return false;
  if (family(a) !== family(b)) return false;
  return !(ordered && a.kind === "boolean");
}

/** Hints for two types that do not compare: the usual slips (quoted numbers or dates). */
export function comparisonHints(a: SegType, b: SegType, literal?: string | number | boolean | null): string[] {
  if (typeof literal === "string") {
    if ((isNumeric(a) || isNumeric(b)) && /^-?[0-9][0-9_]*(\.[0-9]+)?$/.test(literal)) return [`numbers are written without quotes: ${literal}`];
    if ((isTemporal(a) || isTemporal(b)) && /^\d{4}-\d{2}-\d{2}/.test(literal)) return [`dates and timestamps are written without quotes: ${literal}`];
  }
  if ((a.kind === "duration" && isNumeric(b)) || (b.kind === "duration" && isNumeric(a))) return ["write the number with a unit, e.g. 30 days"];
  return [];
}

/** SEG036 wording for two values that cannot be compared. */
export function comparisonMessage(a: SegType, b: SegType, ordered: boolean): string {
  if (ordered && a.kind === "boolean" && b.kind === "boolean") return "booleans have no order: compare them with = or !=";
  return `cannot compare ${describeType(a)} with ${describeType(b)}`;
}

const ARITH_SYMBOL: Partial<Record<OpName, string>> = { add: "+", sub: "-", mul: "*", div: "/" };

/** The type of `a op b` for `add`, `sub`, `mul`, `div`. */
export function arithmetic(op: "add" | "sub" | "mul" | "div", a: SegType, b: SegType): RuleResult {
  const nullable = a.nullable || b.nullable || op === "div";
  const sym = ARITH_SYMBOL[op]!;
  const an = a.kind === "null";
  const bn = b.kind === "null";
  if (an && bn) return { ok: true, type: T.null };
  const num = (t: SegType): boolean => isNumeric(t) || t.kind === "null";
  if (num(a) && num(b)) {
    const integer = op !== "div" && (a.kind === "integer" || an) && (b.kind === "integer" || bn);
    return { ok: true, type: segType(integer ? "integer" : "number", nullable) };
  }
  const time = (t: SegType): boolean => isTemporal(t) || t.kind === "null";
  const dur = (t: SegType): boolean => t.kind === "duration" || t.kind === "null";
  if (op === "add" && time(a) && dur(b) && !an) return { ok: true, type: segType("timestamp", nullable) };
  if (op === "sub" && time(a) && !an) {
    if (isTemporal(b)) return { ok: true, type: segType("duration", nullable) };
    if (dur(b)) return { ok: true, type: segType("timestamp", nullable) };
  }
  if (op === "sub" && an && isTemporal(b)) return { ok: true, type: segType("duration", true) };
  const shown = `${displayType(a)} ${sym} ${displayType(b)}`;
  if (op === "add" && a.kind === "duration" && isTemporal(b)) return fail(`cannot compute ${shown}`, ["write the timestamp first: t + 30 days"]);
  if ((op === "add" || op === "sub") && isTemporal(a) && isNumeric(b)) {
    return fail(`cannot compute ${shown}: a number cannot be added to or subtracted from a timestamp`, [`use a duration, e.g. as_of ${sym} 3 days`]);
  }
  if (a.kind === "string" || b.kind === "string") return fail(`cannot compute ${shown}: arithmetic needs numbers, and strings cannot be added or multiplied`);
  return fail(`cannot compute ${shown}: ${sym} needs two numbers${op === "add" || op === "sub" ? ", or a timestamp and a duration" : ""}`);
}

/** The type of `-a`. */
export function negation(a: SegType): RuleResult {
  if (isNumeric(a) || a.kind === "null") return { ok: true, type: a };
  return fail(`cannot negate ${describeType(a)}: unary - needs a number`);
}

/** Enum check: the hint listing the allowed values when `value` is not one of them. */
export function enumProblem(type: SegType, value: string, what: string): { message: string; hints: string[] } | undefined {
  if (type.kind !== "string" || !type.enumValues || type.enumValues.includes(value)) return undefined;
  return {
    message: `${JSON.stringify(value)} is not one of the values of ${what}`,
    hints: [`allowed values: ${type.enumValues.map((v) => JSON.stringify(v)).join(", ")}`],
  };
}
