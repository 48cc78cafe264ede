import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MESSAGES, messageByCode } from "@seg/dsl";

const rows = Object.values(MESSAGES);

describe("the message table", () => {
  it("has unique, well-formed codes and names", () => {
    expect(new Set(rows.map((m) => m.code)).size).toBe(rows.length);
    expect(new Set(rows.map((m) => m.name)).size).toBe(rows.length);
    for (const m of rows) {
      expect(m.code).toMatch(/^SEG\d{3}$/);
      expect(m.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(messageByCode(m.code)).toBe(m);
    }
  });

  it("never renumbers: the committed list of code and name pairs only grows", async () => {
    const listing = rows.map((m) => `${m.code} ${m.name} ${m.severity}`).sort().join("\n") + "\n";
    const committed = readFileSync(new URL("../golden/messages.txt", import.meta.url), "utf8").trim().split("\n");
    // Every committed row must still be there, unchanged; new rows may be added.
    for (const row of committed) expect(listing.split("\n")).toContain(row);
    await expect(listing).toMatchFileSnapshot("../golden/messages.txt");
  });

  it("documents every code in docs/language.md", () => {
    const doc = readFileSync(new URL("../../../../docs/language.md", import.meta.url), "utf8");
    for (const m of rows) expect(doc, m.code).toContain(m.code);
  });
});
