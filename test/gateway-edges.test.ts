/**
 * Gateway edges found uncovered by a hand mutation pass over src/gateway/
 * (each test names the mutant it catches), on real sockets: a file
 * wrapper's source (a pipe, a file-like object) left when the app's
 * Content-Length is sent; whose bytes a chunk holds (an array
 * with a close(), a buffer refilled under minimumChunkSize); the order of
 * write() among collected chunks; write()'s backpressure; posthooks that
 * fail; a write() after the response ended; a body returned after the
 * server gave up on the request; a late read of an unread body;
 * readline(size) with the newline further on; the gateway's last resort
 * (cut()) closing a connection whose error answer failed after its head.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { RequestHandler } from "../src/server/handler.ts";
import type { ErrorResponse } from "../src/gateway/run.ts";
import type { Application } from "../src/spec.ts";
import { enc, get, parseResponses, raw, serverPool } from "./helpers.ts";

const start = serverPool();
const dir = mkdtempSync(join(tmpdir(), "tsgi-gateway-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** This process's open descriptors whose target is `path` (Linux /proc). */
function openOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** A FIFO whose writer writes a line, then holds the pipe open 5 s before closing it. */
function quietPipe(name: string): string {
  const path = join(dir, name);
  Bun.spawnSync(["mkfifo", path]);
  Bun.spawn(["sh", "-c", `printf 'from a pipe\\n' > "$1"; exec 3>"$1"; sleep 5`, "sh", path], { stdout: "ignore", stderr: "ignore" });
  return path;
}

/** Wait (up to 2 s) until no descriptor of this process is open on `path`; how many still are. */
async function closedSoon(path: string): Promise<number> {
  let open = openOn(path);
  for (let k = 0; k < 100 && open > 0; k++) {
    await Bun.sleep(20);
    open = openOn(path);
  }
  return open;
}

describe("a file wrapper of a pipe whose writer stays open (Bun.file() of a FIFO: no size)", () => {
  test.skipIf(process.platform !== "linux")("under a Content-Length: the response ends at that length and the next request on the connection is answered at once; Content-Length 0 sends none of it", async () => {
    // (Mutants: in sendBlob's loop over an unsized source, `if (left === 0) break` dropped: the read went on until the writer
    // closed the pipe, 5 s, and the next request waited; its finally's reader.cancel() dropped: the pipe stayed open, only released.)
    const app: Application = (environ, sr) => {
      if (environ.PATH_INFO === "/next") {
        sr("200 OK", [["Content-Length", "4"]]);
        return [enc("next")];
      }
      sr("200 OK", [["Content-Length", environ.PATH_INFO === "/zero" ? "0" : "4"]]);
      return environ["tsgi.file_wrapper"]!(Bun.file(String(environ.QUERY_STRING)));
    };
    const s = start(app);
    for (const [name, target, body] of [
      ["four.fifo", "/four", "from"],
      ["zero.fifo", "/zero", ""],
    ] as const) {
      const path = quietPipe(name);
      const started = Date.now();
      const r = await raw(s.port, [get(`${target}?${path}`), get("/next")], { until: (d) => d.includes("next"), timeoutMs: 4000 });
      expect({ target, responses: parseResponses(r.data).map((x) => [x.status, x.body.toString()]) }).toEqual({
        target,
        responses: [
          [200, body],
          [200, "next"],
        ],
      });
      expect(Date.now() - started).toBeLessThan(3000);
      // The pipe's read end is closed now (its writer still holds the other end), not when collected.
      expect({ target, open: await closedSoon(path) }).toEqual({ target, open: 0 });
    }
    expect(s.errors.join("")).toBe("");
  }, 20_000);
});

describe("whose bytes a chunk holds (spec.md \"The body\")", () => {
  test("an array body with a close() that reuses its buffers (a pool): the bytes sent are the ones returned, pipelined too", async () => {
    // (Mutant: an array with close() lent to the server as an array without one is: the server kept the chunk past close(), which overwrote it.)
    const s = start((environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      const buf = enc(`body of ${environ.PATH_INFO}`);
      const body = [buf] as Uint8Array[] & { close(): void };
      body.close = () => void buf.fill(0x58); // back to the pool, overwritten
      return body;
    });
    // Three responses of one length each: a head as long as the first's, and 10 body bytes.
    const whole = (d: Buffer) => d.indexOf("\r\n\r\n") > 0 && d.length >= 3 * (d.indexOf("\r\n\r\n") + 4 + 10);
    const r = await raw(s.port, get("/a") + get("/b") + get("/c"), { until: whole, timeoutMs: 3000 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["body of /a", "body of /b", "body of /c"]);
  });

  test("minimumChunkSize: a generator that refills one buffer for each yield gets each chunk's bytes sent, not the last one's several times", async () => {
    // (Mutant: a chunk collected under minimumChunkSize kept as a view of the app's buffer, not copied.)
    const s = start(
      (_e, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        const buf = new Uint8Array(4);
        return (function* () {
          for (const word of ["one;", "two;", "six;"]) {
            buf.set(enc(word));
            yield buf;
          }
        })();
      },
      { minimumChunkSize: 1000 },
    );
    const res = await fetch(`${s.url}/`);
    expect(await res.text()).toBe("one;two;six;");
  });
});

describe("minimumChunkSize and write()", () => {
  test("a write() between chunks collected under minimumChunkSize: the bytes go out in the order given", async () => {
    // (Mutant: write() no longer sends what was collected first: the client got "write;yield-1;yield-2;".)
    const s = start(
      (_e, sr) => {
        const write = sr("200 OK", [["Content-Type", "text/plain"]]);
        return (async function* () {
          yield enc("yield-1;");
          await write(enc("write;"));
          yield enc("yield-2;");
        })();
      },
      { minimumChunkSize: 1000 },
    );
    const res = await fetch(`${s.url}/`);
    expect(await res.text()).toBe("yield-1;write;yield-2;");
  });
});

describe("write() backpressure", () => {
  test("an app awaiting each write() to a client that does not read is held back: produced bytes stay bounded", async () => {
    // (Mutant: write() resolved at once whatever the socket said: 64 MiB went into the server's memory.)
    const CHUNK = 1024 * 1024;
    const TOTAL = 64;
    let produced = 0;
    const s = start(async (_e, sr) => {
      const write = sr("200 OK", [["Content-Length", String(CHUNK * TOTAL)]]);
      const chunk = new Uint8Array(CHUNK).fill(0x61);
      for (let i = 0; i < TOTAL; i++) {
        await write(chunk);
        produced++;
      }
      return [];
    });
    const sock = connect(s.port, "127.0.0.1");
    sock.on("error", () => {});
    sock.pause();
    try {
      await new Promise((r) => sock.on("connect", r));
      sock.write(get("/"));
      await Bun.sleep(500);
      // Kernel socket buffers take a few MiB at most.
      expect(produced * CHUNK).toBeLessThan(16 * 1024 * 1024);
    } finally {
      sock.destroy();
    }
  });
});

describe("a file-like object's wrapper under Content-Length: 0", () => {
  test("no body byte, one block read, not the whole file", async () => {
    // (Mutant: pump's `if (this.fileLeft === 0) return this.complete()` for a block cut to nothing dropped: every block was read, and dropped.)
    let reads = 0;
    const s = start((environ, sr) => {
      sr("200 OK", [["Content-Length", "0"]]);
      const data = enc("0123456789ABCDEFGHIJ");
      let pos = 0;
      return environ["tsgi.file_wrapper"]!(
        {
          read(size: number) {
            reads++;
            return data.subarray(pos, (pos += size));
          },
        },
        4,
      );
    });
    const r = await raw(s.port, get("/a") + get("/b"), { until: (d) => d.toString().split("Content-Length: 0").length === 3, timeoutMs: 3000 });
    expect(parseResponses(r.data).map((x) => [x.status, x.body.toString()])).toEqual([
      [200, ""],
      [200, ""],
    ]);
    expect(reads).toBe(2);
    expect(s.errors.join("")).toBe("");
  });
});

describe("posthooks", () => {
  test("a posthook that throws or rejects is logged, and the hooks after it still run, in order", async () => {
    // (Mutant: runPosthooks without its try/catch around each hook: the first error ended the run, the later hooks never ran.)
    const ran: string[] = [];
    const s = start((environ, sr) => {
      const hooks = environ["tsgi.posthooks"]!;
      hooks.push([() => void ran.push("first")]);
      hooks.push([
        () => {
          ran.push("throws");
          throw new Error("hook two failed");
        },
      ]);
      hooks.push([
        async () => {
          ran.push("rejects");
          throw new Error("hook three failed");
        },
      ]);
      hooks.push([(_e: unknown, word: unknown) => void ran.push(`last ${String(word)}`), ["arg"]]);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("ok")];
    });
    expect(await (await fetch(`${s.url}/`)).text()).toBe("ok");
    for (let k = 0; k < 100 && ran.length < 4; k++) await Bun.sleep(10);
    expect(ran).toEqual(["first", "throws", "rejects", "last arg"]);
    const log = s.errors.join("");
    expect(log).toContain("hook two failed");
    expect(log).toContain("hook three failed");
  });
});

describe("after the response", () => {
  test("write() called after the response ended throws saying so, and puts no byte on the connection: the next response on it is intact", async () => {
    // (Mutant: write() without its `finished` check: the late write resolved as if sent, its bytes silently dropped.)
    let late: Promise<string> | null = null;
    const s = start((environ, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "5"]]);
      if (environ.PATH_INFO === "/first") {
        late = (async () => {
          await Bun.sleep(50);
          try {
            await write(enc("LATE-BYTES"));
            return "no error";
          } catch (error) {
            return String(error);
          }
        })();
      }
      return [enc(environ.PATH_INFO === "/first" ? "first" : "later")];
    });
    const sock = connect(s.port, "127.0.0.1");
    sock.on("error", () => {});
    let data = "";
    sock.on("data", (d) => (data += d.toString("latin1")));
    try {
      await new Promise((r) => sock.on("connect", r));
      sock.write(get("/first"));
      for (let k = 0; k < 100 && !data.endsWith("first"); k++) await Bun.sleep(10);
      expect(late).not.toBeNull();
      expect(await late!).toContain("write() was called after the response ended");
      sock.write(get("/later"));
      for (let k = 0; k < 100 && !data.endsWith("later"); k++) await Bun.sleep(10);
      expect(data).not.toContain("LATE");
      expect(parseResponses(Buffer.from(data, "latin1")).map((x) => [x.status, x.body.toString()])).toEqual([
        [200, "first"],
        [200, "later"],
      ]);
    } finally {
      sock.destroy();
    }
  });
});

describe("a body returned after the server gave up on the request (requestTimeout)", () => {
  test("is closed unread: its generator never runs, its close() is called once", async () => {
    // (Mutant: consumeBody without its `abandoned` check: the generator was run after the 503, for no client.)
    const steps: string[] = [];
    let closes = 0;
    const s = start(
      async (_e, sr) => {
        await Bun.sleep(300);
        sr("200 OK", [["Content-Type", "text/plain"]]);
        const body = (function* () {
          steps.push("started");
          yield enc("too late");
        })() as unknown as Iterable<Uint8Array> & { close(): void };
        body.close = () => void closes++;
        return body;
      },
      { requestTimeout: 100 },
    );
    const r = await raw(s.port, get("/slow"), { until: (d) => d.includes("503"), timeoutMs: 3000 });
    expect(r.data.toString()).toStartWith("HTTP/1.1 503");
    for (let k = 0; k < 100 && closes === 0; k++) await Bun.sleep(10);
    await Bun.sleep(50);
    expect({ steps, closes }).toEqual({ steps: [], closes: 1 });
  });
});

describe("tsgi.input after the response", () => {
  test("a read after the response, of a body that had all arrived but was not read, rejects as discarded, not resolving empty as if the client had sent none", async () => {
    // (Mutant: discard() counting as lost only a body not yet ended, not unread bytes: the late read resolved with 0 bytes.)
    let late: Promise<string> | null = null;
    const s = start((environ, sr) => {
      const input = environ["tsgi.input"];
      late = Bun.sleep(50).then(() =>
        input.read(10).then(
          (b) => `${b.length} bytes`,
          (e: Error) => e.message,
        ),
      );
      sr("202 Accepted", [["Content-Length", "3"]]);
      return [enc("ok\n")];
    });
    // Head and the whole body in one write: all of it is in tsgi.input before the app answers.
    const r = await raw(s.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", { until: (d) => d.includes("ok\n") });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([202]);
    expect(await late!).toBe("tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends");
  });
});

describe("tsgi.input.readline(size)", () => {
  test("returns at most size bytes when the line's newline is already buffered further on (the rest comes with the next readline)", async () => {
    // (Mutant: lineEnd() without its Math.min(…, limit): readline(5) returned the whole 9-byte line.)
    const s = start(async (environ, sr) => {
      const input = environ["tsgi.input"];
      const lines: string[] = [];
      lines.push(new TextDecoder().decode(await input.readline(5)));
      for (let k = 0; k < 5; k++) {
        const line = await input.readline();
        if (line.length === 0) break;
        lines.push(new TextDecoder().decode(line));
      }
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [enc(JSON.stringify(lines))];
    });
    const body = "abcdefgh\nij\n";
    const r = await raw(s.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { until: (d) => d.toString().endsWith("]"), timeoutMs: 3000 });
    expect(JSON.parse(parseResponses(r.data)[0]!.body.toString())).toEqual(["abcde", "fgh\n", "ij\n"]);
  });
});

describe("the gateway's last resort: its own error answer failing after its head went out", () => {
  test("a handleError() response whose body getter throws once read again: the head that went out is followed by the connection's close, not left open as if the body were coming", async () => {
    // (Mutant: cut() without its sink.abort(): the 503's head went out with Content-Length: 10 and the
    // connection stayed open under it, the client waiting for 10 bytes that never came.)
    // The getter gives bytes to the hook's check and to the head (its Content-Length), then throws on
    // the write of the body: failSafely()'s catch, the one path to cut() with the sink still open.
    let reads = 0;
    class Flaky extends RequestHandler {
      override handleError(): ErrorResponse {
        return {
          status: "503 Service Unavailable",
          headers: [["Content-Type", "text/plain"]],
          get body(): Uint8Array {
            if (++reads > 2) throw new Error("body getter gave out");
            return enc("unavailabl");
          },
        };
      }
    }
    const s = start(() => {
      throw new Error("app failed");
    }, { handlerClass: Flaky });
    const r = await raw(s.port, get("/x"), { timeoutMs: 3000 });
    expect(r.data.toString("latin1")).toStartWith("HTTP/1.1 503 ");
    expect(r.data.toString("latin1")).toContain("Content-Length: 10\r\n");
    expect(r.data.toString("latin1")).not.toContain("unavailabl");
    expect(r.closed).toBe(true);
    expect(reads).toBeGreaterThan(2);
    expect(s.errors.join("")).toContain("body getter gave out");
  });
});
