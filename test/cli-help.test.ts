/**
 * The `--help` renderer shared by `tsgi` and `tsgi-dev` (src/cli/help.ts):
 * layout, wrapping, defaults, switches with values, colour only on request.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderHelp } from "../src/cli/help.ts";

const cmd = {
  meta: { name: "demo", version: "1.2.3", description: "A demo command whose description is long enough to need wrapping at forty columns" },
  args: {
    app: { type: "positional", description: "The app module", required: true },
    host: { type: "string", description: "Interface to bind", default: "127.0.0.1", valueHint: "host" },
    "log-level": { type: "enum", options: ["info", "warn"], description: "Verbosity", default: "info" },
    reload: { type: "boolean", description: "How to reload", default: true, negativeDescription: "Never reload" },
    live: { type: "boolean", description: "Live reload", default: true, negativeDescription: "No live reload" },
    poll: { type: "boolean", description: "Poll", default: false },
    "a-very-long-option-name-indeed": { type: "string", description: "Long", valueHint: "value" },
  },
};

describe("renderHelp", () => {
  test("sections, defaults and switches", () => {
    const text = renderHelp(cmd, undefined, { color: false, width: 80, optionalValues: { reload: ["inplace", "restart"] } });
    const lines = text.split("\n");
    expect(lines[0]).toBe("demo 1.2.3");
    expect(text).toContain("Usage: demo <app> [options]");
    expect(text).toContain("Arguments:\n  <app>  The app module");
    expect(text).toMatch(/^ {2}--host <host> +Interface to bind \(default: 127\.0\.0\.1\)$/m);
    expect(text).toMatch(/^ {2}--log-level <level> +Verbosity: info, warn \(default: info\)$/m);
    expect(text).toMatch(/^ {2}--reload\[=inplace\|restart\] +How to reload \(on by default\)$/m);
    expect(text).toMatch(/^ {2}--no-reload +Never reload$/m);
    expect(text).toMatch(/^ {2}--live +Live reload \(on by default\)$/m);
    expect(text).toMatch(/^ {2}--poll +Poll$/m);
    expect(text).not.toContain("--no-poll");
    // A flag too wide for the column gets the description on the next line.
    expect(text).toMatch(/^ {2}--a-very-long-option-name-indeed <value>\n {20,}Long$/m);
    expect(text).toMatch(/^ {2}-h, --help +Show this help and exit$/m);
    expect(text).toMatch(/^ {2}-v, --version +Print the version and exit$/m);
    expect(text).not.toMatch(/ +$/m);
    expect(text).not.toContain("\x1b[");
  });

  test("wraps to the width with a hanging indent", () => {
    const text = renderHelp(cmd, undefined, { color: false, width: 50 });
    expect(text.split("\n").filter((line) => line.length > 50)).toEqual([]);
    // A narrow terminal narrows the flag column (20 here, not 34).
    expect(text).toMatch(/^ {2}--poll {12}Poll$/m);
    expect(text).toContain("A demo command whose description is long enough to\nneed wrapping at forty columns");
    expect(text).toMatch(/^ {2}--host <host> +Interface to bind \(default:\n {20,}127\.0\.0\.1\)$/m);
  });

  test("a subcommand is named after its parent, with its version", () => {
    const parent = { meta: { name: "tool", version: "9.9.9" }, subCommands: { demo: cmd } };
    const sub = renderHelp({ ...cmd, meta: { name: "demo", description: "Sub" } }, parent, { color: false });
    expect(sub.split("\n")[0]).toBe("tool demo 9.9.9");
    expect(sub).toContain("Usage: tool demo <app> [options]");
    expect(sub).toMatch(/^ {2}-v, --version +Print the version and exit$/m);
    const root = renderHelp(parent, undefined, { color: false });
    expect(root).toContain("Usage: tool <command> [options]");
    expect(root).toContain("Commands:\n  demo  A demo command");
    expect(root).toContain("Run tool <command> --help");
  });

  test("colour only when asked", () => {
    expect(renderHelp(cmd, undefined, { color: true })).toContain("\x1b[");
  });
});

describe("the commands' examples", () => {
  // Each example in `tsgi serve --help` and `tsgi-dev --help` is a command line the real flag check takes.
  const cases = [
    { name: "tsgi serve", cli: ["src/cli/serve.ts", "serve"], module: "../src/cli/serve-command.ts", examples: "SERVE_EXAMPLES", args: "SERVE_ARGS", values: "DEPLOY_OPTIONAL_VALUES" },
    { name: "tsgi-dev", cli: ["src/cli/dev.ts"], module: "../src/cli/dev-command.ts", examples: "DEV_EXAMPLES", args: "DEV_ARGS", values: "DEV_OPTIONAL_VALUES" },
  ];
  for (const c of cases) {
    test(`${c.name} --help ends with its examples, each accepted by the command's flag check`, async () => {
      const mod = (await import(c.module)) as Record<string, unknown>;
      const examples = mod[c.examples] as ReadonlyArray<readonly [string, string]>;
      expect(examples.length).toBeGreaterThan(0);
      const proc = Bun.spawnSync([process.execPath, ...c.cli, "--help"], { cwd: join(import.meta.dir, ".."), env: { ...process.env, NO_COLOR: "1" } });
      const help = proc.stdout.toString();
      expect(proc.exitCode).toBe(0);
      const tail = help.slice(help.indexOf("\nExamples:\n"));
      expect(tail.startsWith("\nExamples:\n")).toBe(true);
      const { checkArgs } = await import("../src/cli/args.ts");
      for (const [line] of examples) {
        expect(tail).toContain(`\n  ${line}\n`);
        expect(line.startsWith(`${c.name} `)).toBe(true);
        const argv = line.slice(c.name.length + 1).split(" ").map((a) => a.replace(/^'(.*)'$/, "$1"));
        expect(() => checkArgs(c.name, argv, mod[c.args] as never, mod[c.values] as never)).not.toThrow();
      }
    });
  }
});


describe("help, version and misspelt commands, as git and npm users type them", () => {
  const root = join(import.meta.dir, "..");
  /** Run `bun <cli> ...args` in `cwd` to completion (10 s at most): exit code, stdout, stderr. */
  async function cli(file: string, args: string[], cwd: string) {
    const p = Bun.spawn([process.execPath, join(root, file), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    clearTimeout(timer);
    return { code: await p.exited, stdout, stderr };
  }
  const tsgi = (args: string[], cwd: string) => cli("src/cli/serve.ts", args, cwd);
  const dev = (args: string[], cwd: string) => cli("src/cli/dev.ts", args, cwd);
  const temp = () => mkdtempSync(join(tmpdir(), "tsgi-words-"));
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("tsgi help and tsgi help serve print the help --help prints (exit 0); tsgi serve help too, unless a help file is the app", async () => {
    const dir = temp();
    dirs.push(dir);
    const rootHelp = await tsgi(["--help"], dir);
    const serveHelp = await tsgi(["serve", "--help"], dir);
    expect(rootHelp.stdout).toContain("Usage: tsgi <command> [options]");
    expect(serveHelp.stdout).toContain("Usage: tsgi serve <app> [options]");
    for (const [args, same] of [
      [["help"], rootHelp.stdout],
      [["help", "serve"], serveHelp.stdout],
      [["serve", "help"], serveHelp.stdout],
    ] as Array<[string[], string]>) {
      const r = await tsgi(args, dir);
      expect([args, r.code, r.stderr]).toEqual([args, 0, ""]);
      expect(r.stdout).toBe(same);
    }
    // A module help.ts beside: which was meant is not known, so the error says both.
    writeFileSync(join(dir, "help.ts"), "export default () => new Response('x');\n");
    const both = await tsgi(["serve", "help"], dir);
    expect([both.code, both.stdout, both.stderr]).toEqual([2, "", "[error] no such file: help; did you mean help.ts? (tsgi serve's own help is tsgi serve --help)\n"]);
  }, 60_000);

  test("help and version where the app goes after flags (tsgi serve --port 9000 help, tsgi-dev --port 9000 version) are the words, as right after the command", async () => {
    const dir = temp();
    dirs.push(dir);
    const serveHelp = (await tsgi(["serve", "--help"], dir)).stdout;
    const devHelp = (await dev(["--help"], dir)).stdout;
    for (const [run, args, same] of [
      [tsgi, ["serve", "--port", "9000", "help"], serveHelp],
      [tsgi, ["serve", "--no-access-log", "--log-format=%(status_code)s", "help", "--workers", "2"], serveHelp],
      [dev, ["--port", "9000", "help"], devHelp],
      [dev, ["--no-live", "--watch", "views", "help"], devHelp],
    ] as Array<[typeof tsgi, string[], string]>) {
      const r = await run(args, dir);
      // Before: "no such file: help" (exit 1).
      expect([args, r.code, r.stderr]).toEqual([args, 0, ""]);
      expect(r.stdout).toBe(same);
    }
    for (const [run, args, line] of [
      [tsgi, ["serve", "--port", "9000", "version"], "no such file: version; tsgi serve --version prints the version"],
      [dev, ["--host", "127.0.0.1", "version"], "no such file: version; tsgi-dev --version prints the version"],
    ] as Array<[typeof tsgi, string[], string]>) {
      const r = await run(args, dir);
      expect([args, r.code, r.stdout, r.stderr]).toEqual([args, 2, "", `[error] ${line}\n`]);
    }
    // A flag's value is not the app: --port help is a bad port, not the help.
    const value = await tsgi(["serve", "./app.ts", "--port", "help"], dir);
    expect([value.code, value.stdout]).toEqual([2, ""]);
    expect(value.stderr).toContain("--port");
  }, 60_000);

  test("a misspelt or unknown command, help topic or root option: one line naming what was meant, exit 2", async () => {
    const dir = temp();
    dirs.push(dir);
    for (const [args, line] of [
      [["serv"], 'unknown command "serv"; did you mean tsgi serve ./app.ts? (see tsgi --help)'],
      [["server", "./app.ts", "--port", "8080"], 'unknown command "server"; did you mean tsgi serve ./app.ts --port 8080? (see tsgi --help)'],
      [["srve", "my app.ts"], "unknown command \"srve\"; did you mean tsgi serve 'my app.ts'? (see tsgi --help)"],
      [["./app.ts", "--workers", "2"], 'unknown command "./app.ts": the command, serve, goes first: tsgi serve ./app.ts --workers 2 (see tsgi --help)'],
      [["run"], 'unknown command "run": the command is serve, as in tsgi serve ./app.ts (see tsgi --help)'],
      [["version"], 'unknown command "version": tsgi --version prints the version'],
      [["help", "serv"], 'no help for "serv": did you mean tsgi help serve?'],
      [["help", "run"], "no help for \"run\": tsgi's one command is serve (tsgi help serve)"],
      [["--versoin"], "unknown option --versoin; did you mean --version? (see tsgi --help)"],
      [["--port", "80"], "unknown option --port: options go after the command, as in tsgi serve ./app.ts --port 8000 (see tsgi --help)"],
    ] as Array<[string[], string]>) {
      const r = await tsgi(args, dir);
      expect([args, r.code, r.stdout, r.stderr]).toEqual([args, 2, "", `[error] ${line}\n`]);
    }
    // A misspelt --version gets it from tsgi-dev too, as from tsgi (before: "unknown option --versoin (see tsgi-dev --help)").
    const versoin = await dev(["./app.ts", "--versoin"], dir);
    expect([versoin.code, versoin.stderr]).toEqual([2, "[error] unknown option --versoin; did you mean --version? (see tsgi-dev --help)\n"]);
  }, 60_000);

  test("a misspelt command beside a module named like it suggests that module; with flags and no app, the app goes first", async () => {
    const dir = temp();
    dirs.push(dir);
    writeFileSync(join(dir, "server.ts"), "export default () => new Response('x');\n");
    writeFileSync(join(dir, "main.ts"), "export default () => new Response('x');\n");
    mkdirSync(join(dir, "serv"));
    for (const [args, line] of [
      // Before: 'did you mean tsgi serve ./app.ts?', a file that is not there.
      [["server"], 'unknown command "server"; did you mean tsgi serve server.ts? (see tsgi --help)'],
      // Before: 'did you mean tsgi serve --port 9000?', itself a usage error (missing <app>).
      [["server", "--port", "9000"], 'unknown command "server"; did you mean tsgi serve server.ts --port 9000? (see tsgi --help)'],
      [["srve", "--port", "9000"], 'unknown command "srve"; did you mean tsgi serve ./app.ts --port 9000? (see tsgi --help)'],
      // An app given is the app; a flag's value is not one.
      [["server", "--workers", "2", "main.ts"], 'unknown command "server"; did you mean tsgi serve --workers 2 main.ts? (see tsgi --help)'],
      // So is one after -- (before: 'tsgi serve server.ts -- main.ts', two apps, itself refused).
      [["server", "--port", "9000", "--", "main.ts"], 'unknown command "server"; did you mean tsgi serve --port 9000 -- main.ts? (see tsgi --help)'],
      // A directory named like the command is no app.
      [["serv"], 'unknown command "serv"; did you mean tsgi serve ./app.ts? (see tsgi --help)'],
      // A module given without its extension and without the command (before: 'the command is serve, as in tsgi serve ./app.ts').
      [["main", "--port", "1"], 'unknown command "main": the command, serve, goes first: tsgi serve main.ts --port 1 (see tsgi --help)'],
      // An app spec that starts like the command is the app, not a misspelt serve (before: 'did you mean tsgi serve ./app.ts --port 1?').
      [["server.ts:api", "--port", "1"], 'unknown command "server.ts:api": the command, serve, goes first: tsgi serve server.ts:api --port 1 (see tsgi --help)'],
    ] as Array<[string[], string]>) {
      const r = await tsgi(args, dir);
      expect([args, r.code, r.stdout, r.stderr]).toEqual([args, 2, "", `[error] ${line}\n`]);
    }
  }, 60_000);

  test("run from a working directory deleted after the shell entered it, both commands say so and what to do (exit 1); made again since, to cd into it; --help and --version, and the words help and version, still answer (before: 'ENOENT: process.cwd failed ... uv_cwd', exit 2)", async () => {
    const parent = temp();
    dirs.push(parent);
    writeFileSync(join(parent, "app.ts"), "export default () => new Response('x');\n");
    /** Run `bun <cli> ...args` from `dir`, removed (and made again, `again`) once the shell is in it. */
    async function fromGone(file: string, args: string[], again = false) {
      const dir = join(parent, "gone");
      mkdirSync(dir);
      const script = `cd "$1" && rmdir "$1" && ${again ? 'mkdir "$1" && ' : ""}shift && exec "$@"`;
      const p = Bun.spawn(["sh", "-c", script, "sh", dir, process.execPath, join(root, file), ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", PORT: "" } });
      const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
      const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
      clearTimeout(timer);
      if (again) rmSync(dir, { recursive: true, force: true });
      return { code: await p.exited, stdout, stderr, dir };
    }
    for (const [file, args, command] of [
      ["src/cli/dev.ts", ["../app.ts", "--port", "0"], "tsgi-dev"],
      ["src/cli/serve.ts", ["serve", "../app.ts", "--port", "0"], "tsgi serve"],
    ] as Array<[string, string[], string]>) {
      const r = await fromGone(file, args);
      expect([command, r.code, r.stdout, r.stderr]).toEqual([command, 1, "", `[error] the working directory ${r.dir} was deleted after the shell entered it: cd to the app's directory and run ${command} again\n`]);
      const again = await fromGone(file, args, true);
      expect([command, again.code, again.stdout, again.stderr]).toEqual([command, 1, "", `[error] the working directory was deleted after the shell entered it, and ${again.dir} made again since: cd ${again.dir} and run ${command} again\n`]);
      const help = await fromGone(file, [...args.slice(0, -3), "--help"]);
      expect([command, help.code, help.stderr, help.stdout.includes("Usage: ")]).toEqual([command, 0, "", true]);
      const version = await fromGone(file, ["--version"]);
      expect([command, version.code, version.stderr, /^\d+\.\d+\.\d+/.test(version.stdout)]).toEqual([command, 0, "", true]);
      // The words too, as docs/deploy.md and dev-server.md give them (a deleted directory holds no file named help).
      const word = await fromGone(file, [...args.slice(0, -3), "help"]);
      expect([command, word.code, word.stderr, word.stdout.includes("Usage: ")]).toEqual([command, 0, "", true]);
      const versionWord = await fromGone(file, [...args.slice(0, -3), "version"]);
      expect([command, versionWord.code, versionWord.stdout, versionWord.stderr]).toEqual([command, 2, "", `[error] no such file: version; ${command} --version prints the version\n`]);
    }
    const topHelp = await fromGone("src/cli/serve.ts", ["help", "serve"]);
    expect([topHelp.code, topHelp.stderr, topHelp.stdout.includes("Usage: ")]).toEqual([0, "", true]);
  }, 60_000);

  test("a file or directory named like the word, with no module extension (a script ./serv, a directory ./main), is never suggested as the app; a module beside it is", async () => {
    const dir = temp();
    dirs.push(dir);
    // Scripts of the project, not modules: Bun would import them as JavaScript and fail.
    writeFileSync(join(dir, "serv"), "#!/bin/sh\nexec tsgi serve ./app.ts\n");
    writeFileSync(join(dir, "server"), "#!/bin/sh\nexec tsgi serve ./app.ts\n");
    writeFileSync(join(dir, "server.ts"), "export default () => new Response('x');\n");
    writeFileSync(join(dir, "run"), "#!/bin/sh\n");
    mkdirSync(join(dir, "main"));
    for (const [args, line] of [
      // Before: 'did you mean tsgi serve serv?', the script.
      [["serv"], 'unknown command "serv"; did you mean tsgi serve ./app.ts? (see tsgi --help)'],
      // Before: 'did you mean tsgi serve server?', the script over the module beside it.
      [["server", "--port", "9000"], 'unknown command "server"; did you mean tsgi serve server.ts --port 9000? (see tsgi --help)'],
      // Before: 'the command, serve, goes first: tsgi serve run' and 'tsgi serve main', a script and a directory.
      [["run"], 'unknown command "run": the command is serve, as in tsgi serve ./app.ts (see tsgi --help)'],
      [["main", "--port", "1"], 'unknown command "main": the command is serve, as in tsgi serve ./app.ts (see tsgi --help)'],
    ] as Array<[string[], string]>) {
      const r = await tsgi(args, dir);
      expect([args, r.code, r.stdout, r.stderr]).toEqual([args, 2, "", `[error] ${line}\n`]);
    }
  }, 60_000);

  test("an app given after -- is the app, as citty takes it, for both commands (not 'missing <app>')", async () => {
    const dir = temp();
    dirs.push(dir);
    for (const [run, args] of [
      [tsgi, ["serve", "--port", "0", "--", "./nope.ts"]],
      [tsgi, ["serve", "--no-access-log", "--", "-nope.ts"]],
      [dev, ["--port", "0", "--", "./nope.ts"]],
    ] as Array<[typeof tsgi, string[]]>) {
      const r = await run(args, dir);
      // The app is looked for (a startup error, exit 1): before, "missing <app>" and exit 2.
      expect([args, r.code, r.stderr.includes(`no such file: ${args.at(-1)}`)]).toEqual([args, 1, true]);
    }
    // Nothing after -- is still no app.
    const none = await tsgi(["serve", "--port", "0", "--"], dir);
    expect([none.code, none.stderr]).toEqual([2, "[error] missing <app>: tsgi serve <app> [options], e.g. tsgi serve ./app.ts (see tsgi serve --help)\n"]);
  }, 60_000);

  test("--version and -v print the version alone for both commands; tsgi-dev version and tsgi serve version say what prints it (exit 2), unless a version file is the app", async () => {
    const dir = temp();
    dirs.push(dir);
    const version = (await import("../package.json")).version;
    writeFileSync(join(dir, "app.ts"), "export default () => new Response('x');\n");
    for (const [run, args] of [
      [tsgi, ["--version"]],
      [tsgi, ["-v"]],
      [tsgi, ["serve", "./app.ts", "--version"]],
      // Before the command too: never the app served (an app.ts is there), nor serve's help with exit 1.
      [tsgi, ["-v", "serve", "./app.ts", "--port", "0"]],
      [tsgi, ["--version", "serve"]],
      [tsgi, ["--version", "--port", "1"]],
      [dev, ["--version"]],
      [dev, ["-v"]],
      [dev, ["./app.ts", "--port", "1", "-v"]],
    ] as Array<[typeof tsgi, string[]]>) {
      const r = await run(args, dir);
      expect([args, r.code, r.stdout, r.stderr]).toEqual([args, 0, `${version}\n`, ""]);
    }
    const word = await dev(["version"], dir);
    expect([word.code, word.stdout, word.stderr]).toEqual([2, "", "[error] no such file: version; tsgi-dev --version prints the version\n"]);
    // tsgi serve version likewise (the word where the app goes), not "no such file: version" and exit 1.
    const serveWord = await tsgi(["serve", "version"], dir);
    expect([serveWord.code, serveWord.stdout, serveWord.stderr]).toEqual([2, "", "[error] no such file: version; tsgi serve --version prints the version\n"]);
    // A module named version.ts: the app is looked for as any other (did you mean version.ts?), not the hint.
    writeFileSync(join(dir, "version.ts"), "export default () => new Response('x');\n");
    const file = await dev(["version", "--port", "0"], dir);
    expect(file.code).toBe(1);
    expect(file.stderr).toContain("no such file: version; did you mean version.ts?");
    const serveFile = await tsgi(["serve", "version", "--port", "0"], dir);
    expect(serveFile.code).toBe(1);
    expect(serveFile.stderr).toContain("no such file: version; did you mean version.ts?");
  }, 60_000);

  test("an app path one letter off, or without its src/: did you mean the file there, from both commands (before: 'no such file' alone)", async () => {
    const dir = temp();
    dirs.push(dir);
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src/app.ts"), "export default () => new Response('x');\n");
    for (const [given, meant] of [
      ["src/ap.ts", "src/app.ts"],
      ["./src/apps.ts:api", "./src/app.ts:api"],
      ["src/ap", "src/app.ts"],
      ["app.ts", "src/app.ts"],
      ["./app", "./src/app.ts"],
    ]) {
      for (const [name, r] of [
        ["tsgi serve", await tsgi(["serve", given!, "--port", "0"], dir)],
        ["tsgi-dev", await dev([given!, "--port", "0"], dir)],
      ] as const) {
        const path = given!.replace(/:api$/, "");
        // The path as given, from both (before: tsgi-dev added the absolute path in parentheses).
        expect([name, given, r.code, r.stderr]).toEqual([name, given, 1, `[error] no such file: ${path}; did you mean ${meant}?\n`]);
      }
    }
    // Nothing near: no suggestion.
    const far = await tsgi(["serve", "src/server.ts", "--port", "0"], dir);
    expect([far.code, far.stderr]).toEqual([1, "[error] no such file: src/server.ts\n"]);
    const devFar = await dev(["src/server.ts", "--port", "0"], dir);
    expect([devFar.code, devFar.stderr]).toEqual([1, "[error] no such file: src/server.ts\n"]);
  }, 60_000);
});

describe("the help and the docs' flag tables agree", () => {
  // docs/deploy.md's "Quick reference" and docs/dev-server.md's "Flags" tables against `--help` and the code's defaults.
  const root = join(import.meta.dir, "..");
  /** `cli --help`'s flags (`--no-x` counted as `--x`), without `--help` and `--version`. */
  function helpFlags(cli: string[]): Set<string> {
    const proc = Bun.spawnSync([process.execPath, ...cli, "--help"], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
    expect(proc.exitCode).toBe(0);
    const flags = [...proc.stdout.toString().matchAll(/^ {2}(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1]!.replace(/^no-/, ""));
    return new Set(flags.filter((f) => f !== "help" && f !== "version"));
  }
  /** The rows of the first table under `heading` in `file`: each row's cells, and the flags its first cell names. */
  function tableRows(file: string, heading: string): Array<{ cells: string[]; flags: string[] }> {
    const text = readFileSync(join(root, file), "utf8");
    const start = text.indexOf(`\n${heading}\n`);
    expect(start).toBeGreaterThanOrEqual(0);
    const lines = text.slice(start).split("\n");
    const first = lines.findIndex((l) => l.startsWith("|"));
    const rows: Array<{ cells: string[]; flags: string[] }> = [];
    for (const line of lines.slice(first + 2)) {
      if (!line.startsWith("|")) break;
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      const flags = [...cells[0]!.matchAll(/`--([a-z][a-z-]*)/g)].map((m) => m[1]!.replace(/^no-/, ""));
      rows.push({ cells, flags: flags.filter((f) => f !== "help" && f !== "version") });
    }
    expect(rows.length).toBeGreaterThan(5);
    return rows;
  }
  /** Whether `value` is one of the values `cell` lists (`30` in "30", not in "300"; `65536` in "65536, 100"). */
  const names = (cell: string, value: string) => cell.replace(/`/g, "").split(/,?\s+/).includes(value);

  test("every flag of tsgi serve --help is in deploy.md's table, and every flag there is in the help", () => {
    const help = helpFlags(["src/cli/serve.ts", "serve"]);
    const docs = new Set(tableRows("docs/deploy.md", "## Quick reference").flatMap((r) => r.flags));
    expect([...help].filter((f) => !docs.has(f))).toEqual([]);
    expect([...docs].filter((f) => !help.has(f))).toEqual([]);
  });

  test("every flag of tsgi-dev --help is in dev-server.md's table, and every flag there is in the help", () => {
    const help = helpFlags(["src/cli/dev.ts"]);
    const docs = new Set(tableRows("docs/dev-server.md", "## Flags").flatMap((r) => r.flags));
    expect([...help].filter((f) => !docs.has(f))).toEqual([]);
    expect([...docs].filter((f) => !help.has(f))).toEqual([]);
  });

  test("each default tsgi serve resolves is the one its --help states and deploy.md's table gives", async () => {
    const { DEPLOY_ARGS } = await import("../src/cli/serve-command.ts");
    const { resolveDeployOptions } = await import("../src/deploy/options.ts");
    const { resolveOptions } = await import("../src/server/options.ts");
    const single = resolveDeployOptions({}, {});
    const server = resolveOptions(single.server);
    const pooled = resolveDeployOptions({ workers: 1 }, {});
    const proxied = resolveDeployOptions({ proxyHeaders: true }, {});
    // What the code does with each flag left out, in the flag's unit (seconds for durations).
    const code: Record<string, string> = {
      host: server.hostname,
      port: String(server.port),
      timeout: String(pooled.workers!.timeout / 1000),
      "graceful-timeout": String(single.gracefulTimeout / 1000),
      "keep-alive": String(server.keepalive ? server.keepAliveTimeout / 1000 : 0),
      "max-connections": String(server.maxConnections),
      "header-timeout": String(server.headerTimeout / 1000),
      "socket-timeout": String(server.bodyTimeout / 1000),
      "request-timeout": String(server.requestTimeout / 1000),
      "url-length-limit": String(server.urlLengthLimit),
      "max-header-bytes": String(server.maxHeaderBytes),
      "max-header-count": String(server.maxHeaderCount),
      "max-request-body-size": String(server.maxRequestBodySize),
      "forwarded-allow-ips": proxied.proxy!.forwardedAllowIps.join(","),
      "forwarded-header": proxied.proxy!.header,
    };
    expect(server.sendTimeout).toBe(server.bodyTimeout); // --socket-timeout's one default covers both
    const rows = tableRows("docs/deploy.md", "## Quick reference");
    const wrong: string[] = [];
    for (const [flag, value] of Object.entries(code)) {
      const def = DEPLOY_ARGS[flag as keyof typeof DEPLOY_ARGS] as { description: string; default?: string };
      const stated = def.default ?? /\bdefault:? ([^\s;)]+?),?(?:[\s;)]|$)/.exec(def.description)?.[1] ?? /(\S+) \(default\)/.exec(def.description)?.[1];
      if (stated !== value) wrong.push(`--${flag} --help: ${stated}, code: ${value}`);
      const row = rows.find((r) => r.flags.includes(flag));
      if (!row || !names(row.cells.at(-1)!, value)) wrong.push(`--${flag} deploy.md: ${row?.cells.at(-1)}, code: ${value}`);
    }
    expect(wrong).toEqual([]);
  });

  test("each default tsgi-dev --help states is the one dev-server.md's table gives", async () => {
    const { DEV_ARGS } = await import("../src/cli/dev-command.ts");
    const rows = tableRows("docs/dev-server.md", "## Flags");
    const wrong: string[] = [];
    const stated = Object.entries(DEV_ARGS).flatMap(([flag, d]) => {
      const def = d as { type: string; description: string; default?: unknown };
      const value = typeof def.default === "string" ? def.default : /\(default:? ([^\s;,)]+)/.exec(def.description)?.[1];
      return value === undefined || def.type === "positional" ? [] : [[flag, value] as const];
    });
    expect(stated.map(([f]) => f)).toEqual(["host", "port", "log-level"]);
    for (const [flag, value] of stated) {
      const row = rows.find((r) => r.flags.includes(flag));
      if (!row || !names(row.cells[1]!, value)) wrong.push(`--${flag} dev-server.md: ${row?.cells[1]}, --help: ${value}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe("the docs' command lines", () => {
  // Each `tsgi serve ...` and `tsgi-dev ...` of a shell, systemd or Dockerfile block in README.md and docs/
  // is one the command takes: its flag check, and for tsgi serve the options' resolution (forbidden
  // combinations, values), as a user copying it would run it. Lines with shell substitutions or `...` are prose.
  const root = join(import.meta.dir, "..");
  function commandLines(): Array<{ where: string; command: "tsgi serve" | "tsgi-dev"; argv: string[] }> {
    const found: Array<{ where: string; command: "tsgi serve" | "tsgi-dev"; argv: string[] }> = [];
    for (const file of ["README.md", ...[...new Bun.Glob("docs/**/*.md").scanSync(root)].sort()]) {
      let lang: string | null = null;
      readFileSync(join(root, file), "utf8").split("\n").forEach((line, i) => {
        const fence = /^\s*```(\S*)\s*$/.exec(line);
        if (fence) return void (lang = lang === null ? fence[1]! : null);
        if (lang === "dockerfile") {
          const cmd = /^(?:CMD|ENTRYPOINT) (\[.*\])$/.exec(line.trim());
          const words = cmd ? (JSON.parse(cmd[1]!) as string[]) : [];
          const at = words.findIndex((w, j) => /(^|\/)tsgi$/.test(w) && words[j + 1] === "serve");
          if (at >= 0) found.push({ where: `${file}:${i + 1}`, command: "tsgi serve", argv: words.slice(at + 2) });
        } else if (lang === "sh" || lang === "ini") {
          for (const segment of line.replace(/\s+#.*$/, "").split(/&&|\|\|?|;/)) {
            const m = /(?:^|[\s/=])(tsgi serve|tsgi-dev(?:-linux-x64)?)\s+(\S.*)$/.exec(segment.trim());
            if (!m || /[<>$]|\.\.\./.test(m[2]!)) continue;
            const argv = m[2]!.trim().split(/\s+/).map((a) => a.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1"));
            found.push({ where: `${file}:${i + 1}`, command: m[1] === "tsgi serve" ? "tsgi serve" : "tsgi-dev", argv });
          }
        }
      });
    }
    return found;
  }

  test("each tsgi serve and tsgi-dev command line in README.md and docs/ is one the command takes", async () => {
    const { parseArgs } = await import("citty");
    const { checkArgs } = await import("../src/cli/args.ts");
    const { SERVE_ARGS, DEPLOY_OPTIONAL_VALUES, deployOptionsFromArgs } = await import("../src/cli/serve-command.ts");
    const { DEV_ARGS, DEV_OPTIONAL_VALUES } = await import("../src/cli/dev-command.ts");
    const { resolveDeployOptions } = await import("../src/deploy/options.ts");
    const lines = commandLines();
    expect(lines.filter((l) => l.command === "tsgi serve").length).toBeGreaterThanOrEqual(15);
    expect(lines.filter((l) => l.command === "tsgi-dev").length).toBeGreaterThanOrEqual(4);
    const refused: string[] = [];
    for (const { where, command, argv } of lines) {
      try {
        if (command === "tsgi-dev") checkArgs("tsgi-dev", argv, DEV_ARGS as never, DEV_OPTIONAL_VALUES as never);
        else {
          checkArgs("tsgi serve", argv, SERVE_ARGS as never, DEPLOY_OPTIONAL_VALUES as never);
          resolveDeployOptions(deployOptionsFromArgs(parseArgs(argv, SERVE_ARGS as never) as Record<string, unknown>, argv), {});
        }
      } catch (error) {
        refused.push(`${where}: ${command} ${argv.join(" ")}: ${(error as Error).message}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
