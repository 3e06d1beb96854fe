/**
 * TSGI 1.0: the interface between TypeScript web applications and servers.
 *
 * These types are the normative shape of `docs/spec.md`, which translates
 * PEP 3333 (WSGI 1.0.1) to TypeScript. Applications, middleware, servers and
 * tools are written against this module only; it imports nothing at run time.
 *
 * @module
 */

/**
 * The TSGI version tuple carried in `environ["tsgi.version"]`: `[1, 0]`,
 * frozen (a Python tuple is immutable; every request's environ shares this
 * one array, so a write into it throws a TypeError in strict code instead
 * of changing later requests).
 */
export const TSGI_VERSION: readonly [1, 0] = Object.freeze([1, 0] as const);

/**
 * A response header list: `[field-name, field-value]` pairs in the order they
 * are sent. Names and values are strings of latin-1 characters (each char one
 * byte, code point <= 0xFF), as PEP 3333 "Unicode Issues" requires of native
 * strings. Names are RFC 9110 tokens; values hold no control characters
 * but HTAB (no CR, LF or NUL). There is no `Status` field (the status is
 * `startResponse`'s first argument).
 */
export type ResponseHeaders = Array<[name: string, value: string]>;

/**
 * A {@link ResponseHeaders} list as {@link StartResponse} and
 * `setHundredContinueResponseHeaders()` take it: read-only, because the
 * server never modifies the application's list (it copies it when it sends
 * the headers). The application may therefore pass one constant list for
 * every response, and middleware that adds a field passes a new list
 * (`[...headers, ["X-Request-Id", id]]`, a `ResponseHeaders` again) instead
 * of pushing onto the one it was given, which may be such a constant
 * (`headers.push(...)` is a type error). A `ResponseHeaders` is one.
 */
export type ReadonlyResponseHeaders = ReadonlyArray<[name: string, value: string]>;

/**
 * What an application passes as `excInfo` to {@link StartResponse} when it
 * calls it again from an error handler: the caught error value
 * (PEP 3333's `exc_info` triple collapses to the thrown value in TypeScript).
 * `undefined` and `null` mean "no exc_info".
 */
export type ExcInfo = unknown;

/**
 * The legacy imperative output callable returned by {@link StartResponse}
 * (PEP 3333 "The write() Callable"). Writes `data` to the response body
 * immediately, sending the status and headers first if they have not gone
 * out. The returned promise resolves when the bytes were handed to the
 * socket (so awaiting it applies backpressure) and rejects if the client has
 * gone away. `data`'s bytes are taken before `write` returns: the
 * application may refill the same buffer at once, awaited or not (spec.md
 * "The write() callable"). New applications should return a body iterable
 * instead.
 *
 * @throws TypeError when `data` is not a `Uint8Array` (or rejects with it:
 *   an `async` implementation does).
 * @throws Error when called before `startResponse` or after the response
 *   ended (or rejects with it, as for the `TypeError`).
 */
export type WriteCallable = (data: Uint8Array) => Promise<void>;

/**
 * `startResponse(status, headers, excInfo?)` (PEP 3333 "The start_response()
 * Callable").
 *
 * - `status`: `"200 OK"`: a three-digit code from 200 to 599 (a 1xx is
 *   interim, never a final response), a space, a reason phrase (may be
 *   empty).
 * - `headers`: see {@link ResponseHeaders}; the list is not copied until the
 *   headers are sent, so the application may still modify it before its first
 *   non-empty body chunk (PEP 3333 permits servers to rely on that). The
 *   server never modifies it ({@link ReadonlyResponseHeaders}): a constant
 *   list may serve every response, and middleware passes a new list rather
 *   than changing the one it was given.
 * - `excInfo`: set only when called from an error handler. If headers have
 *   not been sent, the new status and headers replace the old ones; if they
 *   have, `excInfo` is rethrown.
 *
 * Headers are sent with the first non-empty body chunk or `write()` call,
 * never before (PEP 3333 "Buffering and Streaming").
 *
 * @returns the {@link WriteCallable}.
 * @throws Error when called a second time without `excInfo`.
 * @throws the `excInfo` value when headers were already sent.
 * @throws TypeError when the status, a field name or a field value is not
 *   well-formed (a code outside 200-599 or no space after it, a control
 *   character other than HTAB such as CR, LF or NUL, a non-token name, a
 *   non-latin-1 character).
 */
export type StartResponse = (
  status: string,
  headers: ReadonlyResponseHeaders,
  excInfo?: ExcInfo,
) => WriteCallable;

/**
 * A response body: a sync or async iterable of byte chunks (arrays and
 * generators included). Chunks must be `Uint8Array`; an empty chunk is
 * allowed and sends nothing. If the body object has a `close()` method, the
 * server calls it exactly once: after the response is sent, on error, or when
 * the client goes away (PEP 3333 "Specification Details").
 *
 * A chunk's bytes are taken before the server asks for the next chunk or
 * calls `return()` or `close()` (an array's, before it runs application code
 * again): a generator may refill one buffer for each chunk it yields
 * (spec.md "The body").
 *
 * An array body has a known length: the server sends `Content-Length` for it
 * when the application did not. So does the tsgi server for its own
 * `tsgi.file_wrapper` result over a `Blob`, returned as it is (the size).
 */
export type Body = (Iterable<Uint8Array> | AsyncIterable<Uint8Array>) & {
  close?(): void | Promise<void>;
};

/**
 * A TSGI application (PEP 3333 "The Application/Framework Side"): called
 * once per request with the request's {@link Environ} and a
 * {@link StartResponse}; returns, or resolves to, the response {@link Body}.
 * It must call `startResponse` before the server receives the first
 * non-empty body chunk (before it returns, or during the iteration step
 * that produces that chunk; empty chunks before it send nothing), and for
 * an empty body before iteration ends.
 */
export type Application = (
  environ: Environ,
  startResponse: StartResponse,
) => Body | Promise<Body>;

/**
 * `environ["tsgi.input"]` (PEP 3333 "Input and Error Streams"): the request
 * body as a byte stream. Reads never go past the end of the body (the
 * `Content-Length`, or the chunked last-chunk); chunked bodies arrive decoded.
 * The first read sends `100 Continue` when the client asked for it (the tsgi
 * server sends none once bytes of the body have arrived: RFC 9110 §10.1.1).
 *
 * Every read resolves to bytes over an `ArrayBuffer` (`Uint8Array<ArrayBuffer>`,
 * as Bun's and the DOM's `bytes()` and `TextEncoder.encode()` type theirs),
 * never a view of a `SharedArrayBuffer`: they go as they are to
 * `crypto.subtle.digest()`, `new Response()` and `new Blob([...])`. An
 * implementation whose bytes are shared memory copies them (`slice()`); one
 * typing its reads `Promise<Uint8Array>` does not satisfy this interface
 * (spec.md "tsgi.input").
 */
export interface InputStream extends AsyncIterable<Uint8Array<ArrayBuffer>> {
  /**
   * Read up to `size` bytes (left out, `undefined` or `null`: all that
   * remain, as Python's `read(None)`). Resolves to fewer bytes only at the
   * end of the body; to an empty array at the end.
   * @throws RangeError when `size` is given (not `undefined` or `null`) and
   *   is not a non-negative integer (`-1`, `1.5`, `"1"`).
   * @throws Error when the body cannot be read: the client disconnected, the
   *   server gave up on the request, or (from the tsgi server, an `HttpError`)
   *   the body timed out (408), was malformed (400) or too large (413). Bytes
   *   received before are still read; the first read that needs more
   *   rejects, and every read after it rejects with the same error. Reads
   *   must not overlap: the tsgi server rejects one started while another
   *   waits for bytes (the first goes on).
   */
  read(size?: number | null): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * Read one line, up to and including `\n`, or at most `size` bytes
   * (`undefined` or `null`: no limit). Resolves to an empty array at the end of the body.
   * @throws as {@link InputStream.read}.
   */
  readline(size?: number | null): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * Read lines until the end of the body, or until the lines read total
   * `hint` bytes or more (`hint` absent, `null` or <= 0: no limit).
   * @throws Error as {@link InputStream.read}.
   */
  readlines(hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]>;
  /** Iterate the body line by line (each line includes its `\n`). */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>>;
  /**
   * Server extension (Python `io`'s `read1()`; the tsgi server has it): read
   * up to `size` bytes (`undefined` or `null`: all that have arrived) as soon as any have,
   * so a body the client sends in small pieces is read as it comes, where
   * `read(size)` waits for `size` bytes. Resolves to an empty array only at
   * the end of the body (or for `size` 0).
   * @throws as {@link InputStream.read}.
   */
  read1?(size?: number | null): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * eventlet extension: headers to send with the `100 Continue` interim
   * response(s). Call before the first read. Framing and hop-by-hop fields
   * are not sent in a 1xx (RFC 9110 §8.6). They go out only with a `100`
   * that is sent: the tsgi server sends none on the first read once bytes
   * of the body have arrived, so then only `sendHundredContinueResponse()`
   * sends them (eventlet sends them on the first read whatever has arrived).
   * @throws TypeError for malformed headers, as `startResponse()` (the tsgi server).
   */
  setHundredContinueResponseHeaders?(headers: ReadonlyResponseHeaders): void;
  /**
   * eventlet extension: send another `100 Continue` interim response now
   * (clients must accept several; RFC 9110 §15.2). Resolves when written.
   */
  sendHundredContinueResponse?(): Promise<void>;
}

/**
 * `environ["tsgi.errors"]` (PEP 3333 "Input and Error Streams"): a text
 * stream into the server's error log.
 */
export interface ErrorStream {
  /** Write text to the error log. */
  write(s: string): void;
  /** Write each string in order (no separators are added). */
  writelines(lines: Iterable<string>): void;
  /** Flush buffered text. */
  flush(): void;
}

/**
 * Something a {@link FileWrapperFactory} can wrap: a `Blob` (a `Bun.file()`
 * included), or a file-like object with `read(size)` returning bytes (empty at
 * the end) and an optional `close()`. The tsgi server's wrapper also takes a
 * Node.js `Readable` (`fs.createReadStream()`, read through its async
 * iterator) and a `node:fs/promises` `FileHandle`.
 */
export type FileLike =
  | Blob
  | {
      read(size: number): Uint8Array | Promise<Uint8Array>;
      close?(): void | Promise<void>;
    }
  | {
      /** A `node:fs/promises` `FileHandle` (`await open(path)`), read with `read(buffer, offset, length, null)`. */
      fd: number;
      read(buffer: Uint8Array, offset: number, length: number, position: null): Promise<{ bytesRead: number; buffer: Uint8Array }>;
      readFile(...args: never[]): unknown;
      close(): Promise<void>;
    };

/**
 * `environ["tsgi.file_wrapper"]` (PEP 3333 "Optional Platform-Specific File
 * Handling"): wraps a file-like object as a response body that reads it in
 * blocks of `blksize` bytes (default 8192). The server may send a wrapped
 * `Blob` with a faster path than iterating it.
 */
export type FileWrapperFactory = (filelike: FileLike, blksize?: number) => Body;

/**
 * eventlet's post hook entry: `[fn, args?, kwargs?]`, called after the
 * response and the body's `close()` as `fn(environ, ...args, kwargs)`,
 * `kwargs` passed only when present; a returned promise is awaited before
 * the next hook, and an error is logged without stopping the others.
 */
export type PostHook = [
  fn: (environ: Environ, ...rest: unknown[]) => unknown,
  args?: unknown[],
  kwargs?: Record<string, unknown>,
];

/**
 * The request environment (PEP 3333 "environ Variables"): a plain object of
 * CGI variables and `tsgi.*` keys. String values are latin-1 strings (one char
 * per byte), as PEP 3333 "native strings".
 */
export interface Environ {
  /** The method as sent, e.g. `"GET"`. Always present. */
  REQUEST_METHOD: string;
  /** The mount point of the application: `""` or a path without trailing slash. */
  SCRIPT_NAME: string;
  /** The rest of the path, percent-decoded (each decoded byte one latin-1 char); may be `""`. */
  PATH_INFO: string;
  /** The part of the request-target after `?`, raw (not decoded); may be `""`. */
  QUERY_STRING: string;
  /** The request's `Content-Type`, when sent. */
  CONTENT_TYPE?: string;
  /** The request's `Content-Length`, when sent. */
  CONTENT_LENGTH?: string;
  /** The server's host name, never empty (the tsgi server: its `serverName` option, else from the bound address; the machine's host name for a wildcard bind or a Unix socket). */
  SERVER_NAME: string;
  /** The server's port, as a string, never empty (the tsgi server: on a Unix socket the scheme's default, `"80"` or `"443"`). */
  SERVER_PORT: string;
  /** `"HTTP/1.0"` or `"HTTP/1.1"`. */
  SERVER_PROTOCOL: string;
  /** The client's address. */
  REMOTE_ADDR?: string;
  /** The client's port, as a string. */
  REMOTE_PORT?: string;
  /** The raw request-target, as sent. */
  REQUEST_URI?: string;
  /** The server's name and version, e.g. `"tsgi/0.1.0"`. */
  SERVER_SOFTWARE?: string;
  /** The CGI revision, `"CGI/1.1"` (RFC 3875 §4.1.4), as the seed servers set it. */
  GATEWAY_INTERFACE?: string;
  /**
   * One key per request field name (`User-Agent` → `HTTP_USER_AGENT`);
   * repeated fields are joined with `", "` (`Cookie` lines with `"; "`).
   * Field names containing `_` are not mapped.
   */
  [httpKey: `HTTP_${string}`]: string | undefined;
  /**
   * `"on"` when the client used HTTPS: the tsgi server over TLS, or
   * `proxyHeaders()` from a trusted proxy's `https`; absent otherwise (CGI's
   * `HTTPS`, which a `CGIHandler` copies from its environment, may be
   * another value, e.g. IIS's `"off"`). `tsgi.url_scheme` says the same.
   */
  HTTPS?: string;
  /**
   * mod_ssl's names for a TLS connection (the tsgi server, as cheroot's SSL
   * adapters): `SSL_PROTOCOL`, `SSL_CIPHER`, `SSL_CLIENT_VERIFY` (`NONE`,
   * `SUCCESS`, `FAILED:<reason>`) and, with a client certificate,
   * `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN`, their `_CN`, `_O`, ... parts,
   * `SSL_CLIENT_M_SERIAL`, `SSL_CLIENT_V_START`, `SSL_CLIENT_V_END` and
   * `SSL_CLIENT_CERT` (PEM). Byte strings (UTF-8 bytes, one latin-1 char
   * each). Absent without TLS, or when Bun cannot give the value.
   */
  [sslKey: `SSL_${string}`]: string | undefined;
  /** `[1, 0]`. */
  "tsgi.version": readonly [number, number];
  /** `"http"` or `"https"`. */
  "tsgi.url_scheme": string;
  /** The request body. */
  "tsgi.input": InputStream;
  /** The error log. */
  "tsgi.errors": ErrorStream;
  /** `true` if another thread may run the application concurrently in the same process (shared memory); `false` on one event loop. */
  "tsgi.multithread": boolean;
  /** `true` if another process may run the application concurrently. */
  "tsgi.multiprocess": boolean;
  /** `true` if the application runs once in this process (CGI). */
  "tsgi.run_once": boolean;
  /** `true`: the server terminates `tsgi.input` at the end of the body, so reading to the end is safe. */
  "tsgi.input_terminated"?: boolean;
  /** See {@link FileWrapperFactory}. */
  "tsgi.file_wrapper"?: FileWrapperFactory;
  /** eventlet extension: hooks run after the response was sent or the client left. */
  "tsgi.posthooks"?: PostHook[];
  /**
   * Server extension: aborted when the client goes away (closes or resets
   * the connection, or sends its FIN) before the response is complete, or
   * the server gives up on the request (a timeout, a shutdown); its
   * `reason` says which (`ClientDisconnected` for the client). As
   * `Bun.serve` aborts `request.signal`.
   */
  "tsgi.signal"?: AbortSignal;
  /**
   * eventlet extension (eventlet's `headers_raw`): the request's field lines
   * as received, flat `[name, value, name, value, ...]` as Node's
   * `IncomingMessage.rawHeaders`: names in the client's case, in the
   * client's order, repeated fields on lines of their own, names holding
   * `_` included (the `HTTP_*` keys drop those), values latin-1 without
   * their outer whitespace. Read it, do not change it. Through the fetch
   * bridge it is what the runtime's `Headers` give (lower-case names,
   * repeats combined).
   */
  "tsgi.headers_raw"?: readonly string[];
  /** eventlet extension: per-request override of the server's `minimumChunkSize` (bytes). */
  "tsgi.minimum_write_chunk_size"?: number;
  /**
   * Set by `proxyHeaders()` (`tsgi serve --proxy-headers`) when it took
   * `REMOTE_ADDR` from a trusted proxy's forwarding fields: the peer's own
   * `REMOTE_ADDR` (`""` over a Unix socket), which it replaced (werkzeug
   * `ProxyFix` keeps it in `werkzeug.proxy_fix.orig`). Absent otherwise.
   */
  "tsgi.proxy_peer"?: string;
  /** With `tsgi.proxy_peer`: the peer's own `REMOTE_PORT` (`""` over a Unix socket). */
  "tsgi.proxy_peer_port"?: string;
  /** Server- or middleware-defined keys. */
  [key: string]: unknown;
}
