/**
 * The response to an application's error, before its headers went out (PEP
 * 3333 "Error Handling"; eventlet's 500 page with `debug`, gevent's
 * `WSGIHandler.handle_error()`): the standard 500, the response a
 * `handleError` hook returns (checked for shape), and the request line an
 * error log entry names.
 * @module
 */
import type { Environ } from "../spec.ts";
import { errorText } from "./error-text.ts";
import { describe } from "./response-fields.ts";
import type { ErrorResponse, GatewayOptions } from "./run.ts";

const encoder = new TextEncoder();

/**
 * The request line an error log entry names, e.g. `GET /x?y=1 HTTP/1.1`
 * (from the environ; without the protocol when `protocol` is false). Never
 * throws: an environ whose keys the app made throw (getters, a Proxy) gives
 * `(a request whose environ could not be read: ...)`.
 */
export function requestLineOf(environ: Environ, protocol = true): string {
  try {
    const target = `${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO}`;
    return protocol ? `${target} ${environ.SERVER_PROTOCOL}` : target;
  } catch (error) {
    return `(a request whose environ could not be read: ${errorText(error).split("\n", 1)[0]})`;
  }
}

/** Whether `error` is an `Error` with a stack (the debug 500 body shows it); `false` when reading it throws (a getter, a `Proxy`). */
function hasStack(error: unknown): boolean {
  try {
    return error instanceof Error && !!error.stack;
  } catch {
    return false;
  }
}

/**
 * The standard 500 for `error`: `text/plain`, its body the error's text with
 * its stack when `debug` and it has one (eventlet `debug`), else
 * `Internal Server Error`.
 */
export function internalServerError(error: unknown, debug: boolean): ErrorResponse {
  const text = debug && hasStack(error) ? errorText(error) : "Internal Server Error";
  const bytes = encoder.encode(`${text}\n`);
  return {
    status: "500 Internal Server Error",
    headers: [
      ["Content-Type", "text/plain; charset=utf-8"],
      ["Content-Length", String(bytes.length)],
    ],
    body: bytes,
  };
}

/**
 * Ask the `handleError` hook (`options.handleError`, read once by the
 * caller) for the response to `error`: its response when valid in shape
 * (status and headers are checked when it is sent), `null` for the standard
 * 500. When the hook throws, returns a Promise or something else, `error`
 * and the hook's own error are logged with `options.logError` and `null`
 * is returned; what an async hook's Promise rejects with is logged too.
 */
export function errorResponseFromHook(
  hook: NonNullable<GatewayOptions["handleError"]>,
  error: unknown,
  environ: Environ,
  options: GatewayOptions,
): ErrorResponse | null {
  try {
    const response = hook(error, environ);
    if (response === null || response === undefined) return null;
    if (typeof response === "object" && typeof (response as { then?: unknown }).then === "function") {
      // An async handleError(): not awaited (the 500 goes out now); what it rejects with is logged, not left unhandled.
      Promise.resolve(response).then(undefined, (rejected: unknown) => options.logError("handleError()", rejected));
      throw new TypeError("handleError() must return { status, headers, body: Uint8Array } or null, got a Promise: it is called synchronously, not awaited");
    }
    if (typeof response !== "object" || !(response.body instanceof Uint8Array) || !Array.isArray(response.headers)) {
      throw new TypeError(`handleError() must return { status, headers, body: Uint8Array } or null, got ${describe(response)}`);
    }
    return response;
  } catch (hookError) {
    options.logError(requestLineOf(environ), error);
    options.logError("handleError()", hookError);
    return null;
  }
}
