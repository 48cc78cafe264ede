/**
 * Cycles among references (segments via `in`, constants via their names). Each cycle is reported
 * once, starting at its member declared first, as a path `a -> b -> a`.
 */
import type { Span } from "../dsl-imports.js";

/** A reference from one node to another, where it is written. */
export interface Edge {
  to: string;
  span: Span;
}

/** A node of the reference graph. */
export interface GraphNode {
  name: string;
  file: string;
  /** Outgoing references in source order. */
  edges: Edge[];
}

/** One cycle: its path (first node repeated at the end) and the edge taken from each node. */
export interface Cycle {
  /** Every node of the strongly connected component (all of them lie on some cycle). */
  members: string[];
  path: string[];
  /** `steps[i]` is the reference from `path[i]` to `path[i + 1]`. */
  steps: { from: GraphNode; edge: Edge }[];
}

/**
 * Finds the cycles of a graph: one per strongly connected component that has a cycle, each the
 * shortest cycle through the component's first node (in `nodes` order). Deterministic.
 */
export function findCycles(nodes: readonly GraphNode[]): Cycle[] {
  const byName = new Map(nodes.map((n) => [n.name, n] as const));
  const components = stronglyConnected(nodes, byName);
  const cycles: Cycle[] = [];
  for (const comp of components) {
    const members = new Set(comp);
    const first = nodes.find((n) => members.has(n.name))!;
    const selfLoop = first.edges.find((e) => e.to === first.name);
    if (comp.length === 1 && !selfLoop) continue;
    const cycle = shortestCycle(first, members, byName);
    if (cycle) cycles.push({ ...cycle, members: nodes.filter((n) => members.has(n.name)).map((n) => n.name) });
  }
  const order = new Map(nodes.map((n, i) => [n.name, i] as const));
  return cycles.sort((a, b) => order.get(a.path[0]!)! - order.get(b.path[0]!)!);
}

/** Tarjan's algorithm, iterative; components as lists of names. */
function stronglyConnected(nodes: readonly GraphNode[], byName: Map<string, GraphNode>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  for (const root of nodes) {
    if (index.has(root.name)) continue;
    const work: { node: GraphNode; next: number }[] = [{ node: root, next: 0 }];
    index.set(root.name, counter);
    low.set(root.name, counter++);
    stack.push(root.name);
    onStack.add(root.name);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const { node } = frame;
      if (frame.next < node.edges.length) {
        const to = node.edges[frame.next++]!.to;
        const target = byName.get(to);
        if (!target) continue;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(to)) {
          low.set(node.name, Math.min(low.get(node.name)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node.name, Math.min(low.get(parent.node.name)!, low.get(node.name)!));
      if (low.get(node.name) === index.get(node.name)) {
        const comp: string[] = [];
        let name: string;
        do {
          name = stack.pop()!;
          onStack.delete(name);
          comp.push(name);
        } while (name !== node.name);
        out.push(comp);
      }
    }
  }
  return out;
}

/** Breadth-first search for the shortest way from `start` back to itself inside `members`. */
function shortestCycle(start: GraphNode, members: Set<string>, byName: Map<string, GraphNode>): Omit<Cycle, "members"> | undefined {
  const prev = new Map<string, { from: GraphNode; edge: Edge }>();
  const queue: GraphNode[] = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const edge of node.edges) {
      if (!members.has(edge.to)) continue;
      if (edge.to === start.name) {
        const steps: { from: GraphNode; edge: Edge }[] = [{ from: node, edge }];
        let at = node.name;
        while (at !== start.name) {
          const step = prev.get(at)!;
          steps.unshift(step);
          at = step.from.name;
        }
        return { path: [...steps.map((s) => s.from.name), start.name], steps };
      }
      if (prev.has(edge.to) || edge.to === start.name) continue;
      const target = byName.get(edge.to);
      if (!target) continue;
      prev.set(edge.to, { from: node, edge });
      queue.push(target);
    }
  }
  return undefined;
}
