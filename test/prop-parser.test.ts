/**
 * Property-based tests of the request parser (fast-check), issue 6 §2.
 *
 * - Generated valid requests (methods, targets, fields with random OWS,
 *   Content-Length and chunked bodies with extensions and trailers,
 *   pipelined sequences) parse to exactly the model they were built from,
 *   and identically whether the bytes arrive whole, byte by byte or split
 *   at random offsets.
 * - Serialising a parsed request and parsing it again gives the same result.
 * - Mutated inputs are accepted or rejected with an HttpError 4xx/5xx and
 *   nothing else; every `execute` makes progress and returns at most the
 *   length it was given (no hang); the outcome is the same whole or split
 *   and whether or not garbage follows the given view in its buffer (never
 *   reads past its input); body views lie inside the array that was fed.
 * - Heads repeated on one connection (the parser's memo of its last
 *   keep-alive head): the same head again, with another body, or with one
 *   byte changed (valid, or any byte anywhere, and every byte of a few heads
 *   one by one), padded to 1023-1025 bytes, give their model or what a new
 *   parser per message gives, and what the handler does to a head never
 *   shows in a later one.
 *
 * Runs are bounded (see RUNS) and seeded, so the suite is fast and a
 * failure is reproducible: fast-check prints the seed and the shrunk input.
 * Set PROP_RUNS=10000 for a long run.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isIPv6 } from "node:net";
import { byteByByte, cut, feed as feedWith, type ParsedMessage, type ParseOutcome } from "../bench/fuzz.ts";
import { HttpError } from "../src/http/errors.ts";
import { RequestParser, type ParserLimits, type RequestHead } from "../src/http/parser.ts";
import { watchForEndlessLoops } from "./loop-watchdog.ts";

watchForEndlessLoops(import.meta.path);

const RUNS = Number(process.env.PROP_RUNS ?? 300);
const SEED = process.env.PROP_SEED === undefined ? 20261123 : Number(process.env.PROP_SEED);
const params = (numRuns = RUNS) => ({ numRuns, seed: SEED });
/** Per-test time limit: generous for long runs. */
const LIMIT = RUNS > 1000 ? 3_600_000 : 30_000;

// ---------------------------------------------------------------------------
// Harness: the fuzzer's oracle (bench/fuzz.ts), on the real parser

const feed = (pieces: Uint8Array[], limits?: Partial<ParserLimits>, junk = 0): ParseOutcome => feedWith(RequestParser, pieces, limits, junk);
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1");
const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "latin1"));

// ---------------------------------------------------------------------------
// Generators: a model request and its serialisation

interface ModelField {
  name: string;
  value: string;
  /** OWS written before / after the value. */
  pre: string;
  post: string;
}

interface ModelMessage {
  method: string;
  target: string;
  version: "HTTP/1.0" | "HTTP/1.1";
  fields: ModelField[];
  body: string;
  framing: "none" | "length" | "chunked";
  /** Chunk sizes (sum = body length), each with its size text and extension. */
  chunks: Array<{ size: number; hex: string; ext: string }>;
  lastExt: string;
  trailers: ModelField[];
  /** Empty lines before the request-line. */
  leading: number;
  /** The HTTP-version as sent, when not `version` (`HTTP/1.2`-`1.9` are read as 1.1, RFC 9110 §6.2). */
  wireVersion?: string;
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/";
const RESERVED = new Set(["host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"]);

const charsOf = (alphabet: string, min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet.split("")), minLength: min, maxLength: max });

const tokenArb = charsOf(TCHARS, 1, 12);
const fieldNameArb = tokenArb.filter((n) => !RESERVED.has(n.toLowerCase()));
/** A field-value byte that is not whitespace: VCHAR or obs-text. */
const vcharArb = fc.oneof(
  fc.integer({ min: 0x21, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xff }),
).map((c) => String.fromCharCode(c));
const fieldValueArb = fc
  .array(fc.oneof({ weight: 8, arbitrary: vcharArb }, { weight: 1, arbitrary: fc.constantFrom(" ", "\t") }), { maxLength: 30 })
  .map((a) => a.join("").replace(/^[ \t]+|[ \t]+$/g, ""));
const owsArb = fc.constantFrom("", "", " ", "\t", "  ", " \t");
const fieldArb: fc.Arbitrary<ModelField> = fc.record({ name: fieldNameArb, value: fieldValueArb, pre: owsArb, post: owsArb });

/** Valid `uri-host [ ":" port ]` authorities (RFC 3986 section 3.2.2): IP-literals in their RFC 4291 spellings, a zone, an IPvFuture, odd reg-names, odd ports. */
const authorityArb = fc
  .tuple(
    fc.constantFrom(
      "[::1]", "[::]", "[2001:DB8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]", "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]", "[::ffff:192.0.2.1]",
      "[1:2:3:4:5:6:255.255.255.255]", "[::0.0.0.0]", "[fe80::1%25eth0]", "[fe80::a%25en%2F1]", "[v1.x]", "[vFe.a-_~!$&'()*+,;=:b]",
      "192.0.2.1", "010.0.0.1", "256.256.256.256", "xn--bcher-kva.example", "a~b_c-d.%7E!$&'()*+,;=", "h.",
    ),
    fc.constantFrom("", ":", ":80", ":0080", ":0", ":65535", ":65536", ":99999999999999999999"),
  )
  .map(([h, p]) => h + p);

const targetArb = fc.oneof(
  { weight: 8, arbitrary: charsOf(PCHARS, 0, 40).map((p) => `/${p}`) },
  { weight: 1, arbitrary: charsOf(PCHARS, 0, 20).map((q) => `/search?${q}`) },
  { weight: 1, arbitrary: charsOf("abcdefghij0123456789", 1, 10).map((p) => `http://example.com/${p}`) },
  { weight: 1, arbitrary: fc.tuple(authorityArb, charsOf("abcdefghij0123456789", 0, 10)).map(([a, p]) => `http://${a}/${p}`) },
);
// CONNECT has its own rules (no content, never persistent): see test/parser.test.ts
const methodArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH") }, { weight: 1, arbitrary: tokenArb.filter((t) => t !== "CONNECT") });

const bodyArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => latin1(b)) },
);

const extArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: tokenArb.map((n) => `;${n}`) },
  { weight: 1, arbitrary: fc.tuple(tokenArb, tokenArb).map(([n, v]) => `;${n}=${v}`) },
  { weight: 1, arbitrary: fc.tuple(tokenArb, charsOf("abc ;=,xyz", 0, 8)).map(([n, v]) => `;${n}="${v}"`) },
);

/** Split `n` bytes into chunk sizes. */
const splitArb = (n: number) =>
  fc.array(fc.integer({ min: 1, max: Math.max(1, n) }), { maxLength: 6 }).map((cuts) => {
    const sizes: number[] = [];
    let left = n;
    for (const c of cuts) {
      if (left === 0) break;
      const s = Math.min(c, left);
      sizes.push(s);
      left -= s;
    }
    if (left > 0) sizes.push(left);
    return sizes;
  });

const hexArb = (size: number) =>
  fc.record({ upper: fc.boolean(), zeros: fc.integer({ min: 0, max: 3 }) }).map(({ upper, zeros }) => {
    const h = size.toString(16);
    return "0".repeat(zeros) + (upper ? h.toUpperCase() : h);
  });

const messageArb: fc.Arbitrary<ModelMessage> = fc
  .record({
    method: methodArb,
    target: targetArb,
    version: fc.constantFrom("HTTP/1.0", "HTTP/1.1", "HTTP/1.1") as fc.Arbitrary<"HTTP/1.0" | "HTTP/1.1">,
    fields: fc.array(fieldArb, { maxLength: 8 }),
    hostAt: fc.nat(),
    host: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("example.com", "h", "localhost:8080", "") }, { weight: 1, arbitrary: authorityArb }),
    connection: fc.constantFrom(null, "close", "keep-alive", "Keep-Alive, Upgrade", "upgrade", "CLOSE"),
    upgrade: fc.constantFrom(null, null, null, "websocket", "h2c", ""),
    body: bodyArb,
    framing: fc.constantFrom("none", "length", "chunked"),
    trailers: fc.array(fieldArb, { maxLength: 3 }),
    lastExt: extArb,
    leading: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 }) }),
  })
  .chain((m) => {
    const framing: ModelMessage["framing"] =
      m.framing === "chunked" && m.version === "HTTP/1.0" ? "length" : m.framing === "none" && m.body !== "" ? "length" : (m.framing as ModelMessage["framing"]);
    const fields = [...m.fields];
    if (m.version === "HTTP/1.1" || m.hostAt % 2 === 0) fields.splice(m.hostAt % (fields.length + 1), 0, { name: "Host", value: m.host, pre: " ", post: "" });
    if (m.connection) fields.push({ name: "Connection", value: m.connection, pre: " ", post: "" });
    if (m.upgrade !== null) fields.splice(m.hostAt % (fields.length + 1), 0, { name: "Upgrade", value: m.upgrade, pre: " ", post: "" });
    if (framing === "length") fields.splice(m.hostAt % (fields.length + 1), 0, { name: "Content-Length", value: String(m.body.length), pre: " ", post: "" });
    if (framing === "chunked") fields.push({ name: "Transfer-Encoding", value: "chunked", pre: " ", post: "" });
    const body = framing === "none" ? "" : m.body;
    const sizes = framing === "chunked" ? splitArb(body.length) : fc.constant([] as number[]);
    return sizes.chain((ss) =>
      fc.tuple(...ss.map((s) => fc.tuple(hexArb(s), extArb).map(([hex, ext]) => ({ size: s, hex, ext })))).map((chunks) => ({
        method: m.method,
        target: m.target,
        version: m.version,
        fields,
        body,
        framing,
        chunks,
        lastExt: m.lastExt,
        trailers: framing === "chunked" ? m.trailers : [],
        leading: m.leading,
      })),
    );
  });

/** The bytes of a model message. */
function serialise(m: ModelMessage): string {
  let s = "\r\n".repeat(m.leading) + `${m.method} ${m.target} ${m.wireVersion ?? m.version}\r\n`;
  for (const f of m.fields) s += `${f.name}:${f.pre}${f.value}${f.post}\r\n`;
  s += "\r\n";
  if (m.framing === "length") s += m.body;
  if (m.framing === "chunked") {
    let at = 0;
    for (const c of m.chunks) {
      s += `${c.hex}${c.ext}\r\n${m.body.slice(at, at + c.size)}\r\n`;
      at += c.size;
    }
    s += `0${m.lastExt}\r\n`;
    for (const t of m.trailers) s += `${t.name}:${t.pre}${t.value}${t.post}\r\n`;
    s += "\r\n";
  }
  return s;
}

/** What the parser must report for a model message. */
function expected(m: ModelMessage): ParsedMessage {
  const http11 = m.version === "HTTP/1.1";
  let close = false;
  let keep = false;
  let upgradeToken = false;
  let upgradeField = false;
  for (const f of m.fields) {
    if (f.name.toLowerCase() === "upgrade" && f.value !== "") upgradeField = true;
    if (f.name.toLowerCase() !== "connection") continue;
    for (const t of f.value.split(",")) {
      const tok = t.trim().toLowerCase();
      if (tok === "close") close = true;
      if (tok === "keep-alive") keep = true;
      if (tok === "upgrade") upgradeToken = true;
    }
  }
  // an upgrade request is never persistent (tsgi does not switch protocols)
  if (upgradeField && upgradeToken) close = true;
  return {
    head: {
      method: m.method,
      target: m.target,
      version: m.version,
      fields: m.fields.flatMap((f) => [f.name, f.value]),
      contentLength: m.framing === "length" ? m.body.length : -1,
      chunked: m.framing === "chunked",
      keepAlive: http11 ? !close : !close && keep,
      expectContinue: false,
    },
    body: m.body,
    complete: true,
  };
}

const pipelineArb = fc.array(messageArb, { minLength: 1, maxLength: 4 });

/** Random cut offsets for an input of `n` bytes. */
const offsetsArb = fc.array(fc.nat({ max: 10_000 }), { maxLength: 12 });

// ---------------------------------------------------------------------------

describe("generated valid requests", () => {
  test("parse to their model, whole, byte by byte and split at random offsets", () => {
    fc.assert(
      fc.property(pipelineArb, offsetsArb, (msgs, offs) => {
        const input = bytes(msgs.map(serialise).join(""));
        const want: ParseOutcome = { messages: msgs.map(expected), error: null };
        const whole = feed([input]);
        expect(whole).toEqual(want);
        expect(feed(byteByByte(input))).toEqual(want);
        expect(feed(cut(input, offs.map((o) => o % (input.length + 1))))).toEqual(want);
        expect(feed([input], undefined, 64)).toEqual(want);
      }),
      params(),
    );
  }, LIMIT);

  test("serialising the parsed request and parsing it again gives the same result", () => {
    fc.assert(
      fc.property(pipelineArb, fc.boolean(), (msgs, oneChunk) => {
        const first = feed([bytes(msgs.map(serialise).join(""))]);
        expect(first.error).toBeNull();
        const again = first.messages.map(({ head, body }) => {
          let s = `${head.method} ${head.target} ${head.version}\r\n`;
          for (let k = 0; k < head.fields.length; k += 2) s += `${head.fields[k]}: ${head.fields[k + 1]}\r\n`;
          s += "\r\n";
          if (head.chunked) {
            if (body.length > 0) {
              if (oneChunk) s += `${body.length.toString(16)}\r\n${body}\r\n`;
              else for (const ch of body) s += `1\r\n${ch}\r\n`;
            }
            s += "0\r\n\r\n";
          } else {
            s += body;
          }
          return s;
        });
        expect(feed([bytes(again.join(""))])).toEqual(first);
      }),
      params(),
    );
  }, LIMIT);

  test("execute stops exactly at the end of each message (the rest is the next message, byte for byte)", () => {
    // execute stops at every message end: what is left is the next message, byte for byte
    fc.assert(
      fc.property(messageArb, messageArb, (a, b) => {
        const sa = bytes(serialise(a));
        const input = bytes(serialise(a) + serialise(b));
        let seen = 0;
        const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() { seen++; } });
        const n = p.execute(input);
        expect(seen).toBe(1);
        expect(n).toBe(sa.length);
        expect(p.idle).toBe(true);
      }),
      params(),
    );
  }, LIMIT);
});

// ---------------------------------------------------------------------------
// Mutations

type Mutation =
  | { kind: "flip"; at: number; byte: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "delete"; at: number; len: number }
  | { kind: "dup"; at: number; len: number }
  | { kind: "truncate"; at: number };

const SPECIAL = ["\r", "\n", "\r\n", " ", "\t", ":", ";", ",", "=", '"', "\\", "\x00", "\x0b", "\x7f", "\xff", "0", "9", "a", "F", "-", "+", "\r\n\r\n", "\r\n "];
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom(...SPECIAL) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("dup" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

function mutate(s: string, ms: Mutation[]): string {
  for (const m of ms) {
    const at = s.length === 0 ? 0 : m.at % (s.length + 1);
    switch (m.kind) {
      case "flip":
        s = s.slice(0, at) + String.fromCharCode(m.byte) + s.slice(at + 1);
        break;
      case "insert":
        s = s.slice(0, at) + m.text + s.slice(at);
        break;
      case "delete":
        s = s.slice(0, at) + s.slice(at + m.len);
        break;
      case "dup":
        s = s.slice(0, at + m.len) + s.slice(at, at + m.len) + s.slice(at + m.len);
        break;
      case "truncate":
        s = s.slice(0, at);
        break;
    }
  }
  return s;
}

const limitsArb: fc.Arbitrary<Partial<ParserLimits> | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      maxRequestTarget: fc.integer({ min: 0, max: 64 }),
      maxHeaderBytes: fc.integer({ min: 0, max: 400 }),
      maxHeaderCount: fc.integer({ min: 0, max: 6 }),
      maxChunkExtBytes: fc.integer({ min: 0, max: 16 }),
      maxTrailerBytes: fc.integer({ min: 0, max: 64 }),
    }),
  },
);

describe("mutated requests", () => {
  test("accept or HttpError 4xx/5xx only; no stall; same outcome whole, split, byte by byte and with junk after the view", () => {
    fc.assert(
      fc.property(pipelineArb, fc.array(mutationArb, { minLength: 1, maxLength: 5 }), offsetsArb, limitsArb, (msgs, muts, offs, limits) => {
        const input = bytes(mutate(msgs.map(serialise).join(""), muts));
        const whole = feed([input], limits);
        expect(feed(byteByByte(input), limits)).toEqual(whole);
        expect(feed(cut(input, offs.map((o) => o % (input.length + 1))), limits)).toEqual(whole);
        expect(feed([input], limits, 128)).toEqual(whole);
      }),
      params(),
    );
  }, LIMIT);

  test("random bytes: accept or HttpError 4xx/5xx only, no stall", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), offsetsArb, (input, offs) => {
        const whole = feed([input]);
        expect(feed(cut(input, offs.map((o) => o % (input.length + 1))))).toEqual(whole);
      }),
      params(),
    );
  }, LIMIT);
});

// ---------------------------------------------------------------------------
// Regressions: parser bugs found by the differential test against llhttp
// (test/diff-llhttp.test.ts), fixed in src/http/parser.ts.

describe("regressions found by the differential test", () => {
  const status = (s: string) => feed([bytes(s)]).error?.split(" ")[0] ?? "accepted";
  const req = (line: string) => `${line} HTTP/1.1\r\nHost: h\r\n\r\n`;

  test("a request-target in none of the RFC 9112 §3.2 forms → 400 (was accepted)", () => {
    for (const t of ["\\85", "abc", "?x", "h:80", "1http://h/", "http:/x", "mailto:x", "*x", "%2f", "-/x", "://h/"]) {
      expect([t, status(req(`GET ${t}`))]).toEqual([t, "400"]);
    }
  });

  test("origin-, asterisk-, absolute- and (CONNECT) authority-form are accepted", () => {
    for (const line of ["GET /", "GET //x", "GET /a?b", "OPTIONS *", "GET http://h/x", "GET HTTPS://h:1/", "GET http://h", "GET http://[::1]:8080/x", "CONNECT h:443", "CONNECT [::1]:443", "CONNECT 192.0.2.1:80"]) {
      expect([line, status(req(line))]).toEqual([line, "accepted"]);
    }
  });

  test("CONNECT takes the authority-form alone, host and port both present (RFC 9110 §9.3.6) → else 400", () => {
    for (const line of ["CONNECT /x", "CONNECT h", "CONNECT h:", "CONNECT :443", "CONNECT http://h:443/", "CONNECT h:44x", "CONNECT u@h:443", "CONNECT *"]) {
      expect([line, status(req(line))]).toEqual([line, "400"]);
    }
  });

  // Found by the hostile-client audit, stricter than llhttp.
  test("absolute-form without a host, with userinfo or with non-host chars, and `*` for other methods than OPTIONS → 400", () => {
    for (const line of ["GET http://", "GET http:///p", "GET http://?q", "GET http://u:p@h/p", "GET http://h%20 x/", "GET http://:80/", "GET *", "POST *", "OPTIONS *x", "OPTIONS **", "GET http://h:x/", "GET http://[::1/", "GET http://h%zz/"]) {
      expect([line, status(req(line))]).toEqual([line, "400"]);
    }
  });

  test("a Host field value outside RFC 3986 host [: port] → 400 (RFC 9112 §3.2); valid ones, and an empty one, are accepted", () => {
    const withHost = (v: string) => `GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`;
    for (const v of ["a b/c@d", "h/p", "u@h", "h?x", "h#f", 'h"', "h\\x", "h<", "h\x80", "a:xyz", "a:b:c", "[zz", "[::1", "[]", "h]", "%zz", "h%4", "a:80]", "[::1]x", "[fe80::1%24eth0]", "[fe80::1%2Feth0]"]) {
      expect([v, status(withHost(v))]).toEqual([v, "400"]);
    }
    for (const v of ["example.com", "h:8080", "[::1]:80", "[::1]", "[v1.x]", "[fe80::1%25eth0]", "192.0.2.1", "xn--bcher-kva.example", "a_b-c~d", "h%41", "sub!$&'()*+,;=", "", "h:", ":80"]) {
      expect([v, status(withHost(v))]).toEqual([v, "accepted"]);
    }
  });

  test("a bracketed Host is an IPv6address exactly when node:net's isIPv6 says so (no zone), for spellings built from groups and texts from its alphabet; also as an absolute-form authority", () => {
    const withHost = (v: string) => `GET / HTTP/1.1\r\nHost: [${v}]:80\r\n\r\n`;
    const absolute = (v: string) => `GET http://[${v}]/ HTTP/1.1\r\nHost: h\r\n\r\n`;
    const group = fc.oneof(
      { arbitrary: fc.stringMatching(/^[0-9a-fA-F]{1,4}$/), weight: 6 },
      { arbitrary: fc.constantFrom("", "12345", "1.2.3.4", "255.255.255.255", "01.2.3.4", "1.2.3", "256.0.0.1", "0.0.0.0", "1.2.3.4.5"), weight: 1 },
    );
    const sep = fc.oneof({ arbitrary: fc.constant(":"), weight: 8 }, { arbitrary: fc.constantFrom("::", ":::"), weight: 1 });
    const spelled = fc.tuple(fc.array(group, { minLength: 1, maxLength: 10 }), fc.array(sep, { minLength: 10, maxLength: 10 }), fc.boolean()).map(([gs, seps, lead]) => (lead ? "::" : "") + gs.map((g, i) => (i === 0 ? g : seps[i]! + g)).join(""));
    const noise = fc.array(fc.constantFrom(..."0123456789abcdefABCDEF:::.."), { minLength: 1, maxLength: 46 }).map((cs) => cs.join(""));
    const known = ["::", "::1", "1::", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3.4", "::1.2.3.4", "1.2.3.4", ":1::", "1:", ":", ":::", "00000::1", "1:2:3:4:5::1.2.3.4", "1::2::3"];
    const check = (v: string) => {
      const want = isIPv6(v) ? "accepted" : "400";
      expect([v, status(withHost(v)), status(absolute(v))]).toEqual([v, want, want]);
    };
    for (const v of known) check(v);
    fc.assert(fc.property(fc.oneof(spelled, noise), (v) => check(v)), params(RUNS * 3));
  });

  test("Host, absolute-form and CONNECT authorities (IP-literals valid and near-valid, zones, IPvFuture, odd reg-names, ports) are accepted exactly when RFC 3986's ABNF (Appendix A, as a regex here) matches", () => {
    // RFC 3986 Appendix A, transcribed: IP-literal (with RFC 6874's "%25" ZoneID) / IPv4address / reg-name, then [ ":" port ].
    const h16 = "[0-9A-Fa-f]{1,4}";
    const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])";
    const ls32 = `(?:${h16}:${h16}|${octet}\\.${octet}\\.${octet}\\.${octet})`;
    const ipv6 = [
      `(?:${h16}:){6}${ls32}`,
      `::(?:${h16}:){5}${ls32}`,
      `(?:${h16})?::(?:${h16}:){4}${ls32}`,
      `(?:(?:${h16}:){0,1}${h16})?::(?:${h16}:){3}${ls32}`,
      `(?:(?:${h16}:){0,2}${h16})?::(?:${h16}:){2}${ls32}`,
      `(?:(?:${h16}:){0,3}${h16})?::${h16}:${ls32}`,
      `(?:(?:${h16}:){0,4}${h16})?::${ls32}`,
      `(?:(?:${h16}:){0,5}${h16})?::${h16}`,
      `(?:(?:${h16}:){0,6}${h16})?::`,
    ].join("|");
    const unreserved = "A-Za-z0-9\\-._~";
    const subDelims = "!$&'()*+,;=";
    const pct = "%[0-9A-Fa-f]{2}";
    const ipLiteral = `\\[(?:(?:${ipv6})(?:%25(?:[${unreserved}]|${pct})+)?|[vV][0-9A-Fa-f]+\\.[${unreserved}${subDelims}:]+)\\]`;
    const regName = `(?:[${unreserved}${subDelims}]|${pct})`;
    const hostRule = new RegExp(`^(?:${ipLiteral}|${regName}*)(?::[0-9]*)?$`);
    const connectRule = new RegExp(`^(?:${ipLiteral}|${regName}+):[0-9]+$`);
    const hex = fc.stringMatching(/^[0-9a-fA-F]{1,5}$/);
    const v4 = fc.array(fc.constantFrom("0", "1", "9", "10", "99", "199", "249", "255", "256", "01", "00", ""), { minLength: 3, maxLength: 5 }).map((a) => a.join("."));
    const group = fc.oneof({ arbitrary: hex, weight: 10 }, { arbitrary: v4, weight: 1 }, { arbitrary: fc.constant(""), weight: 1 });
    const sep = fc.oneof({ arbitrary: fc.constant(":"), weight: 10 }, { arbitrary: fc.constantFrom("::", ":::", ""), weight: 1 });
    const zone = fc.constantFrom("", "", "", "%25eth0", "%eth0", "%25", "%25en%2F1", "%25a%2", "%25a!b", "%25.~-_", "%2525", "%");
    const ipv6ish = fc
      .tuple(fc.boolean(), fc.array(fc.tuple(sep, group), { maxLength: 9 }), fc.boolean(), zone)
      .map(([lead, gs, trail, z]) => (lead ? "::" : "") + gs.map(([s, g], i) => (i === 0 ? g : s + g)).join("") + (trail ? "::" : "") + z);
    const future = fc
      .tuple(fc.constantFrom("v", "V", "v1", "vF", "vg", "v12345"), fc.constantFrom(".", ".", "", ".."), fc.array(fc.constantFrom(..."a:~!$&'()*+,;=-._%41[@"), { maxLength: 5 }))
      .map(([v, d, cs]) => v + d + cs.join(""));
    const noise = fc.array(fc.constantFrom(..."0123456789abcdefv:.%25[]"), { maxLength: 20 }).map((cs) => cs.join(""));
    const inside = fc.oneof({ arbitrary: ipv6ish, weight: 6 }, { arbitrary: future, weight: 2 }, { arbitrary: noise, weight: 1 });
    const regNameish = fc.array(fc.constantFrom(..."ab-._~!$&'()*+,;=", "%41", "%7e", "%4", "%zz", "[", "]", "@"), { maxLength: 10 }).map((cs) => cs.join(""));
    const host = fc.oneof({ arbitrary: inside.map((v) => `[${v}]`), weight: 4 }, { arbitrary: inside, weight: 1 }, { arbitrary: regNameish, weight: 2 });
    const port = fc.constantFrom("", "", ":", ":80", ":0080", ":0", ":65536", ":99999999999999999999", ":x", ":+1", "::80");
    const check = (authority: string) => {
      const want = hostRule.test(authority) ? "accepted" : "400";
      const wantConnect = connectRule.test(authority) ? "accepted" : "400";
      // absolute-form: a path or query ends the authority, and an empty host is refused there (RFC 9110 section 4.2.1)
      const inTarget = /[/?]/.test(authority) ? null : hostRule.test(authority) && !/^:|^$/.test(authority) ? "accepted" : "400";
      expect([
        authority,
        status(`GET / HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
        inTarget === null ? null : status(`GET http://${authority}/x HTTP/1.1\r\nHost: h\r\n\r\n`),
        status(`CONNECT ${authority} HTTP/1.1\r\nHost: h\r\n\r\n`),
      ]).toEqual([authority, want, inTarget, wantConnect]);
    };
    fc.assert(fc.property(fc.tuple(host, port), ([h, p]) => check(h + p)), params(RUNS * 3));
  });

  test("HTAB after a Content-Length or Transfer-Encoding value → 400 (was accepted; llhttp rejects)", () => {
    expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\t\r\n\r\nhello")).toBe("400");
    expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t5 \t \r\n\r\nhello")).toBe("400");
    expect(status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n")).toBe("400");
    // leading HTAB and trailing SP stay valid OWS (llhttp agrees)
    expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t5 \r\n\r\nhello")).toBe("accepted");
    expect(status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked \r\n\r\n0\r\n\r\n")).toBe("accepted");
    // other fields keep HTAB as OWS
    expect(status("GET / HTTP/1.1\r\nHost: h\t\r\nX-A: b\t\r\n\r\n")).toBe("accepted");
  });

  test("the same, byte by byte", () => {
    for (const s of [req("GET abc"), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\t\r\n\r\nhello"]) {
      expect(feed(Array.from(bytes(s), (b) => Uint8Array.of(b))).error).toBe(feed([bytes(s)]).error);
    }
  });
});

// ---------------------------------------------------------------------------
// The head memo (src/http/parser.ts, memoText/memoHead): a keep-alive head
// identical to the parser's last one is delivered as a copy of the one kept,
// with no field interpreted again. Generated pipelines rarely repeat a head;
// these make it the rule: each message comes 1 to 4 times, as it is, with
// another body, or with one byte of its head changed (same length, so the
// byte compare runs up to the change), and some heads are padded to 1023,
// 1024 or 1025 bytes (the memo keeps heads of at most 1024).

/** A message again: the same, the same head with another body of the same length, or one byte of its head changed. */
type Repeat = { kind: "same" } | { kind: "body"; seed: number } | { kind: "tweak"; what: number; at: number; to: number };

const repeatArb: fc.Arbitrary<Repeat> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "same" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("body" as const), seed: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tweak" as const), what: fc.nat(), at: fc.nat(), to: fc.nat() }) },
);

/** `m` with one byte of its head changed (the head stays valid and as long; its model changes with it), or `m` when nothing it has can be changed so. */
function tweak(m: ModelMessage, r: { what: number; at: number; to: number }): ModelMessage {
  const options: Array<() => ModelMessage> = [];
  // A character of the method (another token, never CONNECT, whose rules differ).
  options.push(() => {
    const k = r.at % m.method.length;
    const method = m.method.slice(0, k) + TCHARS[r.to % TCHARS.length]! + m.method.slice(k + 1);
    return method === "CONNECT" ? m : { ...m, method };
  });
  // HTTP/1.1's minor digit: HTTP/1.2-1.9 are read as 1.1.
  if (m.version === "HTTP/1.1") options.push(() => ({ ...m, wireVersion: `HTTP/1.${1 + (r.to % 9)}` }));
  // A character of an origin-form target after its "/".
  if (m.target.startsWith("/") && m.target.length > 1) {
    options.push(() => {
      const k = 1 + (r.at % (m.target.length - 1));
      const c = PCHARS[r.to % PCHARS.length]!;
      return { ...m, target: m.target.slice(0, k) + c + m.target.slice(k + 1) };
    });
  }
  for (let i = 0; i < m.fields.length; i++) {
    const f = m.fields[i]!;
    const with1 = (g: ModelField) => ({ ...m, fields: m.fields.map((x, j) => (j === i ? g : x)) });
    // The case of a letter of any field name (Host, Content-Length, Connection ... included: names come as sent).
    const letters = [...f.name].flatMap((c, k) => (/[a-z]/i.test(c) ? [k] : []));
    if (letters.length > 0) {
      options.push(() => {
        const k = letters[r.at % letters.length]!;
        const c = f.name[k]!;
        const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
        return with1({ ...f, name: f.name.slice(0, k) + flipped + f.name.slice(k + 1) });
      });
    }
    // A byte of a value that carries no framing or persistence (Host's is checked: a letter for a letter).
    const lower = f.name.toLowerCase();
    if (f.value.length > 0 && !RESERVED.has(lower)) {
      options.push(() => {
        const k = r.at % f.value.length;
        const c = String.fromCharCode(0x21 + (r.to % 0x5e));
        return with1({ ...f, value: f.value.slice(0, k) + c + f.value.slice(k + 1) });
      });
    }
    if (lower === "host" && /[a-z]/.test(f.value) && !/[[%]/.test(f.value)) {
      options.push(() => {
        const ks = [...f.value].flatMap((c, k) => (/[a-z]/.test(c) ? [k] : []));
        const k = ks[r.at % ks.length]!;
        const c = "abcdefghijklmnopqrstuvwxyz"[r.to % 26]!;
        return with1({ ...f, value: f.value.slice(0, k) + c + f.value.slice(k + 1) });
      });
    }
    // OWS spelled otherwise (SP for HTAB or back): other bytes, the same field.
    if (f.pre.length > 0) {
      options.push(() => with1({ ...f, pre: (f.pre[0] === " " ? "\t" : " ") + f.pre.slice(1) }));
    }
  }
  if (options.length === 0) return m;
  return options[r.what % options.length]!();
}

/** `m` with another body of the same length (same head bytes), chunk sizes kept. */
function otherBody(m: ModelMessage, seed: number): ModelMessage {
  let body = "";
  for (let k = 0; k < m.body.length; k++) body += String.fromCharCode((m.body.charCodeAt(k) + seed + k) & 0xff);
  return { ...m, body };
}

/** The head's length in bytes as serialised (leading empty lines excluded). */
const headLength = (m: ModelMessage): number => serialise({ ...m, leading: 0, framing: "none", body: "", chunks: [], trailers: [] }).length;

/** `m` with an X-Pad field making its head exactly `size` bytes, or `m` when it is already longer than that allows. */
function padded(m: ModelMessage, size: number | null): ModelMessage {
  if (size === null) return m;
  // "X-Pad: " + value + CRLF
  const n = size - headLength(m) - 9;
  if (n < 0) return m;
  return { ...m, fields: [...m.fields, { name: "X-Pad", value: "p".repeat(n), pre: " ", post: "" }] };
}

const repeatedArb: fc.Arbitrary<ModelMessage[]> = fc
  .array(
    fc.tuple(
      messageArb,
      fc.array(repeatArb, { maxLength: 3 }),
      fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(1023, 1024, 1025) }),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((groups) =>
    groups.flatMap(([m0, repeats, size]) => {
      const m = padded(m0, size);
      return [m, ...repeats.map((r) => (r.kind === "same" ? m : r.kind === "body" ? otherBody(m, r.seed) : tweak(m, r)))];
    }),
  );

/**
 * The messages and error of `input` parsed with a new parser for each
 * message (none has a last head to reuse): what one parser must give.
 */
function feedFresh(input: Uint8Array, limits?: Partial<ParserLimits>): ParseOutcome {
  const messages: ParsedMessage[] = [];
  let current: ParsedMessage | null = null;
  let done = false;
  const handler = {
    onHead(head: RequestHead) {
      current = { head, body: "", complete: false };
      messages.push(current);
    },
    onBody(view: Uint8Array) {
      current!.body += latin1(view);
    },
    onMessageComplete() {
      current!.complete = true;
      done = true;
    },
  };
  let error: string | null = null;
  let parser: RequestParser | null = null;
  try {
    for (let at = 0, calls = 0; at < input.length && calls <= input.length; calls++) {
      parser ??= new RequestParser(handler, limits);
      done = false;
      at = parser.execute(input, at);
      if (done) parser = null;
    }
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    error = `${e.status} ${e.message}`;
  }
  return { messages, error };
}

/**
 * Feed `pieces` to one parser whose handler keeps a copy of each head and
 * then changes the head it was given (its fields, method, framing), as an
 * application may change tsgi.headers_raw: the next identical head must not
 * show it. Also checks that no head object or field list is delivered twice.
 */
function feedChanging(pieces: Uint8Array[]): ParseOutcome {
  const messages: ParsedMessage[] = [];
  const seen = new Set<unknown>();
  let current: ParsedMessage | null = null;
  const parser = new RequestParser({
    onHead(head) {
      if (seen.has(head) || seen.has(head.fields)) throw new Error("a head object or field list delivered twice");
      seen.add(head).add(head.fields);
      current = { head: { ...head, fields: [...head.fields] }, body: "", complete: false };
      messages.push(current);
      head.fields.push("X-Changed", "by the app");
      if (head.fields.length > 2) head.fields[1] = "changed";
      head.fields.reverse();
      head.method = "CHANGED";
      head.target = "/changed";
      head.contentLength = 12345;
      head.keepAlive = !head.keepAlive;
    },
    onBody(view) {
      current!.body += latin1(view);
    },
    onMessageComplete() {
      current!.complete = true;
    },
  });
  let error: string | null = null;
  try {
    for (const piece of pieces) {
      for (let at = 0, calls = 0; at < piece.length && calls <= piece.length; calls++) at = parser.execute(piece, at);
    }
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    error = `${e.status} ${e.message}`;
  }
  return { messages, error };
}

describe("repeated heads (the parser's memo of its last keep-alive head)", () => {
  test("heads repeated, with another body or one byte changed, and padded to 1023-1025 bytes parse to their model, whole, byte by byte, split and with junk after the view", () => {
    fc.assert(
      fc.property(repeatedArb, offsetsArb, (msgs, offs) => {
        const input = bytes(msgs.map(serialise).join(""));
        const want: ParseOutcome = { messages: msgs.map(expected), error: null };
        expect(feed([input])).toEqual(want);
        expect(feed(byteByByte(input))).toEqual(want);
        const pieces = cut(input, offs.map((o) => o % (input.length + 1)));
        expect(feed(pieces)).toEqual(want);
        expect(feed([input], undefined, 64)).toEqual(want);
        // What the handler does to a head it was given never reaches a later one.
        expect(feedChanging(pieces)).toEqual(want);
        expect(feedFresh(input)).toEqual(want);
      }),
      params(),
    );
  }, LIMIT);

  test("a head repeated with one byte replaced (any byte, anywhere in it) gives what a new parser gives it, whole, byte by byte and split, under any limits", () => {
    // Positions near the head's start and end as often as anywhere else.
    const atArb = fc.oneof({ weight: 2, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 24 }) }, { weight: 1, arbitrary: fc.integer({ min: -24, max: -1 }) });
    const flipArb = fc.record({ at: atArb, byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...[..."\r\n \t:;,0aAzZ"].map((c) => c.charCodeAt(0)))) });
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.option(flipArb, { nil: null, freq: 2 }), { minLength: 1, maxLength: 4 }),
        offsetsArb,
        limitsArb,
        fc.constantFrom(null, 1024, 1025),
        (m0, flips, offs, limits, size) => {
          const m = padded(m0, size);
          const text = serialise({ ...m, leading: 0 });
          const head = headLength(m);
          let s = serialise(m);
          for (const f of flips) {
            if (f === null) s += text;
            else {
              const at = (f.at % head) + (f.at < 0 ? head : 0);
              s += text.slice(0, at) + String.fromCharCode(f.byte) + text.slice(at + 1);
            }
          }
          const input = bytes(s);
          const want = feedFresh(input, limits);
          expect(feed([input], limits)).toEqual(want);
          expect(feed(byteByByte(input), limits)).toEqual(want);
          expect(feed(cut(input, offs.map((o) => o % (input.length + 1))), limits)).toEqual(want);
          expect(feed([input], limits, 64)).toEqual(want);
        },
      ),
      params(),
    );
  }, LIMIT);

  test("every byte of a kept head, replaced by each of a few bytes, twice, gives what new parsers give (whole, split at the change, byte by byte)", () => {
    const heads = [
      "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "POST /p?q=1 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\nX-A: \tb c\r\n\r\nabc",
      // Expect is ignored in HTTP/1.0 (HTTP/1.1 → 1.0 is one byte)
      "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
      "PUT http://h:8/x HTTP/1.1\r\nhost: h:8\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n1\r\nz\r\n0\r\n\r\n",
      // 1024 bytes: the longest head kept
      `GET /${"p".repeat(997)} HTTP/1.1\r\nHost: h\r\n\r\n`,
    ];
    const candidates = [..."\r\n \t:;,=0129aAzZ/.-"].map((c) => c.charCodeAt(0)).concat([0x00, 0x7f, 0x80, 0xff]);
    let checked = 0;
    for (const message of heads) {
      const head = message.indexOf("\r\n\r\n") + 4;
      expect(head === 1024 || head < 200).toBe(true);
      for (let at = 0; at < head; at++) {
        // the long head: its start, its end and every 31st byte
        if (head > 200 && at > 40 && at < head - 40 && at % 31 !== 0) continue;
        for (const byte of candidates) {
          if (message.charCodeAt(at) === byte) continue;
          // Twice: the changed head, built, is kept in place of the first and then delivered from the memo.
          const changed = message.slice(0, at) + String.fromCharCode(byte) + message.slice(at + 1);
          const input = bytes(message + changed + changed);
          const want = feedFresh(input);
          const second = message.length + at;
          expect([at, byte, feed([input])]).toEqual([at, byte, want]);
          expect([at, byte, feed(cut(input, [second, second + 1]))]).toEqual([at, byte, want]);
          // byte by byte: one of the bytes at each position, in turn
          if (head < 200 && byte === candidates[at % candidates.length]) expect([at, byte, feed(byteByByte(input))]).toEqual([at, byte, want]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  }, LIMIT);

  test("a kept head arriving right after the bytes of an unfinished one (a bare CR, a request-line) is parsed with them, not taken from the memo: 400 whole and cut right before it", () => {
    const message = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for (const before of ["\r", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: h\r\n"]) {
      const input = bytes(message + before + message);
      const whole = feed([input]);
      expect([before, whole.error?.split(" ")[0]]).toEqual([before, "400"]);
      expect([before, feed(cut(input, [message.length + before.length]))]).toEqual([before, whole]);
    }
  });
});
