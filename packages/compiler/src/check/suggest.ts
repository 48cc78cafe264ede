/**
 * "Did you mean ...?" suggestions: the closest candidate by optimal-string-alignment distance
 * (Damerau-Levenshtein with adjacent transpositions), or a candidate sharing a prefix.
 */
import { displayName } from "./names.js";

/** Edit distance with adjacent transpositions (optimal string alignment), case-sensitive. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  let prev2: number[] = new Array<number>(n + 1).fill(0);
  let prev: number[] = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur: number[] = new Array<number>(n + 1).fill(0);
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n]!;
}

/**
 * The candidate closest to `name`: distance at most 2 (at most 1 for names of 3 characters or
 * fewer), ignoring case differences first; otherwise a candidate that starts with `name` or that
 * `name` starts with (at least 3 characters shared). Ties go to the alphabetically first.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  if (name === "") return undefined;
  const lower = name.toLowerCase();
  let best: { candidate: string; score: number } | undefined;
  const consider = (candidate: string, score: number): void => {
    if (!best || score < best.score || (score === best.score && candidate < best.candidate)) best = { candidate, score };
  };
  for (const c of new Set(candidates)) {
    if (c === name || c === "") continue;
    const cl = c.toLowerCase();
    if (cl === lower) {
      consider(c, 0);
      continue;
    }
    const limit = Math.min(name.length, c.length) <= 3 ? 1 : 2;
    const d = editDistance(lower, cl);
    if (d <= limit) consider(c, d);
    else if (Math.min(lower.length, cl.length) >= 3 && (cl.startsWith(lower) || lower.startsWith(cl))) consider(c, 3);
  }
  return best?.candidate;
}

/** Hints for an unknown name: `did you mean X?` when there is a close candidate, else none. */
export function didYouMean(name: string, candidates: Iterable<string>): string[] {
  const c = closest(name, candidates);
  return c === undefined ? [] : [`did you mean ${displayName(c)}?`];
}

/**
 * Hints for an unknown name: `did you mean X?`, or else the names that exist (`label: a, b, c`),
 * up to ten of them, sorted.
 */
export function nameHints(name: string, candidates: Iterable<string>, label: string): string[] {
  const all = [...new Set(candidates)].filter((c) => c !== "");
  const suggestion = didYouMean(name, all);
  if (suggestion.length > 0) return suggestion;
  if (all.length === 0) return [];
  const sorted = all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(displayName);
  const shown = sorted.length > 10 ? `${sorted.slice(0, 10).join(", ")}, ...` : sorted.join(", ");
  return [`${label}: ${shown}`];
}
