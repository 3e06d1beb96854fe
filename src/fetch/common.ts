/**
 * What both fetch bridges share: the handler type and the hop-by-hop
 * fields a fetch `Response` must not carry.
 * @module
 */

/** A fetch-style handler: what `Bun.serve({ fetch })`, Deno and edge runtimes call. */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** Hop-by-hop response fields that a fetch `Response` must not carry (RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);
