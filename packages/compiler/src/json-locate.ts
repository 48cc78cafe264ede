/**
 * A small, forgiving JSON scanner that remembers where every value is, so that a JSON pointer from
 * ajv (`/properties/amount/type`) can be turned into a source span. It never throws: malformed JSON
 * gives a {@link JsonSyntaxError} with its position.
 */
import { LineIndex, type Span } from "./dsl-imports.js";

/** The JSON value kinds. */
export type JsonNodeType = "object" | "array" | "string" | "number" | "boolean" | "null";

/** A value in the scanned text, with its offsets (`end` exclusive). */
export interface JsonNode {
  type: JsonNodeType;
  start: number;
  end: number;
  /** For objects: the members in source order. */
  members?: JsonMember[];
  /** For arrays: the items in source order. */
  items?: JsonNode[];
}

/** One `"key": value` member of an object. */
export interface JsonMember {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: JsonNode;
}

/** A JSON syntax error: a message and where it happened. */
export interface JsonSyntaxError {
  message: string;
  offset: number;
  span: Span;
}

/** Where a JSON pointer points. */
export interface JsonLocation {
  /** The span of the value (or of the nearest existing parent, or of the syntax error). */
  span: Span;
  /** The span of the member name when the value is an object member. */
  keySpan?: Span;
  /** A short span for diagnostics: the member name, else the opening bracket, else the value. */
  focus: Span;
  /** True when the whole pointer exists; false when a parent (or the error) was returned. */
  found: boolean;
  /** The pointer that was actually reached. */
  pointer: string;
}

const MAX_DEPTH = 1000;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

class Stop {
  constructor(readonly message: string, readonly offset: number) {}
}

class Scanner {
  pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  scan(): JsonNode {
    this.skipWs();
    const root = this.value();
    this.skipWs();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.found()} after the end of the JSON value`);
    return root;
  }

  private fail(message: string, offset = this.pos): never {
    throw new Stop(message, offset);
  }

  private found(): string {
    if (this.pos >= this.text.length) return "end of text";
    return `'${String.fromCodePoint(this.text.codePointAt(this.pos)!)}'`;
  }

  private skipWs(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  private value(): JsonNode {
    const t = this.text;
    const start = this.pos;
    const c = t[start];
    if (c === "{") return this.nested(() => this.object());
    if (c === "[") return this.nested(() => this.array());
    if (c === '"') {
      this.string();
      return { type: "string", start, end: this.pos };
    }
    for (const [word, type] of [["true", "boolean"], ["false", "boolean"], ["null", "null"]] as const) {
      if (t.startsWith(word, start)) {
        this.pos += word.length;
        return { type, start, end: this.pos };
      }
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      NUMBER.lastIndex = start;
      const m = NUMBER.exec(t);
      if (!m) this.fail(`invalid number`);
      this.pos = start + m[0].length;
      const next = t[this.pos];
      if (next !== undefined && /[0-9.eE+\-]/.test(next)) this.fail(`invalid number`, start);
      return { type: "number", start, end: this.pos };
    }
    this.fail(`expected a value but found ${this.found()}`);
  }

  private nested(parse: () => JsonNode): JsonNode {
    if (++this.depth > MAX_DEPTH) this.fail(`values are nested more than ${MAX_DEPTH} levels deep`);
    const node = parse();
    this.depth--;
    return node;
  }

  private object(): JsonNode {
    const start = this.pos++;
    const members: JsonMember[] = [];
    this.skipWs();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return { type: "object", start, end: this.pos, members };
    }
    for (;;) {
      if (this.text[this.pos] !== '"') this.fail(`expected a property name in double quotes but found ${this.found()}`);
      const keyStart = this.pos;
      const key = this.string();
      const keyEnd = this.pos;
      this.skipWs();
      if (this.text[this.pos] !== ":") this.fail(`expected ':' after property name but found ${this.found()}`);
      this.pos++;
      this.skipWs();
      members.push({ key, keyStart, keyEnd, value: this.value() });
      this.skipWs();
      const c = this.text[this.pos];
      if (c === "}") {
        this.pos++;
        return { type: "object", start, end: this.pos, members };
      }
      if (c !== ",") this.fail(`expected ',' or '}' after a property value but found ${this.found()}`);
      const comma = this.pos++;
      this.skipWs();
      if (this.text[this.pos] === "}") this.fail(`trailing comma is not allowed in JSON`, comma);
    }
  }

  private array(): JsonNode {
    const start = this.pos++;
    const items: JsonNode[] = [];
    this.skipWs();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return { type: "array", start, end: this.pos, items };
    }
    for (;;) {
      items.push(this.value());
      this.skipWs();
      const c = this.text[this.pos];
      if (c === "]") {
        this.pos++;
        return { type: "array", start, end: this.pos, items };
      }
      if (c !== ",") this.fail(`expected ',' or ']' after an array item but found ${this.found()}`);
      const comma = this.pos++;
      this.skipWs();
      if (this.text[this.pos] === "]") this.fail(`trailing comma is not allowed in JSON`, comma);
    }
  }

  /** Scans a string at `pos` (on its opening quote) and returns its decoded value. */
  private string(): string {
    const t = this.text;
    const open = this.pos++;
    let out = "";
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail(`string is not closed: add a closing '"'`, open);
      const c = t.charCodeAt(this.pos);
      if (c === 34) {
        out += t.slice(chunk, this.pos++);
        return out;
      }
      if (c < 0x20) this.fail(`control character U+${c.toString(16).padStart(4, "0")} must be escaped in a string`);
      if (c !== 92) {
        this.pos++;
        continue;
      }
      out += t.slice(chunk, this.pos);
      const e = t[this.pos + 1];
      if (e === "u") {
        const hex = t.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`invalid unicode escape in string`);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && ESCAPES[e] !== undefined) {
        out += ESCAPES[e];
        this.pos += 2;
      } else {
        this.fail(`invalid escape sequence in string`);
      }
      chunk = this.pos;
    }
  }
}

/** Splits a JSON pointer (`/a/b~1c`, also `#/a/b` URI-fragment form) into its unescaped parts. */
export function parsePointer(pointer: string): string[] {
  let p = pointer;
  if (p.startsWith("#")) {
    try {
      p = decodeURIComponent(p.slice(1));
    } catch {
      p = p.slice(1);
    }
  }
  if (p === "") return [];
  const parts = p.split("/");
  if (parts[0] === "") parts.shift();
  return parts.map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Builds a JSON pointer from its parts. */
export function formatPointer(parts: readonly (string | number)[]): string {
  return parts.map((s) => "/" + String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

/** A parsed JSON text: its value (when valid), its located tree and its syntax error (when not). */
export class JsonDocument {
  /** The line index of the text, for turning offsets into positions. */
  readonly lines: LineIndex;
  /** The located tree; undefined when the text has a syntax error. */
  readonly tree: JsonNode | undefined;
  /** The first syntax error, if any. */
  readonly error: JsonSyntaxError | undefined;
  /** The parsed value; undefined when the text has a syntax error. */
  readonly value: unknown;

  private constructor(readonly text: string) {
    this.lines = new LineIndex(text);
    const scanner = new Scanner(text);
    let tree: JsonNode | undefined;
    let stop: Stop | undefined;
    try {
      tree = scanner.scan();
    } catch (e) {
      stop = e instanceof Stop ? e : new Stop(`cannot scan JSON: ${String(e)}`, scanner.pos);
    }
    let value: unknown;
    let parseMessage: string | undefined;
    try {
      value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (e) {
      parseMessage = e instanceof Error ? e.message : String(e);
    }
    if (parseMessage !== undefined && !stop) stop = new Stop(parseMessage, 0);
    if (parseMessage === undefined) stop = undefined; // JSON.parse is the judge of validity
    this.tree = tree;
    this.value = stop ? undefined : value;
    this.error = stop ? { message: stop.message, offset: stop.offset, span: this.charSpan(stop.offset) } : undefined;
  }

  /** Scans `text`. Never throws. */
  static parse(text: string): JsonDocument {
    return new JsonDocument(text);
  }

  /** True when the text is valid JSON. */
  get ok(): boolean {
    return this.error === undefined;
  }

  /** Locates `pointer`, or its nearest existing parent. On a syntax error, locates the error. */
  locate(pointer: string): JsonLocation {
    if (!this.tree) {
      const span = this.error ? this.error.span : this.lines.span(0, 0);
      return { span, focus: span, found: false, pointer: "" };
    }
    const parts = parsePointer(pointer);
    let node = this.tree;
    let key: { start: number; end: number } | undefined;
    const reached: string[] = [];
    for (const part of parts) {
      let next: JsonNode | undefined;
      let nextKey: typeof key;
      if (node.members) {
        for (const m of node.members) {
          if (m.key === part) {
            next = m.value; // the last duplicate wins, as in JSON.parse
            nextKey = { start: m.keyStart, end: m.keyEnd };
          }
        }
      } else if (node.items && /^(0|[1-9][0-9]*)$/.test(part)) {
        next = node.items[Number(part)];
        nextKey = undefined;
      }
      if (!next) break;
      node = next;
      key = nextKey;
      reached.push(part);
    }
    return this.locationOf(node, key, reached.length === parts.length, formatPointer(reached));
  }

  /** Every object member named `name`, in source order, as locations of their values. */
  findMembers(name: string): JsonLocation[] {
    const out: JsonLocation[] = [];
    const walk = (node: JsonNode, path: string[]): void => {
      for (const m of node.members ?? []) {
        const p = [...path, m.key];
        if (m.key === name) out.push(this.locationOf(m.value, { start: m.keyStart, end: m.keyEnd }, true, formatPointer(p)));
        walk(m.value, p);
      }
      (node.items ?? []).forEach((item, i) => walk(item, [...path, String(i)]));
    };
    if (this.tree) walk(this.tree, []);
    return out;
  }

  private locationOf(node: JsonNode, key: { start: number; end: number } | undefined, found: boolean, pointer: string): JsonLocation {
    const span = this.lines.span(node.start, node.end);
    const keySpan = key ? this.lines.span(key.start, key.end) : undefined;
    const container = node.type === "object" || node.type === "array";
    const focus = keySpan ?? (container ? this.lines.span(node.start, node.start + 1) : span);
    const loc: JsonLocation = { span, focus, found, pointer };
    if (keySpan) loc.keySpan = keySpan;
    return loc;
  }

  private charSpan(offset: number): Span {
    return this.lines.span(offset, Math.min(offset + 1, this.text.length));
  }
}

/** Locates `pointer` in `text` (see {@link JsonDocument.locate}). Never throws. */
export function locateJsonPointer(text: string, pointer: string): JsonLocation {
  return JsonDocument.parse(text).locate(pointer);
}

/** The first syntax error of `text`, or undefined when it is valid JSON. Never throws. */
export function checkJsonSyntax(text: string): JsonSyntaxError | undefined {
  return JsonDocument.parse(text).error;
}
