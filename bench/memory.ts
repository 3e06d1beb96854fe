/**
 * Memory under large bodies and many idle connections (issue 6 §1):
 *
 * 1. a 64 MiB streamed response (generator of 64 KiB chunks) read by a client;
 * 2. a 1 GiB upload, once with Content-Length and once chunked, read by the app
 *    in 64 KiB pieces;
 * 3. 10,000 idle keep-alive connections (each made one request), then a new
 *    client's request latency.
 *
 * The server runs in its own process; its RSS is sampled every 20 ms with
 * `ps`, and peak growth over the idle baseline is reported.
 *
 * Usage: bun bench/memory.ts [--upload-mib 1024] [--response-mib 64] [--idle 10000]
 * (read strictly by bench/args.ts: a misspelt flag or a bad number is a
 * usage error, exit 2, before the server starts).
 */
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { benchArgs, numberArg } from "./args.ts";
import { ownChild, waitForPort } from "./children.ts";

const usage = "bun bench/memory.ts [--upload-mib 1024] [--response-mib 64] [--idle 10000]";
const values = benchArgs(usage, {
  "upload-mib": { type: "string" },
  "response-mib": { type: "string" },
  idle: { type: "string" },
});
const uploadBytes = numberArg(usage, "upload-mib", values["upload-mib"], 1024) * 1024 * 1024;
const responseMiB = numberArg(usage, "response-mib", values["response-mib"], 64);
const idleCount = numberArg(usage, "idle", values.idle, 10000, { integer: true });

const serverScript = `
import { serve } from ${JSON.stringify(join(import.meta.dir, "..", "src", "server", "index.ts"))};
const chunk = new Uint8Array(64 * 1024).fill(97);
const server = serve(async (environ, sr) => {
  if (environ.REQUEST_METHOD === "POST") {
    let n = 0;
    for (;;) { const c = await environ["tsgi.input"].read(65536); if (c.length === 0) break; n += c.length; }
    sr("200 OK", []);
    return [new TextEncoder().encode(String(n))];
  }
  if (environ.PATH_INFO === "/rss") {
    Bun.gc(true);
    sr("200 OK", []);
    return [new TextEncoder().encode(String(process.memoryUsage().rss))];
  }
  if (environ.PATH_INFO === "/big") {
    const count = Number(environ.QUERY_STRING) * 16;
    sr("200 OK", [["Content-Length", String(count * chunk.length)]]);
    return (function* () { for (let i = 0; i < count; i++) yield chunk; })();
  }
  sr("200 OK", []);
  return [new TextEncoder().encode("ok")];
}, { port: 0, hostname: "127.0.0.1", log: null, keepAliveTimeout: 600000, headerTimeout: 600000, maxConnections: ${idleCount + 100} });
// The port the system chose, written before the word waited for: once "ready" is read, the number is whole.
console.log("port " + server.port + " ready");
`;

const proc = ownChild(Bun.spawn([process.execPath, "-e", serverScript], { stdout: "pipe", stderr: "inherit" }));
const port = await waitForPort(proc);

function rssKiB(): number {
  const r = Bun.spawnSync(["ps", "-o", "rss=", "-p", String(proc.pid)]);
  return Number(r.stdout.toString().trim());
}

async function sampled<T>(fn: () => Promise<T>): Promise<{ result: T; baseMiB: number; peakMiB: number }> {
  Bun.gc(true);
  const base = rssKiB();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rssKiB())), 20);
  const result = await fn();
  clearInterval(timer);
  peak = Math.max(peak, rssKiB());
  return { result, baseMiB: base / 1024, peakMiB: peak / 1024 };
}

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.on("error", reject);
  });
}

async function download(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/big?${responseMiB}`);
  let n = 0;
  for await (const c of res.body!) n += c.length;
  return n;
}

async function upload(chunked: boolean): Promise<string> {
  const s = await openSocket();
  const head = chunked
    ? "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    : `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${uploadBytes}\r\n\r\n`;
  const block = Buffer.alloc(256 * 1024, 0x62);
  const frame = chunked ? Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from("\r\n")]) : block;
  const response = new Promise<string>((resolve) => {
    let data = "";
    s.on("data", (d) => {
      data += d;
      if (/\r\n\r\n\d+$/.test(data)) resolve(data);
    });
  });
  s.write(head);
  for (let sent = 0; sent < uploadBytes; sent += block.length) {
    if (!s.write(frame)) await new Promise((r) => s.once("drain", r));
  }
  if (chunked) s.write("0\r\n\r\n");
  const text = await response;
  s.destroy();
  return text.split("\r\n\r\n")[1]!;
}

const rows: string[] = [];
{
  const r = await sampled(download);
  rows.push(`| ${responseMiB} MiB streamed response | ${(r.result / 1048576).toFixed(0)} MiB received | ${(r.peakMiB - r.baseMiB).toFixed(1)} MiB |`);
}
for (const chunked of [false, true]) {
  const r = await sampled(() => upload(chunked));
  rows.push(
    `| ${uploadBytes / 1048576} MiB upload, ${chunked ? "chunked" : "Content-Length"} | ${(Number(r.result) / 1048576).toFixed(0)} MiB read by the app | ${(r.peakMiB - r.baseMiB).toFixed(1)} MiB |`,
  );
}

// Idle keep-alive connections: RSS after a full GC in the server, before and after.
const serverRss = async () => Number(await (await fetch(`http://127.0.0.1:${port}/rss`, { headers: { Connection: "close" } })).text());
await serverRss();
const before = await serverRss();
const sockets: Socket[] = [];
const started = Date.now();
for (let i = 0; i < idleCount && Date.now() - started < 120000; i += 200) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(200, idleCount - i) }, async () => {
      const s = await openSocket();
      await new Promise<void>((resolve) => {
        s.once("data", () => resolve());
        s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      return s;
    }),
  );
  sockets.push(...batch);
}
await Bun.sleep(500);
const after = await serverRss();
const perConn = (after - before) / sockets.length;
const t0 = performance.now();
const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { Connection: "close" } });
await res.text();
const newClientMs = performance.now() - t0;
const perConnText = sockets.length > 0 ? `${(perConn / 1024).toFixed(2)} KiB per connection` : "no connections held";
rows.push(`| ${sockets.length} idle keep-alive connections | ${perConnText} | new client served in ${newClientMs.toFixed(1)} ms |`);
for (const s of sockets) s.destroy();

proc.kill();
console.log("\n| scenario | result | peak RSS growth |");
console.log("|---|---|---|");
for (const r of rows) console.log(r);
