/**
 * The re-run commands of docs/performance.md and docs/reliability.md read
 * their flags strictly (bench/args.ts): a misspelt flag, a bad value or an
 * unknown server name is a usage error (exit 2, one line and the usage on
 * stderr) before anything starts. They used to be ignored: `bun
 * bench/soak.ts --secnds 40` started the default 10-minute soak, `--mix xyz`
 * ran the mixed load labelled "xyz", and `bun bench/hello.ts --only
 * tsgi,Bunserve` measured tsgi alone with "?" for every ratio.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runCommand } from "./helpers.ts";

const root = join(import.meta.dir, "..");

/** Run `bun bench/<script> ...args`, killed after 10 s (a run that started instead of refusing). */
function bench(script: string, ...args: string[]) {
  return runCommand([process.execPath, join(root, "bench", script), ...args], root, 10_000);
}

describe("bench scripts refuse a bad command line before starting", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["soak.ts", ["--secnds", "1"], /^unknown option --secnds$/m],
    ["soak.ts", ["--seconds", "1", "--mix", "xyz"], /^--mix must be hello or mixed, got "xyz"$/m],
    ["soak.ts", ["--seconds", "abc"], /^--seconds must be a number of at least 1, got "abc"$/m],
    ["soak.ts", ["--seconds", "1", "--minutes", "1"], /^--minutes and --seconds both give the duration/m],
    ["fuzz.ts", ["--minute", "1"], /^unknown option --minute$/m],
    ["fuzz.ts", ["--minutes", "0.05", "--selftest", "crsh"], /^--selftest must be crash or hang/m],
    ["diff-llhttp.ts", ["--case", "10"], /^unknown option --case$/m],
    ["diff-llhttp.ts", ["--cases", "ten"], /^--cases must be an integer of at least 0, got "ten"$/m],
    ["hello.ts", ["--rounds", "1", "--duration", "1", "--warmup", "0", "--only", "tsgi,Bunserve"], /^--only: no server named "Bunserve" \(known: tsgi, tsgi\+log, Bun\.serve/m],
    ["hello.ts", ["--rounds", "1", "--duration", "1", "--warmup", "0", "--only", "tsgi,gevent"], /^--only: gevent is a Python seed server: add --seeds$/m],
    ["hello.ts", ["--rounds", "1", "--duration", "1", "--warmup", "0", "--seeds", "--post", "64"], /^--seeds runs GET only: drop --post$/m],
    ["hello.ts", ["--round", "1"], /^unknown option --round$/m],
  ];
  for (const [script, args, message] of cases) {
    test(`bun bench/${script} ${args.join(" ")}`, async () => {
      const t0 = performance.now();
      const { code, err } = await bench(script, ...args);
      expect(err).toMatch(message);
      expect(err).toContain(`usage: bun bench/${script}`);
      expect(code).toBe(2);
      expect(performance.now() - t0).toBeLessThan(8_000);
    }, 15_000);
  }
});
