/**
 * The compiled `tsgi-dev` binary and the processes the app starts.
 *
 * Under `bun src/cli/dev.ts`, `process.execPath` is Bun, so an app's
 * `fork("./job.ts")` (`node:child_process`, which runs `process.execPath`)
 * or `Bun.spawn([process.execPath, "job.ts"])` runs the script with Bun. In
 * the compiled binary `process.execPath` is the binary: without more, such a
 * child would be a second tsgi-dev, taking `job.ts` for an app to serve
 * (`unexpected argument`, or a second server). Bun's standalone executables
 * run as the plain `bun` CLI when `BUN_BE_BUN=1` is in their environment
 * (Bun docs, "Single-file executable"), so the binary puts it in its own
 * `process.env`, which children inherit; its own app processes (restart
 * mode, {@link tsgiDevEnv}) are started without it.
 * @module
 */

/** The variable that makes a Bun standalone executable run as the `bun` CLI. */
export const BE_BUN_ENV = "BUN_BE_BUN";

/** Whether this process is the compiled binary (its main module is in Bun's embedded `/$bunfs/`, `B:\~BUN\` on Windows). */
export function isCompiled(main: string = Bun.main): boolean {
  return main.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(main);
}

/**
 * In the compiled binary, make the app's children started with
 * `process.execPath` run as Bun (see the module doc). Call before the app
 * loads; a no-op under `bun`.
 */
export function runExecPathChildrenAsBun(): void {
  if (isCompiled()) process.env[BE_BUN_ENV] = "1";
}

/** `env` for a process that must run as tsgi-dev itself (the compiled binary started again): without {@link BE_BUN_ENV}. */
export function tsgiDevEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const copy = { ...env };
  delete copy[BE_BUN_ENV];
  return copy;
}
