/**
 * The app's own module graph: the user files reachable from the entry
 * through static imports, literal dynamic imports and `require()` calls,
 * never `node_modules` or built-in modules. The reloader invalidates these
 * files in the module cache and the watcher watches them.
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, extname, isAbsolute } from "node:path";

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

/**
 * Whether `path` is a user file: an absolute path outside any `node_modules`
 * directory (built-ins such as `node:fs` and `bun:sqlite` are not).
 */
export function isUserFile(path: string): boolean {
  if (!isAbsolute(path)) return false;
  if (path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(path)) return false;
  return !/[\\/]node_modules[\\/]/.test(path);
}

/** The result of {@link scanGraph}. */
export interface ModuleGraph {
  /** Every user file found, the entry first; absolute paths. */
  files: string[];
  /** Files that could not be read or parsed (their imports are unknown); absolute paths. */
  unreadable: string[];
  /** Each scanned file's static `import`/`export ... from` dependencies among `files`, in source order. */
  deps: Map<string, string[]>;
}

/**
 * Walk the module graph from `entry` (an absolute path), breadth first.
 * Import specifiers are read with `Bun.Transpiler#scanImports` (type-only
 * imports are dropped by the transpiler, as at run time) and resolved with
 * `Bun.resolveSync`, so tsconfig `paths` and package `exports` apply. A
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
  const deps = new Map<string, string[]>();
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
    const staticDeps: string[] = [];
    deps.set(file, staticDeps);
    for (const imp of imports) {
      let resolved: string;
      try {
        resolved = Bun.resolveSync(imp.path, dir);
      } catch {
        continue;
      }
      const clean = stripQuery(resolved);
      if (!isUserFile(clean)) continue;
      if (imp.kind === "import-statement" && !staticDeps.includes(clean)) staticDeps.push(clean);
      if (seen.has(clean)) continue;
      seen.add(clean);
      queue.push(clean);
    }
  }
  return { files: [...seen], unreadable, deps };
}

/**
 * The order in which ES module evaluation visits the static graph from
 * `entry`: depth-first, dependencies in source order, each module after its
 * dependencies (post-order), cycles cut where they close.
 */
export function evaluationOrder(entry: string, deps: Map<string, string[]>): string[] {
  const order: string[] = [];
  const visited = new Set<string>();
  const stack: Array<{ file: string; next: number }> = [{ file: entry, next: 0 }];
  visited.add(entry);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const children = deps.get(top.file) ?? [];
    if (top.next < children.length) {
      const child = children[top.next++]!;
      if (!visited.has(child)) {
        visited.add(child);
        stack.push({ file: child, next: 0 });
      }
    } else {
      order.push(top.file);
      stack.pop();
    }
  }
  return order;
}

/** `"/a/b.ts?v=3"` → `"/a/b.ts"`. */
export function stripQuery(path: string): string {
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}
