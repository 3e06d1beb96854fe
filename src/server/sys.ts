/**
 * The few POSIX calls the server needs that Bun has no API for, made through
 * `bun:ffi` on the C library: `dup` (hand a listening socket to worker
 * processes), `getsockopt(SO_PEERCRED)` (peer credentials of a Unix-socket
 * client), `getsockname` (the path of an inherited Unix socket), `getpwuid`/`getgrgid` (their names), and a synchronous
 * `connect` probe on a Unix socket path (is a stale socket file still
 * served?), a Unix socket bound with its file's mode (`fchmod` before `bind`),
 * `listen` again on a listening socket (its backlog, which Bun
 * takes none of), and the open-file limit (from `/proc`). Linux only: on any other platform, or when the C library cannot
 * be opened, {@link libc} is `null` and callers fall back or refuse.
 * @module
 */
import { CString, dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { readFileSync } from "node:fs";
import ipaddr from "ipaddr.js";

/** The bound C functions. */
interface Libc {
  dup(fd: number): number;
  close(fd: number): number;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getpwuid(uid: number): Pointer | null;
  getgrgid(gid: number): Pointer | null;
  listen(fd: number, backlog: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  fchmod(fd: number, mode: number): number;
  errno(): number;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
/** `SOCK_NONBLOCK` (Linux): `connect(2)` on it fails with `EAGAIN` instead of waiting while a listener's backlog is full. */
const SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** Linux errno values used here. */
export const ERRNO = { ENOENT: 2, ECONNREFUSED: 111, EAGAIN: 11 } as const;

function open(): Libc | null {
  if (process.platform !== "linux") return null;
  for (const name of ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"]) {
    try {
      const lib = dlopen(name, {
        dup: { args: [FFIType.i32], returns: FFIType.i32 },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
        socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
        getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
        getpwuid: { args: [FFIType.u32], returns: FFIType.ptr },
        getgrgid: { args: [FFIType.u32], returns: FFIType.ptr },
        listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        fchmod: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      const s = lib.symbols;
      return {
        dup: (fd) => s.dup(fd),
        close: (fd) => s.close(fd),
        socket: (d, t, p) => s.socket(d, t, p),
        connect: (fd, addr, len) => s.connect(fd, ptr(addr), len),
        getsockopt: (fd, level, name, value, len) => s.getsockopt(fd, level, name, ptr(value), ptr(len)),
        getsockname: (fd, addr, len) => s.getsockname(fd, ptr(addr), ptr(len)),
        getpwuid: (uid) => s.getpwuid(uid) as Pointer | null,
        getgrgid: (gid) => s.getgrgid(gid) as Pointer | null,
        listen: (fd, backlog) => s.listen(fd, backlog),
        bind: (fd, addr, len) => s.bind(fd, ptr(addr), len),
        fchmod: (fd, mode) => s.fchmod(fd, mode),
        errno: () => {
          const p = s.__errno_location();
          return p ? read.i32(p, 0) : 0;
        },
      };
    } catch {
      // try the next name
    }
  }
  return null;
}

let cached: Libc | null | undefined;
/** The C library, or `null` when it cannot be used here (not Linux, no `bun:ffi`). */
export function libc(): Libc | null {
  if (cached === undefined) cached = open();
  return cached;
}

/**
 * Duplicate a file descriptor (`dup(2)`); the copy is not close-on-exec, so a
 * child process given it in `stdio` inherits it.
 * @throws Error when the C library is unavailable or `dup` fails.
 */
export function dupFd(fd: number): number {
  const c = libc();
  if (!c) throw new Error("dup() is unavailable: bun:ffi could not open the C library (Linux only)");
  const copy = c.dup(fd);
  if (copy < 0) throw new Error(`dup(${fd}) failed (errno ${c.errno()})`);
  return copy;
}

/** Close a file descriptor obtained from {@link dupFd}. */
export function closeFd(fd: number): void {
  libc()?.close(fd);
}

/** The largest listen backlog `listen(2)` takes: its `backlog` is a C `int` (2^31 - 1). */
export const MAX_LISTEN_BACKLOG = 2147483647;

/**
 * Set the accept-queue length of the listening socket `fd` by calling
 * `listen(fd, backlog)` on it again, which Linux allows on a socket already
 * listening (`listen(2)`; `inet_listen()` only updates
 * `sk_max_ack_backlog` then). Bun takes no backlog (`Bun.listen` binds with
 * 512, and listens an inherited socket again with 511), so the server sets
 * the one asked for this way. The kernel silently caps it at
 * `net.core.somaxconn` (`/proc/sys/net/core/somaxconn`, 4096 by default since
 * Linux 5.4), as for any `listen()`.
 * @param fd a listening TCP or Unix stream socket.
 * @param backlog connections, 0 to {@link MAX_LISTEN_BACKLOG}.
 * @returns `true` when set, `false` when it cannot be here (no C library: not Linux, no `bun:ffi`).
 * @throws Error naming the errno when `listen(2)` fails (`EBADF`: `fd` is not open, ...).
 */
export function setListenBacklog(fd: number, backlog: number): boolean {
  const c = libc();
  if (!c) return false;
  if (c.listen(fd, backlog) !== 0) throw new Error(`listen(${fd}, ${backlog}) failed (errno ${c.errno()})`);
  return true;
}

/** The kernel's cap on a listen backlog (`net.core.somaxconn`), or `undefined` when it cannot be read (not Linux). */
export function listenBacklogCap(): number | undefined {
  try {
    const n = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim());
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Names of the errno values {@link listeningUnixSocket} may meet (Linux), for a Node-style `code`. */
const ERRNO_NAMES: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 13: "EACCES", 20: "ENOTDIR", 22: "EINVAL", 30: "EROFS", 36: "ENAMETOOLONG", 40: "ELOOP", 98: "EADDRINUSE" };

/**
 * A Unix stream socket bound at `path` and listening (`backlog`), whose file
 * is created with permission bits `mode` and the process umask left alone:
 * `fchmod(2)` on the socket before `bind(2)`, since Linux creates the file
 * with the socket's own mode less the umask (`unix_bind_bsd()` in
 * net/unix/af_unix.c). Setting the umask around the bind instead would give
 * its mode to every file other threads create meanwhile (Bun's asynchronous
 * `fs`), and a `chmod` after the bind alone leaves a moment with the
 * umask's mode. The umask may still take bits away: the caller `chmod`s
 * after.
 * @returns the descriptor (close-on-exec), for `Bun.listen({ fd })`; `null`
 *   when it cannot be made this way (no C library: not Linux; a path of 108
 *   bytes or more), for the caller to bind as it otherwise would; or the
 *   failure, a Node-style `code` (`EACCES`, `ENOENT`, `EADDRINUSE`, ...)
 *   and the errno, the socket closed.
 */
export function listeningUnixSocket(path: string, mode: number, backlog: number): number | { code: string; errno: number } | null {
  const c = libc();
  if (!c) return null;
  const bytes = Buffer.from(path, "utf8");
  if (bytes.length >= 108 || bytes.includes(0)) return null;
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return null;
  if (c.fchmod(fd, mode) === 0 && c.bind(fd, addr, 2 + bytes.length + 1) === 0 && c.listen(fd, backlog) === 0) return fd;
  const errno = c.errno();
  c.close(fd);
  return { code: ERRNO_NAMES[errno] ?? `errno ${errno}`, errno };
}

/**
 * Whether some process accepts connections on the Unix socket at `path`: a
 * synchronous, non-blocking `connect(2)`. `true` when it connects or the
 * listener's backlog is full (`EAGAIN`: it listens, whether or not it
 * accepts), `false` when refused or
 * absent (a stale file), `null` when it cannot tell (no C library, other
 * errors such as permission denied).
 */
export function unixSocketListening(path: string): boolean | null {
  const c = libc();
  if (!c) return null;
  const bytes = Buffer.from(path, "utf8");
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
  if (bytes.length >= 108) return null;
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  // Non-blocking: a blocking connect to a listener whose backlog is full (a server hung, not accepting)
  // waits until it accepts or closes, which may be never, and holds this thread (start-up, signals) all along.
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return null;
  try {
    if (c.connect(fd, addr, 2 + bytes.length + 1) === 0) return true;
    const errno = c.errno();
    // EAGAIN: the listener's backlog is full, so something does listen.
    if (errno === ERRNO.EAGAIN) return true;
    if (errno === ERRNO.ECONNREFUSED || errno === ERRNO.ENOENT) return false;
    return null;
  } finally {
    c.close(fd);
  }
}

/**
 * `getsockname(2)` of `fd` into a buffer of `size` bytes: the address bytes,
 * their family and the length the kernel gave. `null` when there is no C
 * library, `fd` is not a descriptor number, or the call failed.
 */
function socketName(fd: number, size: number): { addr: Uint8Array; family: number; length: number } | null {
  const c = libc();
  if (!c || !Number.isInteger(fd) || fd < 0) return null;
  const addr = new Uint8Array(size);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, size, true);
  if (c.getsockname(fd, addr, len) !== 0) return null;
  const family = new DataView(addr.buffer).getUint16(0, true);
  return { addr, family, length: Math.min(new DataView(len.buffer).getUint32(0, true), size) };
}

/**
 * The address and port a TCP socket is bound to (`getsockname(2)`, IPv4 or
 * IPv6): for an inherited listening socket, named in the start-up line as
 * for one tsgi bound. `null` when unknown: no C library, not an IP socket.
 */
export function inetSocketAddress(fd: number): { host: string; port: number } | null {
  // struct sockaddr_in { family, port (big-endian), addr[4] }; sockaddr_in6 { family, port, flowinfo, addr[16], scope_id }
  const name = socketName(fd, 28);
  if (!name) return null;
  const { addr, family } = name;
  const port = new DataView(addr.buffer).getUint16(2, false);
  if (family === AF_INET) return { host: addr.subarray(4, 8).join("."), port };
  if (family !== AF_INET6) return null;
  const ip = ipaddr.fromByteArray([...addr.subarray(8, 24)]) as ipaddr.IPv6;
  // An IPv4-mapped address in the mixed notation, as RFC 5952 §5 recommends: ::ffff:127.0.0.1.
  return { host: ip.isIPv4MappedAddress() ? `::ffff:${ip.toIPv4Address().toString()}` : ip.toString(), port };
}

/**
 * The path a Unix socket is bound to (`getsockname(2)`): for an inherited
 * listening socket, whose path Bun does not report. An abstract socket's
 * name is given as `@name` (as `ss` shows it). `null` when unknown: no C
 * library, not a Unix socket, or an unbound one.
 */
export function unixSocketPath(fd: number): string | null {
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
  const name = socketName(fd, 110);
  if (!name || name.family !== AF_UNIX || name.length <= 2) return null;
  const path = name.addr.subarray(2, name.length);
  if (path[0] === 0) return `@${Buffer.from(path.subarray(1)).toString("utf8")}`;
  const end = path.indexOf(0);
  return Buffer.from(end === -1 ? path : path.subarray(0, end)).toString("utf8");
}

const SO_TYPE = 3;
const SO_DOMAIN = 39;

/** Address families an inherited socket may have, by number (Linux `<sys/socket.h>`), for messages. */
export const ADDRESS_FAMILIES: Readonly<Record<number, string>> = { 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 38: "AF_ALG", 40: "AF_VSOCK" };
/** Socket types by number (Linux), for messages. */
export const SOCKET_TYPES: Readonly<Record<number, string>> = { 1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET" };

/**
 * A socket's address family and type (`getsockopt(SO_DOMAIN)`, `getsockopt(SO_TYPE)`, `socket(7)`):
 * numbers as in {@link ADDRESS_FAMILIES} and {@link SOCKET_TYPES}; `family` is `AF_UNIX` 1, `AF_INET` 2,
 * `AF_INET6` 10, `type` `SOCK_STREAM` 1. `null` when unknown: no C library (not Linux), not a socket.
 */
export function socketKind(fd: number): { family: number; type: number } | null {
  const c = libc();
  if (!c || !Number.isInteger(fd) || fd < 0) return null;
  const option = (name: number): number | null => {
    const value = new Uint8Array(4);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, 4, true);
    return c.getsockopt(fd, SOL_SOCKET, name, value, len) === 0 ? new DataView(value.buffer).getInt32(0, true) : null;
  };
  const family = option(SO_DOMAIN);
  const type = option(SO_TYPE);
  return family === null || type === null ? null : { family, type };
}

/** A Unix-socket peer's credentials, as the kernel recorded them at `connect(2)` (`struct ucred`). */
export interface PeerCredentials {
  /** Process id of the peer. */
  pid: number;
  /** Effective user id. */
  uid: number;
  /** Effective group id. */
  gid: number;
}

/**
 * `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: the credentials of the process
 * at the other end of a connected Unix socket (Linux, `unix(7)`). `null` when
 * unavailable (no C library, not a Unix socket, the call failed).
 */
export function peerCredentials(fd: number): PeerCredentials | null {
  const c = libc();
  if (!c || !Number.isInteger(fd) || fd < 0) return null;
  const value = new Uint8Array(12);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 12, true);
  if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, len) !== 0) return null;
  const v = new DataView(value.buffer);
  if (new DataView(len.buffer).getUint32(0, true) !== 12) return null;
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}

const userNames = new Map<number, string | null>();
const groupNames = new Map<number, string | null>();

/** The first field (`pw_name` / `gr_name`) of a `struct passwd` / `struct group`. */
function firstString(p: Pointer | null): string | null {
  if (!p) return null;
  const namePtr = read.ptr(p, 0);
  if (!namePtr) return null;
  return new CString(namePtr as Pointer).toString();
}

/** The user name of `uid` through the system's name service (`getpwuid(3)`), cached; `null` when unknown. */
export function userName(uid: number): string | null {
  let name = userNames.get(uid);
  if (name === undefined) {
    const c = libc();
    name = c ? firstString(c.getpwuid(uid)) : null;
    if (userNames.size < 1024) userNames.set(uid, name);
  }
  return name;
}

/** The group name of `gid` (`getgrgid(3)`), cached; `null` when unknown. */
export function groupName(gid: number): string | null {
  let name = groupNames.get(gid);
  if (name === undefined) {
    const c = libc();
    name = c ? firstString(c.getgrgid(gid)) : null;
    if (groupNames.size < 1024) groupNames.set(gid, name);
  }
  return name;
}

/**
 * The process's soft limit on open files (`RLIMIT_NOFILE`, what `ulimit -n`
 * and systemd's `LimitNOFILE=` set), read from `/proc/self/limits`; Bun
 * raises it to the hard limit at startup. `undefined` when it cannot be read
 * (not Linux) or is unlimited.
 */
export function openFileLimit(): number | undefined {
  try {
    const text = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+)/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `maxConnections` connections fit in the open-file limit
 * ({@link openFileLimit}): each holds a descriptor, and room is left for the
 * listener, the app's own files and refused connections' 503s (an eighth of
 * the limit, 16 to 256 descriptors). `null` when they fit (or the limit is
 * unknown), else the limit (`files`) and how many connections fit (`fits`, at least 1).
 */
export function connectionsOverFileLimit(maxConnections: number): { files: number; fits: number } | null {
  const files = openFileLimit();
  if (files === undefined) return null;
  const fits = Math.max(1, files - Math.min(256, Math.max(16, Math.floor(files / 8))));
  return maxConnections <= fits ? null : { files, fits };
}
