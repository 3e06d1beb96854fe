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
  /** Stop early: ends the underlying iterator (its `return()`), without calling `close()`. */
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
    async stop() {
      if (done) return;
      done = true;
      try {
        await iterator.return?.();
      } catch {
        // the body's own cleanup failed; nothing to do for the response
      }
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
 * `return()` itself, before the server goes on to `close()` (spec.md "The
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
    return: (value?: unknown) => {
      // stop() calls the source's return() before its first await: synchronously, as the server would.
      void source.stop();
      return generator.return(value as undefined);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
