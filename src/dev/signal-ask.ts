/**
 * `environ["tsgi.signal"]` from tsgi-dev to production. tsgi-dev gives it to
 * every app (its wrappers would hide `fromFetchHandler`'s mark), while
 * `tsgi serve` gives it only to an app that asks: one marked
 * `WANTS_SIGNAL` (a fetch handler is). An app that is not marked and
 * reads it works here and finds `undefined` in production. So the first
 * read by the app's own code, in each loaded version of an app that is not
 * marked, logs one warning naming the fix; the read still returns the
 * signal. Once per version, not once per session: a save that still leaves
 * the mark out is reminded once more (restart mode's app processes are each
 * a version too), and a save that adds it stops the warnings.
 *
 * Reads by tsgi's own code do not count: `validator()`'s type check,
 * `fromFetchHandler`'s `request.signal`, the error page's environ table.
 * They read it through `readSignal` / `asTsgiRead` (gateway/signal.ts),
 * which the accessor asks at no cost (a copy of tsgi the app imports
 * counts in the same place). (`pathInfoDispatcher` copies the accessor,
 * not the signal, so the read of an app it mounts is that app's own.) Any
 * other read takes a stack trace, until the version is warned about: the
 * reader is the first frame below the accessor that has a file
 * (`JSON.stringify`'s or a spread's engine frames have none), and a frame
 * of tsgi's own sources, or of a copy of tsgi in `node_modules` too old to
 * mark its reads, does not count either.
 * @module
 */
import { isTsgiRead, SIGNAL_KEY, wantsSignal } from "../gateway/signal.ts";
import type { Application, Environ } from "../spec.ts";
import { parseStack } from "./diagnose.ts";
import { display } from "./reloader.ts";

/** Where the fix is explained (docs/dev-server.md). */
export const SIGNAL_DOC = "docs/dev-server.md, \"From tsgi-dev to production\"";

/** Options of {@link warnUnaskedSignal}. */
export interface SignalAskOptions {
  /** The app version serving now, as loaded (a fetch handler already wrapped by `fromFetchHandler`), or `null` when none is. */
  loaded(): Application | null;
  /** What the user typed for the app (`./app.ts`, `./app.ts:api`), for the message. */
  name: string;
  /** Receives the warning. */
  warn(message: string): void;
  /** Whether a stack frame's file is tsgi's own (`isTsgiSource`). */
  internal(file: string): boolean;
}

/** A copy of the tsgi package the app imports itself (`import { validator } from "tsgi/validate"`). */
const TSGI_PACKAGE = /[\\/]node_modules[\\/]tsgi[\\/]/;

/**
 * `app`, giving each request's `environ["tsgi.signal"]` (the server's
 * accessor, when it defined one) an accessor that warns as the module doc
 * says, then returns what the server's would: the same `AbortSignal`. An
 * assignment still replaces it with a plain value. For tsgi-dev only: the
 * check costs a stack trace on the app's own reads of a version not
 * marked, until it warned; tsgi's marked reads cost nothing.
 */
export function warnUnaskedSignal(app: Application, options: SignalAskOptions): Application {
  /** The versions warned about (a version is its loaded app function). */
  const warned = new WeakSet<Application>();
  /** Warn unless the serving version is marked or warned about, or the stack below `accessor` shows tsgi reading. */
  const check = (accessor: () => unknown): void => {
    if (isTsgiRead()) return;
    const loaded = options.loaded();
    if (loaded === null || wantsSignal(loaded) || warned.has(loaded)) return;
    const trace: { stack?: string } = {};
    Error.captureStackTrace(trace, accessor); // the stack below the accessor: its reader first
    const reader = parseStack(trace.stack ?? "")[0];
    if (reader === undefined || options.internal(reader.file) || TSGI_PACKAGE.test(reader.file)) return;
    warned.add(loaded);
    options.warn(
      `${options.name} reads environ["${SIGNAL_KEY}"] (${display(reader.file)}:${reader.line}), which tsgi serve gives only to an app marked WANTS_SIGNAL ` +
        `(or a fetch handler): there it is undefined for this app.\n` +
        `Mark the exported app: Object.defineProperty(app, WANTS_SIGNAL, { value: true }), with WANTS_SIGNAL from "tsgi" (${SIGNAL_DOC}). ` +
        `Said once for each load of the app.`,
    );
  };
  return (environ, startResponse) => {
    const own = Object.getOwnPropertyDescriptor(environ, SIGNAL_KEY);
    const get = own?.get;
    if (own && get) {
      Object.defineProperty(environ, SIGNAL_KEY, {
        get: function signal(this: Environ) {
          check(signal);
          return get.call(this);
        },
        set: own.set,
        enumerable: own.enumerable,
        configurable: true,
      });
    }
    return app(environ, startResponse);
  };
}
