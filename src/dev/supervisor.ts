/**
 * `--reload=restart`: for apps whose module state cannot be reloaded in
 * place. This process (the supervisor) binds the port once and keeps the
 * listening socket; it watches the files and runs the app in a child process
 * (a worker: this same program, told by the `TSGI_DEV_WORKER` variable) that
 * inherits the socket as file descriptor 3. On a change it starts a fresh
 * worker on the same socket while the old one still accepts, waits until the
 * new one says it is listening (an IPC `ready` message), and only then asks
 * the old one to hand over: it stops accepting, in-flight requests finish on
 * it, and what its open keep-alive connections still bring is forwarded to
 * the new one (handover.ts), so a request that crosses the restart is neither
 * refused nor reset nor answered by the old code. The socket itself never
 * closes. Where the socket cannot be shared (no `dup` through `bun:ffi`),
 * workers bind the port themselves with `reusePort` (Linux `SO_REUSEPORT`),
 * which can reset connections queued on the old listener when it closes.
 * @module
 */
import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { fingerprint } from "./fingerprint.ts";
import { onStopSignals } from "../server/stop-signals.ts";
import { closeFd, dupFd, libc } from "../server/sys.ts";
import type { DevConfig } from "./config.ts";
import type { DevRole } from "./dev-server.ts";
import { printReady } from "./dev-server.ts";
import { DotenvReloader } from "./dotenv.ts";
import { BindError, listenWithFallback } from "./ports.ts";
import { summarize } from "./reloader.ts";
import { DevWatcher } from "./watcher.ts";

/** The environment variable that makes `tsgi-dev` a worker; its value is a {@link WorkerSpec} as JSON. */
export const WORKER_ENV = "TSGI_DEV_WORKER";

/** What a worker is told to do. */
export interface WorkerSpec {
  role: Exclude<DevRole, "standalone">;
  config: DevConfig;
  /** The listening socket is inherited as fd 3 (else the worker binds with `reusePort`). */
  inheritFd: boolean;
}

/** The fd number a worker sees the shared socket as. */
export const INHERITED_FD = 3;

/**
 * Messages from a worker: `ready` once it listens (with `failure`, the
 * terminal text of why the app failed to load, when it serves the error
 * page instead); `handed-over` once, told
 * to hand over, it stopped accepting and forwards every request its open
 * connections still bring (its own app answers none from then on); `graph`
 * when the files to watch grew (a module a request imported lazily).
 */
export type WorkerMessage =
  | { type: "ready"; port: number; url: string; files: string[]; loaded: boolean; failure?: string }
  | { type: "handed-over" }
  | { type: "graph"; files: string[] };
/**
 * Messages to a worker: shut down gracefully; with `handover`, a new worker
 * listens on the port now and the old one forwards what its open
 * connections still bring to it (see handover.ts).
 */
export type SupervisorMessage = { type: "shutdown"; handover: boolean };

/** How long a new worker gets to load and listen, ms. */
const READY_TIMEOUT_MS = 60_000;
/** How long a restart waits for the old worker's `handed-over` before it reports the restart anyway, ms. */
const HANDED_OVER_TIMEOUT_MS = 2000;

/** The command that starts this program again: the compiled binary itself, or Bun with the entry script. */
export function selfCommand(): string[] {
  const main = Bun.main;
  const compiled = main.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(main);
  return compiled ? [process.execPath] : [process.execPath, main];
}

interface Worker {
  proc: Subprocess;
  port: number;
  url: string;
  files: string[];
  /** The app loaded (false: the worker serves the error page). */
  loaded: boolean;
  /** Why the app failed to load (when `loaded` is false), as the terminal shows it. */
  failure?: string;
  exited: Promise<number>;
  /** Resolves when the worker reports `handed-over`. */
  handedOver: Promise<void>;
  /** Called when the worker reports a new set of files to watch. */
  onGraph?: (files: string[]) => void;
}

/**
 * Bind the port in this process and return a duplicate of the listening
 * socket's descriptor for workers to inherit, or `null` when descriptors
 * cannot be shared here.
 * @throws BindError when the port cannot be bound (with the usual port rules).
 */
function bindShared(config: DevConfig, logger: ConsolaInstance): { fd: number; port: number } | null {
  if (!libc()) return null;
  const listener = listenWithFallback(
    {
      hostname: config.host,
      port: config.port,
      explicit: config.portExplicit,
      onFallback: (busy, chosen) => logger.warn(`port ${busy} is in use; using ${chosen} instead`),
    },
    (port) => Bun.listen({ hostname: config.host, port, socket: { data() {} } }),
  );
  const fd = dupFd((listener as unknown as { fd: number }).fd);
  const port = listener.port;
  listener.stop(true);
  return { fd, port };
}

/** Every worker process started and not yet exited (a second Ctrl-C kills them all). */
const liveWorkers = new Set<Subprocess>();

/** Start a worker and wait until it listens. @throws Error with its exit code when it exits first. */
function startWorker(spec: WorkerSpec, sharedFd: number | null): Promise<Worker> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onHandedOver!: () => void;
    let worker: Worker | undefined;
    const handedOver = new Promise<void>((r) => (onHandedOver = r));
    const stdio = sharedFd === null ? ["ignore", "inherit", "inherit"] : ["ignore", "inherit", "inherit", sharedFd];
    const proc = Bun.spawn({
      cmd: selfCommand(),
      cwd: spec.config.cwd,
      env: { ...process.env, [WORKER_ENV]: JSON.stringify(spec) },
      stdio: stdio as unknown as ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc(message: WorkerMessage) {
        if (message?.type === "handed-over") onHandedOver();
        else if (message?.type === "graph" && worker) {
          worker.files = message.files;
          worker.onGraph?.(message.files);
        } else if (message?.type === "ready" && !settled) {
          settled = true;
          clearTimeout(timer);
          worker = { proc, port: message.port, url: message.url, files: message.files, loaded: message.loaded, failure: message.failure, exited: proc.exited, handedOver };
          resolve(worker);
        }
      },
    });
    liveWorkers.add(proc);
    void proc.exited.then(() => liveWorkers.delete(proc));
    timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill("SIGKILL");
      reject(Object.assign(new Error(`the app process did not start listening within ${READY_TIMEOUT_MS / 1000} s`), { exitCode: 1 }));
    }, READY_TIMEOUT_MS);
    void proc.exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(Object.assign(new Error(`the app process exited with code ${code} before listening`), { exitCode: code || 1 }));
    });
  });
}

/** Ask a worker to shut down gracefully (handing its connections over to a new worker, or not); kill it if it has not exited in `graceMs`. */
async function stopWorker(w: Worker, graceMs: number, handover: boolean): Promise<void> {
  try {
    w.proc.send({ type: "shutdown", handover } satisfies SupervisorMessage);
  } catch {
    w.proc.kill("SIGTERM");
  }
  const killer = setTimeout(() => w.proc.kill("SIGKILL"), graceMs);
  await w.exited;
  clearTimeout(killer);
}


/**
 * Run restart mode until SIGINT/SIGTERM.
 *
 * @returns the exit code: 0 after a signal; the first worker's exit code
 *   when it could not start (it printed why).
 */
export async function runSupervisor(config: DevConfig, logger: ConsolaInstance): Promise<number> {
  const dotenv = new DotenvReloader(config.cwd);
  let shared: { fd: number; port: number } | null;
  try {
    shared = bindShared(config, logger);
  } catch (error) {
    logger.error(error instanceof BindError ? error.message : `cannot listen: ${(error as Error).message}`);
    return 1;
  }
  const sharedFd = shared?.fd ?? null;
  const inheritFd = sharedFd !== null;
  let current: Worker;
  try {
    current = await startWorker({ role: "first-worker", config: shared ? { ...config, port: shared.port, portExplicit: true } : config, inheritFd }, sharedFd);
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 1;
  }
  const port = current.port;

  let prints = new Map<string, string>();
  const snapshot = (files: string[]) => {
    prints = new Map(files.map((f) => [f, fingerprint(f)]));
  };
  snapshot(current.files);
  /**
   * Modules the app imported lazily (reported by a worker after a request),
   * watched across restarts while they exist: a fresh worker imports them
   * again only when a request needs them (as AppLoader does in place).
   */
  const lazy = new Set<string>();
  const graphOf = (w: Worker) => {
    for (const f of lazy) if (!existsSync(f)) lazy.delete(f);
    return [...new Set([...w.files, ...lazy])];
  };
  /** The serving worker's files grew (a lazily imported module): watch them too. */
  const follow = (w: Worker) => {
    const initial = new Set(w.files);
    w.onGraph = (files) => {
      if (w !== current) return;
      for (const f of files) {
        if (!initial.has(f)) lazy.add(f);
        if (!prints.has(f)) prints.set(f, fingerprint(f));
      }
      watcher.setGraph(graphOf(w));
    };
  };

  let busy: Promise<void> | null = null;
  /** Old workers still handing over after a restart. */
  const retiring = new Set<Promise<void>>();
  let queued: Set<string> | null = null;
  let stopping = false;

  const restart = async (paths: string[]): Promise<void> => {
    const started = performance.now();
    dotenv.reload(); // the worker inherits this process's environment
    const next: DevConfig = { ...config, port, portExplicit: true };
    let fresh: Worker;
    try {
      fresh = await startWorker({ role: "next-worker", config: next, inheritFd }, sharedFd);
    } catch (error) {
      logger.error(`restart failed, the previous version keeps serving: ${(error as Error).message}`);
      return;
    }
    const old = current;
    current = fresh;
    watchExit(fresh);
    snapshot(graphOf(fresh));
    watcher.setGraph(graphOf(fresh));
    follow(fresh);
    // The old worker hands over and exits in the background: the new one serves from now on.
    const retired = stopWorker(old, config.shutdownTimeout + 2000, true).finally(() => retiring.delete(retired));
    retiring.add(retired);
    // Report the restart once the old code answers nothing more: the old worker forwards from then on.
    await Promise.race([old.handedOver, old.exited, Bun.sleep(HANDED_OVER_TIMEOUT_MS)]);
    const ms = Math.round(performance.now() - started);
    // A new worker whose app failed to load serves the error page: not a restart that worked.
    if (fresh.loaded) logger.success(`restarted in ${ms} ms: ${summarize(paths)}`);
    else logger.error(`restart failed after ${ms} ms (${summarize(paths)}), serving the error page until a save fixes it:\n${fresh.failure ?? "the app failed to load"}`);
  };

  const request = (paths: string[]) => {
    if (stopping) return;
    // While the app fails to load, every event retries (see Reloader.reload).
    const changed = current.loaded ? paths.filter((p) => prints.get(p) !== fingerprint(p)) : paths;
    if (changed.length === 0) return;
    if (busy) {
      queued ??= new Set();
      for (const p of changed) queued.add(p);
      return;
    }
    busy = restart(changed).finally(() => {
      busy = null;
      if (queued && !stopping) {
        const again = [...queued];
        queued = null;
        request(again);
      }
    });
  };

  const watcher = new DevWatcher({
    cwd: config.cwd,
    watch: [...config.watch, ...dotenv.files.filter((f) => fingerprint(f) !== "missing")],
    graph: current.files,
    ignore: config.ignore,
    poll: config.poll,
    onChange: request,
    onError: (e) => logger.warn(`watcher: ${e.message}`),
  });
  await watcher.ready();
  follow(current);
  printReady(logger, config, port, current.url);

  // A worker that dies on its own (not replaced) leaves the port closed until the next save.
  const watchExit = (w: Worker) =>
    void w.exited.then((code) => {
      if (w === current && !stopping) logger.error(`the app process exited with code ${code}; save a file to start it again`);
    });
  watchExit(current);

  return await new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      stopping = true;
      logger.info(`${signal}: stopping (in-flight requests get up to ${config.shutdownTimeout / 1000} s)`);
      await watcher.close();
      if (busy) await busy;
      // The app process closes its copy of the listening socket as it drains;
      // this process's copy would keep the port listening, so new connections
      // would wait unanswered and be reset at exit instead of refused.
      if (sharedFd !== null) closeFd(sharedFd);
      await Promise.all([stopWorker(current, config.shutdownTimeout + 2000, false), ...retiring]);
      resolve(0);
    };
    onStopSignals(
      (signal) => void stop(signal),
      (signal) => {
        // Again: do not wait for in-flight requests or a hung app.
        logger.warn(`${signal} again: exiting now`);
        for (const proc of liveWorkers) proc.kill("SIGKILL");
        resolve(130);
      },
    );
  });
}
