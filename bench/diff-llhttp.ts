/**
 * Differential testing of tsgi's request parser against llhttp, the parser
 * inside `node:http`, through real servers on 127.0.0.1.
 *
 * Both servers echo, for every request they accept, how they framed it:
 * method, request-target, body length and a hash of the body. A rejected
 * request shows as a 4xx/5xx response. Every case is a byte string (one
 * request, or a pipelined pair, built from framing edge cases) followed by a
 * sentinel `GET /end ... Connection: close` so that a server which frames the
 * bytes as intended answers and closes at once.
 *
 * A case FAILS when tsgi accepts a request that llhttp rejected (or never
 * answered), or when both accept but frame the bytes differently. tsgi
 * rejecting what llhttp accepts, or closing the connection where llhttp kept
 * it open, is allowed and counted as `stricter`.
 *
 * The few deliberate differences where tsgi accepts what llhttp does not
 * ({@link EXCEPTIONS}: method tokens llhttp does not know, HTTP/1.2–1.9,
 * Proxy-Connection) are not taken on trust: each one
 * rewrites the bytes into the form tsgi reads them as (say `FOO /` → `POST /`),
 * llhttp is asked again, and it must then frame every request exactly as
 * tsgi framed the original bytes. Such a case counts as `allowed`; anything
 * after the difference is still compared.
 *
 * Long run (the short one is test/diff-llhttp.test.ts):
 *
 *     bun bench/diff-llhttp.ts [--cases 20000] [--seed 1] [--concurrency 32] [--verbose]
 *
 * Node (with llhttp) must be on PATH as `node` (or set NODE=/path/to/node).
 * @module
 */
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { serve } from "../src/server/index.ts";
import type { Application } from "../src/spec.ts";
export { prng } from "./prng.ts";
import { prng } from "./prng.ts";
import { benchArgs, numberArg } from "./args.ts";

// ---------------------------------------------------------------- servers

/**
 * The node:http echo server, as strict as Node allows: llhttp without
 * `insecureHTTPParser` (no lenient flags), `requireHostHeader`, and a header
 * size limit equal to tsgi's so that limits do not show as differences.
 */
export const NODE_SERVER_SOURCE = `
const http = require("node:http");
const crypto = require("node:crypto");
// Run fn once the responses to the requests accepted so far on socket are out.
function afterInflight(socket, fn) {
  if (!socket.inflight) fn();
  else (socket.waiting = socket.waiting || []).push(fn);
}
const server = http.createServer({
  insecureHTTPParser: false,
  requireHostHeader: true,
  joinDuplicateHeaders: false,
  maxHeaderSize: 65536,
  keepAlive: true,
}, (req, res) => {
  const socket = req.socket;
  socket.inflight = (socket.inflight || 0) + 1;
  res.on("finish", () => {
    socket.inflight--;
    if (socket.inflight === 0 && socket.waiting) for (const fn of socket.waiting.splice(0)) fn();
    if (socket.inflight === 0 && socket.rejectWith) reject(socket);
  });
  const hash = crypto.createHash("sha256");
  let n = 0;
  req.on("data", (d) => { n += d.length; hash.update(d); });
  req.on("error", () => {});
  req.on("end", () => {
    const body = JSON.stringify({ m: req.method, t: req.url, n, h: hash.digest("hex").slice(0, 16) });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
// CONNECT: llhttp stops at the end of its head (what follows is a tunnel);
// answer it like any request, with no body, and close.
server.on("connect", (req, socket) => {
  socket.on("error", () => {});
  afterInflight(socket, () => {
    if (socket.writableEnded || socket.destroyed) return;
    const body = JSON.stringify({ m: req.method, t: req.url, n: 0, h: crypto.createHash("sha256").digest("hex").slice(0, 16) });
    socket.end("HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: " + Buffer.byteLength(body) + "\\r\\nConnection: close\\r\\n\\r\\n" + body);
  });
});
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;
server.requestTimeout = 10000;
// A parse error ends the connection with a status naming llhttp's error code,
// but only after the responses to the requests llhttp accepted before it.
function reject(socket) {
  const code = socket.rejectWith;
  socket.rejectWith = null;
  if (!socket.writable || socket.writableEnded) return socket.destroy();
  const status = code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  socket.end("HTTP/1.1 " + status + " Bad Request\\r\\nConnection: close\\r\\nX-Llhttp-Error: " + code + "\\r\\nContent-Length: 0\\r\\n\\r\\n");
}
server.on("clientError", (err, socket) => {
  socket.rejectWith = String(err.code || "ERR");
  if (!socket.inflight) reject(socket);
  // A request whose body the error cut never finishes: give the complete
  // ones a moment to be answered, then reject.
  else setTimeout(() => { if (socket.rejectWith) reject(socket); }, 50);
});
server.listen(0, "127.0.0.1", () => { process.stdout.write(String(server.address().port) + "\\n"); });
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * Start the node:http echo server in a child `node` process (`NODE`, default `node` on PATH).
 * @throws Error, one line saying what is wrong, when that Node cannot be started (`cannot start
 * NODE: not found (...)`), exits before its server listens, or does not listen within 10 s.
 */
export async function startNodeServer(): Promise<{ port: number; stop: () => void; child: ChildProcess }> {
  const nodeBin = process.env.NODE ?? "node";
  const child = spawn(nodeBin, ["-e", NODE_SERVER_SOURCE], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${nodeBin}'s node:http echo server did not start in 10 s`)), 10000);
    child.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === "ENOENT" ? "not found" : e.message;
      reject(new Error(`cannot start ${nodeBin}: ${why} (bench/diff-llhttp.ts runs llhttp in node:http: put Node on PATH as \`node\`, or set NODE=/path/to/node)`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${nodeBin} exited with ${signal ? `signal ${signal}` : `code ${code}`} before its node:http echo server listened (NODE must be Node.js, with llhttp in node:http)`));
    });
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    port,
    child,
    stop: () => {
      child.stdin?.end();
      child.kill();
    },
  };
}

const te = new TextEncoder();

/** The tsgi echo application: same JSON as the node server. */
export const echoApp: Application = async (environ, startResponse) => {
  const hash = createHash("sha256");
  let n = 0;
  for (;;) {
    const chunk = await environ["tsgi.input"].read(65536);
    if (chunk.length === 0) break;
    n += chunk.length;
    hash.update(chunk);
  }
  const body = te.encode(
    JSON.stringify({ m: environ.REQUEST_METHOD, t: environ.REQUEST_URI, n, h: hash.digest("hex").slice(0, 16) }),
  );
  startResponse("200 OK", [
    ["Content-Type", "application/json"],
    ["Content-Length", String(body.length)],
  ]);
  return [body];
};

/** Start the tsgi echo server in this process, with the limits of {@link ECHO_LIMITS}. */
export function startTsgiServer(): { port: number; stop: () => Promise<void>; errors: string[] } {
  const errors: string[] = [];
  const server = serve(echoApp, {
    hostname: "127.0.0.1",
    port: 0,
    log: null,
    errorLog: { write: (s: string) => void errors.push(s) },
    headerTimeout: 10000,
    ...ECHO_LIMITS,
  });
  return { port: server.port, stop: () => server.close({ timeout: 100 }), errors };
}

// ---------------------------------------------------------------- exchange

/** How one server framed the requests of one case. */
export interface Framed {
  m: string;
  t: string;
  n: number;
  h: string;
}

export interface Outcome {
  /** Requests the server accepted and answered, in order. */
  accepted: Framed[];
  /** Status of the error response that ended the connection, if any. */
  rejected: number | null;
  /** How the exchange ended: the server closed, or we gave up waiting. */
  ended: "closed" | "timeout";
  /** The llhttp error code (node side) of the rejection, when known. */
  error?: string;
}

/** Parse what a server sent back: 2xx JSON echoes, then maybe one error response. */
export function parseEchoes(data: Buffer): { accepted: Framed[]; rejected: number | null; error?: string } {
  const accepted: Framed[] = [];
  let rejected: number | null = null;
  let error: string | undefined;
  let pos = 0;
  while (pos < data.length) {
    const end = data.indexOf("\r\n\r\n", pos);
    if (end < 0) break;
    const head = data.subarray(pos, end).toString("latin1");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    pos = end + 4;
    if (status >= 100 && status < 200) continue;
    // No length: a 2xx to CONNECT (no framing fields, RFC 9110 §8.6) runs to the close.
    const len = cl ? Number(cl[1]) : status >= 200 && status < 300 && !/\r\ntransfer-encoding:/i.test(head) ? data.length - pos : 0;
    const body = data.subarray(pos, pos + len);
    pos += len;
    if (status >= 200 && status < 300) {
      try {
        accepted.push(JSON.parse(body.toString("latin1")) as Framed);
      } catch {
        rejected = -1; // cut short: treat as an error
        break;
      }
    } else {
      rejected = status;
      // llhttp's error code (node side), or the reason in tsgi's error body
      error = /\r\nx-llhttp-error: *([^\r]*)/i.exec(head)?.[1] ?? /^\d{3} [^:]*: (.*)$/m.exec(body.toString("latin1"))?.[1];
      break;
    }
  }
  return { accepted, rejected, error };
}

/** Send `bytes` on a fresh connection and read until the server closes or `timeoutMs`. */
export function exchange(port: number, bytes: Uint8Array, timeoutMs = 1500): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const sock = connect({ host: "127.0.0.1", port });
    const finish = (ended: Outcome["ended"]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...parseEchoes(Buffer.concat(chunks)), ended });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("end", () => finish("closed"));
    sock.on("close", () => finish("closed"));
    sock.on("error", () => finish("closed"));
    sock.on("connect", () => sock.write(bytes));
  });
}

/**
 * `same`: both framed every request alike. `stricter`: tsgi rejected a
 * request llhttp accepted, or closed where llhttp kept the connection open.
 * `allowed`: tsgi accepted what llhttp did not, through one of the
 * {@link EXCEPTIONS} only, and framed everything as llhttp frames the
 * rewritten bytes. `FAIL`: any other difference.
 */
export type Verdict = "same" | "stricter" | "allowed" | "FAIL";

/**
 * Methods llhttp accepts in an HTTP/1.x request-line; any other token is a 400
 * there (HPE_INVALID_METHOD) and accepted by tsgi (RFC 9110 allows any token).
 * PRI is not one of them: llhttp reserves it for the HTTP/2 preface
 * `PRI * HTTP/2.0` (HPE_INVALID_VERSION otherwise), which tsgi answers 505.
 */
export const LLHTTP_METHODS = new Set(
  "DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split(
    " ",
  ),
);

/** The method an unknown one is rewritten to: neither parser gives it any framing meaning. */
export const CANONICAL_METHOD = "POST";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A deliberate difference: tsgi accepts (or keeps the connection open for)
 * something llhttp rejects, as RFC 9110/9112 require or allow, without any
 * effect on framing. `applies` recognises llhttp's outcome; `canonical`
 * rewrites the bytes into the form tsgi reads them as, which llhttp must then
 * frame exactly as tsgi framed the original.
 */
export interface Exception {
  name: string;
  why: string;
  /** `llhttp` is llhttp's outcome on `bytes`; `next` the request tsgi accepted where llhttp stopped. */
  applies: (bytes: string, llhttp: Outcome, next: Framed) => boolean;
  /** `bytes` as tsgi reads them, spelled so llhttp accepts them; `null` when no rewrite fits. */
  canonical: (bytes: string, next: Framed) => string | null;
}

/** Rename every field line `name:` (case-insensitive, at a line start) to a same-length unknown name. */
function renameField(bytes: string, name: string): string {
  const re = new RegExp(`(\\n)(${name.replace(/-/g, "\\-")})(:[^\\r\\n]*)`, "gi");
  return bytes.replace(re, (_all: string, nl: string, n: string, rest: string) => `${nl}X${n.slice(1)}${rest}`);
}

export const EXCEPTIONS: Exception[] = [
  {
    name: "method token unknown to llhttp",
    why: "RFC 9110 §9.1: method = token and any token may be used (§16.1 registry, extension methods); tsgi accepts every token and gives no method framing meaning except CONNECT; llhttp knows a fixed list (and keeps PRI for the HTTP/2 preface). Checked by rewriting the method to POST",
    applies: (_b, l, next) =>
      (l.error === "HPE_INVALID_METHOD" || (next.m === "PRI" && l.error === "HPE_INVALID_VERSION")) && TOKEN.test(next.m) && !LLHTTP_METHODS.has(next.m),
    canonical: (b, next) => {
      const line = `${next.m} ${next.t} HTTP/`;
      const at = b.indexOf(line);
      return at < 0 ? null : b.slice(0, at) + CANONICAL_METHOD + b.slice(at + next.m.length);
    },
  },
  {
    name: "HTTP/1.2-1.9 read as HTTP/1.1",
    why: "RFC 9110 §6.2: a recipient SHOULD process a higher minor version of a major version it implements as the highest minor version it conforms to; llhttp rejects every version but 1.0 and 1.1. Checked by rewriting the version to HTTP/1.1",
    applies: (_b, l) => l.error === "HPE_INVALID_VERSION",
    canonical: (b, next) => {
      const line = `${next.m} ${next.t} HTTP/1.`;
      const at = b.indexOf(line);
      const d = at < 0 ? -1 : at + line.length;
      if (d < 0 || !/^[2-9]\r\n/.test(b.slice(d, d + 3))) return null;
      return b.slice(0, d) + "1" + b.slice(d + 1);
    },
  },
  {
    name: "Proxy-Connection ignored",
    why: "llhttp treats the non-standard Proxy-Connection like Connection (close there ends the connection); tsgi follows RFC 9112 §9.3 and reads persistence from Connection only, so it keeps the connection open where llhttp closes, which changes no request's framing. Checked by renaming the Proxy-Connection fields",
    applies: (b, l) => (l.rejected === null || l.error === "HPE_CLOSED_CONNECTION") && /\nproxy-connection:/i.test(b),
    canonical: (b) => renameField(b, "Proxy-Connection"),
  },
];

/** The first difference between two outcomes: a verdict and reason, and the request tsgi accepted where llhttp stopped, when that is the difference. */
export interface Comparison {
  verdict: Verdict;
  reason: string;
  next?: Framed;
}

/**
 * Compare llhttp's and tsgi's outcomes on the same bytes. `aliases` maps a
 * request index to tsgi's method where llhttp was sent {@link CANONICAL_METHOD}
 * instead. Never returns `allowed` (see {@link judge}).
 */
export function compare(llhttp: Outcome, tsgi: Outcome, aliases: ReadonlyMap<number, string> = new Map()): Comparison {
  const L = llhttp.accepted;
  const T = tsgi.accepted;
  const n = Math.min(L.length, T.length);
  for (let k = 0; k < n; k++) {
    const a = L[k]!;
    const b = T[k]!;
    const alias = aliases.get(k);
    const sameMethod = alias === undefined ? a.m === b.m : a.m === CANONICAL_METHOD && b.m === alias;
    if (!sameMethod || a.t !== b.t || a.n !== b.n || a.h !== b.h) {
      return { verdict: "FAIL", reason: `request ${k + 1} framed differently: llhttp ${JSON.stringify(a)} tsgi ${JSON.stringify(b)}` };
    }
  }
  if (T.length > L.length) {
    const next = T[L.length]!;
    const how = llhttp.rejected !== null ? `llhttp rejected it (${llhttp.rejected} ${llhttp.error ?? ""})` : `llhttp did not answer it (${llhttp.ended})`;
    return { verdict: "FAIL", reason: `tsgi accepted request ${L.length + 1} ${JSON.stringify(next)}; ${how}`, next };
  }
  if (T.length < L.length) {
    if (tsgi.rejected !== null) {
      return { verdict: "stricter", reason: `tsgi rejected request ${T.length + 1} with ${tsgi.rejected} (${tsgi.error ?? "?"}); llhttp accepted it` };
    }
    if (tsgi.ended === "closed") {
      return { verdict: "stricter", reason: `tsgi closed the connection after request ${T.length}; llhttp kept it open` };
    }
    return { verdict: "FAIL", reason: `tsgi did not answer request ${T.length + 1} (${tsgi.ended}); llhttp accepted ${JSON.stringify(L[T.length])}` };
  }
  return { verdict: "same", reason: "" };
}

/**
 * The verdict on one case: {@link compare}, and where tsgi accepted a
 * request llhttp did not, the matching {@link EXCEPTIONS} entry's rewrite
 * sent to llhttp again (`exchangeLlhttp`), repeatedly, until the outcomes
 * agree, tsgi turns out stricter, or a difference no exception explains
 * remains (FAIL).
 */
export async function judge(
  bytes: string,
  llhttp: Outcome,
  tsgi: Outcome,
  exchangeLlhttp: (bytes: string) => Promise<Outcome>,
): Promise<Comparison & { exceptions: string[] }> {
  const used: string[] = [];
  const aliases = new Map<number, string>();
  let l = llhttp;
  for (let round = 0; ; round++) {
    const r = compare(l, tsgi, aliases);
    const tag = used.length > 0 ? `allowed (${used.join(", ")}), then ` : "";
    if (r.verdict === "same") {
      return used.length > 0 ? { verdict: "allowed", reason: `allowed: ${used.join(", ")}`, exceptions: used } : { ...r, exceptions: used };
    }
    if (r.verdict === "stricter") return { ...r, reason: tag + r.reason, exceptions: used };
    const next = r.next;
    const ex = next && round < 8 ? EXCEPTIONS.find((e) => e.applies(bytes, l, next)) : undefined;
    const rewritten = ex && next ? ex.canonical(bytes, next) : null;
    if (!ex || !next || rewritten === null || rewritten === bytes) {
      const hint = ex ? ` (looks like "${ex.name}" but the bytes could not be rewritten)` : "";
      return { verdict: "FAIL", reason: tag + r.reason + hint, exceptions: used };
    }
    if (ex === EXCEPTIONS[0]) aliases.set(l.accepted.length, next.m);
    used.push(ex.name);
    bytes = rewritten;
    l = await exchangeLlhttp(bytes);
  }
}

// ---------------------------------------------------------------- corpus


export interface Case {
  name: string;
  /** Latin-1 string of the bytes sent (before the sentinel). */
  payload: string;
}

const SENTINEL = "GET /end HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n";

/** The bytes of a case as sent: its payload, then the sentinel request. */
export function caseBytes(c: Case): Uint8Array {
  return Buffer.from(c.payload + SENTINEL, "latin1");
}

const BODY = "hello";

/** Content-Length field lines (with the 5-byte body "hello"). */
const CL_VARIANTS: Array<[string, string]> = [
  ["CL 5", "Content-Length: 5\r\n"],
  ["CL lower", "content-length: 5\r\n"],
  ["CL upper", "CONTENT-LENGTH: 5\r\n"],
  ["CL no OWS", "Content-Length:5\r\n"],
  ["CL tab OWS", "Content-Length:\t5\t\r\n"],
  ["CL trailing SP", "Content-Length: 5 \r\n"],
  ["CL leading zeros", "Content-Length: 005\r\n"],
  ["CL plus", "Content-Length: +5\r\n"],
  ["CL minus", "Content-Length: -5\r\n"],
  ["CL hex", "Content-Length: 0x5\r\n"],
  ["CL list same", "Content-Length: 5, 5\r\n"],
  ["CL list comma", "Content-Length: 5,5\r\n"],
  ["CL list differ", "Content-Length: 5, 6\r\n"],
  ["CL two lines same", "Content-Length: 5\r\nContent-Length: 5\r\n"],
  ["CL two lines differ", "Content-Length: 5\r\nContent-Length: 3\r\n"],
  ["CL empty", "Content-Length: \r\n"],
  ["CL space inside", "Content-Length: 5 5\r\n"],
  ["CL huge", "Content-Length: 99999999999999999999\r\n"],
  ["CL 2^53", "Content-Length: 9007199254740993\r\n"],
  ["CL SP before colon", "Content-Length : 5\r\n"],
  ["CL tab before colon", "Content-Length\t: 5\r\n"],
  ["CL underscore", "Content_Length: 5\r\n"],
  ["CL fraction", "Content-Length: 5.0\r\n"],
  ["CL 0", "Content-Length: 0\r\n"],
  ["CL 3 (short)", "Content-Length: 3\r\n"],
  ["CL 7 (long)", "Content-Length: 7\r\n"],
  ["CL obs-fold", "Content-Length:\r\n 5\r\n"],
  ["CL NUL", "Content-Length: 5\x00\r\n"],
  ["CL vtab", "Content-Length: \x0b5\r\n"],
  // More number spellings: many leading zeros, a value that wraps to 5 in 64 bits, DEL, NBSP, a latin-1 superscript digit.
  ["CL 22 leading zeros", `Content-Length: ${"0".repeat(22)}5\r\n`],
  ["CL 2^64 + 5", "Content-Length: 18446744073709551621\r\n"],
  ["CL DEL", "Content-Length: 5\x7f\r\n"],
  ["CL NBSP", "Content-Length: 5\xa0\r\n"],
  ["CL superscript two", "Content-Length: \xb2\r\n"],
];

const CHUNKED = "5\r\nhello\r\n0\r\n\r\n";

/** Transfer-Encoding field lines (with a valid chunked body). */
const TE_VARIANTS: Array<[string, string]> = [
  ["TE chunked", "Transfer-Encoding: chunked\r\n"],
  ["TE Chunked", "Transfer-Encoding: Chunked\r\n"],
  ["TE CHUNKED", "TRANSFER-ENCODING: CHUNKED\r\n"],
  ["TE no OWS", "Transfer-Encoding:chunked\r\n"],
  ["TE tab", "Transfer-Encoding:\tchunked\t\r\n"],
  ["TE chunked twice", "Transfer-Encoding: chunked, chunked\r\n"],
  ["TE two lines chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"],
  ["TE gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n"],
  ["TE gzip + chunked lines", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"],
  ["TE chunked, gzip", "Transfer-Encoding: chunked, gzip\r\n"],
  ["TE chunked + gzip lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"],
  ["TE identity", "Transfer-Encoding: identity\r\n"],
  ["TE identity, chunked", "Transfer-Encoding: identity, chunked\r\n"],
  ["TE xchunked", "Transfer-Encoding: xchunked\r\n"],
  ["TE chunkedx", "Transfer-Encoding: chunkedx\r\n"],
  ["TE chunked;q", "Transfer-Encoding: chunked;q=1\r\n"],
  ["TE leading comma", "Transfer-Encoding: , chunked\r\n"],
  ["TE trailing comma", "Transfer-Encoding: chunked,\r\n"],
  ["TE empty", "Transfer-Encoding: \r\n"],
  ["TE SP before colon", "Transfer-Encoding : chunked\r\n"],
  ["TE underscore", "Transfer_Encoding: chunked\r\n"],
  ["TE obs-fold", "Transfer-Encoding:\r\n chunked\r\n"],
  ["TE quoted", 'Transfer-Encoding: "chunked"\r\n'],
  ["TE + CL", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"],
  ["CL + TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"],
  ["TE + CL 0", "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"],
  ["TE vtab", "Transfer-Encoding: \x0bchunked\r\n"],
  ["TE chunked NUL", "Transfer-Encoding: chunked\x00\r\n"],
  ["TE chunked , chunked", "Transfer-Encoding: chunked , chunked\r\n"],
  ["TE CHUNKED, Chunked", "Transfer-Encoding: CHUNKED, Chunked\r\n"],
  ["TE deflate, chunked", "Transfer-Encoding: deflate, chunked\r\n"],
  ["TE unknown, chunked", "Transfer-Encoding: x, chunked\r\n"],
  ["TE gzip;q, chunked", "Transfer-Encoding: gzip;q=1, chunked\r\n"],
  ["TE empty elements, chunked", "Transfer-Encoding: ,,chunked\r\n"],
  ["TE chunked + empty line", "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n"],
  ["TE empty line + chunked", "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n"],
  ["TE chunked + identity lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"],
  ["TE chunked DEL", "Transfer-Encoding: chunked\x7f\r\n"],
  ["TE chunked NBSP", "Transfer-Encoding: chunked\xa0\r\n"],
  ["TE NBSP chunked", "Transfer-Encoding: \xa0chunked\r\n"],
  ["TE tab before colon", "Transfer-Encoding\t: chunked\r\n"],
  ["TE obs-fold tab", "Transfer-Encoding:\r\n\tchunked\r\n"],
];

/** Chunked bodies (with `Transfer-Encoding: chunked`). */
const CHUNK_VARIANTS: Array<[string, string]> = [
  ["chunk plain", CHUNKED],
  ["chunk two", "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"],
  ["chunk upper hex", "A\r\n0123456789\r\n0\r\n\r\n"],
  ["chunk lower hex", "a\r\n0123456789\r\n0\r\n\r\n"],
  ["chunk leading zeros", "0005\r\nhello\r\n0000\r\n\r\n"],
  ["chunk 0x", "0x5\r\nhello\r\n0\r\n\r\n"],
  ["chunk plus", "+5\r\nhello\r\n0\r\n\r\n"],
  ["chunk minus", "-5\r\nhello\r\n0\r\n\r\n"],
  ["chunk SP before size", " 5\r\nhello\r\n0\r\n\r\n"],
  ["chunk SP after size", "5 \r\nhello\r\n0\r\n\r\n"],
  ["chunk tab after size", "5\t\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext", "5;foo\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext value", "5;foo=bar\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext quoted", '5;foo="b a;r"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext quoted escape", '5;foo="b\\"r"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext two", "5;a=1;b=2\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext BWS before ;", "5 ;foo\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext BWS after ;", "5; foo\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext BWS around =", "5;foo = bar\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext tab before ;", "5\t;foo\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext BWS after value", "5;a=b ;c\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext BWS after quoted", '5;a="x" ;b\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext BWS on last", "5\r\nhello\r\n0 ;foo\r\n\r\n"],
  ["chunk ext empty", "5;\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext no name", "5;=x\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext on last", "5\r\nhello\r\n0;foo=bar\r\n\r\n"],
  ["chunk ext bare CR", "5;foo\rbar\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext bare LF", "5;foo\nbar\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext NUL", "5;f\x00o\r\nhello\r\n0\r\n\r\n"],
  ["chunk size LF", "5\nhello\r\n0\r\n\r\n"],
  ["chunk data LF", "5\r\nhello\n0\r\n\r\n"],
  ["chunk data no CRLF", "5\r\nhello0\r\n\r\n"],
  ["chunk data too long", "5\r\nhelloX\r\n0\r\n\r\n"],
  ["chunk data short", "6\r\nhello\r\n0\r\n\r\n"],
  ["chunk last LF", "5\r\nhello\r\n0\n\r\n"],
  ["chunk final LF", "5\r\nhello\r\n0\r\n\n"],
  ["chunk trailer", "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"],
  ["chunk trailers two", "5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"],
  ["chunk trailer obs-fold", "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"],
  ["chunk trailer no colon", "5\r\nhello\r\n0\r\nX-T\r\n\r\n"],
  ["chunk trailer SP colon", "5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n"],
  ["chunk trailer bare LF", "5\r\nhello\r\n0\r\nX-T: 1\n\r\n"],
  ["chunk trailer CL", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"],
  ["chunk trailer CL empty", "5\r\nhello\r\n0\r\ncontent-length:\r\n\r\n"],
  ["chunk trailer TE", "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["chunk trailer TE empty", "5\r\nhello\r\n0\r\nTransfer-Encoding:\r\n\r\n"],
  ["chunk trailer Connection close", "5\r\nhello\r\n0\r\nConnection: close\r\n\r\n"],
  ["chunk trailer Connection keep-alive", "5\r\nhello\r\n0\r\nX-T: 1\r\nconnection: keep-alive\r\n\r\n"],
  ["chunk trailer Proxy-Connection close", "5\r\nhello\r\n0\r\nProxy-Connection: close\r\n\r\n"],
  ["chunk trailer Upgrade", "5\r\nhello\r\n0\r\nUpgrade: websocket\r\n\r\n"],
  ["chunk trailer Host", "5\r\nhello\r\n0\r\nHost: other\r\n\r\n"],
  ["chunk size huge", "FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 40 digits", `${"0".repeat(39)}5\r\nhello\r\n0\r\n\r\n`],
  ["chunk last 16 zeros", `5\r\nhello\r\n${"0".repeat(16)}\r\n\r\n`],
  ["chunk last 17 zeros", `5\r\nhello\r\n${"0".repeat(17)}\r\n\r\n`],
  ["chunk ext quoted obs-text", '5;a="\xff"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext token obs-text", "5;a=\xff\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext quoted CRLF", '5;a="x\r\n"\r\nhello\r\n0\r\n\r\n'],
  ["chunk trailer CL SP colon", "5\r\nhello\r\n0\r\nX-T: 1\r\nContent-Length : 5\r\n\r\n"],
  ["chunk trailer Content-Length2", "5\r\nhello\r\n0\r\nContent-Length2: 5\r\n\r\n"],
  ["chunk trailer Trailer", "5\r\nhello\r\n0\r\nTrailer: X-T\r\n\r\n"],
  ["chunk trailer Expect", "5\r\nhello\r\n0\r\nExpect: 100-continue\r\n\r\n"],
  ["chunk trailer NUL", "5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n"],
  ["chunk trailer obs-text", "5\r\nhello\r\n0\r\nX-T: \xff\r\n\r\n"],
  ["chunk size empty", "\r\nhello\r\n0\r\n\r\n"],
  ["chunk size g", "g\r\nhello\r\n0\r\n\r\n"],
  ["chunk missing last", "5\r\nhello\r\n"],
  ["chunk zero data", "0\r\n\r\n"],
  // "Funky chunks" (2025): line terminators and spills on chunk lines that parsers read differently
  // (TERM.EXT, EXT.TERM, TERM.SPILL, SPILL.TERM), quoted extensions holding line ends, and sizes a
  // parser truncates or wraps (32 and 64 bits).
  ["chunk size bare CR", "5\rhello\r\n0\r\n\r\n"],
  ["chunk size CR CR LF", "5\r\r\nhello\r\n0\r\n\r\n"],
  ["chunk size leading tab", "\t5\r\nhello\r\n0\r\n\r\n"],
  ["chunk size underscore", "0_5\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 2^32 + 5", "100000005\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 2^53 + 5", "20000000000005\r\nhello\r\n0\r\n\r\n"],
  ["chunk size 2^64 + 5", "10000000000000005\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext quoted bare LF", '5;a="x\ny"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext quoted bare CR", '5;a="x\ry"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext quoted escaped CR", '5;a="x\\\ry"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext quoted escaped LF", '5;a="x\\\ny"\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext quoted unterminated", '5;a="xy\r\nhello\r\n0\r\n\r\n'],
  ["chunk ext empty value", "5;a=\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext DEL", "5;a\x7f\r\nhello\r\n0\r\n\r\n"],
  ["chunk ext bare LF then CRLF", "5;a\n\r\nhello\r\n0\r\n\r\n"],
  ["chunk data CR then byte", "5\r\nhello\rX0\r\n\r\n"],
  ["chunk data two-byte spill", "5\r\nhelloXX0\r\n\r\n"],
  ["chunk data CR CR LF", "5\r\nhello\r\r\n0\r\n\r\n"],
  ["chunk last bare CR", "5\r\nhello\r\n0\r\r\n\r\n"],
  ["chunk trailer bare CR", "5\r\nhello\r\n0\r\nX-T: 1\rX\r\n\r\n"],
  ["chunk trailer DEL", "5\r\nhello\r\n0\r\nX-T: a\x7f\r\n\r\n"],
  ["chunk no final CRLF", "5\r\nhello\r\n0\r\n"],
];

/** Request lines (method, target, version shapes). */
const LINE_VARIANTS: Array<[string, string]> = [
  ["line plain", "GET / HTTP/1.1\r\n"],
  ["line query", "GET /a/b?c=d&e HTTP/1.1\r\n"],
  ["line percent", "GET /%41%20b HTTP/1.1\r\n"],
  ["line absolute-form", "GET http://h/x HTTP/1.1\r\n"],
  ["line asterisk", "OPTIONS * HTTP/1.1\r\n"],
  ["line two SP", "GET  / HTTP/1.1\r\n"],
  ["line trailing SP", "GET / HTTP/1.1 \r\n"],
  ["line tab", "GET\t/ HTTP/1.1\r\n"],
  ["line tab 2", "GET /\tHTTP/1.1\r\n"],
  ["line lower version", "GET / http/1.1\r\n"],
  ["line HTTP/1.0", "GET / HTTP/1.0\r\n"],
  ["line HTTP/1.2", "GET / HTTP/1.2\r\n"],
  ["line HTTP/2.0", "GET / HTTP/2.0\r\n"],
  ["line HTTP/1.10", "GET / HTTP/1.10\r\n"],
  ["line HTTP/01.1", "GET / HTTP/01.1\r\n"],
  ["line HTTP/1", "GET / HTTP/1\r\n"],
  ["line no version", "GET /\r\n"],
  ["line bare LF", "GET / HTTP/1.1\n"],
  ["line bare CR", "GET / HTTP/1.1\rX: y\r\n"],
  ["line leading CRLF", "\r\nGET / HTTP/1.1\r\n"],
  ["line leading LF", "\nGET / HTTP/1.1\r\n"],
  ["line lower method", "get / HTTP/1.1\r\n"],
  ["line unknown method", "FOO / HTTP/1.1\r\n"],
  ["line target NUL", "GET /\x00 HTTP/1.1\r\n"],
  ["line target DEL", "GET /\x7f HTTP/1.1\r\n"],
  ["line target obs-text", "GET /\xe9 HTTP/1.1\r\n"],
  ["line target quote", 'GET /"x" HTTP/1.1\r\n'],
  ["line target hash", "GET /#frag HTTP/1.1\r\n"],
  ["line target braces", "GET /{x}|^ HTTP/1.1\r\n"],
  ["line empty target", "GET  HTTP/1.1\r\n"],
  ["line POST", "POST /p HTTP/1.1\r\n"],
  ["line PUT", "PUT /p HTTP/1.1\r\n"],
  ["line DELETE", "DELETE /p HTTP/1.1\r\n"],
  ["line HTTP/1.9", "GET / HTTP/1.9\r\n"],
  ["line token method", "M-SEARCH! /x HTTP/1.1\r\n"],
  ["line PRI", "PRI / HTTP/1.1\r\n"],
  ["line CONNECT", "CONNECT h:443 HTTP/1.1\r\n"],
  ["line CONNECT origin-form", "CONNECT / HTTP/1.1\r\n"],
  ["line connect lower", "connect h:443 HTTP/1.1\r\n"],
  // request-target forms (RFC 9112 §3.2)
  ["target absolute no path", "GET http://h HTTP/1.1\r\n"],
  ["target absolute query, no path", "GET http://h?q=1 HTTP/1.1\r\n"],
  ["target absolute port", "GET http://h:8080/x HTTP/1.1\r\n"],
  ["target absolute empty port", "GET http://h:/x HTTP/1.1\r\n"],
  ["target absolute big port", "GET http://h:99999/x HTTP/1.1\r\n"],
  ["target absolute IPv6", "GET http://[::1]:8080/x HTTP/1.1\r\n"],
  ["target absolute IPv4", "GET http://192.0.2.1/x HTTP/1.1\r\n"],
  ["target absolute upper scheme", "GET HTTP://H/x HTTP/1.1\r\n"],
  ["target absolute other scheme", "GET ftp://h/x HTTP/1.1\r\n"],
  ["target absolute scheme with +", "GET svn+ssh://h/x HTTP/1.1\r\n"],
  ["target absolute scheme with digit", "GET h2c://h/x HTTP/1.1\r\n"],
  ["target absolute userinfo", "GET http://u@h/x HTTP/1.1\r\n"],
  ["target absolute userinfo password", "GET http://u:p@h/x HTTP/1.1\r\n"],
  ["target absolute empty userinfo", "GET http://@h/x HTTP/1.1\r\n"],
  ["target absolute no host", "GET http:///x HTTP/1.1\r\n"],
  ["target absolute port only", "GET http://:80/x HTTP/1.1\r\n"],
  ["target absolute bad port", "GET http://h:8x/x HTTP/1.1\r\n"],
  ["target absolute two ports", "GET http://h:80:80/x HTTP/1.1\r\n"],
  ["target absolute open bracket", "GET http://[::1/x HTTP/1.1\r\n"],
  ["target absolute junk after bracket", "GET http://[::1]x/ HTTP/1.1\r\n"],
  ["target absolute close bracket", "GET http://h]/ HTTP/1.1\r\n"],
  ["target absolute pct host", "GET http://h%41/x HTTP/1.1\r\n"],
  ["target absolute bad pct host", "GET http://h%zz/x HTTP/1.1\r\n"],
  ["target absolute sub-delims host", "GET http://h!$&'()*+,;=/x HTTP/1.1\r\n"],
  ["target absolute one slash", "GET http:/h/x HTTP/1.1\r\n"],
  ["target absolute no slash", "GET http:h/x HTTP/1.1\r\n"],
  ["target absolute fragment", "GET http://h/x#f HTTP/1.1\r\n"],
  ["target absolute OPTIONS", "OPTIONS http://h HTTP/1.1\r\n"],
  ["target asterisk GET", "GET * HTTP/1.1\r\n"],
  ["target asterisk POST", "POST * HTTP/1.1\r\n"],
  ["target asterisk with path", "OPTIONS */x HTTP/1.1\r\n"],
  ["target origin /*", "GET /* HTTP/1.1\r\n"],
  ["target origin //", "GET //x HTTP/1.1\r\n"],
  ["target origin dots", "GET /./../x HTTP/1.1\r\n"],
  ["target origin bad pct", "GET /%zz/% HTTP/1.1\r\n"],
  ["target origin query only", "GET /? HTTP/1.1\r\n"],
  ["target relative", "GET x/y HTTP/1.1\r\n"],
  ["target query only", "GET ?x HTTP/1.1\r\n"],
  ["target CONNECT IPv6", "CONNECT [::1]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPv4", "CONNECT 192.0.2.1:443 HTTP/1.1\r\n"],
  ["target CONNECT no port", "CONNECT h HTTP/1.1\r\n"],
  ["target CONNECT empty port", "CONNECT h: HTTP/1.1\r\n"],
  ["target CONNECT no host", "CONNECT :443 HTTP/1.1\r\n"],
  ["target CONNECT userinfo", "CONNECT u@h:443 HTTP/1.1\r\n"],
  ["target CONNECT with path", "CONNECT h:443/x HTTP/1.1\r\n"],
  ["target CONNECT absolute", "CONNECT http://h:443 HTTP/1.1\r\n"],
  ["target CONNECT asterisk", "CONNECT * HTTP/1.1\r\n"],
  // IP-literal authorities in absolute-form and CONNECT targets (the Host rule)
  ["target absolute IPv6 full", "GET http://[2001:db8:0:0:1:0:0:1]:8080/x HTTP/1.1\r\n"],
  ["target absolute IPv6 v4 tail", "GET http://[::ffff:192.0.2.1]/x HTTP/1.1\r\n"],
  ["target absolute IPv6 zone", "GET http://[fe80::1%25eth0]:80/ HTTP/1.1\r\n"],
  ["target absolute IPv6 raw zone", "GET http://[fe80::1%eth0]/ HTTP/1.1\r\n"],
  ["target absolute IPvFuture", "GET http://[v1.x]/ HTTP/1.1\r\n"],
  ["target absolute IPv4 in brackets", "GET http://[1.2.3.4]:80/ HTTP/1.1\r\n"],
  ["target absolute IPv6 two elisions", "GET http://[1::2::3]/ HTTP/1.1\r\n"],
  ["target absolute IPv6 five hex", "GET http://[::12345]/ HTTP/1.1\r\n"],
  ["target absolute IPv6 empty", "GET http://[]/ HTTP/1.1\r\n"],
  ["target absolute IPv6 query", "GET http://[::1]?q HTTP/1.1\r\n"],
  ["target absolute port leading zeros", "GET http://h:0080/ HTTP/1.1\r\n"],
  ["target absolute reg-name odd", "GET http://a~b_c-d.%7E!$&'()*+,;=:1/ HTTP/1.1\r\n"],
  ["target CONNECT IPv6 full", "CONNECT [2001:db8::1:0:0:1]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPv6 v4 tail", "CONNECT [::ffff:192.0.2.1]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPv6 zone", "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPvFuture", "CONNECT [v1.x]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPv6 no port", "CONNECT [::1] HTTP/1.1\r\n"],
  ["target CONNECT IPv6 empty port", "CONNECT [::1]: HTTP/1.1\r\n"],
  ["target CONNECT IPv6 bad", "CONNECT [zz]:443 HTTP/1.1\r\n"],
  ["target CONNECT IPv4 in brackets", "CONNECT [1.2.3.4]:443 HTTP/1.1\r\n"],
  ["target CONNECT port leading zeros", "CONNECT h:00443 HTTP/1.1\r\n"],
  ["target CONNECT port huge", "CONNECT h:99999999999 HTTP/1.1\r\n"],
];

/** Field-line shapes (added to a GET with Host). */
const FIELD_VARIANTS: Array<[string, string]> = [
  ["field plain", "X-A: b\r\n"],
  ["field empty value", "X-A:\r\n"],
  ["field empty value SP", "X-A: \r\n"],
  ["field tab value", "X-A:\tb\tc\t\r\n"],
  ["field obs-text", "X-A: \xe9\xff\r\n"],
  ["field obs-fold", "X-A: b\r\n c\r\n"],
  ["field obs-fold tab", "X-A: b\r\n\tc\r\n"],
  ["field first line fold", " X-A: b\r\n"],
  ["field SP before colon", "X-A : b\r\n"],
  ["field no colon", "X-A b\r\n"],
  ["field empty name", ": b\r\n"],
  ["field bare LF", "X-A: b\n"],
  ["field bare CR", "X-A: b\rc\r\n"],
  ["field NUL", "X-A: b\x00c\r\n"],
  ["field DEL", "X-A: b\x7fc\r\n"],
  ["field vtab", "X-A: b\x0bc\r\n"],
  ["field ctl in name", "X\x01A: b\r\n"],
  ["field quote in name", 'X"A: b\r\n'],
  ["field utf8 name", "X-\xc3\xa9: b\r\n"],
  ["field colon in value", "X-A: b:c\r\n"],
  ["field many", Array.from({ length: 50 }, (_, k) => `X-${k}: ${k}\r\n`).join("")],
  ["field long value", `X-A: ${"v".repeat(8000)}\r\n`],
  ["field Connection close", "Connection: close\r\n"],
  ["field Connection keep-alive", "Connection: keep-alive\r\n"],
  ["field Expect", "Expect: 100-continue\r\n"],
  ["field Expect odd", "Expect: 100-continuex\r\n"],
  ["field Proxy-Connection close", "Proxy-Connection: close\r\n"],
  ["field Proxy-Connection keep-alive", "Proxy-Connection: keep-alive\r\n"],
  ["field Upgrade only", "Upgrade: websocket\r\n"],
  ["field Connection upgrade only", "Connection: upgrade\r\n"],
  ["field upgrade request", "Connection: Upgrade\r\nUpgrade: websocket\r\n"],
  ["field h2c upgrade", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"],
  ["field upgrade empty", "Connection: upgrade\r\nUpgrade:\r\n"],
  ["field upgrade blank", "Connection: upgrade\r\nUpgrade: \t\r\n"],
  // every control byte in a value (HTAB is OWS; CR and LF end the line), obs-text at its edges
  ...Array.from({ length: 32 }, (_, c) => c)
    .filter((c) => c !== 0x09 && c !== 0x0a && c !== 0x0d)
    .map((c): [string, string] => [`field ctl 0x${c.toString(16).padStart(2, "0")}`, `X-A: a${String.fromCharCode(c)}b\r\n`]),
  ["field obs-text 0x80", "X-A: a\x80b\r\n"],
  ["field obs-text 0x9f", "X-A: a\x9fb\r\n"],
  ["field obs-text 0xa0", "X-A: a\xa0b\r\n"],
  ["field obs-text only", "X-A: \xff\r\n"],
  ["field NUL at end", "X-A: b\x00\r\n"],
  ["field NUL first", "X-A:\x00b\r\n"],
  // field-names: every tchar, and the delimiters that are not tchars (RFC 9110 §5.6.2)
  ["field name all tchar", "!#$%&'*+-.^_`|~09azAZ: b\r\n"],
  ["field name digit", "1: b\r\n"],
  ["field name tilde", "~: b\r\n"],
  ["field name Host-like", "Host2: b\r\n"],
  ...[..."@(),/;=?[]{}\\\x7f\x80"].map((c): [string, string] => [`field name with ${JSON.stringify(c)}`, `X${c}A: b\r\n`]),
];

const HOST_VARIANTS: Array<[string, string]> = [
  ["host plain", "Host: h\r\n"],
  ["host missing", ""],
  ["host twice", "Host: h\r\nHost: h\r\n"],
  ["host twice differ", "Host: a\r\nHost: b\r\n"],
  ["host empty", "Host:\r\n"],
  ["host port", "Host: h:8080\r\n"],
  ["host upper", "HOST: h\r\n"],
  ["host SP before colon", "Host : h\r\n"],
  ["host bad chars", "Host: h h\r\n"],
  ["host after body fields", ""],
  ["host userinfo", "Host: u@h\r\n"],
  ["host userinfo password", "Host: u:p@h\r\n"],
  ["host IPv6", "Host: [::1]\r\n"],
  ["host IPv6 port", "Host: [::1]:8080\r\n"],
  ["host IPv6 open", "Host: [::1\r\n"],
  ["host two ports", "Host: h:80:80\r\n"],
  ["host empty port", "Host: h:\r\n"],
  ["host port only", "Host: :80\r\n"],
  ["host big port", "Host: h:65536\r\n"],
  ["host trailing dot", "Host: h.\r\n"],
  ["host pct", "Host: h%41\r\n"],
  ["host lone pct", "Host: %\r\n"],
  ["host sub-delims", "Host: h!$&'()*+,;=\r\n"],
  ["host path", "Host: h/p\r\n"],
  ["host obs-text", "Host: h\xff\r\n"],
  ["host DEL", "Host: h\x7f\r\n"],
  ["host OWS", "Host: \th \r\n"],
  ["host case twice", "Host: h\r\nhost: h\r\n"],
  ["host empty twice", "Host:\r\nHost:\r\n"],
];

/** Host values for the authority syntax alone (HTTP/1.1 only in the systematic corpus: the version changes nothing there). */
const AUTHORITY_HOST_VARIANTS: Array<[string, string]> = [
  // IP-literals (RFC 3986 3.2.2, RFC 4291 2.2, RFC 6874 zones): valid ones, and near-valid ones tsgi refuses
  ["host IPv6 full", "Host: [2001:db8:0:0:1:0:0:1]:80\r\n"],
  ["host IPv6 elided middle", "Host: [2001:db8::1:0:0:1]\r\n"],
  ["host IPv6 elided end", "Host: [1:2:3:4:5:6:7::]\r\n"],
  ["host IPv6 all zero", "Host: [::]\r\n"],
  ["host IPv6 upper", "Host: [2001:DB8::A]\r\n"],
  ["host IPv6 v4-mapped", "Host: [::ffff:192.0.2.1]:80\r\n"],
  ["host IPv6 v4 tail full", "Host: [1:2:3:4:5:6:1.2.3.4]\r\n"],
  ["host IPv6 v4 leading zero", "Host: [::ffff:010.0.0.1]\r\n"],
  ["host IPv6 v4 octet 256", "Host: [::ffff:256.0.0.1]\r\n"],
  ["host IPv6 v4 not last", "Host: [::1.2.3.4:1]\r\n"],
  ["host IPv6 two elisions", "Host: [1::2::3]\r\n"],
  ["host IPv6 triple colon", "Host: [1:::2]\r\n"],
  ["host IPv6 five hex", "Host: [::12345]\r\n"],
  ["host IPv6 nine groups", "Host: [1:2:3:4:5:6:7:8:9]\r\n"],
  ["host IPv6 eight with elision", "Host: [1:2:3:4::5:6:7:8]\r\n"],
  ["host IPv6 seven groups", "Host: [1:2:3:4:5:6:7]\r\n"],
  ["host IPv6 lone colon start", "Host: [:1::2]\r\n"],
  ["host IPv6 lone colon end", "Host: [1::2:]\r\n"],
  ["host IPv4 in brackets", "Host: [1.2.3.4]\r\n"],
  ["host IPv6 zone", "Host: [fe80::1%25eth0]:80\r\n"],
  ["host IPv6 zone pct", "Host: [fe80::1%25en%2F1]\r\n"],
  ["host IPv6 zone raw pct", "Host: [fe80::1%eth0]\r\n"],
  ["host IPv6 zone empty", "Host: [fe80::1%25]\r\n"],
  ["host IPv6 zone sub-delim", "Host: [fe80::1%25a!b]\r\n"],
  ["host IPvFuture", "Host: [v1.x]\r\n"],
  ["host IPvFuture full", "Host: [vFe.a-_~!$&'()*+,;=:b]:8080\r\n"],
  ["host IPvFuture no hex", "Host: [v.x]\r\n"],
  ["host IPvFuture no dot", "Host: [v1x]\r\n"],
  ["host IPvFuture empty", "Host: [v1.]\r\n"],
  ["host IPvFuture pct", "Host: [v1.%41]\r\n"],
  ["host IPv6 empty brackets", "Host: []\r\n"],
  ["host IPv6 bracket port empty", "Host: [::1]:\r\n"],
  ["host IPv6 bracket junk", "Host: [::1]x\r\n"],
  ["host IPv6 nested", "Host: [[::1]]\r\n"],
  ["host bracket inside", "Host: h[::1]\r\n"],
  // reg-names and ports
  ["host reg-name odd", "Host: a~b_c-d.%7E!$&'()*+,;=\r\n"],
  ["host reg-name dots", "Host: ..\r\n"],
  ["host IPv4 leading zero", "Host: 010.0.0.1\r\n"],
  ["host IPv4 big", "Host: 256.256.256.256:1\r\n"],
  ["host port leading zeros", "Host: h:0080\r\n"],
  ["host port zero", "Host: h:0\r\n"],
  ["host port huge", "Host: h:99999999999999999999\r\n"],
  ["host port sign", "Host: h:+80\r\n"],
];

/** The limits of the tsgi echo server (the server's defaults), in bytes or counts. */
export const ECHO_LIMITS = { urlLengthLimit: 8192, maxHeaderBytes: 65536, maxHeaderCount: 100 } as const;

/**
 * Requests exactly at each of tsgi's limits ({@link ECHO_LIMITS}: accepted,
 * as llhttp accepts them), and one byte or one field past it (tsgi: 414 or
 * 431; llhttp, which counts only the target and the field bytes against the
 * same 64 KiB, accepts them: stricter). Named `limit at ...` and `limit past
 * ...`.
 */
export function limitCases(): Case[] {
  const out: Case[] = [];
  const target = (n: number) => `/${"a".repeat(n - 1)}`;
  // header section = request-line through the CRLF of the empty line (CRLFs included)
  const head = (total: number) => {
    const start = "GET /l HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    return `${start}${"p".repeat(total - start.length - 4)}\r\n\r\n`;
  };
  const fields = (n: number) => `GET /l HTTP/1.1\r\nHost: h\r\n${Array.from({ length: n - 1 }, (_, k) => `X-${k}: ${k}\r\n`).join("")}\r\n`;
  const L = ECHO_LIMITS;
  out.push({ name: "limit at urlLengthLimit", payload: `GET ${target(L.urlLengthLimit)} HTTP/1.1\r\nHost: h\r\n\r\n` });
  out.push({ name: "limit past urlLengthLimit", payload: `GET ${target(L.urlLengthLimit + 1)} HTTP/1.1\r\nHost: h\r\n\r\n` });
  out.push({ name: "limit at maxHeaderBytes", payload: head(L.maxHeaderBytes) });
  out.push({ name: "limit past maxHeaderBytes", payload: head(L.maxHeaderBytes + 1) });
  out.push({ name: "limit at maxHeaderBytes after 8 empty lines", payload: "\r\n".repeat(8) + head(L.maxHeaderBytes) });
  out.push({ name: "limit at maxHeaderCount", payload: fields(L.maxHeaderCount) });
  out.push({ name: "limit past maxHeaderCount", payload: fields(L.maxHeaderCount + 1) });
  return out;
}

/** The systematic corpus: every variant in its own request, plus pipelined pairs. */
export function systematicCorpus(): Case[] {
  const out: Case[] = [];
  const host = "Host: h\r\n";
  for (const [name, cl] of CL_VARIANTS) out.push({ name, payload: `POST /cl HTTP/1.1\r\n${host}${cl}\r\n${BODY}` });
  for (const [name, t] of TE_VARIANTS) out.push({ name, payload: `POST /te HTTP/1.1\r\n${host}${t}\r\n${CHUNKED}` });
  for (const [name, t] of TE_VARIANTS) out.push({ name: `${name} (HTTP/1.0)`, payload: `POST /te HTTP/1.0\r\n${t}\r\n${CHUNKED}` });
  for (const [name, b] of CHUNK_VARIANTS) out.push({ name, payload: `POST /ch HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n${b}` });
  for (const [name, l] of LINE_VARIANTS) out.push({ name, payload: `${l}${host}\r\n` });
  for (const [name, f] of FIELD_VARIANTS) out.push({ name, payload: `GET /f HTTP/1.1\r\n${host}${f}\r\n` });
  for (const [name, h] of HOST_VARIANTS) out.push({ name, payload: `GET /h HTTP/1.1\r\n${h}\r\n` });
  for (const [name, h] of HOST_VARIANTS) out.push({ name: `${name} (HTTP/1.0)`, payload: `GET /h HTTP/1.0\r\n${h}\r\n` });
  for (const [name, h] of AUTHORITY_HOST_VARIANTS) out.push({ name, payload: `GET /h HTTP/1.1\r\n${h}\r\n` });
  out.push(...limitCases());
  out.push({ name: "absolute-form + other Host", payload: `GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n` });
  out.push({ name: "absolute-form + empty Host", payload: `GET http://a/x HTTP/1.1\r\nHost:\r\n\r\n` });
  out.push({ name: "absolute-form + no Host", payload: `GET http://a/x HTTP/1.1\r\n\r\n` });
  out.push({ name: "absolute-form + no Host (HTTP/1.0)", payload: `GET http://a/x HTTP/1.0\r\n\r\n` });
  out.push({ name: "absolute-form + two Hosts", payload: `GET http://a/x HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n` });
  // Smuggling-shaped pipelined pairs: a framing variant whose body is, or is
  // followed by, a second request.
  const inner = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const [name, cl] of CL_VARIANTS) {
    out.push({ name: `pair: ${name} + GET`, payload: `POST /cl HTTP/1.1\r\n${host}${cl}\r\n${BODY}${inner}` });
  }
  for (const [name, t] of TE_VARIANTS) {
    out.push({ name: `pair: ${name} + GET`, payload: `POST /te HTTP/1.1\r\n${host}${t}\r\n0\r\n\r\n${inner}` });
    out.push({
      name: `pair: ${name} + CL 0 + GET`,
      payload: `POST /te HTTP/1.1\r\n${host}${t}Content-Length: ${inner.length + 5}\r\n\r\n0\r\n\r\n${inner}`,
    });
  }
  for (const [name, b] of CHUNK_VARIANTS) {
    out.push({ name: `pair: ${name} + GET`, payload: `POST /ch HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n${b}${inner}` });
  }
  out.push({ name: "CONNECT + CL 5", payload: `CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 5\r\n\r\nhello` });
  out.push({ name: "CONNECT + CL 0", payload: `CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 0\r\n\r\n` });
  out.push({ name: "CONNECT + TE", payload: `CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` });
  out.push({ name: "pair: GET + CONNECT", payload: `GET /1 HTTP/1.1\r\n${host}\r\nCONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n` });
  out.push({ name: "pair: upgrade POST CL + GET", payload: `POST /u HTTP/1.1\r\n${host}Connection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello${inner}` });
  out.push({ name: "pair: upgrade POST chunked + GET", payload: `POST /u HTTP/1.1\r\n${host}Connection: upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED}${inner}` });
  out.push({ name: "pair: FOO + smuggling pair", payload: `FOO /1 HTTP/1.1\r\n${host}\r\nPOST /2 HTTP/1.1\r\n${host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` });
  out.push({ name: "pair: two GETs", payload: `GET /1 HTTP/1.1\r\n${host}\r\nGET /2 HTTP/1.1\r\n${host}\r\n` });
  out.push({ name: "pair: GET with CL body + GET", payload: `GET /1 HTTP/1.1\r\n${host}Content-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\n${host}\r\n` });
  out.push({ name: "pair: 1.0 close-less body", payload: `POST /1 HTTP/1.0\r\n\r\nhello` });
  out.push({ name: "pair: CRLF between requests", payload: `GET /1 HTTP/1.1\r\n${host}\r\n\r\nGET /2 HTTP/1.1\r\n${host}\r\n` });
  out.push({ name: "pair: LF between requests", payload: `GET /1 HTTP/1.1\r\n${host}\r\n\nGET /2 HTTP/1.1\r\n${host}\r\n` });
  return out;
}

const ALL_PIECES = [CL_VARIANTS, TE_VARIANTS, CHUNK_VARIANTS, LINE_VARIANTS, FIELD_VARIANTS, HOST_VARIANTS, AUTHORITY_HOST_VARIANTS];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "FOO"];
/** Bytes a mutation inserts or substitutes: the framing-relevant ones, weighted. */
const SPECIAL = ["\r", "\n", "\r\n", " ", "\t", ":", ";", ",", "0", "5", "a", "\x00", "\x0b", "\x7f", "\xff", '"', "\\", "=", "-", "+"];

/** Pieces of a generated authority (Host, absolute-form, CONNECT): IP-literal parts valid and near-valid, reg-name oddities, ports. */
const AUTH_GROUPS = ["1", "ab", "ffff", "FFFF", "0db8", "0"];
const AUTH_ODD_GROUPS = ["12345", "", "1.2.3.4", "192.0.2.1", "010.0.0.1", "256.1.1.1", "1.2.3"];
const AUTH_ZONES = ["%25eth0", "%eth0", "%25", "%25en%2F1", "%25a!b"];
const AUTH_FUTURES = ["v1.x", "vF.a:b!", "v.x", "v1x", "v1.", "vg.x", "V7.~"];
const AUTH_REG_NAMES = ["h", "example.com", "a~b_c-d", "h%41", "h%4", "!$&'()*+,;=", "xn--bcher-kva", "010.0.0.1", "256.256.256.256", "h.", ""];
const AUTH_PORTS = ["", "", ":80", ":", ":0080", ":0", ":65535", ":65536", ":99999999999999999999", ":8x"];

/** A random `uri-host [ ":" port ]`, valid or nearly so (RFC 3986 section 3.2.2, RFC 6874). */
export function randomAuthority(rnd: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const r = rnd();
  let host: string;
  if (r < 0.6) {
    const n = 1 + Math.floor(rnd() * 8);
    let inside = rnd() < 0.3 ? "::" : "";
    for (let k = 0; k < n; k++) inside += (k === 0 ? "" : rnd() < 0.15 ? pick(["::", ":::"]) : ":") + (rnd() < 0.9 ? pick(AUTH_GROUPS) : pick(AUTH_ODD_GROUPS));
    if (rnd() < 0.1) inside += "::";
    if (rnd() < 0.1) inside += pick(AUTH_ZONES);
    host = `[${inside}]`;
  } else if (r < 0.75) {
    host = `[${pick(AUTH_FUTURES)}]`;
  } else {
    host = pick(AUTH_REG_NAMES);
  }
  return host + pick(AUTH_PORTS);
}

/** Random compositions of the variants, some with small byte mutations. */
export function randomCorpus(seed: number, count: number): Case[] {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const out: Case[] = [];
  const one = (): [string, string] => {
    const method = pick(METHODS);
    const version = rnd() < 0.1 ? "HTTP/1.0" : "HTTP/1.1";
    const names: string[] = [];
    // 1 in 10: the target is an authority (CONNECT) or an absolute-form with one; 1 in 20: so is Host.
    const target =
      method === "CONNECT" ? (rnd() < 0.9 ? randomAuthority(rnd) : "h:443") : rnd() < 0.1 ? `http://${randomAuthority(rnd)}/${Math.floor(rnd() * 100)}` : `/${Math.floor(rnd() * 100)}`;
    let head = `${method} ${target} ${version}\r\n`;
    const fields: string[] = [];
    const hv: [string, string] = rnd() < 0.05 ? ["host generated", `Host: ${randomAuthority(rnd)}\r\n`] : rnd() < 0.85 ? HOST_VARIANTS[0]! : rnd() < 0.7 ? pick(HOST_VARIANTS) : pick(AUTHORITY_HOST_VARIANTS);
    names.push(hv[0]);
    fields.push(hv[1]);
    const nf = Math.floor(rnd() * 3);
    for (let k = 0; k < nf; k++) {
      const f = pick(FIELD_VARIANTS.filter(([n]) => !n.includes("many") && !n.includes("long")));
      names.push(f[0]);
      fields.push(f[1]);
    }
    let body = "";
    const r = rnd();
    if (r < 0.35) {
      const c = pick(CL_VARIANTS);
      names.push(c[0]);
      fields.push(c[1]);
      body = BODY;
    } else if (r < 0.75) {
      const t = rnd() < 0.6 ? TE_VARIANTS[0]! : pick(TE_VARIANTS);
      names.push(t[0]);
      fields.push(t[1]);
      const b = rnd() < 0.4 ? ["chunk plain", CHUNKED] : pick(CHUNK_VARIANTS);
      names.push(b[0]);
      body = b[1];
    }
    // shuffle field order
    for (let k = fields.length - 1; k > 0; k--) {
      const j = Math.floor(rnd() * (k + 1));
      [fields[k], fields[j]] = [fields[j]!, fields[k]!];
    }
    head += fields.join("") + "\r\n";
    return [names.join(" + "), head + body];
  };
  for (let k = 0; k < count; k++) {
    let [name, payload] = one();
    if (rnd() < 0.3) {
      const [n2, p2] = one();
      name = `${name} | ${n2}`;
      payload += p2;
    }
    const mutations = rnd() < 0.4 ? 1 + Math.floor(rnd() * 3) : 0;
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(rnd() * (payload.length + 1));
      const kind = rnd();
      if (kind < 0.4) payload = payload.slice(0, at) + pick(SPECIAL) + payload.slice(at);
      else if (kind < 0.7) payload = payload.slice(0, at) + payload.slice(at + 1);
      else payload = payload.slice(0, at) + pick(SPECIAL) + payload.slice(at + 1);
      name += ` ~mut@${at}`;
    }
    out.push({ name, payload });
  }
  void ALL_PIECES;
  return out;
}

// ---------------------------------------------------------------- run

export interface CaseResult {
  case: Case;
  llhttp: Outcome;
  tsgi: Outcome;
  verdict: Verdict;
  reason: string;
  /** The {@link EXCEPTIONS} that explained differences, by name. */
  exceptions: string[];
}

/** Run `cases` against both servers, `concurrency` at a time. */
export async function runDiff(
  cases: Case[],
  ports: { llhttp: number; tsgi: number },
  opts: { concurrency?: number; timeoutMs?: number; onResult?: (r: CaseResult) => void } = {},
): Promise<CaseResult[]> {
  const concurrency = opts.concurrency ?? 16;
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const k = next++;
      if (k >= cases.length) return;
      const c = cases[k]!;
      const bytes = caseBytes(c);
      const [l, t] = await Promise.all([exchange(ports.llhttp, bytes, opts.timeoutMs), exchange(ports.tsgi, bytes, opts.timeoutMs)]);
      const { verdict, reason, exceptions } = await judge(Buffer.from(bytes).toString("latin1"), l, t, (b) =>
        exchange(ports.llhttp, Buffer.from(b, "latin1"), opts.timeoutMs),
      );
      const r: CaseResult = { case: c, llhttp: l, tsgi: t, verdict, reason, exceptions };
      results[k] = r;
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** One line describing a result, with the case bytes escaped. */
export function describe(r: CaseResult): string {
  return `${r.verdict} ${r.case.name}: ${r.reason}\n    bytes: ${JSON.stringify(r.case.payload)}`;
}

if (import.meta.main) {
  const usage = "bun bench/diff-llhttp.ts [--cases 20000] [--seed 1] [--concurrency 32] [--verbose]";
  const args = benchArgs(usage, {
    cases: { type: "string" },
    seed: { type: "string" },
    concurrency: { type: "string" },
    verbose: { type: "boolean" },
  });
  const count = numberArg(usage, "cases", args.cases, 20000, { integer: true });
  const seed = numberArg(usage, "seed", args.seed, 1, { integer: true });
  const concurrency = numberArg(usage, "concurrency", args.concurrency, 32, { min: 1, integer: true });
  const verbose = args.verbose === true;
  const node = await startNodeServer().catch((error: Error) => {
    console.error(error.message);
    return process.exit(2);
  });
  const tsgi = startTsgiServer();
  const cases = [...systematicCorpus(), ...randomCorpus(seed, count)];
  const t0 = performance.now();
  const tally: Record<Verdict, number> = { same: 0, stricter: 0, allowed: 0, FAIL: 0 };
  const stricterReasons = new Map<string, number>();
  const allowedReasons = new Map<string, number>();
  let done = 0;
  const results = await runDiff(cases, { llhttp: node.port, tsgi: tsgi.port }, {
    concurrency,
    onResult: (r) => {
      tally[r.verdict]++;
      if (r.verdict === "FAIL" || verbose) console.log(describe(r));
      if (r.verdict === "stricter") {
        const key = r.reason.replace(/request \d+/, "request N");
        stricterReasons.set(key, (stricterReasons.get(key) ?? 0) + 1);
      }
      for (const name of new Set(r.exceptions)) allowedReasons.set(name, (allowedReasons.get(name) ?? 0) + 1);
      if (++done % 2000 === 0) console.error(`${done}/${cases.length}: ${JSON.stringify(tally)}`);
    },
  });
  node.stop();
  await tsgi.stop();
  const secs = (performance.now() - t0) / 1000;
  console.log(`\n${results.length} cases (${systematicCorpus().length} systematic + ${count} random, seed ${seed}) in ${secs.toFixed(1)} s`);
  console.log(`same: ${tally.same}  tsgi stricter: ${tally.stricter}  allowed: ${tally.allowed}  FAIL: ${tally.FAIL}`);
  if (allowedReasons.size) {
    console.log("allow-listed differences (cases; each re-checked against llhttp on rewritten bytes):");
    for (const e of EXCEPTIONS) if (allowedReasons.has(e.name)) console.log(`  ${allowedReasons.get(e.name)}× ${e.name}: ${e.why}`);
  }
  const top = [...stricterReasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
  if (top.length) console.log("most common stricter reasons:\n" + top.map(([k, v]) => `  ${v}× ${k}`).join("\n"));
  if (tsgi.errors.length) console.log(`tsgi error log: ${tsgi.errors.length} lines, first: ${tsgi.errors[0]}`);
  process.exit(tally.FAIL > 0 ? 1 : 0);
}
