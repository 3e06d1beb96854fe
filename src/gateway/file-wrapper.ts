/**
 * `tsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling";
 * wsgiref.util's `FileWrapper`): wraps a file-like object or a `Blob` as a
 * response body read in blocks, which the server may send natively when the
 * app returns it as it is (see `file-body.ts`). The server puts
 * {@link fileWrapper} in every environ; `tsgi/util` re-exports both, as
 * wsgiref.util has them.
 * @module
 */
import type { FileLike, FileWrapperFactory } from "../spec.ts";
import { registerFileBody } from "./file-body.ts";

/** Options for {@link FileWrapper}. */
export interface FileWrapperOptions {
  /**
   * Whether to offer synchronous iteration (`[Symbol.iterator]`). Default:
   * `true` for an object whose `read` is not an `async function`, `false`
   * for a `Blob` (always async) and for async functions. Pass `false` when
   * `read` returns a Promise without being declared `async`.
   */
  sync?: boolean | undefined;
}

type ReadableFile = Exclude<FileLike, Blob | { fd: number }>;

/**
 * A Node.js `Readable` (`fs.createReadStream()`, a socket, a `Readable.from()`):
 * it has a `read()`, but `read()` returns `null` whenever nothing is buffered
 * yet, not only at the end, so it is read through its async iterator instead.
 */
interface NodeReadable {
  read(size?: number): unknown;
  pipe(...args: never[]): unknown;
  destroy(error?: Error): unknown;
  close?(): unknown;
  [Symbol.asyncIterator](): AsyncIterator<unknown>;
}

function isNodeReadable(f: unknown): f is NodeReadable {
  const o = f as Partial<NodeReadable> | null;
  return typeof o?.pipe === "function" && typeof o.destroy === "function" && typeof o[Symbol.asyncIterator] === "function";
}

/**
 * A `FileHandle` of `node:fs/promises` (`await open(path)`): its `read()`
 * takes a buffer, not a size, and resolves to `{ bytesRead, buffer }`.
 */
interface NodeFileHandle {
  fd: number;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  readFile(...args: never[]): unknown;
  close(): Promise<void>;
}

function isNodeFileHandle(f: unknown): f is NodeFileHandle {
  const o = f as Partial<NodeFileHandle> | null;
  return typeof o?.fd === "number" && typeof o.read === "function" && typeof o.readFile === "function" && typeof o.close === "function";
}

/**
 * Wrap a file-like object as a response body that reads it in blocks
 * (wsgiref `FileWrapper(filelike, blksize=8192)`; PEP 3333 "Optional
 * Platform-Specific File Handling").
 *
 * - Iterating calls `filelike.read(blksize)` repeatedly and yields each
 *   non-empty result; the first empty result ends iteration for good (not
 *   resumable, as wsgiref). Async iteration (`for await`) always works;
 *   sync iteration exists only when `read` is synchronous (see
 *   {@link FileWrapperOptions.sync}) and throws TypeError if `read` returns
 *   a Promise anyway.
 * - A `Blob` (including `Bun.file()`) is kept in the public {@link blob}
 *   property so a server can send it natively; iterating reads
 *   `blob.slice(offset, offset + blksize).arrayBuffer()` blocks.
 * - A Node.js `Readable` (`fs.createReadStream(path)`) is read through its
 *   async iterator, in the stream's own chunks (its `read()` returns `null`
 *   whenever nothing is buffered yet, which would read as the end); a
 *   `FileHandle` of `node:fs/promises` with `read(buffer, 0, blksize,
 *   null)`. Both iterate with `for await` only. A stream that yields strings
 *   (after `setEncoding()`) is a TypeError.
 * - `close()` calls the file-like's `close()` (when it has one; `destroy()`
 *   for a `Readable` without one) exactly once, however often it is called,
 *   and ends iteration.
 *
 * @example
 * const body = new FileWrapper(Bun.file("README.md"), 4096);
 * for await (const block of body) process.stdout.write(block);
 */
export class FileWrapper implements AsyncIterable<Uint8Array> {
  /** The wrapped file-like object (wsgiref `filelike`). */
  readonly filelike: FileLike;
  /** Block size in bytes passed to `read()` (wsgiref `blksize`). */
  readonly blksize: number;
  /** The wrapped Blob, when `filelike` is one; `undefined` otherwise. */
  readonly blob: Blob | undefined;
  /** Synchronous iteration; present only when `read` is synchronous (see {@link FileWrapperOptions.sync}). */
  declare [Symbol.iterator]?: () => Generator<Uint8Array, void, undefined>;
  private offset = 0;
  private finished = false;
  private closed = false;
  private closing: void | Promise<void> = undefined;
  /** Reads the next block of a Node.js stream or `FileHandle`, or `null` for a `read(size)` file-like or a Blob. */
  private readonly nextBlock: (() => Promise<Uint8Array>) | null = null;

  /**
   * @param filelike a `Blob` or an object with `read(size)` and optional `close()`.
   * @param blksize block size in bytes, a positive integer (default 8192).
   * @param options see {@link FileWrapperOptions}.
   * @throws RangeError when `blksize` is not a positive integer.
   * @throws TypeError when `filelike` is neither a Blob nor has a `read` method.
   */
  constructor(filelike: FileLike, blksize = 8192, options: FileWrapperOptions = {}) {
    if (!Number.isInteger(blksize) || blksize <= 0) {
      throw new RangeError(`FileWrapper: blksize must be a positive integer, got ${blksize}`);
    }
    const isBlob = typeof Blob !== "undefined" && filelike instanceof Blob;
    if (!isBlob && typeof (filelike as ReadableFile)?.read !== "function") {
      throw new TypeError("FileWrapper: filelike must be a Blob or have a read(size) method");
    }
    this.filelike = filelike;
    this.blksize = blksize;
    this.blob = isBlob ? (filelike as Blob) : undefined;
    // This object itself, not a copy or a wrapper of it, may be sent by the server's file fast path.
    registerFileBody(this, isBlob ? (filelike as Blob) : null);
    if (!isBlob && isNodeReadable(filelike)) {
      const it = filelike[Symbol.asyncIterator]();
      this.nextBlock = async () => {
        const r = await it.next();
        if (r.done) return new Uint8Array(0);
        if (!(r.value instanceof Uint8Array)) {
          throw new TypeError(`FileWrapper: the stream yielded ${typeof r.value === "string" ? "a string (setEncoding() was called on it)" : typeof r.value}; it must yield bytes`);
        }
        return r.value;
      };
    } else if (!isBlob && isNodeFileHandle(filelike)) {
      this.nextBlock = async () => {
        const { bytesRead, buffer } = await filelike.read(new Uint8Array(blksize), 0, blksize, null);
        return buffer.subarray(0, bytesRead);
      };
    }
    const readFn = isBlob || this.nextBlock ? undefined : (filelike as ReadableFile).read;
    const sync =
      options.sync ??
      (readFn !== undefined && readFn.constructor?.name !== "AsyncFunction" && readFn.constructor?.name !== "AsyncGeneratorFunction");
    if (sync && !isBlob && !this.nextBlock) {
      Object.defineProperty(this, Symbol.iterator, {
        value: () => this.syncIterator(),
        enumerable: false,
        configurable: true,
        writable: true,
      });
    }
  }

  private *syncIterator(): Generator<Uint8Array, void, undefined> {
    const f = this.filelike as ReadableFile;
    while (!this.finished && !this.closed) {
      const data = f.read(this.blksize);
      if (data instanceof Promise) {
        data.catch(() => {});
        throw new TypeError("FileWrapper: filelike.read() returned a Promise; iterate with for await");
      }
      if (!data || data.length === 0) {
        this.finished = true;
        return;
      }
      yield data;
    }
  }

  /** Read the next block; an empty array at the end. */
  private async readBlock(): Promise<Uint8Array> {
    if (this.finished || this.closed) return new Uint8Array(0);
    if (this.blob) {
      const end = Math.min(this.blob.size, this.offset + this.blksize);
      if (this.offset >= end) {
        // A Bun.file that does not exist (or cannot be read) has size 0: reading
        // it whole rejects with the real error (ENOENT...), never an empty body.
        if (this.offset === 0) await this.blob.arrayBuffer();
        return new Uint8Array(0);
      }
      const buf = await this.blob.slice(this.offset, end).arrayBuffer();
      this.offset = end;
      return new Uint8Array(buf);
    }
    if (this.nextBlock) return this.nextBlock();
    const data = await (this.filelike as ReadableFile).read(this.blksize);
    return data ?? new Uint8Array(0);
  }

  /** Iterate the blocks asynchronously. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const data = await this.readBlock();
      if (data.length === 0) {
        this.finished = true;
        return;
      }
      yield data;
    }
  }

  /**
   * Close the wrapper: calls `filelike.close()` the first time (when the
   * file-like has one) and returns its result; later calls do nothing.
   * Iteration ends after closing.
   */
  close(): void | Promise<void> {
    if (this.closed) return this.closing;
    this.closed = true;
    const f = this.filelike as { close?: () => void | Promise<void> };
    if (this.blob) return this.closing;
    if (typeof f.close === "function") {
      // fs.ReadStream's close(callback) returns nothing; a FileHandle's close() a Promise.
      const r = isNodeReadable(f) ? void f.close() : f.close();
      this.closing = r;
    } else if (isNodeReadable(f)) f.destroy();
    return this.closing;
  }
}

/**
 * `tsgi.file_wrapper` as a {@link FileWrapperFactory}: `(filelike, blksize)`
 * → `new FileWrapper(filelike, blksize)`. Servers put it in the environ;
 * `setupTestingDefaults()` and `BaseHandler` do.
 */
export const fileWrapper: FileWrapperFactory = (filelike, blksize) => new FileWrapper(filelike, blksize);
