/**
 * TSGI conformance checker: a port of Python's `wsgiref.validate` (itself
 * from Paste's `paste.lint`); see `docs/toolkit/validate.md`.
 *
 * `validator(app)` returns an application that sits between a server and
 * `app` and checks both sides against TSGI 1.0 (PEP 3333 in TypeScript).
 * A violation throws {@link TsgiConformanceError} at the point where it
 * happens (in the server's call, in the application's `startResponse` /
 * `write` / `tsgi.input` / `tsgi.errors` call, or in the body iteration);
 * questionable but legal behaviour is reported through a warning callback
 * (default: `consola.warn`). Every rule is listed in {@link RULES}.
 *
 * This module is `tsgi/validate`: `validator()` itself, which wraps the
 * call, `startResponse` and `write()`, and the public names of its parts,
 * which live in the `validate/` folder beside it, one per part of
 * wsgiref.validate: the rules and their error (`rules`), `check_environ`
 * (`environ`), `check_status` / `check_headers` (`start-response`), the
 * state of one response and `check_content_type` (`response`),
 * `InputWrapper` (`input`), `ErrorWrapper` (`errors`) and `IteratorWrapper`
 * (`body`).
 *
 * @module
 */
import { keepSignalMark } from "../gateway/signal.ts";
import type {
  Application,
  Body,
  Environ,
  ReadonlyResponseHeaders,
  StartResponse,
  WriteCallable,
} from "../spec.ts";
import { defaultWarn, fail, RULES, SECTIONS, show, TsgiConformanceError, type Rule } from "./validate/rules.ts";
import { checkClosed, wrapBody } from "./validate/body.ts";
import { checkEnviron } from "./validate/environ.ts";
import { wrapErrors } from "./validate/errors.ts";
import { wrapInput } from "./validate/input.ts";
import { checkContentType, countBody, headersDue, type RequestState } from "./validate/response.ts";
import { checkHeaders, checkStatus, warnHeaderWhitespace } from "./validate/start-response.ts";

export { checkClosed, checkEnviron, checkHeaders, checkStatus, RULES, SECTIONS, TsgiConformanceError, type Rule };

/** Options for {@link validator}. */
export interface ValidatorOptions {
  /**
   * Receives each warning (questionable but legal behaviour). Default:
   * `consola.warn` tagged `tsgi:validate`.
   */
  warn?: ((message: string) => void) | undefined;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/**
 * Wrap `application` in a conformance checker (wsgiref
 * `validator(application)`). The returned application forwards every call
 * unchanged except that it checks, and throws {@link TsgiConformanceError}
 * on, every rule in {@link RULES}:
 *
 * - **server side**: the call (two arguments, `startResponse` a function),
 *   the environ (required keys and their types, CGI keys strings, latin-1
 *   request values, `REQUEST_METHOD`, `SCRIPT_NAME`/`PATH_INFO` shape,
 *   `CONTENT_LENGTH`, `SERVER_PROTOCOL`, `tsgi.version`, `tsgi.url_scheme`,
 *   stream shapes, boolean flags, no `HTTP_CONTENT_TYPE`/`HTTP_CONTENT_LENGTH`),
 *   `startResponse` returning `write`, `write` returning a Promise,
 *   `tsgi.input` results (sizes, one line per `readline`, nothing after the
 *   end), iterating the body once, not after `close()`, and calling
 *   `close()` exactly once.
 * - **application side**: `startResponse` arguments (status `NNN Reason`,
 *   header list shape, token names, no `Status` header, no control
 *   characters, no hop-by-hop headers, `Content-Length` a decimal integer
 *   of 1 to 15 digits, as the server takes it, and repeated ones agreeing;
 *   the list checked again when the headers are due, as it may have changed), called once unless with `excInfo`
 *   and before the first non-empty body chunk; `write()` given Uint8Array; the body an
 *   iterable (not a string or bare Uint8Array) of Uint8Array chunks, not
 *   longer than its Content-Length; `tsgi.input` / `tsgi.errors` argument
 *   types, reads that do not overlap, and never closing them.
 *
 * `environ["tsgi.input"]` and `environ["tsgi.errors"]` are replaced, in
 * place, by checking wrappers (as wsgiref does). The returned body is a
 * wrapper: an array stays an array (same length), sync and async iterability
 * are kept as the original has them, a `blob` property is kept, and it always
 * has `close()` (forwarding to the original's). An array body is checked
 * when it is returned (its chunks, startResponse called, its length): a
 * server may send an array by index, never iterating it, as the tsgi server does.
 *
 * Warnings (through `options.warn`, default `consola.warn`): unknown request
 * method, unusual status code, a reason phrase or header value with surrounding whitespace, missing Content-Type on a response with content (or one on a 204 / 304),
 * body bytes in a 204 / 304 response (not in a HEAD answer, which is GET's), a body shorter than
 * its Content-Length, a body returned while `write()` calls were not
 * awaited (`[write-not-awaited]`), and a body garbage-collected without `close()` (use
 * {@link checkClosed} for a deterministic check).
 *
 * @example
 * const app = validator((environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [new TextEncoder().encode("Hello")];
 * });
 */
export function validator(application: Application, options: ValidatorOptions = {}): Application {
  const warn = options.warn ?? defaultWarn;
  return keepSignalMark(validatedApplication, application);
  function validatedApplication(this: unknown, environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    if (arguments.length !== 2) fail("app-args", `The application must be called with two arguments (environ, startResponse), got ${arguments.length}`);
    checkEnviron(environ, warn);
    if (typeof startResponse !== "function") fail("start-response-callable", `startResponse must be a function, got ${show(startResponse)}`);

    const st: RequestState = { environ, warn, started: false, status: 0, headers: null, bodyBytes: 0, warnedBody: false, warnedType: false, fileBody: false, pendingWrites: 0, headersDue: false };

    const checkedStartResponse: StartResponse = function (status: string, headers: ReadonlyResponseHeaders, excInfo?: unknown): WriteCallable {
      if (arguments.length < 2 || arguments.length > 3) {
        fail("start-response-args", `startResponse takes (status, headers[, excInfo]), got ${arguments.length} arguments`);
      }
      const code = checkStatus(status, warn);
      checkHeaders(headers, code);
      warnHeaderWhitespace(headers, warn);
      const hasExc = excInfo !== undefined && excInfo !== null;
      if (st.started && !hasExc) fail("start-response-twice", "startResponse was called a second time without excInfo (a middleware's startResponse that drops excInfo does this to an application that passed it)");
      st.started = true;
      st.status = code;
      st.headers = headers;
      st.headersDue = false;
      checkContentType(st);
      const write = arguments.length === 3 ? startResponse(status, headers, excInfo) : startResponse(status, headers);
      if (typeof write !== "function") fail("server-write-callable", `startResponse must return the write() function, got ${show(write)}`);
      return (data: Uint8Array): Promise<void> => {
        if (!(data instanceof Uint8Array)) fail("write-type", `write() must be given a Uint8Array, got ${show(data)}`);
        if (st.started) headersDue(st); // write() sends the headers, even for an empty chunk
        countBody(st, data.length);
        const p = write(data);
        if (!isThenable(p)) fail("server-write-promise", `write() must return a Promise, got ${show(p)}`);
        st.pendingWrites++;
        const settled = () => void st.pendingWrites--;
        p.then(settled, settled);
        return p;
      };
    };

    environ["tsgi.input"] = wrapInput(environ["tsgi.input"]);
    environ["tsgi.errors"] = wrapErrors(environ["tsgi.errors"]);

    const checkResult = (body: unknown): Body => {
      if (st.pendingWrites > 0) {
        warn(
          `[write-not-awaited] the application returned its body with ${st.pendingWrites} write() call(s) not awaited; it SHOULD await write() before it returns (TSGI 1.0 "The write() callable"): unawaited, it gets no backpressure and its errors go unseen`,
        );
      }
      if (body === undefined || body === null || body === false) {
        fail("app-result", `The application must return a body, if only an empty array (got ${show(body)})`);
      }
      if (typeof body === "string" || body instanceof Uint8Array) {
        fail("app-result-bytes", `The application returned a ${typeof body === "string" ? "string" : "Uint8Array"}; return an array of Uint8Array chunks instead`);
      }
      const b = body as Record<symbol, unknown>;
      if (typeof b[Symbol.iterator] !== "function" && typeof b[Symbol.asyncIterator] !== "function") {
        fail("app-result-iterable", `The application's body must be a sync or async iterable, got ${show(body)}`);
      }
      return wrapBody(body as Body, st);
    };

    const result = application(environ, checkedStartResponse);
    if (isThenable(result)) return Promise.resolve(result).then(checkResult);
    return checkResult(result);
  }
}
