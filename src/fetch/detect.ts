/**
 * How app loaders (`tsgi serve`, `tsgi-dev`) read a module's export: a TSGI
 * application or a fetch handler ({@link asApplication}).
 * @module
 */
import type { Application } from "../spec.ts";
import type { FetchHandler } from "./common.ts";
import { fromFetchHandler } from "./from-fetch.ts";

/** How {@link detectApplication} read an export. */
export type ApplicationKind = "tsgi" | "fetch-object" | "fetch-function";

/**
 * Tell what a module exported: a TSGI application (a function of two or
 * more parameters, `(environ, startResponse)`), an object with a `fetch`
 * method (Hono, Elysia, `export default { fetch }`), or a fetch function
 * (one parameter, `(request) => Response`). Functions declared with no
 * parameters (rest parameters only) count as TSGI applications. A class is
 * none of them (it cannot be called without `new`; spec.md "The
 * application side"), unless it has a static `fetch()` method.
 *
 * @returns the kind and the TSGI application to serve, or `null` when it is neither.
 */
export function detectApplication(exported: unknown): { kind: ApplicationKind; app: Application } | null {
  if (typeof exported === "function") {
    if (isClass(exported)) {
      // Never called without `new`: a class is an application only as an object with a (static) fetch().
      const fetch = (exported as { fetch?: unknown }).fetch;
      return typeof fetch === "function" ? { kind: "fetch-object", app: fromFetchHandler(exported as unknown as { fetch: FetchHandler }) } : null;
    }
    if (exported.length === 1) return { kind: "fetch-function", app: fromFetchHandler(exported as FetchHandler) };
    return { kind: "tsgi", app: exported as Application };
  }
  if (exported !== null && typeof exported === "object" && typeof (exported as { fetch?: unknown }).fetch === "function") {
    return { kind: "fetch-object", app: fromFetchHandler(exported as { fetch: FetchHandler }) };
  }
  return null;
}

/**
 * What an app loader calls on a module's export (`tsgi-dev ./app.ts`,
 * `tsgi serve`): TSGI applications are served as they are; `{ fetch }`
 * objects and one-parameter fetch functions through {@link fromFetchHandler}.
 * @throws TypeError naming what was found when it is neither.
 */
export function asApplication(exported: unknown): Application {
  const found = detectApplication(exported);
  if (found) return found.app;
  throw new TypeError(`expected a TSGI application (environ, startResponse) => body, a fetch handler (request) => Response, or an object with a fetch() method; got ${describeExport(exported)}`);
}

/** Whether `f` is a `class` (its source starts with the keyword), which throws when called without `new`. */
function isClass(f: Function): boolean {
  return /^class\b/.test(Function.prototype.toString.call(f));
}

/**
 * What an export is, for messages when it is not an application: `"a number"`,
 * `"null"`, `"an object without a fetch() method"`, `"a class (App), which
 * cannot be called without new"` (export a function, or a bound method of
 * an instance, instead: spec.md "The application side"), and for a promise
 * (an async factory's result exported as it is) what to export instead.
 */
export function describeExport(exported: unknown): string {
  if (exported === null) return "null";
  if (typeof exported === "function" && isClass(exported)) {
    return `a class${exported.name ? ` (${exported.name})` : ""}, which cannot be called without new`;
  }
  if (Array.isArray(exported)) return "an array";
  if (typeof (exported as { then?: unknown } | undefined)?.then === "function") {
    return "a Promise (export what it resolves to: export default await createApp())";
  }
  if (typeof exported === "object") return "an object without a fetch() method";
  const type = typeof exported;
  return type === "undefined" ? "undefined" : `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}
