/**
 * wsgiref's `SimpleHandler` and `BaseCGIHandler`: handlers over given
 * streams and environ.
 * @module
 */
import { consola } from "consola";
import type { ErrorStream, InputStream } from "../../spec.ts";
import { BaseHandler, type OutputStream } from "./base.ts";

/** Options of {@link SimpleHandler} and {@link BaseCGIHandler}. */
export interface SimpleHandlerOptions {
  /** `tsgi.multithread`. Default `true`. */
  multithread?: boolean | undefined;
  /** `tsgi.multiprocess`. Default `false`. */
  multiprocess?: boolean | undefined;
}

/**
 * A handler over given streams and environ, for HTTP origin servers
 * (wsgiref `SimpleHandler(stdin, stdout, stderr, environ,
 * multithread=True, multiprocess=False)`). Output goes to `stdout` with a
 * status line (see {@link BaseHandler.originServer}). Works entirely in
 * memory, which makes it handy for tests.
 *
 * @example
 * const out: Uint8Array[] = [];
 * const h = new SimpleHandler(new BytesInput(), { write: (d) => out.push(d) }, new MemoryErrorStream(),
 *   { REQUEST_METHOD: "GET", SERVER_PROTOCOL: "HTTP/1.1", PATH_INFO: "/" });
 * await h.run(app);
 */
export class SimpleHandler extends BaseHandler {
  /** The request body stream (`tsgi.input`). */
  stdin: InputStream;
  /** Where the response goes. */
  stdout: OutputStream;
  /** The error stream (`tsgi.errors`). */
  stderr: ErrorStream;
  /** The request's CGI variables, added by {@link addCgiVars} (wsgiref `base_env`). */
  baseEnv: Record<string, unknown>;

  /**
   * @param stdin `tsgi.input`.
   * @param stdout output; `write()` should write each chunk in full.
   * @param stderr `tsgi.errors` and the error log.
   * @param environ the request's CGI variables.
   * @param options `multithread` (default `true`), `multiprocess` (default `false`).
   */
  constructor(
    stdin: InputStream,
    stdout: OutputStream,
    stderr: ErrorStream,
    environ: Record<string, unknown>,
    options: SimpleHandlerOptions = {},
  ) {
    super();
    this.stdin = stdin;
    this.stdout = stdout;
    this.stderr = stderr;
    this.baseEnv = environ;
    this.tsgiMultithread = options.multithread ?? true;
    this.tsgiMultiprocess = options.multiprocess ?? false;
  }

  /** Returns {@link stdin}. */
  getStdin(): InputStream {
    return this.stdin;
  }

  /** Returns {@link stderr}. */
  getStderr(): ErrorStream {
    return this.stderr;
  }

  /** Copies {@link baseEnv} into the environ. */
  addCgiVars(): void {
    Object.assign(this.environ!, this.baseEnv);
  }

  /**
   * Write `data` to {@link stdout}, awaiting a returned Promise. If `write()`
   * returns a byte count smaller than `data.length`, the rest is written
   * again (with a one-time warning: partial writes are deprecated, as in wsgiref).
   * @throws Error when `write()` reports 0 bytes written for non-empty data.
   */
  async _write(data: Uint8Array): Promise<void> {
    let rest = data;
    for (;;) {
      const n = await this.stdout.write(rest);
      if (typeof n !== "number" || n >= rest.length) return;
      if (n <= 0) throw new Error("SimpleHandler: stdout.write() wrote nothing");
      consola.warn("SimpleHandler.stdout.write() should not do partial writes");
      rest = rest.subarray(n);
    }
  }

  /** Calls `stdout.flush()` when present. */
  async _flush(): Promise<void> {
    await this.stdout.flush?.();
  }
}

/**
 * A handler for CGI-like gateways over given streams and environ (wsgiref
 * `BaseCGIHandler`): like {@link SimpleHandler} but not an origin server,
 * so the status goes out as a `Status:` header. Use it for FastCGI/SCGI-like
 * protocols, or to test CGI output in memory.
 */
export class BaseCGIHandler extends SimpleHandler {
  override originServer = false;
}
