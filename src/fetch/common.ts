/**
 * What both fetch bridges share: the handler type and the hop-by-hop
 * fields a fetch `Response` must not carry.
 * @module
 */

/** A fetch-style handler: what `Bun.serve({ fetch })`, Deno and edge runtimes call. */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/**
 * Hop-by-hop response fields that neither bridge passes on (RFC 9110 §7.6.1,
 * and wsgiref's `is_hop_by_hop` list, which PEP 3333 forbids applications),
 * lower-case: the same fields the tsgi server drops. `Proxy-Authenticate`
 * is not among them (a 407 MUST carry it, RFC 9110 §15.5.8).
 */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "trailers",
]);
