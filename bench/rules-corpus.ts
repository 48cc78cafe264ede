/**
 * A deterministic corpus of realistic `.seg` files for benchmarks: the shape of examples/rules
 * (a header comment, a few consts, several segments with settings, metrics and multi-line `where`
 * conditions over aggregates, windows, lists, calls and segment references), with seeded
 * variation. Same seed and size, same bytes.
 */

/** mulberry32: a small, fast, seedable PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RulesCorpus {
  files: string[];
  /** Total size in UTF-8 bytes. */
  bytes: number;
  segments: number;
  consts: number;
  lines: number;
  seed: number;
}

const EVENTS = {
  purchase: { fields: ["amount", "quantity", "category", "coupon", "channel", "currency", "sku"], numeric: ["amount", "quantity"] },
  page_view: { fields: ["path", "url", "device", "referrer", "duration_ms"], numeric: ["duration_ms"] },
  add_to_cart: { fields: ["sku", "price", "quantity", "category"], numeric: ["price", "quantity"] },
} as const;
type EventName = keyof typeof EVENTS;
const EVENT_NAMES = Object.keys(EVENTS) as EventName[];

const STRING_VALUES: Record<string, string[]> = {
  category: ["electronics", "apparel", "home", "beauty", "grocery", "toys", "books", "sports"],
  channel: ["web", "app", "store"],
  currency: ["USD", "CAD", "GBP", "EUR", "AUD"],
  device: ["mobile", "desktop", "tablet"],
  path: ["/holiday", "/c/electronics", "/sale", "/account", "/c/toys"],
  url: ["utm_source=newsletter", "utm_campaign=fall", "gclid="],
  referrer: ["google.", "facebook.", "newsletter"],
  coupon: ["WELCOME10", "FALL25", "VIP-2026"],
  sku: ["SKU-1001", "SKU-2002"],
};
const COUNTRIES = ["US", "CA", "GB", "DE", "FR", "AU", "NL", "SE", "JP"];
const TIERS = ["none", "bronze", "silver", "gold", "platinum"];
const TEAMS = ["growth", "retention", "crm", "pricing", "merchandising", "brand", "loyalty", "web", "marketing"];
const TAGS = ["revenue", "vip", "lifecycle", "retention", "consent", "email", "sms", "promo", "category", "engagement", "loyalty", "campaign", "device", "demographic"];
const WORDS = ["high", "value", "loyal", "lapsing", "new", "active", "dormant", "mobile", "weekend", "bargain", "repeat", "big", "early", "late", "heavy", "casual", "spenders", "buyers", "browsers", "visitors", "fans", "members", "shoppers"];
const UNITS = ["days", "days", "days", "weeks", "hours", "minutes"];

class Gen {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = mulberry32(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.r() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  some<T>(xs: readonly T[], n: number): T[] {
    const copy = [...xs];
    const out: T[] = [];
    while (out.length < n && copy.length > 0) out.push(copy.splice(Math.floor(this.r() * copy.length), 1)[0]!);
    return out;
  }
  /** `1_000`-style thousands for big numbers, as people write them. */
  num(min: number, max: number): string {
    const n = this.int(min, max);
    return n >= 10_000 || (n >= 1_000 && this.chance(0.5)) ? n.toLocaleString("en-US").replace(/,/g, "_") : String(n);
  }
  duration(): string {
    const unit = this.pick(UNITS);
    const n = unit === "days" ? this.pick([1, 7, 14, 30, 60, 90, 120, 180, 365]) : unit === "weeks" ? this.int(1, 12) : this.int(1, 48);
    return `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;
  }
  window(): string {
    const r = this.r();
    if (r < 0.75) return ` in last ${this.duration()}`;
    if (r < 0.85) {
      const to = this.pick([7, 14, 30, 60]);
      return ` between ${to * this.int(2, 4)} days and ${to} days ago`;
    }
    if (r < 0.92) return " ever";
    return "";
  }
  str(field: string): string {
    return `"${this.pick(STRING_VALUES[field] ?? ["x"])}"`;
  }
  date(): string {
    return `20${this.int(24, 26)}-${String(this.int(1, 12)).padStart(2, "0")}-${String(this.int(1, 28)).padStart(2, "0")}`;
  }
}

function filter(g: Gen, ev: EventName): string {
  const field = g.pick(EVENTS[ev].fields.filter((f) => f in STRING_VALUES));
  switch (g.int(0, 5)) {
    case 0:
      return `${field} = ${g.str(field)}`;
    case 1:
      return `${field} in [${g.some(STRING_VALUES[field]!, g.int(2, 3)).map((v) => `"${v}"`).join(", ")}]`;
    case 2:
      return `${field} starts with ${g.str(field)}`;
    case 3:
      return `${field} contains ${g.str(field)}`;
    case 4:
      return `${field} is not null and ${field} != ${g.str(field)}`;
    default:
      return `ts >= ${g.date()}`;
  }
}

function aggregate(g: Gen, numericOnly = false): string {
  const ev = g.pick(EVENT_NAMES);
  const where = g.chance(0.35) ? ` where ${filter(g, ev)}` : "";
  const fn = numericOnly ? g.pick(["sum", "avg", "min", "max"]) : g.pick(["count", "count", "count", "sum", "avg", "max", "count_distinct", "exists"]);
  const numeric = EVENTS[ev].numeric;
  let source: string = ev;
  if (fn === "sum" || fn === "avg" || fn === "min" || fn === "max") source = `${ev}.${g.pick(numeric)}`;
  else if (fn === "count_distinct") source = `${ev}.${g.pick(EVENTS[ev].fields)}`;
  return `${fn}(${source}${g.window()}${where})`;
}

function condition(g: Gen, segNames: string[], consts: string[]): string {
  switch (g.int(0, 13)) {
    case 0:
    case 1:
      return `count(${g.pick(EVENT_NAMES)}${g.window()}) >= ${g.int(1, 20)}`;
    case 2:
      return `sum(purchase.amount${g.window()}) > ${g.num(50, 5_000)}`;
    case 3:
    {
      const ev = g.pick(EVENT_NAMES);
      return `exists(${ev}${g.window()}${g.chance(0.5) ? ` where ${filter(g, ev)}` : ""})`;
    }
    case 4:
      return `customer.country ${g.chance(0.3) ? "not in" : "in"} [${g.some(COUNTRIES, g.int(1, 4)).map((c) => `"${c}"`).join(", ")}]`;
    case 5:
      return `customer.signup_time ${g.chance(0.3) ? "not in" : "in"} last ${g.duration()}`;
    case 6:
      return `customer.email is ${g.chance(0.7) ? "not " : ""}null`;
    case 7:
      return `lower(customer.email) ${g.chance(0.5) ? "not ends with" : "ends with"} ".example"`;
    case 8:
      return `customer.birth_year ${g.chance(0.2) ? "not between" : "between"} ${g.int(1950, 1990)} and ${g.int(1991, 2010)}`;
    case 9:
      return `last_seen(${g.pick(EVENT_NAMES)}) between ${g.pick([60, 90, 180])} days and ${g.pick([7, 14, 30])} days ago`;
    case 10:
      return segNames.length > 0 ? `${g.chance(0.5) ? "not " : ""}in ${g.pick(segNames)}` : `customer.marketing_opt_in = true`;
    case 11:
      return `${aggregate(g)} ${g.pick([">", ">=", "<", "=", "!="])} ${consts.length > 0 && g.chance(0.4) ? g.pick(consts) : g.num(1, 2_000)}`;
    case 12:
      return `days_since(last_seen(purchase)) > ${g.int(7, 365)}`;
    default:
      return `customer.loyalty_tier in [${g.some(TIERS, g.int(1, 3)).map((t) => `"${t}"`).join(", ")}]`;
  }
}

function whereClause(g: Gen, segNames: string[], consts: string[]): string {
  const n = g.int(1, 4);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    let c = condition(g, segNames, consts);
    if (g.chance(0.1) && i > 0) c = `(${c} or ${condition(g, segNames, consts)})`;
    if (g.chance(0.06)) c = `not (${c})`;
    parts.push(c);
  }
  let out = `  where ${parts[0]}`;
  for (let i = 1; i < parts.length; i++) out += `\n    ${g.chance(0.8) ? "and" : "or"} ${parts[i]}`;
  if (g.chance(0.1)) out += ` // ${g.pick(WORDS)} ${g.pick(WORDS)}`;
  return out;
}

function metric(g: Gen, consts: string[]): string {
  const name = `${g.pick(WORDS)}_${g.pick(["spend", "count", "visits", "orders", "score", "last"])}`;
  switch (g.int(0, 4)) {
    case 0:
      return `  metric ${name} = ${aggregate(g, true)}`;
    case 1:
      return `  metric ${name} = ${aggregate(g)}`;
    case 2:
      return `  metric ${name} = round(${aggregate(g, true)} / ${g.int(2, 30)}, ${g.int(0, 2)})`;
    case 3:
      return `  metric ${name} = ${g.pick(["first_seen", "last_seen"])}(${g.pick(EVENT_NAMES)})`;
    default:
      return consts.length > 0 && g.chance(0.3)
        ? `  metric ${name} = ${aggregate(g, true)} - ${g.pick(consts)}`
        : `  metric ${name} = coalesce(customer.${g.pick(["sms_opt_in", "marketing_opt_in"])}, false)`;
  }
}

function segment(g: Gen, name: string, segNames: string[], consts: string[]): string {
  const words = name.split("_").slice(0, -1);
  const title = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(" ");
  const lines = [`segment ${name} "${title}${g.chance(0.1) ? " — \\\"beta\\\"" : ""}" {`];
  if (g.chance(0.9)) lines.push(`  description "${title} customers: ${g.pick(WORDS)} ${g.pick(WORDS)} in the last ${g.duration()}"`);
  if (g.chance(0.9)) lines.push(`  owner "${g.pick(TEAMS)}@shop.example"`);
  if (g.chance(0.8)) lines.push(`  tags [${g.some(TAGS, g.int(1, 3)).map((t) => `"${t}"`).join(", ")}]`);
  if (g.chance(0.2)) lines.push(`  entity customer${g.chance(0.5) ? " key customer_id" : ""}`);
  if (g.chance(0.4)) lines.push(`  refresh every ${g.pick(["5 minutes", "15 minutes", "1 hour", "1 day"])}`);
  if (g.chance(0.4)) lines.push(`  ttl ${g.pick(["10 minutes", "1 hour", "2 hours", "1 day"])}`);
  if (g.chance(0.15)) lines.push(`  // ${g.pick(WORDS)} ${g.pick(WORDS)} ${g.pick(WORDS)}`);
  for (let i = g.int(0, 2); i > 0; i--) lines.push(metric(g, consts));
  lines.push("", whereClause(g, segNames, consts), "}");
  return lines.join("\n");
}

/** Builds files until the corpus reaches `targetBytes` (UTF-8). */
export function rulesCorpus(targetBytes = 10_000_000, seed = 1): RulesCorpus {
  const g = new Gen(seed);
  const files: string[] = [];
  let bytes = 0;
  let segments = 0;
  let consts = 0;
  let lines = 0;
  let serial = 0;
  while (bytes < targetBytes) {
    const parts: string[] = [];
    if (g.chance(0.5)) parts.push(`// ${g.pick(WORDS)} ${g.pick(WORDS)} segments, owned by ${g.pick(TEAMS)}.`);
    if (g.chance(0.15)) parts.push(`/*\n * Generated benchmark file ${files.length}.\n * Thresholds are illustrative.\n */`);
    const constNames: string[] = [];
    for (let i = g.int(0, 2); i > 0; i--) {
      const name = `${g.pick(WORDS)}_threshold_${serial++}`;
      constNames.push(name);
      parts.push(g.chance(0.5) ? `const ${name} = ${g.num(100, 20_000)}` : `const ${name} = ${aggregate(g)}`);
      consts++;
    }
    const segNames: string[] = [];
    for (let i = g.int(3, 8); i > 0; i--) {
      const name = `${g.pick(WORDS)}_${g.pick(WORDS)}_${serial++}`;
      parts.push(segment(g, name, segNames, constNames));
      segNames.push(name);
      segments++;
    }
    // Through a Buffer, so each file is one flat string, as if read from disk.
    const text = Buffer.from(parts.join("\n\n") + "\n", "utf8").toString("utf8");
    files.push(text);
    bytes += Buffer.byteLength(text, "utf8");
    lines += text.split("\n").length - 1;
  }
  return { files, bytes, segments, consts, lines, seed };
}
