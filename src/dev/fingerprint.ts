/**
 * File fingerprints: what a file's content was when the app was loaded, so
 * a late or duplicate watcher event for a save that is already loaded (or a
 * `chmod`, or a save that changed nothing) does not cause another reload,
 * and a save made after a module was read is one. The versioning plugin
 * takes a user module's fingerprint from the very bytes Bun compiles (see
 * `versioning.ts`); both use {@link fingerprintBytes}, so they compare.
 * @module
 */
import { readFileSync, readlinkSync } from "node:fs";

/**
 * A short hash of the file's bytes, or `"missing"` when it cannot be read.
 * A symbolic link to a directory (one an import goes through, `./shared`
 * → `../shared-real`) is `"dir-link:"` and its target as written, so
 * repointing it is a change.
 */
export function fingerprint(path: string): string {
  try {
    return fingerprintBytes(readFileSync(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EISDIR") {
      try {
        return `dir-link:${readlinkSync(path)}`;
      } catch {
        // a directory itself
      }
    }
    return "missing";
  }
}

/** The fingerprint of a file whose content is `bytes`: `"<length>:<hash in base 36>"`, as {@link fingerprint} gives it. */
export function fingerprintBytes(bytes: Uint8Array): string {
  return `${bytes.byteLength}:${Bun.hash(bytes).toString(36)}`;
}
