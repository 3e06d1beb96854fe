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
import { COLON, HEX, NOT_HEX, REG_NAME, UNRESERVED } from "./chars.ts";

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
 * Host, RFC 3986 §3.2.2–3.2.3): an IP-literal in brackets (see
 * {@link validIpLiteral}: `[::1]`, `[v1.x]`, `[fe80::1%25eth0]`), or a
 * reg-name or IPv4address (unreserved, sub-delims, `%` HEXDIG HEXDIG),
 * possibly empty; then optionally `:` and a port of digits. With
 * `hostAndPort` (CONNECT's authority-form) both the host and a non-empty
 * port are required.
 */
export function validAuthority(src: Uint8Array, p: number, e: number, hostAndPort: boolean): boolean {
  let i = p;
  if (i < e && src[i] === 0x5b) {
    let close = i + 1;
    while (close < e && src[close] !== 0x5d) close++;
    if (close === e || !validIpLiteral(src, i + 1, close)) return false;
    i = close + 1;
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

/** Reused by {@link validHostValue} for the value's bytes (grown when a longer one comes): no allocation per call. */
let hostBytes = new Uint8Array(256);

/**
 * {@link validAuthority} for a string: `true` when `value` is `uri-host [
 * ":" port ]` (RFC 9110 §7.2), checked as the parser checks a `Host` field
 * value (a character above U+00FF is never one). For a Host that comes
 * another way: a fetch `Request`'s, a trusted proxy's `X-Forwarded-Host`.
 */
export function validHostValue(value: string): boolean {
  const n = value.length;
  if (n > hostBytes.length) hostBytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return false;
    hostBytes[i] = c;
  }
  return validAuthority(hostBytes, 0, n, false);
}

/**
 * `true` when `src[p, e)`, what is between an IP-literal's brackets, is
 * RFC 3986 §3.2.2's `IPv6address / IPvFuture`, or an IPv6address with
 * RFC 6874's zone (`IPv6addrz = IPv6address "%25" ZoneID`, ZoneID =
 * 1*( unreserved / pct-encoded )): `::1`, `v1.x`, `fe80::1%25eth0`; not
 * `zz`, `1.2.3.4` (IPv4 goes without brackets), `::1::2`, `fe80::1%eth0`
 * or an empty one.
 */
function validIpLiteral(src: Uint8Array, p: number, e: number): boolean {
  if (p === e) return false;
  if ((src[p]! | 0x20) === 0x76) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    let i = p + 1;
    while (i < e && HEX[src[i]!] !== NOT_HEX) i++;
    if (i === p + 1 || i + 1 >= e || src[i] !== 0x2e) return false;
    for (i++; i < e; i++) if (REG_NAME[src[i]!] !== 1 && src[i] !== COLON) return false;
    return true;
  }
  let end = p;
  while (end < e && src[end] !== 0x25) end++;
  if (!validIpv6(src, p, end)) return false;
  if (end === e) return true;
  // "%25" ZoneID: the zone's `%` percent-encoded, then 1*( unreserved / pct-encoded ).
  let i = end + 3;
  if (i >= e || src[end + 1] !== 0x32 || src[end + 2] !== 0x35) return false;
  while (i < e) {
    const c = src[i]!;
    if (UNRESERVED[c] === 1) i++;
    else if (c === 0x25 && i + 2 < e && HEX[src[i + 1]!] !== NOT_HEX && HEX[src[i + 2]!] !== NOT_HEX) i += 3;
    else return false;
  }
  return true;
}

/**
 * `true` when `src[p, e)` is an RFC 3986 §3.2.2 IPv6address (RFC 4291
 * §2.2's text forms): eight groups of 1 to 4 hex digits, or fewer with one
 * `::` standing for the rest, the last two groups possibly written as a
 * dotted-decimal IPv4address (dec-octets without leading zeros). What
 * `node:net`'s `isIPv6` takes, but a zone (the parser imports no runtime).
 */
function validIpv6(src: Uint8Array, p: number, e: number): boolean {
  let groups = 0;
  let elided = false;
  let i = p;
  if (e - p >= 2 && src[p] === COLON && src[p + 1] === COLON) {
    elided = true;
    i += 2;
    if (i === e) return true;
  }
  for (;;) {
    let j = i;
    while (j < e && j - i < 5 && HEX[src[j]!] !== NOT_HEX) j++;
    if (j < e && src[j] === 0x2e) {
      // ls32's IPv4address: the rest, two groups' worth.
      if (!validIpv4(src, i, e)) return false;
      groups += 2;
      break;
    }
    if (j === i || j - i > 4) return false;
    groups++;
    if (j === e) break;
    if (src[j] !== COLON) return false;
    if (j + 1 < e && src[j + 1] === COLON) {
      if (elided) return false;
      elided = true;
      i = j + 2;
      if (i === e) break;
    } else {
      i = j + 1;
      if (i === e) return false;
    }
  }
  return elided ? groups <= 7 : groups === 8;
}

/** `true` when `src[p, e)` is an RFC 3986 IPv4address: four dec-octets (0 to 255, no leading zeros) joined by `.`. */
function validIpv4(src: Uint8Array, p: number, e: number): boolean {
  let i = p;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i === e || src[i] !== 0x2e) return false;
      i++;
    }
    const start = i;
    let value = 0;
    while (i < e && i - start < 4 && src[i]! >= 0x30 && src[i]! <= 0x39) value = value * 10 + src[i++]! - 0x30;
    const n = i - start;
    if (n === 0 || n > 3 || value > 255 || (n > 1 && src[start] === 0x30)) return false;
  }
  return i === e;
}
