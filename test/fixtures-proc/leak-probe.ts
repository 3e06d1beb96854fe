/**
 * A tsgi server in its own process for test/leaks.test.ts: it counts its own
 * live timers (setTimeout/setInterval wrapped before the server is loaded),
 * and answers `/__probe` (`/__probe?gc` after a full garbage collection) with its open descriptors (/proc/self/fd targets),
 * live timers, process listeners and memory, so a test can compare them
 * before and after a barrage of faulty clients.
 *
 *     bun test/fixtures-proc/leak-probe.ts     # env: DIR (files), TLS_CERT/TLS_KEY (PEM files)
 *
 * Prints `listening <port>` when ready. Routes: `/array` (1 MiB as one
 * array item), `/gen` (a generator of 256 x 16 KiB), `/file`,
 * `/blob` and `/fifo` (tsgi.file_wrapper of `DIR/big.bin`, an in-memory Blob
 * and the FIFO `DIR/fifo`), `/stream` (fs.createReadStream of big.bin),
 * `/echo` (reads the body), `/slow` (answers after 2 s), `/__probe`.
 */
import { createReadStream, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

type Timer = ReturnType<typeof setTimeout>;
const live = new Map<Timer, string>();
const trace = process.env.LEAK_TRACE === "1";
const where = (): string => (trace ? (new Error().stack ?? "").split("\n").slice(2, 6).join(" | ") : "");
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const t: Timer = realSetTimeout(() => {
    live.delete(t);
    fn(...args);
  }, ms);
  live.set(t, where());
  return t;
}) as typeof setTimeout;
globalThis.clearTimeout = ((t: Timer | undefined) => {
  if (t !== undefined) live.delete(t);
  realClearTimeout(t);
}) as typeof clearTimeout;
globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const t = realSetInterval(fn, ms, ...args);
  live.set(t, where());
  return t;
}) as typeof setInterval;
globalThis.clearInterval = ((t: Timer | undefined) => {
  if (t !== undefined) live.delete(t);
  realClearInterval(t);
}) as typeof clearInterval;

const { serve } = await import("../../src/server/index.ts");
type Application = import("../../src/spec.ts").Application;

const dir = process.env.DIR!;
const MiB = new Uint8Array(1 << 20).fill(0x61);
const block = new Uint8Array(16384).fill(0x62);

function fds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      out.push(`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  return out;
}

const app: Application = async (environ, sr) => {
  const path = environ.PATH_INFO;
  const wrap = environ["tsgi.file_wrapper"]!;
  switch (path) {
    case "/__probe": {
      // ?gc: collect garbage first, for the heap figure. Without it, nothing is collected here: a
      // descriptor that only the garbage collector would close is a leak too.
      if (environ.QUERY_STRING === "gc") Bun.gc(true);
      const body = JSON.stringify({
        fds: fds(),
        timers: [...live.values()],
        listeners: Object.fromEntries(process.eventNames().map((e) => [String(e), process.listenerCount(e)])),
        rss: process.memoryUsage.rss(),
        heap: process.memoryUsage().heapUsed,
      });
      sr("200 OK", [["Content-Type", "application/json"], ["Connection", "close"]]);
      return [new TextEncoder().encode(body)];
    }
    case "/array":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return [MiB];
    case "/gen":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return (function* () {
        for (let i = 0; i < 256; i++) yield block;
      })();
    case "/file":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return wrap(Bun.file(join(dir, "big.bin")));
    case "/blob":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return wrap(new Blob([MiB, MiB, MiB, MiB]));
    case "/fifo":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return wrap(Bun.file(join(dir, "fifo")));
    case "/stream":
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return wrap(createReadStream(join(dir, "big.bin")) as never);
    case "/echo": {
      const body = await environ["tsgi.input"].read();
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode(String(body.length))];
    }
    case "/slow":
      await Bun.sleep(2000);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode("late")];
    default:
      sr("404 Not Found", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode("no")];
  }
};

const tls = process.env.TLS_CERT ? { cert: await Bun.file(process.env.TLS_CERT).text(), key: await Bun.file(process.env.TLS_KEY!).text() } : undefined;
const server = serve(app, {
  hostname: "127.0.0.1",
  port: 0,
  headerTimeout: 300,
  bodyTimeout: 300,
  requestTimeout: Number(process.env.REQUEST_TIMEOUT ?? 0),
  keepAliveTimeout: 300,
  sendTimeout: 500,
  shutdownTimeout: 300,
  log: null,
  errorLog: null,
  ...(tls ? { tls } : {}),
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
