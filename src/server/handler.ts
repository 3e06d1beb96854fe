/**
 * Request handler hooks: the part of gevent's `WSGIHandler` and wsgiref's
 * `WSGIRequestHandler` that applications customise. Pass a subclass as the
 * `handlerClass` server option; one instance is made per client connection.
 * @module
 */
import type { Environ, ErrorStream } from "../spec.ts";

/** What a handler can see of its server. */
export interface HandlerServer {
  /** The server's `tsgi.errors` stream (its error log). */
  readonly errors: ErrorStream;
  /** The bound host and port. */
  readonly hostname: string;
  readonly port: number;
}

/**
 * The default handler: passes the environ through and uses the server's
 * error log. Override {@link getEnviron} and {@link getStderr} in a subclass.
 *
 * ```ts
 * class Tagging extends RequestHandler {
 *   override getEnviron(environ: Environ) {
 *     environ["app.client"] = `${this.clientAddress}:${this.clientPort}`;
 *     return environ;
 *   }
 * }
 * serve(app, { handlerClass: Tagging });
 * ```
 */
export class RequestHandler {
  /**
   * @param server the server that accepted the connection.
   * @param clientAddress the client's IP address (`""` when unknown).
   * @param clientPort the client's port (0 when unknown).
   */
  constructor(
    readonly server: HandlerServer,
    readonly clientAddress: string,
    readonly clientPort: number,
  ) {}

  /**
   * The environ for one request (wsgiref `get_environ()`, gevent
   * `get_environ()`). `environ` is what the server built from the request;
   * return it (changed or not) or a new object. Called once per request.
   */
  getEnviron(environ: Environ): Environ {
    return environ;
  }

  /** The `tsgi.errors` stream for this connection's requests (wsgiref `get_stderr()`). Default: the server's error log. */
  getStderr(): ErrorStream {
    return this.server.errors;
  }
}

/** A {@link RequestHandler} subclass constructor. */
export type RequestHandlerClass = new (server: HandlerServer, clientAddress: string, clientPort: number) => RequestHandler;
