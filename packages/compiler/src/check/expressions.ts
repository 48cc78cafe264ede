/**
 * Expression typing: literals, `and`/`or`/`not`, comparisons and arithmetic, and the dispatch to
 * paths, predicates, functions and aggregates. Every reported error turns the node into an
 * `error` node, and nothing is reported about an `error` operand: one mistake, one message.
 */
import type * as A from "@seg/dsl";
import { parseNumber } from "@seg/dsl";
import type { OpName } from "../ir.js";
import { T, commonType, type SegType } from "../types.js";
import { checkAggregate } from "./aggregates.js";
import type { CheckContext, Scope } from "./context.js";
import { checkCall } from "./functions.js";
import { dateToTimestamp, durationMs, normalizeTimestamp } from "./literal-values.js";
import { describeType } from "./names.js";
import { checkPath, checkSegmentRef } from "./paths.js";
import { checkBetween, checkInList, checkIsNull, checkStringTest, checkWindowTest } from "./predicates.js";
import type { TExpr } from "./program.js";
import { BOOL, errorNode, isConditionType, literalOf, unknown } from "./typed.js";
import { arithmetic, comparable, comparisonHints, comparisonMessage, enumProblem, negation } from "./type-rules.js";

/** Checks one expression in `scope`. */
export type ExprChecker = (e: A.Expr, scope: Scope) => TExpr;

const COMPARE: Record<string, OpName> = { "=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };
const ARITH: Record<string, "add" | "sub" | "mul" | "div"> = { "+": "add", "-": "sub", "*": "mul", "/": "div" };

/** Types and resolves an expression. */
export function checkExpr(ctx: CheckContext, scope: Scope, e: A.Expr): TExpr {
  const check: ExprChecker = (x, s) => checkExpr(ctx, s, x);
  switch (e.kind) {
    case "Number":
    case "String":
    case "Boolean":
    case "Null":
    case "Date":
    case "Timestamp":
    case "Duration":
      return checkLiteral(e);
    case "AsOf":
      return { k: "as_of", type: T.timestamp, span: e.span };
    case "List":
      return checkList(ctx, scope, e);
    case "Path":
      return checkPath(ctx, scope, e);
    case "SegmentRef":
      return checkSegmentRef(ctx, scope, e);
    case "Aggregate":
      return checkAggregate(ctx, scope, e, check);
    case "Call":
      return checkCall(ctx, scope, e, check);
    case "Paren":
      return checkExpr(ctx, scope, e.expr);
    case "Unary":
      return e.op === "not" ? checkNot(ctx, scope, e) : checkNegation(ctx, scope, e);
    case "Binary":
      if (e.op === "and" || e.op === "or") return checkLogical(ctx, scope, e);
      if (e.op in COMPARE) return checkComparison(ctx, scope, e);
      return checkArithmetic(ctx, scope, e);
    case "InList":
      return checkInList(ctx, scope, e, check);
    case "Between":
      return checkBetween(ctx, scope, e, check);
    case "IsNull":
      return checkIsNull(ctx, scope, e, check);
    case "StringTest":
      return checkStringTest(ctx, scope, e, check);
    case "WindowTest":
      return checkWindowTest(ctx, scope, e, check);
    case "Error":
      return errorNode(e.span);
  }
}

/**
 * Checks an expression used as a condition (`where`, a filter, an operand of `and`/`or`/`not`):
 * SEG048 when it is not boolean.
 */
export function checkCondition(ctx: CheckContext, scope: Scope, e: A.Expr): TExpr {
  const t = checkExpr(ctx, scope, e);
  return requireCondition(ctx, scope, t);
}

/** SEG048 when a checked expression is not boolean; returns it, or an error node. */
export function requireCondition(ctx: CheckContext, scope: Scope, t: TExpr): TExpr {
  if (isConditionType(t.type)) return t;
  const hints = t.k === "agg" ? [`compare it with a value, e.g. ${t.fn}(...) > 0`] : ["compare it with a value (x > 0, x = \"a\") or test it (x is not null)"];
  ctx.report(scope.file, "conditionNotBoolean", t.span, [describeType(t.type)], { hints });
  return errorNode(t.span);
}

function checkLiteral(e: A.NumberLiteral | A.StringLiteral | A.BooleanLiteral | A.NullLiteral | A.DateLiteral | A.TimestampLiteral | A.DurationLiteral): TExpr {
  const span = e.span;
  switch (e.kind) {
    case "Number": {
      if (!Number.isFinite(parseNumber(e.raw))) return errorNode(span);
      const integer = /^[0-9_]+$/.test(e.raw) && Number.isSafeInteger(e.value);
      return { k: "lit", type: integer ? T.integer : T.number, value: e.value, span };
    }
    case "String":
      return { k: "lit", type: T.string, value: e.value, span };
    case "Boolean":
      return { k: "lit", type: T.boolean, value: e.value, span };
    case "Null":
      return { k: "lit", type: T.null, value: null, span };
    case "Date":
      return dateToTimestamp(e.value) === undefined ? errorNode(span) : { k: "lit", type: T.date, value: e.value, span };
    case "Timestamp": {
      const iso = normalizeTimestamp(e.value);
      return iso === undefined ? errorNode(span) : { k: "lit", type: T.timestamp, value: iso, span };
    }
    case "Duration": {
      const ms = durationMs(e);
      return ms === undefined ? errorNode(span) : { k: "lit", type: T.duration, value: ms, span };
    }
  }
}

/** A list outside `in [...]`: typed `list<T>`; comparisons and conditions then reject it. */
function checkList(ctx: CheckContext, scope: Scope, e: A.ListLiteral): TExpr {
  const items = e.items.map((i) => checkExpr(ctx, scope, i));
  let element: SegType = T.any;
  for (const item of items) {
    if (unknown(item)) return errorNode(e.span);
    const common = commonType(element, item.type);
    if (!common) {
      ctx.report(scope.file, "typeMismatch", item.span, [`a list holds values of one type, but this is ${describeType(item.type)}`]);
      return errorNode(e.span);
    }
    element = common;
  }
  return { k: "lit", type: { kind: "list", nullable: false, element }, value: null, span: e.span };
}

function checkNot(ctx: CheckContext, scope: Scope, e: A.Unary): TExpr {
  const operand = checkCondition(ctx, scope, e.operand);
  return { k: "op", op: "not", args: [operand], type: BOOL, span: e.span };
}

function checkNegation(ctx: CheckContext, scope: Scope, e: A.Unary): TExpr {
  const operand = checkExpr(ctx, scope, e.operand);
  if (unknown(operand)) return errorNode(e.span);
  const r = negation(operand.type);
  if (!r.ok) {
    ctx.report(scope.file, "typeMismatch", e.span, [r.message], { hints: r.hints });
    return errorNode(e.span);
  }
  return { k: "op", op: "neg", args: [operand], type: r.type, span: e.span };
}

function checkLogical(ctx: CheckContext, scope: Scope, e: A.Binary): TExpr {
  const left = checkCondition(ctx, scope, e.left);
  const right = checkCondition(ctx, scope, e.right);
  return { k: "op", op: e.op === "and" ? "and" : "or", args: [left, right], type: BOOL, span: e.span };
}

function checkComparison(ctx: CheckContext, scope: Scope, e: A.Binary): TExpr {
  const op = COMPARE[e.op]!;
  const left = checkExpr(ctx, scope, e.left);
  const right = checkExpr(ctx, scope, e.right);
  const node: TExpr = { k: "op", op, args: [left, right], type: BOOL, span: e.span };
  if (unknown(left) || unknown(right)) return node;
  if (left.type.kind === "null" || right.type.kind === "null") {
    ctx.report(scope.file, "alwaysNull", e.span, [], { hints: [`write ${e.op === "!=" ? "is not null" : "is null"} instead`] });
    return node;
  }
  const ordered = op !== "eq" && op !== "ne";
  if (!comparable(left.type, right.type, ordered)) {
    const lit = literalOf(left, (n) => ctx.constant(n)) ?? literalOf(right, (n) => ctx.constant(n));
    const hints = comparisonHints(left.type, right.type, lit?.value);
    ctx.report(scope.file, "typeMismatch", e.span, [comparisonMessage(left.type, right.type, ordered)], { hints });
    return errorNode(e.span);
  }
  if (!ordered && !checkEnumSides(ctx, scope, left, right)) return errorNode(e.span);
  return node;
}

/** SEG036 when one side is an enum and the other a string literal outside it. False if reported. */
export function checkEnumSides(ctx: CheckContext, scope: Scope, a: TExpr, b: TExpr): boolean {
  for (const [typed, other] of [[a, b], [b, a]] as const) {
    const lit = literalOf(other, (n) => ctx.constant(n));
    if (!lit || typeof lit.value !== "string") continue;
    const problem = enumProblem(typed.type, lit.value, describeOperand(typed));
    if (problem) {
      ctx.report(scope.file, "typeMismatch", other.span, [problem.message], { hints: problem.hints });
      return false;
    }
  }
  return true;
}

/** How an operand is named in messages: `customer.loyalty_tier`, `purchase.category`, or "the value". */
export function describeOperand(e: TExpr): string {
  if (e.k === "attr") return `${e.profile}.${e.field}`;
  if (e.k === "field") return `${e.source}.${e.field}`;
  if (e.k === "const") return e.name;
  return "the value";
}

function checkArithmetic(ctx: CheckContext, scope: Scope, e: A.Binary): TExpr {
  const op = ARITH[e.op]!;
  const left = checkExpr(ctx, scope, e.left);
  const right = checkExpr(ctx, scope, e.right);
  if (unknown(left) || unknown(right)) return errorNode(e.span);
  const r = arithmetic(op, left.type, right.type);
  if (!r.ok) {
    ctx.report(scope.file, "typeMismatch", e.span, [r.message], { hints: r.hints });
    return errorNode(e.span);
  }
  if (op === "div") {
    const lit = literalOf(right, (n) => ctx.constant(n));
    if (lit && lit.value === 0) ctx.report(scope.file, "divisionByZero", right.span);
  }
  return { k: "op", op, args: [left, right], type: r.type, span: e.span };
}
