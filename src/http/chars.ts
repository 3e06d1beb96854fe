/**
 * Byte-class tables and latin-1 decoding for the HTTP/1.1 parser.
 *
 * Every table is a 256-entry `Uint8Array` indexed by an octet; a non-zero
 * entry means "member of the class". They are built once at module load and
 * never written afterwards.
 *
 * Grammar references: RFC 9110 §5.6.2 (token / tchar), §5.5 (field-value,
 * obs-text), §5.6.4 (quoted-string); RFC 9112 §3.2 (request-target),
 * §7.1 (chunk-size, chunk-ext).
 * @module
 */

/** Octets the parser compares against. */
export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const COMMA = 0x2c;
export const EQUALS = 0x3d;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const isAlnum = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** tchar (RFC 9110 §5.6.2): `!#$%&'*+-.^_\`|~`, DIGIT, ALPHA. Methods, field names, codings, chunk-ext names. */
export const TCHAR: Uint8Array = table((c) => isAlnum(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)));

/** reg-name chars without pct-encoding's `%` (RFC 3986 §3.2.2): unreserved and sub-delims. */
export const REG_NAME: Uint8Array = table((c) => isAlnum(c) || "-._~!$&'()*+,;=".includes(String.fromCharCode(c)));

/** unreserved (RFC 3986 §2.3): ALPHA, DIGIT, `-._~`. An IPv6 zone's chars (RFC 6874 ZoneID, with pct-encoding). */
export const UNRESERVED: Uint8Array = table((c) => isAlnum(c) || "-._~".includes(String.fromCharCode(c)));

/**
 * Bytes allowed in a request-target: visible US-ASCII 0x21–0x7E except `#`
 * (no controls, SP, DEL or obs-text; a fragment is never sent, RFC 9112 §3.2
 * and RFC 9110 §7.1).
 */
export const TARGET: Uint8Array = table((c) => c >= 0x21 && c <= 0x7e && c !== 0x23);

/**
 * Bytes allowed inside a field-value (RFC 9110 §5.5): VCHAR, obs-text
 * (0x80–0xFF), SP and HTAB. NUL, CR, LF, other controls and DEL are not.
 */
export const FIELD_VALUE: Uint8Array = table((c) => c === SP || c === HTAB || (c >= 0x21 && c !== 0x7f));

/** qdtext (RFC 9110 §5.6.4): HTAB, SP, 0x21, 0x23–0x5B, 0x5D–0x7E, obs-text. */
export const QDTEXT: Uint8Array = table(
  (c) => c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80,
);

/** Bytes that may follow a backslash in a quoted-pair: HTAB, SP, VCHAR, obs-text. */
export const QUOTED_PAIR: Uint8Array = table((c) => c === HTAB || c === SP || (c >= 0x21 && c !== 0x7f));

/** HEXDIG value (0–15) of an octet, or {@link NOT_HEX}. */
export const HEX: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let c = 0; c < 10; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();
/** The {@link HEX} entry of a byte that is not a HEXDIG. */
export const NOT_HEX = 255;

/** ASCII bytes of a lowercase string (for case-insensitive compares). */
export function bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) b[k] = s.charCodeAt(k);
  return b;
}

/**
 * `true` when `buf[at, at + lower.length)` equals `lower` ignoring ASCII case.
 * `lower` must be lowercase letters, digits and `-` only: then `byte | 0x20`
 * can only collide with control bytes, which callers have already rejected.
 */
export function equalsLower(buf: Uint8Array, at: number, lower: Uint8Array): boolean {
  const n = lower.length;
  for (let k = 0; k < n; k++) if ((buf[at + k]! | 0x20) !== lower[k]) return false;
  return true;
}

/** `true` when `buf[at, at + b.length)` equals `b` exactly (case-sensitive: methods, RFC 9110 §9.1). */
export function equalsBytes(buf: Uint8Array, at: number, b: Uint8Array): boolean {
  for (let k = 0; k < b.length; k++) if (buf[at + k] !== b[k]) return false;
  return true;
}

/** `true` when `buf[at, at + text.length)` holds `text`'s characters as latin-1 octets (`text` all below U+0100). */
export function equalsLatin1(buf: Uint8Array, at: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) if (buf[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
const nativeLatin1 = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;

/**
 * Decode `buf[start, end)` as latin-1 (ISO-8859-1: each byte one code unit
 * U+0000–U+00FF), in one native call. Not `TextDecoder("latin1")`, which is
 * windows-1252 and maps 0x80–0x9F elsewhere.
 */
export const latin1: (buf: Uint8Array, start: number, end: number) => string =
  typeof nativeLatin1 === "function"
    ? (buf, start, end) => nativeLatin1.call(buf, start, end)
    : (buf, start, end) => Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1");
