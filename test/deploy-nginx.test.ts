/**
 * End to end behind a real nginx (issue 5 §4, §7) and a real HAProxy: the
 * configurations in docs/deploy.md, started on 127.0.0.1 (nginx in a
 * temporary prefix), in front of `tsgi serve --proxy-headers --root-path
 * /app`. Headers, spoofed X-Forwarded-* fields, streaming, a chunked upload,
 * an answer to an upload the app never reads, upstream keep-alive reuse, a
 * client's abort reaching the app.
 * Also the other commands of docs/deploy.md: --https, --certfile/--keyfile,
 * and socket activation (--fd 3).
 *
 * nginx and HAProxy come from Debian (`apt-get install nginx haproxy`, done
 * by .ci/run); without one, its part is skipped with a warning.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
const CLI = join(ROOT, "src/cli/serve.ts");
const APP = join(import.meta.dir, "apps/proxy-app.ts");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => Bun.file(p).size > 0) ?? Bun.which("nginx");
if (!NGINX) console.warn("SKIP: nginx is not installed (apt-get install nginx-light); the nginx end-to-end tests are skipped");
const HAPROXY = ["/usr/sbin/haproxy"].find((p) => Bun.file(p).size > 0) ?? Bun.which("haproxy");
if (!HAPROXY) console.warn("SKIP: haproxy is not installed (apt-get install haproxy); the HAProxy end-to-end tests are skipped");

const dir = mkdtempSync(join(tmpdir(), "tsgi-nginx-"));
const children: Array<ReturnType<typeof Bun.spawn>> = [];

/** Start `tsgi serve` and wait for its ready line. */
async function tsgi(args: string[], env: Record<string, string> = {}): Promise<{ proc: ReturnType<typeof Bun.spawn>; out: () => string }> {
  const proc = Bun.spawn([process.execPath, CLI, "serve", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env }, cwd: ROOT });
  children.push(proc);
  let out = "";
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      for await (const c of s) out += new TextDecoder().decode(c);
    })();
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !/serving .* on /.test(out)) {
    if (proc.exitCode !== null) throw new Error(`tsgi exited (${proc.exitCode}): ${out}`);
    await Bun.sleep(50);
  }
  if (!/serving .* on /.test(out)) throw new Error(`tsgi not ready: ${out}`);
  return { proc, out: () => out };
}

/** The ```LANG block of docs/deploy.md. */
function docsBlock(lang: string): string {
  const md = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(md);
  if (!m) throw new Error(`docs/deploy.md has no \`\`\`${lang} block`);
  return m[1]!;
}

/** The ```nginx block of docs/deploy.md, with the ports of this run. */
function docsNginxConfig(appPort: number, nginxPort: number): string {
  return docsBlock("nginx").replace("server 127.0.0.1:8000;", `server 127.0.0.1:${appPort};`).replace("listen 127.0.0.1:8080;", `listen 127.0.0.1:${nginxPort};`);
}

/** The ```haproxy block of docs/deploy.md, with the ports of this run. */
function docsHaproxyConfig(appPort: number, haproxyPort: number): string {
  const conf = docsBlock("haproxy");
  if (!conf.includes("server app 127.0.0.1:8000") || !conf.includes("bind 127.0.0.1:8080")) throw new Error("the haproxy block's ports changed: update the test");
  return conf.replace("server app 127.0.0.1:8000", `server app 127.0.0.1:${appPort}`).replace("bind 127.0.0.1:8080", `bind 127.0.0.1:${haproxyPort}`);
}

/** One HTTP/1.1 exchange from a chosen loopback source address, raw, with a time limit. */
function rawFrom(localAddress: string, port: number, request: string | Buffer[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port, localAddress });
    let data = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timeout; got ${JSON.stringify(data)}`));
    }, timeoutMs);
    sock.on("data", (d) => (data += d.toString("latin1")));
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("connect", async () => {
      if (typeof request === "string") sock.write(request);
      else
        for (const part of request) {
          sock.write(part);
          await Bun.sleep(5);
        }
    });
  });
}

function jsonBody(response: string): Record<string, string | number> {
  const body = response.slice(response.indexOf("\r\n\r\n") + 4);
  // nginx may relay chunked: take the JSON object out of the body.
  const start = body.indexOf("{");
  const end = body.lastIndexOf("}");
  return JSON.parse(body.slice(start, end + 1));
}

/** The documented `tsgi serve` command behind a proxy (docs/deploy.md), on `port`. */
const behindProxy = (port: number) => [APP, "--port", String(port), "--proxy-headers", "--root-path", "/app", "--keep-alive", "65", "--no-access-log"];

/** A 20 MB POST the app answers 401 without reading, three times through the proxy: each client gets the 401. */
async function expectUnreadUploadAnswered(proxyPort: number): Promise<void> {
  const body = Buffer.alloc(20_000_000, 0x61);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/app/noread`, { method: "POST", body, signal: AbortSignal.timeout(15_000) });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe("log in first\n");
  }
}

/** How many upstream connections (the app's peer ports) 12 requests through the proxy came over. */
async function upstreamConnections(proxyPort: number): Promise<number> {
  const ports = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const env = (await (await fetch(`http://127.0.0.1:${proxyPort}/app/`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).json()) as Record<string, string>;
    ports.add(env["tsgi.proxy_peer_port"]!);
  }
  return ports.size;
}

/**
 * A client that leaves through the proxy on `proxyPort` reaches the app: an
 * event stream it stops reading after the first event has its body's
 * close() called, and a chunked upload it abandons halfway has the app's
 * read reject (each within 5 s). `tag` keeps the ids apart per proxy.
 */
async function expectClientAbortsReachTheApp(proxyPort: number, tag: string): Promise<void> {
  const ended = async () => (await (await fetch(`http://127.0.0.1:${proxyPort}/app/ended`, { signal: AbortSignal.timeout(3000) })).json()) as string[];
  const until = async (entry: string) => {
    for (let i = 0; i < 100; i++) {
      if ((await ended()).includes(entry)) return true;
      await Bun.sleep(50);
    }
    return false;
  };
  const controller = new AbortController();
  const r = await fetch(`http://127.0.0.1:${proxyPort}/app/events?id=${tag}`, { signal: controller.signal });
  const first = await r.body!.getReader().read();
  expect(new TextDecoder().decode(first.value)).toStartWith("data: 0");
  controller.abort();
  expect(await until(`events ${tag} closed`)).toBe(true);
  // Half a chunked upload, then the client goes: the proxy (proxy_request_buffering off) drops its upstream connection.
  const piece = Buffer.alloc(32 * 1024, 0x61);
  const sock = createConnection({ host: "127.0.0.1", port: proxyPort });
  sock.on("error", () => {});
  await new Promise((resolve) => sock.on("connect", resolve));
  sock.write(`POST /app/upload?id=${tag} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n`);
  for (let i = 0; i < 4; i++) sock.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]));
  await Bun.sleep(300);
  sock.destroy();
  expect(await until(`upload ${tag} read failed`)).toBe(true);
}

/** Wait until the proxy on `port` answers (10 s at most); `failure()` says why it did not start. */
async function waitForProxy(port: number, proc: ReturnType<typeof Bun.spawn>, failure: () => Promise<string> | string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/app/`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(await failure());
      await Bun.sleep(50);
    }
  }
}

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null) c.kill("SIGTERM");
  }
  await Promise.all(children.map((c) => Promise.race([c.exited, Bun.sleep(3000)])));
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!NGINX)("behind nginx (docs/deploy.md configuration)", () => {
  const appPort = freePort();
  const nginxPort = freePort();
  beforeAll(async () => {
    await tsgi(behindProxy(appPort));
    const prefix = join(dir, "nginx");
    mkdirSync(join(prefix, "logs"), { recursive: true });
    // The scaffolding a throwaway nginx needs; the http content is the documented configuration.
    const conf = `
${process.getuid?.() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${docsNginxConfig(appPort, nginxPort)}
}
`;
    writeFileSync(join(prefix, "nginx.conf"), conf);
    const nginx = Bun.spawn([NGINX!, "-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs/error.log")], { stdout: "inherit", stderr: "inherit" });
    children.push(nginx);
    await waitForProxy(nginxPort, nginx, () => `nginx did not start: ${readFileSync(join(prefix, "logs/error.log"), "utf8")}`);
  });

  test("client address, scheme, host and mount path as the client sent them", async () => {
    const res = await rawFrom("127.0.0.2", nginxPort, `GET /app/items/7?x=1 HTTP/1.1\r\nHost: shop.example:${nginxPort}\r\nConnection: close\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 200");
    const env = jsonBody(res);
    expect(env.REMOTE_ADDR).toBe("127.0.0.2");
    expect(env["tsgi.proxy_peer"]).toBe("127.0.0.1");
    expect(env["tsgi.url_scheme"]).toBe("http");
    expect(env.HTTP_HOST).toBe(`shop.example:${nginxPort}`);
    expect(env.SCRIPT_NAME).toBe("/app");
    expect(env.PATH_INFO).toBe("/items/7");
    expect(env.QUERY_STRING).toBe("x=1");
  });

  test("a spoofed X-Forwarded-For through nginx: the right-most untrusted hop wins", async () => {
    const res = await rawFrom("127.0.0.3", nginxPort, `GET /app/ HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=7.7.7.7\r\nConnection: close\r\n\r\n`);
    expect(jsonBody(res).REMOTE_ADDR).toBe("127.0.0.3");
  });

  test("a spoofed X-Forwarded-For sent straight to the app from an untrusted peer is ignored", async () => {
    const res = await rawFrom("127.0.0.4", appPort, `GET /app/ HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n`);
    const env = jsonBody(res);
    expect(env.REMOTE_ADDR).toBe("127.0.0.4");
    expect(env["tsgi.url_scheme"]).toBe("http");
    expect(env.HTTP_HOST).toBe("h");
  });

  test("streaming: parts arrive through nginx as the app produces them", async () => {
    const started = performance.now();
    const r = await fetch(`http://127.0.0.1:${nginxPort}/app/stream`, { signal: AbortSignal.timeout(5000) });
    const reader = r.body!.getReader();
    const first = await reader.read();
    const firstAt = performance.now() - started;
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toBe("part 0\npart 1\npart 2\npart 3\n");
    expect(firstAt).toBeLessThan(performance.now() - started - 300);
  });

  test("a chunked upload of 2 MB through nginx reaches the app intact", async () => {
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const parts: Buffer[] = [Buffer.from(`POST /app/upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)];
    for (let i = 0; i < 32; i++) parts.push(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]));
    parts.push(Buffer.from("0\r\n\r\n"));
    const res = await rawFrom("127.0.0.1", nginxPort, parts, 10_000);
    const env = jsonBody(res);
    expect(env.bodyBytes).toBe(32 * 64 * 1024);
    expect(env.sum).toBe((32 * 64 * 1024 * 0x61) % 1_000_000_007);
  });

  test("an answer to a 20 MB upload the app never reads reaches the client through nginx, not a 502 (lingering close)", async () => {
    await expectUnreadUploadAnswered(nginxPort);
  }, 60_000);

  test("keep-alive: nginx reuses its upstream connections", async () => {
    expect(await upstreamConnections(nginxPort)).toBeLessThanOrEqual(2); // 12 requests over 1-2 upstream connections
  });

  test("a client that leaves reaches the app through nginx: its event stream's close() is called, its abandoned upload's read rejects", async () => {
    await expectClientAbortsReachTheApp(nginxPort, "nginx");
  }, 20_000);
});

describe.skipIf(!HAPROXY)("behind HAProxy (docs/deploy.md configuration)", () => {
  const appPort = freePort();
  const haproxyPort = freePort();
  beforeAll(async () => {
    await tsgi(behindProxy(appPort));
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(cfg, docsHaproxyConfig(appPort, haproxyPort));
    const check = Bun.spawnSync([HAPROXY!, "-c", "-q", "-f", cfg]);
    if (check.exitCode !== 0) throw new Error(`haproxy -c: ${check.stderr.toString()}${check.stdout.toString()}`);
    const haproxy = Bun.spawn([HAPROXY!, "-db", "-f", cfg], { stdout: "ignore", stderr: "pipe" });
    children.push(haproxy);
    await waitForProxy(haproxyPort, haproxy, async () => `haproxy did not start: ${await new Response(haproxy.stderr).text()}`);
  });

  test("client address, scheme and host as the client sent them; its own X-Forwarded-* and Forwarded fields are not believed", async () => {
    const res = await rawFrom(
      "127.0.0.2",
      haproxyPort,
      `GET /app/items/7?x=1 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=7.7.7.7\r\nConnection: close\r\n\r\n`,
    );
    expect(res).toStartWith("HTTP/1.1 200");
    const env = jsonBody(res);
    expect(env.REMOTE_ADDR).toBe("127.0.0.2");
    expect(env["tsgi.url_scheme"]).toBe("http");
    expect(env.HTTP_HOST).toBe("shop.example");
    expect(env.SCRIPT_NAME).toBe("/app");
    expect(env.PATH_INFO).toBe("/items/7");
  });

  test("streaming: parts arrive through HAProxy as the app produces them (option http-no-delay)", async () => {
    const started = performance.now();
    const r = await fetch(`http://127.0.0.1:${haproxyPort}/app/stream`, { signal: AbortSignal.timeout(5000) });
    const reader = r.body!.getReader();
    const arrivals: number[] = [];
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - started);
      text += new TextDecoder().decode(value);
    }
    expect(text).toBe("part 0\npart 1\npart 2\npart 3\n");
    // Four parts 150 ms apart: the first well before the end, none held back for the next.
    expect(arrivals[0]!).toBeLessThan(arrivals[arrivals.length - 1]! - 300);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
  });

  test("an answer to a 20 MB upload the app never reads reaches the client through HAProxy", async () => {
    await expectUnreadUploadAnswered(haproxyPort);
  }, 60_000);

  test("keep-alive: HAProxy reuses its connections to the app", async () => {
    expect(await upstreamConnections(haproxyPort)).toBeLessThanOrEqual(2);
  });

  test("a client that leaves reaches the app through HAProxy: its event stream's close() is called, its abandoned upload's read rejects", async () => {
    await expectClientAbortsReachTheApp(haproxyPort, "haproxy");
  }, 20_000);
});

describe("the other commands of docs/deploy.md", () => {
  test("tsgi serve --https prints the certificate's fingerprint; curl --cacert works; --certfile/--keyfile too", async () => {
    const cache = join(dir, "xdg");
    const port = freePort();
    const t = await tsgi([APP, "--port", String(port), "--https", "--no-access-log"], { XDG_CACHE_HOME: cache });
    const certfile = join(cache, "tsgi/localhost-cert.pem");
    expect(t.out()).toMatch(/SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(t.out()).toContain(`curl --cacert ${certfile}`);
    if (Bun.which("curl")) {
      const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "--cacert", certfile, `https://localhost:${port}/x`], { stdout: "pipe" });
      const env = JSON.parse(await new Response(p.stdout).text());
      expect(env["tsgi.url_scheme"]).toBe("https");
      expect(env.HTTPS).toBe("on");
    }
    t.proc.kill("SIGTERM");
    expect(await t.proc.exited).toBe(0);
    const port2 = freePort();
    const t2 = await tsgi([APP, "--port", String(port2), "--certfile", certfile, "--keyfile", join(cache, "tsgi/localhost-key.pem"), "--no-access-log"]);
    const res = await fetch(`https://localhost:${port2}/`, { tls: { ca: readFileSync(certfile, "utf8") } } as RequestInit);
    expect(((await res.json()) as Record<string, string>)["tsgi.url_scheme"]).toBe("https");
    t2.proc.kill("SIGTERM");
    await t2.proc.exited;
  }, 30_000);

  test("socket activation: a parent binds the port and starts tsgi serve --fd 3 (with and without workers)", async () => {
    const { dupFd, closeFd } = await import("../src/server/sys.ts");
    for (const extra of [[], ["--workers", "2"]]) {
      const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      const port = l.port;
      const fd = dupFd((l as unknown as { fd: number }).fd);
      l.stop(true);
      const proc = Bun.spawn([process.execPath, CLI, "serve", APP, "--fd", "3", "--no-access-log", ...extra], { stdio: ["ignore", "pipe", "pipe", fd], cwd: ROOT });
      children.push(proc);
      closeFd(fd);
      let ok = false;
      const deadline = Date.now() + 15_000;
      while (!ok && Date.now() < deadline) {
        try {
          const env = (await (await fetch(`http://127.0.0.1:${port}/p`, { signal: AbortSignal.timeout(1000) })).json()) as Record<string, string>;
          ok = env.PATH_INFO === "/p";
        } catch {
          await Bun.sleep(50);
        }
      }
      expect(ok).toBe(true);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 40_000);
});
