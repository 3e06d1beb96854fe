/**
 * Side by side with the seeds: the same request bytes go to tsgi (serving
 * fixtures/seeds/environ-app.ts) and to the Python seed servers (wsgiref,
 * gevent.pywsgi, eventlet.wsgi, cheroot.wsgi, serving the same dump in
 * fixtures/seeds/environ_server.py), and the CGI keys each app saw are
 * compared. gevent is the reference: tsgi must give exactly its values,
 * except where tsgi differs on purpose (ALLOWED, each with its reason).
 * Every other case must also agree with at least one more seed, so tsgi
 * never has a behaviour of its own by accident. The framing the server
 * chooses for a response (chunked or Content-Length or close-delimited,
 * Connection, no body for 204/304) is compared with gevent's as well, and
 * so are the answers to apps that break the rules (a body with 204, 304 or
 * 205, fewer or more bytes than the app's Content-Length, startResponse
 * twice, status 999, the app's Connection field) and to two connection
 * options, where tsgi differs from gevent on purpose in each case. And
 * 31 malformed requests (framing attacks, malformed heads) go to all five:
 * tsgi answers each with a 4xx/5xx and closes, and is never more lenient
 * than a seed; the table of what each server did is printed. Where tsgi's value is not
 * the common one, the values of all five servers are printed as a table.
 *
 * Needs /usr/bin/python3 with gevent, eventlet and cheroot (Debian:
 * python3-gevent python3-eventlet python3-cheroot; .ci/run installs them);
 * skips with a message otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import app from "../fixtures/seeds/environ-app.ts";
import { raw, startServer } from "./helpers.ts";

const python = "/usr/bin/python3";
const seeds = ["wsgiref", "gevent", "eventlet", "cheroot"] as const;
type Seed = (typeof seeds)[number];

function seedsAvailable(): boolean {
  if (!Bun.which(python)) return false;
  const r = Bun.spawnSync([python, "-c", "import gevent, eventlet, cheroot"], { stderr: "ignore" });
  return r.exitCode === 0;
}
const available = seedsAvailable();
if (!available) {
  console.warn(
    "SKIP seed parity test: /usr/bin/python3 with gevent, eventlet and cheroot is needed (apt-get install python3-gevent python3-eventlet python3-cheroot)",
  );
}

const HOST = "Host: example.test\r\n";
const CLOSE = "Connection: close\r\n";
/** Request bytes (latin-1), one per case. */
const cases: Record<string, string> = {
  "percent-decoded path, raw query": `GET /caf%C3%A9/x%2Fy/%7e/a%20b?q=%20&r=%C3%A9 HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "no normalisation of dot segments": `GET /a/../b/./c//d HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "invalid and encoded percent sequences": `GET /%2e%2E/%25/%zz HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "empty query": `GET /e? HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "absolute-form request-target": `GET http://example.test/abs?x=1 HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "repeated field": `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\nX-A: 2\r\n${CLOSE}\r\n`,
  "field name with an underscore": `GET / HTTP/1.1\r\n${HOST}X-Foo_Bar: evil\r\nX-Foo-Bar: good\r\n${CLOSE}\r\n`,
  "field value whitespace": `GET / HTTP/1.1\r\n${HOST}X-W:   v  w  \r\n${CLOSE}\r\n`,
  "latin-1 field value": `GET / HTTP/1.1\r\n${HOST}X-L: caf\xe9\r\n${CLOSE}\r\n`,
  "field-name case": `GET / HTTP/1.1\r\nhOsT: example.test\r\nx-lower: 1\r\nContent-TYPE: text/x\r\n${CLOSE}\r\n`,
  "POST with Content-Length": `POST /p HTTP/1.1\r\n${HOST}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n${CLOSE}\r\na=1&b=2`,
  "POST with Content-Length: 0": `POST /z HTTP/1.1\r\n${HOST}Content-Length: 0\r\n${CLOSE}\r\n`,
  "chunked POST with a chunk-ext": `POST /c HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n${CLOSE}\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n`,
  "HTTP/1.0 request": `GET /old HTTP/1.0\r\n${HOST}\r\n`,
  // Odd but valid: request-target forms, Host values, bytes in the path and in fields.
  "absolute-form request-target with an IPv6 authority and another Host": `GET http://[::1]:8080/p%41?q=%41 HTTP/1.1\r\nHost: other.test\r\n${CLOSE}\r\n`,
  "asterisk-form (OPTIONS *)": `OPTIONS * HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "IPv6 Host with a port": `GET / HTTP/1.1\r\nHost: [::1]:8080\r\n${CLOSE}\r\n`,
  "empty Host": `GET / HTTP/1.1\r\nHost:\r\n${CLOSE}\r\n`,
  "Host with case, port and a trailing dot": `GET / HTTP/1.1\r\nHost: Example.TEST.:8080\r\n${CLOSE}\r\n`,
  "HTTP/1.0 without Host": "GET /old HTTP/1.0\r\n\r\n",
  "percent-encoded NUL, obs-text and UTF-8 in the path": `GET /a%00b/%ff%FE/%c3%a9 HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "truncated percent sequences": `GET /a%4/b% HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "encoded delimiters in the path": `GET /a%2Fb%3Fc%23d%3B HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "a second ? in the query, ; and + kept": `GET /p;x=1/q+r?a?b+c HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
  "obs-text field value at the 0x80-0xFF edges": `GET / HTTP/1.1\r\n${HOST}X-V: \x80\x9f\xa0\xff\r\n${CLOSE}\r\n`,
  "repeated Content-Type": `POST /t HTTP/1.1\r\n${HOST}Content-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n${CLOSE}\r\n`,
  "field names of odd tchars, digits and a dot": `GET / HTTP/1.1\r\n${HOST}X-!#$%&'*+.^\`|~: a\r\n1: b\r\nX.Y: c\r\nX-E:\r\n${CLOSE}\r\n`,
  "Content-Length with whitespace around the value": `POST /ows HTTP/1.1\r\n${HOST}Content-Length:  3 \r\n${CLOSE}\r\nabc`,
  "HTTP/1.2 request": `GET /v HTTP/1.2\r\n${HOST}${CLOSE}\r\n`,
};

/** Keys compared: the request's CGI variables, its fields, the scheme and the body the app read. */
const COMPARED = /^(REQUEST_METHOD|SCRIPT_NAME|PATH_INFO|QUERY_STRING|CONTENT_TYPE|CONTENT_LENGTH|SERVER_PROTOCOL|HTTP_.*|url_scheme|body)$/;
/** Fields the clients send differently or that are the server's own. */
const IGNORED = new Set(["HTTP_USER_AGENT"]);

/** Where tsgi differs from gevent on purpose: case → key → [gevent's value, tsgi's value, why]. */
const ALLOWED: Record<string, Record<string, [string, string, string]>> = {
  "repeated field": {
    HTTP_X_A: ["1,2", "1, 2", 'issue 2 and docs/spec.md: repeated fields are combined with ", " (RFC 9110 §5.3 allows either)'],
  },
  "repeated Content-Type": {
    CONTENT_TYPE: [
      "a/b",
      "a/b, c/d",
      "docs/spec.md: joined like any other field, so the app cannot act on one value while a proxy checked the other (gevent, eventlet and wsgiref keep the first, cheroot the last)",
    ],
  },
  "absolute-form request-target": {
    PATH_INFO: [
      "http://example.test/abs",
      "/abs",
      "RFC 9112 §3.2.2: a server must accept the absolute-form; PATH_INFO is its path (gevent, wsgiref and eventlet pass the URI, cheroot answers 400)",
    ],
  },
  "Content-Length with whitespace around the value": {
    CONTENT_LENGTH: [
      "3 ",
      "3",
      "RFC 9110 §5.5: the whitespace around a field value is not part of it (cheroot strips it too; gevent, eventlet and wsgiref keep the trailing space)",
    ],
  },
  "HTTP/1.2 request": {
    SERVER_PROTOCOL: [
      "HTTP/1.2",
      "HTTP/1.1",
      "RFC 9110 §6.2: a higher minor version is processed as the highest one the server implements, and docs/spec.md's SERVER_PROTOCOL is HTTP/1.0 or HTTP/1.1 (wsgiref passes HTTP/1.2 too, eventlet says HTTP/1.0, cheroot answers 505)",
    ],
  },
  "absolute-form request-target with an IPv6 authority and another Host": {
    PATH_INFO: ["http://[::1]:8080/pA", "/pA", "RFC 9112 §3.2.2, as in the case above"],
    HTTP_HOST: [
      "other.test",
      "[::1]:8080",
      "RFC 9112 §3.2.2: the server MUST ignore the Host field and use the target's authority (the seeds keep the Host field, and pass the URI as PATH_INFO)",
    ],
  },
};

type Dump = Record<string, string>;
/** The environ a server's app reported for each case, or the status line when it did not answer 200. */
const results = new Map<string, Map<string, Dump | string>>();

function parseDump(data: Buffer): Dump | string {
  const text = data.toString("latin1");
  const status = text.slice(0, text.indexOf("\r\n"));
  if (!/^HTTP\/1\.[01] 200 /.test(status)) return status || "(no response)";
  const body = data.subarray(text.indexOf("\r\n\r\n") + 4).toString("utf8");
  const all = JSON.parse(body) as Dump;
  return Object.fromEntries(Object.entries(all).filter(([k]) => COMPARED.test(k) && !IGNORED.has(k)));
}

/** Start one seed server; resolves with its process and port. */
async function startSeed(seed: Seed): Promise<{ proc: ReturnType<typeof Bun.spawn>; port: number }> {
  // stderr ignored: cheroot logs every malformed request there, and an unread pipe would fill and block it.
  const proc = Bun.spawn([python, join(import.meta.dir, "../fixtures/seeds/environ_server.py"), seed], { stdout: "pipe", stderr: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const line = await Promise.race([
    reader.read().then(({ value }) => new TextDecoder().decode(value).trim()),
    Bun.sleep(10_000).then(() => ""),
  ]);
  reader.releaseLock();
  const port = Number(line);
  if (!(port > 0)) {
    proc.kill();
    throw new Error(`${seed} did not start (${line || "no port printed within 10 s"}); run ${python} fixtures/seeds/environ_server.py ${seed} to see why`);
  }
  return { proc, port };
}

describe.skipIf(!available)("environ side by side with the seed servers", () => {
  const procs: Array<ReturnType<typeof Bun.spawn>> = [];
  let geventPort = 0;
  const seedPorts: Array<[string, number]> = [];
  const tsgi = available ? startServer(app) : null;

  beforeAll(async () => {
    const started = await Promise.all(seeds.map(startSeed));
    for (const s of started) procs.push(s.proc);
    seedPorts.push(...seeds.map((seed, i): [string, number] => [seed, started[i]!.port]));
    geventPort = started[seeds.indexOf("gevent")]!.port;
    for (const [name, port] of [...seedPorts, ["tsgi", tsgi!.port] as [string, number]]) {
      const byCase = new Map<string, Dump | string>();
      for (const [label, bytes] of Object.entries(cases)) {
        const r = await raw(port, bytes, { timeoutMs: 2000 });
        byCase.set(label, parseDump(r.data));
      }
      results.set(name, byCase);
    }
    printTable();
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) p.kill();
    await tsgi?.server.close({ timeout: 100 });
  });

  for (const label of Object.keys(cases)) {
    test(label, () => {
      const mine = results.get("tsgi")!.get(label)!;
      const ref = results.get("gevent")!.get(label)!;
      expect(typeof mine).toBe("object");
      expect(typeof ref).toBe("object");
      const t = mine as Dump;
      const g = ref as Dump;
      const allowed = ALLOWED[label] ?? {};
      for (const key of new Set([...Object.keys(t), ...Object.keys(g)])) {
        const exception = allowed[key];
        if (exception) {
          // The difference is the documented one, not some other.
          expect({ key, gevent: g[key], tsgi: t[key] }).toEqual({ key, gevent: exception[0], tsgi: exception[1] });
          continue;
        }
        expect({ key, tsgi: t[key] }).toEqual({ key, tsgi: g[key] });
        // Not gevent's quirk alone: another seed gives the same value too.
        const others = seeds.filter((s) => s !== "gevent").map((s) => results.get(s)!.get(label)!);
        const agreeing = others.filter((d) => typeof d === "object" && d[key] === t[key]);
        expect({ key, anotherSeedAgrees: agreeing.length > 0 }).toEqual({ key, anotherSeedAgrees: true });
      }
    });
  }

  test("tsgi.headers_raw: the field lines as received, the same as eventlet's headers_raw (names' case and order, repeats, names with _, values without outer whitespace)", async () => {
    const bytes = `GET /raw HTTP/1.1\r\nhOsT: example.test\r\nX-A: 1\r\nx-a:2\r\nX-Foo_Bar: evil\r\nX-W:   v  w  \r\nX-L: caf\xe9\r\nCookie: a=1\r\nCookie: b=2\r\n${CLOSE}\r\n`;
    const rawOf = async (port: number) => {
      const text = (await raw(port, bytes, { timeoutMs: 2000 })).data.toString("latin1");
      return JSON.parse((JSON.parse(Buffer.from(text.slice(text.indexOf("\r\n\r\n") + 4), "latin1").toString("utf8")) as Dump).headers_raw ?? "null") as unknown;
    };
    const eventlet = await rawOf(seedPorts.find(([name]) => name === "eventlet")![1]);
    const mine = await rawOf(tsgi!.port);
    expect(mine).toEqual([
      ["hOsT", "example.test"],
      ["X-A", "1"],
      ["x-a", "2"],
      ["X-Foo_Bar", "evil"],
      ["X-W", "v  w"],
      ["X-L", "caf\xe9"],
      ["Cookie", "a=1"],
      ["Cookie", "b=2"],
      ["Connection", "close"],
    ]);
    expect(mine).toEqual(eventlet);
  });

  describe("response framing the server chooses, the same as gevent's", () => {
    /** A response without Date and Server, its header lines sorted (their order carries no meaning), and whether the server closed. */
    const normalise = (r: { data: Buffer; closed: boolean }) => {
      const text = r.data.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const [status, ...fields] = text.slice(0, end).split("\r\n");
      const kept = fields.filter((f) => !/^(date|server):/i.test(f)).sort();
      return { status, fields: kept, body: text.slice(end + 4), closed: r.closed };
    };
    const requests: Array<[string, string]> = [];
    for (const framingCase of ["generator", "list", "empty", "length", "204", "304"]) {
      for (const [method, version] of [["GET", "1.1"], ["GET", "1.0"], ["HEAD", "1.1"]]) {
        requests.push([`${method} /framing/${framingCase} HTTP/${version}`, method!]);
      }
    }
    const responses = new Map<string, Array<{ data: Buffer; closed: boolean }>>();
    beforeAll(async () => {
      // All at once: each read lasts until the server closes, or 500 ms of keep-alive.
      await Promise.all(
        requests.map(async ([line]) => {
          const bytes = `${line}\r\nHost: example.test\r\n\r\n`;
          responses.set(line, await Promise.all([raw(tsgi!.port, bytes, { timeoutMs: 500 }), raw(geventPort, bytes, { timeoutMs: 500 })]));
        }),
      );
    });
    for (const [line, method] of requests) {
      test(line, () => {
        const [mine, ref] = responses.get(line)!;
        const expected = normalise(ref!);
        if (method === "HEAD") {
          // The one difference: gevent 22.10 sends the body after a HEAD response's header section
          // (on a connection it keeps open); RFC 9110 §9.3.2 says a HEAD response has none, and tsgi sends none.
          expected.body = "";
          // And for an empty body tsgi sends no `Content-Length: 0`: it cannot tell an app that
          // skipped the body for HEAD from an empty GET body, and RFC 9110 §8.6 allows omitting it.
          if (line.includes("/framing/empty")) expected.fields = expected.fields.filter((f) => !/^content-length:/i.test(f));
        }
        expect(normalise(mine!)).toEqual(expected);
      });
    }
  });

  describe("startResponse misused (PEP 3333): tsgi answers 500 where a seed may send it on", () => {
    /**
     * What each server sent for an app calling start_response against PEP 3333
     * (fixtures' /misuse/ cases): the status line without its HTTP version,
     * or "(no response)". The seeds as measured (wsgiref of Python 3.11,
     * gevent 22.10, eventlet 0.33, cheroot 9.0); README "Deliberate
     * differences" and docs/reliability.md describe this table.
     */
    const expected: Record<string, Record<Seed | "tsgi", string>> = {
      // PEP 3333: "a fatal error"; gevent and eventlet let the second call replace the first.
      "second-call": { wsgiref: "500 Internal Server Error", gevent: "404 Not Found", eventlet: "404 Not Found", cheroot: "500 Internal Server Error", tsgi: "500 Internal Server Error" },
      // RFC 9112 §4: the SP after the code is required even with no reason phrase; three seeds send "HTTP/1.1 200".
      "no-reason": { wsgiref: "500 Internal Server Error", gevent: "200", eventlet: "200", cheroot: "200", tsgi: "500 Internal Server Error" },
      // An empty reason phrase is allowed: all agree.
      "empty-reason": { wsgiref: "200 ", gevent: "200 ", eventlet: "200 ", cheroot: "200 ", tsgi: "200 " },
      // RFC 9110 §15: a status code is three digits, 100-599.
      "two-digits": { wsgiref: "500 Internal Server Error", gevent: "99 Weird", eventlet: "99 Weird", cheroot: "99 Weird", tsgi: "500 Internal Server Error" },
      "over-599": { wsgiref: "600 Weird", gevent: "600 Weird", eventlet: "600 Weird", cheroot: "600 Weird", tsgi: "500 Internal Server Error" },
      // RFC 9110 §15.2: a 1xx is interim; as the final response the client waits for another.
      interim: { wsgiref: "100 Continue", gevent: "100 Continue", eventlet: "100 Continue", cheroot: "100 Continue", tsgi: "500 Internal Server Error" },
      "reason-first": { wsgiref: "500 Internal Server Error", gevent: "500 Internal Server Error", eventlet: "OK 200", cheroot: "(no response)", tsgi: "500 Internal Server Error" },
    };
    const sent = new Map<string, Record<string, string>>();
    let tsgiErrors = "";
    beforeAll(async () => {
      const servers: Array<[string, number]> = [...seedPorts, ["tsgi", tsgi!.port]];
      for (const label of Object.keys(expected)) sent.set(label, {});
      const errorsBefore = tsgi!.errors.length;
      // The servers side by side, each one's cases one after another (wsgiref serves one connection at a time).
      await Promise.all(
        servers.map(async ([name, port]) => {
          for (const label of Object.keys(expected)) {
            const r = await raw(port, `GET /misuse/${label} HTTP/1.1\r\n${HOST}${CLOSE}\r\n`, { timeoutMs: 2000 });
            const text = r.data.toString("latin1");
            const line = text.slice(0, text.indexOf("\r\n"));
            sent.get(label)![name] = /^HTTP\/1\.[01] /.test(line) ? line.slice("HTTP/1.x ".length) : "(no response)";
          }
        }),
      );
      tsgiErrors = tsgi!.errors.slice(errorsBefore).join("");
    });
    for (const label of Object.keys(expected)) {
      test(label, () => {
        expect({ label, sent: sent.get(label) }).toEqual({ label, sent: expected[label] });
      });
    }
    test("tsgi's error log says what was wrong with each refused call", () => {
      expect(tsgiErrors).toContain("Error in GET /misuse/second-call HTTP/1.1: Error: startResponse() was called a second time without excInfo");
      for (const [label, status] of [["no-reason", "200"], ["two-digits", "99 Weird"], ["over-599", "600 Weird"], ["reason-first", "OK 200"]]) {
        expect(tsgiErrors).toContain(`Error in GET /misuse/${label} HTTP/1.1: TypeError: startResponse(): status must be a string like "200 OK" (a code 200-599, a space, a reason without CR/LF/NUL), got ${JSON.stringify(status)}`);
      }
      expect(tsgiErrors).toContain('Error in GET /misuse/interim HTTP/1.1: TypeError: startResponse(): "100 Continue" is an interim (1xx) status, not a final response (RFC 9110 §15.2)');
      expect(tsgiErrors).not.toContain("/misuse/empty-reason");
    });
  });

  test("the connection's keys: REMOTE_ADDR and REMOTE_PORT are the client socket's, SERVER_PORT the bound port, as gevent gives them; SERVER_NAME is the bound host, where gevent looks its name up (README: deliberate differences)", async () => {
    /** The environ for one GET, and the local port the request came from. */
    const ask = (port: number) =>
      new Promise<{ env: Dump; clientPort: number }>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const sock = connect({ host: "127.0.0.1", port });
        const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no answer from port ${port} within 2 s`))), 2000);
        let clientPort = 0;
        sock.on("connect", () => {
          clientPort = sock.localPort!;
          sock.write(`GET /peer HTTP/1.1\r\n${HOST}${CLOSE}\r\n`);
        });
        sock.on("data", (d: Buffer) => chunks.push(d));
        sock.on("error", (e) => (clearTimeout(timer), reject(e)));
        sock.on("close", () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString("latin1");
          resolve({ env: JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) as Dump, clientPort });
        });
      });
    const geventPort = seedPorts.find(([name]) => name === "gevent")![1];
    const keys = (r: { env: Dump; clientPort: number }, port: number) => ({
      REMOTE_ADDR: r.env.REMOTE_ADDR,
      remotePortIsTheClients: r.env.REMOTE_PORT === String(r.clientPort),
      serverPortIsTheBoundOne: r.env.SERVER_PORT === String(port),
    });
    const [mine, gevent] = await Promise.all([ask(tsgi!.port), ask(geventPort)]);
    expect(keys(mine, tsgi!.port)).toEqual(keys(gevent, geventPort));
    expect(keys(mine, tsgi!.port)).toEqual({ REMOTE_ADDR: "127.0.0.1", remotePortIsTheClients: true, serverPortIsTheBoundOne: true });
    // gevent's is socket.getfqdn() of the bound address ("localhost" from /etc/hosts here), so it depends on the machine.
    console.log(`seed parity: SERVER_NAME for a server bound to 127.0.0.1: tsgi ${JSON.stringify(mine.env.SERVER_NAME)}, gevent ${JSON.stringify(gevent.env.SERVER_NAME)}`);
    expect(mine.env.SERVER_NAME).toBe("127.0.0.1");
  });

  test("an empty line before the request line is skipped (RFC 9112 §2.2: a server SHOULD ignore at least one), as cheroot does; gevent answers 400, wsgiref and eventlet close unanswered", async () => {
    const bytes = `\r\nGET /after-crlf HTTP/1.1\r\n${HOST}${CLOSE}\r\n`;
    const statusOf = async (port: number) => (await raw(port, bytes, { timeoutMs: 2000 })).data.toString("latin1").split("\r\n")[0];
    const port = (seed: Seed) => seedPorts.find(([name]) => name === seed)![1];
    const [mine, gevent, cheroot] = await Promise.all([statusOf(tsgi!.port), statusOf(port("gevent")), statusOf(port("cheroot"))]);
    expect({ mine, gevent, cheroot }).toEqual({ mine: "HTTP/1.1 200 OK", gevent: "HTTP/1.1 400 Bad Request", cheroot: "HTTP/1.1 200 OK" });
  });

  describe("apps that break the rules, and connection options: what tsgi sends, and how gevent differs", () => {
    const H = "Host: example.test\r\n";
    /** A second request on the same connection, to show whether the first response's framing left the connection usable. */
    const NEXT = `GET /framing/length HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
    /** case → [request bytes, gevent's answer, tsgi's answer, why], each answer as `answer()` gives it. */
    const rules: Record<string, [string, string, string, string]> = {
      "204 with a body from the app": [
        `GET /framing/204-body HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 21\r\n\r\nInternal Server Error[closed]",
        "HTTP/1.1 204 Whatever\r\nContent-Type: text/plain\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9110 §15.3.5, §8.6: a 204 has no content and no Content-Length; tsgi drops the app's body and keeps the connection (gevent answers 500; eventlet and wsgiref send the body with a Content-Length, cheroot without one, so the body is read as the next response)",
      ],
      "304 with a body from the app": [
        `GET /framing/304-body HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 21\r\n\r\nInternal Server Error[closed]",
        "HTTP/1.1 304 Whatever\r\nContent-Type: text/plain\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9110 §15.4.5: a 304 has no content; as for 204 (gevent answers 500, eventlet, wsgiref and cheroot send the body)",
      ],
      "205 with a body from the app": [
        `GET /framing/205-body HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 205 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbodyHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[closed]",
        "HTTP/1.1 205 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9110 §15.3.6: a 205 has no content, and `Content-Length: 0` says so (all four seeds send the body)",
      ],
      "a body shorter than the app's Content-Length": [
        `GET /framing/short-length HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcdeHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[closed]",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcde[closed]",
        "RFC 9112 §9.6: the client would wait for bytes that never come, so tsgi says Connection: close and closes (gevent, eventlet and cheroot keep the connection, and the next response is read as the rest of this body)",
      ],
      "a body longer than the app's Content-Length": [
        `GET /framing/long-length HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdeHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[closed]",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc[closed]",
        "RFC 9112 §6.3: bytes past the length are the start of the next response to the client; tsgi sends the declared 3 and closes (gevent, eventlet and wsgiref send all 5, cheroot a 500 after them)",
      ],
      "startResponse called twice without excInfo": [
        `GET /framing/start-twice HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[closed]",
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n\r\nInternal Server Error\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "PEP 3333: calling start_response again without exc_info is a fatal error; tsgi answers 500, as wsgiref and cheroot (gevent and eventlet take the second status)",
      ],
      "status 999 from the app": [
        `GET /framing/status-999 HTTP/1.1\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[closed]",
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n\r\nInternal Server Error\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9110 §15: a status code is 100-599, a client takes another as 5xx; tsgi answers its own 500 (the four seeds send 999)",
      ],
      "Connection: keep-alive from the app to an HTTP/1.0 request without it": [
        `GET /framing/keep-alive-field HTTP/1.0\r\n${H}\r\n${NEXT}`,
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok[closed]",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok[closed]",
        "the connection options are the server's (RFC 9112 §9.3): tsgi puts its own close in place of the app's field (gevent and cheroot say keep-alive and then close; eventlet sends both fields)",
      ],
      "Connection: keep-alive, close in an HTTP/1.1 request": [
        `GET /framing/length HTTP/1.1\r\n${H}Connection: keep-alive, close\r\n\r\n`,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd[open]",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9112 §9.6: the close option means the connection closes after this response, whatever else the field lists (gevent, eventlet and cheroot keep it open)",
      ],
      "HTTP/1.0 keep-alive request, generator body": [
        `GET /framing/generator HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nabcd[open]",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nabcd[closed]",
        "RFC 9112 §6.3: a body without a length on HTTP/1.0 ends with the connection, so it cannot stay open (gevent says keep-alive and leaves it open: the client never sees the end)",
      ],
    };
    /** The bytes a server sent without its Date and Server lines, and whether it closed within the wait. */
    const answer = (r: { data: Buffer; closed: boolean }) =>
      `${r.data.toString("latin1").replace(/\r\n(Date|Server): [^\r]*/gi, "")}${r.closed ? "[closed]" : "[open]"}`;
    const answers = new Map<string, Map<string, string>>();
    beforeAll(async () => {
      const servers: Array<[string, number]> = [...seedPorts, ["tsgi", tsgi!.port]];
      for (const label of Object.keys(rules)) answers.set(label, new Map());
      // The servers side by side, each one's cases one after another (wsgiref serves one connection at a time).
      await Promise.all(
        servers.map(async ([name, port]) => {
          // Until the server closes, or 500 ms with the connection open.
          for (const [label, [bytes]] of Object.entries(rules)) answers.get(label)!.set(name, answer(await raw(port, bytes, { timeoutMs: 500 })));
        }),
      );
      const names = servers.map(([n]) => n);
      const lines = [`| case | ${names.join(" | ")} |`, `|---|${names.map(() => "---").join("|")}|`];
      for (const label of Object.keys(rules)) lines.push(`| ${label} | ${names.map((n) => JSON.stringify(answers.get(label)!.get(n))).join(" | ")} |`);
      console.log(`seed parity: apps that break the rules, and connection options (the bytes sent, but Date and Server)\n${lines.join("\n")}`);
    });
    for (const [label, [, gevent, mine]] of Object.entries(rules)) {
      test(label, () => {
        expect({ tsgi: answers.get(label)!.get("tsgi") }).toEqual({ tsgi: mine });
        // The difference is the documented one, not some other.
        expect({ gevent: answers.get(label)!.get("gevent") }).toEqual({ gevent });
      });
    }
  });

  describe("malformed requests: tsgi rejects and closes, never more lenient than a seed", () => {
    const H = "Host: example.test\r\n";
    /** Framing attacks and malformed heads (RFC 9112 §2.2, §3, §5, §6.1, §6.3, §7.1). */
    const bad: Record<string, string> = {
      "Content-Length and Transfer-Encoding": `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      "two different Content-Length": `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
      "Content-Length with a sign": `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`,
      "Content-Length not a number": `POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`,
      "chunked not the final coding": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
      "Transfer-Encoding: identity": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`,
      "space before the colon of Transfer-Encoding": `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
      "Transfer-Encoding in HTTP/1.0": `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      "invalid chunk size": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      "chunk size overflow": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n`,
      "no CRLF after chunk data": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`,
      "bare LF line endings": "GET / HTTP/1.1\nHost: example.test\n\n",
      "obs-fold": `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  2\r\n\r\n`,
      "space before a colon": `GET / HTTP/1.1\r\n${H}X-A : 1\r\n\r\n`,
      "no Host in HTTP/1.1": "GET / HTTP/1.1\r\n\r\n",
      "two Host fields": `GET / HTTP/1.1\r\n${H}${H}\r\n`,
      "NUL in a field value": `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`,
      "field line without a colon": `GET / HTTP/1.1\r\n${H}X-A\r\n\r\n`,
      "HTTP/9.9": `GET / HTTP/9.9\r\n${H}\r\n`,
      "request line without a version": "GET /\r\n\r\n",
      "space in the request-target": `GET /a b HTTP/1.1\r\n${H}\r\n`,
      "70 KB field value": `GET / HTTP/1.1\r\n${H}X-A: ${"a".repeat(70_000)}\r\n\r\n`,
      "chunked applied twice": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      "Content-Length in the trailer section": `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 3\r\n\r\n`,
      "Host with userinfo": `GET / HTTP/1.1\r\nHost: user@example.test\r\n\r\n`,
      "absolute-form with userinfo": `GET http://user@example.test/ HTTP/1.1\r\n${H}\r\n`,
      "asterisk-form for GET": `GET * HTTP/1.1\r\n${H}\r\n`,
      "CONNECT with an origin-form target": `CONNECT / HTTP/1.1\r\n${H}\r\n`,
      "two Host fields in HTTP/1.0": `GET / HTTP/1.0\r\n${H}Host: other.test\r\n\r\n`,
      "a space after the HTTP version": `GET / HTTP/1.1 \r\n${H}\r\n`,
      "DEL in a field value": `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`,
    };
    /** What a server did with the bytes: its first status code (0: none) and whether it closed the connection. */
    type Outcome = { status: number; closed: boolean };
    const outcomes = new Map<string, Map<string, Outcome>>();
    /** Refused: an error status, or the connection closed with no response. (No answer on an open connection is waiting for more bytes.) */
    const rejected = (o: Outcome) => o.status >= 400 || (o.status === 0 && o.closed);
    beforeAll(async () => {
      const servers: Array<[string, number]> = [...seedPorts, ["tsgi", tsgi!.port]];
      for (const label of Object.keys(bad)) outcomes.set(label, new Map());
      // The servers side by side, each one's cases one after another (wsgiref serves one connection at a time).
      await Promise.all(
        servers.map(async ([name, port]) => {
          for (const [label, bytes] of Object.entries(bad)) {
            // Until the server closes, or 300 ms with the connection open.
            const r = await raw(port, bytes, { timeoutMs: 300 });
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.data.toString("latin1"));
            outcomes.get(label)!.set(name, { status: m ? Number(m[1]) : 0, closed: r.closed });
          }
        }),
      );
      const names = servers.map(([n]) => n);
      const lines = [`| request | ${names.join(" | ")} |`, `|---|${names.map(() => "---").join("|")}|`];
      for (const label of Object.keys(bad)) {
        const row = names.map((n) => {
          const o = outcomes.get(label)!.get(n)!;
          return o.status === 0 ? (o.closed ? "closed, no response" : "waits for more") : `${o.status}${o.closed ? ", closed" : ", open"}`;
        });
        lines.push(`| ${label} | ${row.join(" | ")} |`);
      }
      console.log(`seed parity: malformed requests (status, and whether the server closed within 300 ms)\n${lines.join("\n")}`);
    });
    for (const label of Object.keys(bad)) {
      test(label, () => {
        const mine = outcomes.get(label)!.get("tsgi")!;
        expect(mine.status).toBeGreaterThanOrEqual(400);
        expect(mine.status).toBeLessThan(600);
        expect(mine.closed).toBe(true);
        for (const seed of seeds) {
          const theirs = outcomes.get(label)!.get(seed)!;
          // Where a seed refuses the request, tsgi does too (here: always).
          if (rejected(theirs)) expect({ seed, tsgiRejects: rejected(mine) }).toEqual({ seed, tsgiRejects: true });
        }
      });
    }
  });

  test("every seed answered the cases it supports (wsgiref is HTTP/1.0: no chunked request bodies)", () => {
    for (const seed of seeds) {
      for (const label of Object.keys(cases)) {
        const d = results.get(seed)!.get(label)!;
        if (seed === "wsgiref" && label.startsWith("chunked")) continue;
        if (seed === "cheroot" && label === "HTTP/1.2 request") {
          expect(d).toStartWith("HTTP/1.1 505");
          continue;
        }
        if (seed === "cheroot" && label.startsWith("absolute-form request-target")) {
          expect(d).toStartWith("HTTP/1.1 400");
          continue;
        }
        expect([seed, label, typeof d]).toEqual([seed, label, "object"]);
      }
    }
  });
});

/** Print case × key with each server's value, where tsgi's value is not the common one. */
function printTable(): void {
  const names = [...results.keys()];
  const lines = [`| case | key | ${names.join(" | ")} |`, `|---|---|${names.map(() => "---").join("|")}|`];
  for (const label of Object.keys(cases)) {
    const keys = new Set<string>();
    for (const n of names) {
      const d = results.get(n)!.get(label)!;
      if (typeof d === "object") for (const k of Object.keys(d)) keys.add(k);
    }
    for (const key of [...keys].sort()) {
      const values = names.map((n) => {
        const d = results.get(n)!.get(label)!;
        return typeof d === "string" ? d : d[key] === undefined ? "-" : JSON.stringify(d[key]);
      });
      // Only where tsgi's value is shared by fewer than two of the seeds.
      const mine = values[names.indexOf("tsgi")];
      if (values.filter((v, i) => names[i] !== "tsgi" && v === mine).length < 2) lines.push(`| ${label} | ${key} | ${values.join(" | ")} |`);
    }
  }
  console.log(`seed parity: the values of tsgi that fewer than two seeds share\n${lines.join("\n")}`);
}
