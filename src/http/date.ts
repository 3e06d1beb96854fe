/**
 * A cached IMF-fixdate (RFC 9110 §5.6.7) for the `Date` response field,
 * recomputed at most once per second.
 *
 * A server calls {@link httpDate} for every response, so the common call does
 * no clock read: the value is kept until a timer armed for the next second
 * boundary marks it stale, and only the first call after that reads the
 * clock and formats again. The timer is unref'd (it never keeps a process
 * alive) and is not re-armed while nobody asks for the date.
 * @module
 */

let cachedSecond = -1;
let cachedValue = "";
/** The cached value is the current second's (a timer clears it at the next boundary). */
let fresh = false;

function expire(): void {
  fresh = false;
}

/**
 * The current time as an IMF-fixdate, e.g. `Mon, 23 Nov 2026 09:00:00 GMT`.
 * Without `now` the value is cached (the same string object within a second);
 * with `now` that instant is formatted.
 * @param now a time in ms since the epoch, truncated to the second (default: now).
 */
export function httpDate(now?: number): string {
  if (now !== undefined) return new Date(Math.floor(now / 1000) * 1000).toUTCString();
  if (fresh) return cachedValue;
  now = Date.now();
  fresh = true;
  const timer = setTimeout(expire, 1000 - (now % 1000));
  (timer as { unref?: () => void }).unref?.();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedValue = new Date(second * 1000).toUTCString();
  }
  return cachedValue;
}
