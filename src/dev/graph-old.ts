/**
 * The app's own module graph: the user files reachable from the entry
 * through static imports, literal dynamic imports and `require()` calls,
 * never `node_modules` or built-in modules. The reloader invalidates these
 * files in the module cache and the watcher watches them.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { parse as parseJsonc } from "jsonc-parser";
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
  /**
   * Where the files of relative imports that do not resolve would be
   * (`./x` → `x.ts`, `x.tsx`, ..., `x/index.ts`, ...): creating one of them
   * can fix the app, so they are watched too. Absolute paths.
   */
  missing: string[];
}

/** Extensions Bun tries for an extensionless relative import, in its order. */
const RESOLVE_EXTENSIONS = [".tsx", ".ts", ".jsx", ".js", ".mts", ".mjs", ".cts", ".cjs", ".json"];

/**
 * The paths a relative (or absolute) specifier that does not resolve could
 * be satisfied by once created; `[]` for package specifiers. A `.js`
 * specifier may also name a `.ts` file, as TypeScript's ESM convention has it.
 */
export function missingCandidates(specifier: string, dir: string): string[] {
  if (!/^\.{1,2}(\/|$)|^\//.test(specifier)) return [];
  const base = resolve(dir, stripQuery(specifier));
  const ext = extname(base);
  if (ext === ".js" || ext === ".jsx" || ext === ".mjs" || ext === ".cjs") {
    const stem = base.slice(0, -ext.length);
    const ts = ext === ".jsx" ? [".tsx"] : ext === ".mjs" ? [".mts"] : ext === ".cjs" ? [".cts"] : [".ts", ".tsx"];
    return [base, ...ts.map((e) => stem + e)];
  }
  if (ext !== "" && SCANNABLE[ext.toLowerCase()] !== undefined) return [base];
  return [base, ...RESOLVE_EXTENSIONS.map((e) => base + e), ...RESOLVE_EXTENSIONS.map((e) => join(base, "index" + e))];
}

/**
 * Walk the module graph from `entry` (an absolute path), breadth first.
 * Import specifiers are read with `Bun.Transpiler#scanImports` (type-only
 * imports are dropped by the transpiler, as at run time) and resolved with
 * `Bun.resolveSync` (unversioned), so tsconfig `paths` and package `exports` apply. A
 * specifier that does not resolve is not followed (the import itself
 * reports it); for a relative one, the paths that would satisfy it are
 * listed in `missing`. Never throws.
 *
 * @param entry absolute path of the app's entry module.
 * @param limit most files to visit (default 5000), a guard against
 *   pathological graphs.
 */
export function scanGraph(entry: string, limit = 5000): ModuleGraph {
  const seen = new Set<string>([entry]);
  const unreadable: string[] = [];
  const missing = new Set<string>();
  const queue = [entry];
  while (queue.length > 0 && seen.size <= limit) {
    const file = queue.shift()!;
    const imports = importsOf(file);
    if (imports === undefined) continue;
    if (imports === null) {
      unreadable.push(file);
      continue;
    }
    const dir = dirname(file);
    for (const imp of imports) {
      let resolved: string;
      try {
        resolved = resolvePlain(imp.path, dir);
      } catch {
        for (const candidate of missingCandidates(imp.path, dir)) if (isUserFile(candidate)) missing.add(candidate);
        continue;
      }
      const clean = stripQuery(resolved);
      if (!isUserFile(clean)) continue;
      if (seen.has(clean)) continue;
      seen.add(clean);
      queue.push(clean);
    }
  }
  return { files: [...seen], unreadable, missing: [...missing].filter((f) => !seen.has(f)) };
}

/** The files Bun's resolver reads settings from (`paths`, `baseUrl`, JSX, decorators), by name. */
const RESOLVER_CONFIGS = ["tsconfig.json", "jsconfig.json"];

/** Configs found through an `extends` by {@link resolverConfigs} (`tsconfig.base.json`, a package's): resolver configs whatever their name. */
const extendedConfigs = new Set<string>();

/**
 * Whether `path` is a `tsconfig.json` or `jsconfig.json`, or a config one
 * of them `extends` as {@link resolverConfigs} found it.
 */
export function isResolverConfig(path: string): boolean {
  return RESOLVER_CONFIGS.includes(basename(path)) || extendedConfigs.has(path);
}

/** How many configs deep an `extends` chain is followed. */
const EXTENDS_MAX_DEPTH = 16;

/**
 * The configs `config` extends, directly and through them, in order: each
 * `extends` entry (a string or, as TypeScript 5 allows, an array) taken
 * the way TypeScript takes it: a path relative to the config (`.json`
 * added when the file without it does not exist), or a package's file
 * resolved from the config's directory (`@acme/tsconfig/base.json`, or a
 * package name alone for its `tsconfig.json`). The file is read as JSONC
 * (comments, trailing commas). One that does not exist yet, relative, is
 * listed too (its creation is a change); a package's that does not
 * resolve, or a file that does not parse, ends that branch. Never throws.
 */
function extendedBy(config: string, depth = 0, seen = new Set<string>([config])): string[] {
  if (depth >= EXTENDS_MAX_DEPTH) return [];
  let value: unknown;
  try {
    value = parseJsonc(readFileSync(config, "utf8"), [], { allowTrailingComma: true })?.extends;
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of Array.isArray(value) ? value : [value]) {
    if (typeof entry !== "string" || entry === "") continue;
    const target = extendsTarget(entry, dirname(config));
    if (target === undefined || seen.has(target)) continue;
    seen.add(target);
    out.push(target, ...(existsSync(target) ? extendedBy(target, depth + 1, seen) : []));
  }
  return out;
}

/** The file an `extends` entry names, from the extending config's directory `dir`; `undefined` for a package's that does not resolve. */
function extendsTarget(entry: string, dir: string): string | undefined {
  if (/^\.{1,2}(\/|$)|^\//.test(entry) || isAbsolute(entry)) {
    const path = resolve(dir, entry);
    return existsSync(path) || extname(path) === ".json" ? path : path + ".json";
  }
  for (const candidate of extname(entry) === ".json" ? [entry] : [`${entry}.json`, `${entry}/tsconfig.json`]) {
    try {
      return resolvePlain(candidate, dir);
    } catch {
      // the next form
    }
  }
  return undefined;
}

/**
 * The `tsconfig.json` (or `jsconfig.json`) files that apply to `files`: for
 * each file's directory, the nearest one in it or above it, as Bun looks
 * them up, and the configs each `extends` (a monorepo's
 * `../../tsconfig.base.json` holding the `paths`, a package's
 * `@acme/tsconfig/base.json`), followed through theirs. With none at all,
 * the first file's directory's `tsconfig.json`, so that one created later
 * is seen. Bun reads each once per process.
 *
 * @param files absolute paths of the app's modules, the entry first.
 * @returns absolute paths, each once.
 */
export function resolverConfigs(files: readonly string[]): string[] {
  const found = new Set<string>();
  const seenDirs = new Set<string>();
  for (const file of files) {
    for (let dir = dirname(file); !seenDirs.has(dir); dir = dirname(dir)) {
      seenDirs.add(dir);
      const config = RESOLVER_CONFIGS.map((name) => join(dir, name)).find((p) => existsSync(p));
      if (config) {
        found.add(config);
        for (const base of extendedBy(config)) {
          found.add(base);
          extendedConfigs.add(base);
        }
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  if (found.size === 0 && files.length > 0) found.add(join(dirname(files[0]!), "tsconfig.json"));
  return [...found];
}

/**
 * The first of `files` with an import whose specifier names `target` (an
 * absolute path, e.g. a file that was deleted after the graph was scanned),
 * and that specifier. Files that cannot be read or parsed are skipped.
 */
export function findImporter(files: readonly string[], target: string): { file: string; specifier: string } | undefined {
  for (const file of files) {
    const dir = dirname(file);
    for (const imp of importsOf(file) ?? []) if (missingCandidates(imp.path, dir).includes(target)) return { file, specifier: imp.path };
  }
  return undefined;
}

/** The imports of `file`; `undefined` for a file that is not scanned (`.json`...), `null` when it cannot be read or parsed. */
function importsOf(file: string): Bun.Import[] | null | undefined {
  const loader = SCANNABLE[extname(file).toLowerCase()];
  if (!loader) return undefined;
  try {
    return transpilerFor(loader).scanImports(readFileSync(file));
  } catch {
    return null;
  }
}
