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
 * Addresses are read with `node:net`'s `isIP` (with this module's rules
 * for zones and IPv4-mapped addresses) and matched with its `BlockList`:
 * the runtime's own, 0.1 to 0.7 µs a hop. At most
 * {@link MAX_FORWARDED_HOPS} hops are examined, each parsed once. The
 * `Forwarded` parser is this module's own: `forwarded-parse` rejects the
 * whole field for one malformed element, so a client that sends one would
 * make every hop unreadable and be taken for its proxy.
 * @module
 */
import { BlockList, isIP } from "node:net";
import type { Application, Environ } from "../spec.ts";
import { keepSignalMark } from "../gateway/signal.ts";
import { validHostValue } from "../http/target.ts";

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
  forwardedAllowIps?: string | readonly string[] | undefined;
  /**
   * Read `X-Forwarded-For`/`-Proto`/`-Host` (`"x-forwarded"`, default: what
   * nginx, HAProxy and most load balancers send) or RFC 7239 `Forwarded`
   * (`"forwarded"`). Only one family is read: a proxy that sets one family
   * passes the other through from the client unchanged, so reading both
   * would let a client forge its address.
   */
  header?: ForwardedHeader | undefined;
  /**
   * Trust peers on a Unix socket (`REMOTE_ADDR` `""`): only local processes
   * with permission on the socket file can connect (gunicorn trusts them
   * too); on an abstract socket (`unix: "@name"`, no file) any process in
   * the same network namespace can, as to 127.0.0.1, which the default
   * `forwardedAllowIps` trusts too. Default true.
   */
  trustUnixSocket?: boolean | undefined;
}

/** The default {@link ProxyHeadersOptions.forwardedAllowIps}. Frozen: one written from plain JavaScript (a `"*"` pushed) would trust every peer of every `proxyHeaders()` made after it (writing it throws a `TypeError`). */
export const DEFAULT_FORWARDED_ALLOW_IPS: readonly string[] = Object.freeze(["127.0.0.1", "::1"]);

/**
 * An address as the matcher reads it, or `null` when the text is not one:
 * the text itself, an IPv6 zone removed (a family test is a `:` in it).
 * `node:net`'s `isIP` decides what is an address: IPv4 in dotted decimal
 * only, four parts of 0 to 255 with no leading zeros (not `10.1`,
 * `010.0.0.1`, which `inet_aton` reads as octal, or `0x7f.0.0.1`: forms no
 * proxy writes, which would make an address mean something else than it
 * reads); IPv6 as hexadecimal groups of one to four digits with at most one
 * `::` and an optional dotted-decimal IPv4 tail (RFC 4291 §2.2), no brackets.
 * An IPv6 zone (`fe80::1%eth0`) is ignored when it is an interface name or
 * number (RFC 6874's ZoneID characters: letters, digits, `-._~`); anything
 * else after a `%` (Node's pattern would also take `:`), or a zone on an
 * IPv4 address, is not an address (`fe80::1%<script>` must not pass as one);
 * nor is a zone on an IPv4-mapped address (`::ffff:10.0.0.5%eth0`, which
 * `isIP` takes): it stands for an IPv4 peer (RFC 4291 §2.5.5.2), IPv4 has no
 * zones (RFC 4007's are for scoped IPv6 addresses), and no socket reports one,
 * so it is refused as `10.0.0.5%eth0` is rather than matched as `10.0.0.5`.
 * Text longer than 45 characters before any zone is no address without
 * being scanned further (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`
 * is the longest). About 0.02 µs for IPv4, 0.1 to 0.3 µs for IPv6.
 */
function parseIp(s: string): string | null {
  const zone = s.indexOf("%");
  const address = zone === -1 ? s : s.slice(0, zone);
  if (address.length > MAX_IP_TEXT) return null;
  const family = isIP(address);
  if (family === 0) return null;
  // A zone on an IPv4-mapped address is one on an IPv4 peer (IPV4_MAPPED; isIP takes it).
  if (zone !== -1 && (family === 4 || !ZONE_ID_RE.test(s.slice(zone + 1)) || IPV4_MAPPED.check(address, "ipv6"))) return null;
  return address;
}

/** `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`'s length: no longer text is an address. */
const MAX_IP_TEXT = 45;

/** An interface name or number as an IPv6 zone (RFC 6874 §2: ZoneID = 1*( unreserved / pct-encoded ), `%` left out). */
const ZONE_ID_RE = /^[A-Za-z0-9\-._~]+$/;

/**
 * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, `::ffff:0:0/96`, RFC 4291
 * §2.5.5.2): they count as their IPv4 address, as a dual-stack socket
 * reports IPv4 peers that way. (The IPv4-compatible form, `::a.b.c.d`,
 * §2.5.5.1, is another address and stays IPv6; so does `::ffff:0:a.b.c.d`.)
 */
const IPV4_MAPPED = new BlockList();
IPV4_MAPPED.addSubnet("::ffff:0:0", 96, "ipv6");

/**
 * A set of trusted proxy addresses: IPs, CIDR networks, `"*"`, and (for
 * anything that is not an IP) exact strings. Addresses are read with
 * `node:net`'s `isIP` ({@link parseIp}'s rules) and matched with its
 * `BlockList`; the entry syntax, the messages and the trust decision are
 * this module's. An IPv4-mapped address matches the IPv4 entries and only
 * them: `127.0.0.1` trusts `::ffff:127.0.0.1`, `::/0` trusts no IPv4 peer.
 */
export class TrustedProxies {
  private readonly all: boolean;
  private readonly exact = new Set<string>();
  /** The IPv4 networks; an IPv4-mapped entry is kept as its IPv6 network, which `BlockList` matches against IPv4 addresses too. */
  private readonly v4 = new BlockList();
  /** The IPv6 networks other than IPv4-mapped ones. */
  private readonly v6 = new BlockList();
  /** Whether an IPv6 network covers `::ffff:0:0/96` (`::/0`, `::/64`): `BlockList` would match IPv4-mapped addresses against it, which must not. */
  private readonly v6CoversMapped: boolean;
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
        if (ip !== null) this.add(entry, ip, undefined);
        // Digits and dots meant an IPv4 address; as an exact token it would silently never match.
        else if (/^[\d.]+$/.test(entry)) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an IPv4 address (four decimal parts, no leading zeros)`);
        // The only other node names a proxy writes (RFC 7239 §6): `unknown` and an obfuscated `_name`.
        // Anything else (`10.0.0.1 10.0.0.2`, `10.0.0.1:8080`, `0x0a.0.0.1`) is a mistake that would trust nobody.
        else if (/^(?:unknown|_[A-Za-z0-9._-]+)$/.test(entry)) this.exact.add(entry);
        else throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an address, a network, "*", "unknown" or an obfuscated "_name" (separate entries with commas)`);
        continue;
      }
      const ip = parseIp(stripBrackets(entry.slice(0, slash)));
      const bits = entry.slice(slash + 1);
      if (ip === null || !/^\d{1,3}$/.test(bits)) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an address or network`);
      this.add(entry, ip, Number(bits));
    }
    this.v6CoversMapped = this.v6.check("::ffff:0:0", "ipv6");
  }

  /** Add `ip` (parsed from `entry`) with prefix length `bits` (none: the address alone). */
  private add(entry: string, ip: string, bits: number | undefined): void {
    if (ip.indexOf(":") === -1) {
      if (bits !== undefined && bits > 32) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv4 prefix is at most /32`);
      this.v4.addSubnet(ip, bits ?? 32, "ipv4");
    } else if (IPV4_MAPPED.check(ip, "ipv6")) {
      // An IPv4-mapped network has an IPv6 prefix length (`::ffff:10.0.0.0/104`) or an IPv4 one (`::ffff:10.0.0.0/8`).
      const b = bits === undefined ? 128 : bits <= 32 ? 96 + bits : bits;
      if (b < 96 || b > 128) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv4 prefix is at most /32`);
      this.v4.addSubnet(ip, b, "ipv6");
    } else {
      if (bits !== undefined && bits > 128) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv6 prefix is at most /128`);
      this.v6.addSubnet(ip, bits ?? 128, "ipv6");
    }
  }

  /** Whether every peer is trusted (`"*"`). */
  get trustsAll(): boolean {
    return this.all;
  }

  /** The last text {@link has} was asked about and its answer: a server asks about the same proxy's address request after request. */
  private lastAsked: string | undefined;
  private lastAnswer = false;

  /** Whether `address` (an IP, bracketed or not, or another token) is trusted. */
  has(address: string): boolean {
    if (address === this.lastAsked) return this.lastAnswer;
    const answer = this.trusts(address, parseIp(stripBrackets(address)));
    // A text longer than any address is not kept (it may be a slice that holds a whole field).
    if (address.length <= MAX_IP_TEXT) {
      this.lastAsked = address;
      this.lastAnswer = answer;
    }
    return answer;
  }

  /** {@link has} for a hop already parsed: `ip` is `parseIp(host)` (`host` without brackets). */
  trusts(host: string, ip: string | null): boolean {
    if (this.all || this.exact.has(host)) return true;
    if (ip === null) return false;
    if (ip.indexOf(":") === -1) return this.v4.check(ip, "ipv4");
    if (this.v6.check(ip, "ipv6") && !(this.v6CoversMapped && IPV4_MAPPED.check(ip, "ipv6"))) return true;
    // `BlockList` matches an IPv6 address against IPv4 networks only when it is IPv4-mapped.
    return this.v4.check(ip, "ipv6");
  }
}

function stripBrackets(s: string): string {
  return s.length > 1 && s[0] === "[" && s.endsWith("]") ? s.slice(1, -1) : s;
}

/**
 * The host part of a node identifier (`192.0.2.1`, `192.0.2.1:80`,
 * `[2001:db8::1]:443`, `2001:db8::1`, `unknown`, `_hidden`): address without
 * port or brackets; other tokens as they are. A node whose part after the
 * host is no port (RFC 7239 §6: `node-port = port / obfport`, 1 to 5 digits
 * or `_` and a name; `192.0.2.1:80x`, `192.0.2.1:+1`, `192.0.2.1 :80`,
 * `[2001:db8::1]x`) is returned whole: no address, so it ends the proxy walk
 * as any hop that is not one does (nginx's realip module refuses such an
 * entry too), rather than passing its host on as the client's.
 */
export function nodeHost(node: string): string {
  const s = node.trim();
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end === -1) return s;
    if (end === s.length - 1) return s.slice(1, end);
    return s.charCodeAt(end + 1) === 58 && NODE_PORT_RE.test(s.slice(end + 2)) ? s.slice(1, end) : s;
  }
  const colon = s.indexOf(":");
  // One colon: host:port. Several: a bare IPv6 address.
  if (colon !== -1 && colon === s.lastIndexOf(":")) return NODE_PORT_RE.test(s.slice(colon + 1)) ? s.slice(0, colon) : s;
  return s;
}

/** RFC 7239 §6 `node-port = port / obfport`: 1 to 5 digits, or `_` and 1 or more of ALPHA, DIGIT, `.`, `_`, `-`. */
const NODE_PORT_RE = /^(?:[0-9]{1,5}|_[A-Za-z0-9._-]+)$/;

/**
 * The client's port in a node identifier, as `REMOTE_PORT` gives it: the
 * decimal port after the host (`192.0.2.1:4711`, `[2001:db8::1]:4711`, RFC
 * 7239 §6's `node-port`; the form nginx's realip module reads from
 * `X-Forwarded-For` too), without leading zeros; `""` when there is none (a
 * bare address, `unknown`, a bare IPv6 address, whose colons are its own),
 * when it is an obfuscated port (`_x`, RFC 7239 §6.3: it stands for a port
 * it does not give, and `REMOTE_PORT` is a number or `""`), or when it is no
 * port (not 1 to 5 digits, 0, or over 65535).
 */
export function nodePort(node: string): string {
  const s = node.trim();
  let colon: number;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end === -1 || s.charCodeAt(end + 1) !== 58) return "";
    colon = end + 1;
  } else {
    colon = s.indexOf(":");
    // None, or several: a bare IPv6 address.
    if (colon === -1 || colon !== s.lastIndexOf(":")) return "";
  }
  const digits = s.slice(colon + 1);
  if (!PORT_RE.test(digits)) return "";
  const port = Number(digits);
  return port >= 1 && port <= 65535 ? String(port) : "";
}

/** RFC 7239 §6 `port = 1*5DIGIT`. */
const PORT_RE = /^[0-9]{1,5}$/;

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

/**
 * Token characters (RFC 9110 §5.6.2) by character code; a `Forwarded` token
 * value may also hold `:`, `[` and `]` (`VALUE_CHAR`). RFC 7239 §4 and §6
 * want a node with a port or an IPv6 address quoted, but proxies configured
 * by hand write it bare (HAProxy `set-header Forwarded for=%[src]` for an
 * IPv6 client, `for=%[src]:%[src_port]`): read as the quoted form, since a
 * client gains nothing by it (it could quote the same node; trust depends
 * on the address alone), while refusing it would end the walk at the
 * nearest proxy's own element and leave every such client with the
 * proxy's address.
 */
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

/**
 * Rewrite `environ` from the forwarding fields when its peer
 * (`REMOTE_ADDR`) is trusted; leave it untouched otherwise. Sets
 * `REMOTE_ADDR` (and `REMOTE_PORT` to the port that hop carries, RFC 7239
 * §6's `for="192.0.2.60:4711"` or `for="[2001:db8::17]:4711"`, else `""`:
 * see {@link nodePort}) to the right-most hop that is not a trusted proxy, stopping at a
 * hop that is not an IP address (in `Forwarded`, also not `unknown` or an
 * obfuscated `_name`, RFC 7239 §6) with the last address read, as nginx's
 * realip module does; `tsgi.url_scheme` and `HTTPS` (`"on"` for https, removed for
 * http), and `HTTP_HOST` (only from a value the parser would take as a
 * `Host` field, `validHostValue`: `[::1]:8080` is copied, `[zz]` or
 * `a b` leaves `HTTP_HOST` as it was). The original peer is kept as
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
  /** The hops as sent (a host, maybe with a port), right-most first; {@link hops} holds their hosts. */
  let nodes: string[];
  let hops: string[];
  let protos: ListTail;
  let hosts: ListTail;
  if (header === "forwarded") {
    const raw = environ["HTTP_FORWARDED"];
    if (typeof raw !== "string" || raw === "") return false;
    const list = listFromRight(raw, MAX_FORWARDED_HOPS, false);
    const elements = list.last.map(parseForwardedElement);
    hopCount = list.count;
    nodes = elements.map((e) => e["for"] ?? "");
    hops = nodes.map((n) => (n === "" ? "" : nodeHost(n)));
    protos = { count: hopCount, last: elements.map((e) => e["proto"] ?? "") };
    hosts = { count: hopCount, last: elements.map((e) => e["host"] ?? "") };
  } else {
    const list = listFromRight(environ["HTTP_X_FORWARDED_FOR"], MAX_FORWARDED_HOPS, true);
    hopCount = list.count;
    nodes = list.last;
    hops = nodes.map(nodeHost);
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
  const isNode = (host: string, ip: string | null) => ip !== null || (forwarded && FORWARDED_NAME_RE.test(host));
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
    environ.REMOTE_PORT = nodePort(nodes[r]!);
  }
  const proto = pick(protos)?.toLowerCase();
  if (proto === "https" || proto === "http") {
    environ["tsgi.url_scheme"] = proto;
    if (proto === "https") environ["HTTPS"] = "on";
    else delete environ["HTTPS"];
  }
  const host = pick(hosts);
  // Only what the parser takes as a Host field value (RFC 9110 §7.2, an IP-literal checked whole) becomes HTTP_HOST.
  if (host !== undefined && validHostValue(host)) environ["HTTP_HOST"] = host;
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
