/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt, v1 text and v2 binary)
 * is not read by tsgi: a proxy set to send it (`send-proxy`,
 * `send-proxy-v2`, nginx `proxy_protocol on;`) reaches a server that takes
 * its header for a malformed request line. What must hold, as for nginx
 * and gunicorn without their `proxy_protocol` option: the header is refused
 * with a 400 and the connection closed, and no request after it, in the
 * same packet or a later one, reaches the app (its address would otherwise
 * be the proxy's while the operator believes it the client's, or a client
 * that can reach the port directly could forge the header).
 * Raw bytes on 127.0.0.1, and a real HAProxy (skipped, with a message, when
 * it is not installed).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Application } from "../src/spec.ts";
import { enc, parseResponses, raw, serverPool } from "./helpers.ts";

const HAPROXY = ["/usr/sbin/haproxy"].find((p) => Bun.file(p).size > 0) ?? Bun.which("haproxy");
if (!HAPROXY) console.warn("SKIP: haproxy is not installed (apt-get install haproxy); the send-proxy tests are skipped");

const start = serverPool();

/** An app that counts the requests it is called for. */
function countingApp(): { app: Application; calls: () => number } {
  let calls = 0;
  const app: Application = (_environ, startResponse) => {
    calls++;
    startResponse("200 OK", [["Content-Length", "2"]]);
    return [enc("ok")];
  };
  return { app, calls: () => calls };
}

const GET = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
/** The v2 signature (proxy-protocol.txt §2.2): 12 bytes. */
const V2_SIG = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** A v2 header: PROXY command over TCP/IPv4 (0x21 0x11), 1.2.3.4:1111 -> 5.6.7.8:80, with `extra` bytes (TLVs) in its length. */
function v2Header(extra: Buffer = Buffer.alloc(0)): Buffer {
  const addr = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 0x04, 0x57, 0x00, 0x50]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length + extra.length);
  return Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11]), len, addr, extra]);
}

describe("a PROXY protocol header sent to tsgi", () => {
  const cases: Array<[string, Array<string | Uint8Array>]> = [
    ["v1 TCP4, a request pipelined after it", [`PROXY TCP4 1.2.3.4 5.6.7.8 1111 80\r\n${GET}`]],
    ["v1 TCP6, split across reads", ["PROXY TCP6 2001:db8::1 ", `2001:db8::2 1111 80\r\n`, GET]],
    ["v1 UNKNOWN", [`PROXY UNKNOWN\r\n${GET}`]],
    ["v1 line over 107 bytes (the spec's limit)", [`PROXY TCP4 ${"1".repeat(200)} 5.6.7.8 1111 80\r\n${GET}`]],
    ["v1 line without its CRLF, the request's CRLF ending it", [`PROXY TCP4 1.2.3.4 5.6.7.8 1111 80 ${GET}`]],
    ["v2 PROXY over TCP4, a request in the same packet", [Buffer.concat([v2Header(), Buffer.from(GET)])]],
    ["v2 with a TLV (PP2_TYPE_AUTHORITY)", [Buffer.concat([v2Header(Buffer.from([0x02, 0x00, 0x01, 0x61])), Buffer.from(GET)])]],
    ["v2 LOCAL (health check)", [Buffer.concat([V2_SIG, Buffer.from([0x20, 0x00, 0x00, 0x00]), Buffer.from(GET)])]],
    ["v2 signature split after its leading CRLF CRLF", [V2_SIG.subarray(0, 4), Buffer.concat([V2_SIG.subarray(4), v2Header().subarray(12), Buffer.from(GET)])]],
    // Refused at the NUL, before the rest of the signature is there: the two empty lines before it tell it (before: "Invalid method").
    ["v2 signature split just after its NUL", [V2_SIG.subarray(0, 5), Buffer.concat([V2_SIG.subarray(5), v2Header().subarray(12), Buffer.from(GET)])]],
    ["v2 signature split inside its QUIT", [V2_SIG.subarray(0, 9), Buffer.concat([V2_SIG.subarray(9), v2Header().subarray(12), Buffer.from(GET)])]],
    ["v2 with a length longer than what follows", [Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0xff, 0xff]), Buffer.from(GET)])]],
  ];
  for (const [name, pieces] of cases) {
    test(`${name}: 400, connection closed, the app never called`, async () => {
      const { app, calls } = countingApp();
      const s = start(app);
      const r = await raw(s.port, pieces, { gapMs: 50, timeoutMs: 5000 });
      expect(r.closed).toBe(true);
      const responses = parseResponses(r.data);
      expect(responses.length).toBe(1);
      expect(responses[0]!.status).toBe(400);
      expect(responses[0]!.headers["connection"]).toBe("close");
      // Said for what it is: the operator reads the access log's rejection, not a request-line puzzle.
      expect(responses[0]!.body.toString("latin1")).toContain("A PROXY protocol header (HAProxy send-proxy, nginx proxy_protocol), which this server does not read");
      expect(s.errors.join("")).toBe("");
      expect(calls()).toBe(0);
      // The server still serves the next connection.
      const ok = parseResponses((await raw(s.port, `GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 })).data);
      expect(ok.map((x) => x.status)).toEqual([200]);
      expect(calls()).toBe(1);
    });
  }
});

describe("a request-line refused at a NUL that is no PROXY v2 header", () => {
  for (const [name, pieces] of [
    // A PostgreSQL client's startup message (length, then protocol 3.0): no empty lines before the NUL.
    ["a PostgreSQL startup message", [Buffer.from("0000000800030000", "hex")]],
    // The signature's two empty lines and NUL, then (in the same read) a byte that is not its next one.
    ["two empty lines, a NUL, then no CR", [Buffer.concat([Buffer.from("0d0a0d0a00", "hex"), Buffer.from("X / HTTP/1.1\r\n\r\n")])]],
    ["one empty line, then a NUL", [Buffer.from("0d0a00", "hex"), Buffer.from("0d0a515549540a", "hex")]],
  ] as Array<[string, Uint8Array[]]>) {
    test(`${name}: 400 "Invalid method", not the PROXY protocol message`, async () => {
      const { app, calls } = countingApp();
      const s = start(app);
      const r = await raw(s.port, pieces, { gapMs: 50, timeoutMs: 5000 });
      const responses = parseResponses(r.data);
      expect(responses.map((x) => [x.status, x.body.toString("latin1")])).toEqual([[400, "400 Bad Request: Invalid method\n"]]);
      expect(calls()).toBe(0);
    });
  }
});

describe.skipIf(!HAPROXY)("behind HAProxy set to send-proxy / send-proxy-v2 (a proxy misconfigured for tsgi)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsgi-proxy-protocol-"));
  const children: Array<ReturnType<typeof Bun.spawn>> = [];
  afterAll(() => {
    for (const c of children) c.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const option of ["send-proxy", "send-proxy-v2"]) {
    test(`${option}: tsgi refuses the header with 400 (HAProxy relays it to the client) and never calls the app`, async () => {
      const { app, calls } = countingApp();
      const s = start(app);
      // HAProxy's side on a Unix socket: no port to pick and release before it binds.
      const front = join(dir, `${option}.sock`);
      const cfg = join(dir, `${option}.cfg`);
      writeFileSync(
        cfg,
        [
          "defaults",
          "  mode http",
          "  timeout connect 2s",
          "  timeout client 5s",
          "  timeout server 5s",
          "  retries 0",
          "frontend fe",
          `  bind ${front}`,
          "  default_backend be",
          "backend be",
          `  server app 127.0.0.1:${s.port} ${option}`,
          "",
        ].join("\n"),
      );
      const haproxy = Bun.spawn([HAPROXY!, "-db", "-f", cfg], { stdout: "ignore", stderr: "pipe" });
      children.push(haproxy);
      let status = 0;
      let body = "";
      for (let i = 0; i < 100 && status === 0; i++) {
        try {
          const res = await fetch("http://localhost/", { unix: front, signal: AbortSignal.timeout(3000) } as RequestInit);
          body = await res.text();
          status = res.status;
        } catch {
          if (haproxy.exitCode !== null) throw new Error(`haproxy exited: ${await new Response(haproxy.stderr).text()}`);
          await Bun.sleep(50);
        }
      }
      haproxy.kill();
      expect(status).toBe(400);
      expect(body).toStartWith("400 Bad Request");
      expect(calls()).toBe(0);
    }, 15_000);
  }
});
