/**
 * The validator's state of one response and the checks made against it as
 * the response goes out: the header list checked again when the headers are
 * due, the body bytes counted against the Content-Length, and the
 * Content-Type warnings (wsgiref `check_content_type`; PEP 3333 §The
 * start_response() Callable, §Other HTTP Features). Shared by the
 * `startResponse` / `write()` wrappers and the body wrapper.
 *
 * @module
 */
import type { Environ, ReadonlyResponseHeaders } from "../../spec.ts";
import { fail, TsgiConformanceError } from "./rules.ts";
import { checkHeaders } from "./start-response.ts";

/** Per-request state shared by the wrappers. */
export interface RequestState {
  environ: Environ;
  warn: (m: string) => void;
  started: boolean;
  status: number;
  headers: ReadonlyResponseHeaders | null;
  bodyBytes: number;
  warnedBody: boolean;
  /** The missing Content-Type was reported for the current status and headers. */
  warnedType: boolean;
  /** The body is a file wrapper: a shorter Content-Length sends a prefix of the file (spec.md), not an error. */
  fileBody: boolean;
  /** `write()` calls whose promise has not settled yet. */
  pendingWrites: number;
  /** The header section is due (the first body bytes, a write(), the end of the body): the list was checked again then. */
  headersDue: boolean;
}

/** A status whose response has no content (204, 304, 1xx), named for a warning. */
function noContentStatus(st: RequestState): string | undefined {
  if (st.status === 204 || st.status === 304 || (st.status >= 100 && st.status < 200)) return `a ${st.status} response`;
  return undefined;
}

/** A response whose body bytes the server drops: one with no content, or a HEAD answer. */
export function noBodyExpected(st: RequestState): boolean {
  return st.environ.REQUEST_METHOD === "HEAD" || noContentStatus(st) !== undefined;
}

/** The response's declared Content-Length (the first decimal value in its header list), or undefined. */
export function declaredLength(st: RequestState): number | undefined {
  for (const [k, v] of st.headers ?? []) if (k.toLowerCase() === "content-length" && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

/**
 * The server sends the header section now (spec.md: with the first non-empty
 * chunk, a `write()`, or at the end of an empty body) and checks the list
 * again then, as it may have changed since startResponse (the application
 * may modify it until then): so does the validator, once, with the
 * startResponse rules.
 * @throws TsgiConformanceError (the `header-*` rules).
 */
export function headersDue(st: RequestState): void {
  if (st.headersDue || st.headers === null) return;
  st.headersDue = true;
  try {
    checkHeaders(st.headers, st.status);
  } catch (e) {
    if (!(e instanceof TsgiConformanceError)) throw e;
    fail(e.rule, `${e.message.slice(e.rule.length + 3, e.message.length - e.section.length - 3)}, in a header list changed after startResponse (checked again when the headers are sent)`);
  }
}

export function countBody(st: RequestState, n: number): void {
  if (n === 0) return;
  headersDue(st);
  st.bodyBytes += n;
  warnNoContentType(st);
  // Not for a HEAD answer: spec.md calls the application "as for GET", so GET's body is expected there.
  const why = noContentStatus(st);
  if (why && !st.warnedBody) {
    st.warnedBody = true;
    st.warn(`The application sent body bytes in ${why}, which has no body; the server should drop them`);
  }
  const cl = declaredLength(st);
  if (cl !== undefined && st.bodyBytes > cl && !noBodyExpected(st) && !st.fileBody) {
    fail("body-content-length", `The body is longer (${st.bodyBytes} bytes so far) than its Content-Length (${cl})`);
  }
}

function hasContentType(st: RequestState): boolean {
  return (st.headers ?? []).some(([k]) => k.toLowerCase() === "content-type");
}

/**
 * At `startResponse`: a Content-Type on a 204 / 304 (which have no content),
 * or none on a response that declares content (a `Content-Length` above 0;
 * a HEAD answer included). A response without one is checked again when its
 * first body bytes appear ({@link warnNoContentType}): an empty redirect or
 * 416 needs no Content-Type (RFC 9110 §8.3 asks it of content).
 */
export function checkContentType(st: RequestState): void {
  const code = st.status;
  st.warnedType = false;
  if (code === 204 || code === 304 || code < 200) {
    if (hasContentType(st)) st.warn(`Content-Type header found in a ${code} response, which must not return content`);
  } else if ((declaredLength(st) ?? 0) > 0) {
    warnNoContentType(st);
  }
}

/** Warn, once per response, that a response with content has no Content-Type. */
function warnNoContentType(st: RequestState): void {
  const code = st.status;
  if (st.warnedType || code === 204 || code === 304 || code < 200 || hasContentType(st)) return;
  st.warnedType = true;
  st.warn(`No Content-Type header in a ${code} response`);
}
