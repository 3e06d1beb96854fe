/**
 * Bridges between TSGI and the fetch API, both ways.
 *
 * - {@link toFetchHandler}: a TSGI application as a `(Request) => Promise<Response>`
 *   handler, for `Bun.serve`, Deno, Node (through an adapter), edge runtimes
 *   and service workers. The environ is built by the server's own
 *   `buildEnviron`, the response driven by the server's own gateway, so an
 *   application behaves the same under both.
 * - {@link fromFetchHandler}: any fetch-style handler (Hono, Elysia,
 *   itty-router, a plain function) as a TSGI application, for `tsgi` and
 *   `tsgi-dev`.
 * - {@link asApplication}: what an app loader calls on a module's export to
 *   accept TSGI applications and fetch handlers alike.
 *
 * Both directions stream: request bodies are pulled as the application reads
 * them, response bodies are pushed as the application produces them, with
 * backpressure.
 * @module
 */
export type { FetchHandler } from "./common.ts";
export { toFetchHandler, type ToFetchOptions } from "./to-fetch.ts";
export { environHeaders, environUrl, fromFetchHandler, type FetchApp, type FetchServer, type FromFetchOptions } from "./from-fetch.ts";
export { asApplication, describeExport, detectApplication, type ApplicationKind } from "./detect.ts";
