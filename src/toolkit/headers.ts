/**
 * Response header tools: a port of Python's `wsgiref.headers`
 * (see `docs/toolkit/headers.md`).
 *
 * @module
 */
import type { ResponseHeaders } from "../spec.ts";
import { latin1Encode } from "./streams.ts";
import { showValue } from "../gateway/response-fields.ts";

// Characters that force quoting of a MIME parameter value (wsgiref `tspecials`).
const TSPECIALS = /[ ()<>@,;:\\"/[\]?=]/;
// Control characters refused in names (all) and values (all but HTAB), as
// wsgiref `_name_disallowed_re` / `_value_disallowed_re` (RFC 9110 §5.5).
// eslint-disable-next-line no-control-regex
const NAME_DISALLOWED = /[\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const VALUE_DISALLOWED = /[\x00-\x08\x0a-\x1f\x7f]/;

/** A MIME parameter value for {@link Headers.addHeader}: a string, or `null`/`undefined` for a valueless parameter. */
export type HeaderParamValue = string | null | undefined;

function checkString(value: unknown, isName: boolean): string {
  const what = isName ? "Header name" : "Header value";
  if (typeof value !== "string") {
    throw new TypeError(`${what} must be a string (got ${showValue(value)})`);
  }
  if ((isName ? NAME_DISALLOWED : VALUE_DISALLOWED).test(value)) {
    throw new TypeError(`Control characters (CR, LF, NUL, ...) are not allowed in headers: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Format one MIME parameter (wsgiref `_formatparam`): `name="value"` with `\`
 * and `"` backslash-escaped, or just `name` when the value is `null`,
 * `undefined` or empty. wsgiref always quotes the value (its `quote=1`
 * default); pass `quote = false` to quote only values holding tspecials.
 */
export function formatParam(name: string, value?: HeaderParamValue, quote = true): string {
  if (value !== null && value !== undefined && value.length > 0) {
    if (quote || TSPECIALS.test(value)) {
      return `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
    }
    return `${name}=${value}`;
  }
  return name;
}

/**
 * A mapping-like view of a response header list (wsgiref
 * `Headers([headers])`).
 *
 * The wrapped list ({@link list}) is used in place: every change is made to
 * that very array, so an application can hand the same array to
 * `startResponse`. Names are case-insensitive for lookups; lookups and
 * deletes of missing names never throw (`get` returns `undefined`).
 * `set` removes every value of the name and appends the new one at the end;
 * otherwise the existing order is kept. Iterating yields names (with
 * repeats), like `keys()`.
 *
 * Names and values must be strings free of control characters (CR, LF, NUL
 * and the rest of C0 and DEL; HTAB is allowed in values): the constructor,
 * `set`, `setdefault` and `addHeader` throw TypeError otherwise, as wsgiref
 * raises ValueError/AssertionError; the lookups and `delete` throw it for
 * such a name.
 *
 * @example
 * const h = new Headers([["Content-Type", "text/plain"]]);
 * h.addHeader("Content-Disposition", "attachment", { filename: "bud.gif" });
 * String(h); // "Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"bud.gif\"\r\n\r\n"
 */
export class Headers implements Iterable<string> {
  /** The wrapped header list, modified in place (wsgiref `_headers`). */
  readonly list: ResponseHeaders;

  /**
   * @param headers the list to wrap, not copied; `null` or `undefined`
   *   (the default) wraps a new empty list, as wsgiref `Headers(None)`.
   * @throws TypeError when `headers` is not an array (nor `null`/`undefined`),
   *   an entry is not a `[name, value]` pair of strings, or a name or value
   *   holds a control character.
   */
  constructor(headers?: ResponseHeaders | null) {
    headers ??= [];
    if (!Array.isArray(headers)) throw new TypeError("Headers must be a list of [name, value] pairs");
    for (const item of headers) {
      if (!Array.isArray(item) || item.length !== 2) {
        // (Each item of an array shown on its own: JSON would show a boxed string as a string, a symbol as null.)
        const shown = Array.isArray(item) ? `[${item.slice(0, 3).map(showValue).join(", ")}${item.length > 3 ? ", ..." : ""}]` : showValue(item);
        throw new TypeError(`Headers must be a list of [name, value] pairs (got ${shown})`);
      }
      checkString(item[0], true);
      checkString(item[1], false);
    }
    this.list = headers;
  }

  /** The number of header lines, repeats included (wsgiref `len()`). */
  get length(): number {
    return this.list.length;
  }

  /**
   * The first value of `name` (case-insensitive), or `defaultValue`
   * (default `undefined`) when there is none. Never throws for a missing name.
   * @throws TypeError when `name` is not a string or holds a control character.
   */
  get(name: string): string | undefined;
  get<D>(name: string, defaultValue: D): string | D;
  get<D>(name: string, defaultValue?: D): string | D | undefined {
    const lower = checkString(name, true).toLowerCase();
    for (const [k, v] of this.list) if (k.toLowerCase() === lower) return v;
    return defaultValue;
  }

  /**
   * All values of `name` in list order, repeats included; `[]` when none
   * (wsgiref `get_all`).
   * @throws TypeError when `name` is not a string or holds a control character.
   */
  getAll(name: string): string[] {
    const lower = checkString(name, true).toLowerCase();
    return this.list.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v);
  }

  /**
   * Whether `name` is present, case-insensitively (wsgiref `__contains__`).
   * @throws TypeError when `name` is not a string or holds a control character.
   */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Replace all values of `name` with `value`, appended at the end of the
   * list (wsgiref `__setitem__`).
   * @throws TypeError for a non-string or control characters.
   */
  set(name: string, value: string): void {
    checkString(name, true);
    checkString(value, false);
    this.delete(name);
    this.list.push([name, value]);
  }

  /**
   * Remove every value of `name` (case-insensitive), in place; does nothing
   * when absent (wsgiref `__delitem__`).
   * @throws TypeError when `name` is not a string or holds a control character.
   */
  delete(name: string): void {
    const lower = checkString(name, true).toLowerCase();
    let w = 0;
    for (let r = 0; r < this.list.length; r++) {
      const item = this.list[r]!;
      if (item[0].toLowerCase() !== lower) this.list[w++] = item;
    }
    this.list.length = w;
  }

  /**
   * The first value of `name` if present; otherwise append `[name, value]`
   * and return `value` (wsgiref `setdefault`).
   * @throws TypeError for a non-string or control characters.
   */
  setdefault(name: string, value: string): string {
    const found = this.get(name);
    if (found !== undefined) return found;
    this.list.push([checkString(name, true), checkString(value, false)]);
    return value;
  }

  /**
   * Append a header with MIME parameters (wsgiref `add_header(name, value,
   * **params)`). The field value is `value` (omitted when `null` /
   * `undefined`) followed by `; param` parts, in `params`' property order
   * (insertion order; JavaScript puts integer-like names first): underscores in parameter names
   * become dashes; a string parameter value is written `name="value"`
   * (always quoted, `\` and `"` escaped, as wsgiref); a `null`/`undefined` or
   * empty value writes the bare parameter name. Never replaces existing values.
   *
   * @example h.addHeader("content-disposition", "attachment", { filename: "bud.gif" })
   * // Content-Disposition line: attachment; filename="bud.gif"
   * @throws TypeError for a non-string or control characters in any part.
   */
  addHeader(name: string, value: string | null | undefined, params: Record<string, HeaderParamValue> = {}): void {
    const parts: string[] = [];
    if (value !== null && value !== undefined) parts.push(checkString(value, false));
    for (const [k, v] of Object.entries(params)) {
      const key = checkString(k, true).replace(/_/g, "-");
      if (v === null || v === undefined) parts.push(key);
      else parts.push(formatParam(key, checkString(v, false)));
    }
    this.list.push([checkString(name, true), parts.join("; ")]);
  }

  /** All names in list order, repeats included (a new array). */
  keys(): string[] {
    return this.list.map(([k]) => k);
  }

  /** All values in list order, repeats included (a new array). */
  values(): string[] {
    return this.list.map(([, v]) => v);
  }

  /** A shallow copy of the wrapped list: `[name, value]` pairs (copied pairs). */
  items(): ResponseHeaders {
    return this.list.map(([k, v]) => [k, v]);
  }

  /** Iterate the names, repeats included. */
  [Symbol.iterator](): Iterator<string> {
    return this.keys()[Symbol.iterator]();
  }

  /**
   * The headers formatted for transmission (wsgiref `str()`): each
   * `Name: value` line ends in CRLF, and a blank line (CRLF) ends the block.
   */
  toString(): string {
    return this.list.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  }

  /**
   * {@link toString} as latin-1 bytes (wsgiref `bytes()`).
   * @throws TypeError when a name or value holds a character above U+00FF.
   */
  toBytes(): Uint8Array<ArrayBuffer> {
    return latin1Encode(this.toString());
  }

  /** `Headers([...])` for debugging (wsgiref `repr()`). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Headers(${JSON.stringify(this.list)})`;
  }
}
