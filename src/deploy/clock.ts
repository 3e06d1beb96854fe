/**
 * The clock `tsgi serve` measures durations with.
 * @module
 */

/**
 * Milliseconds on a monotonic clock (`performance.now()`), for every duration `tsgi serve` measures:
 * the supervisor's heartbeats, boot times and graceful stop's deadline, the stdout drop report's
 * interval (stdio.ts). Not `Date.now()`: the wall clock jumps when it is set (NTP stepping it, an
 * operator's `date -s`, a VM's clock synced on resume), and a jump back of an hour would have left a
 * hung worker unkilled for that hour (its silence counted negative), a jump forward would have cut
 * the graceful stop short.
 */
export function monotonicNow(): number {
  return performance.now();
}
