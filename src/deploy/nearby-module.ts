/**
 * "Did you mean" for an import that does not resolve: the file beside the
 * one named whose name is nearest (`./lib/greeter.ts` → `./lib/greet.ts`,
 * `./lib/greet.mjs` → `./lib/greet.ts`). Bun suggests nothing there (it
 * already finds `greet.ts` for `./lib/greet.js` and for `./lib/greet`).
 * @module
 */
import { readdirSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import leven from "leven";

/** Extensions of the files a relative import may name. */
const IMPORTABLE = new Set([".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json"]);
/**
 * Directory entries compared, at most. The directory is still read whole
 * (Bun's opendirSync and Glob read it all at once too): about 0.1 s for
 * 100,000 entries, once per report.
 */
const MAX_ENTRIES = 2000;

/**
 * The hint for `specifier`, imported by the module file `referrer`, that
 * did not resolve: `Did you mean "./lib/greet.ts"? (./lib/greeter.ts is
 * not there)`, or `undefined` when the specifier is not a relative or
 * absolute path, its directory cannot be read, or no single importable
 * file there is near: the same name with another extension, else a name
 * within 2 edits (fewer than the name's letters), or one that begins with
 * the other (at least 3 letters). A declaration file (`api.d.ts`) is never
 * suggested: it holds no values to import. At most {@link MAX_ENTRIES}
 * directory entries are compared. Never throws.
 */
export function nearbyModuleHint(specifier: string, referrer: string): string | undefined {
  const suggestion = nearbyModule(specifier, referrer);
  return suggestion === undefined ? undefined : `Did you mean "${suggestion}"? (${specifier} is not there)`;
}

/**
 * The specifier {@link nearbyModuleHint} suggests for `specifier`
 * (`./lib/greet.ts` for `./lib/greeter.ts`), as the import is written: its
 * directory part kept, an extension only when one was written (or is what
 * differs); `undefined` when it suggests none. Never throws.
 */
export function nearbyModule(specifier: string, referrer: string): string | undefined {
  try {
    if (!/^\.{0,2}\//.test(specifier)) return undefined;
    const target = resolve(dirname(referrer), specifier);
    const written = basename(target);
    const ext = IMPORTABLE.has(extname(written)) ? extname(written) : "";
    const stem = ext ? written.slice(0, -ext.length) : written;
    if (stem === "" || !specifier.endsWith(written)) return undefined;
    let best: string | undefined;
    let bestScore = Infinity;
    let tied = false;
    const entries = readdirSync(dirname(target), { withFileTypes: true }).slice(0, MAX_ENTRIES);
    for (const entry of entries) {
      if (!entry.isFile() || entry.name === written || !IMPORTABLE.has(extname(entry.name)) || /\.d\.[mc]?ts$/.test(entry.name)) continue;
      const candidate = entry.name.slice(0, -extname(entry.name).length);
      const shared = Math.min(stem.length, candidate.length);
      let score: number;
      if (candidate === stem) score = 0;
      else if (shared >= 3 && (candidate.startsWith(stem) || stem.startsWith(candidate))) score = 1;
      else {
        // At least the difference in length apart: no distance to compute (a 100 KB name against each entry).
        if (Math.abs(stem.length - candidate.length) > 2) continue;
        const d = leven(stem, candidate);
        if (d > 2 || d >= stem.length) continue;
        score = d;
      }
      if (score < bestScore) {
        best = entry.name;
        bestScore = score;
        tied = false;
      } else if (score === bestScore) tied = true;
    }
    if (best === undefined || tied) return undefined;
    // As the import is written: the directory part kept, an extension only when one was written (or is what differs).
    const name = ext || bestScore === 0 ? best : best.slice(0, -extname(best).length);
    return `${specifier.slice(0, specifier.length - written.length)}${name}`;
  } catch {
    return undefined;
  }
}
