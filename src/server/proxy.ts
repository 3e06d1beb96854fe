/**
 * Trusted proxy headers (gunicorn `forwarded_allow_ips`, uvicorn
 * `--proxy-headers`): behind a reverse proxy the TCP peer is the proxy, and
 * the client's address, the scheme it used and the host it asked for arrive
 * in `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host` or in the
 * RFC 7239 `Forwarded` field. They are believed only when the peer is a
 * trusted proxy, and the client is the right-most address in the chain that
 * is not itself a trusted proxy (every hop to its right vouches for it; hops
 * to its left are whatever the client chose to send).
 *
 * Addresses and networks are parsed and matched with `ipaddr.js`. The
 * `Forwarded` parser is this module's own: `forwarded-parse` rejects the
 * whole field for one malformed element, so a client that sends one would
 * make every hop unreadable and be taken for its proxy.
 * @module
 */
import ipaddr from "ipaddr.js";
import type { Application, Environ } from "../spec.ts";
import { keepSignalMark } from "../gateway/signal.ts";

/** Which forwarding fields are read. */
export type ForwardedHeader = "x-forwarded" | "forwarded";

/** Options of {@link proxyHeaders}. */
export interface ProxyHeadersOptions {
  /**
   * The proxies to trust: IP addresses and CIDR networks (IPv4 and IPv6),
   * as an array or one comma-separated string; `"*"` trusts every peer
   * (only when nothing but the proxy can reach the server). Default
   * `["127.0.0.1", "::1"]` (gunicorn and uvicorn).
   */
  forwardedAllowIps?: string | readonly string[];
  /**
   * Read `X-Forwarded-For`/`-Proto`/`-Host` (`"x-forwarded"`, default: what
   * nginx, HAProxy and most load balancers send) or RFC 7239 `Forwarded`
   * (`"forwarded"`). Only one family is read: a proxy that sets one family
   * passes the other through from the client unchanged, so reading both
   * would let a client forge its address.
   */
  header?: ForwardedHeader;
  /**
   * Trust peers on a Unix socket (`REMOTE_ADDR` `""`): only local processes
   * with permission on the socket file can connect (gunicorn trusts them
   * too). Default true.
   */
  trustUnixSocket?: boolean;
}

/** The default {@link ProxyHeadersOptions.forwardedAllowIps}. */
export const DEFAULT_FORWARDED_ALLOW_IPS: readonly string[] = ["127.0.0.1", "::1"];

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Parse an address as the matcher sees it, or `null` when it is not one.
 * IPv4 is dotted decimal only (`ipaddr.js` alone would also read `10.1`,
 * `010.0.0.1` as octal and `0x7f.0.0.1`, forms no proxy writes and that
 * would make an address mean something else than it reads), in an IPv6
 * address's IPv4 tail too. An IPv6 zone (`fe80::1%eth0`) is ignored when
 * it is an interface name or number (RFC 6874's ZoneID characters: letters,
 * digits, `-._~`); anything else after a `%`, or a zone on an IPv4 address,
 * is not an address (`fe80::1%<script>` must not pass as one).
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as the IPv4 address, as a
 * dual-stack socket reports IPv4 peers that way.
 */
function parseIp(s: string): Address | null {
  const zone = s.indexOf("%");
  if (zone !== -1) {
    if (!/^[A-Za-z0-9\-._~]+$/.test(s.slice(zone + 1))) return null;
    s = s.slice(0, zone);
    if (!s.includes(":")) return null;
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!ipaddr.IPv6.isValid(s)) return null;
  const tail = s.slice(s.lastIndexOf(":") + 1);
  if (tail.includes(".") && !ipaddr.IPv4.isValidFourPartDecimal(tail)) return null;
  const v6 = ipaddr.IPv6.parse(s);
  // ipaddr.js reads the deprecated IPv4-compatible form (`::a.b.c.d`) as
  // IPv4-mapped; it is another address (RFC 4291 §2.5.5.1), kept IPv6 here.
  if (/^::[^:]*\./.test(s)) return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, v6.parts[6]!, v6.parts[7]!]);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * A set of trusted proxy addresses: IPs, CIDR networks, `"*"`, and (for
 * anything that is not an IP) exact strings. Addresses are parsed and
 * matched with `ipaddr.js`; the entry syntax, the messages and the trust
 * decision are this module's.
 */
export class TrustedProxies {
  private readonly all: boolean;
  private readonly exact = new Set<string>();
  private readonly nets: Array<[Address, number]> = [];
  /** The entries as given (for messages). */
  readonly entries: readonly string[];

  /**
   * @param spec addresses or networks, an array or a comma-separated string.
   * @throws TypeError on a malformed CIDR (`10.0.0.0/33`, `x/8`), digits and
   *   dots that are not a dotted-decimal IPv4 address (`010.0.0.1`, `10.1`),
   *   or another entry that is not `unknown` or an obfuscated `_name`
   *   (RFC 7239 §6; `10.0.0.1:8080`, `10.0.0.1 10.0.0.2`).
   */
  constructor(spec: string | readonly string[] = DEFAULT_FORWARDED_ALLOW_IPS) {
    const list = (typeof spec === "string" ? spec.split(",") : spec).map((s) => s.trim()).filter(Boolean);
    this.entries = list;
    this.all = list.includes("*");
    for (const entry of list) {
      if (entry === "*") continue;
      const slash = entry.indexOf("/");
      if (slash === -1) {
        const ip = parseIp(stripBrackets(entry));
        if (ip) this.nets.push([ip, ip.kind() === "ipv4" ? 32 : 128]);
        // Digits and dots meant an IPv4 address; as an exact token it would silently never match.
        else if (/^[\d.]+$/.test(entry)) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an IPv4 address (four decimal parts, no leading zeros)`);
        // The only other node names a proxy writes (RFC 7239 §6): `unknown` and an obfuscated `_name`.
        // Anything else (`10.0.0.1 10.0.0.2`, `10.0.0.1:8080`, `0x0a.0.0.1`) is a mistake that would trust nobody.
        else if (/^(?:unknown|_[A-Za-z0-9._-]+)$/.test(entry)) this.exact.add(entry);
        else throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an address, a network, "*", "unknown" or an obfuscated "_name" (separate entries with commas)`);
        continue;
      }
      const base = stripBrackets(entry.slice(0, slash));
      const ip = parseIp(base);
      const bits = entry.slice(slash + 1);
      if (!ip || !/^\d{1,3}$/.test(bits)) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an address or network`);
      let b = Number(bits);
      if (ip.kind() === "ipv4") {
        // An IPv4-mapped network (`::ffff:10.0.0.0/104`) has an IPv6 prefix length.
        if (base.includes(":") && b >= 96 && b <= 128) b -= 96;
        if (b > 32) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv4 prefix is at most /32`);
      } else if (b > 128) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv6 prefix is at most /128`);
      this.nets.push([ip, b]);
    }
  }

  /** Whether every peer is trusted (`"*"`). */
  get trustsAll(): boolean {
    return this.all;
  }

  /** Whether `address` (an IP, bracketed or not, or another token) is trusted. */
  has(address: string): boolean {
    if (this.all) return true;
    if (this.exact.has(address)) return true;
    const ip = parseIp(stripBrackets(address));
    if (!ip) return false;
    return this.nets.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
  }
}

function stripBrackets(s: string): string {
  return s.length > 1 && s[0] === "[" && s.endsWith("]") ? s.slice(1, -1) : s;
}

/**
 * The host part of a node identifier (`192.0.2.1`, `192.0.2.1:80`,
 * `[2001:db8::1]:443`, `2001:db8::1`, `unknown`, `_hidden`): address without
 * port or brackets; other tokens as they are.
 */
export function nodeHost(node: string): string {
  const s = node.trim();
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    return end === -1 ? s : s.slice(1, end);
  }
  const colon = s.indexOf(":");
  // One colon: host:port. Several: a bare IPv6 address.
  if (colon !== -1 && colon === s.lastIndexOf(":")) return s.slice(0, colon);
  return s;
}

/** One RFC 7239 forwarded-element: its parameters, names lower-cased, quoted values unquoted. */
export type ForwardedElement = Record<string, string>;

/**
 * Parse an RFC 7239 `Forwarded` field value into its elements, left to right.
 * Elements are separated by `,`, pairs by `;`, values are tokens or quoted
 * strings (`\` escapes). A malformed element is returned empty (its hop
 * still counts, so the chain stays aligned): the proxies' elements to its
 * right are still read, which a parser that rejects the whole field (as
 * `forwarded-parse` does) would not allow. A comma always ends an element,
 * even inside quotes or after a `\` (no value RFC 7239 defines holds one),
 * so a quote a client leaves open cannot swallow the elements its proxies
 * append.
 */
export function parseForwarded(value: string): ForwardedElement[] {
  const out: ForwardedElement[] = [];
  let i = 0;
  const n = value.length;
  let element: ForwardedElement = {};
  let bad = false;
  const skipWs = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  while (i <= n) {
    skipWs();
    if (i >= n) {
      out.push(bad ? {} : element);
      break;
    }
    if (value[i] === ",") {
      out.push(bad ? {} : element);
      element = {};
      bad = false;
      i++;
      continue;
    }
    if (value[i] === ";") {
      i++;
      continue;
    }
    let name = "";
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(value[i]!)) name += value[i++];
    skipWs();
    if (!name || value[i] !== "=") {
      bad = true;
      while (i < n && value[i] !== ",") i++;
      continue;
    }
    i++;
    skipWs();
    let v = "";
    if (value[i] === '"') {
      i++;
      let closed = false;
      // No value RFC 7239 defines holds a comma, and a quote the client left
      // open must not swallow the elements its proxies append (`for="` +
      // `, for=192.0.2.1`): any comma, escaped (`\,`) too, ends the element, bad.
      while (i < n && value[i] !== ",") {
        const c = value[i++]!;
        if (c === "\\") {
          if (i < n && value[i] !== ",") v += value[i++];
        } else if (c === '"') {
          closed = true;
          break;
        } else v += c;
      }
      if (!closed) bad = true;
    } else {
      while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z:\[\]]/.test(value[i]!)) v += value[i++];
    }
    element[name.toLowerCase()] = v;
  }
  return out;
}

/** An RFC 7239 §6 node name, its port and brackets removed: an IP address, `unknown` or an obfuscated `_name`. */
function forwardedNode(host: string): boolean {
  return parseIp(host) !== null || /^(?:unknown|_[A-Za-z0-9._-]+)$/.test(host);
}

function splitList(value: unknown): string[] {
  if (typeof value !== "string" || value === "") return [];
  return value.split(",").map((s) => s.trim());
}

/** A host as a client may send it in `Host` (RFC 9110 §7.2: uri-host [":" port]); nothing else is copied into `HTTP_HOST`. */
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::\d{1,5})?$/;

/**
 * Rewrite `environ` from the forwarding fields when its peer
 * (`REMOTE_ADDR`) is trusted; leave it untouched otherwise. Sets
 * `REMOTE_ADDR` (and `REMOTE_PORT` to `""`: the client's port is not
 * known) to the right-most hop that is not a trusted proxy, stopping at a
 * hop that is not an IP address (in `Forwarded`, also not `unknown` or an
 * obfuscated `_name`, RFC 7239 §6) with the last address read, as nginx's
 * realip module does; `tsgi.url_scheme` and `HTTPS` (`"on"` for https, removed for
 * http), and `HTTP_HOST`. The original peer is kept as
 * `tsgi.proxy_peer` (address) and `tsgi.proxy_peer_port`.
 *
 * @returns whether the fields were applied (the peer was trusted and sent some).
 */
export function applyProxyHeaders(environ: Environ, trusted: TrustedProxies, header: ForwardedHeader = "x-forwarded", trustUnixSocket = true): boolean {
  const peer = typeof environ.REMOTE_ADDR === "string" ? environ.REMOTE_ADDR : "";
  if (peer === "" ? !trustUnixSocket : !trusted.has(peer)) return false;
  let hops: string[];
  let protos: string[];
  let hosts: string[];
  if (header === "forwarded") {
    const raw = environ["HTTP_FORWARDED"];
    if (typeof raw !== "string" || raw === "") return false;
    const elements = parseForwarded(raw);
    hops = elements.map((e) => (e["for"] === undefined ? "" : nodeHost(e["for"])));
    protos = elements.map((e) => e["proto"] ?? "");
    hosts = elements.map((e) => e["host"] ?? "");
  } else {
    hops = splitList(environ["HTTP_X_FORWARDED_FOR"]).map(nodeHost);
    protos = splitList(environ["HTTP_X_FORWARDED_PROTO"]);
    hosts = splitList(environ["HTTP_X_FORWARDED_HOST"]);
    if (hops.length === 0 && protos.length === 0 && hosts.length === 0) return false;
  }
  // The client: the right-most hop that is not a trusted proxy (all trusted: the left-most).
  // A hop that is not an address (`X-Forwarded-For: <script>`, `for=evil`, an empty element)
  // ends the walk, and the client is the last address read, the trusted hop to its right, or,
  // when the nearest hop is already bad, the peer stays: as nginx's realip module and Apache's
  // mod_remoteip do, so REMOTE_ADDR is always an address (or RFC 7239's unknown / _name).
  const isNode = header === "forwarded" ? forwardedNode : (h: string) => parseIp(h) !== null;
  let k = hops.length - 1;
  while (k > 0 && isNode(hops[k]!) && trusted.has(hops[k]!)) k--;
  if (k >= 0 && !isNode(hops[k]!)) k++;
  const pick = (list: string[]): string | undefined => {
    if (list.length === 0) return undefined;
    // Lists appended hop by hop line up with the addresses; a single value was set by the nearest proxy.
    const v = list.length === hops.length && k >= 0 && k < hops.length ? list[k] : list[list.length - 1];
    return v === "" ? undefined : v;
  };
  if (k >= 0 && k < hops.length) {
    environ["tsgi.proxy_peer"] = peer;
    environ["tsgi.proxy_peer_port"] = environ.REMOTE_PORT ?? "";
    environ.REMOTE_ADDR = hops[k]!;
    environ.REMOTE_PORT = "";
  }
  const proto = pick(protos)?.toLowerCase();
  if (proto === "https" || proto === "http") {
    environ["tsgi.url_scheme"] = proto;
    if (proto === "https") environ["HTTPS"] = "on";
    else delete environ["HTTPS"];
  }
  const host = pick(hosts);
  if (host !== undefined && HOST_RE.test(host)) environ["HTTP_HOST"] = host;
  return true;
}

/**
 * Middleware: apply {@link applyProxyHeaders} to every request before
 * `app` sees it (`--proxy-headers`). Use it only behind a proxy that sets
 * the fields it reads (for nginx: `proxy_set_header X-Forwarded-For
 * $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme;
 * proxy_set_header X-Forwarded-Host $host;`).
 *
 * @throws TypeError at creation when `forwardedAllowIps` holds a malformed network.
 */
export function proxyHeaders(app: Application, options: ProxyHeadersOptions = {}): Application {
  const trusted = new TrustedProxies(options.forwardedAllowIps ?? DEFAULT_FORWARDED_ALLOW_IPS);
  const header = options.header ?? "x-forwarded";
  if (header !== "x-forwarded" && header !== "forwarded") throw new TypeError(`proxyHeaders: header must be "x-forwarded" or "forwarded", got ${JSON.stringify(header)}`);
  const trustUnix = options.trustUnixSocket ?? true;
  const wrapped: Application = (environ, startResponse) => {
    applyProxyHeaders(environ, trusted, header, trustUnix);
    return app(environ, startResponse);
  };
  return keepSignalMark(wrapped, app);
}
