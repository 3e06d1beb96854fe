/**
 * An error's `cause` chain (ES2022 `Error.cause`, Python's `__cause__`) and
 * an `AggregateError`'s `errors` (ES2021; what `Promise.any` rejects with):
 * the gateway tells an application error that wraps the client's leaving
 * (`new Error("upload failed", { cause })` around a `ClientDisconnected`, an
 * `AggregateError` of fetches aborted with `tsgi.signal`'s reason) from one
 * of its own by looking down them (spec.md "Error handling").
 * @module
 */

/** How deep {@link inCauseChain} looks: the error itself and 7 levels of causes or aggregated errors below it. */
export const CAUSE_DEPTH = 8;

/** How many errors {@link inCauseChain} looks at in all, the error itself included (an `AggregateError` of many fetches). */
export const CAUSE_NODES = 32;

/** The errors one level below `link`: its `cause`, then an `AggregateError`'s `errors`. Throws what a getter or a `Proxy` throws. */
function below(link: unknown): unknown[] {
  if (typeof link !== "object" || link === null) return [];
  const next: unknown[] = [];
  if ("cause" in link) next.push((link as { cause: unknown }).cause);
  if (link instanceof AggregateError) {
    const errors: unknown = (link as { errors: unknown }).errors;
    if (Array.isArray(errors)) next.push(...errors.slice(0, CAUSE_NODES));
  }
  return next;
}

/**
 * Whether `match` is true for `error` or for an error down its `cause`
 * chain or in an `AggregateError`'s `errors` (breadth first, at most
 * {@link CAUSE_DEPTH} levels deep and {@link CAUSE_NODES} errors in all; an
 * error seen before is not looked at again, so a loop ends). Never throws: a
 * `cause` or `errors` getter or a `Proxy` that throws ends that branch, a
 * `match` that throws counts as `false`.
 */
export function inCauseChain(error: unknown, match: (error: unknown) => boolean): boolean {
  const seen = new Set<unknown>();
  let level: unknown[] = [error];
  for (let depth = 0; depth < CAUSE_DEPTH && level.length > 0; depth++) {
    const next: unknown[] = [];
    for (const link of level) {
      if (seen.has(link)) continue;
      if (seen.size >= CAUSE_NODES) return false;
      seen.add(link);
      try {
        if (match(link)) return true;
      } catch {
        // (Counts as no match.)
      }
      try {
        next.push(...below(link));
      } catch {
        // (Ends this branch.)
      }
    }
    level = next;
  }
  return false;
}
