/**
 * Errors no request owns: a promise the app forgot to await that rejects, a
 * throw inside a timer or an event listener. Bun, like Node, ends the
 * process on them; a dev server whose process runs the app must outlive its
 * mistakes (as `bun --hot` does), so they are reported and serving goes on.
 * @module
 */

/** What kind of stray error it was, for the report. */
export type StrayKind = "unhandledRejection" | "uncaughtException";

/**
 * Report `unhandledRejection` and `uncaughtException` with `report` instead
 * of letting them end the process, until the returned function is called.
 * @returns a function that removes the listeners.
 */
export function catchStrayErrors(report: (error: unknown, kind: StrayKind) => void): () => void {
  const onRejection = (reason: unknown) => report(reason, "unhandledRejection");
  const onException = (error: unknown) => report(error, "uncaughtException");
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  };
}
