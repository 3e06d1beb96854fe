/**
 * Helpers for middleware that re-wraps a response {@link Body}: pulling its
 * chunks one at a time whether it is sync or async, and forwarding `close()`
 * exactly once.
 * @module
 */
import { isFileBody, registerFileBody } from "../gateway/file-body.ts";
import type { Body } from "../spec.ts";

/** An async iterator over any body, plus the body's close, called at most once. */
export interface BodyReader {
  /** The body read. */
  readonly body: Body;
  next(): Promise<IteratorResult<Uint8Array>>;
  /**
   * Stop early: ends the underlying iterator (its `return()`, called before
   * the first await), without calling `close()`. Settles once that
   * `return()` has settled; every call returns the same promise, so a later
   * caller waits for it too.
   */
  stop(): Promise<void>;
  /** Call the body's `close()` if it has one; later calls do nothing. */
  close(): Promise<void>;
}

/** Open a {@link BodyReader} on `body`. */
export function readBody(body: Body): BodyReader {
  const iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> =
    Symbol.asyncIterator in body ? (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : (body as Iterable<Uint8Array>)[Symbol.iterator]();
  let done = false;
  let closed = false;
  let stopping: Promise<void> | undefined;
  return {
    body,
    async next() {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await iterator.next();
      } catch (error) {
        done = true; // a throwing iterator has ended; stop() leaves it alone
        throw error;
      }
      if (r.done) done = true;
      return r;
    },
    stop() {
      if (stopping) return stopping;
      if (done) return Promise.resolve();
      done = true;
      stopping = (async () => {
        try {
          await iterator.return?.();
        } catch {
          // the body's own cleanup failed; nothing to do for the response
        }
      })();
      return stopping;
    },
    async close() {
      if (closed) return;
      closed = true;
      await body.close?.();
    },
  };
}

/**
 * A body whose chunks come from `produce` (an async generator function) and
 * whose `close()` calls `onClose` once. The server calls `close()` when the
 * response ends, fails or the client goes away.
 *
 * With `source`, the body `produce` reads, stopping this body stops
 * `source` at once: its iterator's `return()` is called by this body's
 * `return()` itself, and this body's `return()` settles only after that one
 * has, so the server, which waits for `return()` before it calls `close()`,
 * also waits for an async `finally` of the app's generator (spec.md "The
 * body" items 3 and 4). From the generator's `finally` it would come a
 * tick later, after `close()`. When `source` reads a `tsgi.file_wrapper`
 * over a file-like object, the server takes this body for one too: a
 * shorter Content-Length cuts it without an error, as it would cut the
 * file (PEP 3333). `produce` must then yield the file's bytes as they are,
 * or change them only with a Content-Length that matches.
 */
export function makeBody(produce: () => AsyncGenerator<Uint8Array, void, undefined>, onClose: () => Promise<void> | void, source?: BodyReader): Body {
  let closed = false;
  const made: Body = {
    [Symbol.asyncIterator]: source === undefined ? produce : () => stoppingSource(produce(), source),
    async close() {
      if (closed) return;
      closed = true;
      await onClose();
    },
  };
  if (source !== undefined && isFileBody(source.body)) registerFileBody(made, null);
  return made;
}

/** `generator`, whose `return()` first stops `source` (see {@link makeBody}). */
function stoppingSource(generator: AsyncGenerator<Uint8Array, void, undefined>, source: BodyReader): AsyncIterableIterator<Uint8Array> {
  return {
    next: () => generator.next(),
    return: async (value?: unknown) => {
      // stop() calls the source's return() before its first await: synchronously, as the server would.
      const stopped = source.stop();
      try {
        return await generator.return(value as undefined);
      } finally {
        // Settle after the source's return() (an async finally of the app's generator, say), not before.
        await stopped;
      }
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
