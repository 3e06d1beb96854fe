/**
 * Restart mode's forwarder (src/dev/handover.ts): what the old process
 * forwards to the new one comes back as the new one sent it.
 */
import { expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { forwardTo } from "../src/dev/handover.ts";
import type { Application } from "../src/spec.ts";
import { enc, parseResponses, raw, serverPool } from "./helpers.ts";

const pool = serverPool();

const upstreamApp: Application = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === "/gzip") {
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Encoding", "gzip"]]);
    return [gzipSync("compressed")];
  }
  if (path === "/redirect") {
    startResponse("302 Found", [["Location", "/elsewhere"]]);
    return [];
  }
  const body = await environ["tsgi.input"].read();
  startResponse("201 Created", [
    ["Content-Type", "text/plain"],
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"],
  ]);
  return [enc(`${environ.REQUEST_METHOD} ${path}?${environ.QUERY_STRING} host=${environ.HTTP_HOST} x=${environ.HTTP_X_TEST} body=${new TextDecoder().decode(body)}`)];
};
const upstream = pool(upstreamApp);
const front = pool(forwardTo(`http://127.0.0.1:${upstream.port}`));

test("method, path, query, fields and the body go through; the status and both Set-Cookie fields come back", async () => {
  const r = await fetch(`${front.url}/p/q?x=1&y=%20`, { method: "POST", body: "hello", headers: { "X-Test": "yes" } });
  expect(r.status).toBe(201);
  expect(r.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  expect(await r.text()).toBe(`POST /p/q?x=1&y=%20 host=127.0.0.1:${front.port} x=yes body=hello`);
});

test("what the forward adds (docs/dev-server.md says so): a request without User-Agent or Accept reaches the app with Bun's fetch defaults; one with them, and Accept-Encoding, as sent", async () => {
  const echo = pool((environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [enc(`ua=${environ.HTTP_USER_AGENT} accept=${environ.HTTP_ACCEPT} ae=${environ.HTTP_ACCEPT_ENCODING}`)];
  });
  const forwarder = pool(forwardTo(`http://127.0.0.1:${echo.port}`));
  const bare = parseResponses((await raw(forwarder.port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).data);
  expect(bare[0]!.body.toString()).toMatch(/^ua=Bun\/\S+ accept=\*\/\* ae=undefined$/);
  const sent = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nAccept: text/html\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n";
  const full = parseResponses((await raw(forwarder.port, sent)).data);
  expect(full[0]!.body.toString()).toBe("ua=curl/8 accept=text/html ae=gzip");
});

test("a compressed body is passed on as it is, with its Content-Encoding", async () => {
  const r = await fetch(`${front.url}/gzip`, { decompress: false } as RequestInit);
  expect(r.headers.get("content-encoding")).toBe("gzip");
  const bytes = new Uint8Array(await r.arrayBuffer());
  expect(new TextDecoder().decode(Bun.gunzipSync(bytes))).toBe("compressed");
});

test("a redirect is passed on, not followed", async () => {
  const r = await fetch(`${front.url}/redirect`, { redirect: "manual" });
  expect(r.status).toBe(302);
  expect(r.headers.get("location")).toBe("/elsewhere");
});

test("a path that starts with // or /\\ is forwarded to the new process, not read as another host's URL (before: GET //127.0.0.1:PORT/secret reached whatever listened on PORT)", async () => {
  const elsewhere: string[] = [];
  const other = pool((environ, startResponse) => {
    elsewhere.push(String(environ.PATH_INFO));
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [enc("elsewhere")];
  });
  // A URL parser reads \\ in an http URL's path as /; Bun's fetch sends a path's leading // as / (docs/dev-server.md).
  for (const target of [`//127.0.0.1:${other.port}/secret?q=1`, `/\\127.0.0.1:${other.port}/secret?q=1`]) {
    const r = parseResponses((await raw(front.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)).data);
    expect(r[0]!.status).toBe(201);
    expect(r[0]!.body.toString()).toMatch(new RegExp(`^GET /{1,2}127\\.0\\.0\\.1:${other.port}/secret\\?q=1 host=a x=undefined body=$`));
  }
  expect(elsewhere).toEqual([]);
});

test("nothing listening there: the old process answers 500, and the error is logged", async () => {
  const dead = pool(forwardTo("http://127.0.0.1:1"));
  const r = await fetch(`${dead.url}/`);
  expect(r.status).toBe(500);
  expect(dead.errors.join("")).toMatch(/ECONNREFUSED|Unable to connect|ConnectionRefused/);
});

test("the standby server's forwarder (restart mode, after the app process exited) aborts the forwarded request when its client goes away, as the old app process's does: the new process's tsgi.signal aborts (before: the standby gave no tsgi.signal, so the forward ran on for no one)", async () => {
  const { createConsola } = await import("consola");
  const { dupFd, closeFd } = await import("../src/server/sys.ts");
  const { createServer } = await import("../src/server/index.ts");
  const { serveStandby } = await import("../src/dev/standby.ts");
  const { connect } = await import("node:net");
  type Config = Parameters<typeof serveStandby>[1];
  // The shared listening socket the supervisor holds.
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  const shared = dupFd((listener as unknown as { fd: number }).fd);
  listener.stop(true);
  const config = { host: "127.0.0.1", debug: false, live: false, allowedHosts: true, logLevel: "silent", accessLog: false, shutdownTimeout: 2000 } as unknown as Config;
  const standby = serveStandby(shared, config, createConsola({ level: -999 }), "the app exited");
  const seen: string[] = [];
  let next: ReturnType<typeof createServer> | null = null;
  const client = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  client.on("error", () => {});
  try {
    let got = "";
    client.on("data", (d: Buffer) => (got += d.toString("latin1")));
    await new Promise<void>((resolve) => client.once("connect", () => resolve()));
    // A keep-alive connection the standby answers (the 503 page), kept open across the handover.
    client.write("GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    for (let i = 0; i < 100 && !got.includes("\r\n\r\n"); i++) await Bun.sleep(20);
    expect(got).toStartWith("HTTP/1.1 503");
    // The new app process: it waits for its client, or 1.5 s.
    next = createServer(
      async (environ, sr) => {
        const signal = environ["tsgi.signal"] as AbortSignal;
        const aborted = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 1500);
          signal.addEventListener("abort", () => (clearTimeout(timer), resolve(true)), { once: true });
        });
        seen.push(`${environ.PATH_INFO} ${aborted ? "aborted" : "not aborted"}`);
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [enc("late\n")];
      },
      { fd: dupFd(shared), requestSignal: true, errorLog: null },
    ).listen();
    const handedOver = standby.handover();
    // The next request on the old connection is forwarded to the new process; its client leaves.
    client.write("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await Bun.sleep(200);
    client.destroy();
    const deadline = Date.now() + 3000;
    while (seen.length === 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(seen).toEqual(["/slow aborted"]);
    await handedOver;
  } finally {
    client.destroy();
    await standby.close();
    await next?.close({ timeout: 100 });
    closeFd(shared);
  }
});
