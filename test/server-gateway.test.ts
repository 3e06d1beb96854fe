/**
 * The gateway's contract at its edges, on real sockets: an unread body
 * larger than the input buffer, bodiless responses with streaming bodies,
 * the file fast path only for the wrapper itself, minimumChunkSize with
 * write() and excInfo, posthooks after requestTimeout and after a client
 * leaves, and bodies whose iterator cannot even be created.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CUT_REQUEST_CLEANUP_MS } from "../src/server/index.ts";
import type { Application, Body, ErrorStream, PostHook } from "../src/spec.ts";
import { RequestHandler } from "../src/server/handler.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";
import { enc, firstArrival, get, heapGrowthFromLongFieldNames, heapGrowthFromShortFieldNames, parseResponses, python3, raw, rawOne, serverPool, startServer } from "./helpers.ts";

const start = serverPool();
if (!python3) console.warn("SKIP: python3 is not installed; the write() timing test is skipped");
const dir = mkdtempSync(join(tmpdir(), "tsgi-gateway-"));
const FILE = join(dir, "hello.txt");
writeFileSync(FILE, "hello file, twenty-six b\n!");

describe("request bodies the app does not read", () => {
  test("an async app answering without reading 600 KB: the next request on the connection is answered at once", async () => {
    const { port } = start(async (environ, sr) => {
      await Bun.sleep(100);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`unread ${environ.PATH_INFO}`)];
    });
    // In pieces, so the server pauses reading at the input buffer's high-water mark mid-body.
    const piece = "x".repeat(300_000);
    const started = Date.now();
    const r = await raw(port, [`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${piece.length * 2}\r\n\r\n${piece}`, piece, get("/next")], {
      until: (d) => d.includes("unread /next"),
      timeoutMs: 10_000,
      gapMs: 300,
    });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.body.toString())).toEqual(["unread /big", "unread /next"]);
    // Before: the socket stayed paused at the input buffer's high-water mark until bodyTimeout (60 s).
    expect(Date.now() - started).toBeLessThan(4000);
  }, 15_000);
});

describe("small request bodies", () => {
  test("a small body read whole holds its own bytes, not a 16 KiB buffer (a JSON POST: the app may keep what it read)", async () => {
    const sizes: number[] = [];
    const { port } = start(async (environ, sr) => {
      const body = await environ["tsgi.input"].read();
      sizes.push(body.buffer.byteLength);
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [body];
    });
    const json = JSON.stringify({ id: 12345, name: "a small body" });
    const post = `POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`;
    // Head and body in one read, and the body in a read of its own.
    const r = await rawOne(port, [post, post.slice(0, post.length - json.length), json], { until: (d) => d.toString().split(json).length === 3, gapMs: 50 });
    expect(r.responses.map((x) => x.body.toString())).toEqual([json, json]);
    // Before: each body was a view of a 16 KiB gather buffer allocated for it.
    expect(sizes).toEqual([json.length, json.length]);
  });
});

describe("tsgi.input's bytes are over ArrayBuffers (spec.md \"tsgi.input\"; the type says Uint8Array<ArrayBuffer>)", () => {
  test("a pin: every kind of read of a chunked body in small and large pieces, and of a Content-Length body in one packet, goes to crypto.subtle.digest as it is", async () => {
    const seen: string[] = [];
    const { port } = start(async (environ, sr) => {
      const input = environ["tsgi.input"];
      const parts = [await input.read(3), await input.read1!(5), await input.readline(), ...(await input.readlines(1))];
      for await (const line of input) parts.push(line);
      parts.push(await input.read());
      for (const p of parts) {
        seen.push(Object.prototype.toString.call(p.buffer).slice(8, -1));
        await crypto.subtle.digest("SHA-256", p);
      }
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(String(parts.reduce((n, p) => n + p.length, 0)))];
    });
    const big = `${"x".repeat(40_000)}\n`;
    const chunked = ["ab\ncd", "ef\n", big, "gh\nij\n", "tail"].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`);
    const head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    const r = await rawOne(port, [head, ...chunked, "0\r\n\r\n"], { gapMs: 20 });
    expect(r.response?.status).toBe(200);
    expect(r.response?.body.toString()).toBe(String(2 + 3 + 3 + big.length + 6 + 4));
    const one = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length + 4}\r\nConnection: close\r\n\r\nab\n${big}c`;
    const r2 = await rawOne(port, one);
    expect(r2.response?.body.toString()).toBe(String(big.length + 4));
    expect(seen.length).toBeGreaterThan(6);
    expect(new Set(seen)).toEqual(new Set(["ArrayBuffer"]));
  });
});

describe("overlapping reads of tsgi.input (spec.md: reads MUST NOT overlap)", () => {
  test("a read started while another waits for bytes rejects at once, saying so; the first read goes on and gets its bytes", async () => {
    const dec = new TextDecoder();
    const { port, errors } = start(async (environ, sr) => {
      const input = environ["tsgi.input"];
      const first = input.read(5);
      const second = input.read(1).then(
        (b) => `resolved ${b.length}`,
        (e: Error) => e.message,
      );
      const [a, b] = await Promise.all([first, second]);
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [enc(JSON.stringify([dec.decode(a), b]))];
    });
    const head = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
    // The first read is waiting when the second starts: with bytes buffered that the second could
    // take (it took "a" from under the first), and with none (both waited, and one waited for ever).
    for (const pieces of [[head + "ab", "cde"], [head, "abcde"]]) {
      const started = Date.now();
      const r = await rawOne(port, pieces, { gapMs: 150, timeoutMs: 3000, until: (d) => d.includes("]") });
      expect([pieces[0], r.responses.length]).toEqual([pieces[0], 1]);
      const [a, b] = JSON.parse(r.responses[0]!.body.toString()) as [string, string];
      expect(a).toBe("abcde");
      expect(b).toContain("reads must not overlap: await each read before starting the next");
      expect(Date.now() - started).toBeLessThan(2000);
    }
    expect(errors.join("")).toBe("");
  });
});

describe("HEAD, 204 and 304 with streaming bodies", () => {
  test("HEAD of an endless event stream: the header section at once, the generator stopped, the next request served", async () => {
    let finalized = false;
    const { port } = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/event-stream"]]);
      if (environ.REQUEST_METHOD === "GET") return [enc("get")];
      return (async function* () {
        try {
          for (let i = 0; i < 1000; i++) {
            yield enc(`data: ${i}\n\n`);
            await Bun.sleep(50);
          }
        } finally {
          finalized = true;
        }
      })();
    });
    const started = Date.now();
    const r = await raw(port, `HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n${get("/after")}`, { until: (d) => d.includes("get"), timeoutMs: 5000 });
    const rs = parseResponses(r.data, ["HEAD", "GET"]);
    expect(rs.map((x) => x.status)).toEqual([200, 200]);
    expect(rs[0]!.body.length).toBe(0);
    expect(rs[1]!.body.toString()).toBe("get");
    expect(Date.now() - started).toBeLessThan(1500);
    expect(finalized).toBe(true);
  });

  test("a 204 from a slow generator does not wait for it", async () => {
    const app: Application = (_e, sr) => {
      sr("204 No Content", []);
      return (async function* () {
        for (let i = 0; i < 100; i++) {
          yield enc("ignored");
          await Bun.sleep(100);
        }
      })();
    };
    const s = start(app);
    const started = Date.now();
    const r = await raw(s.port, get("/"), { until: (d) => d.includes("\r\n\r\n"), timeoutMs: 5000 });
    expect(r.data.toString()).toStartWith("HTTP/1.1 204 No Content\r\n");
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("Content-Length", () => {
  test("once the declared length is sent the body is stopped, not iterated to its end", async () => {
    let pulled = 0;
    let finalized = false;
    const s = start((_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "10"]]);
      return (function* () {
        try {
          for (let i = 0; i < 2000; i++) {
            pulled++;
            yield enc("0123456789");
          }
        } finally {
          finalized = true;
        }
      })();
    });
    const r = await raw(s.port, `${get("/a")}${get("/b")}`, { until: (d) => d.toString().split("0123456789").length === 3 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["0123456789", "0123456789"]);
    expect(pulled).toBe(2);
    expect(finalized).toBe(true);
  });
});

describe("the file fast path is for the wrapper itself", () => {
  const upper = (body: Body): Body => {
    const inner = body as AsyncIterable<Uint8Array> & { close?: () => void };
    return {
      ...(body as object),
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner) yield enc(new TextDecoder().decode(chunk).toUpperCase());
      },
      close: () => inner.close?.(),
    } as Body;
  };

  test("a middleware that copies the wrapper's fields and transforms the bytes is not bypassed", async () => {
    const { url } = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      const wrapped = environ["tsgi.file_wrapper"]!(Bun.file(FILE));
      return environ.PATH_INFO === "/upper" ? upper(wrapped) : (Object.create(wrapped as object) as Body);
    });
    expect(await (await fetch(`${url}/upper`)).text()).toBe("HELLO FILE, TWENTY-SIX B\n!");
  });

  test("a Content-Length shorter than the file: that many bytes, no error, the connection kept", async () => {
    const s = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "10"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(FILE));
    });
    const r = await raw(s.port, `${get("/a")}${get("/b")}`, { until: (d) => d.toString().split("hello file").length === 3 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.body.toString())).toEqual(["hello file", "hello file"]);
    expect(s.errors.join("")).toBe("");
  });

  test("a file-like object's wrapper with a shorter Content-Length: that many bytes, no error, the file read no further, the connection kept", async () => {
    // spec.md "Optional platform-specific file handling": a Content-Length shorter than the file sends that many bytes of it (PEP 3333).
    let reads = 0;
    let closes = 0;
    const fileLike = () => {
      const data = enc("0123456789ABCDEFGHIJ");
      let pos = 0;
      return {
        read(size: number) {
          reads++;
          return data.subarray(pos, (pos += size));
        },
        close: () => void closes++,
      };
    };
    const app: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "7"]]);
      return environ["tsgi.file_wrapper"]!(fileLike(), 4);
    };
    const s = start(app);
    const r = await raw(s.port, `${get("/a")}${get("/b")}`, { until: (d) => d.toString().split("0123456").length === 3 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["0123456", "0123456"]);
    expect(r.closed).toBe(false);
    expect(reads).toBe(4); // two blocks of 4 for each response
    expect(closes).toBe(2);
    expect(s.errors.join("")).toBe("");

    // The same under toFetchHandler, which runs the same gateway.
    const { toFetchHandler } = await import("../src/fetch/index.ts");
    const { fileWrapper } = await import("../src/gateway/file-wrapper.ts");
    const logged: string[] = [];
    const handler = toFetchHandler(app, { fileWrapper, errorLog: (t: string) => void logged.push(t) });
    const bridged = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
    try {
      expect(await (await fetch(`http://127.0.0.1:${bridged.port}/`)).text()).toBe("0123456");
      expect(logged.join("")).toBe("");
    } finally {
      bridged.stop(true);
    }

    // A body that is not a file wrapper going past its Content-Length is still an error.
    const plain = start((_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "7"]]);
      return (function* () {
        yield enc("0123");
        yield enc("4567");
      })();
    });
    expect(await (await fetch(`${plain.url}/`)).text()).toBe("0123456");
    expect(plain.errors.join("")).toContain("more bytes than its Content-Length");
  });

  test("a missing file is a 500 with a logged error, not an empty 200", async () => {
    const s = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(join(dir, "nope.bin")));
    });
    const res = await fetch(`${s.url}/`);
    expect(res.status).toBe(500);
    await res.text();
    expect(s.errors.join("")).toContain("tsgi.file_wrapper:");
    expect(s.errors.join("")).toContain("nope.bin does not exist");
  });
});

describe("a file wrapper of a pipe (Bun.file() of a FIFO: no size)", () => {
  /** A FIFO with one writer that writes `text` and closes, started now (the read end opens when the server reads). */
  function fifoWith(name: string, text: string): string {
    const path = join(dir, name);
    Bun.spawnSync(["mkfifo", path]);
    Bun.spawn(["sh", "-c", `printf '%s' "$1" > "$2"`, "sh", text, path], { stdout: "ignore", stderr: "ignore" });
    return path;
  }

  test("is streamed without a length (before: Content-Length: Infinity, which clients refuse), or cut at the app's Content-Length; the same through fromFetchHandler", async () => {
    const s = start((environ, sr) => {
      const path = String(environ.QUERY_STRING);
      sr("200 OK", environ.PATH_INFO === "/four" ? [["Content-Length", "4"]] : []);
      return environ["tsgi.file_wrapper"]!(Bun.file(path));
    });
    const ask = (port: number, target: string) => raw(port, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 });
    const [whole] = parseResponses((await ask(s.port, `/whole?${fifoWith("a.fifo", "from a pipe\n")}`)).data);
    expect([whole!.status, whole!.headers["content-length"], whole!.headers["transfer-encoding"], whole!.body.toString()]).toEqual<unknown[]>([200, undefined, "chunked", "from a pipe\n"]);
    const [four] = parseResponses((await ask(s.port, `/four?${fifoWith("b.fifo", "from a pipe\n")}`)).data);
    expect([four!.status, four!.headers["content-length"], four!.body.toString()]).toEqual([200, "4", "from"]);
    const f = start(fromFetchHandler((req) => new Response(Bun.file(new URL(req.url).search.slice(1)))));
    const [bridged] = parseResponses((await ask(f.port, `/?${fifoWith("c.fifo", "bridged\n")}`)).data);
    expect([bridged!.status, bridged!.headers["content-length"], bridged!.body.toString()]).toEqual<unknown[]>([200, undefined, "bridged\n"]);
    expect(s.errors.join("") + f.errors.join("")).toBe("");
  });
});

describe("minimumChunkSize", () => {
  // The client is Python in its own process: Node's and Bun's socket clients
  // were seen (tcpdump) to report a segment that arrived on time only when the
  // next one came, about one run in five, which made this test flaky.
  test.skipIf(!python3)("write() sends at once what was collected and its own bytes", async () => {
    const s = start(
      async (_e, sr) => {
        const write = sr("200 OK", [["Content-Type", "text/plain"]]);
        await write(enc("written;"));
        await Bun.sleep(800);
        return [enc("end")];
      },
      { minimumChunkSize: 4096 },
    );
    const { firstMs, data } = await firstArrival(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "written;", "end\r\n0\r\n\r\n");
    expect(data).toEndWith("end\r\n0\r\n\r\n");
    expect(firstMs).toBeGreaterThanOrEqual(0);
    expect(firstMs).toBeLessThan(500);
  });

  test("a response replaced with excInfo drops what the first one had collected", async () => {
    const s = start(
      (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return (async function* () {
          yield enc("SECRET-PARTIAL;");
          try {
            throw new Error("failed halfway");
          } catch (error) {
            sr("500 Err", [["Content-Type", "text/plain"]], error);
            yield enc("error page");
          }
        })();
      },
      { minimumChunkSize: 1000 },
    );
    const res = await fetch(`${s.url}/`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("error page");
  });
});

describe("posthooks", () => {
  const hookedApp = (events: string[], body: () => Body | Promise<Body>): Application => {
    return async (environ) => {
      (environ["tsgi.posthooks"] as PostHook[]).push([() => void events.push("posthook")]);
      return body();
    };
  };

  test("after requestTimeout: they run once, for an app still awaiting and for a body stuck in next()", async () => {
    const events: string[] = [];
    const s = start(
      hookedApp(events, async () => {
        await new Promise(() => {}); // never answers
        return [];
      }),
      { requestTimeout: 300 },
    );
    const res = await fetch(`${s.url}/hang`);
    expect(res.status).toBe(503);
    await res.text();
    for (let i = 0; i < 40 && events.length === 0; i++) await Bun.sleep(50);
    expect(events).toEqual(["posthook"]);

    const events2: string[] = [];
    const s2 = start(
      (environ, sr) => {
        (environ["tsgi.posthooks"] as PostHook[]).push([() => void events2.push("posthook")]);
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return {
          [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
          close: () => void events2.push("close"),
        } as Body;
      },
      { requestTimeout: 300 },
    );
    const res2 = await fetch(`${s2.url}/body-hang`);
    expect(res2.status).toBe(503);
    await res2.text();
    for (let i = 0; i < 60 && !events2.includes("posthook"); i++) await Bun.sleep(50);
    expect(events2).toEqual(["close", "posthook"]);
  });

  test("after the client leaves mid-response: after an async close() has finished", async () => {
    const events: string[] = [];
    const s = start((environ, sr) => {
      (environ["tsgi.posthooks"] as PostHook[]).push([() => void events.push("posthook")]);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      let i = 0;
      return {
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            await Bun.sleep(20);
            return { done: false, value: enc(`tick ${i++}\n`) };
          },
        }),
        close: async () => {
          events.push("close begin");
          await Bun.sleep(100);
          events.push("close end");
        },
      } as Body;
    });
    await raw(s.port, get("/stream"), { until: (d) => d.includes("tick 2") });
    for (let i = 0; i < 60 && !events.includes("posthook"); i++) await Bun.sleep(50);
    expect(events).toEqual(["close begin", "close end", "posthook"]);
  });
});

/** Send `request`, and reset the connection once `marker` arrived (resolves then). */
function resetAfter(port: number, request: string, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no ${marker} within 3 s`)), 3000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (socket) => void socket.write(request),
        data: (socket, data) => {
          seen += data.toString("latin1");
          if (!seen.includes(marker)) return;
          clearTimeout(timer);
          socket.terminate();
          resolve();
        },
      },
    });
  });
}

describe("an early stop ends the iterator before close()", () => {
  /**
   * A streaming body as an SSE endpoint writes one: a generator that awaits
   * between events and releases its resource in `finally`, and a `close()`
   * that releases what the generator still uses (a lock, a cursor).
   */
  const sseApp = (events: string[], gapMs: number): Application => {
    return (environ, sr) => {
      (environ["tsgi.posthooks"] as PostHook[]).push([() => void events.push("posthook")]);
      sr("200 OK", [["Content-Type", "text/event-stream"]]);
      let lockHeld = true;
      async function* stream() {
        try {
          for (let i = 0; i < 100; i++) {
            yield enc(`data: ${i}\n\n`);
            await Bun.sleep(gapMs);
            events.push(`step ${i} lock ${lockHeld ? "held" : "released"}`);
          }
        } finally {
          events.push("finally");
        }
      }
      const body = stream();
      return Object.assign(body, {
        close: () => {
          lockHeld = false;
          events.push("close");
        },
      }) as Body;
    };
  };

  test("the client leaves while the generator awaits: its finally runs, then close(), then the posthooks", async () => {
    const events: string[] = [];
    const s = start(sseApp(events, 300));
    // Reset as soon as the first event arrived: the generator is then inside its 300 ms await.
    await resetAfter(s.port, get("/events"), "data: 0");
    for (let i = 0; i < 60 && !events.includes("posthook"); i++) await Bun.sleep(50);
    // Before: close() ran at once, and the generator went on with its lock released ("step 0 lock released").
    expect(events).toEqual(["step 0 lock held", "finally", "close", "posthook"]);
  });

  test("a generator that waits for what close() ends: close() still comes, after a 1 s grace", async () => {
    const events: string[] = [];
    let wake: () => void = () => {};
    const s = start((_environ, sr) => {
      sr("200 OK", [["Content-Type", "text/event-stream"]]);
      async function* stream() {
        try {
          yield enc("data: first\n\n");
          await new Promise<void>((resolve) => (wake = resolve)); // a subscription only close() ends
          events.push("woken");
        } finally {
          events.push("finally");
        }
      }
      return Object.assign(stream(), {
        close: () => {
          events.push("close");
          wake();
        },
      }) as Body;
    });
    await resetAfter(s.port, get("/events"), "data: first");
    const left = Date.now();
    for (let i = 0; i < 80 && !events.includes("finally"); i++) await Bun.sleep(50);
    const took = Date.now() - left;
    expect(events).toEqual(["close", "woken", "finally"]);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
  });

  test("server.close() that cuts a stream resolves after its finally, close() and posthooks", async () => {
    const events: string[] = [];
    const s = startServer(sseApp(events, 200));
    const reader = raw(s.port, get("/events"), { until: (d) => d.includes("data: 2"), timeoutMs: 5000 });
    for (let i = 0; i < 100 && !events.includes("step 1 lock held"); i++) await Bun.sleep(20);
    await s.server.close({ timeout: 100 });
    events.push("server.close() resolved");
    await reader;
    // Before: close() and the posthooks ran at once, server.close() resolved, and finally came 100 ms later.
    expect(events.slice(-4)).toEqual(["finally", "close", "posthook", "server.close() resolved"]);
    expect(events.filter((e) => e.includes("lock released"))).toEqual([]);
  });
});

describe("the bounded cleanup of stopped requests", () => {
  test("a posthook that never settles does not hold server.close(): the cut requests' cleanup ends within CUT_REQUEST_CLEANUP_MS", async () => {
    const s = startServer(
      (environ) => {
        (environ["tsgi.posthooks"] as PostHook[]).push([() => new Promise<void>(() => {})]);
        return new Promise<Body>(() => {}); // never answers: cut by requestTimeout
      },
      { requestTimeout: 200, log: null },
    );
    const answers = await Promise.all(Array.from({ length: 5 }, () => fetch(`${s.url}/hang`).then((r) => r.status)));
    expect(answers).toEqual([503, 503, 503, 503, 503]);
    // Past the bound, the cut requests' work is let go of: close() does not wait for their hung posthooks.
    await Bun.sleep(CUT_REQUEST_CLEANUP_MS + 300);
    const t0 = Date.now();
    await s.server.close({ timeout: 100 });
    // Before: close() waited 5 s for posthooks that never settle, each holding its environ meanwhile.
    expect(Date.now() - t0).toBeLessThan(500);
  }, 15_000);

  test("stopping a body at its Content-Length or for HEAD arms no timer when its return() settles at once", async () => {
    const s = startServer(
      (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "2"]]);
        async function* body() {
          try {
            // Bounded: a gateway that failed to stop it would otherwise iterate it in microtasks for ever, a hang no test timeout ends.
            for (let k = 0; k < 100_000; k++) yield enc("ab");
          } finally {
            // a synchronous finally: return() settles within microtasks
          }
        }
        return Object.assign(body(), { close() {} }) as Body;
      },
      { log: null },
    );
    await fetch(`${s.url}/warm`).then((r) => r.text());
    const real = globalThis.setTimeout;
    let armed = 0;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => (armed++, real(...args))) as typeof setTimeout;
    try {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${s.url}/x`, { method: i % 2 ? "HEAD" : "GET" });
        expect(await res.text()).toBe(i % 2 ? "" : "ab");
      }
    } finally {
      globalThis.setTimeout = real;
    }
    // Before: one 1 s timer per request (20), for close()'s wait on return().
    expect(armed).toBeLessThan(5);
    await s.server.close({ timeout: 100 });
  });
});

describe("bodies that fail before the first chunk", () => {
  test("a body whose [Symbol.asyncIterator]() throws gets a 500, not a hung request", async () => {
    const s = start((_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return {
        [Symbol.asyncIterator]() {
          throw new Error("no iterator for you");
        },
      } as unknown as Body;
    });
    const res = await fetch(`${s.url}/`, { signal: AbortSignal.timeout(3000) });
    expect(res.status).toBe(500);
    await res.text();
    expect(s.errors.join("")).toContain("no iterator for you");
  });
});

describe("environ values shared between requests", () => {
  test("tsgi.version is a frozen tuple: an app writing into it (plain JS) changes no later request's", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      const version = environ["tsgi.version"] as unknown as number[];
      try {
        version[0] = 9; // strict-mode module code: a TypeError on a frozen array
        seen.push("written");
      } catch (error) {
        seen.push((error as Error).name);
      }
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(JSON.stringify(environ["tsgi.version"]))];
    });
    const bodies: string[] = [];
    for (let i = 0; i < 2; i++) bodies.push(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    expect(bodies).toEqual(["[1,0]", "[1,0]"]);
    expect(seen).toEqual(["TypeError", "TypeError"]);
  });

  // The parser hands a repeated keep-alive head out again as the same object while it is unchanged (its fields
  // are tsgi.headers_raw): what one request's app changes must not reach a later request's environ.
  const repeated = "GET /same?q=1 HTTP/1.1\r\nHost: localhost\r\nX-Id: 7\r\n\r\n";
  const asSent = { id: "7", query: "q=1", raw: ["Host", "localhost", "X-Id", "7"] };
  test("a repeated head, pipelined and not: an app changing its tsgi.headers_raw (which it must not) and its environ (which it may) changes no later request's", async () => {
    let n = 0;
    const { port } = start((environ, sr) => {
      const fields = environ["tsgi.headers_raw"] as string[];
      const seen = JSON.stringify({ id: environ.HTTP_X_ID, query: environ.QUERY_STRING, raw: fields });
      n++;
      if (n === 1) {
        fields.push("X-Added", "1");
        fields[1] = "changed";
        environ.HTTP_X_ID = "changed";
      } else if (n === 2) fields[3] = "8";
      else if (n === 4) fields.length = 0;
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [enc(seen)];
    }, { log: null });
    // Two in one write (the second parsed from the same read), then three more, one write each, on the connection.
    const r = await raw(port, [repeated + repeated, repeated, repeated, repeated], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 6, gapMs: 50 });
    const bodies = parseResponses(r.data).map((x) => JSON.parse(x.body.toString()));
    expect(bodies).toEqual(Array(5).fill(asSent));
  });

  test("a repeated head while the last request's app still holds its environ: each environ keeps its own values", async () => {
    let n = 0;
    let secondRan!: () => void;
    const second = new Promise<void>((resolve) => (secondRan = resolve));
    const late: string[] = [];
    const { port } = start((environ, sr) => {
      n++;
      if (n === 1) {
        // Read again after the second request's app changed its own environ.
        void second.then(() => late.push(JSON.stringify({ id: environ.HTTP_X_ID, query: environ.QUERY_STRING, raw: environ["tsgi.headers_raw"] })));
      } else {
        environ.HTTP_X_ID = "second";
        environ.QUERY_STRING = "second";
        secondRan();
      }
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [enc(JSON.stringify({ id: environ.HTTP_X_ID, query: environ.QUERY_STRING }))];
    }, { log: null });
    const r = await raw(port, [repeated, repeated], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 3, gapMs: 50 });
    const bodies = parseResponses(r.data).map((x) => JSON.parse(x.body.toString()));
    expect(bodies).toEqual([{ id: "7", query: "q=1" }, { id: "second", query: "second" }]);
    expect(late.map((x) => JSON.parse(x))).toEqual([asSent]);
  });

  // From its second request in a row with the same head, a connection copies the environ kept from it
  // (environFrom) rather than building it: each request must still get an environ of its own, as built.
  test("a repeated POST head with different bodies: each request's environ is as built (keys, order, values), with its own tsgi.input and tsgi.posthooks, whatever the apps did to theirs", async () => {
    const post = (body: string) => `POST /p?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nX-Id: 7\r\n\r\n${body}`;
    const bodies = ["aaaa", "bbbb", "cccc", "dddd", "eeee"];
    const shapes: string[] = [];
    const inputs: unknown[] = [];
    const hooks: string[] = [];
    let n = 0;
    const { port } = start(async (environ, sr) => {
      const k = ++n;
      const plain = Object.entries(environ).filter(([, v]) => v === null || typeof v !== "object");
      shapes.push(JSON.stringify([plain, environ["tsgi.posthooks"], environ["tsgi.headers_raw"]]));
      inputs.push(environ["tsgi.input"]);
      const data = await environ["tsgi.input"].read();
      // What an app may do to its own environ (PEP 3333): change, add and delete keys, add post hooks.
      environ.HTTP_X_ID = `changed by ${k}`;
      environ.PATH_INFO = "/changed";
      environ["app.added"] = k;
      delete (environ as Record<string, unknown>).QUERY_STRING;
      environ["tsgi.posthooks"]!.push([() => void hooks.push(`hook ${k}`)]);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [data];
    }, { log: null });
    // One write (pipelined), then one write each, on the same connection.
    const r = await raw(port, [post(bodies[0]!) + post(bodies[1]!), post(bodies[2]!), post(bodies[3]!), post(bodies[4]!)], {
      until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 6,
      gapMs: 50,
    });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(bodies);
    expect(shapes.length).toBe(5);
    const [plain, posthooks, fieldLines] = JSON.parse(shapes[0]!);
    expect(Object.fromEntries(plain)).toMatchObject({ REQUEST_METHOD: "POST", PATH_INFO: "/p", QUERY_STRING: "x=1", HTTP_X_ID: "7", CONTENT_LENGTH: "4", CONTENT_TYPE: "text/plain" });
    expect(posthooks).toEqual([]);
    expect(fieldLines).toEqual(["Host", "localhost", "Content-Type", "text/plain", "Content-Length", "4", "X-Id", "7"]);
    for (const shape of shapes) expect(shape).toBe(shapes[0]!);
    expect(new Set(inputs).size).toBe(5);
    await Bun.sleep(50);
    expect(hooks).toEqual(["hook 1", "hook 2", "hook 3", "hook 4", "hook 5"]);
  });

  test("a repeated head with a tsgi.errors of its own after two requests (a handlerClass's getStderr()): each request writes to the one it was given", async () => {
    const written: string[] = [];
    const stream = (id: number): ErrorStream => ({ write: (text) => void written.push(`${id}: ${text}`), writelines() {}, flush() {} });
    const first = stream(1);
    let calls = 0;
    class PerRequest extends RequestHandler {
      override getStderr(): ErrorStream {
        // The same stream for the first two requests (the environ of the second is kept to be copied), then one each.
        return ++calls <= 2 ? first : stream(calls);
      }
    }
    const { port } = start((environ, sr) => {
      environ["tsgi.errors"].write(environ.PATH_INFO);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, handlerClass: PerRequest });
    const r = await raw(port, [get("/e"), get("/e"), get("/e"), get("/e")], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 5, gapMs: 30 });
    expect(parseResponses(r.data).length).toBe(4);
    expect(written).toEqual(["1: /e", "1: /e", "3: /e", "4: /e"]);
  });

  test("a repeated head on a server with an environ option: each request shows the option object as it is then", async () => {
    const extra: Record<string, unknown> = { "app.generation": 0 };
    const { port } = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      const seen = String(environ["app.generation"]);
      extra["app.generation"] = (extra["app.generation"] as number) + 1;
      return [enc(seen)];
    }, { log: null, environ: extra });
    const r = await raw(port, [get("/g"), get("/g"), get("/g"), get("/g")], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 5, gapMs: 30 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["0", "1", "2", "3"]);
  });
});

describe("the environ's keys: order and enumerability", () => {
  // What `for...in`, Object.keys() and `{ ...environ }` see, pinned: the same keys in the same order,
  // for a built environ (first request), the one kept to copy (second) and a copy of it (third, environFrom).
  // Under requestSignal, tsgi.signal is one more enumerable key, last, an accessor (made when first read);
  // docs/performance.md ("for...in over the environ") says why that makes for...in slower and what to use.
  const BUILT_KEYS = [
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
    "REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI", "SERVER_SOFTWARE", "GATEWAY_INTERFACE",
    "tsgi.version", "tsgi.url_scheme", "tsgi.input", "tsgi.errors", "tsgi.multithread", "tsgi.multiprocess",
    "tsgi.run_once", "tsgi.input_terminated", "tsgi.posthooks", "tsgi.headers_raw", "tsgi.file_wrapper",
    "HTTP_HOST", "HTTP_X_ID",
  ];
  const walk = async (options: { requestSignal?: boolean }) => {
    const seen: Array<{ forIn: string[]; keys: string[]; spread: string[]; hidden: string[]; accessors: string[] }> = [];
    const { port } = start((environ, sr) => {
      const forIn: string[] = [];
      for (const key in environ) forIn.push(key);
      const descriptors = Object.getOwnPropertyDescriptors(environ);
      seen.push({
        forIn,
        keys: Object.keys(environ),
        spread: Object.keys({ ...environ }),
        hidden: Object.getOwnPropertyNames(environ).filter((key) => !descriptors[key]!.enumerable),
        accessors: Object.keys(descriptors).filter((key) => descriptors[key]!.get !== undefined),
      });
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null, ...options });
    const head = get("/k?q=1", "X-Id: 7\r\n");
    const r = await raw(port, [head, head, head], { until: (d) => d.toString("latin1").split("HTTP/1.1 200").length === 4, gapMs: 30 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["ok", "ok", "ok"]);
    expect(seen.length).toBe(3);
    return seen;
  };

  test("without requestSignal: every key enumerable, plain data, in the built order, the same for for...in, Object.keys() and a spread copy", async () => {
    for (const s of await walk({})) {
      expect(s.forIn).toEqual(BUILT_KEYS);
      expect(s.keys).toEqual(BUILT_KEYS);
      expect(s.spread).toEqual(BUILT_KEYS);
      expect(s.hidden).toEqual([]);
      expect(s.accessors).toEqual([]);
    }
  });

  test("with requestSignal: tsgi.signal last, enumerable, an accessor; the rest as without it", async () => {
    const keys = [...BUILT_KEYS, "tsgi.signal"];
    for (const s of await walk({ requestSignal: true })) {
      expect(s.forIn).toEqual(keys);
      expect(s.keys).toEqual(keys);
      expect(s.spread).toEqual(keys);
      expect(s.hidden).toEqual([]);
      expect(s.accessors).toEqual(["tsgi.signal"]);
    }
  });
});

describe("field names from clients", () => {
  /**
   * The bound of the heap's growth over 600 requests with short made-up names
   * and a 60 kB field (MB): half of what keeping each name's request head
   * keeps (600 × 60 kB = 36 MB; measured 38 MB with the bug). Without it the
   * growth is 6 to 8 MB alone, and was 12.5 MB once in a loaded full run.
   */
  const SHORT_NAMES_BOUND_MB = (600 * 60_000) / 2 / 1e6;

  test("520 requests with long made-up field names pin no memory, and later requests' environ keys are still right (before: about 60 MB of names kept for the process's life)", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      if (typeof environ.HTTP_X_REAL === "string") seen.push(`${environ.HTTP_X_REAL} ${String(environ.HTTP_USER_AGENT)}`);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null });
    const ask = async (value: string) => (await raw(port, get("/", `X-Real: ${value}\r\nUser-Agent: ua-${value}\r\nConnection: close\r\n`))).data.toString("latin1").split("\r\n")[0];
    expect(await ask("warm")).toBe("HTTP/1.1 200 OK");
    const grown = await heapGrowthFromLongFieldNames(port, 520);
    expect(await ask("after")).toBe("HTTP/1.1 200 OK");
    expect(seen).toEqual(["warm ua-warm", "after ua-after"]);
    expect(grown).toBeLessThan(16);
  }, 30_000);

  test("600 requests each with a short made-up field name and a 60 kB field pin no memory, and later requests' environ keys are still right (before: the remembered names held their request heads, about 36 MB)", async () => {
    const seen: string[] = [];
    const { port } = start((environ, sr) => {
      if (typeof environ.HTTP_X_REAL === "string") seen.push(`${environ.HTTP_X_REAL} ${String(environ.HTTP_X_MADE_UP_000599 ?? "-")}`);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    }, { log: null });
    const ask = async (extra: string) => (await raw(port, get("/", `X-Real: r\r\n${extra}Connection: close\r\n`))).data.toString("latin1").split("\r\n")[0];
    expect(await ask("")).toBe("HTTP/1.1 200 OK");
    const grown = await heapGrowthFromShortFieldNames(port, 600);
    expect(await ask("X-Made-Up-000599: again\r\n")).toBe("HTTP/1.1 200 OK");
    expect(seen).toEqual(["r -", "r again"]);
    expect(grown).toBeLessThan(SHORT_NAMES_BOUND_MB);
  }, 30_000);

  test("capitalizeResponseHeaders: an app that answers with fields named as tsgi.headers_raw gives them, and 600 requests each with a short made-up name and a 60 kB field pin no memory (before: the capitalized-name cache kept each name's request head, about 36 MB)", async () => {
    const { port } = start((environ, sr) => {
      const raw = environ["tsgi.headers_raw"] as readonly string[];
      const echoed: Array<[string, string]> = [];
      for (let i = 0; i < raw.length; i += 2) if (raw[i]!.startsWith("X-Made-Up-")) echoed.push([raw[i]!, "1"]);
      sr("200 OK", [["content-type", "text/plain"], ...echoed]);
      return [enc("ok")];
    }, { log: null, capitalizeResponseHeaders: true });
    const grown = await heapGrowthFromShortFieldNames(port, 600);
    const r = await raw(port, get("/", "X-Made-Up-again: 1\r\nConnection: close\r\n"));
    expect(r.data.toString("latin1")).toContain("\r\nX-Made-Up-Again: 1\r\n");
    expect(grown).toBeLessThan(SHORT_NAMES_BOUND_MB);
  }, 30_000);

  test("capitalizeResponseHeaders: an app that answers with fields named after the request's (an echo or debug route, a proxy passing names on) and 520 requests with long made-up names pin no memory, and later names are still capitalized (before: about 60 MB of names kept by the capitalized-name cache)", async () => {
    const { port } = start((environ, sr) => {
      const echoed: Array<[string, string]> = [];
      for (const key of Object.keys(environ)) if (key.startsWith("HTTP_X_")) echoed.push([`echo-${key.slice(5).toLowerCase().replaceAll("_", "-")}`, "1"]);
      sr("200 OK", [["content-type", "text/plain"], ...echoed]);
      return [enc("ok")];
    }, { log: null, capitalizeResponseHeaders: true });
    const ask = async (name: string) => (await raw(port, get("/", `${name}: 1\r\nConnection: close\r\n`))).data.toString("latin1").split("\r\n").filter((l) => l.startsWith("Echo-") || l.startsWith("echo-"));
    expect(await ask("X-warm-UP")).toEqual(["Echo-X-Warm-Up: 1"]);
    const grown = await heapGrowthFromLongFieldNames(port, 520);
    expect(await ask("x-after-it")).toEqual(["Echo-X-After-It: 1"]);
    expect(grown).toBeLessThan(16);
  }, 30_000);
});
