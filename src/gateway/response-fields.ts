/**
 * Checks on what an application passes to `startResponse` (PEP 3333 "The
 * start_response() Callable"; RFC 9110 §5.1 field names, §5.5 field values).
 * Nothing that fails these checks reaches the wire.
 * @module
 */
import type { ResponseHeaders } from "../spec.ts";

/** RFC 9110 token: 1*tchar. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `s` is an RFC 9110 §5.6.2 token (a field name, a method). */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}
/**
 * `s` quoted for a message as `JSON.stringify` quotes it, with DEL and the
 * C1 controls (U+007F-U+009F), which JSON leaves raw, escaped too
 * (`"a\\u007fb"`): a message may reach a terminal, where they would not show
 * or would act.
 */
function quoted(s: string): string {
  return JSON.stringify(s).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Field value / reason phrase chars: HTAB, SP, VCHAR, obs-text; never CR, LF, NUL or chars above 0xFF. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** `NNN reason`: a three-digit code 200-599, a space, a reason phrase. */
const STATUS = /^[2-5]\d\d [\t\x20-\x7e\x80-\xff]*$/;
/** The first char a field value or reason phrase may not hold. */
const BAD_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The first char of `s` that a field value or reason phrase may not hold,
 * named and placed for a message (`DEL (U+007F) at index 5`, `"€" (U+20AC,
 * above \xff) at index 0`), or `undefined` when there is none.
 */
function badChar(s: string): string | undefined {
  const m = BAD_CHAR.exec(s);
  if (m === null) return undefined;
  const c = s.codePointAt(m.index)!;
  const code = `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
  const names: Record<number, string> = { 0: "NUL", 10: "LF", 13: "CR", 0x7f: "DEL" };
  if (c > 0xff) return `${quoted(String.fromCodePoint(c))} (${code}, above \\xff) at index ${m.index}`;
  return `${names[c] ?? "a control char"} (${code}) at index ${m.index}`;
}

/**
 * @throws TypeError when `status` is not `"NNN reason"` with a code 200–599
 *   and a reason of HTAB, SP, visible ASCII and latin-1 chars (RFC 9112 §4:
 *   no control chars, none above 0xFF; the message names the first such char). A 1xx code is
 *   refused: it is interim, never the final response (RFC 9110 §15.2); the
 *   server sends `100 Continue` itself, and `101 Switching Protocols` would
 *   need a protocol upgrade TSGI does not offer.
 */
export function checkStatus(status: unknown): asserts status is string {
  // The status a response used last passed already: most responses repeat it ("200 OK").
  if (status === lastStatus) return;
  if (typeof status !== "string" || !STATUS.test(status)) {
    const interim = typeof status === "string" && /^1\d\d /.test(status);
    // A good code and a space, so the reason is at fault: say which char, since it may be no CR, LF or NUL (a DEL, a \x01).
    const badReason = typeof status === "string" && /^[2-5]\d\d /.test(status) ? badChar(status) : undefined;
    throw new TypeError(
      interim
        ? `startResponse(): ${quoted(status)} is an interim (1xx) status, not a final response (RFC 9110 §15.2); use a code 200-599`
        : badReason !== undefined
          ? `startResponse(): the reason phrase of status ${quoted(status as string)} holds ${badReason}: a reason may hold HTAB, SP, visible ASCII and latin-1 chars 0x80-0xFF, no control chars (RFC 9112 §4)`
          : `startResponse(): status must be a string like "200 OK" (a code 200-599, a space, a reason without CR/LF/NUL), got ${showValue(status)}`,
    );
  }
  lastStatus = status;
}

/** The last status {@link checkStatus} passed (to start with, one that passes: never `""` or `undefined`, which must not). */
let lastStatus = "200 OK";

/**
 * A list of pairs holding the same strings as one that passed lately
 * passes again without the character checks (see {@link passed}).
 * @param where the call the headers came from, for the message. Default `"startResponse()"`.
 * @throws TypeError when `headers` is not an array of `[name, value]` string
 *   pairs, a name is not an RFC 9110 token, or a value holds CR, LF, NUL, a
 *   control char other than HTAB, or a char above 0xFF.
 */
export function checkHeaders(headers: unknown, where = "startResponse()"): asserts headers is ResponseHeaders {
  if (!isArray(headers)) {
    throw new TypeError(`${where}: headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  }
  if (passedBefore(headers)) return;
  // The strings as checked, to remember: read again, a getter or a Proxy could give others.
  const n = headers.length;
  const strings: string[] | undefined = n <= PASSED_MAX_PAIRS ? [] : undefined;
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const pair = headers[i];
    if (!isArray(pair) || pair.length !== 2) {
      throw new TypeError(`${where}: headers[${i}] must be a [name, value] pair, got ${describe(pair)}`);
    }
    const name = pair[0];
    const value = pair[1];
    if (typeof name !== "string") throw new TypeError(`${where}: header name must be a string (an RFC 9110 token), got ${showValue(name)}`);
    if (!TOKEN.test(name)) throw new TypeError(`${where}: header name ${quoted(name)} is not a valid field-name (RFC 9110 token)`);
    if (typeof value !== "string" || !FIELD_VALUE.test(value)) {
      throw new TypeError(
        typeof value === "string"
          ? `${where}: value of header ${name} holds ${badChar(value)} (${quoted(value)}): a field value may hold HTAB, SP, visible ASCII and latin-1 chars 0x80-0xFF, no CR, LF, NUL or other control chars (RFC 9110 §5.5)`
          : `${where}: value of header ${name} must be a string without CR, LF, NUL or chars above \\xff, got ${showValue(value)}`,
      );
    }
    if (strings !== undefined) {
      strings.push(name, value);
      chars += name.length + value.length;
    }
  }
  if (strings !== undefined && chars <= PASSED_MAX_CHARS) remember(strings);
}

/** `Array.isArray(value)`, `false` for a revoked `Proxy` (on which it throws), which the message then names ({@link describe}). */
function isArray(value: unknown): value is unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * Header lists that passed {@link checkHeaders} lately, each as its strings
 * `[name, value, name, value, ...]`: a list of pairs holding the same
 * strings passes again without the character checks. The gateway checks a
 * response's list twice (at `startResponse`, and again before sending,
 * since PEP 3333 lets the app change it in between), and most responses of
 * a route repeat their fields. Lists of up to {@link PASSED_MAX_PAIRS} pairs
 * and {@link PASSED_MAX_CHARS} characters are kept, {@link PASSED_ENTRIES}
 * of them, the oldest replaced.
 */
const passed: string[][] = [];
let passedNext = 0;
const PASSED_ENTRIES = 4;
const PASSED_MAX_PAIRS = 16;
const PASSED_MAX_CHARS = 2048;

/** Whether `headers` holds pairs of the same strings as a list that passed lately (each pair an array of 2, as checked). */
function passedBefore(headers: unknown[]): boolean {
  const n = headers.length;
  const count = passed.length;
  // Newest first: the gateway's second check of a response finds its list at once. Each pair from
  // the last: a value that differs from response to response (a Content-Length, an ETag) is often last.
  let k = passedNext;
  outer: for (let j = 0; j < count; j++) {
    k = k === 0 ? count - 1 : k - 1;
    const f = passed[k]!;
    if (f.length !== n * 2) continue;
    for (let i = n - 1; i >= 0; i--) {
      const pair = headers[i];
      if (!isArray(pair) || pair.length !== 2 || pair[0] !== f[2 * i] || pair[1] !== f[2 * i + 1]) continue outer;
    }
    return true;
  }
  return false;
}

/** Keep the strings of a list that just passed, `[name, value, name, value, ...]` as they were checked (see {@link passed}). */
function remember(strings: string[]): void {
  passed[passedNext] = strings;
  passedNext = (passedNext + 1) % PASSED_ENTRIES;
}

/** A `Server` field value: field-vchars (VCHAR, obs-text) with SP/HTAB only between them (RFC 9110 §5.5). */
const SERVER_VALUE = /^[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

/**
 * Check a `serverSoftware` option (the tsgi server's, the fetch bridge's):
 * it is `SERVER_SOFTWARE` and the value of the `Server` field added to
 * responses that have none, so it must be a valid field value (RFC 9110
 * §5.5, §10.2.4), or `""`, which sends no `Server` field at all.
 * @param option the option's full name, for the message (`"server option serverSoftware"`).
 * @returns `value`, unchanged.
 * @throws RangeError when `value` is not a string, or holds CR, LF, NUL,
 *   another control char, a char above U+00FF, or leading or trailing
 *   whitespace: sent as they are they would break or inject into every response's head.
 */
export function checkServerSoftware(value: unknown, option: string): string {
  if (value === "" || (typeof value === "string" && SERVER_VALUE.test(value))) return value;
  throw new RangeError(
    `${option} must be a Server field value (printable latin-1, no CR, LF or other control chars, no leading or trailing whitespace) or "" for no Server field, got ${showValue(value)}`,
  );
}

/**
 * One `Content-Length` value of a response (spec.md "Handling the
 * Content-Length header"), checked against the value an earlier
 * `Content-Length` field gave (`declared`, -1 for none).
 * @returns the length in bytes.
 * @throws TypeError when `value` is not 1–15 decimal digits, or differs from `declared`.
 */
export function contentLengthValue(value: string, declared: number): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw new TypeError(`startResponse(): Content-Length must be a non-negative integer, got ${quoted(value)}`);
  }
  const n = Number(value);
  if (declared !== -1 && declared !== n) throw new TypeError("startResponse(): conflicting Content-Length values");
  return n;
}

/**
 * The Content-Length a header list declares: -1 when it has none.
 * @throws TypeError as {@link contentLengthValue}: a value that is not a length, or values that disagree.
 */
export function declaredContentLength(headers: ResponseHeaders): number {
  let declared = -1;
  for (const [name, value] of headers) if (name.length === 14 && name.toLowerCase() === "content-length") declared = contentLengthValue(value, declared);
  return declared;
}

/** The error logged when a body goes past its declared Content-Length (the excess is not sent). */
export function excessBodyError(): Error {
  return contractError("the application sent more bytes than its Content-Length; the excess was not sent");
}

/** The error logged when a body ends `missing` bytes short of its Content-Length; `consequence` says what the server does about it. */
export function shortBodyError(missing: number, consequence: string): Error {
  return contractError(`the application sent ${missing} bytes fewer than its Content-Length; ${consequence}`);
}

/**
 * An error about what the application did, found by the server after the
 * fact: its stack would only show the server's own frames, so it has none
 * (the log line is the message alone).
 */
function contractError(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

/**
 * A short description of a value's type for error messages: `string`, `number`, `null`, `Object`, `Array`...;
 * a boxed primitive is `String object` (`new String("x")`), `Number object` and so on, not `String`, which
 * would read as the type `string`. Never throws: a value whose reading throws (a revoked `Proxy`,
 * a `constructor` getter) is `an unreadable object (reading it threw ...)` ({@link unreadableValue}).
 */
export function describe(value: unknown): string {
  try {
    return readType(value);
  } catch (readError) {
    return unreadableValue(value, readError);
  }
}

function readType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  // (Array.isArray throws on a revoked Proxy; the constructor may be a getter that throws: see describe().)
  if (Array.isArray(value)) return "Array";
  const boxed = unboxed(value);
  if (boxed !== undefined) return `${boxed.kind} object`;
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? name : "Object";
}

/**
 * What an error message says of a value whose reading threw (a revoked
 * `Proxy`, a getter on its `constructor` or a function's `name`, a `Proxy`
 * trap that throws): its type and what reading it threw, e.g. `an
 * unreadable object (reading it threw TypeError: Proxy has already been
 * revoked ...)`, so the message still names the value's fault.
 */
export function unreadableValue(value: unknown, readError: unknown): string {
  let threw: string;
  try {
    threw = readError instanceof Error ? `${readError.name}: ${readError.message}` : String(readError);
  } catch {
    threw = "a value that cannot be printed either";
  }
  return `an unreadable ${typeof value} (reading it threw ${threw})`;
}

/** The `valueOf` of each wrapper type: each throws unless its receiver is that wrapper (its internal slot), whatever its prototype or `Symbol.toStringTag` say. */
const UNBOXERS = [
  ["String", String.prototype.valueOf],
  ["Number", Number.prototype.valueOf],
  ["Boolean", Boolean.prototype.valueOf],
  ["BigInt", BigInt.prototype.valueOf],
  ["Symbol", Symbol.prototype.valueOf],
] as const;

/** The primitive a wrapper object holds (`new String("x")`, `Object(1n)`) and its kind (`"String"`), `undefined` for any other value; never throws. */
export function unboxed(value: object): { kind: string; primitive: unknown } | undefined {
  for (const [kind, valueOf] of UNBOXERS) {
    try {
      return { kind, primitive: (valueOf as (this: unknown) => unknown).call(value) };
    } catch {
      // not this wrapper
    }
  }
  return undefined;
}

/**
 * A value the application gave, as an error message shows it, never
 * throwing: a string quoted (JSON), a number, boolean, `undefined` or
 * symbol as written, a bigint with its `n`, a function as `a function
 * (name)`, a boxed primitive named as such with the primitive to pass
 * (`a String object holding "200 OK", not a string: pass the primitive,
 * String(value) or "200 OK"`: quoted alone, it would read as a valid
 * string), any other object as JSON, or by its type ({@link describe}) when
 * JSON cannot show it; a value whose reading throws (a revoked `Proxy`, a
 * function whose `name` getter throws) as {@link unreadableValue} says.
 */
export function showValue(value: unknown): string {
  try {
    return readValue(value);
  } catch (readError) {
    return unreadableValue(value, readError);
  }
}

function readValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return quoted(value);
    case "bigint":
      return `${value}n`;
    case "function": {
      const name: unknown = value.name;
      return `a function${typeof name === "string" && name !== "" ? ` (${name})` : ""}`;
    }
    case "object":
      break;
    default:
      return String(value);
  }
  if (value === null) return "null";
  const boxed = unboxed(value);
  if (boxed !== undefined) {
    const shown = readValue(boxed.primitive);
    const convert = boxed.kind === "String" || boxed.kind === "Number" ? `${boxed.kind}(value)` : "value.valueOf()";
    return `a ${boxed.kind} object holding ${shown}, not a ${typeof boxed.primitive}: pass the primitive, ${convert} or ${shown}`;
  }
  try {
    const json = JSON.stringify(value);
    if (typeof json === "string") return json;
  } catch {
    // circular, a BigInt inside, a toJSON that throws
  }
  return describe(value);
}

/** Whether `body` can be iterated as a TSGI `Body` (sync or async iterable object; a string is not, nor a `Uint8Array`, whose items are numbers). */
export function isIterableBody(body: unknown): boolean {
  return (
    body !== null &&
    typeof body === "object" &&
    !(body instanceof Uint8Array) &&
    (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function" || typeof (body as Iterable<unknown>)[Symbol.iterator] === "function")
  );
}

/** The error for an application result that is not a TSGI `Body` (PEP 3333: an iterable of bytestrings). */
export function notABodyError(body: unknown): TypeError {
  if (typeof body === "string") {
    return new TypeError("the application returned a string; return an iterable of Uint8Array, e.g. [new TextEncoder().encode(text)]");
  }
  if (body instanceof Uint8Array) {
    // Iterable itself, but of numbers: its first "chunk" would be a byte.
    return new TypeError("the application returned a Uint8Array; return an iterable of Uint8Array, e.g. [bytes] (TSGI: Body)");
  }
  if (typeof Blob === "function" && body instanceof Blob) {
    // As Bun.serve takes new Response(Bun.file(path)): here the file goes through tsgi.file_wrapper, which the server sends natively.
    return new TypeError(
      `the application returned a ${describe(body)} (a Bun.file() is one); return environ["tsgi.file_wrapper"](blob), which the server sends as a file, or [await blob.bytes()] (TSGI: Body; spec.md "Optional platform-specific file handling")`,
    );
  }
  if (typeof Response === "function" && body instanceof Response) {
    // A fetch handler declared without its parameter (`() => new Response(...)`), or with two as Bun.serve
    // and Deno call it (`(request, server) => ...`), is taken for a TSGI application (detectApplication).
    return new TypeError(
      "the application returned a Response: it is a fetch handler, not a TSGI application. tsgi serve and tsgi-dev serve a function as a fetch handler when it declares one parameter, (request) => Response; one declared with none, or with two or more as Bun.serve and Deno call it, (request, server), is taken for a TSGI application and called with (environ, startResponse). Export it as an object with a fetch() method, export default { fetch: handler } (its server argument is then one like Bun.serve's), or wrap it: fromFetchHandler(handler)",
    );
  }
  const not = `the application returned ${describe(body)}, not an iterable of Uint8Array (TSGI: Body)`;
  // The two first mistakes: a body left out (a startResponse() call and no return), and data meant as JSON.
  if (body === undefined) return new TypeError(`${not}: a missing return? Return the body, e.g. [new TextEncoder().encode(text)], or [] for none`);
  if (body !== null && typeof body === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(body))) {
    return new TypeError(`${not}; to send it as JSON, return [new TextEncoder().encode(JSON.stringify(data))], with a Content-Type: application/json field`);
  }
  return new TypeError(not);
}

/** The typed arrays' own getters (%TypedArray%.prototype), which a subclass or a property of a chunk's own cannot change. */
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedGetter = (name: string) => Object.getOwnPropertyDescriptor(typedArrayPrototype, name)!.get!;
const typedLength = typedGetter("length");
const typedBuffer = typedGetter("buffer");
const typedByteOffset = typedGetter("byteOffset");
const bufferPrototype: object = Buffer.prototype;
/** `ArrayBuffer.prototype.detached`'s getter (ES2024; Bun has it), `undefined` on a runtime without it. */
const detachedGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;

/**
 * Whether `chunk`'s `ArrayBuffer` was detached (transferred away by
 * `buffer.transfer()`, `structuredClone` or `postMessage` with a transfer
 * list): it then reads as 0 bytes, its data gone. A `SharedArrayBuffer`
 * cannot be detached.
 */
function isDetached(chunk: Uint8Array): boolean {
  if (detachedGetter === undefined) return false;
  const buffer: unknown = typedBuffer.call(chunk);
  return buffer instanceof ArrayBuffer && detachedGetter.call(buffer) === true;
}

/**
 * `chunk` as the server may use it: a `Uint8Array` whose `length` says how
 * many bytes it holds, every time it is read. The server sizes its copies,
 * its framing and its writes by `length`: one that lies (a subclass's
 * getter, a property of its own), even after telling the truth once, would
 * send stale bytes of its output buffer, or make the socket's write throw.
 * @returns `chunk` itself when it is a plain `Uint8Array` or `Buffer` (no
 *   `length` of its own); for any other whose `length` is its length now
 *   (a subclass), a plain `Uint8Array` over the same bytes; `null` when it is
 *   no `Uint8Array` (a `Proxy` of one included) or its `length` is not its
 *   length (see {@link chunkTypeError}).
 */
export function toChunk(chunk: unknown): Uint8Array | null {
  // (isView: a Proxy of a Uint8Array passes instanceof, and its `length` is whatever its get trap says;
  // first, as instanceof throws on a revoked Proxy.)
  if (!ArrayBuffer.isView(chunk) || !(chunk instanceof Uint8Array)) return null;
  const proto: unknown = Object.getPrototypeOf(chunk);
  // (A chunk of length 0 may be one whose ArrayBuffer was detached: only those are looked at for it.)
  if ((proto === Uint8Array.prototype || proto === bufferPrototype) && !Object.hasOwn(chunk, "length")) {
    return chunk.length !== 0 || !isDetached(chunk) ? chunk : null;
  }
  const length = typedLength.call(chunk) as number;
  if (chunk.length !== length || (length === 0 && isDetached(chunk))) return null;
  return new Uint8Array(typedBuffer.call(chunk) as ArrayBuffer, typedByteOffset.call(chunk) as number, length);
}

/**
 * The error for a body chunk that is not a `Uint8Array` (or one whose `length` is not its length,
 * or whose `ArrayBuffer` was detached: see {@link toChunk}); `what` names it (default `"a body chunk"`).
 */
export function chunkTypeError(chunk: unknown, what = "a body chunk"): TypeError {
  if (ArrayBuffer.isView(chunk) && chunk instanceof Uint8Array) {
    if ((typedLength.call(chunk) as number) === 0 && isDetached(chunk)) {
      return new TypeError(
        `the ArrayBuffer of ${what} was detached (transferred away: buffer.transfer(), structuredClone or postMessage with a transfer list), so it reads as 0 bytes and its data is gone; transfer the buffer only once the server has the bytes, or pass a copy (chunk.slice()) (TSGI: Body)`,
      );
    }
    return new TypeError(
      `${what} says its length is ${String(chunk.length)} but holds ${typedLength.call(chunk) as number} bytes (a length getter or property of its own); pass a plain Uint8Array (TSGI: Body)`,
    );
  }
  const hint = typeof chunk === "string" ? "; encode text: new TextEncoder().encode(text)" : "";
  return new TypeError(`${what} must be a Uint8Array, got ${describe(chunk)}${hint} (TSGI: Body)`);
}

/**
 * The error for a second `startResponse()` call without `excInfo`. It names
 * the usual cause besides a plain second call: a middleware's own
 * `startResponse` that drops the third argument, `(status, headers) =>
 * startResponse(status, headers)`, so the app's error handler passed it in vain.
 */
export function secondStartResponseError(): Error {
  return new Error(
    "startResponse() was called a second time without excInfo: pass the caught error as the third argument to replace the status and headers (PEP 3333), and check that each middleware's startResponse passes excInfo on",
  );
}

/** The error for a body (an array, or an iterator that ended) returned without `startResponse()` ever called. */
export function noStartResponseError(): Error {
  return new Error("the application returned a body without calling startResponse() (PEP 3333)");
}

/**
 * The error for a non-empty chunk an iterated body yields before
 * `startResponse()` was called (the app may call it later, in the body,
 * as spec.md allows, but before its first non-empty chunk): a
 * middleware that yields bytes of its own (a compressor's header) before
 * the app it wraps has called its startResponse does this.
 */
export function chunkBeforeStartResponseError(): Error {
  return new Error(
    "the body yielded a non-empty chunk before startResponse() was called; call it before the first non-empty chunk (PEP 3333), also in a middleware that yields bytes of its own",
  );
}
