/**
 * The hop-by-hop fields (RFC 9110 §7.6.1, which PEP 3333 forbids
 * applications) that neither the tsgi server nor the fetch bridges pass on
 * from an application's response: one list, so the server and the bridges
 * cannot drift apart. It is not wsgiref's `is_hop_by_hop` list, which the
 * toolkit keeps as wsgiref has it (`isHopByHop` in `tsgi/util`: RFC 2616's,
 * with `Proxy-Authenticate` and without `Trailer` and `Proxy-Connection`).
 *
 * The framing and connection fields (`Connection`, `Keep-Alive`,
 * `Transfer-Encoding`) are the server's to set; `TE`, `Trailer(s)`,
 * `Proxy-Connection` and `Proxy-Authorization` describe a hop the
 * application does not see; `Upgrade` is kept only on a 426 (RFC 9110
 * §15.5.22: the server MUST send it there). `Proxy-Authenticate` is not in
 * the list: a 407 MUST carry it (RFC 9110 §15.5.8).
 * @module
 */

/** The fields, lower-case. {@link isHopByHopField} answers for exactly these. */
export const HOP_BY_HOP_FIELDS: readonly string[] = [
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "upgrade",
  "trailer",
  "trailers",
  "proxy-connection",
  "proxy-authorization",
];

/**
 * Whether `name` (any case) is one of {@link HOP_BY_HOP_FIELDS}. A switch on
 * the length, with no allocation: the server calls it for every response
 * field.
 */
export function isHopByHopField(name: string): boolean {
  switch (name.length) {
    case 2:
      return eqLower(name, "te");
    case 7:
      return eqLower(name, "upgrade") || eqLower(name, "trailer");
    case 8:
      return eqLower(name, "trailers");
    case 10:
      return eqLower(name, "connection") || eqLower(name, "keep-alive");
    case 16:
      return eqLower(name, "proxy-connection");
    case 17:
      return eqLower(name, "transfer-encoding");
    case 19:
      return eqLower(name, "proxy-authorization");
    default:
      return false;
  }
}

/**
 * Whether the field `name` (any case) is dropped from a response with status
 * `code`: one of {@link HOP_BY_HOP_FIELDS}, except `Upgrade` on a 426, which
 * RFC 9110 §15.5.22 says the response MUST carry. The server, both fetch
 * bridges, the CGI handlers and `validator()` all ask this.
 */
export function isHopByHopFor(name: string, code: number): boolean {
  return isHopByHopField(name) && !(code === 426 && name.length === 7 && eqLower(name, "upgrade"));
}

/** ASCII case-insensitive compare of `name` with an already lower-case `lower` of the same length. */
export function eqLower(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}
