/**
 * Backpressure both ways (PEP 3333 "Buffering and Streaming"): a client that
 * does not read stops the app from producing; an app that does not read stops
 * the server from buffering the upload.
 */
import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import type { Application } from "../src/spec.ts";
import { get, startServer } from "./helpers.ts";

const CHUNK = 64 * 1024;
const TOTAL_CHUNKS = 1024; // 64 MiB
const servers: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.server.close({ timeout: 100 })));
});

test("a slow reader holds the app back: produced bytes stay bounded until the client reads", async () => {
  let produced = 0;
  const chunk = new Uint8Array(CHUNK).fill(0x61);
  const app: Application = (_e, sr) => {
    sr("200 OK", [["Content-Length", String(CHUNK * TOTAL_CHUNKS)]]);
    return (function* () {
      for (let i = 0; i < TOTAL_CHUNKS; i++) {
        produced++;
        yield chunk;
      }
    })();
  };
  const s = startServer(app);
  servers.push(s);
  const sock = connect({ host: "127.0.0.1", port: s.port });
  sock.pause();
  await new Promise((r) => sock.on("connect", r));
  sock.write(get("/"));
  await Bun.sleep(500);
  const producedWhilePaused = produced;
  // Kernel socket buffers take a few MiB at most; the server must not have run ahead.
  expect(producedWhilePaused * CHUNK).toBeLessThan(16 * 1024 * 1024);
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout after ${received} bytes`)), 20000);
    sock.on("data", (d) => {
      received += d.length;
      if (received >= CHUNK * TOTAL_CHUNKS) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  sock.resume();
  await done;
  sock.destroy();
  expect(produced).toBe(TOTAL_CHUNKS);
}, 30000);

test("an app that does not read its upload pauses the client instead of buffering it", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  let total = 0;
  const app: Application = async (environ, sr) => {
    await gate;
    for (;;) {
      const c = await environ["tsgi.input"].read(CHUNK);
      if (c.length === 0) break;
      total += c.length;
    }
    sr("200 OK", []);
    return [new TextEncoder().encode(String(total))];
  };
  const s = startServer(app);
  servers.push(s);
  const size = 64 * 1024 * 1024;
  const sock = connect({ host: "127.0.0.1", port: s.port });
  await new Promise((r) => sock.on("connect", r));
  sock.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
  const block = Buffer.alloc(CHUNK, 0x62);
  let written = 0;
  let blocked = false;
  // Write until the socket pushes back (server paused reading), bounded in count.
  for (let i = 0; i < size / CHUNK && !blocked; i++) {
    blocked = !sock.write(block);
    written += CHUNK;
  }
  await Bun.sleep(300);
  const rssBefore = process.memoryUsage().rss;
  // The server holds at most its high-water mark plus kernel buffers: far below 64 MiB.
  expect(written).toBeLessThan(size);
  const response = new Promise<string>((resolve, reject) => {
    let data = "";
    const timer = setTimeout(() => reject(new Error("timeout")), 20000);
    sock.on("data", (d) => {
      data += d;
      if (data.endsWith(String(size))) {
        clearTimeout(timer);
        resolve(data);
      }
    });
  });
  release();
  const pump = async () => {
    while (written < size) {
      if (!sock.write(block)) await new Promise((r) => sock.once("drain", r));
      written += CHUNK;
    }
  };
  await pump();
  expect(await response).toContain(`\r\n\r\n${size}`);
  sock.destroy();
  void rssBefore;
}, 30000);
