/** Roles, tokens and the permission table (API and CLI). Loads no database driver by itself. */
export * from "./permissions.js";
export * from "./tokens.js";
export * from "./access.js";
export * from "./audit.js";
export * from "./require-role.js";
export * from "./verifier.js";
