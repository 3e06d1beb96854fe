/** Trusted proxy headers (issue 5 §4): address matching, X-Forwarded-*, RFC 7239 Forwarded, right-most untrusted hop. */
import { describe, expect, test } from "bun:test";
import { applyProxyHeaders, nodeHost, nodePort, parseForwarded, proxyHeaders, TrustedProxies } from "../src/server/proxy.ts";
import type { Environ } from "../src/spec.ts";
import { startServer, rawOne } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";

function env(extra: Record<string, string>, peer = "127.0.0.1"): Environ {
  return { REMOTE_ADDR: peer, REMOTE_PORT: "5555", "tsgi.url_scheme": "http", HTTP_HOST: "internal:8000", ...extra } as unknown as Environ;
}

describe("TrustedProxies", () => {
  test("addresses, CIDR networks (v4 and v6), IPv4-mapped IPv6, brackets, *", () => {
    const t = new TrustedProxies("127.0.0.1, ::1, 10.0.0.0/8, 192.168.1.0/24, 2001:db8::/32, fd00::1");
    for (const ok of ["127.0.0.1", "::1", "[::1]", "10.1.2.3", "192.168.1.77", "2001:db8:0:1::5", "::ffff:10.9.9.9", "::ffff:127.0.0.1", "fd00:0:0:0:0:0:0:1"]) expect(t.has(ok)).toBe(true);
    for (const no of ["127.0.0.2", "11.0.0.1", "192.168.2.1", "2001:db9::1", "::2", "unknown", "", "1.2.3", "300.1.1.1"]) expect(t.has(no)).toBe(false);
    expect(new TrustedProxies("*").has("8.8.8.8")).toBe(true);
    expect(new TrustedProxies("0.0.0.0/0").has("8.8.8.8")).toBe(true);
    expect(new TrustedProxies(["::/0"]).has("2001::1")).toBe(true);
    expect(new TrustedProxies().has("127.0.0.1")).toBe(true);
    expect(new TrustedProxies().has("10.0.0.1")).toBe(false);
    expect(() => new TrustedProxies("10.0.0.0/33")).toThrow(TypeError);
    expect(() => new TrustedProxies("nonsense/8")).toThrow(TypeError);
  });

  test("only dotted-decimal IPv4; the IPv4-compatible form is not IPv4-mapped; mapped networks", () => {
    const t = new TrustedProxies("10.0.0.0/8");
    for (const no of ["010.1.2.3", "10.1", "0x0a.1.2.3", "::ffff:010.1.2.3", "::ffff:0x0a.1.2.3", "::10.1.2.3"]) expect(t.has(no)).toBe(false);
    expect(() => new TrustedProxies("010.0.0.0/8")).toThrow(TypeError);
    // Without a prefix too: an entry meant as an address must not become a token that never matches.
    for (const bad of ["010.0.0.1", "10.1", "1.2.3.4.5", "256.0.0.1"]) expect(() => new TrustedProxies(bad)).toThrow(/is not an IPv4 address/);
    expect(new TrustedProxies("_hidden").has("_hidden")).toBe(true); // an RFC 7239 obfuscated node stays an exact token
    expect(new TrustedProxies("unknown").has("unknown")).toBe(true);
    for (const bad of ["10.0.0.1 10.0.0.2", "10.0.0.1:8080", "[010.0.0.1]", "::ffff:010.0.0.1", "0x0a.0.0.1", "fe80::1::2", "proxy.example"]) {
      expect(() => new TrustedProxies(bad)).toThrow(/is not an address, a network/);
    }
    const mapped = new TrustedProxies("::ffff:10.0.0.0/104");
    expect(mapped.has("10.9.9.9")).toBe(true);
    expect(mapped.has("::ffff:10.9.9.9")).toBe(true);
    expect(mapped.has("11.0.0.1")).toBe(false);
    expect(new TrustedProxies("fe80::/10").has("fe80::1%eth0.100")).toBe(true);
  });

  test("nodeHost strips ports and brackets", () => {
    expect(nodeHost("192.0.2.1")).toBe("192.0.2.1");
    expect(nodeHost("192.0.2.1:8080")).toBe("192.0.2.1");
    expect(nodeHost("[2001:db8::1]:443")).toBe("2001:db8::1");
    expect(nodeHost("2001:db8::1")).toBe("2001:db8::1");
    expect(nodeHost("_hidden")).toBe("_hidden");
    expect(nodeHost("192.0.2.1:_x")).toBe("192.0.2.1");
    expect(nodeHost("[2001:db8::1]")).toBe("2001:db8::1");
    // What follows the host is no port (RFC 7239 §6 node-port): the node is not an address, whole.
    for (const bad of ["192.0.2.1:80x", "192.0.2.1:+1", "192.0.2.1:", "192.0.2.1:123456", "[2001:db8::1]x", "[2001:db8::1]:", "[2001:db8::1]:8 0"]) {
      expect([bad, nodeHost(bad)]).toEqual([bad, bad]);
    }
  });

  test("nodePort: RFC 7239 §6 node-port after an address or a bracketed IPv6 address; none, obfuscated or out of range gives \"\"", () => {
    expect(nodePort("192.0.2.1:4711")).toBe("4711");
    expect(nodePort(" 192.0.2.1:04711 ")).toBe("4711");
    expect(nodePort("[2001:db8:cafe::17]:4711")).toBe("4711");
    expect(nodePort("[2001:db8:cafe::17]:65535")).toBe("65535");
    for (const none of ["192.0.2.1", "[2001:db8::1]", "2001:db8::1", "2001:db8::1:80", "unknown", "_hidden", "", "192.0.2.1:_x", "[2001:db8::1]:_x", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:123456", "192.0.2.1:+80", "192.0.2.1:8 0", "[2001:db8::1]x80", "[2001:db8::1"]) {
      expect([none, nodePort(none)]).toEqual([none, ""]);
    }
  });

  test("parseForwarded (RFC 7239 §4 examples)", () => {
    expect(parseForwarded('for="_gazonk"')).toEqual([{ for: "_gazonk" }]);
    expect(parseForwarded('For="[2001:db8:cafe::17]:4711"')).toEqual([{ for: "[2001:db8:cafe::17]:4711" }]);
    expect(parseForwarded("for=192.0.2.60;proto=http;by=203.0.113.43")).toEqual([{ for: "192.0.2.60", proto: "http", by: "203.0.113.43" }]);
    expect(parseForwarded("for=192.0.2.43, for=198.51.100.17")).toEqual([{ for: "192.0.2.43" }, { for: "198.51.100.17" }]);
    expect(parseForwarded('for=1.1.1.1, garbage, for="2.2.2.2"')).toEqual([{ for: "1.1.1.1" }, {}, { for: "2.2.2.2" }]);
    expect(parseForwarded('for="unterminated')).toEqual([{}]);
  });

  test("a quote the client leaves open does not swallow the elements its proxy appends", () => {
    // The client sent `Forwarded: for="`; nginx appended its own element.
    expect(parseForwarded('for=", for=127.0.0.5;proto=http')).toEqual([{}, { for: "127.0.0.5", proto: "http" }]);
    // ... or one with a quoted (IPv6) node, whose opening quote would close the client's.
    expect(parseForwarded('x=", for="[2001:db8::7]:4711"')).toEqual([{}, { for: "[2001:db8::7]:4711" }]);
    // ... nor one whose last character escapes the comma nginx puts before its element.
    expect(parseForwarded('for="\\, for=198.51.100.7;proto=http')).toEqual([{}, { for: "198.51.100.7", proto: "http" }]);
    expect(parseForwarded('for="a\\,b", for=198.51.100.7')).toEqual([{}, {}, { for: "198.51.100.7" }]);
    // Escapes still work inside a closed quoted string.
    expect(parseForwarded('for="_a\\"b"')).toEqual([{ for: '_a"b' }]);
    // Through applyProxyHeaders, from the trusted nginx at 127.0.0.1: the client, not the proxy.
    const e = env({ HTTP_FORWARDED: 'for=", for=198.51.100.7;proto=http' });
    applyProxyHeaders(e, new TrustedProxies(["127.0.0.1"]), "forwarded");
    // Before: the unclosed quote ran to the end, the proxy's element was lost, and REMOTE_ADDR stayed the proxy's 127.0.0.1.
    expect(e.REMOTE_ADDR).toBe("198.51.100.7");
  });
});

describe("applyProxyHeaders", () => {
  const trusted = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);

  test("X-Forwarded-*: client, scheme, host from a trusted peer", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "203.0.113.9", HTTP_X_FORWARDED_PROTO: "https", HTTP_X_FORWARDED_HOST: "example.com" });
    expect(applyProxyHeaders(e, trusted)).toBe(true);
    expect(e.REMOTE_ADDR).toBe("203.0.113.9");
    expect(e.REMOTE_PORT).toBe("");
    expect(e["tsgi.url_scheme"]).toBe("https");
    expect(e.HTTPS).toBe("on");
    expect(e.HTTP_HOST).toBe("example.com");
    expect(e["tsgi.proxy_peer"]).toBe("127.0.0.1");
  });

  test("right-most untrusted hop: a spoofed left part is ignored", () => {
    // client sent "1.1.1.1" itself; the edge proxy 10.0.0.5 appended the real client 198.51.100.7; nginx at 127.0.0.1 appended 10.0.0.5
    const e = env({ HTTP_X_FORWARDED_FOR: "1.1.1.1, 198.51.100.7, 10.0.0.5" });
    applyProxyHeaders(e, trusted);
    expect(e.REMOTE_ADDR).toBe("198.51.100.7");
  });

  test("every hop trusted: the left-most", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "10.0.0.1, 10.0.0.2" });
    applyProxyHeaders(e, trusted);
    expect(e.REMOTE_ADDR).toBe("10.0.0.1");
  });

  test("a hop that is not an address ends the walk, as nginx's realip does: REMOTE_ADDR is always an address", () => {
    // Nearest hop bad (a proxy passing the client's value through): the peer stays; the nearest proxy's scheme still counts.
    for (const bad of ["<script>alert(1)</script>", "evil.example", "unknown", "1.2.3", "300.1.1.1", "", "_hidden"]) {
      const e = env({ HTTP_X_FORWARDED_FOR: bad, HTTP_X_FORWARDED_PROTO: "https" });
      applyProxyHeaders(e, trusted);
      expect([bad, e.REMOTE_ADDR, e["tsgi.url_scheme"]]).toEqual([bad, "127.0.0.1", "https"]);
    }
    // Behind a trusted hop: the last address read, that hop.
    const f = env({ HTTP_X_FORWARDED_FOR: "garbage, 10.0.0.5" });
    applyProxyHeaders(f, trusted);
    expect(f.REMOTE_ADDR).toBe("10.0.0.5");
    // Left of the client: never reached (the right-most untrusted hop is the client).
    const g = env({ HTTP_X_FORWARDED_FOR: "garbage, 198.51.100.7, 10.0.0.5" });
    applyProxyHeaders(g, trusted);
    expect(g.REMOTE_ADDR).toBe("198.51.100.7");
    // Ports and brackets are stripped first; IPv6 is an address.
    const h = env({ HTTP_X_FORWARDED_FOR: "[2001:db8::7]:4711, 198.51.100.7:80" });
    applyProxyHeaders(h, new TrustedProxies(["127.0.0.1", "198.51.100.7"]));
    expect(h.REMOTE_ADDR).toBe("2001:db8::7");
    // A hop whose port part is no port is no address either (before: 1.2.3.4:80x gave REMOTE_ADDR 1.2.3.4).
    for (const bad of ["1.2.3.4:80x", "1.2.3.4:+1", "1.2.3.4 :80", "[2001:db8::7]x"]) {
      const k = env({ HTTP_X_FORWARDED_FOR: `${bad}, 10.0.0.5` });
      applyProxyHeaders(k, trusted);
      expect([bad, k.REMOTE_ADDR, k.REMOTE_PORT]).toEqual([bad, "10.0.0.5", ""]);
      const m = env({ HTTP_X_FORWARDED_FOR: bad });
      applyProxyHeaders(m, trusted);
      expect([bad, m.REMOTE_ADDR]).toEqual([bad, "127.0.0.1"]);
    }
    // RFC 7239 Forwarded keeps its own node names (unknown, _name) and refuses others.
    const i = env({ HTTP_FORWARDED: "for=unknown, for=10.0.0.5" });
    applyProxyHeaders(i, trusted, "forwarded");
    expect(i.REMOTE_ADDR).toBe("unknown");
    const j = env({ HTTP_FORWARDED: "for=evil, for=10.0.0.5" });
    applyProxyHeaders(j, trusted, "forwarded");
    expect(j.REMOTE_ADDR).toBe("10.0.0.5");
  });

  test("a zone that is not an interface name, or a zone on IPv4, is not an address: it cannot smuggle text into REMOTE_ADDR", () => {
    // What follows `%` used to be cut off before the check, so the hop passed as fe80::1 and became REMOTE_ADDR whole.
    for (const bad of ["fe80::1%<script>alert(1)</script>", "fe80::1%a b", "fe80::1%", "1.2.3.4%eth0", "[fe80::1%<x>]:80"]) {
      const e = env({ HTTP_X_FORWARDED_FOR: `${bad}, 10.0.0.5` });
      applyProxyHeaders(e, trusted);
      expect([bad, e.REMOTE_ADDR]).toEqual([bad, "10.0.0.5"]);
      const f = env({ HTTP_X_FORWARDED_FOR: bad });
      applyProxyHeaders(f, trusted);
      expect([bad, f.REMOTE_ADDR]).toEqual([bad, "127.0.0.1"]);
    }
    const g = env({ HTTP_FORWARDED: 'for="[fe80::1%<b>]", for=10.0.0.5' });
    applyProxyHeaders(g, trusted, "forwarded");
    expect(g.REMOTE_ADDR).toBe("10.0.0.5");
    expect(new TrustedProxies("10.0.0.0/8").has("10.0.0.5%eth0")).toBe(false);
    // An interface name or number stays a valid zone.
    for (const ok of ["fe80::1%eth0", "fe80::1%eth0.100", "fe80::1%3"]) {
      const h = env({ HTTP_X_FORWARDED_FOR: `${ok}, 10.0.0.5` });
      applyProxyHeaders(h, trusted);
      expect(h.REMOTE_ADDR).toBe(ok);
    }
  });

  test("an IPv4-mapped address with a zone (::ffff:10.0.0.5%eth0) is not an address, as a zone on IPv4 is not: it neither matches the IPv4 entries nor passes a trusted hop", async () => {
    // RFC 4291 §2.5.5.2: a mapped address is an IPv4 peer, and IPv4 has no zones (RFC 4007 zones are for
    // scoped IPv6 addresses; no socket reports one on a mapped peer). node:net's isIP takes it (6) and
    // BlockList drops the zone; the matcher refuses it, as it refuses 10.0.0.5%eth0.
    const t = new TrustedProxies("10.0.0.0/8, 127.0.0.1");
    for (const no of ["::ffff:10.0.0.5%eth0", "[::ffff:10.0.0.5%eth0]", "::ffff:a00:5%eth0", "::ffff:127.0.0.1%1", "10.0.0.5%eth0"]) expect([no, t.has(no)]).toEqual([no, false]);
    for (const ok of ["::ffff:10.0.0.5", "::ffff:a00:5", "10.0.0.5"]) expect([ok, t.has(ok)]).toEqual([ok, true]);
    expect(() => new TrustedProxies("::ffff:10.0.0.5%eth0")).toThrow(/is not an address, a network/);
    expect(() => new TrustedProxies("::ffff:10.0.0.0%eth0/104")).toThrow(/is not an address or network/);
    // A hop written that way ends the walk as 10.0.0.5%eth0 does: the client is the trusted hop to its right.
    for (const bad of ["::ffff:10.0.0.5%eth0", "10.0.0.5%eth0"]) {
      const e = env({ HTTP_X_FORWARDED_FOR: `1.2.3.4, ${bad}, 10.0.0.5` });
      applyProxyHeaders(e, t);
      expect([bad, e.REMOTE_ADDR]).toEqual([bad, "10.0.0.5"]);
    }
    // Over a socket from 127.0.0.1, through proxyHeaders() on the server: the same answer for both spellings.
    const app = (e: Environ, sr: (s: string, h: [string, string][]) => unknown) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode(String(e.REMOTE_ADDR))];
    };
    const server = startServer(proxyHeaders(app));
    try {
      for (const hop of ["::ffff:127.0.0.1%eth0", "127.0.0.1%eth0"]) {
        const r = await rawOne(server.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9, ${hop}\r\nConnection: close\r\n\r\n`);
        expect([hop, r.response!.body.toString()]).toEqual([hop, "127.0.0.1"]);
      }
    } finally {
      await server.server.close();
    }
  });

  test("untrusted peer: nothing changes", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "1.1.1.1", HTTP_X_FORWARDED_PROTO: "https", HTTP_X_FORWARDED_HOST: "evil.com" }, "203.0.113.50");
    expect(applyProxyHeaders(e, trusted)).toBe(false);
    expect(e.REMOTE_ADDR).toBe("203.0.113.50");
    expect(e["tsgi.url_scheme"]).toBe("http");
    expect(e.HTTP_HOST).toBe("internal:8000");
  });

  test("lists aligned with the chain pick the chosen hop's entry; a single value is the nearest proxy's", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "198.51.100.7, 10.0.0.5", HTTP_X_FORWARDED_PROTO: "https, http" });
    applyProxyHeaders(e, trusted);
    expect(e["tsgi.url_scheme"]).toBe("https");
    const f = env({ HTTP_X_FORWARDED_FOR: "198.51.100.7, 10.0.0.5", HTTP_X_FORWARDED_PROTO: "https" });
    applyProxyHeaders(f, trusted);
    expect(f["tsgi.url_scheme"]).toBe("https");
  });

  test("bad values are not copied: unknown scheme, host with spaces or CRLF", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "198.51.100.7", HTTP_X_FORWARDED_PROTO: "gopher", HTTP_X_FORWARDED_HOST: "a b\r\nX: y" });
    applyProxyHeaders(e, trusted);
    expect(e["tsgi.url_scheme"]).toBe("http");
    expect(e.HTTP_HOST).toBe("internal:8000");
  });

  test("X-Forwarded-Proto http removes HTTPS", () => {
    const e = env({ HTTP_X_FORWARDED_PROTO: "http", HTTPS: "on" });
    e["tsgi.url_scheme"] = "https";
    applyProxyHeaders(e, trusted);
    expect(e["tsgi.url_scheme"]).toBe("http");
    expect(e.HTTPS).toBeUndefined();
  });

  test("RFC 7239 Forwarded: for/proto/host of the chosen element; X-Forwarded-* ignored in that mode", () => {
    const e = env({
      HTTP_FORWARDED: 'for=1.1.1.1;proto=http, for="[2001:db8:cafe::17]:4711";proto=https;host=example.org, for=10.0.0.5;proto=http',
      HTTP_X_FORWARDED_FOR: "6.6.6.6",
    });
    applyProxyHeaders(e, trusted, "forwarded");
    expect(e.REMOTE_ADDR).toBe("2001:db8:cafe::17");
    expect(e["tsgi.url_scheme"]).toBe("https");
    expect(e.HTTP_HOST).toBe("example.org");
  });

  test("the client's port a hop carries becomes REMOTE_PORT (RFC 7239 §6 node-port; nginx's realip reads it from X-Forwarded-For too); none, or an obfuscated one, gives \"\" (before: always \"\")", () => {
    const forwarded = (value: string) => {
      const e = env({ HTTP_FORWARDED: value });
      applyProxyHeaders(e, trusted, "forwarded");
      return [e.REMOTE_ADDR, e.REMOTE_PORT, e["tsgi.proxy_peer_port"]];
    };
    expect(forwarded('for="192.0.2.60:4711"')).toEqual(["192.0.2.60", "4711", "5555"]);
    expect(forwarded('for="[2001:db8:cafe::17]:4711";proto=https')).toEqual(["2001:db8:cafe::17", "4711", "5555"]);
    expect(forwarded("for=192.0.2.60")).toEqual(["192.0.2.60", "", "5555"]);
    // Unquoted, against RFC 7239 §4/§6, as hand-configured proxies write them (docs/deploy.md): read as the quoted forms.
    expect(forwarded("for=192.0.2.60:4711")).toEqual(["192.0.2.60", "4711", "5555"]);
    expect(forwarded("for=2001:db8::1;proto=https")).toEqual(["2001:db8::1", "", "5555"]);
    expect(forwarded("for=[2001:db8::1]:4711")).toEqual(["2001:db8::1", "4711", "5555"]);
    expect(forwarded('for="[2001:db8:cafe::17]"')).toEqual(["2001:db8:cafe::17", "", "5555"]);
    expect(forwarded('for="192.0.2.60:_pqr"')).toEqual(["192.0.2.60", "", "5555"]);
    expect(forwarded('for="_gazonk:4711"')).toEqual(["_gazonk", "4711", "5555"]);
    // The chosen hop's port, not a trusted proxy's to its right.
    expect(forwarded('for="198.51.100.7:1234", for="10.0.0.5:80"')).toEqual(["198.51.100.7", "1234", "5555"]);
    const x = env({ HTTP_X_FORWARDED_FOR: "203.0.113.9:4711, 10.0.0.5" });
    applyProxyHeaders(x, trusted);
    expect([x.REMOTE_ADDR, x.REMOTE_PORT]).toEqual(["203.0.113.9", "4711"]);
    // X-Forwarded-Port is the port the client reached the proxy on (werkzeug's ProxyFix x_port sets SERVER_PORT from it), not the client's.
    const p = env({ HTTP_X_FORWARDED_FOR: "203.0.113.9", HTTP_X_FORWARDED_PORT: "443" });
    applyProxyHeaders(p, trusted);
    expect(p.REMOTE_PORT).toBe("");
  });

  test("in x-forwarded mode a client's Forwarded field is ignored", () => {
    const e = env({ HTTP_FORWARDED: "for=6.6.6.6", HTTP_X_FORWARDED_FOR: "198.51.100.7" });
    applyProxyHeaders(e, trusted);
    expect(e.REMOTE_ADDR).toBe("198.51.100.7");
  });

  test("Unix-socket peers are trusted unless told otherwise", () => {
    const e = env({ HTTP_X_FORWARDED_FOR: "198.51.100.7" }, "");
    expect(applyProxyHeaders(e, trusted)).toBe(true);
    expect(e.REMOTE_ADDR).toBe("198.51.100.7");
    const f = env({ HTTP_X_FORWARDED_FOR: "198.51.100.7" }, "");
    expect(applyProxyHeaders(f, trusted, "x-forwarded", false)).toBe(false);
  });
});

describe("proxyHeaders middleware on the server", () => {
  test("is what tsgi and tsgi/server export for serve() users behind a proxy", async () => {
    expect((await import("../src/index.ts")).proxyHeaders).toBe(proxyHeaders);
    expect((await import("../src/server/index.ts")).proxyHeaders).toBe(proxyHeaders);
  });

  test("end to end over a socket from 127.0.0.1 (trusted by default), with Forwarded (the access log names its client), and with an allow list without it", async () => {
    const app = (e: Environ, sr: (s: string, h: [string, string][]) => unknown) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode(`${e.REMOTE_ADDR} ${e["tsgi.url_scheme"]} ${e.HTTP_HOST}${e.PATH_INFO === "/port" ? ` ${e.REMOTE_PORT}` : ""}`)];
    };
    const req = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: site.example\r\nConnection: close\r\n\r\n";
    const trusting = startServer(proxyHeaders(app));
    try {
      const r = await rawOne(trusting.port, req);
      expect(r.response!.body.toString()).toBe("203.0.113.1 https site.example");
    } finally {
      await trusting.server.close();
    }
    const forwarded = startServer(proxyHeaders(app, { header: "forwarded" }));
    try {
      const r = await rawOne(forwarded.port, "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=203.0.113.7;proto=https\r\nConnection: close\r\n\r\n");
      expect(r.response!.body.toString()).toBe("203.0.113.7 https h");
      // The access log names the client, as it does with X-Forwarded-For, not only the proxy.
      expect(await waitFor(() => forwarded.access.length === 1, 2000)).toBe(true);
      expect(forwarded.access[0]).toStartWith("203.0.113.7,127.0.0.1 - - [");
      // A node with a port (RFC 7239 §6): the client's port is REMOTE_PORT.
      const withPort = await rawOne(forwarded.port, 'GET /port HTTP/1.1\r\nHost: h\r\nForwarded: for="[2001:db8::7]:4711"\r\nConnection: close\r\n\r\n');
      expect(withPort.response!.body.toString()).toBe("2001:db8::7 http h 4711");
      // A client's own Forwarded from an untrusted peer changes neither environ nor the log.
      const untrusted = startServer(proxyHeaders(app, { header: "forwarded", forwardedAllowIps: "10.0.0.1" }));
      try {
        const u = await rawOne(untrusted.port, "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=203.0.113.7\r\nConnection: close\r\n\r\n");
        expect(u.response!.body.toString()).toBe("127.0.0.1 http h");
        expect(await waitFor(() => untrusted.access.length === 1, 2000)).toBe(true);
        expect(untrusted.access[0]).toStartWith("127.0.0.1 - - [");
      } finally {
        await untrusted.server.close();
      }
    } finally {
      await forwarded.server.close();
    }
    const distrusting = startServer(proxyHeaders(app, { forwardedAllowIps: "10.0.0.1" }));
    try {
      const r = await rawOne(distrusting.port, req);
      expect(r.response!.body.toString()).toBe("127.0.0.1 http h");
    } finally {
      await distrusting.server.close();
    }
  });
});

describe("X-Forwarded-Host is copied only when it is a valid Host value", () => {
  // HOST_RE took any of [0-9A-Fa-f:.] between brackets, so "[1.2.3.4]", "[zz]"-like "[::1::2]" and "[:]" became HTTP_HOST;
  // the Host field itself is checked whole (src/http/target.ts validAuthority), and now so is a trusted proxy's host.
  test("over a real socket through proxyHeaders(): valid IP-literals and names pass, malformed ones leave the Host field's", async () => {
    const app = (e: Environ, sr: (s: string, h: [string, string][]) => unknown) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode(`${e.HTTP_HOST}`)];
    };
    const { server, port } = startServer(proxyHeaders(app));
    try {
      const hostVia = async (forwardedHost: string) => {
        const r = await rawOne(port, `GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: ${forwardedHost}\r\nConnection: close\r\n\r\n`);
        expect(r.response!.status).toBe(200);
        return r.response!.body.toString();
      };
      for (const good of ["site.example", "site.example:8443", "[::1]", "[::1]:8080", "[2001:db8::1]", "[v1.x]", "[fe80::1%25eth0]", "192.0.2.1:80"]) {
        expect(await hostVia(good), good).toBe(good);
      }
      for (const bad of ["[1.2.3.4]", "[::1::2]", "[:]", "[1:2:3:4:5:6:7:8:9]", "[fe80::1%eth0]", "[::1", "a%zz", "a b"]) {
        expect(await hostVia(bad), bad).toBe("h");
      }
      // A value cut inside a %XX, right after a longer valid one: the bytes past its end are the earlier value's
      // (the check reuses one buffer), and must not complete the escape.
      for (const [good, bad] of [["ab%41:1", "ab%4"], ["a%4f:1", "a%4"]]) {
        expect(await hostVia(good), good).toBe(good);
        expect(await hostVia(bad), bad).toBe("h");
      }
    } finally {
      await server.close();
    }
  });
});
