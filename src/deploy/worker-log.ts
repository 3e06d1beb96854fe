/**
 * A worker's error log: what a `tsgi serve --workers` worker logs to the
 * stderr it shares with the supervisor and the other workers (the server's
 * warnings, its reports of application errors, the app's `tsgi.errors`, stray
 * errors; the supervisor writes it, relayed over IPC) starts with
 * `[tsgi worker <pid>] `, as the supervisor's own lines
 * start with `[tsgi supervisor <pid>]`, so that an operator can tell which
 * worker hit `maxConnections` or raised (gunicorn puts the pid on every
 * error-log line for the same reason).
 * @module
 */
import { ERROR_LOG_MESSAGE } from "../server/log.ts";

/** The prefix of a worker's stderr messages: `[tsgi worker 4242] `. */
export function workerPrefix(pid: number = process.pid): string {
  return `[tsgi worker ${pid}] `;
}

/** A process's error log on stderr: {@link prefixedLog}. */
export interface ErrorLog {
  /** Write `text` as it is (the server's `errorLog` target: `tsgi.errors`, the server's messages). */
  write(text: string): void;
  /** Write a message of tsgi's own (a stray error's report) on a line of its own: after a line left unended, `"\n"` first. */
  message(text: string): void;
  /** {@link message}, under the key the server looks for: its own messages (error reports, warnings) go through it too. */
  [ERROR_LOG_MESSAGE](text: string): void;
}

/**
 * A `{ write }` log target (the server's `errorLog`) that puts `prefix` before
 * each message: before a write that begins a line, so that a multi-line
 * message (a stack) is marked once, as a logger marks a record, and the
 * pieces of a line written in several calls (`tsgi.errors.write("a")`,
 * `write("b\n")`) are marked once. The server writes its own messages on a
 * line of their own (`errorLogWriters`); {@link ErrorLog.message} does the
 * same for tsgi's other messages (stray errors). With prefix `""`, the
 * single process's stderr.
 * @param write where the prefixed text goes (default: stderr; a write that throws is the caller's to guard).
 */
export function prefixedLog(prefix: string, write: (text: string) => unknown = (text) => process.stderr.write(text)): ErrorLog {
  let atLineStart = true;
  const log: ErrorLog = {
    write(text: string): void {
      if (text === "") return;
      write(atLineStart ? prefix + text : text);
      atLineStart = text.endsWith("\n");
    },
    message(text: string): void {
      if (!atLineStart) log.write("\n");
      log.write(text);
    },
    // The server's own messages go through message() too: one view of the line for all writers.
    [ERROR_LOG_MESSAGE]: (text: string) => log.message(text),
  };
  return log;
}
