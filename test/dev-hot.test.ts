/**
 * `import.meta.hot` under tsgi-dev (src/dev/hot.ts): `data` kept per module
 * file across reloads in place, `dispose(cb)` run before the next load and
 * on the stop (reported when it throws, bounded when it hangs), written in
 * code only and without moving a column; in restart mode per process; and
 * `undefined` under `tsgi serve`. Each test spawns `bun src/cli/dev.ts` on
 * a free port with an app in a temp dir, edits files and asserts through
 * real requests within a bound.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DevProcess, freePort, get, killAll, ROOT, TempApp, until } from "../fixtures/dev/harness.ts";
import { HOT_CALL, injectHot } from "../src/dev/hot.ts";
import { collect } from "./helpers.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

function tempApp(files: Record<string, string>): TempApp {
  const app = new TempApp(files);
  apps.push(app);
  return app;
}

async function start(app: TempApp, extra: string[] = []): Promise<{ dev: DevProcess; url: string }> {
  const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", ...extra], { cwd: app.dir });
  const url = await dev.ready();
  return { dev, url };
}

/** An app whose body is the expression `expr` (a string), after `prelude` at its top level. */
function appWith(prelude: string, expr: string): string {
  return `${prelude}
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode(${expr})];
};
`;
}

const reloads = (dev: DevProcess) => dev.count(/reloaded in \d+ ms/);

describe("import.meta.hot in place", () => {
  test("a timer a module sets up at import and clears in dispose() does not pile up over saves; data carries a counter across them", async () => {
    // tick.ts has no import or export (Bun reads such a file as CommonJS): it gets import.meta.hot all the same.
    const tick = (v: number) => `const g = globalThis as any;
g.lastTick ??= {};
const data = import.meta.hot?.data ?? {};
const gen = (data.gen = (data.gen ?? 0) + 1);
const id = setInterval(() => (g.lastTick[gen] = Date.now()), 10);
if (import.meta.hot) import.meta.hot.dispose((d) => { clearInterval(id); d.disposed = (d.disposed ?? 0) + 1; });
g.tickData = { gen, disposed: data.disposed ?? 0 }; // v${v}
`;
    const app = tempApp({
      "tick.ts": tick(0),
      // The generations whose timer ticked within the last 60 ms (of a 10 ms interval), and what tick.ts's data said.
      "app.ts": appWith(`import "./tick.ts";\nconst g = globalThis as any;`, `JSON.stringify({ ticking: Object.keys(g.lastTick).filter((k) => Date.now() - g.lastTick[k] < 60).map(Number), data: g.tickData })`),
    });
    const { dev, url } = await start(app);
    const body = async () => JSON.parse((await get(url)).text) as { ticking: number[]; data: unknown };
    // A busy machine may hold a tick back past the window: poll for the state, then show the last one if it never came.
    const settled = async (want: object) => (await until(async () => (Bun.deepEquals(await body(), want) ? want : null), 3000).catch(() => body())) as object;
    expect(await settled({ ticking: [1], data: { gen: 1, disposed: 0 } })).toEqual({ ticking: [1], data: { gen: 1, disposed: 0 } });
    const saves = 6;
    for (let v = 1; v <= saves; v++) {
      app.write("tick.ts", tick(v));
      await until(() => reloads(dev) === v, 5000);
    }
    // Before: import.meta.hot was undefined there, every save started one more timer, and data began anew.
    const want = { ticking: [saves + 1], data: { gen: saves + 1, disposed: saves } };
    expect(await settled(want)).toEqual(want);
  }, 40_000);

  test("a side-effect module that says 'module', 'exports' or 'require' only in strings, comments or property names gets import.meta.hot: its timer does not pile up", async () => {
    // Before, any such word in the text (a log line "tick module loaded") made tsgi-dev leave the file to
    // Bun as CommonJS: import.meta.hot was undefined there, dispose() never ran, one more timer per save.
    const tick = (v: number) => `const g = globalThis as any;
g.timers = (g.timers ?? 0) + 1;
const id = setInterval(() => {}, 1000);
import.meta.hot?.dispose(() => { clearInterval(id); g.timers--; });
const o = { module: "m", exports: "e" }; // which module exports what, require nothing
console.log(\`tick module loaded (\${o.module}, exports \${o.exports}, no require) v${v}\`);
`;
    const app = tempApp({
      "tick.ts": tick(0),
      "app.ts": appWith(`import "./tick.ts";\nconst g = globalThis as any;`, `String(g.timers)`),
    });
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("1");
    for (let v = 1; v <= 3; v++) {
      app.write("tick.ts", tick(v));
      await until(() => reloads(dev) === v, 5000);
    }
    expect((await get(url)).text).toBe("1");
  }, 30_000);

  test("a server the app starts at import on a port of its own, stopped in dispose(): every reload loads (before: 'Is port N in use?')", async () => {
    const side = freePort();
    const source = (v: string) =>
      appWith(
        `const side = Bun.serve({ hostname: "127.0.0.1", port: ${side}, fetch: () => new Response("side ${v}") });\nimport.meta.hot?.dispose(() => side.stop(true));`,
        `"main ${v}"`,
      );
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    expect((await get(`http://127.0.0.1:${side}/`)).text).toBe("side v1");
    for (const v of ["v2", "v3", "v4"]) {
      app.write("app.ts", source(v));
      await until(async () => (await get(url)).text === `main ${v}`, 5000);
      expect((await get(`http://127.0.0.1:${side}/`)).text).toBe(`side ${v}`);
    }
    expect(dev.output).not.toMatch(/in use|reload failed/);
    expect(reloads(dev)).toBe(3);
  }, 30_000);

  test("a dispose() callback that throws is reported with its place, and the reload happens", async () => {
    const source = (v: string) => appWith(`import.meta.hot?.dispose(() => {\n  throw new Error("dispose failed in ${v}");\n});`, `"${v}"`);
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    app.write("app.ts", source("v2"));
    await until(async () => (await get(url)).text === "v2", 5000);
    const m = await dev.waitFor(/an import\.meta\.hot\.dispose\(\) callback of app\.ts threw; reloading anyway:[^]*?dispose failed in v1[^]*?app\.ts:2:13/, 3000);
    expect(m[0]).toBeTruthy();
    await dev.waitFor(/reloaded in \d+ ms: app\.ts/, 3000);
    // Not fatal, not a stray error.
    expect(dev.output).not.toMatch(/outside any request|with nothing to catch it/);
  }, 20_000);

  test("a dispose() callback that never settles holds the reload 5 s at most; a request made meanwhile waits and gets the new version", async () => {
    const source = (v: string) => appWith(`import.meta.hot?.dispose(() => new Promise(() => {}));`, `"${v}"`);
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    const saved = Date.now();
    app.write("app.ts", source("v2"));
    await Bun.sleep(300); // the save seen, the dispose running
    const during = await get(url, {}, 12_000);
    expect(during.text).toBe("v2");
    const took = Date.now() - saved;
    expect(took).toBeGreaterThan(4000);
    expect(took).toBeLessThan(9000);
    await dev.waitFor(/an import\.meta\.hot\.dispose\(\) callback of app\.ts did not finish within 5 s; reloading without waiting for it/, 3000);
  }, 30_000);

  test("requests running on the old version over a save finish on it before its dispose() closes what they use; a request made meanwhile gets the new version", async () => {
    // The pool closed in dispose(): a handler still awaiting, and a body still streaming, use it after the save.
    const source = (v: string) => `const pool = { open: true };
import.meta.hot?.dispose(() => { pool.open = false; });
const use = (what: string) => { if (!pool.open) throw new Error(what + ": pool closed"); return new TextEncoder().encode(what + " ${v}"); };
export default async (environ: any, startResponse: any) => {
  if (environ.PATH_INFO === "/slow") {
    await Bun.sleep(1500);
    const out = use("slow");
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [out];
  }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  if (environ.PATH_INFO === "/stream") return (async function* () { yield use("stream"); await Bun.sleep(1500); yield use(" and"); })();
  return [new TextEncoder().encode("${v}")];
};
`;
    const app = tempApp({ "app.ts": source("v1") });
    // Debug lines: the reload says when it begins to wait for the old version's requests.
    const { dev, url } = await start(app, ["--log-level", "debug"]);
    const slow = get(`${url}slow`, {}, 10_000);
    const stream = get(`${url}stream`, {}, 10_000);
    await Bun.sleep(200); // both running
    app.write("app.ts", source("v2"));
    // The save seen: the reload waits for them (a fixed 300 ms here was not always enough for the watcher under load).
    await dev.waitFor(/waiting for 2 requests of the old version before its import\.meta\.hot\.dispose\(\) callbacks/, 5000);
    const during = await get(url, {}, 10_000);
    // Before: dispose() ran at once, so the slow request answered 500 (pool closed) and the stream was cut.
    expect(await slow).toMatchObject({ status: 200, text: "slow v1" });
    expect(await stream).toMatchObject({ status: 200, text: "stream v1 and v1" });
    expect(during.text).toBe("v2");
    await dev.waitFor(/reloaded in \d+ ms: app\.ts/, 3000);
    expect(dev.output).not.toMatch(/pool closed|still running/);
  }, 30_000);

  test("a stream that never ends holds a reload for 3 s at most: then the dispose() callbacks run, with a line saying one request still ran", async () => {
    const source = (v: string) => `let disposed = false;
import.meta.hot?.dispose(() => { disposed = true; });
export default (environ: any, startResponse: any) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  if (environ.PATH_INFO === "/events") return (async function* () { while (!disposed) { yield new TextEncoder().encode("."); await Bun.sleep(50); } })();
  return [new TextEncoder().encode("${v}")];
};
`;
    const app = tempApp({ "app.ts": source("v1") });
    // Debug lines: the reload says when it begins to wait for the old version's request.
    const { dev, url } = await start(app, ["--log-level", "debug"]);
    const events = await fetch(`${url}events`, { signal: AbortSignal.timeout(15_000) });
    const reader = events.body!.getReader();
    await reader.read();
    const saved = Date.now();
    app.write("app.ts", source("v2"));
    // The save seen, the reload waiting for the stream: a request from now on waits for the reload (a fixed
    // 300 ms here was not always enough for the watcher under load: the request got v1).
    await dev.waitFor(/waiting for 1 request of the old version before its import\.meta\.hot\.dispose\(\) callbacks/, 5000);
    const during = await get(url, {}, 12_000);
    const took = Date.now() - saved;
    expect(during.text).toBe("v2");
    expect(took).toBeGreaterThan(2500);
    expect(took).toBeLessThan(7000);
    await dev.waitFor(/1 request of the old version still running after 3 s \(a stream or a long poll\?\); running its import\.meta\.hot\.dispose\(\) callbacks anyway/, 3000);
    // The callback ended the stream.
    await until(async () => (await reader.read()).done, 3000);
  }, 30_000);

  test("a request that waited for a reload also waits for the one a save during it queued, and runs on that version, not on the one it disposes", async () => {
    // Each version loads for 1 s (a top-level await); its dispose() closes the pool its requests use.
    const source = (v: string) => `const pool = { open: true };
import.meta.hot?.dispose(() => { pool.open = false; });
await Bun.sleep(${v === "v1" ? 0 : 1000});
export default async (environ: any, startResponse: any) => {
  await Bun.sleep(50); // a query on the pool
  if (!pool.open) throw new Error("${v}: pool closed");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode("${v}")];
};
`;
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    app.write("app.ts", source("v2"));
    await Bun.sleep(300); // v2 loading
    const during = get(url, {}, 15_000);
    await Bun.sleep(300);
    app.write("app.ts", source("v3")); // queued behind v2's load
    // Before: the request ran on v2 as the queued reload disposed it (500 "v2: pool closed").
    expect(await during).toMatchObject({ status: 200, text: "v3" });
    await until(() => reloads(dev) >= 2, 10_000);
    expect(dev.output).not.toMatch(/pool closed/);
  }, 30_000);

  test("a new version that fails to load: the old one is disposed all the same, the error page shows, and the fix loads", async () => {
    const side = freePort();
    const source = (v: string, broken = false) =>
      appWith(
        `const side = Bun.serve({ hostname: "127.0.0.1", port: ${side}, fetch: () => new Response("side ${v}") });\nimport.meta.hot?.dispose(() => side.stop(true));${broken ? `\nthrow new Error("broken ${v}");` : ""}`,
        `"${v}"`,
      );
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    app.write("app.ts", source("v2", true));
    await until(async () => (await get(url)).status === 500, 5000);
    expect((await get(url)).text).toContain("broken v2");
    // The failed version started its server, then threw: disposed before the next load too.
    app.write("app.ts", source("v3"));
    await until(async () => (await get(url)).text === "v3", 5000);
    expect((await get(`http://127.0.0.1:${side}/`)).text).toBe("side v3");
    expect(dev.output).not.toMatch(/in use/);
  }, 20_000);

  test("only code is rewritten (not strings, comments, template text or JSX text), no column moves, and messages say import.meta.hot", async () => {
    const app = tempApp({
      "app.tsx": `// import.meta.hot in a comment, /* import.meta.hot */
const s: string = "import.meta.hot" + 'import.meta.hot';
type Hot = { data: unknown } | undefined; // Bun's parser takes no typeof import.meta.hot in a type
const t = \`import.meta.hot \${typeof import.meta.hot} import.meta.hotel\`;
const jsx = <p>import.meta.hot</p>;
const h: Hot = import.meta.hot;
export default (environ: any, startResponse: any) => {
  if (environ.PATH_INFO === "/throw") { void import.meta.hot; throw new Error("at a column"); }
  if (environ.PATH_INFO === "/call") { return (import.meta.hot as any).nope(); }
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode([s, t, jsx.props.children, typeof h].join("|"))];
};
`,
    });
    const dev = new DevProcess(["./app.tsx", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    expect((await get(url)).text).toBe("import.meta.hotimport.meta.hot|import.meta.hot object import.meta.hotel|import.meta.hot|object");
    const line = app.read("app.tsx").split("\n")[7]!;
    expect(line).toContain("void import.meta.hot; throw");
    const col = line.indexOf("Error(") + 1; // JSC places a construction at the constructor
    const page = await get(`${url}throw`);
    expect(page.status).toBe(500);
    expect(page.text).toContain(`app.tsx:8:${col}`);
    const call = await get(`${url}call`);
    expect(call.text).toContain("import.meta.hot.nope is not a function");
    expect(call.text).not.toContain(HOT_CALL);
    expect(dev.output).not.toContain(HOT_CALL);
  }, 20_000);

  test("a module that declares its own $tsgi_dev_hot (and $tsgi_dev_h00) still loads, gets import.meta.hot under another name of the same length, and its messages say import.meta.hot", async () => {
    const source = (v: string) => `const $tsgi_dev_hot = "mine", $tsgi_dev_h00 = "mine too";
const data = import.meta.hot.data;
data.loads = (data.loads ?? 0) + 1;
export default (environ: any, startResponse: any) => {
  if (environ.PATH_INFO === "/call") return (import.meta.hot as any).nope();
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [new TextEncoder().encode([$tsgi_dev_hot, $tsgi_dev_h00, data.loads, "${v}"].join("|"))];
};
`;
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app);
    // Before: the appended function $tsgi_dev_hot clashed with the module's const: a SyntaxError page.
    expect((await get(url)).text).toBe("mine|mine too|1|v1");
    app.write("app.ts", source("v2"));
    await until(async () => (await get(url)).text === "mine|mine too|2|v2", 5000);
    const call = await get(`${url}call`);
    expect(call.text).toContain("import.meta.hot.nope is not a function");
    expect(call.text).not.toMatch(/\$tsgi_dev_h01/);
    expect(dev.output).not.toMatch(/\$tsgi_dev_h01|SyntaxError|redeclar/);
    const out = injectHot(`let $tsgi_dev_hot = 1;\nimport.meta.hot?.dispose(() => {});`, "/abs/m.ts", "ts");
    expect(out.split("\n")[1]).toBe(`$tsgi_dev_h00()?.dispose(() => {});`);
  }, 20_000);

  test("injectHot: the same length per occurrence, only code, the declaration after the last line; a file without it unchanged", () => {
    const file = "/abs/m.ts";
    const source = `const a = import.meta.hot; // import.meta.hot\nconst b = "import.meta.hot";\nx.import.meta.hot;\nimport.meta.hot?.dispose(() => {});`;
    const out = injectHot(source, file, "ts");
    const lines = out.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      `const a = ${HOT_CALL}; // import.meta.hot`,
      `const b = "import.meta.hot";`,
      `x.import.meta.hot;`,
      `${HOT_CALL}?.dispose(() => {});`,
    ]);
    expect(lines[4]).toMatch(/^function \$tsgi_dev_hot\(\)\{.*"\/abs\/m\.ts".*\}$/);
    for (let i = 0; i < 4; i++) expect(lines[i]!.length).toBe(source.split("\n")[i]!.length);
    expect(injectHot(`const a = "import.meta.hot";\n`, file, "ts")).toBe(`const a = "import.meta.hot";\n`);
    expect(injectHot(`const a = 1;\n`, file, "ts")).toBe(`const a = 1;\n`);
    // A syntax error is Bun's to report: unchanged.
    expect(injectHot(`const a = import.meta.hot +;\n`, file, "ts")).toBe(`const a = import.meta.hot +;\n`);
  });

  test("the stop runs the dispose() callbacks after the in-flight requests", async () => {
    const app = tempApp({
      "app.ts": appWith(
        `import { appendFileSync } from "node:fs";\nimport.meta.hot?.dispose(() => appendFileSync(import.meta.dir + "/disposed.txt", "stop\\n"));`,
        `"v1"`,
      ),
    });
    const { dev, url } = await start(app);
    expect((await get(url)).text).toBe("v1");
    expect(await dev.kill("SIGTERM")).toBe(0);
    expect(readFileSync(join(app.dir, "disposed.txt"), "utf8")).toBe("stop\n");
  }, 20_000);
});

describe("import.meta.hot elsewhere", () => {
  test("--reload=restart: each app process has fresh data, and its dispose() callbacks run when it stops", async () => {
    const source = (v: string) =>
      appWith(
        `import { appendFileSync } from "node:fs";
const data = import.meta.hot!.data;
data.loads = (data.loads ?? 0) + 1;
import.meta.hot!.dispose(() => appendFileSync(import.meta.dir + "/disposed.txt", "${v}\\n"));`,
        `"${v} loads=" + data.loads`,
      );
    const app = tempApp({ "app.ts": source("v1") });
    const { dev, url } = await start(app, ["--reload=restart"]);
    expect((await get(url)).text).toBe("v1 loads=1");
    app.write("app.ts", source("v2"));
    await until(async () => (await get(url)).text === "v2 loads=1", 10_000);
    await until(() => existsSync(join(app.dir, "disposed.txt")) && readFileSync(join(app.dir, "disposed.txt"), "utf8") === "v1\n", 8000);
    expect(await dev.kill("SIGTERM")).toBe(0);
    expect(readFileSync(join(app.dir, "disposed.txt"), "utf8")).toBe("v1\nv2\n");
  }, 40_000);

  test("tsgi serve: import.meta.hot is undefined, as under bun; Bun's unguarded data and dispose() still run", async () => {
    const app = tempApp({
      "app.ts": appWith(
        `const hot = typeof import.meta.hot;\nconst kept = (import.meta.hot.data.kept ??= "fresh");\nimport.meta.hot.dispose(() => {});`,
        `hot + "|" + String(import.meta.hot?.data) + "|" + kept`,
      ),
    });
    const proc = Bun.spawn({ cmd: [process.execPath, join(ROOT, "src/cli/serve.ts"), "serve", "app.ts", "--port", "0"], cwd: app.dir, stdio: ["ignore", "pipe", "pipe"] });
    const err = collect(proc.stderr).text;
    try {
      // The port tsgi serve bound (--port 0), from its "serving ... on URL" line.
      const url = await until(() => / on (http:\/\/\S+\/)/.exec(err())?.[1], 10_000);
      const text = await until(async () => (await get(url)).text, 10_000);
      expect(text).toBe("undefined|undefined|fresh");
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
  }, 20_000);
});
