/**
 * {@link fromFetchHandler}: a fetch-style handler (Hono, Elysia, a plain
 * function) as a TSGI application, and the environ-to-`Request` mapping it
 * uses ({@link environUrl}, {@link environHeaders}).
 * @module
 */
import { reasonPhrase } from "../http/status.ts";
import { ownCopy } from "../http/intern.ts";
import type { Application, Body, Environ, ResponseHeaders, StartResponse } from "../spec.ts";
import { ANY_REQUEST_IP, defaultPort, heldBodyType, HOSTLESS_REQUESTS, type FetchHandler } from "./common.ts";
import { isHopByHopFor } from "../gateway/hop-by-hop.ts";
import { decodePath, splitTarget } from "../gateway/environ.ts";
import { readSignal, requestSignalOf, WANTS_SIGNAL, type RequestSignal } from "../gateway/signal.ts";
import { RequestInput } from "../gateway/input.ts";
import { ClientDisconnected } from "../gateway/client-disconnected.ts";
import { markFetchHandlerError } from "../gateway/fetch-handler-mark.ts";

/** Chunk size for pulling the request body from `tsgi.input` (bytes). */
const READ_SIZE = 64 * 1024;
/**
 * How long (ms) after a streamed Response starts `request.signal` is left
 * unwatched: a client that half-closed with its request (`printf ... | nc
 * -N`, `shutdown(SHUT_WR)`) has its FIN read in that time, and still gets
 * the whole body, as spec.md promises; a client that closes later (a tab
 * closed on an event stream) has the stream cancelled at once. One that
 * closes within it has the stream cut when a next chunk fails to go out.
 * The watch starts one turn of the event loop after it, so that a FIN
 * already received is read first even when the app's synchronous work held
 * the loop past it.
 */
const HALF_CLOSE_GRACE_MS = 50;

/** Safe characters of a path when re-encoding `PATH_INFO` (RFC 3986 pchar plus `/`). */
const PATH_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;

/** Percent-encode a latin-1 path string (each char one byte, as PEP 3333 native strings). */
function encodePath(path: string): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (PATH_SAFE.test(c)) out += c;
    else {
      const code = path.charCodeAt(i);
      if (code > 0xff) out += encodeURIComponent(c); // not latin-1: the app broke the rule; encode as UTF-8
      else out += `%${code.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/** A request-target path that can go into a URL as it is: printable ASCII only. */
const RAW_PATH = /^[\x21-\x7e]*$/;

/**
 * The path of the request-target as the client sent it (`REQUEST_URI`, in
 * origin-form, or the path of the absolute-form a proxy sends, whose
 * authority is `HTTP_HOST` already), when it is still the request's path: it
 * decodes to `SCRIPT_NAME` + `PATH_INFO`. Otherwise (no `REQUEST_URI`, the
 * authority- or asterisk-form, a byte outside printable ASCII, or a
 * middleware that changed the path) `null`.
 */
function rawPath(environ: Environ, decoded: string): string | null {
  const uri = environ.REQUEST_URI;
  if (typeof uri !== "string") return null;
  let path: string;
  if (uri.charCodeAt(0) === 47 /* / */) {
    const q = uri.indexOf("?");
    path = q === -1 ? uri : uri.slice(0, q);
  } else {
    const split = splitTarget(uri);
    if (split.authority === null || split.path.charCodeAt(0) !== 47) return null;
    path = split.path;
  }
  // Raw bytes past ASCII (a latin-1 environ string, as CGI's is) would be encoded again as UTF-8 by the URL parser.
  if (!RAW_PATH.test(path)) return null;
  return decodePath(path) === decoded ? path : null;
}

/**
 * The request URL a fetch handler sees (PEP 3333 "URL Reconstruction"):
 * `tsgi.url_scheme` (default `http`), `HTTP_HOST` (else `SERVER_NAME`,
 * default `localhost`, plus `:SERVER_PORT` unless it is the scheme's
 * default: 80 for `http` and `ws`, 443 for `https` and `wss`), the path,
 * and `?QUERY_STRING` when non-empty (a lone `?` when `QUERY_STRING` is
 * empty and `REQUEST_URI` ends in its only `?`: `/x?` stays `http://h/x?`, as
 * on `Bun.serve`). The path is the
 * one the client sent (`REQUEST_URI`'s, the path of an absolute-form one) when it decodes to `SCRIPT_NAME` +
 * `PATH_INFO` and is printable ASCII, so an escape such as `%2F` or `%7E` stays as sent, as
 * `Bun.serve` passes it; otherwise `SCRIPT_NAME` + `PATH_INFO`
 * percent-encoded again (bytes outside RFC 3986 `pchar` and `/`; `/` when
 * empty). For `CONNECT` with an authority-form `REQUEST_URI` (RFC 9112
 * §3.2.3), the URL is that authority's, path `/`
 * (`http://example.com:443/`), whatever `Host` says: the tunnel's target is
 * the request-target (`Bun.serve` gives the bare `example.com:443`, which
 * is not a URL a `Request` can have). As in any URL, a port that is the
 * scheme's default is left out (`CONNECT example.com:80` gives
 * `http://example.com/`; `:443` under `https` gives `https://example.com/`).
 */
export function environUrl(environ: Environ): string {
  const scheme = String(environ["tsgi.url_scheme"] || "http");
  const uri = environ.REQUEST_URI;
  if (environ.REQUEST_METHOD === "CONNECT" && typeof uri === "string" && uri !== "" && !uri.includes("/")) return `${scheme}://${uri}/`;
  let host = typeof environ["HTTP_HOST"] === "string" && environ["HTTP_HOST"] ? environ["HTTP_HOST"] : "";
  if (!host) {
    const name = String(environ.SERVER_NAME || "localhost");
    host = name.includes(":") ? `[${name}]` : name;
    const port = String(environ.SERVER_PORT || "");
    if (port && port !== String(defaultPort(scheme))) host += `:${port}`;
  }
  const decoded = String(environ.SCRIPT_NAME ?? "") + String(environ.PATH_INFO ?? "");
  const path = rawPath(environ, decoded) ?? (encodePath(decoded) || "/");
  const query = environ.QUERY_STRING ? `?${String(environ.QUERY_STRING)}` : emptyQuery(uri) ? "?" : "";
  return `${scheme}://${host}${path.startsWith("/") ? path : `/${path}`}${query}`;
}

/**
 * Whether the request-target (`REQUEST_URI`) has an empty query: a `?` with
 * nothing after it (`/x?`), which a URL keeps (`http://h/x?` is not
 * `http://h/x`: a signed URL, a router matching `request.url` can tell) and
 * `Bun.serve` passes on in `request.url`. `QUERY_STRING` is `""` both for it
 * and for no query at all.
 */
function emptyQuery(uri: unknown): boolean {
  return typeof uri === "string" && uri.indexOf("?") === uri.length - 1 && uri.length > 0;
}

/**
 * Rebuild request headers from environ: string `HTTP_*` keys (PEP 3333's
 * mapping undone: `_` → `-`, lower case), and `CONTENT_TYPE` /
 * `CONTENT_LENGTH` when non-empty (`HTTP_CONTENT_*` keys are ignored). A
 * value `Headers` refuses is skipped.
 */
export function environHeaders(environ: Environ): Headers {
  const h = new Headers();
  appendEnvironHeaders(environ, h);
  return h;
}

/**
 * Header names by their environ key (`HTTP_USER_AGENT` → `user-agent`), `""`
 * for the CGI-shadowed ones. The keys are the clients' own: only keys of up
 * to {@link HEADER_KEY_MAX} characters are kept (a name may be as long as
 * `maxHeaderBytes`: 512 of 60 kB each held about 80 MB for the process's
 * life), and a full cache starts again, so made-up names cannot keep the
 * real ones out of it.
 */
const HEADER_NAMES = new Map<string, string>();
const HEADER_NAMES_MAX = 512;
/** Longest environ key {@link HEADER_NAMES} keeps (characters): `HTTP_ACCESS_CONTROL_REQUEST_HEADERS` is 35. */
const HEADER_KEY_MAX = 64;

/**
 * {@link environHeaders}' fields, added to `h`. The keys of an environ
 * that is a plain object (its prototype `Object.prototype`, or `null`) are
 * taken with `Object.keys()`: `for...in` over the tsgi server's environ (25
 * keys) with its `tsgi.signal` accessor, which a fetch handler always gets,
 * measured about 0.6 µs a request (the accessor puts JSC's `for...in` on its
 * slow path: docs/performance.md "for...in over the environ"),
 * `Object.keys()` and an indexed loop 0.07 µs. Any other environ (a middleware's
 * `Object.create(environ)`) is walked with `for...in`, so the keys it
 * inherits count.
 */
function appendEnvironHeaders(environ: Environ, h: Headers): void {
  const proto = Object.getPrototypeOf(environ);
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(environ);
    for (let i = 0; i < keys.length; i++) appendEnvironField(environ, keys[i]!, h);
  } else {
    for (const key in environ) appendEnvironField(environ, key, h);
  }
}

/** The field for environ key `key`, if it names one, added to `h` (see {@link environHeaders}). */
function appendEnvironField(environ: Environ, key: string, h: Headers): void {
  const first = key.charCodeAt(0);
  if (first === 72 /* H */) {
    if (!key.startsWith("HTTP_")) return;
    const value = environ[key];
    if (typeof value !== "string") return;
    let name = HEADER_NAMES.get(key);
    if (name === undefined) {
      name = key.slice(5).toLowerCase().replaceAll("_", "-");
      if (name === "content-length" || name === "content-type") name = ""; // CGI keys win
      if (key.length <= HEADER_KEY_MAX) {
        if (HEADER_NAMES.size >= HEADER_NAMES_MAX) HEADER_NAMES.clear();
        HEADER_NAMES.set(key, name);
      }
    }
    if (name === "") return;
    try {
      h.append(name, value);
    } catch {
      // a value a Headers object refuses (should not happen for parsed fields)
    }
  } else if (first === 67 /* C */) {
    if (key === "CONTENT_TYPE") {
      const value = environ[key];
      if (typeof value === "string" && value) h.set("content-type", value);
    } else if (key === "CONTENT_LENGTH") {
      const value = environ[key];
      if (typeof value === "string" && value) h.set("content-length", value);
    }
  }
}

/** Options of {@link fromFetchHandler}. */
export interface FromFetchOptions {
  /**
   * Extra arguments passed after the `Request` (Hono's `env` and execution
   * context, for instance), computed per request from the environ.
   * Default: one, the {@link FetchServer} `Bun.serve` passes in its place
   * (`requestIP()` from `REMOTE_ADDR`/`REMOTE_PORT`, `upgrade()` false).
   */
  args?: ((environ: Environ) => unknown[]) | undefined;
}

/**
 * The second argument {@link fromFetchHandler} gives the handler by
 * default: the part of `Bun.serve`'s `Server` a fetch app calls on a
 * request (Hono's `getConnInfo` from `hono/bun` calls `requestIP`), and its
 * address (`hostname`, `port`, `protocol`). Its methods are called on the
 * object, as `Bun.serve`'s are.
 */
export interface FetchServer {
  /**
   * The client's address, as `Server.requestIP`: `REMOTE_ADDR` (the peer,
   * or the client a trusted proxy named) with `REMOTE_PORT` as a number
   * (`0` when unknown) and the family from the address; `null` when
   * `REMOTE_ADDR` is empty (a Unix socket). The argument is not read: it
   * is the request being answered.
   */
  requestIP(request?: Request): { address: string; family: "IPv4" | "IPv6"; port: number } | null;
  /**
   * Always `false`: a TSGI server answers HTTP and cannot hand the
   * connection to a WebSocket (the handler answers the upgrade request
   * itself, as `Bun.serve` code does when `upgrade()` fails).
   */
  upgrade(request?: Request, options?: unknown): boolean;
  /**
   * Does nothing. On `Bun.serve` it sets a request's idle timeout (`0`:
   * none), which an event stream or a long poll calls since Bun closes a
   * connection idle for 10 s by default. A TSGI server has no idle timeout
   * while a response is under way (`tsgi serve`'s own apply: the client
   * must keep taking what is sent, `--socket-timeout`; `--request-timeout`
   * when set), so the call has nothing to change.
   */
  timeout(request?: Request, seconds?: number): void;
  /**
   * The server's own name, as `Server.hostname`: `SERVER_NAME` (the
   * listening address, or the machine's host name for a wildcard one).
   * `toFetchHandler` takes `SERVER_NAME` from it for a request whose URL
   * names no server (CONNECT), so a round trip keeps the server's address.
   */
  readonly hostname: string;
  /** The server's port, as `Server.port`: `SERVER_PORT` as a number; `undefined` when it is not a port (PEP 3333 "SERVER_PORT"). */
  readonly port: number | undefined;
  /** `"https"` when `tsgi.url_scheme` is `https`, else `"http"`, as `Server.protocol`. */
  readonly protocol: "http" | "https";
}

/**
 * The {@link FetchServer} for one request's environ: the peer's address and
 * port as they were when the handler was called, and the server's own
 * (`SERVER_NAME`, `SERVER_PORT`, `tsgi.url_scheme`).
 */
class EnvironServer implements FetchServer {
  private readonly address: string;
  private readonly remotePort: unknown;
  readonly hostname: string;
  readonly port: number | undefined;
  readonly protocol: "http" | "https";

  constructor(environ: Environ) {
    this.address = typeof environ.REMOTE_ADDR === "string" ? environ.REMOTE_ADDR : "";
    this.remotePort = environ.REMOTE_PORT;
    this.hostname = typeof environ.SERVER_NAME === "string" ? environ.SERVER_NAME : "";
    const port = Number(environ.SERVER_PORT);
    this.port = Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
    this.protocol = environ["tsgi.url_scheme"] === "https" ? "https" : "http";
  }

  requestIP(): { address: string; family: "IPv4" | "IPv6"; port: number } | null {
    const address = this.address;
    return address ? { address, family: address.includes(":") ? "IPv6" : "IPv4", port: Number(this.remotePort) || 0 } : null;
  }

  upgrade(): boolean {
    return false;
  }

  timeout(): void {}

  /** {@link requestIP} answers for any `Request`, not only the one made for this environ. */
  get [ANY_REQUEST_IP](): boolean {
    return true;
  }
}

/** What {@link fromFetchHandler} accepts: a handler function or an object with a `fetch` method (a Hono or Elysia app). */
export type FetchApp = FetchHandler | { fetch: FetchHandler };

/**
 * Wrap a fetch-style handler as a TSGI application.
 *
 * Each request becomes a `Request` (URL from {@link environUrl}, headers
 * from {@link environHeaders}, and for methods other than GET and HEAD
 * with a `CONTENT_LENGTH` above 0 or a chunked body a body: the bytes when
 * the server's own `tsgi.input` has all of it already, else streamed from
 * `tsgi.input` in reads of up to 64 KiB), the handler's `Response` becomes
 * `startResponse(status, headers)` (each `Set-Cookie` kept separate,
 * hop-by-hop fields dropped but for a `Connection: close`, passed on for
 * the server to close the connection after the response as `Bun.serve`
 * does, an empty `statusText`, or one that is no reason phrase (RFC 9112
 * §4: a CR, LF, NUL, other control char or char above 0xFF, which Bun's
 * `Response` takes and `Bun.serve` never sends), replaced by the
 * registered reason phrase) and a body: one chunk with its length when
 * the `Response` holds it in memory (a string, bytes, JSON), else streamed
 * from `response.body` (none for HEAD, 204, 205 and 304: the stream is cancelled); a `Bun.file()` body through
 * `tsgi.file_wrapper`, with its size. The `Response`'s own
 * `Content-Length` is not sent with a body held in memory (its bytes give
 * the length, as on `Bun.serve`) nor with a streamed body that has a
 * `Content-Encoding` (`fetch()` decompressed it: chunked), nor when it is
 * not 1 to 15 digits (`abc`, `5, 5`: chunked, as `Bun.serve` ignores it). The request's
 * `signal` is aborted when the server's `environ["tsgi.signal"]` aborts (the
 * client went away, or the server gave up on the request, while the handler
 * computes its `Response` or its body streams; a server without that
 * extension gives no such sign), and when the body is closed before its
 * end (the client went away while it streamed; not when a streamed body
 * sent all of its own `Content-Length`: the server stops it there and the
 * stream is cancelled, as it is on an early close). The signal aborting
 * while a streamed body is under way cancels the stream at once, as on
 * `Bun.serve`, even while it waits for its next chunk, and the response is
 * cut (one aborted before the `Response` came, a client that half-closed
 * after its request, leaves the body to stream). A handler that throws,
 * rejects or returns something other than a `Response` is an application
 * error: the server answers 500 and logs it. A method a `Request` would
 * not carry as sent (Bun's turns `BREW` into `GET`, `get` into `GET`) is
 * answered `501 Not Implemented` without calling the handler (RFC 9110
 * §9.1), and one whose URL the URL parser refuses (a `Host` such as
 * `x:99999`) `400 Bad Request`, `OPTIONS *` included. `OPTIONS *` is answered `200` with an empty
 * body and no `Allow` field without calling the handler (a `Request` can only say `OPTIONS /*`);
 * `CONNECT` comes with its target's URL (see {@link environUrl}). A `Response` returned at once
 * (not a promise) with a body held in memory is answered at once: the
 * application returns its body, else a promise of it. On the tsgi server
 * `request.signal` is `environ["tsgi.signal"]` itself.
 *
 * @throws TypeError at wrap time when `handler` is neither a function nor has a `fetch` method, or `options.args` is given and is not a function.
 */
export function fromFetchHandler(handler: FetchApp, options: FromFetchOptions = {}): Application {
  const fetchFn: FetchHandler =
    typeof handler === "function"
      ? handler
      : handler && typeof (handler as { fetch?: unknown }).fetch === "function"
        ? (handler as { fetch: FetchHandler }).fetch.bind(handler)
        : (() => {
            throw new TypeError(`fromFetchHandler(handler): expected a function or an object with a fetch() method, got ${handler === null ? "null" : typeof handler}`);
          })();
  if (options.args !== undefined && typeof options.args !== "function") {
    throw new TypeError(`fromFetchHandler option args must be a function (environ) => unknown[], got ${options.args === null ? "null" : typeof options.args}`);
  }
  const app: Application = (environ: Environ, startResponse: StartResponse): Body | Promise<Body> => {
    const method = String(environ.REQUEST_METHOD);
    // A method the Request would not carry as sent is not passed on as another one (see requestKeeps).
    if (!requestKeeps(method)) return notImplemented(method, startResponse);
    // OPTIONS * (spec.md: PATH_INFO "*") asks about the server, not a resource, and a URL cannot say it
    // (it would reach the handler as OPTIONS /*): answered here (RFC 9110 §9.3.7).
    // A Host no URL can have gets the 400 any other request with it gets (badHost), not the 200.
    if (method === "OPTIONS" && environ.PATH_INFO === "*") {
      return URL.canParse(environUrl(environ)) ? asteriskOptions(startResponse) : badHost(startResponse, HOST_REFUSED);
    }
    // request.signal. The tsgi server's tsgi.signal (spec.md "Server extension APIs") is given as it is:
    // aborted when the client goes away or the server gives up on the request while the handler computes
    // its Response, as on Bun.serve, and aborted through `own` when a body is closed before its end.
    // Any other signal (a middleware's, toFetchHandler's) is followed by an AbortController of our own;
    // without one, that controller serves the early close alone.
    const gone = readSignal(environ);
    const own = gone instanceof AbortSignal ? requestSignalOf(environ, gone) : null;
    let controller: AbortController | null = null;
    if (own === null) {
      const c = (controller = new AbortController());
      if (gone instanceof AbortSignal) {
        if (gone.aborted) c.abort(gone.reason);
        else gone.addEventListener("abort", () => c.abort(gone.reason), { once: true });
      }
    }
    const input = environ["tsgi.input"];
    const length = Number(environ.CONTENT_LENGTH || 0);
    const chunked = typeof environ["HTTP_TRANSFER_ENCODING"] === "string" && /chunked/i.test(environ["HTTP_TRANSFER_ENCODING"]);
    // Uint8Array<ArrayBuffer>: the DOM lib's BodyInit (a user's strict tsconfig without bun-types) takes no other.
    let body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null = null;
    if (method !== "GET" && method !== "HEAD" && (length > 0 || chunked)) {
      // The server's own input with the whole body arrived (a JSON POST, a form: in the head's read or
      // soon after): its bytes, which Bun's Request reads at once (req.json() without a stream's pulls).
      // No 100 Continue is owed then; anything else, or a middleware's input, streams.
      body = input instanceof RequestInput ? input.takeWhole() : null;
      body ??= new ReadableStream<Uint8Array>(
        {
          async pull(c) {
            // What has arrived, as Bun.serve's request.body gives it (read() would wait for READ_SIZE bytes).
            const chunk = await (input.read1 ? input.read1(READ_SIZE) : input.read(READ_SIZE));
            if (chunk.length === 0) c.close();
            else c.enqueue(chunk);
          },
        },
        // Nothing is read before the handler asks: the first read is what sends a `100 Continue`
        // (spec.md), so a handler that answers without the body (a 401 to an upload) has none sent.
        { highWaterMark: 0 },
      );
    }
    const init: RequestInit & { duplex?: "half" } = { method, signal: controller === null ? (gone as AbortSignal) : controller.signal };
    if (body instanceof ReadableStream) {
      init.body = body;
      init.duplex = "half";
    } else if (body) {
      init.body = body;
    }
    const url = environUrl(environ);
    let request: Request;
    try {
      request = new Request(url, init);
    } catch (error) {
      // A Host the tsgi server takes (RFC 9110's grammar: `x:99999`, `999.1.1.1`, `[v1.x]`) that the
      // URL parser refuses: the client's error, answered 400 as an invalid Host is, not a 500 logged
      // as the application's for every such request.
      if (URL.canParse(url)) throw error;
      return badHost(startResponse, method === "CONNECT" ? "CONNECT target (not an authority a URL can have)" : HOST_REFUSED);
    }
    // Filled in place: a Headers of our own would be copied into the Request's.
    appendEnvironHeaders(environ, request.headers);
    // No Host was sent: the URL's authority is the server's own (environUrl), not one for toFetchHandler to pass on as Host.
    if (typeof environ["HTTP_HOST"] !== "string" || environ["HTTP_HOST"] === "") HOSTLESS_REQUESTS.add(request);
    let result: unknown;
    try {
      result = fetchFn(request, ...(options.args ? options.args(environ) : [new EnvironServer(environ)]));
    } catch (error) {
      // Served as a fetch handler, with a real Request: its TypeError gets no "looks like a fetch handler" hint.
      throw markFetchHandlerError(error);
    }
    // A Response returned at once, held in memory, is answered at once: no promise turn (Bun.serve's own
    // fast path). A promise of one (an async handler, a middleware that awaits) is answered when it settles.
    const exchange = new Exchange(environ, method, startResponse, controller, own, init.signal!);
    if (result !== null && typeof result === "object" && typeof (result as Promise<unknown>).then === "function") {
      return (result as Promise<unknown>).then(
        (response) => exchange.respond(response),
        (error: unknown) => {
          throw markFetchHandlerError(error);
        },
      );
    }
    return exchange.respond(result);
  };
  // The tsgi server gives such an app tsgi.signal by default (its requestSignal option), for request.signal.
  Object.defineProperty(app, WANTS_SIGNAL, { value: true });
  return app;
}

/**
 * Whether a `Request` carries `method` as it is. Bun's `Request` turns a
 * method it does not know into `GET` (`BREW`, `TRACK`, any token of an
 * app's own) and upper-cases one it knows in another case (`get`, `Get`,
 * `patch`; methods are case-sensitive, RFC 9110 §9.1), and the Fetch
 * standard's `Request` refuses `CONNECT`, `TRACE` and `TRACK` (a
 * `TypeError`). Asked of a `Request` once per method; the answers for up to
 * {@link METHODS_MAX} methods of up to {@link METHOD_KEY_MAX} characters are
 * kept, each under a copy of its own (methods are the clients' own tokens).
 */
function requestKeeps(method: string): boolean {
  let kept = KEPT_METHODS.get(method);
  if (kept === undefined) {
    try {
      kept = new Request("http://localhost/", { method }).method === method;
    } catch {
      kept = false;
    }
    // Kept under a copy of its own: the method is a slice of the request head's string, which the
    // runtime shares rather than copies past 8 characters, so the key would hold the whole head
    // (up to maxHeaderBytes: 128 of 64 KiB each, about 8 MB for the process's life).
    if (KEPT_METHODS.size < METHODS_MAX && method.length <= METHOD_KEY_MAX) KEPT_METHODS.set(ownCopy(method), kept);
  }
  return kept;
}

/** {@link requestKeeps}' answers by method, the common ones known to be kept. */
const KEPT_METHODS = new Map<string, boolean>(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"].map((m) => [m, true]));
/** How many methods {@link KEPT_METHODS} holds at most. */
const METHODS_MAX = 128;
/** Longest method {@link KEPT_METHODS} keeps (characters): the registered ones are at most 17 (`UPDATEREDIRECTREF`). */
const METHOD_KEY_MAX = 32;

/**
 * The answer to a method {@link requestKeeps} says a `Request` cannot carry:
 * `501 Not Implemented` (RFC 9110 §9.1: what an origin server answers to
 * a method it does not implement), the handler not called. Not an
 * application error: nothing is logged.
 */
function notImplemented(method: string, startResponse: StartResponse): Body {
  const body = new TextEncoder().encode(`501 Not Implemented: the method ${method} cannot be passed to a fetch handler (a Request does not carry it as sent)\n`);
  startResponse("501 Not Implemented", [
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
  ]);
  return [body];
}

/**
 * The answer to `OPTIONS *` (RFC 9110 §9.3.7: the server's options in
 * general, "a ping or no-op"): `200 OK` with an empty body, the handler not
 * called (its `Request` could only say `OPTIONS /*`, another request), when
 * its `Host` is one a URL can have (else {@link badHost}'s `400`, as for any
 * request). No `Allow` field: §9.3.7 has a server send it when it knows the
 * methods (a SHOULD, "e.g."), and the bridge does not know which ones the
 * handler implements; an empty `Allow` would say none (RFC 9110 §10.2.1).
 * The seeds (wsgiref, cheroot, gevent, eventlet) pass `OPTIONS *` to the
 * application, as the tsgi server does. `Bun.serve` answers `400` without
 * calling its handler.
 */
function asteriskOptions(startResponse: StartResponse): Body {
  startResponse("200 OK", [["Content-Length", "0"]]);
  return [];
}

/**
 * The answer to a request whose URL (from `HTTP_HOST`, or `SERVER_NAME`;
 * `CONNECT`'s from its target, `what` says which) the URL parser refuses: `400 Bad Request`, the connection closed, as the
 * tsgi server answers an invalid `Host` (RFC 9112 §3.2). The handler is not
 * called and nothing is logged.
 */
function badHost(startResponse: StartResponse, what: string): Body {
  const body = new TextEncoder().encode(`400 Bad Request: Invalid ${what}\n`);
  startResponse("400 Bad Request", [
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
    ["Connection", "close"],
  ]);
  return [body];
}

/** What {@link badHost} names when the URL parser refused the host of `HTTP_HOST` (or `SERVER_NAME`). */
const HOST_REFUSED = "Host field value (not a host a URL can have)";

/** The default reason of an abort (`controller.abort()`'s, a `DOMException` named `AbortError`). */
function abortReason(): unknown {
  return AbortSignal.abort().reason;
}

/**
 * The value of `promise` when it has settled fulfilled already (Bun's
 * `Response.bytes()` of a body held in memory does), else `undefined`.
 */
function settled<T>(promise: Promise<T>): T | undefined {
  if (typeof Bun === "undefined" || Bun.peek.status(promise) !== "fulfilled") return undefined;
  return Bun.peek(promise) as T;
}

/** One request's answer: the handler's `Response` into `startResponse` and a TSGI body. */
class Exchange {
  constructor(
    private readonly environ: Environ,
    private readonly method: string,
    private readonly startResponse: StartResponse,
    /** The `Request`'s own controller, or `null` when its signal is the server's (`own`). */
    private readonly controller: AbortController | null,
    private readonly own: RequestSignal | null,
    /** The signal the `Request` was made with (the server's, or the controller's): aborted while a streamed body waits, it cancels the stream (see {@link respond}). */
    private readonly signal: AbortSignal,
  ) {}

  /** Abort `request.signal`: the body was closed before its end (already aborted when the client left). */
  private abort(): void {
    if (this.own !== null) this.own.abort(abortReason());
    else this.controller!.abort();
  }

  respond(response: unknown): Body | Promise<Body> {
    if (!(response instanceof Response)) throw notAResponse(response);
    // Bun.serve answers both 500 too; the gateway would say "status ... got \"0 Unknown\"" and "ReadableStream is locked".
    // (Bun gives new Response(null, { status: 101 }) the type "error" too: status 0 is what tells Response.error().)
    if (response.type === "error" && response.status === 0) {
      throw new TypeError("the fetch handler returned Response.error() (a network error, status 0), which is no HTTP response to send; return one with a status, e.g. new Response(null, { status: 502 })");
    }
    if (response.bodyUsed && response.body?.locked) {
      throw new TypeError("the fetch handler returned a Response whose body was already read (bodyUsed: its text(), json() or a reader took it); return a new Response, or read a response.clone()");
    }
    const { method, startResponse } = this;
    // Asked before touching `response.body`: reading it turns Bun's in-memory body into a stream.
    // An empty body ("empty": new Response(""), whose .body is a stream closed at once) is taken as a stream is.
    const shown = response.bodyUsed ? "stream" : heldBodyType(response);
    const held = shown === "memory-default-type" ? "memory" : shown;
    // A stream a reader holds (response.body.getReader(), not released) cannot be read here: Bun.serve answers 500.
    if (held === "stream" && response.body?.locked) {
      throw new TypeError("the fetch handler returned a Response whose body stream is locked (a reader from response.body.getReader() holds it); call reader.releaseLock() before returning it, or return a new Response");
    }
    const inMemory = held === "memory" || held === "file";
    // Bun.serve never sends a Response's own Content-Length: a body held in
    // memory goes out with its real length, a streamed one chunked. What
    // fetch() returns keeps the upstream's Content-Length although Bun
    // decompressed the body (gzip, br, deflate, zstd), so passing it on cut a
    // proxied body at its compressed size. Here the server frames a body held
    // in memory by its bytes, and a streamed body that has a Content-Encoding
    // (whose length the field may not be) goes out chunked. No body at all
    // (`new Response(null, { headers })`) is an empty one: Content-Length 0,
    // as Bun.serve sends it, except to HEAD and in a 304, where the field
    // describes the resource and Bun.serve keeps it (a 204's the server drops).
    const dropLength =
      inMemory || (method !== "HEAD" && (response.body === null ? response.status !== 304 : response.headers.has("content-encoding")));
    // A Content-Length that is not a length the server takes (`abc`, `-1`; `5, 5` from a Headers given the
    // field twice) is left out, as Bun.serve ignores it: a streamed body goes out chunked, not as a 500.
    const lengthField = response.headers.get("content-length");
    const ownLength = lengthField !== null && LENGTH_VALUE.test(lengthField) ? lengthField : null;
    const headers: ResponseHeaders = [];
    let typed = false;
    let cookies = false;
    response.headers.forEach((value, name) => {
      // A 426 MUST carry Upgrade (RFC 9110 §15.5.22): the tsgi server keeps it there.
      if (name === "set-cookie") {
        cookies = true;
        return;
      }
      if (isHopByHopFor(name, response.status)) {
        // The one hop-by-hop field a TSGI server honours (spec.md): the server closes the connection
        // after this response and names the close itself, as Bun.serve does for the same Response.
        if (name === "connection" && CLOSE_OPTION.test(value)) headers.push(["connection", "close"]);
        return;
      }
      if (name === "content-length") {
        if (dropLength || ownLength === null) return;
      } else if (name === "content-type") typed = true;
      headers.push([name, value]);
    });
    if (cookies) for (const cookie of response.headers.getSetCookie()) headers.push(["set-cookie", cookie]);
    const text = response.statusText;
    // A statusText that is no reason phrase (a CR, LF, NUL or char above 0xFF, which Bun takes though
    // the Fetch standard's Response constructor refuses it) is dropped, as Bun.serve drops every one.
    const status = `${response.status} ${(text && REASON_PHRASE.test(text) ? text : reasonPhrase(response.status)) || "Unknown"}`;
    if (held === "file") return this.file(response, status, headers);
    // The whole body is at hand (c.json(), c.text(), new Response("...")): one
    // chunk with its length, as Bun.serve sends it (HEAD keeps GET's length).
    // A 204, 205 or 304 has no content, so no implicit Content-Type either, as on Bun.serve: a 304's
    // fields update the cache's stored response (RFC 9111 §4.3.4), and a `text/plain` made up from a
    // body that is not sent would replace the cached page's own type.
    if (inMemory) return this.memory(response, status, headers, typed || !framesContent(response.status), shown === "memory-default-type");
    const stream = response.body;
    const code = response.status;
    // A stream to HEAD without a Content-Length of its own: GET's framing (RFC 9110 §9.3.2), as Bun.serve sends it.
    if (stream !== null && method === "HEAD" && framesContent(code) && ownLength === null) return this.headStream(stream, status, headers);
    startResponse(status, headers);
    // No content may go out (HEAD, 204, 205, 304): the stream is cancelled, as Bun.serve does, and
    // request.signal stays as it is; the server stopping such a body was taken for an early close.
    if (!stream || method === "HEAD" || code === 204 || code === 205 || code === 304) {
      if (stream) return stream.cancel().then(EMPTY, EMPTY);
      return [];
    }
    const reader = stream.getReader();
    /** The client has all the body: the stream said done, or gave all of its Content-Length. */
    let finished = false;
    /** The stream said done: nothing is left to cancel. */
    let ended = false;
    // request.signal aborting while the body streams (the client closed or reset the connection, or sent
    // its FIN; the server gave up on the request) cancels the stream at once, as Bun.serve cancels it: an
    // event stream waiting for its next event (a pub/sub that may stay quiet for hours) has its cancel()
    // run now, which is where it unsubscribes (Hono's onAbort), not when a next chunk fails to go out.
    // The response is cut, never ended as if complete. A signal aborted already when the Response came,
    // or by the end of the socket events being handled when it came (a client that half-closed with its
    // request: `printf ... | nc -N`, whose FIN the server reads after a handler that answered at once),
    // leaves the body to stream, as that client still reads (spec.md).
    const signal = this.signal;
    /** The signal aborted while the body streamed: the stream was cancelled, and the body fails with its reason. */
    let cut = false;
    const onAbort = (): void => {
      if (finished || ended) return;
      cut = true;
      reader.cancel(signal.reason).catch(() => {});
    };
    let watching: ReturnType<typeof setTimeout> | null = null;
    if (!signal.aborted) {
      watching = setTimeout(() => {
        // One more turn of the event loop first, so that the socket events already in hand are read: after a stall
        // (the app's own synchronous work past the grace) the grace's timer runs before the poll that reads a FIN
        // sent with the request, which would then be taken for a client leaving.
        watching = setTimeout(() => {
          watching = null;
          if (!signal.aborted) signal.addEventListener("abort", onAbort, { once: true });
        }, 0);
      }, HALF_CLOSE_GRACE_MS);
    }
    const unwatch = (): void => {
      if (watching !== null) clearTimeout(watching);
      watching = null;
      signal.removeEventListener("abort", onAbort);
    };
    // The Content-Length the stream goes out under (-1: none, chunked): once that many bytes are
    // out the server stops the body before the stream says it is done, its end and not an early close.
    let left = dropLength || ownLength === null ? -1 : Number(ownLength);
    return {
      [Symbol.asyncIterator]() {
        return {
          async next(): Promise<IteratorResult<Uint8Array>> {
            const { done, value } = await reader.read().catch(noReasonError);
            // Cancelled by request.signal: a cut, with the reason the server aborted it with (not logged).
            if (cut) throw cutReason(signal.reason);
            if (done) {
              finished = ended = true;
              unwatch();
              return { done: true, value: undefined };
            }
            const chunk = bodyChunk(value);
            if (left >= 0 && (left -= chunk.length) <= 0) finished = true;
            return { done: false, value: chunk };
          },
        };
      },
      close: () => {
        unwatch();
        if (!finished) this.abort();
        // Stopped at its Content-Length (or past it) before it said done, the stream is cancelled all the
        // same: its cancel() frees what it holds (an upstream body, a cursor), as on an early close.
        if (!ended) reader.cancel().catch(() => {});
      },
    } as Body;
  }

  /**
   * The answer to HEAD with a streamed body and no `Content-Length` of the
   * `Response`'s own: of unknown length, as the GET's, so the header section
   * goes out at once through an empty `write()` (spec.md "startResponse"),
   * which the server frames as a GET's streamed body (`Transfer-Encoding:
   * chunked` to HTTP/1.1, as Bun.serve sends it); the stream is cancelled.
   * An empty body held in memory (`new Response("")`, whose stream is done
   * at once) is an empty body, as an empty array is to the server: no
   * framing field, since it may be a body the handler skipped for HEAD (RFC
   * 9110 §8.6 forbids a `Content-Length: 0` the GET would not have).
   */
  private headStream(stream: ReadableStream<Uint8Array>, status: string, headers: ResponseHeaders): Body | Promise<Body> {
    const reader = stream.getReader();
    const first = reader.read();
    first.catch(() => {});
    const write = this.startResponse(status, headers);
    if (settled(first)?.done === true) return [];
    write(new Uint8Array(0));
    return reader.cancel().then(EMPTY, EMPTY);
  }

  /**
   * A body held in memory: its bytes, with the `Content-Type` Bun gives it
   * implicitly when the `Response` has none of its own (`typed` false): its
   * Blob's type, Bun's default when `defaultType` (see `heldBodyType`;
   * then no `blob()` is made for it). Bun has them at once: then no promise
   * turn.
   */
  private memory(response: Response, status: string, headers: ResponseHeaders, typed: boolean, defaultType: boolean): Body | Promise<Body> {
    if (typed || defaultType) {
      const type = typed ? null : BUN_DEFAULT_TYPE;
      const pending = response.bytes();
      const bytes = settled(pending);
      return bytes !== undefined ? this.whole(status, headers, bytes, type) : pending.then((bytes) => this.whole(status, headers, bytes, type));
    }
    const pendingBlob = response.blob();
    const blob = settled(pendingBlob);
    if (blob === undefined) return pendingBlob.then(async (blob) => this.whole(status, headers, await blob.bytes(), blob.type));
    const pending = blob.bytes();
    const bytes = settled(pending);
    return bytes !== undefined ? this.whole(status, headers, bytes, blob.type) : pending.then((bytes) => this.whole(status, headers, bytes, blob.type));
  }

  /** Start the response with a body held in memory, `blobType` its Blob's type when its Content-Type is implicit. */
  private whole(status: string, headers: ResponseHeaders, bytes: Uint8Array, blobType: string | null): Body {
    if (blobType !== null) {
      const implicit = implicitContentType(blobType, bytes);
      if (implicit) headers.push(["content-type", implicit]);
    }
    this.startResponse(status, headers);
    return [bytes];
  }

  /**
   * new Response(Bun.file(path)): sent with its size, through the server's
   * tsgi.file_wrapper (its native file path), as Bun.serve sends a file.
   */
  private file(response: Response, status: string, headers: ResponseHeaders): Body | Promise<Body> {
    const pending = response.blob();
    const file = settled(pending);
    return file !== undefined ? this.fileBody(file, status, headers) : pending.then((file) => this.fileBody(file, status, headers));
  }

  private fileBody(file: Blob, status: string, headers: ResponseHeaders): Body {
    const wrap = this.environ["tsgi.file_wrapper"];
    if (typeof wrap === "function") {
      this.startResponse(status, headers);
      return wrap(file);
    }
    // (A pipe's or a device's Bun.file() has no size, Infinity: no length, the server frames it.)
    if (Number.isFinite(file.size)) headers.push(["content-length", String(file.size)]);
    this.startResponse(status, headers);
    if (this.method === "HEAD") return [];
    return file.stream() as unknown as AsyncIterable<Uint8Array>;
  }
}

/**
 * A chunk of a `Response`'s stream as bytes: what `Bun.serve` writes, a
 * `Uint8Array` (a `Buffer` too), a string (as UTF-8), an `ArrayBuffer` or
 * another view on one (`DataView`, `Uint16Array`: its bytes). Anything
 * else is passed on as it is, for the gateway to refuse (an application
 * error, as `Bun.serve` errors the response).
 */
function bodyChunk(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return value as Uint8Array;
}

/**
 * A `Response` stream's failure passed on as the application error it is,
 * with a message when it has no reason (`controller.error()` with none, as
 * `toFetchHandler` errors a body cut after its headers): the server would
 * log a bare `undefined`.
 * @throws always: `reason`, or an Error saying the stream failed without one.
 */
function noReasonError(reason: unknown): never {
  throw reason ?? new Error(`the fetch handler's Response body stream failed without a reason (errored with ${reason}); the response is cut`);
}

/**
 * What a streamed body cancelled by `request.signal` fails with: the
 * signal's reason (on the tsgi server a `ClientDisconnected`, or what the
 * server gave up with), which the gateway takes for the client's leaving or
 * the server's own stop and does not log; a `ClientDisconnected` when it
 * has none.
 */
function cutReason(reason: unknown): unknown {
  return reason ?? new ClientDisconnected();
}

/** A `Content-Length` value the server takes (spec.md "Handling the Content-Length header": 1 to 15 digits). */
const LENGTH_VALUE = /^\d{1,15}$/;

/**
 * A reason phrase (RFC 9112 §4: HTAB, SP, visible ASCII, obs-text 0x80-0xFF), which the Fetch
 * standard requires a `statusText` to be and Bun does not check.
 */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A `Connection` value with the `close` option (RFC 9112 §9.6), in any case, among others. */
const CLOSE_OPTION = /(?:^|,)\s*close\s*(?:,|$)/i;

/** An empty TSGI body, for a `.then()`. */
const EMPTY = (): Body => [];

/** Whether a response with status `code` frames content (RFC 9110 §6.4.1): not 1xx, 204, 205 or 304. */
function framesContent(code: number): boolean {
  return code >= 200 && code !== 204 && code !== 205 && code !== 304;
}

/** The type Bun gives every in-memory body without one of its own: strings, bytes, untyped Blobs. */
const BUN_DEFAULT_TYPE = "text/plain;charset=utf-8";
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The Content-Type a `Response` held in memory carries implicitly (Fetch
 * standard, "extract a body"), from its body's `Blob` type and bytes. Bun
 * does not put it in `response.headers` (`Bun.serve` adds it as it writes
 * the response); a streamed body has none. `Bun.serve` sends
 * `application/octet-stream` for every byte body, whatever it holds, but
 * Bun reports `text/plain;charset=utf-8` for a string and for bytes alike
 * (nothing else tells them apart), so the bytes decide: valid UTF-8 (every
 * string body) keeps it, anything else (an image, gzip) is
 * `application/octet-stream`. Bytes that are valid UTF-8 are thus typed as
 * text where `Bun.serve` says octet-stream (docs/fetch.md, "What differs").
 * `""` when there is none.
 */
function implicitContentType(blobType: string, bytes: Uint8Array): string {
  if (blobType !== BUN_DEFAULT_TYPE) return blobType;
  try {
    utf8.decode(bytes);
    return blobType;
  } catch {
    return "application/octet-stream";
  }
}

/**
 * The error for a fetch handler's result that is not a `Response`. An
 * iterable (an array of bytes, a generator) is what a TSGI application
 * returns: one declared with a single parameter (`(environ) => [...]`,
 * startResponse left out) is taken for a fetch handler by tsgi serve and
 * tsgi-dev, so the message says how to make it one.
 */
function notAResponse(result: unknown): TypeError {
  const what = result === null ? "null" : Array.isArray(result) ? "an array" : typeof result;
  const iterable = typeof result === "object" && result !== null && (Symbol.iterator in result || Symbol.asyncIterator in result);
  if (!iterable) return new TypeError(`the fetch handler returned ${what}, not a Response`);
  return new TypeError(
    `the fetch handler returned ${what}, not a Response: an iterable, as a TSGI application returns? A TSGI application declares both its parameters, (environ, startResponse); tsgi serve and tsgi-dev take a function of one parameter for a fetch handler, (request) => Response`,
  );
}
