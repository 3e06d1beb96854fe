/**
 * Which Bun `tsgi` and `tsgi-dev` run on (package.json's `engines.bun`), and
 * what a user on an older one sees: one line saying what is needed, what was
 * found and how to get a Bun that fits, and exit code 2, before anything
 * else runs. The commands run under a real old Bun: bun@1.1.0 from the npm
 * registry, installed once into a cache directory under the system's temp
 * directory (about 35 MB; a run without the registry skips those tests with
 * a message). Bun 1.1.0 cannot even link the commands (node:crypto has no
 * X509Certificate there), so it also shows that the check runs before the
 * rest of the program is loaded. Likewise under a Node that runs TypeScript
 * (the one on PATH if it does, else Node 24 from npm, cached and skipped the
 * same way). Every process is bounded in time.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { bunVersionProblem, findInstalledBun, satisfiesRange } from "../src/cli/bun-version.ts";
import { BUN_RANGE } from "../src/version.ts";
import { freePort } from "./helpers.ts";

const root = join(import.meta.dir, "..");
const SERVE = join(root, "src/cli/serve.ts");
const DEV = join(root, "src/cli/dev.ts");
const APP = join(root, "fixtures/hello/app.ts");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { bun: string }; dependencies: { bun: string } };

/** The old Bun the commands are run under. */
const OLD = "1.1.0";

/** Run `cmd` to its end (killed after `timeoutMs`): output and exit code. */
async function run(cmd: string[], env: Record<string, string | undefined> = process.env, timeoutMs = 15_000, cwd = root) {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

/**
 * An npm package's executable, installed with npm into a cache directory
 * under the system's temp directory kept between runs, or why it cannot be
 * had (no npm, no registry).
 * @param spec what to install (`bun@1.1.0`).
 * @param exe the executable's path in the install (`node_modules/.bin/bun`).
 * @param version whether what `exe --version` prints is the one wanted.
 */
async function fromNpm(spec: string, exe: string, version: (printed: string) => boolean): Promise<{ path: string } | { skip: string }> {
  const cache = join(tmpdir(), `tsgi-test-${spec.replace(/[@/]/g, "-")}-${process.platform}-${process.arch}`);
  if (existsSync(join(cache, exe))) return { path: join(cache, exe) };
  const npm = Bun.which("npm");
  if (!npm) return { skip: "npm is not on PATH" };
  // Installed beside the cache and renamed into place: a run cut short or a parallel one never leaves half an install there.
  const work = mkdtempSync(`${cache}.tmp-`);
  try {
    writeFileSync(join(work, "package.json"), JSON.stringify({ name: "cached-tool", version: "1.0.0", private: true }));
    const install = await run([npm, "install", "--no-audit", "--no-fund", "--no-save", spec], process.env, 120_000, work);
    const got = join(work, exe);
    if (install.code !== 0 || !existsSync(got)) return { skip: `npm install ${spec} failed (exit ${install.code}): ${install.err.trim().split("\n").slice(-2).join(" ")}` };
    const printed = (await run([got, "--version"])).out.trim();
    if (!version(printed)) return { skip: `${spec} from npm says it is ${JSON.stringify(printed)}` };
    try {
      renameSync(work, cache);
    } catch {
      // a parallel run put it there first
    }
    return existsSync(join(cache, exe)) ? { path: join(cache, exe) } : { skip: `${spec} did not land in ${cache}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** bun@OLD's directory of executables (its `node_modules/.bin`, holding `bun`), or why it cannot be had. */
async function oldBun(): Promise<{ bin: string } | { skip: string }> {
  const got = await fromNpm(`bun@${OLD}`, "node_modules/.bin/bun", (v) => v === OLD);
  return "skip" in got ? got : { bin: join(got.path, "..") };
}

/**
 * A Node that runs TypeScript files as they are (type stripping, on by
 * default since 22.18 and 23.6): the one on PATH if it does, else Node 24
 * from npm (its node-OS-ARCH package); or why there is none.
 */
async function typeStrippingNode(): Promise<{ path: string } | { skip: string }> {
  const onPath = Bun.which("node");
  if (onPath) {
    const [major = 0, minor = 0] = (await run([onPath, "--version"])).out.trim().replace(/^v/, "").split(".").map(Number);
    if (major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18)) return { path: onPath };
  }
  const name = `node-${process.platform}-${process.arch}`;
  return await fromNpm(`${name}@24`, `node_modules/${name}/bin/node`, (v) => v.startsWith("v24."));
}

describe("the supported Bun versions (engines.bun)", () => {
  test("package.json's engines.bun is the range the check uses, and holds the bun dependency's version and this Bun", () => {
    expect(BUN_RANGE).toBe(pkg.engines.bun);
    expect(BUN_RANGE).toMatch(/^>=\d+\.\d+\.\d+$/);
    expect(satisfiesRange(pkg.dependencies.bun)).toBe(true);
    expect(satisfiesRange(Bun.version)).toBe(true);
  });

  test("package-lock.json records package.json as it is (engines, dependencies, bin): npm install leaves a fresh clone unchanged", () => {
    // Before, engines.bun moved to >=1.4.3 in package.json only, so npm install rewrote the lock of every clone.
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { name: string; version: string; packages: Record<string, Record<string, unknown>> };
    const full = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown> & { name: string; version: string };
    const own = lock.packages[""]!;
    expect([lock.name, lock.version]).toEqual([full.name, full.version]);
    for (const key of ["name", "version", "license", "bin", "engines", "dependencies", "devDependencies"]) expect({ key, value: own[key] }).toEqual({ key, value: full[key] });
  });

  test("the range's edges: the oldest version that works fully and anything newer pass, an older one or its canary does not", () => {
    const min = BUN_RANGE.slice(2);
    const [major, minor, patch] = min.split(".").map(Number) as [number, number, number];
    for (const v of [min, `${major}.${minor}.${patch + 1}`, `${major}.${minor + 1}.0`, `${major + 1}.0.0`]) expect(satisfiesRange(v), v).toBe(true);
    const older = [patch > 0 ? `${major}.${minor}.${patch - 1}` : `${major}.${minor - 1}.99`, `${min}-canary.20260101.1`, "1.1.0", "0.8.1"];
    for (const v of older) expect(satisfiesRange(v), v).toBe(false);
    expect(satisfiesRange("1.3.14", ">=1.4.3")).toBe(false);
    expect(satisfiesRange("1.4.10", ">=1.4.3")).toBe(true);
  });

  test("the message: what is needed, what was found and where, and the ways out; none for a Bun in range", () => {
    const installed = { path: "/p/node_modules/bun/bin/bun.exe", version: "1.4.5" };
    const runtime = { bun: "1.3.14", node: "v24.3.0", execPath: "/usr/local/bin/bun" };
    const line = bunVersionProblem("tsgi serve", runtime, installed, "/p/node_modules/tsgi/src/cli/serve.ts", ">=1.4.3")!;
    expect(line).toBe(
      "tsgi: this is Bun 1.3.14 (/usr/local/bin/bun), and tsgi needs Bun >=1.4.3: upgrade it (bun upgrade), or run it with the Bun 1.4.5 tsgi installed: npx tsgi serve ..., or /p/node_modules/bun/bin/bun.exe /p/node_modules/tsgi/src/cli/serve.ts serve ...",
    );
    expect(line).not.toContain("\n");
    // No installed Bun (npm --ignore-scripts, bun add), or one that does not fit either: npm brings one.
    for (const none of [null, { ...installed, version: "1.2.0" }]) {
      expect(bunVersionProblem("tsgi-dev", runtime, none, "/p/src/cli/dev.ts", ">=1.4.3")).toBe(
        'tsgi-dev: this is Bun 1.3.14 (/usr/local/bin/bun), and tsgi needs Bun >=1.4.3: upgrade it (bun upgrade), or install tsgi with npm, whose "bun" dependency brings a Bun it runs on, and run npx tsgi-dev ...',
      );
    }
    expect(bunVersionProblem("tsgi-dev", { ...runtime, bun: null, execPath: "/usr/bin/node" }, null, "/p/src/cli/dev.ts", ">=1.4.3")).toStartWith(
      "tsgi-dev: this is Node.js v24.3.0 (/usr/bin/node), and tsgi needs Bun >=1.4.3: install Bun (https://bun.sh), or",
    );
    for (const bun of ["1.4.3", "1.4.5", "1.5.0", "2.0.0"]) expect(bunVersionProblem("tsgi serve", { ...runtime, bun }, installed, "s", ">=1.4.3"), bun).toBeNull();
  });

  test("this checkout's own Bun (its bun dependency) is the one findInstalledBun finds", () => {
    const found = findInstalledBun(root);
    expect(found).not.toBeNull();
    expect(found!.version).toBe(pkg.dependencies.bun);
    expect(found!.path).toBe(realpathSync(join(root, "node_modules/bun/bin/bun.exe")));
  });

  test("on this Bun both commands start without a word about versions", async () => {
    for (const cli of [[SERVE, "--version"], [SERVE, "serve", "--version"], [DEV, "--version"]]) {
      const r = await run([process.execPath, ...cli]);
      expect(r.code, r.err).toBe(0);
      expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
      expect(r.err).toBe("");
    }
  });
});

const old = await oldBun();
if ("skip" in old) console.warn(`SKIP bun-version (under Bun ${OLD}): ${old.skip}`);

describe.skipIf("skip" in old)(`tsgi and tsgi-dev under Bun ${OLD}, older than engines.bun`, () => {
  const bin = "bin" in old ? old.bin : "";
  const oldBunPath = "bin" in old ? realpathSync(join(bin, "bun")) : "";
  const installed = realpathSync(join(root, "node_modules/bun/bin/bun.exe"));

  /** The one line a command prints: what it needs, what it found, how to get it. */
  function expectRefusal(r: { out: string; err: string; code: number }, program: string, args: string, script: string) {
    expect(r.code, r.err).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      `${program}: this is Bun ${OLD} (${oldBunPath}), and tsgi needs Bun ${BUN_RANGE}: upgrade it (bun upgrade), or run it with the Bun ${pkg.dependencies.bun} tsgi installed: npx ${program} ${args}, or ${installed} ${script} ${args}\n`,
    );
  }

  test("bun src/cli/serve.ts and bun src/cli/dev.ts (the quick start) refuse with one line and exit 2, serving nothing (before: a SyntaxError from linking node:crypto)", async () => {
    const port = freePort();
    expectRefusal(await run([join(bin, "bun"), SERVE, "serve", APP, "--port", String(port)]), "tsgi", "serve ...", SERVE);
    expectRefusal(await run([join(bin, "bun"), DEV, APP, "--port", String(port)]), "tsgi-dev", "...", DEV);
    // Nothing was left listening.
    expect(await fetch(`http://127.0.0.1:${port}/`).then(() => "served", () => "refused")).toBe("refused");
  }, 40_000);

  test("run as programs with that Bun first on PATH, the same line; with the installed Bun first on PATH (what npx does) they run", async () => {
    const path = (first: string) => ({ ...process.env, PATH: [first, ...(process.env.PATH ?? "").split(delimiter)].join(delimiter) });
    expectRefusal(await run([SERVE, "serve", APP], path(bin)), "tsgi", "serve ...", SERVE);
    expectRefusal(await run([DEV, APP], path(bin)), "tsgi-dev", "...", DEV);
    for (const cli of [[SERVE, "--version"], [DEV, "--version"]]) {
      const r = await run(cli, path(join(root, "node_modules/.bin")));
      expect(r.code, r.err).toBe(0);
      expect(r.err).toBe("");
    }
  }, 40_000);
});

const node = await typeStrippingNode();
if ("skip" in node) console.warn(`SKIP bun-version (under Node): ${node.skip}`);

describe.skipIf("skip" in node)("tsgi and tsgi-dev under a Node that runs TypeScript", () => {
  test("node src/cli/serve.ts and node src/cli/dev.ts (Node by mistake) refuse with one line naming the entry file, exit 2", async () => {
    const path = "path" in node ? node.path : "";
    const version = (await run([path, "--version"])).out.trim();
    const installed = realpathSync(join(root, "node_modules/bun/bin/bun.exe"));
    const env = { ...process.env, NODE_NO_WARNINGS: "1" };
    for (const [program, script, args, argv] of [
      ["tsgi", SERVE, "serve ...", ["serve", APP]],
      ["tsgi-dev", DEV, "...", [APP]],
    ] as const) {
      const r = await run([path, script, ...argv], env);
      expect(r.code, r.err).toBe(2);
      expect(r.out).toBe("");
      // Before, import.meta.path, which Node has not, put 'undefined' where the entry file goes.
      expect(r.err).toBe(
        `${program}: this is Node.js ${version} (${realpathSync(path)}), and tsgi needs Bun ${BUN_RANGE}: install Bun (https://bun.sh), or run it with the Bun ${pkg.dependencies.bun} tsgi installed: npx ${program} ${args}, or ${installed} ${script} ${args}\n`,
      );
    }
  }, 40_000);
});
