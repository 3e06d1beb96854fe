/**
 * The user errors of tsgi's commands (`tsgi serve`, `tsgi-dev`): each is
 * printed as one line, without a stack, and ends the command.
 *
 * - {@link UsageError}: the command line or an option is wrong (exit 2);
 * - {@link StartupError}: the command could not start, e.g. the app does not
 *   load or the TLS files cannot be read (exit 1).
 *
 * A socket that cannot be bound is the server's `BindError`
 * (`src/server/bind.ts`), which the commands report the same way (exit 1).
 * @module
 */

/** A bad command line or option value: one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure to start: one line, exit code 1. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}
