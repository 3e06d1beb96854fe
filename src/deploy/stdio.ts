/**
 * The stdio of a process `tsgi serve` owns (the single process, the
 * supervisor, each worker): the stdout access log, bounded and flushed
 * before exit, and a guard that keeps the process serving when stdout or
 * stderr breaks.
 * @module
 */
import type { LogTarget } from "../server/options.ts";
import { monotonicNow } from "./clock.ts";

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
/** When the last drop report was written ({@link monotonicNow}: a wall clock set back would hold the next one back as long), 0 before. */
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
  dropReport = setTimeout(reportDropped, Math.max(0, lastDropReport + DROP_REPORT_MS - monotonicNow()));
  dropReport.unref?.();
}

function reportDropped(): void {
  if (dropReport) clearTimeout(dropReport);
  dropReport = null;
  if (droppedLines === 0) return;
  lastDropReport = monotonicNow();
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
  return flushedOrTimeout(flushWaiters, timeoutMs);
}

/** Resolves when one of `waiters` is called (the stream's queue was written), or after `timeoutMs`. */
function flushedOrTimeout(waiters: Array<() => void>, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref?.();
    waiters.push(() => {
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
 * Most bytes of error log waiting in the process for stderr's reader (16
 * MiB, as {@link STDOUT_MAX_WAITING_BYTES}): Bun does not block on a full
 * pipe (gunicorn's and gevent's `write()` do) but queues what its reader has
 * not taken, without limit, so an app that logs per request (`tsgi.errors`,
 * an exception's report with its stack) under a reader that stalls (`2>&1 |
 * sleep 40`, a stalled log shipper) would grow the server's memory for as
 * long as requests come. Past it, writes are dropped, and their count is
 * reported on stderr once its reader has taken all that waited.
 */
export const STDERR_MAX_WAITING_BYTES = 16 * 1024 * 1024;

/** Bytes handed to stderr's write and not yet written to the descriptor. */
let stderrWaiting = 0;
let stderrDropped = 0;
const stderrFlushWaiters: Array<() => void> = [];

function stderrSettled(): void {
  for (const resolve of stderrFlushWaiters.splice(0)) resolve();
}

/** The line that says how many stderr writes were dropped (and resets the count). */
function stderrDropReport(): string {
  const n = stderrDropped;
  stderrDropped = 0;
  return `tsgi: stderr's reader was not keeping up: ${n} error log write${n === 1 ? "" : "s"} dropped (${STDERR_MAX_WAITING_BYTES / 1024 / 1024} MiB already waiting for it); logging goes on\n`;
}

/** Writes the drop report past the cap (one line), set by {@link guardStdio}. */
let writeStderrDropReport: (() => void) | null = null;

/**
 * Resolves once everything written to stderr so far (through a guarded
 * stderr: {@link guardStdio}) is written to the descriptor, or stderr broke,
 * or after `timeoutMs`; a count of dropped writes not yet reported is
 * written first. `process.exit()` loses what Bun still holds for a pipe
 * whose reader lags (past the pipe's 64 KiB): a stopping `tsgi serve` (the
 * single process, the supervisor, each worker) waits for this, as for
 * {@link stdoutFlushed}, so the error reports logged before the stop reach
 * the log. Resolves at once when stderr is not guarded.
 */
export function stderrFlushed(timeoutMs = STDOUT_FLUSH_MS): Promise<void> {
  if (stderrDropped > 0 && !stderrBroken) writeStderrDropReport?.();
  if (stderrWaiting <= 0 || stderrBroken) return Promise.resolve();
  return flushedOrTimeout(stderrFlushWaiters, timeoutMs);
}

/** {@link stdoutFlushed} and {@link stderrFlushed} at once, both within `timeoutMs`. */
export async function stdioFlushed(timeoutMs = STDOUT_FLUSH_MS): Promise<void> {
  await Promise.all([stdoutFlushed(timeoutMs), stderrFlushed(timeoutMs)]);
}

function chunkBytes(chunk: unknown): number {
  if (typeof chunk === "string") return Buffer.byteLength(chunk);
  return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
}

/**
 * Keep a serving process alive when its stdout or stderr breaks: the reader
 * of a pipe exited (EPIPE: `tsgi serve ... 2>&1 | head -1`), or the terminal
 * hung up (EIO). Bun turns an unhandled 'error' event on either stream into
 * an exit with code 1, so one broken pipe would take the server down. stdout
 * breaking stops the access log with one warning on stderr (as
 * {@link stdoutLog}); stderr breaking is not reported (there is nowhere
 * left to), and every later write to it, the CLI's messages and the error
 * log, is dropped. stderr's writes are bounded too: at most
 * {@link STDERR_MAX_WAITING_BYTES} wait for a reader that lags; past that a
 * write is dropped whole, and once the reader has caught up one line says
 * how many were (`tsgi: stderr's reader was not keeping up: 120 error log
 * writes dropped ...`). For a process that owns its stdio (`tsgi serve`, its
 * supervisor and each worker), never a library's `serve()`. Idempotent.
 */
export function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  watchStdout();
  const stderr = process.stderr;
  stderr.on("error", () => {
    stderrBroken = true;
    stderrSettled();
  });
  const write = stderr.write;
  const report = (): void => {
    const text = stderrDropReport();
    const size = Buffer.byteLength(text);
    stderrWaiting += size;
    try {
      (write as (...a: unknown[]) => boolean).call(stderr, text, () => written(size));
    } catch {
      stderrBroken = true;
      stderrSettled();
    }
  };
  writeStderrDropReport = report;
  const written = (bytes: number): void => {
    stderrWaiting -= bytes;
    if (stderrWaiting > 0) return;
    if (stderrDropped > 0 && !stderrBroken) return report();
    stderrSettled();
  };
  stderr.write = function (this: typeof stderr, ...args: unknown[]): boolean {
    const done = args.find((a) => typeof a === "function") as ((error?: Error | null) => void) | undefined;
    const bytes = chunkBytes(args[0]);
    if (!stderrBroken && stderrWaiting > 0 && stderrWaiting + bytes > STDERR_MAX_WAITING_BYTES) {
      stderrDropped++;
    } else if (!stderrBroken) {
      stderrWaiting += bytes;
      const rest = args.filter((a) => typeof a !== "function");
      try {
        return (write as (...a: unknown[]) => boolean).call(this, ...rest, (error?: Error | null) => {
          written(bytes);
          done?.(error);
        });
      } catch {
        stderrWaiting -= bytes;
        stderrBroken = true;
        stderrSettled();
      }
    }
    // Dropped: still call a write callback, as a writer awaiting it must not hang.
    if (done) queueMicrotask(done);
    return true;
  } as typeof stderr.write;
}
