/**
 * The `handlerClass` hooks (gevent `WSGIHandler`, wsgiref
 * `WSGIRequestHandler`): getEnviron, getStderr, formatRequest, logRequest
 * and handleError, over real sockets.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { RequestHandler } from "../src/server/handler.ts";
import { ACCESS_LOG_FLUSH_MS } from "../src/server/log.ts";
import { DEFAULT_SERVER_OPTIONS, resolveOptions, type AccessLogFields } from "../src/server/options.ts";
import type { ErrorResponse } from "../src/gateway/run.ts";
import type { Application, Body, Environ, ErrorStream } from "../src/spec.ts";
import { enc, get, parseResponses, raw, rawOne, serverPool } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";

const start = serverPool();

const hello: Application = (environ, sr) => {
  sr("200 OK", [["Content-Type", "text/plain"]]);
  return [enc(`hi ${environ.PATH_INFO}`)];
};

/** eventlet's default line: `127.0.0.1 - - [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 5 0.000123`. */
const CLF = /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/\S* HTTP\/1\.1" 200 \d+ \d+\.\d{6}$/;

/** The access log's lines once its batch has been written. */
async function accessLines(access: string[]): Promise<string[]> {
  await Bun.sleep(ACCESS_LOG_FLUSH_MS * 3);
  return access.join("").split("\n").filter(Boolean);
}

/** Three pipelined GETs on one connection; resolves with the parsed responses. */
async function pipelined(port: number, paths: string[]) {
  const r = await raw(port, paths.map((p) => get(p)).join(""), {
    until: (d) => parseResponses(d).filter((x) => x.complete).length === paths.length,
  });
  return parseResponses(r.data);
}

describe("getEnviron / getStderr", () => {
  test("used for every request of the connection; the access log is unchanged by them", async () => {
    const stderr: string[] = [];
    class Tagging extends RequestHandler {
      override getEnviron(environ: Environ) {
        environ["app.client"] = `${this.clientAddress}:${this.clientPort > 0}`;
        return environ;
      }
      override getStderr(): ErrorStream {
        return { write: (s) => void stderr.push(s), writelines: (l) => void stderr.push(...l), flush() {} };
      }
    }
    const app: Application = (environ, sr) => {
      environ["tsgi.errors"].write(`err ${environ.PATH_INFO}`);
      sr("200 OK", []);
      return [enc(String(environ["app.client"]))];
    };
    const { port, access } = start(app, { handlerClass: Tagging });
    const responses = await pipelined(port, ["/a", "/b"]);
    expect(responses.map((r) => r.body.toString())).toEqual(["127.0.0.1:true", "127.0.0.1:true"]);
    expect(stderr).toEqual(["err /a", "err /b"]);
    const lines = await accessLines(access);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(CLF);
  });
});

describe("what a handler sees of its server (this.server, gevent's WSGIHandler.server)", () => {
  test("hostname and port are the bound address; logError is gevent's log_error (whatever the error's code); errors is the error log as a stream; formatAccessLine and writeAccessLine make and add access-log lines", async () => {
    const seen: string[] = [];
    class Reporting extends RequestHandler {
      override getEnviron(environ: Environ) {
        seen.push(`${this.server.hostname} ${this.server.port}`);
        // An EPIPE code is in ignoredSocketErrors, which filters the client's socket only: the handler's own report is logged.
        this.server.logError("Reporting.getEnviron()", Object.assign(new Error(`odd request ${environ.PATH_INFO}`), { code: "EPIPE" }));
        this.server.errors.write(`straight to the error log ${environ.PATH_INFO}\n`);
        return environ;
      }
      override logRequest(fields: AccessLogFields) {
        this.server.writeAccessLine(`${this.server.formatAccessLine(fields)} handler=${this.clientAddress}`);
      }
    }
    const { port, access, errors } = start(hello, { handlerClass: Reporting });
    const responses = await pipelined(port, ["/a", "/b"]);
    expect(responses.map((r) => r.body.toString())).toEqual(["hi /a", "hi /b"]);
    expect(seen).toEqual([`127.0.0.1 ${port}`, `127.0.0.1 ${port}`]);
    const text = errors.join("");
    for (const path of ["/a", "/b"]) {
      expect(text).toContain(`Error in Reporting.getEnviron(): Error: odd request ${path}\n`);
      expect(text).toContain(`straight to the error log ${path}\n`);
    }
    const lines = await accessLines(access);
    expect(lines).toHaveLength(2);
    for (const [i, path] of ["/a", "/b"].entries()) {
      expect(lines[i]).toEndWith(" handler=127.0.0.1");
      expect(lines[i]!.slice(0, -" handler=127.0.0.1".length)).toMatch(CLF);
      expect(lines[i]).toContain(`"GET ${path} HTTP/1.1" 200 5 `);
    }
  });
});

describe("logRequest / formatRequest (gevent log_request, format_request)", () => {
  test("logRequest can skip requests and keep the default line for the rest", async () => {
    const seen: Array<string | null> = [];
    class NoHealth extends RequestHandler {
      override logRequest(fields: AccessLogFields, environ: Environ | null) {
        seen.push(environ?.PATH_INFO ?? null);
        if (environ?.PATH_INFO !== "/healthz") super.logRequest(fields, environ);
      }
    }
    const { port, access } = start(hello, { handlerClass: NoHealth });
    const responses = await pipelined(port, ["/one", "/healthz", "/two"]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(seen).toEqual(["/one", "/healthz", "/two"]);
    const lines = await accessLines(access);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(CLF);
    expect(lines[0]).toContain('"GET /one HTTP/1.1" 200 7 ');
    expect(lines[1]).toContain('"GET /two HTTP/1.1" 200 7 ');
  });

  test("formatRequest makes the line, with the fields and the environ", async () => {
    class Short extends RequestHandler {
      override formatRequest(f: AccessLogFields, environ: Environ | null) {
        return `${f.status_code} ${f.request_line} ${f.body_length} ua=${environ?.HTTP_USER_AGENT ?? "-"} t=${typeof f.wall_seconds} ${f.client_ip}`;
      }
    }
    const { port, access } = start(hello, { handlerClass: Short });
    const r = await rawOne(port, get("/x?q=1", "User-Agent: probe/1\r\nConnection: close\r\n"));
    expect(r.response!.status).toBe(200);
    expect(await accessLines(access)).toEqual(["200 GET /x?q=1 HTTP/1.1 5 ua=probe/1 t=number 127.0.0.1"]);
  });

  test("the fields: X-Forwarded-For is prepended (logXForwardedFor), the date is CLF, wall time counts the app's time", async () => {
    const got: AccessLogFields[] = [];
    class Capture extends RequestHandler {
      override logRequest(fields: AccessLogFields) {
        got.push(fields);
      }
    }
    const slow: Application = async (_e, sr) => {
      await Bun.sleep(60);
      sr("201 Created", []);
      return [enc("abc")];
    };
    const { port, access } = start(slow, { handlerClass: Capture });
    await rawOne(port, get("/s", "X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n"));
    expect(got).toHaveLength(1);
    const f = got[0]!;
    expect(f.client_ip).toBe("203.0.113.9,127.0.0.1");
    expect(f.client_port).toBeGreaterThan(0);
    expect(f.request_line).toBe("GET /s HTTP/1.1");
    expect(f.status_code).toBe(201);
    expect(f.body_length).toBe(3);
    expect(f.wall_seconds).toBeGreaterThanOrEqual(0.05);
    expect(f.wall_seconds).toBeLessThan(5);
    expect(f.date_time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    // The override wrote nothing, so the access log stays empty.
    expect(await accessLines(access)).toEqual([]);
  });

  test("a request the server rejects (400) is logged with a null environ", async () => {
    const calls: Array<[AccessLogFields, Environ | null]> = [];
    class Capture extends RequestHandler {
      override logRequest(fields: AccessLogFields, environ: Environ | null) {
        calls.push([fields, environ]);
        super.logRequest(fields, environ);
      }
    }
    const { port, access } = start(hello, { handlerClass: Capture });
    const r = await rawOne(port, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    expect(r.response!.status).toBe(400);
    expect(calls).toHaveLength(1);
    expect(calls[0]![1]).toBeNull();
    expect(calls[0]![0].status_code).toBe(400);
    expect(calls[0]![0].request_line).toBe("- (rejected: Multiple Host fields)");
    const lines = await accessLines(access);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"- (rejected: Multiple Host fields)" 400 38 ');
  });

  test("the server's 503 for an app past requestTimeout is logged once, with the request's environ", async () => {
    const calls: Array<[AccessLogFields, Environ | null]> = [];
    class Capture extends RequestHandler {
      override logRequest(fields: AccessLogFields, environ: Environ | null) {
        calls.push([fields, environ]);
      }
    }
    const never: Application = () => new Promise<Body>(() => {});
    const { port } = start(never, { handlerClass: Capture, requestTimeout: 150 });
    const r = await rawOne(port, get("/stuck"), { timeoutMs: 3000 });
    expect(r.response!.status).toBe(503);
    await Bun.sleep(100);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0].status_code).toBe(503);
    expect(calls[0]![0].request_line).toBe("GET /stuck HTTP/1.1");
    expect(calls[0]![0].wall_seconds).toBeGreaterThanOrEqual(0.14);
    expect(calls[0]![1]?.PATH_INFO).toBe("/stuck");
  });

  test("without a handler, the access log gives requestTimeout's 503 the request line and its wall time", async () => {
    const never: Application = () => new Promise<Body>(() => {});
    const { port, access } = start(never, { requestTimeout: 150 });
    const r = await rawOne(port, get("/stuck"), { timeoutMs: 3000 });
    expect(r.response!.status).toBe(503);
    const lines = await accessLines(access);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/"GET \/stuck HTTP\/1\.1" 503 70 0\.(1[4-9]|[2-9])\d*$/);
  });

  test("with the access log off, logRequest is still called and writeAccessLine writes nothing", async () => {
    const mine: string[] = [];
    class OwnLog extends RequestHandler {
      override logRequest(fields: AccessLogFields, environ: Environ | null) {
        mine.push(this.formatRequest(fields, environ));
        super.logRequest(fields, environ);
      }
    }
    const { port } = start(hello, { handlerClass: OwnLog, log: null });
    await pipelined(port, ["/p", "/q"]);
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatch(CLF);
    expect(mine[1]).toContain('"GET /q HTTP/1.1" 200 5 ');
  });

  test("an error thrown by logRequest is logged; the responses and the connection are unaffected", async () => {
    class Broken extends RequestHandler {
      override logRequest(): void {
        throw new Error("log sink down");
      }
    }
    const { port, errors } = start(hello, { handlerClass: Broken });
    const responses = await pipelined(port, ["/1", "/2"]);
    expect(responses.map((r) => r.body.toString())).toEqual(["hi /1", "hi /2"]);
    const text = errors.join("");
    expect(text).toContain("Error in RequestHandler.logRequest(): Error: log sink down");
    expect(text.split("log sink down").length - 1).toBe(2);
  });
});

describe("handleError (gevent handle_error)", () => {
  const failing: Application = (environ) => {
    throw new Error(`broken ${environ.PATH_INFO}`);
  };

  test("its response replaces the standard 500; it is given the error and the environ; the connection stays usable", async () => {
    const handled: string[] = [];
    class JsonErrors extends RequestHandler {
      override handleError(error: unknown, environ: Environ) {
        handled.push(`${environ.PATH_INFO}: ${(error as Error).message}`);
        return { status: "503 Service Unavailable", headers: [["Content-Type", "application/json"]] as Array<[string, string]>, body: enc('{"error":"unavailable"}') };
      }
    }
    const { port, errors } = start(failing, { handlerClass: JsonErrors });
    const responses = await pipelined(port, ["/e1", "/e2"]);
    expect(responses.map((r) => r.status)).toEqual([503, 503]);
    expect(responses[0]!.headers["content-type"]).toBe("application/json");
    expect(responses[0]!.headers["content-length"]).toBe("23");
    expect(responses[1]!.body.toString()).toBe('{"error":"unavailable"}');
    expect(handled).toEqual(["/e1: broken /e1", "/e2: broken /e2"]);
    // The hook logs as it likes: the server logged nothing itself.
    expect(errors).toEqual([]);
  });

  test("returning null sends the standard 500; an async rejection and a bad body reach it too", async () => {
    const handled: string[] = [];
    class Counting extends RequestHandler {
      override handleError(error: unknown, environ: Environ) {
        handled.push(`${environ.PATH_INFO} ${error instanceof Error ? error.name : typeof error}`);
        return super.handleError(error, environ);
      }
    }
    const app: Application = async (environ, sr) => {
      if (environ.PATH_INFO === "/reject") throw new RangeError("async");
      sr("200 OK", []);
      return 42 as unknown as Body;
    };
    const { port, errors } = start(app, { handlerClass: Counting });
    const responses = await pipelined(port, ["/reject", "/badbody"]);
    expect(responses.map((r) => r.status)).toEqual([500, 500]);
    expect(responses[0]!.body.toString()).toBe("Internal Server Error\n");
    expect(handled).toEqual(["/reject RangeError", "/badbody TypeError"]);
    // super.handleError logs like the server does.
    const text = errors.join("");
    expect(text).toContain("Error in GET /reject HTTP/1.1: RangeError: async");
    expect(text).toContain("Error in GET /badbody HTTP/1.1: TypeError");
  });

  test("a hook that throws, or returns an invalid response: both errors logged, the standard 500 sent", async () => {
    class Bad extends RequestHandler {
      override handleError(_error: unknown, environ: Environ) {
        if (environ.PATH_INFO === "/throw") throw new Error("hook exploded");
        if (environ.PATH_INFO === "/status") return { status: "oops", headers: [], body: enc("x") };
        return "not a response" as never;
      }
    }
    const { port, errors } = start(failing, { handlerClass: Bad });
    const responses = await pipelined(port, ["/throw", "/status", "/shape"]);
    expect(responses.map((r) => r.status)).toEqual([500, 500, 500]);
    for (const r of responses) expect(r.body.toString()).toBe("Internal Server Error\n");
    const text = errors.join("");
    expect(text).toContain("Error in GET /throw HTTP/1.1: Error: broken /throw");
    expect(text).toContain("Error in handleError(): Error: hook exploded");
    expect(text).toContain("Error in the error response from handleError(): ");
    expect(text).toContain("Error in GET /shape HTTP/1.1: Error: broken /shape");
    expect(text).toContain("handleError() must return { status, headers, body: Uint8Array } or null");
  });

  test("after the headers went out the hook is still told, but its response is not used: the response is cut", async () => {
    const handled: string[] = [];
    class Told extends RequestHandler {
      override handleError(error: unknown) {
        handled.push((error as Error).message);
        return { status: "503 Service Unavailable", headers: [], body: enc("never sent") };
      }
    }
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return (async function* () {
        yield enc("partial");
        throw new Error("mid-body");
      })();
    };
    const { port } = start(app, { handlerClass: Told });
    const r = await raw(port, get("/"), { timeoutMs: 3000 });
    expect(r.closed).toBe(true);
    const [res] = parseResponses(r.data);
    expect(res!.status).toBe(200);
    expect(res!.complete).toBe(false);
    expect(r.data.toString()).not.toContain("never sent");
    expect(handled).toEqual(["mid-body"]);
  });

  test("an error the app throws once nothing can be sent (its client reset; requestTimeout's 503 out to a client still reading) still reaches the hook, once; its response is dropped, never written after the 503 (before: the hook was not called)", async () => {
    const handled: string[] = [];
    class Told extends RequestHandler {
      override handleError(error: unknown, environ: Environ) {
        handled.push(`${environ.PATH_INFO}: ${(error as Error).message}`);
        return { status: "418 I'm a teapot", headers: [], body: enc("never sent") };
      }
    }
    const app: Application = async (environ) => {
      await Bun.sleep(250);
      throw new Error(`db down for ${environ.PATH_INFO}`);
    };
    const { port } = start(app, { handlerClass: Told, requestTimeout: 150 });
    const reset = connect({ host: "127.0.0.1", port });
    reset.on("error", () => {});
    reset.write(get("/reset"));
    setTimeout(() => reset.resetAndDestroy(), 50);
    // A client that keeps its side open after the server's FIN: the connection lingers while the app throws.
    const late = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    let data = "";
    late.on("data", (d: Buffer) => (data += d.toString("latin1")));
    late.on("error", () => {});
    late.write(get("/late"));
    for (let i = 0; i < 200 && handled.length < 2; i++) await Bun.sleep(10);
    await Bun.sleep(100);
    late.destroy();
    expect(handled.sort()).toEqual(["/late: db down for /late", "/reset: db down for /reset"]);
    expect(data).toStartWith("HTTP/1.1 503 ");
    expect(data.split("HTTP/1.1 ").length - 1).toBe(1);
    expect(data).not.toContain("never sent");
  });

  test("a handler that overrides only getEnviron keeps the server's 500 and error log", async () => {
    class Plain extends RequestHandler {
      override getEnviron(environ: Environ) {
        return environ;
      }
    }
    const { port, errors } = start(failing, { handlerClass: Plain });
    const r = await rawOne(port, get("/p", "Connection: close\r\n"));
    expect(r.response!.status).toBe(500);
    expect(errors.join("")).toContain("Error in GET /p HTTP/1.1: Error: broken /p");
  });
});

describe("option types checked when the server is created", () => {
  test("an option given as undefined takes its default, as one left out does (a config object whose keys are declared but unset: { port: config.port })", () => {
    // (Mutant: resolveOptions() copying undefined values over the defaults: port undefined was 'must be a non-negative integer, got undefined'.)
    const given = { port: undefined, hostname: undefined, keepalive: undefined, maxHeaderBytes: undefined, headerTimeout: undefined, urlScheme: undefined, ignoredSocketErrors: undefined };
    const resolved = resolveOptions(given);
    expect(resolved).toMatchObject({ port: DEFAULT_SERVER_OPTIONS.port, hostname: "127.0.0.1", keepalive: true, maxHeaderBytes: DEFAULT_SERVER_OPTIONS.maxHeaderBytes, headerTimeout: DEFAULT_SERVER_OPTIONS.headerTimeout, urlScheme: "http" });
    expect(resolved.ignoredSocketErrors).toEqual([...DEFAULT_SERVER_OPTIONS.ignoredSocketErrors]);
  });

  test("a switch given as a string (keepalive: \"false\" from an env var or a config file, which was truthy and left keep-alive on) or a urlScheme other than http and https (\"ftp\" went into every environ) is a TypeError naming the option, from createServer() and makeServer(); booleans, a number keepalive (eventlet's idle seconds; 0 is off) and https still work", async () => {
    const { createServer } = await import("../src/server/server.ts");
    const { makeServer } = await import("../src/toolkit/simple-server.ts");
    const bad: Array<[string, Record<string, unknown>, string]> = [
      ["keepalive", { keepalive: "false" }, 'true or false, got "false"'],
      ["keepalive", { keepalive: null }, "true or false, got null"],
      ["reusePort", { reusePort: "true" }, 'true or false, got "true"'],
      ["debug", { debug: "0" }, 'true or false, got "0"'],
      ["capitalizeResponseHeaders", { capitalizeResponseHeaders: 1 }, "true or false, got 1"],
      ["logXForwardedFor", { logXForwardedFor: "no" }, 'true or false, got "no"'],
      ["requestSignal", { requestSignal: "false" }, 'true or false, got "false"'],
      ["peerCredentials", { peerCredentials: "yes" }, 'true, false or "resolve", got "yes"'],
      ["urlScheme", { urlScheme: "ftp" }, '"http" or "https", got "ftp"'],
      ["urlScheme", { urlScheme: "HTTPS" }, '"http" or "https", got "HTTPS"'],
    ];
    for (const [key, options, tail] of bad) {
      expect(() => createServer(hello, options)).toThrow(`server option ${key} must be ${tail}`);
      let thrown: unknown = null;
      try {
        makeServer("127.0.0.1", 0, hello, { ...options, log: null });
      } catch (error) {
        thrown = error;
      }
      expect(`${key}: ${String(thrown)}`).toBe(`${key}: TypeError: server option ${key} must be ${tail}`);
    }
    // What is accepted: booleans, keepalive as a number (0 closes after each response), https, peerCredentials "resolve".
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ keepalive: false }, "close", "http"],
      [{ keepalive: 0 }, "close", "http"],
      [{ keepalive: 30, urlScheme: "https", debug: true, capitalizeResponseHeaders: true, logXForwardedFor: false, requestSignal: false, reusePort: false, peerCredentials: "resolve" }, "keep-alive", "https"],
    ];
    for (const [options, connection, scheme] of cases) {
      const { port } = start((environ, sr) => (sr("200 OK", [["Content-Type", "text/plain"]]), [enc(String(environ["tsgi.url_scheme"]))]), options);
      const r = await rawOne(port, get("/k"), { until: (d) => parseResponses(d).some((x) => x.complete) });
      expect(`${JSON.stringify(options)}: ${r.response!.headers["connection"] ?? "keep-alive"} ${r.response!.body.toString()}`).toBe(`${JSON.stringify(options)}: ${connection} ${scheme}`);
    }
  });

  test("the exported defaults are frozen, and each server's ignoredSocketErrors is its own copy: pushing into one server's list (or the array given) changes no other server", async () => {
    const { createServer, DEFAULT_SERVER_OPTIONS, DEFAULT_FORWARDED_ALLOW_IPS, resolveOptions } = await import("../src/server/index.ts");
    const first = createServer(hello);
    // A library user logs resets on this server only (or ignores one more code).
    first.options.ignoredSocketErrors.push("EIO");
    const second = createServer(hello);
    expect(second.options.ignoredSocketErrors).toEqual(["EPIPE", "ECONNRESET"]);
    expect(resolveOptions().ignoredSocketErrors).toEqual(["EPIPE", "ECONNRESET"]);
    expect(DEFAULT_SERVER_OPTIONS.ignoredSocketErrors).toEqual(["EPIPE", "ECONNRESET"]);
    // The array given is read once, as every other option is.
    const given = ["EPIPE"];
    const third = createServer(hello, { ignoredSocketErrors: given });
    given.push("ECONNRESET");
    expect(third.options.ignoredSocketErrors).toEqual(["EPIPE"]);
    // Writing a default (from plain JavaScript, past the readonly types) throws instead of changing later servers.
    const writes: Array<[string, () => unknown]> = [
      ["DEFAULT_SERVER_OPTIONS.port", () => ((DEFAULT_SERVER_OPTIONS as { port: number }).port = 1)],
      ["DEFAULT_SERVER_OPTIONS.ignoredSocketErrors", () => (DEFAULT_SERVER_OPTIONS.ignoredSocketErrors as unknown as string[]).push("EIO")],
      ["DEFAULT_FORWARDED_ALLOW_IPS", () => (DEFAULT_FORWARDED_ALLOW_IPS as string[]).push("*")],
    ];
    for (const [name, write] of writes) {
      let thrown: unknown = null;
      try {
        write();
      } catch (error) {
        thrown = error;
      }
      expect(`${name}: ${thrown instanceof TypeError}`).toBe(`${name}: true`);
    }
    expect(createServer(hello).options.port).toBe(8000);
    expect([...DEFAULT_FORWARDED_ALLOW_IPS]).toEqual(["127.0.0.1", "::1"]);
  });

  test("a hostname that is not a string (5, null, an object, an array) is a TypeError naming the option from resolveOptions(), createServer(), serve() and makeServer(), as the other options' (before: accepted, then serve() failed with 'host.includes is not a function', null with Bun's 'Expected either \"hostname\" or \"unix\"', and an array was bound as its string)", async () => {
    const { createServer, resolveOptions, serve } = await import("../src/server/index.ts");
    const { makeServer } = await import("../src/toolkit/simple-server.ts");
    const want = 'server option hostname must be a string (an address such as "127.0.0.1", "0.0.0.0" or "::", or a host name), got ';
    for (const [hostname, shown] of [[5, "5"], [null, "null"], [{}, "{}"], [["127.0.0.1"], '["127.0.0.1"]']] as const) {
      const options = { hostname: hostname as unknown as string, port: 0 };
      const made: Array<{ close(): unknown }> = [];
      const outcomes = [() => resolveOptions(options), () => made.push(createServer(hello, options)), () => made.push(serve(hello, options))].map((f) => {
        try {
          f();
          return "accepted";
        } catch (error) {
          return String(error);
        }
      });
      for (const s of made) await s.close();
      expect(outcomes).toEqual([`TypeError: ${want}${shown}`, `TypeError: ${want}${shown}`, `TypeError: ${want}${shown}`]);
      // makeServer(host) takes "" (and a missing host) as 127.0.0.1, as wsgiref's make_server('') binds a default: null stays that.
      if (hostname !== null) expect(() => makeServer(hostname as unknown as string, 0, hello, { log: null })).toThrow(`${want}${shown}`);
    }
    // A string still binds, "" as the default.
    const bound = serve(hello, { hostname: "", port: 0 });
    try {
      expect(bound.hostname).toBe("127.0.0.1");
    } finally {
      await bound.close();
    }
  });

  test("a handlerClass, environClass, ignoredSocketErrors (or environ, tls, urlScheme, serverName, unix, multiprocess, logFormat, log, errorLog) of the wrong type is a TypeError naming the option from createServer() and makeServer(), not an empty reply to every request later", async () => {
    const { createServer } = await import("../src/server/server.ts");
    const { makeServer } = await import("../src/toolkit/simple-server.ts");
    const bad: Array<[string, Record<string, unknown>]> = [
      ["handlerClass", { handlerClass: "x" }],
      ["handlerClass", { handlerClass: () => new RequestHandler(null!, "", 0) }],
      ["handlerClass", { handlerClass: class NotAHandler {} }],
      ["environClass", { environClass: 5 }],
      ["environClass", { environClass: {} }],
      ["ignoredSocketErrors", { ignoredSocketErrors: "EPIPE" }],
      ["ignoredSocketErrors", { ignoredSocketErrors: null }],
      ["ignoredSocketErrors", { ignoredSocketErrors: [32] }],
      ["environ", { environ: "ab" }],
      ["tls", { tls: 5 }],
      ["urlScheme", { urlScheme: 5 }],
      ["serverName", { serverName: 5 }],
      ["unix", { unix: 5 }],
      ["multiprocess", { multiprocess: "yes" }],
      ["logFormat", { logFormat: 5 }],
      ["log", { log: 5 }],
      ["errorLog", { errorLog: {} }],
    ];
    for (const [key, options] of bad) {
      expect(() => createServer(hello, options)).toThrow(new RegExp(`^server option ${key} must be`));
      let thrown: unknown = null;
      try {
        makeServer("127.0.0.1", 0, hello, { ...options, log: null });
      } catch (error) {
        thrown = error;
      }
      if (key !== "log") expect(`${key}: ${String(thrown)}`).toStartWith(`${key}: TypeError: server option ${key} must be`);
    }
    // What was accepted still is: a RequestHandler subclass, an environ class, a null environ and error log, a logger.
    class Sub extends RequestHandler {}
    class Env {
      constructor(init: Environ) {
        Object.assign(this, init, { "app.built": "yes" });
      }
    }
    const seen: string[] = [];
    const { port } = start((environ, sr) => (seen.push(String(environ["app.built"])), hello(environ, sr)), {
      handlerClass: Sub,
      environClass: Env as unknown as new (init: Environ) => Environ,
      environ: null as unknown as undefined,
      ignoredSocketErrors: [],
    });
    const r = await rawOne(port, get("/duck", "Connection: close\r\n"));
    expect(r.response!.body.toString()).toBe("hi /duck");
    expect(seen).toEqual(["yes"]);
    expect(() => createServer(hello, { log: { info: () => {}, error: () => {} }, errorLog: null })).not.toThrow();
    // tls: null (a JS config's `tls: useTls ? files : null`) meant no TLS before the checks, and still does.
    const plain = createServer(hello, { tls: null as unknown as undefined, port: 0 }).listen();
    try {
      expect(plain.url).toStartWith("http://");
      expect(await (await fetch(plain.url)).text()).toBe("hi /");
    } finally {
      await plain.close();
    }
    // A logger that is itself a function carrying info()/error() (roarr's, ololog's) is a LogTarget too:
    // it took both logs before the option checks, and still does (before this fix: "server option log must be ...").
    const lines: string[] = [];
    const fnLogger = Object.assign((m: string) => void lines.push(`call ${m}`), {
      info: (m: string) => void lines.push(`info ${m}`),
      error: (m: string) => void lines.push(`error ${m}`),
    });
    const withFn = start(
      (environ, sr) => {
        environ["tsgi.errors"].write("from the app\n");
        return hello(environ, sr);
      },
      { log: fnLogger, errorLog: fnLogger },
    );
    expect((await rawOne(withFn.port, get("/fn", "Connection: close\r\n"))).response!.body.toString()).toBe("hi /fn");
    const deadline = Date.now() + 2000;
    while (lines.length < 2 && Date.now() < deadline) await Bun.sleep(20);
    expect(lines.some((l) => l.startsWith("info ") && l.includes('"GET /fn HTTP/1.1" 200'))).toBe(true);
    expect(lines).toContain("error from the app");
    expect(() => createServer(hello, { log: Object.assign(() => {}, { write: () => {} }) as never })).not.toThrow();
  });
});

describe("hooks that fail (application code: a 500 and one log line, as for the app's own errors)", () => {
  /** Collects unhandled rejections while `run` runs and a little after (a hook's Promise left to reject). */
  async function noUnhandled(run: () => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const onRejection = (reason: unknown) => void seen.push(String(reason));
    process.on("unhandledRejection", onRejection);
    try {
      await run();
      await Bun.sleep(50);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
    return seen;
  }

  /** A POST whose 5-byte body the app never reads: the connection goes on after it when its framing allows. */
  const post = (path: string) => `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello`;

  test("getStderr(), getEnviron() or the environClass constructor that throws: 500 for that request, logged with the hook's name and the request line, the connection kept (pipelined requests after it answered), other connections served", async () => {
    let failNext = false;
    class StderrFails extends RequestHandler {
      override getStderr(): ErrorStream {
        if (failNext) {
          failNext = false;
          throw new Error("stderr down");
        }
        return super.getStderr();
      }
    }
    class EnvironFails extends RequestHandler {
      override getEnviron(environ: Environ) {
        if (environ.PATH_INFO === "/bad") throw new Error(`no environ for ${environ.REQUEST_METHOD}`);
        return environ;
      }
    }
    class StrictEnviron {
      constructor(init: Environ) {
        if (init.PATH_INFO === "/bad") throw new Error("environClass refused");
        Object.assign(this, init);
      }
    }
    const cases: Array<[string, Parameters<typeof start>[1], string, string]> = [
      ["getEnviron", { handlerClass: EnvironFails }, "Error in RequestHandler.getEnviron() for GET /bad HTTP/1.1: Error: no environ for GET", "Error in RequestHandler.getEnviron() for POST /bad HTTP/1.1: Error: no environ for POST"],
      ["environClass", { environClass: StrictEnviron as unknown as new (init: Environ) => Environ }, "Error in the environClass constructor for GET /bad HTTP/1.1: Error: environClass refused", "Error in the environClass constructor for POST /bad HTTP/1.1: Error: environClass refused"],
    ];
    for (const [name, options, getLine, postLine] of cases) {
      const { port, errors } = start(hello, options);
      const r = await raw(port, [get("/ok"), get("/bad"), post("/bad"), get("/after")].join(""), {
        until: (d) => parseResponses(d).filter((x) => x.complete).length === 4,
      });
      const responses = parseResponses(r.data);
      expect(`${name}: ${responses.map((x) => `${x.status} ${x.headers.connection ?? "-"}`).join(", ")}`).toBe(`${name}: 200 -, 500 -, 500 -, 200 -`);
      expect(responses[1]!.body.toString()).toBe("Internal Server Error\n");
      expect(responses[3]!.body.toString()).toBe("hi /after");
      expect(r.closed).toBe(false);
      const text = errors.join("");
      expect(text).toContain(getLine);
      expect(text).toContain(postLine);
      expect(text).not.toContain("Error in socket");
      // One report per failed request.
      expect(`${name}: ${text.split("Error in ").length - 1}`).toBe(`${name}: 2`);
      const other = await rawOne(port, get("/other", "Connection: close\r\n"));
      expect(other.response!.status).toBe(200);
    }
    // getStderr() fails for one request (it runs before the environ exists): that one is a 500, the next is served.
    const { port, errors } = start(hello, { handlerClass: StderrFails });
    failNext = true;
    const responses = await pipelined(port, ["/x", "/y"]);
    expect(responses.map((x) => `${x.status} ${x.headers.connection ?? "-"}`)).toEqual(["500 -", "200 -"]);
    expect(errors.join("")).toContain("Error in RequestHandler.getStderr() for GET /x HTTP/1.1: Error: stderr down\n    at ");
    expect(errors.join("")).not.toContain("Error in socket");
  });

  test("a handlerClass constructor that throws: the connection's first request is answered 500 and the connection closed (it has no handler), logged with the request line; the next connection is served", async () => {
    let made = 0;
    class FailsOnce extends RequestHandler {
      constructor(...args: ConstructorParameters<typeof RequestHandler>) {
        super(...args);
        if (made++ === 0) throw new Error("handler setup failed");
      }
    }
    const { port, errors, access } = start(hello, { handlerClass: FailsOnce });
    const r = await raw(port, get("/first") + get("/second"), { timeoutMs: 3000 });
    const responses = parseResponses(r.data);
    expect(responses.map((x) => `${x.status} ${x.headers.connection}`)).toEqual(["500 close"]);
    expect(r.closed).toBe(true);
    const text = errors.join("");
    expect(text).toContain("Error in the handlerClass constructor for GET /first HTTP/1.1: Error: handler setup failed\n    at ");
    expect(text).not.toContain("Error in socket");
    const next = await rawOne(port, get("/next", "Connection: close\r\n"));
    expect(next.response!.status).toBe(200);
    expect(next.response!.body.toString()).toBe("hi /next");
    const lines = await accessLines(access);
    expect(lines.map((l) => l.replace(/^.*"(GET [^"]+)" (\d+).*$/, "$1 $2"))).toEqual(["GET /first HTTP/1.1 500", "GET /next HTTP/1.1 200"]);
  });

  test("a handlerClass constructor that throws for connections that send no request or a malformed one (a probe, a port scanner): logged once per distinct error, at the first such connection's end; a request that comes is still logged with its request line (before: never logged without a request)", async () => {
    let made = 0;
    class AlwaysFails extends RequestHandler {
      constructor(...args: ConstructorParameters<typeof RequestHandler>) {
        super(...args);
        made++;
        throw new Error("handler setup failed: no config");
      }
    }
    const { port, errors } = start(hello, { handlerClass: AlwaysFails });
    // Three probes that connect and close without a byte, each closed after the server accepted it.
    for (let i = 0; i < 3; i++) {
      const before = made;
      await new Promise<void>((resolve) => {
        const s = connect({ host: "127.0.0.1", port });
        const guard = setTimeout(() => (s.destroy(), resolve()), 3000);
        s.on("error", () => {});
        s.on("close", () => (clearTimeout(guard), resolve()));
        s.on("connect", () => void waitFor(() => made > before, 2000).then(() => s.end()));
      });
    }
    const first = "Error in the handlerClass constructor (a connection from 127.0.0.1 that ended before a request reached the application; logged once per distinct error): Error: handler setup failed: no config\n    at ";
    expect(await waitFor(() => errors.join("").includes(first), 2000)).toBe(true);
    // A malformed first request: the 400, and no second line for the same error.
    const bad = await raw(port, "GARBAGE\r\n\r\n", { timeoutMs: 3000 });
    expect(bad.data.toString("latin1")).toStartWith("HTTP/1.1 400 ");
    await Bun.sleep(200);
    expect(made).toBe(4);
    expect(errors.join("").split("Error in the handlerClass constructor").length - 1).toBe(1);
    // A request that comes: its 500, logged with its request line as before.
    const r = await rawOne(port, get("/x", "Connection: close\r\n"));
    expect(r.response!.status).toBe(500);
    expect(await waitFor(() => errors.join("").includes("Error in the handlerClass constructor for GET /x HTTP/1.1: Error: handler setup failed: no config\n"), 2000)).toBe(true);
    expect(errors.join("").split("Error in the handlerClass constructor").length - 1).toBe(2);
  });

  test("getEnviron() returning null, a string, or a Promise (async), and getStderr() returning a Promise or an object without write(): a 500 whose log says what the hook must return; no unhandled rejection", async () => {
    class Wrong extends RequestHandler {
      override getEnviron(environ: Environ): Environ {
        const path = environ.PATH_INFO;
        if (path === "/null") return null as never;
        if (path === "/undefined") return undefined as never;
        if (path === "/string") return "environ" as never;
        if (path === "/async") return Promise.resolve(environ) as never;
        if (path === "/async-reject") return Promise.reject(new Error("async getEnviron failed")) as never;
        return environ;
      }
    }
    const paths = ["/null", "/undefined", "/string", "/async", "/async-reject", "/fine"];
    const rejections = await noUnhandled(async () => {
      const { port, errors } = start(hello, { handlerClass: Wrong });
      const responses = await pipelined(port, paths);
      expect(responses.map((x) => x.status)).toEqual([500, 500, 500, 500, 500, 200]);
      const text = errors.join("");
      expect(text).toContain("Error in RequestHandler.getEnviron() for GET /null HTTP/1.1: TypeError: RequestHandler.getEnviron() must return the environ (an object), got null");
      expect(text).toContain("for GET /undefined HTTP/1.1: TypeError: RequestHandler.getEnviron() must return the environ (an object), got undefined");
      expect(text).toContain("for GET /string HTTP/1.1: TypeError: RequestHandler.getEnviron() must return the environ (an object), got string");
      expect(text).toContain("for GET /async HTTP/1.1: TypeError: RequestHandler.getEnviron() must return the environ (an object), got a Promise: the hooks are called synchronously, not awaited");
      expect(text).toContain("for GET /async-reject HTTP/1.1: TypeError: RequestHandler.getEnviron() must return the environ (an object), got a Promise");
      let stderrCalls = 0;
      class WrongStderr extends RequestHandler {
        override getStderr(): ErrorStream {
          return (stderrCalls++ === 0 ? (async () => this.server.errors)() : { flush() {} }) as never;
        }
      }
      const s = start(hello, { handlerClass: WrongStderr });
      const two = await pipelined(s.port, ["/p", "/q"]);
      expect(two.map((x) => x.status)).toEqual([500, 500]);
      const stderrText = s.errors.join("");
      expect(stderrText).toContain("Error in RequestHandler.getStderr() for GET /p HTTP/1.1: TypeError: RequestHandler.getStderr() must return an error stream (write, writelines and flush methods), got a Promise");
      expect(stderrText).toContain("Error in RequestHandler.getStderr() for GET /q HTTP/1.1: TypeError: RequestHandler.getStderr() must return an error stream (write, writelines and flush methods), got Object");
    });
    expect(rejections).toEqual([]);
  });

  test("an async logRequest() or handleError() that rejects, and an async formatRequest(): logged under the hook's name, no unhandled rejection; the responses are unchanged", async () => {
    // TypeScript refuses these overrides (a Promise is no ErrorResponse or string); JavaScript apps and casts get them through.
    class AsyncHooks extends RequestHandler {
      override async logRequest(): Promise<void> {
        throw new Error("async log sink down");
      }
      override handleError(): ErrorResponse | null {
        return (async () => {
          throw new Error("async handleError failed");
        })() as never;
      }
    }
    class AsyncFormat extends RequestHandler {
      override formatRequest(): string {
        return (async () => {
          throw new Error("async format failed");
        })() as never;
      }
    }
    const failing: Application = () => {
      throw new Error("app failed");
    };
    const rejections = await noUnhandled(async () => {
      const a = start(failing, { handlerClass: AsyncHooks });
      const responses = await pipelined(a.port, ["/fail"]);
      expect(responses.map((x) => x.status)).toEqual([500]);
      await Bun.sleep(20);
      const text = a.errors.join("");
      expect(text).toContain("Error in RequestHandler.logRequest(): Error: async log sink down");
      expect(text).toContain("Error in GET /fail HTTP/1.1: Error: app failed");
      expect(text).toContain("Error in handleError(): TypeError: handleError() must return { status, headers, body: Uint8Array } or null, got a Promise: it is called synchronously, not awaited");
      expect(text).toContain("Error in handleError(): Error: async handleError failed");
      const b = start(hello, { handlerClass: AsyncFormat });
      const ok = await pipelined(b.port, ["/f"]);
      expect(ok.map((x) => x.status)).toEqual([200]);
      expect(b.errors.join("")).toContain(
        "Error in RequestHandler.logRequest(): TypeError: RequestHandler.formatRequest() must return the access-log line as a string, got a Promise: it is called synchronously, not awaited",
      );
      expect(await accessLines(b.access)).toEqual([]);
    });
    expect(rejections).toEqual([]);
  });
});
