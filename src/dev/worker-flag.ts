/**
 * How restart mode's supervisor tells the process it starts that it is an
 * app process, and what to do: a hidden first argument,
 * `--tsgi-dev-worker=<WorkerSpec as JSON>`, which the app process removes
 * from `process.argv` before the app loads.
 *
 * Not an environment variable: the app's own children would inherit it.
 * Deleting it from `process.env` is not enough, because `Bun.spawn` without
 * `env` gives a child the environment the process *started* with, not
 * `process.env`; in the compiled binary such a child that runs
 * `process.execPath` (the binary) would then start as a second app process
 * ("cannot serve file descriptor 3"). A process's arguments are its own.
 * @module
 */
import type { WorkerSpec } from "./supervisor.ts";

/** The hidden argument that makes `tsgi-dev` an app process of restart mode. */
export const WORKER_FLAG = "--tsgi-dev-worker";

/** The arguments (after the command, before nothing else) that start an app process doing `spec`. */
export function workerArgs(spec: WorkerSpec): string[] {
  return [`${WORKER_FLAG}=${JSON.stringify(spec)}`];
}

/**
 * The spec this process was started with, taken out of `argv` (by default
 * `process.argv`, from which the argument is removed, so the app sees the
 * arguments it would see without it), or `null` when this process is not an
 * app process.
 * @throws Error saying the flag is tsgi-dev's own when its value is not a spec (someone typed it).
 */
export function takeWorkerSpec(argv: string[] = process.argv): WorkerSpec | null {
  const arg = argv[2];
  if (arg === undefined || !(arg === WORKER_FLAG || arg.startsWith(`${WORKER_FLAG}=`))) return null;
  argv.splice(2, 1);
  try {
    const spec = JSON.parse(arg.slice(WORKER_FLAG.length + 1)) as WorkerSpec;
    if (typeof spec?.config?.app?.raw === "string") return spec;
  } catch {
    // reported below
  }
  throw new Error(`${WORKER_FLAG} is tsgi-dev's own (restart mode starts its app processes with it); run tsgi-dev <app> --reload=restart instead`);
}
