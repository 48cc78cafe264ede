/**
 * Expected diagnostics written inside golden `.seg` files.
 *
 * Two forms, both comments so they never change what is parsed:
 *   `//   ^^^ SEG010`  carets under the previous non-marker line: start column and width;
 *   `// expect: SEG004 3:1`  an explicit 1-based line:col (for spans a caret cannot reach).
 */
export interface ExpectedDiagnostic {
  code: string;
  line: number;
  column: number;
  /** Width in columns, when given by carets. */
  width?: number;
}

const CARET = /^(\s*)\/\/(\s*)(\^+)\s+(SEG\d{3})\s*$/;
const EXPLICIT = /\/\/\s*expect:\s*(SEG\d{3})\s+(\d+):(\d+)/;

/** Reads the expected diagnostics of a golden file. */
export function readMarkers(text: string): ExpectedDiagnostic[] {
  const out: ExpectedDiagnostic[] = [];
  const lines = text.split(/\r?\n/);
  let target = 0;
  lines.forEach((line, i) => {
    const caret = CARET.exec(line);
    if (caret) {
      const column = caret[1]!.length + 2 + caret[2]!.length + 1;
      out.push({ code: caret[4]!, line: target, column, width: caret[3]!.length });
      return;
    }
    const explicit = EXPLICIT.exec(line);
    if (explicit) out.push({ code: explicit[1]!, line: Number(explicit[2]), column: Number(explicit[3]) });
    else target = i + 1;
  });
  return out;
}
