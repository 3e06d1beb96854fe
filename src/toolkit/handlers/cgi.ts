/**
 * wsgiref's `CGIHandler` and `IISCGIHandler`: a TSGI application run as a
 * CGI script, over the process's stdin, stdout, stderr and environment.
 * @module
 */
import type { InputStream } from "../../spec.ts";
import { StderrErrorStream, StreamInput } from "../streams.ts";
import type { OutputStream } from "./base.ts";
import { readEnviron } from "./environ.ts";
import { BaseCGIHandler } from "./simple.ts";

/** Output to the process's stdout, each write awaited until handed to the OS. */
function processStdout(): OutputStream {
  return {
    write: (data: Uint8Array) =>
      new Promise<void>((resolve, reject) => {
        process.stdout.write(data, (err?: Error | null) => (err ? reject(err) : resolve()));
      }),
  };
}

/**
 * `tsgi.input` over the process's stdin, limited to `CONTENT_LENGTH` bytes
 * (0 when absent or invalid: CGI sends no body then), created on first use.
 */
function processStdin(contentLength: string | undefined): InputStream {
  const n = contentLength && /^\d+$/.test(contentLength) ? Number(contentLength) : 0;
  let real: StreamInput | null = null;
  const get = (): StreamInput => (real ??= new StreamInput(Bun.stdin.stream(), n));
  return {
    read: (size?: number | null) => get().read(size),
    read1: (size?: number | null) => get().read1(size),
    readline: (size?: number | null) => get().readline(size),
    readlines: (hint?: number | null) => get().readlines(hint),
    [Symbol.asyncIterator]: () => get()[Symbol.asyncIterator](),
  };
}

/** {@link readEnviron} with `PATH_INFO` `""` when the web server left it out (RFC 3875 §4.1.5 allows that; the environ requires the key). */
function cgiEnviron(): Record<string, string> {
  const env = readEnviron();
  env["PATH_INFO"] ??= "";
  return env;
}

/**
 * Remove `HTTP_PROXY` from the process environment ("httpoxy",
 * CVE-2016-5385): under CGI it is the client's `Proxy:` request header,
 * which a web server that does not drop it (nginx with fcgiwrap, say) puts
 * there, and Bun's `fetch()` takes it as the proxy for every `http:` request
 * the app makes, handing them and their credentials to the client's server.
 * Go and Python ignore `HTTP_PROXY` under CGI for this reason; Bun does not.
 * The lower-case `http_proxy`, which no request can set, still configures a
 * proxy; the environ keeps `HTTP_PROXY` as the request's field.
 */
function dropRequestProxy(): void {
  delete process.env["HTTP_PROXY"];
}

/**
 * Run a TSGI application as a CGI script (wsgiref `CGIHandler`): the
 * environ comes from `readEnviron()` of the process environment, the
 * body from stdin (at most `CONTENT_LENGTH` bytes, read on demand), output
 * to stdout with a `Status:` header, errors to stderr. `PATH_INFO` is `""`
 * when the web server sent none. `HTTP_PROXY` (the client's `Proxy:`
 * field under CGI) is removed from `process.env`, so `fetch()` does not
 * take it as its proxy; the environ keeps it; `http_proxy` still sets one.
 * `tsgi.run_once` and
 * `tsgi.input_terminated` are `true`, `tsgi.multithread` `false`,
 * `tsgi.multiprocess` `true`;
 * `osEnviron` is `{}`. Takes no arguments; use
 * {@link BaseCGIHandler} to choose streams or flags.
 *
 * @example
 * #!/usr/bin/env bun
 * await new CGIHandler().run(app);
 */
export class CGIHandler extends BaseCGIHandler {
  override tsgiRunOnce = true;
  override inputTerminated = true;
  override osEnviron: Readonly<Record<string, string>> = {};

  constructor() {
    const env = cgiEnviron();
    dropRequestProxy();
    super(processStdin(env["CONTENT_LENGTH"]), processStdout(), new StderrErrorStream(), env, {
      multithread: false,
      multiprocess: true,
    });
  }
}

/**
 * Strip the `SCRIPT_NAME` that IIS repeats at the front of `PATH_INFO`
 * (wsgiref `IISCGIHandler.__init__`): when `PATH_INFO + "/"` starts with
 * `SCRIPT_NAME + "/"`, `PATH_INFO` loses that prefix. In place; returns `environ`.
 */
export function fixIisPathInfo<T extends { PATH_INFO?: string; SCRIPT_NAME?: string }>(environ: T): T {
  const path = environ.PATH_INFO ?? "";
  const script = environ.SCRIPT_NAME ?? "";
  if ((path + "/").startsWith(script + "/")) environ.PATH_INFO = path.slice(script.length);
  return environ;
}

/**
 * {@link CGIHandler} for Microsoft IIS without `allowPathInfo` (wsgiref
 * `IISCGIHandler`): IIS gives a `PATH_INFO` that repeats `SCRIPT_NAME` at
 * the front; this handler removes it (see {@link fixIisPathInfo}). Use it
 * like `CGIHandler`: `await new IISCGIHandler().run(app)`.
 */
export class IISCGIHandler extends CGIHandler {
  constructor() {
    super();
    fixIisPathInfo(this.baseEnv as { PATH_INFO?: string; SCRIPT_NAME?: string });
  }
}
