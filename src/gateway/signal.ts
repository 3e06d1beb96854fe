/**
 * `environ["tsgi.signal"]` (spec.md "Server extension APIs"): an
 * `AbortSignal` aborted when the client goes away before the response is
 * complete, as `Bun.serve` aborts `request.signal`. It is put in the
 * environ as an accessor, so a request whose application never asks for it
 * costs no `AbortController`.
 * @module
 */
import type { Environ } from "../spec.ts";

/** The environ key. */
export const SIGNAL_KEY = "tsgi.signal";

/** One request's signal, made on first use. */
export class RequestSignal {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private _gone = false;

  /** The signal (made now if it was not asked for before; aborted already if the client left). */
  get signal(): AbortSignal {
    let c = this.controller;
    if (c === null) {
      c = this.controller = new AbortController();
      if (this._gone) c.abort(this.reason);
    }
    return c.signal;
  }

  /** The signal if it was made already, else `null` (nothing is made). */
  get made(): AbortSignal | null {
    return this.controller === null ? null : this.controller.signal;
  }

  /** Whether {@link abort} was called: the client went away, or the server gave up on the request. */
  get gone(): boolean {
    return this._gone;
  }

  /** What the signal was (or, if it is made later, will be) aborted with; `undefined` while it is not aborted. Makes no signal. */
  get abortReason(): unknown {
    return this.gone ? this.reason : undefined;
  }

  /** The client went away: abort the signal with `reason` (once; later calls do nothing). */
  abort(reason: unknown): void {
    if (this._gone) return;
    this._gone = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/**
 * The mark of an application that reads `tsgi.signal` for every request
 * (`fromFetchHandler`'s, for `request.signal`): the tsgi server's
 * `requestSignal` option is on by default for an application that carries
 * it as an own property set to `true`. A registered symbol, so a copy of
 * tsgi loaded twice agrees.
 */
export const WANTS_SIGNAL: unique symbol = Symbol.for("tsgi.wants_signal");

/** Whether `app` carries {@link WANTS_SIGNAL}. */
export function wantsSignal(app: unknown): boolean {
  return typeof app === "function" && (app as unknown as Record<symbol, unknown>)[WANTS_SIGNAL] === true;
}

/**
 * `wrapper`, marked {@link WANTS_SIGNAL} when any of `apps` is: a
 * middleware (`validator()`, `pathInfoDispatcher`, `proxyHeaders`) keeps
 * its application's ask for `tsgi.signal`. Returns `wrapper`.
 */
export function keepSignalMark<T extends object>(wrapper: T, ...apps: unknown[]): T {
  if (apps.some(wantsSignal)) Object.defineProperty(wrapper, WANTS_SIGNAL, { value: true });
  return wrapper;
}

/**
 * How many of tsgi's own reads of `tsgi.signal` are running (see
 * {@link readSignal}): one object under a registered symbol, so every copy
 * of tsgi in the process (tsgi-dev's, and the one an app imports its
 * `validator()` from) counts in the same place.
 */
const OWN_READS: { depth: number } = ((globalThis as Record<symbol, unknown>)[Symbol.for("tsgi.signal.own_reads")] ??= { depth: 0 }) as { depth: number };

/**
 * `environ["tsgi.signal"]`, read as tsgi's own code reads it (`validator()`'s
 * type check, `fromFetchHandler`'s `request.signal`): an accessor that
 * watches who reads the signal (tsgi-dev's warning for an app that reads it
 * without asking, see docs/dev-server.md) can tell with
 * {@link isTsgiRead}, for nothing, rather than from a stack trace. Reads
 * the environ's property once; throws what its accessor throws.
 */
export function readSignal(environ: Environ): unknown {
  OWN_READS.depth++;
  try {
    return environ[SIGNAL_KEY];
  } finally {
    OWN_READS.depth--;
  }
}

/** `read()`, with every `tsgi.signal` read in it taken as tsgi's own (see {@link readSignal}): for tsgi code that reads the whole environ (the dev error page's table). */
export function asTsgiRead<T>(read: () => T): T {
  OWN_READS.depth++;
  try {
    return read();
  } finally {
    OWN_READS.depth--;
  }
}

/** Whether a `tsgi.signal` read happening now is tsgi's own (made through {@link readSignal} or {@link asTsgiRead}). For the signal's accessor to ask. */
export function isTsgiRead(): boolean {
  return OWN_READS.depth > 0;
}

/** Where the accessor finds its source: a `RequestSignal`, or a function giving the signal. */
const SOURCE: unique symbol = Symbol("tsgi.signal source");

type Source = RequestSignal | (() => AbortSignal);

function getSignal(this: Environ): AbortSignal {
  const source = (this as unknown as Record<symbol, Source>)[SOURCE]!;
  return typeof source === "function" ? source() : source.signal;
}

/**
 * The server's {@link RequestSignal} behind `environ["tsgi.signal"]` when
 * `signal` is the one its accessor gave (read from this environ or a copy
 * of it), else `null` (a server without the extension, a signal a
 * middleware set). `fromFetchHandler` gives such a signal to its `Request`
 * as it is, and aborts it through this when it stops a body early, rather
 * than making a second `AbortController` that follows it.
 */
export function requestSignalOf(environ: Environ, signal: AbortSignal): RequestSignal | null {
  const source = (environ as unknown as Record<symbol, Source | undefined>)[SOURCE];
  return source instanceof RequestSignal && source.made === signal ? source : null;
}

/**
 * Whether the request `environ` was made for is over for its client, as the
 * server's own `tsgi.signal` says (aborted: the client closed, reset or
 * half-closed the connection, or the server gave up on the request, e.g.
 * requestTimeout's 503), read from the source the server put behind the
 * accessor, so neither an application that replaced `environ["tsgi.signal"]`
 * nor this read (which makes no `AbortController`) changes the answer.
 * `null` when the server gave `environ` no signal (its `requestSignal`
 * option off). Middleware that answers errors itself (tsgi-dev's error
 * pages) asks it before leaving a `ClientDisconnected` to the server.
 */
export function requestGone(environ: Environ): boolean | null {
  const source = (environ as unknown as Record<symbol, Source | undefined>)[SOURCE];
  if (source === undefined) return null;
  return typeof source === "function" ? source().aborted : source.gone;
}

/**
 * What the server aborted `environ["tsgi.signal"]` with (the client left,
 * or the server gave up on the request: `requestTimeout`, a shutdown, a
 * body it could not read), or `undefined` while it is not aborted or the
 * environ has no such signal. Reads the server's source behind the
 * accessor, not the environ's key (which the app may have replaced), and
 * makes no `AbortController`. Never throws.
 */
export function signalReasonOf(environ: Environ): unknown {
  try {
    const source = (environ as unknown as Record<symbol, Source | undefined>)[SOURCE];
    if (source instanceof RequestSignal) return source.abortReason;
    if (typeof source !== "function") return undefined;
    const signal = source();
    return signal.aborted ? signal.reason : undefined;
  } catch {
    return undefined;
  }
}

/** Replace the accessor with a plain value (a middleware that sets its own signal). */
function setOwn(this: Environ, value: unknown): void {
  Object.defineProperty(this, SIGNAL_KEY, { value, writable: true, enumerable: true, configurable: true });
}

/** One descriptor for every environ: no closure per request. */
const DESCRIPTOR: PropertyDescriptor = Object.freeze({ get: getSignal, set: setOwn, enumerable: true, configurable: true });

/**
 * Put `environ["tsgi.signal"]` in `environ`: an enumerable accessor that
 * returns the source's `AbortSignal` (a `RequestSignal` makes it when first
 * read), and that an assignment turns into a plain property. It costs about
 * 0.1 µs a request, so the tsgi server does it only under its
 * `requestSignal` option.
 */
export function defineSignal(environ: Environ, source: Source): void {
  (environ as unknown as Record<symbol, Source>)[SOURCE] = source;
  Object.defineProperty(environ, SIGNAL_KEY, DESCRIPTOR);
}

/**
 * A shallow copy of `environ`, as `{ ...environ }` (own enumerable keys,
 * symbols included, as plain writable values, in order), except that a
 * `tsgi.signal` accessor is copied as the accessor rather than read: the
 * copy's signal is the same `AbortSignal`, still made only when the
 * application reads it, and its reads are its reader's own (tsgi-dev tells
 * an application that reads it without asking, which it could not see
 * through a copied value). For a middleware that calls an application with
 * a copy (`pathInfoDispatcher`). Without such an accessor it is
 * `{ ...environ }`.
 */
export function copyEnviron(environ: Environ): Environ {
  const signal = Object.getOwnPropertyDescriptor(environ, SIGNAL_KEY);
  if (signal?.get === undefined) return { ...environ };
  const copy: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(environ)) {
    const own = Object.getOwnPropertyDescriptor(environ, key);
    if (!own?.enumerable) continue;
    if (key === SIGNAL_KEY) Object.defineProperty(copy, key, { ...own, configurable: true });
    else Object.defineProperty(copy, key, { value: own.get ? own.get.call(environ) : own.value, writable: true, enumerable: true, configurable: true });
  }
  return copy as unknown as Environ;
}
