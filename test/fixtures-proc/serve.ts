/**
 * A tsgi server in its own process, for the soak script and the
 * process-level shutdown test (used while `src/cli/dev.ts` is not there).
 *
 *     bun test/fixtures-proc/serve.ts            # PORT (0 = free port), SHUTDOWN_TIMEOUT (ms)
 *
 * Prints `listening <port>` on stdout when ready. SIGTERM/SIGINT: stop
 * accepting, let in-flight requests finish (`server.close()`), exit 0.
 *
 * Routes: `/hello` (fixed text), `/echo` (the request body back),
 * `/slow?ms=N` (answers after N ms), `/stream?n=N&size=S` (N chunks of S
 * bytes, chunked), `/unawaited-writes` (64 KiB writes for ~2 s, none
 * awaited), `/rss` (this process's RSS in bytes).
 */
import { serve } from "../../src/server/index.ts";
import type { Application } from "../../src/spec.ts";

const HELLO = new TextEncoder().encode("Hello, world!\n");
const chunkCache = new Map<number, Uint8Array>();

const app: Application = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  const q = new URLSearchParams(environ.QUERY_STRING);
  if (path === "/echo") {
    const body = await environ["tsgi.input"].read();
    startResponse("200 OK", [
      ["Content-Type", "application/octet-stream"],
      ["Content-Length", String(body.length)],
    ]);
    return [body];
  }
  if (path === "/slow") {
    await Bun.sleep(Number(q.get("ms") ?? 100));
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", String(HELLO.length)]]);
    return [HELLO];
  }
  if (path === "/stream") {
    const n = Number(q.get("n") ?? 16);
    const size = Number(q.get("size") ?? 4096);
    let chunk = chunkCache.get(size);
    if (!chunk) chunkCache.set(size, (chunk = new Uint8Array(size).fill(0x61)));
    const c = chunk;
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return (function* () {
      for (let k = 0; k < n; k++) yield c;
    })();
  }
  if (path === "/unawaited-writes") {
    // PEP 3333 style: write() called as a statement, never awaited, for ~2 s.
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    const block = new Uint8Array(65536).fill(0x78);
    for (let i = 0; i < 100; i++) {
      void write(block);
      await Bun.sleep(20);
    }
    return [];
  }
  if (path === "/rss") {
    const body = new TextEncoder().encode(String(process.memoryUsage.rss()));
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", String(body.length)]]);
    return [body];
  }
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", String(HELLO.length)]]);
  return [HELLO];
};

const server = serve(app, {
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  log: null,
  shutdownTimeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 10000),
});
process.stdout.write(`listening ${server.port}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
