// Preloaded with `node --import`: records every module URL the program resolves into the file
// named by SEG_TRACE_IMPORTS, so tests can check what a command loads at start-up.
import { register } from "node:module";

const hooks = `
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + "\\n");
  return result;
}`;
register("data:text/javascript," + encodeURIComponent(hooks), { data: { file: process.env.SEG_TRACE_IMPORTS } });
