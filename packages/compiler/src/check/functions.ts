/**
 * Scalar functions: their arity and argument types (SEG035 unknown, SEG050 arity, SEG036 types).
 * All functions but `coalesce`, `least` and `greatest` are null when an argument is null.
 */
import type * as A from "@seg/dsl";
import type { FunctionName } from "../ir.js";
import { T, commonType, isNumeric, isTemporal, segType, withNullable, type SegType } from "../types.js";
import type { CheckContext, Scope } from "./context.js";
import type { ExprChecker } from "./expressions.js";
import { describeType, displayName } from "./names.js";
import type { TExpr } from "./program.js";
import { didYouMean } from "./suggest.js";
import { errorNode, unknown } from "./typed.js";

interface FunctionDef {
  /** How it is called, for hints: `round(n)` or `round(n, digits)`. */
  usage: string;
  min: number;
  /** Infinity for variadic functions. */
  max: number;
  /** Checks the (error-free) arguments; returns the result type, or reports and returns undefined. */
  type(args: TExpr[], fail: (arg: TExpr, message: string) => undefined): SegType | undefined;
}

const anyNullable = (args: TExpr[]): boolean => args.some((a) => a.type.nullable);

function unary(accepts: (t: SegType) => boolean, what: string, result: (t: SegType) => SegType): FunctionDef["type"] {
  return ([arg], fail) => {
    if (arg!.type.kind === "null") return withNullable(result(T.number), true);
    if (!accepts(arg!.type)) return fail(arg!, `needs ${what}, but its argument is ${describeType(arg!.type)}`);
    return withNullable(result(arg!.type), arg!.type.nullable);
  };
}

const isString = (t: SegType): boolean => t.kind === "string";
const numericKind = (t: SegType): SegType => segType(t.kind === "integer" ? "integer" : "number");

/** The common type of all arguments, for `coalesce`, `least`, `greatest`. */
function common(ordered: boolean, nullable: (args: TExpr[]) => boolean): FunctionDef["type"] {
  return (args, fail) => {
    let type: SegType = T.null;
    for (const arg of args) {
      const kind = arg.type.kind;
      const bad = kind === "list" || (ordered && (kind === "boolean" || kind === "duration"));
      if (bad) return fail(arg, `${ordered ? "needs numbers, strings or timestamps" : "needs values of one type"}, but this argument is ${describeType(arg.type)}`);
      const mixedTime = isTemporal(type) && isTemporal(arg.type) && type.kind !== arg.type.kind;
      const next = mixedTime ? segType("timestamp") : commonType(type, arg.type);
      if (!next) return fail(arg, `needs values of one type, but this argument is ${describeType(arg.type)} and the ones before are ${describeType(type)}`);
      type = next;
    }
    const out: SegType = { kind: type.kind, nullable: nullable(args) };
    return type.kind === "null" ? T.null : out;
  };
}

const FUNCTIONS: Record<FunctionName, FunctionDef> = {
  lower: { usage: "lower(s)", min: 1, max: 1, type: unary(isString, "a string", () => T.string) },
  upper: { usage: "upper(s)", min: 1, max: 1, type: unary(isString, "a string", () => T.string) },
  trim: { usage: "trim(s)", min: 1, max: 1, type: unary(isString, "a string", () => T.string) },
  length: { usage: "length(s)", min: 1, max: 1, type: unary(isString, "a string", () => T.integer) },
  abs: { usage: "abs(n)", min: 1, max: 1, type: unary(isNumeric, "a number", numericKind) },
  floor: { usage: "floor(n)", min: 1, max: 1, type: unary(isNumeric, "a number", numericKind) },
  ceil: { usage: "ceil(n)", min: 1, max: 1, type: unary(isNumeric, "a number", numericKind) },
  days_since: { usage: "days_since(t)", min: 1, max: 1, type: unary(isTemporal, "a timestamp", () => T.number) },
  round: {
    usage: "round(n) or round(n, digits)",
    min: 1,
    max: 2,
    type: (args, fail) => {
      const [n, digits] = args;
      if (n!.type.kind !== "null" && !isNumeric(n!.type)) return fail(n!, `needs a number, but its argument is ${describeType(n!.type)}`);
      if (digits && digits.type.kind !== "null" && digits.type.kind !== "integer") {
        return fail(digits, `needs a whole number of digits as its second argument, but this is ${describeType(digits.type)}`);
      }
      const base = n!.type.kind === "null" ? T.number : numericKind(n!.type);
      return withNullable(base, anyNullable(args));
    },
  },
  coalesce: { usage: "coalesce(a, b, ...)", min: 1, max: Infinity, type: common(false, (args) => args.every((a) => a.type.nullable)) },
  least: { usage: "least(a, b, ...)", min: 2, max: Infinity, type: common(true, (args) => args.every((a) => a.type.nullable)) },
  greatest: { usage: "greatest(a, b, ...)", min: 2, max: Infinity, type: common(true, (args) => args.every((a) => a.type.nullable)) },
};

/** The names of the scalar functions. */
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

const isFunctionName = (name: string): name is FunctionName => Object.prototype.hasOwnProperty.call(FUNCTIONS, name);

function arityText(def: FunctionDef): string {
  const n = (k: number): string => `${k} argument${k === 1 ? "" : "s"}`;
  if (def.max === Infinity) return `at least ${n(def.min)}`;
  if (def.min === def.max) return n(def.min);
  return `${def.min} or ${n(def.max)}`;
}

/** Checks a scalar function call. */
export function checkCall(ctx: CheckContext, scope: Scope, call: A.Call, check: ExprChecker): TExpr {
  const args = call.args.map((a) => check(a, scope));
  const name = call.callee.text;
  if (name === "") return errorNode(call.span);
  if (!isFunctionName(name)) {
    const hints = didYouMean(name, FUNCTION_NAMES);
    if (hints.length === 0) hints.push(`the functions are ${FUNCTION_NAMES.join(", ")}`);
    ctx.report(scope.file, "unknownFunction", call.callee.span, [displayName(name)], { hints });
    return errorNode(call.span);
  }
  const def = FUNCTIONS[name];
  if (args.length < def.min || args.length > def.max) {
    if (missingParen(call)) return errorNode(call.span);
    const hints = [`write ${def.usage}`];
    if ((name === "least" || name === "greatest") && args.length < def.min) hints.push("to give a fallback for null, use coalesce(x, fallback)");
    ctx.report(scope.file, "wrongArity", call.span, [name, arityText(def), String(args.length)], { hints });
    return errorNode(call.span);
  }
  if (args.some(unknown)) return errorNode(call.span);
  let failed = false;
  const type = def.type(args, (arg, message) => {
    ctx.report(scope.file, "typeMismatch", arg.span, [`${name} ${message}`], { hints: [`write ${def.usage}`] });
    failed = true;
    return undefined;
  });
  if (failed || type === undefined) return errorNode(call.span);
  return { k: "call", fn: name, args, type, span: call.span };
}

/**
 * True when the parser invented the closing `)` while recovering (already reported): the call's
 * span then ends at its last argument, or right after `(`, instead of after a `)`.
 */
function missingParen(call: A.Call): boolean {
  const last = call.args[call.args.length - 1];
  const contentEnd = last ? last.span.end.offset : call.callee.span.end.offset + 1;
  return call.span.end.offset <= contentEnd;
}
