/**
 * `tsgi serve --workers N` with many workers, through the real CLI: a stop
 * signal at any moment of the start-up ends the spawning at once and every
 * worker started so far; a worker that cannot be spawned (a limit) fails the
 * start with what to do; a pool far larger than the CPUs is warned about;
 * workers whose supervisor was killed exit by themselves. Every process a
 * test starts is found through a marker in its environment (the workers
 * inherit the supervisor's) and killed in a `finally`. At most 64 workers.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { collect, servingPort } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";
import { MAX_WORKERS_PER_CORE } from "../src/deploy/options.ts";

const CLI = join(import.meta.dir, "../src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/workers-app.ts");

/** Numeric entries of /proc: every process's pid. */
function allPids(): number[] {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number);
}

/** The state letter of `pid` (`R`, `S`, `Z` ...) and its parent's pid, or null when it is gone. */
function stat(pid: number): { state: string; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid] = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** `pid` exists and is not a zombie (a process that exited and waits for its reaper, PID 1 here for an orphan: `kill(pid, 0)` still succeeds on it). */
function running(pid: number): boolean {
  const s = stat(pid);
  return s !== null && s.state !== "Z";
}

/** Pids of the running children of `ppid` (its workers, for a supervisor). */
function childrenOf(ppid: number): number[] {
  return allPids().filter((pid) => {
    const s = stat(pid);
    return s !== null && s.ppid === ppid && s.state !== "Z";
  });
}

/** Pids of the running processes whose environment holds `marker` (`NAME=value`), but `except`. */
function marked(marker: string, except = -1): number[] {
  return allPids().filter((pid) => {
    if (pid === except || !running(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(marker);
    } catch {
      return false; // gone, or another user's
    }
  });
}

/**
 * `tsgi serve <app> --workers N` (and `extra` flags) on a port of its own (`--port 0`), access log off, with a
 * unique marker in its environment (and so its workers'); `prefix` runs it under a wrapper
 * (`taskset -c 0`, `sh -c 'ulimit -n 80; exec "$@"' sh`). `cleanup()` kills every
 * marked process left.
 */
function serve(app: string, workers: number, extra: string[] = [], prefix: string[] = []) {
  const marker = `TSGI_TEST_SPAWN_MARK=${process.pid}-${Math.random().toString(36).slice(2)}`;
  const [name, value] = marker.split("=") as [string, string];
  const proc = Bun.spawn([...prefix, process.execPath, CLI, "serve", app, "--port", "0", "--workers", String(workers), "--no-access-log", ...extra], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, [name]: value },
  });
  const err = collect(proc.stderr as ReadableStream<Uint8Array>);
  const cleanup = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
    for (const pid of marked(marker)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  };
  return {
    proc,
    err,
    /** The port it bound (`--port 0`), from its "serving ... on URL" line: read it once that line is out. */
    get port(): number {
      const port = servingPort(err.text());
      if (port === undefined) throw new Error(`tsgi serve is not serving yet: ${err.text()}`);
      return port;
    },
    marker,
    cleanup,
  };
}

/**
 * Every child `proc` has while it runs (read from /proc every few ms, for at most `ms`), until
 * `until(seen)` is true (then it resolves, `proc` still running) or `proc` exits.
 */
async function watchChildren(proc: { pid: number; exitCode: number | null }, seen: Set<number>, until: (seen: Set<number>) => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (proc.exitCode === null && performance.now() < deadline) {
    for (const pid of childrenOf(proc.pid)) seen.add(pid);
    if (until(seen)) return;
    await Bun.sleep(2);
  }
}

/** `serve()`'s `prefix` for a supervisor with at most 80 open files (`ulimit -n 80`): it holds a few per worker. */
const EIGHTY_FILES = ["sh", "-c", 'ulimit -n 80 && exec "$@"', "sh"];

/**
 * SIGTTIN to `s`'s supervisor one at a time, each waited for ("one worker
 * more: " logged, 5 s at most; 30 at most), until a worker cannot be spawned
 * or the supervisor exits. Resolves with the line that says so ("cannot
 * start a worker ...", or all of stderr when none came) and the pool size
 * it names ("still N worker(s)"; NaN without one).
 */
async function growUntilRefused(s: ReturnType<typeof serve>): Promise<{ line: string; target: number }> {
  let more = 0;
  for (let i = 0; i < 30 && !s.err.text().includes("cannot start a worker"); i++) {
    s.proc.kill("SIGTTIN");
    const logged = () => (s.err.text().match(/one worker more: /g) ?? []).length;
    expect(await waitFor(() => logged() > more || s.proc.exitCode !== null, 5000)).toBe(true);
    more = logged();
    if (s.proc.exitCode !== null) break;
  }
  const line = s.err.text().split("\n").find((l) => l.includes("cannot start a worker")) ?? s.err.text();
  return { line, target: Number(/still (\d+) worker/.exec(line)?.[1]) };
}

/** Resolves with `proc`'s exit code, or "still running" after `ms`. */
function exitWithin(proc: { exited: Promise<number> }, ms: number): Promise<number | string> {
  return Promise.race([proc.exited, Bun.sleep(ms).then(() => "still running")]);
}

/** 64, or the most `--workers` this machine takes (32 a core) if that is fewer. */
const MANY = Math.min(64, MAX_WORKERS_PER_CORE * availableParallelism());

describe("a stop signal while the first workers are being started", () => {
  // The moment is the start's progress, not a time: a signal 50 ms after the process starts comes
  // before Bun has loaded the CLI (nothing to stop), and on a loaded machine 500 ms may be too.
  const moments = [
    { signal: "SIGTERM", after: 1 },
    { signal: "SIGINT", after: 8 },
    { signal: "SIGQUIT", after: 24 },
  ] as const;
  for (const { signal, after } of moments) {
    test(`${signal} once ${after} of ${MANY} workers are spawned: spawning stops at once, every worker started exits, and so does the supervisor (0) within the graceful timeout (before: it spawned all of them before acting on the signal)`, async () => {
      const s = serve(APP, MANY, ["--graceful-timeout", "5"]);
      try {
        // Every worker seen: the supervisor's children, read from /proc every few ms.
        const seen = new Set<number>();
        await watchChildren(s.proc, seen, (seen) => seen.size >= after, 30_000);
        expect(seen.size).toBeGreaterThanOrEqual(after);
        const atSignal = seen.size;
        s.proc.kill(signal);
        const signalled = performance.now();
        await watchChildren(s.proc, seen, () => false, 15_000);
        const code = await exitWithin(s.proc, 1000);
        const took = performance.now() - signalled;
        await s.err.done;
        expect(code).toBe(0);
        // The graceful timeout (5 s), and the 3 s the supervisor gives its workers after it; booting workers have nothing to drain.
        expect(took).toBeLessThan(8000);
        // The few the supervisor spawned between the look that saw `after` and the signal's turn, not the rest of MANY.
        expect(seen.size).toBeLessThanOrEqual(atSignal + 8);
        expect(seen.size).toBeLessThan(MANY);
        // None left: neither the workers seen nor any the looks missed (the marker in their environment).
        expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
        expect([...seen].filter(running)).toEqual([]);
        expect(s.err.text()).toContain(`${signal}: stopping`);
        expect(s.err.text()).not.toContain("failed to boot");
      } finally {
        await s.cleanup();
      }
    }, 60_000);
  }
});

describe("a stop signal while a SIGHUP reload starts its new workers", () => {
  test("SIGTERM once a few of 24 new workers are spawned: the reload spawns no more, every worker (old and new) exits, the supervisor exits 0 (before: it spawned all 24 new workers before acting on it)", async () => {
    const s = serve(APP, 24, ["--graceful-timeout", "5"]);
    try {
      expect(await waitFor(() => /24 worker\(s\) serving/.test(s.err.text()), 30_000)).toBe(true);
      const seen = new Set<number>(childrenOf(s.proc.pid));
      expect(seen.size).toBe(24);
      s.proc.kill("SIGHUP");
      await watchChildren(s.proc, seen, (seen) => seen.size >= 24 + 2, 15_000);
      const atSignal = seen.size;
      expect(atSignal).toBeGreaterThanOrEqual(26);
      s.proc.kill("SIGTERM");
      const signalled = performance.now();
      await watchChildren(s.proc, seen, () => false, 15_000);
      const code = await exitWithin(s.proc, 1000);
      const took = performance.now() - signalled;
      await s.err.done;
      expect(code).toBe(0);
      expect(took).toBeLessThan(8000);
      expect(seen.size).toBeLessThanOrEqual(atSignal + 8);
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
      expect(s.err.text()).not.toContain("reload failed");
    } finally {
      await s.cleanup();
    }
  }, 60_000);
});

describe("a worker that fails to boot while the first workers are being started", () => {
  // The spawning also ends at the first boot failure (the rest would fail the same way); on this
  // machine all 16 are spawned before the first one fails, so only the outcome is pinned here.
  test("the start fails with its message, exit 1, and no worker is left", async () => {
    const app = join(tmpdir(), `tsgi-no-such-app-${process.pid}.ts`);
    const s = serve(app, 16);
    try {
      const seen = new Set<number>();
      await watchChildren(s.proc, seen, () => false, 30_000);
      expect(await exitWithin(s.proc, 5000)).toBe(1);
      await s.err.done;
      expect(s.err.text()).toContain("worker failed to boot: no such file");
      expect(seen.size).toBeGreaterThan(0);
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
      expect([...seen].filter(running)).toEqual([]);
    } finally {
      await s.cleanup();
    }
  }, 60_000);
});

describe("a worker that cannot be spawned", () => {
  test("the open-file limit reached (EMFILE) while the first workers are started: one line saying which worker, the limit and what to do; exit 1; the workers started are stopped (before: 'cannot listen on 127.0.0.1:<port>: ... EMFILE', as if the port could not be bound)", async () => {
    // The supervisor holds a few descriptors per worker (its IPC socket, its pipes): 80 hold fewer than 60 workers.
    const s = serve(APP, 60, [], EIGHTY_FILES);
    try {
      expect(await exitWithin(s.proc, 30_000)).toBe(1);
      await s.err.done;
      const line = s.err.text().split("\n").find((l) => l.includes("cannot start worker")) ?? s.err.text();
      expect(line).toMatch(/cannot start worker \d+ of 60: EMFILE/);
      expect(line).toContain("raise the open-file limit, ulimit -n or systemd's LimitNOFILE=, or start fewer --workers");
      expect(s.err.text()).not.toContain("cannot listen");
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
    } finally {
      await s.cleanup();
    }
  }, 60_000);
});

describe("a worker that cannot be spawned during a SIGHUP reload", () => {
  test("the open-file limit reached (EMFILE) by the new workers: the reload fails with that line, the new workers are stopped and the old ones keep serving (before: the supervisor died of the unhandled rejection, printing a stack, and its workers with it: nothing served)", async () => {
    // 20 workers fit in 80 descriptors; 20 more beside them do not.
    const s = serve(APP, 20, [], EIGHTY_FILES);
    try {
      expect(await waitFor(() => /20 worker\(s\) serving/.test(s.err.text()), 30_000)).toBe(true);
      const old = childrenOf(s.proc.pid).sort();
      expect(old.length).toBe(20);
      s.proc.kill("SIGHUP");
      expect(await waitFor(() => s.err.text().includes("reload failed"), 20_000)).toBe(true);
      expect(s.err.text()).toMatch(/reload failed \(cannot start worker \d+ of 20: EMFILE[^\n]*raise the open-file limit[^\n]*\); the old workers keep serving\n/);
      // The new workers are stopped: only the old ones are left, and they serve.
      expect(await waitFor(() => childrenOf(s.proc.pid).sort().join() === old.join(), 10_000)).toBe(true);
      const res = await fetch(`http://127.0.0.1:${s.port}/`, { signal: AbortSignal.timeout(5000) });
      expect(old).toContain(((await res.json()) as { pid: number }).pid);
      s.proc.kill("SIGTERM");
      expect(await exitWithin(s.proc, 15_000)).toBe(0);
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
    } finally {
      await s.cleanup();
    }
  }, 90_000);
});

describe("a worker that cannot be spawned for SIGTTIN, or as a replacement", () => {
  test("the open-file limit reached (EMFILE): SIGTTIN logs one line with what to do and leaves the pool as it was; a crashed worker's replacement that cannot be spawned is logged and retried; the supervisor and its workers serve on (before: an uncaught EMFILE with a stack, exit 1, every worker gone)", async () => {
    const s = serve(APP, 20, [], EIGHTY_FILES);
    try {
      expect(await waitFor(() => /20 worker\(s\) serving/.test(s.err.text()), 30_000)).toBe(true);
      // One SIGTTIN at a time, each waited for, until a worker cannot be spawned (80 descriptors hold fewer than 40 workers).
      const { line, target } = await growUntilRefused(s);
      expect(s.err.text()).not.toContain("    at ");
      expect(s.proc.exitCode).toBeNull();
      expect(line).toMatch(/one worker more: cannot start a worker: EMFILE.*raise the open-file limit, ulimit -n or systemd's LimitNOFILE=, or start fewer --workers\); still \d+ worker\(s\)$/);
      expect(await waitFor(() => childrenOf(s.proc.pid).length === target, 10_000)).toBe(true);
      // A worker killed, and SIGTTIN while its replacement waits (0.1 s): SIGTTIN's worker takes the descriptors the
      // killed one freed, so the replacement cannot be spawned; it is logged and tried again later. On a loaded machine
      // the replacement may be spawned before SIGTTIN is handled (SIGTTIN's worker is then the one refused, the pool
      // unchanged): tried again with another worker, 5 times at most.
      const replacementRefused = () => s.err.text().includes("cannot start a replacement worker");
      for (let attempt = 0; attempt < 5 && !replacementRefused(); attempt++) {
        const victim = childrenOf(s.proc.pid)[0]!;
        const refusedBefore = (s.err.text().match(/cannot start a worker/g) ?? []).length;
        process.kill(victim, "SIGKILL");
        expect(await waitFor(() => s.err.text().includes(`worker ${victim} exited unexpectedly`), 5000)).toBe(true);
        s.proc.kill("SIGTTIN");
        // Either the replacement is refused, or SIGTTIN's worker is (the replacement won the freed descriptors).
        const refusedNow = () => (s.err.text().match(/cannot start a worker/g) ?? []).length > refusedBefore;
        expect(await waitFor(() => replacementRefused() || refusedNow(), 5000)).toBe(true);
        if (!replacementRefused()) expect(await waitFor(() => childrenOf(s.proc.pid).length === target, 10_000)).toBe(true);
      }
      expect(replacementRefused()).toBe(true);
      expect(s.err.text()).toMatch(/cannot start a replacement worker: EMFILE[^\n]*LimitNOFILE=[^\n]*\); the pool is short, \d+ of \d+ worker\(s\); trying again in 1\.0 s\n/);
      expect(s.proc.exitCode).toBeNull();
      expect(s.err.text()).not.toContain("    at ");
      const res = await fetch(`http://127.0.0.1:${s.port}/`, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(200);
      s.proc.kill("SIGTERM");
      expect(await exitWithin(s.proc, 15_000)).toBe(0);
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
    } finally {
      await s.cleanup();
    }
  }, 90_000);
});

describe("a --max-requests recycle whose replacement cannot be spawned", () => {
  // The limit is set on the running supervisor (prlimit, soft limit only): Bun raises its soft
  // open-file limit to the hard one at start-up, and raising a hard limit again needs CAP_SYS_RESOURCE.
  const prlimit = Bun.which("prlimit");
  test.skipIf(!prlimit)("the open-file limit reached (EMFILE): the recycle logs one line naming the worker and what to do; the old worker keeps serving, the pool keeps its size, the supervisor serves on; once the limit is raised again, the recycle is tried again and the worker is replaced (before: never recycled)", async () => {
    const nofile = (soft: number) => Bun.spawnSync([prlimit!, "--pid", String(s.proc.pid), `--nofile=${soft}:`]).exitCode;
    const s = serve(APP, 20, ["--max-requests", "3"]);
    try {
      expect(await waitFor(() => /20 worker\(s\) serving/.test(s.err.text()), 30_000)).toBe(true);
      expect(nofile(80)).toBe(0);
      // SIGTTIN one at a time until a worker cannot be spawned: the supervisor is then at its limit, as a recycle will find it.
      const { target } = await growUntilRefused(s);
      expect(await waitFor(() => childrenOf(s.proc.pid).length === target, 10_000)).toBe(true);
      // Requests on new connections, spread over the workers, until one has served 3 and asks to be recycled (300 at most).
      for (let i = 0; i < 300 && !s.err.text().includes("cannot start the replacement"); i++) {
        const res = await fetch(`http://127.0.0.1:${s.port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(await waitFor(() => s.err.text().includes("cannot start the replacement"), 5000)).toBe(true);
      const recycle =
        /cannot start the replacement for worker (\d+) \(max-requests\): EMFILE[^\n]*raise the open-file limit, ulimit -n or systemd's LimitNOFILE=, or start fewer --workers\); the old worker keeps serving; trying the recycle again in 1\.0 s \(the wait doubles, up to 30 s\)\n/.exec(
          s.err.text(),
        );
      expect(recycle?.[0] ?? s.err.text()).toContain("the old worker keeps serving");
      const kept = Number(recycle![1]);
      expect(s.err.text()).not.toContain("    at ");
      expect(s.proc.exitCode).toBeNull();
      // The old worker serves on, and the pool is the size it was.
      expect(childrenOf(s.proc.pid)).toContain(kept);
      expect(childrenOf(s.proc.pid).length).toBe(target);
      const res = await fetch(`http://127.0.0.1:${s.port}/`, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(200);
      // The operator raises the limit: a later try of the recycle spawns the replacement, and the old worker is stopped.
      expect(nofile(1024)).toBe(0);
      expect(await waitFor(() => !childrenOf(s.proc.pid).includes(kept), 40_000)).toBe(true);
      expect(s.err.text()).toMatch(new RegExp(`worker ${kept} served \\d+ requests \\(max-requests\\); recycling \\(the \\d+(?:st|nd|rd|th) try\\)\n`));
      expect(await waitFor(() => childrenOf(s.proc.pid).length === target, 10_000)).toBe(true);
      expect(s.err.text()).not.toContain("    at ");
      expect((await fetch(`http://127.0.0.1:${s.port}/`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
      s.proc.kill("SIGTERM");
      expect(await exitWithin(s.proc, 15_000)).toBe(0);
      expect(await waitFor(() => marked(s.marker).length === 0, 3000)).toBe(true);
    } finally {
      await s.cleanup();
    }
  }, 90_000);
});

describe("a pool far larger than the CPUs", () => {
  // taskset -c 0 gives tsgi serve one CPU (os.availableParallelism() counts its affinity mask): the warning is past 8 workers.
  const taskset = Bun.which("taskset");
  const cpus = taskset ? 1 : availableParallelism();
  const prefix = taskset ? [taskset, "-c", "0"] : [];

  test(`--workers ${8 * cpus + 1} on ${cpus} CPU(s): a warning naming the CPUs, the cost of a worker and the usual count; the pool starts and serves`, async () => {
    const s = serve(APP, 8 * cpus + 1, [], prefix);
    try {
      expect(await waitFor(() => /worker\(s\) serving/.test(s.err.text()), 40_000)).toBe(true);
      expect(s.err.text()).toContain(
        `warn: --workers ${8 * cpus + 1} is more than 8 per CPU: this process may use ${cpus} CPU(s), and each worker is a whole Bun process (some 30-60 MiB of memory, its own event loop), ` +
          `so workers beyond a few per CPU add memory and start-up time, not throughput; about one per CPU (--workers ${cpus}) is usual. Starting them one at a time; SIGTERM or Ctrl-C stops at any moment\n`,
      );
      expect(s.err.text().match(/is more than 8 per CPU/g)?.length).toBe(1); // once, by the supervisor
      expect((await fetch(`http://127.0.0.1:${s.port}/`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
      s.proc.kill("SIGTERM");
      expect(await exitWithin(s.proc, 15_000)).toBe(0);
    } finally {
      await s.cleanup();
    }
  }, 60_000);

  test(`--workers ${8 * cpus} on ${cpus} CPU(s): no warning`, async () => {
    const s = serve(APP, 8 * cpus, [], prefix);
    try {
      expect(await waitFor(() => /worker\(s\) serving/.test(s.err.text()), 40_000)).toBe(true);
      expect(s.err.text()).not.toContain("per CPU");
      s.proc.kill("SIGTERM");
      expect(await exitWithin(s.proc, 15_000)).toBe(0);
    } finally {
      await s.cleanup();
    }
  }, 60_000);
});

describe("workers whose supervisor is killed (SIGKILL)", () => {
  // Measured: they exit 5-50 ms after the kill (the IPC channel's "disconnect"); an orphan then stays a
  // zombie until PID 1 reaps it (about 2 s on this machine), which kill(pid, 0) still finds alive.
  test("idle workers (listening, no request) and workers still importing the app exit within 2 s", async () => {
    for (const importing of [false, true]) {
      const s = serve(APP, 4, [], importing ? ["env", "TSGI_TEST_IMPORT_MS=5000"] : []);
      try {
        const ready = importing ? () => (s.err.text().match(/test app: importing/g) ?? []).length >= 4 : () => /worker\(s\) serving/.test(s.err.text());
        expect([importing, await waitFor(ready, 30_000)]).toEqual([importing, true]);
        const workers = childrenOf(s.proc.pid);
        expect(workers.length).toBe(4);
        s.proc.kill("SIGKILL");
        await s.proc.exited;
        const killed = performance.now();
        expect([importing, await waitFor(() => workers.every((pid) => !running(pid)), 2000)]).toEqual([importing, true]);
        expect(performance.now() - killed).toBeLessThan(2500);
        expect(marked(s.marker)).toEqual([]);
      } finally {
        await s.cleanup();
      }
    }
  }, 90_000);
});
