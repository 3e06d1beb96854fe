/**
 * The server (gevent's `WSGIServer` role). CONTRACT STUB: implementation in progress.
 * @module
 */
import type { Application } from "../spec.ts";
import type { ServerOptions } from "./options.ts";

/** A listening (or not yet listening) TSGI server. */
export interface Server {
  /** The bound host (after `listen()`). */
  readonly hostname: string;
  /** The bound port (after `listen()`; the real one when 0 was asked). */
  readonly port: number;
  /** `http://host:port/`. */
  readonly url: string;
  /** The application; assigning swaps it for requests that start afterwards (in-flight ones finish on the old one). */
  app: Application;
  /** Open client connections. */
  readonly connections: number;
  /** Bind and start accepting. @throws Error with `code` EADDRINUSE / EACCES when the port cannot be bound. */
  listen(): this;
  /** Stop accepting, let in-flight requests finish within `timeout` ms (default `shutdownTimeout`), then close all connections. */
  close(options?: { timeout?: number }): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Create a server for `app` without binding. */
export declare function createServer(app: Application, options?: ServerOptions): Server;
/** Create a server for `app` and bind it. */
export declare function serve(app: Application, options?: ServerOptions): Server;
