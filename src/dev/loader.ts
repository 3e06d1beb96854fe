/**
 * Loading (and re-loading) the user's app module under Bun's ESM cache.
 *
 * Each load is a new generation of module keys (see `versioning.ts`): the
 * entry and every user module it reaches are imported afresh, so a change
 * two imports deep takes effect, and a broken generation (a syntax error, an
 * import that does not resolve, a missing named export, a top-level throw)
 * leaves nothing behind that the next one could trip on. Before each load
 * the previous generations are deleted from the registry
 * (`delete require.cache[key]`), and so is any unversioned user module
 * (reached by `require()` or a computed `import()`), so old module instances
 * become garbage once no request uses the old app (measured: the heap flat
 * over hundreds of reloads, RSS levelling off; see docs/dev-server.md). `node_modules` and the dev server's own modules
 * stay cached.
 * @module
 */
import { existsSync } from "node:fs";
import { type ApplicationKind, describeExport, detectApplication } from "../fetch/index.ts";
import { ignoredServeOptions } from "../fetch/detect.ts";
import type { Application } from "../spec.ts";
import { appFileProblem, missingExportMessage, notCodeModule, type AppSpec } from "../deploy/load-app.ts";
import { packageManifests, resolverConfigs, scanGraph } from "./graph.ts";
import { type DisposeProblem, HotModules } from "./hot.ts";
import { fingerprint } from "./fingerprint.ts";
import { isDatabaseFile, isUserFile, stripQuery } from "./paths.ts";
import { SourceSnapshot } from "./sources.ts";
import { generationOf, installVersioning, loadedFingerprint, setGeneration, takePluginImports, setServing, unversion, versioned } from "./versioning.ts";

/** Why a load failed. */
export type LoadFailureKind =
  /** The entry file does not exist (or is a directory). */
  | "not-found"
  /** Importing or evaluating the module graph threw (syntax error, failed import, top-level throw). */
  | "import"
  /** The module has no such export. */
  | "no-export"
  /** The export is neither a TSGI application nor a fetch handler. */
  | "not-function";

/** A failed load: what went wrong, for the terminal and the error page. */
export interface LoadFailure {
  kind: LoadFailureKind;
  /** A one-line description, e.g. `./app.ts has no default export (exports: api, handler)`. */
  message: string;
  /** The thrown value, for `"import"` failures. */
  error?: unknown;
  /** The module's export names, for `"no-export"` and `"not-function"`. */
  exports?: string[];
}

/** The outcome of {@link AppLoader.load}. */
export type LoadResult =
  | {
      ok: true;
      /** The application to serve (a fetch handler already wrapped by `fromFetchHandler`). */
      app: Application;
      /** What the module exported: a TSGI application, a fetch function or a `{ fetch }` object. */
      kind: ApplicationKind;
      /** The `Bun.serve` options a `{ fetch }` export sets that tsgi-dev ignores (`{ port: 3000, fetch }`), as a warning; `null` for none. */
      warning: string | null;
      files: string[];
      /** Each file's fingerprint from before the app was evaluated (see {@link AppLoader.load}). */
      before: Map<string, string>;
      ms: number;
    }
  | { ok: false; failure: LoadFailure; files: string[]; before: Map<string, string>; ms: number };

/** How long a load may take by default before it fails (ms). */
export const LOAD_TIMEOUT_MS = 10_000;

/**
 * Loads an {@link AppSpec} and re-loads it on demand, each time with a fresh
 * evaluation of every user module. One load at a time: callers serialise
 * (the reloader does).
 */
export class AppLoader {
  /** Files known to belong to the app: the last graph scan, plus {@link #dynamic}. */
  #known = new Set<string>();
  /**
   * User modules found in the module cache that no static scan lists (a
   * computed `import()`, a `require()` of a built path), often imported
   * lazily by a request after the load. Kept across loads while they exist,
   * since the old generation's cache entries are deleted before the next
   * load, and the module is only imported again when a request needs it.
   */
  #dynamic = new Set<string>();
  /** SQLite databases {@link discover} found in the module cache: never app files (see `isDatabaseFile`), not looked at again. */
  readonly #data = new Set<string>();
  /** Cache keys present before the first load: the dev server's own modules, never evicted. */
  readonly #own: Set<string>;
  #loads = 0;
  /** Whether the last load failed. */
  #failed = false;
  /** Files a runtime plugin loads whose clearing import (see clearFailures) failed too: cleared again before the next load. */
  #uncleared: string[] = [];
  /** The generation of the app that serves (the last good load), 0 before one. */
  #serving = 0;
  /** {@link close} was called: a load still running then does not turn import versioning on again. */
  #closed = false;
  readonly #timeoutMs: number;

  readonly #trapExit: boolean;
  /** The app modules' `import.meta.hot` (see `hot.ts`). */
  readonly #hot = new HotModules();

  /**
   * @param spec the app to load.
   * @param options.timeoutMs how long a load may take before it fails as an
   *   import error (a top-level `await` that never settles), ms. The hung
   *   evaluation is left behind and the next load starts afresh. Default 10000.
   * @param options.trapExit while a load runs, `process.exit()` throws
   *   instead of ending the process, so a module that exits at import (a
   *   missing setting) fails the load like any import error and the process
   *   keeps serving. For a process that must outlive the app (in-place
   *   reload). Default false.
   */
  constructor(
    readonly spec: AppSpec,
    options: { timeoutMs?: number; trapExit?: boolean } = {},
  ) {
    this.#own = new Set(Object.keys(require.cache));
    this.#timeoutMs = options.timeoutMs ?? LOAD_TIMEOUT_MS;
    this.#trapExit = options.trapExit ?? false;
    installVersioning((path) => this.#own.has(path));
    this.#hot.install();
  }

  /**
   * Run the `import.meta.hot.dispose()` callbacks of every app module
   * evaluated since the last call (the serving generation, modules requests
   * imported lazily, what a failed load evaluated), each with its file's
   * `data`, in parallel, waiting for them up to `timeoutMs`: before the next
   * load, and when the process stops. Never throws.
   * @param timeoutMs how long to wait, ms. Default `DISPOSE_TIMEOUT_MS` (5000).
   * @returns the callbacks that threw or rejected, and those still running.
   */
  dispose(timeoutMs?: number): Promise<DisposeProblem[]> {
    return this.#hot.dispose(timeoutMs);
  }

  /** Whether a module evaluated since the last {@link dispose} registered a callback for it. */
  get disposePending(): boolean {
    return this.#hot.pending;
  }

  /** How many times {@link load} ran. */
  get loads(): number {
    return this.#loads;
  }

  /**
   * The user files of the app's module graph as last scanned (entry first),
   * including files that failed to import, the `tsconfig.json` files
   * that apply to them (see `resolverConfigs`), their nearest
   * `package.json` (see `packageManifests`) and the symbolic links
   * imports go through (see `ModuleGraph.links`): the set to watch.
   */
  get files(): string[] {
    return [...this.#known];
  }

  /**
   * Evict the app's modules from the cache, import the entry afresh and pick
   * the export. Never throws: failures come back as `{ ok: false }`.
   *
   * Each code module of the graph is read once (see `sources.ts`): the scan
   * that finds the graph reads it, and Bun is given those bytes. The
   * result's `before` holds the fingerprint (see `fingerprint.ts`) of what
   * each file was before the app was evaluated, for the app's files as last
   * known, the graph's code modules as scanned and `also`: a file read from
   * then on and saved meanwhile (even during the load) differs from it.
   *
   * @param also files to fingerprint before the load besides the app's (the
   *   changed paths a reload is for). Default none.
   */
  async load(also: readonly string[] = []): Promise<LoadResult> {
    const started = performance.now();
    this.#loads++;
    const { file, exportName } = this.spec;
    const sources = new SourceSnapshot();
    const graph = existsSync(file) ? scanGraph(file, undefined, sources) : { files: [file], missing: [], links: [] };
    // Before anything of the app runs: the scan's reads, the other files now (a save from here on is a change).
    // The entry as named (perhaps a symbolic link, which `fingerprint` tells); imports resolve to real paths.
    const before = sources.prints();
    before.set(file, fingerprint(file));
    for (const f of new Set([...this.#known, ...also])) if (!before.has(f)) before.set(f, fingerprint(f));
    this.discover(); // what requests imported since the last look, before the cache forgets it
    // Files a runtime plugin loads under their plain keys, imported since the last load (see
    // takePluginImports): one that failed is not in the cache. Only those: a file not imported since
    // has no failure to clear, and each clearing import runs the plugin and the file once more.
    const failed = [...new Set([...takePluginImports(), ...this.#uncleared])].filter((f) => this.#failed || !(f in require.cache));
    this.#evict();
    this.#uncleared = await clearFailures(failed);
    for (const f of this.#dynamic) if (!existsSync(f)) this.#dynamic.delete(f);
    // Missing import targets are watched too: creating one can fix the app. So are the
    // tsconfig.json and package.json files Bun resolves them with, and the symbolic links imports go through (a change
    // to either takes a new process to apply).
    this.#known = new Set([...graph.files, ...graph.missing, ...this.#dynamic, ...resolverConfigs(graph.files), ...packageManifests([...graph.files, ...this.#dynamic]), ...graph.links]);
    const done = <T extends { ok: boolean }>(r: T) => {
      this.discover();
      this.#failed = !r.ok;
      return { ...r, files: [...this.#known], before, ms: performance.now() - started };
    };
    const problem = appFileProblem(this.spec);
    // Said with the path as given (relative to the working directory, as tsgi serve says it).
    if (problem) return done({ ok: false as const, failure: { kind: "not-found" as const, message: problem } });
    let mod: Record<string, unknown>;
    const restoreExit = this.#trapExit ? trapExit() : undefined;
    try {
      setGeneration(this.#loads, sources);
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const hung = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `${displayPath(file)} did not finish loading within ${this.#timeoutMs / 1000} s: a top-level await that never settles? Save a fix to load it again`,
                ),
              ),
            this.#timeoutMs,
          );
        });
        mod = (await Promise.race([import(versioned(file, this.#loads)), hung])) as Record<string, unknown>;
      } finally {
        clearTimeout(timer);
        restoreExit?.();
        setGeneration(0);
      }
    } catch (error) {
      return done({ ok: false as const, failure: { kind: "import" as const, message: unversion(messageOf(error)), error } });
    }
    const exports = Object.keys(mod).filter((k) => k !== "__esModule");
    const label = displayPath(file);
    if (!(exportName in mod) || mod[exportName] === undefined) {
      return done({ ok: false as const, failure: { kind: "no-export" as const, message: missingExportMessage(label, label, exportName, mod), exports } });
    }
    const exported = mod[exportName];
    const found = detectApplication(exported);
    if (!found) {
      const name = exportName === "default" ? "the default export" : `export ${exportName}`;
      const data = notCodeModule(file, label, "tsgi-dev");
      return done({
        ok: false as const,
        failure: {
          kind: "not-function" as const,
          message: data
            ? `${name} of ${label} is ${describeExport(exported)}, not an application: ${data}`
            : `${name} of ${label} is ${describeExport(exported)}, not an application (a TSGI application (environ, startResponse) => body, a fetch handler (request) => Response, or an object with a fetch(request) method)`,
          exports,
        },
      });
    }
    // While this app serves, a lazy import() of a module it loaded gets this
    // generation's instance (one store, one class for instanceof). Not once
    // closed (a stop while this load ran): versioning stays off for the process.
    if (!this.#closed) {
      this.#serving = this.#loads;
      setServing(this.#serving);
    }
    return done({ ok: true as const, app: found.app, kind: found.kind, warning: ignoredServeOptions(exported, "tsgi-dev") });
  }

  /** Whether the latest load failed (the app that served before it, {@link loadedFingerprint}'s serving generation, no longer does). */
  get lastLoadFailed(): boolean {
    return this.#failed;
  }

  /**
   * The fingerprint (see `fingerprint.ts`) of `file` as the app read it:
   * as the latest load read it, or else (`lazily`) as the serving app read
   * it when a request imported it. Taken at the read (see
   * `loadedFingerprint` in versioning.ts), so a save made since, however
   * soon after, differs. `undefined` for a file not imported under its key
   * (a CommonJS entry, a JSON or text file imported lazily, a module
   * reached by a plain key, one a failed load never reached): the caller
   * fingerprints it itself.
   *
   * @param lazily also look in the serving generation (a module a request
   *   imported after the load). Default false: the latest load only.
   */
  loadedFingerprint(file: string, lazily = false): string | undefined {
    return loadedFingerprint(file, this.#loads) ?? (lazily && this.#serving !== 0 ? loadedFingerprint(file, this.#serving) : undefined);
  }

  /**
   * Stop versioning imports: from now on an import of a user file resolves
   * as Bun resolves it (the process is done with this app, or a test is),
   * also once a load still running now ends.
   */
  close(): void {
    this.#closed = true;
    this.#serving = 0;
    setServing(0);
  }

  /** Delete the earlier generations and unversioned user modules from the module registry. */
  #evict(): void {
    const cache = require.cache as Record<string, unknown>;
    for (const key of Object.keys(cache)) {
      if (this.#own.has(key)) continue;
      if (generationOf(key) !== undefined || isUserFile(stripQuery(key))) delete cache[key];
    }
  }

  /**
   * Look in the module cache for user modules the app imported that are not
   * known yet (a computed `import()` at load or in a request) and add them
   * to {@link files}. Cheap enough to call after requests (one pass over the
   * cache keys).
   * @returns the files added by this call (usually none).
   */
  discover(): string[] {
    const added: string[] = [];
    for (const key of Object.keys(require.cache)) {
      if (this.#own.has(key)) continue;
      const f = stripQuery(key);
      if (this.#known.has(f) || !isUserFile(f) || this.#data.has(f)) continue;
      // An SQLite database imported by a computed import(): data the app writes, not code (see scanGraph).
      if (isDatabaseFile(f)) {
        this.#data.add(f);
        continue;
      }
      this.#known.add(f);
      this.#dynamic.add(f);
      added.push(f);
    }
    return added;
  }
}

/**
 * Import each of `files` (user files a runtime plugin loads, kept under their
 * plain paths, whose last import failed: see `takePluginImports`) once on its
 * own, its cache entry deleted before and after, errors ignored: Bun keeps a
 * failed module (the plugin threw, its output did not parse or link, or
 * threw) under a plain key for good, even deleted from `require.cache`,
 * until it is imported again by itself (Bun 1.4.5); after that the next load
 * reads it afresh. Waits up to 2 s for each.
 * @returns the files whose import failed again (or did not settle in 2 s):
 *   still failed, to be cleared again before the next load.
 */
async function clearFailures(files: string[]): Promise<string[]> {
  const cache = require.cache as Record<string, unknown>;
  const still: string[] = [];
  for (const file of files) {
    delete cache[file];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // (A top-level await that never settles is the load's to report: wait a little only.)
      const settled = await Promise.race([import(file).then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 2000, false)))]);
      if (!settled) still.push(file);
    } catch {
      // What the load that follows reports, if it still fails.
      still.push(file);
    } finally {
      clearTimeout(timer);
    }
    delete cache[file];
  }
  return still;
}

/**
 * Make `process.exit()` throw (an Error saying the app exited while it
 * loaded) until the returned function restores it.
 */
function trapExit(): () => void {
  const real = process.exit;
  process.exit = ((code?: number | string | null) => {
    throw new Error(
      `the app called process.exit(${code ?? ""}) while it loaded; tsgi-dev keeps running (the app's own output above may say why). Save a fix to load it again`,
    );
  }) as typeof process.exit;
  return () => {
    process.exit = real;
  };
}

/** The path relative to the working directory when inside it, for messages. */
export function displayPath(file: string): string {
  const cwd = process.cwd();
  if (file.startsWith(cwd + "/")) return "./" + file.slice(cwd.length + 1);
  return file;
}

/**
 * The message of a thrown value, whatever it is: an object's `message`, or
 * the value as text (`Bun.inspect` for one `String()` cannot convert, such
 * as an object without a prototype). Never throws.
 */
export function messageOf(error: unknown): string {
  const value = error && typeof error === "object" && "message" in error ? (error as { message: unknown }).message : error;
  try {
    return String(value);
  } catch {
    try {
      return Bun.inspect(value);
    } catch {
      return "(a value that cannot be printed)";
    }
  }
}
