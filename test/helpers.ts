/**
 * Test helpers: a server on a free port of 127.0.0.1 with captured logs, a raw
 * TCP client that sends exact bytes, and a small response parser for what it
 * reads back. Every wait is bounded in time.
 */
import { afterAll, afterEach } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { serve } from "../src/server/index.ts";
import type { ServerOptions } from "../src/server/options.ts";
import type { Application } from "../src/spec.ts";

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A server on 127.0.0.1:<free port>, logging into arrays instead of stderr. */
export function startServer(app: Application, options: ServerOptions = {}) {
  const errors: string[] = [];
  const access: string[] = [];
  const server = serve(app, {
    hostname: "127.0.0.1",
    port: 0,
    errorLog: { write: (s: string) => void errors.push(s) },
    log: { write: (s: string) => void access.push(s) },
    ...options,
  });
  return { server, errors, access, port: server.port, url: server.url.replace(/\/$/, "") };
}

/**
 * `startServer` for a test file: every server it starts is closed after the
 * file's tests (registers an `afterAll`).
 */
export function serverPool() {
  const started: Array<ReturnType<typeof startServer>> = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.server.close({ timeout: 100 })));
  });
  return (app: Application, options: ServerOptions = {}) => {
    const s = startServer(app, options);
    started.push(s);
    return s;
  };
}

export interface RawResult {
  /** Everything the server sent. */
  data: Buffer;
  /** The server closed the connection (FIN or reset) before the timeout. */
  closed: boolean;
}

/**
 * Open a connection, send `payload` (string as latin-1, or pieces sent with a
 * pause between them), and read until the server closes or `timeoutMs` passes
 * or `until(data)` is true.
 */
export function raw(
  port: number,
  payload: string | Uint8Array | Array<string | Uint8Array>,
  opts: { timeoutMs?: number; until?: (data: Buffer) => boolean; gapMs?: number; end?: boolean } = {},
): Promise<RawResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const sock: Socket = connect({ host: "127.0.0.1", port });
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      if (opts.until?.(Buffer.concat(chunks))) finish(false);
    });
    sock.on("end", () => finish(true));
    sock.on("close", () => finish(true));
    sock.on("error", () => finish(true));
    sock.on("connect", async () => {
      const pieces = Array.isArray(payload) ? payload : [payload];
      for (const p of pieces) {
        if (settled) return;
        sock.write(typeof p === "string" ? Buffer.from(p, "latin1") : p);
        if (opts.gapMs && pieces.length > 1) await Bun.sleep(opts.gapMs);
      }
      if (opts.end) sock.end();
    });
  });
}

export interface ParsedResponse {
  status: number;
  reason: string;
  version: string;
  /** Field names lower-cased; repeated fields as arrays joined by "\n". */
  headers: Record<string, string>;
  rawHead: string;
  body: Buffer;
  /** How the body was framed. */
  framing: "length" | "chunked" | "close" | "none";
  /** The message was complete (false when cut short). */
  complete: boolean;
}

/**
 * Parse every response in `data`. `methods` gives the request method of each
 * response in order (for HEAD); interim 1xx responses are returned too.
 */
export function parseResponses(data: Buffer, methods: string[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  let finals = 0;
  while (pos < data.length) {
    const end = data.indexOf("\r\n\r\n", pos);
    if (end === -1) throw new Error(`incomplete head: ${JSON.stringify(data.subarray(pos, pos + 200).toString("latin1"))}`);
    const rawHead = data.subarray(pos, end).toString("latin1");
    const [statusLine, ...lines] = rawHead.split("\r\n");
    const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(statusLine!);
    if (!m) throw new Error(`bad status line: ${statusLine}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      const k = line.slice(0, i).toLowerCase();
      const v = line.slice(i + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}\n${v}`;
    }
    const status = Number(m[2]);
    pos = end + 4;
    const r: ParsedResponse = { status, reason: m[3]!, version: m[1]!, headers, rawHead, body: Buffer.alloc(0), framing: "none", complete: true };
    out.push(r);
    if (status < 200) continue;
    const method = methods[finals++] ?? "GET";
    if (method === "HEAD" || status === 204 || status === 304) continue;
    if (headers["transfer-encoding"] === "chunked") {
      r.framing = "chunked";
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf("\r\n", pos);
        if (lineEnd === -1) {
          r.complete = false;
          pos = data.length;
          break;
        }
        const sizeLine = data.subarray(pos, lineEnd).toString("latin1");
        const size = parseInt(sizeLine, 16);
        // Not a chunk-size (hex digits, RFC 9112 section 7.1): garbled framing, which would otherwise parse forever (NaN).
        if (Number.isNaN(size)) throw new Error(`bad chunk-size line at byte ${pos}: ${JSON.stringify(sizeLine.slice(0, 80))}`);
        pos = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = data.indexOf("\r\n", pos);
          if (trailerEnd !== pos) r.complete = false;
          pos = trailerEnd === -1 ? data.length : trailerEnd + 2;
          break;
        }
        if (pos + size + 2 > data.length) {
          parts.push(data.subarray(pos));
          r.complete = false;
          pos = data.length;
          break;
        }
        parts.push(data.subarray(pos, pos + size));
        pos += size + 2;
      }
      r.body = Buffer.concat(parts);
    } else if (headers["content-length"] !== undefined) {
      r.framing = "length";
      const n = Number(headers["content-length"]);
      r.body = data.subarray(pos, pos + n);
      if (r.body.length < n) r.complete = false;
      pos += n;
    } else {
      r.framing = "close";
      r.body = data.subarray(pos);
      pos = data.length;
    }
  }
  return out;
}

/** Send one raw request and parse the single response. */
export async function rawOne(port: number, payload: string | Uint8Array | Array<string | Uint8Array>, opts: Parameters<typeof raw>[2] = {}) {
  const result = await raw(port, payload, opts);
  const responses = result.data.length ? parseResponses(result.data) : [];
  return { ...result, responses, response: responses.at(-1) };
}

/** A GET request for `path` with a Host field. */
export function get(path = "/", extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
}

/** Run `cmd` to its end in `cwd`, killed after `timeoutMs`: what it printed and its exit code. */
export async function runCommand(cmd: string[], cwd: string, timeoutMs: number) {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

/**
 * The TCP port `tsgi serve` says it serves on, from its start line (`serving
 * ./app.ts on http://127.0.0.1:41234/`, `2 worker(s) serving ... on URL`), or
 * undefined before that line: started with `--port 0`, it binds a port of its
 * own, which no other process can take between a test's probe and its bind
 * (as with {@link freePort}).
 */
export function servingPort(stderr: string): number | undefined {
  const url = /serving .* on (https?:\/\/\S+\/)/.exec(stderr)?.[1];
  return url === undefined ? undefined : Number(new URL(url).port);
}

/**
 * Free TCP port on 127.0.0.1 (bound and released): another process can take
 * it before the test binds it again. Use it only where the port must be
 * known before the server starts (a config file, a proxy's upstream);
 * otherwise start the server on port 0 and read the port it bound
 * ({@link servingPort}).
 */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Python 3 on this machine, or null (tests that need it skip with a message). */
export const python3 = Bun.which("python3");

/**
 * Send `request` from a Python client in its own process and read until
 * `until` arrives or the server closes: when `marker` first arrived (ms after
 * the request was sent, -1 if never) and everything received. A separate
 * Python client is used for timing: Node's and Bun's socket clients were
 * seen (tcpdump) to report a segment that arrived on time only when the next
 * one came. Bounded at 5 s.
 * @throws when python3 is not installed or the client fails.
 */
export async function firstArrival(port: number, request: string, marker: string, until?: string): Promise<{ firstMs: number; data: string }> {
  if (!python3) throw new Error("python3 is not installed");
  const script = `
import socket, sys, time, base64
req, marker, until = (base64.b64decode(a) for a in sys.argv[1:4])
s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)
t = time.monotonic()
s.sendall(req)
data, first = b"", None
while not (until and until in data):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
    if first is None and marker in data:
        first = (time.monotonic() - t) * 1000
print(round(first) if first is not None else -1)
sys.stdout.write(base64.b64encode(data).decode())
`;
  const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
  const proc = Bun.spawn([python3, "-c", script, b64(request), b64(marker), b64(until ?? "")], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`python client failed (${code}): ${err}`);
  const [first, data = ""] = out.split("\n");
  return { firstMs: Number(first), data: Buffer.from(data, "base64").toString("latin1") };
}

/**
 * Try to connect to 127.0.0.1:`port`: `"accepted"`, the connect error's code
 * (`"ECONNREFUSED"` when nothing listens), or `"timeout"` after `timeoutMs`.
 */
export function connectOutcome(port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.on("connect", () => (s.destroy(), resolve("accepted")));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    setTimeout(() => (s.destroy(), resolve("timeout")), timeoutMs);
  });
}

/**
 * Whether `pid` has a handler for signal number `n` installed (/proc's
 * SigCgt mask): its process.on() has run, so the signal no longer takes
 * its default action (SIGUSR1, 10, would end the process).
 */
export function catches(pid: number, n: number): boolean {
  try {
    const mask = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(n - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `clients` concurrent clients each GET `path?c<c>i<i>` (`&c<c>i<i>` when
 * `path` has a query) `perClient` times in a row (fetch, a 5 s timeout
 * each); resolves to how many were answered `status` (200 unless given).
 */
export async function fetchMany(port: number, path: string, clients: number, perClient: number, status = 200): Promise<number> {
  let ok = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const res = await fetch(`http://127.0.0.1:${port}${path}${path.includes("?") ? "&" : "?"}c${c}i${i}`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status === status) ok++;
      }
    }),
  );
  return ok;
}

/**
 * Processes a test file spawns: each one pushed here is SIGKILLed (and
 * awaited) after the test that started it, if it is still running.
 */
export function spawnedProcesses(): Array<ReturnType<typeof Bun.spawn>> {
  const procs: Array<ReturnType<typeof Bun.spawn>> = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.exitCode === null) {
        p.kill("SIGKILL");
        await p.exited;
      }
    }
  });
  return procs;
}

/**
 * Bytes searched by `Uint8Array.prototype.indexOf` while `run` runs (each
 * call counts from its start offset to the end): how a test sees that a
 * reader scans a long line once in all, not once per piece that arrives.
 */
export async function bytesScanned<T>(run: () => Promise<T>): Promise<{ result: T; scanned: number }> {
  const proto = Uint8Array.prototype as unknown as { indexOf: (v: number, from?: number) => number };
  const indexOf = proto.indexOf;
  let scanned = 0;
  proto.indexOf = function (this: Uint8Array, v: number, from = 0) {
    scanned += this.length - from;
    return indexOf.call(this, v, from);
  };
  try {
    const result = await run();
    return { result, scanned };
  } finally {
    proto.indexOf = indexOf;
  }
}

/**
 * The heap in use (bytes) once what is about to be freed is: the least of
 * 6 readings, each after a full collection, 100 ms apart. One reading
 * right after the requests can count as kept what is about to be freed (on
 * a loaded machine, a connection the client saw closed may not be closed in
 * the server yet, with up to 6 MB of pipelined requests).
 */
export async function settledHeap(): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    if (i > 0) await Bun.sleep(100);
    Bun.gc(true);
    least = Math.min(least, process.memoryUsage().heapUsed);
  }
  return least;
}

/**
 * The heap's growth (MB, each side after a full collection, see
 * {@link settledHeap}) over `count` requests to `port`, pipelined 100 to a connection, each with one field of
 * a new short made-up name (`X-Made-Up-000123`, which the server may
 * remember) and a 60 kB `X-Big` field: what the server keeps of a request
 * head along with such a name. Each connection is bounded by `raw`'s timeout.
 * @throws Error when a request is not answered 200.
 */
export async function heapGrowthFromShortFieldNames(port: number, count: number): Promise<number> {
  const big = "a".repeat(60_000);
  const before = await settledHeap();
  for (let sent = 0; sent < count; sent += 100) {
    const n = Math.min(100, count - sent);
    const requests = Array.from({ length: n }, (_, i) => get("/", `X-Made-Up-${String(sent + i).padStart(6, "0")}: 1\r\nX-Big: ${big}\r\n${i === n - 1 ? "Connection: close\r\n" : ""}`));
    const r = await raw(port, requests.join(""), { timeoutMs: 10_000 });
    const answered = r.data.toString("latin1").match(/HTTP\/1\.1 200 OK\r\n/g)?.length ?? 0;
    if (answered !== n) throw new Error(`requests ${sent} to ${sent + n - 1} with short made-up field names: ${answered} of ${n} answered 200`);
  }
  return ((await settledHeap()) - before) / 1e6;
}

/**
 * The heap's growth (MB, each side after a full collection, see
 * {@link settledHeap}) over `count` requests to `port`, each on a connection of its own with one field of a
 * new made-up name of about 60 kB (under the default `maxHeaderBytes`), as
 * any client can send them: what the server keeps of such names. Each
 * request is bounded by `raw`'s timeout.
 * @throws Error when a request is not answered 200.
 */
export async function heapGrowthFromLongFieldNames(port: number, count: number): Promise<number> {
  const before = await settledHeap();
  for (let i = 0; i < count; i++) {
    const r = await raw(port, get("/", `X-${i.toString(36).padStart(4, "0")}${"a".repeat(60_000)}: 1\r\nConnection: close\r\n`));
    const status = r.data.toString("latin1").split("\r\n")[0];
    if (status !== "HTTP/1.1 200 OK") throw new Error(`request ${i} with a long field name: ${JSON.stringify(status)}`);
  }
  return ((await settledHeap()) - before) / 1e6;
}

/** Collect a stream's text as it arrives (a spawned process's stdout or stderr); `done` settles at its end. */
export function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream) text += new TextDecoder().decode(chunk);
  })();
  return { text: () => text, done };
}

/**
 * libfaketime (Debian's faketime package), preloaded into a process to set
 * its wall clock on the fly as NTP stepping the clock or `date -s` would;
 * `undefined` where it is not installed (the tests that need it skip).
 */
export const LIBFAKETIME: string | undefined = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"].find((p) => existsSync(p));

/**
 * A wall clock to set from a test: `env` preloads {@link LIBFAKETIME} with its
 * offset read from `file` at every read of the clock (`FAKETIME_NO_CACHE`),
 * the monotonic clock (timers, `performance.now()`) left alone; `set("+3600")`
 * or `set("-3600")` moves the wall clock of every process started with `env`.
 * Starts at `+0`.
 */
export function fakeWallClock(file: string): { env: Record<string, string>; set(offset: string): void } {
  writeFileSync(file, "+0\n");
  return {
    env: { LD_PRELOAD: LIBFAKETIME ?? "", FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: "1", DONT_FAKE_MONOTONIC: "1" },
    set: (offset) => writeFileSync(file, `${offset}\n`),
  };
}
