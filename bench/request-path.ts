/**
 * Micro benchmark of tsgi's whole per-request JavaScript path (not a test):
 * parser, environ, gateway, response head and output coalescing, with the
 * socket replaced by a stub whose `write` takes everything. What it measures
 * is what tsgi adds on top of the kernel's send; the socket itself is
 * measured by bench/hello.ts.
 *
 * Usage: bun bench/request-path.ts [--requests 500000] [--runs 7] [--log] [--only get|post|fetch]
 * `--log` turns the access log on (written to /dev/null), to measure its cost.
 * Prints the fastest, the median and the slowest run's CPU time per request (ns; process
 * CPU time, not wall time, which a shared VM's neighbours disturb more) for
 * wrk's request (`GET / HTTP/1.1` + Host) and a browser-like GET with 6
 * fields, both answered by a hello app, wrk's GET of /id, answered with an
 * `X-Request-Id` field of its own (a header list that differs from response
 * to response), and for wrk's 4 KiB POST (the
 * request `bun bench/hello.ts --post 4096` sends, head and body in one read)
 * answered by the echo app of bench/servers/tsgi.ts (`await read()`, the
 * body returned as the response). The echo app answers after the read's
 * `await`, so each POST is followed by microtask turns until the connection
 * is idle again (those turns are part of the figure, as they are on a real
 * socket). `--only get` or `--only post` runs one kind.
 *
 * `--only fetch` runs wrk's GET through the fetch bridge (`fromFetchHandler`,
 * how `tsgi serve app.ts` and tsgi-dev serve a fetch-style app): a plain
 * `(request) => new Response("Hello, world!\n")` and a Hono app with one
 * route, each on its own server, with microtask turns until the connection
 * is idle (the handler's `Response` comes back through a promise). The
 * default run includes them.
 */
import { createWriteStream } from "node:fs";
import { benchArgs, numberArg, usageError } from "./args.ts";
import type { Socket } from "bun";
import { createServer } from "../src/server/index.ts";
import { Connection } from "../src/server/connection.ts";
import type { Application } from "../src/spec.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";
import { Hono } from "hono";

const usage = "bun bench/request-path.ts [--requests 500000] [--runs 7] [--log] [--only get|post|fetch]";
const values = benchArgs(usage, {
  requests: { type: "string" },
  runs: { type: "string" },
  log: { type: "boolean", default: false },
  only: { type: "string" },
});
const n = numberArg(usage, "requests", values.requests, 500000, { min: 1, integer: true });
const reps = numberArg(usage, "runs", values.runs, 7, { min: 1, integer: true });
if (values.only !== undefined && !["get", "post", "fetch"].includes(values.only)) usageError(usage, `--only must be get, post or fetch, got ${JSON.stringify(values.only)}`);

const hello = new TextEncoder().encode("Hello, world!\n");
let requestId = 0;
/** bench/servers/tsgi.ts's app: hello for GET, the body echoed for POST. */
const app: Application = (environ, startResponse) => {
  if (environ.REQUEST_METHOD === "POST") return echo(environ, startResponse);
  // A field whose value differs from response to response (a request id, an ETag, a Content-Length).
  if (environ.PATH_INFO === "/id") startResponse("200 OK", [["Content-Type", "text/plain"], ["X-Request-Id", String(++requestId)]]);
  else startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [hello];
};
const echo: Application = async (environ, startResponse) => {
  const data = await environ["tsgi.input"].read();
  startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
  return [data];
};

let written = 0;
const socket = {
  remoteAddress: "127.0.0.1",
  remotePort: 40000,
  write(buf: Uint8Array, _offset?: number, length?: number) {
    const len = length ?? buf.length;
    written += len;
    return len;
  },
  pause() {},
  resume() {},
  end() {},
  terminate() {},
  shutdown() {},
} as unknown as Socket<Connection>;

/** A connection of a server for `application`, on the stub socket. */
function connectionFor(application: Application): Connection {
  const server = createServer(application, { keepAliveTimeout: 60000, log: values.log ? createWriteStream("/dev/null") : null });
  return new Connection(socket, server as never);
}
const conn = connectionFor(app);
/** The fetch apps: a plain handler, and Hono with one route (what `tsgi serve app.ts` wraps with fromFetchHandler). */
const plainFetch = connectionFor(fromFetchHandler(() => new Response("Hello, world!\n")));
const hono = new Hono();
hono.get("/", (c) => c.text("Hello, world!\n"));
const honoFetch = connectionFor(fromFetchHandler(hono));

const getCases: Array<[string, string]> = [
  ["wrk GET (40 bytes)", "GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"],
  [
    "browser-like GET (6 fields)",
    "GET /api/users/12345?include=profile HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) curl/8.4.0\r\n" +
      "Accept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n\r\n",
  ],
  ["wrk GET /id (an X-Request-Id per response)", "GET /id HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"],
];
// wrk's request for `bench/hello.ts --post 4096` (its fields in the order that script writes them).
const postCases: Array<[string, string]> = [
  ["wrk POST 4 KiB echo", `POST / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Type: application/octet-stream\r\nContent-Length: 4096\r\n\r\n${"x".repeat(4096)}`],
];
const wrkGet = getCases[0]![1];
const fetchCases: Array<[string, string, Connection]> = [
  ["fetch handler GET (fromFetchHandler)", wrkGet, plainFetch],
  ["Hono GET (fromFetchHandler)", wrkGet, honoFetch],
];
const all: Array<[string, string, Connection, boolean]> = [
  ...getCases.map(([name, text]) => [name, text, conn, false] as [string, string, Connection, boolean]),
  ...postCases.map(([name, text]) => [name, text, conn, true] as [string, string, Connection, boolean]),
  ...fetchCases.map(([name, text, c]) => [name, text, c, true] as [string, string, Connection, boolean]),
];
const kinds: Record<string, string[]> = { get: getCases.map((c) => c[0]), post: postCases.map((c) => c[0]), fetch: fetchCases.map((c) => c[0]) };
const cases = values.only ? all.filter(([name]) => kinds[values.only!]?.includes(name)) : all;
if (cases.length === 0) throw new Error(`--only: expected get, post or fetch, got ${values.only}`);

/** Feed one request; an app that answers asynchronously is given microtask turns until the connection is idle. */
async function once(c: Connection, bytes: Uint8Array): Promise<void> {
  c.onData(bytes);
  for (let turns = 0; c.busy; turns++) {
    if (turns > 1000) throw new Error("the request did not finish within 1000 microtask turns");
    await null;
  }
}

for (const [name, text, c, async] of cases) {
  const bytes = new TextEncoder().encode(text);
  if (async) for (let i = 0; i < 200_000; i++) await once(c, bytes);
  else for (let i = 0; i < 200_000; i++) c.onData(bytes);
  const times: number[] = [];
  const before = written;
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage();
    if (async) for (let i = 0; i < n; i++) await once(c, bytes);
    else for (let i = 0; i < n; i++) c.onData(bytes);
    const used = process.cpuUsage(t0);
    times.push(((used.user + used.system) * 1000) / n);
  }
  times.sort((a, b) => a - b);
  const out = (written - before) / (n * reps);
  console.log(`${name}: min ${times[0]!.toFixed(0)} ns/request, median ${(reps % 2 === 1 ? times[reps >> 1]! : (times[reps / 2 - 1]! + times[reps / 2]!) / 2).toFixed(0)}, max ${times[reps - 1]!.toFixed(0)} (${reps} runs of ${n}; ${out.toFixed(0)} bytes out each)`);
}
