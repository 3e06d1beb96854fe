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
 * Addresses and networks are matched with `ipaddr.js`, and parsed with it
 * too except the common forms (dotted-decimal IPv4, plain IPv6), which this
 * module reads in one pass, ten to fifty times faster. At most
 * {@link MAX_FORWARDED_HOPS} hops are examined, each parsed once. The
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
 *
 * The forms proxies write (dotted-decimal IPv4; IPv6 as hexadecimal groups
 * with at most one `::` and an optional dotted-decimal tail, RFC 4291 §2.2)
 * are read here in one pass, about 0.1 µs; other text of at most 45
 * characters before any zone (a zone, brackets, a group of five digits) goes
 * to {@link parseIpSlow}, which is `ipaddr.js` (1 to 8 µs) and decides;
 * longer text is no address (none is written longer).
 */
function parseIp(s: string): Address | null {
  if (s.indexOf(":") === -1) {
    // No colon: IPv4 or nothing (a zone on IPv4 is refused; ipaddr.js reads no IPv6 without a colon).
    const q = s.indexOf("%") === -1 ? dottedQuad(s, 0, s.length) : null;
    return q === null ? null : new ipaddr.IPv4(q);
  }
  // The longest IPv6 text this module reads, zone aside, is six 4-digit groups and a dotted-decimal
  // tail (45 characters): anything longer is refused before it is scanned further.
  const zone = s.indexOf("%");
  if ((zone === -1 ? s.length : zone) > MAX_IPV6_TEXT) return null;
  const parts = zone === -1 ? ipv6Parts(s) : undefined;
  if (parts === undefined) return parseIpSlow(s);
  // IPv4-mapped (`::ffff:0:0/96`, RFC 4291 §2.5.5.2) counts as the IPv4 address; the
  // IPv4-compatible form (`::a.b.c.d`, §2.5.5.1) is another address and stays IPv6.
  if (parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff) {
    return new ipaddr.IPv4([parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff]);
  }
  return new ipaddr.IPv6(parts);
}

/** `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`'s length: groups of more than 4 digits or a tail of more than 15 are not read as an address. */
const MAX_IPV6_TEXT = 45;

/** {@link parseIp} for the forms its fast path leaves: `ipaddr.js` with this module's rules. */
function parseIpSlow(s: string): Address | null {
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

/** Hexadecimal digit values by character code (-1: not one). */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX_DIGIT[48 + c] = c;
for (let c = 0; c < 6; c++) HEX_DIGIT[65 + c] = HEX_DIGIT[97 + c] = 10 + c;

/** `s[start, end)` as a dotted-decimal IPv4 address (four parts of 0 to 255, no leading zeros): its octets, or `null`. */
function dottedQuad(s: string, start: number, end: number): number[] | null {
  const octets = [0, 0, 0, 0];
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return null;
      octets[part++] = value;
      value = digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || (digits === 1 && value === 0)) return null;
    value = value * 10 + (c - 48);
    if (value > 255) return null;
    digits++;
  }
  if (digits === 0 || part !== 3) return null;
  octets[3] = value;
  return octets;
}

/**
 * The eight 16-bit groups of an IPv6 address written as hexadecimal groups
 * of one to four digits, at most one `::` standing for at least one zero
 * group, and optionally a dotted-decimal IPv4 tail for the last two
 * (RFC 4291 §2.2); `undefined` for any other text, which {@link parseIpSlow} judges.
 */
function ipv6Parts(s: string): number[] | undefined {
  const n = s.length;
  const head: number[] = [];
  let tail: number[] | null = null;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    tail = [];
    i = 2;
  }
  while (i < n) {
    let j = i;
    let v = 0;
    for (; j < n; j++) {
      const c = s.charCodeAt(j);
      const h = c < 128 ? HEX_DIGIT[c]! : -1;
      if (h < 0) break;
      v = v * 16 + h;
    }
    const groups = tail ?? head;
    if (j < n && s.charCodeAt(j) === 46) {
      const q = dottedQuad(s, i, n);
      if (q === null) return undefined;
      groups.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups.push(v);
    if (j === n) break;
    if (s.charCodeAt(j) !== 58 || j + 1 === n) return undefined;
    if (s.charCodeAt(j + 1) === 58) {
      if (tail !== null) return undefined;
      tail = [];
      i = j + 2;
    } else i = j + 1;
  }
  if (tail === null) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  while (head.length + tail.length < 8) head.push(0);
  return head.concat(tail);
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
    return this.trusts(address, parseIp(stripBrackets(address)));
  }

  /** {@link has} for a hop already parsed: `ip` is `parseIp(host)` (`host` without brackets). */
  trusts(host: string, ip: Address | null): boolean {
    if (this.all || this.exact.has(host)) return true;
    if (ip === null) return false;
    const kind = ip.kind();
    for (const [net, bits] of this.nets) if (net.kind() === kind && ip.match(net, bits)) return true;
    return false;
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
 * append, and element `i` is the text between the field's `i`-th and
 * `i+1`-th commas.
 */
export function parseForwarded(value: string): ForwardedElement[] {
  return value.split(",").map(parseForwardedElement);
}

/** Token characters (RFC 9110 §5.6.2) by character code; a `Forwarded` token value may also hold `:`, `[` and `]` (`VALUE_CHAR`). */
const TCHAR = new Uint8Array(128);
const VALUE_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = VALUE_CHAR[c.charCodeAt(0)] = 1;
for (const c of ":[]") VALUE_CHAR[c.charCodeAt(0)] = 1;

/** One forwarded-element of {@link parseForwarded}: `text` holds no comma; malformed gives `{}`. */
function parseForwardedElement(text: string): ForwardedElement {
  const n = text.length;
  const element: ForwardedElement = {};
  let i = 0;
  const skipWs = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 9; c = text.charCodeAt(++i));
  };
  for (;;) {
    skipWs();
    if (i >= n) return element;
    if (text.charCodeAt(i) === 59) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < n && TCHAR[text.charCodeAt(i)] === 1) i++;
    const name = text.slice(nameStart, i);
    skipWs();
    if (name === "" || text.charCodeAt(i) !== 61) return {};
    i++;
    skipWs();
    let v: string;
    if (text.charCodeAt(i) === 34) {
      i++;
      v = "";
      let closed = false;
      let from = i;
      while (i < n) {
        const c = text.charCodeAt(i++);
        if (c === 92) {
          v += text.slice(from, i - 1);
          from = i;
          if (i < n) i++;
        } else if (c === 34) {
          closed = true;
          break;
        }
      }
      // An open quote runs to the element's end: the element is malformed.
      if (!closed) return {};
      v += text.slice(from, i - 1);
    } else {
      const start = i;
      while (i < n && VALUE_CHAR[text.charCodeAt(i)] === 1) i++;
      v = text.slice(start, i);
    }
    element[name.toLowerCase()] = v;
  }
}

/** An RFC 7239 §6 node name that is not an IP address: `unknown` or an obfuscated `_name`. */
const FORWARDED_NAME_RE = /^(?:unknown|_[A-Za-z0-9._-]+)$/;

/**
 * The most hops {@link applyProxyHeaders} examines, from the right: past
 * it, the chain is read as if it had been cut there (the hop at the cap is
 * the client). No proxy chain is that long: each hop is a trusted proxy
 * that appended its peer, and it takes a chain of 32 trusted addresses
 * written by the client itself to reach the cap.
 */
export const MAX_FORWARDED_HOPS = 32;

/** A comma-separated list's item count and its last items, right-most first. */
interface ListTail {
  count: number;
  last: string[];
}

/**
 * A comma-separated list read from the right: its item count and, right-most
 * first, its last `max` items (trimmed when `trim`), found without splitting
 * the rest. A missing or empty value is an empty list.
 */
function listFromRight(value: unknown, max: number, trim: boolean): ListTail {
  if (typeof value !== "string" || value === "") return { count: 0, last: [] };
  let count = 1;
  for (let c = value.indexOf(","); c !== -1; c = value.indexOf(",", c + 1)) count++;
  const last: string[] = [];
  let end = value.length;
  while (last.length < max && last.length < count) {
    const comma = end === 0 ? -1 : value.lastIndexOf(",", end - 1);
    const item = value.slice(comma + 1, end);
    last.push(trim ? item.trim() : item);
    end = comma;
  }
  return { count, last };
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
 * At most {@link MAX_FORWARDED_HOPS} (32) hops are examined, right to left:
 * when all of them are trusted, the 32nd from the right is the client, as
 * if the chain had been cut there (nginx's realip and uvicorn walk the whole
 * field; werkzeug's `ProxyFix` reads a fixed count, `x_for`, default 1). Only
 * hops a client wrote itself lie that far left (no deployment chains 32
 * proxies), and a client that writes them chooses the result either way, so
 * the cap changes nothing it could not already do, while the work per
 * request stays bounded (a 64 KiB field of trusted IPv6 addresses cost about
 * 90 ms of CPU before). Only the examined elements of a `Forwarded` field are
 * parsed; the other lists are only counted (commas), to tell whether they line up.
 *
 * @returns whether the fields were applied (the peer was trusted and sent some).
 */
export function applyProxyHeaders(environ: Environ, trusted: TrustedProxies, header: ForwardedHeader = "x-forwarded", trustUnixSocket = true): boolean {
  const peer = typeof environ.REMOTE_ADDR === "string" ? environ.REMOTE_ADDR : "";
  if (peer === "" ? !trustUnixSocket : !trusted.has(peer)) return false;
  // Each list: its item count and its last MAX_FORWARDED_HOPS items, right-most first.
  let hopCount: number;
  let hops: string[];
  let protos: ListTail;
  let hosts: ListTail;
  if (header === "forwarded") {
    const raw = environ["HTTP_FORWARDED"];
    if (typeof raw !== "string" || raw === "") return false;
    const list = listFromRight(raw, MAX_FORWARDED_HOPS, false);
    const elements = list.last.map(parseForwardedElement);
    hopCount = list.count;
    hops = elements.map((e) => (e["for"] === undefined ? "" : nodeHost(e["for"])));
    protos = { count: hopCount, last: elements.map((e) => e["proto"] ?? "") };
    hosts = { count: hopCount, last: elements.map((e) => e["host"] ?? "") };
  } else {
    const list = listFromRight(environ["HTTP_X_FORWARDED_FOR"], MAX_FORWARDED_HOPS, true);
    hopCount = list.count;
    hops = list.last.map(nodeHost);
    protos = listFromRight(environ["HTTP_X_FORWARDED_PROTO"], MAX_FORWARDED_HOPS, true);
    hosts = listFromRight(environ["HTTP_X_FORWARDED_HOST"], MAX_FORWARDED_HOPS, true);
    if (hopCount === 0 && protos.count === 0 && hosts.count === 0) return false;
  }
  // The client: the right-most hop that is not a trusted proxy (all trusted: the left-most,
  // or the one at the cap). A hop that is not an address (`X-Forwarded-For: <script>`,
  // `for=evil`, an empty element) ends the walk, and the client is the last address read,
  // the trusted hop to its right, or, when the nearest hop is already bad, the peer stays:
  // as nginx's realip module and Apache's mod_remoteip do, so REMOTE_ADDR is always an
  // address (or RFC 7239's unknown / _name). Each hop is parsed once, for both questions.
  // `r` counts from the right (hops[r] is hop hopCount - 1 - r; r = -1: none, the peer stays).
  const forwarded = header === "forwarded";
  const isNode = (host: string, ip: Address | null) => ip !== null || (forwarded && FORWARDED_NAME_RE.test(host));
  const last = hops.length - 1;
  let r = 0;
  let node = false;
  for (; r <= last; r++) {
    const host = hops[r]!;
    const ip = parseIp(host);
    node = isNode(host, ip);
    if (r === last || !node) break;
    const bare = stripBrackets(host);
    if (!trusted.trusts(host, bare === host ? ip : parseIp(bare))) break;
  }
  if (hopCount > 0 && !node) r--;
  const pick = (list: ListTail): string | undefined => {
    if (list.count === 0) return undefined;
    // Lists appended hop by hop line up with the addresses; a single value was set by the nearest proxy.
    const v = list.count === hopCount && r >= 0 && r <= last ? list.last[r] : list.last[0];
    return v === "" ? undefined : v;
  };
  if (hopCount > 0 && r >= 0) {
    environ["tsgi.proxy_peer"] = peer;
    environ["tsgi.proxy_peer_port"] = environ.REMOTE_PORT ?? "";
    environ.REMOTE_ADDR = hops[r]!;
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
