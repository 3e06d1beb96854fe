/**
 * The dev server's terminal output: a consola instance at the chosen level.
 * @module
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola";

/** `--log-level` values. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const CONSOLA_LEVEL: Record<LogLevel, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Where and how the dev logger writes (for tests; defaults are the process's streams). */
export interface DevLoggerOptions {
  /** Info and debug lines. Default `process.stdout`. */
  stdout?: NodeJS.WriteStream | { write(s: string): unknown; columns?: number };
  /** Errors and warnings. Default `process.stderr`. */
  stderr?: NodeJS.WriteStream | { write(s: string): unknown; columns?: number };
  /** consola's fancy (badges, colours) or basic reporter. Default: consola's choice (fancy on a terminal, outside CI and tests). */
  fancy?: boolean;
}

/**
 * Stands in for "`" while consola formats a message: its fancy reporter
 * reads `text` as markdown (cyan, backticks removed), which mangles code
 * frames of template literals. A private-use char, restored on output.
 */
const BACKTICK = "\uE060";

/**
 * A consola logger at `level` (default `info`). Errors and warnings go to
 * stderr, the rest to stdout. Repeated identical lines are all printed.
 * Messages are printed as given: backticks stay backticks.
 */
export function createDevLogger(level: LogLevel = "info", options: DevLoggerOptions = {}): ConsolaInstance {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  // throttle 0: never fold repeated lines ("reloaded in 7 ms: app.ts" twice is two reloads).
  const logger = createConsola({
    level: CONSOLA_LEVEL[level],
    throttle: 0,
    defaults: { tag: "" },
    stdout: restoring(stdout) as NodeJS.WriteStream,
    stderr: restoring(stderr) as NodeJS.WriteStream,
    ...(options.fancy !== undefined ? { fancy: options.fancy } : {}),
  });
  const reporters = logger.options.reporters;
  const protect: ConsolaReporter = {
    log(logObj: LogObject, ctx) {
      const escaped = { ...logObj, args: logObj.args.map((a) => (typeof a === "string" ? a.replaceAll("`", BACKTICK) : a)) };
      for (const r of reporters) r.log(escaped, ctx);
    },
  };
  logger.setReporters([protect]);
  return logger;
}

/** A stream that writes to `target` with {@link BACKTICK} turned back into "`". */
function restoring(target: { write(s: string): unknown; columns?: number }): { write(s: string): unknown; readonly columns: number | undefined } {
  return {
    write: (s: string) => target.write(s.includes(BACKTICK) ? s.replaceAll(BACKTICK, "`") : s),
    get columns() {
      return target.columns;
    },
  };
}

/** Whether messages at `what` are shown at `level`. */
export function enabled(level: LogLevel, what: Exclude<LogLevel, "silent">): boolean {
  return CONSOLA_LEVEL[level] >= CONSOLA_LEVEL[what];
}

/**
 * The dev server's access and error logs for the server at `level`: the
 * access log to stdout (when `accessLog` and info lines show), errors to
 * stderr (when error lines show); `null` turns one off.
 */
export function serverLogs(level: LogLevel, accessLog: boolean): { log: NodeJS.WriteStream | null; errorLog: NodeJS.WriteStream | null } {
  return {
    log: accessLog && enabled(level, "info") ? process.stdout : null,
    errorLog: enabled(level, "error") ? process.stderr : null,
  };
}
