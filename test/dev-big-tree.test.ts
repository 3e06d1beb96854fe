/**
 * tsgi-dev `--watch` on a large tree (found with `--watch /usr`: 16,000
 * directories, symbolic links that loop): the real CLI on a tree built in a
 * temporary directory that has the same shapes, small enough to scan in a
 * few seconds.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DevProcess, killAll, TempApp } from "../fixtures/dev/harness.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

const APP = `export default (e: any, sr: any) => { sr("200 OK", []); return [new TextEncoder().encode("hi")]; };\n`;

/**
 * An app with `tree/` beside it: `tree/bin` holding `files` files and as many
 * symbolic links to them, and `X11 -> .` (as /usr/bin has); `tree/llvm/build/Release -> ..`
 * (as /usr/lib/llvm-14 has); and `dirs` directories of ten subdirectories each.
 */
function bigTreeApp(files: number, dirs: number): TempApp {
  const app = new TempApp({ "app.ts": APP });
  apps.push(app);
  const bin = app.path("tree/bin");
  mkdirSync(bin, { recursive: true });
  for (let i = 0; i < files; i++) {
    writeFileSync(join(bin, `f${i}`), "x\n");
    symlinkSync(`f${i}`, join(bin, `l${i}`));
  }
  symlinkSync(".", join(bin, "X11"));
  mkdirSync(app.path("tree/llvm/build"), { recursive: true });
  writeFileSync(app.path("tree/llvm/lib.txt"), "x\n");
  symlinkSync("..", app.path("tree/llvm/build/Release"));
  for (let i = 0; i < dirs; i++) for (let j = 0; j < 10; j++) mkdirSync(app.path(`tree/d${i}/s${j}`), { recursive: true });
  return app;
}

describe("--watch on a tree with symbolic link loops", () => {
  test("a link back to its own directory or one above is not followed: no ELOOP lines, saves still reload once", async () => {
    const app = bigTreeApp(100, 10);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", "--watch", "./tree"], { cwd: app.dir });
    await dev.ready(20_000);
    // Before: 101 lines "watcher: ELOOP: too many symbolic links encountered, stat '.../bin/X11/X11/.../l7'"
    // (chokidar read bin/ again under each X11, 40 deep, and stat'd the links at the bottom).
    app.write("tree/bin/f3", "y\n");
    await dev.waitFor(/reloaded in \d+ ms: .*tree\/bin\/f3/, 10_000);
    app.write("tree/llvm/lib.txt", "y\n");
    await dev.waitFor(/reloaded in \d+ ms: .*tree\/llvm\/lib\.txt/, 10_000);
    app.write("tree/d3/s3/new.txt", "y\n");
    await dev.waitFor(/reloaded in \d+ ms: .*tree\/d3\/s3\/new\.txt/, 10_000);
    // Seen at their own paths, not again under the loops (bin/X11/f3, llvm/build/Release/lib.txt).
    expect(dev.output).not.toMatch(/X11\/|Release\//);
    expect(dev.count(/reloaded in/)).toBe(3);
    expect(dev.output).not.toMatch(/ELOOP/);
  }, 40_000);
});
