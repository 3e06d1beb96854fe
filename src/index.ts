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
export type { AccessLogFields, LogTarget, Server, ServerOptions } from "./server/index.ts";
export { VERSION } from "./version.ts";
