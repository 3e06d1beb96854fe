/**
 * tsgi-dev end to end: in-place reload. Each test spawns `bun src/cli/dev.ts`
 * on a free port with an app in a temp dir, edits files and asserts the new
 * response within a bound.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { appendFileSync, chmodSync, closeSync, cpSync, existsSync, openSync, readdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { CLI, DevProcess, get, KeepAliveClient, killAll, ROOT, savedWhileImported, TempApp, until } from "../fixtures/dev/harness.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

/** entry → b.ts → c.ts; the body is `<entry version>/<c version>`. */
function chainApp(entryVersion = "e1", deepVersion = "c1"): TempApp {
  const app = new TempApp({
    "app.ts": entry(entryVersion),
    "b.ts": `import { c } from "./c.ts";\nexport function b(): string { return c(); }\n`,
    "c.ts": deep(deepVersion),
  });
  apps.push(app);
  return app;
}
function entry(v: string): string {
  return `import type { Application } from "${process.cwd()}/src/spec.ts";
import { b } from "./b.ts";
const enc = new TextEncoder();
const app: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("${v}/" + b())];
};
export default app;
`;
}
/** An app with no imports whose body is the expression `expr`. */
function plainApp(expr: string): string {
  return `export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(${expr})];
};
`;
}
function deep(v: string): string {
  return `export function c(): string {\n  return "${v}";\n}\n`;
}

async function start(app: TempApp, extra: string[] = []): Promise<{ dev: DevProcess; url: string }> {
  const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", ...extra], { cwd: app.dir });
  const url = await dev.ready();
  return { dev, url };
}

const reloads = (dev: DevProcess) => dev.count(/reloaded in \d+ ms/);

/** An app that serves views/page.html (read at each request, not imported: seen through --watch), first "one". */
function templateApp(): Record<string, string> {
  return {
    "app.ts": `import { readFileSync } from "node:fs";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(readFileSync("views/page.html", "utf8"))];
};
`,
    "views/page.html": "one",
  };
}

/** An app that serves public/page.html and `tail`, which `tailFrom` declares or imports. */
function bigFileApp(tailFrom: string): string {
  return `import { readFileSync } from "node:fs";
${tailFrom}
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(readFileSync("public/page.html", "utf8") + "/" + tail)];
};
`;
}

/**
 * An app.ts that, while the file `armed` exists, holds its load twice (it
 * writes `reached-N` and waits, at most 5 s, for `go-N`): before and after
 * it requires `module`; it answers that module's `v` and trigger.ts's `t`.
 * So a test can save a file after the load's scan and before Bun's read of
 * it, and save it back after.
 */
function heldLoadApp(module: string): string {
  return `import { existsSync, writeFileSync } from "node:fs";
import { t } from "./trigger.ts";
const dir = import.meta.dir;
const armed = existsSync(dir + "/armed");
const hold = (n: number) => {
  if (!armed) return;
  writeFileSync(dir + "/reached-" + n, "");
  for (let i = 0; i < 500 && !existsSync(dir + "/go-" + n); i++) Bun.sleepSync(10);
};
hold(1);
const m = require(${JSON.stringify(module)});
hold(2);
export default (e: any, sr: any) => {
  sr("200 OK", []);
  return [new TextEncoder().encode(m.v + "/" + t)];
};
`;
}

/**
 * With a {@link heldLoadApp} serving at `url`: a save of trigger.ts starts a
 * reload, `file` is saved ("B") after the load's scan and saved back ("A")
 * after Bun's read of it; returns once the reload serves and the events and
 * the settle check after it have come and gone (1 s more).
 */
async function saveAndUndoDuringLoad(app: TempApp, url: string, file: string): Promise<void> {
  app.write("armed", "");
  app.write("trigger.ts", `export const t = "t2";\n`);
  await until(() => existsSync(app.path("reached-1")), 5000);
  app.write(file, `module.exports = { v: "B" };\n`);
  app.write("go-1", "");
  await until(() => existsSync(app.path("reached-2")), 5000);
  app.write(file, `module.exports = { v: "A" };\n`);
  unlinkSync(app.path("armed"));
  app.write("go-2", "");
  await until(async () => (await get(url)).text.endsWith("/t2"), 5000);
  await Bun.sleep(1000);
}

describe("tsgi-dev reload in place", () => {
  test("a change in the entry file and in a module two imports deep", async () => {
    const app = chainApp();
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("e1/c1");

    app.write("app.ts", entry("e2"));
    await until(async () => (await get(url)).text === "e2/c1", 3000);

    app.write("c.ts", deep("c2"));
    await until(async () => (await get(url)).text === "e2/c2", 3000);
    await dev.waitFor(/reloaded in \d+ ms: c\.ts/, 3000); // stdout and the HTTP answer are separate channels: the line may land just after

    // A save by rename (vim, JetBrains) is followed too, and keeps being followed.
    app.writeAtomic("c.ts", deep("c3"));
    await until(async () => (await get(url)).text === "e2/c3", 3000);
    app.write("c.ts", deep("c4"));
    await until(async () => (await get(url)).text === "e2/c4", 3000);
  });

  test("a module imported lazily while serving is watched and reloaded too", async () => {
    const app = new TempApp({
      "app.ts": `export default async (environ: any, startResponse: any) => {
  const { word } = await import("./lazy.ts");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(word())];
};
`,
      "lazy.ts": `import { suffix } from "./suffix.ts";\nexport const word = () => "lazy1" + suffix;\n`,
      "suffix.ts": `export const suffix = "-s1";\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toBe("lazy1-s1");
    app.write("lazy.ts", app.read("lazy.ts").replace("lazy1", "lazy2"));
    await until(async () => (await get(url)).text === "lazy2-s1", 3000);
    app.write("suffix.ts", `export const suffix = "-s2";\n`);
    await until(async () => (await get(url)).text === "lazy2-s2", 3000);
  });

  test("run from a checkout (npm run dev), tsgi-dev's own sources are not the app's: not watched after a request, and saving them reloads nothing", async () => {
    // Before, src/cli/dev.ts (the entry, which lands in the module cache only after the loader's snapshot of
    // tsgi's own modules) was found after the first request: "watching src/cli/dev.ts (imported by a request)",
    // and each save of it reloaded the app. A checkout's src/ is not under node_modules, so it looked like
    // the app's. Here a copy of the checkout, with an app in it that imports tsgi's sources relatively, as
    // the fixtures do.
    const checkout = new TempApp({
      "fixtures/hello/app.ts": `import { requestUri } from "../../src/toolkit/util.ts";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("v1 " + requestUri(environ))];
};
`,
    });
    apps.push(checkout);
    for (const f of ["src", "package.json", "tsconfig.json"]) cpSync(join(ROOT, f), checkout.path(f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), checkout.path("node_modules"), "dir");
    const dev = new DevProcess(["fixtures/hello/app.ts", "--port", "0", "--no-access-log", "--log-level", "debug"], {
      cwd: checkout.dir,
      command: [process.execPath, checkout.path("src/cli/dev.ts")],
    });
    const url = await dev.ready();
    expect((await get(url + "a")).text).toBe(`v1 ${url}a`);
    await Bun.sleep(600); // the look for modules a request imported runs 200 ms after it
    expect((await get(url + "b")).text).toBe(`v1 ${url}b`);
    await Bun.sleep(600);
    expect(dev.output).not.toMatch(/watching .*src\//);
    for (const f of ["src/cli/dev.ts", "src/toolkit/util.ts", "src/dev/reloader.ts"]) appendFileSync(checkout.path(f), "\n// saved\n");
    await Bun.sleep(1500);
    expect(reloads(dev)).toBe(0);
    expect(dev.output).not.toMatch(/src\/(cli|toolkit|dev)\//);
    // The app's own file still reloads.
    checkout.write("fixtures/hello/app.ts", checkout.read("fixtures/hello/app.ts").replace('"v1 "', '"v2 "'));
    await until(async () => (await get(url + "c")).text === `v2 ${url}c`, 5000);
    expect(reloads(dev)).toBe(1);
  }, 30_000);

  test("a save made in the moment after a module was read (lazily by a request, at startup, or by a reload that adds it) reloads: the recorded state is what Bun read", async () => {
    // Before, the dev server fingerprinted such a module only later (200 ms after the request, or once the
    // import finished) and the watcher took it on later still: the save was taken for the loaded state, and
    // the old code kept serving with no sign.
    const lazy = new TempApp({ "app.ts": savedWhileImported.lazy, "lib/computed.ts": savedWhileImported.computed });
    const atStart = new TempApp({ "app.ts": savedWhileImported.entry(true), "lib/gen.ts": savedWhileImported.selfSaving });
    const onReload = new TempApp({ "app.ts": savedWhileImported.entry(false), "lib/gen.ts": savedWhileImported.selfSaving });
    // Files Bun reads itself (JSON, CommonJS): recorded as the import resolves them, before Bun reads them.
    const native = new TempApp({
      "app.ts": `import data from "./lib/data.json";\nimport c from "./lib/c.cjs";\nimport "./lib/touch.ts";\nexport default (e: any, sr: any) => {\n  sr("200 OK", []);\n  return [new TextEncoder().encode(data.v + "/" + c.v)];\n};\n`,
      "lib/data.json": `{"v": 1}\n`,
      "lib/c.cjs": `module.exports = { v: 1 };\n`,
      "lib/touch.ts": `import { readFileSync, writeFileSync } from "node:fs";\nfor (const f of ["data.json", "c.cjs"]) {\n  const p = import.meta.dir + "/" + f;\n  const t = readFileSync(p, "utf8");\n  if (t.includes("1")) writeFileSync(p, t.replace("1", "2"));\n}\n`,
    });
    apps.push(lazy, atStart, onReload, native);
    const [a, b, c, d] = await Promise.all([start(lazy), start(atStart), start(onReload), start(native)]);
    await until(async () => (await get(d.url)).text === "2/2", 3000);
    expect((await get(a.url)).text).toBe("w1");
    await until(async () => (await get(a.url)).text === "w2", 3000);
    await until(async () => (await get(b.url)).text === "g2", 3000);
    expect((await get(c.url)).text).toBe("none");
    onReload.write("app.ts", savedWhileImported.entry(true));
    await until(async () => (await get(c.url)).text === "g2", 3000);
    // Each reloaded once for the save, no more.
    await Bun.sleep(300);
    expect([reloads(a.dev), reloads(b.dev), reloads(c.dev), reloads(d.dev)]).toEqual([1, 1, 2, 1]);
  }, 15_000);

  test("a module imported lazily shares the app's modules: one store, one class for instanceof, also after a reload", async () => {
    const app = new TempApp({
      "shared.ts": `export const store = new Map<string, string>();\nexport class AppError extends Error {}\nexport const id = Math.random();\n`,
      "routes/a.ts": `import { store, id, AppError } from "../shared.ts";\nexport const route = () => \`\${store.get("user")} \${id}\`;\nexport const fail = () => new AppError("x");\n`,
      "page.html": "<p>page</p>\n",
      "app.ts": `import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { store, id, AppError } from "./shared.ts";
store.set("user", "alice");
const require = createRequire(import.meta.url);
export default async (environ: any, startResponse: any) => {
  const r = await import("./routes/a.ts");
  // A path resolved while serving is the file's own (no module key), readable as a file.
  const page = readFileSync(require.resolve("./page.html"), "utf8").trim();
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(\`\${r.route()} same=\${r.route().endsWith(String(id))} instanceof=\${r.fail() instanceof AppError} \${page} v1\`)];
};
`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toMatch(/^alice \S+ same=true instanceof=true <p>page<\/p> v1$/);
    app.write("app.ts", app.read("app.ts").replace("v1", "v2"));
    await until(async () => (await get(url)).text.endsWith("v2"), 3000);
    expect((await get(url)).text).toMatch(/^alice \S+ same=true instanceof=true <p>page<\/p> v2$/);
    app.write("routes/a.ts", app.read("routes/a.ts") + "// edited\n");
    await Bun.sleep(300);
    await until(async () => (await get(url)).status === 200, 3000);
    expect((await get(url)).text).toMatch(/^alice \S+ same=true instanceof=true <p>page<\/p> v2$/);
  });

  test("a module imported lazily that failed (a throw at its top level) works again once fixed", async () => {
    const app = new TempApp({
      "app.ts": `export default async (environ: any, startResponse: any) => {
  let text: string;
  try {
    text = (await import("./lazy.ts")).word;
  } catch (e) {
    text = "ERR " + (e as Error).message;
  }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(text)];
};
`,
      "lazy.ts": `export const word = "ok1";\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toBe("ok1");
    await Bun.sleep(300); // the dev server finds the lazily imported module and watches it
    app.write("lazy.ts", `throw new Error("boom");\nexport const word = "never";\n`);
    await until(async () => (await get(url)).text === "ERR boom", 3000);
    app.write("lazy.ts", `export const word = "fixed";\n`);
    await until(async () => (await get(url)).text === "fixed", 3000);
  });

  test("text that reads like an extensionless import (in a string, a template, a comment) is served as written, and a .js module with JSX loads, as under bun", async () => {
    // The loader plugin writes ./lib/c as its absolute path: only in the import itself, never in
    // the string beside it (a double-quoted path inside '...' there was a syntax error), and .js
    // is read with Bun's own loader for it (jsx), not js ("Unexpected <").
    const app = new TempApp({
      "app.ts": `import { c } from "./lib/c";
import { view } from "./lib/view";
const usage = "usage: import { c } from './lib/c'";
const example = \`const { c } = require('./lib/c'); await import("./lib/c")\`;
// import { c } from "./lib/c"
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode([c, usage, example, view()].join("|"))];
};
`,
      "lib/c.ts": `export const c = "c1";\n`,
      "lib/view.js": `// @jsxRuntime classic\n// @jsx h\nconst h = (tag, props, ...children) => tag + ":" + children.join("");\nexport const view = () => <b>v1</b>;\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    const expected = (c: string, v: string) => [c, "usage: import { c } from './lib/c'", `const { c } = require('./lib/c'); await import("./lib/c")`, `b:${v}`].join("|");
    const first = await get(url);
    expect(first.text).toBe(expected("c1", "v1"));
    // And the import itself is still versioned: a change to lib/c.ts and lib/view.js reloads.
    app.write("lib/c.ts", `export const c = "c2";\n`);
    await until(async () => (await get(url)).text === expected("c2", "v1"), 5000);
    app.write("lib/view.js", `// @jsxRuntime classic\n// @jsx h\nconst h = (tag, props, ...children) => tag + ":" + children.join("");\nexport const view = () => <b>v2</b>;\n`);
    await until(async () => (await get(url)).text === expected("c2", "v2"), 5000);
  });

  test("CommonJS modules (module.exports in a .js file, a .cjs file, require() of a module without its extension) load and reload, as under bun", async () => {
    // Bun evaluates what a plugin's onLoad returns as an ES module: a CommonJS module read that
    // way exported nothing ("Export named 'greet' not found"), so those are left to Bun.
    const app = new TempApp({
      "app.ts": `import { greet } from "./lib/greet.js";
import settings from "./lib/settings.cjs";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(greet("w") + "|" + settings.name)];
};
`,
      "lib/greet.js": `const { prefix } = require("./prefix");\nmodule.exports.greet = (name) => prefix + name;\n`,
      "lib/prefix.js": `exports.prefix = "hello1 ";\n`,
      "lib/settings.cjs": `module.exports = { name: "s1" };\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toBe("hello1 w|s1");
    app.write("lib/settings.cjs", `module.exports = { name: "s2" };\n`);
    await until(async () => (await get(url)).text === "hello1 w|s2", 5000);
    app.write("lib/greet.js", `const { prefix } = require("./prefix");\nmodule.exports.greet = (name) => prefix + name + "!";\n`);
    await until(async () => (await get(url)).text === "hello1 w!|s2", 5000);
  });

  test("a .cjs module saved after the load's scan read it, then read by Bun, then saved back (git stash, then git stash pop): the disk's text is served, not the one in between", async () => {
    // Before, the fingerprint recorded for a module Bun reads itself was the scan's, taken before the
    // save: after the undo the disk matched it again, the reload was skipped as "no content change", and
    // the text of the save stayed served. The app holds its load at two points (files it waits for) so that
    // the save lands after the scan and before Bun's read, and the undo after that read.
    const app = new TempApp({
      "app.ts": heldLoadApp("./lib/c.cjs"),
      "trigger.ts": `export const t = "t1";\n`,
      "lib/c.cjs": `module.exports = { v: "A" };\n`,
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--log-level", "debug"]);
    expect((await get(url)).text).toBe("A/t1");
    await saveAndUndoDuringLoad(app, url, "lib/c.cjs");
    expect((await get(url)).text).toBe("A/t2");
    expect(dev.output).not.toContain("no content change in lib/c.cjs");
  }, 20_000);

  test("a module a request imports lazily (a literal import() in the handler), saved during a load after its scan and saved back after the request imported it: the disk's text is served", async () => {
    // Before, the load recorded the scan's fingerprint ("A") for lib/lazy.ts, which the load itself did not
    // import; the request the load held back imported the save ("B"); the undo made the disk "A" again
    // before the watcher reported the save, so its event and the settle check found "no content change",
    // and "B" stayed served. The app holds its load (after the scan) and the request (after its import).
    const app = new TempApp({
      "app.ts": `import { existsSync, writeFileSync } from "node:fs";
import { t } from "./trigger.ts";
const dir = import.meta.dir;
const hold = (n: number) => {
  if (!existsSync(dir + "/armed")) return;
  writeFileSync(dir + "/reached-" + n, "");
  for (let i = 0; i < 500 && !existsSync(dir + "/go-" + n); i++) Bun.sleepSync(10);
};
hold(1);
export default async (e: any, sr: any) => {
  const m = await import("./lib/lazy.ts");
  hold(2);
  sr("200 OK", []);
  return [new TextEncoder().encode(m.v + "/" + t)];
};
`,
      "trigger.ts": `export const t = "t1";\n`,
      "lib/lazy.ts": `export const v = "A";\n`,
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--log-level", "debug"]);
    expect((await get(url)).text).toBe("A/t1");
    app.write("armed", "");
    app.write("trigger.ts", `export const t = "t2";\n`);
    await until(() => existsSync(app.path("reached-1")), 5000);
    app.write("lib/lazy.ts", `export const v = "B";\n`);
    const held = get(url, {}, 10_000); // waits for the load, then imports lib/lazy.ts
    await Bun.sleep(100);
    app.write("go-1", "");
    await until(() => existsSync(app.path("reached-2")), 5000);
    app.write("lib/lazy.ts", `export const v = "A";\n`);
    unlinkSync(app.path("armed"));
    app.write("go-2", "");
    expect((await held).text).toBe("B/t2");
    await until(async () => (await get(url)).text === "A/t2", 3000);
    expect(dev.output).toMatch(/reloaded in \d+ ms: lib\/lazy\.ts/);
  }, 30_000);

  test("a CommonJS module a CommonJS module requires without extension (require(\"./c\")), saved after the load's scan and saved back after Bun read it: the disk's text is served; one the app rewrites with the same bytes at each load reloads nothing", async () => {
    // Before, Bun resolved such a require itself (a plugin's resolver is not asked for a specifier without
    // extension), so the fingerprint recorded for lib/c.js was the scan's, taken before the save: after the
    // undo the disk matched it again, "no content change in lib/c.js; not reloading", and "B" stayed served.
    // The app holds its load at two points (files it waits for), as in the .cjs test above.
    const app = new TempApp({
      "app.ts": heldLoadApp("./lib/a.cjs"),
      "trigger.ts": `export const t = "t1";\n`,
      "lib/a.cjs": `module.exports = require("./c");\n`,
      "lib/c.js": `module.exports = { v: "A" };\n`,
    });
    // The same shape, whose lib/a.cjs first writes lib/c.js again with the bytes it has (a generator that
    // does not compare): its status changes at every load, its content never.
    const same = new TempApp({
      "app.ts": `import { t } from "./trigger.ts";
const a = require("./lib/a.cjs");
export default (e: any, sr: any) => {
  sr("200 OK", []);
  return [new TextEncoder().encode(a.v + "/" + t)];
};
`,
      "trigger.ts": `export const t = "t1";\n`,
      "lib/a.cjs": `const fs = require("node:fs");
fs.writeFileSync(__dirname + "/c.js", 'module.exports = { v: "S" };\\n');
module.exports = require("./c");
`,
      "lib/c.js": `module.exports = { v: "S" };\n`,
    });
    apps.push(app, same);
    const [{ dev, url }, other] = await Promise.all([start(app, ["--log-level", "debug"]), start(same, ["--log-level", "debug"])]);
    expect((await get(url)).text).toBe("A/t1");
    await saveAndUndoDuringLoad(app, url, "lib/c.js");
    expect((await get(url)).text).toBe("A/t2");
    expect(dev.output).not.toContain("no content change in lib/c.js");

    expect((await get(other.url)).text).toBe("S/t1");
    for (const t of ["t2", "t3"]) {
      same.write("trigger.ts", `export const t = "${t}";\n`);
      await until(async () => (await get(other.url)).text === `S/${t}`, 5000);
      await Bun.sleep(700);
    }
    expect(other.dev.count(/reloaded in \d+ ms/)).toBe(2);
    expect(other.dev.output).not.toMatch(/changed while the app loaded/);
  }, 30_000);

  test("a module a CommonJS module requires without extension that Bun reads unseen (c.cjs, c.jsx, c.tsx, or a file with no extension), saved after the load's scan and saved back after Bun read it: the disk's text is served", async () => {
    // Before, neither the resolver plugin (no extension in the specifier) nor Module._extensions (which lists
    // none of these) saw Bun's read: the scan's fingerprint was recorded, the undo matched it, "no content
    // change in lib/c.cjs; not reloading", and "B" stayed served. Held as in the .cjs test above.
    for (const file of ["lib/c.cjs", "lib/c.jsx", "lib/c.tsx", "lib/c"]) {
      const app = new TempApp({
        "app.ts": heldLoadApp("./lib/a.cjs"),
        "trigger.ts": `export const t = "t1";\n`,
        "lib/a.cjs": `module.exports = require("./c");\n`,
        [file]: `module.exports = { v: "A" };\n`,
      });
      apps.push(app);
      const { dev, url } = await start(app, ["--log-level", "debug"]);
      expect((await get(url)).text, file).toBe("A/t1");
      await saveAndUndoDuringLoad(app, url, file);
      expect((await get(url)).text, file).toBe("A/t2");
      expect(dev.output, file).not.toContain(`no content change in ${file}`);
      await killAll();
    }
  }, 60_000);

  test("imports with attributes (with { type: \"text\" }) of a code module read it as the attribute asks, beside a plain import of it, and reload, as under bun", async () => {
    // Neither onResolve nor onLoad is told a module's attributes: the loader plugin's onLoad read
    // ./lib/c.ts as code for an import that asked for its text ("Missing 'default' export").
    const app = new TempApp({
      "app.ts": `import { c } from "./lib/c";
import source from "./lib/c.ts" with { type: "text" };
export default async (environ: any, startResponse: any) => {
  const lazy = (await import("./lib/c.ts", { with: { type: "text" } })).default;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode([c, source.trim(), lazy.trim()].join("|"))];
};
`,
      "lib/c.ts": `export const c = "c1";\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    const line = (v: string) => `export const c = "${v}";`;
    expect((await get(url)).text).toBe(["c1", line("c1"), line("c1")].join("|"));
    app.write("lib/c.ts", `export const c = "c2";\n`);
    await until(async () => (await get(url)).text === ["c2", line("c2"), line("c2")].join("|"), 5000);
  });

  test("a module with no import or export statement that is an ES module all the same (a top-level await, an export {}) recovers from a throw in what it imports without an extension", async () => {
    // Such a module was taken for CommonJS and left to Bun, so its import("./lib/s") kept its plain key,
    // and a top-level throw in lib/s.ts stayed on the error page after the fix, until a restart.
    const app = new TempApp({
      "app.ts": `import "./setup.ts";
import "./other.ts";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode((globalThis as any).__s + "|" + (globalThis as any).__t)];
};
`,
      "setup.ts": `const { s } = await import("./lib/s");\n(globalThis as any).__s = s;\n`,
      "other.ts": `import type { T } from "./lib/t";\nexport {};\nconst t: T = (await import("./lib/t")).t;\n(globalThis as any).__t = t;\n`,
      "lib/s.ts": `export const s = "s1";\n`,
      "lib/t.ts": `export type T = string;\nexport const t = "t1";\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toBe("s1|t1");
    app.write("lib/s.ts", `throw new Error("s broken");\n`);
    app.write("lib/t.ts", `throw new Error("t broken");\n`);
    await until(async () => (await get(url)).status === 500, 5000);
    app.write("lib/s.ts", `export const s = "s2";\n`);
    app.write("lib/t.ts", `export type T = string;\nexport const t = "t2";\n`);
    await until(async () => (await get(url)).text === "s2|t2", 5000);
  });

  test("a macro import (with { type: \"macro\" }) runs as under bun, with or without the extension, and across a reload of its importer", async () => {
    // The loader plugin's onLoad wrote the specifier of every import with attributes as a key of its
    // own, which Bun's transpiler, resolving the macro itself, could not find: 'Macro "/abs/lib/m.ts?tsgi-native" not found'.
    const app = new TempApp({
      "app.ts": `import { stamp } from "./lib/m.ts" with { type: "macro" };
import { stamp as stamp2 } from "./lib/m" with { type: "macro" };
const text = stamp() + "|" + stamp2() + "|e1";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(text)];
};
`,
      "lib/m.ts": `export function stamp(): string {\n  return "m" + (20 + 1);\n}\n`,
    });
    apps.push(app);
    const { url } = await start(app);
    expect((await get(url)).text).toBe("m21|m21|e1");
    app.write("app.ts", app.read("app.ts").replace("|e1", "|e2"));
    await until(async () => (await get(url)).text === "m21|m21|e2", 5000);
  });

  test("a runtime plugin in a bunfig.toml preload (onLoad with filter /\\.md$/) loads the app's .md files, as under bun: served, reloaded, a broken one an error page that a fix clears; in place and with --reload=restart", async () => {
    const app = new TempApp({
      "bunfig.toml": `preload = ["./md-plugin.ts"]\n`,
      "md-plugin.ts": `import { plugin } from "bun";
console.log("md-plugin preloaded");
plugin({
  name: "md",
  setup(build) {
    build.onLoad({ filter: /\\.md$/ }, async (args) => {
      const text = (await Bun.file(args.path).text()).trim();
      if (text.startsWith("THROW")) throw new Error("md-plugin cannot read " + text);
      if (text.startsWith("SYNTAX")) return { contents: "export default (;", loader: "js" };
      if (text.startsWith("LINK")) return { contents: 'import { nope } from "./words.ts"; export default nope;', loader: "js" };
      return { contents: "export default " + JSON.stringify("<article>" + text + "</article>") + ";", loader: "js" };
    });
  },
});
`,
      "words.ts": `export const word = "w1";\n`,
      "page.md": "# one\n",
      "data.json": `{ "n": 1 }\n`,
      "app.ts": `import page from "./page.md";
import data from "./data.json";
import { word } from "./words.ts";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(page + "|" + data.n + "|" + word)];
};
`,
    });
    apps.push(app);
    // What bun itself serves.
    const plainBun = Bun.spawnSync([process.execPath, "-e", `const app = (await import("./app.ts")).default; app({}, () => {}).forEach((b) => process.stdout.write(b));`], { cwd: app.dir });
    expect(plainBun.stdout.toString()).toContain("<article># one</article>|1|w1");
    for (const mode of [[], ["--reload=restart"]]) {
      app.write("page.md", "# one\n");
      app.write("data.json", `{ "n": 1 }\n`);
      const { dev, url } = await start(app, mode);
      const body = async () => (await get(url)).text;
      expect(await body()).toBe("<article># one</article>|1|w1");
      let step = 1;
      for (const broken of ["THROW", "SYNTAX", "LINK"]) {
        app.write("page.md", `${broken}\n`);
        const page = await until(async () => {
          const r = await get(url);
          return r.status === 500 ? r.text : undefined;
        }, 8000);
        expect(page).toContain({ THROW: "md-plugin cannot read THROW", SYNTAX: "page.md", LINK: "nope" }[broken]!);
        step++;
        app.write("page.md", `# fixed ${step}\n`);
        await until(async () => (await body()) === `<article># fixed ${step}</article>|1|w1`, 8000);
      }
      // A file no plugin loads still reloads as before, and so does a code module.
      app.write("data.json", `{ "n": 2 }\n`);
      await until(async () => (await body()) === `<article># fixed ${step}</article>|2|w1`, 8000);
      app.write("words.ts", `export const word = "w2";\n`);
      await until(async () => (await body()) === `<article># fixed ${step}</article>|2|w2`, 8000);
      app.write("words.ts", `export const word = "w1";\n`);
      await until(async () => (await body()).endsWith("|w1"), 8000);
      expect(dev.output).toContain("md-plugin preloaded");
      await dev.kill();
    }
  });

  test("the temporary directory of the probe that asks whether a runtime plugin loads .md files is removed a second after, so a tsgi-dev killed with SIGKILL leaves nothing in TMPDIR (before: one tsgi-dev-probe-* per such process)", async () => {
    const app = new TempApp({
      "bunfig.toml": `preload = ["./md-plugin.ts"]\n`,
      "md-plugin.ts": `import { plugin } from "bun";
plugin({
  name: "md",
  setup(build) {
    build.onLoad({ filter: /\\.md$/ }, async (args) => ({ contents: "export default " + JSON.stringify("<p>" + (await Bun.file(args.path).text()).trim() + "</p>") + ";", loader: "js" }));
  },
});
`,
      "page.md": "hi\n",
      "tmp/.keep": "",
      "app.ts": `import page from "./page.md";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(page)];
};
`,
    });
    apps.push(app);
    const tmp = join(app.dir, "tmp");
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir, env: { TMPDIR: tmp } });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("<p>hi</p>");
    const probes = () => readdirSync(tmp).filter((f) => f.startsWith("tsgi-dev-probe-"));
    expect(await until(async () => probes().length === 0, 3000)).toBe(true);
    app.write("page.md", "ho\n");
    await until(async () => (await get(url)).text === "<p>ho</p>", 5000);
    await dev.kill("SIGKILL");
    expect(probes()).toEqual([]);
  });

  test("the probe's directory goes as soon as the probe is answered (no plugin: a .json imported lazily), so a tsgi-dev SIGKILLed right after leaves none in TMPDIR (before: each such kill within a second of the probe left one; a full test run, about four in /tmp)", async () => {
    const app = new TempApp({
      "data.json": `{ "n": 1 }\n`,
      "tmp/.keep": "",
      "app.ts": `export default async (environ: any, startResponse: any) => {
  const data = (await import("./data.json")).default;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("n=" + data.n)];
};
`,
    });
    apps.push(app);
    const tmp = join(app.dir, "tmp");
    const probes = () => readdirSync(tmp).filter((f) => f.startsWith("tsgi-dev-probe-"));
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir, env: { TMPDIR: tmp } });
    const url = await dev.ready();
    // The import, and so the probe, happens in this request; the directory is looked at as soon as it is answered.
    expect((await get(url)).text).toBe("n=1");
    const left = probes();
    await dev.kill("SIGKILL");
    expect(left).toEqual([]);
    expect(probes()).toEqual([]);
  });

  test("files a runtime plugin loads that requests import lazily (a docs site's .md pages) are not run through the plugin again at each reload: only one whose import failed is imported on its own before the load, and a fixed one then serves (before: every page once more per reload)", async () => {
    const app = new TempApp({
      "bunfig.toml": `preload = ["./md-plugin.ts"]\n`,
      "md-plugin.ts": `import { plugin } from "bun";
import { basename } from "node:path";
plugin({
  name: "md",
  setup(build) {
    build.onLoad({ filter: /\\.md$/ }, async (args) => {
      console.log("md-plugin loads " + basename(args.path));
      const text = (await Bun.file(args.path).text()).trim();
      if (text.startsWith("THROW")) throw new Error("md-plugin cannot read " + text);
      return { contents: "export default " + JSON.stringify("<article>" + text + "</article>") + ";", loader: "js" };
    });
  },
});
`,
      "words.ts": `export const word = "w0";\n`,
      "p1.md": "# one\n",
      "p2.md": "# two\n",
      "p3.md": "# three\n",
      "p4.md": "THROW\n",
      "app.ts": `import { word } from "./words.ts";
export default async (environ: any, startResponse: any) => {
  const page = (await import("./" + environ.PATH_INFO.slice(1) + ".md")).default;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(page + "|" + word)];
};
`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    const loadsOf = (page: string) => dev.count(new RegExp(`md-plugin loads ${page}\\.md`));
    for (const page of ["p1", "p2", "p3"]) expect((await get(`${url}${page}`)).text).toBe(`<article># ${{ p1: "one", p2: "two", p3: "three" }[page]}</article>|w0`);
    expect((await get(`${url}p4`)).status).toBe(500);
    for (let n = 1; n <= 3; n++) {
      const mark = dev.output.length;
      app.write("words.ts", `export const word = "w${n}";\n`);
      await dev.waitFor(/reloaded in \d+ ms: words\.ts/, 5000, mark);
      expect((await get(`${url}p1`)).text).toBe(`<article># one</article>|w${n}`);
    }
    // p1 once per generation that requested it; p2 and p3 once, by their requests; p4, failed, once more per reload to clear it.
    // The plugin's line for the last request comes through the dev server's stdout, a pipe the response does not wait for:
    // on a loaded machine the response got here first and p1 counted 3. Wait for its 4th line (bounded), then compare.
    await until(() => loadsOf("p1") >= 4, 3000).catch(() => undefined);
    expect([loadsOf("p1"), loadsOf("p2"), loadsOf("p3")]).toEqual([4, 1, 1]);
    expect(loadsOf("p4")).toBeLessThanOrEqual(4);
    app.write("p4.md", "# four\n");
    app.write("words.ts", `export const word = "w9";\n`);
    await until(async () => (await get(`${url}p4`)).text === "<article># four</article>|w9", 5000);
    await dev.kill();
  });

  test("a module a request imports by a computed specifier (no scan can see it) is watched from then on, across reloads", async () => {
    const app = new TempApp({
      "app.ts": `export default async (environ: any, startResponse: any) => {
  const { word } = await import(["./lib", "computed.ts"].join("/"));
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(word() + "/e1")];
};
`,
      "lib/computed.ts": `export const word = () => "w1";\n`,
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--log-level", "debug"]);
    expect((await get(url)).text).toBe("w1/e1");
    // The dev server looks for lazily imported modules DISCOVER_DELAY_MS (200 ms) after a request and hands
    // them to the watcher then (a save before that is compared with what the request read: see the test of
    // saves made the moment after a read). Wait for the line it logs once it has, so the save below is the
    // watcher's to see (a fixed sleep here lost the race when that timer ran late on a loaded machine).
    await dev.waitFor(/watching [^\n]*\blib\/computed\.ts[^\n]* \(imported by a request\)/, 3000);
    // The watcher adds lib/ to chokidar then, which watches it asynchronously; a save in that gap is seen all the same.
    app.write("lib/computed.ts", `export const word = () => "w2";\n`);
    await until(async () => (await get(url)).text === "w2/e1", 3000);
    // After a reload of another file the module is still watched, before any request imports it again.
    let mark = dev.output.length;
    app.write("app.ts", app.read("app.ts").replace("/e1", "/e2"));
    await dev.waitFor(/reloaded in \d+ ms: app\.ts/, 3000, mark);
    mark = dev.output.length; // the line of the w2 reload is already there
    app.write("lib/computed.ts", `export const word = () => "w3";\n`);
    await dev.waitFor(/reloaded in \d+ ms: lib\/computed\.ts/, 3000, mark);
    expect((await get(url)).text).toBe("w3/e2");
  });

  test("a deleted and re-created file is watched again", async () => {
    const app = chainApp();
    const { url } = await start(app);
    unlinkSync(app.path("c.ts"));
    await until(async () => (await get(url)).status === 500, 3000);
    await Bun.sleep(300);
    app.write("c.ts", deep("c9"));
    await until(async () => (await get(url)).text === "e1/c9", 3000);
    app.write("c.ts", deep("c10"));
    await until(async () => (await get(url)).text === "e1/c10", 3000);
  });

  test("an import of a file that does not exist yet: creating the file recovers, with no edit of the importer", async () => {
    const app = chainApp();
    app.write("b.ts", `import { c } from "./c.ts";\nimport { d } from "./lib/d";\nexport function b(): string { return c() + d; }\n`);
    const { dev, url } = await start(app);
    const broken = await get(url);
    expect(broken.status).toBe(500);
    expect(broken.text).toContain("Cannot find module './lib/d'");
    app.write("lib/d.ts", `export const d = "+d1";\n`);
    await until(async () => (await get(url)).text === "e1/c1+d1", 3000);
    // A module at a path the scanner guessed from an extensionless specifier is in the graph from now on.
    app.write("lib/d.ts", `export const d = "+d2";\n`);
    await until(async () => (await get(url)).text === "e1/c1+d2", 3000);
    expect(dev.proc.exitCode).toBeNull();
  });

  test("an import through a tsconfig paths alias of a file that does not exist yet: the page says it is the alias's (not a package to install), and creating the file recovers with no edit of the importer, also in a directory made after; in place and with --reload=restart", async () => {
    for (const mode of [[], ["--reload=restart"]]) {
      const app = chainApp();
      app.write("tsconfig.json", JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@lib/*": ["lib/*"] } } }));
      // lib/ is there, with a module the app imports through the alias: Bun has read the directory before d.ts comes.
      app.write("lib/e.ts", `export const e = "+e";\n`);
      app.write("b.ts", `import { c } from "./c.ts";\nimport { e } from "@lib/e";\nimport { d } from "@lib/d";\nexport function b(): string { return c() + e + d; }\n`);
      const { dev, url } = await start(app, mode);
      const broken = await get(url, { Accept: "*/*" });
      expect(broken.status).toBe(500);
      expect(broken.text).toContain("Cannot find package '@lib/d'");
      expect(broken.text).not.toContain("npm install");
      expect(broken.text).toContain(`@lib/d is a "paths" alias of tsconfig.json ("@lib/*"), and there is no module at lib/d`);
      await until(() => dev.output.includes(`@lib/d is a "paths" alias of tsconfig.json`), 3000);
      // A request while it is broken: Bun's resolver has looked for @lib/d once more.
      expect((await get(url)).status).toBe(500);
      app.write("lib/d.ts", `export const d = "+d1";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d1", 3000);
      app.write("lib/d.ts", `export const d = "+d2";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d2", 3000);
      // Deleted: the page points at the import through the alias (Bun's own words were ENOENT reading ".../lib/d.ts", no place).
      unlinkSync(app.path("lib/d.ts"));
      const gone = await until(async () => {
        const r = await get(url, { Accept: "*/*" });
        return r.status === 500 ? r : null;
      }, 3000);
      // (A fresh app process of restart mode, which never read lib/d.ts, says "package", as at the start.)
      expect(gone.text).toContain(`'@lib/d' imported from ${app.path("b.ts")}`);
      expect(gone.text).toMatch(/^ModuleNotFound: Cannot find (module|package) '@lib\/d'/m);
      expect(gone.text).toMatch(/> 3 \| import \{ d \} from "@lib\/d";/);
      expect(gone.text).toContain(`@lib/d is a "paths" alias of tsconfig.json ("@lib/*"), and there is no module at lib/d`);
      app.write("lib/d.ts", `export const d = "+d2b";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d2b", 3000);
      // Several directories deep, none of them there yet.
      app.write("b.ts", app.read("b.ts").replace(`import { d } from "@lib/d";`, `import { d } from "@lib/deep/er/d";`));
      await until(async () => (await get(url)).status === 500, 3000);
      app.write("lib/deep/er/d.ts", `export const d = "+d3";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d3", 3000);
      expect(dev.proc.exitCode).toBeNull();
      await dev.kill("SIGKILL");
    }
  }, 30_000);

  test("an import through a package.json \"imports\" entry (#d) of a file that does not exist yet: the page says so, and creating the file recovers with no edit of the importer; in place and with --reload=restart", async () => {
    for (const mode of [[], ["--reload=restart"]]) {
      const app = chainApp();
      app.write("package.json", JSON.stringify({ name: "subpath-app", imports: { "#e": "./lib/e.ts", "#d": "./lib/d.ts" } }));
      app.write("lib/e.ts", `export const e = "+e";\n`);
      app.write("b.ts", `import { c } from "./c.ts";\nimport { e } from "#e";\nimport { d } from "#d";\nexport function b(): string { return c() + e + d; }\n`);
      const { dev, url } = await start(app, mode);
      const broken = await get(url, { Accept: "*/*" });
      expect(broken.status).toBe(500);
      expect(broken.text).toContain("Cannot find package '#d'");
      expect(broken.text).toContain(`#d is an "imports" entry of package.json ("#d"), and there is no module at lib/d.ts yet: create it`);
      expect((await get(url)).status).toBe(500);
      app.write("lib/d.ts", `export const d = "+d1";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d1", 3000);
      app.write("lib/d.ts", `export const d = "+d2";\n`);
      await until(async () => (await get(url)).text === "e1/c1+e+d2", 3000);
      expect(dev.proc.exitCode).toBeNull();
      await dev.kill("SIGKILL");
    }
  }, 30_000);

  test("a file that was on disk before the app imported it: deleting it, or renaming it, is seen", async () => {
    const app = new TempApp({ "app.ts": plainApp('"v1"') });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("v1");
    app.write("other.ts", `export const o = "other1";\n`);
    await Bun.sleep(300);
    app.write("app.ts", `import { o } from "./other.ts";\n${plainApp('"v2 " + o')}`);
    await until(async () => (await get(url)).text === "v2 other1", 3000);
    // Nothing else changes in the directory after the import, so only other.ts's own deletion can say it is gone.
    unlinkSync(app.path("other.ts"));
    await until(async () => (await get(url)).status === 500, 3000);
    expect((await get(url)).text).toContain("Cannot find module './other.ts'");
    await dev.waitFor(/reload failed after \d+ ms \(other\.ts\)/, 3000);
    app.write("other.ts", `export const o = "other2";\n`);
    await until(async () => (await get(url)).text === "v2 other2", 3000);
    renameSync(app.path("other.ts"), app.path("renamed.ts"));
    await until(async () => (await get(url)).status === 500, 3000);
  });

  test("a module deleted for real while requests keep coming is reported once, not again for each request's look at the module cache", async () => {
    // Before, the look for modules a request imported (200 ms after requests) compared the failed load's
    // "missing" with what the last good load had read, took that for a later save and reloaded again: the
    // same ModuleNotFound was printed twice for one deletion.
    const app = chainApp();
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("e1/c1");
    await Bun.sleep(300);
    const mark = dev.output.length;
    let stop = false;
    const statuses: number[] = [];
    const client = (async () => {
      for (let i = 0; i < 300 && !stop; i++) {
        statuses.push((await get(url)).status);
        await Bun.sleep(10);
      }
    })();
    unlinkSync(app.path("c.ts"));
    await dev.waitFor(/reload failed after \d+ ms \(c\.ts\)/, 3000, mark);
    await Bun.sleep(1200); // requests go on: several looks at the module cache
    stop = true;
    await client;
    expect(statuses).toContain(500);
    expect(dev.output.slice(mark).match(/reload failed/g)?.length).toBe(1);
    app.write("c.ts", deep("c2"));
    await until(async () => (await get(url)).text === "e1/c2", 3000);
  });

  test("a renamed dependency: ModuleNotFound at its import; renaming it back, then deleting and re-creating the entry, all recover", async () => {
    const app = chainApp();
    const { dev, url } = await start(app);
    const mark = dev.output.length;
    renameSync(app.path("c.ts"), app.path("c2.ts"));
    await until(async () => (await get(url)).status === 500, 3000);
    const page = await get(url);
    expect(page.text).toContain("ModuleNotFound: Cannot find module './c.ts' imported from");
    expect(page.text).toMatch(/b\.ts:1:\d+/);
    await dev.waitFor(/reload failed[\s\S]*ModuleNotFound[\s\S]*> 1 \| import \{ c \} from "\.\/c\.ts";/, 3000, mark);
    renameSync(app.path("c2.ts"), app.path("c.ts"));
    await until(async () => (await get(url)).text === "e1/c1", 3000);
    // The entry deleted and re-created after that: seen, and later edits too.
    const source = app.read("app.ts");
    unlinkSync(app.path("app.ts"));
    await until(async () => (await get(url)).status === 500, 3000);
    await Bun.sleep(200);
    app.write("app.ts", source.replace('"e1/"', '"e2/"'));
    await until(async () => (await get(url)).text === "e2/c1", 3000);
    app.write("c.ts", deep("c3"));
    await until(async () => (await get(url)).text === "e2/c3", 3000);
  });

  test("a tsconfig.json change (a paths alias) cannot apply in place: tsgi-dev says to restart, and reports no reload", async () => {
    const tsconfig = (dir: string) => JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@p/*": [`./${dir}/*`] } } });
    const app = new TempApp({
      "tsconfig.json": tsconfig("one"),
      "one/pick.ts": `export const pick = "one";\n`,
      "two/pick.ts": `export const pick = "two";\n`,
      "app.ts": `import { pick } from "@p/pick";\n${plainApp("pick")}`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("one");
    const mark = dev.output.length;
    app.write("tsconfig.json", tsconfig("two"));
    await dev.waitFor(/tsconfig\.json changed.*restart tsgi-dev/, 3000, mark);
    expect(dev.output.slice(mark)).not.toMatch(/reloaded in/);
    // The settle check after a later reload does not say it again.
    app.write("one/pick.ts", `export const pick = "one2";\n`);
    await until(async () => (await get(url)).text === "one2", 3000);
    await Bun.sleep(400);
    expect(dev.count(/tsconfig\.json changed/)).toBe(1);
  });

  test("a package.json change (an \"imports\" subpath, #pick) cannot apply in place either: tsgi-dev says to restart; an edit of its scripts says nothing", async () => {
    // Before, package.json was not watched at all: saving a new "imports" target did nothing, silently, and the
    // old module kept serving (Bun reads package.json once per process, as it does tsconfig.json).
    const manifest = (dir: string, scripts = {}) => JSON.stringify({ name: "app", type: "module", scripts, imports: { "#pick": `./${dir}/pick.ts` } });
    const app = new TempApp({
      "package.json": manifest("one"),
      "one/pick.ts": `export const pick = "one";\n`,
      "two/pick.ts": `export const pick = "two";\n`,
      "app.ts": `import { pick } from "#pick";\n${plainApp("pick")}`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("one");
    const mark = dev.output.length;
    app.write("package.json", manifest("one", { dev: "tsgi-dev ./app.ts" }));
    await Bun.sleep(400);
    app.write("package.json", manifest("two", { dev: "tsgi-dev ./app.ts" }));
    await dev.waitFor(/package\.json changed.*\(imports, type, exports\).*restart tsgi-dev/, 3000, mark);
    expect(dev.count(/package\.json changed/)).toBe(1);
    expect(dev.output.slice(mark)).not.toMatch(/reloaded in/);
  });

  test("a package.json created after the start, where none was (npm init) or nearer to the app's modules than the one in use, gets the warning to restart and no reload, as does its deletion; one created beside no module says nothing", async () => {
    // Before: only the package.json files there at the load were watched, so these were not, and nothing was said
    // while Bun may keep resolving as before (a nearer "imports" map is not seen until a restart).
    const app = new TempApp({
      "api/lib/pick.ts": `export const pick = "one";\n`,
      "api/app.ts": `import { pick } from "./lib/pick.ts";\n${plainApp("pick")}`,
    });
    apps.push(app);
    const dev = new DevProcess(["./api/app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("one");
    let mark = dev.output.length;
    app.write("other/package.json", JSON.stringify({ name: "other" }));
    await Bun.sleep(300);
    app.write("package.json", JSON.stringify({ name: "app", type: "module" }));
    await dev.waitFor(/(^|\s)package\.json was created: Bun reads it once per process.*restart tsgi-dev/m, 5000, mark);
    mark = dev.output.length;
    app.write("api/lib/package.json", JSON.stringify({ name: "lib", imports: { "#pick": "./pick.ts" } }));
    await dev.waitFor(/api\/lib\/package\.json was created: .*restart tsgi-dev/, 5000, mark);
    await Bun.sleep(400);
    expect(dev.output).not.toMatch(/reloaded in|other\/package\.json/);
    expect(dev.count(/package\.json was created/)).toBe(2);
    // Deleted again: said so (before: "changed"), still no reload.
    mark = dev.output.length;
    unlinkSync(app.path("api/lib/package.json"));
    await dev.waitFor(/api\/lib\/package\.json was deleted: Bun reads it once per process.*restart tsgi-dev/, 5000, mark);
    expect(dev.output.slice(mark)).not.toMatch(/reloaded in|package\.json changed/);
    // The app still serves, and a save of a module reloads as before.
    app.write("api/lib/pick.ts", `export const pick = "two";\n`);
    await until(async () => (await get(url)).text === "two", 5000);
  });

  test("a package.json read as Bun reads it (a byte order mark, a trailing comma) and saved half-written then whole: an edit of its scripts says nothing; a changed \"imports\" one warning", async () => {
    // Before, a package.json JSON.parse refused (a BOM, a trailing comma: Bun takes both) or caught empty
    // mid-save counted as changed at each save: five edits of scripts gave five warnings to restart.
    const manifest = (dir: string, x: string, comma = "") => JSON.stringify({ name: "app", type: "module", scripts: { x }, imports: { "#pick": `./${dir}/pick.ts` } }).replace('"}', `"${comma}}`);
    const app = new TempApp({
      "package.json": "\uFEFF" + manifest("one", "a"),
      "one/pick.ts": `export const pick = "one";\n`,
      "two/pick.ts": `export const pick = "two";\n`,
      "app.ts": `import { pick } from "#pick";\n${plainApp("pick")}`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("one");
    const mark = dev.output.length;
    const edits = ["\uFEFF" + manifest("one", "b"), manifest("one", "c", ","), manifest("one", "d", ",,"), manifest("one", "e"), "", manifest("one", "f")];
    for (const text of edits) {
      app.write("package.json", text);
      await Bun.sleep(text === "" ? 200 : 500);
    }
    await Bun.sleep(500);
    expect(dev.output.slice(mark)).not.toMatch(/package\.json changed/);
    app.write("package.json", "");
    await Bun.sleep(200);
    app.write("package.json", manifest("two", "f"));
    await dev.waitFor(/package\.json changed.*restart tsgi-dev/, 3000, mark);
    await Bun.sleep(500);
    expect(dev.count(/package\.json changed/)).toBe(1);
    expect(dev.output.slice(mark)).not.toMatch(/reloaded in/);
  });

  test("a package.json the app imports (its version) reloads when saved, as any module", async () => {
    const app = new TempApp({
      "package.json": JSON.stringify({ name: "app", version: "1.0.0" }),
      "app.ts": `import pkg from "./package.json";\n${plainApp("pkg.version")}`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("1.0.0");
    app.write("package.json", JSON.stringify({ name: "app", version: "1.0.1" }));
    await until(async () => (await get(url)).text === "1.0.1", 3000);
    expect(dev.count(/package\.json changed/)).toBe(0);
  });

  test("a package.json the app imports (its version) that also maps \"imports\": a save reloads it, and a changed \"imports\" still gets the warning to restart", async () => {
    // Before, the imported package.json counted as a module only: the "imports" change reloaded, the old #pick
    // kept serving, and nothing said to restart (the silent case the manifest watch was added for).
    const manifest = (version: string, dir: string) => JSON.stringify({ name: "app", version, type: "module", imports: { "#pick": `./${dir}/pick.ts` } });
    const app = new TempApp({
      "package.json": manifest("1.0.0", "one"),
      "one/pick.ts": `export const pick = "one";\n`,
      "two/pick.ts": `export const pick = "two";\n`,
      "app.ts": `import { pick } from "#pick";\nimport pkg from "./package.json";\n${plainApp('pick + " " + pkg.version')}`,
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("one 1.0.0");
    const mark = dev.output.length;
    app.write("package.json", manifest("1.0.1", "one"));
    await until(async () => (await get(url)).text === "one 1.0.1", 3000);
    expect(dev.output.slice(mark)).not.toMatch(/package\.json changed/);
    app.write("package.json", manifest("1.0.2", "two"));
    await dev.waitFor(/package\.json changed.*\(imports, type, exports\).*restart tsgi-dev/, 3000, mark);
    await until(async () => (await get(url)).text === "one 1.0.2", 3000);
    expect(dev.count(/package\.json changed/)).toBe(1);
  });

  test("a package.json no module of the app is under any more is an ordinary file again: in a --watch directory a save reloads, no warning to restart", async () => {
    // Before, a package.json stayed a manifest of the app for good once found: after app.ts moved from ./a/x.ts
    // to ./b/x.ts, a save of a/package.json (--watch a) still said to restart tsgi-dev and reloaded nothing.
    const app = new TempApp({
      "a/package.json": JSON.stringify({ name: "a", type: "module" }),
      "b/package.json": JSON.stringify({ name: "b", type: "module" }),
      "a/x.ts": `export const v = "a";\n`,
      "b/x.ts": `export const v = "b";\n`,
      "app.ts": `import { v } from "./a/x.ts";\n${plainApp("v")}`,
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "a"]);
    expect((await get(url)).text).toBe("a");
    app.write("app.ts", `import { v } from "./b/x.ts";\n${plainApp("v")}`);
    await until(async () => (await get(url)).text === "b", 3000);
    const mark = dev.output.length;
    app.write("a/package.json", JSON.stringify({ name: "a", type: "module", imports: { "#z": "./x.ts" } }));
    await dev.waitFor(/reloaded in \d+ ms: a\/package\.json/, 3000, mark);
    expect(dev.output.slice(mark)).not.toMatch(/package\.json changed/);
    // b/package.json, under the module now, is the manifest.
    app.write("b/package.json", JSON.stringify({ name: "b", type: "module", imports: { "#z": "./x.ts" } }));
    await dev.waitFor(/b\/package\.json changed.*restart tsgi-dev/, 3000, mark);
  });

  test("a change to a config the tsconfig.json extends (../tsconfig.base.json) gets the same warning to restart, and no reload", async () => {
    const base = (dir: string) => `{\n  // the monorepo's aliases\n  "compilerOptions": { "baseUrl": ".", "paths": { "#p/*": ["./${dir}/*"], }, },\n}\n`;
    const app = new TempApp({
      "tsconfig.base.json": base("one"),
      "one/pick.ts": `export const pick = "one";\n`,
      "api/tsconfig.json": JSON.stringify({ extends: "../tsconfig.base.json" }),
      "api/app.ts": `import { pick } from "#p/pick";\n${plainApp("pick")}`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.path("api") });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("one");
    const mark = dev.output.length;
    app.write("tsconfig.base.json", base("two"));
    await dev.waitFor(/tsconfig\.base\.json changed.*restart tsgi-dev/, 3000, mark);
    await Bun.sleep(300);
    expect(dev.output.slice(mark)).not.toMatch(/reloaded in/);
  });

  test("a symbolic link an import goes through, repointed or removed, cannot apply in place: tsgi-dev says to restart, and reports no reload", async () => {
    // Bun resolves an import once per process: a reload in place would import the old target again.
    // Before, nothing was said: the old target kept serving as if nothing had changed.
    const app = new TempApp({
      "configs/a.ts": `export const c = "a";\n`,
      "configs/b.ts": `export const c = "b";\n`,
      "shared-one/s.ts": `export const s = "one";\n`,
      "shared-two/s.ts": `export const s = "two";\n`,
      "app/app.ts": `import { c } from "./cfg";\nimport { s } from "./shared/s.ts";\n${plainApp('c + "/" + s')}`,
    });
    apps.push(app);
    symlinkSync("../configs/a.ts", app.path("app/cfg.ts"));
    symlinkSync("../shared-one", app.path("app/shared"));
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.path("app") });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("a/one");
    const mark = dev.output.length;
    symlinkSync("../shared-two", app.path("app/shared.new"));
    renameSync(app.path("app/shared.new"), app.path("app/shared"));
    await dev.waitFor(/shared changed, a symbolic link an import goes through.*restart tsgi-dev/, 3000, mark);
    unlinkSync(app.path("app/cfg.ts"));
    // Deleted: said so (before: "changed").
    await until(() => dev.count(/cfg\.ts was deleted, a symbolic link/) === 1, 3000);
    // The target's own edits still reload.
    app.write("configs/a.ts", `export const c = "a2";\n`);
    await until(async () => (await get(url)).text === "a2/one", 3000);
    await Bun.sleep(300);
    expect(dev.count(/reloaded in/)).toBe(1);
    expect(dev.count(/symbolic link an import goes through/)).toBe(2);
  });

  test("while the app fails to load, a save without changes (touch) retries", async () => {
    const app = chainApp();
    const { dev, url } = await start(app);
    app.write("c.ts", `export function c(): string {\n  return "c" +;\n}\n`);
    await dev.waitFor(/reload failed/, 3000);
    const failures = () => dev.count(/reload failed/);
    const before = failures();
    const now = new Date();
    utimesSync(app.path("c.ts"), now, now);
    app.write("c.ts", app.read("c.ts"));
    await until(async () => failures() > before, 3000);
    expect((await get(url)).status).toBe(500);
  });

  test("steady requests on 4 keep-alive connections while the app is saved 20 times: no failures, no mixes", async () => {
    const app = new TempApp({ "app.ts": streamingApp(0) });
    apps.push(app);
    const { dev, url } = await start(app);
    const port = Number(new URL(url).port);
    let saving = true;
    const failures: string[] = [];
    const seen = new Set<number>();
    let count = 0;
    const worker = async () => {
      const client = new KeepAliveClient(port);
      let last = -1;
      try {
        for (let i = 0; i < 5000 && saving; i++) {
          let r;
          try {
            r = await client.get("/");
          } catch (e) {
            failures.push(String(e));
            return;
          }
          count++;
          const m = /^v(\d+)\|v(\d+)\|v(\d+)$/.exec(r.body);
          if (r.status !== 200 || !m || m[1] !== m[2] || m[2] !== m[3]) {
            failures.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
            continue;
          }
          const v = Number(m[1]);
          if (v < last) failures.push(`went back from v${last} to v${v}`);
          last = v;
          seen.add(v);
        }
      } finally {
        client.close();
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    for (let v = 1; v <= 20; v++) {
      await Bun.sleep(120);
      if (v % 2) app.write("app.ts", streamingApp(v));
      else app.writeAtomic("app.ts", streamingApp(v));
    }
    await until(async () => (await get(url)).text === "v20|v20|v20", 5000);
    await Bun.sleep(200);
    saving = false;
    await Promise.all(workers);
    if (process.env.DEV_TEST_VERBOSE) console.log("requests", count, "versions seen", seen.size);
    expect(failures).toEqual([]);
    expect(count).toBeGreaterThan(100);
    expect(seen.size).toBeGreaterThan(5);
    expect(seen.has(20)).toBe(true);
    expect(reloads(dev)).toBeGreaterThanOrEqual(10);
  }, 60_000);

  test("a generated module written in small pieces for longer than the debounce's max wait: never loaded half-written", async () => {
    const generated = (v: number) => {
      const lines = [`export const version = "g${v}";`, "export const items = ["];
      for (let i = 0; i < 80; i++) lines.push(`  "item-${v}-${i}",`);
      return [...lines, "];", "export const count = 80;", ""].join("\n");
    };
    const app = new TempApp({
      "app.ts": `import { version, items, count } from "./gen.ts";\n${plainApp('version + " " + items.length + "/" + count')}`,
      "gen.ts": generated(1),
    });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("g1 80/80");
    // The watcher takes a file that has not changed for its debounce (50 ms) as written: a pause that
    // long is the end of a save to it. The pauses here are 5 to 20 ms; on a loaded machine this process
    // can be descheduled for longer, and a half-written load then fails as it should. So the longest
    // pause is measured, and a failed load is an error only when every pause was shorter than that.
    const DEBOUNCE_MS = 50;
    let longestPause = 0;
    for (const v of [2, 3]) {
      // A code generator: truncate, then a few bytes every 5 to 20 ms, about 1 s in all. Any prefix is a syntax error.
      const text = generated(v);
      const fd = openSync(app.path("gen.ts"), "w");
      let last = performance.now();
      try {
        for (let pos = 0; pos < text.length; pos += 16) {
          writeSync(fd, text.slice(pos, pos + 16));
          const now = performance.now();
          longestPause = Math.max(longestPause, now - last);
          last = now;
          await Bun.sleep(5 + Math.floor(Math.random() * 16));
        }
      } finally {
        closeSync(fd);
      }
      await until(async () => (await get(url)).text === `g${v} 80/80`, 3000);
    }
    await Bun.sleep(300);
    if (longestPause < DEBOUNCE_MS) expect(dev.count(/reload failed/)).toBe(0);
    else console.warn(`a write came ${Math.round(longestPause)} ms after the previous one (this process was descheduled): not the case under test, failed loads not counted`);
    expect(reloads(dev)).toBe(2);
  }, 20_000);

  test("one save, one reload; a chmod or a save without changes, no reload", async () => {
    const app = chainApp();
    const { dev, url } = await start(app);
    for (let i = 1; i <= 4; i++) {
      if (i % 2) app.write("c.ts", deep(`x${i}`));
      else app.writeAtomic("c.ts", deep(`x${i}`));
      await until(async () => (await get(url)).text === `e1/x${i}`, 3000);
      await until(() => reloads(dev) >= i, 3000); // its line may come after the response (another channel)
      await Bun.sleep(400); // let any late event of this save arrive
      expect(reloads(dev)).toBe(i);
    }
    chmodSync(app.path("c.ts"), 0o600);
    app.write("c.ts", app.read("c.ts"));
    await Bun.sleep(600);
    expect(reloads(dev)).toBe(4);
  }, 20_000);

  test("files the app writes under ignored paths cause no reload", async () => {
    const app = new TempApp({
      "app.ts": `import { appendFileSync, mkdirSync } from "node:fs";
const enc = new TextEncoder();
export default (environ: any, startResponse: any) => {
  mkdirSync("logs", { recursive: true });
  mkdirSync(".cache", { recursive: true });
  mkdirSync("uploads/a", { recursive: true });
  appendFileSync("logs/app.log", "request\\n");
  appendFileSync(".cache/state.json", "{}\\n");
  appendFileSync("uploads/a/file.bin", "x");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("ok")];
};
`,
      "templates/page.html": "<p>one</p>",
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", ".", "--ignore", "logs/**", "--ignore", "uploads"]);
    for (let i = 0; i < 10; i++) expect((await get(url)).text).toBe("ok");
    await Bun.sleep(800);
    // The output, not a count, so a failure shows what reloaded (a template at startup was chokidar reading . twice).
    expect(dev.output).not.toMatch(/reloaded in/);
    // A watched, not ignored path does reload.
    app.write("templates/page.html", "<p>two</p>");
    await dev.waitFor(/reloaded in \d+ ms: templates\/page\.html/, 3000);
  }, 20_000);

  test("an SQLite database the app imports (./x.sqlite, with { type: \"sqlite\" }) is data, not code: writes to it reload and restart nothing; a code edit still does and sees the rows", async () => {
    // Before, the database was in the module graph: each write that reached the file (every commit in
    // SQLite's default rollback-journal mode) reloaded the app in place, or restarted its process.
    const files = {
      "app.ts": `import db from "./data.db" with { type: "sqlite" };
import cache from "./cache.sqlite";
import { label } from "./label.ts";
export default (environ: any, startResponse: any) => {
  if (environ.PATH_INFO === "/write") {
    db.run("INSERT INTO hits DEFAULT VALUES");
    cache.run("INSERT INTO hits DEFAULT VALUES");
  }
  const n = (db.query("SELECT count(*) AS n FROM hits").get() as any).n;
  const m = (cache.query("SELECT count(*) AS n FROM hits").get() as any).n;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(label + " " + n + "/" + m)];
};
`,
      "label.ts": `export const label = "v1";\n`,
    };
    const inPlace = new TempApp(files);
    const restart = new TempApp(files);
    apps.push(inPlace, restart);
    for (const app of [inPlace, restart]) {
      for (const name of ["data.db", "cache.sqlite"]) {
        const db = new Database(app.path(name), { create: true });
        db.run("CREATE TABLE hits (id INTEGER PRIMARY KEY)");
        db.close();
      }
    }
    const [a, b] = await Promise.all([start(inPlace), start(restart, ["--reload=restart"])]);
    for (const { url } of [a, b]) {
      expect((await get(url)).text).toBe("v1 0/0");
      for (let i = 1; i <= 5; i++) {
        expect((await get(url + "write")).text).toBe(`v1 ${i}/${i}`);
        await Bun.sleep(120); // past the watcher's debounce: each write its own event
      }
    }
    await Bun.sleep(600);
    expect(`${a.dev.output}\n--- --reload=restart:\n${b.dev.output}`).not.toMatch(/(?:reloaded|restarted) in|(?:reload|restart) failed/);
    inPlace.write("label.ts", `export const label = "v2";\n`);
    restart.write("label.ts", `export const label = "v2";\n`);
    await until(async () => (await get(a.url)).text === "v2 5/5", 3000);
    await until(async () => (await get(b.url)).text === "v2 5/5", 10_000);
    expect((await get(a.url + "write")).text).toBe("v2 6/6");
    expect((await get(b.url + "write")).text).toBe("v2 6/6");
    await Bun.sleep(600);
    expect(reloads(a.dev)).toBe(1);
    expect(b.dev.count(/restarted in \d+ ms/)).toBe(1);
  }, 30_000);

  test("an SQLite database the app writes in a --watch directory (--watch .), its -wal, -shm and -journal files too, causes no reload; a template there does", async () => {
    // Before, each request that wrote (a WAL database's -wal and -shm, a rollback-journal database
    // itself and its -journal) reloaded the app, and the browser page with it.
    const app = new TempApp({
      "app.ts": `import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
const wal = new Database("data/app.db", { create: true });
wal.exec("PRAGMA journal_mode = WAL");
wal.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY)");
const rollback = new Database("sessions.sqlite3", { create: true });
rollback.exec("CREATE TABLE IF NOT EXISTS s (id INTEGER PRIMARY KEY)");
export default (environ: any, startResponse: any) => {
  wal.run("INSERT INTO hits DEFAULT VALUES");
  rollback.run("INSERT INTO s DEFAULT VALUES");
  if (environ.PATH_INFO === "/checkpoint") wal.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const n = (wal.query("SELECT count(*) AS n FROM hits").get() as any).n;
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(readFileSync("views/page.html", "utf8") + " " + n)];
};
`,
      "views/page.html": "one",
      "data/.keep": "",
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "."]);
    for (let i = 1; i <= 6; i++) {
      expect((await get(url + (i % 3 === 0 ? "checkpoint" : ""))).text).toBe(`one ${i}`);
      await Bun.sleep(120); // past the watcher's debounce: each write its own event
    }
    await Bun.sleep(600);
    expect(dev.output).not.toMatch(/reloaded in|reload failed/);
    app.write("views/page.html", "two");
    await dev.waitFor(/reloaded in \d+ ms: views\/page\.html/, 3000);
    expect((await get(url)).text).toBe("two 7");
    await Bun.sleep(400);
    expect(reloads(dev)).toBe(1);
  }, 20_000);

  for (const mode of ["in place", "restart"] as const) {
    test(`${mode}: a symbolic link to /dev/null in a --watch directory (a log sent nowhere, a masked unit) reloads nothing when something writes to /dev/null (before: a reload for the links, and with --watch /usr, whose systemd units link there, reloads taking turns without end); a save beside it does`, async () => {
      const app = new TempApp(templateApp());
      apps.push(app);
      symlinkSync("/dev/null", app.path("views/debug.log"));
      symlinkSync("/dev/null", app.path("views/trace.log"));
      const { dev, url } = await start(app, ["--watch", "views", ...(mode === "restart" ? ["--reload=restart"] : [])]);
      expect((await get(url)).text).toBe("one");
      // Writes to /dev/null, through the link and not: inotify says each modified the link's target.
      for (let i = 0; i < 6; i++) {
        appendFileSync(app.path("views/debug.log"), `line ${i}\n`);
        appendFileSync("/dev/null", `line ${i}\n`);
        await Bun.sleep(150); // past the watcher's debounce: each write its own event
      }
      await Bun.sleep(400);
      expect(dev.output).not.toMatch(/reloaded in|restarted in|reload failed|restart failed/);
      app.write("views/page.html", "two");
      await dev.waitFor(/(reloaded|restarted) in \d+ ms: views\/page\.html/, 5000);
      expect((await get(url)).text).toBe("two");
      await Bun.sleep(400);
      expect(dev.count(/(reloaded|restarted) in \d+ ms/)).toBe(1);
    }, 20_000);
  }

  for (const mode of ["in place", "restart", "--poll"] as const) {
    test(`${mode}: Emacs's auto-save file (#page.html#) and lock (.#page.html), Vim's swap file, in a --watch directory reload nothing while you type; the save does`, async () => {
      // Before, each auto-save (every 300 keystrokes or 30 s idle, before any save) reloaded the app and
      // the browser page: "reloaded in 3 ms: views/#page.html#".
      const app = new TempApp(templateApp());
      apps.push(app);
      const { dev, url } = await start(app, ["--watch", "views", ...(mode === "restart" ? ["--reload=restart"] : mode === "--poll" ? ["--poll"] : [])]);
      expect((await get(url)).text).toBe("one");
      symlinkSync("user@host.4242:1765000000", app.path("views/.#page.html"));
      for (let i = 1; i <= 3; i++) {
        app.write("views/#page.html#", "tw".repeat(i)); // what Emacs auto-saves: the unsaved buffer
        app.write("views/.page.html.swp", "b0VIM 9.1" + "x".repeat(i)); // Vim's swap file, as you type
        await Bun.sleep(250); // past the watcher's debounce: each write its own event
      }
      await Bun.sleep(400);
      expect(dev.output).not.toMatch(/reloaded in|restarted in|reload failed|restart failed/);
      // The save: Emacs writes the file, then deletes the auto-save file and its lock.
      app.write("views/page.html", "two");
      unlinkSync(app.path("views/#page.html#"));
      unlinkSync(app.path("views/.#page.html"));
      unlinkSync(app.path("views/.page.html.swp"));
      await dev.waitFor(/(reloaded|restarted) in \d+ ms: views\/page\.html/, 5000);
      expect((await get(url)).text).toBe("two");
      await Bun.sleep(600);
      expect(dev.count(/(reloaded|restarted) in \d+ ms/)).toBe(1);
    }, 20_000);
  }

  for (const mode of ["in place", "restart", "--poll"] as const) {
    test(`${mode}: a save by gedit (.goutputstream-XXXXXX renamed over) or Vim (its 4913 probe, the file renamed to page.html~) in a --watch directory is one reload naming the saved file`, async () => {
      // Before, in restart mode: "restarted in 433 ms: views/.goutputstream-JUYCXM, views/page.html" and
      // "views/4913, views/page.html", or a second restart for the temp file when its rename came late.
      const app = new TempApp(templateApp());
      apps.push(app);
      const { dev, url } = await start(app, ["--watch", "views", ...(mode === "restart" ? ["--reload=restart"] : mode === "--poll" ? ["--poll"] : [])]);
      expect((await get(url)).text).toBe("one");
      const saves: Array<[string, () => void]> = [
        ["gedit", () => {
          // g_file_replace(): the new content in .goutputstream-XXXXXX beside the file, renamed over it.
          app.write("views/.goutputstream-Q1W2E3", "two");
          renameSync(app.path("views/.goutputstream-Q1W2E3"), app.path("views/page.html"));
        }],
        ["vim", () => {
          // Vim (backupcopy=no, writebackup): the probe 4913 made and deleted, the file renamed to its backup,
          // the new file written, the backup deleted.
          closeSync(openSync(app.path("views/4913"), "wx"));
          unlinkSync(app.path("views/4913"));
          renameSync(app.path("views/page.html"), app.path("views/page.html~"));
          app.write("views/page.html", "three");
          unlinkSync(app.path("views/page.html~"));
        }],
        ["gedit, slowly", () => {
          // A large file: the temp file is written for a while before its rename.
          app.write("views/.goutputstream-ZX9C8V", "fo");
          Bun.sleepSync(300);
          app.write("views/.goutputstream-ZX9C8V", "four");
          renameSync(app.path("views/.goutputstream-ZX9C8V"), app.path("views/page.html"));
        }],
      ];
      const done = /(reloaded|restarted) in \d+ ms: (.*)/g;
      for (const [i, [editor, save]] of saves.entries()) {
        const mark = dev.output.length;
        save();
        await dev.waitFor(/(reloaded|restarted) in \d+ ms/, 8000, mark);
        await until(async () => (await get(url)).text === ["two", "three", "four"][i], 8000);
        await Bun.sleep(800);
        const lines = [...dev.output.slice(mark).matchAll(done)].map((m) => m[2]);
        expect(lines, editor).toEqual(["views/page.html"]);
      }
    }, 40_000);
  }

  for (const mode of ["in place", "restart", "--poll"] as const) {
    test(`${mode}: a module in a directory whose name ends in ~ (lib~/) reloads when saved`, async () => {
      // Before, chokidar's "atomic" mode (on also when polling) left out every path ending in ~ before
      // tsgi's own rules were asked: the save of lib~/msg.ts reloaded nothing, in every mode.
      const app = new TempApp({
        "app.ts": `import { msg } from "./lib~/msg.ts";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(msg)];
};
`,
        "lib~/msg.ts": `export const msg = "one";\n`,
      });
      apps.push(app);
      const { dev, url } = await start(app, mode === "restart" ? ["--reload=restart"] : mode === "--poll" ? ["--poll"] : []);
      expect((await get(url)).text).toBe("one");
      // Past the watcher's own check of files that just joined (2 s): the save is chokidar's to see.
      await Bun.sleep(2500);
      app.write("lib~/msg.ts", `export const msg = "two";\n`);
      await dev.waitFor(/(reloaded|restarted) in \d+ ms: lib~\/msg\.ts/, 5000);
      expect((await get(url)).text).toBe("two");
    }, 20_000);
  }

  for (const mode of ["in place", "restart", "--poll"] as const) {
    test(`${mode}: a directory (views/5036/) or a data file (views/4913) named like Vim's write probe in a --watch directory reloads when saved`, async () => {
      // Before, the probe's names (4913 + 123 n) were left out whatever they were: a directory views/5036/
      // with everything in it (a save there reloaded nothing), and a data file views/4913 with bytes in it.
      const app = new TempApp({
        "app.ts": `import { readFileSync } from "node:fs";
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(readFileSync("views/5036/page.html", "utf8") + " " + readFileSync("views/4913", "utf8"))];
};
`,
        "views/5036/page.html": "one",
        "views/4913": "a",
      });
      apps.push(app);
      const { dev, url } = await start(app, ["--watch", "views", ...(mode === "restart" ? ["--reload=restart"] : mode === "--poll" ? ["--poll"] : [])]);
      expect((await get(url)).text).toBe("one a");
      let mark = dev.output.length;
      app.write("views/5036/page.html", "two");
      await dev.waitFor(/(reloaded|restarted) in \d+ ms: views\/5036\/page\.html/, 5000, mark);
      await until(async () => (await get(url)).text === "two a", 5000);
      mark = dev.output.length;
      app.write("views/4913", "b");
      await dev.waitFor(/(reloaded|restarted) in \d+ ms: views\/4913/, 5000, mark);
      await until(async () => (await get(url)).text === "two b", 5000);
    }, 30_000);
  }

  test("a named pipe (mkfifo) created in a --watch directory leaves tsgi-dev answering, and a template save there still reloads", async () => {
    // Before, the watcher's look for an SQLite header opened the FIFO for reading, which blocks until
    // a writer opens it: the whole process hung (no request answered, SIGTERM not handled).
    const app = new TempApp(templateApp());
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "."]);
    expect((await get(url)).text).toBe("one");
    expect(Bun.spawnSync(["mkfifo", app.path("views/events.pipe")]).exitCode).toBe(0);
    await Bun.sleep(400); // the watcher's event for it, past the debounce
    expect((await get(url, {}, 2000)).text).toBe("one");
    app.write("views/page.html", "two");
    await dev.waitFor(/reloaded in \d+ ms: views\/page\.html/, 3000);
    expect((await get(url, {}, 2000)).text).toBe("two");
  }, 15_000);

  for (const mode of ["in place", "restart"] as const) {
    test(`a 128 MB file in a --watch directory that keeps changing (a log the app appends to, a data set) is not read whole at each change: requests stay quick and each change reloads once; a 5 MB module of the app reloads only when saved (${mode})`, async () => {
      // Before, each change event read and hashed the whole file three or four times on the event loop
      // (to compare its content with what was loaded): a 300 MB file held every request for up to a
      // second per change, and with --reload=restart the slow restarts were superseded by the next
      // change, so 10 appends 400 ms apart restarted the app twice.
      const app = new TempApp({
        "app.ts": bigFileApp(`const tail = "t0";`),
        "public/page.html": "one",
      });
      apps.push(app);
      const big = app.path("public/video.bin");
      const fd = openSync(big, "w");
      const chunk = Buffer.alloc(8 << 20, "v");
      for (let i = 0; i < 16; i++) writeSync(fd, chunk);
      closeSync(fd);
      try {
        const { dev, url } = await start(app, ["--watch", "public", ...(mode === "restart" ? ["--reload=restart"] : [])]);
        const done = mode === "restart" ? /restarted in \d+ ms/ : /reloaded in \d+ ms/;
        expect((await get(url)).text).toBe("one/t0");
        await Bun.sleep(300); // the settle check after the start: nothing to reload
        // Bytes the dev process (in restart mode: the supervisor) has read, files and sockets.
        const rchar = () => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${dev.pid}/io`, "latin1"))![1]);
        const readBefore = rchar();
        let worst = 0;
        let requests = 0;
        let appending = true;
        const client = (async () => {
          while (appending && requests < 400) {
            const t = performance.now();
            expect((await get(url, {}, 5000)).text).toBe("one/t0");
            worst = Math.max(worst, performance.now() - t);
            requests++;
            await Bun.sleep(20);
          }
        })();
        for (let i = 1; i <= 5; i++) {
          appendFileSync(big, `log line ${i}\n`);
          await dev.waitFor(new RegExp(`(?:${done.source}: public/video\\.bin[^]*){${i}}`), 5000);
          await Bun.sleep(250); // past the reload's settle check
        }
        appending = false;
        await client;
        const read = rchar() - readBefore;
        expect(dev.count(done)).toBe(5);
        expect(read).toBeLessThan(32 << 20); // before: 128 MB three times or more per change
        expect(requests).toBeGreaterThan(20);
        expect(worst).toBeLessThan(400);
        // A module of the app over 4 MiB: what the loader read is what is on disk (no reload for it); a save of it reloads.
        app.write("data.ts", `export const rows = ${JSON.stringify("r".repeat(5 << 20))};\nexport const tail = "t1";\n`);
        app.write("app.ts", bigFileApp(`import { tail } from "./data.ts";`));
        await until(async () => (await get(url)).text === "one/t1", 5000);
        await Bun.sleep(600);
        expect(dev.count(done)).toBe(6);
        app.write("data.ts", app.read("data.ts").replace('"t1"', '"t2"'));
        await until(async () => (await get(url)).text === "one/t2", 5000);
        await Bun.sleep(600);
        expect(dev.count(done)).toBe(7);
        app.write("public/page.html", "two");
        await until(async () => (await get(url)).text === "two/t2", 5000);
      } finally {
        unlinkSync(big);
      }
    }, 40_000);
  }

  for (const mode of ["in place", "restart"] as const) {
    test(`tsgi-dev's output redirected to a file in its --watch directory (> dev.log 2>&1) reloads nothing by itself; a template save reloads once (${mode})`, async () => {
      // Before, each line tsgi-dev wrote there (the access log's, then each 'reloaded' line) was a change
      // in the watched directory: it reloaded, which wrote a line, which reloaded... about 20 times a second.
      const app = new TempApp(templateApp());
      apps.push(app);
      const fd = openSync(app.path("dev.log"), "a");
      const args = ["./app.ts", "--port", "0", "--watch", ".", ...(mode === "restart" ? ["--reload=restart"] : [])];
      const proc = Bun.spawn({ cmd: [process.execPath, CLI, ...args], cwd: app.dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", fd, fd] });
      closeSync(fd);
      try {
        // The port tsgi-dev bound (--port 0), from its line in the log.
        const url = await until(() => /serving \S+ at (http:\/\/\S+\/)/.exec(app.read("dev.log"))?.[1], 15_000);
        const done = /reloaded in \d+ ms|restarted in \d+ ms/g;
        for (let i = 0; i < 3; i++) {
          expect((await get(url)).text).toBe("one"); // an access-log line each
          await Bun.sleep(150);
        }
        await Bun.sleep(1200);
        expect(app.read("dev.log").match(done) ?? []).toEqual([]);
        app.write("views/page.html", "two");
        await until(async () => (await get(url)).text === "two", 5000);
        await Bun.sleep(1200);
        expect((app.read("dev.log").match(done) ?? []).length).toBe(1);
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }, 30_000);
  }

  test("a module the app rewrites as it loads, under --ignore, reloads nothing: not at startup, not shortly after a reload", async () => {
    // Before, tsgi-dev compared such a file with what the load read at startup, and shortly after each
    // reload, and reloaded for it: the load rewrote it again, so it reloaded without end.
    const app = new TempApp(savedWhileImported.stamping());
    apps.push(app);
    const { dev, url } = await start(app, ["--ignore", "gen"]);
    expect((await get(url)).text).toBe("v1");
    await Bun.sleep(800);
    expect(dev.output).not.toMatch(/reloaded in/);
    app.write("app.ts", savedWhileImported.stamping("v2")["app.ts"]!);
    await until(async () => (await get(url)).text === "v2", 3000);
    await Bun.sleep(800);
    expect(reloads(dev)).toBe(1);
  }, 15_000);

  test("a module the app rewrites as it loads, not ignored, reloads a few times, then its writes reload nothing, with a warning naming it and --ignore; other saves still reload", async () => {
    // Before, each load rewrote gen/stamp.ts, which reloaded the app, which rewrote it...: about 20
    // reloads a second, without end, until the user found the cause and restarted with --ignore.
    const app = new TempApp(savedWhileImported.stamping());
    apps.push(app);
    const { dev, url } = await start(app);
    await dev.waitFor(/gen\/stamp\.ts changed while the app loaded, \d+ loads in a row[^]*no longer reloads for what the app writes to it[^]*--ignore gen\/stamp\.ts/, 8000);
    const settled = reloads(dev);
    expect(settled).toBeLessThanOrEqual(5);
    await Bun.sleep(1500);
    expect(reloads(dev)).toBe(settled);
    expect((await get(url)).text).toBe("v1");
    // A save of the app's own code reloads (and the load's new stamp does not start the loop again).
    app.write("app.ts", savedWhileImported.stamping("v2")["app.ts"]!);
    await until(async () => (await get(url)).text === "v2", 3000);
    await Bun.sleep(1500);
    expect(reloads(dev)).toBe(settled + 1);
    expect(dev.count(/no longer reloads for/)).toBe(1);
    expect(dev.output).not.toContain("reloading for it again");
    // A hand edit of the file itself (between loads) reloads it (before: ignored for the rest of the
    // session); the loads' writes that follow are a loop again, stopped again.
    const mark = dev.output.length;
    app.write("gen/stamp.ts", "export const stamp = 1000;\n");
    await dev.waitFor(/gen\/stamp\.ts changed between loads[^\n]*reloading for it again/, 3000, mark);
    await dev.waitFor(/gen\/stamp\.ts changed while the app loaded/, 8000, mark);
    const again = reloads(dev);
    await Bun.sleep(1500);
    expect(reloads(dev)).toBe(again);
  }, 30_000);

  test("an app that writes one of two modules at each load, taking turns, is a loop too: stopped within a few reloads with the warning; a save of the app still reloads", async () => {
    // Before, the guard counted loads in a row only for the file they had in common: loads writing gen/a.ts,
    // then gen/b.ts, then gen/a.ts... ended the count at each reload, so the app reloaded without end
    // (216 reloads in 12 s, no warning).
    const app = new TempApp(savedWhileImported.alternating());
    apps.push(app);
    const { dev, url } = await start(app);
    const count = () => ["a", "b"].map((f) => Number(/= (\d+)/.exec(app.read(`gen/${f}.ts`))?.[1])).reduce((x, y) => x + y);
    await dev.waitFor(/gen\/[ab]\.ts changed while the app loaded, \d+ loads in a row[^]*no longer reloads for what the app writes to it/, 8000);
    const settled = count();
    expect(settled).toBeLessThanOrEqual(7);
    await Bun.sleep(1500);
    expect(count()).toBe(settled);
    expect((await get(url)).text).toBe("v1");
    app.write("app.ts", savedWhileImported.alternating("v2")["app.ts"]!);
    await until(async () => (await get(url)).text === "v2", 5000);
    await Bun.sleep(1500);
    expect(count()).toBeLessThanOrEqual(settled + 2);
  }, 30_000);

  test("a user saving the app faster than it loads (autosave, a coding agent's edits) is no reload loop: no warning, and the last save is what serves", async () => {
    // Each save lands while the previous one's load (600 ms of setup at import) runs, as an app's own write
    // of a file it imports would. Before, 5 such loads in a row were taken for a loop: a warning, and the
    // content on disk then (a save) passed over as the app's own write, so a last save landing in such a
    // load was never served (v7 kept serving with v8 on disk).
    const source = (word: string) =>
      `await Bun.sleep(600);\nconst timer = setInterval(() => {}, 60_000);\nimport.meta.hot.dispose(() => clearInterval(timer));\n` + plainApp(`"${word}"`);
    const app = new TempApp({ "app.ts": source("v0") });
    apps.push(app);
    const { dev, url } = await start(app);
    for (const [prefix, every] of [["v", 400], ["w", 300]] as const) {
      for (let n = 1; n <= 8; n++) {
        app.write("app.ts", source(`${prefix}${n}`));
        await Bun.sleep(every);
      }
      await until(async () => (await get(url)).text === `${prefix}8`, 10_000);
      await Bun.sleep(1500);
      expect((await get(url)).text).toBe(`${prefix}8`);
    }
    expect(dev.output).not.toMatch(/changed while the app loaded|reload loop/);
  }, 60_000);

  test("a .env file created after startup is seen, and so are its later edits and its deletion", async () => {
    const app = new TempApp({ "app.ts": plainApp("String(process.env.GREETING)") });
    apps.push(app);
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("undefined");
    app.write(".env", "GREETING=hello\n");
    await until(async () => (await get(url)).text === "hello", 3000);
    app.write(".env", "GREETING=again\n");
    await until(async () => (await get(url)).text === "again", 3000);
    unlinkSync(app.path(".env"));
    await until(async () => (await get(url)).text === "undefined", 3000);
    expect(dev.proc.exitCode).toBeNull();
  });

  test("--watch with a glob, and .env re-read on reload", async () => {
    const app = new TempApp({
      ".env": "GREETING=hello\n",
      "app.ts": `const enc = new TextEncoder();
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode(String(process.env.GREETING))];
};
`,
      "views/a.html": "a",
      "views/b.txt": "b",
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "views/**/*.html"]);
    expect((await get(url)).text).toBe("hello");
    app.write(".env", "GREETING=bonjour\n");
    await until(async () => (await get(url)).text === "bonjour", 3000);
    const before = reloads(dev);
    app.write("views/b.txt", "b2");
    await Bun.sleep(500);
    expect(reloads(dev)).toBe(before);
    app.write("views/a.html", "a2");
    await dev.waitFor(/reloaded in \d+ ms: views\/a\.html/, 3000);
  }, 20_000);

  test("--watch and --ignore entries written as ./x or ../x are taken from where tsgi-dev runs, and the default ignores apply under a --watch outside it", async () => {
    // A monorepo's app run from its own directory, watching a sibling package. Before, a glob starting
    // with ./ or ../ never matched (Bun.Glob took them literally against the path from the working
    // directory, which a path outside it does not even have), an --ignore with ../ did nothing, and
    // under ../lib node_modules and dist were watched: all of it silently.
    const app = new TempApp({
      "api/app.ts": plainApp('"ok"'),
      "api/views/a.html": "a",
      "api/views/b.txt": "b",
      "lib/templates/t.html": "t",
      "lib/templates/skip/s.html": "s",
      "lib/pages/p.html": "p",
      "lib/node_modules/dep/index.js": "1",
      "lib/dist/out.js": "1",
    });
    apps.push(app);
    const args = ["./app.ts", "--port", "0", "--no-access-log"];
    const watch = ["--watch", "./views/**/*.html", "--watch", "../lib/templates", "--watch", "../lib/pages/*.html", "--ignore", "../lib/templates/skip", "--ignore", "../lib/**/*.tmp"];
    const dev = new DevProcess([...args, ...watch, "--watch", "../lib"], { cwd: app.path("api") });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("ok");
    app.write("api/views/a.html", "a2");
    await dev.waitFor(/reloaded in \d+ ms: views\/a\.html/, 3000);
    app.write("lib/templates/t.html", "t2");
    await until(() => dev.count(/reloaded in \d+ ms: \S*lib\/templates\/t\.html/) === 1, 3000);
    app.write("lib/pages/p.html", "p2");
    await until(() => dev.count(/reloaded in \d+ ms: \S*lib\/pages\/p\.html/) === 1, 3000);
    const before = reloads(dev);
    app.write("api/views/b.txt", "b2");
    app.write("lib/templates/skip/s.html", "s2");
    app.write("lib/templates/x.tmp", "tmp");
    app.write("lib/node_modules/dep/index.js", "2");
    app.write("lib/dist/out.js", "2");
    await Bun.sleep(600);
    expect(dev.output.split("\n").filter((l) => /reloaded in/.test(l)).slice(before)).toEqual([]);
  }, 20_000);

  test("a --watch path that is itself in a default-ignored directory (dist, a package in node_modules) is watched; the default ignores apply below it", async () => {
    // A bundler writing its output to dist/, a linked package under node_modules. Before, --watch dist,
    // --watch 'build/**/*.js' and --watch node_modules/@acme/ui never reloaded, without a word (the
    // default ignores were matched against the path from the working directory, so what the user named
    // was one of them), though --watch ../lib/dist did.
    const app = new TempApp({
      "app.ts": plainApp('"ok"'),
      "dist/app.css": "a",
      "build/js/app.js": "1",
      "node_modules/@acme/ui/index.js": "1",
      "node_modules/@acme/ui/node_modules/dep/index.js": "1",
      "dist/.cache/x": "1",
    });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "dist", "--watch", "build/**/*.js", "--watch", "node_modules/@acme/ui"]);
    expect((await get(url)).text).toBe("ok");
    app.write("dist/app.css", "b");
    await dev.waitFor(/reloaded in \d+ ms: dist\/app\.css/, 3000);
    app.write("build/js/app.js", "2");
    await dev.waitFor(/reloaded in \d+ ms: build\/js\/app\.js/, 3000);
    app.write("node_modules/@acme/ui/index.js", "2");
    await dev.waitFor(/reloaded in \d+ ms: node_modules\/@acme\/ui\/index\.js/, 3000);
    const before = reloads(dev);
    app.write("node_modules/@acme/ui/node_modules/dep/index.js", "2");
    app.write("dist/.cache/x", "2");
    await Bun.sleep(600);
    expect(dev.output.split("\n").filter((l) => /reloaded in/.test(l)).slice(before)).toEqual([]);
  }, 20_000);

  test("a directory given to --watch both as a path and as a glob's base is watched whole: the glob narrows nothing", async () => {
    // Before, --watch views --watch 'views/**/*.html' (or --watch . --watch '*.md', say from a script
    // that adds one) reported only what the glob matched under it: views/a.txt never reloaded.
    const app = new TempApp({ "app.ts": plainApp('"ok"'), "views/a.txt": "a", "views/b.html": "b", "notes.txt": "n", "README.md": "r" });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "views", "--watch", "views/**/*.html", "--watch", ".", "--watch", "*.md"]);
    expect((await get(url)).text).toBe("ok");
    app.write("views/a.txt", "a2");
    await dev.waitFor(/reloaded in \d+ ms: views\/a\.txt/, 3000);
    app.write("notes.txt", "n2");
    await dev.waitFor(/reloaded in \d+ ms: notes\.txt/, 3000);
    app.write("views/b.html", "b2");
    await dev.waitFor(/reloaded in \d+ ms: views\/b\.html/, 3000);
  }, 20_000);

  test("--watch of paths that do not exist yet: a warning at start, and seen once created, nested too", async () => {
    const app = new TempApp({ "app.ts": plainApp('"ok"'), "views/a.html": "a" });
    apps.push(app);
    const { dev, url } = await start(app, ["--watch", "gen/out/html", "--watch", "late.txt", "--watch", "views/*.html", "--watch", "parts/**/*.html"]);
    expect((await get(url)).text).toBe("ok");
    const warnings = dev.output.split("\n").filter((l) => l.includes("matches nothing yet"));
    expect(warnings.map((l) => /--watch (\S+) /.exec(l)?.[1])).toEqual(["gen/out/html", "late.txt", "parts/**/*.html"]);
    expect(warnings[0]).toMatch(/--watch gen\/out\/html matches nothing yet: it is watched, and seen once created/);
    // Created later, two directories deep: seen; the other entries of the new directories are not watched.
    app.write("gen/out/html/page.html", "<p>1</p>");
    await dev.waitFor(/reloaded in \d+ ms: gen\/out\/html\/page\.html/, 3000);
    app.write("gen/out/html/page.html", "<p>2</p>");
    await until(() => dev.count(/reloaded in \d+ ms: gen\/out\/html\/page\.html/) === 2, 3000);
    app.write("late.txt", "x");
    await dev.waitFor(/reloaded in \d+ ms: late\.txt/, 3000);
    app.write("parts/x/y/card.html", "c");
    await dev.waitFor(/reloaded in \d+ ms: parts\/x\/y\/card\.html/, 3000);
    const before = reloads(dev);
    app.write("gen/out/other.txt", "not watched");
    app.write("gen/side/file.html", "not watched");
    app.write("parts/x/y/card.txt", "not matched");
    await Bun.sleep(500);
    expect(reloads(dev)).toBe(before);
  }, 20_000);

  test("--no-reload: changes are not picked up", async () => {
    const app = chainApp();
    const { dev, url } = await start(app, ["--no-reload"]);
    app.write("c.ts", deep("c2"));
    await Bun.sleep(500);
    expect((await get(url)).text).toBe("e1/c1");
    expect(reloads(dev)).toBe(0);
  });

  test("--poll follows changes too", async () => {
    const app = chainApp();
    const { url } = await start(app, ["--poll"]);
    app.write("c.ts", deep("p2"));
    await until(async () => (await get(url)).text === "e1/p2", 5000);
  });

  test("memory after 100 reloads stays within a bound", async () => {
    const app = new TempApp({ "app.ts": heavyApp(0) });
    apps.push(app);
    const { dev, url } = await start(app);
    let baseline = 0;
    for (let v = 1; v <= 100; v++) {
      app.write("app.ts", heavyApp(v));
      await until(async () => (await get(url)).text === `heavy ${v}`, 5000, 10);
      if (v === 10) baseline = dev.rss();
    }
    await Bun.sleep(300);
    await get(url);
    const after = dev.rss();
    if (process.env.DEV_TEST_VERBOSE) console.log("rss baseline", baseline >> 20, "MB, after 100 reloads", after >> 20, "MB");
    // Each version holds ~4 MB of module state; a leak of every version would be ~360 MB.
    expect(after - baseline).toBeLessThan(80 * 1024 * 1024);
    expect(reloads(dev)).toBe(100);
    // Its old versions are garbage: no warning that they pile up.
    expect(dev.count(/the heap grew/)).toBe(0);
  }, 90_000);

  test("an app that keeps its old versions alive (a global cache filled at import) gets a warning that says why", async () => {
    // Each version puts ~16 MB on globalThis: 12 saves are ~190 MB the process can never free.
    const leaky = (v: number) => `(globalThis as any).__keep ??= [];
(globalThis as any).__keep.push(new Array(2_000_000).fill(${v}));
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("leaky ${v}")];
};
`;
    const app = new TempApp({ "app.ts": leaky(0) });
    apps.push(app);
    const { dev, url } = await start(app);
    for (let v = 1; v <= 12; v++) {
      app.write("app.ts", leaky(v));
      await until(async () => (await get(url)).text === `leaky ${v}`, 5000, 10);
    }
    const m = await dev.waitFor(/the heap grew from (\d+) MB to (\d+) MB over (\d+) reloads in place[^\n]*/, 3000);
    expect(Number(m[2]) - Number(m[1])).toBeGreaterThanOrEqual(128);
    expect(m[0]).toContain("globalThis flag, or use --reload=restart");
    // Once per doubling of the growth, not on every save.
    expect(dev.count(/the heap grew/)).toBe(1);
  }, 60_000);

  test("a file of the app gone for a moment while a reload loads it (a branch checkout under way): requests wait and get the app, not a page saying it is missing; a file deleted for good still gets that page", async () => {
    // The load waits for the test to delete lib/b.ts (only while ./hold exists), so that its import finds it gone, as a
    // load running into the next branch checkout would (one each 0.35 s under load once served "no such file" for ~60 ms).
    const app = new TempApp({
      "app.ts": `import { existsSync } from "node:fs";
import { v } from "./lib/v.ts";
if (existsSync(import.meta.dir + "/hold")) {
  console.log("load: waiting for lib/b.ts to go");
  for (let i = 0; i < 300 && existsSync(import.meta.dir + "/lib/b.ts"); i++) await Bun.sleep(10);
}
const { b } = await import("./lib/b.ts");
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(v + b)];
};
`,
      "lib/v.ts": `export const v = "v1";\n`,
      "lib/b.ts": `export const b = "/b";\n`,
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", "--log-level", "debug"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("v1/b");

    // Requests all along, until the new version answers (bounded in count and time).
    const replies: Array<{ status: number; text: string }> = [];
    let stop = false;
    const asking = (async () => {
      const end = performance.now() + 8000;
      while (!stop && replies.length < 5000 && performance.now() < end) {
        const r = await get(url, { Accept: "*/*" });
        replies.push({ status: r.status, text: r.text });
        await Bun.sleep(2);
      }
    })();
    app.write("hold", "");
    const mark = dev.output.length;
    app.write("lib/v.ts", `export const v = "v2";\n`);
    await dev.waitFor(/load: waiting for lib\/b\.ts to go/, 5000, mark);
    const b = app.read("lib/b.ts");
    unlinkSync(app.path("lib/b.ts"));
    await Bun.sleep(100);
    app.write("lib/b.ts", b);
    await until(() => replies.some((r) => r.text === "v2/b"), 5000);
    stop = true;
    await asking;
    const bad = replies.filter((r) => r.status !== 200);
    expect(bad.map((r) => `${r.status} ${r.text.split("\n").slice(0, 3).join(" | ")}`)).toEqual([]);
    expect(replies.map((r) => r.text).filter((t) => t !== "v1/b" && t !== "v2/b")).toEqual([]);
    expect(dev.output.slice(mark)).not.toMatch(/reload failed/);
    expect(dev.output.slice(mark)).toMatch(/changed while it loaded/);

    // Deleted for good (no load under way): the page says so at once, and creating it again recovers.
    unlinkSync(app.path("hold"));
    const mark2 = dev.output.length;
    unlinkSync(app.path("lib/b.ts"));
    await dev.waitFor(/reload failed/, 5000, mark2);
    const page = await get(url, { Accept: "*/*" });
    expect(page.status).toBe(500);
    expect(page.text).toMatch(/lib\/b\.ts/);
    expect(dev.output.slice(mark2)).not.toMatch(/changed while it loaded/);
    app.write("lib/b.ts", b);
    await until(async () => (await get(url)).text === "v2/b", 5000);
  });
});

/** A streamed body of three chunks, each naming the version. */
function streamingApp(v: number): string {
  return `const enc = new TextEncoder();
const VERSION = "v${v}";
export default function app(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return (async function* () {
    yield enc.encode(VERSION + "|");
    await Bun.sleep(1);
    yield enc.encode(VERSION + "|");
    yield enc.encode(VERSION);
  })();
}
`;
}

/** An app holding ~4 MB of module-level state. */
function heavyApp(v: number): string {
  return `const state = Array.from({ length: 100000 }, (_, i) => ({ i, v: ${v} }));
const enc = new TextEncoder();
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("heavy " + state[0].v)];
};
`;
}
