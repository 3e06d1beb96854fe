/**
 * tsgi as a user's project gets it: `npm pack` of this checkout, installed
 * with `npm install <tarball>` into a new project, on a machine with Node
 * and npm and no Bun on `PATH` (the `bun` dependency brings it). What the
 * tarball holds, and the `tsgi` and `tsgi-dev` commands run as programs
 * (`./node_modules/.bin/tsgi`, a service's `ExecStart`, a global install),
 * not through `npx` or a package.json script, which put
 * `node_modules/.bin` on `PATH`. Every loop is bounded in count and time;
 * every process started is stopped by its pid.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { runCommand, servingPort, spawnedProcesses } from "./helpers.ts";
import { waitFor } from "./fault-helpers.ts";

const root = join(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  bin: Record<string, string>;
  files: string[];
  exports: Record<string, string | { types: string; default: string }>;
};

/** `PATH` without any directory that holds a `bun` (this checkout's node_modules/.bin, ~/.bun/bin): a machine with Node alone. */
const noBunPath = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((d) => {
    try {
      accessSync(join(d, "bun"), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  })
  .join(delimiter);
const npm = Bun.which("npm", { PATH: noBunPath });
if (!npm) console.warn("SKIP package: npm is not on PATH");
const env = { ...process.env, PATH: noBunPath };

const dir = mkdtempSync(join(tmpdir(), "tsgi-package-"));
const project = join(dir, "project");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const procs = spawnedProcesses();

/** What `npm pack --json` said of the tarball. */
let packed: { filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> };

/** Run `cmd` with Node's `PATH` (no Bun) to its end: output and exit code. */
async function run(cmd: string[], cwd: string, timeoutMs = 30_000) {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  procs.push(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

describe.skipIf(!npm)("the package installed into a project with npm, no Bun on PATH", () => {
  beforeAll(async () => {
    expect(Bun.which("bun", { PATH: noBunPath })).toBeNull();
    // npm pack runs prepack (build:types) with the checkout's node_modules/.bin on PATH.
    const pack = await runCommand([npm!, "pack", "--json", "--pack-destination", dir], root, 110_000);
    expect(pack.code, pack.err).toBe(0);
    packed = (JSON.parse(pack.out) as (typeof packed)[])[0]!;
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
    const install = await run([npm!, "install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, packed.filename)], project, 110_000);
    expect(install.code, install.err).toBe(0);
    writeFileSync(
      join(project, "app.ts"),
      `import type { Application } from "tsgi";
import { validator } from "tsgi/validate";
const app: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(\`hello from \${environ.PATH_INFO}\`)];
};
export default validator(app);
`,
    );
  }, 240_000);

  test("the tarball holds every exports target, bin and file the docs link, and no tests, fixtures, benchmarks or scripts", () => {
    const files = new Set(packed.files.map((f) => f.path));
    for (const [name, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === "string" ? [target] : [target.types, target.default]) expect(files.has(file.replace(/^\.\//, "")), `${name}: ${file}`).toBe(true);
    }
    for (const file of Object.values(pkg.bin)) expect(files.has(file.replace(/^\.\//, "")), file).toBe(true);
    for (const file of ["README.md", "LICENSE", "package.json", "docs/deploy.md"]) expect(files.has(file), file).toBe(true);
    expect([...files].filter((f) => /^(test|fixtures|bench|scripts|node_modules|\.ci)\//.test(f) || /\.test\.ts$/.test(f))).toEqual([]);
    expect(packed.unpackedSize).toBeLessThan(4 * 1024 * 1024);
  });

  test("npm publish would publish package.json as it is: npm pkg fix, the normalization publish applies, changes nothing", async () => {
    // Before: bin paths written "./src/cli/dev.ts", which npm publish "auto-corrected" with
    // '"bin[tsgi-dev]" script name src/cli/dev.ts was invalid and removed'.
    const copy = join(dir, "fix");
    cpSync(join(project, "node_modules/tsgi"), copy, { recursive: true });
    const before = readFileSync(join(copy, "package.json"), "utf8");
    const fix = await run([npm!, "pkg", "fix"], copy);
    expect(fix.code, fix.err).toBe(0);
    expect(JSON.parse(readFileSync(join(copy, "package.json"), "utf8"))).toEqual(JSON.parse(before));
  });

  test("./node_modules/.bin/tsgi and tsgi-dev run as programs with the Bun of the bun dependency (no bun on PATH), and exit with the command's own code", async () => {
    const bin = join(project, "node_modules/.bin");
    // Before: /usr/bin/env: 'bun': No such file or directory, exit 127.
    for (const name of ["tsgi", "tsgi-dev"]) {
      const r = await run([join(bin, name), "--version"], project);
      expect({ name, out: r.out.trim(), code: r.code }).toEqual({ name, out: pkg.version, code: 0 });
    }
    const usage = await run([join(bin, "tsgi")], project);
    expect(usage.err).toContain("missing command");
    expect(usage.code).toBe(2);
    const missing = await run([join(bin, "tsgi"), "serve", "./missing.ts"], project);
    expect(missing.err).toContain("no such file");
    expect(missing.code).toBe(1);
  }, 60_000);

  test("./node_modules/.bin/tsgi serve is the server process itself: its pid, signals straight to it, exit 0 on SIGTERM", async () => {
    const proc = Bun.spawn([join(project, "node_modules/.bin/tsgi"), "serve", "./app.ts", "--port", "0"], { cwd: project, env, stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    let err = "";
    void (async () => {
      for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
    })();
    void new Response(proc.stdout).text();
    expect(await waitFor(() => servingPort(err) !== undefined, 20_000), err).toBe(true);
    const port = servingPort(err)!;
    // The start-up line names the pid: the one spawned, so no wrapper sits between a service manager and the server.
    expect(err).toContain(`(pid ${proc.pid})`);
    const res = await fetch(`http://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(5000) });
    expect(await res.text()).toBe("hello from /x");
    proc.kill("SIGTERM");
    expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")])).toBe(0);
  }, 60_000);

  test("systemd socket activation with ExecStart naming the script: LISTEN_PID, set to the pid systemd starts, is the server's, which serves fd 3", async () => {
    const { closeFd, dupFd } = await import("../src/server/sys.ts");
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    const fd = dupFd((l as unknown as { fd: number }).fd);
    l.stop(true);
    // As systemd does: the process it forks sets LISTEN_PID to its own pid, then execs ExecStart's program.
    const cmd = `LISTEN_PID=$$ LISTEN_FDS=1 exec ./node_modules/.bin/tsgi serve ./app.ts`;
    const proc = Bun.spawn(["sh", "-c", cmd], { cwd: project, env, stdio: ["ignore", "pipe", "pipe", fd] });
    procs.push(proc);
    closeFd(fd);
    let err = "";
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
    })();
    void new Response(proc.stdout as ReadableStream<Uint8Array>).text();
    // The start-up line, which names the pid; the socket-activation line before it says "serving" too.
    expect(await waitFor(() => err.includes("(pid "), 20_000), err).toBe(true);
    expect(err).toContain("systemd socket activation: serving fd 3");
    expect(err).toContain(`(pid ${proc.pid})`);
    const res = await fetch(`http://127.0.0.1:${port}/sa`, { signal: AbortSignal.timeout(5000) });
    expect(await res.text()).toBe("hello from /sa");
    proc.kill("SIGTERM");
    expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")])).toBe(0);
  }, 60_000);

  test("a global install's command finds the bun dependency nested under tsgi; with no Bun anywhere it says so and exits 127", async () => {
    // npm install -g puts tsgi's dependencies under it: <prefix>/lib/node_modules/tsgi/node_modules/bun.
    const global = join(dir, "global");
    const installed = join(global, "lib/node_modules/tsgi");
    cpSync(join(project, "node_modules/tsgi"), installed, { recursive: true });
    mkdirSync(join(global, "bin"));
    for (const [name, file] of Object.entries(pkg.bin)) symlinkSync(join("../lib/node_modules/tsgi", file), join(global, "bin", name));
    const bare = await run([join(global, "bin/tsgi-dev"), "--version"], global);
    expect(bare.err).toContain("Bun not found");
    expect(bare.err).toContain("https://bun.sh");
    expect(bare.code).toBe(127);
    // Its dependencies, bun among them, as npm nests them (linked from the project's).
    mkdirSync(join(installed, "node_modules"));
    for (const name of readdirSync(join(project, "node_modules"))) {
      if (!name.startsWith(".") && name !== "tsgi") symlinkSync(join(project, "node_modules", name), join(installed, "node_modules", name));
    }
    const nested = await run([join(global, "bin/tsgi-dev"), "--version"], global);
    expect({ out: nested.out.trim(), code: nested.code }, nested.err).toEqual({ out: pkg.version, code: 0 });
    expect(existsSync(join(global, "lib/node_modules/bun"))).toBe(false);
  }, 60_000);
});
