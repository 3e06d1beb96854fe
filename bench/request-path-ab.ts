/**
 * Compare tsgi's per-request JavaScript path in two source trees, in one
 * process (not a test). `bench/request-path.ts` run once per tree, one
 * process after the other, moves by 10–40 % between runs on a shared
 * machine, far more than most changes to the request path; here both
 * trees' `Connection`s serve the same requests on stub sockets, alternated
 * in short runs (which tree goes first alternates too), so the machine's
 * load falls on both alike and the paired ratio (the median over pairs of
 * `work / base`, each pair run back to back) shows a few percent.
 *
 * Usage: bun bench/request-path-ab.ts --base DIR [--work DIR] [--only post|get|close|fetch] [--pairs 60] [--requests 20000]
 *
 * `DIR` is a checkout of tsgi (for the code before a change: `git worktree
 * add /tmp/tsgi-base HEAD`, then `ln -s "$PWD/node_modules"
 * /tmp/tsgi-base/`); `--work` defaults to this checkout. `post` (the
 * default) is wrk's 4 KiB POST answered by the echo app of
 * bench/servers/tsgi.ts (`await read()`, the body returned), with microtask
 * turns until the connection is idle, as bench/request-path.ts runs it;
 * `get` is wrk's GET answered by the hello app; `close` is that GET with
 * `Connection: close` (bench/hello.ts --close) on a new connection each
 * time: the `Connection` made, the request answered, its FIN sent, then the
 * client's FIN and the close, so what a connection costs in JavaScript
 * (its objects made and collected) is in each request's time; `fetch` is
 * wrk's GET answered by `(request) => new Response("Hello, world!\n")`
 * wrapped with each tree's own `fromFetchHandler` (the fetch bridge's path,
 * as `bun bench/request-path.ts --only fetch` runs it). Both trees get the same app
 * functions. Prints each tree's CPU time per request (process CPU, ns:
 * 10th percentile and median over the runs, interpolated between the
 * nearest two) and the paired ratio (and, for 10 pairs or fewer, each
 * pair's). Run it
 * with `--base` and `--work` swapped as well: a tree loaded second can be a
 * few percent faster or slower for the JIT's sake (check with the same tree
 * given twice, which should print about 1.00).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Socket } from "bun";
import type { Application } from "../src/spec.ts";
import { benchArgs, numberArg, usageError } from "./args.ts";

const usage = "bun bench/request-path-ab.ts --base DIR [--work DIR] [--only post|get|close|fetch] [--pairs 60] [--requests 20000]";
const values = benchArgs(usage, {
  base: { type: "string" },
  work: { type: "string", default: resolve(import.meta.dir, "..") },
  only: { type: "string", default: "post" },
  pairs: { type: "string" },
  requests: { type: "string" },
});
if (!values.base) usageError(usage, "--base DIR: a checkout of tsgi to compare with (see the comment at the top of bench/request-path-ab.ts)");
if (!["post", "get", "close", "fetch"].includes(values.only!)) usageError(usage, `--only must be post, get, close or fetch, got ${JSON.stringify(values.only)}`);
const perConnection = values.only === "close";
const pairs = numberArg(usage, "pairs", values.pairs, 60, { min: 1, integer: true });
const n = numberArg(usage, "requests", values.requests, 20000, { min: 1, integer: true });
// A tree is imported by path: one without the modules this bench drives is named here, not in Bun's "Cannot find module".
for (const flag of ["base", "work"] as const) {
  for (const module of ["src/server/index.ts", "src/server/connection.ts", "src/fetch/index.ts"]) {
    if (!existsSync(resolve(values[flag]!, module))) {
      usageError(usage, `--${flag} ${values[flag]}: no ${module} there: give a checkout of tsgi (git worktree add DIR COMMIT, then ln -s "$PWD/node_modules" DIR/)`);
    }
  }
}

const hello = new TextEncoder().encode("Hello, world!\n");
/** bench/servers/tsgi.ts's app: hello for GET, the body echoed for POST. */
const app: Application = (environ, startResponse) => {
  if (environ.REQUEST_METHOD === "POST") return echo(environ, startResponse);
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [hello];
};
const echo: Application = async (environ, startResponse) => {
  const data = await environ["tsgi.input"].read();
  startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
  return [data];
};

/** The fetch app of `--only fetch` (bench/request-path.ts's plain fetch handler). */
const fetchHello = (): Response => new Response("Hello, world!\n");

const socket = {
  remoteAddress: "127.0.0.1",
  remotePort: 40000,
  write: (buf: Uint8Array, _offset?: number, length?: number) => length ?? buf.length,
  pause() {},
  resume() {},
  end() {},
  terminate() {},
  shutdown() {},
} as unknown as Socket<unknown>;

/** The part of a tree's `Connection` this bench drives. */
type Driven = { onData(data: Uint8Array): void; onEnd(): void; readonly busy: boolean; readonly closed: boolean };

/** `tree`'s server for the app and a maker of its connections on the stub socket. */
async function connectionsOf(tree: string): Promise<() => Driven> {
  const { createServer } = await import(resolve(tree, "src/server/index.ts"));
  const { Connection } = await import(resolve(tree, "src/server/connection.ts"));
  const { fromFetchHandler } = await import(resolve(tree, "src/fetch/index.ts"));
  const application: Application = values.only === "fetch" ? fromFetchHandler(fetchHello) : app;
  const server = createServer(application, { keepAliveTimeout: 60000, log: null });
  return () => new Connection(socket, server) as Driven;
}
const trees = [resolve(values.base), resolve(values.work)];
const makers = [await connectionsOf(trees[0]!), await connectionsOf(trees[1]!)];
const conns = makers.map((make) => make());

const text =
  values.only === "post"
    ? `POST / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Type: application/octet-stream\r\nContent-Length: 4096\r\n\r\n${"x".repeat(4096)}`
    : `GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n${perConnection ? "Connection: close\r\n" : ""}\r\n`;
const bytes = new TextEncoder().encode(text);

/**
 * Feed one request; an app that answers asynchronously is given microtask turns until the connection is idle.
 * `close`: on a new connection of tree `which`, closed by the client's FIN once answered.
 */
async function once(which: number): Promise<void> {
  const c = perConnection ? makers[which]!() : conns[which]!;
  c.onData(bytes);
  for (let turns = 0; c.busy; turns++) {
    if (turns > 1000) throw new Error("the request did not finish within 1000 microtask turns");
    await null;
  }
  if (perConnection) {
    c.onEnd();
    if (!c.closed) throw new Error("the connection did not close after the client's FIN");
  }
}

for (let which = 0; which < 2; which++) for (let i = 0; i < 100_000; i++) await once(which);
const times: [number[], number[]] = [[], []];
for (let p = 0; p < pairs; p++) {
  for (let k = 0; k < 2; k++) {
    const which = p % 2 === 0 ? k : 1 - k;
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await once(which);
    const used = process.cpuUsage(t0);
    times[which].push(((used.user + used.system) * 1000) / n);
  }
}
/**
 * The `q` quantile of `list`, interpolated between the two nearest ranks (numpy's default, R's type 7):
 * the median of an even count is the mean of the middle two, not the lower one (which, for 2 pairs, was the smaller).
 */
const at = (list: number[], q: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo]! + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? 0) - sorted[lo]!);
};
const ratios = times[1].map((w, i) => w / times[0][i]!);
const label = { post: "wrk POST 4 KiB echo", close: "wrk GET with Connection: close, a connection each", get: "wrk GET", fetch: "wrk GET to a fetch handler (fromFetchHandler)" }[values.only!];
console.log(`${label}, ${pairs} pairs of ${n} requests (ns/request, p10 / median):`);
console.log(`  base ${trees[0]}: ${at(times[0], 0.1).toFixed(0)} / ${at(times[0], 0.5).toFixed(0)}`);
console.log(`  work ${trees[1]}: ${at(times[1], 0.1).toFixed(0)} / ${at(times[1], 0.5).toFixed(0)}`);
console.log(`  work / base, paired: median ${at(ratios, 0.5).toFixed(3)} (p25 ${at(ratios, 0.25).toFixed(3)}, p75 ${at(ratios, 0.75).toFixed(3)})`);
// With few pairs one noisy run moves every quantile: show each pair's ratio (in the order run).
if (pairs <= 10) console.log(`  each pair: ${ratios.map((r) => r.toFixed(3)).join(" ")}`);
