/** resolveDeployOptions: the flag rules both CLIs share (issue 5 §1-§4). */
import { describe, expect, test } from "bun:test";
import { UsageError } from "../src/deploy/errors.ts";
import { MAX_WORKERS_PER_CORE, NUMBER_FLAGS, resolveDeployOptions, type NumberFlag } from "../src/deploy/options.ts";
import { availableParallelism } from "node:os";
import { parseArgs } from "citty";
import { DEPLOY_ARGS, DEPLOY_OPTIONAL_VALUES, SERVE_ARGS, SERVE_FOREIGN_FLAGS, deployOptionsFromArgs } from "../src/cli/serve-command.ts";
import { checkArgs } from "../src/cli/args.ts";
import { join } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { collect, freePort, raw, servingPort } from "./helpers.ts";
import { resolveOptions } from "../src/server/options.ts";
import { openFileLimit } from "../src/server/sys.ts";

/**
 * Start a CLI (`src/cli/serve.ts serve ...` or `src/cli/dev.ts ...`) from the repository root with
 * `env` over the test's environment; `out` is its stdout and stderr as they came, `until` waits
 * (50 ms polls, 20 s at most) for a test of it to pass or the process to exit, `stop` ends it.
 */
function startCli(argv: string[], env: Record<string, string>) {
  const proc = Bun.spawn([process.execPath, ...argv], { cwd: join(import.meta.dir, ".."), stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const stdout = collect(proc.stdout);
  const stderr = collect(proc.stderr);
  return {
    get out() {
      return stdout.text() + stderr.text();
    },
    async until(test: (out: string) => boolean, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!test(this.out) && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
    },
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(10_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

describe("resolveDeployOptions", () => {
  test("defaults: 127.0.0.1:8000 (or PORT), one process, 30 s graceful timeout", () => {
    const r = resolveDeployOptions({}, {});
    expect(r.server).toMatchObject({ hostname: "127.0.0.1", port: 8000, shutdownTimeout: 30_000 });
    expect(r.workers).toBeNull();
    expect(r.proxy).toBeNull();
    expect(r.tls).toBeNull();
    expect(resolveDeployOptions({}, { PORT: "9001" }).server.port).toBe(9001);
  });

  test("workers: settings in ms, multiprocess on", () => {
    const r = resolveDeployOptions({ workers: 3, maxRequests: 100, maxRequestsJitter: 10, timeout: 2.5, gracefulTimeout: 4 }, {});
    expect(r.workers).toEqual({ workers: 3, reusePort: false, gracefulTimeout: 4000, maxRequests: 100, maxRequestsJitter: 10, timeout: 2500 });
    expect(r.server.multiprocess).toBe(true);
  });

  test("proxy headers: default allow list, FORWARDED_ALLOW_IPS, explicit list, header family", () => {
    expect(resolveDeployOptions({ proxyHeaders: true }, {}).proxy).toEqual({ forwardedAllowIps: ["127.0.0.1", "::1"], header: "x-forwarded" });
    expect(resolveDeployOptions({ proxyHeaders: true }, { FORWARDED_ALLOW_IPS: "10.0.0.0/8" }).proxy!.forwardedAllowIps).toEqual(["10.0.0.0/8"]);
    expect(resolveDeployOptions({ proxyHeaders: true, forwardedAllowIps: "*", forwardedHeader: "forwarded" }, {}).proxy).toEqual({ forwardedAllowIps: ["*"], header: "forwarded" });
  });

  test("a forwarded-allow-ips list of only commas or spaces (an unset variable) is refused at start, naming where it came from; empty items beside addresses are dropped", () => {
    const root = join(import.meta.dir, "..");
    const run = (args: string[], env: Record<string, string>) =>
      Bun.spawnSync([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--port", "0", "--proxy-headers", ...args], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1", ...env } });
    const advice = "give the proxies' IPs or CIDRs, comma-separated (e.g. 10.0.0.1,10.0.0.2), or *; unset, it is 127.0.0.1,::1";
    for (const [args, env, from, given] of [
      [["--forwarded-allow-ips", ","], {}, "--forwarded-allow-ips", ","],
      [["--forwarded-allow-ips= , "], {}, "--forwarded-allow-ips", " , "],
      [[], { FORWARDED_ALLOW_IPS: "" }, "FORWARDED_ALLOW_IPS (from the environment)", ""],
      [[], { FORWARDED_ALLOW_IPS: " ,," }, "FORWARDED_ALLOW_IPS (from the environment)", " ,,"],
    ] as Array<[string[], Record<string, string>, string, string]>) {
      const r = run(args, env);
      // Before: served, trusting no proxy, every X-Forwarded-For ignored.
      expect([args, env, r.exitCode, r.stderr.toString()]).toEqual([args, env, 2, `[error] ${from} lists no address (got ${JSON.stringify(given)}): ${advice}\n`]);
    }
    expect(resolveDeployOptions({ proxyHeaders: true, forwardedAllowIps: "127.0.0.1,,10.0.0.1," }, {}).proxy!.forwardedAllowIps).toEqual(["127.0.0.1", "10.0.0.1"]);
  });

  test("a bad FORWARDED_ALLOW_IPS from the environment is named as such, not as --forwarded-allow-ips; a bad flag is named as the flag", () => {
    const message = (options: Parameters<typeof resolveDeployOptions>[0], env: Record<string, string>): string => {
      try {
        resolveDeployOptions(options, env);
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    for (const bad of ["::ffff:10.0.0.5%eth0", "10.0.0.1:8080", "010.0.0.1"]) {
      expect(message({ proxyHeaders: true }, { FORWARDED_ALLOW_IPS: bad })).toStartWith(`FORWARDED_ALLOW_IPS (from the environment): ${JSON.stringify(bad)} is not`);
      expect(message({ proxyHeaders: true, forwardedAllowIps: bad }, { FORWARDED_ALLOW_IPS: "10.0.0.0/8" })).toStartWith(`--forwarded-allow-ips: ${JSON.stringify(bad)} is not`);
      // The flag wins over the variable: a bad variable is not read when the flag is given.
      expect(message({ proxyHeaders: true, forwardedAllowIps: "10.0.0.0/8" }, { FORWARDED_ALLOW_IPS: bad })).toBe("accepted");
    }
  });

  test("--host: an IPv6 address may be bracketed; a bare one, an IPv4 address and a name are taken as given", () => {
    expect(resolveDeployOptions({ host: "[::1]" }, {}).server.hostname).toBe("::1");
    expect(resolveDeployOptions({ host: "[::]" }, {}).server.hostname).toBe("::");
    for (const host of ["::1", "fe80::1%eth0", "0.0.0.0", "localhost", "app.internal"]) expect(resolveDeployOptions({ host }, {}).server.hostname).toBe(host);
  });

  test("uds, mode, peercreds, root path, tls", () => {
    const r = resolveDeployOptions({ uds: "/tmp/a.sock", udsMode: "660", peercreds: "resolve", rootPath: "/api/", https: true }, {});
    expect(r.server).toMatchObject({ unix: "/tmp/a.sock", unixMode: 0o660, peerCredentials: "resolve", scriptName: "/api" });
    expect(r.server.port).toBeUndefined();
    expect(r.tls).toBe("dev");
    expect(resolveDeployOptions({ certfile: "c", keyfile: "k", caCerts: "ca" }, {}).tls).toEqual({ certfile: "c", keyfile: "k", caCerts: "ca" });
  });

  test("--uds-mode takes octal permission bits from 000 to 777 that let someone connect; a fourth digit (setuid, setgid, sticky), a mode no one may write, symbolic or decimal modes are usage errors (before: 7777, 1000, 0 and 444 were taken)", async () => {
    const mode = (udsMode: string | number) => resolveDeployOptions({ uds: "/tmp/x.sock", udsMode }, {}).server.unixMode;
    for (const [given, bits] of [["660", 0o660], ["0660", 0o660], ["0o660", 0o660], ["600", 0o600], ["777", 0o777], ["0777", 0o777], ["200", 0o200], [0o660, 0o660]] as const) expect([given, mode(given)]).toEqual([given, bits]);
    const fourth = (v: string) => new UsageError(`--uds-mode must be octal permission bits from 000 to 777 (e.g. 660), got "${v}": the setuid, setgid and sticky bits (a fourth digit) mean nothing on a socket`);
    for (const v of ["7777", "1000", "1660", "4660", "0o2770"]) expect(() => mode(v), v).toThrow(fourth(v));
    const noWrite = (shown: string) => new UsageError(`--uds-mode ${shown} lets no one write to the socket, which connecting needs (only root could connect): e.g. 660 (its owner and group) or 666 (every user)`);
    for (const [v, shown] of [["0", "000"], ["000", "000"], ["444", "444"], ["555", "555"], ["0o100", "100"], [0, "000"]] as const) expect(() => mode(v), String(v)).toThrow(noWrite(shown));
    for (const v of ["rwx", "u=rw", "rw-rw----", "999", "8", "o660", "66O", "", " 660", "0x1b0", -1, 0.5, 0o7777]) {
      expect(() => mode(v), String(v)).toThrow(/^--uds-mode must be octal permission bits from 000 to 777 \(e\.g\. 660\), got /);
    }
    // 660 written as a decimal number in code is 0o1224: said, with the two ways to write it.
    expect(() => mode(660)).toThrow(new UsageError(`--uds-mode must be octal permission bits from 000 to 777, got the number 660, which is 0o1224: write it in octal, 0o660, or as text, "660"`));
    // The real command: exit 2, one line, and no socket made.
    const dir = mkdtempSync(join(tmpdir(), "tsgi-uds-mode-"));
    try {
      writeFileSync(join(dir, "app.ts"), `export default (e: any, s: any) => { s("200 OK", []); return []; };\n`);
      for (const [v, line] of [["7777", fourth("7777").message], ["0", noWrite("000").message]] as const) {
        const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", "./app.ts", "--uds", join(dir, "s.sock"), "--uds-mode", v], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
        expect([v, r.exitCode, r.stderr.toString()]).toEqual([v, 2, `[error] ${line}\n`]);
        expect(Bun.file(join(dir, "s.sock")).size).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--workers takes at most 32 per CPU core; more is a usage error saying the bound and where to start (before: --workers 100000 forked until the machine gave out)", () => {
    const cores = availableParallelism();
    const max = MAX_WORKERS_PER_CORE * cores;
    expect(MAX_WORKERS_PER_CORE).toBe(32);
    expect(resolveDeployOptions({ workers: max }, {}).workers!.workers).toBe(max);
    const over = (n: number) =>
      new UsageError(
        `--workers ${n} is more than 32 per CPU core (${cores} here: at most ${max}): each worker is a process with its own event loop, serving many connections at once, so past a few per core more add memory, not throughput; start from ${cores} (one per core) to ${2 * cores + 1} (gunicorn's 2 × cores + 1), e.g. --workers ${cores}`,
      );
    for (const n of [max + 1, 1000, 100000]) expect(() => resolveDeployOptions({ workers: n }, {}), String(n)).toThrow(over(n));
  });

  test("tsgi serve --workers 100000 exits 2 at once with that line, binding and forking nothing (a busy --port: it would have been exit 1 had it got that far)", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const dir = mkdtempSync(join(tmpdir(), "tsgi-workers-cap-"));
    try {
      writeFileSync(join(dir, "app.ts"), `export default (e: any, s: any) => { s("200 OK", []); return []; };\n`);
      const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "../src/cli/serve.ts"), "serve", "./app.ts", "--workers", "100000", "--port", String(holder.port)], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      expect([r.exitCode, r.stdout.toString()]).toEqual([2, ""]);
      expect(r.stderr.toString()).toMatch(/^\[error\] --workers 100000 is more than 32 per CPU core \(\d+ here: at most \d+\): .*e\.g\. --workers \d+\n$/);
    } finally {
      holder.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("errors name the flag", () => {
    const bad: Array<[Parameters<typeof resolveDeployOptions>[0], RegExp]> = [
      [{ uds: "/a", fd: 3 }, /--uds and --fd are exclusive/],
      [{ port: 70000 }, /^--port must be a TCP port from 0 to 65535 \(e\.g\. --port 8000\), got 70000$/],
      [{ udsMode: "660" }, /--uds-mode needs --uds/],
      [{ uds: "/a", udsMode: "999" }, /octal/],
      [{ peercreds: true }, /needs a Unix socket/],
      [{ keyfile: "k" }, /^--keyfile needs --certfile: the certificate chain/],
      [{ certfile: "c" }, /^--certfile needs --keyfile: the certificate's private key/],
      [{ certfile: "c", keyfile: "" }, /^--certfile needs --keyfile \(given empty\)/],
      // With --https given, not the advice to give --https.
      [{ certfile: "c", https: true }, /^--certfile needs --keyfile: the certificate's private key, PEM$/],
      [{ caCerts: "ca" }, /needs --certfile/],
      [{ forwardedAllowIps: "1.2.3.4" }, /need --proxy-headers/],
      [{ proxyHeaders: true, forwardedAllowIps: "1.2.3.4/99" }, /at most \/32/],
      [{ rootPath: "api" }, /--root-path must be a path/],
      [{ workers: 0 }, /^--workers must be an integer of at least 1 \(e\.g\. --workers 4\), got 0$/],
      [{ workers: 2.5 }, /^--workers must be an integer of at least 1 \(e\.g\. --workers 4\), got 2\.5$/],
      [{ workers: 2, uds: "/a", reusePort: true }, /--reuse-port is for TCP/],
      // The flags given are named, not all three (before: "--max-requests, --max-requests-jitter and --reuse-port need --workers" for each).
      [{ maxRequests: 3 }, /^--max-requests needs --workers, which runs worker processes under a supervisor \(e\.g\. --workers 4\)$/],
      [{ reusePort: true }, /^--reuse-port needs --workers, which runs worker processes under a supervisor \(e\.g\. --workers 4\)$/],
      [{ maxRequests: 3, maxRequestsJitter: 2 }, /^--max-requests and --max-requests-jitter need --workers, /],
      [{ maxRequests: 3, maxRequestsJitter: 2, reusePort: true }, /^--max-requests, --max-requests-jitter and --reuse-port need --workers, /],
      [{ gracefulTimeout: -1 }, /^--graceful-timeout must be a number of seconds from 0 to 2147483 \(e\.g\. --graceful-timeout 30\), got -1$/],
      [{ timeout: 10 }, /--timeout is the worker heartbeat timeout and needs --workers; to bound each request use --request-timeout/],
      [{ backlog: -1 }, /^--backlog must be a number of connections from 0 to 2147483647 \(e\.g\. --backlog 2048\), got -1$/],
      [{ backlog: 1.5 }, /^--backlog must be a number of connections from 0 to 2147483647 \(e\.g\. --backlog 2048\), got 1\.5$/],
      [{ backlog: 2 ** 31 }, /^--backlog must be a number of connections from 0 to 2147483647 \(e\.g\. --backlog 2048\), got 2147483648$/],
      [{ maxConnections: 0 }, /^--max-connections must be an integer of at least 1 \(e\.g\. --max-connections 10000\), got 0$/],
      [{ maxConnections: 1.5 }, /^--max-connections must be an integer of at least 1 \(e\.g\. --max-connections 10000\), got 1\.5$/],
      [{ urlLengthLimit: 0 }, /^--url-length-limit must be a whole number of bytes, at least 1 \(e\.g\. --url-length-limit 8192\), got 0$/],
      [{ maxHeaderCount: 1.5 }, /^--max-header-count must be an integer of at least 1 \(e\.g\. --max-header-count 100\), got 1\.5$/],
      [{ maxRequestBodySize: -1 }, /^--max-request-body-size must be a whole number of bytes, 0 or more \(e\.g\. --max-request-body-size 10485760\), got -1$/],
      [{ keepAlive: -1 }, /^--keep-alive must be a number of seconds from 0 to 2147483 \(e\.g\. --keep-alive 5\), got -1$/],
      [{ host: "0.0.0.0:8000" }, /^--host takes an address without a port: write --host 0\.0\.0\.0 --port 8000/],
      [{ host: "[::]:8000" }, /^--host takes an address without a port: write --host :: --port 8000/],
      [{ host: "[localhost]" }, /^--host: brackets are for an IPv6 address/],
      [{ host: "https://example.com/" }, /^--host takes an address, not a URL: write --host example\.com/],
      [{ logFormat: "%(client)s" }, /--log-format: unknown field %\(client\); known: client_ip/],
    ];
    for (const [opts, message] of bad) {
      let error: unknown;
      try {
        resolveDeployOptions(opts, {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(message);
    }
  });

  test("server limits and timeouts: seconds to ms, --keep-alive 0 turns keep-alive off", () => {
    const r = resolveDeployOptions(
      { keepAlive: 75, maxConnections: 500, headerTimeout: 10, socketTimeout: 20.5, requestTimeout: 60, urlLengthLimit: 2048, maxHeaderBytes: 16384, maxHeaderCount: 50, maxRequestBodySize: 1_000_000, logFormat: "%(client_ip)s %(status_code)s" },
      {},
    );
    expect(r.server).toMatchObject({ keepAliveTimeout: 75_000, maxConnections: 500, headerTimeout: 10_000, socketTimeout: 20_500, requestTimeout: 60_000, urlLengthLimit: 2048, maxHeaderBytes: 16384, maxHeaderCount: 50, maxRequestBodySize: 1_000_000, logFormat: "%(client_ip)s %(status_code)s" });
    expect(r.server.keepalive).toBeUndefined();
    expect(resolveDeployOptions({ keepAlive: 0 }, {}).server).toMatchObject({ keepalive: false });
    // Unset flags leave the server's own defaults in place.
    expect(Object.keys(resolveDeployOptions({}, {}).server).sort()).toEqual(["hostname", "port", "shutdownTimeout"]);
  });

  test("deployOptionsFromArgs maps citty's parsed flags", () => {
    const o = deployOptionsFromArgs({ port: "8080", workers: "4", "proxy-headers": true, "root-path": "/x", peercreds: true }, ["--peercreds=resolve"]);
    expect(o).toMatchObject({ port: 8080, workers: 4, proxyHeaders: true, rootPath: "/x", peercreds: "resolve", uds: undefined });
    expect(() => deployOptionsFromArgs({ workers: "four" })).toThrow(/^--workers must be an integer of at least 1 \(e\.g\. --workers 4\), got "four"$/);
    const limits = deployOptionsFromArgs({ "keep-alive": "75", "request-timeout": "0.5", "max-connections": "9", "log-format": "%(request_line)s" });
    expect(limits).toMatchObject({ keepAlive: 75, requestTimeout: 0.5, maxConnections: 9, logFormat: "%(request_line)s" });
    // --backlog reaches the server option (with --uds and --fd too: it is set on whatever socket is served).
    expect(resolveDeployOptions(deployOptionsFromArgs({ backlog: "2048" }), {}).server.backlog).toBe(2048);
    expect(resolveDeployOptions({ uds: "/run/app.sock", backlog: 0 }, {}).server.backlog).toBe(0);
    expect(resolveDeployOptions({}, {}).server.backlog).toBeUndefined();
    expect(() => deployOptionsFromArgs({ "keep-alive": "5s" })).toThrow(/^--keep-alive must be a number of seconds from 0 to 2147483 \(e\.g\. --keep-alive 5\), got "5s"$/);
  });

  test("a switch given both ways: the last one wins, as a flag given twice does (one added after a script's flags turns it back on); before, citty's parse let any --no- form win wherever it stood", async () => {
    const parsed = (...argv: string[]) => deployOptionsFromArgs(parseArgs(argv, SERVE_ARGS as never) as Record<string, unknown>, argv);
    for (const [flag, key] of [["https", "https"], ["reuse-port", "reusePort"], ["proxy-headers", "proxyHeaders"]] as const) {
      expect([flag, parsed("./app.ts", `--no-${flag}`, `--${flag}`)[key]]).toEqual([flag, true]);
      expect([flag, parsed("./app.ts", `--${flag}`, `--no-${flag}`)[key]]).toEqual([flag, false]);
      expect([flag, parsed("./app.ts", `--${flag}`)[key], parsed("./app.ts")[key]]).toEqual([flag, true, false]);
      // After "--" nothing is a flag.
      expect([flag, parsed("./app.ts", `--${flag}`, "--", `--no-${flag}`)[key]]).toEqual([flag, true]);
    }
    // The access log, end to end: --no-access-log, then --access-log, logs the request.
    const dir = mkdtempSync(join(tmpdir(), "tsgi-switch-"));
    try {
      writeFileSync(join(dir, "app.ts"), `export default (environ: any, startResponse: any) => { startResponse("200 OK", []); return []; };\n`);
      for (const [flags, logged] of [[["--no-access-log", "--access-log"], true], [["--access-log", "--no-access-log"], false]] as const) {
        const port = freePort();
        const cli = startCli(["src/cli/serve.ts", "serve", join(dir, "app.ts"), "--port", String(port), ...flags], {});
        try {
          await cli.until((out) => out.includes(`:${port}`));
          expect((await fetch(`http://127.0.0.1:${port}/switched`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
          await cli.until((out) => out.includes("/switched"), logged ? 5000 : 500);
          expect([flags, cli.out.includes('"GET /switched HTTP/1.1" 200')]).toEqual([flags, logged]);
        } finally {
          await cli.stop();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("number flags", () => {
  test("every number flag of tsgi serve refuses text, a negative and a fraction (where whole) with one message: the flag, what it takes, an example and the value given (before: --workers four said only \"must be a number\")", () => {
    const defs = DEPLOY_ARGS as never;
    // Every number flag of the CLI has its entry (a string flag parsed with Number in deployOptionsFromArgs).
    const flags = Object.keys(NUMBER_FLAGS) as NumberFlag[];
    expect(flags.length).toBe(17);
    for (const flag of flags) {
      const { example, min, integer } = NUMBER_FLAGS[flag];
      expect(Object.keys(DEPLOY_ARGS)).toContain(flag);
      const values = ["four", "5s", String(min - 1), ...(integer ? ["2.5"] : [])];
      for (const value of values) {
        let message = "";
        try {
          // As the CLI does: parse, map, resolve (with --workers, which the worker flags need).
          const args = ["./app.ts", `--${flag}`, value, ...(flag === "workers" ? [] : ["--workers", "2"])];
          resolveDeployOptions(deployOptionsFromArgs(parseArgs(args, defs) as never), {});
        } catch (error) {
          expect(error).toBeInstanceOf(UsageError);
          message = (error as Error).message;
        }
        const shown = /^-?\d+(\.\d+)?$/.test(value) ? value : JSON.stringify(value);
        expect(message).toStartWith(`--${flag} must be `);
        expect(message).toEndWith(` (e.g. --${flag} ${example}), got ${shown}`);
      }
      // The example itself is taken.
      const args = ["./app.ts", `--${flag}`, example, ...(flag === "workers" ? [] : ["--workers", "2"])];
      expect(() => resolveDeployOptions(deployOptionsFromArgs(parseArgs(args, defs) as never), {})).not.toThrow();
    }
  });

  test("resolveDeployOptions takes every number option as a number or as the CLI takes its text, one rule: \"8000\" for port as \"4\" for workers; other text (\"0x1F90\", \"1e3\", \" 4\") is refused with the flag's message (before: port \"8000\" was refused while workers \"4\" and \"0x4\" were taken)", () => {
    const r = resolveDeployOptions({ port: "8000", workers: "4", timeout: "2.5", keepAlive: "75", maxRequests: "10" } as never, {});
    expect([r.server.port, r.workers?.workers, r.workers?.timeout, r.server.keepAliveTimeout, r.workers?.maxRequests]).toEqual([8000, 4, 2500, 75_000, 10]);
    expect(resolveDeployOptions({ port: 8001, workers: 2 }, {}).server.port).toBe(8001);
    // Every number option: its example as text is taken as its number, text the CLI refuses is refused alike.
    const camel = (flag: string) => flag.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    for (const flag of Object.keys(NUMBER_FLAGS) as NumberFlag[]) {
      const { example } = NUMBER_FLAGS[flag];
      const place = flag === "fd" ? {} : { workers: 2 };
      const given = (value: unknown) => () => resolveDeployOptions({ ...place, [camel(flag)]: value } as never, {});
      expect(given(example), flag).not.toThrow();
      for (const value of ["0x1F", "1e3", ` ${example}`, `${example}s`, "", true]) {
        expect(given(value), `${flag} ${JSON.stringify(value)}`).toThrow(new UsageError(`--${flag} must be ${NUMBER_FLAGS[flag].takes} (e.g. --${flag} ${example}), got ${JSON.stringify(value)}`));
      }
    }
    // A decimal text out of range is shown as the CLI shows it: unquoted.
    expect(() => resolveDeployOptions({ port: "99999" } as never, {})).toThrow(/^--port must be a TCP port from 0 to 65535 \(e\.g\. --port 8000\), got 99999$/);
    expect(() => resolveDeployOptions({ workers: "0" } as never, {})).toThrow(/^--workers must be an integer of at least 1 \(e\.g\. --workers 4\), got 0$/);
  });

  test("a whole-number flag written with a fraction (--workers 4.0, --max-request-body-size 1024.0) is refused as --port 8000.0 is, through the real tsgi serve and resolveDeployOptions (before: taken as 4)", () => {
    const root = join(import.meta.dir, "..");
    const r = Bun.spawnSync([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--port", "0", "--workers", "2.0"], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, PORT: "", NO_COLOR: "1" } });
    const line = (r.stdout.toString() + r.stderr.toString()).split("\n").find((l) => l.startsWith("[error]"));
    expect([r.exitCode, line]).toEqual([2, "[error] --workers must be an integer of at least 1 (e.g. --workers 4), got 2.0"]);
    const camel = (flag: string) => flag.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    for (const flag of (Object.keys(NUMBER_FLAGS) as NumberFlag[]).filter((f) => NUMBER_FLAGS[f].integer)) {
      const place = flag === "fd" ? {} : { workers: 2 };
      const text = `${NUMBER_FLAGS[flag].example}.0`;
      expect(() => resolveDeployOptions({ ...place, [camel(flag)]: text } as never, {}), flag).toThrow(new UsageError(`--${flag} must be ${NUMBER_FLAGS[flag].takes} (e.g. --${flag} ${NUMBER_FLAGS[flag].example}), got ${text}`));
      // The number 4.0 is 4 (JSON has one number): only the text is refused.
      expect(() => resolveDeployOptions({ ...place, [camel(flag)]: Number(text) } as never, {}), flag).not.toThrow();
    }
    // A duration keeps its fraction.
    expect(resolveDeployOptions({ keepAlive: "2.0" } as never, {}).server.keepAliveTimeout).toBe(2000);
  });

  test("-0 (and -0.0) is refused by every number flag, as --port -0 is: one rule, no sign (before: --max-requests -0, --keep-alive -0, --fd -0 were taken as 0)", () => {
    const defs = DEPLOY_ARGS as never;
    const camel = (flag: string) => flag.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    for (const flag of Object.keys(NUMBER_FLAGS) as NumberFlag[]) {
      const { takes, example, integer } = NUMBER_FLAGS[flag];
      const place = flag === "fd" ? [] : ["--workers", "2"];
      for (const value of ["-0", ...(integer ? [] : ["-0.0"])]) {
        const args = ["./app.ts", `--${flag}`, value, ...(flag === "workers" ? [] : place)];
        const expected = new UsageError(`--${flag} must be ${takes} (e.g. --${flag} ${example}), got ${value}`);
        expect(() => resolveDeployOptions(deployOptionsFromArgs(parseArgs(args, defs) as never), {}), `${flag} ${value}`).toThrow(expected);
        expect(() => resolveDeployOptions({ ...(flag === "fd" || flag === "workers" ? {} : { workers: 2 }), [camel(flag)]: value } as never, {}), `${flag} ${value}`).toThrow(expected);
      }
    }
    // The real command line, exit 2 with the one line.
    const r = Bun.spawnSync([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--port", "0", "--keep-alive=-0"], { cwd: join(import.meta.dir, ".."), stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, PORT: "", NO_COLOR: "1" } });
    expect([r.exitCode, (r.stdout.toString() + r.stderr.toString()).trim()]).toEqual([2, "[error] --keep-alive must be a number of seconds from 0 to 2147483 (e.g. --keep-alive 5), got -0"]);
  }, 30_000);

  test("--fd past the open-file limit (ulimit -n), or past what a descriptor can be, is a usage error naming the range (exit 2), with and without --workers; an fd in range that is not open stays the server's error (exit 1) (before: --fd 99999 exited 1 with EBADF, --fd 2147483648 with ERR_OUT_OF_RANGE)", () => {
    const root = join(import.meta.dir, "..");
    const limit = openFileLimit();
    const range = limit !== undefined && limit <= 2147483647 ? `from 0 to ${limit - 1} (below the open-file limit, ${limit}; Bun raises ulimit -n to the hard limit, ulimit -Hn; e.g. --fd 3)` : "from 0 to 2147483647 (e.g. --fd 3)";
    const serve = (args: string[]) => {
      const r = Bun.spawnSync([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", ...args], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      return [r.exitCode, (r.stdout.toString() + r.stderr.toString()).trim()];
    };
    const out = [...(limit !== undefined && limit <= 2147483647 ? [String(limit), "99999999"] : []), "2147483648", "99999999999999999999"];
    for (const fd of out) {
      expect(serve(["--fd", fd])).toEqual([2, `[error] --fd must be a file descriptor number ${range}, got ${fd}`]);
      expect(serve([`--fd=${fd}`, "--workers", "2"])).toEqual([2, `[error] --fd must be a file descriptor number ${range}, got ${fd}`]);
      expect(() => resolveDeployOptions({ fd: Number(fd) }, {})).toThrow(new UsageError(`--fd must be a file descriptor number ${range}, got ${Number(fd)}`));
    }
    // In range and not open: the parent did not pass it, said by the server as before.
    const closed = String(Math.min(limit ?? 1000, 1000) - 1);
    const [code, line] = serve(["--fd", closed]);
    expect([code, line]).toEqual([1, `[error] cannot serve file descriptor ${closed}: it is not open in this process (EBADF); pass a listening socket the parent left open, e.g. systemd socket activation's 3`]);
    // In range and open: taken, as before (whether it is a listening socket is the server's to say).
    expect(resolveDeployOptions({ fd: 1 }, {}).server.fd).toBe(1);
    // A soft limit under the hard one (systemd's default, 1024 and 524288): Bun raises it, so the limit named is
    // the hard one, and said to be (before: 'ulimit -n 20000' where the shell's ulimit -n said 1024).
    const hard = Number(Bun.spawnSync(["sh", "-c", "ulimit -Hn"]).stdout.toString().trim());
    if (!(hard > 1024 && hard === limit)) console.warn(`skipped: the soft-limit case needs a hard open-file limit over 1024 that this process runs at (ulimit -Hn ${hard}, limit ${limit})`);
    else {
      const r = Bun.spawnSync(["sh", "-c", 'ulimit -Sn 1024 && exec "$@"', "sh", process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--fd", "99999999"], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      expect([r.exitCode, r.stderr.toString()]).toEqual([2, `[error] --fd must be a file descriptor number ${range}, got 99999999\n`]);
      expect(r.stderr.toString()).not.toContain(`ulimit -n ${hard}`);
    }
  }, 60_000);

  test("a bigint or a symbol for a number option (a config reader's 4n) is a UsageError naming the option and showing the value, not JSON.stringify's TypeError (before: 'JSON.stringify cannot serialize BigInt.')", () => {
    const camel = (flag: string) => flag.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    for (const flag of Object.keys(NUMBER_FLAGS) as NumberFlag[]) {
      const place = flag === "fd" ? {} : { workers: 2 };
      for (const [value, shown] of [[4n, "4n"], [Symbol("x"), "Symbol(x)"]] as const) {
        const given = () => resolveDeployOptions({ ...place, [camel(flag)]: value } as never, {});
        expect(given, `${flag} ${shown}`).toThrow(new UsageError(`--${flag} must be ${NUMBER_FLAGS[flag].takes} (e.g. --${flag} ${NUMBER_FLAGS[flag].example}), got ${shown}`));
      }
    }
    expect(() => resolveDeployOptions({ uds: "/tmp/x.sock", udsMode: 660n } as never, {})).toThrow(new UsageError("--uds-mode must be octal permission bits from 000 to 777 (e.g. 660), got 660n"));
    expect(resolveDeployOptions({ uds: "/tmp/x.sock", udsMode: "660" }, {}).server.unixMode).toBe(0o660);
  });

  test("a duration flag past what a timer holds (2147483 s, 2^31 - 1 ms) is refused with that message, not served with a timer that fires at once", () => {
    const defs = DEPLOY_ARGS as never;
    const durations = (Object.keys(NUMBER_FLAGS) as NumberFlag[]).filter((f) => !NUMBER_FLAGS[f].integer);
    expect(durations.sort()).toEqual(["graceful-timeout", "header-timeout", "keep-alive", "request-timeout", "socket-timeout", "timeout"]);
    const resolve = (flag: string, value: string) => resolveDeployOptions(deployOptionsFromArgs(parseArgs(["./app.ts", `--${flag}`, value, "--workers", "2"], defs) as never), {});
    for (const flag of durations) {
      // Before: 3000000 was taken, and Bun's setTimeout fired at once (TimeoutOverflowWarning): --graceful-timeout 3000000 answered the in-flight request 503 at SIGTERM.
      expect(() => resolve(flag, "3000000"), flag).toThrow(`--${flag} must be a number of seconds from 0 to 2147483 (e.g. --${flag} ${NUMBER_FLAGS[flag].example}), got 3000000`);
      expect(() => resolve(flag, "2147483.7"), flag).toThrow(/must be a number of seconds from 0 to 2147483/);
      expect(() => resolve(flag, "2147483"), flag).not.toThrow();
    }
    // A config object too (resolveDeployOptions without the CLI).
    expect(() => resolveDeployOptions({ gracefulTimeout: 1e12 }, {})).toThrow(/^--graceful-timeout must be a number of seconds from 0 to 2147483 /);
  });

  test("a positive duration under half a millisecond is 1 ms, never the 0 that turns it off (before: tsgi serve --keep-alive 0.0004 turned keep-alive off, --header-timeout 0.0001 the head's timeout)", async () => {
    // One rule for every duration flag and the library's keepalive seconds: to the nearest ms, a positive value at least 1.
    const r = resolveDeployOptions({ keepAlive: 0.0004, headerTimeout: 0.0001, socketTimeout: 0.0004, requestTimeout: 0.0001, gracefulTimeout: 0.0001, timeout: 0.0004, workers: 1 }, {});
    expect(r.server).toMatchObject({ keepAliveTimeout: 1, headerTimeout: 1, socketTimeout: 1, requestTimeout: 1, shutdownTimeout: 1 });
    expect(r.server.keepalive).toBeUndefined();
    expect([r.gracefulTimeout, r.workers!.timeout]).toEqual([1, 1]);
    expect(resolveDeployOptions({ keepAlive: 0, headerTimeout: 0 }, {}).server).toMatchObject({ keepalive: false, headerTimeout: 0 });
    expect(resolveDeployOptions({ keepAlive: 1.1, requestTimeout: 0.0015 }, {}).server).toMatchObject({ keepAliveTimeout: 1100, requestTimeout: 2 });
    // The library's keepalive: 1.1 s is 1100 ms (not the 1101 that rounding 1.1 * 1000 up gave), 0.0004 s is 1 ms.
    expect([resolveOptions({ keepalive: 1.1 }).keepAliveTimeout, resolveOptions({ keepalive: 0.0004 }).keepAliveTimeout]).toEqual([1100, 1]);
    // Through the real tsgi serve: keep-alive stays on (no Connection: close), and a head that stalls gets 408.
    const root = join(import.meta.dir, "..");
    for (const [flag, value] of [["--keep-alive", "0.0004"], ["--header-timeout", "0.0001"]] as const) {
      const proc = Bun.spawn([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--port", "0", flag, value], {
        cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, PORT: "", NO_COLOR: "1" },
      });
      try {
        const out = collect(proc.stdout);
        const err = collect(proc.stderr);
        const deadline = Date.now() + 20_000;
        // The port it bound (--port 0), from its "serving ... on URL" line.
        while (servingPort(out.text() + err.text()) === undefined && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
        expect([flag, out.text() + err.text()]).toEqual([flag, expect.stringMatching(/serving .* on http:\/\/127\.0\.0\.1:\d+\//)]);
        const port = servingPort(out.text() + err.text())!;
        if (flag === "--keep-alive") {
          const res = await raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", { timeoutMs: 3000, until: (d) => d.includes("\r\n\r\n") });
          const head = res.data.toString("latin1").split("\r\n\r\n")[0]!;
          expect([flag, head.split("\r\n")[0], /^connection: close$/im.test(head)]).toEqual([flag, "HTTP/1.1 200 OK", false]);
        } else {
          // 1 ms can run out before the client's bytes are in (a loaded machine): then the connection is closed with no
          // request to answer (no 408 for a request that never began). Either way it is closed: with 0 (off) it stays open.
          const res = await raw(port, "GET / HTTP/1.1\r\nHost: x\r\n", { timeoutMs: 3000 });
          expect([flag, res.closed]).toEqual([flag, true]);
          expect(["", "HTTP/1.1 408 Request Timeout"]).toContain(res.data.toString("latin1").split("\r\n")[0]!);
        }
      } finally {
        proc.kill("SIGTERM");
        await Promise.race([proc.exited, Bun.sleep(10_000)]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
    }
  }, 60_000);
});

describe("checkArgs: strict command lines", () => {
  const defs = { app: { type: "positional" }, ...DEPLOY_ARGS, "access-log": { type: "boolean" } } as const;
  const check = (...argv: string[]) => () => checkArgs("tsgi serve", argv, defs, DEPLOY_OPTIONAL_VALUES);

  test("accepts every documented form", () => {
    for (const argv of [
      ["./app.ts"],
      ["./app.ts", "--port", "8080", "--host=0.0.0.0"],
      ["./app.ts", "--peercreds", "--uds", "/run/a.sock"],
      ["./app.ts", "--peercreds=resolve", "--no-access-log"],
      ["./app.ts", "--workers", "4", "--reuse-port", "--root-path", "/api"],
      ["--help"],
      ["./app.ts", "--", "--anything", "extra"],
    ]) {
      expect(check(...argv)).not.toThrow();
    }
  });

  test("an unknown flag is an error, with the nearest known name", () => {
    expect(check("./app.ts", "--worker", "4")).toThrow(/^unknown option --worker; did you mean --workers\? \(see tsgi serve --help\)$/);
    expect(check("./app.ts", "--bogus")).toThrow(/^unknown option --bogus \(see tsgi serve --help\)$/);
    expect(check("./app.ts", "-p", "80")).toThrow(/unknown option -p; did you mean --port\?/);
    expect(check("./app.ts", "-p8000")).toThrow(/unknown option -p8000; did you mean --port\?/);
    expect(check("./app.ts", "--proxy-header")).toThrow(/did you mean --proxy-headers\?/);
    // citty's own flags too, as tsgi --versoin gets (before: no guess after the command, nor from tsgi-dev).
    expect(check("./app.ts", "--versoin")).toThrow(/^unknown option --versoin; did you mean --version\? \(see tsgi serve --help\)$/);
    expect(check("./app.ts", "--hlep")).toThrow(/^unknown option --hlep; did you mean --help\? \(see tsgi serve --help\)$/);
    // A letter that starts no flag gets no guess: before, -V, -q and -x each got "did you mean --fd?" (2 edits from any one letter).
    for (const flag of ["-V", "-q", "-x", "--zz"]) expect(check("./app.ts", flag), flag).toThrow(new RegExp(`^unknown option ${flag} \\(see tsgi serve --help\\)$`));
  });

  test("next dev's and bun's -H and --hostname, and (for tsgi-dev) --workers, get what to use instead", async () => {
    const { DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS } = await import("../src/cli/dev-command.ts");
    const serve = (...argv: string[]) => () => checkArgs("tsgi serve", argv, defs, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
    const dev = (...argv: string[]) => () => checkArgs("tsgi-dev", argv, DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS);
    // Before: tsgi serve's -H got "did you mean --fd?", tsgi-dev's nothing.
    expect(serve("./app.ts", "-H", "0.0.0.0")).toThrow(/^unknown option -H: use --host <host> \(see tsgi serve --help\)$/);
    expect(serve("./app.ts", "--hostname=0.0.0.0")).toThrow(/^unknown option --hostname: use --host <host> \(see tsgi serve --help\)$/);
    expect(dev("./app.ts", "-H", "0.0.0.0")).toThrow(/^unknown option -H: use --host <host> \(see tsgi-dev --help\)$/);
    expect(dev("./app.ts", "--hostname", "0.0.0.0")).toThrow(/^unknown option --hostname: use --host <host> \(see tsgi-dev --help\)$/);
    expect(dev("./app.ts", "--workers", "4")).toThrow(/^unknown option --workers: tsgi-dev runs the app in one process .*tsgi serve --workers N runs several in production \(see tsgi-dev --help\)$/);
    expect(dev("./app.ts", "-V")).toThrow(/^unknown option -V \(see tsgi-dev --help\)$/);
    // Every tsgi-dev hint's own flags are tsgi-dev's (--workers is named as tsgi serve's).
    for (const hint of Object.values(DEV_FOREIGN_FLAGS)) {
      for (const [, flag] of hint.replace(/tsgi serve --workers/g, "").matchAll(/(?<![\w-])--(?:no-)?([a-z][a-z-]*)/g)) expect(Object.keys(DEV_ARGS), hint).toContain(flag!);
    }
  });

  test("each command's own flags given to the other are named as the other's, with the command to run them in (before: a bare 'unknown option --fd', and tsgi serve --poll 'did you mean --port?')", async () => {
    const { DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS } = await import("../src/cli/dev-command.ts");
    const serve = (...argv: string[]) => () => checkArgs("tsgi serve", argv, SERVE_ARGS, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
    const dev = (...argv: string[]) => () => checkArgs("tsgi-dev", argv, DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS);
    const forms = (defs: Record<string, { type?: string }>, others: Record<string, { type?: string }>) =>
      Object.entries(defs).filter(([name, d]) => d.type !== "positional" && !(name in others)).flatMap(([name, d]) => (d.type === "boolean" ? [name, `no-${name}`] : [name]));
    // Every tsgi serve flag tsgi-dev lacks (but --workers, which has its own words), and its --no- form.
    for (const name of forms(SERVE_ARGS, DEV_ARGS).filter((n) => n !== "workers")) {
      expect(dev("./app.ts", `--${name}`), name).toThrow(new UsageError(`unknown option --${name}: a tsgi serve flag (the production server's): in production run tsgi serve ./app.ts with it; tsgi-dev serves plain HTTP on --host and --port with development settings (see tsgi-dev --help)`));
    }
    // Every tsgi-dev flag tsgi serve lacks: its own words for --reload and --log-level, the dev server's for the rest.
    for (const name of forms(DEV_ARGS, SERVE_ARGS).filter((n) => !["reload", "no-reload", "log-level"].includes(n))) {
      expect(serve("./app.ts", `--${name}`), name).toThrow(new UsageError(`unknown option --${name}: a tsgi-dev flag (the dev server's): in development run tsgi-dev ./app.ts with it; tsgi serve, the production server, watches and reloads nothing (see tsgi serve --help)`));
    }
    expect(serve("./app.ts", "--no-reload")).toThrow(/^unknown option --no-reload: tsgi serve reloads nothing by itself .*tsgi-dev \.\/app\.ts reloads on every change \(see tsgi serve --help\)$/);
    // The real commands, one line and exit 2.
    const root = join(import.meta.dir, "..");
    for (const argv of [["src/cli/dev.ts", "./app.ts", "--fd", "3"], ["src/cli/serve.ts", "serve", "./app.ts", "--poll"]]) {
      const r = Bun.spawnSync([process.execPath, ...argv], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      expect([argv, r.exitCode, r.stderr.toString().split("\n").length]).toEqual([argv, 2, 2]);
      expect(r.stderr.toString()).toContain(argv[0] === "src/cli/dev.ts" ? "a tsgi serve flag" : "a tsgi-dev flag");
    }
  }, 30_000);

  test("the --no- form of a flag that takes a value (--no-workers, --no-fd, --no-watch) says there is no such flag and what to do instead, on both commands, for every such flag (before: a bare 'unknown option --no-workers')", async () => {
    const { DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS } = await import("../src/cli/dev-command.ts");
    const serve = (...argv: string[]) => () => checkArgs("tsgi serve", argv, SERVE_ARGS, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
    const dev = (...argv: string[]) => () => checkArgs("tsgi-dev", argv, DEV_ARGS, DEV_OPTIONAL_VALUES, DEV_FOREIGN_FLAGS);
    const valued = (defs: Record<string, { type?: string }>) => Object.entries(defs).filter(([, d]) => d.type === "string" || d.type === "enum").map(([name]) => name);
    // Each command's own: "takes a value ...; there is no --no-<name>", then the way to turn it off or leave it out.
    for (const [check, defs, command] of [[serve, SERVE_ARGS, "tsgi serve"], [dev, DEV_ARGS, "tsgi-dev"]] as const) {
      for (const name of valued(defs)) {
        expect(check("./app.ts", `--no-${name}`), name).toThrow(new RegExp(`^unknown option --no-${name}: --${name} takes (a value \\(--${name} <[a-z]+>\\)|one of [a-z, ]+); there is no --no-${name}: \\S.* \\(see ${command} --help\\)$`));
        expect(check("./app.ts", `--no-${name}=1`), name).toThrow(/; there is no --no-/);
      }
    }
    // The other command's flags, in their --no- form: named as the other's, as the flag itself is.
    for (const name of valued(DEV_ARGS).filter((n) => !(n in SERVE_ARGS))) expect(serve("./app.ts", `--no-${name}`), name).toThrow(/^unknown option --no-[a-z-]+: (a tsgi-dev flag|tsgi serve writes its access log)/);
    for (const name of valued(SERVE_ARGS).filter((n) => !(n in DEV_ARGS))) expect(dev("./app.ts", `--no-${name}`), name).toThrow(/^unknown option --no-[a-z-]+: (a tsgi serve flag|tsgi-dev runs the app in one process)/);
    // Where 0 turns it off, or leaving it out means something of its own, that is said.
    expect(serve("./app.ts", "--no-workers")).toThrow(/--workers takes a value \(--workers <n>\); there is no --no-workers: leave it out to serve in one process, with no supervisor/);
    expect(serve("./app.ts", "--no-timeout")).toThrow(/: --timeout 0 never kills a silent worker/);
    expect(serve("./app.ts", "--no-keep-alive")).toThrow(/: --keep-alive 0 closes each connection after its response/);
    expect(serve("./app.ts", "--no-log-format")).toThrow(/: --no-access-log turns the access log off/);
    expect(dev("./app.ts", "--no-watch")).toThrow(/--watch takes a value \(--watch <path>\); there is no --no-watch: it adds a path to what is watched \(the app's imports\); --no-reload watches nothing/);
    // A switch's --no- form is still its negation.
    expect(serve("./app.ts", "--no-access-log", "--no-proxy-headers")).not.toThrow();
    expect(dev("./app.ts", "--no-live", "--no-debug")).not.toThrow();
    // The real commands: one line, exit 2.
    const root = join(import.meta.dir, "..");
    for (const [argv, line] of [
      [["src/cli/serve.ts", "serve", "./app.ts", "--no-fd"], "--fd takes a value (--fd <n>); there is no --no-fd: leave it out to listen on --host and --port, or --uds"],
      [["src/cli/dev.ts", "./app.ts", "--no-watch"], "--watch takes a value (--watch <path>); there is no --no-watch"],
      [["src/cli/dev.ts", "./app.ts", "--no-port"], "--port takes a value (--port <port>); there is no --no-port: leave --port out for its default"],
    ] as const) {
      const r = Bun.spawnSync([process.execPath, ...argv], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      expect([argv, r.exitCode, r.stderr.toString().split("\n").length]).toEqual([argv, 2, 2]);
      expect(r.stderr.toString()).toContain(line);
    }
  }, 30_000);

  test("the --no- form of a value flag given a value (--no-workers=3, --no-port=8000) is named as typed, on both real commands (before: the =3 was dropped from the message)", () => {
    const root = join(import.meta.dir, "..");
    for (const [argv, line] of [
      [["src/cli/serve.ts", "serve", "./app.ts", "--no-workers=3"], "[error] unknown option --no-workers=3: --workers takes a value (--workers <n>); there is no --no-workers: leave it out to serve in one process"],
      [["src/cli/serve.ts", "serve", "./app.ts", "--no-log-format=json"], "[error] unknown option --no-log-format=json: --log-format takes a value (--log-format <format>); there is no --no-log-format: --no-access-log turns the access log off"],
      [["src/cli/serve.ts", "serve", "./app.ts", "--no-poll=1"], "[error] unknown option --no-poll=1: "],
      [["src/cli/dev.ts", "./app.ts", "--no-port=8000"], "[error] unknown option --no-port=8000: --port takes a value (--port <port>); there is no --no-port"],
      [["src/cli/dev.ts", "./app.ts", "--no-workers=3"], "[error] unknown option --no-workers=3: "],
    ] as const) {
      const r = Bun.spawnSync([process.execPath, ...argv], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
      expect([argv, r.exitCode, r.stdout.toString(), r.stderr.toString().split("\n").length]).toEqual([argv, 2, "", 2]);
      expect(r.stderr.toString()).toStartWith(line);
    }
  }, 30_000);

  test("uvicorn's --env-file: tsgi serve says how Bun reads .env files and runs it with another; tsgi-dev that it reads them itself (before: a bare 'unknown option')", () => {
    const root = join(import.meta.dir, "..");
    const run = (...argv: string[]) => Bun.spawnSync([process.execPath, ...argv], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
    for (const argv of [["src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--env-file", "prod.env"], ["src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--env-file=prod.env"]]) {
      const r = run(...argv);
      expect([argv, r.exitCode, r.stdout.toString()]).toEqual([argv, 2, ""]);
      expect(r.stderr.toString()).toBe(
        "[error] unknown option --env-file: Bun reads .env, .env.$NODE_ENV and .env.local in the working directory by itself; for another file, run tsgi under bun --env-file: bun --env-file=prod.env node_modules/.bin/tsgi serve ./app.ts (under systemd, EnvironmentFile=) (see tsgi serve --help)\n",
      );
    }
    const dev = run("src/cli/dev.ts", "fixtures/hello/app.ts", "--env-file", ".env.dev");
    expect([dev.exitCode, dev.stdout.toString()]).toEqual([2, ""]);
    expect(dev.stderr.toString()).toBe(
      "[error] unknown option --env-file: tsgi-dev reads the working directory's .env files as Bun does (.env, .env.local, .env.development, ...) at start and again on each reload: put the variables in one of them (see tsgi-dev --help)\n",
    );
  });

  test("bun --env-file before tsgi serve, as its --env-file hint says, gives the app (and each worker) the file's variables", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-envfile-"));
    try {
      writeFileSync(join(dir, "prod.env"), "TSGI_ENV_FILE_TEST=from-prod-env\n");
      writeFileSync(join(dir, "app.ts"), "export default { fetch: () => new Response(String(process.env.TSGI_ENV_FILE_TEST)) };\n");
      const p = Bun.spawn([process.execPath, "--env-file=prod.env", join(import.meta.dir, "../src/cli/serve.ts"), "serve", "./app.ts", "--port", "0", "--workers", "2", "--no-access-log"], { cwd: dir, stdout: "ignore", stderr: "pipe" });
      const err = collect(p.stderr);
      try {
        // The port it bound (--port 0), from its "serving ... on URL" line.
        for (let i = 0; i < 300 && servingPort(err.text()) === undefined && p.exitCode === null; i++) await Bun.sleep(50);
        const port = servingPort(err.text());
        expect(port, err.text()).toBeNumber();
        let body = "";
        for (let i = 0; i < 100 && body === ""; i++) {
          body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => "");
          if (body === "") await Bun.sleep(100);
        }
        expect(body).toBe("from-prod-env");
      } finally {
        p.kill("SIGTERM");
        await p.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("gunicorn's and uvicorn's flags get what to use instead, not a misleading nearest name", () => {
    const checkForeign = (...argv: string[]) => () => checkArgs("tsgi serve", argv, defs, DEPLOY_OPTIONAL_VALUES, SERVE_FOREIGN_FLAGS);
    // Before: "-b" and "--pid" got "did you mean --fd?", "--access-logfile" "did you mean --access-log?" (an on/off switch).
    expect(checkForeign("./app.ts", "-b", "0.0.0.0:8000")).toThrow(/^unknown option -b: tsgi serve listens on --host and --port .* \(see tsgi serve --help\)$/);
    expect(checkForeign("./app.ts", "--bind=0.0.0.0:8000")).toThrow(/^unknown option --bind: tsgi serve listens on --host and --port/);
    expect(checkForeign("./app.ts", "--pid", "/run/x.pid")).toThrow(/^unknown option --pid: .*writes no pid file/);
    expect(checkForeign("./app.ts", "--access-logfile", "-")).toThrow(/^unknown option --access-logfile: tsgi serve writes its access log to stdout/);
    expect(checkForeign("./app.ts", "-w", "4")).toThrow(/^unknown option -w: use --workers <n>/);
    // A single-dash flag with its value attached is looked up by its first letter.
    // Before: "-w4" got "did you mean --fd?" and "-b0.0.0.0:8000" no hint at all.
    expect(checkForeign("./app.ts", "-w4")).toThrow(/^unknown option -w4: use --workers <n> \(see tsgi serve --help\)$/);
    expect(checkForeign("./app.ts", "-b0.0.0.0:8000")).toThrow(/^unknown option -b0\.0\.0\.0:8000: tsgi serve listens on --host and --port/);
    expect(checkForeign("./app.ts", "-b=0.0.0.0:8000")).toThrow(/^unknown option -b: tsgi serve listens on --host and --port/);
    expect(checkForeign("./app.ts", "-Dw4")).toThrow(/^unknown option -Dw4: .*writes no pid file/);
    // gunicorn's worker class, config file and threads. Before: "-k" got "did you mean --keyfile?", "-c" "did you mean --certfile?".
    for (const argv of [["-k", "uvicorn.workers.UvicornWorker"], ["-kgevent"], ["--worker-class", "gevent"], ["--worker-class=gevent"]]) {
      expect(checkForeign("./app.ts", ...argv), argv.join(" ")).toThrow(/^unknown option -(k|kgevent|-worker-class): tsgi serve runs one kind of worker: --workers N processes, each an event loop \(see tsgi serve --help\)$/);
    }
    for (const argv of [["-c", "gunicorn.conf.py"], ["-cgunicorn.conf.py"], ["--config", "gunicorn.conf.py"]]) {
      expect(checkForeign("./app.ts", ...argv), argv.join(" ")).toThrow(/^unknown option -(c|cgunicorn\.conf\.py|-config): tsgi serve takes its settings as flags or from a systemd unit; there is no config file \(see tsgi serve --help\)$/);
    }
    expect(checkForeign("./app.ts", "--threads", "4")).toThrow(/^unknown option --threads: each worker is one event loop; use --workers N for more processes/);
    // A single dash before one of its own flags' names still gets that flag, not its first letter's hint; a letter without a hint gets the nearest name.
    expect(checkForeign("./app.ts", "-certfile", "c.pem")).toThrow(/^unknown option -certfile; did you mean --certfile\?/);
    expect(checkForeign("./app.ts", "-workers", "4")).toThrow(/^unknown option -workers; did you mean --workers\?/);
    expect(checkForeign("./app.ts", "-p", "80")).toThrow(/^unknown option -p; did you mean --port\?/);
    // Every hint names only flags tsgi serve has.
    for (const hint of Object.values(SERVE_FOREIGN_FLAGS)) {
      // (Bun's own --env-file, before tsgi, is named as Bun's.)
      for (const [, flag] of hint.replace(/bun --env-file\S*/g, "").matchAll(/(?<![\w-])--(?:no-)?([a-z][a-z-]*)/g)) expect(Object.keys(defs), hint).toContain(flag!);
    }
    // Its own flags are untouched.
    expect(checkForeign("./app.ts", "--workers", "2", "--host", "0.0.0.0")).not.toThrow();
  });

  test("--help (or -h, --version) anywhere wins over what is wrong with the other arguments: tsgi serve and tsgi-dev print it and exit 0", () => {
    const root = join(import.meta.dir, "..");
    const run = (...argv: string[]) => Bun.spawnSync([process.execPath, ...argv], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    for (const argv of [
      ["src/cli/serve.ts", "serve", "--help", "--port"],
      ["src/cli/serve.ts", "serve", "--uds", "--help"],
      ["src/cli/serve.ts", "serve", "./app.ts", "--bogus", "-h"],
      ["src/cli/dev.ts", "--port", "--help"],
      ["src/cli/dev.ts", "--workers", "4", "-h"],
    ]) {
      const r = run(...argv);
      expect(r.exitCode, argv.join(" ")).toBe(0);
      expect(r.stdout.toString(), argv.join(" ")).toContain("--port");
      expect(r.stderr.toString(), argv.join(" ")).not.toContain("ERROR");
    }
    const v = run("src/cli/serve.ts", "serve", "--version", "--port");
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);
    // After "--", --help is the app's, not ours: the errors before it still count.
    expect(check("./app.ts", "--uds", "--", "--help")).toThrow(/^--uds needs a value/);
  });

  test("a value flag needs a value, and never takes the next flag as it", () => {
    expect(check("./app.ts", "--uds")).toThrow(/^--uds needs a value: --uds <path>$/);
    expect(check("./app.ts", "--uds", "--port", "1")).toThrow(/^--uds needs a value/);
    // A negative number is the flag's value, refused by its own check (not "needs a value").
    expect(check("./app.ts", "--port", "-1")).not.toThrow();
    expect(() => deployOptionsFromArgs(parseArgs(["./app.ts", "--port", "-1"], defs) as never)).toThrow(/^--port must be a TCP port from 0 to 65535 \(e\.g\. --port 8000\), got -1$/);
    expect(() => deployOptionsFromArgs(parseArgs(["./app.ts", "--workers", "-1"], defs) as never)).toThrow(/^--workers must be an integer of at least 1 \(e\.g\. --workers 4\), got -1$/);
    // An empty number (`--port=$PORT` with PORT unset) is refused, not taken as the default.
    expect(() => deployOptionsFromArgs(parseArgs(["./app.ts", "--port="], defs) as never)).toThrow(/^--port needs a value, got an empty one: a TCP port from 0 to 65535, e\.g\. --port 8000$/);
    expect(() => deployOptionsFromArgs({ workers: "" })).toThrow(/^--workers needs a value, got an empty one: an integer of at least 1, e\.g\. --workers 4$/);
    expect(check("./app.ts", "--keep-alive", "-5")).not.toThrow();
  });

  test("an empty file, socket or list value (an unset variable: --certfile \"$CERT\") is refused, not taken as unset; --host \"\" and --root-path \"\" stay the defaults", () => {
    const from = (...argv: string[]) => () => deployOptionsFromArgs(parseArgs(["./app.ts", ...argv], defs) as never, argv);
    expect(from("--certfile", "", "--keyfile", "")).toThrow(/^--certfile needs a value, got an empty one: the certificate chain's PEM file, e\.g\. --certfile cert\.pem$/);
    expect(from("--certfile=cert.pem", "--keyfile=")).toThrow(/^--keyfile needs a value, got an empty one/);
    expect(from("--certfile=c", "--keyfile=k", "--ca-certs", "")).toThrow(/^--ca-certs needs a value, got an empty one/);
    expect(from("--uds", "")).toThrow(/^--uds needs a value, got an empty one: the socket's path/);
    expect(from("--uds=/run/a.sock", "--uds-mode=")).toThrow(/^--uds-mode needs a value, got an empty one/);
    expect(from("--proxy-headers", "--forwarded-allow-ips", "")).toThrow(/^--forwarded-allow-ips needs a value, got an empty one/);
    expect(from("--proxy-headers", "--forwarded-header=")).toThrow(/^--forwarded-header needs a value, got an empty one: x-forwarded or forwarded$/);
    expect(from("--log-format", "")).toThrow(/^--log-format needs a value, got an empty one: .*--no-access-log turns the log off/);
    expect(from("--host", "", "--root-path", "")()).toMatchObject({ host: undefined, rootPath: undefined });
    // The command itself: exit 2 with that line, no server (it would have served plain HTTP on the port).
    const root = join(import.meta.dir, "..");
    const r = Bun.spawnSync([process.execPath, "src/cli/serve.ts", "serve", "fixtures/hello/app.ts", "--port", "0", "--certfile", "", "--keyfile", ""], {
      cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000,
    });
    expect(r.stderr.toString()).toMatch(/^\[error\] --certfile needs a value, got an empty one/);
    expect(r.stderr.toString()).not.toContain("serving");
    expect(r.exitCode).toBe(2);
  });

  test("a bad PORT from the environment is named as such, not as --port, in tsgi-dev's words; only decimal digits are a port, blank is unset", () => {
    const message = (v: string) => new RegExp(`^PORT must be a TCP port from 0 to 65535 \\(e\\.g\\. PORT=8000\\), got ${(/^-?\d+(\.\d+)?$/.test(v) ? v : JSON.stringify(v)).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
    // Number() took these: 0x1F90 was port 8080, 1e3 port 1000, 8000.0 port 8000; a blank PORT was Number(" ") = 0, a random port.
    for (const v of ["abc", "0x1F90", "1e3", "8000.0", "-1", "99999", "+80", "0b1"]) {
      expect(() => resolveDeployOptions({}, { PORT: v }), v).toThrow(message(v));
    }
    expect(resolveDeployOptions({}, { PORT: " " }).server.port).toBe(8000);
    expect(resolveDeployOptions({}, { PORT: "" }).server.port).toBe(8000);
    expect(resolveDeployOptions({}, { PORT: " 9001 " }).server.port).toBe(9001);
    expect(resolveDeployOptions({}, { PORT: "0" }).server.port).toBe(0);
    // --port wins and PORT is then not read, as tsgi-dev does: a platform's PORT that is no port does not stop --port.
    expect(resolveDeployOptions({ port: 9000 }, { PORT: "abc" }).server.port).toBe(9000);
    expect(resolveDeployOptions({ uds: "/tmp/x.sock" }, { PORT: "abc" }).server.unix).toBe("/tmp/x.sock");
    // The command: exit 2 with that line and no server; tsgi-dev says the very same line for the same PORT.
    const root = join(import.meta.dir, "..");
    for (const cli of [["src/cli/serve.ts", "serve"], ["src/cli/dev.ts"]]) {
      const r = Bun.spawnSync([process.execPath, ...cli, "fixtures/hello/app.ts"], {
        cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, PORT: "0x1F90" },
      });
      const out = r.stdout.toString() + r.stderr.toString();
      expect(out, cli[0]).toContain('[error] PORT must be a TCP port from 0 to 65535 (e.g. PORT=8000), got "0x1F90"');
      expect(out, cli[0]).not.toContain("serving");
      expect(r.exitCode, cli[0]).toBe(2);
    }
  });

  test("tsgi-dev and tsgi serve word a bad --port or PORT alike: the same line for the same value", () => {
    const root = join(import.meta.dir, "..");
    const line = (cli: string[], args: string[], env: Record<string, string> = {}) => {
      const r = Bun.spawnSync([process.execPath, ...cli, "fixtures/hello/app.ts", ...args], {
        cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, ...env },
      });
      expect(r.exitCode, `${cli[0]} ${args.join(" ")}`).toBe(2);
      return (r.stdout.toString() + r.stderr.toString()).split("\n").find((l) => l.startsWith("[error]"));
    };
    const serve = ["src/cli/serve.ts", "serve"];
    const dev = ["src/cli/dev.ts"];
    for (const args of [["--port="], ["--port", "-1"], ["--port", "70000"], ["--port", "80.5"], ["--port", "http"]]) {
      expect(line(dev, args), args.join(" ")).toBe(line(serve, args));
    }
    expect(line(dev, [], { PORT: "99999" })).toBe(line(serve, [], { PORT: "99999" }));
    expect(line(serve, ["--port", "-1"])).toBe("[error] --port must be a TCP port from 0 to 65535 (e.g. --port 8000), got -1");
  }, 60_000);

  test("one port rule for both commands, --port and PORT: leading zeros are taken (035011 is 35011), a fraction (35011.0), a sign or blanks in --port are not (before: tsgi serve --port took 35011.0 and 035011, which tsgi-dev and PORT refused)", async () => {
    const root = join(import.meta.dir, "..");
    const serve = ["src/cli/serve.ts", "serve"];
    const dev = ["src/cli/dev.ts", "--no-reload"];
    const start = (cli: string[], args: string[], env: Record<string, string> = {}) =>
      Bun.spawnSync([process.execPath, ...cli, "fixtures/hello/app.ts", ...args], { cwd: root, stdout: "pipe", stderr: "pipe", timeout: 20_000, env: { ...process.env, PORT: "", ...env } });
    const error = (r: ReturnType<typeof start>) => (r.stdout.toString() + r.stderr.toString()).split("\n").find((l) => l.startsWith("[error]"));
    for (const [args, env, line] of [
      [["--port", "35011.0"], {}, "[error] --port must be a TCP port from 0 to 65535 (e.g. --port 8000), got 35011.0"],
      [["--port", " 8000"], {}, '[error] --port must be a TCP port from 0 to 65535 (e.g. --port 8000), got " 8000"'],
      [["--port", "+8000"], {}, '[error] --port must be a TCP port from 0 to 65535 (e.g. --port 8000), got "+8000"'],
      [["--port", "065536"], {}, "[error] --port must be a TCP port from 0 to 65535 (e.g. --port 8000), got 065536"],
      [[], { PORT: "35011.0" }, "[error] PORT must be a TCP port from 0 to 65535 (e.g. PORT=8000), got 35011.0"],
    ] as Array<[string[], Record<string, string>, string]>) {
      for (const cli of [serve, dev]) {
        const r = start(cli, args, env);
        expect([cli[0], args, env, r.exitCode, error(r)]).toEqual([cli[0], args, env, 2, line]);
      }
    }
    // Leading zeros: served on the port they name, by both commands, from --port and from PORT.
    for (const cli of [serve, dev]) {
      for (const from of ["--port", "PORT"]) {
        const port = freePort();
        const text = `0${port}`;
        const cmd = startCli([...cli, "fixtures/hello/app.ts", ...(from === "--port" ? ["--port", text] : [])], { PORT: from === "PORT" ? text : "" });
        try {
          await cmd.until((out) => out.includes(`http://127.0.0.1:${port}/`));
          expect([cli[0], from, cmd.out]).toEqual([cli[0], from, expect.stringContaining(`http://127.0.0.1:${port}/`)]);
          const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
          expect([cli[0], from, r.status]).toEqual([cli[0], from, 200]);
          await r.text();
        } finally {
          await cmd.stop();
        }
      }
    }
  }, 90_000);

  test("--port wins over a PORT that is no port, in both commands: each serves on --port's port and answers", async () => {
    for (const cli of [["src/cli/serve.ts", "serve"], ["src/cli/dev.ts", "--no-reload"]]) {
      const cmd = startCli([...cli, "fixtures/hello/app.ts", "--port", "0"], { PORT: "abc" });
      try {
        // The serving line (on stdout or stderr) names the bound address; an [error] line or an exit fails.
        await cmd.until((out) => /http:\/\/127\.0\.0\.1:\d+/.test(out));
        const out = cmd.out;
        expect(out, cli[0]).not.toContain("[error]");
        const port = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
        expect(port, `${cli[0]}: ${out}`).toBeGreaterThan(0);
        const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
        expect(r.status, cli[0]).toBe(200);
        await r.text();
      } finally {
        await cmd.stop();
      }
    }
  }, 60_000);

  test("a switch takes no value, except the ones listed for it", () => {
    expect(check("./app.ts", "--https=yes")).toThrow(/^--https takes no value/);
    expect(check("./app.ts", "--no-https=1")).toThrow(/^--no-https takes no value/);
    expect(check("./app.ts", "--peercreds=resolv")).toThrow(/^--peercreds=resolv is not valid: use --peercreds or --peercreds=resolve$/);
    expect(check("./app.ts", "--peercreds", "resolve")).toThrow(/^unexpected argument "resolve": write --peercreds=resolve, with "="$/);
    // A value after a switch, as a gunicorn user gives --access-logfile one: named as such, with what the switch does.
    const serveCheck = (...argv: string[]) => () => checkArgs("tsgi serve", argv, SERVE_ARGS, DEPLOY_OPTIONAL_VALUES);
    expect(serveCheck("./app.ts", "--access-log", "/var/log/app.log")).toThrow(
      /^unexpected argument "\/var\/log\/app\.log" after --access-log, which takes no value \(print a line per request on stdout\) \(see tsgi serve --help\)$/,
    );
    expect(serveCheck("./app.ts", "--no-access-log", "/tmp/x.log")).toThrow(/^unexpected argument "\/tmp\/x\.log" after --no-access-log, which takes no value \(no access log\) \(see tsgi serve --help\)$/);
    expect(serveCheck("./app.ts", "--proxy-headers", "yes")).toThrow(/^unexpected argument "yes" after --proxy-headers, which takes no value \(trust X-Forwarded-For/);
    // The app after a switch is the app; a second one after a value flag is still "one app".
    expect(serveCheck("--proxy-headers", "./app.ts")).not.toThrow();
    expect(serveCheck("./app.ts", "--port", "80", "./b.ts")).toThrow(/^unexpected argument "\.\/b\.ts": tsgi serve takes one app/);
  });

  test("one positional argument", () => {
    expect(check("./app.ts", "./other.ts")).toThrow(/^unexpected argument "\.\/other\.ts": tsgi serve takes one app/);
    expect(check("./app.ts", "--port", "80", "8080")).toThrow(UsageError);
  });

  test("--peercreds before another flag no longer swallows it (citty's own parse)", () => {
    const argv = ["./app.ts", "--peercreds", "--uds", "/run/a.sock"];
    const parsed = parseArgs(argv, defs);
    const o = deployOptionsFromArgs(parsed as Record<string, unknown>, argv);
    expect(o).toMatchObject({ peercreds: true, uds: "/run/a.sock" });
    const resolve = ["./app.ts", "--uds", "/run/a.sock", "--peercreds=resolve"];
    expect(deployOptionsFromArgs(parseArgs(resolve, defs) as Record<string, unknown>, resolve).peercreds).toBe("resolve");
  });
});
