/**
 * One client connection (gevent's `WSGIHandler` role): feeds the parser,
 * runs one request at a time through the gateway, frames responses
 * (RFC 9112 §6–7), and handles keep-alive, pipelining, 100-continue,
 * timeouts and errors. The framed bytes go to its {@link OutputQueue}
 * (output.ts: coalescing, backlog, backpressure), which tells the
 * connection, its {@link OutputOwner}, when the client falls behind, when a
 * write fails and when everything is written.
 *
 * Its rules, in the order a connection meets them:
 * - what handling one read produces (all the answers to a pipelined batch)
 *   goes out in one write, once the read is handled (the queue is corked);
 *   when an async response keeps pipelined requests waiting, the queue is
 *   held until a response ends with none behind it, or until the next turn
 *   of the event loop, so their answers go out together too;
 * - bytes of a next request that arrive while a response runs, or while
 *   output waits for the client to take it (the queue's backlog), are held
 *   (`stash`, the socket paused past {@link MAX_STASH}) and parsed once both
 *   are done;
 * - while output waits, the client must take some of it within each
 *   `sendTimeout`, else the connection is cut;
 * - between requests the keep-alive clock runs once the last response is
 *   all written;
 * - once a close is decided (`endAfterFlush`, then `ending`) no further
 *   request is parsed or answered (RFC 9112 §9.6), and the queue takes no
 *   more output once the FIN is sent;
 * - while the server closes gracefully, the requests whose heads were
 *   already received at its bound ({@link Connection.closeBound}) are
 *   answered in order, the last with `Connection: close`; no byte received
 *   after it starts a request;
 * - the close is a lingering one: FIN, then reading and dropping until the
 *   client closes ({@link Connection.shutdown}).
 * @module
 */
import type { Socket } from "bun";
import { httpDate } from "../http/date.ts";
import { HttpError } from "../http/errors.ts";
import { RequestParser, type ParserHandler, type RequestHead } from "../http/parser.ts";
import { ConnectionField, continueHead, eqLower, errorResponse, responseHead } from "./response-head.ts";
import { isHopByHopFor } from "../gateway/hop-by-hop.ts";
import { buildEnviron, environFrom, environTemplate, type EnvironSource } from "../gateway/environ.ts";
import { RequestInput, type InputControl } from "../gateway/input.ts";
import { defineSignal, RequestSignal, wantsSignal } from "../gateway/signal.ts";
import { runApplication, type ChunkOwner, settledWithin, type GatewayOptions, type ResponseSink, type Running } from "../gateway/run.ts";
import { ClientDisconnected } from "../gateway/client-disconnected.ts";
import { hasPosthooks, runPosthooks, takePosthooks } from "../gateway/posthooks.ts";
import { contentLengthValue, excessBodyError, shortBodyError } from "../gateway/response-fields.ts";
import type { Environ, ErrorStream, ResponseHeaders } from "../spec.ts";
import type { ServerCore } from "./core.ts";
import { RequestHandler } from "./handler.ts";
import { checkEnviron, checkStderr, failedHookGateway, failingApp, logRejection, type HookFailure } from "./hooks.ts";
import { rejectedLine, requestLine } from "./log.ts";
import { OutputQueue, type OutputOwner } from "./output.ts";
import { CUT_REQUEST_CLEANUP_MS, LINGER_MAX_MS, LINGER_MS, MAX_DRAIN, MAX_STASH, POSTHOOK_CLOSE_GRACE_MS, SHUTDOWN_HEAD_GRACE_MS } from "./connection-bounds.ts";

export { CUT_REQUEST_CLEANUP_MS };

/** The placeholders {@link environSource} holds between requests. */
const NO_FIELDS: string[] = [];
const NO_INPUT = new RequestInput(null);
const NO_ERRORS: ErrorStream = { flush() {}, write() {}, writelines() {} };
/**
 * What {@link Connection.startRequest} gives `buildEnviron`, filled in for
 * each request (`buildEnviron` reads it synchronously and keeps none of it),
 * then emptied again, so that it holds nothing of a request: one object for
 * all connections rather than one per connection (or per request).
 */
const environSource: EnvironSource = {
  method: "",
  target: "",
  version: "",
  fields: NO_FIELDS,
  remoteAddr: "",
  remotePort: 0,
  serverName: "",
  serverPort: 0,
  urlScheme: "",
  input: NO_INPUT,
  errors: NO_ERRORS,
};

const enum Framing {
  /** No body bytes on the wire (HEAD, 1xx, 204, 304). */
  None,
  /** Content-Length. */
  Length,
  /** Transfer-Encoding: chunked. */
  Chunked,
  /** Delimited by closing the connection (HTTP/1.0 without a length). */
  Close,
}

const enum Deadline {
  None,
  /** Waiting for a request head to complete (slowloris). */
  Head,
  /** Idle keep-alive connection. */
  Idle,
  /** A body read is waiting for bytes. */
  Body,
  /** Closed for writing; waiting for the client to close (lingering close). */
  Linger,
}

/** Connections that went idle between requests so far, in this process: orders them for {@link Connection.idleOrder}. */
let idleCount = 0;

/**
 * An error the server reports about a request it ended itself (a timeout,
 * the shutdown): its stack would show only the server's own frames, which
 * tell the operator nothing, so the log line is the message alone.
 */
function serverEvent(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

const CRLF = "\r\n";

/**
 * A connection. It is the parser's handler, the gateway's response sink, the
 * request input's control and its output queue's owner, so one object per
 * connection serves all four.
 */
export class Connection implements ParserHandler, ResponseSink, InputControl, OutputOwner {
  private readonly parser: RequestParser;
  private readonly output: OutputQueue;

  // Request state
  private head: RequestHead | null = null;
  /** The head of the last finished exchange: the request a response still going out answers (sendTimeout's log line). */
  private lastHead: RequestHead | null = null;
  private newHead = false;
  private messageDone = false;
  private input: RequestInput | null = null;
  /** The current request's `tsgi.signal`, until its response is done. */
  private signal: RequestSignal | null = null;
  private environ: Environ | null = null;
  /** The head and `tsgi.errors` of the last request that {@link startRequest} built an environ for. */
  private environHead: RequestHead | null = null;
  private environErrors: ErrorStream | null = null;
  /**
   * An environ to copy for a request whose head is {@link templateHead}
   * (the parser hands a repeated keep-alive head out again as the same
   * object, as long as nobody changed it) and whose `tsgi.errors` is
   * {@link templateErrors}: see `environFrom`. Never made when the server
   * has an `environ` option: its object is the caller's, whose later
   * changes each new environ shows.
   */
  private template: Environ | null = null;
  private templateHead: RequestHead | null = null;
  private templateErrors: ErrorStream | null = null;
  private running: Running | null = null;
  private responding = false;
  private draining = false;
  private drained = 0;
  /**
   * When the unread body of a request answered early must be done (its
   * drain, and the lingering close after it, together): {@link LINGER_MAX_MS}
   * from the response's end, on the server's clock; 0 when no drain runs.
   * `bodyTimeout` bounds the wait between its bytes, this their total (nginx
   * `lingering_time` over its discarded body): else a client that sends a
   * byte just within each `bodyTimeout` held the connection for good.
   */
  private drainUntil = 0;
  /** Body bytes received for the current request (for `maxRequestBodySize`, and whether a client asked to wait for `100 Continue` is sending). */
  private bodyReceived = 0;
  /** A head refused before the app ran (413): its request line is logged. */
  private refusedHead: RequestHead | null = null;
  /** A chunked body grew past `maxRequestBodySize`: the rest of the input is ignored until the connection closes. */
  private bodyRefused = false;
  /**
   * The request body stopped arriving: no byte of it for `bodyTimeout` (the
   * app's read got a 408, or the drain of a body answered early was given
   * up). The connection closes; its lingering close waits {@link LINGER_MS},
   * not `bodyTimeout` again, for a client already silent that long.
   */
  private bodyStalled = false;
  /** Bytes held behind the response in progress: the first piece, then the reads after it (joined once, on resuming). */
  private stash: Uint8Array | null = null;
  private stashMore: Uint8Array[] | null = null;
  private stashBytes = 0;
  /** The socket is paused because the stash went past {@link MAX_STASH}. */
  private stashPaused = false;
  /**
   * The socket is paused because the request's `tsgi.input` buffered past its
   * high-water mark while the body was still arriving (cleared once it is all
   * in: {@link onMessageComplete}). The socket reads again only when neither this nor
   * {@link stashPaused} holds it: the body's reader resuming must not let in
   * the pipelined bytes the stash refused, nor the stash resuming the body.
   */
  private inputPaused = false;
  /** The latest a lingering close may last (`performance.now()` ms, the server's clock). */
  private lingerUntil = 0;
  /** How long a lingering close waits for the client's next byte (ms): {@link LINGER_MS}, or `bodyTimeout` while a request body answered early, or refused with 413, is still arriving (not one whose bytes already stopped for `bodyTimeout`: see {@link shutdown}). */
  private lingerGap = LINGER_MS;
  /** The idle time allowed before the next request, armed once the output is out (ms). */
  private idleMs = 0;
  /** When the connection last went idle between requests, as {@link idleCount} then (see {@link idleOrder}). */
  private idleSeq = 0;
  private peerEnded = false;
  /** Any byte arrived on this connection. */
  private received = false;
  /** The connection cannot carry another request (lost framing). */
  private mustClose = false;
  /** Bytes read from the socket so far (the stream offset just past the last read). */
  private bytesReceived = 0;
  /** The stream offset of the next byte the parser has not taken (bytes held in the stash are past it). */
  private parsedTo = 0;
  /**
   * While the server closes gracefully: the stream offset past which no
   * request starts, -1 when none is set. It is {@link bytesReceived} at the
   * moment the close began for a connection with a request in progress (or
   * bytes held behind one), else when the connection's first request after
   * that starts. Requests whose heads lie wholly before it are answered, in
   * order, as the client sent them (a pipelined batch it wrote at once, which
   * a pipelining client will not resend if it holds a POST): the last of them
   * with `Connection: close`. A head cut by it is not started, and no byte
   * after it starts a request, so a client that keeps pipelining cannot keep
   * the connection open; the shutdown timeout still cuts whatever runs.
   * (nginx's graceful stop answers only the request in progress, and the
   * connection then closes with the rest unanswered.)
   */
  private closeBound = -1;
  /** The current response promised keep-alive before the server's close began (see {@link finishExchange}). */
  private keptAliveBeforeClose = false;
  /** While {@link feed} starts or finishes a request: its bytes and the index of the first the parser has not taken, for {@link headWithinBound}. */
  private feeding: Uint8Array | null = null;
  private feedingAt = 0;
  private startedAt = 0;

  // Response state
  private framing = Framing.None;
  private remaining = 0;
  private pendingHead: Uint8Array | string | null = null;
  /** What {@link start} built {@link pendingHead} from, to build it again with `Connection: close` (see {@link write}). */
  private headStatus = "";
  private headFields: ResponseHeaders | null = null;
  private headDate: string | null = null;
  private headServer: string | null = null;
  private headLength = -1;
  private responseKeepAlive = true;
  private statusCode = 0;
  private bodyBytes = 0;
  private overflowed = false;
  private started = false;

  // Closing state
  private endAfterFlush = false;
  /** The response was cut ({@link abort}) and its end is the connection's close: end with a reset, not a FIN. */
  private resetAtEnd = false;
  /** A response on this connection ended before the current one: its bytes may still be on their way. */
  private answered = false;
  private ending = false;

  /** `true` once the socket closed. */
  closed = false;
  /** When the current deadline expires (`performance.now()` ms), 0 for none. */
  deadline = 0;
  /** When the request being answered must be done (`performance.now()` ms, `requestTimeout`), 0 for none. */
  requestDeadline = 0;
  /** When the client must have taken more of the backlog (`performance.now()` ms, `sendTimeout`), 0 when nothing waits. */
  sendDeadline = 0;
  private deadlineKind = Deadline.None;

  /** The `handlerClass` instance for this connection, if one is configured. */
  private readonly handler: RequestHandler | null;
  /** The handler overrides `logRequest()` or `formatRequest()`: access-log records go through it. */
  private readonly handlerLogs: boolean;
  /** The gateway settings: the server's, or a copy whose `handleError` is the handler's. */
  private readonly gateway: GatewayOptions;
  /** The `handlerClass` constructor threw: the connection's first request is answered 500 for it, and the connection closed. */
  private handlerFailure: HookFailure | null = null;
  /** A request was failed for {@link handlerFailure}, which logged it with its request line. */
  private handlerFailureLogged = false;
  /** Keys set on every request's environ after it is built (Unix sockets: empty ports, peer credentials), or `null`. */
  environPatch: Record<string, string> | null = null;
  /**
   * A TLS connection whose handshake has not ended yet (set by the server at
   * accept, cleared when the handshake ends). A graceful shutdown leaves it
   * its `headerTimeout` (counted from the accept, as for any new connection;
   * nginx's graceful stop does not close a connection in its handshake
   * either, its `client_header_timeout` covers it) rather than
   * `SHUTDOWN_HEAD_GRACE_MS` (1 s): a handshake is round trips and key
   * exchange, which a loaded machine can take longer than that over, and
   * closing it then loses a request its client will send at once. The
   * shutdown's timeout bounds it ({@link cutForShutdown}); once the
   * handshake ends, the server calls {@link closeIfIdle} again and the
   * request gets the usual grace.
   */
  inHandshake = false;
  /**
   * The server ended this connection while it was {@link inHandshake} (its
   * `headerTimeout`, a shutdown's timeout): the failed handshake Bun then
   * reports ("disconnected before secure TLS connection was established")
   * is the server's doing, and is not logged as the client's.
   */
  closedInHandshake = false;
  /** The client's address, read once (the socket getters cross into native code); `""` over a Unix socket. */
  readonly remoteAddress: string;
  /** The client's port, read once; 0 over a Unix socket. */
  readonly remotePort: number;

  constructor(
    /** The client's socket (TCP, TLS or Unix). */
    readonly socket: Socket<Connection>,
    private readonly core: ServerCore,
  ) {
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    let handler: RequestHandler | null = null;
    if (core.handlerClass) {
      try {
        handler = new core.handlerClass(core.handlerServer, this.remoteAddress, this.remotePort);
      } catch (error) {
        this.handlerFailure = { hook: "the handlerClass constructor", error };
      }
    }
    this.handler = handler;
    this.handlerLogs =
      handler !== null && (handler.logRequest !== RequestHandler.prototype.logRequest || handler.formatRequest !== RequestHandler.prototype.formatRequest);
    this.gateway =
      handler !== null && handler.handleError !== RequestHandler.prototype.handleError
        ? { ...core.gateway, handleError: (error, environ) => handler.handleError(error, environ) }
        : core.gateway;
    this.parser = new RequestParser(this, core.parserLimits);
    this.output = new OutputQueue(socket, this);
    this.setDeadline(Deadline.Head, core.options.headerTimeout);
  }

  // ---------------------------------------------------------------- socket events

  /** Bytes from the client, read now or held behind a response ({@link resumeStash}): parse them, or hold them. */
  onData(data: Uint8Array): void {
    if (this.closed) return;
    // (Counted here rather than in a wrapper: a call of its own per read cost about 2 % of a GET's path.)
    this.bytesReceived += data.length;
    if (this.ending || this.endAfterFlush) {
      // The connection is closing: no further request is read (RFC 9112
      // §9.6), the bytes are dropped. Lingering, the client is still
      // sending: wait a little longer.
      if (this.ending) {
        // Bytes of a body refused with 413 still coming: its client sends it all before it reads
        // the answer, as one whose upload was answered early does (see shutdown()).
        // Once a Content-Length one is all in, its client is reading the answer: back to LINGER_MS.
        if (this.refusedHead !== null && !this.bodyRefused && !this.bodyStalled) this.lingerGap = this.refusedBodyComing() ? this.bodyLingerGap(LINGER_MAX_MS) : LINGER_MS;
        else if (this.lingerGap === LINGER_MS && this.bodyRefused && !this.bodyStalled) this.lingerGap = this.bodyLingerGap(LINGER_MAX_MS);
        // While the server closes, lingerUntil is on the precise clock (see shutdown()).
        const left = this.lingerUntil - (this.core.closing ? performance.now() : this.core.clock());
        if (left > 0) this.setDeadline(Deadline.Linger, Math.min(this.lingerGap, left));
      }
      return;
    }
    this.received = true;
    if (this.messageDone && (this.responding || this.output.blocked)) {
      // A pipelined request behind one still being answered, or behind
      // output the client has not taken yet: hold it, so that a client that
      // sends without reading cannot pile up responses in memory.
      // Kept as a list: joining on every read would copy the held bytes again per read (quadratic).
      if (this.stash === null) {
        this.stash = data;
        this.stashBytes = data.length;
      } else {
        (this.stashMore ??= []).push(data);
        this.stashBytes += data.length;
      }
      if (this.stashBytes > MAX_STASH && !this.stashPaused) {
        this.stashPaused = true;
        this.socket.pause();
      }
      return;
    }
    // What the read produces (all the answers to a pipelined batch) goes out in one write, at the end.
    this.output.cork();
    try {
      this.feed(data);
      // After FIN, a request left incomplete by the last bytes can never finish: one not
      // started is answered 400 or dropped (endAfterFin); the body of one that started (held
      // behind an earlier response) fails as the running one's did at the FIN (onEnd), not
      // after bodyTimeout with a 408.
      if (this.peerEnded && !this.closed && !this.ending) {
        if (!this.responding) this.endAfterFin();
        else if (this.input && !this.messageDone) this.input.fail(new ClientDisconnected());
      }
    } finally {
      // Pipelined requests wait behind an async response: their answers go out with it, as a
      // synchronous batch's do (end() releases the hold at the last of them; a macrotask at the latest).
      if (this.responding && (this.stash !== null || this.output.held)) this.output.hold();
      else this.output.release();
      this.output.uncork();
    }
  }

  /** The client sent FIN. */
  onEnd(): void {
    this.peerEnded = true;
    if (this.ending) {
      // Our FIN is out and the client's is in: nothing is left unread, so a plain close loses nothing.
      this.closeNow();
      return;
    }
    // The body can never end: the app's reads reject with a ClientDisconnected (a FIN is also how a
    // client that left closes); if the app passes it on with nothing sent, the client gets a 400
    // (responseDone), since a half-closed one still reads.
    if (this.input && !this.messageDone) this.input.fail(new ClientDisconnected());
    // The client closed its side before the response ended: its request's tsgi.signal aborts, as
    // Bun.serve aborts request.signal (and nginx takes it for 499), and so do those of the requests
    // pipelined behind it (startRequest). The responses still go out if the app makes them: a
    // client that only half-closed gets them.
    if (this.responding) this.signal?.abort(new ClientDisconnected());
    // Requests held behind unsent output are still answered (resumeStash closes after them).
    if (!this.responding && this.stash === null) this.endAfterFin();
  }

  /**
   * Close after the client's FIN with no request running: a request head begun and never
   * finished is answered 400 first (and logged), as node:http answers it (nginx logs 400), since
   * a half-closed client still reads; a connection between requests closes quietly.
   */
  private endAfterFin(): void {
    if (!this.draining && !this.parser.idle && !this.parser.inBody) {
      this.sendError(new HttpError(400, "the client ended the connection in the middle of the request head"));
    } else {
      this.closeAfterFlush();
    }
  }

  /** The socket can take more output. */
  onDrain(): void {
    this.output.onDrain();
  }

  /** The socket closed (either side). */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.deadline = 0;
    this.sendDeadline = 0;
    this.output.close();
    if (this.input && !this.input.complete) this.input.fail(new ClientDisconnected());
    if (this.responding) this.signal?.abort(new ClientDisconnected());
    this.signal = null;
    if (this.responding && this.running) {
      const r = this.running.abandon();
      // The server's close() waits for it (bounded), so a stop does not cut the body's finally and close().
      if (r) this.core.trackAbandoned(settledWithin(r, POSTHOOK_CLOSE_GRACE_MS));
    }
    // No request reached the app to fail for it (a probe, a port scanner, a malformed first
    // request): logged still, but once per distinct error, as such connections can come by the thousand.
    if (this.handlerFailure !== null && !this.handlerFailureLogged) {
      this.core.logErrorOnce(`${this.handlerFailure.hook} (a connection from ${this.remoteAddress || "a Unix socket"} that ended before a request reached the application; logged once per distinct error)`, this.handlerFailure.error);
    }
    this.core.connectionClosed(this);
  }

  /** A deadline passed (called by the server's sweeper). */
  onDeadline(): void {
    if (this.inHandshake) this.closedInHandshake = true;
    const kind = this.deadlineKind;
    this.deadline = 0;
    this.deadlineKind = Deadline.None;
    switch (kind) {
      case Deadline.Idle:
        this.closeAfterFlush();
        break;
      case Deadline.Head:
        if (this.responding) break;
        // A connection that never sent a byte (a browser's preconnect) is
        // closed quietly, as nginx does: an unrequested 408 on it is read
        // by some clients as a stray response. A started head gets 408.
        if (!this.received) this.closeAfterFlush();
        else this.sendError(new HttpError(408, "the request head did not arrive in time"));
        break;
      case Deadline.Body:
        this.bodyStalled = true;
        if (this.draining) {
          // The response is out; the rest of the body did not come.
          this.draining = false;
          this.closeAfterFlush();
          break;
        }
        // The client stopped sending the body it announced: the app's read
        // rejects, and the answer is 408 as for a malformed body (nginx's
        // client_body_timeout), unless the response has begun.
        this.bodyFailed(new HttpError(408, `the request body stopped arriving: no bytes for ${this.core.options.bodyTimeout} ms (bodyTimeout)`));
        break;
      case Deadline.Linger:
        // No reset: a client still reading the last response (its tail may
        // sit in the kernel's send buffer) gets all of it. Bytes still
        // arriving unread make the kernel reset the connection anyway.
        this.closeNow();
        break;
    }
  }

  /** `requestTimeout` passed: abandon the application, answer 503 or cut the response. */
  onRequestDeadline(): void {
    this.requestDeadline = 0;
    if (!this.responding || this.closed) return;
    const timeout = this.core.options.requestTimeout;
    this.core.logError(requestLine(this.head), serverEvent(`the application did not finish its response within requestTimeout (${timeout} ms); abandoned`));
    this.mustClose = true;
    const timedOut = new Error(`request timed out after ${timeout} ms`);
    this.input?.fail(timedOut);
    this.abandonApplication(timedOut);
    if (!this.started) {
      this.responding = false;
      this.sendError(new HttpError(503, `the application did not answer within ${timeout} ms`));
    } else {
      this.destroy();
    }
  }

  /**
   * Stop the running application (iteration stopped, body `close()`d) for a
   * response the server ends itself. Posthooks still run, after the body's
   * close() settles, or after a grace when the body hangs (a generator stuck
   * in an await cannot finish its return()). runPosthooks takes the hooks,
   * so they run once even if the response later ends normally.
   */
  private abandonApplication(reason: unknown): void {
    // The server gives up on the request: tsgi.signal tells the app to stop its work too.
    this.signal?.abort(reason);
    this.signal = null;
    const r = this.running?.abandon();
    const environ = this.environ;
    // Taken now: the access-log path (afterResponse) then runs none before close() settles.
    const hooks = environ === null ? [] : takePosthooks(environ);
    if (environ !== null && hooks.length > 0) {
      const logError = this.core.logError;
      const closed = r ? settledWithin(r, POSTHOOK_CLOSE_GRACE_MS) : Promise.resolve();
      // Bounded as a whole: a posthook that never settles must not hold the server's close() (or its environ) for ever.
      this.core.trackAbandoned(settledWithin(closed.then(() => runPosthooks(environ, logError, hooks)), CUT_REQUEST_CLEANUP_MS));
    } else if (r) {
      this.core.trackAbandoned(settledWithin(r, POSTHOOK_CLOSE_GRACE_MS));
    }
  }

  /** `sendTimeout` passed with output still waiting: the client stopped reading. */
  onSendDeadline(): void {
    this.sendDeadline = 0;
    if (this.closed || !this.output.blocked) return;
    this.core.logError(requestLine(this.head ?? this.lastHead), serverEvent(`the client took no response bytes for ${this.core.options.sendTimeout} ms (sendTimeout); closing the connection`));
    this.destroy();
  }

  /** Restart the `sendTimeout` clock: output is waiting and the socket just took some, or none yet. */
  private armSendDeadline(): void {
    const ms = this.core.options.sendTimeout;
    this.sendDeadline = ms > 0 ? this.core.clock() + ms : 0;
  }

  private setDeadline(kind: Deadline, ms: number): void {
    this.deadlineKind = kind;
    if (kind === Deadline.None || ms <= 0) this.deadline = 0;
    else if (kind !== Deadline.Body && this.core.closing) {
      // A grace the server's close gives (idleGrace once a keep-alive response is out, the 1 s
      // for a head begun in it, the LINGER_MS a lingering close keeps) ends on time: counted from
      // now, swept then. On the coarse clock it lasted up to two sweeper ticks longer (a 300 ms
      // idleGrace held close() about 1.5 s, the linger's 2 s about 2.9 s).
      this.deadline = performance.now() + ms;
      this.core.wakeAt(this.deadline);
    } else this.deadline = this.core.clock() + ms;
  }

  /**
   * How long a request head begun on an idle keep-alive connection may take
   * to arrive (ms, 0 for no limit): `headerTimeout`; while the server closes,
   * `SHUTDOWN_HEAD_GRACE_MS` (1 s; `headerTimeout` if shorter), the time
   * {@link closeIfIdle} gives a head already begun when the close starts.
   */
  private headDueMs(): number {
    const ms = this.core.options.headerTimeout;
    return this.core.closing && (ms <= 0 || ms > SHUTDOWN_HEAD_GRACE_MS) ? SHUTDOWN_HEAD_GRACE_MS : ms;
  }

  // ---------------------------------------------------------------- parsing

  private feed(data: Uint8Array): void {
    if (this.bodyRefused) return;
    const end = data.length;
    // The stream offset of data[0]: what is fed always follows what the parser took.
    const base = this.parsedTo;
    let at = 0;
    while (!this.closed && !this.ending) {
      // The server is closing: a head is parsed only from bytes received by the bound (a started
      // request's body may come after it). At the bound, no further request starts: close.
      let stop = end;
      if (this.closeBound >= 0 && !this.parser.inBody && this.closeBound - base < end) {
        stop = Math.max(this.closeBound - base, at);
        if (at >= stop) {
          this.closeAfterFlush();
          return;
        }
      }
      try {
        at = this.parser.execute(stop === end ? data : data.subarray(0, stop), at);
      } catch (error) {
        // A head refused with 413 from onHead: the parser took it whole, and the bytes after it in
        // this read are its body's (the lingering close reads them as a body still arriving: shutdown()).
        if (this.refusedHead !== null && !this.bodyRefused) this.parsedTo = base + this.parser.headEnd;
        this.parseFailed(error);
        return;
      }
      this.parsedTo = base + at;
      if (this.newHead) {
        this.newHead = false;
        // The first request after the close began: the bytes received so far may still start requests.
        if (this.core.closing && this.closeBound < 0) this.closeBound = this.bytesReceived;
        this.feeding = data;
        this.feedingAt = at;
        this.startRequest();
        this.feeding = null;
        // Answered synchronously before its body arrived: drain or close.
        if (!this.responding && !this.messageDone) this.startDraining();
      }
      // messageDone stays true between requests (until the next head): only
      // an exchange still open (its head set) is finished here. Finishing it
      // again on each piece of the next head restarted the keep-alive clock
      // over that head's headerTimeout, so a second head could trickle forever.
      if (this.messageDone && this.head !== null) {
        if (this.responding) {
          if (at < end) this.hold(data.subarray(at));
          return;
        }
        this.feeding = data;
        this.feedingAt = at;
        const stays = this.finishExchange(at < end);
        this.feeding = null;
        if (!stays) return;
        if (this.output.blocked && at < end) {
          // The client is not taking the answers: hold the rest until it does.
          this.hold(data.subarray(at));
          return;
        }
      }
      if (at >= end) {
        // A request head has begun (in this read, or in one before, while the connection was
        // idle between requests, even right after an exchange that finished in this same read):
        // it is due within headerTimeout, not the keep-alive time. Empty lines alone (RFC 9112
        // §2.2) leave the connection idle. While the server closes (a head begun in close()'s
        // idleGrace), within SHUTDOWN_HEAD_GRACE_MS, as a head begun before the close: else a
        // client trickling it would hold the close for headerTimeout, cut only by its timeout.
        if (this.deadlineKind === Deadline.Idle && !this.parser.idle) this.setDeadline(Deadline.Head, this.headDueMs());
        return;
      }
    }
  }


  onHead(head: RequestHead): void {
    // RFC 9110 §15.5.14: a declared body over the limit is refused before the
    // app runs and before any 100 Continue. Thrown into the parser, it ends
    // this connection's parsing as a malformed request would.
    const max = this.core.options.maxRequestBodySize;
    if (max > 0 && head.contentLength > max) {
      this.refusedHead = head;
      throw new HttpError(413, `the request body (Content-Length ${head.contentLength}) is larger than maxRequestBodySize (${max} bytes)`);
    }
    this.bodyReceived = 0;
    this.head = head;
    this.newHead = true;
    this.messageDone = false;
    this.draining = false;
    this.setDeadline(Deadline.None, 0);
    // Created here, not when the app starts: body bytes that came in the same
    // packet as the head are delivered before execute() returns.
    this.input = head.chunked || head.contentLength > 0 ? new RequestInput(this, head.expectContinue) : RequestInput.bodiless();
  }

  onBody(chunk: Uint8Array): void {
    if (this.draining) {
      this.drained += chunk.length;
      const left = this.drainUntil - this.core.clock();
      if (this.drained > MAX_DRAIN || left <= 0) {
        this.draining = false;
        this.closeAfterFlush();
        return;
      }
      if (this.deadlineKind === Deadline.Body) this.setDeadline(Deadline.Body, this.drainGap(left));
      return;
    }
    const max = this.core.options.maxRequestBodySize;
    this.bodyReceived += chunk.length;
    if (max > 0 && this.bodyReceived > max) {
      // A chunked body past the limit: the app's read rejects, 413 or a cut response (bodyFailed).
      this.bodyRefused = true;
      // Over the limit in the head's own packet, before the app ran: log the request line all the same.
      if (!this.responding) this.refusedHead = this.head;
      throw new HttpError(413, `the request body grew past maxRequestBodySize (${max} bytes)`);
    }
    // The socket's own bytes (Bun reads each packet into a Buffer of its own; the stash holds those or
    // copies): never a view of shared memory, which tsgi.input must not hand out (spec.ts InputStream).
    this.input?.push(chunk as Uint8Array<ArrayBuffer>);
  }

  onMessageComplete(): void {
    this.messageDone = true;
    this.input?.end();
    // The whole body is in: tsgi.input's pause at its high-water mark holds nothing back any more
    // (bytes past the body start a next request, which the stash holds, within MAX_STASH). Left
    // set, it kept the socket paused, and mayStillSend() true for a client done sending: a
    // lingering close (a 503 at requestTimeout) then held server.close() for LINGER_MS.
    if (this.inputPaused) this.resume();
  }

  private parseFailed(error: unknown): void {
    const httpError = error instanceof HttpError ? error : new HttpError(400, "malformed request");
    if (!(error instanceof HttpError)) this.core.logError("request parser", error);
    if (this.draining) {
      // The request was answered already: a second, unrequested response
      // could be read as the answer to the client's next request. Close.
      this.draining = false;
      this.closeAfterFlush();
      return;
    }
    if (this.responding) return this.bodyFailed(httpError);
    this.sendError(httpError);
  }

  /**
   * The request body cannot be read to its end (malformed chunked framing,
   * `bodyTimeout`) while the app runs: its reads reject with `error`; if
   * nothing was sent yet, the app is abandoned and the client gets `error`'s
   * status instead of whatever the app would answer to a failed read (a 500
   * for a client's fault). Either way the connection closes after the
   * response: the body's framing is lost.
   */
  private bodyFailed(error: HttpError): void {
    this.input?.fail(error);
    if (!this.started) {
      this.abandonApplication(error);
      this.responding = false;
      this.sendError(error);
    } else {
      this.mustClose = true;
      this.responseKeepAlive = false;
    }
  }

  /** Answer a request we could not accept: status, `Connection: close`, close. */
  sendError(error: HttpError): void {
    if (this.closed || this.ending || this.endAfterFlush) return;
    // The environ exists when the app was running (requestTimeout's 503, bad
    // chunked framing while it read): that request's line is logged. A
    // request rejected before it reached the app is logged as rejected.
    const environ = this.environ;
    const refused = this.refusedHead;
    // A request the parser rejected has no head: its request-line said whether it is a HEAD.
    const method = environ !== null ? this.head?.method : refused?.method;
    const head = method !== undefined ? method === "HEAD" : this.parser.isHead;
    const core = this.core;
    const answer = errorResponse(error.status, error.message, core.serverSoftware, head, core.http10Only ? "HTTP/1.0" : "HTTP/1.1");
    this.output.out(answer.text);
    const line = environ !== null && this.head !== null ? requestLine(this.head) : refused !== null ? requestLine(refused) : rejectedLine(error);
    const startedAt = environ !== null ? this.startedAt : 0;
    // A request refused before the app had it: the X-Forwarded-For of its head (413), or of the field lines the parser refused (400, 417).
    const fields = environ !== null ? null : (refused?.fields ?? this.parser.rejectedFields);
    if (this.handlerLogs) this.handlerLogRequest(environ, line, error.status, answer.bodyLength, startedAt, fields);
    else this.core.logRequestError(this, environ, line, error.status, answer.bodyLength, startedAt, fields);
    this.closeAfterFlush();
  }

  // ---------------------------------------------------------------- requests

  private startRequest(): void {
    const head = this.head!;
    const core = this.core;
    // Application code runs again (environClass, the handler, the app): an earlier array body's chunks still queued in this batch are copied.
    this.output.takeLent();
    this.responding = true;
    this.started = false;
    this.pendingHead = null;
    this.bodyBytes = 0;
    this.overflowed = false;
    this.statusCode = 0;
    this.drained = 0;
    if (core.accessLog || this.handlerLogs) this.startedAt = performance.now();
    const input = this.input!;
    // The hooks are application code: what they throw (or a wrong value) fails this request as the app's error would.
    const handler = this.handler;
    let failure = this.handlerFailure;
    let errors = core.errors;
    if (handler !== null) {
      try {
        errors = checkStderr(handler.getStderr());
      } catch (error) {
        failure = { hook: "RequestHandler.getStderr()", error };
      }
    }
    let environ: Environ;
    if (head === this.templateHead && errors === this.templateErrors) environ = environFrom(this.template!, input);
    else {
      const src = environSource;
      src.method = head.method;
      src.target = head.target;
      src.version = head.version;
      src.fields = head.fields;
      src.remoteAddr = this.remoteAddress;
      src.remotePort = this.remotePort;
      src.serverName = core.serverName;
      src.serverPort = core.serverPort;
      src.urlScheme = core.urlScheme;
      src.input = input;
      src.errors = errors;
      environ = buildEnviron(src, core.environDefaults);
      src.fields = NO_FIELDS;
      src.input = NO_INPUT;
      src.errors = NO_ERRORS;
      // The same head a second time in a row (the client repeats itself): copied from now on while it repeats.
      // Not with an environ option (the caller's object, whose later changes each request shows).
      if (head === this.environHead && errors === this.environErrors && core.options.environ == null) {
        this.template = environTemplate(environ, NO_INPUT);
        this.templateHead = head;
        this.templateErrors = errors;
      }
      this.environHead = head;
      this.environErrors = errors;
    }
    // tsgi.signal only when asked for: the accessor costs about 0.1 µs a request (a third of a hello's parse).
    if (core.options.requestSignal ?? wantsSignal(core.app)) {
      defineSignal(environ, (this.signal = new RequestSignal()));
      // A request pipelined before the client's FIN starts with its signal aborted, as the one
      // running at the FIN was (onEnd): one rule for every request the FIN finds unanswered.
      if (this.peerEnded) this.signal.abort(new ClientDisconnected());
    }
    if (this.environPatch) Object.assign(environ, this.environPatch);
    let app = core.app;
    let gateway = this.gateway;
    let built = environ;
    if (failure === null && core.environClass) {
      try {
        built = checkEnviron("the environClass constructor", new core.environClass(environ));
      } catch (error) {
        failure = { hook: "the environClass constructor", error };
      }
    }
    if (failure === null && handler !== null) {
      try {
        built = checkEnviron("RequestHandler.getEnviron()", handler.getEnviron(built));
      } catch (error) {
        failure = { hook: "RequestHandler.getEnviron()", error };
      }
    }
    if (failure !== null) {
      // The server's environ, the standard 500 (not the handler's handleError()), logged as the hook's.
      built = environ;
      app = failingApp(failure);
      gateway = failedHookGateway(this.gateway, failure, core.logError);
      // A handler that could not be made serves no further request.
      if (this.handlerFailure !== null) {
        this.mustClose = true;
        this.handlerFailureLogged = true;
      }
    }
    this.environ = built;
    if (core.options.requestTimeout > 0) this.requestDeadline = core.clock() + core.options.requestTimeout;
    // An async app's response: responseDone runs in the reaction that ends it, not a microtask turn later.
    const running = runApplication(app, built, this, gateway, this.responseDone);
    this.running = running;
    if (running.done === undefined) {
      this.responding = false;
      this.signal = null;
      this.requestDeadline = 0;
    }
  }

  private readonly responseDone = (): void => {
    this.requestDeadline = 0;
    if (!this.responding) return; // abandoned by requestTimeout
    this.responding = false;
    // The response is complete: the client leaving now aborts nothing.
    this.signal = null;
    if (this.closed) {
      this.afterResponse();
      this.input?.discard();
      this.input = null;
      return;
    }
    if (this.peerEnded && !this.messageDone && !this.started && !this.ending && !this.endAfterFlush) {
      // The client's FIN came before the end of the body and the app sent nothing (it passed on the
      // ClientDisconnected its read rejected with): a request shorter than its framing says, answered
      // 400 and logged as node:http answers it (nginx logs 400; gevent answers 500). Closed after.
      const environ = this.environ;
      this.sendError(new HttpError(400, "the client ended the connection before the request body was complete"));
      this.environ = null;
      if (environ !== null && hasPosthooks(environ)) void runPosthooks(environ, this.core.logError);
      this.input?.discard();
      this.input = null;
      return;
    }
    if (this.messageDone) {
      if (!this.finishExchange(this.stash !== null)) return;
      this.resumeStash();
    } else {
      this.startDraining();
    }
  };

  /** Hold the unparsed rest of a read behind the response in progress (nothing is held yet). */
  private hold(rest: Uint8Array): void {
    this.stash = rest;
    this.stashBytes = rest.length;
    if (rest.length > MAX_STASH && !this.stashPaused) {
      this.stashPaused = true;
      this.socket.pause();
    }
  }

  /**
   * Go on with the bytes held behind a response: once it is done and its
   * output is all written (so this runs again from {@link onFlushed}).
   */
  private resumeStash(): void {
    let stash = this.stash;
    if (stash === null || this.responding || this.output.blocked || this.closed || this.ending || this.endAfterFlush) return;
    if (this.stashMore !== null) {
      stash = Buffer.concat([stash, ...this.stashMore]);
      this.stashMore = null;
    }
    this.stash = null;
    this.stashBytes = 0;
    if (this.stashPaused) {
      this.stashPaused = false;
      if (!this.inputPaused) this.socket.resume();
    }
    // Counted when they were read: onData counts them again.
    this.bytesReceived -= stash.length;
    this.onData(stash);
  }

  /**
   * Whether the client may be holding the request body back for a `100
   * Continue` not sent (the app has not read): none of the body has come
   * yet. Once bytes of it arrive the client is sending it (it did not wait,
   * as h2load, got or Node's http.request with the header set do, or its
   * wait ran out, curl's 1 s), and the rest can be drained like any unread
   * body (RFC 9110 §10.1.1: read and discard, or close).
   */
  private holdingForContinue(): boolean {
    return this.input !== null && this.input.continueOwed && !this.messageDone && this.bodyReceived === 0;
  }

  /** The response ended before the request body did: read and discard the rest, or close. */
  private startDraining(): void {
    const input = this.input;
    // After the client's FIN the rest of the body never comes (an aborted upload): close.
    if (!this.responseKeepAlive || this.peerEnded || this.holdingForContinue()) {
      this.afterResponse();
      // The exchange is over here too: a read the app makes later rejects
      // (spec.md) rather than taking unread bytes or re-arming the body clock
      // over the lingering close's, which held the connection open for good.
      input?.discard();
      this.input = null;
      this.closeAfterFlush();
      return;
    }
    this.afterResponse();
    input?.discard();
    this.draining = true;
    this.input = null;
    // A client that stops sending the body it announced, or sends it a byte at a time, must not hold the connection.
    this.drainUntil = this.core.clock() + LINGER_MAX_MS;
    this.setDeadline(Deadline.Body, this.drainGap(LINGER_MAX_MS));
  }

  /** The drain's wait for the next byte of the body (ms): `bodyTimeout`, at most `left`, the ms left of its total ({@link drainUntil}); `left` when `bodyTimeout` is off. */
  private drainGap(left: number): number {
    const bodyTimeout = this.core.options.bodyTimeout;
    return bodyTimeout > 0 && bodyTimeout < left ? bodyTimeout : left;
  }

  /**
   * The exchange is over (response done and message fully read): log, run
   * posthooks, and get ready for the next request. After the client's FIN
   * the connection stays only while pipelined bytes already received wait
   * to be answered (`pipelined`), as node:http does.
   * @returns whether the connection stays open for another request.
   */
  private finishExchange(pipelined: boolean): boolean {
    this.answered = true;
    this.afterResponse();
    this.draining = false;
    this.drainUntil = 0;
    this.lastHead = this.head;
    this.head = null;
    // A body the app left unread past the input's high-water mark paused the socket: resume it.
    this.input?.discard();
    this.input = null;
    this.environ = null;
    this.running = null;
    if (!this.responseKeepAlive || (this.peerEnded && !pipelined)) {
      this.closeAfterFlush();
      return false;
    }
    if (this.core.closing) {
      if (this.keptAliveBeforeClose && this.core.idleGrace > 0) {
        // The response promised keep-alive before the close began: the client
        // may be sending its next request now. With close({ idleGrace }) it is
        // answered, as on a connection idle at the close: the bound is set
        // again when that request starts (with the bytes received by then).
        this.closeBound = -1;
        this.idle(this.core.idleGrace);
        return true;
      }
      // Otherwise the connection stays only for a next request whose whole head came by the bound:
      // bytes short of one (an empty line, a head cut by the bound) would hold it open for the
      // keep-alive or header clock though they can start no request.
      if (!this.headWithinBound()) {
        this.closeAfterFlush();
        return false;
      }
      this.idle(this.core.idleGrace > 0 ? this.core.idleGrace : this.core.options.keepAliveTimeout);
      return true;
    }
    this.idle(this.core.options.keepAliveTimeout);
    return true;
  }

  /**
   * While the server closes: whether the whole head of a next request was
   * received by {@link closeBound}, past the current message (so that request
   * will be answered, and this response keeps the connection open). Empty
   * lines before it are skipped (RFC 9112 §2.2); the head ends at its empty
   * line (CRLF CRLF). The bytes looked at are those not parsed yet: the rest
   * of the read being parsed, then the stash.
   */
  private headWithinBound(): boolean {
    // A body still arriving: every byte received so far is the parser's, so any next head comes after the bound.
    if (this.closeBound < 0 || !this.messageDone) return false;
    let left = this.closeBound - this.parsedTo;
    if (left <= 0) return false;
    const pieces: Uint8Array[] = [];
    if (this.feeding !== null) pieces.push(this.feeding.subarray(this.feedingAt));
    if (this.stash !== null) pieces.push(this.stash);
    if (this.stashMore !== null) pieces.push(...this.stashMore);
    let begun = false;
    let matched = 0; // bytes of CR LF CR LF matched
    for (const piece of pieces) {
      const n = Math.min(piece.length, left);
      for (let i = 0; i < n; i++) {
        const c = piece[i]!;
        if (!begun) {
          if (c === 13 || c === 10) continue;
          begun = true;
        }
        if (c === 13) matched = matched === 0 || matched === 2 ? matched + 1 : 1;
        else if (c === 10 && (matched === 1 || matched === 3)) {
          if (++matched === 4) return true;
        } else matched = 0;
      }
      left -= n;
      if (left <= 0) break;
    }
    return false;
  }

  /**
   * Between requests: the connection may stay `ms` without a new one. The
   * clock starts when the last response is all written ({@link onFlushed}):
   * a client still downloading it is not idle.
   */
  private idle(ms: number): void {
    this.idleMs = ms;
    this.idleSeq = ++idleCount;
    if (!this.output.blocked) this.setDeadline(Deadline.Idle, ms);
    else {
      this.deadlineKind = Deadline.Idle;
      this.deadline = 0;
    }
  }

  /** Access log line and posthooks for the request just answered (once). */
  private afterResponse(): void {
    const environ = this.environ;
    const head = this.head;
    if (!head || !environ) return;
    this.environ = null;
    const core = this.core;
    const hooks = hasPosthooks(environ);
    // Application code runs (the handler's logRequest(), posthooks): the array body's chunks still queued are copied.
    if (this.handlerLogs || hooks) this.output.takeLent();
    if (this.handlerLogs) this.handlerLogRequest(environ, requestLine(head), this.statusCode, this.bodyBytes, this.startedAt);
    else if (core.accessLog) core.logAccess(this, head, environ, this.statusCode, this.bodyBytes, this.startedAt);
    if (hooks) void runPosthooks(environ, core.logError);
  }

  /** The handler's `logRequest()` for one response; what it throws is logged. */
  private handlerLogRequest(environ: Environ | null, line: string, status: number, bodyBytes: number, startedAt: number, refused: string[] | null = null): void {
    try {
      // An async logRequest() is not awaited; its rejection is logged as its throw is.
      logRejection(this.handler!.logRequest(this.core.accessFields(this, environ, line, status, bodyBytes, startedAt, refused), environ), "RequestHandler.logRequest()", this.core.logError);
    } catch (error) {
      this.core.logError("RequestHandler.logRequest()", error);
    }
  }

  // ---------------------------------------------------------------- InputControl

  sendContinue(headers: ResponseHeaders): Promise<void> {
    // No interim responses once the final one started (or the server answered itself), nor to HTTP/1.0 clients
    // (RFC 9110 §15.2). maxHttpVersion "HTTP/1.0" does not stop it: the rule is the client's version, an HTTP/1.1
    // client waits for it (curl 1 s per upload), and gevent and eventlet send it as HTTP/1.1 whatever theirs.
    if (this.started || this.closed || this.ending || this.endAfterFlush || this.head?.version !== "HTTP/1.1") {
      return Promise.resolve();
    }
    this.output.out(continueHead(headers, this.core.options.capitalizeResponseHeaders));
    this.output.flush();
    return this.output.drain();
  }

  pause(): void {
    this.inputPaused = true;
    if (!this.closed) this.socket.pause();
  }

  resume(): void {
    this.inputPaused = false;
    // Pipelined bytes past MAX_STASH hold the socket too: it reads again once the stash is parsed.
    if (!this.closed && !this.stashPaused) this.socket.resume();
  }

  waiting(on: boolean): void {
    if (on) this.setDeadline(Deadline.Body, this.core.options.bodyTimeout);
    else if (this.deadlineKind === Deadline.Body) this.setDeadline(Deadline.None, 0);
  }

  // ---------------------------------------------------------------- ResponseSink

  start(status: string, headers: ResponseHeaders, bodyLength: number, exact = false): void {
    if (this.ending || this.closed || !this.responding) {
      // An abandoned application answering late: nothing more goes out.
      this.framing = Framing.None;
      return;
    }
    const head = this.head!;
    const core = this.core;
    const code = (status.charCodeAt(0) - 48) * 100 + (status.charCodeAt(1) - 48) * 10 + (status.charCodeAt(2) - 48);
    // maxHttpVersion "HTTP/1.0" answers in HTTP/1.0 and closes each connection (eventlet).
    // While the server closes, the connection stays only for a next request already received (closeBound).
    let keepAlive = head.keepAlive && core.options.keepalive && !this.mustClose && !core.http10Only && (!core.closing || this.headWithinBound());
    this.keptAliveBeforeClose = !core.closing;
    let declared = -1;
    let hasDate = false;
    let hasServer = false;
    const http10 = head.version === "HTTP/1.0" || core.http10Only;
    for (let i = 0; i < headers.length; i++) {
      const pair = headers[i]!;
      const name = pair[0];
      switch (name.length) {
        case 4:
          if (eqLower(name, "date")) hasDate = true;
          break;
        case 6:
          if (eqLower(name, "server")) hasServer = true;
          break;
        case 10:
          if (eqLower(name, "connection") && /(?:^|,)\s*close\s*(?:,|$)/i.test(pair[1])) keepAlive = false;
          break;
        case 14:
          if (eqLower(name, "content-length")) declared = contentLengthValue(pair[1], declared);
          break;
        case 17:
          if (eqLower(name, "transfer-encoding")) {
            // Framing is the server's job (PEP 3333 forbids hop-by-hop fields from apps).
            core.warnOnce("transfer-encoding", "the application set Transfer-Encoding; tsgi frames responses itself and drops it");
          }
          break;
        default:
          // (Connection, Keep-Alive and Transfer-Encoding, the other hop-by-hop fields, are the cases above.)
          if (isHopByHopFor(name, code)) {
            core.warnOnce(`hop-by-hop:${name.toLowerCase()}`, `the application set ${name}, a hop-by-hop field (PEP 3333 forbids them); tsgi drops it`);
          }
      }
    }
    const isHead = head.method === "HEAD";
    let length = -1;
    let chunked = false;
    if (code < 200 || code === 204 || code === 304) {
      this.framing = Framing.None;
      if (code < 200) keepAlive = false;
      if (code === 304 && declared >= 0) length = declared;
    } else if (code < 300 && head.method === "CONNECT") {
      // A 2xx to CONNECT starts a tunnel: no Content-Length or
      // Transfer-Encoding (RFC 9110 §8.6, RFC 9112 §6.1). tsgi relays no
      // tunnel: the body goes out as it is (none for a 205), then the connection closes.
      this.framing = code === 205 ? Framing.None : Framing.Close;
      keepAlive = false;
    } else if (code === 205) {
      // RFC 9110 §15.3.6: no content in a 205, and its end made explicit with `Content-Length: 0`.
      this.framing = Framing.None;
      length = 0;
    } else if (isHead && declared < 0 && bodyLength === 0 && !exact) {
      // An app may skip the body for HEAD: `Content-Length: 0` could
      // contradict what GET sends, and RFC 9110 §8.6 allows omitting it.
      // (An empty file is empty for GET too: it keeps its `Content-Length: 0`.)
      this.framing = Framing.None;
    } else if (declared >= 0 || bodyLength >= 0) {
      length = declared >= 0 ? declared : bodyLength;
      this.framing = isHead ? Framing.None : Framing.Length;
      this.remaining = length;
      // An array body longer or shorter than its Content-Length: the excess
      // is cut (see write()), or the response ends short; either way the
      // connection closes after, which the response announces (RFC 9112 §9.6).
      if (!isHead && declared >= 0 && bodyLength >= 0 && bodyLength !== declared) keepAlive = false;
    } else if (!http10) {
      chunked = true;
      this.framing = isHead ? Framing.None : Framing.Chunked;
    } else {
      this.framing = isHead ? Framing.None : Framing.Close;
      if (!isHead) keepAlive = false;
    }
    // The client may still be holding the body back for a 100 Continue it
    // will now never get: the connection cannot be reused safely.
    if (this.holdingForContinue()) keepAlive = false;
    // Body bytes still on their way when the response starts: if the app does
    // not read them they are drained after the response, up to MAX_DRAIN. More
    // than that (or a chunked body of unknown size) and the connection will
    // close, so the response says so (RFC 9112 §9.6) rather than a keep-alive
    // response whose connection is then cut under the client's next request.
    else if (keepAlive && !this.messageDone) {
      const rest = this.parser.bodyRemaining;
      if (rest < 0 || rest > MAX_DRAIN) keepAlive = false;
    }
    this.responseKeepAlive = keepAlive;
    this.statusCode = code;
    this.started = true;
    this.headStatus = status;
    this.headFields = headers;
    this.headDate = hasDate ? null : httpDate();
    this.headServer = hasServer || core.serverSoftware === "" ? null : core.serverSoftware;
    this.headLength = length;
    this.pendingHead = this.serializeHead(chunked, keepAlive);
  }

  /** The head {@link start} prepared, with `Connection` as `keepAlive` says. */
  private serializeHead(chunked: boolean, keepAlive: boolean): Uint8Array | string {
    const core = this.core;
    return responseHead(
      core.http10Only ? "HTTP/1.0" : "HTTP/1.1",
      this.headStatus,
      this.headFields!,
      core.options.capitalizeResponseHeaders,
      this.headDate,
      this.headServer,
      this.headLength,
      chunked,
      !keepAlive ? ConnectionField.Close : this.head!.version === "HTTP/1.0" ? ConnectionField.KeepAlive : ConnectionField.None,
    );
  }

  /** See {@link ResponseSink.write}: `owner` says which of the output queue's calls queues the chunk (its bytes taken now, lent, or the gateway's own). */
  write(chunk: Uint8Array, owner: ChunkOwner = "borrowed"): boolean {
    if (this.closed) return true;
    if (chunk.length === 0) {
      // Headers only (an empty write()); never an empty chunk, which would end a chunked body.
      this.takeHead();
      return !this.output.blocked;
    }
    switch (this.framing) {
      case Framing.None:
        // HEAD, 204, 205, 304: no body bytes, but the header section goes out now.
        this.takeHead();
        return !this.output.blocked;
      case Framing.Length:
        if (chunk.length > this.remaining) {
          if (!this.overflowed) {
            this.overflowed = true;
            this.core.logError(requestLine(this.head), excessBodyError());
            // The connection closes after the cut body; while the head is
            // still to go out, it says so (RFC 9112 §9.6), so the client
            // does not send its next request on it.
            if (this.pendingHead !== null) this.pendingHead = this.serializeHead(false, false);
            this.responseKeepAlive = false;
          }
          chunk = chunk.subarray(0, this.remaining);
          // The head goes out now even when no byte fits (`Content-Length: 0`),
          // as gevent and wsgiref send it at the first write with data.
          if (chunk.length === 0) {
            this.takeHead();
            return !this.output.blocked;
          }
        }
        this.remaining -= chunk.length;
        if (this.remaining === 0) {
          // The body is complete (an array body's one chunk, most often): head and body are written
          // now, in one write, with no flush scheduled for the end() that follows.
          const head = this.pendingHead;
          this.pendingHead = null;
          this.headFields = null;
          this.bodyBytes += chunk.length;
          return this.output.outLast(head, chunk, owner);
        }
        this.takeHead();
        this.outBody(chunk, owner);
        break;
      case Framing.Chunked:
        this.takeHead();
        this.output.outChunk(chunk.length.toString(16) + CRLF, chunk, owner);
        break;
      case Framing.Close:
        this.takeHead();
        this.outBody(chunk, owner);
        break;
    }
    this.bodyBytes += chunk.length;
    return !this.output.needsDrain;
  }

  /** The client closed, reset or half-closed the connection (see {@link ResponseSink.clientLeft}). */
  get clientLeft(): boolean {
    return this.closed || this.peerEnded;
  }

  /**
   * The response takes no more body bytes: none at all (HEAD, 1xx, 204, 205, 304,
   * or an abandoned request's late answer), or its Content-Length is complete.
   */
  get discardsBody(): boolean {
    return this.framing === Framing.None || (this.framing === Framing.Length && this.remaining === 0);
  }

  drain(): Promise<void> {
    return this.output.drain();
  }

  end(): void {
    if (this.closed) return;
    if (this.framing === Framing.Chunked) this.takeHead(`0${CRLF}${CRLF}`);
    else this.takeHead();
    if (this.framing === Framing.Length && this.remaining > 0) {
      this.responseKeepAlive = false;
      this.core.logError(requestLine(this.head), shortBodyError(this.remaining, "closing the connection"));
    }
    if (this.framing === Framing.Close) this.responseKeepAlive = false;
    if (this.output.held) {
      // Nothing pipelined behind this response: the batch is complete. Else other code may run
      // before the next request starts (other connections' reactions): lent parts are copied now.
      if (this.stash === null) this.output.release();
      else this.output.takeLent();
    }
    this.output.flushUnlessCorked();
  }

  abort(): void {
    this.responseKeepAlive = false;
    if (this.closed) return;
    this.takeHead();
    // A close-delimited body has no end of its own: only a reset tells the
    // client it is incomplete (a FIN would make it look whole; RFC 9112 §8).
    // Not after an earlier response on the connection: the reset would throw
    // away whatever of it the kernel has not sent yet (a slow reader's).
    if (this.framing === Framing.Close && !this.answered) this.resetAtEnd = true;
    this.closeAfterFlush();
  }

  // ---------------------------------------------------------------- output

  /** Queue body bytes as their owner allows (see {@link ChunkOwner}). */
  private outBody(chunk: Uint8Array, owner: ChunkOwner): void {
    if (owner === "borrowed") this.output.outBorrowed(chunk);
    else if (owner === "lent") this.output.outLent(chunk);
    else this.output.out(chunk);
  }

  /** Queue the pending status line and header section, then `extra`. */
  private takeHead(extra?: string): void {
    const head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      this.headFields = null;
      this.output.out(head);
    }
    if (extra !== undefined) this.output.out(extra);
  }

  // ---------------------------------------------------------------- OutputOwner

  /** Output waits for the client: (re)start the `sendTimeout` clock. */
  onBacklog(): void {
    this.armSendDeadline();
    // Not idle while the client is still taking the last response: the idle clock restarts once it is out.
    if (this.deadlineKind === Deadline.Idle) this.deadline = 0;
  }

  onWriteError(): void {
    this.destroy();
  }

  /** All output is written: close if that was awaited, start the idle clock, go on with held bytes. */
  onFlushed(): void {
    this.sendDeadline = 0;
    if (this.endAfterFlush && this.output.empty) {
      this.endAfterFlush = false;
      this.shutdown();
      return;
    }
    if (this.output.blocked) return;
    // A keep-alive connection is idle once its last response is out, not when the app finished it.
    if (this.deadlineKind === Deadline.Idle && this.deadline === 0 && this.idleMs > 0) this.setDeadline(Deadline.Idle, this.idleMs);
    if (this.stash !== null) this.resumeStash();
  }

  // ---------------------------------------------------------------- closing

  /** Finish writing what is queued, then close. */
  closeAfterFlush(): void {
    if (this.closed || this.ending) return;
    this.endAfterFlush = true;
    // No request will be read: no head, idle or body clock applies (sendTimeout still does).
    this.setDeadline(Deadline.None, 0);
    this.output.flush();
    if (this.output.empty && this.endAfterFlush) {
      this.endAfterFlush = false;
      this.shutdown();
    }
  }

  /**
   * Close in stages (RFC 9112 §9.6, "lingering close"): send FIN with
   * `shutdown(2)` and keep reading, discarding, until the client closes, it
   * sends nothing for {@link LINGER_MS} (`bodyTimeout` while a request body is
   * unfinished) or {@link LINGER_MAX_MS} pass, then
   * closes the descriptor (no reset of its own). A
   * socket closed with request bytes still unread is reset by the kernel,
   * and the reset can destroy the response before the client reads it: a
   * 413 to a large upload, or any answer to a body the app did not read.
   * (Bun's `end()` closes the descriptor at once, so it is not used here.)
   * After the client's own FIN there is nothing left to read: the socket is
   * closed at once, which still delivers what the kernel holds.
   */
  private shutdown(): void {
    if (this.closed || this.ending) return;
    if (this.resetAtEnd) {
      this.destroy();
      return;
    }
    this.ending = true;
    this.output.close();
    // After the client's FIN nothing is left to read: close.
    if (this.peerEnded) {
      this.closeNow();
      return;
    }
    let most = LINGER_MAX_MS;
    if (this.core.closing) {
      // While the server closes, a lingering client must not hold up its stop, unless it may still
      // be sending: bytes it sent were not parsed (pipelined past the close's bound or behind a
      // Connection: close), the socket was paused with more in the kernel, or a body is unfinished.
      // Closed with those unread, the connection is reset, and the reset destroys the responses
      // still in the kernel's send buffer (the end of a batch answered under the close). That
      // linger lasts LINGER_MS at most (and the shutdown's timeout cuts it).
      if (!this.mayStillSend()) {
        this.closeNow();
        return;
      }
      most = LINGER_MS;
    }
    // While the server closes, on the precise clock: its LINGER_MS ends on time (setDeadline's wakeAt).
    const now = this.core.closing ? performance.now() : this.core.clock();
    // After a drain given up (too many bytes, too long, or stalled) the linger ends when the drain would have: one total for both.
    this.lingerUntil = this.drainUntil > 0 && this.drainUntil < now + most ? this.drainUntil : now + most;
    if (this.lingerUntil <= now) {
      this.closeNow();
      return;
    }
    // A request body still arriving (answered before its end: an upload the app did not read, past
    // what is drained or chunked; or one refused with 413 whose bytes are coming: a chunked one
    // that grew past the limit, or a Content-Length one once a byte of it arrives: in the head's own
    // read (past the head: parsedTo, set from the parser's headEnd in feed()) or later (onData);
    // not one that already stopped arriving for bodyTimeout: bodyStalled) is the client's to
    // finish, and it reads the answer only then (python requests, http.client): between its bytes
    // the linger waits as a read of the body would, bodyTimeout (off: the linger's whole time),
    // not LINGER_MS. Else a generator upload that paused over 2 s was closed on, and its next chunk
    // reset the connection (requests: BrokenPipe, no answer). LINGER_MAX_MS bounds it all the
    // same (LINGER_MS while the server closes). A client silent after a 413 to its head (one that
    // waits for 100 Continue, or is done) is let go after LINGER_MS.
    if (!this.bodyStalled && (this.bodyRefused || (this.refusedHead === null ? this.parser.inBody : this.refusedBodyComing()))) this.lingerGap = this.bodyLingerGap(most);
    this.setDeadline(Deadline.Linger, Math.min(this.lingerGap, this.lingerUntil - now));
    this.socket.resume(); // it may be paused at a high-water mark
    this.socket.shutdown();
  }

  /**
   * Whether bytes of the `Content-Length` body of a head refused with 413
   * are still to come: some arrived past the head ({@link parsedTo}, set
   * from the parser's `headEnd`), not all it announced. None yet (a client
   * that waits for `100 Continue`, or is done) or all of them (it sent a
   * small body whole, with its head or after the 413, and is reading the
   * answer): the lingering close waits LINGER_MS, not `bodyTimeout`.
   */
  private refusedBodyComing(): boolean {
    const got = this.bytesReceived - this.parsedTo;
    return got > 0 && got < this.refusedHead!.contentLength;
  }

  /** The lingering close's wait between the bytes of a request body still arriving (ms): `bodyTimeout`, 2 s at least, `most` when it is off. */
  private bodyLingerGap(most: number): number {
    const bodyTimeout = this.core.options.bodyTimeout;
    return Math.max(LINGER_MS, bodyTimeout > 0 ? bodyTimeout : most);
  }

  /**
   * Whether the client may still be sending on a connection being closed:
   * bytes it sent were not parsed (pipelined past the close's bound, behind
   * a `Connection: close`, or dropped by a lingering close), the socket was
   * paused with more in the kernel, or a request body is unfinished. Closed
   * over bytes still coming, the connection is reset, and the reset destroys
   * what of the responses the kernel still holds for the client.
   */
  private mayStillSend(): boolean {
    return this.bytesReceived > this.parsedTo || this.stashPaused || this.inputPaused || this.parser.inBody;
  }

  /** Close the descriptor without a reset: the kernel still sends what it holds (`close(2)`). */
  private closeNow(): void {
    this.socket.end();
    this.onClose();
  }

  /**
   * `close()`'s timeout passed with this connection still open. A request in
   * flight is logged as an error and its application stopped (body
   * `close()`d, posthooks run); it is answered `503` when nothing was sent
   * yet, else its response is cut, and its access log line is written
   * either way. Then the connection closes.
   * @param timeout the timeout that passed (ms), for the log line.
   */
  cutForShutdown(timeout: number): void {
    if (this.closed) return;
    if (this.inHandshake) this.closedInHandshake = true;
    if (this.responding) {
      this.core.logError(requestLine(this.head), serverEvent(`the server stopped before the response ended (shutdown timeout ${timeout} ms); abandoned`));
      const stopping = new Error("the server is shutting down");
      this.input?.fail(stopping);
      this.abandonApplication(stopping);
      this.responding = false;
      if (!this.started) {
        this.sendError(new HttpError(503, "the server is shutting down"));
      } else {
        this.afterResponse();
      }
    }
    this.destroy();
  }

  /** Close now. */
  destroy(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.onClose();
  }

  /**
   * For graceful shutdown: close now if between requests, else after the
   * current response and the requests already received behind it (its
   * {@link closeBound} is set now). With `idleGrace` (ms), an idle keep-alive connection
   * stays that long instead, so a request the client sent as the shutdown
   * began is answered (with `Connection: close`) rather than reset. `now`
   * (`performance.now()` ms) is where the grace starts: default the coarse
   * clock, which is never early.
   */
  closeIfIdle(idleGrace = 0, now = this.core.clock()): void {
    if (this.ending) {
      // Lingering after its last response. Closed now while its client may still be sending (an
      // upload the app did not read, bytes after a Connection: close), the next bytes it sends
      // make the kernel reset the connection, and the reset destroys the end of the response the
      // kernel still holds for a client that reads slowly (it got 128 KB of 300 KB). So it lingers
      // on as one the shutdown closes does (shutdown()): LINGER_MS at most from now, within the
      // shutdown's timeout. (nginx's graceful stop closes only idle connections: a lingering
      // close runs to its lingering_timeout, bounded by worker_shutdown_timeout.)
      if (!this.mayStillSend()) {
        this.closeNow();
        return;
      }
      if (now + LINGER_MS < this.lingerUntil) this.lingerUntil = now + LINGER_MS;
      if (this.deadline === 0 || this.deadline > this.lingerUntil) this.deadline = this.lingerUntil;
      // Swept when it passes, not at the sweeper's next tick (up to 1 s later).
      this.core.wakeAt(this.deadline);
      return;
    }
    if (this.responding || this.head !== null || this.draining || this.stash !== null) {
      // A request in progress, or bytes held behind one: the requests received so far are still answered.
      if (this.closeBound < 0) this.closeBound = this.bytesReceived;
      return;
    }
    if (idleGrace > 0 && this.deadlineKind === Deadline.Idle) {
      // The grace replaces the keep-alive time; while the last response is
      // still going out it starts once that is done (onFlushed).
      this.idleMs = Math.min(this.idleMs || idleGrace, idleGrace);
      if (this.output.blocked) {
        this.deadline = 0;
        return;
      }
    }
    // Still in its TLS handshake: its headerTimeout stands (bounded by the shutdown's timeout).
    if (this.inHandshake && this.deadlineKind === Deadline.Head) return;
    if (this.deadlineKind === Deadline.Head || (idleGrace > 0 && this.deadlineKind === Deadline.Idle)) {
      // A request head is due (a new connection, or bytes of one arrived), or may come on an idle
      // connection: its request may be on the wire already, and closing now would reset it. Give
      // it a grace to arrive; it is answered with Connection: close, or the deadline ends the connection.
      const grace = now + (this.deadlineKind === Deadline.Head ? SHUTDOWN_HEAD_GRACE_MS : idleGrace);
      if (this.deadline === 0 || this.deadline > grace) this.deadline = grace;
      this.core.wakeAt(this.deadline);
      return;
    }
    this.closeAfterFlush();
  }

  /**
   * Whether this keep-alive connection is idle (between requests, its last
   * response all written, no byte of a next request received), and since
   * when: a number larger for a connection that went idle later (of all the
   * process's connections); -1 when it is not idle so.
   */
  idleOrder(): number {
    if (this.closed || this.ending || this.responding || this.head !== null || this.draining) return -1;
    if (this.deadlineKind !== Deadline.Idle || this.output.blocked || !this.parser.idle || this.stash !== null) return -1;
    return this.idleSeq;
  }

  /**
   * Close an idle keep-alive connection (see {@link idleOrder}) to make room
   * for a new one when the server is at `maxConnections`, as its keep-alive
   * timeout would have a little later: with a lingering close (`linger`;
   * FIN, then reading and dropping until the client closes, see
   * {@link shutdown}), so a request of the client's already on its way (in
   * the kernel, not yet read) is dropped and the client reads the end of
   * the connection, the keep-alive race it retries after, not a reset; or,
   * without `linger`, by closing the descriptor at once (such a request then
   * makes the kernel send a reset).
   * @returns whether it was idle so, and is now closing ({@link evicted}).
   */
  evict(linger: boolean): boolean {
    if (this.idleOrder() < 0) return false;
    this.evicted = linger;
    if (linger) this.closeAfterFlush();
    else this.closeNow();
    return true;
  }

  /** Closed by {@link evict} with a lingering close: while it lingers, the server does not count it against `maxConnections`. */
  evicted = false;

  /** Whether a request is being answered. */
  get busy(): boolean {
    return this.responding;
  }
}
