/**
 * The dev server's terminal output: a consola instance at the chosen level.
 * @module
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola";
import { createConsola as createBasicConsola } from "consola/basic";
import { writeSync } from "node:fs";
import { stdoutLog } from "../deploy/stdio.ts";
import type { LogTarget } from "../server/options.ts";

/** `--log-level` values. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const CONSOLA_LEVEL: Record<LogLevel, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Where and how the dev logger writes (for tests; defaults are the process's streams). */
export interface DevLoggerOptions {
  /** Info and debug lines. Default `process.stdout`. */
  stdout?: NodeJS.WriteStream | { write(s: string): unknown; columns?: number; isTTY?: boolean };
  /** Errors and warnings. Default `process.stderr`. */
  stderr?: NodeJS.WriteStream | { write(s: string): unknown; columns?: number; isTTY?: boolean };
  /**
   * consola's fancy (badges, icons, colours) or basic (`[error] ...`)
   * reporter for both streams. Default: for each stream, fancy where it is
   * a terminal (`isTTY`) and consola would choose it (outside CI and
   * tests), basic where it is a pipe or a file (a log file, an editor's task
   * runner, `| tee`).
   */
  fancy?: boolean;
}

/**
 * Characters that private-use stand-ins replace while consola formats a
 * message, restored on output. Its fancy reporter reads the text as
 * markdown: `` `code` `` turns cyan without its backticks (mangling code
 * frames of template literals) and ` _word_ ` is underlined without its
 * underscores, by the pattern `/\s+_([^_]+)_\s+/`, which the regexp
 * engine retries at each character of a run of whitespace: quadratic, so an
 * error message quoting a client's 120,000 spaces or newlines held the dev
 * server for 10 s (ReDoS). So "`" and "_" are replaced, and every
 * whitespace character (JavaScript's `\s`) that follows another one: no
 * run is then longer than one. A stand-in character the message itself
 * holds (U+E060 to U+E07B: an icon font's glyph, a client's bytes) goes
 * through as {@link LITERAL} and itself, and comes out as it was.
 */
const PROTECTED = "`_\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
/** The first stand-in: {@link PROTECTED}'s i-th character is U+E060 + i (to U+E07A). */
const STAND_IN_BASE = 0xe060;
/** Put before a character of U+E060 to U+E07B that was in the message: restored as that character. */
const LITERAL = "\ue07b";
const STAND_INS = new Map([...PROTECTED].map((c, i) => [c, String.fromCharCode(STAND_IN_BASE + i)]));
const TO_PROTECT = /[`_\ue060-\ue07b]|(?<=\s)\s/g;
const STAND_IN = /\ue07b[\ue060-\ue07b]|[\ue060-\ue07a]/g;

/** `text` with {@link PROTECTED}'s characters (whitespace after whitespace only) replaced by their stand-ins, and stand-ins it held marked {@link LITERAL}. */
function protect(text: string): string {
  return text.replace(TO_PROTECT, (c) => STAND_INS.get(c) ?? LITERAL + c);
}

/** `text` with the stand-ins {@link protect} put in turned back. */
function unprotect(text: string): string {
  return text.replace(STAND_IN, (c) => (c.length === 2 ? c[1]! : PROTECTED[c.charCodeAt(0) - STAND_IN_BASE]!));
}

/**
 * A consola logger at `level` (default `info`). Errors and warnings go to
 * stderr, the rest to stdout, each in consola's fancy form on a terminal
 * and its basic one (`[warn] ...`, no badges, blank lines or icons) to a
 * pipe or a file (see {@link DevLoggerOptions.fancy}). Repeated identical
 * lines are all printed. Messages are printed as given: backticks,
 * underscores and whitespace stay as they are (see {@link PROTECTED}).
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
  // consola picks fancy outside CI and tests whatever the streams are: a stream that is no
  // terminal gets the basic reporter instead (consola's basic createConsola has it).
  const basic = options.fancy === undefined ? createBasicConsola({ stdout: sink, stderr: sink }).options.reporters : reporters;
  const onTerminal = (stream: { isTTY?: boolean }) => options.fancy !== undefined || stream.isTTY === true;
  const outReporters = onTerminal(stdout) ? reporters : basic;
  const errReporters = onTerminal(stderr) ? reporters : basic;
  const protecting: ConsolaReporter = {
    log(logObj: LogObject, ctx) {
      const escaped = { ...logObj, args: logObj.args.map((a) => (typeof a === "string" ? protect(a) : a)) };
      // As consola's reporters choose the stream: levels below 2 (fatal, error, warn) to stderr.
      for (const r of logObj.level < 2 ? errReporters : outReporters) r.log(escaped, ctx);
    },
  };
  logger.setReporters([protecting]);
  return logger;
}

/** A stream that writes nothing (the basic consola is created only for its reporter). */
const sink = { write: () => true } as unknown as NodeJS.WriteStream;

/** A stream that writes to `target` with the stand-ins of {@link protect} turned back. */
function restoring(target: { write(s: string): unknown; columns?: number }): { write(s: string): unknown; readonly columns: number | undefined } {
  return {
    write: (s: string) => target.write(unprotect(s)),
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
 * access log to stdout (when `accessLog` and info lines show) through `tsgi
 * serve`'s {@link stdoutLog}, so at most 16 MiB of it wait for a reader that
 * stalls, errors to stderr (when error lines show; capped alike once the
 * CLI has called `guardStdio()`); `null` turns one off.
 */
export function serverLogs(level: LogLevel, accessLog: boolean): { log: LogTarget | null; errorLog: NodeJS.WriteStream | null } {
  return {
    log: accessLog && enabled(level, "info") ? stdoutLog : null,
    errorLog: enabled(level, "error") ? process.stderr : null,
  };
}

/** Most lines a {@link LogHold} holds back; past it, lines are written at once. */
const HELD_MAX_LINES = 10_000;

/** A stream a {@link LogHold} may hold lines of, and the descriptor written to when the process exits holding them. */
type HeldTarget = { write(text: string): unknown };

/**
 * Lines held back until `release` settles, then written in order, and later
 * lines at once: restart mode's first app process serves as soon as it
 * listens, but its supervisor prints the startup banner only once its
 * watcher has read the tree (the banner means saves are seen), so a request
 * sent the moment the port accepts would be logged before the banner. Its
 * request log lines ({@link wrap}) and, from {@link arm} on (the server is
 * about to listen), its terminal lines ({@link gate}: a traceback of a
 * request that raised) wait alike, so they come out in the order they were
 * made. A process that exits while lines are held (the app calls
 * `process.exit()`, the supervisor's banner never comes) writes them at its
 * `exit`, synchronously to the descriptors, so what it served and why it
 * ended are not lost. At most 10,000 lines are held; past that, a line is
 * written at once.
 */
export class LogHold {
  #held: Array<[HeldTarget, number, string]> | null = [];
  #armed = false;

  /** @param release settles when the lines may go (the supervisor printed the banner, or stopped or left this process). */
  constructor(release: Promise<unknown>) {
    const onExit = () => this.#flushSync();
    process.once("exit", onExit);
    void release.then(() => {
      process.off("exit", onExit);
      const lines = this.#held ?? [];
      this.#held = null;
      for (const [target, , text] of lines) target.write(text);
    });
  }

  /** Hold the lines of {@link gate}d streams too from now on (until the release). */
  arm(): void {
    this.#armed = true;
  }

  /** `target` (writing to descriptor `fd`) with its lines held until the release. */
  wrap<T extends HeldTarget | null>(target: T, fd: number): T extends null ? null : LogTarget {
    if (target === null) return null as T extends null ? null : LogTarget;
    return { write: (text: string) => this.#write(target, fd, text, true) } as T extends null ? null : LogTarget;
  }

  /** `stream` (`process.stdout` or `process.stderr`) with its lines held once {@link arm}ed, until the release; its `isTTY` and `columns` are the stream's. */
  gate(stream: NodeJS.WriteStream): { write(text: string): unknown; readonly isTTY: boolean; readonly columns: number } {
    const fd = stream === process.stderr ? 2 : 1;
    return {
      write: (text: string) => this.#write(stream, fd, text, this.#armed),
      get isTTY() {
        return stream.isTTY === true;
      },
      get columns() {
        return stream.columns;
      },
    };
  }

  #write(target: HeldTarget, fd: number, text: string, hold: boolean): void {
    if (hold && this.#held !== null && this.#held.length < HELD_MAX_LINES) this.#held.push([target, fd, text]);
    else target.write(text);
  }

  /** At the process's exit: the held lines, written to their descriptors at once (a stream's write would be lost). */
  #flushSync(): void {
    const lines = this.#held ?? [];
    this.#held = null;
    for (const [, fd, text] of lines) {
      try {
        writeSync(fd, text);
      } catch {
        // the descriptor is closed or broken: nothing to show them on
      }
    }
  }
}

/**
 * `logs` with their lines held by `hold` (see {@link LogHold}).
 */
export function heldLogs(
  logs: { log: LogTarget | null; errorLog: NodeJS.WriteStream | null },
  hold: LogHold,
): { log: LogTarget | null; errorLog: LogTarget | null } {
  hold.arm();
  return { log: hold.wrap(logs.log as HeldTarget | null, 1), errorLog: hold.wrap(logs.errorLog, 2) };
}
