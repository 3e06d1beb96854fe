/**
 * The request-target's form and the Host / authority syntax, read from the
 * bytes of a complete head: pure functions, no state, no allocation.
 *
 * - Request-target forms: RFC 9112 §3.2 (origin-form §3.2.1, absolute-form
 *   §3.2.2, authority-form §3.2.3 for CONNECT only, asterisk-form §3.2.4 for
 *   OPTIONS only).
 * - Host and the authority of an absolute-form or authority-form target:
 *   `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2–3.2.3), without
 *   userinfo (RFC 9110 §4.2.4). An invalid Host field value is answered 400
 *   (RFC 9112 §3.2).
 *
 * The parser has already checked each byte of the request-target (chars.ts
 * `TARGET`: 0x21–0x7E but `#`) and of a field value (`FIELD_VALUE`); these
 * functions decide the shape.
 * @module
 */
import { COLON, HEX, HOST, NOT_HEX, REG_NAME } from "./chars.ts";

/**
 * `true` when the request-target `src[p, e)` has one of the RFC 9112 §3.2
 * forms: origin-form (`/`...), asterisk-form (exactly `*`, OPTIONS only:
 * RFC 9112 §3.2.4), absolute-form (`ALPHA+ "://"` and a non-empty authority
 * of Host chars without userinfo), or, for CONNECT and only there, the
 * authority-form (`host:port`, both required: RFC 9110 §9.3.6, RFC 9112
 * §3.2.3).
 *
 * @param connect the method is `CONNECT`.
 * @param options the method is `OPTIONS`.
 */
export function targetForm(src: Uint8Array, p: number, e: number, connect: boolean, options: boolean): boolean {
  // CONNECT takes the authority-form alone: host and port (RFC 9110 §9.3.6, RFC 9112 §3.2.3).
  if (connect) return validAuthority(src, p, e, true);
  const c = src[p];
  if (c === 0x2f) return true;
  if (c === 0x2a) return e - p === 1 && options;
  let i = p;
  while (i < e && ((src[i]! | 0x20) >= 0x61 && (src[i]! | 0x20) <= 0x7a)) i++;
  if (!(i > p && e - i >= 3 && src[i] === COLON && src[i + 1] === 0x2f && src[i + 2] === 0x2f)) return false;
  // The authority replaces Host (RFC 9112 §3.2.2): a host is required (RFC
  // 9110 §4.2.1), userinfo is an error (§4.2.4), and its syntax is Host's.
  const start = i + 3;
  let j = start;
  while (j < e && src[j] !== 0x2f && src[j] !== 0x3f) j++;
  return j > start && src[start] !== COLON && validAuthority(src, start, j, false);
}

/**
 * `true` when `src[p, e)` is `uri-host [ ":" port ]` (RFC 9110 §7.2 for
 * Host, RFC 3986 §3.2.2–3.2.3): an IP-literal in brackets (`[::1]`; inside,
 * Host chars but brackets), or a reg-name or IPv4address (unreserved,
 * sub-delims, `%` HEXDIG HEXDIG), possibly empty; then optionally `:` and a
 * port of digits. With `hostAndPort` (CONNECT's authority-form) both the
 * host and a non-empty port are required.
 */
export function validAuthority(src: Uint8Array, p: number, e: number, hostAndPort: boolean): boolean {
  let i = p;
  if (i < e && src[i] === 0x5b) {
    i++;
    const start = i;
    while (i < e && src[i] !== 0x5d) {
      const c = src[i]!;
      if (HOST[c] === 0 || c === 0x5b) return false;
      i++;
    }
    if (i === e || i === start) return false;
    i++;
  } else {
    for (;;) {
      while (i < e && REG_NAME[src[i]!] === 1) i++;
      if (i === e || src[i] !== 0x25) break;
      if (i + 2 >= e || HEX[src[i + 1]!] === NOT_HEX || HEX[src[i + 2]!] === NOT_HEX) return false;
      i += 3;
    }
    if (hostAndPort && i === p) return false;
  }
  if (i === e) return !hostAndPort;
  if (src[i] !== COLON) return false;
  i++;
  if (hostAndPort && i === e) return false;
  for (; i < e; i++) if (src[i]! < 0x30 || src[i]! > 0x39) return false;
  return true;
}
