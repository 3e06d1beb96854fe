/**
 * More real clients against the real server, in the modes users point them
 * at one: ApacheBench (`ab -k`, HTTP/1.0 keep-alive, and `ab -p` POSTs),
 * wget (HTTP/1.1 keep-alive, `--post-file`), Python's `requests` (a Session's
 * keep-alive, `stream=True` on a chunked response, a generator upload sent
 * chunked, `files=` multipart) and Node's `http.request` through
 * `new http.Agent({ keepAlive: true })`. Each is skipped with a visible
 * message when not installed (apt-get install apache2-utils wget
 * python3-requests). Connection reuse is counted on the server's side: the
 * app records each request's REMOTE_PORT.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forms from "../fixtures/forms/app.ts";
import type { Application } from "../src/spec.ts";
import { startServer } from "./helpers.ts";

const ab = Bun.which("ab");
const wget = Bun.which("wget");
const node = Bun.which("node");
/** A python3 that can `import requests` (the one on PATH, or Debian's python3-requests under /usr/bin). */
const pythonWithRequests = [Bun.which("python3"), "/usr/bin/python3"].find(
  (p): p is string => !!p && Bun.spawnSync([p, "-c", "import requests"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0,
);
/** Every python3 here that can `import requests`: their versions differ (requests before 2.32 writes a generator's chunks itself, and fails on a write the server reset). */
const pythonsWithRequests = [...new Set([Bun.which("python3"), "/usr/bin/python3"])].filter(
  (p): p is string => !!p && Bun.spawnSync([p, "-c", "import requests"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0,
);
if (!ab) console.warn("SKIP: ab is not installed (apt-get install apache2-utils); ApacheBench tests are skipped");
if (!wget) console.warn("SKIP: wget is not installed (apt-get install wget); wget tests are skipped");
if (!pythonWithRequests) console.warn("SKIP: no python3 with requests (apt-get install python3-requests); requests tests are skipped");
if (!node) console.warn("SKIP: node is not installed; Node http.Agent tests are skipped");

const encoder = new TextEncoder();
const HELLO = encoder.encode("Hello, world!\n");
/** Remote ports seen, per server: one per connection the client opened. */
const ports = new Set<string>();

/**
 * `GET /`: Hello, world! (an array body: Content-Length). `GET /chunks?n=&delay=`: n lines
 * of 9 digits and a newline, `delay` ms apart, from a generator (chunked on HTTP/1.1).
 * `POST /echo`: the body back.
 */
const app: Application = async (environ, startResponse) => {
  ports.add(String(environ.REMOTE_PORT));
  if (environ.PATH_INFO === "/echo") {
    const body = await environ["tsgi.input"].read();
    startResponse("200 OK", [["Content-Type", environ.CONTENT_TYPE ?? "application/octet-stream"]]);
    return [body];
  }
  if (environ.PATH_INFO === "/ignore") {
    // Answers without reading the body (a 401 before an upload, a redirect).
    startResponse("401 Unauthorized", [["Content-Type", "text/plain"]]);
    return [encoder.encode("no")];
  }
  if (environ.PATH_INFO === "/chunks") {
    const q = new URLSearchParams(environ.QUERY_STRING);
    const n = Number(q.get("n") ?? 5);
    const delay = Number(q.get("delay") ?? 0);
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* () {
      for (let i = 0; i < n; i++) {
        if (i > 0 && delay > 0) await Bun.sleep(delay);
        yield encoder.encode(`${String(i % 10).repeat(9)}\n`);
      }
    })();
  }
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [HELLO];
};

const s = startServer(app);
const formsServer = startServer(forms);
const dir = mkdtempSync(join(tmpdir(), "tsgi-clients-more-"));
/** 100 kB of every byte value: a POST body the echo must return byte for byte. */
const payload = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
const payloadFile = join(dir, "payload.bin");
await Bun.write(payloadFile, payload);

afterAll(async () => {
  await s.server.close({ timeout: 100 });
  await formsServer.server.close({ timeout: 100 });
  rmSync(dir, { recursive: true, force: true });
});

async function run(cmd: string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: options.cwd });
  const timer = setTimeout(() => proc.kill(), options.timeoutMs ?? 20_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code: await proc.exited, out, err };
}

/** A `Name:   value` line of ab's report, as a number. */
function abField(report: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(report);
  if (!m) throw new Error(`ab's report has no '${name}' line:\n${report}`);
  return Number(m[1]);
}

describe.skipIf(!ab)("ApacheBench (ab)", () => {
  test("ab -k (HTTP/1.0 keep-alive): 2000 requests, none failed, all kept alive on the 10 connections", async () => {
    ports.clear();
    const r = await run([ab!, "-n", "2000", "-c", "10", "-k", `${s.url}/`]);
    expect(r.code).toBe(0);
    expect(abField(r.out, "Complete requests")).toBe(2000);
    expect(abField(r.out, "Failed requests")).toBe(0);
    expect(r.out).not.toContain("Non-2xx responses");
    expect(abField(r.out, "Keep-Alive requests")).toBe(2000);
    expect(abField(r.out, "Document Length")).toBe(HELLO.length);
    expect(ports.size).toBe(10);
  });

  test("ab without -k: one connection per request, none failed", async () => {
    ports.clear();
    const r = await run([ab!, "-n", "300", "-c", "5", `${s.url}/`]);
    expect(abField(r.out, "Complete requests")).toBe(300);
    expect(abField(r.out, "Failed requests")).toBe(0);
    expect(ports.size).toBe(300);
  });

  test("ab -k -p file -T type: 200 POSTs of 100 kB echoed, none failed, all kept alive", async () => {
    ports.clear();
    const r = await run([ab!, "-n", "200", "-c", "4", "-k", "-p", payloadFile, "-T", "application/octet-stream", `${s.url}/echo`]);
    expect(abField(r.out, "Complete requests")).toBe(200);
    expect(abField(r.out, "Failed requests")).toBe(0);
    expect(abField(r.out, "Keep-Alive requests")).toBe(200);
    expect(abField(r.out, "Document Length")).toBe(payload.length);
    expect(ports.size).toBe(4);
  });

  test("ab -k on a streamed response: HTTP/1.0 has no chunked coding, so each closes, and none fails", async () => {
    const r = await run([ab!, "-n", "50", "-c", "2", "-k", `${s.url}/chunks?n=3`]);
    expect(abField(r.out, "Complete requests")).toBe(50);
    expect(abField(r.out, "Failed requests")).toBe(0);
    expect(abField(r.out, "Keep-Alive requests")).toBe(0);
    expect(abField(r.out, "Document Length")).toBe(30);
  });
});

describe.skipIf(!wget)("wget", () => {
  test("two URLs on one kept-alive connection, --post-file echoed byte for byte", async () => {
    ports.clear();
    const r = await run([wget!, "-d", "-O", "got.txt", `${s.url}/a`, `${s.url}/b`], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.err).toContain("Reusing existing connection");
    expect(await Bun.file(join(dir, "got.txt")).text()).toBe("Hello, world!\nHello, world!\n");
    expect(ports.size).toBe(1);

    const post = await run([wget!, "-q", `--post-file=${payloadFile}`, "--header=Content-Type: application/octet-stream", "-O", "echo.bin", `${s.url}/echo`], { cwd: dir });
    expect(post.code).toBe(0);
    expect(new Uint8Array(await Bun.file(join(dir, "echo.bin")).arrayBuffer())).toEqual(payload);
  });

  test("a chunked response is saved whole", async () => {
    const r = await run([wget!, "-q", "-O", "chunks.txt", `${s.url}/chunks?n=1000`], { cwd: dir });
    expect(r.code).toBe(0);
    const text = await Bun.file(join(dir, "chunks.txt")).text();
    expect(text.length).toBe(10_000);
    expect(text.endsWith("999999999\n")).toBe(true);
  });
});

describe.skipIf(!pythonWithRequests)("Python requests", () => {
  test("Session keep-alive, stream=True on a chunked response, a generator upload (chunked), files= multipart", async () => {
    ports.clear();
    const script = `
import json, sys, time, requests
base, forms = sys.argv[1], sys.argv[2]
out = {}
s = requests.Session()
out["gets"] = [s.get(base + "/", timeout=5).text for _ in range(20)]
t0 = time.monotonic()
r = s.get(base + "/chunks?n=4&delay=150", stream=True, timeout=5)
out["te"] = r.headers.get("transfer-encoding")
# iter_content(None) yields the chunks as they arrive: record when each came.
out["pieces"] = [[c.decode(), round(time.monotonic() - t0, 3)] for c in r.iter_content(chunk_size=None)]
def gen():
    for i in range(50):
        yield bytes([65 + i % 26]) * 2000
r = s.post(base + "/echo", data=gen(), headers={"Content-Type": "text/plain"}, timeout=5)
out["gen"] = [r.status_code, r.text == b"".join(gen()).decode()]
r = s.post(forms + "/upload", files={"f": ("a.bin", b"x" * 300000)}, data={"note": "hi"}, timeout=5)
out["files"] = r.json()
print(json.dumps(out))
`;
    const r = await run([pythonWithRequests!, "-c", script, s.url, formsServer.url]);
    expect(r.err).toBe("");
    const out = JSON.parse(r.out);
    expect(out.gets).toEqual(Array(20).fill("Hello, world!\n"));
    expect(out.te).toBe("chunked");
    const pieces = out.pieces as Array<[string, number]>;
    expect(pieces.map((p) => p[0]).join("")).toBe("000000000\n111111111\n222222222\n333333333\n");
    // Streamed, not buffered: the first line came well before the last (3 delays of 150 ms).
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(pieces.at(-1)![1] - pieces[0]![1]).toBeGreaterThan(0.3);
    expect(out.gen).toEqual([200, true]);
    expect(out.files).toEqual({ fields: { note: "hi" }, files: [{ field: "f", name: "a.bin", type: "application/octet-stream", size: 300000 }] });
    // Every request to this server (GETs, the stream, the chunked upload) on the Session's one connection.
    expect(ports.size).toBe(1);
  });

  test("a generator upload (chunked) to an app that ignores the body: answered with Connection: close, no error, the Session goes on, when the generator pauses 5 s (longer than the lingering close's 2 s between bytes) and when it sends 3 MB (more than is drained) (before: the pause was a BrokenPipe ConnectionError, no answer)", async () => {
    const script = `
import json, sys, time, requests
base = sys.argv[1]
out = {}
s = requests.Session()
def paused():
    yield b"a" * 1000
    time.sleep(5)
    # requests sends a chunk in four writes: the second one fails if the first was reset.
    yield b"b" * 1000
def big():
    for i in range(48):
        yield b"c" * 65536
for name, gen in (("paused", paused), ("big", big)):
    try:
        r = s.post(base + "/ignore", data=gen(), timeout=15)
        out[name] = [r.status_code, r.text, r.headers.get("connection")]
        out[name + " next"] = s.get(base + "/", timeout=5).text
    except Exception as e:
        out[name] = ["error", type(e).__name__, str(e)[:200]]
print(json.dumps(out))
`;
    const outs = await Promise.all(
      pythonsWithRequests.map(async (python) => {
        const r = await run([python, "-c", script + "print(requests.__version__)", s.url], { timeoutMs: 30_000 });
        expect(r.err).toBe("");
        const [json, version] = r.out.trim().split("\n");
        return { version, ...JSON.parse(json!) };
      }),
    );
    for (const out of outs) {
      // The body's size is unknown when the answer starts: the connection closes after it, and the
      // lingering close reads the rest, waiting bodyTimeout between its bytes, not 2 s.
      expect(out).toEqual({ version: out.version, paused: [401, "no", "close"], "paused next": "Hello, world!\n", big: [401, "no", "close"], "big next": "Hello, world!\n" });
    }
  }, 40_000);
});

describe.skipIf(!node)("Node's http.request with http.Agent({ keepAlive: true })", () => {
  test("200 GETs and 20 POSTs over the agent's 4 sockets, bodies right", async () => {
    ports.clear();
    const script = `
const http = require("node:http");
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function req(opts, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: "127.0.0.1", port, agent, ...opts }, (res) => {
      const parts = [];
      res.on("data", (d) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end(body);
  });
}
(async () => {
  let bad = 0, n = 0;
  for (let round = 0; round < 50; round++) {
    for (const r of await Promise.all([0, 1, 2, 3].map(() => req({ path: "/" })))) {
      n++;
      if (r.status !== 200 || r.body.toString() !== "Hello, world!\\n") bad++;
    }
  }
  const big = Buffer.alloc(200000, 7);
  for (let i = 0; i < 20; i++) {
    const r = await req({ path: "/echo", method: "POST", headers: { "content-type": "application/octet-stream", "content-length": big.length } }, big);
    n++;
    if (!r.body.equals(big)) bad++;
  }
  agent.destroy();
  console.log(JSON.stringify({ n, bad }));
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); });
`;
    const r = await run([node!, "-e", script, String(s.port)]);
    expect(JSON.parse(r.out)).toEqual({ n: 220, bad: 0 });
    expect(ports.size).toBe(4);
  });
});
