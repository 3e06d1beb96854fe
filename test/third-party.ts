/**
 * A third party's TSGI 1.0 server and middleware, written from docs/spec.md
 * and src/spec.ts alone (no tsgi server, gateway or toolkit code), so the
 * project's conformance tools can be pointed at an implementation that is
 * not its own: `spec-third-party.test.ts` runs `validator()` around apps on
 * this server, the toolkit's apps on it, and these middlewares on tsgi's
 * server.
 *
 * - `thirdPartyServe(app)`: a TSGI server on `Bun.serve`, a host that
 *   answers `Expect: 100-continue` itself (spec.md "HTTP/1.1
 *   Expect/Continue": such a gateway's 100-continue methods send nothing).
 * - `limitInput(app, max)`: replaces `tsgi.input` with one that ends after
 *   `max` bytes (a size-limiting wrapper; spec.md "Server extension APIs").
 * - `gzipBody(app)`: wraps `startResponse`, `write()` and the body to gzip
 *   the response (spec.md "Middleware handling of block boundaries").
 * - `timing(app)`: wraps `startResponse` to add a header, and the body to
 *   pass `close()` on.
 */
import { constants, createGzip, type Gzip } from "node:zlib";

/** `readlines(hint)` as spec.md "tsgi.input" has it, by `readline()` calls on `input`: lines until the end, or until `hint` bytes (when above 0). */
async function readlinesVia(input: { readline(): Promise<Uint8Array<ArrayBuffer>> }, hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
  const lines: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for (let line = await input.readline(); line.length > 0; line = await input.readline()) {
    lines.push(line);
    total += line.length;
    if (hint != null && hint > 0 && total >= hint) break;
  }
  return lines;
}
import type {
  Application, Body, Environ, ErrorStream, InputStream, ReadonlyResponseHeaders, StartResponse, WriteCallable,
} from "../src/spec.ts";

const typeName = (v: unknown): string =>
  v === null ? "null" : typeof v === "object" ? (v as object).constructor?.name ?? "Object" : typeof v;

/** Percent-decode a path into a latin-1 string, keeping malformed escapes as they are. */
function decodePath(path: string): string {
  // A Request's URL holds ASCII only (anything else is percent-encoded).
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** A read size as spec.md has it: `undefined` for none given (left out, `undefined` or `null`), else a non-negative integer (a RangeError otherwise). */
function checkSize(size: number | null | undefined): number | undefined {
  if (size === undefined || size === null) return undefined;
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  return size;
}

/** tsgi.input over a ReadableStream<Uint8Array> (the request's body), terminated at its end. */
export class StreamBodyInput implements InputStream {
  private buf = new Uint8Array(0);
  private done = false;
  private failed: unknown = undefined;
  private reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> } | null;
  constructor(stream: ReadableStream<Uint8Array> | null) {
    this.reader = stream ? stream.getReader() : null;
    if (!this.reader) this.done = true;
  }
  /** Pull one more piece into the buffer; false at the end. */
  private async fill(): Promise<boolean> {
    if (this.failed !== undefined) throw this.failed;
    if (this.done) return false;
    try {
      const { done, value } = await this.reader!.read();
      if (done || !value) {
        this.done = true;
        return false;
      }
      const next = new Uint8Array(this.buf.length + value.length);
      next.set(this.buf);
      next.set(value, this.buf.length);
      this.buf = next;
      return true;
    } catch (err) {
      this.failed = err instanceof Error ? err : new Error(String(err));
      throw this.failed;
    }
  }
  private take(n: number): Uint8Array<ArrayBuffer> {
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async read(given?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const size = checkSize(given);
    if (this.failed !== undefined) throw this.failed;
    while ((size === undefined || this.buf.length < size) && (await this.fill()));
    return this.take(size === undefined ? this.buf.length : Math.min(size, this.buf.length));
  }
  async readline(given?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    const size = checkSize(given);
    if (this.failed !== undefined) throw this.failed;
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl !== -1 && (size === undefined || nl < size)) return this.take(nl + 1);
      if (size !== undefined && this.buf.length >= size) return this.take(size);
      if (!(await this.fill())) return this.take(this.buf.length);
    }
  }
  readlines(hint?: number | null): Promise<Uint8Array<ArrayBuffer>[]> {
    return readlinesVia(this, hint);
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    for (let line = await this.readline(); line.length > 0; line = await this.readline()) yield line;
  }
  /** Bun.serve has answered 100 Continue already: nothing to send (spec.md). */
  setHundredContinueResponseHeaders(_headers: ReadonlyResponseHeaders): void {}
  async sendHundredContinueResponse(): Promise<void> {}
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD = /[^\t\x20-\x7e\x80-\xff]/;
/** Hop-by-hop fields (spec.md "Fields the server adds or controls"). */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade"]);

export interface ThirdPartyServer {
  url: string;
  port: number;
  errors: string[];
  stop(): Promise<void>;
}

/**
 * Serve `app` on 127.0.0.1 with Bun.serve, following docs/spec.md's server
 * side: deferred headers, close() once, excInfo, Content-Length rules, HEAD,
 * 204/304, hop-by-hop removal, error handling.
 */
export function thirdPartyServe(app: Application, options: { environ?: Record<string, unknown> } = {}): ThirdPartyServer {
  const errors: string[] = [];
  const errorStream: ErrorStream = {
    write: (s) => void errors.push(s),
    writelines: (lines) => { for (const s of lines) errors.push(s); },
    flush: () => {},
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, srv) {
      const url = new URL(request.url);
      const environ: Environ = {
        ...options.environ,
        REQUEST_METHOD: request.method,
        SCRIPT_NAME: "",
        PATH_INFO: decodePath(url.pathname),
        QUERY_STRING: url.search.slice(1),
        SERVER_NAME: "127.0.0.1",
        SERVER_PORT: String(srv.port),
        SERVER_PROTOCOL: "HTTP/1.1",
        REMOTE_ADDR: srv.requestIP(request)?.address ?? "",
        "tsgi.version": [1, 0],
        "tsgi.url_scheme": "http",
        "tsgi.input": new StreamBodyInput(request.body),
        "tsgi.errors": errorStream,
        "tsgi.multithread": false,
        "tsgi.multiprocess": false,
        "tsgi.run_once": false,
        "tsgi.input_terminated": true,
      };
      for (const [name, value] of request.headers) {
        if (name.includes("_")) continue;
        const v = Buffer.from(value, "utf8").toString("latin1");
        if (name === "content-type") environ.CONTENT_TYPE = v;
        else if (name === "content-length") environ.CONTENT_LENGTH = v;
        else environ[`HTTP_${name.toUpperCase().replace(/-/g, "_")}`] = v;
      }
      return runApp(app, environ, request.method === "HEAD", (e) => errorStream.write(e));
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    errors,
    stop: () => server.stop(true),
  };
}

/** Run one request; resolves to the Response once the header section exists (first non-empty chunk, write(), or end). */
function runApp(app: Application, environ: Environ, head: boolean, log: (s: string) => void): Promise<Response> {
  let recorded = null as [string, ReadonlyResponseHeaders] | null;
  let sent = false;
  let over = false;
  let respond!: (r: Response) => void;
  const response = new Promise<Response>((r) => (respond = r));
  // The body stream: each enqueue waits for the consumer (backpressure).
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pulled: (() => void) | null = null;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => { pulled?.(); pulled = null; },
    cancel: () => { cancelled = true; pulled?.(); pulled = null; },
  }, { highWaterMark: 0 });
  let declared: number | null = null;
  let written = 0;

  const sendHead = () => {
    sent = true;
    const [status, headers] = recorded!;
    const code = Number(status.slice(0, 3));
    const out = new Headers();
    for (const [name, value] of headers) {
      if (!TOKEN.test(name) || BAD.test(value)) throw new TypeError(`bad header ${JSON.stringify(name)}`);
      if (HOP.has(name.toLowerCase())) continue;
      out.append(name, value);
    }
    const cl = out.get("content-length");
    if (cl !== null) declared = Number(cl);
    const noBody = head || code === 204 || code === 304;
    respond(new Response(noBody ? null : stream, { status: code, statusText: status.slice(4), headers: out }));
  };
  const push = async (data: Uint8Array) => {
    if (cancelled) throw new Error("client went away");
    if (declared !== null && written + data.length > declared) {
      data = data.subarray(0, Math.max(0, declared - written));
      log("body longer than Content-Length\n");
    }
    if (data.length === 0) return;
    written += data.length;
    const wait = new Promise<void>((r) => (pulled = r));
    controller.enqueue(data);
    await wait;
  };

  const writeNow = async (data: Uint8Array): Promise<void> => {
    if (!(data instanceof Uint8Array)) throw new TypeError(`body chunk must be a Uint8Array, got ${typeName(data)}`);
    if (over) throw new Error("write() after the response ended");
    if (recorded === null) throw new Error("write() before startResponse()");
    if (!sent) sendHead();
    await push(data);
  };
  // spec.md: a rejection is marked handled, so a write() called as a statement cannot end the process.
  const write: WriteCallable = (data) => {
    const p = writeNow(data);
    p.catch(() => {});
    return p;
  };
  const startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      if (sent) throw excInfo;
    } else if (recorded !== null) {
      throw new Error("startResponse() called a second time without excInfo");
    }
    if (!/^[2-5]\d\d /.test(status) || BAD.test(status)) throw new TypeError(`bad status ${JSON.stringify(status)}`);
    for (const [name, value] of headers) {
      if (!TOKEN.test(name) || BAD.test(value)) throw new TypeError(`bad header ${JSON.stringify(name)}`);
    }
    recorded = [status, headers];
    return write;
  };

  (async () => {
    let body: Body | undefined;
    try {
      body = await app(environ, startResponse);
      if (Array.isArray(body) && recorded !== null && !sent) {
        // An array body: compute Content-Length when the application did not.
        const [status, headers] = recorded;
        if (!headers.some(([n]) => n.toLowerCase() === "content-length")) {
          const total = (body as Uint8Array[]).reduce((n, c) => n + (c instanceof Uint8Array ? c.length : 0), 0);
          const code = Number(status.slice(0, 3));
          if (code !== 204 && code !== 304 && !(head && total === 0)) recorded = [status, [...headers, ["Content-Length", String(total)]]];
        }
      }
      for await (const chunk of body) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError(`body chunk must be a Uint8Array, got ${typeName(chunk)}`);
        if (chunk.length === 0) continue;
        if (recorded === null) throw new Error("a body chunk before startResponse()");
        if (!sent) sendHead();
        if (head) break;
        await push(chunk);
        if (declared !== null && written >= declared) break;
      }
      if (recorded === null) throw new Error("the application returned a body without calling startResponse()");
      if (!sent) sendHead();
      if (declared !== null && written < declared && !head) throw new Error("body shorter than Content-Length");
      over = true;
      controller.close();
    } catch (err) {
      over = true;
      if (!cancelled) log(`${err instanceof Error ? err.stack : String(err)}\n`);
      if (!sent) {
        sent = true;
        respond(new Response("Internal Server Error\n", { status: 500, headers: { "Content-Type": "text/plain" } }));
      } else {
        controller.error(err); // cut the response short
      }
    } finally {
      over = true;
      try {
        await body?.close?.();
      } catch (err) {
        log(`close() failed: ${String(err)}\n`);
      }
    }
  })();
  return response;
}

/**
 * Middleware: `tsgi.input` ends after `max` bytes (a size-limiting input).
 * The replacement offers read, readline, readlines, iteration, and read1
 * through itself; the 100-continue methods are passed on.
 */
export function limitInput(app: Application, max: number): Application {
  return (environ, startResponse) => {
    const inner = environ["tsgi.input"];
    let left = max;
    const cut = (b: Uint8Array<ArrayBuffer>) => {
      const out = b.subarray(0, left);
      left -= out.length;
      return out;
    };
    const replacement: InputStream = {
      read: async (size) => {
        const n = checkSize(size);
        if (left === 0) return new Uint8Array(0);
        return cut(await inner.read(n === undefined ? left : Math.min(n, left)));
      },
      readline: async (size) => {
        const n = checkSize(size);
        if (left === 0) return new Uint8Array(0);
        return cut(await inner.readline(n === undefined ? left : Math.min(n, left)));
      },
      readlines(hint) {
        return readlinesVia(this, hint);
      },
      async *[Symbol.asyncIterator]() {
        for (let line = await replacement.readline(); line.length > 0; line = await replacement.readline()) yield line;
      },
      setHundredContinueResponseHeaders: inner.setHundredContinueResponseHeaders?.bind(inner),
      sendHundredContinueResponse: inner.sendHundredContinueResponse?.bind(inner),
    };
    if (inner.read1) {
      replacement.read1 = async (size) => {
        const n = checkSize(size);
        if (left === 0) return new Uint8Array(0);
        return cut(await inner.read1!(n === undefined ? left : Math.min(n, left)));
      };
    }
    // An absent 100-continue method stays absent rather than undefined.
    if (!replacement.setHundredContinueResponseHeaders) delete replacement.setHundredContinueResponseHeaders;
    if (!replacement.sendHundredContinueResponse) delete replacement.sendHundredContinueResponse;
    environ["tsgi.input"] = replacement;
    return app(environ, startResponse);
  };
}

/** Run a gzip stream synchronously enough: push bytes in, collect what comes out after a flush. */
class GzipTransform {
  private out: Buffer[] = [];
  private gz: Gzip = createGzip();
  constructor() {
    this.gz.on("data", (b: Buffer) => this.out.push(b));
  }
  private drain(): Uint8Array {
    const b = Buffer.concat(this.out);
    this.out = [];
    return new Uint8Array(b);
  }
  push(chunk: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.gz.write(chunk);
      this.gz.flush(constants.Z_SYNC_FLUSH, () => resolve(this.drain()));
    });
  }
  end(): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.gz.once("end", () => resolve(this.drain()));
      this.gz.end();
    });
  }
}

/** Middleware: gzip the response when the client accepts it (removes Content-Length, wraps write()). */
export function gzipBody(app: Application): Application {
  return async (environ, startResponse) => {
    if (!/\bgzip\b/.test(environ.HTTP_ACCEPT_ENCODING ?? "")) return app(environ, startResponse);
    let gz: GzipTransform | null = null;
    let serverWrite: WriteCallable | null = null;
    const wrapped: StartResponse = (status, headers, excInfo) => {
      const code = Number(status.slice(0, 3));
      const encode = code !== 204 && code !== 304 && !headers.some(([n]) => n.toLowerCase() === "content-encoding");
      gz = encode ? (gz ?? new GzipTransform()) : null;
      const out = encode
        ? [...headers.filter(([n]) => n.toLowerCase() !== "content-length"), ["Content-Encoding", "gzip"] as [string, string], ["Vary", "Accept-Encoding"] as [string, string]]
        : headers;
      serverWrite = startResponse(status, out, excInfo);
      return async (data) => {
        if (!(data instanceof Uint8Array)) throw new TypeError(`write() needs a Uint8Array, got ${typeName(data)}`);
        await serverWrite!(gz ? await gz.push(data) : data);
      };
    };
    const inner = await app(environ, wrapped);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner) yield gz ? await gz.push(chunk) : chunk;
        if (gz) yield await gz.end();
      },
      close: () => inner.close?.(),
    };
  };
}

/** Middleware: an X-Elapsed header (ms until startResponse) and a log line at close(). */
export function timing(app: Application): Application {
  return async (environ, startResponse) => {
    const t0 = performance.now();
    const inner = await app(environ, (status, headers, excInfo) =>
      startResponse(status, [...headers, ["X-Elapsed", (performance.now() - t0).toFixed(1)]], excInfo));
    let closed = false;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner) yield chunk;
      },
      async close() {
        if (closed) return;
        closed = true;
        try {
          await inner.close?.();
        } finally {
          environ["tsgi.errors"].write(`timing: ${(performance.now() - t0).toFixed(1)} ms\n`);
        }
      },
    };
  };
}
