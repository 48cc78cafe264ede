/** Errors of the deploy store: each has a code and a message fit to show as it is. */

/** Why a deploy or rollback could not be done. */
export type DeployErrorCode =
  | "locked"
  | "invalid-request"
  | "unknown-segment"
  | "unknown-version"
  | "ambiguous-version"
  | "retired-segment"
  | "no-previous-version"
  | "already-current";

/** A deploy or rollback refused for a reason the user can act on. */
export class DeployError extends Error {
  constructor(
    readonly code: DeployErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DeployError";
  }
}
