/**
 * The dev server's terminal output: a consola instance at the chosen level.
 * @module
 */
import { createConsola, type ConsolaInstance } from "consola";

/** `--log-level` values. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const CONSOLA_LEVEL: Record<LogLevel, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/**
 * A consola logger at `level` (default `info`). Errors and warnings go to
 * stderr, the rest to stdout. Repeated identical lines are all printed.
 */
export function createDevLogger(level: LogLevel = "info"): ConsolaInstance {
  // throttle 0: never fold repeated lines ("reloaded in 7 ms: app.ts" twice is two reloads).
  return createConsola({ level: CONSOLA_LEVEL[level], throttle: 0, defaults: { tag: "" } });
}

/** Whether messages at `what` are shown at `level`. */
export function enabled(level: LogLevel, what: Exclude<LogLevel, "silent">): boolean {
  return CONSOLA_LEVEL[level] >= CONSOLA_LEVEL[what];
}
