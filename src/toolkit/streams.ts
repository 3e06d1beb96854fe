/**
 * Small stream implementations for the toolkit: `tsgi.input` over bytes or a
 * byte stream, `tsgi.errors` to stderr or to memory, and latin-1 helpers for
 * PEP 3333 "native strings".
 *
 * These have no wsgiref counterpart as such: wsgiref uses Python's
 * `io.BytesIO` / `io.StringIO` / `sys.stderr` where this module is used
 * (`setup_testing_defaults()`, `CGIHandler`). Re-exported by
 * `src/toolkit/util.ts`.
 *
 * @module
 */
import type { ErrorStream, InputStream } from "../spec.ts";
import { ClientDisconnected } from "../gateway/client-disconnected.ts";

const EMPTY = new Uint8Array(0);
const NL = 0x0a;

/**
 * A copy of `bytes` over an `ArrayBuffer` of its own: what an input's reads
 * hand out. Not `bytes.slice()`, which for a `Buffer` (`Buffer.from(...)`,
 * a Node stream's chunks, `Buffer.from(sharedArrayBuffer)`) is a view of
 * the same memory.
 */
function copyOf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * Encode a latin-1 "native string" (PEP 3333 "Unicode Issues") as bytes, one
 * byte per character.
 * @throws TypeError when a character is above U+00FF.
 */
export function latin1Encode(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      throw new TypeError(
        `not a latin-1 string: character U+${c.toString(16).toUpperCase().padStart(4, "0")} at index ${i}`,
      );
    }
    out[i] = c;
  }
  return out;
}

/** Decode bytes as latin-1: each byte becomes the character with that code point. Never throws. */
export function latin1Decode(bytes: Uint8Array): string {
  let s = "";
  const STEP = 0x8000;
  for (let i = 0; i < bytes.length; i += STEP) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + STEP) as unknown as number[]);
  }
  return s;
}

/** Whether every character of `s` is at most U+00FF (a valid native string). */
export function isLatin1(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\u0000-\u00ff]/.test(s);
}

/**
 * Validate a `read(size)` / `readline(size)` size argument.
 * @param method the method named in the error message (default `"read"`).
 * @returns `undefined` for "no limit" (`undefined` or `null`), else the size.
 * @throws RangeError when `size` is negative or not an integer (as
 *   {@link InputStream.read} documents).
 */
export function checkReadSize(size: unknown, method = "read"): number | undefined {
  if (size === undefined || size === null) return undefined;
  if (typeof size !== "number" || !Number.isInteger(size) || size < 0) {
    throw new RangeError(`${method}(size): size must be a non-negative integer, got ${String(size)}`);
  }
  return size;
}


/**
 * An {@link InputStream} over an in-memory body (wsgiref uses `io.BytesIO`
 * for this). Useful for tests (`setupTestingDefaults()` installs an empty
 * one) and for gateways that have the whole body already.
 *
 * Every method returns fresh copies, never views of the source.
 *
 * @example
 * const input = new BytesInput("a=1\nb=2\n");
 * await input.readline(); // bytes of "a=1\n"
 * await input.read();     // bytes of "b=2\n"
 */
export class BytesInput implements InputStream {
  /** The whole body. */
  readonly data: Uint8Array;
  /** Offset of the next unread byte. */
  position = 0;

  /**
   * @param data the body; a string is encoded as UTF-8. Default: empty.
   */
  constructor(data: Uint8Array | string = EMPTY) {
    this.data = typeof data === "string" ? new TextEncoder().encode(data) : data;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.data.length - this.position;
  }

  /**
   * Read up to `size` bytes (default, or `undefined` or `null`: all that remain); an empty array at the end.
   * @throws RangeError when `size` is negative or not an integer.
   */
  async read(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    return this.readSync(size);
  }

  /**
   * Read up to `size` bytes (default: all that remain) without waiting
   * (Python `io`'s `read1()`, spec.md's optional extension): the body is
   * all in memory, so this is {@link read}.
   * @throws RangeError when `size` is negative or not an integer.
   */
  async read1(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    checkReadSize(size, "read1");
    return this.readSync(size);
  }

  /** Synchronous {@link read}, for callers that know the body is in memory. */
  readSync(size?: number | null): Uint8Array<ArrayBuffer> {
    const n = checkReadSize(size, "read");
    const end = n === undefined ? this.data.length : Math.min(this.data.length, this.position + n);
    const out = copyOf(this.data.subarray(this.position, end));
    this.position = end;
    return out;
  }

  /**
   * Read one line including its `\n`, or at most `size` bytes; an empty array at the end.
   * @throws RangeError when `size` is negative or not an integer.
   */
  async readline(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const n = checkReadSize(size, "readline");
    const limit = n === undefined ? this.data.length : Math.min(this.data.length, this.position + n);
    let end = this.data.indexOf(NL, this.position);
    end = end === -1 || end >= limit ? limit : end + 1;
    const out = copyOf(this.data.subarray(this.position, end));
    this.position = end;
    return out;
  }

  /**
   * Read lines to the end, or stop once the lines read total `hint` bytes
   * or more (Python's `readlines(hint)`; `hint` <= 0 or absent: no limit).
   */
  async readlines(hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
    return readlinesOf(this, hint);
  }

  /** Iterate the remaining body line by line. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    return linesOf(this);
  }
}

/** `readlines(hint)` of any input, by its `readline()`. */
async function readlinesOf(input: InputStream, hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
  const lines: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  const limit = hint === undefined || hint === null || hint <= 0 ? Infinity : hint;
  for (;;) {
    const line = await input.readline();
    if (line.length === 0) break;
    lines.push(line);
    total += line.length;
    if (total >= limit) break;
  }
  return lines;
}

/** The lines of any input, by its `readline()`, to the end. */
async function* linesOf(input: InputStream): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  for (;;) {
    const line = await input.readline();
    if (line.length === 0) return;
    yield line;
  }
}

/**
 * An {@link InputStream} over a byte stream (a `ReadableStream`, e.g.
 * `Bun.stdin.stream()`, or any async iterable of `Uint8Array`), reading at
 * most `limit` bytes (the CGI `CONTENT_LENGTH`). Used by `CGIHandler` for
 * stdin. Bytes past the limit are never consumed from the source beyond the
 * chunk that crosses it, and never returned.
 *
 * A source that ends before a finite `limit` is a cut body (RFC 3875 §4.2:
 * the body is `CONTENT_LENGTH` bytes), not its end: the bytes that arrived
 * are read, and the first read that needs more rejects with a
 * `ClientDisconnected` ("the request body ended after 4 of its 10 bytes
 * ..."), as the tsgi server's `tsgi.input` does after the client's FIN
 * mid-body. A source that fails rejects that read with its error. Either
 * way every later read rejects with the same error (spec.md "tsgi.input").
 */
export class StreamInput implements InputStream {
  private readonly source: AsyncIterator<Uint8Array> | ReadableStreamDefaultReader<Uint8Array>;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /**
   * How far {@link readline} has looked for a newline without finding one:
   * the first `scanned` chunks hold none (`scannedBytes` bytes in all). A
   * long line arriving in many pieces is so scanned once, not once per piece.
   * Any {@link take} starts the search over (what is left is at most one
   * piece of it, or was never scanned).
   */
  private scanned = 0;
  private scannedBytes = 0;
  private readonly limit: number;
  private left: number;
  private done = false;
  /** The error the source failed with: every later read rejects with it (spec.md "tsgi.input"). */
  private error: unknown = undefined;
  private failed = false;
  private readonly isReader: boolean;

  /**
   * @param source the byte stream.
   * @param limit the most bytes to read, >= 0 (default: no limit, read to the end).
   * @throws RangeError when `limit` is negative or NaN.
   */
  constructor(source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, limit = Infinity) {
    if (!(limit >= 0)) throw new RangeError(`limit must be >= 0, got ${limit}`);
    this.limit = limit;
    this.left = limit;
    this.isReader = "getReader" in source && typeof source.getReader === "function";
    this.source = this.isReader
      ? ((source as ReadableStream<Uint8Array>).getReader() as unknown as ReadableStreamDefaultReader<Uint8Array>)
      : (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    if (limit === 0) this.finish(true);
  }

  /**
   * Stop reading. At the natural end the reader lock is released; when the
   * limit was reached first, the rest of the source is cancelled.
   */
  private finish(limitReached = false): void {
    if (this.done) return;
    this.done = true;
    try {
      if (this.isReader) {
        const r = this.source as ReadableStreamDefaultReader<Uint8Array>;
        if (limitReached) r.cancel().catch(() => {});
        else r.releaseLock();
      } else if (limitReached) {
        (this.source as AsyncIterator<Uint8Array>).return?.()?.catch?.(() => {});
      }
    } catch {
      /* already released or closed */
    }
  }

  /**
   * Pull one chunk from the source; false at the end. A source that fails
   * fails this read and every later one, with the same error: a generator
   * that threw would otherwise read as ended, its body silently cut.
   */
  private async pull(): Promise<boolean> {
    if (this.failed) throw this.error;
    if (this.done) return false;
    let r: { done?: boolean; value?: Uint8Array | undefined };
    try {
      r = this.isReader
        ? await (this.source as ReadableStreamDefaultReader<Uint8Array>).read()
        : await (this.source as AsyncIterator<Uint8Array>).next();
    } catch (error) {
      this.failed = true;
      this.error = error;
      this.done = true;
      throw error;
    }
    if (r.done || r.value === undefined) {
      this.finish();
      if (this.left !== Infinity && this.left > 0) {
        // The body is cut (RFC 3875 §4.2: CONTENT_LENGTH bytes are the body), not ended: what
        // arrived stays readable, the read that needs more rejects, as on the tsgi server.
        const got = this.limit - this.left;
        this.failed = true;
        this.error = new ClientDisconnected(`the request body ended after ${got} of its ${this.limit} bytes (the client or the web server closed it early)`);
        throw this.error;
      }
      return false;
    }
    let chunk = r.value;
    if (chunk.length > this.left) chunk = chunk.subarray(0, this.left);
    this.left -= chunk.length;
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    if (this.left <= 0) this.finish(true);
    return true;
  }

  private take(n: number): Uint8Array<ArrayBuffer> {
    if (n === 0) return new Uint8Array(0);
    this.scanned = 0;
    this.scannedBytes = 0;
    const parts: Uint8Array[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.buffered -= n;
    if (parts.length === 1) return copyOf(parts[0]!);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * Read up to `size` bytes (default, or `null`: all that remain up to the limit); an
   * empty array at the end.
   * @throws RangeError when `size` is negative or not an integer.
   */
  async read(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const n = checkReadSize(size, "read");
    if (this.failed) throw this.error;
    while ((n === undefined || this.buffered < n) && (await this.pull()));
    return this.take(n === undefined ? this.buffered : Math.min(n, this.buffered));
  }

  /**
   * Read up to `size` bytes (default: all that are buffered) as soon as any
   * are there (Python `io`'s `read1()`, spec.md's optional extension): the
   * source is pulled only while nothing is buffered, so a body that arrives
   * in pieces (a CGI request's stdin) is read piece by piece. An empty array
   * only at the end (or for `size` 0).
   * @throws RangeError when `size` is negative or not an integer.
   * @throws the source's error, as {@link read}.
   */
  async read1(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const n = checkReadSize(size, "read1");
    if (this.failed) throw this.error;
    if (n === 0) return new Uint8Array(0);
    while (this.buffered === 0 && (await this.pull()));
    return this.take(n === undefined ? this.buffered : Math.min(n, this.buffered));
  }

  /**
   * Read one line including its `\n`, or at most `size` bytes; an empty array at the end.
   * @throws RangeError when `size` is negative or not an integer.
   */
  async readline(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const n = checkReadSize(size, "readline");
    if (this.failed) throw this.error;
    for (;;) {
      const chunks = this.chunks;
      for (; this.scanned < chunks.length; this.scanned++) {
        const c = chunks[this.scanned]!;
        const i = c.indexOf(NL);
        if (i !== -1) {
          const len = this.scannedBytes + i + 1;
          return this.take(n === undefined ? len : Math.min(n, len));
        }
        this.scannedBytes += c.length;
      }
      if (n !== undefined && this.buffered >= n) return this.take(n);
      if (!(await this.pull())) return this.take(this.buffered);
    }
  }

  /** As {@link BytesInput.readlines}. */
  async readlines(hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
    return readlinesOf(this, hint);
  }

  /** Iterate the body line by line. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    return linesOf(this);
  }
}

/**
 * An {@link ErrorStream} writing to the process's stderr (wsgiref's
 * `sys.stderr`). Text is written as UTF-8, immediately (`flush()` is a no-op).
 */
export class StderrErrorStream implements ErrorStream {
  /** Write `s` to stderr. */
  write(s: string): void {
    process.stderr.write(s);
  }
  /** Write each string in order, without separators. */
  writelines(lines: Iterable<string>): void {
    for (const l of lines) this.write(l);
  }
  /** No-op: writes are not buffered. */
  flush(): void {}
}

/**
 * An in-memory {@link ErrorStream} (wsgiref's `io.StringIO`): everything
 * written is kept in {@link value}. Useful in tests.
 */
export class MemoryErrorStream implements ErrorStream {
  /** All text written so far. */
  value = "";
  /** Number of `flush()` calls (for tests). */
  flushes = 0;
  /** Append `s`. */
  write(s: string): void {
    this.value += s;
  }
  /** Append each string in order, without separators. */
  writelines(lines: Iterable<string>): void {
    for (const l of lines) this.write(l);
  }
  /** Count the call; nothing is buffered. */
  flush(): void {
    this.flushes++;
  }
}
