/**
 * The header- and trailer-section budgets at every edge, run in a child
 * process with a time limit. A parser that, at a budget edge, neither throws
 * nor moves on loops inside one synchronous `execute` call, which no test
 * timeout of Bun's can stop: in this process it would be a stuck job, not a
 * failed test. In a child it is killed and reported with the group it was
 * stuck in. (Found by hand mutation: the header budget check `i >= hend` or
 * the trailer budget check `i >= tend` in src/http/parser.ts turned into `>`
 * made parser.test.ts hang.)
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

const CHILD = join(import.meta.dir, "fixtures-proc", "parser-budget-edges.ts");
const LIMIT_MS = 20_000;

test("every header and trailer budget edge, fed whole, byte by byte and split anywhere: 431 or 400 below the budget, accepted at it, and the parser always returns", async () => {
  const proc = Bun.spawn([process.execPath, CHILD], { stdout: "pipe", stderr: "pipe" });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, LIMIT_MS);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const lines = out.trim().split("\n");
  const last = lines.at(-1) ?? "";
  if (killed) {
    const stuck = [...lines].reverse().find((l) => l.startsWith("GROUP "))?.slice(6) ?? "(before the first group)";
    expect({ stuck, note: `the parser did not return within ${LIMIT_MS / 1000} s: a loop at a budget edge` }).toEqual({ stuck: "(none)", note: "" });
  }
  if (code !== 0 || !last.startsWith("RESULT ")) expect({ code, stderr: err.slice(-2000), last }).toEqual({ code: 0, stderr: "", last: "RESULT ..." });
  const result = JSON.parse(last.slice(7)) as { runs: number; mismatches: unknown[]; more: number };
  expect(result.mismatches).toEqual([]);
  expect(result.runs).toBeGreaterThan(4000);
}, 60_000);
