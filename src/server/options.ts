/**
 * Server options: one typed object, every field optional, each default
 * documented with the seed server it comes from.
 * @module
 */
import type { Environ } from "../spec.ts";

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
  /** Request start, `[23/Nov/2026:09:00:00 +0000]` style, without the brackets. */
  date_time: string;
  /** The request line as received, e.g. `GET /x HTTP/1.1`. */
  request_line: string;
  /** The response status code. */
  status_code: number;
  /** Body bytes sent (not counting headers). */
  body_length: number;
  /** Wall-clock seconds from head parsed to response sent. */
  wall_seconds: number;
}

/** Server options. All are optional; defaults are in {@link DEFAULT_SERVER_OPTIONS}. */
export interface ServerOptions {
  /** Interface to bind. Default `"127.0.0.1"` (never all interfaces unless asked). */
  hostname?: string;
  /** TCP port; 0 picks a free one (read it back from `server.port`). Default 8000. */
  port?: number;
  /** Linux `SO_REUSEPORT`, for several processes on one port. Default false. */
  reusePort?: boolean;
  /** Extra keys merged into every request's environ (eventlet/gevent `environ`). Default none. */
  environ?: Record<string, unknown>;
  /** `SERVER_SOFTWARE` value. Default `"tsgi/<version>"`. */
  serverSoftware?: string;
  /** Send tracebacks in 500 bodies (eventlet `debug`). Default false. */
  debug?: boolean;
  /** Keep connections alive between requests (eventlet `keepalive`). Default true. */
  keepalive?: boolean;
  /** Highest version answered; `"HTTP/1.0"` disables chunked and 1.1 keep-alive (eventlet `max_http_version`). Default `"HTTP/1.1"`. */
  maxHttpVersion?: "HTTP/1.0" | "HTTP/1.1";
  /** Longest request-target in bytes; longer → 414 (eventlet `url_length_limit`). Default 8192. */
  urlLengthLimit?: number;
  /** Largest request header section in bytes → 431 beyond. Default 65536. */
  maxHeaderBytes?: number;
  /** Most request header fields → 431 beyond. Default 100. */
  maxHeaderCount?: number;
  /** Most open client connections; further ones wait in the OS backlog... are closed at once (eventlet `max_size`, cheroot `max`). Default 10000. */
  maxConnections?: number;
  /** Time allowed for a request head to arrive, ms (slowloris). Default 30000. */
  headerTimeout?: number;
  /** Idle keep-alive connection lifetime between requests, ms. Default 5000... */
  keepAliveTimeout?: number;
  /** Longest wait for more request-body bytes while the app reads, ms (eventlet `socket_timeout`). Default 60000. */
  bodyTimeout?: number;
  /** Time in-flight requests get to finish on `close()`, ms (cheroot `shutdown_timeout`). Default 5000. */
  shutdownTimeout?: number;
  /** Normalise response field names to `Foo-Bar` (eventlet `capitalize_response_headers`). Default false. */
  capitalizeResponseHeaders?: boolean;
  /** Buffer body chunks until at least this many bytes before writing (eventlet `minimum_chunk_size`); per request `environ["tsgi.minimum_write_chunk_size"]`. Default 0. */
  minimumChunkSize?: number;
  /** Access log destination (eventlet `log`, gevent `log`); `null` disables. Default `null` in the library, stderr in `tsgi-dev`. */
  log?: LogTarget;
  /** Error log destination and `tsgi.errors` target (gevent `error_log`); `null` disables. Default `process.stderr`. */
  errorLog?: LogTarget;
  /** Access-log format: eventlet `%(name)s` style string, or a function. Default common log format. */
  logFormat?: string | ((fields: AccessLogFields) => string);
  /** Prefix `client_ip` with the `X-Forwarded-For` value (eventlet `log_x_forwarded_for`). Default true. */
  logXForwardedFor?: boolean;
  /** Error codes of client disconnects logged quietly (gevent `ignored_socket_errors`). Default `["EPIPE", "ECONNRESET"]`. */
  ignoredSocketErrors?: string[];
  /** Factory for each request's environ object (gevent `environ_class`). Default plain object. */
  environClass?: new (init?: Record<string, unknown>) => Environ | Record<string, unknown>;
}
