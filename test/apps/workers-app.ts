/**
 * The app the worker tests run under `tsgi serve --workers`: answers with its
 * pid and environ flags, and has routes to crash, hang, answer slowly,
 * stream (`/sse`, an event every 15 s) and fail (an exception: a 500 and a
 * line in the error log). With
 * `TSGI_TEST_IMPORT_MS` its import takes that long, and it says on stderr
 * when that began (`test app: importing`).
 */
import type { Application } from "../../src/spec.ts";

const enc = new TextEncoder();

// An import that takes a while (a database to reach at start-up): signals may arrive meanwhile.
// The line says when it has begun (the process is up, its signal handlers installed).
if (process.env.TSGI_TEST_IMPORT_MS) {
  console.error(`test app: importing (${process.env.TSGI_TEST_IMPORT_MS} ms)`);
  await Bun.sleep(Number(process.env.TSGI_TEST_IMPORT_MS));
}

const floods: Record<number, string> = {};
const app: Application = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === "/crash") process.exit(1);
  // Last words on the error log, then an exit at once (a fatal error the app reports before it ends).
  if (path === "/log-then-crash") {
    environ["tsgi.errors"].write("last words before the exit\n");
    process.exit(1);
  }
  // A large error log write per request (QUERY_STRING bytes; one string per size).
  if (path === "/flood") {
    const size = Number(environ.QUERY_STRING || 1_000_000);
    environ["tsgi.errors"].write((floods[size] ??= "F".repeat(size) + "\n"));
  }
  if (path === "/hang") {
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      // a blocked event loop: no heartbeats
    }
  }
  if (path === "/busy") {
    // Block this worker's event loop for a while (CPU-bound work): the next connection goes to another worker.
    const until = Date.now() + Number(environ.QUERY_STRING || 300);
    while (Date.now() < until) {
      // busy
    }
  }
  if (path === "/throw") throw new Error("app failure on purpose");
  // tsgi.errors left mid-line (a text stream: no newline is added), then the server's report of an error, or a stray error's.
  if (path === "/partial-then-throw") {
    environ["tsgi.errors"].write("no newline here");
    throw new Error("app failure after a partial line");
  }
  if (path === "/partial-then-stray") {
    environ["tsgi.errors"].write("no newline there");
    void Promise.reject(new Error("a rejection after a partial line"));
  }
  // Stray errors, outside the request's own code path: the server must log them and go on.
  if (path === "/stray-rejection") void Promise.reject(new Error("a rejection nobody awaits"));
  if (path === "/stray-exception") {
    setTimeout(() => {
      throw new Error("a timer that throws");
    }, 5);
  }
  // Stray values that throw as they are read: a Proxy whose prototype cannot be read (instanceof throws),
  // an object whose custom inspect throws (Bun.inspect throws).
  if (path === "/stray-unreadable-exception") {
    const unreadable = new Proxy({}, { getPrototypeOf() { throw new Error("a prototype trap that throws"); } });
    setTimeout(() => {
      throw unreadable;
    }, 5);
  }
  if (path === "/stray-unreadable-rejection") {
    void Promise.reject({ [Symbol.for("nodejs.util.inspect.custom")]() { throw new Error("an inspect hook that throws"); } });
  }
  if (path === "/slow") await Bun.sleep(Number(environ.QUERY_STRING || 1000));
  if (path === "/sse") {
    // A heartbeat stream, asleep between events: a stop cuts it mid-await.
    startResponse("200 OK", [["Content-Type", "text/event-stream"]]);
    return (async function* () {
      yield enc.encode("data: hi\n\n");
      for (;;) {
        await Bun.sleep(15_000);
        yield enc.encode("data: ping\n\n");
      }
    })();
  }
  if (path === "/env") {
    // What the app and its child processes can see of the worker's configuration.
    const child = Bun.spawnSync(["sh", "-c", 'printf %s "$TSGI_WORKER"']).stdout.toString();
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [enc.encode(JSON.stringify({ pid: process.pid, own: process.env.TSGI_WORKER ?? null, child, listenFds: process.env.LISTEN_FDS ?? null }))];
  }
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [
    enc.encode(
      JSON.stringify({
        pid: process.pid,
        multiprocess: environ["tsgi.multiprocess"],
        scriptName: environ.SCRIPT_NAME,
        pathInfo: environ.PATH_INFO,
        remoteAddr: environ.REMOTE_ADDR,
        scheme: environ["tsgi.url_scheme"],
        host: environ.HTTP_HOST,
      }),
    ),
  ];
};

export default app;
