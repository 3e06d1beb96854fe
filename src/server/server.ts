/**
 * The server (gevent's `WSGIServer` role): binds with `Bun.listen`, owns the
 * connections, the timeouts sweeper, the logs and graceful shutdown.
 * @module
 */
import type { Socket, SocketListener } from "bun";
import { hostname as osHostname } from "node:os";
import type { EnvironDefaults } from "../gateway/environ.ts";
import { ErrorLogStream } from "../gateway/error-stream.ts";
import type { GatewayOptions } from "../gateway/run.ts";
import type { ParserLimits, RequestHead } from "../http/parser.ts";
import type { Application, Environ, ErrorStream } from "../spec.ts";
import { fileWrapper } from "../gateway/file-wrapper.ts";
import { SERVER_SOFTWARE } from "../version.ts";
import { connectionsOverFileLimit, listenBacklogCap } from "./sys.ts";
import { errorResponse } from "./response-head.ts";
import { Connection } from "./connection.ts";
import type { HandlerServer, RequestHandlerClass } from "./handler.ts";
import { AccessLog, accessLogFormat, createAccessLog, errorLogWriters, escapeControls, guardedErrorWriter, hexEscape, lineWriter, logDate, requestLine, type LineWriter } from "./log.ts";
import { checkTimerMs, environSchemeOf, resolveOptions, type AccessLogFields, type ResolvedOptions, type ServerOptions } from "./options.ts";
import { bindListener, listenError } from "./bind.ts";
import { peerEnviron } from "./peercred.ts";
import { tlsFailureCause, tlsProtocolErrorCause } from "./tls.ts";
import { tlsEnviron } from "./tls-environ.ts";
import { errorText } from "../gateway/error-text.ts";
import { nodeHandlerHint } from "../gateway/node-handler-hint.ts";
import { fetchHandlerHint } from "../gateway/fetch-handler-hint.ts";
import { uriHost } from "../http/uri-host.ts";

/** A listening (or not yet listening) TSGI server. */
export interface Server {
  /** The bound host (after `listen()`; an inherited TCP socket's (`fd`) as `getsockname(2)` reports it; `""` before, and for a Unix socket). */
  readonly hostname: string;
  /** The bound port (after `listen()`; the real one when 0 was asked; an inherited TCP socket's (`fd`) own; 0 before, and for a Unix socket). */
  readonly port: number;
  /**
   * `http://host:port/` (`https` with `tls`, an IPv6 host in brackets, its zone written `%25`:
   * `http://[fe80::1%25eth0]:8000/`, RFC 6874 §2, which curl takes and WHATWG `new URL()` refuses in any form: how a client reaches the server,
   * whatever `tsgi.url_scheme` the `urlScheme` or `environ` option gives the app); `http://unix:/path:/` for a
   * Unix socket; for an inherited socket (`fd`) whose path cannot be read (`unix` is `""`: off Linux;
   * on Linux other families are refused), `http://unix:(inherited fd 3, path unknown):/`, which no
   * client can reach but which says what is served.
   */
  readonly url: string;
  /** The application; assigning swaps it for requests that start afterwards (in-flight ones finish on the old one). */
  app: Application;
  /** Open client connections. */
  readonly connections: number;
  /**
   * Bind and start accepting; does nothing when already listening.
   * @throws Error with `code` `EADDRINUSE` (port taken), `EACCES` (privileged
   *   port) or `EADDRNOTAVAIL` when the TCP port cannot be bound; for `unix`
   *   and `fd`, an error with `code` naming the path or descriptor
   *   (`EADDRINUSE`, `EEXIST`, `EBADF`, `ENOTSOCK`, ...).
   */
  listen(): this;
  /**
   * Stop accepting, let in-flight requests finish within `timeout` ms
   * (default: the `shutdownTimeout` option), then close every connection.
   * Idle keep-alive connections close at once, unless `idleGrace` (ms,
   * default 0) is given: each may then carry one more request within that
   * time, answered with `Connection: close`, so that a request already on
   * its way (RFC 9112 §9.3.1's race with a closing connection) is answered,
   * not reset. A connection whose response was already under way with
   * keep-alive gets the same grace once that response ends. Requests
   * pipelined behind the last one a connection serves, already received
   * (their whole heads in by the time the close began, or that request
   * started), are answered too, in order, the last with `Connection:
   * close`; no byte received later starts one. `tsgi-dev
   * --reload=restart` and the workers' reload use it. Resolves when every
   * connection has closed, pending access-log lines were written, and the
   * requests it stopped have ended: their bodies' `return()` and `close()`
   * (each waited for up to 1 s) and their posthooks, up to 3 s in all
   * (`CUT_REQUEST_CLEANUP_MS`) past `timeout`; a caller with its own kill
   * deadline allows for it.
   */
  close(options?: CloseOptions): Promise<void>;
  /** `close()` with its defaults, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link Server.close}. */
export interface CloseOptions {
  /** How long in-flight requests may take before every connection is cut (ms, at most 2^31 - 1, what a timer holds; more rejects with a RangeError). Default: the `shutdownTimeout` option. */
  timeout?: number | undefined;
  /** How long an idle keep-alive connection (or one whose keep-alive response ends during the close) may still bring one request (ms, at most 2^31 - 1; more rejects with a RangeError); a head begun in it must arrive within 1 s of its first byte (`headerTimeout` if shorter), else 408. Default 0: such connections close at once. */
  idleGrace?: number | undefined;
}

/** The `code` of an error (`EPIPE`, `EADDRINUSE`...), if it has one. */
function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

/**
 * TLS connections over `maxConnections` waiting for their handshake to end
 * so they can be answered 503: at most this many at a time; more are closed
 * unanswered, so a flood of handshakes that never finish cannot hold
 * descriptors past the limit.
 */
const MAX_REFUSED_HANDSHAKES = 64;

/** How many distinct errors `logErrorOnce` logs at most (a constructor that throws a new message per connection). */
const LOGGED_ONCE_MAX = 64;
/**
 * How many times per sweeper tick a full server may scan its connections for
 * idle keep-alive ones to close for new clients (see `evictIdle`).
 */
const MAX_IDLE_GATHERS = 16;
/**
 * Idle connections closed for new clients (see `evictIdle`) that may linger
 * at once, not counted against `maxConnections` (descriptors beyond it):
 * past that, one is closed at once instead, without lingering.
 */
const MAX_EVICTED_LINGERING = 16;
/**
 * The 'maxConnections reached' warnings (503, and idle connections closed
 * for new ones) are each written at most once in this long (ms), as nginx
 * writes its 'reusing connections' one: at the limit with clients coming
 * and going, each close ends a spell at the limit and the next clients
 * start one, which would otherwise be a line per new client.
 */
const LIMIT_WARNING_MS = 1000;
/**
 * A warning written once per spell at `maxConnections` (from reaching the
 * limit to leaving it) and at most once per {@link LIMIT_WARNING_MS}.
 */
class LimitWarning {
  /** The limit was reached and not yet left since the last {@link due}. */
  inSpell = false;
  /** When the warning was last written (`performance.now()`, ms), -Infinity before. */
  #writtenAt = Number.NEGATIVE_INFINITY;

  /** A new event at the limit: whether to write the warning now (the first of a spell, and none in the last second). */
  due(): boolean {
    if (this.inSpell) return false;
    this.inSpell = true;
    const now = performance.now();
    if (now - this.#writtenAt < LIMIT_WARNING_MS) return false;
    this.#writtenAt = now;
    return true;
  }

  /** The server went under the limit: the next event starts a spell. */
  endSpell(): void {
    this.inSpell = false;
  }
}

/**
 * The grid the sweeps a close's graces ask for run on (ms; see
 * `TsgiServer.wakeAt`): deadlines within one slot share one sweep at its
 * end, so a grace ends at most this late, and a close whose many
 * connections' graces end a ms apart runs one sweep (over every
 * connection) per slot, not per ms.
 */
const WAKE_GRID_MS = 10;

/** How long such a connection may take over its handshake, ms (`headerTimeout` when shorter). */
const REFUSED_HANDSHAKE_MS = 10_000;
/**
 * A sweeper tick later than this past its due time (ms) comes after an
 * event-loop stall (synchronous app work, a GC pause, a starved process).
 * Bun runs due timers before it polls the sockets, so such a tick runs
 * before the reads that arrived during the stall are delivered: it closes
 * none of the connections whose deadline passed during the stall, and the
 * next tick (a poll later) does, if they are still silent. Below this, a
 * late tick is ordinary timer jitter.
 */
const STALL_MS = 50;

/**
 * The server. Create with {@link createServer} or {@link serve}.
 *
 * Members not in {@link Server} are the connections' view of the server
 * (`ServerCore`) and the {@link HandlerServer} a `handlerClass` sees; they are
 * public for those, not for applications. Those that name the server's
 * internal types (the access log, the gateway's settings, a connection) are
 * marked internal and left out of the shipped declarations (`stripInternal`).
 */
export class TsgiServer implements Server {
  app: Application;
  /** The options with every default applied. */
  readonly options: ResolvedOptions;
  /** The request parser's limits, from the `urlLengthLimit`, `maxHeaderBytes`, `maxHeaderCount`, `maxChunkExtBytes` and `maxTrailerBytes` options. */
  readonly parserLimits: Partial<ParserLimits>;
  /** The gateway's settings for every request (`debug`, `minimumChunkSize`, the error logger). @internal */
  readonly gateway: GatewayOptions;
  /** The server-level environ keys (`SERVER_SOFTWARE`, `SCRIPT_NAME`, `tsgi.file_wrapper`, the `environ` option's extra keys, ...). @internal */
  readonly environDefaults: EnvironDefaults;
  /** The `environClass` option: makes each request's environ object; undefined for a plain object. */
  readonly environClass: (new (init: Environ) => Environ) | undefined;
  /** The `handlerClass` option (per-connection hooks), or undefined for the default behaviour. */
  readonly handlerClass: RequestHandlerClass | undefined;
  /**
   * The error log (the `errorLog` option) as a `tsgi.errors` stream: what each
   * request's `tsgi.errors` is unless `getStderr()` or the `environ` option
   * gives another (gevent `WSGIServer.error_log`). Writes are dropped when
   * `errorLog` is `null`.
   */
  readonly errors: ErrorStream;
  /** The access log (the `log` option), or `null` when it is off. @internal */
  readonly accessLog: AccessLog | null;
  private readonly accessFormat: (fields: AccessLogFields) => string;
  /** `SERVER_SOFTWARE` and the `Server` response field (the `serverSoftware` option; `""` sends none). */
  readonly serverSoftware: string;
  /** `tsgi.url_scheme`: the `environ` option's `tsgi.url_scheme`, else the `urlScheme` option, else `"https"` with `tls` and `"http"` without. */
  readonly urlScheme: string;
  /** The `maxHttpVersion` option is `"HTTP/1.0"`. */
  readonly http10Only: boolean;
  #serverName = "";
  #serverPort = 0;
  /**
   * `SERVER_NAME` for requests (the `serverName` option, else derived from
   * the bound address); `""` before `listen()`. Read-only (assigning throws
   * a TypeError): the connections' environ templates keep the value they
   * were made with, so a change would reach only some requests. gevent
   * likewise takes `server_name` into its base environ once, at start.
   */
  get serverName(): string {
    return this.#serverName;
  }
  /** `SERVER_PORT` for requests: the bound port; on a Unix socket the scheme's default (80, 443); 0 before `listen()`. Read-only, as {@link serverName}. */
  get serverPort(): number {
    return this.#serverPort;
  }
  #hostname = "";
  #port = 0;
  /**
   * The bound host (after `listen()`; an inherited TCP socket's as
   * `getsockname(2)` reports it; `""` before, and for a Unix socket).
   * Read-only (assigning throws a TypeError), as {@link serverName}: it is
   * where the socket is bound, which an assignment would not move.
   */
  get hostname(): string {
    return this.#hostname;
  }
  /** The bound port (after `listen()`; the real one when 0 was asked; 0 before, and for a Unix socket). Read-only, as {@link hostname}. */
  get port(): number {
    return this.#port;
  }
  /** `close()` was called. */
  closing = false;
  /** `close({ idleGrace })`'s grace, ms; 0 before `close()`. */
  idleGrace = 0;

  /** The Unix socket path when listening on one (for an inherited one, as `getsockname(2)` reports it: `@name` for an abstract socket, `""` when unknown, see {@link url}), else `null`. */
  unix: string | null = null;
  private listener: SocketListener<Connection | undefined> | null = null;
  private readonly conns = new Set<Connection>();
  private sweeper: ReturnType<typeof setInterval> | null = null;
  /**
   * While the server closes, the deadline sweeps asked for by {@link wakeAt},
   * by the time they run at (a multiple of {@link WAKE_GRID_MS}): so a
   * close's grace ends on time (the sweeper ticks up to 1 s apart).
   */
  private readonly wakes = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly errorWriter: LineWriter | null;
  private readonly warned = new Set<string>();
  private closeWaiters: Array<() => void> = [];
  /** Bounded work of stopped requests (bodies closing, posthooks) that `close()` waits for. */
  private readonly abandoned = new Set<Promise<unknown>>();

  /** As {@link createServer}. @throws as {@link createServer}. */
  constructor(app: Application, options: ServerOptions = {}) {
    if (typeof app !== "function") {
      throw new TypeError(`createServer(app): app must be a TSGI application function, got ${app === null ? "null" : typeof app}`);
    }
    this.app = app;
    const o = (this.options = resolveOptions(options));
    this.maxConnections = o.maxConnections;
    this.parserLimits = {
      maxRequestTarget: o.urlLengthLimit,
      maxHeaderBytes: o.maxHeaderBytes,
      maxHeaderCount: o.maxHeaderCount,
      maxChunkExtBytes: o.maxChunkExtBytes,
      maxTrailerBytes: o.maxTrailerBytes,
    };
    this.serverSoftware = o.serverSoftware ?? SERVER_SOFTWARE;
    // The environ option's tsgi.url_scheme (checked by resolveOptions) replaces it, as gevent's and eventlet's environ does.
    const environScheme = environSchemeOf(o) as string | undefined;
    this.urlScheme = environScheme ?? (o.tls && options.urlScheme === undefined ? "https" : o.urlScheme);
    this.http10Only = o.maxHttpVersion === "HTTP/1.0";
    // What the error log throws goes to stderr: a report must not end the process it reports for.
    const errorTarget = o.errorLog === undefined ? process.stderr : o.errorLog;
    // A writable gets tsgi.errors as written, and the server's messages each on a line of their own.
    const writable = errorTarget && "write" in errorTarget && typeof errorTarget.write === "function" ? errorLogWriters(errorTarget) : null;
    const errorWriter = writable ? writable.line : lineWriter(errorTarget, "error");
    this.errorWriter = errorWriter && guardedErrorWriter(errorWriter);
    this.errors = new ErrorLogStream(writable ? writable.stream : this.errorWriter ? (text) => this.errorWriter!(text.replace(/\n$/, "")) : null);
    this.accessFormat = accessLogFormat(o.logFormat);
    this.accessLog = createAccessLog(o.log, this.accessFormat, (context, error) => this.logError(context, error));
    this.gateway = { debug: o.debug, logError: this.logError, minimumChunkSize: o.minimumChunkSize };
    this.environDefaults = {
      serverSoftware: this.serverSoftware,
      fileWrapper,
      multiprocess: o.multiprocess,
      scriptName: o.scriptName,
      // The caller's object itself, TLS or not: a change to it shows in later requests (gevent copies its environ per request).
      extra: o.environ,
    };
    this.environClass = o.environClass;
    this.handlerClass = o.handlerClass;
  }

  /** What a `handlerClass` instance sees of this server. */
  get handlerServer(): HandlerServer {
    return this;
  }

  get url(): string {
    // Where a client reaches this server: the transport's scheme, not tsgi.url_scheme (a proxy's, behind TLS termination).
    const scheme = this.options.tls ? "https" : "http";
    if (this.unix === "") return `${scheme}://unix:(inherited fd ${this.options.fd}, path unknown):/`;
    if (this.unix !== null) return `${scheme}://unix:${this.unix}:/`;
    // RFC 6874: a zone (fe80::1%eth0) as %25eth0, which new URL() and curl take.
    return `${scheme}://${uriHost(this.hostname)}:${this.port}/`;
  }

  get connections(): number {
    return this.conns.size;
  }

  listen(): this {
    if (this.listener) return this;
    const o = this.options;
    let bound: ReturnType<typeof bindListener<Connection | undefined>>;
    try {
      bound = bindListener<Connection | undefined>(o, this.handlers(), undefined, (error, socket) => {
        // The server ended it (headerTimeout, a shutdown's timeout, a refused connection's wait): not the
        // client's failure, and such a close is quiet for a plain connection too.
        if (socket.data ? socket.data.closedInHandshake : this.refusedCut.has(socket)) return;
        const reason = error?.message ?? "unknown error";
        // Keyed by the reason itself: Bun gives most OpenSSL failures the same code (EPROTO).
        this.warnOnce(`tls-handshake:${reason}`, `a TLS handshake failed (${reason}); ${tlsFailureCause(reason, !!o.tls?.requestCert)} (logged once per reason)`);
      });
    } catch (error) {
      // TCP binds only: Unix-socket and inherited-fd errors already name their path or fd.
      throw o.unix === undefined && o.fd === undefined ? listenError(error, o.hostname, o.port) : error;
    }
    this.listener = bound.listener;
    if (bound.backlogUnset) {
      this.errorWriter?.(`Warning: backlog (${o.backlog}) not set: it needs Linux (listen() through bun:ffi on the C library), so the socket listens with Bun's backlog (512)`);
    } else if (o.backlog !== undefined) {
      // The kernel cuts it to net.core.somaxconn without a word (listen(2)); nginx's and Redis's users meet this too.
      const cap = listenBacklogCap();
      if (cap !== undefined && o.backlog > cap) {
        this.errorWriter?.(`Warning: backlog (${o.backlog}) is more than net.core.somaxconn (${cap}), at which the kernel caps it: the socket listens with ${cap}. Raise it (sysctl -w net.core.somaxconn=${o.backlog}, kept in /etc/sysctl.d/) to queue more`);
      }
    }
    this.limitConnectionsToFiles();
    this.#hostname = bound.hostname;
    this.#port = bound.port;
    this.unix = bound.unix;
    // PEP 3333: SERVER_NAME and SERVER_PORT are never empty. A Unix socket has neither: the
    // machine's host name (as for a wildcard bind; uWSGI's http-socket) and the scheme's
    // default port (gunicorn and uWSGI answer 80), so URL reconstruction gives http://host/.
    const wildcard = this.unix !== null || this.hostname === "0.0.0.0" || this.hostname === "::";
    // A machine may have an empty host name (sethostname(2) takes length 0, in a container's UTS namespace): localhost then.
    this.#serverName = o.serverName ?? (wildcard ? osHostname() || "localhost" : this.hostname);
    this.#serverPort = this.unix === null ? this.port : this.urlScheme === "https" ? 443 : 80;
    const shortest = Math.min(
      o.headerTimeout || Infinity,
      o.keepAliveTimeout || Infinity,
      o.bodyTimeout || Infinity,
      o.sendTimeout || Infinity,
      o.requestTimeout || Infinity,
    );
    const interval = Math.max(20, Math.min(1000, Number.isFinite(shortest) ? Math.floor(shortest / 4) : 1000));
    this.tick = interval;
    this.now = performance.now();
    this.sweeper = setInterval(this.sweep, interval);
    this.sweeper.unref?.();
    return this;
  }

  private handlers() {
    type S = Socket<Connection | undefined>;
    return {
      open: (socket: S) => {
        // A connection accepted while closing (it was already queued) is served, not refused:
        // its request gets Connection: close (zero-downtime reloads depend on it).
        if (this.conns.size - this.evicting >= this.maxConnections && !this.evictIdle()) {
          // Over TLS nothing can be sent before the handshake: the 503 waits for it (below),
          // for a bounded number of sockets and a bounded time; past that they are closed unanswered.
          this.noteFull();
          if (!this.options.tls) this.refuse(socket);
          else if (this.refused.size >= MAX_REFUSED_HANDSHAKES) {
            this.refusedCut.add(socket);
            socket.terminate();
          }
          else {
            this.refused.add(socket);
            socket.timeout(Math.ceil(Math.min(this.options.headerTimeout || REFUSED_HANDSHAKE_MS, REFUSED_HANDSHAKE_MS) / 1000));
          }
          return;
        }
        const conn = new Connection(socket as Socket<Connection>, this);
        if (this.unix !== null) conn.environPatch = peerEnviron(socket, this.options.peerCredentials ?? false);
        socket.data = conn;
        this.conns.add(conn);
        if (this.options.tls) conn.inHandshake = true;
        if (this.closing) conn.closeIfIdle();
      },
      handshake: (socket: S, success: boolean) => {
        if (!this.refused.delete(socket)) {
          // Read once per connection: who the client is (its certificate) and how it connected.
          const conn = socket.data;
          if (!conn) return;
          conn.inHandshake = false;
          if (success) {
            conn.environPatch = { ...conn.environPatch, HTTPS: "on", ...tlsEnviron(socket) };
            // Closing: the handshake took its time; its request, due now, gets the usual grace.
            if (this.closing) conn.closeIfIdle();
          }
          return;
        }
        if (success) this.refuse(socket);
        else socket.terminate();
      },
      timeout: (socket: S) => {
        // Only refused TLS sockets have a Bun timeout: a handshake that never completes.
        if (this.refused.delete(socket)) {
          this.refusedCut.add(socket);
          socket.terminate();
        }
      },
      data: (socket: S, data: Buffer) => socket.data?.onData(data),
      drain: (socket: S) => socket.data?.onDrain(),
      end: (socket: S) => {
        if (socket.data) socket.data.onEnd();
        else socket.end();
      },
      close: (socket: S) => {
        if (this.refused.size > 0) this.refused.delete(socket);
        socket.data?.onClose();
      },
      error: (socket: S, error: Error) => {
        const code = errorCode(error);
        if (code && this.options.ignoredSocketErrors.includes(code)) {
          // ignored (EPIPE, ECONNRESET by default: the client went away)
        } else if (this.options.tls && code === "EPROTO") {
          // A TLS protocol error after the handshake is the client's doing (a renegotiation asked for, a
          // corrupt or forged record): one line per reason, as for a failed handshake, not one per connection.
          const reason = error.message || "unknown error";
          this.warnOnce(`tls-protocol:${reason}`, `a TLS connection was closed on a protocol error from the client (${reason}); ${tlsProtocolErrorCause(reason)} (logged once per reason)`);
        } else {
          this.logError("socket", error);
        }
        socket.data?.destroy();
      },
    };
  }

  /** TLS connections over `maxConnections`, answered 503 once their handshake completes (at most {@link MAX_REFUSED_HANDSHAKES}). */
  private readonly refused = new Set<object>();
  /** Refused TLS sockets the server closed before their handshake ended (too many waiting, or the wait ran out): their failed handshake is not logged as the client's. */
  private readonly refusedCut = new WeakSet<object>();

  /**
   * `maxConnections`, or less when the open-file limit could not hold that
   * many connections (see {@link listen}).
   */
  private maxConnections: number;

  /** 'answered 503' (a new connection refused at `maxConnections`): once per spell at the limit, at most one a second. */
  private readonly fullWarning = new LimitWarning();

  /**
   * Each connection holds a descriptor. With `maxConnections` above what the
   * open-file limit allows, descriptors run out first: accept(2) fails in a
   * loop (EMFILE), burning CPU, and new clients wait unanswered instead of
   * getting the 503. So the limit is lowered to fit, leaving room for the
   * listener, the app's own files and the refused connections' 503s, with a
   * warning (nginx warns at startup for the same reason).
   */
  private limitConnectionsToFiles(): void {
    const over = connectionsOverFileLimit(this.maxConnections);
    if (over === null) return;
    this.errorWriter?.(
      `Warning: maxConnections (${this.maxConnections}) is more than the open-file limit (${over.files}) can hold: serving at most ${over.fits} connections. Raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more`,
    );
    this.maxConnections = over.fits;
  }

  /** 'take the place of' (an idle connection closed for a new one, see {@link noteReusing}): once per spell at the limit, at most one a second. */
  private readonly reusingWarning = new LimitWarning();

  /**
   * A new connection took an idle one's place (see {@link evictIdle}): once
   * per spell at the limit, a warning, as nginx's 'worker_connections are
   * not enough, reusing connections', so that a limit set too low is seen
   * before clients get 503s. At most one a second, as nginx's: at the
   * limit with clients coming and going, each close ends a spell and the
   * next two clients start one.
   */
  private noteReusing(): void {
    if (!this.reusingWarning.due()) return;
    this.errorWriter?.(
      `Warning: maxConnections (${this.maxConnections}) reached: new connections take the place of the keep-alive connections idle the longest (or are answered 503 when none is idle) until some close`,
    );
  }

  /** As {@link noteReusing}, for a new connection refused with 503: once per spell, at most one a second. */
  private noteFull(): void {
    if (!this.fullWarning.due()) return;
    this.errorWriter?.(
      `Warning: maxConnections (${this.maxConnections}) reached: new connections are answered 503 until some close`,
    );
  }

  /**
   * At `maxConnections`, close the keep-alive connection idle the longest
   * (between requests, its last response written) to make room for a new
   * one, as nginx reuses idle connections when it runs out: idle keep-alive
   * connections (a browser keeps up to six) would otherwise turn new clients
   * away with 503 while no request is being served. The idle connections are
   * gathered (a scan of all), longest idle first, when none is left from the
   * last gathering: at most {@link MAX_IDLE_GATHERS} times per sweeper tick,
   * and not again in a tick once one found none, so a server full of busy
   * connections is not scanned again for each new one.
   * @returns false when no connection is idle so (every one is busy, or has
   *   not yet sent its first request): the new one is refused.
   */
  private evictIdle(): boolean {
    if (this.idleGatheredAt !== this.now) {
      this.idleGatheredAt = this.now;
      this.idleGathers = 0;
    }
    for (;;) {
      while (this.idleQueueAt < this.idleQueue.length) {
        const [order, conn] = this.idleQueue[this.idleQueueAt++]!;
        // Busy again (or idle again since, so no longer the longest idle), or closed, since it was gathered.
        if (conn.idleOrder() !== order) continue;
        // Closed with a lingering close (a request of its client's on the way is dropped, not reset),
        // not counted while it lingers: a bounded number at a time.
        const linger = this.evicting < MAX_EVICTED_LINGERING;
        // Counted first: its close may come at once (connectionClosed counts it out).
        if (linger) this.evicting++;
        if (!conn.evict(linger) && linger) this.evicting--;
        this.noteReusing();
        return this.conns.size - this.evicting < this.maxConnections;
      }
      if (this.idleGathers >= MAX_IDLE_GATHERS) return false;
      this.idleGathers++;
      const idle: Array<[number, Connection]> = [];
      for (const conn of this.conns) {
        const order = conn.idleOrder();
        if (order >= 0) idle.push([order, conn]);
      }
      this.idleQueue = idle.sort((x, y) => x[0] - y[0]);
      this.idleQueueAt = 0;
      if (idle.length === 0) this.idleGathers = MAX_IDLE_GATHERS;
    }
  }

  /** Connections {@link evictIdle} closed that still linger (not counted against `maxConnections`). */
  private evicting = 0;

  /** Idle connections gathered by {@link evictIdle} with their {@link Connection.idleOrder}, longest idle first; released by the sweeper once the server is not full. */
  private idleQueue: Array<[number, Connection]> = [];
  private idleQueueAt = 0;
  /** The sweeper's clock ({@link now}) of the tick {@link idleGathers} counts in, -1 before. */
  private idleGatheredAt = -1;
  private idleGathers = 0;

  /**
   * Answer a connection over `maxConnections` with 503 and close it. No
   * request was read: its access-log line is `- (refused: maxConnections reached)`,
   * and no `handlerClass` instance exists to log it.
   */
  private refuse(socket: Socket<Connection | undefined>): void {
    const client = socket.remoteAddress || "-"; // gone once the socket ends
    const clientPort = socket.remotePort ?? 0;
    const answer = errorResponse(503, "too many connections", this.serverSoftware);
    socket.end(answer.text);
    this.accessLog?.record(client, clientPort, "- (refused: maxConnections reached)", 503, answer.bodyLength, 0, performance.now());
  }

  private tick = 1000;
  /**
   * The sweeper's last tick, `performance.now()` ms: a monotonic clock, so
   * the wall clock set back or forward (NTP stepping it, `date -s`, a VM's
   * clock synced on resume) neither holds timeouts back nor fires them all.
   */
  private now = performance.now();

  /** The last tick that came after a stall ({@link STALL_MS}), `performance.now()` ms, -Infinity before. */
  private stalledAt = Number.NEGATIVE_INFINITY;
  /** The tick before that one: deadlines up to it still fire while the stall's are held. */
  private heldDue = 0;

  /** The sweeper's coarse monotonic clock for the connections' deadlines (`performance.now()` ms). @internal */
  clock(): number {
    return this.now + this.tick;
  }

  private readonly sweep = (): void => {
    const last = this.now;
    const now = (this.now = performance.now());
    if (this.idleQueue.length > 0 && this.conns.size - this.evicting < this.maxConnections) {
      this.idleQueue = [];
      this.idleQueueAt = 0;
    }
    // After a stall this tick runs before the sockets are read: a request a kept-alive client sent
    // during the stall (or the head of a connection opened before it) sits unread in the kernel.
    // Deadlines that passed since the last tick wait for the next tick, which comes after a poll
    // (at most one tick later, so a client that really sent nothing is still closed). The grace
    // timer's sweep may run in the same timer pass as this tick: it holds them too.
    if (now - last > this.tick + STALL_MS) {
      this.stalledAt = now;
      this.heldDue = last;
    }
    const due = now - this.stalledAt < this.tick / 2 ? this.heldDue : now;
    for (const conn of this.conns) {
      if (conn.deadline !== 0 && conn.deadline <= due) conn.onDeadline();
      if (conn.requestDeadline !== 0 && conn.requestDeadline <= due) conn.onRequestDeadline();
      if (conn.sendDeadline !== 0 && conn.sendDeadline <= due) conn.onSendDeadline();
    }
  };

  /** Write `error` to the error log as `Error in <context>: <its text>` (with a hint under it for a node:http or fetch handler served as a TSGI application); nothing when `errorLog` is `null`. */
  readonly logError = (context: string, error: unknown): void => {
    // ignoredSocketErrors apply to the client's socket only (the error handler above): an app's
    // own ECONNRESET (from its database or a backend) is an application error, logged.
    if (!this.errorWriter) return;
    const detail = errorText(error);
    // A node:http handler (res.end is not a function) or a (request, server) fetch handler (Invalid URL)
    // served by mistake as a TSGI application: say so, under the error.
    const hint = nodeHandlerHint(error) ?? fetchHandlerHint(error);
    // An error's text may quote the client's bytes (a decoded request path): no raw control sequences in the log.
    this.errorWriter(escapeControls(`Error in ${context}: ${detail}${hint === null ? "" : `\n${hint}`}`));
  };

  /** The first lines of the errors {@link logErrorOnce} logged. */
  private readonly loggedOnce = new Set<string>();

  /** {@link logError}, once per distinct first line (at most 64), for errors strangers' connections can repeat. @internal */
  logErrorOnce(context: string, error: unknown): void {
    const key = errorText(error).split("\n", 1)[0]!;
    if (this.loggedOnce.has(key) || this.loggedOnce.size >= LOGGED_ONCE_MAX) return;
    this.loggedOnce.add(key);
    this.logError(context, error);
  }

  /** Access-log line for a response the server made itself (4xx, 503), as `ServerCore` (the connections' view) says. @internal */
  logRequestError(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number, refused: string[] | null = null): void {
    if (!this.accessLog) return;
    const end = performance.now();
    this.accessLog.record(this.accessClient(connection, environ, refused), connection.remotePort, line, status, bodyBytes, startedAt === 0 ? 0 : (end - startedAt) / 1000, end);
  }

  /** Record an access-log line. @internal */
  logAccess(connection: Connection, head: RequestHead, environ: Environ, status: number, bodyBytes: number, startedAt: number): void {
    const end = performance.now();
    this.accessLog!.record(this.accessClient(connection, environ), connection.remotePort, requestLine(head), status, bodyBytes, startedAt === 0 ? 0 : (end - startedAt) / 1000, end);
  }

  /** The access-log fields of one response, for a handler's `logRequest()`; `startedAt` 0 gives 0 s. @internal */
  accessFields(connection: Connection, environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number, refused: string[] | null = null): AccessLogFields {
    return {
      client_ip: this.accessClient(connection, environ, refused),
      client_port: connection.remotePort,
      date_time: logDate(Date.now()),
      request_line: line,
      status_code: status,
      body_length: bodyBytes,
      wall_seconds: wallSeconds(startedAt),
    };
  }

  /**
   * `client_ip`: the peer address, after the `X-Forwarded-For` value when
   * `logXForwardedFor`. The value is the client's: its whitespace is removed
   * (eventlet), only its last {@link LOGGED_FORWARDED_FOR_CHARS} characters
   * are kept (after `...`), and `"`, `\` and bytes outside 0x21–0x7E are
   * written as `\xHH` (nginx's log escaping), so no client can forge a log
   * entry, split the line's fields or make its line much longer than its request.
   * Without an `X-Forwarded-For` field, a request whose `REMOTE_ADDR` the
   * proxy-header middleware replaced (it set `tsgi.proxy_peer`; RFC 7239
   * `Forwarded` with `header: "forwarded"`) has that client before the peer,
   * so the log names the clients behind a proxy that sends `Forwarded` too.
   * A request refused before it had an environ (a 413 from its head, a 400
   * or 417 from field lines the parser refused) takes the value from those
   * fields (`refused`), joined as the environ joins repeated fields.
   */
  private accessClient(connection: Connection, environ: Environ | null, refused: string[] | null = null): string {
    const client = connection.remoteAddress || "-";
    if (environ === null && refused !== null && this.options.logXForwardedFor) {
      const values: string[] = [];
      const f = refused;
      for (let i = 0; i < f.length; i += 2) if (f[i]!.length === 15 && f[i]!.toLowerCase() === "x-forwarded-for" && f[i + 1]) values.push(f[i + 1]!);
      if (values.length) return `${logSafe(values.join(", "))},${client}`;
    }
    if (environ !== null && this.options.logXForwardedFor) {
      try {
        const xff = environ["HTTP_X_FORWARDED_FOR"];
        if (typeof xff === "string" && xff) return `${logSafe(xff)},${client}`;
        const forwarded = environ.REMOTE_ADDR;
        if (typeof environ["tsgi.proxy_peer"] === "string" && typeof forwarded === "string" && forwarded && forwarded !== client) return `${logSafe(forwarded)},${client}`;
      } catch {
        // Keys the app made unreadable (getters that throw, a Proxy): the peer alone.
      }
    }
    return client;
  }

  /** `fields` as one access-log line in the server's `logFormat` (no newline). */
  formatAccessLine(fields: AccessLogFields): string {
    return this.accessFormat(fields);
  }

  /** Append one line (no newline) to the access log (`log`); nothing happens when it is off. Lines are written in batches, at most 10 ms after they were added. */
  writeAccessLine(line: string): void {
    this.accessLog?.writeLine(line);
  }

  /** Warn once per key for the server's lifetime. @internal */
  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.errorWriter?.(`Warning: ${message}`);
  }

  /** Bounded work left by a request the server stopped, which `close()` waits for. @internal */
  trackAbandoned(work: Promise<unknown>): void {
    const tracked: Promise<unknown> = work.then(
      () => this.abandoned.delete(tracked),
      () => this.abandoned.delete(tracked),
    );
    this.abandoned.add(tracked);
  }

  /** A connection closed. @internal */
  connectionClosed(connection: Connection): void {
    if (this.conns.delete(connection) && connection.evicted && this.evicting > 0) this.evicting--;
    if ((this.fullWarning.inSpell || this.reusingWarning.inSpell) && this.conns.size - this.evicting < this.maxConnections) {
      this.fullWarning.endSpell();
      this.reusingWarning.endSpell();
    }
    if (this.closing && this.conns.size === 0) this.finishClose();
  }

  async close(options: CloseOptions = {}): Promise<void> {
    const timeout = options.timeout ?? this.options.shutdownTimeout;
    // Past what a timer holds, setTimeout fires at once: a "wait for ever" would cut every request now.
    checkTimerMs(timeout, "close() option timeout");
    checkTimerMs(options.idleGrace ?? 0, "close() option idleGrace");
    if (!this.closing) {
      this.closing = true;
      this.listener?.stop(false);
      const idleGrace = options.idleGrace ?? 0;
      this.idleGrace = idleGrace;
      const now = performance.now();
      // Each connection given a grace asks for a sweep when it ends (wakeAt).
      for (const conn of [...this.conns]) conn.closeIfIdle(idleGrace, now);
    }
    if (this.conns.size === 0) this.finishClose();
    else {
      const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
      const timer = setTimeout(() => {
        for (const conn of [...this.conns]) conn.cutForShutdown(timeout);
        this.finishClose();
      }, timeout);
      await done;
      clearTimeout(timer);
    }
    // Requests the server stopped (cut by the timeout, or their client left):
    // their bodies' finally blocks, close() and posthooks end before close() resolves.
    // Each is bounded (CUT_REQUEST_CLEANUP_MS from its cut), so this wait is too.
    if (this.abandoned.size > 0) {
      await Promise.all([...this.abandoned]);
      // Their access lines were recorded as they ended, after finishClose()'s flush: a caller may exit as soon as this resolves.
      this.accessLog?.flush();
    }
  }

  /** While the server closes, run the deadline sweep at `at` (`performance.now()` ms, on a 10 ms grid). @internal */
  wakeAt(at: number): void {
    if (!this.closing || this.sweeper === null) return;
    // On a coarse grid: each sweep scans every connection, and a close whose responses end a ms
    // apart asked for one per ms. A grace ends at most WAKE_GRID_MS late.
    const key = Math.ceil(at / WAKE_GRID_MS) * WAKE_GRID_MS;
    if (this.wakes.has(key)) return;
    // +1: a timer may fire within the ms it was due; the sweep must find the deadline passed.
    const timer = setTimeout(() => {
      this.wakes.delete(key);
      this.sweep();
    }, Math.max(0, key - performance.now()) + 1);
    this.wakes.set(key, timer);
  }

  private finishClose(): void {
    for (const timer of this.wakes.values()) clearTimeout(timer);
    this.wakes.clear();
    if (this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
    this.listener?.stop(true);
    this.listener = null;
    this.accessLog?.flush();
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }

  /** `close()` with its defaults, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Seconds since `startedAt` (a `performance.now()` value) for the access log; 0 when it is 0 (the request never started). */
function wallSeconds(startedAt: number): number {
  return startedAt === 0 ? 0 : (performance.now() - startedAt) / 1000;
}

/**
 * Create a server for `app` without binding (call `listen()`).
 * @throws TypeError when `app` is not a function, or an option has the wrong
 *   type (`server option handlerClass must be a RequestHandler subclass,
 *   got ...`; see `resolveOptions()` in `tsgi/server`).
 * @throws RangeError on a bad option value (see `resolveOptions()` in `tsgi/server`).
 * @throws Error on a `logFormat` string that does not compile.
 */
export function createServer(app: Application, options?: ServerOptions): TsgiServer {
  return new TsgiServer(app, options);
}

/** Create a server for `app` and bind it. @throws as {@link createServer} and {@link Server.listen}. */
export function serve(app: Application, options?: ServerOptions): TsgiServer {
  return new TsgiServer(app, options).listen();
}


/**
 * Most characters of a client's `X-Forwarded-For` value (whitespace
 * removed) the access log keeps: its right end, the hops nearest the
 * server (each proxy appends on the right), after `...`. The rest is
 * whatever the client chose to send; logging it whole let one request of
 * 64 KiB write a 256 KiB line (each byte escaped) and cost 15 ms of escaping.
 */
export const LOGGED_FORWARDED_FOR_CHARS = 256;

/**
 * A client-supplied log value without whitespace, at most
 * {@link LOGGED_FORWARDED_FOR_CHARS} of its last characters, with `"`, `\`
 * and non-printable bytes as `\xHH` (nginx).
 */
function logSafe(value: string): string {
  let kept = value.replace(/[ \t]+/g, "");
  if (kept.length > LOGGED_FORWARDED_FOR_CHARS) kept = `...${kept.slice(-LOGGED_FORWARDED_FOR_CHARS)}`;
  return /^[\x21\x23-\x5b\x5d-\x7e]*$/.test(kept)
    ? kept
    : hexEscape(kept, /[^\x21\x23-\x5b\x5d-\x7e]/g);
}
