/**
 * Benchmark target: the ceiling for a `Bun.listen` server. It parses nothing:
 * for every blank line (`\r\n\r\n`) in what it reads it answers one canned
 * hello response, the same bytes tsgi sends (Date included), all the
 * responses to one read in one write. GET only (bodies are not framed).
 * Usage: bun bench/servers/raw-listen.ts PORT
 */
export {};
const port = Number(process.argv[2] ?? 9003);
const encoder = new TextEncoder();
let date = new Date().toUTCString();
setInterval(() => (date = new Date().toUTCString()), 1000).unref();
const response = () =>
  encoder.encode(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nServer: tsgi/0.1.0\r\nContent-Length: 14\r\n\r\nHello, world!\n`);
let cached = response();
let cachedDate = date;
/** Bytes of a request head's end that the previous read ended inside, per socket. */
type State = { tail: number };
Bun.listen<State>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(socket) {
      socket.data = { tail: 0 };
    },
    data(socket, data) {
      // Count "\r\n\r\n" across reads: tail = how many of its bytes were matched so far.
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
      if (cachedDate !== date) {
        cached = response();
        cachedDate = date;
      }
      if (count === 1) socket.write(cached);
      else {
        const out = new Uint8Array(cached.length * count);
        for (let i = 0; i < count; i++) out.set(cached, i * cached.length);
        socket.write(out);
      }
    },
  },
});
console.log("ready");
