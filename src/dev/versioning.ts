/**
 * Versioned module keys: every load of the app gets a generation number N,
 * the entry is imported as `/abs/app.ts?tsgi-reload=N`, and a Bun runtime
 * plugin resolves each import of a user file made by a user module while
 * that load runs to `/abs/file.ts?tsgi-reload=N` (Bun hands the plugin the
 * importer without its query, so the generation is a process-wide setting).
 * So each generation is a brand-new set of module records (a change two
 * imports deep takes effect), while `node_modules`, built-ins and tsgi's own
 * modules resolve as usual and stay cached. Between loads, an import of a
 * user file that the serving generation has loaded, or of a JS/TS module
 * (one a request imports lazily), resolves to that generation's key: the
 * lazy module shares the app's modules (one instance of a store, one class
 * for `instanceof`), and a lazy module that failed is evaluated afresh by
 * the next generation (under a plain key Bun would keep the failure). Any
 * other user file keeps its plain path (`require.resolve("./page.html")`,
 * which the plugin also sees: a path read as a file). During a load, a lazy
 * import by the old app joins the new generation. The loader deletes plain
 * user keys before the next load. `import.meta.path`, `import.meta.dir` and
 * `__filename` stay the plain file path; only `import.meta.url` carries the
 * query.
 *
 * Why not `delete require.cache[path]` alone: it does evict ES modules, but
 * after a link error (`import { x }` of a name the target does not export)
 * Bun keeps the failed graph's module records, with their old source, under
 * the plain keys, and deleting them is a no-op until each is imported once
 * more, which would run stale code. Fresh keys never meet those records.
 * Nor does a module that failed to parse or threw at its top level: under
 * its plain key it fails with the same error for the life of the process.
 *
 * Bun (1.4.5) runs a plugin's `onResolve` only for a specifier with a file
 * extension (`./lib/c.ts`), not for `./lib/c`, a directory (`./lib`) or a
 * tsconfig `paths` alias without one (`@/c`): such imports would keep their
 * plain keys. So the plugin's `onLoad` gives Bun each user module's source
 * with those specifiers written as the absolute path they resolve to (see
 * {@link explicitSpecifiers}), which `onResolve` then sees. Only the
 * specifier strings change: lines stay where they are. The same `onLoad`
 * gives each such module `import.meta.hot` (see `hot.ts`).
 *
 * A runtime plugin registered before tsgi-dev's (a `bunfig.toml` `preload`
 * such as `Bun.plugin({ setup(b) { b.onLoad({ filter: /\.md$/ }, ...) } })`,
 * the way MDX, Svelte, Vue or YAML plugins work) has its `onLoad` filter
 * matched against the whole key, query included, so it would never match a
 * versioned key and Bun's own loader would read the file instead (and
 * `Bun.plugin` cannot be wrapped: it is read-only). So a file of an
 * extension such a plugin loads (see {@link pluginLoads}) keeps its plain
 * path as its key, and the plugin sees it as under `bun`; the loader
 * re-imports such a file once before a load to clear a failure Bun would
 * otherwise keep under the plain key (see {@link takePluginImports}).
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { fingerprint, readFingerprinted } from "./fingerprint.ts";
import { injectHot, namesCommonJs, unhot } from "./hot.ts";
import { isDatabaseFile, isUserFile, stripQuery } from "./paths.ts";
import { derived, scannedImports, type Source, SourceSnapshot } from "./sources.ts";

/** JavaScript and TypeScript module files, by extension. */
const CODE_MODULE = /\.[cm]?[jt]sx?$/;

/** Bun's loader for each JavaScript and TypeScript extension (its defaults: `.js` is `jsx`, JSX allowed). */
const LOADERS: Record<string, "ts" | "tsx" | "js" | "jsx"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "jsx",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
};

/**
 * The user files given their plain path as key because a runtime plugin
 * loads them (see {@link pluginLoads}) that were imported since
 * {@link takePluginImports} last took them.
 */
const pluginImported = new Set<string>();

/**
 * The user files that keep their plain path as module key because a runtime
 * plugin registered before tsgi-dev's (a `bunfig.toml` `preload`) loads
 * files of their extension (see {@link pluginLoads}) and that were imported
 * (by a load, or lazily by a request) since the last call: absolute paths,
 * as resolved; the set is emptied. Under a plain key Bun keeps a failed load
 * (the plugin threw, its output did not parse, threw or failed to link) for
 * good, even after `delete require.cache[path]`, until the path is imported
 * once more on its own: the loader does that before each load for those of
 * them that failed (see `AppLoader.load`). A file not imported since has no
 * new failure to clear, so it is not imported again for nothing (an MDX
 * site's every page, each compiled once more per reload).
 */
export function takePluginImports(): string[] {
  const files = [...pluginImported];
  pluginImported.clear();
  return files;
}

/** Per extension (as written, with its dot), whether a runtime plugin registered before tsgi-dev's loads such files. */
const pluginExtensions = new Map<string, boolean>();
/**
 * The directory of the empty files {@link pluginLoads} imports to ask: made
 * for a question and removed as soon as its `require()` returns (nothing
 * reads the probe after that); when it threw (an asynchronous plugin may
 * still read its probe), {@link PROBE_DIR_KEEP_MS} after the last question,
 * or at exit if sooner. So a process killed (SIGKILL, a crash) leaves
 * nothing in the temporary directory, unless killed within that while
 * after an asynchronous plugin's probe.
 */
let probeDir: string | undefined;
let probes = 0;
let probeDirTimer: ReturnType<typeof setTimeout> | undefined;
/** How long the probe directory stays after a question whose `require()` threw (ms). */
const PROBE_DIR_KEEP_MS = 1000;

/** Probes in the probe directory that an asynchronous plugin may still read (their `require()` threw). */
let probesKept = 0;

/** Remove the probe directory now, if there is one. */
function removeProbeDir(): void {
  clearTimeout(probeDirTimer);
  probeDirTimer = undefined;
  probesKept = 0;
  const dir = probeDir;
  probeDir = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
/** Set by the versioning plugin's `onLoad` when it is asked to load a probe file: no plugin before it took it. */
let probeReached = false;

/**
 * Whether a runtime plugin registered before tsgi-dev's own (a `bunfig.toml`
 * `preload`: Bun runs plugins in the order they were registered) has an
 * `onLoad` whose filter takes a file named like `file`, told by its
 * extension: an empty file with that extension, in a temporary directory
 * (removed at once, or a second later when the `require()` threw), is required once, and either a plugin before tsgi-dev's loads it (or
 * throws for it, or is asynchronous: `require()` then fails) or tsgi-dev's
 * own `onLoad` is reached and answers `export {}`. Asked once per extension
 * (as written, case kept) and process; a JavaScript or TypeScript file is
 * not asked about (tsgi-dev's `onLoad` reads those). A filter that also
 * wants a directory (`/content\/.*\.md$/`) is not seen, nor is a plugin
 * the app registers itself (after tsgi-dev's). Never throws.
 *
 * @param file absolute path of a user file (no query).
 */
export function pluginLoads(file: string): boolean {
  const ext = extname(file);
  if (ext === "" || CODE_MODULE.test(file)) return false;
  let loads = pluginExtensions.get(ext);
  if (loads !== undefined) return loads;
  const was = plain;
  plain = true;
  try {
    if (probeDir === undefined) {
      probeDir = mkdtempSync(join(tmpdir(), "tsgi-dev-probe-"));
      if (probes === 0) process.once("exit", removeProbeDir);
    }
    const probe = join(probeDir, `probe-${++probes}${ext}`);
    writeFileSync(probe, "");
    probeReached = false;
    let threw = false;
    try {
      require(probe);
    } catch {
      // A plugin threw for an empty file, or answers asynchronously: it took the file all the same.
      threw = true;
    }
    delete require.cache[probe];
    loads = !probeReached;
    // A require() that returned was answered, by a plugin or tsgi-dev's onLoad: nothing reads the probe any more,
    // so its directory goes now (a tsgi-dev SIGKILLed a moment later, as a test harness does, leaves nothing).
    // One that threw may have met an asynchronous plugin, which may still read it: kept a while for that.
    if (!threw && probesKept === 0) removeProbeDir();
    else {
      if (threw) probesKept++;
      clearTimeout(probeDirTimer);
      probeDirTimer = setTimeout(removeProbeDir, PROBE_DIR_KEEP_MS);
      probeDirTimer.unref?.();
    }
  } catch {
    loads = false;
  } finally {
    plain = was;
  }
  pluginExtensions.set(ext, loads);
  return loads;
}

/** The query parameter naming a module's generation. */
export const GENERATION_PARAM = "tsgi-reload";

/**
 * Appended to the key of a module the plugin's `onLoad` must not read (see
 * {@link loadsNatively}): Bun (1.4.5) evaluates any source an `onLoad` gives
 * it as an ES module, so a CommonJS module read that way exported nothing
 * (oven-sh/bun#39786), and an `onLoad` cannot hand a module back to Bun.
 */
const NATIVE_PARAM = "tsgi-native";

/**
 * The paths the plugin's `onLoad` reads (it must answer each one): a user
 * code module (see `isUserFile`) under a generation key, and not marked
 * {@link NATIVE_PARAM}. An absolute path, not in the compiled binary's
 * `/$bunfs/` (or `~BUN`), not under `node_modules`. A plain path (an
 * import Bun resolved itself) is Bun's to load.
 */
const USER_CODE_FILTER = new RegExp(
  `^(?!/\\$bunfs/)(?![A-Za-z]:[\\\\/]~BUN[\\\\/])(?!.*[\\\\/]node_modules[\\\\/])(?!.*[?&]${NATIVE_PARAM}\\b)(?:/|[A-Za-z]:[\\\\/]).*\\.[cm]?[jt]sx?\\?(?:.*&)?${GENERATION_PARAM}=\\d+(?:&.*)?$`,
);

/** The probe files of {@link pluginLoads}: `<tmp>/tsgi-dev-probe-XXXXXX/probe-N.ext`. */
const PROBE_FILTER = /[\\/]tsgi-dev-probe-[^\\/]+[\\/]probe-\d+\.[^\\/]*$/;

const GENERATION_RE = new RegExp(`[?&]${GENERATION_PARAM}=(\\d+)`);

let installed = false;
let generation = 0;
/** The generation that serves between loads, 0 for none. */
let serving = 0;
/** Set while this module resolves: `Bun.resolveSync` goes through the plugin too. */
let plain = false;
let isOwn: (path: string) => boolean = () => false;

/** The sources the load of generation {@link snapshot}.n reads its modules from (see `sources.ts`), while it runs. */
let snapshot: { n: number; sources: SourceSnapshot } | undefined;

/**
 * Set the generation that imports of user files resolve to while a load
 * runs; 0 when no load runs.
 * @param sources where that load's modules are read (see `sources.ts`): the
 *   snapshot its graph scan read them into, so that the plugin gives Bun
 *   those very bytes and the fingerprints it records are theirs. Default: a
 *   new one. Dropped when the load ends (`n` 0).
 */
export function setGeneration(n: number, sources?: SourceSnapshot): void {
  generation = n;
  snapshot = n === 0 ? undefined : { n, sources: sources ?? new SourceSnapshot() };
  // What older generations read is of no more use: keep the new load's and the serving one's.
  if (n !== 0) for (const g of reads.keys()) if (g !== n && g !== serving) reads.delete(g);
}

/** Per generation, each user file's fingerprint as it was read for it (see {@link loadedFingerprint}). */
const reads = new Map<number, Map<string, string>>();

function recordRead(file: string, n: number, print: string): void {
  let prints = reads.get(n);
  if (!prints) reads.set(n, (prints = new Map()));
  prints.set(file, print);
}

/**
 * The fingerprint (see `fingerprint.ts`) of the user file `file` as
 * generation `n` read it: for a module the plugin's `onLoad` reads (an ES
 * module under a generation key), that of the very bytes Bun compiled; for
 * one Bun reads itself under a generation key (a CommonJS module, JSON, an
 * import with attributes), the file's as it was when first resolved for
 * the generation, before Bun read it. So a save made after the read, however
 * soon, differs from it. `undefined` for a file the generation did not
 * import under its key (the entry when it is CommonJS, a JSON or text file
 * a request imports lazily, a module reached by a plain key, `.env`): the
 * caller fingerprints it itself, later. Kept for the latest load and the
 * serving generation.
 */
export function loadedFingerprint(file: string, n: number): string | undefined {
  return reads.get(n)?.get(file);
}

/**
 * Set the generation that serves between loads: an import of a user file it
 * has loaded resolves to its key. 0 turns this off.
 */
export function setServing(n: number): void {
  serving = n;
}

/** The generation of a module key, or `undefined` for a plain key. */
export function generationOf(key: string): number | undefined {
  const m = GENERATION_RE.exec(key);
  return m ? Number(m[1]) : undefined;
}

/**
 * `path` as the key of generation `n`: `path?tsgi-reload=n`, with
 * `&tsgi-native` for a module Bun must load itself ({@link loadsNatively}).
 */
export function versioned(path: string, n: number): string {
  const file = stripQuery(path);
  return `${file}?${GENERATION_PARAM}=${n}${loadsNatively(file, n) ? `&${NATIVE_PARAM}` : ""}`;
}

/**
 * Remove `?tsgi-reload=N` (and `&tsgi-native`) from text (module keys in
 * error messages and stacks), and write the call that stands for
 * `import.meta.hot` (see `hot.ts`) as `import.meta.hot` again.
 */
export function unversion(text: string): string {
  return unhot(text.replace(new RegExp(`\\?${GENERATION_PARAM}=\\d+(?:&${NATIVE_PARAM})?`, "g"), ""));
}

/** {@link loadsNatively}'s answers, per generation (the two latest kept: a load and the one serving). */
const nativeAnswers = new Map<number, Map<string, boolean>>();

/**
 * Whether the module at `file` is left to Bun to read, not given to Bun by
 * the plugin's `onLoad`: a CommonJS module (`.cjs`, `.cts`, or a `.js`/`.ts`
 * file without an `import` or `export` statement nor a top-level `await`,
 * such as one that sets `module.exports`), which an `onLoad` would break. Such a module has no
 * static imports to rewrite anyway. Except such a file that uses
 * `import.meta.hot` (see `hot.ts`) and names none of `module`, `exports`
 * and `require`: the plugin reads it, so that it gets one (it then runs as
 * an ES module, in strict mode). A file that cannot be read or scanned
 * is not (the plugin reports it as Bun would). Asked once per file and generation.
 */
function loadsNatively(file: string, n: number): boolean {
  let answers = nativeAnswers.get(n);
  if (!answers) {
    nativeAnswers.set(n, (answers = new Map()));
    for (const g of nativeAnswers.keys()) if (g < n - 1) nativeAnswers.delete(g);
  }
  let native = answers.get(file);
  if (native === undefined) answers.set(file, (native = isCommonJs(file, n)));
  return native;
}

/**
 * The module at `file` as generation `n` reads it: from the snapshot of the
 * load that runs (read once per load, see `sources.ts`; again if its status
 * changed since), else from disk.
 * @throws what reading it throws.
 */
function sourceOf(file: string, n: number | undefined): Source {
  return snapshot !== undefined && snapshot.n === n ? snapshot.sources.current(file) : readFingerprinted(file);
}

function isCommonJs(file: string, n: number): boolean {
  const ext = extname(file).toLowerCase();
  if (ext === ".cjs" || ext === ".cts") return true;
  if (!(ext in LOADERS) || ext === ".mjs" || ext === ".mts") return false;
  const loader = LOADERS[ext]!;
  try {
    // The bytes the plugin's onLoad then gives Bun (the load's snapshot), the answer kept per content.
    const read = sourceOf(file, n);
    return derived(file, read, "commonjs", () => {
      // A static import statement makes an ES module: the imports the graph scan found (kept per content) tell.
      if (scannedImports(file, read, loader).some((imp) => imp.kind === "import-statement")) return false;
      const transpiler = transpilerFor(loader);
      const source = read.bytes.toString("utf8");
      if (transpiler.scan(source).exports.length > 0) return false;
      const js = transpiler.transformSync(source);
      if (hasModuleOnlySyntax(js)) return false;
      // A module run for its effects (`import "./tick.ts"`: a timer, a server) that uses import.meta.hot to undo them,
      // and no CommonJS name: read by the plugin (an ES module, as with an `export {}`), so that it gets import.meta.hot.
      return namesCommonJs(source, loader) || injectHot(source, file, loader) === source;
    });
  } catch {
    return false;
  }
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as FunctionConstructor;

/**
 * Whether `js` (a module's transpiled code, without import or export
 * statements) is an ES module all the same, as Bun reads it: one with a
 * top-level `await` (`const m = await import("./db")`), or an `export {}`
 * (a scan lists no exports for it). Bun runs a file with neither as
 * CommonJS. Told by parsing `js` as a function body (not run).
 */
function hasModuleOnlySyntax(js: string): boolean {
  try {
    new Function(js);
    return false;
  } catch {
    if (/^export\s*\{\s*\};?$/m.test(js)) return true;
    try {
      new AsyncFunction(js);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Install the resolver plugin (once per process). An import made by a user
 * module (absolute path outside `node_modules`, not one of tsgi's own, as
 * told by `own`) of a user file gets the current generation; everything
 * else is left to Bun. A specifier that does not resolve is left to Bun
 * too, so its error message is Bun's own.
 *
 * @param own whether a module path belongs to the dev server itself (never
 *   versioned, and its imports neither).
 */
export function installVersioning(own: (path: string) => boolean): void {
  isOwn = own;
  if (installed) return;
  installed = true;
  watchCommonJsReads();
  watchCommonJsResolves();
  Bun.plugin({
    name: "tsgi-dev-versioning",
    target: "bun",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const n = generation !== 0 ? generation : serving;
        if (plain || n === 0 || !args.importer || /^(node|bun):/.test(args.path)) return undefined;
        const importer = stripQuery(args.importer);
        if (!isUserFile(importer) || isOwn(importer)) return undefined;
        // An import with attributes, marked by the importer's onLoad (see explicitSpecifiers): Bun must read it.
        const attributed = args.path.endsWith(ATTRIBUTES_MARK);
        let resolved: string;
        try {
          resolved = resolvePlain(attributed ? args.path.slice(0, -ATTRIBUTES_MARK.length) : args.path, dirname(importer));
        } catch {
          return undefined;
        }
        if (!isUserFile(stripQuery(resolved)) || isOwn(stripQuery(resolved))) return undefined;
        // A file a runtime plugin before this one loads (an .md, .svelte, .vue): its plain path, which the plugin's filter sees as under bun.
        if (!attributed && !CODE_MODULE.test(stripQuery(resolved)) && pluginLoads(stripQuery(resolved))) {
          const file = stripQuery(resolved);
          pluginImported.add(file);
          if (loadedFingerprint(file, n) === undefined) recordRead(file, n, fingerprint(file));
          return undefined;
        }
        let key = versioned(resolved, n);
        if (attributed && !key.endsWith(`&${NATIVE_PARAM}`)) key += `&${NATIVE_PARAM}`;
        // Between loads: what the serving generation loaded is shared, a code module imported
        // lazily joins the generation (a plain key would keep a failed evaluation for good), and
        // anything else (`require.resolve("./page.html")`) stays a real path.
        if (generation === 0 && !(key in require.cache) && !CODE_MODULE.test(stripQuery(resolved))) return undefined;
        // A file Bun reads itself: its content before that read (a save after it is seen as a change, the worst
        // case an extra reload). One the onLoad below reads gets the fingerprint of what it read there.
        const file = stripQuery(resolved);
        // (An SQLite database is not: data the app writes, never an app file, and perhaps large.)
        // (The load's snapshot may have read it already: that read's fingerprint, unless the file's status changed
        // since, see SourceSnapshot.printOf: a save and its undo would otherwise go unseen.)
        if (!USER_CODE_FILTER.test(key) && loadedFingerprint(file, n) === undefined && !isDatabaseFile(file))
          recordRead(file, n, (snapshot?.n === n ? snapshot.sources.printOf(file) : undefined) ?? fingerprint(file));
        return { path: key };
      });
      // Reached for a probe file of pluginLoads() only when no plugin registered before this one took it.
      build.onLoad({ filter: PROBE_FILTER }, () => {
        probeReached = true;
        return { contents: "export {};", loader: "js" };
      });
      build.onLoad({ filter: USER_CODE_FILTER }, (args) => {
        const file = stripQuery(args.path);
        const loader = LOADERS[extname(file).toLowerCase()] ?? "js";
        let read: Source;
        const n = generationOf(args.path);
        try {
          // Read once per load (the graph scan's read, see sources.ts): what this generation runs, to the byte,
          // is what it fingerprints, so a save from that read on is a change (see loadedFingerprint).
          read = sourceOf(file, n);
          if (n !== undefined) recordRead(file, n, read.print);
        } catch (error) {
          // Gone since Bun's resolver cached it: Bun's own words, which diagnose() turns into "Cannot find module" at the import.
          if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`ENOENT reading "${file}"`);
          throw error;
        }
        const source = read.bytes.toString("utf8");
        if (isOwn(file)) return { contents: source, loader };
        const hot = injectHot(source, file, loader);
        // Unchanged by injectHot: the imports scanned from these bytes (kept per content) are its imports.
        return { contents: explicitSpecifiers(hot, file, loader, hot === source ? importsIfScannable(file, read, loader) : undefined), loader };
      });
    },
  });
}

/**
 * Record the fingerprint of each user CommonJS module Bun reads itself under
 * its plain path, just before Bun reads it, as the resolver does for one
 * under a generation key (see `installVersioning`). Bun (1.4.5) asks a
 * plugin's `onResolve` only for a specifier with an extension, and a
 * CommonJS module's own text is Bun's (not rewritten), so its
 * `require("./c")` never reaches the resolver: `lib/c.js` was recorded as
 * the graph scan read it, and a save landing after the scan, which Bun
 * then compiled, and its undo (`git stash`, `git stash pop`) left the disk
 * as recorded and the saved text served. Bun does call
 * `Module._extensions[ext]` for such a read (for the extensions it lists:
 * `.js`, `.ts`, `.cts`, `.mjs`, `.mts`; not `.cjs`, `.jsx`, `.tsx`), so each
 * is wrapped: it records {@link SourceSnapshot.printOf} (the scan's print
 * while the file's status is unchanged, else a fresh read's) and calls
 * Bun's own, which reads and compiles the file as before. A file written
 * again with the same bytes (a generator that does not compare) keeps its
 * print. No extension is added (Bun loads one it does not list its own
 * way).
 */
function watchCommonJsReads(): void {
  const extensions = (Module as unknown as { _extensions?: Record<string, (module: unknown, filename: string) => unknown> })._extensions;
  if (!extensions) return;
  for (const ext of Object.keys(extensions)) {
    const bunOwn = extensions[ext];
    if (!CODE_MODULE.test(`x${ext}`) || typeof bunOwn !== "function") continue;
    extensions[ext] = function (this: unknown, module: unknown, filename: string) {
      const n = generation !== 0 ? generation : serving;
      const file = typeof filename === "string" ? stripQuery(filename) : "";
      if (n !== 0 && !plain && file && isUserFile(file) && !isOwn(file) && loadedFingerprint(file, n) === undefined) {
        try {
          recordRead(file, n, (snapshot?.n === n ? snapshot.sources.printOf(file) : undefined) ?? fingerprint(file));
        } catch {
          // Gone: Bun's read says so.
        }
      }
      return bunOwn.call(this, module, filename);
    };
  }
}

/**
 * Record the fingerprint of each user module a `require()` resolves, just
 * before Bun reads it, where neither the resolver plugin nor
 * {@link watchCommonJsReads} sees the read: a CommonJS module's
 * `require("./c")` (its text is Bun's, not rewritten, and Bun asks
 * `onResolve` only for a specifier with an extension) of `c.cjs`, `c.jsx`
 * or `c.tsx` (extensions Bun's `Module._extensions` does not list), or of
 * a file with no extension at all. Those were recorded as the graph scan
 * read them: a save landing after the scan, which Bun then compiled, and
 * its undo left the disk as recorded, "no content change", and the saved
 * text served. Bun (1.4.5) calls `Module._resolveFilename` for every
 * `require()`, so it is wrapped: after Bun's own resolution it records
 * {@link SourceSnapshot.printOf} (the scan's print while the file's status
 * is unchanged, else a fresh read's) for a JavaScript or TypeScript file or
 * one without extension, once per generation. Resolution itself is Bun's,
 * unchanged.
 */
function watchCommonJsResolves(): void {
  const M = Module as unknown as { _resolveFilename?: (request: string, parent: unknown, ...rest: unknown[]) => unknown };
  const bunOwn = M._resolveFilename;
  if (typeof bunOwn !== "function") return;
  M._resolveFilename = function (this: unknown, request: string, parent: unknown, ...rest: unknown[]) {
    const resolved = bunOwn.call(this, request, parent, ...rest);
    const n = generation !== 0 ? generation : serving;
    if (n === 0 || plain || typeof resolved !== "string") return resolved;
    const file = stripQuery(resolved);
    if (!(CODE_MODULE.test(file) || extname(file) === "") || !isUserFile(file) || isOwn(file) || loadedFingerprint(file, n) !== undefined) return resolved;
    try {
      recordRead(file, n, (snapshot?.n === n ? snapshot.sources.printOf(file) : undefined) ?? fingerprint(file));
    } catch {
      // Gone: Bun's read says so.
    }
    return resolved;
  };
}

/**
 * `scannedImports`, or `undefined` for a source the scanner cannot read (a
 * syntax error: {@link explicitSpecifiers} then gives it to Bun unchanged,
 * for Bun to report with the module's name and position).
 */
function importsIfScannable(file: string, read: Source, loader: "ts" | "tsx" | "js" | "jsx"): readonly Bun.Import[] | undefined {
  try {
    return scannedImports(file, read, loader);
  } catch {
    return undefined;
  }
}

const transpilers = new Map<string, Bun.Transpiler>();

function transpilerFor(loader: "ts" | "tsx" | "js" | "jsx"): Bun.Transpiler {
  let transpiler = transpilers.get(loader);
  if (!transpiler) transpilers.set(loader, (transpiler = new Bun.Transpiler({ loader })));
  return transpiler;
}

/** The import kinds whose specifier decides a module key (not `require.resolve`, which only names a path). */
const MODULE_IMPORTS = new Set<string>(["import-statement", "dynamic-import", "require-call"]);

/**
 * `source` (the module at `file`) with each import of a user file whose
 * specifier does not end with that file's extension (`./lib/c`, `./lib`,
 * `@/c`) written as the absolute path it resolves to, as Bun resolves it
 * (tsconfig `paths`, `index` files). Static imports and re-exports, side-effect
 * imports, literal `import()` and `require()` are rewritten; a specifier that
 * does not resolve, or one written with escapes, is left for Bun to report
 * or resolve. An import of a user file with attributes (`with { type:
 * "text" }`) is written as its absolute path marked for Bun to read it
 * itself ({@link ATTRIBUTES_MARK}), extension or not; a macro import (`with {
 * type: "macro" }`) is left as written, for Bun's transpiler. Text that only reads
 * like such an import (in a string, a template or a comment) is left as it is. Lines do not move. A source Bun
 * cannot scan (a syntax error) is returned unchanged, for Bun to report.
 *
 * @param source the module's text.
 * @param file its absolute path.
 * @param loader how Bun reads it.
 * @param scanned `source`'s imports as `Bun.Transpiler#scanImports` with
 *   `loader` gives them, when the caller has them (see `scannedImports`);
 *   default: scanned here.
 */
export function explicitSpecifiers(source: string, file: string, loader: "ts" | "tsx" | "js" | "jsx", scanned?: readonly Bun.Import[]): string {
  const transpiler = transpilerFor(loader);
  let imports: readonly Bun.Import[];
  try {
    imports = scanned ?? transpiler.scanImports(source);
  } catch {
    return source;
  }
  const dir = dirname(file);
  const mayHaveAttributes = /\b(?:with|assert)\s*[{:]/.test(source);
  const rewrites = new Map<string, string>();
  for (const imp of imports) {
    if (!MODULE_IMPORTS.has(imp.kind) || rewrites.has(imp.path) || /^(node|bun):/.test(imp.path)) continue;
    let resolved: string;
    try {
      resolved = stripQuery(resolvePlain(imp.path, dir));
    } catch {
      continue;
    }
    if (!isUserFile(resolved) || isOwn(resolved)) continue;
    // A specifier with its file's extension is seen by onResolve as it is: only one that may carry attributes is of interest.
    const ext = extname(resolved);
    if (ext !== "" && stripQuery(imp.path).endsWith(ext) && !mayHaveAttributes) continue;
    rewrites.set(imp.path, resolved);
  }
  if (rewrites.size === 0) return source;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s*|\\brequire\\s*\\(\\s*)(["'\`])(${[...rewrites.keys()].map(escape).join("|")})\\2`, "g");
  // The pattern also finds text that reads like an import in a string, a comment or a template
  // ("usage: import { c } from './lib/c'"), which must stay as it is (a path in double quotes
  // there was a syntax error). Each match gets a marker specifier between its own quotes, which
  // leaves the source as valid as it was, and only the markers the scanner reports as imports
  // are rewritten.
  const matches = [...source.matchAll(pattern)];
  if (matches.length === 0) return source;
  const marker = (i: number) => `${IMPORT_MARKER}${i}`;
  let marked = "";
  let at = 0;
  matches.forEach((m, i) => {
    marked += source.slice(at, m.index) + m[1] + m[2] + marker(i) + m[2];
    at = m.index + m[0].length;
  });
  marked += source.slice(at);
  let real: Set<string>;
  try {
    real = new Set(transpiler.scanImports(marked).map((imp) => imp.path));
  } catch {
    return source;
  }
  let out = "";
  at = 0;
  matches.forEach((m, i) => {
    if (!real.has(marker(i))) return;
    const end = m.index + m[0].length;
    const resolved = rewrites.get(m[3]!)!;
    const after = source.slice(end, end + 200);
    let specifier: string;
    // A macro (`with { type: "macro" }`) runs as Bun transpiles the importer, which resolves its specifier
    // itself: a key of ours is no file to it ('Macro "/abs/m.ts?tsgi-native" not found').
    if (MACRO_AFTER.test(after)) return;
    if (ATTRIBUTES_AFTER.test(after)) specifier = resolved + ATTRIBUTES_MARK;
    else if (extname(resolved) === "" || !stripQuery(m[3]!).endsWith(extname(resolved))) specifier = resolved;
    else return;
    out += source.slice(at, m.index) + m[1] + JSON.stringify(specifier);
    at = end;
  });
  return at === 0 ? source : out + source.slice(at);
}

/**
 * Import attributes after a specifier: `with { type: "text" }` (or the older
 * `assert`), in a static import or as `import()`'s second argument.
 */
const ATTRIBUTES_AFTER = /^\s*(?:(?:with|assert)\s*\{|,\s*\{\s*(?:with|assert)\b)/;

/** The attributes of a macro import (`with { type: "macro" }`), which is left as written. */
const MACRO_AFTER = /^\s*(?:with|assert)\s*\{\s*["']?type["']?\s*:\s*["']macro["']/;

/**
 * Appended by {@link explicitSpecifiers} to the specifier of an import with
 * attributes (`import text from "./page.ts" with { type: "text" }`), which
 * the resolver then keys with {@link NATIVE_PARAM}: neither `onResolve` nor
 * `onLoad` is told a module's attributes (Bun 1.4.5), and Bun reads a file
 * as the attribute asks only when no `onLoad` answers for it.
 */
const ATTRIBUTES_MARK = `?${NATIVE_PARAM}`;

/** The specifier {@link explicitSpecifiers} puts in place of each candidate, numbered, to ask the scanner which are imports. */
const IMPORT_MARKER = "tsgi-dev-import-candidate-";

/**
 * `Bun.resolveSync(specifier, dir)` as Bun resolves it, without versioning
 * (runtime plugins see `Bun.resolveSync` calls too).
 * @throws what `Bun.resolveSync` throws when the specifier does not resolve.
 */
export function resolvePlain(specifier: string, dir: string): string {
  const was = plain;
  plain = true;
  try {
    return Bun.resolveSync(specifier, dir);
  } finally {
    plain = was;
  }
}
