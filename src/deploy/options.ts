/**
 * Production options of `tsgi serve`: where to listen (TCP, Unix socket,
 * inherited descriptor), TLS, proxy headers, mount path, workers and their
 * lifecycle. {@link resolveDeployOptions} checks them and turns them into
 * {@link ServerOptions} plus the supervisor's settings.
 * @module
 */
import { shownValue } from "../gateway/error-text.ts";
import { compileLogFormat } from "../server/log.ts";
import { UsageError } from "./errors.ts";
import { abstractSocketName, secondsToMs, type ServerOptions } from "../server/options.ts";
import { DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies, type ForwardedHeader } from "../server/proxy.ts";
import { openFileLimit } from "../server/sys.ts";
import { fstatSync } from "node:fs";
import { availableParallelism } from "node:os";

/**
 * The deployment flags, as typed values (CLI names in the comments). A
 * number option (`port`, `workers`, the timeouts and limits: every flag of
 * {@link NUMBER_FLAGS}) takes a number, or its text as the CLI takes it:
 * decimal digits, and a fraction for a duration (`"8000"`, `"2.5"`; not
 * `"4.0"` for a whole number, nor a sign: `"-0"`, `"+5"`), from
 * a config file or an environment variable. Anything else (`"0x1F90"`,
 * `"1e3"`, `" 4"`, `"four"`, `true`) is a UsageError from
 * {@link resolveDeployOptions} naming the flag, as the CLI's message.
 */
export interface DeployOptions {
  /** `--host`: interface to bind. Default `"127.0.0.1"`. */
  host?: string;
  /** `--port`: TCP port. Default 8000 (or `PORT`). */
  port?: number;
  /** `--uds PATH`: listen on a Unix domain socket instead of TCP. */
  uds?: string;
  /** `--uds-mode MODE`: octal permission bits for the socket file, 000 to 777 and writable by someone (connecting needs write permission), e.g. `"660"`; not a fourth digit (setuid, setgid, sticky). Default: the umask's. */
  udsMode?: string | number;
  /** `--fd N`: serve an inherited listening socket (systemd: 3). */
  fd?: number;
  /**
   * `--backlog N`: the listen backlog, in connections (gevent `backlog`,
   * cheroot `request_queue_size`; `ServerOptions.backlog`), on the socket
   * tsgi binds or the one `--fd` gives (with `--workers`, each worker sets it
   * on the socket they share, or on its own under `--reuse-port`). Linux
   * only; the kernel caps it at `net.core.somaxconn` (above it, `tsgi
   * serve` warns, naming the value in force, and asks that). Default:
   * Bun's, 512, and 511 on an inherited socket, whose own backlog
   * (systemd's `Backlog=`) Bun replaces.
   */
  backlog?: number;
  /** `--certfile`: PEM certificate chain; turns on TLS (with `keyfile`). */
  certfile?: string;
  /** `--keyfile`: PEM private key. */
  keyfile?: string;
  /** `--ca-certs`: PEM CA bundle; clients must present a certificate it signed. */
  caCerts?: string;
  /** `--https`: TLS with the cached self-signed development certificate when no files are given. */
  https?: boolean;
  /** `--workers N`: N worker processes under a supervisor (1 ≤ N ≤ {@link MAX_WORKERS_PER_CORE} × the CPU cores, `os.availableParallelism()`). Unset: one process, no supervisor. */
  workers?: number;
  /** `--reuse-port`: each worker binds the port itself with `SO_REUSEPORT` instead of sharing the supervisor's socket. */
  reusePort?: boolean;
  /** `--proxy-headers`: trust forwarding fields from `forwardedAllowIps`. */
  proxyHeaders?: boolean;
  /** `--forwarded-allow-ips`: trusted proxies, comma-separated: IPs, CIDRs, `*`, or RFC 7239's `unknown` and obfuscated `_name` nodes. Default `127.0.0.1,::1`, or `FORWARDED_ALLOW_IPS`. */
  forwardedAllowIps?: string;
  /** `--forwarded-header`: `x-forwarded` (default) or `forwarded` (RFC 7239). */
  forwardedHeader?: ForwardedHeader;
  /** `--root-path`: the path the app is mounted at (`SCRIPT_NAME`), e.g. `/api`. */
  rootPath?: string;
  /** `--graceful-timeout` seconds: how long in-flight requests get on SIGTERM, reload and recycle. Default 30 (gunicorn). */
  gracefulTimeout?: number;
  /** `--max-requests`: recycle a worker after this many requests; 0 = never. Default 0. */
  maxRequests?: number;
  /** `--max-requests-jitter`: add 0..N to each worker's `maxRequests`, so workers do not recycle together. Default 0. */
  maxRequestsJitter?: number;
  /** `--timeout` seconds: a worker silent (event loop blocked) this long, or not yet listening this long after it was started, is killed and replaced; 0 = never. Default 30 (gunicorn). */
  timeout?: number;
  /** `--peercreds`: put `SO_PEERCRED` ids (and names with `"resolve"`) in environ for Unix-socket clients. */
  peercreds?: boolean | "resolve";
  /**
   * `--keep-alive` seconds: how long an idle keep-alive connection is held
   * (`keepAliveTimeout`); 0 turns keep-alive off (gunicorn `--keep-alive`).
   * Default 5.
   */
  keepAlive?: number;
  /** `--max-connections`: open client connections per process; one more closes the keep-alive connection idle the longest, or, with none idle, is answered 503 (eventlet `max_size`; see `ServerOptions.maxConnections`). Default 10000, lowered to fit the open-file limit. */
  maxConnections?: number;
  /** `--header-timeout` seconds: time a request head has to arrive (slowloris); a started head gets 408. Default 30, or `socketTimeout` when that is given. */
  headerTimeout?: number;
  /** `--socket-timeout` seconds: how long a client may stall sending a body or taking the response (eventlet `socket_timeout`, cheroot `timeout`); also the head's time unless `--header-timeout` is given. Default 60. */
  socketTimeout?: number;
  /** `--request-timeout` seconds: longest time from request head to response end; past it 503, or the response is cut. 0 = off. Default 0. */
  requestTimeout?: number;
  /** `--url-length-limit` bytes: longest request-target; longer is 414 (eventlet `url_length_limit`). Default 8192. */
  urlLengthLimit?: number;
  /** `--max-header-bytes`: largest request header section; larger is 431. Default 65536. */
  maxHeaderBytes?: number;
  /** `--max-header-count`: most request header fields; more is 431. Default 100. */
  maxHeaderCount?: number;
  /** `--max-request-body-size` bytes: largest request body; larger is 413 (cheroot `max_request_body_size`). 0 = no limit. Default 0. */
  maxRequestBodySize?: number;
  /** `--log-format`: the access-log line, eventlet `log_format` style (`%(client_ip)s - - [%(date_time)s] ...`). Default eventlet's. */
  logFormat?: string;
}

/** Supervisor settings, in milliseconds. */
export interface WorkerSettings {
  /** Number of worker processes (≥ 1). */
  workers: number;
  /** Workers bind with `SO_REUSEPORT` themselves (TCP only) instead of inheriting the supervisor's socket. */
  reusePort: boolean;
  /** Drain time on stop, reload and recycle (ms). */
  gracefulTimeout: number;
  /** Requests before a worker is recycled; 0 = never. */
  maxRequests: number;
  /** Up to this many more requests, random per worker. */
  maxRequestsJitter: number;
  /** Heartbeat timeout (ms), also the time a new worker has to listen; 0 = off. */
  timeout: number;
}

/** What {@link resolveDeployOptions} returns. */
export interface ResolvedDeploy {
  /** Options for `createServer` (TLS files are read by `resolveTls` in `deploy/setup.ts`, not here). */
  server: ServerOptions;
  /** TLS files or the development certificate, still to be loaded. */
  tls: { certfile: string; keyfile: string; caCerts?: string } | "dev" | null;
  /** Proxy-header settings, or `null` when off. */
  proxy: { forwardedAllowIps: string[]; header: ForwardedHeader } | null;
  /** Supervisor settings, or `null` for a single process. */
  workers: WorkerSettings | null;
  /** Graceful timeout (ms) for a single process too. */
  gracefulTimeout: number;
  /**
   * Where `server.port` came from: `--port`, `PORT` (the environment, or a `.env` file Bun loaded
   * into it), or the default 8000; `null` when not listening on a TCP port (`--uds`, `--fd`).
   * A bind failure's message names `PORT` when it gave the port (see `listenMessage`).
   */
  portSource: "--port" | "PORT" | "default" | null;
  /**
   * The dotenv file (`.env`, `.env.local`, ...: Bun's name for it, in the
   * working directory) `PORT` came from when `portSource` is `PORT` and Bun
   * loaded it from one, for a bind failure's message to name (`listenMessage`).
   * `resolveDeployOptions` leaves it unset; `tsgi serve` sets it (it knows
   * the environment it started with: dev/dotenv.ts `dotenvSource`).
   */
  portFile?: string | undefined;
}

/**
 * The longest duration a timer holds, in seconds: 2^31 - 1 ms (Bun's, and
 * Node's, `setTimeout` fires at once for more, with a TimeoutOverflowWarning).
 */
const MAX_TIMER_SECONDS = 2147483;

/**
 * The most `--workers` per CPU core (`os.availableParallelism()`, the CPUs
 * this process may run on): 32. Each worker is an event loop serving many
 * connections at once; gunicorn's docs advise 2 × cores + 1 even for its
 * one-request-at-a-time sync workers. Far past any such advice, and far
 * short of a mistyped `--workers 100000` forking until the machine gives
 * out, which it is there to stop.
 */
export const MAX_WORKERS_PER_CORE = 32;

/**
 * What each number flag of `tsgi serve` takes, and an example value: the
 * message for a bad value names the flag, what it takes, an example and the
 * value given (see {@link numberFlagError}). `zero`: what 0 means, where it
 * turns the limit off. An integer flag without a `max` takes at most
 * {@link MAX_INTEGER_FLAG}.
 */
export const NUMBER_FLAGS = {
  port: { takes: "a TCP port from 0 to 65535", example: "8000", min: 0, max: 65535, integer: true },
  fd: { takes: "a file descriptor number, 0 or more", example: "3", min: 0, integer: true },
  backlog: { takes: "a number of connections from 0 to 2147483647", example: "2048", min: 0, max: 2147483647, integer: true },
  workers: { takes: "an integer of at least 1", example: "4", min: 1, integer: true },
  "max-requests": { takes: "an integer, 0 or more", example: "1000", min: 0, integer: true, zero: "0 never recycles" },
  "max-requests-jitter": { takes: "an integer, 0 or more", example: "50", min: 0, integer: true },
  timeout: { takes: "a number of seconds from 0 to 2147483", example: "30", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "graceful-timeout": { takes: "a number of seconds from 0 to 2147483", example: "30", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "keep-alive": { takes: "a number of seconds from 0 to 2147483", example: "5", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "max-connections": { takes: "an integer of at least 1", example: "10000", min: 1, integer: true },
  "header-timeout": { takes: "a number of seconds from 0 to 2147483", example: "30", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "socket-timeout": { takes: "a number of seconds from 0 to 2147483", example: "60", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "request-timeout": { takes: "a number of seconds from 0 to 2147483", example: "30", min: 0, max: MAX_TIMER_SECONDS, integer: false },
  "url-length-limit": { takes: "a whole number of bytes, at least 1", example: "8192", min: 1, integer: true },
  "max-header-bytes": { takes: "a whole number of bytes, at least 1", example: "65536", min: 1, integer: true },
  "max-header-count": { takes: "an integer of at least 1", example: "100", min: 1, integer: true },
  "max-request-body-size": { takes: "a whole number of bytes, 0 or more", example: "10485760", min: 0, integer: true, zero: "0 means no limit" },
} as const;

/**
 * The largest value an integer flag without a range of its own takes:
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1). Past it a number is not held
 * exactly (`99999999999999999999` reads as 100000000000000000000), so it is
 * refused, with what a flag's 0 means where 0 is "no limit" (`zero` in
 * {@link NUMBER_FLAGS}).
 */
export const MAX_INTEGER_FLAG = Number.MAX_SAFE_INTEGER;

/** A number flag of `tsgi serve` (see {@link NUMBER_FLAGS}). */
export type NumberFlag = keyof typeof NUMBER_FLAGS;

/**
 * The one-line error for a bad value of a number flag, the same for every
 * flag and every kind of mistake (not a number, negative, a fraction, out of
 * range): `--workers must be an integer of at least 1 (e.g. --workers 4), got "four"`.
 * A number given is shown as it is (decimal text as written), other text in
 * quotes, anything else as `shownValue` shows it (`4n`, `{}`). An integer over {@link MAX_INTEGER_FLAG} is told the largest value,
 * and what 0 means where it is "no limit": `--max-request-body-size must be
 * a whole number of bytes, 0 or more, at most 9007199254740991 (0 means no
 * limit; e.g. --max-request-body-size 10485760), got 99999999999999999999`.
 */
export function numberFlagError(name: NumberFlag, given: unknown): UsageError {
  const flag: { takes: string; example: string; max?: number; integer: boolean; zero?: string } = NUMBER_FLAGS[name];
  // Decimal text is shown as written: 99999999999999999999, not the 100000000000000000000 it reads as.
  // Anything else as an option error shows it (shownValue: "four" quoted, 4n, Symbol(x), never a throw).
  const shown = typeof given === "string" && DECIMAL.test(given) ? given : shownValue(given);
  const n = typeof given === "string" && DECIMAL.test(given) ? Number(given) : given;
  if (flag.max === undefined && flag.integer && typeof n === "number" && n > MAX_INTEGER_FLAG) {
    return new UsageError(`--${name} must be ${flag.takes}, at most ${MAX_INTEGER_FLAG} (${flag.zero ? `${flag.zero}; ` : ""}e.g. --${name} ${flag.example}), got ${shown}`);
  }
  return new UsageError(`--${name} must be ${flag.takes} (e.g. --${name} ${flag.example}), got ${shown}`);
}

/** A number flag's value written as text, as the CLI takes it: decimal digits, an optional `-` and fraction (not `5s`, `1e6`, `0x10`). */
const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * A number flag's value checked against {@link NUMBER_FLAGS}: a number, or
 * its decimal text (`"8000"`, `"2.5"`; see {@link DeployOptions}), the one
 * rule for the CLI's flags and for {@link resolveDeployOptions}' options.
 * A whole-number flag's text has no fraction (`"4.0"` is refused, as
 * `--port 8000.0` is), and no flag's text has a sign: `"-0"` and
 * `"-0.0"`, the only negative text that is no less than 0, are refused as
 * `--port -0` is (gunicorn's and uvicorn's `int()` take `-0` as 0; one rule
 * for every flag here, `--port`'s).
 * @throws UsageError from {@link numberFlagError} when it is not a number the flag takes.
 */
export function numberFlag(name: NumberFlag, v: unknown): number {
  // A port as text is digits only, as PORT and tsgi-dev's --port take it (not 8000.0, which DECIMAL allows).
  if (name === "port" && typeof v === "string") return portText(v, "--port");
  const flag: { min: number; max?: number; integer: boolean } = NUMBER_FLAGS[name];
  // A whole-number flag's text is written whole, as --port's is (gunicorn's and uvicorn's int() refuse 4.0 too).
  if (flag.integer && typeof v === "string" && v.includes(".") && DECIMAL.test(v)) throw numberFlagError(name, v);
  // Nor with a sign: -0 (a negative number is below every flag's minimum anyway).
  if (typeof v === "string" && v.startsWith("-")) throw numberFlagError(name, v);
  const n = typeof v === "string" && DECIMAL.test(v) ? Number(v) : v;
  const max = flag.max ?? (flag.integer ? MAX_INTEGER_FLAG : Infinity);
  if (typeof n !== "number" || !Number.isFinite(n) || n < flag.min || n > max || (flag.integer && !Number.isInteger(n))) throw numberFlagError(name, typeof v === "string" && DECIMAL.test(v) ? v : n);
  return n;
}

/**
 * A TCP port given as text (`--port`'s value, the `PORT` environment
 * variable, trimmed by the caller): decimal digits, leading zeros allowed
 * (`08000` is 8000, as uvicorn's `int()` reads it), 0 to 65535; not a sign,
 * a fraction (`8000.0`), blanks, hex or an exponent. The one rule for
 * `tsgi serve` and `tsgi-dev`, their `--port` and `PORT`.
 * @param from what to name in the error (`--port`, `PORT`).
 * @throws UsageError in the words of {@link numberFlagError}, the example
 *   written as `from` is given: `PORT must be a TCP port from 0 to 65535
 *   (e.g. PORT=8000), got "0x1F90"`; a number is shown unquoted (`got 99999`).
 */
export function portText(value: string, from: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    const example = from.startsWith("--") ? `${from} ${NUMBER_FLAGS.port.example}` : `${from}=${NUMBER_FLAGS.port.example}`;
    // A number is shown as it is (`got -1`, `got 80.5`), text in quotes, as numberFlagError shows --port's value.
    const shown = /^-?\d+(\.\d+)?$/.test(value) ? value : JSON.stringify(value);
    throw new UsageError(`${from} must be ${NUMBER_FLAGS.port.takes} (e.g. ${example}), got ${shown}`);
  }
  return Number(value);
}

/** The largest file descriptor number the kernel has: a C `int` (2^31 - 1). */
const MAX_FD = 2147483647;

/**
 * `--fd`'s value: a number {@link numberFlag} takes, which a descriptor of
 * this process can have. A descriptor is below the open-file limit
 * (`RLIMIT_NOFILE`, as `openFileLimit` in server/sys.ts reads it: `open(2)`
 * gives no number at or above it; Bun raises the soft limit, `ulimit -n`,
 * to the hard one, `ulimit -Hn`, at start, so that is the one named; off
 * Linux, or unlimited, a C `int`'s 2^31 - 1 is the largest); one at or above the limit
 * that is open all the same (inherited from a parent with a higher limit) is
 * taken. Whether an fd in range is open and a listening socket is the
 * server's to say (`checkInheritedFd`, exit 1): the parent may not have
 * passed it.
 * @throws UsageError `--fd must be a file descriptor number from 0 to 19999
 *   (below the open-file limit, 20000; Bun raises ulimit -n to the hard limit, ulimit -Hn;
 *   e.g. --fd 3), got 99999`.
 */
export function fdFlag(v: unknown): number {
  // A whole number past the largest safe integer is out of this range too, said in its words.
  const whole = typeof v === "string" ? /^\d+$/.test(v) : typeof v === "number" && Number.isInteger(v) && v >= 0;
  const fd = whole ? Number(v) : numberFlag("fd", v);
  const limit = openFileLimit();
  if (fd < Math.min(limit ?? Infinity, MAX_FD + 1) || (fd <= MAX_FD && isOpenFd(fd))) return fd;
  const range = limit !== undefined && limit <= MAX_FD ? `from 0 to ${limit - 1} (below the open-file limit, ${limit}; Bun raises ulimit -n to the hard limit, ulimit -Hn; e.g. --fd ${NUMBER_FLAGS.fd.example})` : `from 0 to ${MAX_FD} (e.g. --fd ${NUMBER_FLAGS.fd.example})`;
  throw new UsageError(`--fd must be a file descriptor number ${range}, got ${typeof v === "string" ? v : fd}`);
}

/** Whether `fd` is an open descriptor of this process. */
function isOpenFd(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * A duration flag in seconds (fractions allowed), as whole milliseconds
 * ({@link secondsToMs}: a positive value is at least 1 ms, never the 0 that
 * turns the timeout or keep-alive off).
 */
function seconds(name: NumberFlag, v: unknown): number {
  return secondsToMs(numberFlag(name, v));
}

/**
 * systemd socket activation (`sd_listen_fds(3)`): how many listening sockets
 * the service manager passed this process, from fd 3 on (`LISTEN_FDS`, when
 * `LISTEN_PID` is this process's pid; a child that inherited the variables
 * has another pid). 0 when none.
 */
export function listenFds(env: Record<string, string | undefined> = process.env, pid: number = process.pid): number {
  if (env.LISTEN_PID !== String(pid)) return 0;
  const n = Number(env.LISTEN_FDS);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * The address a `--host` value names, as Bun binds it: an IPv6 address may
 * be written in brackets, as in a URL or gunicorn's `--bind [::1]:8000`
 * (`[::1]` → `::1`). An address with a port (`127.0.0.1:8000`,
 * `[::1]:8000`) or a URL (`http://0.0.0.0`) is refused with what to write
 * instead: the port goes in `--port`. Bun's error for them was a failed
 * name lookup (`getaddrinfo ENOTFOUND [::1]`).
 * @param raw the flag's value, e.g. `"[::1]"`.
 * @param flag the flag's name for messages; default `"--host"`.
 * @returns the address or host name to bind.
 * @throws UsageError for a port, a URL, or brackets around something other than an IPv6 address.
 */
export function hostArgument(raw: string, flag = "--host"): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  if (url) throw new UsageError(`${flag} takes an address, not a URL: write ${flag} ${raw.slice(url[0].length).replace(/[:/].*$/, "") || "127.0.0.1"} (and --port for the port), got ${JSON.stringify(raw)}`);
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(raw);
  if (bracketed) {
    const [, address, port] = bracketed;
    if (!address!.includes(":")) throw new UsageError(`${flag}: brackets are for an IPv6 address such as [::1], got ${JSON.stringify(raw)}`);
    if (port !== undefined) throw new UsageError(`${flag} takes an address without a port: write ${flag} ${address} --port ${port || "<port>"}, got ${JSON.stringify(raw)}`);
    return address!;
  }
  const withPort = /^([^:]*):(\d*)$/.exec(raw);
  if (withPort) throw new UsageError(`${flag} takes an address without a port: write ${flag} ${withPort[1] || "127.0.0.1"} --port ${withPort[2] || "<port>"}, got ${JSON.stringify(raw)}`);
  return raw;
}

/**
 * `--uds-mode`'s value: the socket file's permission bits, 000 to 777 in
 * octal, as chmod(1) takes them (`"660"`, `"0660"`, `"0o660"`; a number,
 * `0o660`, from code). Refused: a fourth digit (`"1660"`, `"7777"`: the
 * setuid, setgid and sticky bits mean nothing on a socket), anything not
 * octal (`"rw-rw----"`, `"u=rw"`, `"999"`), a number past 0o777 (`660`
 * written in decimal is 0o1224), and a mode no one may write (`"0"`,
 * `"444"`): connecting to a Unix socket needs write permission on it
 * (unix(7)), so only root could.
 * @throws UsageError naming the value and what to give, e.g. 660.
 */
function udsMode(value: unknown): number {
  const octal = typeof value === "string" ? /^(?:0o?)?([0-7]{1,4})$/.exec(value)?.[1] : undefined;
  const mode = typeof value === "number" ? value : octal !== undefined ? parseInt(octal, 8) : NaN;
  if (octal !== undefined && mode > 0o777) {
    throw new UsageError(`--uds-mode must be octal permission bits from 000 to 777 (e.g. 660), got ${shownValue(value)}: the setuid, setgid and sticky bits (a fourth digit) mean nothing on a socket`);
  }
  if (typeof value === "number" && Number.isInteger(value) && value > 0o777 && /^[0-7]{3,4}$/.test(String(value))) {
    throw new UsageError(`--uds-mode must be octal permission bits from 000 to 777, got the number ${value}, which is 0o${value.toString(8)}: write it in octal, 0o${value}, or as text, "${value}"`);
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new UsageError(`--uds-mode must be octal permission bits from 000 to 777 (e.g. 660), got ${shownValue(value)}`);
  if ((mode & 0o222) === 0) {
    const shown = mode.toString(8).padStart(3, "0");
    throw new UsageError(`--uds-mode ${shown} lets no one write to the socket, which connecting needs (only root could connect): e.g. 660 (its owner and group) or 666 (every user)`);
  }
  return mode;
}

/**
 * Check the flags and derive the server and supervisor settings.
 * @param env environment for `PORT` and `FORWARDED_ALLOW_IPS` (uvicorn and gunicorn read it). Default `process.env`.
 * @throws UsageError naming the flag for a bad value or a forbidden combination.
 */
export function resolveDeployOptions(o: DeployOptions, env: Record<string, string | undefined> = process.env): ResolvedDeploy {
  const places = [o.uds !== undefined, o.fd !== undefined].filter(Boolean).length;
  if (places > 1) throw new UsageError("--uds and --fd are exclusive: pick where to listen");
  if (places === 1 && (o.port !== undefined || (o.host !== undefined && o.host !== "127.0.0.1"))) {
    throw new UsageError(`--host and --port are for TCP; ${o.uds !== undefined ? "--uds" : "--fd"} listens elsewhere: drop them`);
  }
  const server: ServerOptions = {};
  let portSource: ResolvedDeploy["portSource"] = null;
  if (o.fd !== undefined) server.fd = fdFlag(o.fd);
  else if (o.uds !== undefined) {
    if (!o.uds) throw new UsageError("--uds needs a path");
    const abstract = abstractSocketName(o.uds);
    if (abstract !== null) {
      // `@name`: a Linux abstract socket, as systemd's ListenStream=@name and ss(8) write it (a leading null byte too).
      if (process.platform !== "linux") throw new UsageError(`--uds @${abstract} names a Linux abstract socket, which ${process.platform} does not have: give a file path (./@${abstract} for a file named so)`);
      if (abstract === "") throw new UsageError("--uds @ names no abstract socket: give a name after the @ (e.g. --uds @app), or a file path");
    }
    server.unix = o.uds;
  } else {
    server.hostname = o.host === undefined ? "127.0.0.1" : hostArgument(o.host);
    // PORT as tsgi-dev reads it: blank is unset, else decimal digits (Number() took "0x1F90", "1e3", and " " as port 0);
    // read only when --port is not given, which wins over it (a platform's PORT is not checked then).
    portSource = o.port !== undefined ? "--port" : env.PORT?.trim() ? "PORT" : "default";
    server.port = portSource === "--port" ? numberFlag("port", o.port!) : portSource === "PORT" ? portText(env.PORT!.trim(), "PORT") : 8000;
  }
  if (o.backlog !== undefined) server.backlog = numberFlag("backlog", o.backlog);
  if (o.udsMode !== undefined) {
    if (o.uds === undefined) throw new UsageError("--uds-mode needs --uds");
    const abstract = abstractSocketName(o.uds);
    if (abstract !== null) {
      throw new UsageError(`--uds-mode does not apply to the abstract socket @${abstract}: it has no file, so no permission bits, and any process in the same network namespace may connect (--peercreds tells the app which user did); drop --uds-mode, or give --uds a file path (./@${abstract} for a file named so)`);
    }
    server.unixMode = udsMode(o.udsMode);
  }
  if (o.peercreds) {
    if (o.uds === undefined && o.fd === undefined) throw new UsageError("--peercreds needs a Unix socket (--uds or an inherited Unix socket with --fd)");
    server.peerCredentials = o.peercreds;
  }
  let tls: ResolvedDeploy["tls"] = null;
  if (o.certfile !== undefined || o.keyfile !== undefined) {
    if (!o.keyfile) throw new UsageError(`--certfile needs --keyfile${o.keyfile === "" ? " (given empty)" : ""}: the certificate's private key, PEM${o.https ? "" : " (--https alone serves a self-signed localhost certificate instead)"}`);
    if (!o.certfile) throw new UsageError(`--keyfile needs --certfile${o.certfile === "" ? " (given empty)" : ""}: the certificate chain, PEM, that goes with the key`);
    tls = { certfile: o.certfile, keyfile: o.keyfile, ...(o.caCerts ? { caCerts: o.caCerts } : {}) };
  } else if (o.caCerts) {
    throw new UsageError("--ca-certs needs --certfile and --keyfile");
  } else if (o.https) {
    tls = "dev";
  }
  let proxy: ResolvedDeploy["proxy"] = null;
  if (o.proxyHeaders) {
    const spec = o.forwardedAllowIps ?? env.FORWARDED_ALLOW_IPS ?? DEFAULT_FORWARDED_ALLOW_IPS.join(",");
    let trusted: TrustedProxies;
    try {
      trusted = new TrustedProxies(spec);
    } catch (error) {
      // Named where it came from, as a bad PORT is: a user who passed no --forwarded-allow-ips looks for the variable.
      const from = o.forwardedAllowIps !== undefined ? "--forwarded-allow-ips" : "FORWARDED_ALLOW_IPS (from the environment)";
      throw new UsageError(`${from}: ${(error as Error).message.replace(/^forwarded-allow-ips: /, "")}`);
    }
    // Only commas and spaces (`,`, an unset variable in `FORWARDED_ALLOW_IPS=$PROXIES`): with --proxy-headers on, no
    // proxy would be trusted and every forwarded field ignored, unsaid. (Empty items beside addresses are harmless.)
    if (trusted.entries.length === 0) {
      const from = o.forwardedAllowIps !== undefined ? "--forwarded-allow-ips" : "FORWARDED_ALLOW_IPS (from the environment)";
      throw new UsageError(`${from} lists no address (got ${JSON.stringify(spec)}): give the proxies' IPs or CIDRs, comma-separated (e.g. 10.0.0.1,10.0.0.2), or *; unset, it is 127.0.0.1,::1`);
    }
    const header = o.forwardedHeader ?? "x-forwarded";
    if (header !== "x-forwarded" && header !== "forwarded") throw new UsageError(`--forwarded-header must be x-forwarded or forwarded, got ${JSON.stringify(header)}`);
    proxy = { forwardedAllowIps: [...trusted.entries], header };
  } else if (o.forwardedAllowIps !== undefined || o.forwardedHeader !== undefined) {
    throw new UsageError("--forwarded-allow-ips and --forwarded-header need --proxy-headers");
  }
  if (o.rootPath !== undefined && o.rootPath !== "") {
    if (!o.rootPath.startsWith("/") || /[?#\s]/.test(o.rootPath)) throw new UsageError(`--root-path must be a path such as /api, got ${JSON.stringify(o.rootPath)}`);
    server.scriptName = o.rootPath.replace(/\/+$/, "");
  }
  if (o.keepAlive !== undefined) {
    const keepAlive = seconds("keep-alive", o.keepAlive);
    if (keepAlive === 0) server.keepalive = false;
    else server.keepAliveTimeout = keepAlive;
  }
  if (o.maxConnections !== undefined) {
    server.maxConnections = numberFlag("max-connections", o.maxConnections);
  }
  if (o.headerTimeout !== undefined) server.headerTimeout = seconds("header-timeout", o.headerTimeout);
  if (o.socketTimeout !== undefined) server.socketTimeout = seconds("socket-timeout", o.socketTimeout);
  if (o.requestTimeout !== undefined) server.requestTimeout = seconds("request-timeout", o.requestTimeout);
  if (o.urlLengthLimit !== undefined) server.urlLengthLimit = numberFlag("url-length-limit", o.urlLengthLimit);
  if (o.maxHeaderBytes !== undefined) server.maxHeaderBytes = numberFlag("max-header-bytes", o.maxHeaderBytes);
  if (o.maxHeaderCount !== undefined) server.maxHeaderCount = numberFlag("max-header-count", o.maxHeaderCount);
  if (o.maxRequestBodySize !== undefined) server.maxRequestBodySize = numberFlag("max-request-body-size", o.maxRequestBodySize);
  if (o.logFormat !== undefined) {
    try {
      compileLogFormat(o.logFormat);
    } catch (error) {
      throw new UsageError(`--log-format: ${(error as Error).message.replace(/^log format: /, "")}`);
    }
    server.logFormat = o.logFormat;
  }
  const gracefulTimeout = seconds("graceful-timeout", o.gracefulTimeout ?? 30);
  server.shutdownTimeout = gracefulTimeout;
  let workers: WorkerSettings | null = null;
  if (o.workers !== undefined) {
    const n = numberFlag("workers", o.workers);
    const cores = availableParallelism();
    if (n > MAX_WORKERS_PER_CORE * cores) {
      throw new UsageError(
        `--workers ${n} is more than ${MAX_WORKERS_PER_CORE} per CPU core (${cores} here: at most ${MAX_WORKERS_PER_CORE * cores}): each worker is a process with its own event loop, serving many connections at once, so past a few per core more add memory, not throughput; start from ${cores} (one per core) to ${2 * cores + 1} (gunicorn's 2 × cores + 1), e.g. --workers ${cores}`,
      );
    }
    if (o.reusePort && (o.uds !== undefined || o.fd !== undefined)) throw new UsageError("--reuse-port is for TCP ports; Unix and inherited sockets are shared by the workers");
    workers = {
      workers: n,
      reusePort: o.reusePort ?? false,
      gracefulTimeout,
      maxRequests: numberFlag("max-requests", o.maxRequests ?? 0),
      maxRequestsJitter: numberFlag("max-requests-jitter", o.maxRequestsJitter ?? 0),
      timeout: seconds("timeout", o.timeout ?? 30),
    };
    server.multiprocess = true;
  } else if (o.maxRequests || o.maxRequestsJitter || o.reusePort) {
    // The ones given, not all three (before: --reuse-port alone was told about --max-requests too).
    const given = [o.maxRequests ? "--max-requests" : "", o.maxRequestsJitter ? "--max-requests-jitter" : "", o.reusePort ? "--reuse-port" : ""].filter(Boolean);
    const named = given.length === 1 ? `${given[0]} needs` : `${given.slice(0, -1).join(", ")} and ${given.at(-1)} need`;
    throw new UsageError(`${named} --workers, which runs worker processes under a supervisor (e.g. --workers 4)`);
  } else if (o.timeout !== undefined) {
    throw new UsageError("--timeout is the worker heartbeat timeout and needs --workers; to bound each request use --request-timeout");
  }
  return { server, tls, proxy, workers, gracefulTimeout, portSource };
}
