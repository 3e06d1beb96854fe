/**
 * The compiled `tsgi-dev` binary (`npm run build` → dist/tsgi-dev, built by
 * .ci/run before the tests) end to end, run with neither `bun` nor `node`
 * reachable on PATH: it serves the hello fixture, loads a user's `.ts` app
 * from disk that imports a package from the app's own node_modules and uses
 * tsconfig `paths`, reloads a change in the entry file and in a module two
 * imports deep, shows broken code as a 500 page and recovers, restarts in
 * `--reload=restart` mode (the binary re-runs itself), gives the app
 * `import.meta.hot` (data across a reload, dispose callbacks), runs the
 * app's `fork()` of a script as Bun (in place and in an app process of
 * restart mode), warns when an app not marked WANTS_SIGNAL reads
 * `tsgi.signal` (not when the error page lists it), and prints `--version`. Skipped, with a visible warning, when the binary is not built.
 */
import type { Subprocess } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { get, ROOT, TempApp, until } from "../fixtures/dev/harness.ts";

const BINARY = join(ROOT, "dist", process.platform === "win32" ? "tsgi-dev.exe" : "tsgi-dev");
const built = existsSync(BINARY);
if (!built) console.warn(`SKIP: test/dev-binary.test.ts: ${BINARY} is not built (run \`npm run build\`)`);
else warnIfStale();

// .ci/run builds the binary before the tests: under CI a missing binary is a failed build, not a skip.
test.if(!built && !!process.env.CI)("the binary was built (CI runs `npm run build` first)", () => {
  expect(existsSync(BINARY)).toBe(true);
});

/** An empty directory as the whole PATH: no `bun`, no `node`, nothing else either. */
const EMPTY_BIN = mkdtempSync(join(tmpdir(), "tsgi-nobin-"));
/** The environment the binary runs in: no Bun or Node anywhere, no inherited variables. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: EMPTY_BIN, HOME: process.env.HOME ?? tmpdir(), NO_COLOR: "1", FORCE_COLOR: "0", ...extra };
}

const procs = new Set<BinaryProcess>();
const apps: TempApp[] = [];
afterEach(async () => {
  await Promise.all([...procs].map((p) => p.kill()));
});
afterAll(() => {
  for (const a of apps) a.remove();
  rmSync(EMPTY_BIN, { recursive: true, force: true });
});

/** The compiled binary as a child process, its output collected. */
class BinaryProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  output = "";
  readonly exited: Promise<number>;

  constructor(args: string[], cwd: string) {
    this.proc = Bun.spawn({ cmd: [BINARY, ...args], cwd, env: bareEnv(), stdio: ["ignore", "pipe", "pipe"] });
    procs.add(this);
    this.exited = this.proc.exited.then((c) => {
      procs.delete(this);
      return c;
    });
    void this.#pump(this.proc.stdout);
    void this.#pump(this.proc.stderr);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    // eslint-disable-next-line no-control-regex
    for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true }).replace(/\x1b\[[0-9;]*m/g, "");
  }

  /** Wait for the "serving ... at URL" line; returns the URL. */
  async ready(timeoutMs = 10_000): Promise<string> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = /serving \S+ at (http:\/\/\S+\/)/.exec(this.output);
      if (m) return m[1]!;
      if (exited) break;
      await Bun.sleep(20);
    }
    throw new Error(`tsgi-dev did not start (${exited ? "exited" : "timed out"}); output:\n${this.output}`);
  }

  async kill(): Promise<number> {
    try {
      this.proc.kill("SIGTERM");
    } catch {
      // already gone
    }
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    const code = await this.exited;
    clearTimeout(killer);
    return code;
  }
}

async function serve(cwd: string, args: string[]): Promise<{ dev: BinaryProcess; url: string }> {
  const dev = new BinaryProcess([...args, "--port", "0", "--no-access-log"], cwd);
  return { dev, url: await dev.ready() };
}

/**
 * A user's app in a temp dir, as it would be on a machine with only the
 * binary: app.ts → src/routes.ts → src/lib/word.ts (through the tsconfig
 * `paths` alias `@lib/*`), and app.ts imports the packages `shout` (an
 * `exports` map) and `exclaim` (a `main` field) from the app's own
 * node_modules, neither at the `index.js` a resolver would guess without
 * reading package.json (as Hono's `exports` are). The body is
 * `<entry>/<word>` shouted, plus what the process sees of Bun and Node on its PATH.
 */
function userApp(entryVersion = "e1", deepVersion = "w1"): TempApp {
  const app = new TempApp({
    "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@lib/*": ["src/lib/*"] } } }),
    "node_modules/shout/package.json": JSON.stringify({ name: "shout", version: "1.0.0", type: "module", exports: { ".": "./dist/shout.js" } }),
    "node_modules/shout/dist/shout.js": `import { exclaim } from "exclaim";\nexport function shout(s) { return exclaim(String(s).toUpperCase()); }\n`,
    "node_modules/exclaim/package.json": JSON.stringify({ name: "exclaim", version: "1.0.0", type: "module", main: "./lib/main.js" }),
    "node_modules/exclaim/lib/main.js": `export function exclaim(s) { return s + "!"; }\n`,
    "app.ts": entry(entryVersion),
    "src/routes.ts": `import { word } from "@lib/word.ts";\nexport function route(): string { return word(); }\n`,
    "src/lib/word.ts": deep(deepVersion),
    "job.ts": `const args: string[] = process.argv.slice(2);\nconsole.log("job ran " + args.join(",") + " ipc=" + typeof process.send);\n`,
  });
  apps.push(app);
  return app;
}
function entry(v: string): string {
  return `import { fork } from "node:child_process";
import { shout } from "shout";
import { route } from "./src/routes.ts";
const enc = new TextEncoder();
/** node:child_process's fork() runs process.execPath, here the binary: it must run job.ts as Bun would. */
async function* forked() {
  const child = fork(import.meta.dir + "/job.ts", ["a1"], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  const code = await new Promise((resolve) => child.on("exit", resolve));
  clearTimeout(timer);
  yield enc.encode("exit " + code + ": " + out);
}
/** Bun.spawn without \`env\` hands the child the environment this process started with: the binary again, asked its version. */
async function* respawned() {
  const child = Bun.spawn([process.execPath, "--version"], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  yield enc.encode("exit " + code + ": " + out + err);
}
export default function app(environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => void) {
  const path = environ.PATH_INFO;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  if (path === "/fork") return forked();
  if (path === "/respawn") return respawned();
  if (path === "/signal") return [enc.encode(String(environ["tsgi.signal"] instanceof AbortSignal))];
  if (path === "/tools") return [enc.encode(JSON.stringify({ bun: Bun.which("bun"), node: Bun.which("node"), path: process.env.PATH }))];
  return [enc.encode(shout("${v}/" + route()))];
}
`;
}
function deep(v: string): string {
  return `export function word(): string {\n  return "${v}";\n}\n`;
}

describe.skipIf(!built)("the compiled tsgi-dev binary", () => {
  test("--version prints the package version", async () => {
    const proc = Bun.spawn({ cmd: [BINARY, "--version"], env: bareEnv(), stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out.trim()).toBe(pkg.version);
  });

  test("serves the hello fixture", async () => {
    const { url } = await serve(ROOT, ["fixtures/hello/app.ts"]);
    const r = await get(url);
    expect(r.status).toBe(200);
    expect(r.text).toBe("Hello, world!\n");
  });

  test("runs with neither bun nor node on PATH, loads the app's node_modules and tsconfig paths", async () => {
    expect(Bun.which("bun", { PATH: EMPTY_BIN })).toBeNull();
    expect(Bun.which("node", { PATH: EMPTY_BIN })).toBeNull();
    const app = userApp();
    const { dev, url } = await serve(app.dir, ["./app.ts"]);
    expect((await get(url)).text).toBe("E1/W1!");
    // What the process itself sees: no bun, no node.
    const seen = JSON.parse((await get(url + "tools")).text) as { bun: string | null; node: string | null; path: string };
    expect(seen).toEqual({ bun: null, node: null, path: EMPTY_BIN });
    // The app's fork() of a .ts script runs it with the Bun inside the binary, as under `bun` (not a second tsgi-dev).
    expect((await get(url + "fork")).text).toBe("exit 0: job ran a1 ipc=function\n");
    // The app is not marked WANTS_SIGNAL: its read of tsgi.signal is warned about (tsgi serve would not give it).
    expect((await get(url + "signal")).text).toBe("true");
    await until(() => /reads environ\["tsgi\.signal"\] \(app\.ts:\d+\)/.test(dev.output), 3000);
  });

  test("a change in the entry file and in a module two imports deep takes effect", async () => {
    const app = userApp();
    const { dev, url } = await serve(app.dir, ["./app.ts"]);
    expect((await get(url)).text).toBe("E1/W1!");
    app.write("app.ts", entry("e2"));
    await until(async () => (await get(url)).text === "E2/W1!", 3000);
    app.write("src/lib/word.ts", deep("w2"));
    await until(async () => (await get(url)).text === "E2/W2!", 3000);
    // A save by rename (vim, JetBrains) too.
    app.writeAtomic("src/lib/word.ts", deep("w3"));
    await until(async () => (await get(url)).text === "E2/W3!", 3000);
    await until(() => /reloaded in \d+ ms: src\/lib\/word\.ts/.test(dev.output), 3000); // stdout and the HTTP answer are separate channels: the line may land just after
  });

  test("broken code: a 500 page with file:line:column and a code frame, then recovery on the next good save", async () => {
    const app = userApp();
    const { dev, url } = await serve(app.dir, ["./app.ts"]);
    expect((await get(url)).text).toBe("E1/W1!");

    // A syntax error two imports deep.
    app.write("src/lib/word.ts", `export function word(): string {\n  return "w" +;\n}\n`);
    const page = await until(async () => {
      const r = await get(url, { Accept: "*/*" });
      return r.status === 500 ? r : null;
    }, 3000);
    expect(page.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(page.text).toMatch(/word\.ts:2:\d+/);
    expect(page.text).toMatch(/> 2 \|\s+return "w" \+;/);
    const html = await get(url, { Accept: "text/html" });
    expect(html.status).toBe(500);
    expect(html.headers.get("content-type")).toMatch(/^text\/html/);
    await until(() => /word\.ts:2:\d+/.test(dev.output), 3000); // stdout and the HTTP answer are separate channels: the line may land just after

    app.write("src/lib/word.ts", deep("w4"));
    await until(async () => (await get(url)).text === "E1/W4!", 3000);

    // A throw at run time: the page's stack is the user's TypeScript, not tsgi's bundled frames.
    app.write("src/lib/word.ts", `export function word(): string {\n  throw new Error("boom from word");\n}\n`);
    const thrown = await until(async () => {
      const r = await get(url, { Accept: "*/*" });
      return r.status === 500 && r.text.includes("boom from word") ? r : null;
    }, 3000);
    expect(thrown.text).toMatch(/src\/lib\/word\.ts:2:\d+/);
    const stack = thrown.text.split(/^Stack:$/m)[1]?.split(/^Environ:$/m)[0] ?? "";
    expect(stack).toMatch(/word\.ts:2/);
    expect(stack).not.toMatch(/src\/(dev|server|gateway)\//);
    // The environ's objects are shown by their class, named as in tsgi's source: the binary keeps its names (--keep-names).
    const environ = thrown.text.split(/^Environ:$/m)[1] ?? "";
    expect(environ).toMatch(/^ {4}tsgi\.input = \[RequestInput\]$/m);
    expect(environ).toMatch(/^ {4}tsgi\.errors = \[ErrorLogStream\]$/m);
    expect(environ).toMatch(/^ {4}tsgi\.file_wrapper = \[function fileWrapper\]$/m);

    app.write("src/lib/word.ts", deep("w5"));
    await until(async () => (await get(url)).text === "E1/W5!", 3000);
    expect(dev.proc.exitCode).toBeNull();
    // The error pages list the environ, tsgi.signal included: tsgi's own read, not the app's.
    expect(dev.output).not.toMatch(/reads environ\["tsgi\.signal"\]/);
  });

  test("import.meta.hot: data kept across a reload in place, dispose() callbacks run before it and at the stop", async () => {
    const source = (v: string) => `import { appendFileSync } from "node:fs";
const data = import.meta.hot?.data ?? {};
data.loads = (data.loads ?? 0) + 1;
import.meta.hot?.dispose(() => appendFileSync(import.meta.dir + "/disposed.txt", "${v}\\n"));
export default (environ: unknown, startResponse: (s: string, h: [string, string][]) => void) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("${v} loads=" + data.loads)];
};
`;
    const app = new TempApp({ "app.ts": source("v1") });
    apps.push(app);
    const { dev, url } = await serve(app.dir, ["./app.ts"]);
    expect((await get(url)).text).toBe("v1 loads=1");
    app.write("app.ts", source("v2"));
    await until(async () => (await get(url)).text === "v2 loads=2", 3000);
    expect(await dev.kill()).toBe(0);
    expect(readFileSync(join(app.dir, "disposed.txt"), "utf8")).toBe("v1\nv2\n");
  });

  test("--reload=restart: the binary starts a fresh copy of itself that takes over the port", async () => {
    const app = userApp();
    const { dev, url } = await serve(app.dir, ["./app.ts", "--reload=restart"]);
    expect((await get(url)).text).toBe("E1/W1!");
    app.write("src/lib/word.ts", deep("r2"));
    await until(async () => (await get(url)).text === "E1/R2!", 5000);
    await until(() => /restarted in \d+ ms/.test(dev.output), 3000); // stdout and the HTTP answer are separate channels: the line may land just after
    // The app process is the binary run again as tsgi-dev; the app's own fork() in it runs Bun.
    expect((await get(url + "fork")).text).toBe("exit 0: job ran a1 ipc=function\n");
    // Started without \`env\`, the binary sees the app process's start environment: it must be tsgi-dev, not an app process.
    expect((await get(url + "respawn")).text).toBe(`exit 0: ${pkg.version}\n`);
  }, 20_000);
});

/** Warn (not fail) when a source file bundled into the binary is newer than it: the tests would run an old build. */
function warnIfStale(): void {
  const builtAt = statSync(BINARY).mtimeMs;
  let sources: string[];
  try {
    // The build's source map lists the files bundled into the binary, relative to the repository.
    sources = (JSON.parse(readFileSync(BINARY + ".map", "utf8")) as { sources: string[] }).sources;
  } catch {
    return;
  }
  for (const rel of sources) {
    const p = join(ROOT, rel);
    if (rel.startsWith("src/") && existsSync(p) && statSync(p).mtimeMs > builtAt) {
      console.warn(`warning: ${rel} is newer than ${BINARY}; run \`npm run build\` to test the current code`);
      return;
    }
  }
}
