/**
 * Throughput of the hello endpoint: tsgi vs Bun.serve vs node:http, in one run.
 *
 * Each server runs in its own process pinned to CPU 0 (taskset); wrk runs on
 * CPU 1. Servers are measured interleaved (A B C A B C ...) over several rounds
 * and the median requests/s is reported, with the ratio to Bun.serve: both
 * the ratio of the medians and the median of each round's ratio ("paired",
 * steadier when the machine's speed drifts between rounds).
 *
 * "tsgi+log" is tsgi with its access log on, written to its stdout as `tsgi serve` writes it (stdout is /dev/null).
 * `--seeds` adds the Python seed servers gevent.pywsgi, eventlet.wsgi and
 * cheroot.wsgi (GET runs only; /usr/bin/python3 with python3-gevent,
 * python3-eventlet, python3-cheroot), serving the same hello endpoint from
 * fixtures/seeds/environ_server.py.
 * "raw Bun.listen" is the ceiling for any Bun.listen server: it parses
 * nothing and answers every `\r\n\r\n` with canned bytes (with --post, the
 * canned head and the next --post bytes it read, taken as the body); the
 * run ends with tsgi's fraction of it.
 * Each server is warmed up first (`--warmup` seconds of the same load, not
 * measured): tsgi's request path is JavaScript, and while the JIT compiles it
 * (the first seconds) its compiler threads share the server's one core.
 *
 * Every run reports wrk's p99 latency too: the median over the rounds, with
 * the ratio to Bun.serve's (lower is better), and each round's value.
 *
 * On a 2-core machine wrk (one core) can be the bottleneck: every round
 * records the CPU time the server and wrk used (/proc/PID/stat and wrk's
 * rusage). A second table gives each server's CPU time per request (µs) and
 * the capacity ratio to Bun.serve it implies, and counts the rounds in which
 * wrk used 95 % or more of its core: in those the requests/s is wrk's limit
 * and the server had capacity left. It also splits that CPU time into user
 * space (the runtime and the server's own code: where servers differ) and
 * the kernel (the sockets; on loopback the kernel also does TCP's work for
 * wrk's side there, about the same for every server). Each round gives
 * wrk's own CPU time per response too, and the run ends (without
 * pipelining) with its median per server: 1e6 / that is the most req/s one
 * wrk core can take from that server, and the line says whether 1.2x
 * Bun.serve's median is above it for tsgi (then no server could show that
 * ratio by req/s in this run, and the capacity column is the measure).
 *
 * `--app fetch` or `--app hono` serves a fetch-style app instead (bench/servers/fetch-apps.ts: a plain
 * `(request) => new Response("Hello, world!\n")`, a Hono app with one route): through tsgi's fetch
 * bridge (`fromFetchHandler`, as `tsgi serve app.ts` serves such an export) and on Bun.serve itself,
 * the same handler; only tsgi, tsgi+log and Bun.serve run (GET only). `--port P` starts the servers
 * at ports P, P+1, ... (one per server and round) instead of a random base in 19000-19999.
 *
 * `--close` sends every request with `Connection: close` (HTTP/1.0 clients, `ab` without -k, a
 * proxy that does not reuse its upstream connections): each server closes after its answer (tsgi and
 * node:http say `Connection: close`; Bun.serve says nothing, so wrk finds the connection closed under
 * its next request and counts a read error per request, then reconnects), and wrk opens a new
 * connection for every request, so a run measures what a connection costs (accept, the connection's
 * setup and teardown, the close) on top of a request. "raw
 * Bun.listen" then answers one request per connection with `Connection: close` and closes as tsgi
 * does (FIN, then the descriptor once the client's FIN is in). Not with --pipeline.
 *
 * Usage: bun bench/hello.ts [--rounds 3] [--duration 5] [--warmup 2] [--connections 50] [--pipeline 1] [--post 4096] [--close] [--seeds] [--app fetch|hono] [--port P] [--only tsgi,Bun.serve,"raw Bun.listen"]
 *
 * The issue 6 cases:
 *   bun bench/hello.ts                                  # hello, keep-alive, 50 connections
 *   bun bench/hello.ts --pipeline 16                    # 16-deep pipelining
 *   bun bench/hello.ts --post 4096                      # POST echo of 4 KiB bodies
 *   bun bench/hello.ts --connections 1 --rounds 5       # 1 connection: compare the p99 column
 *   bun bench/hello.ts --close                          # a new connection per request (Connection: close)
 * Needs wrk (apt-get install wrk) and taskset (util-linux).
 */
import { benchArgs, numberArg, usageError } from "./args.ts";
import { ownChild } from "./children.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const USAGE =
  'bun bench/hello.ts [--rounds 3] [--duration 5] [--warmup 2] [--connections 50] [--pipeline 1] [--post 4096] [--close] [--seeds] [--app fetch|hono] [--port P] [--only tsgi,Bun.serve,"raw Bun.listen"]';
const values = benchArgs(USAGE, {
  rounds: { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  connections: { type: "string" },
  pipeline: { type: "string" },
  post: { type: "string" },
  only: { type: "string" },
  close: { type: "boolean", default: false },
  seeds: { type: "boolean", default: false },
  app: { type: "string" },
  port: { type: "string" },
});
const rounds = numberArg(USAGE, "rounds", values.rounds, 3, { min: 1, integer: true });
const duration = numberArg(USAGE, "duration", values.duration, 5, { min: 1, integer: true });
const warmup = numberArg(USAGE, "warmup", values.warmup, 2, { integer: true });
const connections = numberArg(USAGE, "connections", values.connections, 50, { min: 1, integer: true });
const pipeline = numberArg(USAGE, "pipeline", values.pipeline, 1, { min: 1, integer: true });
const postBytes = numberArg(USAGE, "post", values.post, 0, { integer: true });
const closeEach = values.close === true;
if (closeEach && pipeline > 1) usageError(USAGE, "--close sends one request per connection: drop --pipeline");
const fetchApp = values.app;
if (fetchApp !== undefined && fetchApp !== "fetch" && fetchApp !== "hono") usageError(USAGE, `--app: expected fetch or hono, got ${JSON.stringify(fetchApp)}`);
if (fetchApp && (postBytes || values.seeds)) usageError(USAGE, "--app runs the fetch app's GET on tsgi and Bun.serve only: drop --post and --seeds");

const pin = Bun.which("taskset") ? ["taskset", "-c"] : null;
const root = join(import.meta.dir, "..");
const bun = process.execPath;
const node = Bun.which("node");

interface Target {
  name: string;
  cmd: (port: number) => string[];
}
const tsgiCmd = (p: number) => [bun, join(root, "bench/servers/tsgi.ts"), String(p), fetchApp ?? (postBytes ? "echo" : "hello")];
const targets: Target[] = [
  { name: "tsgi", cmd: tsgiCmd },
  { name: "tsgi+log", cmd: (p: number) => ["env", "TSGI_BENCH_LOG=1", ...tsgiCmd(p)] },
  { name: "Bun.serve", cmd: (p: number) => [bun, join(root, "bench/servers/bun-serve.ts"), String(p), ...(fetchApp ? [fetchApp] : [])] },
  ...(node ? [{ name: "node:http", cmd: (p: number) => [node, join(root, "bench/servers/node-http.mjs"), String(p)] }] : []),
  // The Python seed servers (--seeds; GET only): the same hello endpoint on gevent, eventlet and cheroot.
  ...(values.seeds && !postBytes
    ? ["gevent", "eventlet", "cheroot"].map((seed) => ({
        name: seed,
        cmd: (p: number) => ["/usr/bin/python3", join(root, "fixtures/seeds/environ_server.py"), seed, "hello", String(p)],
      }))
    : []),
  // The ceiling for a Bun.listen server: canned responses, no parsing (POST: the canned head and the body's bytes).
  {
    name: "raw Bun.listen",
    cmd: (p: number) => [
      bun,
      join(root, "bench/servers/raw-listen.ts"),
      String(p),
      ...(postBytes ? ["echo", String(postBytes)] : ["hello"]),
      ...(closeEach ? ["close"] : []),
    ],
  },
];
// --app: the fetch app runs on tsgi (through fromFetchHandler) and Bun.serve; the others serve their own hello.
if (fetchApp) targets.splice(0, targets.length, ...targets.filter((t) => ["tsgi", "tsgi+log", "Bun.serve"].includes(t.name)));
// --only picks servers by name; a name that is not one of them (a typo, a seed without --seeds) is an error, not silently left out.
const SEEDS = ["gevent", "eventlet", "cheroot"];
const only = values.only?.split(",").map((name) => name.trim()).filter(Boolean);
for (const name of only ?? []) {
  if (targets.some((t) => t.name === name)) continue;
  const known = targets.map((t) => t.name).join(", ");
  usageError(
    USAGE,
    SEEDS.includes(name)
      ? `--only: ${name} is a Python seed server: add --seeds${postBytes ? " and drop --post (the seeds run GET only)" : ""}`
      : `--only: no server named ${JSON.stringify(name)} (known: ${known}${values.seeds ? "" : "; with --seeds also gevent, eventlet, cheroot"})`,
  );
}
if (values.seeds && postBytes) usageError(USAGE, "--seeds runs GET only: drop --post");
if (only) targets.splice(0, targets.length, ...targets.filter((t) => only.includes(t.name)));
if (!Bun.which("wrk")) {
  console.error("wrk is not installed: apt-get install wrk");
  process.exit(2);
}
if (values.seeds && !existsSync("/usr/bin/python3")) {
  console.error("--seeds runs the seed servers with /usr/bin/python3 (and python3-gevent, python3-eventlet, python3-cheroot): it is not there");
  process.exit(2);
}

// wrk Lua script for pipelining, POST bodies and Connection: close. With that header wrk reads the
// response's Connection: close and opens a new connection for the next request (its reconnect_socket).
// The request is written out field by field rather than with wrk.format, which orders the fields
// as its Lua table iterates, differently in each wrk process: a round's warm-up and measured run
// then sent Host, Content-Type and Content-Length in two orders, and tsgi's JIT code, specialised
// on the environ the warm-up's order gave, was thrown away and recompiled during the measured run.
// Clients send their fields in one order; so does this script, the same for every server and round.
// Removed when the script exits, also when a signal stops it (bench/children.ts exits through process.exit).
const dir = mkdtempSync(join(tmpdir(), "tsgi-bench-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, "script.lua");
const body = postBytes ? "x".repeat(postBytes) : "";
const fieldLines = [
  `"Host: " .. wrk.headers["Host"] .. "\\r\\n"`,
  ...(postBytes ? [`"Content-Type: application/octet-stream\\r\\nContent-Length: ${postBytes}\\r\\n"`] : []),
  ...(closeEach ? [`"Connection: close\\r\\n"`] : []),
];
writeFileSync(
  script,
  `init = function(args)
  local one = "${postBytes ? "POST" : "GET"} / HTTP/1.1\\r\\n" .. ${fieldLines.join(" .. ")} .. "\\r\\n"${postBytes ? ` .. string.rep("x", ${postBytes})` : ""}
  req = string.rep(one, ${pipeline})
end
request = function() return req end
`,
);
void body;

/**
 * The first port from `from` on that a listener can bind on 127.0.0.1 now. Inside the kernel's
 * ephemeral range (ip_local_port_range, often 32768-60999) a port can be held for a minute by a
 * closed client connection's TIME-WAIT (wrk's, from an earlier server's run: with --close it opens
 * tens of thousands), and the server would fail to start with EADDRINUSE.
 */
function freePort(from: number): number {
  for (let p = from; p < from + 200 && p < 65536; p++) {
    try {
      Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } }).stop(true);
      return p;
    } catch {
      // taken: try the next one
    }
  }
  return from;
}

/**
 * Start a target and wait until its port accepts connections. Its stdout
 * goes to /dev/null, where tsgi+log writes its access log, as `tsgi serve`
 * writes to its stdout.
 */
async function startServer(t: Target, port: number) {
  const cmd = t.cmd(port);
  const proc = ownChild(Bun.spawn(pin ? [...pin, "0", ...cmd] : cmd, { stdout: Bun.file("/dev/null"), stderr: "inherit" }));
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    const open = await new Promise<boolean>((resolve) => {
      Bun.connect({ hostname: "127.0.0.1", port, socket: { open: (s) => (s.end(), resolve(true)), connectError: () => resolve(false), data() {} } }).catch(() => resolve(false));
    });
    if (open) return proc;
    await Bun.sleep(50);
  }
  proc.kill();
  // The server's own error went to this stderr (inherited); say which server, and for a seed what it needs.
  const why = proc.exitCode !== null ? `exit code ${proc.exitCode}; its error, if any, is above` : "not listening after 10 s";
  const needs = SEEDS.includes(t.name) ? ": --seeds needs /usr/bin/python3 with python3-gevent, python3-eventlet and python3-cheroot" : "";
  console.error(`${t.name} did not start (${why})${needs}`);
  process.exit(1);
}

/**
 * CPU time a running process (all its threads) has used so far (ms), from
 * /proc/PID/stat: in user space (the runtime and the server's code) and in
 * the kernel (the sockets: on loopback this includes TCP's work for the
 * peer). NaN where there is no /proc.
 */
function cpuMs(pid: number): { user: number; kernel: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), 1-based from field 3: utime is field 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: (Number(rest[11]) * 1000) / CLOCK_TICKS, kernel: (Number(rest[12]) * 1000) / CLOCK_TICKS };
  } catch {
    return { user: Number.NaN, kernel: Number.NaN };
  }
}
/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux build in use). */
const CLOCK_TICKS = 100;

interface WrkResult {
  rps: number;
  errors: number;
  p99: string;
  /** The server's CPU time per request during the run (µs), NaN when unknown. */
  serverMicrosPerRequest: number;
  /** Of that, the part in user space (µs per request). */
  userMicrosPerRequest: number;
  /** Share of one core the server used during the run (0–1). */
  serverCpu: number;
  /** Share of one core wrk used (0–1): near 1, wrk is the bottleneck and the figure is the client's limit, not the server's. */
  clientCpu: number;
  /** wrk's own CPU time per response (µs, its rusage over the responses it counted), NaN when unknown: 1e6 / this is the most req/s one wrk core can take from this server. */
  clientMicrosPerResponse: number;
}

async function runWrk(port: number, serverPid: number, seconds = duration): Promise<WrkResult> {
  const args = ["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, `http://127.0.0.1:${port}/`];
  const cpu0 = cpuMs(serverPid);
  const t0 = performance.now();
  const proc = ownChild(Bun.spawn(pin ? [...pin, "1", ...args] : args, { stdout: "pipe", stderr: "pipe" }));
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  const wall = performance.now() - t0;
  const cpu1 = cpuMs(serverPid);
  const serverMs = cpu1.user + cpu1.kernel - (cpu0.user + cpu0.kernel);
  const userMs = cpu1.user - cpu0.user;
  const usage = proc.resourceUsage();
  const clientMs = usage ? Number(usage.cpuTime.total) / 1000 : Number.NaN;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0) * 1;
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const errors = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  // wrk times no request of a pipelined batch (its Lua pipeline reports 0): no p99 then.
  const p99 = pipeline > 1 ? "n/a" : (/^\s+99%\s+(\S+)$/m.exec(text)?.[1] ?? "?");
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  return {
    rps,
    errors,
    p99,
    serverMicrosPerRequest: requests > 0 ? (serverMs * 1000) / requests : Number.NaN,
    userMicrosPerRequest: requests > 0 ? (userMs * 1000) / requests : Number.NaN,
    serverCpu: serverMs / wall,
    clientCpu: clientMs / wall,
    clientMicrosPerResponse: requests > 0 ? (clientMs * 1000) / requests : Number.NaN,
  };
}

/** wrk's latency text (`812.00us`, `1.46ms`, `2.01s`) in microseconds, NaN when unreadable. */
function micros(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === "us" ? 1 : m[2] === "ms" ? 1000 : 1e6);
}

// wrk counts every response, pipelined or not, so its Requests/sec is already per request.
const results = new Map<string, number[]>();
const p99s = new Map<string, string[]>();
const cpuPerRequest = new Map<string, number[]>();
const userPerRequest = new Map<string, number[]>();
const wrkPerResponse = new Map<string, number[]>();
/** Rounds in which wrk used at least this share of its core: client-bound, the server had capacity left. */
const CLIENT_BOUND = 0.95;
const clientBound = new Map<string, number>();
let errorsTotal = 0;
// Each server gets the next port: from --port, else from a random one in 19000-19999.
let port = numberArg(USAGE, "port", values.port, 19000 + Math.floor(Math.random() * 1000), { min: 1024, integer: true });
for (let round = 0; round < rounds; round++) {
  for (const t of targets) {
    const p = (port = freePort(port)) && port++;
    const proc = await startServer(t, p);
    if (warmup > 0) await runWrk(p, proc.pid, warmup);
    const r = await runWrk(p, proc.pid);
    proc.kill();
    await proc.exited;
    const rps = r.rps;
    (results.get(t.name) ?? results.set(t.name, []).get(t.name)!).push(rps);
    (p99s.get(t.name) ?? p99s.set(t.name, []).get(t.name)!).push(r.p99);
    (cpuPerRequest.get(t.name) ?? cpuPerRequest.set(t.name, []).get(t.name)!).push(r.serverMicrosPerRequest);
    (userPerRequest.get(t.name) ?? userPerRequest.set(t.name, []).get(t.name)!).push(r.userMicrosPerRequest);
    (wrkPerResponse.get(t.name) ?? wrkPerResponse.set(t.name, []).get(t.name)!).push(r.clientMicrosPerResponse);
    if (r.clientCpu >= CLIENT_BOUND) clientBound.set(t.name, (clientBound.get(t.name) ?? 0) + 1);
    errorsTotal += r.errors;
    const pct = (x: number) => (Number.isNaN(x) ? "?" : `${Math.round(x * 100)}%`);
    console.error(
      `round ${round + 1} ${t.name}: ${Math.round(rps)} req/s, p99 ${r.p99}, errors ${r.errors}, server CPU ${pct(r.serverCpu)} (${r.serverMicrosPerRequest.toFixed(2)} us/req), wrk CPU ${pct(r.clientCpu)} (${r.clientMicrosPerResponse.toFixed(2)} us/resp)`,
    );
  }
}
/** The median: the middle value, or the mean of the middle two for an even count (not the upper one); NaN for none. */
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
/** The median, or NaN for an empty list (no readable value in any round). */
const medianOrNaN = (xs: number[]) => (xs.length > 0 ? median(xs) : Number.NaN);
const base = results.has("Bun.serve") ? median(results.get("Bun.serve")!) : Number.NaN;
const baseP99List = (p99s.get("Bun.serve") ?? []).map(micros).filter((x) => !Number.isNaN(x));
const baseP99 = medianOrNaN(baseP99List);
console.log(
  `\nhello ${postBytes ? `POST ${postBytes} B echo` : "GET"}${fetchApp ? ` (${fetchApp} app: tsgi through fromFetchHandler)` : ""}, ${connections} connections${closeEach ? " (Connection: close: a new connection per request)" : ""}, pipeline ${pipeline}, ${rounds} rounds x ${duration}s after ${warmup}s warm-up (median):`,
);
console.log("| server | requests/s | vs Bun.serve | paired vs Bun.serve | p99 latency | p99 vs Bun.serve | p99 per round |");
console.log("|---|---:|---:|---:|---:|---:|---|");
/**
 * The median of the per-round ratios to Bun.serve, whose run in each round
 * is next to this server's in time: steadier than the ratio of medians when
 * the machine's speed drifts between rounds.
 */
const paired = (name: string): string => {
  const mine = results.get(name);
  const theirs = results.get("Bun.serve");
  if (!mine || !theirs) return "?";
  return `${median(mine.map((x, i) => x / theirs[i]!)).toFixed(2)}x`;
};
const fmtMicros = (us: number) => (Number.isNaN(us) ? "?" : us >= 1000 ? `${(us / 1000).toFixed(2)}ms` : `${Math.round(us)}us`);
for (const t of targets) {
  const m = median(results.get(t.name)!);
  const p99 = p99s.get(t.name)!;
  const readable = p99.map(micros).filter((x) => !Number.isNaN(x));
  const mp = medianOrNaN(readable);
  const vs = Number.isNaN(mp) || !(baseP99 > 0) ? "?" : `${(mp / baseP99).toFixed(2)}x`;
  console.log(`| ${t.name} | ${Math.round(m)} | ${Number.isNaN(base) ? "?" : `${(m / base).toFixed(2)}x`} | ${paired(t.name)} | ${fmtMicros(mp)} | ${vs} | ${p99.join(" / ")} |`);
}
// Server CPU per request: what each request costs the server, whether or not
// wrk (one core, like the server) could keep it busy. When wrk is at its
// limit the req/s above is the client's ceiling and this is the fairer ratio.
const baseCpu = cpuPerRequest.get("Bun.serve");
const usable = (xs: number[]) => xs.filter((x) => !Number.isNaN(x));
console.log(
  "\n| server | server CPU per request | capacity vs Bun.serve (CPU) | paired | user space per request | user space vs Bun.serve | kernel per request | rounds wrk-bound (wrk CPU >= 95%) |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
const baseUser = usable(userPerRequest.get("Bun.serve") ?? []);
for (const t of targets) {
  const mine = usable(cpuPerRequest.get(t.name)!);
  if (mine.length === 0) continue;
  const m = median(mine);
  const b = medianOrNaN(usable(baseCpu ?? []));
  const pairedCpu = baseCpu ? median(cpuPerRequest.get(t.name)!.map((x, i) => baseCpu[i]! / x).filter((x) => !Number.isNaN(x))) : Number.NaN;
  const fmt = (x: number) => (Number.isNaN(x) ? "?" : `${x.toFixed(2)}x`);
  const u = medianOrNaN(usable(userPerRequest.get(t.name)!));
  const bu = medianOrNaN(baseUser);
  // Kernel time per request: each round's total minus its user part, median over the rounds.
  const k = medianOrNaN(usable(cpuPerRequest.get(t.name)!.map((x, i) => x - userPerRequest.get(t.name)![i]!)));
  const us = (x: number) => (Number.isNaN(x) ? "?" : `${x.toFixed(2)}us`);
  console.log(
    `| ${t.name} | ${m.toFixed(2)}us | ${fmt(b / m)} | ${fmt(pairedCpu)} | ${us(u)} | ${fmt(bu / u)} | ${us(k)} | ${clientBound.get(t.name) ?? 0} of ${rounds} |`,
  );
}
// wrk's own limit: its CPU time per response (with keep-alive, the same read, write and two epoll_ctl
// calls per response for every server; the bytes differ by a field or two) caps what one wrk core can take.
// A req/s ratio over Bun.serve above what that cap allows cannot show in this run, however fast the server.
const wrkLimits = targets
  .map((t) => [t.name, medianOrNaN(usable(wrkPerResponse.get(t.name) ?? []))] as const)
  .filter(([, us]) => !Number.isNaN(us) && us > 0);
if (wrkLimits.length > 0 && !Number.isNaN(base) && pipeline === 1) {
  const limits = wrkLimits.map(([name, us]) => `${name} ${us.toFixed(2)}us (at most ${Math.round(1e6 / us)} req/s)`).join(", ");
  const tsgiWrk = wrkLimits.find(([name]) => name === "tsgi")?.[1];
  const needed = 1.2 * base;
  const verdict =
    tsgiWrk === undefined
      ? ""
      : `; 1.2x Bun.serve's median is ${Math.round(needed)} req/s, ${needed > 1e6 / tsgiWrk ? "above" : "within"} what wrk could take from tsgi in this run`;
  console.log(`wrk's CPU per response (median over rounds): ${limits}${verdict}`);
}
const ceiling = results.get("raw Bun.listen");
if (ceiling && results.has("tsgi")) {
  const tsgi = results.get("tsgi")!;
  const pairedCeiling = median(tsgi.map((x, i) => x / ceiling[i]!));
  console.log(
    `tsgi / raw Bun.listen (the ceiling: no parsing, canned responses): ${(median(tsgi) / median(ceiling)).toFixed(2)} (paired by round: ${pairedCeiling.toFixed(2)})`,
  );
}
console.log(`socket errors + non-2xx: ${errorsTotal}`);
