/**
 * A connection's output backlog (src/server/output.ts): what the socket did
 * not take while a client was slow goes out in few writes once it reads
 * again, not one write per small part, and byte for byte.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prng } from "../bench/prng.ts";
import type { Application } from "../src/spec.ts";
import { partBytes, smallParts } from "./apps/small-parts.ts";
import { firstArrival, parseResponses, python3, spawnedProcesses, startServer } from "./helpers.ts";

/** strace, when installed and allowed to trace here (a container without ptrace makes it fail at once): else `null`. */
const strace = ((path: string | null) => (path !== null && Bun.spawnSync([path, "-qq", "-o", "/dev/null", "true"]).exitCode === 0 ? path : null))(Bun.which("strace"));
const procs = spawnedProcesses();
const servers: Array<ReturnType<typeof startServer>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.server.close({ timeout: 100 })));
});

/**
 * GET `path` on a fresh connection (`Connection: close`) and read the whole
 * response, reading first after `firstPauseMs`; `pauseMs()` says how long to stop reading after each piece
 * (0: read on). Rejects after `limitMs`.
 */
function fetchSlowly(port: number, path: string, firstPauseMs: number, pauseMs: () => number, limitMs = 25000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    const sock = connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end after ${limitMs} ms (${pieces.reduce((n, p) => n + p.length, 0)} bytes)`));
    }, limitMs);
    sock.pause();
    sock.on("error", reject);
    sock.on("connect", () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      setTimeout(() => sock.resume(), firstPauseMs);
    });
    sock.on("data", (d: Buffer) => {
      pieces.push(d);
      const ms = pauseMs();
      if (ms > 0) {
        sock.pause();
        setTimeout(() => sock.resume(), ms);
      }
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(pieces));
    });
  });
}

/** The send-side syscalls (sendto, sendmsg, writev) counted in an `strace -c` summary. */
function sendCalls(summary: string): number {
  let calls = 0;
  for (const line of summary.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (["sendto", "sendmsg", "writev"].includes(f[f.length - 1]!)) calls += Number(f[3]);
  }
  return calls;
}

/**
 * GET `path` from a Python client in its own process whose connection takes
 * little at a time: a 4 KiB receive buffer and a 536-byte MSS, both set
 * before connect, reading at most 4 KiB then sleeping 0.5 ms, for up to
 * `limitMs`. Linux sizes the server's send buffer by the MSS (about 0.7 MB
 * here instead of 4 MB) and the small window keeps it from growing, so a
 * body well over that waits in the server's backlog and each `drain` fills
 * the socket again: the last write of nearly every drain is short (about 50
 * of them for 8 MB). Resolves with everything received.
 */
async function fetchThroughSmallWindow(port: number, path: string, limitMs = 40000): Promise<Buffer> {
  const script = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.connect(("127.0.0.1", ${port}))
s.sendall(b"GET ${path} HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n")
pieces, t = [], time.monotonic()
while time.monotonic() - t < ${limitMs / 1000}:
    d = s.recv(4096)
    if not d:
        break
    pieces.append(d)
    time.sleep(0.0005)
sys.stdout.buffer.write(b"".join(pieces))
`;
  const proc = Bun.spawn([python3!, "-c", script], { stdout: "pipe", stderr: "pipe" });
  procs.push(proc);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`python client failed (${code}): ${err}`);
  return Buffer.from(out);
}

/**
 * On one keep-alive connection, `rounds` times: GET all of `paths` pipelined
 * in one write, then read until that many more responses are complete.
 * Resolves with everything received; rejects after `limitMs`.
 */
function pipelineRounds(port: number, paths: string[], rounds: number, limitMs = 20000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    const batch = paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`).join("");
    const sock = connect({ host: "127.0.0.1", port });
    let round = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`round ${round + 1} of ${rounds} did not complete in ${limitMs} ms`));
    }, limitMs);
    sock.on("error", reject);
    sock.on("connect", () => sock.write(batch));
    sock.on("data", (d: Buffer) => {
      pieces.push(d);
      const done = parseResponses(Buffer.concat(pieces)).filter((r) => r.complete).length;
      if (done < (round + 1) * paths.length) return;
      if (++round < rounds) return void sock.write(batch);
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(pieces));
    });
  });
}

if (!python3) console.warn("server-output-backlog: python3 is not installed; the short-write test is skipped");
if (!strace) console.warn("server-output-backlog: strace is not installed or cannot trace here (ptrace refused); the write-count tests are skipped");

/**
 * GET each of `paths` in turn, each on a connection of its own, from
 * test/apps/small-parts.ts run in its own process under `strace -c`,
 * reading first after `firstPauseMs`: the responses' bytes and the server's
 * send calls for all of them ({@link sendCalls}).
 */
async function countSends(paths: string[], firstPauseMs: number, fetchAll?: (port: number) => Promise<Buffer[]>): Promise<{ datas: Buffer[]; calls: number }> {
  const dir = mkdtempSync(join(tmpdir(), "tsgi-backlog-"));
  try {
    const summary = join(dir, "strace.txt");
    const proc = Bun.spawn([strace!, "-f", "-qq", "-c", "-e", "trace=sendto,sendmsg,writev", "-o", summary, process.execPath, join(import.meta.dir, "apps/small-parts.ts")], {
      stdout: "pipe",
      stderr: "inherit",
    });
    procs.push(proc);
    const reader = proc.stdout.getReader();
    let text = "";
    const deadline = Date.now() + 20000;
    while (!/listening \d+ \d+\n/.test(text) && Date.now() < deadline) {
      const step = await reader.read();
      if (step.done) break;
      text += new TextDecoder().decode(step.value);
    }
    const m = /listening (\d+) (\d+)\n/.exec(text);
    if (m === null) throw new Error(`small-parts.ts did not say it listens: ${JSON.stringify(text)}`);
    const [port, pid] = [Number(m[1]), Number(m[2])];
    const datas: Buffer[] = fetchAll ? await fetchAll(port) : [];
    if (!fetchAll) for (const path of paths) datas.push(await fetchSlowly(port, path, firstPauseMs, () => 0));
    process.kill(pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
    return { datas, calls: sendCalls(readFileSync(summary, "utf8")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.skipIf(!strace)(
  "200,000 unawaited 16-byte write()s to a client that reads only after 500 ms: sent in at most 1,000 writes (not one per part), byte for byte",
  async () => {
    const n = 200_000;
    const { datas, calls } = await countSends([`/writes?n=${n}&size=16`], 500);
    const [res] = parseResponses(datas[0]!);
    expect(res!.complete).toBe(true);
    expect(res!.body.equals(partBytes(n, 16))).toBe(true);
    // 4.4 MB with framing: about 34 writes of 128 KiB, plus one per drain. One per part (each
    // unawaited write() queues three: size line, bytes, CRLF) was about 19,000.
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(1000);
  },
  60000,
);

test.skipIf(!strace)(
  "a generator of 200 chunks of 64 KiB (chunked) to a client that reads at once: one write per chunk, its size line, data and CRLF together, byte for byte",
  async () => {
    const n = 200;
    const size = 64 * 1024;
    const { datas, calls } = await countSends([`/yield?n=${n}&size=${size}`], 0);
    const [res] = parseResponses(datas[0]!);
    expect(res!.complete).toBe(true);
    expect(res!.framing).toBe("chunked");
    expect(res!.body.equals(partBytes(n, size))).toBe(true);
    // One per chunk (the head goes with the first, the last chunk with a write of its own), and a
    // few more when the client falls behind. Three per chunk (size line, data, CRLF) were 601.
    expect(calls).toBeGreaterThanOrEqual(n);
    expect(calls).toBeLessThan(300);
  },
  60000,
);

test.skipIf(!strace)(
  "a Content-Length response whose body is one chunk of 20 to 120 KiB (an array body, sync and async, a file_wrapper, a generator's only chunk): its head and body go out in one write, byte for byte",
  async () => {
    // 20, 64 and 120 KiB, all of which fit with the head in the 128 KiB scratch buffer.
    const cases: Array<[string, Buffer]> = [];
    for (const n of [20, 64, 120]) {
      for (const path of ["/array?", "/array?async=1&", "/file?"]) cases.push([`${path}n=${n}&size=1024`, partBytes(n, 1024)]);
      cases.push([`/yield?length=1&n=1&size=${n * 1024}`, partBytes(1, n * 1024)]);
    }
    const { datas, calls } = await countSends(cases.map(([path]) => path), 0);
    cases.forEach(([path, want], i) => {
      const [res] = parseResponses(datas[i]!);
      expect(res!.complete, path).toBe(true);
      expect(res!.framing, path).toBe("length");
      expect(res!.body.equals(want), path).toBe(true);
    });
    // One write per response, and a few more if the socket took less at once. Head, then body was
    // two per response (24).
    expect(calls).toBeGreaterThanOrEqual(cases.length);
    expect(calls).toBeLessThan(cases.length + 4);
  },
  60000,
);

test("many small and large parts to ten clients at once that pause at random: every body arrives byte for byte (unawaited writes and a generator, chunked and with Content-Length)", async () => {
  const s = startServer(smallParts);
  servers.push(s);
  const cases: Array<[string, number, number]> = [
    // About 6 MB each: more than loopback's socket buffers take while the client waits.
    ["/writes", 300_000, 16],
    ["/writes", 9_000, 700],
    ["/writes", 320, 20_000],
    ["/yield", 300_000, 16],
    ["/yield", 320, 20_000],
  ];
  // All at once: the connections share the server's scratch buffer, so a backlog that kept a view
  // of it instead of a copy would send another connection's bytes.
  const runs = cases.flatMap(([path, n, size], k) =>
    [false, true].map(async (length) => {
      const random = prng(2 * k + (length ? 1 : 0));
      const data = await fetchSlowly(s.port, `${path}?n=${n}&size=${size}${length ? "&length=1" : ""}`, 300, () => (random() < 0.7 ? Math.floor(random() * 20) : 0));
      const [res] = parseResponses(data);
      return { path, n, size, length, res: res!, want: partBytes(n, size) };
    }),
  );
  for (const { n, size, length, res, want } of await Promise.all(runs)) {
    expect(res.complete).toBe(true);
    expect(res.framing).toBe(length ? "length" : "chunked");
    expect(res.body.length).toBe(n * size);
    expect(res.body.equals(want)).toBe(true);
  }
  expect(s.errors).toEqual([]);
}, 120000);

test.skipIf(!python3)(
  "a backlog whose drains the socket takes only part of (clients with small TCP windows, at once): every body arrives byte for byte",
  async () => {
    const s = startServer(smallParts);
    servers.push(s);
    // About 8 MB each, ten times what the server's send buffer holds for such a client. Different
    // part sizes, so that one connection's bytes in another's body show. All at once: what a drain
    // leaves over of the scratch buffer it gathered into must be copied before another
    // connection's drain fills that buffer again. (The ten-client test above rarely gets here: on
    // loopback's 4 MB send buffers a drain nearly always takes the whole backlog.)
    const cases: Array<[string, number, number]> = [
      ["/writes", 11_400, 700],
      ["/writes", 8_800, 900],
      ["/yield", 16_000, 500],
    ];
    const runs = cases.map(async ([path, n, size], k) => {
      const data = await fetchThroughSmallWindow(s.port, `${path}?n=${n}&size=${size}${k === 1 ? "&length=1" : ""}`);
      const [res] = parseResponses(data);
      return { n, size, res: res!, want: partBytes(n, size) };
    });
    for (const { n, size, res, want } of await Promise.all(runs)) {
      expect(res.complete).toBe(true);
      expect(res.body.length).toBe(n * size);
      expect(res.body.equals(want)).toBe(true);
    }
    expect(s.errors).toEqual([]);
  },
  90000,
);

test.skipIf(!strace)(
  "16 pipelined requests to an application that answers after an await (alone, and between synchronous answers): their responses go out in one write, as a synchronous batch's do, in order and byte for byte",
  async () => {
    const rounds = 10;
    // Bodies of 8 to 128 bytes, so that a response out of place shows.
    const asyncOnly = Array.from({ length: 16 }, (_, i) => `/array?async=1&n=${i + 1}&size=8`);
    const mixed = Array.from({ length: 16 }, (_, i) => `/array?${i % 2 === 0 ? "async=1&" : ""}n=${i + 1}&size=8`);
    const { datas, calls } = await countSends([], 0, async (port) => [await pipelineRounds(port, asyncOnly, rounds), await pipelineRounds(port, mixed, rounds)]);
    for (const data of datas) {
      const res = parseResponses(data);
      expect(res.length).toBe(16 * rounds);
      res.forEach((r, k) => {
        expect(r.complete).toBe(true);
        expect(r.body.equals(partBytes((k % 16) + 1, 8))).toBe(true);
      });
    }
    // One write per round, a few more if a round's requests came in two reads. One per async
    // response was 160 for the first connection and 80-160 for the second.
    expect(calls).toBeGreaterThanOrEqual(2 * rounds);
    expect(calls).toBeLessThan(2 * rounds + 8);
  },
  60000,
);

test.skipIf(!python3)(
  "the output held for a pipelined batch behind an async answer waits at most a turn of the event loop: an answer pipelined before one that awaits 1.5 s, and each event of a stream with a request pipelined behind it, arrive on time",
  async () => {
    const app: Application = async (environ, sr) => {
      if (environ.PATH_INFO === "/events") {
        sr("200 OK", [["Content-Type", "text/event-stream"]]);
        return (async function* () {
          for (let i = 0; i < 5; i++) {
            yield new TextEncoder().encode(`data: e${i}\n\n`);
            await Bun.sleep(300);
          }
        })();
      }
      if (environ.PATH_INFO === "/slow") await Bun.sleep(1500);
      else await Promise.resolve();
      sr("200 OK", [["Content-Length", "7"]]);
      return [new TextEncoder().encode(environ.PATH_INFO.padEnd(7, "."))];
    };
    const s = startServer(app);
    servers.push(s);
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;
    // Held until the slow one ends, /fast took 1.5 s; the events, the stream's 1.5 s, or 64 KiB of them.
    const fast = await firstArrival(s.port, get("/fast") + get("/slow"), "/fast..", "/slow..");
    const events = await firstArrival(s.port, get("/events") + get("/after"), "data: e1", "/after.");
    const stream = await firstArrival(s.port, get("/events") + get("/after"), "data: e0", "/after.");
    expect(parseResponses(Buffer.from(fast.data, "latin1")).map((r) => r.body.toString())).toEqual(["/fast..", "/slow.."]);
    expect(parseResponses(Buffer.from(events.data, "latin1")).map((r) => r.body.toString())).toEqual([[0, 1, 2, 3, 4].map((i) => `data: e${i}\n\n`).join(""), "/after."]);
    // Bounds far above a turn of the loop (well under 1 ms here), far below the waits a hold without its bound makes.
    expect({ fast: fast.firstMs < 700, e0: stream.firstMs < 250, e1: events.firstMs < 300 + 250 }).toEqual({ fast: true, e0: true, e1: true });
    expect(s.errors).toEqual([]);
  },
  30000,
);
