/**
 * The request head the parser hands out ({@link RequestHead}: the
 * request-line and header section of RFC 9112 §3 and §5, with the framing
 * it implies, §6–§7 and §9.3), and the copy and comparison the parser's
 * memo of a repeated keep-alive head uses ({@link copyHead},
 * {@link sameHead}: see `RequestParser`'s `deliver`).
 * @module
 */

/** A parsed request head (request line and header section). */
export interface RequestHead {
  /** The method token, case preserved. */
  method: string;
  /** The request-target, raw, latin-1. */
  target: string;
  /** `"HTTP/1.0"` or `"HTTP/1.1"` (1.2+ is answered as 1.1, RFC 9110 §6.2). */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Field lines in order, flat: `[name0, value0, name1, value1, ...]`, names as sent, values OWS-trimmed, latin-1. */
  fields: string[];
  /** The Content-Length, or -1 when absent (and for chunked). */
  contentLength: number;
  /** `true` when the body is chunked. */
  chunked: boolean;
  /**
   * Persistence per RFC 9112 §9.3 (version default and `Connection` close /
   * keep-alive tokens); always `false` for CONNECT and upgrade requests.
   */
  keepAlive: boolean;
  /** `true` for HTTP/1.1 with `Expect: 100-continue`. */
  expectContinue: boolean;
}

/** A copy of `head` with a copy of its fields. */
export function copyHead(head: RequestHead): RequestHead {
  return {
    method: head.method,
    target: head.target,
    version: head.version,
    fields: head.fields.slice(),
    contentLength: head.contentLength,
    chunked: head.chunked,
    keepAlive: head.keepAlive,
    expectContinue: head.expectContinue,
  };
}

/** Whether `a` and `b` hold the same values, their fields item by item. */
export function sameHead(a: RequestHead, b: RequestHead): boolean {
  if (
    a.method !== b.method ||
    a.target !== b.target ||
    a.version !== b.version ||
    a.contentLength !== b.contentLength ||
    a.chunked !== b.chunked ||
    a.keepAlive !== b.keepAlive ||
    a.expectContinue !== b.expectContinue
  ) {
    return false;
  }
  const x = a.fields;
  const y = b.fields;
  if (x.length !== y.length) return false;
  for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  return true;
}
