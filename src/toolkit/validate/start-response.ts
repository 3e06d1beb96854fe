/**
 * The validator's checks of `startResponse`'s arguments: the status line
 * (wsgiref `check_status`), the header list (wsgiref `check_headers`, with
 * the tsgi server's hop-by-hop list and its Content-Length rule) and the
 * header-value whitespace warning (PEP 3333 §The start_response() Callable,
 * §Other HTTP Features, §Handling the Content-Length Header). Public through
 * `tsgi/validate` (`src/toolkit/validate.ts`).
 *
 * @module
 */
import { isHopByHopFor } from "../../gateway/hop-by-hop.ts";
import { contentLengthValue, isToken } from "../../gateway/response-fields.ts";
import type { ResponseHeaders } from "../../spec.ts";
import { isLatin1 } from "../streams.ts";
import { defaultWarn, fail, show } from "./rules.ts";

const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
  401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
  426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);
// eslint-disable-next-line no-control-regex
const VALUE_BAD = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const STATUS_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Check a status line argument (wsgiref `check_status`).
 * @param warn receives the warning for an unregistered status code
 *   (default: `consola.warn`, tagged `tsgi:validate`).
 * @returns the numeric status code.
 * @throws TsgiConformanceError (`status-type`, `status-format`).
 */
export function checkStatus(status: unknown, warn: (m: string) => void = defaultWarn): number {
  if (typeof status !== "string") fail("status-type", `Status must be a string, got ${show(status)}`);
  if (/^1\d\d /.test(status)) {
    fail("status-format", `Status ${JSON.stringify(status)} is interim (1xx), never a final response (RFC 9110 §15.2; TSGI 1.0 "status")`);
  }
  if (!/^[2-5]\d\d /.test(status)) {
    fail("status-format", `Status must be three digits (the first 2-5), a space and a reason phrase, got ${JSON.stringify(status)}`);
  }
  if (STATUS_CTL.test(status)) fail("status-format", `Status holds a control character: ${JSON.stringify(status)}`);
  if (!isLatin1(status)) fail("status-format", `Status holds a character above U+00FF: ${JSON.stringify(status)}`);
  const code = Number(status.slice(0, 3));
  if (!KNOWN_STATUS.has(code)) warn(`Unusual status code ${code} in ${JSON.stringify(status)}`);
  // spec.md says so without a MUST, and RFC 9110's reason-phrase allows it: a warning.
  if (/^[ \t]|[ \t]$/.test(status.slice(4))) {
    warn(`Status ${JSON.stringify(status)}: the reason phrase has surrounding whitespace, which TSGI 1.0 "status" says it has not`);
  }
  return code;
}

/**
 * `Connection: close` (the one option, any case): an application asking
 * the server to close the connection after a final response, which spec.md
 * allows (the server honours it, as gevent's does; `fromFetchHandler`
 * passes a fetch `Response`'s on, as `Bun.serve` honours it).
 */
function asksClose(name: string, value: string): boolean {
  return name.length === 10 && name.toLowerCase() === "connection" && /^[ \t]*close[ \t]*$/i.test(value);
}

/**
 * Check a response header list (wsgiref `check_headers`). The hop-by-hop
 * fields are the tsgi server's: `Connection`, `Keep-Alive`,
 * `Transfer-Encoding`, `TE`, `Upgrade`, `Trailer`, `Trailers`,
 * `Proxy-Connection` and `Proxy-Authorization` (not `Proxy-Authenticate`,
 * which a 407 MUST carry), with `Upgrade` allowed on a 426, which MUST carry it (RFC 9110
 * §15.5.22), and `Connection: close` (that option alone) on a final
 * response, which asks the server to close the connection after it
 * (spec.md; wsgiref refuses it); wsgiref's list is RFC 2616's.
 * @param status the response's status code, when the list is a response's (for the 426 rule).
 * @throws TsgiConformanceError (`headers-type`, `header-item`,
 *   `header-name`, `header-status`, `header-value`, `header-hop-by-hop`,
 *   `header-content-length`).
 */
export function checkHeaders(headers: unknown, status?: number): asserts headers is ResponseHeaders {
  if (!Array.isArray(headers)) fail("headers-type", `Headers must be an array, got ${show(headers)}`);
  for (const item of headers) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || typeof item[1] !== "string") {
      fail("header-item", `Each header must be a [name, value] array of two strings, got ${show(item)}${Array.isArray(item) ? " " + JSON.stringify(item.map(show)) : ""}`);
    }
    const [name, value] = item as [string, string];
    if (name.toLowerCase() === "status") {
      fail("header-status", `The Status header cannot be used; it conflicts with CGI, and the status is given to startResponse (value: ${JSON.stringify(value)})`);
    }
    if (name.includes(":")) fail("header-name", `Header names may not contain ":": ${JSON.stringify(name)}`);
    if (/\s/.test(name)) fail("header-name", `Header names may not contain whitespace: ${JSON.stringify(name)}`);
    if (!isToken(name)) fail("header-name", `Bad header name (not an RFC 9110 token): ${JSON.stringify(name)}`);
    const bad = VALUE_BAD.exec(value);
    if (bad) fail("header-value", `Bad header value for ${name}: ${JSON.stringify(value)} (bad character ${JSON.stringify(bad[0])})`);
    if (!isLatin1(value)) fail("header-value", `Header value for ${name} holds a character above U+00FF: ${JSON.stringify(value)}`);
    if (isHopByHopFor(name, status ?? 0) && !(status !== undefined && status >= 200 && asksClose(name, value))) {
      fail("header-hop-by-hop", `Hop-by-hop header "${name}: ${value}" not allowed from an application`);
    }
  }
  checkContentLength(headers as ResponseHeaders);
}

/**
 * spec.md "Handling the Content-Length header": a `Content-Length` value MUST
 * be a decimal integer, and repeated fields MUST agree (RFC 9110 §8.6). The
 * value is read by the server's own rule ({@link contentLengthValue}: 1 to 15
 * digits, so exact as a number), so what passes here the server takes.
 * @throws TsgiConformanceError (`header-content-length`).
 */
function checkContentLength(headers: ResponseHeaders): void {
  let first: string | undefined;
  let declared = -1;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== "content-length") continue;
    let n: number;
    try {
      n = contentLengthValue(value, -1);
    } catch {
      fail("header-content-length", `Content-Length must be a decimal integer of 1 to 15 digits (as the server takes it), got ${JSON.stringify(value)}`);
    }
    if (declared !== -1 && n !== declared) {
      fail("header-content-length", `Repeated Content-Length values disagree: ${JSON.stringify(first)} and ${JSON.stringify(value)}`);
    }
    first ??= value;
    declared = n;
  }
}

/**
 * spec.md "headers": values SHOULD have no leading or trailing whitespace.
 * The server sends them as they are, but a field value has none in HTTP
 * (RFC 9110 §5.5): the client strips it, and reads another value than the
 * one the application set. A warning, as for the reason phrase.
 */
export function warnHeaderWhitespace(headers: ResponseHeaders, warn: (m: string) => void): void {
  for (const [name, value] of headers) {
    if (/^[ \t]|[ \t]$/.test(value)) {
      warn(`Header value for ${name} ${JSON.stringify(value)} has surrounding whitespace, which clients strip (RFC 9110 §5.5); TSGI 1.0 "headers" says values SHOULD have none`);
    }
  }
}
