/**
 * Algorithmic cost of what a client sends (not a test): whether the tsgi
 * server's CPU time grows faster than the bytes a client sends, for the
 * inputs an attacker would shape, each at 1×, 2×, 4× and 8× its base size.
 * The server runs `serve()` in its own process; its CPU time (the sum of
 * `/proc/PID/task/TID/schedstat` over its threads, in ns) is read before and
 * after each input, sent through a real socket on 127.0.0.1. Per input the
 * script prints the CPU per size, the CPU per byte and the exponent `k` of
 * CPU ∝ size^k fitted (least squares on logarithms) over the 2×, 4× and 8×
 * sizes (the 1× one carries most of the fixed costs, and its small writes
 * are the likeliest to arrive coalesced): about 1 is linear (less while
 * fixed costs fade), 2 quadratic. The verdict is `linear` under 1.4.
 *
 * - heads: 98 field lines besides Host, one long field value, a long request-target,
 *   Connection tokens, commas, Transfer-Encoding codings, 98 repeated
 *   fields, 98 Cookie lines: each whole (one write) and in 16-byte writes
 *   (one read each, mostly: the client yields to the event loop between
 *   writes);
 * - bodies: chunked uploads of 1-byte and of 64 KiB chunks read by the app
 *   in 64 KiB reads, in one `read()`, and one byte at a time (`read(1)`);
 *   chunk extensions of 4,000 bytes on 4 KiB chunks;
 * - pipeline: tiny pipelined requests in one write (answered at once), and
 *   to an app that sleeps 10 ms with a client that does not read (the
 *   server must stop reading: its RSS growth is printed);
 * - responses: header lists of many fields and Set-Cookie lines, one long
 *   field value, a long reason phrase (one request each, sequentially).
 *
 * Usage: bun bench/cost.ts [--only heads|bodies|pipeline|responses] [--reps 3]
 * (each figure is the least CPU of `--reps` runs; figures of a few ms are
 * noisy, so judge a SUPERLINEAR verdict on a rerun with more `--reps`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { benchArgs, numberArg, usageError } from "./args.ts";
import { ownChild, waitForPort } from "./children.ts";

const usage = "bun bench/cost.ts [--only heads|bodies|pipeline|responses] [--reps 3]";
const values = benchArgs(usage, { only: { type: "string" }, reps: { type: "string" } });
const FAMILIES = ["heads", "bodies", "pipeline", "responses"];
if (values.only !== undefined && !FAMILIES.includes(values.only)) usageError(usage, `--only must be heads, bodies, pipeline or responses, got ${JSON.stringify(values.only)}`);
const reps = numberArg(usage, "reps", values.reps, 3, { min: 1, integer: true });

const serverScript = `
import { serve } from ${JSON.stringify(join(import.meta.dir, "..", "src", "server", "index.ts"))};
const enc = new TextEncoder();
const server = serve(async (environ, sr) => {
  const p = environ.PATH_INFO, n = Number(environ.QUERY_STRING), input = environ["tsgi.input"];
  if (p === "/rss") { Bun.gc(true); sr("200 OK", []); return [enc.encode(String(process.memoryUsage().rss))]; }
  if (p === "/sleep") { await Bun.sleep(10); sr("200 OK", []); return [enc.encode("ok")]; }
  if (p === "/fields") { sr("200 OK", Array.from({ length: n }, (_, i) => ["X-F" + i, "v"])); return [enc.encode("ok")]; }
  if (p === "/cookies") { sr("200 OK", Array.from({ length: n }, (_, i) => ["Set-Cookie", "c" + i + "=v; Path=/"])); return [enc.encode("ok")]; }
  if (p === "/value") { sr("200 OK", [["X-Big", "v".repeat(n)]]); return [enc.encode("ok")]; }
  if (p === "/reason") { sr("200 " + "R".repeat(n), []); return [enc.encode("ok")]; }
  let got = 0;
  if (p === "/all") got = (await input.read()).length;
  else if (p === "/one") for (let c = await input.read(1); c.length > 0; c = await input.read(1)) got++;
  else for (let c = await input.read(65536); c.length > 0; c = await input.read(65536)) got += c.length;
  sr("200 OK", []);
  return [enc.encode(String(got))];
}, { port: 0, hostname: "127.0.0.1", log: null, keepAliveTimeout: 600000, headerTimeout: 600000, bodyTimeout: 600000, sendTimeout: 600000 });
// The port the system chose, written before the word waited for: once "ready" is read, the number is whole.
console.log("port " + server.port + " ready");
`;

const proc = ownChild(Bun.spawn([process.execPath, "-e", serverScript], { stdout: "pipe", stderr: "inherit" }));
const port = await waitForPort(proc);

/** The server's CPU time so far (ns), all its live threads. */
function cpuNs(): number {
  let t = 0;
  for (const tid of readdirSync(`/proc/${proc.pid}/task`)) {
    try {
      t += Number(readFileSync(`/proc/${proc.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that just ended
    }
  }
  return t;
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.setNoDelay(true);
    s.on("error", reject);
  });
}

/** Send `bytes` (in `piece`-byte writes, 0: one write) on a new connection and wait until `done(received)`. */
async function exchange(bytes: Uint8Array, piece: number, done: (received: string) => boolean): Promise<void> {
  const s = await open();
  let received = "";
  const finished = new Promise<void>((resolve, reject) => {
    s.on("data", (d) => {
      received += d.toString("latin1");
      if (done(received)) resolve();
    });
    s.on("close", () => (done(received) ? resolve() : reject(new Error(`connection closed: ${received.slice(0, 200)}`))));
  });
  if (piece === 0) s.write(bytes);
  else {
    for (let i = 0; i < bytes.length; i += piece) {
      if (!s.write(bytes.subarray(i, i + piece))) await new Promise((r) => s.once("drain", r));
      await new Promise((r) => setImmediate(r));
    }
  }
  await finished;
  s.destroy();
}

/** The least server CPU (ns) of `reps` runs of `run`. */
async function leastCpu(run: () => Promise<void>): Promise<number> {
  await run();
  let least = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const c0 = cpuNs();
    await run();
    least = Math.min(least, cpuNs() - c0);
  }
  return least;
}

const responseDone = (count: number) => (received: string) => received.split("\r\n\r\n").length > count;
const SCALES = [1, 2, 4, 8];

/** The exponent k of cpu ∝ size^k, least squares on logarithms, over all but the first (smallest) size. */
function exponent(sizes: number[], cpu: number[]): number {
  const xs = sizes.slice(1).map(Math.log);
  const ys = cpu.slice(1).map((c) => Math.log(Math.max(c, 1)));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}

/** `k` and the verdict for a row. */
function verdict(sizes: number[], cpu: number[]): string {
  const k = exponent(sizes, cpu);
  return `k ${k.toFixed(2)} ${k < 1.4 ? "linear" : "SUPERLINEAR"}`;
}

function row(name: string, sizes: number[], cpu: number[]): void {
  const cells = sizes.map((n, i) => `${n} B: ${(cpu[i]! / 1e6).toFixed(2)} ms (${(cpu[i]! / n).toFixed(0)} ns/B)`);
  console.log(`${name.padEnd(44)} ${cells.join(" | ")} | ${verdict(sizes, cpu)}`);
}

async function family(name: string, make: (scale: number) => Uint8Array, piece: number, done: (received: string) => boolean = responseDone(1)): Promise<void> {
  const sizes: number[] = [];
  const cpu: number[] = [];
  for (const scale of SCALES) {
    const bytes = make(scale);
    sizes.push(bytes.length);
    cpu.push(await leastCpu(() => exchange(bytes, piece, done)));
  }
  row(`${name}, ${piece === 0 ? "one write" : `${piece}-byte writes`}`, sizes, cpu);
}

const enc = (s: string) => Buffer.from(s, "latin1");
const head = (lines: string) => enc(`GET / HTTP/1.1\r\nHost: a\r\n${lines}\r\n`);
const run = (f: string) => values.only === undefined || values.only === f;

if (run("heads")) {
  const heads: Array<[string, (s: number) => Uint8Array]> = [
    ["98 field lines, 8-64 KiB", (s) => head(Array.from({ length: 98 }, (_, i) => `X-F${i}: ${"v".repeat(Math.floor((8000 * s) / 100))}\r\n`).join(""))],
    ["one field value, 8-64 KiB", (s) => head(`X-Big: ${"v".repeat(8000 * s - 60)}\r\n`)],
    ["request-target, 1-8 KiB", (s) => enc(`GET /${"a".repeat(1000 * s)} HTTP/1.1\r\nHost: a\r\n\r\n`)],
    ["Connection tokens, 8-64 KiB", (s) => head(`Connection: ${"a, ".repeat(2600 * s)}keep-alive\r\n`)],
    ["Connection commas, 8-64 KiB", (s) => head(`Connection: ${",".repeat(7900 * s)}keep-alive\r\n`)],
    ["98 repeated fields joined, 8-64 KiB", (s) => head(Array.from({ length: 98 }, () => `X-Same: ${"v".repeat(Math.floor((8000 * s) / 100))}\r\n`).join(""))],
    ["98 Cookie lines joined, 8-64 KiB", (s) => head(Array.from({ length: 98 }, (_, i) => `Cookie: c${i}=${"v".repeat(Math.floor((8000 * s) / 100))}\r\n`).join(""))],
  ];
  for (const [name, make] of heads) {
    await family(name, make, 0);
    await family(name, make, 16);
  }
  // Transfer-Encoding codings other than chunked: answered 501 and closed, after the whole head is read.
  await family("Transfer-Encoding codings, 8-64 KiB", (s) => enc(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${"gzip, ".repeat(1300 * s)}chunked\r\n\r\n`), 0);
}

if (run("bodies")) {
  const chunked = (path: string, mib: number, size: number, ext = "") => {
    const one = Buffer.concat([enc(`${size.toString(16)}${ext}\r\n`), Buffer.alloc(size, 97), enc("\r\n")]);
    const count = Math.floor((mib * 1048576) / size);
    const body = Buffer.allocUnsafe(one.length * count);
    for (let i = 0; i < count; i++) one.copy(body, i * one.length);
    return Buffer.concat([enc(`POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`), body, enc("0\r\n\r\n")]);
  };
  for (const [path, how] of [["/64k", "read(65536)"], ["/all", "read()"], ["/one", "read(1)"]] as const) {
    await family(`1-byte chunks, 1-8 MiB, app ${how}`, (s) => chunked(path, s, 1), 0, (r) => /\r\n\r\n\d+$/.test(r));
    await family(`64 KiB chunks, 1-8 MiB, app ${how}`, (s) => chunked(path, s, 65536), 0, (r) => /\r\n\r\n\d+$/.test(r));
  }
  await family("4 KiB chunks with 4,000-byte chunk-ext, 1-8 MiB", (s) => chunked("/64k", s, 4096, `;${"e".repeat(3999)}`), 0, (r) => /\r\n\r\n\d+$/.test(r));
}

if (run("pipeline")) {
  const tiny = enc("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  // Every answer has the same length (its Date too): done when all of them arrived.
  let answer = 0;
  await exchange(tiny, 0, (r) => ((answer = r.length), r.endsWith("\r\n\r\n0")));
  for (const piece of [0, 16]) {
    const sizes: number[] = [];
    const cpu: number[] = [];
    for (const scale of SCALES) {
      const batch = Buffer.concat(Array(2500 * scale).fill(tiny));
      sizes.push(batch.length);
      cpu.push(await leastCpu(() => exchange(batch, piece, (r) => r.length >= 2500 * scale * answer)));
    }
    row(`2,500-20,000 pipelined GETs, ${piece === 0 ? "one write" : `${piece}-byte writes`}`, sizes, cpu);
  }
  const rss = async () => {
    let text = "";
    await exchange(enc("GET /rss HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0, (r) => ((text = r), /\r\n\r\n\d+$/.test(r)));
    return Number(/\r\n\r\n(\d+)$/.exec(text)![1]);
  };
  const base = await rss();
  const slow = enc("GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n");
  const sockets: Socket[] = [];
  const growth: string[] = [];
  for (const mib of [1, 4, 16]) {
    const s = await open();
    s.pause(); // reads nothing
    s.write(Buffer.concat(Array(Math.floor((mib * 1048576) / slow.length)).fill(slow)));
    sockets.push(s);
    await Bun.sleep(2000);
    growth.push(`${mib} MiB sent: ${((await rss()) / 1048576).toFixed(0)} MiB`);
  }
  for (const s of sockets) s.destroy();
  console.log(`${"pipelined GETs to an app sleeping 10 ms, client not reading".padEnd(44)} server RSS before: ${(base / 1048576).toFixed(0)} MiB | ${growth.join(" | ")} (bounded if flat: the server stops reading)`);
}

if (run("responses")) {
  const one = (path: string) => enc(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
  const rows: Array<[string, number, string]> = [
    ["header fields", 5000, "/fields?"],
    ["Set-Cookie lines", 5000, "/cookies?"],
    ["one field value (chars)", 524288, "/value?"],
    ["reason phrase (chars)", 524288, "/reason?"],
  ];
  for (const [name, base, path] of rows) {
    const sizes: number[] = [];
    const cpu: number[] = [];
    for (const scale of SCALES) {
      sizes.push(base * scale);
      cpu.push(await leastCpu(() => exchange(one(`${path}${base * scale}`), 0, (r) => r.includes("\r\n\r\nok"))));
    }
    console.log(`${`response: ${name}`.padEnd(44)} ${sizes.map((n, i) => `${n}: ${(cpu[i]! / 1e6).toFixed(2)} ms`).join(" | ")} | ${verdict(sizes, cpu)}`);
  }
}

proc.kill();
