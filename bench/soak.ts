/**
 * Soak and load: a keep-alive load generator (exported for the tests) and a
 * soak script that runs a tsgi server in its own process at steady load,
 * samples its RSS every 10 s, prints a table and checks the trend is flat.
 *
 *     bun bench/soak.ts                               # 10 minutes, 50 connections
 *     bun bench/soak.ts --minutes 1 --connections 200
 *     bun bench/soak.ts --seconds 10 --connections 1000 --mix hello   # the 1,000-connection run
 *
 * Options: `--minutes M` / `--seconds S` (duration), `--connections N`,
 * `--sample S` (seconds between RSS samples, default 10), `--mix
 * hello|mixed` (default mixed: GET /hello, POST /echo 1 KiB, GET /stream
 * 64 KiB chunked; connections are closed and reopened every 1,000 requests to
 * churn connection state too).
 *
 * Exit status 0 only when every request was answered correctly, no socket
 * error happened, every sampling interval answered requests (steady load), the RSS trend is flat (after the first sample, least-squares
 * growth over the run under max(16 MiB, 10 %) and the last sample within
 * 16 MiB of the median), and the server exited 0 on SIGTERM.
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Socket } from "bun";
import { benchArgs, numberArg, usageError } from "./args.ts";
import { ownChild } from "./children.ts";

// ---------------------------------------------------------------- load generator

/** One kind of request the generator sends, and what it must get back. */
export interface RequestKind {
  name: string;
  bytes: Uint8Array;
  /** Expected body length and first byte, checked on every response. */
  bodyLength: number;
  firstByte?: number;
}

const te = new TextEncoder();

export function requestKinds(host = "127.0.0.1"): Record<string, RequestKind> {
  const echoBody = "e".repeat(1024);
  return {
    hello: { name: "GET /hello", bytes: te.encode(`GET /hello HTTP/1.1\r\nHost: ${host}\r\n\r\n`), bodyLength: 14, firstByte: 0x48 },
    echo: {
      name: "POST /echo 1 KiB",
      bytes: te.encode(`POST /echo HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${echoBody.length}\r\n\r\n${echoBody}`),
      bodyLength: 1024,
      firstByte: 0x65,
    },
    stream: { name: "GET /stream 64 KiB chunked", bytes: te.encode(`GET /stream?n=16&size=4096 HTTP/1.1\r\nHost: ${host}\r\n\r\n`), bodyLength: 65536, firstByte: 0x61 },
  };
}

export interface LoadOptions {
  port: number;
  host?: string;
  connections: number;
  durationMs: number;
  /** Picks the request for the n-th request of a connection. */
  pick: (n: number, conn: number) => RequestKind;
  /** Close and reopen a connection after this many requests (0: never). */
  reconnectEvery?: number;
  /** Connections opened at once while ramping up. */
  rampBatch?: number;
  /** Kept up to date while the load runs (for sampling throughput). */
  live?: { answered: number };
  /**
   * Go on past `durationMs` until this many requests were answered (a
   * check that there was traffic, on a machine so loaded that the duration
   * saw few), for at most `durationMs` + 15 s in all. Default 0.
   */
  minAnswered?: number;
}

export interface LoadResult {
  /** Requests written. */
  sent: number;
  /** Complete, correct responses. */
  answered: number;
  /** Problems, by kind (socket errors, unexpected closes, bad responses). */
  errors: Record<string, number>;
  errorCount: number;
  /** Most connections open at once. */
  peakOpen: number;
  /** Latency percentiles in ms (sampled). */
  p50: number;
  p99: number;
  max: number;
  elapsedMs: number;
}

interface ConnState {
  slot: number;
  n: number;
  /** `n` when this connection opened (a reconnected slot keeps counting). */
  n0: number;
  current: RequestKind | null;
  sentAt: number;
  buf: Uint8Array | null;
  /** Bytes of the request the socket did not take yet. */
  pending: Uint8Array | null;
  /** We closed it on purpose (time is up, or reconnecting). */
  done: boolean;
  reconnecting: boolean;
}

const CRLFCRLF = [13, 10, 13, 10];

function indexOfSeq(b: Uint8Array, seq: number[], from = 0): number {
  outer: for (let i = from; i <= b.length - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (b[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Parse one response at the start of `b`. Returns the total length and body
 * info, or null when incomplete. Supports Content-Length and chunked.
 */
export function parseOneResponse(b: Uint8Array): { length: number; status: number; bodyLength: number; firstByte: number } | null | "bad" {
  const he = indexOfSeq(b, CRLFCRLF);
  if (he < 0) return b.length > 65536 ? "bad" : null;
  const head = Buffer.from(b.buffer, b.byteOffset, he).toString("latin1");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return "bad";
  const status = Number(m[1]);
  let pos = he + 4;
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (cl) {
    const n = Number(cl[1]);
    if (b.length < pos + n) return null;
    return { length: pos + n, status, bodyLength: n, firstByte: n > 0 ? b[pos]! : -1 };
  }
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    let total = 0;
    let first = -1;
    for (;;) {
      let le = -1;
      for (let i = pos; i + 1 < b.length; i++) {
        if (b[i] === 13 && b[i + 1] === 10) {
          le = i;
          break;
        }
      }
      if (le < 0) return null;
      const size = parseInt(Buffer.from(b.buffer, b.byteOffset + pos, le - pos).toString("latin1"), 16);
      if (!Number.isFinite(size)) return "bad";
      pos = le + 2;
      if (size === 0) {
        if (b.length < pos + 2) return null;
        return { length: pos + 2, status, bodyLength: total, firstByte: first };
      }
      if (b.length < pos + size + 2) return null;
      if (first < 0) first = b[pos]!;
      total += size;
      pos += size + 2;
    }
  }
  return { length: pos, status, bodyLength: 0, firstByte: -1 };
}

/** Run keep-alive load: every connection sends one request at a time until the time is up. */
export async function keepAliveLoad(o: LoadOptions): Promise<LoadResult> {
  const host = o.host ?? "127.0.0.1";
  const errors: Record<string, number> = {};
  const err = (k: string) => void (errors[k] = (errors[k] ?? 0) + 1);
  let sent = 0;
  let answered = 0;
  let open = 0;
  let peakOpen = 0;
  const lat: number[] = [];
  const started = performance.now();
  const deadline = started + o.durationMs;
  const minAnswered = o.minAnswered ?? 0;
  const overtime = deadline + 15_000;
  let finishedConns = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const reconnectEvery = o.reconnectEvery ?? 0;

  /** A slot is one logical client: it ends when the time is up or its connection fails. */
  const slotFinished = () => {
    if (++finishedConns === o.connections) resolveAll();
  };

  const write = (s: Socket<ConnState>, bytes: Uint8Array) => {
    const w = s.write(bytes);
    s.data.pending = w < bytes.length ? bytes.subarray(Math.max(0, w)) : null;
  };

  const sendNext = (s: Socket<ConnState>) => {
    const st = s.data;
    st.current = null;
    const now = performance.now();
    if (now >= deadline && (answered >= minAnswered || now >= overtime)) {
      st.done = true;
      s.end();
      return;
    }
    if (reconnectEvery > 0 && st.n - st.n0 >= reconnectEvery) {
      st.done = true;
      st.reconnecting = true;
      s.end();
      void openConn(st.slot, st.n);
      return;
    }
    const k = o.pick(st.n, st.slot);
    st.current = k;
    st.sentAt = performance.now();
    st.n++;
    sent++;
    write(s, k.bytes);
  };

  const openConn = async (slot: number, n = 0): Promise<void> => {
    const state: ConnState = { slot, n, n0: n, current: null, sentAt: 0, buf: null, pending: null, done: false, reconnecting: false };
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      err(`connect error ${(e as { code?: string }).code ?? String(e)}`);
      slotFinished();
    };
    try {
      await Bun.connect<ConnState>({
        hostname: host,
        port: o.port,
        data: state,
        socket: {
          open(s) {
            open++;
            if (open > peakOpen) peakOpen = open;
            sendNext(s);
          },
          drain(s) {
            if (s.data.pending) write(s, s.data.pending);
          },
          data(s, chunk) {
            const st = s.data;
            let b: Uint8Array = st.buf ? Buffer.concat([st.buf, chunk]) : chunk;
            while (b.length > 0) {
              if (!st.current) {
                err("bytes without a request");
                st.buf = null;
                return;
              }
              const r = parseOneResponse(b);
              if (r === null) {
                st.buf = Uint8Array.from(b);
                return;
              }
              if (r === "bad") {
                err("unparsable response");
                st.current = null;
                s.terminate();
                return;
              }
              const k = st.current;
              if (r.status !== 200) err(`status ${r.status}`);
              else if (r.bodyLength !== k.bodyLength || (k.firstByte !== undefined && r.firstByte !== k.firstByte)) err(`bad body for ${k.name}`);
              else {
                answered++;
                if (o.live) o.live.answered = answered;
                if (lat.length < 200_000 && (answered & 7) === 0) lat.push(performance.now() - st.sentAt);
              }
              b = b.subarray(r.length);
              st.buf = null;
              sendNext(s);
              if (st.done) return;
            }
            st.buf = null;
          },
          close(s) {
            open--;
            const st = s.data;
            if (!st.done) {
              err(st.current ? "closed by the server with a request outstanding" : "closed by the server");
              slotFinished();
            } else if (!st.reconnecting) slotFinished();
          },
          error(_s, e) {
            err(`socket error ${(e as { code?: string }).code ?? e.message}`);
          },
          connectError(_s, e) {
            fail(e);
          },
        },
      });
    } catch (e) {
      fail(e);
    }
  };

  const batch = o.rampBatch ?? 100;
  for (let c = 0; c < o.connections; c += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, o.connections - c) }, (_, k) => openConn(c + k)));
  }
  const guard = setTimeout(() => resolveAll(), o.durationMs + (minAnswered > 0 ? 30_000 : 15_000));
  await all;
  clearTimeout(guard);
  lat.sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
  return {
    sent,
    answered,
    errors,
    errorCount: Object.values(errors).reduce((a, v) => a + v, 0),
    peakOpen,
    p50: q(0.5),
    p99: q(0.99),
    max: lat.at(-1) ?? 0,
    elapsedMs: performance.now() - started,
  };
}

// ---------------------------------------------------------------- soak

/** RSS of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, v) => a + v, 0) / n;
  const my = ys.reduce((a, v) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  for (let k = 0; k < n; k++) {
    num += (xs[k]! - mx) * (ys[k]! - my);
    den += (xs[k]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Start test/fixtures-proc/serve.ts in its own process. */
export async function startServerProcess(env: Record<string, string> = {}): Promise<{ pid: number; port: number; exited: Promise<number | null>; kill: (sig?: NodeJS.Signals) => void }> {
  const here = dirname(new URL(import.meta.url).pathname);
  const child = spawn(process.execPath, [resolve(here, "../test/fixtures-proc/serve.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PORT: "0", ...env },
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const port = await new Promise<number>((res, rej) => {
    let out = "";
    const t = setTimeout(() => rej(new Error("server process did not start in 15 s")), 15000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res(Number(m[1]));
      }
    });
    child.on("exit", (code) => rej(new Error(`server process exited with ${code}`)));
  });
  return { pid: child.pid!, port, exited, kill: (sig = "SIGTERM") => void child.kill(sig) };
}

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const usage = "bun bench/soak.ts [--minutes M | --seconds S] [--connections N] [--sample S] [--mix hello|mixed]";
  const args = benchArgs(usage, {
    minutes: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
    sample: { type: "string" },
    mix: { type: "string" },
  });
  if (args.minutes !== undefined && args.seconds !== undefined) usageError(usage, "--minutes and --seconds both give the duration: pick one");
  const seconds = args.seconds !== undefined ? numberArg(usage, "seconds", args.seconds, 0, { min: 1 }) : numberArg(usage, "minutes", args.minutes, 10, { min: 0.05 }) * 60;
  const connections = numberArg(usage, "connections", args.connections, 50, { min: 1, integer: true });
  const sampleS = numberArg(usage, "sample", args.sample, 10, { min: 0.1 });
  const mix = args.mix ?? "mixed";
  if (mix !== "hello" && mix !== "mixed") usageError(usage, `--mix must be hello or mixed, got ${JSON.stringify(mix)}`);
  const kinds = requestKinds();
  const pick =
    mix === "hello"
      ? () => kinds.hello!
      : (n: number, c: number) => {
          const r = (n * 7 + c * 13) % 10;
          return r < 7 ? kinds.hello! : r < 9 ? kinds.echo! : kinds.stream!;
        };
  const srv = await startServerProcess();
  ownChild(srv);
  console.log(`soak: tsgi (pid ${srv.pid}, port ${srv.port}), ${connections} keep-alive connections, ${mix} mix, ${seconds} s, RSS every ${sampleS} s`);
  const t0 = performance.now();
  const live = { answered: 0 };
  // `requests`: answered since the previous sample (steady load shows in every row)
  const samples: Array<{ t: number; rss: number; requests: number }> = [{ t: 0, rss: rssOf(srv.pid), requests: 0 }];
  let lastAnswered = 0;
  const sample = () => {
    samples.push({ t: (performance.now() - t0) / 1000, rss: rssOf(srv.pid), requests: live.answered - lastAnswered });
    lastAnswered = live.answered;
  };
  const timer = setInterval(sample, sampleS * 1000);
  const result = await keepAliveLoad({
    port: srv.port,
    connections,
    durationMs: seconds * 1000,
    pick,
    reconnectEvery: mix === "hello" ? 0 : 1000,
    live,
  });
  clearInterval(timer);
  sample();

  console.log("\n|    t (s) | RSS (MiB) | requests |");
  console.log("|---------:|----------:|---------:|");
  for (const s of samples) console.log(`| ${s.t.toFixed(0).padStart(8)} | ${(s.rss / MiB).toFixed(1).padStart(9)} | ${String(s.requests).padStart(8)} |`);
  // Every full interval must have carried load (a stalled generator is not a soak).
  const stalled = samples.slice(1, -1).filter((s) => s.requests === 0).length;

  // Trend over the samples after the first one (warm-up: JIT, pools, first allocations).
  const steady = samples.slice(1);
  const xs = steady.map((s) => s.t);
  const ys = steady.map((s) => s.rss / MiB);
  const k = slope(xs, ys); // MiB per second
  const span = xs.length > 1 ? xs.at(-1)! - xs[0]! : 0;
  const growth = k * span;
  const sorted = [...ys].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const last = ys.at(-1) ?? 0;
  const limit = Math.max(16, median * 0.1);
  const flat = steady.length < 3 || (growth < limit && last - median < 16);

  srv.kill("SIGTERM");
  const code = await Promise.race([srv.exited, Bun.sleep(15000).then(() => "timeout" as const)]);

  const rps = result.answered / (result.elapsedMs / 1000);
  console.log(
    `\nrequests: ${result.sent} sent, ${result.answered} answered correctly (${rps.toFixed(0)}/s), errors: ${result.errorCount}` +
      (result.errorCount ? ` ${JSON.stringify(result.errors)}` : "") +
      `\nlatency: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, max ${result.max.toFixed(1)} ms; peak open connections ${result.peakOpen}` +
      `\nRSS: first ${(samples[0]!.rss / MiB).toFixed(1)} MiB, median after warm-up ${median.toFixed(1)} MiB, last ${last.toFixed(1)} MiB, ` +
      `trend ${(k * 60).toFixed(2)} MiB/min (${growth.toFixed(1)} MiB over ${span.toFixed(0)} s, limit ${limit.toFixed(1)}) → ${flat ? "FLAT" : "GROWING"}` +
      `\nintervals without a single answered request: ${stalled}` +
      `\nserver exit on SIGTERM: ${code}`,
  );
  const ok = result.errorCount === 0 && result.answered === result.sent && flat && stalled === 0 && code === 0;
  console.log(ok ? "PASS" : "FAIL");
  process.exit(ok ? 0 : 1);
}

if (import.meta.main) await main();
