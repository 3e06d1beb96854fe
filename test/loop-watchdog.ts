/**
 * A watchdog for test files that call a synchronous loop of the code under
 * test (the request parser's `execute`) thousands of times: a mutant or a
 * bug that makes that loop never return would hang the whole `bun test` run
 * for ever, since no test timeout of Bun's can stop synchronous code. A
 * worker thread watches a heartbeat the main thread gives before and after
 * every test and every 250 ms while it is free; when none comes for
 * `limitMs`, the worker writes which file was stuck to stderr and kills the
 * process (SIGKILL: exit code 137), so the run fails at once instead.
 * (Found by hand mutation: the header budget check `i >= hend` in
 * src/http/parser.ts turned into `>` hung parser.test.ts, parser-split and
 * prop-parser.)
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "bun:test";
import { basename, join } from "node:path";

/**
 * No heartbeat for this long (ms) is a hang. Only synchronous work counts (an
 * async test's awaits let the 250 ms beat through, so its own timeout stops
 * it): these files' longest synchronous test takes about 2 s on an idle
 * machine, so this leaves room for a loaded one.
 */
export const LOOP_WATCHDOG_LIMIT_MS = 20_000;

/**
 * Watch the calling test file's tests (registers beforeAll, beforeEach,
 * afterEach and afterAll hooks); `file` names it in the message.
 */
export function watchForEndlessLoops(file: string, limitMs = LOOP_WATCHDOG_LIMIT_MS): void {
  const shared = new SharedArrayBuffer(16);
  const beat = new Float64Array(shared);
  const touch = () => void (beat[0] = performance.timeOrigin + performance.now());
  let worker: Worker | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  beforeAll(() => {
    touch();
    worker = new Worker(join(import.meta.dir, "fixtures-proc", "loop-watchdog-worker.ts"));
    worker.unref();
    worker.postMessage({ shared, limitMs, file: basename(file), pid: process.pid });
    timer = setInterval(touch, 250);
    timer.unref();
  });
  beforeEach(touch);
  afterEach(touch);
  afterAll(() => {
    beat[1] = 1;
    clearInterval(timer);
    worker?.terminate();
  });
}
