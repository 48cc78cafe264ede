/**
 * Small generic helpers over the AST: span-free copies and a depth-first walk.
 */
import type { Node } from "./ast.js";
import type { Span } from "./span.js";

const SPAN_KEYS = new Set(["span", "fnSpan"]);

/** A deep copy of a tree without any spans (and without comments), for structural comparison. */
export function stripSpans<T>(node: T): T {
  return JSON.parse(
    JSON.stringify(node, (key, value: unknown) => (SPAN_KEYS.has(key) || key === "comments" ? undefined : value)),
  ) as T;
}

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && "kind" in value && "span" in value;
}

/** Visits every node below and including `root`, parents before children. */
export function walk(root: Node, visit: (node: Node, parent: Node | undefined) => void): void {
  const stack: [Node, Node | undefined][] = [[root, undefined]];
  while (stack.length > 0) {
    const [node, parent] = stack.pop()!;
    visit(node, parent);
    const children: Node[] = [];
    for (const [key, value] of Object.entries(node)) {
      if (key === "span" || key === "comments") continue;
      if (Array.isArray(value)) for (const v of value) if (isNode(v)) children.push(v);
      if (isNode(value)) children.push(value);
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, node]);
  }
}

/** Every span in a tree, including name and function spans. */
export function allSpans(root: Node): Span[] {
  const spans: Span[] = [];
  walk(root, (n) => {
    spans.push(n.span);
    if (n.kind === "Aggregate") spans.push(n.fnSpan);
  });
  return spans;
}
