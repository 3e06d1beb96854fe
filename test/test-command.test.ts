/**
 * The package's test command (`npm test`, which CI's .ci/run runs) gives each
 * test the room its end-to-end tests need. bunfig.toml's `[test] timeout` is
 * not read by Bun (oven-sh/bun#7789): with it alone every test without its
 * own timeout had Bun's 5 s default, and a test that takes 3.5 s on an idle
 * machine (a 3 s linger, a body timeout) could time out on a loaded one.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { runCommand } from "./helpers.ts";

const ROOT = resolve(import.meta.dir, "..");
const script: string = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")).scripts.test;

test("npm test's command runs a test that takes 5.5 s (past Bun's 5 s default) to its end", async () => {
  const [bun, ...args] = script.split(/\s+/);
  expect(bun).toBe("bun");
  const { out, err, code } = await runCommand([process.execPath, ...args, "./fixtures/slow-test/slow.ts"], ROOT, 20_000);
  const output = out + err;
  expect(output).not.toContain("timed out");
  expect(output).toMatch(/^ *1 pass$/m);
  expect(code).toBe(0);
}, 20_000);
