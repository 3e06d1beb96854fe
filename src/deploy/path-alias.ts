/**
 * Imports through a tsconfig `paths` alias (`import { d } from "@lib/d"`
 * with `"paths": { "@lib/*": ["src/lib/*"] }`), or through a package.json
 * `"imports"` entry (a subpath import: `import db from "#db"` with
 * `"imports": { "#db": "./src/db.ts" }`), that do not resolve: where the
 * module would be, so that tsgi-dev sees it created and picks it up, and
 * what tsgi-dev's error page and `tsgi serve`'s start-up error say about it
 * (not `npm install @lib/d`: it is no package).
 *
 * Bun (1.4.5) reports such an import as `Cannot find package '@lib/d'`
 * (`'#db'`), as it does a package that is not installed, and its resolver
 * keeps what it read of the target's directory: once the alias has failed,
 * it keeps failing after `src/lib/d.ts` is created, for the life of the
 * process, until the target is resolved once by its own path (an absolute
 * or relative specifier reads the directory again), after which the alias
 * resolves too. {@link refreshAlias} does that.
 *
 * The config is read with get-tsconfig (its `extends`, `baseUrl` and
 * `paths` as TypeScript reads them): the `tsconfig.json` or `jsconfig.json`
 * nearest to the importer (`tsconfig.json` when both are in one
 * directory), as Bun picks it. The `"imports"` are those of the nearest
 * package.json, matched with resolve-pkg-maps (Node's rules, with Bun's
 * conditions).
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { createPathsMatcher, findTsconfig, parseTsconfig, type TsConfigResult } from "get-tsconfig";
import { parse as parseJsonc } from "jsonc-parser";
import { type PathConditionsMap, resolveImports } from "resolve-pkg-maps";
import { nearbyModule } from "./nearby-module.ts";

/** A specifier that matched a `paths` pattern or an `"imports"` key. */
export interface PathAlias {
  /** `"paths"` of a tsconfig.json (or jsconfig.json), or `"imports"` of a package.json. */
  field: "paths" | "imports";
  /** The key it matched (`@lib/*`, `#db`, or an exact one such as `config`). */
  pattern: string;
  /** The tsconfig.json, jsconfig.json or package.json it is in, absolute. */
  config: string;
  /**
   * Where the alias maps the specifier, in the order they are tried,
   * absolute paths as written there, without an extension added
   * (`/app/src/lib/d`, `/app/src/db.ts`).
   */
  targets: string[];
}

/** Bun's conditions for an import, in `"imports"` (and `"exports"`) maps. */
const CONDITIONS = ["bun", "import", "node", "default"];

/** What get-tsconfig read (which config applies to a directory, a config's parsed content), by its keys: for many look-ups at once. */
export type AliasCache = Map<string, unknown>;

/** Whether a specifier is a bare one (no `./`, `../`, `/`, `node:`/`bun:` scheme): only those go through `paths`. */
function isBare(specifier: string): boolean {
  return !/^\.{1,2}(\/|$)|^\/|^[a-z][a-z0-9+.-]*:/i.test(specifier);
}

/** The `paths` key a specifier matches, as TypeScript picks it: an exact key, else the `*` pattern with the longest prefix. */
function matchedKey(specifier: string, paths: Record<string, unknown>): string | undefined {
  if (Object.hasOwn(paths, specifier) && !specifier.includes("*")) return specifier;
  let best: string | undefined;
  let prefixLength = -1;
  for (const key of Object.keys(paths)) {
    const star = key.indexOf("*");
    if (star < 0 || key.indexOf("*", star + 1) >= 0) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (specifier.length >= prefix.length + suffix.length && specifier.startsWith(prefix) && specifier.endsWith(suffix) && prefix.length > prefixLength) {
      best = key;
      prefixLength = prefix.length;
    }
  }
  return best;
}

/**
 * The `paths` alias `specifier`, imported from a module in `dir`, goes
 * through, or `undefined` when it is not a bare specifier, no tsconfig.json
 * or jsconfig.json applies, or no `paths` pattern of it matches (a
 * specifier only `baseUrl` would map is not an alias here: it is as likely
 * a package). Never throws (an unreadable or malformed config is no alias).
 *
 * @param specifier the import's specifier as written (`@lib/d`).
 * @param dir the importing module's directory, absolute.
 * @param cache what earlier calls read, for many calls at once (a config
 *   edited between them is not seen); default: read afresh.
 */
export function pathAlias(specifier: string, dir: string, cache: AliasCache = new Map()): PathAlias | undefined {
  if (!isBare(specifier) || specifier.startsWith("#")) return undefined;
  try {
    // The nearer of the two; in one directory, tsconfig.json.
    const ts = findTsconfig(dir, "tsconfig.json", cache);
    const js = findTsconfig(dir, "jsconfig.json", cache);
    const path = js !== undefined && (ts === undefined || dirname(js).length > dirname(ts).length) ? js : ts;
    if (path === undefined) return undefined;
    const found: TsConfigResult = { path, config: parseTsconfig(path, cache as Map<string, string>) };
    const paths = found.config.compilerOptions?.paths;
    if (!paths) return undefined;
    const pattern = matchedKey(specifier, paths);
    if (pattern === undefined) return undefined;
    const targets = createPathsMatcher(found)?.(specifier) ?? [];
    return targets.length > 0 ? { field: "paths", pattern, config: found.path, targets } : undefined;
  } catch {
    return undefined;
  }
}

/** The file get-tsconfig read (`readFileSync:<path>:utf8`) or looked for (`existsSync:<path>`), from a key of the cache it was given. */
const CACHED_FILE = /^(readFileSync|existsSync):(.+?)(:utf8)?$/;

/**
 * The configs `config` extends, directly and through them, as get-tsconfig
 * reads them for {@link pathAlias}, by TypeScript's rules: an `extends`
 * string or (TypeScript 5) array; a path relative to the config, `.json`
 * added when the file without it does not exist; a package's file
 * (`@acme/tsconfig/base.json`), through the package's `"exports"`, or a
 * package name alone for its `"tsconfig"` field or `tsconfig.json`. The
 * files are read as JSONC (comments, trailing commas).
 *
 * get-tsconfig returns the merged config only, not the files it came from:
 * they are taken from the cache it is given, which holds each file it read
 * and each it looked for (keys `readFileSync:<path>:utf8` and
 * `existsSync:<path>`, get-tsconfig 4; the dev-units tests pin them). A
 * `.json` file it looked for and did not find (a relative target not
 * created yet, `./tsconfig.base` for `./tsconfig.base.json`) is listed
 * too: its creation is a change. get-tsconfig stops at a target it cannot
 * find, so the entries before it in an `extends` array (read last to first)
 * are listed once it exists. The `package.json` files it read to resolve a
 * package's config are left out. Never throws.
 *
 * @param config a tsconfig.json or jsconfig.json, absolute.
 * @returns absolute paths, without `config`, each once.
 */
export function tsconfigExtends(config: string): string[] {
  const cache = new Map<string, unknown>();
  try {
    parseTsconfig(config, cache as Map<string, string>);
  } catch {
    // A target not found, a circular chain, a file that cannot be read: what was read until then.
  }
  const found = new Set<string>();
  for (const [key, value] of cache) {
    const [, op, path] = CACHED_FILE.exec(key) ?? [];
    if (path === undefined || path === config || basename(path) === "package.json") continue;
    if (op === "readFileSync" || (value === false && path.endsWith(".json"))) found.add(path);
  }
  return [...found];
}

/**
 * The package.json `"imports"` entry a `#` specifier (`#db`, `#lib/x`),
 * imported from a module in `dir`, goes through: the nearest package.json's
 * (the package scope, as Node and Bun take it), or `undefined` when the
 * specifier does not start with `#`, there is no package.json, it has no
 * `"imports"` or none matches. Never throws.
 *
 * @param specifier the import's specifier as written.
 * @param dir the importing module's directory, absolute.
 */
export function subpathImport(specifier: string, dir: string): PathAlias | undefined {
  if (!specifier.startsWith("#")) return undefined;
  try {
    let manifest: string | undefined;
    for (let d = dir; ; d = dirname(d)) {
      if (existsSync(join(d, "package.json"))) {
        manifest = join(d, "package.json");
        break;
      }
      if (dirname(d) === d) return undefined;
    }
    const json = parseJsonc(readFileSync(manifest, "utf8"), [], { allowTrailingComma: true }) as { imports?: unknown } | undefined;
    const imports = json?.imports;
    if (imports === null || typeof imports !== "object" || Array.isArray(imports)) return undefined;
    const pattern = matchedKey(specifier, imports as Record<string, unknown>);
    if (pattern === undefined) return undefined;
    const targets = resolveImports(imports as PathConditionsMap, specifier, CONDITIONS)
      .filter((t) => t.startsWith("./"))
      .map((t) => resolve(dirname(manifest), t));
    return targets.length > 0 ? { field: "imports", pattern, config: manifest, targets } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * {@link pathAlias} or {@link subpathImport}, whichever the specifier is
 * for: a `#` specifier is a package.json `"imports"` one, any other bare
 * specifier may be a tsconfig `paths` alias.
 */
export function importAlias(specifier: string, dir: string, cache: AliasCache = new Map()): PathAlias | undefined {
  return specifier.startsWith("#") ? subpathImport(specifier, dir) : pathAlias(specifier, dir, cache);
}

/**
 * Make Bun's resolver read again the directories of an alias's targets, so
 * that a module created there since the alias last failed is found (see
 * the module comment): each target whose directory exists is resolved by
 * its absolute path, which Bun does not answer from what it kept. Returns
 * whether one of them resolved (the alias may resolve now). Never throws.
 *
 * @param alias what {@link pathAlias} found.
 * @param resolve the resolver to use (tsgi-dev's unversioned one).
 */
export function refreshAlias(alias: PathAlias, resolve: (specifier: string, dir: string) => string): boolean {
  let any = false;
  for (const target of alias.targets) {
    if (!existsSync(dirname(target))) continue;
    try {
      resolve(target, dirname(target));
      any = true;
    } catch {
      // Not there (yet).
    }
  }
  return any;
}

/** A path for a message: relative to the working directory when inside it (`src/lib/d`), else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/**
 * The hint for an import that did not resolve when its specifier goes
 * through a tsconfig `paths` alias or a package.json `"imports"` entry:
 * `@lib/d is a "paths" alias of tsconfig.json ("@lib/*"), and there is no
 * module at src/lib/d yet (src/lib/d.ts, .tsx, .js, ... or
 * src/lib/d/index.ts): create it (the app reloads by itself once it is
 * there) or fix the name`, `#db is an "imports" entry of package.json
 * ("#db"), and there is no module at src/db.ts yet: ...`; when a file
 * beside a target has a near name (`@lib/rendr`, with `src/lib/render.ts`
 * there), `Did you mean "@lib/render"? (@lib/rendr is a "paths" alias ...)`
 * first (see `nearby-module.ts`); `undefined` when it is neither (see
 * {@link importAlias}). Bun's own message calls it a package
 * (`Cannot find package '@lib/d'`), which this says it is not: no
 * `npm install` helps. Shared by tsgi-dev's error page and `tsgi serve`'s
 * start-up error. Never throws.
 *
 * @param specifier the import's specifier as written.
 * @param referrer the importing module's file, absolute.
 * @param reloads whether the app is reloaded by itself once the module is
 *   created (tsgi-dev: the parenthesis above), or is started again by the
 *   user (`tsgi serve`: `create it or fix the name`); default `true`.
 */
export function pathAliasHint(specifier: string, referrer: string, reloads = true): string | undefined {
  const alias = importAlias(specifier, dirname(referrer));
  if (!alias) return undefined;
  const first = shown(alias.targets[0]!);
  const at = alias.targets.map(shown).join(" or ");
  // A target with its extension (as "imports" entries are written) names one file; one without, what Bun tries for it.
  const tried = /\.[a-z0-9]+$/i.test(first) ? "" : ` (${first}.ts, .tsx, .js, ... or ${first}/index.ts)`;
  const what = alias.field === "paths" ? `a "paths" alias of ${shown(alias.config)}` : `an "imports" entry of ${shown(alias.config)}`;
  // A misspelt name (`@lib/rendr`): the file beside a target whose name is nearest, said as the alias is written.
  for (const target of alias.targets) {
    const name = basename(target);
    const near = specifier.endsWith(name) ? nearbyModule(target, referrer) : undefined;
    if (near !== undefined) return `Did you mean "${specifier.slice(0, specifier.length - name.length)}${basename(near)}"? (${specifier} is ${what} ("${alias.pattern}"), and there is no module at ${at})`;
  }
  return `${specifier} is ${what} ("${alias.pattern}"), and there is no module at ${at} yet${tried}: create it${reloads ? " (the app reloads by itself once it is there)" : ""} or fix the name`;
}
