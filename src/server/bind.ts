/**
 * Binding the server's listening socket: TCP (optionally `SO_REUSEPORT`), a
 * Unix domain socket (stale file handling, mode), or an inherited file
 * descriptor (systemd socket activation, a worker supervisor), each with or
 * without TLS.
 * @module
 */
import type { SocketHandler, SocketListener, TCPSocketListenOptions } from "bun";
import { chmodSync, fstatSync, lstatSync, unlinkSync } from "node:fs";
import type { ResolvedOptions } from "./options.ts";
import { unixSocketListening, unixSocketPath } from "./sys.ts";

/** A bound listener and what it is bound to. */
export interface Bound<Data> {
  readonly listener: SocketListener<Data>;
  /** The bound address (`""` for a Unix socket). */
  readonly hostname: string;
  /** The bound port (0 for a Unix socket). */
  readonly port: number;
  /** The socket path when it is a Unix socket (for an inherited one, as `getsockname` reports it, possibly `""`), else `null`. */
  readonly unix: string | null;
}

/** An error carrying a Node-style `code` (`EADDRINUSE`, `EACCES`, `EINVAL`, ...). */
export class BindError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "BindError";
  }
}

/**
 * Make `path` free for binding a Unix socket: a socket file that nothing
 * accepts connections on (left by a crashed server) is removed; one that is
 * served, or a file that is not a socket, is left alone.
 * @throws BindError `EADDRINUSE` when another process serves the path, `EEXIST` when the path is not a socket.
 */
export function prepareUnixPath(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new BindError(`cannot listen on ${path}: the file exists and is not a socket (not removed)`, "EEXIST");
  const listening = unixSocketListening(path);
  if (listening === true) throw new BindError(`cannot listen on ${path}: another process is serving that socket`, "EADDRINUSE");
  if (listening === null) {
    throw new BindError(`cannot listen on ${path}: a socket file is there and whether it is still served cannot be checked here; remove it if it is stale`, "EADDRINUSE");
  }
  unlinkSync(path); // stale: nothing listens
}

/**
 * A clear error for an `fd` that cannot be a listening socket, before Bun's
 * `Failed to listen at  (EINVAL)`: not open (EBADF), or not a socket.
 * @throws BindError
 */
function checkInheritedFd(fd: number): void {
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch (error) {
    const code = (error as { code?: string }).code ?? "EBADF";
    throw new BindError(`cannot serve file descriptor ${fd}: it is not open in this process (${code}); pass a listening socket the parent left open, e.g. systemd socket activation's 3`, code);
  }
  if (!isSocket) throw new BindError(`cannot serve file descriptor ${fd}: it is open but not a socket (ENOTSOCK); pass a listening socket, e.g. systemd socket activation's 3`, "ENOTSOCK");
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
 * Open the listening socket the options ask for (`fd`, else `unix`, else
 * TCP `hostname:port`) with `handlers`. With `options.tls` (HTTP/1.1 offered
 * by ALPN unless its `ALPNProtocols` says otherwise), a client whose
 * handshake fails (for instance plain HTTP sent to the HTTPS port) is
 * reported through `onTlsFailure` and its connection closed by Bun; it gets
 * no HTTP answer, since nothing can be sent to it outside TLS.
 * @throws BindError (or Bun's error, with `code`) when binding fails.
 */
export function bindListener<Data>(
  options: ResolvedOptions,
  handlers: SocketHandler<Data>,
  data: Data,
  onTlsFailure?: (error: Error | undefined) => void,
): Bound<Data> {
  const tls = options.tls;
  const socket: SocketHandler<Data> = tls
    ? {
        ...handlers,
        handshake: (s, success, error) => {
          // A client certificate that fails verification comes as success with an error: refused all the same (unless not required).
          if (!success || (error && tls.requestCert && tls.rejectUnauthorized !== false)) onTlsFailure?.(error ?? undefined);
          handlers.handshake?.(s, success, error);
        },
      }
    : handlers;
  const common = { socket, data, allowHalfOpen: true, ...(tls ? { tls: { ALPNProtocols: HTTP1_ALPN, ...tls } } : {}) };
  if (options.fd !== undefined) {
    checkInheritedFd(options.fd);
    let listener: SocketListener<Data>;
    try {
      // `fd` works for Bun.listen (Bun 1.x) but is only typed for Bun.connect.
      listener = (Bun.listen as unknown as (o: object) => SocketListener<Data>)({ ...common, fd: options.fd });
    } catch (error) {
      throw new BindError(`cannot serve file descriptor ${options.fd}: ${(error as Error).message || "not a listening socket"} (${(error as { code?: string }).code ?? "error"})`, (error as { code?: string }).code ?? "EINVAL");
    }
    const name: { family?: string; address?: string; port?: number; path?: string } = {};
    try {
      (listener as unknown as { getsockname(o: object): void }).getsockname(name);
    } catch {
      // a Unix socket has no address/port to report
    }
    if (name.family === "IPv4" || name.family === "IPv6") {
      return { listener, hostname: name.address ?? "", port: name.port ?? 0, unix: null };
    }
    return { listener, hostname: "", port: 0, unix: name.path || unixSocketPath(options.fd) || "" };
  }
  if (options.unix) {
    const path = options.unix;
    prepareUnixPath(path);
    const listener = Bun.listen<Data>({ ...common, unix: path });
    if (options.unixMode !== undefined) chmodSync(path, options.unixMode);
    return { listener, hostname: "", port: 0, unix: path };
  }
  // `reusePort` works for Bun.listen but is only typed for Bun.connect in bun-types.
  const listener = Bun.listen<Data>({ ...common, hostname: options.hostname, port: options.port, reusePort: options.reusePort } as unknown as TCPSocketListenOptions<Data>);
  const tcp = listener as unknown as { hostname: string; port: number };
  return { listener, hostname: tcp.hostname, port: tcp.port, unix: null };
}
