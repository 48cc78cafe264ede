/**
 * seg's portable regular expressions: the subset of RE2 (DuckDB) syntax that can be written for
 * Java (Spark) with exactly the same meaning, and its translation for each engine.
 *
 * Meaning (RE2's, made explicit on Java):
 * - `.` is any code point but `\n`; `^` and `$` are the start and the end of the text (`$` never
 *   matches before a final line break); a search is unanchored.
 * - `\d` `\w` `\s` and `\b` are ASCII: `[0-9]`, `[0-9A-Za-z_]`, `[\t\n\f\r ]` (no vertical tab),
 *   and a boundary between a `\w` character and anything else. POSIX classes (`[[:alpha:]]`) are
 *   ASCII sets. `\p{L}`, `\p{Lu}`... are Unicode general categories.
 * - Flags: `(?i)` (Unicode case-insensitive) and `(?s)` (`.` also matches `\n`), also scoped
 *   (`(?i:...)`) or turned off (`(?-i)`).
 * - Not portable, hence rejected by the checker (SEG058): lookarounds, backreferences, atomic
 *   groups, possessive quantifiers, `(?m)`, `(?U)`, `(?x)`, `\p{^X}` and scripts (`\p{Greek}`),
 *   repeat counts above 1000, a `]` right after `[` (write `\]`), and escapes other than those
 *   above, `\A`, `\z`, `\n` `\t` `\r` `\f` `\v` `\a`, `\xHH`, `\x{H...}`, `\uHHHH` and escaped
 *   punctuation.
 */

/** The engine a pattern is written for; `js` only serves syntax checks (flags dropped). */
export type RegexTarget = "re2" | "java" | "js";

/** Why a pattern is not portable, with the offset (in UTF-16 units) of the construct. */
export interface RegexPortabilityProblem {
  message: string;
  offset: number;
  /** The pattern is malformed (an invalid regex anywhere), not merely unportable. */
  syntax?: boolean;
}

/** Thrown by {@link translateRegex} for a pattern the checker rejects. */
export class UnportableRegexError extends RangeError {
  constructor(readonly problem: RegexPortabilityProblem) {
    super(problem.message);
    this.name = "UnportableRegexError";
  }
}

const WORD = "0-9A-Za-z_";
const SPACE = "\\t\\n\\f\\r ";
/** ASCII members of each POSIX class, written for a Java character class. */
const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-/:-@\\[-`{-~",
  space: "\\t\\n\\x0B\\f\\r ",
  upper: "A-Z",
  word: WORD,
  xdigit: "0-9A-Fa-f",
};
const CATEGORIES = new Set(
  "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Co Cs".split(" "),
);
const META = new Set([..."\\^$.|?*+()[]{}"]);
const SIMPLE_ESCAPES = new Set([..."ntrfa"]);
const MAX_REPEAT = 1000;

/** Why `pattern` cannot mean the same on every engine, or undefined when it can. */
export function regexPortabilityProblem(pattern: string): RegexPortabilityProblem | undefined {
  try {
    new RegexTranslator(pattern, "re2").run();
    return undefined;
  } catch (err) {
    if (err instanceof UnportableRegexError) return err.problem;
    throw err;
  }
}

/**
 * `pattern` (a portable regex, see the module comment) written for `target`. For Java the caller
 * still adds `(?d)` so that `\n` is the only line terminator.
 */
export function translateRegex(pattern: string, target: RegexTarget): string {
  return new RegexTranslator(pattern, target).run();
}

class RegexTranslator {
  private i = 0;
  private out = "";

  constructor(
    private readonly p: string,
    private readonly target: RegexTarget,
  ) {}

  private get java(): boolean {
    return this.target === "java";
  }

  private fail(message: string, offset = this.i, syntax = false): never {
    throw new UnportableRegexError(syntax ? { message, offset, syntax } : { message, offset });
  }

  run(): string {
    const p = this.p;
    while (this.i < p.length) {
      const c = p[this.i]!;
      if (c === "\\") this.escape(false);
      else if (c === "[") this.charClass();
      else if (c === "(") this.group();
      else if (c === "$") {
        this.out += this.java ? "\\z" : "$";
        this.i += 1;
      } else if (c === "*" || c === "+" || c === "?") {
        this.out += c;
        this.i += 1;
        this.quantifierSuffix();
      } else if (c === "{") this.repeat();
      else if (c === "}") {
        this.out += this.java ? "\\}" : "}";
        this.i += 1;
      } else {
        this.out += c;
        this.i += 1;
      }
    }
    return this.out;
  }

  /** After a quantifier: `?` (lazy) is portable, `+` (possessive) is not. */
  private quantifierSuffix(): void {
    const next = this.p[this.i];
    if (next === "?") {
      this.out += "?";
      this.i += 1;
    } else if (next === "+") this.fail("possessive quantifiers (`*+`, `++`, `?+`) are not supported");
  }

  /** `{n}`, `{n,}`, `{n,m}`; any other `{` is a literal brace. */
  private repeat(): void {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(this.i));
    if (!m) {
      this.out += this.java ? "\\{" : "{";
      this.i += 1;
      return;
    }
    const counts = [m[1], m[3]].filter((x): x is string => x !== undefined && x !== "").map(Number);
    if (counts.some((n) => n > MAX_REPEAT)) this.fail(`repeat counts above ${MAX_REPEAT} are not supported`);
    this.out += m[0];
    this.i += m[0].length;
    this.quantifierSuffix();
  }

  private group(): void {
    const rest = this.p.slice(this.i);
    if (!rest.startsWith("(?")) {
      this.out += "(";
      this.i += 1;
      return;
    }
    if (rest.startsWith("(?:")) {
      this.out += "(?:";
      this.i += 3;
      return;
    }
    if (/^\(\?(=|!|<=|<!)/.test(rest)) this.fail("lookahead and lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`) are not supported");
    const named = /^\(\?P?<[A-Za-z_][A-Za-z0-9_]*>/.exec(rest);
    if (named) {
      // only whether the text matches counts, so a named group is a plain group
      this.out += "(";
      this.i += named[0].length;
      return;
    }
    const flags = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(rest);
    if (!flags) this.fail("this group syntax is not supported (use `(...)` or `(?:...)`)");
    const on = flags[1] ?? "";
    const off = flags[2] ?? "";
    for (const f of on + off) {
      if (f !== "i" && f !== "s") this.fail(`the flag \`${f}\` is not supported (only \`i\` and \`s\` are)`);
    }
    this.i += flags[0].length;
    if (this.target === "js") {
      // JavaScript has no inline flags: keep the group structure for its syntax check
      if (flags[3] === ":") this.out += "(?:";
      return;
    }
    // Java's (?i) is ASCII-only without u (UNICODE_CASE); RE2's always folds Unicode
    const javaOn = this.java && on.includes("i") ? `${on}u` : on;
    this.out += `(?${javaOn}${flags[2] !== undefined ? `-${off}` : ""}${flags[3]}`;
  }

  /** A backslash escape at `this.i`, outside a class or (`inClass`) inside one. */
  private escape(inClass: boolean): void {
    const p = this.p;
    const start = this.i;
    const c = p[this.i + 1];
    if (c === undefined) this.fail("a pattern cannot end with a backslash", start, true);
    this.i += 2;
    const emit = (re2: string, java: string) => (this.out += this.java ? java : re2);
    switch (c) {
      case "d":
      case "D":
      case "w":
      case "W":
        return void emit(`\\${c}`, `\\${c}`);
      case "s":
        return void emit("\\s", inClass ? SPACE : `[${SPACE}]`);
      case "S":
        return void emit("\\S", `[^${SPACE}]`);
      case "b":
      case "B":
        if (inClass) this.fail("`\\b` inside a character class is not supported", start);
        return void emit(`\\${c}`, c === "b" ? JAVA_WORD_BOUNDARY : JAVA_NOT_WORD_BOUNDARY);
      case "A":
      case "z":
        if (inClass) this.fail(`\`\\${c}\` inside a character class is not supported`, start);
        return void emit(`\\${c}`, `\\${c}`);
      case "v":
        return void emit("\\v", "\\x0B");
      case "p":
      case "P":
        return void this.property(c, start);
      case "x":
        return void this.codePoint(start, /^\\x(?:([0-9A-Fa-f]{2})|\{([0-9A-Fa-f]{1,6})\})/);
      case "u":
        return void this.codePoint(start, /^\\u([0-9A-Fa-f]{4})/);
      case "Q":
        if (inClass) this.fail("`\\Q...\\E` inside a character class is not supported", start);
        return void this.quoted();
    }
    if (SIMPLE_ESCAPES.has(c)) return void emit(`\\${c}`, `\\${c}`);
    if (/[0-9]/.test(c)) this.fail("backreferences and octal escapes (`\\1`, `\\0`) are not supported", start);
    if (/[A-Za-z]/.test(c)) this.fail(`the escape \`\\${c}\` is not supported`, start);
    // escaped punctuation or another character: the character itself
    const ch = String.fromCodePoint(p.codePointAt(start + 1)!);
    this.i = start + 1 + ch.length;
    this.out += /[\x21-\x7e]/.test(ch) ? `\\${ch}` : this.literal(ch, inClass);
  }

  private property(c: "p" | "P", start: number): void {
    const m = /^\\[pP](?:\{(\^?)([A-Za-z_]+)\}|([A-Za-z]))/.exec(this.p.slice(start));
    if (!m) this.fail("write a Unicode category as `\\p{L}` or `\\pL`", start);
    const name = m[2] ?? m[3]!;
    if (m[1] === "^") this.fail("`\\p{^X}` is not supported: write `\\P{X}`", start);
    if (!CATEGORIES.has(name)) this.fail(`\`\\${c}{${name}}\` is not supported: only Unicode general categories (L, Lu, Ll, N, Nd, P, S, Z...) are`, start);
    this.out += `\\${c}{${name}}`;
    this.i = start + m[0].length;
  }

  private codePoint(start: number, re: RegExp): void {
    const m = re.exec(this.p.slice(start));
    if (!m) this.fail("write a code point as `\\xHH`, `\\x{HHHH}` or `\\uHHHH`", start);
    const cp = parseInt(m[1] ?? m[2]!, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail("this code point cannot appear in a string", start);
    this.out += `\\x{${cp.toString(16).toUpperCase()}}`;
    this.i = start + m[0].length;
  }

  /** `\Q...\E`: every character literal. */
  private quoted(): void {
    const end = this.p.indexOf("\\E", this.i);
    const stop = end < 0 ? this.p.length : end;
    for (const ch of this.p.slice(this.i, stop)) this.out += META.has(ch) ? `\\${ch}` : ch;
    this.i = end < 0 ? stop : end + 2;
  }

  /** A character that stands for itself, written so neither engine reads it as syntax. */
  private literal(ch: string, inClass: boolean): string {
    if (inClass) return "[]^-\\&".includes(ch) ? `\\${ch}` : ch;
    return META.has(ch) ? `\\${ch}` : ch;
  }

  /** `[...]` with ranges, escapes and POSIX classes. */
  private charClass(): void {
    const p = this.p;
    const start = this.i;
    this.i += 1;
    let body = "";
    let negated = false;
    if (p[this.i] === "^") {
      negated = true;
      this.i += 1;
    }
    if (p[this.i] === "]") this.fail("a `]` right after `[` means different things on different engines: write `\\]`", this.i);
    const saved = this.out;
    let members = 0;
    // each member: a single character (for ranges) or null for a set (escape class, POSIX class)
    let previous: string | null = null;
    while (this.i < p.length && p[this.i] !== "]") {
      const c = p[this.i]!;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.i));
      if (posix) {
        const members = POSIX[posix[2]!];
        if (members === undefined) this.fail(`unknown POSIX class \`[:${posix[2]}:]\``, this.i, true);
        body += this.java ? (posix[1] ? `[^${members}]` : members) : posix[0];
        this.i += posix[0].length;
        previous = null;
      } else if (c === "-" && members > 0 && this.i + 1 < p.length && p[this.i + 1] !== "]") {
        if (previous === null) this.fail("a range needs single characters at both ends", this.i);
        this.i += 1;
        const high = this.classAtom();
        if (high === null) this.fail("a range needs single characters at both ends", this.i);
        body += `-${high}`;
        previous = null;
      } else {
        previous = this.classAtom();
        body += this.lastAtom;
      }
      members += 1;
    }
    if (this.i >= p.length) this.fail("missing terminating ] for character class", start, true);
    this.i += 1;
    this.out = `${saved}[${negated ? "^" : ""}${body}]`;
  }

  private lastAtom = "";

  /** One class member at `this.i`: its text in {@link lastAtom}; returns it when it is a single character. */
  private classAtom(): string | null {
    const p = this.p;
    if (p[this.i] === "\\") {
      const before = this.out;
      this.out = "";
      const c = p[this.i + 1];
      this.escape(true);
      const text = this.out;
      this.out = before;
      this.lastAtom = text;
      return c !== undefined && "dDwWsSpP".includes(c) ? null : text;
    }
    const ch = String.fromCodePoint(p.codePointAt(this.i)!);
    this.i += ch.length;
    const text = this.java || ch === "[" ? this.literal(ch, true) : ch === "]" || ch === "\\" ? `\\${ch}` : ch;
    this.lastAtom = text;
    return text;
  }
}

/** RE2's ASCII `\b` on Java, whose `\b` also sees non-ASCII letters as word characters. */
const JAVA_WORD_BOUNDARY = `(?:(?<=[${WORD}])(?![${WORD}])|(?<![${WORD}])(?=[${WORD}]))`;
const JAVA_NOT_WORD_BOUNDARY = `(?:(?<=[${WORD}])(?=[${WORD}])|(?<![${WORD}])(?![${WORD}]))`;
