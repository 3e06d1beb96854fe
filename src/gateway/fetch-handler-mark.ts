/**
 * The mark of an error thrown by a handler that `fromFetchHandler` serves as
 * a fetch handler, with a real `Request`: neither `nodeHandlerHint` ("a
 * node:http handler taken for a TSGI application") nor `fetchHandlerHint`
 * ("a (request, server) fetch handler taken for one") fits it, since it was
 * not taken for a TSGI application. Its `new URL(undefined)` (an unset
 * `process.env.UPSTREAM`), `req.headers` of an undefined or `res.json()` of
 * something not a `Response` is the handler's own mistake.
 * @module
 */

/** The marked errors (`TypeError`s only: the hints look at no other). */
const FROM_FETCH_HANDLER = new WeakSet<object>();

/**
 * Mark `error` as thrown (or rejected with) by a handler served as a fetch
 * handler. Returns `error`, for `throw markFetchHandlerError(error)`.
 */
export function markFetchHandlerError(error: unknown): unknown {
  if (error instanceof TypeError) FROM_FETCH_HANDLER.add(error);
  return error;
}

/** Whether {@link markFetchHandlerError} marked `error`. */
export function isFetchHandlerError(error: TypeError): boolean {
  return FROM_FETCH_HANDLER.has(error);
}
