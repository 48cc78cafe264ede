/** @seg/cli: the seg command line, callable in-process for tests. */
export { main, VERSION } from "./main.js";
export { processIo, EXIT, type CliIo } from "./io.js";
