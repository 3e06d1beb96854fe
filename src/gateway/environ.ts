/**
 * Building the request environ (PEP 3333 "environ Variables") from a parsed
 * request. Shared by the TCP server and the fetch bridge, so both produce the
 * same environ for the same request.
 * @module
 */
import { COMMON_FIELD_SPELLINGS, ownCopy } from "../http/intern.ts";
import { TSGI_VERSION, type Environ, type ErrorStream, type FileWrapperFactory, type InputStream } from "../spec.ts";

/** What {@link buildEnviron} needs to know about one request. */
export interface EnvironSource {
  /** Method token as sent. */
  method: string;
  /** Raw request-target (origin-form, absolute-form, authority-form or `*`). */
  target: string;
  /** `"HTTP/1.0"` or `"HTTP/1.1"`. */
  version: string;
  /** Field lines, flat `[name, value, ...]`, latin-1 strings. */
  fields: readonly string[];
  /** Client address, or `""` when unknown (Unix sockets). */
  remoteAddr: string;
  /** Client port, or 0 when unknown. */
  remotePort: number;
  /** Server host name (`SERVER_NAME`). */
  serverName: string;
  /** Server port (`SERVER_PORT`). */
  serverPort: number;
  /** `"http"` or `"https"`. */
  urlScheme: string;
  /** `tsgi.input`. */
  input: InputStream;
  /** `tsgi.errors`. */
  errors: ErrorStream;
}

/** Server-wide environ settings. */
export interface EnvironDefaults {
  /** `SERVER_SOFTWARE`. */
  serverSoftware: string;
  /** `tsgi.multithread`. Default false (one event loop). */
  multithread?: boolean;
  /** `tsgi.multiprocess`. Default false; true under workers. */
  multiprocess?: boolean;
  /** `tsgi.file_wrapper`, when the server offers one. */
  fileWrapper?: FileWrapperFactory | undefined;
  /** `SCRIPT_NAME` prefix (the mount point, no trailing slash). Default `""`. */
  scriptName?: string;
  /**
   * Extra keys for every environ (eventlet/gevent `environ`), with gevent's
   * precedence: they replace the server-level keys ({@link SERVER_LEVEL_KEYS}:
   * `SERVER_SOFTWARE`, `tsgi.errors`, `tsgi.multiprocess`, ...) and add new
   * ones, but never replace what comes from the request itself (method, path,
   * fields, `tsgi.input`, `tsgi.url_scheme`, `tsgi.posthooks`, ...).
   */
  extra?: Record<string, unknown> | undefined;
}

/**
 * The environ key for a request field name, or `null` when the field is not
 * mapped: names holding `_` are dropped so that `X-Foo_Bar` can never pose as
 * `X-Foo-Bar` (the CGI mapping folds `-` to `_`). `Content-Type` and
 * `Content-Length` map to the CGI keys without `HTTP_` (PEP 3333).
 */
export function environKey(fieldName: string): string | null {
  // Common names as most clients spell them: compared without hashing (a
  // field name sliced from a request head is a fresh string, which a Map
  // lookup would hash every time).
  const row = COMMON_KEYS[fieldName.length];
  if (row !== undefined) {
    for (let i = 0; i < row.length; i += 2) if (row[i] === fieldName) return row[i + 1]!;
  }
  const cached = keyCache.get(fieldName);
  if (cached !== undefined) return cached;
  // Field names are the clients' own: only short ones are remembered (a name may be as long as
  // maxHeaderBytes: 2,048 of 60 kB each, name and key, held about 250 MB for the process's life),
  // and a full cache starts again, so made-up names cannot keep the real ones out of it.
  if (fieldName.length > KEY_CACHE_NAME_MAX) return computeKey(fieldName);
  // Remembered under a copy of its own: the name is a slice of the request head's string, which the
  // runtime shares rather than copies past 8 characters, so the slice (and a key made from it)
  // would hold the whole head (2,048 short names sent with a 60 kB field: about 125 MB).
  const own = ownCopy(fieldName);
  const key = computeKey(own);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(own, key);
  return key;
}
/** Environ keys by field name, for names {@link COMMON_KEYS} does not hold; at most {@link KEY_CACHE_MAX}. */
const keyCache = new Map<string, string | null>();
const KEY_CACHE_MAX = 2048;
/** Longest field name {@link keyCache} keeps (characters); `Access-Control-Request-Headers` is 30. */
const KEY_CACHE_NAME_MAX = 64;

function computeKey(fieldName: string): string | null {
  if (fieldName.includes("_")) return null;
  const upper = fieldName.toUpperCase().replaceAll("-", "_");
  return upper === "CONTENT_TYPE" || upper === "CONTENT_LENGTH" ? upper : `HTTP_${upper}`;
}

/** `COMMON_KEYS[name.length]` = flat `[name, key, ...]` of the common field names the parser interns, by length. */
const COMMON_KEYS: string[][] = [];
for (const spelling of COMMON_FIELD_SPELLINGS) (COMMON_KEYS[spelling.length] ??= []).push(spelling, computeKey(spelling)!);

const HEX: Record<string, number> = {};
for (let i = 0; i < 16; i++) {
  HEX[i.toString(16)] = i;
  HEX[i.toString(16).toUpperCase()] = i;
}

/**
 * Percent-decode a path into a latin-1 string: each `%XX` becomes the char
 * with code 0xXX (one byte), other chars are kept. Malformed escapes are kept
 * as they are. This is PEP 3333's PATH_INFO: bytes as a native string.
 */
export function decodePath(path: string): string {
  let i = path.indexOf("%");
  if (i === -1) return path;
  let out = path.slice(0, i);
  const n = path.length;
  while (i < n) {
    const c = path[i]!;
    if (c === "%" && i + 2 < n) {
      const h = HEX[path[i + 1]!];
      const l = HEX[path[i + 2]!];
      if (h !== undefined && l !== undefined) {
        out += String.fromCharCode(h * 16 + l);
        i += 3;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

/**
 * Split a request-target into its path and query (RFC 9112 §3.2). For the
 * absolute-form the authority is returned too (RFC 9112 §3.2.2: it replaces
 * Host); for `*` (asterisk-form) the path is `*`; for the authority-form
 * (CONNECT) the path is empty.
 */
export function splitTarget(target: string): { path: string; query: string; authority: string | null } {
  let rest = target;
  let authority: string | null = null;
  if (rest.charCodeAt(0) !== 47 /* / */ && rest !== "*") {
    const scheme = rest.indexOf("://");
    if (scheme > 0) {
      const start = scheme + 3;
      let end = start;
      while (end < rest.length && rest[end] !== "/" && rest[end] !== "?") end++;
      authority = rest.slice(start, end);
      rest = rest.slice(end);
      if (rest === "" || rest[0] === "?") rest = `/${rest}`;
    } else {
      return { path: "", query: "", authority: rest };
    }
  }
  const q = rest.indexOf("?");
  if (q === -1) return { path: rest, query: "", authority };
  return { path: rest.slice(0, q), query: rest.slice(q + 1), authority };
}

/**
 * Build the environ for one request.
 *
 * CGI keys follow PEP 3333: `PATH_INFO` percent-decoded (latin-1 bytes),
 * `QUERY_STRING` raw, `REQUEST_URI` the raw request-target, `HTTP_*` one key
 * per field name with repeats joined by `", "` (`"; "` for Cookie; see {@link environKey}).
 * `SCRIPT_NAME` is `defaults.scriptName`; when the path starts with it, that
 * prefix is moved out of `PATH_INFO`. `tsgi.headers_raw` is `src.fields`
 * itself (eventlet's `headers_raw`), not a copy.
 */
export function buildEnviron(src: EnvironSource, defaults: EnvironDefaults): Environ {
  const target = src.target;
  let path: string;
  let query = "";
  let authority: string | null = null;
  if (target.charCodeAt(0) === 47 /* / */) {
    // origin-form, by far the most common: no object for the split.
    const q = target.indexOf("?");
    if (q === -1) path = target;
    else {
      path = target.slice(0, q);
      query = target.slice(q + 1);
    }
  } else {
    ({ path, query, authority } = splitTarget(target));
  }
  let pathInfo = decodePath(path);
  const scriptName = defaults.scriptName ?? "";
  if (scriptName && (pathInfo === scriptName || pathInfo.startsWith(`${scriptName}/`))) {
    pathInfo = pathInfo.slice(scriptName.length);
  }
  const environ: Environ = {
    REQUEST_METHOD: src.method,
    SCRIPT_NAME: scriptName,
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    SERVER_NAME: src.serverName,
    SERVER_PORT: portString(src.serverPort),
    SERVER_PROTOCOL: src.version,
    REMOTE_ADDR: src.remoteAddr,
    REMOTE_PORT: portString(src.remotePort),
    REQUEST_URI: target,
    SERVER_SOFTWARE: defaults.serverSoftware,
    GATEWAY_INTERFACE: "CGI/1.1",
    "tsgi.version": TSGI_VERSION,
    "tsgi.url_scheme": src.urlScheme,
    "tsgi.input": src.input,
    "tsgi.errors": src.errors,
    "tsgi.multithread": defaults.multithread ?? false,
    "tsgi.multiprocess": defaults.multiprocess ?? false,
    "tsgi.run_once": false,
    "tsgi.input_terminated": true,
    "tsgi.posthooks": [],
    "tsgi.headers_raw": src.fields,
  };
  if (defaults.fileWrapper) environ["tsgi.file_wrapper"] = defaults.fileWrapper;
  const fields = src.fields;
  for (let i = 0; i < fields.length; i += 2) {
    const key = environKey(fields[i]!);
    if (key === null) continue;
    const prev = environ[key];
    // Cookie is not a list field: its lines join with "; " (RFC 6265 §5.4, RFC 9113 §8.2.3).
    environ[key] = prev === undefined ? fields[i + 1]! : `${prev as string}${key === "HTTP_COOKIE" ? "; " : ", "}${fields[i + 1]!}`;
  }
  if (authority !== null && authority !== "" && src.method !== "CONNECT") {
    environ["HTTP_HOST"] = authority;
  }
  const extra = defaults.extra;
  if (extra) for (const k in extra) if (SERVER_LEVEL_KEYS.has(k) || !(k in environ)) environ[k] = extra[k];
  return environ;
}

/**
 * A copy of `environ`, just made by {@link buildEnviron} and not yet given to
 * any application code, to make the environs of later requests from with
 * {@link environFrom}: its `tsgi.input` replaced with `input` (a placeholder,
 * so that the copy holds no request's body) and its `tsgi.posthooks` with an
 * empty frozen list, keys in the same order.
 */
export function environTemplate(environ: Environ, input: InputStream): Environ {
  const template: Environ = { ...environ };
  template["tsgi.input"] = input;
  template["tsgi.posthooks"] = NO_POSTHOOKS;
  return template;
}
const NO_POSTHOOKS = Object.freeze([]) as unknown as [];

/**
 * The environ {@link buildEnviron} would make for a request whose
 * {@link EnvironSource} and {@link EnvironDefaults} are, but for `input`, the
 * ones `template` ({@link environTemplate}) was made from: a keep-alive
 * connection's head repeated byte for byte, from the same client, with the
 * same `tsgi.errors`. A new object (PEP 3333: the application may change its
 * environ) with `template`'s keys and values in its order, its own
 * `tsgi.input` and a new `tsgi.posthooks` list. About 100 ns less than
 * {@link buildEnviron} for wrk's GET (one copy rather than an object literal,
 * a target split and a loop over the fields).
 */
export function environFrom(template: Environ, input: InputStream): Environ {
  const environ: Environ = { ...template };
  environ["tsgi.input"] = input;
  environ["tsgi.posthooks"] = [];
  return environ;
}

/**
 * The environ keys that describe the server rather than the request: the
 * `environ` option may replace these (gevent `WSGIServer.base_env`, then
 * `environ.update(...)`, then the request's own keys on top).
 */
export const SERVER_LEVEL_KEYS: ReadonlySet<string> = new Set([
  "SERVER_SOFTWARE",
  "SERVER_NAME",
  "SERVER_PORT",
  "GATEWAY_INTERFACE",
  "tsgi.version",
  "tsgi.errors",
  "tsgi.multithread",
  "tsgi.multiprocess",
  "tsgi.run_once",
  "tsgi.file_wrapper",
]);

/** A direct-mapped cache of `String(port)` (1024 slots), so that a request does not format its ports again. */
const portKeys = new Int32Array(1024).fill(-1);
const portValues = new Array<string>(1024).fill("");
function portString(port: number): string {
  const slot = port & 1023;
  if (portKeys[slot] === port) return portValues[slot]!;
  const text = String(port);
  if (Number.isInteger(port) && port >= 0 && port <= 0x7fffffff) {
    portKeys[slot] = port;
    portValues[slot] = text;
  }
  return text;
}

/**
 * Check an `environ` option (the tsgi server's, the fetch bridge's) once,
 * when the server is made: its CGI variables (keys without a `.`) go into
 * every request's environ, where each string is a latin-1 string (spec.md
 * "environ variables"; PEP 3333 "Unicode Issues"). Keys with a `.` are
 * extensions, not checked (as `validator()` does not).
 * @param option the option's full name, for the message (`"server option environ"`).
 * @throws RangeError naming the key when a string value holds a character above U+00FF.
 */
export function checkExtraEnviron(extra: Record<string, unknown> | null | undefined, option: string): void {
  if (extra == null) return;
  // for...in, as buildEnviron copies the option: a key inherited from a prototype (Object.create(defaults)) reaches the environ too.
  for (const key in extra) {
    const value = extra[key];
    // eslint-disable-next-line no-control-regex
    if (key.includes(".") || typeof value !== "string" || !/[^\u0000-\u00ff]/.test(value)) continue;
    throw new RangeError(
      `${option}: ${JSON.stringify(key)} holds a character above U+00FF (${JSON.stringify(value)}), but every environ string is latin-1, one character per byte (TSGI 1.0 "environ variables"); give text as its UTF-8 bytes, Buffer.from(text, "utf8").toString("latin1"), as the server does for request values`,
    );
  }
}

/**
 * A mount point as `SCRIPT_NAME` must be (PEP 3333): `""` or a path starting
 * with `/`, without a trailing `/` (`/app/` → `/app`, `/` → `""`).
 * @param option the option's name, for the message.
 * @throws RangeError when `value` is not a string, or neither `""` nor a path starting with `/`.
 */
export function mountPoint(value: unknown, option: string): string {
  if (typeof value !== "string" || (value !== "" && !value.startsWith("/"))) {
    throw new RangeError(`${option} must be "" or a path starting with "/", such as "/app", got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, "");
}
