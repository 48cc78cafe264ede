/**
 * Structural rules the grammar leaves open: each setting at most once, exactly one `where`.
 */
import type * as A from "./ast.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";

const SETTING_WORD: Record<Exclude<A.SegmentItem["kind"], "Metric">, string> = {
  Description: "description",
  Owner: "owner",
  Tags: "tags",
  Entity: "entity",
  Refresh: "refresh",
  Ttl: "ttl",
  Where: "where",
};

/**
 * Reports repeated settings (SEG015) and segments without a `where` (SEG016). `errorOffsets` are
 * the offsets of syntax errors already reported.
 */
export function checkStructure(file: A.SegFile, fileName?: string, errorOffsets: readonly number[] = []): Diagnostic[] {
  const out: Diagnostic[] = [];
  const opts = fileName === undefined ? {} : { file: fileName };
  for (const decl of file.declarations) {
    if (decl.kind !== "Segment") continue;
    const first = new Map<string, A.SegmentItem>();
    for (const item of decl.items) {
      if (item.kind === "Metric") continue;
      const prior = first.get(item.kind);
      if (prior) {
        out.push(
          diagnostic("duplicateSetting", item.span, [SETTING_WORD[item.kind], decl.name.text], {
            ...opts,
            related: [{ span: prior.span, message: "first set here" }],
          }),
        );
      } else first.set(item.kind, item);
    }
    // A syntax error inside the segment may have swallowed its `where`: don't pile on.
    const broken = errorOffsets.some((o) => o >= decl.span.start.offset && o <= decl.span.end.offset);
    if (!first.has("Where") && !broken) out.push(diagnostic("missingWhere", decl.name.span, [decl.name.text], opts));
  }
  return out;
}
