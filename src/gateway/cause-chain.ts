/**
 * An error's `cause` chain (ES2022 `Error.cause`, Python's `__cause__`), an
 * `AggregateError`'s `errors` (ES2021; what `Promise.any` rejects with) and
 * a `SuppressedError`'s `error` and `suppressed` (ES2026 explicit resource
 * management: a disposer that threw while `using` unwound another error):
 * the gateway tells an application error that wraps the client's leaving
 * (`new Error("upload failed", { cause })` around a `ClientDisconnected`, an
 * `AggregateError` of fetches aborted with `tsgi.signal`'s reason) from one
 * of its own by looking down them (spec.md "Error handling").
 * @module
 */

/** How deep {@link inCauseChain} looks: the error itself and 7 levels of causes or aggregated errors below it. */
export const CAUSE_DEPTH = 8;

/** How many of one `AggregateError`'s `errors` {@link inCauseChain} looks at (the first ones). */
export const CAUSE_WIDTH = 32;

/**
 * How many errors {@link inCauseChain} looks at in all, the error itself
 * included: room for an `AggregateError` of {@link CAUSE_WIDTH} errors and
 * the causes of each (`Promise.any` over many fetches, each wrapped).
 */
export const CAUSE_NODES = 128;

/** `SuppressedError` where the runtime has it (Bun does), else `null`. */
const SUPPRESSED: (abstract new (...args: never[]) => object) | null =
  typeof (globalThis as { SuppressedError?: unknown }).SuppressedError === "function"
    ? ((globalThis as { SuppressedError?: unknown }).SuppressedError as abstract new (...args: never[]) => object)
    : null;

/**
 * Push the errors one level below `link` onto `next`: its `cause`, a
 * `SuppressedError`'s `error` and `suppressed`, then the first
 * {@link CAUSE_WIDTH} of an `AggregateError`'s `errors` (read by index: no
 * `slice` or other method of the application's array is called). Throws
 * what a getter or a `Proxy` throws (what was pushed before stays).
 */
function below(link: unknown, next: unknown[]): void {
  if (typeof link !== "object" || link === null) return;
  if ("cause" in link) next.push((link as { cause: unknown }).cause);
  if (SUPPRESSED !== null && link instanceof SUPPRESSED) {
    next.push((link as { error: unknown }).error, (link as { suppressed: unknown }).suppressed);
  }
  if (link instanceof AggregateError) {
    const errors: unknown = (link as { errors: unknown }).errors;
    if (!Array.isArray(errors)) return;
    const length: unknown = errors.length;
    const n = typeof length === "number" && length < CAUSE_WIDTH ? length : CAUSE_WIDTH;
    for (let i = 0; i < n; i++) next.push(errors[i]);
  }
}

/**
 * Whether `match` is true for `error` or for an error down its `cause`
 * chain, in a `SuppressedError`'s `error` or `suppressed`, or in an
 * `AggregateError`'s `errors` (breadth first, at most {@link CAUSE_DEPTH}
 * levels deep, the first {@link CAUSE_WIDTH} errors of each
 * `AggregateError` and {@link CAUSE_NODES} errors in all; an error seen
 * before is not looked at again, so a loop ends). Never throws: a `cause`,
 * `errors` or index getter or a `Proxy` that throws ends that branch, a
 * `match` that throws counts as `false`. No method of the errors is
 * called; a getter or `Proxy` trap is (one that never returns is beyond
 * any walk).
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
        below(link, next);
      } catch {
        // (Ends this branch.)
      }
    }
    level = next;
  }
  return false;
}
