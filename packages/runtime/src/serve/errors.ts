/** Errors of the serving routes. */

/** An error that becomes a response with this status and code (the error handler sends `{ error: code, message }`). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
