/**
 * TLS, Unix sockets, inherited file descriptors and peer credentials
 * (issue 5 §1, §2, §6), with real clients: curl, Node's fetch, Bun's fetch.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { hostname, networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../src/server/index.ts";
import { collect, freePort, servingPort } from "./helpers.ts";
import { prepareUnixPath, unixListenError } from "../src/server/bind.ts";
import { certificateDateWarning, devCertificate, fingerprint256, loadTls, type DevCertificate } from "../src/server/tls.ts";
import { readTlsFile } from "../src/server/tls-file.ts";
import { shellQuote } from "../src/server/shell.ts";
import type { Application, Environ } from "../src/spec.ts";
import { requestUri } from "../src/toolkit/util.ts";
import { validator } from "../src/toolkit/validate.ts";

const quiet = { errorLog: null, log: null } as const;
const KEYS = ["REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT", "HTTPS", "tsgi.url_scheme", "X_REMOTE_PID", "X_REMOTE_UID", "X_REMOTE_GID", "X_REMOTE_USER", "X_REMOTE_GROUP", "REMOTE_USER"];

/** Answers with the environ keys above as JSON; echoes a POST body's length. */
const envApp: Application = async (environ: Environ, startResponse) => {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) if (k in environ) out[k] = environ[k];
  if (environ.REQUEST_METHOD === "POST") out.bodyLength = (await environ["tsgi.input"].read()).length;
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [new TextEncoder().encode(JSON.stringify(out))];
};

async function run(cmd: string[], env?: Record<string, string>, timeoutMs = 10_000) {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const timer = setTimeout(() => p.kill(), timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const hasCurl = Bun.which("curl") !== null;
const hasNode = Bun.which("node") !== null;
const PYTHON = Bun.which("python3");
if (!PYTHON) console.warn("skipping the inherited Unix socket tests: python3 not found");
const dir = mkdtempSync(join(tmpdir(), "tsgi-listen-"));
let cert: DevCertificate;

beforeAll(async () => {
  cert = await devCertificate(join(dir, "cache"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each `[args, message]`: `cmd` with `args` exits 1 with one line on stderr holding `message`, and no stack. */
async function expectOneLineRefusals(cmd: string[], cases: [string[], string][]): Promise<void> {
  for (const [args, message] of cases) {
    const r = await run([...cmd, ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.stderr).not.toContain("    at ");
  }
}


/**
 * A `tsgi serve` command started with its stderr collected, SIGKILLed after
 * `killMs` if still running: `serving()` waits (at most `tries` × 50 ms) for
 * its "serving ... on" line or its exit, `stop()` sends SIGTERM and waits for
 * the exit and the last of stderr.
 */
function spawnServe(cmd: string[], env: Record<string, string | undefined> = process.env, killMs = 20_000) {
  const proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe", env });
  const timer = setTimeout(() => proc.kill("SIGKILL"), killMs);
  const stderr = collect(proc.stderr);
  return {
    err: stderr.text,
    /** The port it bound, from its "serving ... on URL" line (`--port 0`): read it after {@link serving}. */
    get port(): number {
      const port = servingPort(stderr.text());
      if (port === undefined) throw new Error(`tsgi serve is not serving: ${stderr.text()}`);
      return port;
    },
    async serving(tries = 300): Promise<void> {
      for (let i = 0; i < tries && !/serving .* on /.test(stderr.text()) && proc.exitCode === null; i++) await Bun.sleep(50);
    },
    async stop(): Promise<void> {
      proc.kill("SIGTERM");
      await proc.exited;
      await stderr.done;
      clearTimeout(timer);
    },
  };
}

describe("TCP", () => {
  test('hostname "" binds the default 127.0.0.1, as makeServer("") and tsgi serve --host "" do (not a raw Bun error)', async () => {
    const server = serve(envApp, { ...quiet, hostname: "", port: 0 });
    try {
      expect(server.hostname).toBe("127.0.0.1");
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
      const body = (await (await fetch(server.url)).json()) as Record<string, string>;
      expect(body.SERVER_NAME).toBe("127.0.0.1");
    } finally {
      await server.close();
    }
  });
});

describe("an IPv6 host in server.url and the start line (RFC 3986 §3.2.2 brackets, RFC 6874 §2 zone as %25)", () => {
  // A link-local address of this machine, with its interface as the zone (fe80::1%eth0): bound only with the zone.
  const linkLocal = Object.entries(networkInterfaces())
    .flatMap(([name, addrs]) => (addrs ?? []).filter((a) => a.family === "IPv6" && !a.internal && a.address.startsWith("fe80:")).map((a) => ({ address: a.address, zone: name })))
    .find((a) => !a.address.includes("%"));
  if (!linkLocal) console.warn("skipping the IPv6 zone tests: no link-local IPv6 address on this machine");
  if (!hasCurl) console.warn("skipping the IPv6 zone tests: curl not found");

  test("::1 is written in brackets, a URL fetch() takes", async () => {
    const server = serve(envApp, { ...quiet, hostname: "::1", port: 0 });
    try {
      expect(server.url).toBe(`http://[::1]:${server.port}/`);
      expect(new URL(server.url).hostname).toBe("[::1]");
      expect((await fetch(server.url)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  // WHATWG URL (new URL(), fetch(), browsers) takes no zone in either form (whatwg/url#392): curl, Go and Python take %25.
  test.skipIf(!linkLocal || !hasCurl)("a link-local address with its zone (fe80::...%eth0): server.url and tsgi serve's start line write the zone %25eth0, the URL curl fetches (before: a bare %eth0, no URI by RFC 3986), with --workers and without", async () => {
    const host = `${linkLocal!.address}%${linkLocal!.zone}`;
    const written = `[${linkLocal!.address}%25${linkLocal!.zone}]`;
    const curl = async (url: string) => (await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url])).stdout;
    const server = serve(envApp, { ...quiet, hostname: host, port: 0 });
    try {
      expect(server.url).toBe(`http://${written}:${server.port}/`);
      expect(await curl(server.url)).toBe("200");
    } finally {
      await server.close();
    }
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--no-access-log", "--host", host, "--port", "0"];
    for (const workers of [[], ["--workers", "1"]]) {
      const proc = spawnServe([...cli, ...workers]);
      try {
        await proc.serving();
        const url = /serving .* on (http:\/\/\S+\/)/.exec(proc.err())?.[1];
        expect(url, `${workers.join(" ")}: ${proc.err()}`).toMatch(new RegExp(`^http://${written.replace(/[.[\]]/g, "\\$&")}:\\d+/$`));
        expect(await curl(url!), workers.join(" ")).toBe("200");
      } finally {
        await proc.stop();
      }
    }
  }, 30_000);
});

describe("the listen backlog (README's seed table: cheroot's request_queue_size, gevent's backlog)", () => {
  const SS = Bun.which("ss");
  if (!SS) console.warn("skipping the listen backlog tests: ss (iproute2) not found");
  /**
   * The kernel's accept queue limit of the socket listening on 127.0.0.1:`port` (TCP), or at the path
   * `port` (a Unix socket): `ss -ltn`'s (`ss -lxn`'s) Send-Q; one per socket (two under --reuse-port).
   */
  const backlogsOf = (port: number | string): number[] => {
    const unix = typeof port === "string";
    const out = Bun.spawnSync(unix ? [SS!, "-Hlxn"] : [SS!, "-Hltn", "sport", "=", `:${port}`], { stdout: "pipe", timeout: 5000 }).stdout.toString();
    const lines = out.split("\n").filter((l) => (unix ? l.split(/\s+/)[4] === port : l !== ""));
    return lines.flatMap((l) => {
      const m = /^(?:u_str\s+)?LISTEN\s+\d+\s+(\d+)\s/.exec(l);
      return m ? [Number(m[1])] : [];
    });
  };
  const backlogOf = (port: number | string): number | null => backlogsOf(port)[0] ?? null;
  const somaxconn = (() => {
    try {
      return Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    } catch {
      return Infinity;
    }
  })();
  const onLinuxWithSs = !!SS && process.platform === "linux";
  test.skipIf(!SS || !PYTHON || process.platform !== "linux")(
    "Bun's own, when no backlog is asked: a socket tsgi binds listens with 512, and Bun.listen ignores a backlog asked of it; an inherited socket (--fd, as systemd passes one with its Backlog=) is listened again by Bun with 511",
    async () => {
      const server = serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0 });
      try {
        expect(backlogOf(server.port)).toBe(Math.min(512, somaxconn));
      } finally {
        await server.close();
      }
      // Should Bun honour it one day, the backlog option could pass it to Bun.listen instead of calling listen() again.
      const asked = (Bun.listen as unknown as (o: object) => { port: number; stop(force: boolean): void })({ hostname: "127.0.0.1", port: 0, backlog: 3, socket: { data() {} } });
      try {
        expect(backlogOf(asked.port)).toBe(Math.min(512, somaxconn));
      } finally {
        asked.stop(true);
      }
      // The parent binds with a backlog of 7 and, once the test has seen it, becomes tsgi with the socket as fd 3, as systemd does.
      const port = freePort();
      const child = spawnInheriting(port, 7, []);
      try {
        await child.parentListening();
        expect(backlogOf(port)).toBe(Math.min(7, somaxconn));
        await child.go();
        expect(child.err()).toContain(`on http://127.0.0.1:${port}/ (inherited fd 3)`);
        expect(backlogOf(port)).toBe(Math.min(511, somaxconn));
      } finally {
        await child.stop();
      }
    },
    30_000,
  );

  test.skipIf(!onLinuxWithSs)("the backlog option sets it (listen() again on Bun's socket): TCP, a Unix socket, TLS, 0, and past net.core.somaxconn the kernel's cap; connections are served as before (before: no option)", async () => {
    const server = serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0, backlog: 7 });
    try {
      expect(backlogOf(server.port)).toBe(Math.min(7, somaxconn));
      expect((await fetch(server.url)).status).toBe(200);
    } finally {
      await server.close();
    }
    const path = join(dir, `backlog-${process.pid}.sock`);
    const unix = serve(envApp, { ...quiet, unix: path, backlog: 9 });
    try {
      expect(backlogOf(path)).toBe(Math.min(9, somaxconn));
      expect((await fetch("http://localhost/", { unix: path } as RequestInit)).status).toBe(200);
    } finally {
      await unix.close();
    }
    // A TLS listener is set the same way (Bun's listener has its fd with TLS too).
    const https = serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0, backlog: 13, tls: { cert: cert.cert, key: cert.key } });
    try {
      expect(backlogOf(https.port)).toBe(Math.min(13, somaxconn));
    } finally {
      await https.close();
    }
    for (const [asked, held] of [[0, 0], [somaxconn + 1, somaxconn]] as const) {
      const s = serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0, backlog: asked });
      try {
        expect(backlogOf(s.port)).toBe(held);
      } finally {
        await s.close();
      }
    }
  });

  const serveCli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--no-access-log"];

  test.skipIf(!onLinuxWithSs)("tsgi serve --backlog sets it: one process, --workers 2 (the socket they share, also after a SIGHUP reload), --workers 2 --reuse-port (each worker's socket), --uds with --workers 2 (before: no such flag, exit 2)", async () => {
    const path = join(dir, `cli-backlog-${process.pid}.sock`);
    const ports = [freePort(), freePort(), freePort()];
    const runs = [
      { args: ["--port", String(ports[0]), "--backlog", "17"], at: ports[0]!, want: [17] },
      { args: ["--port", String(ports[1]), "--backlog", "19", "--workers", "2"], at: ports[1]!, want: [19] },
      { args: ["--port", String(ports[2]), "--backlog", "23", "--workers", "2", "--reuse-port"], at: ports[2]!, want: [23, 23] },
      { args: ["--uds", path, "--backlog", "29", "--workers", "2"], at: path, want: [29] },
    ];
    const servers = runs.map((r) => ({ ...r, proc: spawnServe([...serveCli, ...r.args]) }));
    try {
      await Promise.all(servers.map((s) => s.proc.serving()));
      for (const s of servers) {
        expect(s.proc.err()).toMatch(/serving .* on /);
        expect(backlogsOf(s.at)).toEqual(s.want.map((n) => Math.min(n, somaxconn)));
      }
      // A reload starts new workers, each listening on the shared socket anew (Bun's 511), then setting it again.
      const pooled = servers[1]!;
      const pid = Number(/supervisor pid (\d+)/.exec(pooled.proc.err())![1]);
      process.kill(pid, "SIGHUP");
      for (let i = 0; i < 300 && !pooled.proc.err().includes("reloaded: new workers"); i++) await Bun.sleep(50);
      expect(pooled.proc.err()).toContain("reloaded: new workers");
      expect(backlogsOf(pooled.at)).toEqual([Math.min(19, somaxconn)]);
      const body = (await (await fetch(`http://127.0.0.1:${pooled.at}/`)).json()) as { multiprocess: boolean };
      expect(body.multiprocess).toBe(true);
    } finally {
      await Promise.all(servers.map((s) => s.proc.stop()));
    }
  }, 60_000);

  test.skipIf(!onLinuxWithSs || !Number.isFinite(somaxconn))("a backlog past net.core.somaxconn, which the kernel cuts silently, is warned about at listen naming the sysctl and the value in force: the server option (error log), tsgi serve --backlog 100000 (once, alone and with --workers 2) (before: no word)", async () => {
    const errors: string[] = [];
    const s = serve(envApp, { log: null, errorLog: { write: (t: string) => void errors.push(t) }, hostname: "127.0.0.1", port: 0, backlog: somaxconn + 1 });
    try {
      expect(backlogOf(s.port)).toBe(somaxconn);
      expect(errors.join("")).toContain(`Warning: backlog (${somaxconn + 1}) is more than net.core.somaxconn (${somaxconn}), at which the kernel caps it: the socket listens with ${somaxconn}. Raise it (sysctl -w net.core.somaxconn=${somaxconn + 1}, kept in /etc/sysctl.d/) to queue more`);
    } finally {
      await s.close();
    }
    // At the cap: no warning.
    const at: string[] = [];
    const fits = serve(envApp, { log: null, errorLog: { write: (t: string) => void at.push(t) }, hostname: "127.0.0.1", port: 0, backlog: somaxconn });
    await fits.close();
    expect(at.join("")).not.toContain("somaxconn");
    const warning = `[warn] --backlog 100000 is more than net.core.somaxconn (${somaxconn}), at which the kernel caps it: the socket listens with ${somaxconn}. Raise it (sysctl -w net.core.somaxconn=100000, kept in /etc/sysctl.d/) to queue more, or pass --backlog ${somaxconn} to use that without this warning`;
    for (const workers of [[], ["--workers", "2"]]) {
      const proc = spawnServe([...serveCli, "--port", "0", "--backlog", "100000", ...workers]);
      try {
        await proc.serving();
        const port = proc.port;
        expect(backlogOf(port)).toBe(somaxconn);
        expect(proc.err().split(warning).length - 1).toBe(1);
        expect(proc.err()).not.toContain("Warning: backlog");
      } finally {
        await proc.stop();
      }
    }
  }, 30_000);

  test.skipIf(!onLinuxWithSs)("tsgi serve --workers 1 --backlog 19: the shared socket has it while the first worker is still importing the app (connections queue up to it; before: the supervisor's socket had Bun's 512 until a worker listened)", async () => {
    // A port known before the start (not --port 0): its backlog is read before the start line says it.
    const port = freePort();
    const proc = spawnServe([...serveCli, "--port", String(port), "--backlog", "19", "--workers", "1"], { ...process.env, TSGI_TEST_IMPORT_MS: "3000" });
    try {
      for (let i = 0; i < 200 && !proc.err().includes("test app: importing"); i++) await Bun.sleep(50);
      expect(proc.err()).toContain("test app: importing");
      expect(proc.err()).not.toContain("listening");
      expect(backlogOf(port)).toBe(Math.min(19, somaxconn));
      await proc.serving();
      expect(backlogOf(port)).toBe(Math.min(19, somaxconn));
    } finally {
      await proc.stop();
    }
  }, 30_000);

  test.skipIf(!onLinuxWithSs || !PYTHON)("tsgi serve --fd 3 --backlog 50 replaces the inherited socket's (a parent's listen(7), as systemd's Backlog=), alone and with --workers 2; without --backlog it is Bun's 511 (the test above)", async () => {
    for (const extra of [[], ["--workers", "2"]]) {
      const port = freePort();
      const child = spawnInheriting(port, 7, ["--backlog", "50", ...extra]);
      try {
        await child.parentListening();
        expect(backlogOf(port)).toBe(Math.min(7, somaxconn));
        await child.go();
        expect(child.err()).toContain(`on http://127.0.0.1:${port}/ (inherited fd 3`);
        expect(backlogOf(port)).toBe(Math.min(50, somaxconn));
        expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      } finally {
        await child.stop();
      }
    }
  }, 60_000);

  test("tsgi serve --backlog with a value that is not a number of connections from 0 to 2147483647: exit 2, one line saying what it takes", async () => {
    for (const bad of ["-1", "1.5", "lots", "2147483648", ""]) {
      const r = await run([...serveCli, `--backlog=${bad}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--backlog");
      expect(r.stderr).toContain(bad === "" ? "needs a value" : `from 0 to 2147483647 (e.g. --backlog 2048), got ${bad === "lots" ? '"lots"' : bad}`);
      expect(r.stderr).not.toContain("    at ");
    }
  });

  test("a backlog that is not an integer from 0 to 2147483647 is a RangeError from serve(), naming the option", () => {
    for (const bad of [-1, 1.5, "5", 2 ** 31, Number.NaN, Infinity]) {
      expect(() => serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0, backlog: bad as number })).toThrow(RangeError);
      expect(() => serve(envApp, { ...quiet, hostname: "127.0.0.1", port: 0, backlog: bad as number })).toThrow(/^server option backlog must be an integer from 0 to 2147483647 \(connections; the kernel caps it at net\.core\.somaxconn\), got /);
    }
  });
});

/**
 * A python3 parent that binds 127.0.0.1:`port` and listens with `backlog`, and, once told to
 * (`go()`), becomes `tsgi serve --fd 3` with `args` on that socket, as systemd's socket activation does.
 */
function spawnInheriting(port: number, backlog: number, args: string[]) {
  const parent = `import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(int(sys.argv[2]))
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
print("listening", flush=True)
sys.stdin.read(1)
os.execv(sys.argv[3], sys.argv[3:])`;
  const argv = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--fd", "3", "--no-access-log", ...args];
  const child = Bun.spawn([PYTHON!, "-c", parent, String(port), String(backlog), ...argv], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  return {
    err: err.text,
    async parentListening(): Promise<void> {
      for (let i = 0; i < 200 && !out.text().includes("listening") && child.exitCode === null; i++) await Bun.sleep(50);
    },
    /** Let the parent become tsgi, and wait (at most 15 s) for its "serving ... on" line or its exit. */
    async go(): Promise<void> {
      child.stdin.write("go");
      await child.stdin.flush();
      for (let i = 0; i < 300 && !/serving .* on /.test(err.text()) && child.exitCode === null; i++) await Bun.sleep(50);
    },
    async stop(): Promise<void> {
      child.kill("SIGTERM");
      await child.exited;
      await Promise.all([out.done, err.done]);
      clearTimeout(timer);
    },
  };
}

describe("tsgi serve --host", () => {
  test("an address this machine does not have (192.0.2.1, TEST-NET-1): one line saying what to give instead, with and without --workers and --reuse-port (before: no advice)", async () => {
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--host", "192.0.2.1", "--port", String(freePort())];
    const line = (prefix: string) =>
      `[error] ${prefix}cannot listen on 192.0.2.1:${cli.at(-1)}: the address is not available on this machine (EADDRNOTAVAIL); give an address of one of this machine's interfaces (ip -brief address lists them), 127.0.0.1 to serve this machine only, or 0.0.0.0 (:: for IPv6 too) to serve on all (a unit started at boot: After=network-online.target)\n`;
    for (const [extra, prefix] of [[[], ""], [["--workers", "2"], ""], [["--workers", "2", "--reuse-port"], "worker failed to boot: "]] as const) {
      const r = await run([...cli, ...extra]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(line(prefix));
    }
  }, 30_000);
});

describe("TLS", () => {
  test("the development certificate is cached, with its SHA-256 fingerprint, key mode 0600", async () => {
    expect(cert.created).toBe(true);
    expect(cert.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(fingerprint256(cert.cert)).toBe(cert.fingerprint);
    expect(statSync(cert.keyfile).mode & 0o777).toBe(0o600);
    // Both files end with a line break: `cat` of the certificate and another PEM gives a bundle loadTls accepts.
    expect(readFileSync(cert.certfile, "utf8").endsWith("-----END CERTIFICATE-----\n")).toBe(true);
    expect(readFileSync(cert.keyfile, "utf8").endsWith("-----\n")).toBe(true);
    const again = await devCertificate(join(dir, "cache"));
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(cert.fingerprint);
    // The PEM text returned is the files' text, the first time as from the cache (before: no final newline when generated).
    expect([cert.cert, cert.key]).toEqual([readFileSync(cert.certfile, "utf8"), readFileSync(cert.keyfile, "utf8")]);
    expect([again.cert, again.key]).toEqual([cert.cert, cert.key]);
  });

  test("tsgi serve --https where the cache cannot be written (a service user's missing home): one line naming the directory and what to set, exit 1", async () => {
    // A regular file where the cache directory would go: fails for root too (ENOTDIR), as a missing or read-only home does (EACCES).
    const file = join(dir, "not-a-cache-dir");
    writeFileSync(file, "");
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--https", "--port", String(freePort())];
    for (const workers of [[], ["--workers", "1"]]) {
      const r = await run([...cli, ...workers], { XDG_CACHE_HOME: file });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot keep the development certificate in ${join(file, "tsgi")}: a part of the path is not a directory (ENOTDIR); set XDG_CACHE_HOME to a directory this user can write`);
      expect(r.stderr).not.toContain("    at ");
    }
  }, 30_000);

  test("processes starting together on an empty cache generate one certificate between them", async () => {
    const script = `import { devCertificate } from ${JSON.stringify(join(process.cwd(), "src/server/tls.ts"))};
const c = await devCertificate(process.argv[2]);
console.log(c.fingerprint);`;
    const file = join(dir, "make-cert.ts");
    writeFileSync(file, script);
    for (let round = 0; round < 3; round++) {
      const cache = join(dir, `together-${round}`);
      const procs = [0, 1, 2].map(() => Bun.spawn([process.execPath, file, cache], { stdout: "pipe", stderr: "inherit" }));
      const prints = await Promise.all(procs.map(async (p) => (await new Response(p.stdout).text()).trim()));
      expect(new Set(prints).size).toBe(1);
      // What they serve is what the cache holds, and its key matches.
      expect((await devCertificate(cache)).fingerprint).toBe(prints[0]!);
      expect(existsSync(join(cache, "localhost.lock"))).toBe(false);
    }
  });

  test("loadTls names the file that is missing or not PEM", () => {
    expect(() => loadTls({ certfile: join(dir, "nope.pem"), keyfile: cert.keyfile })).toThrow(/cannot read certificate file .*nope\.pem: no such file/);
    const bad = join(dir, "bad.pem");
    writeFileSync(bad, "hello");
    expect(() => loadTls({ certfile: bad, keyfile: cert.keyfile })).toThrow(/is not PEM/);
    const ok = loadTls({ certfile: cert.certfile, keyfile: cert.keyfile });
    expect(ok.cert).toBe(cert.cert);
  });

  test("tsgi serve given a DER (binary) certificate or key, a PKCS #12 bundle, or a directory: one line naming the file and the command that converts it or the file to give; exit 1, no stack", async () => {
    const { createPrivateKey, X509Certificate } = await import("node:crypto");
    const sub = mkdtempSync(join(dir, "der-"));
    const file = (name: string, data: Uint8Array) => (writeFileSync(join(sub, name), data), join(sub, name));
    const certDer = file("cert.der", new X509Certificate(cert.cert).raw);
    const keyDer = file("key.der", createPrivateKey(cert.key).export({ type: "pkcs8", format: "der" }));
    // An ASN.1 SEQUENCE that is neither: what a .p12 bundle looks like to a PEM reader.
    const p12 = file("bundle.p12", Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x03]));
    const live = mkdtempSync(join(dir, "live-"));
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort())];
    const cases: [string[], string][] = [
      // Before: "... is not PEM (no "-----BEGIN ...-----" block)", no word on what to do.
      [["--certfile", certDer, "--keyfile", cert.keyfile], `certificate file ${certDer} holds a DER (binary) certificate, not PEM: convert it once (openssl x509 -inform DER -in ${certDer} -out cert.pem)`],
      [["--certfile", cert.certfile, "--keyfile", keyDer], `key file ${keyDer} holds a DER (binary) private key, not PEM: convert it once (openssl pkey -inform DER -in ${keyDer} -out key.pem)`],
      [["--certfile", cert.certfile, "--keyfile", certDer], `key file ${certDer} holds a DER (binary) certificate, not PEM (and not a private key)`],
      [["--certfile", cert.certfile, "--keyfile", cert.keyfile, "--ca-certs", certDer], `CA certificates file ${certDer} holds a DER (binary) certificate, not PEM: convert it once (openssl x509 -inform DER -in ${certDer} -out ca.pem)`],
      [["--certfile", p12, "--keyfile", cert.keyfile], `certificate file ${p12} is binary (DER), not PEM: a PKCS #12 bundle (.p12, .pfx)? Take the PEM files out of it once (openssl pkcs12 -in ${p12} -nokeys -out cert.pem;`],
      // Before: "cannot read key file ...: EISDIR: illegal operation on a directory, read".
      [["--certfile", cert.certfile, "--keyfile", live], `cannot read key file ${live}: it is a directory; give the PEM file in it (certbot's live/<name>/ holds fullchain.pem, the certificate chain, and privkey.pem, the key)`],
    ];
    await expectOneLineRefusals(cli, cases);
  }, 30_000);

  test("tsgi serve given a named pipe nothing writes to, a character device (/dev/zero, /dev/stdin on /dev/null), or a pipe that ends empty or never: one line naming the file and what is wrong, exit 1 within seconds (before 859e8c2: blocked on the FIFO, read /dev/zero without end, deaf to SIGTERM)", async () => {
    const sub = mkdtempSync(join(dir, "fifo-"));
    const fifo = join(sub, "cert.pem");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort())];
    const fifoLine = (what: string) => `cannot read ${what} ${fifo}: it is a named pipe (FIFO) and nothing wrote to it within 1 s; start its writer first (cat file.pem > ${fifo} &), or give the PEM file itself`;
    const cases: [string[], string][] = [
      [["--certfile", fifo, "--keyfile", cert.keyfile], fifoLine("certificate file")],
      [["--certfile", cert.certfile, "--keyfile", fifo], fifoLine("key file")],
      [["--certfile", "/dev/zero", "--keyfile", cert.keyfile], "cannot read certificate file /dev/zero: it is a character device, not a regular file; give the PEM file itself"],
      [["--certfile", cert.certfile, "--keyfile", cert.keyfile, "--ca-certs", "/dev/zero"], "cannot read CA certificates file /dev/zero: it is a character device, not a regular file; give the PEM file itself"],
    ];
    for (const [args, message] of cases) {
      const started = performance.now();
      const r = await run([...cli, ...args], undefined, 5000);
      expect(r.stderr, args.join(" ")).toContain(message);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).not.toContain("    at ");
      expect(performance.now() - started).toBeLessThan(5000);
    }
    // /dev/stdin on a character device (a terminal's stand-in: /dev/null here, as in a service): the same refusal, not an empty read.
    const p = Bun.spawn([...cli, "--certfile", "/dev/stdin", "--keyfile", cert.keyfile], { stdin: Bun.file("/dev/null"), stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill(), 5000);
    const stderr = await new Response(p.stderr).text();
    clearTimeout(timer);
    expect(await p.exited).toBe(1);
    expect(stderr).toContain("cannot read certificate file /dev/stdin: it is a character device, not a regular file; give the PEM file itself");
    // A pipe whose command failed (no byte), and one that never ends (yes: the size cap, 1 MiB, not a read for ever).
    const bash = (args: string) => run(["bash", "-c", `exec "$@" ${args}`, "bash", ...cli], { CERT: cert.certfile, KEY: cert.keyfile }, 5000);
    const empty = await bash(`--certfile "$CERT" --keyfile <(false)`);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/cannot read key file \/dev\/fd\/\d+: the pipe ended without a byte \(did the command writing it, as in <\(\.\.\.\), fail\?\)/);
    const endless = await bash(`--certfile <(yes) --keyfile "$KEY"`);
    expect(endless.code).toBe(1);
    expect(endless.stderr).toMatch(/cannot read certificate file \/dev\/fd\/\d+: the pipe gave more than 1048576 bytes, far more than a PEM file holds; is it the right command\?/);
    expect(endless.stderr.trim().split("\n").length).toBe(1);
  }, 40_000);

  test("tsgi serve given a regular file over 1 MiB as a TLS file (a log given by mistake) refuses it by its size, unread, in one line naming it, with or without --workers (before: read whole, then 'is not PEM')", async () => {
    const sub = mkdtempSync(join(dir, "huge-"));
    const log = join(sub, "huge.log");
    // Sparse: 50 MiB on no disk space. And a CA bundle just over the cap, made of real certificates.
    expect(Bun.spawnSync(["truncate", "-s", "50M", log]).exitCode).toBe(0);
    const bundle = join(sub, "ca-bundle.pem");
    writeFileSync(bundle, cert.cert.repeat(Math.ceil((1024 * 1024 + 1) / cert.cert.length)));
    const bundleBytes = statSync(bundle).size;
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort())];
    const huge = (what: string, path: string, size: string) =>
      `cannot read ${what} ${path}: it is ${size}, more than the 1048576 bytes a TLS file may have: a key or a certificate chain is a few KiB, a CA bundle some 220 KiB; is it the right file?`;
    const started = performance.now();
    await expectOneLineRefusals(cli, [
      [["--certfile", log, "--keyfile", cert.keyfile], huge("certificate file", log, "52428800 bytes (50.0 MiB)")],
      [["--certfile", cert.certfile, "--keyfile", log, "--workers", "2"], huge("key file", log, "52428800 bytes (50.0 MiB)")],
      [["--certfile", cert.certfile, "--keyfile", cert.keyfile, "--ca-certs", bundle], huge("CA certificates file", bundle, `${bundleBytes} bytes (1.0 MiB)`)],
    ]);
    expect(performance.now() - started).toBeLessThan(15_000);
    // The cap is the library's too; a bundle under it (Debian's is 215 KiB) loads.
    expect(() => loadTls({ certfile: log, keyfile: cert.keyfile })).toThrow(huge("certificate file", log, "52428800 bytes (50.0 MiB)"));
    writeFileSync(bundle, cert.cert.repeat(Math.floor((900 * 1024) / cert.cert.length)));
    expect(loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: bundle }).ca).toContain("-----BEGIN CERTIFICATE-----");
  }, 30_000);

  /** Run the CLI under bash (`args` may hold <(...) and redirections), wait for it to serve HTTPS, fetch /, stop it. */
  async function servesHttps(args: string, env: Record<string, string> = {}): Promise<{ status: number; stderr: string }> {
    const port = freePort();
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(port), "--no-access-log"];
    const server = spawnServe(["bash", "-c", `exec "$@" ${args}`, "bash", ...cli], { ...process.env, CERT: cert.certfile, KEY: cert.keyfile, ...env }, 15_000);
    try {
      await server.serving(200);
      if (!/serving .* on https:/.test(server.err())) return { status: 0, stderr: server.err() };
      const res = await fetch(`https://localhost:${port}/`, { tls: { ca: cert.cert }, keepalive: false, signal: AbortSignal.timeout(5000) } as RequestInit);
      await res.arrayBuffer();
      return { status: res.status, stderr: server.err() };
    } finally {
      await server.stop();
    }
  }

  test("tsgi serve reads a TLS file from a pipe: --keyfile <(cat key.pem) (bash process substitution, as with sops -d), /dev/stdin from a here-string or a |, one pipe holding both, and a named pipe its writer fills: each serves HTTPS (regression of 859e8c2: refused as a FIFO)", async () => {
    for (const args of [
      `--certfile "$CERT" --keyfile <(cat "$KEY")`,
      `--certfile <(sleep 0.3; cat "$CERT") --keyfile <(cat "$KEY")`,
      `--certfile /dev/stdin --keyfile "$KEY" <<<"$(cat "$CERT")"`,
      `--certfile /dev/stdin --keyfile /dev/stdin < <(cat "$CERT" "$KEY")`,
    ]) {
      const r = await servesHttps(args);
      expect(r.stderr, args).toMatch(/serving .* on https:/);
      expect(r.status).toBe(200);
    }
    // A named pipe the operator fills (mkfifo; the writer blocks until tsgi serve opens it).
    const fifo = join(mkdtempSync(join(dir, "fifo-w-")), "key.pem");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const writer = Bun.spawn(["sh", "-c", `cat "$KEY" > "$FIFO"`], { env: { ...process.env, KEY: cert.keyfile, FIFO: fifo } });
    const timer = setTimeout(() => writer.kill(), 15_000);
    try {
      const r = await servesHttps(`--certfile "$CERT" --keyfile "$FIFO"`, { FIFO: fifo });
      expect(r.stderr).toMatch(/serving .* on https:/);
      expect(r.status).toBe(200);
      expect(await writer.exited).toBe(0);
    } finally {
      writer.kill();
      clearTimeout(timer);
    }
  }, 90_000);

  test("tsgi serve waiting on a pipe that has not ended (--keyfile <(sleep 30)) stops at SIGTERM at once; a pipe that gives no end of file within the time cap is refused", async () => {
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort())];
    const proc = Bun.spawn(["bash", "-c", `exec "$@" --certfile "$CERT" --keyfile <(sleep 30)`, "bash", ...cli], { stdout: "ignore", stderr: "pipe", env: { ...process.env, CERT: cert.certfile } });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    try {
      await Bun.sleep(1500); // started, and reading the pipe
      expect(proc.exitCode).toBeNull();
      const sent = performance.now();
      proc.kill("SIGTERM");
      await proc.exited;
      expect(performance.now() - sent).toBeLessThan(3000);
      expect(proc.signalCode).toBeNull(); // its own handler's exit, not SIGTERM's default action
    } finally {
      clearTimeout(timer);
    }
    // The time cap (30 s; 0.3 s here), on a named pipe whose writer holds it open without writing.
    const fifo = join(mkdtempSync(join(dir, "fifo-t-")), "key.pem");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const holder = Bun.spawn(["sh", "-c", 'exec 3>"$FIFO"; sleep 10'], { env: { ...process.env, FIFO: fifo } });
    try {
      await Bun.sleep(200);
      const started = performance.now();
      await expect(readTlsFile(fifo, "key file", { timeoutMs: 300 })).rejects.toThrow(`cannot read key file ${fifo}: the pipe gave no end of file within 0.3 s (0 bytes so far); the command writing it must write the PEM and exit`);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      holder.kill();
      await holder.exited;
    }
  }, 30_000);

  test("tsgi serve --workers 2 with a pipe or a descriptor path for a TLS file: refused at once with one line saying why and what to do (workers read the files again, at each SIGHUP too), before the pipe is read", async () => {
    const fifo = join(mkdtempSync(join(dir, "fifo-k-")), "key.pem");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort()), "--workers", "2"];
    const todo = "under --workers each worker reads the TLS files itself, again at each reload (SIGHUP): write it to a file only the service's user can read, on a tmpfs to keep it off disk (/run/app/key.pem; systemd: LoadCredential=), and give that, or run without --workers";
    for (const [args, line] of [
      [`--certfile "$CERT" --keyfile <(cat "$KEY")`, /key file \/dev\/fd\/\d+ is a pipe \(<\(\.\.\.\), a here-string\), which gives its bytes once, and /],
      [`--certfile "$CERT" --keyfile /dev/fd/3 3<"$KEY"`, /key file \/dev\/fd\/3 is a descriptor of this process, which workers do not have, and /],
      [`--certfile "$CERT" --keyfile "$FIFO"`, new RegExp(`key file ${fifo.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is a named pipe \\(FIFO\\), which gives its bytes once, and `)],
    ] as const) {
      const started = performance.now();
      const r = await run(["bash", "-c", `exec "$@" ${args}`, "bash", ...cli], { CERT: cert.certfile, KEY: cert.keyfile, FIFO: fifo }, 10_000);
      expect(r.stderr, args).toMatch(line);
      expect(r.stderr).toContain(todo);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(performance.now() - started).toBeLessThan(5000);
    }
  }, 40_000);

  test("tsgi serve given a PKCS #7 bundle of certificates (.p7b) or an encrypted DER key: named as such, with the openssl command that converts it (not the PKCS #12 one, which fails on them)", async () => {
    const { createPrivateKey, X509Certificate } = await import("node:crypto");
    const sub = mkdtempSync(join(dir, "p7-"));
    const file = (name: string, data: Uint8Array) => (writeFileSync(join(sub, name), data), join(sub, name));
    // DER by hand: a tag, its length (short or long form), its contents.
    const der = (tag: number, ...parts: Uint8Array[]): Uint8Array => {
      const body = Buffer.concat(parts);
      const n = body.length;
      const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
      return Buffer.concat([Uint8Array.from([tag, ...len]), body]);
    };
    const oid = (hex: string) => der(0x06, Buffer.from(hex, "hex"));
    // What Windows' certificate export writes as .p7b: ContentInfo { signedData, [0] SignedData { version 1,
    // no digest algorithms, content type data, [0] the certificates, no signers } } (RFC 2315 §7, §9.1).
    const signedData = der(0x30, der(0x02, Uint8Array.from([1])), der(0x31), der(0x30, oid("2a864886f70d010701")), der(0xa0, new X509Certificate(cert.cert).raw), der(0x31));
    const p7b = file("chain.p7b", der(0x30, oid("2a864886f70d010702"), der(0xa0, signedData)));
    const encrypted = file("key.der", createPrivateKey(cert.key).export({ type: "pkcs8", format: "der", cipher: "aes-256-cbc", passphrase: "secret" }));
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(freePort())];
    const cases: [string[], string][] = [
      // Before: "... is binary (DER), not PEM: a PKCS #12 bundle (.p12, .pfx)? Take the PEM files out of it once (openssl pkcs12 ...)".
      [["--certfile", p7b, "--keyfile", cert.keyfile], `certificate file ${p7b} holds a PKCS #7 bundle of certificates (.p7b, .p7c; DER), not PEM: take the certificates out of it once (openssl pkcs7 -inform DER -in ${p7b} -print_certs -out cert.pem)`],
      [["--certfile", cert.certfile, "--keyfile", cert.keyfile, "--ca-certs", p7b], `CA certificates file ${p7b} holds a PKCS #7 bundle of certificates (.p7b, .p7c; DER), not PEM: take the certificates out of it once (openssl pkcs7 -inform DER -in ${p7b} -print_certs -out ca.pem)`],
      [["--certfile", cert.certfile, "--keyfile", encrypted], `key file ${encrypted} holds an encrypted DER (binary) private key (PKCS #8), not PEM: decrypt and convert it once (openssl pkey -inform DER -in ${encrypted} -out key.pem; it asks for the passphrase)`],
    ];
    await expectOneLineRefusals(cli, cases);
    // The commands given work, and what they write is taken.
    if (Bun.which("openssl")) {
      const certPem = join(sub, "cert.pem");
      const keyPem = join(sub, "key.pem");
      expect((await run(["openssl", "pkcs7", "-inform", "DER", "-in", p7b, "-print_certs", "-out", certPem])).code).toBe(0);
      expect((await run(["openssl", "pkey", "-inform", "DER", "-in", encrypted, "-out", keyPem, "-passin", "pass:secret"])).code).toBe(0);
      expect(loadTls({ certfile: certPem, keyfile: keyPem }).cert).toContain("-----BEGIN CERTIFICATE-----");
    }
  }, 30_000);

  test.skipIf(!Bun.which("openssl") || !hasCurl)("the commands tsgi serve's TLS messages give work when pasted into sh, whatever the path holds (a space, $, a quote): openssl for a DER certificate, a DER key and an encrypted key, curl --cacert for the development certificate (before: unquoted, sh split the path and expanded $HOME)", async () => {
    const { createPrivateKey, X509Certificate } = await import("node:crypto");
    const sub = mkdtempSync(join(dir, "odd-"));
    const odd = join(sub, "my certs $HOME 'q'");
    mkdirSync(odd);
    const file = (name: string, data: Uint8Array | string) => (writeFileSync(join(odd, name), data), join(odd, name));
    const certDer = file("cert.der", new X509Certificate(cert.cert).raw);
    const keyDer = file("key.der", createPrivateKey(cert.key).export({ type: "pkcs8", format: "der" }));
    const encrypted = file("enc-key.pem", createPrivateKey(cert.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }));
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts")];
    /** The command `pattern` finds in what tsgi serve with `args` prints (exit 1), run with sh in `odd`: it must exit 0. */
    const pasted = async (args: string[], pattern: RegExp) => {
      const r = await run([...cli, "--port", String(freePort()), ...args]);
      expect(r.code).toBe(1);
      const command = pattern.exec(r.stderr)?.[1];
      expect(command, r.stderr).toBeDefined();
      const sh = Bun.spawnSync(["sh", "-c", command!], { cwd: odd, env: { ...process.env, HOME: "/nonexistent" }, timeout: 10_000 });
      expect(sh.exitCode, `${command}: ${sh.stderr.toString()}`).toBe(0);
      return command!;
    };
    const certCommand = await pasted(["--certfile", certDer, "--keyfile", cert.keyfile], /convert it once \((openssl x509 [^\n]*-out cert\.pem)\)/);
    expect(certCommand).toBe(`openssl x509 -inform DER -in '${sub}/my certs $HOME '\\''q'\\''/cert.der' -out cert.pem`);
    expect(readFileSync(join(odd, "cert.pem"), "utf8")).toContain("-----BEGIN CERTIFICATE-----");
    await pasted(["--certfile", cert.certfile, "--keyfile", keyDer], /convert it once \((openssl pkey [^\n]*-out key\.pem)\)/);
    expect(loadTls({ certfile: join(odd, "cert.pem"), keyfile: join(odd, "key.pem") }).key).toContain("PRIVATE KEY");
    rmSync(join(odd, "key.pem"));
    // The encrypted PEM key: tsgi serve's own advice (deploy/setup.ts); openssl would ask for the passphrase on the terminal: -passin added.
    const enc = await run([...cli, "--port", String(freePort()), "--certfile", cert.certfile, "--keyfile", encrypted]);
    const decrypt = /decrypt it once \((openssl pkey -in .*? -out key\.pem)\)/.exec(enc.stderr)?.[1];
    expect(decrypt, enc.stderr).toBeDefined();
    const sh = Bun.spawnSync(["sh", "-c", `${decrypt} -passin pass:secret`], { cwd: odd, timeout: 10_000 });
    expect(sh.exitCode, sh.stderr.toString()).toBe(0);
    expect(loadTls({ certfile: join(odd, "cert.pem"), keyfile: join(odd, "key.pem") }).key).toContain("PRIVATE KEY");
    // The development certificate in a cache directory whose path holds the same: its curl --cacert, pasted, reaches the server.
    const server = spawnServe([...cli, "--https", "--port", "0", "--no-access-log"], { ...process.env, XDG_CACHE_HOME: join(odd, "cache") });
    try {
      await server.serving();
      const port = server.port;
      const curl = /clients must trust it \((curl --cacert .*)\)\n/.exec(server.err())?.[1];
      expect(curl, server.err()).toBeDefined();
      const r = Bun.spawnSync(["sh", "-c", `${curl} -sS --max-time 5 https://localhost:${port}/`], { env: { ...process.env, HOME: "/nonexistent" }, timeout: 10_000 });
      expect(r.exitCode, r.stderr.toString()).toBe(0);
    } finally {
      await server.stop();
    }
  }, 60_000);

  test("tsgi serve over TLS names the certificate it serves in its start line (file, names, expiry), with and without --workers; --https given with --certfile and --keyfile serves the files and says so, making no development certificate (before: the start line named none, and --https was ignored silently)", async () => {
    const until = new Date(new (await import("node:crypto")).X509Certificate(cert.cert).validTo).toISOString().slice(0, 10);
    const cache = mkdtempSync(join(dir, "https-and-files-"));
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--no-access-log"];
    for (const extra of [[], ["--workers", "1"]]) {
      const server = spawnServe([...cli, "--port", "0", "--https", "--certfile", cert.certfile, "--keyfile", cert.keyfile, ...extra], { ...process.env, XDG_CACHE_HOME: cache });
      try {
        await server.serving();
        const port = server.port;
        expect(server.err()).toContain(`[info] --https with --certfile and --keyfile: serving ${cert.certfile}, not the development certificate (--https alone serves that; with the files it is not needed)\n`);
        expect(server.err()).toContain(`on https://127.0.0.1:${port}/, certificate ${cert.certfile} for localhost, 127.0.0.1, ::1 until ${until} (`);
        // The files' certificate is what a client gets, and no development one was made.
        const res = await fetch(`https://localhost:${port}/`, { tls: { ca: cert.cert }, keepalive: false, signal: AbortSignal.timeout(5000) } as RequestInit);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        expect(existsSync(join(cache, "tsgi"))).toBe(false);
      } finally {
        await server.stop();
      }
    }
    // --https alone: the start line names the development certificate (its own warning gives the fingerprint).
    const dev = spawnServe([...cli, "--port", "0", "--https"], { ...process.env, XDG_CACHE_HOME: cache });
    try {
      await dev.serving();
      const port = dev.port;
      expect(dev.err()).toContain(`on https://127.0.0.1:${port}/, the development certificate ${join(cache, "tsgi", "localhost-cert.pem")} (pid `);
      expect(dev.err()).not.toContain("--https with --certfile");
    } finally {
      await dev.stop();
    }
    // Many names: the first three and a count; none but a CN: the CN.
    if (Bun.which("openssl")) {
      const sub = mkdtempSync(join(dir, "names-"));
      const req = (out: string, subject: string, san: string[]) =>
        Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(sub, `${out}-key.pem`), "-out", join(sub, `${out}.pem`), "-days", "30", "-subj", subject, ...san], { timeout: 10_000 }).exitCode;
      expect(req("many", "/CN=example.com", ["-addext", "subjectAltName=DNS:example.com,DNS:www.example.com,DNS:api.example.com,DNS:cdn.example.com,IP:10.0.0.1"])).toBe(0);
      expect(req("cn", "/O=Example/CN=legacy.example.com", [])).toBe(0);
      // A DNS name with a colon (openssl makes it; no URL holds it) is shown as it is, an IPv6 address as written.
      expect(req("colon", "/CN=x", ["-addext", "subjectAltName=DNS:foo:bar,IP:fe80:0:0::1"])).toBe(0);
      for (const [name, shown] of [["many", "example.com, www.example.com, api.example.com and 2 more"], ["cn", "legacy.example.com"], ["colon", "foo:bar, fe80::1"]] as const) {
        const server = spawnServe([...cli, "--port", "0", "--certfile", join(sub, `${name}.pem`), "--keyfile", join(sub, `${name}-key.pem`)]);
        try {
          await server.serving();
          const port = server.port;
          expect(server.err()).toMatch(new RegExp(`on https://127\\.0\\.0\\.1:${port}/, certificate ${join(sub, `${name}.pem`).replaceAll(".", "\\.")} for ${shown.replaceAll(".", "\\.")} until \\d{4}-\\d\\d-\\d\\d \\(pid `));
        } finally {
          await server.stop();
        }
      }
    }
  }, 60_000);

  test("shellQuote's word reaches the program as it is in sh, bash and zsh (when installed): = first (zsh's =cmd), ~, !, # and {a,b} first, a newline, non-ASCII, empty (before: =ls became /usr/bin/ls in zsh)", () => {
    const words = ["=ls", "=", "a=b", "~", "~root/x", "!x", "a!b", "#x", "a#b", "{a,b}", "a\nb", "héllo ключ", "", "-x", "%1", "a b", "*", "[a]", "$HOME", "'q'", "/etc/ssl/cert.pem", "x:=~y"];
    const shells = ["sh", "bash", "zsh", "dash"].filter((s) => Bun.which(s));
    expect(shells).toContain("bash");
    if (!shells.includes("zsh")) console.warn("SKIP: zsh not installed (apt-get install zsh): the = case is checked in sh and bash only");
    for (const shell of shells) {
      // Each word as its own argument, NUL-terminated, so that an empty one or a split one shows.
      const r = Bun.spawnSync([shell, "-c", `printf '%s\\0' ${words.map(shellQuote).join(" ")}`], { env: { ...process.env, HOME: "/nonexistent" }, timeout: 10_000 });
      expect({ shell, out: r.stdout.toString().split("\0").slice(0, -1), err: r.stderr.toString() }).toEqual({ shell, out: words, err: "" });
    }
    // A plain path stays unquoted, as the messages' tests expect.
    expect(shellQuote("/etc/ssl/cert.pem")).toBe("/etc/ssl/cert.pem");
    expect(shellQuote("a=b")).toBe("a=b");
  });

  test("the certificate and key files swapped: each message says what the file holds, not that it is not PEM", async () => {
    expect(() => loadTls({ certfile: cert.keyfile, keyfile: cert.certfile })).toThrow(
      /^certificate file .*localhost-key\.pem holds a PRIVATE KEY \(PEM\), not a certificate: were the certificate and key files swapped\?$/,
    );
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.certfile })).toThrow(
      /^key file .*localhost-cert\.pem holds a CERTIFICATE \(PEM\), not a private key: were the certificate and key files swapped\?$/,
    );
    // A CA bundle that is a key: said, without the swap hint (--ca-certs is not one of the pair).
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: cert.keyfile })).toThrow(
      /^CA certificates file .*localhost-key\.pem holds a PRIVATE KEY \(PEM\), not a certificate$/,
    );
    // What tsgi serve prints for the swap: that one line, exit 1.
    const proc = Bun.spawn(
      [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", "0", "--certfile", cert.keyfile, "--keyfile", cert.certfile],
      { stdout: "pipe", stderr: "pipe" },
    );
    const timer = setTimeout(() => proc.kill(), 10_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(stderr).toContain("holds a PRIVATE KEY (PEM), not a certificate: were the certificate and key files swapped?");
    expect(stderr).not.toContain("is not PEM");
  }, 15_000);

  test("loadTls names the key file when the key is encrypted, its passphrase wrong, or it does not match the certificate", async () => {
    const { createPrivateKey, generateKeyPairSync } = await import("node:crypto");
    const encrypted = join(dir, "encrypted-key.pem");
    writeFileSync(encrypted, createPrivateKey(cert.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }));
    expect(() => loadTls({ certfile: cert.certfile, keyfile: encrypted })).toThrow(/^key file .*encrypted-key\.pem is encrypted: give its passphrase/);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: encrypted, passphrase: "wrong" })).toThrow(/^key file .*encrypted-key\.pem holds no usable private key \(wrong passphrase\?\)/);
    expect(loadTls({ certfile: cert.certfile, keyfile: encrypted, passphrase: "secret" }).passphrase).toBe("secret");
    const other = join(dir, "other-key.pem");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(() => loadTls({ certfile: cert.certfile, keyfile: other })).toThrow(/^key file .*other-key\.pem does not match the certificate in /);
  });

  test("a certificate file with the chain in the wrong order (intermediate before the server's own): said so, not 'does not match'", async () => {
    const { generate } = await import("selfsigned");
    const ca = await generate([{ name: "commonName", value: "tsgi test intermediate" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [{ name: "basicConstraints", cA: true }, { name: "keyUsage", keyCertSign: true, digitalSignature: true }],
    });
    const leaf = await generate([{ name: "commonName", value: "localhost" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", ca: { key: ca.private, cert: ca.cert } });
    const reversed = join(dir, "reversed-chain.pem");
    const keyfile = join(dir, "leaf-key.pem");
    writeFileSync(reversed, `${ca.cert}\n${leaf.cert}\n`);
    writeFileSync(keyfile, leaf.private);
    expect(() => loadTls({ certfile: reversed, keyfile })).toThrow(
      /^certificate file .*reversed-chain\.pem has the certificate of key file .*leaf-key\.pem second \(CN=localhost\), after CN=tsgi test intermediate: the server's own certificate must come first, then the intermediates \(cat cert\.pem chain\.pem\)$/,
    );
    // In the right order it loads; a key matching none of the file's certificates is still "does not match".
    writeFileSync(reversed, `${leaf.cert}\n${ca.cert}\n`);
    expect(loadTls({ certfile: reversed, keyfile }).cert).toBe(`${leaf.cert}\n${ca.cert}\n`);
    expect(() => loadTls({ certfile: reversed, keyfile: cert.keyfile })).toThrow(/^key file .*localhost-key\.pem does not match the certificate in .*reversed-chain\.pem$/);
  });

  test("PEM files joined without a line break, and a CA bundle that is not all certificates: refused at start naming the file, not at listen()", async () => {
    const { generate } = await import("selfsigned");
    const other = await generate([{ name: "commonName", value: "tsgi other CA" }], { keyType: "ec", curve: "P-256", algorithm: "sha256" });
    // selfsigned's PEM, like many a CA's download, has no final newline: `cat a.pem b.pem` glues the two blocks on one line.
    expect(other.cert.endsWith("-----END CERTIFICATE-----")).toBe(true);
    const glued = join(dir, "glued.pem");
    writeFileSync(glued, cert.cert.trimEnd() + other.cert);
    const joined = /^(certificate|CA certificates) file .*glued\.pem has "-----END CERTIFICATE-----" and the next "-----BEGIN CERTIFICATE-----" on one line \(line \d+\): a file joined from one without a final newline; put a line break between them$/;
    expect(() => loadTls({ certfile: glued, keyfile: cert.keyfile })).toThrow(joined);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: glued })).toThrow(joined);
    // The same join where the second file was saved with a byte order mark (a Windows editor's "UTF-8 with BOM"):
    // the same message (before: OpenSSL's "holds no valid certificate: ... BAD_END_LINE", naming no line).
    writeFileSync(glued, `${cert.cert.trimEnd()}\uFEFF${other.cert}`);
    expect(() => loadTls({ certfile: glued, keyfile: cert.keyfile })).toThrow(joined);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: glued })).toThrow(joined);
    // A block that is not a certificate: its number, and OpenSSL's reason.
    const broken = join(dir, "broken-ca.pem");
    writeFileSync(broken, `${other.cert}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: broken })).toThrow(/^CA certificates file .*broken-ca\.pem: certificate 2 of 2 is not valid: /);
    // A good bundle loads.
    const bundle = join(dir, "bundle.pem");
    writeFileSync(bundle, `${other.cert}\n${cert.cert}\n`);
    expect(loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: bundle }).ca).toBe(`${other.cert}\n${cert.cert}\n`);
    // tsgi serve: that line, exit 1 (before: "cannot listen on 127.0.0.1:port: Invalid CA (ERR_BORINGSSL)").
    const proc = Bun.spawn(
      [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", "0", "--certfile", cert.certfile, "--keyfile", cert.keyfile, "--ca-certs", glued],
      { stdout: "pipe", stderr: "pipe" },
    );
    const timer = setTimeout(() => proc.kill(), 10_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(stderr).toContain("glued.pem has \"-----END CERTIFICATE-----\" and the next");
    expect(stderr).not.toContain("cannot listen");
  }, 15_000);

  test("a PEM block cut short (no -----END line) or missing its start (no -----BEGIN line): refused at start naming the file and line, not dropped or failed at listen(); a byte order mark is skipped", async () => {
    const { generate } = await import("selfsigned");
    const other = (await generate([{ name: "commonName", value: "tsgi other CA" }], { keyType: "ec", curve: "P-256", algorithm: "sha256" })).cert + "\n";
    const lines = other.split("\n");
    const cut = lines.slice(0, 4).join("\n") + "\n"; // BEGIN and three lines of base64: a download stopped short
    const headless = lines.slice(1).join("\n"); // its BEGIN line lost in a copy
    const file = join(dir, "cut.pem");
    const cutShort = (line: number) => new RegExp(`^(certificate|CA certificates) file .*cut\\.pem has "-----BEGIN CERTIFICATE-----" \\(line ${line}\\) with no "-----END CERTIFICATE-----" after it: the block is cut short \\(a truncated download or copy\\); copy the whole block again, to its "-----END" line$`);
    // A CA bundle whose first block is cut short, a good one after it (before: loadTls took it, listen() said "Invalid CA").
    writeFileSync(file, cut + other);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: file })).toThrow(cutShort(1));
    // ... whose last block is cut short (before: the CA was dropped without a word).
    writeFileSync(file, other + cut);
    const at = other.split("\n").length;
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: file })).toThrow(cutShort(at));
    // A chain whose intermediate is cut short (before: listen() failed with BAD_END_LINE).
    const leaf = cert.cert.trimEnd() + "\n";
    writeFileSync(file, leaf + cut);
    expect(() => loadTls({ certfile: file, keyfile: cert.keyfile })).toThrow(cutShort(leaf.split("\n").length));
    // A block missing its start (before: skipped by OpenSSL, the CA lost).
    writeFileSync(file, headless + other);
    expect(() => loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: file })).toThrow(
      new RegExp(`^CA certificates file .*cut\\.pem has "-----END CERTIFICATE-----" \\(line ${lines.length - 2}\\) with no "-----BEGIN CERTIFICATE-----" before it: the start of the block is missing`),
    );
    // Whole blocks with comments and CRLF line ends between them load, as does the system's CA bundle.
    writeFileSync(file, `# first CA\r\n${other.replace(/\n/g, "\r\n")}\r\n# second -- with text\r\n${other}`);
    expect(loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: file }).requestCert).toBe(true);
    // A byte order mark before the first block (a Windows editor's save), in each file: read without it (before: NO_START_LINE).
    const bom = (name: string, text: string) => (writeFileSync(join(dir, name), `\uFEFF${text}`), join(dir, name));
    const withBom = loadTls({ certfile: bom("bom-cert.pem", cert.cert), keyfile: bom("bom-key.pem", cert.key), caCerts: bom("bom-ca.pem", other) });
    expect([withBom.cert, withBom.key, withBom.ca]).toEqual([cert.cert, cert.key, other]);
    if (existsSync("/etc/ssl/certs/ca-certificates.crt")) {
      expect(loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: "/etc/ssl/certs/ca-certificates.crt" }).requestCert).toBe(true);
    }
  });

  test.skipIf(!hasCurl)("a chain joined from a certificate and an intermediate saved with a byte order mark (cat cert.pem chain.pem) is served whole: curl trusting only the root connects", async () => {
    const { generate } = await import("selfsigned");
    const ec = { keyType: "ec", curve: "P-256", algorithm: "sha256" } as const;
    const root = await generate([{ name: "commonName", value: "tsgi bom root" }], { ...ec, extensions: [{ name: "basicConstraints", cA: true }] });
    const intermediate = await generate([{ name: "commonName", value: "tsgi bom intermediate" }], { ...ec, ca: { key: root.private, cert: root.cert }, extensions: [{ name: "basicConstraints", cA: true }] });
    const leaf = await generate([{ name: "commonName", value: "localhost" }], {
      ...ec,
      ca: { key: intermediate.private, cert: intermediate.cert },
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }] }],
    });
    const certfile = join(dir, "bom-fullchain.pem");
    const keyfile = join(dir, "bom-leaf-key.pem");
    const rootfile = join(dir, "bom-root.pem");
    // chain.pem saved by a Windows editor as "UTF-8 with BOM", joined after cert.pem: the BOM starts the intermediate's BEGIN line.
    writeFileSync(certfile, `${leaf.cert.trimEnd()}\n\uFEFF${intermediate.cert}`);
    writeFileSync(keyfile, leaf.private);
    writeFileSync(rootfile, root.cert);
    const server = serve(envApp, { ...quiet, port: 0, tls: loadTls({ certfile, keyfile }) });
    try {
      // Before: OpenSSL took the BOM'd line for text and sent the certificate alone; curl: "unable to get local issuer certificate".
      const r = await run(["curl", "-sS", "--max-time", "5", "--cacert", rootfile, `https://localhost:${server.port}/`]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout).HTTPS).toBe("on");
    } finally {
      await server.close({ timeout: 100 });
    }
  }, 20_000);

  test("tsgi serve with a certificate expired or not valid yet: a warning naming the file and the date, once under --workers; it still serves", async () => {
    const { generate } = await import("selfsigned");
    const day = 24 * 3600 * 1000;
    const dated = async (from: number, to: number) =>
      generate([{ name: "commonName", value: "localhost" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", notBeforeDate: new Date(from), notAfterDate: new Date(to) });
    const expired = await dated(Date.now() - 30 * day, Date.now() - day);
    const early = await dated(Date.now() + day, Date.now() + 30 * day);
    expect(certificateDateWarning(expired.cert, "old.pem")).toMatch(/^the certificate in old\.pem \(CN=localhost\) expired on \d{4}-\d\d-\d\dT[\d:.]+Z: clients refuse it\. Renew it, then restart or reload \(SIGHUP with --workers\)$/);
    expect(certificateDateWarning(early.cert, "new.pem")).toMatch(/^the certificate in new\.pem \(CN=localhost\) is not valid before .*Is this machine's clock right/);
    expect(certificateDateWarning(cert.cert, "ok.pem")).toBeNull();
    // An expired intermediate after a valid server certificate (a stale chain.pem joined to a renewed cert.pem):
    // curl and OpenSSL refuse the chain ("certificate has expired"), so it is warned about too (before: null).
    const root = await generate([{ name: "commonName", value: "tsgi test root" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", extensions: [{ name: "basicConstraints", cA: true }] });
    const ca = { key: root.private, cert: root.cert };
    const staleIntermediate = await generate([{ name: "commonName", value: "tsgi stale intermediate" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", notBeforeDate: new Date(Date.now() - 30 * day), notAfterDate: new Date(Date.now() - day), ca, extensions: [{ name: "basicConstraints", cA: true }] });
    const chain = `${cert.cert.trimEnd()}\n${staleIntermediate.cert.trimEnd()}\n`;
    expect(certificateDateWarning(chain, "fullchain.pem")).toMatch(
      /^the second certificate in fullchain\.pem, an intermediate \(CN=tsgi stale intermediate\), expired on \d{4}-\d\d-\d\dT[\d:.]+Z: clients that build the chain through it refuse the server's certificate \(curl and OpenSSL do\)\. Put your CA's current intermediate after the certificate \(certbot: fullchain\.pem\), then restart or reload \(SIGHUP with --workers\)$/,
    );
    // The server's own certificate is named first when both are out of date; a valid intermediate gives no warning.
    expect(certificateDateWarning(`${expired.cert.trimEnd()}\n${staleIntermediate.cert}`, "both.pem")).toMatch(/^the certificate in both\.pem \(CN=localhost\) expired on /);
    expect(certificateDateWarning(`${cert.cert.trimEnd()}\n${root.cert}`, "ok-chain.pem")).toBeNull();
    const certfile = join(dir, "expired-cert.pem");
    const keyfile = join(dir, "expired-key.pem");
    writeFileSync(certfile, expired.cert);
    writeFileSync(keyfile, expired.private);
    for (const workers of [[], ["--workers", "2"]]) {
      const port = await freePort();
      const server = spawnServe(
        [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--port", String(port), "--certfile", certfile, "--keyfile", keyfile, "--no-access-log", ...workers],
        process.env,
        15_000,
      );
      await server.serving(200);
      expect(server.err()).toMatch(/serving .* on https:/);
      // Workers report after listening, the supervisor after all have: give a late one a moment.
      await Bun.sleep(200);
      await server.stop();
      const err = server.err();
      expect(err.split("expired-cert.pem (CN=localhost) expired on").length - 1).toBe(1);
    }
  }, 40_000);

  test("tsgi serve --https with a cached development certificate that is not valid yet (the clock set back since it was made): a new one is generated and served, as for an expired one (before: the cached one was used, and clients refused it)", async () => {
    const { generate } = await import("selfsigned");
    const { X509Certificate } = await import("node:crypto");
    const day = 24 * 3600 * 1000;
    const xdg = mkdtempSync(join(dir, "xdg-early-"));
    mkdirSync(join(xdg, "tsgi"), { mode: 0o700 });
    // What the cache holds after the clock was set back 10 days: a certificate made "in the future".
    const early = await generate([{ name: "commonName", value: "localhost" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", notBeforeDate: new Date(Date.now() + 10 * day), notAfterDate: new Date(Date.now() + 300 * day) });
    const certfile = join(xdg, "tsgi", "localhost-cert.pem");
    writeFileSync(certfile, early.cert);
    writeFileSync(join(xdg, "tsgi", "localhost-key.pem"), early.private, { mode: 0o600 });
    const server = spawnServe([process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--https", "--port", "0", "--no-access-log"], { ...process.env, XDG_CACHE_HOME: xdg });
    try {
      await server.serving();
      const port = server.port;
      expect(server.err()).toMatch(/serving .* on https:/);
      expect(server.err()).toContain(`generated a self-signed development certificate (${certfile})`);
      const served = readFileSync(certfile, "utf8");
      expect(new Date(new X509Certificate(served).validFrom).getTime()).toBeLessThanOrEqual(Date.now());
      const res = await fetch(`https://localhost:${port}/`, { tls: { ca: served }, signal: AbortSignal.timeout(5000) } as RequestInit);
      expect(res.status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 40_000);

  test("tsgi serve with an encrypted key: what to do, since it takes no passphrase (not 'give its passphrase'); exit 1, with workers and without", async () => {
    const { createPrivateKey } = await import("node:crypto");
    const encrypted = join(dir, "cli-encrypted-key.pem");
    writeFileSync(encrypted, createPrivateKey(cert.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }));
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts")];
    for (const workers of [[], ["--workers", "1"]]) {
      const r = await run([...cli, "--port", String(freePort()), "--certfile", cert.certfile, "--keyfile", encrypted, ...workers]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/key file .*cli-encrypted-key\.pem is encrypted, and tsgi serve takes no passphrase: decrypt it once \(openssl pkey -in .*cli-encrypted-key\.pem -out key\.pem\)/);
      expect(r.stderr).not.toContain("give its passphrase");
      expect(r.stderr).not.toContain("    at ");
    }
    // uvicorn's flag for it gets the same advice, as a usage error.
    const flag = await run([...cli, "--certfile", cert.certfile, "--keyfile", encrypted, "--ssl-keyfile-password", "secret"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option --ssl-keyfile-password: tsgi serve takes no key passphrase: decrypt the key once");
  }, 30_000);

  test("tsgi/server exports loadTls (deploy.md's TLS section uses it; before: not exported): an encrypted key with its passphrase serves https", async () => {
    const entry = (await import("../src/server/index.ts")) as Record<string, unknown>;
    expect(typeof entry.loadTls).toBe("function");
    expect(entry.KEY_ENCRYPTED).toBe("ERR_TSGI_KEY_ENCRYPTED");
    const load = entry.loadTls as typeof loadTls;
    const { createPrivateKey } = await import("node:crypto");
    const encrypted = join(dir, "exported-encrypted-key.pem");
    writeFileSync(encrypted, createPrivateKey(cert.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }));
    expect(() => load({ certfile: cert.certfile, keyfile: encrypted })).toThrow(expect.objectContaining({ code: entry.KEY_ENCRYPTED }));
    const server = serve(envApp, { ...quiet, port: 0, tls: load({ certfile: cert.certfile, keyfile: encrypted, passphrase: "pw" }) });
    try {
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert } } as RequestInit);
      expect(((await res.json()) as Record<string, string>)["tsgi.url_scheme"]).toBe("https");
    } finally {
      await server.close();
    }
  });

  test("a TlsConfig with properties given as undefined (read from unset flags) serves TLS as one without them", async () => {
    const flags: { passphrase?: string; ca?: string } = {};
    const server = serve(envApp, { ...quiet, port: 0, tls: { cert: cert.cert, key: cert.key, ca: flags.ca, passphrase: flags.passphrase, requestCert: undefined, rejectUnauthorized: undefined } });
    try {
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert }, signal: AbortSignal.timeout(5000) } as RequestInit);
      expect(((await res.json()) as Record<string, string>).HTTPS).toBe("on");
    } finally {
      await server.close();
    }
  });

  test("https: url_scheme https, HTTPS=on; Bun's fetch with the CA", async () => {
    const server = serve(envApp, { ...quiet, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    try {
      expect(server.url).toStartWith("https://127.0.0.1:");
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert } } as RequestInit);
      const body = (await res.json()) as Record<string, string>;
      expect(body["tsgi.url_scheme"]).toBe("https");
      expect(body.HTTPS).toBe("on");
    } finally {
      await server.close();
    }
  });

  test.skipIf(!hasCurl)("curl --cacert over https, with a request body", async () => {
    const server = serve(envApp, { ...quiet, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    try {
      const r = await run(["curl", "-sS", "--max-time", "5", "--cacert", cert.certfile, "--data-binary", "x".repeat(100_000), `https://localhost:${server.port}/`]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toMatchObject({ "tsgi.url_scheme": "https", HTTPS: "on", bodyLength: 100_000 });
      // Without the CA, curl refuses the self-signed certificate.
      const untrusted = await run(["curl", "-sS", "--max-time", "5", `https://localhost:${server.port}/`]);
      expect(untrusted.code).not.toBe(0);
    } finally {
      await server.close();
    }
  });
  if (!hasCurl) console.warn("SKIP: curl not installed (apt-get install curl)");

  test.skipIf(!hasNode)("Node's fetch with NODE_EXTRA_CA_CERTS", async () => {
    const server = serve(envApp, { ...quiet, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    try {
      const script = `fetch("https://localhost:${server.port}/").then(r => r.json()).then(b => console.log(JSON.stringify(b)), e => { console.error(String(e.cause ?? e)); process.exit(1); })`;
      const r = await run(["node", "-e", script], { NODE_EXTRA_CA_CERTS: cert.certfile });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)["tsgi.url_scheme"]).toBe("https");
    } finally {
      await server.close();
    }
  });
  if (!hasNode) console.warn("SKIP: node not installed");

  test("plain HTTP to the TLS port fails at once (closed, no hang), and is logged once, saying what to give the client (before: not what to do)", async () => {
    const errors: string[] = [];
    const server = serve(envApp, { log: null, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    try {
      const started = performance.now();
      const outcome = await new Promise<string>((resolve) => {
        const sock = createConnection({ host: "127.0.0.1", port: server.port });
        const timer = setTimeout(() => {
          sock.destroy();
          resolve("timeout");
        }, 3000);
        let got = "";
        sock.on("data", (d) => (got += d.toString("latin1")));
        sock.on("connect", () => sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        sock.on("close", () => {
          clearTimeout(timer);
          resolve(got.startsWith("HTTP/") ? "http answer" : "closed");
        });
        sock.on("error", () => {});
      });
      expect(outcome).toBe("closed");
      expect(performance.now() - started).toBeLessThan(2000);
      if (hasCurl) {
        const r = await run(["curl", "-sS", "--max-time", "5", `http://127.0.0.1:${server.port}/`]);
        expect(r.code).toBe(52); // "Empty reply from server", not 28 (timeout)
      }
      // The server still serves TLS clients afterwards.
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert } } as RequestInit);
      expect(res.status).toBe(200);
      expect(errors.join("")).toContain("TLS handshake failed");
      expect(errors.join("")).toContain(
        "a client spoke plain HTTP to this HTTPS port; its connection was closed with no answer (clients get an empty reply): give it an https:// URL (a load balancer's health check or a proxy_pass set to http:// for this port?) (logged once per reason)",
      );
      // A client that does not trust the certificate is another reason, logged too, and not blamed on plain HTTP.
      const { connect: tlsConnect } = await import("node:tls");
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: "127.0.0.1", port: server.port, servername: "localhost" });
        s.on("error", () => resolve());
        s.on("secureConnect", () => (s.end(), resolve()));
      });
      await Bun.sleep(100);
      const lines = errors.join("").split("\n").filter((l) => l.includes("TLS handshake failed"));
      expect(lines.length).toBe(2);
      expect(lines[1]).not.toContain("plain HTTP");
    } finally {
      await server.close();
    }
  });

  test("a TLS handshake that stalls (silent, or a ClientHello cut short) is closed at headerTimeout; other clients are served meanwhile", async () => {
    const server = serve(envApp, { ...quiet, port: 0, headerTimeout: 1000, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    try {
      // A TLS record header announcing a 512-byte ClientHello, then 5 of its bytes; and sockets that send nothing.
      const partial = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);
      const started = performance.now();
      const stalled = Array.from({ length: 20 }, (_, i) => {
        const s = createConnection({ host: "127.0.0.1", port: server.port });
        s.on("error", () => {});
        if (i % 2 === 0) s.on("connect", () => s.write(partial));
        return { s, closed: new Promise<number>((r) => s.on("close", () => r(performance.now() - started))) };
      });
      await Bun.sleep(200);
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert }, keepalive: false } as RequestInit);
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(900);
      const after = await Promise.race([Promise.all(stalled.map((x) => x.closed)), Bun.sleep(5000).then(() => null)]);
      expect(after).not.toBeNull();
      for (const ms of after!) {
        expect(ms).toBeGreaterThan(900);
        expect(ms).toBeLessThan(3000);
      }
      for (let i = 0; i < 100 && server.connections > 0; i++) await Bun.sleep(10);
      expect(server.connections).toBe(0);
    } finally {
      await server.close();
    }
  });

  test("a graceful close leaves a connection still in its TLS handshake its headerTimeout (bounded by the close's timeout), then 1 s for its request; before: closed 1 s into the close, mid-handshake", async () => {
    const { connect: tlsConnect } = await import("node:tls");
    const errors: string[] = [];
    const server = serve(envApp, { log: null, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, headerTimeout: 20_000, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    const started = performance.now();
    // Accepted before the close; their handshakes come later (a client on a loaded machine).
    const sockets = Array.from({ length: 3 }, () => {
      const s = createConnection({ host: "127.0.0.1", port: server.port });
      s.on("error", () => {});
      return { s, closedAt: new Promise<number>((r) => s.on("close", () => r(performance.now() - closing))) };
    });
    let closing = 0;
    try {
      await Promise.all(sockets.map(({ s }) => new Promise((r) => s.on("connect", r))));
      for (let i = 0; i < 100 && server.connections < 3; i++) await Bun.sleep(10);
      expect(server.connections).toBe(3);
      closing = performance.now();
      const closed = server.close({ timeout: 7000 }).then(() => performance.now() - closing);
      const handshake = (raw: (typeof sockets)[number]["s"], request: boolean) =>
        new Promise<string>((resolve) => {
          const t = tlsConnect({ socket: raw, servername: "localhost", ca: cert.cert });
          let got = "";
          const timer = setTimeout(() => (t.destroy(), resolve(`timeout: ${got}`)), 5000);
          t.on("secureConnect", () => request && t.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
          t.on("data", (d) => (got += d.toString("latin1")));
          t.on("error", (e) => (got += `[${e.message}]`));
          t.on("close", () => (clearTimeout(timer), resolve(got)));
        });
      // A handshake 2.2 s into the close (past the 1 s grace and a sweeper tick), then its request at once: answered, and the connection closed.
      await Bun.sleep(2200);
      const late = handshake(sockets[0]!.s, true);
      // A handshake with no request after it: the usual 1 s grace, from the end of the handshake.
      const silent = handshake(sockets[1]!.s, false);
      const answer = await late;
      expect(answer).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(answer.toLowerCase()).toContain("\r\nconnection: close\r\n");
      expect(await silent).toBe("");
      const silentClosed = await sockets[1]!.closedAt;
      expect(silentClosed).toBeGreaterThan(3000);
      expect(silentClosed).toBeLessThan(5500);
      // No handshake at all: closed by the close's timeout (7 s), not left for headerTimeout (20 s).
      const neverClosed = await sockets[2]!.closedAt;
      expect(neverClosed).toBeGreaterThan(6500);
      expect(neverClosed).toBeLessThan(9000);
      expect(await closed).toBeLessThan(9000);
      expect(server.connections).toBe(0);
      expect(performance.now() - started).toBeLessThan(12_000);
    } finally {
      for (const { s } of sockets) s.destroy();
      await server.close();
    }
  });

  test("a handshake the server ends (headerTimeout during a close, the close's timeout) is not logged as the client closing it; one the client ends still is", async () => {
    // A TLS record header announcing a 512-byte ClientHello, then 5 of its bytes: a handshake under way.
    const partial = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);
    const start = async (headerTimeout: number) => {
      const errors: string[] = [];
      const server = serve(envApp, { log: null, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, headerTimeout, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
      const s = createConnection({ host: "127.0.0.1", port: server.port });
      s.on("error", () => {});
      const closed = new Promise<void>((r) => s.on("close", () => r()));
      await new Promise((r) => s.on("connect", r));
      s.write(partial);
      for (let i = 0; i < 100 && server.connections < 1; i++) await Bun.sleep(10);
      expect(server.connections).toBe(1);
      return { server, errors, s, closed };
    };
    // headerTimeout (1 s) passes during the close; the close's timeout (1.5 s) cuts one whose headerTimeout is 30 s; the client closes one itself.
    const [timedOut, cut, left] = await Promise.all([start(1000), start(30_000), start(30_000)]);
    try {
      const started = performance.now();
      await Promise.all([timedOut.server.close({ timeout: 5000 }), cut.server.close({ timeout: 1500 }), Bun.sleep(200).then(() => left.s.destroy())]);
      await Promise.all([timedOut.closed, cut.closed, left.closed]);
      expect(performance.now() - started).toBeLessThan(4000);
      for (let i = 0; i < 50 && !left.errors.join("").includes("TLS handshake failed"); i++) await Bun.sleep(20);
      expect(timedOut.errors.join("")).toBe("");
      expect(cut.errors.join("")).toBe("");
      expect(left.errors.join("")).toContain("the client closed the connection during the handshake");
    } finally {
      for (const x of [timedOut, cut, left]) {
        x.s.destroy();
        await x.server.close({ timeout: 100 });
      }
    }
  });

  test("maxConnections over TLS: the extra client gets the 503 after its handshake, not an empty reply", async () => {
    const server = serve(envApp, { ...quiet, port: 0, maxConnections: 1, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    const held = createConnection({ host: "127.0.0.1", port: server.port });
    held.on("error", () => {});
    try {
      await new Promise((r) => held.on("connect", r));
      for (let i = 0; i < 100 && server.connections < 1; i++) await Bun.sleep(10);
      expect(server.connections).toBe(1);
      const res = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert }, keepalive: false } as RequestInit);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("too many connections");
    } finally {
      held.destroy();
      await server.close();
    }
  });

  test("ALPN: a client offering h2 and http/1.1 settles on http/1.1; an h2-only client is refused in the handshake (RFC 7301)", async () => {
    const { connect } = await import("node:tls");
    const server = serve(envApp, { ...quiet, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    const offer = (protocols: string[]) =>
      new Promise<string>((resolve) => {
        const s = connect({ host: "127.0.0.1", port: server.port, servername: "localhost", ca: cert.cert, ALPNProtocols: protocols });
        const timer = setTimeout(() => (s.destroy(), resolve("timeout")), 3000);
        s.on("secureConnect", () => (clearTimeout(timer), resolve(`selected ${s.alpnProtocol}`), s.end()));
        s.on("error", (e) => (clearTimeout(timer), resolve(`refused: ${e.message}`)));
      });
    try {
      expect(await offer(["h2", "http/1.1"])).toBe("selected http/1.1");
      expect(await offer(["http/1.0"])).toBe("selected http/1.0");
      expect(await offer(["h2"])).toStartWith("refused");
      // Plain HTTPS clients (no ALPN offered) are unaffected.
      expect((await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert } } as RequestInit)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test("maxConnections over TLS: handshakes waiting for their 503 are bounded (64); a flood of silent sockets past that is closed at once", async () => {
    const server = serve(envApp, { ...quiet, port: 0, maxConnections: 1, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    const held = createConnection({ host: "127.0.0.1", port: server.port });
    held.on("error", () => {});
    const flood: ReturnType<typeof createConnection>[] = [];
    try {
      await new Promise((r) => held.on("connect", r));
      for (let i = 0; i < 100 && server.connections < 1; i++) await Bun.sleep(10);
      let closed = 0;
      for (let i = 0; i < 200; i++) {
        const s = createConnection({ host: "127.0.0.1", port: server.port });
        s.on("error", () => {});
        s.on("close", () => closed++);
        flood.push(s);
      }
      // Before: every one was held until headerTimeout (30 s by default), past maxConnections.
      for (let i = 0; i < 200 && closed < 200 - 64; i++) await Bun.sleep(10);
      expect(closed).toBeGreaterThanOrEqual(200 - 64);
      // The refused sockets never counted as connections: the held one is still the only one.
      expect(server.connections).toBe(1);
    } finally {
      for (const s of flood) s.destroy();
      held.destroy();
      await server.close();
    }
  });

  test("client certificates: --ca-certs turns on verification; a client without one is refused", async () => {
    const { generate } = await import("selfsigned");
    const ca = await generate([{ name: "commonName", value: "tsgi test CA" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [{ name: "basicConstraints", cA: true }, { name: "keyUsage", keyCertSign: true, digitalSignature: true }],
    });
    const client = await generate([{ name: "commonName", value: "client" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: "extKeyUsage", clientAuth: true }],
    });
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, ca.cert);
    // A certificate the server's CA did not sign.
    const stranger = await generate([{ name: "commonName", value: "stranger" }], { keyType: "ec", curve: "P-256", algorithm: "sha256", extensions: [{ name: "extKeyUsage", clientAuth: true }] });
    const errors: string[] = [];
    const server = serve(envApp, { ...quiet, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: caFile }) });
    try {
      const url = `https://localhost:${server.port}/`;
      const ok = await fetch(url, { tls: { ca: cert.cert, cert: client.cert, key: client.private } } as RequestInit);
      expect(ok.status).toBe(200);
      for (const tls of [{ ca: cert.cert }, { ca: cert.cert, cert: stranger.cert, key: stranger.private }]) {
        let refused = false;
        try {
          await fetch(url, { tls, keepalive: false } as RequestInit);
        } catch {
          refused = true;
        }
        expect(refused).toBe(true);
      }
      // Both refusals are logged, the unsigned certificate too (Bun reports it as a handshake that succeeded with an error).
      await Bun.sleep(50);
      const log = errors.join("");
      expect(log).toContain("the client sent no certificate, and this server requires one signed by its CA certificates (--ca-certs)");
      expect(log).toContain("the client's certificate is not signed by this server's CA certificates (--ca-certs)");
    } finally {
      await server.close();
    }
    // What the app learns of the client (mod_ssl's names, as cheroot's SSL adapters): optional certificates here.
    // Behind validator(): every key, the SSL_* ones included, passes environ-latin1 (byte strings).
    const sslApp: Application = (environ, sr) => {
      sr("200 OK", [["Content-Type", "application/json"]]);
      return [new TextEncoder().encode(JSON.stringify(Object.fromEntries(Object.entries(environ).filter(([k]) => k.startsWith("SSL_")))))];
    };
    const optional = serve(validator(sslApp), { ...quiet, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: caFile, requireClientCert: false }) });
    try {
      const url = `https://localhost:${optional.port}/`;
      const env = async (tls: object) => (await (await fetch(url, { tls: { ca: cert.cert, ...tls }, keepalive: false } as RequestInit)).json()) as Record<string, string>;
      const good = await env({ cert: client.cert, key: client.private });
      expect(good.SSL_CLIENT_VERIFY).toBe("SUCCESS");
      expect(good.SSL_CLIENT_S_DN_CN).toBe("client");
      expect(good.SSL_CLIENT_S_DN).toBe("/CN=client");
      expect(good.SSL_CLIENT_I_DN_CN).toBe("tsgi test CA");
      expect(good.SSL_CLIENT_M_SERIAL).toMatch(/^[0-9A-F]+$/i);
      expect(good.SSL_CLIENT_CERT!.replace(/\s/g, "")).toBe(client.cert.replace(/\s/g, ""));
      expect(good.SSL_PROTOCOL).toMatch(/^TLSv1\.[23]$/);
      expect(good.SSL_CIPHER).toBeTruthy();
      expect((await env({})).SSL_CLIENT_VERIFY).toBe("NONE");
      const strange = await env({ cert: stranger.cert, key: stranger.private });
      expect(strange.SSL_CLIENT_VERIFY).toStartWith("FAILED:");
      expect(strange.SSL_CLIENT_S_DN_CN).toBe("stranger");
      // The DN in the certificate's order; a repeated attribute numbered as mod_ssl does.
      const dave = await generate(
        [
          { name: "OU", value: "A" },
          { name: "O", value: "Acme" },
          { name: "OU", value: "B" },
          { name: "commonName", value: "dave" },
        ],
        { keyType: "ec", curve: "P-256", algorithm: "sha256", ca: { key: ca.private, cert: ca.cert }, extensions: [{ name: "extKeyUsage", clientAuth: true }] },
      );
      const ordered = await env({ cert: dave.cert, key: dave.private });
      expect(ordered.SSL_CLIENT_S_DN).toBe("/OU=A/O=Acme/OU=B/CN=dave");
      expect([ordered.SSL_CLIENT_S_DN_OU, ordered.SSL_CLIENT_S_DN_OU_1, ordered.SSL_CLIENT_S_DN_O]).toEqual(["A", "B", "Acme"]);
      // Non-ASCII names (UTF8String): byte strings, each UTF-8 byte one latin-1 char (spec.md; mod_ssl gives UTF-8).
      const jurgen = await generate(
        [
          { name: "O", value: "Müller GmbH" },
          { name: "commonName", value: "Jürgen 日本" },
        ],
        { keyType: "ec", curve: "P-256", algorithm: "sha256", ca: { key: ca.private, cert: ca.cert }, extensions: [{ name: "extKeyUsage", clientAuth: true }] },
      );
      const bytes = (s: string) => Buffer.from(s, "utf8").toString("latin1");
      const utf8 = await env({ cert: jurgen.cert, key: jurgen.private });
      expect([utf8.SSL_CLIENT_S_DN_O, utf8.SSL_CLIENT_S_DN_CN, utf8.SSL_CLIENT_S_DN]).toEqual([bytes("Müller GmbH"), bytes("Jürgen 日本"), bytes("/O=Müller GmbH/CN=Jürgen 日本")]);
      expect(Object.entries(utf8).filter(([, v]) => /[^\x00-\xff]/.test(v))).toEqual([]);
    } finally {
      await optional.close();
    }
  });

  test("TLS protocol errors after the handshake (a renegotiation asked for, a forged record) are logged once per reason with their cause, not a line per connection", async () => {
    if (!hasNode) return void console.warn("SKIP: node not installed");
    const errors: string[] = [];
    const server = serve(envApp, { log: null, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile }) });
    // Node clients over TLS 1.2: a request answered, then (a) renegotiation, (b) a forged application-data record written on the TCP socket under TLS.
    const client = (how: "renegotiate" | "forge") =>
      run([
        "node",
        "-e",
        `const net=require("net"),tls=require("tls");const raw=net.connect(${server.port},"127.0.0.1",()=>{
const s=tls.connect({socket:raw,servername:"localhost",ca:${JSON.stringify(cert.cert)},maxVersion:"TLSv1.2"},()=>{
s.write("GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n");
s.once("data",(d)=>{if(!String(d).startsWith("HTTP/1.1 200"))process.exit(3);
${how === "renegotiate" ? "s.renegotiate({},()=>{});" : "raw.write(Buffer.from([0x17,3,3,0,32,...Buffer.alloc(32,1)]));"}
setTimeout(()=>process.exit(0),300)})});s.on("error",()=>{})});`,
      ]);
    try {
      for (let i = 0; i < 2; i++) {
        expect((await client("renegotiate")).code).toBe(0);
        expect((await client("forge")).code).toBe(0);
      }
      await Bun.sleep(100);
      const log = errors.join("");
      // Before: four lines "Error in socket: Error: error:...:NO_RENEGOTIATION" / "...:DECRYPTION_FAILED_OR_BAD_RECORD_MAC", one per connection.
      expect(log).not.toContain("Error in socket");
      expect(log.split("the client asked to renegotiate, which this server does not do").length - 1).toBe(1);
      expect(log.split("a record from the client did not decrypt").length - 1).toBe(1);
      expect(log).toContain("a TLS connection was closed on a protocol error from the client (");
      // Each such connection was closed; the server goes on serving.
      for (let i = 0; i < 100 && server.connections > 0; i++) await Bun.sleep(10);
      expect(server.connections).toBe(0);
      expect((await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert }, keepalive: false } as RequestInit)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test("a failed handshake's warning names its likely cause: an old TLS version, no shared cipher, the client's verdict on the server's certificate (an alert), the client's certificate expired, missing or not signed", async () => {
    if (!hasNode || !PYTHON) return void console.warn("SKIP: needs node and python3");
    const { generate } = await import("selfsigned");
    const ec = { keyType: "ec", curve: "P-256", algorithm: "sha256" } as const;
    const ca = await generate([{ name: "commonName", value: "tsgi causes CA" }], { ...ec, extensions: [{ name: "basicConstraints", cA: true }, { name: "keyUsage", keyCertSign: true, digitalSignature: true }] });
    const signed = (cn: string, dates: object = {}) => generate([{ name: "commonName", value: cn }], { ...ec, ...dates, ca: { key: ca.private, cert: ca.cert }, extensions: [{ name: "extKeyUsage", clientAuth: true }] });
    const alice = await signed("alice");
    const expired = await signed("expired", { notBeforeDate: new Date(Date.now() - 10 * 86_400_000), notAfterDate: new Date(Date.now() - 86_400_000) });
    const sub = mkdtempSync(join(dir, "causes-"));
    const file = (name: string, text: string) => (writeFileSync(join(sub, name), text), join(sub, name));
    const caFile = file("ca.pem", ca.cert);
    const errors: string[] = [];
    const server = serve(envApp, { ...quiet, errorLog: { write: (s: string) => void errors.push(s) }, port: 0, tls: loadTls({ certfile: cert.certfile, keyfile: cert.keyfile, caCerts: caFile }) });
    // Each client's failed handshake, then the one warning line it added (each reason is logged once).
    const warned = async (client: () => Promise<unknown>) => {
      const before = errors.length;
      await client();
      for (let i = 0; i < 100 && errors.length === before; i++) await Bun.sleep(10);
      const added = errors.slice(before).join("");
      expect(added).toContain("a TLS handshake failed");
      return added;
    };
    const node = (options: string) => run(["node", "-e", `const s=require("tls").connect({host:"127.0.0.1",port:${server.port},servername:"localhost",rejectUnauthorized:false,...${options}});s.on("secureConnect",()=>s.destroy());s.on("error",()=>{})`]);
    const python = (certName: string, trustServer: boolean) =>
      run([
        PYTHON!,
        "-c",
        `import ssl,socket
ctx=ssl.create_default_context(${trustServer ? `cafile=${JSON.stringify(cert.certfile)}` : ""})
ctx.maximum_version=ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(${JSON.stringify(file(`${certName}.pem`, certName === "alice" ? alice.cert : expired.cert))},${JSON.stringify(file(`${certName}-key.pem`, certName === "alice" ? alice.private : expired.private))})
s=ctx.wrap_socket(socket.create_connection(("127.0.0.1",${server.port})),server_hostname="localhost")
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
try: s.recv(10)
except Exception: pass`,
      ]);
    try {
      // Before: each was "the client gave up on the handshake (it may not trust this server's certificate) or does not speak TLS".
      expect(await warned(() => node(`{minVersion:"TLSv1",maxVersion:"TLSv1.1",ciphers:"DEFAULT@SECLEVEL=0"}`))).toContain("the client offered only protocol versions this server does not speak (SSL 3.0, TLS 1.0 or 1.1; it speaks TLS 1.2 and 1.3)");
      expect(await warned(() => node(`{maxVersion:"TLSv1.2",ciphers:"DHE-RSA-AES128-SHA"}`))).toContain("the client and this server share no cipher suite");
      // A client that does not trust the server's certificate sends an alert (unknown_ca): before, blamed on the client's certificate.
      const alert = await warned(() => python("alice", false));
      expect(alert).toContain("ALERT_UNKNOWN_CA");
      expect(alert).toContain("the client does not trust this server's certificate");
      expect(alert).not.toContain("the client's certificate");
      // The client's own certificate: expired (before: "missing or not signed by the CA certificates"), or none.
      expect(await warned(() => python("expired", true))).toContain("the client's certificate has expired");
      expect(await warned(() => node(`{maxVersion:"TLSv1.2"}`))).toContain("the client sent no certificate, and this server requires one signed by its CA certificates (--ca-certs)");
      // The server still serves a client with a good certificate.
      const ok = await fetch(`https://localhost:${server.port}/`, { tls: { ca: cert.cert, cert: alice.cert, key: alice.private } } as RequestInit);
      expect(ok.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe("Unix domain sockets", () => {
  test("serves over --uds; REMOTE_* empty as cheroot/gevent set them, SERVER_NAME/SERVER_PORT the host name and 80 (never empty); mode applied; file removed on close", async () => {
    const path = join(dir, "app.sock");
    const server = serve(envApp, { ...quiet, unix: path, unixMode: 0o660 });
    try {
      expect(server.unix).toBe(path);
      expect(server.url).toBe(`http://unix:${path}:/`);
      expect(statSync(path).mode & 0o777).toBe(0o660);
      const res = await fetch("http://localhost/", { unix: path } as RequestInit);
      const body = (await res.json()) as Record<string, string>;
      // PEP 3333: SERVER_NAME and SERVER_PORT are never empty; a Unix socket has neither (uWSGI, gunicorn).
      expect(body).toEqual({ REMOTE_ADDR: "", REMOTE_PORT: "", SERVER_NAME: hostname(), SERVER_PORT: "80", "tsgi.url_scheme": "http" });
    } finally {
      await server.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  test("the server API's unixMode takes what --uds-mode takes: 0o000-0o777 with a write bit; a fourth digit, a mode no one may write, or 660 written in decimal is a RangeError naming it, and no socket is made (before: 0o7777 and 0o444 were applied, and no client but root could connect)", async () => {
    const path = join(dir, "mode.sock");
    const cases: Array<[number, string]> = [
      [0o7777, "server option unixMode must be permission bits from 0o000 to 0o777 (e.g. 0o660), got 4095 (0o7777): the setuid, setgid and sticky bits mean nothing on a socket"],
      [0o4660, "got 2480 (0o4660): the setuid, setgid and sticky bits"],
      [0o444, "server option unixMode 0o444 lets no one write to the socket, which connecting needs (only root could connect): e.g. 0o660 (its owner and group) or 0o666 (every user)"],
      [0, "server option unixMode 0o000 lets no one write"],
      [660, "got 660, which is 0o1224: write it in octal, 0o660"],
      [-1, "server option unixMode must be permission bits from 0o000 to 0o777 (e.g. 0o660), got -1"],
    ];
    for (const [unixMode, message] of cases) {
      let error: unknown;
      try {
        await serve(envApp, { ...quiet, unix: path, unixMode }).close();
      } catch (e) {
        error = e;
      }
      expect([unixMode, (error as Error | undefined)?.name, (error as Error | undefined)?.message]).toEqual([unixMode, "RangeError", expect.stringContaining(message)]);
      expect(existsSync(path)).toBe(false);
    }
  });

  test("an HTTP/1.0 request without Host passes validator() and rebuilds its URL from SERVER_NAME and SERVER_PORT", async () => {
    const path = join(dir, "nohost.sock");
    const app: Application = (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode(`${requestUri(environ)} ${environ.HTTP_HOST ?? "-"}`)];
    };
    const server = serve(validator(app), { ...quiet, unix: path, peerCredentials: true });
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = createConnection({ path }, () => sock.write("GET /a%20b?x=1 HTTP/1.0\r\n\r\n"));
        let got = "";
        sock.setTimeout(5000, () => sock.destroy(new Error("timed out")));
        sock.on("data", (d) => (got += d.toString("latin1")));
        sock.on("end", () => resolve(got));
        sock.on("error", reject);
      });
      expect(raw.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
      expect(raw.slice(raw.indexOf("\r\n\r\n") + 4)).toBe(`http://${hostname()}/a%20b?x=1 -`);
    } finally {
      await server.close();
    }
  });

  // A UTS namespace whose host name is "" (sethostname(2) takes length 0): os.hostname() is then "".
  const emptyHostname = Bun.which("unshare") !== null && Bun.which("python3") !== null &&
    Bun.spawnSync(["unshare", "-u", "python3", "-c", "import socket; socket.sethostname('')"], { stderr: "ignore" }).exitCode === 0;
  test.skipIf(!emptyHostname)("on a machine whose host name is empty, SERVER_NAME is localhost, not \"\" (the server and toFetchHandler on Unix sockets, under validator())", async () => {
    const script = join(dir, "empty-hostname.ts");
    writeFileSync(
      script,
      `import { hostname } from "node:os";
import { createConnection } from "node:net";
import { serve } from ${JSON.stringify(join(import.meta.dir, "../src/server/index.ts"))};
import { toFetchHandler } from ${JSON.stringify(join(import.meta.dir, "../src/fetch/index.ts"))};
import { requestUri } from ${JSON.stringify(join(import.meta.dir, "../src/toolkit/util.ts"))};
import { validator } from ${JSON.stringify(join(import.meta.dir, "../src/toolkit/validate.ts"))};
const app = validator((environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(environ.SERVER_NAME + " " + requestUri(environ))];
});
const ask = (path) => new Promise((resolve, reject) => {
  const sock = createConnection({ path }, () => sock.write("GET /x HTTP/1.0\\r\\n\\r\\n"));
  let got = "";
  sock.setTimeout(5000, () => sock.destroy(new Error("timed out")));
  sock.on("data", (d) => (got += d.toString("latin1")));
  sock.on("end", () => resolve(got.split("\\r\\n")[0] + " | " + got.slice(got.indexOf("\\r\\n\\r\\n") + 4)));
  sock.on("error", reject);
});
const a = ${JSON.stringify(join(dir, "empty-a.sock"))}, b = ${JSON.stringify(join(dir, "empty-b.sock"))};
const server = serve(app, { unix: a, errorLog: null, log: null });
const bun = Bun.serve({ unix: b, fetch: toFetchHandler(app, { errorLog: null }) });
console.log(JSON.stringify({ hostname: hostname(), server: await ask(a), fetch: await ask(b) }));
await server.close();
bun.stop(true);
`,
    );
    const p = Bun.spawn(["unshare", "-u", "sh", "-c", `python3 -c "import socket; socket.sethostname('')" && exec "$0" "$1"`, process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill(), 15_000);
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    clearTimeout(timer);
    expect([await p.exited, err]).toEqual([0, ""]);
    expect(JSON.parse(out)).toEqual({ hostname: "", server: "HTTP/1.1 200 OK | localhost http://localhost/x", fetch: "HTTP/1.1 200 OK | localhost http://localhost/x" });
  });

  test.skipIf(!hasCurl)("curl --unix-socket, keep-alive reuse and a chunked upload", async () => {
    const path = join(dir, "curl.sock");
    const server = serve(envApp, { ...quiet, unix: path });
    try {
      const r = await run(["curl", "-sS", "--max-time", "5", "--unix-socket", path, "-H", "Transfer-Encoding: chunked", "--data-binary", "y".repeat(5000), "http://localhost/a", "http://localhost/b", "-w", "\\n%{num_connects}\\n"]);
      expect(r.stderr).toBe("");
      const lines = r.stdout.trim().split("\n");
      expect(JSON.parse(lines[0]!).bodyLength).toBe(5000);
      expect(lines.at(-1)).toBe("0"); // the second request reused the connection
    } finally {
      await server.close();
    }
  });

  test("a stale socket file is replaced; a live one is not; a regular file is never removed; a path that cannot be bound says why", async () => {
    const path = join(dir, "stale.sock");
    // A socket file nobody listens on: what a killed server leaves behind.
    const py = await run(["python3", "-c", `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
    if (py.code !== 0) {
      console.warn("SKIP: python3 unavailable to make a stale socket file");
    } else {
      expect(existsSync(path)).toBe(true);
      const server = serve(envApp, { ...quiet, unix: path });
      try {
        const res = await fetch("http://localhost/", { unix: path } as RequestInit);
        expect(res.status).toBe(200);
        // A second server on the same live path is refused, and the first keeps serving.
        expect(() => serve(envApp, { ...quiet, unix: path })).toThrow(/another process is serving that socket/);
        expect((await fetch("http://localhost/", { unix: path } as RequestInit)).status).toBe(200);
      } finally {
        await server.close();
      }
    }
    // A path that cannot be bound: its reason, not Bun's "Failed to listen at" nor TCP's "ports below 1024".
    expect(() => serve(envApp, { ...quiet, unix: join(dir, "no-such-dir", "a.sock") })).toThrow(/^cannot listen on .*\/no-such-dir\/a\.sock: the directory .*\/no-such-dir does not exist/);
    expect(unixListenError(Object.assign(new Error("Failed to listen at /run/app/a.sock"), { code: "EACCES" }), "/run/app/a.sock").message).toBe(
      "cannot listen on /run/app/a.sock: permission denied: this user cannot create a file in /run/app (EACCES)",
    );
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "keep me");
    expect(() => prepareUnixPath(file)).toThrow(/not a socket/);
    expect(existsSync(file)).toBe(true);
  });

  test("--uds given a directory, or a path where another file is: one line saying what is there and what to give instead, the same with --workers, the file kept (before: 'the file exists and is not a socket (not removed)' for both, with nothing to do)", async () => {
    const sub = mkdtempSync(join(dir, "uds-"));
    const file = join(sub, "app.sock");
    writeFileSync(file, "keep me");
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts")];
    const isDir = `cannot listen on ${sub}: it is a directory; give the socket's own path in it, e.g. ${join(sub, "app.sock")}`;
    const isFile = `cannot listen on ${file}: a file that is not a socket is there (a regular file, not removed); remove it if nothing needs it, or give another path for the socket`;
    expect(() => serve(envApp, { ...quiet, unix: sub })).toThrow(isDir);
    expect(() => serve(envApp, { ...quiet, unix: file })).toThrow(isFile);
    await expectOneLineRefusals(cli, [
      [["--uds", sub], isDir],
      [["--uds", sub, "--workers", "2"], isDir],
      [["--uds", file], isFile],
      [["--uds", file, "--workers", "2"], isFile],
    ]);
    expect(readFileSync(file, "utf8")).toBe("keep me");
    // A symbolic link to a directory is that directory (not a file to remove); the link is kept.
    const link = join(sub, "run");
    symlinkSync(sub, link);
    const isLinkDir = `cannot listen on ${link}: it is a directory (a symbolic link to one); give the socket's own path in it, e.g. ${join(link, "app.sock")}`;
    expect(() => serve(envApp, { ...quiet, unix: link })).toThrow(isLinkDir);
    await expectOneLineRefusals(cli, [[["--uds", link, "--workers", "2"], isLinkDir]]);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  }, 30_000);

  const linux = process.platform === "linux";
  if (!linux) console.warn("skipping the abstract Unix socket tests: Linux only");
  /** GET / over the abstract socket `name` from python3 (its own process): the response's first line and body, or the error. */
  async function overAbstract(name: string): Promise<string> {
    const code = `import socket,sys
s=socket.socket(socket.AF_UNIX);s.settimeout(5);s.connect("\\0"+sys.argv[1])
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
d=b""
while True:
  c=s.recv(65536)
  if not c: break
  d+=c
h,_,b=d.partition(b"\\r\\n\\r\\n");print(h.split(b"\\r\\n")[0].decode());print(b.decode())`;
    const r = await run([PYTHON!, "-c", code, name]);
    return r.code === 0 ? r.stdout : `failed: ${r.stderr}`;
  }

  test.skipIf(!linux || !PYTHON)("--uds @name listens on a Linux abstract socket, one process and --workers 2: no file is made, python3 (\\0name) and curl (--abstract-unix-socket) reach it, SIGTERM frees the name (before: a file ./@name was made)", async () => {
    for (const workers of [[], ["--workers", "2"]]) {
      const name = `tsgi-test-${process.pid}-${workers.length}`;
      const proc = spawnServe([process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--uds", `@${name}`, "--no-access-log", ...workers], { ...process.env });
      try {
        await proc.serving();
        expect(proc.err()).toContain(`on unix:@${name} `);
        const seen = await overAbstract(name);
        expect(seen).toStartWith("HTTP/1.1 200 OK\n");
        expect(JSON.parse(seen.slice(seen.indexOf("\n") + 1)).pathInfo).toBe("/");
        if (hasCurl) {
          const r = await run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "--abstract-unix-socket", name, "http://x/"]);
          expect(r.stdout).toBe("200");
        }
      } finally {
        await proc.stop();
      }
      // No file ./@name in its working directory (this test's).
      expect(existsSync(`@${name}`)).toBe(false);
      // The name is free again: the library binds it.
      const again = serve(envApp, { ...quiet, unix: `@${name}` });
      await again.close();
    }
  }, 40_000);

  test.skipIf(!linux || !PYTHON)('the server API\'s unix "@name" (or "\\0name", as Bun.listen takes it) is an abstract socket: url http://unix:@name:/, Unix environ, the name free after close(); a name in use, an empty one or a unixMode is refused saying so', async () => {
    const name = `tsgi-test-lib-${process.pid}`;
    for (const unix of [`@${name}`, `\0${name}`]) {
      const server = serve(envApp, { ...quiet, unix });
      try {
        expect(server.url).toBe(`http://unix:@${name}:/`);
        const seen = await overAbstract(name);
        expect(seen).toStartWith("HTTP/1.1 200 OK\n");
        const body = JSON.parse(seen.slice(seen.indexOf("\n") + 1)) as Record<string, string>;
        expect([body.REMOTE_ADDR, body.SERVER_PORT]).toEqual(["", "80"]);
        expect(() => serve(envApp, { ...quiet, unix: `@${name}` })).toThrow(`cannot listen on the abstract socket @${name}: another process is serving that abstract socket (ss -xlp shows which) (EADDRINUSE)`);
      } finally {
        await server.close();
      }
    }
    expect(existsSync(`@${name}`)).toBe(false);
    expect(() => serve(envApp, { ...quiet, unix: "@" })).toThrow('server option unix "@" names no abstract socket');
    expect(() => serve(envApp, { ...quiet, unix: `@${name}`, unixMode: 0o660 })).toThrow(`server option unixMode does not apply to the abstract socket "@${name}": it has no file`);
    // Not bound by the refusals: the name is free.
    const free = serve(envApp, { ...quiet, unix: `@${name}` });
    await free.close();
  });

  test.skipIf(!linux)("tsgi serve --uds @name: --uds-mode with it, or an empty name, is a usage error saying why; a name in use fails in one line, with --workers too", async () => {
    const cli = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts")];
    const name = `tsgi-test-busy-${process.pid}`;
    for (const [args, message] of [
      [["--uds", "@app", "--uds-mode", "660"], "--uds-mode does not apply to the abstract socket @app: it has no file, so no permission bits"],
      [["--uds", "@"], "--uds @ names no abstract socket: give a name after the @ (e.g. --uds @app), or a file path"],
    ] as const) {
      const r = await run([...cli, ...args]);
      expect([args.join(" "), r.code]).toEqual([args.join(" "), 2]);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain("    at ");
    }
    const holder = serve(envApp, { ...quiet, unix: `@${name}` });
    try {
      const busy = `cannot listen on the abstract socket @${name}: another process is serving that abstract socket`;
      await expectOneLineRefusals(cli, [
        [["--uds", `@${name}`], busy],
        [["--uds", `@${name}`, "--workers", "2"], busy],
      ]);
    } finally {
      await holder.close();
    }
  }, 30_000);

  test("peer credentials (SO_PEERCRED): pid, uid, gid, and names with resolve", async () => {
    const path = join(dir, "cred.sock");
    const server = serve(envApp, { ...quiet, unix: path, peerCredentials: "resolve" });
    try {
      // The client is this very process (Bun's fetch), so the kernel reports our ids.
      const body = (await (await fetch("http://localhost/", { unix: path } as RequestInit)).json()) as Record<string, string>;
      expect(body.X_REMOTE_PID).toBe(String(process.pid));
      expect(body.X_REMOTE_UID).toBe(String(process.getuid!()));
      expect(body.X_REMOTE_GID).toBe(String(process.getgid!()));
      const id = await run(["id", "-un"]);
      const gid = await run(["id", "-gn"]);
      expect(body.X_REMOTE_USER).toBe(id.stdout.trim());
      expect(body.REMOTE_USER).toBe(id.stdout.trim());
      expect(body.X_REMOTE_GROUP).toBe(gid.stdout.trim());
      // Another process: curl's own pid is reported, not ours.
      if (hasCurl) {
        const r = await run(["curl", "-sS", "--max-time", "5", "--unix-socket", path, "http://localhost/"]);
        const other = JSON.parse(r.stdout);
        expect(other.X_REMOTE_PID).not.toBe(String(process.pid));
        expect(Number(other.X_REMOTE_PID)).toBeGreaterThan(0);
      }
    } finally {
      await server.close();
    }
    // Off by default: no credential keys.
    const plain = serve(envApp, { ...quiet, unix: path });
    try {
      const body = (await (await fetch("http://localhost/", { unix: path } as RequestInit)).json()) as Record<string, string>;
      expect(body.X_REMOTE_PID).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  test("TCP connections never get the Unix keys", async () => {
    const server = serve(envApp, { ...quiet, port: 0, peerCredentials: true });
    try {
      const body = (await (await fetch(`http://127.0.0.1:${server.port}/`)).json()) as Record<string, string>;
      expect(body.REMOTE_ADDR).toBe("127.0.0.1");
      expect(body.SERVER_PORT).toBe(String(server.port));
      expect(body.X_REMOTE_PID).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe("inherited file descriptor (--fd)", () => {
  test("serves a listening socket passed by a parent (as systemd does)", async () => {
    // The child gets a TCP listener as fd 3 and a Unix one as fd 4, like LISTEN_FDS=2.
    const tcp = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = tcp.port;
    const { dupFd, closeFd } = await import("../src/server/sys.ts");
    const fd = dupFd((tcp as unknown as { fd: number }).fd);
    tcp.stop(true);
    const child = Bun.spawn(
      [process.execPath, "-e", `
        const { serve } = await import(${JSON.stringify(join(import.meta.dir, "../src/server/index.ts"))});
        const s = serve((e, sr) => { sr("200 OK", [["Content-Type", "text/plain"]]); return [new TextEncoder().encode(e.SERVER_NAME + " " + e.SERVER_PORT + " " + e.REMOTE_ADDR)]; }, { fd: 3, errorLog: null });
        console.log("ready " + s.port);
        process.on("SIGTERM", async () => { await s.close(); process.exit(0); });
      `],
      { stdio: ["ignore", "pipe", "inherit", fd] },
    );
    closeFd(fd);
    try {
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first.trim()).toBe(`ready ${port}`);
      const text = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      expect(text).toBe(`127.0.0.1 ${port} 127.0.0.1`);
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  });

  for (const workers of [[], ["--workers", "1"]]) {
    test.skipIf(!PYTHON)(`tsgi serve --fd 3 with an inherited Unix socket names its path, serves it, and leaves the file to its owner${workers.length ? " (workers)" : ""}`, async () => {
      const path = join(dir, `inherited-${workers.length}.sock`);
      // The parent binds and listens, then becomes tsgi with the socket as fd 3, as systemd does
      // (Python, because Bun removes a socket file when its own listener stops).
      const argv = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--fd", "3", "--no-access-log", ...workers];
      const parent = `import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)  # dup2 onto itself keeps close-on-exec
os.execv(sys.argv[2], sys.argv[2:])`;
      const child = Bun.spawn([PYTHON!, "-c", parent, path, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      const reading = (async () => {
        for await (const chunk of child.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      try {
        for (let i = 0; i < 300 && !/serving .* on /.test(err); i++) await Bun.sleep(50);
        // The same line with workers and without (it was http://unix:<path>:/ for one process).
        expect(err).toContain(`on unix:${path} (inherited fd 3)`);
        expect(err).not.toContain("unix::");
        const res = await fetch("http://localhost/x", { unix: path, signal: AbortSignal.timeout(5000) } as RequestInit);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { pathInfo: string }).pathInfo).toBe("/x");
      } finally {
        child.kill("SIGTERM");
        expect(await child.exited).toBe(0);
        await reading;
      }
      // The socket file belongs to whoever bound it: tsgi leaves it.
      expect(existsSync(path)).toBe(true);
    }, 30_000);
  }

  // Inherited sockets tsgi does not serve: another family (AF_VSOCK, where the kernel offers it), or not a byte stream.
  const oddParent = `import os, socket, sys
kind = sys.argv[1]
if kind == "vsock":
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
    s.listen(4)
elif kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
elif kind == "unix-dgram":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\\0tsgi-test-dgram-%d" % os.getpid())
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind("\\0tsgi-test-seqpacket-%d" % os.getpid())
    s.listen(4)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[2], sys.argv[2:])`;
  const VSOCK = PYTHON !== null && Bun.spawnSync([PYTHON, "-c", oddParent, "vsock", "/bin/true"], { stdout: "ignore", stderr: "ignore", timeout: 10_000 }).exitCode === 0;
  test.skipIf(!PYTHON || process.platform !== "linux")(
    "an inherited socket tsgi cannot serve is refused in one line naming its kind, by serve() and by tsgi serve --fd with and without --workers (exit 1): AF_VSOCK (before: served, its clients given a Unix socket's environ), UDP and Unix datagram (before: \"Failed to listen at  (EINVAL)\"), Unix SOCK_SEQPACKET (before: served as a Unix stream socket, which it is not)",
    () => {
      const script = join(dir, "odd-socket.ts");
      writeFileSync(
        script,
        `import { serve } from ${JSON.stringify(join(import.meta.dir, "../src/server/index.ts"))};
try {
  const s = serve(() => [], { fd: 3, errorLog: null, log: null });
  console.log(JSON.stringify({ served: s.url }));
  await s.close();
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
`,
      );
      const cli = join(import.meta.dir, "../src/cli/serve.ts");
      const app = join(import.meta.dir, "apps/workers-app.ts");
      const family = "and tsgi serves TCP (IPv4, IPv6) and Unix sockets only, whose clients it can name in environ (EAFNOSUPPORT); pass one of those";
      const stream = "and HTTP/1.1 needs a byte stream, a SOCK_STREAM one (ESOCKTNOSUPPORT); pass a listening TCP or Unix stream socket";
      const cases: Array<[string, string, string]> = [
        ["udp", "ESOCKTNOSUPPORT", `cannot serve file descriptor 3: it is a SOCK_DGRAM socket, ${stream}`],
        ["unix-dgram", "ESOCKTNOSUPPORT", `cannot serve file descriptor 3: it is a SOCK_DGRAM socket, ${stream}`],
        ["seqpacket", "ESOCKTNOSUPPORT", `cannot serve file descriptor 3: it is a SOCK_SEQPACKET socket, ${stream}`],
        ...(VSOCK ? [["vsock", "EAFNOSUPPORT", `cannot serve file descriptor 3: it is an AF_VSOCK socket, ${family}`] as [string, string, string]] : []),
      ];
      for (const [kind, code, message] of cases) {
        const r = Bun.spawnSync([PYTHON!, "-c", oddParent, kind, process.execPath, script], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
        const got = JSON.parse(r.stdout.toString() || "null");
        expect(got?.code).toBe(code);
        expect(got?.message).toStartWith(message);
        for (const workers of [[], ["--workers", "2"]]) {
          const c = Bun.spawnSync([PYTHON!, "-c", oddParent, kind, process.execPath, cli, "serve", app, "--fd", "3", "--no-access-log", ...workers], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
          expect(c.exitCode).toBe(1);
          const lines = c.stderr.toString().trim().split("\n");
          expect(lines).toHaveLength(1);
          expect(lines[0]).toStartWith(`[error] ${message}`);
        }
      }
    },
    60_000,
  );

  test.skipIf(!PYTHON)("the Supervisor of an inherited TCP socket (--fd with --workers) reports its real port, IPv4 and IPv6 (before: 0)", () => {
    const script = join(dir, "supervisor-port.ts");
    writeFileSync(
      script,
      `import { Supervisor } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/supervisor.ts"))};
import { resolveDeployOptions } from ${JSON.stringify(join(import.meta.dir, "../src/deploy/options.ts"))};
const s = new Supervisor({ config: { app: ${JSON.stringify(join(import.meta.dir, "apps/workers-app.ts"))}, cwd: ${JSON.stringify(dir)}, deploy: resolveDeployOptions({ fd: 3, workers: 1 }), accessLog: false }, log: () => {} });
await s.start();
const url = "http://" + (process.argv[2]!.includes(":") ? "[" + process.argv[2] + "]" : process.argv[2]) + ":" + s.port + "/";
const status = await fetch(url, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) }).then((r) => r.status, (e) => String(e.code ?? e));
console.log(JSON.stringify({ port: s.port, status }));
await s.stop();
process.exit(0);
`,
    );
    for (const [family, host] of [["AF_INET", "127.0.0.1"], ["AF_INET6", "::1"]] as const) {
      const parent = `import os, socket, sys
s = socket.socket(socket.${family})
s.bind(("${host}", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[1], sys.argv[1:])`;
      const r = Bun.spawnSync([PYTHON!, "-c", parent, process.execPath, script, host], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
      const [port, json] = r.stdout.toString().trim().split("\n");
      expect(JSON.parse(json ?? "null")).toEqual({ port: Number(port), status: 200 });
    }
  }, 60_000);

  test.skipIf(!PYTHON)("inetSocketAddress names an inherited TCP socket's address and port, IPv4, IPv6 and IPv4-mapped IPv6 in RFC 5952's mixed notation (the start-up line)", () => {
    const script = join(dir, "inet-address.ts");
    writeFileSync(script, `import { inetSocketAddress, unixSocketPath } from ${JSON.stringify(join(import.meta.dir, "../src/server/sys.ts"))};\nconsole.log(JSON.stringify([inetSocketAddress(3), unixSocketPath(3), inetSocketAddress(0)]));\n`);
    for (const [family, host] of [["AF_INET", "127.0.0.1"], ["AF_INET6", "::1"], ["AF_INET6", "::ffff:127.0.0.1"]] as const) {
      const parent = `import os, socket, sys
s = socket.socket(socket.${family})
s.bind(("${host}", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[1], sys.argv[1:])`;
      const r = Bun.spawnSync([PYTHON!, "-c", parent, process.execPath, script], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
      const [port, json] = r.stdout.toString().trim().split("\n");
      expect(JSON.parse(json!)).toEqual([{ host, port: Number(port) }, null, null]);
    }
  });

  for (const workers of [[], ["--workers", "1"]]) {
    test.skipIf(!PYTHON)(`systemd socket activation without --fd (LISTEN_FDS, LISTEN_PID): fd 3 is served, said once, and the app does not inherit the variables${workers.length ? " (workers)" : ""}`, async () => {
      // The parent binds and listens, then becomes tsgi with the socket as fd 3 and systemd's
      // variables naming its own pid (exec keeps it), as systemd-socket-activate does.
      const argv = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--no-access-log", ...workers];
      const parent = `import os, socket, sys
s = socket.socket(socket.AF_INET)
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDNAMES"] = "app.socket"
os.execv(sys.argv[1], sys.argv[1:])`;
      const child = Bun.spawn([PYTHON!, "-c", parent, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      const reading = (async () => {
        for await (const chunk of child.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      try {
        const port = Number(new TextDecoder().decode((await child.stdout.getReader().read()).value).trim());
        for (let i = 0; i < 300 && !/serving .* on /.test(err); i++) await Bun.sleep(50);
        expect(err).toContain("systemd socket activation: serving fd 3 (LISTEN_FDS=1)");
        // The inherited socket, not the default 127.0.0.1:8000.
        expect(err).toMatch(new RegExp(`serving .* on http://127\\.0\\.0\\.1:${port}/ \\(inherited fd 3\\)`));
        const res = await fetch(`http://127.0.0.1:${port}/env`, { signal: AbortSignal.timeout(5000) });
        expect(res.status).toBe(200);
        // The app (a worker, or the one process) does not see systemd's variables: sd_listen_fds unsets them.
        expect(((await res.json()) as { listenFds: string | null }).listenFds).toBe(null);
      } finally {
        child.kill("SIGTERM");
        expect(await child.exited).toBe(0);
        await reading;
      }
    }, 30_000);
  }

  test.skipIf(!PYTHON)("socket activation not used: sockets passed with --port given, or passed to another pid, are warned about (their clients would hang)", async () => {
    const run = async (listenPid: "self" | "other", extra: string[]) => {
      const port = freePort();
      const argv = [process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", join(import.meta.dir, "apps/workers-app.ts"), "--no-access-log", "--port", String(port), ...extra];
      const parent = `import os, socket, sys
s = socket.socket(socket.AF_INET)
s.bind(("127.0.0.1", 0))
s.listen(8)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid()) if sys.argv[1] == "self" else "1"
os.execv(sys.argv[2], sys.argv[2:])`;
      const child = Bun.spawn([PYTHON!, "-c", parent, listenPid, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      const reading = (async () => {
        for await (const chunk of child.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      try {
        for (let i = 0; i < 300 && !/serving .* on /.test(err); i++) await Bun.sleep(50);
        expect((await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
        return err;
      } finally {
        child.kill("SIGTERM");
        await child.exited;
        await reading;
      }
    };
    expect(await run("self", [])).toContain("systemd passed 1 socket(s) (LISTEN_FDS) that are not served: a place to listen was given on the command line");
    expect(await run("other", [])).toMatch(/LISTEN_FDS is set for another process \(LISTEN_PID 1, this is \d+\)/);
  }, 30_000);

  test("a descriptor that is not a listening socket is refused with a clear error", () => {
    const file = openSync(import.meta.path, "r");
    try {
      expect(() => serve(envApp, { ...quiet, fd: file })).toThrow(new RegExp(`^cannot serve file descriptor ${file}: it is open but not a socket \\(ENOTSOCK\\)`));
    } finally {
      closeSync(file);
    }
    // Closed now: not open in this process.
    expect(() => serve(envApp, { ...quiet, fd: file })).toThrow(new RegExp(`^cannot serve file descriptor ${file}: it is not open in this process \\(EBADF\\); pass a listening socket`));
  });
});
