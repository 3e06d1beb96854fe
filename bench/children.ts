/**
 * The bench scripts' child processes (the servers they measure) end with
 * them. Ctrl-C reaches the whole process group, children included; a
 * `kill PID` of the script, or a timeout that signals it alone, does not,
 * and left the server it started running, holding its port and a core.
 * {@link ownChild} registers a child; the first call installs handlers
 * for SIGTERM, SIGINT and SIGHUP that kill every registered child and exit
 * with the signal's conventional status (128 + its number).
 * @module
 */
import { constants } from "node:os";

/** Anything with `kill()`: a `Bun.spawn` subprocess or a `node:child_process` child. */
interface Killable {
  kill(signal?: NodeJS.Signals | number): unknown;
}

const children = new Set<Killable>();
let installed = false;

/**
 * Kill `child` (SIGKILL) if this script is stopped by a signal. A child
 * that already exited is not signalled again (`kill()` of an exited
 * subprocess does nothing).
 * @returns `child`, for use inline: `const proc = ownChild(Bun.spawn(...))`.
 */
export function ownChild<T extends Killable>(child: T): T {
  children.add(child);
  if (!installed) {
    installed = true;
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
      process.on(signal, () => {
        for (const c of children) c.kill("SIGKILL");
        process.exit(128 + constants.signals[signal]);
      });
    }
  }
  return child;
}

/**
 * Wait until `proc`'s stdout has printed `word` (a server script's "ready"
 * once it listens), `ms` at most (default 10,000). Its stdout is read from
 * then on by nobody: the scripts print nothing more there.
 * @returns what it printed up to then (a port written before the word: `port 4242 ready`).
 */
export async function waitForOutput(proc: { stdout: ReadableStream<Uint8Array> }, word = "ready", ms = 10_000): Promise<string> {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  const deadline = Date.now() + ms;
  while (!out.includes(word) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return out;
}

/**
 * Wait until a server script that bound port 0 prints `port N ready` on its
 * stdout (see {@link waitForOutput}) and return N; if it does not within
 * `ms`, kill it, say so on stderr and exit 1.
 */
export async function waitForPort(proc: { stdout: ReadableStream<Uint8Array>; kill(): unknown }, ms = 10_000): Promise<number> {
  const port = Number(/port (\d+) ready/.exec(await waitForOutput(proc, "ready", ms))?.[1]);
  if (port > 0) return port;
  console.error(`the server process did not say which port it listens on within ${ms / 1000} s (its error, if any, is above)`);
  proc.kill();
  process.exit(1);
}
