/**
 * Fetch bridges (issue 5 §5): a real Hono app served by tsgi; the fixtures
 * served through toFetchHandler by Bun.serve giving the same responses as
 * tsgi directly; the round trip fromFetchHandler(toFetchHandler(app));
 * streaming and backpressure both ways; export detection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { streamText } from "hono/streaming";
import { asApplication, detectApplication, environUrl, fromFetchHandler, toFetchHandler } from "../src/fetch/index.ts";
import type { Application, Environ } from "../src/spec.ts";
import hello from "../fixtures/hello/app.ts";
import forms from "../fixtures/forms/app.ts";
import staticApp from "../fixtures/static/app.ts";
import { raw, startServer } from "./helpers.ts";

const enc = new TextEncoder();

describe("Hono on tsgi (fromFetchHandler)", () => {
  const h = new Hono();
  h.get("/", (c) => c.text("home"));
  h.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }));
  h.post("/json", async (c) => c.json({ got: await c.req.json() }, 201));
  h.post("/upper", async (c) => c.text((await c.req.text()).toUpperCase()));
  h.get("/stream", (c) =>
    streamText(c, async (s) => {
      for (let i = 0; i < 5; i++) {
        await s.write(`chunk${i}\n`);
        await s.sleep(40);
      }
    }),
  );
  h.get("/boom", () => {
    throw new Error("boom from a route");
  });
  h.get("/cookies", (c) => {
    c.header("Set-Cookie", "a=1; Path=/", { append: true });
    c.header("Set-Cookie", "b=2; Path=/", { append: true });
    return c.text("ok");
  });
  h.get("/url", (c) => c.text(c.req.url));

  let srv: ReturnType<typeof startServer>;
  beforeAll(() => {
    srv = startServer(fromFetchHandler(h));
  });
  afterAll(() => srv.server.close());

  test("routing, params, query, 404", async () => {
    expect(await (await fetch(`${srv.url}/`)).text()).toBe("home");
    const r = await fetch(`${srv.url}/users/42?q=x%20y`);
    expect(r.headers.get("content-type")).toStartWith("application/json");
    expect(await r.json()).toEqual({ id: "42", q: "x y" });
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
  });

  test("JSON request body and status", async () => {
    const r = await fetch(`${srv.url}/json`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ a: [1, 2] }) });
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ got: { a: [1, 2] } });
  });

  test("a chunked (streamed) request body of 3 MB", async () => {
    const part = "abcdefghij".repeat(1000);
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 300) c.enqueue(enc.encode(part));
        else c.close();
      },
    });
    const r = await fetch(`${srv.url}/upper`, { method: "POST", body, duplex: "half" } as RequestInit);
    const text = await r.text();
    expect(text.length).toBe(3_000_000);
    expect(text.slice(0, 10)).toBe("ABCDEFGHIJ");
  });

  test("a streamed response arrives chunk by chunk (chunked on the wire)", async () => {
    const started = performance.now();
    const r = await fetch(`${srv.url}/stream`);
    expect(r.headers.get("transfer-encoding")).toBe("chunked");
    const reader = r.body!.getReader();
    const first = await reader.read();
    const firstAt = performance.now() - started;
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const total = performance.now() - started;
    expect(text).toBe("chunk0\nchunk1\nchunk2\nchunk3\nchunk4\n");
    expect(firstAt).toBeLessThan(total - 100); // the first chunk did not wait for the rest
  });

  test("a thrown error: Hono's 500, and the server keeps serving", async () => {
    // Hono's default error handler logs with console.error: capture it.
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(...args);
    let r: Response;
    try {
      r = await fetch(`${srv.url}/boom`);
    } finally {
      console.error = original;
    }
    expect(r.status).toBe(500);
    expect(await r.text()).toBe("Internal Server Error");
    expect(String(logged[0])).toContain("boom from a route");
    expect((await fetch(`${srv.url}/`)).status).toBe(200);
  });

  test("several Set-Cookie fields stay separate; the URL is rebuilt from environ", async () => {
    const res = await raw(srv.port, "GET /cookies HTTP/1.1\r\nHost: example.test:8080\r\nConnection: close\r\n\r\n");
    const head = res.data.toString("latin1");
    expect(head).toContain("set-cookie: a=1; Path=/\r\n");
    expect(head).toContain("set-cookie: b=2; Path=/\r\n");
    const u = await raw(srv.port, "GET /url?x=%41 HTTP/1.1\r\nHost: example.test:8080\r\nConnection: close\r\n\r\n");
    expect(u.data.toString("latin1")).toContain("http://example.test:8080/url?x=%41");
    // Bun keeps a string body's implicit Content-Type out of response.headers; the bridge recovers it.
    expect(u.data.toString("latin1").toLowerCase()).toContain("content-type: text/plain;charset=utf-8");
  });

  test("a fetch handler that throws is an application error: tsgi's 500, logged", async () => {
    const s = startServer(
      fromFetchHandler(() => {
        throw new Error("plain handler failure");
      }),
    );
    try {
      const r = await fetch(`${s.url}/`);
      expect(r.status).toBe(500);
      await r.text();
      expect(s.errors.join("")).toContain("plain handler failure");
    } finally {
      await s.server.close();
    }
  });
});

/** Requests compared between tsgi and Bun.serve + toFetchHandler. */
interface Case {
  name: string;
  app: Application;
  path: string;
  init?: RequestInit;
}

function multipart(): FormData {
  const fd = new FormData();
  fd.append("note", "hello");
  fd.append("file", new Blob(["file body ".repeat(100)], { type: "text/plain" }), "a.txt");
  return fd;
}

const cases: Case[] = [
  { name: "hello", app: hello, path: "/" },
  { name: "hello HEAD", app: hello, path: "/", init: { method: "HEAD" } },
  { name: "forms page", app: forms, path: "/" },
  { name: "forms GET on POST route", app: forms, path: "/echo" },
  { name: "forms echo", app: forms, path: "/echo", init: { method: "POST", headers: { "content-type": "text/plain" }, body: "echo me ".repeat(1000) } },
  { name: "forms json", app: forms, path: "/json", init: { method: "POST", headers: { "content-type": "application/json" }, body: '{"k":[1,"two"]}' } },
  { name: "forms bad json", app: forms, path: "/json", init: { method: "POST", body: "{nope" } },
  { name: "forms urlencoded", app: forms, path: "/form", init: { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=1&a=2&b=%C3%A9" } },
  { name: "forms multipart", app: forms, path: "/upload", init: { method: "POST", body: multipart() } },
  { name: "forms 404", app: forms, path: "/nope", init: { method: "POST", body: "x" } },
  { name: "static index", app: staticApp, path: "/" },
  { name: "static css", app: staticApp, path: "/css/site.css" },
  { name: "static json", app: staticApp, path: "/data.json" },
  { name: "static missing", app: staticApp, path: "/missing.txt" },
  { name: "static traversal", app: staticApp, path: "/%2e%2e/secret.txt" },
  { name: "static POST", app: staticApp, path: "/", init: { method: "POST", body: "x" } },
];

async function summary(r: Response) {
  const body = new Uint8Array(await r.arrayBuffer());
  return { status: r.status, type: r.headers.get("content-type"), length: body.length, body: new TextDecoder().decode(body) };
}

describe("fixtures through toFetchHandler on Bun.serve = tsgi directly", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const direct = startServer(c.app);
      const bun = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(c.app, { errorLog: null }) });
      try {
        // Multipart bodies carry a random boundary: build the request once per server from the same FormData.
        const a = await summary(await fetch(`${direct.url}${c.path}`, c.init));
        const b = await summary(await fetch(`http://127.0.0.1:${bun.port}${c.path}`, c.init));
        expect(b).toEqual(a);
        if (c.name === "static traversal") expect(a.status).toBe(404);
      } finally {
        await direct.server.close();
        await bun.stop(true);
      }
    });
  }

  test("posthooks: a new empty array per request; pushed hooks run after the response", async () => {
    const calls: string[] = [];
    const app: Application = (e, sr) => {
      e["tsgi.posthooks"]?.push([(env) => void calls.push(env.PATH_INFO)]);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc.encode(e.GATEWAY_INTERFACE ?? "none")];
    };
    const bun = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(app) });
    try {
      expect(await (await fetch(`http://127.0.0.1:${bun.port}/one`)).text()).toBe("CGI/1.1");
      await (await fetch(`http://127.0.0.1:${bun.port}/two`)).text();
      for (let i = 0; i < 100 && calls.length < 2; i++) await Bun.sleep(10);
      expect(calls).toEqual(["/one", "/two"]);
    } finally {
      await bun.stop(true);
    }
  });

  test("REMOTE_ADDR comes from Bun.serve's requestIP; SERVER_NAME/PORT and scheme from the URL", async () => {
    const app: Application = (e, sr) => {
      sr("200 OK", [["Content-Type", "application/json"]]);
      const keys = ["REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT", "tsgi.url_scheme", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "HTTP_HOST", "SERVER_PROTOCOL"];
      return [enc.encode(JSON.stringify(Object.fromEntries(keys.map((k) => [k, e[k]]))))];
    };
    const bun = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: toFetchHandler(app, { scriptName: "/mnt" }) });
    try {
      const env = (await (await fetch(`http://127.0.0.1:${bun.port}/mnt/a%20b?x=1`)).json()) as Record<string, string>;
      expect(env).toEqual({
        REMOTE_ADDR: "127.0.0.1",
        SERVER_NAME: "127.0.0.1",
        SERVER_PORT: String(bun.port),
        "tsgi.url_scheme": "http",
        PATH_INFO: "/a b",
        QUERY_STRING: "x=1",
        SCRIPT_NAME: "/mnt",
        HTTP_HOST: `127.0.0.1:${bun.port}`,
        SERVER_PROTOCOL: "HTTP/1.1",
      });
    } finally {
      await bun.stop(true);
    }
  });
});

describe("streaming and backpressure through toFetchHandler", () => {
  test("the request body is read as it arrives, not buffered first", async () => {
    const seen: number[] = [];
    const app: Application = async (e, sr) => {
      const input = e["tsgi.input"];
      for (;;) {
        const line = await input.readline();
        if (line.length === 0) break;
        seen.push(line.length);
      }
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc.encode(String(seen.length))];
    };
    const handler = toFetchHandler(app);
    let sent = 0;
    let readBeforeEnd = -1;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === 5) readBeforeEnd = seen.length;
        if (sent++ < 10) {
          await Bun.sleep(5);
          c.enqueue(enc.encode("line\n"));
        } else c.close();
      },
    });
    const r = await handler(new Request("http://x/", { method: "POST", body, duplex: "half" } as RequestInit));
    expect(await r.text()).toBe("10");
    expect(readBeforeEnd).toBeGreaterThan(0); // the app had lines before the body ended
  });

  test("a slow consumer holds back the producer (bounded buffering)", async () => {
    let produced = 0;
    const chunk = new Uint8Array(16 * 1024);
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return (function* () {
        for (let i = 0; i < 1000; i++) {
          produced++;
          yield chunk;
        }
      })();
    };
    const r = await toFetchHandler(app)(new Request("http://x/"));
    await Bun.sleep(50);
    expect(produced).toBeLessThan(20); // 16 MB offered, a few chunks queued
    const reader = r.body!.getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    expect(bytes).toBe(1000 * 16 * 1024);
  });

  test("cancelling the response body closes the application's iterable once", async () => {
    let closed = 0;
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      let i = 0;
      return {
        [Symbol.iterator]: () => ({ next: () => ({ done: false, value: enc.encode(`${i++}\n`) }) }),
        close: () => void closed++,
      } as unknown as Iterable<Uint8Array>;
    };
    const r = await toFetchHandler(app)(new Request("http://x/"));
    const reader = r.body!.getReader();
    await reader.read();
    await reader.cancel();
    await Bun.sleep(20);
    expect(closed).toBe(1);
  });

  test("an error before headers is a 500 Response; after headers the body stream errors", async () => {
    const before: Application = () => {
      throw new Error("early");
    };
    const r = await toFetchHandler(before, { errorLog: null })(new Request("http://x/"));
    expect(r.status).toBe(500);
    const after: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return (async function* () {
        yield enc.encode("partial");
        throw new Error("late");
      })();
    };
    const r2 = await toFetchHandler(after, { errorLog: null })(new Request("http://x/"));
    expect(r2.status).toBe(200);
    let failed = false;
    try {
      await r2.text();
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
  });
});

describe("round trip: fromFetchHandler(toFetchHandler(app))", () => {
  const requests: Array<[Application, string, RequestInit | undefined]> = [
    [hello, "/", undefined],
    [forms, "/json", { method: "POST", headers: { "content-type": "application/json" }, body: '{"x":1}' }],
    [forms, "/echo", { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(200_000).fill(7) }],
    [forms, "/form", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "q=%E2%9C%93" }],
    [staticApp, "/css/site.css", undefined],
    [staticApp, "/nope", undefined],
  ];
  for (const [app, path, init] of requests) {
    test(`${init?.method ?? "GET"} ${path}`, async () => {
      const direct = startServer(app);
      const wrapped = startServer(fromFetchHandler(toFetchHandler(app)));
      try {
        const a = await summary(await fetch(`${direct.url}${path}`, init));
        const b = await summary(await fetch(`${wrapped.url}${path}`, init));
        expect(b).toEqual(a);
      } finally {
        await direct.server.close();
        await wrapped.server.close();
      }
    });
  }

  test("environ survives the round trip (method, path bytes, query, headers, SCRIPT_NAME)", async () => {
    let inner: Environ | null = null;
    const app: Application = (e, sr) => {
      inner = e;
      sr("204 No Content", []);
      return [];
    };
    const s = startServer(fromFetchHandler(toFetchHandler(app)));
    try {
      await raw(s.port, "PUT /caf%C3%A9/x%2Fy?a=%20&b HTTP/1.1\r\nHost: h.test\r\nX-Custom: v1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      const e = inner as unknown as Environ;
      expect(e.REQUEST_METHOD).toBe("PUT");
      expect(e.PATH_INFO).toBe("/caf\u00c3\u00a9/x/y");
      expect(e.QUERY_STRING).toBe("a=%20&b");
      expect(e.HTTP_X_CUSTOM).toBe("v1");
      expect(e.HTTP_HOST).toBe("h.test");
    } finally {
      await s.server.close();
    }
  });
});

describe("export detection (asApplication)", () => {
  test("TSGI functions, { fetch } objects, fetch functions; anything else is a clear error", async () => {
    const tsgi: Application = (_e, sr) => {
      sr("200 OK", []);
      return [];
    };
    expect(detectApplication(tsgi)?.kind).toBe("tsgi");
    expect(asApplication(tsgi)).toBe(tsgi);
    const h = new Hono().get("/", (c) => c.text("hono"));
    expect(detectApplication(h)?.kind).toBe("fetch-object");
    expect(detectApplication({ fetch: (_r: Request) => new Response("x") })?.kind).toBe("fetch-object");
    expect(detectApplication((_r: Request) => new Response("x"))?.kind).toBe("fetch-function");
    expect(() => asApplication({})).toThrow(/object without a fetch\(\) method/);
    expect(() => asApplication(42)).toThrow(/got number/);
    const s = startServer(asApplication(h));
    try {
      expect(await (await fetch(`${s.url}/`)).text()).toBe("hono");
    } finally {
      await s.server.close();
    }
  });

  test("environUrl follows PEP 3333's URL reconstruction", () => {
    const base = { "tsgi.url_scheme": "https", SERVER_NAME: "srv", SERVER_PORT: "443", SCRIPT_NAME: "/app", PATH_INFO: "/a b/%", QUERY_STRING: "q=1" } as unknown as Environ;
    expect(environUrl(base)).toBe("https://srv/app/a%20b/%25?q=1");
    expect(environUrl({ ...base, SERVER_PORT: "8443" })).toBe("https://srv:8443/app/a%20b/%25?q=1");
    expect(environUrl({ ...base, HTTP_HOST: "h:1" })).toBe("https://h:1/app/a%20b/%25?q=1");
  });
});
