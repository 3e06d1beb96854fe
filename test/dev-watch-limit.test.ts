/**
 * tsgi-dev when the system's inotify limits run out: the real CLI in a user
 * namespace of its own (`unshare -U -r`), whose `user.max_inotify_watches`
 * or `user.max_inotify_instances` is set low, so the limit is reached for
 * this process only (other programs of the machine keep theirs). Skipped
 * where user namespaces cannot be made (a container that forbids them).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { CLI, DevProcess, killAll, TempApp, until, get } from "../fixtures/dev/harness.ts";

const canLimit =
  process.platform === "linux" &&
  spawnSync("unshare", ["-U", "-r", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"], { timeout: 5000 }).status === 0;

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

const DIRS = 40;

/** An app importing lib/d0/m.ts .. lib/d39/m.ts, one directory each (80 paths to watch); the body joins their `v`s. */
function manyDirsApp(): TempApp {
  const files: Record<string, string> = {};
  const names = Array.from({ length: DIRS }, (_, i) => `v${i}`);
  for (let i = 0; i < DIRS; i++) files[`lib/d${i}/m.ts`] = `export const v${i} = "a";\n`;
  files["app.ts"] =
    names.map((n, i) => `import { ${n} } from "./lib/d${i}/m.ts";`).join("\n") +
    `\nexport default (e: any, sr: any) => {\n  sr("200 OK", []);\n  return [new TextEncoder().encode([${names.join(",")}].join(""))];\n};\n`;
  const app = new TempApp(files);
  apps.push(app);
  return app;
}

/** tsgi-dev in a user namespace whose `sysctl` (under /proc/sys/user) is `value`. */
function limited(app: TempApp, sysctl: string, value: number, extra: string[] = []): DevProcess {
  const script = `echo ${value} > /proc/sys/user/${sysctl} && exec "$0" "$@"`;
  return new DevProcess(["./app.ts", "--port", "0", "--no-access-log", ...extra], {
    cwd: app.dir,
    command: ["unshare", "-U", "-r", "sh", "-c", script, process.execPath, CLI],
  });
}

const watcherLines = (dev: DevProcess) => dev.output.split("\n").filter((l) => l.includes("watcher:"));

describe.skipIf(!canLimit)("inotify limits reached", () => {
  for (const mode of ["in place", "restart"] as const) {
    test(`${mode}: the watch limit is said once, with the limit and what to do, not one raw ENOSPC line per path`, async () => {
      const app = manyDirsApp();
      const dev = limited(app, "max_inotify_watches", 20, mode === "restart" ? ["--reload=restart"] : []);
      await dev.ready();
      await dev.waitFor(/watcher: \d+ more path\(s\) not watched, for the same reason \(ENOSPC\)/, 10_000);
      const lines = watcherLines(dev);
      // Before: 60-odd lines "watcher: ENOSPC: no space left on device, watch '...'", nothing else.
      expect(lines.length).toBe(2);
      expect(lines[0]).toContain("the system's limit of inotify watches is reached (user.max_inotify_watches = 20");
      // The user namespace's limit is the one reached: raising the host's fs.inotify one would not help.
      // Before: "Raise the limit (sudo sysctl fs.inotify.max_user_watches=524288 ...)" whatever limit ran out.
      expect(lines[0]).toContain("This limit is your container's");
      expect(lines[0]).toContain("sysctl -w user.max_inotify_watches=524288");
      expect(lines[0]).not.toContain("sudo sysctl fs.inotify");
      expect(lines[0]).toContain("--poll");
      expect(dev.output).not.toMatch(/watcher: ENOSPC/);
    }, 30_000);
  }

  test("no inotify instance left: said once as EMFILE with its limit", async () => {
    const app = manyDirsApp();
    const dev = limited(app, "max_inotify_instances", 0);
    await dev.ready();
    await dev.waitFor(/watcher: \d+ more path\(s\) not watched, for the same reason \(EMFILE\)/, 10_000);
    const lines = watcherLines(dev);
    expect(lines.length).toBe(2);
    expect(lines[0]).toContain("no more inotify instances or open files (user.max_inotify_instances = 0");
    expect(lines[0]).toContain("sysctl -w user.max_inotify_instances=1024");
    expect(lines[0]).not.toContain("sudo sysctl fs.inotify");
    expect(dev.output).not.toMatch(/watcher: EMFILE/);
  }, 30_000);

  test("--poll, the remedy named, reloads a save under the same limit", async () => {
    const app = manyDirsApp();
    const dev = limited(app, "max_inotify_watches", 20, ["--poll"]);
    const url = await dev.ready();
    expect((await get(url)).text).toBe("a".repeat(DIRS));
    app.write(`lib/d${DIRS - 1}/m.ts`, `export const v${DIRS - 1} = "b";\n`);
    await until(async () => (await get(url)).text === "a".repeat(DIRS - 1) + "b", 10_000);
    expect(watcherLines(dev)).toEqual([]);
  }, 30_000);
});
