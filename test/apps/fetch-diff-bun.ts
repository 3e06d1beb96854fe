/**
 * test/apps/fetch-diff-app.ts on `Bun.serve`, in a process of its own (so
 * what Bun prints of a handler's error is not taken for the test runner's),
 * as in production (`development: false`). Prints its port on stdout.
 */
import app from "./fetch-diff-app.ts";

const server = Bun.serve({ hostname: "127.0.0.1", port: 0, development: false, fetch: app.fetch });
console.log(server.port);
