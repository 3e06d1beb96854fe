/**
 * The worker supervisor (gunicorn's arbiter): N worker processes serving
 * one listening socket, restarted when they crash, killed and replaced when
 * they stop sending heartbeats or do not listen in time after they were
 * started (`--timeout`), recycled after `--max-requests`, reloaded on SIGHUP
 * without dropping a connection, and drained on SIGTERM.
 *
 * The socket: by default the supervisor binds it once and every worker
 * inherits it as fd 3 (gunicorn's model). All workers accept from one
 * kernel queue, so a worker that stops listening (reload, recycle, crash)
 * leaves queued connections to the others. With `reusePort` each worker
 * binds the port itself with `SO_REUSEPORT` instead; Linux then gives every
 * worker its own queue, and connections still queued on a worker's socket
 * when it closes are reset unless `net.ipv4.tcp_migrate_req` is 1 — which
 * is why sharing is the default.
 *
 * Signals: SIGHUP reload; SIGTERM/SIGINT/SIGQUIT graceful stop within
 * `gracefulTimeout`; SIGTTIN/SIGTTOU one worker more/less; SIGUSR1 (reopen
 * logs, for gunicorn and nginx) and SIGUSR2 (their binary upgrade) logged
 * and ignored, so that they do not end the service.
 * @module
 */
import { unlinkSync, lstatSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BindError } from "../server/bind.ts";
import { stdoutLog } from "./stdio.ts";
import { monotonicNow } from "./clock.ts";
import { bindSharedSocket } from "./shared-socket.ts";
import { CRASH_BACKOFF_MAX_MS, CRASH_STABLE_MS, crashDelay, SHORT_POOL_RETRY_MAX_MS, shortPoolRetryDelay, spawnHint, workersWarning } from "./pool-policy.ts";
import type { SupervisorMessage, WorkerConfig, WorkerMessage } from "./worker.ts";
import { exitAtOnceHint, onOperatorSignals, onStopSignals, signalExitCode } from "./signals.ts";
import { closeFd, setListenBacklog } from "../server/sys.ts";
import { CUT_REQUEST_CLEANUP_MS } from "../server/connection.ts";
import { MAX_WORKERS_PER_CORE } from "./options.ts";

/** Where supervisor messages go. */
export type SupervisorLog = (level: "info" | "warn" | "error", message: string) => void;

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** The workers' configuration; `deploy.workers` must be set. `inheritFd` is decided by the supervisor. */
  config: Omit<WorkerConfig, "inheritFd">;
  /** Message sink. Default: lines on stderr. */
  log?: SupervisorLog;
  /** The worker entry module. Default `worker-main.ts` beside this file. */
  workerEntry?: string;
  /** Consecutive boot failures after which the supervisor gives up (gunicorn halts on "worker failed to boot"). Default 5. */
  maxBootFailures?: number;
}

interface Worker {
  proc: Subprocess;
  pid: number;
  generation: number;
  listening: boolean;
  /** The supervisor asked it to stop (reload, recycle, shutdown). */
  stopping: boolean;
  lastBeat: number;
  /** The supervisor's `lostMs` (see {@link Supervisor}) when {@link lastBeat} was set: the time lost since is not the worker's silence. */
  lostAtBeat: number;
  /** When it was spawned: a worker not listening `timeout` after it is killed (a hung import). */
  spawnedAt: number;
  /** The supervisor's `lostMs` (see {@link Supervisor}) when it was spawned. */
  lostAtSpawn: number;
  /** When it reported listening ({@link monotonicNow}), 0 before. */
  listeningAt: number;
  requests: number;
  failure: string | null;
  /** How it exited (`code 5`, `signal SIGKILL`), once it has. */
  exited: string | null;
  /** A replacement is being started for it (max-requests). */
  replacing: boolean;
  /** It is the replacement of a worker being recycled (max-requests): if it fails to boot, that worker serves on. */
  recycles: boolean;
  listeners: Array<(ok: boolean) => void>;
  /** Its place in the pool: the quick crashes of the workers that held it before (see {@link crashDelay}). */
  slot: WorkerSlot;
}

/**
 * One place in the worker pool, handed from a worker to its replacement
 * (after a crash, a max-requests recycle): the crash backoff counts the quick
 * crashes of that place's workers, so one slot's crash loop never makes
 * another slot's first crash wait (8 workers of an app that fails on its
 * first request each wait 0.1 s, not up to 10 s).
 */
interface WorkerSlot {
  /** Workers in a row in this slot that crashed within {@link CRASH_STABLE_MS} of listening. */
  quickCrashes: number;
  /**
   * Replacements in a row in this slot that failed to boot since the last reload failed (see
   * {@link shortPoolRetryDelay}): a pool short by two retries each place on its own schedule.
   */
  bootTries: number;
}

/** A new place in the pool: no crashes, no failed boots. */
function newSlot(): WorkerSlot {
  return { quickCrashes: 0, bootTries: 0 };
}

/** Why one of `workers` did not boot: its own message, else how it exited (`worker 4242 exited before listening (code 5)`). */
function bootFailure(workers: Worker[]): string | null {
  const failed = workers.find((w) => w.failure);
  if (failed) return failed.failure;
  const exited = workers.find((w) => !w.listening && w.exited);
  return exited ? `worker ${exited.pid} exited before listening (${exited.exited})` : null;
}

/** The signals a worker stops on (gracefully when serving; their default action while booting). */
const STOP_SIGNALS: ReadonlySet<string> = new Set(["SIGTERM", "SIGINT", "SIGQUIT"]);

/**
 * How long a worker's exit that a stop signal to the whole process group explains (code 0, or
 * one of {@link STOP_SIGNALS}) waits for the supervisor's own handler of that signal before it
 * is taken as a crash, in ms (the same turn the start gives a booting worker).
 */
const STOP_SIGNAL_TURN_MS = 200;

/** `2nd`, `3rd`, `11th`. */
function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

const defaultLog: SupervisorLog = (level, message) => process.stderr.write(`[tsgi supervisor ${process.pid}] ${level}: ${message}\n`);

/** A worker's error log text (already marked `[tsgi worker <pid>] `), written to stderr as it came: the supervisor is its one writer. */
function writeErrorLog(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // stderr is gone: nowhere left to tell
  }
}

/** The supervisor. {@link start} it, then {@link installSignals} (the CLI does both). */
export class Supervisor {
  private readonly config: Omit<WorkerConfig, "inheritFd">;
  private readonly log: SupervisorLog;
  private readonly entry: string;
  private readonly maxBootFailures: number;
  private readonly live = new Map<number, Worker>();
  private sharedFd: number | null = null;
  private ownFd = false;
  private unixPath: string | null = null;
  /** The generation whose code the pool serves: new workers are started with it. */
  private generation = 0;
  /** The highest generation ever started: a reload takes the next, so a failed reload's number is never used again. */
  private lastGeneration = 0;
  /** Workers SIGTTIN started during the reload under way: they run its new code, and are stopped with its new workers if it fails. */
  private reloadAdded: Worker[] = [];
  private target: number;
  private stopping = false;
  private reloading: Promise<boolean> | null = null;
  private reloadStarted = 0;
  private bootFailures = 0;
  /**
   * Why the last reload failed, until a worker of the current generation boots (a later reload,
   * a replacement once the app is fixed): the app on disk is known not to load, so a
   * replacement that fails to boot meanwhile is tried again later, never fatal while workers serve.
   */
  private reloadFailure: string | null = null;
  /** Replacements waiting out their crash backoff: cleared by {@link stop}. */
  private readonly pendingReplacements = new Set<ReturnType<typeof setTimeout>>();
  /** Max-requests recycles whose replacement could not be spawned, waiting to be tried again: cleared by {@link stop}. */
  private readonly pendingRecycles = new Set<ReturnType<typeof setTimeout>>();
  /** The workers' warnings said so far: each once, not once per worker and reload. */
  private readonly warned = new Set<string>();
  /**
   * The workers `start()` is waiting for: one of them that fails ends the start (with its message)
   * instead of being replaced. Empty once the start is over; a worker SIGTTIN adds meanwhile is not one.
   */
  private booting = new Set<Worker>();
  /** {@link start} has ended (the first workers listen, or it failed or was stopped): until then a reload waits in {@link queuedReload}. */
  private started = false;
  /** A reload asked for before {@link start} ended (SIGHUP while the socket is bound or the first workers import): run once it has. */
  private queuedReload: { promise: Promise<boolean>; resolve: (ok: boolean) => void } | null = null;
  private monitor: ReturnType<typeof setInterval> | null = null;
  /** The monitor's period, ms (see {@link startMonitor}). */
  private monitorInterval = 0;
  /** When the monitor last ran ({@link monotonicNow}), 0 before its first run. */
  private lastCheck = 0;
  /**
   * Milliseconds the supervisor itself did not run, summed over its life (ms): how much later
   * than due each heartbeat check came (see {@link checkHeartbeats}). A worker's silence is
   * counted without the part of it that falls in that time.
   */
  private lostMs = 0;
  private stopped: Promise<void> | null = null;
  private exitWaiters: Array<() => void> = [];
  /**
   * The TCP port the workers serve, set by {@link start}: the one bound (the real one when 0 was
   * asked), or an inherited socket's (`fd`, from `getsockname(2)`); 0 for a Unix socket, and for an
   * inherited one whose address cannot be read (not Linux).
   */
  port = 0;
  /** Resolves with the exit code when the supervisor stopped (0) or gave up after too many boot failures in a row (1). */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;

  constructor(options: SupervisorOptions) {
    this.config = options.config;
    if (!options.config.deploy.workers) throw new TypeError("Supervisor: config.deploy.workers is not set");
    this.target = options.config.deploy.workers.workers;
    this.log = options.log ?? defaultLog;
    this.entry = options.workerEntry ?? join(import.meta.dir, "worker-main.ts");
    this.maxBootFailures = options.maxBootFailures ?? 5;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private get settings() {
    return this.config.deploy.workers!;
  }

  /** The number of workers the pool keeps: `--workers`, one more for each SIGTTIN and one fewer for each SIGTTOU since. */
  get workers(): number {
    return this.target;
  }

  /** Pids of the current workers (all generations). */
  pids(): number[] {
    return [...this.live.keys()];
  }

  /** Pids of workers that are listening and not being stopped. */
  servingPids(): number[] {
    return [...this.live.values()].filter((w) => w.listening && !w.stopping).map((w) => w.pid);
  }

  /**
   * Bind the shared socket (unless `reusePort`), start the workers and wait
   * until every one listens.
   * @returns `true` when they all listen; `false` when {@link stop} was called before (nothing is bound or started) or while they booted (nothing serves).
   * @throws Error when the socket cannot be bound or a worker fails to boot (its message).
   */
  async start(): Promise<boolean> {
    let ok = false;
    try {
      return (ok = await this.startPool());
    } finally {
      this.started = true;
      const queued = this.queuedReload;
      this.queuedReload = null;
      // The first workers listen: a reload asked for meanwhile begins next, after the start-up lines
      // (the caller's too); a failed or stopped start has nothing to reload.
      if (queued) {
        if (!ok || this.stopping) queued.resolve(false);
        else setTimeout(() => void this.reload().then(queued.resolve), 0);
      }
    }
  }

  private async startPool(): Promise<boolean> {
    // stop() came first (a SIGTERM while tsgi serve read its TLS files or waited for the development
    // certificate): nothing is bound or started, and the stop has nothing to wait for.
    if (this.stopping) return false;
    this.bind();
    this.generation = this.lastGeneration = 1;
    const tooMany = workersWarning(this.target);
    if (tooMany) this.log("warn", tooMany);
    // The monitor runs while the first workers boot: one that never listens (an import that hangs) is killed at `timeout`.
    this.startMonitor();
    const first: Worker[] = [];
    let results: boolean[];
    try {
      // Each worker joins `booting` as it is spawned: one that fails ends the spawning, and the start.
      try {
        await this.spawnPool(1, this.target, first, (w) => this.booting.add(w));
      } catch (error) {
        await this.stop(); // the workers started so far, and the socket
        throw error;
      }
      results = await Promise.all(first.map((w) => this.whenListening(w)));
    } finally {
      this.booting.clear();
    }
    if (this.stopping) return false; // stopped (a signal) while booting
    // A worker the supervisor stopped itself (SIGTTOU while they booted) did not fail to boot.
    const failed = first.filter((w, i) => !results[i] && !w.stopping);
    // A stop signal sent to the whole process group (Ctrl-C, `kill -TERM -PGID`) also ends booting
    // workers, and their exit may be seen before the supervisor's own handler runs: give it that turn.
    if (failed.some((w) => /^signal SIG(?:INT|TERM|QUIT)$/.test(w.exited ?? ""))) {
      await Bun.sleep(STOP_SIGNAL_TURN_MS);
      if (this.stopping) return false;
    }
    if (failed.length) {
      const failure = bootFailure(failed) ?? "a worker exited before listening";
      await this.stop();
      throw new Error(`worker failed to boot: ${failure}`);
    }
    const serving = this.servingPids();
    const more = this.countServing() - serving.length; // SIGTTIN's workers still importing
    this.log("info", `${serving.length} worker(s) listening (pids ${serving.join(", ")})${more > 0 ? ` and ${more} starting (SIGTTIN)` : ""}`);
    return true;
  }

  /** Check heartbeats and boot times every quarter of `timeout` (at most every second), unless `timeout` is 0. */
  private startMonitor(): void {
    const t = this.settings.timeout;
    if (t <= 0 || this.monitor) return;
    this.monitorInterval = Math.max(50, Math.min(1000, Math.floor(t / 4)));
    this.lastCheck = monotonicNow();
    this.monitor = setInterval(() => this.checkHeartbeats(), this.monitorInterval);
    this.monitor.unref?.();
  }

  /**
   * Bind once and keep a descriptor for the workers to inherit; with a
   * `backlog`, set it on that socket at once, so that connections queue up
   * to it before the first worker listens (each worker sets it again: Bun
   * listens on the socket it inherits anew, with 511).
   */
  private bind(): void {
    const shared = bindSharedSocket(this.config.deploy.server, this.settings.reusePort);
    this.sharedFd = shared.fd;
    this.ownFd = shared.own;
    this.unixPath = shared.unixPath;
    if (shared.port !== undefined) this.port = shared.port;
    const backlog = this.config.deploy.server.backlog;
    if (backlog !== undefined && this.sharedFd !== null) {
      try {
        setListenBacklog(this.sharedFd, backlog); // false off Linux: each worker warns
      } catch (error) {
        throw new BindError(`cannot listen with backlog ${backlog}: ${(error as Error).message}`, "EINVAL", { cause: error });
      }
    }
  }

  /**
   * Start `count` workers of `generation` one after the other (a start, a reload), each pushed on
   * `into` (and handed to `started`) as it is spawned, giving the event loop a turn between two:
   * `Bun.spawn` takes milliseconds, and a loop that never yields would act on no signal until
   * every worker was started (`--workers 99999` spawned for minutes, deaf to SIGTERM). Ends early
   * once the supervisor is stopping (a stop signal: its stop ends every worker spawned so far) or
   * one of `into` exited before listening (the start or reload fails with its message; the rest
   * need not be started).
   * @throws Error when a worker cannot be spawned (`EAGAIN`, `EMFILE`: a process or open-file limit), naming how many were started.
   */
  private async spawnPool(generation: number, count: number, into: Worker[], started: (w: Worker) => void = () => {}): Promise<void> {
    let failed = false;
    for (let i = 0; i < count; i++) {
      if (this.stopping || failed) return;
      let w: Worker;
      try {
        w = this.spawn(generation);
      } catch (error) {
        throw new Error(`cannot start worker ${i + 1} of ${count}: ${(error as Error).message}${spawnHint(error)}`);
      }
      into.push(w);
      started(w);
      void this.whenListening(w).then((ok) => {
        if (!ok && !w.stopping) failed = true;
      });
      // A macrotask (setImmediate), not a microtask: signal handlers run between two.
      if (i + 1 < count) await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Start a worker of `generation` in `slot` (a new slot unless it replaces one). */
  private spawn(generation: number, slot: WorkerSlot = newSlot()): Worker {
    const inheritFd = this.sharedFd !== null;
    const config: WorkerConfig = { ...this.config, inheritFd };
    const stdio = inheritFd ? (["ignore", "inherit", "inherit", this.sharedFd!] as const) : (["ignore", "inherit", "inherit"] as const);
    let worker!: Worker;
    const proc = Bun.spawn([process.execPath, this.entry], {
      cwd: this.config.cwd,
      // The configuration goes over IPC (below), not in the environment, which the app's child processes inherit.
      env: process.env,
      stdio: stdio as unknown as ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc: (message: WorkerMessage) => this.onMessage(worker, message),
      onExit: (_p, code, signal) => this.onExit(worker, code, signal),
    });
    proc.send({ type: "config", config } satisfies SupervisorMessage);
    const now = monotonicNow();
    worker = { proc, pid: proc.pid, generation, listening: false, stopping: false, lastBeat: now, lostAtBeat: this.lostMs, spawnedAt: now, lostAtSpawn: this.lostMs, listeningAt: 0, requests: 0, failure: null, exited: null, replacing: false, recycles: false, listeners: [], slot };
    this.live.set(proc.pid, worker);
    return worker;
  }

  /**
   * Whether `w` itself has not exited: the worker its pid maps to is `w`, not
   * one started later that the kernel gave the same pid (a pid is reused once
   * reaped; a recycle waits up to 30 s before it tries again).
   */
  private isLive(w: Worker): boolean {
    return this.live.get(w.pid) === w;
  }

  /** Resolves `true` when `w` listens, `false` when it exits first. */
  private whenListening(w: Worker): Promise<boolean> {
    if (w.listening) return Promise.resolve(true);
    if (!this.isLive(w)) return Promise.resolve(false);
    return new Promise((r) => w.listeners.push(r));
  }

  private onMessage(w: Worker, m: WorkerMessage): void {
    if (!w || typeof m !== "object" || m === null) return;
    switch (m.type) {
      case "listening":
        w.listening = true;
        w.lastBeat = w.listeningAt = monotonicNow();
        w.lostAtBeat = this.lostMs;
        this.bootFailures = 0;
        w.slot.bootTries = 0;
        if (this.reloadFailure !== null && w.generation === this.generation && this.reloading === null) {
          // The app on disk loads again (fixed without a SIGHUP): replacements boot as usual.
          this.reloadFailure = null;
        }
        for (const l of w.listeners.splice(0)) l(true);
        break;
      case "heartbeat":
        w.lastBeat = monotonicNow();
        w.lostAtBeat = this.lostMs;
        w.requests = m.requests;
        break;
      case "retire":
        w.requests = m.requests;
        void this.recycle(w);
        break;
      case "log":
        if (typeof m.text === "string") stdoutLog.write(m.text);
        break;
      case "errorlog":
        if (typeof m.text === "string") writeErrorLog(m.text);
        break;
      case "warning":
        if (typeof m.message === "string" && !this.warned.has(m.message)) {
          this.warned.add(m.message);
          this.log("warn", m.message);
        }
        break;
      case "failed":
        w.failure = m.message;
        if (this.booting.has(w)) break; // start() throws with it
        this.log("error", `worker ${w.pid} failed: ${m.message}`);
        break;
    }
  }

  private onExit(w: Worker, code: number | null, signal: number | string | null): void {
    if (!w) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    w.exited = how;
    // Its pid may be another worker's already (reused between the reap and this callback).
    if (this.isLive(w)) this.live.delete(w.pid);
    for (const l of w.listeners.splice(0)) l(false);
    for (const waiter of this.exitWaiters.splice(0)) waiter();
    const now = monotonicNow();
    const slot = w.slot;
    // A worker that served CRASH_STABLE_MS ended its slot's run of quick crashes, however it
    // exits (recycled by max-requests, killed, crashed late): the next quick crash in the slot
    // is a first one again, not the n+1-th of a run that ended hours ago.
    const quick = w.listening && now - w.listeningAt < CRASH_STABLE_MS;
    if (w.listening && !quick) slot.quickCrashes = 0;
    if (w.stopping || this.stopping) return;
    // A worker of the first generation that dies before listening fails the start (gunicorn: "worker failed to boot").
    if (!w.listening && this.booting.has(w)) return;
    // A stop signal sent to the whole process group (`kill -TERM -PGID`, Ctrl-C) reaches the workers
    // too: a serving one drains and exits 0, a booting one dies of the signal. On a loaded machine
    // (a pool starting: every worker importing the app) that exit can be seen before the supervisor's
    // own handler has run, and was logged as a crash with a replacement (which the stop then
    // cancelled). Such an exit waits for that handler's turn; anything else is acted on at once.
    if (code === 0 || (typeof signal === "string" && STOP_SIGNALS.has(signal))) {
      const timer = setTimeout(() => {
        this.pendingReplacements.delete(timer);
        if (!this.stopping) this.afterExit(w, how, quick);
      }, STOP_SIGNAL_TURN_MS);
      this.pendingReplacements.add(timer);
      return;
    }
    this.afterExit(w, how, quick);
  }

  /** What {@link onExit} does for a worker the supervisor did not stop: replace it (or give up, or leave it to a reload), and say so. */
  private afterExit(w: Worker, how: string, quick: boolean): void {
    const slot = w.slot;
    // A recycle's replacement that dies before listening: the worker it was to replace serves on and
    // recycle() tries again; the pool is not short, so it is neither replaced here nor a boot failure
    // counted toward giving up (a deploy half done must not stop a server whose workers serve).
    if (!w.listening && w.recycles) return;
    if (!w.listening) {
      this.bootFailures++;
      if (this.reloadFailure !== null && this.reloading === null && this.servingPids().length > 0) {
        // The last reload failed and the app on disk still does not load: the workers of the code
        // before it serve on, so this is no reason to stop them (5 in a row would be, else).
        if (w.recycles) return; // recycle() says so; the worker it was to replace serves on
        slot.bootTries++;
        const delay = shortPoolRetryDelay(slot.bootTries);
        this.log(
          "warn",
          `replacement worker ${w.pid} failed to boot${w.failure ? "" : ` (${how})`}: the app on disk still does not load, as when the last reload failed; ` +
            `the pool is short, ${this.servingPids().length} of ${this.target} worker(s) serving; trying again in ${(delay / 1000).toFixed(1)} s (the wait doubles, up to ${SHORT_POOL_RETRY_MAX_MS / 1000} s): fix the app and send SIGHUP`,
        );
        this.spawnReplacement(delay, slot);
        return;
      }
      if (this.generation === w.generation && this.reloading === null && this.bootFailures >= this.maxBootFailures) {
        this.log("error", `worker ${w.pid} exited before listening (${how}); ${this.bootFailures} boot failures in a row, giving up (exit 1)`);
        // Exit non-zero, so that a service manager restarts the service (systemd's Restart=on-failure).
        void this.stop(1);
        return;
      }
      if (this.reloading !== null && w.generation === this.generation) return; // reload() handles its own failures
    }
    if (this.reloading !== null && w.generation !== this.generation) {
      // The reload under way starts a full pool: its new workers take this place. If it fails, reload() fills it.
      // A worker that never listened (SIGTTIN's, still importing when the reload began) failed to boot; it did not crash.
      const ended = w.listening ? `exited unexpectedly (${how})` : `failed to boot (it exited before listening, ${how})`;
      this.log("warn", `worker ${w.pid} ${ended} during a reload; the new workers take its place (if the reload fails, a replacement is started then)`);
      return;
    }
    let delay = 0;
    if (w.listening) {
      if (quick) slot.quickCrashes++;
      delay = crashDelay(slot.quickCrashes);
    }
    if (!w.listening) this.log("warn", `worker ${w.pid} failed to boot (it exited before listening, ${how}); starting a replacement`);
    else if (slot.quickCrashes < 2) this.log("warn", `worker ${w.pid} exited unexpectedly (${how}); starting a replacement`);
    else {
      const served = ((monotonicNow() - w.listeningAt) / 1000).toFixed(1);
      this.log(
        "warn",
        `worker ${w.pid} exited unexpectedly (${how}) ${served} s after it began listening, the ${ordinal(slot.quickCrashes)} such crash in a row in its slot; ` +
          `starting a replacement in ${(delay / 1000).toFixed(1)} s (the wait doubles with each quick crash, up to ${CRASH_BACKOFF_MAX_MS / 1000} s, until a worker in the slot serves ${CRASH_STABLE_MS / 1000} s)`,
      );
    }
    if (this.generation === w.generation || this.countServing() < this.target) this.spawnReplacement(delay, slot);
  }

  /**
   * The places in the pool taken: workers not stopping, a worker being recycled (max-requests)
   * and its replacement counted once, as they hold one place (the old one stops when the new
   * one listens, or serves on when it fails): counted twice, a crash's replacement due during
   * the recycle's boot was skipped and the pool stayed a worker short.
   */
  private countServing(): number {
    let n = 0;
    for (const x of this.live.values()) if (!x.stopping && !x.replacing) n++;
    return n;
  }

  /** Start a replacement worker in `slot` after `crashWait` ms (see {@link crashDelay}), or later when boots have been failing. */
  private spawnReplacement(crashWait: number, slot: WorkerSlot): void {
    // Never at once: a signal sent to the whole process group (Ctrl-C, `kill -TERM -pgid`)
    // reaches the workers a moment before the supervisor stops, and must not respawn them.
    if (this.stopping) return; // stop() came meanwhile (from the log it was just told)
    const delay = Math.max(100, crashWait, Math.min(5000, this.bootFailures * 200));
    const timer = setTimeout(() => {
      this.pendingReplacements.delete(timer);
      if (this.stopping || this.countServing() >= this.target) return;
      let w: Worker;
      try {
        w = this.spawn(this.generation, slot);
      } catch (error) {
        // A limit reached (EMFILE, EAGAIN): the pool is short until it is lifted; tried again less and less often.
        slot.bootTries++;
        const retry = shortPoolRetryDelay(slot.bootTries);
        this.log(
          "error",
          `cannot start a replacement worker: ${(error as Error).message}${spawnHint(error)}; the pool is short, ${this.countServing()} of ${this.target} worker(s); trying again in ${(retry / 1000).toFixed(1)} s`,
        );
        this.spawnReplacement(retry, slot);
        return;
      }
      void this.whenListening(w).then((ok) => {
        if (ok) this.log("info", `worker ${w.pid} listening (a replacement)`);
      });
    }, delay);
    this.pendingReplacements.add(timer);
  }

  /**
   * `maxRequests` reached: start a replacement, and stop `w` once the replacement listens. A
   * replacement that cannot be spawned (a limit reached: EMFILE, EAGAIN) or that fails to boot
   * (the app on disk does not load, a deploy half done; it exits before listening) leaves `w`
   * serving, and the recycle is tried again after {@link shortPoolRetryDelay}`(tries + 1)` (1 s,
   * doubling, up to 30 s) until it succeeds: the worker asks only once. Such failures are not
   * boot failures that stop the server (gunicorn halts on a worker's boot error; here the pool
   * still serves).
   * @param tries the recycles of `w` tried before this one that did not get a listening replacement.
   */
  private async recycle(w: Worker, tries = 0): Promise<void> {
    if (w.replacing || w.stopping || this.stopping) return;
    if (this.reloading !== null) {
      // A replacement started now would be neither an old worker (stopped by the reload) nor a new
      // one (counted by it): once the reload is done, it would serve beyond --workers for good.
      this.log("info", `worker ${w.pid} served ${w.requests} requests (max-requests); a reload is under way: it is recycled once the reload has ended, unless the reload replaces it`);
      while (this.reloading !== null) await this.reloading;
      if (w.replacing || w.stopping || this.stopping || !this.isLive(w)) return;
    }
    w.replacing = true;
    const again = tries > 0 ? ` (the ${ordinal(tries + 1)} try)` : "";
    this.log("info", `worker ${w.pid} served ${w.requests} requests (max-requests); recycling${again}`);
    let next: Worker;
    try {
      next = this.spawn(this.generation, w.slot);
    } catch (error) {
      w.replacing = false;
      this.recycleAgain(w, tries, `cannot start the replacement for worker ${w.pid} (max-requests): ${(error as Error).message}${spawnHint(error)}`);
      return;
    }
    next.recycles = true;
    const ok = await this.whenListening(next);
    if (!ok) {
      w.replacing = false;
      if (w.stopping || this.stopping) return; // a reload or a stop took both meanwhile
      // The app on disk does not load (a deploy half done) or the worker died first: its own error was logged.
      const why = next.failure ? "" : ` (it exited before listening, ${next.exited ?? "killed"})`;
      this.recycleAgain(w, tries, `the replacement for worker ${w.pid} failed to boot${why}`);
      return;
    }
    this.terminate(w);
  }

  /**
   * A recycle of `w` that did not get a listening replacement (`failure` says why): `w` serves on,
   * and the recycle is tried again after {@link shortPoolRetryDelay}`(tries + 1)` (1 s, doubling,
   * up to 30 s: one line per try), unless the worker is gone or stopping by then (a reload under
   * way replaces it: the line says so).
   */
  private recycleAgain(w: Worker, tries: number, failure: string): void {
    const retry = shortPoolRetryDelay(tries + 1);
    const wait = `${(retry / 1000).toFixed(1)} s`;
    // A SIGHUP reload under way stops `w` with the other old workers once its new ones listen: the
    // retry below then finds it stopping and does nothing; it recycles `w` only if the reload fails.
    const then =
      this.reloading !== null
        ? `a reload is under way, which replaces it; if the reload fails, the recycle is tried again once it has ended (in ${wait} at the earliest)`
        : `trying the recycle again in ${wait} (the wait doubles, up to ${SHORT_POOL_RETRY_MAX_MS / 1000} s)`;
    this.log("error", `${failure}; the old worker keeps serving; ${then}`);
    const timer = setTimeout(() => {
      this.pendingRecycles.delete(timer);
      if (this.isLive(w)) void this.recycle(w, tries + 1);
    }, retry);
    this.pendingRecycles.add(timer);
  }

  /**
   * Ask a worker to drain and exit; kill it if it has not after the graceful
   * timeout and the time its server may take to end the requests it cut
   * (their bodies' `close()`, their posthooks: `CUT_REQUEST_CLEANUP_MS`).
   */
  private terminate(w: Worker): void {
    if (w.stopping) return;
    w.stopping = true;
    w.proc.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (this.isLive(w)) {
        this.log("warn", `worker ${w.pid} did not exit within the graceful timeout; killing it`);
        w.proc.kill("SIGKILL");
      }
    }, this.settings.gracefulTimeout + CUT_REQUEST_CLEANUP_MS + 1000);
    timer.unref?.();
  }

  /**
   * Kill the workers that sent no heartbeat (or did not listen) within `timeout` of the
   * supervisor's own running time. A check that comes later than due (by more than its period)
   * means the supervisor itself did not run meanwhile (SIGSTOP, a laptop suspend, a VM pause, a
   * starved or busy process): the workers' heartbeats of that time still wait unread in its IPC
   * pipes, so that time is added to {@link lostMs} and not counted in any worker's silence. Only
   * that time: a worker that is really hung is killed once it has been silent for `timeout` of
   * the time the supervisor ran, however often the supervisor is late (each check adds at least
   * one period of it). A check more than a quarter of `timeout` (and a period) late is logged.
   * gunicorn's arbiter reaches the same end another way: it reads each worker's heartbeat
   * file's ctime, which the workers keep updating while the arbiter is stopped.
   */
  private checkHeartbeats(): void {
    const now = monotonicNow();
    const limit = this.settings.timeout;
    const late = now - this.lastCheck - this.monitorInterval;
    this.lastCheck = now;
    if (late > 0) this.lostMs += late;
    if (late > Math.max(this.monitorInterval, limit / 4)) {
      const away = Math.round((late + this.monitorInterval) / 100) / 10;
      this.log(
        "warn",
        `the supervisor was not running for ${away}s (the process stopped, suspended, paused or starved of CPU): the workers' heartbeats of that time are not read yet, so that time is not counted against any worker (--timeout counts the supervisor's running time)`,
      );
    }
    for (const w of this.live.values()) {
      if (w.stopping) continue;
      if (!w.listening) {
        // gunicorn's --timeout covers booting too: an import that never settles (a top-level await) would otherwise hold start-up or a reload forever.
        if (w.failure === null && now - w.spawnedAt - (this.lostMs - w.lostAtSpawn) > limit) {
          w.failure = `worker ${w.pid} did not listen within ${limit / 1000}s of starting (--timeout); its import may be hanging (a top-level await that never settles)`;
          // start() and reload() report it in their own message.
          if (!this.booting.has(w) && !(this.reloading !== null && w.generation === this.generation)) this.log("error", `${w.failure}: killing it`);
          w.proc.kill("SIGKILL");
        }
        continue;
      }
      const lost = this.lostMs - w.lostAtBeat;
      const silent = now - w.lastBeat - lost;
      if (silent > limit) {
        const away = lost >= 100 ? ` of the supervisor's running time (not counting ${Math.round(lost / 100) / 10}s it was not running)` : "";
        this.log("error", `worker ${w.pid} sent no heartbeat for ${Math.round(silent / 100) / 10}s${away} (timeout ${limit / 1000}s): killing and replacing it`);
        w.lastBeat = now; // once
        w.lostAtBeat = this.lostMs;
        w.proc.kill("SIGKILL");
      }
    }
  }

  /**
   * Graceful reload (SIGHUP): start a full set of new workers (which import
   * the app afresh), wait until all listen, then stop the old ones, which
   * finish their in-flight requests within the graceful timeout. If a new
   * worker fails to boot, the new ones are stopped (with those SIGTTIN
   * started meanwhile, which run the new code too) and the old ones keep
   * serving; so does a new worker not listening within `timeout` (killed
   * by the monitor). Called again while a reload is under way, it logs so and
   * returns that reload's promise. Called before {@link start} has ended (the
   * socket not bound yet, or the first workers still importing), it logs that
   * the reload is queued and begins it once they all listen (`false` when the
   * start fails or is stopped).
   * @returns whether the reload took place.
   */
  reload(): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    if (!this.started) {
      // Before the socket is bound its workers would have none to inherit (SIGHUP while tsgi serve
      // reads its TLS files), and while the first workers import the start would count the reload's too.
      if (this.queuedReload) {
        this.log("info", "SIGHUP while the first workers start: a reload is already queued; this one adds nothing");
        return this.queuedReload.promise;
      }
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => (resolve = r));
      this.queuedReload = { promise, resolve };
      this.log("info", "SIGHUP while the first workers start: the reload is queued; it begins once they all listen");
      return promise;
    }
    if (this.reloading) {
      this.log("warn", `reload already in progress (started ${Math.round((monotonicNow() - this.reloadStarted) / 100) / 10}s ago); this one is ignored: send SIGHUP again once it has ended`);
      return this.reloading;
    }
    this.reloadStarted = monotonicNow();
    this.reloading = (async () => {
      const old = [...this.live.values()].filter((w) => !w.stopping);
      const previous = this.generation;
      const gen = (this.generation = ++this.lastGeneration);
      this.reloadAdded = [];
      this.log("info", `reloading: starting ${this.target} new worker(s)`);
      const fresh: Worker[] = [];
      // A worker that cannot be spawned (a process or open-file limit) fails the reload as one that does not boot.
      let spawnFailure: string | null = null;
      try {
        await this.spawnPool(gen, this.target, fresh);
      } catch (error) {
        spawnFailure = (error as Error).message;
      }
      const ok = spawnFailure === null && (await Promise.all(fresh.map((w) => this.whenListening(w)))).every(Boolean);
      // A stop signal meanwhile stopped the new workers too: nothing failed, and nothing is to be replaced.
      if (this.stopping) return false;
      if (!ok) {
        const why = spawnFailure ?? bootFailure(fresh) ?? "a new worker exited before listening";
        this.generation = previous;
        // Every worker of the failed generation runs the new code: the reload's own, those SIGTTIN started
        // meanwhile (the reload did not wait for them, and one may have booted), a crash's replacement.
        // Only the old code serves on; an added worker's place is empty, retried as below.
        const added: string[] = [];
        for (const w of this.reloadAdded) {
          const what = `worker ${w.pid}, started by SIGTTIN during the reload`;
          if (w.exited !== null) added.push(`${what}, exited${w.listening ? "" : " before listening"} (${w.exited})`);
          else if (!w.stopping) added.push(`${what}, runs the new code: stopped`);
        }
        for (const w of this.live.values()) if (w.generation === gen) this.terminate(w);
        this.reloadFailure = why;
        const serving = this.countServing();
        if (serving >= this.target) {
          this.log("error", `reload failed (${why}); the old workers keep serving${added.length ? ` (${added.join("; ")})` : ""}`);
          return false;
        }
        // Old workers that exited meanwhile were left to the new ones: their places are empty.
        const gone = old.filter((w) => w.exited !== null && !w.stopping).map((w) => `worker ${w.pid} exited (${w.exited}) during the reload`);
        gone.push(...added);
        const delay = shortPoolRetryDelay(1);
        this.log(
          "error",
          `reload failed (${why}); the old workers keep serving, but the pool is short: ${serving} of ${this.target} worker(s)${gone.length ? ` (${gone.join("; ")})` : ""}. ` +
            `A replacement imports the app as it is on disk, which just failed to load: trying in ${(delay / 1000).toFixed(1)} s, then less often (up to every ${SHORT_POOL_RETRY_MAX_MS / 1000} s), never giving up while a worker serves; fix the app and send SIGHUP`,
        );
        for (let i = serving; i < this.target; i++) this.spawnReplacement(delay, { quickCrashes: 0, bootTries: 1 });
        return false;
      }
      this.reloadFailure = null;
      for (const w of old) this.terminate(w);
      this.log("info", `reloaded: new workers ${fresh.map((w) => w.pid).join(", ")}; old workers draining`);
      // A new worker that crashed after it listened, while the others still booted: its replacement
      // was not started then (the old workers still held the places). Start it now, in the crashed
      // worker's slot, so that its quick crash counts: an app that crashes in a loop after the reload
      // backs off from the 2nd crash on, not from a 1st again.
      const serving = this.countServing();
      if (serving < this.target) {
        const held = new Set([...this.live.values()].map((w) => w.slot));
        const gone = fresh.filter((w) => w.exited !== null && !w.stopping && !held.has(w.slot));
        const what = gone.length ? `new worker(s) ${gone.map((w) => `${w.pid} (${w.exited})`).join(", ")} exited during the reload` : "a worker exited during the reload";
        this.log("warn", `${serving} of ${this.target} worker(s) serving after the reload (${what}); starting ${this.target - serving} replacement(s)`);
        for (let i = serving; i < this.target; i++) {
          const slot = gone.shift()?.slot ?? newSlot();
          this.spawnReplacement(slot.quickCrashes > 0 ? crashDelay(slot.quickCrashes) : 0, slot);
        }
      }
      // SIGTTOU during the reload made the pool smaller after the new workers were started for its old size.
      let surplus = serving - this.target;
      const extra: number[] = [];
      for (const w of [...fresh].reverse()) {
        if (surplus <= 0) break;
        if (w.stopping || !this.isLive(w)) continue;
        this.terminate(w);
        extra.push(w.pid);
        surplus--;
      }
      if (extra.length) this.log("info", `the pool was made smaller during the reload (SIGTTOU): keeping ${this.target} worker(s), stopping new worker(s) ${extra.join(", ")} gracefully`);
      return true;
    })().finally(() => {
      this.reloading = null;
      this.reloadAdded = [];
    });
    return this.reloading;
  }

  /** One worker more (SIGTTIN), up to the bound `--workers` has ({@link MAX_WORKERS_PER_CORE} per CPU core: `os.availableParallelism()`, which Bun counts once per process). */
  increment(): void {
    if (this.stopping) return;
    const cores = availableParallelism();
    if (this.target >= MAX_WORKERS_PER_CORE * cores) {
      this.log("warn", `SIGTTIN refused: the pool has ${this.target} worker(s), the most --workers allows (${MAX_WORKERS_PER_CORE} per CPU core, ${cores} here); to go higher, give tsgi serve more CPU cores (taskset, a container's cpuset) and restart it`);
      return;
    }
    this.target++;
    if (this.generation === 0) {
      // Before start() has bound the socket (tsgi serve reading its TLS files), a worker would have none to inherit: start() starts one more.
      this.log("info", `one worker more: ${this.target} worker(s) (the first workers are not started yet: ${this.target} will start)`);
      return;
    }
    let w: Worker;
    try {
      w = this.spawn(this.generation);
    } catch (error) {
      this.target--;
      this.log("error", `one worker more: cannot start a worker: ${(error as Error).message}${spawnHint(error)}; still ${this.target} worker(s)`);
      return;
    }
    if (this.reloading !== null) this.reloadAdded.push(w);
    // During a reload it imports the app as the reload's new workers do, but the reload does not wait for it (and stops it if it fails).
    const during = this.reloading !== null ? `, which imports the app as the reload's new workers do; the reload under way does not wait for it, and stops it with them if it fails` : "";
    this.log("info", `one worker more: ${this.target} worker(s) (starting ${w.pid}${during})`);
  }

  /** One worker fewer, never below one (SIGTTOU): a replacement waiting out its crash backoff is dropped first, else a serving worker is stopped gracefully. */
  decrement(): void {
    if (this.stopping) return;
    if (this.target <= 1) {
      this.log("info", "one worker fewer: already at 1 worker, the minimum; unchanged");
      return;
    }
    this.target--;
    // A slot whose worker crashed and whose replacement waits out its backoff is the one to drop
    // (gunicorn would simply not spawn it): stopping a serving worker instead would leave one
    // fewer serving until the wait ends, and then start the crashing slot's worker again.
    const pending = this.countServing() <= this.target ? this.pendingReplacements.values().next().value : undefined;
    if (pending !== undefined) {
      clearTimeout(pending);
      this.pendingReplacements.delete(pending);
      this.log("info", `one worker fewer: ${this.target} worker(s) (the replacement waiting to start after a crash is not started)`);
      return;
    }
    // Not a worker being recycled: it stops anyway once its replacement listens, which would then take its place.
    const candidates = [...this.live.values()].filter((w) => !w.stopping && !w.replacing);
    // A replacement still booting before a serving worker (after a failed reload it cannot boot at all,
    // and stopping a serving worker would leave one fewer serving than asked); never a recycle's
    // replacement (its worker would serve on) nor a worker of a reload under way (the reload would fail).
    const booting = candidates.find((w) => !w.listening && !w.recycles && !(this.reloading !== null && w.generation === this.generation));
    const victim = booting ?? candidates[0];
    if (victim) this.terminate(victim);
    // A recycle's replacement (every other worker is being recycled too): its slot goes, so the worker
    // it was to replace stops as well; left serving ("the replacement failed to boot"), the pool would stay one above.
    const replaced = victim?.recycles ? [...this.live.values()].find((w) => w.replacing && w.slot === victim.slot && !w.stopping) : undefined;
    if (replaced) this.terminate(replaced);
    // A worker still importing the app has no requests to finish: "gracefully" would say it had.
    const how = `${victim && !victim.listening ? ", still importing the app" : " gracefully"}${replaced ? `, with worker ${replaced.pid}, which it was to replace (max-requests)` : ""}`;
    let what = victim ? ` (stopping ${victim.pid}${how})` : "";
    if (this.reloading !== null) {
      // The reload's new workers were started for the old size: it stops the ones beyond the new size once they all listen.
      const which = victim ? ` (stopping ${victim.generation === this.generation ? "new" : "old"} worker ${victim.pid}${how} now)` : "";
      what = `${which}; a reload is under way: once its new workers all listen, it keeps ${this.target} of them and stops the rest`;
    }
    this.log("info", `one worker fewer: ${this.target} worker(s)${what}`);
  }

  /**
   * Stop accepting and drain: every worker gets SIGTERM and the graceful
   * timeout to finish; stragglers are killed. Releases the socket (and
   * removes a Unix socket file the supervisor created). {@link done}
   * resolves with `exitCode` once the workers are gone: 0 for a stop that
   * was asked for, 1 when the supervisor gives up.
   */
  stop(exitCode = 0): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    if (this.monitor) clearInterval(this.monitor);
    for (const timer of this.pendingReplacements) clearTimeout(timer);
    this.pendingReplacements.clear();
    for (const timer of this.pendingRecycles) clearTimeout(timer);
    this.pendingRecycles.clear();
    this.stopped = (async () => {
      for (const w of this.live.values()) this.terminate(w);
      // The workers close their copies of the listening socket as they drain;
      // the supervisor's own copy would keep it listening, so new connections
      // would queue unanswered and be reset at exit instead of refused. An
      // inherited socket (--fd, systemd) stays open: its owner keeps it.
      if (this.sharedFd !== null && this.ownFd) closeFd(this.sharedFd);
      this.sharedFd = null;
      const deadline = monotonicNow() + this.settings.gracefulTimeout + CUT_REQUEST_CLEANUP_MS + 3000;
      while (this.live.size > 0 && monotonicNow() < deadline) {
        await new Promise<void>((r) => {
          this.exitWaiters.push(r);
          setTimeout(r, 250).unref?.();
        });
      }
      for (const w of this.live.values()) w.proc.kill("SIGKILL");
      if (this.unixPath) {
        try {
          if (lstatSync(this.unixPath).isSocket()) unlinkSync(this.unixPath);
        } catch {
          // already gone
        }
      }
      this.resolveDone(exitCode);
    })();
    return this.stopped;
  }

  /**
   * SIGHUP → reload, SIGTERM/SIGINT/SIGQUIT → stop and exit 0, SIGTTIN/SIGTTOU
   * → ±1 worker, SIGUSR1/SIGUSR2 → logged, otherwise ignored (their default
   * action would end the supervisor: logrotate's `postrotate kill -USR1`).
   */
  installSignals(exit: (code: number) => void = (code) => process.exit(code)): void {
    process.on("SIGHUP", () => void this.reload());
    onStopSignals(
      (name) => {
        const how = name === "SIGQUIT" ? "stopping gracefully, as for SIGTERM (nginx's graceful stop)" : "stopping";
        const grace = `in-flight requests get ${this.settings.gracefulTimeout / 1000}s ${exitAtOnceHint(name)}`;
        const serving = this.servingPids();
        // Before the first workers listen (their import of the app, the TLS files) nothing is in flight: no grace to promise.
        if (!this.started && serving.length === 0) this.log("info", `${name}: stopping while starting, before serving`);
        else if (!this.started) {
          // Some of the first workers listen (the supervisor starts them one after the other), the others still import the app.
          this.log("info", `${name}: ${how}; the pool was still starting: ${serving.length} of ${this.target} worker(s) already serving (pid${serving.length > 1 ? "s" : ""} ${serving.join(", ")}), and ${grace}${serving.length < this.target ? "; the rest are stopped before serving" : ""}`);
        } else this.log("info", `${name}: ${how}; ${grace}`);
        void this.stop().then(() => exit(0));
      },
      (name) => {
        this.log("warn", `${name} again: exiting now`);
        for (const w of this.live.values()) w.proc.kill("SIGKILL");
        exit(signalExitCode(name));
      },
      ["SIGTERM", "SIGINT", "SIGQUIT"],
    );
    onOperatorSignals(
      (message) => this.log("info", message),
      (message) => this.log("warn", message),
    );
    process.on("SIGTTIN", () => this.increment());
    process.on("SIGTTOU", () => this.decrement());
    void this.done.then((code) => {
      if (code !== 0) exit(code);
    });
  }
}
