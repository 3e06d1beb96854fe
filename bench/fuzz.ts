/**
 * Coverage-guided mutation fuzzer for the HTTP/1.1 request parser.
 *
 *     bun bench/fuzz.ts [--minutes 5] [--seed N] [--corpus DIR] [--out DIR] [--quiet] [--selftest crash|hang]
 *
 * `--corpus DIR` keeps the growing corpus between runs; `--out DIR` is where
 * crashes go (default test/fuzz-regressions); `--selftest crash|hang` checks
 * that a crash is saved and that the watchdog catches a hang (it needs
 * `--out DIR`: its made-up crash is not one for the suite to replay). `--quiet` drops the progress
 * line printed every 10 s. Exit status 1 when a crash was found; a hang is saved by the watchdog,
 * which then kills the process (SIGKILL: exit status 137).
 *
 * Why not jazzer.js: `@jazzer.js/core` 4.0.0 ships its libFuzzer addon only as
 * a prebuilt binary that needs glibc 2.38 (this machine has 2.36), and the
 * older releases download or compile their native part at install time,
 * which cannot work here. So this is a small fuzzer of our own with the same
 * shape: the parser's source (parser.ts, its error texts in
 * parser-messages.ts, its head memo's copy and compare in request-head.ts,
 * the byte compares and tables of chars.ts, and the field interpreters it
 * calls, target.ts and framing-fields.ts) is transpiled and instrumented with
 * `istanbul-lib-instrument` at start-up (statement and branch counters), an
 * input that reaches a new counter or a new hit-count bucket (AFL's buckets)
 * joins the corpus, and inputs are made by AFL-style havoc mutations
 * (bit/byte edits, HTTP dictionary tokens, interesting numbers, block
 * delete/duplicate, splicing two corpus entries) from a seeded PRNG.
 * Seeds: the differential corpus (bench/diff-llhttp.ts) and generated valid
 * requests.
 *
 * The oracle (the parser's contract, shared with test/prop-parser.test.ts):
 * only HttpError 4xx/5xx may escape `execute`; every call consumes
 * 0 < n <= length bytes (a call that makes no progress is a hang); body views
 * are non-empty and inside the fed array; the outcome (messages and error) is
 * the same whole, byte by byte, split at other offsets, and with junk after
 * the view in its buffer (no read past the input). A hang inside `execute`
 * is caught by a watchdog thread that saves the input being run.
 *
 * Every violation is saved to test/fuzz-regressions/<hash>.json
 * ({ reason, limits, input (latin-1), cuts }) and replayed by
 * test/prop-fuzz-regressions.test.ts.
 * @module
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { benchArgs, numberArg, usageError } from "./args.ts";
import { HttpError } from "../src/http/errors.ts";
import type { ParserHandler, ParserLimits, RequestHead, RequestParser } from "../src/http/parser.ts";
import { prng } from "./prng.ts";

// ---------------------------------------------------------------- harness (shared with the tests)

type ParserClass = new (handler: ParserHandler, limits?: Partial<ParserLimits>) => RequestParser;

/** What one message parsed to: the head and the body bytes (latin-1). */
export interface ParsedMessage {
  head: RequestHead;
  body: string;
  complete: boolean;
}

export interface ParseOutcome {
  messages: ParsedMessage[];
  /** `status message` of the HttpError that stopped the parse, or null. */
  error: string | null;
}

/** A violation of the parser's contract (anything but a clean parse or an HttpError 4xx/5xx). */
export class ContractViolation extends Error {
  override name = "ContractViolation";
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1");

/**
 * Feed `pieces` to a new parser, in order. Each piece is placed at the start
 * of a larger buffer whose tail is `junk` bytes of garbage, and only the view
 * of the piece is passed, so that a read past the end of the view sees other
 * bytes than a run without junk. Checks, for every `execute`: it returns
 * 0 < n <= length (no stall, no over-consumption); body views are non-empty
 * and inside the array that was fed; callbacks come in order; only
 * HttpError 4xx/5xx is thrown, and a dead parser throws it again.
 * @throws ContractViolation
 */
export function feed(Parser: ParserClass, pieces: Uint8Array[], limits?: Partial<ParserLimits>, junk = 0): ParseOutcome {
  const messages: ParsedMessage[] = [];
  let current: ParsedMessage | null = null;
  let fed: Uint8Array = new Uint8Array(0);
  const parser = new Parser(
    {
      onHead(head) {
        if (current && !current.complete) throw new ContractViolation("onHead before the previous message completed");
        current = { head, body: "", complete: false };
        messages.push(current);
      },
      onBody(view) {
        if (!current || current.complete) throw new ContractViolation("onBody outside a message");
        if (view.length === 0) throw new ContractViolation("empty body view");
        if (view.buffer !== fed.buffer || view.byteOffset < fed.byteOffset || view.byteOffset + view.length > fed.byteOffset + fed.length) {
          throw new ContractViolation("body view outside the fed array");
        }
        current.body += latin1(view);
      },
      onMessageComplete() {
        if (!current || current.complete) throw new ContractViolation("onMessageComplete outside a message");
        current.complete = true;
      },
    },
    limits,
  );
  let error: string | null = null;
  try {
    for (const piece of pieces) {
      const backing = new Uint8Array(piece.length + junk);
      backing.set(piece);
      for (let k = piece.length; k < backing.length; k++) backing[k] = (k * 131 + 7) & 0xff;
      let rest = backing.subarray(0, piece.length);
      let calls = 0;
      while (rest.length > 0) {
        if (++calls > piece.length + 2) throw new ContractViolation("execute made no progress (hang)");
        fed = rest;
        const n = parser.execute(rest);
        if (!Number.isInteger(n) || n <= 0 || n > rest.length) throw new ContractViolation(`execute returned ${n} for ${rest.length} bytes`);
        rest = rest.subarray(n);
      }
    }
  } catch (e) {
    if (e instanceof ContractViolation) throw e;
    if (!(e instanceof HttpError)) throw new ContractViolation(`non-HttpError thrown: ${(e as Error)?.stack ?? String(e)}`);
    if (!(e.status >= 400 && e.status <= 599)) throw new ContractViolation(`HttpError with status ${e.status}`);
    error = `${e.status} ${e.message}`;
    let again: unknown = null;
    try {
      parser.execute(new Uint8Array([0x47]));
    } catch (e2) {
      again = e2;
    }
    if (!(again instanceof HttpError) || again.status !== e.status) throw new ContractViolation("a dead parser did not throw its error again");
  }
  return { messages, error };
}

/** Cut `input` at the given offsets (copies). */
export function cut(input: Uint8Array, offsets: number[]): Uint8Array[] {
  const sorted = [...new Set(offsets.filter((o) => o > 0 && o < input.length))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const o of sorted) {
    out.push(input.slice(prev, o));
    prev = o;
  }
  out.push(input.slice(prev));
  return out.filter((p) => p.length > 0);
}

/** One byte per piece. */
export const byteByByte = (input: Uint8Array): Uint8Array[] => Array.from(input, (b) => Uint8Array.of(b));

function same(a: ParseOutcome, b: ParseOutcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The full oracle on one input: whole, byte by byte (inputs up to 4 KiB),
 * cut at `cuts`, and with junk after the view must all give the same outcome.
 * @throws ContractViolation
 */
export function check(Parser: ParserClass, input: Uint8Array, limits: Partial<ParserLimits> | undefined, cuts: number[]): ParseOutcome {
  const whole = feed(Parser, [input], limits);
  if (input.length <= 4096 && !same(feed(Parser, byteByByte(input), limits), whole)) {
    throw new ContractViolation("byte-by-byte outcome differs from whole");
  }
  if (!same(feed(Parser, cut(input, cuts), limits), whole)) throw new ContractViolation(`outcome split at ${JSON.stringify(cuts)} differs from whole`);
  if (!same(feed(Parser, [input], limits, 97), whole)) throw new ContractViolation("outcome with junk after the view differs (read past the input)");
  return whole;
}

/** A saved crash: replayed by test/prop-fuzz-regressions.test.ts. */
export interface Regression {
  reason: string;
  limits?: Partial<ParserLimits>;
  /** The input, latin-1. */
  input: string;
  cuts: number[];
}

export const REGRESSIONS_DIR = resolve(dirname(new URL(import.meta.url).pathname), "../test/fuzz-regressions");

/** Every saved regression, by file name. */
export function loadRegressions(dir = REGRESSIONS_DIR): Array<[string, Regression]> {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json")).sort();
  } catch {
    return [];
  }
  return names.map((n) => [n, JSON.parse(readFileSync(join(dir, n), "utf8")) as Regression]);
}

// ---------------------------------------------------------------- the fuzzer

/** Parser limit profiles an input runs under (its `profile`). */
export const LIMIT_PROFILES: Array<Partial<ParserLimits> | undefined> = [
  undefined,
  { maxRequestTarget: 16, maxHeaderBytes: 128, maxHeaderCount: 4, maxChunkExtBytes: 8, maxTrailerBytes: 32 },
  { maxRequestTarget: 0, maxHeaderBytes: 0, maxHeaderCount: 0, maxChunkExtBytes: 0, maxTrailerBytes: 0 },
  { maxRequestTarget: 100, maxHeaderBytes: 1000, maxHeaderCount: 100, maxChunkExtBytes: 64, maxTrailerBytes: 200 },
];


const DICTIONARY = [
  "\r\n", "\r\n\r\n", "\r", "\n", " ", "\t", ":", ";", ",", "=", '"', "\\", "\x00", "\x7f", "\x80", "\xff",
  "GET ", "POST ", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.9", " / ", "*", "http://h/", "Host: h\r\n",
  "Content-Length: ", "Content-Length: 5\r\n", "content-length:", "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: ",
  "chunked", "gzip, ", "identity", "Connection: close\r\n", "Connection: keep-alive\r\n", "Expect: 100-continue\r\n",
  "0\r\n\r\n", "5\r\nhello\r\n", ";ext=val", ';q="a\\"b"', " ;", "; ", " = ", "X-A: b\r\n", "\r\n ", "\r\n\t",
  // authorities (Host, absolute-form, CONNECT): RFC 3986 §3.2.2 IP-literal pieces, reg-name oddities, ports
  "[", "]", "::", ":::", "%25", "%", ".", "Host: [", "http://[", "CONNECT [", "[::1]", "[::]:", "::ffff:", "1.2.3.4", "255.255.255.255",
  "01.2.3.4", "1:2:3:4:5:6:7:8", "12345", "ffff:", "%25eth0", "%eth0", "[v1.x]", "v7.", "vF.a:b", ":0080", ":65536", ":99999999999999999999",
  "!$&'()*+,;=", "xn--", "%41", "~_-",
];
const NUMBERS = ["0", "1", "5", "00", "-1", "+1", "9007199254740991", "9007199254740992", "99999999999999999999", "ffffffffffffffff", "FFFFFFFFFFFFFFFFF", "0x10", "1e3", "7fffffff"];

interface Entry {
  data: Uint8Array;
  profile: number;
}

const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "latin1"));

/** Havoc: 1–8 stacked mutations of `e`, sometimes spliced with `other`. */
function mutate(e: Entry, other: Entry, rnd: () => number): Entry {
  let d = Array.from(e.data);
  let profile = e.profile;
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const at = () => Math.floor(rnd() * (d.length + 1));
  const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 2 : 8));
  for (let k = 0; k < n; k++) {
    const r = Math.floor(rnd() * 12);
    switch (r) {
      case 0: // bit flip
        if (d.length) {
          const i = Math.floor(rnd() * d.length);
          d[i]! ^= 1 << Math.floor(rnd() * 8);
        }
        break;
      case 1: // random byte
        if (d.length) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
        break;
      case 2:
      case 3: // dictionary insert
        d.splice(at(), 0, ...enc(pick(DICTIONARY)));
        break;
      case 4: // dictionary overwrite
        {
          const t = enc(pick(DICTIONARY));
          d.splice(at(), t.length, ...t);
        }
        break;
      case 5: // delete a block
        d.splice(at(), 1 + Math.floor(rnd() * 8));
        break;
      case 6: // duplicate a block
        {
          const s = at();
          const len = 1 + Math.floor(rnd() * 32);
          d.splice(s, 0, ...d.slice(s, s + len));
        }
        break;
      case 7: // replace a run of digits / hex digits with an interesting number
        {
          const s = Buffer.from(d).toString("latin1");
          const runs = [...s.matchAll(/[0-9a-fA-F]+/g)];
          if (runs.length) {
            const m = pick(runs);
            const t = enc(pick(NUMBERS));
            d.splice(m.index!, m[0].length, ...t);
          }
        }
        break;
      case 8: // splice with another entry
        {
          const cutA = at();
          const cutB = Math.floor(rnd() * (other.data.length + 1));
          d = d.slice(0, cutA).concat(Array.from(other.data.subarray(cutB)));
        }
        break;
      case 9: // truncate
        d = d.slice(0, at());
        break;
      case 10: // case flip of a letter
        if (d.length) {
          const i = Math.floor(rnd() * d.length);
          const c = d[i]!;
          if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) d[i] = c ^ 0x20;
        }
        break;
      case 11:
        if (rnd() < 0.3) profile = Math.floor(rnd() * LIMIT_PROFILES.length);
        break;
    }
  }
  if (d.length > 8192) d = d.slice(0, 8192);
  return { data: Uint8Array.from(d), profile };
}

/** Cut offsets for an input, derived from a PRNG (stored with a crash, so it replays exactly). */
function cutsFor(len: number, rnd: () => number): number[] {
  const k = 1 + Math.floor(rnd() * 4);
  return Array.from({ length: k }, () => Math.floor(rnd() * (len + 1)));
}

/** AFL hit-count bucket of a counter. */
function bucket(n: number): number {
  return n === 0 ? 0 : n === 1 ? 1 : n === 2 ? 2 : n === 3 ? 3 : n < 8 ? 4 : n < 16 ? 5 : n < 32 ? 6 : n < 128 ? 7 : 8;
}

interface FileCoverage {
  s: Record<string, number>;
  b: Record<string, number[]>;
  statementMap: Record<string, { start: { line: number } }>;
  branchMap: Record<string, { loc: { start: { line: number } }; type: string }>;
}

/**
 * The modules of src/http instrumented: the parser, its error texts, the head copy and compare of its memo,
 * the byte compares it calls (chars.ts: the memo's compare of a repeated head's bytes is there since
 * 8645104, as the field-name matches), and the field interpreters it calls.
 */
const INSTRUMENTED = ["parser", "parser-messages", "request-head", "chars", "target", "framing-fields"];

/** One instrumented module: its name, live counters and transpiled lines (for the report). */
interface Instrumented {
  name: string;
  cov: FileCoverage;
  lines: string[];
}

/** Load the parser instrumented for coverage; returns the class and the live counters of each {@link INSTRUMENTED} module. */
async function instrumentedParser(): Promise<{ Parser: ParserClass; files: Instrumented[] }> {
  type Instrumenter = { instrumentSync(code: string, filename: string): string };
  const lib = "istanbul-lib-instrument"; // untyped package: imported by name
  const { createInstrumenter } = (await import(lib)) as { createInstrumenter(o: Record<string, unknown>): Instrumenter };
  const here = dirname(new URL(import.meta.url).pathname);
  const srcDir = resolve(here, "../src/http");
  const dir = join(process.env.TMPDIR ?? "/tmp", `tsgi-fuzz-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const outOf = (name: string) => join(dir, `${name}.instrumented.js`);
  const instrumenter = createInstrumenter({ coverageVariable: "__tsgiFuzzCoverage", esModules: true, compact: true, produceSourceMap: false });
  const transpiled = new Map<string, string[]>();
  for (const name of INSTRUMENTED) {
    const file = join(srcDir, `${name}.ts`);
    let js = new Bun.Transpiler({ loader: "ts", target: "bun" }).transformSync(readFileSync(file, "utf8"));
    // Imports of instrumented modules go to their instrumented copies, the others to the sources.
    js = js.replace(/from\s+"\.\/([a-z-]+)\.ts"/g, (_m, dep: string) =>
      `from ${JSON.stringify(INSTRUMENTED.includes(dep) ? outOf(dep) : join(srcDir, `${dep}.ts`))}`,
    );
    writeFileSync(outOf(name), instrumenter.instrumentSync(js, file));
    transpiled.set(name, js.split("\n"));
  }
  // Loaded (with the instrumented modules it imports): the copies are not needed any more, nor left
  // behind when the run ends, however it ends (the watchdog's SIGKILL too).
  let mod: { RequestParser: ParserClass };
  try {
    mod = (await import(outOf("parser"))) as { RequestParser: ParserClass };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const all = (globalThis as unknown as { __tsgiFuzzCoverage: Record<string, FileCoverage> }).__tsgiFuzzCoverage;
  const files = INSTRUMENTED.map((name) => ({ name, cov: all[join(srcDir, `${name}.ts`)]!, lines: transpiled.get(name)! }));
  return { Parser: mod.RequestParser, files };
}

/** Seed inputs: the differential corpus and some plain valid requests. */
async function seeds(): Promise<Entry[]> {
  const { systematicCorpus } = await import("./diff-llhttp.ts");
  const out: Entry[] = systematicCorpus().map((c) => ({ data: enc(c.payload), profile: 0 }));
  out.push(
    { data: enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), profile: 0 },
    { data: enc("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n"), profile: 0 },
    { data: enc("POST /u HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabcGET / HTTP/1.0\r\n\r\n"), profile: 1 },
    { data: enc("\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"), profile: 3 },

    // the IP-literal check (target.ts validIpLiteral) in all three places it runs
    { data: enc("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:1.2.3.4]:80\r\n\r\n"), profile: 0 },
    { data: enc("GET / HTTP/1.1\r\nHost: [fe80::a%25eth0%2F1]\r\n\r\n"), profile: 0 },
    { data: enc("GET http://[v1F.a!:b]:8080/x?y HTTP/1.1\r\nHost: h\r\n\r\n"), profile: 0 },
    { data: enc("CONNECT [2001:db8::ffff:0:1]:443 HTTP/1.1\r\nHost: [2001:db8::ffff:0:1]:443\r\n\r\n"), profile: 0 },
  );
  return out;
}

/** `path` as a crash report shows it: relative to the working directory when under it, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

function save(reason: string, e: Entry, cuts: number[], dir: string): string {
  const reg: Regression = { reason, limits: LIMIT_PROFILES[e.profile], input: Buffer.from(e.data).toString("latin1"), cuts };
  const name = `${createHash("sha256").update(JSON.stringify(reg.input) + e.profile).digest("hex").slice(0, 16)}.json`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), JSON.stringify(reg, null, 2) + "\n");
  return name;
}

/** Start a watchdog thread: if no exec finishes for `ms`, it saves the running input and kills the process. */
function watchdog(ms: number, dir: string): { beat: (e: Entry, cuts: number[]) => void; stop: () => void } {
  const sab = new SharedArrayBuffer(4 * 4 + 16384);
  const ints = new Int32Array(sab, 0, 4); // [heartbeat, length, profile, unused]
  const bytes = new Uint8Array(sab, 16);
  const src = `
    self.onmessage = (ev) => {
      const { sab, ms, dir, profiles } = ev.data;
      const ints = new Int32Array(sab, 0, 4);
      const bytes = new Uint8Array(sab, 16);
      let last = -1;
      setInterval(() => {
        const beat = Atomics.load(ints, 0);
        if (beat !== last) { last = beat; return; }
        if (beat === 0) return;
        const fs = require("node:fs");
        const len = Atomics.load(ints, 1);
        const input = Buffer.from(bytes.slice(0, len)).toString("latin1");
        fs.mkdirSync(dir, { recursive: true });
        const name = dir + "/hang-" + Date.now() + ".json";
        fs.writeFileSync(name, JSON.stringify({ reason: "hang: execute did not return within " + ms + " ms", limits: profiles[Atomics.load(ints, 2)], input, cuts: [] }, null, 2) + "\\n");
        console.error("HANG: saved " + name);
        process.kill(process.pid, "SIGKILL");
      }, ms);
    };
  `;
  const url = URL.createObjectURL(new Blob([src], { type: "application/javascript" }));
  const worker = new Worker(url);
  worker.postMessage({ sab, ms, dir, profiles: LIMIT_PROFILES.map((p) => p ?? null) });
  worker.unref?.();
  let n = 0;
  return {
    beat: (e, _cuts) => {
      const len = Math.min(e.data.length, bytes.length);
      bytes.set(e.data.subarray(0, len));
      Atomics.store(ints, 1, len);
      Atomics.store(ints, 2, e.profile);
      Atomics.store(ints, 0, ++n);
    },
    stop: () => worker.terminate(),
  };
}

async function main(): Promise<void> {
  const usage = "bun bench/fuzz.ts [--minutes 5] [--seed N] [--corpus DIR] [--out DIR] [--quiet] [--selftest crash|hang]";
  const args = benchArgs(usage, {
    minutes: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    corpus: { type: "string" },
    quiet: { type: "boolean" },
    selftest: { type: "string" },
  });
  const minutes = numberArg(usage, "minutes", args.minutes, 5, { min: 0.01 });
  const seed = numberArg(usage, "seed", args.seed, Date.now() % 1e9, { integer: true });
  const outDir = resolve(args.out ?? REGRESSIONS_DIR);
  const corpusDir = args.corpus ?? "";
  const quiet = args.quiet === true;
  const selftest = args.selftest ?? "";
  if (selftest !== "" && selftest !== "crash" && selftest !== "hang") usageError(usage, `--selftest must be crash or hang, got ${JSON.stringify(selftest)}`);
  // The made-up crash or hang is saved like a real one: not among the suite's regressions.
  if (selftest !== "" && args.out === undefined) usageError(usage, "--selftest saves a made-up crash or hang: give --out DIR (a scratch directory; the default, test/fuzz-regressions, is replayed by the suite)");
  const rnd = prng(seed);
  const { Parser, files } = await instrumentedParser();
  // Statement counters of all instrumented modules, flat: statement i is sObjs[i][sKeys[i]].
  const sObjs = files.flatMap((f) => Object.keys(f.cov.s).map(() => f.cov.s));
  const sKeys = files.flatMap((f) => Object.keys(f.cov.s));
  // Branch counters, flat: the arrays the instrumented code increments in place.
  const bArms = files.flatMap((f) => Object.values(f.cov.b));
  const seenS = new Uint16Array(sKeys.length); // bitmask of buckets seen per statement
  const seenB = bArms.map((arms) => new Uint16Array(arms.length));
  const everS = new Uint8Array(sKeys.length);
  const everB = bArms.map((arms) => new Uint8Array(arms.length));

  /** Fold the counters of the last exec into the seen maps; true if anything new. Resets the counters. */
  const harvest = (): boolean => {
    let fresh = false;
    for (let i = 0; i < sKeys.length; i++) {
      const s = sObjs[i]!;
      const k = sKeys[i]!;
      const c = s[k]!;
      if (c === 0) continue;
      s[k] = 0;
      everS[i] = 1;
      const bit = 1 << bucket(c);
      if ((seenS[i]! & bit) === 0) {
        seenS[i]! |= bit;
        fresh = true;
      }
    }
    for (let i = 0; i < bArms.length; i++) {
      const arms = bArms[i]!;
      const seen = seenB[i]!;
      for (let j = 0; j < arms.length; j++) {
        const c = arms[j]!;
        if (c === 0) continue;
        arms[j] = 0;
        everB[i]![j] = 1;
        const bit = 1 << bucket(c);
        if ((seen[j]! & bit) === 0) {
          seen[j]! |= bit;
          fresh = true;
        }
      }
    }
    return fresh;
  };

  const dog = watchdog(10_000, outDir);
  const corpus: Entry[] = [];
  const crashes = new Map<string, string>();
  let execs = 0;

  const run = (e: Entry): boolean => {
    const cuts = cutsFor(e.data.length, rnd);
    dog.beat(e, cuts);
    execs++;
    try {
      if (selftest && execs === 500) {
        // --selftest crash|hang: check that crashes are saved and hangs caught
        if (selftest === "hang") for (;;);
        throw new ContractViolation("selftest crash");
      }
      check(Parser, e.data, LIMIT_PROFILES[e.profile], cuts);
    } catch (err) {
      harvest();
      const reason = err instanceof ContractViolation ? err.message.split("\n")[0]! : `harness error: ${String(err)}`;
      const key = reason.replace(/\d+/g, "N");
      if (!crashes.has(key)) {
        const name = save(reason, e, cuts, outDir);
        crashes.set(key, name);
        console.log(`CRASH ${reason}\n  saved ${shown(join(outDir, name))}\n  input ${JSON.stringify(Buffer.from(e.data).toString("latin1")).slice(0, 300)}`);
      }
      return false;
    }
    return harvest();
  };

  for (const s of await seeds()) if (run(s)) corpus.push(s);
  if (corpusDir) {
    try {
      for (const n of readdirSync(corpusDir)) corpus.push({ data: new Uint8Array(readFileSync(join(corpusDir, n))), profile: 0 });
    } catch {
      /* a new directory */
    }
  }
  const coverage = () => {
    const s = everS.reduce((a, v) => a + v, 0);
    let b = 0;
    let bt = 0;
    for (const arms of everB) {
      bt += arms.length;
      for (const v of arms) b += v;
    }
    return { s, st: sKeys.length, b, bt };
  };
  const started = performance.now();
  const deadline = started + minutes * 60_000;
  let lastReport = started;
  console.log(`fuzzing src/http/parser.ts for ${minutes} min, seed ${seed}, ${corpus.length} seeds kept`);
  while (performance.now() < deadline) {
    for (let k = 0; k < 200; k++) {
      const parent = corpus[Math.floor(rnd() * corpus.length)]!;
      const other = corpus[Math.floor(rnd() * corpus.length)]!;
      const child = mutate(parent, other, rnd);
      if (run(child)) {
        corpus.push(child);
        if (corpusDir) {
          mkdirSync(corpusDir, { recursive: true });
          writeFileSync(join(corpusDir, createHash("sha1").update(child.data).digest("hex").slice(0, 16)), child.data);
        }
      }
    }
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      const c = coverage();
      if (!quiet) {
        console.log(
          `${((now - started) / 1000).toFixed(0)}s execs ${execs} (${Math.round(execs / ((now - started) / 1000))}/s) corpus ${corpus.length} ` +
            `statements ${c.s}/${c.st} branches ${c.b}/${c.bt} crashes ${crashes.size}`,
        );
      }
    }
  }
  dog.stop();
  const c = coverage();
  const secs = (performance.now() - started) / 1000;
  console.log(
    `\ndone: ${execs} execs in ${secs.toFixed(0)} s (${Math.round(execs / secs)}/s), corpus ${corpus.length}, ` +
      `statements ${c.s}/${c.st} (${((100 * c.s) / c.st).toFixed(1)}%), branches ${c.b}/${c.bt} (${((100 * c.b) / c.bt).toFixed(1)}%), crashes ${crashes.size}`,
  );
  let i = 0;
  for (const f of files) {
    const uncovered = new Set<number>();
    for (const k of Object.keys(f.cov.s)) if (!everS[i++]) uncovered.add(f.cov.statementMap[k]!.start.line);
    if (uncovered.size) {
      console.log(`statements never reached (transpiled ${f.name}.ts):`);
      for (const line of [...uncovered].sort((a, b) => a - b)) console.log(`  ${line}: ${(f.lines[line - 1] ?? "").trim().slice(0, 110)}`);
    }
  }
  process.exit(crashes.size > 0 ? 1 : 0);
}

if (import.meta.main) await main();
