/**
 * One-line printing of expressions, windows and names in the canonical style, for the formatter.
 * The printer follows the grammar exactly and adds parentheses only where the tree has a `Paren`
 * node, so parsing the printed text gives back the same tree.
 */
import type * as A from "./ast.js";
import { printDuration, printName, quoteString } from "./literals.js";
import { KEYWORDS } from "./tokens.js";

const isKeyword = (word: string): boolean => Object.prototype.hasOwnProperty.call(KEYWORDS, word);
const never = (): boolean => false;

/**
 * Prints a name. A name the author wrote in backticks stays in backticks (the tree records
 * `quoted`); a bare name gets backticks only if it could not stand bare. After a dot every keyword
 * is a plain field name, so `field` names are never quoted for being reserved.
 */
export function printNameNode(name: A.Name, field = false): string {
  if (name.quoted) return quoteString(name.text, "`");
  return printName(name.text, field ? never : isKeyword);
}

/** Prints a duration literal: `30 days`, `1 hour`, `1_000 days`. */
export function printDurationNode(d: A.DurationLiteral): string {
  return printDuration(d.raw, d.unit);
}

/** Prints a window: `in last 30 days`, `between 60 days and 30 days ago`, `ever`. */
export function printWindow(w: A.Window): string {
  switch (w.kind) {
    case "LastWindow":
      return `in last ${printDurationNode(w.duration)}`;
    case "AgoWindow":
      return `between ${printDurationNode(w.from)} and ${printDurationNode(w.to)} ago`;
    case "EverWindow":
      return "ever";
  }
}

/** Prints a dotted path: `customer.country`, `purchase.count`. */
export function printPath(p: A.Path): string {
  return p.parts.map((part, i) => printNameNode(part, i > 0)).join(".");
}

const not = (negated: boolean): string => (negated ? "not " : "");

/** Prints an expression on one line. */
export function printExpr(e: A.Expr): string {
  switch (e.kind) {
    case "Number":
      return e.raw;
    case "String":
      return quoteString(e.value);
    case "Boolean":
      return e.value ? "true" : "false";
    case "Null":
      return "null";
    case "Date":
    case "Timestamp":
      return e.value;
    case "Duration":
      return printDurationNode(e);
    case "AsOf":
      return "as_of";
    case "List":
      return `[${e.items.map(printExpr).join(", ")}]`;
    case "Path":
      return printPath(e);
    case "Aggregate": {
      let inner = printPath(e.source);
      if (e.window) inner += " " + printWindow(e.window);
      if (e.filter) inner += " where " + printExpr(e.filter);
      return `${e.fn}(${inner})`;
    }
    case "Call":
      return `${printNameNode(e.callee)}(${e.args.map(printExpr).join(", ")})`;
    case "SegmentRef":
      return `in ${printNameNode(e.name)}`;
    case "Unary":
      return e.op === "not" ? `not ${printExpr(e.operand)}` : `-${printExpr(e.operand)}`;
    case "Binary":
      return `${printExpr(e.left)} ${e.op} ${printExpr(e.right)}`;
    case "InList":
      return `${printExpr(e.operand)} ${not(e.negated)}in ${printExpr(e.list)}`;
    case "Between":
      return `${printExpr(e.operand)} ${not(e.negated)}between ${printExpr(e.low)} and ${printExpr(e.high)}`;
    case "IsNull":
      return `${printExpr(e.operand)} is ${not(e.negated)}null`;
    case "StringTest":
      return `${printExpr(e.operand)} ${not(e.negated)}${e.op} ${printExpr(e.pattern)}`;
    case "WindowTest":
      return `${printExpr(e.operand)} ${not(e.negated)}${printWindow(e.window)}`;
    case "Paren":
      return `(${printExpr(e.expr)})`;
    case "Error":
      // Never reached: the formatter refuses files with errors.
      return "";
  }
}

/** The operands of a left-nested chain of one `and`/`or` operator, or null for anything else. */
export function logicalChain(e: A.Expr): { op: "and" | "or"; operands: A.Expr[] } | null {
  if (e.kind !== "Binary" || (e.op !== "and" && e.op !== "or")) return null;
  const op = e.op;
  const operands: A.Expr[] = [];
  let cur: A.Expr = e;
  while (cur.kind === "Binary" && cur.op === op) {
    operands.push(cur.right);
    cur = cur.left;
  }
  operands.push(cur);
  return { op, operands: operands.reverse() };
}
