/**
 * tsgi-dev's command line: help and version, one-line startup errors with
 * exit code 1 and no stack trace, the port rules, graceful SIGTERM/SIGINT.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { CLI, DevProcess, freePort, get, killAll, TempApp, until } from "../fixtures/dev/harness.ts";
import { DUPLICATE_SIGNAL_MS } from "../src/deploy/signals.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

const HELLO = `const enc = new TextEncoder();
export default function app(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("hello from " + process.pid)];
}
export function other(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("other")];
}
`;

function helloApp(files: Record<string, string> = {}): TempApp {
  const app = new TempApp({ "app.ts": HELLO, ...files });
  apps.push(app);
  return app;
}

/** Run tsgi-dev to completion (bounded), returning exit code and output. */
async function run(args: string[], cwd: string, env: Record<string, string | undefined> = {}, timeoutMs = 10_000) {
  const p = new DevProcess(args, { cwd, env });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  await Bun.sleep(20);
  return { code, out: p.output, stderr: p.stderr };
}

/** The error line: one line, no stack trace. */
function expectOneLineError(out: string, re: RegExp): void {
  expect(out).toMatch(re);
  expect(out).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  const errorLines = out.split("\n").filter((l) => /error/i.test(l) && l.trim());
  expect(errorLines.length).toBeGreaterThanOrEqual(1);
  expect(errorLines.length).toBeLessThanOrEqual(2);
}

describe("tsgi-dev CLI", () => {
  test("--help and --version", async () => {
    const app = helloApp();
    const help = await run(["--help"], app.dir);
    expect(help.code).toBe(0);
    for (const flag of ["--host <host>", "--port <port>", "--log-level <level>", "--no-access-log", "--reload[=inplace|restart]", "--no-reload", "--watch <path>", "--ignore <glob>", "--poll", "--no-live", "--no-debug", "-h, --help", "-v, --version"]) {
      expect(help.out).toContain(`  ${flag}`);
    }
    expect(help.out).toContain("Usage: tsgi-dev <app> [options]");
    expect(help.out.replace(/\s+/g, " ")).toContain("debug, info, warn, error, silent (default: info)");
    // Plain text into a pipe, no table padding, no "(Default: true)" under --reload.
    expect(help.out).not.toContain("\x1b[");
    expect(help.out).not.toMatch(/ +$/m);
    expect(help.out).not.toContain("(Default:");
    const version = await run(["--version"], app.dir);
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe(pkg.version);
    // With an app too: the version, and no server started.
    const withApp = await run(["./app.ts", "--version"], app.dir);
    expect([withApp.code, withApp.out.trim()]).toEqual([0, pkg.version]);
  });

  test("no such file", async () => {
    const app = helloApp();
    const r = await run(["./nope.ts"], app.dir);
    expect(r.code).toBe(1);
    expectOneLineError(r.out, /no such file: \.\/nope\.ts/);
    // Without its extension, or a directory: the file to give instead.
    const bare = await run(["./app"], app.dir);
    expect(bare.code).toBe(1);
    expectOneLineError(bare.out, /no such file: \.\/app; did you mean \.\/app\.ts\?/);
    // With an export name, as uvicorn is given `main:app`: kept in the suggestion.
    const named = await run(["./app:app"], app.dir);
    expect(named.code).toBe(1);
    expectOneLineError(named.out, /no such file: \.\/app; did you mean \.\/app\.ts:app\?/);
    // The module with, after ':', no export name (an identifier): taken as a path, and said so (before: "no such file: ./app.ts:my-app" alone).
    const badName = await run(["./app.ts:my-app"], app.dir);
    expect(badName.code).toBe(1);
    expectOneLineError(badName.out, /no such file: \.\/app\.ts:my-app; \.\/app\.ts is there, and "my-app" after ':' is no export name \(a JavaScript identifier, e\.g\. \.\/app\.ts:app\)/);
    // So is uvicorn's form, the extension left off (before: "no such file: ./app:my-app" alone).
    const badNameBare = await run(["./app:my-app"], app.dir);
    expect(badNameBare.code).toBe(1);
    expectOneLineError(badNameBare.out, /no such file: \.\/app:my-app; \.\/app\.ts is there, and "my-app" after ':' is no export name \(a JavaScript identifier, e\.g\. \.\/app\.ts:app\)/);
    const folder = await run(["."], app.dir);
    expect(folder.code).toBe(1);
    expectOneLineError(folder.out, /\. is a directory: give the app's module file, e\.g\. \.\/app\.ts/);
  });

  test("a file: URL or a quoted '~/app.ts' (no shell expansion): 'no such file' says so and gives the path (before: 'no such file' alone)", async () => {
    const app = helloApp();
    app.write("home/app.ts", HELLO);
    const home = join(app.dir, "home");
    const url = await run([Bun.pathToFileURL(join(app.dir, "app.ts")).href + ":app"], app.dir);
    expect(url.code).toBe(1);
    expectOneLineError(url.out, new RegExp(`no such file: file://.*/app\\.ts; a file: URL is no path here: give its path, ${join(app.dir, "app.ts").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:app$`, "m"));
    const gone = await run(["file:///no-such-dir/app.ts"], app.dir);
    expect(gone.code).toBe(1);
    expectOneLineError(gone.out, /no such file: file:\/\/\/no-such-dir\/app\.ts; a file: URL is no path here: its path, \/no-such-dir\/app\.ts, is not there either$/m);
    const tilde = await run(["~/app.ts"], app.dir, { HOME: home });
    expect(tilde.code).toBe(1);
    expectOneLineError(tilde.out, new RegExp(`no such file: ~/app\\.ts; the shell did not expand the "~" \\(it does not inside quotes, and tsgi does not\\): write \\$HOME/app\\.ts or an absolute path: ${home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/app\\.ts$`, "m"));
    const nowhere = await run(["~/nope.ts"], app.dir, { HOME: home });
    expect(nowhere.code).toBe(1);
    expectOneLineError(nowhere.out, /no such file: ~\/nope\.ts; the shell did not expand the "~" \(it does not inside quotes, and tsgi does not\): write \$HOME\/nope\.ts or an absolute path$/m);
  });

  test("an app under a directory whose name has a '?' (which Bun reads as a query: it imports no module there): a startup error naming the directory, in each reload mode (before: the server started and served 'Cannot find module' of the path cut at the '?', with 'Fix the code and save')", async () => {
    const app = helloApp();
    app.write("my?app/app.ts", HELLO);
    const dir = join(app.dir, "my?app");
    for (const [cwd, args] of [
      [dir, ["./app.ts"]],
      [dir, ["./app.ts", "--reload=restart"]],
      [dir, ["./app.ts", "--no-reload"]],
      [app.dir, ["./my?app/app.ts"]],
    ] as const) {
      const r = await run([...args, "--port", String(freePort())], cwd, {}, 8_000);
      expect([args, r.code]).toEqual([args, 1]);
      expectOneLineError(r.out, /cannot load .*app\.ts: the directory .*\/my\?app has a "\?" in its name, which Bun reads as the start of a query: it imports no module under it; rename the directory without the "\?"/);
      expect(r.out).not.toContain("Cannot find module");
    }
    // A backslash, which Bun reads as a separator on POSIX: the same, said so.
    app.write("my\\app/app.ts", HELLO);
    const slashed = await run(["./app.ts", "--port", String(freePort())], join(app.dir, "my\\app"), {}, 8_000);
    expect(slashed.code).toBe(1);
    expectOneLineError(slashed.out, /cannot load \.\/app\.ts: the directory .*\/my\\app has a "\\" in its name, which Bun reads as a path separator: it imports no module under it; rename the directory without the "\\"/);
    // A file named so: the file to rename.
    app.write("q?.ts", HELLO);
    const file = await run(["./q?.ts", "--port", String(freePort())], app.dir, {}, 8_000);
    expect(file.code).toBe(1);
    expectOneLineError(file.out, /cannot load \.\/q\?\.ts: the file .*\/q\?\.ts has a "\?" in its name, .*; rename the file without the "\?"/);
  });

  test("tsgi serve's word typed to tsgi-dev (tsgi-dev serve ./app.ts): the command line to type, not 'unexpected argument' or 'no such file: serve'; a file named serve is served only as a path, ./serve (before: the bare word imported it, a shell script failing as a module)", async () => {
    const app = helloApp();
    const r = await run(["serve", "./app.ts", "--watch", "views"], app.dir);
    expect(r.code).toBe(2);
    expectOneLineError(r.out, /^\[error\] tsgi-dev takes the app itself, with no command: tsgi-dev \.\/app\.ts --watch views \(serve is the production command's: tsgi serve \.\/app\.ts\)$/m);
    const alone = await run(["serve"], app.dir);
    expect(alone.code).toBe(2);
    expectOneLineError(alone.out, /tsgi-dev takes the app itself, with no command: tsgi-dev \.\/app\.ts \(serve is the production command's: tsgi serve \.\/app\.ts\)/);
    // After flags too, where the app goes (as help is found): the same line, the user's flags kept in place.
    const late = await run(["--port", "9000", "serve", "app.ts"], app.dir);
    expect(late.code).toBe(2);
    expectOneLineError(late.out, /^\[error\] tsgi-dev takes the app itself, with no command: tsgi-dev --port 9000 app\.ts \(serve is the production command's: tsgi serve app\.ts\)$/m);
    // A flag's value is not the app (tsgi serve 9000 before), and with no app the line to type has one.
    const noApp = await run(["serve", "--port", "9000"], app.dir);
    expect(noApp.code).toBe(2);
    expectOneLineError(noApp.out, /^\[error\] tsgi-dev takes the app itself, with no command: tsgi-dev \.\/app\.ts --port 9000 \(serve is the production command's: tsgi serve \.\/app\.ts\)$/m);
    // A file named serve (a project's ./serve script) is not taken for the bare word: the production command's word all the same,
    // and the file's path to type (before: the file imported as the app; a shell script failed as a module, SyntaxError).
    const named = helloApp({ serve: 'export default (environ, startResponse) => { startResponse("200 OK", []); return []; };\n' });
    const script = helloApp({ serve: "#!/bin/sh\nexec tsgi serve ./app.ts --workers 2\n" });
    for (const [dir, args, line] of [
      [named.dir, ["serve", "--port", "0", "--no-reload"], "tsgi-dev ./serve --port 0 --no-reload"],
      [script.dir, ["serve"], "tsgi-dev ./serve"],
      [script.dir, ["--port", "9000", "serve"], "tsgi-dev --port 9000 ./serve"],
    ] as const) {
      const s = await run([...args], dir, {}, 3_000);
      expect([args, s.code]).toEqual([args, 2]);
      expectOneLineError(s.out, new RegExp(`^\\[error\\] serve is the production command's word \\(tsgi serve <app>\\), not taken as the app: tsgi-dev takes the app itself, with no command; to serve the file \\./serve here, write its path: ${line.replace(/\./g, "\\.")}$`, "m"));
      expect(s.out).not.toContain("serving");
    }
    // Written as a path, it is an app like any other.
    const dev = new DevProcess(["./serve", "--port", "0", "--no-reload"], { cwd: named.dir });
    expect(await dev.ready()).toStartWith("http://127.0.0.1:");
    expect(dev.output).toContain("tsgi-dev serving ./serve at");
    await dev.kill();
    // Not when another app follows: serve is then the production command's word (before: 'unexpected argument "./app.ts"').
    const both = await run(["serve", "./app.ts", "--port", "0"], named.dir);
    expect(both.code).toBe(2);
    expectOneLineError(both.out, /^\[error\] tsgi-dev takes the app itself, with no command: tsgi-dev \.\/app\.ts --port 0 \(serve is the production command's: tsgi serve \.\/app\.ts\)$/m);
    // A module serve.ts and serve alone (its .ts left off): both are said, as for help.ts, not ./app.ts to type.
    const module = helloApp({ "serve.ts": HELLO });
    for (const args of [["serve"], ["--port", "9000", "serve"]]) {
      const m = await run(args, module.dir);
      expect([args, m.code]).toEqual([args, 2]);
      expectOneLineError(m.out, /^\[error\] no such file: serve; did you mean serve\.ts\? \(tsgi-dev takes the app itself, with no command; serve is the production command's: tsgi serve <app>\)$/m);
    }
    // With an app after it, serve is the production command's word, serve.ts or not.
    const withApp = await run(["serve", "app.ts"], module.dir);
    expect(withApp.code).toBe(2);
    expectOneLineError(withApp.out, /tsgi-dev takes the app itself, with no command: tsgi-dev app\.ts \(serve is the production command's: tsgi serve app\.ts\)/);
  });

  test("tsgi-dev help prints the help (exit 0), not 'no such file: help'; a file named help is still the app, and with a help.ts there the error names both", async () => {
    const app = helloApp();
    const r = await run(["help"], app.dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: tsgi-dev <app> [options]");
    expect(r.out).toContain("  --no-reload");
    expect(r.out).not.toContain("no such file");
    // A module help.ts: which was meant is not known, so both are said.
    const withModule = helloApp({ "help.ts": HELLO });
    const m = await run(["help"], withModule.dir);
    expect(m.code).toBe(2);
    expectOneLineError(m.out, /^\[error\] no such file: help; did you mean help\.ts\? \(tsgi-dev's own help is tsgi-dev --help\)$/m);
    // A file named help is an app like any other.
    const named = helloApp({ help: 'export default (environ, startResponse) => { startResponse("200 OK", []); return []; };\n' });
    const s = await run(["help", "--port", "0", "--no-reload"], named.dir, {}, 3_000);
    expect(s.out).toContain("tsgi-dev serving help at http://127.0.0.1:");
    expect(s.out).not.toContain("Usage:");
  });

  test("--no-reload's startup line says what the live-reload script does then: reload a page when tsgi-dev is restarted (a new id on the stream), not 'live reload in the browser'", async () => {
    const app = helloApp();
    // The first process binds a port of its own (--port 0); the second and the quiet one take the same again, as a restart would.
    let port = 0;
    /** The version id the live stream's hello names (what the page compares with the one it was rendered with). */
    const helloId = async (url: string) => {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 5_000);
      const res = await fetch(`${url}__tsgi/live`, { signal: ac.signal });
      const reader = res.body!.getReader();
      let text = "";
      for (let i = 0; i < 20 && !/data: (\S+)\n\n/.test(text); i++) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      clearTimeout(timer);
      ac.abort();
      return /event: hello\ndata: (\S+)\n/.exec(text)?.[1];
    };
    const ids: Array<string | undefined> = [];
    for (let round = 0; round < 2; round++) {
      const dev = new DevProcess(["./app.ts", "--no-reload", "--port", String(port), "--no-access-log"], { cwd: app.dir });
      const url = await dev.ready();
      port = Number(new URL(url).port);
      await dev.waitFor(/\[info\] reload off/);
      expect(dev.stdout).toContain("[info] reload off; a page in the browser reloads when tsgi-dev is restarted; Ctrl-C to stop\n");
      expect(dev.stdout).not.toContain("live reload in the browser");
      ids.push(await helloId(url));
      expect(await dev.kill("SIGTERM")).toBe(0);
    }
    // What the line claims: the second process names another id, so a page rendered by the first reloads.
    expect(ids[0]).toBeString();
    expect(ids[1]).toBeString();
    expect(ids[1]).not.toBe(ids[0]);
    // Without the script, nothing is said of the browser.
    const quiet = new DevProcess(["./app.ts", "--no-reload", "--no-live", "--port", String(port)], { cwd: app.dir });
    await quiet.ready();
    await quiet.waitFor(/\[info\] reload off/);
    expect(quiet.stdout).toContain("[info] reload off; Ctrl-C to stop\n");
    expect(await quiet.kill("SIGTERM")).toBe(0);
  }, 40_000);

  test("--watch, --ignore or --poll with --no-reload: a warning that they do nothing and what to drop, and the app is served", async () => {
    const app = helloApp();
    const dev = new DevProcess(["./app.ts", "--no-reload", "--watch", "views", "--ignore", "*.log", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    expect(dev.stderr).toContain("[warn] --watch, --ignore do nothing with --no-reload (nothing is watched): drop --no-reload to reload on changes\n");
    expect((await get(url)).text).toStartWith("hello from ");
    // The last of --no-reload and --reload wins: no warning once reloading is on again.
    const on = new DevProcess(["./app.ts", "--no-reload", "--watch=app.ts", "--reload", "--port", "0"], { cwd: app.dir });
    await on.ready();
    expect(on.output).not.toContain("do nothing with --no-reload");
    const poll = new DevProcess(["./app.ts", "--poll", "--no-reload", "--port", "0"], { cwd: app.dir });
    await poll.ready();
    expect(poll.stderr).toContain("[warn] --poll does nothing with --no-reload");
  });

  test("no default export names the exports it has", async () => {
    const app = helloApp({ "named.ts": `export const api = () => [];\nexport function handler() { return []; }\n` });
    const r = await run(["./named.ts"], app.dir);
    expect(r.code).toBe(1);
    expectOneLineError(r.out, /\.\/named\.ts has no default export \(exports: api, handler\); pick one with \.\/named\.ts:api/);

    // The hint names an export that is an application, not the first one.
    const mixed = helloApp({ "mixed.ts": `export const VERSION = "1";\nexport const config = { debug: true };\nexport function serve(environ: any, startResponse: any) { return []; }\n` });
    const m = await run(["./mixed.ts"], mixed.dir);
    expectOneLineError(m.out, /has no default export \(exports: VERSION, config, serve\); pick one with \.\/mixed\.ts:serve/);
    const none = helloApp({ "none.ts": `export const a = 1;\nexport const b = "x";\n` });
    const n = await run(["./none.ts"], none.dir);
    expectOneLineError(n.out, /\.\/none\.ts has no default export \(exports: a, b\); none of them is an application \(.*\): the default export is the one served, so export yours with `export default app`, or name it after a colon: \.\/none\.ts:app/);
    // A module that exports nothing (the application written, the export forgotten): how to export it.
    const bare = helloApp({ "bare.ts": `const app = (environ: any, startResponse: any) => [];\n` });
    const b = await run(["./bare.ts"], bare.dir);
    expect(b.code).toBe(1);
    expectOneLineError(b.out, /\.\/bare\.ts has no default export \(it exports nothing\); export your application: `export default app`/);
  });

  test("a missing named export, and a named export that works", async () => {
    const app = helloApp();
    const bad = await run(["./app.ts:nothere"], app.dir);
    expect(bad.code).toBe(1);
    expectOneLineError(bad.out, /has no export named nothere \(exports: default, other\)/);

    const good = new DevProcess(["./app.ts:other", "--port", "0"], { cwd: app.dir });
    const url = await good.ready();
    expect((await get(url)).text).toBe("other");
  });

  test("every app gets tsgi.signal under tsgi-dev (requestSignal on: its wrappers hide fromFetchHandler's mark), in place and with --reload=restart", async () => {
    const app = helloApp({
      "sig.ts": `export default (environ: Record<string, unknown>, sr: (s: string, h: [string, string][]) => unknown) => {\n  sr("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode(String(environ["tsgi.signal"] instanceof AbortSignal))];\n};\n`,
    });
    for (const mode of [[], ["--reload=restart"]]) {
      const dev = new DevProcess(["./sig.ts", "--port", "0", ...mode], { cwd: app.dir });
      const url = await dev.ready();
      expect((await get(url)).text).toBe("true");
      expect(await dev.kill("SIGTERM")).toBe(0);
    }
  });

  test("export is not a function", async () => {
    const app = helloApp({ "obj.ts": `export default { routes: [] };\n`, "num.ts": `export const app = 42;\n`, "factory.ts": `export default (async () => () => new Response("x"))();\n` });
    const r = await run(["./obj.ts"], app.dir);
    expect(r.code).toBe(1);
    expectOneLineError(r.out, /the default export of \.\/obj\.ts is an object without a fetch\(\) method, not an application/);
    // A fetch that is there but no function: its type (before: "an object without a fetch() method").
    app.write("fetch1.ts", "export default { fetch: 1 };\n");
    const f = await run(["./fetch1.ts"], app.dir);
    expect(f.code).toBe(1);
    expectOneLineError(f.out, /the default export of \.\/fetch1\.ts is an object whose fetch is a number, not a function, not an application \(a TSGI application/);
    const n = await run(["./num.ts:app"], app.dir);
    expect(n.code).toBe(1);
    expectOneLineError(n.out, /export app of \.\/num\.ts is a number, not an application/);
    const p = await run(["./factory.ts"], app.dir);
    expect(p.code).toBe(1);
    expectOneLineError(p.out, /the default export of \.\/factory\.ts is a Promise \(export what it resolves to: export default await createApp\(\)\), not an application/);
  });

  test("an app file that is not code (app.py, README.md, data.json): one line saying it is no JavaScript or TypeScript module and which to give, the module of the same name when there is one (before: only 'the default export is a string, not an application'), in each reload mode", async () => {
    const app = helloApp({ "app.py": "def app(environ, start_response): pass\n", "README.md": "# my app\n", "data.json": "{}\n" });
    for (const mode of [[], ["--reload=restart"], ["--no-reload"]]) {
      const py = await run(["./app.py", "--port", "0", ...mode], app.dir);
      expect(py.code, mode.join(" ")).toBe(1);
      expectOneLineError(py.out, /the default export of \.\/app\.py is a string, not an application: \.\/app\.py is not a JavaScript or TypeScript module \(Bun imports a \.py file as text or data\); did you mean \.\/app\.ts\?$/m);
    }
    const md = await run(["README.md", "--port", "0"], app.dir);
    expect(md.code).toBe(1);
    expectOneLineError(md.out, /\.\/README\.md is not a JavaScript or TypeScript module \(Bun imports a \.md file as text or data\); give the app's module, e\.g\. tsgi-dev \.\/app\.ts$/m);
    const json = await run(["./data.json", "--port", "0"], app.dir);
    expect(json.code).toBe(1);
    expectOneLineError(json.out, /the default export of \.\/data\.json is an object without a fetch\(\) method, not an application: \.\/data\.json is not a JavaScript or TypeScript module/);
    // A code module keeps the shapes an app may take.
    const obj = await run(["./obj.ts", "--port", "0"], helloApp({ "obj.ts": "export default {};\n" }).dir);
    expectOneLineError(obj.out, /is an object without a fetch\(\) method, not an application \(a TSGI application/);
  });

  test("an exported class is refused at startup (spec.md: it cannot be called without new), not served to fail every request", async () => {
    const app = helloApp({ "cls.ts": `export default class App {\n  constructor(environ: unknown, startResponse: unknown) {}\n}\n` });
    const r = await run(["./cls.ts", "--port", "0"], app.dir);
    expect(r.code).toBe(1);
    expectOneLineError(r.out, /the default export of \.\/cls\.ts is a class \(App\), which cannot be called without new, not an application/);
  });

  test("a syntax error at startup with --no-reload is fatal, in one line", async () => {
    const app = helloApp({ "broken.ts": `export default function ( {\n` });
    const r = await run(["./broken.ts", "--no-reload", "--port", "0"], app.dir);
    expect(r.code).toBe(1);
    expectOneLineError(r.out, /cannot load \.\/broken\.ts: SyntaxError: .*\(.*broken\.ts:\d+:\d+\)/);
  });

  test("bad flag values: one line, exit 2 (a usage error, as tsgi serve); a --host that does not resolve: one line, exit 1", async () => {
    const app = helloApp();
    const port = await run(["./app.ts", "--port", "eighty"], app.dir);
    expect(port.code).toBe(2);
    expectOneLineError(port.out, /--port must be a TCP port from 0 to 65535 \(e\.g\. --port 8000\), got "eighty"/);
    const reload = await run(["./app.ts", "--reload=sometimes"], app.dir);
    expect(reload.code).toBe(2);
    expectOneLineError(reload.out, /--reload=sometimes is not valid: use --reload or --reload=inplace or --reload=restart/);
    const spaced = await run(["./app.ts", "--reload", "restart"], app.dir);
    expect(spaced.code).toBe(2);
    expectOneLineError(spaced.out, /unexpected argument "restart": write --reload=restart, with "="/);
    const unknown = await run(["./app.ts", "--wach", "src"], app.dir);
    expect(unknown.code).toBe(2);
    expectOneLineError(unknown.out, /unknown option --wach; did you mean --watch\? \(see tsgi-dev --help\)/);
    // A switch's --no- form misspelt gets it too (before: no suggestion at all).
    const negated = await run(["./app.ts", "--no-relaod"], app.dir);
    expect(negated.code).toBe(2);
    expectOneLineError(negated.out, /unknown option --no-relaod; did you mean --no-reload\? \(see tsgi-dev --help\)/);
    // uvicorn's flag gets what to use instead.
    const foreign = await run(["./app.ts", "--reload-dir", "src"], app.dir);
    expect(foreign.code).toBe(2);
    expectOneLineError(foreign.out, /unknown option --reload-dir: use --watch <path> \(repeatable\)/);
    const swallowed = await run(["./app.ts", "--port", "--poll"], app.dir);
    expect(swallowed.code).toBe(2);
    expectOneLineError(swallowed.out, /--port needs a value: --port <port>/);
    // Checked before citty, which would print its whole usage text first.
    const level = await run(["./app.ts", "--log-level", "loud"], app.dir);
    expect(level.code).toBe(2);
    expectOneLineError(level.out, /--log-level must be one of debug, info, warn, error, silent; got "loud"/);
    expect(level.out).not.toContain("USAGE");
    const none = await run([], app.dir);
    expect(none.code).toBe(2);
    expectOneLineError(none.out, /missing <app>: tsgi-dev <app> \[options\], e\.g\. tsgi-dev \.\/app\.ts/);
    expect(none.out).not.toContain("USAGE");
    const env = await run(["./app.ts"], app.dir, { PORT: "99999" });
    expect(env.code).toBe(2);
    expectOneLineError(env.out, /PORT must be a TCP port from 0 to 65535 \(e\.g\. PORT=8000\), got /);
    // A name that does not resolve: said once, not Bun's "Failed to listen at".
    const unresolved = await run(["./app.ts", "--host", "no-such-host.invalid", "--port", "0"], app.dir);
    expect(unresolved.code).toBe(1);
    expectOneLineError(unresolved.out, /^[^\n]*cannot listen on no-such-host\.invalid:\d+: no-such-host\.invalid is not an IP address and does not resolve to one here; give an address such as 127\.0\.0\.1/m);
    expect(unresolved.out.match(/cannot listen on/g)).toHaveLength(1);
    // An address with a port: where the port goes, not Bun's failed lookup of "0.0.0.0:80".
    const hostPort = await run(["./app.ts", "--host", "0.0.0.0:80"], app.dir);
    expect(hostPort.code).toBe(2);
    expectOneLineError(hostPort.out, /--host takes an address without a port: write --host 0\.0\.0\.0 --port 80, got "0\.0\.0\.0:80"/);
  });

  test("outside CI and tests, output to a pipe or a file is plain lines (consola's basic form: no badge, no blank lines, no icons); a terminal keeps the fancy form", async () => {
    // Before, consola chose its fancy reporter whenever CI and NODE_ENV=test were unset, whatever the
    // stream: a usage error in a log file or an editor's task output was a blank line, " ERROR  ...", a blank line.
    const app = helloApp();
    const user = { NODE_ENV: undefined, CI: undefined, TEST: undefined };
    const bad = await run(["./app.ts", "--wach", "src"], app.dir, user);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("[error] unknown option --wach; did you mean --watch? (see tsgi-dev --help)\n");
    const missing = await run(["./nope.ts"], app.dir, user);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("[error] no such file: ./nope.ts\n");
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir, env: user });
    const url = await dev.ready();
    // The second line may reach the pipe a moment after the first (it failed once on a loaded machine).
    await dev.waitFor(/\[info\] reload in place/);
    expect(dev.stdout.split("\n").slice(0, 2)).toEqual([`[success] tsgi-dev serving ./app.ts at ${url}`, "[info] reload in place, live reload in the browser; Ctrl-C to stop"]);
    expect(await dev.kill("SIGTERM")).toBe(0);
    // On a terminal (util-linux script gives it one), the fancy form.
    const script = Bun.which("script");
    if (script) {
      const tty = Bun.spawn([script, "-qec", `${process.execPath} ${CLI} ./app.ts --wach src`, "/dev/null"], {
        cwd: app.dir,
        env: { ...process.env, NODE_ENV: "", CI: "", TEST: "", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const killer = setTimeout(() => tty.kill("SIGKILL"), 10_000);
      const text = await new Response(tty.stdout).text();
      clearTimeout(killer);
      expect(await tty.exited).toBe(2);
      expect(text.replace(/\r/g, "")).toContain("\n ERROR  unknown option --wach");
    }
  });

  test("an empty flag value (--port=, --watch=, --watch \"\"): one line naming the flag and what to give, exit 2", async () => {
    const app = helloApp();
    // Were the empty value dropped, the server would start: on PORT, and watching the whole directory.
    const env = { PORT: String(freePort()) };
    const cases: Array<[string[], RegExp]> = [
      [["--port="], /--port needs a value, got an empty one: a TCP port from 0 to 65535, e\.g\. --port 8000/],
      [["--port", ""], /--port needs a value, got an empty one: a TCP port/],
      [["--watch="], /--watch needs a value, got an empty one: a file, directory or glob to watch, e\.g\. --watch templates/],
      [["--watch", ""], /--watch needs a value, got an empty one/],
      [["--ignore="], /--ignore needs a value, got an empty one: a glob/],
      [["--host="], /--host needs a value, got an empty one: an address to bind/],
    ];
    for (const [flags, re] of cases) {
      const r = await run(["./app.ts", ...flags], app.dir, env, 5000);
      expect([flags, r.code]).toEqual([flags, 2]);
      expectOneLineError(r.out, re);
      expect(r.out).not.toContain("serving");
    }
  }, 40_000);

  test("an explicit port in use (--port or PORT): exit 1 naming host:port and what to do", async () => {
    const app = helloApp();
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = holder.port;
    try {
      const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      // Given --port: another --port is the way, not PORT=<n>, which --port wins over (before: "--port <n> (or PORT=<n>), or leave both out").
      const fromFlag = `127.0.0.1:${port} is already in use: stop the process using it, or pick another port with --port <n>, or leave --port out to take the next free port`;
      for (const extra of [[], ["--reload=restart"]]) {
        const r = await run(["./app.ts", "--port", String(port), ...extra], app.dir, { PORT: undefined });
        expect([extra, r.code]).toEqual([extra, 1]);
        expectOneLineError(r.out, new RegExp(`^\\[error\\] ${escape(fromFlag)}$`, "m"));
        // The address once, not twice.
        expect([extra, r.out.split(String(port)).length - 1]).toEqual([extra, 1]);
      }
      const e = await run(["./app.ts"], app.dir, { PORT: String(port) });
      expect(e.code).toBe(1);
      // Where the port came from, in tsgi serve's words: a user who gave no --port looks for it (before: not said).
      const fromPort = `127.0.0.1:${port} is already in use; port ${port} came from PORT (set in the environment or a .env file): stop the process using it, or pick another port with --port <n> (which wins over PORT), or leave both out to take the next free port`;
      expectOneLineError(e.out, new RegExp(`^\\[error\\] ${escape(fromPort)}$`, "m"));
      // From a .env file (Bun loads it into the environment), in place and in restart mode (the supervisor binds): the file is
      // named, and PORT is to be changed there, where unsetting it in the shell would do nothing (before: "set in the environment
      // or a .env file ... or leave both out"). The file Bun took it from: .env.local over .env.
      const fromFile = (file: string) =>
        `127.0.0.1:${port} is already in use; port ${port} came from PORT (set in ${file}): stop the process using it, or pick another port with --port <n> (which wins over PORT), or change PORT in ${file} (or remove it there to take the next free port)`;
      const withDotenv = helloApp({ ".env": `PORT=${port}\n` });
      // (NODE_ENV as in a terminal: under bun test it is "test", in which Bun reads no .env.local.)
      const withLocal = helloApp({ ".env": "PORT=not-this-one\n", ".env.local": `PORT=${port}\n` });
      for (const [dir, file] of [[withDotenv.dir, ".env"], [withLocal.dir, ".env.local"]] as const) {
        for (const extra of [[], ["--reload=restart"]]) {
          const d = await run(["./app.ts", ...extra], dir, { PORT: undefined, NODE_ENV: undefined, BUN_ENV: undefined });
          expect([file, extra, d.code]).toEqual([file, extra, 1]);
          expectOneLineError(d.out, new RegExp(`^\\[error\\] ${escape(fromFile(file))}$`, "m"));
        }
      }
      // The shell's PORT wins over the file's, and is named as before.
      const shellWins = await run(["./app.ts"], withLocal.dir, { PORT: String(port), NODE_ENV: undefined, BUN_ENV: undefined });
      expect(shellWins.code).toBe(1);
      expectOneLineError(shellWins.out, new RegExp(`^\\[error\\] ${escape(fromPort)}$`, "m"));
      // --port given and busy, PORT from .env: leaving --port out would bind PORT's port, so it is to be removed from the file.
      const flagOverFile = await run(["./app.ts", "--port", String(port)], withDotenv.dir, { PORT: undefined });
      expect(flagOverFile.code).toBe(1);
      expectOneLineError(flagOverFile.out, new RegExp(`^\\[error\\] ${escape(fromFlag.replace("leave --port out", "leave --port out and remove PORT from .env"))}$`, "m"));
      // --port wins over PORT: not named as where the port came from; leaving --port out would bind PORT's, so it is to be unset too.
      const both = await run(["./app.ts", "--port", String(port)], app.dir, { PORT: "1" });
      expect(both.code).toBe(1);
      expect(both.out).not.toContain("came from PORT");
      expectOneLineError(both.out, new RegExp(`^\\[error\\] ${escape(fromFlag.replace("leave --port out", "leave --port out and unset PORT"))}$`, "m"));
    } finally {
      holder.stop(true);
    }
  });

  // Linux lets no ordinary user bind below ip_unprivileged_port_start (1024 unless lowered).
  const UNPRIVILEGED_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
  // nobody must reach the checkout: a clone under /root (mode 700) cannot be run as nobody ("Module not found").
  const privilegedPort80 =
    process.getuid?.() === 0 &&
    Bun.which("runuser") !== null &&
    (existsSync(UNPRIVILEGED_START) ? Number(readFileSync(UNPRIVILEGED_START, "utf8")) : 1024) > 80 &&
    Bun.spawnSync(["runuser", "-u", "nobody", "--", process.execPath, CLI, "--version"], { cwd: "/", stdout: "ignore", stderr: "ignore", timeout: 15_000 }).exitCode === 0;
  if (!privilegedPort80)
    console.warn(
      "SKIP port 80 as an ordinary user: needs root, runuser (util-linux), ports below 1024 privileged (ip_unprivileged_port_start above 80) and a checkout the user nobody can read",
    );
  test.skipIf(!privilegedPort80)("port 80 as an ordinary user: what to do, and, when it came from PORT, that it did (in place and in restart mode)", async () => {
    const app = helloApp();
    chmodSync(app.dir, 0o755);
    chmodSync(app.path("app.ts"), 0o644);
    for (const extra of [[], ["--reload=restart"]]) {
      for (const [flags, env, message] of [
        [["--port", "80"], {}, "[error] permission denied binding 127.0.0.1:80: ports below 1024 need privileges; use a port of 1024 or above, e.g. --port 8000\n"],
        [[], { PORT: "80" }, "[error] permission denied binding 127.0.0.1:80; port 80 came from PORT (set in the environment or a .env file): ports below 1024 need privileges; use a port of 1024 or above, e.g. --port 8000 (which wins over PORT)\n"],
      ] as Array<[string[], Record<string, string>, string]>) {
        const p = new DevProcess(["./app.ts", ...flags, ...extra], { cwd: app.dir, env: { HOME: "/tmp", PORT: undefined, ...env }, command: ["runuser", "-u", "nobody", "--", process.execPath, CLI] });
        const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
        const code = await p.exited;
        clearTimeout(timer);
        expect([flags, extra, code]).toEqual([flags, extra, 1]);
        expect([flags, extra, p.output]).toEqual([flags, extra, expect.stringContaining(message)]);
        expect(p.output).not.toMatch(/^\s+at /m);
      }
    }
  }, 60_000);

  test("the default port busy: the next free port is taken, and said", async () => {
    const app = helloApp();
    let holder: { stop(closeActive?: boolean): void } | null = null;
    try {
      holder = Bun.listen({ hostname: "127.0.0.1", port: 8000, socket: { data() {} } });
    } catch {
      // 8000 is already taken by something else: just as good
    }
    try {
      const dev = new DevProcess(["./app.ts"], { cwd: app.dir, env: { PORT: undefined } });
      const url = await dev.ready();
      const port = Number(new URL(url).port);
      expect(port).toBeGreaterThan(8000);
      expect(dev.output).toMatch(new RegExp(`port 8000 is in use; using ${port} instead`));
      expect((await get(url)).text).toStartWith("hello from");
      expect(await dev.kill("SIGTERM")).toBe(0);
    } finally {
      holder?.stop(true);
    }
  });

  test("--backlog sets the listen backlog, as tsgi serve's: in place and on the socket --reload=restart's app processes share; above net.core.somaxconn a warning and the cap; a bad value one line, exit 2 (before: 'a tsgi serve flag')", async () => {
    const bad = await run(["./app.ts", "--backlog", "lots"], helloApp().dir);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.out, /--backlog must be a number of connections from 0 to 2147483647 \(e\.g\. --backlog 2048\), got "lots"/);
    const empty = await run(["./app.ts", "--backlog="], helloApp().dir);
    expect(empty.code).toBe(2);
    expectOneLineError(empty.out, /--backlog/);
    const SS = Bun.which("ss");
    if (!SS || process.platform !== "linux") {
      console.warn("skipping the --backlog socket checks: ss (iproute2) not found, or not Linux");
      return;
    }
    /** `ss -ltn`'s Send-Q for the sockets listening on `port`: the backlog in force. */
    const backlogsOf = (port: string): number[] =>
      Bun.spawnSync([SS, "-Hltn", "sport", "=", `:${port}`], { stdout: "pipe", timeout: 5000 })
        .stdout.toString()
        .split("\n")
        .flatMap((l) => {
          const m = /^LISTEN\s+\d+\s+(\d+)\s/.exec(l);
          return m ? [Number(m[1])] : [];
        });
    let somaxconn = Infinity;
    try {
      somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    } catch {}
    for (const mode of [[], ["--reload=restart"]]) {
      const dev = new DevProcess(["./app.ts", "--port", "0", "--backlog", "7", ...mode], { cwd: helloApp().dir });
      const url = await dev.ready();
      expect((await get(url)).status).toBe(200);
      const port = new URL(url).port;
      expect(backlogsOf(port), mode.join(" ")).toEqual([Math.min(7, somaxconn)]);
      await dev.kill();
    }
    if (Number.isFinite(somaxconn) && somaxconn < 2147483647) {
      const over = somaxconn + 1;
      const dev = new DevProcess(["./app.ts", "--port", "0", "--backlog", String(over)], { cwd: helloApp().dir });
      const url = await dev.ready();
      expect(dev.output).toContain(`--backlog ${over} is more than net.core.somaxconn (${somaxconn}), at which the kernel caps it: the socket listens with ${somaxconn}`);
      expect(dev.count(/net\.core\.somaxconn/)).toBe(1);
      expect(backlogsOf(new URL(url).port)).toEqual([somaxconn]);
    }
  });

  test("permission denied", async () => {
    const app = helloApp();
    const root = process.getuid?.() === 0;
    if (root && !existsSync("/usr/bin/setpriv")) return; // cannot drop privileges here
    chmodSync(app.dir, 0o755); // readable by nobody
    // As root, run as nobody; otherwise a privileged port fails on its own.
    const cmd = root
      ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI, "./app.ts", "--port", "80"]
      : [process.execPath, CLI, "./app.ts", "--port", "80"];
    const p = Bun.spawn({ cmd, cwd: app.dir, env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    const code = await p.exited;
    clearTimeout(timer);
    const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
    expect(code).toBe(1);
    expectOneLineError(out, /permission denied binding 127\.0\.0\.1:80: .*--port 8000/);
  });

  test("--host 0.0.0.0 prints the local URL and the LAN URLs", async () => {
    const app = helloApp();
    const dev = new DevProcess(["./app.ts", "--host", "0.0.0.0", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    expect(url).toStartWith("http://127.0.0.1:");
    expect((await get(url)).text).toStartWith("hello from");
    const { networkInterfaces } = await import("node:os");
    const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal);
    if (lan) {
      await dev.waitFor(new RegExp(`on your network: http://${lan.address.replace(/\./g, "\\.")}:\\d+/`), 3000);
      expect((await get(`http://${lan.address}:${new URL(url).port}/`)).text).toStartWith("hello from");
    }
  });

  test("SIGTERM and SIGINT stop gracefully: the in-flight request finishes, exit code 0", async () => {
    const app = helloApp({
      "slow.ts": `export default async function app(environ: any, startResponse: any) {
  console.log("slow request started");
  await Bun.sleep(600);
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("finished")];
}
`,
    });
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const dev = new DevProcess(["./slow.ts", "--port", "0"], { cwd: app.dir });
      const url = await dev.ready();
      const inflight = get(url, {}, 5000);
      await dev.waitFor(/slow request started/, 5000); // in flight (a fixed 150 ms could signal before it arrived)
      dev.proc.kill(signal);
      const r = await inflight;
      expect(r.status).toBe(200);
      expect(r.text).toBe("finished");
      expect(await dev.exited).toBe(0);
      // The port is free again.
      const again = Bun.listen({ hostname: "127.0.0.1", port: Number(new URL(url).port), socket: { data() {} } });
      again.stop(true);
    }
  });

  test("a stop signal while a reload is loading (a slow top-level await) still exits 0, and a second one 130", async () => {
    const SLOW = `export default async function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/slow") console.log("slow request started");
  if (environ.PATH_INFO === "/slow") await Bun.sleep(1500);
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("done")];
}
`;
    for (const [signals, code] of [[["SIGINT"], 0], [["SIGINT", "SIGINT"], 130]] as const) {
      const app = helloApp({ "app.ts": SLOW });
      const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
      const url = await dev.ready();
      const inflight = get(`${url}slow`, {}, 5000).catch(() => null); // keeps the graceful stop waiting
      await dev.waitFor(/slow request started/, 5000);
      const mark = dev.output.length;
      app.write("app.ts", `console.log("loading the new version");\nawait new Promise(() => {}); // a connection that never comes\n${SLOW}`);
      // The watcher's debounce, then the load starts and hangs (a fixed 400 ms could signal before it began).
      await dev.waitFor(/loading the new version/, 5000, mark);
      dev.proc.kill(signals[0]);
      if (signals.length === 2) {
        // A second SIGINT within DUPLICATE_SIGNAL_MS of the first one's handling is the same one delivered
        // twice (ignored): send it that long after the first was handled, not 100 ms after it was sent.
        await dev.waitFor(/SIGINT: stopping/, 5000, mark);
        await Bun.sleep(DUPLICATE_SIGNAL_MS + 20);
        dev.proc.kill(signals[1]);
      }
      expect(await dev.exited).toBe(code);
      expect(dev.output.slice(mark)).not.toContain("called process.exit");
      await inflight;
    }
  });

  test("a stop signal while the app first loads (a slow top-level await) says so and exits 0, as a later one and as in restart mode (before: killed by SIGINT, nothing said)", async () => {
    const app = helloApp({ "app.ts": `console.log("loading the app");\nawait Bun.sleep(8000); // a database that is slow to answer\n${HELLO}` });
    for (const reload of ["--reload=inplace", "--reload=restart"]) {
      const dev = new DevProcess(["./app.ts", "--port", "0", reload], { cwd: app.dir });
      await dev.waitFor(/loading the app/, 5000);
      const mark = dev.output.length;
      dev.proc.kill("SIGINT");
      const code = await Promise.race([dev.exited, Bun.sleep(4000).then(() => "still running")]);
      expect([reload, code]).toEqual([reload, 0]);
      expect(dev.output.slice(mark)).toMatch(/SIGINT: stopped (the app process )?while (it|the app) was loading/);
    }
  });

  test("access log on by default, off with --no-access-log", async () => {
    const app = helloApp();
    const on = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await on.ready();
    await get(url + "logged-path");
    await on.waitFor(/"GET \/logged-path HTTP\/1\.1" 200/, 3000);
    const off = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url2 = await off.ready();
    await get(url2 + "unlogged-path");
    await Bun.sleep(300);
    expect(off.output).not.toContain("unlogged-path");
  });

  test("a switch given both ways: the last one wins, as --reload and --port do (a script's --no-live, then --live after npm run dev --); before, any --no- form won wherever it stood", async () => {
    const app = helloApp({ "page.ts": `export default (environ: any, startResponse: any) => {\n  startResponse("200 OK", [["Content-Type", "text/html"]]);\n  return [new TextEncoder().encode("<html><body>page</body></html>")];\n};\n` });
    for (const [args, live, logged] of [
      [["--no-live", "--live", "--no-access-log", "--access-log"], true, true],
      [["--live", "--no-live", "--access-log", "--no-access-log"], false, false],
      [["--no-live", "--no-access-log"], false, false],
      [[], true, true],
    ] as const) {
      const dev = new DevProcess(["./page.ts", "--port", String(freePort()), ...args], { cwd: app.dir });
      const url = await dev.ready();
      const mode = (await dev.waitFor(/\[info\] (reload in place.*); Ctrl-C to stop/, 3000))[1];
      expect([args, mode]).toEqual([args, live ? "reload in place, live reload in the browser" : "reload in place"]);
      const page = await get(url + "switched");
      expect([args, page.text.includes("/__tsgi/live")]).toEqual([args, live]);
      if (logged) await dev.waitFor(/"GET \/switched HTTP\/1\.1" 200/, 3000);
      else {
        await Bun.sleep(300);
        expect([args, dev.output.includes("/switched")]).toEqual([args, false]);
      }
      expect(await dev.kill("SIGTERM")).toBe(0);
    }
    // --debug after --no-debug: the error page shows the code again.
    const broken = helloApp({ "boom.ts": `export default () => { throw new Error("shown-on-the-page"); };\n` });
    for (const [args, shown] of [[["--no-debug", "--debug"], true], [["--debug", "--no-debug"], false]] as const) {
      const dev = new DevProcess(["./boom.ts", "--port", String(freePort()), "--no-access-log", ...args], { cwd: broken.dir });
      const page = await get((await dev.ready()) + "x");
      expect([args, page.status, page.text.includes("shown-on-the-page")]).toEqual([args, 500, shown]);
      expect(await dev.kill("SIGTERM")).toBe(0);
    }
  }, 60_000);
});

describe("fetch-style apps (issue 5 §5: detected, explained, hot-reloaded)", () => {
  test("a default-exported Hono app: routes, params, JSON, and a save that changes a route takes effect", async () => {
    const hono = (greeting: string) => `import { Hono } from "hono";
const app = new Hono();
app.get("/hello/:name", (c) => c.text("${greeting}, " + c.req.param("name")));
app.post("/json", async (c) => c.json({ got: await c.req.json() }));
export default app;
`;
    const app = new TempApp({ "app.ts": hono("hi") });
    apps.push(app);
    symlinkSync(join(import.meta.dir, "..", "node_modules"), join(app.dir, "node_modules"), "dir");
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect(dev.output).toContain("exports a fetch handler (an object with fetch())");
    expect((await get(url + "hello/ada")).text).toBe("hi, ada");
    const posted = await fetch(url + "json", { method: "POST", body: JSON.stringify([1, 2]), headers: { "content-type": "application/json" } });
    expect(await posted.json()).toEqual({ got: [1, 2] });
    app.write("app.ts", hono("hello"));
    await until(async () => (await get(url + "hello/ada")).text === "hello, ada", 5000);
  }, 20_000);

  test("Bun's export default { port, fetch }: the port is named in a warning with the flag to use, and tsgi-dev serves on its own port", async () => {
    const app = new TempApp({ "app.ts": `export default { port: 3999, fetch: () => new Response("from fetch") };\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("from fetch");
    await dev.waitFor(/the export's port \(3999\) is a Bun\.serve option, which tsgi-dev does not read: give --port 3999 instead \(see tsgi-dev --help\)/, 3000);
  }, 20_000);

  test("a default-exported fetch function and a named { fetch } export", async () => {
    const app = new TempApp({
      "app.ts": `export default (req: Request) => new Response("fn " + new URL(req.url).pathname);
export const api = { fetch: async (req: Request) => Response.json({ method: req.method }) };
`,
    });
    apps.push(app);
    const a = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await a.ready();
    expect(a.output).toContain("exports a fetch handler ((request) => Response)");
    expect((await get(url + "x/y")).text).toBe("fn /x/y");
    const b = new DevProcess(["./app.ts:api", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url2 = await b.ready();
    expect(JSON.parse((await get(url2)).text)).toEqual({ method: "GET" });
  }, 20_000);

  test("--help explains the accepted exports", async () => {
    const r = await run(["--help"], process.cwd());
    expect(r.out).toContain("a fetch handler (request) => Response");
    expect(r.out).toContain("an object with fetch()");
  });
});
