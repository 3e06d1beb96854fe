/**
 * The host of a URL written from an address: an IPv6 address in brackets,
 * with a zone identifier's `%` written `%25` (`fe80::1%eth0` →
 * `[fe80::1%25eth0]`): RFC 3986 §3.2.2 (IP-literal) and RFC 6874 §2
 * (`IPv6addrz = IPv6address "%25" ZoneID`). A bare `%eth0` is refused by
 * `new URL()` and by curl; `%25eth0` is what they parse. A name or IPv4
 * address is returned as it is.
 * @module
 */

/**
 * `host` as the host of a URL: `"::1"` → `"[::1]"`, `"fe80::1%eth0"` →
 * `"[fe80::1%25eth0]"`, `"127.0.0.1"` and `"localhost"` unchanged. An
 * address already bracketed, or a zone already written `%25`, is left so.
 * @param host an address or name as a socket reports or a flag gives it.
 */
export function uriHost(host: string): string {
  if (!host.includes(":") || host.startsWith("[")) return host;
  const zone = host.indexOf("%");
  if (zone < 0 || host.startsWith("%25", zone)) return `[${host}]`;
  return `[${host.slice(0, zone)}%25${host.slice(zone + 1)}]`;
}
