/**
 * Slowloris through a chunked body's framing: bytes of chunk extensions,
 * chunk-size lines and the trailer section are not body bytes, so they do
 * not restart the `bodyTimeout` clock of an app waiting on `tsgi.input`.
 * A client that trickles them (each byte well within `bodyTimeout`) is
 * answered 408 once `bodyTimeout` passed since the app's read began,
 * instead of holding the connection for as long as it keeps trickling
 * (up to `maxChunkExtBytes` per chunk, without end over many chunks; up to
 * `maxTrailerBytes` of trailers). Body bytes trickled as slowly do restart
 * it (eventlet `socket_timeout`: a wait for more bytes): `requestTimeout`
 * bounds those (test/fault-clients.test.ts, "R-U-Dead-Yet").
 */
import { afterAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import type { Application } from "../src/spec.ts";
import { startServer } from "./helpers.ts";

const BODY_TIMEOUT = 600;
const STEP = 150;

const servers: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.server.close({ timeout: 100 })));
});

/** An app that reads its body to the end and answers with its length. */
const reader: Application = async (environ, startResponse) => {
  let n = 0;
  for (let i = 0; i < 100_000; i++) {
    const c = await environ["tsgi.input"].read(65536);
    if (c.length === 0) break;
    n += c.length;
  }
  const body = new TextEncoder().encode(`n=${n}`);
  startResponse("200 OK", [["Content-Length", String(body.length)]]);
  return [body];
};

/**
 * Send `first`, then one piece of `pieces` every {@link STEP} ms, until the
 * server closes or `limitMs` pass. Resolves with what came back, when the
 * connection closed (ms after `first`, or -1) and how many pieces went.
 */
function trickle(port: number, first: string, pieces: string[], limitMs: number): Promise<{ data: string; closedMs: number; sent: number }> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let data = "";
    let sent = 0;
    let done = false;
    const t0 = Date.now();
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(hard);
      sock.destroy();
      resolve({ data, closedMs: closed ? Date.now() - t0 : -1, sent });
    };
    const timer = setInterval(() => {
      if (sent < pieces.length && !sock.destroyed) sock.write(pieces[sent++]!);
    }, STEP);
    const hard = setTimeout(() => finish(false), limitMs);
    sock.on("data", (d) => (data += d.toString("latin1")));
    sock.on("close", () => finish(true));
    sock.on("error", () => finish(true));
    sock.on("connect", () => sock.write(first));
  });
}

const HEAD = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
const bytesOf = (s: string) => s.split("");

describe("framing bytes trickled while the app reads its body (bodyTimeout 600 ms, a byte every 150 ms)", () => {
  const cases: Array<[string, string, string[]]> = [
    ["a chunk extension", `${HEAD}1;`, bytesOf("a".repeat(40))],
    ["a chunk-size line of leading zeros", `${HEAD}`, bytesOf("0".repeat(15))],
    ["a quoted chunk-extension value", `${HEAD}1;a="`, bytesOf("x".repeat(40))],
    ["the trailer section", `${HEAD}1\r\nA\r\n0\r\n`, bytesOf(`${"X-T: v\r\n".repeat(5)}`)],
  ];
  for (const [name, first, pieces] of cases) {
    test(`${name}: 408 once bodyTimeout passed, while the client still trickles`, async () => {
      const s = startServer(reader, { bodyTimeout: BODY_TIMEOUT, headerTimeout: 10_000 });
      servers.push(s);
      // The trickle would go on for pieces.length × 150 ms (2 to 6 s).
      const r = await trickle(s.port, first, pieces, pieces.length * STEP + 1000);
      expect(r.data).toStartWith("HTTP/1.1 408 ");
      expect(r.sent).toBeLessThan(pieces.length);
      expect(r.closedMs).toBeGreaterThanOrEqual(BODY_TIMEOUT - 50);
      expect(r.closedMs).toBeLessThan(BODY_TIMEOUT + 1200);
    }, 15_000);
  }

  test("contrast: body bytes (1-byte chunks, each sent whole) as slowly restart the clock: all 12 arrive and the app answers", async () => {
    const s = startServer(reader, { bodyTimeout: BODY_TIMEOUT, headerTimeout: 10_000 });
    servers.push(s);
    const pieces = [...Array.from({ length: 12 }, () => "1\r\nA\r\n"), "0\r\n\r\n"];
    const r = await trickle(s.port, HEAD, pieces, pieces.length * STEP + 2000);
    expect(r.data).toStartWith("HTTP/1.1 200 ");
    expect(r.data).toEndWith("n=12");
    expect(r.sent).toBe(pieces.length);
  }, 15_000);
});
