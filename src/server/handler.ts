/**
 * Request handler hooks: the part of gevent's `WSGIHandler` and wsgiref's
 * `WSGIRequestHandler` that applications customise. Pass a subclass as the
 * `handlerClass` server option; one instance is made per client connection.
 *
 * Ported: `get_environ()`, `get_stderr()` (wsgiref), `format_request()`,
 * `log_request()` and `handle_error()` (gevent). The connection loop itself
 * (`handle()`, `handle_one_request()`, `read_requestline()`,
 * `read_request()`, `handle_one_response()`) is tsgi's core and is not a
 * hook: its parser and framing rules are what keep requests from being
 * smuggled.
 * @module
 */
import { describe } from "../gateway/response-fields.ts";
import { requestLineOf } from "../gateway/error-response.ts";
import type { ErrorResponse } from "../gateway/run.ts";
import { isThenable } from "./hooks.ts";
import type { Environ, ErrorStream } from "../spec.ts";
import type { AccessLogFields } from "./options.ts";

/** What a handler can see of its server. */
export interface HandlerServer {
  /** The server's `tsgi.errors` stream (its error log; gevent `WSGIServer.error_log`). */
  readonly errors: ErrorStream;
  /** The bound host (`""` for a Unix socket). */
  readonly hostname: string;
  /** The bound port (0 for a Unix socket). */
  readonly port: number;
  /**
   * Write `Error in ${context}: ${stack}` to the error log (`errorLog`), as
   * the server does for application errors, whatever the error's `code`
   * (`ignoredSocketErrors` filters errors of the client's socket only).
   * gevent `WSGIHandler.log_error`.
   */
  logError(context: string, error: unknown): void;
  /** `fields` as one access-log line in the server's `logFormat` (no newline). */
  formatAccessLine(fields: AccessLogFields): string;
  /**
   * Append one line (no newline) to the access log (`log`). Nothing happens
   * when the access log is off. Lines are written in batches, at most 10 ms
   * after they were added.
   */
  writeAccessLine(line: string): void;
}

/**
 * The default handler: passes the environ through, uses the server's error
 * log and access log, and answers application errors with the standard 500.
 * Override any method in a subclass.
 *
 * ```ts
 * class Tagging extends RequestHandler {
 *   override getEnviron(environ: Environ) {
 *     environ["app.client"] = `${this.clientAddress}:${this.clientPort}`;
 *     return environ;
 *   }
 *   // No access-log line for health checks.
 *   override logRequest(fields: AccessLogFields, environ: Environ | null) {
 *     if (environ?.PATH_INFO !== "/healthz") super.logRequest(fields, environ);
 *   }
 * }
 * serve(app, { handlerClass: Tagging });
 * ```
 */
export class RequestHandler {
  /**
   * @param server the server that accepted the connection.
   * @param clientAddress the client's IP address (`""` when unknown).
   * @param clientPort the client's port (0 when unknown).
   */
  constructor(
    /** The server that accepted the connection (what a handler sees of it). */
    readonly server: HandlerServer,
    /** The client's IP address, as the socket reports it (`""` when unknown, and over a Unix socket). */
    readonly clientAddress: string,
    /** The client's TCP port (0 when unknown, and over a Unix socket). */
    readonly clientPort: number,
  ) {}

  /**
   * The environ for one request (wsgiref `get_environ()`, gevent
   * `get_environ()`). `environ` is what the server built from the request;
   * return it (changed or not) or a new object. Called once per request,
   * synchronously (a Promise is not awaited). What it throws, or a value that
   * is not an object, fails that request with the standard 500, logged as
   * `Error in RequestHandler.getEnviron() for <request line>: <stack>`.
   */
  getEnviron(environ: Environ): Environ {
    return environ;
  }

  /**
   * The `tsgi.errors` stream for this connection's requests (wsgiref
   * `get_stderr()`), called once per request, synchronously. Default: the
   * server's error log. What it throws, or a value without `write`,
   * `writelines` and `flush` methods, fails that request with the standard
   * 500, as {@link getEnviron}'s errors do.
   */
  getStderr(): ErrorStream {
    return this.server.errors;
  }

  /**
   * The access-log line for one request, without a newline (gevent
   * `format_request()`). Default: the server's `logFormat`. `environ` is
   * `null` for a request the server answered before it reached the
   * application (a malformed request, answered 4xx). Called synchronously:
   * a value that is not a string (a Promise) is an error of `logRequest()`.
   */
  formatRequest(fields: AccessLogFields, _environ: Environ | null): string {
    return this.server.formatAccessLine(fields);
  }

  /**
   * Log one answered request (gevent `log_request()`), called once per
   * response after its last byte was queued, including the server's own
   * 4xx/5xx answers (`environ` is `null` for those made before the request
   * reached the application). Default: {@link formatRequest}'s line to the access log when
   * it is on. Override to skip requests or to log them elsewhere; an error
   * it throws, or the rejection of the Promise an `async` one returns (not
   * awaited), is logged to the error log and changes nothing else.
   */
  logRequest(fields: AccessLogFields, environ: Environ | null): void {
    const line: unknown = this.formatRequest(fields, environ);
    if (typeof line !== "string") {
      // An async formatRequest(): this TypeError is what is logged; its rejection is dropped, not left unhandled.
      if (isThenable(line)) Promise.resolve(line).then(undefined, () => {});
      throw new TypeError(`RequestHandler.formatRequest() must return the access-log line as a string, got ${isThenable(line) ? "a Promise: it is called synchronously, not awaited" : describe(line)}`);
    }
    this.server.writeAccessLine(line);
  }

  /**
   * The application failed: it threw, its promise rejected, or its body was
   * not a valid TSGI body (gevent `handle_error()`). Log it and return the
   * response to send, or `null` for the standard `500 Internal Server
   * Error` (its body is the stack when the `debug` option is on). The return
   * value is not used when response headers were already sent: the
   * connection is cut then, so the client sees a truncated response, nor
   * once the client left or the server answered the request itself (a
   * `requestTimeout` 503): the hook is still called for an error the app
   * throws then, and its answer dropped. Not called for what the app only
   * passes on (the `ClientDisconnected` of a client that left, the server's
   * own `requestTimeout` error, see spec.md "Error handling"). If it throws, or returns something
   * that is not a valid response, both errors are logged and the standard
   * 500 is sent. Called synchronously: an `async` one's answer is not
   * waited for (the standard 500 goes out) and its rejection is logged.
   *
   * Default: `Error in GET /path HTTP/1.1: <stack>` (then its `cause` chain) to the error log, and
   * `null`.
   */
  handleError(error: unknown, environ: Environ): ErrorResponse | null {
    this.server.logError(requestLineOf(environ), error);
    return null;
  }
}

/** A {@link RequestHandler} subclass constructor. */
export type RequestHandlerClass = new (server: HandlerServer, clientAddress: string, clientPort: number) => RequestHandler;
