/**
 * Which environ an application down a chain of middleware was called with:
 * a middleware that calls an application with a copy of the environ
 * (`PathInfoDispatcher`: `SCRIPT_NAME` with the mount point added,
 * `PATH_INFO` without it, as cheroot's `environ.copy()`) says so with
 * {@link noteEnvironHandedOn}, and tsgi-dev's error page shows, with
 * {@link environHandedOnTo}, the environ the failing application saw, not
 * the one the server built, which would name a path it was never given.
 * @module
 */
import type { Environ } from "../spec.ts";

/**
 * What is recorded, one per process, shared by every copy of this module: an
 * app importing the toolkit through the package name (`tsgi/dispatch`) from
 * its project's `node_modules` gets a module instance of its own when
 * tsgi-dev runs from elsewhere (a global install, the compiled binary), and
 * its dispatcher must record where tsgi-dev's error page looks.
 * `handedOn`: each environ's copy handed on to an application, the last one
 * made from it (weak: gone with the request). `recording`: whether copies are
 * recorded, only once {@link recordEnvironsHandedOn} is called (by tsgi-dev's
 * error pages), so a production server pays one check per copy, not a
 * WeakMap entry (about 100 ns a request, measured).
 */
interface HandedOnState {
  recording: boolean;
  readonly handedOn: WeakMap<object, Environ>;
}
const STATE_KEY = Symbol.for("tsgi.environsHandedOn");
const state: HandedOnState = ((globalThis as Record<symbol, unknown>)[STATE_KEY] as HandedOnState | undefined) ??
  ((globalThis as Record<symbol, unknown>)[STATE_KEY] = { recording: false, handedOn: new WeakMap<object, Environ>() } satisfies HandedOnState);
const handedOn = state.handedOn;

/** Start recording the copies {@link noteEnvironHandedOn} is told of, for this process (every copy of this module). */
export function recordEnvironsHandedOn(): void {
  state.recording = true;
}

/** Bound on the chain {@link environHandedOnTo} follows (mounts within mounts): a cycle cannot hang it. */
const MAX_DEPTH = 64;

/**
 * Record that `copy`, made from `environ`, was passed to an application in
 * its place, if {@link recordEnvironsHandedOn} was called. Called by
 * middleware that copies the environ per request.
 */
export function noteEnvironHandedOn(environ: Environ, copy: Environ): void {
  if (state.recording) handedOn.set(environ, copy);
}

/**
 * The environ the innermost application was last called with for the
 * request whose environ (the server's, or any copy on the way) is
 * `environ`: the copies recorded by {@link noteEnvironHandedOn}, followed
 * to the last (at most 64 deep); `environ` itself when none was made.
 */
export function environHandedOnTo(environ: Environ): Environ {
  let e = environ;
  for (let i = 0; i < MAX_DEPTH; i++) {
    const next = handedOn.get(e);
    if (next === undefined || next === e) break;
    e = next;
  }
  return e;
}
