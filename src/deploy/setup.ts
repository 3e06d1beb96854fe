/**
 * What a serving process of `tsgi serve` (the single process, or each
 * worker) sets up around `createServer` from {@link ResolvedDeploy}: the TLS
 * material read from its files, the proxy-header middleware, and the stdout
 * access log (which the supervisor writes for its workers).
 * @module
 */
import type { Application } from "../spec.ts";
import { escapeControls } from "../server/log.ts";
import type { LogTarget } from "../server/options.ts";
import { proxyHeaders } from "../server/proxy.ts";
import { devCertificate, loadTls, type DevCertificate, type TlsConfig } from "../server/tls.ts";
import { StartupError } from "./errors.ts";
import type { ResolvedDeploy } from "./options.ts";

/**
 * Read the TLS material the options name.
 * @returns the config, and the development certificate when `"dev"` was asked (for printing its fingerprint).
 * @throws StartupError when a file is missing, unreadable or not PEM.
 */
export async function resolveTls(tls: ResolvedDeploy["tls"]): Promise<{ config: TlsConfig; dev: DevCertificate | null } | null> {
  if (tls === null) return null;
  try {
    if (tls === "dev") {
      const dev = await devCertificate();
      return { config: { cert: dev.cert, key: dev.key }, dev };
    }
    return { config: loadTls(tls), dev: null };
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
}

/** Wrap `app` with the proxy-header middleware when the options ask for it. */
export function withDeployMiddleware(app: Application, deploy: Pick<ResolvedDeploy, "proxy">): Application {
  return deploy.proxy ? proxyHeaders(app, { forwardedAllowIps: deploy.proxy.forwardedAllowIps, header: deploy.proxy.header }) : app;
}

/** How long a stopping process's idle keep-alive connections may still bring one request (ms). */
const IDLE_GRACE_MS = 1000;

/**
 * What a serving process of `tsgi serve` (the single process, a worker)
 * passes to `server.close()` when it stops: in-flight requests get the
 * graceful timeout, and idle keep-alive connections a short grace (1 s, or
 * the graceful timeout if shorter) in which a request already on its way
 * is answered, with `Connection: close`, rather than reset (RFC 9112
 * §9.3.1): behind nginx a reset upstream POST is a 502.
 */
export function stopOptions(gracefulTimeout: number): { timeout: number; idleGrace: number } {
  return { timeout: gracefulTimeout, idleGrace: Math.min(IDLE_GRACE_MS, gracefulTimeout) };
}

let stdoutBroken = false;
let stdoutWatched = false;

/** Start listening for stdout's 'error' (idempotent): unhandled, Bun turns it into an exit. */
function watchStdout(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on("error", onStdoutError);
}

/** How long a stopping process waits for stdout's reader to take the rest of the access log (ms). */
const STDOUT_FLUSH_MS = 10_000;

/**
 * Most bytes of access log waiting in the process for stdout's reader (16
 * MiB): past it, lines are dropped (and counted on stderr) rather than held,
 * so a reader that stalls (`tsgi serve ... | sleep 40`) cannot grow the
 * server's memory without bound.
 */
export const STDOUT_MAX_WAITING_BYTES = 16 * 1024 * 1024;

/** Dropped access log lines are reported on stderr at most this often (ms). */
const DROP_REPORT_MS = 5000;

/** Bytes handed to `process.stdout.write` by {@link stdoutLog} and not yet written to the descriptor. */
let stdoutWaiting = 0;
const flushWaiters: Array<() => void> = [];
let droppedLines = 0;
let dropReport: ReturnType<typeof setTimeout> | null = null;
let lastDropReport = 0;

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n || 1;
}

/** Count the lines of a batch the reader had no room for; the first drop is reported at once, later ones every {@link DROP_REPORT_MS}. */
function dropLines(text: string): void {
  droppedLines += countLines(text);
  if (dropReport) return;
  dropReport = setTimeout(reportDropped, Math.max(0, lastDropReport + DROP_REPORT_MS - Date.now()));
  dropReport.unref?.();
}

function reportDropped(): void {
  if (dropReport) clearTimeout(dropReport);
  dropReport = null;
  if (droppedLines === 0) return;
  lastDropReport = Date.now();
  const n = droppedLines;
  droppedLines = 0;
  try {
    process.stderr.write(
      `tsgi: stdout's reader is not keeping up: ${n} access log line${n === 1 ? "" : "s"} dropped (${STDOUT_MAX_WAITING_BYTES / 1024 / 1024} MiB already waiting for it); logging goes on as it catches up\n`,
    );
  } catch {
    // stderr is gone too
  }
}

function stdoutSettled(): void {
  for (const resolve of flushWaiters.splice(0)) resolve();
}

/**
 * A stdout access log target (batched by the server's access log). When
 * stdout breaks (the reader of a pipe exited: EPIPE), access logging stops
 * with one warning on stderr and the server goes on serving, as gevent's and
 * eventlet's logging does. What the reader has not taken yet waits in the
 * process, up to {@link STDOUT_MAX_WAITING_BYTES}; past that, lines are
 * dropped and their count reported on stderr (at most every 5 s).
 * {@link stdoutFlushed} waits until what waits is written.
 */
export const stdoutLog: { write(text: string): void } & LogTarget = {
  write: (text: string) => {
    if (stdoutBroken) return;
    watchStdout();
    const bytes = Buffer.byteLength(text);
    if (stdoutWaiting > 0 && stdoutWaiting + bytes > STDOUT_MAX_WAITING_BYTES) {
      dropLines(text);
      return;
    }
    stdoutWaiting += bytes;
    try {
      process.stdout.write(text, () => {
        stdoutWaiting -= bytes;
        if (stdoutWaiting <= 0) stdoutSettled();
      });
    } catch (error) {
      onStdoutError(error as Error);
    }
  },
};

/**
 * Resolves once every line {@link stdoutLog} was given is written to stdout
 * (or stdout broke), or after `timeoutMs`. A process that exits with
 * `process.exit()` loses what Bun still holds for a pipe whose reader lags:
 * a stopping `tsgi serve` waits for this first.
 */
export function stdoutFlushed(timeoutMs = STDOUT_FLUSH_MS): Promise<void> {
  reportDropped();
  if (stdoutWaiting <= 0 || stdoutBroken) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref?.();
    flushWaiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function onStdoutError(error: Error): void {
  if (stdoutBroken) return;
  stdoutBroken = true;
  stdoutSettled();
  const code = (error as { code?: string }).code ?? error.message;
  try {
    process.stderr.write(`tsgi: the access log's stdout failed (${code}); access logging stopped, serving goes on\n`);
  } catch {
    // stderr is gone too: nothing left to tell
  }
}

let stderrBroken = false;
let stdioGuarded = false;

/**
 * Keep a serving process alive when its stdout or stderr breaks: the reader
 * of a pipe exited (EPIPE: `tsgi serve ... 2>&1 | head -1`), or the terminal
 * hung up (EIO). Bun turns an unhandled 'error' event on either stream into
 * an exit with code 1, so one broken pipe would take the server down. stdout
 * breaking stops the access log with one warning on stderr (as
 * {@link stdoutLog}); stderr breaking is not reported (there is nowhere
 * left to), and every later write to it, the CLI's messages and the error
 * log, is dropped. For a process that owns its stdio (`tsgi serve`, its
 * supervisor and each worker), never a library's `serve()`. Idempotent.
 */
export function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  watchStdout();
  const stderr = process.stderr;
  stderr.on("error", () => {
    stderrBroken = true;
  });
  const write = stderr.write;
  stderr.write = function (this: typeof stderr, ...args: unknown[]): boolean {
    if (!stderrBroken) {
      try {
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } catch {
        stderrBroken = true;
      }
    }
    // Dropped: still call a write callback, as a writer awaiting it must not hang.
    const done = args.find((a) => typeof a === "function") as (() => void) | undefined;
    if (done) queueMicrotask(done);
    return true;
  } as typeof stderr.write;
}

let strayErrorsLogged = false;

/**
 * Log an app's stray errors instead of dying of them: a promise rejected
 * with no handler (`Promise.reject()` never awaited in a request) and an
 * exception thrown outside any request (a timer's callback) would end Bun's
 * process, and with it every request in flight, over one mistake in one
 * code path. Each is written to the error log (stderr) as an application
 * error, with its stack, and serving goes on, as Python's servers do (asyncio
 * logs an exception in a callback or a task nobody awaited, gevent a
 * greenlet's, a thread's is printed, and the process carries on). For the
 * process `tsgi serve` runs the app in (the single process, each worker),
 * never a library's `serve()`: a library does not own the process.
 * Idempotent.
 */
export function logStrayErrors(): void {
  if (strayErrorsLogged) return;
  strayErrorsLogged = true;
  const log = (what: string, error: unknown) => {
    const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : Bun.inspect(error);
    try {
      process.stderr.write(`${escapeControls(`Error in application (${what}; serving goes on): ${detail}`)}\n`);
    } catch {
      // stderr is gone: nowhere to log it
    }
  };
  process.on("unhandledRejection", (reason) => log("a promise rejected with no handler", reason));
  process.on("uncaughtException", (error) => log("an exception outside any request", error));
}
