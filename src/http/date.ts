/**
 * A cached IMF-fixdate (RFC 9110 §5.6.7) for the `Date` response field,
 * recomputed at most once per second.
 * @module
 */

let cachedSecond = -1;
let cachedValue = "";

/** The current time as an IMF-fixdate, e.g. `Mon, 23 Nov 2026 09:00:00 GMT`. */
export function httpDate(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedValue = new Date(second * 1000).toUTCString();
  }
  return cachedValue;
}
