/**
 * The app's own module graph: the user files reachable from the entry
 * through static imports, literal dynamic imports and `require()` calls,
 * never `node_modules` or built-in modules. The reloader invalidates these
 * files in the module cache and the watcher watches them.
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, extname } from "node:path";
import { isUserFile, stripQuery } from "./paths.ts";
import { resolvePlain } from "./versioning.ts";

/** Extensions whose imports are scanned (other user files, e.g. `.json`, are leaves). */
const SCANNABLE: Record<string, "ts" | "tsx" | "js" | "jsx"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
};

const transpilers = new Map<string, Bun.Transpiler>();
function transpilerFor(loader: "ts" | "tsx" | "js" | "jsx"): Bun.Transpiler {
  let t = transpilers.get(loader);
  if (!t) {
    t = new Bun.Transpiler({ loader });
    transpilers.set(loader, t);
  }
  return t;
}

/** The result of {@link scanGraph}. */
export interface ModuleGraph {
  /** Every user file found, the entry first; absolute paths. */
  files: string[];
  /** Files that could not be read or parsed (their imports are unknown); absolute paths. */
  unreadable: string[];
}

/**
 * Walk the module graph from `entry` (an absolute path), breadth first.
 * Import specifiers are read with `Bun.Transpiler#scanImports` (type-only
 * imports are dropped by the transpiler, as at run time) and resolved with
 * `Bun.resolveSync` (unversioned), so tsconfig `paths` and package `exports` apply. A
 * specifier that does not resolve is skipped (the import itself reports
 * it). Never throws.
 *
 * @param entry absolute path of the app's entry module.
 * @param limit most files to visit (default 5000), a guard against
 *   pathological graphs.
 */
export function scanGraph(entry: string, limit = 5000): ModuleGraph {
  const seen = new Set<string>([entry]);
  const unreadable: string[] = [];
  const queue = [entry];
  while (queue.length > 0 && seen.size <= limit) {
    const file = queue.shift()!;
    const loader = SCANNABLE[extname(file).toLowerCase()];
    if (!loader) continue;
    let imports: Bun.Import[];
    try {
      imports = transpilerFor(loader).scanImports(readFileSync(file));
    } catch {
      unreadable.push(file);
      continue;
    }
    const dir = dirname(file);
    for (const imp of imports) {
      let resolved: string;
      try {
        resolved = resolvePlain(imp.path, dir);
      } catch {
        continue;
      }
      const clean = stripQuery(resolved);
      if (!isUserFile(clean)) continue;
      if (seen.has(clean)) continue;
      seen.add(clean);
      queue.push(clean);
    }
  }
  return { files: [...seen], unreadable };
}
