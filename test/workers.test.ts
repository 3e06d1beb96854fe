/**
 * `tsgi serve --workers N` (issue 5 §3), driven through the real CLI:
 * several processes on one port, crash restart, SIGHUP reload with zero
 * failed requests under a bounded load, SIGTERM drain, --max-requests,
 * --timeout, option errors. Every loop is bounded in count and time.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeepAliveSession } from "../fixtures/dev/harness.ts";
import { connectOutcome, fakeWallClock, freePort, LIBFAKETIME, processAlive, servingPort } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";
import { DUPLICATE_SIGNAL_MS } from "../src/deploy/signals.ts";

const CLI = join(import.meta.dir, "../src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/workers-app.ts");

interface Running {
  proc: ReturnType<typeof Bun.spawn>;
  port: number;
  stderr: () => string;
}

const running: Running[] = [];

/** `tsgi serve APP --port PORT ARGS`, resolved once it serves; with port 0 (the default) it binds a port of its own, read from its "serving ... on URL" line. */
async function startCli(args: string[], port = 0, readyTimeoutMs = 15_000, env?: Record<string, string>): Promise<Running> {
  const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(port), "--no-access-log", ...args], {
    stdout: "pipe",
    stderr: "pipe",
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let err = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  const r: Running = { proc, port, stderr: () => err };
  running.push(r);
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    const serving = /(?:worker\(s\) serving|serving) .* on (http:\/\/\S+\/)/.exec(err);
    if (serving) {
      r.port = Number(new URL(serving[1]!).port);
      return r;
    }
    if (proc.exitCode !== null) throw new Error(`tsgi exited early (${proc.exitCode}): ${err}`);
    await Bun.sleep(50);
  }
  throw new Error(`tsgi did not become ready: ${err}`);
}

afterEach(async () => {
  for (const r of running.splice(0)) {
    if (r.proc.exitCode === null) {
      r.proc.kill("SIGKILL");
      await r.proc.exited;
    }
  }
});

async function getJson(port: number, path = "/", init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000), ...init });
  return (await res.json()) as Record<string, unknown>;
}

/** Distinct pids answering `count` fresh-connection requests. */
async function pidsSeen(port: number, count = 40): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) pids.add((await getJson(port, "/", { headers: { connection: "close" } })).pid as number);
  return pids;
}

/**
 * Two different workers answering: one is kept busy (a blocked event loop)
 * while a second request is made, which another worker must take. Workers
 * sharing a socket are woken in no fixed order, so sequential requests alone
 * may all land on one of them. With `--reuse-port` the kernel picks a worker
 * by hashing each new connection, busy or not: an attempt then finds two with
 * probability 1/2, so up to 12 attempts (both requests on new connections)
 * leave a 1-in-4096 chance of seeing one.
 */
async function twoPids(port: number, url: (path: string) => [string, RequestInit?] = (p) => [`http://127.0.0.1:${port}${p}`]): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let attempt = 0; attempt < 12 && pids.size < 2; attempt++) {
    const [bu, bi] = url("/busy?500");
    const busy = fetch(bu, { ...bi, headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((r) => r.json() as Promise<{ pid: number }>);
    await Bun.sleep(150);
    const [u, i] = url("/");
    const other = (await (await fetch(u, { ...i, headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).json()) as { pid: number };
    pids.add((await busy).pid);
    pids.add(other.pid);
  }
  return pids;
}


/**
 * A bounded load: `clients` loops for `durationMs`, each request on a new
 * connection (Connection: close) or on one kept-alive connection per client.
 */
async function load(port: number, clients: number, durationMs: number, keepAlive: boolean) {
  const end = Date.now() + durationMs;
  let ok = 0;
  const failures: string[] = [];
  const pids = new Set<number>();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < 100_000 && Date.now() < end; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/`, {
            headers: keepAlive ? {} : { connection: "close" },
            keepalive: keepAlive,
            signal: AbortSignal.timeout(5000),
          });
          const body = (await res.json()) as { pid: number };
          if (res.status === 200) {
            ok++;
            pids.add(body.pid);
          } else failures.push(`status ${res.status}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    }),
  );
  return { ok, failures, pids };
}

/**
 * The same load on raw keep-alive connections that never retry (a request
 * the server closes or resets under it is a failure); a new connection only
 * after a response with Connection: close.
 */
async function rawKeepAliveLoad(port: number, clients: number, durationMs: number) {
  const end = Date.now() + durationMs;
  let ok = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const session = new KeepAliveSession(port);
      for (let i = 0; i < 100_000 && Date.now() < end; i++) {
        try {
          const r = await session.get("/", 5000);
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
      session.close();
    }),
  );
  return { ok, failures };
}

describe("workers", () => {
  test("N processes share one port; tsgi.multiprocess is true", async () => {
    const r = await startCli(["--workers", "2"]);
    const body = await getJson(r.port);
    expect(body.multiprocess).toBe(true);
    const pids = await twoPids(r.port);
    expect(pids.size).toBe(2);
    expect(pids.has(r.proc.pid)).toBe(false); // the supervisor serves nothing itself
  }, 30_000);

  test("--reuse-port: each worker binds the port itself (SO_REUSEPORT)", async () => {
    const r = await startCli(["--workers", "2", "--reuse-port"]);
    expect((await twoPids(r.port)).size).toBe(2);
    r.proc.kill("SIGTERM");
    expect(await r.proc.exited).toBe(0);
  }, 30_000);

  test("a crashed worker is replaced", async () => {
    const r = await startCli(["--workers", "2"]);
    const before = await twoPids(r.port);
    await fetch(`http://127.0.0.1:${r.port}/crash`, { signal: AbortSignal.timeout(3000) }).catch(() => {});
    expect(await waitFor(() => /exited unexpectedly \(code 1\); starting a replacement/.test(r.stderr()), 5000)).toBe(true);
    expect(await waitFor(() => /worker \d+ listening \(a replacement\)/.test(r.stderr()), 5000)).toBe(true);
    // Two workers again, one of them new.
    expect(
      await waitFor(async () => {
        const now = await twoPids(r.port);
        return now.size === 2 && [...now].some((p) => !before.has(p));
      }, 10_000),
    ).toBe(true);
  }, 30_000);

  for (const keepAlive of [false, true]) {
    test(`SIGHUP reloads with zero failed requests under load (${keepAlive ? "keep-alive" : "new connection per request"})`, async () => {
      const r = await startCli(["--workers", "2", "--graceful-timeout", "5"]);
      const before = await pidsSeen(r.port, 20);
      const loading = load(r.port, 8, 3000, keepAlive);
      await Bun.sleep(700);
      r.proc.kill("SIGHUP");
      const result = await loading;
      if (result.failures.length) console.error("FAILURES", result.failures.slice(0, 5), result.ok);
      expect(result.failures).toEqual([]);
      expect(result.ok).toBeGreaterThan(100);
      expect(r.stderr()).toContain("reloaded: new workers");
      // Only new workers serve now.
      const after = await pidsSeen(r.port, 20);
      for (const p of after) expect(before.has(p)).toBe(false);
    }, 40_000);
  }

  test("SIGHUP under load on raw keep-alive connections that never retry: no request reset", async () => {
    const r = await startCli(["--workers", "2", "--graceful-timeout", "5"]);
    const loading = rawKeepAliveLoad(r.port, 8, 3000);
    await Bun.sleep(700);
    r.proc.kill("SIGHUP");
    const result = await loading;
    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(100);
    expect(r.stderr()).toContain("reloaded: new workers");
  }, 40_000);

  test("SIGTERM drains: an in-flight request completes, a new connection is refused meanwhile, then the supervisor exits 0", async () => {
    const r = await startCli(["--workers", "2", "--graceful-timeout", "5"]);
    const started = Date.now();
    const slow = fetch(`http://127.0.0.1:${r.port}/slow?1200`, { signal: AbortSignal.timeout(8000) });
    await Bun.sleep(300);
    r.proc.kill("SIGTERM");
    // While the slow request drains, the port refuses new connections at once
    // (before, the supervisor's copy of the socket kept it listening: accepted, then reset at exit).
    await Bun.sleep(200);
    expect(await connectOutcome(r.port)).toBe("ECONNREFUSED");
    const res = await slow;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { pathInfo: string }).pathInfo).toBe("/slow");
    expect(await r.proc.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    // Nothing listens any more.
    let refused = false;
    try {
      await fetch(`http://127.0.0.1:${r.port}/`, { signal: AbortSignal.timeout(2000) });
    } catch {
      refused = true;
    }
    expect(refused).toBe(true);
  }, 30_000);

  for (const workers of [[], ["--workers", "2"]]) {
    test(`a second Ctrl-C (SIGINT) during the drain exits at once with 130${workers.length ? ", the workers killed" : " (one process)"}`, async () => {
      const r = await startCli([...workers, "--graceful-timeout", "20"]);
      const pids = workers.length ? await twoPids(r.port) : new Set<number>();
      const slow = fetch(`http://127.0.0.1:${r.port}/slow?10000`, { signal: AbortSignal.timeout(15000) }).catch(() => "failed");
      await Bun.sleep(300);
      const started = Date.now();
      r.proc.kill("SIGINT");
      expect(await waitFor(() => r.stderr().includes("Ctrl-C again to exit at once"), 3000)).toBe(true);
      // An operator's second signal: after the window in which a repeat is the same delivery twice.
      await Bun.sleep(DUPLICATE_SIGNAL_MS + 50);
      r.proc.kill("SIGINT");
      expect(await r.proc.exited).toBe(130);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(r.stderr()).toContain("SIGINT again: exiting now");
      expect(await slow).toBe("failed");
      expect(await waitFor(() => [...pids].every((p) => !processAlive(p)), 3000)).toBe(true);
    }, 30_000);

    test(`a second SIGTERM during the drain exits at once with 143, as a shell reports SIGTERM${workers.length ? " (supervisor)" : " (one process)"}`, async () => {
      const r = await startCli([...workers, "--graceful-timeout", "20"]);
      const slow = fetch(`http://127.0.0.1:${r.port}/slow?10000`, { signal: AbortSignal.timeout(15000) }).catch(() => "failed");
      await Bun.sleep(300);
      r.proc.kill("SIGTERM");
      expect(await waitFor(() => r.stderr().includes("SIGTERM again to exit at once"), 3000)).toBe(true);
      // An operator's second signal: after the window in which a repeat is the same delivery twice.
      await Bun.sleep(DUPLICATE_SIGNAL_MS + 50);
      r.proc.kill("SIGTERM");
      expect(await r.proc.exited).toBe(143);
      expect(r.stderr()).toContain("SIGTERM again: exiting now");
      // kill -TERM comes from a script or an operator's shell, not a terminal's Ctrl-C.
      expect(r.stderr()).not.toContain("Ctrl-C");
      expect(await slow).toBe("failed");
    }, 30_000);

    test(`a SIGTERM delivered twice at once (GNU timeout signals its child, then the child's process group) is one stop: the request in flight completes, exit 0${workers.length ? " (supervisor)" : " (one process)"}`, async () => {
      const r = await startCli([...workers, "--graceful-timeout", "10"]);
      const slow = fetch(`http://127.0.0.1:${r.port}/slow?1000`, { signal: AbortSignal.timeout(8000) });
      await Bun.sleep(300);
      // 10 ms apart (the first is taken before the second arrives, which the kernel would merge
      // into it), by a busy wait: a timer or a GC pause of this process on a loaded machine could
      // put them DUPLICATE_SIGNAL_MS apart, where the second one rightly means "exit now".
      const sent = performance.now();
      r.proc.kill("SIGTERM");
      while (performance.now() - sent < 10);
      r.proc.kill("SIGTERM");
      const gap = performance.now() - sent;
      if (gap >= DUPLICATE_SIGNAL_MS / 2) {
        // This process was descheduled between the two: not the case under test.
        console.warn(`the two SIGTERMs went ${gap.toFixed(0)} ms apart; the outcome is not checked`);
        await slow.catch(() => undefined);
        await r.proc.exited;
        return;
      }
      const res = await slow;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { pathInfo: string }).pathInfo).toBe("/slow");
      expect(await r.proc.exited).toBe(0);
      expect(r.stderr()).not.toContain("again: exiting now");
    }, 30_000);
  }

  test("--max-requests recycles workers without failing a request", async () => {
    const r = await startCli(["--workers", "2", "--max-requests", "10", "--max-requests-jitter", "5"]);
    const pids = new Set<number>();
    let failures = 0;
    const end = Date.now() + 10_000;
    for (let i = 0; i < 1000 && Date.now() < end && pids.size < 4; i++) {
      try {
        pids.add((await getJson(r.port, "/", { headers: { connection: "close" } })).pid as number);
      } catch {
        failures++;
      }
      await Bun.sleep(10);
    }
    expect(failures).toBe(0);
    expect(pids.size).toBeGreaterThan(2);
    expect(r.stderr()).toContain("(max-requests); recycling");
  }, 40_000);

  test("--timeout kills a hung worker and replaces it", async () => {
    const r = await startCli(["--workers", "2", "--timeout", "1"]);
    const hung = fetch(`http://127.0.0.1:${r.port}/hang`, { signal: AbortSignal.timeout(10_000) }).then(
      () => "answered",
      () => "failed",
    );
    expect(await waitFor(() => /sent no heartbeat for .*killing and replacing it/.test(r.stderr()), 8000)).toBe(true);
    expect(await hung).toBe("failed"); // its connection died with it
    expect(await waitFor(async () => (await twoPids(r.port)).size === 2, 10_000)).toBe(true);
  }, 30_000);

  test("a supervisor that was itself stopped (SIGSTOP, a suspend) for longer than --timeout kills no healthy worker when it resumes; a hung worker is still killed after it", async () => {
    const r = await startCli(["--workers", "2", "--timeout", "1"]);
    const pids = (/worker\(s\) listening \(pids (\d+), (\d+)\)/.exec(r.stderr()) ?? []).slice(1).map(Number);
    expect(pids).toHaveLength(2);
    // Under load while stopped: the workers keep serving from the shared socket and keep sending heartbeats, which queue.
    let served = 0;
    let loadOn = true;
    const load = (async () => {
      for (let i = 0; i < 2000 && loadOn; i++) {
        await getJson(r.port, "/").then(() => served++, () => {});
      }
    })();
    for (let round = 0; round < 2; round++) {
      r.proc.kill("SIGSTOP");
      await Bun.sleep(3000); // three timeouts
      r.proc.kill("SIGCONT");
      await Bun.sleep(1500); // more than a timeout after it resumed: a kill would have come by now
    }
    loadOn = false;
    await load;
    expect(served).toBeGreaterThan(0);
    expect(r.stderr()).not.toContain("sent no heartbeat");
    expect(r.stderr()).not.toContain("exited unexpectedly");
    expect(r.stderr()).toMatch(/was not running for \d+(\.\d)? ?s/);
    for (const pid of pids) expect(processAlive(pid)).toBe(true);
    // A worker that really stops sending heartbeats is still killed, one timeout after the pause at the latest.
    const hung = fetch(`http://127.0.0.1:${r.port}/hang`, { signal: AbortSignal.timeout(10_000) }).then(
      () => "answered",
      () => "failed",
    );
    expect(await waitFor(() => /sent no heartbeat for .*killing and replacing it/.test(r.stderr()), 8000)).toBe(true);
    expect(await hung).toBe("failed");
    // The killed worker is gone once its supervisor has reaped it (until then kill(pid, 0) still finds it, a zombie).
    expect(await waitFor(() => pids.filter((pid) => processAlive(pid)).length === 1, 3000)).toBe(true);
  }, 40_000);

  test("a hung worker is still killed when the supervisor keeps running late (stopped again and again, as a starved process is): a late check forgives only the time the supervisor lost, not a whole --timeout each time", async () => {
    const r = await startCli(["--workers", "2", "--timeout", "1"]);
    const pids = (/worker\(s\) listening \(pids (\d+), (\d+)\)/.exec(r.stderr()) ?? []).slice(1).map(Number);
    expect(pids).toHaveLength(2);
    const hung = fetch(`http://127.0.0.1:${r.port}/hang`, { signal: AbortSignal.timeout(20_000) }).then(
      () => "answered",
      () => "failed",
    );
    await Bun.sleep(200);
    // Stopped 700 ms, running 150 ms: every heartbeat check (every 250 ms) comes late, so before, each one gave every worker a
    // fresh --timeout and the hung worker was never killed. It runs 150 ms of every 850 and more than 250 ms of its own per
    // check: the hung worker's silence of its own running time passes 1 s within a few rounds. Bounded: 24 rounds, about 20 s.
    let killedAt = -1;
    for (let round = 0; round < 24 && killedAt < 0; round++) {
      r.proc.kill("SIGSTOP");
      await Bun.sleep(700);
      r.proc.kill("SIGCONT");
      await Bun.sleep(150);
      if (/sent no heartbeat for .*killing and replacing it/.test(r.stderr())) killedAt = round;
    }
    r.proc.kill("SIGCONT");
    expect(killedAt).toBeGreaterThanOrEqual(0);
    expect(await hung).toBe("failed");
    // Only the hung one: the other kept its heartbeats coming, read in the supervisor's running time.
    expect(r.stderr().match(/sent no heartbeat/g)).toHaveLength(1);
    expect(await waitFor(() => pids.filter((pid) => processAlive(pid)).length === 1, 3000)).toBe(true);
  }, 45_000);

  // The wall clock set on the fly (fakeWallClock: libfaketime), as NTP stepping the clock or `date -s` would; the monotonic clock runs on.
  test.skipIf(!LIBFAKETIME)("the wall clock set back an hour (NTP stepping it, date -s) while a worker hangs: it is still killed after --timeout, and a clock set forward an hour is no 'not running' pause (before: heartbeats were timed with Date.now(), and the hung worker went unkilled for the hour)", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "tsgi-clock-"));
    const clock = fakeWallClock(join(tmp, "offset"));
    let pids: number[] = [];
    try {
      const r = await startCli(["--workers", "2", "--timeout", "1"], 0, 15_000, clock.env);
      pids = (/worker\(s\) listening \(pids (\d+), (\d+)\)/.exec(r.stderr()) ?? []).slice(1).map(Number);
      expect(pids).toHaveLength(2);
      // Forward an hour: nothing stopped, so no pause to report and no worker to kill.
      clock.set("+3600");
      await Bun.sleep(1500);
      expect(r.stderr()).not.toContain("was not running");
      expect(r.stderr()).not.toContain("sent no heartbeat");
      // Back two hours (one before the start) while a worker hangs: killed within a few seconds, as without the jump.
      const hung = fetch(`http://127.0.0.1:${r.port}/hang`, { signal: AbortSignal.timeout(10_000) }).then(
        () => "answered",
        () => "failed",
      );
      await Bun.sleep(200);
      clock.set("-3600");
      expect(await waitFor(() => /sent no heartbeat for .*killing and replacing it/.test(r.stderr()), 6000)).toBe(true);
      expect(await hung).toBe("failed");
      expect(r.stderr().match(/sent no heartbeat/g)).toHaveLength(1);
      expect(r.stderr()).not.toContain("was not running");
      expect(await waitFor(() => pids.filter((pid) => processAlive(pid)).length === 1, 3000)).toBe(true);
    } finally {
      // A hung worker left unkilled (the bug) spins on after its supervisor is gone.
      for (const pid of pids) if (processAlive(pid)) process.kill(pid, "SIGKILL");
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 30_000);

  test("SIGTTIN and SIGTTOU: one worker more, one fewer, never below one, each logged", async () => {
    const r = await startCli(["--workers", "1"]);
    const pid = r.proc.pid;
    const children = () => {
      const out = Bun.spawnSync(["pgrep", "-P", String(pid)]).stdout.toString().trim();
      return out === "" ? 0 : out.split("\n").length;
    };
    expect(children()).toBe(1);
    process.kill(pid, "SIGTTIN");
    expect(await waitFor(() => /one worker more: 2 worker\(s\) \(starting \d+\)/.test(r.stderr()) && children() === 2, 10_000)).toBe(true);
    expect(await waitFor(async () => (await pidsSeen(r.port, 20)).size === 2 || (await twoPids(r.port)).size === 2, 15_000)).toBe(true);
    process.kill(pid, "SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 1 worker\(s\) \(stopping \d+ gracefully\)/.test(r.stderr()) && children() === 1, 10_000)).toBe(true);
    process.kill(pid, "SIGTTOU");
    expect(await waitFor(() => r.stderr().includes("already at 1 worker, the minimum; unchanged"), 5_000)).toBe(true);
    expect(children()).toBe(1);
    expect((await getJson(r.port)).pid).toBeNumber();
  }, 60_000);

  test("SIGTTOU while every worker is being recycled (max-requests): the slot of the recycle's replacement it stops goes whole, its old worker too, so the pool ends at the new size (before: the old worker served on, 'the replacement ... failed to boot', one worker above the target)", async () => {
    // Workers that take 2 s to import: the recycles' replacements are still importing when SIGTTOU comes.
    const r = await startCli(["--workers", "2", "--max-requests", "1"], 0, 20_000, { TSGI_TEST_IMPORT_MS: "2000" });
    const pid = r.proc.pid;
    const children = () => {
      const out = Bun.spawnSync(["pgrep", "-P", String(pid)]).stdout.toString().trim();
      return out === "" ? 0 : out.split("\n").length;
    };
    const recycling = () => (r.stderr().match(/served \d+ requests \(max-requests\); recycling/g) ?? []).length;
    // Requests on new connections, four at a time, until both workers have served one (and ask to retire): 60 at most.
    for (let i = 0; i < 15 && recycling() < 2; i++) {
      const batch = Array.from({ length: 4 }, () => fetch(`http://127.0.0.1:${r.port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((res) => res.status));
      expect(await Promise.all(batch)).toEqual([200, 200, 200, 200]);
      await waitFor(() => recycling() >= 2, 100);
    }
    expect(recycling()).toBe(2);
    expect(children()).toBe(4);
    process.kill(pid, "SIGTTOU");
    expect(await waitFor(() => /one worker fewer: 1 worker\(s\) \(stopping \d+, still importing the app, with worker \d+, which it was to replace \(max-requests\)\)/.test(r.stderr()), 5000)).toBe(true);
    // The other slot's replacement listens (2 s) and its old worker drains: one worker, and it stays one.
    expect(await waitFor(() => children() === 1, 10_000)).toBe(true);
    await Bun.sleep(1000);
    expect(children()).toBe(1);
    expect(r.stderr()).not.toContain("failed to boot");
    expect((await getJson(r.port)).pid).toBeNumber();
  }, 60_000);

  test("the workers share a Unix socket", async () => {
    const dir = (await import("node:fs")).mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    const path = join(dir, "w.sock");
    const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--uds", path, "--workers", "2", "--no-access-log"], { stdout: "pipe", stderr: "pipe" });
    running.push({ proc, port: 0, stderr: () => "" });
    expect(await waitFor(() => (fetch("http://localhost/", { unix: path } as RequestInit).then((x) => x.ok, () => false)), 15_000)).toBe(true);
    const pids = await twoPids(0, (p) => [`http://localhost${p}`, { unix: path } as RequestInit]);
    expect(pids.size).toBe(2);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect((await import("node:fs")).existsSync(path)).toBe(false);
  }, 30_000);

  test("a Unix socket path of 107 bytes (the limit) serves with --workers as without; a path that cannot be bound is named with its reason", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    try {
      // A relative path counts as written: 107 bytes from the directory the CLI starts in.
      const rel = `${"s".repeat(102)}.sock`;
      expect(rel.length).toBe(107);
      const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--uds", rel, "--workers", "1", "--no-access-log"], { stdout: "pipe", stderr: "pipe", cwd: dir });
      running.push({ proc, port: 0, stderr: () => "" });
      // The absolute path is too long to connect to (and Bun's fetch makes a relative one absolute): a client in that directory connects by the relative path.
      const get = async () => {
        const script = `const s = require("node:net").createConnection(${JSON.stringify(rel)}); let out = "";
s.on("connect", () => s.write("GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"));
s.on("data", (d) => (out += d)); s.on("error", () => process.exit(2)); s.on("close", () => process.exit(out.startsWith("HTTP/1.1 200") ? 0 : 1));`;
        const client = Bun.spawn([process.execPath, "-e", script], { cwd: dir, stdout: "ignore", stderr: "ignore" });
        const timer = setTimeout(() => client.kill("SIGKILL"), 5000);
        const code = await client.exited;
        clearTimeout(timer);
        return code === 0;
      };
      const ok = await waitFor(get, 15_000);
      if (!ok) {
        proc.kill("SIGKILL");
        throw new Error(`not serving: ${await new Response(proc.stderr as ReadableStream).text()}`);
      }
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(fs.readdirSync(dir)).toEqual([]); // neither the socket nor a temporary link is left
      for (const workers of [[], ["--workers", "1"]]) {
        const cases: Array<[string, RegExp]> = [
          [`${rel}x`, /cannot listen on s+\.sockx: the path is 108 bytes, and a Unix socket path may have at most 107; use a shorter one .*\(EINVAL\)$/m],
          ["no-such-dir/app.sock", /cannot listen on no-such-dir\/app\.sock: the directory no-such-dir does not exist; create it first .*\(ENOENT\)$/m],
        ];
        for (const [uds, message] of cases) {
          const p = Bun.spawn([process.execPath, CLI, "serve", APP, "--uds", uds, ...workers], { stdout: "pipe", stderr: "pipe", cwd: dir });
          const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
          const err = await new Response(p.stderr).text();
          clearTimeout(timer);
          expect(await p.exited).toBe(1);
          expect(err).toMatch(message);
          expect(err).not.toContain("Failed to listen");
          expect(err).not.toContain(".tmp");
        }
      }
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("tsgi serve: .env files", () => {
  test("Bun reads the working directory's .env at start (the environment wins); a SIGHUP reload's workers keep the values the supervisor started with", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-env-"));
    const procs: Array<ReturnType<typeof Bun.spawn>> = [];
    try {
      fs.writeFileSync(join(dir, "app.ts"), 'export default (environ: unknown, startResponse: (s: string, h: [string, string][]) => void) => {\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode(`${process.env.GREETING} ${process.env.REGION}`)];\n};\n');
      fs.writeFileSync(join(dir, ".env"), "GREETING=one\nREGION=from-dotenv\n");
      const env: Record<string, string | undefined> = { ...process.env, REGION: "from-environment" };
      delete env.GREETING;
      const proc = Bun.spawn([process.execPath, CLI, "serve", "./app.ts", "--port", "0", "--workers", "1", "--no-access-log"], { cwd: dir, env, stdout: "ignore", stderr: "pipe" });
      procs.push(proc);
      let err = "";
      void (async () => {
        for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      expect(await waitFor(() => servingPort(err) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
      const port = servingPort(err)!;
      const get = async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).text();
      expect(await get()).toBe("one from-environment");
      fs.writeFileSync(join(dir, ".env"), "GREETING=two\nREGION=from-dotenv\n");
      proc.kill("SIGHUP");
      expect(await waitFor(() => err.includes("reloaded: new workers"), 15_000)).toBe(true);
      expect(await get()).toBe("one from-environment");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe("tsgi serve --host", () => {
  test("an IPv6 address in brackets, as in a URL or gunicorn's --bind ([::1]), is bound, with workers and without", async () => {
    for (const workers of [[], ["--workers", "1"]]) {
      const r = await startCli(["--host", "[::1]", ...workers]);
      expect(r.stderr()).toContain(`on http://[::1]:${r.port}/`);
      const res = await fetch(`http://[::1]:${r.port}/`, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { remoteAddr: string }).remoteAddr).toBe("::1");
      r.proc.kill("SIGTERM");
      expect(await r.proc.exited).toBe(0);
    }
  }, 40_000);
});

describe("tsgi serve: a fetch export's Bun.serve options", () => {
  // Bun's convention, export default { port: 3000, fetch }: tsgi serve listens on its own
  // --port, and said nothing of the export's port (a user then looked for the app on 3000).
  for (const workers of [[], ["--workers", "2"]]) {
    test(`are named in one warning with the flags to use instead, and the server listens on --port${workers.length ? " (supervisor: once, not per worker)" : ""}`, async () => {
      const fs = await import("node:fs");
      const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
      try {
        await Bun.write(join(dir, "app.ts"), `export default { port: 3999, hostname: "0.0.0.0", idleTimeout: 30, fetch: () => new Response("from fetch") };\n`);
        const proc = Bun.spawn([process.execPath, CLI, "serve", "./app.ts", "--port", "0", "--no-access-log", ...workers], { cwd: dir, stdout: "pipe", stderr: "pipe" });
        let err = "";
        void (async () => {
          for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
        })();
        try {
          expect(await waitFor(() => servingPort(err) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
          const res = await fetch(`http://127.0.0.1:${servingPort(err)}/`, { signal: AbortSignal.timeout(3000) });
          expect(await res.text()).toBe("from fetch");
          const warning = "the export's port (3999), hostname (0.0.0.0), idleTimeout are Bun.serve options, which tsgi serve does not read: give --port 3999 --host 0.0.0.0 instead (see tsgi serve --help)";
          expect(await waitFor(() => err.includes(warning), 3000)).toBe(true);
          await Bun.sleep(300);
          expect(err.split(warning).length - 1).toBe(1);
        } finally {
          proc.kill("SIGKILL");
          await proc.exited;
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  }
});

describe("tsgi serve: a Bun.serve app with routes", () => {
  // Bun.serve({ routes, fetch }), Bun's way since 1.2: tsgi serves fetch() alone. The warning said
  // "the export's routes is a Bun.serve option, which tsgi serve does not read: use its flags instead",
  // though no flag stands for routes, and an export of routes alone was "an object without a fetch() method".
  test("the warning says every request goes to fetch(); routes without fetch() are refused saying what to do", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    try {
      await Bun.write(join(dir, "app.ts"), `export default { routes: { "/api/status": new Response("OK") }, fetch: () => new Response("from fetch", { status: 404 }) };\n`);
      await Bun.write(join(dir, "routes.ts"), `export default { routes: { "/api/status": new Response("OK") } };\n`);
      const proc = Bun.spawn([process.execPath, CLI, "serve", "./app.ts", "--port", "0", "--no-access-log"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      let err = "";
      void (async () => {
        for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      try {
        expect(await waitFor(() => servingPort(err) !== undefined || proc.exitCode !== null, 15_000)).toBe(true);
        const res = await fetch(`http://127.0.0.1:${servingPort(err)}/api/status`, { signal: AbortSignal.timeout(3000) });
        expect(await res.text()).toBe("from fetch");
        expect(err).toContain("[warn] the export's routes is a Bun.serve option, which tsgi serve does not read: every request goes to fetch(), routes included: match those paths in fetch(), or export a router such as a Hono app (see tsgi serve --help)\n");
        expect(err).not.toContain("use its flags instead");
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      const alone = Bun.spawn([process.execPath, CLI, "serve", "./routes.ts", "--port", "0"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => alone.kill("SIGKILL"), 10_000);
      const out = (await new Response(alone.stdout).text()) + (await new Response(alone.stderr).text());
      clearTimeout(timer);
      expect(await alone.exited).toBe(1);
      expect(out).toBe(
        "[error] the default export of ./routes.ts is an object with Bun.serve routes but no fetch() method (tsgi serves one fetch(request) for every path and reads no routes: add a fetch() that matches the paths, or export a router such as a Hono app), neither a TSGI application (environ, startResponse) nor a fetch handler\n",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("tsgi serve errors", () => {
  /** Run `tsgi ...args` to completion (bounded): exit code, stdout then stderr. */
  async function runTsgi(args: string[], cwd?: string) {
    const p = Bun.spawn([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe", cwd });
    const timer = setTimeout(() => p.kill(), 10_000);
    const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
    clearTimeout(timer);
    return { code: await p.exited, out };
  }
  /** `tsgi serve ...args`. */
  const runCli = (args: string[]) => runTsgi(["serve", ...args]);

  test("bad combinations and values: one line, exit 2", async () => {
    for (const [args, message] of [
      [[APP, "--workers", "2", "--uds", "/tmp/x.sock", "--reuse-port"], "--reuse-port is for TCP ports"],
      // Which half is missing is named (before: "--certfile and --keyfile go together" for both).
      [[APP, "--certfile", "c.pem"], "--certfile needs --keyfile: the certificate's private key, PEM (--https alone serves a self-signed localhost certificate instead)\n"],
      [[APP, "--keyfile", "k.pem"], "--keyfile needs --certfile: the certificate chain, PEM, that goes with the key\n"],
      [[APP, "--workers", "0"], "--workers must be an integer of at least 1 (e.g. --workers 4), got 0\n"],
      [[APP, "--workers", "2.5"], "--workers must be an integer of at least 1 (e.g. --workers 4), got 2.5\n"],
      [[APP, "--max-connections", "0"], "--max-connections must be an integer of at least 1 (e.g. --max-connections 10000), got 0\n"],
      [[APP, "--workers", "four"], '--workers must be an integer of at least 1 (e.g. --workers 4), got "four"\n'],
      [[APP, "--port", "http"], '--port must be a TCP port from 0 to 65535 (e.g. --port 8000), got "http"\n'],
      [[APP, "--graceful-timeout", "30s"], '--graceful-timeout must be a number of seconds from 0 to 2147483 (e.g. --graceful-timeout 30), got "30s"\n'],
      [[APP, "--forwarded-allow-ips", "10.0.0.1"], "need --proxy-headers"],
      [[APP, "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/40"], "prefix is at most /32"],
      [[APP, "--max-requests", "5"], "--max-requests needs --workers"],
      [[APP, "--worker", "4"], "unknown option --worker; did you mean --workers?"],
      // A switch's --no- form misspelt: before, no suggestion (only the flags themselves were candidates).
      [[APP, "--no-acess-log"], "unknown option --no-acess-log; did you mean --no-access-log? (see tsgi serve --help)"],
      [[APP, "--uds", "--port", "1"], "--uds needs a value: --uds <path>"],
      [[APP, "--peercreds", "resolve", "--uds", "/tmp/x.sock"], 'write --peercreds=resolve, with "="'],
      [[APP, "./second.ts"], 'unexpected argument "./second.ts": tsgi serve takes one app'],
      [["--workers", "2"], "missing <app>: tsgi serve <app> [options]"],
      [[APP, "--uds", "/tmp/x.sock", "--port", "18120"], "--host and --port are for TCP; --uds listens elsewhere"],
      [[APP, "--fd", "3", "--host", "0.0.0.0"], "--host and --port are for TCP; --fd listens elsewhere"],
      // An address with a port, or a URL: where the port goes, not Bun's failed name lookup (getaddrinfo ENOTFOUND).
      [[APP, "--host", "127.0.0.1:8000"], 'write --host 127.0.0.1 --port 8000, got "127.0.0.1:8000"'],
      [[APP, "--host", "[::1]:8000", "--workers", "2"], 'write --host ::1 --port 8000, got "[::1]:8000"'],
      [[APP, "--host", "http://0.0.0.0"], "--host takes an address, not a URL: write --host 0.0.0.0"],
    ] as Array<[string[], string]>) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.out).toContain(message);
      expect(r.out).not.toContain("    at ");
      expect(r.out).not.toContain("Usage:");
    }
  }, 60_000);

  test("an integer flag past Number.MAX_SAFE_INTEGER (99999999999999999999) is refused naming the flag, the largest value and what 0 means where it is no limit, the value as typed (before: served, with 1e20 as the limit)", async () => {
    const huge = "99999999999999999999";
    for (const [args, message] of [
      [[APP, "--max-request-body-size", huge], `--max-request-body-size must be a whole number of bytes, 0 or more, at most 9007199254740991 (0 means no limit; e.g. --max-request-body-size 10485760), got ${huge}\n`],
      [[APP, "--url-length-limit", huge], `--url-length-limit must be a whole number of bytes, at least 1, at most 9007199254740991 (e.g. --url-length-limit 8192), got ${huge}\n`],
      [[APP, "--max-header-bytes", huge], `--max-header-bytes must be a whole number of bytes, at least 1, at most 9007199254740991 (e.g. --max-header-bytes 65536), got ${huge}\n`],
      [[APP, "--max-header-count", "9007199254740992"], "--max-header-count must be an integer of at least 1, at most 9007199254740991 (e.g. --max-header-count 100), got 9007199254740992\n"],
      [[APP, "--max-connections", huge], `--max-connections must be an integer of at least 1, at most 9007199254740991 (e.g. --max-connections 10000), got ${huge}\n`],
      [[APP, "--workers", "2", "--max-requests", huge], `--max-requests must be an integer, 0 or more, at most 9007199254740991 (0 never recycles; e.g. --max-requests 1000), got ${huge}\n`],
      [[APP, "--workers", "2", "--max-requests-jitter", huge], `--max-requests-jitter must be an integer, 0 or more, at most 9007199254740991 (e.g. --max-requests-jitter 50), got ${huge}\n`],
      [[APP, "--workers", huge], `--workers must be an integer of at least 1, at most 9007199254740991 (e.g. --workers 4), got ${huge}\n`],
      // Below the open-file limit (the hard one, which Bun raises the soft one to), not the largest safe integer: see deploy-options.
      [[APP, "--fd", huge], new RegExp(`--fd must be a file descriptor number from 0 to \\d+ \\(below the open-file limit, \\d+; .*e\\.g\\. --fd 3\\), got ${huge}\\n`)],
      // A range of its own: said as before.
      [[APP, "--timeout", huge, "--workers", "2"], `--timeout must be a number of seconds from 0 to 2147483 (e.g. --timeout 30), got ${huge}\n`],
      [[APP, "--port", huge], `--port must be a TCP port from 0 to 65535 (e.g. --port 8000), got ${huge}\n`],
    ] as Array<[string[], string | RegExp]>) {
      const r = await runCli(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect([args, r.out]).toEqual([args, typeof message === "string" ? expect.stringContaining(message) : expect.stringMatching(message)]);
      expect(r.out).not.toContain("    at ");
    }
  }, 60_000);

  test("the command itself: missing or unknown is one line (exit 2); --version after serve prints it", async () => {
    for (const [args, message] of [
      [[], "missing command: tsgi serve <app> [options]"],
      [["srve", "./app.ts"], 'unknown command "srve"; did you mean tsgi serve ./app.ts?'],
      // As in next dev or fastapi dev: the dev server is tsgi-dev, said with the user's own arguments.
      [["dev", "./app.ts", "--port", "3000"], "the dev server is its own command, tsgi-dev: tsgi-dev ./app.ts --port 3000 (tsgi serve is the production server"],
      [["dev"], "the dev server is its own command, tsgi-dev: tsgi-dev ./app.ts ("],
      [["--port", "80"], "unknown option --port: options go after the command"],
    ] as Array<[string[], string]>) {
      const r = await runTsgi(args);
      expect(r.code).toBe(2);
      expect(r.out).toContain(message);
      expect(r.out).not.toContain("Usage:");
      expect(r.out).not.toContain("\x1b[");
    }
    for (const args of [["--version"], ["serve", "--version"], ["serve", APP, "-v"]]) {
      const r = await runTsgi(args);
      expect([r.code, r.out.trim()]).toEqual([0, (await import("../package.json")).version]);
    }
  }, 30_000);

  test("--help: every flag, plain text into a pipe, no trailing spaces", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toStartWith("tsgi serve ");
    expect(r.out).toContain("Usage: tsgi serve <app> [options]");
    for (const flag of ["--host <host>", "--port <port>", "--uds <path>", "--fd <n>", "--workers <n>", "--peercreds[=resolve]", "--no-access-log", "-h, --help"]) {
      expect(r.out).toContain(`  ${flag}`);
    }
    expect(r.out).not.toContain("\x1b[");
    expect(r.out).not.toMatch(/ +$/m);
    expect(r.out).not.toContain("(Default:");
    // The root command lists its subcommand and --version.
    const { code, out: text } = await runTsgi(["--help"]);
    expect(code).toBe(0);
    expect(text).toContain("Usage: tsgi <command> [options]");
    expect(text).toMatch(/^ {2}serve {2}Serve an app in production/m);
    expect(text).toContain("-v, --version");
  }, 20_000);

  test("a busy port: exit 1, one plain line naming the address (one process and workers)", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      for (const extra of [[], ["--workers", "2"]]) {
        const r = await runCli([APP, "--port", String(busy.port), ...extra]);
        expect(r.code).toBe(1);
        expect(r.out).toContain(`cannot listen on 127.0.0.1:${busy.port}: the address is already in use`);
        expect(r.out).toContain("stop the process using it, or pick another --port");
        // stderr is a pipe here, as under systemd or Docker: plain lines, none empty (consola's
        // badge came with a blank line before and after, each an entry in journald).
        expect(r.out.trimEnd().split("\n").filter((line) => line.trim() === "")).toEqual([]);
      }
      // Outside a test runner and CI (consola goes plain under both by itself): as a service runs.
      const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: "production" };
      for (const k of ["CI", "TEST", "BUN_TEST", "VITEST", "JEST_WORKER_ID"]) delete env[k];
      const p = Bun.spawn([process.execPath, CLI, "serve", APP, "--port", String(busy.port)], { stdout: "pipe", stderr: "pipe", env });
      const err = await new Response(p.stderr).text();
      expect(await p.exited).toBe(1);
      expect(err).toBe(`[error] cannot listen on 127.0.0.1:${busy.port}: the address is already in use (EADDRINUSE); stop the process using it, or pick another --port\n`);
    } finally {
      busy.stop(true);
    }
  }, 30_000);

  test("a busy port that came from PORT, in the environment or a .env file (which Bun loads unasked), is named as PORT's, with what to change; a --port given wins and is named as before (one process and workers)", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-port-env-"));
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const run = async (args: string[], port: string | undefined, mode?: string) => {
      const env: Record<string, string | undefined> = { ...process.env };
      delete env.PORT;
      if (port !== undefined) env.PORT = port;
      if (mode !== undefined) env.NODE_ENV = mode;
      const p = Bun.spawn([process.execPath, CLI, "serve", APP, "--no-access-log", ...args], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => p.kill(), 15_000);
      const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
      clearTimeout(timer);
      return { code: await p.exited, out };
    };
    const fromPort = `cannot listen on 127.0.0.1:${busy.port}: the address is already in use (EADDRINUSE); port ${busy.port} came from PORT (set in the environment or a .env file): stop the process using it, or pick another port with --port (which wins over PORT) or PORT`;
    try {
      for (const extra of [[], ["--workers", "2"], ["--workers", "1", "--reuse-port"]]) {
        const r = await run(extra, String(busy.port));
        expect([extra.join(" "), r.code]).toEqual([extra.join(" "), 1]);
        expect(r.out).toContain(fromPort);
        // --port wins over PORT: the port is --port's, named as before.
        const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
        try {
          const g = await run([...extra, "--port", String(other.port)], String(busy.port));
          expect(g.code).toBe(1);
          expect(g.out).toContain(`cannot listen on 127.0.0.1:${other.port}: the address is already in use (EADDRINUSE); stop the process using it, or pick another --port`);
          expect(g.out).not.toContain("PORT");
        } finally {
          other.stop(true);
        }
      }
      // PORT from a .env file in the working directory, not in the environment: the file is named, and the
      // advice is to change it there (unset in the shell, Bun reads it again at the next start), as tsgi-dev says.
      // Before: "(set in the environment or a .env file) ... or PORT".
      const fromFile = (file: string) =>
        `cannot listen on 127.0.0.1:${busy.port}: the address is already in use (EADDRINUSE); port ${busy.port} came from PORT (set in ${file}): stop the process using it, or pick another port with --port (which wins over PORT) or change PORT in ${file}`;
      fs.writeFileSync(join(dir, ".env"), `PORT=${busy.port}\n`);
      for (const extra of [[], ["--workers", "2"], ["--workers", "1", "--reuse-port"]]) {
        const r = await run(extra, undefined);
        expect([extra.join(" "), r.code]).toEqual([extra.join(" "), 1]);
        expect(r.out).toContain(fromFile(".env"));
      }
      // .env.local ranks over .env (Bun's order, outside test mode: bun test sets NODE_ENV=test, in which Bun
      // skips .env.local); a PORT from the shell still wins over both and is named as before.
      fs.writeFileSync(join(dir, ".env.local"), `PORT=${busy.port}\n`);
      fs.writeFileSync(join(dir, ".env"), "PORT=not-a-port\n");
      expect((await run([], undefined, "development")).out).toContain(fromFile(".env.local"));
      expect((await run([], String(busy.port), "development")).out).toContain(fromPort);
    } finally {
      busy.stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("a --host that does not resolve (.invalid, RFC 6761): one line naming it, with workers and without, exit 1", async () => {
    for (const workers of [[], ["--workers", "1"], ["--workers", "1", "--reuse-port"]]) {
      const port = freePort();
      const r = await runCli([APP, "--host", "no-such-host.invalid", "--port", String(port), ...workers]);
      expect(r.code, workers.join(" ")).toBe(1);
      expect(r.out).toContain(`cannot listen on no-such-host.invalid:${port}: no-such-host.invalid is not an IP address and does not resolve to one here; give an address such as 127.0.0.1, ::1 or 0.0.0.0 (ENOTFOUND)`);
      expect(r.out).not.toContain("Failed to listen");
    }
  }, 40_000);

  test("a missing app: exit 1 with the path", async () => {
    const r = await runCli(["./no-such-app.ts", "--port", String(freePort())]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("no such file");
  }, 20_000);

  test("a file: URL or a quoted '~/app.ts' (no shell expansion): 'no such file' says so and gives the path, with --workers and without (before: 'no such file' alone)", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-url-"));
    try {
      fs.mkdirSync(join(dir, "home"));
      fs.writeFileSync(join(dir, "home", "app.ts"), "export default (environ: unknown, startResponse: unknown) => [];\n");
      const file = join(dir, "home", "app.ts");
      const cases: Array<[string, string]> = [
        [`${Bun.pathToFileURL(file).href}:app`, `no such file: ${Bun.pathToFileURL(file).href}; a file: URL is no path here: give its path, ${file}:app\n`],
        ["file:///no-such-dir/app.ts", "no such file: file:///no-such-dir/app.ts; a file: URL is no path here: its path, /no-such-dir/app.ts, is not there either\n"],
        ["~/app.ts", `no such file: ~/app.ts; the shell did not expand the "~" (it does not inside quotes, and tsgi does not): write $HOME/app.ts or an absolute path: ${file}\n`],
        ["~/nope.ts", 'no such file: ~/nope.ts; the shell did not expand the "~" (it does not inside quotes, and tsgi does not): write $HOME/nope.ts or an absolute path\n'],
      ];
      for (const [arg, message] of cases) {
        for (const workers of [[], ["--workers", "1"]]) {
          const what = [arg, ...workers].join(" ");
          const p = Bun.spawn([process.execPath, CLI, "serve", arg, "--port", String(freePort()), "--no-access-log", ...workers], { stdout: "pipe", stderr: "pipe", cwd: dir, env: { ...process.env, HOME: join(dir, "home") } });
          const timer = setTimeout(() => p.kill(), 10_000);
          const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
          clearTimeout(timer);
          expect(await p.exited, what).toBe(1);
          expect(out, what).toContain(message);
          expect(out, what).not.toContain("    at "); // no stack
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("an app argument ending in ':' (no export name) is a bad command line: exit 2 with what to write, with workers and without", async () => {
    for (const workers of [[], ["--workers", "1"]]) {
      const r = await runCli([`${APP}:`, "--port", String(freePort()), ...workers]);
      expect(r.code, workers.join(" ")).toBe(2);
      expect(r.out).toContain(`no export name after ':' in ${JSON.stringify(`${APP}:`)}: write ${APP} for the default export or ${APP}:name for another`);
      expect(r.out).not.toContain("    at ");
    }
    // An empty app argument ("$APP" unset in a script): the message names the command being run, not tsgi-dev.
    const empty = await runCli(["", "--port", String(freePort())]);
    expect(empty.code).toBe(2);
    expect(empty.out).toContain("no app given: usage `tsgi serve ./app.ts` or `tsgi serve ./app.ts:name`");
    expect(empty.out).not.toContain("tsgi-dev");
  }, 20_000);

  test("an app argument without its extension, a directory, or an export that is not an app: what to give instead", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    try {
      await Bun.write(join(dir, "app.ts"), "export default 42;\n");
      // An async factory's result exported as it is.
      await Bun.write(join(dir, "factory.ts"), "const createApp = async () => (environ: unknown, startResponse: unknown) => [];\nexport default createApp();\n");
      await Bun.write(join(dir, "cls.ts"), "export default class App {\n  constructor(environ: unknown, startResponse: unknown) {}\n}\n");
      await Bun.write(join(dir, "fetch1.ts"), "export default { fetch: 1 };\n");
      await Bun.write(join(dir, "unbuilt.ts"), "const app: { fetch?: unknown } = {};\nexport default { fetch: app.fetch };\n");
      const cases: Array<[string, string]> = [
        ["./app", "no such file: ./app; did you mean ./app.ts?"],
        [".", ". is a directory: give the app's module file, e.g. ./app.ts"],
        // uvicorn's `main:app`: the export name stays in what to give.
        ["./app:app", "no such file: ./app; did you mean ./app.ts:app?"],
        [".:api", ". is a directory: give the app's module file, e.g. ./app.ts:api"],
        ["./app.ts", "the default export of ./app.ts is a number, neither a TSGI application"],
        ["./factory.ts", "the default export of ./factory.ts is a Promise (export what it resolves to: export default await createApp()), neither"],
        // A class was served, and every request failed with a 500 (spec.md: a tool refuses an unusable export before it accepts connections).
        ["./cls.ts", "the default export of ./cls.ts is a class (App), which cannot be called without new, neither a TSGI application"],
        // A fetch that is there but no function: its type (before: "an object without a fetch() method").
        ["./fetch1.ts", "the default export of ./fetch1.ts is an object whose fetch is a number, not a function, neither a TSGI application"],
        ["./unbuilt.ts", "the default export of ./unbuilt.ts is an object whose fetch is undefined, not a function, neither a TSGI application"],
      ];
      for (const [arg, message] of cases) {
        const r = await runTsgi(["serve", arg, "--port", String(freePort())], dir);
        expect(r.code, arg).toBe(1);
        expect(r.out, arg).toContain(message);
        expect(r.out, arg).not.toContain("    at "); // no stack
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("an app file that is not code (app.py, README.md, data.json): one line saying it is no JavaScript or TypeScript module and which to give, the module of the same name when there is one, as tsgi-dev says it, with --workers and without (before: only 'the default export is a string, neither a TSGI application ...')", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-py-"));
    try {
      fs.writeFileSync(join(dir, "app.py"), "def app(environ, start_response): pass\n");
      fs.writeFileSync(join(dir, "app.ts"), "export default (environ: unknown, startResponse: unknown) => [];\n");
      fs.writeFileSync(join(dir, "README.md"), "# my app\n");
      fs.writeFileSync(join(dir, "data.json"), "{}\n");
      fs.writeFileSync(join(dir, "obj.ts"), "export default {};\n");
      const cases: Array<[string, string]> = [
        ["./app.py", "the default export of ./app.py is a string, not an application: ./app.py is not a JavaScript or TypeScript module (Bun imports a .py file as text or data); did you mean ./app.ts?\n"],
        ["README.md", "the default export of README.md is a string, not an application: README.md is not a JavaScript or TypeScript module (Bun imports a .md file as text or data); give the app's module, e.g. tsgi serve ./app.ts\n"],
        ["./data.json", "the default export of ./data.json is an object without a fetch() method, not an application: ./data.json is not a JavaScript or TypeScript module (Bun imports a .json file as text or data); give the app's module, e.g. tsgi serve ./app.ts\n"],
        // A code module keeps the shapes an app may take.
        ["./obj.ts", "the default export of ./obj.ts is an object without a fetch() method, neither a TSGI application (environ, startResponse) nor a fetch handler"],
      ];
      for (const [arg, message] of cases) {
        for (const workers of [[], ["--workers", "1"]]) {
          const what = [arg, ...workers].join(" ");
          const r = await runTsgi(["serve", arg, "--port", String(freePort()), "--no-access-log", ...workers], dir);
          expect(r.code, what).toBe(1);
          expect(r.out, what).toContain(message);
          expect(r.out, what).not.toContain("    at "); // no stack
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("an app under a directory whose name has a '?' or (POSIX) a '\\', or a file named so, which Bun cannot import: exit 1 naming what to rename, as tsgi-dev says it, with --workers and without (before: Bun's 'Cannot find module' of a file that is there, or 'ENOENT reading .../my/app/app.ts')", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-q-"));
    const hello = "export default (environ: unknown, startResponse: (s: string, h: [string, string][]) => void) => {\n  startResponse('200 OK', []);\n  return [new TextEncoder().encode('hi')];\n};\n";
    try {
      for (const sub of ["my?app", "my\\app"]) {
        fs.mkdirSync(join(dir, sub));
        fs.writeFileSync(join(dir, sub, "app.ts"), hello);
      }
      fs.writeFileSync(join(dir, "q?.ts"), hello);
      const dirMessage = (name: string, char: string, reads: string) =>
        `cannot load ./app.ts: the directory ${join(dir, name)} has a "${char}" in its name, which Bun reads as ${reads}: it imports no module under it; rename the directory without the "${char}"`;
      const cases: Array<[string, string[], string]> = [
        [join(dir, "my?app"), ["./app.ts"], dirMessage("my?app", "?", "the start of a query")],
        [dir, ["./my?app/app.ts"], `cannot load ./my?app/app.ts: the directory ${join(dir, "my?app")} has a "?" in its name`],
        [join(dir, "my\\app"), ["./app.ts"], dirMessage("my\\app", "\\", "a path separator")],
        [dir, ["./q?.ts"], `cannot load ./q?.ts: the file ${join(dir, "q?.ts")} has a "?" in its name, which Bun reads as the start of a query: it imports no module there; rename the file without the "?"`],
      ];
      for (const [cwd, args, message] of cases) {
        for (const workers of [[], ["--workers", "1"]]) {
          const what = [...args, ...workers].join(" ");
          const r = await runTsgi(["serve", ...args, "--port", String(freePort()), "--no-access-log", ...workers], cwd);
          expect(r.code, what).toBe(1);
          expect(r.out, what).toContain(message);
          expect(r.out, what).not.toContain("Cannot find module");
          expect(r.out, what).not.toContain("ENOENT reading");
          expect(r.out, what).not.toContain("    at "); // no stack
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // As root every file is readable: these run the commands as nobody.
  const asNobody = process.getuid?.() === 0 && Bun.which("runuser") !== null;
  test.skipIf(!asNobody)("an app file this user may not read, or behind a directory it may not search: 'cannot read', not 'no such file' or Bun's 'SyntaxError: EACCES reading'", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-perm-"));
    try {
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(join(dir, "secret.ts"), "export default (e: unknown, s: unknown) => [];\n", { mode: 0o600 });
      fs.mkdirSync(join(dir, "private"), { mode: 0o700 });
      fs.writeFileSync(join(dir, "private", "app.ts"), "export default (e: unknown, s: unknown) => [];\n");
      const cases: Array<[string, string]> = [
        [join(dir, "secret.ts"), `cannot read ${join(dir, "secret.ts")}: permission denied (this user may not read the file)`],
        [join(dir, "private", "app.ts"), `cannot read ${join(dir, "private", "app.ts")}: permission denied (a directory on its path is not searchable by this user)`],
      ];
      for (const [file, message] of cases) {
        for (const cli of [[CLI, "serve"], [join(import.meta.dir, "../src/cli/dev.ts")]]) {
          const p = Bun.spawn(["runuser", "-u", "nobody", "--", process.execPath, ...cli, file, "--port", String(freePort())], { stdout: "pipe", stderr: "pipe" });
          const timer = setTimeout(() => p.kill(), 10_000);
          const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
          clearTimeout(timer);
          expect(await p.exited, `${cli.join(" ")} ${file}`).toBe(1);
          expect(out, `${cli.join(" ")} ${file}`).toContain(message);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // Linux lets no ordinary user bind below ip_unprivileged_port_start (1024 unless lowered).
  const UNPRIVILEGED_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
  const privilegedPort80 = asNobody && (existsSync(UNPRIVILEGED_START) ? Number(readFileSync(UNPRIVILEGED_START, "utf8")) : 1024) > 80;
  test.skipIf(!privilegedPort80)("--port 80 as an ordinary user: the reason and what to do, from one process, the supervisor and a --reuse-port worker", async () => {
    for (const extra of [[], ["--workers", "2"], ["--workers", "2", "--reuse-port"]]) {
      const p = Bun.spawn(["runuser", "-u", "nobody", "--", process.execPath, CLI, "serve", APP, "--port", "80", "--no-access-log", ...extra], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: "/tmp" } });
      const timer = setTimeout(() => p.kill(), 15_000);
      const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
      clearTimeout(timer);
      expect(await p.exited, extra.join(" ")).toBe(1);
      expect(out, extra.join(" ")).toContain(
        "cannot listen on 127.0.0.1:80: permission denied (ports below 1024 need privileges) (EACCES); serve on --port 1024 or above (behind nginx, say), or let this user bind it (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)",
      );
      expect(out, extra.join(" ")).not.toContain("    at ");
    }
  }, 60_000);

  test("no default export: the exports, and one that is an application", async () => {
    const dir = (await import("node:fs")).mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    const file = join(dir, "named.ts");
    await Bun.write(file, 'export const VERSION = "1";\nexport function serve(environ: any, startResponse: any) { return []; }\n');
    const r = await runCli([file, "--port", String(freePort())]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${file} has no default export (exports: VERSION, serve); pick one with ${file}:serve`);
    // The module named as the user gave it (a relative path stays relative, as tsgi-dev says ./named.ts), not by its absolute path.
    const relative = await runTsgi(["serve", "./named.ts", "--port", String(freePort())], dir);
    expect(relative.code).toBe(1);
    expect(relative.out).toContain("./named.ts has no default export (exports: VERSION, serve); pick one with ./named.ts:serve\n");
    expect(relative.out).not.toContain(dir);
    // Exports that are no application, and none at all (the export forgotten): the same words as tsgi-dev's, and what to do.
    await Bun.write(file, 'export const VERSION = "1";\n');
    const values = await runTsgi(["serve", "named.ts", "--port", String(freePort())], dir);
    expect(values.code).toBe(1);
    expect(values.out).toContain(
      "named.ts has no default export (exports: VERSION); none of them is an application (a function (environ, startResponse), a fetch handler (request) => Response, or an object with a fetch method): " +
        "the default export is the one served, so export yours with `export default app`, or name it after a colon: named.ts:app\n",
    );
    expect(values.out).not.toContain("    at ");
    // An export named app that is no application (a config object, an app's router): what it is, not named.ts:app, which would fail in turn.
    await Bun.write(file, 'export const VERSION = "1";\nexport const app = { name: "shop", routes: [] };\n');
    const notApp = await runTsgi(["serve", "named.ts", "--port", String(freePort())], dir);
    expect(notApp.code).toBe(1);
    expect(notApp.out).toContain(
      "named.ts has no default export (exports: VERSION, app); none of them is an application (a function (environ, startResponse), a fetch handler (request) => Response, or an object with a fetch method): " +
        "export app is an object without a fetch() method; the default export is the one served, so export your application with `export default`, or name its export after a colon: named.ts:<name>\n",
    );
    expect(notApp.out).not.toContain("named.ts:app");
    await Bun.write(file, "const app = (environ: any, startResponse: any) => [];\n");
    const bare = await runCli([file, "--port", String(freePort())]);
    expect(bare.code).toBe(1);
    expect(bare.out).toContain(`${file} has no default export (it exports nothing); export your application: \`export default app\``);
    (await import("node:fs")).rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  test("a worker that fails to boot stops the supervisor with its message", async () => {
    const r = await runCli(["./no-such-app.ts", "--workers", "2", "--port", String(freePort())]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("worker failed to boot: no such file");
  }, 20_000);

  test("a worker that exits while importing the app: its exit code in the message", async () => {
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    const file = join(dir, "exits.ts");
    await Bun.write(file, "process.exit(5);\nexport default () => [];\n");
    const r = await runCli([file, "--workers", "2", "--port", String(freePort())]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/worker failed to boot: worker \d+ exited before listening \(code 5\)/);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  test("--fd that is not open, or not a socket: the same one line with --workers as without (exit 1)", async () => {
    const fs = await import("node:fs");
    // Not open: the child has fds 0-2 only.
    const closed = "cannot serve file descriptor 9: it is not open in this process (EBADF); pass a listening socket the parent left open, e.g. systemd socket activation's 3";
    for (const workers of [[], ["--workers", "2"]]) {
      const r = await runCli([APP, "--fd", "9", ...workers]);
      expect(r.code).toBe(1);
      expect(r.out.trim().split("\n")).toHaveLength(1);
      expect(r.out).toContain(closed);
    }
    // A regular file as fd 3.
    const file = fs.openSync(APP, "r");
    try {
      for (const workers of [[], ["--workers", "2"]]) {
        const p = Bun.spawn([process.execPath, CLI, "serve", APP, "--fd", "3", ...workers], { stdio: ["ignore", "pipe", "pipe", file] });
        const timer = setTimeout(() => p.kill(), 10_000);
        const out = (await new Response(p.stdout as ReadableStream).text()) + (await new Response(p.stderr as ReadableStream).text());
        clearTimeout(timer);
        expect(await p.exited).toBe(1);
        expect(out).toContain("cannot serve file descriptor 3: it is open but not a socket (ENOTSOCK); pass a listening socket, e.g. systemd socket activation's 3");
        expect(out).not.toContain("posix_spawn");
      }
    } finally {
      fs.closeSync(file);
    }
  }, 30_000);

  test("an app importing a package that is not installed: what to do, as tsgi-dev says it (npm ci --omit=dev leaves out devDependencies)", async () => {
    // Before: "cannot import /dir/app.ts: Cannot find package 'hono-not-installed' imported from /dir/app.ts" and nothing more.
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    try {
      const file = join(dir, "app.ts");
      await Bun.write(file, 'import { Hono } from "hono-not-installed";\nexport default new Hono();\n');
      const expected = `cannot import ${file}: Cannot find package 'hono-not-installed' imported from ${file}; hono-not-installed is not installed here (no node_modules/hono-not-installed in ${dir} or above). If the name is right, install it (npm install hono-not-installed, or bun add hono-not-installed), and list it in package.json's dependencies (npm ci --omit=dev leaves out devDependencies)\n`;
      const one = await runCli([file, "--port", String(freePort())]);
      expect(one.code).toBe(1);
      expect(one.out).toBe(`[error] ${expected}`);
      const workers = await runCli([file, "--workers", "2", "--port", String(freePort())]);
      expect(workers.code).toBe(1);
      expect(workers.out).toContain(`worker failed to boot: ${expected}`);
      // A relative module that is missing is no package: no install advice.
      await Bun.write(file, 'import x from "./lib";\nexport default x;\n');
      const relative = await runCli([file, "--port", String(freePort())]);
      expect(relative.code).toBe(1);
      expect(relative.out).toContain(`Cannot find module './lib' imported from ${file}`);
      expect(relative.out).not.toContain("install");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("an app importing a tsconfig \"paths\" alias or package.json \"imports\" entry with no module behind it: said to be an alias and where the module goes, no npm install; a misspelt path: the near file", async () => {
    // Before: `Cannot find package '@lib/d' ...; @lib/d is not installed here ... (npm install @lib/d ...)`, and nothing for `#db`.
    const fs = await import("node:fs");
    const dir = fs.mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    try {
      fs.mkdirSync(join(dir, "src/lib"), { recursive: true });
      await Bun.write(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { paths: { "@lib/*": ["./src/lib/*"] } } }));
      await Bun.write(join(dir, "package.json"), JSON.stringify({ name: "x", imports: { "#db": "./src/db.ts" } }));
      const file = join(dir, "src/app.ts");
      await Bun.write(file, 'import d from "@lib/d";\nexport default d;\n');
      const lib = join(dir, "src/lib/d");
      const alias = `cannot import ${file}: Cannot find package '@lib/d' imported from ${file}; @lib/d is a "paths" alias of ${join(dir, "tsconfig.json")} ("@lib/*"), and there is no module at ${lib} yet (${lib}.ts, .tsx, .js, ... or ${lib}/index.ts): create it or fix the name\n`;
      const one = await runCli([file, "--port", String(freePort())]);
      expect(one.code).toBe(1);
      expect(one.out).toBe(`[error] ${alias}`);
      const workers = await runCli([file, "--workers", "2", "--port", String(freePort())]);
      expect(workers.code).toBe(1);
      expect(workers.out).toContain(`worker failed to boot: ${alias}`);
      // A misspelt name behind the alias: the near file.
      await Bun.write(join(dir, "src/lib/render.ts"), "export default () => new Response();\n");
      await Bun.write(file, 'import d from "@lib/rendr";\nexport default d;\n');
      const near = await runCli([file, "--port", String(freePort())]);
      expect(near.code).toBe(1);
      expect(near.out).toContain(`; Did you mean "@lib/render"? (@lib/rendr is a "paths" alias of ${join(dir, "tsconfig.json")} ("@lib/*"), and there is no module at ${join(dir, "src/lib/rendr")})\n`);
      // A misspelt relative path: the near file, as tsgi-dev says it.
      await Bun.write(file, 'import d from "./lib/rendr.ts";\nexport default d;\n');
      const relative = await runCli([file, "--port", String(freePort())]);
      expect(relative.code).toBe(1);
      expect(relative.out).toContain(`; Did you mean "./lib/render.ts"? (./lib/rendr.ts is not there)\n`);
      // A package.json "imports" entry.
      await Bun.write(file, 'import db from "#db";\nexport default db;\n');
      const entry = await runCli([file, "--port", String(freePort())]);
      expect(entry.code).toBe(1);
      expect(entry.out).toBe(`[error] cannot import ${file}: Cannot find package '#db' imported from ${file}; #db is an "imports" entry of ${join(dir, "package.json")} ("#db"), and there is no module at ${join(dir, "src/db.ts")} yet: create it or fix the name\n`);
      for (const r of [one, workers, near, relative, entry]) expect(r.out).not.toContain("install");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("an app that does not compile: one line with file:line:column; workers are not replaced at startup", async () => {
    const dir = (await import("node:fs")).mkdtempSync(join((await import("node:os")).tmpdir(), "tsgi-w-"));
    const file = join(dir, "broken.ts");
    await Bun.write(file, 'export default function app() {\n  return [new Uint8Array(1)\n}\n');
    const expected = `cannot import ${file}: SyntaxError: Expected "]" but found "}" (${file}:3:1) (and 1 more error in this file)`;
    const one = await runCli([file, "--port", String(freePort())]);
    expect(one.code).toBe(1);
    expect(one.out).toContain(expected);
    const workers = await runCli([file, "--workers", "2", "--port", String(freePort())]);
    expect(workers.code).toBe(1);
    expect(workers.out).toContain(`worker failed to boot: ${expected}`);
    // Said once (not once per worker and again), and no replacements started.
    expect(workers.out.split("Expected").length - 1).toBe(1);
    expect(workers.out).not.toContain("starting a replacement");
    (await import("node:fs")).rmSync(dir, { recursive: true, force: true });
  }, 20_000);
});
