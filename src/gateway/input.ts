/**
 * `tsgi.input`: the request body as an async byte stream (PEP 3333 "Input and
 * Error Streams"), fed by the connection as body bytes are parsed.
 * @module
 */
import type { InputStream, ReadonlyResponseHeaders, ResponseHeaders } from "../spec.ts";
import { checkHeaders } from "./response-fields.ts";

/** How the input stream talks back to whoever feeds it. */
export interface InputControl {
  /**
   * Send a `100 Continue` interim response with `headers`. Called on the
   * first read when the client sent `Expect: 100-continue` and no byte of
   * the body has arrived yet, and by `sendHundredContinueResponse()`.
   */
  sendContinue(headers: ResponseHeaders): Promise<void>;
  /** Stop reading from the client: more than the high-water mark is buffered. */
  pause(): void;
  /** Start reading again. */
  resume(): void;
  /** A read is (`true`) or is no longer (`false`) waiting for bytes: arm or disarm the body timeout. */
  waiting(on: boolean): void;
}

const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(0);
/** The chunk list of an input that has buffered nothing yet (shared; replaced on the first push, never written). */
const NO_CHUNKS: Uint8Array<ArrayBuffer>[] = Object.freeze([]) as unknown as Uint8Array<ArrayBuffer>[];
/** No extra `100 Continue` fields (shared, never written). */
const NO_HEADERS: ResponseHeaders = Object.freeze([]) as unknown as ResponseHeaders;

const OVERLAP_MESSAGE =
  "tsgi.input: a read was started while another read was still waiting for bytes; reads must not overlap: await each read before starting the next (TSGI 1.0 \"Input and error streams\")";
const DISCARDED_MESSAGE = "tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends";
/**
 * Marks an input whose unread body {@link RequestInput.discard} dropped. The
 * `Error` a read then rejects with is made only when a read meets it (with
 * that read's stack): most requests whose body the app ignored are never
 * read again, and an `Error` per such request (its stack captured) was
 * work for nothing. Never thrown itself.
 */
const DISCARDED: Error = Object.freeze(new Error(DISCARDED_MESSAGE));

/**
 * Bytes buffered before the feeder is asked to pause (64 KiB): what a client
 * can make the server hold per connection for an app that has not read yet
 * (gevent and cheroot hold next to nothing; nginx 8–16 KiB in memory).
 */
export const INPUT_HIGH_WATER = 64 * 1024;
/**
 * Pieces shorter than this (bytes) are copied into an owned buffer rather
 * than kept as views: a chunked body of 1-byte chunks would otherwise cost an
 * object per byte, each view pinning the whole read it came from (chunk-ext
 * bytes included), about 100 times the payload in memory.
 */
const SMALL_PIECE = 1024;
/** Size of the owned buffer small pieces are gathered in (bytes). */
const GATHER_BYTES = 16 * 1024;

/**
 * `bytes` as `tsgi.input` may keep and hand them out: themselves when they
 * are a view of an `ArrayBuffer`, else (a view of a `SharedArrayBuffer`, as
 * a `Request` body stream made in JavaScript may yield) a copy, so that a
 * read never resolves to shared memory (which `crypto.subtle.digest()`
 * refuses, and which another thread or the producer may still change).
 */
export function unshared(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  // new Uint8Array(view) copies into an ArrayBuffer of its own; bytes.slice() would not for a Buffer (a
  // Buffer over a SharedArrayBuffer, Buffer.from(sab)), whose slice() is a view of the same memory.
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/**
 * The `tsgi.input` implementation. The feeder calls {@link push},
 * {@link end} and {@link fail}; the application reads.
 *
 * Reads never go past the end of the body. A read that waits for bytes that
 * never come is rejected when the feeder calls `fail()` (body timeout, client
 * gone, malformed chunked framing). Bytes buffered before `fail()` are still
 * read until a read needs more than they hold; once a read has rejected,
 * every later one rejects with the same error (spec.md "Input and error
 * streams").
 */
/**
 * What a {@link RequestInput} knows and changes as it is fed and read. Kept
 * apart from the object the application holds (reached only through a
 * `#private` field), so nothing the application does to its `tsgi.input`
 * (`Object.freeze`, `Object.seal`, a deep freeze of the environ, fields of
 * its own) reaches the state the server feeds, nor through it the connection
 * ({@link InputControl}).
 */
class InputState {
  chunks: Uint8Array<ArrayBuffer>[] = NO_CHUNKS;
  offset = 0; // read offset into chunks[0]
  buffered = 0;
  /** Owned buffer small pieces are copied into; `gather[gatherStart, gatherEnd)` is the last of `chunks` while `gathering`. */
  gather: Uint8Array<ArrayBuffer> | null = null;
  gatherStart = 0;
  gatherEnd = 0;
  gathering = false;
  /**
   * Where a line search left off: the bytes from the read position up to
   * chunk `scanIndex`, offset `scanOffset`, hold no `\n` (`scanSeen` of them),
   * so a long line arriving piece by piece is scanned once, not once per piece.
   */
  scanSeen = 0;
  scanIndex = 0;
  scanOffset = 0;
  ended = false;
  error: Error | null = null;
  /** The error a read rejected with: every later read rejects with it, whatever is still buffered. */
  rejected: Error | null = null;
  wake: (() => void) | null = null;
  /** A read is waiting for bytes (in {@link waitForData}): another may not wait beside it. */
  waiting = false;
  paused = false;
  continuePending: boolean;
  continueHeaders: ResponseHeaders = NO_HEADERS;
  /** Body bytes handed to the application so far. */
  bytesRead = 0;

  constructor(
    public control: InputControl | null,
    expectContinue: boolean,
  ) {
    this.continuePending = expectContinue;
  }
}

/** {@link RequestInput.bodiless} is making an input: the constructor gives it the shared {@link BODILESS} state. */
let sharing = false;

/**
 * Own property of every input holding the input itself: a call made on a
 * `Proxy` of the input, or on an object made over it (`Object.create`), as
 * middleware that wraps `tsgi.input` makes, reads it through the wrapper and
 * goes on on the input, whose `#private` state such a `this` does not have.
 */
const SELF = Symbol("tsgi.input");

export class RequestInput implements InputStream {
  /** The state; {@link BODILESS} (shared, frozen) for a bodiless input. */
  readonly #s: InputState;
  /** This input (see {@link SELF}). */
  readonly [SELF]: RequestInput = this;

  /**
   * @param control the feeder's callbacks, or `null` for a body that is complete already.
   * @param expectContinue the client waits for `100 Continue` before sending the body.
   */
  constructor(control: InputControl | null, expectContinue = false) {
    this.#s = sharing ? BODILESS : new InputState(control, expectContinue);
  }

  /** Body bytes handed to the application so far. */
  get bytesRead(): number {
    if (!(#s in this)) return RequestInput.#behind(this).bytesRead;
    return this.#s.bytesRead;
  }

  /**
   * The input behind `wrapper`, a `Proxy` of one or an object over one, on
   * which a method was called (see {@link SELF}).
   * @throws TypeError when there is none (a method called on another object).
   */
  static #behind(wrapper: object): RequestInput {
    const input = (wrapper as { [SELF]?: unknown })[SELF];
    if (typeof input === "object" && input !== null && #s in input) return input;
    throw new TypeError("tsgi.input: a method of RequestInput was called on an object that is not one, nor a Proxy of one or an object made over one (Object.create); call it on environ[\"tsgi.input\"], or bind it: input.read.bind(input)");
  }

  /**
   * The input of a request without a body (no Content-Length, or 0, and not
   * chunked): ended and empty, as `new RequestInput(null)` after `end()`,
   * but over one state shared by every such input, frozen and never written
   * ({@link BODILESS}), so a GET costs an object with one field rather than
   * an input's 20 fields (about 25 ns of a hello request in process). Each
   * request still gets an object of its own (`instanceof RequestInput`, its
   * constructor's name): whatever the app sets on one is its own. Nothing the
   * feeder or the application does to a bodiless input writes the shared
   * state: {@link end}, {@link discard} and {@link fail} change nothing on an
   * ended, empty input, a read takes 0 bytes, `100 Continue` headers are
   * checked and dropped (such a request never sends one), and a call of an
   * internal method that would write it throws a `TypeError` to its caller.
   */
  static bodiless(): RequestInput {
    sharing = true;
    const input = new RequestInput(null);
    sharing = false;
    return input;
  }

  /** Whether the whole body has arrived (it may not all be read yet). */
  get complete(): boolean {
    return this.#s.ended;
  }

  /**
   * The whole body, or the rest of it, taken now when all of it has arrived
   * (what `read()` would resolve with at once); `null` while bytes are still
   * to come, after a failure, or when nothing is left (an empty array is
   * never returned), and `null` when called on a wrapper of the input (a
   * `Proxy` of it, an object made over it), whose own reads may differ. For
   * a bridge that can hand over bytes instead of a stream (fromFetchHandler's
   * `Request` body).
   */
  takeWhole(): Uint8Array<ArrayBuffer> | null {
    // Called on a wrapper of the input (a middleware's Proxy, an object over it): its own reads may differ, so it streams through them.
    if (!(#s in this)) return null;
    if (!this.#s.ended || this.#s.error !== null || this.#s.rejected !== null || this.#s.buffered === 0) return null;
    return this.take(this.#s.buffered);
  }

  /** Whether a `100 Continue` is still owed: the client asked for one, the app has not read yet, and no byte of the body has arrived. */
  get continueOwed(): boolean {
    return this.#s.continuePending;
  }

  /**
   * Feeder: more body bytes (kept as views, not copied, unless shorter than
   * {@link SMALL_PIECE}: then the first one is copied at its own size, and
   * later ones into a shared {@link GATHER_BYTES} buffer).
   */
  push(chunk: Uint8Array<ArrayBuffer>): void {
    if (this.#s.ended || this.#s.error || chunk.length === 0) return;
    const n = chunk.length;
    if (this.#s.chunks === NO_CHUNKS) this.#s.chunks = [];
    if (n < SMALL_PIECE) {
      let gather = this.#s.gather;
      if (this.#s.gathering && this.#s.gatherEnd + n <= gather!.length) {
        // Grow the last chunk, a view of the gather buffer, in place: its start (and any read offset into it) stays.
        gather!.set(chunk, this.#s.gatherEnd);
        this.#s.gatherEnd += n;
        this.#s.chunks[this.#s.chunks.length - 1] = gather!.subarray(this.#s.gatherStart, this.#s.gatherEnd);
      } else if (gather === null && this.#s.chunks.length === 0) {
        // The first small piece, nothing else buffered: copied at its own size. A small body
        // (a JSON POST) costs no gather buffer, and the bytes the app keeps hold no 16 KiB;
        // the next small piece starts the gather buffer.
        this.#s.chunks.push(new Uint8Array(chunk));
      } else {
        if (gather === null || this.#s.gatherEnd + n > gather.length) {
          gather = this.#s.gather = new Uint8Array(GATHER_BYTES);
          this.#s.gatherEnd = 0;
        }
        this.#s.gatherStart = this.#s.gatherEnd;
        gather.set(chunk, this.#s.gatherEnd);
        this.#s.gatherEnd += n;
        this.#s.chunks.push(gather.subarray(this.#s.gatherStart, this.#s.gatherEnd));
        this.#s.gathering = true;
      }
    } else {
      this.#s.chunks.push(chunk);
      this.#s.gathering = false;
    }
    this.#s.buffered += n;
    // The client is sending the body: it is not waiting for a 100 Continue, which would be bytes for nothing
    // now (RFC 9110 §10.1.1: a server MAY omit it once it has received some or all of the content).
    this.#s.continuePending = false;
    if (!this.#s.paused && this.#s.buffered > INPUT_HIGH_WATER && this.#s.control) {
      this.#s.paused = true;
      this.#s.control.pause();
    }
    this.notify();
  }

  /** Feeder: the body ended. */
  end(): void {
    // Ended already (a bodiless input, see bodiless()): nothing changes, and nothing is written.
    if (this.#s.ended) return;
    this.#s.ended = true;
    this.#s.continuePending = false;
    this.notify();
  }

  /** Why reading the body failed (what `fail()` was given), or `null`. */
  get failure(): Error | null {
    return this.#s.error === null ? null : this.real(this.#s.error);
  }

  /** Feeder: reading the body failed; pending and later reads reject with `error`. */
  fail(error: Error): void {
    if (this.#s.ended && this.#s.buffered === 0) return;
    this.#s.error ??= error;
    this.notify();
  }

  /**
   * Feeder: the exchange is over (the response is done; the rest of the body
   * is drained or the connection closes). What is buffered is dropped, and
   * the input lets go of its connection, which may carry the next request
   * now: a read still waiting, or made later (a task the app left running),
   * rejects with an `Error` when bytes of the body were dropped (unread, or
   * yet to arrive), instead of resolving empty or waiting for ever and
   * timing the connection's next request (a 408 to it after `bodyTimeout`);
   * a `100 Continue` asked for later is not sent. A body read to its end
   * stays at its end.
   */
  discard(): void {
    // Nothing to drop and no feeder to let go of (a bodiless input, see bodiless()): a no-op, with no write.
    if (this.#s.control === null && this.#s.ended && this.#s.buffered === 0 && this.#s.gather === null && !this.#s.paused) return;
    // Bytes of the body the application will now never get: unread ones, or ones yet to arrive.
    const lost = this.#s.buffered > 0 || !this.#s.ended;
    this.#s.chunks = NO_CHUNKS;
    this.#s.offset = 0;
    this.#s.buffered = 0;
    this.#s.gather = null;
    this.#s.gathering = false;
    this.#s.scanSeen = 0;
    this.#s.continuePending = false;
    // The feeder was paused at the high-water mark: the rest of the body must flow again to be drained.
    if (this.#s.paused) {
      this.#s.paused = false;
      this.#s.control?.resume();
    }
    this.#s.control = null;
    if (lost) {
      this.#s.error ??= DISCARDED;
      this.#s.rejected ??= this.#s.error;
      this.notify();
    }
  }

  private notify(): void {
    const w = this.#s.wake;
    if (w) {
      this.#s.wake = null;
      w();
    }
  }

  /** Reject the read that needs bytes after `fail()`, and every read after it. */
  private reject(): never {
    throw (this.#s.rejected = this.real(this.#s.error!));
  }

  /** `error` itself, or for {@link DISCARDED} the `Error` that stands for it from now on (made the first time). */
  private real(error: Error): Error {
    if (error !== DISCARDED) return error;
    const made = new Error(DISCARDED_MESSAGE);
    if (this.#s.error === DISCARDED) this.#s.error = made;
    if (this.#s.rejected === DISCARDED) this.#s.rejected = made;
    return made;
  }

  private async waitForData(): Promise<void> {
    if (this.#s.error) this.reject();
    // Reads must not overlap (spec.md): a read started while another waits for bytes would take
    // bytes out from under it, or its wake-up (the first then waiting for ever). It fails instead
    // (here and at the start of each read); the first goes on.
    if (this.#s.waiting) throw new Error(OVERLAP_MESSAGE);
    this.#s.waiting = true;
    try {
      if (this.#s.continuePending) await this.sendHundredContinueResponse();
      if (this.#s.paused && this.#s.control) {
        this.#s.paused = false;
        this.#s.control.resume();
      }
      this.#s.control?.waiting(true);
      try {
        await new Promise<void>((resolve) => (this.#s.wake = resolve));
      } finally {
        this.#s.control?.waiting(false);
      }
    } finally {
      this.#s.waiting = false;
    }
    if (this.#s.error) this.reject();
  }

  /** Take `n` buffered bytes (n <= buffered). */
  private take(n: number): Uint8Array<ArrayBuffer> {
    if (n === 0) return EMPTY;
    this.#s.buffered -= n;
    this.#s.bytesRead += n;
    const first = this.#s.chunks[0]!;
    const avail = first.length - this.#s.offset;
    let out: Uint8Array<ArrayBuffer>;
    if (n <= avail) {
      out = this.#s.offset === 0 && n === first.length ? first : first.subarray(this.#s.offset, this.#s.offset + n);
      this.#s.offset += n;
      if (this.#s.offset === first.length) this.shiftChunk();
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const c = this.#s.chunks[0]!;
        const take = Math.min(c.length - this.#s.offset, n - filled);
        out.set(c.subarray(this.#s.offset, this.#s.offset + take), filled);
        filled += take;
        this.#s.offset += take;
        if (this.#s.offset === c.length) this.shiftChunk();
      }
    }
    // The bytes taken were all before the saved line-search position (a
    // line is taken whole, or only a size-limited part of what was scanned).
    if (this.#s.scanSeen > n) this.#s.scanSeen -= n;
    else this.#s.scanSeen = 0;
    if (this.#s.paused && this.#s.buffered <= INPUT_HIGH_WATER / 2 && this.#s.control) {
      this.#s.paused = false;
      this.#s.control.resume();
    }
    return out;
  }

  /** Drop the fully read first chunk. */
  private shiftChunk(): void {
    this.#s.chunks.shift();
    this.#s.offset = 0;
    if (this.#s.chunks.length === 0) this.#s.gathering = false;
    this.#s.scanIndex--;
  }

  /**
   * Index just past the first `\n` within the buffered bytes (at most
   * `limit`), or -1. Resumes where the last search stopped, so a line that
   * arrives in many pieces costs one scan in all, not one per piece.
   */
  private lineEnd(limit: number): number {
    let seen = 0;
    let i = 0;
    let start = this.#s.offset;
    if (this.#s.scanSeen > 0 && this.#s.scanIndex >= 0) {
      seen = this.#s.scanSeen;
      i = this.#s.scanIndex;
      start = i === 0 ? Math.max(this.#s.scanOffset, this.#s.offset) : this.#s.scanOffset;
    }
    for (; i < this.#s.chunks.length && seen < limit; i++) {
      const c = this.#s.chunks[i]!;
      const nl = c.indexOf(10, start);
      if (nl !== -1) return Math.min(seen + (nl - start) + 1, limit);
      seen += c.length - start;
      // Saved at each chunk's end: the last chunk may still grow (see push), from there.
      this.#s.scanSeen = seen;
      this.#s.scanIndex = i;
      this.#s.scanOffset = c.length;
      start = 0;
    }
    return -1;
  }

  async read(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (!(#s in this)) return RequestInput.#behind(this).read(size);
    if (size !== undefined && size !== null && (!Number.isInteger(size) || size < 0)) {
      throw new RangeError(`tsgi.input.read(size): size must be a non-negative integer, got ${String(size)}`);
    }
    if (this.#s.rejected !== null) throw this.real(this.#s.rejected);
    if (this.#s.waiting) throw new Error(OVERLAP_MESSAGE);
    if (size === undefined || size === null) {
      while (!this.#s.ended) await this.waitForData();
      if (this.#s.error) this.reject();
      return this.take(this.#s.buffered);
    }
    if (size === 0) {
      // A read of any kind is the app's "go ahead" (spec.md; gevent sends it for read(0) too).
      if (this.#s.continuePending) await this.sendHundredContinueResponse();
      return EMPTY;
    }
    while (this.#s.buffered < size && !this.#s.ended) await this.waitForData();
    return this.take(Math.min(size, this.#s.buffered));
  }

  /**
   * Read up to `size` bytes (default, or `null`: all that are buffered) as soon as any
   * are there: waits only while none is, so a body sent in small pieces
   * reaches the reader piece by piece (Python `io`'s `read1()`). An empty
   * array only at the end of the body (or for `size` 0).
   * @throws RangeError when `size` is negative or not an integer.
   * @throws Error as {@link read}.
   */
  async read1(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (!(#s in this)) return RequestInput.#behind(this).read1(size);
    if (size !== undefined && size !== null && (!Number.isInteger(size) || size < 0)) {
      throw new RangeError(`tsgi.input.read1(size): size must be a non-negative integer, got ${String(size)}`);
    }
    if (this.#s.rejected !== null) throw this.real(this.#s.rejected);
    if (this.#s.waiting) throw new Error(OVERLAP_MESSAGE);
    if (size === 0) {
      if (this.#s.continuePending) await this.sendHundredContinueResponse();
      return EMPTY;
    }
    while (this.#s.buffered === 0 && !this.#s.ended) await this.waitForData();
    return this.take(size === undefined || size === null ? this.#s.buffered : Math.min(size, this.#s.buffered));
  }

  async readline(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (!(#s in this)) return RequestInput.#behind(this).readline(size);
    if (size !== undefined && size !== null && (!Number.isInteger(size) || size < 0)) {
      throw new RangeError(`tsgi.input.readline(size): size must be a non-negative integer, got ${String(size)}`);
    }
    if (this.#s.rejected !== null) throw this.real(this.#s.rejected);
    if (this.#s.waiting) throw new Error(OVERLAP_MESSAGE);
    const limit = size === undefined || size === null ? Number.POSITIVE_INFINITY : size;
    if (limit === 0) {
      if (this.#s.continuePending) await this.sendHundredContinueResponse();
      return EMPTY;
    }
    for (;;) {
      const end = this.lineEnd(limit);
      if (end !== -1) return this.take(end);
      if (this.#s.buffered >= limit) return this.take(limit);
      if (this.#s.ended) return this.take(this.#s.buffered);
      await this.waitForData();
    }
  }

  async readlines(hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
    if (!(#s in this)) return RequestInput.#behind(this).readlines(hint);
    const lines: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return lines;
      lines.push(line);
      total += line.length;
      if (hint != null && hint > 0 && total >= hint) return lines;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /**
   * eventlet: headers for the `100 Continue` interim response(s), copied.
   * Framing and hop-by-hop fields in it are not sent (RFC 9110 §8.6). No
   * `100` goes out on the first read once a byte of the body has arrived
   * (see {@link RequestInput.continueOwed}), so these are then sent only by
   * {@link RequestInput.sendHundredContinueResponse}.
   * @throws TypeError as `startResponse()` does for malformed headers (a
   *   name that is not a token, CR/LF/NUL or a char above 0xFF in a value).
   */
  setHundredContinueResponseHeaders(headers: ReadonlyResponseHeaders): void {
    if (!(#s in this)) return RequestInput.#behind(this).setHundredContinueResponseHeaders(headers);
    checkHeaders(headers, "setHundredContinueResponseHeaders()");
    // A bodiless input never sends one (and its state is shared): checked, not kept.
    if (this.#s === BODILESS) return;
    this.#s.continueHeaders = headers.map(([name, value]) => [name, value] as [string, string]);
  }

  /** eventlet: send a `100 Continue` now (also done on the first read while the client waits for one: no byte of the body arrived yet). */
  async sendHundredContinueResponse(): Promise<void> {
    if (!(#s in this)) return RequestInput.#behind(this).sendHundredContinueResponse();
    const s = this.#s;
    // (Not written when already false: a bodiless input's state is shared and frozen.)
    if (s.continuePending) s.continuePending = false;
    if (s.control) await s.control.sendContinue(s.continueHeaders);
  }
}

/** The ended, empty state every {@link RequestInput.bodiless} input shares (frozen, never written: see there). */
const BODILESS = new InputState(null, false);
BODILESS.ended = true;
Object.freeze(BODILESS);
