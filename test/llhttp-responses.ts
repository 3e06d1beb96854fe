/**
 * A strict, independent HTTP/1.1 response parser for tests: llhttp, the
 * parser inside node:http, driven in a child `node` process through
 * `HTTPParser` (the binding node:http's client uses), with no lenient flags.
 *
 * Give it the bytes a server sent on one connection and the method of each
 * request (a response to HEAD has no body, RFC 9110 §9.3.2, which only the
 * client knows), and it returns each response as llhttp framed it: where it
 * starts and ends in the bytes, status, header fields as sent (latin-1,
 * repeats kept, in order), body bytes, whether it was complete, and the
 * llhttp error (e.g. `HPE_INVALID_EOF_STATE` for a body cut short) that ended
 * parsing, if any. Node (with llhttp) must be on PATH as `node` (or set
 * NODE=/path/to/node), as for bench/diff-llhttp.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";

/** One response as llhttp framed it. */
export interface LlhttpResponse {
  /** Offsets into the bytes: the first byte of the status line, and one past the last byte of the message. */
  start: number;
  end: number;
  versionMinor: number;
  status: number;
  reason: string;
  /** Field lines in order, names and values as sent (latin-1). */
  headers: Array<[string, string]>;
  body: Buffer;
  /** llhttp saw the end of the message (false: the bytes ended inside it). */
  complete: boolean;
  /** llhttp's should_keep_alive for it. */
  keepAlive: boolean;
}

export interface LlhttpParse {
  responses: LlhttpResponse[];
  /** The error that stopped llhttp (its code), or null. */
  error: string | null;
  /** Bytes llhttp consumed before stopping. */
  parsed: number;
}

const NODE_SOURCE = String.raw`
const { HTTPParser } = require("_http_common");
const readline = require("node:readline");
function parse(buf, methods, eof) {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  const out = [];
  let cur = null, finals = 0, offset = 0;
  // Feed one byte at a time so each message's start and end offsets are exact.
  p[HTTPParser.kOnMessageBegin] = () => { cur = { start: offset, end: -1, versionMinor: 0, status: 0, reason: "", headers: [], body: [], complete: false, keepAlive: false }; out.push(cur); };
  p[HTTPParser.kOnHeaders] = (headers) => { for (let i = 0; i < headers.length; i += 2) cur.headers.push([headers[i], headers[i + 1]]); };
  p[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, status, reason, upgrade, keepAlive) => {
    if (headers) for (let i = 0; i < headers.length; i += 2) cur.headers.push([headers[i], headers[i + 1]]);
    Object.assign(cur, { versionMinor: minor, status, reason, keepAlive: !!keepAlive });
    if (status < 200) return 0;
    return methods[finals++] === "HEAD" ? 1 : 0;
  };
  p[HTTPParser.kOnBody] = (b, start, len) => { cur.body.push(Buffer.from(start === undefined ? b : b.subarray(start, start + len))); };
  p[HTTPParser.kOnMessageComplete] = () => { cur.complete = true; cur.end = offset + 1; };
  let error = null, parsed = 0;
  for (offset = 0; offset < buf.length; offset++) {
    const r = p.execute(buf.subarray(offset, offset + 1));
    if (r instanceof Error) { error = r.code || String(r); break; }
    parsed = offset + 1;
  }
  if (error === null && eof) {
    offset = buf.length;
    const r = p.finish();
    if (r instanceof Error) error = r.code || String(r);
    else if (cur && cur.complete && cur.end > buf.length) cur.end = buf.length;
  }
  for (const m of out) { m.body = Buffer.concat(m.body).toString("base64"); if (m.end < 0) m.end = buf.length; }
  return { responses: out, error, parsed };
}
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const { id, data, methods, eof } = JSON.parse(line);
  let result;
  try { result = parse(Buffer.from(data, "base64"), methods, eof); } catch (e) { result = { responses: [], error: "THREW " + String(e && e.stack || e), parsed: 0 }; }
  process.stdout.write(JSON.stringify({ id, result }) + "\n");
});
process.stdout.write("ready\n");
`;

/** A running llhttp child: `parse()` as often as needed, then `stop()`. */
export interface LlhttpResponseParser {
  parse(data: Uint8Array, methods: string[], eof: boolean): Promise<LlhttpParse>;
  stop(): void;
}

/** Start the child `node` process (waits at most 10 s for it). */
export async function startLlhttpResponseParser(): Promise<LlhttpResponseParser> {
  const child: ChildProcess = spawn(process.env.NODE ?? "node", ["-e", NODE_SOURCE], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map<number, (r: LlhttpParse) => void>();
  let buffered = "";
  let ready!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    setTimeout(() => reject(new Error("the llhttp node process did not start in 10 s")), 10_000).unref();
    child.once("exit", (code) => reject(new Error(`the llhttp node process exited (${code})`)));
  });
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => {
    buffered += text;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === "ready") {
        ready();
        continue;
      }
      const { id, result } = JSON.parse(line) as { id: number; result: LlhttpParse & { responses: Array<LlhttpResponse & { body: string }> } };
      for (const r of result.responses) (r as LlhttpResponse).body = Buffer.from(r.body, "base64");
      waiting.get(id)?.(result);
      waiting.delete(id);
    }
  });
  await started;
  let next = 0;
  return {
    parse(data, methods, eof) {
      const id = next++;
      return new Promise<LlhttpParse>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error("the llhttp node process did not answer in 10 s"));
        }, 10_000);
        waiting.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        child.stdin!.write(`${JSON.stringify({ id, data: Buffer.from(data).toString("base64"), methods, eof })}\n`);
      });
    },
    stop() {
      child.kill();
    },
  };
}
