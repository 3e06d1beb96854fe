/**
 * What a {@link Connection} needs from its server. Kept as an interface so
 * the connection does not depend on the server class.
 * @module
 */
import type { EnvironDefaults } from "../gateway/environ.ts";
import type { GatewayOptions } from "../gateway/run.ts";
import type { ParserLimits, RequestHead } from "../http/parser.ts";
import type { Application, Environ, ErrorStream } from "../spec.ts";
import type { Connection } from "./connection.ts";
import type { HandlerServer, RequestHandlerClass } from "./handler.ts";
import type { AccessLog } from "./log.ts";
import type { AccessLogFields, ResolvedOptions } from "./options.ts";

/** The server side of a connection. */
export interface ServerCore {
  /** The current application. */
  readonly app: Application;
  /** The server options with every default applied ({@link ResolvedOptions}). */
  readonly options: ResolvedOptions;
  /** The request parser's limits, from the `urlLengthLimit`, `maxHeaderBytes`, `maxHeaderCount`, `maxChunkExtBytes` and `maxTrailerBytes` options. */
  readonly parserLimits: Partial<ParserLimits>;
  /** The gateway's settings for every request (`debug`, `minimumChunkSize`, the error logger). */
  readonly gateway: GatewayOptions;
  /** The server-level environ keys (`SERVER_SOFTWARE`, `SCRIPT_NAME`, `tsgi.file_wrapper`, the `environ` option's extra keys, ...). */
  readonly environDefaults: EnvironDefaults;
  /** The `environClass` option: makes each request's environ object; undefined for a plain object. */
  readonly environClass: (new (init: Environ) => Environ) | undefined;
  /** Per-connection hooks (the `handlerClass` option), or undefined for the default behaviour. */
  readonly handlerClass: RequestHandlerClass | undefined;
  /** What a handler sees of the server. */
  readonly handlerServer: HandlerServer;
  /** `tsgi.errors` for every request: writes to the `errorLog` option's target. */
  readonly errors: ErrorStream;
  /** The access log (the `log` option), or `null` when it is off. */
  readonly accessLog: AccessLog | null;
  /** `SERVER_SOFTWARE` and the `Server` response field (the `serverSoftware` option; `""` sends none). */
  readonly serverSoftware: string;
  /** `SERVER_NAME` (the `serverName` option, else derived from the bound address); `""` before `listen()`. */
  readonly serverName: string;
  /** The bound port (0 before `listen()` and for a Unix socket). */
  readonly port: number;
  /** `SERVER_PORT`: the bound port; on a Unix socket the scheme's default, 80 or 443 (0 before `listen()`). */
  readonly serverPort: number;
  /** `tsgi.url_scheme`: the `environ` option's `tsgi.url_scheme`, else the `urlScheme` option, else `"https"` with `tls` and `"http"` without. */
  readonly urlScheme: string;
  /** `maxHttpVersion` is HTTP/1.0. */
  readonly http10Only: boolean;
  /** `close()` was called: finish current requests, accept no more. */
  readonly closing: boolean;
  /** `close({ idleGrace })`'s grace (ms), 0 before `close()` or without one. */
  readonly idleGrace: number;
  /**
   * A coarse monotonic clock for deadlines (`performance.now()` ms, not the
   * wall clock): the sweeper's last tick plus one tick, so a deadline is
   * never early and at most two ticks late.
   */
  clock(): number;
  /**
   * While the server closes: run the deadline sweep at `at`
   * (`performance.now()` ms) rather than at the sweeper's next tick (up to
   * 1 s later), so that a grace the close gives a connection (`idleGrace`,
   * the 1 s for a request head) ends on time. Sweeps asked for within the
   * same 10 ms slot are one, at the slot's end (so a grace ends at most
   * 10 ms late); all are cancelled when the close finishes. Does nothing
   * when the server is not closing.
   */
  wakeAt(at: number): void;
  /** Log an error with context (e.g. the request line). */
  readonly logError: (context: string, error: unknown) => void;
  /**
   * {@link logError}, but only the first time this server meets an error
   * with this first line (`Name: message`): for errors that strangers'
   * connections can repeat without end. At most 64 distinct errors are
   * logged; further ones are not.
   */
  logErrorOnce(context: string, error: unknown): void;
  /**
   * Access-log line for a response the server made itself (4xx, 503): `line`
   * is the request line when the app had the request (`environ` set), else
   * the rejection; `bodyBytes` the error body's length; `startedAt` 0 gives 0 s;
   * `refused` the field lines (flat `[name, value, ...]`) of a request
   * refused before the app had it (413 from its head; 400, 417 from field
   * lines the parser refused), whose `X-Forwarded-For` the line shows as the
   * app's requests' lines do.
   */
  logRequestError(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number, refused?: string[] | null): void;
  /** Record an access-log line. */
  logAccess(connection: Connection, head: RequestHead, environ: Environ, status: number, bodyBytes: number, startedAt: number): void;
  /** The access-log fields of one response, for a handler's `logRequest()`; `startedAt` 0 gives 0 s; `refused` as {@link logRequestError}'s. */
  accessFields(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number, refused?: string[] | null): AccessLogFields;
  /** Warn once per key for the server's lifetime. */
  warnOnce(key: string, message: string): void;
  /**
   * Work left by a request the server stopped (its body's `return()` and
   * `close()`, its posthooks), already bounded in time (at most
   * `CUT_REQUEST_CLEANUP_MS`): `close()` waits for it before it resolves.
   */
  trackAbandoned(work: Promise<unknown>): void;
  /** A connection closed. */
  connectionClosed(connection: Connection): void;
}
