/**
 * Real clients against the real server: curl and Python's http.client (each
 * skipped with a visible message when not installed), and Node's fetch in
 * another runtime (node, not Bun).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import forms from "../fixtures/forms/app.ts";
import hello from "../fixtures/hello/app.ts";
import { startServer } from "./helpers.ts";

const curl = Bun.which("curl");
const python = Bun.which("python3");
const node = Bun.which("node");
if (!curl) console.warn("SKIP: curl is not installed (apt-get install curl); curl tests are skipped");
if (!python) console.warn("SKIP: python3 is not installed; http.client tests are skipped");
if (!node) console.warn("SKIP: node is not installed; Node fetch tests are skipped");

const helloServer = startServer(hello);
const formsServer = startServer(forms);
afterAll(async () => {
  await helloServer.server.close({ timeout: 100 });
  await formsServer.server.close({ timeout: 100 });
});

async function run(cmd: string[], input?: string) {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: input === undefined ? "ignore" : new Blob([input]) });
  const timer = setTimeout(() => proc.kill(), 10000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code: await proc.exited, out, err };
}

describe.skipIf(!curl)("curl", () => {
  test("GET, keep-alive reuse across two URLs", async () => {
    const r = await run([curl!, "-sv", `${helloServer.url}/a`, `${helloServer.url}/b`]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("Hello, world!\nHello, world!\n");
    expect(r.err).toMatch(/Re-using existing connection|Reusing existing/);
  });

  test("HEAD", async () => {
    const r = await run([curl!, "-sI", helloServer.url]);
    expect(r.out).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(r.out).toContain("Content-Length: 14");
  });

  test("urlencoded form POST", async () => {
    const r = await run([curl!, "-s", "-d", "name=Ada&name=Grace&x=1", `${formsServer.url}/form`]);
    expect(JSON.parse(r.out)).toEqual({ name: ["Ada", "Grace"], x: ["1"] });
  });

  test("multipart upload (curl sends Expect: 100-continue for large bodies)", async () => {
    const file = join(import.meta.dir, "..", "fixtures", "static", "public", "index.html");
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const tmp = join(require("node:os").tmpdir(), `tsgi-upload-${process.pid}.bin`);
    await Bun.write(tmp, big);
    const r = await run([curl!, "-sv", "-F", "note=hi", "-F", `file=@${file}`, "-F", `big=@${tmp}`, `${formsServer.url}/upload`]);
    expect(r.err).toContain("100 Continue");
    const result = JSON.parse(r.out);
    expect(result.fields).toEqual({ note: "hi" });
    expect(result.files.map((f: { field: string; size: number }) => [f.field, f.size])).toEqual([
      ["file", Bun.file(file).size],
      ["big", big.length],
    ]);
  });

  test("chunked upload", async () => {
    const r = await run([curl!, "-s", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: text/plain", "--data-binary", "@-", `${formsServer.url}/echo`], "streamed via stdin");
    expect(r.out).toBe("streamed via stdin");
  });

  test("HTTP/1.0", async () => {
    const r = await run([curl!, "-s", "-0", "-i", helloServer.url]);
    expect(r.out).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(r.out).toContain("Connection: close");
  });
});

describe.skipIf(!python)("Python http.client", () => {
  test("GET and a POST on one keep-alive connection", async () => {
    const script = `
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/")
r = c.getresponse(); a = r.read().decode()
c.request("POST", "/json", body=json.dumps({"k": [1, 2]}), headers={"Content-Type": "application/json"})
r2 = c.getresponse(); b = json.loads(r2.read())
print(json.dumps({"a": a, "b": b, "status": r2.status}))
`;
    const r = await run([python!, "-c", script, String(formsServer.port)]);
    expect(r.err).toBe("");
    const out = JSON.parse(r.out);
    expect(out.status).toBe(200);
    expect(out.b).toEqual({ received: { k: [1, 2] }, bytes: 13 });
    expect(out.a).toContain("<h1>tsgi forms</h1>");
  });
});

describe.skipIf(!node)("Node's fetch (undici, in node)", () => {
  test("GET and POST", async () => {
    const script = `
const base = process.argv[1];
const a = await (await fetch(base + "/echo", { method: "POST", body: "from node", headers: { "content-type": "text/plain" } })).text();
const b = await (await fetch(base + "/")).status;
console.log(JSON.stringify({ a, b }));
`;
    const r = await run([node!, "--input-type=module", "-e", script, formsServer.url]);
    expect(JSON.parse(r.out)).toEqual({ a: "from node", b: 200 });
  });
});
