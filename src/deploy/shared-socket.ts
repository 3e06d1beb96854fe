/**
 * The listening socket the worker pool shares (gunicorn's `sock.py`
 * `create_sockets`, bound once by the arbiter): bound by the supervisor
 * before any worker starts and inherited by every worker as fd 3, or an
 * inherited descriptor passed on as it is; with `reusePort` nothing is
 * shared, each worker binds the port itself. Used by the supervisor
 * (`supervisor.ts` beside this file), which closes the descriptor and
 * removes the Unix socket's path when it stops.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { chmodSync, linkSync, renameSync, unlinkSync } from "node:fs";
import { bindUnderUmask, checkInheritedFd, listenAbstractSocket, listenError, prepareUnixPath, unixListenError, unixSocketWithMode } from "../server/bind.ts";
import { abstractSocketName } from "../server/options.ts";
import { closeFd, dupFd, inetSocketAddress } from "../server/sys.ts";
import type { ResolvedDeploy } from "./options.ts";

/** What {@link bindSharedSocket} bound. */
export interface SharedSocket {
  /** The descriptor the workers inherit as fd 3; `null` with `reusePort` (each worker binds). */
  fd: number | null;
  /** The supervisor made `fd` (and closes it when it stops); `false` for an inherited one. */
  own: boolean;
  /** The TCP port bound (the real one when 0 was asked) or the inherited socket's (0 when its address cannot be read); undefined for a Unix socket. */
  port?: number;
  /** The Unix socket's path, whose file the supervisor removes when it stops; `null` for TCP or an inherited socket. */
  unixPath: string | null;
}

/**
 * Bind the pool's socket as `server` asks: pass on an inherited `fd`; with
 * `reusePort` (TCP only) bind nothing, but learn a real port for port 0 by
 * binding once with `SO_REUSEPORT` (written back to `server.port`, which the
 * workers then bind); else bind `server.unix` or `server.hostname` and
 * `server.port` (default `127.0.0.1:8000`) and keep a duplicate of the
 * listener's descriptor, the listener itself stopped. A Unix socket with
 * `server.unixMode` is created with that mode: on Linux by a socket whose
 * own mode is set before bind(2) (`unixSocketWithMode`,
 * `src/server/bind.ts`: no Bun listener, the process umask untouched);
 * elsewhere, or for a path of 108 bytes or more, with the umask set around
 * the bind. Either way the path is `chmod`-ed to the mode after. A Linux
 * abstract socket (`@name`, see `abstractSocketName` in
 * `src/server/options.ts`) has no file: `unixPath` is `null`.
 * @throws BindError (from `src/server/bind.ts`) when the address cannot be bound or the inherited fd is no listening socket.
 */
export function bindSharedSocket(server: ResolvedDeploy["server"], reusePort: boolean): SharedSocket {
  if (server.fd !== undefined) {
    checkInheritedFd(server.fd);
    // inherited from systemd or a parent: pass it on as it is
    return { fd: server.fd, own: false, port: inetSocketAddress(server.fd)?.port ?? 0, unixPath: null };
  }
  if (reusePort && server.unix === undefined) {
    // Workers bind themselves; learn a real port for port 0 by binding once with SO_REUSEPORT.
    if (!server.port) {
      const probe = Bun.listen({ hostname: server.hostname ?? "127.0.0.1", port: 0, socket: { data() {} } });
      server.port = probe.port;
      probe.stop(true);
    }
    return { fd: null, own: false, port: server.port ?? 0, unixPath: null };
  }
  const handlers = { socket: { data() {} } };
  if (server.unix !== undefined) {
    const path = server.unix;
    const abstract = abstractSocketName(path);
    if (abstract !== null) {
      // A Linux abstract socket (`@name`): no file to keep or remove, and no mode (resolveOptions refused one).
      const l = listenAbstractSocket(abstract, handlers);
      try {
        return { fd: dupFd((l as unknown as { fd: number }).fd), own: true, unixPath: null };
      } finally {
        l.stop(true);
      }
    }
    prepareUnixPath(path);
    // Bun removes the path it bound when the listener stops: bind the path itself (a longer
    // temporary name could pass the 107-byte limit the path keeps), keep a second link to the
    // socket file under a temporary name, and put it back in place once the listener is stopped.
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    try {
      unlinkSync(tmp);
    } catch {
      // not there
    }
    // Created with its mode, not chmod-ed from the umask's after: on Linux the socket's own mode set
    // before bind (unixSocketWithMode), the process umask untouched; elsewhere the umask (bindUnderUmask).
    const made = server.unixMode === undefined ? null : unixSocketWithMode(path, server.unixMode);
    if (made !== null) {
      // The socket is closed whether the chmod or the dup fails or not: only its copy goes on.
      try {
        chmodSync(path, server.unixMode!);
        // Not close-on-exec, for the workers (dupFd); no Bun listener stops on it, so the file stays.
        return { fd: dupFd(made), own: true, unixPath: path };
      } finally {
        closeFd(made);
      }
    }
    let l;
    try {
      l = bindUnderUmask(server.unixMode, () => Bun.listen({ unix: path, ...handlers }));
    } catch (error) {
      throw unixListenError(error, path);
    }
    let fd;
    try {
      if (server.unixMode !== undefined) chmodSync(path, server.unixMode);
      linkSync(path, tmp);
      fd = dupFd((l as unknown as { fd: number }).fd);
    } catch (error) {
      // The chmod, the link or the dup failed: nothing is left open or bound (Bun removes the path as it stops).
      l.stop(true);
      try {
        unlinkSync(tmp);
      } catch {
        // not made
      }
      throw error;
    }
    l.stop(true);
    renameSync(tmp, path);
    return { fd, own: true, unixPath: path };
  }
  const hostname = server.hostname ?? "127.0.0.1";
  const port = server.port ?? 8000;
  let l;
  try {
    l = Bun.listen({ hostname, port, ...handlers });
  } catch (error) {
    throw listenError(error, hostname, port);
  }
  const fd = dupFd((l as unknown as { fd: number }).fd);
  l.stop(true);
  return { fd, own: true, port: l.port, unixPath: null };
}
