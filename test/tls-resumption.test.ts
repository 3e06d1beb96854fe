/**
 * A resumed TLS session (TLS 1.2 session ticket, TLS 1.3 PSK) carries the
 * client certificate of the handshake that made it: the resumed connection
 * presents none, and its requests must get the same `SSL_CLIENT_*` keys,
 * verification result included. A resumption that read `SUCCESS` for a
 * session whose certificate `FAILED` (or `NONE`, dropping a verified
 * client's identity) would let a client launder a certificate, which mod_ssl
 * and nginx (`$ssl_client_verify`) do not. Real `openssl s_client` with
 * `-sess_out` / `-sess_in`; skipped, with a message, without openssl.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../src/server/index.ts";
import type { Server } from "../src/server/index.ts";
import type { Application } from "../src/spec.ts";

const OPENSSL = Bun.which("openssl");
if (!OPENSSL) console.warn("SKIP: openssl is not installed (apt-get install openssl); the TLS resumption tests are skipped");

const dir = mkdtempSync(join(tmpdir(), "tsgi-tls-resume-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sslApp: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  const keys = Object.fromEntries(Object.entries(environ).filter(([k]) => k.startsWith("SSL_CLIENT_") && k !== "SSL_CLIENT_CERT"));
  return [new TextEncoder().encode(`${JSON.stringify(keys)}\n`)];
};

/** One request over `openssl s_client`; `reused` tells whether the session was resumed. */
async function sClient(port: number, args: string[]): Promise<{ reused: boolean; env: Record<string, string> }> {
  const proc = Bun.spawn([OPENSSL!, "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-ign_eof", ...args], {
    stdin: new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 10_000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  const json = /^\{.*\}$/m.exec(out)?.[0];
  if (!json) throw new Error(`no response from s_client: ${out.slice(-500)}`);
  return { reused: /^Reused, /m.test(out), env: JSON.parse(json) };
}

describe.skipIf(!OPENSSL)("TLS session resumption keeps the client certificate's SSL_CLIENT_* keys", () => {
  let optional: Server;
  let files: { client: string[]; stranger: string[] };
  beforeAll(async () => {
    const { generate } = await import("selfsigned");
    const ec = { keyType: "ec", curve: "P-256", algorithm: "sha256" } as const;
    const server = await generate([{ name: "commonName", value: "localhost" }], ec);
    const ca = await generate([{ name: "commonName", value: "tsgi resume CA" }], { ...ec, extensions: [{ name: "basicConstraints", cA: true }, { name: "keyUsage", keyCertSign: true, digitalSignature: true }] });
    const client = await generate([{ name: "commonName", value: "alice" }], { ...ec, ca: { key: ca.private, cert: ca.cert }, extensions: [{ name: "extKeyUsage", clientAuth: true }] });
    const stranger = await generate([{ name: "commonName", value: "mallory" }], { ...ec, extensions: [{ name: "extKeyUsage", clientAuth: true }] });
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    files = {
      client: ["-cert", write("client.pem", client.cert), "-key", write("client.key", client.private)],
      stranger: ["-cert", write("stranger.pem", stranger.cert), "-key", write("stranger.key", stranger.private)],
    };
    optional = serve(sslApp, {
      hostname: "127.0.0.1",
      port: 0,
      log: { write() {} },
      errorLog: { write() {} },
      tls: { cert: server.cert, key: server.private, ca: ca.cert, requestCert: true, rejectUnauthorized: false },
    });
  });
  afterAll(async () => {
    await optional?.close({ timeout: 100 });
  });

  for (const version of ["-tls1_2", "-tls1_3"]) {
    for (const [who, expected] of [
      ["client", { verify: "SUCCESS", cn: "alice" }],
      ["stranger", { verify: "FAILED:", cn: "mallory" }],
    ] as const) {
      test(`${version.slice(1)}, the ${who}'s certificate: the resumed connection gets ${expected.verify} and CN=${expected.cn} too`, async () => {
        const sess = join(dir, `${who}${version}.sess`);
        const first = await sClient(optional.port, [version, ...files[who], "-sess_out", sess]);
        expect(first.reused).toBe(false);
        expect(first.env.SSL_CLIENT_VERIFY).toStartWith(expected.verify);
        expect(first.env.SSL_CLIENT_S_DN_CN).toBe(expected.cn);
        // No certificate given this time: only the session can carry it.
        const resumed = await sClient(optional.port, [version, "-sess_in", sess]);
        expect(resumed.reused).toBe(true);
        expect(resumed.env).toEqual(first.env);
      }, 30_000);
    }
  }
});
