/**
 * The validator's environ checks (wsgiref `check_environ`): required keys,
 * CGI keys as latin-1 strings, `REQUEST_METHOD`, `SCRIPT_NAME` / `PATH_INFO`,
 * `CONTENT_LENGTH`, `SERVER_PROTOCOL`, the `tsgi.*` keys and their types
 * (PEP 3333 §environ Variables, §Input and Error Streams, §Unicode Issues).
 * Public through `tsgi/validate` (`src/toolkit/validate.ts`).
 *
 * @module
 */
import { readSignal } from "../../gateway/signal.ts";
import { isToken } from "../../gateway/response-fields.ts";
import type { Environ } from "../../spec.ts";
import { isLatin1 } from "../streams.ts";
import { defaultWarn, fail, show } from "./rules.ts";

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE", "CONNECT"]);
const REQUIRED_KEYS = [
  "REQUEST_METHOD",
  "SCRIPT_NAME",
  "PATH_INFO",
  "QUERY_STRING",
  "SERVER_NAME",
  "SERVER_PORT",
  "SERVER_PROTOCOL",
  "tsgi.version",
  "tsgi.url_scheme",
  "tsgi.input",
  "tsgi.errors",
  "tsgi.multithread",
  "tsgi.multiprocess",
  "tsgi.run_once",
] as const;
/** Keys the server derives from the request or its connection (mod_ssl's SSL_* from the TLS session and certificate). */
const REQUEST_KEY = /^(HTTP_|SERVER_|REMOTE_|REQUEST_|SCRIPT_NAME$|PATH_INFO$|QUERY_STRING$|CONTENT_|AUTH_TYPE$|HTTPS$|SSL_)/;

/**
 * Check an environ as the validator does on each request (wsgiref
 * `check_environ`). Exported for servers' own tests.
 * @param warn receives the warning for an unknown `REQUEST_METHOD`
 *   (default: `consola.warn`, tagged `tsgi:validate`).
 * @throws TsgiConformanceError for the first violated `environ-*` rule.
 */
export function checkEnviron(environ: unknown, warn: (m: string) => void = defaultWarn): asserts environ is Environ {
  if (typeof environ !== "object" || environ === null || Array.isArray(environ)) {
    fail("environ-type", `environ must be a plain object, got ${show(environ)}`);
  }
  const env = environ as Record<string, unknown>;
  for (const key of REQUIRED_KEYS) {
    if (!(key in env)) fail("environ-required", `environ is missing the required key ${JSON.stringify(key)}`);
  }
  for (const key of ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"]) {
    if (env[key] !== undefined) fail("environ-content-headers", `environ must not have the key ${key} (use ${key.slice(5)})`);
  }
  const required: ReadonlySet<string> = new Set(REQUIRED_KEYS);
  for (const key of Object.keys(env)) {
    if (key.includes(".")) continue; // an extension; its type is not ours to check
    const v = env[key];
    // spec.md: an optional key set to undefined is absent (the Environ type allows it: `HTTP_*: string | undefined`).
    if (v === undefined && !required.has(key)) continue;
    if (typeof v !== "string") fail("environ-cgi-string", `environ[${JSON.stringify(key)}] must be a string, got ${show(v)}`);
    if (REQUEST_KEY.test(key) && !isLatin1(v)) {
      fail("environ-latin1", `environ[${JSON.stringify(key)}] holds a character above U+00FF: ${JSON.stringify(v)}`);
    }
  }
  const method = env["REQUEST_METHOD"] as string;
  if (!method || !isToken(method)) fail("environ-request-method", `REQUEST_METHOD must be a non-empty token, got ${show(method)}`);
  if (!KNOWN_METHODS.has(method)) warn(`Unknown REQUEST_METHOD: ${JSON.stringify(method)}`);

  const version = env["tsgi.version"];
  if (!Array.isArray(version) || version.length !== 2 || !version.every((n) => Number.isInteger(n))) {
    fail("environ-version", `tsgi.version must be an array of two integers, got ${show(version)}`);
  }
  const scheme = env["tsgi.url_scheme"];
  if (scheme !== "http" && scheme !== "https") fail("environ-url-scheme", `tsgi.url_scheme must be "http" or "https", got ${show(scheme)}`);

  const input = env["tsgi.input"] as Record<string | symbol, unknown> | null;
  for (const m of ["read", "readline", "readlines", Symbol.asyncIterator] as const) {
    if (typeof input !== "object" || input === null || typeof input[m] !== "function") {
      fail("environ-input", `tsgi.input (${show(input)}) has no ${String(m === Symbol.asyncIterator ? "[Symbol.asyncIterator]" : m)} method`);
    }
  }
  // The optional extensions (spec.md "Server extension APIs"): absent, or methods.
  for (const m of ["read1", "setHundredContinueResponseHeaders", "sendHundredContinueResponse"] as const) {
    const v = (input as Record<string, unknown>)[m];
    if (v !== undefined && typeof v !== "function") fail("environ-input", `tsgi.input.${m} is optional, but when present it must be a method, got ${show(v)}`);
  }
  const errors = env["tsgi.errors"] as Record<string, unknown> | null;
  for (const m of ["write", "writelines", "flush"]) {
    if (typeof errors !== "object" || errors === null || typeof errors[m] !== "function") {
      fail("environ-errors", `tsgi.errors (${show(errors)}) has no ${m} method`);
    }
  }
  for (const key of ["tsgi.multithread", "tsgi.multiprocess", "tsgi.run_once"]) {
    if (typeof env[key] !== "boolean") fail("environ-flags", `${key} must be a boolean, got ${show(env[key])}`);
  }

  const scriptName = env["SCRIPT_NAME"] as string;
  if (scriptName && !scriptName.startsWith("/")) fail("environ-script-name", `SCRIPT_NAME doesn't start with "/": ${JSON.stringify(scriptName)}`);
  if (scriptName === "/") fail("environ-script-name", `SCRIPT_NAME cannot be "/"; it should be "" and PATH_INFO should be "/"`);
  const pathInfo = env["PATH_INFO"] as string;
  // spec.md: PATH_INFO is "*" for OPTIONS * (the asterisk-form, RFC 9112 §3.2.4).
  const asterisk = pathInfo === "*" && env["REQUEST_METHOD"] === "OPTIONS";
  if (pathInfo && !pathInfo.startsWith("/") && !asterisk) fail("environ-path-info", `PATH_INFO doesn't start with "/": ${JSON.stringify(pathInfo)}`);
  // wsgiref: "One of SCRIPT_NAME or PATH_INFO are required". A CONNECT's authority-form target has no path.
  if (!scriptName && !pathInfo && env["REQUEST_METHOD"] !== "CONNECT") {
    fail("environ-path-info", `SCRIPT_NAME and PATH_INFO are both empty; PATH_INFO should be at least "/" when SCRIPT_NAME is empty`);
  }
  const cl = env["CONTENT_LENGTH"];
  if (cl !== undefined && cl !== "" && !/^\d+$/.test(cl as string)) fail("environ-content-length", `Invalid CONTENT_LENGTH: ${show(cl)}`);
  if (!/^HTTP\/\d\.\d$/.test(env["SERVER_PROTOCOL"] as string)) {
    fail("environ-server-protocol", `SERVER_PROTOCOL must look like "HTTP/1.1", got ${show(env["SERVER_PROTOCOL"])}`);
  }
  // PEP 3333 "environ Variables": SERVER_NAME and SERVER_PORT "can never be empty strings"; URL reconstruction needs them.
  for (const key of ["SERVER_NAME", "SERVER_PORT"]) {
    if (env[key] === "") fail("environ-server-name", `${key} must not be empty (PEP 3333); a server without a host or port, such as one on a Unix socket, gives its host name and the scheme's default port`);
  }

  const opt = (key: string, ok: (v: unknown) => boolean, what: string, v = env[key]): void => {
    if (key in env && v !== undefined && !ok(v)) fail("environ-optional-types", `${key} must be ${what}, got ${show(v)}`);
  };
  opt("tsgi.input_terminated", (v) => typeof v === "boolean", "a boolean");
  opt("tsgi.file_wrapper", (v) => typeof v === "function", "a function");
  opt("tsgi.posthooks", (v) => Array.isArray(v), "an array");
  // Read as tsgi's own read: tsgi-dev's accessor, which warns an app that reads it without asking, knows it at no cost.
  opt("tsgi.signal", (v) => typeof AbortSignal === "function" && v instanceof AbortSignal, "an AbortSignal", readSignal(env as Environ));
  opt("tsgi.minimum_write_chunk_size", (v) => typeof v === "number" && v >= 0, "a non-negative number");
  opt("tsgi.headers_raw", isFieldLines, "an array of strings, flat [name, value, ...] (an even count; not eventlet's [name, value] pairs)");
}

/** `tsgi.headers_raw`'s shape (spec.md "Server extension APIs"): flat `[name, value, ...]`, every item a string. */
function isFieldLines(v: unknown): boolean {
  if (!Array.isArray(v) || v.length % 2 !== 0) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== "string") return false;
  return true;
}
