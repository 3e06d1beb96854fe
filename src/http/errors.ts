/**
 * The error a malformed or unacceptable request raises while it is parsed.
 * The connection answers it with `status`, `Connection: close`, and closes
 * (RFC 9112 §2.2, §6.3: a server that cannot frame a message must not reuse
 * the connection).
 */
export class HttpError extends Error {
  /**
   * @param status the 4xx/5xx status to answer with (400, 414, 431, 501, 505, ...).
   * @param message a short, client-safe reason; sent in the error body.
   */
  constructor(
    /** The 4xx/5xx status the request is answered with (400, 408, 413, 414, 431, 501, 505, ...). */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }

  /**
   * `error instanceof HttpError` is also true for one made by another copy
   * of tsgi in the process (a global `tsgi serve`, the compiled `tsgi-dev`
   * or another version serving an app that imports its own `tsgi`): told
   * by a registered symbol on the prototype; a subclass's `instanceof` is
   * the ordinary one.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return this === HttpError && typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[HTTP_ERROR] === true;
  }
}

/** The mark every copy of tsgi puts on `HttpError.prototype` (see its `instanceof`). */
const HTTP_ERROR = Symbol.for("tsgi.HttpError");
Object.defineProperty(HttpError.prototype, HTTP_ERROR, { value: true });
