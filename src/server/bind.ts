/**
 * Binding the server's listening socket: TCP (optionally `SO_REUSEPORT`), a
 * Unix domain socket (stale file handling, mode), or an inherited file
 * descriptor (systemd socket activation, a worker supervisor), each with or
 * without TLS.
 * @module
 */
import type { Socket, SocketHandler, SocketListener, TCPSocketListenOptions, TLSOptions, UnixSocketOptions } from "bun";
import { chmodSync, fstatSync, lstatSync, statSync, unlinkSync, type Stats } from "node:fs";
import { isIP } from "node:net";
import { dirname, join } from "node:path";
import { abstractSocketName, type ResolvedOptions } from "./options.ts";
import type { TlsConfig } from "./tls.ts";
import { ADDRESS_FAMILIES, closeFd, listeningUnixSocket, SOCKET_TYPES, setListenBacklog, socketKind, unixSocketListening, unixSocketPath } from "./sys.ts";

/** A bound listener and what it is bound to. */
export interface Bound<Data> {
  readonly listener: SocketListener<Data>;
  /** The bound address (`""` for a Unix socket). */
  readonly hostname: string;
  /** The bound port (0 for a Unix socket). */
  readonly port: number;
  /** The socket path when it is a Unix socket (for an inherited one, as `getsockname` reports it; `""` when it cannot be read: off Linux, or a socket neither Unix nor IP such as `AF_VSOCK`), else `null`. */
  readonly unix: string | null;
  /** The `backlog` option was asked for and could not be set here (no C library: not Linux); the socket listens with Bun's. */
  readonly backlogUnset: boolean;
}

/**
 * Set the `backlog` option on a listener just made (see `ServerOptions.backlog`):
 * `listen()` again on its descriptor (Bun's `SocketListener` has `fd`, untyped).
 * @returns `false` when it cannot be set here (not Linux), else `true` (also when no backlog was asked).
 * @throws BindError (`EINVAL`), the listener stopped, when `listen(2)` fails or the listener has no descriptor.
 */
function applyBacklog(listener: SocketListener<unknown>, backlog: number | undefined, target: string): boolean {
  if (backlog === undefined) return true;
  const fd = (listener as unknown as { fd?: unknown }).fd;
  try {
    if (typeof fd !== "number" || fd < 0) throw new Error("Bun's listener gave no file descriptor");
    return setListenBacklog(fd, backlog);
  } catch (error) {
    listener.stop(true);
    throw new BindError(`cannot listen on ${target} with backlog ${backlog}: ${(error as Error).message}`, "EINVAL", { cause: error });
  }
}

/**
 * A listening socket that could not be made, with a one-line message naming
 * the address, path or descriptor, and a Node-style `code` (`EADDRINUSE`,
 * `EACCES`, `EINVAL`, ...). The server, `tsgi serve` and `tsgi-dev` all
 * throw this one; the commands print its message and exit 1.
 */
export class BindError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "BindError";
  }
}

/** Why a listening socket could not be made, by error `code`: for one-line bind errors. */
export const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the address is already in use",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "the address is not available on this machine",
};

/** The bind failures the commands explain, and `OTHER`. */
export type BindFailure = "EADDRINUSE" | "EACCES" | "EADDRNOTAVAIL" | "OTHER";

/** Which bind failure `error` is, recognising Bun's messages when `code` is missing. */
export function bindErrorCode(error: unknown): BindFailure {
  const e = error as { code?: string; message?: string } | null;
  const code = e?.code ?? "";
  const msg = e?.message ?? "";
  if (code === "EADDRINUSE" || /in use/i.test(msg)) return "EADDRINUSE";
  if (code === "EACCES" || code === "EPERM" || /permission denied|access denied/i.test(msg)) return "EACCES";
  if (code === "EADDRNOTAVAIL" || /not available|assign requested address/i.test(msg)) return "EADDRNOTAVAIL";
  return "OTHER";
}

/** Where a listener binds, as bind errors name it: `host:port` (`[::1]:8000` for IPv6), a socket path, or `fd N`. */
export function bindTarget(o: { hostname?: string; port?: number; unix?: string; fd?: number }): string {
  if (o.unix !== undefined) return o.unix;
  if (o.fd !== undefined) return `fd ${o.fd}`;
  const host = o.hostname || "127.0.0.1";
  return `${host.includes(":") ? `[${host}]` : host}:${o.port ?? 8000}`;
}

/**
 * One line for a failed bind at `target` ({@link bindTarget}): a message of
 * ours (`cannot listen ...`, `cannot serve ...`, which already names its path
 * or descriptor) as it is, else `cannot listen on <target>: <reason> (<code>)`,
 * the reason from {@link LISTEN_REASONS} or the error's own message.
 */
export function bindErrorMessage(error: unknown, target: string): string {
  const e = error as { message?: string; code?: string } | null;
  if (/^cannot (listen|serve)/.test(e?.message ?? "")) return e!.message!;
  const why = (e?.code && LISTEN_REASONS[e.code]) || e?.message;
  return `cannot listen on ${target}: ${why}${e?.code ? ` (${e.code})` : ""}`;
}

/**
 * Bun's TCP listen error says little ("Failed to listen at HOST"): a
 * {@link BindError} naming the address and the reason, with the code, for
 * the codes in {@link LISTEN_REASONS}; any other error as it is.
 */
export function listenError(error: unknown, hostname: string, port: number): Error {
  const code = (error as { code?: string } | null)?.code;
  const target = bindTarget({ hostname, port });
  if (!code && isIP(hostname) === 0) {
    // Bun's failed name lookup carries no code (a typo, a name only DNS outside knows, 999.1.1.1).
    return new BindError(`cannot listen on ${target}: ${hostname} is not an IP address and does not resolve to one here; give an address such as 127.0.0.1, ::1 or 0.0.0.0 (ENOTFOUND)`, "ENOTFOUND", { cause: error });
  }
  if (!code || !LISTEN_REASONS[code]) return error instanceof Error ? error : new Error(String(error));
  return new BindError(bindErrorMessage(error, target), code, { cause: error });
}

/** The longest Unix socket path Linux takes, in bytes (`sun_path` is 108 bytes with its NUL). */
export const UNIX_PATH_MAX = 107;

/**
 * A failed bind of a Unix socket at `path` as a {@link BindError} naming the
 * path and what to do: the directory missing (`ENOENT`, `ENOTDIR`), not
 * writable by this user (`EACCES`, `EPERM`), the path longer than
 * {@link UNIX_PATH_MAX} bytes (`EINVAL`); anything else with Bun's own
 * message. Bun's error says only `Failed to listen at <path>`, and TCP's
 * reason for `EACCES` (a port below 1024) does not apply to a file.
 * @param error what `Bun.listen({ unix })` threw.
 * @param path the socket path as given (relative paths count as written).
 * @param name the path to name in the message; default `path`.
 */
export function unixListenError(error: unknown, path: string, name: string = path): BindError {
  const e = error as { code?: string; message?: string } | null;
  const code = e?.code ?? "EINVAL";
  const dir = dirname(path);
  const bytes = Buffer.byteLength(path);
  let why: string;
  if (code === "ENOENT") why = `the directory ${dir} does not exist; create it first (systemd: RuntimeDirectory=)`;
  else if (code === "ENOTDIR") why = `a part of ${dir} is not a directory`;
  else if (code === "EACCES" || code === "EPERM") why = `permission denied: this user cannot create a file in ${dir}`;
  else if (code === "EADDRINUSE") why = "another process is serving that socket";
  else if (bytes > UNIX_PATH_MAX) why = `the path is ${bytes} bytes, and a Unix socket path may have at most ${UNIX_PATH_MAX}; use a shorter one (a relative path counts as written)`;
  else why = e?.message ?? String(error);
  return new BindError(`cannot listen on ${name}: ${why} (${code})`, code, { cause: error });
}

/**
 * {@link unixListenError} for a Linux abstract socket (`shown` is `@name`): no file or directory is
 * involved, so none is blamed.
 */
function abstractListenError(error: unknown, shown: string): BindError {
  const e = error as { code?: string; message?: string } | null;
  const code = e?.code ?? "EINVAL";
  const bytes = Buffer.byteLength(shown);
  const why =
    code === "EADDRINUSE"
      ? "another process is serving that abstract socket (ss -xlp shows which)"
      : bytes > UNIX_PATH_MAX
        ? `the name is ${bytes - 1} bytes, and an abstract socket's may have at most ${UNIX_PATH_MAX - 1}; use a shorter one`
        : (e?.message ?? String(error));
  return new BindError(`cannot listen on the abstract socket ${shown}: ${why} (${code})`, code, { cause: error });
}

/**
 * Listen on the Linux abstract socket `name` (unix(7): a `sun_path` that
 * starts with a null byte; `name` without its `@` or `\0`, see
 * `abstractSocketName` in options.ts) with `Bun.listen` options `listen`
 * (handlers, data, TLS): no file to check, chmod or remove, so no mode.
 * Both {@link bindListener} (one process) and the worker supervisor's
 * shared socket (`bindSharedSocket`, src/deploy/shared-socket.ts) bind so.
 * @throws BindError naming `@name` and why (another process serves it, the
 *   name is over {@link UNIX_PATH_MAX} less one bytes), with Bun's `code`.
 */
export function listenAbstractSocket<Data>(name: string, listen: Omit<UnixSocketOptions<Data>, "unix">): SocketListener<Data> {
  try {
    return Bun.listen<Data>({ ...listen, unix: `\0${name}` });
  } catch (error) {
    throw abstractListenError(error, `@${name}`);
  }
}

/** What a file that is not a socket is, for {@link prepareUnixPath}'s message. */
function fileKind(stat: Stats): string {
  if (stat.isSymbolicLink()) return "a symbolic link";
  if (stat.isFIFO()) return "a named pipe";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "a regular file";
}

/**
 * Make `path` free for binding a Unix socket: a socket file that nothing
 * accepts connections on (left by a crashed server) is removed; one that is
 * served, or a file that is not a socket, is left alone.
 * @throws BindError `EADDRINUSE` when another process serves the path, `EISDIR` when it is a directory (or a symbolic link to one)
 *   (the message suggests a socket path in it), `EEXIST` when it is another file that is not a socket.
 */
export function prepareUnixPath(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  // A symbolic link to a directory (/run/app -> /srv/app/run) is that directory to the user: not a file to remove.
  const linkToDirectory = stat.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  if (stat.isDirectory() || linkToDirectory) {
    // `--uds /run/app` for `--uds /run/app/app.sock`: the socket is a file of its own in the directory.
    throw new BindError(`cannot listen on ${path}: it is a directory${linkToDirectory ? " (a symbolic link to one)" : ""}; give the socket's own path in it, e.g. ${join(path, "app.sock")}`, "EISDIR");
  }
  if (!stat.isSocket()) {
    throw new BindError(`cannot listen on ${path}: a file that is not a socket is there (${fileKind(stat)}, not removed); remove it if nothing needs it, or give another path for the socket`, "EEXIST");
  }
  const listening = unixSocketListening(path);
  if (listening === true) throw new BindError(`cannot listen on ${path}: another process is serving that socket`, "EADDRINUSE");
  if (listening === null) {
    throw new BindError(`cannot listen on ${path}: a socket file is there and whether it is still served cannot be checked here; remove it if it is stale`, "EADDRINUSE");
  }
  unlinkSync(path); // stale: nothing listens
}

/**
 * A clear error for an `fd` that cannot be a listening socket, before Bun's
 * `Failed to listen at  (EINVAL)`: not open (EBADF), not a socket (ENOTSOCK),
 * and on Linux not a stream socket (ESOCKTNOSUPPORT: UDP, Unix datagram or
 * sequenced-packet, whose message boundaries HTTP/1.1 does not keep) or not
 * TCP or Unix (EAFNOSUPPORT: AF_VSOCK and the like, whose clients environ
 * could not name: they got a Unix socket's environ). The supervisor checks a
 * `--fd` with it before spawning workers with it.
 * @throws BindError
 */
export function checkInheritedFd(fd: number): void {
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch (error) {
    const code = (error as { code?: string }).code ?? "EBADF";
    throw new BindError(`cannot serve file descriptor ${fd}: it is not open in this process (${code}); pass a listening socket the parent left open, e.g. systemd socket activation's 3`, code);
  }
  if (!isSocket) throw new BindError(`cannot serve file descriptor ${fd}: it is open but not a socket (ENOTSOCK); pass a listening socket, e.g. systemd socket activation's 3`, "ENOTSOCK");
  // Linux: the kind of socket (elsewhere unknown, and left to Bun).
  const kind = socketKind(fd);
  if (kind === null) return;
  if (kind.type !== 1) {
    const type = SOCKET_TYPES[kind.type] ?? `type ${kind.type}`;
    throw new BindError(
      `cannot serve file descriptor ${fd}: it is a ${type} socket, and HTTP/1.1 needs a byte stream, a SOCK_STREAM one (ESOCKTNOSUPPORT); pass a listening TCP or Unix stream socket (systemd: ListenStream=, not ListenDatagram= or ListenSequentialPacket=)`,
      "ESOCKTNOSUPPORT",
    );
  }
  if (kind.family !== 1 && kind.family !== 2 && kind.family !== 10) {
    const family = ADDRESS_FAMILIES[kind.family] ?? `address family ${kind.family}`;
    throw new BindError(
      `cannot serve file descriptor ${fd}: it is an ${family} socket, and tsgi serves TCP (IPv4, IPv6) and Unix sockets only, whose clients it can name in environ (EAFNOSUPPORT); pass one of those (systemd: ListenStream= with a port, an address or a path)`,
      "EAFNOSUPPORT",
    );
  }
}

/**
 * The ALPN protocols a TLS listener offers (RFC 7301), in the wire format (a
 * length byte before each name): HTTP/1.1 and HTTP/1.0, so a client
 * offering `h2, http/1.1` settles on HTTP/1.1 and an `h2`-only client is
 * refused in the handshake (`no_application_protocol`) instead of getting
 * HTTP/1.1 bytes it cannot read. Bun's string form would refuse them all.
 */
const HTTP1_ALPN = Buffer.from("\x08http/1.1\x08http/1.0", "latin1");

/**
 * `tls` as `Bun.listen` takes it: HTTP/1.1 offered by ALPN unless `tls`
 * says otherwise, and the properties given as `undefined` (an option read
 * from a flag or the environment, which {@link TlsConfig} allows) left
 * out, as Bun's `TLSOptions` types do not take them.
 */
function bunTlsOptions(tls: TlsConfig): TLSOptions {
  const out: Record<string, unknown> = { ALPNProtocols: HTTP1_ALPN };
  for (const [name, value] of Object.entries(tls)) if (value !== undefined) out[name] = value;
  return out as TLSOptions;
}

/**
 * A listening Unix socket at `path` created with permission bits `mode`,
 * where the platform allows (Linux, a path under 108 bytes): the socket's
 * own mode set before `bind(2)` (`listeningUnixSocket` in sys.ts; backlog
 * 512, Bun's), so the file never has the mode the umask gives. A `chmod`
 * after the bind alone would leave it, for a moment, with `0o777` less the
 * umask, and a connection made then outlives the `chmod` (unix(7):
 * permission is checked at `connect`).
 * @param path the socket file's path (made ready by `prepareUnixPath`).
 * @param mode permission bits, `0o000` to `0o777`.
 * @returns the listening descriptor (close-on-exec), or `null` where it
 *   cannot be made so: bind with {@link bindUnderUmask} then.
 * @throws BindError when `bind(2)` or `listen(2)` fails (the path taken, no permission).
 */
export function unixSocketWithMode(path: string, mode: number): number | null {
  const made = listeningUnixSocket(path, mode, 512);
  if (made === null || typeof made === "number") return made;
  throw unixListenError(Object.assign(new Error(`bind or listen failed (${made.code})`), { code: made.code }), path);
}

/**
 * Run `bind` (a `Bun.listen({ unix })`) with the process umask set so that
 * the socket file it creates has permission bits `mode` (`0o777 & ~mode`),
 * as gunicorn sets its `umask` around `bind(2)`, and put the umask back
 * after, also when `bind` throws; without `mode`, `bind` as it is. The umask
 * is the process's: a file another thread creates meanwhile (Bun's
 * asynchronous `fs`) gets that mode too, so this is the fallback of
 * {@link unixSocketWithMode}, for where that returns `null`.
 */
export function bindUnderUmask<T>(mode: number | undefined, bind: () => T): T {
  if (mode === undefined) return bind();
  const old = process.umask(~mode & 0o777);
  try {
    return bind();
  } finally {
    process.umask(old);
  }
}

/**
 * Have `listener.stop()` remove the socket file at `path`, as `Bun.listen({
 * unix })` does for the file it binds, which a listener made from a
 * descriptor (`Bun.listen({ fd })`, see `listeningUnixSocket` in sys.ts) does
 * not: only while it is still the file bound here (same device and inode),
 * not one another process has bound there since.
 */
function removedOnStop(listener: SocketListener<unknown>, path: string): void {
  const bound = lstatSync(path, { throwIfNoEntry: false });
  const stop = listener.stop.bind(listener);
  listener.stop = (closeActiveConnections?: boolean) => {
    stop(closeActiveConnections);
    const now = lstatSync(path, { throwIfNoEntry: false });
    if (bound && now && now.isSocket() && now.dev === bound.dev && now.ino === bound.ino) {
      try {
        unlinkSync(path);
      } catch {
        // gone already, or a directory this user may no longer write
      }
    }
  };
}

/**
 * Open the listening socket the options ask for (`fd`, else `unix`, else
 * TCP `hostname:port`) with `handlers`. With `options.tls` (HTTP/1.1 offered
 * by ALPN unless its `ALPNProtocols` says otherwise), a client whose
 * handshake fails (for instance plain HTTP sent to the HTTPS port) is
 * reported through `onTlsFailure` (with its socket) and its connection
 * closed by Bun; it gets no HTTP answer, since nothing can be sent to it
 * outside TLS.
 * @throws BindError (or Bun's error, with `code`) when binding fails.
 */
export function bindListener<Data>(
  options: ResolvedOptions,
  handlers: SocketHandler<Data>,
  data: Data,
  onTlsFailure?: (error: Error | undefined, socket: Socket<Data>) => void,
): Bound<Data> {
  const tls = options.tls;
  const socket: SocketHandler<Data> = tls
    ? {
        ...handlers,
        handshake: (s, success, error) => {
          // A client certificate that fails verification comes as success with an error: refused all the same (unless not required).
          if (!success || (error && tls.requestCert && tls.rejectUnauthorized !== false)) onTlsFailure?.(error ?? undefined, s);
          handlers.handshake?.(s, success, error);
        },
      }
    : handlers;
  const common = { socket, data, allowHalfOpen: true, ...(tls ? { tls: bunTlsOptions(tls) } : {}) };
  if (options.fd !== undefined) {
    checkInheritedFd(options.fd);
    let listener: SocketListener<Data>;
    try {
      // `fd` works for Bun.listen (Bun 1.x) but is only typed for Bun.connect.
      listener = (Bun.listen as unknown as (o: object) => SocketListener<Data>)({ ...common, fd: options.fd });
    } catch (error) {
      throw new BindError(`cannot serve file descriptor ${options.fd}: ${(error as Error).message || "not a listening socket"} (${(error as { code?: string }).code ?? "error"})`, (error as { code?: string }).code ?? "EINVAL");
    }
    const backlogSet = applyBacklog(listener as SocketListener<unknown>, options.backlog, `fd ${options.fd}`);
    const name: { family?: string; address?: string; port?: number; path?: string } = {};
    try {
      (listener as unknown as { getsockname(o: object): void }).getsockname(name);
    } catch {
      // a Unix socket has no address/port to report
    }
    if (name.family === "IPv4" || name.family === "IPv6") {
      return { listener, hostname: name.address ?? "", port: name.port ?? 0, unix: null, backlogUnset: !backlogSet };
    }
    return { listener, hostname: "", port: 0, unix: name.path || unixSocketPath(options.fd) || "", backlogUnset: !backlogSet };
  }
  if (options.unix) {
    const path = options.unix;
    const abstract = abstractSocketName(path);
    if (abstract !== null) {
      // A Linux abstract socket: no file to check, chmod or remove (resolveOptions refused a unixMode).
      const shown = `@${abstract}`;
      const listener = listenAbstractSocket<Data>(abstract, common);
      const backlogSet = applyBacklog(listener as SocketListener<unknown>, options.backlog, shown);
      return { listener, hostname: "", port: 0, unix: shown, backlogUnset: !backlogSet };
    }
    prepareUnixPath(path);
    let listener: SocketListener<Data>;
    // bind(2) creates the file with 0o777 less the umask, and a chmod after it leaves a window in which
    // whoever that lets in may connect (and stay connected): the file is created with the mode instead,
    // the socket's own (fchmod before bind; Bun's 512 backlog, the one asked set below), else the umask's.
    const made = options.unixMode === undefined ? null : unixSocketWithMode(path, options.unixMode);
    if (made !== null) {
      try {
        // `fd` works for Bun.listen (Bun 1.x) but is only typed for Bun.connect; Bun takes the descriptor over.
        listener = (Bun.listen as unknown as (o: object) => SocketListener<Data>)({ ...common, fd: made });
      } catch (error) {
        closeFd(made);
        throw unixListenError(error, path);
      }
      removedOnStop(listener, path);
      // Bun listens a descriptor it is given again with 511; the 512 Bun.listen({ unix }) binds with (a backlog asked is set below).
      if (options.backlog === undefined) applyBacklog(listener as SocketListener<unknown>, 512, path);
    } else {
      try {
        listener = bindUnderUmask(options.unixMode, () => Bun.listen<Data>({ ...common, unix: path }));
      } catch (error) {
        throw unixListenError(error, path);
      }
    }
    const backlogSet = applyBacklog(listener as SocketListener<unknown>, options.backlog, path);
    if (options.unixMode !== undefined) {
      try {
        chmodSync(path, options.unixMode);
      } catch (error) {
        // Not left listening (and its file removed) in a process whose serve() threw.
        listener.stop(true);
        throw error;
      }
    }
    return { listener, hostname: "", port: 0, unix: path, backlogUnset: !backlogSet };
  }
  // `reusePort` works for Bun.listen but is only typed for Bun.connect in bun-types.
  const listener = Bun.listen<Data>({ ...common, hostname: options.hostname, port: options.port, reusePort: options.reusePort } as unknown as TCPSocketListenOptions<Data>);
  const tcp = listener as unknown as { hostname: string; port: number };
  const backlogSet = applyBacklog(listener as SocketListener<unknown>, options.backlog, bindTarget({ hostname: tcp.hostname, port: tcp.port }));
  return { listener, hostname: tcp.hostname, port: tcp.port, unix: null, backlogUnset: !backlogSet };
}
