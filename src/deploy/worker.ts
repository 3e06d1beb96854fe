/**
 * The worker side of `tsgi serve --workers N`: what the supervisor
 * (`supervisor.ts`) and a worker say to each other over IPC, and
 * {@link runWorker}, which a worker process (`worker-main.ts`) runs with the
 * configuration it was sent.
 * @module
 */
import type { Application } from "../spec.ts";
import type { ServerOptions } from "../server/options.ts";
import { createServer, type TsgiServer } from "../server/server.ts";
import { wantsSignal } from "../gateway/signal.ts";
import { loadApp } from "./load-app.ts";
import type { ResolvedDeploy } from "./options.ts";
import { resolveTls, stopOptions, withDeployMiddleware } from "./setup.ts";
import { guardStdio, STDERR_MAX_WAITING_BYTES, stderrFlushed } from "./stdio.ts";
import { logStrayErrors } from "./stray-errors.ts";
import { listenMessage } from "./errors.ts";
import { BindError } from "../server/bind.ts";
import { prefixedLog, workerPrefix } from "./worker-log.ts";

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
export type SupervisorMessage = { type: "config"; config: WorkerConfig };

/** Messages a worker sends its supervisor over IPC. */
export type WorkerMessage =
  | { type: "listening"; pid: number }
  | { type: "heartbeat"; requests: number }
  | { type: "retire"; requests: number }
  | { type: "failed"; message: string }
  | { type: "log"; text: string }
  /** Error log text (prefixed already: {@link workerPrefix}), written to stderr by the supervisor as it is. */
  | { type: "errorlog"; text: string }
  /** Something the operator should know about the app (said once by the supervisor, however many workers say it). */
  | { type: "warning"; message: string };

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
      if (process.send) process.send({ type: "heartbeat", requests } satisfies WorkerMessage, undefined, undefined, done);
      else done();
    } catch {
      done();
    }
  });
}

/** Bytes of error log handed to the IPC channel and not yet written to it (see {@link relayErrorLog}). */
let relayWaiting = 0;

/**
 * Hand error log text to the supervisor, which writes it to the stderr all
 * share: one writer, so a worker's message (an error report with its stack,
 * a `tsgi.errors` write) is never cut into by another worker's or the
 * supervisor's. Written to the shared stderr directly, Bun joins the writes
 * a lagging reader has not taken into pieces of any length, cut wherever the
 * pipe is full, so another process's line could land inside any message,
 * even one under `PIPE_BUF` (4096 bytes). With the supervisor gone (IPC
 * closed), the worker writes stderr itself; so it does while
 * `STDERR_MAX_WAITING_BYTES` (16 MiB) of what it relayed waits to be
 * written to the channel (a worker logging faster than the relay carries
 * it), which Bun would otherwise hold in the worker without limit.
 */
function relayErrorLog(text: string): void {
  if (process.send && process.connected !== false) {
    const bytes = Buffer.byteLength(text);
    // Past the bound, the supervisor is not keeping up (a worker logging faster than the relay
    // carries it): written here, under stderr's own bound, rather than held without limit.
    if (relayWaiting === 0 || relayWaiting + bytes <= STDERR_MAX_WAITING_BYTES) {
      relayWaiting += bytes;
      try {
        process.send({ type: "errorlog", text } satisfies WorkerMessage, undefined, undefined, () => {
          relayWaiting -= bytes;
        });
        return;
      } catch {
        // supervisor gone: write it here
        relayWaiting -= bytes;
      }
    }
  }
  process.stderr.write(text);
}

/**
 * The worker side: load the app, listen (fd 3 or `SO_REUSEPORT`), report
 * `listening`, send heartbeats every quarter of the timeout, count requests
 * and ask to retire at `maxRequests` (+ jitter), and on SIGTERM (or SIGINT,
 * SIGQUIT) drain within the graceful timeout and exit 0; SIGHUP, SIGUSR1 and
 * SIGUSR2 are the supervisor's to answer, and ignored. Draining keeps idle
 * keep-alive connections 1 s, each answering one more request with
 * `Connection: close` (`close({ idleGrace })`), so that a reload does not
 * reset a request that crossed it.
 */
export async function runWorker(config: WorkerConfig): Promise<void> {
  // The worker shares the supervisor's stdout and stderr: a broken pipe must not end it either.
  guardStdio();
  // From the app's import on: a stray rejection or exception is logged, not the worker's end.
  // Its error log names the worker: N of them share stderr (a maxConnections warning, an app's error).
  // The supervisor writes it, as the access log (see relayErrorLog).
  const errorLog = prefixedLog(workerPrefix(), relayErrorLog);
  logStrayErrors(errorLog);
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
    send({ type: "failed", message: (error as Error).message });
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
      send({ type: "retire", requests });
    }
    return inner(environ, startResponse);
  };
  // tsgi.signal for an app that wants it (a fetch handler's request.signal), judged before the deploy middleware wraps it.
  const options: ServerOptions = { ...deploy.server, multiprocess: true, requestSignal: wantsSignal(loaded.app) };
  if (tls) options.tls = tls.config;
  if (config.inheritFd) {
    options.fd = 3;
    delete options.unix;
  } else {
    options.reusePort = true;
  }
  if (options.errorLog === undefined) options.errorLog = errorLog;
  // One writer for the access log: the supervisor. Workers writing to one
  // shared stdout pipe interleave mid-line once a write exceeds PIPE_BUF
  // (Bun coalesces queued writes into 64 KiB ones when the pipe is full).
  options.log = config.accessLog ? { write: (text: string) => send({ type: "log", text }) } : null;
  let server: TsgiServer;
  try {
    server = createServer(app, options).listen();
  } catch (error) {
    // A bind failure (under --reuse-port each worker binds): what to do, as the supervisor's own bind says.
    send({ type: "failed", message: error instanceof BindError ? listenMessage(error, options, config.deploy.portSource, config.deploy.portFile) : (error as Error).message });
    process.exit(3);
  }
  if (loaded.warning) send({ type: "warning", message: loaded.warning });
  if (tls?.warning) send({ type: "warning", message: tls.warning });
  send({ type: "listening", pid: process.pid });
  if (w && w.timeout > 0) {
    const beat = setInterval(() => send({ type: "heartbeat", requests }), Math.max(50, Math.floor(w.timeout / 4)));
    beat.unref?.();
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Idle keep-alive connections get a short grace: a request already on its way is answered
    // (with Connection: close; the next one reaches a new worker) rather than reset (RFC 9112 §9.3.1).
    await server.close(stopOptions(deploy.gracefulTimeout));
    // process.exit drops IPC messages still queued (the last access log lines) and what a lagging
    // stderr reader has not taken (the last error reports): both get the same short wait.
    await Promise.all([ipcFlushed(requests), stderrFlushed(IPC_FLUSH_MS)]);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The supervisor stops gracefully on SIGQUIT; so does a worker the signal reaches with it
  // (`kill -QUIT -PGID`, a terminal's Ctrl-\): a graceful stop, not an abort of every request in flight.
  process.on("SIGQUIT", stop);
  // A terminal hangup reaches the whole process group; reloading is the supervisor's job.
  process.on("SIGHUP", () => {});
  // SIGUSR1 and SIGUSR2 (log reopening, binary upgrade elsewhere) are ignored from the worker's start: see worker-main.ts.
  // The supervisor died (IPC closed): stop too, rather than serve unsupervised; also when
  // it died while the app was being imported, its "disconnect" already emitted.
  process.on("disconnect", stop);
  if (process.connected === false) void stop();
}
