/**
 * File fingerprints: what a file's content was when the app was loaded, so
 * a late or duplicate watcher event for a save that is already loaded (or a
 * `chmod`, or a save that changed nothing) does not cause another reload.
 * @module
 */
import { readFileSync } from "node:fs";

/** A short hash of the file's bytes, or `"missing"` when it cannot be read. */
export function fingerprint(path: string): string {
  try {
    const bytes = readFileSync(path);
    return `${bytes.byteLength}:${Bun.hash(bytes).toString(36)}`;
  } catch {
    return "missing";
  }
}
