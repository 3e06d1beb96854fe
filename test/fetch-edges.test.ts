/**
 * Fetch bridge edges found uncovered by a hand mutation pass over
 * src/fetch/ (each test names the mutant it catches): a request body
 * stream made in JavaScript (as Hono's `app.request()` and tests pass one)
 * pulled no further than tsgi.input holds, and cancelled when the exchange
 * is over; on Bun.serve, a buffer the app refills, HEAD with the app's
 * Content-Length: 0, and a streamed body under Content-Length: 0;
 * REMOTE_PORT from a remoteAddress option without a port; through
 * fromFetchHandler on the tsgi server, no 100 Continue before the handler
 * reads, a decompressed stream's stale Content-Length dropped, and a
 * Bun.file()'s size as Content-Length where the server has no
 * tsgi.file_wrapper.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromFetchHandler, toFetchHandler } from "../src/fetch/index.ts";
import type { Application } from "../src/spec.ts";
import { enc, parseResponses, raw, serverPool } from "./helpers.ts";

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

/** `app` behind toFetchHandler on Bun.serve (127.0.0.1, a free port) for `run`; stopped after. */
async function onBunServe(app: Application, run: (url: string) => Promise<void>): Promise<void> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(app, { errorLog: null }) });
  try {
    await run(`http://127.0.0.1:${server.port}`);
  } finally {
    server.stop(true);
  }
}

describe("toFetchHandler on Bun.serve: responses", () => {
  test("a generator that refills one buffer for each yield: each chunk's bytes are sent, not the last one's several times", async () => {
    // (Mutant: FetchSink.write() enqueuing the app's chunk as it is, not a copy: the stream held views of the refilled buffer.)
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      const buf = new Uint8Array(4);
      return (function* () {
        for (const word of ["one;", "two;", "six;"]) {
          buf.set(enc(word));
          yield buf;
        }
      })();
    };
    await onBunServe(app, async (url) => {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(5000) });
      expect(await res.text()).toBe("one;two;six;");
    });
  });

  test("HEAD answered with the app's Content-Length: 0 carries it, as the GET would, not chunked framing", async () => {
    // (Mutant: FetchSink.start() for HEAD without its `declared === 0` case: the answer went out as a stream, chunked, its Content-Length dropped.)
    const app: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "0"]]);
      return environ.REQUEST_METHOD === "HEAD" ? [] : [new Uint8Array(0)];
    };
    await onBunServe(app, async (url) => {
      const res = await fetch(`${url}/empty`, { method: "HEAD", signal: AbortSignal.timeout(5000) });
      expect([res.status, res.headers.get("content-length"), res.headers.get("transfer-encoding")]).toEqual([200, "0", null]);
    });
  });

  test("an app's Content-Length: 0 with a streamed body: nothing is sent, the body is stopped and closed at once, not left waiting on a stream no one reads", async () => {
    // (Mutant: FetchSink.start() for a length-0 body without `discardsBody = true`: the gateway kept writing into a stream the Response
    // did not carry, until its 64 KiB queue was full, then waited for ever: the generator never stopped, its close() never called.)
    let closes = 0;
    let produced = 0;
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "0"]]);
      const body = (async function* () {
        for (let i = 0; i < 64; i++) {
          produced++;
          yield new Uint8Array(16 * 1024);
        }
      })() as unknown as AsyncIterable<Uint8Array> & { close(): void };
      body.close = () => void closes++;
      return body;
    };
    await onBunServe(app, async (url) => {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(5000) });
      expect([res.status, res.headers.get("content-length"), await res.text()]).toEqual([200, "0", ""]);
      for (let k = 0; k < 100 && closes === 0; k++) await Bun.sleep(10);
      expect(closes).toBe(1);
      expect(produced).toBeLessThan(4);
    });
  });
});

describe("toFetchHandler: REMOTE_ADDR and REMOTE_PORT", () => {
  test("a remoteAddress option that gives no port leaves REMOTE_PORT \"\" (as documented), not \"0\"", async () => {
    // (Mutant: toFetchHandler without its `if (!remote?.port) environ.REMOTE_PORT = ""`: REMOTE_PORT was "0", a port no client has.)
    const app: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${String(environ.REMOTE_ADDR)}|${String(environ.REMOTE_PORT)}`)];
    };
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(app, { errorLog: null, remoteAddress: () => ({ address: "203.0.113.7" }) }) });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/`, { signal: AbortSignal.timeout(5000) });
      expect(await res.text()).toBe("203.0.113.7|");
    } finally {
      server.stop(true);
    }
  });
});

describe("fromFetchHandler on the tsgi server", () => {
  const start = serverPool();

  test("a handler that answers an Expect: 100-continue upload without reading it (a 401) gets no 100 Continue sent before its answer", async () => {
    // (Mutant: request.body's stream made with highWaterMark 1, not 0: it read tsgi.input at once, which sent the 100 Continue while the handler was still deciding.)
    // An async check first (a session looked up), as a real handler would take its time.
    const s = start(fromFetchHandler(async () => (await Bun.sleep(100), new Response("no\n", { status: 401 }))));
    const r = await raw(s.port, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n", { until: (d) => d.includes("no\n"), timeoutMs: 3000 });
    expect(r.data.toString()).toStartWith("HTTP/1.1 401 ");
    expect(r.data.toString()).not.toContain("100 Continue");
  });

  test("a streamed Response with a Content-Encoding and a Content-Length (fetch()'s, whose body Bun decompressed) goes out chunked, whole, not cut at that length", async () => {
    // (Mutant: respond() keeping a streamed body's Content-Length whatever its Content-Encoding: the body was cut at 5 bytes.)
    const s = start(
      fromFetchHandler(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start(c) {
                c.enqueue(enc("decompressed "));
                c.enqueue(enc("body, longer than its field says"));
                c.close();
              },
            }),
            { headers: { "Content-Encoding": "gzip", "Content-Length": "5" } },
          ),
      ),
    );
    const r = await raw(s.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeoutMs: 3000 });
    const [res] = parseResponses(r.data);
    expect([res!.headers["content-length"], res!.headers["transfer-encoding"], res!.body.toString()]).toEqual<unknown[]>([undefined, "chunked", "decompressed body, longer than its field says"]);
  });
  test("a Bun.file() where the server has no tsgi.file_wrapper goes out with its size as Content-Length, not chunked, and HEAD carries the GET's length", async () => {
    // (Mutant: fileBody() without its Content-Length from file.size: the file went out chunked, HEAD with no length at all.)
    const dir = mkdtempSync(join(tmpdir(), "tsgi-fetch-edges-"));
    try {
      const bytes = new Uint8Array(100_000).map((_, i) => i % 253);
      writeFileSync(join(dir, "data.bin"), bytes);
      const handler = fromFetchHandler(() => new Response(Bun.file(join(dir, "data.bin"))));
      // A middleware that takes the wrapper away, as a gateway without one (tsgi.file_wrapper is optional, PEP 3333) gives none.
      const s = start((environ, sr) => {
        delete environ["tsgi.file_wrapper"];
        return handler(environ, sr);
      });
      const r = await raw(s.port, "GET /data.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeoutMs: 3000 });
      const [res] = parseResponses(r.data);
      expect([res!.framing, res!.headers["content-length"], res!.complete]).toEqual<unknown[]>(["length", String(bytes.length), true]);
      expect(new Uint8Array(res!.body)).toEqual(bytes);
      const head = await raw(s.port, "HEAD /data.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeoutMs: 3000 });
      const [h] = parseResponses(head.data, ["HEAD"]);
      expect([h!.headers["content-length"], h!.headers["transfer-encoding"], h!.body.length]).toEqual<unknown[]>([String(bytes.length), undefined, 0]);
      expect(s.errors.join("")).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
