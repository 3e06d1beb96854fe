/**
 * Running one request through a TSGI application (PEP 3333 "Specification
 * Details", "Buffering and Streaming", "Error Handling"). This module knows
 * nothing of HTTP framing: it drives a {@link ResponseSink}, which the server
 * implements over a socket and the fetch bridge over a `Response`.
 * @module
 */
import type { Application, Body, Environ, PostHook, ResponseHeaders, StartResponse, WriteCallable } from "../spec.ts";
import { checkHeaders, checkStatus, chunkTypeError, describe, noStartResponseError, notABodyError } from "./response-fields.ts";

/** Where the gateway sends the response. */
export interface ResponseSink {
  /**
   * Send the status line and header section now. `bodyLength` is the body's
   * length in bytes when the gateway knows it (an array body), else -1.
   * May throw (e.g. an invalid Content-Length); nothing is sent then.
   */
  start(status: string, headers: ResponseHeaders, bodyLength: number): void;
  /**
   * Send body bytes. Returns `false` when the caller should await
   * {@link drain} before producing more (backpressure).
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when more may be written, or when the sink closed. */
  drain(): Promise<void>;
  /** The body is complete. */
  end(): void;
  /** The response cannot be completed after `start`: cut the connection so the client sees a truncated message. */
  abort(): void;
  /** `true` once the client is gone: the gateway stops producing. */
  readonly closed: boolean;
}

/** Gateway settings. */
export interface GatewayOptions {
  /** Send the error's stack in 500 bodies (eventlet `debug`). */
  debug: boolean;
  /** Log an application error; `context` is the request line. */
  logError(context: string, error: unknown): void;
  /** Buffer body chunks until at least this many bytes (eventlet `minimum_chunk_size`); 0 = off. */
  minimumChunkSize: number;
  /**
   * Called in place of {@link logError} when the application fails (gevent
   * `WSGIHandler.handle_error()`, the server's `handlerClass` hook). It
   * logs as it likes and may return the response to send instead of the
   * standard 500; `null` or `undefined` sends the standard one. Its answer is
   * not used once response headers went out (the connection is cut then).
   * When it throws or returns an invalid response, both errors are logged
   * with {@link logError} and the standard 500 is sent.
   */
  handleError?(error: unknown, environ: Environ): ErrorResponse | null | undefined | void;
}

/** A complete response for an application error (see {@link GatewayOptions.handleError}). */
export interface ErrorResponse {
  /** Status line text, e.g. `"503 Service Unavailable"` (PEP 3333 `status`). */
  status: string;
  /** Response fields; `Content-Length` is added from `body` when absent. */
  headers: ResponseHeaders;
  /** The whole body. */
  body: Uint8Array;
}

/** The request line an error log entry names, e.g. `GET /x?y=1 HTTP/1.1` (from the environ). */
export function requestLineOf(environ: Environ): string {
  return `${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO} ${environ.SERVER_PROTOCOL}`;
}

const RESOLVED = Promise.resolve();
/** Files up to this size are read in one call by the file_wrapper fast path (bytes). */
const SMALL_FILE = 1024 * 1024;
const encoder = new TextEncoder();

/** Raised when the client went away while the application was writing. */
export class ClientDisconnected extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientDisconnected";
  }
}

/**
 * One application call: `startResponse` and `write` for the app, the body
 * iteration, `close()`, and the error rules.
 */
class Invocation implements Running {
  done: void | Promise<void> = undefined;
  private status: string | null = null;
  private headers: ResponseHeaders | null = null;
  private headersSent = false;
  private body: Body | null = null;
  private iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | null = null;
  private finished = false;
  private small: Uint8Array[] | null = null;
  private smallBytes = 0;
  private minChunk = -1;

  constructor(
    private readonly app: Application,
    private readonly environ: Environ,
    private readonly sink: ResponseSink,
    private readonly options: GatewayOptions,
  ) {}

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      if (this.headersSent) throw excInfo;
    } else if (this.status !== null) {
      throw new Error(
        "startResponse() was called a second time without excInfo; pass the caught error as the third argument to replace the status and headers (PEP 3333)",
      );
    }
    checkStatus(status);
    checkHeaders(headers);
    this.status = status;
    this.headers = headers;
    return this.write;
  };

  readonly write: WriteCallable = (data) => {
    if (this.status === null) throw new Error("write() was called before startResponse() (PEP 3333)");
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`write() takes a Uint8Array, got ${describe(data)}`);
    }
    if (this.finished) throw new Error("write() was called after the response ended");
    if (this.sink.closed) return Promise.reject(new ClientDisconnected());
    if (data.length === 0) {
      // The first write() sends the headers even when empty (PEP 3333), e.g. to start an event stream.
      if (!this.headersSent) {
        this.sendHead(-1);
        this.sink.write(data);
      }
      return RESOLVED;
    }
    this.flushSmall();
    return this.send(data) ? RESOLVED : this.sink.drain();
  };

  /** Run the application; returns a promise only when the work goes async. */
  run(): void | Promise<void> {
    let result: Body | Promise<Body>;
    try {
      result = this.app(this.environ, this.startResponse);
    } catch (error) {
      return this.fail(error);
    }
    if (result !== null && typeof result === "object" && typeof (result as Promise<Body>).then === "function") {
      return (result as Promise<Body>).then(
        (body) => this.consume(body),
        (error) => this.fail(error),
      );
    }
    return this.consume(result as Body);
  }

  private consume(body: Body): void | Promise<void> {
    this.body = body;
    if (Array.isArray(body)) return this.consumeArray(body);
    if (body !== null && typeof body === "object") {
      // tsgi.file_wrapper over a Blob (Bun.file): send the file itself, not block by block.
      const blob = (body as { blob?: unknown }).blob;
      if (blob instanceof Blob) return this.sendBlob(blob);
      if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") {
        return this.pump((body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]());
      }
      if (typeof (body as Iterable<Uint8Array>)[Symbol.iterator] === "function") {
        return this.pump((body as Iterable<Uint8Array>)[Symbol.iterator]());
      }
    }
    return this.fail(notABodyError(body));
  }

  /** The fast path: the whole body is known, send it in one go with Content-Length. */
  private consumeArray(chunks: Uint8Array[]): void | Promise<void> {
    let total = 0;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i];
      if (!(chunk instanceof Uint8Array)) return this.fail(chunkTypeError(chunk));
      total += chunk.length;
    }
    if (this.status === null) return this.fail(noStartResponseError());
    if (!this.headersSent && this.small === null) {
      try {
        this.sendHead(total);
      } catch (error) {
        return this.fail(error);
      }
    }
    for (let i = 0; i < chunks.length; i++) {
      if (chunks[i]!.length !== 0) this.send(chunks[i]!);
    }
    return this.complete();
  }

  /**
   * The file_wrapper fast path (PEP 3333 "Optional Platform-Specific File
   * Handling"): the length is known, a small file is read in one call and
   * written once, a large one streams in the runtime's large reads.
   */
  private async sendBlob(blob: Blob): Promise<void> {
    try {
      if (this.status === null) throw noStartResponseError();
      if (!this.headersSent) this.sendHead(blob.size);
      if (blob.size <= SMALL_FILE) {
        if (blob.size > 0) this.send(await blob.bytes());
      } else {
        const reader = blob.stream().getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            if (this.sink.closed) throw new ClientDisconnected();
            if (value.length > 0 && !this.send(value)) await this.sink.drain();
          }
        } finally {
          reader.releaseLock();
        }
      }
      if (this.sink.closed) throw new ClientDisconnected();
    } catch (error) {
      return this.fail(error);
    }
    return this.complete();
  }

  /** Pull chunks one at a time, waiting for the sink to drain between them. */
  private async pump(iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array>): Promise<void> {
    this.iterator = iterator;
    try {
      for (;;) {
        const step = await iterator.next();
        if (step.done) break;
        const chunk = step.value;
        if (!(chunk instanceof Uint8Array)) throw chunkTypeError(chunk);
        if (this.sink.closed) throw new ClientDisconnected();
        if (chunk.length === 0) continue;
        if (!this.send(chunk)) await this.sink.drain();
        if (this.sink.closed) throw new ClientDisconnected();
      }
    } catch (error) {
      return this.fail(error);
    }
    this.iterator = null;
    return this.complete();
  }

  /** Send one non-empty chunk, headers first if they have not gone out. */
  private send(chunk: Uint8Array): boolean {
    if (this.minChunk === -1) {
      const perRequest = this.environ["tsgi.minimum_write_chunk_size"];
      this.minChunk = typeof perRequest === "number" ? perRequest : this.options.minimumChunkSize;
    }
    if (this.minChunk > 0) {
      (this.small ??= []).push(chunk);
      this.smallBytes += chunk.length;
      if (this.smallBytes < this.minChunk) return true;
      return this.flushSmall();
    }
    if (!this.headersSent) this.sendHead(-1);
    return this.sink.write(chunk);
  }

  private flushSmall(): boolean {
    if (this.small === null || this.small.length === 0) return true;
    const parts = this.small;
    this.small = [];
    this.smallBytes = 0;
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (!this.headersSent) this.sendHead(-1);
    return this.sink.write(joined);
  }

  private sendHead(bodyLength: number): void {
    const status = this.status;
    if (status === null) throw noStartResponseError();
    // The app may have changed the list after startResponse (PEP 3333 allows
    // it until the first chunk), so check again what goes on the wire.
    checkHeaders(this.headers);
    this.sink.start(status, this.headers!, bodyLength);
    this.headersSent = true;
  }

  private complete(): void | Promise<void> {
    if (this.status === null) return this.fail(noStartResponseError());
    try {
      if (this.small !== null && this.smallBytes > 0) this.flushSmall();
      if (!this.headersSent) this.sendHead(0);
    } catch (error) {
      return this.fail(error);
    }
    this.finished = true;
    this.sink.end();
    return this.closeBody();
  }

  private fail(error: unknown): void | Promise<void> {
    const gone = this.sink.closed || error instanceof ClientDisconnected;
    const custom = gone ? null : this.handleError(error);
    this.finished = true;
    if (gone) {
      // Nothing to send to.
    } else if (!this.headersSent) {
      let response = custom;
      if (response !== null) {
        try {
          checkStatus(response.status);
          checkHeaders(response.headers);
          this.sink.start(response.status, response.headers, response.body.length);
        } catch (invalid) {
          this.options.logError("the error response from handleError()", invalid);
          response = null;
        }
      }
      if (response === null) {
        const text = this.options.debug && error instanceof Error && error.stack ? error.stack : "Internal Server Error";
        const bytes = encoder.encode(`${text}\n`);
        response = {
          status: "500 Internal Server Error",
          headers: [
            ["Content-Type", "text/plain; charset=utf-8"],
            ["Content-Length", String(bytes.length)],
          ],
          body: bytes,
        };
        this.sink.start(response.status, response.headers, bytes.length);
      }
      this.headersSent = true;
      if (response.body.length > 0) this.sink.write(response.body);
      this.sink.end();
    } else {
      this.sink.abort();
    }
    return this.closeBody();
  }

  /**
   * Log an application error: through the `handleError` hook when there is
   * one (its response, if valid in shape, is returned), else `logError`.
   */
  private handleError(error: unknown): ErrorResponse | null {
    const hook = this.options.handleError;
    if (hook === undefined) {
      this.options.logError(requestLineOf(this.environ), error);
      return null;
    }
    try {
      const response = hook(error, this.environ);
      if (response === null || response === undefined) return null;
      if (typeof response !== "object" || !(response.body instanceof Uint8Array) || !Array.isArray(response.headers)) {
        throw new TypeError(`handleError() must return { status, headers, body: Uint8Array } or null, got ${describe(response)}`);
      }
      return response;
    } catch (hookError) {
      this.options.logError(requestLineOf(this.environ), error);
      this.options.logError("handleError()", hookError);
      return null;
    }
  }

  /** Call the body's `close()` exactly once; stop an unfinished iterator. */
  private closeBody(): void | Promise<void> {
    const iterator = this.iterator;
    this.iterator = null;
    const body = this.body;
    this.body = null;
    let pending: Promise<unknown> | undefined;
    if (iterator && typeof iterator.return === "function") {
      try {
        const r = iterator.return();
        if (r && typeof (r as Promise<unknown>).then === "function") pending = (r as Promise<unknown>).then(undefined, (e) => this.logCloseError(e));
      } catch (error) {
        this.logCloseError(error);
      }
    }
    if (body && typeof body.close === "function") {
      try {
        const r = body.close();
        if (r && typeof (r as Promise<void>).then === "function") {
          const p = (r as Promise<void>).then(undefined, (e) => this.logCloseError(e));
          pending = pending ? pending.then(() => p) : p;
        }
      } catch (error) {
        this.logCloseError(error);
      }
    }
    return pending ? pending.then(() => undefined) : undefined;
  }

  private logCloseError(error: unknown): void {
    const env = this.environ;
    this.options.logError(`close() of the response body for ${env.REQUEST_METHOD} ${env.REQUEST_URI ?? env.PATH_INFO}`, error);
  }

  /** Called by the server when the client went away mid-response: stop and close. */
  abandon(): void | Promise<void> {
    if (this.finished) return;
    this.finished = true;
    return this.closeBody();
  }
}



/** A running application call, as seen by the server. */
export interface Running {
  /** Settles when the response ended (normally, by error, or abandoned); `undefined` when it finished synchronously. */
  readonly done: void | Promise<void>;
  /** The client went away: stop the iteration and close the body. */
  abandon(): void | Promise<void>;
}

/**
 * Call `app` for one request and stream its response into `sink`.
 * Errors are handled here (logged, 500 before headers, abort after); the
 * returned `done` never rejects.
 */
export function runApplication(app: Application, environ: Environ, sink: ResponseSink, options: GatewayOptions): Running {
  const invocation = new Invocation(app, environ, sink, options);
  const done = invocation.run();
  if (done) invocation.done = done.then(undefined, (error) => options.logError("tsgi gateway", error));
  return invocation;
}

/**
 * Run eventlet's post hooks (`environ["tsgi.posthooks"]`, entries
 * `[fn, args, kwargs]`, called as `fn(environ, ...args, kwargs)`) after the
 * response was sent or the client left. Errors are logged, never thrown.
 */
export async function runPosthooks(environ: Environ, logError: (context: string, error: unknown) => void): Promise<void> {
  const hooks = environ["tsgi.posthooks"] as PostHook[] | undefined;
  if (!Array.isArray(hooks) || hooks.length === 0) return;
  for (const [fn, args = [], kwargs] of hooks) {
    try {
      await (kwargs === undefined ? fn(environ, ...args) : fn(environ, ...args, kwargs));
    } catch (error) {
      logError("tsgi.posthooks", error);
    }
  }
}
