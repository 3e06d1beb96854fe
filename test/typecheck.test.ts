/**
 * The whole project type-checks under `tsconfig.json` (strict): `npm run
 * typecheck`, run by the suite so that CI catches a type error as it
 * catches a failing test.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const tsc = join(root, "node_modules/.bin/tsc");
if (!existsSync(tsc)) console.warn("SKIP typecheck: node_modules/.bin/tsc is missing (run npm install)");

test.skipIf(!existsSync(tsc))("tsc --noEmit -p . reports no errors", async () => {
  const proc = Bun.spawn([tsc, "--noEmit", "-p", "."], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(), 110_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  expect(`${out}${err}`.trim()).toBe("");
  expect(code).toBe(0);
}, 120_000);
