/**
 * The whole project type-checks under `tsconfig.json` (strict): `npm run
 * typecheck`, run by the suite so that CI catches a type error as it
 * catches a failing test.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./helpers.ts";

const root = join(import.meta.dir, "..");
const tsc = join(root, "node_modules/.bin/tsc");
if (!existsSync(tsc)) console.warn("SKIP typecheck: node_modules/.bin/tsc is missing (run npm install)");

test.skipIf(!existsSync(tsc))("tsc --noEmit -p . reports no errors", async () => {
  const { out, err, code } = await runCommand([tsc, "--noEmit", "-p", "."], root, 110_000);
  expect(`${out}${err}`.trim()).toBe("");
  expect(code).toBe(0);
}, 120_000);
