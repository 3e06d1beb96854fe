/**
 * Rules of a connection (src/server/connection.ts) that hand mutation
 * testing found no test held: each test here fails with the mutant its
 * comment names. Real sockets on 127.0.0.1, raw bytes.
 */
import { expect, test } from "bun:test";
import type { Application, Environ } from "../src/spec.ts";
import { enc, parseResponses, serverPool } from "./helpers.ts";

const start = serverPool();
type Input = { read(): Promise<Uint8Array> };
const input = (environ: Environ) => environ["tsgi.input"] as Input;

/** Connect, send `pieces` (a gap between), read until close: the bytes, and ms from the last byte that ends with `marker` to the close (-1 if not closed within `timeoutMs`). */
async function closeAfter(port: number, pieces: string[], marker: string, gapMs: number, timeoutMs: number): Promise<{ data: Buffer; closeGapMs: number }> {
  const { connect } = await import("node:net");
  const sock = connect({ host: "127.0.0.1", port });
  await new Promise((r) => sock.on("connect", r));
  const chunks: Buffer[] = [];
  let markerAt = -1;
  const closed = new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(-1), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(performance.now());
    };
    sock.on("end", done);
    sock.on("close", done);
    sock.on("error", done);
  });
  sock.on("data", (d: Buffer) => {
    chunks.push(d);
    if (markerAt < 0 && Buffer.concat(chunks).toString("latin1").endsWith(marker)) markerAt = performance.now();
  });
  for (const p of pieces) {
    sock.write(p);
    await Bun.sleep(gapMs);
  }
  const at = await closed;
  sock.destroy();
  return { data: Buffer.concat(chunks), closeGapMs: at < 0 || markerAt < 0 ? -1 : at - markerAt };
}

test("a Content-Length request body that stops arriving (bodyTimeout) after the response started: the response ends, then the connection closes at once (its framing is lost), not after a further bodyTimeout", async () => {
  // Mutant: bodyFailed() with the response started left responseKeepAlive set, so the connection
  // drained the rest of the body after the response, for another bodyTimeout, before its FIN.
  let readError = "";
  const app: Application = async (environ, sr) => {
    const write = sr("200 OK", [["Content-Type", "text/plain"]]);
    await write(enc("a"));
    try {
      await input(environ).read();
    } catch (error) {
      readError = String(error);
    }
    return [enc("b")];
  };
  const { port } = start(app, { bodyTimeout: 1500 });
  const r = await closeAfter(port, ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"], "0\r\n\r\n", 0, 8000);
  expect(readError).toContain("bodyTimeout");
  const [res] = parseResponses(r.data);
  expect(res!.status).toBe(200);
  expect(res!.complete).toBe(true);
  expect(res!.body.toString()).toBe("ab");
  expect(r.closeGapMs).toBeGreaterThanOrEqual(0);
  expect(r.closeGapMs).toBeLessThan(1000);
});

test("the Date field moves on at the second's boundary: a response just after it carries the new second, even when the cached value was made just before it", async () => {
  // Mutant (src/http/date.ts): the cached Date expired 1000 ms after it was made, not at the
  // next second's boundary, so a response up to 1 s into a new second said the last one.
  const app: Application = (_e, sr) => {
    sr("200 OK", [["Content-Length", "2"]]);
    return [enc("ok")];
  };
  const { port } = start(app);
  const dateOf = async () => {
    const r = await closeAfter(port, ["GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], "ok", 0, 3000);
    return parseResponses(r.data)[0]!.headers.date!;
  };
  const until = async (ms: number) => {
    while (Date.now() % 1000 < ms || Date.now() % 1000 >= ms + 50) await Bun.sleep(5);
  };
  // An attempt counts when the first Date was made before the boundary (its second is that of its
  // sending; a loaded machine can delay it past). A timer fired late can make a counted attempt
  // stale: any fresh one of up to 5 passes; the mutant is never fresh.
  const seen: string[] = [];
  let fresh = 0;
  for (let attempt = 0; attempt < 5 && fresh === 0; attempt++) {
    await Bun.sleep(1100); // no Date made for over a second: the next request makes (caches) one
    await until(850);
    const sentA = Date.now();
    const dateA = await dateOf(); // made at about .850
    if (Date.parse(dateA) !== Math.floor(sentA / 1000) * 1000) continue;
    await until(150);
    const sentB = Date.now(); // the next second, .150
    const dateB = await dateOf();
    seen.push(`${new Date(sentB).toISOString()} -> ${dateB}`);
    if (Date.parse(dateB) >= Math.floor(sentB / 1000) * 1000) fresh++;
  }
  expect(seen.length, "no attempt made its first Date before the boundary").toBeGreaterThan(0);
  expect(fresh, seen.join("; ")).toBe(1);
}, 20_000);

test("no 100 Continue once the final response has begun: an app that writes, then reads the body of an Expect: 100-continue request, sends one response head", async () => {
  // Mutant: sendContinue() without its `this.started` check put "HTTP/1.1 100 Continue" inside the 200's body.
  let body = "";
  const app: Application = async (environ, sr) => {
    const write = sr("200 OK", [["Content-Type", "text/plain"]]);
    await write(enc("a"));
    const got = await Promise.race([input(environ).read(), Bun.sleep(1500).then(() => null)]);
    body = got === null ? "(timed out)" : new TextDecoder().decode(got);
    return [enc("b")];
  };
  const { port } = start(app);
  // The client waits for the 100 up to 300 ms (curl waits 1 s), then sends the body anyway.
  const r = await closeAfter(port, ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", "hello"], "0\r\n\r\n", 300, 5000);
  const text = r.data.toString("latin1");
  expect(text).toStartWith("HTTP/1.1 200 OK\r\n");
  expect(text).not.toContain("100 Continue");
  const [res, ...more] = parseResponses(r.data);
  expect(more).toHaveLength(0);
  expect(res!.body.toString()).toBe("ab");
  expect(body).toBe("hello");
});

test("headerTimeout 0 and bodyTimeout 0 are no limit: a head and a body each sent in two pieces 1.5 s apart are served", async () => {
  // Mutant: setDeadline() taking 0 ms as a deadline due now (ms < 0 for none) closed such connections at the sweeper's next tick.
  const app: Application = async (environ, sr) => {
    const body = environ.REQUEST_METHOD === "POST" ? new TextDecoder().decode(await input(environ).read()) : "";
    sr("200 OK", [["Content-Length", String(2 + body.length)]]);
    return [enc(`ok${body}`)];
  };
  const { port } = start(app, { headerTimeout: 0, bodyTimeout: 0 });
  const [head, body] = await Promise.all([
    closeAfter(port, ["GET / HTTP/1.1\r\nHost: x\r\n", "Connection: close\r\n\r\n"], "ok", 1500, 6000),
    closeAfter(port, ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab", "cd"], "okabcd", 1500, 6000),
  ]);
  expect(parseResponses(head.data).map((r) => `${r.status} ${r.body}`)).toEqual(["200 ok"]);
  expect(parseResponses(body.data).map((r) => `${r.status} ${r.body}`)).toEqual(["200 okabcd"]);
});
