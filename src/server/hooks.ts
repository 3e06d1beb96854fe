/**
 * Calling the application's connection hooks (the `handlerClass` methods and
 * constructor, the `environClass` constructor) as application code: what
 * they throw or return wrongly fails the request as an application error
 * would (a 500, one log line naming the hook and the request line, the
 * connection kept as its framing allows), never the connection or the
 * server. gevent calls `get_environ()` outside `handle_one_response()`'s
 * guard: there an error ends the handler's greenlet, the client's connection
 * is closed unanswered and the hub prints the traceback.
 * @module
 */
import { describe } from "../gateway/response-fields.ts";
import type { GatewayOptions } from "../gateway/run.ts";
import type { Application, Environ, ErrorStream } from "../spec.ts";

/** A hook that failed: its name as the error log shows it (`RequestHandler.getEnviron()`) and what it threw. */
export interface HookFailure {
  readonly hook: string;
  readonly error: unknown;
}

/** `value` has a `then` method (a Promise, or any thenable). Never throws. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  try {
    return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

/**
 * What an error message says of a hook's wrong return value; a Promise is
 * named as such, with what to do, and what it may reject with is dropped
 * (the message is the error logged), not left unhandled.
 */
function wrongValue(value: unknown): string {
  if (!isThenable(value)) return describe(value);
  Promise.resolve(value).then(undefined, () => {});
  return "a Promise: the hooks are called synchronously, not awaited (do asynchronous work in the application)";
}

/**
 * The environ a `getEnviron()` or `environClass` returned, checked: an object.
 * @throws TypeError naming `hook` and what it returned (null, a string, a Promise...).
 */
export function checkEnviron(hook: string, value: unknown): Environ {
  if (typeof value !== "object" || value === null || isThenable(value)) {
    throw new TypeError(`${hook} must return the environ (an object), got ${wrongValue(value)}`);
  }
  return value as Environ;
}

/**
 * The stream a `getStderr()` returned, checked: an object with `write`,
 * `writelines` and `flush` methods (`tsgi.errors`, PEP 3333 `wsgi.errors`).
 * @throws TypeError naming what it returned.
 */
export function checkStderr(value: unknown): ErrorStream {
  const stream = value as Partial<ErrorStream> | null;
  if (
    typeof value !== "object" ||
    value === null ||
    isThenable(value) ||
    typeof stream!.write !== "function" ||
    typeof stream!.writelines !== "function" ||
    typeof stream!.flush !== "function"
  ) {
    throw new TypeError(`RequestHandler.getStderr() must return an error stream (write, writelines and flush methods), got ${wrongValue(value)}`);
  }
  return value as ErrorStream;
}

/**
 * The application run for a request whose hook failed: it throws what the
 * hook threw, so the gateway answers the standard 500 (or cuts nothing: no
 * byte was sent) and the connection goes on as after any application error.
 */
export function failingApp(failure: HookFailure): Application {
  return () => {
    throw failure.error;
  };
}

/**
 * The gateway settings for a request whose hook failed: the handler's
 * `handleError()` is not called (the handler is what failed), and the error
 * is logged as `Error in <hook> for <request line>: <stack>`.
 */
export function failedHookGateway(base: GatewayOptions, failure: HookFailure, logError: (context: string, error: unknown) => void): GatewayOptions {
  return { debug: base.debug, minimumChunkSize: base.minimumChunkSize, logError: (context, error) => logError(`${failure.hook} for ${context}`, error) };
}

/**
 * A hook's result that may be a Promise the server does not await (an
 * `async logRequest()`): its rejection is logged as `Error in <hook>: ...`
 * rather than left unhandled (which ends the process of a library `serve()`,
 * and under `tsgi serve` is logged without naming the hook).
 */
export function logRejection(result: unknown, hook: string, logError: (context: string, error: unknown) => void): void {
  if (isThenable(result)) {
    Promise.resolve(result).then(undefined, (error: unknown) => logError(hook, error));
  }
}
