/**
 * Nothing is left behind by faulty clients, reloads and stops: a server in
 * its own process (test/fixtures-proc/leak-probe.ts) goes through a barrage
 * of clients that reset mid-head, mid-body (Content-Length and chunked),
 * mid-response (array, generator, file_wrapper of a regular file, a Blob, a
 * FIFO and an fs.createReadStream), during 100-continue, that stall until
 * sendTimeout, headerTimeout (slowloris) or requestTimeout cut them, and TLS
 * clients that reset mid-handshake or mid-response. Afterwards its open
 * descriptors (/proc/PID/fd targets), live timers and process listeners are
 * the ones it had before, and its heap is within a stated bound. So are
 * `tsgi serve --workers 2`'s after SIGHUP reloads under traffic (the
 * supervisor's and the workers' descriptors), and tsgi-dev's after 50 saves
 * (descriptors and inotify watches), reloading in place and by restart.
 * Linux only (/proc); every wait is bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devCertificate } from "../src/server/tls.ts";
import { DevProcess, get as devGet, TempApp } from "../fixtures/dev/harness.ts";
import { fault, fdKinds, probe, tlsHalfHandshake, type Probe } from "./leak-faults.ts";
import { waitFor } from "./fault-helpers.ts";
import { servingPort, startServer } from "./helpers.ts";
import type { Application } from "../src/spec.ts";

const linux = existsSync("/proc/self/fd");
if (!linux) console.warn("SKIP: no /proc/self/fd; the leak tests are skipped");

let dir = "";
let writer: ReturnType<typeof Bun.spawn> | null = null;
const children: Array<ReturnType<typeof Bun.spawn>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tsgi-leaks-"));
  // 64 MiB, sparse past its first MiB: far more than a stream reads ahead, so an abandoned one holds its descriptor.
  writeFileSync(join(dir, "big.bin"), new Uint8Array(1 << 20).fill(0x63));
  truncateSync(join(dir, "big.bin"), 64 << 20);
  if (!linux) return;
  Bun.spawnSync(["mkfifo", join(dir, "fifo")]);
  // A writer for each reader of the FIFO: cat opens it when the server does, and ends when the server closes it.
  writer = Bun.spawn(["sh", "-c", `while :; do cat big.bin > fifo 2>/dev/null; done`], { cwd: dir, stdout: "ignore", stderr: "ignore" });
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  writer?.kill("SIGKILL");
  await Promise.all([...children.map((c) => c.exited), writer?.exited]);
  rmSync(dir, { recursive: true, force: true });
});

/** The multiset difference a - b of descriptor kinds. */
function extra(a: string[], b: string[]): string[] {
  const left = [...a];
  for (const x of b) {
    const i = left.indexOf(x);
    if (i >= 0) left.splice(i, 1);
  }
  return left;
}

async function startProbe(env: Record<string, string>): Promise<{ port: number; proc: ReturnType<typeof Bun.spawn> }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures-proc/leak-probe.ts")], {
    env: { ...process.env, DIR: dir, ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(proc);
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
  reader.releaseLock();
  const line = first?.value ? new TextDecoder().decode(first.value) : "";
  const m = /listening (\d+)/.exec(line);
  if (!m) throw new Error(`the probe server did not start: ${JSON.stringify(line)}`);
  return { port: Number(m[1]), proc };
}

const H = "Host: x\r\n";
const get = (p: string) => `GET ${p} HTTP/1.1\r\n${H}\r\n`;
const BODIES = ["/array", "/gen", "/file", "/blob", "/fifo", "/stream"];

/** Every faulty client once, all at once: ~25 connections. */
function barrage(port: number, tls: boolean): Promise<unknown[]> {
  const o = { port, tls };
  return Promise.all([
    fault({ ...o, send: "GET /array HTTP/1.1\r\nHo", afterMs: 30 }),
    fault({ ...o, send: `POST /echo HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n` + "x".repeat(1000), afterMs: 30 }),
    fault({ ...o, send: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1000\r\n` + "x".repeat(100), afterMs: 30 }),
    // Reset after the first 20 KB of the response, and before reading any of it.
    ...BODIES.map((p) => fault({ ...o, send: get(p), bytes: 20_000 })),
    ...BODIES.map((p) => fault({ ...o, send: get(p), afterMs: 100 })),
    // Never read, two requests pipelined: sendTimeout (500 ms) cuts them; then a FIN.
    ...BODIES.map((p) => fault({ ...o, send: get(p) + get(p), afterMs: 1500, fin: true })),
    fault({ ...o, send: `POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n`, until: "100 Continue" }),
    // headerTimeout (300 ms) answers 408: the client waits 1.5 s (as long as the longest fault here), as on a loaded
    // machine a TLS handshake and late sweeper ticks (a tick over 50 ms late holds deadlines one more) delay it.
    fault({ ...o, send: "GET / HTTP/1.1\r\nX: y", afterMs: 1500 }),
    fault({ ...o, send: get("/slow"), afterMs: 50 }),
    fault({ ...o, send: get("/slow"), afterMs: 1200 }), // requestTimeout (when set, 800 ms) answers 503
    fault({ ...o, fin: true, send: get("/gen"), bytes: 20_000 }),
    ...(tls ? [tlsHalfHandshake(port), tlsHalfHandshake(port)] : []),
  ]);
}

/**
 * The probe's state is back to `base`: the same descriptor targets, no more
 * live timers or process listeners. Polled for up to 5 s: a cut request's
 * cleanup takes at most CUT_REQUEST_CLEANUP_MS (3 s) past its cut.
 */
async function expectBack(port: number, tls: boolean, base: Probe): Promise<Probe> {
  let now = base;
  await waitFor(async () => {
    now = await probe(port, tls);
    return now.fds.length <= base.fds.length && now.timers.length <= base.timers.length;
  }, 5000);
  expect(extra(fdKinds(now.fds), fdKinds(base.fds))).toEqual([]);
  expect(now.timers.length).toBeLessThanOrEqual(base.timers.length);
  expect(now.listeners).toEqual(base.listeners);
  return now;
}

describe.skipIf(!linux)("descriptors, timers and listeners after faulty clients", () => {
  for (const tls of [false, true]) {
    test(`${tls ? "TLS" : "plain TCP"}: after 4 barrages of faulty clients (~100 connections) the server holds what it held before`, async () => {
      const env: Record<string, string> = { REQUEST_TIMEOUT: "800" };
      if (tls) {
        const cert = await devCertificate(join(dir, "cert-cache"));
        Object.assign(env, { TLS_CERT: cert.certfile, TLS_KEY: cert.keyfile });
      }
      const { port, proc } = await startProbe(env);
      // A first barrage loads what loads once (modules, pools, the TLS context), then the baseline.
      const seen: string[][] = [(await barrage(port, tls)) as string[]];
      const baseHeap = (await probe(port, tls, true)).heap;
      const base = await expectBack(port, tls, await probe(port, tls));
      for (let i = 0; i < 4; i++) seen.push((await barrage(port, tls)) as string[]);
      await expectBack(port, tls, base);
      // The faults reached their points (in some barrage: on a loaded machine a FIFO's writer or a timeout may be late):
      // each body was cut mid-response after its 200, headerTimeout answered 408 and requestTimeout 503.
      const got = (i: number) => seen.map((s) => String(s[i]).slice(0, 12));
      for (let k = 0; k < BODIES.length; k++) expect([BODIES[k], got(3 + k).includes("HTTP/1.1 200")]).toEqual([BODIES[k], true]);
      expect(seen.flat().some((s) => String(s).startsWith("HTTP/1.1 408"))).toBe(true);
      expect(seen.flat().some((s) => String(s).startsWith("HTTP/1.1 503"))).toBe(true);
      // Heap bound: 2 MiB over ~100 connections, below one leaked 16 KiB block or one 1 MiB chunk per connection.
      expect((await probe(port, tls, true)).heap - baseHeap).toBeLessThan(2 << 20);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 60_000);
  }
});

describe.skipIf(!linux)("server.close() with requests in flight", () => {
  test("close({ timeout: 200 }) with a slow app, a file and a FIFO being sent to clients that do not read, and a body half sent: once it resolves, this process holds the descriptors it held before the server started", async () => {
    const ownFds = () => fdsOf(process.pid).filter((k) => !k.startsWith("/proc/"));
    const app: Application = async (environ, sr) => {
      const path = environ.PATH_INFO;
      if (path === "/slow") await Bun.sleep(5000);
      if (path === "/echo") await environ["tsgi.input"].read();
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      if (path === "/file" || path === "/fifo") return environ["tsgi.file_wrapper"]!(Bun.file(join(dir, path === "/file" ? "big.bin" : "fifo")));
      return [new TextEncoder().encode("ok")];
    };
    // Warm up a server once (what loads once stays loaded), then the baseline.
    const warm = startServer(app);
    expect((await fetch(`${warm.url}/`)).status).toBe(200);
    await warm.server.close();
    await Bun.sleep(100);
    const before = ownFds();
    const { server, port } = startServer(app, { log: null, errorLog: null });
    const clients = [
      fault({ port, send: get("/slow"), afterMs: 3000 }),
      fault({ port, send: get("/file"), afterMs: 3000 }),
      fault({ port, send: get("/fifo"), afterMs: 3000 }),
      fault({ port, send: `POST /echo HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\nxyz`, afterMs: 3000 }),
      fault({ port, send: "GET / HTTP/1.1\r\nX: y", afterMs: 3000 }),
    ];
    await Bun.sleep(300);
    expect(server.connections).toBe(5);
    const began = Date.now();
    await server.close({ timeout: 200 });
    // The server closed every connection: each client saw it well before giving up itself (3 s).
    await Promise.all(clients);
    expect(Date.now() - began).toBeLessThan(2000);
    // Bound: the descriptors before the server started (these clients' own sockets are closed too).
    expect(extra(ownFds(), before)).toEqual([]);
  }, 20_000);
});

/** Descriptor kinds of process `pid` (see {@link fdKinds}). */
function fdsOf(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // closed meanwhile
    }
  }
  return fdKinds(out);
}

/** Inotify watches the process holds, over all its inotify descriptors. */
function inotifyWatches(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:inotify") continue;
      n += (readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").match(/^inotify wd/gm) ?? []).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe.skipIf(!linux)("tsgi serve --workers 2: SIGHUP reloads under traffic", () => {
  test("after 8 reloads with requests in flight, the supervisor holds the descriptors it held before and each new worker those of the first ones", async () => {
    const app = join(import.meta.dir, "apps/workers-app.ts");
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", app, "--port", "0", "--workers", "2", "--no-access-log"], {
      stdout: "ignore",
      stderr: "pipe",
    });
    children.push(proc);
    let log = "";
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log += new TextDecoder().decode(chunk);
    })();
    const reloaded = () => (log.match(/reloaded: new workers/g) ?? []).length;
    expect(await waitFor(() => childPids(proc.pid).length === 2 && servingPort(log) !== undefined, 10_000)).toBe(true);
    const port = servingPort(log)!;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => null))?.status === 200, 5000);
    const supBase = fdsOf(proc.pid);
    const workerBase = fdsOf(childPids(proc.pid)[0]!);
    for (let i = 1; i <= 8; i++) {
      // Requests the reload finds in flight: answered ones, and ones whose client leaves.
      const inFlight = [
        fetch(`http://127.0.0.1:${port}/slow?300`).then((r) => r.text()).catch(() => ""),
        fault({ port, send: get("/slow?2000"), afterMs: 100 }),
        fault({ port, send: get("/slow?300"), afterMs: 500, fin: true }),
      ];
      await Bun.sleep(20);
      proc.kill("SIGHUP");
      expect(await waitFor(() => reloaded() >= i, 10_000)).toBe(true);
      await Promise.all(inFlight);
    }
    // The old workers drain and exit; two remain.
    expect(await waitFor(() => childPids(proc.pid).length === 2, 10_000)).toBe(true);
    await waitFor(() => extra(fdsOf(proc.pid), supBase).length === 0, 3000);
    expect(extra(fdsOf(proc.pid), supBase)).toEqual([]);
    for (const pid of childPids(proc.pid)) expect(extra(fdsOf(pid), workerBase)).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 90_000);
});

describe.skipIf(!linux)("tsgi-dev: 50 saves", () => {
  for (const mode of ["inplace", "restart"]) {
    test(`--reload=${mode}: after 50 saves (every tenth one broken) the dev process holds the descriptors and inotify watches it held before`, async () => {
      const app = new TempApp({
        "lib.ts": `export const word = "v0";\n`,
        "app.ts": `import { word } from "./lib.ts";\nexport default (environ: any, sr: any) => { sr("200 OK", [["Content-Type", "text/plain"]]); return [new TextEncoder().encode(word)]; };\n`,
      });
      const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", `--reload=${mode}`], { cwd: app.dir });
      try {
        const url = await dev.ready();
        expect((await devGet(url)).text).toBe("v0");
        const base = fdsOf(dev.pid);
        const watches = inotifyWatches(dev.pid);
        // restart: the app runs in a worker process under the dev process; each restart starts another.
        const firstWorker = childPids(dev.pid)[0];
        const workerBase = firstWorker === undefined ? [] : fdsOf(firstWorker);
        expect(firstWorker === undefined).toBe(mode === "inplace");
        expect(watches).toBeGreaterThan(0);
        for (let i = 1; i <= 50; i++) {
          const broken = i % 10 === 5;
          app.write("lib.ts", broken ? `export const word = ;\n` : `export const word = "v${i}";\n`);
          const from = dev.output.length;
          if (broken) await dev.waitFor(/failed/, 10_000, from);
          else expect(await waitFor(async () => (await devGet(url).catch(() => null))?.text === `v${i}`, 10_000)).toBe(true);
        }
        // A restart's old process is gone within its stop; the new one took the socket over.
        await waitFor(() => extra(fdsOf(dev.pid), base).length === 0 && inotifyWatches(dev.pid) <= watches, 5000);
        expect(extra(fdsOf(dev.pid), base)).toEqual([]);
        expect(inotifyWatches(dev.pid)).toBe(watches);
        // restart: one worker process at a time under the dev process, holding what the first one held.
        await waitFor(() => childPids(dev.pid).length <= 1, 5000);
        expect(childPids(dev.pid).length).toBe(mode === "inplace" ? 0 : 1);
        for (const pid of childPids(dev.pid)) expect(extra(fdsOf(pid), workerBase)).toEqual([]);
      } finally {
        await dev.kill();
        app.remove();
      }
    }, 120_000);
  }
});
