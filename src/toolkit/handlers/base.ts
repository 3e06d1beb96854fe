/**
 * wsgiref's `BaseHandler`: runs one TSGI application for one request over
 * streams a subclass provides, plus the helpers it uses
 * (`format_date_time`, the error formatter).
 * @module
 */
import type {
  Application,
  Body,
  Environ,
  ErrorStream,
  FileWrapperFactory,
  InputStream,
  ReadonlyResponseHeaders,
  ResponseHeaders,
  StartResponse,
  WriteCallable,
} from "../../spec.ts";
import { isFileBody } from "../../gateway/file-body.ts";
import { isHopByHopFor } from "../../gateway/hop-by-hop.ts";
import {
  checkHeaders,
  chunkBeforeStartResponseError,
  declaredContentLength,
  excessBodyError,
  isIterableBody,
  isToken,
  noStartResponseError,
  notABodyError,
  shortBodyError,
} from "../../gateway/response-fields.ts";
import { TSGI_VERSION } from "../../spec.ts";
import { Headers } from "../headers.ts";
import { isLatin1, latin1Encode } from "../streams.ts";
import { FileWrapper, fileWrapper, guessScheme } from "../util.ts";
import { readEnviron } from "./environ.ts";
import { errorText } from "../../gateway/error-text.ts";

/** Where a handler writes the response: each `write()` must write all of `data` (or return how many bytes it wrote). */
export interface OutputStream {
  /** Write bytes; may return a Promise (awaited), or a byte count for a partial write (the rest is retried). */
  write(data: Uint8Array): unknown;
  /** Push buffered bytes out (optional). */
  flush?(): unknown;
}

/** A `Headers`-like class for {@link BaseHandler.headersClass}. */
export type HeadersClass = new (headers: ResponseHeaders) => Headers;

/**
 * Format a timestamp as an HTTP date, `"Sun, 06 Nov 1994 08:49:37 GMT"`
 * (wsgiref `format_date_time(timestamp)`; RFC 9110 IMF-fixdate).
 * @param timestamp seconds since the epoch (default: now).
 */
export function formatDateTime(timestamp: number = Date.now() / 1000): string {
  return new Date(timestamp * 1000).toUTCString();
}
/** The environment as read when this module was loaded (wsgiref `BaseHandler.os_environ`). */
const IMPORT_ENVIRON: Readonly<Record<string, string>> = Object.freeze(readEnviron());

const CLIENT_GONE = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_DESTROYED"]);

function isClientGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && CLIENT_GONE.has(code);
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof (v as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === "function";
}

/** No body (RFC 9110 §6.4.1, §15.3.6): 1xx, 204, 205, 304, or any answer to HEAD. */
function bodiless(status: string, method: unknown): boolean {
  return bodilessStatus(status) || statusCode(status) === 205 || method === "HEAD";
}

/** A status whose response has no body and no computed length (RFC 9110 §8.6): 1xx, 204, 304. */
function bodilessStatus(status: string): boolean {
  const code = statusCode(status);
  return code < 200 || code === 204 || code === 304;
}

/** The three-digit code of a status line, e.g. `204` for `"204 No Content"`. */
function statusCode(status: string): number {
  return Number(status.slice(0, 3));
}

/**
 * Format an error for the log, as wsgiref's `log_exception()` prints it with
 * `traceback.print_exception(..., limit)`: its stack (a non-Error:
 * `Uncaught ` and its value) and its `cause` chain (`Caused by: ...`, as
 * Python prints chained exceptions), with at most `limit` stack frames in
 * all (default `null`: all), ending in a newline. Never throws: a value
 * that cannot be turned into text (no prototype, a `toString` or a `Proxy`
 * trap that throws) is shown as `errorText` shows it.
 */
export function formatException(err: unknown, limit: number | null = null): string {
  let text: string;
  if (isError(err)) text = errorText(err);
  // errorText: a plain object's fields (Bun.inspect), String() of other values, or what the value is when reading it throws (a Proxy).
  else text = `Uncaught ${typeof err === "string" ? JSON.stringify(err) : errorText(err)}`;
  if (limit !== null) {
    let frames = 0;
    text = text
      .split("\n")
      .filter((line) => !/^\s+at /.test(line) || frames++ < limit)
      .join("\n");
  }
  return text.endsWith("\n") ? text : text + "\n";
}

/** `value instanceof Error`, `false` for a `Proxy` whose prototype trap throws. */
function isError(value: unknown): boolean {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/**
 * Runs one TSGI application for one request (wsgiref `BaseHandler`): builds
 * the environ, calls the application, sends status, headers and body
 * through {@link _write}/{@link _flush}, closes the body, and turns errors
 * into a 500 response when nothing was sent yet.
 *
 * Subclasses must implement {@link _write}, {@link _flush},
 * {@link getStdin}, {@link getStderr} and {@link addCgiVars}. The public
 * properties are the seed's class attributes: override them in a subclass
 * (as field initializers) or per instance.
 *
 * One instance handles one request; state is reset by {@link close}.
 */
export abstract class BaseHandler {
  // --- configuration (wsgiref class attributes) ---
  /** `tsgi.version` (wsgiref `wsgi_version`). Default `[1, 0]`. */
  tsgiVersion: readonly [number, number] = TSGI_VERSION;
  /** `tsgi.multithread` (wsgiref `wsgi_multithread`). Default `true`. */
  tsgiMultithread = true;
  /** `tsgi.multiprocess` (wsgiref `wsgi_multiprocess`). Default `true`. */
  tsgiMultiprocess = true;
  /** `tsgi.run_once` (wsgiref `wsgi_run_once`). Default `false`; `CGIHandler` sets `true`. */
  tsgiRunOnce = false;
  /**
   * {@link getStdin} ends where the body ends: the environ gets
   * `tsgi.input_terminated: true`. Default `false`; `true` in `CGIHandler`
   * and `IISCGIHandler`, whose stdin stops at `CONTENT_LENGTH`.
   */
  inputTerminated = false;
  /**
   * Whether `_write()` talks straight to the client (an HTTP origin server:
   * a status line is sent) rather than through a CGI-like gateway (a
   * `Status:` header is sent) (wsgiref `origin_server`). Default `true`;
   * `false` in `BaseCGIHandler` and its subclasses.
   */
  originServer = true;
  /** HTTP version of the status line when {@link originServer} (wsgiref `http_version`). Default `"1.0"`. */
  httpVersion = "1.0";
  /**
   * Server name and version, e.g. `"tsgi/0.1"` (wsgiref `server_software`):
   * when {@link originServer}, the default `SERVER_SOFTWARE` and `Server:`
   * header. Ignored by CGI handlers. Default `null`.
   */
  serverSoftware: string | null = null;
  /**
   * Variables copied into every environ first (wsgiref `os_environ`): by
   * default `readEnviron()` as of module load. Treat as read-only.
   * `CGIHandler` and `IISCGIHandler` use `{}` (the request's variables come
   * from the constructor instead).
   */
  osEnviron: Readonly<Record<string, string>> = IMPORT_ENVIRON;
  /** `tsgi.file_wrapper`, or `null` to leave it out (wsgiref `wsgi_file_wrapper`). Default `fileWrapper` (`tsgi/util`). */
  tsgiFileWrapper: FileWrapperFactory | null = fileWrapper;
  /** The class wrapping the application's header list (wsgiref `headers_class`). Default {@link Headers}. */
  headersClass: HeadersClass = Headers;
  /** Most stack frames {@link logException} prints; `null` for all (wsgiref `traceback_limit`). Default `null`. */
  tracebackLimit: number | null = null;
  /** Status of the error response (wsgiref `error_status`). Default `"500 Internal Server Error"`. */
  errorStatus = "500 Internal Server Error";
  /** Headers of the error response (wsgiref `error_headers`); copied per use. Default `[["Content-Type", "text/plain"]]`. */
  errorHeaders: ResponseHeaders = [["Content-Type", "text/plain"]];
  /** Body of the error response (wsgiref `error_body`). Default: "A server error occurred.  Please contact the administrator." */
  errorBody: Uint8Array = latin1Encode("A server error occurred.  Please contact the administrator.");

  // --- per-request state (wsgiref's; don't set these) ---
  /** The status passed to startResponse, or `null`. */
  status: string | null = null;
  /** The application's body, or `null`. */
  result: Body | null = null;
  /** Whether the status and headers were written. */
  headersSent = false;
  /** The response headers (a {@link headersClass} instance), or `null` before startResponse. */
  headers: Headers | null = null;
  /** Body bytes written so far. */
  bytesSent = 0;
  /** The request environ built by {@link setupEnviron}, or `null` outside a request. */
  environ: Environ | null = null;

  /** `startResponse` bound to this handler, as passed to the application. */
  protected readonly boundStartResponse: StartResponse = (status, headers, excInfo) =>
    this.startResponse(status, headers, excInfo);
  /** `write` bound to this handler, as returned by {@link startResponse}. */
  protected readonly boundWrite: WriteCallable = (data) => this.write(data);

  /**
   * Run `application` for the current request (wsgiref `run(app)`):
   * {@link setupEnviron}, call the application (awaiting a Promise result),
   * {@link finishResponse}. A client disconnect (an error with `code`
   * EPIPE, ECONNRESET, ECONNABORTED or ERR_STREAM_DESTROYED) ends it
   * quietly; any other error goes to {@link handleError}.
   *
   * @returns a Promise resolved when the response was written and closed.
   * @throws (rejects with) the error {@link handleError} throws, after the
   *   handler was closed.
   */
  async run(application: Application): Promise<void> {
    try {
      this.setupEnviron();
      this.result = await application(this.environ!, this.boundStartResponse);
      await this.finishResponse();
    } catch (err) {
      if (isClientGone(err)) return;
      try {
        await this.handleError(err);
      } catch (err2) {
        await this.close();
        throw err2;
      }
    }
  }

  /**
   * Build {@link environ} for the request (wsgiref `setup_environ()`): a copy
   * of {@link osEnviron}, then {@link addCgiVars}, then the `tsgi.*` keys
   * (`input` from {@link getStdin}, `errors` from {@link getStderr},
   * `version`, `run_once`, `url_scheme` from {@link getScheme},
   * `multithread`, `multiprocess`, `file_wrapper` unless `null`), and
   * `SERVER_SOFTWARE` from {@link serverSoftware} when an origin server
   * and not already set.
   */
  setupEnviron(): void {
    this.responseEnded = false;
    const env = { ...this.osEnviron } as unknown as Environ;
    this.environ = env;
    this.addCgiVars();
    env["tsgi.input"] = this.getStdin();
    if (this.inputTerminated) env["tsgi.input_terminated"] = true;
    env["tsgi.errors"] = this.getStderr();
    env["tsgi.version"] = this.tsgiVersion;
    env["tsgi.run_once"] = this.tsgiRunOnce;
    env["tsgi.url_scheme"] = this.getScheme();
    env["tsgi.multithread"] = this.tsgiMultithread;
    env["tsgi.multiprocess"] = this.tsgiMultiprocess;
    if (this.tsgiFileWrapper !== null) env["tsgi.file_wrapper"] = this.tsgiFileWrapper;
    if (this.originServer && this.serverSoftware && !("SERVER_SOFTWARE" in env)) {
      env.SERVER_SOFTWARE = this.serverSoftware;
    }
  }

  /**
   * Send the body, then close (wsgiref `finish_response()`): unless
   * {@link resultIsFile} and {@link sendfile} sent it, write every chunk
   * (with `for await` when the body has `[Symbol.asyncIterator]`, else
   * synchronously;
   * empty chunks are skipped, so headers wait for the first non-empty chunk
   * as PEP 3333 requires), then {@link finishContent}, then {@link close}.
   * On error the body's `close()` is called and the error rethrown (the
   * handler state is kept for {@link handleError}).
   * @throws TypeError when the result is not an iterable body (a string
   *   included) or a chunk is not a Uint8Array.
   * @throws Error, with the tsgi server's message, when the body has a
   *   non-empty chunk or ends and startResponse was never called.
   */
  async finishResponse(): Promise<void> {
    try {
      if (!this.resultIsFile() || !(await this.sendfile())) {
        const result = this.result;
        if (!isIterableBody(result)) throw notABodyError(result);
        // spec.md "The body" rule 1: an async iterator, when there is one, is the one to use.
        if (isAsyncIterable(result)) {
          for await (const data of result) await this.writeChunk(data);
        } else {
          for (const data of result as Iterable<unknown>) await this.writeChunk(data);
        }
        await this.finishContent();
      }
    } catch (err) {
      const c = (this.result as { close?: () => unknown } | null)?.close;
      if (typeof c === "function") await c.call(this.result);
      throw err;
    }
    await this.close();
  }

  private async writeChunk(data: unknown): Promise<void> {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`The response body yielded a ${data === null ? "null" : typeof data}; chunks must be Uint8Array`);
    }
    if (data.length === 0) return;
    // The server's error (gateway/run.ts), not write()'s: the app never called write().
    if (!this.status) throw Array.isArray(this.result) ? noStartResponseError() : chunkBeforeStartResponseError();
    await this.write(data);
  }

  /** The URL scheme of the request (wsgiref `get_scheme()`): `guessScheme()` (`tsgi/util`) of the environ. */
  getScheme(): "http" | "https" {
    return guessScheme(this.environ ?? {});
  }

  /**
   * Set Content-Length when the body's length is known (wsgiref
   * `set_content_length()`): when {@link result} is an array whose chunks are
   * all Uint8Array, their total (wsgiref covers only a one-element body,
   * using the bytes written; that case gives the same value). Not a total of
   * 0 for a 1xx, 204 or 304 status or a HEAD request (wsgiref sends `0`).
   */
  setContentLength(): void {
    const r = this.result;
    if (Array.isArray(r) && r.every((c) => c instanceof Uint8Array)) {
      const total = r.length === 1 ? this.bytesSent : r.reduce((n, c: Uint8Array) => n + c.length, 0);
      // A 1xx/204/304 has no length (whatever body the app gave), and an empty answer to HEAD may not be GET's (spec.md "Other HTTP features").
      if (bodilessStatus(this.status ?? "") || (total === 0 && this.environ?.REQUEST_METHOD === "HEAD")) return;
      this.headers!.set("Content-Length", String(total));
    }
  }

  /**
   * Add default headers before they are sent (wsgiref `cleanup_headers()`):
   * {@link setContentLength} when the application set no Content-Length.
   */
  cleanupHeaders(): void {
    if (!this.headers!.has("Content-Length")) this.setContentLength();
  }

  /**
   * The `startResponse` callable given to the application (wsgiref
   * `start_response()`, PEP 3333). Stores the status and a
   * {@link headersClass} around `headers`; sends nothing.
   *
   * @returns the `write` callable.
   * @throws the `excInfo` value when given and the headers were already sent.
   * @throws Error "Headers already set!" on a second call without `excInfo`.
   * @throws TypeError when the status is not a string of at least 4
   *   characters, 3 digits (200 to 599) and a space, or holds control or
   *   non-latin-1 characters; when a header is not a pair of strings, its
   *   name is not a token, or it holds control or non-latin-1 characters
   *   (the last three are tsgi's, from spec.md; wsgiref fails later, while
   *   sending). Hop-by-hop headers are not refused here (wsgiref asserts):
   *   they are removed, with a warning, when the headers are sent.
   */
  startResponse(status: string, headers: ReadonlyResponseHeaders, excInfo?: unknown): WriteCallable {
    if (excInfo !== undefined && excInfo !== null) {
      if (this.headersSent) throw excInfo;
    } else if (this.headers !== null) {
      throw new Error("Headers already set!");
    }
    if (typeof status !== "string") throw new TypeError(`Status must be a string (got ${typeof status})`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(status)) throw new TypeError("Control characters are not allowed in status");
    if (status.length < 4) throw new TypeError("Status must be at least 4 characters");
    if (!/^\d\d\d/.test(status)) throw new TypeError("Status message must begin w/3-digit code");
    if (status[3] !== " ") throw new TypeError("Status message must have a space after code");
    // What spec.md refuses at startResponse (wsgiref lets these through to fail while sending).
    const code = statusCode(status);
    if (code < 200 || code > 599) throw new TypeError(`Status code must be 200 to 599 (got ${status.slice(0, 3)})`);
    if (!isLatin1(status)) throw new TypeError("Status must be latin-1 (one byte per character)");
    // Wrapped, not copied, so changes the app makes before the first chunk are seen; sendHeaders()
    // copies it before adding anything, so the app's (perhaps constant) list is never modified.
    const wrapped = new this.headersClass(headers as ResponseHeaders);
    for (const [name, value] of headers) {
      if (!isToken(name)) throw new TypeError(`Header name must be a token (RFC 9110 §5.1): ${JSON.stringify(name)}`);
      if (!isLatin1(value)) throw new TypeError(`Header value must be latin-1 (one byte per character): ${name}: ${JSON.stringify(value)}`);
    }
    this.status = status;
    this.headers = wrapped;
    return this.boundWrite;
  }

  /**
   * Write the status line, `Date` and `Server` (origin server), or the CGI
   * `Status:` header (wsgiref `send_preamble()`). An origin server writes
   * `HTTP/{httpVersion} {status}`, then `Date:` unless the application set
   * one, then `Server:` when {@link serverSoftware} is set and the
   * application set none; only for a modern client (not HTTP/0.9).
   */
  async sendPreamble(): Promise<void> {
    if (this.originServer) {
      if (this.clientIsModern()) {
        await this._write(latin1Encode(`HTTP/${this.httpVersion} ${this.status}\r\n`));
        if (!this.headers!.has("Date")) await this._write(latin1Encode(`Date: ${formatDateTime()}\r\n`));
        if (this.serverSoftware && !this.headers!.has("Server")) {
          await this._write(latin1Encode(`Server: ${this.serverSoftware}\r\n`));
        }
      }
    } else {
      await this._write(latin1Encode(`Status: ${this.status}\r\n`));
    }
  }

  /** Set when {@link close} begins: a later write() (an app's task still running) rejects, naming the cause. */
  private responseEnded = false;

  /** The last write() in progress: each write starts when the one before it ended. */
  private writeChain: Promise<void> = Promise.resolve();

  /**
   * The `write` callable (wsgiref `write()`, PEP 3333): sends the headers
   * first if not sent yet, then `data`, then flushes. Calls are carried out
   * in order, each after the one before it, even when the app does not
   * await them. `data`'s bytes are taken (copied) before `write` returns, so
   * the app may refill the same buffer at once, awaited or not (spec.md "The
   * write() callable"): the write itself runs later, after earlier ones.
   * @throws TypeError (rejects) when `data` is not a Uint8Array.
   * @throws Error (rejects) when called before startResponse, or after the
   *   response ended ({@link close} began, also while it waits for earlier writes; the tsgi server's message).
   */
  async write(data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new TypeError("write() argument must be a Uint8Array");
    if (this.responseEnded) throw new Error("write() was called after the response ended");
    if (!this.status) throw new Error("write() before startResponse()");
    // Copied now: the chained write runs a microtask later at the earliest, after the app went on.
    const bytes = new Uint8Array(data);
    const next = this.writeChain.then(() => this.writeInOrder(bytes));
    this.writeChain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /** Body bytes the response may still carry: `-1` no limit; 0 after a declared length is reached or for a response without a body. */
  private bodyAllowance = -1;
  private excessLogged = false;

  private async writeInOrder(data: Uint8Array): Promise<void> {
    if (!this.headersSent) {
      this.bytesSent = data.length; // so a one-chunk body gets its Content-Length
      await this.sendHeaders();
      this.bodyAllowance = this.declaredBodyLength();
    } else {
      this.bytesSent += data.length;
    }
    // spec.md "Handling the Content-Length header": never more than declared
    // (the excess is logged), and no body at all for HEAD, 1xx, 204, 205 or 304.
    let out = data;
    if (this.bodyAllowance >= 0 && data.length > this.bodyAllowance) {
      // A file wrapper with a shorter Content-Length sends that prefix of the file (spec.md): no error.
      if (!bodiless(this.status!, this.environ?.REQUEST_METHOD) && !this.excessLogged && !this.resultIsFileBody()) {
        this.excessLogged = true;
        const stderr = this.getStderr();
        stderr.write(`${excessBodyError().message} (Content-Length: ${this.headers!.get("Content-Length")})\n`);
        stderr.flush();
      }
      out = data.subarray(0, this.bodyAllowance);
    }
    if (this.bodyAllowance >= 0) this.bodyAllowance = Math.max(0, this.bodyAllowance - data.length);
    if (out.length === 0) return;
    await this._write(out);
    await this._flush();
  }

  /** The body is a file wrapper (the server's or the toolkit's, over a Blob or a file-like object, possibly behind the validator). */
  private resultIsFileBody(): boolean {
    const r = this.result;
    return r instanceof FileWrapper || (r !== null && typeof r === "object" && isFileBody(r));
  }

  /** The body bytes the sent headers allow: 0 without a body, the Content-Length when declared, else -1. */
  private declaredBodyLength(): number {
    if (bodiless(this.status!, this.environ?.REQUEST_METHOD)) return 0;
    try {
      return declaredContentLength(this.headers!.items());
    } catch {
      return -1; // not a length (a subclass sent it unchecked): nothing to hold the body to
    }
  }

  /**
   * Send the file natively (wsgiref `sendfile()`); called when
   * {@link resultIsFile}. Return `true` when it sent the whole body (then it
   * must have called {@link sendHeaders}); the default returns `false`
   * (normal iteration).
   */
  sendfile(): boolean | Promise<boolean> {
    return false;
  }

  /**
   * Make sure headers went out even for an empty body (wsgiref
   * `finish_content()`): if not sent, default Content-Length to `"0"` and
   * send them. No default for a 1xx, 204 or 304 status or a HEAD request
   * (RFC 9110 §8.6: a HEAD answer may omit the length but not give a wrong
   * one; wsgiref sends `0`), but a HEAD whose body is a file wrapper
   * returned as it is (an empty file: its size for GET too) gets it. A body shorter than its Content-Length is
   * reported on `getStderr()` (wsgiref says nothing).
   * @throws Error, the tsgi server's, when the application never called startResponse.
   */
  async finishContent(): Promise<void> {
    await this.writeChain; // write() calls the app did not await
    if (!this.status) throw noStartResponseError();
    if (!this.headersSent) {
      // A file wrapper returned as it is that gave nothing is an empty file, for GET and HEAD alike: its
      // HEAD keeps GET's `Content-Length: 0` (spec.md "Other HTTP features"), where an empty array may be an app skipping the body.
      const emptyFile = this.environ?.REQUEST_METHOD === "HEAD" && !bodiless(this.status!, "GET") && this.resultIsFileBody();
      if (!bodiless(this.status!, this.environ?.REQUEST_METHOD) || emptyFile) this.headers!.setdefault("Content-Length", "0");
      await this.sendHeaders();
      this.bodyAllowance = this.declaredBodyLength();
    }
    if (this.bodyAllowance > 0) this.logShortBody();
  }

  /**
   * Report a body that ended short of its Content-Length on `getStderr()`
   * (PEP 3333 "Handling the Content-Length Header": the server should "log
   * or otherwise report the error"), in the tsgi server's words. The client
   * sees the response end early: a handler cannot pad it.
   */
  private logShortBody(): void {
    const stderr = this.getStderr();
    stderr.write(`${shortBodyError(this.bodyAllowance, "the response is truncated").message} (Content-Length: ${this.headers!.get("Content-Length")})\n`);
    stderr.flush();
  }

  /**
   * Close the body (its `close()`, awaited) and reset the per-request state
   * (wsgiref `close()`). Subclasses may also drop the connection.
   */
  async close(): Promise<void> {
    // Ended first: a write() the app makes while this waits for its earlier ones would be chained
    // behind them and go out after the response's end (or into the next response's state).
    this.responseEnded = true;
    await this.writeChain; // write() calls the app did not await
    try {
      const c = (this.result as { close?: () => unknown } | null)?.close;
      if (typeof c === "function") await c.call(this.result);
    } catch (error) {
      // spec.md: an error from close() is logged; the response is complete by
      // now, and must not be followed by an error page (wsgiref would send one).
      this.logException(error);
    } finally {
      this.result = null;
      this.headers = null;
      this.status = null;
      this.environ = null;
      this.bytesSent = 0;
      this.headersSent = false;
      this.bodyAllowance = -1;
      this.excessLogged = false;
    }
  }

  /**
   * Write the preamble and headers (wsgiref `send_headers()`): repeated
   * `Content-Length` fields as one (their values agree, else the app's error
   * was a 500), the 204/205
   * `Content-Length` rule, {@link cleanupHeaders}, mark them sent, then — for
   * a CGI-like gateway or a modern client — {@link sendPreamble} and the
   * header block.
   */
  async sendHeaders(): Promise<void> {
    this.checkHeadersAgain();
    // spec.md: the server copies the list as it sends it and adds its own fields
    // to the copy, never to the app's list (wsgiref adds Content-Length to it).
    this.headers = new this.headersClass(oneContentLength(this.headers!.items()));
    this.dropHopByHop();
    this.noContentLength();
    this.cleanupHeaders();
    this.headersSent = true;
    if (!this.originServer || this.clientIsModern()) {
      await this.sendPreamble();
      await this._write(this.headers!.toBytes());
    }
  }

  /**
   * spec.md "The start_response() callable": the list is checked again as it
   * is serialised, since the app may change it after `startResponse`
   * (malformed values never reach the wire), and its `Content-Length`
   * fields must be one decimal value. wsgiref checks neither.
   * @throws TypeError, an application error: nothing was sent yet, so it is answered 500.
   */
  private checkHeadersAgain(): void {
    const list = this.headers!.items();
    checkHeaders(list);
    declaredContentLength(list);
  }

  /**
   * Remove hop-by-hop fields from the headers about to be sent, with a
   * warning on `getStderr()`: spec.md has the server remove them rather than
   * fail the response (wsgiref raises at `start_response`). The fields are
   * the tsgi server's: `Connection`, `Keep-Alive`, `Transfer-Encoding`,
   * `TE`, `Upgrade`, `Trailer`, `Trailers`, `Proxy-Connection` and
   * `Proxy-Authorization` (not `Proxy-Authenticate`, which a 407 needs),
   * and `Upgrade` stays on a 426 (RFC 9110 §15.5.22), as the server
   * keeps it; an origin server then sends `Connection: Upgrade` with it
   * (RFC 9110 §7.8), a CGI-like gateway leaves that field to its web
   * server. `isHopByHop` in `tsgi/util` stays wsgiref's list.
   */
  private dropHopByHop(): void {
    const code = statusCode(this.status!);
    for (const [name, value] of this.headers!.items()) {
      if (!isHopByHopFor(name, code)) continue;
      this.headers!.delete(name);
      const stderr = this.getStderr();
      stderr.write(`Hop-by-hop header '${name}: ${value}' removed: framing and connection management are the server's (spec.md)\n`);
      stderr.flush();
    }
    if (code === 426 && this.originServer && this.headers!.has("Upgrade")) this.headers!.set("Connection", "Upgrade");
  }

  /**
   * The `Content-Length` of a response without content, as the tsgi server
   * sends it (spec.md "Other HTTP features"), whatever the application set:
   * none on a 204 (RFC 9110 §8.6: a 204 never carries one), `0` on a 205
   * (RFC 9110 §15.3.6: no content, its end made explicit). wsgiref sends the
   * application's, and a 205's body.
   */
  private noContentLength(): void {
    const code = statusCode(this.status!);
    if (code === 204) this.headers!.delete("Content-Length");
    else if (code === 205) this.headers!.set("Content-Length", "0");
  }

  /** Whether {@link result} is a `FileWrapper` (`tsgi/util`) and file wrapping is enabled (wsgiref `result_is_file()`). */
  resultIsFile(): boolean {
    return this.tsgiFileWrapper !== null && this.result instanceof FileWrapper;
  }

  /** Whether the client understands status and headers: `SERVER_PROTOCOL` is not HTTP/0.9 (wsgiref `client_is_modern()`). */
  clientIsModern(): boolean {
    return String(this.environ?.SERVER_PROTOCOL ?? "").toUpperCase() !== "HTTP/0.9";
  }

  /**
   * Log an error (wsgiref `log_exception(exc_info)`): its stack, limited to
   * {@link tracebackLimit} frames, to {@link getStderr}, then flush.
   */
  logException(error: unknown): void {
    const stderr = this.getStderr();
    stderr.write(formatException(error, this.tracebackLimit));
    stderr.flush();
  }

  /**
   * Handle an error from the application or the response (wsgiref
   * `handle_error()`): {@link logException}, then, if no headers were sent,
   * send {@link errorOutput}'s response. After headers went out nothing
   * more can be done.
   */
  async handleError(error: unknown): Promise<void> {
    this.logException(error);
    if (!this.headersSent) {
      this.result = await this.errorOutput(this.environ!, this.boundStartResponse, error);
      await this.finishResponse();
    }
  }

  /**
   * The error page, as a TSGI application (wsgiref `error_output(environ,
   * start_response)`): calls `startResponse(errorStatus, copy of
   * errorHeaders, error)` (so it replaces any headers the application set)
   * and returns `[errorBody]`. Override to produce a richer page; don't
   * show diagnostics to any client by default.
   */
  errorOutput(_environ: Environ, startResponse: StartResponse, error?: unknown): Body | Promise<Body> {
    startResponse(
      this.errorStatus,
      this.errorHeaders.map(([k, v]) => [k, v]),
      error ?? new Error("unknown error"),
    );
    return [this.errorBody];
  }

  // --- must be implemented (wsgiref's abstract methods) ---

  /** Buffer or send `data` to the client (wsgiref `_write(data)`). */
  abstract _write(data: Uint8Array): void | Promise<void>;
  /** Push buffered output to the client; may be a no-op (wsgiref `_flush()`). */
  abstract _flush(): void | Promise<void>;
  /** The request body stream for `tsgi.input` (wsgiref `get_stdin()`). */
  abstract getStdin(): InputStream;
  /** The error stream for `tsgi.errors` (wsgiref `get_stderr()`). */
  abstract getStderr(): ErrorStream;
  /** Put the request's CGI variables into {@link environ} (wsgiref `add_cgi_vars()`). */
  abstract addCgiVars(): void;
}

/**
 * `list` without the repeats of its first `Content-Length` field (the values
 * agree: `checkHeadersAgain` refused any other list). One field goes out, as
 * from the tsgi server and the fetch bridge: RFC 9110 §8.6 has a sender send
 * one, and strict recipients refuse repeats even when they agree (Node's
 * llhttp refuses the response: "Duplicate Content-Length").
 * wsgiref sends the list as the app gave it.
 */
function oneContentLength(list: ResponseHeaders): ResponseHeaders {
  let seen = false;
  return list.filter(([name]) => {
    if (name.length !== 14 || name.toLowerCase() !== "content-length") return true;
    if (seen) return false;
    seen = true;
    return true;
  });
}
