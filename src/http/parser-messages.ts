/**
 * The request parser's error texts that depend on what it found, for the
 * 400 answers a client (or its developer) reads: a request-line whose
 * HTTP-version is missing or misspelt (RFC 9112 §2.3, §3), a malformed
 * request-line that is a PROXY protocol header (with the bytes that tell
 * one: HAProxy's proxy-protocol.txt), and a field name not followed by its
 * colon (RFC 9112 §5.1). Used only when the parser throws; the fixed texts
 * of the other errors stay at their checks in parser.ts.
 * @module
 */
import { CR, HTAB, LF, SP } from "./chars.ts";

/**
 * The 400 message for a request-line whose second space is not followed by
 * `HTTP/`: mostly a client that sent a space of the path or query as it is
 * (RFC 9112 §3.2: no whitespace in the request-target; §3: 400).
 */
export const NOT_A_VERSION = "Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)";

/**
 * The 400 message for a request-line that is a PROXY protocol header
 * (HAProxy's proxy-protocol.txt: v1 `PROXY TCP4 ...`, or v2, whose
 * 12-byte signature starts with two CRLFs, skipped as empty lines, then
 * `\0\r\nQUIT\n`): a proxy set to send it (`send-proxy`, nginx
 * `proxy_protocol on;`) to a server that does not read it. Same status as
 * any malformed request-line; only the words differ.
 */
export const PROXY_PROTOCOL = "A PROXY protocol header (HAProxy send-proxy, nginx proxy_protocol), which this server does not read: turn it off for this server and pass the client's address in X-Forwarded-For";

/** `PROXY ` (v1) and the v2 signature after its two CRLFs (`\0\r\nQUIT\n`): the starts of a request-line given {@link PROXY_PROTOCOL}. */
export const PROXY_V1: readonly number[] = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20];
export const PROXY_V2_TAIL: readonly number[] = [0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/**
 * The 400 message for a request-line whose HTTP-version's first byte `c`
 * is neither `H` nor `h`: {@link NOT_A_VERSION}, but for what is not a
 * space inside the target: a second space before the version, or no
 * version after the space (RFC 9112 §3: one SP each side of the target).
 */
export function notVersionMessage(c: number): string {
  if (c === SP) return "Invalid request line: more than one space between the request-target and the HTTP-version";
  if (c === CR || c === LF) return "Request line without an HTTP-version after the request-target's space";
  return NOT_A_VERSION;
}

/** The 400 message for `http/1.1` (any `HTTP/` spelled in another case): HTTP-name is case-sensitive (RFC 9112 §2.3). */
export const VERSION_CASE = "Invalid HTTP version (HTTP-name is case-sensitive: HTTP/1.1)";

/**
 * The 400 message for a request-line with whitespace after a well-formed
 * HTTP-version (`GET /a HTTP/1.1 x`, `GET /a HTTP/1.1 `): the line ends
 * with CRLF right after the version (RFC 9112 §3).
 */
export const AFTER_VERSION = "Invalid request line: something after the HTTP-version (the line must end right after it)";

/**
 * What is wrong when a field name is followed by `c`, not a colon (RFC 9112
 * §5.1: `field-name ":" OWS field-value OWS`, no whitespace before the colon).
 */
export function fieldNameEndError(section: "header" | "trailer", c: number): string {
  if (c === SP || c === HTAB) return `Whitespace after a ${section} field name (none is allowed before the colon)`;
  if (c === CR || c === LF) return `${section === "header" ? "Header" : "Trailer"} field line without a colon`;
  return `Invalid ${section} field name`;
}
