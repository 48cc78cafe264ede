/**
 * `checkProject`: name resolution and typing of a whole project. Segments and constants are
 * project-wide; duplicates (SEG042, SEG043, SEG044), cycles (SEG045, SEG046) and unused constants
 * (SEG047) are found across files.
 */
import type * as A from "@seg/dsl";
import { diagnostic, sortDiagnostics, type Diagnostic } from "../dsl-imports.js";
import type { SchemaRegistry } from "../schema-registry.js";
import { CheckContext, relatedAt, type Scope, type SegmentInfo } from "./context.js";
import { findCycles, type GraphNode } from "./cycles.js";
import { checkCondition, checkExpr } from "./expressions.js";
import { describeType, displayName } from "./names.js";
import type { CheckedConst, CheckedMetric, CheckedProgram, CheckedSegment } from "./program.js";
import { checkSettings, type ProjectSettings, type SegmentSettings } from "./settings.js";
import { errorNode, usage, type Usage } from "./typed.js";

/** What {@link checkProject} reads. */
export interface CheckProjectInput {
  /** Parsed files, each with the path shown in diagnostics. Order matters only for ties. */
  files: { file: string; ast: A.SegFile }[];
  registry: SchemaRegistry;
  project: ProjectSettings;
}

/** Diagnostics (sorted by file and position) and the checked program. */
export interface CheckResult {
  diagnostics: Diagnostic[];
  program: CheckedProgram;
}

interface Declared<D> {
  decl: D;
  file: string;
}

const SCALAR_METRIC = new Set(["number", "integer", "string", "boolean", "timestamp"]);

/** Checks every file of a project against the schema registry. Never throws on user errors. */
export function checkProject(input: CheckProjectInput): CheckResult {
  const { registry, project } = input;
  const segDecls: Declared<A.SegmentDecl>[] = [];
  const constDecls: Declared<A.ConstDecl>[] = [];
  for (const { file, ast } of input.files) {
    for (const decl of ast.declarations) {
      if (decl.kind === "Segment") segDecls.push({ decl, file });
      else constDecls.push({ decl, file });
    }
  }
  const pending: Diagnostic[] = [];
  const firstSegments = firstOfEach(segDecls, "duplicateSegment", pending);
  const firstConsts = firstOfEach(constDecls, "duplicateConst", pending);

  // Constants are checked on first use (or in declaration order), each exactly once.
  const constState = new Map<string, CheckedConst | "checking">();
  const lookup = (name: string): CheckedConst | "cycle" | undefined => {
    const state = constState.get(name);
    if (state === "checking") return "cycle";
    if (state) return state;
    const entry = firstConsts.get(name);
    return entry ? checkConst(entry) : undefined;
  };
  const segmentInfos = new Map<string, SegmentInfo>();
  const ctx = new CheckContext(registry, segmentInfos, new Set(firstConsts.keys()), lookup);
  const entityOf = {
    profile: (n: string) => [...registry.profiles.values()].find((p) => p.name === n)?.entity,
    event: (n: string) => registry.events.get(n)?.entity,
    segment: (n: string) => segmentInfos.get(n)?.entity ?? undefined,
  };
  const errorCount = (): number => ctx.errorCount;

  function checkConst({ decl, file }: Declared<A.ConstDecl>): CheckedConst {
    constState.set(decl.name.text, "checking");
    ctx.constStack.push(decl.name.text);
    ctx.constEdges.set(decl.name.text, []);
    const before = errorCount();
    const body = checkExpr(ctx, { file, segment: null, filter: null }, decl.expr);
    ctx.constStack.pop();
    const u = usage([body], lookup, entityOf);
    const checked: CheckedConst = {
      name: decl.name.text,
      file,
      span: decl.name.span,
      body,
      type: body.type,
      ok: !u.hasError && errorCount() === before,
      hasAggregate: u.aggregate,
      usesAttribute: u.attribute,
      segments: [...u.segments].sort(),
      entities: [...u.entities].sort(),
    };
    constState.set(decl.name.text, checked);
    return checked;
  }

  // Settings first: references to a segment need its entity.
  const settings = new Map<A.SegmentDecl, SegmentSettings>();
  for (const { decl, file } of segDecls) settings.set(decl, checkSettings(ctx, file, decl, project));
  for (const [name, { decl, file }] of firstSegments) {
    const s = settings.get(decl)!;
    segmentInfos.set(name, { name, entity: s.entityKnown ? s.entity : null, file, span: decl.name.span });
  }

  for (const entry of constDecls) {
    if (firstConsts.get(entry.decl.name.text) === entry) lookup(entry.decl.name.text);
    else checkExpr(ctx, { file: entry.file, segment: null, filter: null }, entry.decl.expr);
  }

  const segments = new Map<string, CheckedSegment>();
  const uses = new Map<string, Usage>();
  for (const entry of segDecls) {
    const { segment, use } = checkSegment(ctx, entry, settings.get(entry.decl)!, lookup, entityOf, errorCount);
    if (firstSegments.get(entry.decl.name.text) === entry) {
      segments.set(segment.name, segment);
      uses.set(segment.name, use);
    }
  }

  reportConstCycles(ctx, firstConsts);
  const cyclic = reportSegmentCycles(ctx, segments, uses);
  for (const [name, { decl, file }] of firstConsts) {
    if (!ctx.usedConsts.has(name)) ctx.report(file, "unusedConst", decl.name.span, [displayName(name)], { hints: ["use it in a segment, or remove it"] });
  }
  settleOk(segments, cyclic);

  const constants = new Map<string, CheckedConst>();
  for (const name of firstConsts.keys()) {
    const c = constState.get(name);
    if (c && c !== "checking") constants.set(name, c);
  }
  const program: CheckedProgram = { segments, constants, registry, entity: project.entity };
  return { diagnostics: sortDiagnostics([...pending, ...ctx.diagnostics]), program };
}

/** The first declaration of each name; later ones are reported as duplicates. */
function firstOfEach<D extends A.Declaration>(decls: Declared<D>[], code: "duplicateSegment" | "duplicateConst", out: Diagnostic[]): Map<string, Declared<D>> {
  const firsts = new Map<string, Declared<D>>();
  const what = code === "duplicateSegment" ? "segment" : "constant";
  for (const entry of decls) {
    const name = entry.decl.name.text;
    if (name === "") continue;
    const prior = firsts.get(name);
    if (!prior) {
      firsts.set(name, entry);
      continue;
    }
    const related = [relatedAt(prior.decl.name.span, "first declared here", prior.file, entry.file)];
    const hints = [`rename one of them; ${what} names are shared by every file of the project`];
    out.push(diagnostic(code, entry.decl.name.span, [displayName(name)], { file: entry.file, related, hints }));
  }
  return firsts;
}

function checkSegment(
  ctx: CheckContext,
  { decl, file }: Declared<A.SegmentDecl>,
  s: SegmentSettings,
  lookup: (name: string) => CheckedConst | "cycle" | undefined,
  entityOf: Parameters<typeof usage>[2],
  errorCount: () => number,
): { segment: CheckedSegment; use: Usage } {
  const before = errorCount();
  const scope: Scope = { file, segment: { name: decl.name.text, entity: s.entity, entityKnown: s.entityKnown }, filter: null };
  const whereItem = decl.items.find((i): i is A.WhereClause => i.kind === "Where");
  // A missing `where` was reported by the parser (SEG016).
  const where = whereItem ? checkCondition(ctx, scope, whereItem.condition) : errorNode(decl.name.span);
  const metrics: CheckedMetric[] = [];
  const metricSpans = new Map<string, A.Name>();
  for (const item of decl.items) {
    if (item.kind !== "Metric") continue;
    const name = item.name.text;
    const expr = checkExpr(ctx, scope, item.expr);
    const prior = metricSpans.get(name);
    if (name !== "" && prior) {
      ctx.report(file, "duplicateMetric", item.name.span, [displayName(name), displayName(decl.name.text)], {
        related: [{ span: prior.span, message: "first declared here" }],
      });
      continue;
    }
    if (name !== "") metricSpans.set(name, item.name);
    if (expr.type.kind !== "error" && !SCALAR_METRIC.has(expr.type.kind)) {
      const hints = expr.type.kind === "duration" ? ["for a number of days, use days_since(t)"] : [];
      ctx.report(file, "metricNotScalar", expr.span, [displayName(name), describeType(expr.type)], { hints });
      metrics.push({ name, expr: errorNode(expr.span), span: item.name.span });
      continue;
    }
    metrics.push({ name, expr, span: item.name.span });
  }
  const use = usage([where, ...metrics.map((m) => m.expr)], lookup, entityOf);
  const segment: CheckedSegment = {
    name: decl.name.text,
    title: s.title,
    description: s.description,
    owner: s.owner,
    tags: s.tags,
    entity: s.entity,
    key: s.key,
    refreshMs: s.refreshMs,
    ttlMs: s.ttlMs,
    where,
    metrics,
    dependencies: [...use.segments].sort(),
    file,
    span: decl.span,
    ok: s.ok && !use.hasError && errorCount() === before,
  };
  return { segment, use };
}

function reportConstCycles(ctx: CheckContext, firstConsts: Map<string, Declared<A.ConstDecl>>): void {
  const nodes: GraphNode[] = [...firstConsts].map(([name, { file }]) => ({ name, file, edges: ctx.constEdges.get(name) ?? [] }));
  for (const cycle of findCycles(nodes)) reportCycle(ctx, "constCycle", cycle);
}

function reportSegmentCycles(ctx: CheckContext, segments: Map<string, CheckedSegment>, uses: Map<string, Usage>): Set<string> {
  const nodes: GraphNode[] = [...segments.values()].map((s) => ({
    name: s.name,
    file: s.file,
    edges: uses.get(s.name)!.segmentUses.map((x) => ({ to: x.name, span: x.span })),
  }));
  const cyclic = new Set<string>();
  for (const cycle of findCycles(nodes)) {
    reportCycle(ctx, "segmentCycle", cycle);
    for (const m of cycle.members) cyclic.add(m);
  }
  return cyclic;
}

function reportCycle(ctx: CheckContext, code: "constCycle" | "segmentCycle", cycle: ReturnType<typeof findCycles>[number]): void {
  const [head, ...rest] = cycle.steps;
  const file = head!.from.file;
  const related = rest.map((step) => relatedAt(step.edge.span, `${displayName(step.from.name)} refers to ${displayName(step.edge.to)} here`, step.from.file, file));
  const hint = code === "segmentCycle" ? "a segment cannot depend on itself, directly or through others" : "a constant cannot be defined in terms of itself";
  ctx.report(file, code, head!.edge.span, [cycle.path.map(displayName).join(" -> ")], { related, hints: [hint] });
}

/** A segment is ok when it has no errors, is in no cycle, and every segment it uses is ok. */
function settleOk(segments: Map<string, CheckedSegment>, cyclic: Set<string>): void {
  const done = new Map<string, boolean>();
  const visit = (name: string): boolean => {
    const known = done.get(name);
    if (known !== undefined) return known;
    const s = segments.get(name);
    if (!s || cyclic.has(name)) {
      done.set(name, false);
      return false;
    }
    done.set(name, false); // provisional, in case of an unreported loop
    const ok = s.ok && s.dependencies.every(visit);
    done.set(name, ok);
    s.ok = ok;
    return ok;
  };
  for (const name of segments.keys()) visit(name);
  for (const name of cyclic) {
    const s = segments.get(name);
    if (s) s.ok = false;
  }
}
