/**
 * Fixtures for ingestion tests: the example project's schemas with their topics renamed (so every
 * test file has topics of its own), and sample events.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSchemaRegistry, type SchemaRegistry, type SchemaSource } from "@seg/compiler";

const schemasDir = fileURLToPath(new URL("../../../../examples/schemas/", import.meta.url));

/** A short random suffix for topic and group names. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString("hex");
}

/** The example schemas (purchase, add_to_cart, page_view events; customer profile) as sources, with `x-seg.topic` set by `topicOf(name)`. */
export function exampleSchemaSources(topicOf: (name: string) => string): SchemaSource[] {
  return readdirSync(schemasDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const file = join(schemasDir, f);
      const schema = JSON.parse(readFileSync(file, "utf8")) as { "x-seg": { name: string; topic?: string } };
      schema["x-seg"].topic = topicOf(schema["x-seg"].name);
      return { file, text: JSON.stringify(schema, null, 2) };
    });
}

/** A registry of the example schemas on topics `<prefix>.<name>`. Throws when a schema has errors. */
export function exampleRegistry(prefix: string): SchemaRegistry {
  const { registry, diagnostics } = buildSchemaRegistry(exampleSchemaSources((name) => `${prefix}.${name}`));
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(`example schemas have errors: ${errors.map((d) => d.message).join("; ")}`);
  return registry;
}

/** A valid purchase event; `n` makes its event id unique. */
export function purchase(n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const day = 1 + (n % 28);
  return {
    event_id: `p-${n}`,
    customer_id: `c${String(n % 1000).padStart(3, "0")}`,
    ts: `2026-10-${String(day).padStart(2, "0")}T${String(n % 24).padStart(2, "0")}:15:00Z`,
    amount: Math.round((n % 500) * 1.37 * 100) / 100,
    currency: "USD",
    category: "books",
    sku: `BK-${n % 97}`,
    quantity: 1 + (n % 3),
    coupon: n % 5 === 0 ? "FALL10" : null,
    channel: "web",
    ...overrides,
  };
}

/** A valid customer profile. */
export function customer(n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    customer_id: `c${String(n % 1000).padStart(3, "0")}`,
    email: `x${n}@mail.example`,
    country: "NL",
    signup_time: "2025-01-02T03:04:05Z",
    marketing_opt_in: true,
    sms_opt_in: null,
    loyalty_tier: "gold",
    birth_year: 1980,
    ...overrides,
  };
}

/** A valid page_view event. */
export function pageView(n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: `pv-${n}`,
    customer_id: `c${String(n % 1000).padStart(3, "0")}`,
    ts: `2026-10-${String(1 + (n % 28)).padStart(2, "0")}T08:${String(n % 60).padStart(2, "0")}:00Z`,
    url: `https://shop.example/p/${n}?q=caf%C3%A9`,
    path: `/p/${n}`,
    referrer: null,
    device: "mobile",
    duration_ms: 1000 + n,
    ...overrides,
  };
}
