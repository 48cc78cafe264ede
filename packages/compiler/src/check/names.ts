/**
 * How names, durations and types appear in messages: as a rule author would write them.
 */
import { KEYWORDS, printDuration, printName, type DurationLiteral, type Window } from "@seg/dsl";
import { typeToString, type SegType } from "../types.js";

const isKeyword = (word: string): boolean => Object.prototype.hasOwnProperty.call(KEYWORDS, word);
const never = (): boolean => false;

/** A name as it must be written bare: `purchase`, or `` `first name` `` in backticks. */
export function displayName(text: string): string {
  return printName(text, isKeyword);
}

/** A dotted path: `customer.country`, `purchase.count` (no backticks for keywords after a dot). */
export function displayPath(parts: readonly string[]): string {
  return parts.map((p, i) => printName(p, i === 0 ? isKeyword : never)).join(".");
}

/** A duration as written canonically: `30 days`. */
export function displayDuration(d: DurationLiteral): string {
  return printDuration(d.raw, d.unit);
}

/** A window as written canonically: `in last 30 days`, `between 60 days and 30 days ago`, `ever`. */
export function displayWindow(w: Window): string {
  switch (w.kind) {
    case "LastWindow":
      return `in last ${displayDuration(w.duration)}`;
    case "AgoWindow":
      return `between ${displayDuration(w.from)} and ${displayDuration(w.to)} ago`;
    case "EverWindow":
      return "ever";
  }
}

/** A type for messages, as the language reference names it: `number` (integers too), `string` (enums too), `timestamp?`. */
export function displayType(type: SegType): string {
  const plain = (t: SegType): SegType => {
    const kind = t.kind === "integer" ? "number" : t.kind;
    const out: SegType = { kind, nullable: t.nullable };
    if (t.element) out.element = plain(t.element);
    return out;
  };
  return typeToString(plain(type));
}

/** A type with an article, for sentences, without nullability: "a string", "an integer", "null". */
export function describeType(type: SegType): string {
  if (type.kind === "null") return "null";
  const shown = displayType({ ...type, nullable: false });
  return `${/^[aeiou]/.test(shown) ? "an" : "a"} ${shown}`;
}
