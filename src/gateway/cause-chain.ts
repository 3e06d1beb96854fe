/**
 * An error's `cause` chain (ES2022 `Error.cause`, Python's `__cause__`): the
 * gateway tells an application error that wraps the client's leaving (`new
 * Error("upload failed", { cause })` around a `ClientDisconnected`) from one
 * of its own by looking down it (spec.md "Error handling").
 * @module
 */

/** How many errors of a `cause` chain {@link inCauseChain} looks at: the error itself and 7 causes. */
export const CAUSE_DEPTH = 8;

/**
 * Whether `match` is true for `error` or for an error down its `cause`
 * chain, looking at {@link CAUSE_DEPTH} of them at most (a chain that loops
 * back ends there too). Never throws: a `cause` getter or a `Proxy` that
 * throws ends the chain, a `match` that throws counts as `false`.
 */
export function inCauseChain(error: unknown, match: (error: unknown) => boolean): boolean {
  let link = error;
  for (let i = 0; i < CAUSE_DEPTH; i++) {
    try {
      if (match(link)) return true;
    } catch {
      // (Counts as no match.)
    }
    try {
      if (typeof link !== "object" || link === null || !("cause" in link)) return false;
      link = (link as { cause: unknown }).cause;
    } catch {
      return false;
    }
  }
  return false;
}
