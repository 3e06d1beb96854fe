/**
 * {@link toFetchHandler}: a TSGI application as a fetch handler
 * (`(Request) => Promise<Response>`), driven by the server's own environ
 * builder and gateway.
 * @module
 */
import { buildEnviron, checkExtraEnviron, mountPoint } from "../gateway/environ.ts";
import { RequestInput, unshared, type InputControl } from "../gateway/input.ts";
import { ClientDisconnected } from "../gateway/client-disconnected.ts";
import { hasPosthooks, runPosthooks } from "../gateway/posthooks.ts";
import { requestLineOf } from "../gateway/error-response.ts";
import { runApplication, type ChunkOwner, type ResponseSink } from "../gateway/run.ts";
import { defineSignal } from "../gateway/signal.ts";
import { checkServerSoftware, contentLengthValue, excessBodyError, shortBodyError } from "../gateway/response-fields.ts";
import { ErrorLogStream } from "../gateway/error-stream.ts";
import { fileWrapper } from "../gateway/file-wrapper.ts";
import type { Application, Environ, FileWrapperFactory, ResponseHeaders } from "../spec.ts";
import { SERVER_SOFTWARE } from "../version.ts";
import { isHopByHopFor } from "../gateway/hop-by-hop.ts";
import { validHostValue } from "../http/target.ts";
import { httpDate } from "../http/date.ts";
import { hostname as osHostname } from "node:os";
import { errorText, shownValue } from "../gateway/error-text.ts";
import { ANY_REQUEST_IP, defaultPort, heldBody, HOSTLESS_REQUESTS } from "./common.ts";

/** A request body whose length is known without reading a stream (see {@link knownBody}). */
interface KnownBody {
  /** Its length in bytes, `-1` when not known (a `Bun.file()` of a pipe). */
  length: number;
  /** The bytes, for a body held in memory. */
  bytes: Uint8Array<ArrayBuffer> | null;
  /** The stream to pull, for a `Bun.file()`; `null` with `bytes`. */
  stream: ReadableStream<Uint8Array> | null;
}

/**
 * The body of a `Request` made in JavaScript whose length Bun knows: a
 * string, bytes, a `Blob`, `URLSearchParams` or `FormData` (held in memory,
 * encoded: its bytes, taken at once), or a `Bun.file()` (its size, the file
 * streamed). Such a `Request` has no `Content-Length` in its headers (Bun
 * adds it on the wire only), so a PEP 3333 application reading
 * `CONTENT_LENGTH` bytes would read nothing. `null` for a stream, whose
 * length is not known without reading it all (the application reads
 * `tsgi.input` to its end, `tsgi.input_terminated`), and for no body at all.
 * An empty body (`""`, an empty `Uint8Array` or `Blob`) has length 0, as
 * `fetch()` sends it (`Content-Length: 0`). Called before `request.body` is
 * touched (which turns a body held in memory into a stream).
 */
async function knownBody(request: Request): Promise<KnownBody | null> {
  const held = heldBody(request);
  if (held === "stream") return null;
  if (held === "empty") return emptyBody(request);
  if (held === "memory") {
    const bytes = await request.bytes();
    return { length: bytes.length, bytes: unshared(bytes), stream: null };
  }
  const file = await request.blob();
  return { length: Number.isFinite(file.size) ? file.size : -1, bytes: null, stream: file.stream() };
}

/**
 * The body of a `Request` Bun shows none for ({@link heldBody}'s `"empty"`):
 * `null` when it has none (`request.body` is `null`), length 0 when it is
 * an empty one (`""`, an empty `Uint8Array`: a stream that is done at its
 * first read). Should that read not be done at once (a stream Bun did not
 * show), the stream is passed on, its length unknown, the read's result
 * first: no byte is lost.
 */
function emptyBody(request: Request): KnownBody | null {
  const body = request.body;
  if (body === null) return null;
  const reader = body.getReader();
  const first = reader.read();
  if (Bun.peek.status(first) === "fulfilled" && (Bun.peek(first) as Awaited<ReturnType<typeof reader.read>>).done) {
    return { length: 0, bytes: new Uint8Array(0), stream: null };
  }
  let pending: Promise<Awaited<ReturnType<typeof reader.read>>> | null = first;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const read = pending ?? reader.read();
      pending = null;
      const { done, value } = await read;
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { length: -1, bytes: null, stream };
}

/** Options of {@link toFetchHandler}. */
export interface ToFetchOptions {
  /**
   * `SCRIPT_NAME`: the path the app is mounted at, moved out of `PATH_INFO`
   * when the path is under it by whole segments (`/app/x` → `/x`; not
   * `/application`). Trailing slashes are removed (`/app/` is `/app`).
   * Default `""`.
   * A value that is neither `""` nor a path starting with `/` makes
   * `toFetchHandler()` throw a RangeError.
   */
  scriptName?: string | undefined;
  /**
   * `SERVER_SOFTWARE`, and the `Server` field added to responses without one; `""` adds none.
   * Default `"tsgi/<version>"`. A value that is not a valid field value (CR, LF or other control
   * chars, chars above U+00FF, leading or trailing whitespace) is a RangeError from `toFetchHandler()`.
   */
  serverSoftware?: string | undefined;
  /** Send stack traces in 500 bodies. Default false. Anything but a boolean (a string such as `"0"`) is a TypeError from `toFetchHandler()`. */
  debug?: boolean | undefined;
  /** Where application errors and `tsgi.errors` go (`(text) => void`); `null` silences them. Default `console.error` (one trailing newline removed). */
  errorLog?: ((text: string) => void) | null | undefined;
  /** `tsgi.multiprocess`. Default false. */
  multiprocess?: boolean | undefined;
  /**
   * `tsgi.file_wrapper` for every request. Default: the tsgi server's
   * (`fileWrapper` from `tsgi/util`), so an app that uses it runs here as
   * on `tsgi serve` (a file over 1 MiB goes out chunked: Bun.serve drops a
   * streamed body's Content-Length). `null`: none (PEP 3333 makes it
   * optional; apps then fall back to iterating).
   */
  fileWrapper?: FileWrapperFactory | null | undefined;
  /**
   * Extra keys for every environ, with the server's `environ` option
   * precedence: they replace server-level keys (`SERVER_SOFTWARE`,
   * `tsgi.errors`, ...), never the request's own; `tsgi.url_scheme` in it
   * is the scheme of every request, whatever `request.url`'s (gevent and
   * eventlet let their `environ` replace `wsgi.url_scheme`, the idiom behind
   * a TLS-terminating proxy), as the server's `environ` option does. Their strings (keys
   * without a `.`) are latin-1, as every environ string. Default none.
   * @throws RangeError (from `toFetchHandler()`) for a string above U+00FF under a key without a `.`.
   * @throws TypeError (from `toFetchHandler()`) for a `tsgi.url_scheme` other than `"http"` and `"https"`.
   */
  environ?: Record<string, unknown> | undefined;
  /** Buffer response chunks until at least this many bytes (eventlet `minimum_chunk_size`); per request `environ["tsgi.minimum_write_chunk_size"]`. Default 0. */
  minimumChunkSize?: number | undefined;
  /**
   * The client's address for `REMOTE_ADDR`/`REMOTE_PORT`. Default: from the
   * runtime's second argument when it has `requestIP(request)` (`Bun.serve`'s
   * server, whose result is `{ address, port }`), else `""` for both (a
   * result without a port leaves `REMOTE_PORT` `""` too). When it throws,
   * the request is answered 500 without running the app, and the error is
   * logged to `errorLog`.
   */
  remoteAddress?: ((request: Request, ...rest: any[]) => { address: string; port?: number | undefined } | null | undefined) | undefined;
}


/** Response bytes queued in the stream before the application is asked to wait (bytes). */
const RESPONSE_HIGH_WATER = 64 * 1024;

/** Feeds a `Request` body into `tsgi.input`, pulling only while the input wants more. */
class BodyPump implements InputControl {
  private paused = false;
  private wake: (() => void) | null = null;
  private stopped = false;
  /**
   * @param gone the request's `signal`, which the runtime aborts when the client leaves (Bun.serve's
   *   `request.signal`): a body read that fails then fails `tsgi.input` with a {@link ClientDisconnected}.
   */
  constructor(
    private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>; cancel(): Promise<unknown> },
    readonly input: RequestInput,
    private readonly gone: AbortSignal,
  ) {}
  async run(): Promise<void> {
    try {
      for (;;) {
        while (this.paused && !this.stopped) await new Promise<void>((r) => (this.wake = r));
        if (this.stopped) return;
        const { done, value } = await this.reader.read();
        // Stopped (the response is over, or the client left): the cancel that ends this read is not the body's end.
        if (this.stopped) return;
        if (done) break;
        // A stream made in JavaScript may yield views of a SharedArrayBuffer: tsgi.input hands out copies of those.
        if (value && value.length) this.input.push(unshared(value));
      }
      this.input.end();
    } catch (error) {
      if (this.stopped) return;
      // The client left mid-body (Bun.serve rejects the read with an AbortError, "The connection was
      // closed."): a ClientDisconnected, as the tsgi server fails the input, so an app that passes it on
      // is not logged as an application error. Any other failure of the body is passed on as it is.
      this.input.fail(this.gone.aborted ? new ClientDisconnected() : error instanceof Error ? error : new Error(String(error)));
    }
  }
  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.reader.cancel().catch(() => {});
  }
  sendContinue(): Promise<void> {
    return Promise.resolve(); // the fetch runtime already handled Expect
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  waiting(): void {}
}

/** A body stream that never yields: what a HEAD response of unknown length carries (see {@link FetchSink.start}). */
function pendingStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ pull: () => new Promise<void>(() => {}) });
}

/**
 * A {@link ResponseSink} that resolves a `Response` on `start` and streams
 * the body into it, with the TCP server's Content-Length rules (spec.md
 * "Handling the Content-Length header"): an invalid or conflicting value is
 * an application error, bytes past it are not sent, and a body that ends
 * short errors the stream (a truncated response).
 */
class FetchSink implements ResponseSink {
  /** The consumer cancelled the body, or it was errored: the client's side is gone, as a closed connection on the server. */
  closed = false;
  /**
   * The body is complete ({@link end}). Not {@link closed}: the gateway then
   * tells a late `write()` that the response ended, as the tsgi server does on
   * an open connection, rather than that the client left.
   */
  private ended = false;
  discardsBody = false;
  /** The consumer cancelled, or the client left (Bun.serve aborted `request.signal`). */
  get clientLeft(): boolean {
    return this.closed || this.gone.aborted;
  }
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly stream: ReadableStream<Uint8Array>;
  private waiters: Array<() => void> = [];
  private resolveResponse!: (r: Response) => void;
  readonly response: Promise<Response>;
  started = false;
  onCancel: (() => void) | null = null;
  /** Body bytes still owed under the declared or known length, -1 when the length is not known. */
  private remaining = -1;
  private overflowed = false;
  /** The body failed while chunks were queued: the stream errors once the consumer has them ({@link fail}). */
  private failing = false;
  /** Body bytes were enqueued ({@link errorLater}). */
  private gaveBytes = false;

  /**
   * @param method the request method (HEAD gets no body).
   * @param logError logs a broken response contract for this request.
   * @param serverSoftware the `Server` field added when the app sent none (spec.md; `Date` is added too: Bun.serve adds none to a HEAD answer).
   * @param gone the request's `signal`, aborted when the client leaves ({@link clientLeft}).
   */
  constructor(
    private readonly method: string,
    private readonly logError: (error: Error) => void,
    private readonly serverSoftware: string,
    private readonly gone: AbortSignal,
  ) {
    this.response = new Promise((r) => (this.resolveResponse = r));
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          // A failure waits for the consumer to take what was queued before it (see fail()).
          if (this.failing && this.controller.desiredSize === RESPONSE_HIGH_WATER) this.errorLater();
          this.wakeWaiters();
        },
        cancel: () => {
          this.closed = true;
          this.wakeWaiters();
          this.onCancel?.();
        },
      },
      { highWaterMark: RESPONSE_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }

  /**
   * Resolve the `Response`. Bun keeps a Content-Length only on a body it can
   * see whole, so: 204/304/205 and a length-0 body get a `null` body; a HEAD
   * of known length a `null` body with that Content-Length; a HEAD of unknown
   * length a stream that never yields (Bun sends `Transfer-Encoding:
   * chunked`, as the GET would get, instead of a wrong `Content-Length: 0`).
   * Any answer to CONNECT gets `Connection: close`; Bun.serve still frames a
   * 2xx (Content-Length, or chunked when streamed), which RFC 9112 §6.1 says
   * a tunnel's answer does not carry (docs/fetch.md).
   * @throws TypeError for an invalid or conflicting Content-Length (nothing is sent).
   */
  start(status: string, headers: ResponseHeaders, bodyLength: number, exact = false): void {
    const code = Number(status.slice(0, 3));
    const h = new Headers();
    let declared = -1;
    // spec.md "Other HTTP features": the connection closes after any answer to CONNECT (Bun.serve would
    // read no further request on it), and a 2xx, a tunnel, is sent as it is, whatever Content-Length says.
    const connect = this.method === "CONNECT";
    const tunnel = connect && code >= 200 && code < 300;
    let close = connect;
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower === "content-length") {
        if (tunnel) continue;
        declared = contentLengthValue(value, declared);
      }
      // A 426 MUST carry Upgrade (RFC 9110 §15.5.22): kept there, as the tsgi server keeps it.
      if (isHopByHopFor(lower, code)) {
        if (lower === "connection" && /(^|,)\s*close\s*(,|$)/i.test(value)) close = true;
        continue;
      }
      h.append(name, value);
    }
    // spec.md: `Connection: close` from the app closes the connection; Bun.serve does so for this field.
    if (close) h.set("Connection", "close");
    if (this.serverSoftware !== "" && !h.has("server")) h.set("Server", this.serverSoftware);
    // RFC 9110 §6.6.1: an origin server with a clock MUST send Date; Bun.serve adds it, except to a HEAD.
    if (!h.has("date")) h.set("Date", httpDate());
    const length = declared >= 0 ? declared : bodyLength;
    const init = { status: code, statusText: status.slice(4), headers: h };
    this.started = true;
    if (code === 204 || code === 205 || code === 304) {
      if (code !== 304) h.delete("content-length");
      this.discardsBody = true;
      this.resolveResponse(new Response(null, init));
    } else if (this.method === "HEAD") {
      this.discardsBody = true;
      if (length > 0 || declared === 0 || (exact && length === 0)) {
        h.set("content-length", String(length));
        this.resolveResponse(new Response(null, init));
      } else {
        h.delete("content-length");
        this.resolveResponse(new Response(pendingStream(), init));
      }
    } else if (length === 0) {
      h.set("content-length", "0");
      this.discardsBody = true;
      this.resolveResponse(new Response(null, init));
    } else {
      // Never a Response over a Bun.file() Blob, though Bun would send it with its length:
      // Bun.serve answers a Range request to one with a 206 the app never chose, and adds
      // Content-Disposition (the file's name) and a guessed Content-Type.
      if (length > 0) {
        h.set("content-length", String(length));
        this.remaining = length;
      }
      this.resolveResponse(new Response(this.stream, init));
    }
  }

  /**
   * Enqueue body bytes. The stream keeps what it is given until Bun.serve
   * takes it, while the app, or another request's, runs on: the app's bytes
   * ("borrowed", and "lent" too) are copied first, so it may refill its
   * buffer once the gateway asks for the next chunk (spec.md "The body").
   */
  write(chunk: Uint8Array, owner: ChunkOwner = "borrowed"): boolean {
    if (this.closed || this.ended || this.discardsBody || chunk.length === 0) return true;
    if (this.remaining >= 0) {
      if (chunk.length > this.remaining) {
        if (!this.overflowed) {
          this.overflowed = true;
          this.logError(excessBodyError());
        }
        chunk = chunk.subarray(0, this.remaining);
      }
      this.remaining -= chunk.length;
      if (this.remaining === 0) this.discardsBody = true;
    }
    this.controller.enqueue(owner === "given" ? chunk : new Uint8Array(chunk));
    this.gaveBytes = true;
    return (this.controller.desiredSize ?? 0) > 0;
  }

  drain(): Promise<void> {
    if (this.closed || this.ended || this.discardsBody || (this.controller.desiredSize ?? 1) > 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  end(): void {
    if (this.closed || this.ended) return;
    if (this.remaining > 0) {
      const error = shortBodyError(this.remaining, "the response is truncated");
      this.logError(error);
      this.fail();
      return;
    }
    this.ended = true;
    try {
      this.controller.close();
    } catch {
      // already closed or cancelled
    }
    this.wakeWaiters();
  }

  abort(): void {
    if (this.closed || this.ended) return;
    this.fail();
  }

  /**
   * Error the body stream: the consumer sees a truncated response, never a
   * complete-looking one. Without a reason: the failure went to `errorLog`
   * already (or was silenced with `null`, or was the client leaving), and
   * Bun.serve prints any reason but `undefined` and `null` a second time, as
   * an uncaught error with a source excerpt and a stack of the bridge's own.
   */
  private fail(): void {
    this.closed = true;
    // Bytes still queued go out first: erroring the stream discards its queue (WHATWG Streams), so a
    // body that failed right after its first chunk reached the client as nothing at all, not even the
    // header section. pull() errors it once the consumer has taken them (cancel() ends it instead when
    // the consumer leaves).
    if (this.controller.desiredSize !== null && this.controller.desiredSize < RESPONSE_HIGH_WATER) this.failing = true;
    else this.errorLater();
    this.wakeWaiters();
  }

  /**
   * Error the body stream, without a reason (see {@link fail}): two
   * `setImmediate` turns later once body bytes were given out. Bun.serve
   * writes the end of the header section and the bytes it read from the
   * stream only at the end of the event loop's turn, and drops them (and
   * closes) for a stream that errors within it. One `setImmediate` is late
   * enough when the chunk came in the request's own turn; a chunk that came
   * from a timer or an I/O callback (a file read) is written after the
   * immediates queued in that turn have run, so the error waits one more:
   * with one, the client got the status line and a field or two, then the
   * close.
   */
  private errorLater(): void {
    this.failing = false;
    const error = () => {
      try {
        this.controller.error(undefined);
      } catch {
        // already closed or cancelled
      }
    };
    if (this.gaveBytes) setImmediate(() => setImmediate(error));
    else error();
  }

  private wakeWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Wrap a TSGI application as a fetch handler.
 *
 * The environ comes from the server's `buildEnviron`: method, path and
 * query of `request.url` as the URL parser left them (dot segments already
 * resolved), `HTTP_*` from the headers (a `Host` from the URL when
 * the request has none, unless `fromFetchHandler` made it for a request
 * without `Host`: no `HTTP_HOST` then, as on the tsgi server), `SERVER_NAME`/`SERVER_PORT` and `tsgi.url_scheme`
 * from the URL (`https` for an `https:` or `wss:` URL, else `http`, as PEP 3333 allows only those two; the scheme is the `environ` option's `tsgi.url_scheme` when it has one), or from the server's own address when the URL has no host
 * (an HTTP/1.0 request without `Host`, CONNECT), `SERVER_PROTOCOL`
 * `"HTTP/1.1"`. A `Host` that is not `uri-host [":" port]` is answered 400
 * without calling the application, as the tsgi server answers it. The request body is
 * `tsgi.input`, pulled from `request.body` as the application reads (GET
 * and HEAD get none); a `Request` made in JavaScript with a body Bun holds
 * (a string, bytes, a `Blob`, `URLSearchParams`, `FormData`, a `Bun.file()`)
 * and no `Content-Length` or `Transfer-Encoding` gets its length as
 * `CONTENT_LENGTH`, as a client would have sent it. A `Request` whose body
 * was already read (`bodyUsed`) or whose body stream is locked makes the
 * returned promise reject with a TypeError, the application not called. The
 * returned promise resolves when the application's headers are ready (with
 * its first body chunk or its end, PEP 3333); the body streams afterwards,
 * waiting while the consumer is slow. When the consumer cancels the body
 * the application's iteration stops and its `close()` is called. Errors
 * before headers become a 500 `Response`; after headers, the body stream
 * errors (a truncated response, never a complete-looking one). A field the
 * application repeats goes out as one, its values joined with `", "` (a
 * `Response`'s `Headers` keeps one value per name; each `Set-Cookie` stays
 * apart). `SERVER_NAME`/`SERVER_PORT` follow the client's `Host`, so they
 * are no more trustworthy than `HTTP_HOST` (docs/fetch.md).
 *
 * @throws RangeError when `options.scriptName` is neither `""` nor a path starting with `/`, `options.serverSoftware` is not a valid `Server` field value (see {@link ToFetchOptions.serverSoftware}), or `options.minimumChunkSize` is not a non-negative integer.
 * @throws TypeError when `errorLog`, `remoteAddress` or `fileWrapper` is not a function (`errorLog` and `fileWrapper` may be `null`), `environ` not an object (or its `tsgi.url_scheme` neither `"http"` nor `"https"`), or `multiprocess` or `debug` not a boolean.
 * @example Bun.serve({ port: 8000, fetch: toFetchHandler(app) })
 */
export function toFetchHandler(app: Application, options: ToFetchOptions = {}): (request: Request, ...rest: any[]) => Promise<Response> {
  checkOptions(options);
  const log = options.errorLog === undefined ? (text: string) => console.error(text.replace(/\n$/, "")) : options.errorLog;
  const errors = new ErrorLogStream(log);
  const gateway = {
    debug: options.debug ?? false,
    minimumChunkSize: options.minimumChunkSize ?? 0,
    logError: (context: string, error: unknown) => {
      if (!log) return;
      const detail = errorText(error);
      log(`Error in ${context}: ${detail}\n`);
    },
  };
  const defaults = {
    serverSoftware: checkServerSoftware(options.serverSoftware ?? SERVER_SOFTWARE, "toFetchHandler option serverSoftware"),
    multiprocess: options.multiprocess ?? false,
    scriptName: mountPoint(options.scriptName ?? "", "toFetchHandler option scriptName"),
    fileWrapper: options.fileWrapper === undefined ? fileWrapper : (options.fileWrapper ?? undefined),
    extra: options.environ,
  };
  // gevent's and eventlet's environ replaces wsgi.url_scheme (checked by checkOptions), read once as every option.
  const environScheme = options.environ?.["tsgi.url_scheme"] as string | undefined;
  return async (request: Request, ...rest: any[]): Promise<Response> => {
    const place = requestPlace(request, rest[0]);
    const bodyless = request.method === "GET" || request.method === "HEAD";
    // The client's address, when the server passed is the one that received the request (Bun.serve's).
    const received = options.remoteAddress ? undefined : runtimeRemote(request, rest[0]);
    // Bun.serve's requestIP() is null for a Request it did not receive; fromFetchHandler's answers for any.
    const fromClient = received != null && (rest[0] as { [ANY_REQUEST_IP]?: boolean })[ANY_REQUEST_IP] !== true;
    // A body the caller already read (a middleware's `await request.json()`) has nothing left for tsgi.input;
    // fetch() refuses such a Request too. Asked before `.body` is touched (see knownBody).
    if (request.bodyUsed) throw new TypeError(`toFetchHandler was given a Request whose body was already read (bodyUsed: its text(), json(), formData() or a reader took it), so the application could not read it; pass a request.clone() made before that read, or a new Request`);
    // A Request made in JavaScript (a test, Hono's app.request(), a service binding) carries no framing
    // field: its body's length, when Bun holds it, is the CONTENT_LENGTH a client would have sent. One
    // Bun.serve received has one whenever it has a body (RFC 9112 §6.3), and is not inspected: asking Bun
    // what a Request holds prints it (Bun.inspect, its headers too: several µs, as much as the rest of the
    // request), which a DELETE or an OPTIONS preflight with no body would otherwise pay.
    const known =
      bodyless || fromClient || request.headers.has("content-length") || request.headers.has("transfer-encoding")
        ? null
        : await knownBody(request);
    let body: ReadableStream<Uint8Array> | null = bodyless ? null : known === null ? request.body : known.stream;
    if (body?.locked) throw new TypeError("toFetchHandler was given a Request whose body stream is locked (a reader from request.body.getReader() holds it), so the application could not read it; call reader.releaseLock() first, or pass a new Request");
    // No body reaches the app: GET and HEAD (the runtime gives them none), or a Request made without one
    // (its headers copied from another request). A body held in memory is pushed below (`known.bytes`).
    const noBody = body === null && known === null;
    const fields: string[] = [];
    let hasHost = false;
    let badHost = false;
    request.headers.forEach((value, name) => {
      if (name === "host") {
        hasHost = true;
        badHost = !validHostValue(value);
      }
      // No body reaches the app: no CONTENT_LENGTH promising one, no framing field describing one.
      if (noBody && ((name === "content-length" && value.trim() !== "0") || name === "transfer-encoding")) return;
      fields.push(name, value);
    });
    if (known !== null && known.length >= 0) fields.push("content-length", String(known.length));
    // RFC 9112 §3.2, as the tsgi server answers it (Bun joins several Host lines with ", ", which fails here too).
    if (badHost) return badRequest("Invalid Host field value", defaults.serverSoftware);
    // A Request fromFetchHandler made for a request without Host has the server's own address in its URL: no Host added.
    if (!hasHost && place.host !== null && !HOSTLESS_REQUESTS.has(request)) fields.push("host", place.host);
    let remote: { address: string; port?: number | undefined } | null | undefined;
    try {
      remote = options.remoteAddress ? options.remoteAddress(request, ...rest) : received;
    } catch (error) {
      // The option's bug, not the app's: answered and logged as an application error would be.
      gateway.logError(`${request.method} ${place.target} HTTP/1.1 (remoteAddress option)`, error);
      return new Response("500 Internal Server Error\n", { status: 500, headers: ownHeaders({ "Content-Type": "text/plain" }, defaults.serverSoftware) });
    }
    let pump: BodyPump | null = null;
    let input: RequestInput;
    if (body) {
      const holder: { pump: BodyPump | null } = { pump: null };
      const control: InputControl = {
        sendContinue: () => Promise.resolve(),
        pause: () => holder.pump?.pause(),
        resume: () => holder.pump?.resume(),
        waiting: () => {},
      };
      input = new RequestInput(control);
      pump = holder.pump = new BodyPump(body.getReader(), input, request.signal);
      void pump.run();
    } else {
      input = new RequestInput(null);
      if (known?.bytes) input.push(known.bytes);
      input.end();
    }
    const environ: Environ = buildEnviron(
      {
        method: request.method,
        target: place.target,
        version: "HTTP/1.1",
        fields,
        remoteAddr: remote?.address ?? "",
        remotePort: remote?.port ?? 0,
        serverName: place.serverName,
        serverPort: place.serverPort,
        urlScheme: environScheme ?? place.scheme,
        input,
        errors,
      },
      defaults,
    );
    if (!remote?.port) environ.REMOTE_PORT = "";
    // Bun.serve aborts request.signal when the client goes away: the app's tsgi.signal (spec.md).
    defineSignal(environ, () => request.signal);
    const sink = new FetchSink(request.method, (error) => gateway.logError(requestLineOf(environ), error), defaults.serverSoftware, request.signal);
    const running = runApplication(app, environ, sink, gateway);
    sink.onCancel = () => {
      pump?.stop();
      // The client left: a read waiting for the rest of the body rejects, as on the tsgi server.
      input.fail(new ClientDisconnected());
      const r = running.abandon();
      if (r) r.catch(() => {});
    };
    const finished = Promise.resolve(running.done).then(() => {
      pump?.stop();
      // The exchange is over: a read a task the app left running makes rejects unless the body was read to
      // its end (spec.md "tsgi.input"), rather than resolving empty as if the client had sent no more.
      input.discard();
      if (hasPosthooks(environ)) void runPosthooks(environ, gateway.logError);
    });
    // `start` is always called before `done` settles (the gateway answers 500 on errors).
    return Promise.race([
      sink.response,
      finished.then(() => (sink.started ? sink.response : new Response("500 Internal Server Error\n", { status: 500 }))),
    ]);
  };
}


/**
 * The options {@link toFetchHandler} keeps and uses only later, per request:
 * a wrong type from plain JavaScript (`errorLog: process.stderr`, the tsgi
 * server's kind of value) would fail at the first error to log, or every
 * request, with a bare TypeError.
 * @throws TypeError naming the option; RangeError for a `minimumChunkSize` that is not a non-negative integer.
 */
function checkOptions(o: ToFetchOptions): void {
  const fail = (key: string, want: string, got: unknown): never => {
    throw new TypeError(`toFetchHandler option ${key} must be ${want}, got ${shownValue(got)}`);
  };
  if (o.errorLog != null && typeof o.errorLog !== "function") fail("errorLog", "a function (text) => void or null (the tsgi server's errorLog takes a stream; here pass (text) => stream.write(text))", o.errorLog);
  if (o.remoteAddress !== undefined && typeof o.remoteAddress !== "function") fail("remoteAddress", "a function (request, server) => { address, port }", o.remoteAddress);
  if (o.fileWrapper != null && typeof o.fileWrapper !== "function") fail("fileWrapper", "a function (filelike, blksize) => body, or null", o.fileWrapper);
  if (o.environ != null && (typeof o.environ !== "object" || Array.isArray(o.environ))) fail("environ", "an object of environ keys", o.environ);
  checkExtraEnviron(o.environ, "toFetchHandler option environ");
  // As the server's environ option: its tsgi.url_scheme is the scheme (PEP 3333: "http" or "https").
  const scheme = o.environ?.["tsgi.url_scheme"];
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") fail('environ["tsgi.url_scheme"]', '"http" or "https" (it sets the scheme of every request)', scheme);
  if (o.multiprocess !== undefined && typeof o.multiprocess !== "boolean") fail("multiprocess", "a boolean", o.multiprocess);
  // A string from an environment variable or a config file ("0", "false") is truthy: stacks in every 500 body.
  if (o.debug !== undefined && typeof o.debug !== "boolean") fail("debug", "true or false", o.debug);
  const min = o.minimumChunkSize as unknown;
  if (min !== undefined && (typeof min !== "number" || !Number.isInteger(min) || min < 0)) {
    throw new RangeError(`toFetchHandler option minimumChunkSize must be a non-negative integer, got ${shownValue(min)}`);
  }
}

/** Where a request was sent, as the environ gives it (see {@link requestPlace}). */
interface RequestPlace {
  /** `REQUEST_URI`: the path and query, or CONNECT's authority-form as sent. */
  target: string;
  /** The URL's authority, the `Host` for a request without one; `null` when the URL has none. */
  host: string | null;
  serverName: string;
  serverPort: number;
  scheme: string;
}

/**
 * Path, query and address from `request.url`, which Bun.serve builds from
 * the `Host` field: an absolute URL, except when there is no Host it can use
 * (an HTTP/1.0 request without one, a Host the URL parser refuses such as
 * `x:99999`), where it is the path alone, and for CONNECT, where it is the
 * authority-form target as sent (kept as the request-target, as `*` would
 * be). A CONNECT whose URL is absolute (a `Request` made by
 * `fromFetchHandler`: the target's authority, path `/`) has that authority,
 * with its port, as the request-target. Without an authority, `SERVER_NAME` and `SERVER_PORT` are the
 * server's own address, as the tsgi server gives them (spec.md "CGI
 * variables"). Never throws.
 */
function requestPlace(request: Request, server: unknown): RequestPlace {
  const href = request.url;
  // CONNECT's authority-form, and OPTIONS' asterisk-form should Bun pass it (it answers 400 today): no path to parse.
  if (href === "*" || (request.method === "CONNECT" && !href.startsWith("/") && !href.includes("://"))) {
    return { target: href, host: null, ...serverAddress(server) };
  }
  const url = URL.parse(href);
  // CONNECT in a Request of its own (fromFetchHandler's, docs/fetch.md): the URL is the target's authority,
  // path `/`, its port left out when the scheme's default (443 for https and wss). The target is that authority,
  // with its port (RFC 9112 §3.2.3: authority-form = uri-host ":" port), as Bun.serve passes it; the Host field
  // stays as sent.
  if (request.method === "CONNECT" && url !== null && url.host !== "") {
    const port = url.port || String(defaultPort(url.protocol.slice(0, -1)) ?? 80);
    return { target: `${url.hostname}:${port}`, host: null, ...serverAddress(server) };
  }
  if (url !== null && url.host !== "") {
    const urlScheme = url.protocol.replace(/:$/, "");
    const port = url.port ? Number(url.port) : (defaultPort(urlScheme) ?? 80);
    // tsgi.url_scheme is "http" or "https" (PEP 3333 "environ Variables"): a WebSocket URL's is the HTTP
    // scheme its handshake runs over (RFC 6455 §3: wss is ws over TLS), and any other scheme gives "http".
    const scheme = urlScheme === "https" || urlScheme === "wss" ? "https" : "http";
    return { target: url.pathname + searchOf(url), host: url.host, serverName: url.hostname.replace(/^\[|\]$/g, ""), serverPort: port, scheme };
  }
  // The path as the URL parser would leave it (dot segments resolved), read after any scheme and authority.
  const path = href.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  const local = URL.parse(`http://localhost${path.startsWith("/") ? "" : "/"}${path}`);
  return { target: local === null ? "/" : local.pathname + searchOf(local), host: null, ...serverAddress(server) };
}

/**
 * The URL's query with its `?` as the request-target has it: `url.search`,
 * or a lone `?` for an empty query (`http://h/x?`, whose `search` is `""`
 * as for no query at all), so `REQUEST_URI` is `/x?` as the tsgi server
 * gives it for the request-target `/x?`.
 */
function searchOf(url: URL): string {
  if (url.search !== "") return url.search;
  const href = url.href;
  const hash = href.indexOf("#");
  return (hash === -1 ? href : href.slice(0, hash)).endsWith("?") ? "?" : "";
}

/**
 * `SERVER_NAME`, `SERVER_PORT` and the scheme from the runtime's second
 * argument when it is a server (`Bun.serve`'s `hostname`, `port`,
 * `protocol`), as the tsgi server derives them: a wildcard address gives the
 * machine's host name; a server without a host or port (`Bun.serve({ unix })`
 * has neither), or no server, gives the machine's host name (`localhost`
 * when it is empty) and the scheme's
 * default port, 80 or 443 (PEP 3333: never empty). The scheme is `http`
 * unless the server says `https`.
 */
function serverAddress(server: unknown): { serverName: string; serverPort: number; scheme: string } {
  const { hostname, port, protocol } = (server ?? {}) as { hostname?: unknown; port?: unknown; protocol?: unknown };
  const name = typeof hostname === "string" ? hostname : "";
  const scheme = protocol === "https" ? "https" : "http";
  return {
    // An empty machine host name (a container's UTS namespace may have one) gives localhost: SERVER_NAME is never "".
    serverName: name === "" || name === "0.0.0.0" || name === "::" ? osHostname() || "localhost" : name,
    serverPort: typeof port === "number" && port > 0 ? port : scheme === "https" ? 443 : 80,
    scheme,
  };
}

/** The 400 the tsgi server sends for a request it refuses (`errorResponse`): the app is not called, the connection closes. */
function badRequest(message: string, serverSoftware: string): Response {
  return new Response(`400 Bad Request: ${message}\n`, {
    status: 400,
    headers: ownHeaders({ "Content-Type": "text/plain; charset=utf-8", Connection: "close" }, serverSoftware),
  });
}

/**
 * The fields of a response the bridge makes itself: `headers`, `Date` (Bun.serve adds none to a
 * HEAD answer; RFC 9110 §6.6.1), and `Server: serverSoftware` unless it is `""` (no Server field).
 */
function ownHeaders(headers: Record<string, string>, serverSoftware: string): Record<string, string> {
  headers["Date"] = httpDate();
  if (serverSoftware !== "") headers["Server"] = serverSoftware;
  return headers;
}

/** The client's address from the runtime's second argument when it has `requestIP()` (`Bun.serve`'s server); `null` otherwise or when it throws. */
function runtimeRemote(request: Request, server: unknown): { address: string; port?: number } | null {
  const requestIP = (server as { requestIP?: unknown } | null | undefined)?.requestIP;
  if (typeof requestIP !== "function") return null;
  try {
    return (requestIP as (r: Request) => { address: string; port: number } | null).call(server, request);
  } catch {
    return null;
  }
}
