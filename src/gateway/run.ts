/**
 * Running one request through a TSGI application (PEP 3333 "Specification
 * Details", "Buffering and Streaming", "Error Handling"). This module knows
 * nothing of HTTP framing: it drives a {@link ResponseSink}, which the server
 * implements over a socket and the fetch bridge over a `Response`.
 * @module
 */
import type { Application, Body, Environ, ResponseHeaders, StartResponse, WriteCallable } from "../spec.ts";
import { fileBodyBlob, isFileBody } from "./file-body.ts";
import {
  checkHeaders,
  checkStatus,
  chunkBeforeStartResponseError,
  chunkTypeError,
  describe,
  toChunk,
  noStartResponseError,
  notABodyError,
  secondStartResponseError,
} from "./response-fields.ts";
import { thrownAfterStartResponse } from "./node-handler-hint.ts";
import { inCauseChain } from "./cause-chain.ts";
import { signalReasonOf } from "./signal.ts";
import { ClientDisconnected, isClientDisconnected } from "./client-disconnected.ts";
import { errorResponseFromHook, internalServerError, requestLineOf } from "./error-response.ts";

/**
 * Whose bytes a chunk given to {@link ResponseSink.write} holds, which says
 * how long the sink may keep it as it is (spec.md "The body"):
 * - `"borrowed"` (the default): the application's, which it may change as
 *   soon as `write` returns (a buffer refilled after a `yield` or a
 *   `write()`): the sink takes the bytes (writes or copies them) before it
 *   returns;
 * - `"lent"`: the application's, but it runs no more code for this response
 *   (an array body without `close()`): the sink may keep the chunk until the
 *   response's end, or, while it holds a batch of responses (the tsgi
 *   server's pipelined ones), until it runs application code again;
 * - `"given"`: the gateway's own (a file's blocks, its 500 page, chunks it
 *   joined or copied): never changed, kept as long as the sink likes.
 */
export type ChunkOwner = "borrowed" | "lent" | "given";

/** Where the gateway sends the response. */
export interface ResponseSink {
  /**
   * Send the status line and header section now. `bodyLength` is the body's
   * length in bytes when the gateway knows it (an array body, a file), else
   * -1. `exact` (default false) says that length is the resource's whatever
   * the method (a file's size): a HEAD answer then carries it even when it
   * is 0, as GET's does (RFC 9110 §9.3.2), where an empty array body to HEAD
   * may be an app skipping the body. May throw (e.g. an invalid
   * Content-Length); nothing is sent then.
   */
  start(status: string, headers: ResponseHeaders, bodyLength: number, exact?: boolean): void;
  /**
   * Send body bytes. `owner` (default `"borrowed"`) says how long the sink
   * may keep `chunk` as it is ({@link ChunkOwner}). Returns `false` when the
   * caller should await {@link drain} before producing more (backpressure).
   */
  write(chunk: Uint8Array, owner?: ChunkOwner): boolean;
  /** Resolves when more may be written, or when the sink closed. */
  drain(): Promise<void>;
  /** The body is complete. */
  end(): void;
  /** The response cannot be completed after `start`: cut the connection so the client sees a truncated message. */
  abort(): void;
  /** `true` once the client is gone: the gateway stops producing. */
  readonly closed: boolean;
  /**
   * `true` once the client has left or ended its side (a close, a reset, a
   * FIN; for the fetch bridge an aborted `request.signal`): a
   * `ClientDisconnected` the app passes on (or wraps as an error's `cause`)
   * is then taken for the client's and not logged. Before that, one is the app's own error (a `write()` of
   * another request whose client left, a read of another request's input,
   * one it made), answered 500 and logged as any other.
   */
  readonly clientLeft: boolean;
  /**
   * `true` after {@link start} when the response takes no more body bytes:
   * none at all (HEAD, 204, 304: the header section goes out at once), or
   * the declared Content-Length is complete. The gateway then stops
   * iterating (spec.md "Other HTTP features", "Handling the Content-Length
   * header").
   */
  readonly discardsBody: boolean;
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
   * not used once response headers went out (the connection is cut then),
   * nor once the sink closed or the server abandoned the request: it is
   * still called for the app's own error then, and its answer dropped.
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

/** A body's `close` method. */
type CloseMethod = (this: Body) => unknown;

const RESOLVED = Promise.resolve();
const toUndefined = (): undefined => undefined;
/**
 * How long the body's `close()` waits for the iterator's `return()` to
 * settle when the server stops a body early (ms). A generator suspended at
 * a `yield` settles at once; one busy in an `await` only when that ends.
 */
export const BODY_RETURN_GRACE_MS = 1000;

/** Microtask turns {@link settledWithin} waits before it arms its timer (a generator suspended at a `yield` settles its `return()` in 3 to 5). */
const SETTLE_TURNS = 16;

/**
 * Resolves when `promise` settles (a rejection counts) or `ms` pass,
 * whichever is first. The timer is armed only for a promise that has not
 * settled within a few microtask turns, so the common case (a generator's
 * `return()` at a `yield`) costs no timer; it is cleared when the promise
 * settles.
 */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve();
    };
    promise.then(settle, settle);
    let turns = 0;
    const check = () => {
      if (done) return;
      if (++turns < SETTLE_TURNS) queueMicrotask(check);
      else timer = setTimeout(resolve, ms);
    };
    queueMicrotask(check);
  });
}

/** Files up to this size are read in one call by the file_wrapper fast path (bytes). */
const SMALL_FILE = 1024 * 1024;

/** The application's Content-Length value (a valid one), or -1. */
function declaredLength(headers: ResponseHeaders): number {
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === "content-length" && /^\d{1,15}$/.test(value)) return Number(value);
  }
  return -1;
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
  /** The reader of a streamed file body ({@link sendBlob}) while it reads: {@link abandon} cancels it. */
  private fileReader: Pick<ReadableStreamDefaultReader, "cancel"> | null = null;
  private finished = false;
  /** The server ended the response itself ({@link abandon}): the app's later writes reject as if the client had gone. */
  private abandoned = false;
  /** Chunks collected under minimumChunkSize: copies, or an array body's chunks as they are ({@link smallLent}). */
  private small: Uint8Array[] | null = null;
  private smallBytes = 0;
  /** {@link small} holds an array body's chunks as they are ("lent"), not copies. */
  private smallLent = false;
  private minChunk = -1;
  /**
   * Bytes a file wrapper over a file-like object may still send under the
   * app's Content-Length, which cuts the file short without an error (PEP
   * 3333); -2 for such a body before its first block (the headers may still
   * change until then), -1 for any other body, or without a Content-Length.
   */
  private fileLeft = -1;
  /** The body is a file wrapper returned as it is: an empty one is an empty file, for HEAD too (see {@link ResponseSink.start}'s `exact`). */
  private fileBody = false;
  /** What the first {@link closeBody} returned, `null` before it ran. */
  private closing: void | Promise<void> | null = null;
  /**
   * The server called the body's `close()` while it ended the response itself
   * ({@link abandon}): a `next()` still pending then settles with what that
   * `close()` did to the body's source (see {@link pump}).
   */
  private closedByServer = false;
  /** The server's own `tsgi.input`, kept because middleware may replace the environ's. */
  private readonly input: { failure?: unknown } | undefined;
  /** Called once when a response that did not end synchronously has ended (see {@link runApplication}). */
  onDone: (() => void) | null = null;

  constructor(
    private readonly app: Application,
    private readonly environ: Environ,
    private readonly sink: ResponseSink,
    private readonly options: GatewayOptions,
  ) {
    this.input = environ["tsgi.input"] as { failure?: unknown } | undefined;
  }

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      if (this.headersSent) throw excInfo;
    } else if (this.status !== null) {
      throw secondStartResponseError();
    }
    checkStatus(status);
    checkHeaders(headers);
    if (this.status !== null && this.small !== null) {
      // A replaced response (excInfo before any byte went out): what it had
      // collected under minimumChunkSize belongs to it, not to the new one.
      this.small = null;
      this.smallBytes = 0;
    }
    this.status = status;
    this.headers = headers;
    return this.write;
  };

  readonly write: WriteCallable = (data) => {
    if (this.status === null) throw new Error("write() was called before startResponse() (PEP 3333)");
    const chunk = toChunk(data);
    if (chunk === null) {
      throw (data as unknown) instanceof Uint8Array ? chunkTypeError(data, "the chunk given to write()") : new TypeError(`write() takes a Uint8Array, got ${describe(data)}`);
    }
    data = chunk;
    if (this.sink.closed || this.abandoned) {
      // PEP 3333 apps call write() as a statement: an unawaited rejection
      // must not become an unhandled one, which ends the whole process. An
      // app that awaits it still sees the rejection.
      const gone = Promise.reject(new ClientDisconnected());
      gone.catch(() => {});
      return gone;
    }
    if (this.finished) throw new Error("write() was called after the response ended");
    if (data.length === 0) {
      // The first write() sends the headers even when empty (PEP 3333), e.g. to start an event stream.
      if (!this.headersSent) {
        this.sendHead(-1);
        this.sink.write(data);
      }
      return RESOLVED;
    }
    // write() sends at once, minimumChunkSize or not: what was collected, then its own bytes.
    let sent: boolean;
    if (this.small !== null && this.small.length > 0) {
      this.small.push(data);
      sent = this.flushSmall();
    } else {
      if (!this.headersSent) this.sendHead(-1);
      sent = this.sink.write(data);
    }
    return sent ? RESOLVED : this.sink.drain();
  };

  /**
   * Run the application; returns a promise only when the work goes async,
   * one that never rejects (what would reject it, a gateway bug, is logged).
   * An async app whose body is an array costs one promise past its own,
   * not a second one to catch the first.
   */
  run(): void | Promise<void> {
    let result: Body | Promise<Body>;
    try {
      result = this.app(this.environ, this.startResponse);
    } catch (error) {
      return this.failSafely(error);
    }
    let adopted: Promise<Body> | undefined;
    try {
      // Reading `then` runs the app's code when it is a getter (or a Proxy): it may throw like the app.
      const then: unknown = result !== null && typeof result === "object" ? (result as Promise<Body>).then : undefined;
      // A thenable that is no native promise may call back twice, both ways, or throw from then():
      // adopted by Promise.resolve(), it settles once, and its throw rejects (a promise passes as it
      // is, once its `constructor`, which may be a getter too, says it is a Promise's).
      if (typeof then === "function") adopted = Promise.resolve(result as Promise<Body>);
    } catch (error) {
      return this.failSafely(error);
    }
    if (adopted !== undefined) return this.awaitBody(adopted);
    let step: void | Promise<void>;
    try {
      // (A body's `close` or iterator may run the app's getters: they may throw.)
      step = this.guard(this.consume(result as Body));
    } catch (error) {
      step = this.failAfterThrow(error);
    }
    return step === undefined ? undefined : this.settle(step);
  }

  /**
   * What threw out of the body's handling (an app's getter, Proxy or
   * environ key met where the gateway reads them): answered as the app's
   * error (500, or a cut response) when the response is not over yet, else
   * {@link cut}. Never throws: an app's mistake must not reach the server's
   * socket handlers.
   */
  private failAfterThrow(error: unknown): void | Promise<void> {
    return this.finished ? this.cut(error) : this.failSafely(error);
  }

  /** {@link fail}; what it throws itself is {@link cut}. */
  private failSafely(error: unknown): void | Promise<void> {
    try {
      return this.guard(this.fail(error));
    } catch (failure) {
      return this.cut(failure);
    }
  }

  /** The last resort: log `error` and cut the response (unless the server answered the request itself). */
  private cut(error: unknown): undefined {
    this.finished = true;
    this.options.logError("tsgi gateway", error);
    if (!this.sink.closed && !this.abandoned) this.sink.abort();
    return undefined;
  }

  /**
   * An async app's body, once its promise settles. (The closures live here
   * and in the other cold methods, not in {@link run}, {@link guard} and
   * {@link closeBodyOnce}: a method that makes a closure allocates its scope
   * on every call, on paths that make none too.)
   */
  private awaitBody(result: Promise<Body>): Promise<void> {
    return result.then(
      (body) => {
        let step: void | Promise<void>;
        try {
          step = this.guard(this.consume(body));
        } catch (error) {
          step = this.failAfterThrow(error);
        }
        return this.settle(step, true);
      },
      (error) => {
        return this.settle(this.failSafely(error), true);
      },
    );
  }

  /**
   * Tell {@link onDone} that the response ended: once `step` settles, or at
   * once when `step` is over and `now` (called from the promise reaction
   * that ends an async app's response). A response that ended synchronously
   * is not told: the caller sees `done` undefined.
   */
  private settle(step: void | Promise<void>, now = false): void | Promise<void> {
    const onDone = this.onDone;
    if (onDone === null) return step;
    if (step !== undefined) return step.then(onDone);
    if (now) onDone();
    return undefined;
  }

  /** `step`, or a promise of it that does not reject: a rejection (a gateway bug) is logged. */
  private guard(step: void | Promise<void>): void | Promise<void> {
    return step === undefined ? undefined : this.logRejection(step);
  }

  private logRejection(step: Promise<void>): Promise<void> {
    return step.then(undefined, (error) => this.options.logError("tsgi gateway", error));
  }

  /**
   * Send `body`. Looking at it runs the app's code when it is a `Proxy` or
   * has getters (`Array.isArray()` of a revoked `Proxy` throws, as may an
   * array's `close` getter): such an error is the application's, answered
   * 500 (or the response cut) and logged for its request as any other.
   */
  private consume(body: Body): void | Promise<void> {
    try {
      return this.consumeBody(body);
    } catch (error) {
      return this.fail(error);
    }
  }

  private consumeBody(body: Body): void | Promise<void> {
    // An app that forgot its `return` gives undefined: nothing to close, and an application error below.
    this.body = body ?? null;
    // The server gave up on the request (the client went away, a timeout, a
    // shutdown) while the app was still working: nothing will be sent, and the
    // body is closed unread (PEP 3333: close() whether or not iteration began).
    if (this.abandoned) return this.closeBody();
    if (Array.isArray(body)) return this.consumeArray(body);
    if (body !== null && typeof body === "object" && !(body instanceof Uint8Array)) {
      // tsgi.file_wrapper over a Blob (Bun.file), returned as it is: send the file itself, not block by block.
      const blob = fileBodyBlob(body);
      if (blob !== undefined) return this.sendBlob(blob);
      if (isFileBody(body)) {
        this.fileLeft = -2;
        this.fileBody = true;
      }
      let iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | undefined;
      try {
        // Getting the iterator runs the body's code: it may throw like next() may.
        if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") {
          iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
        } else if (typeof (body as Iterable<Uint8Array>)[Symbol.iterator] === "function") {
          iterator = (body as Iterable<Uint8Array>)[Symbol.iterator]();
        }
      } catch (error) {
        return this.fail(error);
      }
      if (iterator !== undefined) return this.pump(iterator);
    }
    return this.fail(notABodyError(body));
  }

  /** The fast path: the whole body is known, send it in one go with Content-Length. */
  private consumeArray(chunks: Uint8Array[]): void | Promise<void> {
    // The app runs no more code for this response, unless the array has a close() (PEP 3333 allows it).
    let owner: ChunkOwner;
    try {
      owner = typeof (chunks as { close?: unknown }).close === "function" ? "borrowed" : "lent";
    } catch (error) {
      // A `close` getter that throws: the app's error, logged once; there is no close() to call.
      this.body = null;
      return this.fail(error);
    }
    let total = 0;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = toChunk(chunks[i]);
      if (chunk === null) return this.fail(chunkTypeError(chunks[i]));
      total += chunk.length;
    }
    if (this.status === null) return this.fail(noStartResponseError());
    if (!this.headersSent && this.small === null) {
      try {
        // (Read before the head goes out: an environ getter that throws is answered 500, not a cut response.)
        if (this.minChunk === -1) this.readMinimumChunk();
        this.sendHead(total);
      } catch (error) {
        return this.fail(error);
      }
    }
    for (let i = 0; i < chunks.length; i++) {
      // Read again, as the app gives it (a Proxy or a getter may give another): the connection cuts
      // or closes a body that is not the length sent (a Proxy's), but it trusts each chunk's length.
      const chunk = toChunk(chunks[i]);
      if (chunk === null) return this.fail(chunkTypeError(chunks[i]));
      if (chunk.length !== 0) this.send(chunk, owner);
    }
    return this.complete();
  }

  /**
   * The file_wrapper fast path (PEP 3333 "Optional Platform-Specific File
   * Handling"): the length is known, a small file is read in one call and
   * written once, a large one streams in the runtime's large reads.
   */
  private async sendBlob(file: Blob): Promise<void> {
    try {
      if (this.status === null) throw noStartResponseError();
      // A Bun.file() of a missing path has size 0: an error, not an empty 200.
      const exists = (file as { exists?: () => Promise<boolean> }).exists;
      if (file.size === 0 && typeof exists === "function" && !(await exists.call(file))) {
        throw new Error(`tsgi.file_wrapper: ${(file as { name?: string }).name ?? "the file"} does not exist`);
      }
      // A pipe or a device (Bun.file() of a FIFO, /dev/stdin) has no size (Infinity): streamed
      // with no length of its own, rather than announced as `Content-Length: Infinity`.
      const sized = Number.isFinite(file.size);
      // PEP 3333: a Content-Length shorter than the file means send that many bytes.
      const declared = declaredLength(this.headers!);
      const blob = sized && declared >= 0 && declared < file.size ? file.slice(0, declared) : file;
      if (!this.headersSent) this.sendHead(sized ? blob.size : -1, sized);
      if (this.sink.discardsBody) {
        // HEAD, 204, 304: the header section is all.
      } else if (sized && blob.size <= SMALL_FILE) {
        if (blob.size > 0) this.send(await blob.bytes(), "given");
      } else {
        const reader = blob.stream().getReader();
        this.fileReader = reader;
        // An unsized source under a declared Content-Length: that many bytes are sent (PEP 3333), then it is left.
        let left = sized ? -1 : declared;
        let read = false;
        try {
          for (;;) {
            const step = await reader.read();
            if (step.done) {
              read = true;
              break;
            }
            if (this.sink.closed) throw new ClientDisconnected();
            let value = step.value;
            if (left >= 0) {
              if (value.length > left) value = value.subarray(0, left);
              left -= value.length;
            }
            if (value.length > 0 && !this.send(value, "given")) await this.sink.drain();
            if (left === 0) break;
          }
        } finally {
          // Left before its end (the length reached, the client gone, a shutdown): the stream is
          // cancelled, which closes its file now; a stream merely released held it until collected.
          this.fileReader = null;
          if (!read) await reader.cancel().catch(() => {});
          reader.releaseLock();
        }
      }
      // (Abandoned: the read that abandon() cancelled ended as if the file had.)
      if (this.sink.closed || this.abandoned) throw new ClientDisconnected();
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
        let chunk = toChunk(step.value)!;
        if (chunk === null) throw chunkTypeError(step.value);
        if (this.sink.closed) throw new ClientDisconnected();
        if (this.fileLeft !== -1) chunk = this.cutFile(chunk);
        if (chunk.length === 0) {
          if (this.fileLeft === 0) return this.complete();
          continue;
        }
        if (!this.send(chunk, "borrowed")) await this.sink.drain();
        if (this.sink.closed) throw new ClientDisconnected();
        // HEAD, 204, 304, or Content-Length reached: stop the body (closeBody calls return()).
        if ((this.headersSent && this.sink.discardsBody) || this.fileLeft === 0) return this.complete();
      }
    } catch (error) {
      // The server stopped this body (its client left, requestTimeout, a shutdown) and called its
      // close(), which ended the source a next() still waited on: an unsubscribe that rejects the
      // pending await, an AbortController the close() aborts (events.on), a stream it destroys. That
      // rejection is the body's way of ending, not an error of the app's: not logged (what close()
      // itself throws is, once). An error the body threw before its close() is logged (fail()).
      if (this.closedByServer) return this.closeBody();
      return this.fail(error);
    }
    this.iterator = null;
    return this.complete();
  }

  /**
   * A file wrapper's block, cut to what its Content-Length still allows
   * (PEP 3333 "Optional Platform-Specific File Handling": a shorter
   * Content-Length sends that many bytes of the file): the sink never sees
   * an excess to log as an application error.
   */
  private cutFile(chunk: Uint8Array): Uint8Array {
    let left = this.fileLeft;
    if (left === -2) left = this.fileLeft = this.headers === null ? -1 : declaredLength(this.headers);
    if (left === -1) return chunk;
    if (chunk.length > left) chunk = chunk.subarray(0, left);
    this.fileLeft = left - chunk.length;
    return chunk;
  }

  /**
   * Send one non-empty chunk, headers first if they have not gone out.
   * `owner` says whose bytes it holds ({@link ChunkOwner}); one collected
   * under minimumChunkSize while the app goes on ("borrowed") is copied.
   */
  private send(chunk: Uint8Array, owner: ChunkOwner): boolean {
    if (this.minChunk === -1) this.readMinimumChunk();
    if (this.minChunk > 0 && !(this.headersSent && this.sink.discardsBody)) {
      // (A copy: a Buffer's slice() would be a view.)
      (this.small ??= []).push(owner === "borrowed" ? new Uint8Array(chunk) : chunk);
      if (owner === "lent") this.smallLent = true;
      this.smallBytes += chunk.length;
      if (this.smallBytes < this.minChunk) return true;
      return this.flushSmall();
    }
    if (!this.headersSent) this.sendHead(-1);
    return this.sink.write(chunk, owner);
  }

  /** Take the response's minimum chunk size: the environ's `tsgi.minimum_write_chunk_size`, else the server's (may throw: the app's getter). */
  private readMinimumChunk(): void {
    const perRequest = this.environ["tsgi.minimum_write_chunk_size"];
    this.minChunk = typeof perRequest === "number" ? perRequest : this.options.minimumChunkSize;
  }

  /** Send what was collected under minimumChunkSize (copies or joined: the gateway's own, unless an array's chunk as it is). */
  private flushSmall(): boolean {
    if (this.small === null || this.small.length === 0) return true;
    const parts = this.small;
    const owner: ChunkOwner = parts.length === 1 && this.smallLent ? "lent" : "given";
    this.small = [];
    this.smallBytes = 0;
    this.smallLent = false;
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (!this.headersSent) this.sendHead(-1);
    return this.sink.write(joined, owner);
  }

  private sendHead(bodyLength: number, exact = false): void {
    const status = this.status;
    // Arrays, write() and the end of the body check first: here, a chunk of an iterated body came first.
    if (status === null) throw chunkBeforeStartResponseError();
    // The app may have changed the list after startResponse (PEP 3333 allows
    // it until the first chunk), so check again what goes on the wire.
    checkHeaders(this.headers);
    this.sink.start(status, this.headers!, bodyLength, exact);
    this.headersSent = true;
  }

  private complete(): void | Promise<void> {
    if (this.status === null) return this.fail(noStartResponseError());
    try {
      if (this.small !== null && this.smallBytes > 0) this.flushSmall();
      if (!this.headersSent) this.sendHead(0, this.fileBody);
    } catch (error) {
      return this.fail(error);
    }
    this.finished = true;
    this.sink.end();
    return this.closeBody();
  }

  private fail(error: unknown): void | Promise<void> {
    const silent = this.passedOn(error);
    // The client is gone or the server answered the request itself: an error of the app's own is
    // still logged (through handleError, as any other), but nothing goes out, and whatever response
    // the hook returns is dropped.
    const unanswerable = this.sink.closed || this.abandoned;
    const custom = silent ? null : this.handleError(error);
    this.finished = true;
    if (silent || unanswerable) {
      // Nothing to send to, or the server answered the request itself. But a client that only
      // half-closed (its FIN cut the request body, and the app passed the ClientDisconnected on) is
      // still reading a response that started: cut it as any cut response is, so a close-delimited
      // one does not end with a FIN that makes it look whole (RFC 9112 §8).
      if (this.headersSent && !unanswerable) this.sink.abort();
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
        response = internalServerError(error, this.options.debug);
        this.sink.start(response.status, response.headers, response.body.length);
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
   * Whether `error` is the client's leaving or the server's own giving up,
   * which the app passed on: not logged (spec.md "Error handling"). It is,
   * or holds down its `cause` chain or in an `AggregateError` ({@link inCauseChain}): a
   * `ClientDisconnected`, once the client left, the sink closed or the
   * server abandoned the request (before that, one is the app's own error:
   * from another request's `write()` or input, or one it made, and its
   * client still waits for an answer); what the server failed the body's
   * reads with after it gave up (a 408, 400 or 413 answered, requestTimeout
   * logged); or what it aborted `tsgi.signal` with (a rethrown
   * `signal.reason`, a `fetch(url, { signal })` rejecting with it). Any
   * other error, an `AbortError` of the app's own included, is the app's.
   */
  private passedOn(error: unknown): boolean {
    if (!(this.sink.closed || this.sink.clientLeft || this.abandoned)) return false;
    const failure = this.abandoned ? this.input?.failure : undefined;
    const reason = signalReasonOf(this.environ);
    return inCauseChain(
      error,
      (e) => isClientDisconnected(e) || (e !== null && e !== undefined && (e === failure || e === reason)),
    );
  }

  /**
   * Log an application error: through the `handleError` hook when there is
   * one (its response, if valid in shape, is returned), else `logError`.
   */
  private handleError(error: unknown): ErrorResponse | null {
    // An app that called startResponse is no node:http handler: its "x.write is not a function" gets no such hint.
    if (this.status !== null) thrownAfterStartResponse(error);
    const hook = this.options.handleError;
    if (hook === undefined) {
      this.options.logError(requestLineOf(this.environ), error);
      return null;
    }
    return errorResponseFromHook(hook, error, this.environ, this.options);
  }

  /**
   * Call the body's `close()` exactly once; stop an unfinished iterator.
   * Every call returns the first call's promise, so whoever waits for the
   * response to end (the posthooks) waits for an async `close()` too.
   */
  private closeBody(): void | Promise<void> {
    if (this.closing !== null) return this.closing;
    // Nothing to close yet (abandoned before the app returned its body): the body is closed when it comes.
    if (this.body === null && this.iterator === null) return undefined;
    const result = this.closeBodyOnce();
    this.closing = result;
    return result;
  }

  /**
   * End an unfinished iterator with `return()`, then call `close()`: after
   * `return()` settles, so a generator's `finally` blocks have run before
   * `close()` releases what they may still use (in Python, `close()` cannot
   * run while the generator does). A generator busy in an `await` only
   * takes its `return()` when that `await` ends; if that takes longer than
   * {@link BODY_RETURN_GRACE_MS}, `close()` is called anyway, since it may be
   * what ends that `await` (an unsubscribe that ends the stream).
   */
  private closeBodyOnce(): void | Promise<void> {
    const iterator = this.iterator;
    this.iterator = null;
    const body = this.body;
    this.body = null;
    let returned: Promise<unknown> | undefined;
    // (Reading `return` and `close` may throw too, from a getter or a Proxy: logged as their call's
    // error would be, and close() is still called after a `return` that could not be read.)
    if (iterator) {
      try {
        const stop: unknown = iterator.return;
        if (typeof stop === "function") {
          const r: unknown = stop.call(iterator);
          if (r && typeof (r as Promise<unknown>).then === "function") returned = this.logCloseRejection(Promise.resolve(r));
        }
      } catch (error) {
        this.logCloseError(error);
      }
    }
    let close: unknown;
    try {
      close = body === null ? undefined : (body as { close?: unknown }).close;
    } catch (error) {
      // A `close` getter that throws (read once, here): logged as close()'s error.
      this.logCloseError(error);
    }
    if (typeof close !== "function") return returned === undefined ? undefined : returned.then(toUndefined);
    if (returned === undefined) return this.callClose(body!, close as CloseMethod);
    return this.closeAfterReturn(returned, body!, close as CloseMethod);
  }

  /** `close()` once the iterator's `return()` settled, or after {@link BODY_RETURN_GRACE_MS}. */
  private closeAfterReturn(returned: Promise<unknown>, body: Body, close: CloseMethod): Promise<void> {
    return settledWithin(returned, BODY_RETURN_GRACE_MS).then(() => this.callClose(body, close));
  }

  /** Call the body's `close()` (`close`, read from it once); an error it throws or rejects with is logged. */
  private callClose(body: Body, close: CloseMethod): void | Promise<void> {
    if (this.abandoned) this.closedByServer = true;
    try {
      const r: unknown = close.call(body);
      if (r && typeof (r as Promise<void>).then === "function") return this.logCloseRejection(Promise.resolve(r)) as Promise<void>;
    } catch (error) {
      this.logCloseError(error);
    }
    return undefined;
  }

  /** `promise`, with a rejection logged as the body's `close()` error (resolving then). */
  private logCloseRejection(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(undefined, (e) => this.logCloseError(e));
  }

  private logCloseError(error: unknown): void {
    this.options.logError(`close() of the response body for ${requestLineOf(this.environ, false)}`, error);
  }

  /** Called by the server when the client went away mid-response: stop and close. */
  abandon(): void | Promise<void> {
    this.abandoned = true;
    // A read of a pipe whose writer is quiet would hold its descriptor (and this response) until the
    // writer writes or closes: cancelled, the read ends now (done), and the loop leaves.
    const reader = this.fileReader;
    if (reader !== null) {
      this.fileReader = null;
      reader.cancel().catch(() => {});
    }
    if (this.finished) return this.closing ?? undefined;
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
 * @param onDone called once as the response ends when `done` is a promise
 *   (in the promise reaction that ends an async app's response: a microtask
 *   turn before `done.then()` would run); never when `done` is undefined.
 */
export function runApplication(app: Application, environ: Environ, sink: ResponseSink, options: GatewayOptions, onDone?: () => void): Running {
  const invocation = new Invocation(app, environ, sink, options);
  if (onDone !== undefined) invocation.onDone = onDone;
  invocation.done = invocation.run();
  return invocation;
}
