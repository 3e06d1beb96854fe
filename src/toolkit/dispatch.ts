/**
 * Dispatch by `PATH_INFO` prefix: a port of cheroot's
 * `cheroot.wsgi.PathInfoDispatcher` (see `docs/toolkit/dispatch.md`).
 *
 * @module
 */
import type { Application, Body, Environ, StartResponse } from "../spec.ts";
import { copyEnviron as copyKeepingSignal, keepSignalMark } from "../gateway/signal.ts";
import { noteEnvironHandedOn } from "../gateway/handed-on.ts";

/** Mount points and their applications: an object or `[prefix, app]` pairs. */
export type PathMap = Record<string, Application> | Iterable<readonly [string, Application]>;

/** The callable shape of {@link PathInfoDispatcher}. */
export interface PathInfoDispatcher extends Application {}

/**
 * A TSGI application that hands each request to the application mounted at
 * the longest prefix of `PATH_INFO` (cheroot `PathInfoDispatcher(apps)`).
 *
 * - Prefixes match on segment boundaries: `/blog` matches `/blog` and
 *   `/blog/x`, never `/blogx`.
 * - Trailing slashes on mount points are removed, as cheroot does, so
 *   `"/blog/"` means `/blog` and `"/"` becomes `""`, which matches every
 *   path (the catch-all). "Longest" is the mount point's length as given,
 *   slashes included (cheroot sorts before stripping).
 * - An empty `PATH_INFO` is treated as `/`.
 * - The mounted application gets a shallow copy of the environ (cheroot's
 *   `environ.copy()`; an environ object with a `copy()` method, such as
 *   `Environ` from `secure-environ.ts`, is copied with it) whose
 *   `SCRIPT_NAME` has the prefix appended and whose `PATH_INFO` has it
 *   removed. The caller's environ is not modified.
 * - When nothing matches: `404 Not Found` with `Content-Type: text/plain`,
 *   `Content-Length: 0` and an empty body (cheroot's response).
 *
 * The instance is itself callable (it is an {@link Application}).
 * {@link pathInfoDispatcher} builds one without `new`.
 *
 * @example
 * const app = new PathInfoDispatcher({ "/": home, "/blog": blog });
 * // GET /blog/post/1 → blog with SCRIPT_NAME "/blog", PATH_INFO "/post/1"
 */
export class PathInfoDispatcher {
  /** Mount points (no trailing slash) and applications, longest first (cheroot `apps`). */
  readonly apps: ReadonlyArray<readonly [prefix: string, app: Application]>;

  /**
   * @param apps mount points to applications: `{ "/": app, "/blog": blogApp }`
   *   or `[["/blog", blogApp], ...]`.
   * @throws TypeError when an application is not a function, or a non-empty
   *   mount point does not start with `/`.
   */
  constructor(apps: PathMap) {
    const entries: Array<[string, Application]> =
      Symbol.iterator in Object(apps)
        ? [...(apps as Iterable<readonly [string, Application]>)].map(([p, a]) => [p, a])
        : Object.entries(apps as Record<string, Application>);
    for (const [p, a] of entries) {
      if (typeof a !== "function") throw new TypeError(`PathInfoDispatcher: the app for ${JSON.stringify(p)} is not a function`);
      if (p !== "" && !p.startsWith("/")) {
        throw new TypeError(`PathInfoDispatcher: mount point ${JSON.stringify(p)} must start with "/"`);
      }
    }
    // Sort by the length of the key as given, descending (stable), as cheroot.
    entries.sort((x, y) => y[0].length - x[0].length);
    this.apps = entries.map(([p, a]) => [p.replace(/\/+$/, ""), a] as const);

    const dispatch = (environ: Environ, startResponse: StartResponse): Body | Promise<Body> =>
      this.dispatch(environ, startResponse);
    // Make the instance callable: return a function carrying this prototype.
    Object.setPrototypeOf(dispatch, new.target.prototype);
    Object.defineProperty(dispatch, "apps", { value: this.apps, enumerable: true });
    // A mounted fromFetchHandler app still gets tsgi.signal from the tsgi server (its requestSignal default).
    keepSignalMark(dispatch, ...this.apps.map(([, a]) => a));
    return dispatch as unknown as PathInfoDispatcher;
  }

  /**
   * Route one request (cheroot `__call__`).
   * @returns the mounted application's result, or the 404 body.
   */
  dispatch(environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    const path = environ.PATH_INFO || "/";
    for (const [p, app] of this.apps) {
      if (path === p || path.startsWith(p + "/")) {
        const copy = copyEnviron(environ);
        copy.SCRIPT_NAME = (environ.SCRIPT_NAME ?? "") + p;
        copy.PATH_INFO = path.slice(p.length);
        // The environ the mounted app saw, for tsgi-dev's error page (handed-on.ts).
        noteEnvironHandedOn(environ, copy);
        return app(copy, startResponse);
      }
    }
    startResponse("404 Not Found", [
      ["Content-Type", "text/plain"],
      ["Content-Length", "0"],
    ]);
    return [];
  }
}

function copyEnviron(environ: Environ): Environ {
  const c = (environ as { copy?: unknown }).copy;
  if (typeof c === "function" && !Object.prototype.hasOwnProperty.call(environ, "copy")) {
    return c.call(environ) as Environ;
  }
  // Not { ...environ }: that would read tsgi.signal here (see copyEnviron).
  return copyKeepingSignal(environ);
}

/**
 * Function form of {@link PathInfoDispatcher}: `pathInfoDispatcher(map)` is
 * `new PathInfoDispatcher(map)`, an {@link Application}.
 */
export function pathInfoDispatcher(apps: PathMap): PathInfoDispatcher {
  return new PathInfoDispatcher(apps);
}
