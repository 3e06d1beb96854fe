/**
 * What both fetch bridges share: the handler type, a scheme's default port
 * ({@link defaultPort}), the requests made for a request without `Host`
 * ({@link HOSTLESS_REQUESTS}), the mark of a server that answers `requestIP()` for any request
 * ({@link ANY_REQUEST_IP}), and where a body is held ({@link heldBody}). (The hop-by-hop fields
 * neither passes on are the gateway's `isHopByHopFor`, as the server's.)
 * @module
 */

/** A fetch-style handler: what `Bun.serve({ fetch })`, Deno and edge runtimes call. */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/**
 * The `Request`s {@link fromFetchHandler} made for an environ without
 * `HTTP_HOST` (an HTTP/1.0 request that sent no `Host`): their URL's
 * authority is `SERVER_NAME`/`SERVER_PORT`, not a field the client sent, so
 * `toFetchHandler` adds no `Host` from it and
 * `fromFetchHandler(toFetchHandler(app))` gives the app no `HTTP_HOST`, as
 * the tsgi server gives none (PEP 3333 "environ Variables").
 */
export const HOSTLESS_REQUESTS = new WeakSet<Request>();

/**
 * A property, `true`, of a server object whose `requestIP()` answers for
 * any `Request` (`fromFetchHandler`'s, read from the environ), where
 * `Bun.serve`'s gives `null` for one it did not receive: its answer does not
 * tell `toFetchHandler` that the `Request` came from a client.
 */
export const ANY_REQUEST_IP = Symbol("tsgi.anyRequestIP");

/**
 * The default port of a URL's scheme (without the `:`), which the URL
 * parser leaves out: 80 for `http` and `ws`, 443 for `https` and `wss`
 * (RFC 9110 §4.2, RFC 6455 §3); `undefined` for any other scheme.
 */
export function defaultPort(scheme: string): number | undefined {
  return scheme === "http" || scheme === "ws" ? 80 : scheme === "https" || scheme === "wss" ? 443 : undefined;
}

/**
 * Whether the body of a `Response` or `Request` is held in memory (a string,
 * bytes, a Blob, `URLSearchParams`, `FormData`, JSON: what `Bun.inspect`
 * shows as `Blob (n bytes)`), is a `Bun.file()` (`FileRef (path)`), is a
 * stream (`ReadableStream`: the app's own, `Bun.serve`'s `request.body`, or
 * one taken from the body already), or is none Bun shows at all (`"empty"`):
 * no body (`.body` is `null`), or an empty one Bun holds as nothing though
 * `.body` gives a stream closed at once (`""`, an empty `Uint8Array`; an
 * empty `Blob` is `"memory"`). Only Bun can tell; elsewhere every body
 * counts as a stream. Ask before touching `.body`, which turns a body held
 * in memory into a stream.
 */
export function heldBody(message: Request | Response): "memory" | "file" | "stream" | "empty" {
  if (typeof Bun === "undefined") return "stream";
  const shown = Bun.inspect(message);
  return /\n\s*Blob \(/.test(shown) ? "memory" : /\n\s*FileRef \(/.test(shown) ? "file" : /\n\s*ReadableStream \{/.test(shown) ? "stream" : "empty";
}
