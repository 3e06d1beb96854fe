/**
 * Server options: one typed object, every field optional, each default
 * documented with the seed server it comes from.
 * @module
 */
import { checkExtraEnviron, mountPoint } from "../gateway/environ.ts";
import { shownValue } from "../gateway/error-text.ts";
import { checkServerSoftware } from "../gateway/response-fields.ts";
import type { Environ } from "../spec.ts";
import type { TlsConfig } from "./tls.ts";
import type { RequestHandlerClass } from "./handler.ts";
import { MAX_LISTEN_BACKLOG } from "./sys.ts";

/**
 * A destination for log lines: a writable with `write(string)`, any logger
 * with `info`/`error` methods (a consola instance, gevent's
 * `LoggingLogAdapter` role), or `null` to disable.
 */
export type LogTarget =
  | { write(line: string): unknown }
  | { info(message: string): unknown; error(message: string, ...rest: unknown[]): unknown }
  | null;

/** The fields an access-log line can use (eventlet's `log_format` names). */
export interface AccessLogFields {
  /** The client address (with `X-Forwarded-For` prepended when `logXForwardedFor`). */
  client_ip: string;
  /** The client's TCP port (the peer's, as `REMOTE_PORT`; eventlet's `client_port`); 0 over a Unix socket. */
  client_port: number;
  /** When the line was logged (the response ended), common log format in UTC without the brackets: `23/Nov/2026:09:00:00 +0000`. */
  date_time: string;
  /**
   * The request line as received, e.g. `GET /x HTTP/1.1`, with `"` and `\`
   * written `\x22` and `\x5C` (nginx); for a request the server rejected
   * before the app saw it, `- (rejected: <reason>)`; for a connection
   * refused over `maxConnections`, `- (refused: maxConnections reached)`.
   */
  request_line: string;
  /** The response status code. */
  status_code: number;
  /**
   * Body bytes sent (not counting headers), also for the server's own error
   * responses: the common log format's size, as wsgiref's line. gevent and
   * eventlet count every byte they wrote, the status line, header section and
   * chunk-size lines included.
   */
  body_length: number;
  /** Wall-clock seconds from head parsed to response sent. */
  wall_seconds: number;
}

/** Server options. All are optional; defaults are in {@link DEFAULT_SERVER_OPTIONS}. */
export interface ServerOptions {
  /**
   * Interface to bind. Default `"127.0.0.1"` (never all interfaces unless
   * asked: `"0.0.0.0"`, or `"::"` for IPv6 too). `""` is taken as the
   * default, as `makeServer("")` and `tsgi serve --host ""` take it (the
   * seeds' `''` means every interface).
   * Anything but a string (or `undefined`) is a TypeError from `createServer()`/`serve()`.
   */
  hostname?: string | undefined;
  /**
   * TCP port, 0 to 65535; 0 picks a free one (read it back from `server.port`). Default 8000.
   * Anything else is a RangeError from `createServer()`/`serve()`.
   */
  port?: number | undefined;
  /** Linux `SO_REUSEPORT`, for several processes on one port. Default false. */
  reusePort?: boolean | undefined;
  /**
   * The listen backlog, in connections: how many connections the kernel
   * holds, handshake done, for the server to accept (`listen(2)`; gevent
   * `backlog`, eventlet `listen(addr, backlog)`, cheroot
   * `request_queue_size`). A connection past it waits for the client to
   * retry its SYN (TCP), or is refused with `EAGAIN` (a Unix socket). Set on
   * the socket the server binds (TCP, `unix`) and on an inherited one (`fd`,
   * where it replaces the backlog the socket had, e.g. a systemd socket
   * unit's `Backlog=`), right after `Bun.listen`, by calling `listen()` on
   * the socket again (Bun takes no backlog). The kernel caps it at
   * `net.core.somaxconn` (4096 by default since Linux 5.4); above it the
   * server writes a warning naming the value in force to the error log at
   * `listen()`. `ss
   * -ltn` (`ss -lxn` for a Unix socket) shows the one in force as Send-Q.
   * 0 to 2147483647 (a C `int`); 0 lets one connection wait. Linux only:
   * elsewhere (or when `bun:ffi` cannot open the C library) the server
   * serves with Bun's and writes a warning to the error log at `listen()`.
   * Default: Bun's, 512 on a socket the server binds, 511 on an inherited
   * one (Bun listens on it again).
   * @throws RangeError (from `createServer()`/`serve()`) for anything but an integer from 0 to 2147483647.
   */
  backlog?: number | undefined;
  /**
   * Extra keys merged into every request's environ (eventlet/gevent
   * `environ`). As in gevent they replace the server-level keys
   * (`SERVER_SOFTWARE`, `SERVER_NAME`, `SERVER_PORT`, `GATEWAY_INTERFACE`,
   * `tsgi.version`, `tsgi.errors`, `tsgi.multithread`, `tsgi.multiprocess`,
   * `tsgi.run_once`, `tsgi.file_wrapper`) and add new ones; the request's own
   * keys (method, path, fields, `tsgi.input`, `tsgi.posthooks`, ...) are
   * never replaced. `tsgi.url_scheme` in it is the server's scheme, as
   * {@link urlScheme} (gevent and eventlet let their `environ` replace
   * `wsgi.url_scheme`, the idiom behind a TLS-terminating proxy). Their strings (keys without a `.`) are latin-1, as every
   * environ string (spec.md; give text as its UTF-8 bytes). The object is
   * read at each request, not copied at the start (gevent copies its
   * `environ` dict per request), with TLS too: a key changed later shows in
   * the requests after it (it is checked at the start only). Default none.
   * @throws RangeError (from `createServer()`/`serve()`) for a string above U+00FF under a key without a `.`.
   * @throws TypeError for a `tsgi.url_scheme` other than `"http"` and `"https"`, or one that differs from `urlScheme`.
   */
  environ?: Record<string, unknown> | undefined;
  /**
   * `SERVER_SOFTWARE`, and the `Server` field added to responses that have
   * none (also the server's own 4xx/5xx). `""` sends no `Server` field.
   * Default `"tsgi/<version>"`.
   * @throws RangeError (from `createServer()`/`serve()`) for a value that is not a valid field value:
   *   CR, LF or other control chars, chars above U+00FF, leading or trailing whitespace.
   */
  serverSoftware?: string | undefined;
  /**
   * `SERVER_NAME` value (cheroot `server_name`), not `""` (a `TypeError`). Default: the bound host; the
   * machine's host name for a wildcard bind (`0.0.0.0`, `::`) and for a Unix
   * socket (uWSGI's http-socket; PEP 3333 wants it non-empty; `localhost`
   * when the machine's host name is empty), where
   * `SERVER_PORT` is then the scheme's default port, 80 or 443.
   */
  serverName?: string | undefined;
  /** Send tracebacks in 500 bodies (eventlet `debug`). Default false. */
  debug?: boolean | undefined;
  /**
   * Keep connections alive between requests (eventlet `keepalive`). Default true.
   * A number is as eventlet takes it since its PR #788 (2023): 0 is false; any other is
   * true and the idle time between requests in **seconds**, fractions allowed
   * (`keepalive: 2.5` holds an idle connection 2.5 s), which sets
   * `keepAliveTimeout` when that is not given itself, to the nearest ms and
   * at least 1 ms (`0.0004` is 1 ms, not off; {@link secondsToMs}).
   * @throws TypeError (from `createServer()`/`serve()`) for anything else, a string such as `"false"` included.
   * @throws RangeError for a negative, `NaN` or infinite number.
   */
  keepalive?: boolean | number | undefined;
  /** Highest version answered; `"HTTP/1.0"` answers every request in HTTP/1.0, without chunked coding, and closes the connection after each response (eventlet `max_http_version`); an HTTP/1.1 client that sends `Expect: 100-continue` still gets `HTTP/1.1 100 Continue` at the app's first read (unless bytes of the body came first), as from gevent and eventlet (RFC 9110 §15.2 bars 1xx only to HTTP/1.0 clients). Default `"HTTP/1.1"`. */
  maxHttpVersion?: "HTTP/1.0" | "HTTP/1.1" | undefined;
  /**
   * Longest request-target in bytes, its query included; longer → 414
   * (eventlet `url_length_limit`, which bounds the whole request line with
   * its CRLF instead: a line of that many bytes or more is 414). At least 1.
   * Default 8192.
   */
  urlLengthLimit?: number | undefined;
  /** Largest request header section in bytes → 431 beyond. At least 1. Default 65536. */
  maxHeaderBytes?: number | undefined;
  /** Most request header fields → 431 beyond. At least 1. Default 100. */
  maxHeaderCount?: number | undefined;
  /**
   * Largest chunk-ext on one chunk-size line of a chunked request body, in
   * bytes (everything between the chunk-size digits and the CR; RFC 9112
   * §7.1.1); over it → 400. The extensions are ignored either way. 0 refuses
   * any. Default 4096.
   */
  maxChunkExtBytes?: number | undefined;
  /**
   * Largest trailer section of a chunked request body, in bytes (field lines
   * and the final empty line, CRLFs included; RFC 9112 §7.1.2); over it →
   * 400. Trailer fields are dropped, never merged into the environ (gevent
   * 23.9). At least 2 (the empty line). Default 16384.
   */
  maxTrailerBytes?: number | undefined;
  /**
   * Largest request body in bytes (cheroot `max_request_body_size`, Bun.serve
   * `maxRequestBodySize`). A `Content-Length` over it is answered
   * `413 Content Too Large` before the app runs (no `100 Continue` is sent).
   * A chunked body that grows past it makes the app's `tsgi.input` read
   * reject (an `HttpError`, status 413) and is answered 413, or, when the
   * response has begun, the response ends as the app ends it. Either way
   * the connection closes (RFC 9110 §15.5.14). 0 means no limit. Default 0.
   */
  maxRequestBodySize?: number | undefined;
  /**
   * Most open client connections. At the limit, a new connection takes the
   * place of the keep-alive connection idle the longest (between requests,
   * its last response written), which is closed as its keep-alive timeout
   * would close it (nginx reuses idle connections so): a lingering close,
   * FIN first, so a request its client sent just then is dropped, not
   * reset, and not counted while it lingers (up to 16 at a time, past
   * which one is closed at once), with one warning in the error log each
   * time the limit is reached; when none is idle, the new one is answered 503 and
   * closed before any request is read, logged in the access log as
   * `- (refused: maxConnections reached)`, with one warning in the error log
   * each time the limit is reached (eventlet `max_size`, which stops
   * accepting instead; cheroot's `max` caps its worker threads, the requests
   * served at once, and queues the rest). Each of the two warnings is written at most
   * once a second, as nginx's (clients coming and going at the limit
   * reach it again with each close). At least 1. Default 10000. Lowered at `listen()`,
   * with a warning, when the open-file limit cannot hold that many
   * descriptors (Linux: `/proc/self/limits`).
   */
  maxConnections?: number | undefined;
  /**
   * Time allowed for a request head to arrive, ms (slowloris). Past it a
   * started head is answered 408; a connection that sent nothing is closed.
   * 0 disables it. Default 30000.
   */
  headerTimeout?: number | undefined;
  /** Idle keep-alive connection lifetime between requests, ms. 0 disables it. Default 5000. */
  keepAliveTimeout?: number | undefined;
  /**
   * Longest wait for more request-body bytes while the app reads, ms
   * (eventlet `socket_timeout`). Past it the read rejects with an
   * `HttpError` (status 408), answered 408 if nothing was sent yet, and the
   * connection closes. Only body bytes end the wait: those of a chunked
   * body's framing (chunk-size lines, chunk extensions, the trailer
   * section), trickled, do not. It is also the wait between the bytes of a body
   * answered before its end, or refused with 413: drained after the
   * response, or read and dropped by the lingering close (at most 30 s in
   * all). 0 disables it.
   * Default 60000.
   */
  bodyTimeout?: number | undefined;
  /**
   * Longest time the client may take no response bytes while some are
   * waiting to be sent, ms (nginx `send_timeout`; eventlet `socket_timeout`
   * and cheroot `timeout` cover sends too). The clock restarts whenever the
   * socket takes bytes, so a slow reader that keeps reading is never cut.
   * Past it the request is abandoned (the body's `close()` is called), the
   * connection is closed and an error is logged. 0 disables it. Default 60000.
   */
  sendTimeout?: number | undefined;
  /**
   * Longest time from a request head to the end of its response, ms; past it
   * the request is abandoned (the body's `close()` is called), logged, and
   * answered 503 if nothing was sent yet, else the connection is cut.
   * 0 disables it. Default 0.
   */
  requestTimeout?: number | undefined;
  /** Time in-flight requests get to finish on `close()`, ms (cheroot `shutdown_timeout`). Default 5000. */
  shutdownTimeout?: number | undefined;
  /** Normalise response field names to `Foo-Bar` (eventlet `capitalize_response_headers`). Default false. */
  capitalizeResponseHeaders?: boolean | undefined;
  /** Buffer body chunks until at least this many bytes before writing (eventlet `minimum_chunk_size`); per request `environ["tsgi.minimum_write_chunk_size"]`. Default 0. */
  minimumChunkSize?: number | undefined;
  /**
   * Access log destination (eventlet `log`, gevent `log`); `null` disables. Default `null` in the library; `tsgi-dev` and `tsgi serve` log to stdout.
   * Access lines only: errors go to {@link errorLog} (eventlet's `log` also gets its tracebacks).
   * Lines are written in batches: at most 10 ms after the request ends (or at 1,024 lines), and all of them when the server closes.
   */
  log?: LogTarget | undefined;
  /**
   * Error log destination and `tsgi.errors` target (gevent `error_log`); `null` disables. Default `process.stderr`.
   * A line the server reports that its `write()` (or logger method) throws for goes to stderr instead, with that error.
   * To a writable, `tsgi.errors` text is passed as it is, and a server message after a write that left its line unended is preceded by `"\n"` (its own `write()`), so it starts a line.
   */
  errorLog?: LogTarget | undefined;
  /**
   * Access-log format: an eventlet `%(name)s` style string (see
   * `compileLogFormat()`; a bad one makes `createServer()` throw), or a
   * function. Default `DEFAULT_LOG_FORMAT` (eventlet's: common log
   * format plus wall seconds).
   */
  logFormat?: string | ((fields: AccessLogFields) => string) | undefined;
  /**
   * Prefix `client_ip` with the `X-Forwarded-For` value (eventlet
   * `log_x_forwarded_for`): whitespace removed, its last 256 characters
   * (after `...` when longer), `"`, `\` and non-printable bytes as `\xHH`;
   * or, when there is none, with the `REMOTE_ADDR` that `proxyHeaders()` set
   * (from RFC 7239 `Forwarded`). Default true.
   */
  logXForwardedFor?: boolean | undefined;
  /**
   * Error `code`s of the client's socket that are not logged: a remote client
   * that disconnected (gevent `ignored_socket_errors`). An error the app
   * throws is logged whatever its `code`. Default `["EPIPE", "ECONNRESET"]`.
   * Read once, when the server is made: the server keeps a copy.
   */
  ignoredSocketErrors?: readonly string[] | undefined;
  /**
   * Factory for each request's environ object (gevent `environ_class`),
   * called with `new` and the environ. Default plain object. A constructor
   * that throws fails that request with the standard 500, logged as
   * `Error in the environClass constructor for <request line>: <stack>`.
   */
  environClass?: (new (init: Environ) => Environ) | undefined;
  /**
   * Per-connection handler class (gevent and wsgiref `handler_class`): a
   * `RequestHandler` subclass overriding `getEnviron()`, `getStderr()`,
   * `formatRequest()`, `logRequest()` or `handleError()`. Default: `RequestHandler`'s behaviour.
   * A constructor that throws gets the connection's first request answered
   * 500 (logged as `Error in the handlerClass constructor for <request
   * line>: <stack>`) and the connection closed; a connection that ends
   * before a request reaches the app (a probe, a malformed first request)
   * logs it when it ends, once per server and distinct error (64 at most).
   */
  handlerClass?: RequestHandlerClass | undefined;
  /**
   * eventlet `socket_timeout` / cheroot `timeout`, ms: a shorthand that sets
   * `headerTimeout`, `bodyTimeout` and `sendTimeout` when those are not
   * given. Default: unset.
   */
  socketTimeout?: number | undefined;
  /**
   * `SCRIPT_NAME` for every request: the path the app is mounted at. A path
   * under it by whole segments loses the prefix (`/app/x` → `PATH_INFO`
   * `/x`); any other path (`/x`, `/application`) is taken as already
   * stripped by a proxy and kept whole (uvicorn `--root-path`). Trailing
   * slashes are removed (`/app/` is `/app`, `/` is `""`: PEP 3333's
   * SCRIPT_NAME never ends in `/`). Default `""`.
   */
  scriptName?: string | undefined;
  /**
   * `tsgi.url_scheme`: `"http"` or `"https"` (PEP 3333), anything else is a TypeError from
   * `createServer()`/`serve()`. Default `"http"` (`"https"` with `tls`), or
   * the `environ` option's `tsgi.url_scheme`.
   */
  urlScheme?: string | undefined;
  /** `tsgi.multiprocess`. Default false (true under workers). */
  multiprocess?: boolean | undefined;
  /**
   * Give each request's environ `tsgi.signal` (spec.md "Server extension
   * APIs"): an `AbortSignal` aborted when the client goes away before the
   * response is complete, or the server gives up on the request. It costs
   * about 0.1 µs a request, read or not. Default: on for an application made
   * by `fromFetchHandler` (it carries `WANTS_SIGNAL`, for `request.signal`),
   * off for any other (a middleware around such an app hides the mark: set
   * this then). `tsgi-dev` turns it on for every app; `tsgi serve` judges the
   * app it loaded, before its own middleware wraps it; `makeServer()` the app
   * set now.
   */
  requestSignal?: boolean | undefined;
  /**
   * Serve HTTPS: Bun's TLS options as PEM text, `cert` and `key` (`loadTls()`
   * of `tsgi/server` reads and checks the files, as `tsgi serve --certfile
   * --keyfile` does), with `ca` and
   * `requestCert: true` for client certificates (see {@link TlsConfig}).
   * Sets `tsgi.url_scheme` to `"https"` (unless `urlScheme` or the `environ` option's `tsgi.url_scheme` is given),
   * `HTTPS=on` and mod_ssl's keys in environ: `SSL_PROTOCOL`, `SSL_CIPHER`,
   * `SSL_CLIENT_VERIFY` (`NONE`, `SUCCESS` or `FAILED:<reason>`) and, with a
   * client certificate, `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN` (and
   * `SSL_CLIENT_S_DN_CN`, ... per attribute), `SSL_CLIENT_M_SERIAL`,
   * `SSL_CLIENT_V_START`, `SSL_CLIENT_V_END`, `SSL_CLIENT_CERT`. HTTP/1.1 is
   * offered by ALPN. Default none (plain HTTP).
   */
  tls?: TlsConfig | undefined;
  /**
   * Listen on a Unix domain socket at this path instead of TCP (`hostname`
   * and `port` are ignored). A file already at the path is removed only when
   * nothing accepts connections on it. `REMOTE_ADDR` and `REMOTE_PORT` are
   * `""` (gevent and cheroot); `SERVER_NAME` is the machine's host name (or
   * {@link serverName}) and `SERVER_PORT` the scheme's default port, 80 or
   * 443, as uWSGI gives them (PEP 3333 wants both non-empty; a Unix socket
   * has no host or port). The file is removed when the server closes.
   * On Linux, a path starting with `@` (or a null byte, as `Bun.listen`
   * takes it) names an abstract socket (unix(7); systemd's
   * `ListenStream=@name`, `ss -x` shows it so): `"@app"`, reached with
   * `curl --abstract-unix-socket app`. It has no file, so nothing is
   * created, checked or removed, and it takes no `unixMode`: any process in
   * the same network namespace may connect. Write `"./@app"` for a file
   * named so. Default none.
   * @throws RangeError from `resolveOptions` for an abstract name off Linux,
   *   an empty one (`"@"`), or one with a `unixMode`.
   */
  unix?: string | undefined;
  /**
   * Permission bits for the Unix socket file, `0o000` to `0o777` with a
   * write bit for someone, e.g. `0o660` (as `tsgi serve --uds-mode` takes
   * them): the file is created with them, no moment with the umask's mode,
   * in which another user could connect (Linux: `fchmod(2)` on the socket
   * before `bind(2)`, the process umask untouched; elsewhere the umask set
   * to match around the bind, as gunicorn's `umask`), and `chmod`ed after
   * (the umask may take bits away at creation). Connecting to a Unix socket needs write
   * permission on it (unix(7)), so a mode no one may write (`0o444`) is
   * refused, as are the setuid, setgid and sticky bits (`0o4660`), which mean
   * nothing on a socket. Default: as created (umask).
   * @throws RangeError from `resolveOptions` (and so `createServer`/`serve`)
   *   for any other value; a number above `0o777` that reads as octal digits
   *   (`660`, which is `0o1224`) is told to be written `0o660`.
   */
  unixMode?: number | undefined;
  /**
   * Serve a socket that is already bound and listening, inherited as this
   * file descriptor (systemd socket activation: 3; a supervisor's socket).
   * `hostname`, `port` and `unix` are ignored. Default none.
   */
  fd?: number | undefined;
  /**
   * For Unix-socket clients, put the peer's credentials (`SO_PEERCRED`) in
   * environ: `X_REMOTE_PID`, `X_REMOTE_UID`, `X_REMOTE_GID`; with
   * `"resolve"` also `X_REMOTE_USER`, `X_REMOTE_GROUP` and `REMOTE_USER`
   * (cheroot `peercreds_enabled` / `peercreds_resolve_enabled`). Linux only;
   * elsewhere the keys are absent. Default false.
   */
  peerCredentials?: boolean | "resolve" | undefined;
}

/**
 * The defaults of {@link ServerOptions}. Frozen, its `ignoredSocketErrors`
 * too: a default written from plain JavaScript would change every server
 * made after it (writing one throws a `TypeError`). Each resolved options
 * object ({@link resolveOptions}, `server.options`) gets its own copy of
 * `ignoredSocketErrors`, which its owner may change. Give other values as
 * options.
 */
export const DEFAULT_SERVER_OPTIONS = Object.freeze({
  hostname: "127.0.0.1",
  port: 8000,
  reusePort: false,
  debug: false,
  keepalive: true,
  maxHttpVersion: "HTTP/1.1",
  urlLengthLimit: 8192,
  maxHeaderBytes: 65536,
  maxHeaderCount: 100,
  maxChunkExtBytes: 4096,
  maxTrailerBytes: 16384,
  maxRequestBodySize: 0,
  maxConnections: 10000,
  headerTimeout: 30000,
  keepAliveTimeout: 5000,
  bodyTimeout: 60000,
  sendTimeout: 60000,
  requestTimeout: 0,
  shutdownTimeout: 5000,
  capitalizeResponseHeaders: false,
  minimumChunkSize: 0,
  logXForwardedFor: true,
  ignoredSocketErrors: Object.freeze(["EPIPE", "ECONNRESET"] as const),
  scriptName: "",
  urlScheme: "http",
  multiprocess: false,
} as const) satisfies Readonly<Partial<ServerOptions>>;

/** Options with every default applied. */
export type ResolvedOptions = Omit<{ [K in keyof typeof DEFAULT_SERVER_OPTIONS]-?: Exclude<ServerOptions[K], undefined> } & ServerOptions, "keepalive" | "ignoredSocketErrors"> & {
  /** A number given is resolved to a boolean (and `keepAliveTimeout`). */
  keepalive: boolean;
  /** This options object's own copy (of the default's, or of the one given). */
  ignoredSocketErrors: string[];
};

/**
 * The longest duration a timer holds, ms (2^31 - 1, about 24.8 days): Bun's
 * (and Node's) `setTimeout` fires at once for more, with a
 * TimeoutOverflowWarning. Every timeout option and `close({ timeout,
 * idleGrace })` is at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The options in ms that {@link MAX_TIMER_MS} bounds. */
const TIMEOUT_OPTIONS = ["headerTimeout", "keepAliveTimeout", "bodyTimeout", "sendTimeout", "requestTimeout", "shutdownTimeout"] as const;

/**
 * A duration in seconds (fractions allowed) as whole milliseconds, the one
 * rule for `keepalive: <seconds>` and `tsgi serve`'s duration flags: to the
 * nearest millisecond (`1.1` is 1100, not the 1101 that rounding
 * `1.1 * 1000` up gives), but a positive value is at least 1 ms, since 0
 * turns a timeout (or keep-alive) off: `0.0004` is 1 ms, not off. gunicorn
 * and uvicorn take whole seconds only, where no positive value can mean 0.
 * @param seconds a finite number, 0 or more (checked by the caller).
 */
export function secondsToMs(seconds: number): number {
  const ms = Math.round(seconds * 1000);
  return ms === 0 && seconds > 0 ? 1 : ms;
}

/**
 * Check a duration in ms against {@link MAX_TIMER_MS}.
 * @throws RangeError naming `what` for a larger value.
 */
export function checkTimerMs(ms: number, what: string): void {
  if (ms > MAX_TIMER_MS) {
    throw new RangeError(`${what} must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest a timer holds; 0 turns a timeout off), got ${ms}`);
  }
}

/**
 * Check a Unix socket's mode as `tsgi serve --uds-mode` does (deploy/options.ts
 * `udsMode`): permission bits 0o000 to 0o777, writable by someone, since
 * connecting needs write permission on the socket (unix(7)).
 * @throws RangeError naming what is wrong.
 */
function checkUnixMode(mode: unknown): void {
  const where = "server option unixMode";
  if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    const octalDigits = typeof mode === "number" && Number.isInteger(mode) && mode > 0o777;
    const hint = !octalDigits
      ? ""
      : /^[0-7]{3}$/.test(String(mode))
        ? `, which is 0o${mode.toString(8)}: write it in octal, 0o${mode}`
        : ` (0o${mode.toString(8)}): the setuid, setgid and sticky bits mean nothing on a socket`;
    throw new RangeError(`${where} must be permission bits from 0o000 to 0o777 (e.g. 0o660), got ${shown(mode)}${hint}`);
  }
  if ((mode & 0o222) === 0) {
    throw new RangeError(
      `${where} 0o${mode.toString(8).padStart(3, "0")} lets no one write to the socket, which connecting needs (only root could connect): e.g. 0o660 (its owner and group) or 0o666 (every user)`,
    );
  }
}

/**
 * The name of the Linux abstract Unix socket `path` names (unix(7): a
 * `sun_path` that starts with a null byte, no file), or `null` for a file
 * path: `@name`, as systemd's `ListenStream=`, `ss(8)` and Go's `net.Listen`
 * write it, or `\0name`, as `Bun.listen({ unix })` takes it.
 */
export function abstractSocketName(path: string): string | null {
  return path.startsWith("@") || path.startsWith("\0") ? path.slice(1) : null;
}

/**
 * Check a `unix` that names an abstract socket (see {@link abstractSocketName}): Linux only, a name, no `unixMode`.
 * @throws RangeError naming what is wrong and what to give instead.
 */
function checkAbstractSocket(unix: string, unixMode: number | undefined): void {
  const name = abstractSocketName(unix);
  if (name === null) return;
  const shownName = JSON.stringify(`@${name}`);
  if (process.platform !== "linux") {
    throw new RangeError(`server option unix ${shownName} names a Linux abstract socket, which ${process.platform} does not have: give a file path (${JSON.stringify(`./@${name}`)} for a file named so)`);
  }
  if (name === "") throw new RangeError('server option unix "@" names no abstract socket: give a name after the @ (e.g. "@app"), or a file path');
  if (unixMode !== undefined) {
    throw new RangeError(`server option unixMode does not apply to the abstract socket ${shownName}: it has no file, so no permission bits, and any process in the same network namespace may connect; leave unixMode out, or give a file path to unix`);
  }
}

/**
 * Apply the defaults (`socketTimeout` first, for the timeouts it covers) and
 * check values.
 * @throws RangeError on a negative or non-integer size, count, timeout, port
 *   or `fd`; a `backlog` that is not an integer from 0 to 2147483647; a size or count over `Number.MAX_SAFE_INTEGER`; a timeout over {@link MAX_TIMER_MS} (or a `keepalive` over its
 *   seconds), which a timer cannot hold; a 0 `urlLengthLimit`, `maxHeaderBytes`, `maxHeaderCount` or
 *   `maxConnections` (which would refuse everything); a `maxTrailerBytes`
 *   under 2 (which would refuse every chunked body); a `unixMode` outside
 *   0o000 to 0o777 or with no write bit (see {@link ServerOptions.unixMode}); a `unix` that names
 *   an abstract socket (`"@name"`) off Linux, with no name, or with a `unixMode`; a `maxHttpVersion` other than `"HTTP/1.0"` and
 *   `"HTTP/1.1"`; a `scriptName` that is neither `""` nor a path starting
 *   with `/`.
 * @throws TypeError on a value of the wrong type the server would only use
 *   later: an `environClass` or `handlerClass` that is not a class (a
 *   `handlerClass` without `RequestHandler`'s methods), an
 *   `ignoredSocketErrors` that is not an array of strings, an `environ`
 *   or `tls` (other than `null`) that is not an object, a `urlScheme` other than `"http"` and
 *   `"https"`, a `hostname`, `serverName` or `unix` that is not a string, a `serverName` of `""`, a `multiprocess`, `reusePort`,
 *   `debug`, `capitalizeResponseHeaders`, `logXForwardedFor` or `requestSignal` that is not a
 *   boolean (a string such as `"false"` would be taken as true), a `keepalive` that is neither a
 *   boolean nor a number, a `peerCredentials` other than a boolean and `"resolve"`, a `logFormat`
 *   that is neither a string nor a function, a `log` or `errorLog` that is
 *   neither `null`, a stream (`write()`) nor a logger (`info()` for `log`,
 *   `error()` for `errorLog`; an object, or a function carrying them).
 */
export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  const given = stripUndefined(options);
  if (given.socketTimeout !== undefined) {
    // Named itself, not as the timeouts it sets (socketTimeout: -1 was told 'headerTimeout must be ...').
    const v: unknown = given.socketTimeout;
    if (typeof v !== "number" || (!Number.isInteger(v) && v !== Infinity) || v < 0) {
      throw new RangeError(`server option socketTimeout must be a non-negative integer, got ${shown(v)}`);
    }
    checkTimerMs(v, "server option socketTimeout");
    given.headerTimeout ??= given.socketTimeout;
    given.bodyTimeout ??= given.socketTimeout;
    given.sendTimeout ??= given.socketTimeout;
  }
  // eventlet (since its PR #788) takes a number as the idle time between requests, in seconds; 0 turns keep-alive off.
  if (typeof given.keepalive === "number") {
    const seconds = given.keepalive;
    if (!Number.isFinite(seconds) || seconds < 0 || seconds * 1000 > MAX_TIMER_MS) {
      throw new RangeError(`server option keepalive must be true, false or the idle time between requests in seconds (0 to ${MAX_TIMER_MS / 1000}), got ${shown(seconds)}`);
    }
    if (seconds > 0) given.keepAliveTimeout ??= secondsToMs(seconds);
    given.keepalive = seconds !== 0;
  }
  if (given.hostname === "") delete given.hostname;
  const resolved = { ...DEFAULT_SERVER_OPTIONS, ...given } as ResolvedOptions;
  for (const key of [
    "port",
    "urlLengthLimit",
    "maxHeaderBytes",
    "maxHeaderCount",
    "maxChunkExtBytes",
    "maxTrailerBytes",
    "maxRequestBodySize",
    "maxConnections",
    "headerTimeout",
    "keepAliveTimeout",
    "bodyTimeout",
    "sendTimeout",
    "requestTimeout",
    "shutdownTimeout",
    "minimumChunkSize",
  ] as const) {
    const v = resolved[key];
    // Infinity (written for "no limit") is told the largest value below, and what 0 means where it is "off".
    if (typeof v !== "number" || (!Number.isInteger(v) && v !== Infinity) || v < 0) {
      throw new RangeError(`server option ${key} must be a non-negative integer, got ${shown(v)}`);
    }
    // Past 2^53 - 1 a number is not held exactly (1e20 + 1 === 1e20); "no limit" is 0 where there is one.
    // (A timeout's and the port's own, lower bounds are checked below.)
    if (!Number.isSafeInteger(v) && key !== "port" && !(TIMEOUT_OPTIONS as readonly string[]).includes(key)) {
      throw new RangeError(`server option ${key} must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER${key === "maxRequestBodySize" ? "; 0 means no limit" : ""}), got ${shown(v)}`);
    }
  }
  if (resolved.port > 65535) throw new RangeError(`server option port must be a TCP port, 0 to 65535, got ${resolved.port}`);
  // A timer holds at most 2^31 - 1 ms: past it Bun's setTimeout fires at once (TimeoutOverflowWarning), so a
  // shutdownTimeout meant as "never cut" would cut every request at close().
  for (const key of TIMEOUT_OPTIONS) checkTimerMs(resolved[key], `server option ${key}`);
  // At 0 these would refuse every connection or request; "no limit" is not what 0 means for them.
  for (const key of ["urlLengthLimit", "maxHeaderBytes", "maxHeaderCount", "maxConnections"] as const) {
    if (resolved[key] < 1) throw new RangeError(`server option ${key} must be at least 1, got 0`);
  }
  // The empty line that ends every chunked body's trailer section is 2 bytes.
  if (resolved.maxTrailerBytes < 2) throw new RangeError(`server option maxTrailerBytes must be at least 2 (the empty line ending the trailer section), got ${resolved.maxTrailerBytes}`);
  if (resolved.unixMode !== undefined) checkUnixMode(resolved.unixMode);
  if (resolved.fd === undefined && typeof resolved.unix === "string") checkAbstractSocket(resolved.unix, resolved.unixMode);
  if (resolved.backlog !== undefined && (!Number.isInteger(resolved.backlog) || resolved.backlog < 0 || resolved.backlog > MAX_LISTEN_BACKLOG)) {
    throw new RangeError(`server option backlog must be an integer from 0 to ${MAX_LISTEN_BACKLOG} (connections; the kernel caps it at net.core.somaxconn), got ${shown(resolved.backlog)}`);
  }
  if (resolved.fd !== undefined && (!Number.isSafeInteger(resolved.fd) || resolved.fd < 0)) {
    throw new RangeError(`server option fd must be a non-negative integer file descriptor, got ${shown(resolved.fd)}`);
  }
  resolved.scriptName = mountPoint(resolved.scriptName, "server option scriptName");
  if (resolved.serverSoftware !== undefined) checkServerSoftware(resolved.serverSoftware, "server option serverSoftware");
  if (resolved.maxHttpVersion !== "HTTP/1.0" && resolved.maxHttpVersion !== "HTTP/1.1") {
    throw new RangeError(`server option maxHttpVersion must be "HTTP/1.0" or "HTTP/1.1", got ${shown(resolved.maxHttpVersion)}`);
  }
  checkTypes(resolved);
  const scheme = environSchemeOf(resolved);
  if (scheme !== undefined && given.urlScheme !== undefined && given.urlScheme !== scheme) {
    throw new TypeError(`server option environ["tsgi.url_scheme"] (${shown(scheme)}) and urlScheme (${shown(given.urlScheme)}) disagree; give the scheme once`);
  }
  checkExtraEnviron(resolved.environ, "server option environ");
  // Its own list: the default's is frozen and shared, and the one given stays its caller's (read once, as every option).
  resolved.ignoredSocketErrors = [...resolved.ignoredSocketErrors];
  return resolved;
}

/** The methods the server calls on a `handlerClass` instance (`RequestHandler`'s). */
const HANDLER_METHODS = ["getEnviron", "getStderr", "formatRequest", "logRequest", "handleError"] as const;

/** Whether `v` can be called with `new` (a class, or a function that is not an arrow or a method); `v` is not called. */
function isConstructor(v: unknown): boolean {
  if (typeof v !== "function") return false;
  try {
    Reflect.construct(String, [], v);
    return true;
  } catch {
    return false;
  }
}

/** `v` for an option error: a short JSON, a class instance's class, or its kind (see `shownValue()`). */
function shown(v: unknown): string {
  if (typeof v === "function") return isConstructor(v) ? "a function" : "a function that is not a constructor";
  return shownValue(v);
}

/**
 * The options whose value the server keeps and uses only later, per
 * connection or per request (a class it instantiates, a list it searches, a
 * value it puts in every environ): a wrong type from plain JavaScript would
 * otherwise fail each request with a bare TypeError (an empty reply), or
 * quietly do something else (`tls: 5` served TLS; a string
 * `ignoredSocketErrors` matched by substring).
 * @throws TypeError naming the option, what it must be and what it got.
 */
function checkTypes(o: ResolvedOptions): void {
  const fail = (key: string, want: string, got: unknown): never => {
    throw new TypeError(`server option ${key} must be ${want}, got ${shown(got)}`);
  };
  if (o.environClass !== undefined && !isConstructor(o.environClass)) fail("environClass", "a class (called with new and the environ)", o.environClass);
  if (o.handlerClass !== undefined) {
    if (!isConstructor(o.handlerClass)) fail("handlerClass", "a RequestHandler subclass", o.handlerClass);
    const proto = (o.handlerClass as { prototype?: Record<string, unknown> }).prototype;
    const missing = HANDLER_METHODS.filter((m) => typeof proto?.[m] !== "function");
    if (missing.length > 0) {
      throw new TypeError(`server option handlerClass must be a RequestHandler subclass; this class has no ${missing.join(", ")} method`);
    }
  }
  const ignored = o.ignoredSocketErrors as unknown;
  if (!Array.isArray(ignored) || ignored.some((c) => typeof c !== "string")) {
    fail("ignoredSocketErrors", 'an array of error codes such as ["EPIPE", "ECONNRESET"]', ignored);
  }
  const environ = o.environ as unknown;
  if (environ !== undefined && environ !== null && (typeof environ !== "object" || Array.isArray(environ))) fail("environ", "an object of environ keys", environ);
  if (o.tls !== undefined && o.tls !== null && typeof o.tls !== "object") fail("tls", "an object of TLS options ({ cert, key })", o.tls);
  // The bind address: anything else failed at listen() with a raw "host.includes is not a function" (Bun's
  // 'Expected either "hostname" or "unix"' for null), or was bound as its string (["::1"] as "::1").
  if (typeof o.hostname !== "string") fail("hostname", 'a string (an address such as "127.0.0.1", "0.0.0.0" or "::", or a host name)', o.hostname);
  for (const key of ["serverName", "unix"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "string") fail(key, "a string", o[key]);
  }
  // PEP 3333: SERVER_NAME "can never be empty"; every request's environ would break validator() and URL reconstruction.
  if (o.serverName === "") fail("serverName", "a non-empty host name (PEP 3333: SERVER_NAME is never empty; leave it out for the bound host, or the machine's host name on a wildcard bind or a Unix socket)", o.serverName);
  // PEP 3333: tsgi.url_scheme is "http" or "https" (an app builds its URLs from it).
  if (o.urlScheme !== "http" && o.urlScheme !== "https") fail("urlScheme", '"http" or "https"', o.urlScheme);
  // gevent's and eventlet's environ replaces wsgi.url_scheme: the server's scheme, checked as urlScheme is.
  const scheme = environSchemeOf(o);
  if (scheme !== undefined) {
    if (scheme !== "http" && scheme !== "https") fail('environ["tsgi.url_scheme"]', '"http" or "https" (it sets the scheme, as urlScheme does)', scheme);
  }
  // Put in every environ as it is, where PEP 3333 wants a boolean.
  if (typeof o.multiprocess !== "boolean") fail("multiprocess", "a boolean", o.multiprocess);
  // Switches: a string from an environment variable or a config file ("false", "0") is truthy, and
  // would turn on what it names. a number keepalive is turned into a boolean (and keepAliveTimeout) before this.
  for (const key of ["keepalive", "reusePort", "debug", "capitalizeResponseHeaders", "logXForwardedFor"] as const) {
    if (typeof o[key] !== "boolean") fail(key, "true or false", o[key]);
  }
  if (o.requestSignal !== undefined && typeof o.requestSignal !== "boolean") fail("requestSignal", "true or false", o.requestSignal);
  const peer = o.peerCredentials as unknown;
  if (peer !== undefined && typeof peer !== "boolean" && peer !== "resolve") fail("peerCredentials", 'true, false or "resolve"', peer);
  if (o.logFormat !== undefined && typeof o.logFormat !== "string" && typeof o.logFormat !== "function") fail("logFormat", "a format string or a function", o.logFormat);
  for (const [key, level] of [["log", "info"], ["errorLog", "error"]] as const) {
    const target = o[key] as unknown;
    if (target === undefined || target === null) continue;
    const t = target as Record<string, unknown>;
    // A logger may itself be a function with methods (roarr's, ololog's: log("...") and log.info("...")).
    if ((typeof target !== "object" && typeof target !== "function") || (typeof t["write"] !== "function" && typeof t[level] !== "function")) {
      fail(key, `null, a stream with write() or a logger with ${level}()`, target);
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * The scheme the `environ` option gives (its `tsgi.url_scheme`, inherited
 * keys too, as every request's environ copies them), or `undefined`.
 */
export function environSchemeOf(o: Pick<ServerOptions, "environ">): unknown {
  const environ = o.environ as Record<string, unknown> | null | undefined;
  return environ && typeof environ === "object" ? environ["tsgi.url_scheme"] : undefined;
}
