/**
 * Log plumbing: turning a {@link LogTarget} into line writers, the request
 * line a log record names, and the access log (eventlet `log_format`).
 * `tsgi.errors` is in gateway/error-stream.ts.
 * @module
 */
import type { HttpError } from "../http/errors.ts";
import type { RequestHead } from "../http/parser.ts";
import type { AccessLogFields, LogTarget } from "./options.ts";

/** Writes one line (without its trailing newline). */
export type LineWriter = (line: string) => void;

/**
 * `text` with every character `chars` matches written as `\xHH` (nginx's
 * log escaping), e.g. `hexEscape('a"b', /"/g)` → `a\x22b`.
 * @param chars a global RegExp of the characters to escape (all ≤ U+00FF).
 */
export function hexEscape(text: string, chars: RegExp): string {
  return text.replace(chars, hexOf);
}

/** `\\xHH` for each latin-1 character code. */
const HEX_ESCAPES = Array.from({ length: 256 }, (_, c) => `\\x${c.toString(16).toUpperCase().padStart(2, "0")}`);
const hexOf = (c: string): string => HEX_ESCAPES[c.charCodeAt(0)] ?? `\\x${c.charCodeAt(0).toString(16).toUpperCase()}`;

/** `GET /path HTTP/1.1` for logs. */
export function requestLine(head: RequestHead | null): string {
  if (!head) return "(no request)";
  // The parser admits `"` and `\` in a request-target; in a log line they are
  // written \x22 and \x5C (nginx's escaping of $request), so the quoted field
  // cannot be closed early. Spaces, CR, LF and other controls never get here.
  const target = head.target.indexOf('"') === -1 && head.target.indexOf("\\") === -1 ? head.target : hexEscape(head.target, /["\\]/g);
  return `${head.method} ${target} ${head.version}`;
}

/** The access log's request line for a request the server rejected. */
export function rejectedLine(error: HttpError): string {
  return `- (rejected: ${error.message})`;
}

/**
 * `text` with C0 controls other than tab and newline, DEL and C1 controls
 * written as `\xHH`: for error reports that may quote a client's bytes (an
 * error message holding a request path), whose ESC sequences would otherwise
 * recolour, retitle or clear the terminal of whoever reads the log (CWE-117).
 */
export function escapeControls(text: string): string {
  return hexEscape(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g);
}

/**
 * A line writer for `target`: `write(line + "\n")` on writables,
 * `info`/`error` on loggers (gevent `LoggingLogAdapter`), nothing for `null`.
 */
export function lineWriter(target: LogTarget | undefined, level: "info" | "error"): LineWriter | null {
  if (!target) return null;
  if ("write" in target && typeof target.write === "function") {
    return (line) => {
      target.write(`${line}\n`);
    };
  }
  const logger = target as { info(m: string): unknown; error(m: string): unknown };
  return level === "info" ? (line) => logger.info(line) : (line) => logger.error(line);
}

/**
 * A writable error log's method that writes a message of tsgi's own on a line
 * of its own (after a line left unended, `"\n"` first), for a log that other
 * writers share and that tracks its own line ({@link errorLogWriters}).
 */
export const ERROR_LOG_MESSAGE: unique symbol = Symbol.for("tsgi.error_log.message");

/**
 * The error log's two writers over one writable `target`: `line` for the
 * server's own messages (`Error in GET /x HTTP/1.1: ...`, `Warning: ...`),
 * `stream` for `tsgi.errors` (PEP 3333 `wsgi.errors`: a text stream, written
 * as given). A message after a `tsgi.errors` write that did not end its line
 * (`write("no newline here")`) starts on a line of its own: a `"\n"` is
 * written first, in a write of its own, so that a target marking each line
 * (a worker's `[tsgi worker <pid>] `) marks the message. The app's line is
 * not held back (a crash would lose it); its rest, if it writes one, then
 * follows the message on a line of its own. A target with an
 * {@link ERROR_LOG_MESSAGE} method (tsgi serve's error log, which stray
 * errors' reports share) is given the server's messages through it: it
 * knows whether its line is ended, whoever wrote last, so that a message
 * after another writer's ended line gets no blank line before it.
 */
export function errorLogWriters(target: { write(text: string): unknown; [ERROR_LOG_MESSAGE]?: (text: string) => unknown }): { line: LineWriter; stream: (text: string) => void } {
  const message = target[ERROR_LOG_MESSAGE];
  if (typeof message === "function") {
    return {
      line: (line) => void message.call(target, `${line}\n`),
      stream: (text) => void target.write(text),
    };
  }
  let midLine = false;
  return {
    line: (line) => {
      if (midLine) {
        midLine = false;
        target.write("\n");
      }
      target.write(`${line}\n`);
    },
    stream: (text) => {
      if (text === "") return;
      target.write(text);
      midLine = !text.endsWith("\n");
    },
  };
}

/**
 * `writer` for the error log, made safe to call from anywhere: a line its
 * target throws for (a `write()` or logger method that throws: a full disk,
 * a closed transport, a bug in a logger, the same broken target as the
 * access log's) goes to stderr instead, followed by `Error in the
 * errorLog's write: ...`, so reporting an error never becomes a second
 * error that escapes a timer or a request and ends the process. Nothing is
 * thrown even when stderr fails too.
 */
export function guardedErrorWriter(writer: LineWriter): LineWriter {
  return (line) => {
    try {
      writer(line);
    } catch (error) {
      try {
        process.stderr.write(`${line}\n`);
      } catch {
        // stderr is gone too
      }
      reportToStderr("the errorLog's write", error);
    }
  };
}

/** A logger method that takes one message: consola, `console`, pino and winston all have these. */
export type LoggerLevel = "trace" | "debug" | "info" | "log" | "warn" | "error" | "fatal";

/**
 * gevent `LoggingLogAdapter`: a logger as a writable log target, for `log`,
 * `errorLog` (and so `tsgi.errors`), each line logged at `level`.
 *
 * `write(text)` logs every non-empty line of `text` as its own message,
 * without its newline. gevent logs one message per `write()` with one
 * trailing newline stripped; tsgi splits, because its access log writes
 * lines in batches. gevent passes any other attribute through to the
 * logger; here the logger is {@link logger}.
 */
export class LoggingLogAdapter {
  /**
   * @param logger any object with a method named `level`, e.g. a consola instance.
   * @param level the method to call. Default `"info"` (gevent: `logging.INFO`).
   * @throws TypeError when `logger[level]` is not a function.
   */
  constructor(
    /** The logger lines go to: any object with a method named {@link level}. */
    readonly logger: Partial<Record<LoggerLevel, (message: string) => unknown>>,
    /** The logger's method each line is passed to. Default `"info"`. */
    readonly level: LoggerLevel = "info",
  ) {
    if (typeof logger?.[level] !== "function") {
      throw new TypeError(`LoggingLogAdapter: the logger has no ${level}() method`);
    }
  }

  /** Log each non-empty line of `text` at {@link level}. */
  write(text: string): void {
    const log = this.logger[this.level]!;
    let start = 0;
    for (let nl = text.indexOf("\n"); start < text.length; nl = text.indexOf("\n", start)) {
      const end = nl === -1 ? text.length : nl;
      if (end > start) log.call(this.logger, text.slice(start, end));
      start = end + 1;
    }
  }

  /** `write()` each string in turn. */
  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line);
  }

  /** Nothing to flush: the logger owns its output. */
  flush(): void {}
}

/** eventlet's default `log_format`, as used by the access log. */
export const DEFAULT_LOG_FORMAT =
  '%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f';

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

let lastSecond = -1;
let lastDate = "";
/** Common-log-format time, `23/Nov/2026:09:00:00 +0000` (UTC); cached per second. */
export function logDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) return lastDate;
  const d = new Date(second * 1000);
  lastSecond = second;
  lastDate = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  return lastDate;
}

/**
 * `x.toFixed(6)`, byte for byte, in about a fifth of its time for what
 * `wall_seconds` holds (0 ≤ x < 1000): the micro-seconds rounded as
 * integers. `x * 1e6` is then off the exact product by under 1e-7, so
 * `Math.round` picks toFixed's digits unless the product lies within 1e-4 of
 * a half (a tie toFixed breaks upwards, or a rounding of the product across
 * one), which, like any other value, goes to `toFixed`.
 */
export function fixed6(x: number): string {
  if (x >= 0 && x < 1000) {
    const p = x * 1e6;
    const f = p - Math.floor(p);
    if (f < 0.4999 || f > 0.5001) {
      const n = Math.round(p);
      if (n < 1e6) return n >= 1e5 ? `0.${n}` : `0.${String(n + 1e6).slice(1)}`;
      const s = String(n);
      return `${s.slice(0, -6)}.${s.slice(-6)}`;
    }
  }
  return x.toFixed(6);
}

/** {@link DEFAULT_LOG_FORMAT} compiled: {@link AccessLog} formats its records without the fields object when it sees this function. */
const defaultLine = (f: AccessLogFields): string =>
  `${f.client_ip} - - [${f.date_time}] "${f.request_line}" ${f.status_code} ${f.body_length} ${fixed6(Number(f.wall_seconds))}`;

/** The field names a log format may use: eventlet's `log_format` mapping. */
const LOG_FIELDS: ReadonlyArray<keyof AccessLogFields> = ["client_ip", "client_port", "date_time", "request_line", "status_code", "body_length", "wall_seconds"];

/** The fields that are text, not numbers: `%(name)s` only. */
const TEXT_FIELDS: ReadonlyArray<keyof AccessLogFields> = ["client_ip", "date_time", "request_line"];

/** The largest width or precision a log-format conversion may give (`toFixed`'s limit). */
const MAX_CONVERSION_WIDTH = 100;

/**
 * Compile an eventlet `log_format` (Python's `%` formatting with a mapping)
 * into a function. The names are eventlet's: `client_ip`, `client_port`,
 * `date_time`, `request_line`, `status_code`, `body_length`,
 * `wall_seconds` ({@link AccessLogFields}). A conversion is `%(name)[flags][width][.precision]type`:
 * type `s` (precision: at most that many characters), `d`/`i` (truncated to
 * an integer; precision: at least that many digits, zeros in front) or `f`
 * (precision: digits after the point, default 6);
 * flags `-` (left-justify in the width), `0` (pad numbers with zeros), `+`
 * and space (sign of positive numbers). `%%` is a literal percent.
 * @throws Error on an unknown field name, on a text field (`client_ip`,
 *   `date_time`, `request_line`) given a number's type (`%(client_ip)d`),
 *   on a width or precision over 100 (`%(wall_seconds).101f`, which could
 *   not be written), or on a `%` that starts no valid conversion (Python raises there too,
 *   the number's at each line), naming its offset.
 */
export function compileLogFormat(format: string): (fields: AccessLogFields) => string {
  // The default format, written out: what the generic compilation below gives, without its per-part loop.
  if (format === DEFAULT_LOG_FORMAT) return defaultLine;
  const parts: Array<string | ((f: AccessLogFields) => string)> = [];
  const re = /%%|%\((\w+)\)([-0+ #]*)(\d+)?(?:\.(\d+))?([sdif])/y;
  let last = 0;
  for (let at = format.indexOf("%"); at !== -1; at = format.indexOf("%", last)) {
    re.lastIndex = at;
    const m = re.exec(format);
    if (!m) {
      throw new Error(
        `log format: cannot read the conversion at offset ${at} (${JSON.stringify(format.slice(at, at + 16))}); write %(name)s, %(name)d or %(name).3f, and %% for a percent sign`,
      );
    }
    parts.push(format.slice(last, at));
    last = re.lastIndex;
    if (m[0] === "%%") {
      parts.push("%");
      continue;
    }
    const name = m[1] as keyof AccessLogFields;
    if (!LOG_FIELDS.includes(name)) {
      throw new Error(`log format: unknown field %(${name}); known: ${LOG_FIELDS.join(", ")}`);
    }
    // Python's % raises on a text formatted as a number (%d format: a real number is required, not str); here it would log NaN on every line.
    if (m[5] !== "s" && TEXT_FIELDS.includes(name)) {
      throw new Error(
        `log format: ${m[0]} formats ${name}, a text field, as a number; write %(${name})s (the number fields: ${LOG_FIELDS.filter((f) => !TEXT_FIELDS.includes(f)).join(", ")})`,
      );
    }
    const width = m[3] === undefined ? 0 : Number(m[3]);
    const precision = m[4] === undefined ? undefined : Number(m[4]);
    // toFixed takes at most 100 digits: past it every line would throw and be dropped; no log field needs a wider column.
    if (width > MAX_CONVERSION_WIDTH || (precision ?? 0) > MAX_CONVERSION_WIDTH) {
      throw new Error(`log format: ${m[0]} asks for ${width > MAX_CONVERSION_WIDTH ? `a width of ${width}` : `a precision of ${precision}`}; at most ${MAX_CONVERSION_WIDTH} is allowed`);
    }
    parts.push(conversion(name, m[2]!, width, precision, m[5]!));
  }
  parts.push(format.slice(last));
  return (fields) => {
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : p(fields);
    return out;
  };
}

/** One `%(name)...` conversion of {@link compileLogFormat}, as Python's `%` formats it. */
function conversion(name: keyof AccessLogFields, flags: string, width: number, precision: number | undefined, type: string): (f: AccessLogFields) => string {
  const left = flags.includes("-");
  const sign = flags.includes("+") ? "+" : flags.includes(" ") ? " " : "";
  const numeric = type !== "s";
  const text = (f: AccessLogFields): string => {
    if (!numeric) {
      const s = name === "wall_seconds" ? pythonFloatText(Number(f[name])) : String(f[name]);
      return precision === undefined ? s : s.slice(0, precision);
    }
    const n = Number(f[name]);
    // An integer's precision is its least count of digits, zeros in front (%(status_code).5d: 00200), as in Python and C.
    const body = type === "f" ? (precision ?? 6) === 6 ? fixed6(Math.abs(n)) : Math.abs(n).toFixed(precision) : String(Math.abs(Math.trunc(n))).padStart(precision ?? 0, "0");
    const prefix = n < 0 || Object.is(n, -0) ? "-" : sign;
    if (!left && flags.includes("0") && width > 0) return prefix + body.padStart(width - prefix.length, "0");
    return prefix + body;
  };
  if (width === 0) return text;
  return left ? (f) => text(f).padEnd(width) : (f) => text(f).padStart(width);
}

/**
 * `str(x)` of a Python float, which eventlet's `wall_seconds` is: the
 * shortest digits that read back as `x` (JavaScript's too), in exponent form
 * below 1e-4 and from 1e16 up with at least two exponent digits (`4.7e-05`,
 * where JavaScript writes `0.000047`), and `.0` after a whole number.
 */
function pythonFloatText(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [mantissa, exponent] = x.toExponential().split("e") as [string, string];
    const e = Number(exponent);
    return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (Number.isInteger(x)) return `${Object.is(x, -0) ? "-" : ""}${String(x)}.0`;
  return String(x);
}

/** How long a record may wait before its batch is written (ms). */
export const ACCESS_LOG_FLUSH_MS = 10;
/** A batch this many records long is written at once. */
const ACCESS_LOG_MAX_BATCH = 1024;
/** Slots per record in {@link AccessLog}'s queue. */
const SLOTS = 7;

/** Bounds on the wall clock's offset from `performance.now()`, ms: every Date.now() read so far agrees with [lo, hi). */
let offsetLo = -Infinity;
let offsetHi = Infinity;

/**
 * The wall clock's offset from `performance.now()`, ms (`Date.now()` is
 * about `performance.now()` plus it), to a few µs, for one wall-clock read each
 * call. `Date.now() - performance.now()` alone is up to 1 ms low (Date.now()
 * truncates), and by a different amount at each read: a line that ended in
 * the first millisecond of a second could be stamped with the one before,
 * and lines of different batches out of order. Each read bounds the offset
 * to `[Date.now() - after, Date.now() + 1 - before)` (`before` and `after`
 * the monotonic reads around it); the bounds of every read
 * are intersected (they start again when the wall clock is set, and they
 * no longer meet), and `performance.timeOrigin`, the wall clock when the
 * process started to the µs, is the offset while it lies within them (a
 * later read, the lower bound, when the clock was set since).
 */
export function wallOffset(): number {
  // Between two monotonic reads, so that a pause between the reads widens the bounds rather than moving them.
  const before = performance.now();
  const wall = Date.now();
  const after = performance.now();
  let lo = Math.max(offsetLo, wall - after);
  let hi = Math.min(offsetHi, wall + 1 - before);
  if (lo >= hi) {
    lo = wall - after;
    hi = wall + 1 - before;
  }
  offsetLo = lo;
  offsetHi = hi;
  const origin = performance.timeOrigin;
  return origin >= lo && origin < hi ? origin : lo;
}

/**
 * The access log: records are kept raw and formatted in a batch, written at
 * most {@link ACCESS_LOG_FLUSH_MS} ms after its first record (or when it
 * holds 1,024 records, or on `flush()`, which the server calls when it
 * closes), so logging costs one write per batch, not one per request or per
 * event-loop turn (nginx's `access_log ... flush=` in miniature).
 */
export class AccessLog {
  /**
   * Raw records, {@link SLOTS} slots each: client, client port, request
   * line, status, bytes, wall seconds, end (`performance.now()` ms); or a
   * line already formatted, then `null` in the third slot.
   */
  private pending: Array<string | number | null> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @param writer writes one line (a logger's `info`), used when `rawWrite` is `null`.
   * @param format a record's line (the `logFormat` option as a function).
   * @param rawWrite writes a whole batch of lines, each ending in `\n` (a writable's `write`), or `null`.
   * @param onError told of an error `format` or a write threw, with what
   *   failed (`"the access log's logFormat"`, `"the access log's write"`):
   *   that line (or batch) is dropped, the others are written, and the
   *   error goes no further, as it runs in a timer or a request's end.
   */
  constructor(
    private readonly writer: LineWriter,
    private readonly format: (fields: AccessLogFields) => string,
    private readonly rawWrite: ((text: string) => void) | null,
    private readonly onError: (context: string, error: unknown) => void = reportToStderr,
  ) {}

  /**
   * Queue a record; nothing is formatted until the batch is flushed.
   * @param endMs when the response ended, a `performance.now()` value (the
   *   clock its `wallSeconds` were measured on, read once): the line's time
   *   is it on the wall clock, {@link wallOffset} at the flush added, so a
   *   record reads no second clock.
   */
  record(clientIp: string, clientPort: number, requestLine: string, status: number, bodyLength: number, wallSeconds: number, endMs: number): void {
    this.pending.push(clientIp, clientPort, requestLine, status, bodyLength, wallSeconds, endMs);
    this.queued();
  }

  /** Queue a line already formatted (a `handlerClass`'s `logRequest()`), in order with the records. */
  writeLine(line: string): void {
    this.pending.push(line, 0, null, 0, 0, 0, 0);
    this.queued();
  }

  private queued(): void {
    if (this.pending.length >= ACCESS_LOG_MAX_BATCH * SLOTS) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flush, ACCESS_LOG_FLUSH_MS);
  }

  /** Format and write what is queued now. */
  readonly flush = (): void => {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let text = "";
    const plain = this.format === defaultLine;
    // The records' ends are on the monotonic clock, the batch at most ~10 ms old: the wall clock's offset from it.
    const wall = wallOffset();
    for (let i = 0; i < batch.length; i += SLOTS) {
      let line: string;
      if (batch[i + 2] === null) line = batch[i] as string;
      else if (plain) {
        // defaultLine, without a fields object per record
        line = `${batch[i]} - - [${logDate((batch[i + 6] as number) + wall)}] "${batch[i + 2]}" ${batch[i + 3]} ${batch[i + 4]} ${fixed6(batch[i + 5] as number)}`;
      } else {
        try {
          line = this.format({
            client_ip: batch[i] as string,
            client_port: batch[i + 1] as number,
            request_line: batch[i + 2] as string,
            status_code: batch[i + 3] as number,
            body_length: batch[i + 4] as number,
            wall_seconds: batch[i + 5] as number,
            date_time: logDate((batch[i + 6] as number) + wall),
          });
        } catch (error) {
          this.onError("the access log's logFormat", error);
          continue;
        }
      }
      if (this.rawWrite) text += `${line}\n`;
      else {
        try {
          this.writer(line);
        } catch (error) {
          this.onError("the access log's write", error);
        }
      }
    }
    if (this.rawWrite && text) {
      try {
        this.rawWrite(text);
      } catch (error) {
        this.onError("the access log's write", error);
      }
    }
  };
}

/** {@link AccessLog}'s default `onError`: `Error in CONTEXT: STACK` on stderr. */
function reportToStderr(context: string, error: unknown): void {
  try {
    process.stderr.write(`Error in ${context}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  } catch {
    // stderr is gone too
  }
}

/** The `logFormat` option as a function (a string is compiled; the default is eventlet's format). */
export function accessLogFormat(format: string | ((fields: AccessLogFields) => string) | undefined): (fields: AccessLogFields) => string {
  return typeof format === "function" ? format : compileLogFormat(format ?? DEFAULT_LOG_FORMAT);
}

/**
 * Build the access log for a target, or `null` when logging is off.
 * @param onError told of what `fmt` or the target's write throws (the server's error log); default: stderr.
 */
export function createAccessLog(target: LogTarget | undefined, fmt: (fields: AccessLogFields) => string, onError?: (context: string, error: unknown) => void): AccessLog | null {
  const writer = lineWriter(target, "info");
  if (!writer) return null;
  const raw = target && "write" in target && typeof target.write === "function" ? (text: string) => void target.write(text) : null;
  return new AccessLog(writer, fmt, raw, onError);
}

