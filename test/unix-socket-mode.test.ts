/**
 * `--uds-mode`: the socket file is created with its mode, never left for a
 * moment with the mode the umask gives. Connecting to a Unix socket needs
 * write permission on it, checked at `connect` only (unix(7)), so under a
 * lax umask (0: mode 0777) a local user who connects between `bind(2)` and
 * a later `chmod` keeps the connection, and with `--proxy-headers` (Unix
 * peers trusted) may then set its own `X-Forwarded-For`. gunicorn sets its
 * umask around the bind for the same reason.
 *
 * The window is made visible with strace: every `chmod` of the server is
 * held 1.5 s (`-e inject=...:delay_enter`), the process started under umask
 * 000, and the file's mode read as soon as it exists. Skipped, with a
 * message, without strace or where it may not trace (no ptrace).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const CLI = join(ROOT, "src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/proxy-app.ts");
const STRACE = Bun.which("strace");
const canTrace = STRACE !== null && Bun.which("setsid") !== null && Bun.spawnSync([STRACE, "-qq", "-o", "/dev/null", "true"]).exitCode === 0;
if (!canTrace) console.warn("SKIP: needs strace, allowed to trace (ptrace), and setsid (apt-get install strace util-linux); the --uds-mode creation-mode tests are skipped");

const dir = mkdtempSync(join(tmpdir(), "tsgi-uds-mode-"));
/** Process groups started (setsid: strace, tsgi and its workers), all killed at the end. */
const groups: number[] = [];
const killGroup = (pgid: number) => {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
};
afterAll(() => {
  for (const g of groups) killGroup(g);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Start `tsgi serve --uds <path> --uds-mode 600 ...extra` under umask 000 with every chmod held
 * 1.5 s, and return the socket file's mode as first seen and once the server is serving.
 */
async function modes(name: string, extra: string[]): Promise<{ first: number; serving: number }> {
  const path = join(dir, name);
  const command = [STRACE!, "-f", "-qq", "-o", "/dev/null", "-e", "trace=chmod,fchmodat", "-e", "inject=chmod,fchmodat:delay_enter=1500000", process.execPath, CLI, "serve", APP, "--uds", path, "--uds-mode", "600", "--no-access-log", ...extra];
  // A process group of its own: strace passes no signal on, and a tracee it leaves keeps running.
  const proc = Bun.spawn(["setsid", "sh", "-c", 'umask 000 && exec "$@"', "sh", ...command], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
  groups.push(proc.pid);
  let out = "";
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      for await (const c of s) out += new TextDecoder().decode(c);
    })();
  }
  let first = -1;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && first === -1) {
    if (proc.exitCode !== null) throw new Error(`tsgi exited (${proc.exitCode}): ${out}`);
    try {
      const st = statSync(path);
      if (st.isSocket()) first = st.mode & 0o777;
    } catch {
      await Bun.sleep(5);
    }
  }
  while (Date.now() < deadline && !/serving .* on /.test(out)) {
    if (proc.exitCode !== null) throw new Error(`tsgi exited (${proc.exitCode}): ${out}`);
    await Bun.sleep(50);
  }
  if (!/serving .* on /.test(out)) throw new Error(`tsgi not ready: ${out}`);
  const serving = statSync(path).mode & 0o777;
  // Stop tsgi itself (its ready line names its pid): it removes its socket. Then the whole group.
  const pid = Number(/\((?:supervisor )?pid (\d+)[;)]/.exec(out)?.[1]);
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 200 && existsSync(path); i++) await Bun.sleep(50);
  expect(existsSync(path)).toBe(false);
  killGroup(proc.pid);
  await Promise.race([proc.exited, Bun.sleep(5_000)]);
  return { first, serving };
}

describe.skipIf(!canTrace)("--uds-mode 600 under umask 000", () => {
  test("one process: the socket file is 0600 from its creation, not 0777 until a chmod", async () => {
    expect(await modes("one.sock", [])).toEqual({ first: 0o600, serving: 0o600 });
  }, 30_000);

  test("--workers (the supervisor binds it): 0600 from its creation too", async () => {
    expect(await modes("workers.sock", ["--workers", "1"])).toEqual({ first: 0o600, serving: 0o600 });
  }, 30_000);
});

describe.skipIf(process.platform !== "linux")("--uds-mode leaves the process umask alone (Linux: the socket's own mode before bind)", () => {
  test("files other threads create while the server binds with unixMode 0o666 keep the umask's mode (0644 under 022), not 0666; the socket is 0666 and served", async () => {
    const { serve } = await import("../src/index.ts");
    const { writeFile } = await import("node:fs/promises");
    const { readdirSync, mkdirSync } = await import("node:fs");
    const files = join(dir, "made-meanwhile");
    mkdirSync(files);
    const sock = join(dir, "umask.sock");
    const app = (_e: unknown, sr: (s: string, h: [string, string][]) => unknown) => (sr("200 OK", [["Content-Length", "2"]]), [new TextEncoder().encode("ok")]);
    const before = process.umask(0o022);
    let stop = false;
    let n = 0;
    // Bun's asynchronous fs creates the files on its own threads, as it would while an app starts a server.
    const writer = async () => {
      while (!stop && n < 200_000) await writeFile(join(files, `f${n++}`), "x");
    };
    const writers = Array.from({ length: 4 }, writer);
    let binds = 0;
    let served = "";
    try {
      const until = Date.now() + 1_500;
      while (Date.now() < until && binds < 20_000) {
        const s = serve(app as never, { unix: sock, unixMode: 0o666, log: null } as never) as unknown as { close(o?: object): Promise<void> };
        binds++;
        try {
          if (binds === 1) {
            expect(statSync(sock).mode & 0o777).toBe(0o666);
            served = await (await fetch("http://localhost/", { unix: sock, signal: AbortSignal.timeout(5_000) } as RequestInit)).text();
          }
        } finally {
          // Closed also when the check above fails: no listener left in the test process.
          await s.close({ timeout: 100 });
        }
        await Bun.sleep(0);
      }
    } finally {
      stop = true;
      await Promise.all(writers);
      process.umask(before);
    }
    const modes = new Map<number, number>();
    for (const f of readdirSync(files)) {
      const m = statSync(join(files, f)).mode & 0o777;
      modes.set(m, (modes.get(m) ?? 0) + 1);
    }
    expect(served).toBe("ok");
    expect(binds).toBeGreaterThan(10);
    expect(n).toBeGreaterThan(100);
    expect([...modes.keys()]).toEqual([0o644]);
    expect(existsSync(sock)).toBe(false);
  }, 30_000);
});
