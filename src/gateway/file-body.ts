/**
 * Which response bodies may take the server's file fast path (spec.md
 * "Optional platform-specific file handling"): only a `tsgi.file_wrapper`
 * result returned as it is. A body that merely carries a `blob` (a
 * middleware's `{ ...body, [Symbol.asyncIterator]: transform }`, or an
 * object whose prototype is the wrapper) must be iterated, or the
 * middleware would be bypassed.
 * @module
 */

const fileBodies = new WeakMap<object, Blob>();

/** Register `body` (a file wrapper made over `blob`) for the fast path. Called by the wrapper's constructor. */
export function registerFileBody(body: object, blob: Blob): void {
  fileBodies.set(body, blob);
}

/** The Blob to send for `body` when it is a registered file wrapper itself, else `undefined`. */
export function fileBodyBlob(body: object): Blob | undefined {
  return fileBodies.get(body);
}
