/**
 * TSGI environment utilities: a port of Python's `wsgiref.util`
 * (see `docs/toolkit/util.md`).
 *
 * Everything here works on a TSGI {@link Environ} (PEP 3333's environ with
 * `wsgi.*` keys renamed `tsgi.*`) and depends on `src/spec.ts` types only.
 *
 * @module
 */
import type { Environ } from "../spec.ts";
import { fileWrapper } from "../gateway/file-wrapper.ts";
import { TSGI_VERSION } from "../spec.ts";
import { BytesInput, StderrErrorStream, latin1Encode } from "./streams.ts";

export {
  BytesInput,
  StreamInput,
  StderrErrorStream,
  MemoryErrorStream,
  latin1Encode,
  latin1Decode,
  isLatin1,
  checkReadSize,
} from "./streams.ts";

/**
 * The environ keys the URL functions ({@link applicationUri}, {@link requestUri}) read: the parameter
 * type a caller builds when it has no whole environ. An optional key given as `undefined` is absent
 * (so a possibly-undefined value passes under `exactOptionalPropertyTypes`).
 */
export type UrlEnviron = Pick<Environ, "tsgi.url_scheme" | "SERVER_NAME" | "SERVER_PORT"> & {
  HTTP_HOST?: string | undefined;
  SCRIPT_NAME?: string | undefined;
  PATH_INFO?: string | undefined;
  QUERY_STRING?: string | undefined;
};

/**
 * Guess `tsgi.url_scheme` from a CGI-style environ (wsgiref
 * `guess_scheme(environ)`): `"https"` when `environ.HTTPS` is exactly
 * `"yes"`, `"on"` or `"1"` (case-sensitive, as wsgiref), else `"http"`.
 * Useful for gateways over CGI-like protocols (`CGIHandler` uses it).
 */
export function guessScheme(environ: { HTTPS?: unknown; [key: string]: unknown }): "http" | "https" {
  const v = environ.HTTPS;
  return v === "yes" || v === "on" || v === "1" ? "https" : "http";
}

const ALWAYS_SAFE = new Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~");

/**
 * Percent-encode a latin-1 string as Python's `urllib.parse.quote(s, safe,
 * encoding="latin1")`: letters, digits, `_.-~` and the `safe` characters stay,
 * every other character becomes `%XX` (upper-case hex) of its latin-1 byte.
 * @throws TypeError when a character is above U+00FF.
 */
function quote(s: string, safe: string): string {
  let out = "";
  const bytes = latin1Encode(s);
  for (let i = 0; i < bytes.length; i++) {
    const ch = s[i]!;
    if (ALWAYS_SAFE.has(ch) || safe.includes(ch)) out += ch;
    else out += "%" + bytes[i]!.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * The application's base URI (wsgiref `application_uri(environ)`): scheme,
 * host and the percent-encoded `SCRIPT_NAME` (or `/` when it is empty),
 * ignoring `PATH_INFO` and `QUERY_STRING`. Follows PEP 3333 "URL
 * Reconstruction": the host is `HTTP_HOST` when set and non-empty, else
 * `SERVER_NAME` plus `:SERVER_PORT` unless the port is the scheme's default
 * (80 for http, 443 for https).
 *
 * @example applicationUri(env) // "http://127.0.0.1/app"
 * @throws TypeError when `SCRIPT_NAME` is not a latin-1 string.
 */
export function applicationUri(environ: UrlEnviron): string {
  const scheme = environ["tsgi.url_scheme"];
  let url = scheme + "://";
  if (environ.HTTP_HOST) {
    url += environ.HTTP_HOST;
  } else {
    url += environ.SERVER_NAME;
    const port = environ.SERVER_PORT;
    if (scheme === "https") {
      if (port !== "443") url += ":" + port;
    } else if (port !== "80") {
      url += ":" + port;
    }
  }
  url += quote(environ.SCRIPT_NAME || "/", "/");
  return url;
}

/**
 * The full request URI (wsgiref `request_uri(environ, include_query=True)`),
 * by PEP 3333 "URL Reconstruction": {@link applicationUri} plus the
 * percent-encoded `PATH_INFO` (`/;=,` kept), plus `?QUERY_STRING` (raw) when
 * `includeQuery` is true and the query string is non-empty.
 *
 * @param includeQuery append the query string (default `true`).
 * @throws TypeError when `SCRIPT_NAME` or `PATH_INFO` is not a latin-1 string.
 */
export function requestUri(environ: UrlEnviron, includeQuery = true): string {
  let url = applicationUri(environ);
  const pathInfo = quote(environ.PATH_INFO ?? "", "/;=,");
  // applicationUri ended in "/" when SCRIPT_NAME was empty.
  url += environ.SCRIPT_NAME ? pathInfo : pathInfo.slice(1);
  if (includeQuery && environ.QUERY_STRING) url += "?" + environ.QUERY_STRING;
  return url;
}

/** POSIX `posixpath.normpath()` (for {@link shiftPathInfo}'s SCRIPT_NAME). */
function normpath(path: string): string {
  if (path === "") return ".";
  let initial = path.startsWith("/") ? 1 : 0;
  // POSIX keeps exactly two leading slashes; three or more collapse to one.
  if (initial && path.startsWith("//") && !path.startsWith("///")) initial = 2;
  const out: string[] = [];
  for (const comp of path.split("/")) {
    if (comp === "" || comp === ".") continue;
    if (comp !== ".." || (!initial && out.length === 0) || (out.length > 0 && out[out.length - 1] === "..")) {
      out.push(comp);
    } else if (out.length > 0) {
      out.pop();
    }
  }
  const joined = "/".repeat(initial) + out.join("/");
  return joined || ".";
}

/**
 * Whether `normpath(scriptName + "/" + name)` is that string itself for a
 * plain segment `name` (not empty, `.` or `..`): `scriptName` is `""`, or
 * absolute with a single leading slash and no empty, `.` or `..` segment.
 */
function isNormalScriptName(scriptName: string): boolean {
  if (scriptName === "") return true;
  return (
    scriptName.charCodeAt(0) === 47 /* / */ &&
    !scriptName.endsWith("/") &&
    !scriptName.endsWith("/.") &&
    !scriptName.endsWith("/..") &&
    !scriptName.includes("//") &&
    !scriptName.includes("/./") &&
    !scriptName.includes("/../")
  );
}

/**
 * Shift one path segment from `PATH_INFO` to `SCRIPT_NAME` and return it
 * (wsgiref `shift_path_info(environ)`). The environ is modified in place.
 *
 * Exactly wsgiref's rules:
 * - `PATH_INFO` empty or absent: returns `undefined`, environ unchanged.
 * - Empty and `.` segments in the middle of `PATH_INFO` are dropped; the
 *   last segment is kept as is (so a trailing slash survives).
 * - `SCRIPT_NAME` becomes `normpath(SCRIPT_NAME + "/" + name)` (POSIX
 *   normalisation: `..` pops a segment) without a trailing slash, except:
 * - `PATH_INFO` `"/"` (or a name that is empty because `PATH_INFO` ended in
 *   a slash) returns `""` and leaves a trailing slash on `SCRIPT_NAME`, so
 *   `/x` and `/x/` can be told apart during traversal.
 * - `PATH_INFO` `"/."` returns `undefined` and sets `PATH_INFO` to `""`.
 *
 * @example
 * const env = { SCRIPT_NAME: "/foo", PATH_INFO: "/bar/baz" };
 * shiftPathInfo(env); // "bar"; env is now { SCRIPT_NAME: "/foo/bar", PATH_INFO: "/baz" }
 * @returns the shifted segment, `""` for a trailing slash, or `undefined`.
 * @throws TypeError when `PATH_INFO` is non-empty and does not start with
 *   `/` (wsgiref would fail with an IndexError or silently misbehave).
 */
export function shiftPathInfo(environ: { SCRIPT_NAME?: string; PATH_INFO?: string; [key: string]: unknown }): string | undefined {
  const pathInfo = environ.PATH_INFO ?? "";
  if (!pathInfo) return undefined;
  if (!pathInfo.startsWith("/")) {
    throw new TypeError(`shiftPathInfo: PATH_INFO must be empty or start with "/", got ${JSON.stringify(pathInfo)}`);
  }
  // Without splitting and rejoining the whole path when no empty or "." segment is to be dropped
  // before the last one (after one shift that dropped some, none is left), and without
  // normalising the whole SCRIPT_NAME when normpath() would keep it as it is. Traversing a path
  // segment by segment so costs a few native scans per segment; splitting each time cost
  // O(length) in allocations per segment (an 8 KiB PATH_INFO of 4,096 segments walked to its
  // end: 0.5 s).
  const first = pathInfo.indexOf("/", 1);
  if (first > 1 && pathInfo.indexOf("//") === -1 && pathInfo.indexOf("/./") === -1) {
    const name = pathInfo.slice(1, first);
    const scriptName = environ.SCRIPT_NAME ?? "";
    if (isNormalScriptName(scriptName)) {
      // normpath("/x/y" + "/..") is "/x"; normpath("/x/..") is "/", whose trailing slash goes.
      environ.SCRIPT_NAME = name !== ".." ? `${scriptName}/${name}` : scriptName.slice(0, Math.max(0, scriptName.lastIndexOf("/")));
    } else {
      const normal = normpath(`${scriptName}/${name}`);
      environ.SCRIPT_NAME = normal.endsWith("/") ? normal.slice(0, -1) : normal;
    }
    environ.PATH_INFO = pathInfo.slice(first);
    return name;
  }
  const parts = pathInfo.split("/");
  const middle = parts.slice(1, -1).filter((p) => p !== "" && p !== ".");
  const rest = parts.length > 1 ? [parts[0]!, ...middle, parts[parts.length - 1]!] : parts;
  const name = rest[1]!;
  rest.splice(1, 1);

  let scriptName = normpath((environ.SCRIPT_NAME ?? "") + "/" + name);
  if (scriptName.endsWith("/")) scriptName = scriptName.slice(0, -1);
  if (!name && !scriptName.endsWith("/")) scriptName += "/";

  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = rest.join("/");
  // "/." is not stripped above (the last part is kept); report no segment.
  return name === "." ? undefined : name;
}

/**
 * Fill `environ` with trivial defaults for tests (wsgiref
 * `setup_testing_defaults(environ)`), in place, never replacing a key that is
 * present. Returns the same object, typed as a complete {@link Environ}.
 *
 * Defaults (wsgiref's, with `tsgi.*` for `wsgi.*`):
 * `SERVER_NAME` `"127.0.0.1"`, `SERVER_PROTOCOL` `"HTTP/1.0"`, `HTTP_HOST` =
 * `SERVER_NAME`, `REQUEST_METHOD` `"GET"`, `SCRIPT_NAME` `""` and
 * `PATH_INFO` `"/"` (only when both are absent), `tsgi.version` `[1, 0]`,
 * `tsgi.run_once` / `tsgi.multithread` / `tsgi.multiprocess` `false`,
 * `tsgi.input` an empty `BytesInput`, `tsgi.errors` a
 * `StderrErrorStream`, `tsgi.url_scheme` from {@link guessScheme}, and
 * `SERVER_PORT` `"80"` (http) or `"443"` (https).
 *
 * Additions over wsgiref, because the TSGI `Environ` type requires or defines
 * them: `QUERY_STRING` `""`; the missing one of `SCRIPT_NAME` (`""`) /
 * `PATH_INFO` (`""`) when only the other was given;
 * `tsgi.input_terminated` `true`; `tsgi.file_wrapper` `fileWrapper`.
 *
 * Not for real servers: the data is fake.
 */
export function setupTestingDefaults<T extends object = Record<string, unknown>>(
  environ: T = {} as T,
): T & Environ {
  const env = environ as Record<string, unknown>;
  const setdefault = (k: string, v: unknown): void => {
    if (!(k in env)) env[k] = v;
  };
  setdefault("SERVER_NAME", "127.0.0.1");
  setdefault("SERVER_PROTOCOL", "HTTP/1.0");
  setdefault("HTTP_HOST", env["SERVER_NAME"]);
  setdefault("REQUEST_METHOD", "GET");
  if (!("SCRIPT_NAME" in env) && !("PATH_INFO" in env)) {
    env["SCRIPT_NAME"] = "";
    env["PATH_INFO"] = "/";
  }
  setdefault("SCRIPT_NAME", "");
  setdefault("PATH_INFO", "");
  setdefault("QUERY_STRING", "");
  setdefault("tsgi.version", TSGI_VERSION);
  setdefault("tsgi.run_once", false);
  setdefault("tsgi.multithread", false);
  setdefault("tsgi.multiprocess", false);
  setdefault("tsgi.input", new BytesInput());
  setdefault("tsgi.errors", new StderrErrorStream());
  setdefault("tsgi.input_terminated", true);
  setdefault("tsgi.file_wrapper", fileWrapper);
  setdefault("tsgi.url_scheme", guessScheme(env));
  if (env["tsgi.url_scheme"] === "http") setdefault("SERVER_PORT", "80");
  else if (env["tsgi.url_scheme"] === "https") setdefault("SERVER_PORT", "443");
  return environ as T & Environ;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Whether `name` is an HTTP/1.1 hop-by-hop header (wsgiref
 * `is_hop_by_hop(header_name)`, RFC 2616 §13.5.1), case-insensitively:
 * `Connection`, `Keep-Alive`, `Proxy-Authenticate`, `Proxy-Authorization`,
 * `TE`, `Trailers`, `Transfer-Encoding`, `Upgrade`. PEP 3333 forbids
 * applications to send these.
 */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

// The wrapper is the gateway's (the server builds every environ with it);
// wsgiref keeps it in wsgiref.util, so it is exported here too.
export { FileWrapper, fileWrapper, type FileWrapperOptions } from "../gateway/file-wrapper.ts";
