/**
 * The whole project type-checks under `tsconfig.json` (strict): `npm run
 * typecheck`, run by the suite so that CI catches a type error as it
 * catches a failing test.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { runCommand } from "./helpers.ts";
import { walk } from "./tsdoc-walk.ts";

const root = join(import.meta.dir, "..");
const tsc = join(root, "node_modules/.bin/tsc");
if (!existsSync(tsc)) console.warn("SKIP typecheck: node_modules/.bin/tsc is missing (run npm install)");

test.skipIf(!existsSync(tsc))("tsc --noEmit -p . reports no errors", async () => {
  const { out, err, code } = await runCommand([tsc, "--noEmit", "-p", "."], root, 110_000);
  expect(`${out}${err}`.trim()).toBe("");
  expect(code).toBe(0);
}, 120_000);

/**
 * What a user's project sees: the declarations `npm pack` ships
 * (`dist/types`, built by `npm run build:types`, the `types` condition of
 * every export), type-checked under four tsconfigs users write: the one
 * `bun init` writes (`noUncheckedIndexedAccess` on), a plain strict one
 * (`exactOptionalPropertyTypes` on), @tsconfig/strictest's checks
 * (`noPropertyAccessFromIndexSignature`, `noImplicitReturns`, ...) and the
 * one `tsc --init` writes (`module: "nodenext"`, the DOM's types beside
 * Bun's). The app imports every entry point,
 * and has a middleware written as PEP 3333 middleware often is, which the
 * types must refuse where TSGI differs (pushing onto the list
 * `startResponse` was given: it may be the app's constant), and an environ
 * key typed by augmenting `tsgi/spec`, as spec.md tells middleware authors,
 * and `import.meta.hot` (data, dispose) as dev-server.md shows it, and an
 * upload handler passing `tsgi.input`'s reads to `crypto.subtle.digest()`,
 * `new Response()` and `new Blob()` (they are `Uint8Array<ArrayBuffer>`:
 * TypeScript 5.7+ takes a bare `Uint8Array` for one that may be shared
 * memory, which those refuse under bun-types or the DOM's types).
 * Then the same without `dist/types`: a linked checkout (`bun link`, a
 * `file:` dependency, a workspace package) has no declarations until it is
 * packed, so TypeScript reads tsgi's sources (the `default` condition) and
 * checks them under the user's tsconfig (with `allowImportingTsExtensions`,
 * as `bun init` writes it); they satisfy all four.
 */
test.skipIf(!existsSync(tsc))("a user's project type-checks against the shipped declarations and a linked checkout's sources (bun init's tsconfig, a plain strict one, @tsconfig/strictest's checks, tsc --init's)", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, cpSync, rmSync, readFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "tsgi-types-"));
  try {
    const pkg = join(dir, "node_modules/tsgi");
    const built = await runCommand([tsc, "-p", "tsconfig.build.json", "--outDir", join(pkg, "dist/types")], root, 110_000);
    expect(`${built.out}${built.err}`.trim()).toBe("");
    cpSync(join(root, "package.json"), join(pkg, "package.json"));
    cpSync(join(root, "src"), join(pkg, "src"), { recursive: true });
    // Bun's globals come from bun-types, as in any Bun project (bun init installs @types/bun).
    mkdirSync(join(dir, "node_modules/bun-types"), { recursive: true });
    cpSync(join(root, "node_modules/bun-types"), join(dir, "node_modules/bun-types"), { recursive: true });
    cpSync(join(root, "node_modules/@types"), join(dir, "node_modules/@types"), { recursive: true });
    // bun-types' own dependency (its Request and Response without the DOM's types: formData(), ...), installed beside it.
    cpSync(join(root, "node_modules/undici-types"), join(dir, "node_modules/undici-types"), { recursive: true });
    writeFileSync(
      join(dir, "app.ts"),
      `import { serve, type Application } from "tsgi";
import { validator } from "tsgi/validate";
import { CGIHandler } from "tsgi/handlers";
import { fromFetchHandler, toFetchHandler } from "tsgi/fetch";
import { PathInfoDispatcher } from "tsgi/dispatch";
import { Headers } from "tsgi/headers";
import { makeServer } from "tsgi/simple-server";
import { TsgiSecureEnviron } from "tsgi/secure-environ";
import { applicationUri, shiftPathInfo, type UrlEnviron } from "tsgi/util";
import { RequestParser } from "tsgi/http";
import { createServer, loadTls, proxyHeaders } from "tsgi/server";
import { SimpleHandler } from "tsgi/handlers";
import { BytesInput, FileWrapper, MemoryErrorStream, latin1Encode } from "tsgi/util";
import type { Environ, ErrorStream, ReadonlyResponseHeaders, ResponseHeaders } from "tsgi/spec";

const app: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [new TextEncoder().encode(\`Hello from \${environ.PATH_INFO}\\n\`)];
};
const PLAIN: ResponseHeaders = [["Content-Type", "text/plain"]];
const constant: Application = (_environ, startResponse) => {
  startResponse("200 OK", PLAIN);
  return [];
};
const hasType = (headers: ReadonlyResponseHeaders): boolean => headers.some(([name]) => name.toLowerCase() === "content-type");
const requestId = (inner: Application): Application => (environ, startResponse) =>
  inner(environ, (status, headers, excInfo) => {
    // @ts-expect-error startResponse's list is read-only: it may be the app's constant (PLAIN), shared by every response
    headers.push(["X-Request-Id", "1"]);
    const out: ResponseHeaders = [...headers, ["X-Request-Id", "1"]];
    out.push(["X-Has-Type", String(hasType(headers))]);
    return startResponse(status, out, excInfo);
  });
void requestId(constant);
declare module "tsgi/spec" {
  interface Environ {
    "myframework.user"?: { name: string };
  }
}
const user: Application = (environ, startResponse) => {
  startResponse("200 OK", PLAIN);
  return [new TextEncoder().encode(environ["myframework.user"]?.name ?? "anonymous")];
};
void user;
const env: Environ = { PATH_INFO: "/a/b", SCRIPT_NAME: "" } as Environ;
shiftPathInfo(env);
// The keys the server sets under TLS are typed: a client certificate's subject is a string or absent, not unknown.
const subject: string | undefined = env["SSL_CLIENT_S_DN"];
const https: string | undefined = env["HTTPS"];
// @ts-expect-error an SSL_* value is a string (or absent), not a number
const cipher: number = env["SSL_CIPHER"];
void [subject, https, cipher];
// The parameter type of applicationUri()/requestUri(), for a helper that builds one.
const urlEnviron: UrlEnviron = { "tsgi.url_scheme": "https", SERVER_NAME: "example.com", SERVER_PORT: "443" };
void applicationUri(urlEnviron);
new Headers([["X", "1"]]).get("x");
const routes = new PathInfoDispatcher({ "/": app });
void [serve, createServer, makeServer, CGIHandler, TsgiSecureEnviron, RequestParser, routes];
// import.meta.hot (bun-types' HMR API), as docs/dev-server.md uses it under tsgi-dev.
const pool: { end(): Promise<void> } = (import.meta.hot.data.pool ??= { end: async () => {} });
const tick = setInterval(() => {}, 60_000);
import.meta.hot.dispose(async (data) => {
  clearInterval(tick);
  await pool.end();
  data.ended = true;
});
if (import.meta.hot) import.meta.hot.accept();
const fetchApp = fromFetchHandler(() => new Response("hi"));
// Options read from flags or the environment may be undefined; each option takes undefined as absent
// (exactOptionalPropertyTypes needs the type to say so), as a user writes them.
const flags: { port?: number; passphrase?: string; mount?: string; grace?: number; debug?: boolean; host?: string } = {};
// A UrlEnviron built from values that may be absent (a job's stored Host, no mount).
void applicationUri({ "tsgi.url_scheme": "https", SERVER_NAME: "example.com", SERVER_PORT: "443", HTTP_HOST: flags.host, SCRIPT_NAME: flags.mount });
const optioned = createServer(app, { port: flags.port, hostname: undefined, debug: flags.debug, tls: loadTls({ certfile: "c.pem", keyfile: "k.pem", passphrase: flags.passphrase, caCerts: undefined }) });
void optioned.close({ timeout: flags.grace, idleGrace: undefined });
// What the server's public type names can be named (before: server.errors was an ErrorLogStream, which no entry point exported).
const errorLog: ErrorStream = optioned.errors;
errorLog.write("started\\n");
// A TlsConfig written by hand from flags: its optional properties take undefined too (spread into Bun's TLSOptions, which does not).
void createServer(app, { tls: { cert: "", key: "", ca: undefined, passphrase: flags.passphrase, requestCert: flags.debug, rejectUnauthorized: undefined } });
void makeServer("", 0, app, { log: undefined, handlerClass: undefined });
void proxyHeaders(app, { forwardedAllowIps: process.env["FORWARDED_ALLOW_IPS"], header: undefined });
void toFetchHandler(app, { scriptName: flags.mount, debug: flags.debug, remoteAddress: undefined });
void fromFetchHandler(() => new Response(), { args: undefined });
void validator(app, { warn: undefined });
void new SimpleHandler(new BytesInput(new Uint8Array()), { write() {} }, new MemoryErrorStream(), {}, { multithread: flags.debug });
void new FileWrapper(new Blob([]), 8192, { sync: flags.debug });
// tsgi.input's reads are bytes over an ArrayBuffer: they go as they are to crypto.subtle.digest() and, under
// the DOM's types (tsc --init's tsconfig), to new Response() and new Blob(), as docs/spec.md's upload example does.
const upload: Application = async (environ, startResponse) => {
  const input = environ["tsgi.input"];
  const body = await input.read();
  const sha = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const form = await new Response(body, { headers: { "Content-Type": environ.CONTENT_TYPE ?? "" } }).formData();
  const lines = [await input.readline(10), ...(await input.readlines())];
  for await (const line of input) lines.push(line);
  if (input.read1) lines.push(await input.read1(1024));
  const blob = new Blob([body, ...lines]);
  // What tsgi takes stays any Uint8Array, a view of shared memory too: write()'s data, body chunks, BytesInput's bytes.
  const shared: Uint8Array = new Uint8Array(new SharedArrayBuffer(4));
  const copied = await new BytesInput(shared).read();
  const write = startResponse("200 OK", PLAIN);
  await write(shared);
  return [shared, sha, new Uint8Array(await crypto.subtle.digest("SHA-256", copied)), new Uint8Array(await blob.arrayBuffer()), new TextEncoder().encode(String([...form.keys()]))];
};
void upload;
// So are tsgi/util's latin1Encode() and tsgi/headers' toBytes(): fresh bytes of their own.
void crypto.subtle.digest("SHA-256", latin1Encode("caf\u00e9"));
void new Blob([latin1Encode("a"), new Headers([["X", "1"]]).toBytes()]);
export default { fetch: toFetchHandler(validator(fetchApp)) };
`,
    );
    const configs = {
      "bun init": { lib: ["ESNext"], target: "ESNext", module: "Preserve", moduleDetection: "force", jsx: "react-jsx", allowJs: true, moduleResolution: "bundler", allowImportingTsExtensions: true, verbatimModuleSyntax: true, noEmit: true, strict: true, skipLibCheck: true, noFallthroughCasesInSwitch: true, noUncheckedIndexedAccess: true, noImplicitOverride: true, types: ["bun-types"] },
      "plain strict": { target: "ESNext", module: "ESNext", moduleResolution: "bundler", strict: true, noEmit: true, skipLibCheck: true, exactOptionalPropertyTypes: true, types: ["bun-types"] },
      // @tsconfig/strictest's checks: noPropertyAccessFromIndexSignature (environ.HTTP_HOST must be environ["HTTP_HOST"]),
      // noImplicitReturns, unused and unreachable code. skipLibCheck does not skip a linked checkout's .ts sources.
      strictest: { target: "ESNext", module: "ESNext", moduleResolution: "bundler", strict: true, noEmit: true, skipLibCheck: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, noPropertyAccessFromIndexSignature: true, noImplicitReturns: true, noImplicitOverride: true, noFallthroughCasesInSwitch: true, noUnusedLocals: true, noUnusedParameters: true, allowUnusedLabels: false, allowUnreachableCode: false, isolatedModules: true, esModuleInterop: true, checkJs: true, types: ["bun-types"] },
      // What `tsc --init` (TypeScript 5.9) writes, Bun's types added: module nodenext (so package.json "type": "module"),
      // no "lib" (the target's default, which includes the DOM's: its BodyInit and BufferSource next to Bun's).
      "tsc --init": { module: "nodenext", target: "esnext", types: ["bun-types"], sourceMap: true, declaration: true, declarationMap: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, strict: true, jsx: "react-jsx", verbatimModuleSyntax: true, isolatedModules: true, noUncheckedSideEffectImports: true, moduleDetection: "force", skipLibCheck: true, noEmit: true },
    };
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    const check = async (name: string, extra: Record<string, unknown> = {}) => {
      for (const [config, options] of Object.entries(configs)) {
        const compilerOptions = { ...options, ...extra };
        writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["app.ts"] }));
        const r = await runCommand([tsc, "-p", "."], dir, 110_000);
        expect(`${r.out}${r.err}`.trim(), `${name}, ${config}`).toBe("");
        expect(r.code, `${name}, ${config}`).toBe(0);
      }
    };
    await check("the packed declarations");
    const types = join(pkg, "dist/types");
    const entries = Object.entries(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports as Record<string, string | { types: string }>)
      .filter((e): e is [string, { types: string }] => typeof e[1] === "object")
      .map(([name, target]) => ({ name, file: join(pkg, target.types) }));
    const options: ts.CompilerOptions = { target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [], lib: ["lib.esnext.d.ts"], skipLibCheck: true, noEmit: true };
    const shipped = walk(ts.createProgram(entries.map((e) => e.file), options), entries, `${types}/`);
    // About 460 (590 before TsgiServer's members that name Connection, ServerCore and the like were tagged @internal,
    // which the declarations leave out, and the walk no longer reaches those types' members); far fewer means the walk broke.
    expect(shipped.checked).toBeGreaterThan(420);
    expect(shipped.undocumented).toEqual([]);
    expect(shipped.noDefault).toEqual([]);
    // The emit drops an import used only in a comment, so such a {@link} hovers as plain text in dist/types.
    expect(shipped.brokenLinks).toEqual([]);
    // And names no type a user cannot import (TsgiServer's connection-side members are left out: stripInternal).
    expect(shipped.unnameable).toEqual([]);
    const hoverFile = join(dir, "hover.ts");
    const hoverText = `import { serve } from "tsgi";\nimport { validator } from "tsgi/validate";\nserve(validator(() => []), { keepAliveTimeout: 5000 });\n`;
    writeFileSync(hoverFile, hoverText);
    const service = ts.createLanguageService({
      getCompilationSettings: () => ({ ...configs["bun init"], types: [], jsx: undefined, moduleResolution: ts.ModuleResolutionKind.Bundler, module: ts.ModuleKind.Preserve, target: ts.ScriptTarget.ESNext, lib: ["lib.esnext.d.ts"], moduleDetection: ts.ModuleDetectionKind.Force }),
      getScriptFileNames: () => [hoverFile],
      getScriptVersion: () => "1",
      getScriptSnapshot: (f) => (ts.sys.fileExists(f) ? ts.ScriptSnapshot.fromString(ts.sys.readFile(f)!) : undefined),
      getCurrentDirectory: () => dir,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: ts.sys.fileExists,
      readFile: ts.sys.readFile,
      directoryExists: ts.sys.directoryExists,
      getDirectories: ts.sys.getDirectories,
    });
    const hover = (word: string) => {
      const at = hoverText.lastIndexOf(word) + 1;
      const info = service.getQuickInfoAtPosition(hoverFile, at);
      const [definition] = service.getDefinitionAtPosition(hoverFile, at) ?? [];
      return { doc: ts.displayPartsToString(info?.documentation), from: definition?.fileName };
    };
    for (const word of ["serve", "validator", "keepAliveTimeout"]) expect(hover(word).from, word).toStartWith(`${types}/`);
    expect(hover("serve").doc).toContain("Create a server for `app` and bind it.");
    expect(hover("validator").doc).toStartWith("Wrap `application` in a conformance checker");
    expect(hover("keepAliveTimeout").doc).toBe("Idle keep-alive connection lifetime between requests, ms. 0 disables it. Default 5000.");
    rmSync(join(pkg, "dist"), { recursive: true, force: true });
    // The sources need tsgi's dependencies' types (consola, ipaddr.js, ...) and Bun's fetch types, as installed beside it.
    const { existsSync: exists, readdirSync, symlinkSync } = await import("node:fs");
    for (const name of readdirSync(join(root, "node_modules"))) {
      if (!name.startsWith(".") && !exists(join(dir, "node_modules", name))) symlinkSync(join(root, "node_modules", name), join(dir, "node_modules", name));
    }
    // Sources import with .ts extensions: a project that reads them allows those (bun init's tsconfig does).
    await check("a linked checkout (the sources)", { allowImportingTsExtensions: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
