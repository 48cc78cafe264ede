import { afterEach, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadProject } from "../../src/config.js";
import { contentHash } from "../../src/hash.js";
import { buildSchemaRegistry, findSchema, loadProjectSchemas, loadSchemaRegistry, validateRecord } from "../../src/schema-registry.js";
import { typeToString } from "../../src/types.js";
import { tempDir, type TempDir } from "./temp-project.js";

type Json = Record<string, unknown>;

function purchase(overrides: (s: Json) => void = () => {}): Json {
  const s: Json = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    "x-seg": { kind: "event", name: "purchase", entity: "customer", key: "customer_id", time: "ts" },
    properties: {
      event_id: { type: "string" },
      customer_id: { type: "string" },
      ts: { type: "string", format: "date-time" },
      amount: { type: "number" },
      quantity: { type: "integer" },
    },
    required: ["event_id", "customer_id", "ts", "amount", "quantity"],
  };
  overrides(s);
  return s;
}

const customer: Json = {
  type: "object",
  "x-seg": { kind: "profile", name: "customer", key: "customer_id" },
  properties: {
    customer_id: { type: "string" },
    country: { type: "string", description: "ISO country" },
    tier: { type: "string", enum: ["gold", "silver"] },
    email: { type: ["string", "null"] },
    birthday: { type: "string", format: "date" },
    vip: { type: "boolean" },
    age: { anyOf: [{ type: "integer" }, { type: "null" }] },
    score: { $ref: "#/$defs/score" },
    address: { type: "object", properties: { city: { type: "string" } } },
    tags: { type: "array", items: { type: "string" } },
    either: { type: ["string", "integer"] },
  },
  required: ["customer_id", "country", "tier", "email", "birthday", "vip", "age", "score"],
  $defs: { score: { type: "number", minimum: 0 } },
};

const src = (file: string, value: unknown) => ({ file, text: typeof value === "string" ? value : JSON.stringify(value, null, 2) });

let dirs: TempDir[] = [];
afterEach(() => {
  for (const d of dirs) d.cleanup();
  dirs = [];
});

describe("schema registry", () => {
  it("registers events and profiles with seg types, DDL and hash", () => {
    const { registry, diagnostics } = buildSchemaRegistry([src("purchase.schema.json", purchase()), src("customer.schema.json", customer)], {
      defaultEntity: "customer",
      topicPrefix: "seg.",
    });
    expect(diagnostics).toEqual([]);
    const p = registry.events.get("purchase")!;
    expect(p).toMatchObject({ kind: "event", name: "purchase", entity: "customer", key: "customer_id", time: "ts", topic: "seg.events.purchase" });
    expect(p.sparkDdl).toBe("`event_id` STRING, `customer_id` STRING, `ts` TIMESTAMP, `amount` DOUBLE, `quantity` BIGINT");
    expect(p.hash).toBe(contentHash(purchase()));
    expect(p.hash).toMatch(/^[0-9a-f]{64}$/);
    expect([...p.fields.keys()]).toEqual(["event_id", "customer_id", "ts", "amount", "quantity"]);

    const c = registry.profiles.get("customer")!;
    expect(c.kind).toBe("profile");
    expect(c.topic).toBe("seg.profiles.customer");
    const types = Object.fromEntries([...c.fields].map(([n, f]) => [n, typeToString(f.type)]));
    expect(types).toEqual({
      customer_id: "string",
      country: "string",
      tier: 'enum("gold","silver")',
      email: "string?",
      birthday: "date",
      vip: "boolean",
      age: "integer?",
      score: "number",
    });
    expect(c.fields.get("country")).toMatchObject({ required: true, description: "ISO country" });
    expect([...c.unsupported.keys()]).toEqual(["address", "tags", "either"]);
    expect(c.unsupported.get("address")).toContain("nested object");
    expect(findSchema(registry, "customer")).toBe(c);
    expect(findSchema(registry, "purchase")).toBe(p);
    expect(registry.schemas.map((s) => s.name)).toEqual(["purchase", "customer"]);
  });

  it("marks optional fields nullable and keeps the required flag", () => {
    const { registry } = buildSchemaRegistry([src("p.json", purchase((s) => (s.required = ["event_id", "customer_id", "ts"])))]);
    const amount = registry.events.get("purchase")!.fields.get("amount")!;
    expect(amount.required).toBe(false);
    expect(typeToString(amount.type)).toBe("number?");
  });

  it("compiles a validator per schema for records", () => {
    const { registry } = buildSchemaRegistry([src("p.json", purchase())]);
    const p = registry.events.get("purchase")!;
    const good = { event_id: "e1", customer_id: "c1", ts: "2026-01-01T00:00:00Z", amount: 1.5, quantity: 2 };
    expect(validateRecord(p, good)).toEqual({ valid: true, errors: [] });
    const bad = validateRecord(p, { ...good, ts: "2026-01-01", amount: "x" });
    expect(bad.valid).toBe(false);
    expect(bad.errors).toEqual(["/ts: must be a valid date-time", "/amount: must be number"]);
  });

  it("quotes backticks in DDL identifiers", () => {
    const s = purchase((x) => ((x.properties as Json)["we`ird name"] = { type: "boolean" }));
    const { registry } = buildSchemaRegistry([src("p.json", s)]);
    expect(registry.events.get("purchase")!.sparkDdl).toContain("`we``ird name` BOOLEAN");
  });

  it("reports bad JSON with its line and column (SEG071) and keeps the other schemas", () => {
    const bad = '{\n  "type": "object",\n  "properties": {\n    "a": { "type": "string" }\n    "b": {}\n  }\n}';
    const { registry, diagnostics } = buildSchemaRegistry([src("bad.schema.json", bad), src("customer.schema.json", customer)], { defaultEntity: "customer" });
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ code: "SEG071", file: "bad.schema.json", span: { start: { line: 5, column: 5 } } });
    expect(diagnostics[0]!.message).toContain("line 5, column 5");
    expect(registry.profiles.has("customer")).toBe(true);
  });

  it("reports a wrong type keyword against the 2020-12 meta-schema (SEG070)", () => {
    const text = JSON.stringify(purchase((s) => ((s.properties as Json).amount = { type: "numbr" })), null, 2);
    const { registry, diagnostics } = buildSchemaRegistry([src("p.json", text)]);
    expect(registry.events.size).toBe(0);
    expect(diagnostics).toHaveLength(1);
    const d = diagnostics[0]!;
    expect(d.code).toBe("SEG070");
    expect(d.message).toMatch(/^\/properties\/amount\/type: must be one of "array", "boolean"/);
    expect(text.slice(d.span.start.offset, d.span.end.offset)).toBe('"type"');
    expect(d.span.start.line).toBe(text.split("\n").findIndex((l) => l.includes('"numbr"')) + 1);
  });

  it("warns about unknown keywords (typos) but allows x- annotations", () => {
    const s = purchase((x) => {
      (x.properties as Json).amount = { typ: "number", "x-pii": true };
    });
    const { registry, diagnostics } = buildSchemaRegistry([src("p.json", s)]);
    expect(registry.events.has("purchase")).toBe(true);
    expect(diagnostics.map((d) => [d.code, d.severity])).toEqual([["SEG070", "warning"]]);
    expect(diagnostics[0]!.message).toBe('/properties/amount/typ: unknown keyword: "typ"');
    expect(registry.events.get("purchase")!.unsupported.get("amount")).toBe("it has no type");
  });

  it("reports a missing x-seg (SEG072)", () => {
    const { diagnostics } = buildSchemaRegistry([src("/s/orders.schema.json", purchase((s) => delete s["x-seg"]))]);
    expect(diagnostics.map((d) => d.code)).toEqual(["SEG072"]);
    expect(diagnostics[0]!.message).toContain("orders.schema.json lacks");
    expect(diagnostics[0]!.file).toBe("/s/orders.schema.json");
  });

  it("reports an invalid x-seg against its meta-schema", () => {
    const cases: [(x: Json) => void, string, string][] = [
      [(x) => (x.kind = "evnt"), "SEG070", '/x-seg/kind: must be one of "event", "profile"'],
      [(x) => (x.name = "Purchase-Event"), "SEG070", "/x-seg/name: must match pattern"],
      [(x) => delete x.key, "SEG072", "lacks x-seg.key"],
      [(x) => delete x.time, "SEG072", "schema purchase lacks x-seg.time"],
      [(x) => (x.colour = "red"), "SEG070", "/x-seg/colour: is not a known key"],
      [(x) => (x.key = "cust"), "SEG070", '/x-seg/key: the key field "cust" of event purchase is not one of its properties'],
    ];
    for (const [edit, code, message] of cases) {
      const { registry, diagnostics } = buildSchemaRegistry([src("p.json", purchase((s) => edit(s["x-seg"] as Json)))]);
      expect(registry.events.size, message).toBe(0);
      expect(diagnostics.map((d) => d.code), message).toEqual([code]);
      expect(diagnostics[0]!.message, message).toContain(message);
    }
  });

  it("requires the time field to be a required date-time string", () => {
    const cases: [(s: Json) => void, string][] = [
      [(s) => ((s.properties as Json).ts = { type: "string" }), "but it is string"],
      [(s) => ((s.properties as Json).ts = { type: "integer" }), "but it is integer"],
      [(s) => (s.required = ["event_id", "customer_id"]), 'it is not listed in "required"'],
      [(s) => ((s.properties as Json).ts = { type: ["string", "null"], format: "date-time" }), "but it may be null"],
    ];
    for (const [edit, message] of cases) {
      const text = JSON.stringify(purchase(edit), null, 2);
      const { registry, diagnostics } = buildSchemaRegistry([src("p.json", text)]);
      expect(registry.events.size).toBe(0);
      expect(diagnostics.map((d) => d.code)).toEqual(["SEG070"]);
      expect(diagnostics[0]!.message).toContain('/properties/ts: the time field "ts" of event purchase must be a required, non-null string with "format": "date-time"');
      expect(diagnostics[0]!.message).toContain(message);
      expect(text.slice(diagnostics[0]!.span.start.offset, diagnostics[0]!.span.end.offset)).toBe('"ts"');
    }
  });

  it("requires the key to be a required string or integer; profiles have no time", () => {
    const boolKey = purchase((s) => ((s.properties as Json).customer_id = { type: "boolean" }));
    expect(buildSchemaRegistry([src("p.json", boolKey)]).diagnostics[0]!.message).toContain("but it is boolean");
    const intKey = purchase((s) => ((s.properties as Json).customer_id = { type: "integer" }));
    expect(buildSchemaRegistry([src("p.json", intKey)]).diagnostics).toEqual([]);
    const timed = { ...customer, "x-seg": { ...(customer["x-seg"] as Json), time: "birthday" } };
    const r = buildSchemaRegistry([src("c.json", timed)], { defaultEntity: "customer" });
    expect(r.diagnostics.map((d) => d.message)).toEqual(["/x-seg/time: only events have a time field"]);
  });

  it("needs an entity from x-seg or the project", () => {
    const noEntity = { ...customer, "x-seg": { kind: "profile", name: "customer", key: "customer_id" } };
    expect(buildSchemaRegistry([src("c.json", noEntity)]).diagnostics.map((d) => d.code)).toEqual(["SEG072"]);
    expect(buildSchemaRegistry([src("c.json", noEntity)], { defaultEntity: "customer" }).registry.profiles.has("customer")).toBe(true);
  });

  it("reports duplicate names (SEG074) with the first declaration as related", () => {
    const { registry, diagnostics } = buildSchemaRegistry([
      src("a.json", purchase()),
      src("b.json", purchase((s) => ((s.properties as Json).extra = { type: "string" }))),
      src("c.json", customer),
      src("d.json", { ...customer, "x-seg": { kind: "profile", name: "client", key: "customer_id" } }),
      src("e.json", purchase((s) => ((s["x-seg"] as Json).name = "customer"))),
    ], { defaultEntity: "customer" });
    expect(diagnostics.map((d) => [d.code, d.file, d.message])).toEqual([
      ["SEG074", "b.json", "two schemas declare the name purchase"],
      ["SEG074", "d.json", "two schemas declare the profile of entity customer"],
      ["SEG074", "e.json", "two schemas declare the name customer"],
    ]);
    expect(diagnostics[0]!.related[0]).toMatchObject({ file: "a.json", message: "event purchase is declared here" });
    expect(registry.events.get("purchase")!.file).toBe("a.json");
    expect(registry.events.get("purchase")!.fields.has("extra")).toBe(false);
  });

  it("rejects other JSON Schema dialects and non-object documents", () => {
    const old = purchase((s) => (s.$schema = "http://json-schema.org/draft-07/schema#"));
    expect(buildSchemaRegistry([src("p.json", old)]).diagnostics[0]!.message).toContain("/$schema: seg schemas use JSON Schema 2020-12");
    expect(buildSchemaRegistry([src("p.json", "[1]")]).diagnostics[0]!.message).toBe("(root): a schema must be a JSON object");
    expect(buildSchemaRegistry([src("p.json", "")]).diagnostics[0]!.code).toBe("SEG071");
  });

  it("loads a folder in sorted order and reports a missing folder", () => {
    const d = tempDir();
    dirs.push(d);
    d.write("schemas/b/customer.schema.json", customer);
    d.write("schemas/a.schema.json", purchase());
    d.write("schemas/notes.txt", "not a schema");
    const r = loadSchemaRegistry(d.path("schemas"), { defaultEntity: "customer" });
    expect(r.diagnostics).toEqual([]);
    expect(r.registry.files).toEqual([d.path("schemas/a.schema.json"), d.path("schemas/b/customer.schema.json")]);
    const missing = loadSchemaRegistry(d.path("nope"));
    expect(missing.diagnostics.map((x) => x.code)).toEqual(["SEG077"]);
    expect(missing.registry.schemas).toEqual([]);
  });

  it("loads a project's schemas with its entity and topic prefix", () => {
    const d = tempDir();
    dirs.push(d);
    d.write("seg.config.json", { entity: "customer", schemas: "defs", runtime: { topicPrefix: "shop." } });
    d.write("defs/customer.json", customer);
    const { project } = loadProject({ cwd: d.root, env: {} });
    const r = loadProjectSchemas(project!);
    expect(r.diagnostics).toEqual([]);
    expect(r.registry.profiles.get("customer")!.topic).toBe("shop.profiles.customer");
  });

  const examples = fileURLToPath(new URL("../../../../examples/", import.meta.url));
  it.runIf(existsSync(`${examples}seg.config.json`))("loads the example project's schemas without diagnostics", () => {
    const { project, diagnostics } = loadProject({ cwd: examples, env: {} });
    expect(diagnostics).toEqual([]);
    const r = loadProjectSchemas(project!);
    expect(r.diagnostics).toEqual([]);
    expect([...r.registry.events.keys()].sort()).toEqual(["add_to_cart", "page_view", "purchase"]);
    expect([...r.registry.profiles.keys()]).toEqual(["customer"]);
  });
});
