/**
 * End-to-end HTTP/1.1 behaviour over real sockets: keep-alive, pipelining,
 * request bodies, 100-continue and response framing.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import type { Application, Environ, InputStream } from "../src/spec.ts";
import { dec, enc, get, parseResponses, raw, rawOne, serverPool } from "./helpers.ts";
import { toFetchHandler } from "../src/fetch/index.ts";
import { RequestInput } from "../src/gateway/input.ts";

const hello: Application = (_e, sr) => {
  sr("200 OK", [["Content-Type", "text/plain"]]);
  return [enc("Hello, world!\n")];
};

/** Echoes the body, tagging the path. Reads with read() unless ?lines. */
const echo: Application = async (environ, sr) => {
  const input = environ["tsgi.input"];
  let body: Uint8Array;
  if (environ.QUERY_STRING === "lines") {
    const parts: Uint8Array[] = [];
    for await (const line of input) parts.push(line);
    body = Buffer.concat(parts);
  } else body = await input.read();
  sr("200 OK", [["Content-Type", "application/octet-stream"], ["X-Path", environ.PATH_INFO]]);
  return [body];
};

const start = serverPool();

describe("basics", () => {
  test("GET answers 200 with Content-Length, Date and Server", async () => {
    const { port } = start(hello);
    const { response } = await rawOne(port, get("/"), { until: (d) => d.includes("world!\n") });
    expect(response!.status).toBe(200);
    expect(response!.headers["content-length"]).toBe("14");
    expect(response!.headers.date).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(response!.headers.server).toMatch(/^tsgi\//);
    expect(response!.body.toString()).toBe("Hello, world!\n");
  });

  test("a space inside the request-target gets a 400 that says so (RFC 9112 §3.2), whole or a byte at a time", async () => {
    const { port } = start(hello);
    const msg = "400 Bad Request: Invalid request line: no HTTP-version after the request-target (a space in the target must be sent as %20)\n";
    for (const payload of ["GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", [..."GET /search?q=two words HTTP/1.1\r\nHost: h\r\n\r\n"]]) {
      const { data, closed } = await raw(port, payload, { timeoutMs: 3000, gapMs: 1 });
      const [r] = parseResponses(data);
      expect([r?.status, r?.headers.connection, r?.body.toString(), closed]).toEqual([400, "close", msg, true]);
    }
    // A bad version after a target without spaces keeps its own message.
    const bad = await rawOne(port, "GET / HTTP/1,1\r\nHost: h\r\n\r\n");
    expect(bad.response?.body.toString()).toBe("400 Bad Request: Invalid HTTP version\n");
    // Not a space inside the target: a lowercase version, two spaces before it, a space and no version.
    for (const [line, message] of [
      ["GET /a http/1.1", "Invalid HTTP version (HTTP-name is case-sensitive: HTTP/1.1)"],
      ["GET /a  HTTP/1.1", "Invalid request line: more than one space between the request-target and the HTTP-version"],
      ["GET /a ", "Request line without an HTTP-version after the request-target's space"],
      ["GET /a HTTP/1.1 x", "Invalid request line: something after the HTTP-version (the line must end right after it)"],
    ]) {
      const { data, closed } = await raw(port, `${line}\r\nHost: h\r\n\r\n`, { timeoutMs: 3000 });
      const [r] = parseResponses(data);
      expect([line, r?.status, r?.headers.connection, r?.body.toString(), closed]).toEqual([line, 400, "close", `400 Bad Request: ${message}\n`, true]);
    }
  });

  test("fetch (a real client) gets the response", async () => {
    const { url } = start(hello);
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("Hello, world!\n");
  });
});

describe("keep-alive and pipelining", () => {
  test("HTTP/1.1 keeps the connection for a second request", async () => {
    const { port } = start(hello);
    const r = await raw(port, [get("/a"), get("/b")], { gapMs: 50, until: (d) => d.toString().split("Hello").length === 3 });
    expect(r.closed).toBe(false);
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 200]);
  });

  test("HTTP/1.0 without keep-alive closes after the response", async () => {
    const { port } = start(hello);
    const r = await rawOne(port, "GET / HTTP/1.0\r\n\r\n");
    expect(r.closed).toBe(true);
    expect(r.response!.status).toBe(200);
    expect(r.response!.headers.connection).toBe("close");
  });

  test("HTTP/1.0 with Connection: keep-alive is kept alive and echoed", async () => {
    const { port } = start(hello);
    const r = await raw(port, ["GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"], {
      gapMs: 50,
      until: (d) => d.toString().split("Hello").length === 3,
    });
    const rs = parseResponses(r.data);
    expect(rs.length).toBe(2);
    expect(rs[0]!.headers.connection).toBe("keep-alive");
    expect(r.closed).toBe(false);
  });

  test("Connection: close is honoured and echoed", async () => {
    const { port } = start(hello);
    const r = await rawOne(port, get("/", "Connection: close\r\n"));
    expect(r.closed).toBe(true);
    expect(r.response!.headers.connection).toBe("close");
  });

  test("pipelined requests are answered in order, even when later ones finish first", async () => {
    const app: Application = async (environ, sr) => {
      const delay = Number(environ.QUERY_STRING);
      await Bun.sleep(delay);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${environ.PATH_INFO}\n`)];
    };
    const { port } = start(app);
    const payload = get("/1?60") + get("/2?0") + get("/3?30") + get("/4?0");
    const r = await raw(port, payload, { until: (d) => d.includes("/4\n") });
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(["/1\n", "/2\n", "/3\n", "/4\n"]);
  });

  test("100 pipelined requests in one write all get answers, in order", async () => {
    const app: Application = (environ, sr) => {
      sr("200 OK", []);
      return [enc(environ.PATH_INFO)];
    };
    const { port } = start(app);
    let payload = "";
    for (let i = 0; i < 100; i++) payload += get(`/${i}`);
    const r = await raw(port, payload, { until: (d) => d.includes("/99") });
    const bodies = parseResponses(r.data).map((x) => x.body.toString());
    expect(bodies).toEqual(Array.from({ length: 100 }, (_, i) => `/${i}`));
  });

  test("a pipelined POST body is not taken for the next request", async () => {
    const { port } = start(echo);
    const payload = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\nGET /smuggled HTTP" + get("/after");
    const r = await raw(port, payload, { until: (d) => d.includes("/after") });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.headers["x-path"])).toEqual(["/p", "/after"]);
    expect(rs[0]!.body.toString()).toBe("GET /smuggled HTTP");
  });
});

describe("request bodies", () => {
  test("a request without a body reads as empty every way, during and after its response, and each request's tsgi.input is its own", async () => {
    const inputs: Array<InputStream & { mark?: string }> = [];
    const show = (b: Uint8Array) => String(b.length);
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"] as InputStream & { mark?: string };
      const seen = [
        input.mark ?? "-",
        show(await input.read()),
        show(await input.read(0)),
        show(await input.read(10)),
        show(await input.read1!()),
        show(await input.readline()),
        String((await input.readlines()).length),
      ];
      let lines = 0;
      for await (const _ of input) lines++;
      seen.push(String(lines));
      input.mark = environ.PATH_INFO;
      // The input of the request before, read after its response went out.
      const earlier = inputs.at(-1);
      if (earlier !== undefined) seen.push(earlier === input ? "same" : "own", earlier.mark ?? "-", show(await earlier.read()), show(await earlier.readline()));
      inputs.push(input);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(seen.join(" "))];
    };
    const { port } = start(app);
    // Three bodiless requests pipelined on one connection: two without a framing field, one with Content-Length 0.
    const r = await rawOne(port, get("/a") + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + get("/c"), {
      until: (d) => d.toString().split("HTTP/1.1 200").length === 4,
    });
    expect(r.responses.map((x) => x.body.toString())).toEqual(["- 0 0 0 0 0 0 0", "- 0 0 0 0 0 0 0 own /a 0 0", "- 0 0 0 0 0 0 0 own /b 0 0"]);
  });

  test("nothing an app does to a bodiless tsgi.input (overlapping reads, its internal methods, fields and methods set) reaches another request's, on its connection or another, or a body's", async () => {
    type Loose = RequestInput & Record<string | symbol, unknown>;
    // What a new bodiless input shows of the state every bodiless one shares (frozen), as it is before any request.
    const shared = RequestInput.prototype;
    const fields = () => {
      const b = RequestInput.bodiless();
      return JSON.stringify([b.complete, b.continueOwed, b.failure, b.bytesRead, b.takeWhole(), Object.keys(b), Bun.inspect(b)]);
    };
    const pristine = fields();
    const printed = Bun.inspect(RequestInput.bodiless());
    const lengths = (bs: Uint8Array[]) => bs.map((b) => b.length).join("+");
    let leftWaiting: Promise<string> | undefined;
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"] as Loose;
      const seen: string[] = [];
      if (environ.PATH_INFO === "/echo") {
        seen.push(dec(await input.read()), String(input.bytesRead));
      } else {
        seen.push(
          Object.keys(input).join(",") || "no-own",
          input.read === RequestInput.prototype.read && !Object.hasOwn(input, Symbol.asyncIterator) ? "methods" : "replaced",
          `${input.complete} ${input.continueOwed} ${input.failure} ${input.bytesRead} ${input.takeWhole()}`,
          `${JSON.stringify(input)} ${Object.keys(structuredClone(input)).length} ${Bun.inspect(input) === printed}`,
          `${environ["tsgi.input_terminated"]} ${environ.CONTENT_LENGTH}`,
          Object.getPrototypeOf(input) === shared ? "shared" : "other",
          fields() === pristine ? "pristine" : `written ${fields()}`,
        );
        const lines: Uint8Array[] = [];
        for await (const line of input) lines.push(line);
        seen.push(lengths([await input.read(), await input.read(4), await input.read1!(), await input.readline(), ...(await input.readlines()), ...lines]));
      }
      if (environ.PATH_INFO === "/abuse") {
        // Reads of every kind started together (nothing waits: all resolve, none is refused).
        const all = await Promise.allSettled([input.read(), input.read(5), input.read1!(), input.read1!(3), input.readline(), input.readline(2), input.readlines(), Array.fromAsync(input)]);
        seen.push(all.map((r) => (r.status === "fulfilled" ? r.value.length : "rejected")).join(","));
        // The feeder's and the internal methods, as an app can reach them.
        const loose = input as unknown as Record<string, (...a: unknown[]) => unknown>;
        loose.push!(enc("LEAK\n"));
        loose.end!();
        loose.fail!(new Error("LEAK"));
        loose.discard!();
        input.setHundredContinueResponseHeaders([["X-Leak", "1"]]);
        await input.sendHundredContinueResponse();
        for (const m of ["notify", "real", "reject", "lineEnd", "shiftChunk"]) {
          try {
            loose[m]!(new Error("LEAK"));
          } catch {
            // the frozen shared state refuses (TypeError), null is thrown: the point is only what is written where
          }
        }
        // A field of its own named as the state's changes nothing: fed, it stays ended and empty, and reads end at once.
        (input as unknown as { ended: boolean }).ended = false;
        loose.push!(enc("LE"));
        loose.push!(enc("AK\n"));
        loose.push!(new Uint8Array(2000));
        seen.push(`[${dec(await input.readline())}]`);
        leftWaiting = input.read(1_000_000).then((b) => `resolved ${b.length}`, (e: Error) => e.message);
        seen.push(await input.read1!().then(() => "not refused", (e: Error) => (e.message.includes("must not overlap") ? "overlap refused" : e.message)));
        // Fields and methods of its own.
        input.mark = "LEAK";
        Object.defineProperty(input, "bytesRead", { value: 99 });
        input.read = async () => enc("LEAK");
        input[Symbol.asyncIterator] = async function* () {
          yield enc("LEAK");
        };
        try {
          loose.take!(3);
        } catch {
          // the frozen shared state refuses (TypeError): nothing moved
        }
      }
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(seen.join(" | "))];
    };
    const { port, errors } = start(app);
    const post = (path: string, body = "") => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const count = (n: number) => (d: Buffer) => d.toString().split("HTTP/1.1 200").length === n + 1;
    const a = await rawOne(port, get("/probe") + get("/abuse") + get("/probe") + post("/probe") + post("/echo", "abc") + get("/probe"), { until: count(6) });
    const b = await rawOne(port, post("/abuse") + get("/probe") + post("/echo", "de\nf"), { until: count(3) });
    const [c, d] = await Promise.all([rawOne(port, get("/probe"), { until: count(1) }), rawOne(port, post("/probe"), { until: count(1) })]);
    const bodies = [...a.responses, ...b.responses, ...c.responses, ...d.responses].map((r) => r.body.toString());
    const GET = "no-own | methods | true false null 0 null | {} 0 true | true undefined | shared | pristine | 0+0+0+0";
    const POST = GET.replace("true undefined", "true 0");
    const ABUSE = " | 0,0,0,0,0,0,0,0 | [] | not refused";
    expect(bodies).toEqual([GET, GET + ABUSE, GET, POST, "abc | 3", GET, POST + ABUSE, GET, "de\nf | 4", GET, POST]);
    expect(await leftWaiting).toBe("resolved 0");
    expect(fields()).toBe(pristine);
    expect(errors.join("")).toBe("");
  });

  test("Content-Length body is read whole", async () => {
    const { port } = start(echo);
    const r = await rawOne(port, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", { until: (d) => d.includes("hello world") });
    expect(r.response!.body.toString()).toBe("hello world");
  });

  test("chunked body arrives decoded; extensions ignored, trailers dropped", async () => {
    const { port } = start(echo);
    const payload = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    const r = await rawOne(port, payload, { until: (d) => d.includes("hello world") });
    expect(r.response!.status).toBe(200);
    expect(r.response!.body.toString()).toBe("hello world");
  });

  test("a body sent one byte at a time is received intact", async () => {
    const { port } = start(echo);
    const text = "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    const r = await rawOne(port, text.split(""), { gapMs: 1, until: (d) => d.includes("abcde") });
    expect(r.response!.body.toString()).toBe("abcde");
  });

  test("readline / async iteration by lines", async () => {
    const { port } = start(echo);
    const r = await rawOne(port, "POST /l?lines HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\none\ntwo\nthree", { until: (d) => d.includes("three") });
    expect(r.response!.body.toString()).toBe("one\ntwo\nthree");
  });

  test("read(size) never passes the end of the body", async () => {
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"];
      const a = await input.read(3);
      const b = await input.read(100);
      const c = await input.read(10);
      sr("200 OK", []);
      return [enc(`${a.length},${b.length},${c.length}`)];
    };
    const { port } = start(app);
    const r = await rawOne(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde" + get("/next"), {
      until: (d) => d.includes("3,2,0"),
    });
    expect(r.responses[0]!.body.toString()).toBe("3,2,0");
  });

  test("a body the app did not read is drained, and the connection still serves", async () => {
    const { port } = start(hello);
    const r = await raw(port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789" + get("/y"), {
      until: (d) => d.toString().split("Hello").length === 3,
    });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 200]);
  });

  test("a 256 KiB-1 MiB body the app never read, all of it received before the response ended: the next request on the connection is served at once", async () => {
    // Over the input's high-water mark (256 KiB then, 64 KiB now) the socket was paused, and nothing resumed it.
    const app: Application = async (environ, sr) => {
      if (environ.REQUEST_METHOD === "POST") await Bun.sleep(100); // the whole body arrives meanwhile
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`${environ.REQUEST_METHOD} answered`)];
    };
    const { port } = start(app);
    for (const size of [300_000, 600_000, 1_000_000]) {
      const started = Date.now();
      // The next request comes after the response, as a keep-alive client sends it.
      const r = await raw(port, [`POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${"x".repeat(size)}`, get("/next")], {
        gapMs: 300,
        timeoutMs: 4000,
        until: (d) => d.includes("GET answered"),
      });
      expect(parseResponses(r.data).map((x) => `${x.status} ${x.body}`), String(size)).toEqual(["200 POST answered", "200 GET answered"]);
      expect(Date.now() - started).toBeLessThan(3000);
    }
  }, 20_000);

  test("a response that starts with more than 1 MiB of body still to come, or a chunked body unfinished, says Connection: close; up to 1 MiB is drained and the connection kept (RFC 9112 §9.6)", async () => {
    const partial: Application = async (environ, sr) => {
      const first = await environ["tsgi.input"].read(5);
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc(`read ${first.length}`)];
    };
    const { port } = start(partial);
    const post = (fields: string) => `POST /up HTTP/1.1\r\nHost: x\r\n${fields}\r\n`;
    // 2,000,000 bytes announced, 100 sent before the app answers: too much to drain.
    const big = await raw(port, [post("Content-Length: 2000000\r\n") + "x".repeat(100), "x".repeat(1_999_900)], { gapMs: 150, timeoutMs: 5000 });
    const bigResponses = parseResponses(big.data);
    expect(bigResponses.map((x) => [x.status, x.headers.connection, x.body.toString()])).toEqual([[200, "close", "read 5"]]);
    expect(big.closed).toBe(true);
    // 300,000 bytes: drained after the response, and the next request is served on the same connection.
    const small = await raw(port, [post("Content-Length: 300000\r\n") + "x".repeat(100), "x".repeat(299_900) + get("/next")], {
      gapMs: 150,
      timeoutMs: 5000,
      until: (d) => d.includes("read 0"),
    });
    const smallResponses = parseResponses(small.data);
    expect(smallResponses.map((x) => `${x.status} ${x.headers.connection ?? "(keep-alive)"}`)).toEqual(["200 (keep-alive)", "200 (keep-alive)"]);
    // Chunked, unfinished when the response starts: its size is unknown, so the connection closes.
    const chunked = await raw(port, [post("Transfer-Encoding: chunked\r\n") + "64\r\n" + "x".repeat(100) + "\r\n", "5\r\nxxxxx\r\n0\r\n\r\n"], { gapMs: 150, timeoutMs: 5000 });
    expect(parseResponses(chunked.data).map((x) => [x.status, x.headers.connection])).toEqual([[200, "close"]]);
    expect(chunked.closed).toBe(true);
  }, 20_000);

  test("a large upload is streamed and counted exactly", async () => {
    const app: Application = async (environ, sr) => {
      let n = 0;
      let sum = 0;
      for (;;) {
        const c = await environ["tsgi.input"].read(65536);
        if (c.length === 0) break;
        n += c.length;
        for (let i = 0; i < c.length; i += 4096) sum = (sum + c[i]!) % 65521;
      }
      sr("200 OK", []);
      return [enc(`${n}:${sum}`)];
    };
    const { url } = start(app);
    const body = new Uint8Array(8 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    let expected = 0;
    for (let i = 0; i < body.length; i += 4096) expected = (expected + body[i]!) % 65521;
    const res = await fetch(url, { method: "POST", body });
    expect(await res.text()).toBe(`${body.length}:${expected}`);
  });
});

describe("Expect: 100-continue", () => {
  const reader: Application = async (environ, sr) => {
    const body = await environ["tsgi.input"].read();
    sr("200 OK", []);
    return [body];
  };

  test("100 Continue goes out only when the app reads, then the body is read", async () => {
    let readStarted = 0;
    const app: Application = async (environ, sr) => {
      await Bun.sleep(80);
      readStarted = Date.now();
      return reader(environ, sr);
    };
    const { port } = start(app);
    const { connect } = await import("node:net");
    const got = await new Promise<{ firstAt: number; data: string }>((resolve, reject) => {
      const sock = connect({ host: "127.0.0.1", port });
      let data = "";
      let firstAt = 0;
      const timer = setTimeout(() => reject(new Error(`timeout: ${data}`)), 3000);
      sock.on("data", (d) => {
        if (!firstAt) firstAt = Date.now();
        data += d.toString("latin1");
        if (data.startsWith("HTTP/1.1 100 Continue\r\n\r\n") && !data.includes("200 OK")) sock.write("hello");
        if (data.includes("hello") && data.includes("200 OK")) {
          clearTimeout(timer);
          sock.destroy();
          resolve({ firstAt, data });
        }
      });
      sock.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    });
    expect(got.data.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")).toBe(true);
    expect(got.firstAt).toBeGreaterThanOrEqual(readStarted);
  });

  test("read(0) and readline(0) are reads too: they send 100 Continue at once (as gevent does)", async () => {
    for (const how of ["read", "readline"] as const) {
      const app: Application = async (environ, sr) => {
        const input = environ["tsgi.input"];
        const none = how === "read" ? await input.read(0) : await input.readline(0);
        await Bun.sleep(500); // no other read for a while: only the zero-size one can have sent the 100
        const body = await input.read();
        sr("200 OK", []);
        return [enc(`${none.length}:`), body];
      };
      const { port } = start(app);
      const r = await raw(port, ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"], {
        until: (d) => d.includes("100 Continue"),
        timeoutMs: 300,
      });
      expect([how, r.data.toString("latin1")]).toEqual([how, "HTTP/1.1 100 Continue\r\n\r\n"]);
    }
  });

  test("no 100 Continue when the app answers without reading; the connection closes", async () => {
    const { port } = start(hello);
    const r = await rawOne(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    expect(r.data.toString()).not.toContain("100 Continue");
    expect(r.response!.status).toBe(200);
    expect(r.response!.headers.connection).toBe("close");
    expect(r.closed).toBe(true);
  });

  test("a client that sends the body without waiting for the 100 keeps its connection when the app answers without reading (h2load, got)", async () => {
    const { port } = start(hello);
    // h2load --h1 -H 'Expect: 100-continue' -d file, got and Node's http.request with the
    // header set write the head and the body at once; the server's drain takes the body.
    const body = "x".repeat(200_000);
    const head = (n: number) => `POST /${n} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`;
    const r = await raw(port, [head(1) + body.slice(0, 1000), body.slice(1000), head(2) + body, "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"], {
      gapMs: 50,
      until: (d) => d.toString("latin1").split("Hello, world!\n").length === 4,
    });
    const responses = parseResponses(r.data);
    expect(responses.map((x) => `${x.status} ${x.headers.connection ?? "(no Connection field)"}`)).toEqual(["200 (no Connection field)", "200 (no Connection field)", "200 (no Connection field)"]);
    expect(r.data.toString("latin1")).not.toContain("100 Continue");
    expect(r.closed).toBe(false);
  });

  test("no 100 Continue once bytes of the body have arrived (RFC 9110 §10.1.1 MAY omit): sent with the head, or 60 ms later without waiting; keep-alive and pipelining carry on", async () => {
    // The app reads after a while: by then the client that did not wait has sent part of the body.
    const app: Application = async (environ, sr) => {
      await Bun.sleep(Number(environ.QUERY_STRING || "0"));
      const body = await environ["tsgi.input"].read();
      sr("200 OK", []);
      return [enc(`${environ.PATH_INFO}:`), body];
    };
    const { port } = start(app);
    const head = (path: string, te: "length" | "chunked") =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n${te === "length" ? "Content-Length: 5" : "Transfer-Encoding: chunked"}\r\n\r\n`;
    const cases: Array<[string, string[]]> = [
      // Part of the body in the head's packet, the rest 60 ms later; then a pipelined GET.
      ["with the head", [head("/a", "length") + "ab", "cde" + "GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"]],
      // The body's first bytes 60 ms after the head (the client did not wait); the app reads at 90 ms.
      ["60 ms later", [head("/b?90", "length"), "ab", "cde" + head("/c", "chunked") + "2\r\nxy\r\n", "3\r\nzzz\r\n0\r\n\r\n"]],
    ];
    for (const [name, pieces] of cases) {
      const want = pieces.join("").split("HTTP/1.1\r\n").length - 1;
      const r = await raw(port, pieces, { gapMs: 60, until: (d) => parseResponses(d, ["POST"]).length === want });
      const rs = parseResponses(r.data, ["POST"]);
      expect([name, rs.map((x) => `${x.status} ${x.body.toString()}`)]).toEqual([
        name,
        name === "with the head" ? ["200 /a:abcde", "200 /g:"] : ["200 /b:abcde", "200 /c:xyzzz"],
      ]);
      expect([name, r.data.toString("latin1")]).not.toEqual([name, expect.stringContaining("100 Continue")]);
      expect(r.closed).toBe(false);
    }
  });

  test("no 100 Continue for a chunked body that ended (its last-chunk) with the head, even on read(0)", async () => {
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"];
      const zero = await input.read(0); // a read of any kind is the go-ahead, but the body is already all here
      const body = await input.read();
      sr("200 OK", []);
      return [enc(`${zero.length}:${body.length}`)];
    };
    const { port } = start(app);
    const r = await raw(port, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {
      until: (d) => parseResponses(d, ["POST"]).some((x) => x.status === 200),
    });
    const rs = parseResponses(r.data, ["POST"]);
    expect(rs.map((x) => `${x.status} ${x.body.toString()}`)).toEqual(["200 0:0"]);
    expect(r.data.toString("latin1")).not.toContain("100 Continue");
  });

  test("HTTP/1.0 expectations are ignored", async () => {
    const { port } = start(reader);
    const r = await rawOne(port, "POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
    expect(r.data.toString()).not.toContain("100 Continue");
    expect(r.response!.body.toString()).toBe("hi");
  });

  test("eventlet extension: headers on 100 Continue and several 100 responses", async () => {
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"];
      input.setHundredContinueResponseHeaders!([["Hundred-Continue-Header-1", "H1"]]);
      const a = await input.read(2);
      await input.sendHundredContinueResponse!();
      const b = await input.read();
      sr("200 OK", []);
      return [a, b];
    };
    const { port } = start(app);
    const r = await raw(port, ["PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", "ab", "cd"], {
      gapMs: 60,
      until: (d) => d.includes("abcd"),
    });
    const rs = parseResponses(r.data, ["PUT"]);
    expect(rs.map((x) => x.status)).toEqual([100, 100, 200]);
    expect(rs[0]!.headers["hundred-continue-header-1"]).toBe("H1");
    expect(rs[2]!.body.toString()).toBe("abcd");
  });
});

describe("Expect and 100 Continue: what may go out", () => {
  /** Echoes the body after `setup(tsgi.input)`, which may set the 100 Continue's headers. */
  const continuing =
    (setup: (input: InputStream) => void = () => {}): Application =>
    async (environ, sr) => {
      const input = environ["tsgi.input"];
      setup(input);
      const body = await input.read();
      sr("200 OK", []);
      return [body];
    };
  /** A POST of "abc" that waits for 100 Continue: the head, then the body 100 ms later. */
  const postExpecting = (port: number) =>
    raw(port, ["POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "abc"], { gapMs: 100, until: (d) => d.includes("abc") });

  test("100 Continue headers are checked as startResponse's: CR/LF in a value is a TypeError, nothing is injected", async () => {
    let thrown = "";
    const app = continuing((input) => {
      try {
        input.setHundredContinueResponseHeaders!([["X-C", "a\r\nX-Injected: yes"]]);
      } catch (e) {
        thrown = String(e);
      }
      try {
        input.setHundredContinueResponseHeaders!([["X Bad", "v"]]);
      } catch (e) {
        thrown += ` | ${e}`;
      }
    });
    const { port } = start(app);
    const r = await postExpecting(port);
    expect(thrown).toContain("TypeError: setHundredContinueResponseHeaders(): value of header X-C");
    expect(thrown).toContain('header name "X Bad" is not a valid field-name');
    expect(r.data.toString()).not.toContain("Injected");
    const rs = parseResponses(r.data, ["POST"]);
    expect(rs.map((x) => x.status)).toEqual([100, 200]);
  });

  test("framing and hop-by-hop fields are not sent in a 100 Continue (RFC 9110 §8.6); the others are", async () => {
    const app = continuing((input) =>
      input.setHundredContinueResponseHeaders!([["Content-Length", "5"], ["Connection", "close"], ["Transfer-Encoding", "chunked"], ["Upgrade", "h2c"], ["X-Ok", "1"]]),
    );
    const { port } = start(app);
    const r = await postExpecting(port);
    const interim = r.data.toString("latin1").split("\r\n\r\n")[0]!;
    expect(interim).toBe("HTTP/1.1 100 Continue\r\nX-Ok: 1");
    expect(parseResponses(r.data, ["POST"]).map((x) => x.status)).toEqual([100, 200]);
  });

  test("a server limited to HTTP/1.0 (maxHttpVersion) sends an HTTP/1.1 client its 100 Continue (as gevent and eventlet; RFC 9110 §15.2 is about the client's version), an HTTP/1.0 client none", async () => {
    const { port } = start(continuing(), { maxHttpVersion: "HTTP/1.0" });
    // The body goes only once the 100 came (bounded at 2 s): before, none came and the client had to give up waiting.
    const r = await new Promise<{ data: string; sentBody: boolean }>((resolve) => {
      let data = "";
      let sentBody = false;
      const sock = connect({ host: "127.0.0.1", port });
      const done = () => (clearTimeout(timer), sock.destroy(), resolve({ data, sentBody }));
      const timer = setTimeout(done, 2000);
      sock.on("connect", () => sock.write("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
      sock.on("data", (d: Buffer) => {
        data += d.toString("latin1");
        if (!sentBody && data.includes("\r\n\r\n")) {
          sentBody = true;
          sock.write("abc");
        }
      });
      sock.on("close", done);
    });
    expect(r.sentBody).toBe(true);
    expect(r.data).toStartWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n");
    expect(r.data).toEndWith("abc");
    const old = await raw(port, ["POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "abc"], { gapMs: 100, until: (d) => d.includes("abc") });
    expect(old.data.toString("latin1")).toStartWith("HTTP/1.0 200 OK\r\n");
    expect(old.data.toString()).not.toContain("100 Continue");
  });

  test("an expectation other than 100-continue gets 417 before the app runs (RFC 9110 §10.1.1); others are still served", async () => {
    let ran = 0;
    const { port } = start((_e, sr) => (ran++, sr("200 OK", []), [enc("ok")]));
    for (const expectation of ["100-continue, foo", "200-ok"]) {
      const r = await rawOne(port, `POST / HTTP/1.1\r\nHost: x\r\nExpect: ${expectation}\r\nContent-Length: 2\r\n\r\nhi`);
      expect([expectation, r.response!.status, r.response!.headers.connection, r.closed]).toEqual([expectation, 417, "close", true]);
    }
    expect(ran).toBe(0);
    expect((await rawOne(port, get("/"))).response!.status).toBe(200);
  });
});

describe("response framing", () => {
  const gen: Application = (_e, sr) => {
    sr("200 OK", [["Content-Type", "text/plain"]]);
    return (function* () {
      yield enc("a");
      yield enc("");
      yield enc("bc");
    })();
  };

  test("a generator body is chunked on HTTP/1.1", async () => {
    const { port } = start(gen);
    const r = await rawOne(port, get("/"), { until: (d) => d.includes("0\r\n\r\n") });
    expect(r.response!.framing).toBe("chunked");
    expect(r.response!.complete).toBe(true);
    expect(r.response!.body.toString()).toBe("abc");
  });

  test("a generator body is close-delimited on HTTP/1.0", async () => {
    const { port } = start(gen);
    const r = await rawOne(port, "GET / HTTP/1.0\r\n\r\n");
    expect(r.closed).toBe(true);
    expect(r.response!.framing).toBe("close");
    expect(r.response!.body.toString()).toBe("abc");
  });

  test("an async generator streams", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", []);
      return (async function* () {
        for (let i = 0; i < 3; i++) {
          await Bun.sleep(5);
          yield enc(String(i));
        }
      })();
    };
    const { url } = start(app);
    expect(await (await fetch(url)).text()).toBe("012");
  });

  test("HEAD gets GET's headers and no body", async () => {
    const { port } = start(hello);
    const r = await raw(port, `HEAD / HTTP/1.1\r\nHost: x\r\n\r\n${get("/")}`, { until: (d) => d.includes("world") });
    const rs = parseResponses(r.data, ["HEAD", "GET"]);
    expect(rs[0]!.headers["content-length"]).toBe("14");
    expect(rs[0]!.body.length).toBe(0);
    expect(rs[1]!.body.toString()).toBe("Hello, world!\n");
  });

  test("HEAD answered with an empty body (the app skipped it) gets no Content-Length: 0; the connection stays usable", async () => {
    const app: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return environ.REQUEST_METHOD === "HEAD" ? [] : [enc("hello")];
    };
    const { port } = start(app);
    const r = await raw(port, `HEAD / HTTP/1.1\r\nHost: x\r\n\r\n${get("/")}`, { until: (d) => d.includes("hello") });
    const rs = parseResponses(r.data, ["HEAD", "GET"]);
    expect(rs.map((x) => x.status)).toEqual([200, 200]);
    expect(rs[0]!.headers["content-length"]).toBeUndefined();
    expect(rs[0]!.headers["transfer-encoding"]).toBeUndefined();
    expect(rs[1]!.headers["content-length"]).toBe("5");
  });

  test("a lower-case `head` is another method than HEAD (RFC 9110 §9.1: methods are case-sensitive): its response carries its body, as HAProxy, which forwards `head` as sent, frames it", async () => {
    const { port } = start(hello);
    const r = await raw(port, `head / HTTP/1.1\r\nHost: x\r\n\r\n${get("/")}`, { until: (d) => d.toString("latin1").split("Hello, world!").length === 3 });
    const rs = parseResponses(r.data, ["head", "GET"]);
    expect(rs.map((x) => [x.status, x.body.toString(), x.complete])).toEqual([
      [200, "Hello, world!\n", true],
      [200, "Hello, world!\n", true],
    ]);
  });

  test("a 2xx to CONNECT has no Content-Length or Transfer-Encoding; the body follows and the connection closes (RFC 9110 §8.6)", async () => {
    const { port } = await start((environ, startResponse) => {
      const ok = environ.REQUEST_METHOD === "CONNECT" && environ.HTTP_PROXY_AUTHORIZATION === "ok";
      startResponse(ok ? "200 Connection Established" : "407 Proxy Authentication Required", [["Content-Type", "text/plain"], ["Content-Length", "6"]]);
      return [enc("tunnel")];
    });
    const ok = await raw(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: ok\r\n\r\n");
    const text = ok.data.toString("latin1");
    expect(text).toStartWith("HTTP/1.1 200 Connection Established\r\n");
    const [head, body] = text.split("\r\n\r\n");
    expect(head!.toLowerCase()).not.toContain("content-length");
    expect(head!.toLowerCase()).not.toContain("transfer-encoding");
    expect(head).toContain("Connection: close");
    expect(body).toBe("tunnel");
    expect(ok.closed).toBe(true);
    // Any other status to CONNECT is an ordinary response with its length.
    const denied = await rawOne(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    expect(denied.response!.status).toBe(407);
    expect(denied.response!.headers["content-length"]).toBe("6");
    expect(denied.response!.body.toString()).toBe("tunnel");
  });

  test("204 and 304 carry no body", async () => {
    const app: Application = (environ, sr) => {
      sr(environ.PATH_INFO === "/204" ? "204 No Content" : "304 Not Modified", []);
      return [enc("ignored")];
    };
    const { port } = start(app);
    const r = await raw(port, get("/204") + get("/304") + get("/204"), { until: (d) => d.toString().split("HTTP/1.1").length === 4, timeoutMs: 1500 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([204, 304, 204]);
    expect(r.data.toString()).not.toContain("ignored");
    expect(rs[0]!.headers["content-length"]).toBeUndefined();
    expect(rs[0]!.headers["transfer-encoding"]).toBeUndefined();
  });

  test("205 Reset Content carries no content and says so with Content-Length: 0 (RFC 9110 §15.3.6); the connection is reused", async () => {
    const app: Application = (environ, sr) => {
      if (environ.PATH_INFO === "/205" || environ.REQUEST_METHOD === "CONNECT") {
        sr("205 Reset Content", [["Content-Length", "7"]]);
        return [enc("ignored")];
      }
      sr("200 OK", []);
      return [enc("next")];
    };
    const { port } = start(app);
    const r = await raw(port, get("/205") + get("/"), { until: (d) => d.includes("next"), timeoutMs: 1500 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([205, 200]);
    expect(rs[0]!.headers["content-length"]).toBe("0");
    expect(r.data.toString()).not.toContain("ignored");
    expect(r.closed).toBe(false);
    // To CONNECT, a 2xx has no Content-Length at all (RFC 9110 §8.6), and a 205 still no content.
    const tunnel = await raw(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", { timeoutMs: 1500 });
    expect(tunnel.data.toString("latin1")).toStartWith("HTTP/1.1 205 ");
    expect(tunnel.data.toString("latin1").toLowerCase()).not.toContain("content-length");
    expect(tunnel.data.toString("latin1")).toEndWith("\r\n\r\n");
    expect(tunnel.closed).toBe(true);
  });

  test("hop-by-hop fields from the app (Upgrade, TE, Trailer, Proxy-Connection, ...) are dropped, each warned about once", async () => {
    const dropped = ["Upgrade", "TE", "Trailer", "Trailers", "Proxy-Connection", "Proxy-Authorization"];
    const app: Application = (_e, sr) => {
      sr("200 OK", [...dropped.map((n) => [n, "x"] as [string, string]), ["X-Kept", "1"], ["Proxy-Authenticate", "Basic"]]);
      return [enc("ok")];
    };
    const { port, errors } = start(app);
    const r = await raw(port, get("/") + get("/"), { until: (d) => d.toString().split("ok").length === 3 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([200, 200]);
    expect(dropped.filter((n) => rs[0]!.headers[n.toLowerCase()] !== undefined)).toEqual([]);
    expect(rs[0]!.headers["x-kept"]).toBe("1");
    // Not hop-by-hop in RFC 9110, and a 407 MUST carry it (§15.5.8).
    expect(rs[0]!.headers["proxy-authenticate"]).toBe("Basic");
    const log = errors.join("");
    for (const n of dropped) expect(log.split(`the application set ${n},`).length - 1).toBe(1);
  });

  test("a 426 keeps the app's Upgrade, with the upgrade connection option (RFC 9110 §15.5.22, §7.8); no warning", async () => {
    const app: Application = (_e, sr) => {
      sr("426 Upgrade Required", [["Upgrade", "TLS/1.2, HTTP/1.1"], ["Content-Type", "text/plain"]]);
      return [enc("upgrade")];
    };
    const { port, errors } = start(app);
    const r = await raw(port, get("/") + "GET / HTTP/1.0\r\n\r\n", { until: (d) => d.toString().split("upgrade").length === 3 });
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([426, 426]);
    expect(rs[0]!.headers.upgrade).toBe("TLS/1.2, HTTP/1.1");
    expect(rs[0]!.headers.connection).toBe("Upgrade");
    expect(rs[1]!.headers.connection).toBe("close, Upgrade");
    expect(errors.join("")).not.toContain("hop-by-hop");
  });

  test("on another 4xx (421, 429) the app's Upgrade is hop-by-hop like on a 200: dropped, and no upgrade connection option", async () => {
    const app: Application = (environ, sr) => {
      sr(environ.PATH_INFO === "/421" ? "421 Misdirected Request" : "429 Too Many Requests", [["Upgrade", "h2c"], ["Content-Type", "text/plain"]]);
      return [enc("no")];
    };
    const { port, errors } = start(app);
    const r = await raw(port, get("/421") + get("/429"), { until: (d) => d.toString().split("no").length === 3 });
    const rs = parseResponses(r.data);
    // "-": no such field.
    expect(rs.map((x) => `${x.status} ${x.headers.upgrade ?? "-"} ${x.headers.connection ?? "-"}`)).toEqual(["421 - -", "429 - -"]);
    expect(errors.join("")).toContain("the application set Upgrade,");
  });

  test("the Date of an identical response moves on with the clock (the server's head cache is keyed by it)", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [enc("same")];
    };
    const { port } = start(app);
    const dateOf = async () => (await rawOne(port, get("/"), { until: (d) => d.includes("same") })).response!.headers.date;
    const first = await dateOf();
    expect(first).toMatch(/ GMT$/);
    // The date has one-second resolution: within 3 s (30 polls) a later request must carry a later one.
    let later = first;
    for (let k = 0; k < 30 && later === first; k++) {
      await Bun.sleep(100);
      later = await dateOf();
    }
    expect(later).not.toBe(first);
    expect(Date.parse(later!)).toBeGreaterThan(Date.parse(first!));
  });

  test("an array body longer than its Content-Length: cut, and the response says Connection: close (RFC 9112 §9.6)", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Length", "3"]]);
      return [enc("hello")];
    };
    const { port, errors } = start(app);
    const r = await rawOne(port, get("/") + get("/"));
    expect(r.response!.headers.connection).toBe("close");
    expect(r.data.toString().endsWith("\r\n\r\nhel")).toBe(true);
    expect(r.closed).toBe(true);
    expect(errors.join("")).toContain("more bytes than its Content-Length");
  });

  test("an array body shorter than its Content-Length: the response says Connection: close before it ends short", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Length", "10"]]);
      return [enc("hello")];
    };
    const { port, errors } = start(app);
    const r = await rawOne(port, get("/") + get("/"));
    const text = r.data.toString("latin1");
    expect(text.split("\r\n\r\n")[0]).toContain("\r\nConnection: close");
    expect(text).toEndWith("\r\n\r\nhello");
    expect(r.closed).toBe(true);
    expect(errors.join("")).toContain("Content-Length");
  });

  /** Send `payload`, start reading after `waitMs`, and say how the connection ended (FIN, ECONNRESET, timeout). */
  async function endOf(port: number, payload: string, waitMs = 0, halfClose = false): Promise<{ data: string; how: string }> {
    const { connect } = await import("node:net");
    return new Promise((resolve) => {
      const sock = connect({ host: "127.0.0.1", port });
      const chunks: Buffer[] = [];
      const done = (how: string) => (clearTimeout(timer), resolve({ data: Buffer.concat(chunks).toString("latin1"), how }));
      const timer = setTimeout(() => (sock.destroy(), done("timeout")), 5000);
      sock.on("data", (d: Buffer) => chunks.push(d));
      sock.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? "error"));
      sock.on("end", () => done("FIN"));
      if (halfClose) sock.end(payload);
      else sock.write(payload);
      if (waitMs > 0) {
        sock.pause();
        setTimeout(() => sock.resume(), waitMs);
      }
    });
  }
  const cutAfterPart: Application = (environ, sr) => {
    if (environ.PATH_INFO === "/big") {
      sr("200 OK", []);
      return [new Uint8Array(8 << 20).fill(120)];
    }
    sr("200 OK", []);
    return (function* () {
      yield enc("part");
      throw new Error("failed half-way");
    })();
  };

  test("a close-delimited response (HTTP/1.0) cut by an app error ends with a reset, not a FIN that would make it look whole", async () => {
    const { port, errors } = start(cutAfterPart);
    const outcome = await endOf(port, "GET / HTTP/1.0\r\n\r\n");
    expect(outcome.how).toBe("ECONNRESET");
    expect(errors.join("")).toContain("failed half-way");
    // A response with its own end (chunked, here on HTTP/1.1) still ends with a FIN: the missing last-chunk says enough.
    const chunked = await rawOne(port, get("/"));
    expect(chunked.closed).toBe(true);
    expect(chunked.response!.complete).toBe(false);
  });

  test("a close-delimited response cut because the client's FIN cut its request body (the app passes the ClientDisconnected on) also ends with a reset, not a FIN that would make it look whole", async () => {
    const app: Application = (environ, sr) => {
      sr("200 OK", []);
      return (async function* () {
        yield enc("part");
        await environ["tsgi.input"].read(); // rejects: the body can never be complete
        yield enc("never");
      })();
    };
    const { port } = start(app);
    // HTTP/1.0: the response is close-delimited; the body says 10 bytes, 3 come, then the client half-closes.
    const outcome = await endOf(port, "POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc", 0, true);
    expect(outcome.data).toContain("part");
    expect(outcome.data).not.toContain("never");
    expect(outcome.how).toBe("ECONNRESET");
  });

  test("...but not after an earlier response on the connection: a reset would destroy what a slow reader has not taken of it", async () => {
    const { port } = start(cutAfterPart);
    const outcome = await endOf(port, "GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", 500);
    expect(outcome.how).toBe("FIN");
    const [, first] = outcome.data.split("\r\n\r\n");
    expect(first!.length).toBeGreaterThanOrEqual(8 << 20); // all of the first body, then the second response
    expect(outcome.data).toEndWith("part");
  });

  test("never more bytes than the declared Content-Length", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Length", "3"]]);
      return (function* () {
        yield enc("abcdef");
      })();
    };
    const { port, errors } = start(app);
    const r = await rawOne(port, get("/") + get("/"));
    expect(r.data.toString().endsWith("\r\n\r\nabc")).toBe(true);
    expect(r.closed).toBe(true);
    expect(errors.join("")).toContain("more bytes than its Content-Length");
    // The head was still to go out when the first chunk overran: it announces the close (RFC 9112 §9.6).
    expect(r.response!.headers.connection).toBe("close");
    // HTTP/1.0 keep-alive: "close", not the "keep-alive" echo.
    const r10 = await rawOne(port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get("/"));
    expect(r10.response!.headers.connection).toBe("close");
    expect(r10.data.toString().endsWith("\r\n\r\nabc")).toBe(true);
    expect(r10.closed).toBe(true);
  });

  test("a write() past its Content-Length whose head is still pending: Connection: close, and the head goes out at once (Content-Length: 0 too)", async () => {
    let release: () => void = () => {};
    const app: Application = async (environ, sr) => {
      const declared = environ.PATH_INFO === "/zero" ? "0" : "3";
      const write = sr("200 OK", [["Content-Length", declared]]);
      await write(enc("abcdef"));
      // The app hangs after the write: the client must have the head (and what fits) meanwhile.
      await new Promise<void>((resolve) => (release = resolve));
      return [];
    };
    const { port, errors } = start(app);
    for (const [path, body] of [["/zero", ""], ["/three", "abc"]] as const) {
      const r = await raw(port, get(path) + get("/"), { timeoutMs: 3000, until: (d) => d.toString().endsWith(`\r\n\r\n${body}`) });
      release();
      // The head (and what fits) came while the app waited.
      expect(r.data.toString()).toEndWith(`\r\n\r\n${body}`);
      const [response] = parseResponses(r.data);
      expect(response!.headers.connection).toBe("close");
      expect(response!.headers["content-length"]).toBe(path === "/zero" ? "0" : "3");
    }
    expect(errors.join("")).toContain("more bytes than its Content-Length");
  });

  test("write() past the declared Content-Length: what fits is sent, the rest dropped, logged once; the call resolves (spec.md, a departure from PEP 3333)", async () => {
    const outcomes: string[] = [];
    const app: Application = async (_e, sr) => {
      const write = sr("200 OK", [["Content-Length", "3"]]);
      for (const part of ["ab", "cdef", "g"]) {
        await write(enc(part)).then(() => outcomes.push(`${part} resolved`), (err) => outcomes.push(`${part} rejected ${err}`));
      }
      return [];
    };
    const { port, errors } = start(app);
    const r = await rawOne(port, get("/") + get("/"));
    expect(r.data.toString().endsWith("\r\n\r\nabc")).toBe(true);
    expect(r.response!.headers.connection).toBeUndefined();
    expect(r.closed).toBe(true);
    expect(outcomes).toEqual(["ab resolved", "cdef resolved", "g resolved"]);
    expect(errors.join("").match(/more bytes than its Content-Length/g)).toHaveLength(1);
  });

  test("fewer bytes than Content-Length close the connection", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["Content-Length", "10"]]);
      return (function* () {
        yield enc("abc");
      })();
    };
    const { port, errors } = start(app);
    const r = await rawOne(port, get("/"));
    expect(r.closed).toBe(true);
    expect(r.response!.complete).toBe(false);
    // The app's mistake, logged as such: the message, without the server's own frames as a stack.
    await Bun.sleep(20);
    expect(errors.join("")).toBe("Error in GET / HTTP/1.1: Error: the application sent 7 bytes fewer than its Content-Length; closing the connection\n");
  });

  test("status line, headers and a small body go out in one write", async () => {
    const { port } = start(hello);
    const { connect } = await import("node:net");
    const packets = await new Promise<number>((resolve) => {
      const sock = connect({ host: "127.0.0.1", port });
      let n = 0;
      let data = "";
      sock.on("data", (d) => {
        n++;
        data += d;
        if (data.includes("world")) setTimeout(() => (sock.destroy(), resolve(n)), 30);
      });
      sock.write(get("/"));
    });
    expect(packets).toBe(1);
  });

  test("an async app's status line, headers and body (its echoed 4 KiB request body) go out in one write", async () => {
    const echo: Application = async (environ, sr) => {
      const data = await environ["tsgi.input"].read();
      sr("200 OK", [["Content-Type", "application/octet-stream"]]);
      return [data];
    };
    const { port } = start(echo);
    const { connect } = await import("node:net");
    const body = "x".repeat(4096);
    const reads = await new Promise<string[]>((resolve) => {
      const sock = connect({ host: "127.0.0.1", port });
      const got: string[] = [];
      sock.on("data", (d) => {
        got.push(d.toString("latin1"));
        if (got.join("").endsWith(body)) setTimeout(() => (sock.destroy(), resolve(got)), 30);
      });
      sock.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n${body}`);
    });
    expect(reads).toHaveLength(1);
    expect(reads[0]!.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true);
    expect(reads[0]!).toContain("\r\nContent-Length: 4096\r\n");
  });

  test("write() callable streams data before the body", async () => {
    const app: Application = async (_e, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/plain"]]);
      await write(enc("via write;"));
      return [enc("via body")];
    };
    const { url } = start(app);
    expect(await (await fetch(url)).text()).toBe("via write;via body");
  });

  test("capitalizeResponseHeaders normalises names", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["x-custom-NAME", "v"]]);
      return [];
    };
    const { port } = start(app, { capitalizeResponseHeaders: true });
    const r = await rawOne(port, get("/"), { until: (d) => d.includes("\r\n\r\n") });
    expect(r.response!.rawHead).toContain("X-Custom-Name: v");
  });

  test("capitalizeResponseHeaders is per server: two servers in one process answering the same response each spell the names their way", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", [["x-custom-NAME", "v"]]);
      return [];
    };
    const capitalized = start(app, { capitalizeResponseHeaders: true });
    const asSent = start(app);
    for (const [port, want] of [[capitalized.port, "X-Custom-Name: v"], [asSent.port, "x-custom-NAME: v"], [capitalized.port, "X-Custom-Name: v"]] as const) {
      const r = await rawOne(port, get("/"), { until: (d) => d.includes("\r\n\r\n") });
      expect([port, r.response!.rawHead.split("\r\n").filter((l) => /^x-custom-name:/i.test(l))]).toEqual([port, [want]]);
    }
  });

  test("capitalizeResponseHeaders normalises the 100 Continue's fields too (as eventlet)", async () => {
    const app: Application = async (environ, sr) => {
      environ["tsgi.input"].setHundredContinueResponseHeaders!([["hundred-continue-header-k", "Hk"]]);
      const body = await environ["tsgi.input"].read();
      sr("200 OK", []);
      return [body];
    };
    const { port } = start(app, { capitalizeResponseHeaders: true });
    const r = await raw(port, ["PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "ab"], {
      gapMs: 60,
      until: (d) => d.includes("\r\n\r\nab"),
    });
    expect(r.data.toString()).toContain("HTTP/1.1 100 Continue\r\nHundred-Continue-Header-K: Hk\r\n\r\n");
  });

  test("minimumChunkSize batches small chunks", async () => {
    const app: Application = (_e, sr) => {
      sr("200 OK", []);
      return (function* () {
        for (let i = 0; i < 10; i++) yield enc("xx");
      })();
    };
    const { port } = start(app, { minimumChunkSize: 8 });
    const r = await rawOne(port, get("/"), { until: (d) => d.includes("0\r\n\r\n") });
    const sizes = r.data.toString().split("\r\n\r\n")[1]!.split("\r\n").filter((_, i) => i % 2 === 0);
    expect(sizes).toEqual(["8", "8", "4", "0"]);
    expect(r.response!.body.toString()).toBe("xx".repeat(10));
  });

  test("environ[\"tsgi.minimum_write_chunk_size\"] sets it per request: larger, smaller, 0 (off)", async () => {
    const app: Application = (e, sr) => {
      const per = new URL(`http://x${e.REQUEST_URI}`).searchParams.get("min");
      if (per !== null) e["tsgi.minimum_write_chunk_size"] = Number(per);
      sr("200 OK", []);
      return (function* () {
        for (let i = 0; i < 10; i++) yield enc("xx");
      })();
    };
    const { port } = start(app, { minimumChunkSize: 8 });
    const cases: Array<[string, string[]]> = [
      ["/", ["8", "8", "4", "0"]],
      ["/?min=12", ["c", "8", "0"]],
      ["/?min=4", ["4", "4", "4", "4", "4", "0"]],
      ["/?min=0", [...Array<string>(10).fill("2"), "0"]],
    ];
    for (const [path, sizes] of cases) {
      const r = await rawOne(port, get(path), { until: (d) => d.includes("0\r\n\r\n") });
      const got = r.data.toString().split("\r\n\r\n")[1]!.split("\r\n").filter((_, i) => i % 2 === 0);
      expect([path, got]).toEqual([path, sizes]);
      expect(r.response!.body.toString()).toBe("xx".repeat(10));
    }
  });
});

describe("environ", () => {
  let seen: Environ | null = null;
  const capture: Application = (environ, sr) => {
    seen = environ;
    sr("200 OK", []);
    return [];
  };

  test("serverName and serverSoftware set SERVER_NAME and SERVER_SOFTWARE (cheroot server_name)", async () => {
    const { port } = start(capture, { serverName: "api.example", serverSoftware: "edge/2" });
    const r = await rawOne(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!.SERVER_NAME).toBe("api.example");
    expect(seen!.SERVER_SOFTWARE).toBe("edge/2");
    expect(r.response!.headers.server).toBe("edge/2");
  });

  test("serverName and serverPort are read-only once the server exists: assigning one throws a TypeError, and a keep-alive connection repeating its head (its environ copied from a template) sees the same SERVER_NAME as a new one (before: the assignment went through, new connections saw it, the repeating one kept the old name)", async () => {
    const { port, server } = start(capture, { serverName: "api.example" });
    const names: string[] = [];
    const sock = connect({ host: "127.0.0.1", port });
    sock.on("error", () => {});
    let data = "";
    sock.on("data", (d: Buffer) => (data += d.toString("latin1")));
    await new Promise((r) => sock.on("connect", r));
    try {
      /** The same head byte for byte on the kept-alive connection: from the third on, its environ is a template's copy. */
      const again = async (n: number) => {
        sock.write("GET /same HTTP/1.1\r\nHost: x\r\n\r\n");
        for (let i = 0; i < 200 && data.split("HTTP/1.1 200 ").length - 1 < n; i++) await Bun.sleep(5);
        names.push(String(seen!.SERVER_NAME));
      };
      for (let n = 1; n <= 3; n++) await again(n);
      expect(() => {
        // @ts-expect-error serverName is read-only
        server.serverName = "other.example";
      }).toThrow(TypeError);
      expect(() => {
        // @ts-expect-error serverPort is read-only
        server.serverPort = 1;
      }).toThrow(TypeError);
      await again(4);
      const fresh = await rawOne(port, "GET /new HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
      expect(fresh.response!.status).toBe(200);
      names.push(String(seen!.SERVER_NAME), String(seen!.SERVER_PORT));
      expect(names).toEqual(["api.example", "api.example", "api.example", "api.example", "api.example", String(port)]);
    } finally {
      sock.destroy();
    }
  });

  test("hostname and port are read-only, as serverName and serverPort are: assigning one throws a TypeError, and url, SERVER_NAME and SERVER_PORT stay the bound address's (before: the assignment went through and server.url named a port nothing listens on)", async () => {
    const { port, server } = start(capture);
    expect([server.hostname, server.port, server.url]).toEqual(["127.0.0.1", port, `http://127.0.0.1:${port}/`]);
    expect(() => {
      // @ts-expect-error hostname is read-only
      server.hostname = "0.0.0.0";
    }).toThrow(TypeError);
    expect(() => {
      // @ts-expect-error port is read-only
      server.port = 1;
    }).toThrow(TypeError);
    expect([server.hostname, server.port, server.url]).toEqual(["127.0.0.1", port, `http://127.0.0.1:${port}/`]);
    const r = await rawOne(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(r.response!.status).toBe(200);
    expect([seen!.SERVER_NAME, seen!.SERVER_PORT]).toEqual(["127.0.0.1", String(port)]);
  });

  test("serverName \"\" is a TypeError at creation, not an environ every request's validator() refuses (PEP 3333: SERVER_NAME is never empty)", async () => {
    const { createServer } = await import("../src/server/server.ts");
    const { validator } = await import("../src/toolkit/validate.ts");
    expect(() => createServer(validator(capture), { serverName: "" })).toThrow(/^server option serverName must be a non-empty host name/);
    // A name given is still used as it is.
    const { port } = start(validator(capture), { serverName: "api.example" });
    const r = await rawOne(port, "GET / HTTP/1.0\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect([r.response!.status, seen!.SERVER_NAME]).toEqual([200, "api.example"]);
  });

  test("serverSoftware \"\" sends no Server field, also on the server's own 4xx; a value that is not a field value (CR/LF, controls, above U+00FF, outer whitespace) is a RangeError, not a broken or injected head in every response", async () => {
    const { port } = start(capture, { serverSoftware: "" });
    const ok = await rawOne(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(ok.response!.status).toBe(200);
    expect(ok.response!.headers.server).toBeUndefined();
    expect(ok.response!.headers.date).toBeDefined();
    expect(seen!.SERVER_SOFTWARE).toBe("");
    const bad = (await raw(port, "GET / HTTP/1.1\r\n\r\n")).data.toString("latin1");
    expect(bad).toStartWith("HTTP/1.1 400 ");
    expect(bad.toLowerCase()).not.toContain("\r\nserver:");
    for (const value of ["edge\r\nX-Injected: 1", "edge\n", "a\x00b", "caf\u00e9 \u2603", " edge", "edge\t", "\x7f"]) {
      expect(() => start(capture, { serverSoftware: value })).toThrow(RangeError);
    }
    // obs-text and inner whitespace are a field value.
    const { port: p2 } = start(capture, { serverSoftware: "caf\u00e9 (x\t1)" });
    const r2 = await rawOne(p2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(r2.data.toString("latin1")).toContain("\r\nServer: caf\u00e9 (x\t1)\r\n");
  });

  test("CGI and tsgi keys", async () => {
    const { port } = start(capture, { environ: { "app.extra": 42 } });
    await rawOne(
      port,
      "GET /a%20b/%C3%A9%2F?x=%20y&z HTTP/1.1\r\nHost: example.test:8080\r\nX-Multi: 1\r\nX-Multi: 2\r\nCookie: a=1\r\nCookie: b=2,3\r\nX-Foo_Bar: evil\r\nX-Foo-Bar: good\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nUser-Agent: t\r\n\r\n",
      { until: (d) => d.includes("\r\n\r\n") },
    );
    const e = seen!;
    expect(e.REQUEST_METHOD).toBe("GET");
    expect(e.SCRIPT_NAME).toBe("");
    expect(e.PATH_INFO).toBe("/a b/\u00c3\u00a9/");
    expect(e.QUERY_STRING).toBe("x=%20y&z");
    expect(e.REQUEST_URI).toBe("/a%20b/%C3%A9%2F?x=%20y&z");
    expect(e.SERVER_PROTOCOL).toBe("HTTP/1.1");
    expect(e.SERVER_NAME).toBe("127.0.0.1");
    expect(e.SERVER_PORT).toBe(String(port));
    expect(e.REMOTE_ADDR).toBe("127.0.0.1");
    expect(Number(e.REMOTE_PORT)).toBeGreaterThan(0);
    expect(e.HTTP_HOST).toBe("example.test:8080");
    expect(e.HTTP_X_MULTI).toBe("1, 2");
    expect(e.HTTP_COOKIE).toBe("a=1; b=2,3"); // Cookie lines join with "; " (RFC 6265 §5.4)
    expect(e.HTTP_X_FOO_BAR).toBe("good");
    expect(e.CONTENT_TYPE).toBe("text/plain");
    expect(e.CONTENT_LENGTH).toBe("0");
    expect(e.HTTP_CONTENT_TYPE).toBeUndefined();
    expect(e.HTTP_USER_AGENT).toBe("t");
    expect(e["tsgi.version"]).toEqual([1, 0]);
    expect(e["tsgi.url_scheme"]).toBe("http");
    expect(e["tsgi.multithread"]).toBe(false);
    expect(e["tsgi.multiprocess"]).toBe(false);
    expect(e["tsgi.run_once"]).toBe(false);
    expect(e["tsgi.input_terminated"]).toBe(true);
    expect(typeof e["tsgi.errors"].write).toBe("function");
    expect(e["app.extra"]).toBe(42);
    expect(e.SERVER_SOFTWARE).toMatch(/^tsgi\//);
    expect(e.GATEWAY_INTERFACE).toBe("CGI/1.1");
    expect(e["tsgi.posthooks"]).toEqual([]);
    // Hex digits in either case are one escape (RFC 3986 §2.1); an incomplete or non-hex one stays as sent.
    await rawOne(port, "GET /%c3%a9%2f%Aa%zz%4 HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!.PATH_INFO).toBe("/\u00c3\u00a9/\u00aa%zz%4");
    // A field named like an environ key (underscores: CGI could not tell it from a dash) is dropped, whatever its case.
    await rawOne(port, "GET / HTTP/1.1\r\nHost: x\r\nCONTENT_TYPE: evil\r\nContent_Type: evil\r\nCONTENT_LENGTH: evil\r\nHTTP_HOST: evil\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(Object.entries(seen!).filter(([, v]) => v === "evil")).toEqual([]);
    expect(seen!.HTTP_HOST).toBe("x");
  });

  test("tsgi.errors lands in the error log", async () => {
    const app: Application = (environ, sr) => {
      environ["tsgi.errors"].write("from the app\n");
      environ["tsgi.errors"].writelines(["a", "b\n"]);
      environ["tsgi.errors"].flush();
      sr("200 OK", []);
      return [];
    };
    const { port, errors } = start(app);
    await rawOne(port, get("/"), { until: (d) => d.includes("\r\n\r\n") });
    expect(errors.join("")).toContain("from the app\nab\n");
  });

  test("scriptName is normalised as SCRIPT_NAME must be (no trailing /), and a relative one is a RangeError", async () => {
    const { port } = start(capture, { scriptName: "/app/" });
    await rawOne(port, get("/app/x"), { until: (d) => d.includes("\r\n\r\n") });
    expect([seen!.SCRIPT_NAME, seen!.PATH_INFO]).toEqual(["/app", "/x"]);
    const root = start(capture, { scriptName: "/" });
    await rawOne(root.port, get("/x"), { until: (d) => d.includes("\r\n\r\n") });
    expect([seen!.SCRIPT_NAME, seen!.PATH_INFO]).toEqual(["", "/x"]);
    expect(() => start(capture, { scriptName: "app" })).toThrow(/scriptName must be "" or a path starting with "\/"/);
  });

  test("scriptName moves the mount point out of PATH_INFO", async () => {
    const { port } = start(capture, { scriptName: "/app" });
    await rawOne(port, get("/app/x"), { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!.SCRIPT_NAME).toBe("/app");
    expect(seen!.PATH_INFO).toBe("/x");
    // A path outside the mount point was stripped by the proxy already: kept whole.
    for (const [path, info] of [["/other", "/other"], ["/app", ""], ["/application", "/application"]]) {
      await rawOne(port, get(path!), { until: (d) => d.includes("\r\n\r\n") });
      expect([seen!.SCRIPT_NAME, seen!.PATH_INFO]).toEqual(["/app", info!]);
    }
  });

  test("absolute-form target: path from the target (\"/\" when it has none), Host from its authority; CONNECT's authority-form leaves Host as sent", async () => {
    const { port } = start(capture);
    await rawOne(port, "GET http://other.test:81/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!.PATH_INFO).toBe("/p");
    expect(seen!.QUERY_STRING).toBe("q=1");
    expect(seen!.HTTP_HOST).toBe("other.test:81");
    // No path: PATH_INFO is "/" (RFC 9112 §3.2.2 / RFC 3986 §6.2.3: an empty path is "/"), with or without a query.
    for (const [target, path, query] of [["http://other.test", "/", ""], ["http://other.test?a=b", "/", "a=b"]]) {
      await rawOne(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, { until: (d) => d.includes("\r\n\r\n") });
      expect([target, seen!.PATH_INFO, seen!.QUERY_STRING, seen!.HTTP_HOST]).toEqual([target, path, query, "other.test"]);
    }
    // CONNECT's authority-form names the tunnel's end, not the origin: HTTP_HOST stays the Host field's.
    await rawOne(port, "CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:8080\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    // Its PATH_INFO is "" (spec.md): the authority-form has no path; REQUEST_URI holds it.
    expect([seen!.REQUEST_METHOD, seen!.HTTP_HOST, seen!.PATH_INFO, seen!.REQUEST_URI]).toEqual(["CONNECT", "b.example:8080", "", "a.example:443"]);
  });

  test("an IP-literal Host is checked whole (RFC 3986 IPv6address / IPvFuture, RFC 6874's %25 zone): [zz], [1.2.3.4], [v1.] are 400 and closed; the same rule for an absolute-form or CONNECT authority", async () => {
    const { port } = start((environ, sr) => (sr("200 OK", []), [enc(String(environ.HTTP_HOST))]));
    const ask = async (head: string) => {
      const r = await rawOne(port, head); // every case closes: Connection: close, or the 400
      return `${r.response?.status}${r.response?.status === 400 ? (r.closed ? " closed" : " open") : ` ${r.response?.body.toString()}`}`;
    };
    const host = (v: string) => `GET / HTTP/1.1\r\nHost: ${v}\r\nConnection: close\r\n\r\n`;
    const cases: Array<[string, string]> = [
      [host("[::1]"), "200 [::1]"],
      [host("[::1]:8000"), "200 [::1]:8000"],
      [host("[2001:DB8::1:2]"), "200 [2001:DB8::1:2]"],
      [host("[::ffff:192.0.2.1]:80"), "200 [::ffff:192.0.2.1]:80"],
      [host("[v1.x]"), "200 [v1.x]"],
      [host("[vF.a:b!$&'()*+,;=-._~]"), "200 [vF.a:b!$&'()*+,;=-._~]"],
      [host("[fe80::1%25eth0]"), "200 [fe80::1%25eth0]"],
      [host("[zz]"), "400 closed"],
      [host("[::1"), "400 closed"],
      [host("[]"), "400 closed"],
      [host("[::1]x"), "400 closed"],
      [host("[1.2.3.4]"), "400 closed"],
      [host("[::1::2]"), "400 closed"],
      [host("[1:2:3:4:5:6:7:8:9]"), "400 closed"],
      [host("[::ffff:010.0.0.1]"), "400 closed"],
      [host("[fe80::1%eth0]"), "400 closed"],
      [host("[fe80::1%25]"), "400 closed"],
      [host("[v1.]"), "400 closed"],
      [host("[v.x]"), "400 closed"],
      [host("[vg.x]"), "400 closed"],
      [host("[v1x]"), "400 closed"],
      [host("[:]"), "400 closed"],
      ["GET http://[::1]:8080/x HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n", "200 [::1]:8080"],
      ["GET http://[zz]/x HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n", "400 closed"],
      ["GET http://[1.2.3.4]:80/ HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n", "400 closed"],
      ["CONNECT [zz]:443 HTTP/1.1\r\nHost: y\r\n\r\n", "400 closed"],
    ];
    /** The Host line of an origin-form request, else the request line. */
    const named = (head: string) => (head.startsWith("GET / ") ? head.split("\r\n")[1]! : head.split("\r\n")[0]!);
    const got: string[] = [];
    for (const [head] of cases) got.push(`${named(head)} -> ${await ask(head)}`);
    expect(got).toEqual(cases.map(([head, want]) => `${named(head)} -> ${want}`));
  });

  test("environClass builds each environ", async () => {
    class Tagged {
      constructor(init: Environ) {
        Object.assign(this, init);
      }
    }
    const { port } = start(capture, { environClass: Tagged as unknown as new (e: Environ) => Environ });
    await rawOne(port, get("/"), { until: (d) => d.includes("\r\n\r\n") });
    expect(seen).toBeInstanceOf(Tagged);
    expect(seen!.PATH_INFO).toBe("/");
  });

  test("the environ option replaces server-level keys and never the request's own (gevent's precedence)", async () => {
    const errors = { write() {}, writelines() {}, flush() {} };
    const sharedHooks: unknown[] = [];
    const { port } = start(capture, {
      environ: {
        SERVER_SOFTWARE: "front/1",
        SERVER_NAME: "public.example",
        "tsgi.multiprocess": true,
        "tsgi.errors": errors,
        "app.db": "pool",
        HTTP_X_DEFAULT: "from-option",
        REQUEST_METHOD: "DELETE",
        PATH_INFO: "/not-this",
        HTTP_HOST: "not-this",
        "tsgi.posthooks": sharedHooks,
      },
    });
    await rawOne(port, "GET /real HTTP/1.1\r\nHost: h.test\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    const e = seen!;
    expect([e.SERVER_SOFTWARE, e.SERVER_NAME, e["tsgi.multiprocess"], e["tsgi.errors"]]).toEqual(["front/1", "public.example", true, errors]);
    expect([e["app.db"], e.HTTP_X_DEFAULT]).toEqual(["pool", "from-option"]);
    expect([e.REQUEST_METHOD, e.PATH_INFO, e.HTTP_HOST]).toEqual(["GET", "/real", "h.test"]);
    expect(e["tsgi.posthooks"]).not.toBe(sharedHooks);
    const r = await rawOne(port, "GET / HTTP/1.1\r\nHost: h.test\r\nX-Default: sent\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(r.response!.status).toBe(200);
    expect(seen!.HTTP_X_DEFAULT).toBe("sent");
  });

  test("the environ option's tsgi.url_scheme is the server's scheme, as gevent's and eventlet's environ replaces wsgi.url_scheme (the idiom behind a TLS-terminating proxy); a value other than http/https, or one that contradicts urlScheme, is refused when the server is made", async () => {
    // gevent 22.10 and eventlet 0.33 with environ={'wsgi.url_scheme': 'https'} both give the app "https".
    const s = start(capture, { environ: { "tsgi.url_scheme": "https" } });
    await rawOne(s.port, "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!["tsgi.url_scheme"]).toBe("https");
    // server.url is where a client reaches the server: plain HTTP here (the proxy's TLS is not this server's).
    expect(s.server.url.startsWith("http://127.0.0.1:")).toBe(true);
    expect((await fetch(s.server.url)).status).toBe(200);
    // Said once, the same way twice, is fine.
    const t = start(capture, { urlScheme: "https", environ: { "tsgi.url_scheme": "https" } });
    await rawOne(t.port, "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect(seen!["tsgi.url_scheme"]).toBe("https");
    expect(t.server.url.startsWith("http://127.0.0.1:")).toBe(true);
    for (const bad of ["HTTPS", "ftp", true]) {
      expect(() => start(capture, { environ: { "tsgi.url_scheme": bad } })).toThrow(
        new TypeError(`server option environ["tsgi.url_scheme"] must be "http" or "https" (it sets the scheme, as urlScheme does), got ${JSON.stringify(bad)}`),
      );
    }
    expect(() => start(capture, { urlScheme: "http", environ: { "tsgi.url_scheme": "https" } })).toThrow(
      new TypeError('server option environ["tsgi.url_scheme"] ("https") and urlScheme ("http") disagree; give the scheme once'),
    );
  });

  test("the environ option's CGI strings must be latin-1 like every environ string: one above U+00FF is refused when the server is made", async () => {
    // Not validator()'s to find: environ-latin1 checks the request-derived keys, and the option's keys are the operator's own.
    for (const environ of [{ APP_TITLE: "J\u00fcrgen \u65e5\u672c" }, { SERVER_NAME: "\u2603.example" }, { HTTP_X_DEFAULT: "\u{1f600}" }]) {
      const key = Object.keys(environ)[0]!;
      expect(() => start(capture, { environ })).toThrow(new RegExp(`^server option environ: "${key}" holds a character above U\\+00FF .*Buffer\\.from\\(text, "utf8"\\)\\.toString\\("latin1"\\)`));
      expect(() => toFetchHandler(capture, { environ })).toThrow(RangeError);
      expect(() => toFetchHandler(capture, { environ })).toThrow(`toFetchHandler option environ: "${key}"`);
    }
    // Latin-1 text (its UTF-8 bytes, one char each, too), extensions (a "." in the key) and non-strings are the app's.
    const utf8 = Buffer.from("J\u00fcrgen \u65e5\u672c", "utf8").toString("latin1");
    const { port } = start(capture, { environ: { APP_TITLE: utf8, APP_CITY: "M\u00fcnchen", "app.title": "\u65e5\u672c", "app.pool": { n: 1 } } });
    await rawOne(port, "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    expect([seen!.APP_TITLE, seen!.APP_CITY, seen!["app.title"]]).toEqual([utf8, "M\u00fcnchen", "\u65e5\u672c"]);
    expect(Buffer.from(seen!.APP_TITLE as string, "latin1").toString("utf8")).toBe("J\u00fcrgen \u65e5\u672c");
  });

  test("the environ option's check covers what each request gets: a key inherited from a prototype, which the per-request for...in copies", () => {
    // Layered options (Object.create(defaults)): the inherited key reaches every request's environ, so it is checked too.
    const layered = Object.create({ APP_TITLE: "J\u00fcrgen \u65e5\u672c" }) as Record<string, unknown>;
    layered.APP_CITY = "M\u00fcnchen";
    expect(() => start(capture, { environ: layered })).toThrow(/^server option environ: "APP_TITLE" holds a character above U\+00FF/);
    expect(() => toFetchHandler(capture, { environ: layered })).toThrow(/^toFetchHandler option environ: "APP_TITLE" holds a character above U\+00FF/);
  });

  test("an environ option that is a string (an environment variable's text) gets the type error, not a latin-1 error about its key \"0\"", () => {
    for (const environ of ["\u65e5\u672c", "abc"]) {
      expect(() => start(capture, { environ: environ as never })).toThrow(new TypeError(`server option environ must be an object of environ keys, got ${JSON.stringify(environ)}`));
      expect(() => toFetchHandler(capture, { environ: environ as never })).toThrow(TypeError);
    }
  });

  test("each request gets a new, empty tsgi.posthooks array to push onto (eventlet.posthooks)", async () => {
    const calls: string[] = [];
    const arrays = new Set<unknown>();
    const app: Application = (environ, sr) => {
      arrays.add(environ["tsgi.posthooks"]);
      expect(environ["tsgi.posthooks"]).toEqual([]);
      environ["tsgi.posthooks"]?.push([(env, label) => void calls.push(`${String(label)} ${env.PATH_INFO}`), ["done"]]);
      sr("200 OK", [["Content-Length", "1"]]);
      return [enc("x")];
    };
    const { port } = start(app);
    await rawOne(port, `${get("/a")}${get("/b")}`, { until: (d) => d.toString().split("\r\n\r\nx").length === 3 });
    for (let i = 0; i < 100 && calls.length < 2; i++) await Bun.sleep(10);
    expect(calls).toEqual(["done /a", "done /b"]);
    expect(arrays.size).toBe(2);
  });

  test("posthooks run after the response with args and kwargs", async () => {
    const calls: unknown[] = [];
    const app: Application = (environ, sr) => {
      environ["tsgi.posthooks"] = [[(env: Environ, a: unknown, kw: unknown) => void calls.push([env.PATH_INFO, a, kw]), ["arg"], { k: 1 }]];
      sr("200 OK", []);
      return [enc("x")];
    };
    const { port } = start(app);
    await rawOne(port, get("/hook"), { until: (d) => d.includes("\r\n\r\nx") });
    await Bun.sleep(20);
    expect(calls).toEqual([["/hook", "arg", { k: 1 }]]);
  });
});

describe("access log", () => {
  test("one common-log-format line per request", async () => {
    const { port, access } = start(hello);
    await rawOne(port, get("/logged?q=1", "X-Forwarded-For: 10.1.1.1\r\n"), { until: (d) => d.includes("world") });
    await Bun.sleep(20);
    expect(access.join("")).toMatch(
      /^10\.1\.1\.1,127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/logged\?q=1 HTTP\/1\.1" 200 14 \d+\.\d{6}\n$/,
    );
  });

  test("a client's X-Forwarded-For cannot forge a log entry: whitespace removed (eventlet), quotes and controls as \\xHH (nginx)", async () => {
    const { port, access } = start(hello);
    const forged = '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET /admin HTTP/1.1" 200 1 0.1';
    await rawOne(port, get("/real", `X-Forwarded-For: ${forged}\r\n`), { until: (d) => d.includes("world") });
    await rawOne(port, get("/chain", "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"), { until: (d) => d.includes("world") });
    await rawOne(port, get("/bytes", "X-Forwarded-For: a\\b\xe9\r\n"), { until: (d) => d.includes("world") });
    await Bun.sleep(30);
    const lines = access.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toStartWith('1.2.3.4--[01/Jan/2026:00:00:00+0000]\\x22GET/adminHTTP/1.1\\x2220010.1,127.0.0.1 - - [');
    expect(lines[0]).toContain('"GET /real HTTP/1.1" 200 14 ');
    // The line has exactly one quoted request line: the real one.
    expect(lines[0]!.split('"')).toHaveLength(3);
    expect(lines[1]).toStartWith("10.0.0.1,10.0.0.2,127.0.0.1 - - [");
    expect(lines[2]).toStartWith("a\\x5Cb\\xE9,127.0.0.1 - - [");
  });

  test("a request refused from its head before the app (413 from its Content-Length) is logged with its X-Forwarded-For too, as the app's requests are (it showed the proxy alone)", async () => {
    const { port, access } = start(hello, { maxRequestBodySize: 10 });
    const big = "POST /up HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-For: 10.0.0.8\r\nContent-Length: 100\r\n\r\n";
    await rawOne(port, big, { until: (d) => d.includes("\r\n\r\n") });
    await rawOne(port, "POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", { until: (d) => d.includes("\r\n\r\n") });
    await Bun.sleep(30);
    const lines = access.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^10\.0\.0\.7,10\.0\.0\.8,127\.0\.0\.1 - - \[.*\] "POST \/up HTTP\/1\.1" 413 /);
    expect(lines[1]).toMatch(/^127\.0\.0\.1 - - \[.*\] "POST \/plain HTTP\/1\.1" 413 /);
  });

  test("a request the parser refuses once it has every field line (417, a missing Host, conflicting framing fields) is logged with its X-Forwarded-For, and so is a 413 through a handlerClass's logRequest (both showed the proxy alone); a malformed line still shows the peer", async () => {
    const { RequestHandler } = await import("../src/server/handler.ts");
    const requests = [
      "GET /e HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nExpect: magic\r\n\r\n",
      "GET /h HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-For: 10.0.0.8\r\n\r\n",
      "POST /t HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "POST /big HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nContent-Length: 100\r\n\r\n",
      "GET /bad HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nBad Field: 1\r\n\r\n",
    ];
    const expected = [
      /^10\.0\.0\.7,127\.0\.0\.1 "- \(rejected: Unsupported expectation[^"]*" 417$/,
      /^10\.0\.0\.7,10\.0\.0\.8,127\.0\.0\.1 "- \(rejected: Missing Host field\)" 400$/,
      /^10\.0\.0\.7,127\.0\.0\.1 "- \(rejected: Multiple Content-Length fields\)" 400$/,
      /^10\.0\.0\.7,127\.0\.0\.1 "POST \/big HTTP\/1\.1" 413$/,
      /^127\.0\.0\.1 "- \(rejected: [^"]*" 400$/,
    ];
    const viaHandler: string[] = [];
    class Logging extends RequestHandler {
      override logRequest(fields: { client_ip: string; request_line: string; status_code: number }): void {
        viaHandler.push(`${fields.client_ip} "${fields.request_line}" ${fields.status_code}`);
      }
    }
    const plain = start(hello, { maxRequestBodySize: 10, logFormat: '%(client_ip)s "%(request_line)s" %(status_code)s' });
    const handled = start(hello, { maxRequestBodySize: 10, handlerClass: Logging });
    for (const port of [plain.port, handled.port]) {
      for (const request of requests) await rawOne(port, request, { until: (d) => d.includes("\r\n\r\n") });
    }
    await Bun.sleep(30);
    const lines = plain.access.join("").trimEnd().split("\n");
    for (const [got, i] of [...lines.map((l, i) => [l, i] as const), ...viaHandler.map((l, i) => [l, i] as const)]) expect(got).toMatch(expected[i]!);
    expect([lines.length, viaHandler.length]).toEqual([5, 5]);
  });

  test("a client's long X-Forwarded-For is logged by its last 256 characters: a 60 KiB value no longer makes a 240 KiB line", async () => {
    // Before: the whole value was logged, each byte escaped: 20 such requests (1.2 MB) wrote 4.9 MB
    // of access log and took 0.3 s of escaping; 200 clients sending 10 each held the server for 35 s.
    const { port, access } = start(hello);
    const xff = `${"\xff".repeat(60 * 1024)}, 10.0.0.9`;
    const one = get("/long", `X-Forwarded-For: ${xff}\r\n`);
    const { responses } = await rawOne(port, one.repeat(20), { until: (d) => (d.toString("latin1").match(/HTTP\/1\.1 200/g) ?? []).length >= 20 });
    expect(responses).toHaveLength(20);
    await Bun.sleep(30);
    const lines = access.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(20);
    const kept = `...${"\\xFF".repeat(256 - ",10.0.0.9".length)},10.0.0.9,127.0.0.1 - - [`;
    for (const line of lines) {
      expect(line).toStartWith(kept);
      expect(line.length).toBeLessThan(1200);
    }
  });

  test("a request-target with \" or \\ cannot close the log's quoted request line: written \\x22 and \\x5C (nginx)", async () => {
    const { port, access } = start(hello);
    await rawOne(port, get('/a"b\\x"'), { until: (d) => d.includes("world") });
    await Bun.sleep(30);
    const line = access.join("").trimEnd();
    expect(line).toContain('"GET /a\\x22b\\x5Cx\\x22 HTTP/1.1" 200 14 ');
    expect(line.split('"')).toHaveLength(3);
  });

  test("custom logFormat with eventlet's fields", async () => {
    const { port, access } = start(hello, { logFormat: "%(status_code)s %(body_length)s %(request_line)s" });
    await rawOne(port, get("/f"), { until: (d) => d.includes("world") });
    await Bun.sleep(20);
    expect(access.join("")).toBe("200 14 GET /f HTTP/1.1\n");
  });
});

describe("write() and input edge cases", () => {
  test("an empty first write() sends the headers at once (event streams), never a terminating chunk", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const app: Application = async (_e, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/event-stream"]]);
      await write(new Uint8Array(0));
      await gate;
      await write(enc("data: 1\n\n"));
      return [];
    };
    const { port } = start(app);
    const headersOnly = raw(port, get("/"), { until: (d) => d.includes("\r\n\r\n"), timeoutMs: 2000 });
    const first = await headersOnly;
    expect(first.data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked\r\n\r\n$/);
    release();
    const r = await rawOne(port, get("/"), { until: (d) => d.includes("0\r\n\r\n") });
    expect(r.response!.body.toString()).toBe("data: 1\n\n");
  });

  test("a read after the response, of a body none of which had arrived, rejects as discarded (does not wait for bytes that will never reach it)", async () => {
    let late: Promise<string> | null = null;
    const app: Application = (environ, sr) => {
      const input = environ["tsgi.input"];
      late = Bun.sleep(50).then(() =>
        Promise.race([
          input.read(10).then(
            (b) => `${b.length} bytes`,
            (e: Error) => e.message,
          ),
          Bun.sleep(1000).then(() => "still waiting after 1 s"),
        ]),
      );
      sr("202 Accepted", [["Content-Length", "3"]]);
      return [enc("ok\n")];
    };
    const { port } = start(app);
    // The head alone: none of the 10 body bytes is sent before the response.
    const r = await raw(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", { until: (d) => d.includes("ok\n") });
    expect(parseResponses(r.data).map((x) => x.status)).toEqual([202]);
    expect(await late!).toBe("tsgi.input: the response is over and the rest of the request body was discarded; read the body before the response ends");
  });

  test("read(-1), read(1.5), read1(-1), read1(0.5) and readline(-1.5) reject with RangeError", async () => {
    const messages: string[] = [];
    const app: Application = async (environ, sr) => {
      const input = environ["tsgi.input"];
      for (const f of [() => input.read(-1), () => input.read(1.5), () => input.read1!(-1), () => input.read1!(0.5), () => input.readline(-1.5)]) {
        try {
          await f();
        } catch (e) {
          messages.push((e as Error).name);
        }
      }
      sr("200 OK", []);
      return [];
    };
    const { port } = start(app);
    await rawOne(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", { until: (d) => d.includes("\r\n\r\n") });
    expect(messages).toEqual(["RangeError", "RangeError", "RangeError", "RangeError", "RangeError"]);
  });
});
