/**
 * Property-based tests of the response side (fast-check): generated TSGI
 * responses served by a real tsgi server and read back by llhttp.
 *
 * Each run builds 1–4 requests (GET, HEAD or POST with a Content-Length or
 * chunked body; HTTP/1.0 or 1.1; keep-alive, close or the default) and one
 * application response for each: a status (1xx, which startResponse refuses,
 * 204, 205, 304, 426 and others), a header list (random token names and
 * latin-1 values, repeats, Set-Cookie, Date/Server, the hop-by-hop fields, a
 * Content-Length that is right, short, long, repeated or absent) and a body
 * (an array of chunks with empty ones, a generator, an async generator,
 * write() then an array, tsgi.file_wrapper over a file, or a string chunk,
 * which is an application error). The requests go pipelined over one socket
 * to one server for the whole property, followed by a `Connection: close`
 * request so the exchange ends; the bytes that come back are framed by
 * llhttp (test/llhttp-responses.ts, strict, in a `node` child), and every
 * response is checked against the model docs/spec.md gives ("Fields the
 * server adds or controls", "Handling the Content-Length header", "Other
 * HTTP features"): status; the app's fields in order minus Content-Length
 * and the hop-by-hop fields; one Date and one Server (the app's when it sent
 * them); Content-Length / chunked / close framing; body bytes exactly (none
 * for HEAD, 204, 205, 304; cut at a short Content-Length; what there was
 * when the body falls short, then the close); the connection closed when it
 * must be and kept when it must be; and each response starting where the
 * previous one ended (llhttp reads the bytes as one stream and finds no
 * stray byte between them).
 *
 * Runs are bounded (PROP_RUNS, default 500; about 10 s) and seeded (PROP_SEED); each
 * exchange waits at most 5 s. Long run: PROP_RUNS=20000 (and PROP_SEED=<n> for other cases).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { Application, ResponseHeaders } from "../src/spec.ts";
import { raw, startServer } from "./helpers.ts";
import { startLlhttpResponseParser, type LlhttpParse, type LlhttpResponseParser, type LlhttpResponse } from "./llhttp-responses.ts";

const RUNS = Number(process.env.PROP_RUNS ?? 500);
const SEED = process.env.PROP_SEED === undefined ? 20261206 : Number(process.env.PROP_SEED);
/** Per-test time limit: generous for long runs. */
const LIMIT = RUNS > 1000 ? 3_600_000 : 60_000;
const hasNode = spawnSync(process.env.NODE ?? "node", ["--version"]).status === 0;

// ---------------------------------------------------------------------------
// The model: what an application answers, and to what

type BodyKind = "array" | "generator" | "async" | "write" | "file";
type LengthMode = "absent" | "correct" | "short" | "long" | "twice";

interface AppCase {
  status: string;
  /** The app's fields other than Content-Length, in order. */
  fields: Array<[string, string]>;
  length: LengthMode;
  /** How far a short or long Content-Length is off (bytes, ≥ 1). */
  off: number;
  kind: BodyKind;
  chunks: Uint8Array[];
  /** write() takes this many chunks first (kind "write"; at least 1). */
  written: number;
  /** The first chunk is a string (an application error before the headers). */
  stringChunk: boolean;
}

interface ModelRequest {
  method: "GET" | "HEAD" | "POST";
  version: "HTTP/1.0" | "HTTP/1.1";
  connection: "default" | "close" | "keep-alive";
  body: Uint8Array;
  chunked: boolean;
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Names the generators add on purpose (their own weights), never by chance. */
const GENERATED_APART = new Set(["content-length", "date", "server"]);
const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer", "trailers", "proxy-connection", "proxy-authorization"];

const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS.split("")), minLength: 1, maxLength: 12 }).filter((n) => !GENERATED_APART.has(n.toLowerCase()));
/** A field value: VCHAR and obs-text (latin-1) with inner spaces and tabs, no leading or trailing whitespace. */
const valueArb = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.constantFrom(" ", "\t") },
    ),
    { maxLength: 24 },
  )
  .map((a) => a.join("").replace(/^[ \t]+|[ \t]+$/g, ""));
const fieldArb: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(tokenArb, valueArb) },
  { weight: 2, arbitrary: fc.tuple(fc.constant("Set-Cookie"), valueArb) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Date", "date"), fc.constant("Sun, 06 Dec 2026 20:00:00 GMT")) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Server", "SERVER"), valueArb.filter((v) => v.length > 0)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Proxy-Authenticate", "Status"), valueArb) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.tuple(fc.constantFrom("Connection", "connection", "CONNECTION"), fc.constantFrom("close", "Close", "keep-alive", "keep-alive, close", "upgrade", "x-foo")),
      fc.tuple(fc.constantFrom("Transfer-Encoding", "transfer-encoding"), fc.constantFrom("chunked", "gzip, chunked", "identity")),
      fc.tuple(fc.constantFrom(...HOP_BY_HOP), valueArb),
      fc.tuple(fc.constant("Upgrade"), fc.constantFrom("websocket", "h2c")),
    ),
  },
);
const chunkArb = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 30_000 }).map((n) => new Uint8Array(n).fill(0x61)) },
);
const statusArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("200 OK", "201 Created", "404 Not Found", "500 Internal Server Error", "299 ", "418 I'm a teapot", "503 Service Unavailable") },
  { weight: 2, arbitrary: fc.constantFrom("204 No Content", "304 Not Modified", "205 Reset Content") },
  { weight: 1, arbitrary: fc.constantFrom("426 Upgrade Required", "407 Proxy Authentication Required", "302 Found") },
  { weight: 1, arbitrary: fc.constantFrom("100 Continue", "103 Early Hints", "199 Whatever") },
);
const appCaseArb: fc.Arbitrary<AppCase> = fc
  .record({
    status: statusArb,
    fields: fc.array(fieldArb, { maxLength: 8 }),
    length: fc.constantFrom<LengthMode>("absent", "absent", "correct", "short", "long", "twice"),
    off: fc.integer({ min: 1, max: 30 }),
    kind: fc.constantFrom<BodyKind>("array", "generator", "async", "write", "file"),
    chunks: fc.array(chunkArb, { maxLength: 5 }),
    written: fc.integer({ min: 1, max: 3 }),
    stringChunk: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  })
  .map((c) => ({ ...c, stringChunk: c.stringChunk && (c.kind === "array" || c.kind === "generator" || c.kind === "async") }));
const requestArb: fc.Arbitrary<ModelRequest> = fc.record({
  method: fc.constantFrom<ModelRequest["method"]>("GET", "GET", "HEAD", "POST"),
  version: fc.constantFrom<ModelRequest["version"]>("HTTP/1.1", "HTTP/1.1", "HTTP/1.0"),
  connection: fc.constantFrom<ModelRequest["connection"]>("default", "default", "close", "keep-alive"),
  body: fc.uint8Array({ maxLength: 30 }),
  chunked: fc.boolean(),
});
const exchangeArb = fc.array(fc.tuple(requestArb, appCaseArb), { minLength: 1, maxLength: 4 });

const total = (c: AppCase) => c.chunks.reduce((n, b) => n + b.length, 0);
const concat = (chunks: Uint8Array[]) => Buffer.concat(chunks);
/** The Content-Length the app declares, or -1. */
function declared(c: AppCase): number {
  const t = total(c);
  switch (c.length) {
    case "absent":
      return -1;
    case "correct":
    case "twice":
      return t;
    case "short":
      return Math.max(0, t - c.off);
    case "long":
      return t + c.off;
  }
}
function appFields(c: AppCase): ResponseHeaders {
  const d = declared(c);
  const fields: Array<[string, string]> = [...c.fields];
  if (d >= 0) fields.splice(Math.min(1, fields.length), 0, ["Content-Length", String(d)]);
  if (c.length === "twice") fields.push(["content-length", String(d)]);
  return fields;
}
const code = (status: string) => Number(status.slice(0, 3));
const lower = (s: string) => s.toLowerCase();
const hasCloseToken = (c: AppCase) => c.fields.some(([n, v]) => lower(n) === "connection" && v.split(",").some((t) => lower(t.trim()) === "close"));

/** What one response must look like. */
interface Expected {
  status: number;
  /** Field lines besides Date, Server, Content-Length, Transfer-Encoding, Connection. */
  fields: Array<[string, string]>;
  /** App-sent Date / Server values (the server adds none then), or null (the server adds one). */
  date: string | null;
  server: string | null;
  /** Content-Length on the wire: a number, "none", or "any" (HEAD: the GET one or none). */
  length: number | "none";
  chunked: boolean;
  body: Buffer;
  /** The body ends short of its framing (then the connection closes). */
  cut: boolean;
  /** HEAD: Content-Length and Transfer-Encoding may be left out. */
  headLoose: boolean;
  /** The connection must close after it / must stay open / either. */
  close: "must" | "keep" | "either";
  /** The response must say Connection: close (when close is "must"). */
  announced: boolean;
  upgrade: boolean;
}

function expected(req: ModelRequest, c: AppCase): Expected {
  const clientClose = req.version === "HTTP/1.0" ? req.connection !== "keep-alive" : req.connection === "close";
  const refused = code(c.status) < 200 || c.stringChunk;
  if (refused) {
    const body = Buffer.from("Internal Server Error\n");
    return {
      status: 500,
      fields: [["Content-Type", "text/plain; charset=utf-8"]],
      date: null,
      server: null,
      length: body.length,
      chunked: false,
      body: req.method === "HEAD" ? Buffer.alloc(0) : body,
      cut: false,
      headLoose: false,
      close: clientClose ? "must" : "keep",
      announced: clientClose,
      upgrade: false,
    };
  }
  const status = code(c.status);
  const upgrade = status === 426 && c.fields.some(([n]) => lower(n) === "upgrade");
  const fields = c.fields.filter(([n]) => !HOP_BY_HOP.includes(lower(n)) || (upgrade && lower(n) === "upgrade"));
  const dateField = c.fields.find(([n]) => lower(n) === "date");
  const serverField = c.fields.find(([n]) => lower(n) === "server");
  const t = total(c);
  const d = declared(c);
  const all = concat(c.chunks);
  const appClose = hasCloseToken(c);
  let length: number | "none" = "none";
  let chunked = false;
  let body: Buffer = Buffer.alloc(0);
  let cut = false;
  let close: Expected["close"] = clientClose || appClose ? "must" : "keep";
  const isHead = req.method === "HEAD";
  if (status === 204 || status === 304 || status === 205) {
    length = status === 205 ? 0 : status === 304 && d >= 0 ? d : "none";
  } else if (d >= 0) {
    length = d;
    body = all.subarray(0, Math.min(t, d));
    if (t < d) {
      cut = true;
      if (!isHead) close = "must";
    } else if (t > d && c.kind !== "file" && close === "keep" && !isHead) {
      close = "either"; // the excess is cut; the connection may close after
    }
  } else if (c.kind === "array" || c.kind === "file" || ((c.kind === "generator" || c.kind === "async") && t === 0)) {
    length = t;
    body = all;
  } else if (req.version === "HTTP/1.1") {
    chunked = true;
    body = all;
  } else {
    body = all;
    if (!isHead) close = "must";
  }
  if (isHead) {
    body = Buffer.alloc(0);
    cut = false;
  }
  // An array longer or shorter than its Content-Length is known before the head: the head says close.
  const announced = clientClose || appClose || (c.kind === "array" && d >= 0 && d !== t && !isHead && !(status === 204 || status === 304 || status === 205)) || (close === "must" && length === "none" && !chunked && !isHead && status !== 204 && status !== 304 && status !== 205);
  return {
    status,
    fields,
    date: dateField ? dateField[1] : null,
    server: serverField ? serverField[1] : null,
    length,
    chunked,
    body,
    cut,
    headLoose: isHead,
    close,
    announced,
    upgrade,
  };
}

// ---------------------------------------------------------------------------
// The application and the wire

const cases = new Map<string, AppCase>();
const files = new Map<string, string>();
let fileDir = "";
let nextId = 0;

async function* generate(chunks: Array<Uint8Array | string>) {
  for (const c of chunks) yield c as Uint8Array;
}
function* generateSync(chunks: Array<Uint8Array | string>) {
  for (const c of chunks) yield c as Uint8Array;
}

const app: Application = async (environ, startResponse) => {
  const input = environ["tsgi.input"];
  for (let i = 0; i < 10_000; i++) if ((await input.read(65536)).length === 0) break;
  const path = environ.PATH_INFO;
  if (path === "/end") {
    startResponse("200 OK", [["Content-Length", "3"]]);
    return [new TextEncoder().encode("end")];
  }
  const c = cases.get(path);
  if (c === undefined) throw new Error(`no case for ${path}`);
  const write = startResponse(c.status, appFields(c));
  const chunks: Array<Uint8Array | string> = c.stringChunk ? ["a string", ...c.chunks] : c.chunks;
  switch (c.kind) {
    case "array":
      return chunks as Uint8Array[];
    case "generator":
      return generateSync(chunks);
    case "async":
      return generate(chunks);
    case "write": {
      const n = Math.min(c.written, Math.max(1, chunks.length));
      for (let i = 0; i < n; i++) await write((chunks[i] as Uint8Array | undefined) ?? new Uint8Array(0));
      return chunks.slice(n) as Uint8Array[];
    }
    case "file":
      return environ["tsgi.file_wrapper"]!(Bun.file(files.get(path)!));
  }
};

function requestBytes(req: ModelRequest, path: string): Buffer {
  let head = `${req.method} ${path} ${req.version}\r\nHost: h\r\n`;
  if (req.connection === "close") head += "Connection: close\r\n";
  if (req.connection === "keep-alive") head += "Connection: keep-alive\r\n";
  if (req.method !== "POST") return Buffer.from(`${head}\r\n`, "latin1");
  if (req.chunked && req.version === "HTTP/1.1") {
    const body = req.body.length ? Buffer.concat([Buffer.from(`${req.body.length.toString(16)}\r\n`), req.body, Buffer.from("\r\n0\r\n\r\n")]) : Buffer.from("0\r\n\r\n");
    return Buffer.concat([Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, "latin1"), body]);
  }
  return Buffer.concat([Buffer.from(`${head}Content-Length: ${req.body.length}\r\n\r\n`, "latin1"), req.body]);
}

// ---------------------------------------------------------------------------
// The check

const FRAMING = new Set(["content-length", "transfer-encoding", "connection"]);
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

/** Problems with one response against its model (empty: it conforms). */
function problems(r: LlhttpResponse, e: Expected, persists: boolean): string[] {
  const out: string[] = [];
  const say = (what: string, got: unknown, want: unknown) => out.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  if (r.status !== e.status) say("status", r.status, e.status);
  const values = (name: string) => r.headers.filter(([n]) => lower(n) === name).map(([, v]) => v);
  const rest = r.headers.filter(([n]) => !FRAMING.has(lower(n)));
  // Date and Server: the app's where it sent one (in its place), else exactly one the server added.
  const appOwn = rest.filter(([n]) => !((lower(n) === "date" && e.date === null) || (lower(n) === "server" && e.server === null)));
  if (JSON.stringify(appOwn) !== JSON.stringify(e.fields)) say("fields", appOwn, e.fields);
  // (The app's own Date and Server lines are among e.fields, compared above.)
  const dates = values("date");
  if (e.date === null && (dates.length !== 1 || !HTTP_DATE.test(dates[0]!))) say("Date", dates, "one HTTP-date");
  if (e.server === null && values("server").length !== 1) say("Server", values("server"), "one");
  const cl = values("content-length");
  const te = values("transfer-encoding");
  const wantCl = e.length === "none" ? [] : [String(e.length)];
  if (e.headLoose ? !(cl.length === 0 || JSON.stringify(cl) === JSON.stringify(wantCl)) : JSON.stringify(cl) !== JSON.stringify(wantCl)) say("Content-Length", cl, wantCl);
  const wantTe = e.chunked ? ["chunked"] : [];
  if (e.headLoose ? !(te.length === 0 || JSON.stringify(te) === JSON.stringify(wantTe)) : JSON.stringify(te) !== JSON.stringify(wantTe)) say("Transfer-Encoding", te, wantTe);
  if (!r.body.equals(e.body)) say("body", `${r.body.length} bytes ${r.body.subarray(0, 60).toString("latin1")}`, `${e.body.length} bytes ${e.body.subarray(0, 60).toString("latin1")}`);
  if (r.complete === e.cut) say("complete", r.complete, !e.cut);
  const conn = values("connection").join(", ").toLowerCase();
  if (e.close === "must" && persists) say("connection kept after a response that must close it", conn, "close");
  if (e.close === "keep" && !persists) say("connection closed after a response that should keep it", conn, "kept");
  if (e.announced && !/\bclose\b/.test(conn)) say("Connection", conn, "close");
  if (persists && /\bclose\b/.test(conn)) say("Connection close but the next response followed", conn, "");
  if (e.upgrade && !/\bupgrade\b/.test(conn)) say("Connection on a 426 with Upgrade", conn, "upgrade");
  return out;
}

/** Check one exchange: every response against its model; returns problems (empty: all fine). */
function checkExchange(parse: LlhttpParse, closed: boolean, models: Expected[], bytes: Buffer): string[] {
  const out: string[] = [];
  if (!closed) out.push("the server did not close the connection within 5 s");
  const rs = parse.responses;
  for (const r of rs) if (r.status < 200) out.push(`an interim ${r.status} response`);
  let i = 0;
  for (; i < models.length; i++) {
    const r = rs[i];
    const e = models[i]!;
    if (r === undefined) {
      out.push(`response ${i + 1} missing (after ${rs.length} responses; previous close: ${i > 0 ? models[i - 1]!.close : "-"})`);
      break;
    }
    const last = i === rs.length - 1;
    out.push(...problems(r, e, !last).map((p) => `response ${i + 1}: ${p}`));
    if (last) {
      // The server closed after it: fine when it had to, or could.
      if (e.close === "keep" && i < models.length - 1) out.push(`response ${i + 1}: connection closed, expected it kept`);
      i++;
      break;
    }
    if (rs[i + 1]!.start !== r.end) out.push(`response ${i + 2} starts at ${rs[i + 1]!.start}, response ${i + 1} ended at ${r.end}`);
  }
  if (rs.length > models.length) out.push(`${rs.length - models.length} responses more than requests`);
  const lastModel = models[Math.min(i, models.length) - 1];
  const endedCut = lastModel?.cut ?? false;
  if (parse.error !== null && !(endedCut && parse.error === "HPE_INVALID_EOF_STATE")) out.push(`llhttp: ${parse.error} after ${parse.parsed} of ${bytes.length} bytes: ${JSON.stringify(bytes.subarray(Math.max(0, parse.parsed - 40), parse.parsed + 40).toString("latin1"))}`);
  return out;
}

// ---------------------------------------------------------------------------

/** `content-type` → `Content-Type` (eventlet's capitalize_response_headers), written apart from the server's. */
const capitalized = (name: string) => name.split("-").map((w) => (w ? w[0]!.toUpperCase() + w.slice(1).toLowerCase() : w)).join("-");

describe.skipIf(!hasNode)("property: responses as llhttp reads them", () => {
  let llhttp: LlhttpResponseParser;
  let plain: ReturnType<typeof startServer>;
  let tuned: ReturnType<typeof startServer>;
  beforeAll(async () => {
    fileDir = mkdtempSync(join(tmpdir(), "tsgi-prop-response-"));
    llhttp = await startLlhttpResponseParser();
    plain = startServer(app, { headerTimeout: 10_000 });
    tuned = startServer(app, { headerTimeout: 10_000, capitalizeResponseHeaders: true, minimumChunkSize: 48 });
  });
  afterAll(async () => {
    llhttp?.stop();
    await plain?.server.close({ timeout: 100 });
    await tuned?.server.close({ timeout: 100 });
    if (fileDir) rmSync(fileDir, { recursive: true, force: true });
  });

  /** One exchange on `port`: register the cases, send, read until the close, check. */
  const exchangeOn = async (port: number, exchange: Array<[ModelRequest, AppCase]>, rename: (name: string) => string) => {
    const models: Expected[] = [];
    const methods: string[] = [];
    const sent: Buffer[] = [];
    const ids: string[] = [];
    for (const [req, c] of exchange) {
      const path = `/c/${nextId++}`;
      ids.push(path);
      cases.set(path, c);
      if (c.kind === "file") {
        const file = join(fileDir, path.slice(3));
        writeFileSync(file, concat(c.chunks));
        files.set(path, file);
      }
      sent.push(requestBytes(req, path));
      const e = expected(req, c);
      models.push({ ...e, fields: e.fields.map(([n, v]) => [rename(n), v]) });
      methods.push(req.method);
    }
    sent.push(Buffer.from("GET /end HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    methods.push("GET");
    models.push({ status: 200, fields: [], date: null, server: null, length: 3, chunked: false, body: Buffer.from("end"), cut: false, headLoose: false, close: "must", announced: true, upgrade: false });
    try {
      const { data, closed } = await raw(port, Buffer.concat(sent), { timeoutMs: 5000 });
      const parse = await llhttp.parse(data, methods, closed);
      const found = checkExchange(parse, closed, models, data);
      if (found.length > 0) throw new Error(`${found.join("\n")}\n--- requests:\n${Buffer.concat(sent).toString("latin1").slice(0, 2000)}\n--- response bytes:\n${data.toString("latin1").slice(0, 3000)}`);
    } finally {
      for (const id of ids) {
        cases.delete(id);
        const f = files.get(id);
        if (f) rmSync(f, { force: true });
        files.delete(id);
      }
    }
  };

  test(
    `generated responses (${RUNS} exchanges of 1–4 pipelined requests) frame as the model says`,
    async () => {
      await fc.assert(
        fc.asyncProperty(exchangeArb, (exchange) => exchangeOn(plain.port, exchange, (n) => n)),
        { numRuns: RUNS, seed: SEED },
      );
    },
    LIMIT,
  );

  test(
    `the same with capitalizeResponseHeaders and a minimumChunkSize of 48 bytes (${Math.ceil(RUNS / 3)} exchanges)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(exchangeArb, (exchange) => exchangeOn(tuned.port, exchange, capitalized)),
        { numRuns: Math.ceil(RUNS / 3), seed: SEED + 1 },
      );
    },
    LIMIT,
  );

  test("the servers logged the application errors the cases provoke, and nothing else", () => {
    const known = [
      /: TypeError: startResponse\(\): "1\d\d [^"]*" is an interim \(1xx\) status, not a final response/,
      /: TypeError: a body chunk must be a Uint8Array, got string;/,
      /: Error: the application sent more bytes than its Content-Length; the excess was not sent$/,
      /: Error: the application sent \d+ bytes? fewer than its Content-Length; closing the connection$/,
      /the application set [!-~]+, a hop-by-hop field \(PEP 3333 forbids them\); tsgi drops it$/,
      /the application set Transfer-Encoding; tsgi frames responses itself and drops it$/,
    ];
    const firstLines = [...plain.errors, ...tuned.errors].map((entry) => entry.split("\n")[0]!).filter((line) => line.trim() !== "" && !/^\s/.test(line));
    expect(firstLines.length).toBeGreaterThan(0);
    expect(firstLines.filter((line) => !known.some((re) => re.test(line)))).toEqual([]);
  });
});
