/**
 * `tsgi serve` as a process an operator runs, one process and workers: a
 * broken stderr or stdout pipe does not end it. Every loop is bounded in
 * count and time; every process started is stopped by its pid.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { freePort } from "./helpers.ts";

const CLI = join(import.meta.dir, "../src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/workers-app.ts");

const procs: Array<ReturnType<typeof Bun.spawn>> = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.exitCode === null) {
      p.kill("SIGKILL");
      await p.exited;
    }
  }
});

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

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await Bun.sleep(50);
  }
  return false;
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
