/** Shared by the fault tests: background "bystander" traffic that must stay unaffected, and a bounded wait. */
import { expect } from "bun:test";
import { keepAliveLoad, type LoadResult, requestKinds } from "../bench/soak.ts";

/** Bystander requests that make "real traffic" ({@link expectBystanderUnaffected}). */
const BYSTANDER_MIN_ANSWERED = 21;

/**
 * Keep-alive hello traffic on 4 other connections for `ms`, and on until
 * {@link BYSTANDER_MIN_ANSWERED} were answered (for at most 15 s more). At
 * load 20 on 2 cores the test process ran so little that 800 ms saw 4 to 8
 * answers (tens of thousands unloaded): a count in a fixed time measured the
 * machine, not the server.
 */
export function bystander(port: number, ms: number): Promise<LoadResult> {
  const hello = requestKinds().hello!;
  return keepAliveLoad({ port, connections: 4, durationMs: ms, minAnswered: BYSTANDER_MIN_ANSWERED, pick: () => hello });
}

/** Every bystander request was answered, none failed, and there was real traffic. */
export function expectBystanderUnaffected(r: LoadResult): void {
  expect(r.errors).toEqual({});
  expect(r.answered).toBe(r.sent);
  expect(r.answered).toBeGreaterThanOrEqual(BYSTANDER_MIN_ANSWERED);
}

/** Polls `cond` (sync or async) every 10 ms for at most `ms`; resolves with its last value. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await Bun.sleep(10);
  }
  return cond();
}
