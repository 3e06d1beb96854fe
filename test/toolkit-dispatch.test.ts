import { describe, expect, test } from "bun:test";
import type { Application, Body, Environ, ReadonlyResponseHeaders } from "../src/spec.ts";
import { PathInfoDispatcher, pathInfoDispatcher } from "../src/toolkit/dispatch.ts";
import { Environ as EnvironClass, TsgiSecureEnviron } from "../src/toolkit/secure-environ.ts";
import { setupTestingDefaults } from "../src/toolkit/util.ts";
import { RequestSignal } from "../src/gateway/signal.ts";

const enc = new TextEncoder();

/** An app that reports where it was mounted. */
const named =
  (name: string): Application =>
  (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [enc.encode(`${name} ${environ.SCRIPT_NAME}|${environ.PATH_INFO}`)];
  };

async function call(app: Application, environ: Record<string, unknown>) {
  const env = setupTestingDefaults(environ);
  let status = "";
  let headers: ReadonlyResponseHeaders = [];
  const body = (await app(env, (s, h) => {
    status = s;
    headers = h;
    return async () => {};
  })) as Body;
  const chunks: Uint8Array[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(c);
  return { status, headers, text: new TextDecoder().decode(Buffer.concat(chunks)), env };
}

describe("PathInfoDispatcher", () => {
  const d = new PathInfoDispatcher({ "/": named("root"), "/blog": named("blog"), "/blog/admin": named("admin") });

  test("is itself an Application (callable) and an instance", async () => {
    expect(typeof d).toBe("function");
    expect(d).toBeInstanceOf(PathInfoDispatcher);
    expect((await call(d, { PATH_INFO: "/" })).text).toBe("root |/");
  });
  test("longest prefix wins; prefix moves from PATH_INFO to SCRIPT_NAME", async () => {
    expect((await call(d, { PATH_INFO: "/blog/post/1" })).text).toBe("blog /blog|/post/1");
    expect((await call(d, { PATH_INFO: "/blog/admin/users" })).text).toBe("admin /blog/admin|/users");
    expect((await call(d, { PATH_INFO: "/elsewhere" })).text).toBe("root |/elsewhere");
  });
  test("matches on segment boundaries: /blog and /blog/x, never /blogx", async () => {
    expect((await call(d, { PATH_INFO: "/blog" })).text).toBe("blog /blog|");
    expect((await call(d, { PATH_INFO: "/blog/" })).text).toBe("blog /blog|/");
    expect((await call(d, { PATH_INFO: "/blogx" })).text).toBe("root |/blogx");
    expect((await call(d, { PATH_INFO: "/blog/adminx" })).text).toBe("blog /blog|/adminx");
  });
  test("SCRIPT_NAME accumulates, also through nested dispatchers", async () => {
    expect((await call(d, { SCRIPT_NAME: "/mnt", PATH_INFO: "/blog/x" })).text).toBe("blog /mnt/blog|/x");
    const outer = new PathInfoDispatcher({ "/site": d });
    expect((await call(outer, { SCRIPT_NAME: "/app", PATH_INFO: "/site/blog/admin/y" })).text).toBe(
      "admin /app/site/blog/admin|/y",
    );
  });
  test("the caller's environ is not modified (cheroot copies it)", async () => {
    const r = await call(d, { SCRIPT_NAME: "", PATH_INFO: "/blog/x" });
    expect(r.env.SCRIPT_NAME).toBe("");
    expect(r.env.PATH_INFO).toBe("/blog/x");
  });
  test("empty PATH_INFO is treated as /", async () => {
    expect((await call(d, { SCRIPT_NAME: "/m", PATH_INFO: "" })).text).toBe("root /m|/");
  });
  test("an environ without SCRIPT_NAME is dispatched, the mounted app getting SCRIPT_NAME \"\" (cheroot test_dispatch_no_script_name)", async () => {
    let seen: Environ | undefined;
    const hello: Application = (environ, sr) => {
      seen = environ;
      sr("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
      return [enc.encode("Hello, world!")];
    };
    const only = new PathInfoDispatcher([["/", hello]]);
    const environ = { PATH_INFO: "/foo" } as unknown as Environ; // no SCRIPT_NAME, no testing defaults
    let status = "";
    let headers: ReadonlyResponseHeaders = [];
    const body = (await only(environ, (s, h) => {
      status = s;
      headers = h;
      return async () => {};
    })) as Iterable<Uint8Array>;
    expect({ status, headers, body: new TextDecoder().decode(Buffer.concat([...body])) }).toEqual({
      status: "200 OK",
      headers: [["Content-Type", "text/plain; charset=utf-8"]],
      body: "Hello, world!",
    });
    expect([seen!.SCRIPT_NAME, seen!.PATH_INFO]).toEqual(["", "/foo"]);
    expect("SCRIPT_NAME" in environ).toBe(false);
  });
  test("404 text/plain with an empty body when nothing matches", async () => {
    const only = new PathInfoDispatcher({ "/api": named("api") });
    const r = await call(only, { PATH_INFO: "/other" });
    expect(r.status).toBe("404 Not Found");
    expect(r.headers).toEqual([
      ["Content-Type", "text/plain"],
      ["Content-Length", "0"],
    ]);
    expect(r.text).toBe("");
    expect((await call(only, { PATH_INFO: "/apix" })).status).toBe("404 Not Found");
  });
  test("trailing slashes on mount points are stripped, as cheroot does", async () => {
    const t = new PathInfoDispatcher({ "/docs/": named("docs") });
    expect(t.apps.map(([p]) => p)).toEqual(["/docs"]);
    expect((await call(t, { PATH_INFO: "/docs" })).text).toBe("docs /docs|");
    expect((await call(t, { PATH_INFO: "/docs/a" })).text).toBe("docs /docs|/a");
    expect(new PathInfoDispatcher({ "/": named("r") }).apps[0]![0]).toBe("");
  });
  test("apps are sorted longest first; pairs are accepted; function form", async () => {
    const f = pathInfoDispatcher([
      ["/a", named("a")],
      ["/a/b/c", named("abc")],
      ["/a/b", named("ab")],
    ]);
    expect(f).toBeInstanceOf(PathInfoDispatcher);
    expect(f.apps.map(([p]) => p)).toEqual(["/a/b/c", "/a/b", "/a"]);
    expect((await call(f, { PATH_INFO: "/a/b/x" })).text).toBe("ab /a/b|/x");
  });
  test("an environ with copy() is copied with it (keeps its class)", async () => {
    let seen: unknown;
    const app: Application = (environ, sr) => {
      seen = environ;
      sr("200 OK", []);
      return [];
    };
    const env = new TsgiSecureEnviron(setupTestingDefaults({ PATH_INFO: "/x/y" }));
    const disp = new PathInfoDispatcher({ "/x": app });
    disp(env as unknown as Environ, () => async () => {});
    expect(seen).toBeInstanceOf(TsgiSecureEnviron);
    expect(seen).not.toBe(env);
    expect((seen as Environ).PATH_INFO).toBe("/y");
    expect(env.PATH_INFO).toBe("/x/y");
    expect(new EnvironClass({ a: 1 }).copy()).toBeInstanceOf(EnvironClass);
  });
  test("on a server that gives tsgi.signal: the mounted app gets the same AbortSignal through an accessor of its copy, made only when read, with the keys in the same order", async () => {
    const { startServer } = await import("./helpers.ts");
    const seen: string[] = [];
    let outer: Environ | undefined;
    const mounted: Application = (environ, startResponse) => {
      const own = Object.getOwnPropertyDescriptor(environ, "tsgi.signal");
      // The server's RequestSignal behind the accessor: nothing made for a request whose app does not read the signal.
      const source = Object.getOwnPropertySymbols(environ).map((k) => (environ as unknown as Record<symbol, unknown>)[k]).find((v) => v instanceof RequestSignal) as RequestSignal;
      const same = environ.PATH_INFO === "/read" ? environ["tsgi.signal"] === outer!["tsgi.signal"] : `unread ${source.made}`;
      seen.push(`${typeof own?.get} ${same} ${Object.keys(environ).join() === Object.keys(outer!).join()}`);
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [];
    };
    const dispatcher = pathInfoDispatcher({ "/m": mounted });
    const app: Application = (environ, startResponse) => {
      outer = environ;
      return dispatcher(environ, startResponse);
    };
    const t = startServer(app, { requestSignal: true });
    try {
      for (const path of ["/m/read", "/m/plain"]) expect((await fetch(`${t.url}${path}`)).status).toBe(200);
    } finally {
      await t.server.close({ timeout: 100 });
    }
    expect(seen).toEqual(["function true true", "function unread null true"]);
  });
  test("bad arguments throw TypeError", () => {
    expect(() => new PathInfoDispatcher({ "/x": "nope" as never })).toThrow(TypeError);
    expect(() => new PathInfoDispatcher({ x: named("x") })).toThrow(TypeError);
  });
  test("dispatch() is the callable's method", async () => {
    let status = "";
    const body = d.dispatch(setupTestingDefaults({ PATH_INFO: "/blog" }), (s) => {
      status = s;
      return async () => {};
    });
    expect(status).toBe("200 OK");
    expect(Array.isArray(body)).toBe(true);
  });
});
