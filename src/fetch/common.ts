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
 * shows as `Blob (n bytes)`, and a `File`, `File (n bytes)`), is a
 * `Bun.file()` (`FileRef (path)`), is a stream (`ReadableStream`: the app's own, `Bun.serve`'s `request.body`, or
 * one taken from the body already), or is none Bun shows at all (`"empty"`):
 * no body (`.body` is `null`), or an empty one Bun holds as nothing though
 * `.body` gives a stream closed at once (`""`, an empty `Uint8Array`; an
 * empty `Blob` is `"memory"`). Only Bun can tell; elsewhere every body
 * counts as a stream. Ask before touching `.body`, which turns a body held
 * in memory into a stream.
 */
export function heldBody(message: Request | Response): "memory" | "file" | "stream" | "empty" {
  const held = heldBodyType(message);
  return held === "memory-default-type" ? "memory" : held;
}

/**
 * {@link heldBody}'s answer, except that a body held in memory that Bun
 * shows with no type of its own and not empty (`Blob (5 bytes)`, `Blob
 * (2.0 KB)`: a string, bytes, an untyped `Blob`) is `"memory-default-type"`:
 * its `blob().type` is Bun's default, `text/plain;charset=utf-8`, so the
 * type is known without a `blob()`, which costs a second copy of the body
 * (a typed `Blob`, `URLSearchParams` or `FormData` is shown with its
 * `type`, an empty `Blob`, whose type is `""`, as `0 KB`: both `"memory"`).
 * One inspection, as {@link heldBody}'s.
 */
export function heldBodyType(message: Request | Response): "memory" | "memory-default-type" | "file" | "stream" | "empty" {
  if (typeof Bun === "undefined") return "stream";
  // The body is shown last, after a Response's `bodyUsed:` line: a statusText is shown before it as it is, newlines
  // included (Bun takes "\n  Blob (1 bytes)\n"), and must not be read for a body (a stream buffered whole).
  const inspected = Bun.inspect(message);
  const shown = inspected.slice(Math.max(0, inspected.lastIndexOf("\n  bodyUsed: ")));
  // A File body (new Response(new File([...], "a.txt"))) is held as a Blob is, shown as `File (n bytes) { name: ... }`.
  if (/\n\s*(?:Blob|File) \(/.test(shown)) return DEFAULT_TYPED_BLOB.test(shown) ? "memory-default-type" : "memory";
  return /\n\s*FileRef \(/.test(shown) ? "file" : /\n\s*ReadableStream \{/.test(shown) ? "stream" : "empty";
}

/** The end of an inspection whose body is a non-empty `Blob` shown without a `{ type: ... }` of its own (see {@link heldBodyType}). */
const DEFAULT_TYPED_BLOB = /\n\s*Blob \((?!0 KB\))[^)\n]*\)\n\}$/;
