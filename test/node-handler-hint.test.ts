/**
 * A node:http handler `(req, res) => { res.end(...) }` exported by mistake
 * (it has two parameters, so it is served as a TSGI application and called
 * with (environ, startResponse)): `tsgi serve`'s error log and tsgi-dev's
 * terminal report and error page say what it looks like and what to write.
 * Real processes, real requests; every wait is bounded.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DevProcess, get, killAll, ROOT, TempApp } from "../fixtures/dev/harness.ts";
import { waitFor } from "./fault-helpers.ts";
import { servingPort, spawnedProcesses } from "./helpers.ts";

const apps: TempApp[] = [];
const procs = spawnedProcesses();
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

/** node:http's shape (and Express's res.status().send()), by path; /other throws a TypeError of the same form for a method that is not node:http's. */
const NODE_APP = `export default async (req: any, res: any) => {
  if (req.PATH_INFO === "/express") return res.status(200).send("hi");
  if (req.PATH_INFO === "/other") return req.frobnicate();
  // Express's res.json(), and json() on what is not startResponse (a Request's method, tsgi.input read as one): no hint for those.
  if (req.PATH_INFO === "/json") return res.json({ hi: 1 });
  if (req.PATH_INFO === "/req-json") return await req.json();
  if (req.PATH_INFO === "/input") { const input = req["tsgi.input"]; if (!input) return []; return await input.json(); }
  // A TSGI app's own mistake after startResponse (a Node streams habit): not a node:http handler, no hint.
  if (req.PATH_INFO === "/writer") {
    const writer = res("200 OK", [["Content-Type", "text/plain"]]);
    if (typeof writer !== "function") return []; // used twice, so that Bun's transpiler keeps the name in the message
    writer.write(new TextEncoder().encode("hi"));
    return [];
  }
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("hi");
};
`;

const HINT = /This looks like a node:http handler, \(req, res\) => \{ res\.end\(\.\.\.\) \}: a TSGI application is called with \(environ, startResponse\), so \w+ is startResponse, which has no (\w+)\(\) method\. Write it as \(environ, startResponse\) => .* \(docs\/spec\.md, "The application side"\), or as a fetch handler .* \(docs\/fetch\.md\)\./g;

/** The methods named by the hints in `text`, in order. */
const hinted = (text: string) => [...text.matchAll(HINT)].map((m) => m[1]);

describe("a node:http handler served as a TSGI application", () => {
  test("tsgi serve: the error log says what it looks like and what to write, under the error; another TypeError, writer.write after startResponse, or json() on a request or tsgi.input, gets no such line", async () => {
    const app = new TempApp({ "app.ts": NODE_APP });
    apps.push(app);
    const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/serve.ts"), "serve", "./app.ts", "--port", "0", "--no-access-log"], {
      cwd: app.dir,
      stdout: "ignore",
      stderr: "pipe",
    });
    procs.push(proc);
    let err = "";
    void (async () => {
      for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
    })();
    expect(await waitFor(() => /serving .* on /.test(err) || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(err)!;
    for (const path of ["/", "/express", "/other", "/writer", "/json", "/req-json", "/input"]) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
      expect(res.status).toBe(500);
      await res.arrayBuffer();
    }
    expect(await waitFor(() => (err.match(/Error in GET/g) ?? []).length === 7, 3000)).toBe(true);
    expect(err).toMatch(/Error in GET \/ HTTP\/1\.1: TypeError: res\.writeHead is not a function/);
    expect(err).toMatch(/Error in GET \/other HTTP\/1\.1: TypeError: req\.frobnicate is not a function/);
    expect(err).toMatch(/Error in GET \/writer HTTP\/1\.1: TypeError: writer\.write is not a function/);
    expect(err).toMatch(/Error in GET \/req-json HTTP\/1\.1: TypeError: req\.json is not a function/);
    expect(err).toMatch(/Error in GET \/input HTTP\/1\.1: TypeError: input\.json is not a function/);
    expect(hinted(err)).toEqual(["writeHead", "status", "json"]);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);

  test("tsgi-dev: the terminal report and the error page (plain and HTML) say it too; another TypeError, or writer.write after startResponse, gets no such line", async () => {
    const app = new TempApp({ "app.ts": NODE_APP });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const plain = await get(url, { Accept: "*/*" });
    expect(plain.status).toBe(500);
    expect(hinted(plain.text)).toEqual(["writeHead"]);
    const html = await get(url + "express", { Accept: "text/html" });
    expect(html.status).toBe(500);
    expect(hinted(html.text.replace(/&quot;/g, '"').replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&#39;/g, "'").replace(/&amp;/g, "&"))).toEqual(["status"]);
    const other = await get(url + "other", { Accept: "*/*" });
    expect(other.status).toBe(500);
    expect(other.text).toContain("req.frobnicate is not a function");
    expect(hinted(other.text)).toEqual([]);
    const writer = await get(url + "writer", { Accept: "*/*" });
    expect(writer.status).toBe(500);
    expect(writer.text).toContain("writer.write is not a function");
    expect(hinted(writer.text)).toEqual([]);
    await dev.waitFor(/GET \/writer raised/, 3000);
    await Bun.sleep(100);
    expect(hinted(dev.output)).toEqual(["writeHead", "status"]);
  }, 30_000);
});
