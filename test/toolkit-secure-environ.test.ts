import { describe, expect, test } from "bun:test";
import { inspect } from "node:util";
import {
  Environ,
  MASKED,
  SENSITIVE_KEYS,
  SENSITIVE_KEY_PATTERN,
  SecureEnviron,
  TsgiSecureEnviron,
} from "../src/toolkit/secure-environ.ts";
import { BytesInput, setupTestingDefaults } from "../src/toolkit/util.ts";

describe("Environ", () => {
  test("behaves like a plain object", () => {
    const env = new Environ({ REQUEST_METHOD: "GET", PATH_INFO: "/" });
    expect(env.PATH_INFO).toBe("/");
    expect(env["REQUEST_METHOD"]).toBe("GET");
    env.QUERY_STRING = "a=1";
    expect(Object.keys(env)).toEqual(["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING"]);
    expect({ ...env } as Record<string, unknown>).toEqual({ REQUEST_METHOD: "GET", PATH_INFO: "/", QUERY_STRING: "a=1" });
    expect("PATH_INFO" in env).toBe(true);
    delete (env as Record<string, unknown>).QUERY_STRING;
    expect("QUERY_STRING" in env).toBe(false);
    expect(JSON.stringify(env)).toBe('{"REQUEST_METHOD":"GET","PATH_INFO":"/"}');
  });
  test("accepts pairs or nothing", () => {
    expect(Object.keys(new Environ())).toEqual([]);
    expect(new Environ([["a", 1]])["a"]).toBe(1);
  });
  test("copy() is shallow and keeps the class", () => {
    const input = new BytesInput();
    const env = new Environ({ "tsgi.input": input, X: "1" });
    const c = env.copy();
    expect(c).toBeInstanceOf(Environ);
    expect(c).not.toBe(env);
    expect(c["tsgi.input"]).toBe(input);
    c.X = "2";
    expect(env.X).toBe("1");
  });
});

describe("SecureEnviron (gevent's doctest)", () => {
  test("no whitelist: only the key count is printed", () => {
    const env = new SecureEnviron({ key: "value" });
    expect(String(env)).toBe("<SecureEnviron (keys: 1)>");
    expect(inspect(env)).toBe("<SecureEnviron (keys: 1)>");
    expect(Bun.inspect(env)).toBe("<SecureEnviron (keys: 1)>");
    expect(JSON.parse(JSON.stringify(env))).toEqual({ key: MASKED });
  });
  test("a whitelisted key is printed", () => {
    const env = new SecureEnviron({ key: "value" });
    env.whitelistKeys = new Set(["key"]);
    expect(String(env)).toBe('{key: "value"}');
  });
  test("a non-whitelisted key is masked", () => {
    const env = new SecureEnviron({ key: "value" });
    env.whitelistKeys = ["key"];
    env.secure = "secret";
    delete env.key;
    expect(String(env)).toBe(`{secure: "${MASKED}"}`);
    expect(JSON.stringify(env)).toBe(`{"secure":"${MASKED}"}`);
    expect(inspect({ env })).not.toContain("secret");
  });
  test("secureRepr = false prints everything", () => {
    const env = new SecureEnviron({ secure: "secret" });
    env.secureRepr = false;
    expect(String(env)).toBe('{secure: "secret"}');
    expect(JSON.stringify(env)).toBe('{"secure":"secret"}');
  });
  test("class-level defaults via a subclass", () => {
    class MyEnviron extends SecureEnviron {
      static override defaultWhitelistKeys = ["key"];
    }
    const env = new MyEnviron({ key: "value" });
    expect(String(env)).toBe('{key: "value"}');
    expect(env.whitelistKeys).toEqual(["key"]);
    class Open extends SecureEnviron {
      static override defaultSecureRepr = false;
    }
    expect(String(new Open({ a: "b" }))).toBe('{a: "b"}');
  });
  test("defaultPrintMaskedKeys and defaultWhitelistKeys on a subclass give gevent's WSGISecureEnviron exactly: its doctest's '{'REMOTE_ADDR': '::1', (hidden keys: 1)}'; safeEntries() is what printing shows", () => {
    class GeventWSGISecureEnviron extends SecureEnviron {
      static override defaultWhitelistKeys = ["REMOTE_ADDR", "REMOTE_PORT", "HTTP_HOST"];
      static override defaultPrintMaskedKeys = false;
    }
    const env = new GeventWSGISecureEnviron({ REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "secret" });
    expect(env.printMaskedKeys).toBe(false);
    expect(String(env)).toBe('{REMOTE_ADDR: "::1", (hidden keys: 1)}');
    expect(Bun.inspect(env)).toBe('{REMOTE_ADDR: "::1", (hidden keys: 1)}');
    expect(JSON.stringify(env)).toBe('{"REMOTE_ADDR":"::1"}');
    expect(env.safeEntries()).toEqual({ entries: [["REMOTE_ADDR", "::1"]], hidden: 1 });
    // The instance setting still wins over the class default, and the base class is unchanged.
    env.printMaskedKeys = true;
    expect(String(env)).toBe(`{REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "${MASKED}"}`);
    expect(SecureEnviron.defaultPrintMaskedKeys).toBe(true);
  });
  test("printMaskedKeys = false hides masked keys and counts them", () => {
    const env = new SecureEnviron({ a: "1", b: "2", c: "3" });
    env.whitelistKeys = ["a"];
    env.printMaskedKeys = false;
    expect(String(env)).toBe('{a: "1", (hidden keys: 2)}');
    expect(JSON.parse(JSON.stringify(env))).toEqual({ a: "1" });
  });
  test("settings are not keys: Object.keys and spread stay clean", () => {
    const env = new SecureEnviron({ a: "1" });
    env.secureRepr = false;
    env.whitelistKeys = ["a"];
    env.printMaskedKeys = false;
    expect(Object.keys(env)).toEqual(["a"]);
    expect({ ...env } as Record<string, unknown>).toEqual({ a: "1" });
  });
  test("copy() keeps the class and the instance's settings", () => {
    const env = new SecureEnviron({ a: "1" });
    env.secureRepr = false;
    const c = env.copy();
    expect(c).toBeInstanceOf(SecureEnviron);
    expect(c.secureRepr).toBe(false);
    expect(String(c)).toBe('{a: "1"}');
  });
  test("non-string values print as their class name", () => {
    const env = new SecureEnviron({ "tsgi.input": new BytesInput(), "tsgi.version": [1, 0], n: 3, f: () => 0 });
    env.secureRepr = false;
    expect(String(env)).toBe("{tsgi.input: [BytesInput], tsgi.version: [1, 0], n: 3, f: [Function f]}");
    expect(JSON.parse(JSON.stringify(env))).toEqual({
      "tsgi.input": "[BytesInput]",
      "tsgi.version": [1, 0],
      n: 3,
      f: "[Function f]",
    });
  });
});

describe("TsgiSecureEnviron", () => {
  test("gevent's example: REMOTE_ADDR shown, HTTP_AUTHORIZATION masked", () => {
    const env = new TsgiSecureEnviron({ REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "secret" });
    expect(String(env)).toBe(`{REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "${MASKED}"}`);
    expect(inspect(env)).not.toContain("secret");
    expect(Bun.inspect([env])).not.toContain("secret");
  });
  test("masks the sensitive keys and credential-looking names only", () => {
    const env = new TsgiSecureEnviron({
      PATH_INFO: "/x",
      HTTP_USER_AGENT: "curl",
      HTTP_COOKIE: "sid=1",
      HTTP_PROXY_AUTHORIZATION: "Basic x",
      HTTP_X_API_KEY: "k",
      HTTP_X_AUTH_TOKEN: "t",
      HTTP_X_CSRF_TOKEN: "c",
      DB_PASSWORD: "p",
      MY_SECRET: "s",
      SESSION_ID: "i",
      REMOTE_USER: "alice",
      HTTP_X_PRIVATE_ID: "x",
      HTTP_CF_ACCESS_JWT_ASSERTION: "j",
      HTTP_X_GOOG_IAP_JWT_ASSERTION: "g",
      HTTP_X_AMZN_OIDC_DATA: "o",
    });
    const shown = JSON.parse(JSON.stringify(env));
    expect(shown.PATH_INFO).toBe("/x");
    expect(shown.HTTP_USER_AGENT).toBe("curl");
    for (const k of ["HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION", "HTTP_X_API_KEY", "HTTP_X_AUTH_TOKEN", "HTTP_X_CSRF_TOKEN", "DB_PASSWORD", "MY_SECRET", "SESSION_ID", "REMOTE_USER", "HTTP_X_PRIVATE_ID", "HTTP_CF_ACCESS_JWT_ASSERTION", "HTTP_X_GOOG_IAP_JWT_ASSERTION", "HTTP_X_AMZN_OIDC_DATA"]) {
      expect(shown[k]).toBe(MASKED);
    }
    // reading is never masked
    expect(env.HTTP_COOKIE).toBe("sid=1");
  });
  test("the whitelist wins over the pattern", () => {
    const env = new TsgiSecureEnviron({ AUTH_TYPE: "Basic", HTTP_X_API_KEY: "k" });
    expect(JSON.parse(JSON.stringify(env)).AUTH_TYPE).toBe("Basic");
    env.whitelistKeys = ["HTTP_X_API_KEY"];
    expect(JSON.parse(JSON.stringify(env))).toEqual({ AUTH_TYPE: MASKED, HTTP_X_API_KEY: "k" });
  });
  test("printMaskedKeys = false gives gevent's '(hidden keys: N)' form", () => {
    const env = new TsgiSecureEnviron({ REMOTE_ADDR: "::1", HTTP_AUTHORIZATION: "secret" });
    env.printMaskedKeys = false;
    expect(String(env)).toBe('{REMOTE_ADDR: "::1", (hidden keys: 1)}');
  });
  test("isMasked, SENSITIVE_KEYS, SENSITIVE_KEY_PATTERN", () => {
    const env = new TsgiSecureEnviron();
    expect(env.isMasked("HTTP_COOKIE")).toBe(true);
    expect(env.isMasked("HTTP_HOST")).toBe(false);
    expect(env.isMasked("REMOTE_ADDR")).toBe(false);
    expect(SENSITIVE_KEYS.has("HTTP_AUTHORIZATION")).toBe(true);
    expect(SENSITIVE_KEY_PATTERN.test("x_password")).toBe(true);
    expect(SENSITIVE_KEY_PATTERN.test("HTTP_ACCEPT")).toBe(false);
  });
  test("usable as a TSGI environ (setupTestingDefaults, keys, spread)", async () => {
    const env = new TsgiSecureEnviron(setupTestingDefaults({ HTTP_COOKIE: "sid=1" }));
    expect(env.REQUEST_METHOD).toBe("GET");
    expect((await env["tsgi.input"].read()).length).toBe(0);
    expect(Object.keys(env)).toContain("HTTP_COOKIE");
    expect(String(env)).toContain(`HTTP_COOKIE: "${MASKED}"`);
    expect(String(env)).toContain('REQUEST_METHOD: "GET"');
    expect(env.copy()).toBeInstanceOf(TsgiSecureEnviron);
  });

  test("as a server's environClass, the printed environ masks tsgi.headers_raw, which holds the Authorization and Cookie lines as sent", async () => {
    const { startServer, rawOne } = await import("./helpers.ts");
    const { server, port } = startServer(
      (environ, sr) => {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        return [new TextEncoder().encode(`${String(environ)}\n${JSON.stringify(environ["tsgi.headers_raw"])}`)];
      },
      { environClass: TsgiSecureEnviron },
    );
    try {
      const r = await rawOne(port, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic c2VjcmV0\r\nCookie: sid=hush\r\nConnection: close\r\n\r\n");
      const [printed, rawLines] = r.response!.body.toString().split("\n");
      expect(printed).toContain(`tsgi.headers_raw: "${MASKED}"`);
      expect(printed).not.toContain("c2VjcmV0");
      expect(printed).not.toContain("hush");
      // The app itself still reads them.
      expect(JSON.parse(rawLines!)).toEqual(["Host", "x", "Authorization", "Basic c2VjcmV0", "Cookie", "sid=hush", "Connection", "close"]);
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});
