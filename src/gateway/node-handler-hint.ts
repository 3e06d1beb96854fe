/**
 * The hint an error log adds under an application error that shows a
 * node:http handler `(req, res) => { res.end(...) }` served as a TSGI
 * application (shared by the server's error log and the dev server's
 * diagnosis).
 * @module
 */
import { isFetchHandlerError } from "./fetch-handler-mark.ts";
/**
 * Methods of node:http's `ServerResponse` (and of Express's response, built
 * on it) that a `(req, res)` handler calls on its second argument, which a
 * TSGI server fills with `startResponse`, a function that has none of them.
 */
const NODE_RESPONSE_METHODS = new Set([
  "end",
  "write",
  "writeHead",
  "setHeader",
  "getHeader",
  "getHeaders",
  "hasHeader",
  "removeHeader",
  "flushHeaders",
  "writeContinue",
  "status",
  "send",
  "json",
  "sendStatus",
  "sendFile",
  "redirect",
]);

/**
 * The methods of {@link NODE_RESPONSE_METHODS} a fetch `Request` has too
 * (`req.json()`, or `tsgi.input` read as a body, fails with the same
 * message as Express's `res.json()` on `startResponse`).
 */
const REQUEST_METHODS = new Set(["json"]);

/**
 * What to tell the user when `error`, thrown by an application, looks like
 * a node:http handler `(req, res) => { res.end(...) }` served as a TSGI
 * application (a common first mistake: it has two parameters, so it is
 * called with `(environ, startResponse)`): a `TypeError` saying that a
 * method of node:http's response (`end`, `writeHead`, `setHeader`, `write`,
 * Express's `send`, `json`, `status`, ...) of a named value "is not a
 * function" (JavaScriptCore: `res.end is not a function. (In 'res.end()',
 * 'res.end' is undefined)`). For error logs and the dev server's error page;
 * only looked at once an error was thrown (a regular expression on its
 * message). A `json` a fetch `Request` has too counts only on a name
 * starting with `res` (`res.json()`, not `req.json()` or `input.json()`).
 * There is no adapter for node:http handlers: the hint names the
 * two shapes tsgi serves (spec.md "The application side", fetch.md).
 *
 * An error marked by {@link thrownAfterStartResponse} gets none: an app
 * that called `startResponse` is a TSGI application (its `writer.write is
 * not a function` is another mistake).
 *
 * @returns one or two sentences, or `null` when the error is not of that kind.
 */
export function nodeHandlerHint(error: unknown): string | null {
  let message: unknown;
  try {
    if (!(error instanceof TypeError) || afterStartResponse.has(error) || isFetchHandlerError(error)) return null;
    message = error.message;
  } catch {
    // A value whose reading throws (a Proxy, a getter): no hint.
    return null;
  }
  if (typeof message !== "string") return null;
  const m = /^([A-Za-z_$][\w$]*)\.([A-Za-z_$][\w$]*) is not a function\b/.exec(message);
  if (m === null || !NODE_RESPONSE_METHODS.has(m[2]!)) return null;
  // json() is also a Request's (and tsgi.input read as one): only on a response's name, as Express writes res.json().
  if (REQUEST_METHODS.has(m[2]!) && !/^res/i.test(m[1]!)) return null;
  return (
    `This looks like a node:http handler, (req, res) => { res.end(...) }: a TSGI application is called with (environ, startResponse), ` +
    `so ${m[1]} is startResponse, which has no ${m[2]}() method. Write it as (environ, startResponse) => { startResponse("200 OK", [["Content-Type", "text/plain"]]); return [body]; } ` +
    `(docs/spec.md, "The application side"), or as a fetch handler (request) => new Response(...), which tsgi serves as it is (docs/fetch.md).`
  );
}

/** Errors an application threw after calling `startResponse` (see {@link thrownAfterStartResponse}). */
const afterStartResponse = new WeakSet<object>();

/**
 * Mark `error` as thrown by an application after it called `startResponse`
 * (a node:http handler never calls it), so that {@link nodeHandlerHint}
 * gives it no hint: `const writer = startResponse(...); writer.write(...)`
 * fails as "writer.write is not a function" in a real TSGI application.
 * Called on the error path only (the gateway, tsgi-dev's error pages); a
 * value that is not an object is left alone.
 */
export function thrownAfterStartResponse(error: unknown): void {
  if (typeof error === "object" && error !== null) afterStartResponse.add(error);
}

/** Whether {@link thrownAfterStartResponse} marked `error` (an app that called `startResponse` is a TSGI application: no hint on its shape). */
export function isThrownAfterStartResponse(error: unknown): boolean {
  return typeof error === "object" && error !== null && afterStartResponse.has(error);
}
