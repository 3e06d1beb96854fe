/**
 * Trusted proxy headers (gunicorn `forwarded_allow_ips`, uvicorn
 * `--proxy-headers`): behind a reverse proxy the TCP peer is the proxy, and
 * the client's address, the scheme it used and the host it asked for arrive
 * in `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host` or in the
 * RFC 7239 `Forwarded` field. They are believed only when the peer is a
 * trusted proxy, and the client is the right-most address in the chain that
 * is not itself a trusted proxy (every hop to its right vouches for it; hops
 * to its left are whatever the client chose to send).
 * @module
 */
import type { Application, Environ } from "../spec.ts";

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

/** Parse an IPv4 address to a number, or `null`. */
function parseV4(s: string): number | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

/** Parse an IPv6 address (with an optional embedded IPv4 tail) to a bigint, or `null`. */
function parseV6(s: string): bigint | null {
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (!s.includes(":")) return null;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  const maybeV4 = s.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    const v4 = parseV4(maybeV4);
    if (v4 === null) return null;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    s = s.slice(0, lastColon + 1) + "0"; // placeholder group, replaced below
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (tail.length) {
    // drop the placeholder group
    if (halves.length === 2) rest.pop();
    else head.pop();
  }
  const needed = 8 - tail.length;
  let all: string[];
  if (halves.length === 2) {
    if (head.length + rest.length > needed - 1) return null;
    all = [...head, ...Array<string>(needed - head.length - rest.length).fill("0"), ...rest];
  } else {
    if (head.length !== needed) return null;
    all = head;
  }
  let n = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  for (const t of tail) n = (n << 16n) | BigInt(t);
  return n;
}

type Parsed = { v: 4; n: number } | { v: 6; n: bigint };

/** An address as the matcher sees it: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4. */
function parseIp(s: string): Parsed | null {
  const v4 = parseV4(s);
  if (v4 !== null) return { v: 4, n: v4 };
  const v6 = parseV6(s);
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { v: 4, n: Number(v6 & 0xffffffffn) };
  return { v: 6, n: v6 };
}

/**
 * A set of trusted proxy addresses: IPs, CIDR networks, `"*"`, and (for
 * anything that is not an IP) exact strings.
 */
export class TrustedProxies {
  private readonly all: boolean;
  private readonly exact = new Set<string>();
  private readonly nets4: Array<[number, number]> = [];
  private readonly nets6: Array<[bigint, bigint]> = [];
  /** The entries as given (for messages). */
  readonly entries: readonly string[];

  /**
   * @param spec addresses or networks, an array or a comma-separated string.
   * @throws TypeError on a malformed CIDR (`10.0.0.0/33`, `x/8`).
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
        if (ip?.v === 4) this.nets4.push([ip.n, 32]);
        else if (ip?.v === 6) this.nets6.push([ip.n, 128n]);
        else this.exact.add(entry);
        continue;
      }
      const ip = parseIp(stripBrackets(entry.slice(0, slash)));
      const bits = entry.slice(slash + 1);
      if (!ip || !/^\d{1,3}$/.test(bits)) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)} is not an address or network`);
      const b = Number(bits);
      if (ip.v === 4) {
        if (b > 32) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv4 prefix is at most /32`);
        this.nets4.push([ip.n, b]);
      } else {
        if (b > 128) throw new TypeError(`forwarded-allow-ips: ${JSON.stringify(entry)}: an IPv6 prefix is at most /128`);
        this.nets6.push([ip.n, BigInt(b)]);
      }
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
    if (ip.v === 4) {
      for (const [net, bits] of this.nets4) {
        if (bits === 0) return true;
        const shift = 32 - bits;
        if (Math.floor(ip.n / 2 ** shift) === Math.floor(net / 2 ** shift)) return true;
      }
      return false;
    }
    for (const [net, bits] of this.nets6) {
      const shift = 128n - bits;
      if (ip.n >> shift === net >> shift) return true;
    }
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
 * still counts, so the chain stays aligned).
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
      while (i < n) {
        const c = value[i++]!;
        if (c === "\\" && i < n) v += value[i++];
        else if (c === '"') {
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
 * known), `tsgi.url_scheme` and `HTTPS` (`"on"` for https, removed for
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
    const raw = environ.HTTP_FORWARDED;
    if (typeof raw !== "string" || raw === "") return false;
    const elements = parseForwarded(raw);
    hops = elements.map((e) => (e.for === undefined ? "" : nodeHost(e.for)));
    protos = elements.map((e) => e.proto ?? "");
    hosts = elements.map((e) => e.host ?? "");
  } else {
    hops = splitList(environ.HTTP_X_FORWARDED_FOR).map(nodeHost);
    protos = splitList(environ.HTTP_X_FORWARDED_PROTO);
    hosts = splitList(environ.HTTP_X_FORWARDED_HOST);
    if (hops.length === 0 && protos.length === 0 && hosts.length === 0) return false;
  }
  // The client: the right-most hop that is not a trusted proxy (all trusted: the left-most).
  let k = hops.length - 1;
  while (k > 0 && hops[k] !== "" && trusted.has(hops[k]!)) k--;
  const pick = (list: string[]): string | undefined => {
    if (list.length === 0) return undefined;
    // Lists appended hop by hop line up with the addresses; a single value was set by the nearest proxy.
    const v = list.length === hops.length && k >= 0 ? list[k] : list[list.length - 1];
    return v === "" ? undefined : v;
  };
  if (k >= 0 && hops[k]) {
    environ["tsgi.proxy_peer"] = peer;
    environ["tsgi.proxy_peer_port"] = environ.REMOTE_PORT;
    environ.REMOTE_ADDR = hops[k]!;
    environ.REMOTE_PORT = "";
  }
  const proto = pick(protos)?.toLowerCase();
  if (proto === "https" || proto === "http") {
    environ["tsgi.url_scheme"] = proto;
    if (proto === "https") environ.HTTPS = "on";
    else delete environ.HTTPS;
  }
  const host = pick(hosts);
  if (host !== undefined && HOST_RE.test(host)) environ.HTTP_HOST = host;
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
  return (environ, startResponse) => {
    applyProxyHeaders(environ, trusted, header, trustUnix);
    return app(environ, startResponse);
  };
}
