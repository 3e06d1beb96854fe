/**
 * File fingerprints: what a file's content was when the app was loaded, so
 * a late or duplicate watcher event for a save that is already loaded (or a
 * `chmod`, or a save that changed nothing) does not cause another reload,
 * and a save made after a module was read is one. The versioning plugin
 * takes a user module's fingerprint from the very bytes Bun compiles (see
 * `versioning.ts`); both use {@link fingerprintBytes}, so they compare.
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync } from "node:fs";

/**
 * A short hash of the file's bytes, or `"missing"` when it cannot be read.
 * A symbolic link to a directory (one an import goes through, `./shared`
 * → `../shared-real`) is `"dir-link:"` and its target as written, so
 * repointing it is a change; a symbolic link to a file (`./cfg.ts` →
 * `../configs/a.ts`) is `"file-link:"`, its target as written and the
 * hash of the bytes it reaches, so repointing it to a file with the same
 * bytes is a change too (the relative imports inside that file resolve
 * from the new target's folder). Costs one `readlink` on top of the read.
 * A named pipe, a socket or a device (in a `--watch` directory) is
 * `"special"`: it is opened without waiting for a writer and not read
 * (reading a FIFO blocks the process until something writes to it).
 */
export function fingerprint(path: string): string {
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
    const print = fingerprintBytes(readFileSync(fd));
    let target: string;
    try {
      target = readlinkSync(path);
    } catch {
      return print; // not a link (EINVAL), the common case
    }
    return `file-link:${target}:${print}`;
  } catch {
    return "missing";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The fingerprint of a file whose content is `bytes`: `"<length>:<hash in base 36>"`, as {@link fingerprint} gives it. */
export function fingerprintBytes(bytes: Uint8Array): string {
  return `${bytes.byteLength}:${Bun.hash(bytes).toString(36)}`;
}
