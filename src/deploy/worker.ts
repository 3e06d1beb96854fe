/**
 * Starting a production server from {@link ResolvedDeploy}: loading the app
 * module, reading TLS material, wrapping proxy headers, and the worker side
 * of the supervisor protocol. Shared by `tsgi serve` (one process) and the
 * worker processes the supervisor starts.
 * @module
 */
import { describeExport, detectApplication, type ApplicationKind } from "../fetch/index.ts";
import type { Application } from "../spec.ts";
import { appFileProblem, parseAppSpec } from "./app-spec.ts";
import { StartupError } from "./errors.ts";
import { describeImportError } from "./import-error.ts";
import type { ResolvedDeploy } from "./options.ts";
import type { LogTarget, ServerOptions } from "../server/options.ts";
import { proxyHeaders } from "../server/proxy.ts";
import { createServer, type TsgiServer } from "../server/server.ts";
import { devCertificate, loadTls, type DevCertificate, type TlsConfig } from "../server/tls.ts";

/**
 * Import `spec` (`./app.ts` or `./app.ts:name`) and return the application:
 * a TSGI function as it is, a fetch handler (`{ fetch }` object or a
 * one-parameter function) through `fromFetchHandler`.
 * @throws StartupError for a missing file, an import error, a missing export or an export that is neither.
 */
export async function loadApp(spec: string, cwd: string = process.cwd()): Promise<{ app: Application; kind: ApplicationKind; file: string }> {
  let parsed;
  try {
    parsed = parseAppSpec(spec, cwd);
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  const problem = appFileProblem(parsed);
  if (problem) throw new StartupError(problem);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(parsed.file)) as Record<string, unknown>;
  } catch (error) {
    throw new StartupError(`cannot import ${parsed.file}: ${describeImportError(error)}`);
  }
  const exported = mod[parsed.exportName];
  if (exported === undefined) {
    const names = Object.keys(mod).filter((k) => k !== "__esModule");
    const apps = names.filter((k) => detectApplication(mod[k]) !== null);
    const hint = parsed.exportName === "default" && apps.length ? `; pick one with ${spec}:${apps[0]}` : "";
    throw new StartupError(`${parsed.file} has ${parsed.exportName === "default" ? "no default export" : `no export named ${parsed.exportName}`} (exports: ${names.join(", ") || "none"})${hint}`);
  }
  const found = detectApplication(exported);
  if (!found) {
    throw new StartupError(`${parsed.exportName === "default" ? "the default export" : `export ${parsed.exportName}`} of ${parsed.file} is ${describeExport(exported)}, neither a TSGI application (environ, startResponse) nor a fetch handler`);
  }
  return { ...found, file: parsed.file };
}

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

/**
 * Everything a worker process needs, sent as the supervisor's first IPC
 * message, never through the environment (which the app's child processes
 * inherit). It holds no key material either: each worker reads the TLS
 * files named in `deploy.tls` itself, so a reload (SIGHUP) picks up renewed
 * certificates.
 */
export interface WorkerConfig {
  /** The app argument (`./app.ts[:name]`). */
  app: string;
  /** Directory the app argument is relative to. */
  cwd: string;
  /** The resolved deployment options. */
  deploy: ResolvedDeploy;
  /** The worker listens on the socket inherited as fd 3 (else it binds itself with `SO_REUSEPORT`). */
  inheritFd: boolean;
  /** Write an access log line per request to stdout. */
  accessLog: boolean;
}

/** Messages the supervisor sends a worker over IPC: its configuration, first and once. */
export type SupervisorMessage = { t: "config"; config: WorkerConfig };

/** Messages a worker sends its supervisor over IPC. */
export type WorkerMessage =
  | { t: "listening"; pid: number }
  | { t: "heartbeat"; requests: number }
  | { t: "retire"; requests: number }
  | { t: "failed"; message: string }
  | { t: "log"; text: string };

/** How long a stopping worker waits for its queued IPC messages to reach the supervisor (ms). */
const IPC_FLUSH_MS = 2000;

/** Resolves once every IPC message queued so far was written (a last heartbeat's callback), or after {@link IPC_FLUSH_MS}. */
function ipcFlushed(requests: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, IPC_FLUSH_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      if (process.send) process.send({ t: "heartbeat", requests } satisfies WorkerMessage, undefined, undefined, done);
      else done();
    } catch {
      done();
    }
  });
}

/** How long a stopping worker's idle keep-alive connections may still bring one request (ms). */
const WORKER_IDLE_GRACE_MS = 1000;

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

/**
 * The worker side: load the app, listen (fd 3 or `SO_REUSEPORT`), report
 * `listening`, send heartbeats every quarter of the timeout, count requests
 * and ask to retire at `maxRequests` (+ jitter), and on SIGTERM (or SIGINT)
 * drain within the graceful timeout and exit 0. Draining keeps idle
 * keep-alive connections 1 s, each answering one more request with
 * `Connection: close` (`close({ idleGrace })`), so that a reload does not
 * reset a request that crossed it.
 */
export async function runWorker(config: WorkerConfig): Promise<void> {
  const send = (m: WorkerMessage) => {
    try {
      process.send?.(m);
    } catch {
      // supervisor gone: nothing to tell
    }
  };
  const { deploy } = config;
  const w = deploy.workers;
  let loaded;
  let tls;
  try {
    tls = await resolveTls(deploy.tls);
    loaded = await loadApp(config.app, config.cwd);
  } catch (error) {
    send({ t: "failed", message: (error as Error).message });
    process.exit(3);
  }
  let requests = 0;
  const limit = w && w.maxRequests > 0 ? w.maxRequests + Math.floor(Math.random() * (w.maxRequestsJitter + 1)) : 0;
  let retiring = false;
  const inner = withDeployMiddleware(loaded.app, deploy);
  const app: Application = (environ, startResponse) => {
    requests++;
    if (limit > 0 && requests >= limit && !retiring) {
      retiring = true;
      send({ t: "retire", requests });
    }
    return inner(environ, startResponse);
  };
  const options: ServerOptions = { ...deploy.server, multiprocess: true };
  if (tls) options.tls = tls.config;
  if (config.inheritFd) {
    options.fd = 3;
    delete options.unix;
  } else {
    options.reusePort = true;
  }
  // One writer for the access log: the supervisor. Workers writing to one
  // shared stdout pipe interleave mid-line once a write exceeds PIPE_BUF
  // (Bun coalesces queued writes into 64 KiB ones when the pipe is full).
  options.log = config.accessLog ? { write: (text: string) => send({ t: "log", text }) } : null;
  let server: TsgiServer;
  try {
    server = createServer(app, options).listen();
  } catch (error) {
    send({ t: "failed", message: (error as Error).message });
    process.exit(3);
  }
  send({ t: "listening", pid: process.pid });
  if (w && w.timeout > 0) {
    const beat = setInterval(() => send({ t: "heartbeat", requests }), Math.max(50, Math.floor(w.timeout / 4)));
    beat.unref?.();
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Idle keep-alive connections get a short grace: a request already on its way is answered
    // (with Connection: close; the next one reaches a new worker) rather than reset (RFC 9112 §9.3.1).
    await server.close({ timeout: deploy.gracefulTimeout, idleGrace: Math.min(WORKER_IDLE_GRACE_MS, deploy.gracefulTimeout) });
    // process.exit drops IPC messages still queued: the last access log lines.
    await ipcFlushed(requests);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // A terminal hangup reaches the whole process group; reloading is the supervisor's job.
  process.on("SIGHUP", () => {});
  // The supervisor died (IPC closed): stop too, rather than serve unsupervised.
  process.on("disconnect", stop);
}
