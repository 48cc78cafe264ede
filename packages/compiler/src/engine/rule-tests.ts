/**
 * Rule tests: fixture events plus the members each segment must have, run on the embedded engine.
 *
 * A test file (`tests/*.test.json` in a project) holds cases:
 *   { "cases": [ { "name": "...", "asOf": "2026-11-01T00:00:00Z",
 *                  "data": { "<source>": [ {record}, ... ] },
 *                  "expect": { "<segment>": ["id1", "id2"] } } ] }
 * Sources missing from `data` are empty. Members are compared as sets of ids.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diagnostic, type Diagnostic } from "@seg/dsl";
import { JsonDocument } from "../json-locate.js";
import { buildPlan, type LoweredProgram } from "../lower/index.js";
import type { SchemaRegistry } from "../schema-registry.js";
import { evaluatePlan } from "./duckdb-engine.js";
import type { DataProblem } from "./load-data.js";

/** One case of a rule test file. */
export interface RuleTestCase {
  name: string;
  asOf: string;
  data: Record<string, unknown[]>;
  expect: Record<string, string[]>;
}

/** A rule test file, read and validated. */
export interface RuleTestFile {
  path: string;
  cases: RuleTestCase[];
}

/** The outcome of one case. */
export interface RuleTestOutcome {
  file: string;
  name: string;
  passed: boolean;
  /** Per segment: expected ids that are missing, and ids present that were not expected. */
  mismatches: { segment: string; missing: string[]; unexpected: string[] }[];
  problems: DataProblem[];
  error?: string;
}

/** Every `*.test.json` under `dir` (sorted); none when the folder does not exist. */
export function listRuleTestFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries.filter((e) => e.endsWith(".test.json")).sort().map((e) => join(dir, e));
}

/** Reads a test file; problems are diagnostics located in the JSON. */
export function readRuleTestFile(path: string, display: string): { file?: RuleTestFile; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { diagnostics: [diagnostic("fileUnreadable", { start: { offset: 0, line: 1, column: 1 }, end: { offset: 0, line: 1, column: 1 } }, [display, (e as Error).message], { file: display })] };
  }
  const doc = JsonDocument.parse(text);
  if (!doc.ok) return { diagnostics: [diagnostic("testFileInvalid", doc.error!.span, [`invalid JSON: ${doc.error!.message}`], { file: display })] };
  const bad = (pointer: string, message: string) => ({
    diagnostics: [diagnostic("testFileInvalid", doc.locate(pointer).focus, [`${pointer || "/"}: ${message}`], { file: display })],
  });
  const root = doc.value as { cases?: unknown };
  if (typeof root !== "object" || root === null || !Array.isArray(root.cases)) return bad("", "a test file is an object with a \"cases\" array");
  const cases: RuleTestCase[] = [];
  for (const [i, c] of (root.cases as unknown[]).entries()) {
    const at = `/cases/${i}`;
    if (typeof c !== "object" || c === null) return bad(at, "each case is an object");
    const { name, asOf, data, expect } = c as Record<string, unknown>;
    if (typeof name !== "string" || name === "") return bad(at, "a case needs a \"name\"");
    if (typeof asOf !== "string" || !Number.isFinite(Date.parse(asOf))) return bad(`${at}/asOf`, "\"asOf\" must be an ISO-8601 timestamp");
    if (typeof data !== "object" || data === null || Object.values(data).some((v) => !Array.isArray(v))) {
      return bad(`${at}/data`, "\"data\" maps each source to an array of records");
    }
    if (typeof expect !== "object" || expect === null || Object.values(expect).some((v) => !Array.isArray(v) || v.some((x) => typeof x !== "string"))) {
      return bad(`${at}/expect`, "\"expect\" maps each segment to an array of member ids (strings)");
    }
    cases.push({ name, asOf: new Date(Date.parse(asOf)).toISOString(), data: data as Record<string, unknown[]>, expect: expect as Record<string, string[]> });
  }
  return { file: { path: display, cases }, diagnostics: [] };
}

/** Runs one case: writes its data as JSON Lines, evaluates the expected segments, compares ids. */
export async function runRuleTestCase(file: string, c: RuleTestCase, lowered: LoweredProgram, registry: SchemaRegistry): Promise<RuleTestOutcome> {
  const outcome: RuleTestOutcome = { file, name: c.name, passed: false, mismatches: [], problems: [] };
  const segments = Object.keys(c.expect).sort();
  const unknown = segments.filter((s) => !lowered.segments.has(s));
  if (unknown.length > 0) return { ...outcome, error: `unknown or broken segment${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}` };
  const unknownSources = Object.keys(c.data).filter((s) => !lowered.sources.has(s));
  if (unknownSources.length > 0) return { ...outcome, error: `no schema for data source${unknownSources.length > 1 ? "s" : ""}: ${unknownSources.join(", ")}` };
  const dir = mkdtempSync(join(tmpdir(), "seg-test-"));
  try {
    for (const [source, records] of Object.entries(c.data)) {
      writeFileSync(join(dir, `${source}.jsonl`), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    }
    const plan = buildPlan(lowered, segments);
    const result = await evaluatePlan(plan, { dataDir: dir, asOf: c.asOf, schemas: registry });
    outcome.problems = result.problems.filter((p) => p.severity !== "info");
    for (const s of segments) {
      const actual = new Set((result.segments[s]?.members ?? []).map((m) => m.id));
      const expected = new Set(c.expect[s]);
      const missing = [...expected].filter((id) => !actual.has(id)).sort();
      const unexpected = [...actual].filter((id) => !expected.has(id)).sort();
      if (missing.length > 0 || unexpected.length > 0) outcome.mismatches.push({ segment: s, missing, unexpected });
    }
    outcome.passed = outcome.mismatches.length === 0 && !outcome.problems.some((p) => p.severity === "error");
    return outcome;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
