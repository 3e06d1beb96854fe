/**
 * The request parser, rule by rule (RFC 9112 strict, llhttp strict mode as
 * reference): every rejection asserts its exact status fed whole, one byte
 * at a time and split in two at every offset.
 */
import { describe, expect, test } from "bun:test";
import { HttpError } from "../src/http/errors.ts";
import { DEFAULT_PARSER_LIMITS, RequestParser, type ParserLimits, type RequestHead } from "../src/http/parser.ts";
import { dec, enc, run, type Outcome } from "./parser-harness.ts";
import { watchForEndlessLoops } from "./loop-watchdog.ts";

watchForEndlessLoops(import.meta.path);


const whole = (s: string, limits?: Partial<ParserLimits>): Outcome => run(enc(s), [], limits);

/** Assert `input` is rejected with `status` fed whole, byte by byte and split in two anywhere. */
function rejects(input: string, status: number, limits?: Partial<ParserLimits>): void {
  const b = enc(input);
  const ref = run(b, [], limits);
  if (ref.status !== status) expect({ input, status: ref.status, message: ref.message }).toEqual({ input, status, message: ref.message });
  const bw = run(
    b,
    Array.from({ length: Math.max(0, b.length - 1) }, (_, k) => k + 1),
    limits,
  );
  expect(bw).toEqual(ref);
  for (let k = 1; k < b.length; k++) {
    const got = run(b, [k], limits);
    if (!Bun.deepEquals(got, ref)) expect({ split: k, got }).toEqual({ split: k, got: ref });
  }
}

/** Assert `input` parses without error (whole and byte by byte) and return its heads. */
function accepts(input: string, limits?: Partial<ParserLimits>): RequestHead[] {
  const b = enc(input);
  const ref = run(b, [], limits);
  if (ref.status !== null) expect<unknown>({ input, status: ref.status, message: ref.message }).toEqual({ input, status: null, message: null });
  expect(run(b, Array.from({ length: Math.max(0, b.length - 1) }, (_, k) => k + 1), limits)).toEqual(ref);
  return ref.events.filter((e): e is ["head", RequestHead] => e[0] === "head").map((e) => e[1]);
}

const GET = (fields = "Host: h\r\n", version = "HTTP/1.1"): string => `GET / ${version}\r\n${fields}\r\n`;
const CHUNKED = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

// ---------------------------------------------------------------------------

describe("empty lines before the request-line (RFC 9112 §2.2)", () => {
  test("up to 8 are skipped", () => {
    expect(accepts("\r\n".repeat(8) + GET())).toHaveLength(1);
  });
  test("a 9th → 400", () => rejects("\r\n".repeat(9) + GET(), 400));
  test("counted per message", () => {
    expect(accepts("\r\n".repeat(8) + GET() + "\r\n".repeat(8) + GET())).toHaveLength(2);
  });
  test("bare LF → 400", () => rejects("\n" + GET(), 400));
  test("bare CR → 400", () => rejects("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400));
});

describe("line endings must be CRLF", () => {
  const cases: [string, string][] = [
    ["bare LF after the request-line", "GET / HTTP/1.1\nHost: h\r\n\r\n"],
    ["bare LF after a field line", "GET / HTTP/1.1\r\nHost: h\n\r\n"],
    ["bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\n"],
    ["bare LF everywhere", "GET / HTTP/1.1\nHost: h\n\n"],
    ["bare CR in the request-line", "GET / HTTP/1.1\rHost: h\r\n\r\n"],
    ["bare CR inside the request-target", "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"],
    ["bare CR inside a value", "GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n"],
    ["bare CR ending a value", "GET / HTTP/1.1\r\nHost: h\r\r\n\r\n"],
    ["bare CR ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\rX"],
    ["CR CR LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"],
    ["bare LF after a chunk-size", CHUNKED + "5\nhello\r\n0\r\n\r\n"],
    ["bare CR after a chunk-size", CHUNKED + "5\rhello\r\n0\r\n\r\n"],
    ["bare LF after a chunk-ext", CHUNKED + "5;a=b\nhello\r\n0\r\n\r\n"],
    ["bare LF after chunk-data", CHUNKED + "5\r\nhello\n0\r\n\r\n"],
    ["bare CR after chunk-data", CHUNKED + "5\r\nhello\r0\r\n\r\n"],
    ["bare LF after the last-chunk", CHUNKED + "0\n\r\n"],
    ["bare LF ending the trailer section", CHUNKED + "0\r\n\n"],
    ["bare LF after a trailer field", CHUNKED + "0\r\nT: x\n\r\n"],
    ["bare CR in a trailer field", CHUNKED + "0\r\nT: x\ry\r\n\r\n"],
  ];
  for (const [name, input] of cases) test(`${name} → 400`, () => rejects(input, 400));
});

describe("request-line (RFC 9112 §3)", () => {
  test("method, target and version are delivered raw", () => {
    const [h] = accepts("PROPFIND /a/b%20c?d=e&f=g HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(h.method).toBe("PROPFIND");
    expect(h.target).toBe("/a/b%20c?d=e&f=g");
    expect(h.version).toBe("HTTP/1.1");
  });
  test("method case is preserved, any tchar accepted", () => {
    expect(accepts("get / HTTP/1.1\r\nHost: h\r\n\r\n")[0].method).toBe("get");
    expect(accepts("!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: h\r\n\r\n")[0].method).toBe("!#$%&'*+-.^_`|~09azAZ");
  });
  test("every byte 0x21-0x7E but # is accepted in the target", () => {
    let t = "/"; // origin-form: a target must start with "/" (RFC 9112 §3.2)
    for (let c = 0x21; c <= 0x7e; c++) if (c !== 0x23) t += String.fromCharCode(c);
    expect(accepts(`GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`)[0].target).toBe(t);
  });
  test("a fragment (#) in the target → 400 (RFC 9112 §3.2: clients never send one; cheroot agrees)", () => {
    for (const t of ["/a#frag", "/a?x=1#f", "/#", "http://h/p#f"]) {
      const input = `GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`;
      rejects(input, 400);
      expect([t, run(enc(input), []).message]).toEqual([t, expect.stringContaining("fragment")]);
    }
  });
  const bad: [string, string][] = [
    ["two spaces after the method", "GET  / HTTP/1.1\r\n"],
    ["two spaces before the version", "GET /  HTTP/1.1\r\n"],
    ["leading space", " GET / HTTP/1.1\r\n"],
    ["empty method (the line starts with its first space)", " / HTTP/1.1\r\n"],
    ["trailing space", "GET / HTTP/1.1 \r\n"],
    ["HTAB as separator", "GET\t/ HTTP/1.1\r\n"],
    ["HTAB before the version", "GET /\tHTTP/1.1\r\n"],
    ["HTTP/0.9 request (no version)", "GET /\r\n"],
    ["method only", "GET\r\n"],
    ["method and space only", "GET \r\n"],
    ["empty line then garbage", "\r\n:\r\n"],
    ["non-tchar in method", "GE(T / HTTP/1.1\r\n"],
    ["@ in method", "GE@T / HTTP/1.1\r\n"],
    ["obs-text in method", "G\xc9T / HTTP/1.1\r\n"],
    ["NUL in method", "GE\x00T / HTTP/1.1\r\n"],
    ["NUL in target", "GET /a\x00 HTTP/1.1\r\n"],
    ["control in target", "GET /a\x01 HTTP/1.1\r\n"],
    ["HTAB in target", "GET /a\tb HTTP/1.1\r\n"],
    ["DEL in target", "GET /a\x7f HTTP/1.1\r\n"],
    ["obs-text 0x80 in target", "GET /a\x80 HTTP/1.1\r\n"],
    ["obs-text 0xFF in target", "GET /\xff HTTP/1.1\r\n"],
    ["space inside the target", "GET /a b HTTP/1.1\r\n"],
    ["lowercase http", "GET / http/1.1\r\n"],
    ["HTTPS/1.1", "GET / HTTPS/1.1\r\n"],
    ["HTTP/1", "GET / HTTP/1\r\n"],
    ["HTTP/1.", "GET / HTTP/1.\r\n"],
    ["HTTP/11.1", "GET / HTTP/11.1\r\n"],
    ["HTTP/1.10", "GET / HTTP/1.10\r\n"],
    ["HTTP/1.x", "GET / HTTP/1.x\r\n"],
    ["HTTP/x.1", "GET / HTTP/x.1\r\n"],
    ["HTTP/1,1", "GET / HTTP/1,1\r\n"],
    ["HTTP/2", "GET / HTTP/2\r\n"],
    ["HTTP/ 1.1", "GET / HTTP/ 1.1\r\n"],
  ];
  for (const [name, line] of bad) test(`${name} → 400`, () => rejects(line + "Host: h\r\n\r\n", 400));
  test("an HTTP/0.9 request line is named as such", () => {
    for (const line of ["GET /\r\n\r\n", "GET /index.html\n\n"]) {
      const r = whole(line);
      expect([r.status, r.message]).toEqual([400, "Request line without an HTTP-version (HTTP/0.9 is not supported)"]);
    }
    expect(whole("GET /a\x01 HTTP/1.1\r\n").message).toBe("Invalid character in request-target");
    expect(whole("GET /a b HTTP/1.1\r\n").message).toMatch(/^Invalid request line: no HTTP-version after the request-target \(a space/);
  });
  test("a request-line whose version does not start with H is told about a space in the target only when that is what it has", () => {
    const cases: [string, string][] = [
      ["GET /a b HTTP/1.1", "Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)"],
      ["GET /a http/1.1", "Invalid HTTP version (HTTP-name is case-sensitive: HTTP/1.1)"],
      ["GET /a  HTTP/1.1", "Invalid request line: more than one space between the request-target and the HTTP-version"],
      ["GET /a ", "Request line without an HTTP-version after the request-target's space"],
      ["GET /a RTSP/1.0", "Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)"],
      // A word of the target that starts with h is a space inside the target, not a lowercase version.
      ["GET /search?q=how to HTTP/1.1", "Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)"],
      ["GET /a h", "Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)"],
      ["GET /a HTtp/1.1", "Invalid HTTP version (HTTP-name is case-sensitive: HTTP/1.1)"],
      ["GET /a HTTP/1,1", "Invalid HTTP version"],
      ["GET /a HTxP/1.1", "Invalid HTTP version"],
      // Whitespace after a well-formed version: the line must end there (RFC 9112 §3).
      ["GET /a HTTP/1.1 x", "Invalid request line: something after the HTTP-version (the line must end right after it)"],
      ["GET /a HTTP/1.1 ", "Invalid request line: something after the HTTP-version (the line must end right after it)"],
      ["GET /a HTTP/1.1\tx", "Invalid request line: something after the HTTP-version (the line must end right after it)"],
      ["GET /a HTTP/1.10", "Invalid HTTP version"],
    ];
    for (const [line, message] of cases) {
      const bytes = new TextEncoder().encode(`${line}\r\nHost: h\r\n\r\n`);
      for (const step of [bytes.length, 1]) {
        const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} });
        let got: unknown = null;
        try {
          for (let i = 0; i < bytes.length; i += step) p.execute(bytes.subarray(i, i + step));
        } catch (error) {
          got = error;
        }
        expect([line, step === 1, (got as HttpError | null)?.status, (got as HttpError | null)?.message]).toEqual([line, step === 1, 400, message]);
      }
    }
  });

  for (const v of ["HTTP/0.9", "HTTP/2.0", "HTTP/3.0", "HTTP/9.9", "HTTP/0.0"]) {
    test(`${v} → 505`, () => rejects(`GET / ${v}\r\nHost: h\r\n\r\n`, 505));
  }
  test("HTTP/1.0 and HTTP/1.1 as such; HTTP/1.2-1.9 answered as HTTP/1.1", () => {
    expect(accepts(GET("", "HTTP/1.0"))[0].version).toBe("HTTP/1.0");
    expect(accepts(GET())[0].version).toBe("HTTP/1.1");
    expect(accepts(GET("Host: h\r\n", "HTTP/1.2"))[0].version).toBe("HTTP/1.1");
    expect(accepts(GET("Host: h\r\n", "HTTP/1.9"))[0].version).toBe("HTTP/1.1");
  });
});

describe("request-target and request-line length → 414", () => {
  const limits = { maxRequestTarget: 16 };
  test("a target of exactly maxRequestTarget is accepted", () => {
    expect(accepts(`GET /${"a".repeat(15)} HTTP/1.1\r\nHost: h\r\n\r\n`, limits)[0].target).toHaveLength(16);
  });
  test("one byte more → 414", () => rejects(`GET /${"a".repeat(16)} HTTP/1.1\r\nHost: h\r\n\r\n`, 414, limits));
  test("default limit 8192", () => {
    expect(accepts(`GET /${"a".repeat(8191)} HTTP/1.1\r\nHost: h\r\n\r\n`)[0].target).toHaveLength(8192);
    expect(whole(`GET /${"a".repeat(8192)} HTTP/1.1\r\nHost: h\r\n\r\n`).status).toBe(414);
  });
  test("414 is thrown as soon as the target is too long, before any LF", () => {
    expect(whole(`GET /${"a".repeat(16)}`, limits).status).toBe(414);
    expect(whole(`GET /${"a".repeat(15)}`, limits).status).toBeNull();
  });
  test("a method longer than the request-line limit (maxRequestTarget + 64) → 501 without waiting for LF (RFC 9112 §3)", () => {
    expect(whole("A".repeat(16 + 64), limits).status).toBeNull();
    rejects("A".repeat(16 + 65), 501, limits);
    const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} }, limits);
    for (let k = 0; k < 80; k++) expect(p.execute(enc("A"))).toBe(1);
    expect(() => p.execute(enc("A"))).toThrow(HttpError);
    expect(p.error?.status).toBe(501);
    expect(p.error?.message).toBe("Method too long: longer than any method this server implements");
  });
  test("a request-line that passes maxRequestTarget + 64 inside its target → 414 without waiting for LF", () => {
    // A 70-byte method leaves the target 9 bytes of the 80-byte line.
    rejects(`${"M".repeat(70)} /${"a".repeat(12)}`, 414, limits);
  });
  test("a whole request-line of maxRequestTarget + 64 bytes is accepted", () => {
    // method 49 + SP + target 16 + SP + version 8 = 75... pad the method to reach 80
    const line = `${"M".repeat(80 - 1 - 16 - 1 - 8)} /${"a".repeat(15)} HTTP/1.1`;
    expect(line).toHaveLength(80);
    expect(accepts(`${line}\r\nHost: h\r\n\r\n`, limits)).toHaveLength(1);
    rejects(`M${line}\r\nHost: h\r\n\r\n`, 414, limits);
  });
});

describe("field lines (RFC 9112 §5, RFC 9110 §5.5)", () => {
  test("names as sent, values OWS-trimmed, latin-1, in order (duplicates kept)", () => {
    const [h] = accepts("GET / HTTP/1.1\r\nHost: h\r\nx-A:\t \tv1 \t\r\nX-a: v2\r\nEmpty:\r\nLatin: \xe9\xff\x80\r\nInner: a  \t b\r\n\r\n");
    expect(h.fields).toEqual(["Host", "h", "x-A", "v1", "X-a", "v2", "Empty", "", "Latin", "\xe9\xff\x80", "Inner", "a  \t b"]);
  });
  test("common names and methods (interned) come out exactly as sent, near misses too", () => {
    // One Host field per request (a second is a 400), so its spellings go in separate requests.
    for (const host of ["Host", "host", "HOST", "hosT"]) {
      const names = [host, "Hosx", "User-Agent", "user-agent", "User-agent", "Accept", "Accepts", "X-Real-IP", "x-real-ip", "X-Real-Ip"];
      const [h] = accepts(`GET / HTTP/1.1\r\n${names.map((n) => `${n}: v\r\n`).join("")}\r\n`);
      expect(h.fields.filter((_, i) => i % 2 === 0)).toEqual(names);
    }
    for (const method of ["GET", "GEt", "GET2", "POST", "POSt", "DELETE", "DELETF", "OPTIONS", "CONNECT"]) {
      const target = method === "CONNECT" ? "h:1" : "/";
      expect(accepts(`${method} ${target} HTTP/1.1\r\nHost: h\r\n\r\n`)[0].method).toBe(method);
    }
  });
  test("quotes, commas and every VCHAR are accepted in values", () => {
    let v = "";
    for (let c = 0x21; c <= 0x7e; c++) v += String.fromCharCode(c);
    expect(accepts(`GET / HTTP/1.1\r\nHost: h\r\nV: ${v}\r\n\r\n`)[0].fields[3]).toBe(v);
  });
  const bad: [string, string][] = [
    ["space between name and colon", "Host : h"],
    ["HTAB between name and colon", "X\t: y"],
    ["empty name", ": y"],
    ["name with a space", "X Y: z"],
    ["no colon", "Xyz"],
    ["non-tchar in name", "X(Y): z"],
    ["@ in name", "X@Y: z"],
    ["quote in name", 'X"Y: z'],
    ["obs-text in name", "X\xe9: z"],
    ["NUL in name", "X\x00: z"],
    ["NUL in value", "X: a\x00b"],
    ["SOH in value", "X: a\x01b"],
    ["US in value", "X: a\x1fb"],
    ["DEL in value", "X: a\x7fb"],
    ["VT in value", "X: \x0b"],
    ["FF in value", "X: a\x0c"],
  ];
  for (const [name, line] of bad) test(`${name} → 400`, () => rejects(`GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`, 400));
  test("the 400's message says what is wrong with the field line", () => {
    const message = (line: string) => whole(`GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`).message;
    expect(message("Host : h")).toBe("Whitespace after a header field name (none is allowed before the colon)");
    expect(message("Bad Header")).toBe("Whitespace after a header field name (none is allowed before the colon)");
    expect(message("Xyz")).toBe("Header field line without a colon");
    expect(message("X(Y): z")).toBe("Invalid header field name");
  });
  test("obs-fold (SP) → 400", () => rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400));
  test("obs-fold (HTAB) → 400", () => rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400));
  test("whitespace before the first field line → 400", () => rejects("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400));
});

describe("header section limits → 431", () => {
  const head = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"; // 27 bytes
  test("a header section of exactly maxHeaderBytes (CRLFs included) is accepted", () => {
    expect(head).toHaveLength(27);
    expect(accepts(head, { maxHeaderBytes: 27 })).toHaveLength(1);
  });
  test("one byte more → 431", () => rejects(head, 431, { maxHeaderBytes: 26 }));
  test("leading empty lines do not count", () => {
    expect(accepts("\r\n\r\n" + head, { maxHeaderBytes: 27 })).toHaveLength(1);
  });
  test("a never-ending field value is cut off as soon as the limit is passed", () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} }, { maxHeaderBytes: 1024 });
    p.execute(enc("GET / HTTP/1.1\r\nHost: h\r\nX-Long: "));
    let fed = 33;
    let err: unknown = null;
    try {
      for (; fed < 10_000; fed++) p.execute(enc("v"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(431);
    expect(fed).toBe(1024);
  });
  test("a never-ending stream of field lines is cut off too", () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} }, { maxHeaderBytes: 2048, maxHeaderCount: 1000 });
    p.execute(enc("GET / HTTP/1.1\r\n"));
    expect(() => {
      for (let k = 0; k < 1000; k++) p.execute(enc("X: y\r\n"));
    }).toThrow(HttpError);
    expect(p.error?.status).toBe(431);
  });
  test("default maxHeaderBytes is 65536", () => {
    const filler = `X: ${"v".repeat(65536 - 16 - 9 - 2 - 5)}\r\n`;
    const ok = `GET / HTTP/1.1\r\nHost: h\r\n${filler}\r\n`;
    expect(ok).toHaveLength(65536);
    expect(whole(ok).status).toBeNull();
    expect(whole(ok.replace("X:", "XY:")).status).toBe(431);
  });
  test("exactly maxHeaderCount fields are accepted, one more → 431", () => {
    expect(accepts("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", { maxHeaderCount: 3 })[0].fields).toHaveLength(6);
    rejects("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, { maxHeaderCount: 3 });
  });
  test("default maxHeaderCount is 100", () => {
    let f = "Host: h\r\n";
    for (let k = 1; k < 100; k++) f += `X${k}: ${k}\r\n`;
    expect(whole(GET(f)).status).toBeNull();
    expect(whole(GET(f + "Y: 1\r\n")).status).toBe(431);
  });
});

describe("Host (RFC 9112 §3.2)", () => {
  test("HTTP/1.1 without Host → 400", () => rejects("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400));
  test("two Host lines → 400 (even identical)", () => rejects("GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n", 400));
  test("two Host lines in HTTP/1.0 → 400", () => rejects("GET / HTTP/1.0\r\nHost: h\r\nHOST: h\r\n\r\n", 400));
  test("HTTP/1.0 without Host is fine", () => expect(accepts("GET / HTTP/1.0\r\n\r\n")).toHaveLength(1));
  test("the name is case-insensitive; an empty value is allowed", () => {
    expect(accepts("GET / HTTP/1.1\r\nhOsT:\r\n\r\n")[0].fields).toEqual(["hOsT", ""]);
  });
});

describe("Content-Length (RFC 9112 §6.3)", () => {
  test("1*DIGIT, leading zeros and OWS allowed", () => {
    const o = whole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t 0005 \r\n\r\nhello");
    expect(o.status).toBeNull();
    expect(o.events.map((e) => e[0])).toEqual(["head", "body", "complete"]);
    expect((o.events[0][1] as RequestHead).contentLength).toBe(5);
  });
  test("Number.MAX_SAFE_INTEGER is accepted (head delivered, body pending)", () => {
    const o = whole(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${Number.MAX_SAFE_INTEGER}\r\n\r\nabc`);
    expect(o.status).toBeNull();
    expect((o.events[0][1] as RequestHead).contentLength).toBe(Number.MAX_SAFE_INTEGER);
    expect(o.events.map((e) => e[0])).toEqual(["head", "body"]);
  });
  const bad = ["+5", "-5", "5 5", "5,5", "1,1", "0x5", "5a", "a", "1.0", "1e3", "", " ", "5;", "\"5\"", "9007199254740992", "99999999999999999999999999"];
  for (const v of bad) test(`Content-Length: ${JSON.stringify(v)} → 400`, () => rejects(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${v}\r\n\r\n`, 400));
  test("two identical Content-Length lines → 400", () => rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400));
  test("two different Content-Length lines → 400", () => rejects("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nCONTENT-LENGTH: 6\r\n\r\nhello!", 400));
  test("no body: complete right after the head", () => {
    for (const r of [GET(), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"]) {
      const events: string[] = [];
      const p = new RequestParser({
        onHead: (h) => events.push(`head ${h.contentLength} ${h.chunked}`),
        onBody: () => events.push("body"),
        onMessageComplete: () => events.push("complete"),
      });
      const data = enc(r + "GET /next");
      expect(p.execute(data)).toBe(r.length);
      expect(events).toEqual([`head ${r.includes("Content-Length") ? 0 : -1} false`, "complete"]);
    }
  });
  test("a body ends exactly at its length; the rest is left for the next message", () => {
    const events: string[] = [];
    const p = new RequestParser({ onHead() {}, onBody: (b) => events.push(dec(b)), onMessageComplete: () => events.push("complete") });
    const head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    const data = enc(head + "abcGET");
    expect(p.execute(data)).toBe(head.length + 3);
    expect(events).toEqual(["abc", "complete"]);
    expect(p.idle).toBe(true);
  });
});

describe("Transfer-Encoding (RFC 9112 §6.1, §6.3)", () => {
  const te = (v: string, extra = ""): string => `POST / HTTP/1.1\r\nHost: h\r\n${extra}Transfer-Encoding: ${v}\r\n\r\n0\r\n\r\n`;
  test("chunked, case-insensitive", () => {
    for (const v of ["chunked", "Chunked", "CHUNKED"]) {
      const [h] = accepts(te(v));
      expect(h.chunked).toBe(true);
      expect(h.contentLength).toBe(-1);
    }
  });
  test("with Content-Length (either order) → 400", () => {
    rejects(te("chunked", "Content-Length: 0\r\n"), 400);
    rejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
    rejects(te("gzip, chunked", "Content-Length: 5\r\n"), 400);
  });
  test("in HTTP/1.0 → 400", () => rejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400));
  const bad400 = [
    "gzip",
    "identity",
    "chunked, gzip",
    "chunked, identity",
    "chunked, chunked",
    "gzip, chunked, chunked",
    "chunked,",
    ",chunked",
    "chunked,,",
    "gzip,,chunked",
    "",
    "xchunked",
    "chunkedchunked",
    "chunked;q=1",
    "gzip;level=1, chunked",
    '"chunked"',
    "chunked x",
    "chunk ed",
  ];
  for (const v of bad400) test(`Transfer-Encoding: ${JSON.stringify(v)} → 400`, () => rejects(te(v), 400));
  test("several lines form one list: chunked twice → 400, final not chunked → 400", () => {
    rejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    rejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400);
    rejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n", 400);
  });
  for (const v of ["gzip, chunked", "gzip,chunked", "deflate ,\tchunked", "gzip\t, chunked", "gzip, br, chunked", "identity, chunked"]) {
    test(`Transfer-Encoding: ${JSON.stringify(v)} → 501`, () => rejects(te(v), 501));
  }
  test("other codings on an earlier line, chunked on the last → 501", () => {
    rejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501);
  });
});

describe("keepAlive (RFC 9112 §9.3)", () => {
  const cases: [string, string, boolean][] = [
    ["HTTP/1.1", "", true],
    ["HTTP/1.1", "Connection: close\r\n", false],
    ["HTTP/1.1", "Connection: Close\r\n", false],
    ["HTTP/1.1", "Connection: upgrade,  CLOSE \r\n", false],
    ["HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n", false],
    ["HTTP/1.1", "Connection: keep-alive\r\n", true],
    ["HTTP/1.1", "Connection: closed\r\n", true],
    ["HTTP/1.1", "Connection: x-close\r\n", true],
    ["HTTP/1.1", "Connection: ,,\r\n", true],
    // OWS before a comma is part of the list syntax (RFC 9110 §5.6.1), not of the option
    ["HTTP/1.1", "Connection: close , te\r\n", false],
    ["HTTP/1.0", "Connection: keep-alive\t, te\r\n", true],
    ["HTTP/1.0", "", false],
    ["HTTP/1.0", "Connection: keep-alive\r\n", true],
    ["HTTP/1.0", "Connection: Upgrade, Keep-Alive\r\n", true],
    ["HTTP/1.0", "Connection: keep-alive, close\r\n", false],
    ["HTTP/1.0", "Connection: close\r\nConnection: keep-alive\r\n", false],
    ["HTTP/1.0", "Connection: keep-alives\r\n", false],
    ["HTTP/1.0", "Keep-Alive: 300\r\n", false],
    // an upgrade request (Upgrade + Connection: upgrade) is never persistent: tsgi
    // does not switch protocols and llhttp stops parsing HTTP after it
    ["HTTP/1.1", "Connection: upgrade\r\nUpgrade: websocket\r\n", false],
    ["HTTP/1.1", "Upgrade: h2c\r\nConnection: keep-alive, Upgrade, HTTP2-Settings\r\n", false],
    ["HTTP/1.0", "Connection: Upgrade, Keep-Alive\r\nupgrade: x\r\n", false],
    ["HTTP/1.1", "Upgrade: websocket\r\n", true],
    ["HTTP/1.1", "Connection: upgrade\r\n", true],
    ["HTTP/1.1", "Connection: upgrade\r\nUpgrade:\r\n", true],
    ["HTTP/1.1", "Connection: upgrades\r\nUpgrade: x\r\n", true],
    ["HTTP/1.1", "Proxy-Connection: close\r\n", true],
  ];
  for (const [v, f, ka] of cases) {
    test(`${v} ${JSON.stringify(f)} → ${ka}`, () => {
      expect(accepts(`GET / ${v}\r\nHost: h\r\n${f}\r\n`)[0].keepAlive).toBe(ka);
    });
  }
  test("CONNECT is never persistent (what follows its head is a tunnel for llhttp)", () => {
    const [h] = accepts("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: keep-alive\r\n\r\n");
    expect(h.method).toBe("CONNECT");
    expect(h.keepAlive).toBe(false);
    expect(accepts("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 0\r\n\r\n")[0].keepAlive).toBe(false);
    expect(accepts("CONNECTX /x HTTP/1.1\r\nHost: h\r\n\r\n")[0].keepAlive).toBe(true);
  });
  test("CONNECT with content → 400 (RFC 9110 §9.3.6)", () => {
    rejects("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 5\r\n\r\nhello", 400);
    rejects("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 1\r\n\r\nx", 400);
    rejects("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  });
});

describe("expectContinue", () => {
  const cases: [string, string, boolean][] = [
    ["HTTP/1.1", "Expect: 100-continue\r\n", true],
    ["HTTP/1.1", "expect: 100-CONTINUE\r\n", true],
    ["HTTP/1.1", "Expect: \t100-continue \r\n", true],
    ["HTTP/1.1", "", false],
    ["HTTP/1.1", "Expect:\r\n", false],
    // Empty list elements are ignored (RFC 9110 §5.6.1.2), as node:http does.
    ["HTTP/1.1", "Expect: 100-continue,\r\n", true],
    ["HTTP/1.1", "Expect: , 100-continue , 100-Continue\r\n", true],
    ["HTTP/1.1", "Expect: ,\r\n", false],
    ["HTTP/1.0", "Expect: 100-continue\r\n", false],
    ["HTTP/1.0", "Expect: 200-ok\r\n", false],
  ];
  for (const [v, f, ec] of cases) {
    test(`${v} ${JSON.stringify(f)} → ${ec}`, () => {
      expect(accepts(`POST / ${v}\r\nHost: h\r\n${f}Content-Length: 1\r\n\r\nx`)[0].expectContinue).toBe(ec);
    });
  }
  for (const f of ["Expect: 100-continue, foo\r\n", "Expect: 200-ok\r\n", "Expect: 100-continued\r\n", "Expect: 100-continue\r\nExpect: x\r\n"]) {
    test(`HTTP/1.1 ${JSON.stringify(f)} → 417 (RFC 9110 §10.1.1)`, () => {
      const input = `POST / HTTP/1.1\r\nHost: h\r\n${f}Content-Length: 1\r\n\r\nx`;
      rejects(input, 417);
      expect(run(enc(input), []).message).toContain("100-continue");
    });
  }
});

describe("chunked body (RFC 9112 §7.1)", () => {
  const body = (chunks: string): Outcome => whole(CHUNKED + chunks);
  test("sizes are hex, either case; last-chunk may have leading zeros", () => {
    const o = body("a\r\n0123456789\r\nB\r\nabcdefghijk\r\n00\r\n\r\n");
    expect(o.status).toBeNull();
    expect(o.events[1]).toEqual(["body", "0123456789abcdefghijk"]);
    expect(o.events[2]).toEqual(["complete"]);
  });
  test("16 hex digits are accepted", () => {
    expect(accepts(CHUNKED + "0000000000000005\r\nhello\r\n0\r\n\r\n")).toHaveLength(1);
  });
  test("Number.MAX_SAFE_INTEGER as a size is accepted (data pending)", () => {
    const o = body("1fffffffffffff\r\nabc");
    expect(o.status).toBeNull();
    expect(o.events[1]).toEqual(["body", "abc"]);
  });
  const badSizes = [
    ["0x5", "0x5\r\nhello\r\n0\r\n\r\n"],
    ["-5", "-5\r\nhello\r\n0\r\n\r\n"],
    ["+5", "+5\r\nhello\r\n0\r\n\r\n"],
    ["empty", "\r\nhello\r\n0\r\n\r\n"],
    ["leading space", " 5\r\nhello\r\n0\r\n\r\n"],
    ["non-hex", "g\r\n"],
    ["17 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"],
    ["2^53", "20000000000000\r\n"],
    ["2^64", "10000000000000000\r\n"],
    ["huge", "ffffffffffffffffffffffff\r\n"],
    ["trailing space", "5 \r\nhello\r\n0\r\n\r\n"],
    ["trailing HTAB", "5\t\r\nhello\r\n0\r\n\r\n"],
    ["space then garbage", "5 x\r\nhello\r\n0\r\n\r\n"],
    ["HTAB then a token (an extension after BWS)", "5\tx\r\nhello\r\n0\r\n\r\n"],
    ["missing last-chunk", "3\r\nfoo\r\n\r\n"],
  ];
  for (const [name, chunks] of badSizes) test(`chunk-size ${name} → 400`, () => rejects(CHUNKED + chunks, 400));

  const goodExt = ["5;a", "5;a=b", "5;a=b;c;d=e", '5;a="b c"', '5;a="\\"q\\" \\\\ ;"', "5;a=b;c", '5;a="";b=c', "5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~"];
  for (const line of goodExt) {
    test(`chunk-ext ${JSON.stringify(line)} accepted and ignored`, () => {
      const o = body(`${line}\r\nhello\r\n0${line.slice(1)}\r\n\r\n`);
      expect(o.status).toBeNull();
      expect(o.events.slice(1)).toEqual([["body", "hello"], ["complete"]]);
    });
  }
  const badExt = [
    "5;",
    "5; ",
    "5;a ",
    "5;a=",
    "5;a= ",
    "5;=b",
    "5;a=b c",
    "5;a b",
    '5;a="b',
    '5;a="b\\',
    '5;a="b"c',
    "5;a=\"\x01\"",
    "5;a=\"\x7f\"",
    // quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text ) (RFC 9110 §5.6.4): no control byte after the backslash
    '5;a="\\\x00"',
    '5;a="\\\x7f"',
    "5;a\x00",
    "5;a=b\x01",
    "5;a=\xe9",
    "5;;a",
    "5,a",
    "5 a",
    "5;a@b",
    // BWS (RFC 9112 §7.1.1) is rejected like llhttp: a sender MUST NOT generate it (RFC 9110 §5.6.3)
    "5 ;a",
    "5\t;a",
    "5 \t ;a",
    "5; a",
    "5;a = b",
    "5;a =b",
    "5;a= b",
    "5;a=b ;c",
    '5;a="" ;b=c',
    '5;a="x" ',
  ];
  for (const line of badExt) test(`chunk-ext ${JSON.stringify(line)} → 400`, () => rejects(`${CHUNKED}${line}\r\nhello\r\n0\r\n\r\n`, 400));
  test("chunk-ext up to maxChunkExtBytes (bytes after the size, before CR) is accepted, longer → 400", () => {
    expect(accepts(`${CHUNKED}5;abcdefg\r\nhello\r\n0\r\n\r\n`, { maxChunkExtBytes: 8 })).toHaveLength(1);
    rejects(`${CHUNKED}5;abcdefgh\r\nhello\r\n0\r\n\r\n`, 400, { maxChunkExtBytes: 8 });
  });
  test("maxChunkExtBytes is checked at the byte that exceeds it: with 0 the ';' itself is refused, before the rest arrives", () => {
    const o = whole(`${CHUNKED}5;`, { maxChunkExtBytes: 0 });
    expect([o.status, o.message]).toEqual([400, "Chunk extension too long"]);
    expect(whole(`${CHUNKED}5;`, { maxChunkExtBytes: 1 }).status).toBeNull(); // one byte of extension is allowed: waiting for more
    expect(whole(`${CHUNKED}5;a`, { maxChunkExtBytes: 1 }).status).toBe(400);
  });
  test("default maxChunkExtBytes is 4096", () => {
    expect(whole(`${CHUNKED}5;${"e".repeat(4095)}\r\nhello\r\n0\r\n\r\n`).status).toBeNull();
    expect(whole(`${CHUNKED}5;${"e".repeat(4096)}\r\nhello\r\n0\r\n\r\n`).status).toBe(400);
  });
  test("an endless chunk-ext is cut off", () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} });
    p.execute(enc(CHUNKED + "5;"));
    expect(() => {
      for (let k = 0; k < 5000; k++) p.execute(enc("e"));
    }).toThrow(HttpError);
    expect(p.error?.status).toBe(400);
  });
  const badData = [
    ["XX instead of CRLF", "5\r\nhelloXX0\r\n\r\n"],
    ["data longer than the size", "5\r\nhello!\r\n0\r\n\r\n"],
    ["data shorter than the size", "5\r\nhell\r\n0\r\n\r\n"],
    ["LF only", "5\r\nhello\n0\r\n\r\n"],
    ["CR CR", "5\r\nhello\r\r\n0\r\n\r\n"],
    ["CR then a byte other than LF (the rest a valid last-chunk)", "5\r\nhello\rX0\r\n\r\n"],
    ["no CRLF then next size", "5\r\nhello5\r\nhello\r\n0\r\n\r\n"],
  ];
  for (const [name, chunks] of badData) test(`chunk-data followed by ${name} → 400`, () => rejects(CHUNKED + chunks, 400));

  test("trailers are validated and dropped", () => {
    const o = body("5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:\t abc \r\nEmpty:\r\nLatin: \xe9\r\n\r\n");
    expect(o.status).toBeNull();
    expect(o.events.slice(1)).toEqual([["body", "hello"], ["complete"]]);
    expect((o.events[0][1] as RequestHead).fields).toEqual(["Host", "h", "Transfer-Encoding", "chunked"]);
  });
  test("trailer names close to the refused ones are accepted (byte by byte too)", () => {
    const near = ["Content-Lengths", "Content-Lengt", "Content_Length", "X-Content-Length", "Transfer-Encodin", "Transfer-Encodings", "Connections", "Connectio", "Proxy-Connection", "Upgrade", "Host"];
    expect(accepts(`${CHUNKED}0\r\n${near.map((n) => `${n}: 1\r\n`).join("")}\r\n`)).toHaveLength(1);
  });
  const badTrailers = [
    ["space before colon", "X : y"],
    ["empty name", ": y"],
    ["no colon", "Xy"],
    ["obs-fold", "X: y\r\n z"],
    ["leading whitespace", " X: y"],
    ["NUL in value", "X: a\x00"],
    ["DEL in value", "X: \x7f"],
    ["non-tchar in name", "X(: y"],
    // framing and connection control are refused in trailers (RFC 9110 §6.5.1; llhttp rejects or acts on them)
    ["Content-Length", "Content-Length: 5"],
    ["content-length (lower case, empty)", "content-length:"],
    ["Transfer-Encoding", "Transfer-Encoding: chunked"],
    ["TRANSFER-ENCODING (upper case)", "TRANSFER-ENCODING: gzip"],
    ["Connection: close", "Connection: close"],
    ["Connection after another field", "X: y\r\nconnection: keep-alive"],
  ];
  for (const [name, line] of badTrailers) test(`trailer ${name} → 400`, () => rejects(`${CHUNKED}0\r\n${line}\r\n\r\n`, 400));
  test("the 400's message says what is wrong with the trailer line", () => {
    const message = (line: string) => whole(`${CHUNKED}0\r\n${line}\r\n\r\n`).message;
    expect(message("Bad Trailer")).toBe("Whitespace after a trailer field name (none is allowed before the colon)");
    expect(message("Xy")).toBe("Trailer field line without a colon");
    expect(message("X(: y")).toBe("Invalid trailer field name");
  });
  test("a trailer section of maxTrailerBytes (CRLFs included) is accepted, one byte more → 400", () => {
    const t = "T: x\r\n\r\n";
    expect(accepts(`${CHUNKED}0\r\n${t}`, { maxTrailerBytes: 8 })).toHaveLength(1);
    rejects(`${CHUNKED}0\r\n${t}`, 400, { maxTrailerBytes: 7 });
  });
  test("an endless trailer section is cut off", () => {
    const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() {} });
    p.execute(enc(CHUNKED + "0\r\n"));
    expect(() => {
      for (let k = 0; k < 20000; k++) p.execute(enc("X: y\r\n"));
    }).toThrow(HttpError);
    expect(p.error?.status).toBe(400);
  });
});

describe("request smuggling classics", () => {
  const classics: [string, string, number][] = [
    ["CL.TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", 400],
    ["TE.CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400],
    ["TE: chunked, identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400],
    ["TE obs-fold ' chunked'", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400],
    ["TE obs-fold after a value", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n0\r\n\r\n", 400],
    ["'Transfer-Encoding : chunked'", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400],
    ["Transfer-Encoding: xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400],
    ["Transfer-Encoding with a vertical tab", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400],
    ["Transfer_Encoding is just another field", "POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\nContent-Length: x\r\n\r\n", 400],
    ["double Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello", 400],
    ["Content-Length: +5", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", 400],
    ["Content-Length: 5 5", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\nhello", 400],
    ["Content-Length with a comma list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", 400],
    ["chunk size 0x5", CHUNKED + "0x5\r\nhello\r\n0\r\n\r\n", 400],
    ["chunk size -5", CHUNKED + "-5\r\nhello\r\n0\r\n\r\n", 400],
    ["huge chunk size (overflow to small)", CHUNKED + "10000000000000005\r\nhello\r\n0\r\n\r\n", 400],
    ["'5 \\r\\n' (space, no ext)", CHUNKED + "5 \r\nhello\r\n0\r\n\r\n", 400],
    ["chunk data then XX", CHUNKED + "5\r\nhelloXX0\r\n\r\n", 400],
    ["chunk-ext quoted string with CR LF", CHUNKED + '5;a="\r\n"\r\nhello\r\n0\r\n\r\n', 400],
    ["chunk-size line terminated by LF only", CHUNKED + "5\nhello\r\n0\r\n\r\n", 400],
    ["chunk header not terminated by CRLF (llhttp)", CHUNKED + "5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", 400],
    ["bare LF line endings", "GET / HTTP/1.1\nHost: h\n\n", 400],
    ["bare CR line endings", "GET / HTTP/1.1\rHost: h\r\r", 400],
    ["NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400],
    ["header name with a space", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", 400],
    ["Host with a space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400],
    ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["LF inside the request-target", "GET /a\nb HTTP/1.1\r\nHost: h\r\n\r\n", 400],
    ["HTTP/1.0 with Transfer-Encoding", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400],
  ];
  for (const [name, input, status] of classics) test(`${name} → ${status}`, () => rejects(input, status));

  test("'5 ;ext' → 400 (BWS before ';': RFC 9112 §7.1.1 grammar, rejected like llhttp)", () => {
    rejects(CHUNKED + "5 ;ext\r\nhello\r\n0\r\n\r\n", 400);
  });
  test("Content-Length or Transfer-Encoding in the trailer section → 400", () => {
    rejects(CHUNKED + "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    rejects(CHUNKED + "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  });
  test("a body that looks like a request is body", () => {
    const o = whole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 28\r\n\r\nGET /admin HTTP/1.1\r\nX: y\r\n\r\n");
    expect(o.events).toHaveLength(3);
    expect(o.events[1]).toEqual(["body", "GET /admin HTTP/1.1\r\nX: y\r\n\r\n".slice(0, 28)]);
  });
});

describe("RequestParser API", () => {
  const noop = { onHead() {}, onBody() {}, onMessageComplete() {} };
  test("limits default and merge (undefined keeps the default)", () => {
    expect(new RequestParser(noop).limits).toEqual(DEFAULT_PARSER_LIMITS);
    expect(new RequestParser(noop, { maxHeaderCount: 5, maxHeaderBytes: undefined }).limits).toEqual({ ...DEFAULT_PARSER_LIMITS, maxHeaderCount: 5 });
  });
  // A keep-alive head identical to the last one is delivered from the one kept (no decode): the head handed
  // out last while it is as it was handed out, else a new object with fields of its own, whatever the handler
  // did to the last (an app may change tsgi.headers_raw, though it must not).
  test("a head identical to the last one comes as the same object while nobody changed it, else as a new one unchanged by what was done to the last", () => {
    const heads: RequestHead[] = [];
    const bodies: string[] = [];
    const p = new RequestParser({
      onHead: (h) => heads.push(h),
      onBody: (b) => bodies.push(dec(b)),
      onMessageComplete: () => {},
    });
    const text = "POST /a?b HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\nX-Id:  7 \r\n\r\n";
    const want: RequestHead = { method: "POST", target: "/a?b", version: "HTTP/1.1", fields: ["Host", "h:1", "Content-Length", "3", "X-Id", "7"], contentLength: 3, chunked: false, keepAlive: true, expectContinue: false };
    const whole = enc(`${text}abc`);
    expect(p.execute(whole)).toBe(whole.length);
    expect(p.execute(whole)).toBe(whole.length);
    expect(heads[0]).toEqual(want);
    expect(heads[1]).toBe(heads[0]!);
    // Each change a handler can make to what it was given: the next identical head is a new object, as built.
    const changes: Array<(h: RequestHead) => void> = [
      (h) => h.fields.push("Added", "by the app"),
      (h) => (h.fields[1] = "changed"),
      (h) => (h.fields[5] = "7 "),
      (h) => (h.fields.length = 4),
      (h) => h.fields.reverse(),
      (h) => (h.method = "GET"),
      (h) => (h.target = "/a"),
      (h) => (h.version = "HTTP/1.0"),
      (h) => (h.contentLength = 0),
      (h) => (h.chunked = true),
      (h) => (h.keepAlive = false),
      (h) => (h.expectContinue = true),
    ];
    for (const change of changes) {
      const last = heads.at(-1)!;
      change(last);
      expect(p.execute(whole)).toBe(whole.length);
      const next = heads.at(-1)!;
      expect(next).not.toBe(last);
      expect(next.fields).not.toBe(last.fields);
      expect(next).toEqual(want);
    }
    expect(heads.length).toBe(2 + changes.length);
    expect(new Set(heads.slice(1)).size).toBe(changes.length + 1);
    // The same head again, unchanged since: whole, then split, then byte by byte, each the object handed out last.
    const last = heads.at(-1)!;
    expect(p.execute(whole)).toBe(whole.length);
    const split = enc(`${text}def`);
    expect(p.execute(split.subarray(0, 20))).toBe(20);
    expect(p.execute(split.subarray(20))).toBe(split.length - 20);
    for (const byte of enc(`${text}ghi`)) expect(p.execute(Uint8Array.of(byte))).toBe(1);
    expect(heads.length).toBe(5 + changes.length);
    for (const h of heads.slice(-3)) expect(h).toBe(last);
    expect(last).toEqual(want);
    expect(bodies.join("")).toBe(`${"abc".repeat(3 + changes.length)}defghi`);
    bodies.length = 0;
    // A head differing in one byte is built anew; so is the same head after a Connection: close one.
    const at = heads.length;
    const other = enc(text.replace("X-Id:  7", "X-Id:  8") + "jkl");
    expect(p.execute(other)).toBe(other.length);
    expect(heads[at]!.fields[5]).toBe("8");
    expect(p.execute(other)).toBe(other.length);
    expect(heads[at + 1]).toEqual({ ...want, fields: want.fields.with(5, "8") });
    const closing = enc(text.replace("X-Id:  7", "Connection: close") + "mno");
    expect(p.execute(closing)).toBe(closing.length);
    expect(heads[at + 2]!.keepAlive).toBe(false);
    expect(p.execute(closing)).toBe(closing.length);
    expect(heads[at + 3]).toEqual(heads[at + 2]!);
    expect(heads[at + 3]).not.toBe(heads[at + 2]!);
    expect(p.execute(whole)).toBe(whole.length);
    expect(heads[at + 4]).toEqual(want);
    expect(heads[at + 4]).not.toBe(last);
    expect(bodies.join("")).toBe("jkljklmnomnoabc");
  });
  // The kept head coming whole at a message's start is only compared, not scanned: what follows it in the
  // same call (pipelined heads, a body, bad bytes) is parsed from the right index, and isHead is as a scan sets it.
  test("a kept head that comes whole is taken at its offset, with what follows it parsed as before", () => {
    const events: string[] = [];
    const p = new RequestParser({
      onHead: (h) => events.push(`head ${h.method} ${h.target} ${h.fields.join(",")} ${h.contentLength} ${h.chunked}`),
      onBody: (b) => events.push(`body ${dec(b)}`),
      onMessageComplete: () => events.push(`done ${p.isHead}`),
    });
    const get = "GET /g HTTP/1.1\r\nHost: h\r\n\r\n";
    // Three identical heads and another in one read, each message ending the call: every index is past its message.
    const batch = enc(get + get + get + "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let at = 0;
    for (let k = 0; k < 4; k++) at = p.execute(batch, at);
    expect(at).toBe(batch.length);
    expect(events).toEqual([...Array(3).fill(["head GET /g Host,h -1 false", "done false"]).flat(), "head GET /x Host,h -1 false", "done false"]);
    // A HEAD with a body (allowed, framed by its Content-Length): isHead holds until the body ends, kept head or not.
    events.length = 0;
    const head = "HEAD /h HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
    for (let k = 0; k < 2; k++) {
      expect(p.execute(enc(`${head}ab`))).toBe(head.length + 2);
      expect(p.isHead).toBe(true);
      expect(p.bodyRemaining).toBe(2);
      expect(p.execute(enc("cd"))).toBe(2);
      expect(p.isHead).toBe(false);
    }
    expect(events).toEqual([...Array(2).fill(["head HEAD /h Host,h,Content-Length,4 4 false", "body ab", "body cd", "done false"]).flat()]);
    // A kept chunked head: its body is parsed from just past it, and bad framing there still fails.
    events.length = 0;
    const chunked = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const good = enc(`${chunked}3\r\nabc\r\n0\r\n\r\n`);
    expect(p.execute(good)).toBe(good.length);
    expect(p.execute(good)).toBe(good.length);
    expect(events).toEqual([...Array(2).fill(["head POST /c Host,h,Transfer-Encoding,chunked -1 true", "body abc", "done false"]).flat()]);
    expect(() => p.execute(enc(`${chunked}3 \r\nabc\r\n0\r\n\r\n`))).toThrow(HttpError);
    expect(events.length).toBe(7);
    // A kept head's bytes followed, in the same call, by a head that is not valid: that one is refused.
    const q = new RequestParser({ onHead: () => {}, onBody: () => {}, onMessageComplete: () => {} });
    const bad = enc(`${get}${get}GET /g HTTP/1.1\r\nHost: h\r\nBad Name: 1\r\n\r\n`);
    at = q.execute(bad);
    at = q.execute(bad, at);
    expect(at).toBe(2 * get.length);
    expect(() => q.execute(bad, at)).toThrow("Whitespace after a header field name");
  });
  // The parsers made from one limits object (a server's, one parser per connection) share its resolved limits;
  // an object changed since then gives the new values, and the new limit is enforced.
  test("limits made from the same object are shared until the object changes", () => {
    const given: Partial<ParserLimits> = { maxHeaderCount: 2 };
    const a = new RequestParser(noop, given);
    expect(new RequestParser(noop, given).limits).toBe(a.limits);
    expect(Object.isFrozen(a.limits)).toBe(true);
    const head = enc("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
    expect(() => new RequestParser(noop, given).execute(head)).toThrow("Too many header fields");
    given.maxHeaderCount = 3;
    const b = new RequestParser(noop, given);
    expect(b.limits).toEqual({ ...DEFAULT_PARSER_LIMITS, maxHeaderCount: 3 });
    expect(a.limits.maxHeaderCount).toBe(2);
    expect(b.execute(head)).toBe(head.length);
    given.maxHeaderBytes = -1;
    expect(() => new RequestParser(noop, given)).toThrow(RangeError);
  });
  // Parsers made without limits share the defaults resolved once: a default that could be changed later
  // reached `new RequestParser(h, {})` and not `new RequestParser(h)` (which kept the first ones).
  test("DEFAULT_PARSER_LIMITS is frozen: writing it throws, and parsers made with no limits and with {} get the same limits", () => {
    const before = new RequestParser(noop).limits;
    const defaults = DEFAULT_PARSER_LIMITS as ParserLimits;
    let thrown: unknown = null;
    let seen = "";
    try {
      defaults.maxHeaderCount = 1;
    } catch (error) {
      thrown = error;
    } finally {
      seen = `no limits: ${new RequestParser(noop).limits.maxHeaderCount}, {}: ${new RequestParser(noop, {}).limits.maxHeaderCount}`;
      // Put back what a write that went through changed, for the other tests in this file.
      if (!Object.isFrozen(defaults)) defaults.maxHeaderCount = before.maxHeaderCount;
    }
    expect(seen).toBe("no limits: 100, {}: 100");
    expect(Object.isFrozen(DEFAULT_PARSER_LIMITS)).toBe(true);
    expect(thrown).toBeInstanceOf(TypeError);
    expect(new RequestParser(noop).limits).toEqual(new RequestParser(noop, {}).limits);
  });
  test("invalid limits → RangeError", () => {
    expect(() => new RequestParser(noop, { maxHeaderBytes: -1 })).toThrow(RangeError);
    expect(() => new RequestParser(noop, { maxRequestTarget: Number.NaN })).toThrow(RangeError);
  });
  test("execute of an empty array consumes nothing", () => {
    expect(new RequestParser(noop).execute(new Uint8Array(0))).toBe(0);
  });
  test("after an error the parser is dead: the same error again; reset() revives it", () => {
    const p = new RequestParser(noop);
    let first: unknown = null;
    try {
      p.execute(enc("GET / HTTP/1.1\r\nHost : h\r\n\r\n"));
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(HttpError);
    expect(p.error).toBe(first as HttpError);
    expect(() => p.execute(enc(GET()))).toThrow(first as HttpError);
    expect(() => p.execute(new Uint8Array(0))).toThrow(HttpError);
    p.reset();
    expect(p.error).toBeNull();
    expect(p.execute(enc(GET()))).toBe(GET().length);
  });
  test("idle and inBody follow the message", () => {
    const p = new RequestParser(noop);
    expect(p.idle).toBe(true);
    p.execute(enc("\r\n"));
    expect(p.idle).toBe(true);
    p.execute(enc("POST / HT"));
    expect(p.idle).toBe(false);
    expect(p.inBody).toBe(false);
    p.execute(enc("TP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\na"));
    expect(p.inBody).toBe(true);
    p.execute(enc("b"));
    expect(p.idle).toBe(true);
    expect(p.inBody).toBe(false);
  });
  test("reset() drops a partial message", () => {
    const heads: RequestHead[] = [];
    const p = new RequestParser({ ...noop, onHead: (h) => heads.push(h) });
    p.execute(enc("GET /partial HTTP/1.1\r\nHo"));
    p.reset();
    p.execute(enc(GET()));
    expect(heads.map((h) => h.target)).toEqual(["/"]);
  });
  test("head bytes kept between calls do not alias the caller's buffer", () => {
    const heads: RequestHead[] = [];
    const p = new RequestParser({ ...noop, onHead: (h) => heads.push(h) });
    const buf = enc("GET /abc HTTP/1.1\r\nHost: xy");
    p.execute(buf);
    buf.fill(0x41);
    p.execute(enc("z\r\n\r\n"));
    expect(heads[0].target).toBe("/abc");
    expect(heads[0].fields).toEqual(["Host", "xyz"]);
  });
  test("garbage never throws anything but HttpError", () => {
    const inputs = ["\x00", "\xff".repeat(100), "GET", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"];
    for (const s of inputs) {
      const o = whole(s);
      if (o.status !== null) expect(o.status >= 400 && o.status < 600).toBe(true);
    }
    expect(whole("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").status).toBe(505);
  });
});
