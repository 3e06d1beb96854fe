/**
 * Server/gateway base classes: a port of Python's `wsgiref.handlers`
 * (see `docs/toolkit/handlers.md`). The main use is running a TSGI
 * application as a CGI script:
 *
 * ```ts
 * #!/usr/bin/env bun
 * import { CGIHandler } from "tsgi/handlers";
 * await new CGIHandler().run(app);
 * ```
 *
 * Everything is asynchronous where wsgiref blocks: `run()`, `write()`,
 * `_write()`, `_flush()`, `finishResponse()`, `close()` and friends return
 * Promises (a subclass may implement them synchronously).
 *
 * @module
 */
export { readEnviron } from "./environ.ts";
export { BaseHandler, formatDateTime, formatException, type HeadersClass, type OutputStream } from "./base.ts";
export { BaseCGIHandler, SimpleHandler, type SimpleHandlerOptions } from "./simple.ts";
export { CGIHandler, IISCGIHandler, fixIisPathInfo } from "./cgi.ts";
