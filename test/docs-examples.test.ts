/**
 * The TypeScript examples in README.md and docs/ are true to the code.
 *
 * Every ```ts block is written into a throwaway project in the temp dir that
 * has `tsgi` installed the way a user has it (node_modules/tsgi holds this
 * checkout's package.json and src, resolved through package.json "exports";
 * the declarations npm pack ships are checked by typecheck.test.ts), then:
 * - all of them type-check under the project's strict tsconfig;
 * - every example whose default export is an application (a TSGI callable,
 *   or a fetch-style app such as Hono's, through `fromFetchHandler`) is served
 *   on 127.0.0.1 behind `validator()` (the wsgiref.validate port), sent a GET
 *   and a form POST, and must answer below 500 with no conformance error;
 * - every script example that says what it prints (`console.log(x); // output`,
 *   or comment lines right after a `console.log` or `process.stdout.write`)
 *   is run and must print exactly that ("..." at the end: a prefix).
 *
 * Conventions the examples may rely on: `./app.ts` is the reader's own
 * application (a stub here), and `Deno` is declared for the example that shows
 * other runtimes. Examples that only type-check: one that declares a
 * function it does not define (`declare function`), and an application
 * module that also starts a server of its own (calls `serve(`).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fromFetchHandler } from "../src/fetch/index.ts";
import { DEFAULT_SERVER_OPTIONS } from "../src/server/options.ts";
import type { Application } from "../src/spec.ts";
import { validator } from "../src/toolkit/validate.ts";
import { runCommand, serverPool } from "./helpers.ts";

const root = join(import.meta.dir, "..");
const tsc = join(root, "node_modules/.bin/tsc");

interface Example {
  /** `docs/spec.md:157`: the file and the line of the opening fence. */
  where: string;
  dir: string;
  source: string;
}

/**
 * Every ```ts block of README.md and docs/**\/*.md, in file order: those
 * indented under a list item too (their indent taken off each line).
 */
function collect(): Array<Omit<Example, "dir">> {
  const files = ["README.md", ...[...new Bun.Glob("docs/**/*.md").scanSync(root)].sort()];
  const found: Array<Omit<Example, "dir">> = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), "utf8").split("\n");
    let start = -1;
    let indent = "";
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const open = /^( *)```(ts|typescript)\s*$/.exec(line);
      if (start < 0 && open) {
        start = i;
        indent = open[1]!;
      } else if (start >= 0 && /^\s*```\s*$/.test(line)) {
        const body = lines.slice(start + 1, i).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()));
        found.push({ where: `${file}:${start + 1}`, source: `${body.join("\n")}\n` });
        start = -1;
      }
    }
  }
  return found;
}

const project = mkdtempSync(join(tmpdir(), "tsgi-docs-"));
afterAll(() => rmSync(project, { recursive: true, force: true }));

/** A user's project: node_modules holds this checkout as `tsgi` (its package.json and src) plus its own dependencies. */
function setUpProject(examples: Array<Omit<Example, "dir">>): Example[] {
  const modules = join(project, "node_modules");
  mkdirSync(modules);
  // The package as the checkout has it, without dist/: declarations built
  // there earlier (npm pack) could be stale, and the sources are the truth.
  mkdirSync(join(modules, "tsgi"));
  for (const name of ["package.json", "src"]) symlinkSync(join(root, name), join(modules, "tsgi", name));
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (name !== "tsgi" && !name.startsWith(".")) symlinkSync(join(root, "node_modules", name), join(modules, name));
  }
  const base = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8"));
  // Strict as the project, except the unused-name lint: an example's `(environ, startResponse)` is PEP 3333's signature, used or not.
  const compilerOptions = { ...base.compilerOptions, noUnusedLocals: false, noUnusedParameters: false };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ ...base, compilerOptions, include: ["**/*.ts"], exclude: ["node_modules"] }, null, 2));
  writeFileSync(join(project, "globals.d.ts"), "declare const Deno: { serve(options: unknown, handler: unknown): unknown };\n");
  const stub = 'import type { Application } from "tsgi";\n' +
    'const app: Application = (environ, startResponse) => {\n' +
    '  startResponse("200 OK", [["Content-Type", "text/plain"]]);\n' +
    '  return [new TextEncoder().encode("stub\\n")];\n};\nexport default app;\n';
  return examples.map((ex) => {
    const dir = join(project, ex.where.replace(/[^A-Za-z0-9]+/g, "_"));
    mkdirSync(dir);
    writeFileSync(join(dir, "example.ts"), ex.source);
    writeFileSync(join(dir, "app.ts"), stub);
    return { ...ex, dir };
  });
}

const examples = setUpProject(collect());

/**
 * What a script example says it prints: the comment on a `console.log(...)`
 * line, and the comment lines right after a `console.log(...)` or a
 * `process.stdout.write(...)` (after any closing `}` lines; a bare `//` is an
 * empty line). A comment ending in "..." is a prefix of the printed line.
 */
function expectedOutput(source: string): string[] {
  const expected: string[] = [];
  let afterLog = false;
  for (const line of source.split("\n")) {
    const same = /console\.log\(.*\);\s*\/\/ (.+)$/.exec(line);
    if (same) {
      expected.push(same[1]!.trimEnd());
      afterLog = false;
    } else if (/\b(console\.log|process\.stdout\.write)\(/.test(line)) afterLog = true;
    else if (afterLog && /^\s*\/\/( |$)/.test(line)) expected.push(line.replace(/^\s*\/\/ ?/, "").trimEnd());
    else if (!/^\s*[})\];]+\s*$/.test(line)) afterLog = false;
  }
  return expected;
}

describe("docs examples", () => {
  test("README.md and docs/ have TypeScript examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(20);
    expect(examples.some((e) => e.where.startsWith("README.md"))).toBe(true);
  });

  // Before: a block indented under a list item (spec.md's tsgi.posthooks example) was not collected, so never checked.
  test("every TypeScript fence of README.md and docs/ is collected, indented ones included", () => {
    const files = ["README.md", ...[...new Bun.Glob("docs/**/*.md").scanSync(root)].sort()];
    const fences = files.flatMap((file) =>
      readFileSync(join(root, file), "utf8").split("\n").flatMap((line, i) => (/^\s*```\s*(ts|typescript|tsx)\b/i.test(line) ? [`${file}:${i + 1}`] : [])));
    expect(examples.map((e) => e.where)).toEqual(fences);
  });

  if (!existsSync(tsc)) console.warn("SKIP docs examples type-check: node_modules/.bin/tsc is missing (run npm install)");
  /** `tsc` over every example with `flags` added to the project's tsconfig; each error named by the doc line it came from, not the temp file. */
  const typeCheck = async (flags: string[]) => {
    const { out, err, code } = await runCommand([tsc, "--noEmit", "-p", ".", ...flags], project, 110_000);
    const report = `${out}${err}`.replace(/^(\S+?)\/example\.ts\((\d+),(\d+)\)/gm, (_, dir: string, line: string) => {
      const ex = examples.find((e) => relative(project, e.dir) === dir);
      return ex ? `${ex.where.split(":")[0]}:${Number(ex.where.split(":")[1]) + Number(line)}` : dir;
    });
    expect(report.trim()).toBe("");
    expect(code).toBe(0);
  };
  test.skipIf(!existsSync(tsc))("every example type-checks (strict) against the published imports", () => typeCheck([]), 120_000);
  // A user copying an example into a project on @tsconfig/strictest: environ.HTTP_HOST and process.env.X are
  // index-signature reads there (environ["HTTP_HOST"]), and an option given a maybe-undefined value must take undefined.
  test.skipIf(!existsSync(tsc))("every example type-checks under @tsconfig/strictest's type checks as written", () =>
    typeCheck(["--exactOptionalPropertyTypes", "--noPropertyAccessFromIndexSignature", "--noUncheckedIndexedAccess", "--noImplicitReturns"]), 120_000);

  const startServer = serverPool();
  const apps = examples.filter((e) => /^export default /m.test(e.source) && !/^declare /m.test(e.source) && !/\bserve\(/.test(e.source));
  test("the application examples are found", () => {
    expect(apps.length).toBeGreaterThanOrEqual(10);
  });
  for (const ex of apps) {
    test(`${ex.where}: served behind validator(), GET and POST answer below 500`, async () => {
      const mod = await import(join(ex.dir, "example.ts"));
      const exported = mod.default as Application | { fetch: (r: Request) => Response | Promise<Response> };
      const app = typeof exported === "function" ? exported : fromFetchHandler(exported);
      const s = startServer(validator(app));
      const [get, post] = await Promise.all([
        fetch(`${s.url}/`),
        fetch(`${s.url}/`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: "name=docs\nsecond line\n",
        }),
      ]);
      await Promise.all([get.arrayBuffer(), post.arrayBuffer()]);
      // spec.md's tsgi.posthooks example logs each response's time to tsgi.errors, by design (its own test below).
      expect(s.errors.join("").replace(/^timing: \d+\.\d ms\n/gm, "")).toBe("");
      expect(get.status).toBeLessThan(500);
      expect(post.status).toBeLessThan(500);
    }, 15_000);
  }

  // spec.md's tsgi.posthooks example (indented under its list item): the hook runs once per request, after the response.
  const posthooks = apps.find((e) => e.where.startsWith("docs/spec.md") && e.source.includes('environ["tsgi.posthooks"]'));
  test("spec.md's tsgi.posthooks example is found", () => {
    expect(posthooks).toBeDefined();
  });
  test.skipIf(!posthooks)("spec.md's tsgi.posthooks: each response answered, then its hook logs its time to tsgi.errors", async () => {
    const app = (await import(join(posthooks!.dir, "example.ts"))).default as Application;
    const s = startServer(validator(app));
    for (let i = 1; i <= 3; i++) {
      const res = await fetch(`${s.url}/${i}`);
      expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
      for (let wait = 0; wait < 50 && s.errors.length < i; wait++) await Bun.sleep(20);
      expect(s.errors.join("")).toMatch(new RegExp(`^(timing: \\d+\\.\\d ms\\n){${i}}$`));
    }
  }, 15_000);

  // server.md's event stream: the GET/POST check above sees its page only; here a subscriber gets
  // what a POST publishes, and a subscriber that leaves ends its stream (close() ran: it is logged).
  const stream = apps.find((e) => e.where.startsWith("docs/server.md") && e.source.includes('"text/event-stream"'));
  test("server.md's event stream example is found", () => {
    expect(stream).toBeDefined();
  });
  test.skipIf(!stream)("server.md's event stream: a POST reaches an open stream, and a stream whose client left ends", async () => {
    const app = (await import(join(stream!.dir, "example.ts"))).default as Application;
    const s = startServer(validator(app));
    const res = await fetch(`${s.url}/events`);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    let seen = "";
    const readUntil = async (text: string) => {
      const deadline = Date.now() + 5000;
      while (!seen.includes(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
      expect(seen).toContain(text);
    };
    await readUntil(": connected\n\n");
    expect((await fetch(`${s.url}/`, { method: "POST", body: "hello\n  docs" })).status).toBe(204);
    await readUntil("data: hello docs\n\n");
    // Each event wakes the generator before its 20 s heartbeat: the heartbeat's timer must be
    // cleared then, not left pending, one per event, for 20 s after it.
    const timers = () => {
      Bun.gc(true);
      return heapStats().objectTypeCounts.Timeout ?? 0;
    };
    const before = timers();
    for (let i = 0; i < 200; i++) {
      expect((await fetch(`${s.url}/`, { method: "POST", body: `event ${i}` })).status).toBe(204);
      await readUntil(`data: event ${i}\n\n`);
    }
    expect(timers() - before).toBeLessThan(20);
    await reader.cancel();
    // The server learns of the FIN at a write: publish until the stream's access line is written.
    for (let i = 0; i < 50 && !s.access.join("").includes('"GET /events HTTP/1.1" 200'); i++) {
      await fetch(`${s.url}/`, { method: "POST", body: `after ${i}` });
      await Bun.sleep(100);
    }
    expect(s.access.join("")).toContain('"GET /events HTTP/1.1" 200');
    expect(s.errors.join("")).toBe("");
  }, 15_000);

  // spec.md's multipart upload: the GET/POST check above sends no multipart body; here a browser-like
  // FormData with a file (bytes that look like CRLF and a boundary inside it) and a field is parsed.
  const multipart = apps.find((e) => e.where.startsWith("docs/spec.md") && e.source.includes(".formData()"));
  test("spec.md's multipart upload example is found", () => {
    expect(multipart).toBeDefined();
  });
  test.skipIf(!multipart)("spec.md's multipart upload: files and fields parsed, a malformed body is 400", async () => {
    const app = (await import(join(multipart!.dir, "example.ts"))).default as Application;
    const s = startServer(validator(app));
    const form = new FormData();
    form.append("note", "héllo");
    const bytes = new TextEncoder().encode("line 1\r\n--not-the-boundary\r\n\u0000end");
    form.append("file", new File([bytes], "a.bin", { type: "application/octet-stream" }));
    form.append("file", new File(["x".repeat(100_000)], "b.txt", { type: "text/plain" }));
    const res = await fetch(`${s.url}/`, { method: "POST", body: form });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { name: "note", value: "héllo" },
      { name: "file", filename: "a.bin", type: "application/octet-stream", size: bytes.length },
      { name: "file", filename: "b.txt", type: expect.stringMatching(/^text\/plain/), size: 100_000 }, // Bun 1.4.5: from the extension, ";charset=utf-8" added
    ]);
    // spec.md says Bun 1.4.5 takes a file's type from its name, not from the part's Content-Type:
    // when this fails, Bun reads the part's field now, and spec.md's sentence is to go.
    const typed = new FormData();
    typed.append("photo", new File([bytes], "photo.jpg", { type: "image/png" }));
    typed.append("report", new File([bytes], "report", { type: "application/pdf" }));
    // Without an extension, the first bytes: a PNG's signature gives image/png whatever the part says.
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    typed.append("banner", new File([png], "banner", { type: "application/octet-stream" }));
    const guessed = await fetch(`${s.url}/`, { method: "POST", body: typed });
    expect(((await guessed.json()) as Array<{ type: string }>).map((p) => p.type)).toEqual(["image/jpeg", "", "image/png"]);
    const bad = await fetch(`${s.url}/`, { method: "POST", headers: { "Content-Type": "multipart/form-data; boundary=zz" }, body: "no parts here" });
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
    const page = await fetch(`${s.url}/`);
    expect(await page.text()).toContain('enctype="multipart/form-data"');
    expect(s.errors.join("")).toBe("");
  }, 15_000);

  // dev-server.md's dev.ts for tsgi-dev behind nginx's `location /app/`: what `tsgi serve
  // --proxy-headers --root-path /app` would give the app (here an environ echo in place of the stub).
  const devEntry = apps.find((e) => e.where.startsWith("docs/dev-server.md") && e.source.includes("proxyHeaders(new PathInfoDispatcher"));
  test("dev-server.md's dev.ts behind a proxy example is found", () => {
    expect(devEntry).toBeDefined();
  });
  test.skipIf(!devEntry)("dev-server.md's dev.ts: REMOTE_ADDR and scheme from a trusted proxy's fields, SCRIPT_NAME /app", async () => {
    const echo = join(devEntry!.dir, "echo-app.ts");
    writeFileSync(echo, 'import type { Application } from "tsgi";\n' +
      "const app: Application = (environ, startResponse) => {\n" +
      '  startResponse("200 OK", [["Content-Type", "application/json"]]);\n' +
      '  return [new TextEncoder().encode(JSON.stringify([environ.REMOTE_ADDR, environ["tsgi.url_scheme"], environ.HTTP_HOST, environ.SCRIPT_NAME, environ.PATH_INFO]))];\n' +
      "};\nexport default app;\n");
    const entry = join(devEntry!.dir, "dev-entry.ts");
    writeFileSync(entry, devEntry!.source.replace('from "./app.ts"', 'from "./echo-app.ts"'));
    const app = (await import(entry)).default as Application;
    const s = startServer(validator(app));
    const res = await fetch(`${s.url}/app/items/1`, { headers: { "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "myapp.test" } });
    expect(await res.json()).toEqual(["203.0.113.7", "https", "myapp.test", "/app", "/items/1"]);
    expect(s.errors.join("")).toBe("");
  }, 15_000);

  // The middleware examples (`export function name(app: Application): Application`) wrap
  // applications of each kind, behind validator() on both sides, on the tsgi server: the response
  // passes through, and a byte count one logs is the body's length (write() bytes included).
  const middlewares = examples.flatMap((ex) =>
    /^declare function /m.test(ex.source) ? [] :
      [...ex.source.matchAll(/^export function (\w+)\(app: Application\): Application/gm)].map((m) => ({ ...ex, name: m[1]! })));
  test("the middleware examples are found", () => {
    expect(middlewares.map((m) => m.name)).toEqual(expect.arrayContaining(["requestId", "sessions"]));
  });
  const inners: Record<string, Application> = {
    array: (_e, sr) => {
      sr("200 OK", [["Content-Type", "text/plain"]]);
      return [new TextEncoder().encode("an array body\n")];
    },
    generator: (_e, sr) =>
      (async function* () {
        sr("200 OK", [["Content-Type", "text/plain"]]);
        yield new TextEncoder().encode("a generator");
        yield new Uint8Array(0);
        yield new TextEncoder().encode(" body\n");
      })(),
    "write()": async (_e, sr) => {
      const write = sr("200 OK", [["Content-Type", "text/plain"]]);
      await write(new TextEncoder().encode("written, "));
      return [new TextEncoder().encode("then returned\n")];
    },
  };
  for (const mw of middlewares) {
    for (const [kind, inner] of Object.entries(inners)) {
      test(`${mw.where}: ${mw.name}() around a ${kind} body, behind validator() on both sides`, async () => {
        const wrap = (await import(join(mw.dir, "example.ts")))[mw.name] as (app: Application) => Application;
        const s = startServer(validator(wrap(validator(inner))));
        const res = await fetch(`${s.url}/`);
        const text = await res.text();
        expect(res.status).toBe(200);
        const direct = await fetch(`${startServer(inner).url}/`).then((r) => r.text());
        expect(text).toBe(direct);
        const log = s.errors.join("");
        const counted = /(\d+) body bytes/.exec(log);
        if (counted) expect(Number(counted[1])).toBe(Buffer.byteLength(text));
        expect(log.replace(/^request \S+: \d+ body bytes\n/gm, "")).toBe("");
      }, 15_000);
    }
  }

  // spec.md's CGI gateway (`runWithCgi`), the spec's own server, run as a CGI script would be: the
  // request in environment variables and stdin, the response on stdout.
  const cgi = examples.find((e) => /^export async function runWithCgi\(/m.test(e.source));
  test("spec.md's CGI gateway example is found", () => {
    expect(cgi).toBeDefined();
  });
  const runCgi = async (app: string, body = "", validate = true) => {
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures-proc/spec-cgi-apps.ts")], {
      cwd: cgi!.dir,
      env: { CGI_EXAMPLE: join(cgi!.dir, "example.ts"), APP: app, VALIDATE: validate ? "1" : "0", REQUEST_METHOD: body ? "POST" : "GET", PATH_INFO: "/x", CONTENT_LENGTH: String(body.length) },
      stdin: new TextEncoder().encode(body),
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill(), 10_000);
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    clearTimeout(timer);
    return { out, err };
  };
  test.skipIf(!cgi)("spec.md's CGI gateway serves applications behind validator() (its server side checked)", async () => {
    expect(await runCgi("echo", "hello")).toEqual({ out: "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nPOST /x [hello]\n", err: "" });
    expect(await runCgi("written")).toEqual({ out: "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nwritten, returned\n", err: "" });
  }, 30_000);
  test.skipIf(!cgi)("spec.md's CGI gateway lets no CR or LF through: a swallowed TypeError, a list changed after startResponse", async () => {
    for (const app of ["swallowed", "changed"]) {
      const { out, err } = await runCgi(app, "", false);
      expect(out).not.toContain("injected");
      expect(out).toStartWith("Status: 500 Internal Server Error\r\n");
      expect(err).toContain("TypeError");
    }
  }, 30_000);

  const scripts = examples
    .filter((e) => !/^export /m.test(e.source))
    .map((e) => ({ ...e, expected: expectedOutput(e.source) }))
    .filter((e) => e.expected.length > 0);
  test("the script examples with an expected output are found", () => {
    expect(scripts.length).toBeGreaterThanOrEqual(5);
  });
  for (const ex of scripts) {
    test(`${ex.where}: prints what its comments say`, async () => {
      const { out, err, code } = await runCommand([process.execPath, join(ex.dir, "example.ts")], ex.dir, 10_000);
      expect(err).toBe("");
      expect(code).toBe(0);
      const printed = out.split("\n").map((l) => l.trimEnd());
      for (const line of ex.expected) {
        const found = line.endsWith("...") ? printed.some((p) => p.startsWith(line.slice(0, -3))) : printed.includes(line);
        if (!found) expect(printed).toContain(line); // fails, showing what was printed
      }
    }, 15_000);
  }
});

describe("README's testing example", () => {
  // Its app puts a form value in a Set-Cookie field: a value a user typed must not add cookie
  // attributes, nor (a character above U+00FF) make the response a 500.
  const readme = examples.find((e) => e.where.startsWith("README.md") && e.source.includes("Set-Cookie"));
  test("is found", () => {
    expect(readme).toBeDefined();
  });
  test.skipIf(!readme)("sets one cookie, its value encoded, for any user name", async () => {
    const source = readme!.source.replace('{ user: "ada" }', '{ user: "Ada 😀; Domain=evil.example" }');
    expect(source).not.toBe(readme!.source);
    const file = join(readme!.dir, "hostile.ts");
    writeFileSync(file, source);
    const { out, err, code } = await runCommand([process.execPath, file], readme!.dir, 10_000);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toContain('303 / [ "user=Ada%20%F0%9F%98%80%3B%20Domain%3Devil.example; HttpOnly" ]');
  }, 15_000);
});

describe("docs links", () => {
  const files = ["README.md", ...[...new Bun.Glob("docs/**/*.md").scanSync(root)].sort()];
  /** A file's lines with code fences and inline code spans (which may go on over a line break) blanked: a `[x](y)` in code is not a link. */
  const prose = (file: string) => {
    const keepLines = (code: string) => code.replace(/[^\n]/g, "");
    return readFileSync(join(root, file), "utf8")
      .replace(/^\s*```[\s\S]*?^\s*```/gm, keepLines)
      .replace(/(`+)(?:(?!\n\s*\n)[\s\S])*?\1/g, keepLines)
      .split("\n");
  };
  /** GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces as `-`, repeats numbered. */
  const anchors = (file: string) => {
    const seen = new Map<string, number>();
    const out = new Set<string>();
    let fenced = false;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (/^\s*```/.test(line)) fenced = !fenced;
      const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
      if (!heading) continue;
      const slug = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    }
    return out;
  };

  test("every relative link in README.md and docs/ names a file that exists, and a heading in it", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      prose(file).forEach((line, i) => {
        for (const [, href] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          if (/^[a-z]+:/i.test(href!)) continue;
          checked++;
          const [path, anchor] = href!.split("#");
          const target = path ? join(root, file, "..", path) : join(root, file);
          if (!existsSync(target)) broken.push(`${file}:${i + 1}: ${href} (no such file)`);
          else if (anchor !== undefined && target.endsWith(".md") && !anchors(target).has(anchor)) broken.push(`${file}:${i + 1}: ${href} (no such heading)`);
        }
      });
    }
    expect(checked).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });
});

describe("the server options the docs list", () => {
  /** The rows of the first table after `heading` in `file`, as cells. */
  const table = (file: string, heading: string) => {
    const text = readFileSync(join(root, file), "utf8");
    const lines = text.slice(text.indexOf(`\n${heading}\n`)).split("\n");
    const first = lines.findIndex((l) => l.startsWith("|"));
    const end = lines.findIndex((l, i) => i > first && !l.startsWith("|"));
    return lines.slice(first + 2, end).map((l) => l.slice(1, -1).split("|").map((c) => c.trim()));
  };
  /** A default as the docs write it: `"127.0.0.1"`, `8000`, `false`, `` `EPIPE`, `ECONNRESET` ``. */
  const written = (v: unknown) => (typeof v === "string" ? `\`"${v}"\`` : Array.isArray(v) ? v.map((e) => `\`${e}\``).join(", ") : String(v));
  /** `ServerOptions`' fields, as src/server/options.ts declares them. */
  const fields = [...readFileSync(join(root, "src/server/options.ts"), "utf8").split("export interface ServerOptions {")[1]!.split("\n}")[0]!.matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]!);

  test("README's options table names each ServerOptions field, and only those, each default as DEFAULT_SERVER_OPTIONS has it", () => {
    const rows = table("README.md", "### Options");
    // The names in a row's first cell, outside the parentheses that give their defaults.
    const named = rows.flatMap((r) => [...r[0]!.replace(/ \([^()]*\)/g, "").matchAll(/`(\w+)`/g)].map((m) => m[1]!));
    expect(fields.length).toBeGreaterThan(30);
    expect(fields.filter((f) => !named.includes(f))).toEqual([]);
    expect(named.filter((f) => !fields.includes(f))).toEqual([]);
    const wrong = Object.entries(DEFAULT_SERVER_OPTIONS).filter(([key, value]) => !rows.some((r) => r[0]!.includes(`\`${key}\` (${written(value)}`)));
    expect(wrong.map(([key, value]) => `${key}: ${written(value)}`)).toEqual([]);
  });

  test("server.md's timeouts table gives each timeout DEFAULT_SERVER_OPTIONS' default", () => {
    const rows = table("docs/server.md", "## Timeouts");
    const timeouts = ["headerTimeout", "keepAliveTimeout", "bodyTimeout", "sendTimeout", "requestTimeout", "shutdownTimeout"] as const;
    expect(rows.map((r) => r[0])).toEqual(timeouts.map((t) => `\`${t}\``));
    for (const [i, t] of timeouts.entries()) expect([t, rows[i]![1]!.split(" ")[0]]).toEqual([t, String(DEFAULT_SERVER_OPTIONS[t])]);
  });
});

describe("dev-server.md's source map", () => {
  test("names every module of src/dev/, and only those", () => {
    const text = readFileSync(join(root, "docs/dev-server.md"), "utf8");
    const section = text.slice(text.indexOf("\n## Source map\n"));
    const rows = section.split("\n").filter((l) => /^\| `/.test(l));
    const named = rows.flatMap((r) => [...r.split("|")[1]!.matchAll(/`([\w-]+\.ts)`/g)].map((m) => m[1]!));
    const modules = readdirSync(join(root, "src/dev")).filter((f) => f.endsWith(".ts")).sort();
    expect(modules.filter((m) => !named.includes(m))).toEqual([]);
    expect(named.filter((m) => !modules.includes(m))).toEqual([]);
  });
});
