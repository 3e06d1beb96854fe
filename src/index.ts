/**
 * tsgi: TSGI 1.0 (PEP 3333 for TypeScript), its server and its toolkit.
 *
 * ```ts
 * import { serve, type Application } from "tsgi";
 * const app: Application = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [new TextEncoder().encode("Hello, world!\n")];
 * };
 * serve(app, { port: 8000 });
 * ```
 * @module
 */
export * from "./spec.ts";
export { createServer, serve, TsgiServer, DEFAULT_SERVER_OPTIONS } from "./server/index.ts";
export type { AccessLogFields, CloseOptions, LogTarget, Server, ServerOptions } from "./server/index.ts";
export { VERSION } from "./version.ts";
export { LoggingLogAdapter, RequestHandler } from "./server/index.ts";
export type { ErrorResponse, HandlerServer, LoggerLevel, RequestHandlerClass } from "./server/index.ts";
// What the tsgi server's `tsgi.input` reads and `write()` reject with, for `instanceof` checks.
export { ClientDisconnected, keepSignalMark, WANTS_SIGNAL } from "./server/index.ts";
// Behind a reverse proxy: what `tsgi serve --proxy-headers` wraps the app in.
export { proxyHeaders } from "./server/index.ts";
export type { ProxyHeadersOptions } from "./server/index.ts";
export { HttpError } from "./http/index.ts";

// The toolkit (each module is also a subpath export: "tsgi/util", "tsgi/validate", ...).
// `Headers` (wsgiref.headers) and the gevent `Environ` class are only exported from their
// subpaths, so they never shadow the global `Headers` or the `Environ` type here.
export {
  applicationUri,
  FileWrapper,
  fileWrapper,
  guessScheme,
  isHopByHop,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo,
} from "./toolkit/util.ts";
export { PathInfoDispatcher, pathInfoDispatcher } from "./toolkit/dispatch.ts";
export { TsgiConformanceError, validator } from "./toolkit/validate.ts";
export { SecureEnviron, TsgiSecureEnviron } from "./toolkit/secure-environ.ts";
export { demoApp, makeServer } from "./toolkit/simple-server.ts";
export { CGIHandler } from "./toolkit/handlers/index.ts";
export { fromFetchHandler, toFetchHandler } from "./fetch/index.ts";
