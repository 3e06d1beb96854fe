/**
 * How tsgi's commands (`tsgi serve`, its worker supervisor, `tsgi-dev`) read
 * SIGTERM and SIGINT (and SIGQUIT, nginx's graceful stop, for `tsgi serve`'s
 * single process and its worker supervisor): the first one asks for a
 * graceful stop (in-flight requests may finish); a second one of any of them
 * means the operator will not wait for the drain (Ctrl-C again), and the
 * command exits at once, as uvicorn does. The same signal again within
 * {@link DUPLICATE_SIGNAL_MS} is the same request delivered twice, not an
 * operator's second one: GNU `timeout` signals its child and then the child's
 * whole process group, so a supervisor gets SIGTERM twice in the same
 * instant, and exiting at once there dropped the requests the stop was
 * meant to let finish.
 * @module
 */
import { constants } from "node:os";

/** The signals that stop a command. */
export type StopSignal = "SIGTERM" | "SIGINT" | "SIGQUIT";

/**
 * How long after the first stop signal the same signal is taken as a second
 * delivery of it (ignored), in ms: a process-group kill lands within
 * microseconds, an operator's second Ctrl-C well after this.
 */
export const DUPLICATE_SIGNAL_MS = 100;

/**
 * Install the handlers.
 * @param stop called for the first signal: start the graceful stop.
 * @param force called for every later one (but the first signal repeated
 *   within {@link DUPLICATE_SIGNAL_MS}): exit now (with {@link signalExitCode}, or 130 by convention).
 * @param signals the signals that stop. Default SIGTERM and SIGINT.
 */
export function onStopSignals(stop: (signal: StopSignal) => void, force: (signal: StopSignal) => void, signals: readonly StopSignal[] = ["SIGTERM", "SIGINT"]): void {
  let first: { signal: StopSignal; at: number } | null = null;
  const on = (signal: StopSignal): void => {
    if (first === null) {
      first = { signal, at: performance.now() };
      stop(signal);
    } else if (signal !== first.signal || performance.now() - first.at >= DUPLICATE_SIGNAL_MS) force(signal);
  };
  for (const signal of signals) process.on(signal, () => on(signal));
}

/**
 * The hint a graceful stop's log line ends with: how to skip the drain.
 * `(Ctrl-C again to exit at once)` for SIGINT (a terminal's Ctrl-C), `(SIGTERM
 * again to exit at once)` for SIGTERM and likewise SIGQUIT: an operator who
 * sent `kill -TERM` is not at a terminal.
 */
export function exitAtOnceHint(signal: StopSignal): string {
  return `(${signal === "SIGINT" ? "Ctrl-C" : signal} again to exit at once)`;
}

/** The exit code of a process ended by `signal`, as a shell reports it: 128 + its number (SIGTERM 143, SIGINT 130, SIGQUIT 131). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Answer the signals other servers' operators send (their default action
 * would end the process at once, with its requests in flight): SIGUSR1,
 * logrotate's `postrotate kill -USR1` (gunicorn and nginx reopen their log
 * files on it; tsgi has none: its logs go to stdout and stderr), logged once
 * with `info`; SIGUSR2 (their binary upgrade), a warning each time. Install
 * it before the app is imported: an import that takes seconds must not leave
 * a window in which they kill the process.
 */
export function onOperatorSignals(info: (message: string) => void, warn: (message: string) => void): void {
  let reopenTold = false;
  process.on("SIGUSR1", () => {
    if (reopenTold) return;
    reopenTold = true;
    info("SIGUSR1: no log files to reopen: logs go to stdout/stderr (said once)");
  });
  process.on("SIGUSR2", () => warn("SIGUSR2 (binary upgrade) is not supported; ignored"));
}
