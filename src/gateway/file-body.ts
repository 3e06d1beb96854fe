/**
 * Which response bodies may take the server's file fast path (spec.md
 * "Optional platform-specific file handling"): only a `tsgi.file_wrapper`
 * result returned as it is. A body that merely carries a `blob` (a
 * middleware's `{ ...body, [Symbol.asyncIterator]: transform }`, or an
 * object whose prototype is the wrapper) must be iterated, or the
 * middleware would be bypassed.
 * @module
 */

/** Each file wrapper, with its Blob, or `null` for one over a file-like object with `read()`. */
const fileBodies = new WeakMap<object, Blob | null>();

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
