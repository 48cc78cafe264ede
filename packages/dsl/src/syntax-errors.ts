/**
 * Turns Chevrotain's recognition errors into seg's wording. The provider returns a small JSON
 * payload that `parse` turns into a diagnostic from the message table.
 */
import type { IParserErrorMessageProvider, IToken, TokenType } from "chevrotain";
import { EOF } from "./chevrotain.js";

/** What the parser expected and found, as carried in a recognition error's message. */
export interface SyntaxErrorPayload {
  expected: string;
  found: string;
  rule: string;
}

/** Describes a token for a message: `'where'`, `the end of the file`. */
export function describeToken(tok: IToken): string {
  if (tok.tokenType === EOF) return "the end of the file";
  const image = tok.image.length > 30 ? tok.image.slice(0, 27) + "..." : tok.image;
  return `'${image}'`;
}

function label(t: TokenType): string {
  return t.LABEL ?? t.name;
}

/** Joins labels into "a, b or c", dropping duplicates. */
export function oneOf(labels: string[]): string {
  const unique = [...new Set(labels)];
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

const EXPRESSION_RULES = new Set([
  "expr",
  "orExpr",
  "andExpr",
  "notExpr",
  "predicate",
  "additive",
  "multiplicative",
  "unary",
  "primary",
]);

function firstTokens(paths: TokenType[][][]): string[] {
  return paths.flatMap((alt) => alt.map((path) => (path[0] ? label(path[0]) : "")).filter(Boolean));
}

function payload(expected: string, actual: IToken, rule: string): string {
  const p: SyntaxErrorPayload = { expected, found: describeToken(actual), rule };
  return JSON.stringify(p);
}

/** The error message provider handed to the parser. */
export const syntaxErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    return payload(label(expected), actual, ruleName);
  },
  buildNotAllInputParsedMessage({ firstRedundant, ruleName }) {
    return payload("the end of the file", firstRedundant, ruleName);
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const expected = EXPRESSION_RULES.has(ruleName) ? "an expression" : oneOf(firstTokens(expectedPathsPerAlt));
    return payload(expected, actual[0]!, ruleName);
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }) {
    return payload(oneOf(expectedIterationPaths.map((p) => (p[0] ? label(p[0]) : ""))), actual[0]!, ruleName);
  },
};
