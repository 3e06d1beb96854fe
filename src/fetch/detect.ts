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
 * parameters (rest parameters only) count as TSGI applications, and so do
 * fetch handlers declared with two or more (`(request, server)`, as
 * `Bun.serve` and Deno call them): the gateway's error for the `Response`
 * such a function returns, and `fetchHandlerHint` for its first use of the
 * environ as a request, say to export it as `{ fetch: handler }`. A class is
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
 * objects and one-parameter fetch functions through `fromFetchHandler()`.
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
 * `"null"`, `"an object without a fetch() method"`, `"an object whose fetch
 * is a number, not a function"` (`{ fetch: 1 }`), `"a class (App), which
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
  if (typeof exported === "object") {
    // `{ fetch: handler }` with the handler not yet a function (`fetch: app.fetch` of an app not built, a typo'd import).
    if ("fetch" in exported) {
      let fetch: unknown;
      try {
        fetch = (exported as { fetch?: unknown }).fetch;
      } catch {
        return "an object whose fetch could not be read (its getter threw), not a fetch() method";
      }
      return `an object whose fetch is ${typeName(fetch)}, not a function`;
    }
    // Bun.serve({ routes }) needs no fetch(); served here, its routes would be nothing at all.
    const routes = (exported as Record<string, unknown>)["routes"] ?? (exported as Record<string, unknown>)["static"];
    return isRecord(routes)
      ? "an object with Bun.serve routes but no fetch() method (tsgi serves one fetch(request) for every path and reads no routes: add a fetch() that matches the paths, or export a router such as a Hono app)"
      : "an object without a fetch() method";
  }
  return typeName(exported);
}

/** `"null"`, `"undefined"`, `"an array"`, or `typeof` with its article (`"a number"`, `"an object"`). */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "undefined" ? "undefined" : `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

/** A plain object, not an array (Bun.serve's `routes`, `static`, `websocket`). */
const isRecord = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Options of `Bun.serve` a module may export beside its `fetch` (Bun's
 * `export default { port: 3000, fetch }` convention), which a server that
 * serves the handler through {@link fromFetchHandler} does not read: it
 * listens where its own options say. Each with the shape `Bun.serve` takes,
 * and an own property of the export, so a framework's property of the same
 * name is not taken for one (a Hono app's `routes` is its list of routes, an
 * array; an Elysia app's `error` a method of its class).
 */
const BUN_SERVE_OPTIONS: ReadonlyArray<readonly [string, (v: unknown) => boolean]> = [
  ["port", (v) => typeof v === "number" || typeof v === "string"],
  ["hostname", (v) => typeof v === "string"],
  ["unix", (v) => typeof v === "string"],
  ["tls", (v) => typeof v === "object" && v !== null],
  ["development", (v) => typeof v === "boolean" || isRecord(v)],
  ["maxRequestBodySize", (v) => typeof v === "number"],
  ["idleTimeout", (v) => typeof v === "number"],
  ["reusePort", (v) => typeof v === "boolean"],
  ["ipv6Only", (v) => typeof v === "boolean"],
  ["websocket", isRecord],
  ["routes", isRecord],
  ["static", isRecord],
  ["error", (v) => typeof v === "function"],
];

/** The Bun.serve options of {@link BUN_SERVE_OPTIONS} that no flag of tsgi serve or tsgi-dev stands for. */
const UNFLAGGED: ReadonlySet<string> = new Set(["routes", "static", "error", "websocket"]);

/**
 * What an exported `{ fetch }` object also sets for `Bun.serve` that a tsgi
 * command ignores, as a warning naming each (with its value for `port`,
 * `hostname` and `unix`) and what to use instead: the flags, and for
 * `routes`/`static`, `error` and `websocket`, which no flag stands for, what
 * becomes of the requests they were for; `null` when it sets none (or
 * `exported` is no such object).
 * @param command the command whose flags to name (`"tsgi serve"`, `"tsgi-dev"`).
 * @example ignoredServeOptions({ port: 3000, fetch }, "tsgi serve")
 * // "the export's port (3000) is a Bun.serve option, which tsgi serve does not read: give --port 3000 instead (see tsgi serve --help)"
 */
export function ignoredServeOptions(exported: unknown, command: string): string | null {
  if (exported === null || (typeof exported !== "object" && typeof exported !== "function")) return null;
  const o = exported as Record<string, unknown>;
  if (typeof o["fetch"] !== "function") return null;
  // Own properties only: a framework instance's methods (an Elysia app's error(), which registers error classes) are no options.
  const keys = BUN_SERVE_OPTIONS.filter(([k, shaped]) => Object.hasOwn(o, k) && shaped(o[k])).map(([k]) => k);
  if (keys.length === 0) return null;
  const shown = keys.map((k) => (k === "port" || k === "hostname" || k === "unix") && (typeof o[k] === "string" || typeof o[k] === "number") ? `${k} (${String(o[k])})` : k);
  const flags: string[] = [];
  if (typeof o["port"] === "string" || typeof o["port"] === "number") flags.push(`--port ${String(o["port"])}`);
  if (typeof o["hostname"] === "string") flags.push(`--host ${o["hostname"]}`);
  if (typeof o["unix"] === "string") flags.push(`--uds ${o["unix"]}`);
  // routes, static, error and websocket have no flag: say what happens to the requests they were for.
  const unserved = keys.filter((k) => k === "routes" || k === "static");
  const instead: string[] = [];
  if (flags.length) instead.push(`give ${flags.join(" ")} instead`);
  else if (keys.some((k) => !UNFLAGGED.has(k))) instead.push("use its flags instead");
  if (unserved.length) instead.push(`every request goes to fetch(), ${unserved.join(" and ")} included: match those paths in fetch(), or export a router such as a Hono app`);
  if (keys.includes("error")) instead.push("an error fetch() throws is answered 500 and logged, not passed to error(): catch it in fetch()");
  if (keys.includes("websocket")) instead.push("tsgi serves no WebSocket (an upgrade request reaches fetch() as a plain request)");
  return `the export's ${shown.join(", ")} ${keys.length === 1 ? "is a Bun.serve option" : "are Bun.serve options"}, which ${command} does not read: ${instead.join("; ")} (see ${command} --help)`;
}
