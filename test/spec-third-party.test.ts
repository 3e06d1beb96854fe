/**
 * TSGI 1.0 as an interface others implement: a server and middlewares
 * written from docs/spec.md alone (test/third-party.ts) against the
 * project's conformance tools. validator() wraps apps on the third-party
 * server, the toolkit's apps run on it, and the third-party middlewares run
 * on tsgi's server, behind validator() on both sides.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { fromFetchHandler } from "../src/fetch/index.ts";
import type { Application } from "../src/spec.ts";
import { pathInfoDispatcher } from "../src/toolkit/dispatch.ts";
import { demoApp } from "../src/toolkit/simple-server.ts";
import { fileWrapper } from "../src/toolkit/util.ts";
import { validator } from "../src/toolkit/validate.ts";
import { enc, serverPool } from "./helpers.ts";
import { gzipBody, limitInput, type ThirdPartyServer, thirdPartyServe, timing } from "./third-party.ts";

const started: ThirdPartyServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});
const warnings: string[] = [];
const check = (app: Application) => validator(app, { warn: (m) => void warnings.push(m) });
function third(app: Application) {
  const s = thirdPartyServe(check(app));
  started.push(s);
  return s;
}
const startServer = serverPool();

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc("hello\n")];
};
const echo: Application = async (environ, startResponse) => {
  const body = await environ["tsgi.input"].read();
  startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(body.length)]]);
  return [body];
};
const lines: Application = async (environ, startResponse) => {
  const input = environ["tsgi.input"];
  const first = await input.readline();
  const rest = await input.readlines();
  let more = 0;
  for await (const line of input) more += line.length;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc(`${first.length} ${rest.length} ${more}\n`)];
};
const stream: Application = (_environ, startResponse) => {
  async function* body() {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    for (let i = 0; i < 3; i++) yield enc(`${i}\n`);
  }
  return body();
};
const writer: Application = async (_environ, startResponse) => {
  const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
  await write(enc("written\n"));
  return [enc("returned\n")];
};
const excInfo: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  async function* body() {
    try {
      throw new Error("report failed");
    } catch (err) {
      startResponse("503 Service Unavailable", [["Content-Type", "text/plain"]], err);
      yield enc("try later\n");
    }
  }
  return body();
};

describe("validator() around apps on a server written from spec.md", () => {
  const cases: Array<[string, Application, RequestInit | undefined, number, string]> = [
    ["hello", hello, undefined, 200, "hello\n"],
    ["echo", echo, { method: "POST", body: "abc" }, 200, "abc"],
    ["lines", lines, { method: "POST", body: "a\nbb\nccc\ndddd" }, 200, "2 3 0\n"],
    ["stream", stream, undefined, 200, "0\n1\n2\n"],
    ["write()", writer, undefined, 200, "written\nreturned\n"],
    ["excInfo", excInfo, undefined, 503, "try later\n"],
  ];
  for (const [name, app, init, status, text] of cases) {
    test(name, async () => {
      const s = third(app);
      const res = await fetch(`${s.url}/x`, init);
      expect(await res.text()).toBe(text);
      expect(res.status).toBe(status);
      expect(s.errors.join("")).toBe("");
    });
  }
});

describe("edge cases on a server written from spec.md", () => {
  test("HEAD of an array, a generator and a write() app", async () => {
    for (const app of [hello, stream, writer]) {
      const s = third(app);
      const res = await fetch(`${s.url}/`, { method: "HEAD" });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
      expect(s.errors.join("")).toBe("");
    }
  });
  test("204 with a body, an app that throws, one that never starts", async () => {
    const s204 = third((_e, sr) => {
      sr("204 No Content", []);
      return [enc("dropped")];
    });
    expect((await fetch(`${s204.url}/`)).status).toBe(204);
    expect(s204.errors.join("")).toBe("");
    const thrower = third(() => {
      throw new Error("boom");
    });
    expect((await fetch(`${thrower.url}/`)).status).toBe(500);
    expect(thrower.errors.join("")).toContain("boom");
    const never = third(() => []);
    expect((await fetch(`${never.url}/`)).status).toBe(500);
    expect(never.errors.join("")).toContain("body-no-start");
  });
  test("the client leaves mid-stream: close() is still called once", async () => {
    let closed = 0;
    const s = third((_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return {
        async *[Symbol.asyncIterator]() {
          for (let i = 0; i < 1000; i++) {
            yield new Uint8Array(65536);
            await Bun.sleep(1);
          }
        },
        close: () => void closed++,
      };
    });
    const ac = new AbortController();
    const res = await fetch(`${s.url}/`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    for (let i = 0; i < 100 && closed === 0; i++) await Bun.sleep(20);
    expect(closed).toBe(1);
    expect(s.errors.join("")).not.toContain("Conformance");
  });
});

describe("the toolkit's apps on a server written from spec.md", () => {
  test("demoApp", async () => {
    const s = third(demoApp);
    const res = await fetch(`${s.url}/demo?q=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Hello world!");
    expect(s.errors.join("")).toBe("");
  });
  test("pathInfoDispatcher", async () => {
    const s = third(pathInfoDispatcher({ "/api": (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${environ.SCRIPT_NAME}|${environ.PATH_INFO}`)];
    } }));
    const res = await fetch(`${s.url}/api/items`);
    expect(await res.text()).toBe("/api|/items");
    expect(s.errors.join("")).toBe("");
  });
  test("fromFetchHandler", async () => {
    const s = third(fromFetchHandler(async (request: Request) =>
      new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`)));
    const res = await fetch(`${s.url}/f/g`, { method: "POST", body: "payload" });
    expect(await res.text()).toBe("POST /f/g payload");
    expect(s.errors.join("")).toBe("");
  });
  test("fileWrapper", async () => {
    const s = third((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return fileWrapper(new Blob(["from a blob\n"]), 4);
    });
    const res = await fetch(`${s.url}/`);
    expect(await res.text()).toBe("from a blob\n");
    expect(s.errors.join("")).toBe("");
  });
});

describe("middleware written from spec.md on tsgi's server", () => {
  const big = "line one\nline two\n".repeat(20);
  test("limitInput: read, readline and read1 stop at the limit", async () => {
    const app: Application = async (environ, startResponse) => {
      const input = environ["tsgi.input"];
      const a = await input.readline();
      const b = input.read1 ? await input.read1(1000) : await input.read(1000);
      const c = await input.read();
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${a.length} ${b.length} ${c.length}`)];
    };
    const s = startServer(check(limitInput(check(app), 20)));
    const res = await fetch(`${s.url}/`, { method: "POST", body: big });
    expect(await res.text()).toBe("9 11 0");
    expect(s.errors.join("")).toBe("");
  });
  test("read(null), readline(null) and readlines(null) mean no size (spec.md), behind validator() on both servers and through limitInput", async () => {
    const nulls: Application = async (environ, startResponse) => {
      const input = environ["tsgi.input"];
      let parts: Uint8Array[];
      if (environ.PATH_INFO === "/read") parts = [await input.read(null)];
      else parts = [await input.readline(null), ...(await input.readlines(null)), await input.read(null)];
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(parts.map((p) => p.length).join(" "))];
    };
    const servers = [third(nulls), startServer(check(nulls)), startServer(check(limitInput(check(nulls), 1000)))];
    for (const s of servers) {
      expect(await fetch(`${s.url}/read`, { method: "POST", body: big }).then((r) => r.text())).toBe(String(big.length));
      expect(await fetch(`${s.url}/lines`, { method: "POST", body: "a\nbb\nccc" }).then((r) => r.text())).toBe("2 3 3 0");
      expect(s.errors.join("")).toBe("");
    }
  });
  for (const [name, app] of [["array", hello], ["stream", stream], ["write()", writer], ["excInfo", excInfo]] as const) {
    test(`gzipBody and timing around ${name}`, async () => {
      const s = startServer(check(timing(check(gzipBody(check(app))))));
      const res = await fetch(`${s.url}/`, { headers: { "Accept-Encoding": "gzip" }, decompress: false });
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(res.headers.get("content-encoding")).toBe("gzip");
      expect(res.headers.get("x-elapsed")).not.toBeNull();
      const direct = await fetch(`${thirdOnce(app)}/`).then((r) => r.text());
      expect(gunzipSync(bytes).toString()).toBe(direct);
      expect(s.errors.join("")).toMatch(/^timing: [\d.]+ ms\n$/);
    });
  }
});

/** The app alone on the third-party server, for the expected text. */
function thirdOnce(app: Application): string {
  return third(app).url;
}
