/**
 * How tsgi's commands (`tsgi serve`, its worker supervisor, `tsgi-dev`) read
 * SIGTERM and SIGINT: the first one asks for a graceful stop (in-flight
 * requests may finish); a second one of either means the operator will not
 * wait for the drain (Ctrl-C again), and the command exits at once, as
 * uvicorn does.
 * @module
 */

/** The signals that stop a command. */
export type StopSignal = "SIGTERM" | "SIGINT";

/**
 * Install the handlers.
 * @param stop called for the first signal: start the graceful stop.
 * @param force called for every later one: exit now (exit code 130 by convention).
 */
export function onStopSignals(stop: (signal: StopSignal) => void, force: (signal: StopSignal) => void): void {
  let first = true;
  const on = (signal: StopSignal): void => {
    if (first) {
      first = false;
      stop(signal);
    } else force(signal);
  };
  process.on("SIGTERM", () => on("SIGTERM"));
  process.on("SIGINT", () => on("SIGINT"));
}
