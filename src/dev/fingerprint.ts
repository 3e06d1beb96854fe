/**
 * File fingerprints: what a file's content was when the app was loaded, so
 * a late or duplicate watcher event for a save that is already loaded (or a
 * `chmod`, or a save that changed nothing) does not cause another reload,
 * and a save made after a module was read is one. The versioning plugin
 * takes a user module's fingerprint from the very bytes Bun compiles (see
 * `versioning.ts`); both use {@link fingerprintOf}, so they compare.
 *
 * A file larger than {@link WHOLE_HASH_MAX_BYTES} (a video or a data set in
 * a `--watch` directory, a large JSON the app imports, a log it appends to)
 * is not read whole: its size, modification time and inode, and a hash of
 * its first and last {@link SAMPLE_BYTES}, stand for its content. Reading
 * and hashing all of it took about 1 ms per MB on the event loop, several
 * times per change (a 300 MB file held every request for up to a second).
 *
 * A file's fingerprint is remembered with its status (see {@link remember}),
 * as git's index remembers a file's hash: while the status is the same,
 * one `lstat` gives the fingerprint without reading the file again (the
 * checks of all the app's files after each reload read 3,000 modules for
 * 100-200 ms before). Status that cannot tell a rewrite apart (the same
 * size within the file system's clock tick) is never trusted: see
 * {@link RACY_MS}.
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, type Stats } from "node:fs";

/** Files up to this size (bytes) are fingerprinted by a hash of all their content; larger ones by their size, modification time, inode and sampled content (see {@link fingerprintOf}). 4 MiB: under 3 ms to read and hash. */
export const WHOLE_HASH_MAX_BYTES = 4 * 1024 * 1024;

/** How much of a large file's head, and of its tail, is hashed into its fingerprint (bytes). */
export const SAMPLE_BYTES = 64 * 1024;

/**
 * The file's fingerprint (see {@link fingerprintOf}), or `"missing"` when
 * it cannot be read. A symbolic link to a directory (one an import goes
 * through, `./shared` → `../shared-real`) is `"dir-link:"` and its target
 * as written, so repointing it is a change; a symbolic link to a file
 * (`./cfg.ts` → `../configs/a.ts`) is `"file-link:"`, its target as
 * written and the fingerprint of what it reaches, so repointing it to a
 * file with the same bytes is a change too (the relative imports inside
 * that file resolve from the new target's folder; one `readlink` on top of
 * the read). A named pipe, a socket or a device (in a `--watch` directory)
 * is `"special"`: it is opened without waiting for a writer and not read
 * (reading a FIFO blocks the process until something writes to it). Reads
 * at most {@link WHOLE_HASH_MAX_BYTES}, or twice {@link SAMPLE_BYTES} of a
 * larger file; nothing (one `lstat`) for a regular file whose status is
 * the one remembered with its fingerprint (see {@link remember}). Never throws.
 * @param path the file's path (absolute, or relative to the working directory).
 */
export function fingerprint(path: string): string {
  const at = Date.now();
  const known = remembered.get(path);
  if (known !== undefined) {
    try {
      // Not followed: a symbolic link is read whole every time (its target may be repointed).
      if (sameStatus(known, lstatSync(path))) return known.print;
    } catch {
      // Gone or unreadable: the read below says which.
    }
    remembered.delete(path);
  }
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (stat.isDirectory()) {
      try {
        return `dir-link:${readlinkSync(path)}`;
      } catch {
        return "missing"; // a directory itself
      }
    }
    if (!stat.isFile()) return "special";
    const print =
      stat.size <= WHOLE_HASH_MAX_BYTES
        ? fingerprintOf(readFileSync(fd), stat)
        : sampledPrint(stat, readAt(fd, 0, SAMPLE_BYTES), readAt(fd, stat.size - SAMPLE_BYTES, SAMPLE_BYTES));
    let target: string;
    try {
      target = readlinkSync(path);
    } catch {
      remember(path, stat, at, print);
      return print; // not a link (EINVAL), the common case
    }
    return `file-link:${target}:${print}`;
  } catch {
    return "missing";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Read the regular file at `path` whole, with the fingerprint of what was
 * read, for a caller that needs the bytes anyway (the versioning plugin's
 * `onLoad`, which gives them to Bun): the same as {@link fingerprint} gives
 * while the file stays as it was read. The file's status is taken before
 * the read, so a save during it gives a fingerprint the disk no longer
 * matches (one reload more), never one that hides the save.
 * @param path the file's path.
 * @returns the bytes, and their fingerprint.
 * @throws as `readFileSync` does (`ENOENT` for a file that is gone).
 */
export function readFingerprinted(path: string): { bytes: Buffer; print: string } {
  const at = Date.now();
  const fd = openSync(path, "r");
  try {
    const stat = fstatSync(fd);
    const bytes = readFileSync(fd);
    const print = fingerprintOf(bytes, stat);
    remember(path, stat, at, print);
    return { bytes, print };
  } finally {
    closeSync(fd);
  }
}

/**
 * The fingerprint of a file whose content is `bytes` and whose status was
 * `stat` (taken before the bytes were read): for a file of up to
 * {@link WHOLE_HASH_MAX_BYTES} (by `stat.size`), `"<length>:<hash in base
 * 36>"` of all of `bytes`, whatever the status; for a larger one,
 * `"<size>:<mtime ms>:<inode>:<hash>"` of the first and last
 * {@link SAMPLE_BYTES} of `bytes`. So a large file's save that keeps
 * its content (a `touch`, an editor's save by rename) is a change, and a
 * rewrite that keeps its size, its first and last 64 KiB and its
 * modification time (within the file system's clock tick) is not.
 */
export function fingerprintOf(bytes: Uint8Array, stat: Pick<Stats, "size" | "mtimeMs" | "ino">): string {
  if (stat.size <= WHOLE_HASH_MAX_BYTES) return `${bytes.byteLength}:${Bun.hash(bytes).toString(36)}`;
  return sampledPrint(stat, bytes.subarray(0, SAMPLE_BYTES), bytes.subarray(Math.max(0, bytes.byteLength - SAMPLE_BYTES)));
}

function sampledPrint(stat: Pick<Stats, "size" | "mtimeMs" | "ino">, head: Uint8Array, tail: Uint8Array): string {
  return `${stat.size}:${stat.mtimeMs}:${stat.ino}:${Bun.hash(head, Bun.hash(tail)).toString(36)}`;
}

/** Up to `length` bytes of the open file `fd` from `position` (a file that shrank meanwhile gives fewer). */
function readAt(fd: number, position: number, length: number): Uint8Array {
  const buffer = Buffer.alloc(length);
  const n = readSync(fd, buffer, 0, length, Math.max(0, position));
  return buffer.subarray(0, n);
}

/**
 * How long after a file's last change (its modification or status change
 * time, whichever is later) its status is trusted to tell its content (ms).
 * Within a clock tick of the last change (a few ms on ext4, 2 s on FAT) a
 * rewrite of the same size can keep every field of the status, so a file
 * whose status was taken sooner than this after its last change is read
 * again each time (git's "racy" entries): the file just saved, one the app
 * writes as it loads. A later change sets the status change time, which
 * no one can set back, to a time after the read, so it differs.
 */
export const RACY_MS = 3000;

/** A file's status as remembered with its fingerprint (see {@link remember}). */
interface Remembered {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly print: string;
}

/** Per path, the fingerprint of a regular file and its status when read (only trusted ones: see {@link RACY_MS}). */
const remembered = new Map<string, Remembered>();

function sameStatus(known: Remembered, now: Stats): boolean {
  return now.isFile() && now.ino === known.ino && now.dev === known.dev && now.size === known.size && now.mtimeMs === known.mtimeMs && now.ctimeMs === known.ctimeMs;
}

/**
 * Remember that the regular file at `path`, whose status was `stat` when
 * taken at `at` (`Date.now()`, before the status, which was taken before
 * the read), had the fingerprint `print`, so that {@link fingerprint} gives
 * it again while an `lstat` shows the same status. Not when the file had
 * changed less than {@link RACY_MS} before (or after: a clock set back, a
 * network file system's own clock), nor for anything but a regular file
 * (`stat` is what the path reaches: a caller that followed a symbolic
 * link passes it too, and the `lstat` of the link never matches).
 * @param path as the caller will ask for it.
 */
export function remember(path: string, stat: Stats, at: number, print: string): void {
  const changed = Math.max(stat.mtimeMs, stat.ctimeMs);
  if (!stat.isFile() || !(at - changed >= RACY_MS) || print === "missing") {
    remembered.delete(path);
    return;
  }
  remembered.set(path, { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, print });
}
