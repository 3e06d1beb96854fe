/**
 * Which response bodies may take the server's file fast path (spec.md
 * "Optional platform-specific file handling"): only a `tsgi.file_wrapper`
 * result returned as it is. A body that merely carries a `blob` (a
 * middleware's `{ ...body, [Symbol.asyncIterator]: transform }`, or an
 * object whose prototype is the wrapper) must be iterated, or the
 * middleware would be bypassed.
 * @module
 */

/**
 * Each file wrapper, with its Blob, or `null` for one over a file-like
 * object with `read()`: one map under a registered symbol, so every copy of
 * tsgi in the process shares it. An app that imports its own `tsgi` and is
 * served by another copy (a global `tsgi serve`, the compiled `tsgi-dev`,
 * another version) returns the server's `tsgi.file_wrapper` through its
 * own `validator()`, or its own `new FileWrapper()`, and both copies must
 * know it for a file wrapper.
 */
const fileBodies: WeakMap<object, Blob | null> = ((globalThis as Record<symbol, unknown>)[Symbol.for("tsgi.file_bodies")] ??= new WeakMap<object, Blob | null>()) as WeakMap<
  object,
  Blob | null
>;

/** Register `body`, a file wrapper made over `blob` (`null`: over a file-like object). Called by the wrapper's constructor. */
export function registerFileBody(body: object, blob: Blob | null): void {
  fileBodies.set(body, blob);
}

/** The Blob to send for `body` when it is a registered file wrapper itself over a Blob, else `undefined`. */
export function fileBodyBlob(body: object): Blob | undefined {
  return fileBodies.get(body) ?? undefined;
}

/**
 * Whether `body` is a registered file wrapper itself (over a Blob or a
 * file-like object), whose shorter Content-Length means "send that many
 * bytes of the file" (PEP 3333), not an application error.
 */
export function isFileBody(body: object): boolean {
  return fileBodies.has(body);
}
