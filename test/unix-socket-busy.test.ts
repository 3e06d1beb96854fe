/**
 * `--uds PATH` where another process listens but does not accept (hung, its
 * backlog full): start-up must say the socket is served, at once, and leave
 * the file alone, as for a server that accepts. The check that tells a
 * stale socket file from a live one connects to it; a blocking connect
 * waits for as long as the backlog stays full (for ever, for a hung
 * server), with start-up and SIGTERM held. A real listener (python3, which
 * can listen without accepting), the real CLI in its own process; skipped,
 * with a message, without python3.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { python3 } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
const CLI = join(ROOT, "src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/proxy-app.ts");
if (!python3) console.warn("SKIP: python3 is not installed; the busy Unix socket test is skipped");

const dir = mkdtempSync(join(tmpdir(), "tsgi-uds-busy-"));
const children: Array<ReturnType<typeof Bun.spawn>> = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Listens on `path` with backlog 0, never accepts, fills the backlog, prints "full", and waits for stdin to close. */
const HUNG_LISTENER = `
import socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(0)
held = []
for _ in range(64):
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        break
    held.append(c)
else:
    sys.exit("the backlog never filled")
print("full", flush=True)
sys.stdin.read()
`;

describe.skipIf(!python3)("--uds on a socket whose listener does not accept (backlog full)", () => {
  test("start-up refuses at once: another process is serving that socket; the file is left", async () => {
    const path = join(dir, "hung.sock");
    const listener = Bun.spawn([python3!, "-c", HUNG_LISTENER, path], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    children.push(listener);
    const reader = listener.stdout.getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
    // Not ready (python3 failed, or its backlog never filled): say what it printed, not just "".
    if (first?.value === undefined || new TextDecoder().decode(first.value).trim() !== "full") {
      listener.kill("SIGKILL");
      throw new Error(`the hung listener did not report a full backlog within 10 s: ${first === null ? "(no output)" : await new Response(listener.stderr).text()}`);
    }
    const inode = statSync(path).ino;

    const started = performance.now();
    const tsgi = Bun.spawn([process.execPath, CLI, "serve", APP, "--uds", path, "--no-access-log"], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
    children.push(tsgi);
    // Bounded: a start-up held in connect() would never end on its own (SIGKILL: SIGTERM waits for it too).
    const timer = setTimeout(() => tsgi.kill("SIGKILL"), 10_000);
    const code = await tsgi.exited;
    clearTimeout(timer);
    const err = await new Response(tsgi.stderr).text();
    expect(performance.now() - started).toBeLessThan(9_000);
    expect(code).toBe(1);
    expect(err).toContain(`cannot listen on ${path}: another process is serving that socket`);
    // The live listener's file is still there, the same one.
    expect(existsSync(path)).toBe(true);
    expect(statSync(path).ino).toBe(inode);
    listener.stdin.end();
    await Promise.race([listener.exited, Bun.sleep(5_000)]);
  }, 30_000);
});
