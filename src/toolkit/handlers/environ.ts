/**
 * The CGI environment as TSGI native strings (wsgiref
 * `handlers.read_environ()`).
 * @module
 */
import { latin1Decode } from "../streams.ts";

const REQUEST_VARS = new Set([
  "SCRIPT_NAME",
  "PATH_INFO",
  "QUERY_STRING",
  "REQUEST_METHOD",
  "AUTH_TYPE",
  "CONTENT_TYPE",
  "CONTENT_LENGTH",
  "HTTPS",
  "REMOTE_USER",
  "REMOTE_IDENT",
]);

function needsTranscode(k: string): boolean {
  return (
    REQUEST_VARS.has(k) ||
    k.startsWith("HTTP_") ||
    k.startsWith("SSL_") ||
    (k.startsWith("REDIRECT_") && needsTranscode(k.slice(9)))
  );
}

function utf8AsLatin1(v: string): string {
  return latin1Decode(new TextEncoder().encode(v));
}

/**
 * Read the CGI environment as TSGI native strings (wsgiref
 * `read_environ()`): a new object with every defined variable of `env`,
 * where the variables that come from the request (`SCRIPT_NAME`,
 * `PATH_INFO`, `QUERY_STRING`, `REQUEST_METHOD`, `AUTH_TYPE`,
 * `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTPS`, `REMOTE_USER`, `REMOTE_IDENT`,
 * `HTTP_*`, `SSL_*`, and `REDIRECT_` + any of those) are transcoded to
 * "bytes in unicode": the runtime decoded the environment's bytes as UTF-8,
 * so they are re-encoded as UTF-8 and each byte becomes one latin-1
 * character (PEP 3333 "Unicode Issues"). Other variables are copied as is.
 *
 * On `win32` it follows wsgiref's server sniffing: values are kept as is
 * when `SERVER_SOFTWARE` starts with `apache/`, and transcoded from UTF-8
 * otherwise (wsgiref uses the ANSI code page for unknown servers; this
 * assumes UTF-8).
 *
 * Limitation: bytes that are not valid UTF-8 were already replaced with
 * U+FFFD by the runtime and cannot be recovered (Python uses
 * `surrogateescape`).
 *
 * @param env the environment (default `process.env`).
 * @param platform `process.platform` value (default: the current one).
 */
export function readEnviron(
  env: Record<string, string | undefined> = process.env,
  platform: string = process.platform,
): Record<string, string> {
  const out: Record<string, string> = {};
  const software = (env["SERVER_SOFTWARE"] ?? "").toLowerCase();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (!needsTranscode(k)) {
      out[k] = v;
    } else if (platform === "win32" && software.startsWith("apache/")) {
      out[k] = v; // Apache mod_cgi writes bytes-as-latin-1 to the Unicode environ.
    } else {
      out[k] = utf8AsLatin1(v);
    }
  }
  return out;
}
