/**
 * Request smuggling through real front proxies: a corpus of desync payloads
 * (CL.TE, TE.CL, TE.TE with obfuscated Transfer-Encoding, Content-Length
 * variants, chunk-size tricks, request-line tricks, Expect: 100-continue,
 * HTTP/1.0 keep-alive, field-name tricks, NUL bytes, long lines) sent through
 * nginx and through HAProxy, each configured as docs/deploy.md says (kept-alive
 * upstream pools, so a desync would poison the next request), in front of a
 * tsgi server whose app logs every request it sees.
 *
 * After each payload an innocent request goes on a *different* client
 * connection. Then, per payload and proxy:
 * - the requests the app saw (method, target, body length) equal, one for
 *   one, the requests the proxy's own access log says it forwarded and
 *   got an app response to (a request tsgi refused with a 4xx is forwarded
 *   but never seen by the app, and carries no X-App-Target);
 * - every app response the proxy relayed answers the request the proxy sent
 *   (the app echoes the target in X-App-Target, the proxy logs it beside
 *   its own view of the request);
 * - the innocent client gets its own answer, and the app never sees the
 *   `/app/smuggled` request hidden in every payload's body unless the proxy
 *   itself forwarded it as a request.
 * - what the payload's own client got parses as whole responses, each
 *   framed for its request's method (a response-side desync, the server and
 *   the proxy framing an answer differently, shows there as one cut short).
 *
 * lighttpd is the third front proxy. Its mod_proxy (1.4) cannot keep
 * upstream connections alive: it sends every request on a new connection
 * with `Connection: close`, so a desync there cannot reach another client's
 * request; the corpus still checks that tsgi frames each forwarded request
 * as lighttpd does and reads nothing after it.
 *
 * nginx, HAProxy and lighttpd come from Debian (`apt-get install nginx
 * haproxy lighttpd`); without one, its part is skipped with a warning.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Application } from "../src/spec.ts";
import { freePort, parseResponses, serverPool } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => Bun.file(p).size > 0) ?? Bun.which("nginx");
if (!NGINX) console.warn("SKIP: nginx is not installed (apt-get install nginx-light); the nginx smuggling tests are skipped");
const HAPROXY = ["/usr/sbin/haproxy"].find((p) => Bun.file(p).size > 0) ?? Bun.which("haproxy");
if (!HAPROXY) console.warn("SKIP: haproxy is not installed (apt-get install haproxy); the HAProxy smuggling tests are skipped");
const LIGHTTPD = ["/usr/sbin/lighttpd"].find((p) => Bun.file(p).size > 0) ?? Bun.which("lighttpd");
if (!LIGHTTPD) console.warn("SKIP: lighttpd is not installed (apt-get install lighttpd); the lighttpd smuggling tests are skipped");

const dir = mkdtempSync(join(tmpdir(), "tsgi-smuggle-"));
const children: Array<ReturnType<typeof Bun.spawn>> = [];
const pool = serverPool();

// ---------------------------------------------------------------- the app

/** A target as logged and echoed: up to 200 bytes as is, a longer one by its start and length (an X-App-Target of 7 KB would not fit nginx's proxy_buffer_size). */
const short = (target: string) => (target.length <= 200 ? target : `${target.slice(0, 100)}...(${target.length})`);

/** One request as the app saw it: "METHOD target bodyLength" (body "!" when its read failed). */
type Seen = string;

/** An app that logs each request into `seen` and echoes it; /app/noread answers without reading the body. */
function loggingApp(seen: Seen[]): Application {
  const enc = new TextEncoder();
  return async (environ, startResponse) => {
    const target = short(environ.REQUEST_URI ?? environ.PATH_INFO);
    const method = environ.REQUEST_METHOD;
    let length = 0;
    if (target !== "/app/noread") {
      try {
        for (let i = 0; i < 10_000; i++) {
          const chunk = await environ["tsgi.input"].read(65536);
          if (chunk.length === 0) break;
          length += chunk.length;
        }
      } catch {
        seen.push(`${method} ${target} !`);
        throw new Error("body read failed");
      }
    }
    seen.push(`${method} ${target} ${length}`);
    const body = enc.encode(`${method} ${target} ${length}\n`);
    startResponse("200 OK", [
      ["Content-Type", "text/plain"],
      ["Content-Length", String(body.length)],
      ["X-App-Target", target],
    ]);
    return [body];
  };
}

// ---------------------------------------------------------------- the corpus

/** The request every payload hides in a body: the app must never see it unless the proxy forwarded it as a request. */
const S = "GET /app/smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
const H = "Host: h\r\n";

interface Payload {
  name: string;
  /** What the client sends (latin-1), or pieces with a pause between them. */
  send: string | string[];
}

const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
const post = (fields: string, body: string, target = "/app/p") => `POST ${target} HTTP/1.1\r\n${H}${fields}\r\n${body}`;

/** CL.TE, TE.CL, TE.TE: Transfer-Encoding spellings each proxy and tsgi must read the same way (or refuse). */
const teSpellings: Array<[string, string]> = [
  ["plain", "Transfer-Encoding: chunked\r\n"],
  ["upper case value", "Transfer-Encoding: CHUNKED\r\n"],
  ["mixed case name", "tRaNsFeR-eNcOdInG: chunked\r\n"],
  ["space before colon", "Transfer-Encoding : chunked\r\n"],
  ["tab before value", "Transfer-Encoding:\tchunked\r\n"],
  ["no space", "Transfer-Encoding:chunked\r\n"],
  ["chunked, identity", "Transfer-Encoding: chunked, identity\r\n"],
  ["identity, chunked", "Transfer-Encoding: identity, chunked\r\n"],
  ["xchunked", "Transfer-Encoding: xchunked\r\n"],
  ["chunked twice in one line", "Transfer-Encoding: chunked, chunked\r\n"],
  ["duplicated lines, identity second", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"],
  ["duplicated lines, x first", "Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n"],
  ["obs-fold", "Transfer-Encoding: identity\r\n chunked\r\n"],
  ["obs-fold before the name", "X: y\r\n Transfer-Encoding: chunked\r\n"],
  ["\\x0b before value", "Transfer-Encoding:\x0bchunked\r\n"],
  ["\\x0c after value", "Transfer-Encoding: chunked\x0c\r\n"],
  ["quoted", 'Transfer-Encoding: "chunked"\r\n'],
  ["trailing comma", "Transfer-Encoding: chunked,\r\n"],
  ["chunked;q=1", "Transfer-Encoding: chunked;q=1\r\n"],
  ["bare LF before the field", "X: y\nTransfer-Encoding: chunked\r\n"],
  ["NUL in value", "Transfer-Encoding: chunked\x00\r\n"],
  ["underscore name", "Transfer_Encoding: chunked\r\n"],
];

/** The spellings also sent without a Content-Length (TE only). */
const TE_ONLY = ["space before colon", "chunked, identity", "xchunked", "obs-fold", "\\x0b before value", "quoted", "bare LF before the field"];

/** The body read as chunked is empty and S follows; read by Content-Length it is all body. */
const clte = ([name, te]: [string, string]): Payload => {
  const body = `0\r\n\r\n${S}`;
  return { name: `CL.TE, TE ${name}`, send: post(`Content-Length: ${body.length}\r\n${te}`, body) };
};

const payloads: Payload[] = [
  // CL.TE and TE.TE: both framing fields, one of them disguised.
  ...teSpellings.map(clte),
  // TE.CL: read as chunked, S is inside one chunk; read by a Content-Length of 4, S is the next request.
  { name: "TE.CL", send: post(`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`, `${chunk(S)}0\r\n\r\n`) },
  // TE only, disguised: a proxy that ignores the TE sees no body (S would then be the next request it forwards).
  ...teSpellings.filter(([n]) => TE_ONLY.includes(n)).map(([name, te]) => ({ name: `TE only, ${name}`, send: post(te, `${chunk(S)}0\r\n\r\n`) })),
  // Content-Length variants; a reader that takes a different length finds S (or a part of it) as the next request.
  { name: "CL +N", send: post(`Content-Length: +${S.length}\r\n`, S) },
  { name: "CL 0N (leading zero)", send: post(`Content-Length: 0${S.length}\r\n`, S) },
  { name: "CL N, N (list)", send: post(`Content-Length: ${S.length}, ${S.length}\r\n`, S) },
  { name: "CL N twice", send: post(`Content-Length: ${S.length}\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "CL 0 then N", send: post(`Content-Length: 0\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "CL N then 0", send: post(`Content-Length: ${S.length}\r\nContent-Length: 0\r\n`, S) },
  { name: "CL space before colon", send: post(`Content-Length : ${S.length}\r\n`, S) },
  { name: "CL 2^64 + N (overflow)", send: post(`Content-Length: ${(2n ** 64n + BigInt(S.length)).toString()}\r\n`, S) },
  { name: "CL -1", send: post(`Content-Length: -1\r\n`, S) },
  { name: "CL hex", send: post(`Content-Length: 0x${S.length.toString(16)}\r\n`, S) },
  { name: "CL \\x0b before value", send: post(`Content-Length:\x0b${S.length}\r\n`, S) },
  { name: "CL obs-fold", send: post(`Content-Length: 0\r\n ${S.length}\r\n`, S) },
  { name: "GET with a CL body", send: `GET /app/g HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  // Chunk-size tricks.
  { name: "chunk size with leading zeros", send: post("Transfer-Encoding: chunked\r\n", `0000000${chunk(S)}0\r\n\r\n`) },
  { name: "chunk size 0x", send: post("Transfer-Encoding: chunked\r\n", `0x${chunk(S)}0\r\n\r\n`) },
  { name: "chunk size overflow (2^64 + 1)", send: post("Transfer-Encoding: chunked\r\n", `10000000000000001\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk-ext quoted with CRLF inside", send: post("Transfer-Encoding: chunked\r\n", `1;a="x\r\n0\r\n\r\n${S}"\r\nA\r\n0\r\n\r\n`) },
  { name: "chunk-ext bare LF", send: post("Transfer-Encoding: chunked\r\n", `1;a\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk-ext BWS", send: post("Transfer-Encoding: chunked\r\n", `1 ;a=b\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "bare LF line ends in the chunks", send: post("Transfer-Encoding: chunked\r\n", `1\nA\n0\n\n${S}`) },
  { name: "chunk size line ended \\r\\r\\n", send: post("Transfer-Encoding: chunked\r\n", `1\r\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk data longer than its size", send: post("Transfer-Encoding: chunked\r\n", `1\r\nAB\r\n0\r\n\r\n${S}`) },
  { name: "last chunk with a trailer", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nX-T: 1\r\n\r\n${S}`) },
  { name: "trailer Content-Length", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nContent-Length: ${S.length}\r\n\r\n${S}`) },
  // Request-line tricks.
  { name: "two spaces in the request-line", send: `GET  /app/a HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "HTTP/0.9 request-line", send: `GET /app/a\r\n${H}\r\n${S}` },
  { name: "absolute-form target", send: `POST http://h/app/abs HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "HTTP/1.1 in lower case", send: `POST /app/a http/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "bare LF request-line", send: `POST /app/a HTTP/1.1\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  // Expect: 100-continue, the body after a pause; to an app that reads it and to one that does not.
  { name: "Expect 100-continue, read", send: [post(`Expect: 100-continue\r\nContent-Length: ${S.length}\r\n`, ""), S] },
  { name: "Expect 100-continue, not read", send: [post(`Expect: 100-continue\r\nContent-Length: ${S.length}\r\n`, "", "/app/noread"), S] },
  { name: "unread CL body", send: post(`Content-Length: ${S.length}\r\n`, S, "/app/noread") },
  { name: "unread chunked body", send: post("Transfer-Encoding: chunked\r\n", `${chunk(S)}0\r\n\r\n`, "/app/noread") },
  // HTTP/1.0.
  { name: "HTTP/1.0 keep-alive, CL body, then a second request", send: `POST /app/p HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: ${S.length}\r\n\r\n${S}GET /app/second HTTP/1.0\r\n\r\n` },
  { name: "HTTP/1.0 with Transfer-Encoding", send: `POST /app/p HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${S}` },
  { name: "HTTP/1.0 POST without length", send: `POST /app/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n${S}` },
  // Field-name tricks, NUL, long lines.
  { name: "field name with a space", send: post(`Content Length: ${S.length}\r\n`, S) },
  { name: "field line starting with a colon", send: post(`:Content-Length: ${S.length}\r\n`, S) },
  { name: "NUL in a field name", send: post(`X\x00Y: 1\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "NUL in the target", send: `GET /app/a\x00b HTTP/1.1\r\n${H}\r\n${S}` },
  { name: "a 7,000-byte field value", send: post(`X-Long: ${"a".repeat(7000)}\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "a 7,000-byte target", send: `POST /app/${"t".repeat(7000)} HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  // Pipelined from the client: the proxy forwards two requests, the app must see exactly those.
  { name: "pipelined CL body then GET", send: `${post(`Content-Length: ${S.length}\r\n`, S)}GET /app/second HTTP/1.1\r\n${H}\r\n` },
  // Content-Length spellings number parsers differ on (underscore separators, JS/Python literals).
  { name: "CL with an underscore (1_0)", send: post(`Content-Length: ${String(S.length)[0]}_${String(S.length).slice(1)}\r\n`, S) },
  { name: "CL with a decimal point", send: post(`Content-Length: ${S.length}.0\r\n`, S) },
  // A chunk-size of more than 16 digits, all leading zeros: a parser that caps digits, not value, reads it otherwise.
  { name: "chunk size zero-padded past 16 digits", send: post("Transfer-Encoding: chunked\r\n", `${"0".repeat(18)}${chunk(S)}0\r\n\r\n`) },
  { name: "last-chunk zero-padded past 16 digits", send: post("Transfer-Encoding: chunked\r\n", `${"0".repeat(20)}\r\n\r\n${S}`) },
  // Trailer fields that name framing or routing fields (RFC 9110 §6.5.1).
  { name: "trailer Transfer-Encoding", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n${S}`) },
  { name: "trailer Host", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nHost: evil\r\n\r\n${S}`) },
  { name: "trailer obs-fold", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nX-T: 1\r\n ${S.length}\r\n\r\n${S}`) },
  // Host tricks (RFC 9112 §3.2).
  { name: "Host twice", send: `POST /app/h HTTP/1.1\r\nHost: h\r\nHost: evil\r\nContent-Length: ${S.length}\r\n\r\n${S}` },
  { name: "Host twice, identical", send: `POST /app/h HTTP/1.1\r\nHost: h\r\nHost: h\r\nContent-Length: ${S.length}\r\n\r\n${S}` },
  { name: "Host with userinfo", send: `POST /app/h HTTP/1.1\r\nHost: u@h\r\nContent-Length: ${S.length}\r\n\r\n${S}` },
  { name: "Host obs-fold", send: `POST /app/h HTTP/1.1\r\nHost: h\r\n evil\r\nContent-Length: ${S.length}\r\n\r\n${S}` },
  { name: "absolute-form naming another host than Host", send: `POST http://evil/app/abs2 HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  // Expect variants.
  { name: "Expect 100-continue and another expectation", send: post(`Expect: 100-continue, x\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "Expect 100-CONTINUE, body after a pause", send: [post(`Expect: 100-CONTINUE\r\nContent-Length: ${S.length}\r\n`, ""), S] },
  { name: "Expect 100-continue on a GET without body, then a request", send: `GET /app/e HTTP/1.1\r\n${H}Expect: 100-continue\r\n\r\n${S}` },
  // Protocol switches tsgi refuses: what follows must never be read as HTTP by tsgi.
  { name: "h2c upgrade, then a request", send: `GET /app/up HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n${S}` },
  { name: "websocket upgrade, then a request", send: `GET /app/ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n${S}` },
  { name: "HTTP/2 preface", send: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${S}` },
  { name: "CONNECT, then a request", send: `CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n${S}` },
  { name: "TRACE", send: `TRACE /app/t HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "OPTIONS *", send: `OPTIONS * HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  // "Funky chunks" (2025): chunk lines a lenient reader ends elsewhere. TERM.EXT / EXT.TERM: a line end
  // inside a chunk extension (bare, or in a quoted string); TERM.SPILL / SPILL.TERM: chunk data longer
  // than its size, then two bytes taken for CRLF; sizes with whitespace, a sign, or past 32 bits.
  { name: "chunk-size line ended by a bare CR", send: post("Transfer-Encoding: chunked\r\n", `1\rA\r\n0\r\n\r\n${S}`) },
  { name: "TERM.EXT: bare LF ending a chunk-ext", send: post("Transfer-Encoding: chunked\r\n", `2;\nxx\r\n${(S.length + 7).toString(16)}\r\n0\r\n\r\n${S}\r\n0\r\n\r\n`) },
  { name: "EXT.TERM: bare LF in a quoted chunk-ext", send: post("Transfer-Encoding: chunked\r\n", `1;a="\n"\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "TERM.SPILL: two bytes after chunk data", send: post("Transfer-Encoding: chunked\r\n", `5\r\nAAAAAXX${chunk(S)}0\r\n\r\n`) },
  { name: "SPILL.TERM: a size line inside the spill", send: post("Transfer-Encoding: chunked\r\n", `5\r\nAAAAA${(S.length + 2).toString(16)}\r\n0\r\n\r\n${S}\r\n0\r\n\r\n`) },
  { name: "chunk data followed by a bare LF", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\n0\r\n\r\n${S}`) },
  { name: "chunk size with a leading space", send: post("Transfer-Encoding: chunked\r\n", ` 1\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk size with a trailing space", send: post("Transfer-Encoding: chunked\r\n", `1 \r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk size with a trailing tab", send: post("Transfer-Encoding: chunked\r\n", `1\t\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk size negative", send: post("Transfer-Encoding: chunked\r\n", `-1\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "chunk size 2^32 + 1 (32-bit truncation)", send: post("Transfer-Encoding: chunked\r\n", `100000001\r\nA\r\n0\r\n\r\n${S}`) },
  { name: "last-chunk line followed by a bare LF", send: post("Transfer-Encoding: chunked\r\n", `0\r\n\n${S}`) },
  { name: "a trailer line shaped like a request-line", send: post("Transfer-Encoding: chunked\r\n", `1\r\nA\r\n0\r\nGET /app/smuggled HTTP/1.1: x\r\n\r\n`) },
  // More Transfer-Encoding and Content-Length spellings.
  { name: "CL.TE, TE identity", send: post(`Content-Length: ${S.length}\r\nTransfer-Encoding: identity\r\n`, S) },
  { name: "CL.TE, TE with an empty element first", send: clte(["", "Transfer-Encoding: , chunked\r\n"]).send },
  { name: "CL.TE, TE chunked NBSP", send: clte(["", "Transfer-Encoding: chunked\xa0\r\n"]).send },
  { name: "CL.TE, TE obs-fold with a tab", send: clte(["", "Transfer-Encoding:\r\n\tchunked\r\n"]).send },
  { name: "CL.TE, TE chunked, gzip", send: clte(["", "Transfer-Encoding: chunked, gzip\r\n"]).send },
  { name: "CL 0 and TE chunked", send: post(`Content-Length: 0\r\nTransfer-Encoding: chunked\r\n`, `${chunk(S)}0\r\n\r\n`) },
  { name: "TE chunked on two lines", send: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", `0\r\n\r\n${S}`) },
  { name: "TE gzip, chunked", send: post("Transfer-Encoding: gzip, chunked\r\n", `0\r\n\r\n${S}`) },
  { name: "TE identity alone, body after", send: post("Transfer-Encoding: identity\r\n", S) },
  { name: "HTTP/1.0 with Transfer-Encoding only", send: `POST /app/p HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(S)}0\r\n\r\n` },
  { name: "CL NBSP", send: post(`Content-Length: ${S.length}\xa0\r\n`, S) },
  // Expect: 100-continue with the body sent at once, or later, to an app that does not read it.
  { name: "Expect 100-continue, body at once, not read", send: post(`Expect: 100-continue\r\nContent-Length: ${S.length}\r\n`, S, "/app/noread") },
  { name: "Expect 100-continue, chunked body at once, not read", send: post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", `${chunk(S)}0\r\n\r\n`, "/app/noread") },
  { name: "Expect 100-continue, chunked body after a pause, not read", send: [post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "", "/app/noread"), `${chunk(S)}0\r\n\r\n`] },
  // Unread bodies arriving in pieces, or not at all, after the app answered.
  { name: "unread CL body in pieces", send: [post(`Content-Length: ${S.length + 2000}\r\n`, "ab", "/app/noread"), "x".repeat(1998), S] },
  { name: "unread chunked body in pieces", send: [post("Transfer-Encoding: chunked\r\n", "2\r\nab\r\n", "/app/noread"), chunk(S), "0\r\n\r\n"] },
  { name: "unread CL body that never comes", send: post(`Content-Length: ${S.length + 2000}\r\n`, "", "/app/noread") },
  // DEL and NUL in fields; methods whose bodies or responses proxies may frame otherwise.
  { name: "DEL in a field value", send: post(`X: a\x7f\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "DEL in a field name", send: post(`X\x7f: a\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "NUL in a field value", send: post(`X: a\x00b\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "lower-case method with a CL body", send: `post /app/lc HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "lower-case head, then a request", send: `head /app/lh HTTP/1.1\r\n${H}\r\nGET /app/second HTTP/1.1\r\n${H}\r\n` },
  { name: "HEAD, then a request", send: `HEAD /app/hd HTTP/1.1\r\n${H}\r\nGET /app/second HTTP/1.1\r\n${H}\r\n` },
  { name: "HEAD with a CL body", send: `HEAD /app/hd HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "HEAD with a chunked body", send: `HEAD /app/hd HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk(S)}0\r\n\r\n` },
  { name: "GET with a chunked body", send: `GET /app/g HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk(S)}0\r\n\r\n` },
  // Host and connection options.
  { name: "empty Host", send: `POST /app/h HTTP/1.1\r\nHost:\r\nContent-Length: ${S.length}\r\n\r\n${S}` },
  { name: "absolute-form https naming another host than Host", send: `POST https://evil/app/abs3 HTTP/1.1\r\n${H}Content-Length: ${S.length}\r\n\r\n${S}` },
  { name: "CRLF after a CL body, then a request", send: `${post(`Content-Length: ${S.length}\r\n`, S)}\r\nGET /app/second HTTP/1.1\r\n${H}\r\n` },
  { name: "Connection: Content-Length", send: post(`Connection: Content-Length\r\nContent-Length: ${S.length}\r\n`, S) },
  { name: "Connection: Transfer-Encoding", send: post("Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n", `${chunk(S)}0\r\n\r\n`) },
];

// ---------------------------------------------------------------- clients

/** Send `send` on a new connection to `port`; read until the connection closes or 300 ms pass without data (3 s at most). Resolves with what came back and a way to close. */
function exchange(port: number, send: string | string[]): Promise<{ data: string; close: () => void }> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let data = "";
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(hard);
      resolve({ data, close: () => sock.destroy() });
    };
    let idle = setTimeout(finish, 600);
    const hard = setTimeout(finish, 3000);
    sock.on("data", (d) => {
      data += d.toString("latin1");
      clearTimeout(idle);
      idle = setTimeout(finish, 300);
    });
    sock.on("close", finish);
    sock.on("error", finish);
    sock.on("connect", async () => {
      for (const piece of Array.isArray(send) ? send : [send]) {
        sock.write(Buffer.from(piece, "latin1"));
        await Bun.sleep(150);
      }
    });
  });
}

/** The methods of the request-lines in `send`, in order: what {@link wholeResponses} frames each final response by (no body for HEAD). */
function methodsOf(send: string | string[]): string[] {
  const text = Array.isArray(send) ? send.join("") : send;
  return [...text.matchAll(/(?:^|\n)([!#$%&'*+\-.^_`|~0-9A-Za-z]+) \S+ HTTP\/\d\.\d\r?\n/g)].map((m) => m[1]!);
}

/**
 * `null` when `data`, what a client got from the proxy, is whole responses
 * (interim ones, then final ones framed for the requests' `methods`), else
 * what is wrong: a response cut short, or bytes that are no response, is how
 * a response-side desync (a server and the proxy framing an answer
 * differently, as a body to `head` taken for HEAD's) shows to the client.
 * Not checked: no answer, an HTTP/0.9 one (nginx's to a request-line
 * without a version), or one after a 101 (another protocol follows).
 */
function wholeResponses(data: string, methods: string[]): string | null {
  if (!data.startsWith("HTTP/1.") || /^HTTP\/1\.[01] 101 /m.test(data)) return null;
  try {
    const cut = parseResponses(Buffer.from(data, "latin1"), methods).find((r) => !r.complete);
    return cut === undefined ? null : `a ${cut.status} response cut short (${cut.framing}: ${cut.body.length} body bytes)`;
  } catch (error) {
    return `responses that do not parse: ${(error as Error).message}`;
  }
}

/** The innocent request, on its own connection: its answer must be its own. */
async function innocent(port: number, i: number): Promise<string> {
  const r = await exchange(port, `GET /app/innocent?i=${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
  r.close();
  return r.data;
}

// ---------------------------------------------------------------- the run

interface ProxyLine {
  /** The request as the proxy read it: "METHOD target". */
  request: string;
  /** The X-App-Target of the response the proxy relayed, or "-" when the app did not answer. */
  appTarget: string;
}

/**
 * Run the corpus through a proxy on `proxyPort` whose access log lines
 * `log()` returns (all so far); `seen` is the app's log. Returns one line
 * per payload saying what happened, for the failure message and the docs.
 */
async function runCorpus(proxyPort: number, seen: Seen[], log: () => Promise<ProxyLine[]>): Promise<void> {
  const problems: string[] = [];
  const summary: string[] = [];
  let logged = (await log()).length;
  for (const [i, p] of payloads.entries()) {
    seen.length = 0;
    const a = await exchange(proxyPort, p.send);
    const b = await innocent(proxyPort, i);
    a.close();
    // The proxy writes its log line when a request ends: wait for the innocent's and any in-flight one.
    let lines: ProxyLine[] = [];
    for (let t = 0; t < 40; t++) {
      await Bun.sleep(50);
      lines = (await log()).slice(logged);
      if (lines.some((l) => l.request === `GET /app/innocent?i=${i}`)) break;
    }
    await Bun.sleep(50);
    lines = (await log()).slice(logged);
    logged += lines.length;
    const answered = lines.filter((l) => l.appTarget !== "-");
    const fail = (what: string) => problems.push(`${p.name}: ${what}\n  client: ${JSON.stringify(a.data.slice(0, 300))}\n  app saw: ${JSON.stringify(seen)}\n  proxy log: ${JSON.stringify(lines)}`);
    if (!b.startsWith("HTTP/1.1 200") || !b.includes(`\r\n\r\nGET /app/innocent?i=${i} 0\n`)) fail(`the innocent request got ${JSON.stringify(b.slice(0, 200))}`);
    for (const l of answered) if (!l.request.startsWith(`${l.request.split(" ")[0]} ${l.appTarget}`)) fail(`the proxy relayed the answer to ${l.appTarget} for ${l.request}`);
    // A body whose read failed ("!": the client left mid-body, and the proxy with it) got no app
    // answer: such a request must be one the proxy logged unanswered, not one counted as answered.
    const target = (s: Seen) => s.split(" ").slice(0, 2).join(" ");
    const sawTargets = seen.filter((s) => !s.endsWith(" !")).map(target).sort();
    const forwarded = answered.map((l) => l.request).sort();
    if (JSON.stringify(sawTargets) !== JSON.stringify(forwarded)) fail(`the app saw ${sawTargets.length} requests, the proxy had ${forwarded.length} answered`);
    const unanswered = lines.filter((l) => l.appTarget === "-").map((l) => l.request);
    for (const s of seen.filter((x) => x.endsWith(" !"))) {
      const k = unanswered.indexOf(target(s));
      if (k < 0) fail(`the app failed to read the body of ${target(s)}, which the proxy did not log as unanswered`);
      else unanswered.splice(k, 1);
    }
    if (seen.some((s) => s.includes("/app/smuggled")) && !forwarded.some((f) => f.includes("/app/smuggled"))) fail("the app saw the smuggled request");
    const garbled = wholeResponses(a.data, methodsOf(p.send));
    if (garbled !== null) fail(`the client got ${garbled}`);
    const status = /^HTTP\/1\.[01] (\d+)/.exec(a.data)?.[1] ?? "none";
    summary.push(`${p.name}: client got ${status}, app saw ${JSON.stringify(seen.filter((s) => !s.includes("/innocent")))}`);
  }
  if (process.env.TSGI_SMUGGLE_SUMMARY) console.log(summary.join("\n"));
  expect(problems).toEqual([]);
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await Promise.all(children.map((c) => Promise.race([c.exited, Bun.sleep(3000)])));
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** The ```LANG block of docs/deploy.md. */
function docsBlock(lang: string): string {
  const md = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(md);
  if (!m) throw new Error(`docs/deploy.md has no \`\`\`${lang} block`);
  return m[1]!;
}

/** Wait until something listens on `port` (10 s at most). */
async function waitForPort(port: number, proc: ReturnType<typeof Bun.spawn>, failure: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && proc.exitCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port });
      s.on("connect", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(await failure());
}

describe.skipIf(!NGINX)("desync payloads through nginx (docs/deploy.md configuration, upstream keepalive)", () => {
  const seen: Seen[] = [];
  const nginxPort = freePort();
  const prefix = join(dir, "nginx");
  beforeAll(async () => {
    const app = pool(loggingApp(seen), { keepAliveTimeout: 60_000 });
    mkdirSync(join(prefix, "logs"), { recursive: true });
    const site = docsBlock("nginx").replace("server 127.0.0.1:8000;", `server 127.0.0.1:${app.port};`).replace("listen 127.0.0.1:8080;", `listen 127.0.0.1:${nginxPort};`);
    const conf = `
${process.getuid?.() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
  log_format smuggle '$request_method $request_uri|$upstream_http_x_app_target';
  access_log ${prefix}/logs/access.log smuggle;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${site}
}
`;
    writeFileSync(join(prefix, "nginx.conf"), conf);
    const nginx = Bun.spawn([NGINX!, "-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs/error.log")], { stdout: "inherit", stderr: "inherit" });
    children.push(nginx);
    await waitForPort(nginxPort, nginx, () => `nginx did not start: ${readFileSync(join(prefix, "logs/error.log"), "utf8")}`);
  });

  test(`${payloads.length} payloads, each followed by an innocent request on another connection: the app sees exactly what nginx forwarded`, async () => {
    const log = async (): Promise<ProxyLine[]> => {
      const text = Bun.file(join(prefix, "logs/access.log"));
      const lines = (await text.exists()) ? (await text.text()).split("\n").filter(Boolean) : [];
      return lines.map((l) => {
        const bar = l.lastIndexOf("|");
        const [method, target] = [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1, bar)];
        return { request: `${method} ${short(target)}`, appTarget: l.slice(bar + 1) };
      });
    };
    await runCorpus(nginxPort, seen, log);
  }, 120_000);
});

describe.skipIf(!HAPROXY)("desync payloads through HAProxy (docs/deploy.md configuration, http-reuse always)", () => {
  const seen: Seen[] = [];
  const haproxyPort = freePort();
  let out = "";
  beforeAll(async () => {
    const app = pool(loggingApp(seen), { keepAliveTimeout: 60_000 });
    // The log's URI is cut at 1,024 bytes unless tune.http.logurilen says more.
    const conf = "global\n    tune.http.logurilen 16384\n" + docsBlock("haproxy")
      .replace("server app 127.0.0.1:8000", `server app 127.0.0.1:${app.port}`)
      .replace("bind 127.0.0.1:8080", `bind 127.0.0.1:${haproxyPort}`)
      .replace("frontend web\n", "frontend web\n    log stdout len 65535 format raw local0\n    capture response header X-App-Target len 300\n    log-format \"%HM %HU|%hs\"\n");
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(cfg, conf);
    const check = Bun.spawnSync([HAPROXY!, "-c", "-q", "-f", cfg]);
    if (check.exitCode !== 0) throw new Error(`haproxy -c: ${check.stderr.toString()}${check.stdout.toString()}`);
    const haproxy = Bun.spawn([HAPROXY!, "-db", "-f", cfg], { stdout: "pipe", stderr: "pipe" });
    children.push(haproxy);
    void (async () => {
      for await (const c of haproxy.stdout as ReadableStream<Uint8Array>) out += new TextDecoder("latin1").decode(c);
    })();
    await waitForPort(haproxyPort, haproxy, async () => `haproxy did not start: ${await new Response(haproxy.stderr).text()}`);
  });

  test(`${payloads.length} payloads, each followed by an innocent request on another connection: the app sees exactly what HAProxy forwarded`, async () => {
    const log = async (): Promise<ProxyLine[]> =>
      out
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const bar = l.lastIndexOf("|");
          // %hs is "{value}" (braces), "{}" when the response had no X-App-Target.
          const app = l.slice(bar + 1).replace(/^\{|\}$/g, "");
          const [method, target] = [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1, bar)];
          return { request: `${method} ${short(target)}`, appTarget: app === "" ? "-" : app };
        });
    await runCorpus(haproxyPort, seen, log);
  }, 120_000);
});

describe.skipIf(!LIGHTTPD)("desync payloads through lighttpd (mod_proxy, a new upstream connection per request)", () => {
  const seen: Seen[] = [];
  const lighttpdPort = freePort();
  const prefix = join(dir, "lighttpd");
  beforeAll(async () => {
    const app = pool(loggingApp(seen), { keepAliveTimeout: 60_000 });
    mkdirSync(join(prefix, "uploads"), { recursive: true });
    // mod_proxy sends every request upstream as HTTP/1.1 with Connection: close (no pool to
    // configure); it buffers the request body (dechunked, with a Content-Length) before it forwards.
    // A log file is written in 4 KB blocks (seconds late); a piped log gets each line at once.
    const conf = `
server.document-root = "${prefix}"
server.bind = "127.0.0.1"
server.port = ${lighttpdPort}
server.upload-dirs = ("${prefix}/uploads")
server.errorlog = "${prefix}/error.log"
server.modules = ("mod_proxy", "mod_accesslog")
accesslog.filename = "|/bin/cat >> ${prefix}/access.log"
accesslog.format = "%m %U|%q|%{X-App-Target}o"
proxy.server = ("/app/" => (("host" => "127.0.0.1", "port" => ${app.port})))
`;
    writeFileSync(join(prefix, "lighttpd.conf"), conf);
    const check = Bun.spawnSync([LIGHTTPD!, "-t", "-f", join(prefix, "lighttpd.conf")]);
    if (check.exitCode !== 0) throw new Error(`lighttpd -t: ${check.stderr.toString()}${check.stdout.toString()}`);
    const lighttpd = Bun.spawn([LIGHTTPD!, "-D", "-f", join(prefix, "lighttpd.conf")], { stdout: "inherit", stderr: "inherit" });
    children.push(lighttpd);
    await waitForPort(lighttpdPort, lighttpd, () => `lighttpd did not start: ${readFileSync(join(prefix, "error.log"), "utf8")}`);
  });

  test(`${payloads.length} payloads, each followed by an innocent request on another connection: the app sees exactly what lighttpd forwarded`, async () => {
    const log = async (): Promise<ProxyLine[]> => {
      const text = Bun.file(join(prefix, "access.log"));
      const lines = (await text.exists()) ? (await text.text()).split("\n").filter(Boolean) : [];
      return lines.map((l) => {
        // "METHOD path|query|X-App-Target": the query is "" when there is none, the field "-" when the response had none.
        const [request, query, appTarget] = l.split("|");
        const [method, path] = [request!.slice(0, request!.indexOf(" ")), request!.slice(request!.indexOf(" ") + 1)];
        return { request: `${method} ${short(query ? `${path}?${query}` : path)}`, appTarget: appTarget ?? "-" };
      });
    };
    await runCorpus(lighttpdPort, seen, log);
  }, 120_000);
});
