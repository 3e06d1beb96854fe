/**
 * How the worker pool paces and sizes itself (gunicorn's arbiter restarts at
 * once; these are tsgi's): the backoff before replacing a worker that
 * crashed soon after it began listening, the retry delay for a place in the
 * pool while the app on disk fails to load, the warning for a pool far
 * larger than the CPUs, and what to say when a worker cannot be spawned.
 * Used by the supervisor (`supervisor.ts` beside this file).
 * @module
 */
import { availableParallelism } from "node:os";

/**
 * A worker that exits unexpectedly less than this long after it began
 * listening crashed quickly (ms); one that served this long ends a run of
 * quick crashes (see {@link crashDelay}).
 */
export const CRASH_STABLE_MS = 10_000;
/** The longest wait before a replacement for a worker in a run of quick crashes, ms. */
export const CRASH_BACKOFF_MAX_MS = 10_000;

/**
 * How long to wait before replacing a worker that crashed, when it is the
 * `crashes`-th quick crash in a row (see {@link CRASH_STABLE_MS}): 100 ms
 * for the first (a signal to the whole process group reaches the workers a
 * moment before the supervisor), doubling with each one after it, up to
 * {@link CRASH_BACKOFF_MAX_MS}. A worker that listens and then crashes at
 * once (a throw in a timer the app starts, a fatal error on its first
 * request) is thus not restarted ten times a second for ever.
 */
export function crashDelay(crashes: number): number {
  return Math.min(CRASH_BACKOFF_MAX_MS, 100 * 2 ** Math.max(0, crashes - 1));
}

/** The longest wait between tries to fill a place in the pool while the app on disk fails to load (after a failed reload), ms. */
export const SHORT_POOL_RETRY_MAX_MS = 30_000;

/**
 * How long to wait before the `tries`-th try to fill a place in the pool
 * after a reload failed (the app on disk does not load): 1 s, doubling with
 * each replacement that fails to boot, up to {@link SHORT_POOL_RETRY_MAX_MS}.
 */
export function shortPoolRetryDelay(tries: number): number {
  return Math.min(SHORT_POOL_RETRY_MAX_MS, 1000 * 2 ** Math.max(0, tries - 1));
}

/** Workers per CPU above which {@link workersWarning} warns. */
export const WORKERS_PER_CPU_WARNING = 8;

/**
 * The warning for a pool far larger than the CPUs can run: more than
 * {@link WORKERS_PER_CPU_WARNING} workers per CPU this process may use
 * (`os.availableParallelism()`, which counts the CPUs of its affinity mask:
 * `taskset`, a container's cpuset). Such a pool is warned of, not refused,
 * up to `MAX_WORKERS_PER_CORE` (32) per core, past which
 * `resolveDeployOptions` refuses `--workers` (gunicorn takes any count): it
 * is started one worker at a time, and a stop signal ends it at any moment.
 * SIGTTIN adds workers up to that bound and is refused with a warning at
 * it (gunicorn's adds any number).
 * @param workers the pool's size (`--workers`).
 * @param cpus the CPUs available (default `os.availableParallelism()`).
 * @returns the warning, or `null` when `workers` is at most 8 per CPU.
 */
export function workersWarning(workers: number, cpus: number = availableParallelism()): string | null {
  if (workers <= WORKERS_PER_CPU_WARNING * cpus) return null;
  return (
    `--workers ${workers} is more than ${WORKERS_PER_CPU_WARNING} per CPU: this process may use ${cpus} CPU(s), and each worker is a whole Bun process ` +
    `(some 30-60 MiB of memory, its own event loop), so workers beyond a few per CPU add memory and start-up time, not throughput; ` +
    `about one per CPU (--workers ${cpus}) is usual. Starting them one at a time; SIGTERM or Ctrl-C stops at any moment`
  );
}

/** What to do when `Bun.spawn` failed with `error` (a limit reached), as the end of a sentence; "" when the cause is not a known limit. */
export function spawnHint(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case "EMFILE":
    case "ENFILE":
      return " (the supervisor holds descriptors for each worker: raise the open-file limit, ulimit -n or systemd's LimitNOFILE=, or start fewer --workers)";
    case "EAGAIN":
      return " (the limit on processes is reached: raise it, ulimit -u or systemd's TasksMax=, or start fewer --workers)";
    case "ENOMEM":
      return " (out of memory for another process: start fewer --workers)";
    default:
      return "";
  }
}
