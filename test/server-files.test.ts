/**
 * The static fixture through tsgi.file_wrapper: Content-Type, Content-Length,
 * the file fast path for small and large files, HEAD, and no path traversal.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import staticApp from "../fixtures/static/app.ts";
import type { Application } from "../src/spec.ts";
import { FileWrapper } from "../src/toolkit/util.ts";
import { enc, get, raw, rawOne, startServer } from "./helpers.ts";

const s = startServer(staticApp);
afterAll(() => s.server.close({ timeout: 100 }));

describe("static fixture", () => {
  test("index.html with text/html and its exact length", async () => {
    const res = await fetch(`${s.url}/`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(text));
    expect(text).toContain("tsgi.file_wrapper");
  });

  test("CSS and JSON types", async () => {
    expect((await fetch(`${s.url}/css/site.css`)).headers.get("content-type")).toContain("text/css");
    expect((await fetch(`${s.url}/data.json`)).headers.get("content-type")).toContain("application/json");
  });

  test("HEAD: headers, no body", async () => {
    const r = await rawOne(s.port, "HEAD /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(r.data.toString()).toContain("Content-Length: 19");
    expect(r.data.toString().endsWith("\r\n\r\n")).toBe(true);
  });

  test.each([
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/css/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%5csecret.txt",
    "/%00",
    "/missing.txt",
  ])("%s → 404, never the file outside public/", async (path) => {
    const r = await rawOne(s.port, get(path, "Connection: close\r\n"));
    expect(r.response!.status).toBe(404);
    expect(r.data.toString()).not.toContain("secret outside public");
  });
});

describe("file_wrapper fast path", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsgi-files-"));
  const big = new Uint8Array(5 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  writeFileSync(join(dir, "big.bin"), big);
  writeFileSync(join(dir, "empty.bin"), "");
  // 64 MiB of zeros, sparse (no disk space): more than the runtime reads ahead of a slow client.
  writeFileSync(join(dir, "huge.bin"), "");
  truncateSync(join(dir, "huge.bin"), 64 * 1024 * 1024);
  let closes = 0;
  const app: Application = (environ, sr) => {
    sr("200 OK", [["Content-Type", "application/octet-stream"]]);
    const wrapper = environ["tsgi.file_wrapper"]!(Bun.file(join(dir, environ.PATH_INFO.slice(1))));
    const close = (wrapper as FileWrapper).close.bind(wrapper);
    (wrapper as FileWrapper).close = () => {
      closes++;
      return close();
    };
    return wrapper;
  };
  const f = startServer(app);
  afterAll(() => f.server.close({ timeout: 100 }));

  test("a large file arrives intact with Content-Length, and close() is called once", async () => {
    closes = 0;
    const res = await fetch(`${f.url}/big.bin`);
    expect(res.headers.get("content-length")).toBe(String(big.length));
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(big))).toBe(0);
    await Bun.sleep(10);
    expect(closes).toBe(1);
  });

  test("a large file whose client leaves mid-download lets go of its file descriptor at once, not when the garbage collector finds the abandoned stream", async () => {
    if (!existsSync("/proc/self/fd")) return;
    const openOnBig = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === join(dir, "huge.bin");
        } catch {
          return false;
        }
      }).length;
    closes = 0;
    const clients = 8;
    for (let i = 0; i < clients; i++) {
      // Read the head and some of the body, then leave (reset) with most of the 64 MiB unsent.
      const r = await raw(f.port, "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.length > 64 * 1024, timeoutMs: 3000 });
      expect(r.data.toString("latin1")).toStartWith("HTTP/1.1 200 OK");
    }
    // Each request ends once the server sees its client gone: its close() is called.
    for (let i = 0; i < 100 && closes < clients; i++) await Bun.sleep(10);
    expect(closes).toBe(clients);
    let open = openOnBig();
    for (let i = 0; i < 50 && open > 0; i++) {
      await Bun.sleep(10);
      open = openOnBig();
    }
    expect(open).toBe(0);
  });

  test("a pipe (FIFO) whose writer has gone quiet, its client gone (reset) mid-stream: the pipe is let go at once, not when the writer next writes or closes", async () => {
    if (!existsSync("/proc/self/fd")) return;
    const fifo = join(dir, "quiet.fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const openOnFifo = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === fifo;
        } catch {
          return false;
        }
      }).length;
    // The writer sends 20 KiB, then holds the pipe open without writing (killed at the end).
    const writer = Bun.spawn(["sh", "-c", `exec 3>"$1"; head -c 20480 /dev/zero >&3; exec sleep 20`, "sh", fifo], { stdout: "ignore", stderr: "ignore" });
    try {
      closes = 0;
      // The client takes all there is, so the server waits in the pipe's read, then resets the connection.
      const { connect } = await import("node:net");
      const head = await new Promise<string>((resolve, reject) => {
        const sock = connect({ host: "127.0.0.1", port: f.port });
        const got: Buffer[] = [];
        let bytes = 0;
        const timer = setTimeout(() => (sock.destroy(), reject(new Error("the 20 KiB did not arrive in 3 s"))), 3000);
        sock.on("data", (d: Buffer) => {
          got.push(d);
          bytes += d.length;
          if (bytes > 20480) {
            clearTimeout(timer);
            sock.resetAndDestroy();
            resolve(Buffer.concat(got).toString("latin1", 0, 20));
          }
        });
        sock.write("GET /quiet.fifo HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      expect(head).toStartWith("HTTP/1.1 200 OK");
      for (let i = 0; i < 100 && closes < 1; i++) await Bun.sleep(10);
      expect(closes).toBe(1);
      let open = openOnFifo();
      for (let i = 0; i < 100 && open > 0; i++) {
        await Bun.sleep(10);
        open = openOnFifo();
      }
      expect(open).toBe(0);
    } finally {
      writer.kill();
      await writer.exited;
    }
  });

  test("an empty file → Content-Length: 0", async () => {
    const res = await fetch(`${f.url}/empty.bin`);
    expect(res.headers.get("content-length")).toBe("0");
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test("HEAD of an empty file gets GET's Content-Length: 0 (RFC 9110 §9.3.2), on the server, through toFetchHandler on Bun.serve and through fromFetchHandler, and over an empty file-like object; an empty array body to HEAD still gets none", async () => {
    const { fromFetchHandler, toFetchHandler } = await import("../src/fetch/index.ts");
    const emptyFile: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(join(dir, "empty.bin")));
    };
    const bridged = startServer(fromFetchHandler(() => new Response(Bun.file(join(dir, "empty.bin")))));
    const bun = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(emptyFile) });
    const emptyLike = startServer((environ, sr) => {
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return environ["tsgi.file_wrapper"]!({ read: () => new Uint8Array(0) });
    });
    const skipped = startServer((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return environ.REQUEST_METHOD === "HEAD" ? [] : [enc("hello")];
    });
    try {
      for (const port of [f.port, bridged.port, bun.port!]) {
        for (const method of ["GET", "HEAD"]) {
          const r = await rawOne(port, `${method} /empty.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { until: (d) => d.includes("\r\n\r\n") });
          expect(`${port} ${method} ${r.response!.status} ${r.response!.headers["content-length"]} ${r.response!.headers["transfer-encoding"]}`).toBe(`${port} ${method} 200 0 undefined`);
        }
      }
      const head = await rawOne(skipped.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
      expect(head.response!.headers["content-length"]).toBeUndefined();
      // A wrapper over an empty file-like object (iterated, not a Blob): the same for GET and HEAD too.
      for (const method of ["GET", "HEAD"]) {
        const r = await rawOne(emptyLike.port, `${method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { until: (d) => d.includes("\r\n\r\n") });
        expect(`${method} ${r.response!.headers["content-length"]}`).toBe(`${method} 0`);
      }
    } finally {
      await emptyLike.server.close({ timeout: 100 });
      bun.stop(true);
      await bridged.server.close({ timeout: 100 });
      await skipped.server.close({ timeout: 100 });
    }
  });

  test("iterated (through a middleware), a wrapper over a missing file fails like the fast path: 500, never an empty 200; an empty file is still empty", async () => {
    const { FileWrapper } = await import("../src/toolkit/util.ts");
    const blocks: number[] = [];
    // A pass-through middleware that iterates the body itself, as many do.
    const iterating: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      const inner = new FileWrapper(Bun.file(join(dir, environ.PATH_INFO.slice(1))));
      return (async function* () {
        for await (const block of inner) {
          blocks.push(block.length);
          yield block;
        }
      })();
    };
    const m = startServer(iterating);
    try {
      const missing = await fetch(`${m.url}/no-such-file.bin`);
      expect(missing.status).toBe(500);
      await missing.arrayBuffer();
      expect(m.errors.join("")).toContain("ENOENT");
      const empty = await fetch(`${m.url}/empty.bin`);
      expect(empty.status).toBe(200);
      expect((await empty.arrayBuffer()).byteLength).toBe(0);
      const whole = await fetch(`${m.url}/big.bin`);
      expect((await whole.arrayBuffer()).byteLength).toBe(big.length);
      expect(blocks.reduce((a, b) => a + b, 0)).toBe(big.length);
    } finally {
      await m.server.close({ timeout: 100 });
    }
  });

  test("Node.js files: an fs.createReadStream() and a node:fs/promises FileHandle are sent whole (a stream's read() returns null before data arrives: it was an empty 200), a shorter Content-Length sends that prefix, and each is closed", async () => {
    const { createReadStream } = await import("node:fs");
    const { open } = await import("node:fs/promises");
    const opened: Array<{ closed?: boolean; destroyed?: boolean; fd: number | null }> = [];
    const nodeFiles: Application = async (environ, sr) => {
      const [kind, length] = environ.PATH_INFO.slice(1).split("/");
      sr("200 OK", [["Content-Type", "application/octet-stream"], ...(length ? [["Content-Length", length] as [string, string]] : [])]);
      const file = kind === "stream" ? createReadStream(join(dir, "big.bin")) : await open(join(dir, "big.bin"));
      opened.push(file as never);
      return environ["tsgi.file_wrapper"]!(file as never);
    };
    const n = startServer(nodeFiles);
    try {
      for (const kind of ["stream", "handle"]) {
        const whole = await fetch(`${n.url}/${kind}`);
        expect([kind, whole.status]).toEqual([kind, 200]);
        const got = new Uint8Array(await whole.arrayBuffer());
        expect([kind, got.length]).toEqual([kind, big.length]);
        expect(Buffer.compare(Buffer.from(got), Buffer.from(big))).toBe(0);
        const prefix = await fetch(`${n.url}/${kind}/1000`);
        expect(Buffer.compare(Buffer.from(await prefix.arrayBuffer()), Buffer.from(big.subarray(0, 1000)))).toBe(0);
      }
      for (let i = 0; i < 100 && !opened.every((f) => f.closed || f.destroyed || f.fd === -1); i++) await Bun.sleep(10);
      // ReadStream: closed (its fd released); FileHandle: fd -1 once closed.
      expect(opened.map((f) => Boolean(f.closed || f.destroyed || f.fd === -1))).toEqual([true, true, true, true]);
      expect(n.errors).toEqual([]);
    } finally {
      await n.server.close({ timeout: 100 });
    }
  });

  test("a range is the wrapper of a Blob slice (spec.md): the slice's bytes, from anywhere in the file, with the app's Content-Length or, without one, the slice's size", async () => {
    const ranged: Application = (environ, sr) => {
      const [start, end] = (environ.HTTP_RANGE ?? "").replace("bytes=", "").split("-").map(Number) as [number, number];
      const file = Bun.file(join(dir, "big.bin"));
      const fields: [string, string][] = [["Content-Type", "application/octet-stream"], ["Content-Range", `bytes ${start}-${end}/${file.size}`]];
      if (environ.QUERY_STRING !== "nolength") fields.push(["Content-Length", String(end - start + 1)]);
      sr("206 Partial Content", fields);
      return environ["tsgi.file_wrapper"]!(file.slice(start, end + 1));
    };
    const r = startServer(ranged);
    try {
      const cases: Array<[number, number]> = [[0, 0], [10, 19], [1_000_000, 1_000_009], [3 * 1024 * 1024 - 5, 5 * 1024 * 1024 + 10], [big.length - 1, big.length - 1]];
      for (const query of ["", "nolength"]) {
        for (const [start, end] of cases) {
          const res = await fetch(`${r.url}/?${query}`, { headers: { Range: `bytes=${start}-${end}` } });
          expect(res.status).toBe(206);
          expect(res.headers.get("content-length")).toBe(String(end - start + 1));
          const got = Buffer.from(await res.arrayBuffer());
          expect(got.length).toBe(end - start + 1);
          expect(Buffer.compare(got, Buffer.from(big.subarray(start, end + 1)))).toBe(0);
        }
      }
      expect(r.errors.join("")).toBe("");
    } finally {
      await r.server.close({ timeout: 100 });
    }
  });

  test("environ['tsgi.file_wrapper'] is the toolkit's FileWrapper", async () => {
    let made: unknown = null;
    const probe = startServer((environ, sr) => {
      made = environ["tsgi.file_wrapper"]!(Bun.file(join(dir, "empty.bin")));
      sr("200 OK", []);
      return [];
    });
    await fetch(probe.url);
    await probe.server.close({ timeout: 100 });
    expect(made).toBeInstanceOf(FileWrapper);
  });
});
