/**
 * How tsgi's commands (`tsgi serve`, its worker supervisor, `tsgi-dev`) read
 * SIGTERM and SIGINT: the first one asks for a graceful stop (in-flight
 * requests may finish); a second one of either means the operator will not
 * wait for the drain (Ctrl-C again), and the command exits at once, as
 * uvicorn does. The worker supervisor reads SIGQUIT the same way (nginx's
 * graceful stop); a single process keeps the default for it.
 * @module
 */

/** The signals that stop a command. */
export type StopSignal = "SIGTERM" | "SIGINT" | "SIGQUIT";

/**
 * Install the handlers.
 * @param stop called for the first signal: start the graceful stop.
 * @param force called for every later one: exit now (exit code 130 by convention).
 * @param signals the signals that stop; default SIGTERM and SIGINT.
 */
export function onStopSignals(stop: (signal: StopSignal) => void, force: (signal: StopSignal) => void, signals: readonly StopSignal[] = ["SIGTERM", "SIGINT"]): void {
  let first = true;
  const on = (signal: StopSignal): void => {
    if (first) {
      first = false;
      stop(signal);
    } else force(signal);
  };
  for (const signal of signals) process.on(signal, () => on(signal));
}
