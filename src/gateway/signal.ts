/**
 * `environ["tsgi.signal"]` (spec.md "Server extension APIs"): an
 * `AbortSignal` aborted when the client goes away before the response is
 * complete, as `Bun.serve` aborts `request.signal`. It is put in the
 * environ as an accessor, so a request whose application never asks for it
 * costs no `AbortController`.
 * @module
 */
import type { Environ } from "../spec.ts";

/** The environ key. */
export const SIGNAL_KEY = "tsgi.signal";

/** One request's signal, made on first use. */
export class RequestSignal {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private gone = false;

  /** The signal (made now if it was not asked for before; aborted already if the client left). */
  get signal(): AbortSignal {
    let c = this.controller;
    if (c === null) {
      c = this.controller = new AbortController();
      if (this.gone) c.abort(this.reason);
    }
    return c.signal;
  }

  /** The client went away: abort the signal with `reason` (once; later calls do nothing). */
  abort(reason: unknown): void {
    if (this.gone) return;
    this.gone = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** Replace the accessor with a plain value (a middleware that sets its own signal). */
function setOwn(this: Environ, value: unknown): void {
  Object.defineProperty(this, SIGNAL_KEY, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Put `environ["tsgi.signal"]` in `environ`: an enumerable accessor that
 * returns `get()` (the `AbortSignal`, made when first read), and that an
 * assignment turns into a plain property.
 */
export function defineSignal(environ: Environ, get: () => AbortSignal): void {
  Object.defineProperty(environ, SIGNAL_KEY, { get, set: setOwn, enumerable: true, configurable: true });
}
