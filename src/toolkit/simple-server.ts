/**
 * `tsgi/simple-server`: wsgiref.simple_server in TSGI terms. A server that
 * serves one application and, like the seed, answers requests only while
 * `serveForever()` or `handleRequest()` is running: requests that arrive at
 * other times wait for it.
 *
 * ```ts
 * import { makeServer, demoApp } from "tsgi/simple-server";
 * await using httpd = makeServer("127.0.0.1", 8000, demoApp);
 * console.log(`Serving HTTP on port ${httpd.port}...`);
 * await httpd.handleRequest(); // serve one request, then return
 * ```
 * @module
 */
// Built on the server's public API, as wsgiref.simple_server is on http.server.
import { createServer, RequestHandler, resolveOptions, type AccessLogFields, type LogTarget, type RequestHandlerClass, type ServerOptions, type TsgiServer } from "../server/index.ts";
import { WANTS_SIGNAL, wantsSignal } from "../gateway/signal.ts";
import type { Application, Environ } from "../spec.ts";

/**
 * wsgiref `WSGIRequestHandler`: override `getEnviron(environ)` and
 * `getStderr()` in a subclass and pass it as `handlerClass`.
 */
export class SimpleRequestHandler extends RequestHandler {}

/**
 * Options of {@link makeServer} (wsgiref `server_class`, `handler_class`),
 * plus any server option (`hostname` and `port` are its arguments). The
 * defaults are the server's, except the four below, which are wsgiref's.
 */
export interface MakeServerOptions extends Omit<ServerOptions, "hostname" | "port"> {
  /** The server class (wsgiref `server_class`). Default {@link SimpleServer}. */
  serverClass?: (new (host: string, port: number, options?: ServerOptions) => SimpleServer) | undefined;
  /** The handler class (wsgiref `handler_class`). Default {@link SimpleRequestHandler}. */
  handlerClass?: RequestHandlerClass | undefined;
  /**
   * Access log destination (see `ServerOptions.log`); `null` turns it off.
   * Default `process.stderr` here: wsgiref logs every request on stderr.
   */
  log?: LogTarget | undefined;
  /**
   * Access-log format (see `ServerOptions.logFormat`). Default
   * {@link wsgirefLogLine} here, wsgiref's line:
   * `127.0.0.1 - - [23/Nov/2026 19:32:50] "GET /x HTTP/1.1" 200 2494`.
   */
  logFormat?: string | ((fields: AccessLogFields) => string) | undefined;
  /** Prefix the logged client address with `X-Forwarded-For` (see `ServerOptions.logXForwardedFor`). Default false here: wsgiref logs the peer's address. */
  logXForwardedFor?: boolean | undefined;
  /** Time in-flight requests get to finish on `close()`, ms (cheroot `shutdown_timeout`). Default 1000 here. */
  shutdownTimeout?: number | undefined;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/**
 * wsgiref `WSGIRequestHandler`'s access line (http.server's
 * `log_message()`), the simple server's default `logFormat`:
 * `127.0.0.1 - - [23/Nov/2026 19:32:50] "GET /x HTTP/1.1" 200 2494`, with
 * the local time when the line is written and the body bytes sent.
 */
export function wsgirefLogLine(fields: AccessLogFields): string {
  const d = new Date();
  const when = `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${fields.client_ip} - - [${when}] "${fields.request_line}" ${fields.status_code} ${fields.body_length}`;
}

/**
 * wsgiref `WSGIServer`: listens on construction; serves `app` while
 * {@link serveForever} runs, or one request per {@link handleRequest}.
 */
export class SimpleServer {
  /** The underlying tsgi server. */
  readonly server: TsgiServer;
  private app: Application | null = null;
  private permits = 0;
  private forever = false;
  private waiting: Array<() => void> = [];
  private served: Array<() => void> = [];
  private stopForever: (() => void) | null = null;
  /** {@link close} was called: requests still waiting are answered 503, not run. */
  private closing = false;

  /**
   * @param host interface to bind (`""` means 127.0.0.1 here, never all interfaces).
   * @param port TCP port; 0 picks a free one (read {@link port}).
   * @param options further server options (logs, timeouts...). As in
   *   wsgiref, each request is logged on stderr by default, in
   *   `WSGIRequestHandler`'s format ({@link wsgirefLogLine}), with the
   *   peer's address (`logXForwardedFor` is false here); `log: null`
   *   turns it off, `logFormat` changes it. `shutdownTimeout` defaults to
   *   1000 ms here. An option given as `undefined` takes these defaults. `hostname` and `port` in it are ignored. Without
   *   `requestSignal`, `tsgi.signal` is given when the app set now
   *   ({@link setApp}) asks for it (`WANTS_SIGNAL`: a `fromFetchHandler`
   *   app, whose `request.signal` then aborts when the client leaves), as
   *   `createServer()` gives it to that app served directly.
   * @throws Error with `code` EADDRINUSE / EACCES / EADDRNOTAVAIL when the
   *   port cannot be bound (in use, privileged, an address not on this machine).
   * @throws RangeError, TypeError or Error on a bad option, as `createServer()` (a `handlerClass` that is not a class included).
   */
  constructor(host: string, port: number, options: ServerOptions = {}) {
    // The handler class as given, told when each response ended (its
    // logRequest() call, once per response, after the body's close()): that
    // ends a handleRequest(). A request the server rejected itself (a 400
    // for a malformed one, environ null) ends one too.
    const simple = this;
    const base = options.handlerClass ?? SimpleRequestHandler;
    // The class is extended below: checked first, for the server's option error rather than `extends`'s.
    if (options.handlerClass !== undefined) resolveOptions({ handlerClass: base });
    // The server serves the gate, not the app: the gate asks for tsgi.signal when the app set now does
    // (the server asks for each request), or a fromFetchHandler app's request.signal never aborts.
    Object.defineProperty(this.gate, WANTS_SIGNAL, { get: () => wantsSignal(this.app) });
    class Counting extends base {
      override logRequest(fields: AccessLogFields, environ: Environ | null): void {
        if (environ === null) simple.rejected();
        else simple.markServed();
        super.logRequest(fields, environ);
      }
    }
    this.server = createServer(this.gate, {
      log: process.stderr,
      logFormat: wsgirefLogLine,
      // wsgiref logs the peer's address (address_string()), never a client's X-Forwarded-For.
      logXForwardedFor: false,
      shutdownTimeout: 1000,
      // An option given as undefined (`logFormat: process.env.LOG_FORMAT` unset) keeps this default, not the server's.
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
      handlerClass: Counting,
      hostname: host || "127.0.0.1",
      port,
    }).listen();
  }

  /** The bound port. */
  get port(): number {
    return this.server.port;
  }

  /** wsgiref `server_address`: `[host, port]`. */
  get serverAddress(): [string, number] {
    return [this.server.hostname, this.server.port];
  }

  /** wsgiref `set_app()`. */
  setApp(application: Application): void {
    this.app = application;
  }

  /** wsgiref `get_app()`: `null` until {@link setApp}; a request served then is answered 500. */
  getApp(): Application | null {
    return this.app;
  }

  /** Every request passes here: it waits for a permit, then runs the app (its body goes to the server as it is). */
  private readonly gate: Application = async (environ, startResponse) => {
    while (!this.forever && this.permits === 0 && !this.closing) await new Promise<void>((r) => this.waiting.push(r));
    if (this.closing && !this.forever && this.permits === 0) {
      // wsgiref's server_close() drops what was never handled; answer it instead of resetting it.
      startResponse("503 Service Unavailable", [["Content-Type", "text/plain"], ["Connection", "close"]]);
      return [encoder.encode("The server is closing.\n")];
    }
    if (!this.forever) this.permits--;
    const app = this.app;
    if (!app) throw new Error("SimpleServer: no application set; call setApp(app) first");
    return app(environ, startResponse);
  };

  /** A request the server rejected before the app (malformed): it answers a waiting {@link handleRequest}. */
  private rejected(): void {
    if (this.forever || this.permits === 0) return;
    this.permits--;
    this.markServed();
  }

  /** A response ended (normally, by error, or the client left). */
  private markServed(): void {
    const waiter = this.served.shift();
    waiter?.();
  }

  private grant(): void {
    const waiters = this.waiting;
    this.waiting = [];
    for (const w of waiters) w();
  }

  /**
   * wsgiref `handle_request()`: serve exactly one request (the next to
   * arrive, or one already waiting), resolving when its response ended. A
   * malformed request the server answers itself (400) counts as that one.
   */
  handleRequest(): Promise<void> {
    const done = new Promise<void>((resolve) => this.served.push(resolve));
    this.permits++;
    this.grant();
    return done;
  }

  /** wsgiref `serve_forever()`: serve every request until {@link close} (or {@link shutdown}); resolves then. */
  serveForever(): Promise<void> {
    this.forever = true;
    this.grant();
    return new Promise<void>((resolve) => (this.stopForever = resolve));
  }

  /** wsgiref `shutdown()`: make `serveForever()` return; the socket stays bound until {@link close}. */
  shutdown(): void {
    this.forever = false;
    this.stopForever?.();
    this.stopForever = null;
  }

  /**
   * wsgiref `server_close()`: stop serving and release the port. Requests
   * being answered get the `shutdownTimeout` option (default 1000 ms here)
   * to finish, then their connections are cut;
   * requests still waiting for `handleRequest()` or `serveForever()` get
   * `503 Service Unavailable` (wsgiref drops them).
   */
  async close(): Promise<void> {
    this.shutdown();
    this.closing = true;
    this.grant();
    await this.server.close();
  }

  /** {@link SimpleServer.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * wsgiref `make_server(host, port, app, server_class, handler_class)`:
 * create a listening {@link SimpleServer} for `app` on `host` (`""` means
 * 127.0.0.1, never every interface) and `port` (0 picks a free one). As in
 * wsgiref, each request is logged on stderr in `WSGIRequestHandler`'s format
 * unless `options.log` says otherwise; see {@link MakeServerOptions} for the
 * other defaults that differ from the server's.
 * @throws as the {@link SimpleServer} constructor.
 */
export function makeServer(host: string, port: number, app: Application, options: MakeServerOptions = {}): SimpleServer {
  const { serverClass = SimpleServer, handlerClass = SimpleRequestHandler, ...rest } = options;
  const server = new serverClass(host, port, { ...rest, handlerClass });
  server.setApp(app);
  return server;
}

const encoder = new TextEncoder();

/**
 * wsgiref `demo_app`: "Hello world!" and the environ's key/value pairs, one
 * per line, sorted by key, as `text/plain; charset=utf-8`.
 */
export const demoApp: Application = (environ: Environ, startResponse) => {
  let text = "Hello world!\n\n";
  for (const key of Object.keys(environ).sort()) text += `${key} = ${formatValue(environ[key])}\n`;
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [encoder.encode(text)];
};

function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return JSON.stringify(value);
  if (value !== null && typeof value === "object") return `<${(value as object).constructor?.name ?? "object"}>`;
  return String(value);
}
