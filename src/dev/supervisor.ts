/**
 * `--reload=restart`: for apps whose module state cannot be reloaded in
 * place. This process (the supervisor) binds the port once and keeps the
 * listening socket; it watches the files and runs the app in a child process
 * (a worker: this same program, told by a hidden argument, worker-flag.ts) that
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
 *
 * A worker that exits on its own leaves no process serving: until a save
 * starts a new one, this process answers on the socket itself with a 503
 * page (standby.ts). A worker still loading serves nothing yet, so a newer
 * save or a stop signal kills it at once instead of waiting for it (its load
 * may never end: an endless loop at import).
 * @module
 */
import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { fingerprint } from "./fingerprint.ts";
import { onStopSignals, type StopSignal } from "../deploy/signals.ts";
import { BindError } from "../server/bind.ts";
import { closeFd, dupFd, libc, setListenBacklog } from "../server/sys.ts";
import { CUT_REQUEST_CLEANUP_MS } from "../server/connection.ts";
import { isCompiled, tsgiDevEnv } from "./compiled.ts";
import type { DevConfig } from "./config.ts";
import type { DevRole } from "./dev-server.ts";
import { printReady, SCAN_WAIT_MS, sayWhenWatching, scanWithin } from "./dev-server.ts";
import { DotenvReloader } from "./dotenv.ts";
import { listenWithFallback } from "./ports.ts";
import { ADDRESS_IN_USE, display, summarize } from "./reloader.ts";
import { loopWarning, ReloadLoopGuard, writtenDuringLoad } from "./reload-loop.ts";
import { serveStandby, type Standby } from "./standby.ts";
import { watchErrorReporter } from "./watch-errors.ts";
import { DevWatcher } from "./watcher.ts";
import { workerArgs } from "./worker-flag.ts";

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
 * when the files to watch grew (a module a request imported lazily). With
 * the files, `prints`: what each was when the worker loaded it (its
 * `Reloader.loaded`: the fingerprint of what Bun read, where tsgi-dev saw
 * the read), so a save made after the read and before this process watches
 * the file is a change.
 */
export type WorkerMessage =
  | { type: "ready"; port: number; url: string; files: string[]; prints: Record<string, string>; loaded: boolean; failure?: string }
  | { type: "handed-over" }
  | { type: "graph"; files: string[]; prints: Record<string, string> };
/**
 * Messages to a worker: shut down gracefully; with `handover`, a new worker
 * listens on the port now and the old one forwards what its open
 * connections still bring to it (see handover.ts).
 */
export type SupervisorMessage = { type: "shutdown"; handover: boolean } | { type: "announced" };

/** How long a new worker gets to load and listen before it is killed, ms. */
const READY_TIMEOUT_MS = 60_000;
/** After this long without `ready`, the terminal says the new worker is still loading (in-place mode gives up on a load after as long), ms. */
const SLOW_START_MS = 10_000;
/** How long a restart waits for the old worker's `handed-over` before it reports the restart anyway, ms. */
const HANDED_OVER_TIMEOUT_MS = 2000;

/** The command that starts this program again: the compiled binary itself, or Bun with the entry script. */
export function selfCommand(): string[] {
  return isCompiled() ? [process.execPath] : [process.execPath, Bun.main];
}

interface Worker {
  proc: Subprocess;
  port: number;
  url: string;
  files: string[];
  /** What each of its files was when it loaded it (see {@link WorkerMessage}); updated with `files`. */
  prints: Record<string, string>;
  /** The app loaded (false: the worker serves the error page). */
  loaded: boolean;
  /** Why the app failed to load (when `loaded` is false), as the terminal shows it. */
  failure?: string;
  exited: Promise<number>;
  /** Its exit code once it exited, `null` while it runs. */
  exitCode: number | null;
  /** Resolves when the worker reports `handed-over`. */
  handedOver: Promise<void>;
  /** Called when the worker reports a new set of files to watch. */
  onGraph?: (files: string[]) => void;
}

/** A worker process loading the app: it becomes a {@link Worker} once it reports `ready`. */
interface StartingWorker {
  /**
   * The worker, once it listens. Rejects with a {@link StartError} when it
   * exits first, does not listen within {@link READY_TIMEOUT_MS}, or is
   * cancelled.
   */
  readonly ready: Promise<Worker>;
  /** {@link cancel} ended it. */
  readonly cancelled: boolean;
  /** Kill it now unless it already listens (a newer save supersedes it, or tsgi-dev stops); `ready` rejects. */
  cancel(): void;
}

/** Why a worker never listened: `exitCode` is what tsgi-dev exits with when it was the first one. */
type StartError = Error & { reason: "exited" | "timeout" | "cancelled"; exitCode: number };

/** `exited with code 3`, or `was killed by SIGKILL`. */
function describeExit(proc: Subprocess, code: number): string {
  return proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with code ${code}`;
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
      fromEnv: config.portFromEnv === true,
      envOverridden: config.portEnvOverridden === true,
      ...(config.portEnvFile !== undefined ? { envFile: config.portEnvFile } : {}),
      onFallback: (busy, chosen) => logger.warn(`port ${busy} is in use; using ${chosen} instead`),
    },
    (port) => Bun.listen({ hostname: config.host, port, socket: { data() {} } }),
  );
  const fd = dupFd((listener as unknown as { fd: number }).fd);
  const port = listener.port;
  listener.stop(true);
  // Set here at once (Bun listens with 512), so that connections queue up to it before the first app process runs.
  if (config.backlog !== undefined) {
    try {
      setListenBacklog(fd, config.backlog);
    } catch (error) {
      throw new BindError(`cannot listen with backlog ${config.backlog}: ${(error as Error).message}`, "EINVAL", { cause: error });
    }
  }
  return { fd, port };
}

/** Every worker process started and not yet exited (a second Ctrl-C kills them all). */
const liveWorkers = new Set<Subprocess>();

/**
 * Start a worker. `onSlow` is called if it has not reported `ready` after
 * {@link SLOW_START_MS}.
 */
function startWorker(spec: WorkerSpec, sharedFd: number | null, onSlow?: () => void): StartingWorker {
  let settled = false;
  let cancelled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let slow: ReturnType<typeof setTimeout> | undefined;
  let onReady!: (w: Worker) => void;
  let onFailed!: (e: Error) => void;
  let onHandedOver!: () => void;
  let worker: Worker | undefined;
  const ready = new Promise<Worker>((resolve, reject) => {
    onReady = resolve;
    onFailed = reject;
  });
  void ready.catch(() => {}); // whoever awaits it sees the error; never an unhandled rejection
  const handedOver = new Promise<void>((r) => (onHandedOver = r));
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    clearTimeout(slow);
    return true;
  };
  const fail = (message: string, reason: StartError["reason"], exitCode: number) => {
    if (settle()) onFailed(Object.assign(new Error(message), { reason, exitCode }));
  };
  const stdio = sharedFd === null ? ["ignore", "inherit", "inherit"] : ["ignore", "inherit", "inherit", sharedFd];
  const proc = Bun.spawn({
    // The spec as an argument, not a variable the app's own children would inherit (worker-flag.ts).
    cmd: [...selfCommand(), ...workerArgs(spec)],
    cwd: spec.config.cwd,
    // Without BUN_BE_BUN, which the binary sets for the app's own children (compiled.ts): this child is tsgi-dev.
    env: tsgiDevEnv(process.env),
    stdio: stdio as unknown as ["ignore", "inherit", "inherit"],
    serialization: "json",
    ipc(message: WorkerMessage) {
      if (message?.type === "handed-over") onHandedOver();
      else if (message?.type === "graph" && worker) {
        worker.files = message.files;
        worker.prints = message.prints ?? {};
        worker.onGraph?.(message.files);
      } else if (message?.type === "ready" && settle()) {
        worker = {
          proc,
          port: message.port,
          url: message.url,
          files: message.files,
          prints: message.prints ?? {},
          loaded: message.loaded,
          failure: message.failure,
          exited: proc.exited,
          exitCode: null,
          handedOver,
        };
        onReady(worker);
      }
    },
  });
  liveWorkers.add(proc);
  void proc.exited.then((code) => {
    liveWorkers.delete(proc);
    if (worker) worker.exitCode = code;
    fail(`the app process ${describeExit(proc, code)} before listening`, "exited", code || 1);
  });
  timer = setTimeout(() => {
    proc.kill("SIGKILL");
    fail(`the app process did not start listening within ${READY_TIMEOUT_MS / 1000} s`, "timeout", 1);
  }, READY_TIMEOUT_MS);
  if (onSlow) slow = setTimeout(onSlow, SLOW_START_MS);
  return {
    ready,
    get cancelled() {
      return cancelled;
    },
    cancel() {
      if (settled) return;
      cancelled = true;
      // It does not serve yet (no `ready`): nothing of it is lost.
      proc.kill("SIGKILL");
      fail("the app process was stopped before it listened", "cancelled", 1);
    },
  };
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
 * @returns the exit code: 0 after a signal, 130 after a second one; the
 *   first worker's exit code when it could not start (it printed why).
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
  const stillLoading = `(still loading: an endless loop, or a top-level await that never settles?)`;

  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let stopping = false;
  // The first app process: a Ctrl-C while it loads (it may never finish) kills it.
  const firstStarted = Date.now();
  const first = startWorker({ role: "first-worker", config: shared ? { ...config, port: shared.port, portExplicit: true } : config, inheritFd }, sharedFd, () =>
    logger.warn(`the app process has not started listening after ${SLOW_START_MS / 1000} s ${stillLoading}; Ctrl-C stops it`),
  );
  let pending: StopSignal | null = null;
  let onStop = (signal: StopSignal) => {
    pending = signal;
    first.cancel();
  };
  onStopSignals(
    (signal) => onStop(signal),
    (signal) => {
      // Again: do not wait for in-flight requests or a hung app.
      logger.warn(`${signal} again: exiting now`);
      for (const proc of liveWorkers) proc.kill("SIGKILL");
      finish(130);
    },
  );
  let current: Worker;
  try {
    current = await first.ready;
  } catch (error) {
    const e = error as StartError;
    if (e.reason === "cancelled" || pending) {
      logger.info(`${pending}: stopped the app process while it was loading`);
      return 0;
    }
    // An app process that exited said why; a timeout is this process's to report.
    if (e.reason === "timeout") logger.error(e.message);
    return e.exitCode;
  }
  const port = current.port;
  /** A file each of the last app processes changed as it loaded: the app writes it itself (see reload-loop.ts). */
  const loop = new ReloadLoopGuard();
  loop.loaded(writtenDuringLoad(current.files, (f) => current.prints[f], firstStarted));
  /**
   * Files found looping, with what they were as the last app process that
   * wrote them loaded: that content restarts nothing (the app's own write),
   * any other is a save, which restarts as before and ends this (as in
   * place, see `Reloader`).
   */
  const loopingFiles = new Map<string, string>();
  /** Restarts for files the guard holds back wait for this (see reload-loop.ts, and holdLoop). */
  let loopTimer: ReturnType<typeof setTimeout> | undefined;

  /** What each watched file was when the serving app process loaded it: a file that differs changed since. */
  let prints = new Map(current.files.map((f) => [f, current.prints[f] ?? fingerprint(f)]));
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
  let watcher: DevWatcher | null = null;
  /** The serving worker's files grew (a lazily imported module): watch them too. */
  const follow = (w: Worker) => {
    const initial = new Set(w.files);
    w.onGraph = (files) => {
      if (w !== current) return;
      const added: string[] = [];
      for (const f of files) {
        if (!initial.has(f) && !lazy.has(f)) {
          lazy.add(f);
          added.push(f);
        }
        // As the app process read it (a save since then is a change), else as it is now.
        if (!prints.has(f)) prints.set(f, w.prints[f] ?? fingerprint(f));
      }
      watcher?.setGraph(graphOf(w));
      // The watcher sees a save from when it took the file on (setGraph); one since the read is seen here
      // (unless --ignore excludes the file: then no save of it restarts).
      const changed = added.filter((f) => watcher?.watches(f) && fingerprint(f) !== prints.get(f));
      // From here on a save of them restarts (the app process's own "watching ..." line comes before).
      if (added.length) logger.debug(`restarting on saves of ${summarize(added)} too (imported by a request)`);
      if (changed.length) request(changed);
    };
  };

  /** Workers stopped before their successor listened (a port of the app's own they held): their exit is not reported. */
  const replaced = new WeakSet<Worker>();
  let busy: Promise<void> | null = null;
  /** The worker a restart is starting, until it listens, with the fingerprints of the files as they were when it started. */
  let starting: { worker: StartingWorker; loads: Map<string, string> } | null = null;
  /** Old workers still handing over after a restart, and a standby server handing over to a new worker. */
  const retiring = new Set<Promise<void>>();
  /** This process answering on the port while no worker runs (the last one exited on its own). */
  let standby: Standby | null = null;
  let queued: Set<string> | null = null;
  const queue = (paths: Iterable<string>) => {
    queued ??= new Set();
    for (const p of paths) queued.add(p);
  };
  const retire = (done: Promise<void>) => {
    const p: Promise<void> = done.finally(() => retiring.delete(p));
    retiring.add(p);
  };

  const restart = async (paths: string[]): Promise<void> => {
    const started = performance.now();
    // Compared with files' mtimes (wall clock); the load's duration is `started`'s (monotonic).
    const since = Date.now();
    dotenv.reload(); // the worker inherits this process's environment
    // Fingerprinted before the worker reads the files: a save during its load is a change to what it loaded.
    const loads = new Map([...new Set([...graphOf(current), ...paths])].map((f) => [f, fingerprint(f)]));
    const next: DevConfig = { ...config, port, portExplicit: true };
    let fresh: Worker;
    /** Files this app process was found looping on (see reload-loop.ts): warned about after the restart's own line. */
    let found: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const worker = startWorker({ role: "next-worker", config: next, inheritFd }, sharedFd, () =>
        logger.warn(
          `the new app process has not started listening after ${SLOW_START_MS / 1000} s ${stillLoading}; ` +
            `${current.exitCode === null ? "the previous version keeps serving" : "no app process runs meanwhile"}, and the next save starts a fresh one`,
        ),
      );
      starting = { worker, loads };
      try {
        fresh = await worker.ready;
        // Files the new app process changed as it loaded (see reload-loop.ts); what it wrote to a looping one is its own.
        const written = writtenDuringLoad(graphOf(fresh), (f) => fresh.prints[f], since);
        found = loop.loaded(written, performance.now() - started);
        for (const f of written) if (loopingFiles.has(f) || found.includes(f)) loopingFiles.set(f, fingerprint(f));
      } catch (error) {
        // Superseded by a newer save (which queued a restart from the newest files), or stopping.
        if (worker.cancelled) {
          if (stopping) return;
          // What changed while it loaded cancelled it: a save, or the app's own write before it listened (a
          // stamp written, then a second of setup), which cancels the next one too: a loop the guard must see.
          const found = loop.loaded(writtenDuringLoad(loads.keys(), (f) => loads.get(f), since), performance.now() - started);
          for (const f of found) loopingFiles.set(f, fingerprint(f));
          if (found.length) logger.warn(loopWarning(found, "restart"));
          queue(paths);
          return;
        }
        loop.loaded([]);
        const message = (error as Error).message;
        if (current.exitCode === null) {
          logger.error(`restart failed, the previous version keeps serving: ${message}`);
        } else {
          logger.error(`restart failed: ${message}; save a file to try again`);
          if (standby) standby.setMessage(message);
          else if (sharedFd !== null) standby = serveStandby(sharedFd, config, logger, message);
        }
        return;
      } finally {
        if (starting?.worker === worker) starting = null;
      }
      // The new app could not listen on a port of its own (a second server started at import)
      // that the old one still holds (ADDRESS_IN_USE): stop the old one first, then start afresh. The shared
      // socket stays open, so new connections wait in its queue meanwhile, none is refused.
      if (attempt === 1 && !stopping && !fresh.loaded && current.exitCode === null && current.loaded && ADDRESS_IN_USE.test(fresh.failure ?? "")) {
        logger.info("the new app process cannot listen on a port the previous one holds (a server the app starts at import): stopping the previous one first");
        const old = current;
        replaced.add(old);
        await Promise.all([stopWorker(fresh, 2000, false), stopWorker(old, config.shutdownTimeout + CUT_REQUEST_CLEANUP_MS + 2000, false)]);
        if (stopping) return;
        continue;
      }
      break;
    }
    const old = current;
    current = fresh;
    watchExit(fresh);
    // What the new process read, else what the files were before it started (else now).
    prints = loads;
    for (const f of graphOf(fresh)) {
      const read = fresh.prints[f];
      if (read !== undefined) prints.set(f, read);
      else if (!prints.has(f)) prints.set(f, fingerprint(f));
    }
    const watchedBefore = new Set(watcher?.graph ?? []);
    watcher?.setGraph(graphOf(fresh));
    follow(fresh);
    // A file new to the watcher, saved after the new process read it: the watcher did not see that save.
    // (Files --ignore excludes are in neither graph: no save of them restarts.)
    const late = (watcher?.graph ?? []).filter((f) => !watchedBefore.has(f) && prints.get(f) !== fingerprint(f));
    if (late.length) queue(late);
    // No worker served until now: this process stops answering and forwards what its connections still bring.
    if (standby) {
      retire(standby.handover());
      standby = null;
    }
    // The old worker hands over and exits in the background: the new one serves from now on.
    retire(stopWorker(old, config.shutdownTimeout + CUT_REQUEST_CLEANUP_MS + 2000, true));
    // Report the restart once the old code answers nothing more: the old worker forwards from then on.
    await Promise.race([old.handedOver, old.exited, Bun.sleep(HANDED_OVER_TIMEOUT_MS)]);
    const ms = Math.round(performance.now() - started);
    // A new worker whose app failed to load serves the error page: not a restart that worked.
    if (fresh.loaded) logger.success(`restarted in ${ms} ms: ${summarize(paths)}`);
    else logger.error(`restart failed after ${ms} ms (${summarize(paths)}), serving the error page until a save fixes it:\n${fresh.failure ?? "the app failed to load"}`);
    if (found.length) logger.warn(loopWarning(found, "restart"));
  };

  /**
   * Files the loop guard holds back restart once they stayed unchanged for
   * its quiet time (a hold again, for another event of the app's write,
   * starts it over) and no restart runs.
   */
  const holdLoop = () => {
    clearTimeout(loopTimer);
    loopTimer = setTimeout(() => {
      if (stopping) return;
      if (busy || starting) return holdLoop();
      const files = [...loop.release(), ...deferred];
      deferred.clear();
      if (files.length) request(files);
    }, loop.quietMs);
  };
  /**
   * Files a restart was due for while the guard held others: they wait with
   * them, since an app process loads every file, the held ones too (and
   * would write them again, a cancelled restart's files most of all).
   */
  const deferred = new Set<string>();

  /**
   * `changed` (a restart about to start) without what the app wrote to the
   * files found looping as it loaded; a file newly found looping gets a
   * warning. A looping file changed otherwise (a save) restarts again.
   */
  const looping = (changed: string[]): string[] => {
    if (loopingFiles.size > 0) {
      const own = changed.filter((p) => loopingFiles.get(p) === fingerprint(p));
      for (const p of changed) {
        if (!loopingFiles.has(p) || own.includes(p)) continue;
        loopingFiles.delete(p);
        logger.info(`${display(p)} changed between loads (a save, not the app's own write): restarting for it again`);
      }
      changed = changed.filter((p) => !own.includes(p));
      if (changed.length === 0) return changed;
    }
    // A file each of the last app processes changed as it loaded: held until it stays quiet, then one more restart decides.
    const { reload, hold } = loop.check(changed);
    if (hold.length) {
      logger.debug(`${summarize(hold)}: changed while each of the last app processes loaded; restarting once it stays unchanged for ${loop.quietMs} ms`);
      for (const p of reload) deferred.add(p);
      holdLoop();
      return [];
    }
    const also = [...deferred].filter((p) => !reload.includes(p));
    deferred.clear();
    return [...reload, ...also];
  };

  const request = (paths: string[]) => {
    if (stopping) return;
    if (starting) {
      // A save that changes what the loading worker loads supersedes it at once (it may never
      // finish: an endless loop at import); the restart starts again from the newest files.
      const loads = starting.loads;
      const newer = paths.filter((p) => loads.get(p) !== fingerprint(p));
      if (newer.length === 0) return;
      queue(newer);
      // A looping file changed while the worker loads is most likely its own write: told once it is ready (see looping).
      // So is a file the guard released, whose restart decides whether the app writes it.
      if (newer.some((p) => !loopingFiles.has(p) && !loop.verifying(p))) starting.worker.cancel();
      return;
    }
    // While the app fails to load, or no worker runs, every event retries (see Reloader.reload).
    const retry = !current.loaded || current.exitCode !== null;
    let changed = retry ? paths : paths.filter((p) => prints.get(p) !== fingerprint(p));
    if (changed.length === 0) return;
    if (busy) {
      queue(changed);
      return;
    }
    changed = looping(changed);
    if (changed.length === 0) return;
    busy = restart(changed).finally(() => {
      busy = null;
      if (queued && !stopping) {
        const again = [...queued];
        queued = null;
        request(again);
      }
    });
  };

  /** The serving worker exited on its own (not replaced, not stopped): this process answers on the port until a save starts another. */
  const watchExit = (w: Worker) =>
    void w.exited.then((code) => {
      if (w !== current || stopping || replaced.has(w)) return;
      const what = `the app process ${describeExit(w.proc, code)}`;
      logger.error(`${what}; save a file to start it again`);
      if (sharedFd !== null && !standby) standby = serveStandby(sharedFd, config, logger, what);
    });

  const stop = async (signal: StopSignal) => {
    stopping = true;
    clearTimeout(loopTimer);
    logger.info(`${signal}: stopping (in-flight requests get up to ${config.shutdownTimeout / 1000} s)`);
    // A worker still loading serves nothing yet: kill it rather than wait for it (it may never finish).
    starting?.worker.cancel();
    await watcher?.close();
    if (busy) await busy;
    // This process's copies of the listening socket (the standby server's,
    // and the one workers inherit) would keep the port listening while the
    // app process drains: new connections would wait unanswered and be reset
    // at exit instead of refused. close() stops accepting at once.
    const closing = standby?.close();
    standby = null;
    if (sharedFd !== null) closeFd(sharedFd);
    await Promise.all([stopWorker(current, config.shutdownTimeout + CUT_REQUEST_CLEANUP_MS + 2000, false), closing, ...retiring]);
    finish(0);
  };
  onStop = (signal) => void stop(signal);
  if (pending) {
    // Ctrl-C just as the first app process became ready.
    void stop(pending);
    return await finished;
  }

  watcher = new DevWatcher({
    cwd: config.cwd,
    // Every dotenv file Bun would read, also one created later (the next app process reads it).
    watch: [...config.watch, ...dotenv.files],
    graph: current.files,
    ignore: config.ignore,
    poll: config.poll,
    // tsgi-dev's own log, when redirected to a file in a watched directory: each line would reload again.
    ownOutput: [1, 2],
    onChange: request,
    onError: watchErrorReporter((line) => logger.warn(line)),
  });
  // A stop signal while the watcher reads the tree closes it, and a watcher closed before it was
  // ready never becomes ready: the stop's own end (finished) ends the wait then.
  // Past SCAN_WAIT_MS (a large --watch tree), serving is said when it serves, and watching when it watches.
  const scanFrom = performance.now();
  const scanned = await scanWithin(Promise.race([watcher.ready(), finished]), SCAN_WAIT_MS);
  if (!stopping) {
    follow(current);
    printReady(logger, config, port, current.url);
    if (!scanned) sayWhenWatching(logger, watcher.ready(), scanFrom);
    // The first app process held its request log lines until now (heldLogs()): they follow the banner.
    try {
      current.proc.send({ type: "announced" } satisfies SupervisorMessage);
    } catch {
      // it exited meanwhile (watchExit says so)
    }
    watchExit(current);
    // The watcher sees saves from its start on; one made since the app process read a file is seen here.
    // (Files --ignore excludes are not in the watcher's graph: no save of them restarts.)
    const late = watcher.graph.filter((f) => prints.get(f) !== fingerprint(f));
    if (late.length) request(late);
  }
  return await finished;
}
