/** tsgi/simple-server (wsgiref.simple_server): makeServer, handleRequest, serveForever, handler hooks, demoApp. */
import { describe, expect, test } from "bun:test";
import { RequestHandler } from "../src/server/handler.ts";
import type { Application, Environ, ErrorStream } from "../src/spec.ts";
import { SimpleRequestHandler, SimpleServer, demoApp, makeServer } from "../src/toolkit/simple-server.ts";

const text = (s: string) => new TextEncoder().encode(s);
const hello: Application = (e, sr) => (sr("200 OK", [["Content-Type", "text/plain"]]), [text(`hi ${e.PATH_INFO}`)]);

describe("makeServer", () => {
  test("port 0 picks a free port; the bound port is exposed; setApp/getApp", async () => {
    await using httpd = makeServer("127.0.0.1", 0, hello);
    expect(httpd.port).toBeGreaterThan(0);
    expect(httpd.serverAddress).toEqual(["127.0.0.1", httpd.port]);
    expect(httpd.getApp()).toBe(hello);
    httpd.setApp(demoApp);
    expect(httpd.getApp()).toBe(demoApp);
  });

  test("handleRequest serves exactly one request, then the next waits", async () => {
    await using httpd = makeServer("127.0.0.1", 0, hello);
    const url = `http://127.0.0.1:${httpd.port}`;
    const first = fetch(`${url}/one`).then((r) => r.text());
    await httpd.handleRequest();
    expect(await first).toBe("hi /one");
    let secondDone = false;
    const second = fetch(`${url}/two`).then(async (r) => {
      secondDone = true;
      return r.text();
    });
    await Bun.sleep(150);
    expect(secondDone).toBe(false); // nobody is handling requests
    await httpd.handleRequest();
    expect(await second).toBe("hi /two");
  });

  test("serveForever serves many until shutdown", async () => {
    await using httpd = makeServer("127.0.0.1", 0, hello);
    const forever = httpd.serveForever();
    const url = `http://127.0.0.1:${httpd.port}`;
    const bodies = await Promise.all([1, 2, 3].map((i) => fetch(`${url}/${i}`).then((r) => r.text())));
    expect(bodies).toEqual(["hi /1", "hi /2", "hi /3"]);
    httpd.shutdown();
    await forever;
  });

  test("a custom handlerClass: getEnviron and getStderr are used", async () => {
    const logged: string[] = [];
    class Custom extends SimpleRequestHandler {
      override getEnviron(environ: Environ) {
        environ["custom.client"] = this.clientAddress;
        return environ;
      }
      override getStderr(): ErrorStream {
        return { write: (s) => void logged.push(s), writelines: (l) => void logged.push(...l), flush() {} };
      }
    }
    const app: Application = (environ, sr) => {
      environ["tsgi.errors"].write("to custom stderr");
      sr("200 OK", []);
      return [text(String(environ["custom.client"]))];
    };
    await using httpd = makeServer("127.0.0.1", 0, app, { handlerClass: Custom });
    const res = fetch(`http://127.0.0.1:${httpd.port}/`).then((r) => r.text());
    await httpd.handleRequest();
    expect(await res).toBe("127.0.0.1");
    expect(logged).toEqual(["to custom stderr"]);
  });

  test("a custom serverClass is used", async () => {
    class Mine extends SimpleServer {}
    await using httpd = makeServer("127.0.0.1", 0, hello, { serverClass: Mine });
    expect(httpd).toBeInstanceOf(Mine);
  });

  test("the port in use → EADDRINUSE", async () => {
    await using a = makeServer("127.0.0.1", 0, hello);
    expect(() => makeServer("127.0.0.1", a.port, hello)).toThrow(/EADDRINUSE|in use/i);
  });
});

describe("demoApp", () => {
  test("Hello world! and the environ's pairs", async () => {
    await using httpd = makeServer("127.0.0.1", 0, demoApp);
    const res = fetch(`http://127.0.0.1:${httpd.port}/demo?x=1`).then((r) => r.text());
    await httpd.handleRequest();
    const body = await res;
    expect(body.startsWith("Hello world!\n")).toBe(true);
    expect(body).toContain('PATH_INFO = "/demo"');
    expect(body).toContain('QUERY_STRING = "x=1"');
    expect(body).toContain("tsgi.version = [1,0]");
  });
});

describe("server handlerClass option (gevent handler_class)", () => {
  test("one instance per connection, getEnviron per request", async () => {
    const { serve } = await import("../src/server/server.ts");
    let instances = 0;
    class Counting extends RequestHandler {
      n = 0;
      constructor(...args: ConstructorParameters<typeof RequestHandler>) {
        super(...args);
        instances++;
      }
      override getEnviron(environ: Environ) {
        environ["req.n"] = ++this.n;
        return environ;
      }
    }
    const server = serve((e, sr) => (sr("200 OK", []), [text(String(e["req.n"]))]), { port: 0, log: null, handlerClass: Counting });
    const { raw, get, parseResponses } = await import("./helpers.ts");
    const r = await raw(server.port, get("/") + get("/"), { until: (d) => d.toString().split("HTTP/1.1 200").length === 3 });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["1", "2"]);
    expect(instances).toBe(1);
    await server.close({ timeout: 100 });
  });
});
