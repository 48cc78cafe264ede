/**
 * Random, well-typed seg rules and matching random data for differential testing (the same rules
 * and rows evaluated by two engines must give the same members and metrics).
 *
 * Everything is driven by one seed ({@link Rng}), so a failing case is reproduced from the seed
 * alone. The rules are written for {@link DIFF_SCHEMAS} (entity `user`: a `member` profile and two
 * event types); the data generator works from any seg JSON schema, so it also feeds other
 * projects (the golden corpus). Values are adversarial on purpose: window-boundary timestamps,
 * nulls and missing fields, entities without events, quotes, backslashes, `%` and `_`, regex
 * metacharacters, case-special letters (ß, İ, final sigma, ǅ) and whitespace variants (U+000B).
 */
import { quoteString } from "@seg/dsl";
import { regexProblem } from "../../src/check/predicates.js";
import { regexPortabilityProblem, translateRegex } from "../../src/check/regex.js";

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The evaluation time of the differential project. */
export const DIFF_AS_OF = "2026-11-01T00:00:00Z";
const AS_OF_MS = Date.parse(DIFF_AS_OF);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Kind = "num" | "str" | "bool" | "ts";

interface FieldDef {
  name: string;
  kind: Kind | "int" | "date";
  nullable: boolean;
}

const profileFields: FieldDef[] = [
  { name: "name", kind: "str", nullable: true },
  { name: "tier", kind: "str", nullable: false },
  { name: "score", kind: "num", nullable: true },
  { name: "age", kind: "int", nullable: true },
  { name: "vip", kind: "bool", nullable: true },
  { name: "joined", kind: "ts", nullable: true },
  { name: "born", kind: "date", nullable: true },
];
const eventFields: Record<string, FieldDef[]> = {
  order: [
    { name: "amount", kind: "num", nullable: true },
    { name: "qty", kind: "int", nullable: true },
    { name: "coupon", kind: "str", nullable: true },
    { name: "channel", kind: "str", nullable: false },
    { name: "paid", kind: "bool", nullable: true },
  ],
  visit: [
    { name: "url", kind: "str", nullable: false },
    { name: "ms", kind: "int", nullable: true },
  ],
};

function jsonType(f: FieldDef): Record<string, unknown> {
  const base =
    f.kind === "num" ? { type: "number" } : f.kind === "int" ? { type: "integer" } : f.kind === "bool" ? { type: "boolean" } : f.kind === "ts" ? { type: "string", format: "date-time" } : f.kind === "date" ? { type: "string", format: "date" } : { type: "string" };
  return f.nullable ? { ...base, type: [base.type, "null"] } : base;
}

function schema(name: string, xSeg: Record<string, string>, key: string, fields: FieldDef[], time?: string): Record<string, unknown> {
  const properties: Record<string, unknown> = { [key]: { type: "string" } };
  if (time) properties[time] = { type: "string", format: "date-time" };
  for (const f of fields) properties[f.name] = jsonType(f);
  const required = [key, ...(time ? [time] : []), ...fields.filter((f) => !f.nullable).map((f) => f.name)];
  return { $schema: "https://json-schema.org/draft/2020-12/schema", title: name, type: "object", "x-seg": { name, entity: "user", key, ...xSeg }, properties, required, additionalProperties: false };
}

/** The differential project's schemas, by file name (`member`, `order`, `visit`; entity `user`). */
export const DIFF_SCHEMAS: Record<string, Record<string, unknown>> = {
  "member.schema.json": schema("member", { kind: "profile" }, "id", profileFields),
  "order.schema.json": schema("order", { kind: "event", time: "ts" }, "user_id", eventFields.order!, "ts"),
  "visit.schema.json": schema("visit", { kind: "event", time: "ts" }, "user_id", eventFields.visit!, "ts"),
};

/** The differential project's `seg.config.json`. */
export const DIFF_CONFIG = { entity: "user", schemas: "schemas", rules: "rules", defaultAsOf: DIFF_AS_OF };

// ---- values --------------------------------------------------------------------------------------

/** Strings that tell engines apart when they disagree on case, whitespace, escaping or regexes. */
export const ADVERSARIAL_STRINGS: readonly string[] = [
  "", " ", "a", "A", "abc", "ABC", "Abc", "straße", "STRASSE", "STRAẞE", "İstanbul", "istanbul", "ΟΔΟΣ", "οδος", "ǅemal", "ǆ",
  "ﬁle", "Kelvin\u212a", "ſ", "a\u000bb", "a b", "a\tb", "a\nb", "a\r\nb", "line\n", " x ", "\u00a0nb", "\u2028", "café", "cafe\u0301",
  "o'neill", 'say "hi"', "back\\slash", "\\d", "100%", "a_b", "a%b", "%", "_", "x.y", "(x)", "[x]", "a+b", "$5", "^up", "a|b", "{1}",
  "🎉", "x🎉", "WELCOME10", "welcome", "WELCOME", "Zeta", "zeta", "123", "1e3", "null", "ıi", "Ǆ", "VIP", "vip-gold", "gold", "silver",
];
const NUMBERS = [0, -0, 1, -1, 0.5, 0.1, 0.2, 0.25, 1.005, 0.285, 2.5, -2.5, 2.675, 100, 99.75, 1000, 1e15, 123456.789, 1e-7, -3.5];
/** Exact binary fractions only: sums then do not depend on the order rows are added in. */
const EVENT_NUMBERS = [0, -0, 0.25, 0.5, 1, 2.5, 10, 99.75, 100, 1000, -3.5];
const INTEGERS = [0, 1, 2, 3, -1, 10, 17, 18, 65, 100, 1000];
/** Durations the rules use (ms); the data puts events exactly on and next to each boundary. */
const WINDOW_MS = [1 * DAY, 7 * DAY, 30 * DAY, 90 * DAY, 36 * HOUR, 60 * DAY, 2 * HOUR];

function iso(ms: number, style: number): string {
  const text = new Date(ms).toISOString();
  switch (style % 4) {
    case 0:
      return text.replace(".000Z", "Z");
    case 1:
      return text;
    case 2:
      // the same instant with an offset
      return new Date(ms + 2 * HOUR).toISOString().replace("Z", "+02:00");
    default:
      return text.replace("Z", "001Z").replace(/\.(\d{3})001Z$/, ".$1000Z");
  }
}

/** A timestamp on, just inside or just outside a window boundary, or far away. */
function boundaryTimestamp(rng: Rng): string {
  const d = rng.pick([0, ...WINDOW_MS]);
  const nudge = rng.pick([0, 0, 1, -1, 1000, -1000, DAY, -DAY]);
  const ms = rng.chance(0.1) ? Date.parse("2019-05-05T05:05:05Z") : AS_OF_MS - d + nudge;
  if (rng.chance(0.1)) {
    // a microsecond after or before the boundary
    const at = new Date(AS_OF_MS - d - (rng.chance(0.5) ? 0 : 1)).toISOString();
    return at.endsWith(".999Z") ? at.replace(".999Z", ".999999Z") : at.replace(/\.(\d{3})Z$/, ".$1001Z");
  }
  return iso(ms, rng.int(0, 3));
}

function valueFor(rng: Rng, kind: FieldDef["kind"], event: boolean): unknown {
  switch (kind) {
    case "num":
      return rng.pick(event ? EVENT_NUMBERS : NUMBERS);
    case "int":
      return rng.pick(INTEGERS);
    case "bool":
      return rng.chance(0.5);
    case "ts":
      return boundaryTimestamp(rng);
    case "date":
      return new Date(AS_OF_MS - rng.pick([0, 1, 30, 31, 90, 365 * 30]) * DAY).toISOString().slice(0, 10);
    default:
      return rng.pick(ADVERSARIAL_STRINGS);
  }
}

/** A field as the data generator sees it (from a JSON schema). */
interface DataField {
  name: string;
  kind: FieldDef["kind"];
  nullable: boolean;
  required: boolean;
  values?: unknown[];
}

function dataFields(schema: Record<string, unknown>, skip: string[]): DataField[] {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props)
    .filter(([name]) => !skip.includes(name))
    .map(([name, p]) => {
      const types = ([] as unknown[]).concat(p.type ?? "string") as string[];
      const t = types.find((x) => x !== "null") ?? "string";
      const kind: FieldDef["kind"] = t === "number" ? "num" : t === "integer" ? "int" : t === "boolean" ? "bool" : p.format === "date-time" ? "ts" : p.format === "date" ? "date" : "str";
      const f: DataField = { name, kind, nullable: types.includes("null"), required: required.has(name) };
      if (Array.isArray(p.enum)) f.values = p.enum as unknown[];
      return f;
    });
}

/** Entity ids: plain, unicode and quote-bearing ones, so member order and escaping are tested too. */
export function entityIds(count: number): string[] {
  const special = ["é01", "🎉02", "a'b", "Z03", "z03", "u 04"];
  return Array.from({ length: count }, (_, i) => special[i] ?? `u${String(i).padStart(3, "0")}`);
}

/** Rows of one JSON schema with seg's `x-seg` keyword (profiles: one per id; events: 0-6 per id). */
export function generateRows(rng: Rng, schema: Record<string, unknown>, ids: readonly string[]): Record<string, unknown>[] {
  const seg = schema["x-seg"] as { kind: string; key: string; time?: string };
  const fields = dataFields(schema, [seg.key, ...(seg.time ? [seg.time] : [])]);
  const keyIsInteger = ((schema.properties as Record<string, { type?: unknown }>)[seg.key]?.type ?? "string") === "integer";
  const key = (id: string, i: number) => (keyIsInteger ? i + 1 : id);
  const rows: Record<string, unknown>[] = [];
  const row = (id: string, i: number, event: boolean): Record<string, unknown> => {
    const r: Record<string, unknown> = { [seg.key]: key(id, i) };
    if (seg.time) r[seg.time] = boundaryTimestamp(rng);
    for (const f of fields) {
      if (f.nullable && rng.chance(0.2)) {
        // null, or (when the field may be left out) missing
        if (f.required || rng.chance(0.5)) r[f.name] = null;
        continue;
      }
      if (!f.required && !f.nullable && rng.chance(0.1)) continue;
      r[f.name] = f.values ? rng.pick(f.values) : valueFor(rng, f.kind, event);
    }
    return r;
  };
  ids.forEach((id, i) => {
    if (seg.kind === "profile") rows.push(row(id, i, false));
    else if (i % 5 !== 1) for (let n = rng.int(0, 6); n > 0; n--) rows.push(row(id, i, true));
  });
  return rows;
}

/** JSON lines of rows. */
export function toJsonLines(rows: readonly Record<string, unknown>[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

// ---- rules ---------------------------------------------------------------------------------------

const str = (s: string) => quoteString(s);
const numText = (n: number) => (Object.is(n, -0) ? "0" : n < 0 ? `(${n})` : String(n));

/** Pieces of regular expressions (seg string contents, one regex backslash each). */
const REGEX_ATOMS = [
  "a", "b", "x", "é", "ß", "🎉", ".", "\\s", "\\S", "\\d", "\\w", "\\W", "\\b", "\\B", "[[:alpha:]]", "[[:space:]]", "[[:punct:]]", "[[:^digit:]]",
  "[a-z]", "[^a-z]", "[A-Z0-9_]", "[\\s,]", "\\p{L}", "\\p{Lu}", "\\PL", "\\.", "\\$", "\\\\", "%", "_", "'", "\"", "\\v", "\\t", "\\n", "\\x{1F389}",
  "(a|b)", "(?:ab)", "(?i:straße)", "(?i:welcome)", "\\Q.*\\E", "[&&]", "{", "}",
];
const QUANTIFIERS = ["", "", "", "*", "+", "?", "{2}", "{1,3}", "*?"];

/** A portable regular expression (checked: the checker would accept it). */
export function randomRegex(rng: Rng): string {
  for (;;) {
    let p = rng.chance(0.3) ? "^" : "";
    if (rng.chance(0.15)) p = `(?i)${p}`;
    if (rng.chance(0.05)) p = `(?s)${p}`;
    for (let n = rng.int(1, 3); n > 0; n--) p += rng.pick(REGEX_ATOMS) + rng.pick(QUANTIFIERS);
    if (rng.chance(0.3)) p += "$";
    if (regexPortabilityProblem(p) === undefined && regexProblem(translateRegex(p, "js")) === undefined) return p;
  }
}

interface Ctx {
  rng: Rng;
  /** null at profile level; the event name inside an aggregate filter. */
  event: string | null;
  depth: number;
  earlier: string[];
  /** Timestamps only, no dates (metrics cannot be dates). */
  noDate?: boolean;
}

const durationText = (ms: number) => (ms % DAY === 0 ? `${ms / DAY} ${ms === DAY ? "day" : "days"}` : `${ms / HOUR} hours`);

function windowText(rng: Rng): string {
  switch (rng.int(0, 4)) {
    case 0:
      return "";
    case 1:
      return " ever";
    case 2: {
      const [a, b] = [rng.pick(WINDOW_MS), rng.pick(WINDOW_MS)].sort((x, y) => y - x);
      return a === b ? ` in last ${durationText(a!)}` : ` between ${durationText(a!)} and ${durationText(b!)} ago`;
    }
    default:
      return ` in last ${durationText(rng.pick(WINDOW_MS))}`;
  }
}

function fieldsOf(c: Ctx, kind: FieldDef["kind"][]): string[] {
  if (c.event) return eventFields[c.event]!.filter((f) => kind.includes(f.kind)).map((f) => (c.rng.chance(0.5) ? `${c.event}.${f.name}` : f.name));
  return profileFields.filter((f) => kind.includes(f.kind)).map((f) => `member.${f.name}`);
}

function aggregate(c: Ctx, want: Kind): string {
  const rng = c.rng;
  const event = rng.pick(["order", "visit"]);
  const inner: Ctx = { ...c, event, depth: c.depth + 1 };
  const filter = rng.chance(0.4) ? ` where ${boolExpr(inner)}` : "";
  const w = windowText(rng);
  const numFields = eventFields[event]!.filter((f) => f.kind === "num" || f.kind === "int").map((f) => f.name);
  const strFields = eventFields[event]!.filter((f) => f.kind === "str").map((f) => f.name);
  const anyFields = eventFields[event]!.map((f) => f.name);
  switch (want) {
    case "bool":
      return `exists(${event}${w}${filter})`;
    case "ts":
      return `${rng.pick(["first_seen", "last_seen"])}(${event}${w}${filter})`;
    case "str":
      return `${rng.pick(["min", "max"])}(${event}.${rng.pick(strFields)}${w}${filter})`;
    default:
      switch (rng.int(0, 4)) {
        case 0:
          return `count(${event}${w}${filter})`;
        case 1:
          return `count(${event}.${rng.pick(anyFields)}${w}${filter})`;
        case 2:
          return `count_distinct(${event}.${rng.pick(anyFields)}${w}${filter})`;
        default:
          return `${rng.pick(["sum", "avg", "min", "max"])}(${event}.${rng.pick(numFields)}${w}${filter})`;
      }
  }
}

function leafOr(c: Ctx, want: Kind, build: () => string): string {
  return c.depth > 3 ? leaf(c, want) : build();
}

function leaf(c: Ctx, want: Kind): string {
  const rng = c.rng;
  const kinds: Record<Kind, FieldDef["kind"][]> = { num: ["num", "int"], str: ["str"], bool: ["bool"], ts: c.noDate ? ["ts"] : ["ts", "date"] };
  const fields = fieldsOf(c, kinds[want]);
  if (fields.length > 0 && rng.chance(0.7)) return rng.pick(fields);
  switch (want) {
    case "num":
      return rng.chance(0.5) ? numText(rng.pick(INTEGERS)) : numText(rng.pick(NUMBERS));
    case "str":
      return str(rng.pick(ADVERSARIAL_STRINGS));
    case "bool":
      return rng.pick(["true", "false"]);
    default:
      if (c.noDate) return rng.pick(["as_of", "2026-10-02T00:00:00Z", "2026-10-31T00:00:00.000001Z"]);
      return c.event ? rng.pick(["2026-10-02T00:00:00Z", "2026-10-31T00:00:00.000001Z", "2026-10-01"]) : rng.pick(["as_of", "2026-10-02T00:00:00Z", "2026-10-01", `(as_of - ${durationText(rng.pick(WINDOW_MS))})`]);
  }
}

function numExpr(c: Ctx): string {
  const rng = c.rng;
  const d: Ctx = { ...c, depth: c.depth + 1 };
  return leafOr(c, "num", () => {
    switch (rng.int(0, 11)) {
      case 0:
      case 1:
        return c.event ? leaf(c, "num") : aggregate(c, "num");
      case 2:
        return `(${numExpr(d)} ${rng.pick(["+", "-", "*", "/"])} ${numExpr(d)})`;
      case 3:
        return `-(${numExpr(d)})`;
      case 4:
        return `${rng.pick(["abs", "floor", "ceil"])}(${numExpr(d)})`;
      case 5:
        return rng.chance(0.5) ? `round(${numExpr(d)})` : `round(${numExpr(d)}, ${rng.int(-2, 3)})`;
      case 6:
        return `length(${strExpr(d)})`;
      case 7:
        return c.event ? leaf(c, "num") : `days_since(${tsExpr(d)})`;
      case 8:
        return `${rng.pick(["coalesce", "least", "greatest"])}(${numExpr(d)}, ${numExpr(d)})`;
      default:
        return leaf(c, "num");
    }
  });
}

function strExpr(c: Ctx): string {
  const rng = c.rng;
  const d: Ctx = { ...c, depth: c.depth + 1 };
  return leafOr(c, "str", () => {
    switch (rng.int(0, 6)) {
      case 0:
      case 1:
        return `${rng.pick(["upper", "lower", "trim"])}(${strExpr(d)})`;
      case 2:
        return `coalesce(${strExpr(d)}, ${str(rng.pick(ADVERSARIAL_STRINGS))})`;
      case 3:
        return c.event ? leaf(c, "str") : aggregate(c, "str");
      default:
        return leaf(c, "str");
    }
  });
}

function tsExpr(c: Ctx): string {
  const rng = c.rng;
  const d: Ctx = { ...c, depth: c.depth + 1 };
  return leafOr(c, "ts", () => {
    switch (rng.int(0, 5)) {
      case 0:
      case 1:
        return c.event ? leaf(c, "ts") : aggregate(c, "ts");
      case 2:
        return `(${tsExpr(d)} ${rng.pick(["+", "-"])} ${durationText(rng.pick(WINDOW_MS))})`;
      case 3:
        return `${rng.pick(["least", "greatest", "coalesce"])}(${tsExpr(d)}, ${tsExpr(d)})`;
      default:
        return leaf(c, "ts");
    }
  });
}

const COMPARE = ["=", "!=", "<", "<=", ">", ">="];

function boolExpr(c: Ctx): string {
  const rng = c.rng;
  const d: Ctx = { ...c, depth: c.depth + 1 };
  if (c.depth > 3) return rng.chance(0.5) ? `${numExpr(d)} ${rng.pick(COMPARE)} ${numExpr(d)}` : leaf(c, "bool");
  switch (rng.int(0, 17)) {
    case 0:
    case 1:
      return `${numExpr(d)} ${rng.pick(COMPARE)} ${numExpr(d)}`;
    case 2:
      return `${strExpr(d)} ${rng.pick(COMPARE)} ${strExpr(d)}`;
    case 3:
      return `${tsExpr(d)} ${rng.pick(COMPARE)} ${tsExpr(d)}`;
    case 4:
      return `(${boolExpr(d)} ${rng.pick(["and", "or"])} ${boolExpr(d)})`;
    case 5:
      return `not (${boolExpr(d)})`;
    case 6: {
      const [e] = rng.pick([[numExpr(d)], [strExpr(d)], [tsExpr(d)], [leaf(c, "bool")]]);
      return `${e} is ${rng.chance(0.5) ? "not " : ""}null`;
    }
    case 7: {
      const items = rng.chance(0.5) ? Array.from({ length: rng.int(1, 4) }, () => str(rng.pick(ADVERSARIAL_STRINGS))) : Array.from({ length: rng.int(1, 4) }, () => numText(rng.pick([...INTEGERS, ...NUMBERS])));
      const subject = items[0]!.startsWith('"') ? strExpr(d) : numExpr(d);
      return `${subject} ${rng.chance(0.3) ? "not " : ""}in [${items.join(", ")}]`;
    }
    case 8: {
      const [lo, hi] = [rng.pick(NUMBERS), rng.pick(NUMBERS)].sort((x, y) => x - y);
      return `${numExpr(d)} ${rng.chance(0.3) ? "not " : ""}between ${numText(lo!)} and ${numText(hi!)}`;
    }
    case 9:
    case 10: {
      const op = rng.pick(["contains", "starts with", "ends with", "matches"]);
      const pattern = op === "matches" ? str(randomRegex(rng)) : str(rng.pick(ADVERSARIAL_STRINGS));
      return `${strExpr(d)} ${rng.chance(0.3) ? "not " : ""}${op} ${pattern}`;
    }
    case 11:
      if (c.event) return leaf(c, "bool");
      return `${tsExpr(d)} ${rng.chance(0.3) ? "not " : ""}in last ${durationText(rng.pick(WINDOW_MS))}`;
    case 12: {
      if (c.event) return leaf(c, "bool");
      const [a, b] = [rng.pick(WINDOW_MS), rng.pick(WINDOW_MS)].sort((x, y) => y - x);
      if (a === b) return `${tsExpr(d)} in last ${durationText(a!)}`;
      return `${tsExpr(d)} ${rng.chance(0.3) ? "not " : ""}between ${durationText(a!)} and ${durationText(b!)} ago`;
    }
    case 13:
      if (c.event || c.earlier.length === 0) return leaf(c, "bool");
      return `${rng.chance(0.3) ? "not " : ""}in ${rng.pick(c.earlier)}`;
    case 14:
      return c.event ? leaf(c, "bool") : aggregate(c, "bool");
    case 15:
      return `${leaf(c, "bool")} ${rng.pick(["=", "!="])} ${rng.pick(["true", "false"])}`;
    case 16:
      if (c.event) return leaf(c, "bool");
      return `as_of - ${tsExpr(d)} ${rng.pick(COMPARE)} ${durationText(rng.pick(WINDOW_MS))}`;
    default:
      return leaf(c, "bool");
  }
}

/** One generated segment: its name and seg text. */
export interface GeneratedRule {
  name: string;
  text: string;
}

/**
 * `count` random segments over {@link DIFF_SCHEMAS}, each with 0-3 metrics; later segments may
 * refer to earlier ones (`in seg_3`).
 */
export function generateRules(rng: Rng, count: number, prefix = "r"): GeneratedRule[] {
  const rules: GeneratedRule[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${String(i).padStart(3, "0")}`;
    const c: Ctx = { rng, event: null, depth: 0, earlier: rules.map((r) => r.name).slice(-20) };
    const metrics: string[] = [];
    for (let m = rng.int(0, 3); m > 0; m--) {
      const kind = rng.pick<Kind>(["num", "num", "str", "bool", "ts"]);
      const e = kind === "num" ? numExpr(c) : kind === "str" ? strExpr(c) : kind === "bool" ? boolExpr(c) : tsExpr({ ...c, noDate: true });
      metrics.push(`  metric m${metrics.length} = ${e}\n`);
    }
    rules.push({ name, text: `segment ${name} {\n${metrics.join("")}  where ${boolExpr(c)}\n}\n` });
  }
  return rules;
}
