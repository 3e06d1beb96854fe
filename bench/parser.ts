/**
 * Micro benchmark of the request parser (not a test): `bun bench/parser.ts`.
 * Parses a typical ~200-byte GET head (whole, in one chunk) and a small POST
 * with a Content-Length body, and prints ns per request.
 */
import { RequestParser, type RequestHead } from "../src/http/parser.ts";
import { benchArgs } from "./args.ts";

benchArgs("bun bench/parser.ts (no options)", {});

const GET =
  "GET /api/users/12345?include=profile HTTP/1.1\r\n" +
  "Host: example.com\r\n" +
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) curl/8.4.0\r\n" +
  "Accept: */*\r\n" +
  "Accept-Encoding: gzip, deflate, br\r\n" +
  "Connection: keep-alive\r\n" +
  "\r\n";
const POST =
  "POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n" +
  '{"hello":"world"}'.slice(0, 16);

let heads = 0;
let bodyBytes = 0;
let done = 0;
let last: RequestHead | null = null;
const parser = new RequestParser({
  onHead(h) {
    heads++;
    last = h;
  },
  onBody(b) {
    bodyBytes += b.length;
  },
  onMessageComplete() {
    done++;
  },
});

function run(name: string, text: string, n: number): void {
  const buf = new TextEncoder().encode(text);
  for (let i = 0; i < 200_000; i++) parser.execute(buf);
  for (let r = 0; r < 3; r++) {
    const t = Bun.nanoseconds();
    for (let i = 0; i < n; i++) parser.execute(buf);
    const ns = (Bun.nanoseconds() - t) / n;
    console.log(`${name} (${buf.length} bytes): ${ns.toFixed(0)} ns/request`);
  }
}

run("GET head", GET, 2_000_000);
run("POST + 16-byte body", POST, 2_000_000);
console.log({ heads, bodyBytes, done, fields: (last as RequestHead | null)?.fields.length });
