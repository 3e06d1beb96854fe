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
}
