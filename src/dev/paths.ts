/**
 * Path predicates shared by the loader, the graph scanner and the
 * diagnostics: what counts as the user's own code.
 * @module
 */
import { isAbsolute } from "node:path";

/**
 * Whether `path` is a user file: an absolute path outside any `node_modules`
 * directory (built-ins such as `node:fs` and `bun:sqlite` are not).
 */
export function isUserFile(path: string): boolean {
  if (!isAbsolute(path)) return false;
  if (path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(path)) return false;
  return !/[\\/]node_modules[\\/]/.test(path);
}

/** `"/a/b.ts?v=3"` → `"/a/b.ts"`. */
export function stripQuery(path: string): string {
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}
