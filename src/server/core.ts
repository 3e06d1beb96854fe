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
  readonly options: ResolvedOptions;
  readonly parserLimits: Partial<ParserLimits>;
  readonly gateway: GatewayOptions;
  readonly environDefaults: EnvironDefaults;
  readonly environClass: (new (init: Environ) => Environ) | undefined;
  /** Per-connection hooks (the `handlerClass` option), or undefined for the default behaviour. */
  readonly handlerClass: RequestHandlerClass | undefined;
  /** What a handler sees of the server. */
  readonly handlerServer: HandlerServer;
  readonly errors: ErrorStream;
  readonly accessLog: AccessLog | null;
  readonly serverSoftware: string;
  readonly serverName: string;
  readonly port: number;
  readonly urlScheme: string;
  /** `maxHttpVersion` is HTTP/1.0. */
  readonly http10Only: boolean;
  /** `close()` was called: finish current requests, accept no more. */
  readonly closing: boolean;
  /** `close({ idleGrace })`'s grace (ms), 0 before `close()` or without one. */
  readonly idleGrace: number;
  /**
   * A coarse clock for deadlines (ms since epoch): the sweeper's last tick
   * plus one tick, so a deadline is never early and at most two ticks late.
   */
  clock(): number;
  /** Log an error with context (e.g. the request line). */
  readonly logError: (context: string, error: unknown) => void;
  /**
   * Access-log line for a response the server made itself (4xx, 503): `line`
   * is the request line when the app had the request (`environ` set), else
   * the rejection; `bodyBytes` the error body's length; `startedAt` 0 gives 0 s.
   */
  logRequestError(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number): void;
  /** Record an access-log line. */
  logAccess(connection: Connection, head: RequestHead, environ: Environ, status: number, bodyBytes: number, startedAt: number): void;
  /** The access-log fields of one response, for a handler's `logRequest()`; `startedAt` 0 gives 0 s. */
  accessFields(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number): AccessLogFields;
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
