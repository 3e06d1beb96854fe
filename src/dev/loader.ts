/**
 * Loading (and re-loading) the user's app module under Bun's ESM cache.
 *
 * How a reload takes effect two imports deep: Bun keeps ES modules in the
 * same registry that `require.cache` exposes, and `delete require.cache[path]`
 * evicts an ES module too, so the next `import()` evaluates the file afresh.
 * Before each load, {@link AppLoader} evicts every user module: the files of
 * the last scanned module graph (a file that failed to parse is not listed
 * in `require.cache` yet still stuck in the registry with its error, so it
 * must be deleted by name) and every other user key in `require.cache`
 * (modules reached by computed dynamic imports). `node_modules` and the dev
 * server's own modules stay cached. Old module instances become garbage once
 * the old app is no longer referenced (measured: RSS flat over 300 reloads).
 *
 * One Bun quirk needs more: after a link error (`import { x }` of a name the
 * target does not export), every module of the failed graph keeps that error
 * in the registry whatever is deleted, and only a failed `import()` of the
 * module itself makes it deletable. So the load after a link error imports
 * the graph's modules one by one in evaluation order (dependencies first, as
 * ES module evaluation does), and a module that rejects with a link error is
 * deleted and imported once more; each module still evaluates once.
 * @module
 */
import { existsSync, statSync } from "node:fs";
import type { Application } from "../spec.ts";
import type { AppSpec } from "./app-spec.ts";
import { evaluationOrder, isUserFile, scanGraph, stripQuery } from "./graph.ts";

/** Why a load failed. */
export type LoadFailureKind =
  /** The entry file does not exist (or is a directory). */
  | "not-found"
  /** Importing or evaluating the module graph threw (syntax error, failed import, top-level throw). */
  | "import"
  /** The module has no such export. */
  | "no-export"
  /** The export is not a function. */
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
  | { ok: true; app: Application; files: string[]; ms: number }
  | { ok: false; failure: LoadFailure; files: string[]; ms: number };

/**
 * Loads an {@link AppSpec} and re-loads it on demand, each time with a fresh
 * evaluation of every user module. One load at a time: callers serialise
 * (the reloader does).
 */
export class AppLoader {
  /** Files known to belong to the app: the union of the last graph scans. */
  #known = new Set<string>();
  /** Cache keys present before the first load: the dev server's own modules, never evicted. */
  readonly #own: Set<string>;
  #loads = 0;
  /** The last load failed with a link error: the next one must flush stuck modules. */
  #linkFailed = false;

  /** @param spec the app to load. */
  constructor(readonly spec: AppSpec) {
    this.#own = new Set(Object.keys(require.cache));
  }

  /** How many times {@link load} ran. */
  get loads(): number {
    return this.#loads;
  }

  /**
   * The user files of the app's module graph as last scanned (entry first),
   * including files that failed to import: the set to watch.
   */
  get files(): string[] {
    return [...this.#known];
  }

  /**
   * Evict the app's modules from the cache, import the entry afresh and pick
   * the export. Never throws: failures come back as `{ ok: false }`.
   */
  async load(): Promise<LoadResult> {
    const started = performance.now();
    this.#loads++;
    const { file, exportName, raw } = this.spec;
    const graph = existsSync(file) ? scanGraph(file) : { files: [file], unreadable: [], deps: new Map<string, string[]>() };
    this.#evict(graph.files);
    this.#known = new Set(graph.files);
    const done = <T extends object>(r: T) => {
      const files = this.#collect();
      return { ...r, files, ms: performance.now() - started };
    };
    if (!isFile(file)) {
      return done({ ok: false as const, failure: { kind: "not-found" as const, message: `no such file: ${raw.replace(/:[\w$]+$/, "")} (${file})` } });
    }
    let mod: Record<string, unknown>;
    try {
      if (this.#linkFailed) {
        let last: unknown;
        for (const f of evaluationOrder(file, graph.deps)) last = await importFresh(f);
        mod = last as Record<string, unknown>;
      } else {
        mod = (await import(file)) as Record<string, unknown>;
      }
      this.#linkFailed = false;
    } catch (error) {
      this.#linkFailed = isLinkError(error);
      return done({ ok: false as const, failure: { kind: "import" as const, message: messageOf(error), error } });
    }
    const exports = Object.keys(mod).filter((k) => k !== "__esModule");
    const label = displayPath(file);
    if (!(exportName in mod) || mod[exportName] === undefined) {
      const what = exportName === "default" ? "no default export" : `no export named ${exportName}`;
      const has = exports.length ? `exports: ${exports.join(", ")}` : "it exports nothing";
      const hint = exportName === "default" && exports.length ? `; pick one with ${label}:${exports[0]}` : "";
      return done({ ok: false as const, failure: { kind: "no-export" as const, message: `${label} has ${what} (${has})${hint}`, exports } });
    }
    const app = mod[exportName];
    if (typeof app !== "function") {
      const name = exportName === "default" ? "the default export" : `export ${exportName}`;
      return done({
        ok: false as const,
        failure: { kind: "not-function" as const, message: `${name} of ${label} is ${describe(app)}, not a function (a TSGI application is (environ, startResponse) => body)`, exports },
      });
    }
    return done({ ok: true as const, app: app as Application });
  }

  /** Delete the app's modules from the module registry. */
  #evict(graphFiles: string[]): void {
    const cache = require.cache as Record<string, unknown>;
    for (const f of graphFiles) if (!this.#own.has(f)) delete cache[f];
    for (const f of this.#known) if (!this.#own.has(f)) delete cache[f];
    for (const key of Object.keys(cache)) {
      if (!this.#own.has(key) && isUserFile(stripQuery(key))) delete cache[key];
    }
  }

  /** Known files plus user modules that ended up in the cache (computed dynamic imports). */
  #collect(): string[] {
    for (const key of Object.keys(require.cache)) {
      const f = stripQuery(key);
      if (!this.#own.has(key) && isUserFile(f)) this.#known.add(f);
    }
    return [...this.#known];
  }
}

/**
 * `import(path)`; when it rejects with a (possibly stale) link error, the
 * rejection has made the stuck entry deletable: delete it and import once more.
 */
async function importFresh(path: string): Promise<unknown> {
  try {
    return await import(path);
  } catch (error) {
    if (!isLinkError(error)) throw error;
    delete (require.cache as Record<string, unknown>)[path];
    return await import(path);
  }
}

/** A module link error: a `SyntaxError` about a missing export, thrown at instantiation. */
export function isLinkError(error: unknown): boolean {
  return error instanceof SyntaxError && /export named|not found in module|does not provide an export/i.test(error.message);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The path relative to the working directory when inside it, for messages. */
export function displayPath(file: string): string {
  const cwd = process.cwd();
  if (file.startsWith(cwd + "/")) return "./" + file.slice(cwd.length + 1);
  return file;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const t = typeof v;
  return t === "object" ? "an object" : `a ${t}`;
}

/** The message of a thrown value, whatever it is. */
export function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "message" in error) return String((error as { message: unknown }).message);
  return String(error);
}
