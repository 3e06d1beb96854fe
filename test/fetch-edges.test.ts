/**
 * Fetch bridge edges found uncovered by a hand mutation pass over
 * src/fetch/ (each test names the mutant it catches): a request body
 * stream made in JavaScript (as Hono's `app.request()` and tests pass one)
 * pulled no further than tsgi.input holds, and cancelled when the exchange
 * is over.
 */
import { describe, expect, test } from "bun:test";
import { toFetchHandler } from "../src/fetch/index.ts";
import type { Application } from "../src/spec.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("toFetchHandler: the request body's stream when the app is done with it", () => {
  test("an upload the app answers without reading all of (an endless one, as a proxied upload may be) is cancelled when the response ends, so its source stops", async () => {
    // (Mutant: BodyPump.stop() without its reader.cancel(): the stream was left locked and unread, its source never told.)
    let pulls = 0;
    let cancelled: unknown = "not cancelled";
    const upload = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(new Uint8Array(16 * 1024).fill(0x61));
      },
      cancel(reason) {
        cancelled = reason === undefined ? "cancelled" : String(reason);
      },
    });
    const app: Application = async (environ, sr) => {
      const first = await environ["tsgi.input"].read(10);
      sr("413 Content Too Large", [["Content-Type", "text/plain"]]);
      return [enc(`refused after ${first.length} bytes`)];
    };
    const handler = toFetchHandler(app, { errorLog: null });
    const res = await handler(new Request("http://example.test/upload", { method: "POST", body: upload, duplex: "half" } as RequestInit));
    expect(res.status).toBe(413);
    expect(await res.text()).toBe("refused after 10 bytes");
    for (let k = 0; k < 100 && cancelled === "not cancelled"; k++) await Bun.sleep(10);
    expect(cancelled).not.toBe("not cancelled");
    // Read only up to the input's high-water mark (64 KiB) and no further: bounded, then stopped.
    const seen = pulls;
    await Bun.sleep(100);
    expect(pulls).toBe(seen);
    expect(pulls).toBeLessThan(16);
  });
});

describe("toFetchHandler: an upload the app has not read yet", () => {
  test("is pulled only up to tsgi.input's high-water mark (64 KiB) while the app works, then as it reads: every byte arrives, in order", async () => {
    // (Mutant: BodyPump.pause() a no-op: the whole upload was pulled into memory while the app had read nothing.)
    const CHUNK = 16 * 1024;
    const TOTAL = 64; // 1 MiB
    let pulls = 0;
    const upload = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls === TOTAL) return c.close();
        c.enqueue(new Uint8Array(CHUNK).fill(0x61 + (pulls++ % 26)));
      },
    });
    let pulledBeforeReading = -1;
    const app: Application = async (environ, sr) => {
      await Bun.sleep(200);
      pulledBeforeReading = pulls;
      const body = await environ["tsgi.input"].read();
      let ok = body.length === CHUNK * TOTAL;
      for (let i = 0; ok && i < TOTAL; i++) ok = body[i * CHUNK] === 0x61 + (i % 26) && body[i * CHUNK + CHUNK - 1] === 0x61 + (i % 26);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${body.length} ${ok}`)];
    };
    const handler = toFetchHandler(app, { errorLog: null });
    const res = await handler(new Request("http://example.test/upload", { method: "POST", body: upload, duplex: "half" } as RequestInit));
    expect(await res.text()).toBe(`${CHUNK * TOTAL} true`);
    expect(pulledBeforeReading).toBeGreaterThan(0);
    expect(pulledBeforeReading * CHUNK).toBeLessThanOrEqual(128 * 1024);
  });
});
