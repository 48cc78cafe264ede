/**
 * Chevrotain, loaded from its single-file bundle when available. The package's default entry
 * point pulls in hundreds of lodash-es modules (about 0.5 s of start-up); the bundle that ships
 * in the same package loads in a few milliseconds, which matters for `seg check` in editors and CI.
 */
import type * as Chevrotain from "chevrotain";

async function load(): Promise<typeof Chevrotain> {
  try {
    const entry = import.meta.resolve("chevrotain");
    return (await import(new URL("../chevrotain.min.mjs", entry).href)) as typeof Chevrotain;
  } catch {
    return await import("chevrotain");
  }
}

const chevrotain = await load();

export const { createToken, Lexer, EmbeddedActionsParser, EOF } = chevrotain;
