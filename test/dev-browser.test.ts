/**
 * Live reload in a real browser: headless Chromium (Debian's `chromium`,
 * installed by .ci/run) driven by playwright-core opens a page served by
 * tsgi-dev; the app is saved with a changed text; the page must reload by
 * itself (a real navigation, not a DOM patch) and show the new text within
 * a bound. In place (`bun src/cli/dev.ts`), in restart mode (the page's
 * event stream reconnects to the new process), and with the compiled binary
 * when it is built. Skipped, with a visible warning, when Chromium is not
 * installed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { DevProcess, killAll, ROOT, TempApp } from "../fixtures/dev/harness.ts";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`SKIP: test/dev-browser.test.ts: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
const BINARY = join(ROOT, "dist", "tsgi-dev");
const haveBinary = existsSync(BINARY);
if (haveChromium && !haveBinary) console.warn("SKIP: test/dev-browser.test.ts: the compiled-binary case (dist/tsgi-dev is not built; run `npm run build`)");

/** Longest a save may take to show in the page, ms (measured: a few hundred). */
const BOUND_MS = 5000;

let context: BrowserContext | null = null;
let profile = "";
const apps: TempApp[] = [];
const binaries = new Set<ReturnType<typeof Bun.spawn>>();

beforeAll(async () => {
  if (!haveChromium) return;
  const { chromium } = await import("playwright-core");
  profile = mkdtempSync(join(tmpdir(), "tsgi-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 20_000,
  });
}, 30_000);

afterEach(async () => {
  for (const p of context?.pages() ?? []) await p.close().catch(() => {});
  for (const b of binaries) b.kill("SIGKILL");
  binaries.clear();
  await killAll();
});

afterAll(async () => {
  if (context) await Promise.race([context.close(), Bun.sleep(5000)]);
  if (profile) rmSync(profile, { recursive: true, force: true });
  for (const a of apps) a.remove();
});

/** An HTML page naming its version; `lib.ts` holds the text so a save two files deep counts too. */
function pageApp(text: string, headers: Array<[string, string]> = [], head = ""): TempApp {
  const app = new TempApp({
    "app.ts": `import { text } from "./lib.ts";
const extra: [string, string][] = ${JSON.stringify(headers)};
const head: string = ${JSON.stringify(head)};
const enc = new TextEncoder();
export default function app(environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => void) {
  if (environ.PATH_INFO !== "/") {
    startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
    return [enc.encode("not found")];
  }
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"], ...extra]);
  return [enc.encode("<!doctype html><html><head>" + head + "<title>t</title></head><body><h1 id=t>" + text + "</h1></body></html>")];
}
`,
    "lib.ts": lib(text),
  });
  apps.push(app);
  return app;
}
/** The page-side globals used in `page.evaluate` callbacks (the project has no DOM lib). */
type BrowserGlobal = { document: { getElementById(id: string): { textContent: string | null } | null } };
const lib = (text: string) => `export const text: string = ${JSON.stringify(text)};\n`;

/**
 * Open `url`, wait until the live-reload stream is connected, save `lib.ts`
 * with `after`, and wait for the page to reload by itself and show it.
 * @returns how long that took, ms.
 */
async function saveAndWatch(app: TempApp, url: string, before: string, after: string): Promise<number> {
  const page: Page = await context!.newPage();
  const live = page.waitForResponse((r) => r.url().includes("/__tsgi/live"), { timeout: BOUND_MS });
  await page.goto(url, { timeout: BOUND_MS });
  expect(await page.textContent("#t")).toBe(before);
  expect(await page.locator("script[data-tsgi-live]").count()).toBe(1);
  expect((await live).status()).toBe(200);
  await Bun.sleep(100); // let the stream's first event reach the page's EventSource
  // A marker on the window: gone after a real reload, kept by any in-page patching.
  await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 1));
  let navigations = 0;
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations++;
  });

  const saved = performance.now();
  app.write("lib.ts", lib(after));
  await page.waitForFunction((t) => (globalThis as unknown as BrowserGlobal).document.getElementById("t")?.textContent === t, after, { timeout: BOUND_MS, polling: 20 });
  const ms = performance.now() - saved;
  expect(await page.evaluate(() => (globalThis as unknown as { __marker?: number }).__marker)).toBeUndefined();
  await Bun.sleep(300);
  expect(navigations).toBe(1); // one save, one page reload
  expect(await page.textContent("#t")).toBe(after);
  if (process.env.DEV_TEST_VERBOSE) console.log(`save → page shows it: ${Math.round(ms)} ms`);
  return ms;
}

describe.skipIf(!haveChromium)("live reload in headless Chromium", () => {
  test("in place: the page reloads by itself after a save and shows the new text", async () => {
    const app = pageApp("first version");
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const ms = await saveAndWatch(app, url, "first version", "second version");
    expect(ms).toBeLessThan(BOUND_MS);
  }, 20_000);

  test("restart mode: the page reconnects to the new process and reloads", async () => {
    const app = pageApp("before restart");
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log", "--reload=restart"], { cwd: app.dir });
    const url = await dev.ready();
    await saveAndWatch(app, url, "before restart", "after restart");
    await dev.waitFor(/restarted in \d+ ms/, 3000); // stdout and the HTTP answer are separate channels: the line may land just after
  }, 20_000);

  test("a page whose Content-Security-Policy refuses inline scripts (a header: 'self' only, a nonce with 'strict-dynamic'; a <meta http-equiv> element) still reloads: the script comes from /__tsgi/live.js, with the policy's nonce", async () => {
    const header = (csp: string) => ({ csp, headers: [["Content-Security-Policy", csp]] as Array<[string, string]>, meta: "" });
    const meta = (csp: string) => ({ csp, headers: [] as Array<[string, string]>, meta: `<meta http-equiv="Content-Security-Policy" content="${csp}">` });
    const cases = [
      header("default-src 'self'"),
      header("script-src 'nonce-Tm9uY2UxMjM=' 'strict-dynamic'; object-src 'none'"),
      meta("default-src 'self'"),
      meta("script-src 'self'; object-src 'none'"),
    ];
    for (const { csp, headers, meta: element } of cases) {
      const app = pageApp(`one ${csp}`, headers, element);
      const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
      const url = await dev.ready();
      // The inline script was refused by the browser ("violates the following Content Security Policy directive"): no reload.
      const ms = await saveAndWatch(app, url, `one ${csp}`, `two ${csp}`);
      expect(ms).toBeLessThan(BOUND_MS);
      await killAll();
    }
  }, 60_000);

  test("the error page, under its own Content-Security-Policy (no inline script), still reloads by itself once the code is fixed, with no policy violation", async () => {
    const app = pageApp("fixed");
    app.write("lib.ts", `throw new Error("broken <b>on purpose</b>");\nexport const text: string = "x";\n`);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const page: Page = await context!.newPage();
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const live = page.waitForResponse((r) => r.url().includes("/__tsgi/live?") || r.url().endsWith("/__tsgi/live"), { timeout: BOUND_MS });
    const first = await page.goto(url, { timeout: BOUND_MS });
    expect(first?.status()).toBe(500);
    expect((await first?.allHeaders())?.["content-security-policy"]).toContain("default-src 'none'");
    expect(await page.locator("script[data-tsgi-live]").getAttribute("src")).toStartWith("/__tsgi/live.js?id=");
    expect((await live).status()).toBe(200);
    await Bun.sleep(100);
    app.write("lib.ts", lib("fixed"));
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobal).document.getElementById("t")?.textContent === "fixed", undefined, { timeout: BOUND_MS, polling: 20 });
    expect(violations).toEqual([]);
  }, 20_000);

  test("a page the app validates with an ETag (304 to If-None-Match) reloads once after a save that does not change it, not for ever", async () => {
    // The app's ETag is its HTML's hash; the save touches another module, so the page's bytes stay the same.
    const app = new TempApp({
      "app.ts": `import { n } from "./other.ts";
const enc = new TextEncoder();
const html = "<!doctype html><html><head><title>t</title></head><body><h1 id=t>same page</h1></body></html>";
const etag = '"' + Bun.hash(html).toString(16) + '"';
export default function app(environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => void) {
  if (environ.PATH_INFO !== "/") {
    startResponse("404 Not Found", [["Content-Type", "text/plain"], ["X-N", String(n)]]);
    return [enc.encode("not found")];
  }
  if (environ.HTTP_IF_NONE_MATCH === etag) {
    startResponse("304 Not Modified", [["ETag", etag]]);
    return [];
  }
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"], ["ETag", etag], ["Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"], ["Cache-Control", "no-cache"]]);
  return [enc.encode(html)];
}
`,
      "other.ts": "export const n = 1;\n",
    });
    apps.push(app);
    const dev = new DevProcess(["./app.ts", "--port", "0", "--no-access-log"], { cwd: app.dir });
    const url = await dev.ready();
    const page: Page = await context!.newPage();
    const live = page.waitForResponse((r) => r.url().includes("/__tsgi/live"), { timeout: BOUND_MS });
    await page.goto(url, { timeout: BOUND_MS });
    expect((await live).status()).toBe(200);
    await Bun.sleep(100); // let the stream's first event reach the page's EventSource
    let navigations = 0;
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    app.write("other.ts", "export const n = 2;\n");
    const deadline = Date.now() + BOUND_MS;
    while (navigations === 0 && Date.now() < deadline) await Bun.sleep(20);
    await Bun.sleep(1000);
    // With the app's validators on the injected page, each reload got a 304, showed the cached
    // copy whose script names the old version, and reloaded again: dozens of navigations a second.
    expect(navigations).toBe(1);
    expect(await page.textContent("#t")).toBe("same page");
  }, 20_000);

  test.skipIf(!haveBinary)("the compiled binary: the page reloads by itself after a save", async () => {
    const app = pageApp("binary one");
    const proc = Bun.spawn({
      cmd: [BINARY, "./app.ts", "--port", "0", "--no-access-log"],
      cwd: app.dir,
      env: { PATH: "/nonexistent", HOME: process.env.HOME ?? tmpdir(), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    binaries.add(proc);
    let out = "";
    const reader = (async () => {
      for await (const c of proc.stdout) out += new TextDecoder().decode(c);
    })();
    const deadline = Date.now() + 10_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline && proc.exitCode === null) {
      url = /serving \S+ at (http:\/\/\S+\/)/.exec(out)?.[1];
      if (!url) await Bun.sleep(20);
    }
    if (!url) throw new Error(`the binary did not start; output:\n${out}`);
    await saveAndWatch(app, url, "binary one", "binary two");
    proc.kill();
    await Promise.race([reader, Bun.sleep(1000)]);
  }, 20_000);
});
