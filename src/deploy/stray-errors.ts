/**
 * Errors no request owns: a promise the app forgot to await that rejects, a
 * throw inside a timer or an event listener. Bun, like Node, ends the
 * process on them; a server whose process runs the app must outlive its
 * mistakes, so they are reported and serving goes on: `tsgi serve` logs them
 * ({@link logStrayErrors}), tsgi-dev shows them with their code frame (as
 * `bun --hot` outlives them).
 * @module
 */
import { escapeControls } from "../server/log.ts";
import { errorText } from "../gateway/error-text.ts";
import { prefixedLog, type ErrorLog } from "./worker-log.ts";

/** What kind of stray error it was, for the report. */
export type StrayKind = "unhandledRejection" | "uncaughtException";

/**
 * Report `unhandledRejection` and `uncaughtException` with `report` instead
 * of letting them end the process, until the returned function is called.
 * @returns a function that removes the listeners.
 */
export function catchStrayErrors(report: (error: unknown, kind: StrayKind) => void): () => void {
  const onRejection = (reason: unknown) => report(reason, "unhandledRejection");
  const onException = (error: unknown) => report(error, "uncaughtException");
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  };
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
 * @param errorLog where reports go, each on a line of its own: the process's error log, the one its server writes to (a worker's puts `[tsgi worker <pid>] ` before each); default stderr as it is.
 */
export function logStrayErrors(errorLog: ErrorLog = prefixedLog("")): void {
  if (strayErrorsLogged) return;
  strayErrorsLogged = true;
  const log = (error: unknown, kind: StrayKind) => {
    const what = kind === "unhandledRejection" ? "a promise rejected with no handler" : "an exception outside any request";
    const detail = strayText(error);
    try {
      errorLog.message(`${escapeControls(`Error in application (${what}; serving goes on): ${detail}`)}\n`);
    } catch {
      // stderr is gone: nowhere to log it
    }
  };
  catchStrayErrors(log);
}

/**
 * A stray value's text: an `Error`'s as {@link errorText} gives it, another
 * value as `Bun.inspect` shows it. Never throws: a value that throws as it
 * is read (a `Proxy` whose prototype trap throws, a custom inspect hook that
 * throws) gets {@link errorText}'s text, since a throw here, inside the
 * process's `uncaughtException` listener, would end the process.
 */
function strayText(error: unknown): string {
  try {
    return error instanceof Error ? errorText(error) : Bun.inspect(error);
  } catch {
    return errorText(error);
  }
}
