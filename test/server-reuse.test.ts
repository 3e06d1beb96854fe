/**
 * An application that reuses one buffer for its chunks (refilled after each
 * `yield` or `write()`, or per request) gets each chunk's bytes as they were
 * when it gave them (spec.md "The body", "The write() callable"): the server
 * takes them before it asks for the next chunk, calls `return()` or
 * `close()`, lets `write()` return, or runs application code for the next
 * pipelined request. Real sockets on 127.0.0.1, raw requests.
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import type { Application, Environ } from "../src/spec.ts";
import { toFetchHandler } from "../src/fetch/index.ts";
import { LiveHub, withLive } from "../src/dev/live.ts";
import { get, parseResponses, rawOne, serverPool, type ParsedResponse } from "./helpers.ts";

const start = serverPool();

/** The body a reusing app means to send: `count` chunks of `size` bytes, chunk i all `letter(i)`. */
function expected(size: number, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.alloc(size, letter(i))));
}
const letter = (i: number) => 0x61 + (i % 26);
/** What the app writes into its buffer once it is done with it (after its last chunk, in `finally`). */
const SPOIL = 0x21;

/** The request's query as numbers and words: `size`, `count`, `length` (send Content-Length). */
function query(environ: Environ) {
  const q = new URLSearchParams(environ.QUERY_STRING);
  return { size: Number(q.get("size")), count: Number(q.get("count") ?? 4), length: q.get("length") === "1" };
}

/** Headers for a reusing app's response. */
function headers(size: number, count: number, length: boolean): Array<[string, string]> {
  return length ? [["Content-Length", String(size * count)]] : [["Content-Type", "application/octet-stream"]];
}

/** Sync generator over one buffer, spoiled in `finally` (runs at return() or after the last next()). */
const syncGen: Application = (environ, sr) => {
  const { size, count, length } = query(environ);
  sr("200 OK", headers(size, count, length));
  const buf = new Uint8Array(size);
  return (function* () {
    try {
      for (let i = 0; i < count; i++) {
        buf.fill(letter(i));
        yield buf;
      }
    } finally {
      buf.fill(SPOIL);
    }
  })();
};

/** The same as an async generator (its next() runs its body synchronously up to the next yield). */
const asyncGen: Application = (environ, sr) => {
  const { size, count, length } = query(environ);
  sr("200 OK", headers(size, count, length));
  const buf = new Uint8Array(size);
  return (async function* () {
    try {
      for (let i = 0; i < count; i++) {
        buf.fill(letter(i));
        yield buf;
      }
    } finally {
      buf.fill(SPOIL);
    }
  })();
};

/** write() as a statement (PEP 3333 style, never awaited), refilling the buffer right after each call. */
const unawaitedWrite: Application = (environ, sr) => {
  const { size, count, length } = query(environ);
  const write = sr("200 OK", headers(size, count, length));
  const buf = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    buf.fill(letter(i));
    void write(buf);
  }
  buf.fill(SPOIL);
  return [];
};

/** write() awaited each time, the buffer refilled once it resolves. */
const awaitedWrite: Application = async (environ, sr) => {
  const { size, count, length } = query(environ);
  const write = sr("200 OK", headers(size, count, length));
  const buf = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    buf.fill(letter(i));
    await write(buf);
  }
  buf.fill(SPOIL);
  return [];
};

const apps = { "sync generator": syncGen, "async generator": asyncGen, "unawaited write()": unawaitedWrite, "awaited write()": awaitedWrite };
const SIZES = [8, 20 * 1024, 100 * 1024];

/** The framings a response can take: `length` (Content-Length), `chunked` (HTTP/1.1, no length), `close` (HTTP/1.0, no length). */
function request(framing: "length" | "chunked" | "close", size: number, count = 4): string {
  const target = `/?size=${size}&count=${count}&length=${framing === "length" ? 1 : 0}`;
  return framing === "close" ? `GET ${target} HTTP/1.0\r\n\r\n` : `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
}

/** Which chunks of `body` differ from what was meant, as "index:first byte" (empty when none). */
function wrongChunks(body: Buffer, size: number, count: number): string[] {
  const wrong: string[] = [];
  for (let i = 0; i < count; i++) {
    const want = Buffer.alloc(size, letter(i));
    const got = body.subarray(i * size, (i + 1) * size);
    if (!got.equals(want)) wrong.push(`${i}:${got.length ? String.fromCharCode(got[0]!) : "missing"}`);
  }
  return wrong;
}

for (const [name, app] of Object.entries(apps)) {
  test(`${name} reusing one buffer: every chunk arrives as it was given (8 B, 20 KiB, 100 KiB; Content-Length, chunked, close)`, async () => {
    const s = start(app);
    const failures: string[] = [];
    for (const framing of ["length", "chunked", "close"] as const) {
      for (const size of SIZES) {
        const { responses, response } = await rawOne(s.port, request(framing, size), { timeoutMs: 5000 });
        expect(responses.length).toBe(1);
        expect(response!.framing).toBe(framing);
        expect(response!.complete).toBe(true);
        const wrong = wrongChunks(response!.body, size, 4);
        if (wrong.length > 0 || response!.body.length !== size * 4) failures.push(`${framing} ${size}: ${wrong.join(" ")} (${response!.body.length} bytes)`);
      }
    }
    expect(failures).toEqual([]);
    expect(s.errors).toEqual([]);
  }, 30000);
}

/**
 * Send `payload` and read nothing for `pauseMs` (the server's output backs
 * up into its backlog), then read until the server closes (bounded by
 * `timeoutMs`), in `bursts` with a millisecond's pause between reads when asked.
 */
function slowRead(port: number, payload: string, pauseMs: number, timeoutMs = 20000, bursts = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms (${chunks.reduce((n, c) => n + c.length, 0)} bytes)`));
    }, timeoutMs);
    sock.on("connect", () => {
      sock.pause();
      sock.write(payload);
      setTimeout(() => sock.resume(), pauseMs);
    });
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      if (!bursts) return;
      // Then a millisecond's pause after each read.
      sock.pause();
      setTimeout(() => sock.resume(), 1);
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

const MiB = 1024 * 1024;

test("a slow client: a generator's reused chunks behind 16 MiB the client has not read yet arrive as given", async () => {
  // 16 MiB first, more than the kernel's buffers take: the chunks after it meet a backlog (or a
  // socket that takes part of them), and the generator refills its buffer, and spoils it in
  // finally, while they wait. The client reads in small bursts, so the socket keeps filling.
  const s = start((environ, sr) => {
    const size = Number(new URLSearchParams(environ.QUERY_STRING).get("size"));
    sr("200 OK", [["Content-Length", String(16 * MiB + 4 * size)]]);
    const buf = new Uint8Array(size);
    return (function* () {
      try {
        yield new Uint8Array(16 * MiB).fill(0x30);
        for (let i = 0; i < 4; i++) {
          buf.fill(letter(i));
          yield buf;
        }
      } finally {
        buf.fill(SPOIL);
      }
    })();
  });
  const failures: string[] = [];
  for (const size of [8, 40_000, 100 * 1024]) {
    const data = await slowRead(s.port, `GET /?size=${size} HTTP/1.0\r\n\r\n`, 300, 20000, true);
    const [response] = parseResponses(data);
    expect(response!.complete).toBe(true);
    const wrong = wrongChunks(response!.body.subarray(16 * MiB), size, 4);
    if (wrong.length > 0) failures.push(`${size}: ${wrong.join(" ")}`);
  }
  expect(failures).toEqual([]);
}, 30000);

test("a slow client: unawaited write() calls behind a backlog, large and small, each send what was given", async () => {
  const s = start((environ, sr) => {
    const size = Number(new URLSearchParams(environ.QUERY_STRING).get("size"));
    backlogThenReused(sr("200 OK", [["Content-Type", "application/octet-stream"]]), size);
    return [];
  });
  const failures: string[] = [];
  for (const size of [8, 20 * 1024, MiB]) {
    const data = await slowRead(s.port, `GET /?size=${size} HTTP/1.0\r\n\r\n`, 400);
    const [response] = parseResponses(data);
    expect(response!.body.length).toBe(16 * MiB + 4 * size);
    const wrong = wrongChunks(response!.body.subarray(16 * MiB), size, 4);
    if (wrong.length > 0) failures.push(`${size}: ${wrong.join(" ")}`);
  }
  expect(failures).toEqual([]);
}, 30000);

test("a slow client: an async app's unawaited write() calls under Content-Length behind a backlog, the last of which completes the body, each send what was given", async () => {
  // Outside the read that brought the request (the app awaits first), so the output is not corked:
  // the last write() (its part completes the Content-Length) meets the backlog and must be taken
  // before write() returns, though it is queued and written at once.
  const s = start(async (environ, sr) => {
    const size = Number(new URLSearchParams(environ.QUERY_STRING).get("size"));
    await new Promise((resolve) => setTimeout(resolve, 1));
    backlogThenReused(sr("200 OK", [["Content-Length", String(16 * MiB + 4 * size)]]), size);
    return [];
  });
  const failures: string[] = [];
  for (const size of [8, 20 * 1024]) {
    const data = await slowRead(s.port, `GET /?size=${size} HTTP/1.0\r\n\r\n`, 400);
    const [response] = parseResponses(data);
    expect(response!.framing).toBe("length");
    expect(response!.body.length).toBe(16 * MiB + 4 * size);
    const wrong = wrongChunks(response!.body.subarray(16 * MiB), size, 4);
    if (wrong.length > 0) failures.push(`${size}: ${wrong.join(" ")}`);
  }
  expect(failures).toEqual([]);
  expect(s.errors).toEqual([]);
}, 30000);

test("pipelined requests answered in one batch: an array body over a buffer the app refills per request", async () => {
  // One module-level buffer, refilled with each request's letter: the responses of the batch
  // are queued together (one write), and the app runs for the next request meanwhile.
  const failures: string[] = [];
  for (const size of [8, 20 * 1024]) {
    const buf = new Uint8Array(size);
    const s = start((environ, sr) => {
      buf.fill(environ.PATH_INFO.charCodeAt(1));
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return [buf];
    });
    const paths = ["/a", "/b", "/c", "/d"];
    const payload = paths.map((p) => get(p)).join("") + get("/e", "Connection: close\r\n");
    const { data } = await rawOne(s.port, payload, { timeoutMs: 5000 });
    const bodies = parseResponses(data).map((r: ParsedResponse) => String.fromCharCode(r.body[0]!) + String.fromCharCode(r.body.at(-1)!));
    if (bodies.join(" ") !== "aa bb cc dd ee") failures.push(`${size}: ${bodies.join(" ")}`);
  }
  expect(failures).toEqual([]);
});

test("an array body's close() and a posthook that reuse its buffer run after its bytes were taken", async () => {
  const buf = new Uint8Array(8);
  const s = start((environ, sr) => {
    buf.fill(0x61);
    sr("200 OK", [["Content-Type", "text/plain"]]);
    if (environ.PATH_INFO === "/close") return Object.assign([buf], { close: () => void buf.fill(SPOIL) });
    (environ["tsgi.posthooks"] as unknown[]).push([() => void buf.fill(SPOIL), []]);
    return [buf];
  });
  const got: string[] = [];
  for (const path of ["/close", "/posthook"]) {
    const { response } = await rawOne(s.port, get(path, "Connection: close\r\n"), { timeoutMs: 5000 });
    got.push(`${path} ${response!.body.toString("latin1")}`);
  }
  expect(got).toEqual(["/close aaaaaaaa", "/posthook aaaaaaaa"]);
});

test("minimumChunkSize collects a reusing generator's chunks as they were given", async () => {
  const s = start(syncGen, { minimumChunkSize: 1024 });
  for (const framing of ["length", "chunked"] as const) {
    const { response } = await rawOne(s.port, request(framing, 8, 8), { timeoutMs: 5000 });
    expect(`${framing} ${response!.body.toString("latin1")}`).toBe(`${framing} ${expected(8, 8).toString("latin1")}`);
  }
});

test("the fetch bridge: a generator reusing one buffer sends each chunk as it was given", async () => {
  const handler = toFetchHandler(syncGen);
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  try {
    for (const length of [false, true]) {
      for (const size of [8, 20 * 1024]) {
        const r = await fetch(`http://127.0.0.1:${server.port}/?size=${size}&count=4&length=${length ? 1 : 0}`);
        const body = Buffer.from(await r.arrayBuffer());
        expect(`${length} ${size}: ${wrongChunks(body, size, 4).join(" ")}`).toBe(`${length} ${size}: `);
        expect(body.length).toBe(size * 4);
      }
    }
  } finally {
    server.stop(true);
  }
});

test("tsgi-dev's live-reload script goes into a page from a generator reusing one Buffer, every byte as given (buffered under Content-Length; streamed, a `</bo` held back across chunks)", async () => {
  const hub = new LiveHub("id-1");
  const parts = ["<html><body><p>", "first</p>", "<p>second</p></bo", "dy></html>"];
  const page = parts.join("");
  const s = start(
    withLive((environ, sr) => {
      const length = environ.QUERY_STRING === "length=1";
      sr("200 OK", [["Content-Type", "text/html"], ...(length ? [["Content-Length", String(page.length)] as [string, string]] : [])]);
      const buf = Buffer.alloc(64);
      return (function* () {
        try {
          for (const part of parts) {
            buf.fill(0);
            yield buf.subarray(0, buf.write(part, "latin1"));
          }
        } finally {
          buf.fill(SPOIL);
        }
      })();
    }, hub),
  );
  const got: string[] = [];
  for (const query of ["length=1", "length=0"]) {
    const r = await fetch(`${s.url}/?${query}`);
    got.push(`${query} ${(await r.text()).replace(/<script[^]*<\/script>/, "<script/>")}`);
  }
  expect(got).toEqual(["length=1 <html><body><p>first</p><p>second</p><script/></body></html>", "length=0 <html><body><p>first</p><p>second</p><script/></body></html>"]);
  expect(s.errors).toEqual([]);
});

test("pipelined batches over one refilled buffer: past 64 KiB of responses, a large borrowed or lent body in the middle, a backlog forming mid-batch", async () => {
  // Every response's bytes are the one module-level buffer refilled with its letter (a
  // generator's twice); the batch's responses are queued together while the app runs
  // for the next request, and each must come out as it was given.
  const buf = new Uint8Array(8 * MiB);
  const s = start((environ, sr) => {
    const [kind, ch, size] = [environ.PATH_INFO[1]!, environ.PATH_INFO.charCodeAt(2), Number(environ.PATH_INFO.slice(3))];
    const view = buf.subarray(0, size);
    view.fill(ch);
    sr("200 OK", [["Content-Type", "application/octet-stream"]]);
    if (kind === "s") return [view];
    return (function* () {
      yield view;
      view.fill(ch);
      yield view;
    })();
  });
  /** The batch's paths and, per response, the body it should have (one letter, its length). */
  const run = async (paths: string[], slow: boolean) => {
    const payload = paths.map((p, i) => get(p, i === paths.length - 1 ? "Connection: close\r\n" : "")).join("");
    const data = slow ? await slowRead(s.port, payload, 300) : (await rawOne(s.port, payload, { timeoutMs: 10000 })).data;
    const got = parseResponses(data).map((r: ParsedResponse) => `${new Set(r.body.toString("latin1")).size === 1 ? r.body.toString("latin1", 0, 1) : "mixed"}${r.body.length}`);
    const want = paths.map((p) => `${p[2]}${Number(p.slice(3)) * (p[1] === "s" ? 1 : 2)}`);
    return got.join(" ") === want.join(" ") ? "" : `${paths.length} paths: ${got.join(" ")}`;
  };
  const letters = (n: number, kind: string, size: number) => Array.from({ length: n }, (_, i) => `/${kind}${String.fromCharCode(letter(i))}${size}`);
  const failures = [
    // 40 × 3000 bytes: the batch crosses the 64 KiB high-water mark and is written in parts.
    await run(letters(40, "s", 3000), false),
    // A 20 KiB body (written at once: a generator's borrowed chunks, an array's lent one) among small ones.
    await run(["/sa10", "/sb10", "/gc20480", "/sd10", "/se20480", "/sf10", "/gg10", "/sh10"], false),
    // 8 MiB in the middle to a client that reads nothing for 300 ms: a backlog forms mid-batch.
    await run(["/sa10", "/sb10", `/sc${8 * MiB}`, "/sd10", "/ge10", "/sf10", "/sg3000", "/sh10"], true),
    await run([...letters(12, "s", 3000), `/sz${4 * MiB}`, ...letters(12, "s", 5000)], true),
    // 4 MiB of small responses to a client that reads nothing for 300 ms (the backlog takes
    // some of a coalesced batch) while another connection's batch is answered meanwhile.
    ...(await Promise.all([
      run(letters(1400, "s", 3000), true),
      Bun.sleep(100).then(() => run(Array.from({ length: 30 }, (_, i) => `/s${String.fromCharCode(0x41 + (i % 26))}2000`), false)),
    ])),
  ].filter((f) => f !== "");
  expect(failures).toEqual([]);
}, 30000);

/**
 * 16 MiB of the app's own through `write` (to fill the kernel's buffers and
 * start a backlog), then one buffer of `size` bytes filled with the letters
 * a..d in turn and written unawaited after each fill, spoiled after the last.
 */
function backlogThenReused(write: (data: Uint8Array) => Promise<void>, size: number): void {
  void write(new Uint8Array(16 * MiB).fill(0x30));
  const buf = new Uint8Array(size);
  for (let i = 0; i < 4; i++) {
    buf.fill(letter(i));
    void write(buf);
  }
  buf.fill(SPOIL);
}
