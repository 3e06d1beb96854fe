/**
 * Faults from clients, issue 6 §3: resets mid-head, mid-body and
 * mid-response; slowloris heads and bodies; slow readers of large
 * responses. Each fault runs while a bystander client does keep-alive
 * requests on other connections, and each test asserts that nothing else was
 * affected: every bystander request answered correctly, no error logged (a
 * client reset is quiet), and the server let go of every faulty connection.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { rssOf, startServerProcess } from "../bench/soak.ts";
import type { ServerOptions } from "../src/server/options.ts";
import type { Application, Body } from "../src/spec.ts";
import { parseResponses, raw, startServer } from "./helpers.ts";
import { bystander, expectBystanderUnaffected, waitFor } from "./fault-helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const HELLO = enc("Hello, world!\n");
const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

/** What the app saw, per route. */
interface Stats {
  partialHeads: number;
  uploadsDone: number;
  uploadsFailed: number;
  produced: number;
  closes: number;
  bigStarted: number;
}

function faultApp(stats: Stats): Application {
  return async (environ, startResponse) => {
    const path = environ.PATH_INFO;
    if (path === "/partial") stats.partialHeads++;
    if (path === "/upload") {
      try {
        let n = 0;
        for (;;) {
          const c = await environ["tsgi.input"].read(65536);
          if (c.length === 0) break;
          n += c.length;
        }
        stats.uploadsDone++;
        const body = enc(String(n));
        startResponse("200 OK", [["Content-Length", String(body.length)]]);
        return [body];
      } catch (e) {
        stats.uploadsFailed++;
        throw e;
      }
    }
    if (path === "/big") {
      stats.bigStarted++;
      const chunks = Number(new URLSearchParams(environ.QUERY_STRING).get("chunks") ?? 1024);
      startResponse("200 OK", [["Content-Length", String(chunks * CHUNK.length)]]);
      let k = 0;
      const body: Body = {
        [Symbol.iterator]: () => ({
          next: () => {
            if (k++ >= chunks) return { done: true, value: undefined };
            stats.produced += CHUNK.length;
            return { done: false, value: CHUNK };
          },
        }),
        close() {
          stats.closes++;
        },
      };
      return body;
    }
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", String(HELLO.length)]]);
    return [HELLO];
  };
}

const servers: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.server.close({ timeout: 100 })));
});

function setup(options: ServerOptions = {}) {
  const stats: Stats = { partialHeads: 0, uploadsDone: 0, uploadsFailed: 0, produced: 0, closes: 0, bigStarted: 0 };
  const s = startServer(faultApp(stats), options);
  servers.push(s);
  return { ...s, stats };
}


/** A client socket watched: what it received (latin-1), and when the server closed it (ms since epoch; 0 while open). */
interface Watched {
  socket: Socket;
  data: string;
  closedAt: number;
  closed: Promise<void>;
}

function watch(socket: Socket): Watched {
  const w: Watched = { socket, data: "", closedAt: 0, closed: Promise.resolve() };
  socket.on("data", (d) => (w.data += d.toString("latin1")));
  w.closed = new Promise<void>((r) => socket.on("close", () => ((w.closedAt = Date.now()), r())));
  socket.on("error", () => {});
  return w;
}

/** Send `head` a byte every `everyMs` until the server closes the connection or `limitMs` pass, then destroy the socket; returns how many bytes went. */
async function trickle(w: Watched, head: string, everyMs: number, limitMs: number): Promise<number> {
  let k = 0;
  const timer = setInterval(() => {
    if (!w.socket.destroyed && k < head.length) w.socket.write(head[k++]!);
  }, everyMs);
  await Promise.race([w.closed, Bun.sleep(limitMs)]);
  clearInterval(timer);
  w.socket.destroy();
  return k;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.on("error", reject);
  });
}

/** Send a TCP reset (SO_LINGER 0), not a FIN. */
function reset(s: Socket) {
  s.removeAllListeners("error");
  s.on("error", () => {});
  s.resetAndDestroy();
}

describe("client resets", () => {
  test("mid-head: quiet, the app never runs, every connection released", async () => {
    const { port, server, errors, stats } = setup();
    const by = bystander(port, 800);
    const socks = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    for (const [k, s] of socks.entries()) s.write(`GET /partial HTTP/1.1\r\nHost: h\r\nX-Pad: ${"p".repeat(k * 50)}`);
    await Bun.sleep(100);
    for (const s of socks) reset(s);
    expectBystanderUnaffected(await by);
    expect(await waitFor(() => server.connections === 0)).toBe(true);
    expect(stats.partialHeads).toBe(0);
    expect(errors).toEqual([]);
  });

  test("mid-body: the app's read fails, nothing is answered to the dead peer, every connection released", async () => {
    const { port, server, errors, stats } = setup();
    const by = bystander(port, 800);
    const socks = await Promise.all(Array.from({ length: 10 }, () => open(port)));
    for (const s of socks) {
      s.on("error", () => {});
      s.write(`POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${1 << 20}\r\n\r\n`);
      s.write(new Uint8Array(100 * 1024).fill(0x62));
    }
    await Bun.sleep(150);
    for (const s of socks) reset(s);
    expectBystanderUnaffected(await by);
    expect(await waitFor(() => server.connections === 0 && stats.uploadsFailed === 10)).toBe(true);
    expect(stats.uploadsDone).toBe(0);
    // A client that went away is not an error worth logging (gevent's ignored_socket_errors).
    expect(errors).toEqual([]);
  });

  test("mid-response: the body is closed exactly once and stops being pulled; every connection released", async () => {
    const { port, server, errors, stats } = setup();
    const by = bystander(port, 800);
    const socks = await Promise.all(Array.from({ length: 10 }, () => open(port)));
    let got = 0;
    for (const s of socks) {
      s.on("data", (d) => (got += d.length));
      s.write("GET /big?chunks=1024 HTTP/1.1\r\nHost: h\r\n\r\n"); // 64 MiB each
    }
    expect(await waitFor(() => got > 10 * 256 * 1024)).toBe(true);
    for (const s of socks) reset(s);
    expectBystanderUnaffected(await by);
    expect(await waitFor(() => server.connections === 0 && stats.closes === 10)).toBe(true);
    await Bun.sleep(100);
    expect(stats.bigStarted).toBe(10);
    expect(stats.closes).toBe(10);
    // far from the 640 MiB the ten bodies would have produced
    expect(stats.produced).toBeLessThan(160 * 1024 * 1024);
    expect(errors).toEqual([]);
  });
});

describe("slow clients", () => {
  test("slowloris: heads trickled a byte at a time past headerTimeout are closed on time (408); others served meanwhile", async () => {
    const { port, server, stats } = setup({ headerTimeout: 300 });
    const by = bystander(port, 1200);
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const w = watch(await open(port));
        const sent = await trickle(w, "GET /partial HTTP/1.1\r\nHost: h\r\nX-Slow: " + "s".repeat(1000), 25, 3000);
        return { data: w.data, after: w.closedAt ? w.closedAt - started : Infinity, sent };
      }),
    );
    expectBystanderUnaffected(await by);
    for (const r of results) {
      expect(r.data).toContain("408");
      // still sending when cut: the deadline is for the whole head, not per byte
      expect(r.sent).toBeGreaterThan(5);
      expect(r.after).toBeLessThan(1500);
    }
    expect(stats.partialHeads).toBe(0);
    expect(await waitFor(() => server.connections === 0)).toBe(true);
  });

  test("slowloris on a kept-alive connection: the second head, trickled, gets its 408 on time too", async () => {
    const { port, server } = setup({ headerTimeout: 500, keepAliveTimeout: 5000 });
    const w = watch(await open(port));
    w.socket.write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
    for (let i = 0; i < 100 && !w.data.includes("\r\n\r\n"); i++) await Bun.sleep(10);
    expect(w.data).toStartWith("HTTP/1.1 200 ");
    const started = Date.now();
    await trickle(w, "GET /slow HTTP/1.1\r\nHost: h\r\nX-Slow: " + "s".repeat(100), 100, 4000);
    // Before: each byte of the second head restarted the 5 s keep-alive clock; no 408, and the head could take minutes.
    expect(w.data).toContain("HTTP/1.1 408 ");
    expect(w.closedAt - started).toBeGreaterThanOrEqual(450);
    expect(w.closedAt - started).toBeLessThan(2000);
    expect(await waitFor(() => server.connections === 0)).toBe(true);
  });

  test("a head begun in the same read that ended the last exchange (a synchronous answer; a drained body) gets its 408 on headerTimeout, not the keep-alive time", async () => {
    const s = startServer(
      (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [enc("ok")];
      },
      { headerTimeout: 400, keepAliveTimeout: 5000 },
    );
    servers.push(s);
    const cases: Array<[string, string[]]> = [
      ["pipelined behind a synchronous answer", ["GET /first HTTP/1.1\r\nHost: h\r\n\r\nGET /partial HTTP/1.1\r\nHo"]],
      // Answered before its body came: the body's last bytes and the next head's first in one read.
      ["after a drained body", ["POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345", "67890GET /partial HTTP/1.1\r\nHo"]],
    ];
    for (const [name, pieces] of cases) {
      const w = watch(await open(s.port));
      let t0 = 0;
      for (const piece of pieces) {
        for (let i = 0; i < 100 && pieces.length > 1 && piece !== pieces[0] && !w.data.includes("ok"); i++) await Bun.sleep(10);
        w.socket.write(piece);
        t0 = Date.now();
      }
      await Promise.race([w.closed, Bun.sleep(4000)]);
      w.socket.destroy();
      // Before: the partial head waited the 5 s keep-alive time, then the connection closed without a 408.
      expect([name, /HTTP\/1\.1 408 /.test(w.data)]).toEqual([name, true]);
      expect([name, w.closedAt - t0 < 1500]).toEqual([name, true]);
    }
  });

  test("empty lines between requests (RFC 9112 §2.2) leave a kept-alive connection idle: no 408 at headerTimeout", async () => {
    const s = startServer(
      (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [enc("ok")];
      },
      { headerTimeout: 300, keepAliveTimeout: 1200 },
    );
    servers.push(s);
    const w = watch(await open(s.port));
    w.socket.write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n\r\n");
    await Promise.race([w.closed, Bun.sleep(3000)]);
    w.socket.destroy();
    expect(w.data).toStartWith("HTTP/1.1 200 ");
    expect(w.data).not.toContain("408");
  });

  test("slow body (R-U-Dead-Yet): a body trickled forever is cut by requestTimeout; others served meanwhile", async () => {
    const { port, server, errors, stats } = setup({ bodyTimeout: 10_000, requestTimeout: 400 });
    const by = bystander(port, 1200);
    const s = await open(port);
    s.on("error", () => {});
    let data = "";
    s.on("data", (d) => (data += d.toString("latin1")));
    const closed = new Promise<void>((r) => s.on("close", () => r()));
    s.write(`POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => !s.destroyed && s.write("x"), 20);
    const t0 = Date.now();
    await Promise.race([closed, Bun.sleep(3000)]);
    clearInterval(trickle);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(data).toContain("503");
    expectBystanderUnaffected(await by);
    expect(stats.uploadsDone).toBe(0);
    expect(errors.join("")).toContain("requestTimeout");
    expect(await waitFor(() => server.connections === 0)).toBe(true);
  });

  test("slow readers of a 64 MiB response: server memory stays bounded by backpressure, all bytes arrive, others served", async () => {
    // The server runs in its own process so that its RSS is measured alone.
    const srv = await startServerProcess();
    try {
      // Warm the process first: a fresh server's first second of keep-alive
      // load (JIT, heap growth) adds 20 to 34 MiB of RSS by itself, which
      // made the paused readers' share (1 to 3 MiB) unreadable. Warm, the
      // bystander's garbage still moves RSS up and down between collections
      // (by up to 12 MiB on a loaded machine): the baseline is the highest
      // reading of the warm-up, not one taken at a low point of that swing.
      let warmPeak = rssOf(srv.pid);
      const warmSampler = setInterval(() => (warmPeak = Math.max(warmPeak, rssOf(srv.pid))), 20);
      expectBystanderUnaffected(await bystander(srv.port, 800));
      clearInterval(warmSampler);
      const rss0 = Math.max(warmPeak, rssOf(srv.pid));
      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(srv.pid))), 20);
      const by = bystander(srv.port, 1500);
      const READERS = 4;
      const TOTAL = 64 * 1024 * 1024; // each, chunked in 64 KiB chunks
      const socks = await Promise.all(Array.from({ length: READERS }, () => open(srv.port)));
      const received = socks.map(() => 0);
      const tails = socks.map(() => "");
      for (const [k, s] of socks.entries()) {
        s.pause();
        s.on("data", (d: Buffer) => {
          received[k]! += d.length;
          tails[k] = (tails[k] + d.toString("latin1", Math.max(0, d.length - 16))).slice(-16);
        });
        s.write("GET /stream?n=1024&size=65536 HTTP/1.1\r\nHost: h\r\n\r\n");
      }
      await Bun.sleep(600);
      const pausedGrowth = rssOf(srv.pid) - rss0;
      // Now read slowly: resume in short bursts.
      const done = (k: number) => tails[k]!.endsWith("\r\n0\r\n\r\n");
      const t0 = Date.now();
      while (!socks.every((_, k) => done(k)) && Date.now() - t0 < 20_000) {
        for (const s of socks) s.resume();
        await Bun.sleep(15);
        for (const s of socks) s.pause();
        await Bun.sleep(5);
      }
      for (const s of socks) s.destroy();
      clearInterval(sampler);
      expectBystanderUnaffected(await by);
      expect(socks.every((_, k) => done(k))).toBe(true);
      for (const r of received) expect(r).toBeGreaterThan(TOTAL);
      console.log(
        `slow readers: server RSS ${(rss0 / 1048576).toFixed(1)} MiB at start, +${(pausedGrowth / 1048576).toFixed(1)} MiB while nobody read, ` +
          `peak +${((peak - rss0) / 1048576).toFixed(1)} MiB for ${READERS}×64 MiB streamed`,
      );
      // Without backpressure the paused readers' 4×64 MiB would sit in the server.
      expect(pausedGrowth).toBeLessThan(16 * 1024 * 1024);
      expect(peak - rss0).toBeLessThan(64 * 1024 * 1024);
    } finally {
      srv.kill("SIGKILL");
    }
  }, 30_000);
});

describe("pipelining and half-close", () => {
  // A client that pipelines requests and then half-closes (FIN) gets every
  // answer, also when the first is still in progress at the FIN (node:http
  // answers all three too); a request left incomplete at the FIN is answered
  // 400 (node:http answers it so; nginx logs 400) and the connection closed.
  test("pipelined requests followed by FIN are all answered even when the first is still running", async () => {
    const hi = enc("hi");
    const s = startServer(async (e, sr) => {
      if (e.PATH_INFO === "/slow") await Bun.sleep(50);
      sr("200 OK", [["Content-Length", "2"]]);
      return [hi];
    });
    servers.push(s);
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    const r = await raw(s.port, get("/slow") + get("/2") + get("/3"), { end: true, timeoutMs: 2000 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 200, 200]);
    expect(r.closed).toBe(true);
  });
  test("pipelined requests followed by FIN: every one's tsgi.signal is aborted (ClientDisconnected), the queued ones' from their start as the running one's at the FIN, and all are still answered (before: only the running one's)", async () => {
    const { ClientDisconnected } = await import("../src/gateway/client-disconnected.ts");
    const seen: string[] = [];
    const s = startServer(async (e, sr) => {
      const signal = e["tsgi.signal"] as AbortSignal;
      const atStart = signal.aborted;
      await Bun.sleep(50);
      seen.push(`${e.PATH_INFO} start:${atStart} end:${signal.aborted} ${signal.reason instanceof ClientDisconnected ? "ClientDisconnected" : String(signal.reason)}`);
      sr("200 OK", [["Content-Length", "2"]]);
      return [enc("hi")];
    }, { requestSignal: true });
    servers.push(s);
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    const r = await raw(s.port, get("/1") + get("/2") + get("/3"), { end: true, timeoutMs: 3000 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 200, 200]);
    expect(seen).toEqual(["/1 start:false end:true ClientDisconnected", "/2 start:true end:true ClientDisconnected", "/3 start:true end:true ClientDisconnected"]);
  });
  test("a request pipelined before the FIN with its body incomplete: its read rejects at once with ClientDisconnected, as the running one's does at a FIN, and the app's answer goes out (before: the read waited bodyTimeout and the client got a 408)", async () => {
    const { ClientDisconnected } = await import("../src/gateway/client-disconnected.ts");
    const seen: string[] = [];
    const s = startServer(async (e, sr) => {
      await Bun.sleep(50);
      const t0 = performance.now();
      let outcome: string;
      try {
        outcome = `read ${(await e["tsgi.input"].read()).length}`;
      } catch (error) {
        outcome = error instanceof ClientDisconnected ? "ClientDisconnected" : String(error);
      }
      seen.push(`${e.PATH_INFO} ${outcome} ${performance.now() - t0 < 1000 ? "at once" : "late"}`);
      sr("200 OK", [["Content-Length", "2"]]);
      return [enc("hi")];
    }, { bodyTimeout: 2000 });
    servers.push(s);
    const post = "POST /2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc";
    const r = await raw(s.port, `GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\n${post}`, { end: true, timeoutMs: 4000 });
    expect(seen).toEqual(["/1 read 0 at once", "/2 ClientDisconnected at once"]);
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 200]);
    expect(r.closed).toBe(true);
  });
  test("a client that pipelines 300,000 requests without reading: the server stops parsing while its answers wait, then answers every one", async () => {
    let handled = 0;
    const s = startServer((_e, sr) => {
      handled++;
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("hello, pipelined world\n")];
    });
    servers.push(s);
    const N = 300_000;
    const sock = await open(s.port);
    try {
      sock.pause();
      sock.write("GET /x HTTP/1.1\r\nHost: a\r\n\r\n".repeat(N));
      await Bun.sleep(1500);
      // Only what the socket buffers hold got answered; before, all 300,000 responses piled up in memory.
      const whileNotReading = handled;
      expect(whileNotReading).toBeLessThan(N / 2);
      let count = 0;
      let tail = "";
      // Until every answer is in, or none came for 5 s (a server that stopped parsing for good), 50 s
      // at most: on a loaded machine the 300,000 answers take over 20 s (6 s on a quiet one).
      await new Promise<void>((resolve) => {
        const finish = () => (clearTimeout(cap), clearTimeout(stall), resolve());
        const cap = setTimeout(finish, 50_000);
        let stall = setTimeout(finish, 5000);
        sock.on("data", (d: Buffer) => {
          const text = tail + d.toString("latin1");
          count += text.split("HTTP/1.1 200 OK").length - 1;
          tail = text.slice(-14); // shorter than the marker: never counted twice
          if (count >= N) return finish();
          clearTimeout(stall);
          stall = setTimeout(finish, 5000);
        });
        sock.resume();
      });
      expect(count).toBe(N);
      expect(handled).toBe(N);
    } finally {
      sock.destroy();
    }
  }, 60_000);

  test("pipelined requests for 100 KB answers, not read: parsing stops within a read as soon as output is waiting", async () => {
    let handled = 0;
    const body = new Uint8Array(100_000).fill(0x61);
    const s = startServer((_e, sr) => (handled++, sr("200 OK", []), [body]));
    servers.push(s);
    const sock = await open(s.port);
    try {
      sock.pause();
      sock.write("GET /x HTTP/1.1\r\nHost: a\r\n\r\n".repeat(2000)); // one or two reads' worth
      await Bun.sleep(1000);
      // The socket buffers hold some dozens of answers; before, every request of the read was answered into memory (~1,600, 160 MB).
      expect(handled).toBeLessThan(200);
    } finally {
      sock.destroy();
    }
  }, 10_000);

  test("after FIN, complete pipelined requests are answered and an incomplete one gets 400 before the close", async () => {
    const s = startServer(async (e, sr) => {
      if (e.PATH_INFO === "/slow") await Bun.sleep(50);
      const body = await e["tsgi.input"].read();
      sr("200 OK", [["Content-Length", String(body.length + 1)]]);
      return [body, enc("!")];
    });
    servers.push(s);
    const post = (p: string, b: string) => `POST ${p} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
    const bytes = post("/slow", "one") + post("/2", "two") + "GET /3 HTTP/1.1\r\nHost: loc";
    const r = await raw(s.port, bytes, { end: true, timeoutMs: 2000 });
    const responses = parseResponses(r.data);
    expect(responses.map((x) => x.body.toString())).toEqual(["one!", "two!", "400 Bad Request: the client ended the connection in the middle of the request head\n"]);
    expect(responses.map((x) => x.status)).toEqual([200, 200, 400]);
    expect(r.closed).toBe(true);
  });

  /**
   * A request whose body is shorter than its framing says, then the client's FIN: the body can
   * never end. node:http answers 400 (cheroot to a head, gevent 500 to a body; nginx logs 400); a half-closed client
   * still reads it. The app's read rejects with a ClientDisconnected (a FIN is also how a client
   * that left closes) and its tsgi.signal aborts; when the app passes that on, the 400 goes out and
   * is in the access log. An app that catches it and answers is answered as it says.
   */
  test("an incomplete body (Content-Length or chunked) or head, then FIN: 400 to the half-closed client and in the access log (the app's own answer if it catches the disconnect); FIN between requests closes quietly", async () => {
    const seen: string[] = [];
    const s = startServer(
      async (e, sr) => {
        const signal = e["tsgi.signal"] as AbortSignal;
        try {
          await e["tsgi.input"].read();
          seen.push("read");
        } catch (err) {
          seen.push(`${(err as Error).name} ${(signal.reason as Error | undefined)?.name}`);
          if (e.PATH_INFO === "/caught") {
            sr("422 Unprocessable Content", [["Content-Length", "3"]]);
            return [enc("cut")];
          }
          throw err;
        }
        sr("200 OK", [["Content-Length", "2"]]);
        return [enc("ok")];
      },
      { requestSignal: true },
    );
    servers.push(s);
    const bodies = [
      "POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
      "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ];
    for (const bytes of bodies) {
      const r = await raw(s.port, bytes, { end: true, timeoutMs: 2000 });
      const [res] = parseResponses(r.data);
      expect([res?.status, res?.body.toString(), r.closed]).toEqual([400, "400 Bad Request: the client ended the connection before the request body was complete\n", true]);
    }
    expect(seen).toEqual(["ClientDisconnected ClientDisconnected", "ClientDisconnected ClientDisconnected"]);
    const caught = await raw(s.port, "POST /caught HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", { end: true, timeoutMs: 2000 });
    expect([parseResponses(caught.data)[0]?.status, caught.closed]).toEqual([422, true]);
    const head = await raw(s.port, "GET /partial HTTP/1.1\r\nHost: h\r\n", { end: true, timeoutMs: 2000 });
    expect([parseResponses(head.data)[0]?.status, head.closed]).toEqual([400, true]);
    // No byte of a request (a preconnect, a TCP check), or only the empty lines RFC 9112 §2.2 skips: a quiet close.
    for (const quiet of ["", "\r\n"]) {
      const r = await raw(s.port, quiet, { end: true, timeoutMs: 2000 });
      expect([r.data.length, r.closed]).toEqual([0, true]);
    }
    const lines = () => s.access.join("").split("\n").filter(Boolean);
    expect(await waitFor(() => lines().length === 4)).toBe(true);
    expect(lines().map((l) => l.replace(/^.*?\] /, "").replace(/ [\d.]+$/, ""))).toEqual([
      '"POST /cl HTTP/1.1" 400 86',
      '"POST /chunked HTTP/1.1" 400 86',
      '"POST /caught HTTP/1.1" 422 3',
      '"- (rejected: the client ended the connection in the middle of the request head)" 400 83',
    ]);
    expect(s.errors.join("")).toBe("");
  });
});

describe("half-closed and stalled clients (RFC 9112 §9.6)", () => {
  /** Connect with allowHalfOpen, send `bytes`, FIN, wait `pauseMs`, then read to the end. */
  function halfClose(port: number, bytes: string, pauseMs: number, timeoutMs = 5000) {
    return new Promise<{ data: Buffer; error: string | null; closedAfterMs: number }>((resolve) => {
      const started = Date.now();
      const chunks: Buffer[] = [];
      let error: string | null = null;
      const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => {
        s.write(bytes);
        s.end();
        s.pause();
        setTimeout(() => s.resume(), pauseMs);
      });
      const timer = setTimeout(() => s.destroy(), timeoutMs);
      s.on("data", (d: Buffer) => chunks.push(d));
      s.on("error", (e) => (error = (e as NodeJS.ErrnoException).code ?? e.message));
      s.on("close", () => {
        clearTimeout(timer);
        resolve({ data: Buffer.concat(chunks), error, closedAfterMs: Date.now() - started });
      });
    });
  }

  test("a client that half-closes after its request and reads late gets the whole response and a clean close, not a reset", async () => {
    const { port, server } = setup();
    const chunks = 64; // 4 MiB: more than the socket buffers hold
    const r = await halfClose(port, `GET /big?chunks=${chunks} HTTP/1.1\r\nHost: h\r\n\r\n`, 300);
    expect(r.error).toBeNull();
    const [res] = parseResponses(r.data);
    expect(res!.status).toBe(200);
    expect(res!.body.length).toBe(chunks * CHUNK.length);
    expect(res!.complete).toBe(true);
    expect(await waitFor(() => server.connections === 0)).toBe(true);
  });

  /**
   * An event stream (server-sent events) waiting between events, as server.md
   * "Long-lived responses" tells: a client that closes (FIN, as a browser
   * closing the tab) is indistinguishable from a half-close, so the stream is
   * let go at its next event, when the write meets the closed socket; a
   * reset is noticed at once, and `close()` comes within about 1 s although
   * the generator's `await` is still pending.
   */
  test("an event stream idle between events: a client's FIN is noticed at the next event, a reset at once (close() within about 1 s)", async () => {
    let closes = 0;
    const wake: Array<() => void> = [];
    const events: Application = (_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/event-stream"], ["Cache-Control", "no-cache"]]);
      let stopped = false;
      return {
        async *[Symbol.asyncIterator]() {
          yield enc(": hello\n\n");
          for (let n = 1; !stopped && n <= 100; n++) {
            await new Promise<void>((ok) => wake.push(ok));
            yield enc(`data: ${n}\n\n`);
          }
        },
        close() {
          stopped = true;
          closes++;
          for (const w of wake.splice(0)) w();
        },
      };
    };
    const s = startServer(events);
    servers.push(s);
    const stream = async (): Promise<Socket> => {
      const sock = await open(s.port);
      let got = "";
      sock.on("data", (d: Buffer) => (got += d.toString("latin1")));
      sock.on("error", () => {});
      sock.write("GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
      expect(await waitFor(() => got.includes(": hello"))).toBe(true);
      return sock;
    };
    // FIN: still streaming 1.5 s later; the next event finds the client gone.
    const a = await stream();
    a.destroy(); // close(): a FIN, then a reset for whatever the server sends after it
    await Bun.sleep(1500);
    expect([closes, s.server.connections]).toEqual([0, 1]);
    for (const w of wake.splice(0)) w();
    expect(await waitFor(() => closes === 1 && s.server.connections === 0, 3000)).toBe(true);
    // Reset: close() without another event, the generator still awaiting.
    const b = await stream();
    const t0 = Date.now();
    reset(b);
    expect(await waitFor(() => closes === 2, 3000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await waitFor(() => s.server.connections === 0)).toBe(true);
    expect(s.errors.join("")).toBe("");
  }, 15_000);

  test("an upload aborted by FIN mid-body: the connection is closed and released, so it cannot pile up to maxConnections", async () => {
    const { port, server, stats } = setup({ maxConnections: 3 });
    for (let i = 0; i < 3; i++) {
      const r = await halfClose(port, `POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n${"x".repeat(5000)}`, 0, 3000);
      expect(r.closedAfterMs).toBeLessThan(2000);
    }
    expect(await waitFor(() => server.connections === 0 && stats.uploadsFailed === 3)).toBe(true);
    const ok = await raw(port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", { timeoutMs: 2000 });
    expect(parseResponses(ok.data)[0]!.status).toBe(200);
  });

  test("the unread rest of an answered request's body is drained under bodyTimeout: a client that stops sending it is closed", async () => {
    const s = startServer((_e, sr) => {
      sr("200 OK", [["Content-Length", "2"]]);
      return [enc("ok")];
    }, { bodyTimeout: 300 });
    servers.push(s);
    const started = Date.now();
    const r = await raw(s.port, "POST /noread HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n0123456789", { timeoutMs: 3000 });
    expect(parseResponses(r.data)[0]!.status).toBe(200);
    expect(r.closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await waitFor(() => s.server.connections === 0)).toBe(true);
  });

  test("bad chunked framing in a body drained after the response: the connection is closed, no second (unrequested) response", async () => {
    const s = startServer((_e, sr) => {
      sr("200 OK", [["Content-Length", "2"]]);
      return [enc("ok")];
    });
    servers.push(s);
    const r = await raw(s.port, ["POST /noread HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "cdeXX\r\n0\r\n\r\n"], { timeoutMs: 3000, gapMs: 100 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200]);
    expect(r.data.toString()).not.toContain("400");
    expect(r.closed).toBe(true);
  });

  test("a body drained slowly but steadily is not cut: each chunk restarts the bodyTimeout clock", async () => {
    const s = startServer((_e, sr) => {
      sr("200 OK", [["Content-Length", "2"]]);
      return [enc("ok")];
    }, { bodyTimeout: 300 });
    servers.push(s);
    const sock = await open(s.port);
    const data: Buffer[] = [];
    sock.on("data", (d: Buffer) => data.push(d));
    sock.write("POST /noread HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n");
    for (let i = 0; i < 8; i++) {
      await Bun.sleep(100); // 800 ms in all, more than bodyTimeout, never 300 ms without a byte
      sock.write("x");
    }
    sock.write("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(await waitFor(() => parseResponses(Buffer.concat(data)).filter((x) => x.complete).length === 2, 2000)).toBe(true);
    sock.destroy();
  });
});

describe("a task the app left running reads tsgi.input after the response", () => {
  test("its read rejects, and it does not time the next request on the keep-alive connection (before: that request got a 408 after bodyTimeout)", async () => {
    const late: string[] = [];
    const s = startServer(async (environ, sr) => {
      if (environ.PATH_INFO === "/accept") {
        const input = environ["tsgi.input"];
        // Fire and forget: one read that is still waiting when the response ends, one made after it.
        const settle = (label: string, p: Promise<Uint8Array>) =>
          p.then(
            (b) => late.push(`${label}: ${b.length} bytes`),
            (e: Error) => late.push(`${label}: ${e.message}`),
          );
        void settle("pending", input.read(30));
        setTimeout(() => void settle("later", input.read(10)), 150);
        sr("202 Accepted", [["Content-Length", "3"]]);
        return [enc("ok\n")];
      }
      await Bun.sleep(600); // longer than bodyTimeout
      sr("200 OK", [["Content-Length", "5"]]);
      return [enc("slow\n")];
    }, { bodyTimeout: 300 });
    servers.push(s);
    const sock = await open(s.port);
    const data: Buffer[] = [];
    sock.on("data", (d: Buffer) => data.push(d));
    // 20 of 40 body bytes: the response goes out before the rest, which is then drained.
    sock.write("POST /accept HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n01234567890123456789");
    expect(await waitFor(() => data.length > 0, 2000)).toBe(true);
    sock.write("abcdefghijabcdefghijGET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(await waitFor(() => parseResponses(Buffer.concat(data)).filter((x) => x.complete).length === 2, 3000)).toBe(true);
    const [first, second] = parseResponses(Buffer.concat(data));
    expect([first!.status, second!.status, second!.body.toString(), second!.headers.connection ?? "keep-alive"]).toEqual([202, 200, "slow\n", "keep-alive"]);
    expect(await waitFor(() => late.length === 2, 2000)).toBe(true);
    const discarded = "tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends";
    expect(late.sort()).toEqual([`later: ${discarded}`, `pending: ${discarded}`]);
    expect(s.errors.join("")).toBe("");
    sock.destroy();
  });

  test("a body that had all arrived but was not read: a later read rejects instead of resolving empty as if the client sent none; a body read to its end stays at its end", async () => {
    const late: string[] = [];
    const s = startServer((environ, sr) => {
      const input = environ["tsgi.input"];
      const readAll = environ.PATH_INFO === "/read-first" ? input.read() : Promise.resolve(new Uint8Array(0));
      return readAll.then(() => {
        setTimeout(
          () =>
            void input.read(10).then(
              (b) => late.push(`${environ.PATH_INFO}: ${b.length} bytes`),
              (e: Error) => late.push(`${environ.PATH_INFO}: ${e.message}`),
            ),
          100,
        );
        sr("202 Accepted", [["Content-Length", "3"]]);
        return [enc("ok\n")];
      });
    });
    servers.push(s);
    const post = (path: string) => `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello`;
    const r = await raw(s.port, post("/unread") + post("/read-first"), { until: (d) => parseResponses(d).length === 2, timeoutMs: 3000 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([202, 202]);
    expect(await waitFor(() => late.length === 2, 2000)).toBe(true);
    expect(late.sort()).toEqual(["/read-first: 0 bytes", "/unread: tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends"]);
  });

  test("the rejection of a read after the response is made by that read, not by the server per discarded body: its stack names the app's reader (before: the server's response end), and later reads get the same error", async () => {
    const stacks: string[] = [];
    const errors: Error[] = [];
    async function lateUnreadBodyReader(input: { read(size?: number): Promise<Uint8Array> }) {
      for (let i = 0; i < 2; i++) {
        try {
          await input.read(10);
        } catch (error) {
          errors.push(error as Error);
          stacks.push(String((error as Error).stack));
        }
      }
    }
    const s = startServer((environ, sr) => {
      const input = environ["tsgi.input"];
      setTimeout(() => void lateUnreadBodyReader(input), 50);
      sr("202 Accepted", [["Content-Length", "3"]]);
      return [enc("ok\n")];
    });
    servers.push(s);
    const r = await raw(s.port, "POST /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", { until: (d) => parseResponses(d).length === 1, timeoutMs: 3000 });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([202]);
    expect(await waitFor(() => errors.length === 2, 2000)).toBe(true);
    expect(errors[0]!.message).toContain("the rest of the request body was discarded");
    expect(errors[1]).toBe(errors[0]!);
    expect(stacks[0]).toContain("lateUnreadBodyReader");
  });
  test("on a connection that closes after the response, a later read rejects too, and the lingering close still lets go of the connection (before: it took unread bytes or re-armed the body clock, and the connection stayed open)", async () => {
    const late: string[] = [];
    const s = startServer((environ, sr) => {
      const input = environ["tsgi.input"];
      // The first read takes unread bytes that had arrived, the second needs bytes still to come.
      setTimeout(
        () =>
          void input.read(10).then(
            (b) => late.push(`first: ${b.length} bytes`),
            (e: Error) => late.push(`first: ${e.message}`),
          ).then(() => input.read(30)).then(
            (b) => late.push(`second: ${b.length} bytes`),
            (e: Error) => late.push(`second: ${e.message}`),
          ),
        150,
      );
      sr("202 Accepted", [["Content-Length", "3"]]);
      return [enc("ok\n")];
    }, { bodyTimeout: 300 });
    servers.push(s);
    // Half-open: the client neither sends the rest nor closes, so only the server's linger (2 s) ends the connection.
    const sock = connect({ port: s.port, host: "127.0.0.1", allowHalfOpen: true });
    await new Promise((resolve) => sock.once("connect", resolve));
    sock.on("data", () => {});
    sock.on("error", () => {});
    sock.write("POST /accept HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 40\r\n\r\n01234567890123456789");
    expect(await waitFor(() => late.length === 2, 2000)).toBe(true);
    const discarded = "tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends";
    expect(late).toEqual([`first: ${discarded}`, `second: ${discarded}`]);
    expect(await waitFor(() => s.server.connections === 0, 5000)).toBe(true);
    expect(s.errors.join("")).toBe("");
    sock.destroy();
  });
});

describe("once the server decides to close, it reads no further request (RFC 9112 §9.6)", () => {
  const BIG = new Uint8Array(8 * 1024 * 1024).fill(0x61);
  const seen: string[] = [];
  const app: Application = (e, sr) => {
    seen.push(e.PATH_INFO);
    if (e.PATH_INFO === "/big") return (sr("200 OK", []), [BIG]);
    if (e.PATH_INFO === "/bigclose") return (sr("200 OK", [["Connection", "close"]]), [BIG]);
    return (sr("200 OK", []), [enc(`hello ${e.PATH_INFO}`)]);
  };

  /** Resume a paused socket and read until the server closes it (10 s at most). */
  function readUntilClose(sock: Socket): Promise<string> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const done = () => (clearTimeout(timer), resolve(Buffer.concat(chunks).toString("latin1")));
      const timer = setTimeout(() => (sock.destroy(), done()), 10_000);
      sock.on("data", (d: Buffer) => chunks.push(d));
      sock.on("error", () => {});
      sock.on("close", done);
      sock.resume();
    });
  }

  /** Resume a paused socket and read `n` bytes (10 s at most); returns how many came. */
  function takeBytes(sock: Socket, n: number): Promise<number> {
    return new Promise((resolve) => {
      let received = 0;
      const done = () => (clearTimeout(timer), sock.removeAllListeners("data"), resolve(received));
      const timer = setTimeout(done, 10_000);
      sock.on("data", (d: Buffer) => {
        received += d.length;
        if (received >= n) done();
      });
      sock.resume();
    });
  }

  /** Send GET `path` on the same connection and read until its hello answer (3 s at most). */
  function askAgain(sock: Socket, path: string): Promise<string> {
    return new Promise((resolve) => {
      let text = "";
      const timer = setTimeout(() => resolve(text), 3000);
      sock.on("data", (d: Buffer) => {
        text += d.toString("latin1");
        if (text.includes(`hello ${path}`)) (clearTimeout(timer), resolve(text));
      });
      sock.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
    });
  }

  /** Send `first`, then `later` pieces while not reading; then read everything. */
  async function exchange(port: number, first: string, later: string[]): Promise<string> {
    const sock = await open(port);
    sock.pause();
    sock.write(first);
    await Bun.sleep(300);
    for (const piece of later) {
      sock.write(piece);
      await Bun.sleep(10);
    }
    await Bun.sleep(300);
    return readUntilClose(sock);
  }

  test("after its own Connection: close response (still being taken), a pipelined request is never run", async () => {
    seen.length = 0;
    const s = startServer(app);
    servers.push(s);
    const data = await exchange(s.port, "GET /bigclose HTTP/1.1\r\nHost: a\r\n\r\n", ["GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"]);
    expect(seen).toEqual(["/bigclose"]);
    expect(data.split("HTTP/1.1 ").length - 1).toBe(1);
    expect(data.length).toBeGreaterThan(BIG.length);
  }, 20_000);

  test("a malformed request behind unsent output is answered 400 once; the bytes after it are not read, and no 408 follows", async () => {
    seen.length = 0;
    const s = startServer(app, { headerTimeout: 500 });
    servers.push(s);
    const data = await exchange(s.port, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", ["GARBAGE\r\n\r\n", ...Array.from({ length: 50 }, () => "x")]);
    expect(seen).toEqual(["/big"]);
    const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "400"]);
    await Bun.sleep(50);
    expect(s.access.join("").match(/" 400 /g)?.length ?? 0).toBeLessThanOrEqual(1);
  }, 20_000);

  test("a keep-alive download slower than keepAliveTimeout is not closed under the client: the idle clock starts when it is all out", async () => {
    seen.length = 0;
    // keepAliveTimeout is the client's time, once the server has handed the last bytes to the
    // kernel, to read the several MiB the socket buffers still hold and send its next request:
    // 300 ms was not always enough on a loaded machine (8 of 15 runs failed), 1000 ms is.
    const s = startServer(app, { keepAliveTimeout: 1000 });
    servers.push(s);
    const sock = await open(s.port);
    try {
      sock.pause();
      sock.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
      await Bun.sleep(1500); // longer than keepAliveTimeout, the body still mostly unsent
      expect(await takeBytes(sock, BIG.length)).toBeGreaterThanOrEqual(BIG.length);
      // The same connection takes the next request.
      expect(await askAgain(sock, "/next")).toContain("hello /next");
    } finally {
      sock.destroy();
    }
  }, 20_000);

  test("requests held behind unsent output, then the client's FIN: every one is still answered", async () => {
    seen.length = 0;
    const s = startServer(app);
    servers.push(s);
    const sock = await open(s.port);
    try {
      sock.pause();
      sock.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
      await Bun.sleep(300);
      sock.write("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
      await Bun.sleep(100);
      sock.end(); // FIN while /a and /b wait behind the unsent 8 MiB
      await Bun.sleep(300);
      const data = await readUntilClose(sock);
      expect(seen).toEqual(["/big", "/a", "/b"]);
      expect(data).toContain("hello /a");
      expect(data).toContain("hello /b");
    } finally {
      sock.destroy();
    }
  }, 20_000);

  test("close({ idleGrace }) during a keep-alive download: the grace starts once it is out, so the next request is answered", async () => {
    seen.length = 0;
    const s = startServer(app);
    const sock = await open(s.port);
    try {
      sock.pause();
      sock.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
      await Bun.sleep(200);
      const closed = s.server.close({ idleGrace: 500, timeout: 20_000 });
      await Bun.sleep(1000); // longer than the grace, the download not taken yet
      expect(await takeBytes(sock, BIG.length)).toBeGreaterThanOrEqual(BIG.length);
      const next = await askAgain(sock, "/again");
      expect(next).toContain("hello /again");
      expect(next).toContain("Connection: close");
      await closed;
    } finally {
      sock.destroy();
    }
  }, 20_000);

  /** A half-open client (it never sends FIN) that sent `request`, once the server's answer and FIN came: the server lingers. */
  async function lingering(port: number, request: string) {
    const sock = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    sock.on("error", () => {});
    let fin = false;
    let data = "";
    sock.on("end", () => (fin = true));
    sock.on("data", (d: Buffer) => (data += d.toString("latin1")));
    sock.write(request);
    const until = Date.now() + 3000;
    while (!fin && Date.now() < until) await Bun.sleep(20);
    expect(fin).toBe(true);
    return { sock, data: () => data };
  }

  test("close() does not wait for a connection lingering after its last response whose client sent all it announced", async () => {
    const s = startServer(app);
    const { sock, data } = await lingering(s.port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    try {
      expect(data()).toStartWith("HTTP/1.1 200 ");
      expect(s.server.connections).toBe(1); // lingering
      const started = Date.now();
      await s.server.close({ timeout: 5000 });
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      sock.destroy();
    }
  }, 20_000);

  test("close() lets a connection lingering after its last response linger on while its client may still send (the body it announced), 2 s at most, not the shutdown's timeout (before: closed at once)", async () => {
    const s = startServer(app, { maxRequestBodySize: 10 });
    const { sock, data } = await lingering(s.port, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
    try {
      expect(data()).toStartWith("HTTP/1.1 413 "); // the 100 bytes may still come: closed over them, the connection would be reset
      const started = Date.now();
      await s.server.close({ timeout: 10_000 });
      // 2 s without a byte (on time since the close's linger cap asks for its own sweep).
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      sock.destroy();
    }
  }, 20_000);

  test("clients still dripping the body of an upload answered early (the linger waits bodyTimeout between its bytes, 30 s in all) hold close() 2 s at most, not its timeout", async () => {
    const s = startServer(app);
    // 100 MB announced, more than is drained: the answer says Connection: close and the connection
    // lingers, waiting bodyTimeout (60 s) between bytes. Each client then sends a byte every 300 ms.
    const clients = await Promise.all(Array.from({ length: 5 }, () => lingering(s.port, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nxxxx")));
    const drip = setInterval(() => {
      for (const c of clients) if (!c.sock.destroyed) c.sock.write("x");
    }, 300);
    try {
      for (const c of clients) expect(c.data()).toStartWith("HTTP/1.1 200 ");
      await Bun.sleep(1000);
      expect(s.server.connections).toBe(5); // lingering on while the bytes come
      const started = Date.now();
      await s.server.close({ timeout: 10_000 });
      // Cut 2 s into the close (on time, not at the timeouts' sweep's next tick); the bytes kept coming.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      clearInterval(drip);
      for (const c of clients) c.sock.destroy();
    }
  }, 20_000);

  test("a client that drips the unread body of an upload answered early, a byte well within each bodyTimeout, holds its connection 30 s at most in all (nginx lingering_time), drain and lingering close together (before: for as long as it dripped)", async () => {
    // bodyTimeout 1000: the drain waits 1 s between bytes; the client sends one every 400 ms of the
    // 100 kB it announced (under the 1 MiB drained, so the answer keeps the connection alive).
    const s = startServer(app, { bodyTimeout: 1000 });
    const sock = connect({ host: "127.0.0.1", port: s.port, allowHalfOpen: true });
    sock.on("error", () => {});
    let data = "";
    let answeredAt = 0;
    let closedAt = 0;
    sock.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      if (!answeredAt && data.includes("\r\n\r\n")) answeredAt = performance.now();
    });
    sock.on("end", () => (closedAt ||= performance.now()));
    sock.on("close", () => (closedAt ||= performance.now()));
    sock.write("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nxxxx");
    const drip = setInterval(() => {
      if (!sock.destroyed && !closedAt) sock.write("x");
    }, 400);
    try {
      const until = performance.now() + 36_000;
      while (!closedAt && performance.now() < until) await Bun.sleep(100);
      expect(data).toStartWith("HTTP/1.1 200 ");
      expect(data).not.toContain("Connection: close"); // drained, not closed after the answer
      expect(closedAt).toBeGreaterThan(0);
      const held = closedAt - answeredAt;
      expect(held).toBeGreaterThanOrEqual(29_000); // not cut while the bytes kept coming in time
      expect(held).toBeLessThan(32_500);
      for (let i = 0; i < 50 && s.server.connections > 0; i++) await Bun.sleep(20);
      expect(s.server.connections).toBe(0);
    } finally {
      clearInterval(drip);
      sock.destroy();
    }
  }, 45_000);

  test("the 2 s a close gives a connection lingering on while its client drips bytes ends on time, not at the timeouts sweeper's next tick (before: up to a tick, 1 s, later)", async () => {
    // keepAliveTimeout 4000: the sweeper ticks every 1000 ms from listen(). The close starts 150 ms
    // past a tick, so its 2 s end 150 ms past one: left to the sweeper, they were seen 850 ms late.
    const s = startServer(app, { keepAliveTimeout: 4000 });
    const listenedAt = performance.now();
    const clients = await Promise.all(Array.from({ length: 3 }, () => lingering(s.port, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nxxxx")));
    const drip = setInterval(() => {
      for (const c of clients) if (!c.sock.destroyed) c.sock.write("x");
    }, 100);
    try {
      for (const c of clients) expect(c.data()).toStartWith("HTTP/1.1 200 ");
      await Bun.sleep(1000 + 150 - ((performance.now() - listenedAt) % 1000));
      expect(s.server.connections).toBe(3); // lingering on while the bytes come
      const started = performance.now();
      await s.server.close({ timeout: 10_000 });
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(1990);
      expect(took).toBeLessThan(2400);
    } finally {
      clearInterval(drip);
      for (const c of clients) c.sock.destroy();
    }
  }, 20_000);

  test("a connection the close itself ends, whose client is still sending an unread upload, lingers 2 s from its response's end on time, not to the sweeper's next tick (before: up to a tick, 1 s, later)", async () => {
    // The request comes 850 ms past a sweeper tick (keepAliveTimeout 4000: ticks 1000 ms apart), the close 50 ms later,
    // the answer 150 ms past the next tick: its 2 s end 150 ms past a tick, which the sweeper alone saw 850 ms late.
    const slow: Application = async (_e, sr) => {
      await Bun.sleep(300);
      sr("200 OK", [["Content-Length", "2"]]);
      return [new TextEncoder().encode("ok")];
    };
    const s = startServer(slow, { keepAliveTimeout: 4000 });
    const listenedAt = performance.now();
    const sock = connect({ host: "127.0.0.1", port: s.port, allowHalfOpen: true });
    sock.on("error", () => {});
    let data = "";
    let answeredAt = 0;
    sock.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      if (!answeredAt && data.includes("ok")) answeredAt = performance.now();
    });
    await new Promise((r) => sock.on("connect", r));
    await Bun.sleep(1000 + 850 - ((performance.now() - listenedAt) % 1000));
    // 100 MB announced (more than is drained): the response closes the connection, the upload is still coming.
    sock.write("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nxxxx");
    await Bun.sleep(50);
    expect(answeredAt).toBe(0); // the close begins while the app runs
    const drip = setInterval(() => {
      if (!sock.destroyed) sock.write("x");
    }, 100);
    try {
      await s.server.close({ timeout: 10_000 });
      const closedAt = performance.now();
      expect(data).toStartWith("HTTP/1.1 200 ");
      const lingered = closedAt - answeredAt;
      expect(lingered).toBeGreaterThanOrEqual(1900);
      expect(lingered).toBeLessThan(2350);
    } finally {
      clearInterval(drip);
      sock.destroy();
    }
  }, 20_000);
});

describe("more connections than the open-file limit allows", () => {
  test("under ulimit -n 256 the server lowers maxConnections to fit, says so, and answers the next client 503 at once instead of failing accept() in a loop", async () => {
    const fixture = new URL("./fixtures-proc/serve.ts", import.meta.url).pathname;
    const child = Bun.spawn(["bash", "-c", `ulimit -n 256 && exec "${process.execPath}" "${fixture}"`], {
      env: { ...process.env, PORT: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const held: Socket[] = [];
    try {
      const reader = child.stdout.getReader();
      let out = "";
      const deadline = Date.now() + 15_000;
      while (!/listening (\d+)/.test(out) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      const port = Number(/listening (\d+)/.exec(out)?.[1]);
      expect(port).toBeGreaterThan(0);
      // More idle connections than descriptors the server has to spare.
      for (let i = 0; i < 240; i++) {
        const s = connect({ host: "127.0.0.1", port });
        s.on("error", () => {});
        held.push(s);
      }
      await waitFor(() => held.every((s) => !s.connecting), 5000);
      const started = Date.now();
      const r = await raw(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", { timeoutMs: 3000 });
      expect(parseResponses(r.data)[0]?.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);
      for (const s of held) s.destroy();
      child.kill("SIGTERM");
      await child.exited;
      const errors = await new Response(child.stderr).text();
      expect(errors).toContain("Warning: maxConnections (10000) is more than the open-file limit (256) can hold: serving at most 224 connections");
    } finally {
      for (const s of held) s.destroy();
      child.kill("SIGKILL");
    }
  }, 30_000);
});
