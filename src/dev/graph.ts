/**
 * The app's own module graph: the user files reachable from the entry
 * through static imports, literal dynamic imports and `require()` calls,
 * never `node_modules` or built-in modules. The reloader invalidates these
 * files in the module cache and the watcher watches them.
 * @module
 */
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { basename, dirname, extname, join, resolve, sep } from "node:path";
import { fingerprint } from "./fingerprint.ts";
import { type ParseError, parse as parseJsonc } from "jsonc-parser";
import { refreshPackage } from "./missing-package.ts";
import { type AliasCache, importAlias, refreshAlias, tsconfigExtends } from "../deploy/path-alias.ts";
import { isDatabaseFile, isUserFile, stripQuery } from "./paths.ts";
import { scannedImports, SourceSnapshot } from "./sources.ts";
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

/** The result of {@link scanGraph}. */
export interface ModuleGraph {
  /** Every user file found, the entry first; absolute paths. */
  files: string[];
  /** Files that could not be read or parsed (their imports are unknown); absolute paths. */
  unreadable: string[];
  /**
   * Where the files of relative imports that do not resolve would be
   * (`./x` → `x.ts`, `x.tsx`, ..., `x/index.ts`, ...), and of imports
   * through a tsconfig `paths` alias (`@lib/x` → `src/lib/x.ts`, ...):
   * creating one of them can fix the app, so they are watched too. Absolute
   * paths.
   */
  missing: string[];
  /**
   * The symbolic links an import reaches a file through (`./cfg.ts` →
   * `../configs/a.ts`, a directory `./shared` → `../shared-real`), which the
   * files above do not show: Bun resolves each import to the real path.
   * Replacing, repointing or removing one changes what the import names.
   * Absolute paths of the links themselves; see {@link isImportLink}.
   */
  links: string[];
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
 * `Bun.resolveSync` (unversioned), so tsconfig `paths` and package `exports` apply. An
 * SQLite database the app imports is left out (see `isDatabaseFile`). A
 * specifier that does not resolve is not followed (the import itself
 * reports it); for a relative one, and for one through a tsconfig `paths`
 * alias (see `path-alias.ts`), the paths that would satisfy it are listed
 * in `missing`. Never throws.
 *
 * @param entry absolute path of the app's entry module.
 * @param limit most files to visit (default 5000), a guard against
 *   pathological graphs.
 * @param sources where the modules are read (see `sources.ts`): a load
 *   passes its own, so that the bytes scanned here are the ones it gives
 *   Bun and fingerprints. Default: a snapshot of this scan alone. Either
 *   way, a module whose content is what an earlier scan read is not
 *   parsed again.
 */
export function scanGraph(entry: string, limit = 5000, sources = new SourceSnapshot()): ModuleGraph {
  const seen = new Set<string>([entry]);
  const unreadable: string[] = [];
  const missing = new Set<string>();
  const links = new Set<string>();
  const queue = [entry];
  while (queue.length > 0 && seen.size <= limit) {
    const file = queue.shift()!;
    const imports = importsOf(file, sources);
    if (imports === undefined) continue;
    if (imports === null) {
      unreadable.push(file);
      continue;
    }
    const dir = dirname(file);
    for (const imp of imports) {
      let resolved = tryResolve(imp.path, dir);
      if (resolved === undefined) {
        // A tsconfig `paths` alias (`@lib/d`) or package.json "imports" entry (`#d`): Bun may be answering from
        // what it read of the target's directory before the module was created there; once read again, the
        // alias resolves (see path-alias.ts).
        const alias = importAlias(imp.path, dir);
        if (alias && refreshAlias(alias, resolvePlain)) resolved = tryResolve(imp.path, dir);
        // A package installed since Bun last read node_modules (see missing-package.ts).
        else if (!alias && refreshPackage(imp.path, dir, resolvePlain)) resolved = tryResolve(imp.path, dir);
        if (resolved === undefined) {
          const candidates = [...missingCandidates(imp.path, dir), ...(alias?.targets.flatMap((t) => missingCandidates(t, dir)) ?? [])];
          for (const candidate of candidates) if (isUserFile(candidate)) missing.add(candidate);
          continue;
        }
      }
      const clean = stripQuery(resolved);
      if (!isUserFile(clean)) continue;
      // An SQLite database the app imports (`./app.sqlite`, `with { type: "sqlite" }`) is data it writes as it serves, not code.
      if (SCANNABLE[extname(clean).toLowerCase()] === undefined && isDatabaseFile(clean)) continue;
      for (const link of linksOfImport(imp.path, dir, clean)) if (isUserFile(link)) links.add(link);
      if (seen.has(clean)) continue;
      seen.add(clean);
      queue.push(clean);
    }
  }
  for (const link of links) importLinks.add(link);
  return { files: [...seen], unreadable, missing: [...missing].filter((f) => !seen.has(f)), links: [...links] };
}

/** `resolvePlain(specifier, dir)`, or `undefined` when it does not resolve. */
function tryResolve(specifier: string, dir: string): string | undefined {
  try {
    return resolvePlain(specifier, dir);
  } catch {
    return undefined;
  }
}

/** Every link {@link scanGraph} found on an import's path in this process (see {@link isImportLink}). */
const importLinks = new Set<string>();

/**
 * Whether `path` is a symbolic link an import of the app went through, as
 * {@link scanGraph} found it (`ModuleGraph.links`): Bun's resolver keeps
 * the real path it found for the life of the process, so a change to the
 * link applies only in a new process.
 */
export function isImportLink(path: string): boolean {
  return importLinks.has(path);
}

/**
 * What the link at `path` is now, to tell whether it changed: `link:` and
 * its target as written, else the file's fingerprint (a link replaced by a
 * file), or `"missing"`. Unlike the content fingerprint, an edit of the
 * file it points to does not change it.
 */
export function linkPrint(path: string): string {
  try {
    return `link:${readlinkSync(path)}`;
  } catch {
    return fingerprint(path);
  }
}

/**
 * The symbolic links on the path a relative or absolute import names, from
 * the importer's directory `dir` (real, as Bun gives every module): the
 * links among the path's components, and those its targets' paths go
 * through, in the order met. `[]` for a package specifier (its
 * `node_modules` link changes with an install, after which tsgi-dev is
 * restarted anyway), for an import through no link, and on Windows. The
 * path is the first of {@link missingCandidates} that exists, as Bun tries
 * them; when that is `real`, the real path Bun resolved the import to, no
 * component of it is a link, and none is looked at (scanGraph runs at
 * every reload, and most imports are of this kind).
 */
function linksOfImport(specifier: string, dir: string, real: string): string[] {
  if (sep !== "/" || reachesAsWritten(specifier, dir, real)) return [];
  let lexical: string | undefined;
  for (const candidate of missingCandidates(specifier, dir)) {
    if (candidate === real) return [];
    if (existsSync(candidate)) {
      lexical = candidate;
      break;
    }
  }
  if (lexical === undefined) return [];
  const links: string[] = [];
  let rest = lexical.split("/").filter(Boolean);
  let at = "/";
  for (let hops = 0; rest.length > 0; ) {
    const p = join(at, rest.shift()!);
    let target: string;
    try {
      if (!lstatSync(p).isSymbolicLink()) {
        at = p;
        continue;
      }
      target = readlinkSync(p);
    } catch {
      break;
    }
    if (++hops > 40) break;
    links.push(p);
    rest = [...resolve(at, target).split("/").filter(Boolean), ...rest];
    at = "/";
  }
  return links;
}

/** What an extensionless relative import may add to the path it names to reach a file, as Bun tries it. */
const IMPLIED_SUFFIXES = new Set([...RESOLVE_EXTENSIONS, ...RESOLVE_EXTENSIONS.map((e) => "/index" + e)]);
/** The TypeScript files a `.js`-family import may name (`./x.js` → `x.ts`), by the extension it is written with. */
const TS_FOR_JS: Record<string, readonly string[]> = { ".js": [".ts", ".tsx"], ".jsx": [".tsx"], ".mjs": [".mts"], ".cjs": [".cts"] };

/**
 * Whether the relative `specifier` (`./x.ts`, `../../lib/x`, `./x.js`
 * naming `x.ts`), taken from `dir`, reaches `real`, the real path Bun
 * resolved it to, as written: the path it names, or that path with what
 * Bun adds (an extension, `/index.ts`), is `real`, so no directory on it
 * is a symbolic link, nor the file. Decided by string operations alone
 * (`path.resolve` and a look at the disk cost microseconds, and
 * {@link scanGraph} meets every import at every reload); a specifier
 * with `.` or `..` segments further in, or from a directory that is not
 * real, gives false, and the caller looks at the disk. (Not seen: a link
 * Bun tried first that points to the very file, `x.tsx` → `x.ts`.)
 */
function reachesAsWritten(specifier: string, dir: string, real: string): boolean {
  let base = dir;
  let at = 0;
  if (specifier.startsWith("./")) at = 2;
  else {
    while (specifier.startsWith("../", at)) {
      const cut = base.lastIndexOf("/");
      if (cut <= 0) return false;
      base = base.slice(0, cut);
      at += 3;
    }
    if (at === 0) return false;
  }
  const lexical = `${base}/${specifier.slice(at)}`;
  if (real.startsWith(lexical)) return real.length === lexical.length || IMPLIED_SUFFIXES.has(real.slice(lexical.length));
  const ext = extname(lexical);
  const stem = lexical.slice(0, lexical.length - ext.length);
  return (TS_FOR_JS[ext] ?? []).some((ts) => real.length === stem.length + ts.length && real.startsWith(stem) && real.endsWith(ts));
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

/**
 * For each of `files`, the nearest file named one of `names` (in that
 * order of preference) in its directory or above, as Bun looks up
 * `tsconfig.json` and `package.json`. Each directory is looked in once: a
 * walk stops at one already seen (its answer is already in the set).
 *
 * @param files absolute paths.
 * @returns absolute paths of existing files, each once.
 */
function nearestUp(files: readonly string[], names: readonly string[]): Set<string> {
  const found = new Set<string>();
  const seenDirs = new Set<string>();
  for (const file of files) {
    for (let dir = dirname(file); !seenDirs.has(dir); dir = dirname(dir)) {
      seenDirs.add(dir);
      const hit = names.map((name) => join(dir, name)).find((p) => existsSync(p));
      if (hit) {
        found.add(hit);
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  return found;
}

/**
 * The `tsconfig.json` (or `jsconfig.json`) files that apply to `files`: for
 * each file's directory, the nearest one in it or above it, as Bun looks
 * them up, and the configs each `extends` (a monorepo's
 * `../../tsconfig.base.json` holding the `paths`, a package's
 * `@acme/tsconfig/base.json`), followed through theirs: read with
 * get-tsconfig, as the `paths` aliases are (see `tsconfigExtends` in
 * `path-alias.ts`), with the targets not created yet. With none at all,
 * the first file's directory's `tsconfig.json`, so that one created later
 * is seen. Bun reads each once per process.
 *
 * @param files absolute paths of the app's modules, the entry first.
 * @returns absolute paths, each once.
 */
export function resolverConfigs(files: readonly string[]): string[] {
  const found = new Set<string>();
  for (const config of nearestUp(files, RESOLVER_CONFIGS)) {
    found.add(config);
    for (const base of tsconfigExtends(config)) {
      found.add(base);
      extendedConfigs.add(base);
    }
  }
  if (found.size === 0 && files.length > 0) found.add(join(dirname(files[0]!), "tsconfig.json"));
  return [...found];
}

/** The `package.json` files {@link packageManifests} last found (the nearest to an app module), by path. */
const manifests = new Set<string>();
/** Those of {@link manifests} the app also imports (for its version, as a JSON module), as last found. */
const importedManifests = new Set<string>();

/**
 * Whether `path` is a `package.json` {@link packageManifests} found for the
 * app's modules, imported by the app or not (see {@link isImportedManifest}).
 */
export function isPackageManifest(path: string): boolean {
  return manifests.has(path);
}

/**
 * Whether `path` is a {@link isPackageManifest} the app imports too (for
 * its version): a module, which a save reloads, whose resolver fields
 * still apply only in a new process.
 */
export function isImportedManifest(path: string): boolean {
  return importedManifests.has(path);
}

/**
 * The `package.json` nearest to each of `files` (in its directory or
 * above), the one Bun reads for an import of a `#` subpath (`"imports"`),
 * the package's own name (`"name"`, `"exports"`) and whether a `.js` file
 * is an ES module (`"type"`). Bun reads each once per process, as it does
 * `tsconfig.json` (see {@link resolverConfigs}). One of `files` (imported
 * by the app) is a module too: see {@link isImportedManifest}.
 *
 * Also the `package.json` paths, not there yet, where one created later
 * (`npm init` after tsgi-dev started) would be nearer to one of `files`
 * than the one in use: in each directory from the file's up to, not
 * including, the nearest manifest's; with none up to the file system's
 * root, up to `root` (the working directory) for a file under it, else the
 * file's own directory. Bun may have read those directories already and
 * keep resolving as before, so such a file counts as a manifest of the app
 * ({@link isPackageManifest}): watched, and its creation is told to take a
 * restart.
 *
 * @param files absolute paths of the app's modules.
 * @param root the working directory; default `process.cwd()` (none when it cannot be read).
 * @returns absolute paths, each once: the existing manifests, then those still to come.
 */
export function packageManifests(files: readonly string[], root: string | undefined = workingDirectory()): string[] {
  const found = nearestUp(files, ["package.json"]);
  const toCome = manifestsToCome(files, root);
  // As last found: one no module of the app is under any more is an ordinary file again (in a --watch directory, a save reloads).
  manifests.clear();
  importedManifests.clear();
  // One the app imports (its package.json imported for its version) is a module too: a save reloads it.
  for (const manifest of found) {
    manifests.add(manifest);
    if (files.includes(manifest)) importedManifests.add(manifest);
  }
  for (const path of toCome) manifests.add(path);
  return [...found, ...toCome];
}

/** `process.cwd()`, or `undefined` when the directory is gone. */
function workingDirectory(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}

/**
 * The `package.json` paths not there yet that would be nearer to one of
 * `files` than the manifest in use (see {@link packageManifests}). Each
 * directory is looked in once.
 */
function manifestsToCome(files: readonly string[], root: string | undefined): Set<string> {
  const out = new Set<string>();
  const present = new Map<string, boolean>();
  const has = (dir: string) => {
    let known = present.get(dir);
    if (known === undefined) present.set(dir, (known = existsSync(join(dir, "package.json"))));
    return known;
  };
  for (const file of files) {
    const chain: string[] = [];
    let found = false;
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      if (has(dir)) {
        found = true;
        break;
      }
      chain.push(dir);
      if (dirname(dir) === dir) break;
    }
    // None up to the root: the directories up to the working directory (where npm init is run), for a file under it.
    const stop = found ? undefined : root !== undefined && file.startsWith(root.endsWith(sep) ? root : root + sep) ? root : dirname(file);
    for (const dir of chain) {
      out.add(join(dir, "package.json"));
      if (dir === stop) break;
    }
  }
  return out;
}

/** The fields of a `package.json` Bun's resolver and loader read for the app's own modules (see {@link packageManifests}). */
const RESOLVER_FIELDS = ["name", "type", "imports", "exports", "main", "module"] as const;

/**
 * What the resolver sees of the `package.json` at `path`: those fields, as
 * JSON, read as Bun reads the file (a byte order mark, comments and
 * trailing commas allowed); `"missing"` once it is gone. An edit of
 * `scripts` or `dependencies` does not change it. `null` while it does not
 * parse (a save caught half-written, a typo being fixed): not a change to
 * report; what it is once it parses again is compared with what it was
 * before.
 */
export function manifestPrint(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return fingerprint(path);
  }
  const errors: ParseError[] = [];
  const json: unknown = parseJsonc(text.replace(/^\uFEFF/, ""), errors, { allowTrailingComma: true });
  if (errors.length > 0 || json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const fields = json as Record<string, unknown>;
  return JSON.stringify(RESOLVER_FIELDS.map((k) => fields[k] ?? null));
}

/**
 * The first of `files` with an import whose specifier names `target` (an
 * absolute path, e.g. a file that was deleted after the graph was scanned),
 * relatively or through a tsconfig `paths` alias (see `path-alias.ts`), and
 * that specifier. Files that cannot be read or parsed are skipped.
 */
export function findImporter(files: readonly string[], target: string): { file: string; specifier: string } | undefined {
  const sources = new SourceSnapshot();
  const configs: AliasCache = new Map();
  const names = (specifier: string, dir: string) =>
    missingCandidates(specifier, dir).includes(target) || (importAlias(specifier, dir, configs)?.targets.some((t) => missingCandidates(t, dir).includes(target)) ?? false);
  for (const file of files) {
    const dir = dirname(file);
    for (const imp of importsOf(file, sources) ?? []) if (names(imp.path, dir)) return { file, specifier: imp.path };
  }
  return undefined;
}

/**
 * The imports of `file`, read from `sources` (kept per content, see
 * `derived`: read-only); `undefined` for a file that is not scanned
 * (`.json`...), `null` when it cannot be read or parsed.
 */
function importsOf(file: string, sources: SourceSnapshot): readonly Bun.Import[] | null | undefined {
  const loader = SCANNABLE[extname(file).toLowerCase()];
  if (!loader) return undefined;
  const source = sources.tryRead(file);
  if (source === null) return null;
  try {
    return scannedImports(file, source, loader);
  } catch {
    return null;
  }
}
