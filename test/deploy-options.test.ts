/** resolveDeployOptions: the flag rules both CLIs share (issue 5 §1-§4). */
import { describe, expect, test } from "bun:test";
import { OptionsError, resolveDeployOptions } from "../src/server/listen-options.ts";
import { deployOptionsFromArgs } from "../src/serve-cli.ts";

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

  test("uds, mode, peercreds, root path, tls", () => {
    const r = resolveDeployOptions({ uds: "/tmp/a.sock", udsMode: "660", peercreds: "resolve", rootPath: "/api/", https: true }, {});
    expect(r.server).toMatchObject({ unix: "/tmp/a.sock", unixMode: 0o660, peerCredentials: "resolve", scriptName: "/api" });
    expect(r.server.port).toBeUndefined();
    expect(r.tls).toBe("dev");
    expect(resolveDeployOptions({ certfile: "c", keyfile: "k", caCerts: "ca" }, {}).tls).toEqual({ certfile: "c", keyfile: "k", caCerts: "ca" });
  });

  test("errors name the flag", () => {
    const bad: Array<[Parameters<typeof resolveDeployOptions>[0], RegExp]> = [
      [{ reload: true, workers: 2 }, /--reload and --workers cannot be combined/],
      [{ uds: "/a", fd: 3 }, /--uds and --fd are exclusive/],
      [{ port: 70000 }, /--port must be 0-65535/],
      [{ udsMode: "660" }, /--uds-mode needs --uds/],
      [{ uds: "/a", udsMode: "999" }, /octal/],
      [{ peercreds: true }, /needs a Unix socket/],
      [{ keyfile: "k" }, /go together/],
      [{ caCerts: "ca" }, /needs --certfile/],
      [{ forwardedAllowIps: "1.2.3.4" }, /need --proxy-headers/],
      [{ proxyHeaders: true, forwardedAllowIps: "1.2.3.4/99" }, /at most \/32/],
      [{ rootPath: "api" }, /--root-path must be a path/],
      [{ workers: 0 }, /at least 1/],
      [{ workers: 2, uds: "/a", reusePort: true }, /--reuse-port is for TCP/],
      [{ maxRequests: 3 }, /need --workers/],
      [{ gracefulTimeout: -1 }, /--graceful-timeout must be a non-negative/],
    ];
    for (const [opts, message] of bad) {
      let error: unknown;
      try {
        resolveDeployOptions(opts, {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptionsError);
      expect((error as Error).message).toMatch(message);
    }
  });

  test("deployOptionsFromArgs maps citty's parsed flags", () => {
    const o = deployOptionsFromArgs({ port: "8080", workers: "4", "proxy-headers": true, "root-path": "/x", peercreds: "resolve", uds: "" }, ["--peercreds=resolve"]);
    expect(o).toMatchObject({ port: 8080, workers: 4, proxyHeaders: true, rootPath: "/x", peercreds: "resolve", uds: undefined });
    expect(() => deployOptionsFromArgs({ workers: "four" })).toThrow(/--workers must be a number/);
  });
});
