/**
 * Reloading in place over a long working day: a well-behaved app's old
 * generations become garbage (the heap stays where it was after the first
 * load), but an app that leaves something behind at import (a `setInterval`,
 * a server, a listener on `process`, a `globalThis` cache) keeps every old
 * generation alive, and the process grows with each save until it is killed,
 * with nothing saying why. {@link HeapGrowth} notices: after a reload, when
 * the process's RSS is past a threshold above the first load's (taken again
 * once the watcher's initial scan is done, see {@link HeapGrowth.after}), it collects
 * garbage once to be sure and, if the live heap is still past it, says so
 * (once per doubling of the growth).
 * @module
 */
import { heapStats } from "bun:jsc";

/** The growth of the live heap over the first load's that gets the first warning, bytes (128 MiB). */
export const HEAP_GROWTH_WARN_BYTES = 128 * 1024 * 1024;

/** Watches the heap across reloads in place and tells when old generations pile up. */
export class HeapGrowth {
  /** The live JS heap after the first load, bytes. */
  #baseline: number | null = null;
  /**
   * The RSS at which a reload collects garbage to measure the live heap, bytes.
   * The RSS is cheap to read and current, unlike the heap's size between
   * collections, and the heap cannot grow by N bytes without it growing by about as much.
   */
  #rssMark = 0;
  #threshold: number;
  /** Checks are held (see {@link after}). */
  #held = false;

  /** @param thresholdBytes the growth that gets the first warning; each warning doubles it. Default {@link HEAP_GROWTH_WARN_BYTES}. */
  constructor(thresholdBytes = HEAP_GROWTH_WARN_BYTES) {
    this.#threshold = thresholdBytes;
  }

  /** Whether {@link start} took the baseline. */
  get started(): boolean {
    return this.#baseline !== null;
  }

  /** Take the baseline after the first good load (one full collection: a few ms on a fresh process). */
  start(): void {
    Bun.gc(true);
    this.#baseline = heapStats().heapSize;
    this.#rssMark = process.memoryUsage.rss() + this.#threshold;
  }

  /**
   * Hold the checks until `ready` settles, then take the baseline again (if
   * it was taken): for what grows the process's own heap after the first
   * load and is not the app's, the dev server's watcher and its initial scan
   * of the `--watch` trees (chokidar keeps a few KB per directory watched:
   * 160 MB for `--watch /usr`, which made the first reload after it warn
   * that "the heap grew from 3 MB to 166 MB").
   * @param ready settles when that growth is done (`DevWatcher.ready()`).
   */
  after(ready: Promise<unknown>): void {
    this.#held = true;
    const resume = () => {
      this.#held = false;
      if (this.started) this.start();
    };
    void ready.then(resume, resume);
  }

  /**
   * Check after a successful reload: a read of the RSS, unless it (garbage
   * included) is past the threshold; then one full collection decides
   * whether the live heap is.
   * @param reloads the successful reloads so far, for the message.
   * @returns the warning to print, or `null`.
   */
  check(reloads: number): string | null {
    if (this.#baseline === null || this.#held) return null;
    if (process.memoryUsage.rss() < this.#rssMark) return null;
    Bun.gc(true);
    const live = heapStats().heapSize;
    if (live - this.#baseline < this.#threshold) {
      // Garbage, or memory outside the JS heap: the next collection when the RSS has grown by what the heap still lacks.
      this.#rssMark = process.memoryUsage.rss() + this.#threshold - (live - this.#baseline);
      return null;
    }
    while (live - this.#baseline >= this.#threshold) this.#threshold *= 2;
    this.#rssMark = process.memoryUsage.rss() + this.#threshold - (live - this.#baseline);
    const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
    return (
      `the heap grew from ${mb(this.#baseline)} to ${mb(live)} over ${reloads} reloads in place: the old versions of the app are kept alive ` +
      `by something they left outside their modules (a setInterval or a server started at import, a listener on process, a cache on globalThis). ` +
      `Stop them in an import.meta.hot.dispose() callback, start them once behind a globalThis flag, or use --reload=restart`
    );
  }
}
