/**
 * Validation of pipeline specs against `schemas/pipeline.schema.json` (the repository's own
 * schema for its deploy unit).
 */
import type { ValidateFunction } from "ajv";
import { internalAjv, loadBundledSchema } from "../ajv-setup.js";

let validator: ValidateFunction | undefined;

/** Problems of a spec as `pointer: message` lines; empty when valid. */
export function validatePipelineSpec(spec: unknown): string[] {
  validator ??= internalAjv().compile(loadBundledSchema("pipeline.schema.json"));
  if (validator(spec)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || "/"}: ${e.message ?? "invalid"}`);
}
