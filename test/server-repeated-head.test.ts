/**
 * A keep-alive client repeating its last head byte for byte gets the
 * parser's kept head object again (its fields are `tsgi.headers_raw`) and,
 * from the second such request in a row, an environ copied from the one the
 * connection kept (src/http/parser.ts deliver, src/gateway/environ.ts
 * environFrom, src/server/connection.ts startRequest). On real sockets: what
 * one request's application, middleware, hooks or handler do to their
 * environ never reaches a later request's, on one connection or another,
 * over TCP, TLS and a Unix socket, with bodies of every framing.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync } from "node:fs";
import { connect as netConnect, createConnection, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { proxyHeaders, serve } from "../src/server/index.ts";
import { RequestHandler } from "../src/server/handler.ts";
import { devCertificate, type DevCertificate } from "../src/server/tls.ts";
import { PathInfoDispatcher } from "../src/toolkit/dispatch.ts";
import { shiftPathInfo } from "../src/toolkit/util.ts";
import { validator } from "../src/toolkit/validate.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";
import type { Application, Environ } from "../src/spec.ts";
import { enc, parseResponses, raw, serverPool } from "./helpers.ts";

const start = serverPool();
const dir = mkdtempSync(join(tmpdir(), "tsgi-repeat-"));

/** The environ's keys whose values are not objects, in order, as JSON: what a request saw. */
function plain(environ: Environ): string {
  return JSON.stringify(Object.entries(environ).filter(([, v]) => v === null || typeof v !== "object"));
}

/** Count of complete HTTP/1.x final responses in `d` (a "HTTP/1.1 200" per response). */
const count = (d: Buffer, status = "200") => d.toString("latin1").split(`HTTP/1.1 ${status}`).length - 1;

/**
 * A client connection that sends one request at a time (as given, in pieces
 * with a pause between) and reads its response: for tests that must know
 * which connection (local port) sent what.
 */
class Client {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    const end = () => {
      this.closed = true;
      this.wake?.();
    };
    sock.on("close", end);
    sock.on("error", end);
  }
  static tcp(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: "127.0.0.1", port }, () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }
  /** Wait (at most `ms`) until the bytes received hold `marker`; take them up to its end. */
  async until(marker: string, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.buf.indexOf(marker, 0, "latin1");
      if (i !== -1) {
        const got = this.buf.subarray(0, i + marker.length).toString("latin1");
        this.buf = this.buf.subarray(i + marker.length);
        return got;
      }
      if (this.closed) throw new Error(`connection closed before ${JSON.stringify(marker)}; got ${JSON.stringify(this.buf.toString("latin1"))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${JSON.stringify(marker)} within ${ms} ms; got ${JSON.stringify(this.buf.toString("latin1"))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }
  /** Send `pieces` (latin-1), then read one response with a Content-Length body: its head and body. */
  async request(pieces: string | string[], gapMs = 5): Promise<{ head: string; body: string }> {
    const list = Array.isArray(pieces) ? pieces : [pieces];
    for (const [k, p] of list.entries()) {
      this.sock.write(Buffer.from(p, "latin1"));
      if (k < list.length - 1) await Bun.sleep(gapMs);
    }
    return this.response();
  }
  async response(): Promise<{ head: string; body: string }> {
    const head = await this.until("\r\n\r\n");
    const m = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!m) throw new Error(`no Content-Length in ${JSON.stringify(head)}`);
    const n = Number(m[1]);
    const deadline = Date.now() + 3000;
    while (this.buf.length < n) {
      if (this.closed || Date.now() > deadline) throw new Error(`body cut: ${this.buf.length} of ${n}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    const body = this.buf.subarray(0, n).toString("latin1");
    this.buf = this.buf.subarray(n);
    return { head, body };
  }
  close(): void {
    this.sock.destroy();
  }
}

/** `text` cut into pieces at each of `cuts` (offsets, any order). */
function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.filter((c) => c > 0 && c < text.length))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out;
}

describe("middleware that changes the environ, on a repeated head", () => {
  // proxyHeaders (REMOTE_ADDR, REMOTE_PORT, url_scheme, HTTPS, HTTP_HOST), validator (wraps tsgi.input and
  // tsgi.errors), the scriptName option with shiftPathInfo and a PathInfoDispatcher (SCRIPT_NAME, PATH_INFO),
  // and an app that changes, adds and deletes keys and registers a post hook that reads its environ later.
  const head =
    "GET /root/api/items/7?x=1 HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 203.0.113.9:4711\r\n" +
    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n";
  test("every request's environ is as built, at the server's edge and past each middleware, whatever earlier requests and their post hooks did (pipelined, one per write, split at every ninth offset)", async () => {
    const atEdge: string[] = [];
    const inner: string[] = [];
    const hooked: string[] = [];
    let n = 0;
    const leaf: Application = (environ, sr) => {
      const k = ++n;
      inner.push(plain(environ));
      environ.REMOTE_ADDR = `changed ${k}`;
      environ.HTTP_COOKIE = "stolen";
      environ["tsgi.url_scheme"] = "gopher";
      delete (environ as Record<string, unknown>).QUERY_STRING;
      environ[`app.${k}`] = { k };
      // A hook runs after the response, maybe while the next request runs: it sees its own environ.
      environ["tsgi.posthooks"]!.push([
        async () => {
          await Bun.sleep(15);
          const own = environ.REMOTE_ADDR === `changed ${k}` && environ.HTTP_COOKIE === "stolen" && environ[`app.${k}`] !== undefined && environ[`app.${k + 1}`] === undefined;
          hooked.push(`${k}:${own ? "own" : "other"}`);
        },
      ]);
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [enc(String(k))];
    };
    const routed = new PathInfoDispatcher({
      "/api": (environ, sr) => {
        shiftPathInfo(environ);
        return leaf(environ, sr);
      },
    });
    const edge: Application = (environ, sr) => {
      atEdge.push(plain(environ));
      return validator(proxyHeaders(routed, { forwardedAllowIps: "127.0.0.1" }))(environ, sr);
    };
    const { port } = start(edge, { log: null, scriptName: "/root" });
    // A pipelined pair, then one per write, then the head split at every ninth offset (a write per piece).
    const pieces: string[] = [head + head, head, head];
    for (let at = 1; at < head.length; at += 9) pieces.push(head.slice(0, at), head.slice(at));
    const total = 4 + Math.ceil((head.length - 1) / 9);
    const r = await raw(port, pieces, { until: (d) => count(d) === total, gapMs: 3, timeoutMs: 10_000 });
    expect(count(r.data)).toBe(total);
    await Bun.sleep(80);
    expect(atEdge.length).toBe(total);
    const edgeWant = JSON.parse(atEdge[0]!);
    expect(Object.fromEntries(edgeWant)).toMatchObject({
      REMOTE_ADDR: "127.0.0.1",
      SCRIPT_NAME: "/root",
      PATH_INFO: "/api/items/7",
      QUERY_STRING: "x=1",
      HTTP_HOST: "h.test",
      HTTP_COOKIE: "a=1; b=2",
      "tsgi.url_scheme": "http",
    });
    expect(Object.keys(Object.fromEntries(edgeWant))).not.toContain("HTTPS");
    for (const s of atEdge) expect(s).toBe(atEdge[0]!);
    expect(Object.fromEntries(JSON.parse(inner[0]!))).toMatchObject({
      REMOTE_ADDR: "203.0.113.9",
      REMOTE_PORT: "4711",
      SCRIPT_NAME: "/root/api/items",
      PATH_INFO: "/7",
      HTTP_HOST: "example.com",
      HTTPS: "on",
      "tsgi.url_scheme": "https",
      "tsgi.proxy_peer": "127.0.0.1",
    });
    for (const s of inner) expect(s).toBe(inner[0]!);
    expect(hooked.sort()).toEqual(Array.from({ length: total }, (_, i) => `${i + 1}:own`).sort());
  }, 20_000);
});

describe("the same head from two connections", () => {
  test("each connection's requests carry its own REMOTE_PORT (the client's port), however the two interleave", async () => {
    const { port } = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      const seen = `${environ.REMOTE_ADDR} ${environ.REMOTE_PORT}`;
      environ.REMOTE_PORT = "0";
      return [enc(seen)];
    }, { log: null });
    const a = await Client.tcp(port);
    const b = await Client.tcp(port);
    try {
      const req = "GET /who HTTP/1.1\r\nHost: x\r\n\r\n";
      const order = "aabbabaabbba";
      const got: string[] = [];
      const want: string[] = [];
      for (const c of order) {
        const client = c === "a" ? a : b;
        got.push((await client.request(req)).body);
        want.push(`127.0.0.1 ${client.sock.localPort}`);
      }
      expect(a.sock.localPort).not.toBe(b.sock.localPort);
      expect(got).toEqual(want);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe("a repeated head with a body", () => {
  test("Expect: 100-continue: each request gets its own 100 Continue when its app reads, and its own body", async () => {
    const { port } = start(async (environ, sr) => {
      const body = await environ["tsgi.input"].read();
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [body];
    }, { log: null });
    const c = await Client.tcp(port);
    try {
      const headText = "PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
      const bodies: string[] = [];
      for (const body of ["one..", "two..", "three", "four.", "five."]) {
        c.sock.write(headText);
        // Nothing but the interim answer before the body is sent.
        expect(await c.until("\r\n\r\n")).toBe("HTTP/1.1 100 Continue\r\n\r\n");
        c.sock.write(body);
        bodies.push((await c.response()).body);
      }
      expect(bodies).toEqual(["one..", "two..", "three", "four.", "five."]);
    } finally {
      c.close();
    }
  });

  test("chunked bodies of different sizes under one head, pipelined and one per write: each app reads its own, and sees the same environ", async () => {
    const shapes: string[] = [];
    const { port } = start(async (environ, sr) => {
      shapes.push(plain(environ) + JSON.stringify(environ["tsgi.headers_raw"]));
      const body = await environ["tsgi.input"].read();
      environ.CONTENT_LENGTH = String(body.length);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [body];
    }, { log: null });
    const headText = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const chunked = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;
    const bodies = ["a", "bb", "c".repeat(300), "", "dddd", "e".repeat(17)];
    const msgs = bodies.map((b) => headText + (b === "" ? "0\r\n\r\n" : chunked(b)));
    const r = await raw(port, [msgs[0]! + msgs[1]!, msgs[2]!, msgs[3]! + msgs[4]!, ...cut(msgs[5]!, [3, headText.length - 1, headText.length + 2])], {
      until: (d) => count(d) === 6,
      gapMs: 20,
    });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(bodies);
    expect(shapes.length).toBe(6);
    for (const s of shapes) expect(s).toBe(shapes[0]!);
    expect(shapes[0]).not.toContain("CONTENT_LENGTH");
  });

  test("HTTP/1.0 keep-alive, repeated: every request kept alive, with the environ as built", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      seen.push(plain(environ));
      environ.SERVER_PROTOCOL = "HTTP/9";
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "2"]]);
      return [enc("ok")];
    }, { log: null });
    const req = "GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    const r = await raw(port, [req + req, req, req], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 5, gapMs: 20 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.headers["connection"])).toEqual(["keep-alive", "keep-alive", "keep-alive", "keep-alive"]);
    expect(seen.length).toBe(4);
    for (const s of seen) expect(s).toBe(seen[0]!);
    expect(seen[0]).toContain('["SERVER_PROTOCOL","HTTP/1.0"]');
  });
});

describe("a fetch handler (fromFetchHandler) on a repeated head", () => {
  test("each Request has its own body, URL and headers, whatever the last handler did to its Request's headers", async () => {
    const seen: string[] = [];
    const { port } = start(fromFetchHandler(async (request: Request) => {
      const text = await request.text();
      seen.push(`${request.url} ${request.headers.get("x-id")} ${request.headers.get("x-added")} ${text}`);
      request.headers.set("x-id", "changed");
      request.headers.set("x-added", "1");
      return new Response(text);
    }), { log: null });
    const post = (body: string) => `POST /f?q=1 HTTP/1.1\r\nHost: h.test\r\nX-Id: 7\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const bodies = ["aaa", "bbb", "ccc", "ddd", "eee"];
    const r = await raw(port, [post(bodies[0]!) + post(bodies[1]!), post(bodies[2]!), post(bodies[3]!), post(bodies[4]!)], { until: (d) => count(d) === 5, gapMs: 20 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(bodies);
    expect(seen).toEqual(bodies.map((b) => `http://h.test/f?q=1 7 null ${b}`));
  });
});

describe("a repeated head after an error", () => {
  test("an app that changes its environ and then throws (500, the connection kept): the next identical request's environ is as built", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      seen.push(plain(environ));
      environ.PATH_INFO = "/changed";
      environ.HTTP_X_ID = "changed";
      if (seen.length % 2 === 0) throw new Error("boom");
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, errorLog: null });
    const req = "GET /e HTTP/1.1\r\nHost: x\r\nX-Id: 1\r\n\r\n";
    const r = await raw(port, [req + req, req, req, req + req], { until: (d) => count(d) + count(d, "500") === 6, gapMs: 20 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 500, 200, 500, 200, 500]);
    expect(seen.length).toBe(6);
    for (const s of seen) expect(s).toBe(seen[0]!);
    expect(seen[0]).toContain('["PATH_INFO","/e"]');
  });
});

describe("heads at the kept head's bound (1024 bytes)", () => {
  for (const size of [1023, 1024, 1025]) {
    test(`a ${size}-byte head repeated, then with its last value byte changed, then again: each request sees its own bytes`, async () => {
      const seen: string[] = [];
      const { port } = start((environ, sr) => {
        const lines = environ["tsgi.headers_raw"] as string[];
        seen.push(`${(environ.HTTP_X_PAD as string).slice(-2)} ${lines[lines.length - 1]!.slice(-2)} ${environ.PATH_INFO}`);
        // Once (it must not): the next identical head is a new copy, and the ones after it are shared again.
        if (seen.length === 2) lines[lines.length - 1] = "changed";
        environ.HTTP_X_PAD = "changed";
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [enc("ok")];
      }, { log: null });
      const base = "GET /pad HTTP/1.1\r\nHost: x\r\nX-Pad: ";
      const pad = "p".repeat(size - base.length - 4 - 1);
      const a = `${base}${pad}A\r\n\r\n`;
      const b = `${base}${pad}B\r\n\r\n`;
      expect(a.length).toBe(size);
      const r = await raw(port, [a + a, a, b, b + a, a, cut(a, [size - 3])[0]!, cut(a, [size - 3])[1]!], {
        until: (d) => count(d) === 8,
        gapMs: 20,
      });
      expect(count(r.data)).toBe(8);
      expect(seen).toEqual(["pA pA /pad", "pA pA /pad", "pA pA /pad", "pB pB /pad", "pB pB /pad", "pA pA /pad", "pA pA /pad", "pA pA /pad"]);
    });
  }
});

describe("handlerClass, environClass and tsgi.signal on a repeated head", () => {
  test("getEnviron() and the environClass run for every request (each adds its own object), and each request has its own tsgi.signal", async () => {
    const order: string[] = [];
    let calls = 0;
    class Tagging extends RequestHandler {
      override getEnviron(environ: Environ): Environ {
        calls++;
        order.push(`handler sees ${String(environ["app.ctx"] === undefined)}`);
        environ["app.ctx"] = { call: calls, remote: environ.REMOTE_PORT };
        return environ;
      }
    }
    class Wrapped {
      constructor(init: Environ) {
        Object.assign(this, init);
        (this as Record<string, unknown>)["app.wrapped"] = ((this as Record<string, unknown>)["app.wrapped"] ?? 0) as number + 1;
      }
    }
    const signals: AbortSignal[] = [];
    const { port } = start((environ, sr) => {
      const ctx = environ["app.ctx"] as { call: number };
      signals.push(environ["tsgi.signal"] as AbortSignal);
      const out = `${ctx.call} ${String(environ["app.wrapped"])} ${environ["app.mine"] === undefined}`;
      environ["app.mine"] = true;
      (environ["app.ctx"] as { call: number }).call = -1;
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(out)];
    }, { log: null, handlerClass: Tagging, environClass: Wrapped as unknown as new (init: Environ) => Environ, requestSignal: true });
    const req = "GET /h HTTP/1.1\r\nHost: x\r\n\r\n";
    const r = await raw(port, [req + req, req, req, req], { until: (d) => count(d) === 5, gapMs: 20 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["1 1 true", "2 1 true", "3 1 true", "4 1 true", "5 1 true"]);
    expect(order).toEqual(Array(5).fill("handler sees true"));
    expect(new Set(signals).size).toBe(5);
    expect(signals.every((s) => s instanceof AbortSignal)).toBe(true);
  });
});

describe("TLS and Unix sockets, repeated heads", () => {
  let cert: DevCertificate;
  beforeAll(async () => {
    cert = await devCertificate(join(dir, "cert-cache"));
  });

  test("over TLS: HTTPS and SSL_* are in every request's environ, whatever the last request's app deleted", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      seen.push(`${String(environ.HTTPS)} ${String(environ.SSL_PROTOCOL)} ${environ["tsgi.url_scheme"]} ${environ.REMOTE_PORT !== ""}`);
      delete (environ as Record<string, unknown>).HTTPS;
      delete (environ as Record<string, unknown>).SSL_PROTOCOL;
      environ["tsgi.url_scheme"] = "http";
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, tls: { cert: cert.cert, key: cert.key } });
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: cert.cert }, () => resolve(s));
      s.once("error", reject);
    });
    const c = new Client(sock);
    try {
      const req = "GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n";
      for (const p of [req + req, req, req]) c.sock.write(p);
      for (let k = 0; k < 4; k++) await c.response();
      expect(seen.length).toBe(4);
      expect(seen[0]).toMatch(/^on TLSv1\.[23] https true$/);
      for (const s of seen) expect(s).toBe(seen[0]!);
    } finally {
      c.close();
    }
  });

  test("over TLS with an environ option: each request shows the option object as it is then, as over TCP (before: a TLS server copied it at its start, so it never changed)", async () => {
    const extra: Record<string, unknown> = { "app.generation": 0 };
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      seen.push(`${String(environ["app.generation"])} ${String(environ.HTTPS)}`);
      extra["app.generation"] = (extra["app.generation"] as number) + 1;
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, environ: extra, tls: { cert: cert.cert, key: cert.key } });
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: cert.cert }, () => resolve(s));
      s.once("error", reject);
    });
    const c = new Client(sock);
    try {
      const req = "GET /g HTTP/1.1\r\nHost: localhost\r\n\r\n";
      for (let k = 0; k < 3; k++) {
        c.sock.write(req);
        await c.response();
      }
      expect(seen).toEqual(["0 on", "1 on", "2 on"]);
    } finally {
      c.close();
    }
  });

  test("on a Unix socket with peerCredentials: the peer's keys are in every request's environ, whatever the last request's app did to them", async () => {
    const path = join(dir, "repeat.sock");
    const seen: string[] = [];
    const server = serve((environ, sr) => {
      seen.push(`${JSON.stringify(environ.REMOTE_ADDR)} ${String(environ.X_REMOTE_PID)} ${String(environ.X_REMOTE_UID)} ${environ.HTTP_HOST}`);
      environ.X_REMOTE_PID = "1";
      environ.HTTP_HOST = "changed";
      delete (environ as Record<string, unknown>).X_REMOTE_UID;
      environ.REMOTE_ADDR = "10.0.0.1";
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, errorLog: null, unix: path, peerCredentials: true });
    try {
      const sock = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection({ path }, () => resolve(s));
        s.once("error", reject);
      });
      const c = new Client(sock);
      try {
        const req = "GET /u HTTP/1.1\r\nHost: x\r\n\r\n";
        for (const p of [req + req, req, req]) c.sock.write(p);
        for (let k = 0; k < 4; k++) await c.response();
      } finally {
        c.close();
      }
      expect(seen.length).toBe(4);
      expect(seen[0]).toBe(`"" ${process.pid} ${process.getuid!()} x`);
      for (const s of seen) expect(s).toBe(seen[0]!);
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});


describe("property: any run of repeated and near-repeated heads on one connection", () => {
  const RUNS = Number(process.env.PROP_RUNS ?? 100);
  const SEED = process.env.PROP_SEED === undefined ? 20261207 : Number(process.env.PROP_SEED);
  const pad = "p".repeat(1024 - "GET /pad HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n".length);
  const bases = [
    "GET /a/b%20c?q=1&r=2 HTTP/1.1\r\nHost: h.test\r\nCookie: a=1\r\nX-Id: 7\r\nAccept: */*\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: h.test\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
    `GET /pad HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad}\r\n\r\n`,
    "GET /ten HTTP/1.0\r\nConnection: keep-alive\r\nX-Id: 9\r\n\r\n",
  ];
  /** Where a base's head may take another letter and stay a valid request of the same shape: its target's path and its last field's value. */
  function spots(text: string): number[] {
    const head = text.slice(0, text.indexOf("\r\n\r\n"));
    const out: number[] = [];
    for (let i = head.indexOf(" ") + 2; i < head.indexOf(" ", head.indexOf(" ") + 1); i++) if (/[a-z]/.test(head[i]!)) out.push(i);
    const last = head.lastIndexOf(": ") + 2;
    for (let i = last; i < head.length; i++) out.push(i);
    return out;
  }
  type Step = { base: number; flip: { at: number; letter: string } | null; action: "none" | "environ" | "raw" | "throw" };
  const stepArb: fc.Arbitrary<Step> = fc.record({
    base: fc.integer({ min: 0, max: bases.length - 1 }),
    flip: fc.option(fc.record({ at: fc.nat(), letter: fc.constantFrom("a", "Z", "0", "q", "-") }), { nil: null, freq: 3 }),
    action: fc.constantFrom("none", "environ", "raw", "throw"),
  });
  // Runs of one step repeated, so that most requests repeat the last head.
  const runArb = fc.array(fc.tuple(stepArb, fc.integer({ min: 1, max: 4 }), fc.array(fc.constantFrom("none", "environ", "raw", "throw") as fc.Arbitrary<Step["action"]>, { maxLength: 4 })), { minLength: 1, maxLength: 4 });
  const textOf = (s: Step) => {
    const text = bases[s.base]!;
    if (s.flip === null) return text;
    const at = spots(text);
    const i = at[s.flip.at % at.length]!;
    return text.slice(0, i) + s.flip.letter + text.slice(i + 1);
  };
  const snapshot = (environ: Environ) => {
    const { REMOTE_PORT: _port, ...rest } = environ as Record<string, unknown>;
    return `${plain(rest as Environ)} ${JSON.stringify(environ["tsgi.headers_raw"])} ${(environ["tsgi.posthooks"] as unknown[]).length}`;
  };

  test("each request's environ at the app is what a new connection sending that request alone gets (pipelined and split anywhere; apps changing their environ, their tsgi.headers_raw or throwing)", async () => {
    let actions: Step["action"][] = [];
    let seen: string[] = [];
    const { port } = start(async (environ, sr) => {
      const k = seen.length;
      seen.push(snapshot(environ));
      const action = actions[k] ?? "none";
      const body = await environ["tsgi.input"].read();
      if (action === "environ") {
        environ.PATH_INFO = "/changed";
        environ.HTTP_X_ID = "changed";
        delete (environ as Record<string, unknown>).QUERY_STRING;
        environ["tsgi.posthooks"]!.push([() => {}]);
      } else if (action === "raw") {
        const lines = environ["tsgi.headers_raw"] as string[];
        lines[lines.length - 1] = "changed";
        lines.push("X-Added", "1");
      } else if (action === "throw") throw new Error("boom");
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [body];
    }, { log: null, errorLog: null });
    const oracle = new Map<string, string>();
    const alone = async (text: string): Promise<string> => {
      let want = oracle.get(text);
      if (want === undefined) {
        const saved = [actions, seen];
        actions = [];
        seen = [];
        const r = await raw(port, text, { until: (d) => /HTTP\/1\.1 (200|500)/.test(d.toString("latin1")) });
        expect(parseResponses(r.data)[0]?.status).toBe(200);
        want = seen[0]!;
        [actions, seen] = saved as [Step["action"][], string[]];
        oracle.set(text, want);
      }
      return want;
    };
    await fc.assert(
      fc.asyncProperty(runArb, fc.array(fc.nat(), { maxLength: 6 }), async (run, cuts) => {
        const steps: Array<{ text: string; action: Step["action"] }> = [];
        for (const [step, times, later] of run) {
          for (let t = 0; t < times; t++) steps.push({ text: textOf(step), action: t === 0 ? step.action : (later[t - 1] ?? "none") });
        }
        const wants: string[] = [];
        for (const s of steps) wants.push(await alone(s.text));
        actions = steps.map((s) => s.action);
        seen = [];
        const all = steps.map((s) => s.text).join("");
        const pieces = cut(all, cuts.map((c) => c % (all.length + 1)));
        const r = await raw(port, pieces, {
          until: (d) => (d.toString("latin1").match(/HTTP\/1\.1 (200|500)/g) ?? []).length === steps.length,
          gapMs: 2,
          timeoutMs: 5000,
        });
        const statuses = parseResponses(r.data).map((x) => x.status);
        expect(statuses).toEqual(steps.map((s) => (s.action === "throw" ? 500 : 200)));
        expect(seen).toEqual(wants);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 60_000);
});
