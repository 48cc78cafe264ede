import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { format, formatFile, hasErrors, lex, parse, stripSpans, type Comment } from "@seg/dsl";

/** Formats text that must be valid; fails the test on any diagnostic error. */
function fmt(text: string): string {
  const r = format(text, "t.seg");
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r.output;
}

/** A comment's text as the formatter prints it (LF endings; line comments lose trailing blanks). */
const commentText = (c: Comment): string => {
  const t = c.text.replace(/\r\n?/g, "\n");
  return c.kind === "LineComment" ? t.trimEnd() : t;
};

/** Checks every formatter invariant on one valid input; returns the formatted text. */
function checkInvariants(input: string): string {
  const before = parse(input);
  expect(before.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`), input).toEqual([]);
  // formatFile has no safety net: check its output directly.
  const out = formatFile(before.file, before.file.comments, input);
  const after = parse(out);
  expect(after.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  expect(stripSpans(after.file)).toEqual(stripSpans(before.file));
  expect(after.file.comments.map(commentText).sort()).toEqual(before.file.comments.map(commentText).sort());
  expect(format(input).output).toBe(out);
  expect(format(out).output).toBe(out);
  expect(format(out).changed).toBe(false);
  if (out !== "") expect(out.endsWith("\n") && !out.endsWith("\n\n")).toBe(true);
  expect(out).not.toMatch(/\r/);
  expect(out).not.toMatch(/\n\n\n/);
  expect(out.startsWith("\n")).toBe(false);
  return out;
}

describe("format: declarations and settings", () => {
  it("prints a segment with every setting in source order", () => {
    const src = `segment   high_value "High-value customers"{ ttl 1 hours
      description "Spent a lot"   owner "growth@shop.example" tags ["revenue","vip",]
entity customer key customer_id refresh every 15minutes
metric total_spend=sum(purchase.amount in the last 30 days)
where sum(purchase.amount in last 30 days)>1_000}`;
    expect(checkInvariants(src)).toBe(`segment high_value "High-value customers" {
  ttl 1 hour
  description "Spent a lot"
  owner "growth@shop.example"
  tags ["revenue", "vip"]
  entity customer key customer_id
  refresh every 15 minutes
  metric total_spend = sum(purchase.amount in last 30 days)

  where sum(purchase.amount in last 30 days) > 1_000
}
`);
  });

  it("prints a segment without a title, with the where first (no blank line)", () => {
    expect(checkInvariants(`segment s {where x\nowner "o"}`)).toBe(`segment s {\n  where x\n  owner "o"\n}\n`);
  });

  it("prints entity without key, tags empty and with one tag", () => {
    expect(fmt(`segment s { entity customer tags [] where x }`)).toBe(`segment s {\n  entity customer\n  tags []\n\n  where x\n}\n`);
    expect(fmt(`segment s { tags [ "a" , ] where x }`)).toBe(`segment s {\n  tags ["a"]\n\n  where x\n}\n`);
  });

  it("prints durations with printDuration, keeping the raw number", () => {
    const out = fmt(`segment s { refresh every 1 minutes ttl 1_000days where x }`);
    expect(out).toContain("  refresh every 1 minute\n");
    expect(out).toContain("  ttl 1_000 days\n");
    expect(fmt(`segment s { ttl 2.5hour where x }`)).toContain("  ttl 2.5 hours\n");
  });

  it("prints constants at the top level, one blank line between declarations", () => {
    expect(checkInvariants(`const   a=1_000\n\n\n\nconst b = "x"   segment s {where a > 1}const c = 2`)).toBe(
      `const a = 1_000\n\nconst b = "x"\n\nsegment s {\n  where a > 1\n}\n\nconst c = 2\n`,
    );
  });

  it("prints metrics with `metric name = expr`", () => {
    expect(fmt(`segment s { metric  m=round(x/2,1) where x }`)).toBe(`segment s {\n  metric m = round(x / 2, 1)\n\n  where x\n}\n`);
  });

  it("re-escapes strings canonically with quoteString", () => {
    expect(fmt(`segment s "Say \\u0022hi\\u{22}\\t" { description "caf\\u00e9 \\\\ \\n" where x }`)).toBe(
      `segment s "Say \\"hi\\"\\t" {\n  description "café \\\\ \\n"\n\n  where x\n}\n`,
    );
  });

  it("keeps names as written: backticks stay, bare names stay bare, keywords after a dot stay bare", () => {
    const out = checkInvariants(
      "segment `my seg` { metric `where` = `plain` + purchase.count + `a\\`b`.`x y` where in `other seg` }",
    );
    expect(out).toBe("segment `my seg` {\n  metric `where` = `plain` + purchase.count + `a\\`b`.`x y`\n\n  where in `other seg`\n}\n");
  });

  it("an empty file stays empty; a file of whitespace becomes empty", () => {
    expect(format("").output).toBe("");
    expect(format("\n\n  \n").output).toBe("");
    expect(format("\n\n  \n").changed).toBe(true);
  });
});

describe("format: expressions", () => {
  // Expressions are printed through a metric: a `where` chain is always broken over lines.
  const where = (cond: string): string => {
    const out = fmt(`segment s { metric m = ${cond} where x }`);
    const m = /^segment s \{\n {2}metric m = ([^\n]*)\n\n {2}where x\n\}\n$/.exec(out);
    if (!m) throw new Error(`unexpected layout:\n${out}`);
    return m[1]!;
  };

  it("literals: numbers raw, strings, booleans, null, dates, timestamps, durations, as_of, lists", () => {
    expect(where(`x=1_000.5e3`)).toBe("x = 1_000.5e3");
    expect(where(`x=true or y=false`)).toBe("x = true or y = false");
    expect(where(`x != null`)).toBe("x != null");
    expect(where(`t>=2026-01-31 and u<2026-01-31T12:00:00.5+02:00`)).toBe("t >= 2026-01-31 and u < 2026-01-31T12:00:00.5+02:00");
    expect(where(`as_of-t>=90days`)).toBe("as_of - t >= 90 days");
    expect(where(`x in [ 1,2 , 3, ]`)).toBe("x in [1, 2, 3]");
    expect(where(`x in []`)).toBe("x in []");
  });

  it("operators: single spaces, unary not and minus", () => {
    expect(where(`a+b*c-d/e>=-f`)).toBe("a + b * c - d / e >= -f");
    expect(where(`not  not x`)).toBe("not not x");
    expect(where(`- -x < 0`)).toBe("--x < 0");
    expect(where(`not(x)`)).toBe("not (x)");
  });

  it("parentheses are kept exactly where written, never added or dropped", () => {
    expect(where(`(a or b) and c`)).toBe("(a or b) and c");
    expect(where(`a or (b and c)`)).toBe("a or (b and c)");
    expect(where(`a or b and c`)).toBe("a or b and c");
    expect(where(`((x))`)).toBe("((x))");
    expect(where(`(a - (b - c)) * 2 > 1`)).toBe("(a - (b - c)) * 2 > 1");
  });

  it("calls, paths and segment references", () => {
    expect(where(`lower( customer . email )="a" and f(g(1,2))`)).toBe(`lower(customer.email) = "a" and f(g(1, 2))`);
    expect(where(`in  other or in \`other seg\``)).toBe("in other or in `other seg`");
  });

  it("aggregates with windows and filters; the optional `the` is dropped", () => {
    expect(where(`sum( purchase.amount in the last 30 days where category="x" )>1`)).toBe(
      `sum(purchase.amount in last 30 days where category = "x") > 1`,
    );
    expect(where(`count(purchase between 60 days and 30days ago)>1`)).toBe("count(purchase between 60 days and 30 days ago) > 1");
    expect(where(`exists(purchase ever)`)).toBe("exists(purchase ever)");
    expect(where(`exists(purchase where a=1)`)).toBe("exists(purchase where a = 1)");
    expect(where(`count_distinct(purchase.category)>=3`)).toBe("count_distinct(purchase.category) >= 3");
  });

  it("predicates: in, between, is null, string tests, with and without not", () => {
    expect(where(`x not in ["a","b"]`)).toBe(`x not in ["a", "b"]`);
    expect(where(`x in ["a"]`)).toBe(`x in ["a"]`);
    expect(where(`x is not null`)).toBe("x is not null");
    expect(where(`x is null`)).toBe("x is null");
    expect(where(`x not between 1 and 2`)).toBe("x not between 1 and 2");
    expect(where(`x between 1+1 and 2`)).toBe("x between 1 + 1 and 2");
    expect(where(`x starts with "a"`)).toBe(`x starts with "a"`);
    expect(where(`x not ends with "a"`)).toBe(`x not ends with "a"`);
    expect(where(`x contains "a"`)).toBe(`x contains "a"`);
    expect(where(`x not matches "re"`)).toBe(`x not matches "re"`);
  });

  it("window tests on timestamps", () => {
    expect(where(`t in the last 14 days`)).toBe("t in last 14 days");
    expect(where(`t not in last 14 days`)).toBe("t not in last 14 days");
    expect(where(`t between 60 days and 30 days ago`)).toBe("t between 60 days and 30 days ago");
    expect(where(`t not between 60 days and 30 days ago`)).toBe("t not between 60 days and 30 days ago");
  });
});

describe("format: long conditions", () => {
  it("breaks every where chain, but keeps a metric with one and/or on one line when it fits", () => {
    expect(fmt(`segment s { where a = 1 and b = 2 }`)).toBe(`segment s {\n  where a = 1\n    and b = 2\n}\n`);
    expect(fmt(`segment s {\n  metric m = a = 1\n    and b = 2\n  where x\n}`)).toBe(
      `segment s {\n  metric m = a = 1 and b = 2\n\n  where x\n}\n`,
    );
  });

  it("breaks a chain of three or more operands, one per line, operator first", () => {
    expect(checkInvariants(`segment s { where a and b and c }`)).toBe(`segment s {\n  where a\n    and b\n    and c\n}\n`);
    expect(checkInvariants(`segment s { where a or b or c and d }`)).toBe(`segment s {\n  where a\n    or b\n    or c and d\n}\n`);
  });

  it("breaks a two-operand chain that does not fit in 100 columns", () => {
    const a = `count(purchase in last 30 days where category = "electronics")`;
    const b = `sum(purchase.amount in last 90 days where category = "books") >= 1`;
    expect(checkInvariants(`segment s { where ${a} > 1 and ${b} }`)).toBe(`segment s {\n  where ${a} > 1\n    and ${b}\n}\n`);
  });

  it("counts the 100 columns including the indentation", () => {
    // `  metric m = ` (13) + 87 characters = 100: fits.
    const left = "a".repeat(40);
    const right = "b".repeat(87 - 40 - " and ".length);
    expect(fmt(`segment s { metric m = ${left} and ${right} where x }`)).toBe(
      `segment s {\n  metric m = ${left} and ${right}\n\n  where x\n}\n`,
    );
    const longer = right + "b";
    expect(fmt(`segment s { metric m = ${left} and ${longer} where x }`)).toBe(
      `segment s {\n  metric m = ${left}\n    and ${longer}\n\n  where x\n}\n`,
    );
  });

  it("breaks a parenthesised sub-chain that does not fit inside its parentheses", () => {
    const names = Array.from({ length: 8 }, (_, i) => `customer.flag_number_${i}`);
    const input = `segment s { where x > 1 and (${names.join(" or ")}) and y }`;
    expect(checkInvariants(input)).toBe(
      `segment s {
  where x > 1
    and (
      ${names[0]}
${names
  .slice(1)
  .map((n) => `      or ${n}\n`)
  .join("")}    )
    and y
}
`,
    );
  });

  it("keeps a parenthesised sub-chain that fits on its operand's line", () => {
    expect(fmt(`segment s { where a and (b or c) and d }`)).toBe(`segment s {\n  where a\n    and (b or c)\n    and d\n}\n`);
  });

  it("breaks nested parentheses one level deeper each time", () => {
    const inner = Array.from({ length: 6 }, (_, i) => `inner_condition_name_${i}`);
    const outer = `(first_condition_name or (${inner.join(" and ")}))`;
    const out = checkInvariants(`segment s { where ${outer} }`);
    expect(out).toBe(
      `segment s {
  where (
    first_condition_name
    or (
      ${inner[0]}
${inner
  .slice(1)
  .map((n) => `      and ${n}\n`)
  .join("")}    )
  )
}
`,
    );
  });

  it("breaks const and metric values the same way", () => {
    expect(checkInvariants(`const c = a or b or c`)).toBe(`const c = a\n  or b\n  or c\n`);
    expect(checkInvariants(`segment s { metric m = a and b and c where x }`)).toBe(
      `segment s {\n  metric m = a\n    and b\n    and c\n\n  where x\n}\n`,
    );
  });

  it("does not break an expression that has no chain, however long", () => {
    const long = `sum(purchase.amount in last 30 days where category = "electronics" and amount > 100 and coupon is null) > 1`;
    expect(fmt(`segment s { where ${long} }`)).toBe(`segment s {\n  where ${long}\n}\n`);
  });
});

describe("format: comments", () => {
  it("keeps leading comments above declarations and items, indented like them", () => {
    const input = `// about a\nconst a = 1\n// about s\n/* block */\nsegment s {\n// about owner\nowner "o"\n    // about where\nwhere x\n}`;
    expect(checkInvariants(input)).toBe(
      `// about a\nconst a = 1\n\n// about s\n/* block */\nsegment s {\n  // about owner\n  owner "o"\n\n  // about where\n  where x\n}\n`,
    );
  });

  it("keeps at most one blank line inside a top-level comment block", () => {
    const input = `// header\n\n\n\n// more\n\n\nsegment s { where x }\n// a\n// b\n\n\nconst c = 1`;
    expect(checkInvariants(input)).toBe(`// header\n\n// more\n\nsegment s {\n  where x\n}\n\n// a\n// b\n\nconst c = 1\n`);
  });

  it("drops blank lines between comments inside a segment", () => {
    expect(checkInvariants(`segment s {\n  owner "o"\n\n  // a\n\n  // b\n\n  description "d"\n  where x\n}`)).toBe(
      `segment s {\n  owner "o"\n  // a\n  // b\n  description "d"\n\n  where x\n}\n`,
    );
  });

  it("keeps comments at the end of a line at the end of that line", () => {
    const input = `const a = 1    // one\nsegment s { // open\n  owner "o" /* two */\n  where x // three\n} // close`;
    expect(checkInvariants(input)).toBe(
      `const a = 1 // one\n\nsegment s { // open\n  owner "o" /* two */\n\n  where x // three\n} // close\n`,
    );
  });

  it("keeps end-of-line comments on broken chain operands", () => {
    const input = `segment s {\n  where a // first\n    and b // second\n    // before c\n    and c /* third */\n}`;
    expect(checkInvariants(input)).toBe(input + "\n");
  });

  it("moves a trailing comment of a joined chain to the end of the joined line", () => {
    expect(checkInvariants(`segment s {\n  metric m = a = 1 // why a\n    and b = 2\n  where x\n}`)).toBe(
      `segment s {\n  metric m = a = 1 and b = 2 // why a\n\n  where x\n}\n`,
    );
  });

  it("hoists comments inside a one-line expression above the item", () => {
    const input = `segment s {\n  owner "o"\n  metric m = a = /* inline */ 1\n    // own line\n    and b\n  where x\n}`;
    expect(checkInvariants(input)).toBe(`segment s {\n  owner "o"\n  /* inline */\n  // own line\n  metric m = a = 1 and b\n\n  where x\n}\n`);
    expect(checkInvariants(`segment /* x */ s { tags ["a", /* y */ "b"] where x }`)).toBe(
      `/* x */\nsegment s {\n  /* y */\n  tags ["a", "b"]\n\n  where x\n}\n`,
    );
  });

  it("keeps comments after the last item before the closing brace", () => {
    expect(checkInvariants(`segment s {\n  where x\n// done\n/* really */ }`)).toBe(`segment s {\n  where x\n  // done\n  /* really */\n}\n`);
  });

  it("keeps comments inside a broken parenthesised chain", () => {
    const names = Array.from({ length: 5 }, (_, i) => `customer.some_long_flag_${i}`);
    const input = `segment s {\n  where x\n    and (\n      // first\n      ${names[0]}\n${names
      .slice(1)
      .map((n) => `      or ${n} // on ${n.slice(-1)}\n`)
      .join("")}      // last
    ) // closed
    and y
}
`;
    expect(checkInvariants(input)).toBe(input);
  });

  it("keeps comments at the end of the file, with a blank line if there was one", () => {
    expect(checkInvariants(`segment s { where x }\n// end`)).toBe(`segment s {\n  where x\n}\n// end\n`);
    expect(checkInvariants(`segment s { where x }\n\n\n// end\n\n\n/* very end */\n\n`)).toBe(
      `segment s {\n  where x\n}\n\n// end\n\n/* very end */\n`,
    );
  });

  it("formats a file of comments only", () => {
    // A comment only follows a token at the end of its line; two comments on one line are split.
    expect(checkInvariants(`\n\n// a\n\n\n   /* b */   // c\n`)).toBe(`// a\n\n/* b */\n// c\n`);
  });

  it("prints block comments verbatim, including their inner lines", () => {
    const input = `segment s {\n      /* a block\n         spanning lines\n    */\n  where x\n}`;
    expect(checkInvariants(input)).toBe(`segment s {\n  /* a block\n         spanning lines\n    */\n  where x\n}\n`);
  });

  it("keeps several comments at the end of one line when only the last is a line comment", () => {
    const input = `segment s {\n  owner "o" /* a */ /* b */ // c\n  where x\n}\n`;
    expect(checkInvariants(input)).toBe(input.replace(`// c\n  where`, `// c\n\n  where`));
  });

  it("removes trailing whitespace after line comments", () => {
    expect(fmt(`// a   \nsegment s { where x }   \t`)).toBe(`// a\nsegment s {\n  where x\n}\n`);
  });
});

describe("format: line endings, broken input, idempotence", () => {
  it("accepts CRLF and writes LF", () => {
    const input = `// a\r\nsegment s {\r\n  /* b\r\n  c */\r\n  where x\r\n}\r\n`;
    const r = format(input);
    expect(r.output).toBe(`// a\nsegment s {\n  /* b\n  c */\n  where x\n}\n`);
    expect(r.changed).toBe(true);
    checkInvariants(input);
  });

  it("reports an already canonical file as unchanged", () => {
    const text = `segment s {\n  where x\n}\n`;
    expect(format(text)).toEqual({ output: text, changed: false, diagnostics: [] });
  });

  it.each([
    ["a syntax error", `segment s { where x > }`],
    ["an unterminated string", `segment s "x { where x }`],
    ["an unterminated comment", `segment s { where x } /* oops`],
    ["a missing where", `segment s { owner "o" }`],
    ["a repeated setting", `segment s { owner "a" owner "b" where x }`],
    ["a chained comparison", `segment s { where a < b < c }`],
    ["a stray token", `segment s { where x } }`],
    ["an invalid escape", `segment s { description "\\q" where x }`],
  ])("returns input with %s unchanged, with its diagnostics", (_, input) => {
    const r = format(input, "bad.seg");
    expect(r.output).toBe(input);
    expect(r.changed).toBe(false);
    expect(hasErrors(r.diagnostics)).toBe(true);
    expect(r.diagnostics.every((d) => d.file === "bad.seg")).toBe(true);
  });

  it("never throws, whatever the input", () => {
    for (const input of ["\u0000", "`", "segment", "}}}{{{", "/*", "segment s { where (((((x }", "const = =", "\uFEFF"]) {
      expect(() => format(input)).not.toThrow();
    }
  });

  it("is idempotent and preserves the tree and the comments on fuzzed layouts", () => {
    // Re-lay a file at random (whitespace, newlines, comments between any two tokens): the
    // formatter must give one answer that parses back to the same tree with the same comments.
    const base = `// header
const spend = sum(purchase.amount in the last 30 days where category in ["a", "b",])
segment s "Title" {
  description "d" owner "o" tags ["x", "y"] entity customer key id
  refresh every 15 minutes ttl 1 hour
  metric m = round(spend / count(purchase), 2)
  where spend > 1_000 and (customer.country in ["US", "CA"] or customer.email is not null and not in other)
    and customer.signup_time not in last 14 days and x not between 1 and 2 and -y < 3 or z starts with "q"
}
const t = (a or b) and (c or d or e or f)`;
    const tokens = lex(base).tokens;
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const gaps = ["", " ", "\n", "\n\n\n", "\t  ", "\n    "];
    const comments = [
      (i: number) => ` // c${i}\n`,
      (i: number) => ` /* c${i} */ `,
      (i: number) => `\n// c${i}\n`,
      (i: number) => `\n\n/* c${i}\n   more */\n`,
      (i: number) => `/*c${i}*/`,
    ];
    for (let round = 0; round < 150; round++) {
      let text = "";
      let prevEnd = 0;
      tokens.forEach((tok, i) => {
        const gap = base.slice(prevEnd, tok.startOffset);
        if (i > 0) {
          const r = rand(10);
          // (A space after `/` keeps a comment from turning it into `//`.)
          if (r < 3) text += (text.endsWith("/") ? " " : "") + comments[rand(comments.length)]!(i);
          else if (r < 6) text += gaps[rand(gaps.length)]! + (/\S/.test(gap) ? gap : "") + " ";
          else text += gap === "" ? "" : gap;
        } else text += gap;
        text += tok.image;
        prevEnd = tok.startOffset + tok.image.length;
      });
      text += base.slice(prevEnd) + (rand(2) ? "\n// tail\n" : "");
      if (rand(4) === 0) text = text.replace(/\n/g, "\r\n");
      checkInvariants(text);
    }
  });
});

// --- The example rules ------------------------------------------------------------------------

const rulesDir = fileURLToPath(new URL("../../../../examples/rules/", import.meta.url));
/**
 * Examples that did not follow the canonical layout when the formatter was written: they break
 * two-operand conditions that fit on one line (and churned.seg writes `in the last`). Reported to
 * the lead rather than edited here. Once an example is reformatted, its check here fails: remove it.
 */
const KNOWN_NOT_CANONICAL = new Set<string>([]);
const examples = existsSync(rulesDir) ? readdirSync(rulesDir).filter((f) => f.endsWith(".seg")).sort() : [];

describe.skipIf(examples.length === 0)("format: examples/rules", () => {
  it.each(examples)("%s: round trip and idempotence", (name) => {
    checkInvariants(readFileSync(rulesDir + name, "utf8"));
  });

  for (const name of examples) {
    const test = KNOWN_NOT_CANONICAL.has(name) ? it.fails : it;
    test(`${name}: is already canonical`, () => {
      const text = readFileSync(rulesDir + name, "utf8");
      expect(format(text, name).output).toBe(text);
    });
  }
});

const goldenDir = fileURLToPath(new URL("../golden/diagnostics/", import.meta.url));
const goldens = existsSync(goldenDir) ? readdirSync(goldenDir).filter((f) => f.endsWith(".seg")).sort() : [];

describe.skipIf(goldens.length === 0)("format: diagnostic goldens", () => {
  it.each(goldens)("%s: returned unchanged when it has errors, formatted safely otherwise", (name) => {
    const text = readFileSync(goldenDir + name, "utf8");
    const r = format(text, name);
    if (hasErrors(r.diagnostics)) expect(r).toMatchObject({ output: text, changed: false });
    else checkInvariants(text);
  });
});
