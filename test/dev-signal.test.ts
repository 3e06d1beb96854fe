/**
 * `environ["tsgi.signal"]` from tsgi-dev to production: tsgi-dev gives it
 * to every app, tsgi serve only to one marked WANTS_SIGNAL (or a fetch
 * handler). A real tsgi-dev process warns once for each loaded version of
 * an app that is not marked and reads it, and never for tsgi's own reads
 * (validator()'s check, the error page's environ table), a marked app or a
 * fetch handler. Real requests, real saves.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DevProcess, get, killAll, ROOT, TempApp, until } from "../fixtures/dev/harness.ts";
import { maskedEnvironRows } from "../src/dev/mask.ts";
import { isTsgiSource } from "../src/dev/paths.ts";
import { warnUnaskedSignal } from "../src/dev/signal-ask.ts";
import { fromFetchHandler } from "../src/fetch/index.ts";
import type { Application } from "../src/spec.ts";
import { validator } from "../src/toolkit/validate.ts";
import { startServer } from "./helpers.ts";

const apps: TempApp[] = [];
afterEach(async () => {
  await killAll();
});
afterAll(() => {
  for (const a of apps) a.remove();
});

/** The warning, naming the app's read; {@link ANY} counts it whatever read it names. */
const WARNING = /reads environ\["tsgi\.signal"\] \(app\.ts:\d+\), which tsgi serve gives only to an app marked WANTS_SIGNAL/;
const ANY = /reads environ\["tsgi\.signal"\]/;

/**
 * An app behind tsgi's validator() (which checks tsgi.signal's type on
 * every request): /read reads the signal and answers whether it is an
 * AbortSignal, /boom throws (the error page lists the environ), anything
 * else reads nothing. `marked` adds WANTS_SIGNAL.
 */
function tsgiApp(v: string, marked = false): string {
  return `import { validator } from ${JSON.stringify(join(ROOT, "src/toolkit/validate.ts"))};
import { WANTS_SIGNAL } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
const enc = new TextEncoder();
function app(environ: any, startResponse: any) {
  if (environ.PATH_INFO === "/boom") throw new Error("boom ${v}");
  const body = environ.PATH_INFO === "/read" ? "${v} " + (environ["tsgi.signal"] instanceof AbortSignal) : "${v} plain";
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode(body)];
}
${marked ? "Object.defineProperty(app, WANTS_SIGNAL, { value: true });\n" : ""}export default validator(app);
`;
}

describe("tsgi-dev and tsgi.signal", () => {
  test("an app not marked WANTS_SIGNAL that reads it: one warning per loaded version, the signal still given; none for tsgi's own reads, a marked app or a fetch handler", async () => {
    const app = new TempApp({ "app.ts": tsgiApp("v1") });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();

    // validator() reads it on every request, the error page lists it: tsgi's reads, not the app's.
    expect((await get(url + "plain")).text).toBe("v1 plain");
    expect((await get(url + "boom", { Accept: "text/plain" })).status).toBe(500);
    await dev.waitFor(/boom v1/);
    expect(dev.count(ANY)).toBe(0);

    // The app's own read: warned once, however many requests read it.
    for (let i = 0; i < 3; i++) expect((await get(url + "read")).text).toBe("v1 true");
    await dev.waitFor(WARNING);
    expect(dev.output).toContain('Object.defineProperty(app, WANTS_SIGNAL, { value: true }), with WANTS_SIGNAL from "tsgi" (docs/dev-server.md, "From tsgi-dev to production")');
    expect(dev.count(WARNING)).toBe(1);

    // A save still without the mark: a new version, warned once more.
    let mark = dev.output.length;
    app.write("app.ts", tsgiApp("v2"));
    await dev.waitFor(/reloaded in \d+ ms/, 10_000, mark);
    for (let i = 0; i < 2; i++) expect((await get(url + "read")).text).toBe("v2 true");
    await until(() => dev.count(WARNING) === 2, 3000);

    // The save that adds the mark: no more warnings.
    mark = dev.output.length;
    app.write("app.ts", tsgiApp("v3", true));
    await dev.waitFor(/reloaded in \d+ ms/, 10_000, mark);
    for (let i = 0; i < 2; i++) expect((await get(url + "read")).text).toBe("v3 true");

    // A fetch handler (fromFetchHandler reads tsgi.signal for request.signal; it is marked).
    mark = dev.output.length;
    app.write("app.ts", `export default (request: Request) => new Response("f4 " + (request.signal instanceof AbortSignal));\n`);
    await dev.waitFor(/reloaded in \d+ ms/, 10_000, mark);
    expect((await get(url + "read")).text).toBe("f4 true");

    // Output and HTTP answers are separate channels: give a late warning the time to show.
    await Bun.sleep(300);
    expect(dev.count(ANY)).toBe(2);
    expect(await dev.kill("SIGTERM")).toBe(0);
  }, 60_000);

  test("an app not marked behind pathInfoDispatcher: the mounted app's read is warned, naming its line; the dispatcher's copy of the environ is not a read", async () => {
    const source = `import { pathInfoDispatcher } from ${JSON.stringify(join(ROOT, "src/toolkit/dispatch.ts"))};
const enc = new TextEncoder();
function api(environ: any, startResponse: any) {
  const signal = environ["tsgi.signal"];
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("api " + (signal instanceof AbortSignal))];
}
function other(environ: any, startResponse: any) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [enc.encode("other " + environ.SCRIPT_NAME)];
}
export default pathInfoDispatcher({ "/api": api, "/other": other });
`;
    const app = new TempApp({ "app.ts": source });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    // The dispatcher copies the environ for every request; a mounted app that does not read the signal is not warned.
    expect((await get(url + "other/x")).text).toBe("other /other");
    await Bun.sleep(300);
    expect(dev.count(ANY)).toBe(0);
    // The mounted app's own read, on the copy: warned once, naming its line (before: never, the copy held a plain value).
    for (let i = 0; i < 2; i++) expect((await get(url + "api/x")).text).toBe("api true");
    const line = source.split("\n").findIndex((l) => l.includes('environ["tsgi.signal"]')) + 1;
    await dev.waitFor(new RegExp(`reads environ\\["tsgi\\.signal"\\] \\(app\\.ts:${line}\\)`));
    await Bun.sleep(300);
    expect(dev.count(ANY)).toBe(1);
    expect(await dev.kill("SIGTERM")).toBe(0);
  }, 30_000);

  test("tsgi's own reads (validator()'s check, fromFetchHandler's request.signal, the error page's environ table) take no stack trace; the app's own read does, until it is warned", async () => {
    // Before, every read took a stack trace to find its reader, tsgi's too: validator() reads the
    // signal on every request, so an app behind it paid about 16 µs a request for the whole session.
    const enc = new TextEncoder();
    const fetchApp = fromFetchHandler((request: Request) => new Response(`fetch ${request.signal instanceof AbortSignal}`));
    const user: Application = (environ, startResponse) => {
      if (environ.PATH_INFO === "/fetch") return fetchApp(environ, startResponse); // not marked: the app's own function
      let body = "plain";
      if (environ.PATH_INFO === "/rows") body = maskedEnvironRows(environ as unknown as Record<string, unknown>).find(([k]) => k === "tsgi.signal")!.join(" = ");
      if (environ.PATH_INFO === "/read") body = `read ${environ["tsgi.signal"] instanceof AbortSignal}`;
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [enc.encode(body)];
    };
    const loaded = validator(user);
    let traced = 0;
    const warnings: string[] = [];
    const app = warnUnaskedSignal(loaded, {
      loaded: () => loaded,
      name: "./app.ts",
      warn: (message) => warnings.push(message),
      internal: (file) => {
        traced++;
        return isTsgiSource(file);
      },
    });
    const t = startServer(app, { requestSignal: true });
    try {
      const text = async (path: string) => (await fetch(t.url + path)).text();
      for (let i = 0; i < 20; i++) expect(await text("/plain")).toBe("plain");
      expect(await text("/fetch")).toBe("fetch true");
      expect(await text("/rows")).toBe("tsgi.signal = [AbortSignal]");
      expect({ traced, warnings }).toEqual({ traced: 0, warnings: [] });
      for (let i = 0; i < 3; i++) expect(await text("/read")).toBe("read true");
      expect(traced).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/\.\/app\.ts reads environ\["tsgi\.signal"\] \(test\/dev-signal\.test\.ts:\d+\)/);
      expect(t.errors).toEqual([]);
    } finally {
      await t.server.close({ timeout: 100 });
    }
  });

  test("--reload=restart: each app process is a version; one warning for an app not marked, none once a save marks it", async () => {
    const app = new TempApp({ "app.ts": tsgiApp("r1") });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--reload=restart", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    for (let i = 0; i < 2; i++) expect((await get(url + "read")).text).toBe("r1 true");
    await dev.waitFor(WARNING);
    const mark = dev.output.length;
    app.write("app.ts", tsgiApp("r2", true));
    await dev.waitFor(/restarted in \d+ ms/, 15_000, mark);
    await until(async () => (await get(url + "read")).text === "r2 true", 5000);
    await Bun.sleep(300);
    expect(dev.count(ANY)).toBe(1);
    expect(await dev.kill("SIGTERM")).toBe(0);
  }, 60_000);
});
