/**
 * Benchmark target: the ceiling for a `Bun.listen` server. It parses nothing.
 *
 * - hello (default): for every blank line (`\r\n\r\n`) in what it reads it
 *   answers one canned hello response, the same bytes tsgi sends (Date
 *   included), all the responses to one read in one write.
 * - echo BYTES: every request is taken to be a head and then exactly BYTES
 *   bytes of body (the bench's fixed POST body: no Content-Length is read);
 *   once a body is complete it is answered with tsgi's response head and the
 *   body's bytes, in one write.
 * - close (after either): one request per connection (bench/hello.ts
 *   --close): its response says `Connection: close`, then the server sends
 *   its FIN (`shutdown`), drops what else it reads and closes the descriptor
 *   once the client's FIN is in, as tsgi closes (its waiting close, RFC 9112
 *   §9.6).
 *
 * Usage: bun bench/servers/raw-listen.ts PORT [hello | echo BYTES] [close]
 */
import { serverArgs, usageError } from "../args.ts";

const USAGE = "bun bench/servers/raw-listen.ts PORT [hello | echo BYTES] [close]";
const { port, rest } = serverArgs(USAGE, 9003);
const words = [...rest];
if (words[0] === "hello") words.shift();
let echoBytes = 0;
if (words[0] === "echo") {
  echoBytes = /^\d+$/.test(words[1] ?? "") ? Number(words[1]) : 0;
  if (!(echoBytes > 0)) usageError(USAGE, `echo BYTES: BYTES must be a whole number of at least 1 (the bench's fixed POST body), got ${JSON.stringify(words[1] ?? "")}`);
  words.splice(0, 2);
}
const closeEach = words[0] === "close";
if (closeEach) words.shift();
if (words.length > 0) usageError(USAGE, `unexpected argument ${JSON.stringify(words[0])}`);
const connectionField = closeEach ? "Connection: close\r\n" : "";
const encoder = new TextEncoder();
let date = new Date().toUTCString();
setInterval(() => (date = new Date().toUTCString()), 1000).unref();
const response = () =>
  echoBytes > 0
    ? encoder.encode(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDate: ${date}\r\nServer: tsgi/0.1.0\r\nContent-Length: ${echoBytes}\r\n${connectionField}\r\n`,
      )
    : encoder.encode(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nServer: tsgi/0.1.0\r\nContent-Length: 14\r\n${connectionField}\r\nHello, world!\n`);
let cached = response();
let cachedDate = date;
const current = () => {
  if (cachedDate !== date) {
    cached = response();
    cachedDate = date;
  }
  return cached;
};

/**
 * Per socket: `tail` = how many bytes of a head's `\r\n\r\n` the previous
 * read ended inside; in echo mode, the response being built (`out`, `filled`
 * bytes of it so far) while a body is read.
 */
type State = { tail: number; out: Uint8Array | null; filled: number; done: boolean };
type RawSocket = { data: State; write(b: Uint8Array): number; shutdown(): void };

/** hello: one canned response per `\r\n\r\n`. */
function hello(socket: RawSocket, data: Uint8Array) {
  if (socket.data.done) return;
  let matched = socket.data.tail;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === (matched % 2 === 0 ? 13 : 10)) {
      if (++matched === 4) {
        count++;
        matched = 0;
      }
    } else matched = c === 13 ? 1 : 0;
  }
  socket.data.tail = matched;
  if (count === 0) return;
  const head = current();
  if (closeEach) {
    // One request per connection: its answer, then the FIN.
    socket.data.done = true;
    socket.write(head);
    socket.shutdown();
  } else if (count === 1) socket.write(head);
  else {
    const out = new Uint8Array(head.length * count);
    for (let i = 0; i < count; i++) out.set(head, i * head.length);
    socket.write(out);
  }
}

/** echo: after each `\r\n\r\n`, copy `echoBytes` body bytes behind the response head; write when full. */
function echo(socket: RawSocket, data: Uint8Array) {
  const state = socket.data;
  let i = 0;
  while (i < data.length && !state.done) {
    if (state.out !== null) {
      const take = Math.min(state.out.length - state.filled, data.length - i);
      state.out.set(data.subarray(i, i + take), state.filled);
      state.filled += take;
      i += take;
      if (state.filled === state.out.length) {
        socket.write(state.out);
        state.out = null;
        if (closeEach) {
          state.done = true;
          socket.shutdown();
        }
      }
      continue;
    }
    const c = data[i++];
    if (c === (state.tail % 2 === 0 ? 13 : 10)) {
      if (++state.tail === 4) {
        state.tail = 0;
        const head = current();
        state.out = new Uint8Array(head.length + echoBytes);
        state.out.set(head, 0);
        state.filled = head.length;
      }
    } else state.tail = c === 13 ? 1 : 0;
  }
}

const handle = echoBytes > 0 ? echo : hello;
Bun.listen<State>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(socket) {
      socket.data = { tail: 0, out: null, filled: 0, done: false };
    },
    data: handle,
    // close: the client's FIN after ours ends the connection (keep-alive runs as before, with Bun's default).
    ...(closeEach ? { end: (socket: { end(): void }) => void socket.end() } : {}),
  },
});
console.log("ready");
