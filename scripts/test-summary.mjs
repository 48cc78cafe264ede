// Adds up vitest JSON reports and prints the closing line "tests: N passed, N failed, N skipped".
// Exits 1 when a test failed, a suite failed to load, or no test ran at all.
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
let skipped = 0;
let suiteErrors = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  suiteErrors += (r.testResults ?? []).filter((t) => t.status === "failed" && (t.assertionResults ?? []).length === 0).length;
}
console.log(`tests: ${passed} passed, ${failed + suiteErrors} failed, ${skipped} skipped`);
process.exit(failed + suiteErrors > 0 || passed === 0 ? 1 : 0);
