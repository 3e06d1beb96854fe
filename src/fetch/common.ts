/**
 * What both fetch bridges share: the handler type. (The hop-by-hop fields
 * neither passes on are the gateway's `isHopByHopFor`, as the server's.)
 * @module
 */

/** A fetch-style handler: what `Bun.serve({ fetch })`, Deno and edge runtimes call. */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;
