/**
 * The TSGI server: `serve(app, options)` / `createServer(app, options)`.
 * @module
 */
export { createServer, serve, TsgiServer } from "./server.ts";
export type { CloseOptions, Server } from "./server.ts";
export { CUT_REQUEST_CLEANUP_MS } from "./connection.ts";
export { keepSignalMark, WANTS_SIGNAL } from "../gateway/signal.ts";
export { DEFAULT_SERVER_OPTIONS, resolveOptions } from "./options.ts";
export type { AccessLogFields, LogTarget, ResolvedOptions, ServerOptions } from "./options.ts";
export { DEFAULT_LOG_FORMAT, compileLogFormat, LoggingLogAdapter } from "./log.ts";
export type { LoggerLevel } from "./log.ts";
export { RequestHandler } from "./handler.ts";
export type { HandlerServer, RequestHandlerClass } from "./handler.ts";
export type { ErrorResponse } from "../gateway/run.ts";
export { ClientDisconnected } from "../gateway/client-disconnected.ts";
export { DEFAULT_FORWARDED_ALLOW_IPS, proxyHeaders } from "./proxy.ts";
// What `tsgi serve --certfile --keyfile --ca-certs` builds the `tls` option with, for a program that serves TLS itself.
export { KEY_ENCRYPTED, loadTls } from "./tls.ts";
export type { TlsConfig, TlsFiles } from "./tls.ts";
export type { ForwardedHeader, ProxyHeadersOptions } from "./proxy.ts";
