/**
 * tsgi-dev end to end: broken code never kills the dev server. Each kind of
 * load failure gives a 500 page (HTML for browsers, plain text otherwise) and
 * a terminal report with file:line:column and a code frame, and the next good
 * save recovers. Runtime exceptions give the same kind of page, with the
 * request environ masked; --no-debug pages show nothing of the code.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, renameSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { DevProcess, get, KeepAliveClient, killAll, ROOT, TempApp, until } from "../fixtures/dev/harness.ts";
import { raw } from "./helpers.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

/** The text of an HTML page with entities decoded, for matching. */
const unescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

const HTML = { Accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
const PLAIN = { Accept: "*/*" };

const ENTRY = `import { b } from "./b.ts";
const enc = new TextEncoder();
export default function app(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode(b())];
}
`;
const B = `import { c } from "./c.ts";\nexport function b(): string { return "b+" + c(); }\n`;
const goodC = (v: string) => `export function c(): string {\n  return "${v}";\n}\n`;

interface Breakage {
  name: string;
  file: string;
  source: string;
  /** file:line:column the report must point at. */
  where: RegExp;
  /** Text the report must contain. */
  says: RegExp;
}

const breakages: Breakage[] = [
  {
    name: "a syntax error two imports deep",
    file: "c.ts",
    source: `export function c(): string {\n  const x: number = 1;\n  return "c" +;\n}\n`,
    where: /c\.ts:3:15/,
    says: /Unexpected ;/,
  },
  {
    name: "an import that does not resolve",
    file: "c.ts",
    source: `import { helper } from "./missing-module.ts";\nexport function c(): string {\n  return helper();\n}\n`,
    where: /c\.ts:1:\d+/,
    says: /Cannot find module '\.\/missing-module\.ts'/,
  },
  {
    name: "an import of a name the module does not export",
    file: "app.ts",
    source: ENTRY.replace("import { b } from", "import { b, notExported } from").replace("b())", "b() + notExported)"),
    where: /app\.ts:1:13/,
    says: /notExported/,
  },
  {
    name: "a throw at the top level",
    file: "c.ts",
    source: `const config: Record<string, string> = {};\nif (!config.url) throw new Error("config.url is not set");\nexport function c(): string {\n  return "c";\n}\n`,
    where: /c\.ts:2:\d+/,
    says: /config\.url is not set/,
  },
  {
    name: "no default export",
    file: "app.ts",
    source: `export const handler = () => [];\nexport const other = 1;\n`,
    where: /app\.ts/,
    says: /has no default export \(exports: handler, other\)/,
  },
  {
    name: "a default export that is not a function",
    file: "app.ts",
    source: `export default { routes: [] };\n`,
    where: /app\.ts/,
    says: /default export of \.\/app\.ts is an object without a fetch\(\) method, not an application/,
  },
];

describe("tsgi-dev: broken code", () => {
  test("each kind of broken code: 500 page (HTML and plain), terminal report, recovery on the next good save", async () => {
    const app = new TempApp({ "app.ts": ENTRY, "b.ts": B, "c.ts": goodC("c0") });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("b+c0");

    let n = 0;
    for (const k of breakages) {
      n++;
      const mark = dev.output.length;
      const original = app.read(k.file);
      app.write(k.file, k.source);
      await dev.waitFor(/reload failed/, 5000, mark);
      const report = dev.output.slice(mark);
      expect(report, k.name).toMatch(k.says);
      expect(report, k.name).toMatch(k.where);
      if (!/export/.test(k.name) || k.name.includes("import")) expect(report, k.name).toMatch(/^> +\d+ \| /m); // a code frame

      // Every request gets the page while it is broken: browsers HTML, curl plain text.
      for (let i = 0; i < 3; i++) {
        const html = await get(url, HTML);
        expect(html.status, k.name).toBe(500);
        expect(html.headers.get("content-type")).toStartWith("text/html");
        expect(html.text).toStartWith("<!doctype html>");
        expect(unescape(html.text), k.name).toMatch(k.says);
        expect(html.text).toContain("The app failed to load");
        const plain = await get(url, PLAIN);
        expect(plain.status).toBe(500);
        expect(plain.headers.get("content-type")).toStartWith("text/plain");
        expect(plain.text, k.name).toMatch(k.says);
        expect(plain.text, k.name).toMatch(k.where);
        expect(plain.text).not.toContain("<!doctype");
      }

      // The next good save recovers by itself (the failed file is still watched).
      app.write(k.file, k.file === "c.ts" ? goodC(`c${n}`) : original);
      const expected = k.file === "c.ts" ? `b+c${n}` : `b+c${n - 1}`;
      if (k.file !== "c.ts") app.write("c.ts", goodC(`c${n}`));
      await until(async () => (await get(url)).text === (k.file === "c.ts" ? expected : `b+c${n}`), 5000).catch((e) => {
        throw new Error(`no recovery after ${k.name}: ${e}\n${dev.output.slice(mark)}`);
      });
    }
    expect(dev.proc.exitCode).toBeNull();
  }, 60_000);

  test("a module imported without its extension (./lib/c, a directory ./lib/d, a tsconfig paths alias @/e) recovers from a syntax error and from a top-level throw", async () => {
    // Bun runs no plugin's onResolve for a specifier without an extension: such a module kept its
    // plain module key, and a failed parse or evaluation stuck to that key for the life of the process.
    const modules = { c: "lib/c.ts", d: "lib/d/index.ts", e: "lib/e.ts" };
    const good = (name: string, v: string) => `export function ${name}(): string {\n  return "${name}${v}";\n}\n`;
    const app = new TempApp({
      "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@/*": ["./lib/*"] } } }),
      "app.ts": `import { c } from "./lib/c";\nimport { d } from "./lib/d";\nimport { e } from "@/e";\nconst enc = new TextEncoder();\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [enc.encode([c(), d(), e()].join(" "))];\n}\n`,
      [modules.c]: good("c", "0"),
      [modules.d]: good("d", "0"),
      [modules.e]: good("e", "0"),
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("c0 d0 e0");
    const versions = { c: 0, d: 0, e: 0 };
    const text = () => `c${versions.c} d${versions.d} e${versions.e}`;
    for (const [name, file] of Object.entries(modules) as ["c" | "d" | "e", string][]) {
      for (const [kind, broken, says] of [
        ["a syntax error", `export function ${name}(): string {\n  return "x" +;\n}\n`, /Unexpected ;/],
        ["a top-level throw", `throw new Error("${name} is not configured");\nexport function ${name}(): string {\n  return "x";\n}\n`, new RegExp(`${name} is not configured`)],
      ] as const) {
        const mark = dev.output.length;
        app.write(file, broken);
        await dev.waitFor(/reload failed/, 5000, mark);
        const page = await get(url);
        expect(page.status, `${kind} in ${file}`).toBe(500);
        expect(page.text, `${kind} in ${file}`).toMatch(says);
        versions[name]++;
        app.write(file, good(name, String(versions[name])));
        await until(async () => (await get(url)).text === text(), 5000).catch(async (e) => {
          throw new Error(`no recovery after ${kind} in ${file}: ${e}\n${(await get(url)).text}`);
        });
      }
    }
    expect(dev.proc.exitCode).toBeNull();
  }, 60_000);

  test("a syntax error at startup: the server starts, shows the page, and recovers", async () => {
    const app = new TempApp({ "app.ts": ENTRY, "b.ts": B, "c.ts": `export function c( { return 1 }\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    expect(dev.output).toMatch(/the app failed to load/);
    expect(dev.output).toMatch(/c\.ts:1:\d+/);
    expect((await get(url, PLAIN)).status).toBe(500);
    app.write("c.ts", goodC("fixed"));
    await until(async () => (await get(url)).text === "b+fixed", 5000);
  });

  test("an error whose stack is one frame at its location (a throw at import, a throw in the app function): the location is said once on both pages and in the terminal, not again as a one-line stack; a deeper stack is still listed", async () => {
    const app = new TempApp({ "app.ts": `throw new Error("thrown at import");\nexport default function app(environ: any, startResponse: any) { return []; }\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    /** How many lines say where (`at ...app.ts:L:C`, an HTML item of the stack, `at fn (...)`). */
    const said = (text: string, where: string) => text.split(/\n|<li|<p |<div/).filter((l) => l.includes(where) && !l.includes('class="file"')).length;

    // At import: the stack is the location's frame alone.
    await until(() => /serving the error page/.test(dev.output), 5000);
    expect(said(dev.output, "app.ts:1:11"), dev.output).toBe(1);
    const loadText = await get(url, PLAIN);
    expect(loadText.status).toBe(500);
    expect(loadText.text).toContain("thrown at import");
    expect(said(loadText.text, "app.ts:1:11"), loadText.text).toBe(1);
    expect(loadText.text).not.toMatch(/^Stack:$/m);
    const loadHtml = await get(url, HTML);
    expect(loadHtml.text).toContain("thrown at import");
    expect(said(loadHtml.text, "app.ts:1:11"), loadHtml.text).toBe(1);
    expect(loadHtml.text).not.toContain("<h2>Stack</h2>");

    // In the app function: the one frame, with its name, is the at line.
    let mark = dev.output.length;
    app.write("app.ts", `export default function app(environ: any, startResponse: any) {\n  throw new Error("thrown per request");\n}\n`);
    const runText = await until(async () => {
      const r = await get(url, PLAIN);
      return r.text.includes("Error: thrown per request") ? r : null;
    }, 5000);
    expect(runText.text).toMatch(/^ {4}at app \(.*app\.ts:2:13\)$/m);
    expect(said(runText.text, "app.ts:2:13"), runText.text).toBe(1);
    expect(runText.text).not.toMatch(/^Stack:$/m);
    const runHtml = await get(url, HTML);
    expect(unescape(runHtml.text)).toMatch(/<p class="loc">at app \([^<]*app\.ts:2:13\)<\/p>/);
    expect(said(runHtml.text, "app.ts:2:13"), runHtml.text).toBe(1);
    expect(runHtml.text).not.toContain("<h2>Stack</h2>");
    await dev.waitFor(/thrown per request/, 3000, mark);
    await until(() => /GET \/ raised[^]*app\.ts:2:13\)/.test(dev.output.slice(mark)), 3000);
    expect(said(dev.output.slice(mark).split(/GET \/ raised/)[1]!.split(/\[\w+\]/)[0]!, "app.ts:2:13")).toBe(1);

    // Two frames of the user's: the stack is listed, as before.
    mark = dev.output.length;
    app.write("app.ts", `function inner(): never {\n  throw new Error("thrown deeper");\n}\nexport default function app(environ: any, startResponse: any) {\n  return [inner()];\n}\n`); // not return inner(): JavaScriptCore drops the caller of a tail call from the stack
    const deep = await until(async () => {
      const r = await get(url, PLAIN);
      return r.text.includes("Error: thrown deeper") ? r : null; // the message: the code frame is read from the file, the new one already
    }, 5000);
    expect(deep.text).toMatch(/^Stack:$/m);
    expect(deep.text).toMatch(/^ {4}at inner \(.*app\.ts:2:\d+\)$/m);
    expect(deep.text).toMatch(/^ {4}at app \(.*app\.ts:5:\d+\)$/m);
    expect((await get(url, HTML)).text).toContain("<h2>Stack</h2>");
  });

  test("an error without a message (throw new Error()) is its name alone on both pages and in the terminal, as Bun prints it, not 'Error: ' with nothing after", async () => {
    const app = new TempApp({ "app.ts": `export default function app(environ: any, startResponse: any) {\n  throw new RangeError();\n}\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const text = await get(url, PLAIN);
    expect(text.status).toBe(500);
    expect(text.text).toMatch(/^RangeError$/m);
    expect(text.text).not.toMatch(/RangeError: *$/m);
    const html = await get(url, HTML);
    expect(html.text).toContain("<p>RangeError</p>");
    await until(() => /GET \/ raised:\nRangeError\n/.test(dev.output), 3000);
    expect(dev.output).not.toMatch(/RangeError: *$/m);
  });

  test("a TypeScript type re-exported or imported as a value (a barrel's export { User } from, Bun's link error with no file): the page and the terminal point at the line and say it is a type and to use import/export type; the fixed save recovers", async () => {
    const app = new TempApp({
      "app.ts": `import { greet, type User } from "./lib/index.ts";\nconst u: User = { name: "ann" };\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode(greet(u))];\n}\n`,
      "lib/index.ts": `export { User } from "./types.ts";\nexport { greet } from "./greet.ts";\n`,
      "lib/types.ts": `export interface User {\n  name: string;\n}\nexport type Id = number;\n`,
      "lib/greet.ts": `import type { User } from "./types.ts";\nexport const greet = (u: User) => "hi " + u.name;\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const hint = /User is a TypeScript type in lib\/types\.ts \(export interface User\), and types are gone at run time: import it with import type \{ User \}, use it only in types, and re-export it with export type \{ User \} from/;
    // Bun's message names neither the file nor the line of the re-export.
    await dev.waitFor(/export 'User' not found in '\.\/types\.ts'\n\s+at .*lib\/index\.ts:1:10\n/, 3000);
    expect(dev.output).toMatch(hint);
    for (const headers of [PLAIN, HTML]) {
      const page = await get(url, headers);
      expect(page.status).toBe(500);
      expect(unescape(page.text)).toMatch(hint);
      expect(unescape(page.text)).toMatch(/lib\/index\.ts:1:10/);
    }
    app.write("lib/index.ts", `export type { User } from "./types.ts";\nexport { greet } from "./greet.ts";\n`);
    await until(async () => (await get(url)).text === "hi ann", 5000);
    // A type imported by name and used as a value: Bun's other link error, pointed at the import, with the same hint.
    let mark = dev.output.length;
    app.write("app.ts", `import { Id } from "./lib/types.ts";\nconsole.log(Id);\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [];\n}\n`);
    await dev.waitFor(/Export named 'Id' not found in module '.*lib\/types\.ts'\.\n\s+at .*app\.ts:1:10\n/, 5000, mark);
    await dev.waitFor(/Id is a TypeScript type in lib\/types\.ts \(export type Id\)/, 3000, mark);
    // A name that is no type gets no such hint.
    mark = dev.output.length;
    app.write("app.ts", `import { Nope } from "./lib/types.ts";\nconsole.log(Nope);\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [];\n}\n`);
    await dev.waitFor(/Export named 'Nope' not found/, 5000, mark);
    await Bun.sleep(200);
    expect(dev.output.slice(mark)).not.toContain("TypeScript type");
  });

  /**
   * A tsgi-dev serving an app that imports the type User as a value through lib/index.ts, a barrel
   * whose first line is `reexport` (lib/types.ts declares User, then `moreTypes`): once its load
   * failed with the import type hint naming lib/types.ts, in the log and on the error page.
   */
  async function typeThroughBarrel(reexport: string, moreTypes = "") {
    const app = new TempApp({
      "app.ts": `import { User } from "./lib/index.ts";\nconsole.log(User);\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [];\n}\n`,
      "lib/index.ts": `${reexport}\nexport const version = 1;\n`,
      "lib/types.ts": `export interface User {\n  name: string;\n}\n${moreTypes}`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    await dev.waitFor(/Export named 'User' not found in module '.*lib\/index\.ts'/, 3000);
    await dev.waitFor(/User is a TypeScript type in lib\/types\.ts \(export interface User\), and types are gone at run time: import it with import type \{ User \}/, 3000);
    expect(unescape((await get(url, PLAIN)).text)).toMatch(/User is a TypeScript type in lib\/types\.ts/);
    return { app, dev, url };
  }

  test("a type passed on by a barrel's export * from, or named with a $, imported as a value: pointed at the import, with the import type hint naming the module that declares it", async () => {
    // Before: no hint (lib/index.ts declares no User).
    const { app, dev, url } = await typeThroughBarrel(`export * from "./types.ts";`, `export type $Row = { id: number };\n`);
    // A $ name: before, its import was not found (no line) and so no hint.
    const mark = dev.output.length;
    app.write("app.ts", `import { version } from "./lib/index.ts";\nimport { $Row } from "./lib/types.ts";\nconsole.log(version, $Row);\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [];\n}\n`);
    await dev.waitFor(/Export named '\$Row' not found in module '.*lib\/types\.ts'\.\n\s+at .*app\.ts:2:10\n/, 5000, mark);
    await dev.waitFor(/\$Row is a TypeScript type in lib\/types\.ts \(export type \$Row\)/, 3000, mark);
    app.write("app.ts", `import { version } from "./lib/index.ts";\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [new TextEncoder().encode(String(version))];\n}\n`);
    await until(async () => (await get(url)).text === "1", 5000);
  });

  test("a type passed on by a barrel's export type * from (TypeScript 5's), imported as a value: the import type hint names the module that declares it", async () => {
    // Before: no hint (export type * was not followed).
    await typeThroughBarrel(`export type * from "./types.ts";`);
  });

  test("a re-export whose specifier is written alike in several folders (each barrel's ./types.ts): the one that fails is pointed at, not the first found, with the hint for its module", async () => {
    const barrel = `export { Options } from "./types.ts";\n`;
    const app = new TempApp({
      "app.ts": `import { Options as A } from "./a/index.ts";\nimport { Options as B } from "./b/index.ts";\nconsole.log(A, B);\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", []);\n  return [];\n}\n`,
      "a/index.ts": barrel,
      // A type and a value of one name (zod's idiom): the value is there, so this module is not the one that failed.
      "a/types.ts": `export type Options = { a: number };\nexport const Options: Options = { a: 1 };\n`,
      "b/index.ts": barrel,
      "b/types.ts": `export interface Options {\n  b: number;\n}\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    // a/index.ts's line is right (its module has the value): b/index.ts's is the one Bun refused.
    await dev.waitFor(/export 'Options' not found in '\.\/types\.ts'\n\s+at .*b\/index\.ts:1:10\n/, 3000);
    expect(dev.output).toMatch(/Options is a TypeScript type in b\/types\.ts \(export interface Options\)/);
    expect(dev.output).not.toMatch(/a\/index\.ts:1:10/);
    expect(dev.output).not.toMatch(/in a\/types\.ts/);
    const page = await get(url, PLAIN);
    expect(page.status).toBe(500);
    expect(unescape(page.text)).toMatch(/b\/index\.ts:1:10/);
    // No type at all now, in b: still b's line (a's module plainly declares the value), and no hint.
    const mark = dev.output.length;
    app.write("b/types.ts", `export type Other = number;\n`);
    await dev.waitFor(/export 'Options' not found in '\.\/types\.ts'\n\s+at .*b\/index\.ts:1:10\n/, 5000, mark);
    await Bun.sleep(200);
    expect(dev.output.slice(mark)).not.toContain("TypeScript type");
  });

  // A package installed by hand: what `npm install tsgi-missing-pkg` puts in node_modules.
  const PKG = {
    "node_modules/tsgi-missing-pkg/package.json": JSON.stringify({ name: "tsgi-missing-pkg", type: "module", exports: { ".": "./index.js" } }),
    "node_modules/tsgi-missing-pkg/index.js": `export const word = "installed";\n`,
  };
  const usesPkg = (v: string) =>
    `import { word } from "tsgi-missing-pkg";\nexport default function app(environ: any, startResponse: any) {\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode(word + " ${v}")];\n}\n`;

  test("an import of a package not installed, in place: the page and the terminal say to install it and save; a save after the install recovers (Bun is made to look again), also for a scoped package of a second node_modules level; a save fixing the name recovers", async () => {
    // A project with its other dependencies installed: Bun keeps what it read of this node_modules.
    const app = new TempApp({ "app.ts": usesPkg("v0"), "fine.ts": `export const word = "local";\n`, "node_modules/.package-lock.json": "{}" });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const hint = /tsgi-missing-pkg is not installed here \(no node_modules\/tsgi-missing-pkg in .+ or above\)\. If the name is right, install it \(npm install tsgi-missing-pkg, or bun add tsgi-missing-pkg\), then save a file: tsgi-dev looks for it again at each load\./;
    expect(dev.output).toMatch(hint);
    const plain = await get(url, PLAIN);
    expect(plain.status).toBe(500);
    expect(plain.text).toContain("Cannot find package 'tsgi-missing-pkg'");
    expect(plain.text).toMatch(hint);
    expect(unescape((await get(url, HTML)).text)).toMatch(hint);
    // A save before the install fails the same way (and Bun reads node_modules once more).
    let mark = dev.output.length;
    app.write("app.ts", usesPkg("v0b"));
    await dev.waitFor(/reload failed/, 5000, mark);
    // What the hint says: installed now, a save reloads, and the package is found.
    for (const [name, content] of Object.entries(PKG)) app.write(name, content);
    app.write("app.ts", usesPkg("v1"));
    await until(async () => (await get(url)).text === "installed v1", 5000);
    // A scoped package, with an exports map only, imported by a module in a directory with its own node_modules.
    mark = dev.output.length;
    app.write("sub/node_modules/.package-lock.json", "{}");
    app.write("sub/part.ts", `import { word as w } from "@acme/tsgi-missing";\nexport const word = "scoped " + w;\n`);
    app.write("app.ts", usesPkg("v2").replace('"tsgi-missing-pkg"', '"./sub/part.ts"'));
    await dev.waitFor(/reload failed/, 5000, mark);
    expect((await get(url, PLAIN)).text).toContain("@acme/tsgi-missing is not installed here");
    app.write("node_modules/@acme/tsgi-missing/package.json", JSON.stringify({ name: "@acme/tsgi-missing", type: "module", exports: { ".": { import: "./dist/m.js" } } }));
    app.write("node_modules/@acme/tsgi-missing/dist/m.js", `export const word = "acme";\n`);
    app.write("app.ts", usesPkg("v3").replace('"tsgi-missing-pkg"', '"./sub/part.ts"'));
    await until(async () => (await get(url)).text === "scoped acme v3", 5000);
    // A misspelt name fixed by a save recovers as usual.
    app.write("app.ts", usesPkg("v4").replace('"tsgi-missing-pkg"', '"./fine.ts"'));
    await until(async () => (await get(url)).text === "local v4", 5000);
    expect(dev.proc.exitCode).toBeNull();
  }, 60_000);

  test("an import of a package not installed, --reload=restart: the hint says to install it and save, and a save after the install recovers; no hint for a package that is there without the subpath, nor for a paths alias", async () => {
    const app = new TempApp({
      "app.ts": usesPkg("v0"),
      "node_modules/.package-lock.json": "{}",
      "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@/*": ["./lib/*"] } } }),
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", "--reload=restart"], { cwd: app.dir });
    const url = await dev.ready();
    const hint = /If the name is right, install it \(npm install tsgi-missing-pkg, or bun add tsgi-missing-pkg\), then save a file: the next app process finds it\./;
    expect((await get(url, PLAIN)).text).toMatch(hint);
    expect(dev.output).toMatch(hint);
    for (const [name, content] of Object.entries(PKG)) app.write(name, content);
    app.write("app.ts", usesPkg("v1"));
    await until(async () => (await get(url)).text === "installed v1", 10_000);
    // Bun says "Cannot find package" for these too, but installing is not the answer.
    for (const [specifier, says] of [
      ["tsgi-missing-pkg/sub", "Cannot find package 'tsgi-missing-pkg'"],
      ["@/nothing-here", "Cannot find package '@/nothing-here'"],
    ] as const) {
      const mark = dev.output.length;
      app.write("app.ts", usesPkg("v2").replace('"tsgi-missing-pkg"', JSON.stringify(specifier)));
      await dev.waitFor(/restart failed/, 10_000, mark);
      const page = (await get(url, PLAIN)).text;
      expect(page, specifier).toContain(says);
      expect(page, specifier).not.toContain("is not installed here");
      expect(dev.output.slice(mark), specifier).not.toContain("is not installed here");
    }
  }, 60_000);

  test("runtime exceptions: message, TypeScript lines with code frames, environ with secrets masked", async () => {
    const app = new TempApp({
      "app.ts": `import { render } from "./views/render.ts";
const enc = new TextEncoder();
export default function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/late") {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (function* () {
      yield enc.encode("partial");
      throw new Error("after the headers");
    })();
  }
  if (environ.PATH_INFO === "/gen") {
    return (function* () {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      throw new RangeError("inside the body generator");
    })();
  }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode(render({ title: "x" }))];
}
`,
      "views/render.ts": `interface Page {
  title: string;
  user?: { name: string };
}

type Rendered = string;

export function render(page: Page): Rendered {
  const header: string = "<h1>" + page.title + "</h1>";
  return header + page.user!.name.toUpperCase();
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const secrets = {
      Authorization: "Bearer sekrit-token-123",
      Cookie: "session=cookie-value-456",
      "X-Api-Key": "key-789",
      // What an access proxy in front of a tunnel adds (Cloudflare Access, Google IAP, an AWS load balancer): signed tokens.
      "Cf-Access-Jwt-Assertion": "eyJhbGciOiJSUzI1NiJ9.cf-access-jwt-012",
      "X-Goog-Iap-Jwt-Assertion": "eyJhbGciOiJFUzI1NiJ9.iap-jwt-345",
      "X-Amzn-Oidc-Data": "eyJ0eXAiOiJKV1QifQ.alb-oidc-678",
    };

    const html = await get(url, { ...HTML, ...secrets, "X-Request-Label": "visible-label" });
    expect(html.status).toBe(500);
    expect(html.text).toContain("The app raised an error");
    expect(html.text).toMatch(/TypeError/);
    // Stack mapped to the TypeScript source: line 10 of views/render.ts, with its code.
    expect(html.text).toMatch(/views\/render\.ts:10:\d+/);
    expect(unescape(html.text)).toContain("page.user!.name.toUpperCase()");
    expect(html.text).toMatch(/app\.ts:18:\d+/);
    expect(html.text).toContain("HTTP_X_REQUEST_LABEL");
    expect(html.text).toContain("visible-label");
    for (const v of Object.values(secrets)) expect(html.text).not.toContain(v);
    expect(html.text).toContain("HTTP_AUTHORIZATION");
    expect(html.text).toContain("HTTP_CF_ACCESS_JWT_ASSERTION");
    expect(html.text).not.toContain("src/dev/"); // tsgi's own frames are hidden

    const plain = await get(url, { ...PLAIN, ...secrets });
    expect(plain.status).toBe(500);
    expect(plain.headers.get("content-type")).toStartWith("text/plain");
    expect(plain.text).toMatch(/views\/render\.ts:10:\d+/);
    expect(plain.text).toMatch(/^> 10 \| {3}return header \+ page\.user!\.name\.toUpperCase\(\);$/m);
    for (const v of Object.values(secrets)) expect(plain.text).not.toContain(v);

    // The terminal has it too.
    await dev.waitFor(/GET \/ raised:[\s\S]*views\/render\.ts:10:\d+/, 3000);

    // Thrown while producing the body, before any byte: still the page.
    const gen = await get(url + "gen", PLAIN);
    expect(gen.status).toBe(500);
    expect(gen.text).toContain("RangeError: inside the body generator");

    // After the headers went out: the connection is closed, never a complete-looking response.
    const mark = dev.output.length;
    const client = new KeepAliveClient(Number(new URL(url).port));
    await expect(client.get("/late", 3000)).rejects.toThrow();
    client.close();
    // The terminal report is the dev one: the app's line with its code, none of tsgi's frames.
    await dev.waitFor(/GET \/late raised after its response started \(the response was cut off\):[\s\S]*app\.ts:8:\d+/, 3000, mark);
    const late = dev.output.slice(mark);
    expect(late).toMatch(/^> +8 \| /m);
    expect(late).not.toMatch(/src\/(dev|gateway|server)\//);

    // The server is still fine.
    expect((await get(url + "gen", PLAIN)).status).toBe(500);
  });

  test("environ values holding objects show only their class on the page, also inside arrays (a middleware's list of records with a password field)", async () => {
    const app = new TempApp({
      // The secret is built at run time: the code frames show these lines.
      "app.ts": `class Account { constructor(public name: string, public password: string) {} }
const pw = ["hun", "ter2"].join("");
export default function app(environ: any, startResponse: any) {
  environ["myapp.accounts"] = [{ name: "alice", password: pw + "-plain" }, new Account("bob", pw + "-class"), [{ token: pw + "-nested" }], 7, "text", null];
  environ["myapp.owner"] = { name: "carol", password: pw + "-object" };
  environ["myapp.big"] = Array.from({ length: 100_000 }, (_, i) => ({ i, password: pw + "-big" }));
  throw new Error("boom");
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (const accept of [HTML, PLAIN]) {
      const r = await get(url, accept);
      expect(r.status).toBe(500);
      const text = unescape(r.text);
      expect(text).not.toContain("hunter2");
      expect(text).toContain('[[Object],[Account],[[Object]],7,"text",null]');
      expect(text).toContain("[Object]");
      expect(text).toContain("myapp.big");
    }
  });

  test("an error message naming files (a request path with %0A ... at /file:1:1) shows none of their source and never blocks on a FIFO; the real frames keep theirs", async () => {
    const app = new TempApp({
      "app.ts": `export default function app(environ: any, startResponse: any) {
  throw new Error("no route for " + environ.PATH_INFO);
}
`,
      "secret.txt": "line1\nTOPSECRET_LINE_2 password=letmein\nline3\n",
    });
    apps.push(app);
    const fifo = app.path("pipe");
    const made = Bun.spawnSync(["mkfifo", fifo]);
    expect(made.exitCode).toBe(0);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const inject = (file: string, line: number) => `%0A%20%20%20%20at%20${encodeURIComponent(file).replace(/%2F/g, "/")}:${line}:1`;
    for (const accept of [HTML, PLAIN]) {
      const r = await get(url + "x" + inject(app.path("secret.txt"), 2) + inject("/etc/hostname", 1) + inject(fifo, 1) + "%0A", accept, 5000);
      expect(r.status).toBe(500);
      expect(r.text).not.toContain("TOPSECRET_LINE_2");
      // The app's own frame still has its code.
      expect(unescape(r.text)).toContain('throw new Error("no route for " + environ.PATH_INFO);');
    }
    // Nothing is stuck reading the FIFO: the server answers at once.
    expect((await get(url + "plain", PLAIN, 2000)).status).toBe(500);
    // Terminal escapes in the message reach the terminal as text, not as control sequences.
    expect((await get(url + "t%1B]0;pwned%07%1B[2J", PLAIN)).status).toBe(500);
    await dev.waitFor(/no route for \/t\\x1B\]0;pwned\\x07\\x1B\[2J/, 3000);
    expect(dev.output).not.toContain("\x1b]0;pwned");
    expect(dev.output).not.toContain("\x1b[2J");
  });

  test("a thrown value that came from outside (throw await res.json()) and looks like Bun's BuildMessage or ResolveMessage shows none of the files it names", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  // As \`if (!res.ok) throw await res.json()\` throws an upstream's error body.
  throw JSON.parse(new TextDecoder().decode(await environ["tsgi.input"].read()));
}
`,
      "secret.txt": `TOPSECRET_LINE_1 password=letmein\nimport "TOPSECRET_SPEC";\nTOPSECRET_LINE_3\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const secret = app.path("secret.txt");
    const position = { file: secret, line: 1, column: 1, lineText: "x" };
    const bodies = [
      { name: "BuildMessage", message: "fake syntax error", position },
      { name: "ResolveMessage", message: "fake resolve error", position },
      { name: "ResolveMessage", message: "fake resolve error", referrer: secret, specifier: "TOPSECRET_SPEC" },
      { name: "AggregateError", message: "fake aggregate", errors: [{ name: "BuildMessage", message: "fake", position }, { name: "BuildMessage", message: "fake", position }] },
      { name: "BuildMessage", message: "fake /etc/hostname", position: { file: "/etc/hostname", line: 1, column: 1 } },
    ];
    const hostname = (await Bun.file("/etc/hostname").exists()) ? (await Bun.file("/etc/hostname").text()).trim() : "";
    for (const body of bodies) {
      for (const accept of [HTML, PLAIN]) {
        const r = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: accept, signal: AbortSignal.timeout(5000) });
        expect(r.status).toBe(500);
        const text = await r.text();
        expect(text).toContain(body.message);
        expect(text).not.toContain("TOPSECRET_LINE");
        if (hostname.length >= 6) expect(text).not.toContain(hostname);
      }
    }
    await dev.waitFor(/fake \/etc\/hostname/, 3000);
    expect(dev.output).not.toContain("TOPSECRET_LINE");
  });

  test("a thrown value that came from outside with a stack field (an upstream's { message, stack } body) shows no line of the app's modules its stack names", async () => {
    const app = new TempApp({
      "app.ts": `import { DB_PASSWORD } from "./config.ts";
export default async function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/real") throw new Error("a real error, " + DB_PASSWORD.length);
  const body = JSON.parse(new TextDecoder().decode(await environ["tsgi.input"].read()));
  // What docs/dev-server.md advises for rethrowing an outside error: its data as the cause, listed as text.
  if (environ.PATH_INFO === "/cause") throw new Error("rethrown with a cause", { cause: body });
  // As \`if (!res.ok) throw await res.json()\` throws an upstream's error body.
  throw body;
}
`,
      "config.ts": `// settings\nexport const DB_PASSWORD = "TOPSECRET_CONFIG_pw";\nexport const other = "TOPSECRET_LINE_3";\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const config = app.path("config.ts");
    const frame = `\n    at handler (${config}:2:1)\n    at ${config}:3:1`;
    const bodies = [
      { name: "Error", message: "upstream failed", stack: `Error: upstream failed${frame}` },
      { message: "upstream failed", stack: `upstream failed${frame}` },
      { name: "TypeError", message: "upstream failed", stack: frame.trim() },
    ];
    for (const body of bodies) {
      for (const accept of [HTML, PLAIN]) {
        const r = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: accept, signal: AbortSignal.timeout(5000) });
        expect(r.status).toBe(500);
        const text = await r.text();
        expect(text).toContain("upstream failed");
        expect(text).not.toContain("TOPSECRET");
      }
    }
    await dev.waitFor(/upstream failed/, 3000);
    // Given as an Error's cause (the docs' advice), the body's stack is listed as text, with no code frame.
    for (const accept of [HTML, PLAIN]) {
      const r = await fetch(`${url}cause`, { method: "POST", body: JSON.stringify(bodies[0]), headers: accept, signal: AbortSignal.timeout(5000) });
      expect(r.status).toBe(500);
      const text = await r.text();
      expect(text).toContain("rethrown with a cause");
      expect(text).toContain("config.ts:2:1");
      expect(text).not.toContain("TOPSECRET");
    }
    // A real error in the app keeps its code frame.
    const real = await fetch(`${url}real`, { headers: PLAIN, signal: AbortSignal.timeout(5000) });
    expect(await real.text()).toContain('throw new Error("a real error, " + DB_PASSWORD.length)');
    expect(dev.output).not.toContain("TOPSECRET");
  });

  test("an error message quoting a request body of 150,000 spaces: its page and its terminal report (consola's fancy reporter) come at once, the message intact", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  const body = new TextDecoder().decode(await environ["tsgi.input"].read());
  throw new Error("bad _input_: " + body);
}
`,
    });
    apps.push(app);
    // Outside tests and CI consola picks its fancy reporter, whose markdown pattern took quadratic time over whitespace.
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir, env: { NODE_ENV: undefined, TEST: undefined, CI: undefined } });
    const url = await dev.ready();
    const began = performance.now();
    const r = await fetch(url, { method: "POST", body: `[${" ".repeat(150_000)}]`, headers: PLAIN, signal: AbortSignal.timeout(20_000) });
    expect(r.status).toBe(500);
    await r.text();
    expect(performance.now() - began).toBeLessThan(2000); // 7 s before
    await dev.waitFor(/bad _input_: \[ {150000}\]/, 3000);
  }, 30_000);

  test("an error message or cause quoting a 4 MB request body: the page and the terminal show its first 256 Ki characters and say how many more there were", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  const body = new TextDecoder().decode(await environ["tsgi.input"].read());
  if (environ.PATH_INFO === "/cause") throw new Error("could not parse the upload", { cause: new Error("bad cause: " + body) });
  throw new Error("bad input: " + body);
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    // "<" is the worst case for the HTML page: each becomes "&lt;" (4 MB of them made a 16 MB page and a 4 MB terminal report).
    const body = "<".repeat(4_000_000) + "TAIL_MARK";
    const more = (4_000_000 + 9 + "bad input: ".length - 256 * 1024).toLocaleString("en-US");
    for (const [path, accept] of [["/", HTML], ["/", PLAIN], ["/cause", HTML], ["/cause", PLAIN]] as const) {
      const mark = dev.output.length;
      const r = await fetch(url.replace(/\/$/, path), { method: "POST", body, headers: accept, signal: AbortSignal.timeout(20_000) });
      expect(r.status).toBe(500);
      const text = await r.text();
      expect(text.length).toBeLessThan(1_500_000);
      expect(text).not.toContain("TAIL_MARK");
      expect(text).toContain(accept === HTML ? "&lt;".repeat(1000) : "<".repeat(1000));
      if (path === "/") expect(text).toContain(`… (${more} more characters not shown)`);
      else {
        expect(text).toContain("could not parse the upload");
        expect(text).toContain("Caused by: Error: bad cause: ");
        expect(text).toMatch(/… \([\d,]+ more characters not shown\)/);
      }
      await dev.waitFor(path === "/" ? /bad input: <+… \([\d,]+ more characters not shown\)/ : /Caused by: Error: bad cause: <+… \([\d,]+ more characters not shown\)/, 10_000, mark);
      expect(dev.output.length - mark).toBeLessThan(1_000_000);
    }
    // The server still answers at once.
    expect((await get(url, PLAIN)).status).toBe(500);
  }, 60_000);

  test("a cause or a thrown object's stack quoting a client's long `at a (a (...:1:1)` line: the page and the terminal report come at once (no quadratic stack parsing)", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  const body = new TextDecoder().decode(await environ["tsgi.input"].read());
  // An upstream's error body rethrown as it came, its own stack field included.
  if (environ.PATH_INFO === "/upstream") throw JSON.parse(body);
  throw new Error("could not parse the upload", { cause: new Error("bad cause: " + body) });
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    /** The dev process's CPU time so far (user and system, ms; /proc ticks of 10 ms): not the wall time, which a loaded machine stretches. */
    const cpu = () => {
      const fields = readFileSync(`/proc/${dev.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10;
    };
    // stacktrace-parser's patterns take time quadratic in a line's length: this 192,000-character frame-shaped line in a
    // cause took 3.9 to 6.5 s of the dev process's CPU, the 72,000-character one in a thrown object's `stack` 4 s; now 10 to 60 ms.
    const line = (n: number) => `    at ${"a (".repeat(n)}:1:1)`;
    const cases = [
      { path: "/cause", body: `x\n${line(64_000)}`, report: /Caused by: Error: bad cause: x\n/ },
      { path: "/upstream", body: JSON.stringify({ message: "upstream failed", stack: `Error: upstream failed\n${line(24_000)}` }), report: /POST \/upstream raised:\n.*upstream failed/ },
    ];
    const spent: string[] = [];
    for (const { path, body, report } of cases) {
      const mark = dev.output.length;
      const before = cpu();
      const r = await fetch(url.replace(/\/$/, path), { method: "POST", body, headers: HTML, signal: AbortSignal.timeout(25_000) });
      expect(r.status).toBe(500);
      expect(unescape(await r.text())).toContain(path === "/cause" ? "bad cause: x" : "upstream failed");
      await dev.waitFor(report, 10_000, mark);
      const used = cpu() - before;
      spent.push(`${path}: ${used < 1000 ? "under 1 s" : `${used} ms`} of CPU`);
    }
    expect(spent).toEqual(["/cause: under 1 s of CPU", "/upstream: under 1 s of CPU"]);
  }, 60_000);

  test("an error that throws when read (a getter on its stack or name, a Proxy) gets tsgi-dev's page saying so, with the getter's code frame, and a terminal report", async () => {
    const app = new TempApp({
      "app.ts": `const boom = () => {
  throw new Error("GETTER_BOOM");
};
export default function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/stack") throw Object.defineProperty(new Error("x"), "stack", { get: boom });
  if (environ.PATH_INFO === "/name") throw Object.defineProperty(new Error("x"), "name", { get: boom });
  throw new Proxy({}, { get: boom, getPrototypeOf: boom });
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (const path of ["stack", "name", "proxy"]) {
      for (const accept of [HTML, PLAIN]) {
        const mark = dev.output.length;
        const r = await fetch(`${url}${path}`, { headers: accept, signal: AbortSignal.timeout(5000) });
        expect(r.status).toBe(500);
        expect(r.headers.get("x-tsgi-error")).toBe("runtime");
        const text = unescape(await r.text());
        expect(text).toContain("the thrown object cannot be read: reading it threw Error: GETTER_BOOM");
        expect(text).toContain('throw new Error("GETTER_BOOM");');
        await dev.waitFor(new RegExp(`GET /${path} raised:\\nError: the thrown object cannot be read`), 5000, mark);
      }
    }
  });

  test("a thrown value whose own stack field lists frames of a megabyte each (function name and file), and of 1,500 characters: the page and the terminal show 1 Ki characters of each shorter one", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  // As \`if (!res.ok) throw await res.json()\` throws an upstream's error body.
  throw JSON.parse(new TextDecoder().decode(await environ["tsgi.input"].read()));
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const huge = "<".repeat(1_000_000);
    // A line longer than MAX_FRAME_LINE (2,112) is no frame (its parse would take quadratic time); a shorter one's
    // function name or file past 1 Ki characters is cut.
    const long = "<".repeat(1500);
    const frames = [
      `    at ${huge}FN_TAIL (/srv/${huge}FILE_TAIL.ts:1:1)`,
      `    at /srv/${huge}FILE_TAIL.ts:2:2`,
      `    at ${huge}FN_TAIL (/srv/a.ts:3:3)`,
      `    at /srv/${long}FILE_TAIL.ts:4:4`,
      `    at ${long}FN_TAIL (/srv/a.ts:5:5)`,
    ];
    const body = JSON.stringify({ name: "Error", message: "upstream failed", stack: `Error: upstream failed\n${frames.join("\n")}` });
    for (const accept of [HTML, PLAIN]) {
      const mark = dev.output.length;
      const r = await fetch(url, { method: "POST", body, headers: accept, signal: AbortSignal.timeout(20_000) });
      expect(r.status).toBe(500);
      const text = await r.text();
      expect(text).toContain("upstream failed");
      expect(text.length).toBeLessThan(100_000);
      expect(text).not.toContain("_TAIL");
      expect(text).toMatch(/… \([\d,]+ more characters not shown\)/);
      await dev.waitFor(/upstream failed[^]*more characters not shown/, 10_000, mark);
      await Bun.sleep(200);
      expect(dev.output.length - mark).toBeLessThan(100_000);
      expect(dev.output.slice(mark)).not.toContain("_TAIL");
    }
  }, 60_000);

  test("a request for another host name (DNS rebinding) gets 403 and no page, warned once; --allowed-hosts lets it in", async () => {
    const app = new TempApp({ "app.ts": `export default function app() {\n  throw new Error("secret stack");\n}\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    const ask = async (host: string, path = "/") => {
      const { data } = await raw(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n`, { timeoutMs: 3000 });
      return data.toString("latin1");
    };
    for (const path of ["/", "/__tsgi/live"]) {
      const blocked = await ask("evil.example:" + port, path);
      expect(blocked).toStartWith("HTTP/1.1 403 Forbidden");
      expect(blocked).toContain("--allowed-hosts evil.example");
      expect(blocked).not.toContain("secret stack");
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect(await ask(host)).toStartWith("HTTP/1.1 500 ");
    await dev.waitFor(/blocked a request for host "evil\.example"/, 3000);
    expect(dev.output.match(/blocked a request for host/g)).toHaveLength(1);
    expect((await get(url, PLAIN)).status).toBe(500);

    const allowed = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", "--allowed-hosts", "evil.example"], { cwd: app.dir });
    const port2 = Number(new URL(await allowed.ready()).port);
    const { data } = await raw(port2, `GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`, { timeoutMs: 3000 });
    expect(data.toString("latin1")).toStartWith("HTTP/1.1 500 ");
  });

  test("error pages are never sniffed as HTML (nosniff on the text page and the 403) and the HTML page has a Content-Security-Policy: no inline script runs, the live script comes as a file; request text on it is escaped", async () => {
    const app = new TempApp({ "app.ts": `export default function app(environ: any) {\n  throw new Error("bad query " + environ.QUERY_STRING);\n}\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    const attack = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    const query = "q=" + encodeURIComponent(attack);
    const check = async (what: string) => {
      const plain = await get(`${url}?${query}`, PLAIN);
      expect(plain.status, what).toBe(500);
      expect(plain.headers.get("content-type"), what).toStartWith("text/plain");
      expect(plain.headers.get("x-content-type-options"), what).toBe("nosniff");
      const html = await get(`${url}?${query}`, HTML);
      expect(html.status, what).toBe(500);
      expect(html.headers.get("x-content-type-options"), what).toBe("nosniff");
      const csp = html.headers.get("content-security-policy") ?? "";
      expect(csp, what).toContain("default-src 'none'");
      expect(csp, what).toContain("script-src 'self'");
      expect(/script-src ([^;]*)/.exec(csp)?.[1], what).toBe("'self'"); // inline styles only, no inline script
      expect(html.text, what).not.toContain("<script>alert");
      expect(html.text, what).not.toContain("<img src=x");
      // The one script is the live-reload file, which the policy's 'self' allows, and it is served.
      const scripts = [...html.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      expect(scripts, what).toHaveLength(1);
      const src = /src="([^"]+)"/.exec(scripts[0]!)?.[1] ?? "";
      expect(src, what).toStartWith("/__tsgi/live.js?id=");
      const js = await get(url.replace(/\/$/, "") + src.replace(/&amp;/g, "&"));
      expect(js.status, what).toBe(200);
      expect(js.text, what).toContain("EventSource");
    };
    await check("runtime error");
    app.write("app.ts", `export default function app() {\n  return "x" +;\n}\n`);
    await until(async () => (await get(url, PLAIN)).headers.get("x-tsgi-error") === "load", 5000);
    await check("load error");
    const { data } = await raw(port, `GET / HTTP/1.1\r\nHost: <b>evil</b>.example\r\nConnection: close\r\n\r\n`, { timeoutMs: 3000 });
    const blocked = data.toString("latin1");
    expect(blocked).toMatch(/^HTTP\/1\.1 (403|400) /);
    const { data: data2 } = await raw(port, `GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`, { timeoutMs: 3000 });
    expect(data2.toString("latin1")).toStartWith("HTTP/1.1 403 Forbidden");
    expect(data2.toString("latin1").toLowerCase()).toContain("x-content-type-options: nosniff");
  });

  test("a page whose body yields an empty chunk and then throws gets the whole error page, its live script as the file its policy allows (not inline, cut off by the page's Content-Length)", async () => {
    const app = new TempApp({
      "app.ts": `export default function app(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return (function* () {
    yield new Uint8Array(0); // nothing sent yet: the error page can still replace the response
    throw new Error("late boom " + environ.PATH_INFO);
  })();
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const page = await get(url + "empty-then-throw", HTML);
    expect(page.status).toBe(500);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    // The whole page, as long as it says: before, the script went in inline after the page's Content-Length was set.
    expect(page.text).toEndWith("</body></html>\n");
    expect(Buffer.byteLength(page.text)).toBe(Number(page.headers.get("content-length")));
    const scripts = [...page.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toMatch(/^<script src="\/__tsgi\/live\.js\?id=[^"]+" data-tsgi-live>$/);
    await dev.waitFor(/GET \/empty-then-throw raised/, 5000);
    await Bun.sleep(200);
    expect(dev.output).not.toContain("more bytes than its Content-Length");
  });

  test("requests for 300 other host names (a rebinding page behind wildcard DNS, a client spraying names): each gets 403, the terminal warns for the first 10 names and says once that it stops", async () => {
    const app = new TempApp({ "app.ts": `export default function app() {\n  throw new Error("secret stack");\n}\n` });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    const requests = Array.from({ length: 300 }, (_, i) => `GET / HTTP/1.1\r\nHost: r${i}.evil.example:${port}\r\n${i === 299 ? "Connection: close\r\n" : ""}\r\n`);
    const { data } = await raw(port, requests.join(""), { timeoutMs: 10_000 });
    const text = data.toString("latin1");
    expect(text.match(/^HTTP\/1\.1 403 Forbidden\r$/gm)).toHaveLength(300);
    expect(text).toContain("--allowed-hosts r299.evil.example");
    expect(text).not.toContain("secret stack");
    await dev.waitFor(/blocked requests for more host names .*not reported any more/, 3000);
    expect((await get(url, PLAIN)).status).toBe(500); // and the server is fine
    expect(dev.output.match(/blocked a request for host "r\d+\.evil\.example"/g)).toHaveLength(10);
    expect(dev.output.match(/not reported any more/g)).toHaveLength(1);
  });

  test("a broken TSGI contract (string body, bad chunk, a Response, no startResponse) gets the error page with the live script, not a plain 500", async () => {
    const app = new TempApp({
      "app.ts": `const enc = new TextEncoder();
export default function app(environ: any, startResponse: any): any {
  const ok = () => startResponse("200 OK", [["Content-Type", "text/html"]]);
  switch (environ.PATH_INFO) {
    case "/string": ok(); return "hello";
    case "/number": ok(); return 42;
    case "/object": ok(); return { ok: true };
    case "/no-return": ok(); return undefined;
    case "/bytes": ok(); return enc.encode("<p>hi</p>");
    case "/chunk": ok(); return ["a string chunk"];
    case "/response": return new Response("a fetch handler's answer");
    case "/no-start": return [enc.encode("<p>hi</p>")];
    case "/gen-chunk": ok(); return (function* () { yield 7; })();
    case "/gen-no-start": return (async function* () { yield enc.encode("<p>hi</p>"); })();
    case "/gen-empty-no-start": return (function* () {})();
  }
  ok();
  return [enc.encode("<html><body>fine</body></html>")];
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const cases: Array<[string, RegExp]> = [
      ["string", /the application returned a string; return an iterable of Uint8Array/],
      ["number", /the application returned number, not an iterable of Uint8Array/],
      // Data meant as JSON, and a body left out: what to return (before: "returned Object, not an iterable of Uint8Array (TSGI: Body)" alone).
      ["object", /the application returned Object, not an iterable of Uint8Array \(TSGI: Body\); to send it as JSON, return \[new TextEncoder\(\)\.encode\(JSON\.stringify\(data\)\)\], with a Content-Type: application\/json field/],
      ["no-return", /the application returned undefined, not an iterable of Uint8Array \(TSGI: Body\): a missing return\? Return the body, e\.g\. \[new TextEncoder\(\)\.encode\(text\)\], or \[\] for none/],
      ["bytes", /the application returned a Uint8Array; return an iterable of Uint8Array, e\.g\. \[bytes\]/],
      ["chunk", /a body chunk must be a Uint8Array, got string; encode text: new TextEncoder\(\)\.encode\(text\)/],
      // A fetch handler declared without its parameter is taken for a TSGI application: say so.
      ["response", /the application returned a Response: it is a fetch handler, not a TSGI application\. tsgi serve and tsgi-dev serve a function as a fetch handler when it declares one parameter, \(request\) => Response; one declared with none, or with two or more as Bun\.serve and Deno call it, \(request, server\)/],
      ["no-start", /returned a body without calling startResponse\(\)/],
      ["gen-chunk", /a body chunk must be a Uint8Array, got number/],
      ["gen-no-start", /the body yielded a non-empty chunk before startResponse\(\) was called/],
      ["gen-empty-no-start", /returned a body without calling startResponse\(\)/],
    ];
    for (const [path, says] of cases) {
      const mark = dev.output.length;
      const html = await get(url + path, HTML);
      expect(html.status, path).toBe(500);
      expect(html.headers.get("content-type"), path).toStartWith("text/html");
      expect(unescape(html.text), path).toMatch(says);
      expect(html.text, path).toContain("/__tsgi/live"); // the tab reloads once the fix loads
      expect(html.text, path).not.toMatch(/src\/(dev|gateway|server)\//);
      const plain = await get(url + path, PLAIN);
      expect(plain.status, path).toBe(500);
      expect(plain.text, path).toMatch(says);
      await dev.waitFor(new RegExp(`GET /${path} raised:`), 3000, mark);
      expect(dev.output.slice(mark), path).not.toMatch(/src\/(dev|gateway|server)\//);
    }
    expect((await get(url)).text).toContain("fine");
  });

  test("a body the error page replaces is still closed, once, as serve() closes it, also when live reload injects its script; a throwing close() is logged", async () => {
    // spec.md "The body" item 4: close() exactly once, also on error. Each case records what ran in /events.
    // With an HTML Accept the page is HTML, and live reload puts its script in a new array: the close() must come along.
    const app = new TempApp({
      "app.ts": `const enc = new TextEncoder();
const events: string[] = [];
const closing = (tag: string, body: any) => Object.assign(body, { close: () => void events.push(tag + ":close") });
export default function app(environ: any, startResponse: any): any {
  const ok = () => startResponse("200 OK", [["Content-Type", "text/plain"]]);
  switch (environ.PATH_INFO) {
    case "/events": ok(); return [enc.encode(JSON.stringify(events.splice(0)))];
    case "/array-no-start": return closing("array-no-start", [enc.encode("x")]);
    case "/empty-no-start": return closing("empty-no-start", []);
    case "/string-chunk": ok(); return closing("string-chunk", ["s"]);
    case "/string-chunk-after-write": ok()(enc.encode("sent")); return closing("string-chunk-after-write", ["s"]);
    case "/not-a-body": ok(); return closing("not-a-body", {});
    case "/close-throws": return Object.assign([], { close() { throw new Error("close failed here"); } });
    case "/html-page": startResponse("200 OK", [["Content-Type", "text/html"]]); return closing("html-page", [enc.encode("<html><body>page</body></html>")]);
  }
  ok();
  return [enc.encode("fine")];
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (const [accept, headers] of [["plain", PLAIN], ["html", HTML]] as const) {
      for (const path of ["array-no-start", "empty-no-start", "string-chunk", "not-a-body"]) {
        const page = await get(url + path, headers);
        expect(page.status, `${path} ${accept}`).toBe(500);
        // The error page's policy refuses inline scripts: the live script comes as a file.
        if (accept === "html") expect(page.text, path).toMatch(/<script src="\/__tsgi\/live\.js\?id=[^"]+" data-tsgi-live><\/script>/);
        expect(JSON.parse((await get(url + "events")).text), `${path} ${accept}`).toEqual([`${path}:close`]);
      }
      // The app's own HTML page in an array with a close(): the script goes in, and close() is still called.
      const page = await get(url + "html-page", headers);
      expect(page.text, accept).toContain("<script data-tsgi-live>");
      expect(JSON.parse((await get(url + "events")).text), `html-page ${accept}`).toEqual(["html-page:close"]);
      // Too late for a page (bytes went out): the connection is cut, and the body is still closed.
      await fetch(url + "string-chunk-after-write", { headers, signal: AbortSignal.timeout(3000) }).then((r) => r.text()).catch(() => {});
      expect(JSON.parse((await get(url + "events")).text), accept).toEqual(["string-chunk-after-write:close"]);
      const mark = dev.output.length;
      expect((await get(url + "close-throws", headers)).status, accept).toBe(500);
      await dev.waitFor(/close\(\) of the response body for GET \/close-throws[^]*close failed here/, 3000, mark);
    }
  });

  test("a generator cut at its Content-Length, sync or with an awaiting finally: its finally ends before close(), as under serve()", async () => {
    // spec.md "The body" items 3 and 4: close() only after the iterator's return() settled, an async finally included.
    const app = new TempApp({
      "app.ts": `const enc = new TextEncoder();
const events: string[] = [];
export default function app(environ: any, startResponse: any): any {
  if (environ.PATH_INFO === "/events") {
    startResponse("200 OK", []);
    return [enc.encode(JSON.stringify(events.splice(0)))];
  }
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "2"]]);
  const body: any =
    environ.PATH_INFO === "/sync"
      ? (function* () {
          try {
            yield enc.encode("ab");
            yield enc.encode("cd");
          } finally {
            events.push("finally");
          }
        })()
      : (async function* () {
          try {
            yield enc.encode("ab");
            yield enc.encode("cd");
          } finally {
            events.push("finally start");
            await Bun.sleep(50);
            events.push("finally end");
          }
        })();
  body.close = () => void events.push("close");
  return body;
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (const headers of [PLAIN, HTML]) {
      expect((await get(url + "sync", headers)).text).toBe("ab");
      expect(JSON.parse((await get(url + "events")).text), headers.Accept).toEqual(["finally", "close"]);
      expect((await get(url + "async", headers)).text).toBe("ab");
      const seen: string[] = [];
      await until(async () => {
        seen.push(...(JSON.parse((await get(url + "events")).text) as string[]));
        return seen.includes("close") && seen.includes("finally end");
      }, 3000);
      expect(seen, headers.Accept).toEqual(["finally start", "finally end", "close"]);
    }
  });

  test("a file-like object's wrapper with a shorter Content-Length sends that many bytes without an error, as under serve()", async () => {
    // spec.md "Optional platform-specific file handling" (PEP 3333); through the error-page and live-reload wrappers.
    const app = new TempApp({
      "app.ts": `const enc = new TextEncoder();
export default function app(environ: any, startResponse: any): any {
  const data = enc.encode("<p>0123456789ABCDEFGHIJ</p>");
  let pos = 0;
  const type = environ.PATH_INFO === "/html" ? "text/html" : "text/plain";
  startResponse("200 OK", [["Content-Type", type], ["Content-Length", "7"]]);
  return environ["tsgi.file_wrapper"]({ read: (n: number) => data.subarray(pos, (pos += n)) }, 4);
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const mark = dev.output.length;
    for (const [path, headers] of [["plain", PLAIN], ["html", HTML]] as const) {
      expect((await get(url + path, headers)).text, path).toBe("<p>0123");
    }
    await dev.waitFor(/GET \/html HTTP\/1\.1" 200 7/, 3000, mark); // both access lines are out
    expect(dev.output.slice(mark)).not.toContain("more bytes than its Content-Length");
  });

  test("a client that leaves mid-upload or breaks its body's framing: the error the app's read rejects with (thrown on, or rethrown after a catch) is the server's, as under serve(): a FIN and a bad chunk get its 400, a reset nothing, no error page and no error report", async () => {
    // spec.md "Input and error streams": the app rethrows the error and the server answers it itself; tsgi-dev's error pages must not take it for the app's.
    const app = new TempApp({
      "app.ts": `export default async function* app(environ: any, startResponse: any) {
  const input = environ["tsgi.input"];
  if (environ.PATH_INFO === "/catch") {
    try { await input.read(); } catch (error) { console.log("app caught " + (error as Error).name); throw error; }
  } else await input.read();
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  yield new TextEncoder().encode("read");
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    const head = (path: string) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nabc`;
    for (const path of ["/throw", "/catch"]) {
      const mark = dev.output.length;
      // A FIN (half-close) before the body's end: the client still reads, and gets the server's 400.
      const fin = await raw(port, head(path), { end: true, timeoutMs: 3000 });
      expect(fin.data.toString("latin1"), path).toStartWith("HTTP/1.1 400 Bad Request\r\n");
      expect(fin.closed, path).toBe(true);
      await dev.waitFor(new RegExp(`"POST ${path} HTTP/1\\.1" 400 `), 3000, mark);
      // A reset: nothing to answer, logged with status 0.
      const sock = connect({ host: "127.0.0.1", port });
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      sock.write(head(path));
      await Bun.sleep(150);
      sock.resetAndDestroy();
      await dev.waitFor(new RegExp(`"POST ${path} HTTP/1\\.1" 0 0 `), 3000, mark);
      // A chunked body whose framing breaks after the app started reading: the read rejects with the
      // server's HttpError, which the server answers (400) and does not log.
      const bad = await raw(port, [`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`, "zz\r\n"], { gapMs: 150, timeoutMs: 3000 });
      expect(bad.data.toString("latin1"), path).toStartWith("HTTP/1.1 400 Bad Request\r\n");
      expect(bad.data.toString("latin1"), path).toEndWith("\r\n\r\n400 Bad Request: Invalid chunk size\n");
      await dev.waitFor(new RegExp(`"POST ${path} HTTP/1\\.1" 400 36 `), 3000, mark);
      if (path === "/catch") expect(dev.output.slice(mark)).toMatch(/app caught ClientDisconnected[^]*app caught ClientDisconnected[^]*app caught HttpError/);
      expect(dev.output.slice(mark), path).not.toMatch(/raised|\[error\]|ClientDisconnected: client disconnected|HttpError: Invalid/);
    }
    expect((await get(url)).text).toBe("read"); // the server still serves
  });

  test("a ClientDisconnected the app throws itself while its client is still connected is the app's error: the error page and the report, not the server's silence or its plain 500", async () => {
    // Since the gateway takes a ClientDisconnected for the client's only once the client left (ResponseSink.clientLeft),
    // one made by the app (a feed it reads from closed) is an application error; under tsgi-dev that means the page.
    const app = new TempApp({
      "app.ts": `import { ClientDisconnected } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
export default async function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/own") throw new ClientDisconnected("the upstream feed closed");
  if (environ.PATH_INFO === "/wrapped") throw new Error("sync failed", { cause: new Error("read failed", { cause: new ClientDisconnected("the upstream feed closed") }) });
  if (environ.PATH_INFO === "/late") {
    await Bun.sleep(300);
    throw new ClientDisconnected("the upstream feed closed late");
  }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("ok")];
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    for (const headers of [HTML, PLAIN]) {
      const mark = dev.output.length;
      const r = await get(url + "own", headers);
      expect(r.status, headers.Accept).toBe(500);
      // Before: the gateway's plain 500 with the raw stack, for browsers too, no code frame.
      expect(r.text, headers.Accept).toContain("the upstream feed closed");
      expect(r.headers.get("content-type"), headers.Accept).toStartWith(headers === HTML ? "text/html" : "text/plain");
      if (headers === HTML) expect(r.text).toStartWith("<!doctype html>");
      else expect(r.text).toMatch(/^> +3 \| .*throw new ClientDisconnected/m); // the page's code frame
      await dev.waitFor(/GET \/own raised:[^]*ClientDisconnected[^]*the upstream feed closed/, 3000, mark);
      // Wrapped as a cause (2 deep) while the client waits: the app's error too, not the server's plain 500.
      const w = await get(url + "wrapped", headers);
      expect(w.status, headers.Accept).toBe(500);
      expect(w.headers.get("content-type"), headers.Accept).toStartWith(headers === HTML ? "text/html" : "text/plain");
      expect(w.headers.get("x-tsgi-error"), headers.Accept).toBe("runtime");
      expect(unescape(w.text), headers.Accept).toMatch(/sync failed[^]*ClientDisconnected: the upstream feed closed/);
      await dev.waitFor(/GET \/wrapped raised:[^]*sync failed[^]*Caused by: ClientDisconnected/, 3000, mark);
    }
    // The same throw after the client reset the connection is the client's: silent, as before.
    const mark = dev.output.length;
    const sock = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    sock.write("GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await Bun.sleep(100);
    sock.resetAndDestroy();
    await dev.waitFor(/"GET \/late HTTP\/1\.1" 0 0 /, 3000, mark);
    expect(dev.output.slice(mark)).not.toMatch(/raised|\[error\]|feed closed late/);
    expect((await get(url)).text).toBe("ok");
  });

  test("after the client reset: the app's own error is reported once; one wrapping the ClientDisconnected its read rejected with (as a cause, 2 deep) is the server's, not reported (before: an error page and a report)", async () => {
    const app = new TempApp({
      "app.ts": `export default async function app(environ: any, startResponse: any) {
  let failure: unknown;
  try { await environ["tsgi.input"].read(); } catch (error) { failure = error; }
  await Bun.sleep(200);
  console.log("throwing " + environ.PATH_INFO);
  if (environ.PATH_INFO === "/db") throw new Error("db down");
  throw new Error("import failed", { cause: new Error("upload failed", { cause: failure }) });
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    for (const path of ["/db", "/wrapped"]) {
      const mark = dev.output.length;
      const sock = connect({ host: "127.0.0.1", port });
      sock.on("error", () => {});
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      sock.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc`);
      await Bun.sleep(50);
      sock.resetAndDestroy();
      await dev.waitFor(new RegExp(`throwing ${path}`), 3000, mark);
      await Bun.sleep(300);
      const out = dev.output.slice(mark);
      if (path === "/db") {
        expect(out.match(/POST \/db raised/g)).toHaveLength(1);
        expect(out).toContain("db down");
      } else {
        expect(out, path).not.toMatch(/raised|\[error\]|import failed|upload failed/);
      }
    }
  });

  test("an event stream whose client reset: the rejection its close() causes in the pending next() is not reported (before: 'raised after its response started' per closed stream)", async () => {
    const app = new TempApp({
      "app.ts": `import { EventEmitter, on } from "node:events";
const feed = new EventEmitter();
const enc = new TextEncoder();
export default function app(environ: any, startResponse: any): any {
  startResponse("200 OK", [["Content-Type", "text/event-stream"]]);
  const stop = new AbortController();
  const body: any = (async function* () {
    yield enc.encode(": hello\\n\\n");
    for await (const [m] of on(feed, "msg", { signal: stop.signal })) yield enc.encode("data: " + m + "\\n\\n");
  })();
  body.close = () => { console.log("closed " + environ.PATH_INFO); stop.abort(); };
  return body;
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    const port = Number(new URL(url).port);
    const mark = dev.output.length;
    const sock = connect({ host: "127.0.0.1", port });
    sock.on("error", () => {});
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    sock.write("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await Bun.sleep(150);
    sock.resetAndDestroy();
    // close() comes once the generator's return() waited 1 s for its await; the access line after it.
    await dev.waitFor(/closed \/events/, 4000, mark);
    await dev.waitFor(/"GET \/events HTTP\/1\.1" 200 /, 3000, mark);
    await Bun.sleep(200);
    expect(dev.output.slice(mark)).not.toMatch(/raised|\[error\]|AbortError/);
  });

  test("errors no request owns (an unawaited rejection, a throw in a timer, at load or in a request) are reported, and the server keeps serving", async () => {
    const app = new TempApp({
      "app.ts": `const enc = new TextEncoder();
export default function app(environ: any, startResponse: any): any {
  if (environ.PATH_INFO === "/reject") Promise.reject(new Error("forgot to await this"));
  if (environ.PATH_INFO === "/timer") setTimeout(() => { throw new Error("thrown in a timer"); }, 5);
  if (environ.PATH_INFO === "/odd") setTimeout(() => { throw Object.create(null); }, 5);
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("ok v1")];
}
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (const [path, says] of [["/reject", /a promise rejected with nothing to catch it[^]*forgot to await this/], ["/timer", /thrown outside any request[^]*thrown in a timer/]] as const) {
      const mark = dev.output.length;
      expect((await get(url + path)).text).toBe("ok v1");
      await dev.waitFor(says, 3000, mark);
      expect(dev.output.slice(mark), path).toMatch(/app\.ts:\d+:\d+/);
      expect(dev.output.slice(mark), path).not.toMatch(/src\/(dev|gateway|server)\//);
      expect((await get(url)).text).toBe("ok v1");
    }
    // A thrown value nothing can describe is still reported, and the server still serves.
    const odd = dev.output.length;
    expect((await get(url + "/odd")).text).toBe("ok v1");
    await dev.waitFor(/thrown outside any request/, 3000, odd);
    expect((await get(url)).text).toBe("ok v1");
    // At load: a save whose top level leaves a rejection behind still reloads, and the server stays up.
    const mark = dev.output.length;
    app.write("app.ts", app.read("app.ts").replace("v1", "v2") + `const warm = Promise.reject(new Error("warm-up failed"));\n`);
    await dev.waitFor(/warm-up failed/, 5000, mark);
    await until(async () => (await get(url)).text === "ok v2", 5000);
    expect(dev.proc.exitCode).toBeNull();
  });

  test("a module that calls process.exit() at import fails the load like any import error; the server stays up and recovers", async () => {
    const app = new TempApp({ "app.ts": ENTRY, "b.ts": B, "c.ts": goodC("c0") });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const mark = dev.output.length;
    app.write("c.ts", `if (!process.env.DATABASE_URL) {\n  console.error("DATABASE_URL missing");\n  process.exit(1);\n}\n` + goodC("c1"));
    await dev.waitFor(/reload failed/, 5000, mark);
    expect(dev.output.slice(mark)).toMatch(/the app called process\.exit\(1\) while it loaded/);
    expect(dev.output.slice(mark)).toMatch(/c\.ts:3:\d+/);
    const page = await get(url, PLAIN);
    expect(page.status).toBe(500);
    expect(page.text).toContain("process.exit(1)");
    app.write("c.ts", goodC("c2"));
    await until(async () => (await get(url)).text === "b+c2", 5000);
    expect(dev.proc.exitCode).toBeNull();
  });

  test("--no-debug: error pages show nothing of the code", async () => {
    const app = new TempApp({
      "app.ts": `export default function app(environ: any, startResponse: any) {\n  throw new Error("secret detail in the message");\n}\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-debug"], { cwd: app.dir });
    const url = await dev.ready();
    for (const headers of [HTML, PLAIN]) {
      const r = await get(url, { ...headers, Authorization: "Bearer x" });
      expect(r.status).toBe(500);
      expect(r.text).not.toContain("secret detail");
      expect(r.text).not.toContain("app.ts");
      expect(r.text).not.toContain("HTTP_AUTHORIZATION");
      expect(r.text).toContain("500 Internal Server Error");
      expect(r.text).not.toContain("The app raised an error"); // not even in the HTML title
    }
    // The load-error page too.
    app.write("app.ts", `export default function app( {\n`);
    await dev.waitFor(/reload failed/, 5000);
    const r = await get(url, HTML);
    expect(r.status).toBe(500);
    expect(r.text).not.toContain("app.ts");
    expect(r.text).not.toContain("Unexpected");
    expect(r.text).not.toContain("The app failed to load");
  });
});

describe("the error page's request environ", () => {
  test("under a PathInfoDispatcher, the error page shows the environ the failing mounted app saw (SCRIPT_NAME /blog, PATH_INFO /post/1), not the server's (before: PATH_INFO /blog/post/1, SCRIPT_NAME empty, a path that app was never given); the terminal's line keeps the full path", async () => {
    const app = new TempApp({
      "app.ts": `import { PathInfoDispatcher } from ${JSON.stringify(join(ROOT, "src/toolkit/dispatch.ts"))};
const blog = (environ: any, startResponse: any) => {
  if (environ.PATH_INFO === "/ok") {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [new TextEncoder().encode("ok")];
  }
  throw new Error("blog failed at " + environ.PATH_INFO);
};
const inner = new PathInfoDispatcher({ "/v1": blog });
export default new PathInfoDispatcher({ "/blog": blog, "/api": inner, "/plain": (environ: any) => { throw new Error("plain failed at " + environ.PATH_INFO); } });
`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url + "blog/ok")).text).toBe("ok");
    for (const [path, scriptName, pathInfo] of [
      ["blog/post/1", "/blog", "/post/1"],
      // Mounts within mounts: the innermost app's.
      ["api/v1/items", "/api/v1", "/items"],
      ["plain/x", "/plain", "/x"],
    ] as const) {
      const r = await get(url + path, PLAIN);
      expect([path, r.status]).toEqual([path, 500]);
      expect(r.text).toContain(`failed at ${pathInfo}`);
      expect([path, /^ {4}PATH_INFO = (.*)$/m.exec(r.text)?.[1], /^ {4}SCRIPT_NAME = (.*)$/m.exec(r.text)?.[1]]).toEqual([path, JSON.stringify(pathInfo), JSON.stringify(scriptName)]);
      const html = unescape((await get(url + path, HTML)).text);
      expect(html).toContain(`<tr><td>PATH_INFO</td><td>${JSON.stringify(pathInfo)}</td></tr>`);
      expect(html).toContain(`<tr><td>SCRIPT_NAME</td><td>${JSON.stringify(scriptName)}</td></tr>`);
      await dev.waitFor(new RegExp(`GET /${path} raised:`), 3000);
    }
    await dev.kill();
  });

  test("the same when the app imports the dispatcher through the package name from the project's own node_modules/tsgi (a second copy of the module, as with a global or compiled tsgi-dev): the copies share what they record (before: the page showed the server's PATH_INFO /blog/post/1)", async () => {
    const app = new TempApp({
      "app.ts": `import { PathInfoDispatcher } from "tsgi/dispatch";
export default new PathInfoDispatcher({ "/blog": (environ: any) => { throw new Error("blog failed at " + environ.PATH_INFO); } });
`,
    });
    apps.push(app);
    // A copy, not a link: Bun would resolve a link to this checkout's files, one module instance.
    cpSync(join(ROOT, "src"), join(app.dir, "node_modules/tsgi/src"), { recursive: true });
    cpSync(join(ROOT, "package.json"), join(app.dir, "node_modules/tsgi/package.json"));
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const r = await get(url + "blog/post/1", PLAIN);
    expect(r.status).toBe(500);
    expect(r.text).toContain("blog failed at /post/1");
    expect([/^ {4}PATH_INFO = (.*)$/m.exec(r.text)?.[1], /^ {4}SCRIPT_NAME = (.*)$/m.exec(r.text)?.[1]]).toEqual(['"/post/1"', '"/blog"']);
    await dev.kill();
  });
});

describe("an import of a file that is not there names the nearest file beside it", () => {
  const appImporting = (specifier: string) =>
    `import { greet } from "${specifier}";\nexport default (environ: any, startResponse: any) => {\n  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n  return [new TextEncoder().encode(greet())];\n};\n`;

  test("a misspelt name or extension gets 'Did you mean' in the terminal and on the page; nothing near, none; a file renamed under a running app, its new name", async () => {
    const app = new TempApp({ "app.ts": appImporting("./lib/greeter.ts"), "lib/greet.ts": `export const greet = () => "hi";\n`, "lib/other.ts": "export {};\n" });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    // At startup: Bun's message names the file, and says nothing of greet.ts.
    await dev.waitFor(/Did you mean "\.\/lib\/greet\.ts"\? \(\.\/lib\/greeter\.ts is not there\)/);
    expect(dev.output).toContain("Cannot find module './lib/greeter.ts'");
    const plain = await get(url, PLAIN);
    expect(plain.status).toBe(500);
    expect(plain.text).toContain('Did you mean "./lib/greet.ts"? (./lib/greeter.ts is not there)');
    expect(unescape((await get(url, HTML)).text)).toContain('Did you mean "./lib/greet.ts"? (./lib/greeter.ts is not there)');
    // The extension of another kind of module (Bun finds greet.ts for greet.js, not for greet.mjs).
    app.write("app.ts", appImporting("./lib/greet.mjs"));
    await until(async () => (await get(url, PLAIN)).text.includes('Did you mean "./lib/greet.ts"? (./lib/greet.mjs is not there)'), 5_000);
    // Nothing near: no guess.
    app.write("app.ts", appImporting("./lib/zebra.ts"));
    await until(async () => (await get(url, PLAIN)).text.includes("Cannot find module './lib/zebra.ts'"), 5_000);
    expect((await get(url, PLAIN)).text).not.toContain("Did you mean");
    app.write("app.ts", appImporting("./lib/greet.ts"));
    await until(async () => (await get(url)).text === "hi", 5_000);
    // Renamed while served: the import's line, and the new name.
    renameSync(app.path("lib/greet.ts"), app.path("lib/greeting.ts"));
    await until(async () => (await get(url, PLAIN)).text.includes('Did you mean "./lib/greeting.ts"? (./lib/greet.ts is not there)'), 5_000);
    expect(await dev.kill("SIGTERM")).toBe(0);
  }, 40_000);
});
