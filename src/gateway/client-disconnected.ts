/**
 * {@link ClientDisconnected}: the error a request's I/O rejects with once its
 * client went away (spec.md "Error handling"), which every copy of tsgi in
 * a process recognises as its own, and {@link isClientDisconnected}.
 * @module
 */

/**
 * The client went away: what `write()`, a `tsgi.input` read and the
 * server's own body iteration reject with once the connection is closed
 * (spec.md "Error handling"), and what the toolkit's `StreamInput` (the CGI
 * handlers' stdin) rejects a read with when its source ends before its limit.
 * Exported from `tsgi` and `tsgi/server`.
 */
export class ClientDisconnected extends Error {
  /** @param message what was cut (default `"client disconnected"`). */
  constructor(message = "client disconnected") {
    super(message);
    this.name = "ClientDisconnected";
  }

  /**
   * `error instanceof ClientDisconnected` is also true for one made by
   * another copy of tsgi in the process: an app that imports its own
   * `tsgi` and is served by a global `tsgi serve`, the compiled `tsgi-dev`
   * or another version gets the server's error, whose class is not the
   * one it imported. Told by a registered symbol on the prototype; a
   * subclass's `instanceof` is the ordinary one.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return this === ClientDisconnected && typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[CLIENT_DISCONNECTED] === true;
  }
}

/** The mark every copy of tsgi puts on `ClientDisconnected.prototype` (see its `instanceof`). */
const CLIENT_DISCONNECTED = Symbol.for("tsgi.ClientDisconnected");
Object.defineProperty(ClientDisconnected.prototype, CLIENT_DISCONNECTED, { value: true });

/** `error instanceof ClientDisconnected`, `false` for a `Proxy` whose prototype cannot be read (it is the app's error, answered 500). */
export function isClientDisconnected(error: unknown): boolean {
  try {
    return error instanceof ClientDisconnected;
  } catch {
    return false;
  }
}
