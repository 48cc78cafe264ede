/** @seg/dsl: the seg language front end. */
export * from "./span.js";
export * from "./messages.js";
export * from "./diagnostics.js";
export * from "./ast.js";
export * from "./literals.js";
export * from "./parse.js";
export { ALL_TOKENS, KEYWORDS } from "./tokens.js";
export * from "./ast-utils.js";
export * from "./render.js";
export * from "./format.js";
