/**
 * `tsgi serve --workers N` as an operator runs it, through the real CLI:
 * no configuration or private key in any worker's environment, renewed certificate files
 * picked up by SIGHUP, one intact access log line per request however many
 * workers share stdout, and a broken stdout pipe that stops the access log
 * but not the server. Every loop is bounded in count and time.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { devCertificate } from "../src/server/tls.ts";
import { crashDelay } from "../src/deploy/pool-policy.ts";
import { MAX_WORKERS_PER_CORE } from "../src/deploy/options.ts";
import { catches, collect, fetchMany, freePort, processAlive, servingPort, spawnedProcesses } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";

const CLI = join(import.meta.dir, "../src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/workers-app.ts");
const dir = mkdtempSync(join(tmpdir(), "tsgi-workers-ops-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const procs = spawnedProcesses();

/** How many child processes `pid` has now (pgrep -P): a supervisor's workers. */
function childCount(pid: number): number {
  return Bun.spawnSync(["pgrep", "-P", String(pid)]).stdout.toString().trim().split(/\s+/).filter(Boolean).length;
}

/**
 * `tsgi serve APP --workers N` on a port of its own (`--port 0`), access log off, once it logs
 * "worker(s) serving" (within `timeoutMs`): the process, its stderr and the port it bound.
 */
async function servingPool(app: string, workers: number, timeoutMs: number) {
  const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", String(workers), "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), timeoutMs)).toBe(true);
  return { proc, err, port: servingPort(err.text())! };
}

/** SIGTERM to a supervisor: it exits 0 within 15 s. */
/**
 * The pid of the first worker that answers on `port` (the fixture app answers its pid as JSON),
 * polling for up to 100 tries of 1 s each, 50 ms apart; 0 when none answered.
 */
async function servingWorkerPid(port: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const answer = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(1000) }).then(
      (r) => r.json() as Promise<{ pid: number }>,
      () => null,
    );
    if (answer) return answer.pid;
    await Bun.sleep(50);
  }
  return 0;
}

async function stopsCleanly(proc: { kill(signal: NodeJS.Signals): void; exited: Promise<number> }): Promise<void> {
  proc.kill("SIGTERM");
  expect(await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "still running")])).toBe(0);
}

/**
 * An app file `name`.ts serving APP, whose import, while the file `name`
 * exists (the flag), says "test app: broken import begins", then takes 1.5 s
 * to throw: a reload to new code that does not load, with time to act
 * during it.
 */
async function brokenOnReloadApp(name: string): Promise<{ flag: string; app: string }> {
  const flag = join(dir, name);
  const app = join(dir, `${name}.ts`);
  await Bun.write(
    app,
    `import { existsSync } from "node:fs";\nif (existsSync(${JSON.stringify(flag)})) {\n  console.error("test app: broken import begins");\n  await Bun.sleep(1500);\n  throw new Error("the new code is broken on purpose");\n}\nexport { default } from ${JSON.stringify(APP)};\n`,
  );
  return { flag, app };
}

describe("TLS under workers", () => {
  test("no worker's environment holds the private key; SIGHUP serves renewed certificate files", async () => {
    const first = await devCertificate(join(dir, "a"));
    const second = await devCertificate(join(dir, "b"));
    const certfile = join(dir, "cert.pem");
    const keyfile = join(dir, "key.pem");
    copyFileSync(first.certfile, certfile);
    copyFileSync(first.keyfile, keyfile);
    const port = freePort();
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", "2", "--certfile", certfile, "--keyfile", keyfile, "--no-access-log"], {
      stdout: "ignore",
      stderr: "pipe",
    });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) listening/.test(err.text()), 15_000)).toBe(true);
    const get = (ca: string) => fetch(`https://localhost:${port}/env`, { tls: { ca }, signal: AbortSignal.timeout(5000), headers: { connection: "close" } } as RequestInit);
    const seen = (await (await get(first.cert)).json()) as { pid: number; own: string | null; child: string };
    expect(seen.own).toBe(null);
    expect(seen.child).toBe("");
    // The worker's initial environment (what /proc shows): no configuration at all (it came over IPC), no key material.
    const environ = readFileSync(`/proc/${seen.pid}/environ`, "latin1");
    expect(environ).not.toContain("TSGI_WORKER");
    expect(environ).not.toContain("PRIVATE KEY");
    // Renew: new files under the same names, then a reload.
    copyFileSync(second.certfile, certfile);
    copyFileSync(second.keyfile, keyfile);
    proc.kill("SIGHUP");
    const renewed = await waitFor(async () => {
      try {
        return (await get(second.cert)).status === 200;
      } catch {
        return false;
      }
    }, 15_000);
    expect(renewed).toBe(true);
    // The new workers listen before the old ones stop (a graceful reload), so for a moment both answer:
    // wait for the supervisor's "reloaded" line and for the old certificate to be refused, then require it refused every time.
    expect(await waitFor(() => /reloaded: new workers/.test(err.text()), 15_000)).toBe(true);
    const refused = async () => get(first.cert).then(() => false, () => true);
    expect(await waitFor(refused, 10_000)).toBe(true);
    for (let i = 0; i < 6; i++) expect(await refused()).toBe(true);
  }, 60_000);
});

describe("the access log under workers", () => {
  test("two workers on one stdout pipe: one intact line per request, none lost at SIGTERM", async () => {
    const port = freePort();
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", "2"], { stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const out = collect(proc.stdout as ReadableStream<Uint8Array>);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) listening/.test(err.text()), 15_000)).toBe(true);
    // Long request lines: batches well past PIPE_BUF (4096 bytes) from both workers at once.
    const path = `/${"a".repeat(600)}`;
    const clients = 16;
    const perClient = 60;
    const ok = await fetchMany(port, path, clients, perClient);
    expect(ok).toBe(clients * perClient);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await out.done;
    const lines = out.text().trimEnd().split("\n");
    expect(lines).toHaveLength(clients * perClient);
    const shape = new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET ${path}\\?c\\d+i\\d+ HTTP/1\\.1" 200 \\d+ \\d+\\.\\d{6}$`);
    expect(lines.filter((l) => !shape.test(l))).toEqual([]);
    expect(new Set(lines.map((l) => /\?(c\d+i\d+) /.exec(l)![1])).size).toBe(clients * perClient);
    // The CLI's own messages are on stderr: stdout is the access log alone.
    expect(err.text()).toContain("worker(s) serving");
  }, 60_000);

  test("SIGTERM past --graceful-timeout with a stream asleep between events: the worker ends the cut request and exits by itself, not killed", async () => {
    const port = freePort();
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", "1", "--graceful-timeout", "1"], { stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const out = collect(proc.stdout as ReadableStream<Uint8Array>);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) listening/.test(err.text()), 15_000)).toBe(true);
    const stream = await fetch(`http://127.0.0.1:${port}/sse`);
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("data: hi\n\n");
    const t0 = Date.now();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const took = Date.now() - t0;
    await out.done;
    // Before: the server's wait for the cut stream's close() ran past the supervisor's kill at graceful-timeout + 1 s.
    expect(err.text()).not.toContain("killing it");
    expect(err.text()).toContain("the server stopped before the response ended (shutdown timeout 1000 ms); abandoned");
    expect(out.text()).toContain('"GET /sse HTTP/1.1" 200');
    expect(took).toBeLessThan(6000);
    await reader.cancel().catch(() => {});
  }, 40_000);

  for (const workers of [[], ["--workers", "2"]]) {
    test(`a broken stdout pipe stops the access log, not the server${workers.length ? " (workers)" : ""}`, async () => {
      // `head -c 1` exits after one byte: later log writes meet EPIPE.
      // A port known before the start (not --port 0): the finally finds the server (sh's child) by its command line.
      const port = freePort();
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} serve ${JSON.stringify(APP)} --port ${port} ${workers.join(" ")} | head -c 1 >/dev/null`;
      const proc = Bun.spawn(["sh", "-c", cmd], { stdout: "ignore", stderr: "pipe" });
      procs.push(proc);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>);
      try {
        expect(await waitFor(() => /serving .* on /.test(err.text()), 15_000)).toBe(true);
        const statuses: number[] = [];
        for (let i = 0; i < 8; i++) {
          const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000), headers: { connection: "close" } });
          await res.arrayBuffer();
          statuses.push(res.status);
          await Bun.sleep(40); // past the access log's batch interval: one write per request
        }
        expect(statuses).toEqual(Array(8).fill(200));
        expect(await waitFor(() => err.text().includes("access logging stopped"), 3000)).toBe(true);
        expect(err.text()).not.toContain("exited unexpectedly");
      } finally {
        // The server is sh's child: stop it by its command line (a pattern not starting with "-", which pkill would take as an option).
        const server = `cli/serve\\.ts serve .* --port ${port}( |$)`;
        Bun.spawnSync(["pkill", "-TERM", "-f", server]);
        for (let i = 0; i < 100 && Bun.spawnSync(["pgrep", "-f", server]).exitCode === 0; i++) await Bun.sleep(50);
        expect(Bun.spawnSync(["pgrep", "-f", server]).exitCode).toBe(1);
      }
    }, 40_000);
  }
});

describe("server limits and timeouts from the command line", () => {
  for (const workers of [[], ["--workers", "2"]]) {
    test(`--keep-alive 0, --max-header-count, --max-request-body-size, --request-timeout and --log-format reach the server${workers.length ? " (workers)" : ""}`, async () => {
      const proc = Bun.spawn(
        [process.execPath, CLI, "serve", APP, "--port", "0", ...workers, "--keep-alive", "0", "--max-header-count", "3", "--max-request-body-size", "10", "--request-timeout", "0.3", "--log-format", "%(request_line)s -> %(status_code)s"],
        { stdout: "pipe", stderr: "pipe" },
      );
      procs.push(proc);
      const out = collect(proc.stdout as ReadableStream<Uint8Array>);
      const err = collect(proc.stderr as ReadableStream<Uint8Array>);
      expect(await waitFor(() => /serving .* on /.test(err.text()), 15_000)).toBe(true);
      const port = servingPort(err.text())!;
      // --keep-alive 0: every response closes its connection, even an HTTP/1.1 client's.
      const rawGet = (head: string) =>
        new Promise<string>((resolve, reject) => {
          let text = "";
          const timer = setTimeout(() => reject(new Error(`no close within 5 s: ${text}`)), 5000);
          void Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              open: (s) => void s.write(head),
              data: (_s, d) => void (text += d.toString("latin1")),
              close: () => {
                clearTimeout(timer);
                resolve(text);
              },
            },
          });
        });
      const plain = await rawGet("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(plain).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(plain.toLowerCase()).toContain("\r\nconnection: close\r\n");
      // --max-header-count 3: a fourth field is 431.
      const many = await rawGet("GET /b HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
      expect(many).toStartWith("HTTP/1.1 431 ");
      // --max-request-body-size 10: an 11-byte body is 413.
      const big = await rawGet("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n0123456789A");
      expect(big).toStartWith("HTTP/1.1 413 ");
      // --request-timeout 0.3: an app that takes 2 s is answered 503 after about 0.3 s.
      const started = Date.now();
      const slow = await rawGet("GET /slow?2000 HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(slow).toStartWith("HTTP/1.1 503 ");
      expect(Date.now() - started).toBeLessThan(1500);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      await out.done;
      // --log-format: stdout has exactly the lines in the given format.
      expect(out.text().trimEnd().split("\n").sort()).toEqual(["- (rejected: Too many header fields) -> 431", "GET /a HTTP/1.1 -> 200", "GET /slow?2000 HTTP/1.1 -> 503", "POST /c HTTP/1.1 -> 413"]);
    }, 40_000);
  }

  test("--timeout without --workers is refused with a pointer to --request-timeout", async () => {
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--timeout", "10"], { stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(2);
    expect(stderr).toContain("--timeout is the worker heartbeat timeout and needs --workers; to bound each request use --request-timeout");
  }, 20_000);
});

describe("when workers cannot boot", () => {
  /** The pids in the supervisor's "N worker(s) listening (pids a, b)" line. */
  const listeningPids = (stderr: string) => (/worker\(s\) listening \(pids ([\d, ]+)\)/.exec(stderr)?.[1] ?? "").split(", ").map(Number);

  test("giving up after 5 boot failures in a row exits 1, so that systemd's Restart=on-failure restarts the service", async () => {
    // An app that cannot be imported once its database is gone.
    const flag = join(dir, "dbup");
    const app = join(dir, "needsdb.ts");
    await Bun.write(flag, "");
    await Bun.write(app, `import { existsSync } from "node:fs";\nif (!existsSync(${JSON.stringify(flag)})) throw new Error("database unreachable");\nexport { default } from ${JSON.stringify(APP)};\n`);
    const { proc, err } = await servingPool(app, 2, 15_000);
    rmSync(flag);
    process.kill(listeningPids(err.text())[0]!, "SIGKILL");
    // Replacements 0.2, 0.4, 0.6, 0.8 s apart, each failing at import: the fifth failure gives up.
    const code = await Promise.race([proc.exited, Bun.sleep(20_000).then(() => "still running")]);
    expect(err.text()).toContain("5 boot failures in a row, giving up");
    expect(code).toBe(1);
  }, 40_000);
});

describe("a worker that crashes soon after it listens, again and again", () => {
  test("is replaced after a wait that doubles with each quick crash (0.1, 0.2, 0.4, 0.8 s ... up to 10 s), logged with the wait, not ten times a second for ever", async () => {
    // Before, each replacement started 0.1 s after the crash (a worker that listened reset the boot-failure
    // count): about 3 crashes a second per worker, each with a log line, for as long as the service ran.
    expect([1, 2, 3, 4, 5, 8, 20].map(crashDelay)).toEqual([100, 200, 400, 800, 1600, 10_000, 10_000]);
    const app = join(dir, "crashes.ts");
    // A lost database connection: the app gives up shortly after it began serving.
    await Bun.write(app, `setTimeout(() => process.exit(1), 100);\nexport { default } from ${JSON.stringify(APP)};\n`);
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "1", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 15_000)).toBe(true);
    const started = Date.now();
    expect(await waitFor(() => /the 4th such crash in a row in its slot; starting a replacement in 0\.8 s/.test(err.text()), 10_000)).toBe(true);
    const elapsed = Date.now() - started;
    await Bun.sleep(Math.max(0, 4000 - elapsed));
    proc.kill("SIGTERM");
    expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
    const text = err.text();
    // 4 s hold about 6 quick crashes with the waits (each worker lives ~0.3 s), 12 or more without.
    const crashes = text.match(/exited unexpectedly/g)?.length ?? 0;
    expect(crashes).toBeGreaterThanOrEqual(4);
    expect(crashes).toBeLessThanOrEqual(7);
    expect(text).toMatch(/exited unexpectedly \(code 1\); starting a replacement\n/);
    const waits = [...text.matchAll(/starting a replacement in (\d+\.\d) s/g)].map((m) => m[1]);
    expect(waits.slice(0, 3)).toEqual(["0.2", "0.4", "0.8"]);
  }, 40_000);
});

describe("the crash backoff is kept per worker slot", () => {
  test("4 workers killed together soon after listening: each is a first quick crash, replaced after 0.1 s (before: the 2nd, 3rd, 4th in a row waiting 0.2, 0.4, 0.8 s)", async () => {
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "4", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
    const pids = /worker\(s\) listening \(pids ([\d, ]+)\)/.exec(err.text())![1]!.split(", ").map(Number);
    expect(pids.length).toBe(4);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    expect(await waitFor(() => (err.text().match(/listening \(a replacement\)/g)?.length ?? 0) === 4, 15_000)).toBe(true);
    const crashes = err.text().split("\n").filter((l) => l.includes("exited unexpectedly"));
    expect(crashes.length).toBe(4);
    for (const line of crashes) expect(line).toMatch(/exited unexpectedly \(signal SIGKILL\); starting a replacement$/);
    proc.kill("SIGTERM");
    expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
  }, 60_000);

  test("stop() cancels a replacement waiting out its backoff: a program using the Supervisor exits when it is done, not when the wait ends", async () => {
    const app = join(dir, "crashes-stop.ts");
    await Bun.write(app, `setTimeout(() => process.exit(1), 100);\nexport { default } from ${JSON.stringify(APP)};\n`);
    const script = join(dir, "stop-during-backoff.ts");
    await Bun.write(
      script,
      `import { Supervisor } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/supervisor.ts"))};
import { resolveDeployOptions } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/options.ts"))};
const deploy = resolveDeployOptions({ port: ${freePort()}, workers: 1 });
let stopping = false;
const s = new Supervisor({
  config: { app: ${JSON.stringify(app)}, cwd: ${JSON.stringify(dir)}, deploy, accessLog: false },
  log: (level, message) => {
    // The 5th quick crash in a row: its replacement waits 1.6 s.
    if (!stopping && /starting a replacement in 1\.6 s/.test(message)) {
      stopping = true;
      // As a SIGTERM during the wait: once the replacement's timer is set.
      setTimeout(() => void s.stop().then(() => console.log("stopped " + Date.now())), 50);
    }
  },
});
await s.start();
`,
    );
    const proc = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const out = collect(proc.stdout as ReadableStream<Uint8Array>);
    const exited = await Promise.race([proc.exited, Bun.sleep(25_000).then(() => "still running")]);
    const ended = Date.now();
    await out.done;
    expect(exited).toBe(0);
    const stoppedAt = Number(/stopped (\d+)/.exec(out.text())?.[1]);
    expect(stoppedAt).toBeGreaterThan(0);
    // Before, the 1.6 s timer kept the process alive after stop() had finished.
    expect(ended - stoppedAt).toBeLessThan(800);
  }, 40_000);
});

describe("stop() before start()", () => {
  test("a stop that comes before start() (SIGTERM while tsgi serve reads its TLS files) binds nothing and starts no worker: start() returns false at once (before: it bound the port and started workers that then served with the supervisor stopped)", async () => {
    const port = freePort();
    const script = join(dir, "stop-before-start.ts");
    await Bun.write(
      script,
      `import { Supervisor } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/supervisor.ts"))};
import { resolveDeployOptions } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/options.ts"))};
const s = new Supervisor({ config: { app: ${JSON.stringify(APP)}, cwd: ${JSON.stringify(dir)}, deploy: resolveDeployOptions({ port: ${port}, workers: 2 }), accessLog: false }, log: () => {} });
const stopped = s.stop();
const started = Date.now();
const ok = await Promise.race([s.start(), Bun.sleep(10_000).then(() => "start() still waiting")]);
const took = Date.now() - started;
// Whether anything serves the port now: the supervisor's socket or a worker's.
const connects = await Bun.connect({ hostname: "127.0.0.1", port: ${port}, socket: { data() {} } }).then((c) => (c.end(), true), () => false);
console.log(JSON.stringify({ ok, took, pids: s.pids(), connects }));
for (const pid of s.pids()) process.kill(pid, "SIGKILL");
await stopped;
process.exit(0);
`,
    );
    const proc = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    expect(await Promise.race([proc.exited, Bun.sleep(20_000).then(() => "still running")])).toBe(0);
    const result = JSON.parse((await new Response(proc.stdout).text()).trim() || "null");
    expect(result).toMatchObject({ ok: false, pids: [], connects: false });
    expect(result.took).toBeLessThan(1000);
  }, 30_000);
});

describe("SIGTTOU while a slot waits out its crash backoff", () => {
  test("drops the waiting replacement, not a serving worker: the healthy workers keep serving and the crash loop ends (before: a healthy worker stopped, the crashing one started again)", async () => {
    const flag = join(dir, "ttou-crash-flag");
    const app = join(dir, "crashes-when-flagged.ts");
    // Workers imported before the flag exists serve on; every worker imported after it crashes 0.1 s after listening.
    await Bun.write(app, `import { existsSync } from "node:fs";\nif (existsSync(${JSON.stringify(flag)})) setTimeout(() => process.exit(1), 100);\nexport { default } from ${JSON.stringify(APP)};\n`);
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "3", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
    const pids = /worker\(s\) listening \(pids ([\d, ]+)\)/.exec(err.text())![1]!.split(", ").map(Number);
    expect(pids.length).toBe(3);
    await Bun.write(flag, "");
    process.kill(pids[0]!, "SIGKILL");
    // The slot of the killed worker crash-loops; its 4th quick crash waits 0.8 s.
    expect(await waitFor(() => /the 4th such crash in a row in its slot; starting a replacement in 0\.8 s/.test(err.text()), 15_000)).toBe(true);
    proc.kill("SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 2 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    const atTtou = err.text();
    const crashesAtTtou = atTtou.match(/exited unexpectedly/g)?.length ?? 0;
    // Past the 0.8 s wait and a crash of the replacement it would start.
    await Bun.sleep(2_000);
    const text = err.text();
    expect(/one worker fewer: [^\n]*/.exec(text)![0]).not.toContain("stopping");
    expect([processAlive(pids[1]!), processAlive(pids[2]!)]).toEqual([true, true]);
    expect(text.match(/exited unexpectedly/g)?.length ?? 0).toBe(crashesAtTtou);
    await stopsCleanly(proc);
  }, 60_000);
});

/**
 * `tsgi serve APP --workers 2 --max-requests 2`, each worker's import taking
 * 1.5 s (so a recycle's replacement boots that long while the old worker
 * still serves), serving; `beforeRequests` runs once the pids are known.
 * Then requests until one worker reaches --max-requests (at most 3 on the
 * other first): the pid being recycled.
 */
async function recyclingPool(beforeRequests: (pids: number[]) => void = () => {}) {
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "2", "--max-requests", "2", "--no-access-log"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, TSGI_TEST_IMPORT_MS: "1500" },
  });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
  const port = servingPort(err.text())!;
  const pids = /worker\(s\) listening \(pids ([\d, ]+)\)/.exec(err.text())![1]!.split(", ").map(Number);
  expect(pids.length).toBe(2);
  beforeRequests(pids);
  for (let i = 0; i < 8 && !/ served 2 requests \(max-requests\); recycling/.test(err.text()); i++) {
    await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((r) => r.text());
    await waitFor(() => / served 2 requests \(max-requests\); recycling/.test(err.text()), 200);
  }
  const recycled = Number(/worker (\d+) served 2 requests \(max-requests\); recycling/.exec(err.text())?.[1]);
  return { proc, err, pids, recycled };
}

describe("a crash while another worker is being recycled (max-requests)", () => {
  test("is still replaced: the recycled worker and its replacement hold one place, so the pool gets back to --workers (before: the replacement was skipped and 1 of 2 workers served on)", async () => {
    const { proc, err, pids, recycled } = await recyclingPool();
    expect(pids).toContain(recycled);
    // The other worker crashes while the recycled one's replacement imports: its replacement waits 0.1 s, inside that import.
    const other = pids.find((p) => p !== recycled)!;
    process.kill(other, "SIGKILL");
    expect(await waitFor(() => new RegExp(`worker ${other} exited unexpectedly`).test(err.text()), 5_000)).toBe(true);
    // Both replacements boot (1.5 s each) and the recycled worker stops once its replacement listens.
    expect(await waitFor(() => /listening \(a replacement\)/.test(err.text()), 10_000)).toBe(true);
    expect(await waitFor(() => !processAlive(recycled), 10_000)).toBe(true);
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => children() === 2, 5_000)).toBe(true);
    await Bun.sleep(500);
    expect(children()).toBe(2);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTTOU while a worker is being recycled (max-requests)", () => {
  test("stops a worker that is not already on its way out: the pool ends at one fewer (before: the recycled worker was the one stopped, its replacement took its place, and 2 of 2 served on)", async () => {
    // The second worker paused (SIGSTOP: it accepts nothing), so that the supervisor's oldest worker,
    // the one SIGTTOU picked, takes the requests and is recycled.
    const { proc, err, pids, recycled } = await recyclingPool((pids) => process.kill(pids[1]!, "SIGSTOP"));
    expect(recycled).toBe(pids[0]!);
    // While the recycled worker's replacement imports (1.5 s).
    proc.kill("SIGTTOU");
    process.kill(pids[1]!, "SIGCONT");
    expect(await waitFor(() => /one worker fewer: 1 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    expect(/one worker fewer: [^\n]*/.exec(err.text())![0]).not.toContain(`stopping ${recycled} `);
    const children = () => childCount(proc.pid);
    // The replacement listens, the recycled worker stops: one worker left.
    expect(await waitFor(() => !processAlive(recycled) && children() === 1, 10_000)).toBe(true);
    await Bun.sleep(500);
    expect(children()).toBe(1);
    await stopsCleanly(proc);
  }, 60_000);
});

/** `tsgi serve APP --workers 2` whose import takes 1.5 s, serving, then SIGHUP sent and the new workers importing. */
async function reloadingPool() {
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "2", "--no-access-log"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, TSGI_TEST_IMPORT_MS: "1500" },
  });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
  const port = servingPort(err.text())!;
  proc.kill("SIGHUP");
  expect(await waitFor(() => (err.text().match(/test app: importing/g) ?? []).length === 4, 10_000)).toBe(true);
  const children = () => childCount(proc.pid);
  return { proc, err, port, children };
}

describe("SIGTTOU while a SIGHUP reload boots its new workers", () => {
  test("the pool ends one smaller once the reload is done (before: the reload's new workers, started for the old size, all served on: 2 of target 1)", async () => {
    const { proc, err, children } = await reloadingPool();
    const oldPids = /2 worker\(s\) listening \(pids (\d+), (\d+)\)/.exec(err.text())!.slice(1);
    proc.kill("SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 1 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    // What the operator reads: the worker stopped now is an old one, and the reload trims its new ones later.
    const fewer = /one worker fewer: [^\n]*/.exec(err.text())![0];
    expect(fewer).toMatch(/^one worker fewer: 1 worker\(s\) \(stopping old worker (\d+) gracefully now\); a reload is under way: once its new workers all listen, it keeps 1 of them and stops the rest$/);
    expect(oldPids).toContain(/old worker (\d+)/.exec(fewer)![1]);
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    expect(await waitFor(() => /the pool was made smaller during the reload \(SIGTTOU\): keeping 1 worker\(s\), stopping new worker\(s\) \d+ gracefully/.test(err.text()), 5_000)).toBe(true);
    expect(await waitFor(() => children() === 1, 10_000)).toBe(true);
    await Bun.sleep(500);
    expect(children()).toBe(1);
    await stopsCleanly(proc);
  }, 60_000);
});

/** `tsgi serve APP --workers 2` whose import takes 1.5 s, both first workers importing (the start-up under way). */
async function bootingPool() {
  const port = freePort();
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", "2", "--no-access-log"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, TSGI_TEST_IMPORT_MS: "1500" },
  });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  expect(await waitFor(() => (err.text().match(/test app: importing/g) ?? []).length === 2, 10_000)).toBe(true);
  return { proc, err, port, children: () => childCount(proc.pid) };
}

describe("SIGTTOU while the first workers boot", () => {
  test("the start goes on with one fewer and says so (before: the worker it stopped was taken for a boot failure: 'worker failed to boot: worker N exited before listening (signal SIGTERM)', exit 1, nothing served)", async () => {
    const { proc, err, port, children } = await bootingPool();
    proc.kill("SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 1 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    // Still importing the app: nothing to finish gracefully, and the line says what it was doing.
    const stopped = Number(/one worker fewer: 1 worker\(s\) \(stopping (\d+), still importing the app\)\n/.exec(err.text())![1]);
    expect(await waitFor(() => /worker\(s\) serving|failed to boot/.test(err.text()) || proc.exitCode !== null, 10_000)).toBe(true);
    expect(err.text()).not.toContain("failed to boot");
    expect(err.text()).toMatch(/\n?\[tsgi supervisor \d+\] info: 1 worker\(s\) listening \(pids \d+\)\n/);
    expect(err.text()).toMatch(/1 worker\(s\) serving /);
    expect(processAlive(stopped)).toBe(false);
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
    expect(children()).toBe(1);
    await Bun.sleep(500);
    expect(children()).toBe(1);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTTIN while the first workers boot", () => {
  test("the worker it starts is replaced like any other if it fails to boot, and the start-up lines count what listens (before: its failure was left to the start, which does not wait for it: never replaced, 2 of 3 for good, and '3 worker(s) listening (pids A, B)')", async () => {
    const claim = (n: number) => JSON.stringify(join(dir, `ttin-boot.${n}`));
    const app = join(dir, "ttin-boot.ts");
    // The 1st and 2nd imports (the start's) take 1.5 s; the 3rd (SIGTTIN's) throws at once; any later one loads.
    await Bun.write(
      app,
      `import { openSync } from "node:fs";\nconst claim = (f: string) => { try { openSync(f, "wx"); return true; } catch { return false; } };\n` +
        `if (claim(${claim(1)}) || claim(${claim(2)})) { console.error("test app: importing"); await Bun.sleep(1500); }\n` +
        `else if (claim(${claim(3)})) throw new Error("the 3rd import fails on purpose");\n` +
        `export { default } from ${JSON.stringify(APP)};\n`,
    );
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "2", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => (err.text().match(/test app: importing/g) ?? []).length === 2, 10_000)).toBe(true);
    proc.kill("SIGTTIN");
    expect(await waitFor(() => /one worker more: 3 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 10_000)).toBe(true);
    const port = servingPort(err.text())!;
    // The start-up lines count what listens, and the pool's size.
    // (SIGTTIN's failed worker's replacement may listen before the start's two, or after them.)
    const [, count, listed, starting] = /info: (\d+) worker\(s\) listening \(pids ([\d, ]+)\)(?: and (\d+) starting \(SIGTTIN\))?\n/.exec(err.text())!;
    expect(listed!.split(", ").length).toBe(Number(count));
    expect(Number(count) + Number(starting ?? 0)).toBe(3);
    expect(err.text()).toMatch(/3 worker\(s\) serving /);
    expect(await waitFor(() => /worker \d+ failed: [^\n]*the 3rd import fails on purpose/.test(err.text()), 5_000)).toBe(true);
    // Its end is a failed boot, not a crash of a serving worker.
    const failed = /worker (\d+) failed: [^\n]*the 3rd import fails on purpose/.exec(err.text())![1];
    expect(await waitFor(() => new RegExp(`worker ${failed} failed to boot \\(it exited before listening, code \\d+\\); starting a replacement\\n`).test(err.text()), 5_000)).toBe(true);
    expect(err.text()).not.toContain(`worker ${failed} exited unexpectedly`);
    expect(await waitFor(() => /listening \(a replacement\)/.test(err.text()) && children() === 3, 10_000)).toBe(true);
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
    await Bun.sleep(500);
    expect(children()).toBe(3);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTTIN while a SIGHUP reload boots its new workers", () => {
  test("says the worker it starts imports the new code and is not waited for by the reload; the pool ends one larger (before: 'one worker more: 3 worker(s) (starting N)', not saying which code or that the reload leaves it out)", async () => {
    const { proc, err, children } = await reloadingPool();
    proc.kill("SIGTTIN");
    expect(await waitFor(() => /one worker more: 3 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    expect(/one worker more: [^\n]*/.exec(err.text())![0]).toMatch(/^one worker more: 3 worker\(s\) \(starting \d+, which imports the app as the reload's new workers do; the reload under way does not wait for it, and stops it with them if it fails\)$/);
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    expect(await waitFor(() => children() === 3, 10_000)).toBe(true);
    await Bun.sleep(500);
    expect(children()).toBe(3);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTTIN while a SIGHUP reload that then fails boots its new workers", () => {
  test("the worker SIGTTIN started, which runs the new code, is stopped with the reload's new workers; its place is retried like an empty one, and filled once the app loads (before: it served the new code next to the old workers)", async () => {
    const flag = join(dir, "ttin-failed");
    const claim = (n: number) => JSON.stringify(join(dir, `ttin-failed.${n}`));
    const app = join(dir, "ttin-failed.ts");
    // Once the flag exists: the 1st and 2nd workers to import (the reload's) take 3 s to throw; the 3rd
    // (SIGTTIN's) imports at once and serves; any later one throws at once.
    await Bun.write(
      app,
      `import { existsSync, openSync } from "node:fs";\nconst claim = (f: string) => { try { openSync(f, "wx"); return true; } catch { return false; } };\n` +
        `if (existsSync(${JSON.stringify(flag)})) {\n  if (claim(${claim(1)}) || claim(${claim(2)})) { console.error("test app: broken import begins"); await Bun.sleep(3000); throw new Error("the new code is broken on purpose"); }\n` +
        `  else if (!claim(${claim(3)})) throw new Error("the new code is still broken");\n}\n` +
        `export { default } from ${JSON.stringify(APP)};\n`,
    );
    const { proc, err, port } = await servingPool(app, 2, 15_000);
    const oldPids = /2 worker\(s\) listening \(pids (\d+), (\d+)\)/.exec(err.text())!.slice(1).map(Number);
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => (err.text().match(/broken import begins/g) ?? []).length === 2, 10_000)).toBe(true);
    proc.kill("SIGTTIN");
    expect(await waitFor(() => /one worker more: 3 worker\(s\) \(starting \d+/.test(err.text()), 5_000)).toBe(true);
    const added = Number(/one worker more: 3 worker\(s\) \(starting (\d+)/.exec(err.text())![1]);
    expect(await waitFor(() => /reload failed/.test(err.text()), 10_000)).toBe(true);
    expect(await waitFor(() => !processAlive(added), 10_000)).toBe(true);
    expect(/reload failed[^\n]*/.exec(err.text())![0]).toMatch(
      new RegExp(`the old workers keep serving, but the pool is short: 2 of 3 worker\\(s\\) \\(worker ${added}, started by SIGTTIN during the reload, runs the new code: stopped\\)`),
    );
    const children = () => childCount(proc.pid);
    // Only the old workers serve; the empty place is retried with the app on disk, which fails.
    expect(await waitFor(() => /replacement worker \d+ failed to boot[^\n]*the pool is short, 2 of 3 worker\(s\) serving/.test(err.text()), 10_000)).toBe(true);
    const pids = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
      pids.add(((await r.json()) as { pid: number }).pid);
    }
    for (const pid of pids) expect(oldPids).toContain(pid);
    // The app loads again: the place is filled, and the next reload succeeds with 3 new workers.
    rmSync(flag);
    expect(await waitFor(() => /listening \(a replacement\)/.test(err.text()) && children() === 3, 15_000)).toBe(true);
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 15_000)).toBe(true);
    expect(/reloaded: new workers [^\n]*/.exec(err.text())![0]).toMatch(/^reloaded: new workers \d+, \d+, \d+; old workers draining$/);
    expect(await waitFor(() => children() === 3, 10_000)).toBe(true);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTERM while a SIGHUP reload boots its new workers", () => {
  test("a clean stop, exit 0, with no reload failure or short pool reported (before: 'reload failed (... signal SIGTERM); ... the pool is short: 0 of 2 worker(s) ... trying in 1.0 s')", async () => {
    const { proc, err } = await reloadingPool();
    await stopsCleanly(proc);
    await err.done;
    expect(err.text()).toContain("SIGTERM: stopping");
    expect(err.text()).not.toMatch(/reload failed|pool is short|replacement/);
  }, 60_000);
});

describe("--max-requests and SIGHUP reloads together", () => {
  test("a worker reaching --max-requests while a reload boots is left to the reload: the pool stays at --workers (before: its replacement, of neither generation, was a worker beyond --workers, 3 of 2 until the reload's SIGTTOU trim stopped a new one)", async () => {
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "2", "--max-requests", "2", "--no-access-log"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TSGI_TEST_IMPORT_MS: "1500" },
    });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
    const port = servingPort(err.text())!;
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloading: starting"), 5_000)).toBe(true);
    for (let i = 0; i < 4 && !/ served 2 requests \(max-requests\)/.test(err.text()); i++) {
      await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((r) => r.text());
      await waitFor(() => / served 2 requests \(max-requests\)/.test(err.text()), 200);
    }
    expect(err.text()).not.toContain("reloaded: new workers"); // the requests came during the reload
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => children() === 2, 10_000)).toBe(true);
    await Bun.sleep(2500); // a replacement started for the recycle would have listened by now
    expect(children()).toBe(2);
    // No worker beyond the pool was started, so none of the new ones had to be stopped.
    expect(err.text()).not.toContain("made smaller");
    await stopsCleanly(proc);
  }, 60_000);

  test("SIGTERM while a recycle's replacement boots: a clean stop, with no false 'failed to boot; the old worker keeps serving' (before: logged as the service stopped)", async () => {
    const { proc, err } = await recyclingPool();
    await stopsCleanly(proc);
    await err.done;
    expect(err.text()).toContain("SIGTERM: stopping");
    expect(err.text()).not.toContain("failed to boot");
  }, 60_000);
});

describe("a run of quick crashes ends once a worker has served 10 s", () => {
  test("a quick crash after a reload that followed 10 s of service is a first one again (0.1 s), not the next of the old run (before: 'the 3rd such crash in a row; starting a replacement in 0.4 s')", async () => {
    const { proc, err, port } = await servingPool(APP, 1, 15_000);
    const crash = () => fetch(`http://127.0.0.1:${port}/crash`, { signal: AbortSignal.timeout(3000) }).catch(() => null);
    const count = (re: RegExp) => err.text().match(re)?.length ?? 0;
    // A run of two quick crashes (the app fails on a request soon after it listens).
    for (let i = 1; i <= 2; i++) {
      await crash();
      expect(await waitFor(() => count(/listening \(a replacement\)/g) === i, 10_000)).toBe(true);
    }
    expect(err.text()).toContain("the 2nd such crash in a row in its slot; starting a replacement in 0.2 s");
    // The cause goes away: the replacement serves 10 s, then a reload (a deploy) replaces it.
    await Bun.sleep(10_500);
    proc.kill("SIGHUP");
    expect(await waitFor(() => /reloaded: new workers/.test(err.text()), 15_000)).toBe(true);
    expect(await waitFor(() => !processAlive(Number(/worker (\d+) listening \(a replacement\)\n(?![\s\S]*listening \(a replacement\))/.exec(err.text())![1])), 10_000)).toBe(true);
    // A one-off crash of the new worker: replaced at once, as a first crash.
    await crash();
    expect(await waitFor(() => count(/exited unexpectedly/g) === 3, 10_000)).toBe(true);
    const last = err.text().split("\n").filter((l) => l.includes("exited unexpectedly")).at(-1)!;
    expect(last).toMatch(/exited unexpectedly \(code 1\); starting a replacement$/);
    expect(await waitFor(() => count(/listening \(a replacement\)/g) === 3, 10_000)).toBe(true);
    proc.kill("SIGTERM");
    expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
  }, 60_000);
});

describe("a worker whose import never finishes", () => {
  /** An app module whose import hangs (a top-level await that never settles) while `flag` exists. */
  async function hangingApp(name: string, flag: string | null): Promise<string> {
    const app = join(dir, `${name}.ts`);
    const hang = "await new Promise(() => setInterval(() => {}, 1000));";
    await Bun.write(app, flag === null ? `${hang}\nexport default () => [];\n` : `import { existsSync } from "node:fs";\nif (existsSync(${JSON.stringify(flag)})) ${hang}\nexport { default } from ${JSON.stringify(APP)};\n`);
    return app;
  }

  test("at start-up: killed at --timeout, and the start fails with exit 1 and a message saying so", async () => {
    const app = await hangingApp("hang", null);
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "2", "--timeout", "2"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    const started = Date.now();
    const code = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "still running")]);
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    await err.done;
    expect(err.text()).toMatch(/worker failed to boot: worker \d+ did not listen within 2s of starting \(--timeout\); its import may be hanging/);
  }, 30_000);

  test("on SIGHUP: the reload fails at --timeout and the old workers keep serving; a SIGHUP meanwhile is logged, a later one reloads", async () => {
    const flag = join(dir, "hang-on-reload");
    const app = await hangingApp("hang-on-reload", flag);
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "2", "--timeout", "3", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 15_000)).toBe(true);
    const port = servingPort(err.text())!;
    const get = async () => (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).status;
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloading: starting 2 new worker(s)"), 5000)).toBe(true);
    await Bun.sleep(300);
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reload already in progress"), 5000)).toBe(true);
    expect(await get()).toBe(200);
    expect(await waitFor(() => /reload failed \(worker \d+ did not listen within 3s of starting \(--timeout\); .*\); the old workers keep serving/.test(err.text()), 10_000)).toBe(true);
    expect(await get()).toBe(200);
    rmSync(flag);
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    expect(await get()).toBe(200);
    expect(proc.exitCode).toBe(null);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 40_000);
});

describe("a reload whose new code does not load, while a worker is lost", () => {
  test("an old worker killed during a failed SIGHUP reload: the short pool is logged, replacements that fail are retried without stopping the service, and the pool is whole once the app loads", async () => {
    // While the flag exists, the app takes 1.5 s to fail at import: time to kill a worker during the reload.
    const { flag, app } = await brokenOnReloadApp("broken-on-reload");
    const { proc, err, port } = await servingPool(app, 3, 15_000);
    const oldPids = /3 worker\(s\) listening \(pids (\d+), (\d+), (\d+)\)/.exec(err.text())!.slice(1).map(Number);
    const get = async () => (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).status;
    const listening = () => childCount(proc.pid);
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => (err.text().match(/broken import begins/g) ?? []).length === 3, 10_000)).toBe(true);
    process.kill(oldPids[0]!, "SIGKILL");
    expect(await waitFor(() => /reload failed \(.*broken on purpose.*\); the old workers keep serving, but the pool is short: 2 of 3 worker\(s\)/.test(err.text()), 10_000)).toBe(true);
    expect(err.text()).toContain(`worker ${oldPids[0]} exited (signal SIGKILL) during the reload`);
    // A second old worker lost: its replacement fails too (before: the 5th boot failure in a row, and the supervisor gave up, taking the last worker down).
    process.kill(oldPids[1]!, "SIGKILL");
    expect(await waitFor(() => /the pool is short, 1 of 3 worker\(s\) serving; trying again/.test(err.text()), 10_000)).toBe(true);
    expect(await waitFor(() => (err.text().match(/replacement worker \d+ failed to boot/g) ?? []).length >= 3, 15_000)).toBe(true);
    expect(err.text()).not.toMatch(/boot failures in a row, giving up/);
    expect(proc.exitCode).toBe(null);
    expect(await get()).toBe(200);
    // The app loads again (fixed on disk, no SIGHUP yet): the next tries fill the pool.
    rmSync(flag);
    expect(await waitFor(() => (err.text().match(/listening \(a replacement\)/g) ?? []).length === 2 && listening() === 3, 40_000)).toBe(true);
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 15_000)).toBe(true);
    expect(await waitFor(() => listening() === 3, 10_000)).toBe(true);
    expect(await get()).toBe(200);
    await stopsCleanly(proc);
  }, 90_000);
});

describe("a short pool after a failed reload, two places empty", () => {
  test("each place is retried on its own schedule: both replacements that fail wait 2.0 s, then both 4.0 s (before: one counter for the pool, the 2nd failure waiting 4.0 s and each round doubling the wait twice)", async () => {
    const { flag, app } = await brokenOnReloadApp("broken-two-short");
    const { proc, err } = await servingPool(app, 3, 15_000);
    const oldPids = /3 worker\(s\) listening \(pids (\d+), (\d+), (\d+)\)/.exec(err.text())!.slice(1).map(Number);
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => (err.text().match(/broken import begins/g) ?? []).length === 3, 10_000)).toBe(true);
    process.kill(oldPids[0]!, "SIGKILL");
    process.kill(oldPids[1]!, "SIGKILL");
    expect(await waitFor(() => /the pool is short: 1 of 3 worker\(s\)/.test(err.text()), 10_000)).toBe(true);
    const waits = () => [...err.text().matchAll(/replacement worker \d+ failed to boot[^\n]*trying again in ([\d.]+) s/g)].map((m) => m[1]);
    expect(await waitFor(() => waits().length >= 2, 15_000)).toBe(true);
    expect(waits().slice(0, 2)).toEqual(["2.0", "2.0"]);
    expect(await waitFor(() => waits().length >= 4, 15_000)).toBe(true);
    expect(waits().slice(2, 4)).toEqual(["4.0", "4.0"]);
    expect(proc.exitCode).toBe(null);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("a new worker that crashes after listening while the rest of its reload still boots", () => {
  test("is replaced once the reload succeeds: the pool is whole again (before 2d85690: its replacement was skipped, the old workers holding the places, and 1 of 2 served on)", async () => {
    const flag = join(dir, "crash-first");
    const first = join(dir, "crash-first.claimed");
    const app = join(dir, "crash-first.ts");
    // Once the flag exists, the first worker to import claims a file, listens at once and exits 0.5 s later;
    // every other worker takes 2 s to import, then serves.
    await Bun.write(
      app,
      `import { existsSync, openSync } from "node:fs";\nif (existsSync(${JSON.stringify(flag)})) {\n  let claimed = false;\n  try { openSync(${JSON.stringify(first)}, "wx"); claimed = true; } catch {}\n  if (claimed) { console.error("test app: crashes soon"); setTimeout(() => process.exit(1), 500); }\n  else await Bun.sleep(2000);\n}\nexport { default } from ${JSON.stringify(APP)};\n`,
    );
    const { proc, err, port } = await servingPool(app, 2, 15_000);
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("test app: crashes soon"), 10_000)).toBe(true);
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    expect(err.text()).toMatch(/exited unexpectedly \(code 1\)/);
    // The crash came before the reload ended: the other new worker was still importing.
    expect(err.text().indexOf("exited unexpectedly (code 1)")).toBeLessThan(err.text().indexOf("reloaded: new workers"));
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => /listening \(a replacement\)/.test(err.text()) && children() === 2, 10_000)).toBe(true);
    await Bun.sleep(500);
    expect(children()).toBe(2);
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
    await r.text();
    await stopsCleanly(proc);
  }, 60_000);
});

describe("a new worker that crashes after listening during its reload, and its replacement after it", () => {
  test("the replacement started when the reload ends keeps the crashed worker's slot: its own quick crash is the 2nd in a row, waited for 0.2 s (before: a fresh slot, reported as a 1st crash)", async () => {
    const flag = join(dir, "crash-twice");
    const claim = (n: number) => JSON.stringify(join(dir, `crash-twice.${n}`));
    const app = join(dir, "crash-twice.ts");
    // Once the flag exists: the 1st worker to import listens and exits 0.5 s later; the 2nd takes 2 s
    // to import, then serves; the 3rd (the replacement) listens and exits 0.5 s later; any later one serves.
    const crash = `{ console.error("test app: crashes soon"); setTimeout(() => process.exit(1), 500); }`;
    await Bun.write(
      app,
      `import { existsSync, openSync } from "node:fs";\nconst claim = (f: string) => { try { openSync(f, "wx"); return true; } catch { return false; } };\n` +
        `if (existsSync(${JSON.stringify(flag)})) {\n  if (claim(${claim(1)})) ${crash}\n  else if (claim(${claim(2)})) await Bun.sleep(2000);\n  else if (claim(${claim(3)})) ${crash}\n}\n` +
        `export { default } from ${JSON.stringify(APP)};\n`,
    );
    const { proc, err } = await servingPool(app, 2, 15_000);
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 10_000)).toBe(true);
    expect(await waitFor(() => (err.text().match(/exited unexpectedly/g) ?? []).length === 2, 10_000)).toBe(true);
    const crashes = err.text().match(/worker \d+ exited unexpectedly \(code 1\)[^\n]*/g)!;
    expect(crashes[1]).toMatch(/the 2nd such crash in a row in its slot; starting a replacement in 0\.2 s/);
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => (err.text().match(/listening \(a replacement\)/g) ?? []).length === 2 && children() === 2, 10_000)).toBe(true);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("SIGTTOU while a short pool's replacement boots after a failed reload", () => {
  test("stops the booting replacement, which cannot load the app, not a serving worker: 2 of 2 serve on and the retries end (before: a serving worker stopped, 1 of 2 served, the retries went on)", async () => {
    const { flag, app } = await brokenOnReloadApp("broken-ttou");
    const { proc, err } = await servingPool(app, 3, 15_000);
    const oldPids = /3 worker\(s\) listening \(pids (\d+), (\d+), (\d+)\)/.exec(err.text())!.slice(1).map(Number);
    const begun = () => (err.text().match(/broken import begins/g) ?? []).length;
    await Bun.write(flag, "");
    proc.kill("SIGHUP");
    expect(await waitFor(() => begun() === 3, 10_000)).toBe(true);
    process.kill(oldPids[0]!, "SIGKILL");
    expect(await waitFor(() => /the pool is short: 2 of 3 worker\(s\)/.test(err.text()), 10_000)).toBe(true);
    // The replacement 1 s later imports the broken app (1.5 s): SIGTTOU meanwhile.
    expect(await waitFor(() => begun() === 4, 5_000)).toBe(true);
    proc.kill("SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 2 worker\(s\)/.test(err.text()), 5_000)).toBe(true);
    const line = /one worker fewer: [^\n]*/.exec(err.text())![0];
    for (const pid of oldPids) expect(line).not.toContain(`stopping ${pid} `);
    const children = () => childCount(proc.pid);
    expect(await waitFor(() => children() === 2, 10_000)).toBe(true);
    await Bun.sleep(3000); // a retry would have begun (2 s after a failure)
    expect(processAlive(oldPids[1]!) && processAlive(oldPids[2]!)).toBe(true);
    expect(children()).toBe(2);
    expect(begun()).toBe(4);
    expect(err.text()).not.toMatch(/replacement worker \d+ failed to boot/);
    await stopsCleanly(proc);
  }, 60_000);
});

describe("signals from log rotation and other servers' habits", () => {
  /** `tsgi serve --workers N` in its own process group (setsid), its app taking `importMs` to import. */
  function startGroupBooting(workers: number, importMs: number) {
    const port = freePort();
    const proc = Bun.spawn(["setsid", process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", String(workers), "--no-access-log"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TSGI_TEST_IMPORT_MS: String(importMs) },
    });
    procs.push(proc);
    return { port, proc, err: collect(proc.stderr as ReadableStream<Uint8Array>) };
  }

  /** Wait (bounded) until `n` workers say on stderr that their import of the app has begun. */
  async function importing(err: { text: () => string }, n: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((err.text().match(/test app: importing/g) ?? []).length < n && Date.now() < deadline) await Bun.sleep(20);
    expect((err.text().match(/test app: importing/g) ?? []).length).toBeGreaterThanOrEqual(n);
  }

  test("Ctrl-C to the whole process group while the workers still import the app: a clean stop (exit 0), never \"failed to boot\" (5 tries)", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { proc, err } = startGroupBooting(1, 2000);
      await importing(err, 1); // a fixed 600 ms could signal the group before the worker, or its supervisor, was up
      process.kill(-proc.pid, "SIGINT");
      const code = await proc.exited;
      await err.done;
      expect([attempt, code, err.text().includes("failed to boot")]).toEqual([attempt, 0, false]);
    }
  }, 40_000);

  test("kill -TERM -PGID while the pool still starts, the exit of the worker already serving seen before the supervisor's own SIGTERM: no 'exited unexpectedly ...; starting a replacement' line, no replacement, exit 0", async () => {
    // The first worker's import is quick, the second's takes 4 s: the pool is still starting while the first serves.
    const claim = join(dir, "group-stop.first");
    const app = join(dir, "group-stop.ts");
    await Bun.write(
      app,
      `import { openSync } from "node:fs";\nlet first = false;\ntry { openSync(${JSON.stringify(claim)}, "wx"); first = true; } catch {}\n` +
        `if (!first) { console.error("test app: importing"); await Bun.sleep(4000); }\nexport { default } from ${JSON.stringify(APP)};\n`,
    );
    const port = freePort();
    const proc = Bun.spawn(["setsid", process.execPath, CLI, "serve", app, "--port", String(port), "--workers", "2", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    await importing(err, 1);
    const serving = await servingWorkerPid(port);
    expect(serving).toBeGreaterThan(0);
    expect(err.text()).not.toContain("worker(s) listening"); // still starting
    // What a loaded machine does to a group signal at random, made certain: the serving worker stops
    // and its exit is reaped by the supervisor (kill -0 fails only then) before the supervisor's
    // SIGTERM arrives, a few ms later.
    process.kill(serving, "SIGTERM");
    for (let i = 0; i < 1000 && processAlive(serving); i++) await Bun.sleep(5);
    expect(processAlive(serving)).toBe(false);
    process.kill(-proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
    await err.done;
    const text = err.text();
    expect(text).toContain("SIGTERM: stopping while starting, before serving");
    expect(text).not.toContain("exited unexpectedly");
    expect(text).not.toContain("replacement");
  }, 30_000);

  test("SIGTERM while one worker already serves and the other still imports the app: the stop line names the serving worker and its grace, its in-flight request is answered, exit 0 (before: 'stopping while starting, before serving')", async () => {
    // The first worker's import is quick, the second's takes 4 s; /held says on stderr that it has the request, then answers 1.5 s later.
    const claim = join(dir, "partly-serving.first");
    const app = join(dir, "partly-serving.ts");
    await Bun.write(
      app,
      `import { openSync } from "node:fs";\nimport inner from ${JSON.stringify(APP)};\nlet first = false;\ntry { openSync(${JSON.stringify(claim)}, "wx"); first = true; } catch {}\n` +
        `if (!first) { console.error("test app: importing"); await Bun.sleep(4000); }\n` +
        `export default async (environ: any, startResponse: any) => {\n  if (environ.PATH_INFO !== "/held") return inner(environ, startResponse);\n  console.error("test app: request held");\n  await Bun.sleep(1500);\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode("held " + process.pid)];\n};\n`,
    );
    const port = freePort();
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", String(port), "--workers", "2", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    await importing(err, 1);
    const serving = await servingWorkerPid(port);
    expect(serving).toBeGreaterThan(0);
    const held = fetch(`http://127.0.0.1:${port}/held`, { signal: AbortSignal.timeout(10_000) }).then(async (r) => `${r.status} ${await r.text()}`);
    expect(await waitFor(() => err.text().includes("test app: request held"), 5000)).toBe(true);
    expect(err.text()).not.toContain("worker(s) listening"); // still starting
    proc.kill("SIGTERM");
    expect(await held).toBe(`200 held ${serving}`);
    expect(await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "still running")])).toBe(0);
    await err.done;
    const text = err.text();
    expect(text).toContain(`SIGTERM: stopping; the pool was still starting: 1 of 2 worker(s) already serving (pid ${serving}), and in-flight requests get 30s (SIGTERM again to exit at once); the rest are stopped before serving\n`);
    expect(text).not.toContain("stopping while starting, before serving");
    expect(text).not.toContain("failed to boot");
  }, 40_000);

  test("a supervisor killed (SIGKILL) while its workers still import the app: the workers exit, none is left serving unsupervised", async () => {
    const { port, proc, err } = startGroupBooting(2, 1500);
    await importing(err, 2);
    const workers = Bun.spawnSync(["pgrep", "-g", String(proc.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number).filter((pid) => pid !== proc.pid);
    expect(workers.length).toBeGreaterThanOrEqual(2);
    try {
      process.kill(proc.pid, "SIGKILL");
      await proc.exited;
      // Before: a worker missed the "disconnect" emitted during its import, then listened and served for ever.
      expect(await waitFor(() => workers.every((pid) => !processAlive(pid)), 8000)).toBe(true);
      const refused = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }).then(
        () => "answered",
        () => "refused",
      );
      expect(refused).toBe("refused");
    } finally {
      for (const pid of workers) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    }
  }, 30_000);

  test("a hangup to the whole process group while the workers still import the app (a terminal closed at start-up) does not kill them: the service comes up", async () => {
    const { port, proc, err } = startGroupBooting(2, 1500);
    await importing(err, 2);
    process.kill(-proc.pid, "SIGHUP");
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()) || proc.exitCode !== null, 15_000)).toBe(true);
    expect(proc.exitCode).toBe(null);
    expect(err.text()).not.toContain("failed to boot");
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    process.kill(-proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);

  /**
   * The supervisor in its own process group (setsid, as under systemd), so
   * that a signal can go to the whole group, workers included, as
   * `kill -USR1 -PGID` sends it.
   */
  async function startGroup() {
    const proc = Bun.spawn(["setsid", process.execPath, CLI, "serve", APP, "--port", "0", "--workers", "2", "--graceful-timeout", "10", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 15_000)).toBe(true);
    const port = servingPort(err.text())!;
    const pgid = Number(/supervisor pid (\d+)/.exec(err.text())![1]);
    const workers = (/worker\(s\) listening \(pids ([\d, ]+)\)/.exec(err.text())![1] ?? "").split(", ").map(Number);
    const slow = () => fetch(`http://127.0.0.1:${port}/slow?1500`, { headers: { connection: "close" }, signal: AbortSignal.timeout(8000) }).then((r) => r.status);
    const get = () => fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((r) => r.status);
    return { proc, err, pgid, workers, slow, get };
  }

  for (const [signal, message] of [
    ["SIGUSR1", "SIGUSR1: no log files to reopen: logs go to stdout/stderr"],
    ["SIGUSR2", "SIGUSR2 (binary upgrade) is not supported; ignored"],
  ] as const) {
    test(`${signal} to the process group${signal === "SIGUSR1" ? " (logrotate's postrotate kill -USR1)" : ""}: logged, the request in flight completes, supervisor and workers keep serving`, async () => {
      const s = await startGroup();
      const inFlight = s.slow();
      await Bun.sleep(300);
      process.kill(-s.pgid, signal);
      await Bun.sleep(100);
      process.kill(-s.pgid, signal);
      expect(await inFlight).toBe(200);
      expect(await waitFor(() => s.err.text().includes(message), 3000)).toBe(true);
      expect(await s.get()).toBe(200);
      expect(s.proc.exitCode).toBe(null);
      expect(s.workers.filter(processAlive)).toEqual(s.workers);
      expect(s.err.text()).not.toContain("exited unexpectedly");
      // SIGUSR1 comes daily from logrotate: said once; SIGUSR2 is a mistake worth a warning each time.
      expect(s.err.text().split(message).length - 1).toBe(signal === "SIGUSR1" ? 1 : 2);
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
    }, 40_000);
  }

  test("SIGQUIT to the process group stops gracefully, as SIGTERM does (nginx's graceful stop): the request in flight completes, exit 0", async () => {
    const s = await startGroup();
    const inFlight = s.slow();
    await Bun.sleep(300);
    process.kill(-s.pgid, "SIGQUIT");
    expect(await inFlight).toBe(200);
    const code = await Promise.race([s.proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(code).toBe(0);
    expect(s.err.text()).toContain("SIGQUIT: stopping gracefully, as for SIGTERM");
    expect(s.err.text()).not.toContain("exited unexpectedly");
    expect(await waitFor(() => s.workers.every((pid) => !processAlive(pid)), 5000)).toBe(true);
  }, 40_000);
});


describe("SIGTTIN and a queued SIGHUP while the first workers boot", () => {
  test("SIGTTIN's worker whose import throws while the queued reload is under way is logged as a failed boot, not a crash (before: 'worker N exited unexpectedly (code 3) during a reload', the line for a serving worker)", async () => {
    const claim = (n: number) => JSON.stringify(join(dir, `ttin-hup.${n}`));
    const app = join(dir, "ttin-hup.ts");
    // The start's two imports take 1.5 s; SIGTTIN's (the 3rd) throws after 2.5 s, while the reload's (any later one, 1.5 s each) import.
    await Bun.write(
      app,
      `import { openSync } from "node:fs";\nconst claim = (f: string) => { try { openSync(f, "wx"); return true; } catch { return false; } };\n` +
        `if (claim(${claim(1)}) || claim(${claim(2)})) { console.error("test app: importing"); await Bun.sleep(1500); }\n` +
        `else if (claim(${claim(3)})) { console.error("test app: the 3rd import"); await Bun.sleep(2500); throw new Error("the 3rd import fails on purpose"); }\n` +
        `else await Bun.sleep(1500);\n` +
        `export { default } from ${JSON.stringify(APP)};\n`,
    );
    const port = freePort();
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", String(port), "--workers", "2", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => (err.text().match(/test app: importing/g) ?? []).length === 2, 10_000)).toBe(true);
    proc.kill("SIGTTIN");
    expect(await waitFor(() => err.text().includes("test app: the 3rd import"), 5_000)).toBe(true);
    proc.kill("SIGHUP");
    expect(await waitFor(() => err.text().includes("the reload is queued"), 5_000)).toBe(true);
    expect(await waitFor(() => err.text().includes("reloading: starting 3 new worker(s)"), 10_000)).toBe(true);
    expect(await waitFor(() => /worker \d+ failed: [^\n]*the 3rd import fails on purpose/.test(err.text()), 10_000)).toBe(true);
    const failed = /worker (\d+) failed: [^\n]*the 3rd import fails on purpose/.exec(err.text())![1];
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 15_000)).toBe(true);
    // It died while the reload's workers imported: the reload's workers take its place, and the line says it never listened.
    expect(err.text().indexOf(`worker ${failed} failed:`)).toBeLessThan(err.text().indexOf("reloaded: new workers"));
    expect(err.text()).toMatch(new RegExp(`worker ${failed} failed to boot \\(it exited before listening, code \\d+\\) during a reload; the new workers take its place`));
    expect(err.text()).not.toContain(`worker ${failed} exited unexpectedly`);
    expect(await waitFor(() => childCount(proc.pid) === 3, 10_000)).toBe(true);
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
    await stopsCleanly(proc);
  }, 60_000);
});
describe("SIGHUP while the first workers boot", () => {
  test("the reload is queued until the start has ended, then runs; the start-up lines count the first workers only (before: the reload began at once, next to the start, and the start-up line counted old and new workers together)", async () => {
    const { proc, err, port, children } = await bootingPool();
    proc.kill("SIGHUP");
    await Bun.sleep(500);
    // Not at once: no reload while the first workers import.
    expect(err.text()).not.toContain("reloading: starting");
    expect(err.text()).toMatch(/SIGHUP while the first workers start: the reload is queued; it begins once they all listen/);
    expect(await waitFor(() => /worker\(s\) serving|failed to boot/.test(err.text()) || proc.exitCode !== null, 10_000)).toBe(true);
    const [, count, listed] = /info: (\d+) worker\(s\) listening \(pids ([\d, ]+)\)/.exec(err.text())!;
    expect(Number(count)).toBe(2);
    expect(listed!.split(", ").length).toBe(2);
    expect(err.text()).toMatch(/2 worker\(s\) serving /);
    // The start-up line comes before the reload's first line.
    expect(await waitFor(() => err.text().includes("reloaded: new workers"), 15_000)).toBe(true);
    expect(err.text().indexOf("worker(s) listening (pids")).toBeLessThan(err.text().indexOf("reloading: starting 2 new worker(s)"));
    expect(err.text().indexOf("worker(s) serving")).toBeLessThan(err.text().indexOf("reloading: starting 2 new worker(s)"));
    const reloadedPids = /reloaded: new workers ([\d, ]+);/.exec(err.text())![1]!.split(", ").map(Number);
    for (const pid of listed!.split(", ").map(Number)) expect(reloadedPids).not.toContain(pid);
    expect(await waitFor(() => children() === 2, 10_000)).toBe(true);
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
    expect(reloadedPids).toContain(((await r.json()) as { pid: number }).pid);
    await stopsCleanly(proc);
  }, 60_000);
});

/**
 * tsgi serve --workers 2 --https held before bind(): another process holds the development
 * certificate's lock. Resolves once the supervisor catches signal `n` (installSignals ran) and
 * 300 ms more; `release()` removes the lock.
 */
async function lockedHttpsStart(name: string, n: number) {
  const cache = join(dir, name);
  const lock = join(cache, "tsgi", "localhost.lock");
  mkdirSync(join(cache, "tsgi"), { recursive: true, mode: 0o700 });
  writeFileSync(lock, "");
  const port = freePort();
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--workers", "2", "--https", "--no-access-log"], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, XDG_CACHE_HOME: cache },
  });
  procs.push(proc);
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  expect(await waitFor(() => catches(proc.pid, n), 10_000)).toBe(true);
  await Bun.sleep(300);
  return {
    proc,
    err,
    release: () => rmSync(lock),
    /** Waits for the start's outcome, then requires no failure and a 200 over TLS. */
    async servesAfterRelease(lines: RegExp[]): Promise<void> {
      rmSync(lock);
      expect(await waitFor(() => /worker\(s\) serving|failed|error/.test(err.text()) || proc.exitCode !== null, 20_000)).toBe(true);
      expect(err.text()).not.toMatch(/failed|error/i);
      for (const line of lines) expect(err.text()).toMatch(line);
    },
    async fetchOk(): Promise<void> {
      const ca = readFileSync(join(cache, "tsgi", "localhost-cert.pem"), "utf8");
      const r = await fetch(`https://localhost:${port}/`, { tls: { ca }, headers: { connection: "close" }, signal: AbortSignal.timeout(5000) } as RequestInit);
      expect(r.status).toBe(200);
      await stopsCleanly(proc);
    },
  };
}

describe("SIGHUP before the socket is bound", () => {
  test("a SIGHUP while tsgi serve --workers --https waits for the development certificate (another process's lock) starts no worker before the socket is bound: it is queued, and the pool serves (before: the reload started workers with no socket to inherit)", async () => {
    // The supervisor's SIGHUP handler is installed (installSignals ran); it now waits on the lock, before bind().
    const s = await lockedHttpsStart("hup-cache", 1);
    s.proc.kill("SIGHUP");
    await Bun.sleep(700);
    // Still waiting on the lock: nothing bound, no worker started.
    expect(childCount(s.proc.pid)).toBe(0);
    await s.servesAfterRelease([/SIGHUP while the first workers start: the reload is queued/, /info: 2 worker\(s\) listening \(pids \d+, \d+\)\n/]);
    expect(await waitFor(() => s.err.text().includes("reloaded: new workers"), 15_000)).toBe(true);
    expect(await waitFor(() => childCount(s.proc.pid) === 2, 10_000)).toBe(true);
    await s.fetchOk();
  }, 60_000);
});

describe("SIGTTIN at the bound --workers has (32 per CPU core)", () => {
  // Under `taskset -c <one CPU>` the pool may use one CPU: 32 workers, not 32 per core of the machine.
  // The CPU is the first this process may run on (a container's cpuset need not hold CPU 0, and
  // `taskset -c 0` then fails: "Invalid argument"), and taskset is tried first.
  const cpu = /^Cpus_allowed_list:\s*(\d+)/m.exec(existsSync("/proc/self/status") ? readFileSync("/proc/self/status", "latin1") : "")?.[1] ?? "0";
  const found = Bun.which("taskset");
  const taskset = found && Bun.spawnSync([found, "-c", cpu, "true"]).exitCode === 0 ? found : null;
  const cores = taskset ? 1 : availableParallelism();
  const bound = MAX_WORKERS_PER_CORE * cores;
  // Without it, the pool is 32 workers per core: 64 on 2 cores (about 7 s, 300 MB), but 512 on 16.
  const tooMany = cores > 2;
  if (!taskset) console.warn(`taskset ${found ? `-c ${cpu} failed` : "not found (apt-get install util-linux)"}: the pool gets every CPU (${cores}), ${bound} workers${tooMany ? "; more than 2 cores: the SIGTTIN-at-the-bound test is skipped" : ""}`);
  test.skipIf(tooMany)("is refused with a warning naming the bound and how to go higher, and starts no worker; below the bound again (SIGTTOU), SIGTTIN starts one (before: it started a 33rd worker on one core without a word)", async () => {
    const argv = [process.execPath, CLI, "serve", APP, "--port", "0", "--workers", String(bound), "--no-access-log"];
    const proc = Bun.spawn(taskset ? [taskset, "-c", cpu, ...argv] : argv, { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    // Up to 120 s for the pool, but not when it has exited (a start-up refused, taskset failing): then say why.
    await waitFor(() => /worker\(s\) serving/.test(err.text()) || proc.exitCode !== null, 120_000);
    expect([proc.exitCode, /worker\(s\) serving/.test(err.text()) || err.text()]).toEqual([null, true]);
    expect(childCount(proc.pid)).toBe(bound);
    proc.kill("SIGTTIN");
    expect(await waitFor(() => /SIGTTIN refused/.test(err.text()), 5_000)).toBe(true);
    expect(/warn[^\n]*SIGTTIN refused[^\n]*/.exec(err.text())?.[0]).toContain(
      `SIGTTIN refused: the pool has ${bound} worker(s), the most --workers allows (${MAX_WORKERS_PER_CORE} per CPU core, ${cores} here); to go higher, give tsgi serve more CPU cores (taskset, a container's cpuset) and restart it`,
    );
    await Bun.sleep(1000);
    expect([childCount(proc.pid), /one worker more/.test(err.text())]).toEqual([bound, false]);
    // One fewer, then one more: within the bound.
    proc.kill("SIGTTOU");
    expect(await waitFor(() => err.text().includes(`one worker fewer: ${bound - 1} worker(s)`), 5_000)).toBe(true);
    proc.kill("SIGTTIN");
    expect(await waitFor(() => err.text().includes(`one worker more: ${bound} worker(s)`), 5_000)).toBe(true);
    expect(err.text().match(/SIGTTIN refused/g)?.length).toBe(1);
    await stopsCleanly(proc);
  }, 180_000);
});

describe("SIGTTIN before the socket is bound", () => {
  test("a SIGTTIN while tsgi serve --workers --https waits for the development certificate starts no worker then: the start starts one more (before: a worker with no socket to inherit, which bound the port itself, and the start failed: EADDRINUSE)", async () => {
    // SIGTTIN's handler is installed (installSignals ran); it now waits on the lock, before bind().
    const s = await lockedHttpsStart("ttin-cache", 21);
    s.proc.kill("SIGTTIN");
    await Bun.sleep(700);
    expect(childCount(s.proc.pid)).toBe(0);
    expect(s.err.text()).toMatch(/one worker more: 3 worker\(s\) \(the first workers are not started yet: 3 will start\)/);
    await s.servesAfterRelease([/info: 3 worker\(s\) listening \(pids \d+, \d+, \d+\)\n/, /3 worker\(s\) serving /]);
    expect(childCount(s.proc.pid)).toBe(3);
    await s.fetchOk();
  }, 60_000);
});

describe("a --max-requests recycle whose replacement fails to boot (the app on disk does not load)", () => {
  test("the old worker serves on and the recycle is tried again with a growing wait, so once the app is fixed the worker is recycled (before: one try, then the old worker was never recycled)", async () => {
    const app = join(dir, "recycle-boot.ts");
    const good = `export { default } from ${JSON.stringify(APP)};\n`;
    writeFileSync(app, good);
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "1", "--max-requests", "2", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
    const port = servingPort(err.text())!;
    const old = Number(/worker\(s\) listening \(pids (\d+)\)/.exec(err.text())![1]);
    const pidServing = async () => ((await (await fetch(`http://127.0.0.1:${port}/env`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).json()) as { pid: number }).pid;
    // A deploy half done: the file no longer loads when the replacement imports it.
    writeFileSync(app, `throw new Error("recycle-boot: broken on purpose");\n`);
    for (let i = 0; i < 4 && !/served 2 requests \(max-requests\); recycling/.test(err.text()); i++) {
      expect(await pidServing()).toBe(old);
      await waitFor(() => /served 2 requests \(max-requests\); recycling/.test(err.text()), 200);
    }
    const failed = new RegExp(`the replacement for worker ${old} failed to boot[^\\n]*; the old worker keeps serving; trying the recycle again in 1\\.0 s \\(the wait doubles, up to 30 s\\)\\n`);
    expect(await waitFor(() => failed.test(err.text()), 15_000)).toBe(true);
    expect(await pidServing()).toBe(old);
    // Tried again (and failing again while the file is broken), the old worker still serving meanwhile.
    expect(await waitFor(() => new RegExp(`worker ${old} served \\d+ requests \\(max-requests\\); recycling \\(the 2nd try\\)`).test(err.text()), 10_000)).toBe(true);
    expect(await waitFor(() => /trying the recycle again in 2\.0 s/.test(err.text()), 15_000)).toBe(true);
    expect(await pidServing()).toBe(old);
    writeFileSync(app, good);
    // The next try (2 s after) boots the fixed file, and the old worker stops.
    expect(await waitFor(() => !processAlive(old), 20_000)).toBe(true);
    expect(await pidServing()).not.toBe(old);
    expect(proc.exitCode).toBeNull();
    expect(err.text()).not.toMatch(/giving up/);
    await stopsCleanly(proc);
  }, 90_000);
  test("a replacement that fails to boot while a SIGHUP reload is under way: the line says the reload replaces the old worker, and it does, with no further recycle (before: 'trying the recycle again in 1.0 s')", async () => {
    const failOnce = join(dir, "recycle-reload-fail-once");
    const slow = join(dir, "recycle-reload-slow");
    const app = join(dir, "recycle-reload.ts");
    writeFileSync(
      app,
      `import { existsSync, unlinkSync } from "node:fs";\n` +
        `if (existsSync(${JSON.stringify(failOnce)})) {\n  unlinkSync(${JSON.stringify(failOnce)});\n  await Bun.sleep(300);\n  throw new Error("recycle-reload: the replacement is broken on purpose");\n}\n` +
        `if (existsSync(${JSON.stringify(slow)})) await Bun.sleep(2500);\n` +
        `export { default } from ${JSON.stringify(APP)};\n`,
    );
    const proc = Bun.spawn([process.execPath, CLI, "serve", app, "--port", "0", "--workers", "1", "--max-requests", "1", "--no-access-log"], { stdout: "ignore", stderr: "pipe" });
    procs.push(proc);
    const err = collect(proc.stderr as ReadableStream<Uint8Array>);
    expect(await waitFor(() => /worker\(s\) serving/.test(err.text()), 20_000)).toBe(true);
    const port = servingPort(err.text())!;
    const old = Number(/worker\(s\) listening \(pids (\d+)\)/.exec(err.text())![1]);
    // The recycle's replacement fails 300 ms into its import; the reload's new worker, which imports after it, boots in 2.5 s.
    writeFileSync(failOnce, "");
    writeFileSync(slow, "");
    await (await fetch(`http://127.0.0.1:${port}/env`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).text();
    expect(await waitFor(() => !existsSync(failOnce), 10_000)).toBe(true);
    proc.kill("SIGHUP");
    const line = `the replacement for worker ${old} failed to boot; the old worker keeps serving; a reload is under way, which replaces it; if the reload fails, the recycle is tried again once it has ended (in 1.0 s at the earliest)\n`;
    expect(await waitFor(() => err.text().includes(line), 15_000), err.text()).toBe(true);
    expect(await waitFor(() => /reloaded: new workers \d+/.test(err.text()), 15_000), err.text()).toBe(true);
    expect(await waitFor(() => !processAlive(old), 15_000)).toBe(true);
    await Bun.sleep(1500);
    expect(err.text()).not.toContain("trying the recycle again");
    expect(err.text()).not.toMatch(/recycling \(the 2nd try\)/);
    expect(proc.exitCode).toBeNull();
    rmSync(slow, { force: true });
    await stopsCleanly(proc);
  }, 60_000);
});
