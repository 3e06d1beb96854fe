/**
 * Split invariance of the request parser: the same events (heads, body bytes,
 * completions) and the same error, whether the input is fed whole, one byte
 * at a time, in two pieces split at every offset, or in three pieces; plus a
 * seeded mutation fuzz asserting only HttpError 4xx/5xx ever escapes.
 */
import { describe, expect, test } from "bun:test";
import { RequestParser, type ParserLimits, type RequestHead } from "../src/http/parser.ts";
import { dec, enc, run, type Event, type Outcome } from "./parser-harness.ts";
import { prng } from "../bench/prng.ts";
import { watchForEndlessLoops } from "./loop-watchdog.ts";

watchForEndlessLoops(import.meta.path);

const whole = (input: Uint8Array, limits?: Partial<ParserLimits>): Outcome => run(input, [], limits);
const bytewise = (input: Uint8Array, limits?: Partial<ParserLimits>): Outcome =>
  run(input, Array.from({ length: Math.max(0, input.length - 1) }, (_, k) => k + 1), limits);


// ---------------------------------------------------------------------------
// Valid requests with their exact expected events (fed whole).

const H = (h: Partial<RequestHead> & Pick<RequestHead, "method" | "target" | "fields">): ["head", RequestHead] => [
  "head",
  {
    version: "HTTP/1.1",
    contentLength: -1,
    chunked: false,
    keepAlive: true,
    expectContinue: false,
    ...h,
  },
];
const B = (s: string): ["body", string] => ["body", s];
const C: ["complete"] = ["complete"];

const manyFields: string[] = [];
for (let k = 0; k < 99; k++) manyFields.push(`X-Field-${k}`, `value ${k}`);

const VALID: { name: string; input: string; events: Event[] }[] = [
  {
    name: "simple GET",
    input: "GET /index.html?a=1&b=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    events: [H({ method: "GET", target: "/index.html?a=1&b=%20", fields: ["Host", "example.com", "Accept", "*/*"] }), C],
  },
  {
    name: "POST with Content-Length body",
    input: "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
    events: [
      H({ method: "POST", target: "/submit", fields: ["Host", "h", "Content-Type", "text/plain", "Content-Length", "11"], contentLength: 11 }),
      B("hello world"),
      C,
    ],
  },
  {
    name: "chunked with extensions and trailers",
    input:
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5;name=value\r\nhello\r\n" +
      '6;q="a \\"quoted\\" ; value";flag\r\n world\r\n' +
      "A;a=b\r\n0123456789\r\n" +
      "000;last\r\nX-Trailer: yes\r\nX-Other:\t  2 \r\n\r\n",
    events: [
      H({ method: "POST", target: "/up", fields: ["Host", "h", "Transfer-Encoding", "chunked"], chunked: true }),
      B("hello world0123456789"),
      C,
    ],
  },
  {
    name: "pipelined sequence of 3 (GET, CL POST, chunked PUT)",
    input:
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
      "PUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
    events: [
      H({ method: "GET", target: "/1", fields: ["Host", "h"] }),
      C,
      H({ method: "POST", target: "/2", fields: ["Host", "h", "Content-Length", "3"], contentLength: 3 }),
      B("abc"),
      C,
      H({
        method: "PUT",
        target: "/3",
        fields: ["Host", "h", "Transfer-Encoding", "Chunked", "Connection", "close"],
        chunked: true,
        keepAlive: false,
      }),
      B("xy"),
      C,
    ],
  },
  {
    name: "HTTP/1.0 keep-alive, then HTTP/1.0 without it",
    input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
    events: [
      H({ method: "GET", target: "/", version: "HTTP/1.0", fields: ["Connection", "Keep-Alive"], keepAlive: true }),
      C,
      H({ method: "GET", target: "/b", version: "HTTP/1.0", fields: [], keepAlive: false }),
      C,
    ],
  },
  {
    name: "leading empty lines (8) before each request",
    input: "\r\n".repeat(8) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n" + "\r\n".repeat(8) + "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
    events: [H({ method: "GET", target: "/", fields: ["Host", "h"] }), C, H({ method: "HEAD", target: "/", fields: ["Host", "h"] }), C],
  },
  {
    name: "obs-text and inner whitespace in values, trimmed OWS",
    input: "GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9 \x80\x9f\xff\r\nX-Pad: \t a \t b \t\r\nX-Empty:\r\nX-Sp:   \r\n\r\n",
    events: [
      H({
        method: "GET",
        target: "/",
        fields: ["Host", "h", "X-Latin", "caf\xe9 \x80\x9f\xff", "X-Pad", "a \t b", "X-Empty", "", "X-Sp", ""],
      }),
      C,
    ],
  },
  {
    name: "many fields (100, the default maximum)",
    input: "GET /many HTTP/1.1\r\nHost: h\r\n" + pairsToLines(manyFields) + "\r\n",
    events: [H({ method: "GET", target: "/many", fields: ["Host", "h", ...manyFields] }), C],
  },
  {
    name: "Expect: 100-continue, keep-alive/close tokens, HTTP/1.2 answered as 1.1",
    input:
      "PUT /e HTTP/1.2\r\nHost: h\r\nExpect: 100-Continue\r\nConnection: keep-alive, Upgrade\r\nConnection: foo ,CLOSE\r\nContent-Length: 007\r\n\r\n1234567",
    events: [
      H({
        method: "PUT",
        target: "/e",
        fields: ["Host", "h", "Expect", "100-Continue", "Connection", "keep-alive, Upgrade", "Connection", "foo ,CLOSE", "Content-Length", "007"],
        contentLength: 7,
        keepAlive: false,
        expectContinue: true,
      }),
      B("1234567"),
      C,
    ],
  },
  {
    name: "request-target forms, Content-Length: 0, custom method",
    input:
      "OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" +
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" +
      "M-SEARCH! http://h/p?q=!$&'()*+,;=:@~[] HTTP/1.1\r\nHost: h\r\n\r\n",
    events: [
      H({ method: "OPTIONS", target: "*", fields: ["Host", "h", "Content-Length", "0"], contentLength: 0 }),
      C,
      H({ method: "CONNECT", target: "example.com:443", fields: ["Host", "example.com:443"], keepAlive: false }),
      C,
      H({ method: "M-SEARCH!", target: "http://h/p?q=!$&'()*+,;=:@~[]", fields: ["Host", "h"] }),
      C,
    ],
  },
  {
    name: "binary body bytes, CRLF inside a chunk",
    input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\r\n\x00\xff\r\n1\r\n\n\r\n0\r\n\r\n",
    events: [H({ method: "POST", target: "/", fields: ["Host", "h", "Transfer-Encoding", "chunked"], chunked: true }), B("\r\n\x00\xff\n"), C],
  },
];

function pairsToLines(pairs: string[]): string {
  let s = "";
  for (let k = 0; k < pairs.length; k += 2) s += `${pairs[k]}: ${pairs[k + 1]}\r\n`;
  return s;
}

describe("valid requests: exact events, identical however the input is split", () => {
  for (const c of VALID) {
    test(c.name, () => {
      const input = enc(c.input);
      const ref = whole(input);
      expect(ref.status).toBeNull();
      expect(ref.events).toEqual(c.events);
      expect(bytewise(input)).toEqual(ref);
      for (let k = 1; k < input.length; k++) {
        const got = run(input, [k]);
        if (!Bun.deepEquals(got, ref)) expect({ split: k, got }).toEqual({ split: k, got: ref });
      }
      const rnd = prng(input.length);
      for (let n = 0; n < 300; n++) {
        const a = 1 + Math.floor(rnd() * (input.length - 1));
        const b = 1 + Math.floor(rnd() * (input.length - 1));
        const cuts = a === b ? [a] : [Math.min(a, b), Math.max(a, b)];
        const got = run(input, cuts);
        if (!Bun.deepEquals(got, ref)) expect({ cuts, got }).toEqual({ cuts, got: ref });
      }
    });
  }

  // A head that arrives whole is tokenized in a table all parsers share; one split across reads
  // keeps its offsets in a table of its own. Other connections' heads parsed whole between two
  // reads (60 field lines, then 2) must not change what this one's head holds.
  test("other parsers' heads between two reads change nothing (the shared field-offset table)", () => {
    const others = [
      enc(`GET /other HTTP/1.1\r\nHost: o\r\n${pairsToLines(manyFields.slice(0, 118))}\r\n`),
      enc("PUT /other/path?q=1 HTTP/1.1\r\nHost: other.example\r\nX-A: aaaaaaaaaaaaaaaa\r\n\r\n"),
    ];
    let heads = 0;
    const between = () => {
      for (const o of others) {
        const other = new RequestParser({ onHead: () => void heads++, onBody() {}, onMessageComplete() {} });
        expect(other.execute(o)).toBe(o.length);
      }
    };
    let checked = 0;
    for (const c of VALID) {
      const input = enc(c.input);
      const ref = whole(input);
      for (let k = 1; k < input.length; k++) {
        const got = run(input, [k], undefined, between);
        if (!Bun.deepEquals(got, ref)) expect({ case: c.name, split: k, got }).toEqual({ case: c.name, split: k, got: ref });
        checked++;
      }
      expect(run(input, Array.from({ length: input.length - 1 }, (_, k) => k + 1), undefined, between)).toEqual(ref);
    }
    expect(checked).toBeGreaterThan(1000);
    expect(heads).toBeGreaterThan(2 * checked);
  });

  test("a view with foreign bytes around it parses like a standalone copy", () => {
    const text = enc(VALID[3].input);
    const big = new Uint8Array(text.length + 20).fill(0x0a);
    big.set(text, 10);
    const events: Event[] = [];
    const parser = new RequestParser({
      onHead: (h) => events.push(["head", h]),
      onBody: (b) => events.push(["body", dec(b)]),
      onMessageComplete: () => events.push(["complete"]),
    });
    let d = big.subarray(10, 10 + text.length);
    while (d.length > 0) d = d.subarray(parser.execute(d));
    const merged = whole(text).events;
    expect(events).toEqual(merged);
  });

  test("body chunks are zero-copy views of the fed array", () => {
    const input = enc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcdPOST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n");
    const views: Uint8Array[] = [];
    const parser = new RequestParser({ onHead() {}, onBody: (b) => views.push(b), onMessageComplete() {} });
    let d = input;
    while (d.length > 0) d = d.subarray(parser.execute(d));
    expect(views.map(dec)).toEqual(["abcd", "xy"]);
    for (const v of views) expect(v.buffer).toBe(input.buffer);
  });
});

// ---------------------------------------------------------------------------
// Invalid requests: the same status (and events before it) however split.

const INVALID: { name: string; input: string; status: number; limits?: Partial<ParserLimits> }[] = [
  { name: "bare LF in a field line", input: "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", status: 400 },
  { name: "chunk data followed by XX", input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", status: 400 },
  { name: "second pipelined request bad", input: "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/2.0\r\n\r\n", status: 505 },
  { name: "TE+CL", input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400 },
  { name: "gzip, chunked", input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501 },
  { name: "long target", input: "GET /" + "a".repeat(40) + " HTTP/1.1\r\nHost: h\r\n\r\n", status: 414, limits: { maxRequestTarget: 32 } },
  { name: "request line without LF", input: "GET /" + "a".repeat(200), status: 414, limits: { maxRequestTarget: 32 } },
  { name: "big header", input: "GET / HTTP/1.1\r\nHost: h\r\nX: " + "v".repeat(200) + "\r\n\r\n", status: 431, limits: { maxHeaderBytes: 128 } },
  { name: "header budget smaller than target budget", input: "GET /" + "a".repeat(100), status: 431, limits: { maxHeaderBytes: 30, maxRequestTarget: 40 } },
  { name: "too many fields", input: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", status: 431, limits: { maxHeaderCount: 2 } },
  { name: "trailer too big", input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: " + "x".repeat(50) + "\r\n\r\n", status: 400, limits: { maxTrailerBytes: 32 } },
  { name: "chunk ext too long", input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;" + "e".repeat(40) + "\r\na\r\n0\r\n\r\n", status: 400, limits: { maxChunkExtBytes: 16 } },
];

describe("invalid requests: same status and same events before it, however split", () => {
  for (const c of INVALID) {
    test(`${c.name} → ${c.status}`, () => {
      const input = enc(c.input);
      const ref = whole(input, c.limits);
      expect(ref.status).toBe(c.status);
      expect(bytewise(input, c.limits)).toEqual(ref);
      for (let k = 1; k < input.length; k++) {
        const got = run(input, [k], c.limits);
        if (!Bun.deepEquals(got, ref)) expect({ split: k, got }).toEqual({ split: k, got: ref });
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Mutation fuzz.

describe("mutation fuzz (seeded)", () => {
  const seeds = VALID.map((c) => enc(c.input)).concat(INVALID.map((c) => enc(c.input)));
  // bytes that matter to the grammar, so that mutations hit interesting paths
  const SPECIAL = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x3d, 0x22, 0x5c, 0x2c, 0x00, 0x7f, 0x80, 0xff, 0x30, 0x41, 0x66];
  test("2000 mutated requests: only HttpError 4xx/5xx, same outcome whole / byte by byte / split", () => {
    const rnd = prng(20240611);
    let failures = 0;
    let successes = 0;
    for (let n = 0; n < 2000; n++) {
      const src = seeds[Math.floor(rnd() * seeds.length)];
      const bytes = Array.from(src);
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (bytes.length + 1));
        const v = rnd() < 0.5 ? SPECIAL[Math.floor(rnd() * SPECIAL.length)] : Math.floor(rnd() * 256);
        const op = rnd();
        if (op < 0.4 && at < bytes.length) bytes[at] = v;
        else if (op < 0.7) bytes.splice(at, 0, v);
        else if (at < bytes.length) bytes.splice(at, 1);
      }
      const input = Uint8Array.from(bytes);
      const limits = rnd() < 0.2 ? { maxRequestTarget: 24, maxHeaderBytes: 120, maxHeaderCount: 4, maxChunkExtBytes: 8, maxTrailerBytes: 24 } : undefined;
      const ref = whole(input, limits);
      if (ref.status === null) successes++;
      else {
        failures++;
        expect(ref.status).toBeGreaterThanOrEqual(400);
        expect(ref.status).toBeLessThan(600);
      }
      const a = 1 + Math.floor(rnd() * Math.max(1, input.length - 1));
      const b = 1 + Math.floor(rnd() * Math.max(1, input.length - 1));
      const cuts = input.length < 2 ? [] : a === b ? [a] : [Math.min(a, b), Math.max(a, b)];
      const split = run(input, cuts, limits);
      if (!Bun.deepEquals(split, ref)) expect({ n, cuts, split }).toEqual({ n, cuts, split: ref });
      if (n % 4 === 0) {
        const bw = bytewise(input, limits);
        if (!Bun.deepEquals(bw, ref)) expect({ n, bw }).toEqual({ n, bw: ref });
      }
    }
    // the corpus must exercise both outcomes
    expect(successes).toBeGreaterThan(100);
    expect(failures).toBeGreaterThan(100);
  });
});
