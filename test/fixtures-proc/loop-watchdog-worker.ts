/**
 * The worker of test/loop-watchdog.ts: kills the test process when its
 * main thread's heartbeat stops for longer than the limit (a synchronous
 * loop that never returns), after writing which file it was in.
 */
import { writeSync } from "node:fs";

declare const self: Worker;

self.onmessage = (event: MessageEvent) => {
  const { shared, limitMs, file, pid } = event.data as { shared: SharedArrayBuffer; limitMs: number; file: string; pid: number };
  const beat = new Float64Array(shared); // [0]: the main thread's last beat (ms, performance.timeOrigin + now()); [1]: 1 once stopped
  const timer = setInterval(() => {
    if (beat[1] === 1) return clearInterval(timer);
    const silent = performance.timeOrigin + performance.now() - beat[0]!;
    if (silent <= limitMs) return;
    writeSync(
      2,
      `\n${file}: the test process's main thread has been blocked for ${Math.round(silent / 1000)} s (limit ${limitMs / 1000} s): ` +
        `a synchronous loop that does not return (a parser that neither throws nor moves on). Killing the test process so the run fails instead of hanging.\n`,
    );
    process.kill(pid, "SIGKILL");
  }, 250);
};
