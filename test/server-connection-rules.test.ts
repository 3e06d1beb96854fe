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
