import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { consola } from "consola";
import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { PassThrough } from "node:stream";
import { join, resolve } from "node:path";
import type { Application, Body, Environ, InputStream, ResponseHeaders } from "../src/spec.ts";
import {
  BaseCGIHandler,
  BaseHandler,
  CGIHandler,
  IISCGIHandler,
  SimpleHandler,
  fixIisPathInfo,
  formatDateTime,
  formatException,
  readEnviron,
} from "../src/toolkit/handlers/index.ts";
import { Headers } from "../src/toolkit/headers.ts";
import { BytesInput, FileWrapper, MemoryErrorStream, fileWrapper, setupTestingDefaults } from "../src/toolkit/util.ts";
import { checkClosed, validator } from "../src/toolkit/validate.ts";
import { REUSED_BODY, reuseOneBuffer } from "./apps/reuse-one-buffer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

/** Collects output in memory. */
class Sink {
  chunks: Uint8Array[] = [];
  flushes = 0;
  write(d: Uint8Array): void {
    this.chunks.push(d.slice());
  }
  flush(): void {
    this.flushes++;
  }
  get text(): string {
    return dec.decode(Buffer.concat(this.chunks));
  }
  get bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

/** wsgiref's ErrorHandler: a BaseCGIHandler over memory streams with testing defaults. */
class ErrorHandler extends BaseCGIHandler {
  override osEnviron = { ...readEnviron() };
  constructor(kw: Record<string, unknown> = {}) {
    setupTestingDefaults(kw);
    super(new BytesInput(), new Sink(), new MemoryErrorStream(), kw, { multithread: true, multiprocess: true });
  }
  get out(): Sink {
    return this.stdout as Sink;
  }
  get err(): MemoryErrorStream {
    return this.stderr as MemoryErrorStream;
  }
}

/** wsgiref's TestHandler: errors pass through. */
class TestHandler extends ErrorHandler {
  override async handleError(error: unknown): Promise<void> {
    throw error;
  }
}

/** A CGI handler whose stdout takes 1 ms per write (returns a Promise); `out` collects what was written. */
function slowStdoutHandler() {
  const out: string[] = [];
  const h = new BaseCGIHandler(
    new BytesInput(),
    { write: async (d: Uint8Array) => void (await Bun.sleep(1), out.push(dec.decode(d))) },
    new MemoryErrorStream(),
    { SERVER_PROTOCOL: "HTTP/1.1" },
  );
  h.osEnviron = {};
  return { h, out };
}

const hello: Application = (_e, sr) => {
  sr("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("Hello, world!")];
};

describe("BaseHandler: environ", () => {
  test("tsgi.* keys come from the handler's attributes; os environ and base env are merged", () => {
    const h = new TestHandler({ X: "Y" });
    h.setupEnviron();
    const env = h.environ!;
    expect(env["tsgi.version"]).toEqual(h.tsgiVersion);
    expect(env["tsgi.multithread"]).toBe(true);
    expect(env["tsgi.multiprocess"]).toBe(true);
    expect(env["tsgi.run_once"]).toBe(false);
    expect(env["tsgi.file_wrapper"]).toBe(fileWrapper);
    expect(env["tsgi.input"]).toBe(h.stdin);
    expect(env["tsgi.errors"]).toBe(h.stderr);
    expect(env.X).toBe("Y");
    expect(env.PATH).toBe(process.env.PATH!);
    for (const k of Object.keys(setupTestingDefaults())) expect(k in env).toBe(true);
  });
  test("a CGI handler with an empty environ still gets url_scheme, input, errors", () => {
    const h = new BaseCGIHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {});
    h.setupEnviron();
    for (const k of ["tsgi.url_scheme", "tsgi.input", "tsgi.errors"]) expect(k in h.environ!).toBe(true);
  });
  test("getScheme: https from HTTPS=on", () => {
    const h = new TestHandler({ HTTPS: "on" });
    h.setupEnviron();
    expect(h.environ!["tsgi.url_scheme"]).toBe("https");
    const h2 = new TestHandler();
    h2.setupEnviron();
    expect(h2.environ!["tsgi.url_scheme"]).toBe("http");
    expect(h2.getScheme()).toBe("http");
  });
  test("tsgiFileWrapper null leaves file_wrapper out; serverSoftware sets SERVER_SOFTWARE for origin servers only", () => {
    const h = new BaseCGIHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {});
    h.tsgiFileWrapper = null;
    h.setupEnviron();
    expect("tsgi.file_wrapper" in h.environ!).toBe(false);

    const s = new SimpleHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {});
    s.osEnviron = {};
    s.serverSoftware = "tsgi-test/1.0";
    s.setupEnviron();
    expect(s.environ!.SERVER_SOFTWARE).toBe("tsgi-test/1.0");

    const c = new BaseCGIHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {});
    c.osEnviron = {};
    c.serverSoftware = "tsgi-test/1.0";
    c.setupEnviron();
    expect("SERVER_SOFTWARE" in c.environ!).toBe(false);
  });
  test("SimpleHandler defaults: multithread true, multiprocess false; options override", () => {
    const s = new SimpleHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {});
    expect([s.tsgiMultithread, s.tsgiMultiprocess, s.originServer]).toEqual([true, false, true]);
    const t = new SimpleHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {}, { multithread: false, multiprocess: true });
    expect([t.tsgiMultithread, t.tsgiMultiprocess]).toEqual([false, true]);
    expect(new BaseCGIHandler(new BytesInput(), new Sink(), new MemoryErrorStream(), {}).originServer).toBe(false);
  });
  test("the environ is exactly the OS environment, overridden by the handler's base environ, then the tsgi.* keys (wsgiref testEnviron)", () => {
    class WithOs extends TestHandler {
      // wsgiref's test swaps os_environ: a basic environment with CGI variables of its own.
      override osEnviron = { HOME: "/my/home", PATH: "/my/path", LANG: "fr_FR.UTF-8", SCRIPT_NAME: "test_script_name", SERVER_NAME: "test_server_name" };
    }
    const h = new WithOs({ X: "Y", HOME: "/override/home" });
    h.setupEnviron();
    const expected: Record<string, unknown> = setupTestingDefaults({});
    for (const k of Object.keys(expected)) if (k.startsWith("tsgi.")) delete expected[k];
    Object.assign(expected, {
      PATH: "/my/path",
      LANG: "fr_FR.UTF-8",
      X: "Y",
      HOME: "/override/home", // the base environ wins over the OS environment
      SCRIPT_NAME: "", // setupTestingDefaults' values in the base environ win too
      SERVER_NAME: "127.0.0.1",
      "tsgi.input": h.getStdin(),
      "tsgi.input_terminated": true, // from setupTestingDefaults in the base environ (the handler does not set it by default)
      "tsgi.errors": h.getStderr(),
      "tsgi.version": h.tsgiVersion,
      "tsgi.run_once": false,
      "tsgi.url_scheme": "http",
      "tsgi.multithread": true,
      "tsgi.multiprocess": true,
      "tsgi.file_wrapper": fileWrapper,
    });
    expect({ ...h.environ! } as Record<string, unknown>).toEqual(expected);
    expect(h.environ!["tsgi.input"]).toBe(h.stdin);
  });
});

describe("BaseHandler: output (wsgiref testContentLength & co.)", () => {
  test("a one-chunk body gets Content-Length", async () => {
    const h = new TestHandler();
    await h.run((e, s) => {
      s("200 OK", []);
      return [enc.encode(e["tsgi.url_scheme"])];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Length: 4\r\n\r\nhttp");
  });
  test("write() before iteration: no Content-Length", async () => {
    const h = new TestHandler();
    await h.run(async (e, s) => {
      await s("200 OK", [])(enc.encode(e["tsgi.url_scheme"]));
      return [];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\n\r\nhttp");
  });
  test("Content-Length counts bytes, not characters", async () => {
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      return [new TextEncoder().encode("\u0442\u0435\u0441\u0442")];
    });
    expect([...h.out.bytes]).toEqual([
      ...enc.encode("Status: 200 OK\r\nContent-Length: 8\r\n\r\n"),
      0xd1, 0x82, 0xd0, 0xb5, 0xd1, 0x81, 0xd1, 0x82,
    ]);
  });
  test("an application's Content-Length is kept (HEAD)", async () => {
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", [["Content-Length", "12345"]]);
      return [];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Length: 12345\r\n\r\n");
  });
  test("no Content-Length: 0 for 204, 304 or an empty answer to HEAD (RFC 9110 §8.6; wsgiref sends 0)", async () => {
    for (const [status, method, body] of [
      ["204 No Content", "GET", []],
      ["304 Not Modified", "GET", [enc.encode("")]],
      ["200 OK", "HEAD", []],
      ["200 OK", "HEAD", [new Uint8Array(0)]],
    ] as Array<[string, string, Uint8Array[]]>) {
      const h = new TestHandler({ REQUEST_METHOD: method });
      await h.run((_e, s) => {
        s(status, [["Content-Type", "text/plain"]]);
        return body;
      });
      expect(h.out.text).toBe(`Status: ${status}\r\nContent-Type: text/plain\r\n\r\n`);
    }
    // An empty GET body still says 0.
    const get = new TestHandler({ REQUEST_METHOD: "GET" });
    await get.run((_e, s) => {
      s("200 OK", []);
      return [];
    });
    expect(get.out.text).toBe("Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  test("a HEAD of an empty file (tsgi.file_wrapper over a 0-byte Bun.file() or an empty file-like object, returned as it is) keeps GET's Content-Length: 0, as the tsgi server (spec.md); not under a 204 (before: none for HEAD)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-head-"));
    try {
      const empty = join(dir, "empty.txt");
      writeFileSync(empty, "");
      const bodies: Array<[string, (e: Environ) => Body]> = [
        ["Bun.file", (e) => e["tsgi.file_wrapper"]!(Bun.file(empty))],
        ["file-like", (e) => e["tsgi.file_wrapper"]!({ read: () => new Uint8Array(0) })],
      ];
      for (const [kind, body] of bodies) {
        for (const method of ["GET", "HEAD"]) {
          const h = new TestHandler({ REQUEST_METHOD: method });
          await h.run((e, s) => {
            s("200 OK", [["Content-Type", "text/plain"]]);
            return body(e);
          });
          expect(`${kind} ${method}: ${h.out.text}`).toBe(`${kind} ${method}: Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`);
        }
        const noContent = new TestHandler({ REQUEST_METHOD: "HEAD" });
        await noContent.run((e, s) => {
          s("204 No Content", []);
          return body(e);
        });
        expect(noContent.out.text).toBe("Status: 204 No Content\r\n\r\n");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("never more body than the Content-Length (the excess logged once); no body for HEAD, 1xx, 204 or 304 (spec.md; wsgiref sends it)", async () => {
    const long = new TestHandler();
    await long.run((_e, s) => {
      s("200 OK", [["Content-Length", "3"]]);
      return (function* () {
        yield enc.encode("ab");
        yield enc.encode("cdef");
        yield enc.encode("gh");
      })();
    });
    expect(long.out.text).toBe("Status: 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    expect(long.err.value.match(/more bytes than its Content-Length; the excess was not sent \(Content-Length: 3\)/g)).toHaveLength(1);
    for (const [status, method, expected] of [
      ["200 OK", "HEAD", "Status: 200 OK\r\nContent-Length: 7\r\n\r\n"],
      ["204 No Content", "GET", "Status: 204 No Content\r\n\r\n"],
      ["304 Not Modified", "GET", "Status: 304 Not Modified\r\n\r\n"],
    ] as const) {
      const h = new TestHandler({ REQUEST_METHOD: method });
      await h.run((_e, s) => {
        s(status, []);
        return [enc.encode("content")];
      });
      expect([status, method, h.out.text]).toEqual([status, method, expected]);
      expect(h.err.value).toBe("");
    }
  });

  test("the header list is checked again when sent: a CR/LF added after startResponse, or an invalid or conflicting Content-Length, is an application error (500), never on the wire (spec.md; wsgiref checks neither)", async () => {
    const cases: Array<[string, (h: ResponseHeaders) => void]> = [
      ["CRLF added late", (h) => h.push(["X-Bad", "a\r\nInjected: 1"])],
      ["Content-Length abc", (h) => h.push(["Content-Length", "abc"])],
      ["two Content-Lengths", (h) => h.push(["Content-Length", "5"], ["Content-Length", "6"])],
    ];
    for (const [what, change] of cases) {
      const h = new ErrorHandler();
      await h.run((_e, s) => {
        const list: ResponseHeaders = [["Content-Type", "text/plain"]];
        s("200 OK", list);
        change(list);
        return [enc.encode("hello")];
      });
      expect([what, h.out.text]).toEqual([what, expect.stringMatching(/^Status: 500 Internal Server Error\r\n/)]);
      expect(h.out.text).not.toContain("Injected");
      expect(h.out.text).not.toContain("hello");
      expect(h.err.value).toContain("TypeError");
    }
  });

  test("a file wrapper with a shorter Content-Length sends that prefix of the file, with no error logged, also under validator() (spec.md file handling)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-handlers-fw-"));
    writeFileSync(join(dir, "f.txt"), "0123456789abcdef");
    const fileLike = () => {
      const data = new TextEncoder().encode("0123456789abcdef");
      let pos = 0;
      return { read: (n: number) => data.subarray(pos, (pos += n)) };
    };
    try {
      for (const [kind, file] of [["Blob", () => Bun.file(join(dir, "f.txt"))], ["file-like", fileLike]] as const) {
        for (const wrap of [false, true]) {
          const h = new ErrorHandler();
          const app: Application = (e, s) => {
            s("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "10"]]);
            return e["tsgi.file_wrapper"]!(file());
          };
          await h.run(wrap ? validator(app) : app);
          expect([kind, wrap, h.out.text]).toEqual([kind, wrap, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789"]);
          expect([kind, wrap, h.err.value]).toEqual([kind, wrap, ""]);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the app's header list is not changed: the Content-Length the handler adds goes into its own copy (spec.md; wsgiref adds it to the app's list)", async () => {
    const h = new ErrorHandler();
    const list: ResponseHeaders = [["Content-Type", "text/plain"]];
    await h.run((_e, s) => {
      s("200 OK", list);
      return [enc.encode("hello")];
    });
    expect(h.out.text).toContain("Content-Length: 5\r\n");
    expect(list).toEqual([["Content-Type", "text/plain"]]);
  });

  test("a close() that throws after a complete response is logged; no error page follows it (spec.md; wsgiref appends one)", async () => {
    const h = new ErrorHandler();
    await h.run((_e, s) => {
      s("200 OK", [["Content-Type", "text/plain"]]);
      const body = [enc.encode("complete\n")] as Uint8Array[] & { close?: () => void };
      body.close = () => {
        throw new Error("close failed");
      };
      return body;
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\ncomplete\n");
    expect(h.err.value).toContain("close failed");
  });

  test("a body with both iterators is read through its async one (spec.md \"The body\" rule 1)", async () => {
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      return {
        [Symbol.iterator]: () => {
          throw new Error("the sync iterator was used");
        },
        async *[Symbol.asyncIterator]() {
          yield enc.encode("async ");
          yield enc.encode("body");
        },
      } as unknown as Body;
    });
    expect(h.out.text).toBe("Status: 200 OK\r\n\r\nasync body");
  });
  test("file_wrapper over a file-like whose read() returns a Promise without being declared async", async () => {
    const data = [enc.encode("hello "), enc.encode("file\n")];
    const filelike = { read: (_n?: number) => Promise.resolve(data.shift() ?? new Uint8Array(0)) };
    const h = new TestHandler();
    await h.run((e, s) => {
      s("200 OK", []);
      return e["tsgi.file_wrapper"]!(filelike as never);
    });
    expect(h.out.text).toBe("Status: 200 OK\r\n\r\nhello file\n");
  });
  test("a multi-chunk array body gets the total Content-Length; a generator gets none", async () => {
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      return [enc.encode("ab"), enc.encode(""), enc.encode("cde")];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Length: 5\r\n\r\nabcde");
    const g = new TestHandler();
    await g.run((_e, s) =>
      (function* () {
        s("200 OK", []);
        yield enc.encode("ab");
      })(),
    );
    expect(g.out.text).toBe("Status: 200 OK\r\n\r\nab");
  });
  test("bytes data with a Content-Type", async () => {
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
      return [enc.encode("data")];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\ndata");
  });
  test("empty chunks send nothing: headers wait for the first non-empty chunk", async () => {
    const h = new TestHandler();
    const seen: string[] = [];
    await h.run((_e, s) =>
      (async function* () {
        s("200 OK", []);
        yield new Uint8Array(0);
        seen.push(h.out.text);
        yield enc.encode("x");
        seen.push(h.out.text);
      })(),
    );
    expect(seen).toEqual(["", "Status: 200 OK\r\n\r\nx"]);
  });
  test("async applications and async bodies", async () => {
    const h = new TestHandler();
    await h.run(async (_e, s) => {
      await Bun.sleep(1);
      s("201 Created", [["Content-Type", "text/plain"]]);
      return (async function* () {
        yield enc.encode("a");
        yield enc.encode("b");
      })();
    });
    expect(h.out.text).toBe("Status: 201 Created\r\nContent-Type: text/plain\r\n\r\nab");
    expect(h.out.flushes).toBe(2);
  });
  test("the body's close() is called once, and the handler state is reset", async () => {
    let closes = 0;
    const h = new TestHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      return Object.assign([enc.encode("x")], { close: async () => void closes++ });
    });
    expect(closes).toBe(1);
    expect([h.status, h.headers, h.result, h.environ, h.bytesSent, h.headersSent]).toEqual([null, null, null, null, 0, false]);
  });
  test("header formats: origin server vs CGI, HTTP versions, HTTP/0.9, Server", async () => {
    const datePat = "Date: \\w{3}, [ 0123]\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT\\r\\n";
    const app: Application = (_e, s) => {
      s("200 OK", []);
      return [];
    };
    for (const ssw of ["FooBar/1.0", null]) {
      const sw = ssw ? `Server: ${ssw}\\r\\n` : "";
      for (const version of ["1.0", "1.1"]) {
        for (const proto of ["HTTP/0.9", "HTTP/1.0", "HTTP/1.1"]) {
          const cgi = new TestHandler({ SERVER_PROTOCOL: proto });
          cgi.originServer = false;
          cgi.httpVersion = version;
          cgi.serverSoftware = ssw;
          await cgi.run(app);
          expect(cgi.out.text).toBe("Status: 200 OK\r\nContent-Length: 0\r\n\r\n");

          const origin = new TestHandler({ SERVER_PROTOCOL: proto });
          origin.originServer = true;
          origin.httpVersion = version;
          origin.serverSoftware = ssw;
          await origin.run(app);
          if (proto === "HTTP/0.9") expect(origin.out.text).toBe("");
          else expect(origin.out.text).toMatch(new RegExp(`^HTTP/${version} 200 OK\\r\\n${datePat}${sw}Content-Length: 0\\r\\n\\r\\n$`));
        }
      }
    }
  });
  test.skipIf(!Bun.which("node"))("repeated, agreeing Content-Length fields go out as one: SimpleHandler as an origin server on a socket, read by Node's http client (before: two lines, which llhttp refused as 'Duplicate Content-Length'), and BaseCGIHandler's output", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "6"], ["content-length", "6"]]);
      return [enc.encode("twice\n")];
    };
    const server = createNetServer((sock) => {
      sock.once("data", () => {
        const h = new SimpleHandler(new BytesInput(), { write: (d: Uint8Array) => void sock.write(d) }, new MemoryErrorStream(), setupTestingDefaults({ SERVER_PROTOCOL: "HTTP/1.1" }));
        void h.run(app).finally(() => sock.end());
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      const script = `require("http").get("http://127.0.0.1:${port}/", (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => console.log(res.statusCode, res.rawHeaders.filter((_, i) => i % 2 === 0 && /^content-length$/i.test(_)).length, JSON.stringify(b))); }).on("error", (e) => console.log("error", e.code, e.message))`;
      const client = Bun.spawn(["node", "-e", script], { stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => client.kill(), 10_000);
      const out = await new Response(client.stdout).text();
      clearTimeout(timer);
      expect(out.trim()).toBe('200 1 "twice\\n"');
    } finally {
      server.close();
    }
    const cgi = new ErrorHandler();
    await cgi.run(app);
    expect(cgi.out.text.split("\r\n").filter((line) => /^content-length:/i.test(line))).toEqual(["Content-Length: 6"]);
    expect(cgi.out.text).toEndWith("\r\n\r\ntwice\n");
  });

  test("an application's Date and Server headers are not duplicated", async () => {
    const h = new TestHandler({ SERVER_PROTOCOL: "HTTP/1.1" });
    h.originServer = true;
    h.serverSoftware = "X/1";
    await h.run((_e, s) => {
      s("200 OK", [
        ["Date", "then"],
        ["Server", "mine"],
      ]);
      return [];
    });
    expect(h.out.text).toBe("HTTP/1.0 200 OK\r\nDate: then\r\nServer: mine\r\nContent-Length: 0\r\n\r\n");
  });
  test("partial writes are completed, with a warning", async () => {
    const written: number[] = [];
    const partial = {
      write(b: Uint8Array) {
        const p = b.subarray(0, 7);
        written.push(...p);
        return p.length;
      },
      flush() {},
    };
    const h = new SimpleHandler(new BytesInput(), partial, new MemoryErrorStream(), { SERVER_PROTOCOL: "HTTP/1.0" });
    h.osEnviron = {};
    const spy = spyOn(consola, "warn").mockImplementation((() => {}) as never);
    try {
      await h.run((_e, s) => {
        s("200 OK", [
          ["Content-Type", "text/plain"],
          ["Date", "Mon, 05 Jun 2006 18:49:54 GMT"],
        ]);
        return [enc.encode("Hello, world!")];
      });
      expect(spy.mock.calls.some((c) => String(c[0]).includes("should not do partial writes"))).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(dec.decode(new Uint8Array(written))).toBe(
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nContent-Length: 13\r\n\r\nHello, world!",
    );
  });
  test("a write() that writes nothing throws", async () => {
    const h = new SimpleHandler(new BytesInput(), { write: () => 0 }, new MemoryErrorStream(), { SERVER_PROTOCOL: "HTTP/1.0" });
    h.osEnviron = {};
    h.handleError = async (e) => {
      throw e;
    };
    await expect(h.run(hello)).rejects.toThrow("wrote nothing");
  });
  test("write() calls the app does not await go out in order, after the headers, before the returned body", async () => {
    const { h, out } = slowStdoutHandler();
    await h.run((_e, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/plain"]]);
      void write(enc.encode("w1,"));
      void write(enc.encode("w2,"));
      return (function* () {
        yield enc.encode("g1");
      })();
    });
    expect(out.join("")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nw1,w2,g1");
    // With an empty body returned, the unawaited writes still come before the end.
    out.length = 0;
    await h.run((_e, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/plain"]]);
      void write(enc.encode("only"));
      return [];
    });
    expect(out.join("")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nonly");
  });

  test("stdout.write returning a Promise is awaited", async () => {
    const { h, out } = slowStdoutHandler();
    await h.run(hello);
    expect(out.join("")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!");
  });
});

describe("BaseHandler: startResponse and write rules", () => {
  const fresh = () => {
    const h = new TestHandler();
    h.setupEnviron();
    return h;
  };
  test("returns write; stores status and a headersClass around the list", () => {
    const h = fresh();
    const list: ResponseHeaders = [["A", "1"]];
    const w = h.startResponse("200 OK", list);
    expect(typeof w).toBe("function");
    expect(h.status).toBe("200 OK");
    expect(h.headers).toBeInstanceOf(Headers);
    expect(h.headers!.list).toBe(list);
  });
  test.each(["200", "200OK", "OK 200", "20x OK", "200 OK\r\n", 200])("bad status %p throws TypeError", (st) => {
    expect(() => fresh().startResponse(st as string, [])).toThrow(TypeError);
  });
  test.each(["103 Early Hints", "199 X", "600 Weird", "200 \u20acK"])("status %p throws TypeError at startResponse (spec.md)", (st) => {
    const h = fresh();
    expect(() => h.startResponse(st, [])).toThrow(TypeError);
    expect(h.headersSent).toBe(false);
  });
  test("a header name that is not a token, or a non-latin-1 value, throws TypeError at startResponse", () => {
    expect(() => fresh().startResponse("200 OK", [["Bad Name", "x"]])).toThrow(/must be a token/);
    expect(() => fresh().startResponse("200 OK", [["X-Name", "caf\u20ac"]])).toThrow(/must be latin-1/);
    expect(() => fresh().startResponse("200 OK", [["X-Name", "caf\u00e9"]])).not.toThrow();
  });
  test("bad headers throw TypeError; hop-by-hop fields are removed when sent, with a warning, not refused (spec.md; wsgiref raises)", async () => {
    expect(() => fresh().startResponse("200 OK", [["X", "a\nb"]])).toThrow(TypeError);
    expect(() => fresh().startResponse("200 OK", [["X", 1 as never]])).toThrow(TypeError);
    const h = new ErrorHandler();
    await h.run((_e, s) => {
      s("200 OK", [["Content-Type", "text/plain"], ["Connection", "close"], ["Transfer-Encoding", "chunked"], ["Upgrade", "h2c"]]);
      return [enc.encode("ok")];
    });
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    for (const name of ["Connection", "Transfer-Encoding", "Upgrade"]) expect(h.err.value).toContain(`Hop-by-hop header '${name}: `);
  });
  test("a second call without excInfo: 'Headers already set!'; with excInfo before sending it replaces", () => {
    const h = fresh();
    h.startResponse("200 OK", []);
    expect(() => h.startResponse("200 OK", [])).toThrow("Headers already set!");
    h.startResponse("500 Oops", [["X", "1"]], new Error("e"));
    expect(h.status).toBe("500 Oops");
  });
  test("excInfo after the headers were sent is rethrown", async () => {
    const h = fresh();
    await h.startResponse("200 OK", [])(enc.encode("x"));
    const err = new Error("original");
    expect(() => h.startResponse("500 Oops", [], err)).toThrow(err);
  });
  test("write() before startResponse and with a non-Uint8Array", async () => {
    const h = fresh();
    await expect(h.write(enc.encode("x"))).rejects.toThrow("write() before startResponse()");
    h.startResponse("200 OK", []);
    await expect(h.write("x" as never)).rejects.toThrow(TypeError);
  });
  test("write() after the response is complete says so (not 'before startResponse()'), and writes nothing", async () => {
    const h = new ErrorHandler();
    let late: ((data: Uint8Array) => Promise<void>) | undefined;
    await h.run((_e, s) => {
      late = s("200 OK", [["Content-Length", "2"]]);
      return [enc.encode("ok")];
    });
    const before = h.out.text;
    await expect(late!(enc.encode("late"))).rejects.toThrow("write() was called after the response ended");
    expect(h.out.text).toBe(before);
  });
  test("a write() the app makes while close() waits for its earlier writes (not awaited, on a slow stdout) rejects as after the response ended and sends nothing; one made before close() goes out (before: its bytes followed the response's end)", async () => {
    const out: string[] = [];
    let w: ((data: Uint8Array) => Promise<void>) | undefined;
    let late: Promise<string> | undefined;
    let bodyClosedAt = -1;
    const h = new BaseCGIHandler(
      new BytesInput(),
      {
        write: async (d: Uint8Array) => {
          const text = dec.decode(d);
          // The app's other task writes while this write is in progress: B while finishContent() waits for A, C 5 ms
          // into B's 20, once finishContent() has returned and close() waits for B.
          if (text === "AAA") void w!(enc.encode("BBB"));
          if (text === "BBB") setTimeout(() => (late = w!(enc.encode("CCC")).then(() => "sent", (e: Error) => e.message)), 5);
          await Bun.sleep(20);
          out.push(text);
        },
      },
      new MemoryErrorStream(),
      { SERVER_PROTOCOL: "HTTP/1.1" },
    );
    h.osEnviron = {};
    await h.run((_e, sr) => {
      w = sr("200 OK", [["Content-Type", "text/plain"]]);
      void w(enc.encode("AAA"));
      return Object.assign([] as Uint8Array[], { close: async () => void (await Bun.sleep(50), (bodyClosedAt = out.length)) });
    });
    await Bun.sleep(50);
    expect(await late).toBe("write() was called after the response ended");
    expect(out.slice(-2)).toEqual(["AAA", "BBB"]);
    expect(bodyClosedAt).toBe(out.length);
  });
  test("a non-Uint8Array body chunk becomes a 500", async () => {
    const h = new ErrorHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      return ["text"] as never;
    });
    expect(h.out.text).toStartWith("Status: 500 Internal Server Error\r\n");
    expect(h.err.value).toContain("TypeError");
  });
});

describe("BaseHandler: errors", () => {
  test("an error before output becomes the 500 page and is logged (wsgiref testBasicErrorOutput)", async () => {
    const ok = new ErrorHandler();
    await ok.run((_e, s) => {
      s("200 OK", []);
      return [];
    });
    expect(ok.out.text).toBe("Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect(ok.err.value).toBe("");

    const h = new ErrorHandler();
    await h.run(() => {
      throw new Error("This should be caught by handler");
    });
    expect(h.out.text).toBe(
      `Status: ${h.errorStatus}\r\nContent-Type: text/plain\r\nContent-Length: ${h.errorBody.length}\r\n\r\n` + dec.decode(h.errorBody),
    );
    expect(h.err.value).toContain("This should be caught by handler");
    expect(h.err.flushes).toBe(1);
  });
  test("a result that is not an iterable body is an error: the 500 page, and the TypeError logged (wsgiref's TypeError)", async () => {
    for (const result of [null, undefined, 42, {}, false, "text", new Uint8Array([104, 105])]) {
      const h = new ErrorHandler();
      await h.run(((_e, s) => {
        s("200 OK", [["Content-Type", "text/plain"]]);
        return result;
      }) as Application);
      expect([result, h.out.text]).toEqual([result, expect.stringMatching(/^Status: 500 Internal Server Error\r\n/)]);
      expect(h.err.value).toContain("TypeError");
      expect(h.err.value).toContain(
        typeof result === "string" ? "returned a string" : result instanceof Uint8Array ? "returned a Uint8Array; return an iterable" : "not an iterable of Uint8Array",
      );
    }
  });
  test("the error page replaces headers the application had set", async () => {
    const h = new ErrorHandler();
    await h.run((_e, s) => {
      s("200 OK", [["X-App", "1"]]);
      throw new Error("late");
    });
    expect(h.out.text).toStartWith("Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n");
    expect(h.out.text).not.toContain("X-App");
  });
  test("an error after output is only logged (wsgiref testErrorAfterOutput)", async () => {
    const h = new ErrorHandler();
    await h.run(async (_e, s) => {
      await s("200 OK", [])(enc.encode("Some output has been sent"));
      throw new Error("This should be caught by handler");
    });
    expect(h.out.text).toBe("Status: 200 OK\r\n\r\nSome output has been sent");
    expect(h.err.value).toContain("This should be caught by handler");
  });
  test("the body's close() is called when iteration fails (wsgiref testCloseOnError)", async () => {
    let closed = false;
    const h = new ErrorHandler();
    await h.run(async (_e, s) => {
      await s("200 OK", [])(enc.encode("Some output has been sent"));
      return {
        *[Symbol.iterator]() {
          yield enc.encode("blah");
          throw new Error("This should be caught by handler");
        },
        close() {
          closed = true;
        },
      };
    });
    expect(closed).toBe(true);
  });
  test("errorStatus, errorHeaders, errorBody are configurable", async () => {
    const h = new ErrorHandler();
    h.errorStatus = "503 Service Unavailable";
    h.errorHeaders = [["Content-Type", "text/html"]];
    h.errorBody = enc.encode("<h1>down</h1>");
    await h.run(() => {
      throw new Error("x");
    });
    expect(h.out.text).toBe("Status: 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<h1>down</h1>");
    expect(h.errorHeaders).toEqual([["Content-Type", "text/html"]]);
  });
  test("errorOutput can be overridden and receives the error", async () => {
    class Diag extends ErrorHandler {
      override errorOutput(_env: Environ, sr: Parameters<BaseHandler["errorOutput"]>[1], error?: unknown): Body {
        sr("500 Internal Server Error", [["Content-Type", "text/plain"]], error);
        return [enc.encode(`oops: ${(error as Error).message}`)];
      }
    }
    const h = new Diag();
    await h.run(() => {
      throw new Error("detail");
    });
    expect(h.out.text).toEndWith("\r\n\r\noops: detail");
  });
  test("logException can be overridden; tracebackLimit limits frames", async () => {
    const logged: unknown[] = [];
    class Quiet extends ErrorHandler {
      override logException(e: unknown): void {
        logged.push(e);
      }
    }
    const q = new Quiet();
    const boom = new Error("b");
    await q.run(() => {
      throw boom;
    });
    expect(logged).toEqual([boom]);

    const h = new ErrorHandler();
    h.tracebackLimit = 1;
    const deep = () => {
      const inner = () => {
        throw new Error("deep");
      };
      return inner();
    };
    await h.run(() => deep());
    expect(h.err.value.split("\n").filter((l) => /^\s+at /.test(l)).length).toBe(1);
  });
  test("a thrown value that cannot be turned into text (no prototype, a Proxy whose prototype trap throws, a toString that throws) still gets the 500 page and a log entry (wsgiref prints \"<exception str() failed>\")", async () => {
    const unreadable = new Proxy({}, { getPrototypeOf() { throw new Error("a prototype trap that throws"); } });
    const cases: Array<[unknown, string]> = [
      // Plain objects are shown with their fields, as Bun prints an uncaught one (errorText).
      [Object.create(null), "Uncaught [Object: null prototype] {}"],
      [{ toString() { throw new Error("a toString that throws"); } }, "Uncaught { toString: [Function: toString] }"],
      [unreadable, "Uncaught (a thrown object that cannot be read: reading it threw Error: a prototype trap that throws)"],
    ];
    for (const [thrown, logged] of cases) {
      const h = new ErrorHandler();
      await h.run(() => {
        throw thrown;
      });
      expect([logged, h.out.text]).toEqual([logged, expect.stringMatching(/^Status: 500 Internal Server Error\r\n/)]);
      expect(h.err.value).toBe(`${logged}\n`);
      expect(formatException(thrown, 1)).toBe(`${logged}\n`);
    }
  });
  test("formatException: non-Error values, limits", () => {
    expect(formatException("str")).toBe('Uncaught "str"\n');
    expect(formatException(42)).toBe("Uncaught 42\n");
    const e = new Error("m");
    e.stack = "Error: m\n    at a\n    at b\n    at c";
    expect(formatException(e, 2)).toBe("Error: m\n    at a\n    at b\n");
    expect(formatException(e, 0)).toBe("Error: m\n");
    expect(formatException(e)).toBe("Error: m\n    at a\n    at b\n    at c\n");
  });
  test("formatException: the cause chain follows the stack (Python prints chained exceptions); a cycle is named, not repeated", () => {
    const root = new Error("root");
    root.stack = "SyntaxError: root\n    at p";
    const top = new Error("top", { cause: new Error("middle", { cause: root }) });
    top.stack = "Error: top\n    at t";
    (top.cause as Error).stack = "Error: middle\n    at m";
    expect(formatException(top)).toBe("Error: top\n    at t\nCaused by: Error: middle\n    at m\nCaused by: SyntaxError: root\n    at p\n");
    expect(formatException(new Error("e", { cause: "a string" })).split("\n").filter((l) => l.startsWith("Caused by"))).toEqual(["Caused by: a string"]);
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    a.stack = "Error: a";
    b.stack = "Error: b";
    expect(formatException(a)).toBe("Error: a\nCaused by: Error: b\nCaused by: (a cause shown above: Error: a)\n");
    const one = new Error("one");
    one.stack = "Error: one\n    at x";
    const group = new AggregateError([one, "two", one], "all failed");
    group.stack = "AggregateError: all failed\n    at g";
    expect(formatException(group)).toBe("AggregateError: all failed\n    at g\n  [1 of 3] Error: one\n      at x\n  [2 of 3] two\n  [3 of 3] (shown above: Error: one)\n");
  });
  test("a thrown undefined still produces the error page", async () => {
    const h = new ErrorHandler();
    await h.run((_e, s) => {
      s("200 OK", []);
      throw undefined;
    });
    expect(h.out.text).toStartWith("Status: 500");
  });
  test("client disconnects (EPIPE, ECONNRESET, ECONNABORTED, ERR_STREAM_DESTROYED) end quietly (wsgiref testClientConnectionTerminations)", async () => {
    for (const code of ["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_DESTROYED"]) {
      const h = new ErrorHandler();
      h.stdout = {
        write: () => {
          throw Object.assign(new Error("gone"), { code });
        },
      };
      await h.run(hello);
      expect(h.err.value).toBe("");
    }
  });
  test("any other error from the output stream is logged, and the handler's state (result, headers, status, environ) is kept for inspection (wsgiref testDontResetInternalStateOnException)", async () => {
    class CustomError extends Error {
      override name = "CustomError";
    }
    const err = new MemoryErrorStream();
    const h = new SimpleHandler(new BytesInput(), { write: () => { throw new CustomError("aborting writer"); } }, err, { SERVER_PROTOCOL: "HTTP/1.0" });
    h.osEnviron = {};
    await h.run(hello);
    expect(err.value).toContain("CustomError: aborting writer");
    expect([h.result, h.headers, h.status, h.environ].map((v) => v !== null && v !== undefined)).toEqual([true, true, true, true]);
    expect(h.status).toBe("200 OK");
  });
  test("an error while handling an error closes the handler and is thrown", async () => {
    let closed = 0;
    const h = new ErrorHandler();
    h.errorOutput = () => {
      throw new Error("second");
    };
    await expect(
      h.run((_e, s) => {
        s("200 OK", []);
        return Object.assign(
          {
            *[Symbol.iterator]() {
              throw new Error("first");
            },
          },
          { close: () => void closed++ },
        );
      }),
    ).rejects.toThrow("second");
    expect(closed).toBeGreaterThanOrEqual(1);
    expect(h.status).toBeNull();
  });
});

describe("BaseHandler: files, headers class, subclassing", () => {
  test("a FileWrapper result: resultIsFile and a sendfile override", async () => {
    class Native extends ErrorHandler {
      sent: Blob | undefined;
      override async sendfile(): Promise<boolean> {
        const fw = this.result as FileWrapper;
        if (!fw.blob) return false;
        this.sent = fw.blob;
        this.headers!.set("Content-Length", String(fw.blob.size));
        await this.sendHeaders();
        await this._write(new Uint8Array(await fw.blob.arrayBuffer()));
        return true;
      }
    }
    const blob = new Blob(["file body"]);
    const h = new Native();
    let isFile = false;
    const orig = h.resultIsFile.bind(h);
    h.resultIsFile = () => (isFile = orig());
    await h.run((e, s) => {
      s("200 OK", []);
      return e["tsgi.file_wrapper"]!(blob, 4);
    });
    expect(isFile).toBe(true);
    expect(h.sent).toBe(blob);
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Length: 9\r\n\r\nfile body");

    // without sendfile, the wrapper is iterated in blocks
    const plain = new ErrorHandler();
    await plain.run((e, s) => {
      s("200 OK", []);
      return e["tsgi.file_wrapper"]!(blob, 4);
    });
    expect(plain.out.text).toBe("Status: 200 OK\r\n\r\nfile body");
    expect(plain.out.chunks.length).toBe(5); // status, headers, then 3 blocks
  });
  test("resultIsFile is false when tsgiFileWrapper is null", () => {
    const h = new ErrorHandler();
    h.result = new FileWrapper(new Blob(["x"]));
    expect(h.resultIsFile()).toBe(true);
    h.tsgiFileWrapper = null;
    expect(h.resultIsFile()).toBe(false);
  });
  test("headersClass and cleanupHeaders can be customised", async () => {
    class MyHeaders extends Headers {}
    class Stamped extends ErrorHandler {
      override headersClass = MyHeaders;
      override cleanupHeaders(): void {
        super.cleanupHeaders();
        this.headers!.setdefault("X-Stamp", "1");
      }
    }
    const h = new Stamped();
    let cls: unknown;
    await h.run((_e, s) => {
      s("200 OK", []);
      cls = h.headers;
      return [enc.encode("x")];
    });
    expect(cls).toBeInstanceOf(MyHeaders);
    expect(h.out.text).toBe("Status: 200 OK\r\nContent-Length: 1\r\nX-Stamp: 1\r\n\r\nx");
  });
  test("a BaseHandler subclass implementing the abstract methods", async () => {
    const out: Uint8Array[] = [];
    class Mini extends BaseHandler {
      override osEnviron = {};
      _write(d: Uint8Array) {
        out.push(d);
      }
      _flush() {}
      getStdin(): InputStream {
        return new BytesInput();
      }
      getStderr() {
        return new MemoryErrorStream();
      }
      addCgiVars() {
        Object.assign(this.environ!, { SERVER_PROTOCOL: "HTTP/1.1", REQUEST_METHOD: "GET" });
      }
    }
    const h = new Mini();
    h.httpVersion = "1.1";
    await h.run(hello);
    expect(dec.decode(Buffer.concat(out))).toMatch(/^HTTP\/1\.1 200 OK\r\nDate: .+ GMT\r\nContent-Type: text\/plain\r\nContent-Length: 13\r\n\r\nHello, world!$/);
  });
  test("SimpleHandler is a conforming server under validator()", async () => {
    const warnings: string[] = [];
    let body: unknown;
    const app = validator(
      async (environ, sr) => {
        const got = await environ["tsgi.input"].read();
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [got];
      },
      { warn: (m) => warnings.push(m) },
    );
    const spy: Application = async (e, s) => (body = await app(e, s));
    const h = new SimpleHandler(
      new BytesInput("posted"),
      new Sink(),
      new MemoryErrorStream(),
      setupTestingDefaults({ REQUEST_METHOD: "POST", CONTENT_LENGTH: "6", SERVER_PROTOCOL: "HTTP/1.1" }),
    );
    await h.run(spy);
    expect((h.stdout as Sink).text).toEndWith("Content-Length: 6\r\n\r\nposted");
    expect((h.stderr as MemoryErrorStream).value).toBe("");
    expect(() => checkClosed(body)).not.toThrow();
    expect(warnings).toEqual([]);
  });
});

describe("BaseHandler: what the tsgi server does (spec.md)", () => {
  /** A SimpleHandler (status line) or BaseCGIHandler (Status:) over memory, with no Date to compare. */
  function handler(origin: boolean, env: Record<string, unknown> = {}) {
    const Kind = origin ? SimpleHandler : BaseCGIHandler;
    const h = new Kind(new BytesInput(), new Sink(), new MemoryErrorStream(), setupTestingDefaults({ SERVER_PROTOCOL: "HTTP/1.1", ...env }));
    h.osEnviron = {};
    return { h, out: h.stdout as Sink, err: h.stderr as MemoryErrorStream };
  }
  /** The header section without the status line and Date. */
  const fields = (text: string): string[] =>
    text.split("\r\n\r\n")[0]!.split("\r\n").slice(1).filter((l) => !l.startsWith("Date: "));

  test("a 204 loses the application's Content-Length (RFC 9110 §8.6); a 205 sends Content-Length: 0 and no body (RFC 9110 §15.3.6)", async () => {
    for (const origin of [true, false]) {
      for (const [status, expected] of [
        ["204 No Content", ["Content-Type: text/plain"]],
        ["205 Reset Content", ["Content-Type: text/plain", "Content-Length: 0"]],
      ] as const) {
        for (const body of [[enc.encode("hello")], (function* () { yield enc.encode("hello"); })()]) {
          const { h, out, err } = handler(origin);
          await h.run((_e, s) => {
            s(status, [["Content-Type", "text/plain"], ["Content-Length", "5"]]);
            return body;
          });
          expect([origin, status, fields(out.text)]).toEqual([origin, status, [...expected]]);
          expect(out.text).toEndWith("\r\n\r\n");
          expect(err.value).toBe("");
        }
      }
      // A 205 without a Content-Length of its own, an empty body, or HEAD: still 0.
      for (const [method, body] of [["GET", []], ["HEAD", [enc.encode("x")]]] as const) {
        const { h, out } = handler(origin, { REQUEST_METHOD: method });
        await h.run((_e, s) => {
          s("205 Reset Content", []);
          return [...body];
        });
        expect([origin, method, fields(out.text)]).toEqual([origin, method, ["Content-Length: 0"]]);
        expect(out.text).toEndWith("\r\n\r\n");
      }
    }
  });

  test("hop-by-hop fields are the server's list (gateway/hop-by-hop.ts): Trailer is removed, Upgrade kept on a 426, Proxy-Authenticate kept", async () => {
    for (const origin of [true, false]) {
      const t = handler(origin);
      await t.h.run((_e, s) => {
        s("200 OK", [["Trailer", "X-T"], ["Proxy-Connection", "keep-alive"], ["X-Keep", "1"]]);
        return [enc.encode("ok")];
      });
      expect(fields(t.out.text)).toEqual(["X-Keep: 1", "Content-Length: 2"]);
      expect(t.err.value).toContain("Hop-by-hop header 'Trailer: X-T' removed");
      expect(t.err.value).toContain("Hop-by-hop header 'Proxy-Connection: keep-alive' removed");

      const u = handler(origin);
      await u.h.run((_e, s) => {
        s("426 Upgrade Required", [["Upgrade", "TLS/1.3"], ["Connection", "Upgrade"]]);
        return [enc.encode("u")];
      });
      // An origin server names the option (RFC 9110 §7.8), as the tsgi server does; a CGI script leaves Connection to its web server.
      const connection = origin ? ["Connection: Upgrade"] : [];
      expect(fields(u.out.text)).toEqual(["Upgrade: TLS/1.3", ...connection, "Content-Length: 1"]);
      expect(u.err.value).toBe("Hop-by-hop header 'Connection: Upgrade' removed: framing and connection management are the server's (spec.md)\n");
      const bare = handler(origin);
      await bare.h.run((_e, s) => {
        s("426 Upgrade Required", [["Upgrade", "TLS/1.3"]]);
        return [enc.encode("u")];
      });
      expect(fields(bare.out.text)).toEqual(["Upgrade: TLS/1.3", ...connection, "Content-Length: 1"]);
      expect(bare.err.value).toBe("");

      const p = handler(origin);
      await p.h.run((_e, s) => {
        s("407 Proxy Authentication Required", [["Proxy-Authenticate", "Basic realm=\"x\""], ["Upgrade", "h2c"]]);
        return [enc.encode("p")];
      });
      expect(fields(p.out.text)).toEqual(["Proxy-Authenticate: Basic realm=\"x\"", "Content-Length: 1"]);
      expect(p.err.value).toContain("Hop-by-hop header 'Upgrade: h2c' removed");
    }
  });

  test("no startResponse call: the 500 and the server's error naming the contract, for an empty body and a non-empty one", async () => {
    for (const origin of [true, false]) {
      for (const body of [[], [enc.encode("x")], (function* () { yield enc.encode("x"); })()]) {
        const { h, out, err } = handler(origin);
        await h.run(() => body);
        expect(out.text).toStartWith(origin ? "HTTP/1.0 500 Internal Server Error\r\n" : "Status: 500 Internal Server Error\r\n");
        // A generator's chunk came before a startResponse it might still have made: the tsgi server's message for that.
        expect(err.value).toStartWith(
          Array.isArray(body)
            ? "Error: the application returned a body without calling startResponse() (PEP 3333)\n"
            : "Error: the body yielded a non-empty chunk before startResponse() was called; call it before the first non-empty chunk (PEP 3333)",
        );
        expect(err.value).not.toContain("TypeError");
      }
    }
  });

  test("a body shorter than its Content-Length is logged to the error stream (PEP 3333 \"Handling the Content-Length Header\")", async () => {
    for (const origin of [true, false]) {
      for (const body of [[enc.encode("12345")], (function* () { yield enc.encode("123"); yield enc.encode("45"); })(), []]) {
        const { h, out, err } = handler(origin);
        await h.run((_e, s) => {
          s("200 OK", [["Content-Length", "10"]]);
          return body;
        });
        expect(out.text).toContain("Content-Length: 10\r\n\r\n");
        const missing = out.text.endsWith("12345") ? 5 : 10;
        expect(err.value).toBe(`the application sent ${missing} bytes fewer than its Content-Length; the response is truncated (Content-Length: 10)\n`);
      }
      // Not for HEAD, a 304 (its Content-Length describes the selected representation), or an error already logged.
      for (const [method, status] of [["HEAD", "200 OK"], ["GET", "304 Not Modified"]]) {
        const { h, err } = handler(origin, { REQUEST_METHOD: method });
        await h.run((_e, s) => {
          s(status!, [["Content-Length", "10"]]);
          return [];
        });
        expect([method, err.value]).toEqual([method, ""]);
      }
      const { h, err } = handler(origin);
      await h.run((_e, s) => {
        s("200 OK", [["Content-Length", "10"]]);
        return (function* () {
          yield enc.encode("12");
          throw new Error("boom");
        })();
      });
      expect(err.value).toStartWith("Error: boom\n");
      expect(err.value).not.toContain("fewer than");
    }
  });
});

describe("readEnviron, formatDateTime, IIS", () => {
  test("request variables are transcoded from UTF-8 to latin-1 native strings; others are copied", () => {
    const env = readEnviron(
      {
        PATH_INFO: "/caf\u00e9",
        HTTP_X_NAME: "\u20ac",
        SSL_CLIENT_S_DN: "\u00e9",
        REDIRECT_QUERY_STRING: "q=\u00e9",
        HOME: "/home/\u00e9",
        MISSING: undefined,
      },
      "linux",
    );
    expect(env.PATH_INFO).toBe("/caf\xc3\xa9");
    expect(env.HTTP_X_NAME).toBe("\xe2\x82\xac");
    expect(env.SSL_CLIENT_S_DN).toBe("\xc3\xa9");
    expect(env.REDIRECT_QUERY_STRING).toBe("q=\xc3\xa9");
    expect(env.HOME).toBe("/home/\u00e9");
    expect("MISSING" in env).toBe(false);
  });
  test("win32: Apache values are kept, others transcoded", () => {
    expect(readEnviron({ SERVER_SOFTWARE: "Apache/2.4", PATH_INFO: "/\xe9" }, "win32").PATH_INFO).toBe("/\xe9");
    expect(readEnviron({ SERVER_SOFTWARE: "Microsoft-IIS/10.0", PATH_INFO: "/\u00e9" }, "win32").PATH_INFO).toBe("/\xc3\xa9");
  });
  test("readEnviron() defaults to process.env", () => {
    expect(readEnviron().PATH).toBe(process.env.PATH!);
  });
  test("formatDateTime is an IMF-fixdate", () => {
    expect(formatDateTime(784111777)).toBe("Sun, 06 Nov 1994 08:49:37 GMT");
    expect(formatDateTime()).toMatch(/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
  });
  test("fixIisPathInfo strips a repeated SCRIPT_NAME", () => {
    expect(fixIisPathInfo({ SCRIPT_NAME: "/app.cgi", PATH_INFO: "/app.cgi/x/y" }).PATH_INFO).toBe("/x/y");
    expect(fixIisPathInfo({ SCRIPT_NAME: "/app.cgi", PATH_INFO: "/app.cgi" }).PATH_INFO).toBe("");
    expect(fixIisPathInfo({ SCRIPT_NAME: "/app.cgi", PATH_INFO: "/app.cgix" }).PATH_INFO).toBe("/app.cgix");
    expect(fixIisPathInfo({ SCRIPT_NAME: "/app", PATH_INFO: "/other" }).PATH_INFO).toBe("/other");
    expect(fixIisPathInfo({ PATH_INFO: "/x" }).PATH_INFO).toBe("/x");
  });
  test("CGIHandler and IISCGIHandler read the process environment; flags as wsgiref", () => {
    const saved = { SCRIPT_NAME: process.env.SCRIPT_NAME, PATH_INFO: process.env.PATH_INFO };
    process.env.SCRIPT_NAME = "/app.cgi";
    process.env.PATH_INFO = "/app.cgi/x";
    try {
      const c = new CGIHandler();
      expect(c.baseEnv.PATH_INFO).toBe("/app.cgi/x");
      expect([c.tsgiRunOnce, c.tsgiMultithread, c.tsgiMultiprocess, c.originServer]).toEqual([true, false, true, false]);
      expect(c.osEnviron).toEqual({});
      const i = new IISCGIHandler();
      expect(i.baseEnv.PATH_INFO).toBe("/x");
      expect([i.tsgiRunOnce, i.tsgiMultithread, i.tsgiMultiprocess, i.originServer]).toEqual([true, false, true, false]);
      // Their stdin stops at CONTENT_LENGTH: tsgi.input_terminated.
      for (const h of [c, i]) {
        h.setupEnviron();
        expect(h.environ!["tsgi.input_terminated"]).toBe(true);
      }
      // A web server may leave PATH_INFO out (RFC 3875): the environ has "".
      delete process.env.PATH_INFO;
      expect(new CGIHandler().baseEnv.PATH_INFO).toBe("");
      expect(new IISCGIHandler().baseEnv.PATH_INFO).toBe("");
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

/** The environment a web server gives a CGI script at /app.cgi (RFC 3875 §4.1), with `vars` over it. */
function cgiEnv(vars: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH!, SCRIPT_NAME: "/app.cgi", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80", SERVER_PROTOCOL: "HTTP/1.1", GATEWAY_INTERFACE: "CGI/1.1", ...vars };
}

describe("CGIHandler: an app reusing one buffer for its chunks", () => {
  test("unawaited write() calls and a generator's chunks, one 8-byte buffer refilled a, b, c, d and spoiled after, go out as given (spec.md \"The write() callable\")", async () => {
    // A real CGI process: its stdout is a pipe, as under a web server.
    const script = `
      import { CGIHandler } from ${JSON.stringify(`${import.meta.dir}/../src/toolkit/handlers/index.ts`)};
      import { reuseOneBuffer } from ${JSON.stringify(`${import.meta.dir}/apps/reuse-one-buffer.ts`)};
      await new CGIHandler().run(reuseOneBuffer);
    `;
    const got: string[] = [];
    for (const path of ["/write", "/generator"]) {
      const env = cgiEnv({ REQUEST_METHOD: "GET", PATH_INFO: path });
      const proc = Bun.spawn([process.execPath, "-e", script], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => proc.kill(), 10_000);
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(timer);
      expect(`${code} ${stderr}`).toBe("0 ");
      got.push(`${path} ${stdout.slice(stdout.indexOf("\r\n\r\n") + 4)}`);
    }
    expect(got).toEqual([`/write ${REUSED_BODY}`, `/generator ${REUSED_BODY}`]);
  });
});

test("SimpleHandler over an output that keeps what it is given (the documented collector, a PassThrough): a generator reusing one buffer, and unawaited write() calls, go out as given", async () => {
  const got: string[] = [];
  for (const kind of ["collector", "PassThrough"]) {
    for (const path of ["/generator", "/write"]) {
      const out: Uint8Array[] = [];
      let stdout: { write(d: Uint8Array): unknown } = { write: (d) => void out.push(d) };
      if (kind === "PassThrough") {
        const stream = new PassThrough();
        stream.on("data", (d: Uint8Array) => out.push(d));
        stdout = stream;
      }
      const h = new SimpleHandler(new BytesInput(), stdout, new MemoryErrorStream(), { REQUEST_METHOD: "GET", SERVER_PROTOCOL: "HTTP/1.1", PATH_INFO: path });
      await h.run(reuseOneBuffer);
      // A PassThrough hands on what it was given in a later tick.
      await new Promise((r) => setTimeout(r, 20));
      const text = Buffer.concat(out).toString("latin1");
      got.push(`${kind} ${path} ${text.slice(text.indexOf("\r\n\r\n") + 4)}`);
    }
  }
  const body = REUSED_BODY;
  expect(got).toEqual([`collector /generator ${body}`, `collector /write ${body}`, `PassThrough /generator ${body}`, `PassThrough /write ${body}`]);
});

describe("CGIHandler: a request body cut short on stdin", () => {
  /** Run a CGI script (a real process) whose app reads the whole body, with CONTENT_LENGTH 10 and `body` on stdin. */
  async function runCgi(body: string) {
    const script = `
      import { CGIHandler } from ${JSON.stringify(`${import.meta.dir}/../src/toolkit/handlers/index.ts`)};
      await new CGIHandler().run(async (e, sr) => {
        const got = await e["tsgi.input"].read();
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [new TextEncoder().encode("got " + got.length + " bytes")];
      });
    `;
    const env = cgiEnv({ REQUEST_METHOD: "POST", CONTENT_LENGTH: "10", CONTENT_TYPE: "text/plain", PATH_INFO: "/upload" });
    const proc = Bun.spawn([process.execPath, "-e", script], { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(), 10_000);
    proc.stdin.write(body);
    await proc.stdin.end(); // the web server closes the script's stdin
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { stdout, stderr, code };
  }

  test("stdin closed after 4 of CONTENT_LENGTH 10 bytes: the app's read rejects (a 500 and the cause logged), never a 4-byte body that looks whole; 10 bytes are read as before", async () => {
    const cut = await runCgi("abcd");
    expect(cut.code).toBe(0);
    // Before: "Status: 200 OK" and "got 4 bytes", the truncated upload taken as the whole body.
    expect(cut.stdout).toStartWith("Status: 500 ");
    expect(cut.stdout).not.toContain("got 4 bytes");
    expect(cut.stderr).toContain("ClientDisconnected: the request body ended after 4 of its 10 bytes");
    const whole = await runCgi("abcdefghij");
    expect(whole.stdout).toStartWith("Status: 200 OK\r\n");
    expect(whole.stdout).toEndWith("got 10 bytes");
    expect(whole.stderr).toBe("");
  });
});

describe("CGIHandler and the client's Proxy: field (httpoxy, CVE-2016-5385)", () => {
  test("HTTP_PROXY, which a web server that keeps the Proxy: field (nginx with fcgiwrap) sets from it, is not the proxy of the app's fetch(); the environ keeps it", async () => {
    const proxied: string[] = [];
    const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (proxied.push(req.url), new Response("through the client's proxy")) });
    const backend = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("from the backend") });
    try {
      const target = `http://127.0.0.1:${backend.port}/api`;
      // The CGI script as a web server runs it (RFC 3875 meta-variables), the client having sent Proxy: <its server>.
      const cgi = Bun.spawn([process.execPath, resolve(import.meta.dir, "../fixtures/cgi/app.cgi")], {
        env: {
          PATH: process.env.PATH ?? "",
          GATEWAY_INTERFACE: "CGI/1.1",
          REQUEST_METHOD: "GET",
          SCRIPT_NAME: "/app.cgi",
          PATH_INFO: "/fetch",
          QUERY_STRING: encodeURIComponent(target),
          SERVER_NAME: "127.0.0.1",
          SERVER_PORT: "80",
          SERVER_PROTOCOL: "HTTP/1.1",
          HTTP_HOST: "127.0.0.1",
          HTTP_PROXY: `http://127.0.0.1:${proxy.port}`,
        },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => cgi.kill(), 10_000);
      const [out, err] = await Promise.all([new Response(cgi.stdout).text(), new Response(cgi.stderr).text()]);
      clearTimeout(timer);
      expect(await cgi.exited, err).toBe(0);
      expect(out).toStartWith("Status: 200 OK\r\n");
      expect(out).toContain("\r\n\r\nfrom the backend\n");
      expect(out).toContain(`HTTP_PROXY=http://127.0.0.1:${proxy.port}\n`);
      expect(proxied).toEqual([]);
    } finally {
      proxy.stop(true);
      backend.stop(true);
    }
  });
});

// ---------------------------------------------------------------------------
// CGI end to end: a real web server runs fixtures/cgi/app.cgi.

const FIXTURE = resolve(import.meta.dir, "../fixtures/cgi/app.cgi");
const SEARCH_PATH = [process.env.PATH ?? "", "/usr/sbin", "/usr/local/sbin", "/sbin"].join(":");

type CgiServer = { kind: "lighttpd" | "busybox"; bin: string };

/** lighttpd if installed, else busybox httpd; TSGI_CGI_SERVER=lighttpd|busybox|none forces one (or none). */
function findCgiServer(): CgiServer | null {
  const only = process.env.TSGI_CGI_SERVER;
  if (only === "none") return null;
  const lighttpd = only === "busybox" ? null : Bun.which("lighttpd", { PATH: SEARCH_PATH });
  if (lighttpd) return { kind: "lighttpd", bin: lighttpd };
  const busybox = only === "lighttpd" ? null : Bun.which("busybox", { PATH: SEARCH_PATH });
  if (busybox) {
    const list = Bun.spawnSync([busybox, "--list"]).stdout.toString().split("\n");
    if (list.includes("httpd")) return { kind: "busybox", bin: busybox };
  }
  return null;
}

const cgiServer = findCgiServer();
if (!cgiServer) {
  console.warn(
    "SKIP CGI end-to-end test: no CGI-capable web server found (install the Debian package 'lighttpd', or 'busybox' with httpd)",
  );
}

/** fetch without connection reuse (busybox httpd closes every connection). */
function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    keepalive: false,
    headers: { ...(init.headers as Record<string, string>), Connection: "close" },
    signal: AbortSignal.timeout(10_000),
  });
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

describe.skipIf(!cgiServer)("CGIHandler end to end under a real web server", () => {
  let dir = "";
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let base = "";

  beforeAll(async () => {
    const { kind, bin } = cgiServer!;
    dir = mkdtempSync(join(tmpdir(), "tsgi-cgi-"));
    const wrapper = `#!/bin/sh\nexec "${process.execPath}" "${FIXTURE}"\n`;
    const port = freePort();
    let cmd: string[];
    if (kind === "lighttpd") {
      const docroot = join(dir, "htdocs");
      mkdirSync(docroot);
      writeFileSync(join(docroot, "app.cgi"), wrapper);
      chmodSync(join(docroot, "app.cgi"), 0o755);
      writeFileSync(
        join(dir, "lighttpd.conf"),
        [
          `server.document-root = "${docroot}"`,
          `server.bind = "127.0.0.1"`,
          `server.port = ${port}`,
          `server.modules = ( "mod_cgi" )`,
          `server.errorlog = "${join(dir, "error.log")}"`,
          `cgi.assign = ( ".cgi" => "" )`,
          "",
        ].join("\n"),
      );
      cmd = [bin, "-D", "-f", join(dir, "lighttpd.conf")];
      base = `http://127.0.0.1:${port}/app.cgi`;
    } else {
      mkdirSync(join(dir, "cgi-bin"));
      writeFileSync(join(dir, "cgi-bin", "app.cgi"), wrapper);
      chmodSync(join(dir, "cgi-bin", "app.cgi"), 0o755);
      cmd = [bin, "httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", dir];
      base = `http://127.0.0.1:${port}/cgi-bin/app.cgi`;
    }
    proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
        break;
      } catch {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`${kind} did not start`);
        await Bun.sleep(25);
      }
    }
  });

  afterAll(() => {
    proc?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("GET shows PATH_INFO and QUERY_STRING", async () => {
    const res = await get(`${base}/a/b%20c?x=1&y=%20`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const text = await res.text();
    expect(text).toContain("REQUEST_METHOD=GET\n");
    expect(text).toContain("PATH_INFO=/a/b c\n");
    expect(text).toContain("QUERY_STRING=x=1&y=%20\n");
    expect(text).toMatch(/SCRIPT_NAME=\/(cgi-bin\/)?app\.cgi\n/);
    expect(text).toContain("run_once=true\n");
    expect(res.headers.get("content-length")).toBe(String(new TextEncoder().encode(text).length));
  });

  test("POST echoes the body", async () => {
    const payload = "hello=world&bytes=" + "x".repeat(5000);
    const res = await get(base, { method: "POST", body: payload, headers: { "Content-Type": "text/x-test" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/x-test");
    expect(res.headers.get("x-body-length")).toBe(String(payload.length));
    expect(await res.text()).toBe(payload);
  });

  test("the status goes out through the CGI Status: header; errors become the 500 page", async () => {
    const missing = await get(`${base}/missing`);
    const error = await get(`${base}/error`);
    expect(missing.status).toBe(404);
    expect(error.status).toBe(500);
    expect(await missing.text()).toBe("not found\n");
    expect(await error.text()).toBe("A server error occurred.  Please contact the administrator.");
  });
});
