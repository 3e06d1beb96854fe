/**
 * The public API documents itself where a user reads it: in the editor's
 * hover. Through the TypeScript compiler API (test/tsdoc-walk.ts), this walks
 * every export of every entry point of package.json "exports" (re-exports
 * followed to the declarations), the public and protected members of each
 * exported class and interface, and the types the API takes (an options
 * parameter's type, a nested options object such as `tls`), and fails on any
 * without a TSDoc comment. An optional property of an options type
 * (`ServerOptions`, `ParserLimits`, ...) says what it is when left out, in the
 * project's convention: "Default 8000.", "Default none.", "Default: the bound
 * host." (`@defaultValue` is accepted too); the numbers, booleans and strings
 * stated there must be the ones `DEFAULT_SERVER_OPTIONS` and
 * `DEFAULT_PARSER_LIMITS` apply. test/typecheck.test.ts runs the same walk
 * over the declarations `npm run build:types` emits, which a user's editor
 * reads.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import ts from "typescript";
import pkg from "../package.json" with { type: "json" };
import { DEFAULT_PARSER_LIMITS } from "../src/http/index.ts";
import { DEFAULT_SERVER_OPTIONS } from "../src/server/index.ts";
import { demoApp, makeServer } from "../src/toolkit/simple-server.ts";
import { statedDefault, walk } from "./tsdoc-walk.ts";

const root = join(import.meta.dir, "..");
const entries = Object.entries(pkg.exports as Record<string, string | { default: string }>)
  .filter((e): e is [string, { default: string }] => typeof e[1] === "object")
  .map(([subpath, target]) => ({ name: subpath === "." ? "tsgi" : `tsgi/${subpath.slice(2)}`, file: join(root, target.default) }));

// Bun's and Node's types are left out (types: []): the walk needs the project's own declarations only, and reads them in about a second.
const program = ts.createProgram(
  entries.map((e) => e.file),
  {
    target: ts.ScriptTarget.ESNext,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    types: [],
    lib: ["lib.esnext.d.ts"],
    skipLibCheck: true,
    noEmit: true,
  },
);
const api = walk(program, entries, join(root, "src") + "/");

describe("every public declaration has TSDoc", () => {
  test("the walk covers the API (entry points, their exports, members, the option types)", () => {
    expect(entries.length).toBeGreaterThanOrEqual(12);
    // About 140 exported or reachable declarations and 400 members today; far fewer means the walk broke.
    expect(api.checked).toBeGreaterThan(500);
    expect(api.optionDocs.has("ServerOptions.port")).toBe(true);
    expect(api.optionDocs.has("TlsConfig.cert")).toBe(true);
  });

  test("every export, every public member and every type the API takes has a TSDoc comment", () => {
    expect(api.undocumented).toEqual([]);
  });

  // Before: TsgiServer (what serve() and createServer() return) named ErrorLogStream, AccessLog, Connection,
  // ServerCore, GatewayOptions and EnvironDefaults, none of which a user could import.
  test("every type the public API names (a member's or parameter's type, a result, an implements) can be imported from an entry point", () => {
    expect(api.unnameable).toEqual([]);
  });

  test("every {@link} in those comments names something (a broken one hovers as plain text)", () => {
    expect(api.brokenLinks).toEqual([]);
  });

  test("no comment sends the user to a module of src/ that package.json does not export (they cannot import from it)", () => {
    const exported = new Set(entries.map((e) => e.file.slice(root.length + "/src/".length)));
    const internal = [...api.docs].flatMap(([where, doc]) =>
      [...doc.matchAll(/\b((?:server|gateway|http|fetch|toolkit|deploy|dev|cli)\/[\w/-]+\.ts)\b/g)].filter((m) => !exported.has(m[1]!)).map((m) => `${where}: ${m[1]}`),
    );
    expect(internal).toEqual([]);
  });

  test("every optional property of an options type says its default", () => {
    expect(api.noDefault).toEqual([]);
  });

  test("the defaults the TSDoc states are the ones DEFAULT_SERVER_OPTIONS and DEFAULT_PARSER_LIMITS apply", () => {
    const wrong: string[] = [];
    const compare = (type: string, defaults: Record<string, unknown>) => {
      for (const [key, value] of Object.entries(defaults)) {
        const doc = api.optionDocs.get(`${type}.${key}`);
        if (doc === undefined) wrong.push(`${type}.${key}: no such documented property`);
        else if (typeof value === "object") {
          if (!doc.includes(JSON.stringify(value).replace(/,/g, ", "))) wrong.push(`${type}.${key}: the default ${JSON.stringify(value)} is not in its TSDoc`);
        } else if (statedDefault(doc) !== value) {
          wrong.push(`${type}.${key}: the TSDoc says ${JSON.stringify(statedDefault(doc))}, the code applies ${JSON.stringify(value)}`);
        }
      }
    };
    compare("ServerOptions", DEFAULT_SERVER_OPTIONS);
    compare("ParserLimits", DEFAULT_PARSER_LIMITS);
    expect(wrong).toEqual([]);
  });

  test("makeServer's options state the defaults it applies where they differ from the server's", async () => {
    const simple = makeServer("127.0.0.1", 0, demoApp);
    try {
      const applied = simple.server.options as unknown as Record<string, unknown>;
      const server = DEFAULT_SERVER_OPTIONS as Record<string, unknown>;
      // hostname and port are makeServer's arguments; handlerClass its own option, wrapped by SimpleServer to count responses.
      // (Compared by value: each server has its own copy of ignoredSocketErrors.)
      const differ = Object.keys(applied).filter((k) => !["hostname", "port", "handlerClass"].includes(k) && !Bun.deepEquals(applied[k], server[k]));
      expect(differ).toContain("shutdownTimeout");
      const wrong = differ.filter((k) => {
        const doc = api.optionDocs.get(`MakeServerOptions.${k}`);
        if (doc === undefined) return true;
        const v = applied[k];
        return (typeof v === "number" || typeof v === "boolean" || typeof v === "string") && statedDefault(doc) !== v;
      });
      expect(wrong).toEqual([]);
    } finally {
      await simple.close();
    }
  });
});
