/**
 * The hint an error log adds under an application error that shows a fetch
 * handler `(request, server) => Response` served as a TSGI application
 * (shared by the server's error log and the dev server's diagnosis).
 * @module
 */
import { isFetchHandlerError } from "./fetch-handler-mark.ts";
import { isThrownAfterStartResponse } from "./node-handler-hint.ts";

/** A name a fetch handler gives its request (`req`, `request`), in any case. */
const REQUEST_NAME = /^req(?:uest)?$/i;

/** Members of a fetch `Request` a handler reads a member of (`request.headers.get()`, `req.url.startsWith()`), absent from an environ. */
const REQUEST_OBJECTS = new Set(["url", "headers", "signal", "body", "cookies"]);

/** Methods of a fetch `Request` (the body's, and `clone`), absent from an environ. */
const REQUEST_METHODS = new Set(["json", "text", "formData", "arrayBuffer", "blob", "bytes", "clone"]);

/**
 * What to tell the user when `error`, thrown by an application, looks like
 * a fetch handler declared as `Bun.serve` and Deno call it, `(request,
 * server) => Response`, served as a TSGI application: it has two
 * parameters, so `tsgi serve` and `tsgi-dev` call it with `(environ,
 * startResponse)` (spec.md "The application side", fetch.md "Loading
 * modules that export fetch handlers"), and its first use of the request
 * fails on the environ. Recognized, on a `TypeError` only:
 *
 * - `new URL(request.url)`: Bun's `Invalid URL` (`code` `ERR_INVALID_URL`)
 *   of the input `"undefined"`;
 * - a member of `headers`, `url`, `signal`, `body` or `cookies` read on a
 *   value named `req` or `request`: `undefined is not an object (evaluating
 *   'req.headers.get')` (JavaScriptCore's message);
 * - a body method (`json`, `text`, `formData`, `arrayBuffer`, `blob`,
 *   `bytes`) or `clone` called on such a value: `req.json is not a function`;
 * - Hono's `app.fetch(request, env)` given the environ: its `getPath()`
 *   reading the undefined `url` (`evaluating 'url.indexOf'`).
 *
 * Only looked at once an error was thrown. An error marked by
 * `thrownAfterStartResponse` gets none: an app that called `startResponse`
 * is a TSGI application.
 *
 * @returns two sentences naming the mistake and the exports tsgi serves as
 *   a fetch handler (`{ fetch: handler }`, `fromFetchHandler(handler)`), or
 *   `null` when the error is not of that kind.
 */
export function fetchHandlerHint(error: unknown): string | null {
  let what: string | null;
  try {
    if (!(error instanceof TypeError) || isThrownAfterStartResponse(error) || isFetchHandlerError(error)) return null;
    what = requestMisuse(error);
  } catch {
    // A value whose reading throws (a Proxy, a getter): no hint.
    return null;
  }
  if (what === null) return null;
  return (
    `This looks like a fetch handler, (request, server) => Response, as Bun.serve and Deno call it: a function of two or more parameters is taken for a TSGI application and called with (environ, startResponse), ` +
    `so ${what}. Export it as an object with a fetch() method, export default { fetch: handler }, which tsgi serve and tsgi-dev serve as a fetch handler (its server argument is one like Bun.serve's), ` +
    `or wrap it: fromFetchHandler(handler) (docs/fetch.md).`
  );
}

/** What `error` says the application did with the environ taken for a `Request`, or `null`. */
function requestMisuse(error: TypeError): string | null {
  const { message } = error;
  if (typeof message !== "string") return null;
  const fields = error as TypeError & { code?: unknown; input?: unknown };
  if (fields.code === "ERR_INVALID_URL" && fields.input === "undefined") {
    return "its request is the environ, whose url is undefined (new URL(undefined) throws Invalid URL)";
  }
  const member = /^undefined is not an object \(evaluating '([A-Za-z_$][\w$]*)\.([A-Za-z_$][\w$]*)\./.exec(message);
  if (member !== null && REQUEST_NAME.test(member[1]!) && REQUEST_OBJECTS.has(member[2]!)) {
    return `${member[1]} is the environ, which has no ${member[2]}`;
  }
  const method = /^([A-Za-z_$][\w$]*)\.([A-Za-z_$][\w$]*) is not a function\b/.exec(message);
  if (method !== null && REQUEST_NAME.test(method[1]!) && REQUEST_METHODS.has(method[2]!)) {
    return `${method[1]} is the environ, which has no ${method[2]}() method`;
  }
  // Hono's getPath(request) reads request.url into `url` first (hono/dist/utils/url.js).
  if (/^undefined is not an object \(evaluating 'url\.indexOf'\)/.test(message) && /^\s*at getPath \(.*[\\/]hono[\\/]/m.test(String(error.stack))) {
    return "Hono's fetch() was given the environ for its request, whose url is undefined";
  }
  return null;
}

