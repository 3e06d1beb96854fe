/**
 * The validator's wrapper of the application's body (wsgiref
 * `IteratorWrapper`): chunk types, startResponse before the first bytes, the
 * length against Content-Length, iterating once, never after `close()`, and
 * `close()` called exactly once, which {@link checkClosed} asks after the
 * response (PEP 3333 §Specification Details). Public through `tsgi/validate`
 * (`src/toolkit/validate.ts`).
 *
 * @module
 */
import { fileBodyBlob, isFileBody, registerFileBody } from "../../gateway/file-body.ts";
import type { Body } from "../../spec.ts";
import { countBody, declaredLength, headersDue, noBodyExpected, type RequestState } from "./response.ts";
import { fail, show } from "./rules.ts";

/** State of a validated body: whether it was closed, for {@link checkClosed}. */
interface BodyState {
  closed: boolean;
  closeCalls: number;
  iterated: boolean;
  done: boolean;
  warn: (m: string) => void;
}

const bodyStates = new WeakMap<object, BodyState>();
const finalizer =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<BodyState>((st) => {
        if (!st.closed) st.warn("[body-not-closed] a response body was garbage-collected without its close() being called (PEP 3333 §Specification Details)");
      })
    : undefined;

/**
 * Whether the server called `close()` on a body returned by a
 * `validator()`-wrapped application (the deterministic form of
 * wsgiref's "iterator garbage collected without being closed" check, which
 * this module also performs: a body collected unclosed triggers a warning).
 * Call it after the server finished a response, e.g. in a server's tests.
 *
 * @throws TsgiConformanceError (`body-not-closed`) when `close()` was not called.
 * @throws TypeError when `body` did not come from a validator.
 */
export function checkClosed(body: unknown): void {
  const st = typeof body === "object" && body !== null ? bodyStates.get(body) : undefined;
  if (!st) throw new TypeError("checkClosed: not a body returned by a validator()-wrapped application");
  if (!st.closed) fail("body-not-closed", "The server did not call the response body's close()");
}

function define(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, configurable: true, writable: true });
}

/**
 * The body rules for an array body, all at once: its chunks are Uint8Array
 * (`body-chunk-type`), startResponse was called (`body-before-start` when a
 * chunk has bytes, else `body-no-start`), and their total is not longer than
 * the Content-Length (`body-content-length`), with the warnings an iterated
 * body gets (content in a 204 / 304, no Content-Type, shorter than the
 * Content-Length).
 */
function checkArrayBody(chunks: readonly unknown[], st: RequestState): void {
  let bytes = 0;
  for (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) fail("body-chunk-type", `The body array holds a non-Uint8Array chunk: ${show(chunk)}`);
    bytes += chunk.length;
  }
  if (!st.started) {
    if (bytes > 0) fail("body-before-start", "The application returned an array body with bytes in it but has not called startResponse (an array is sent as it is returned)");
    fail("body-no-start", "The application returned an empty array body but never called startResponse");
  }
  headersDue(st);
  countBody(st, bytes);
  warnShort(st);
}

/** At the end of the body: warn when it is shorter than its Content-Length (the server closes the connection). */
function warnShort(st: RequestState): void {
  const cl = declaredLength(st);
  if (cl !== undefined && st.bodyBytes < cl && !noBodyExpected(st)) {
    st.warn(`The body (${st.bodyBytes} bytes) is shorter than its Content-Length (${cl})`);
  }
}

/** A checking wrapper of `original` (the application's body), which the validator returns in its place. */
export function wrapBody(original: Body, st: RequestState): Body {
  const bst: BodyState = { closed: false, closeCalls: 0, iterated: false, done: false, warn: st.warn };
  const hasSync = typeof (original as Iterable<Uint8Array>)[Symbol.iterator] === "function";
  const hasAsync = typeof (original as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function";

  const begin = (): void => {
    if (bst.iterated) fail("body-iterate-twice", "The server started iterating the body a second time");
    bst.iterated = true;
  };
  const step = (r: IteratorResult<unknown>): boolean => {
    if (r.done) {
      bst.done = true;
      if (!st.started) fail("body-no-start", "The body ended but the application never called startResponse");
      headersDue(st);
      warnShort(st);
      return false;
    }
    const v = r.value;
    if (!(v instanceof Uint8Array)) fail("body-chunk-type", `The body yielded a non-Uint8Array chunk: ${show(v)}`);
    // spec.md: startResponse comes before the first non-empty chunk; an empty one sends nothing.
    if (!st.started && v.length > 0) {
      fail("body-before-start", "The application's body yielded a non-empty chunk but startResponse has not been called yet");
    }
    countBody(st, v.length);
    return true;
  };
  const checkOpen = (): void => {
    if (bst.closed) fail("body-after-close", "The body was iterated after close()");
  };

  const close = (): void | Promise<void> => {
    bst.closeCalls++;
    if (bst.closed) fail("body-close-twice", "The server called the body's close() more than once");
    bst.closed = true;
    const c = (original as { close?: () => void | Promise<void> }).close;
    if (typeof c === "function") return c.call(original);
  };

  function* syncIter(): Generator<Uint8Array> {
    begin();
    const it = (original as Iterable<unknown>)[Symbol.iterator]();
    let finished = false;
    try {
      for (;;) {
        checkOpen();
        const r = it.next();
        if (!step(r)) {
          finished = true;
          return;
        }
        yield r.value as Uint8Array;
      }
    } finally {
      if (!finished) it.return?.();
    }
  }
  /** An array's chunks, already checked by {@link checkArrayBody}: only the server-side rules are left. */
  function* arrayIter(this: Uint8Array[]): Generator<Uint8Array> {
    begin();
    for (let i = 0; i < this.length; i++) {
      checkOpen();
      yield this[i]!;
    }
    bst.done = true;
  }
  async function* asyncIter(): AsyncGenerator<Uint8Array> {
    begin();
    const it = (original as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        checkOpen();
        const r = await it.next();
        if (!step(r)) {
          finished = true;
          return;
        }
        yield r.value as Uint8Array;
      }
    } finally {
      if (!finished) await it.return?.();
    }
  }

  let wrapped: Body;
  if (Array.isArray(original)) {
    // Keep it an array so the server still sees a known-length body. A server may send an array by
    // index, never through an iterator (the tsgi server and the fetch bridge do), so its chunks are
    // checked now, when the application returns it: no application code runs while an array is sent,
    // so what it holds, and whether startResponse was called, is final here.
    checkArrayBody(original as unknown[], st);
    wrapped = original.slice() as Uint8Array[] & Body;
    define(wrapped, Symbol.iterator, arrayIter);
  } else {
    wrapped = {} as Body;
  }
  if (!Array.isArray(original)) {
    if (hasSync) define(wrapped, Symbol.iterator, syncIter);
    if (hasAsync) define(wrapped, Symbol.asyncIterator, asyncIter);
  }
  define(wrapped, "close", close);
  const blob = (original as { blob?: unknown }).blob;
  if (typeof Blob !== "undefined" && blob instanceof Blob) define(wrapped, "blob", blob);
  // The validator is transparent: a file wrapper it wraps is a file wrapper to the server too, over a
  // Blob (the file fast path) or over a file-like object (null): a shorter Content-Length sends that
  // prefix of the file (spec.md "Optional platform-specific file handling"), not an error.
  if (original !== null && typeof original === "object" && isFileBody(original)) {
    const blob = fileBodyBlob(original);
    registerFileBody(wrapped, blob ?? null);
    st.fileBody = true;
    // A Blob's wrapper returned as it is goes out by the server's fast path, headers first, never iterated.
    if (blob !== undefined && st.started) headersDue(st);
  }
  bodyStates.set(wrapped, bst);
  finalizer?.register(wrapped, bst);
  return wrapped;
}
