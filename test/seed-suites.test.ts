/**
 * Server cases from the seeds' own test suites that no other file covers:
 * gevent's src/gevent/tests/test__pywsgi.py and eventlet's tests/wsgi_test.py,
 * translated to the tsgi server and raw bytes on 127.0.0.1. Each test names
 * the seed test it ports; where tsgi answers otherwise on purpose, the test
 * pins tsgi's answer and names the spec.md / docs/server.md rule.
 */
import { describe, expect, test } from "bun:test";
import type { Application, Environ } from "../src/spec.ts";
import { parseResponses, raw, serverPool } from "./helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);
const start = serverPool();
const CLOSE = "Host: localhost\r\nConnection: close\r\n";

/** The raw answer's chunk sizes and data, in order, for a chunked response (no parsing shortcuts). */
function chunksOf(answer: string): string[] {
  let rest = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  const out: string[] = [];
  for (let i = 0; i < 100; i++) {
    const eol = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) {
      expect(rest.slice(eol)).toBe("\r\n\r\n"); // the last chunk, no trailers, nothing after it
      return out;
    }
    out.push(rest.slice(eol + 2, eol + 2 + size));
    expect(rest.slice(eol + 2 + size, eol + 4 + size)).toBe("\r\n");
    rest = rest.slice(eol + 4 + size);
  }
  throw new Error("too many chunks");
}

describe("gevent test__pywsgi", () => {
  test("TestEmptyYield, TestFirstEmptyYield, TestEmptyWrite: empty chunks are not sent as chunks (an empty one would end the body); nothing follows the response", async () => {
    const apps: Record<string, Application> = {
      "/empty-yield": function* (_e, sr) {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        yield new Uint8Array(0);
        yield new Uint8Array(0);
      },
      "/first-empty-yield": async function* (_e, sr) {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        yield new Uint8Array(0);
        await Bun.sleep(20); // the headers go out with the first non-empty chunk, not before
        yield text("hello");
      },
      "/empty-write": async (_e, sr) => {
        const write = sr("200 OK", [["Content-Type", "text/plain"]]);
        await write(new Uint8Array(0));
        await write(new Uint8Array(0));
        return [];
      },
    };
    const s = start((e, sr) => apps[e.PATH_INFO]!(e, sr));
    const answer = async (path: string) => (await raw(s.port, `GET ${path} HTTP/1.1\r\n${CLOSE}\r\n`)).data.toString("latin1");
    // gevent sends an empty chunked body; tsgi knows the generator ended before any byte: Content-Length: 0.
    const emptyYield = await answer("/empty-yield");
    expect(emptyYield).toContain("\r\nContent-Length: 0\r\n");
    expect(emptyYield).toEndWith("\r\n\r\n");
    expect(chunksOf(await answer("/first-empty-yield"))).toEqual(["hello"]);
    expect(chunksOf(await answer("/empty-write"))).toEqual([]);
    expect(s.errors).toEqual([]);
  });

  test("TestCloseIter: the body's close() is called exactly once and its chunks go out as yielded; TestUseWrite: write() chunks, then the body's, one chunk each; with the app's Content-Length no chunking", async () => {
    let closed = 0;
    const apps: Record<string, Application> = {
      "/close-iter": (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return {
          *[Symbol.iterator]() {
            yield text("Hello World");
            yield text("!");
          },
          close() {
            closed++;
          },
        };
      },
      "/no-content-length-twice": (_e, sr) => {
        const write = sr("200 OK", [["Content-Type", "text/plain"]]);
        void write(text("abcde"));
        void write(text("abcde"));
        return [text("end")];
      },
      "/explicit-content-length": (_e, sr) => {
        const write = sr("200 OK", [
          ["Content-Type", "text/plain"],
          ["Content-Length", "8"],
        ]);
        void write(text("abcde"));
        return [text("end")];
      },
    };
    const s = start((e, sr) => apps[e.PATH_INFO]!(e, sr));
    const answer = async (path: string) => (await raw(s.port, `GET ${path} HTTP/1.1\r\n${CLOSE}\r\n`)).data.toString("latin1");
    expect(chunksOf(await answer("/close-iter"))).toEqual(["Hello World", "!"]);
    expect(closed).toBe(1);
    expect(chunksOf(await answer("/no-content-length-twice"))).toEqual(["abcde", "abcde", "end"]);
    const explicit = parseResponses((await raw(s.port, `GET /explicit-content-length HTTP/1.1\r\n${CLOSE}\r\n`)).data)[0]!;
    expect([explicit.framing, explicit.headers["content-length"], "transfer-encoding" in explicit.headers, explicit.body.toString()] as unknown[]).toEqual(["length", "8", false, "abcdeend"]);
  });

  test("ChunkedInputTests.test_short_read: an app that reads 10 bytes of a chunked body is answered, and the next request on the connection too (the rest of the body is read past)", async () => {
    const apps: Record<string, Application> = {
      "/short-read": async (e, sr) => {
        const d = await e["tsgi.input"].read(10);
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [d];
      },
      "/ping": async (e, sr) => {
        await e["tsgi.input"].read(1);
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [text("pong")];
      },
    };
    const s = start((e, sr) => apps[e.PATH_INFO]!(e, sr));
    const body = ["this", " is ", "chunked", "\nline", " 2", "\n", "line3", ""].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join("");
    const r = await raw(s.port, [`POST /short-read HTTP/1.1\r\nHost: h\r\ntransfer-encoding: Chunked\r\n\r\n${body}`, `GET /ping HTTP/1.1\r\n${CLOSE}\r\n`], { gapMs: 50 });
    expect(parseResponses(r.data).map((x) => [x.status, x.body.toString()])).toEqual([
      [200, "this is ch"],
      [200, "pong"],
    ]);
  });

  test("TestInvalidEnviron: a GET without a body has no CONTENT_LENGTH or CONTENT_TYPE key and no HTTP_* key but Host, on HTTP/1.0 and HTTP/1.1", async () => {
    const seen: string[][] = [];
    const s = start((e, sr) => {
      seen.push(Object.keys(e).filter((k) => k === "CONTENT_LENGTH" || k === "CONTENT_TYPE" || k.startsWith("HTTP_")));
      sr("200 OK", []);
      return [];
    });
    await raw(s.port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
    await raw(s.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen).toEqual([["HTTP_HOST"], ["HTTP_HOST"]]);
  });

  test("MultipleCookieHeadersTest: Cookie lines join with \"; \" in order; Cookie2 lines (RFC 2965, obsolete) join with \", \" as any other field here, where gevent joins every *COOKIE* key with \"; \"", async () => {
    let got: [unknown, unknown] = [undefined, undefined];
    const s = start((e, sr) => {
      got = [e.HTTP_COOKIE, e.HTTP_COOKIE2];
      sr("200 OK", []);
      return [];
    });
    const r = await raw(s.port, `GET / HTTP/1.1\r\nHost: localhost\r\nCookie: name1="value1"\r\nCookie2: nameA="valueA"\r\nCookie2: nameB="valueB"\r\nCookie: name2="value2"\r\nConnection: close\r\n\r\n`);
    expect(r.data.toString("latin1")).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(got).toEqual(['name1="value1"; name2="value2"', 'nameA="valueA", nameB="valueB"']);
  });

  test("on purpose, stricter or otherwise than gevent: read(-1)/readline(-1) reject (spec.md: a RangeError), CL with TE, a NUL in a chunk extension and obs-fold are a 400, a 304 keeps its Content-Length and drops a body (spec.md \"No body\")", async () => {
    const apps: Record<string, Application> = {
      "/read": async (e, sr) => (sr("200 OK", []), [await e["tsgi.input"].read(-1)]),
      "/readline": async (e, sr) => (sr("200 OK", []), [await e["tsgi.input"].readline(-1)]),
      "/cl304": (_e, sr) => (sr("304 Not Modified", [["Content-Length", "100"]]), [text("body")]),
      "/ok": (_e, sr) => (sr("200 OK", []), [text("ok")]),
    };
    const s = start((e, sr) => apps[e.PATH_INFO]!(e, sr));
    const first = async (request: string) => (await raw(s.port, request)).data.toString("latin1");
    for (const path of ["/read", "/readline"]) {
      expect(await first(`POST ${path} HTTP/1.1\r\n${CLOSE}Content-Length: 6\r\n\r\noh hai`)).toStartWith("HTTP/1.1 500 ");
    }
    expect(s.errors.join("")).toContain("RangeError: tsgi.input.read(size): size must be a non-negative integer, got -1");
    expect(s.errors.join("")).toContain("RangeError: tsgi.input.readline(size): size must be a non-negative integer, got -1");
    expect(await first(`POST /ok HTTP/1.1\r\n${CLOSE}Content-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n{"hi": "ho"}`)).toStartWith("HTTP/1.1 400 ");
    expect(await first(`POST /ok HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\n4; here is dirt\0bla\r\nthis\r\n0\r\n\r\n`)).toStartWith("HTTP/1.1 400 ");
    expect(await first(`POST /ok HTTP/1.0\r\nHost: localhost\r\nContent-Type: multipart/related; boundary="====XXXX====";\r\n type="text/xml";start="test.submit"\r\nContent-Length: 0\r\n\r\n`)).toStartWith("HTTP/1.1 400 ");
    const notModified = await first(`GET /cl304 HTTP/1.1\r\n${CLOSE}\r\n`);
    expect(notModified).toStartWith("HTTP/1.1 304 Not Modified\r\n");
    expect(notModified).toContain("\r\nContent-Length: 100\r\n");
    expect(notModified).toEndWith("\r\n\r\n");
  });
});

describe("eventlet wsgi_test", () => {
  test("test_021_environ_clobbering: an app that sets the environ's keys to null (or deletes them all) is still answered, also on a kept-alive connection and for HEAD", async () => {
    const keys = ["tsgi.version", "tsgi.url_scheme", "tsgi.input", "tsgi.errors", "tsgi.multithread", "tsgi.multiprocess", "tsgi.run_once", "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REQUEST_URI", "HTTP_HOST", "HTTP_CONNECTION"];
    const s = start((e: Environ, sr) => {
      const drop = e.PATH_INFO === "/delete";
      for (const k of drop ? Object.keys(e) : keys) {
        if (drop) delete (e as Record<string, unknown>)[k];
        else (e as Record<string, unknown>)[k] = null;
      }
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [text("x")];
    });
    const r = await raw(s.port, "GET /null HTTP/1.1\r\nHost: localhost\r\n\r\nHEAD /delete HTTP/1.1\r\nHost: localhost\r\n\r\nGET /delete HTTP/1.0\r\nHost: localhost\r\n\r\n");
    const rs = parseResponses(r.data, ["GET", "HEAD", "GET"]);
    expect(rs.map((x) => [x.status, x.body.toString()])).toEqual([
      [200, "x"],
      [200, ""],
      [200, "x"],
    ]);
    expect(r.closed).toBe(true);
    expect(s.errors).toEqual([]);
  });

  test("test_018b_http_10_keepalive_framing: HTTP/1.0 keep-alive requests whose bodies the app never reads, one with Expect (no 100 to HTTP/1.0), are framed by their Content-Length: a body that looks like a request line is not taken for one", async () => {
    const s = start((e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [text(({ "/1": "first response", "/2": "second response", "/3": "third response" } as Record<string, string>)[e.PATH_INFO] ?? `Unexpected path: ${e.PATH_INFO}`)];
    });
    const body = "GET /tricksy HTTP/1.1\r\n";
    const r = await raw(
      s.port,
      [
        `PUT /1 HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        `PUT /2 HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
        body,
        "PUT /3 HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      ],
      { gapMs: 50 },
    );
    const rs = parseResponses(r.data);
    expect(rs.map((x) => [x.status, x.body.toString(), x.headers.connection])).toEqual([
      [200, "first response", "keep-alive"],
      [200, "second response", "keep-alive"], // eventlet closes here; the body was read past, so tsgi can keep the connection
      [200, "third response", "close"],
    ]);
  });

  test("test_024_expect_100_continue (and gevent Expect100ContinueTests): a final answer without reading the body closes the connection; with 100-continue or 100-Continue, requests go one after another on one connection", async () => {
    const s = start(async (e, sr) => {
      const n = Number(e.CONTENT_LENGTH);
      if (n > 1024) {
        sr("417 Expectation Failed", [["Content-Length", "7"]]);
        return [text("failure")];
      }
      const first = await e["tsgi.input"].read(1);
      const rest = await e["tsgi.input"].read(n - 1);
      sr("200 OK", [["Content-Length", String(first.length + rest.length)]]);
      return [first, rest];
    });
    const refused = await raw(s.port, ["PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 1025\r\nExpect: 100-continue\r\n\r\n", "x".repeat(25)], { gapMs: 100 });
    const [failure] = parseResponses(refused.data);
    expect([failure!.status, failure!.body.toString(), failure!.headers.connection, refused.closed]).toEqual([417, "failure", "close", true]);
    const put = (expect100: string) => `PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 7\r\nExpect: ${expect100}\r\n\r\n`;
    const ok = await raw(s.port, [put("100-continue"), "testing", put("100-Continue"), "testing"], { gapMs: 50, until: (d) => d.toString().split("testing").length === 3 });
    expect(parseResponses(ok.data).map((x) => [x.status, x.body.toString()])).toEqual([
      [100, ""],
      [200, "testing"],
      [100, ""],
      [200, "testing"],
    ]);
  });
});
