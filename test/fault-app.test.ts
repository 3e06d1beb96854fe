/**
 * Faults from the application and shutdown under load, issue 6 §3: an app
 * that never finishes its response (requestTimeout), an app whose body
 * throws in close(), graceful shutdown with 200 requests in flight (in
 * process with `server.close()`, and a server process sent SIGTERM). Each
 * fault runs beside a bystander client and asserts nothing else was affected.
 * (10,000 malformed requests then a normal one: test/server-errors.test.ts.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServerProcess } from "../bench/soak.ts";
import type { Application, Body, InputStream } from "../src/spec.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";
import { devCertificate, loadTls } from "../src/server/tls.ts";
import { get, parseResponses, raw, startServer } from "./helpers.ts";
import { bystander, expectBystanderUnaffected, waitFor } from "./fault-helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const HELLO = enc("Hello, world!\n");

const servers: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.server.close({ timeout: 100 })));
});


/** Resolves with the connect error code, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.on("connect", () => {
      // connected: does the server answer, or refuse with 503, or close?
      s.write(get("/hello"));
    });
    let data = "";
    s.on("data", (d) => (data += d.toString("latin1")));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    s.on("close", () => resolve(data ? `answered ${data.slice(9, 12)}` : "closed"));
    setTimeout(() => (s.destroy(), resolve("timeout")), 2000);
  });
}

describe("application faults", () => {
  test("an app that never finishes: each request is abandoned at requestTimeout (503, logged, closed, close() called); others served", async () => {
    let closes = 0;
    const app: Application = (environ, startResponse) => {
      if (environ.PATH_INFO === "/hang") {
        const body: Body = {
          async *[Symbol.asyncIterator]() {
            await new Promise(() => {});
          },
          close() {
            closes++;
          },
        };
        return body;
      }
      startResponse("200 OK", [["Content-Length", String(HELLO.length)]]);
      return [HELLO];
    };
    const { port, server, errors } = startServer(app, { requestTimeout: 300 });
    servers.push({ port, server, errors } as ReturnType<typeof startServer>);
    const by = bystander(port, 1000);
    const hung = await Promise.all(Array.from({ length: 20 }, () => raw(port, get("/hang"), { timeoutMs: 3000 })));
    expectBystanderUnaffected(await by);
    for (const r of hung) {
      expect(r.closed).toBe(true);
      expect(parseResponses(r.data)[0]!.status).toBe(503);
    }
    expect(await waitFor(() => closes === 20)).toBe(true);
    expect(errors.filter((l) => l.includes("GET /hang HTTP/1.1") && l.includes("requestTimeout"))).toHaveLength(20);
    expect(await waitFor(() => server.connections === 0)).toBe(true);
  });

  test("an app still working when its request is given up (client reset, requestTimeout, shutdown): the body it returns afterwards is closed once and never iterated (after a FIN it is sent)", async () => {
    for (const how of ["reset", "fin", "requestTimeout", "shutdown"] as const) {
      const events: string[] = [];
      const app: Application = async (_environ, startResponse) => {
        await Bun.sleep(300);
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        const body: Body = {
          *[Symbol.iterator]() {
            events.push("iterated");
            yield HELLO;
          },
          close() {
            events.push("close");
          },
        };
        return body;
      };
      const s = startServer(app, how === "requestTimeout" ? { requestTimeout: 100 } : {});
      servers.push(s);
      const sock = connect({ host: "127.0.0.1", port: s.port });
      sock.on("error", () => {});
      await new Promise((r) => sock.on("connect", r));
      sock.write(get("/slow"));
      await Bun.sleep(100);
      if (how === "reset") sock.resetAndDestroy();
      else if (how === "fin") sock.end();
      else if (how === "shutdown") void s.server.close({ timeout: 50 });
      expect(await waitFor(() => events.length > 0, 2000)).toBe(true);
      await Bun.sleep(100);
      // After a FIN the client may still read (a half-close): the response is sent, then closed.
      expect([how, events]).toEqual([how, how === "fin" ? ["iterated", "close"] : ["close"]]);
      sock.destroy();
    }
  });

  test("an app whose close() throws: every response complete, the connection stays usable, each error logged once; others served", async () => {
    const app: Application = (environ, startResponse) => {
      if (environ.PATH_INFO === "/hello") {
        startResponse("200 OK", [["Content-Length", String(HELLO.length)]]);
        return [HELLO];
      }
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return {
        *[Symbol.iterator]() {
          yield enc(`ok ${environ.PATH_INFO}`);
        },
        close() {
          throw new Error(`close failed for ${environ.PATH_INFO}`);
        },
      };
    };
    const { port, server, errors } = startServer(app);
    servers.push({ port, server, errors } as ReturnType<typeof startServer>);
    const by = bystander(port, 800);
    // 10 connections × 5 keep-alive requests each, pipelined
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, c) => {
        const reqs = Array.from({ length: 5 }, (_, k) => get(`/c${c}r${k}`)).join("");
        return raw(port, reqs, { until: (d) => (d.toString("latin1").match(/\r\n0\r\n\r\n/g)?.length ?? 0) >= 5 });
      }),
    );
    expectBystanderUnaffected(await by);
    for (const [c, r] of results.entries()) {
      const rs = parseResponses(r.data);
      expect(rs.map((x) => x.body.toString())).toEqual(Array.from({ length: 5 }, (_, k) => `ok /c${c}r${k}`));
      expect(rs.every((x) => x.complete && x.status === 200)).toBe(true);
    }
    await Bun.sleep(50);
    const logged = errors.filter((l) => l.includes("close failed"));
    expect(logged).toHaveLength(50);
    expect(new Set(logged.map((l) => /close failed for (\S+)/.exec(l)?.[1])).size).toBe(50);
  });

  test("an app whose result runs its own code as the server looks at it (a thenable, a revoked Proxy, getters on then/close/return, a promise whose constructor getter throws): each request answered (500 and logged for it, or the body sent once), close() still called, the connection kept", async () => {
    const closed: string[] = [];
    const revoked = () => {
      const r = Proxy.revocable({}, {});
      r.revoke();
      return r.proxy as Body;
    };
    const throwingGetter = (target: object, key: string, message: string) =>
      Object.defineProperty(target, key, {
        get() {
          throw new Error(message);
        },
      });
    const results: Record<string, (startResponse: Parameters<Application>[1]) => unknown> = {
      "/then-getter": (sr) => (sr("200 OK", []), throwingGetter({}, "then", "then getter failed")),
      "/then-throws": (sr) => (
        sr("200 OK", []),
        {
          then() {
            throw new Error("then() failed");
          },
        }
      ),
      // Called back twice, then rejected: a promise settles once, so one body, no error.
      "/then-twice": (sr) => (
        sr("200 OK", []),
        {
          then(ok: (b: Body) => void, fail: (e: unknown) => void) {
            ok([enc("first")]);
            ok([enc("second")]);
            fail(new Error("then() rejected after resolving"));
          },
        }
      ),
      "/revoked": (sr) => (sr("200 OK", []), revoked()),
      "/close-getter": (sr) => (sr("200 OK", []), throwingGetter([enc("x")], "close", "close getter failed")),
      "/return-getter": (sr) => {
        sr("200 OK", [["Content-Length", "1"]]);
        const iterator = throwingGetter({ next: () => ({ done: false, value: enc("r") }) }, "return", "return getter failed");
        return { [Symbol.iterator]: () => iterator, close: () => void closed.push("/return-getter") };
      },
      // A native promise: Promise.resolve() reads its `constructor` to pass it as it is.
      "/constructor-getter": (sr) => (sr("200 OK", []), throwingGetter(Promise.resolve([enc("c")]), "constructor", "constructor getter failed")),
    };
    const app = ((environ, startResponse) => {
      if (environ.PATH_INFO === "/hello") {
        startResponse("200 OK", []);
        return [HELLO];
      }
      return results[environ.PATH_INFO]!(startResponse);
    }) as Application;
    const s = startServer(app);
    servers.push(s);
    const paths = Object.keys(results);
    // One connection: each request, then /hello on it, answered in order.
    const r = await raw(s.port, paths.map((p) => get(p) + get("/hello")).join(""), {
      until: (d) => (d.toString("latin1").match(/Hello, world!/g)?.length ?? 0) >= paths.length,
    });
    const rs = parseResponses(r.data);
    const statuses = [500, 500, 200, 500, 500, 200, 500];
    expect(rs.map((x) => `${x.status} ${x.complete}`)).toEqual(paths.flatMap((_, i) => [`${statuses[i]} true`, "200 true"]));
    expect(rs[4]!.body.toString()).toBe("first");
    expect(rs[10]!.body.toString()).toBe("r");
    expect(r.closed).toBe(false);
    for (const [p, message] of [
      ["/then-getter", "then getter failed"],
      ["/then-throws", "then() failed"],
      ["/revoked", "Proxy has already been revoked"],
      ["/close-getter", "close getter failed"],
      ["/constructor-getter", "constructor getter failed"],
    ]) {
      expect(s.errors.some((l) => l.startsWith(`Error in GET ${p} HTTP/1.1: `) && l.includes(message))).toBe(true);
    }
    expect(s.errors.some((l) => l.startsWith("Error in close() of the response body for GET /return-getter: ") && l.includes("return getter failed"))).toBe(true);
    expect(closed).toEqual(["/return-getter"]);
    expect(s.errors.filter((l) => l.includes("socket") || l.includes("then-twice") || l.includes("tsgi gateway"))).toEqual([]);
  });

  test("a chunk whose length lies (a Uint8Array subclass's getter, an own length property; in an array, a generator, write()): 500 and logged, never the stale bytes of an earlier response nor a thrown socket write", async () => {
    const SECRET = enc("SECRET of another client ".repeat(400));
    class Longer extends Uint8Array {
      override get length() {
        return 20_000;
      }
    }
    const ownLength = () => Object.defineProperty(new Uint8Array(3).fill(65), "length", { value: 100 }) as Uint8Array;
    const app: Application = (environ, startResponse) => {
      const path = environ.PATH_INFO;
      if (path === "/secret" || path === "/hello") {
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        return [path === "/hello" ? HELLO : SECRET];
      }
      if (path === "/write") {
        void startResponse("200 OK", [])(ownLength());
        return [];
      }
      startResponse("200 OK", []);
      const chunk = path.endsWith("subclass") ? new Longer(3).fill(65) : ownLength();
      if (path.startsWith("/array")) return [chunk];
      return (function* () {
        yield chunk;
      })();
    };
    const s = startServer(app);
    servers.push(s);
    const paths = ["/array-own", "/array-subclass", "/generator-subclass", "/generator-own", "/write"];
    for (const path of paths) {
      // Another client's response first, so that the server's output buffers hold its bytes.
      const before = await raw(s.port, get("/secret"), { until: (d) => d.length >= SECRET.length });
      expect(parseResponses(before.data)[0]?.status).toBe(200);
      const r = await raw(s.port, get(path) + get("/hello"), { timeoutMs: 2000, until: (d) => (d.toString("latin1").match(/HTTP\/1\.1 /g)?.length ?? 0) >= 2 });
      const text = r.data.toString("latin1");
      expect(text).not.toContain("SECRET");
      expect(parseResponses(r.data).map((x) => x.status)).toEqual([500, 200]);
      expect(s.errors.some((l) => l.startsWith(`Error in GET ${path} HTTP/1.1: TypeError: `) && /says its length is (100|20000) but holds 3 bytes/.test(l))).toBe(true);
    }
    expect(s.errors.filter((l) => l.includes("socket") || l.includes("tsgi gateway") || l.includes("out of range"))).toEqual([]);
  });

  test("a chunk whose length tells the truth when first read and lies after (a getter of a subclass or of its own; in an array, a generator, write()): its own bytes or a cut response, never the stale bytes of an earlier response", async () => {
    const SECRET = enc("SECRET of another client ".repeat(400));
    /** `length` is the chunk's own the first time it is read, then `lie`. */
    const truthThenLie = (lie: number, own: boolean): Uint8Array => {
      let reads = 0;
      const get = (real: number) => (reads++ === 0 ? real : lie);
      if (own) {
        const chunk = new Uint8Array(3).fill(65);
        return Object.defineProperty(chunk, "length", { get: () => get(3) });
      }
      class Changing extends Uint8Array {
        override get length() {
          return get(super.length);
        }
      }
      return new Changing(3).fill(65);
    };
    const app: Application = (environ, startResponse) => {
      const path = environ.PATH_INFO;
      if (path === "/secret" || path === "/hello") {
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        return [path === "/hello" ? HELLO : SECRET];
      }
      const lie = path.includes("long") ? 20_000 : 100;
      const chunk = truthThenLie(lie, path.includes("own"));
      if (path.startsWith("/write")) {
        void startResponse("200 OK", [["Content-Length", "3"]])(chunk);
        return [];
      }
      startResponse("200 OK", []);
      if (path.startsWith("/array")) return [chunk];
      return (function* () {
        yield chunk;
      })();
    };
    const s = startServer(app);
    servers.push(s);
    const kinds = ["/array", "/generator", "/write"];
    const paths = kinds.flatMap((k) => [`${k}-subclass`, `${k}-own`, `${k}-subclass-long`, `${k}-own-long`]);
    for (const path of paths) {
      // Another client's response first, so that the server's output buffers hold its bytes.
      const before = await raw(s.port, get("/secret"), { until: (d) => d.length >= SECRET.length });
      expect(parseResponses(before.data)[0]?.status).toBe(200);
      const r = await raw(s.port, get(path) + get("/hello"), { timeoutMs: 2000, until: (d) => d.includes("Hello, world!") });
      const text = r.data.toString("latin1");
      expect({ path, secret: text.includes("SECRET") }).toEqual({ path, secret: false });
      const answers = parseResponses(r.data).map((x) => `${x.status} ${x.headers["content-length"] ?? "-"} ${x.body.toString("latin1")}`);
      if (path.startsWith("/array")) {
        // Taken as its 3 bytes for the Content-Length, then read again for the write, when it lies:
        // the response is cut (the connection closed) and the app's error logged.
        expect({ path, answers, closed: r.closed }).toEqual({ path, answers: ["200 3 "], closed: true });
        expect(s.errors.some((l) => l.startsWith(`Error in GET ${path} HTTP/1.1: TypeError: `) && /says its length is (100|20000) but holds 3 bytes/.test(l))).toBe(true);
      } else {
        // Sent as the 3 bytes it holds, the connection kept for the next request.
        expect({ path, answers }).toEqual({ path, answers: [`200 ${path.startsWith("/write") ? "3" : "-"} AAA`, "200 14 Hello, world!\n"] });
      }
    }
    expect(s.errors.filter((l) => l.includes("socket") || l.includes("tsgi gateway") || l.includes("out of range"))).toEqual([]);
  });

  test("a chunk whose ArrayBuffer was detached (buf.buffer.transfer(): it reads as 0 bytes, its data gone; in an array, a generator, write()): the app's error, 500 or a cut response and a log line saying so, never an empty 200 (before: 200 with no body, nothing logged)", async () => {
    const detached = () => {
      const chunk = enc("data the app meant to send");
      void chunk.buffer.transfer();
      return chunk;
    };
    const app: Application = (environ, startResponse) => {
      const path = environ.PATH_INFO;
      if (path === "/hello") {
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        return [HELLO];
      }
      if (path === "/write") {
        void startResponse("200 OK", [])(detached());
        return [];
      }
      startResponse("200 OK", []);
      if (path === "/array") return [HELLO, detached()];
      if (path === "/generator") {
        return (function* () {
          yield detached();
        })();
      }
      // A chunk already sent: the response is cut.
      return (function* () {
        yield HELLO;
        yield detached();
      })();
    };
    const s = startServer(app);
    servers.push(s);
    const logged = (path: string) => s.errors.filter((l) => l.startsWith(`Error in GET ${path} HTTP/1.1: TypeError: `) && /ArrayBuffer of (a body chunk|the chunk given to write\(\)) was detached \(transferred away/.test(l));
    for (const path of ["/array", "/generator", "/write"]) {
      const r = await raw(s.port, get(path) + get("/hello"), { timeoutMs: 2000, until: (d) => (d.toString("latin1").match(/HTTP\/1\.1 /g)?.length ?? 0) >= 2 });
      expect([path, parseResponses(r.data).map((x) => x.status)]).toEqual([path, [500, 200]]);
      expect([path, logged(path).length]).toEqual([path, 1]);
    }
    const cut = await raw(s.port, get("/generator-after") + get("/hello"), { timeoutMs: 2000 });
    const text = cut.data.toString("latin1");
    expect(cut.closed).toBe(true);
    expect(text).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(text).toContain("Hello, world!");
    expect(text).not.toEndWith("0\r\n\r\n"); // no last chunk: the client sees the response cut
    expect(text.match(/HTTP\/1\.1 /g)?.length).toBe(1);
    expect(logged("/generator-after").length).toBe(1);
    expect(s.errors.filter((l) => l.includes("socket") || l.includes("tsgi gateway"))).toEqual([]);
  });
  test("an app that never awaits its write() (PEP 3333 style) and loses its client: the process lives on and serves the next client", async () => {
    const srv = await startServerProcess();
    try {
      // Take the first bytes, then reset: the app's next write() is refused.
      const s = connect({ host: "127.0.0.1", port: srv.port });
      s.on("error", () => {});
      const first = await new Promise<string>((resolve) => {
        s.once("data", (d: Buffer) => resolve(d.toString("latin1", 0, 12)));
        s.write(get("/unawaited-writes"));
      });
      expect(first).toBe("HTTP/1.1 200");
      s.resetAndDestroy();
      await Bun.sleep(300); // several refused writes
      const exited = await Promise.race([srv.exited.then((code) => `exited ${code}`), Bun.sleep(50).then(() => "running")]);
      expect(exited).toBe("running");
      const next = await raw(srv.port, get("/hello"), { until: (d) => d.includes("Hello, world!") });
      expect(parseResponses(next.data)[0]?.status).toBe(200);
    } finally {
      srv.kill("SIGKILL");
    }
  }, 20_000);
});

describe("graceful shutdown under load", () => {
  test("server.close() with 200 requests in flight: all 200 complete, new connections refused, close resolves in time", async () => {
    let started = 0;
    const app: Application = async (environ, startResponse) => {
      started++;
      await Bun.sleep(400);
      const body = enc(`done ${environ.PATH_INFO}`);
      startResponse("200 OK", [["Content-Length", String(body.length)]]);
      return [body];
    };
    const s = startServer(app, { shutdownTimeout: 5000 });
    servers.push(s);
    const inflight = Array.from({ length: 200 }, (_, k) => raw(s.port, get(`/r${k}`), { until: (d) => d.includes(`done /r${k}`), timeoutMs: 6000 }));
    expect(await waitFor(() => started === 200)).toBe(true);
    const t0 = Date.now();
    const closing = s.server.close();
    await Bun.sleep(20);
    const late = await tryConnect(s.port);
    const results = await Promise.all(inflight);
    await closing;
    const took = Date.now() - t0;
    expect(late).toBe("ECONNREFUSED");
    results.forEach((r, k) => {
      const rs = parseResponses(r.data);
      expect(rs[0]?.status).toBe(200);
      expect(rs[0]?.body.toString()).toBe(`done /r${k}`);
    });
    expect(took).toBeLessThan(2000);
    expect(s.server.connections).toBe(0);
    expect(s.errors).toEqual([]);
  });

  test("SIGTERM to a server process with 200 requests in flight: all 200 complete, new connections refused, exit 0", async () => {
    const srv = await startServerProcess({ SHUTDOWN_TIMEOUT: "5000" });
    let killed = false;
    try {
      const inflight = Array.from({ length: 200 }, (_, k) =>
        raw(srv.port, get(`/slow?ms=600&k=${k}`), { until: (d) => d.includes("Hello, world!"), timeoutMs: 8000 }),
      );
      await Bun.sleep(250); // all 200 are in the app (each takes 600 ms)
      const t0 = Date.now();
      srv.kill("SIGTERM");
      killed = true;
      await Bun.sleep(50);
      const late = await tryConnect(srv.port);
      const results = await Promise.all(inflight);
      const code = await Promise.race([srv.exited, Bun.sleep(8000).then(() => "timeout")]);
      const took = Date.now() - t0;
      expect(late).toBe("ECONNREFUSED");
      for (const r of results) expect(parseResponses(r.data)[0]?.status).toBe(200);
      expect(code).toBe(0);
      expect(took).toBeLessThan(5000);
    } finally {
      if (!killed) srv.kill("SIGKILL");
    }
  }, 20_000);
});

/** Freeze `root` and every object reachable from it through its own properties (as deep-freeze libraries do), at most 10,000 objects. */
function deepFreeze(root: object): void {
  const seen = new Set<object>();
  const todo: object[] = [root];
  while (todo.length > 0 && seen.size < 10_000) {
    const o = todo.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      const v = d && "value" in d ? d.value : undefined;
      if ((typeof v === "object" && v !== null) || typeof v === "function") todo.push(v);
    }
    Object.freeze(o);
  }
}

describe("an app that locks the gateway's objects", () => {
  const start = (app: Application) => {
    const s = startServer(app, { requestSignal: true, bodyTimeout: 2000 });
    servers.push(s);
    return s;
  };
  test("Object.freeze, seal, preventExtensions or a deep freeze of tsgi.input (its body still arriving, or past the input's high-water mark), of the environ or of tsgi.signal: answered, the connection's next request and another client served, nothing logged", async () => {
    const lockers: Record<string, (o: object) => void> = { freeze: Object.freeze, seal: Object.seal, preventExtensions: Object.preventExtensions, deep: deepFreeze };
    const app: Application = async (environ, startResponse) => {
      const [, lock, what] = environ.PATH_INFO!.split("/");
      if (lock !== undefined && what !== undefined) {
        const target = what === "environ" ? environ : what === "signal" ? environ["tsgi.signal"] : environ["tsgi.input"];
        lockers[lock]!(target as object);
        await Bun.sleep(120); // the rest of the body arrives after the lock (and, unread, is complete or paused by the time of the response)
      }
      startResponse("200 OK", [["Content-Length", "2"]]);
      return [enc("ok")];
    };
    const { port, errors } = start(app);
    const big = "x".repeat(200 * 1024);
    for (const lock of Object.keys(lockers)) {
      for (const what of ["input", "environ", "signal"]) {
        const post = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
        const chunked = `POST /${lock}/${what} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
        const until = (n: number) => (d: Buffer) => (d.toString("latin1").match(/\r\n\r\nok/g)?.length ?? 0) >= n;
        const results = await Promise.all([
          // The body in three pieces, 40 ms apart: two arrive after the lock, then the next request.
          raw(port, [post(`/${lock}/${what}`, "hello world!"), "hello ", "world!" + get("/next")], { gapMs: 40, until: until(2) }),
          raw(port, [chunked, "6\r\nhello \r\n", "6\r\nworld!\r\n0\r\n\r\n" + get("/next")], { gapMs: 40, until: until(2) }),
          // 200 KiB the app never reads (the input pauses the socket past 64 KiB): drained after the response.
          raw(port, [post(`/${lock}/${what}`, big), big + get("/next")], { gapMs: 40, until: until(2) }),
        ]);
        for (const [i, r] of results.entries()) {
          const answers = parseResponses(r.data);
          // A chunked body still arriving when the response starts has no known size to drain, so
          // the response says Connection: close and the connection ends after it (by design, RFC 9112
          // section 9.6): how often depends on the machine's load, not on the lock.
          const closes = answers[0]?.headers.connection === "close";
          expect([`${lock} ${what} ${i}`, answers.map((x) => x.status), r.closed]).toEqual([`${lock} ${what} ${i}`, closes && i === 1 ? [200] : [200, 200], closes && i === 1]);
        }
        const other = await raw(port, get("/other"), { until: until(1) });
        expect(parseResponses(other.data)[0]?.status).toBe(200);
      }
    }
    expect(errors.join("")).toBe("");
  }, 30_000);
});

describe("an app whose objects throw where the gateway reads them", () => {
  test("throwing getters on the environ keys read after the app (request line, tsgi.posthooks, X-Forwarded-For), a body's close or then getter that throws: each answered (500 when nothing was sent), one log line, the connection's next request and another client served", async () => {
    const boom = (what: string) => () => {
      throw new Error(`getter ${what}`);
    };
    const lockEnviron = (environ: Record<string, unknown>) => {
      for (const key of ["REQUEST_METHOD", "REQUEST_URI", "PATH_INFO", "SERVER_PROTOCOL", "tsgi.posthooks", "tsgi.minimum_write_chunk_size", "HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]) {
        Object.defineProperty(environ, key, { get: boom(key), configurable: true });
      }
    };
    const app: Application = (environ, startResponse) => {
      const path = environ.PATH_INFO!;
      if (path === "/next") {
        startResponse("200 OK", [["Content-Length", "2"]]);
        return [enc("ok")];
      }
      if (path.startsWith("/environ")) lockEnviron(environ as Record<string, unknown>);
      if (path === "/environ/throws") throw new Error("the app failed");
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      if (path === "/environ/array") return [enc("ok")];
      if (path === "/environ/generator") return (function* () { yield enc("ok"); })();
      if (path === "/environ/async") return Promise.resolve([enc("ok")]) as never;
      if (path === "/close/array") return Object.defineProperty([enc("ok")], "close", { get: boom("close") });
      if (path === "/close/generator") return Object.defineProperty((function* () { yield enc("ok"); })(), "close", { get: boom("close") });
      return Object.defineProperty([enc("ok")], "then", { get: boom("then") });
    };
    const started = startServer(app, { logXForwardedFor: true });
    servers.push(started);
    const { port, errors } = started;
    const cases: Array<[string, number]> = [
      ["/environ/throws", 500],
      ["/environ/array", 500],
      ["/environ/generator", 500],
      ["/environ/async", 500],
      ["/close/array", 500],
      ["/close/generator", 200],
      ["/then", 500],
    ];
    for (const [path, status] of cases) {
      errors.length = 0;
      const r = await raw(port, get(path, "X-Forwarded-For: 192.0.2.1\r\n") + get("/next"), { until: (d) => d.toString("latin1").includes("\r\n\r\nok") });
      expect([path, parseResponses(r.data).map((x) => x.status), r.closed]).toEqual([path, [status, 200], false]);
      const other = await raw(port, get("/next"), { until: (d) => d.toString("latin1").includes("\r\n\r\nok") });
      expect(parseResponses(other.data)[0]?.status).toBe(200);
      await Bun.sleep(20);
      const lines = errors.join("").split("\n").filter((l) => l.startsWith("Error in"));
      expect([path, lines.length, lines.some((l) => /Error in (socket|tsgi gateway)/.test(l))]).toEqual([path, 1, false]);
      expect(lines[0]).toMatch(/getter |the app failed/);
    }
  }, 20_000);
});

describe("an app that wraps tsgi.input", () => {
  const start = (app: Application) => {
    const s = startServer(app, { bodyTimeout: 2000 });
    servers.push(s);
    return s;
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  /** How middleware wraps the input: a Proxy (with and without a get trap), an object over it (Object.create) with a read of its own. */
  const wrappers: Record<string, (input: InputStream) => InputStream> = {
    proxy: (input) => new Proxy(input, {}),
    trap: (input) => new Proxy(input, { get: (t, k, r) => Reflect.get(t, k, r) }),
    over: (input) => {
      const o = Object.create(input) as InputStream;
      o.read = (size) => input.read(size);
      return o;
    },
  };
  test("every method of a Proxy of tsgi.input or an object over it reads the body (Content-Length, chunked, 100-continue, pipelined), as of the input itself; the fetch bridge streams through the wrapper", async () => {
    const app: Application = async (environ, startResponse) => {
      const [, how, method] = environ.PATH_INFO!.split("/");
      const input = wrappers[how!]!(environ["tsgi.input"]);
      const w = input as InputStream & { bytesRead: number; read1(n?: number): Promise<Uint8Array>; sendHundredContinueResponse(): Promise<void>; setHundredContinueResponseHeaders(h: [string, string][]): void };
      let out = "";
      if (method === "lines") out = (await w.readlines()).map(text).join("|");
      else if (method === "iterate") for await (const line of w) out += text(line) + "|";
      else if (method === "readline") out = text(await w.readline()) + "|" + text(await w.read(3)) + "|" + text(await w.read());
      else if (method === "read1") {
        w.setHundredContinueResponseHeaders([["X-Go", "1"]]);
        await w.sendHundredContinueResponse();
        for (let chunk = await w.read1(4), i = 0; chunk.length > 0 && i < 100; chunk = await w.read1(4), i++) out += text(chunk) + "|";
      }
      out += ` ${w.bytesRead}`;
      startResponse("200 OK", [["Content-Length", String(Buffer.byteLength(out))]]);
      return [new TextEncoder().encode(out)];
    };
    const { port, errors } = start(app);
    const body = "ab\ncd\nefgh";
    const cl = (path: string, extra = "") => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;
    const chunked = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n7\r\ncd\nefgh\r\n0\r\n\r\n`;
    const expected: Record<string, string> = { lines: "ab\n|cd\n|efgh 10", iterate: "ab\n|cd\n|efgh| 10", readline: "ab\n|cd\n|efgh 10", read1: "ab\nc|d\nef|gh| 10" };
    for (const how of Object.keys(wrappers)) {
      for (const method of Object.keys(expected)) {
        const path = `/${how}/${method}`;
        // Pipelined: Content-Length, chunked and a GET in one write; then a 100-continue request whose body waits for the 100.
        const r = await raw(port, cl(path) + chunked(path) + get(`/${how}/readline`), { until: (d) => (d.toString("latin1").match(/HTTP\/1\.1 200/g)?.length ?? 0) >= 3 });
        const bodies = parseResponses(r.data).filter((x) => x.status === 200).map((x) => x.body.toString("latin1"));
        expect([path, bodies]).toEqual([path, [expected[method]!, expected[method]!, "|| 0"]]);
        const c = await raw(port, [`POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`, body], { gapMs: 100, until: (d) => d.toString("latin1").endsWith(expected[method]!) });
        const text100 = c.data.toString("latin1");
        expect([path, text100.startsWith("HTTP/1.1 100 Continue\r\n"), text100.endsWith(expected[method]!)]).toEqual([path, true, true]);
      }
    }
    // fromFetchHandler under a middleware that wraps the input: the handler gets the body through the wrapper.
    const seen: string[] = [];
    const bridged = fromFetchHandler(async (request) => new Response(await request.text()));
    const viaFetch = start((environ, startResponse) => {
      environ["tsgi.input"] = new Proxy(environ["tsgi.input"], { get: (t, k, r) => (k === "read1" && seen.push("read1"), Reflect.get(t, k, r)) });
      return bridged(environ, startResponse);
    });
    const f = await raw(viaFetch.port, cl("/"), { until: (d) => d.toString("latin1").endsWith(body) });
    expect([parseResponses(f.data)[0]?.status, parseResponses(f.data)[0]?.body.toString("latin1"), seen.length > 0]).toEqual([200, body, true]);
    expect(errors.join("") + viaFetch.errors.join("")).toBe("");
  }, 30_000);
});

/**
 * One round against 127.0.0.1:port from another process (this one stalls): A and a
 * silent connection S open at 0 (mode "keepalive": each answered once first, then idle;
 * mode "head": nothing sent), a request that stalls the server's loop for 1.5 s is sent
 * at 0.2 s, and A sends a POST at 0.6 s, during the stall and well before its 1 s timeout.
 * Prints JSON: what A got, and when (s) S was closed (-1: not within 4 s).
 */
const STALL_CLIENT = String.raw`
import json, socket, ssl, sys, threading, time
port, mode, tls = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "tls"
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=4)
    return ctx.wrap_socket(s, server_hostname="localhost") if tls else s
def answer(s):
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d: return "closed"
            buf += d
        return buf.split(b"\r\n")[0].decode()
    except Exception as e: return "error %s" % type(e).__name__
def closed_at(s, t0):
    try:
        while s.recv(4096): pass
        return time.monotonic() - t0
    except Exception: return -1
t0 = time.monotonic()
a, silent = conn(), conn()
if mode == "keepalive":
    for s in (a, silent):
        s.sendall(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n"); assert answer(s).startswith("HTTP/1.1 200"), mode
def stall():
    b = conn(); b.sendall(b"GET /stall HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); answer(b); b.close()
time.sleep(max(0, 0.2 - (time.monotonic() - t0)))
th = threading.Thread(target=stall); th.start()
time.sleep(max(0, 0.6 - (time.monotonic() - t0)))
late = time.monotonic() - t0 > 0.9
a.sendall(b"POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
got = answer(a)
print(json.dumps({"a": got, "sentLate": late, "silentClosedAt": round(closed_at(silent, t0), 2)}), flush=True)
th.join()
`;

describe("an app that stalls the event loop", () => {
  const PYTHON = Bun.which("python3");
  const dir = mkdtempSync(join(tmpdir(), "tsgi-stall-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.skipIf(!PYTHON)(
    "a request sent during a 1.5 s stall on a kept-alive or opened connection is answered, not closed as idle or slow by the first tick after it; a silent one is still closed (plain and TLS)",
    async () => {
      const cert = await devCertificate(join(dir, "cache"));
      const app: Application = (environ, startResponse) => {
        if (environ.PATH_INFO === "/stall") {
          const end = performance.now() + 1500;
          while (performance.now() < end);
        }
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        return [enc("ok")];
      };
      const outcomes: string[] = [];
      for (const tls of [false, true]) {
        const s = startServer(app, { keepAliveTimeout: 1000, headerTimeout: 1000, ...(tls ? { tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) } : {}) });
        servers.push(s);
        for (const mode of ["keepalive", "head"]) {
          {
            const proc = Bun.spawn([PYTHON!, "-c", STALL_CLIENT, String(s.port), mode, tls ? "tls" : "plain"], { stdout: "pipe", stderr: "pipe" });
            const killer = setTimeout(() => proc.kill(), 10_000);
            const out = await new Response(proc.stdout).text();
            clearTimeout(killer);
            const r = JSON.parse(out.trim() || `{"a":"no output: ${(await new Response(proc.stderr).text()).replace(/\W+/g, " ")}"}`) as { a: string; sentLate: boolean; silentClosedAt: number };
            const where = `${tls ? "tls" : "plain"} ${mode}`;
            // The POST left the client at 0.6 s (the deadline is 1 to 1.25 s): a later send would make a close legitimate.
            if (r.sentLate) continue;
            outcomes.push(`${where}: ${r.a}`);
            // The silent connection is still closed: at the stall's end (~1.7 s) plus at most two ticks (250 ms each).
            expect([where, r.silentClosedAt > 0 && r.silentClosedAt < 2.6]).toEqual([where, true]);
          }
        }
      }
      // Before: every one "closed" (the first tick after the stall ran before the socket's read).
      expect(outcomes.length).toBeGreaterThanOrEqual(3);
      expect(outcomes.filter((o) => !o.endsWith("HTTP/1.1 200 OK"))).toEqual([]);
    },
    60_000,
  );
});
