/**
 * Load, issue 6 §3: 1,000 concurrent keep-alive connections each doing
 * request after request; every request is answered correctly and nothing
 * errs. The test runs for LOAD_SECONDS (default 3 s, to keep the suite
 * short on 2 cores); the 10-second run is
 * `LOAD_SECONDS=10 bun test test/load-keepalive.test.ts`, or, with the
 * server in its own process, `bun bench/soak.ts --seconds 10 --connections 1000 --mix hello`.
 */
import { expect, test } from "bun:test";
import { keepAliveLoad, requestKinds } from "../bench/soak.ts";
import type { Application } from "../src/spec.ts";
import { startServer } from "./helpers.ts";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 1000);

const HELLO = new TextEncoder().encode("Hello, world!\n");
const app: Application = async (environ, startResponse) => {
  if (environ.PATH_INFO === "/echo") {
    const body = await environ["tsgi.input"].read();
    startResponse("200 OK", [["Content-Length", String(body.length)]]);
    return [body];
  }
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", String(HELLO.length)]]);
  return [HELLO];
};

test(
  `${CONNECTIONS} concurrent keep-alive connections for ${SECONDS} s: every request answered, no error`,
  async () => {
    const { server, errors } = startServer(app, { keepAliveTimeout: 30_000, headerTimeout: 30_000 });
    let peakServer = 0;
    const sampler = setInterval(() => (peakServer = Math.max(peakServer, server.connections)), 50);
    const kinds = requestKinds();
    try {
      const r = await keepAliveLoad({
        port: server.port,
        connections: CONNECTIONS,
        durationMs: SECONDS * 1000,
        pick: (n) => (n % 5 === 4 ? kinds.echo! : kinds.hello!),
      });
      clearInterval(sampler);
      console.log(
        `load: ${CONNECTIONS} connections, ${SECONDS} s: ${r.answered} requests answered (${Math.round(r.answered / (r.elapsedMs / 1000))}/s), ` +
          `p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms max ${r.max.toFixed(0)} ms, peak open ${r.peakOpen} (server saw ${peakServer}), errors ${r.errorCount}`,
      );
      expect(r.errors).toEqual({});
      expect(r.answered).toBe(r.sent);
      expect(r.peakOpen).toBe(CONNECTIONS);
      expect(peakServer).toBe(CONNECTIONS);
      // every connection did more than its first request
      expect(r.answered).toBeGreaterThan(CONNECTIONS * 2);
      expect(errors).toEqual([]);
      // all client connections closed: the server lets go of every one
      for (let k = 0; k < 100 && server.connections > 0; k++) await Bun.sleep(20);
      expect(server.connections).toBe(0);
    } finally {
      clearInterval(sampler);
      await server.close({ timeout: 100 });
    }
  },
  SECONDS * 1000 + 30_000,
);
