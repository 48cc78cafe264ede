/**
 * Predicates: `in [...]`, `between`, `is null`, the string tests and window tests. All of them
 * are two-valued booleans; a mismatched operand is SEG036, a `null` literal SEG055.
 */
import type * as A from "@seg/dsl";
import type { OpName } from "../ir.js";
import { isTemporal } from "../types.js";
import { checkWindow } from "./aggregates.js";
import type { CheckContext, Scope } from "./context.js";
import { checkEnumSides, type ExprChecker } from "./expressions.js";
import { describeType } from "./names.js";
import { regexPortabilityProblem, translateRegex } from "./regex.js";
import type { TExpr } from "./program.js";
import { BOOL, errorNode, literalOf, unknown } from "./typed.js";
import { comparable, comparisonHints, comparisonMessage } from "./type-rules.js";

const isNullLiteral = (e: TExpr): boolean => e.k === "lit" && e.type.kind === "null";

function warnNull(ctx: CheckContext, scope: Scope, e: TExpr): void {
  ctx.report(scope.file, "alwaysNull", e.span, [], { hints: ["null never matches: test for it with is null"] });
}

/** `x [not] in [a, b]`. */
export function checkInList(ctx: CheckContext, scope: Scope, e: A.InList, check: ExprChecker): TExpr {
  const arg = check(e.operand, scope);
  if (e.list.kind !== "List") {
    const other = check(e.list, scope);
    if (!unknown(other)) ctx.report(scope.file, "typeMismatch", e.list.span, ["`in` needs a list written in brackets, e.g. in [\"US\", \"CA\"]"]);
    return errorNode(e.span);
  }
  const items = e.list.items.map((i) => check(i, scope));
  let failed = false;
  if (!unknown(arg) && arg.type.kind === "list") {
    ctx.report(scope.file, "typeMismatch", e.operand.span, ["a list cannot be tested with `in`"]);
    return errorNode(e.span);
  }
  for (const item of items) {
    if (unknown(item) || unknown(arg)) continue;
    if (isNullLiteral(item)) {
      warnNull(ctx, scope, item);
      continue;
    }
    if (!comparable(arg.type, item.type, false)) {
      const lit = literalOf(item, (n) => ctx.constant(n));
      const message = `the list holds ${describeType(item.type)}, but the value tested is ${describeType(arg.type)}`;
      ctx.report(scope.file, "typeMismatch", item.span, [message], { hints: comparisonHints(arg.type, item.type, lit?.value) });
      failed = true;
    } else if (!checkEnumSides(ctx, scope, arg, item)) failed = true;
  }
  if (failed) return errorNode(e.span);
  return { k: "in", negated: e.negated, arg, items, type: BOOL, span: e.span };
}

/** `x [not] between low and high`. */
export function checkBetween(ctx: CheckContext, scope: Scope, e: A.Between, check: ExprChecker): TExpr {
  const arg = check(e.operand, scope);
  const low = check(e.low, scope);
  const high = check(e.high, scope);
  const node: TExpr = { k: "between", negated: e.negated, arg, low, high, type: BOOL, span: e.span };
  if (unknown(arg) || unknown(low) || unknown(high)) return node;
  for (const part of [arg, low, high]) {
    if (isNullLiteral(part)) {
      warnNull(ctx, scope, part);
      return node;
    }
  }
  for (const bound of [low, high]) {
    if (!comparable(arg.type, bound.type, true)) {
      const lit = literalOf(bound, (n) => ctx.constant(n));
      ctx.report(scope.file, "typeMismatch", bound.span, [comparisonMessage(arg.type, bound.type, true)], {
        hints: comparisonHints(arg.type, bound.type, lit?.value),
      });
      return errorNode(e.span);
    }
  }
  return node;
}

/** `x is [not] null`. */
export function checkIsNull(ctx: CheckContext, scope: Scope, e: A.IsNull, check: ExprChecker): TExpr {
  const arg = check(e.operand, scope);
  if (!unknown(arg) && arg.type.kind === "list") {
    ctx.report(scope.file, "typeMismatch", e.operand.span, ["a list is never null"]);
    return errorNode(e.span);
  }
  return { k: "op", op: e.negated ? "is_not_null" : "is_null", args: [arg], type: BOOL, span: e.span };
}

const STRING_OPS: Record<A.StringOperator, OpName> = {
  contains: "contains",
  "starts with": "starts_with",
  "ends with": "ends_with",
  matches: "matches",
};

/** `s [not] contains p`, `starts with`, `ends with`, `matches`. */
export function checkStringTest(ctx: CheckContext, scope: Scope, e: A.StringTest, check: ExprChecker): TExpr {
  const arg = check(e.operand, scope);
  const pattern = check(e.pattern, scope);
  let failed = false;
  for (const [part, role] of [[arg, "the value tested"], [pattern, e.op === "matches" ? "the pattern" : "the text searched for"]] as const) {
    if (unknown(part)) {
      failed = true;
      continue;
    }
    if (isNullLiteral(part)) {
      warnNull(ctx, scope, part);
      continue;
    }
    if (part.type.kind !== "string") {
      ctx.report(scope.file, "typeMismatch", part.span, [`\`${e.op}\` works on strings, but ${role} is ${describeType(part.type)}`]);
      failed = true;
    }
  }
  if (!failed && e.op === "matches") {
    const lit = literalOf(pattern, (n) => ctx.constant(n));
    if (lit && typeof lit.value === "string") {
      const unportable = regexPortabilityProblem(lit.value);
      const problem = unportable?.syntax ? unportable.message : unportable === undefined ? regexProblem(translateRegex(lit.value, "js")) : undefined;
      if (problem !== undefined) {
        ctx.report(scope.file, "invalidRegex", pattern.span, [problem], { hints: ["a regex backslash is written twice in a seg string: \"\\\\d+\""] });
      } else if (unportable !== undefined) {
        const near = lit.value.slice(unportable.offset, unportable.offset + 12);
        ctx.report(scope.file, "unportableRegex", pattern.span, [unportable.message], {
          hints: [`at character ${unportable.offset + 1} of the pattern (\`${near}\`); seg regexes are the subset DuckDB (RE2) and Spark (Java) read alike`],
        });
      }
      if (unportable !== undefined || problem !== undefined) {
        failed = true;
      }
    } else if (!lit) {
      ctx.report(scope.file, "regexNotConstant", pattern.span, [], {
        hints: ["each engine reads a pattern with its own regex dialect; seg checks and translates a pattern it knows, so one taken from the data could match differently on DuckDB and Spark"],
      });
      failed = true;
    }
  }
  if (failed) return errorNode(e.span);
  const test: TExpr = { k: "op", op: STRING_OPS[e.op], args: [arg, pattern], type: BOOL, span: e.span };
  return e.negated ? { k: "op", op: "not", args: [test], type: BOOL, span: e.span } : test;
}

/**
 * Why `pattern` is not a valid regular expression, or undefined. JavaScript's regular expressions
 * stand in for Java's and RE2's: close enough to catch unbalanced groups, classes and quantifiers.
 */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "");
  }
}

/** `t [not] in last D`, `t [not] between D1 and D2 ago`. */
export function checkWindowTest(ctx: CheckContext, scope: Scope, e: A.WindowTest, check: ExprChecker): TExpr {
  const arg = check(e.operand, scope);
  const window = checkWindow(ctx, scope, e.window);
  if (unknown(arg) || window === undefined) return errorNode(e.span);
  if (isNullLiteral(arg)) {
    warnNull(ctx, scope, arg);
  } else if (!isTemporal(arg.type)) {
    ctx.report(scope.file, "typeMismatch", arg.span, [`a window test needs a timestamp, but this is ${describeType(arg.type)}`]);
    return errorNode(e.span);
  }
  return { k: "in_window", negated: e.negated, arg, window, type: BOOL, span: e.span };
}
