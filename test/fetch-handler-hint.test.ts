/**
 * A fetch handler declared as Bun.serve and Deno call it, `(request, server)
 * => Response`, exported as it is: it has two parameters, so `tsgi serve`
 * and `tsgi-dev` take it for a TSGI application and call it with
 * `(environ, startResponse)`. Its Response, or its first use of the request
 * (`new URL(request.url)`, `request.headers.get()`, `request.json()`, Hono's
 * `app.fetch(request, env)`), fails; the error log, tsgi-dev's terminal
 * report and its error page say what it is and how to export it. The
 * export they advise, `{ fetch: handler }`, is served with its server
 * argument. Real processes, real requests; every wait is bounded.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { DevProcess, get, killAll, ROOT, TempApp } from "../fixtures/dev/harness.ts";
import { waitFor } from "./fault-helpers.ts";
import { servingPort, spawnedProcesses, startServer } from "./helpers.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";

const apps: TempApp[] = [];
const procs = spawnedProcesses();
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

/**
 * A `(req, server)` fetch handler, by path (read from what it really gets, the
 * environ); /bad-url, /input and /after are a TSGI application's own
 * mistakes, which get no hint: a URL that does not parse, tsgi.input read as
 * a Request, and an error after startResponse was called.
 */
const FETCH_APP = `import { Hono } from "hono";
const hono = new Hono().get("/hono", (c) => c.text("hono"));
export default async (req: any, server: unknown) => {
  switch (req.PATH_INFO) {
    case "/url": return new Response(new URL(req.url).pathname);
    case "/headers": return new Response(req.headers.get("user-agent"));
    case "/json": return Response.json(await req.json());
    case "/hono": return hono.fetch(req, server);
    case "/bad-url": return [new TextEncoder().encode(new URL("no url here").href)];
    case "/after": { (server as any)("200 OK", []); return new Response(req.headers.get("x")); }
    case "/input": { const input = req["tsgi.input"]; if (!input) return []; return Response.json(await input.json()); }
  }
  return new Response("hi");
};
`;

/** The paths of FETCH_APP that get the hint, and the error each logs. */
const HINTED: Array<[string, RegExp]> = [
  ["/url", /TypeError: Invalid URL/],
  ["/headers", /TypeError: undefined is not an object \(evaluating 'req\.headers\.get'\)/],
  ["/json", /TypeError: req\.json is not a function/],
  ["/hono", /TypeError: undefined is not an object \(evaluating 'url\.indexOf'\)/],
];

const HINT =
  /This looks like a fetch handler, \(request, server\) => Response, as Bun\.serve and Deno call it: a function of two or more parameters is taken for a TSGI application and called with \(environ, startResponse\), so (.+?)\. Export it as an object with a fetch\(\) method, export default \{ fetch: handler \}, which tsgi serve and tsgi-dev serve as a fetch handler \(its server argument is one like Bun\.serve's\), or wrap it: fromFetchHandler\(handler\) \(docs\/fetch\.md\)\./g;

/** What the hints in `text` say the app's request was, in order. */
const hinted = (text: string) => [...text.matchAll(HINT)].map((m) => m[1]);

/** What each hinted path's hint says the request was. */
const SAYS = [
  "its request is the environ, whose url is undefined (new URL(undefined) throws Invalid URL)",
  "req is the environ, which has no headers",
  "req is the environ, which has no json() method",
  "Hono's fetch() was given the environ for its request, whose url is undefined",
];

/** The message for a Response returned by a function taken for a TSGI application. */
const RETURNED =
  /the application returned a Response: it is a fetch handler, not a TSGI application\. tsgi serve and tsgi-dev serve a function as a fetch handler when it declares one parameter, \(request\) => Response; one declared with none, or with two or more as Bun\.serve and Deno call it, \(request, server\), is taken for a TSGI application and called with \(environ, startResponse\)\. Export it as an object with a fetch\(\) method, export default \{ fetch: handler \} \(its server argument is then one like Bun\.serve's\), or wrap it: fromFetchHandler\(handler\)/;

/** `tsgi serve FILE --port 0` in `dir` (it binds a port of its own: {@link servingPort} reads it from stderr once it serves). */
function serve(dir: string, file = "./app.ts") {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/serve.ts"), "serve", file, "--port", "0", "--no-access-log"], {
    cwd: dir,
    stdout: "ignore",
    stderr: "pipe",
  });
  procs.push(proc);
  const out = { err: "" };
  void (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) out.err += new TextDecoder().decode(c);
  })();
  return { proc, out };
}

function tempApp(files: Record<string, string>): TempApp {
  const app = new TempApp(files);
  apps.push(app);
  symlinkSync(join(ROOT, "node_modules"), join(app.dir, "node_modules"), "dir");
  return app;
}

describe("a (request, server) fetch handler served as a TSGI application", () => {
  test("tsgi serve: a returned Response, and the request used as a Request, say what it is and how to export it; a TSGI app's own URL or tsgi.input mistake, or one after startResponse, gets no such line", async () => {
    const app = tempApp({ "app.ts": FETCH_APP });
    const { proc, out } = serve(app.dir);
    expect(await waitFor(() => /serving .* on /.test(out.err) || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(out.err)!;
    const paths = ["/", ...HINTED.map(([p]) => p), "/bad-url", "/input", "/after"];
    for (const path of paths) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", body: "{}", signal: AbortSignal.timeout(3000) });
      expect(res.status, path).toBe(500);
      await res.arrayBuffer();
    }
    expect(await waitFor(() => (out.err.match(/Error in POST/g) ?? []).length === paths.length, 3000)).toBe(true);
    expect(out.err).toMatch(new RegExp(`Error in POST / HTTP/1\\.1: TypeError: ${RETURNED.source}`));
    for (const [path, error] of HINTED) expect(out.err).toMatch(new RegExp(`Error in POST ${path} HTTP/1\\.1: ${error.source}`));
    expect(out.err).toMatch(/Error in POST \/bad-url HTTP\/1\.1: TypeError: Invalid URL/);
    expect(out.err).toMatch(/Error in POST \/input HTTP\/1\.1: TypeError: input\.json is not a function/);
    expect(out.err).toMatch(/Error in POST \/after HTTP\/1\.1: TypeError: undefined is not an object \(evaluating 'req\.headers\.get'\)/);
    // One hint per hinted path, in order; none under /bad-url and /input, and no node:http hint for req.json.
    expect(hinted(out.err)).toEqual(SAYS);
    expect(out.err).not.toContain("node:http");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);

  test("tsgi-dev: the terminal report and the error page (plain and HTML) say it too", async () => {
    const app = tempApp({ "app.ts": FETCH_APP });
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const returned = await get(url, { Accept: "*/*" });
    expect(returned.status).toBe(500);
    expect(returned.text).toMatch(RETURNED);
    const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    for (const [i, [path, error]] of HINTED.entries()) {
      const page = await get(url + path.slice(1), { Accept: i % 2 ? "text/html" : "*/*" });
      expect(page.status, path).toBe(500);
      const text = unescape(page.text);
      expect(text, path).toMatch(error);
      expect(hinted(text), path).toEqual([SAYS[i]]);
    }
    const bad = await get(url + "bad-url", { Accept: "*/*" });
    expect(bad.status).toBe(500);
    expect(bad.text).toContain("Invalid URL");
    expect(hinted(bad.text)).toEqual([]);
    await dev.waitFor(/GET \/bad-url raised/, 3000);
    await Bun.sleep(100);
    expect(hinted(dev.output)).toEqual(SAYS);
  }, 30_000);

  test("the export the messages advise, { fetch: handler }, is served as a fetch handler, with a server argument like Bun.serve's", async () => {
    const app = tempApp({
      "app.ts": `const handler = (request: Request, server: { requestIP(r: Request): { address: string } | null }) =>
  new Response(new URL(request.url).pathname + " from " + server.requestIP(request)?.address);
export default { fetch: handler };
`,
    });
    const { proc, out } = serve(app.dir);
    expect(await waitFor(() => /serving .* on /.test(out.err) || proc.exitCode !== null, 15_000)).toBe(true);
    const port = servingPort(out.err)!;
    expect(out.err).toContain("(a fetch handler, through fromFetchHandler)");
    const res = await fetch(`http://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(3000) });
    expect(await res.text()).toBe("/x from 127.0.0.1");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 30_000);
});

describe("a handler served as a fetch handler gets no fetch-handler or node:http hint", () => {
  test("fromFetchHandler's handler whose new URL(undefined) (an unset environment variable) a member of an undefined or res.json() of a non-Response throws, sync or async, is logged with no 'looks like a fetch handler' or 'node:http handler' line: it is a fetch handler, given a real Request (before: the hint told it to export what it already was)", async () => {
    const unset = process.env["TSGI_TEST_SURELY_UNSET_UPSTREAM"];
    const s = startServer(
      fromFetchHandler(async (request: Request) => {
        const path = new URL(request.url).pathname;
        if (path === "/sync-url") return new Response(new URL(unset as string).href);
        await Bun.sleep(1);
        if (path === "/async-url") return new Response(new URL(unset as string).href);
        // Express's res.json() name on what a client library gave (not a Response): not a node:http handler either.
        if (path === "/res-json") {
          const res = JSON.parse('{"ok":true}') as { json(): Promise<unknown> };
          return Response.json(await res.json());
        }
        // A helper of its own whose parameter is named req, given undefined: not the environ either.
        const header = (req: { headers: Headers }) => req.headers.get("x");
        return new Response(header(JSON.parse("{}").request));
      }),
    );
    const sync = startServer(fromFetchHandler((request: Request) => new Response(new URL(unset as string).href + request.url)));
    try {
      for (const [server, path] of [[s, "/sync-url"], [s, "/async-url"], [s, "/res-json"], [s, "/member"], [sync, "/"]] as const) {
        const response = await fetch(server.url + path);
        expect(response.status).toBe(500);
        await response.arrayBuffer();
      }
      const logged = [...s.errors, ...sync.errors].join("\n");
      expect(logged.match(/TypeError: Invalid URL/g)?.length).toBe(3);
      expect(logged).toContain("undefined is not an object (evaluating 'req.headers");
      expect(logged).toContain("TypeError: res.json is not a function");
      expect(logged).not.toContain("looks like a fetch handler");
      expect(logged).not.toContain("looks like a node:http handler");
    } finally {
      await Promise.all([s.server.close({ timeout: 100 }), sync.server.close({ timeout: 100 })]);
    }
  });
});
