/**
 * `tsgi serve` as a process an operator runs, one process and workers: a
 * broken stderr or stdout pipe does not end it. Every loop is bounded in
 * count and time; every process started is stopped by its pid.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { catches, collect, fakeWallClock, fetchMany, freePort, LIBFAKETIME, processAlive, servingPort, spawnedProcesses } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";
import { DUPLICATE_SIGNAL_MS } from "../src/deploy/signals.ts";
import { rssOf } from "../bench/soak.ts";

const CLI = join(import.meta.dir, "../src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/workers-app.ts");

const dir = mkdtempSync(join(tmpdir(), "tsgi-deploy-process-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const procs = spawnedProcesses();

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `tsgi serve APP --port P ARGS` under bash with the redirections given
 * (`2> >(head -c 1 >/dev/null)`); bash execs it, so the pid is the server's.
 */
function serveUnderBash(port: number, args: string[], redirections: string): ReturnType<typeof Bun.spawn> {
  const cmd = `exec ${q(process.execPath)} ${q(CLI)} serve ${q(APP)} --port ${port} ${args.map(q).join(" ")} ${redirections}`;
  const proc = Bun.spawn(["bash", "-c", cmd], { stdout: "ignore", stderr: "ignore" });
  procs.push(proc);
  return proc;
}

/** GET a path on a new connection: its status, or 0 when the request failed. */
async function status(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: "close" }, signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}


describe("a broken stderr", () => {
  const cases: Array<[string, string[], string]> = [
    ["stderr to a reader that exits after one byte", [], "2> >(head -c 1 >/dev/null)"],
    ["stdout and stderr to one reader that exits after one line (2>&1 | head -1)", [], "> >(head -1 >/dev/null) 2>&1"],
    ["stderr to a reader that exits after one byte (workers)", ["--workers", "2"], "2> >(head -c 1 >/dev/null)"],
    ["stdout and stderr to one reader that exits after one line (workers)", ["--workers", "2"], "> >(head -1 >/dev/null) 2>&1"],
  ];
  for (const [name, args, redirections] of cases) {
    test(`does not end the server: ${name}`, async () => {
      const port = freePort();
      const proc = serveUnderBash(port, args, redirections);
      expect(await waitFor(async () => (await status(port, "/")) === 200 || proc.exitCode !== null, 15_000)).toBe(true);
      // Requests that write the error log (/throw) and the access log, spaced past the log's batch interval.
      const seen: number[] = [];
      for (const path of ["/", "/throw", "/", "/throw", "/", "/", "/"]) {
        seen.push(await status(port, path));
        await Bun.sleep(60);
      }
      expect(seen).toEqual([200, 500, 200, 500, 200, 200, 200]);
      expect(proc.exitCode).toBe(null);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 40_000);
  }
});

/** `tsgi serve APP --port 0 ARGS` with stdout and stderr collected; resolves once it serves, with the port it bound. */
async function serve(args: string[]) {
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", ...args], { stdout: "pipe", stderr: "pipe" });
  procs.push(proc);
  const out = collect(proc.stdout as ReadableStream<Uint8Array>);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
  if (!(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)) || proc.exitCode !== null) {
    throw new Error(`tsgi serve did not start: ${err()}`);
  }
  return { proc, port: servingPort(err())!, out: out.text, err, outDone: out.done };
}

/**
 * One raw keep-alive connection, opened at the first request, that never
 * retries: a request the server resets or closes under it fails. Reads
 * responses with a Content-Length.
 */
class RawKeepAlive {
  private socket: Socket | null = null;
  private buffer = Buffer.alloc(0);
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  /** Responses read on this connection. */
  served = 0;
  closed = false;

  constructor(private readonly port: number) {}

  async get(path: string, timeoutMs = 5000): Promise<{ status: number; close: boolean }> {
    if (this.closed) throw new Error("closed");
    if (!this.socket) {
      const socket = (this.socket = connect({ port: this.port, host: "127.0.0.1" }));
      socket.on("data", (d: Buffer) => {
        this.buffer = Buffer.concat([this.buffer, d]);
        this.wake?.();
      });
      socket.on("error", (e) => {
        this.failure = e;
        this.wake?.();
      });
      socket.on("close", () => {
        this.failure ??= new Error("connection closed by the server");
        this.wake?.();
      });
    }
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end !== -1) {
        const head = this.buffer.subarray(0, end).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
        if (Number.isNaN(length)) throw new Error(`no Content-Length: ${head}`);
        if (this.buffer.length >= end + 4 + length) {
          this.buffer = this.buffer.subarray(end + 4 + length);
          this.served++;
          const close = /\r\nconnection: *close/i.test(head);
          if (close) this.close();
          return { status: Number(head.split(" ")[1]), close };
        }
      }
      if (this.failure) {
        this.close();
        throw this.failure;
      }
      if (Date.now() > deadline) throw new Error("response timed out");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
}

describe("stopping", () => {
  for (const workers of [[], ["--workers", "2"]]) {
    test(`SIGTERM resets no request on an idle keep-alive connection: the request on its way is answered with Connection: close${workers.length ? " (workers)" : " (one process)"}`, async () => {
      const { proc, port } = await serve(["--no-access-log", ...workers]);
      const clients = 12;
      let ok = 0;
      let closes = 0;
      const reused: string[] = [];
      const stopAt = Date.now() + 600;
      // Past the stop: every connection idle at SIGTERM brings one more request (think time < the 1 s grace).
      const until = stopAt + 1500;
      const running = Promise.all(
        Array.from({ length: clients }, async () => {
          let conn = new RawKeepAlive(port);
          // Requests with think time between them (a proxy's pooled connection): most of the time idle.
          for (let i = 0; i < 200 && Date.now() < until; i++) {
            if (conn.closed) conn = new RawKeepAlive(port);
            const onReused = conn.served > 0;
            try {
              const r = await conn.get("/", 5000);
              if (r.status === 200) ok++;
              if (r.close) closes++;
            } catch (error) {
              // A new connection after the stop is refused: expected, a client retries elsewhere.
              if (onReused) reused.push(String(error));
              else if (Date.now() > stopAt) break;
            }
            await Bun.sleep(20 + Math.floor(Math.random() * 200));
          }
          conn.close();
        }),
      );
      await Bun.sleep(600);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      await running;
      expect(reused).toEqual([]);
      expect(ok).toBeGreaterThan(clients);
      // The connections that brought a request after the stop were told to close.
      expect(closes).toBeGreaterThan(0);
    }, 30_000);
  }
});

describe("the drain's one deadline", () => {
  // Streams n chunks ms apart (its head goes out at once, with keep-alive), or answers after ms.
  const app = join(dir, "drain-app.ts");
  writeFileSync(
    app,
    `const enc = new TextEncoder();
export default async (environ: Record<string, string>, sr: (s: string, h: [string, string][]) => unknown) => {
  const q = new URLSearchParams(environ.QUERY_STRING);
  const n = Number(q.get("n") ?? 0), ms = Number(q.get("ms") ?? 0);
  if (environ.PATH_INFO === "/stream") {
    sr("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* () { for (let i = 0; i < n; i++) { yield enc.encode("chunk\\n"); await Bun.sleep(ms); } })();
  }
  await Bun.sleep(ms);
  sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "3"]]);
  return [enc.encode("ok\\n")];
};
`,
  );

  /** One raw keep-alive connection: what it has read so far, and whether the server ended it. */
  function rawConnection(port: number) {
    const socket = connect({ port, host: "127.0.0.1" });
    const state = { text: "", ended: false };
    socket.on("data", (d: Buffer) => (state.text += d.toString("latin1")));
    socket.on("error", () => (state.ended = true));
    socket.on("close", () => (state.ended = true));
    return { socket, state, send: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`) };
  }

  for (const workers of [[], ["--workers", "1"]]) {
    const label = workers.length ? " (workers)" : " (one process)";
    test(`SIGTERM: a request in flight on a keep-alive connection is answered with Connection: close, and the connection then closes${label}`, async () => {
      const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--no-access-log", "--graceful-timeout", "5", ...workers], { stdout: "ignore", stderr: "pipe" });
      procs.push(proc);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
      expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
      const port = servingPort(err())!;
      const c = rawConnection(port);
      try {
        c.send("/?ms=0");
        expect(await waitFor(() => c.state.text.includes("ok\n"), 5000)).toBe(true);
        expect(c.state.text).not.toMatch(/connection: *close/i);
        c.state.text = "";
        c.send("/?ms=600");
        await Bun.sleep(200);
        const stopped = performance.now();
        proc.kill("SIGTERM");
        // The client keeps sending: the request in flight at SIGTERM is answered, with Connection: close.
        expect(await waitFor(() => c.state.text.includes("ok\n"), 5000)).toBe(true);
        expect(c.state.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(c.state.text).toMatch(/\r\nconnection: *close\r\n/i);
        c.send("/?ms=0");
        expect(await waitFor(() => c.state.ended, 3000)).toBe(true);
        expect(c.state.text.match(/HTTP\/1\.1/g)).toHaveLength(1);
        expect(await proc.exited).toBe(0);
        // Done as soon as the connection was: the 5 s are a bound, not a wait.
        expect(performance.now() - stopped).toBeLessThan(3000);
      } finally {
        c.socket.destroy();
      }
    }, 30_000);

    test(`SIGTERM: a keep-alive client that sends its next request as its response ends cannot hold the drain past --graceful-timeout: one deadline from the signal, not one per request${label}`, async () => {
      const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--no-access-log", "--graceful-timeout", "2", ...workers], { stdout: "ignore", stderr: "pipe" });
      procs.push(proc);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
      expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
      const port = servingPort(err())!;
      const c = rawConnection(port);
      try {
        // A stream whose head (keep-alive) goes out before the signal and which ends 1.5 s after it.
        c.send("/stream?n=4&ms=400");
        expect(await waitFor(() => c.state.text.includes("chunk"), 5000)).toBe(true);
        expect(c.state.text).not.toMatch(/connection: *close/i);
        const stopped = performance.now();
        proc.kill("SIGTERM");
        expect(await waitFor(() => c.state.text.includes("\r\n0\r\n\r\n") || c.state.ended, 5000)).toBe(true);
        expect(c.state.ended).toBe(false);
        c.state.text = "";
        // Its next request, sent at once (within the 1 s grace a keep-alive response gets), takes 4 s.
        c.send("/stream?n=10&ms=400");
        expect(await waitFor(() => c.state.ended, 6000)).toBe(true);
        const ended = performance.now() - stopped;
        expect(await proc.exited).toBe(0);
        // Answered with Connection: close, then cut at the drain's end: 2 s after the signal, not 2 s after this request began.
        expect(c.state.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(c.state.text).toMatch(/\r\nconnection: *close\r\n/i);
        expect(c.state.text).not.toContain("\r\n0\r\n\r\n");
        expect(ended).toBeGreaterThan(1900);
        expect(ended).toBeLessThan(3000);
        expect(err()).toContain("shutdown timeout 2000 ms");
      } finally {
        c.socket.destroy();
      }
    }, 30_000);
  }
});

describe("the access log at exit", () => {
  for (const workers of [[], ["--workers", "2"]]) {
    test(`a stdout reader that lags still gets every line after SIGTERM${workers.length ? " (workers)" : " (one process)"}`, async () => {
      const port = freePort();
      const file = join(dir, `access-${port}.log`);
      // The reader takes nothing for 2.5 s: the pipe fills (64 KiB) and the rest waits in the server.
      const proc = serveUnderBash(port, workers, `> >(sleep 2.5; exec cat > ${q(file)})`);
      expect(await waitFor(async () => (await status(port, "/")) === 200 || proc.exitCode !== null, 15_000)).toBe(true);
      // About 1 MB of log: lines of 700 bytes.
      const path = `/${"a".repeat(600)}`;
      const clients = 8;
      const perClient = 180;
      const ok = await fetchMany(port, path, clients, perClient);
      expect(ok).toBe(clients * perClient);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      const expected = clients * perClient + 1; // and the readiness probe's
      const lines = () => (existsSync(file) ? readFileSync(file, "latin1").split("\n").length - 1 : 0);
      await waitFor(() => lines() >= expected, 15_000);
      // cat may still be writing: let it finish before the last look.
      await Bun.sleep(200);
      expect(lines()).toBe(expected);
    }, 40_000);
  }
});

describe("the error log at exit", () => {
  const count = 80;
  for (const workers of [[], ["--workers", "2"]]) {
    test(`a stderr reader that lags still gets every error report after SIGTERM${workers.length ? " (workers)" : " (one process)"}`, async () => {
      const port = freePort();
      const file = join(dir, `errors-at-exit-${port}.log`);
      const go = join(dir, `errors-at-exit-go-${port}`);
      // The reader takes nothing until the test creates `go` (at most 60 s): the pipe fills (64 KiB) and the
      // rest waits in the server. It starts 1 s after the SIGTERM, within what a stopping worker waits
      // for stderr (2 s; a fixed sleep from the start raced it on a loaded machine: 18 of 80 reports).
      const reader = `for i in $(seq 600); do [ -e ${q(go)} ] && break; sleep 0.1; done; exec cat > ${q(file)}`;
      const proc = serveUnderBash(port, ["--no-access-log", ...workers], `2> >(${reader})`);
      try {
        expect(await waitFor(async () => (await status(port, "/")) === 200 || proc.exitCode !== null, 15_000)).toBe(true);
        // About 300 KB of error reports (each a 3 KB request-target and a stack), numbered.
        for (let i = 0; i < count; i++) expect(await status(port, `/throw?n${i}-${"a".repeat(3000)}`)).toBe(500);
        proc.kill("SIGTERM");
        await Bun.sleep(1000);
      } finally {
        writeFileSync(go, "");
      }
      expect(await proc.exited).toBe(0);
      const text = () => (existsSync(file) ? readFileSync(file, "latin1") : "");
      await waitFor(() => text().includes(`/throw?n${count - 1}-`), 15_000);
      // cat may still be writing: let it finish before the last look.
      await Bun.sleep(200);
      const seen = new Set([...text().matchAll(/Error in GET \/throw\?n(\d+)-/g)].map((m) => Number(m[1])));
      // Before: the exit dropped what waited for the reader past the pipe's 64 KiB, the last reports.
      expect(seen.size).toBe(count);
      // Every report whole: no other process's write cut into its first line, nor into any line (the
      // workers', the supervisor's). Before: each worker wrote the shared pipe itself, and with the reader
      // lagging Bun joined its queued writes into pieces of any length, cut where the pipe was full.
      const whole = new Set(
        [...text().matchAll(/^(?:\[tsgi worker \d+\] )?Error in GET \/throw\?n(\d+)-a{3000} HTTP\/1\.1: Error: app failure on purpose$/gm)].map((m) => Number(m[1])),
      );
      const cut = text().split("\n").filter((line) => line.indexOf("[tsgi ", 1) !== -1);
      expect(cut.map((line) => `${line.slice(0, 40)} ... ${line.slice(line.indexOf("[tsgi ", 1), line.indexOf("[tsgi ", 1) + 60)}`)).toEqual([]);
      expect(whole.size).toBe(count);
    }, 40_000);
  }
});

describe("a worker's error log, relayed by the supervisor", () => {
  test("what a worker writes to tsgi.errors just before it exits (process.exit) still reaches stderr, marked with its pid", async () => {
    const { proc, port, err } = await serve(["--no-access-log", "--workers", "2"]);
    // The worker exits mid-request: the client sees the connection end.
    expect(await status(port, "/log-then-crash")).toBe(0);
    expect(await waitFor(() => /\[tsgi worker \d+\] last words before the exit\n/.test(err()), 5000)).toBe(true);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);
});

describe("a worker's error log faster than the relay takes it", () => {
  test("what waits in the worker for the supervisor is bounded (16 MiB, then the worker writes stderr itself): a worker logging 4 MB per request to tsgi.errors peaks far below the 400 MB it logs, and every byte reaches stderr (before: the IPC queue held it, 650 MB peak)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-flood-"));
    const errFile = join(dir, "stderr.log");
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "1", "--no-access-log"], { stdout: "ignore", stderr: Bun.file(errFile) });
    procs.push(proc);
    try {
      const text = () => (existsSync(errFile) ? readFileSync(errFile, "latin1") : "");
      expect(await waitFor(() => servingPort(text()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
      const port = servingPort(text())!;
      const worker = Number(/listening \(pids (\d+)\)/.exec(text())![1]);
      const size = 4_000_000;
      let next = 0;
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < 100) {
            next++;
            const r = await fetch(`http://127.0.0.1:${port}/flood?${size}`, { signal: AbortSignal.timeout(60_000) });
            await r.arrayBuffer();
            statuses.push(r.status);
          }
        }),
      );
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker}/status`, "utf8"))![1]);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      // Before: every write waited in the worker's IPC queue for the supervisor (658 MB peak, 108 MB at 56232f2^).
      expect(peakKb).toBeLessThan(300_000);
      // Nothing lost: each write whole, on a line of its own, marked with the worker's pid.
      const lines = text().split("\n").filter((l) => l.includes("FFFF"));
      expect(lines.length).toBe(100);
      expect(lines.filter((l) => l !== `[tsgi worker ${worker}] ${"F".repeat(size)}`).length).toBe(0);
    } finally {
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("a stdout reader that stalls", () => {
  test("the access log waiting for it is capped (16 MiB): lines past it are dropped and counted on stderr, memory stays bounded", async () => {
    // The reader never reads; bash prints its pid (to stop it) and execs the server.
    const cmd = `exec > >(exec sleep 60); echo "reader $!" >&2; exec ${q(process.execPath)} ${q(CLI)} serve ${q(APP)} --port 0`;
    const proc = Bun.spawn(["bash", "-c", cmd], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
    expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(err())!;
    const reader = Number(/reader (\d+)/.exec(err())![1]);
    try {
      const rss = () => rssOf(proc.pid);
      // Lines of about 7 KB: 6400 requests make 45 MB of log, nearly three times the cap.
      const path = `/${"a".repeat(7000)}`;
      const send = (count: number) => fetchMany(port, path, 8, count / 8);
      // Warm up (and fill the pipe) before the first measure.
      expect(await send(800)).toBe(800);
      const before = rss();
      expect(await send(6400)).toBe(6400);
      expect(await waitFor(() => /stdout's reader is not keeping up: \d+ access log lines dropped \(16 MiB already waiting for it\)/.test(err()), 5000)).toBe(true);
      // Held, the 45 MB of log grew the process by over 100 MB; capped, by the 16 MiB and the requests' garbage (about 35 MB).
      expect(rss() - before).toBeLessThan(64 * 1024 * 1024);
      expect(proc.exitCode).toBe(null);
    } finally {
      process.kill(reader, "SIGKILL");
    }
    // The reader gone, stdout breaks: the stop does not wait for it.
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 60_000);
});

describe("a stdout reader that stalls, and the wall clock set back", () => {
  test.skipIf(!LIBFAKETIME)("the dropped-lines report still comes within 5 s after the clock is set back an hour (NTP stepping it, date -s); before: it was timed with Date.now() and held back the hour", async () => {
    const clock = fakeWallClock(join(dir, "offset-stalled-stdout"));
    const cmd = `exec > >(exec sleep 60); echo "reader $!" >&2; exec ${q(process.execPath)} ${q(CLI)} serve ${q(APP)} --port 0`;
    const env = { ...process.env, ...clock.env };
    const proc = Bun.spawn(["bash", "-c", cmd], { stdout: "ignore", stderr: "pipe", env });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
    expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(err())!;
    const reader = Number(/reader (\d+)/.exec(err())![1]);
    const reports = () => err().match(/stdout's reader is not keeping up: \d+ access log lines? dropped/g)?.length ?? 0;
    try {
      // Lines of about 7 KB: 3200 requests make 22 MB of log, past the 16 MiB cap (and the pipe's 64 KiB).
      const path = `/${"a".repeat(7000)}`;
      expect(await fetchMany(port, path, 8, 400)).toBe(3200);
      expect(await waitFor(() => reports() >= 1, 5000)).toBe(true);
      // Lines dropped after the first report are reported 5 s on, by a timer set before the jump: let it run.
      await Bun.sleep(6000);
      const before = reports();
      clock.set("-3600");
      await Bun.sleep(200);
      // More lines dropped: reported at once (5 s after the last report have passed), not an hour on.
      expect(await fetchMany(port, path, 8, 50)).toBe(400);
      expect(await waitFor(() => reports() === before + 1, 6000)).toBe(true);
      expect(proc.exitCode).toBe(null);
    } finally {
      process.kill(reader, "SIGKILL");
    }
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 60_000);
});

/**
 * `tsgi serve --https` started on a development-certificate cache whose lock
 * another process holds (the lock file is made first), returned once it waits
 * on the lock: its signal handlers are installed before it looks for the
 * certificate, so its wait starts after they are (`waiting`, `performance.now()` ms).
 */
async function waitingOnLock(env: Record<string, string> = {}) {
  const cache = mkdtempSync(join(dir, "cache-"));
  const lock = join(cache, "tsgi", "localhost.lock");
  mkdirSync(join(cache, "tsgi"), { recursive: true });
  writeFileSync(lock, "");
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(freePort()), "--https", "--no-access-log"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, ...env, XDG_CACHE_HOME: cache },
  });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
  expect(await waitFor(() => catches(proc.pid, 10), 10_000)).toBe(true);
  return { proc, err, lock, waiting: performance.now() };
}

describe("the certificate lock's wait and the wall clock", () => {
  test.skipIf(!LIBFAKETIME)("--https waiting on another process's certificate lock still takes it after 15 s when the wall clock is set back an hour meanwhile (NTP stepping it, date -s); before: the wait's deadline was on the wall clock, which held the start back the hour", async () => {
    const clock = fakeWallClock(join(dir, `offset-lock-${freePort()}`));
    // Held by "another process" that never lets go; then the clock goes back.
    const { proc, err, waiting } = await waitingOnLock(clock.env);
    clock.set("-3600");
    expect(await waitFor(() => /serving .* on /.test(err()) || proc.exitCode !== null, 25_000), err()).toBe(true);
    expect(proc.exitCode).toBe(null);
    expect(performance.now() - waiting).toBeGreaterThan(12_000); // the wait itself is unchanged: 15 s from the start
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 45_000);
});

describe("the certificate lock's wait and other waiters", () => {
  test("--https waiting on a lock whose holder released it and another process took it 12 s into the wait waits on that one (before: it took it at 15 s, 3 s into the other's hold, and both made and served their own pair)", async () => {
    const { proc, err, lock, waiting } = await waitingOnLock(); // held by "another process"
    await Bun.sleep(12_000);
    expect(err()).not.toMatch(/serving .* on /);
    // The holder releases it, and a third process (starting too) takes it at once.
    rmSync(lock);
    writeFileSync(lock, "");
    await Bun.sleep(19_000 - (performance.now() - waiting));
    expect(err()).not.toMatch(/serving .* on /); // still waiting: the new lock is 7 s old
    rmSync(lock); // released: it takes the lock and makes the pair
    expect(await waitFor(() => /serving .* on /.test(err()) || proc.exitCode !== null, 10_000), err()).toBe(true);
    expect(proc.exitCode).toBe(null);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 45_000);
});

describe("connection timeouts and the wall clock", () => {
  test.skipIf(!LIBFAKETIME)("the wall clock set forward an hour closes no idle keep-alive connection, and set back an hour still ends a trickled head at --header-timeout (before: the server's deadlines were timed with Date.now(): forward, every connection's deadline passed at once; back, slowloris went unchecked for the hour)", async () => {
    const clock = fakeWallClock(join(dir, "offset-timeouts"));
    const env = { ...process.env, ...clock.env };
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--header-timeout", "1", "--keep-alive", "5", "--no-access-log"], { stdout: "ignore", stderr: "pipe", env });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
    expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(err())!;
    const open = async () => {
      const socket = connect(port, "127.0.0.1");
      let got = "";
      let closed = false;
      socket.on("data", (d) => (got += d.toString("latin1")));
      socket.on("close", () => (closed = true));
      socket.on("error", () => {});
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      return { socket, got: () => got, closed: () => closed };
    };
    const a = await open();
    let b: Awaited<ReturnType<typeof open>> | undefined;
    try {
      // A: one request answered, then idle on keep-alive (5 s).
      a.socket.write("GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
      expect(await waitFor(() => a.got().startsWith("HTTP/1.1 200"), 5000)).toBe(true);
      // Forward an hour: A's keep-alive has more than 3 s left by the monotonic clock, so A stays open.
      clock.set("+3600");
      await Bun.sleep(1500);
      expect(a.closed()).toBe(false);
      const answered = a.got().length;
      a.socket.write("GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
      expect(await waitFor(() => a.got().length > answered && a.got().slice(answered).startsWith("HTTP/1.1 200"), 5000)).toBe(true);
      // B: a head begun (its deadline set an hour ahead), then the clock set back two hours: 408 within a few seconds.
      b = await open();
      b.socket.write("GET /slow HTTP/1.1\r\nHost: a\r\n");
      await Bun.sleep(100);
      clock.set("-3600");
      expect(await waitFor(() => b!.got().startsWith("HTTP/1.1 408") && b!.closed(), 5000)).toBe(true);
      expect(proc.exitCode).toBe(null);
    } finally {
      a.socket.destroy();
      b?.socket.destroy();
    }
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 40_000);
});

describe("a stderr reader that stalls", () => {
  test("the error log waiting for it is capped (16 MiB, STDERR_MAX_WAITING_BYTES): writes past it are dropped, counted once the reader catches up, memory stays bounded", async () => {
    const port = freePort();
    const file = join(dir, `errors-${port}.log`);
    const go = join(dir, `go-${port}`);
    // stderr's reader takes nothing until the test creates `go` (at most 60 s), then copies all to `file`.
    const reader = `for i in $(seq 600); do [ -e ${q(go)} ] && break; sleep 0.1; done; exec cat > ${q(file)}`;
    const proc = serveUnderBash(port, ["--no-access-log"], `2> >(${reader})`);
    try {
      await stalledStderr(proc, port, file, go);
    } finally {
      // The reader's wait ends even when the test fails.
      writeFileSync(go, "");
    }
  }, 90_000);
});

async function stalledStderr(proc: ReturnType<typeof Bun.spawn>, port: number, file: string, go: string): Promise<void> {
  expect(await waitFor(async () => (await status(port, "/")) === 200 || proc.exitCode !== null, 15_000)).toBe(true);
  const rss = () => rssOf(proc.pid);
  // Each request to /throw is a 500 and an error report of about 7.2 KB (its request line, the stack).
  const path = `/throw?${"a".repeat(7000)}`;
  const send = (count: number) => fetchMany(port, path, 8, count / 8, 500);
  // Warm up (and fill the pipe) before the first measure.
  expect(await send(800)).toBe(800);
  const before = rss();
  // 12,800 reports: about 92 MB of error log, nearly six times the cap.
  expect(await send(12_800)).toBe(12_800);
  // Held, the 92 MB grew the process by about 95 MiB (Bun queues a pipe's writes without limit); capped, by the
  // 16 MiB and the requests' garbage (about 17 MiB here).
  expect(rss() - before).toBeLessThan(64 * 1024 * 1024);
  expect(proc.exitCode).toBe(null);
  // The reader catches up: it gets what waited, then one line with the count of what was dropped.
  writeFileSync(go, "");
  const text = () => (existsSync(file) ? readFileSync(file, "latin1") : "");
  expect(await waitFor(() => /stderr's reader was not keeping up: \d+ error log writes dropped \(16 MiB already waiting for it\); logging goes on\n/.test(text()), 15_000)).toBe(true);
  const reports = (text().match(/Error in GET \/throw/g) ?? []).length;
  const dropped = Number(/not keeping up: (\d+) error log writes dropped/.exec(text())![1]);
  expect(reports).toBeGreaterThan(2000);
  expect(reports).toBeLessThan(13_600);
  expect(dropped).toBeGreaterThan(0);
  // Logging goes on after the report: a new failure is written in full.
  expect(await status(port, "/throw?after")).toBe(500);
  expect(await waitFor(() => text().includes("Error in GET /throw?after HTTP/1.1"), 5000)).toBe(true);
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}

describe("an app's stray errors", () => {
  for (const workers of [[], ["--workers", "2"]]) {
    test(`a rejection nobody handles and a timer that throws are logged with their stack, and serving goes on${workers.length ? " (workers)" : " (one process)"}`, async () => {
      const { proc, port, err } = await serve(["--no-access-log", ...workers]);
      const pids = new Set<number>();
      const pid = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
        return ((await res.json()) as { pid: number }).pid;
      };
      pids.add(await pid());
      for (const path of ["/stray-rejection", "/stray-exception", "/stray-rejection", "/stray-exception"]) {
        expect(await status(port, path)).toBe(200);
        await Bun.sleep(50);
        pids.add(await pid());
      }
      expect(await waitFor(() => (err().match(/Error in application/g) ?? []).length >= 4, 3000)).toBe(true);
      expect(err()).toMatch(/Error in application \(a promise rejected with no handler; serving goes on\): Error: a rejection nobody awaits\n\s+at /);
      expect(err()).toMatch(/Error in application \(an exception outside any request; serving goes on\): Error: a timer that throws\n\s+at /);
      // The same processes served throughout: none died and was replaced.
      expect(err()).not.toContain("exited unexpectedly");
      if (!workers.length) expect([...pids]).toEqual([proc.pid]);
      // Each report names its process: a worker's starts with [tsgi worker <pid>], the single process's with nothing.
      const marks = [...err().matchAll(/^(.*)Error in application/gm)].map((m) => m[1]!);
      expect(marks.length).toBeGreaterThanOrEqual(4);
      for (const mark of marks) {
        if (!workers.length) expect(mark).toBe("");
        else expect(pids.has(Number(/^\[tsgi worker (\d+)\] $/.exec(mark)?.[1]))).toBe(true);
      }
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 30_000);
  }

  test("a stray value that throws as it is read (a Proxy whose prototype trap throws, an object whose inspect hook throws) is reported as what it is, and the process serves on", async () => {
    const { proc, port, err } = await serve(["--no-access-log"]);
    for (const path of ["/stray-unreadable-exception", "/stray-unreadable-rejection"]) {
      expect(await status(port, path)).toBe(200);
      await Bun.sleep(50);
    }
    expect(await waitFor(() => (err().match(/Error in application/g) ?? []).length >= 2, 3000)).toBe(true);
    await Bun.sleep(100);
    // Still the same process, serving.
    expect(proc.exitCode).toBe(null);
    expect(await status(port, "/")).toBe(200);
    expect(err()).toContain(
      "Error in application (an exception outside any request; serving goes on): (a thrown object that cannot be read: reading it threw Error: a prototype trap that throws)",
    );
    expect(err()).toContain("Error in application (a promise rejected with no handler; serving goes on): [object Object]");
    // Each stray value is reported once, as itself: not the reporter's own failure as a new stray exception.
    expect(err().match(/Error in application/g)?.length).toBe(2);
    expect(err()).not.toContain("an inspect hook that throws");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);

  test("under --workers, a worker's maxConnections warning and its report of an app error name the worker ([tsgi worker <pid>]), once per message", async () => {
    const { proc, port, err } = await serve(["--no-access-log", "--workers", "1", "--max-connections", "1"]);
    const pid = ((await (await fetch(`http://127.0.0.1:${port}/env`, { signal: AbortSignal.timeout(3000) })).json()) as { pid: number }).pid;
    // One connection holds the only place; the next is answered 503, with the warning.
    const held = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      await Bun.sleep(100);
      expect(await status(port, "/")).toBe(503);
      // Waited for itself: the fetch above may leave its keep-alive connection open, which `held` then takes
      // the place of, with the other warning ("take the place of ..."), written first.
      const full = new RegExp(`^\\[tsgi worker ${pid}\\] Warning: maxConnections \\(1\\) reached: new connections are answered 503`, "m");
      expect(await waitFor(() => full.test(err()), 3000)).toBe(true);
    } finally {
      held.end();
    }
    // An app error's report: its first line marked, its stack as it is.
    expect(await waitFor(async () => (await status(port, "/throw")) === 500, 3000)).toBe(true);
    expect(await waitFor(() => /app failure on purpose/.test(err()), 3000)).toBe(true);
    expect(err()).toMatch(new RegExp(`^\\[tsgi worker ${pid}\\] Error in GET /throw HTTP/1\\.1: Error: app failure on purpose\\n {4}at `, "m"));
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);

  for (const workers of [["--workers", "1"], []]) {
    test(`an app's tsgi.errors write that leaves its line unended, then the server's report of an app error or a stray error: each report starts a line of its own${workers.length ? " (marked [tsgi worker <pid>])" : " (one process)"}`, async () => {
      const { proc, port, err } = await serve(["--no-access-log", ...workers]);
      const pid = ((await (await fetch(`http://127.0.0.1:${port}/env`, { signal: AbortSignal.timeout(3000) })).json()) as { pid: number }).pid;
      const mark = workers.length ? `[tsgi worker ${pid}] ` : "";
      const esc = (s: string) => s.replace(/[[\]]/g, "\\$&");
      expect(await status(port, "/partial-then-throw")).toBe(500);
      expect(await waitFor(() => /app failure after a partial line/.test(err()), 3000)).toBe(true);
      expect(await status(port, "/partial-then-stray")).toBe(200);
      expect(await waitFor(() => /a rejection after a partial line/.test(err()), 3000)).toBe(true);
      // The stray report ended the line the app left unended: the next report follows with no blank line before it.
      expect(await status(port, "/throw")).toBe(500);
      expect(await waitFor(() => /Error in GET \/throw HTTP\/1\.1/.test(err()), 3000)).toBe(true);
      expect(err()).toMatch(new RegExp(`\\n${esc(mark)}Error in GET /throw HTTP/1\\.1: Error: app failure on purpose\\n`));
      expect(err()).not.toMatch(new RegExp(`\\n${esc(mark)}\\n`));
      // The app's text as written, on its own line; the report on the next, marked as a worker's message is.
      expect(err()).toMatch(new RegExp(`^${esc(mark)}no newline here\\n${esc(mark)}Error in GET /partial-then-throw HTTP/1\\.1: Error: app failure after a partial line\\n`, "m"));
      expect(err()).toMatch(new RegExp(`^${esc(mark)}no newline there\\n${esc(mark)}Error in application \\(a promise rejected with no handler; serving goes on\\): Error: a rejection after a partial line\\n`, "m"));
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 30_000);
  }

  test("the library's serve() installs no process handler: the process is its owner's", async () => {
    const { serve: libraryServe } = await import("../src/server/index.ts");
    const events = ["unhandledRejection", "uncaughtException", "SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT"] as const;
    const counts = () => events.map((e) => process.listenerCount(e));
    const before = counts();
    const server = libraryServe(() => [], { port: 0, log: null });
    await server.close();
    expect(counts()).toEqual(before);
    expect(process.stderr.listenerCount("error")).toBe(0);
  });
});

describe("an open-file limit that cannot hold --max-connections", () => {
  for (const [label, args] of [["one process", []], ["--workers 2", ["--workers", "2"]]] as const) {
    test(`is warned about once, naming the flag, as tsgi serve's other warnings are ([warn]); it then serves (${label})`, async () => {
      const cmd = `ulimit -n 256 && exec ${q(process.execPath)} ${q(CLI)} serve ${q(APP)} --port 0 --no-access-log ${args.map(q).join(" ")}`;
      const proc = Bun.spawn(["bash", "-c", cmd], { stdout: "ignore", stderr: "pipe" });
      procs.push(proc);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
      expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
      const port = servingPort(err())!;
      expect(await status(port, "/")).toBe(200);
      const each = args.length ? " per worker" : "";
      const warning = `[warn] --max-connections 10000 (the default) is more than the open-file limit (256) can hold: serving at most 224 connections${each}. Raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more, or pass --max-connections 224 to serve that many without this warning`;
      expect(err().split("\n").filter((l) => l.includes("open-file limit"))).toEqual([warning]);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 30_000);
  }
});

describe("signals other servers use", () => {
  /** `tsgi serve` of an app whose import takes `importMs`; does not wait for it to serve. */
  function serveSlowImport(args: string[], importMs: number) {
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--no-access-log", ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, TSGI_TEST_IMPORT_MS: String(importMs) },
    });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
    return { proc, err };
  }

  test("while the app is still being imported, SIGUSR1, SIGUSR2 and SIGHUP do not kill the single process; it then serves", async () => {
    const { proc, err } = serveSlowImport([], 1500);
    // Bun is up, the app's import under way (a fixed 500 ms could signal before the handlers were installed).
    expect(await waitFor(() => err().includes("test app: importing"), 10_000)).toBe(true);
    for (const signal of ["SIGUSR1", "SIGUSR2", "SIGHUP"] as const) {
      proc.kill(signal);
      await Bun.sleep(50);
    }
    expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 10_000)).toBe(true);
    expect(proc.exitCode).toBe(null);
    expect(await status(servingPort(err())!, "/")).toBe(200);
    expect(err()).toContain("no log files to reopen");
    expect(err()).toContain("SIGHUP: reloading needs --workers");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 20_000);

  for (const workers of [[], ["--workers", "2"]]) {
    test(`--https waiting on another process's certificate lock: SIGUSR1 does not kill it, SIGTERM stops it with 0${workers.length ? " (supervisor)" : " (one process)"}`, async () => {
      const cache = mkdtempSync(join(dir, "cache-"));
      mkdirSync(join(cache, "tsgi"), { recursive: true });
      writeFileSync(join(cache, "tsgi", "localhost.lock"), ""); // held by "another process" for up to 15 s
      const port = freePort();
      const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--https", "--no-access-log", ...workers], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, XDG_CACHE_HOME: cache },
      });
      procs.push(proc);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
      // Its handlers are installed before it looks for the certificate; a fixed wait signalled a process
      // still starting under load, which SIGUSR1's default action ended.
      expect(await waitFor(() => catches(proc.pid, 10), 10_000)).toBe(true);
      proc.kill("SIGUSR1");
      expect(await waitFor(() => err().includes("SIGUSR1: no log files to reopen"), 5000)).toBe(true);
      await Bun.sleep(100);
      expect(proc.exitCode).toBe(null);
      expect(err()).not.toMatch(/serving .* on /); // still waiting on the lock
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(err()).toContain(workers.length ? "SIGTERM: stopping while starting, before serving" : "SIGTERM: stopped while starting, before serving");
      expect(err()).not.toContain("in-flight requests get");
    }, 20_000);
  }

  for (const workers of [[], ["--workers", "2"]]) {
    test(`SIGTERM while the app is still being imported stops at once with 0, and nothing says it is serving${workers.length ? " (supervisor)" : " (one process)"}`, async () => {
      const { proc, err } = serveSlowImport(workers, 2000);
      expect(await waitFor(() => err().includes("test app: importing"), 10_000)).toBe(true);
      const started = Date.now();
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      // Nothing is in flight, so no grace is promised (before: "SIGTERM: stopping; in-flight requests get 30s (Ctrl-C again ...)").
      if (workers.length) expect(err()).toMatch(/\] info: SIGTERM: stopping while starting, before serving\n/);
      else expect(err()).toContain("[info] SIGTERM: stopped while the app was loading, before serving\n");
      expect(err()).not.toContain("in-flight requests get");
      expect(err()).not.toMatch(/serving .* on /);
    }, 20_000);
  }

  test("SIGUSR1 (logrotate's postrotate habit) and SIGUSR2 do not stop the single process: USR1 is answered once, USR2 with a warning each time", async () => {
    const { proc, port, err } = await serve(["--no-access-log"]);
    const slow = fetch(`http://127.0.0.1:${port}/slow?1500`, { signal: AbortSignal.timeout(10_000) });
    await Bun.sleep(100);
    const told = (pattern: RegExp) => (err().match(pattern) ?? []).length;
    const reopen = /no log files to reopen: logs go to stdout\/stderr/g;
    const upgrade = /SIGUSR2 \(binary upgrade\) is not supported; ignored/g;
    // Each signal is sent again only once the first was answered: a standard signal sent while the
    // same one is still pending (the process not yet run, under load) is merged with it by the
    // kernel, one delivery for two kills (the second SIGUSR2 was lost so, ShdPnd 0x800 before its kill).
    // The second SIGUSR1 goes before the second SIGUSR2 (the lower number is delivered first), so it
    // was handled when the second warning is seen.
    proc.kill("SIGUSR1");
    expect(await waitFor(() => told(reopen) === 1, 5000)).toBe(true);
    proc.kill("SIGUSR2");
    expect(await waitFor(() => told(upgrade) === 1, 5000)).toBe(true);
    proc.kill("SIGUSR1");
    proc.kill("SIGUSR2");
    expect(await waitFor(() => told(upgrade) === 2, 5000)).toBe(true);
    expect((await slow).status).toBe(200);
    expect(await status(port, "/")).toBe(200);
    expect(told(reopen)).toBe(1);
    expect(proc.exitCode).toBe(null);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 20_000);

  test("SIGQUIT stops the single process gracefully, as SIGTERM does: the request in flight completes, then exit 0", async () => {
    const { proc, port, err } = await serve(["--no-access-log", "--graceful-timeout", "5"]);
    const slow = fetch(`http://127.0.0.1:${port}/slow?800`, { signal: AbortSignal.timeout(5000) });
    await Bun.sleep(200);
    proc.kill("SIGQUIT");
    const res = await slow;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { pathInfo: string }).pathInfo).toBe("/slow");
    expect(await proc.exited).toBe(0);
    expect(err()).toContain("SIGQUIT: stopping");
  }, 20_000);

  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGQUIT", 131],
  ] as const) {
    test(`a second ${signal} during the drain exits the single process at once with ${code} (128 + the signal's number)`, async () => {
      const { proc, port, err } = await serve(["--no-access-log", "--graceful-timeout", "20"]);
      const slow = fetch(`http://127.0.0.1:${port}/slow?10000`, { signal: AbortSignal.timeout(15_000) }).catch(() => "failed");
      await Bun.sleep(200);
      const started = Date.now();
      proc.kill(signal);
      expect(await waitFor(() => err().includes(`${signal}: stopping`), 3000)).toBe(true);
      // An operator's second signal: after the window in which a repeat is the same delivery twice.
      await Bun.sleep(DUPLICATE_SIGNAL_MS + 50);
      proc.kill(signal);
      expect(await proc.exited).toBe(code);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(err()).toContain(`${signal} again: exiting now`);
      expect(await slow).toBe("failed");
    }, 20_000);
  }

  test("a worker ignores SIGUSR1 and SIGUSR2, and drains on SIGQUIT (a terminal's Ctrl-\\ reaches the whole group)", async () => {
    const { proc, port, err } = await serve(["--no-access-log", "--workers", "1", "--graceful-timeout", "5"]);
    const workerPid = async () => ((await (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(3000) })).json()) as { pid: number }).pid;
    const worker = await workerPid();
    process.kill(worker, "SIGUSR1");
    process.kill(worker, "SIGUSR2");
    await Bun.sleep(200);
    expect(processAlive(worker)).toBe(true);
    expect(await workerPid()).toBe(worker);
    const slow = fetch(`http://127.0.0.1:${port}/slow?800`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    await Bun.sleep(200);
    process.kill(worker, "SIGQUIT");
    const res = await slow;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { pid: number }).pid).toBe(worker);
    expect(await waitFor(() => !processAlive(worker), 5000)).toBe(true);
    expect(err()).not.toContain("signal SIGQUIT");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);
});

describe("tsgi serve gives tsgi.signal to an app that wants it", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsgi-serve-signal-"));
  const file = join(dir, "app.ts");
  writeFileSync(
    file,
    `import { WANTS_SIGNAL } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
const answer = (environ: Record<string, unknown>, sr: (s: string, h: [string, string][]) => unknown) => {
  sr("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(String(environ["tsgi.signal"] instanceof AbortSignal))];
};
export const plain = (environ: Record<string, unknown>, sr: (s: string, h: [string, string][]) => unknown) => answer(environ, sr);
export const marked = Object.defineProperty((environ: Record<string, unknown>, sr: (s: string, h: [string, string][]) => unknown) => answer(environ, sr), WANTS_SIGNAL, { value: true });
`,
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const workers of [[], ["--workers", "1"]]) {
    test(`a TSGI app marked WANTS_SIGNAL (as fromFetchHandler's are) gets it, a plain one does not${workers.length ? " (workers)" : " (one process)"}`, async () => {
      const seen: string[] = [];
      for (const name of ["plain", "marked"]) {
        // The deploy middleware (--proxy-headers) wraps the app: the mark is read before it.
        const proc = Bun.spawn([process.execPath, CLI, "serve", `${file}:${name}`, "--port", "0", "--proxy-headers", ...workers], { stdout: "ignore", stderr: "pipe" });
        procs.push(proc);
        const err = collect(proc.stderr as ReadableStream<Uint8Array>).text;
        expect(await waitFor(() => servingPort(err()) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
        const port = servingPort(err())!;
        seen.push(await (await fetch(`http://127.0.0.1:${port}/`)).text());
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
      expect(seen).toEqual(["false", "true"]);
    }, 40_000);
  }
});
