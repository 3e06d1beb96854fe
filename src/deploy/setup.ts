/**
 * What a serving process of `tsgi serve` (the single process, or each
 * worker) sets up around `createServer` from {@link ResolvedDeploy}: the TLS
 * material read from its files, the proxy-header middleware, and the stdout
 * access log (which the supervisor writes for its workers).
 * @module
 */
import type { Application } from "../spec.ts";
import type { LogTarget } from "../server/options.ts";
import { proxyHeaders } from "../server/proxy.ts";
import { devCertificate, loadTls, type DevCertificate, type TlsConfig } from "../server/tls.ts";
import { StartupError } from "./errors.ts";
import type { ResolvedDeploy } from "./options.ts";

/**
 * Read the TLS material the options name.
 * @returns the config, and the development certificate when `"dev"` was asked (for printing its fingerprint).
 * @throws StartupError when a file is missing, unreadable or not PEM.
 */
export async function resolveTls(tls: ResolvedDeploy["tls"]): Promise<{ config: TlsConfig; dev: DevCertificate | null } | null> {
  if (tls === null) return null;
  try {
    if (tls === "dev") {
      const dev = await devCertificate();
      return { config: { cert: dev.cert, key: dev.key }, dev };
    }
    return { config: loadTls(tls), dev: null };
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
}

/** Wrap `app` with the proxy-header middleware when the options ask for it. */
export function withDeployMiddleware(app: Application, deploy: Pick<ResolvedDeploy, "proxy">): Application {
  return deploy.proxy ? proxyHeaders(app, { forwardedAllowIps: deploy.proxy.forwardedAllowIps, header: deploy.proxy.header }) : app;
}

let stdoutBroken = false;
let stdoutWatched = false;

/**
 * A stdout access log target (batched by the server's access log). When
 * stdout breaks (the reader of a pipe exited: EPIPE), access logging stops
 * with one warning on stderr and the server goes on serving, as gevent's and
 * eventlet's logging does.
 */
export const stdoutLog: { write(text: string): void } & LogTarget = {
  write: (text: string) => {
    if (stdoutBroken) return;
    if (!stdoutWatched) {
      stdoutWatched = true;
      process.stdout.on("error", onStdoutError);
    }
    try {
      process.stdout.write(text);
    } catch (error) {
      onStdoutError(error as Error);
    }
  },
};

function onStdoutError(error: Error): void {
  if (stdoutBroken) return;
  stdoutBroken = true;
  const code = (error as { code?: string }).code ?? error.message;
  try {
    process.stderr.write(`tsgi: the access log's stdout failed (${code}); access logging stopped, serving goes on\n`);
  } catch {
    // stderr is gone too: nothing left to tell
  }
}
