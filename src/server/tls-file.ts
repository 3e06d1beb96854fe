/**
 * Reading one TLS file (`--certfile`, `--keyfile`, `--ca-certs`) whole: a
 * regular file, or a pipe, read with a size and a time cap. A pipe is what
 * bash's process substitution gives (`--keyfile <(sops -d key.enc)`, the
 * path `/dev/fd/63`), as does a small here-string on `/dev/stdin`, or a
 * named pipe (`mkfifo`) that a writer fills. A regular file has the same
 * size cap as a pipe (a log file given by mistake is refused by its size,
 * not read whole). A device (`/dev/zero`,
 * `/dev/stdin` on a terminal) or a socket is refused before it is opened.
 * @module
 */
import { closeSync, constants, openSync, readFileSync, readSync, realpathSync, statSync } from "node:fs";

/** The most a pipe may give, and the largest regular file read (bytes): a PEM key is a few KiB, Mozilla's CA bundle some 220 KiB. */
export const PIPE_MAX_BYTES = 1024 * 1024;
/** How long a pipe may take to give its end of file (ms): a `sops -d` or `vault read` that asks a key service, a `gpg -d` that asks for its passphrase. */
export const PIPE_TIMEOUT_MS = 30_000;
/** How long a named pipe (FIFO) that nobody writes to is given for a writer to open it (ms), one started alongside. */
const FIFO_WRITER_WAIT_MS = 1000;
/** How often a pipe with nothing to read yet is read again (ms). */
const POLL_MS = 10;

/** Bounds of a pipe's read, for a test that cannot wait {@link PIPE_TIMEOUT_MS}. */
export interface PipeBounds {
  /** Time cap, ms. Default {@link PIPE_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Size cap of a pipe or a regular file, bytes. Default {@link PIPE_MAX_BYTES}. */
  maxBytes?: number;
}

/**
 * What `path` is when it is a pipe: `"pipe"` for an anonymous one (`<(...)`,
 * a here-string or `|` on `/dev/stdin`), `"fifo"` for a named one (`mkfifo`),
 * following symbolic links; `null` for anything else or a path that cannot
 * be looked at.
 */
export function pipeKind(path: string): "pipe" | "fifo" | null {
  try {
    if (!statSync(path).isFIFO()) return null;
  } catch {
    return null;
  }
  try {
    // Linux names an anonymous pipe's /proc/<pid>/fd link "pipe:[inode]".
    return realpathSync(path).startsWith("pipe:") ? "pipe" : "fifo";
  } catch {
    return "fifo";
  }
}

/**
 * Whether `path` names one of this process's open descriptors
 * (`/dev/fd/N`, `/dev/stdin`, `/proc/self/fd/N`, ...), which another process
 * (a worker) does not have.
 */
export function isDescriptorPath(path: string): boolean {
  return /^\/dev\/(fd\/\d+|stdin|stdout|stderr)$|^\/proc\/(self|thread-self|\d+)\/fd\/\d+$/.test(path);
}

/**
 * What `path` is when it is a device or a socket: `a character device`,
 * `a block device` or `a socket`, following symbolic links (`/dev/stdin`);
 * `null` otherwise (a regular file, a directory, a pipe, or a path that cannot
 * be looked at: its error comes from the read).
 */
function deviceKind(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return null;
}

/**
 * An open pipe being read: {@link PipeRead.poll} reads what is there and
 * returns the bytes at the end of file, `null` while it must wait.
 */
interface PipeRead {
  poll(): Buffer | null;
  close(): void;
}

/**
 * Open the pipe at `path` without waiting for a writer (`O_NONBLOCK`: a
 * named pipe's open would block until one comes) and read it in turns.
 * @throws Error naming the file: a named pipe nobody opened for writing
 *   within {@link FIFO_WRITER_WAIT_MS}, a pipe that ended empty, gave more
 *   than `maxBytes`, or no end of file within `timeoutMs`.
 */
function openPipe(path: string, what: string, kind: "pipe" | "fifo", bounds: PipeBounds): PipeRead {
  const maxBytes = bounds.maxBytes ?? PIPE_MAX_BYTES;
  const timeoutMs = bounds.timeoutMs ?? PIPE_TIMEOUT_MS;
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const started = performance.now();
  const chunks: Buffer[] = [];
  let total = 0;
  const buffer = Buffer.alloc(64 * 1024);
  const poll = (): Buffer | null => {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        if ((error as { code?: string }).code !== "EAGAIN") throw error;
        break;
      }
      if (n === 0) {
        if (total > 0) return Buffer.concat(chunks, total);
        // No writer (yet): a named pipe's may still open it; a writer gone without a byte is a failed command.
        if (kind === "fifo" && performance.now() - started < FIFO_WRITER_WAIT_MS) break;
        throw new Error(
          kind === "fifo"
            ? `cannot read ${what} ${path}: it is a named pipe (FIFO) and nothing wrote to it within ${FIFO_WRITER_WAIT_MS / 1000} s; start its writer first (cat file.pem > ${path} &), or give the PEM file itself`
            : `cannot read ${what} ${path}: the pipe ended without a byte (did the command writing it, as in <(...), fail?)`,
        );
      }
      total += n;
      if (total > maxBytes) throw new Error(`cannot read ${what} ${path}: the pipe gave more than ${maxBytes} bytes, far more than a PEM file holds; is it the right command?`);
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(`cannot read ${what} ${path}: the pipe gave no end of file within ${timeoutMs / 1000} s (${total} bytes so far); the command writing it must write the PEM and exit`);
    }
    return null;
  };
  return { poll, close: () => closeSync(fd) };
}

/**
 * Read a TLS file whole. A regular file is read as it is when it is no
 * larger than the size cap of `bounds` (1 MiB); a pipe (see the
 * module) without blocking, up to its end of file, within `bounds` (1 MiB,
 * 30 s); a device or a socket is refused before it is opened, as reading it
 * would block or never end.
 * @param what the file's role, for messages (`key file`).
 * @throws Error naming the file and what is wrong with it (see {@link openPipe}); an
 *   error of the read itself (`ENOENT`, `EACCES`, `EISDIR`) is thrown as it is, with its `code`;
 *   a regular file over the size cap (a log file given by mistake) is refused before it is read.
 */
export function readTlsFileSync(path: string, what: string, bounds: PipeBounds = {}): Buffer {
  const pipe = start(path, what, bounds);
  if (!pipe) return readRegular(path, what, bounds);
  try {
    for (;;) {
      const bytes = pipe.poll();
      if (bytes) return bytes;
      Bun.sleepSync(POLL_MS);
    }
  } finally {
    pipe.close();
  }
}

/**
 * {@link readTlsFileSync} that waits on a pipe with timers, so that the
 * process answers its signals meanwhile (a SIGTERM while `sops` asks a key
 * service stops `tsgi serve` at once).
 */
export async function readTlsFile(path: string, what: string, bounds: PipeBounds = {}): Promise<Buffer> {
  const pipe = start(path, what, bounds);
  if (!pipe) return readRegular(path, what, bounds);
  try {
    for (;;) {
      const bytes = pipe.poll();
      if (bytes) return bytes;
      await Bun.sleep(POLL_MS);
    }
  } finally {
    pipe.close();
  }
}

/**
 * A regular file (or a directory: its `EISDIR` comes from the read), refused
 * unread when larger than the cap: a log or a data file given by mistake
 * (`--certfile /var/log/syslog`) would be read whole into memory, in each
 * worker, only to be found not PEM.
 */
function readRegular(path: string, what: string, bounds: PipeBounds): Buffer {
  const maxBytes = bounds.maxBytes ?? PIPE_MAX_BYTES;
  const st = statSync(path);
  if (st.isFile() && st.size > maxBytes) {
    throw new Error(
      `cannot read ${what} ${path}: it is ${st.size} bytes (${(st.size / 2 ** 20).toFixed(1)} MiB), more than the ${maxBytes} bytes a TLS file may have: a key or a certificate chain is a few KiB, a CA bundle some 220 KiB; is it the right file?`,
    );
  }
  return readFileSync(path);
}

/** Refuse a device or socket; open a pipe; `null` for anything else (read with `readFileSync`). */
function start(path: string, what: string, bounds: PipeBounds): PipeRead | null {
  const device = deviceKind(path);
  if (device) throw new Error(`cannot read ${what} ${path}: it is ${device}, not a regular file; give the PEM file itself`);
  const kind = pipeKind(path);
  return kind ? openPipe(path, what, kind, bounds) : null;
}
