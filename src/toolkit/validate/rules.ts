/**
 * The validator's rules and how it reports them: the PEP 3333 {@link SECTIONS},
 * every rule in {@link RULES}, {@link TsgiConformanceError} (wsgiref raises
 * `AssertionError`), and the helpers every check uses to fail and to show the
 * offending value. Public through `tsgi/validate` (`src/toolkit/validate.ts`).
 *
 * @module
 */
import { consola } from "consola";
import { describe, showValue, unboxed } from "../../gateway/response-fields.ts";

/** PEP 3333 section titles used in {@link TsgiConformanceError.section}. */
export const SECTIONS = {
  spec: "PEP 3333 §Specification Details",
  environ: "PEP 3333 §environ Variables",
  streams: "PEP 3333 §Input and Error Streams",
  startResponse: "PEP 3333 §The start_response() Callable",
  write: "PEP 3333 §The write() Callable",
  buffering: "PEP 3333 §Buffering and Streaming",
  unicode: "PEP 3333 §Unicode Issues",
  http: "PEP 3333 §Other HTTP Features",
  contentLength: "PEP 3333 §Handling the Content-Length Header",
} as const;

/**
 * Every rule the validator enforces: id → `[section, side, summary]`. The id
 * is {@link TsgiConformanceError.rule}; `side` says who breaks it
 * (`"server"`, `"application"` or `"both"`).
 */
export const RULES = {
  "app-args": [SECTIONS.spec, "server", "the application is called with exactly two arguments (environ, startResponse)"],
  "start-response-callable": [SECTIONS.spec, "server", "startResponse is a function"],
  "environ-type": [SECTIONS.environ, "server", "environ is a plain object (not null, not an array)"],
  "environ-required": [SECTIONS.environ, "server", "required environ keys are present"],
  "environ-content-headers": [SECTIONS.environ, "server", "no HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH keys (use CONTENT_TYPE / CONTENT_LENGTH)"],
  "environ-cgi-string": [SECTIONS.environ, "server", "CGI keys (no '.') have string values (an optional one may be undefined: absent)"],
  "environ-latin1": [SECTIONS.unicode, "server", "request-derived CGI values are latin-1 native strings"],
  "environ-request-method": [SECTIONS.environ, "server", "REQUEST_METHOD is a non-empty token"],
  "environ-version": [SECTIONS.environ, "server", "tsgi.version is an array of two integers"],
  "environ-url-scheme": [SECTIONS.environ, "server", "tsgi.url_scheme is 'http' or 'https'"],
  "environ-input": [SECTIONS.streams, "server", "tsgi.input has read, readline, readlines and async iteration"],
  "environ-errors": [SECTIONS.streams, "server", "tsgi.errors has write, writelines and flush"],
  "environ-flags": [SECTIONS.environ, "server", "tsgi.multithread, tsgi.multiprocess and tsgi.run_once are booleans"],
  "environ-script-name": [SECTIONS.environ, "server", "SCRIPT_NAME is empty or starts with '/', and is not '/'"],
  "environ-path-info": [SECTIONS.environ, "server", "PATH_INFO is empty or starts with '/' ('*' for OPTIONS *), and is not empty when SCRIPT_NAME is (except for CONNECT)"],
  "environ-content-length": [SECTIONS.environ, "server", "CONTENT_LENGTH, when non-empty, is a non-negative integer"],
  "environ-server-protocol": [SECTIONS.environ, "server", "SERVER_PROTOCOL looks like HTTP/x.y"],
  "environ-server-name": [SECTIONS.environ, "server", "SERVER_NAME and SERVER_PORT are not empty (PEP 3333: they can never be empty strings)"],
  "environ-optional-types": [SECTIONS.environ, "server", "optional tsgi.* keys have their documented types"],
  "start-response-args": [SECTIONS.startResponse, "application", "startResponse takes two or three arguments"],
  "start-response-twice": [SECTIONS.startResponse, "application", "startResponse is called once, again only with excInfo"],
  "status-type": [SECTIONS.startResponse, "application", "the status is a string"],
  "status-format": [SECTIONS.startResponse, "application", "the status is 'NNN Reason': three digits (200 to 599: a 1xx is interim, never final), a space, a reason phrase without control characters, latin-1"],
  "headers-type": [SECTIONS.startResponse, "application", "the headers are an array"],
  "header-item": [SECTIONS.startResponse, "application", "each header is a [name, value] array of two strings"],
  "header-name": [SECTIONS.startResponse, "application", "header names are RFC 9110 tokens (no ':' or whitespace)"],
  "header-status": [SECTIONS.startResponse, "application", "no 'Status' header (a CGI convention, not TSGI)"],
  "header-value": [SECTIONS.startResponse, "application", "header values hold no CR, LF, NUL or other control characters (HTAB allowed) and are latin-1"],
  "header-hop-by-hop": [SECTIONS.http, "application", "applications send no hop-by-hop headers (the server's list; Upgrade allowed on a 426, Connection: close on a final response)"],
  "header-content-length": [SECTIONS.contentLength, "application", "Content-Length values are decimal integers of 1 to 15 digits (as the server takes them), and repeated ones agree"],
  "server-write-callable": [SECTIONS.startResponse, "server", "startResponse returns the write() function"],
  "server-write-promise": [SECTIONS.write, "server", "write() returns a Promise"],
  "write-type": [SECTIONS.write, "application", "write() is given a Uint8Array"],
  "app-result": [SECTIONS.spec, "application", "the application returns a body (not null or undefined)"],
  "app-result-bytes": [SECTIONS.spec, "application", "the body is not a string or a single Uint8Array (return [bytes])"],
  "app-result-iterable": [SECTIONS.spec, "application", "the body is a sync or async iterable"],
  "body-chunk-type": [SECTIONS.spec, "application", "body chunks are Uint8Array"],
  "body-before-start": [SECTIONS.startResponse, "application", "startResponse is called before the first non-empty body chunk"],
  "body-no-start": [SECTIONS.startResponse, "application", "startResponse is called before the body ends"],
  "body-content-length": [SECTIONS.http, "application", "the body is not longer than its Content-Length"],
  "body-iterate-twice": [SECTIONS.spec, "server", "the server iterates the body once"],
  "body-after-close": [SECTIONS.spec, "server", "the body is not iterated after close()"],
  "body-close-twice": [SECTIONS.spec, "server", "close() is called once"],
  "body-not-closed": [SECTIONS.spec, "server", "the server calls the body's close()"],
  "input-read-size": [SECTIONS.streams, "application", "read(size): size is left out, undefined, null or a non-negative integer"],
  "input-read-result": [SECTIONS.streams, "server", "read() resolves to a Uint8Array over an ArrayBuffer (not a SharedArrayBuffer) of at most size bytes"],
  "input-after-eof": [SECTIONS.streams, "server", "reads after the end of the body return no bytes"],
  "input-readline-size": [SECTIONS.streams, "application", "readline(size): size is left out, undefined, null or a non-negative integer"],
  "input-readline-result": [SECTIONS.streams, "server", "readline() resolves to one line (a Uint8Array over an ArrayBuffer, '\\n' only at its end) of at most size bytes"],
  "input-readlines": [SECTIONS.streams, "both", "readlines(hint): hint is left out, undefined, null or a number; resolves to an array of Uint8Array lines over ArrayBuffers ('\\n' only at each one's end, only the last without it)"],
  "input-iteration": [SECTIONS.streams, "server", "iterating tsgi.input yields Uint8Array lines over ArrayBuffers, one line each ('\\n' only at its end, only the last without it; never an empty one)"],
  "input-overlap": [SECTIONS.streams, "application", "reads of tsgi.input do not overlap: each is awaited before the next starts"],
  "input-close": [SECTIONS.streams, "application", "the application does not call tsgi.input.close()"],
  "errors-write": [SECTIONS.streams, "application", "tsgi.errors.write() is given a string"],
  "errors-writelines": [SECTIONS.streams, "application", "tsgi.errors.writelines() is given an iterable of strings"],
  "errors-close": [SECTIONS.streams, "application", "the application does not call tsgi.errors.close()"],
} as const satisfies Record<string, readonly [string, "server" | "application" | "both", string]>;

/** A rule id: a key of {@link RULES}. */
export type Rule = keyof typeof RULES;

/**
 * A TSGI conformance violation (wsgiref raises `AssertionError`).
 * `message` starts with `[rule]` and ends with the PEP 3333 section.
 */
export class TsgiConformanceError extends Error {
  /** The rule id, e.g. `"status-format"` (see {@link RULES}). */
  readonly rule: Rule;
  /** The spec section, e.g. `"PEP 3333 §The start_response() Callable"`. */
  readonly section: string;

  /**
   * @param rule the violated rule (its section is looked up in {@link RULES}).
   * @param detail what happened, for the message.
   */
  constructor(rule: Rule, detail: string) {
    const section = RULES[rule][0];
    super(`[${rule}] ${detail} (${section})`);
    this.name = "TsgiConformanceError";
    this.rule = rule;
    this.section = section;
  }
}

/** Throw the {@link TsgiConformanceError} for `rule`. */
export function fail(rule: Rule, detail: string): never {
  throw new TsgiConformanceError(rule, detail);
}

/**
 * A value as a rule's message shows it: a string quoted, a `Uint8Array`
 * with its length, a boxed primitive as the gateway's messages show it (`a
 * String object holding "200 OK", not a string: ...`), another object by its
 * type (`Object`, `Array`, an unreadable one, a revoked `Proxy`, as such),
 * a function as `function`, another primitive as `<type> <value>`. Never
 * throws: a rule's error must not be replaced by one from describing it.
 */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (typeof v === "object") {
    // (isView first: instanceof throws on a revoked Proxy.)
    if (ArrayBuffer.isView(v) && v instanceof Uint8Array) return `Uint8Array(${v.length})`;
    return unboxed(v) !== undefined ? showValue(v) : describe(v);
  }
  if (typeof v === "function") return "function";
  return `${typeof v} ${String(v)}`;
}

/** The validator's default warning sink: `consola.warn`, tagged `tsgi:validate`. */
export function defaultWarn(message: string): void {
  consola.withTag("tsgi:validate").warn(message);
}
