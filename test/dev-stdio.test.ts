/**
 * tsgi-dev's stdio under a reader that stalls: what waits in the process for
 * stderr's reader (the app's `tsgi.errors`, error reports) and stdout's (the
 * access log) is capped at 16 MiB each, as for `tsgi serve`
 * (test/deploy-process.test.ts), in the process that serves and in restart
 * mode's app process alike.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, freePort, TempApp } from "../fixtures/dev/harness.ts";
import { fetchMany, spawnedProcesses } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";
import { rssOf } from "../bench/soak.ts";

const procs = spawnedProcesses();
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Answers its pid; `/log` writes a 7 KB line to `tsgi.errors`, numbered by the query. */
const APP = `const enc = new TextEncoder();
const line = "e".repeat(7000) + "\\n";
export default function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/log") environ["tsgi.errors"].write("logged " + environ.QUERY_STRING + " " + line);
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode(String(process.pid))];
}
`;
const app = new TempApp({ "app.ts": APP });
afterAll(() => app.remove());

/** tsgi-dev on `port` under bash, with `redirections` for its stdout and stderr, after the shell commands `before`. */
function devUnderBash(port: number, args: string[], redirections: string, before = ""): ReturnType<typeof Bun.spawn> {
  const cmd = `${before}exec ${q(process.execPath)} ${q(CLI)} app.ts --port ${port} ${args.map(q).join(" ")} ${redirections}`;
  const proc = Bun.spawn(["bash", "-c", cmd], { cwd: app.dir, env: { ...process.env, NO_COLOR: "1" }, stdout: "ignore", stderr: "ignore" });
  procs.push(proc);
  return proc;
}

/** The pid of the process that serves (restart mode: the app process), once it answers; 0 when it never did. */
async function servingPid(port: number): Promise<number> {
  let pid = 0;
  await waitFor(async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(3000) });
      pid = res.status === 200 ? Number(await res.text()) : 0;
    } catch {
      pid = 0;
    }
    return pid > 0;
  }, 20_000);
  return pid;
}

describe("tsgi-dev with a stderr reader that stalls", () => {
  for (const mode of [[], ["--reload=restart"]]) {
    test(`the error log waiting for it is capped at 16 MiB: writes past it are dropped and counted once the reader catches up, memory stays bounded (${mode.length ? "restart mode's app process" : "in place"}; before: 92 MB of tsgi.errors grew the process by about as much)`, async () => {
      const port = freePort();
      const file = join(app.dir, `errors-${port}.log`);
      const go = join(app.dir, `go-${port}`);
      // stderr's reader takes nothing until the test creates `go` (at most 60 s), then copies all to `file`.
      const reader = `for i in $(seq 600); do [ -e ${q(go)} ] && break; sleep 0.1; done; exec cat > ${q(file)}`;
      const proc = devUnderBash(port, ["--no-access-log", ...mode], `2> >(${reader})`);
      try {
        const pid = await servingPid(port);
        expect(pid).toBeGreaterThan(0);
        const send = (count: number) => fetchMany(port, "/log?", 8, count / 8);
        // Warm up (and fill the pipe) before the first measure.
        expect(await send(800)).toBe(800);
        const before = rssOf(pid);
        // 12,800 lines of 7 KB: about 90 MB of error log, over five times the cap.
        expect(await send(12_800)).toBe(12_800);
        // Held, it grew the process by about 90 MB; capped, by the 16 MiB and the requests' garbage.
        expect(rssOf(pid) - before).toBeLessThan(64 * 1024 * 1024);
        expect(proc.exitCode).toBe(null);
        writeFileSync(go, "");
        const text = () => (existsSync(file) ? readFileSync(file, "latin1") : "");
        expect(await waitFor(() => /stderr's reader was not keeping up: \d+ error log writes dropped \(16 MiB already waiting for it\); logging goes on\n/.test(text()), 15_000)).toBe(true);
        const written = (text().match(/^logged /gm) ?? []).length;
        expect(written).toBeGreaterThan(2000);
        expect(written).toBeLessThan(13_600);
        // Logging goes on after the report: a new line is written in full.
        expect(await fetchMany(port, "/log?after", 1, 1)).toBe(1);
        expect(await waitFor(() => text().includes("logged after"), 5000)).toBe(true);
      } finally {
        // The reader's wait ends even when the test fails.
        writeFileSync(go, "");
      }
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }, 90_000);
  }
});

describe("tsgi-dev with a stdout reader that stalls", () => {
  test("the access log waiting for it is capped at 16 MiB: lines past it are dropped and counted on stderr, memory stays bounded (before: held without a cap or a count)", async () => {
    const port = freePort();
    const err = join(app.dir, `stderr-${port}.log`);
    const readerPid = join(app.dir, `reader-${port}`);
    // stdout's reader never reads; bash writes its pid (to stop it) and execs tsgi-dev.
    const proc = devUnderBash(port, [], `2> ${q(err)}`, `exec > >(exec sleep 60); echo $! > ${q(readerPid)}; `);
    const reader = () => (existsSync(readerPid) ? Number(readFileSync(readerPid, "utf8")) : 0);
    try {
      const pid = await servingPid(port);
      expect(pid).toBeGreaterThan(0);
      // Lines of about 7 KB: 6400 requests make 45 MB of access log, nearly three times the cap.
      const path = `/${"a".repeat(7000)}?`;
      const send = (count: number) => fetchMany(port, path, 8, count / 8);
      expect(await send(800)).toBe(800);
      const before = rssOf(pid);
      expect(await send(6400)).toBe(6400);
      const text = () => (existsSync(err) ? readFileSync(err, "latin1") : "");
      expect(await waitFor(() => /stdout's reader is not keeping up: \d+ access log lines dropped \(16 MiB already waiting for it\)/.test(text()), 5000)).toBe(true);
      // Held, the 45 MB of log grew the process by over 100 MB (as for tsgi serve); capped, by the 16 MiB and the requests' garbage.
      expect(rssOf(pid) - before).toBeLessThan(64 * 1024 * 1024);
      expect(proc.exitCode).toBe(null);
    } finally {
      if (reader() > 0) process.kill(reader(), "SIGKILL");
    }
  }, 60_000);
});
